/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test_sasl.c — SMTP AUTH: the SCRAM-SHA-256 client against the RFC 7677
 * test vector (and every way a server can misbehave), PLAIN and LOGIN
 * encodings, mechanism choice, the server-side decoders, strict base64,
 * and crypt(3) verification with SHA-512-crypt and yescrypt hashes made
 * here with crypt_gensalt_rn.
 */
#include <crypt.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "sasl.h"
#include "tap.h"

/* ---------------------------------------------------------------------- */
/* Helpers: replies as a server would send them                            */

struct reply {
	struct sl_smtp_reply r;
	const char *lines[1];
	char text[2048];
};

static const struct sl_smtp_reply *mk(struct reply *rp, unsigned code, const char *text)
{
	snprintf(rp->text, sizeof(rp->text), "%s", text);
	rp->lines[0] = rp->text;
	rp->r = (struct sl_smtp_reply){ .code = code, .n_lines = 1, .lines = rp->lines };
	return &rp->r;
}

/* A 334 whose text is the base64 of msg (encoded with OpenSSL directly). */
static const struct sl_smtp_reply *mk334(struct reply *rp, const char *msg)
{
	rp->lines[0] = rp->text;
	EVP_EncodeBlock((unsigned char *)rp->text, (const unsigned char *)msg, (int)strlen(msg));
	rp->r = (struct sl_smtp_reply){ .code = 334, .n_lines = 1, .lines = rp->lines };
	return &rp->r;
}

/* The line, base64-decoded, without CRLF (for comparing with plain text). */
static const char *unb64(const char *line, const char *prefix)
{
	static char out[2048];
	size_t pl = strlen(prefix), n = strlen(line);
	int r;

	if (n < pl + 2 || strncmp(line, prefix, pl) != 0 || strcmp(line + n - 2, "\r\n") != 0)
		return "(not a line with that prefix)";
	r = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)line + pl, (int)(n - pl - 2));
	if (r < 0)
		return "(bad base64)";
	while (r > 0 && out[r - 1] == '\0')	/* padding: our texts have no NUL at the end */
		r--;
	out[r] = '\0';
	return out;
}

/* ---------------------------------------------------------------------- */
/* SCRAM-SHA-256: RFC 7677 section 3                                       */

#define V_USER		"user"
#define V_PASS		"pencil"
#define V_CNONCE	"rOprNGfwEbeRWgbNEkqO"
#define V_SNONCE	V_CNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define V_FIRST		"n,,n=user,r=" V_CNONCE
#define V_SFIRST	"r=" V_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define V_CFINAL	"c=biws,r=" V_SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define V_SFINAL	"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static struct sl_sasl_client *scram_vector_client(void)
{
	struct sl_sasl_client *c = NULL;

	if (sl_sasl_client_new(SL_SASL_SCRAM_SHA_256, V_USER, V_PASS, &c) < 0)
		return NULL;
	sl_sasl_client_set_nonce(c, V_CNONCE);
	return c;
}

static void test_scram_vector(void)
{
	struct sl_sasl_client *c = scram_vector_client();
	char out[SL_SASL_LINE_MAX];
	struct reply rp;
	int r;

	if (!tap_ok(c != NULL, "scram: client for the RFC 7677 vector"))
		return;
	r = sl_sasl_client_start(c, out, sizeof(out));
	tap_int(r, (long long)strlen(out), "scram: start returns the line length");
	tap_str(unb64(out, "AUTH SCRAM-SHA-256 "), V_FIRST, "scram: client-first message");
	r = sl_sasl_client_step(c, mk334(&rp, V_SFIRST), out, sizeof(out));
	tap_ok(r > 0, "scram: server-first answered");
	tap_str(unb64(out, ""), V_CFINAL, "scram: client-final with the RFC 7677 proof");
	r = sl_sasl_client_step(c, mk334(&rp, V_SFINAL), out, sizeof(out));
	tap_int(r, 2, "scram: server signature verified, empty response");
	tap_str(out, "\r\n", "scram: empty response line");
	tap_int(sl_sasl_client_step(c, mk(&rp, 235, "2.7.0 Authentication successful"), out,
					  sizeof(out)), 0, "scram: 235 = authenticated");
	tap_int(sl_sasl_client_step(c, mk(&rp, 235, "again"), out, sizeof(out)), -EINVAL,
		"scram: exchange over after success");
	sl_sasl_client_free(c);
}

/* Each way the server side of SCRAM can go wrong, from the start. */
static const struct scram_bad_case {
	const char *name;
	int stage;		/* 1: reply to AUTH, 2: reply to client-final, 3: after v= */
	unsigned code;
	const char *msg;	/* base64-encoded into the 334 when code = 334 */
	int want;
} scram_bad_cases[] = {
	{ "235 before any challenge", 1, 235, "2.7.0 ok", -SL_SASL_E_NO_SERVER_SIG },
	{ "535 to AUTH", 1, 535, "5.7.8 no", -SL_SASL_E_REJECTED },
	{ "454 to AUTH", 1, 454, "4.7.0 temporary", -SL_SASL_E_REJECTED },
	{ "250 to AUTH", 1, 250, "what", -SL_SASL_E_PROTO },
	{ "nonce not extending ours", 1, 334, "r=XXXXNGfwEbeRWgbNEkqO%hvY,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", -SL_SASL_E_NONCE },
	{ "nonce equal to ours", 1, 334, "r=" V_CNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", -SL_SASL_E_NONCE },
	{ "iteration count 1", 1, 334, "r=" V_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1", -SL_SASL_E_ITER },
	{ "iteration count 4095", 1, 334, "r=" V_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095", -SL_SASL_E_ITER },
	{ "iteration count huge", 1, 334, "r=" V_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=2147483647", -SL_SASL_E_ITER },
	{ "iteration count over max", 1, 334, "r=" V_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=100001", -SL_SASL_E_ITER },
	{ "iteration count not a number", 1, 334, "r=" V_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4k", -SL_SASL_E_PROTO },
	{ "mandatory extension", 1, 334, "m=foo,r=" V_SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", -SL_SASL_E_EXTENSION },
	{ "salt not base64", 1, 334, "r=" V_SNONCE ",s=W22Z*J0SNY7soEsUEjb6gQ==,i=4096", -SL_SASL_E_BASE64 },
	{ "salt missing", 1, 334, "r=" V_SNONCE ",i=4096", -SL_SASL_E_PROTO },
	{ "attributes out of order", 1, 334, "s=W22ZaJ0SNY7soEsUEjb6gQ==,r=" V_SNONCE ",i=4096", -SL_SASL_E_PROTO },
	{ "trailing comma", 1, 334, V_SFIRST ",", -SL_SASL_E_PROTO },
	{ "challenge not base64", 1, 334, NULL, -SL_SASL_E_BASE64 },
	{ "wrong server signature", 2, 334, "v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", -SL_SASL_E_SERVER_SIG },
	{ "server signature too short", 2, 334, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl9", -SL_SASL_E_PROTO },
	{ "server error e=", 2, 334, "e=invalid-proof", -SL_SASL_E_SERVER_ERROR },
	{ "235 instead of server-final", 2, 235, "2.7.0 ok", -SL_SASL_E_NO_SERVER_SIG },
	{ "535 to client-final (wrong password)", 2, 535, "5.7.8 Authentication failed", -SL_SASL_E_REJECTED },
	{ "535 after verified signature", 3, 535, "5.7.8 no", -SL_SASL_E_REJECTED },
	{ "another 334 after verified signature", 3, 334, "v=x", -SL_SASL_E_PROTO },
};

static void test_scram_bad(void)
{
	char out[SL_SASL_LINE_MAX];
	struct reply rp;
	size_t i;

	for (i = 0; i < TAP_NELEM(scram_bad_cases); i++) {
		const struct scram_bad_case *k = &scram_bad_cases[i];
		struct sl_sasl_client *c = scram_vector_client();
		const struct sl_smtp_reply *rep;
		int r, s;

		sl_sasl_client_start(c, out, sizeof(out));
		for (s = 1, r = 1; s < k->stage && r > 0; s++)
			r = sl_sasl_client_step(c, mk334(&rp, s == 1 ? V_SFIRST : V_SFINAL), out,
						sizeof(out));
		if (!tap_ok(r > 0, "scram %s: reached stage %d", k->name, k->stage))
			goto next;
		if (k->code == 334 && !k->msg)
			rep = mk(&rp, 334, "not*base64");
		else if (k->code == 334)
			rep = mk334(&rp, k->msg);
		else
			rep = mk(&rp, k->code, k->msg);
		r = sl_sasl_client_step(c, rep, out, sizeof(out));
		tap_int(r, k->want, "scram %s: %s", k->name, sl_sasl_strerror(k->want));
		tap_int(sl_sasl_client_step(c, mk(&rp, 235, "ok"), out, sizeof(out)), -EINVAL,
			"scram %s: no success after a failure", k->name);
next:
		sl_sasl_client_free(c);
	}
}

static void test_scram_client_misc(void)
{
	struct sl_sasl_client *c = NULL;
	char out[SL_SASL_LINE_MAX];
	struct sl_scram_server_first sf;
	unsigned char sig[SL_SCRAM_KEY_LEN];

	/* RFC 5802 5.1: ',' and '=' in the user name are escaped. */
	sl_sasl_client_new(SL_SASL_SCRAM_SHA_256, "a,b=c", "pw", &c);
	sl_sasl_client_set_nonce(c, "abc");
	sl_sasl_client_start(c, out, sizeof(out));
	tap_str(unb64(out, "AUTH SCRAM-SHA-256 "), "n,,n=a=2Cb=3Dc,r=abc", "scram: saslname escaping");
	c = sl_sasl_client_free(c);
	tap_ok(c == NULL, "client_free returns NULL");

	/* A random nonce: 32 printable characters, different every time. */
	{
		char first1[256], first2[256];

		sl_sasl_client_new(SL_SASL_SCRAM_SHA_256, "u", "p", &c);
		sl_sasl_client_start(c, out, sizeof(out));
		snprintf(first1, sizeof(first1), "%s", unb64(out, "AUTH SCRAM-SHA-256 "));
		c = sl_sasl_client_free(c);
		sl_sasl_client_new(SL_SASL_SCRAM_SHA_256, "u", "p", &c);
		sl_sasl_client_start(c, out, sizeof(out));
		snprintf(first2, sizeof(first2), "%s", unb64(out, "AUTH SCRAM-SHA-256 "));
		c = sl_sasl_client_free(c);
		tap_int((long long)strlen(first1), (long long)strlen("n,,n=u,r=") + 32,
			"scram: random nonce of 32 characters");
		tap_ok(strcmp(first1, first2) != 0, "scram: two nonces differ");
	}

	/* SASLprep subset: non-ASCII and controls refused for SCRAM only. */
	tap_int(sl_sasl_client_new(SL_SASL_SCRAM_SHA_256, "user", "p\xc3\xa4ss", &c),
		-SL_SASL_E_SASLPREP, "scram: non-ASCII password refused");
	tap_int(sl_sasl_client_new(SL_SASL_SCRAM_SHA_256, "us\ter", "pass", &c),
		-SL_SASL_E_SASLPREP, "scram: control character in user name refused");
	tap_int(sl_sasl_client_new(SL_SASL_PLAIN, "user", "p\xc3\xa4ss", &c), 0,
		"plain: UTF-8 password accepted");
	c = sl_sasl_client_free(c);
	sl_sasl_client_new(SL_SASL_SCRAM_SHA_256, "u", "p", &c);
	tap_int(sl_sasl_client_set_nonce(c, "a,b"), -EINVAL, "scram: nonce with a comma refused");
	c = sl_sasl_client_free(c);

	/* The message parsers on their own. */
	tap_int(sl_scram_parse_server_first(V_SFIRST, strlen(V_SFIRST), V_CNONCE, &sf), 0,
		"parse server-first");
	tap_int(sf.iter, 4096, "server-first: iterations");
	tap_int((long long)sf.salt_len, 16, "server-first: salt length");
	tap_int((long long)sf.nonce_len, (long long)strlen(V_SNONCE), "server-first: nonce length");
	tap_int(sl_scram_parse_server_first(V_SFIRST ",x=ext", strlen(V_SFIRST ",x=ext"), V_CNONCE, &sf),
		0, "server-first: extension after i= ignored");
	tap_int(sl_scram_parse_server_final(V_SFINAL, strlen(V_SFINAL), sig), 0, "parse server-final");
	tap_int(sig[0], 0xea, "server-final: first signature byte");
	tap_int(sl_scram_parse_server_final("e=other-error", 13, sig), -SL_SASL_E_SERVER_ERROR,
		"server-final: e=");
	tap_int(sl_scram_parse_server_final("x=1", 3, sig), -SL_SASL_E_PROTO, "server-final: junk");
}

/* ---------------------------------------------------------------------- */
/* PLAIN and LOGIN clients                                                 */

static void test_plain_login_client(void)
{
	struct sl_sasl_client *c = NULL;
	char out[SL_SASL_LINE_MAX], longname[300];
	struct reply rp;

	sl_sasl_client_new(SL_SASL_PLAIN, "user", "pass", &c);
	tap_int(sl_sasl_client_start(c, out, sizeof(out)), 29, "plain: line length");
	tap_str(out, "AUTH PLAIN AHVzZXIAcGFzcw==\r\n", "plain: RFC 4616 initial response");
	tap_int(sl_sasl_client_step(c, mk(&rp, 235, "2.7.0 ok"), out, sizeof(out)), 0, "plain: 235");
	c = sl_sasl_client_free(c);

	sl_sasl_client_new(SL_SASL_PLAIN, "INTELLINET\\DOUG", "s3cret", &c);
	sl_sasl_client_start(c, out, sizeof(out));
	tap_str(unb64(out, "AUTH PLAIN "), "", "plain: empty authzid first");
	{
		unsigned char raw[64];
		int n = sl_sasl_b64_decode(out + 11, strlen(out) - 13, raw, sizeof(raw));

		tap_int(n, 1 + 15 + 1 + 6, "plain: decoded length");
		tap_ok(n == 23 && memcmp(raw, "\0INTELLINET\\DOUG\0s3cret", 23) == 0,
		       "plain: authzid NUL user NUL password");
	}
	tap_int(sl_sasl_client_step(c, mk(&rp, 535, "5.7.8 Error: authentication failed"), out,
				    sizeof(out)), -SL_SASL_E_REJECTED, "plain: 535 rejected");
	c = sl_sasl_client_free(c);

	sl_sasl_client_new(SL_SASL_PLAIN, "u", "p", &c);
	sl_sasl_client_start(c, out, sizeof(out));
	tap_int(sl_sasl_client_step(c, mk(&rp, 334, ""), out, sizeof(out)), -SL_SASL_E_PROTO,
		"plain: 334 after the initial response is a protocol error");
	c = sl_sasl_client_free(c);

	sl_sasl_client_new(SL_SASL_LOGIN, "user", "pass", &c);
	sl_sasl_client_start(c, out, sizeof(out));
	tap_str(out, "AUTH LOGIN\r\n", "login: command");
	tap_int(sl_sasl_client_step(c, mk(&rp, 334, "VXNlcm5hbWU6"), out, sizeof(out)), 10,
		"login: username line length");
	tap_str(out, "dXNlcg==\r\n", "login: username");
	sl_sasl_client_step(c, mk(&rp, 334, "UGFzc3dvcmQ6"), out, sizeof(out));
	tap_str(out, "cGFzcw==\r\n", "login: password");
	tap_int(sl_sasl_client_step(c, mk(&rp, 235, "ok"), out, sizeof(out)), 0, "login: 235");
	c = sl_sasl_client_free(c);

	sl_sasl_client_new(SL_SASL_LOGIN, "user", "pass", &c);
	sl_sasl_client_start(c, out, sizeof(out));
	tap_int(sl_sasl_client_step(c, mk(&rp, 235, "ok"), out, sizeof(out)), -SL_SASL_E_PROTO,
		"login: 235 before the password is a protocol error");
	c = sl_sasl_client_free(c);

	memset(longname, 'u', 256);
	longname[256] = '\0';
	tap_int(sl_sasl_client_new(SL_SASL_PLAIN, longname, "p", &c), -SL_SASL_E_TOO_LONG,
		"client: user name of 256 octets refused");
	longname[255] = '\0';
	tap_int(sl_sasl_client_new(SL_SASL_PLAIN, longname, longname, &c), 0,
		"client: 255-octet user name and password accepted");
	tap_ok(sl_sasl_client_start(c, out, sizeof(out)) > 0, "client: longest PLAIN line fits SL_SASL_LINE_MAX");
	c = sl_sasl_client_free(c);
	tap_int(sl_sasl_client_new(SL_SASL_PLAIN, "", "p", &c), -SL_SASL_E_CREDS, "client: empty user refused");
	tap_int(sl_sasl_client_new((enum sl_sasl_mech)9, "u", "p", &c), -EINVAL, "client: unknown mechanism");
	sl_sasl_client_new(SL_SASL_PLAIN, "user", "pass", &c);
	tap_int(sl_sasl_client_start(c, out, 20), -ENOSPC, "client: small buffer is -ENOSPC");
	c = sl_sasl_client_free(c);
}

/* ---------------------------------------------------------------------- */
/* Mechanism choice                                                        */

#define M(x) SL_SASL_MASK(SL_SASL_##x)

static void test_choose(void)
{
	static const enum sl_sasl_mech all[] = { SL_SASL_SCRAM_SHA_256, SL_SASL_PLAIN, SL_SASL_LOGIN };
	static const enum sl_sasl_mech plain_first[] = { SL_SASL_PLAIN, SL_SASL_SCRAM_SHA_256 };
	static const enum sl_sasl_mech login_only[] = { SL_SASL_LOGIN };
	static const struct {
		const char *name;
		unsigned offered;
		const enum sl_sasl_mech *allowed;
		size_t n;
		int want;
	} cases[] = {
		{ "all offered, all allowed: SCRAM", M(SCRAM_SHA_256) | M(PLAIN) | M(LOGIN), all, 3, SL_SASL_SCRAM_SHA_256 },
		{ "no SCRAM offered: PLAIN", M(PLAIN) | M(LOGIN), all, 3, SL_SASL_PLAIN },
		{ "only LOGIN offered", M(LOGIN), all, 3, SL_SASL_LOGIN },
		{ "policy order cannot weaken the choice", M(SCRAM_SHA_256) | M(PLAIN), plain_first, 2, SL_SASL_SCRAM_SHA_256 },
		{ "policy allows LOGIN only", M(SCRAM_SHA_256) | M(PLAIN) | M(LOGIN), login_only, 1, SL_SASL_LOGIN },
		{ "nothing in common", M(PLAIN), login_only, 1, -ENOENT },
		{ "nothing offered", 0, all, 3, -ENOENT },
		{ "nothing allowed", M(PLAIN), all, 0, -ENOENT },
	};
	size_t i;

	for (i = 0; i < TAP_NELEM(cases); i++)
		tap_int(sl_sasl_choose(cases[i].offered, cases[i].allowed, cases[i].n), cases[i].want,
			"choose: %s", cases[i].name);
	tap_int(sl_sasl_mechs_parse("CRAM-MD5 plain  LOGIN XOAUTH2", 29), M(PLAIN) | M(LOGIN),
		"mechs_parse: case-insensitive, unknown ignored");
	tap_int(sl_sasl_mechs_parse("PLAINX SCRAM-SHA-256-PLUS", 25), 0, "mechs_parse: no prefix matches");
	tap_int(sl_sasl_mechs_parse("SCRAM-SHA-256", 13), M(SCRAM_SHA_256), "mechs_parse: SCRAM");
	tap_str(sl_sasl_mech_name(SL_SASL_SCRAM_SHA_256), "SCRAM-SHA-256", "mech name");
	tap_ok(sl_sasl_mech_name((enum sl_sasl_mech)0) == NULL, "mech name of 0 is NULL");
}

/* ---------------------------------------------------------------------- */
/* Base64                                                                  */

static void test_b64(void)
{
	static const struct {
		const char *name, *in;
		int want;
		const char *out;
	} cases[] = {
		{ "empty", "", 0, "" },
		{ "no padding", "YWJj", 3, "abc" },
		{ "one pad", "YWI=", 2, "ab" },
		{ "two pads", "YQ==", 1, "a" },
		{ "length not multiple of 4", "YWJ", -SL_SASL_E_BASE64, NULL },
		{ "whitespace", "YW Jj", -SL_SASL_E_BASE64, NULL },
		{ "pad in the middle", "YQ==YWJj", -SL_SASL_E_BASE64, NULL },
		{ "three pads", "Y===", -SL_SASL_E_BASE64, NULL },
		{ "url alphabet", "YW-_", -SL_SASL_E_BASE64, NULL },
		{ "binary", "AAEC", 3, "\0\1\2" },
	};
	unsigned char buf[64];
	char enc[64];
	size_t i;
	int r;

	for (i = 0; i < TAP_NELEM(cases); i++) {
		r = sl_sasl_b64_decode(cases[i].in, strlen(cases[i].in), buf, sizeof(buf));
		tap_int(r, cases[i].want, "b64 decode %s", cases[i].name);
		if (cases[i].out && r >= 0)
			tap_ok(memcmp(buf, cases[i].out, (size_t)r) == 0, "b64 decode %s: bytes", cases[i].name);
	}
	tap_int(sl_sasl_b64_decode("YWJjYWJj", 8, buf, 5), -ENOSPC, "b64 decode: small buffer");
	tap_int(sl_sasl_b64_encode("ab", 2, enc, sizeof(enc)), 4, "b64 encode: length");
	tap_str(enc, "YWI=", "b64 encode: padded");
	tap_int(sl_sasl_b64_encode("abc", 3, enc, 4), -ENOSPC, "b64 encode: room for the NUL");
}

/* ---------------------------------------------------------------------- */
/* Server side                                                             */

static const struct plain_case {
	const char *name, *b64;
	int want;
	const char *authzid, *user, *pass;
} plain_cases[] = {
	{ "user and password", "AHVzZXIAcGFzcw==", 0, "", "user", "pass" },
	{ "with authzid", "YWRtaW4AdXNlcgBwYXNz", 0, "admin", "user", "pass" },
	{ "empty response '='", "=", -SL_SASL_E_CREDS, NULL, NULL, NULL },
	{ "no NUL at all", "dXNlcnBhc3M=", -SL_SASL_E_CREDS, NULL, NULL, NULL },
	{ "one NUL only", "dXNlcgBwYXNz", -SL_SASL_E_CREDS, NULL, NULL, NULL },
	{ "three NULs", "AHVzZXIAcGEAc3M=", -SL_SASL_E_CREDS, NULL, NULL, NULL },
	{ "empty user", "AABwYXNz", -SL_SASL_E_CREDS, NULL, NULL, NULL },
	{ "empty password", "AHVzZXIA", -SL_SASL_E_CREDS, NULL, NULL, NULL },
	{ "bad base64", "AHVzZXIAcGFzcw=", -SL_SASL_E_BASE64, NULL, NULL, NULL },
};

static void test_server_plain(void)
{
	struct sl_sasl_creds cr;
	char b64[2048];
	unsigned char raw[1024];
	size_t i;
	int r;

	for (i = 0; i < TAP_NELEM(plain_cases); i++) {
		const struct plain_case *k = &plain_cases[i];

		r = sl_sasl_plain_decode(k->b64, strlen(k->b64), &cr);
		tap_int(r, k->want, "plain decode %s", k->name);
		if (k->user) {
			tap_str(cr.authzid, k->authzid, "plain decode %s: authzid", k->name);
			tap_str(cr.username, k->user, "plain decode %s: username", k->name);
			tap_str(cr.password, k->pass, "plain decode %s: password", k->name);
		} else {
			tap_ok(cr.username[0] == 0 && cr.password[0] == 0,
			       "plain decode %s: nothing left behind", k->name);
		}
	}
	/* Limits: 255 octets per field; 256 is refused. */
	raw[0] = 0;
	memset(raw + 1, 'u', 255);
	raw[256] = 0;
	memset(raw + 257, 'p', 255);
	EVP_EncodeBlock((unsigned char *)b64, raw, 512);
	tap_int(sl_sasl_plain_decode(b64, strlen(b64), &cr), 0, "plain decode: 255-octet fields");
	tap_int((long long)strlen(cr.password), 255, "plain decode: 255-octet password");
	memset(raw + 1, 'u', 256);
	raw[257] = 0;
	memset(raw + 258, 'p', 10);
	EVP_EncodeBlock((unsigned char *)b64, raw, 268);
	tap_int(sl_sasl_plain_decode(b64, strlen(b64), &cr), -SL_SASL_E_TOO_LONG, "plain decode: 256-octet user refused");
	memset(b64, 'A', 1100);
	tap_int(sl_sasl_plain_decode(b64, 1100, &cr), -SL_SASL_E_TOO_LONG, "plain decode: huge response refused before decoding");
}

static void server_cmd(const char *line, struct sl_smtp_cmd *cmd)
{
	sl_smtp_cmd_parse(line, strlen(line), cmd);
}

static void test_server_exchanges(void)
{
	struct sl_sasl_server s;
	struct sl_smtp_cmd cmd;
	char out[256];

	sl_sasl_server_init(&s);
	server_cmd("AUTH PLAIN AHVzZXIAcGFzcw==", &cmd);
	tap_int(sl_sasl_server_start(&s, &cmd, out, sizeof(out)), 0, "server PLAIN with initial response");
	tap_str(s.creds.username, "user", "server PLAIN ir: user");
	tap_str(s.creds.password, "pass", "server PLAIN ir: password");
	sl_sasl_server_done(&s);
	tap_ok(s.creds.password[0] == 0, "server done wipes the password");

	sl_sasl_server_init(&s);
	server_cmd("AUTH PLAIN", &cmd);
	tap_int(sl_sasl_server_start(&s, &cmd, out, sizeof(out)), 6, "server PLAIN: challenge length");
	tap_str(out, "334 \r\n", "server PLAIN: empty challenge");
	tap_int(sl_sasl_server_step(&s, "AHVzZXIAcGFzcw==", 16, out, sizeof(out)), 0, "server PLAIN: response");
	tap_str(s.creds.username, "user", "server PLAIN: user");
	tap_int(sl_sasl_server_step(&s, "AHVzZXIAcGFzcw==", 16, out, sizeof(out)), -EINVAL,
		"server PLAIN: exchange is over");
	sl_sasl_server_done(&s);

	sl_sasl_server_init(&s);
	server_cmd("AUTH LOGIN", &cmd);
	sl_sasl_server_start(&s, &cmd, out, sizeof(out));
	tap_str(out, "334 VXNlcm5hbWU6\r\n", "server LOGIN: Username: challenge");
	sl_sasl_server_step(&s, "dXNlcg==", 8, out, sizeof(out));
	tap_str(out, "334 UGFzc3dvcmQ6\r\n", "server LOGIN: Password: challenge");
	tap_int(sl_sasl_server_step(&s, "cGFzcw==", 8, out, sizeof(out)), 0, "server LOGIN: done");
	tap_str(s.creds.username, "user", "server LOGIN: user");
	tap_str(s.creds.password, "pass", "server LOGIN: password");
	sl_sasl_server_done(&s);

	sl_sasl_server_init(&s);
	server_cmd("AUTH LOGIN dXNlcg==", &cmd);
	sl_sasl_server_start(&s, &cmd, out, sizeof(out));
	tap_str(out, "334 UGFzc3dvcmQ6\r\n", "server LOGIN with initial user: asks the password");
	tap_int(sl_sasl_server_step(&s, "*", 1, out, sizeof(out)), -SL_SASL_E_CANCELLED, "server LOGIN: '*' cancels");
	tap_ok(s.creds.username[0] == 0, "server: cancel wipes what was decoded");
	sl_sasl_server_done(&s);

	sl_sasl_server_init(&s);
	server_cmd("AUTH LOGIN", &cmd);
	sl_sasl_server_start(&s, &cmd, out, sizeof(out));
	tap_int(sl_sasl_server_step(&s, "", 0, out, sizeof(out)), -SL_SASL_E_CREDS, "server LOGIN: empty user");
	sl_sasl_server_done(&s);

	sl_sasl_server_init(&s);
	server_cmd("AUTH LOGIN", &cmd);
	sl_sasl_server_start(&s, &cmd, out, sizeof(out));
	sl_sasl_server_step(&s, "dXNlcg==", 8, out, sizeof(out));
	tap_int(sl_sasl_server_step(&s, "cGFz@w==", 8, out, sizeof(out)), -SL_SASL_E_BASE64, "server LOGIN: bad base64");
	sl_sasl_server_done(&s);

	sl_sasl_server_init(&s);
	server_cmd("AUTH CRAM-MD5", &cmd);
	tap_int(sl_sasl_server_start(&s, &cmd, out, sizeof(out)), -SL_SASL_E_MECH, "server: CRAM-MD5 not served");
	sl_sasl_server_done(&s);
	sl_sasl_server_init(&s);
	server_cmd("AUTH SCRAM-SHA-256 biws", &cmd);
	tap_int(sl_sasl_server_start(&s, &cmd, out, sizeof(out)), -SL_SASL_E_MECH, "server: SCRAM not served");
	sl_sasl_server_done(&s);
	sl_sasl_server_init(&s);
	server_cmd("AUTH PLAIN =", &cmd);
	tap_int(sl_sasl_server_start(&s, &cmd, out, sizeof(out)), -SL_SASL_E_CREDS, "server: PLAIN '=' is empty credentials");
	sl_sasl_server_done(&s);
}

/* ---------------------------------------------------------------------- */
/* crypt(3)                                                                */

static int make_hash(const char *prefix, unsigned long count, const char *pw, char *out, size_t len)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd = calloc(1, sizeof(*cd));
	const char *h;
	int r = -1;

	if (cd && crypt_gensalt_rn(prefix, count, NULL, 0, setting, sizeof(setting)) &&
	    (h = crypt_rn(pw, setting, cd, sizeof(*cd))) && h[0] != '*' && strlen(h) < len) {
		strcpy(out, h);
		r = 0;
	}
	free(cd);
	return r;
}

struct verify_job {
	const char *hash, *pw;
	int want, got;
};

static void *verify_thread(void *arg)
{
	struct verify_job *j = arg;
	int i;

	j->got = 0;
	for (i = 0; i < 8 && j->got == 0; i++)
		if (sl_sasl_verify_crypt(j->pw, j->hash) != j->want)
			j->got = -1;
	return NULL;
}

static void test_crypt(void)
{
	char sha512[256], yes[256], mine[256];
	pthread_t th[4];
	struct verify_job jobs[4];
	int i;

	tap_int(make_hash("$6$", 5000, "correct horse", sha512, sizeof(sha512)), 0, "made a SHA-512-crypt hash");
	tap_int(make_hash("$y$", 0, "battery staple", yes, sizeof(yes)), 0, "made a yescrypt hash");
	tap_ok(strncmp(sha512, "$6$", 3) == 0 && strncmp(yes, "$y$", 3) == 0, "hash prefixes");
	tap_int(sl_sasl_verify_crypt("correct horse", sha512), 0, "sha512-crypt: right password");
	tap_int(sl_sasl_verify_crypt("correct horsE", sha512), -EACCES, "sha512-crypt: wrong password");
	tap_int(sl_sasl_verify_crypt("", sha512), -EACCES, "sha512-crypt: empty password");
	tap_int(sl_sasl_verify_crypt("battery staple", yes), 0, "yescrypt: right password");
	tap_int(sl_sasl_verify_crypt("battery stapl", yes), -EACCES, "yescrypt: wrong password");
	tap_int(sl_sasl_verify_crypt("x", "*"), -EINVAL, "locked hash '*' is unusable");
	tap_int(sl_sasl_verify_crypt("x", "!"), -EINVAL, "locked hash '!' is unusable");
	tap_int(sl_sasl_verify_crypt("x", "$99$abc$def"), -EINVAL, "unknown method is unusable");
	tap_int(sl_sasl_verify_crypt("smtplock-dummy-account", NULL), -EACCES, "no account: dummy check fails");
	tap_int(sl_sasl_verify_crypt(NULL, sha512), -EINVAL, "NULL password");

	tap_int(sl_sasl_hash_password("new pass", "$6$", 0, mine, sizeof(mine)), 0, "hash_password $6$");
	tap_int(sl_sasl_verify_crypt("new pass", mine), 0, "hash_password result verifies");
	tap_int(sl_sasl_hash_password("new pass", "$6$", 0, mine, 10), -ENOSPC, "hash_password: small buffer");
	tap_int(sl_sasl_hash_password("new pass", "$zz$", 0, mine, sizeof(mine)), -EINVAL, "hash_password: bad prefix");

	/* Thread safety: concurrent checks of different hashes stay right. */
	for (i = 0; i < 4; i++) {
		jobs[i] = (struct verify_job){ .hash = sha512, .pw = i % 2 ? "correct horse" : "wrong",
					       .want = i % 2 ? 0 : -EACCES };
		pthread_create(&th[i], NULL, verify_thread, &jobs[i]);
	}
	for (i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		tap_int(jobs[i].got, 0, "concurrent verify, thread %d", i);
	}
}

int main(void)
{
	test_scram_vector();
	test_scram_bad();
	test_scram_client_misc();
	test_plain_login_client();
	test_choose();
	test_b64();
	test_server_plain();
	test_server_exchanges();
	test_crypt();
	return tap_done();
}

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * sasl.c — SMTP AUTH client (PLAIN, LOGIN, SCRAM-SHA-256), mechanism
 * choice and strict base64.  The server half is sasl_server.c.
 *
 * The client is a small state machine driven by the partner's replies:
 *
 *	start ─► "AUTH MECH [ir]"
 *	PLAIN:  WAIT_OK ─235─► DONE
 *	LOGIN:  WAIT_USER ─334─► user ─► WAIT_PASS ─334─► password ─► WAIT_OK
 *	SCRAM:  WAIT_FIRST ─334 server-first─► client-final ─► WAIT_FINAL
 *	        ─334 server-final (signature verified)─► "" ─► WAIT_OK ─235─► DONE
 *
 * Any 4xx/5xx is REJECTED; anything unexpected is PROTO; for SCRAM a 235
 * before the server signature was verified is NO_SERVER_SIG — the only
 * way to DONE goes through CRYPTO_memcmp() of the server signature.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "sasl.h"

static const char *const sl_sasl_err_names[] = {
	[SL_SASL_E_REJECTED - SL_SASL_E_BASE] = "authentication rejected by the server",
	[SL_SASL_E_PROTO - SL_SASL_E_BASE] = "unexpected reply in the AUTH exchange",
	[SL_SASL_E_BASE64 - SL_SASL_E_BASE] = "malformed base64",
	[SL_SASL_E_TOO_LONG - SL_SASL_E_BASE] = "credential longer than 255 octets",
	[SL_SASL_E_CREDS - SL_SASL_E_BASE] = "malformed credentials",
	[SL_SASL_E_SASLPREP - SL_SASL_E_BASE] =
		"SCRAM needs a printable ASCII username and password (SASLprep of non-ASCII is not implemented; use PLAIN)",
	[SL_SASL_E_NONCE - SL_SASL_E_BASE] = "SCRAM server nonce does not extend the client nonce",
	[SL_SASL_E_ITER - SL_SASL_E_BASE] = "SCRAM iteration count out of bounds",
	[SL_SASL_E_EXTENSION - SL_SASL_E_BASE] = "SCRAM mandatory extension not supported",
	[SL_SASL_E_SERVER_ERROR - SL_SASL_E_BASE] = "SCRAM server reported an error",
	[SL_SASL_E_SERVER_SIG - SL_SASL_E_BASE] = "SCRAM server signature mismatch (server does not know the password)",
	[SL_SASL_E_NO_SERVER_SIG - SL_SASL_E_BASE] = "SCRAM server accepted without proving its identity",
	[SL_SASL_E_CANCELLED - SL_SASL_E_BASE] = "authentication cancelled by the client",
	[SL_SASL_E_MECH - SL_SASL_E_BASE] = "mechanism not supported",
};

const char *sl_sasl_strerror(int err)
{
	int e = err < 0 ? -err : err;

	if (e > SL_SASL_E_BASE && e < SL_SASL_E_MAX)
		return sl_sasl_err_names[e - SL_SASL_E_BASE];
	return sl_smtp_strerror(err);
}

/* ---------------------------------------------------------------------- */
/* Mechanisms                                                              */

static const struct {
	enum sl_sasl_mech mech;
	const char *name;
} sl_mechs[] = {	/* strongest first: the order sl_sasl_choose() applies */
	{ SL_SASL_SCRAM_SHA_256, "SCRAM-SHA-256" },
	{ SL_SASL_PLAIN, "PLAIN" },
	{ SL_SASL_LOGIN, "LOGIN" },
};
#define SL_N_MECHS (sizeof(sl_mechs) / sizeof(sl_mechs[0]))

const char *sl_sasl_mech_name(enum sl_sasl_mech m)
{
	size_t i;

	for (i = 0; i < SL_N_MECHS; i++)
		if (sl_mechs[i].mech == m)
			return sl_mechs[i].name;
	return NULL;
}

int sl_sasl_mech_from_name(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < SL_N_MECHS; i++)
		if (strlen(sl_mechs[i].name) == len && strncasecmp(name, sl_mechs[i].name, len) == 0)
			return (int)sl_mechs[i].mech;
	return 0;
}

unsigned sl_sasl_mechs_parse(const char *list, size_t len)
{
	unsigned mask = 0;
	size_t i = 0, j;
	int m;

	while (i < len) {
		while (i < len && list[i] == ' ')
			i++;
		for (j = i; j < len && list[j] != ' '; j++)
			;
		if (j > i && (m = sl_sasl_mech_from_name(list + i, j - i)) > 0)
			mask |= SL_SASL_MASK(m);
		i = j;
	}
	return mask;
}

int sl_sasl_choose(unsigned offered, const enum sl_sasl_mech *allowed, size_t n_allowed)
{
	size_t i, j;

	for (i = 0; i < SL_N_MECHS; i++) {
		if (!(offered & SL_SASL_MASK(sl_mechs[i].mech)))
			continue;
		for (j = 0; j < n_allowed; j++)
			if (allowed[j] == sl_mechs[i].mech)
				return (int)sl_mechs[i].mech;
	}
	return -ENOENT;
}

/* ---------------------------------------------------------------------- */
/* Base64                                                                  */

int sl_sasl_b64_encode(const void *in, size_t inlen, char *out, size_t outcap)
{
	size_t need = 4 * ((inlen + 2) / 3);

	if (inlen > (1u << 20) || outcap < need + 1)
		return -ENOSPC;
	EVP_EncodeBlock((unsigned char *)out, in, (int)inlen);
	out[need] = '\0';
	return (int)need;
}

static bool sl_b64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

int sl_sasl_b64_decode(const char *in, size_t inlen, unsigned char *out, size_t outcap)
{
	size_t i, pad = 0;
	int n;

	if (inlen % 4 != 0 || inlen > (1u << 20))
		return -SL_SASL_E_BASE64;
	if (inlen == 0)
		return 0;
	if (in[inlen - 1] == '=')
		pad = in[inlen - 2] == '=' ? 2 : 1;
	for (i = 0; i < inlen - pad; i++)
		if (!sl_b64_char(in[i]))
			return -SL_SASL_E_BASE64;
	if (outcap < inlen / 4 * 3)
		return -ENOSPC;
	/* EVP_DecodeBlock counts the padding as zero bytes: take them off. */
	n = EVP_DecodeBlock(out, (const unsigned char *)in, (int)inlen);
	if (n < 0 || (size_t)n < pad)
		return -SL_SASL_E_BASE64;
	return n - (int)pad;
}

/* ---------------------------------------------------------------------- */
/* Client                                                                  */

enum sl_client_state {
	SL_CS_NEW,
	SL_CS_WAIT_OK,		/* credentials sent: 235 expected */
	SL_CS_WAIT_USER,	/* LOGIN */
	SL_CS_WAIT_PASS,	/* LOGIN */
	SL_CS_WAIT_FIRST,	/* SCRAM: server-first expected */
	SL_CS_WAIT_FINAL,	/* SCRAM: server-final expected */
	SL_CS_OVER,		/* done or failed */
};

#define SL_SCRAM_CNONCE_MAX	64

struct sl_sasl_client {
	enum sl_sasl_mech mech;
	enum sl_client_state state;
	char user[SL_SASL_FIELD_MAX + 1];
	char pass[SL_SASL_FIELD_MAX + 1];
	char nonce[SL_SCRAM_CNONCE_MAX + 1];		/* SCRAM client nonce */
	char first_bare[3 * SL_SASL_FIELD_MAX + SL_SCRAM_CNONCE_MAX + 8];
	unsigned char server_sig[SL_SCRAM_KEY_LEN];	/* expected */
};

static bool sl_saslprep_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

int sl_sasl_client_new(enum sl_sasl_mech mech, const char *username, const char *password,
		       struct sl_sasl_client **ret)
{
	struct sl_sasl_client *c;
	size_t ul, pl;

	if (!sl_sasl_mech_name(mech) || !username || !password)
		return -EINVAL;
	ul = strlen(username);
	pl = strlen(password);
	if (ul == 0)
		return -SL_SASL_E_CREDS;
	if (ul > SL_SASL_FIELD_MAX || pl > SL_SASL_FIELD_MAX)
		return -SL_SASL_E_TOO_LONG;
	if (mech == SL_SASL_SCRAM_SHA_256 &&
	    (!sl_saslprep_ascii(username) || !sl_saslprep_ascii(password)))
		return -SL_SASL_E_SASLPREP;
	c = OPENSSL_zalloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->mech = mech;
	memcpy(c->user, username, ul + 1);
	memcpy(c->pass, password, pl + 1);
	*ret = c;
	return 0;
}

struct sl_sasl_client *sl_sasl_client_free(struct sl_sasl_client *c)
{
	if (c)
		OPENSSL_clear_free(c, sizeof(*c));
	return NULL;
}

int sl_sasl_client_set_nonce(struct sl_sasl_client *c, const char *nonce)
{
	size_t i, n = strlen(nonce);

	if (c->state != SL_CS_NEW || n == 0 || n > SL_SCRAM_CNONCE_MAX)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (nonce[i] < 0x21 || nonce[i] > 0x7e || nonce[i] == ',')
			return -EINVAL;
	memcpy(c->nonce, nonce, n + 1);
	return 0;
}

/* "PREFIX<base64 of data>\r\n" into out; returns the length. */
static int sl_line_b64(char *out, size_t outlen, const char *prefix, const void *data, size_t n)
{
	size_t pl = strlen(prefix);
	int r;

	if (outlen < pl + 3)
		return -ENOSPC;
	memcpy(out, prefix, pl);
	r = sl_sasl_b64_encode(data, n, out + pl, outlen - pl - 2);
	if (r < 0)
		return r;
	memcpy(out + pl + (size_t)r, "\r\n", 3);
	return (int)pl + r + 2;
}

/* RFC 5802 5.1: saslname escapes ',' and '='. */
static size_t sl_scram_saslname(const char *s, char *out)
{
	size_t n = 0;

	for (; *s; s++) {
		if (*s == ',') {
			memcpy(out + n, "=2C", 3);
			n += 3;
		} else if (*s == '=') {
			memcpy(out + n, "=3D", 3);
			n += 3;
		} else {
			out[n++] = *s;
		}
	}
	out[n] = '\0';
	return n;
}

static int sl_scram_start(struct sl_sasl_client *c, char *out, size_t outlen)
{
	char user[3 * SL_SASL_FIELD_MAX + 1];
	char first[sizeof(c->first_bare) + 3];
	unsigned char rnd[24];
	int n;

	if (!c->nonce[0]) {
		if (RAND_bytes(rnd, sizeof(rnd)) != 1)
			return -EIO;
		sl_sasl_b64_encode(rnd, sizeof(rnd), c->nonce, sizeof(c->nonce));
	}
	sl_scram_saslname(c->user, user);
	snprintf(c->first_bare, sizeof(c->first_bare), "n=%s,r=%s", user, c->nonce);
	n = snprintf(first, sizeof(first), "n,,%s", c->first_bare);
	return sl_line_b64(out, outlen, "AUTH SCRAM-SHA-256 ", first, (size_t)n);
}

int sl_sasl_client_start(struct sl_sasl_client *c, char *out, size_t outlen)
{
	unsigned char plain[2 * SL_SASL_FIELD_MAX + 2];
	size_t ul, pl;
	int r = -EINVAL;

	if (c->state != SL_CS_NEW)
		return -EINVAL;
	switch (c->mech) {
	case SL_SASL_PLAIN:
		ul = strlen(c->user);
		pl = strlen(c->pass);
		/* authzid empty: we act as ourselves */
		plain[0] = '\0';
		memcpy(plain + 1, c->user, ul);
		plain[1 + ul] = '\0';
		memcpy(plain + 2 + ul, c->pass, pl);
		r = sl_line_b64(out, outlen, "AUTH PLAIN ", plain, 2 + ul + pl);
		OPENSSL_cleanse(plain, sizeof(plain));
		OPENSSL_cleanse(c->pass, sizeof(c->pass));
		c->state = SL_CS_WAIT_OK;
		break;
	case SL_SASL_LOGIN:
		r = snprintf(out, outlen, "AUTH LOGIN\r\n");
		if ((size_t)r >= outlen)
			return -ENOSPC;
		c->state = SL_CS_WAIT_USER;
		break;
	case SL_SASL_SCRAM_SHA_256:
		r = sl_scram_start(c, out, outlen);
		c->state = SL_CS_WAIT_FIRST;
		break;
	}
	if (r < 0)
		c->state = SL_CS_OVER;
	return r;
}

/* ---------------------------------------------------------------------- */
/* SCRAM                                                                   */

/* One "x=value" attribute at *s (up to ',' or end); advances *s. */
static bool sl_scram_attr(const char **s, const char *end, char name, const char **val,
			  size_t *len)
{
	const char *p = *s, *comma;

	if (end - p < 2 || p[0] != name || p[1] != '=')
		return false;
	comma = memchr(p + 2, ',', (size_t)(end - p - 2));
	*val = p + 2;
	*len = (size_t)((comma ? comma : end) - *val);
	*s = comma ? comma + 1 : end;
	return true;
}

int sl_scram_parse_server_first(const char *msg, size_t len, const char *client_nonce,
				struct sl_scram_server_first *ret)
{
	unsigned char salt[SL_SCRAM_SALT_MAX + 3];
	const char *s = msg, *end = msg + len, *v;
	size_t n, i, cn = strlen(client_nonce);
	unsigned long iter = 0;
	int r;

	memset(ret, 0, sizeof(*ret));
	if (len > SL_SCRAM_MSG_MAX || memchr(msg, '\0', len))
		return -SL_SASL_E_PROTO;
	if (len >= 2 && msg[0] == 'm' && msg[1] == '=')
		return -SL_SASL_E_EXTENSION;
	if (!sl_scram_attr(&s, end, 'r', &v, &n))
		return -SL_SASL_E_PROTO;
	if (n <= cn || n > SL_SCRAM_NONCE_MAX || memcmp(v, client_nonce, cn) != 0)
		return -SL_SASL_E_NONCE;
	for (i = 0; i < n; i++)
		if (v[i] < 0x21 || v[i] > 0x7e)
			return -SL_SASL_E_NONCE;
	ret->nonce = v;
	ret->nonce_len = n;
	if (!sl_scram_attr(&s, end, 's', &v, &n) || n == 0)
		return -SL_SASL_E_PROTO;
	if (n > 4 * ((SL_SCRAM_SALT_MAX + 2) / 3))
		return -SL_SASL_E_PROTO;
	r = sl_sasl_b64_decode(v, n, salt, sizeof(salt));
	if (r <= 0 || (size_t)r > SL_SCRAM_SALT_MAX)
		return r < 0 && r != -ENOSPC ? r : -SL_SASL_E_PROTO;
	memcpy(ret->salt, salt, (size_t)r);
	ret->salt_len = (size_t)r;
	if (!sl_scram_attr(&s, end, 'i', &v, &n) || n == 0 || v[0] == '0')
		return -SL_SASL_E_PROTO;
	if (n > 9)
		return -SL_SASL_E_ITER;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -SL_SASL_E_PROTO;
		iter = iter * 10 + (unsigned long)(v[i] - '0');
	}
	if (iter < SL_SCRAM_ITER_MIN || iter > SL_SCRAM_ITER_MAX)
		return -SL_SASL_E_ITER;
	ret->iter = (unsigned)iter;
	/* Extensions may follow (",x=…", ignored); a trailing comma may not. */
	if (end[-1] == ',')
		return -SL_SASL_E_PROTO;
	return 0;
}

int sl_scram_parse_server_final(const char *msg, size_t len, unsigned char sig[SL_SCRAM_KEY_LEN])
{
	unsigned char tmp[SL_SCRAM_KEY_LEN + 3];
	const char *s = msg, *end = msg + len, *v;
	size_t n;
	int r;

	if (len > SL_SCRAM_MSG_MAX || memchr(msg, '\0', len))
		return -SL_SASL_E_PROTO;
	if (len >= 2 && msg[0] == 'e' && msg[1] == '=')
		return -SL_SASL_E_SERVER_ERROR;
	if (!sl_scram_attr(&s, end, 'v', &v, &n) || n != 44)
		return -SL_SASL_E_PROTO;
	r = sl_sasl_b64_decode(v, n, tmp, sizeof(tmp));
	if (r != SL_SCRAM_KEY_LEN)
		return r < 0 ? r : -SL_SASL_E_PROTO;
	memcpy(sig, tmp, SL_SCRAM_KEY_LEN);
	return 0;
}

static int sl_hmac(const unsigned char *key, size_t klen, const void *data, size_t n,
		   unsigned char out[SL_SCRAM_KEY_LEN])
{
	unsigned int olen = 0;

	if (!HMAC(EVP_sha256(), key, (int)klen, data, n, out, &olen) || olen != SL_SCRAM_KEY_LEN)
		return -EIO;
	return 0;
}

/* The client-final line from the server-first message (RFC 5802 3). */
static int sl_scram_final(struct sl_sasl_client *c, const char *sfirst, size_t sflen,
			  char *out, size_t outlen)
{
	struct sl_scram_server_first sf;
	unsigned char salted[SL_SCRAM_KEY_LEN], ckey[SL_SCRAM_KEY_LEN], skey[SL_SCRAM_KEY_LEN];
	unsigned char stored[SL_SCRAM_KEY_LEN], csig[SL_SCRAM_KEY_LEN];
	unsigned char proof[SL_SCRAM_KEY_LEN];
	char authmsg[sizeof(c->first_bare) + SL_SCRAM_MSG_MAX + SL_SCRAM_NONCE_MAX + 16];
	char final[SL_SCRAM_NONCE_MAX + 64 + 16], p64[48];
	int r, n, an;
	size_t i;

	r = sl_scram_parse_server_first(sfirst, sflen, c->nonce, &sf);
	if (r < 0)
		return r;
	/* client-final-message-without-proof: no channel binding ("n,,") */
	n = snprintf(final, sizeof(final), "c=biws,r=%.*s", (int)sf.nonce_len, sf.nonce);
	an = snprintf(authmsg, sizeof(authmsg), "%s,%.*s,%s", c->first_bare, (int)sflen, sfirst,
		      final);
	if (n < 0 || (size_t)n >= sizeof(final) || an < 0 || (size_t)an >= sizeof(authmsg))
		return -ENOSPC;

	r = -EIO;
	if (PKCS5_PBKDF2_HMAC(c->pass, (int)strlen(c->pass), sf.salt, (int)sf.salt_len,
			      (int)sf.iter, EVP_sha256(), sizeof(salted), salted) != 1)
		goto out;
	if (sl_hmac(salted, sizeof(salted), "Client Key", 10, ckey) < 0 ||
	    sl_hmac(salted, sizeof(salted), "Server Key", 10, skey) < 0 ||
	    !EVP_Digest(ckey, sizeof(ckey), stored, NULL, EVP_sha256(), NULL) ||
	    sl_hmac(stored, sizeof(stored), authmsg, (size_t)an, csig) < 0 ||
	    sl_hmac(skey, sizeof(skey), authmsg, (size_t)an, c->server_sig) < 0)
		goto out;
	for (i = 0; i < SL_SCRAM_KEY_LEN; i++)
		proof[i] = ckey[i] ^ csig[i];
	sl_sasl_b64_encode(proof, sizeof(proof), p64, sizeof(p64));
	if ((size_t)n + 3 + strlen(p64) >= sizeof(final)) {
		r = -ENOSPC;
		goto out;
	}
	n += snprintf(final + n, sizeof(final) - (size_t)n, ",p=%s", p64);
	r = sl_line_b64(out, outlen, "", final, (size_t)n);
out:
	/* The password is not needed any more, whatever happened. */
	OPENSSL_cleanse(c->pass, sizeof(c->pass));
	OPENSSL_cleanse(salted, sizeof(salted));
	OPENSSL_cleanse(ckey, sizeof(ckey));
	OPENSSL_cleanse(skey, sizeof(skey));
	OPENSSL_cleanse(stored, sizeof(stored));
	OPENSSL_cleanse(csig, sizeof(csig));
	OPENSSL_cleanse(proof, sizeof(proof));
	return r;
}

/* The decoded text of a 334 challenge (one line of base64). */
static int sl_challenge(const struct sl_smtp_reply *reply, char *buf, size_t cap, size_t *len)
{
	const char *t = reply->lines[0];
	int r;

	if (reply->n_lines != 1)
		return -SL_SASL_E_PROTO;
	r = sl_sasl_b64_decode(t, strlen(t), (unsigned char *)buf, cap - 1);
	if (r < 0)
		return r == -ENOSPC ? -SL_SASL_E_PROTO : r;
	buf[r] = '\0';
	*len = (size_t)r;
	return 0;
}

static int sl_client_step(struct sl_sasl_client *c, const struct sl_smtp_reply *reply,
			  char *out, size_t outlen)
{
	char msg[SL_SCRAM_MSG_MAX + 4];
	unsigned char sig[SL_SCRAM_KEY_LEN];
	size_t mlen;
	int r;

	if (reply->code >= 400)
		return -SL_SASL_E_REJECTED;
	if (reply->code == 235) {
		switch (c->state) {
		case SL_CS_WAIT_OK:
			return 0;
		case SL_CS_WAIT_FIRST:
		case SL_CS_WAIT_FINAL:
			/* Fail closed: no verified server signature, no success. */
			return -SL_SASL_E_NO_SERVER_SIG;
		default:
			return -SL_SASL_E_PROTO;
		}
	}
	if (reply->code != 334)
		return -SL_SASL_E_PROTO;
	switch (c->state) {
	case SL_CS_WAIT_USER:
		c->state = SL_CS_WAIT_PASS;
		return sl_line_b64(out, outlen, "", c->user, strlen(c->user));
	case SL_CS_WAIT_PASS:
		c->state = SL_CS_WAIT_OK;
		r = sl_line_b64(out, outlen, "", c->pass, strlen(c->pass));
		OPENSSL_cleanse(c->pass, sizeof(c->pass));
		return r;
	case SL_CS_WAIT_FIRST:
		r = sl_challenge(reply, msg, sizeof(msg), &mlen);
		if (r < 0)
			return r;
		c->state = SL_CS_WAIT_FINAL;
		return sl_scram_final(c, msg, mlen, out, outlen);
	case SL_CS_WAIT_FINAL:
		r = sl_challenge(reply, msg, sizeof(msg), &mlen);
		if (r < 0)
			return r;
		r = sl_scram_parse_server_final(msg, mlen, sig);
		if (r < 0)
			return r;
		if (CRYPTO_memcmp(sig, c->server_sig, sizeof(sig)) != 0)
			return -SL_SASL_E_SERVER_SIG;
		c->state = SL_CS_WAIT_OK;
		if (outlen < 3)
			return -ENOSPC;
		memcpy(out, "\r\n", 3);		/* RFC 4954 4: empty response */
		return 2;
	default:
		return -SL_SASL_E_PROTO;
	}
}

int sl_sasl_client_step(struct sl_sasl_client *c, const struct sl_smtp_reply *reply,
			char *out, size_t outlen)
{
	int r;

	if (c->state == SL_CS_NEW || c->state == SL_CS_OVER)
		return -EINVAL;
	r = sl_client_step(c, reply, out, outlen);
	if (r <= 0) {
		c->state = SL_CS_OVER;
		OPENSSL_cleanse(c->pass, sizeof(c->pass));
	}
	return r;
}

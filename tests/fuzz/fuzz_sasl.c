/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * fuzz_sasl.c — AUTH exchanges from both ends.
 *
 * Byte 0 selects:
 *   0  PLAIN response decode (inbound)
 *   1  SCRAM server-first and server-final parsers (outbound)
 *   2  the SCRAM client state machine against a hostile server: the input
 *      is "server-first\nserver-final\n<code>" (each base64-encoded by the
 *      harness into a 334); success must never be reported without a
 *      server signature that matches
 *   3  strict base64: decode, and re-encode what decoded
 *   4  mechanism list parsing and choice
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sasl.h"

#define CHECK(x) do { if (!(x)) abort(); } while (0)
#define NONCE "fyko+d2lbbFgONRv9qkxdawL"

static void fuzz_plain(const char *s, size_t n)
{
	struct sl_sasl_creds c;
	int r = sl_sasl_plain_decode(s, n, &c);

	if (r == 0) {
		CHECK(c.username[0] && c.password[0]);
		CHECK(strlen(c.username) <= SL_SASL_FIELD_MAX && strlen(c.password) <= SL_SASL_FIELD_MAX);
		CHECK(strlen(c.authzid) <= SL_SASL_FIELD_MAX);
	} else {
		CHECK(!c.username[0] && !c.password[0] && !c.authzid[0]);
	}
}

static void fuzz_scram_parsers(const char *s, size_t n)
{
	struct sl_scram_server_first sf;
	unsigned char sig[SL_SCRAM_KEY_LEN];

	if (sl_scram_parse_server_first(s, n, NONCE, &sf) == 0) {
		CHECK(sf.nonce >= s && sf.nonce + sf.nonce_len <= s + n);
		CHECK(sf.nonce_len > strlen(NONCE) && memcmp(sf.nonce, NONCE, strlen(NONCE)) == 0);
		CHECK(sf.salt_len > 0 && sf.salt_len <= SL_SCRAM_SALT_MAX);
		CHECK(sf.iter >= SL_SCRAM_ITER_MIN && sf.iter <= SL_SCRAM_ITER_MAX);
	}
	sl_scram_parse_server_final(s, n, sig);
}

static void mk334(struct sl_smtp_reply *r, const char **lines, char *text, const char *msg, size_t n)
{
	if (sl_sasl_b64_encode(msg, n, text, 4096) < 0)
		text[0] = '\0';
	lines[0] = text;
	*r = (struct sl_smtp_reply){ .code = 334, .n_lines = 1, .lines = lines };
}

static void fuzz_scram_client(const char *s, size_t n)
{
	static char text[4096], out[SL_SASL_LINE_MAX];
	struct sl_sasl_client *c;
	struct sl_smtp_reply rep;
	const char *lines[1], *nl1, *nl2;
	unsigned code = 235;
	int r;

	nl1 = memchr(s, '\n', n);
	if (!nl1)
		return;
	nl2 = memchr(nl1 + 1, '\n', (size_t)(s + n - nl1 - 1));
	if (nl2 && nl2 + 4 <= s + n)
		code = 200 + (unsigned)((unsigned char)nl2[1] % 4) * 100 + (unsigned char)nl2[2] % 60;
	CHECK(sl_sasl_client_new(SL_SASL_SCRAM_SHA_256, "user", "pencil", &c) == 0);
	CHECK(sl_sasl_client_set_nonce(c, NONCE) == 0);
	CHECK(sl_sasl_client_start(c, out, sizeof(out)) > 0);
	mk334(&rep, lines, text, s, (size_t)(nl1 - s));
	r = sl_sasl_client_step(c, &rep, out, sizeof(out));
	/* Success is impossible before the server signature was checked. */
	CHECK(r != 0);
	if (r > 0) {
		mk334(&rep, lines, text, nl1 + 1, (size_t)((nl2 ? nl2 : s + n) - nl1 - 1));
		r = sl_sasl_client_step(c, &rep, out, sizeof(out));
		CHECK(r != 0);
		/* Without the password nothing can forge v=; a fuzzer must
		 * never get past this point. */
		CHECK(r < 0);
		lines[0] = "ok";
		rep = (struct sl_smtp_reply){ .code = code, .n_lines = 1, .lines = lines };
		CHECK(sl_sasl_client_step(c, &rep, out, sizeof(out)) == -EINVAL);
	}
	sl_sasl_client_free(c);
}

static void fuzz_b64(const char *s, size_t n)
{
	static unsigned char dec[8192], dec2[8192];
	static char enc[12000];
	int r, e, r2;

	if (n > 4096)
		return;
	r = sl_sasl_b64_decode(s, n, dec, sizeof(dec));
	if (r < 0)
		return;
	CHECK((size_t)r <= n / 4 * 3);
	e = sl_sasl_b64_encode(dec, (size_t)r, enc, sizeof(enc));
	CHECK(e >= 0 && (size_t)e == n);
	r2 = sl_sasl_b64_decode(enc, (size_t)e, dec2, sizeof(dec2));
	CHECK(r2 == r && memcmp(dec, dec2, (size_t)r) == 0);
}

static void fuzz_mechs(const char *s, size_t n)
{
	static const enum sl_sasl_mech all[] = { SL_SASL_LOGIN, SL_SASL_PLAIN, SL_SASL_SCRAM_SHA_256 };
	unsigned m = sl_sasl_mechs_parse(s, n);
	int c;

	CHECK((m & ~(SL_SASL_MASK(1) | SL_SASL_MASK(2) | SL_SASL_MASK(3))) == 0);
	c = sl_sasl_choose(m, all, 3);
	CHECK(m ? c > 0 && (m & SL_SASL_MASK(c)) : c == -ENOENT);
	if (m & SL_SASL_MASK(SL_SASL_SCRAM_SHA_256))
		CHECK(c == SL_SASL_SCRAM_SHA_256);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data + 1;
	size_t n = size - 1;

	if (size < 1)
		return 0;
	switch (data[0] % 5) {
	case 0: fuzz_plain(s, n); break;
	case 1: fuzz_scram_parsers(s, n); break;
	case 2: fuzz_scram_client(s, n); break;
	case 3: fuzz_b64(s, n); break;
	case 4: fuzz_mechs(s, n); break;
	}
	return 0;
}

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * sasl_server.c — the inbound side of SMTP AUTH: decode PLAIN and LOGIN
 * into credentials, and check a password against a crypt(3) hash.
 *
 *	AUTH PLAIN <ir>            ─► creds
 *	AUTH PLAIN  ─► 334 ─► <r>  ─► creds
 *	AUTH LOGIN  ─► 334 VXNlcm5hbWU6 ─► <user> ─► 334 UGFzc3dvcmQ6 ─► <pass> ─► creds
 *	AUTH LOGIN <user> ─► 334 UGFzc3dvcmQ6 ─► <pass> ─► creds
 *
 * Every field is at most 255 octets (RFC 4616) and checked before it is
 * decoded; decoded secrets live in struct sl_sasl_creds and are wiped by
 * sl_sasl_server_done() / sl_sasl_creds_clear().
 */
#include <crypt.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "sasl.h"

enum sl_server_state {
	SL_SS_NEW,
	SL_SS_WAIT_PLAIN,
	SL_SS_WAIT_USER,
	SL_SS_WAIT_PASS,
	SL_SS_OVER,
};

/* base64 of at most 3 × 255 + 2 octets */
#define SL_PLAIN_B64_MAX	(4 * ((3 * SL_SASL_FIELD_MAX + 2 + 2) / 3))
#define SL_FIELD_B64_MAX	(4 * ((SL_SASL_FIELD_MAX + 2) / 3))

void sl_sasl_creds_clear(struct sl_sasl_creds *c)
{
	OPENSSL_cleanse(c, sizeof(*c));
}

/* Copy one decoded field: at most 255 octets, no NUL. */
static int sl_field(char *dst, const unsigned char *src, size_t n)
{
	if (n > SL_SASL_FIELD_MAX)
		return -SL_SASL_E_TOO_LONG;
	if (memchr(src, '\0', n))
		return -SL_SASL_E_CREDS;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

int sl_sasl_plain_decode(const char *b64, size_t len, struct sl_sasl_creds *ret)
{
	unsigned char buf[SL_PLAIN_B64_MAX / 4 * 3 + 3];
	const unsigned char *z1, *z2, *end;
	int n, r;

	sl_sasl_creds_clear(ret);
	if (len > SL_PLAIN_B64_MAX)
		return -SL_SASL_E_TOO_LONG;
	if (len == 1 && b64[0] == '=')
		return -SL_SASL_E_CREDS;
	n = sl_sasl_b64_decode(b64, len, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOSPC ? -SL_SASL_E_TOO_LONG : n;
	end = buf + n;
	z1 = memchr(buf, '\0', (size_t)n);
	z2 = z1 ? memchr(z1 + 1, '\0', (size_t)(end - z1 - 1)) : NULL;
	r = -SL_SASL_E_CREDS;
	if (!z1 || !z2 || z2 == z1 + 1 || z2 + 1 == end)	/* empty user or password */
		goto out;
	r = sl_field(ret->authzid, buf, (size_t)(z1 - buf));
	if (r == 0)
		r = sl_field(ret->username, z1 + 1, (size_t)(z2 - z1 - 1));
	if (r == 0)
		r = sl_field(ret->password, z2 + 1, (size_t)(end - z2 - 1));	/* no 3rd NUL */
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	if (r < 0)
		sl_sasl_creds_clear(ret);
	return r;
}

/* One LOGIN field: base64 of 1..255 octets. */
static int sl_login_field(const char *b64, size_t len, char *dst)
{
	unsigned char buf[SL_FIELD_B64_MAX / 4 * 3 + 3];
	int n, r;

	if (len > SL_FIELD_B64_MAX)
		return -SL_SASL_E_TOO_LONG;
	if (len == 0 || (len == 1 && b64[0] == '='))
		return -SL_SASL_E_CREDS;
	n = sl_sasl_b64_decode(b64, len, buf, sizeof(buf));
	if (n < 0)
		return n == -ENOSPC ? -SL_SASL_E_TOO_LONG : n;
	r = n == 0 ? -SL_SASL_E_CREDS : sl_field(dst, buf, (size_t)n);
	OPENSSL_cleanse(buf, sizeof(buf));
	return r;
}

void sl_sasl_server_init(struct sl_sasl_server *s)
{
	memset(s, 0, sizeof(*s));
}

void sl_sasl_server_done(struct sl_sasl_server *s)
{
	OPENSSL_cleanse(s, sizeof(*s));
}

static int sl_challenge_line(char *out, size_t outlen, const char *b64)
{
	size_t n = strlen(b64);

	if (outlen < n + 7)
		return -ENOSPC;
	memcpy(out, "334 ", 4);
	memcpy(out + 4, b64, n);
	memcpy(out + 4 + n, "\r\n", 3);
	return (int)n + 6;
}

static int sl_server_start(struct sl_sasl_server *s, const struct sl_smtp_cmd *cmd,
			   char *out, size_t outlen)
{
	int r;

	if (cmd->verb != SL_SMTP_AUTH)
		return -EINVAL;
	s->mech = cmd->mech;
	switch (cmd->mech) {
	case SL_SASL_PLAIN:
		if (cmd->initial)
			return sl_sasl_plain_decode(cmd->initial, cmd->initial_len, &s->creds);
		s->state = SL_SS_WAIT_PLAIN;
		return sl_challenge_line(out, outlen, "");
	case SL_SASL_LOGIN:
		if (cmd->initial) {
			r = sl_login_field(cmd->initial, cmd->initial_len, s->creds.username);
			if (r < 0)
				return r;
			s->state = SL_SS_WAIT_PASS;
			return sl_challenge_line(out, outlen, "UGFzc3dvcmQ6");	/* Password: */
		}
		s->state = SL_SS_WAIT_USER;
		return sl_challenge_line(out, outlen, "VXNlcm5hbWU6");		/* Username: */
	default:
		return -SL_SASL_E_MECH;
	}
}

int sl_sasl_server_start(struct sl_sasl_server *s, const struct sl_smtp_cmd *cmd,
			 char *out, size_t outlen)
{
	int r;

	if (s->state != SL_SS_NEW)
		return -EINVAL;
	r = sl_server_start(s, cmd, out, outlen);
	if (r <= 0)
		s->state = SL_SS_OVER;
	if (r < 0)
		sl_sasl_creds_clear(&s->creds);
	return r;
}

static int sl_server_step(struct sl_sasl_server *s, const char *line, size_t len,
			  char *out, size_t outlen)
{
	int r;

	if (len == 1 && line[0] == '*')
		return -SL_SASL_E_CANCELLED;
	switch (s->state) {
	case SL_SS_WAIT_PLAIN:
		return sl_sasl_plain_decode(line, len, &s->creds);
	case SL_SS_WAIT_USER:
		r = sl_login_field(line, len, s->creds.username);
		if (r < 0)
			return r;
		s->state = SL_SS_WAIT_PASS;
		return sl_challenge_line(out, outlen, "UGFzc3dvcmQ6");
	case SL_SS_WAIT_PASS:
		return sl_login_field(line, len, s->creds.password);
	default:
		return -EINVAL;
	}
}

int sl_sasl_server_step(struct sl_sasl_server *s, const char *line, size_t len,
			char *out, size_t outlen)
{
	int r;

	if (s->state == SL_SS_NEW || s->state == SL_SS_OVER)
		return -EINVAL;
	r = sl_server_step(s, line, len, out, outlen);
	if (r <= 0)
		s->state = SL_SS_OVER;
	if (r < 0)
		sl_sasl_creds_clear(&s->creds);
	return r;
}

/* ---------------------------------------------------------------------- */
/* crypt(3)                                                                */

/*
 * A yescrypt hash of a random phrase, at the default cost, for accounts
 * that do not exist: checking against it takes as long as a real check.
 */
static const char sl_dummy_hash[] =
	"$y$j9T$oQ6FPE8qvu7ABDOmi01/n.$oO.kWytl6CJfCfeQweg3bqHECCWTy2lenSHRTqSrbJ0";

int sl_sasl_verify_crypt(const char *password, const char *hash)
{
	const char *setting = hash ? hash : sl_dummy_hash;
	struct crypt_data *cd;
	const char *out;
	size_t n;
	int r;

	if (!password)
		return -EINVAL;
	/* struct crypt_data is ~32 KiB: per call on the heap, so worker
	 * threads share nothing and their stacks stay small. */
	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return -ENOMEM;
	out = crypt_rn(password, setting, cd, (int)sizeof(*cd));
	if (!out || out[0] == '*') {
		r = -EINVAL;
	} else {
		n = strlen(setting);
		r = strlen(out) == n && CRYPTO_memcmp(out, setting, n) == 0 ? 0 : -EACCES;
	}
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return hash ? r : -EACCES;
}

int sl_sasl_hash_password(const char *password, const char *prefix, unsigned long count,
			  char *out, size_t outlen)
{
	char setting[CRYPT_GENSALT_OUTPUT_SIZE];
	struct crypt_data *cd;
	const char *h;
	int r = 0;

	if (!password || !prefix)
		return -EINVAL;
	if (!crypt_gensalt_rn(prefix, count, NULL, 0, setting, sizeof(setting)))
		return -EINVAL;
	cd = calloc(1, sizeof(*cd));
	if (!cd)
		return -ENOMEM;
	h = crypt_rn(password, setting, cd, (int)sizeof(*cd));
	if (!h || h[0] == '*')
		r = -EINVAL;
	else if (strlen(h) >= outlen)
		r = -ENOSPC;
	else
		memcpy(out, h, strlen(h) + 1);
	OPENSSL_cleanse(cd, sizeof(*cd));
	free(cd);
	return r;
}

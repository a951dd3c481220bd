/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * policy_value.c — the value checks of the policy that stand on their own:
 * DNS names, certificate pins, crypt(3) hashes, secrets, and the name
 * tables used in logs and dumps.  Each check is also what the CLI uses
 * for its own arguments, so a value is judged the same way everywhere.
 */
#include <crypt.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy.h"

/* ---- DNS names -------------------------------------------------------- */

int sl_domain_normalize(const char *in, char *out, size_t len)
{
	size_t n, label = 0, i;
	bool tld_digits = true;

	if (!in || !out || len < SL_DOMAIN_MAX)
		return -EINVAL;
	n = strlen(in);
	if (n && in[n - 1] == '.')
		n--;			/* the root label is implied */
	if (n == 0)
		return -EINVAL;
	if (n > 253)
		return -ENAMETOOLONG;
	for (i = 0; i < n; i++)
		if ((unsigned char)in[i] >= 0x80)
			return -EILSEQ;
	for (i = 0; i <= n; i++) {
		char c = i < n ? in[i] : '.';

		if (c == '.') {
			/* A label: 1-63 octets, no hyphen at either end. */
			if (label == 0 || label > 63)
				return label > 63 ? -ENAMETOOLONG : -EINVAL;
			if (out[i - 1] == '-' || out[i - label] == '-')
				return -EINVAL;
			label = 0;
			if (i < n)
				tld_digits = true;
			out[i] = '.';
			continue;
		}
		if (!isalnum((unsigned char)c) && c != '-')
			return -EINVAL;
		if (!isdigit((unsigned char)c))
			tld_digits = false;
		out[i] = (char)tolower((unsigned char)c);
		label++;
	}
	/* An all-numeric top label is an address, not a name. */
	if (tld_digits)
		return -EINVAL;
	out[n] = '\0';
	return 0;
}

/* ---- certificate pins ------------------------------------------------- */

static int sl_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int sl_pin_parse(const char *s, struct sl_pin *ret)
{
	struct sl_pin pin;
	bool colons;

	if (!s || strncasecmp(s, "sha256:", 7) != 0)
		return -EINVAL;
	s += 7;
	colons = strlen(s) == 3 * SL_PIN_LEN - 1;
	for (size_t i = 0; i < SL_PIN_LEN; i++) {
		int hi = sl_hexval(s[0]), lo = hi < 0 ? -1 : sl_hexval(s[1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		pin.sha256[i] = (uint8_t)(hi << 4 | lo);
		s += 2;
		if (colons && i + 1 < SL_PIN_LEN) {
			if (*s != ':')
				return -EINVAL;
			s++;
		}
	}
	if (*s)
		return -EINVAL;
	*ret = pin;
	return 0;
}

void sl_pin_format(const struct sl_pin *pin, char *buf, size_t len)
{
	char hex[2 * SL_PIN_LEN + 1];

	for (size_t i = 0; i < SL_PIN_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", pin->sha256[i]);
	snprintf(buf, len, "sha256:%s", hex);
}

/* ---- crypt(3) hashes -------------------------------------------------- */

/* The crypt(3) base-64 alphabet ("./0-9A-Za-z"), used by every method here. */
static bool sl_is_b64(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '.' || s[i] == '/'))
			return false;
	return true;
}

/* "SALT$HASH" with a salt of 1..max_salt b64 octets and a hash of hash_len. */
static bool sl_salt_hash(const char *s, size_t max_salt, size_t hash_len)
{
	const char *d = strchr(s, '$');
	size_t salt = d ? (size_t)(d - s) : 0;

	return d && salt >= 1 && salt <= max_salt && sl_is_b64(s, salt) &&
	       strlen(d + 1) == hash_len && sl_is_b64(d + 1, hash_len);
}

int sl_crypt_hash_check(const char *h)
{
	int cs;
	bool ok;

	if (!h || h[0] != '$')
		return -EPROTONOSUPPORT;	/* DES or not a hash at all */
	cs = crypt_checksalt(h);
	if (!strncmp(h, "$y$", 3)) {
		/* $y$PARAMS$SALT$HASH: yescrypt, 43-octet hash. */
		const char *p = h + 3, *d = strchr(p, '$');

		ok = d && d > p && sl_is_b64(p, (size_t)(d - p)) &&
		     sl_salt_hash(d + 1, 64, 43);
	} else if (!strncmp(h, "$6$", 3) || !strncmp(h, "$5$", 3)) {
		/* $6$[rounds=N$]SALT$HASH: SHA-crypt, salt <= 16. */
		const char *p = h + 3;

		if (!strncmp(p, "rounds=", 7)) {
			p += 7;
			if (!isdigit((unsigned char)*p))
				return -EINVAL;
			while (isdigit((unsigned char)*p))
				p++;
			if (*p++ != '$')
				return -EINVAL;
		}
		ok = sl_salt_hash(p, 16, h[1] == '6' ? 86 : 43);
		/* libxcrypt calls SHA-256-crypt "legacy"; it is still sound. */
		if (h[1] == '5' && cs == CRYPT_SALT_METHOD_LEGACY)
			cs = CRYPT_SALT_OK;
	} else if (!strncmp(h, "$2b$", 4) || !strncmp(h, "$2y$", 4)) {
		/* $2b$NN$ + 22 salt + 31 hash octets: bcrypt, cost 04-31. */
		const char *p = h + 4;

		ok = isdigit((unsigned char)p[0]) && isdigit((unsigned char)p[1]) &&
		     p[2] == '$' && (p[0] - '0') * 10 + (p[1] - '0') >= 4 &&
		     (p[0] - '0') * 10 + (p[1] - '0') <= 31 &&
		     strlen(p + 3) == 53 && sl_is_b64(p + 3, 53);
	} else {
		return -EPROTONOSUPPORT;
	}
	if (cs == CRYPT_SALT_METHOD_LEGACY || cs == CRYPT_SALT_METHOD_DISABLED)
		return -EPROTONOSUPPORT;
	if (cs != CRYPT_SALT_OK || !ok)
		return -EINVAL;
	return 0;
}

/* ---- secrets ---------------------------------------------------------- */

#define SL_SECRET_MAX 1024

int sl_policy_read_secret(const char *path, char **ret)
{
	char buf[SL_SECRET_MAX + 3];
	size_t n = 0;
	struct stat st;
	char *s;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		goto out;
	}
	if (st.st_mode & 077) {
		err = -EPERM;
		goto out;
	}
	while (n < sizeof(buf)) {
		ssize_t r = read(fd, buf + n, sizeof(buf) - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			goto out;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n && buf[n - 1] == '\n')
		n--;
	if (n && buf[n - 1] == '\r')
		n--;
	if (n == 0 || n > SL_SECRET_MAX || memchr(buf, '\0', n)) {
		err = -EINVAL;
		goto out;
	}
	s = strndup(buf, n);
	if (!s) {
		err = -ENOMEM;
		goto out;
	}
	*ret = s;
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return err;
}

/* ---- names ------------------------------------------------------------ */

const char *sl_verify_name(enum sl_verify_mode v)
{
	switch (v) {
	case SL_VERIFY_NONE:		return "none";
	case SL_VERIFY_CA:		return "ca";
	case SL_VERIFY_FINGERPRINT:	return "fingerprint";
	case SL_VERIFY_DANE:		return "dane";
	}
	return "?";
}

const char *sl_tls_version_name(uint16_t v)
{
	switch (v) {
	case 0x0300:		return "SSLv3";	/* named in failure reasons only */
	case 0x0301:		return "TLSv1";
	case 0x0302:		return "TLSv1.1";
	case SL_TLS_1_2:	return "TLSv1.2";
	case SL_TLS_1_3:	return "TLSv1.3";
	}
	return "?";
}

const char *sl_direction_name(enum sl_direction d)
{
	switch (d) {
	case SL_DIR_OUTBOUND:	return "outbound";
	case SL_DIR_INBOUND:	return "inbound";
	case SL_DIR_BOTH:	return "both";
	}
	return "?";
}

const char *sl_mode_name(enum sl_mode m)
{
	switch (m) {
	case SL_MODE_ENFORCE:	return "enforce";
	case SL_MODE_TESTING:	return "testing";
	}
	return "?";
}

const char *sl_on_failure_name(enum sl_on_failure f)
{
	switch (f) {
	case SL_FAIL_DEFER:	return "defer";
	case SL_FAIL_REJECT:	return "reject";
	}
	return "?";
}

const char *sl_ktls_name(enum sl_ktls_mode k)
{
	switch (k) {
	case SL_KTLS_PREFERRED:	return "preferred";
	case SL_KTLS_REQUIRED:	return "required";
	case SL_KTLS_OFF:	return "off";
	}
	return "?";
}

const char *sl_announce_name(enum sl_announce a)
{
	switch (a) {
	case SL_ANNOUNCE_NONE:		return "none";
	case SL_ANNOUNCE_PROXY_V1:	return "proxy-v1";
	case SL_ANNOUNCE_PROXY_V2:	return "proxy-v2";
	case SL_ANNOUNCE_XCLIENT:	return "xclient";
	}
	return "?";
}

const char *sl_diag_class_name(enum sl_diag_class c)
{
	switch (c) {
	case SL_DIAG_SYNTAX:		return "syntax";
	case SL_DIAG_UNKNOWN_KEY:	return "unknown-key";
	case SL_DIAG_TYPE:		return "type";
	case SL_DIAG_MISSING:		return "missing";
	case SL_DIAG_VALUE:		return "value";
	case SL_DIAG_DUPLICATE:		return "duplicate";
	case SL_DIAG_FILE:		return "file";
	}
	return "?";
}

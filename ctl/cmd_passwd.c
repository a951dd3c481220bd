/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * cmd_passwd.c — `smtplock passwd [--sha512]`: read a password without
 * echo (twice on a terminal), print its crypt(3) hash for a partner's
 * inbound account (`accounts: [{ username: …, password_hash: … }]`).
 * yescrypt by default; --sha512 for hosts that check many logins a second
 * (yescrypt costs ~160 ms per check by design).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "ctl.h"
#include "sasl.h"

/* One line from fd 0, echo off when it is a terminal.  Returns length. */
static int sl_read_secret(const char *prompt, char *buf, size_t len)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO);
	size_t n = 0;
	char c;

	if (tty) {
		fprintf(stderr, "%s", prompt);
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)ECHO;
			tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
		} else {
			tty = false;
		}
	}
	while (read(STDIN_FILENO, &c, 1) == 1 && c != '\n') {
		if (n + 1 >= len) {
			n = len;	/* too long: reported below */
			break;
		}
		buf[n++] = c;
	}
	if (tty) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fputc('\n', stderr);
	}
	if (n >= len)
		return -E2BIG;
	buf[n] = 0;
	return (int)n;
}

int cmd_passwd(int argc, char **argv)
{
	char pw[SL_SASL_FIELD_MAX + 2], again[SL_SASL_FIELD_MAX + 2], hash[256];
	const char *prefix = "$y$";
	int n, r, rc = SL_EXIT_FAIL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--sha512"))
			prefix = "$6$";
		else
			return sl_usage_error("passwd", "unknown argument '%s'", argv[i]);
	}
	n = sl_read_secret("Password: ", pw, sizeof(pw));
	if (n < 0 || n > SL_SASL_FIELD_MAX) {
		fprintf(stderr, "%s: passwd: password longer than %d bytes\n", sl_progname,
			SL_SASL_FIELD_MAX);
		goto out;
	}
	if (n == 0) {
		fprintf(stderr, "%s: passwd: empty password refused\n", sl_progname);
		goto out;
	}
	if (isatty(STDIN_FILENO)) {
		if (sl_read_secret("Again: ", again, sizeof(again)) < 0 || strcmp(pw, again) != 0) {
			fprintf(stderr, "%s: passwd: the passwords differ\n", sl_progname);
			goto out;
		}
	}
	r = sl_sasl_hash_password(pw, prefix, 0, hash, sizeof(hash));
	if (r < 0) {
		fprintf(stderr, "%s: passwd: cannot hash: %s\n", sl_progname, sl_sasl_strerror(r));
		goto out;
	}
	printf("%s\n", hash);
	rc = SL_EXIT_OK;
out:
	OPENSSL_cleanse(pw, sizeof(pw));
	OPENSSL_cleanse(again, sizeof(again));
	return rc;
}

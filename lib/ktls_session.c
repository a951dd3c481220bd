// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ktls_session.c — the policy's word on one session: tls.ktls (off,
 * preferred, required) against what the kernel, the negotiated version
 * and cipher and the tracker allow, with the reason in words.  The
 * mechanics are in ktls.c; see ktls.h for the contract.
 *
 * Fail closed: under `required` every outcome but a completed handoff is
 * an error the caller turns into a refusal; only `preferred` and `off`
 * ever answer "userspace".
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ktls.h"
#include "ktls_int.h"

static void sl_ktls_why(char *why, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void sl_ktls_why(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

int sl_ktls_session_check(SSL *ssl, const struct sl_ktls_track *t,
			  const struct sl_ktls_caps *caps, enum sl_ktls_mode mode,
			  struct sl_ktls_info *info, char *why, size_t len)
{
	int r;

	if (mode == SL_KTLS_OFF) {
		sl_ktls_why(why, len, "off by policy");
		return 1;
	}
	if (!caps) {
		sl_ktls_why(why, len, "kernel has no TLS (not probed)");
		return -EOPNOTSUPP;
	}
	r = sl_ktls_offloadable(ssl, caps, info, why, len);
	if (r < 0)
		return r;
	if (!sl_ktls_track_bound(t)) {
		/* The context was built without SL_TLS_F_KTLS: no keylog, no
		 * record counts, nothing to install the keys from. */
		sl_ktls_why(why, len, "TLS context not prepared for kernel TLS");
		return -EKEYREJECTED;
	}
	return 0;
}

/* The handoff's refusals, in words. */
static void sl_ktls_handoff_why(int r, char *why, size_t len)
{
	switch (r) {
	case -EBUSY:
		sl_ktls_why(why, len, "TLS data still unread at the switch");
		break;
	case -EKEYREJECTED:
		sl_ktls_why(why, len, "TLS keys changed before the switch (KeyUpdate or "
			    "renegotiation) or were not captured");
		break;
	case -ENOTRECOVERABLE:
		sl_ktls_why(why, len, "kernel took the receive keys but refused the send keys");
		break;
	default:
		sl_ktls_why(why, len, "kernel refused the keys: %s", strerror(-r));
		break;
	}
}

int sl_ktls_session_switch(SSL *ssl, struct sl_ktls_track *t,
			   const struct sl_ktls_caps *caps, enum sl_ktls_mode mode,
			   size_t app_buffered, struct sl_ktls_info *info, char *why, size_t len)
{
	int r = sl_ktls_session_check(ssl, t, caps, mode, info, why, len);

	if (r == 0) {
		r = sl_ktls_handoff(ssl, t, caps, app_buffered, info);
		if (r == 0)
			return 0;	/* the tracker is wiped by the handoff */
		sl_ktls_handoff_why(r, why, len);
	}
	/* The session stays with OpenSSL (or ends): the secrets go now. */
	sl_ktls_track_done(t);
	if (r == 1 || r == -ENOTRECOVERABLE)
		return r;
	return mode == SL_KTLS_REQUIRED ? r : 1;
}

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * log.h — the controller's log: one key=value line per event on stderr.
 *
 *	ts=2025-01-31T12:00:00.123Z level=info event=start policy=/etc/...
 *
 * ctl/ decides what to log and logs it once; lib/ only returns -errno.
 * Values that may hold spaces or peer text go through sl_logq(), which
 * quotes them and makes them printable.
 */
#ifndef SL_CTL_LOG_H
#define SL_CTL_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum sl_log_level {
	SL_LOG_DEBUG = 0,	/* only with -v */
	SL_LOG_INFO = 1,
	SL_LOG_WARN = 2,
	SL_LOG_ERR = 3,
};

void sl_log_set_verbose(bool verbose);
bool sl_log_verbose(void);

void sl_log(enum sl_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* "value" with \" \\ and non-printable bytes escaped (\xNN); returns buf. */
const char *sl_logq(char *buf, size_t len, const char *s);

/* Route libbpf's messages through sl_log (warnings always, debug with -v). */
void sl_log_libbpf(void);

#endif

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* log.c — key=value lines on stderr; see log.h. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <bpf/libbpf.h>

#include "log.h"

static bool sl_verbose;

void sl_log_set_verbose(bool verbose)
{
	sl_verbose = verbose;
}

bool sl_log_verbose(void)
{
	return sl_verbose;
}

static const char *sl_level_name(enum sl_log_level l)
{
	switch (l) {
	case SL_LOG_DEBUG: return "debug";
	case SL_LOG_INFO: return "info";
	case SL_LOG_WARN: return "warn";
	default: return "error";
	}
}

static void sl_vlog(enum sl_log_level level, const char *fmt, va_list ap)
{
	char line[4096], ts[32];
	struct timeval tv;
	struct tm tm;
	int n;

	if (level == SL_LOG_DEBUG && !sl_verbose)
		return;
	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	n = snprintf(line, sizeof(line), "ts=%s.%03ldZ level=%s ", ts, (long)tv.tv_usec / 1000,
		     sl_level_name(level));
	if (n > 0 && (size_t)n < sizeof(line))
		vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	/* One write per line so concurrent writers do not interleave. */
	fprintf(stderr, "%s\n", line);
	fflush(stderr);
}

void sl_log(enum sl_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sl_vlog(level, fmt, ap);
	va_end(ap);
}

const char *sl_logq(char *buf, size_t len, const char *s)
{
	size_t o = 0;

	if (len < 3) {
		if (len)
			buf[0] = '\0';
		return buf;
	}
	buf[o++] = '"';
	for (; s && *s && o + 5 < len; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c > 0x7e) {
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

static int sl_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char msg[1024], q[1100];
	size_t n;

	if (level == LIBBPF_DEBUG && !sl_verbose)
		return 0;
	if (level == LIBBPF_INFO && !sl_verbose)
		return 0;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n > 0 && msg[n - 1] == '\n')
		msg[--n] = '\0';
	sl_log(level == LIBBPF_WARN ? SL_LOG_WARN : SL_LOG_DEBUG, "component=libbpf msg=%s",
	       sl_logq(q, sizeof(q), msg));
	return 0;
}

void sl_log_libbpf(void)
{
	libbpf_set_print(sl_libbpf_print);
}

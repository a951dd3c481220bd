/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * tap.h — the unit tests' only framework: Test Anything Protocol output.
 *
 * A unit test is a table of named cases and a main() that walks it,
 * calling tap_ok() once per assertion.  tests/run.sh counts the "ok" and
 * "not ok" lines; a binary that crashes or exits non-zero without a
 * "not ok" line is counted as one failure.
 */
#ifndef SL_TAP_H
#define SL_TAP_H

#include <stdbool.h>

/* Report one assertion; returns cond so callers can stop early. */
bool tap_ok(bool cond, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A diagnostic line ("# ...") explaining the failure just reported. */
void tap_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Print the plan and return the process exit status (0 = all passed). */
int tap_done(void);

/* Convenience: compare strings and integers, printing both on mismatch. */
bool tap_str(const char *got, const char *want, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
bool tap_int(long long got, long long want, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define TAP_NELEM(a) (sizeof(a) / sizeof((a)[0]))

#endif

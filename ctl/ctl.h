/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * ctl.h — the smtplock binary's subcommands.
 *
 * Dispatch is table-driven (ctl/main.c, bpftool style): OBJECT [VERB] with
 * one handler per command.  Handlers return the process exit status:
 * 0 success, 1 a negative answer (invalid policy, failed probe, degraded
 * status), 2 bad usage or a not-enforcing state.
 */
#ifndef SL_CTL_H
#define SL_CTL_H

#include <stdbool.h>
#include <stdio.h>

#define SL_EXIT_OK	0
#define SL_EXIT_FAIL	1
#define SL_EXIT_USAGE	2

#define SL_DEFAULT_POLICY "/etc/smtplock/policy.yaml"

struct sl_cmd {
	const char *name;
	int (*fn)(int argc, char **argv);	/* argv[0] = the command name */
	const char *synopsis;			/* arguments, for usage lines */
	const char *summary;			/* one line */
	const char *help;			/* full text for `smtplock help CMD` */
};

extern const char *sl_progname;

/* Print "smtplock: <cmd>: <msg>" to stderr and return SL_EXIT_USAGE. */
int sl_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print the usage of one command (from the table). */
void sl_cmd_usage(const char *name, FILE *f);

int cmd_run(int argc, char **argv);
int cmd_policy(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_domain(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_reload(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_passwd(int argc, char **argv);
int cmd_unload(int argc, char **argv);

#endif

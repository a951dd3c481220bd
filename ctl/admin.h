/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * admin.h — what the administrator's commands (status, domain, reload,
 * stats, unload) share: where the policy, the control socket and the pins
 * are, talking to the controller, reading the pins when it is down.
 */
#ifndef SL_CTL_ADMIN_H
#define SL_CTL_ADMIN_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "policy.h"
#include "status.h"

/* Options every admin command takes: -c FILE, --socket PATH. */
struct sl_admin {
	const char *cmd;		/* for messages: "status" */
	const char *policy_path;	/* -c; default SL_DEFAULT_POLICY */
	const char *socket;		/* --socket, else the policy's, else default */
	struct sl_policy *policy;	/* the policy on disk, NULL if it did not load */
	struct sl_diags diags;		/* why it did not */
	int policy_err;
	char *salvaged_socket;		/* read from a policy that did not load */
	char *salvaged_pin_path;
};

/* A flag of one admin command besides -c and --socket: --name or -c
 * sets *set. */
struct sl_admin_flag {
	const char *name;
	char c;
	bool *set;
};

/*
 * The command line of status, stats, reload, unload: -c FILE, --socket
 * PATH and the command's flags (a list ended by a NULL name), no
 * positional argument.  SL_EXIT_OK or the usage error's exit code.
 */
int sl_admin_getopt(const char *cmd, int argc, char **argv, const struct sl_admin_flag *flags,
		    const char **policy_path, const char **socket);

/* Load the policy quietly (its errors stay in a->diags). */
void sl_admin_init(struct sl_admin *a, const char *cmd, const char *policy_path,
		   const char *socket);
void sl_admin_done(struct sl_admin *a);

const char *sl_admin_socket(const struct sl_admin *a);
const char *sl_admin_pin_path(const struct sl_admin *a);
const char *sl_admin_cgroup(const struct sl_admin *a);	/* "auto" or a dir */

/*
 * Ask the controller.  Returns 0 and the reply (which may be an error
 * reply: check sl_control_reply_ok) or -errno; -ENOENT and -ECONNREFUSED
 * mean "not running" (sl_admin_down()).
 */
int sl_admin_call(const struct sl_admin *a, const char *cmd, json_t *args, json_t **ret);
bool sl_admin_down(int err);

/* "smtplock: CMD: cannot reach the controller at PATH: ..." */
void sl_admin_call_error(const struct sl_admin *a, int err);

/* Print an error reply: message, and its diags as FILE:LINE:COL: error: msg. */
void sl_admin_reply_error(const struct sl_admin *a, const json_t *reply);

/* The status document without the controller: pins + policy on disk. */
json_t *sl_admin_status_offline(const struct sl_admin *a, bool quiet);

/* The status document, from the controller if it runs, else offline;
 * with health judged.  *exit_code = health exit.  NULL on failure (printed). */
json_t *sl_admin_status(const struct sl_admin *a, int *exit_code);

/* Ask the controller to reload (prints the outcome).  0 done, 1 not
 * running and quiet_if_down, -1 failed (printed). */
int sl_admin_reload(const struct sl_admin *a, bool quiet_if_down);

/* The kernel's TLS offer as text (for status). */
void sl_admin_ktls(char *buf, size_t len);

/* Print JSON (pretty, one document) to stdout. */
void sl_admin_print_json(const json_t *doc);

/* ---- the BPF side (ctl/admin_bpf.c) -------------------------------------- */

/* Pinned maps opened read-only, as status.h map access.  -ENOENT nothing
 * pinned, -EACCES not root, -ENOSYS built without the BPF loader. */
struct sl_admin_pins;
int sl_admin_pins_open(const char *pin_path, struct sl_admin_pins **ret,
		       const struct sl_status_maps **maps);
void sl_admin_pins_close(struct sl_admin_pins *p);

/* Every program's link state (out has room for SL_CTLSRV_MAX_PROGS). */
int sl_admin_programs(const char *pin_path, const char *cgroup_dir, struct sl_status_prog *out,
		      size_t *n);

/* Remove links and pins (the controller must be stopped first). */
int sl_admin_unload_pins(const char *pin_path, unsigned *removed);

#endif /* SL_CTL_ADMIN_H */

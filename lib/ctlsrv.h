/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * ctlsrv.h — the controller's side of the control socket: the commands it
 * answers (control.h has the protocol) and what it needs from the daemon.
 *
 *   command   access     args              data
 *   ping      read       -                 {pid, version}
 *   status    read       -                 the status document (status.h)
 *   domain    read       {domain}          {policy: settings, status: entry}
 *   reload    change     -                 {partners, sha256}; a bad policy:
 *                                          error invalid_policy + diags
 *   unload    change     -                 {stopping: true}, then ops.stop()
 *
 * The daemon creates it once set up (before dropping privileges: the
 * socket lives in a root-owned directory) with sl_ctlsrv_new(), and frees
 * it when it stops.  Everything runs on the loop thread.
 */
#ifndef SL_CTLSRV_H
#define SL_CTLSRV_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "control.h"
#include "loop.h"
#include "policy.h"
#include "pstats.h"
#include "status.h"

#define SL_CTLSRV_MAX_PROGS	16

struct sl_ctlsrv_ops {
	void *arg;
	/* The policy in force (never NULL while the daemon runs). */
	const struct sl_policy *(*policy)(void *arg);
	/* The reload SIGHUP also runs: validate the whole policy, then swap.
	 * 0; -EINVAL with the errors in dg (nothing changed); -errno. */
	int (*reload)(void *arg, struct sl_diags *dg);
	/* Stop the daemon (after `unload` was acknowledged; the CLI then
	 * removes the pins).  Optional: without it unload is refused. */
	void (*stop)(void *arg);
	/* The programs and their links now; *n in: room, out: used.
	 * Optional. */
	int (*programs)(void *arg, struct sl_status_prog *out, size_t *n);
	/* Each answered request, for the log (code NULL = ok).  Optional. */
	void (*audit)(void *arg, const struct sl_control_peer *peer, const char *cmd,
		      const char *code);
};

struct sl_ctlsrv_opts {
	const char *path;		/* controller.control_socket; NULL = default */
	bool have_group;		/* controller.group resolved */
	gid_t group;
	/* Borrowed; must outlive the server. */
	const char *policy_path;
	const char *pin_path;
	const char *cgroup;
	const char *user;		/* who the daemon runs as after set-up */
	const char *ktls;		/* the kernel's TLS offer, text */
	time_t started;
	const struct sl_status_maps *maps;
	struct sl_pstats *pstats;
	struct sl_ctlsrv_ops ops;
};

struct sl_ctlsrv;

int sl_ctlsrv_new(struct sl_loop *loop, const struct sl_ctlsrv_opts *o, struct sl_ctlsrv **ret);
struct sl_ctlsrv *sl_ctlsrv_free(struct sl_ctlsrv *s);

/* The status document as the running controller sees it (also for
 * --metrics-listen). A new reference or NULL. */
json_t *sl_ctlsrv_status(struct sl_ctlsrv *s);

/* diags as the JSON array of the invalid_policy error. */
json_t *sl_ctlsrv_diags_json(const struct sl_diags *dg);

#endif /* SL_CTLSRV_H */

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * daemon_admin.h — what `smtplock run` does for the administrator: the
 * control socket (lib/ctlsrv.h), per-partner run-time stats for status
 * (lib/pstats.h), and the privilege drop (lib/privdrop.h).
 *
 * The daemon's calls (loop thread only):
 *
 *   sl_daemon_admin_start(d, reload)   once set up (links attached, maps
 *                                      seeded, listeners open), before
 *                                      sl_loop_run(): reads the program
 *                                      links, opens the control socket,
 *                                      then drops to controller.user.
 *                                      reload is the function SIGHUP runs.
 *                                      Non-zero: exit (logged).
 *   sl_daemon_admin_stop(d)            at stop, before the loop is freed
 *   sl_daemon_pstats(d)                for the session done callbacks:
 *                                      sl_pstats_outbound_done() /
 *                                      sl_pstats_inbound_done()
 *   sl_daemon_admin_dns(d, ps, ttl)    a partner's DNS answer was applied
 *   sl_daemon_admin_dns_failed(d, ps, err)
 *   sl_daemon_admin_reloaded(d)        after a reload swapped the policy
 */
#ifndef SL_CTL_DAEMON_ADMIN_H
#define SL_CTL_DAEMON_ADMIN_H

#include <stdint.h>

#include "policy.h"
#include "pstats.h"

struct sl_daemon;
struct sl_pstate;

/* The daemon's reload: 0, or -EINVAL with the errors in dg (nothing
 * changed), or -errno.  The same function serves SIGHUP and `reload`. */
typedef int (*sl_daemon_reload_fn)(struct sl_daemon *d, struct sl_diags *dg);

int sl_daemon_admin_start(struct sl_daemon *d, sl_daemon_reload_fn reload);
void sl_daemon_admin_stop(struct sl_daemon *d);

struct sl_pstats *sl_daemon_pstats(struct sl_daemon *d);
void sl_daemon_admin_dns(struct sl_daemon *d, const struct sl_pstate *ps, uint32_t ttl);
void sl_daemon_admin_dns_failed(struct sl_daemon *d, const struct sl_pstate *ps, int err);
void sl_daemon_admin_reloaded(struct sl_daemon *d);

#endif /* SL_CTL_DAEMON_ADMIN_H */

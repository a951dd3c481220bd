/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* sessions.h — the daemon's side of the sessions (ctl/sessions.c). */
#ifndef SL_CTL_SESSIONS_H
#define SL_CTL_SESSIONS_H

#include <stddef.h>

#include "policy.h"

/* What sessions need from one loaded policy: TLS contexts, secrets.
 * Built before a policy is swapped in; failure = the policy is unusable
 * (err says why, e.g. an unreadable key or password file). */
struct sl_session_rt;

int sl_session_rt_new(const struct sl_policy *p, struct sl_session_rt **ret,
		      char *err, size_t errlen);
void sl_session_rt_free(struct sl_session_rt *rt);

/* Probe the kernel's TLS offload once, and log it (daemon start). */
void sl_sessions_init(void);

/* Live sessions, and ending them all (daemon stop). */
size_t sl_sessions_active(void);
void sl_sessions_shutdown(void);

#endif

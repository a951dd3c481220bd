/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* daemon_int.h — the daemon's private state, shared by ctl/daemon*.c. */
#ifndef SL_CTL_DAEMON_INT_H
#define SL_CTL_DAEMON_INT_H

#include <limits.h>
#include <sys/socket.h>

#include "daemon.h"
#include "resolve.h"
#include "sockdiag.h"

/* Refresh bounds: re-resolve at 90% of the TTL, within these. */
#define SL_DNS_FLOOR_MS		5000u
#define SL_DNS_CEILING_MS	3600000u
#define SL_DNS_RETRY_MAX_MS	300000u		/* backoff cap after failures */
#define SL_DNS_WORKERS		4

#define SL_MAX_LISTENERS	6
#define SL_DESTROYED_RING	64

/* One resolved host name and its addresses (last good). */
struct sl_rhost {
	char *name;			/* NULL: seeded from the pinned maps */
	struct sl_addr *addrs;
	size_t n;
};

struct sl_rjob;

/* Per-partner state; survives reloads (matched by domain). */
struct sl_pstate {
	struct sl_daemon *d;
	char *domain;			/* owned copy */
	const struct sl_partner *p;	/* in the current policy */
	size_t idx;			/* its position there */
	uint32_t id;			/* stable policy id */
	char *sig;			/* resolution inputs, to notice changes */
	bool needs_dns;
	struct sl_rhost *hosts;		/* last good resolution */
	size_t n_hosts;
	bool resolved_once;		/* first attempt answered, good or bad */
	struct sl_rjob *job;		/* in flight */
	struct sl_timer timer;		/* next refresh */
	unsigned failures;
	struct sl_pstate *next;
};

struct sl_listener {
	struct sl_io io;
	struct sl_daemon *d;
	int fd;
	bool inbound;
	struct sockaddr_storage addr;
	socklen_t len;
};

struct sl_daemon_priv {
	struct sl_daemon_opts opts;
	struct sl_policy_ref *pref;	/* the current policy */
	char cgroup_dir[PATH_MAX];
	char *pin_path;			/* as started; a reload does not move pins */
	struct sl_listener ls[SL_MAX_LISTENERS];
	size_t n_ls;
	int sig_fd;
	struct sl_io sig_io;
	struct sl_io ev_io;
	struct sl_sockdiag *diag;
	struct sl_pstate *ps;		/* in policy order */
	struct sl_addrtab *out, *in;
	bool initial;			/* add-only until every partner answered once */
	uint64_t next_session;
	struct sl_rjob *jobs;		/* every job submitted and not done */
	uint64_t destroyed[SL_DESTROYED_RING];
	unsigned n_destroyed;
	int ready_fd;			/* daemonizing: tell the parent */
};

/* partners.c */
int sl_partners_build(struct sl_daemon *d, const struct sl_policy *p);
int sl_partners_seed(struct sl_daemon *d);
void sl_partners_resolve_all(struct sl_daemon *d);
int sl_partners_sync(struct sl_daemon *d);
void sl_partners_free(struct sl_daemon *d);
void sl_partners_jobs_free(struct sl_daemon *d);
struct sl_pstate *sl_partners_by_id(struct sl_daemon *d, uint32_t id);

/* events.c */
void sl_events_on_readable(struct sl_loop *loop, int fd, uint32_t events, void *arg);
void sl_events_handle(const struct sl_event *ev, void *arg);

#endif

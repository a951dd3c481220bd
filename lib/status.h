/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * status.h — the status document of `smtplock status` and `stats`, as
 * JSON, built the same way by the running controller (answering on the
 * control socket) and by the CLI when the controller is down (from the
 * pinned maps and the policy file): one builder, one shape, one health
 * rule.
 *
 * The document (every key always present; null where unknown):
 *
 *   controller  {running, pid, started, uptime_s, version, user}
 *   policy      {path, sha256, partners, error}
 *   enforcement {pin_path, cgroup, programs_attached, programs_total}
 *   programs    [{name, attached, link_id, prog_id, attach_type, target}]
 *   kernel      {ktls}
 *   datapath    {userspace, ktls-rw, ktls-splice, plain}  (sessions)
 *   counters    {redirected, guard_drop, ...}  (global totals)
 *   partners    [{domain, policy_id, in_policy, enforced, direction, mode,
 *                 min_tls, verify, addresses: [{address, source, host,
 *                 ttl_left_s}], dns: {resolved_at, error, failed_at},
 *                 sessions: {ok, failed, outbound_ok, outbound_failed,
 *                 inbound_ok, inbound_failed}, last_failure: {time,
 *                 direction, reason} | null, counters: {...}}]
 *   health      {exit, state, problems: [..], notes: [..]}  (sl_status_health)
 *
 * Library rules: nothing printed except into the FILE the caller gives.
 */
#ifndef SL_STATUS_H
#define SL_STATUS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <time.h>

#include <jansson.h>

#include "policy.h"
#include "pstats.h"
#include "smtplock.h"

#define SL_STATUS_MAX_COUNTERS	16

/* One BPF program and its pinned link. */
struct sl_status_prog {
	char name[32];			/* "connect4" */
	bool attached;
	uint32_t link_id, prog_id;
	char attach_type[40];		/* "cgroup_inet4_connect" */
	char target[300];		/* "cgroup /sys/fs/cgroup/x", "netns 4026531840" */
};

/* One entry of dst_policy (outbound) or src_policy (inbound). */
struct sl_status_entry {
	struct sl_lpm_key key;
	uint32_t policy_id;
};

/* Read access to the maps, live (daemon) or pinned (CLI).  Any function
 * may be NULL; each returns 0 or -errno. */
struct sl_status_maps {
	void *arg;
	const char *const *counter_names;	/* n_counters names */
	size_t n_counters;			/* <= SL_STATUS_MAX_COUNTERS */
	int (*counters)(void *arg, uint32_t id, uint64_t *vals);
	int (*meta)(void *arg, struct sl_policy_meta *out);	/* SL_MAX_POLICIES slots */
	int (*entries)(void *arg, bool inbound, struct sl_status_entry **ret, size_t *n);
};

struct sl_status_src {
	bool running;			/* built by the controller itself */
	pid_t pid;
	time_t started;
	const char *version;
	const char *user;		/* who the controller runs as */
	const char *policy_path;
	const struct sl_policy *policy;	/* running, or read from disk; may be NULL */
	const char *policy_error;	/* why there is none */
	const char *pin_path;
	const char *cgroup;
	const struct sl_status_prog *progs;
	size_t n_progs;
	const char *ktls;		/* kernel TLS offer, text; NULL = unknown */
	const struct sl_status_maps *maps;	/* NULL: not readable */
	const char *maps_error;
	const struct sl_pstats *pstats;	/* NULL when the controller is down */
};

/* The document (a new reference), or NULL when out of memory. */
json_t *sl_status_build(const struct sl_status_src *src, time_t now);

/*
 * Judge a document and add its "health" member; returns the exit status:
 * 0 healthy; 1 degraded (controller down while programs stay attached,
 * a program missing, an enforced outbound partner without any address, a
 * partner of the policy not in the maps, problems the caller added to
 * health.problems before); 2 not enforcing (no program attached).
 */
int sl_status_health(json_t *doc);

/* Append a problem to doc.health.problems (created if needed). */
void sl_status_add_problem(json_t *doc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The Prometheus text exposition format (0.0.4) of a document. */
int sl_status_prometheus(const json_t *doc, FILE *f);

/* A partner's effective settings as JSON (`domain show`). */
json_t *sl_status_partner_policy(const struct sl_partner *p);

/* "2026-01-31T12:00:00Z" (UTC); "-" for 0. */
void sl_status_time(time_t t, char *buf, size_t len);

#endif /* SL_STATUS_H */

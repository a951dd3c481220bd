/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * pstats.h — what the controller knows about each partner at run time,
 * for `smtplock status` and `stats`: sessions that succeeded or failed,
 * the last failure with its reason and time, the addresses DNS gave and
 * when they expire, and the data path each session used.
 *
 * The daemon feeds it from its session done callbacks and its DNS
 * answers; the control server reads it.  Loop thread only (loop.h), no
 * locking.  Entries are matched by domain; entries for partners that left
 * the policy are dropped with sl_pstats_retain() after a reload.
 */
#ifndef SL_PSTATS_H
#define SL_PSTATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "relay.h"
#include "smtplock.h"

/* outbound.h / inbound.h; not included, so that this header stays light. */
struct sl_outbound_result;
struct sl_inbound_result;

#define SL_PSTATS_MAX_ADDRS	64	/* per partner; more are not listed */
#define SL_PSTATS_REASON_MAX	256

enum sl_pstats_dir {
	SL_PSTATS_OUT = 0,
	SL_PSTATS_IN = 1,
};

/* One resolved address (as given to sl_pstats_set_addrs). */
struct sl_pstats_addr {
	uint8_t addr[16];		/* IPv4-mapped for IPv4 */
	char host[SL_DOMAIN_MAX];	/* the MX host it came from */
	time_t expires;			/* CLOCK_REALTIME seconds; 0 = unknown */
};

struct sl_pstat {
	char domain[SL_DOMAIN_MAX];
	uint64_t ok[2], failed[2];	/* [enum sl_pstats_dir] */
	time_t last_ok;			/* 0 = never */
	time_t last_failure;		/* 0 = never */
	enum sl_pstats_dir last_failure_dir;
	char last_reason[SL_PSTATS_REASON_MAX];
	struct sl_pstats_addr *addrs;	/* DNS answers currently in force */
	size_t n_addrs;
	bool have_addrs;		/* DNS answered at least once */
	time_t resolved_at;		/* last good answer; 0 = never */
	time_t dns_failed_at;		/* last failed lookup; 0 = never */
	char dns_error[64];
};

struct sl_pstats;

int sl_pstats_new(struct sl_pstats **ret);
struct sl_pstats *sl_pstats_free(struct sl_pstats *s);

/* One session ended: ok, or failed with a reason (printable, truncated). */
int sl_pstats_session(struct sl_pstats *s, const char *domain, enum sl_pstats_dir dir, bool ok,
		      const char *reason, enum sl_datapath path);

/*
 * The same from the session state machines' results: relayed = ok;
 * deferred, rejected, refused, relay-error = failed (with the result's
 * reason); aborted = failed only when a reason was recorded (an MTA that
 * hangs up is not a partner failure); probe results are not counted.
 */
int sl_pstats_outbound_done(struct sl_pstats *s, const char *domain,
			    const struct sl_outbound_result *r);
int sl_pstats_inbound_done(struct sl_pstats *s, const char *domain,
			   const struct sl_inbound_result *r);

/* The addresses of a partner after a DNS answer (replaces the old set). */
int sl_pstats_set_addrs(struct sl_pstats *s, const char *domain,
			const struct sl_pstats_addr *v, size_t n);
/* A lookup failed (the old addresses stay in force); err is -errno. */
int sl_pstats_dns_failed(struct sl_pstats *s, const char *domain, int err);

/* Keep only the entries of these domains (after a reload). */
void sl_pstats_retain(struct sl_pstats *s, const char *const *domains, size_t n);

/* NULL if the partner has no entry yet. */
const struct sl_pstat *sl_pstats_find(const struct sl_pstats *s, const char *domain);

/* Sessions per data path over all partners ([enum sl_datapath]). */
#define SL_PSTATS_PATHS	(SL_DATAPATH_PLAIN + 1)
void sl_pstats_paths(const struct sl_pstats *s, uint64_t out[SL_PSTATS_PATHS]);

#endif /* SL_PSTATS_H */

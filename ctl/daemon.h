/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * daemon.h — `smtplock run`: the controller daemon and what its sessions
 * may use.
 *
 * Concurrency (lib/loop.h): one loop thread owns the daemon, every
 * session, the maps and the policy pointer; DNS runs in worker jobs.
 * Nothing below may be called from a worker.
 *
 * Start:	policy (invalid → errors, exit 1, nothing attached) → loop →
 *		listeners → BPF load/adopt (pinned maps reused, links updated
 *		in place) → maps seeded add-only → links attached → resolution
 *		of every partner in workers → full sync once all answered.
 * Reload:	SIGHUP; the new policy is parsed and validated whole first; a
 *		bad one changes nothing.  Then maps are synced add-before-remove.
 *		controller.* settings (listen, cgroup, pin_path) need a restart.
 * Stop:	SIGTERM/SIGINT: listeners close, pins stay: connects to listed
 *		destinations are refused and the guard keeps dropping plaintext.
 */
#ifndef SL_CTL_DAEMON_H
#define SL_CTL_DAEMON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addrtab.h"
#include "bpfmap.h"
#include "loop.h"
#include "policy.h"
#include "smtplock.h"

struct sl_daemon_priv;
struct sl_session_rt;
struct sl_daemon;

/*
 * A counted reference to one loaded policy.  The daemon holds one on the
 * current policy; a session that keeps a struct sl_partner pointer past
 * the call that gave it (the policy may be swapped by a reload at any
 * later loop iteration) takes its own with sl_daemon_policy_hold().
 */
struct sl_policy_ref {
	struct sl_policy *policy;
	struct sl_session_rt *rt;	/* TLS contexts, secrets (sessions.h) */
	unsigned refs;
};

struct sl_policy_ref *sl_daemon_policy_hold(struct sl_daemon *d);
void sl_policy_ref_put(struct sl_policy_ref *ref);

struct sl_daemon {
	/* Read-only for sessions. */
	struct sl_loop *loop;
	struct sl_bpfmap *bpf;
	const struct sl_policy *policy;		/* current; see sl_policy_ref */
	const char *hostname;			/* controller.hostname */
	struct sl_daemon_priv *priv;		/* everything else: daemon*.c only */
};

struct sl_daemon_opts {
	const char *policy_path;
	bool foreground;
	bool verbose;
};

/* Run the daemon until SIGTERM/SIGINT.  Returns the exit status. */
int sl_daemon_main(const struct sl_daemon_opts *o);

/* Tag one of our sockets (before connect(); PRE_TLS, then TLS after the
 * partner's 220 to STARTTLS).  0 or -errno; on failure do not connect:
 * an untagged socket to a listed partner is redirected back to us. */
int sl_daemon_tag(struct sl_daemon *d, int fd, enum sl_sock_tag tag, uint32_t policy_id);

/* Who an outbound address belongs to (strictest partner wins, addrtab.h).
 * The entry is valid until the current loop callback returns. */
const struct sl_addrtab_entry *sl_daemon_lookup_dst(struct sl_daemon *d, const uint8_t addr[16]);
const struct sl_addrtab_entry *sl_daemon_lookup_src(struct sl_daemon *d, const uint8_t addr[16]);

/* The stable policy id of a partner of the current policy (0: unknown). */
uint32_t sl_daemon_policy_id(struct sl_daemon *d, const char *domain);

/*
 * The session hooks: the daemon accepted fd (non-blocking, CLOEXEC) and
 * hands it over; the hook owns fd from then on and must close it.
 *
 * sl_outbound_accept: a connection the kernel redirected from peer (the
 * MTA's address, for the per-source cap); orig is the destination the MTA
 * asked for, p the partner governing it (strictest wins), mx_name the MX
 * host name that address was resolved from ("" for a fixed address: use
 * p->domain for SNI then; valid for this call only, like p's entry).
 * sl_inbound_accept: a connection sk_lookup steered from a partner
 * source; p is the partner (NULL if the source is no longer listed).
 * Both are implemented by the session code (ctl/outbound_stub.c until
 * then: a 421 so mail is deferred, never relayed in plaintext).
 */
void sl_outbound_accept(struct sl_daemon *d, uint64_t session, int fd,
			const struct sockaddr *peer, socklen_t peer_len,
			const struct sl_orig *orig, const struct sl_partner *p,
			const char *mx_name);
void sl_inbound_accept(struct sl_daemon *d, uint64_t session, int fd,
		       const struct sockaddr *peer, socklen_t peer_len,
		       const struct sl_partner *p);

#endif /* SL_CTL_DAEMON_H */

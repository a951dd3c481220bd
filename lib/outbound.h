/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * outbound.h — one outbound session: the local MTA's redirected
 * connection on one side, the partner's MX on the other.
 *
 *   CONNECT → GREETING → EHLO → STARTTLS → TLS → EHLO → AUTH → (kTLS) →
 *   greet the MTA with the partner's 220 → answer its EHLO with the
 *   partner's capabilities minus STARTTLS/AUTH → RELAY
 *
 * The invariant, enforced in the shape of the state machine: nothing the
 * MTA sends is read before the partner leg is TLS-protected, verified and
 * authenticated as the policy says, because the MTA is not greeted before
 * that (mode: testing is the one documented exception, and then the
 * kernel guard still counts).  Every failure ends in a reply to the MTA —
 * "421 4.7.x smtplock: <domain>: <reason>" (or 5xx with on_failure:
 * reject) — so the message stays queued with a reason.
 *
 * Probe mode (mta_fd = -1) runs the same handshake and ends with QUIT.
 */
#ifndef SL_OUTBOUND_H
#define SL_OUTBOUND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "loop.h"
#include "policy.h"
#include "relay.h"
#include "tls.h"

struct sl_outbound;

struct sl_outbound_env {
	struct sl_loop *loop;
	const char *hostname;		/* our EHLO name */
	uint64_t timeout_ms;		/* per SMTP state and relay idle */
	uint64_t connect_timeout_ms;
	/* Tag the upstream socket in the kernel (PRE_TLS before connect,
	 * TLS after the STARTTLS 220).  Required: an untagged upstream
	 * connect would be redirected back to us.  Returns 0 or -errno. */
	int (*tag)(void *arg, int fd, enum sl_sock_tag tag, uint32_t policy_id);
	/* Optional: each handshake step, for `probe` and -v. */
	void (*step)(void *arg, struct sl_outbound *s, const char *step, const char *detail);
	/* The session ended; s->res holds the outcome.  s is freed by the
	 * session itself after done() returns: do not keep the pointer. */
	void (*done)(void *arg, struct sl_outbound *s);
	void *arg;
};

struct sl_outbound_params {
	uint64_t id;			/* session id for logs */
	int mta_fd;			/* accepted MTA connection; -1 = probe */
	struct sockaddr_storage dst;	/* the partner address the MTA asked for */
	socklen_t dst_len;
	const struct sl_partner *partner;
	uint32_t policy_id;
	const char *mx;			/* MX host name: SNI and name check */
	const struct sl_tls_ctx *tls;	/* the partner's client context */
	const char *password;		/* partner->auth secret, NULL without auth */
	const struct sl_tlsa *tlsa;	/* verify: dane; NULL otherwise */
	size_t n_tlsa;
	bool tlsa_secure;		/* the TLSA answer had the AD bit */
	void *owner;			/* opaque for the env (e.g. a policy ref) */
};

struct sl_outbound_result {
	char addr[64];			/* "192.0.2.10:25", "[2001:db8::1]:25" */
	char tls[16];			/* "TLSv1.3" or "-" */
	char cipher[64];
	const char *verify;		/* ok | pin | dane | none | fail | - */
	const char *auth;		/* ok | fail | none | - */
	const char *result;		/* relayed | deferred | rejected | aborted |
					   pass | fail (probe) */
	char reason[256];		/* why it failed, "" otherwise */
	char would_defer[256];		/* mode: testing: what would have failed */
	char reply[300];		/* what the MTA was told on failure */
	uint64_t bytes_up, bytes_down;	/* MTA → partner, partner → MTA */
	uint64_t ms;
	enum sl_datapath path;
};

int sl_outbound_start(const struct sl_outbound_env *env, const struct sl_outbound_params *p,
		      struct sl_outbound **ret);

/* Tear down now without calling done() (controller shutdown). */
void sl_outbound_abort(struct sl_outbound *s);

const struct sl_outbound_result *sl_outbound_result(const struct sl_outbound *s);
const struct sl_outbound_params *sl_outbound_params(const struct sl_outbound *s);

#endif /* SL_OUTBOUND_H */

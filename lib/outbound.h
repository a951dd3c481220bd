/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * outbound.h — one outbound session: the local MTA's redirected
 * connection on one side, the partner's MX on the other.
 *
 *   CONNECT → GREETING → EHLO → STARTTLS → TLS → EHLO → AUTH → (kTLS) →
 *   greet the MTA with the partner's 220 → answer its EHLO with the
 *   partner's capabilities minus STARTTLS/AUTH → RELAY
 *
 * kTLS (the partner's tls.ktls): right after the handshake a policy that
 * requires kTLS fails the session if the kernel, version or cipher cannot
 * ("421 4.7.5 smtplock: <domain>: kernel TLS required but unavailable:
 * <why>", before AUTH); after AUTH the session goes to the kernel
 * (sl_ktls_session_switch), the SSL is freed, and the relay runs
 * SL_DATAPATH_KTLS_SPLICE (or _RW).  preferred falls back to the
 * userspace relay with the reason in res.ktls; off never tries.
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

#include "ktls.h"
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
	/* What the kernel offers (sl_ktls_probe once at start; must outlive
	 * the session).  NULL = no kernel TLS: partners with tls.ktls
	 * required fail, preferred ones run the userspace relay.  The
	 * partner's context must have been built with SL_TLS_F_KTLS for
	 * any handoff (tls.ktls preferred or required). */
	const struct sl_ktls_caps *ktls_caps;
	bool ktls_rw;			/* tests, benchmarks: read/write, not splice */
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
	enum sl_datapath path;		/* set when the relay starts */
	char ktls[128];			/* kTLS: "TLSv1.3 aes-gcm-128 tx=openssl
					   rx=smtplock", or why not; "" before */
};

int sl_outbound_start(const struct sl_outbound_env *env, const struct sl_outbound_params *p,
		      struct sl_outbound **ret);

/* Tear down now without calling done() (controller shutdown). */
void sl_outbound_abort(struct sl_outbound *s);

const struct sl_outbound_result *sl_outbound_result(const struct sl_outbound *s);
const struct sl_outbound_params *sl_outbound_params(const struct sl_outbound *s);

#endif /* SL_OUTBOUND_H */

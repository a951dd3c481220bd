/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * inbound.h — one inbound session: a partner's MTA sending to us, steered
 * to the controller by the sk_lookup program.
 *
 *   220 banner → EHLO (STARTTLS offered; nothing that carries mail before
 *   TLS: MAIL/RCPT/DATA/BDAT/AUTH → 530 5.7.0) → STARTTLS (refused if
 *   commands were pipelined behind it) → TLS (partner's min_version,
 *   client certificate per policy) → EHLO → AUTH PLAIN/LOGIN against the
 *   partner's accounts (crypt(3) in a worker; failures delayed and
 *   counted) → admitted → backend connect (PROXY v1/v2, XCLIENT or none)
 *   → replay the partner's EHLO → relay.
 *
 * The invariant: the backend (the local MTA) sees no byte from the partner
 * before the partner is admitted — TLS up, and AUTH and/or the client
 * certificate as the policy requires.
 *
 * kTLS (the partner's tls.ktls): a policy that requires kTLS refuses the
 * partner right after the handshake when the kernel, version or cipher
 * cannot ("421 4.7.5 smtplock: kernel TLS required but unavailable:
 * <why>"), before the backend is contacted.  Once the reply to the
 * replayed EHLO (or the 235) has left through OpenSSL, the session goes
 * to the kernel, the SSL is freed and the relay runs
 * SL_DATAPATH_KTLS_SPLICE (or _RW); preferred falls back to the
 * userspace relay with the reason in res.ktls; off never tries.
 */
#ifndef SL_INBOUND_H
#define SL_INBOUND_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ktls.h"
#include "loop.h"
#include "policy.h"
#include "relay.h"
#include "tls.h"

#define SL_INBOUND_CAPS_MAX	2048

struct sl_inbound;

/* What the backend announced last time (filtered), shared by sessions:
 * the capabilities offered before AUTH, when the backend is not yet
 * connected.  Owned by the daemon; the loop thread is the only user. */
struct sl_inbound_caps {
	bool known;
	char lines[SL_INBOUND_CAPS_MAX];	/* keyword lines, "\n"-separated */
};

struct sl_inbound_env {
	struct sl_loop *loop;		/* needs worker threads (crypt) */
	const char *hostname;		/* our banner and EHLO name */
	uint64_t timeout_ms;		/* per SMTP state and relay idle */
	const struct sockaddr_storage *backend;
	socklen_t backend_len;
	enum sl_announce announce;
	unsigned max_auth_failures;	/* then 421 and close */
	uint64_t auth_fail_delay_ms;	/* per failure, growing linearly */
	struct sl_inbound_caps *caps;
	void (*done)(void *arg, struct sl_inbound *s);	/* s freed after */
	void *arg;
	/* What the kernel offers (sl_ktls_probe once at start; must outlive
	 * the session); NULL = no kernel TLS.  As for outbound sessions, the
	 * partner's server context needs ktls = true for any handoff. */
	const struct sl_ktls_caps *ktls_caps;
	bool ktls_rw;			/* tests, benchmarks: read/write, not splice */
};

struct sl_inbound_params {
	uint64_t id;
	int fd;				/* accepted partner connection */
	struct sockaddr_storage peer;	/* the partner's address */
	struct sockaddr_storage local;	/* the address it connected to */
	const struct sl_partner *partner;
	uint32_t policy_id;
	const struct sl_tls_ctx *tls;	/* server context for this partner */
	void *owner;
};

struct sl_inbound_result {
	char peer[64];
	char helo[256];
	char tls[16];
	char cipher[64];
	char account[256];		/* authenticated username, "" if none */
	char cert[256];			/* client certificate subject, "" if none */
	const char *result;		/* relayed | refused | aborted | relay-error */
	char reason[256];
	char received[1024];		/* a Received:-style trace for the log */
	unsigned auth_failures;
	uint64_t bytes_in, bytes_out;	/* partner → backend, backend → partner */
	uint64_t ms;
	enum sl_datapath path;		/* set when the relay starts */
	char ktls[128];			/* kTLS: "TLSv1.3 aes-gcm-128 tx=openssl
					   rx=smtplock", or why not; "" before */
};

int sl_inbound_start(const struct sl_inbound_env *env, const struct sl_inbound_params *p,
		     struct sl_inbound **ret);
void sl_inbound_abort(struct sl_inbound *s);
const struct sl_inbound_result *sl_inbound_result(const struct sl_inbound *s);
const struct sl_inbound_params *sl_inbound_params(const struct sl_inbound *s);

#endif /* SL_INBOUND_H */

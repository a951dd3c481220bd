/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * session.h — run a real lib/outbound or lib/inbound session for a test:
 * the TLS context built from the partner's policy the way the daemon
 * builds it, the env and params filled, done() recorded.  Shared by
 * tests/unit/test_{outbound,inbound}.c (host, no kTLS) and the VM suite
 * (tests/vm/, where the same sessions hand their TLS to the kernel).
 * The parties (partner, MTA, backend) are each test's own.
 *
 * The daemon's side of the kTLS contract, as done here:
 *   - contexts: SL_TLS_F_KTLS (client) / ktls = true (server) when the
 *     partner's tls.ktls is not off;
 *   - env.ktls_caps: what sl_ktls_probe() found once (NULL = none).
 */
#ifndef SL_TEST_SESSION_H
#define SL_TEST_SESSION_H

#include <stdbool.h>
#include <stdint.h>
#include <netinet/in.h>

#include "inbound.h"
#include "ktls.h"
#include "outbound.h"

struct ts_outbound {
	/* in */
	struct sl_partner partner;		/* the policy under test */
	unsigned ctx_flags;			/* SL_TLS_F_LENIENT …; KTLS added per policy */
	const struct sl_tls_ctx *tls;		/* NULL: built (and freed) per session */
	int mta_fd;				/* controller's end, non-blocking; -1 = probe */
	struct sockaddr_in dst;			/* the partner's listener */
	const char *mx, *password;
	const struct sl_ktls_caps *ktls_caps;
	bool ktls_rw;
	uint64_t timeout_ms;			/* 0 = 1500 */
	bool keep_loop;				/* done() does not stop the loop */
	void (*on_step)(struct ts_outbound *t, const char *step, const char *detail);
	void *arg;

	/* out */
	char ctx_reason[SL_TLS_REASON_MAX];
	struct sl_outbound_result res;		/* copied at done() */
	int done_calls;
	int tags[3];				/* sl_sock_tag calls, by tag */
	unsigned ktls_dirs;			/* kTLS directions on our sockets at done() */
	int ktls_socks;				/* … and how many sockets had any */

	/* internal */
	struct sl_outbound *s;			/* until done() */
	struct sl_tls_ctx *own_tls;
	struct sl_loop *loop;
};

/* Build the context (unless t->tls is set) and start the session on
 * loop.  0 or -errno (ctx_reason says why for a context). */
int ts_outbound_start(struct ts_outbound *t, struct sl_loop *loop);
/* Both, on a private loop, until done(); then free the context.  0 or -errno. */
int ts_outbound_run(struct ts_outbound *t);
/* The context built by ts_outbound_start, if any. */
void ts_outbound_done(struct ts_outbound *t);

struct ts_inbound {
	/* in */
	struct sl_partner partner;
	const char *cert_file, *key_file;	/* our server certificate */
	const struct sl_tls_ctx *tls;		/* NULL: built (and freed) per session */
	int fd;					/* accepted partner connection, non-blocking */
	struct sockaddr_storage peer, local;
	struct sockaddr_storage backend;
	socklen_t backend_len;
	enum sl_announce announce;
	struct sl_inbound_caps *caps;		/* may be NULL */
	const struct sl_ktls_caps *ktls_caps;
	bool ktls_rw;
	uint64_t timeout_ms;			/* 0 = 3000 */
	bool keep_loop;

	/* out */
	char ctx_reason[SL_TLS_REASON_MAX];
	struct sl_inbound_result res;
	int done_calls;
	unsigned ktls_dirs;
	int ktls_socks;

	/* internal */
	struct sl_inbound *s;
	struct sl_tls_ctx *own_tls;
	struct sl_loop *loop;
};

/* loop needs worker threads (password checks). */
int ts_inbound_start(struct ts_inbound *t, struct sl_loop *loop);
/* Start and run loop until done(), then free the context. */
int ts_inbound_run(struct ts_inbound *t, struct sl_loop *loop);
void ts_inbound_done(struct ts_inbound *t);

/* The kTLS directions (SL_KTLS_DIR_*) of this process's sockets, OR-ed;
 * *n gets how many sockets have any.  The controller's partner socket is
 * the only one a test holds with kernel TLS. */
unsigned ts_ktls_dirs(int *n);

#endif

// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * harness_held.c — memory per held connection: real sessions (lib/
 * outbound or lib/inbound) handed to the kernel and idle in their relays.
 * One session is held first (OpenSSL's and the loop's lazily built
 * tables), then n, then n more; the controller's heap (mallinfo2, every
 * arena) grows by n sessions between the last two measures, which leaves
 * out what is held once whatever the count (malloc's per-thread caches of
 * freed chunks count as used).  The parties live in child processes, so
 * only the controller's memory is counted.  See harness.h.
 */
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "harness.h"
#include "harness_int.h"
#include "session.h"

/* ------------------------------------------------------------------ */
/* Outbound: n sessions relaying, idle                                 */

struct hs_held {
	struct sl_loop *loop;
	int relays, ktls, ends, want;
};

static void hs_held_step(struct ts_outbound *t, const char *step, const char *detail)
{
	struct hs_held *h = t->arg;

	if (strcmp(step, "ktls") == 0 && strncmp(detail, "TLSv", 4) == 0)
		h->ktls++;
	if (strcmp(step, "relay") == 0 && ++h->relays == h->want)
		sl_loop_stop(h->loop);
	if (strcmp(step, "fail") == 0)
		h->ends++;
}

static void hs_held_deadline(struct sl_loop *loop, void *arg)
{
	(void)arg;
	sl_loop_stop(loop);
}

/* The partners: one child process accepts n connections and forks one
 * held partner (harness.c) per connection. */
static pid_t hs_held_partners(int lfd, int n, SSL_CTX *pctx)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	for (int i = 0; i < n; i++) {
		int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			break;
		h_timeouts(fd, 120);
		if (fork() == 0)
			h_held_partner(fd, pctx);
		close(fd);
	}
	while (wait(NULL) > 0)
		;
	_exit(0);
}

long hs_held_outbound(int n, const struct hs_opts *o, struct hs_held_info *info,
			 char *err, size_t len)
{
	const int total = 2 * n + 1;
	struct ts_outbound *t = calloc((size_t)total, sizeof(*t));
	int (*mta)[2] = calloc((size_t)total, sizeof(*mta));
	SSL_CTX *pctx = h_ctx(true, o->tls_version, o->cipher, -1);
	struct sl_tls_ctx *ctx = NULL;
	struct sl_loop *loop = NULL;
	struct hs_held h = { 0 };
	struct sl_timer deadline;
	struct sl_partner pol;
	struct sockaddr_in dst;
	size_t mid = 0;
	long per = -1;
	pid_t kid = -1;
	int lfd = -1, started = 0;

	memset(info, 0, sizeof(*info));
	for (int i = 0; i < total && mta; i++)
		mta[i][0] = mta[i][1] = -1;
	hs_policy(&pol, o);
	lfd = hs_listener(&dst);
	if (!t || !mta || !pctx || lfd < 0 || sl_loop_new(0, &loop) < 0 ||
	    sl_tls_client_ctx_new(&pol.tls, SL_TLS_F_KTLS, &ctx, err, len) < 0) {
		if (!err[0])
			snprintf(err, len, "setup failed");
		goto out;
	}
	kid = hs_held_partners(lfd, total, pctx);
	h.loop = loop;
	sl_timer_init(&deadline, hs_held_deadline, NULL);
	for (int i = 0; i < total; i++) {
		static const char cmds[] = "EHLO mta.ours.test\r\nMAIL FROM:<a@ours.test>\r\n";

		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, mta[i]) < 0 ||
		    write(mta[i][0], cmds, sizeof(cmds) - 1) != (ssize_t)sizeof(cmds) - 1) {
			snprintf(err, len, "MTA socket pair");
			goto out;
		}
		h_nonblock(mta[i][1], true);
		t[i].partner = pol;
		t[i].tls = ctx;
		t[i].mta_fd = mta[i][1];
		t[i].dst = dst;
		t[i].password = "secret";
		t[i].ktls_caps = h_caps();
		t[i].timeout_ms = 120000;
		t[i].keep_loop = true;
		t[i].on_step = hs_held_step;
		t[i].arg = &h;
		if (ts_outbound_start(&t[i], loop) < 0) {
			snprintf(err, len, "session %d did not start", i);
			goto out;
		}
		mta[i][1] = -1;		/* the session's now */
		started = i + 1;
		h.want = i + 1;
		/* Session 0 alone first, then n, then n more. */
		if (i == 0 || i == n || i == 2 * n) {
			sl_timer_arm(loop, &deadline, 100000);
			sl_loop_run(loop);
			sl_timer_cancel(loop, &deadline);
			if (h.relays != h.want) {
				snprintf(err, len, "%d of %d sessions relaying (%d failed)",
					 h.relays, h.want, h.ends);
				goto out;
			}
			malloc_trim(0);
			if (i == n)
				mid = mallinfo2().uordblks;
			else if (i == 2 * n)
				per = ((long)mallinfo2().uordblks - (long)mid) / n;
		}
	}
	info->relaying = h.relays;
	info->ktls = h.ktls;
	info->ktls_dirs = ts_ktls_dirs(&info->ktls_socks);
	for (int i = 0; i < total; i++)
		if (t[i].s && sl_outbound_result(t[i].s)->path == SL_DATAPATH_KTLS_SPLICE)
			info->splice++;
out:
	for (int i = 0; i < started; i++)
		if (t[i].s)
			sl_outbound_abort(t[i].s);	/* closes its MTA and partner fds */
	for (int i = 0; i < total && mta; i++) {
		if (mta[i][0] >= 0)
			close(mta[i][0]);
		if (mta[i][1] >= 0)
			close(mta[i][1]);
	}
	if (lfd >= 0) {
		shutdown(lfd, SHUT_RDWR);	/* an acceptor still waiting gives up */
		close(lfd);
	}
	if (kid > 0)
		waitpid(kid, NULL, 0);	/* its partners end with their sessions */
	sl_loop_free(loop);
	sl_tls_ctx_free(ctx);
	SSL_CTX_free(pctx);
	free(t);
	free(mta);
	ERR_clear_error();
	return per;
}

/* ------------------------------------------------------------------ */
/* Inbound: n sessions relaying, idle                                  */

struct hs_held_conn {
	int fd;
	SSL_CTX *ctx;			/* partner: client context; backend: NULL */
};

/* A held partner: up to 235, then it reads until the end. */
static void *hs_held_client(void *arg)
{
	struct hs_held_conn *hc = arg;
	struct h_opts o = { .role = H_INBOUND };
	struct h_result r;
	struct h_session s = { .o = &o, .res = &r, .peer_ctx = hc->ctx, .peer_fd = hc->fd };
	struct h_conn *c = calloc(1, sizeof(*c));
	char b[1024];

	memset(&r, 0, sizeof(r));
	if (c) {
		c->fd = hc->fd;
		if (h_expect(c, "220 ") && h_puts(c, "EHLO partner.test\r\n") &&
		    h_reply(c, "250", NULL, 0) && h_puts(c, "STARTTLS\r\n") &&
		    h_reply(c, "220", NULL, 0) && h_peer_tls(&s, c, false) &&
		    h_puts(c, "EHLO partner.test\r\n") && h_reply(c, "250", NULL, 0) &&
		    h_puts(c, "AUTH PLAIN AHBhcnRuZXIAc2VjcmV0\r\n") && h_reply(c, "235", NULL, 0))
			while (SSL_read(c->ssl, b, sizeof(b)) > 0)
				;
		SSL_free(c->ssl);
		free(c);
	}
	close(hc->fd);
	return NULL;
}

/* A held backend: banner, the replayed EHLO, then it reads until the end. */
static void *hs_held_backend(void *arg)
{
	struct hs_held_conn *hc = arg;
	struct h_conn *c = calloc(1, sizeof(*c));
	char b[1024];

	if (c) {
		c->fd = hc->fd;
		if (h_puts(c, "220 backend.test ESMTP\r\n") && h_expect(c, "EHLO ") &&
		    h_puts(c, "250-backend.test\r\n250 8BITMIME\r\n"))
			while (read(c->fd, b, sizeof(b)) > 0)
				;
		free(c);
	}
	close(hc->fd);
	return NULL;
}

/* The partners and the backend, in one child process (threads). */
static pid_t hs_held_inbound_parties(int n, int (*pairs)[2], int be_lfd,
				     const struct hs_opts *o)
{
	struct hs_held_conn *hc;
	pthread_t *th;
	SSL_CTX *ctx;
	pid_t pid = fork();
	int k = 0;

	if (pid != 0)
		return pid;
	hc = calloc(2 * (size_t)n, sizeof(*hc));
	th = calloc(2 * (size_t)n, sizeof(*th));
	ctx = h_ctx(false, o->tls_version, o->cipher, -1);
	if (!hc || !th || !ctx)
		_exit(1);
	for (int i = 0; i < n; i++) {
		close(pairs[i][0]);
		hc[k] = (struct hs_held_conn){ .fd = pairs[i][1], .ctx = ctx };
		h_timeouts(hc[k].fd, 120);
		if (pthread_create(&th[k], NULL, hs_held_client, &hc[k]) == 0)
			k++;
	}
	for (int i = 0; i < n; i++) {
		int fd = accept4(be_lfd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0)
			break;
		hc[k] = (struct hs_held_conn){ .fd = fd };
		h_timeouts(fd, 120);
		if (pthread_create(&th[k], NULL, hs_held_backend, &hc[k]) == 0)
			k++;
	}
	for (int i = 0; i < k; i++)
		pthread_join(th[i], NULL);
	_exit(0);
}

struct hs_held_in {
	struct ts_inbound *t;
	int n;				/* sessions started */
	struct sl_timer tick;
	uint64_t deadline;
	int relaying;
};

/* Every 20 ms: stop the loop when every started session relays (or one
 * ended, or the deadline passed). */
static void hs_held_in_tick(struct sl_loop *loop, void *arg)
{
	struct hs_held_in *h = arg;
	int relaying = 0;

	for (int i = 0; i < h->n; i++) {
		if (!h->t[i].s || h->t[i].done_calls) {
			sl_loop_stop(loop);
			return;
		}
		relaying += sl_inbound_result(h->t[i].s)->path != SL_DATAPATH_NONE;
	}
	h->relaying = relaying;
	if (relaying == h->n || sl_now_ms() > h->deadline)
		sl_loop_stop(loop);
	else
		sl_timer_arm(loop, &h->tick, 20);
}

long hs_held_inbound(int n, const struct hs_opts *o, struct hs_held_info *info,
		     char *err, size_t len)
{
	const int total = 2 * n + 1;
	struct ts_inbound *t = calloc((size_t)total, sizeof(*t));
	int (*pairs)[2] = calloc((size_t)total, sizeof(*pairs));
	struct hs_held_in h = { .t = t };
	struct sl_tls_ctx *ctx = NULL;
	struct sl_loop *loop = NULL;
	struct sl_partner pol;
	struct sl_account acct;
	struct sockaddr_in be;
	const char *cert, *key;
	size_t mid = 0;
	long per = -1;
	pid_t kid = -1;
	int be_lfd = -1;

	memset(info, 0, sizeof(*info));
	if (!t || !pairs || !hs_inbound_init(&acct, &cert, &key)) {
		snprintf(err, len, "setup failed");
		goto out;
	}
	for (int i = 0; i < total; i++)
		pairs[i][0] = pairs[i][1] = -1;
	hs_policy(&pol, o);
	pol.inbound = (struct sl_inbound_policy){
		.require = SL_REQUIRE_TLS | SL_REQUIRE_AUTH, .min_version = SL_TLS_1_2,
		.accounts = &acct, .n_accounts = 1 };
	be_lfd = hs_listener(&be);
	for (int i = 0; i < total; i++)
		if (h_tcp_pair(pairs[i]) < 0) {
			snprintf(err, len, "socket pairs");
			goto out;
		}
	/* Fork before any thread of ours exists (the loop's workers). */
	kid = hs_held_inbound_parties(total, pairs, be_lfd, o);
	for (int i = 0; i < total; i++) {
		close(pairs[i][1]);
		pairs[i][1] = -1;
	}
	if (be_lfd < 0 || kid < 0 || sl_loop_new(1, &loop) < 0 ||
	    sl_tls_server_ctx_new(cert, key, &pol.inbound, true, &ctx, err, len) < 0) {
		if (!err[0])
			snprintf(err, len, "setup failed");
		goto out;
	}
	sl_timer_init(&h.tick, hs_held_in_tick, &h);
	for (int i = 0; i < total; i++) {
		socklen_t sl = sizeof(t[i].peer);
		t[i].partner = pol;
		t[i].partner.inbound.accounts = &acct;
		t[i].tls = ctx;
		t[i].fd = pairs[i][0];
		getpeername(t[i].fd, (struct sockaddr *)&t[i].peer, &sl);
		sl = sizeof(t[i].local);
		getsockname(t[i].fd, (struct sockaddr *)&t[i].local, &sl);
		memcpy(&t[i].backend, &be, sizeof(be));
		t[i].backend_len = sizeof(be);
		t[i].announce = SL_ANNOUNCE_NONE;
		t[i].ktls_caps = h_caps();
		t[i].timeout_ms = 120000;
		t[i].keep_loop = true;
		h_nonblock(t[i].fd, true);
		if (ts_inbound_start(&t[i], loop) < 0) {
			snprintf(err, len, "session %d did not start", i);
			goto out;
		}
		pairs[i][0] = -1;	/* the session's now */
		h.n = i + 1;
		if (i == 0 || i == n || i == 2 * n) {
			h.deadline = sl_now_ms() + 100000;
			sl_timer_arm(loop, &h.tick, 20);
			sl_loop_run(loop);
			sl_timer_cancel(loop, &h.tick);
			if (h.relaying != h.n) {
				snprintf(err, len, "%d of %d sessions relaying", h.relaying, h.n);
				goto out;
			}
			malloc_trim(0);
			if (i == n)
				mid = mallinfo2().uordblks;
			else if (i == 2 * n)
				per = ((long)mallinfo2().uordblks - (long)mid) / n;
		}
	}
	info->relaying = h.relaying;
	info->ktls_dirs = ts_ktls_dirs(&info->ktls_socks);
	for (int i = 0; i < total; i++) {
		const struct sl_inbound_result *res = sl_inbound_result(t[i].s);

		info->ktls += strncmp(res->ktls, "TLSv", 4) == 0;
		info->splice += res->path == SL_DATAPATH_KTLS_SPLICE;
	}
out:
	for (int i = 0; i < h.n; i++)
		if (t[i].s && !t[i].done_calls)
			sl_inbound_abort(t[i].s);	/* closes its partner and backend fds */
	for (int i = 0; i < total && pairs; i++) {
		if (pairs[i][0] >= 0)
			close(pairs[i][0]);
		if (pairs[i][1] >= 0)
			close(pairs[i][1]);
	}
	if (be_lfd >= 0) {
		shutdown(be_lfd, SHUT_RDWR);	/* a backend still accepting gives up */
		close(be_lfd);
	}
	if (kid > 0)
		waitpid(kid, NULL, 0);
	sl_loop_free(loop);
	sl_tls_ctx_free(ctx);
	free(t);
	free(pairs);
	ERR_clear_error();
	return per;
}

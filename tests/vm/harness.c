// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * harness.c — three-party SMTP-over-TLS sessions for the kTLS tests and
 * the data-path benchmark: the partner and MTA threads, the controller's
 * dialogue and handoff, and the memory held per connection.  See
 * harness.h; plumbing in harness_io.c, relays in harness_relay.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "harness.h"
#include "harness_int.h"

/* ------------------------------------------------------------------ */
/* Parties                                                             */

static bool h_peer_tls(struct h_session *s, struct h_conn *c, bool server)
{
	c->ssl = SSL_new(s->peer_ctx);
	if (!c->ssl || !SSL_set_fd(c->ssl, c->fd))
		return false;
	if ((server ? SSL_accept(c->ssl) : SSL_connect(c->ssl)) != 1) {
		h_err(s->res, "partner: TLS handshake failed");
		return false;
	}
	return true;
}

static void h_peer_close(struct h_conn *c)
{
	char b[256];

	if (c->ssl) {
		SSL_shutdown(c->ssl);
		while (SSL_read(c->ssl, b, sizeof(b)) > 0)
			;
	} else {
		shutdown(c->fd, SHUT_WR);
		while (read(c->fd, b, sizeof(b)) > 0)
			;
	}
}

static bool h_partner_on_mail(struct h_conn *c, void *arg)
{
	struct h_session *s = arg;

	switch (s->o->act) {
	case H_ACT_TICKETS_AFTER_SWITCH:
		SSL_new_session_ticket(c->ssl);
		SSL_new_session_ticket(c->ssl);
		SSL_do_handshake(c->ssl);
		break;
	case H_ACT_KEYUPDATE_AFTER_SWITCH:
		SSL_key_update(c->ssl, SSL_KEY_UPDATE_NOT_REQUESTED);
		SSL_do_handshake(c->ssl);
		s->peer_keyupdated = true;
		break;
	case H_ACT_CLOSE_NOTIFY:
		/* The caller closes with close_notify. */
		h_puts(c, "421 4.3.2 shutting down\r\n");
		return false;
	default:
		break;
	}
	return true;
}

/* The partner as SMTP server (outbound sessions). */
static void h_partner_server(struct h_session *s)
{
	struct h_conn *c = calloc(1, sizeof(*c));
	char line[1024];

	c->fd = s->peer_fd;
	if (!h_puts(c, "220 partner.test ESMTP\r\n") || !h_expect(c, "EHLO ") ||
	    !h_puts(c, "250-partner.test\r\n250 STARTTLS\r\n") || !h_expect(c, "STARTTLS") ||
	    !h_puts(c, "220 2.0.0 ready\r\n") || !h_peer_tls(s, c, true))
		goto out;
	if (!h_expect(c, "EHLO ") || !h_puts(c, "250-partner.test\r\n250 AUTH PLAIN\r\n"))
		goto out;
	if (h_line(c, line, sizeof(line)) <= 0 || strncmp(line, "AUTH PLAIN ", 11) != 0)
		goto out;
	if (s->o->act == H_ACT_KEYUPDATE_BEFORE_SWITCH) {
		SSL_key_update(c->ssl, SSL_KEY_UPDATE_NOT_REQUESTED);
		SSL_do_handshake(c->ssl);
	}
	if (!h_puts(c, "235 2.7.0 ok\r\n"))
		goto out;
	if (s->o->act == H_ACT_TICKETS_AFTER_AUTH) {
		SSL_new_session_ticket(c->ssl);
		SSL_new_session_ticket(c->ssl);
		SSL_do_handshake(c->ssl);
	}
	s->res->receiver_ok = h_recv_mail(c, h_partner_on_mail, s, s->res, s->o->body);
	h_peer_close(c);
out:
	SSL_free(c->ssl);
	close(c->fd);
	free(c);
}

/* The partner as SMTP client (inbound sessions). */
static void h_partner_client(struct h_session *s)
{
	struct h_conn *c = calloc(1, sizeof(*c));

	c->fd = s->peer_fd;
	if (!h_expect(c, "220 ") || !h_puts(c, "EHLO partner.test\r\n") ||
	    !h_reply(c, "250", NULL, 0) || !h_puts(c, "STARTTLS\r\n") ||
	    !h_reply(c, "220", NULL, 0) || !h_peer_tls(s, c, false))
		goto out;
	if (!h_puts(c, "EHLO partner.test\r\n") || !h_reply(c, "250", NULL, 0) ||
	    !h_puts(c, "AUTH PLAIN AHBhcnRuZXIAc2VjcmV0\r\n") || !h_reply(c, "235", NULL, 0))
		goto out;
	s->res->sender_ok = h_send_mail(c, s->o->body, s->res->mta_last, sizeof(s->res->mta_last));
	h_peer_close(c);
out:
	SSL_free(c->ssl);
	close(c->fd);
	free(c);
}

static void *h_partner_thread(void *arg)
{
	struct h_session *s = arg;

	if (s->o->role == H_OUTBOUND)
		h_partner_server(s);
	else
		h_partner_client(s);
	return NULL;
}

static void *h_mta_thread(void *arg)
{
	struct h_session *s = arg;
	struct h_conn *c = calloc(1, sizeof(*c));
	char b[256];

	c->fd = s->mta_fd;
	if (s->o->role == H_OUTBOUND) {
		s->res->sender_ok = h_send_mail(c, s->o->body, s->res->mta_last,
						sizeof(s->res->mta_last));
		shutdown(c->fd, SHUT_WR);
		/* What is left after the last reply: nothing, then the end. */
		ssize_t n = read(c->fd, b, sizeof(b));

		s->res->mta_eof = n == 0 || (n < 0 && errno == ECONNRESET);
		if (n > 0)
			snprintf(s->res->mta_last, sizeof(s->res->mta_last), "%.*s", (int)n, b);
	} else {
		s->res->receiver_ok = h_recv_mail(c, NULL, NULL, s->res, s->o->body);
		h_peer_close(c);
		s->res->mta_eof = true;
	}
	close(c->fd);
	free(c);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* The controller                                                      */

/* The controller's message callback: the tracker's, plus a count of
 * ServerHellos (two after a HelloRetryRequest), as the session code would
 * feed its own observer and the tracker from one callback. */
struct h_msg {
	struct sl_ktls_track *t;
	int server_hellos;
};

static void h_msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
		     SSL *ssl, void *arg)
{
	struct h_msg *m = arg;

	if (content_type == SSL3_RT_HANDSHAKE && len > 0 &&
	    ((const uint8_t *)buf)[0] == SSL3_MT_SERVER_HELLO)
		m->server_hellos++;
	sl_ktls_msg_cb(write_p, version, content_type, buf, len, ssl, m->t);
}

/* The SMTP dialogue and the handshake; returns the SSL or NULL. */
static SSL *h_ctl_handshake(struct h_session *s, SSL_CTX *ctx, struct h_conn *c,
			    struct sl_ktls_track *t, const struct sl_ktls_caps *caps,
			    struct h_msg *msg)
{
	const struct h_opts *o = s->o;
	bool server = o->role == H_INBOUND;
	char line[1024];

	if (server) {
		if (!h_puts(c, "220 ctl.test ESMTP\r\n") || !h_expect(c, "EHLO ") ||
		    !h_puts(c, "250-ctl.test\r\n250 STARTTLS\r\n") || !h_expect(c, "STARTTLS") ||
		    !h_puts(c, "220 2.0.0 ready\r\n"))
			return NULL;
	} else {
		if (!h_expect(c, "220 ") || !h_puts(c, "EHLO ctl.test\r\n") ||
		    !h_reply(c, "250", NULL, 0) || !h_puts(c, "STARTTLS\r\n") ||
		    !h_reply(c, "220", NULL, 0))
			return NULL;
	}
	if (c->len != c->off) {
		h_err(s->res, "controller: bytes after STARTTLS");
		return NULL;
	}
	c->ssl = SSL_new(ctx);
	if (!c->ssl || !SSL_set_fd(c->ssl, c->fd))
		return NULL;
	sl_ktls_track_init(t);
	if (sl_ktls_track_bind(c->ssl, t, caps, SL_KTLS_PREFERRED) < 0)
		return NULL;
	if (o->no_openssl_ktls)
		SSL_clear_options(c->ssl, SSL_OP_ENABLE_KTLS);
	msg->t = t;
	msg->server_hellos = 0;
	SSL_set_msg_callback(c->ssl, h_msg_cb);
	SSL_set_msg_callback_arg(c->ssl, msg);
	if ((server ? SSL_accept(c->ssl) : SSL_connect(c->ssl)) != 1) {
		h_err(s->res, "controller: TLS handshake failed: %s",
		      ERR_reason_error_string(ERR_peek_last_error()));
		return NULL;
	}
	if (server) {
		if (!h_expect(c, "EHLO ") || !h_puts(c, "250-ctl.test\r\n250 AUTH PLAIN\r\n") ||
		    h_line(c, line, sizeof(line)) <= 0 || strncmp(line, "AUTH PLAIN ", 11) != 0 ||
		    !h_puts(c, "235 2.7.0 ok\r\n"))
			return NULL;
	} else {
		if (!h_puts(c, "EHLO ctl.test\r\n") || !h_reply(c, "250", NULL, 0) ||
		    !h_puts(c, "AUTH PLAIN AGN0bABzZWNyZXQ=\r\n") || !h_reply(c, "235", NULL, 0)) {
			h_err(s->res, "controller: AUTH failed");
			return NULL;
		}
	}
	return c->ssl;
}

bool h_run(const struct h_opts *o, struct h_result *res)
{
	const struct sl_ktls_caps *caps = o->caps ? o->caps : h_caps();
	struct h_session s = { .o = o, .res = res };
	struct sl_ktls_track trk;
	struct h_msg msg;
	struct h_conn *c = calloc(1, sizeof(*c));
	SSL_CTX *ctx = NULL;
	pthread_t peer_t, mta_t;
	bool peer_started = false, mta_started = false;
	int mta[2] = { -1, -1 }, peer[2] = { -1, -1 };
	unsigned tmo = o->timeout_s ? o->timeout_s : 180;
	double t0, c0, deadline;
	SSL *ssl;

	h_caps();
	memset(res, 0, sizeof(*res));
	res->handoff = 1;
	if (!c || h_tcp_pair(mta) < 0 || h_tcp_pair(peer) < 0) {
		h_err(res, "socket pairs: %s", strerror(errno));
		goto out;
	}
	s.mta_fd = mta[0];
	s.peer_fd = peer[1];
	h_timeouts(mta[0], tmo);
	h_timeouts(peer[1], tmo);
	h_timeouts(peer[0], tmo);
	ctx = h_ctx(o->role == H_INBOUND, o->tls_version, o->cipher, o->tickets);
	s.peer_ctx = h_ctx(o->role == H_OUTBOUND, o->tls_version, o->cipher, o->tickets);
	if (ctx && s.peer_ctx && o->hrr) {
		/* The client's first key share (X25519) is not the server's
		 * only group: the server must ask again. */
		SSL_CTX *cl = o->role == H_OUTBOUND ? ctx : s.peer_ctx;
		SSL_CTX *sv = o->role == H_OUTBOUND ? s.peer_ctx : ctx;

		if (!SSL_CTX_set1_groups_list(cl, "X25519:P-256") ||
		    !SSL_CTX_set1_groups_list(sv, "P-256"))
			h_err(res, "groups for HelloRetryRequest");
	}
	if (!ctx || !s.peer_ctx || res->error[0] || sl_ktls_ctx_init(ctx) < 0) {
		h_err(res, "SSL_CTX for %s failed", o->cipher);
		goto out;
	}
	if (pthread_create(&peer_t, NULL, h_partner_thread, &s) != 0)
		goto out;
	peer_started = true;

	c->fd = peer[0];
	ssl = h_ctl_handshake(&s, ctx, c, &trk, caps, &msg);
	res->server_hellos = msg.server_hellos;
	if (!ssl) {
		h_err(res, "controller: SMTP/TLS dialogue failed");
		goto out;
	}
	if (o->path != H_PATH_USERSPACE) {
		res->handoff = sl_ktls_offloadable(ssl, caps, NULL, res->why, sizeof(res->why));
		if (res->handoff == 0 && o->check_busy)
			res->busy = sl_ktls_handoff(ssl, &trk, caps, 1, &res->info);
		if (res->handoff == 0)
			res->handoff = sl_ktls_handoff(ssl, &trk, caps, c->len - c->off, &res->info);
	}
	res->active = sl_ktls_active(c->fd);
	if (res->handoff == 0) {
		SSL_free(ssl);		/* the kernel owns the session now */
		c->ssl = NULL;
	}
	sl_ktls_track_done(&trk);

	/* The MTA starts only now: its first bytes find the relay ready. */
	if (pthread_create(&mta_t, NULL, h_mta_thread, &s) != 0)
		goto out;
	mta_started = true;
	h_nonblock(mta[1], true);
	h_nonblock(peer[0], true);
	t0 = h_now(CLOCK_MONOTONIC);
	c0 = h_now(CLOCK_THREAD_CPUTIME_ID);
	deadline = t0 + tmo;
	if (res->handoff == 0)
		h_relay_pumps(&s, mta[1], peer[0], deadline);
	else
		h_relay_userspace(&s, ssl, mta[1], peer[0], deadline);
	res->cpu_s = h_now(CLOCK_THREAD_CPUTIME_ID) - c0;
	res->wall_s = h_now(CLOCK_MONOTONIC) - t0;
out:
	/* The controller ends the session: both sockets closed. */
	if (mta[1] >= 0)
		close(mta[1]);
	if (peer[0] >= 0)
		close(peer[0]);
	if (mta_started)
		pthread_join(mta_t, NULL);
	if (peer_started)
		pthread_join(peer_t, NULL);
	if (c) {
		SSL_free(c->ssl);
		free(c);
	}
	SSL_CTX_free(ctx);
	SSL_CTX_free(s.peer_ctx);
	ERR_clear_error();
	return !res->error[0] || res->handoff != 1;
}

/* ------------------------------------------------------------------ */
/* Memory per held connection                                          */

struct h_held {
	int fd;
	struct sl_pump up, down;
};

/* The partner of a held session, in a child process: TLS server up to
 * 235, then it waits for the end. */
static void h_held_partner(int fd, SSL_CTX *pctx)
{
	struct h_opts o = { .role = H_OUTBOUND };
	struct h_result r;
	struct h_session s = { .o = &o, .res = &r, .peer_ctx = pctx, .peer_fd = fd };
	struct h_conn *c = calloc(1, sizeof(*c));
	char line[1024];

	memset(&r, 0, sizeof(r));
	c->fd = fd;
	if (h_puts(c, "220 partner.test ESMTP\r\n") && h_expect(c, "EHLO ") &&
	    h_puts(c, "250-partner.test\r\n250 STARTTLS\r\n") && h_expect(c, "STARTTLS") &&
	    h_puts(c, "220 2.0.0 ready\r\n") && h_peer_tls(&s, c, true) &&
	    h_expect(c, "EHLO ") && h_puts(c, "250-partner.test\r\n250 AUTH PLAIN\r\n") &&
	    h_line(c, line, sizeof(line)) > 0 && h_puts(c, "235 2.7.0 ok\r\n"))
		while (SSL_read(c->ssl, line, sizeof(line)) > 0)
			;
	_exit(0);
}

long h_heap_per_session(int n, int tls_version, const char *cipher, char *err, size_t len)
{
	const struct sl_ktls_caps *caps = h_caps();
	struct h_opts o = { .role = H_OUTBOUND, .tls_version = tls_version, .cipher = cipher };
	struct h_result res;
	struct h_session s = { .o = &o, .res = &res };
	struct h_held *held = calloc((size_t)n + 1, sizeof(*held));
	pid_t *kids = calloc((size_t)n + 1, sizeof(*kids));
	SSL_CTX *ctx = h_ctx(false, tls_version, cipher, -1);
	SSL_CTX *pctx = h_ctx(true, tls_version, cipher, -1);
	size_t before = 0;
	long per = -1;
	int i, made = 0;

	memset(&res, 0, sizeof(res));
	if (!held || !kids || !ctx || !pctx || sl_ktls_ctx_init(ctx) < 0) {
		snprintf(err, len, "setup failed");
		goto out;
	}
	/* Session 0 warms OpenSSL's lazily built tables up; it is not counted. */
	for (i = 0; i <= n; i++) {
		struct h_conn *c = calloc(1, sizeof(*c));
		struct sl_ktls_track trk;
		struct h_msg msg;
		int fds[2];
		SSL *ssl;

		if (i == 1) {
			malloc_trim(0);
			before = mallinfo2().uordblks;
		}
		if (!c || h_tcp_pair(fds) < 0) {
			free(c);
			snprintf(err, len, "socket pair failed");
			goto out;
		}
		h_timeouts(fds[0], 60);
		kids[i] = fork();
		if (kids[i] == 0) {
			close(fds[0]);
			h_held_partner(fds[1], pctx);
		}
		close(fds[1]);
		c->fd = fds[0];
		ssl = h_ctl_handshake(&s, ctx, c, &trk, caps, &msg);
		if (!ssl || sl_ktls_handoff(ssl, &trk, caps, c->len - c->off, NULL) < 0) {
			snprintf(err, len, "session %d: handoff failed (%s)", i, res.error);
			SSL_free(c->ssl);
			free(c);
			close(fds[0]);
			goto out;
		}
		SSL_free(ssl);
		free(c);
		held[i].fd = fds[0];
		h_nonblock(fds[0], true);
		/* The MTA side is not needed to hold the memory a relay holds:
		 * the pumps' pipes and structs are what a session keeps. */
		sl_pump_init(&held[i].up, -1, fds[0], SL_PUMP_SPLICE, SL_PUMP_F_OUT_KTLS, 0);
		sl_pump_init(&held[i].down, fds[0], -1, SL_PUMP_SPLICE, SL_PUMP_F_IN_KTLS, 0);
		made = i + 1;
	}
	malloc_trim(0);
	per = ((long)mallinfo2().uordblks - (long)before) / n;
	/* Noise of OpenSSL's own caches can make it negative: nothing is kept. */
	if (per < 0)
		per = 0;
	/* The struct a session would embed fd and pumps in is not heap here
	 * (the array was allocated up front): count it as if it were. */
	per += (long)sizeof(struct h_held);
out:
	for (i = 0; i < made; i++) {
		sl_pump_done(&held[i].up);
		sl_pump_done(&held[i].down);
		close(held[i].fd);
	}
	for (i = 0; i <= n && kids; i++)
		if (kids[i] > 0)
			waitpid(kids[i], NULL, 0);
	free(held);
	free(kids);
	SSL_CTX_free(ctx);
	SSL_CTX_free(pctx);
	return per;
}

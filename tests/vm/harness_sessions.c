// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * harness_sessions.c — the real session code in the VM: a lib/outbound or
 * lib/inbound session (started with tests/unit/session.c, as the daemon
 * would) between the harness's parties — the partner threads of
 * harness.c and an MTA or backend here — so the handoff, the data path
 * choice and the relay are the ones the controller runs.  See harness.h;
 * held sessions (memory) in harness_held.c.
 */
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "harness.h"
#include "harness_int.h"
#include "pki.h"
#include "sasl.h"
#include "session.h"

struct hs_run {
	struct h_session s;		/* the partner's view (harness.c) */
	const struct hs_opts *o;
	struct hs_result *r;
	int lfd;			/* outbound: the partner's listener */
	int be_fd;			/* inbound: the backend's listener */
	unsigned tmo;
};

int hs_listener(struct sockaddr_in *sa)
{
	socklen_t len = sizeof(*sa);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	*sa = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (l >= 0 && (bind(l, (struct sockaddr *)sa, sizeof(*sa)) < 0 || listen(l, 64) < 0 ||
		       getsockname(l, (struct sockaddr *)sa, &len) < 0)) {
		close(l);
		return -1;
	}
	return l;
}

/* Outbound: the partner accepts the session's connection, then is
 * harness.c's SMTP server (AUTH, the checked transaction, the acts). */
static void *hs_partner_accept(void *arg)
{
	struct hs_run *hr = arg;

	hr->s.peer_fd = accept4(hr->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (hr->s.peer_fd < 0)
		return NULL;
	h_timeouts(hr->s.peer_fd, hr->tmo);
	return h_partner_thread(&hr->s);
}

/* Outbound: the MTA — the partner's greeting (or our 421), EHLO, then
 * the mail, then it watches the end of the stream. */
static void *hs_mta(void *arg)
{
	struct hs_run *hr = arg;
	struct hs_result *r = hr->r;
	struct h_conn *c = calloc(1, sizeof(*c));
	char b[256];
	ssize_t n;

	if (!c)
		return NULL;
	c->fd = hr->s.mta_fd;
	if (h_reply(c, "220", r->mta_first, sizeof(r->mta_first)) &&
	    h_puts(c, "EHLO mta.ours.test\r\n") && h_reply(c, "250", NULL, 0))
		r->h.sender_ok = h_send_mail(c, hr->o->body, r->h.mta_last, sizeof(r->h.mta_last));
	shutdown(c->fd, SHUT_WR);
	/* What is left after the last reply: nothing, then the end. */
	n = read(c->fd, b, sizeof(b));
	r->h.mta_eof = n == 0 || (n < 0 && errno == ECONNRESET);
	if (n > 0)
		snprintf(r->h.mta_last, sizeof(r->h.mta_last), "%.*s", (int)n, b);
	free(c);
	return NULL;
}

/* Inbound: the backend MTA — banner, the replayed EHLO, the checked
 * transaction. */
static void *hs_backend(void *arg)
{
	struct hs_run *hr = arg;
	struct h_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->fd = accept4(hr->be_fd, NULL, NULL, SOCK_CLOEXEC);
	if (c->fd >= 0) {
		h_timeouts(c->fd, hr->tmo);
		hr->r->backend_connected = true;
		if (h_puts(c, "220 backend.test ESMTP\r\n") && h_expect(c, "EHLO partner.test") &&
		    h_puts(c, "250-backend.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"))
			hr->r->h.receiver_ok = h_recv_mail(c, NULL, NULL, &hr->r->h, hr->o->body);
		h_peer_close(c);
		hr->r->h.mta_eof = true;
		close(c->fd);
	}
	free(c);
	return NULL;
}

void hs_policy(struct sl_partner *p, const struct hs_opts *o)
{
	*p = (struct sl_partner){ .domain = "partner.test", .mode = SL_MODE_ENFORCE,
				  .on_failure = SL_FAIL_DEFER, .has_auth = true };
	p->tls = (struct sl_tls_policy){ .min_version = (uint16_t)o->tls_version,
					 .verify = SL_VERIFY_NONE, .ktls = o->mode };
	if (o->tls_version == TLS1_3_VERSION)
		p->tls.ciphersuites = (char *)o->cipher;
	else
		p->tls.ciphers = (char *)o->cipher;
	p->auth = (struct sl_auth_policy){ .username = "ctl", .n_mechanisms = 1,
					   .mechanisms = { SL_SASL_PLAIN } };
}

static void hs_copy_out(struct hs_result *r, const char *result, const char *reason,
			enum sl_datapath path, const char *ktls, unsigned dirs, int socks)
{
	snprintf(r->result, sizeof(r->result), "%s", result ? result : "(none)");
	snprintf(r->reason, sizeof(r->reason), "%s", reason);
	snprintf(r->ktls, sizeof(r->ktls), "%s", ktls);
	r->path = path;
	r->ktls_dirs = dirs;
	r->ktls_socks = socks;
}

static void hs_outbound(struct hs_run *hr)
{
	const struct hs_opts *o = hr->o;
	struct hs_result *r = hr->r;
	struct ts_outbound t = { .password = "secret", .ktls_rw = o->rw,
				 .ktls_caps = o->caps ? o->caps : h_caps(),
				 .timeout_ms = (uint64_t)hr->tmo * 1000 };
	pthread_t pt, mt;
	bool p_started = false, m_started = false;
	int mta[2] = { -1, -1 };

	hs_policy(&t.partner, o);
	hr->lfd = hs_listener(&t.dst);
	if (hr->lfd < 0 || h_tcp_pair(mta) < 0) {
		h_err(&r->h, "sockets: %s", strerror(errno));
		goto out;
	}
	h_timeouts(mta[0], hr->tmo);
	h_nonblock(mta[1], true);
	hr->s.mta_fd = mta[0];
	t.mta_fd = mta[1];
	p_started = pthread_create(&pt, NULL, hs_partner_accept, hr) == 0;
	m_started = p_started && pthread_create(&mt, NULL, hs_mta, hr) == 0;
	if (!m_started) {
		h_err(&r->h, "threads");
		goto out;
	}
	r->start_err = ts_outbound_run(&t);	/* a started session closes mta[1] */
	if (!r->start_err)
		mta[1] = -1;
	if (r->start_err)
		h_err(&r->h, "session: %s %s", strerror(-r->start_err), t.ctx_reason);
	hs_copy_out(r, t.res.result, t.res.reason, t.res.path, t.res.ktls, t.ktls_dirs,
		    t.ktls_socks);
	r->bytes_up = t.res.bytes_up;
	r->bytes_down = t.res.bytes_down;
	r->auth_ok = t.res.auth && strcmp(t.res.auth, "ok") == 0;
out:
	if (hr->lfd >= 0)
		shutdown(hr->lfd, SHUT_RDWR);	/* a partner never connected to */
	if (mta[1] >= 0)
		close(mta[1]);
	if (m_started)
		pthread_join(mt, NULL);
	if (p_started)
		pthread_join(pt, NULL);
	if (mta[0] >= 0)
		close(mta[0]);
	if (hr->lfd >= 0)
		close(hr->lfd);
}

/* The server certificate and the partner's account, made once. */
static struct pki_cert hs_srv;
static char hs_dir[] = "/tmp/sl-vm-sessions.XXXXXX";
static char hs_hash[200];

bool hs_inbound_init(struct sl_account *acct, const char **cert, const char **key)
{
	static int done;

	if (!done)
		done = mkdtemp(hs_dir) && pki_leaf(&hs_srv, NULL, hs_dir, "srv", "us.test", "us.test") == 0 &&
		       sl_sasl_hash_password("secret", "$6$", 5000, hs_hash, sizeof(hs_hash)) >= 0 ? 1 : -1;
	*acct = (struct sl_account){ .username = "partner", .password_hash = hs_hash };
	*cert = hs_srv.cert_file;
	*key = hs_srv.key_file;
	return done == 1;
}

static void hs_inbound(struct hs_run *hr)
{
	const struct hs_opts *o = hr->o;
	struct hs_result *r = hr->r;
	struct sl_account acct;
	struct ts_inbound t = { .announce = SL_ANNOUNCE_NONE, .ktls_rw = o->rw,
				.ktls_caps = o->caps ? o->caps : h_caps(),
				.timeout_ms = (uint64_t)hr->tmo * 1000 };
	struct sockaddr_in be;
	struct sl_loop *loop = NULL;
	pthread_t pt, bt;
	bool p_started = false, b_started = false;
	int peer[2] = { -1, -1 };
	socklen_t len;

	if (!hs_inbound_init(&acct, &t.cert_file, &t.key_file)) {
		h_err(&r->h, "inbound: certificate or password hash");
		return;
	}
	hs_policy(&t.partner, o);
	t.partner.inbound = (struct sl_inbound_policy){
		.require = SL_REQUIRE_TLS | SL_REQUIRE_AUTH, .min_version = SL_TLS_1_2,
		.accounts = &acct, .n_accounts = 1 };
	hr->be_fd = hs_listener(&be);
	if (hr->be_fd < 0 || h_tcp_pair(peer) < 0 || sl_loop_new(1, &loop) < 0) {
		h_err(&r->h, "sockets: %s", strerror(errno));
		goto out;
	}
	memcpy(&t.backend, &be, sizeof(be));
	t.backend_len = sizeof(be);
	len = sizeof(t.peer);
	getpeername(peer[0], (struct sockaddr *)&t.peer, &len);
	len = sizeof(t.local);
	getsockname(peer[0], (struct sockaddr *)&t.local, &len);
	h_timeouts(peer[1], hr->tmo);
	h_nonblock(peer[0], true);
	hr->s.peer_fd = peer[1];
	t.fd = peer[0];
	b_started = pthread_create(&bt, NULL, hs_backend, hr) == 0;
	p_started = b_started && pthread_create(&pt, NULL, h_partner_thread, &hr->s) == 0;
	if (!p_started) {
		h_err(&r->h, "threads");
		goto out;
	}
	peer[1] = -1;				/* the partner thread closes it */
	r->start_err = ts_inbound_run(&t, loop);	/* a started session closes peer[0] */
	if (!r->start_err)
		peer[0] = -1;
	if (r->start_err)
		h_err(&r->h, "session: %s %s", strerror(-r->start_err), t.ctx_reason);
	hs_copy_out(r, t.res.result, t.res.reason, t.res.path, t.res.ktls, t.ktls_dirs,
		    t.ktls_socks);
	r->bytes_up = t.res.bytes_out;
	r->bytes_down = t.res.bytes_in;
	r->auth_ok = t.res.account[0] != 0;
	snprintf(r->mta_first, sizeof(r->mta_first), "%s", r->h.mta_last);
out:
	if (hr->be_fd >= 0)
		shutdown(hr->be_fd, SHUT_RDWR);
	if (peer[0] >= 0)
		close(peer[0]);
	if (p_started)
		pthread_join(pt, NULL);
	if (b_started)
		pthread_join(bt, NULL);
	if (peer[1] >= 0)
		close(peer[1]);
	if (hr->be_fd >= 0)
		close(hr->be_fd);
	sl_loop_free(loop);
}

bool hs_run(const struct hs_opts *o, struct hs_result *r)
{
	struct h_opts ho = { .role = o->role, .tls_version = o->tls_version, .cipher = o->cipher,
			     .body = o->body, .tickets = -1, .act = o->act };
	struct hs_run hr = { .o = o, .r = r, .lfd = -1, .be_fd = -1,
			     .tmo = o->timeout_s ? o->timeout_s : 120 };
	double t0 = h_now(CLOCK_MONOTONIC);

	h_caps();
	memset(r, 0, sizeof(*r));
	hr.s.o = &ho;
	hr.s.res = &r->h;
	hr.s.mta_fd = hr.s.peer_fd = -1;
	/* The partner is the TLS server for outbound sessions, the client
	 * for inbound ones. */
	hr.s.peer_ctx = h_ctx(o->role == H_OUTBOUND, o->tls_version, o->cipher, -1);
	if (!hr.s.peer_ctx) {
		h_err(&r->h, "partner SSL_CTX for %s", o->cipher);
		return false;
	}
	if (o->role == H_OUTBOUND)
		hs_outbound(&hr);
	else
		hs_inbound(&hr);
	SSL_CTX_free(hr.s.peer_ctx);
	ERR_clear_error();
	r->wall_s = h_now(CLOCK_MONOTONIC) - t0;
	return !r->h.error[0];
}

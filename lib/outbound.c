/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * outbound.c — the outbound session state machine; see outbound.h.
 *
 * One traced transition function (sl_ob_enter) and one function per
 * awaited event.  Every path that cannot meet the policy ends in
 * sl_ob_fail(), whose only exits are a 4xx/5xx to the MTA and a close:
 * there is no branch that relays the MTA's bytes over a leg that is not
 * TLS-protected, verified and authenticated, except mode: testing with a
 * partner that offers no TLS at all (documented in DESIGN.md).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "addr.h"
#include "outbound.h"
#include "sasl.h"
#include "smtp.h"

#define SL_OB_OUT_MAX	(SL_SMTP_REPLY_SIZE_MAX + 1024)	/* greeting + caps */
#define SL_OB_WHY	128				/* a kTLS reason */

#define SL_OB_STATES(X)			\
	X(CONNECT, "connect")		\
	X(GREETING, "greeting")		\
	X(EHLO, "ehlo")			\
	X(STARTTLS, "starttls")		\
	X(TLS, "tls")			\
	X(EHLO_TLS, "ehlo-tls")		\
	X(AUTH, "auth")			\
	X(QUIT, "quit")			\
	X(MTA_GREET, "mta-greet")	\
	X(MTA_EHLO, "mta-ehlo")		\
	X(RELAY, "relay")		\
	X(REJECTING, "rejecting")	\
	X(CLOSING, "closing")		\
	X(DONE, "done")

enum sl_ob_state {
#define SL_OB_ENUM(n, s) SL_OB_##n,
	SL_OB_STATES(SL_OB_ENUM)
#undef SL_OB_ENUM
};

static const char *const sl_ob_state_names[] = {
#define SL_OB_NAME(n, s) s,
	SL_OB_STATES(SL_OB_NAME)
#undef SL_OB_NAME
};

/* What kind of failure: decides the enhanced status code. */
enum sl_ob_fail {
	SL_OBF_NET,		/* 4.4.x: connect, timeout, connection lost */
	SL_OBF_NOTLS,		/* x.7.4: security feature not offered */
	SL_OBF_CRYPTO,		/* x.7.5: TLS version, cipher, certificate */
	SL_OBF_AUTH,		/* x.7.8: credentials rejected */
	SL_OBF_PROTO,		/* x.5.0: protocol violation by the peer */
};

struct sl_outbound {
	struct sl_outbound_env env;
	struct sl_outbound_params p;
	struct sl_outbound_result res;
	enum sl_ob_state state;
	uint64_t t0;

	int pfd;			/* partner socket */
	struct sl_io pio, mio;
	struct sl_timer timer;
	SSL *ssl;
	struct sl_tls_obs obs;
	struct sl_ktls_track ktrk;	/* record counts and secrets for the handoff */
	bool ktls_up;			/* the kernel owns the TLS session (ssl freed) */
	bool testing;
	bool plain_retry;		/* testing: reconnected to continue without TLS */
	bool tls_up;

	struct sl_smtp_reply_parser rp;	/* partner replies */
	struct sl_smtp_linebuf ml;	/* MTA lines before the relay */
	char *pout;			/* a command to the partner (SL_SASL_LINE_MAX);
					   the handshake's only: freed at the relay */
	size_t pout_off, pout_len;
	char *mout;			/* replies to the MTA */
	size_t mout_off, mout_len;

	char *greeting;			/* partner's 220, as the MTA will see it */
	char *caps;			/* EHLO reply for the MTA */
	struct sl_ehlo ehlo;
	struct sl_sasl_client *sasl;

	struct sl_relay relay;
	struct sl_job free_job;
	bool finished;
};

static void sl_ob_advance(struct sl_outbound *s);
static void sl_ob_fail(struct sl_outbound *s, enum sl_ob_fail kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- small helpers ------------------------------------------------------ */

static void sl_ob_step(struct sl_outbound *s, const char *step, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void sl_ob_step(struct sl_outbound *s, const char *step, const char *fmt, ...)
{
	char buf[600];
	va_list ap;

	if (!s->env.step)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	s->env.step(s->env.arg, s, step, buf);
}

static void sl_ob_enter(struct sl_outbound *s, enum sl_ob_state st)
{
	s->state = st;
	if (st != SL_OB_RELAY && st != SL_OB_DONE) {
		uint64_t ms = st == SL_OB_CONNECT ? s->env.connect_timeout_ms : s->env.timeout_ms;

		sl_timer_arm(s->env.loop, &s->timer, ms);
	} else {
		sl_timer_cancel(s->env.loop, &s->timer);
	}
}

static void sl_ob_pout_free(struct sl_outbound *s)
{
	if (s->pout)
		OPENSSL_cleanse(s->pout, SL_SASL_LINE_MAX);
	free(s->pout);
	s->pout = NULL;
	s->pout_off = s->pout_len = 0;
}

/* Queue one command line for the partner (plain or TLS). */
static int sl_ob_send(struct sl_outbound *s, const char *line, size_t len)
{
	if (s->pout_len || len > SL_SASL_LINE_MAX)
		return -EBUSY;	/* one command at a time: we never pipeline */
	if (!s->pout) {
		s->pout = malloc(SL_SASL_LINE_MAX);
		if (!s->pout)
			return -ENOMEM;
	}
	memcpy(s->pout, line, len);
	s->pout_off = 0;
	s->pout_len = len;
	return 0;
}

static int sl_ob_sendf(struct sl_outbound *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int sl_ob_sendf(struct sl_outbound *s, const char *fmt, ...)
{
	char buf[SL_SMTP_CMD_LINE_MAX + 1];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return -E2BIG;
	return sl_ob_send(s, buf, (size_t)n);
}

/* Queue bytes for the MTA. */
static int sl_ob_mta_put(struct sl_outbound *s, const char *data, size_t len)
{
	if (s->p.mta_fd < 0)
		return 0;
	if (!s->mout) {
		s->mout = malloc(SL_OB_OUT_MAX);
		if (!s->mout)
			return -ENOMEM;
	}
	if (s->mout_off && !s->mout_len)
		s->mout_off = 0;
	if (s->mout_off + s->mout_len + len > SL_OB_OUT_MAX)
		return -ENOSPC;
	memcpy(s->mout + s->mout_off + s->mout_len, data, len);
	s->mout_len += len;
	return 0;
}

/* Try to write pending MTA bytes: 1 = all written, 0 = blocked, <0 error. */
static int sl_ob_mta_flush(struct sl_outbound *s)
{
	while (s->mout_len) {
		ssize_t n = send(s->p.mta_fd, s->mout + s->mout_off, s->mout_len, MSG_NOSIGNAL);

		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		s->mout_off += (size_t)n;
		s->mout_len -= (size_t)n;
	}
	s->mout_off = 0;
	return 1;
}

/* The partner leg's I/O: OpenSSL after STARTTLS, the socket before. */
#define SL_OB_WANT_READ	(-1000)
#define SL_OB_WANT_WRITE (-1001)

static ssize_t sl_ob_tls_err(struct sl_outbound *s, int ret)
{
	switch (SSL_get_error(s->ssl, ret)) {
	case SSL_ERROR_WANT_READ: return SL_OB_WANT_READ;
	case SSL_ERROR_WANT_WRITE: return SL_OB_WANT_WRITE;
	case SSL_ERROR_ZERO_RETURN: return 0;
	default: return -EPROTO;
	}
}

static ssize_t sl_ob_pread(struct sl_outbound *s, char *buf, size_t len)
{
	ssize_t n;

	if (s->ssl) {
		int r = SSL_read(s->ssl, buf, (int)len);

		return r > 0 ? r : sl_ob_tls_err(s, r);
	}
	n = recv(s->pfd, buf, len, 0);
	if (n < 0)
		return errno == EAGAIN ? SL_OB_WANT_READ : -errno;
	return n;
}

static ssize_t sl_ob_pwrite(struct sl_outbound *s, const char *buf, size_t len)
{
	ssize_t n;

	if (s->ssl) {
		int r = SSL_write(s->ssl, buf, (int)len);

		return r > 0 ? r : sl_ob_tls_err(s, r);
	}
	n = send(s->pfd, buf, len, MSG_NOSIGNAL);
	if (n < 0)
		return errno == EAGAIN ? SL_OB_WANT_WRITE : -errno;
	return n;
}

/* ---- the end of a session ------------------------------------------------ */

static void sl_ob_free(void *arg)
{
	struct sl_outbound *s = arg;

	sl_relay_stop(&s->relay);
	sl_loop_del(s->env.loop, &s->pio);
	sl_loop_del(s->env.loop, &s->mio);
	sl_timer_cancel(s->env.loop, &s->timer);
	SSL_free(s->ssl);
	sl_ktls_track_done(&s->ktrk);
	if (s->pfd >= 0)
		close(s->pfd);
	if (s->p.mta_fd >= 0)
		close(s->p.mta_fd);
	sl_sasl_client_free(s->sasl);
	sl_smtp_reply_parser_done(&s->rp);
	sl_smtp_linebuf_done(&s->ml);
	sl_ob_pout_free(s);
	free(s->mout);
	free(s->greeting);
	free(s->caps);
	free(s);
	ERR_clear_error();
}

/* Report once, then free after the current loop batch. */
static void sl_ob_finish(struct sl_outbound *s, const char *result)
{
	if (s->finished)
		return;
	s->finished = true;
	s->state = SL_OB_DONE;
	if (!s->res.result)
		s->res.result = result;
	s->res.ms = sl_now_ms() - s->t0;
	sl_relay_stop(&s->relay);
	sl_loop_del(s->env.loop, &s->pio);
	sl_loop_del(s->env.loop, &s->mio);
	sl_timer_cancel(s->env.loop, &s->timer);
	if (s->env.done)
		s->env.done(s->env.arg, s);
	s->free_job = (struct sl_job){ .done = sl_ob_free, .arg = s };
	sl_loop_defer(s->env.loop, &s->free_job);
}

static void sl_ob_on_mta_closing(struct sl_loop *loop, int fd, uint32_t ev, void *arg);

/*
 * The one exit for a session that cannot meet the policy: tell the MTA
 * why (4xx, or 5xx with on_failure: reject), close the partner leg, end.
 */
static void sl_ob_fail(struct sl_outbound *s, enum sl_ob_fail kind, const char *fmt, ...)
{
	static const char *const esc4[] = { "4.4.2", "4.7.4", "4.7.5", "4.7.8", "4.5.0" };
	static const char *const esc5[] = { "5.4.2", "5.7.4", "5.7.5", "5.7.8", "5.5.0" };
	bool reject = s->p.partner->on_failure == SL_FAIL_REJECT && kind != SL_OBF_NET;
	char line[SL_SMTP_OUT_LINE_MAX + 1];
	va_list ap;

	if (s->finished || s->state == SL_OB_CLOSING || s->state == SL_OB_REJECTING)
		return;
	va_start(ap, fmt);
	vsnprintf(s->res.reason, sizeof(s->res.reason), fmt, ap);
	va_end(ap);
	sl_ob_step(s, "fail", "%s", s->res.reason);
	/* The partner leg is done with: no further byte goes there. */
	sl_loop_del(s->env.loop, &s->pio);
	SSL_free(s->ssl);
	s->ssl = NULL;
	if (s->pfd >= 0)
		close(s->pfd);
	s->pfd = -1;

	if (s->p.mta_fd < 0) {		/* probe */
		sl_ob_finish(s, "fail");
		return;
	}
	if (sl_smtp_format_failure(line, sizeof(line), reject ? 554 : 421,
				   reject ? esc5[kind] : esc4[kind],
				   s->p.partner->domain, s->res.reason) < 0)
		snprintf(line, sizeof(line), "421 4.3.0 smtplock: internal error\r\n");
	snprintf(s->res.reply, sizeof(s->res.reply), "%.*s", (int)strcspn(line, "\r\n"), line);
	s->res.result = reject ? "rejected" : "deferred";

	if (reject) {
		/* 5xx at the greeting makes MTAs try the next MX and defer;
		 * a rejection that bounces must come at MAIL/RCPT, so greet
		 * and answer every transaction command with the 5xx. */
		char greet[300];

		snprintf(greet, sizeof(greet), "220 %s smtplock ESMTP\r\n", s->env.hostname);
		if (!s->ml.buf && sl_smtp_linebuf_init(&s->ml, SL_SMTP_CMD_LINE_MAX,
							SL_SMTP_LINE_BARE_LF) < 0) {
			sl_ob_finish(s, s->res.result);
			return;
		}
		s->mout_len = s->mout_off = 0;
		sl_ob_mta_put(s, greet, strlen(greet));
		sl_ob_enter(s, SL_OB_REJECTING);
	} else {
		s->mout_len = s->mout_off = 0;
		sl_ob_mta_put(s, line, strlen(line));
		sl_ob_enter(s, SL_OB_CLOSING);
	}
	sl_loop_del(s->env.loop, &s->mio);
	if (sl_loop_add(s->env.loop, &s->mio, s->p.mta_fd, EPOLLIN | EPOLLOUT,
			sl_ob_on_mta_closing, s) < 0)
		sl_ob_finish(s, s->res.result);
}

/* CLOSING: write the 421 and close.  REJECTING: a tiny SMTP server that
 * answers every transaction with the 5xx until the MTA quits. */
static void sl_ob_on_mta_closing(struct sl_loop *loop, int fd, uint32_t ev, void *arg)
{
	struct sl_outbound *s = arg;
	const char *line;
	size_t len;
	char rbuf[SL_SMTP_OUT_LINE_MAX + 1], *space;
	ssize_t n;
	int r;

	(void)loop;
	(void)ev;
	r = sl_ob_mta_flush(s);
	if (r < 0) {
		sl_ob_finish(s, s->res.result);
		return;
	}
	if (s->state == SL_OB_CLOSING) {
		if (r == 1) {
			shutdown(fd, SHUT_WR);
			sl_ob_finish(s, s->res.result);
		} else {
			sl_loop_mod(s->env.loop, &s->mio, EPOLLOUT);
		}
		return;
	}
	/* REJECTING */
	for (;;) {
		size_t room = sl_smtp_linebuf_space(&s->ml, &space);

		if (!room)
			break;
		n = recv(fd, space, room, 0);
		if (n == 0) {
			sl_ob_finish(s, s->res.result);
			return;
		}
		if (n < 0)
			break;
		sl_smtp_linebuf_commit(&s->ml, (size_t)n);
		while ((r = sl_smtp_linebuf_next(&s->ml, &line, &len)) != 0) {
			struct sl_smtp_cmd cmd = { 0 };

			if (r < 0 || sl_smtp_cmd_parse(line, len, &cmd) < 0)
				cmd.verb = SL_SMTP_UNKNOWN;
			switch (cmd.verb) {
			case SL_SMTP_EHLO:
			case SL_SMTP_HELO:
				snprintf(rbuf, sizeof(rbuf), "250 %s\r\n", s->env.hostname);
				break;
			case SL_SMTP_QUIT:
				snprintf(rbuf, sizeof(rbuf), "221 2.0.0 Bye\r\n");
				sl_ob_mta_put(s, rbuf, strlen(rbuf));
				sl_ob_enter(s, SL_OB_CLOSING);
				sl_ob_on_mta_closing(loop, fd, EPOLLOUT, s);
				return;
			case SL_SMTP_NOOP:
			case SL_SMTP_RSET:
				snprintf(rbuf, sizeof(rbuf), "250 2.0.0 OK\r\n");
				break;
			default:
				snprintf(rbuf, sizeof(rbuf), "%s\r\n", s->res.reply);
				break;
			}
			if (sl_ob_mta_put(s, rbuf, strlen(rbuf)) < 0) {
				sl_ob_finish(s, s->res.result);
				return;
			}
		}
	}
	r = sl_ob_mta_flush(s);
	if (r < 0) {
		sl_ob_finish(s, s->res.result);
		return;
	}
	sl_loop_mod(s->env.loop, &s->mio, r == 1 ? EPOLLIN : EPOLLIN | EPOLLOUT);
}

/* mode: testing — note what would have failed, and go on. */
static void sl_ob_would_defer(struct sl_outbound *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void sl_ob_would_defer(struct sl_outbound *s, const char *fmt, ...)
{
	va_list ap;

	if (s->res.would_defer[0])
		return;		/* the first reason is the one that matters */
	va_start(ap, fmt);
	vsnprintf(s->res.would_defer, sizeof(s->res.would_defer), fmt, ap);
	va_end(ap);
	sl_ob_step(s, "would_defer", "%s", s->res.would_defer);
}

/* ---- kernel TLS ---------------------------------------------------------- */

/* The SSL exists, the handshake has not begun: the message callback
 * feeds the tracker when the policy may hand this session to the kernel.
 * A failure to bind (-ENOMEM) leaves the tracker unbound, which the
 * switch reports ("not prepared"): a required policy still fails. */
static void sl_ob_ktls_bind(struct sl_outbound *s)
{
	sl_ktls_track_init(&s->ktrk);
	if (s->p.partner->tls.ktls == SL_KTLS_OFF || !s->p.tls->ktls)
		return;
	if (sl_ktls_track_bind(s->ssl, &s->ktrk, s->env.ktls_caps, s->p.partner->tls.ktls) == 0)
		s->obs.ktls = &s->ktrk;
}

/* kTLS required and impossible: fail (4.7.5), or note it in testing. */
static int sl_ob_ktls_unavailable(struct sl_outbound *s, const char *why)
{
	snprintf(s->res.ktls, sizeof(s->res.ktls), "%s", why);
	if (!s->testing) {
		sl_ob_fail(s, SL_OBF_CRYPTO, "kernel TLS required but unavailable: %s", why);
		return -1;
	}
	sl_ob_would_defer(s, "kernel TLS required but unavailable: %s", why);
	return 0;
}

/* Right after the handshake: a policy that requires kTLS fails now when
 * the kernel can never take this session, before AUTH spends the
 * credentials on a session that could not be relayed. */
static int sl_ob_ktls_check(struct sl_outbound *s)
{
	char why[SL_OB_WHY];

	if (s->p.partner->tls.ktls != SL_KTLS_REQUIRED ||
	    sl_ktls_session_check(s->ssl, &s->ktrk, s->env.ktls_caps, SL_KTLS_REQUIRED,
				  NULL, why, sizeof(why)) == 0)
		return 0;
	return sl_ob_ktls_unavailable(s, why);
}

/* Probe: what the session would have done, without doing it. */
static void sl_ob_ktls_probe(struct sl_outbound *s)
{
	struct sl_ktls_info info;
	char why[SL_OB_WHY];

	if (!s->ssl)
		return;
	if (sl_ktls_session_check(s->ssl, &s->ktrk, s->env.ktls_caps, s->p.partner->tls.ktls,
				  &info, why, sizeof(why)) == 0)
		snprintf(s->res.ktls, sizeof(s->res.ktls), "would offload %s %s",
			 s->res.tls, sl_ktls_cipher_name(info.cipher));
	else
		snprintf(s->res.ktls, sizeof(s->res.ktls), "%s", why);
	sl_ktls_track_done(&s->ktrk);
	s->obs.ktls = NULL;
}

/*
 * After AUTH, nothing unread (the reply parser was checked; OpenSSL's own
 * buffer is the handoff's check): hand the session to the kernel and free
 * OpenSSL's objects, or stay in userspace with the reason, or fail.
 * -1 when the session failed.
 */
static int sl_ob_ktls_switch(struct sl_outbound *s)
{
	struct sl_ktls_info info;
	char why[SL_OB_WHY];
	int r;

	if (!s->ssl)
		return 0;	/* mode testing, partner without TLS: plain */
	s->obs.ktls = NULL;
	r = sl_ktls_session_switch(s->ssl, &s->ktrk, s->env.ktls_caps, s->p.partner->tls.ktls,
				   0, &info, why, sizeof(why));
	sl_ktls_track_done(&s->ktrk);	/* the secrets are in the kernel or unused now */
	if (r == 0) {
		SSL_free(s->ssl);	/* no close_notify: the kernel goes on */
		s->ssl = NULL;
		s->ktls_up = true;
		sl_ktls_info_str(&info, s->res.ktls, sizeof(s->res.ktls));
		sl_ob_step(s, "ktls", "%s", s->res.ktls);
		return 0;
	}
	if (r == -ENOTRECOVERABLE) {
		snprintf(s->res.ktls, sizeof(s->res.ktls), "%s", why);
		sl_ob_fail(s, SL_OBF_CRYPTO, "kernel TLS handoff failed: %s", why);
		return -1;
	}
	if (r < 0)
		return sl_ob_ktls_unavailable(s, why);
	snprintf(s->res.ktls, sizeof(s->res.ktls), "%s", why);
	sl_ob_step(s, "ktls", "userspace: %s", why);
	return 0;
}

/* ---- the partner handshake ------------------------------------------------ */

static void sl_ob_on_partner(struct sl_loop *loop, int fd, uint32_t ev, void *arg);

static int sl_ob_connect(struct sl_outbound *s)
{
	int fd, r;

	fd = socket(s->p.dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* Tag before connect(): an untagged socket would be redirected to
	 * us again, and the guard would drop its payload. */
	r = s->env.tag(s->env.arg, fd, SL_SOCK_PRE_TLS, s->p.policy_id);
	if (r < 0) {
		close(fd);
		return r;
	}
	if (connect(fd, (const struct sockaddr *)&s->p.dst, s->p.dst_len) < 0 &&
	    errno != EINPROGRESS) {
		r = -errno;
		close(fd);
		return r;
	}
	s->pfd = fd;
	return sl_loop_add(s->env.loop, &s->pio, fd, EPOLLOUT, sl_ob_on_partner, s);
}

/*
 * Before TLS, a partner speaks only when asked.  Bytes that follow a
 * reply before we sent the next command are someone else's: read as the
 * reply to that command, an injected "220" makes us start TLS while the
 * real reply arrives as the handshake's first bytes, an injected EHLO
 * reply hides STARTTLS (the NO STARTTLS study's response injection).
 * Refuse the partner — in testing mode too: this is an attack on the
 * session, not a policy point.  True when the session failed.
 */
static bool sl_ob_unsolicited(struct sl_outbound *s, const char *when)
{
	size_t n = sl_smtp_reply_parser_pending(&s->rp);

	if (!n)
		return false;
	sl_ob_fail(s, SL_OBF_CRYPTO, "peer sent unsolicited data %s (%zu bytes, possible "
		   "response injection)", when, n);
	return true;
}

/* Handle one complete partner reply in the current state. */
static void sl_ob_on_reply(struct sl_outbound *s, const struct sl_smtp_reply *rep)
{
	char sum[300];
	char line[SL_SASL_LINE_MAX];
	enum sl_sasl_mech mech;
	int r;

	sl_smtp_reply_summary(rep, sum, sizeof(sum));
	switch (s->state) {
	case SL_OB_GREETING:
		sl_ob_step(s, "greeting", "%s", sum);
		if (rep->code != 220) {
			sl_ob_fail(s, SL_OBF_PROTO, "partner greeted with %s", sum);
			return;
		}
		if (!s->greeting) {
			const char *lines[SL_SMTP_REPLY_LINES_MAX];
			char *g = malloc(SL_SMTP_REPLY_SIZE_MAX);

			for (size_t i = 0; i < rep->n_lines && i < SL_SMTP_REPLY_LINES_MAX; i++)
				lines[i] = rep->lines[i];
			if (!g || sl_smtp_format_multiline(g, SL_SMTP_REPLY_SIZE_MAX, 220,
							   lines, rep->n_lines) < 0) {
				free(g);
				sl_ob_fail(s, SL_OBF_PROTO, "cannot relay the partner's greeting");
				return;
			}
			s->greeting = g;
		}
		if (sl_ob_unsolicited(s, "after its greeting"))
			return;
		sl_ob_sendf(s, "EHLO %s\r\n", s->env.hostname);
		sl_ob_enter(s, SL_OB_EHLO);
		return;

	case SL_OB_EHLO:
		if (rep->code != 250) {
			sl_ob_fail(s, SL_OBF_PROTO, "EHLO rejected: %s", sum);
			return;
		}
		sl_ehlo_parse(rep, &s->ehlo);
		sl_ob_step(s, "ehlo", "%s", sum);
		if (s->plain_retry || !(s->ehlo.caps & SL_EHLO_STARTTLS)) {
			if (!s->testing) {
				sl_ob_fail(s, SL_OBF_NOTLS, "peer offered no STARTTLS");
				return;
			}
			/* The one plaintext path: mode testing, no TLS at all. */
			sl_ob_would_defer(s, "peer offered no STARTTLS");
			r = sl_ehlo_filter(rep, NULL, line, sizeof(line));
			s->caps = r > 0 ? strdup(line) : NULL;
			s->res.path = SL_DATAPATH_PLAIN;
			sl_ob_enter(s, s->p.mta_fd < 0 ? SL_OB_QUIT : SL_OB_MTA_GREET);
			if (s->p.mta_fd < 0)
				sl_ob_sendf(s, "QUIT\r\n");
			return;
		}
		if (sl_ob_unsolicited(s, "before STARTTLS"))
			return;
		sl_ob_sendf(s, "STARTTLS\r\n");
		sl_ob_enter(s, SL_OB_STARTTLS);
		return;

	case SL_OB_STARTTLS:
		sl_ob_step(s, "starttls", "%s", sum);
		if (rep->code != 220) {
			if (s->testing) {
				sl_ob_would_defer(s, "STARTTLS refused: %s", sum);
				s->plain_retry = true;
				sl_ob_sendf(s, "EHLO %s\r\n", s->env.hostname);
				sl_ob_enter(s, SL_OB_EHLO);
				return;
			}
			sl_ob_fail(s, SL_OBF_NOTLS, "STARTTLS refused: %s", sum);
			return;
		}
		/* CVE-2011-0411 class: bytes after the 220 were sent in the
		 * clear, outside the TLS session to come.  They are never
		 * read as replies; a partner that sends them is broken or
		 * attacked, and we do not hand it the MTA's mail.  (Bytes
		 * still in flight make the handshake fail as non-TLS.) */
		if (sl_smtp_reply_parser_pending(&s->rp)) {
			sl_ob_fail(s, SL_OBF_CRYPTO, "peer sent plaintext after its STARTTLS "
				   "reply (%zu bytes, possible injection)",
				   sl_smtp_reply_parser_pending(&s->rp));
			return;
		}
		sl_smtp_reply_parser_reset(&s->rp);
		r = s->env.tag(s->env.arg, s->pfd, SL_SOCK_TLS, s->p.policy_id);
		if (r < 0) {
			sl_ob_fail(s, SL_OBF_NET, "cannot tag the socket for TLS: %s", strerror(-r));
			return;
		}
		{
			char reason[SL_TLS_REASON_MAX];

			r = sl_tls_client_new(s->p.tls, s->pfd, s->p.mx, s->p.tlsa, s->p.n_tlsa,
					      &s->obs, &s->ssl, reason, sizeof(reason));
			if (r < 0) {
				sl_ob_fail(s, SL_OBF_CRYPTO, "%s", reason);
				return;
			}
			sl_ob_ktls_bind(s);
		}
		sl_ob_enter(s, SL_OB_TLS);
		return;

	case SL_OB_EHLO_TLS:
		if (rep->code != 250) {
			sl_ob_fail(s, SL_OBF_PROTO, "EHLO after STARTTLS rejected: %s", sum);
			return;
		}
		memset(&s->ehlo, 0, sizeof(s->ehlo));
		sl_ehlo_parse(rep, &s->ehlo);
		sl_ob_step(s, "ehlo-tls", "%s", sum);
		r = sl_ehlo_filter(rep, NULL, line, sizeof(line));
		if (r < 0) {
			sl_ob_fail(s, SL_OBF_PROTO, "cannot relay the partner's EHLO reply");
			return;
		}
		free(s->caps);
		s->caps = strdup(line);
		if (!s->p.partner->has_auth) {
			s->res.auth = "none";
			goto ready;
		}
		r = sl_sasl_choose(s->ehlo.auth_mechs, s->p.partner->auth.mechanisms,
				   s->p.partner->auth.n_mechanisms);
		if (r < 0) {
			if (s->testing) {
				sl_ob_would_defer(s, "peer offers no AUTH mechanism we allow");
				s->res.auth = "fail";
				goto ready;
			}
			sl_ob_fail(s, SL_OBF_NOTLS, "peer offers no AUTH mechanism we allow");
			return;
		}
		mech = (enum sl_sasl_mech)r;
		r = sl_sasl_client_new(mech, s->p.partner->auth.username,
				       s->p.password ? s->p.password : "", &s->sasl);
		if (r < 0 || (r = sl_sasl_client_start(s->sasl, line, sizeof(line))) < 0) {
			sl_ob_fail(s, SL_OBF_AUTH, "cannot start AUTH: %s", sl_sasl_strerror(r));
			return;
		}
		sl_ob_step(s, "auth", "AUTH %s as %s", sl_sasl_mech_name(mech),
			   s->p.partner->auth.username);
		sl_ob_send(s, line, (size_t)r);
		OPENSSL_cleanse(line, sizeof(line));
		sl_ob_enter(s, SL_OB_AUTH);
		return;

	case SL_OB_AUTH:
		r = sl_sasl_client_step(s->sasl, rep, line, sizeof(line));
		if (r > 0) {
			sl_ob_send(s, line, (size_t)r);
			OPENSSL_cleanse(line, sizeof(line));
			return;
		}
		s->sasl = sl_sasl_client_free(s->sasl);
		if (r < 0) {
			s->res.auth = "fail";
			if (s->testing) {
				sl_ob_would_defer(s, "AUTH rejected: %s", sum);
				goto ready;
			}
			if (r == -SL_SASL_E_REJECTED)
				sl_ob_fail(s, SL_OBF_AUTH, "AUTH rejected: %s", sum);
			else
				sl_ob_fail(s, SL_OBF_AUTH, "AUTH failed: %s", sl_sasl_strerror(r));
			return;
		}
		s->res.auth = "ok";
		sl_ob_step(s, "auth", "%s", sum);
		goto ready;

	case SL_OB_QUIT:
		sl_ob_step(s, "quit", "%s", sum);
		sl_ob_finish(s, s->res.would_defer[0] ? "fail" : "pass");
		return;

	default:
		sl_ob_fail(s, SL_OBF_PROTO, "unexpected reply in state %s: %s",
			   sl_ob_state_names[s->state], sum);
		return;
	}

ready:
	/* Nothing may be pending: a partner that talks before being asked
	 * is not one we relay the MTA's session to. */
	if (sl_smtp_reply_parser_pending(&s->rp)) {
		sl_ob_fail(s, SL_OBF_PROTO, "partner sent unsolicited data after AUTH");
		return;
	}
	if (s->p.mta_fd < 0) {
		sl_ob_ktls_probe(s);
		sl_ob_sendf(s, "QUIT\r\n");
		sl_ob_enter(s, SL_OB_QUIT);
		return;
	}
	/* AUTH is done and nothing is unread: the session goes to the
	 * kernel now (or stays in userspace, or fails, as the policy says). */
	if (sl_ob_ktls_switch(s) < 0)
		return;
	sl_ob_enter(s, SL_OB_MTA_GREET);
}

static void sl_ob_tls_handshake(struct sl_outbound *s)
{
	char reason[SL_TLS_REASON_MAX];
	const char *verified = "none";
	uint32_t want;
	int r = sl_tls_handshake(s->ssl, &want);

	if (r == 0) {
		sl_loop_mod(s->env.loop, &s->pio, want);
		return;
	}
	if (r < 0) {
		sl_tls_failure_reason(s->ssl, s->p.tls, &s->obs, reason, sizeof(reason));
		s->res.verify = "fail";
		if (s->testing && !s->plain_retry) {
			/* The connection is spent; start over without TLS. */
			sl_ob_would_defer(s, "%s", reason);
			sl_loop_del(s->env.loop, &s->pio);
			SSL_free(s->ssl);
			s->ssl = NULL;
			close(s->pfd);
			s->pfd = -1;
			s->plain_retry = true;
			sl_smtp_reply_parser_reset(&s->rp);
			s->pout_len = 0;
			if ((r = sl_ob_connect(s)) < 0)
				sl_ob_fail(s, SL_OBF_NET, "reconnect failed: %s", strerror(-r));
			else
				sl_ob_enter(s, SL_OB_CONNECT);
			return;
		}
		sl_ob_fail(s, SL_OBF_CRYPTO, "%s", reason);
		return;
	}
	s->tls_up = true;
	sl_tls_describe(s->ssl, s->res.tls, sizeof(s->res.tls), s->res.cipher, sizeof(s->res.cipher));
	sl_ob_step(s, "tls", "%s %s", s->res.tls, s->res.cipher);
	if (s->p.tls->verify == SL_VERIFY_DANE && !s->p.tlsa_secure) {
		/* Never reached with a lenient context: DANE without DNSSEC is
		 * no authentication at all. */
		if (!s->testing) {
			sl_ob_fail(s, SL_OBF_CRYPTO, "TLSA answer not DNSSEC-validated (no AD bit)");
			return;
		}
		sl_ob_would_defer(s, "TLSA answer not DNSSEC-validated (no AD bit)");
	}
	if (sl_tls_check_peer(s->ssl, s->p.tls, reason, sizeof(reason), &verified) < 0) {
		s->res.verify = "fail";
		if (!s->testing) {
			sl_ob_fail(s, SL_OBF_CRYPTO, "%s", reason);
			return;
		}
		sl_ob_would_defer(s, "%s", reason);
	} else {
		s->res.verify = verified;
	}
	sl_ob_step(s, "verify", "%s", s->res.verify);
	if (sl_ob_ktls_check(s) < 0)
		return;
	sl_ob_sendf(s, "EHLO %s\r\n", s->env.hostname);
	sl_ob_enter(s, SL_OB_EHLO_TLS);
}

/* ---- the MTA side before the relay ------------------------------------------ */

static void sl_ob_relay_done(struct sl_relay *r, int err, void *arg)
{
	struct sl_outbound *s = arg;

	s->res.bytes_up = r->a2b.bytes;
	s->res.bytes_down = r->b2a.bytes;
	s->res.path = r->path;
	if (err < 0)
		snprintf(s->res.reason, sizeof(s->res.reason), "relay: %s", sl_relay_reason(r));
	sl_ob_finish(s, err < 0 && err != -ETIMEDOUT ? "relay-error" : "relayed");
}

static void sl_ob_start_relay(struct sl_outbound *s, const char *pre, size_t pre_len)
{
	enum sl_datapath path;
	int r;

	/* The one place the data path is chosen.  Plaintext only for mode:
	 * testing with a partner that never did TLS; any other leg without a
	 * TLS session is a bug, and a bug ends in a refusal, not in clear. */
	if (s->ktls_up)
		path = s->env.ktls_rw ? SL_DATAPATH_KTLS_RW : SL_DATAPATH_KTLS_SPLICE;
	else if (s->ssl)
		path = SL_DATAPATH_USERSPACE;
	else if (s->testing && !s->tls_up)
		path = SL_DATAPATH_PLAIN;
	else {
		snprintf(s->res.reason, sizeof(s->res.reason), "internal: no TLS session to relay over");
		sl_ob_finish(s, "relay-error");
		return;
	}
	sl_loop_del(s->env.loop, &s->pio);
	sl_loop_del(s->env.loop, &s->mio);
	sl_ob_enter(s, SL_OB_RELAY);
	r = sl_relay_start(&s->relay, s->env.loop, path, s->p.mta_fd, s->pfd, s->ssl,
			   pre, pre_len, NULL, 0, s->env.timeout_ms, sl_ob_relay_done, s);
	if (r < 0) {
		snprintf(s->res.reason, sizeof(s->res.reason), "relay: %s", strerror(-r));
		sl_ob_finish(s, "relay-error");
		return;
	}
	s->res.path = s->relay.path;
	sl_ob_step(s, "relay", "%s", sl_datapath_name(s->res.path));
	/* A held session keeps only what the relay needs: the handshake's
	 * buffers go (the MTA's pending bytes were copied into the relay). */
	free(s->greeting);
	free(s->caps);
	free(s->mout);
	s->greeting = s->caps = s->mout = NULL;
	s->mout_off = s->mout_len = 0;
	sl_ob_pout_free(s);
	sl_smtp_reply_parser_done(&s->rp);
	sl_smtp_linebuf_done(&s->ml);
}

/*
 * The MTA has its greeting.  EHLO/HELO/NOOP/RSET are answered here (EHLO
 * from the partner's capabilities); the first other command starts the
 * relay, with that line and whatever the MTA pipelined after it.
 */
static int sl_ob_mta_line(struct sl_outbound *s, const char *line, size_t len)
{
	struct sl_smtp_cmd cmd = { 0 };
	char rbuf[SL_SMTP_OUT_LINE_MAX + 1];
	const char *pend;
	size_t plen;
	char *pre;

	if (sl_smtp_cmd_parse(line, len, &cmd) < 0)
		cmd.verb = SL_SMTP_UNKNOWN;
	switch (cmd.verb) {
	case SL_SMTP_EHLO:
		return sl_ob_mta_put(s, s->caps, strlen(s->caps));
	case SL_SMTP_HELO:
		snprintf(rbuf, sizeof(rbuf), "250 %s\r\n",
			 s->ehlo.domain[0] ? s->ehlo.domain : s->env.hostname);
		return sl_ob_mta_put(s, rbuf, strlen(rbuf));
	case SL_SMTP_NOOP:
	case SL_SMTP_RSET:
		return sl_ob_mta_put(s, "250 2.0.0 OK\r\n", 14);
	default:
		break;
	}
	/* Replies still queued for the MTA must go first: the relay's first
	 * bytes toward it are the partner's. */
	if (sl_ob_mta_flush(s) != 1)
		return -EAGAIN;
	plen = sl_smtp_linebuf_peek(&s->ml, &pend);
	pre = malloc(len + 2 + plen);
	if (!pre)
		return -ENOMEM;
	memcpy(pre, line, len);
	memcpy(pre + len, "\r\n", 2);
	memcpy(pre + len + 2, pend, plen);
	sl_smtp_linebuf_consume(&s->ml, plen);
	sl_ob_start_relay(s, pre, len + 2 + plen);
	free(pre);
	return 1;
}

static void sl_ob_mta_input(struct sl_outbound *s)
{
	const char *line;
	char *space;
	size_t len, room;
	ssize_t n;
	int r;

	for (;;) {
		r = sl_ob_mta_flush(s);
		if (r < 0) {
			snprintf(s->res.reason, sizeof(s->res.reason), "MTA: %s", strerror(-r));
			sl_ob_finish(s, "aborted");
			return;
		}
		if (r == 0) {
			/* A well-behaved MTA waits for our reply: so do we. */
			sl_loop_mod(s->env.loop, &s->mio, EPOLLOUT);
			return;
		}
		r = sl_smtp_linebuf_next(&s->ml, &line, &len);
		if (r < 0) {
			if (sl_ob_mta_put(s, "500 5.5.2 Line too long or malformed\r\n", 39) < 0)
				goto abort;
			continue;
		}
		if (r > 0) {
			r = sl_ob_mta_line(s, line, len);
			if (r == 1)
				return;		/* relaying */
			if (r == -EAGAIN)
				return;		/* cannot happen: flushed above */
			if (r < 0)
				goto abort;
			continue;
		}
		room = sl_smtp_linebuf_space(&s->ml, &space);
		n = room ? recv(s->p.mta_fd, space, room, 0) : -1;
		if (n > 0) {
			sl_smtp_linebuf_commit(&s->ml, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			sl_loop_mod(s->env.loop, &s->mio, EPOLLIN);
			return;
		}
		snprintf(s->res.reason, sizeof(s->res.reason), "MTA closed before sending mail");
		sl_ob_finish(s, "aborted");
		return;
	}
abort:
	snprintf(s->res.reason, sizeof(s->res.reason), "cannot answer the MTA");
	sl_ob_finish(s, "aborted");
}

static void sl_ob_on_mta(struct sl_loop *loop, int fd, uint32_t ev, void *arg)
{
	struct sl_outbound *s = arg;

	(void)loop;
	(void)fd;
	if (s->state == SL_OB_MTA_GREET) {
		int r = sl_ob_mta_flush(s);

		if (r < 0) {
			sl_ob_finish(s, "aborted");
			return;
		}
		if (r == 0)
			return;		/* EPOLLOUT stays armed */
		sl_ob_enter(s, SL_OB_MTA_EHLO);
	}
	if (s->state == SL_OB_MTA_EHLO) {
		sl_ob_mta_input(s);
		return;
	}
	/* Before the MTA is greeted we only watch for it going away.  A
	 * half-close (a script that piped its commands in and shut down its
	 * sending side) is not going away: what it sent waits in the socket
	 * for the relay, and the greeting still reaches it. */
	if (ev & (EPOLLHUP | EPOLLERR)) {
		snprintf(s->res.reason, sizeof(s->res.reason),
			 "local MTA closed the connection during the partner handshake");
		sl_ob_finish(s, "aborted");
	} else if (ev & EPOLLRDHUP) {
		sl_loop_mod(s->env.loop, &s->mio, 0);	/* level-triggered: once is enough */
	}
}

/* ---- driving the partner leg ------------------------------------------------ */

static void sl_ob_advance(struct sl_outbound *s)
{
	const struct sl_smtp_reply *rep;
	uint32_t want = 0;
	char *space;
	size_t room;
	ssize_t n;
	int r;

	for (;;) {
		if (s->finished || s->state == SL_OB_CLOSING || s->state == SL_OB_REJECTING)
			return;
		if (s->state == SL_OB_TLS) {
			sl_ob_tls_handshake(s);
			if (s->state == SL_OB_TLS)
				return;
			continue;
		}
		if (s->state == SL_OB_MTA_GREET) {
			/* Partner leg ready: greet the MTA with the partner's 220. */
			sl_loop_mod(s->env.loop, &s->pio, 0);
			if (sl_ob_mta_put(s, s->greeting, strlen(s->greeting)) < 0 ||
			    (!s->ml.buf && sl_smtp_linebuf_init(&s->ml, SL_SMTP_CMD_LINE_MAX,
								SL_SMTP_LINE_BARE_LF) < 0)) {
				sl_ob_finish(s, "aborted");
				return;
			}
			sl_loop_mod(s->env.loop, &s->mio, EPOLLOUT);
			return;
		}
		if (s->state == SL_OB_RELAY || s->state == SL_OB_MTA_EHLO)
			return;
		/* write a pending command */
		if (s->pout_len) {
			n = sl_ob_pwrite(s, s->pout + s->pout_off, s->pout_len);
			if (n > 0) {
				s->pout_off += (size_t)n;
				s->pout_len -= (size_t)n;
				if (!s->pout_len)	/* AUTH lines hold secrets */
					OPENSSL_cleanse(s->pout, SL_SASL_LINE_MAX);
				continue;
			}
			if (n == SL_OB_WANT_WRITE) {
				want = EPOLLOUT;
				break;
			}
			if (n == SL_OB_WANT_READ) {
				want = EPOLLIN;
				break;
			}
			sl_ob_fail(s, SL_OBF_NET, "connection to partner lost while sending");
			return;
		}
		/* a complete reply already buffered? */
		r = sl_smtp_reply_parser_next(&s->rp, &rep);
		if (r > 0) {
			sl_ob_on_reply(s, rep);
			continue;
		}
		if (r < 0) {
			sl_ob_fail(s, SL_OBF_PROTO, "malformed reply from partner: %s",
				   sl_smtp_strerror(r));
			return;
		}
		/* read more */
		room = sl_smtp_reply_parser_space(&s->rp, &space);
		if (!room) {
			sl_ob_fail(s, SL_OBF_PROTO, "partner reply too large");
			return;
		}
		n = sl_ob_pread(s, space, room);
		if (n > 0) {
			sl_smtp_reply_parser_commit(&s->rp, (size_t)n);
			continue;
		}
		if (n == SL_OB_WANT_READ) {
			want = EPOLLIN;
			break;
		}
		if (n == SL_OB_WANT_WRITE) {
			want = EPOLLOUT;
			break;
		}
		if (s->ssl && n == -EPROTO) {
			char reason[SL_TLS_REASON_MAX];

			sl_tls_failure_reason(s->ssl, s->p.tls, &s->obs, reason, sizeof(reason));
			sl_ob_fail(s, SL_OBF_CRYPTO, "%s", reason);
		} else {
			sl_ob_fail(s, SL_OBF_NET, "partner closed the connection in state %s",
				   sl_ob_state_names[s->state]);
		}
		return;
	}
	sl_loop_mod(s->env.loop, &s->pio, want);
}

static void sl_ob_on_partner(struct sl_loop *loop, int fd, uint32_t ev, void *arg)
{
	struct sl_outbound *s = arg;
	socklen_t len = sizeof(int);
	int err = 0;

	(void)loop;
	if (s->state == SL_OB_CONNECT) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			sl_ob_fail(s, SL_OBF_NET, "connect to %s failed: %s", s->res.addr,
				   strerror(err));
			return;
		}
		sl_ob_step(s, "connect", "%s", s->res.addr);
		sl_ob_enter(s, SL_OB_GREETING);
	}
	(void)ev;
	sl_ob_advance(s);
}

static void sl_ob_on_timer(struct sl_loop *loop, void *arg)
{
	struct sl_outbound *s = arg;

	(void)loop;
	/* An MTA that does not read our failure reply or never quits. */
	if (s->state == SL_OB_CLOSING || s->state == SL_OB_REJECTING) {
		sl_ob_finish(s, s->res.result);
		return;
	}
	sl_ob_fail(s, SL_OBF_NET, "timeout in state %s", sl_ob_state_names[s->state]);
}

/* ---- public --------------------------------------------------------------- */

int sl_outbound_start(const struct sl_outbound_env *env, const struct sl_outbound_params *p,
		      struct sl_outbound **ret)
{
	struct sl_outbound *s;
	int r;

	if (!env->tag || !p->partner || !p->tls)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->env = *env;
	s->p = *p;
	s->pfd = -1;
	s->t0 = sl_now_ms();
	s->testing = p->partner->mode == SL_MODE_TESTING;
	s->res.verify = "-";
	s->res.auth = "-";
	snprintf(s->res.tls, sizeof(s->res.tls), "-");
	snprintf(s->res.cipher, sizeof(s->res.cipher), "-");
	sl_sockaddr_format((const struct sockaddr *)&p->dst, true, s->res.addr, sizeof(s->res.addr));
	sl_timer_init(&s->timer, sl_ob_on_timer, s);
	r = sl_smtp_reply_parser_init(&s->rp, NULL);
	if (r < 0)
		goto fail;
	if (p->mta_fd >= 0) {
		r = sl_loop_add(env->loop, &s->mio, p->mta_fd, EPOLLRDHUP, sl_ob_on_mta, s);
		if (r < 0)
			goto fail;
	}
	r = sl_ob_connect(s);
	if (r < 0) {
		/* Report through the normal path: the MTA gets its 421. */
		sl_ob_enter(s, SL_OB_CONNECT);
		*ret = s;
		sl_ob_fail(s, SL_OBF_NET, "connect to %s failed: %s", s->res.addr, strerror(-r));
		return 0;
	}
	sl_ob_enter(s, SL_OB_CONNECT);
	*ret = s;
	return 0;
fail:
	s->p.mta_fd = -1;	/* the caller still owns it on failure */
	sl_ob_free(s);
	return r;
}

void sl_outbound_abort(struct sl_outbound *s)
{
	if (!s->finished) {
		s->finished = true;
		sl_ob_free(s);
	}
}

const struct sl_outbound_result *sl_outbound_result(const struct sl_outbound *s)
{
	return &s->res;
}

const struct sl_outbound_params *sl_outbound_params(const struct sl_outbound *s)
{
	return &s->p;
}

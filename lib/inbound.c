/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * inbound.c — the inbound session state machine; see inbound.h.
 *
 * The partner side is served by one command loop (sl_in_command) whose
 * table of verbs depends on two facts only: is TLS up, and is the
 * partner admitted.  Nothing reaches the backend before admission: the
 * backend socket does not even exist until then.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>

#include "addr.h"
#include "inbound.h"
#include "proxy.h"
#include "sasl.h"
#include "smtp.h"

#define SL_IN_POUT_MAX	8192
#define SL_IN_BOUT_MAX	(SL_XCLIENT_LINE_MAX + SL_PROXY_V2_MAX)

#define SL_IN_STATES(X)				\
	X(BANNER, "banner")			\
	X(CMD, "cmd")				\
	X(TLS, "tls")				\
	X(AUTH_CHALLENGE, "auth-challenge")	\
	X(AUTH_VERIFY, "auth-verify")		\
	X(AUTH_DELAY, "auth-delay")		\
	X(BACKEND, "backend")			\
	X(HANDOFF, "handoff")			\
	X(RELAY, "relay")			\
	X(CLOSING, "closing")			\
	X(DONE, "done")

enum sl_in_state {
#define SL_IN_ENUM(n, s) SL_IN_##n,
	SL_IN_STATES(SL_IN_ENUM)
#undef SL_IN_ENUM
};

static const char *const sl_in_state_names[] = {
#define SL_IN_NAME(n, s) s,
	SL_IN_STATES(SL_IN_NAME)
#undef SL_IN_NAME
};

/* Backend dialogue steps. */
enum sl_in_be {
	SL_BE_CONNECT,
	SL_BE_BANNER,
	SL_BE_EHLO_XCLIENT,	/* our EHLO, to see XCLIENT offered */
	SL_BE_XCLIENT,		/* XCLIENT sent, waiting for the new 220 */
	SL_BE_EHLO,		/* the partner's EHLO replayed */
};

/* A password check on a worker thread. */
struct sl_in_verify {
	struct sl_job job;
	struct sl_inbound *s;
	char password[SL_SASL_FIELD_MAX + 1];
	char *hash;			/* NULL = unknown account (dummy check) */
	int result;
};

struct sl_inbound {
	struct sl_inbound_env env;
	struct sl_inbound_params p;
	struct sl_inbound_result res;
	enum sl_in_state state;
	uint64_t t0;

	struct sl_io pio, bio;
	struct sl_timer timer;
	SSL *ssl;
	struct sl_tls_obs obs;
	struct sl_ktls_track ktrk;	/* record counts and secrets for the handoff */
	bool ktls_refuse;		/* kTLS required, impossible: 421 the next command */
	bool tls_up, cert_ok, authed, admitted, ehlo_after_tls;
	bool quit;			/* close after flushing pout */

	struct sl_smtp_linebuf lb;	/* partner commands */
	char *pout;			/* replies to the partner */
	size_t pout_off, pout_len;

	struct sl_sasl_server sasl;
	struct sl_in_verify *verify;	/* in flight, owned by the job until done */

	int bfd;			/* backend, after admission */
	enum sl_in_be be;
	struct sl_smtp_reply_parser brp;
	char *bout;			/* to the backend (PROXY, EHLO, XCLIENT) */
	size_t bout_off, bout_len;
	char *reply_after_backend;	/* "235 …" or the filtered EHLO reply */

	struct sl_relay relay;
	struct sl_job free_job;
	bool finished, freed_by_job;
};

static void sl_in_advance(struct sl_inbound *s);
static void sl_in_backend_start(struct sl_inbound *s);

/* ---- output and end ------------------------------------------------------ */

static void sl_in_enter(struct sl_inbound *s, enum sl_in_state st)
{
	s->state = st;
	if (st == SL_IN_RELAY || st == SL_IN_DONE || st == SL_IN_AUTH_DELAY)
		return;
	sl_timer_arm(s->env.loop, &s->timer, s->env.timeout_ms);
}

static int sl_in_put(struct sl_inbound *s, const char *data, size_t len)
{
	if (!s->pout) {
		s->pout = malloc(SL_IN_POUT_MAX);
		if (!s->pout)
			return -ENOMEM;
	}
	if (s->pout_off && !s->pout_len)
		s->pout_off = 0;
	if (s->pout_off + s->pout_len + len > SL_IN_POUT_MAX) {
		memmove(s->pout, s->pout + s->pout_off, s->pout_len);
		s->pout_off = 0;
		if (s->pout_len + len > SL_IN_POUT_MAX)
			return -ENOSPC;
	}
	memcpy(s->pout + s->pout_off + s->pout_len, data, len);
	s->pout_len += len;
	return 0;
}

static int sl_in_reply(struct sl_inbound *s, unsigned code, const char *esc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int sl_in_reply(struct sl_inbound *s, unsigned code, const char *esc, const char *fmt, ...)
{
	char text[400], line[SL_SMTP_OUT_LINE_MAX + 1];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	n = sl_smtp_format_reply(line, sizeof(line), code, esc, text);
	if (n < 0)
		return n;
	return sl_in_put(s, line, (size_t)n);
}

#define SL_IN_AGAIN_READ	(-1000)
#define SL_IN_AGAIN_WRITE	(-1001)

static ssize_t sl_in_tls_err(struct sl_inbound *s, int ret)
{
	switch (SSL_get_error(s->ssl, ret)) {
	case SSL_ERROR_WANT_READ: return SL_IN_AGAIN_READ;
	case SSL_ERROR_WANT_WRITE: return SL_IN_AGAIN_WRITE;
	case SSL_ERROR_ZERO_RETURN: return 0;
	default: ERR_clear_error(); return -EPROTO;
	}
}

/* Flush replies: 1 = done, 0 = blocked (sets *want), <0 = error. */
static int sl_in_flush(struct sl_inbound *s, uint32_t *want)
{
	while (s->pout_len) {
		ssize_t n;

		if (s->ssl) {
			int r = SSL_write(s->ssl, s->pout + s->pout_off, (int)s->pout_len);

			n = r > 0 ? r : sl_in_tls_err(s, r);
		} else {
			n = send(s->p.fd, s->pout + s->pout_off, s->pout_len, MSG_NOSIGNAL);
			if (n < 0)
				n = errno == EAGAIN ? SL_IN_AGAIN_WRITE : -errno;
		}
		if (n > 0) {
			s->pout_off += (size_t)n;
			s->pout_len -= (size_t)n;
			continue;
		}
		if (n == SL_IN_AGAIN_WRITE || n == SL_IN_AGAIN_READ) {
			*want |= n == SL_IN_AGAIN_WRITE ? EPOLLOUT : EPOLLIN;
			return 0;
		}
		return n == 0 ? -EPIPE : (int)n;
	}
	s->pout_off = 0;
	return 1;
}

static void sl_in_free(void *arg)
{
	struct sl_inbound *s = arg;

	if (s->verify) {
		/* A worker still holds the check: it frees us when it is done. */
		s->freed_by_job = true;
		return;
	}
	sl_relay_stop(&s->relay);
	sl_loop_del(s->env.loop, &s->pio);
	sl_loop_del(s->env.loop, &s->bio);
	sl_timer_cancel(s->env.loop, &s->timer);
	SSL_free(s->ssl);
	sl_ktls_track_done(&s->ktrk);
	close(s->p.fd);
	if (s->bfd >= 0)
		close(s->bfd);
	sl_smtp_linebuf_done(&s->lb);
	sl_smtp_reply_parser_done(&s->brp);
	sl_sasl_server_done(&s->sasl);
	free(s->pout);
	free(s->bout);
	free(s->reply_after_backend);
	free(s);
	ERR_clear_error();
}

static void sl_in_finish(struct sl_inbound *s, const char *result)
{
	if (s->finished)
		return;
	s->finished = true;
	s->state = SL_IN_DONE;
	if (!s->res.result)
		s->res.result = result;
	s->res.ms = sl_now_ms() - s->t0;
	sl_relay_stop(&s->relay);
	sl_loop_del(s->env.loop, &s->pio);
	sl_loop_del(s->env.loop, &s->bio);
	sl_timer_cancel(s->env.loop, &s->timer);
	if (s->env.done)
		s->env.done(s->env.arg, s);
	s->free_job = (struct sl_job){ .done = sl_in_free, .arg = s };
	sl_loop_defer(s->env.loop, &s->free_job);
}

/* Refuse one command: the session goes on, but if it ends now the
 * refusal is its result. */
static void sl_in_deny(struct sl_inbound *s, unsigned code, const char *esc, const char *text)
{
	sl_in_reply(s, code, esc, "%s", text);
	s->res.result = "refused";
	snprintf(s->res.reason, sizeof(s->res.reason), "%u %s %s", code, esc, text);
}

/* Say one last thing to the partner, then close. */
static void sl_in_refuse(struct sl_inbound *s, unsigned code, const char *esc, const char *why)
{
	if (!s->res.reason[0])
		snprintf(s->res.reason, sizeof(s->res.reason), "%s", why);
	s->res.result = "refused";
	sl_in_reply(s, code, esc, "smtplock: %s", why);
	s->quit = true;
	sl_in_enter(s, SL_IN_CLOSING);
}

/* ---- the Received:-style trace ------------------------------------------ */

static void sl_in_trace(struct sl_inbound *s)
{
	char ip[INET6_ADDRSTRLEN + 2];

	sl_sockaddr_format((const struct sockaddr *)&s->p.peer, false, ip, sizeof(ip));
	snprintf(s->res.received, sizeof(s->res.received),
		 "from %.100s ([%s]) by %.100s (smtplock) with %s (%s %.40s)%s%.100s%s%.150s",
		 s->res.helo[0] ? s->res.helo : "unknown", ip, s->env.hostname,
		 s->authed ? "ESMTPSA" : "ESMTPS", s->res.tls, s->res.cipher,
		 s->res.account[0] ? " account=" : "", s->res.account,
		 s->res.cert[0] ? " cert=" : "", s->res.cert);
}

/* ---- admission ------------------------------------------------------------ */

static bool sl_in_admissible(const struct sl_inbound *s)
{
	unsigned req = s->p.partner->inbound.require;

	/* TLS is always required: this is what the inbound lock is. */
	if (!s->tls_up)
		return false;
	if ((req & SL_REQUIRE_AUTH) && !s->authed)
		return false;
	if ((req & SL_REQUIRE_CLIENT_CERT) && !s->cert_ok)
		return false;
	return true;
}

/* EHLO answer before the backend is connected: what it announced last
 * time (or a conservative set), plus AUTH when we require it. */
static void sl_in_ehlo_local(struct sl_inbound *s, bool tls)
{
	char buf[SL_INBOUND_CAPS_MAX + 512], *line, *save = NULL;
	const char *lines[64];
	size_t n = 0;
	int r;

	lines[n++] = s->env.hostname;
	if (!tls) {
		/* No PIPELINING before TLS: a partner that does not use TLS
		 * then sends MAIL alone, gets its 530, and never puts its
		 * recipients on the wire in clear. */
		lines[n++] = "STARTTLS";
		lines[n++] = "ENHANCEDSTATUSCODES";
	} else {
		if (s->p.partner->inbound.require & SL_REQUIRE_AUTH && !s->authed)
			lines[n++] = "AUTH PLAIN LOGIN";
		if (s->env.caps && s->env.caps->known) {
			snprintf(buf, sizeof(buf), "%s", s->env.caps->lines);
			for (line = strtok_r(buf, "\n", &save); line && n < 63;
			     line = strtok_r(NULL, "\n", &save))
				lines[n++] = line;
		} else {
			lines[n++] = "PIPELINING";
			lines[n++] = "8BITMIME";
			lines[n++] = "ENHANCEDSTATUSCODES";
		}
	}
	{
		char out[sizeof(buf) + 1024];

		r = sl_smtp_format_multiline(out, sizeof(out), 250, lines, n);
		if (r > 0)
			sl_in_put(s, out, (size_t)r);
	}
}

static void sl_in_admit(struct sl_inbound *s)
{
	s->admitted = true;
	sl_in_trace(s);
	sl_in_backend_start(s);
}

/* ---- password checks (worker thread) -------------------------------------- */

static void sl_in_verify_work(void *arg)
{
	struct sl_in_verify *v = arg;

	v->result = sl_sasl_verify_crypt(v->password, v->hash);
	OPENSSL_cleanse(v->password, sizeof(v->password));
}

static void sl_in_on_auth_delay(struct sl_loop *loop, void *arg);

static void sl_in_verify_done(void *arg)
{
	struct sl_in_verify *v = arg;
	struct sl_inbound *s = v->s;
	int result = v->result;

	s->verify = NULL;
	free(v->hash);
	free(v);
	if (s->freed_by_job) {
		sl_in_free(s);
		return;
	}
	if (s->finished)
		return;
	if (result == 0) {
		snprintf(s->res.account, sizeof(s->res.account), "%s", s->sasl.creds.username);
		sl_sasl_server_done(&s->sasl);
		s->authed = true;
		if (sl_in_admissible(s)) {
			/* 235 once the backend is ready for the mail. */
			s->reply_after_backend = strdup("235 2.7.0 Authentication successful\r\n");
			sl_in_admit(s);
			return;
		}
		sl_in_reply(s, 235, "2.7.0", "Authentication successful");
		sl_in_enter(s, SL_IN_CMD);
		sl_in_advance(s);
		return;
	}
	sl_sasl_server_done(&s->sasl);
	s->res.auth_failures++;
	snprintf(s->res.reason, sizeof(s->res.reason), "AUTH failed (%u)", s->res.auth_failures);
	/* Slow guessing down: the answer waits longer after each failure. */
	sl_in_enter(s, SL_IN_AUTH_DELAY);
	sl_timer_arm(s->env.loop, &s->timer, s->env.auth_fail_delay_ms * s->res.auth_failures);
}

static void sl_in_on_auth_delay(struct sl_loop *loop, void *arg)
{
	struct sl_inbound *s = arg;

	(void)loop;
	if (s->res.auth_failures >= s->env.max_auth_failures) {
		sl_in_refuse(s, 421, "4.7.0", "too many authentication failures");
	} else {
		sl_in_deny(s, 535, "5.7.8", "Authentication credentials invalid");
		sl_in_enter(s, SL_IN_CMD);
	}
	sl_in_advance(s);
}

static int sl_in_verify_start(struct sl_inbound *s)
{
	const struct sl_inbound_policy *ip = &s->p.partner->inbound;
	struct sl_in_verify *v = calloc(1, sizeof(*v));

	if (!v)
		return -ENOMEM;
	v->s = s;
	snprintf(v->password, sizeof(v->password), "%s", s->sasl.creds.password);
	OPENSSL_cleanse(s->sasl.creds.password, sizeof(s->sasl.creds.password));
	for (size_t i = 0; i < ip->n_accounts; i++)
		if (strcmp(ip->accounts[i].username, s->sasl.creds.username) == 0) {
			v->hash = strdup(ip->accounts[i].password_hash);
			break;
		}
	v->job = (struct sl_job){ .work = sl_in_verify_work, .done = sl_in_verify_done, .arg = v };
	s->verify = v;
	sl_in_enter(s, SL_IN_AUTH_VERIFY);
	return sl_loop_submit(s->env.loop, &v->job);
}

/* Result of sl_sasl_server_start/_step → the next move. */
static void sl_in_auth_result(struct sl_inbound *s, int r, const char *out)
{
	if (r > 0) {
		sl_in_put(s, out, (size_t)r);
		sl_in_enter(s, SL_IN_AUTH_CHALLENGE);
		return;
	}
	if (r == 0) {
		if (sl_in_verify_start(s) < 0) {
			s->verify = NULL;
			sl_in_refuse(s, 454, "4.7.0", "temporary authentication failure");
		}
		return;
	}
	sl_sasl_server_done(&s->sasl);
	sl_in_enter(s, SL_IN_CMD);
	if (r == -SL_SASL_E_MECH)
		sl_in_reply(s, 504, "5.5.4", "Unrecognized authentication type");
	else if (r == -SL_SASL_E_CANCELLED)
		sl_in_reply(s, 501, "5.0.0", "Authentication cancelled");
	else
		sl_in_reply(s, 501, "5.5.2", "Malformed authentication data");
}

/* ---- the partner's commands ------------------------------------------------- */

static void sl_in_tls_begin(struct sl_inbound *s);

static void sl_in_command(struct sl_inbound *s, const char *line, size_t len)
{
	struct sl_smtp_cmd cmd = { 0 };
	char out[SL_SASL_LINE_MAX];
	int r;

	if (s->ktls_refuse) {
		char text[200];

		snprintf(text, sizeof(text), "kernel TLS required but unavailable: %.120s",
			 s->res.ktls);
		sl_in_refuse(s, 421, "4.7.5", text);
		return;
	}
	if (s->state == SL_IN_AUTH_CHALLENGE) {
		r = sl_sasl_server_step(&s->sasl, line, len, out, sizeof(out));
		sl_in_auth_result(s, r, out);
		return;
	}
	r = sl_smtp_cmd_parse(line, len, &cmd);
	if (r == -SL_SMTP_E_LINE_TOO_LONG) {
		sl_in_reply(s, 500, "5.5.2", "Line too long");
		return;
	}
	if (r < 0 && cmd.verb == SL_SMTP_UNKNOWN) {
		sl_in_reply(s, 500, "5.5.2", "Syntax error");
		return;
	}
	switch (cmd.verb) {
	case SL_SMTP_EHLO:
	case SL_SMTP_HELO:
		if (r < 0) {
			sl_in_reply(s, 501, "5.5.4", "Syntax: %s hostname", sl_smtp_verb_name(cmd.verb));
			return;
		}
		snprintf(s->res.helo, sizeof(s->res.helo), "%.*s", (int)cmd.args_len, cmd.args);
		if (s->tls_up)
			s->ehlo_after_tls = true;
		if (s->tls_up && sl_in_admissible(s) && !s->admitted) {
			/* Admitted by TLS (+ certificate) alone: the backend's
			 * own answer to this EHLO goes back, filtered. */
			s->reply_after_backend = NULL;
			sl_in_admit(s);
			return;
		}
		if (cmd.verb == SL_SMTP_HELO)
			sl_in_reply(s, 250, NULL, "%s", s->env.hostname);
		else
			sl_in_ehlo_local(s, s->tls_up);
		return;
	case SL_SMTP_STARTTLS:
		if (s->tls_up) {
			sl_in_reply(s, 554, "5.5.1", "Error: TLS already active");
			return;
		}
		if (r < 0) {
			sl_in_reply(s, 501, "5.5.4", "Syntax: STARTTLS");
			return;
		}
		/* CVE-2011-0411 class: nothing may follow STARTTLS in the
		 * same flight; those bytes would be taken as TLS-protected. */
		if (sl_smtp_linebuf_pending(&s->lb)) {
			sl_in_refuse(s, 554, "5.5.0", "commands pipelined after STARTTLS");
			return;
		}
		sl_in_reply(s, 220, "2.0.0", "Ready to start TLS");
		sl_in_tls_begin(s);
		return;
	case SL_SMTP_AUTH:
		if (!s->tls_up) {
			sl_in_deny(s, 530, "5.7.0", "Must issue a STARTTLS command first");
			return;
		}
		if (!(s->p.partner->inbound.require & SL_REQUIRE_AUTH) ||
		    !s->p.partner->inbound.n_accounts) {
			sl_in_reply(s, 503, "5.5.1", "Error: authentication not enabled");
			return;
		}
		if (s->authed) {
			sl_in_reply(s, 503, "5.5.1", "Error: already authenticated");
			return;
		}
		if (!s->ehlo_after_tls) {
			sl_in_reply(s, 503, "5.5.1", "Error: send EHLO first");
			return;
		}
		sl_sasl_server_init(&s->sasl);
		r = sl_sasl_server_start(&s->sasl, &cmd, out, sizeof(out));
		sl_in_auth_result(s, r, out);
		return;
	case SL_SMTP_MAIL:
	case SL_SMTP_RCPT:
	case SL_SMTP_DATA:
	case SL_SMTP_BDAT:
		if (!s->tls_up)
			sl_in_deny(s, 530, "5.7.0", "Must issue a STARTTLS command first");
		else if (!s->ehlo_after_tls)
			sl_in_deny(s, 503, "5.5.1", "Error: send EHLO first");
		else if (s->p.partner->inbound.require & SL_REQUIRE_AUTH && !s->authed)
			sl_in_deny(s, 530, "5.7.0", "Authentication required");
		else
			sl_in_deny(s, 530, "5.7.0", "Client certificate required");
		return;
	case SL_SMTP_NOOP:
		sl_in_reply(s, 250, "2.0.0", "OK");
		return;
	case SL_SMTP_RSET:
		sl_in_reply(s, 250, "2.0.0", "OK");
		return;
	case SL_SMTP_QUIT:
		sl_in_reply(s, 221, "2.0.0", "Bye");
		s->quit = true;
		s->res.result = "refused";
		if (!s->res.reason[0])
			snprintf(s->res.reason, sizeof(s->res.reason), "partner quit before admission");
		sl_in_enter(s, SL_IN_CLOSING);
		return;
	case SL_SMTP_VRFY:
		sl_in_reply(s, 252, "2.0.0", "Cannot VRFY user");
		return;
	default:
		sl_in_reply(s, 502, "5.5.2", "Error: command not recognized");
		return;
	}
}

/* ---- TLS --------------------------------------------------------------------- */

/*
 * kTLS required and impossible: the backend, if connected, is dropped (it
 * saw only the replayed EHLO) and the partner's next command is answered
 * with the 421 — a reply sent unasked would race the command the partner
 * is sending, and our close with that command unread resets the
 * connection, taking the reply with it.
 */
static void sl_in_ktls_unavailable(struct sl_inbound *s, const char *why)
{
	snprintf(s->res.ktls, sizeof(s->res.ktls), "%s", why);
	snprintf(s->res.reason, sizeof(s->res.reason), "kernel TLS required but unavailable: %s",
		 s->res.ktls);
	s->res.result = "refused";
	sl_loop_del(s->env.loop, &s->bio);
	if (s->bfd >= 0)
		close(s->bfd);
	s->bfd = -1;
	s->ktls_refuse = true;
	sl_in_enter(s, SL_IN_CMD);
}

static void sl_in_tls_begin(struct sl_inbound *s)
{
	char reason[SL_TLS_REASON_MAX];
	uint32_t want = 0;

	/* The 220 must leave in the clear before the handshake starts. */
	if (sl_in_flush(s, &want) != 1) {
		/* tiny reply, fresh socket: a full send buffer is an abuse */
		sl_in_refuse(s, 421, "4.3.0", "cannot send the STARTTLS reply");
		s->quit = true;
		sl_in_finish(s, "aborted");
		return;
	}
	sl_smtp_linebuf_reset(&s->lb);
	if (sl_tls_server_new(s->p.tls, s->p.fd, &s->obs, &s->ssl, reason, sizeof(reason)) < 0) {
		snprintf(s->res.reason, sizeof(s->res.reason), "%s", reason);
		sl_in_finish(s, "aborted");
		return;
	}
	/* The message callback feeds the tracker when the policy may hand
	 * this session to the kernel; -ENOMEM leaves it unbound, and the
	 * switch says "not prepared". */
	sl_ktls_track_init(&s->ktrk);
	if (s->p.partner->tls.ktls != SL_KTLS_OFF && s->p.tls->ktls &&
	    sl_ktls_track_bind(s->ssl, &s->ktrk, s->env.ktls_caps, s->p.partner->tls.ktls) == 0)
		s->obs.ktls = &s->ktrk;
	sl_in_enter(s, SL_IN_TLS);
}

static void sl_in_tls_step(struct sl_inbound *s)
{
	char reason[SL_TLS_REASON_MAX];
	const char *verified;
	X509 *cert;
	uint32_t want;
	int r = sl_tls_handshake(s->ssl, &want);

	if (r == 0) {
		sl_loop_mod(s->env.loop, &s->pio, want);
		return;
	}
	if (r < 0) {
		sl_tls_failure_reason(s->ssl, s->p.tls, &s->obs, reason, sizeof(reason));
		snprintf(s->res.reason, sizeof(s->res.reason), "TLS: %.240s", reason);
		sl_in_finish(s, "refused");
		return;
	}
	s->tls_up = true;
	sl_tls_describe(s->ssl, s->res.tls, sizeof(s->res.tls), s->res.cipher, sizeof(s->res.cipher));
	cert = SSL_get0_peer_certificate(s->ssl);
	if (cert) {
		X509_NAME_oneline(X509_get_subject_name(cert), s->res.cert, sizeof(s->res.cert));
		if (sl_tls_check_peer(s->ssl, s->p.tls, reason, sizeof(reason), &verified) == 0)
			s->cert_ok = true;
		else if (s->p.partner->inbound.require & SL_REQUIRE_CLIENT_CERT) {
			sl_in_refuse(s, 421, "4.7.1", reason);
			return;
		}
	} else if (s->p.partner->inbound.require & SL_REQUIRE_CLIENT_CERT) {
		sl_in_refuse(s, 421, "4.7.1", "client certificate required");
		return;
	}
	/* A policy that requires kTLS refuses now if the kernel can never
	 * take this session: before AUTH, before the backend. */
	if (s->p.partner->tls.ktls == SL_KTLS_REQUIRED &&
	    sl_ktls_session_check(s->ssl, &s->ktrk, s->env.ktls_caps, SL_KTLS_REQUIRED, NULL,
				  reason, sizeof(reason)) < 0) {
		sl_in_ktls_unavailable(s, reason);
		return;
	}
	sl_in_enter(s, SL_IN_CMD);
}

/* ---- the backend -------------------------------------------------------------- */

static void sl_in_on_backend(struct sl_loop *loop, int fd, uint32_t ev, void *arg);
static void sl_in_relay_done(struct sl_relay *r, int err, void *arg);
static void sl_in_start_relay(struct sl_inbound *s);

static void sl_in_backend_fail(struct sl_inbound *s, const char *why)
{
	snprintf(s->res.reason, sizeof(s->res.reason), "backend: %.200s", why);
	sl_loop_del(s->env.loop, &s->bio);
	if (s->bfd >= 0)
		close(s->bfd);
	s->bfd = -1;
	sl_in_refuse(s, 421, "4.3.0", "local mail server unavailable");
	sl_in_advance(s);
}

/* Queue bytes for the backend.  The buffer lives only for the backend
 * dialogue: a held session does not carry it. */
static int sl_in_bsend(struct sl_inbound *s, const void *data, size_t len)
{
	if (!s->bout) {
		s->bout = malloc(SL_IN_BOUT_MAX);
		if (!s->bout)
			return -ENOMEM;
	}
	if (s->bout_off && !s->bout_len)
		s->bout_off = 0;
	if (s->bout_off + s->bout_len + len > SL_IN_BOUT_MAX)
		return -ENOSPC;
	memcpy(s->bout + s->bout_off + s->bout_len, data, len);
	s->bout_len += len;
	return 0;
}

static void sl_in_backend_start(struct sl_inbound *s)
{
	const struct sockaddr_storage *be = s->env.backend;
	char hdr[SL_PROXY_V2_MAX];
	int r = -EINVAL;

	sl_loop_mod(s->env.loop, &s->pio, 0);	/* the partner waits */
	sl_in_enter(s, SL_IN_BACKEND);
	s->bfd = socket(be->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->bfd < 0 || sl_smtp_reply_parser_init(&s->brp, NULL) < 0) {
		sl_in_backend_fail(s, strerror(errno));
		return;
	}
	if (connect(s->bfd, (const struct sockaddr *)be, s->env.backend_len) < 0 &&
	    errno != EINPROGRESS) {
		sl_in_backend_fail(s, strerror(errno));
		return;
	}
	switch (s->env.announce) {
	case SL_ANNOUNCE_PROXY_V1:
		r = sl_proxy_v1_emit(&s->p.peer, &s->p.local, hdr, sizeof(hdr));
		break;
	case SL_ANNOUNCE_PROXY_V2:
		r = sl_proxy_v2_emit(&s->p.peer, &s->p.local, hdr, sizeof(hdr));
		break;
	default:
		r = 0;
		break;
	}
	if (r < 0 || (r > 0 && sl_in_bsend(s, hdr, (size_t)r) < 0)) {
		sl_in_backend_fail(s, "cannot build the PROXY header");
		return;
	}
	s->be = SL_BE_CONNECT;
	if (sl_loop_add(s->env.loop, &s->bio, s->bfd, EPOLLOUT, sl_in_on_backend, s) < 0)
		sl_in_backend_fail(s, "cannot watch the backend socket");
}

/* The backend is ready for the partner's mail: answer the partner, then
 * (sl_in_start_relay) relay. */
static void sl_in_backend_ready(struct sl_inbound *s, const struct sl_smtp_reply *ehlo)
{
	char buf[SL_SMTP_REPLY_SIZE_MAX];
	int r;

	/* Learn what the backend offers, for pre-AUTH EHLO answers. */
	if (s->env.caps) {
		r = sl_ehlo_filter(ehlo, "x", buf, sizeof(buf));
		if (r > 0) {
			char *p = buf, *nl;
			size_t off = 0;

			s->env.caps->lines[0] = 0;
			nl = strstr(p, "\r\n");		/* skip "250-x" */
			for (p = nl ? nl + 2 : p + r; *p; p = nl + 2) {
				nl = strstr(p, "\r\n");
				if (!nl)
					break;
				off += (size_t)snprintf(s->env.caps->lines + off,
							sizeof(s->env.caps->lines) - off, "%s%.*s",
							off ? "\n" : "", (int)(nl - p - 4), p + 4);
				if (off >= sizeof(s->env.caps->lines))
					break;
			}
			s->env.caps->known = off > 0 && off < sizeof(s->env.caps->lines);
		}
	}
	if (s->reply_after_backend) {
		sl_in_put(s, s->reply_after_backend, strlen(s->reply_after_backend));
	} else {
		r = sl_ehlo_filter(ehlo, s->env.hostname, buf, sizeof(buf));
		if (r < 0) {
			sl_in_backend_fail(s, "unusable EHLO reply");
			return;
		}
		sl_in_put(s, buf, (size_t)r);
	}
	/* The reply leaves through OpenSSL first (a record that SSL_write
	 * left half-written cannot be handed to the kernel); sl_in_advance
	 * flushes it and then starts the relay.  The backend waits. */
	sl_loop_mod(s->env.loop, &s->bio, 0);
	sl_in_enter(s, SL_IN_HANDOFF);
	sl_in_advance(s);
}

/*
 * The reply is out: the kTLS switch (the policy decides), then the relay.
 * What the partner already pipelined goes to the backend first (b_pre).
 */
static void sl_in_start_relay(struct sl_inbound *s)
{
	enum sl_datapath path = SL_DATAPATH_USERSPACE;
	struct sl_ktls_info info;
	char why[128];
	const char *pend;
	size_t plen;
	int r;

	s->obs.ktls = NULL;
	r = sl_ktls_session_switch(s->ssl, &s->ktrk, s->env.ktls_caps, s->p.partner->tls.ktls,
				   0, &info, why, sizeof(why));
	sl_ktls_track_done(&s->ktrk);	/* the secrets are in the kernel or unused now */
	if (r == 0) {
		SSL_free(s->ssl);	/* no close_notify: the kernel goes on */
		s->ssl = NULL;
		sl_ktls_info_str(&info, s->res.ktls, sizeof(s->res.ktls));
		path = s->env.ktls_rw ? SL_DATAPATH_KTLS_RW : SL_DATAPATH_KTLS_SPLICE;
	} else if (r == -ENOTRECOVERABLE) {
		snprintf(s->res.ktls, sizeof(s->res.ktls), "%s", why);
		snprintf(s->res.reason, sizeof(s->res.reason), "kernel TLS handoff failed: %s", why);
		sl_in_finish(s, "aborted");
		return;
	} else if (r < 0) {
		sl_in_ktls_unavailable(s, why);
		sl_in_advance(s);
		return;
	} else {
		snprintf(s->res.ktls, sizeof(s->res.ktls), "%s", why);
	}
	sl_loop_del(s->env.loop, &s->pio);
	sl_loop_del(s->env.loop, &s->bio);
	plen = sl_smtp_linebuf_peek(&s->lb, &pend);
	sl_in_enter(s, SL_IN_RELAY);
	sl_timer_cancel(s->env.loop, &s->timer);
	r = sl_relay_start(&s->relay, s->env.loop, path, s->bfd, s->p.fd, s->ssl, NULL, 0,
			   pend, plen, s->env.timeout_ms, sl_in_relay_done, s);
	if (r < 0) {
		snprintf(s->res.reason, sizeof(s->res.reason), "relay: %s", strerror(-r));
		sl_in_finish(s, "relay-error");
		return;
	}
	s->res.path = s->relay.path;
	/* A held session keeps only what the relay needs. */
	sl_smtp_linebuf_done(&s->lb);
	sl_smtp_reply_parser_done(&s->brp);
	free(s->pout);
	free(s->bout);
	free(s->reply_after_backend);
	s->pout = s->bout = s->reply_after_backend = NULL;
	s->pout_off = s->pout_len = s->bout_off = s->bout_len = 0;
}

static void sl_in_relay_done(struct sl_relay *r, int err, void *arg)
{
	struct sl_inbound *s = arg;

	s->res.bytes_in = r->b2a.bytes;
	s->res.bytes_out = r->a2b.bytes;
	s->res.path = r->path;
	if (err < 0)
		snprintf(s->res.reason, sizeof(s->res.reason), "relay: %s", sl_relay_reason(r));
	sl_in_finish(s, err < 0 && err != -ETIMEDOUT ? "relay-error" : "relayed");
}

static void sl_in_backend_reply(struct sl_inbound *s, const struct sl_smtp_reply *rep)
{
	char sum[300], line[SL_XCLIENT_LINE_MAX];
	struct sl_ehlo caps;
	int r;

	sl_smtp_reply_summary(rep, sum, sizeof(sum));
	switch (s->be) {
	case SL_BE_BANNER:
		if (rep->code != 220) {
			sl_in_backend_fail(s, sum);
			return;
		}
		if (s->env.announce == SL_ANNOUNCE_XCLIENT) {
			snprintf(line, sizeof(line), "EHLO %s\r\n", s->env.hostname);
			s->be = SL_BE_EHLO_XCLIENT;
		} else {
			snprintf(line, sizeof(line), "EHLO %s\r\n", s->res.helo);
			s->be = SL_BE_EHLO;
		}
		sl_in_bsend(s, line, strlen(line));
		return;
	case SL_BE_EHLO_XCLIENT: {
		struct sl_xclient x = { .addr = &s->p.peer, .helo = s->res.helo,
					.login = s->res.account[0] ? s->res.account : NULL,
					.proto = "ESMTP" };

		memset(&caps, 0, sizeof(caps));
		if (rep->code != 250 || sl_ehlo_parse(rep, &caps) < 0 ||
		    !(caps.caps & SL_EHLO_XCLIENT)) {
			sl_in_backend_fail(s, "backend does not offer XCLIENT to us");
			return;
		}
		r = sl_proxy_xclient(line, sizeof(line), &x);
		if (r < 0) {
			sl_in_backend_fail(s, "cannot build XCLIENT");
			return;
		}
		sl_in_bsend(s, line, (size_t)r);
		s->be = SL_BE_XCLIENT;
		return;
	}
	case SL_BE_XCLIENT:
		if (rep->code != 220) {
			sl_in_backend_fail(s, sum);
			return;
		}
		snprintf(line, sizeof(line), "EHLO %s\r\n", s->res.helo);
		sl_in_bsend(s, line, strlen(line));
		s->be = SL_BE_EHLO;
		return;
	case SL_BE_EHLO:
		if (rep->code != 250) {
			sl_in_backend_fail(s, sum);
			return;
		}
		if (sl_smtp_reply_parser_pending(&s->brp)) {
			sl_in_backend_fail(s, "backend sent unsolicited data");
			return;
		}
		sl_in_backend_ready(s, rep);
		return;
	default:
		sl_in_backend_fail(s, "unexpected reply");
		return;
	}
}

static void sl_in_on_backend(struct sl_loop *loop, int fd, uint32_t ev, void *arg)
{
	struct sl_inbound *s = arg;
	const struct sl_smtp_reply *rep;
	socklen_t len = sizeof(int);
	char *space;
	size_t room;
	ssize_t n;
	int err = 0, r;

	(void)loop;
	(void)ev;
	if (s->be == SL_BE_CONNECT) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			sl_in_backend_fail(s, strerror(err));
			return;
		}
		s->be = SL_BE_BANNER;
	}
	for (;;) {
		if (s->state != SL_IN_BACKEND)
			return;
		if (s->bout_len) {
			n = send(fd, s->bout + s->bout_off, s->bout_len, MSG_NOSIGNAL);
			if (n < 0 && errno == EAGAIN) {
				sl_loop_mod(s->env.loop, &s->bio, EPOLLOUT);
				return;
			}
			if (n <= 0) {
				sl_in_backend_fail(s, "connection lost");
				return;
			}
			s->bout_off += (size_t)n;
			s->bout_len -= (size_t)n;
			if (!s->bout_len)
				s->bout_off = 0;
			continue;
		}
		r = sl_smtp_reply_parser_next(&s->brp, &rep);
		if (r > 0) {
			sl_in_backend_reply(s, rep);
			continue;
		}
		if (r < 0) {
			sl_in_backend_fail(s, sl_smtp_strerror(r));
			return;
		}
		room = sl_smtp_reply_parser_space(&s->brp, &space);
		n = room ? recv(fd, space, room, 0) : -1;
		if (n > 0) {
			sl_smtp_reply_parser_commit(&s->brp, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EAGAIN) {
			sl_loop_mod(s->env.loop, &s->bio, EPOLLIN);
			return;
		}
		sl_in_backend_fail(s, n == 0 ? "closed the connection" : "reply too large");
		return;
	}
}

/* ---- driving the partner side -------------------------------------------- */

static void sl_in_advance(struct sl_inbound *s)
{
	const char *line;
	char *space;
	size_t len, room;
	uint32_t want;
	ssize_t n;
	int r;

	for (;;) {
		want = 0;
		if (s->finished)
			return;
		if (s->state == SL_IN_TLS) {
			sl_in_tls_step(s);
			if (s->state == SL_IN_TLS)
				return;
			continue;
		}
		r = sl_in_flush(s, &want);
		if (r < 0) {
			snprintf(s->res.reason, sizeof(s->res.reason), "partner: %s", strerror(-r));
			sl_in_finish(s, "aborted");
			return;
		}
		if (r == 0)
			break;
		if (s->state == SL_IN_CLOSING || s->quit) {
			sl_in_finish(s, s->res.result ? s->res.result : "refused");
			return;
		}
		if (s->state == SL_IN_HANDOFF) {
			sl_in_start_relay(s);
			return;
		}
		if (s->state == SL_IN_BANNER)
			sl_in_enter(s, SL_IN_CMD);
		if (s->state != SL_IN_CMD && s->state != SL_IN_AUTH_CHALLENGE)
			return;		/* verify, delay, backend: not reading */
		r = sl_smtp_linebuf_next(&s->lb, &line, &len);
		if (r > 0) {
			sl_in_command(s, line, len);
			continue;
		}
		if (r < 0) {
			if (r == -SL_SMTP_E_LINE_TOO_LONG)
				sl_in_reply(s, 500, "5.5.2", "Line too long");
			else
				sl_in_refuse(s, 500, "5.5.2", "malformed command line (bare LF, CR or NUL)");
			continue;
		}
		room = sl_smtp_linebuf_space(&s->lb, &space);
		if (!room) {
			sl_in_refuse(s, 500, "5.5.2", "line too long");
			continue;
		}
		if (s->ssl) {
			int k = SSL_read(s->ssl, space, (int)room);

			n = k > 0 ? k : sl_in_tls_err(s, k);
		} else {
			n = recv(s->p.fd, space, room, 0);
			if (n < 0)
				n = errno == EAGAIN ? SL_IN_AGAIN_READ : -errno;
		}
		if (n > 0) {
			sl_smtp_linebuf_commit(&s->lb, (size_t)n);
			continue;
		}
		if (n == SL_IN_AGAIN_READ || n == SL_IN_AGAIN_WRITE) {
			want |= n == SL_IN_AGAIN_READ ? EPOLLIN : EPOLLOUT;
			break;
		}
		if (!s->res.reason[0])
			snprintf(s->res.reason, sizeof(s->res.reason), "partner closed the connection in state %s",
				 sl_in_state_names[s->state]);
		sl_in_finish(s, s->res.result ? s->res.result : "aborted");
		return;
	}
	sl_loop_mod(s->env.loop, &s->pio, want);
}

static void sl_in_on_partner(struct sl_loop *loop, int fd, uint32_t ev, void *arg)
{
	(void)loop;
	(void)fd;
	(void)ev;
	sl_in_advance(arg);
}

static void sl_in_on_timer(struct sl_loop *loop, void *arg)
{
	struct sl_inbound *s = arg;

	(void)loop;
	if (s->state == SL_IN_AUTH_DELAY) {
		sl_in_on_auth_delay(loop, s);
		return;
	}
	if (s->state == SL_IN_CLOSING) {
		sl_in_finish(s, s->res.result);
		return;
	}
	snprintf(s->res.reason, sizeof(s->res.reason), "timeout in state %s",
		 sl_in_state_names[s->state]);
	if (s->state == SL_IN_TLS || s->state == SL_IN_AUTH_VERIFY) {
		sl_in_finish(s, "aborted");
		return;
	}
	sl_in_refuse(s, 421, "4.4.2", "timeout");
	sl_in_advance(s);
}

/* ---- public --------------------------------------------------------------- */

int sl_inbound_start(const struct sl_inbound_env *env, const struct sl_inbound_params *p,
		     struct sl_inbound **ret)
{
	struct sl_inbound *s;
	char banner[300];
	int r;

	if (!p->partner || !p->tls || !env->backend)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->env = *env;
	s->p = *p;
	s->bfd = -1;
	s->t0 = sl_now_ms();
	snprintf(s->res.tls, sizeof(s->res.tls), "-");
	snprintf(s->res.cipher, sizeof(s->res.cipher), "-");
	sl_sockaddr_format((const struct sockaddr *)&p->peer, true, s->res.peer, sizeof(s->res.peer));
	sl_timer_init(&s->timer, sl_in_on_timer, s);
	r = sl_smtp_linebuf_init(&s->lb, SL_SMTP_AUTH_LINE_MAX, 0);
	if (r < 0)
		goto fail;
	snprintf(banner, sizeof(banner), "220 %s ESMTP smtplock\r\n", env->hostname);
	r = sl_in_put(s, banner, strlen(banner));
	if (r < 0)
		goto fail;
	r = sl_loop_add(env->loop, &s->pio, p->fd, EPOLLOUT, sl_in_on_partner, s);
	if (r < 0)
		goto fail;
	sl_in_enter(s, SL_IN_BANNER);
	*ret = s;
	return 0;
fail:
	sl_smtp_linebuf_done(&s->lb);
	free(s->pout);
	free(s);
	return r;
}

void sl_inbound_abort(struct sl_inbound *s)
{
	if (s->finished)
		return;
	s->finished = true;
	sl_in_free(s);
}

const struct sl_inbound_result *sl_inbound_result(const struct sl_inbound *s)
{
	return &s->res;
}

const struct sl_inbound_params *sl_inbound_params(const struct sl_inbound *s)
{
	return &s->p;
}

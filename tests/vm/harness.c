// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * harness.c — three-party SMTP-over-TLS sessions for the kTLS tests and
 * the data-path benchmark.  See harness.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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

#define H_LINE		78		/* body line: 10 digits + 66 chars + CRLF */
#define H_BLOCK_LINES	840		/* 65520 bytes per write */

static EVP_PKEY *h_key;
static X509 *h_cert;
static char h_pattern[H_BLOCK_LINES][66];
static struct sl_ktls_caps h_probed;
static pthread_once_t h_once = PTHREAD_ONCE_INIT;

static void h_init(void)
{
	X509_NAME *name;
	uint64_t s = 0x9e3779b97f4a7c15ull;
	static const char alpha[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	signal(SIGPIPE, SIG_IGN);
	sl_ktls_probe(&h_probed);
	h_key = EVP_EC_gen("P-256");
	h_cert = X509_new();
	X509_set_version(h_cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(h_cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(h_cert), -3600);
	X509_gmtime_adj(X509_getm_notAfter(h_cert), 86400);
	X509_set_pubkey(h_cert, h_key);
	name = X509_get_subject_name(h_cert);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
				   (const unsigned char *)"partner.test", -1, -1, 0);
	X509_set_issuer_name(h_cert, name);
	X509_sign(h_cert, h_key, EVP_sha256());
	for (int i = 0; i < H_BLOCK_LINES; i++)
		for (int j = 0; j < 66; j++) {
			s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
			h_pattern[i][j] = alpha[(s * 0x2545f4914f6cdd1dull) >> 58];
		}
}

const struct sl_ktls_caps *h_caps(void)
{
	pthread_once(&h_once, h_init);
	return &h_probed;
}

const char *h_path_name(enum h_path p)
{
	switch (p) {
	case H_PATH_SPLICE: return "ktls-splice";
	case H_PATH_RW: return "ktls-rw";
	case H_PATH_USERSPACE: return "userspace";
	}
	return "?";
}

static double h_now(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void h_err(struct h_result *res, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static pthread_mutex_t h_err_lock = PTHREAD_MUTEX_INITIALIZER;

static void h_err(struct h_result *res, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&h_err_lock);
	if (!res->error[0]) {
		va_start(ap, fmt);
		vsnprintf(res->error, sizeof(res->error), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&h_err_lock);
}

/* ------------------------------------------------------------------ */
/* Sockets, contexts                                                   */

static int h_tcp_pair(int fds[2])
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r = -1;

	fds[0] = fds[1] = -1;
	if (l < 0)
		return -1;
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(l, 1) == 0 &&
	    getsockname(l, (struct sockaddr *)&sa, &len) == 0) {
		fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[0] >= 0 && connect(fds[0], (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			fds[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
			r = fds[1] >= 0 ? 0 : -1;
		}
	}
	close(l);
	return r;
}

static void h_timeouts(int fd, unsigned s)
{
	struct timeval tv = { .tv_sec = s };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

static int h_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	return fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

static SSL_CTX *h_ctx(bool server, int version, const char *cipher, int tickets)
{
	SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
	bool ok;

	if (!ctx)
		return NULL;
	SSL_CTX_set_min_proto_version(ctx, version);
	SSL_CTX_set_max_proto_version(ctx, version);
	SSL_CTX_set_security_level(ctx, 0);
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	ok = version == TLS1_3_VERSION ? SSL_CTX_set_ciphersuites(ctx, cipher)
				       : SSL_CTX_set_cipher_list(ctx, cipher);
	if (ok && server)
		ok = SSL_CTX_use_certificate(ctx, h_cert) && SSL_CTX_use_PrivateKey(ctx, h_key);
	if (ok && server && tickets >= 0)
		ok = SSL_CTX_set_num_tickets(ctx, (size_t)tickets);
	if (!ok) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* ------------------------------------------------------------------ */
/* Buffered line I/O over a plain fd or an SSL (blocking)              */

struct h_conn {
	int fd;
	SSL *ssl;
	size_t off, len;
	char buf[16384];
};

static ssize_t h_raw_read(struct h_conn *c, void *b, size_t n)
{
	if (c->ssl) {
		int r = SSL_read(c->ssl, b, (int)n);

		return r > 0 ? r : (SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN ? 0 : -1);
	}
	return read(c->fd, b, n);
}

static bool h_write(struct h_conn *c, const void *b, size_t n)
{
	const char *p = b;

	while (n) {
		ssize_t w = c->ssl ? SSL_write(c->ssl, p, (int)n) : write(c->fd, p, n);

		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static bool h_puts(struct h_conn *c, const char *s)
{
	return h_write(c, s, strlen(s));
}

/* One line with its CRLF into line (NUL-terminated); length, 0 at EOF,
 * -1 on error or a line longer than the buffer. */
static ssize_t h_line(struct h_conn *c, char *line, size_t cap)
{
	for (;;) {
		char *nl = memchr(c->buf + c->off, '\n', c->len - c->off);

		if (nl) {
			size_t n = (size_t)(nl - (c->buf + c->off)) + 1;

			if (n >= cap)
				return -1;
			memcpy(line, c->buf + c->off, n);
			line[n] = '\0';
			c->off += n;
			return (ssize_t)n;
		}
		if (c->off) {
			memmove(c->buf, c->buf + c->off, c->len - c->off);
			c->len -= c->off;
			c->off = 0;
		}
		if (c->len == sizeof(c->buf))
			return -1;
		ssize_t r = h_raw_read(c, c->buf + c->len, sizeof(c->buf) - c->len);

		if (r <= 0)
			return r;
		c->len += (size_t)r;
	}
}

/* Read a (multi-line) reply; true if its code is want. */
static bool h_reply(struct h_conn *c, const char *want, char *last, size_t len)
{
	char line[1024];
	ssize_t n;

	while ((n = h_line(c, line, sizeof(line))) > 0) {
		if (last)
			snprintf(last, len, "%.*s", (int)strcspn(line, "\r\n"), line);
		if (n >= 4 && line[3] == '-')
			continue;
		return strncmp(line, want, 3) == 0;
	}
	if (last)
		last[0] = '\0';
	return false;
}

static bool h_expect(struct h_conn *c, const char *prefix)
{
	char line[1024];

	return h_line(c, line, sizeof(line)) > 0 && strncmp(line, prefix, strlen(prefix)) == 0;
}

/* ------------------------------------------------------------------ */
/* The mail transaction                                                */

static void h_body_line(uint64_t i, char *out)
{
	uint64_t v = i;

	for (int d = 9; d >= 0; d--, v /= 10)
		out[d] = (char)('0' + v % 10);
	memcpy(out + 10, h_pattern[i % H_BLOCK_LINES], 66);
	out[76] = '\r';
	out[77] = '\n';
}

static uint64_t h_body_lines(size_t body)
{
	return (body + H_LINE - 1) / H_LINE;
}

/* MAIL, RCPT, DATA, body, ".", QUIT; true if every reply was right. */
static bool h_send_mail(struct h_conn *c, size_t body, char *last, size_t lastlen)
{
	static char chunk[H_BLOCK_LINES * H_LINE];
	uint64_t lines = h_body_lines(body), i = 0;

	if (!h_puts(c, "MAIL FROM:<mta@ours.test>\r\n") || !h_reply(c, "250", last, lastlen))
		return false;
	if (!h_puts(c, "RCPT TO:<postmaster@partner.test>\r\n") || !h_reply(c, "250", last, lastlen))
		return false;
	if (!h_puts(c, "DATA\r\n") || !h_reply(c, "354", last, lastlen))
		return false;
	while (i < lines) {
		char *p = chunk;
		uint64_t n = lines - i < H_BLOCK_LINES ? lines - i : H_BLOCK_LINES;

		for (uint64_t k = 0; k < n; k++, p += H_LINE)
			h_body_line(i + k, p);
		if (!h_write(c, chunk, (size_t)(p - chunk)))
			return false;
		i += n;
	}
	if (!h_puts(c, ".\r\n") || !h_reply(c, "250", last, lastlen) || !strstr(last, " ok"))
		return false;
	return h_puts(c, "QUIT\r\n") && h_reply(c, "221", last, lastlen);
}

/* Runs when MAIL FROM arrives; false ends the dialogue there. */
typedef bool (*h_hook)(struct h_conn *c, void *arg);

/* The receiving server's side of h_send_mail; hook runs when MAIL FROM
 * arrives (partner actions).  Returns true if the whole body was intact
 * and QUIT came. */
static bool h_recv_mail(struct h_conn *c, h_hook on_mail, void *arg, struct h_result *res,
			size_t body)
{
	char line[1024], want[H_LINE];
	bool intact = false;

	for (;;) {
		ssize_t n = h_line(c, line, sizeof(line));

		if (n <= 0)
			return false;
		if (strncmp(line, "MAIL FROM:", 10) == 0) {
			if (on_mail && !on_mail(c, arg))
				return false;
			if (!h_puts(c, "250 2.1.0 ok\r\n"))
				return false;
		} else if (strncmp(line, "RCPT TO:", 8) == 0) {
			h_puts(c, "250 2.1.5 ok\r\n");
		} else if (strcmp(line, "DATA\r\n") == 0) {
			uint64_t i = 0;
			bool bad = false;
			char reply[128];

			h_puts(c, "354 go ahead\r\n");
			while ((n = h_line(c, line, sizeof(line))) > 0 && strcmp(line, ".\r\n") != 0) {
				h_body_line(i, want);
				if (!bad && (n != H_LINE || memcmp(line, want, H_LINE) != 0)) {
					h_err(res, "body line %llu differs", (unsigned long long)i);
					bad = true;
				}
				i++;
			}
			if (n <= 0)
				return false;
			intact = !bad && i == h_body_lines(body);
			if (!bad && !intact)
				h_err(res, "body: %llu lines, want %llu", (unsigned long long)i,
				      (unsigned long long)h_body_lines(body));
			snprintf(reply, sizeof(reply), "250 2.0.0 received %llu lines %s\r\n",
				 (unsigned long long)i, intact ? "ok" : "BAD");
			h_puts(c, reply);
		} else if (strcmp(line, "QUIT\r\n") == 0) {
			h_puts(c, "221 2.0.0 bye\r\n");
			return intact;
		} else {
			h_puts(c, "500 what\r\n");
		}
	}
}

/* ------------------------------------------------------------------ */
/* Parties                                                             */

struct h_session {
	const struct h_opts *o;
	struct h_result *res;
	SSL_CTX *peer_ctx;
	int mta_fd, peer_fd;		/* the threads' ends */
	bool peer_keyupdated;
};

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

/* Both pumps until both are done, one fails, or the deadline. */
static void h_relay_pumps(struct h_session *s, int plain, int tls, double deadline)
{
	struct h_result *res = s->res;
	enum sl_pump_mode mode = s->o->path == H_PATH_SPLICE ? SL_PUMP_SPLICE : SL_PUMP_RW;
	struct sl_pump p[2];
	int st[2] = { SL_PUMP_YIELD, SL_PUMP_YIELD };

	if (sl_pump_init(&p[0], plain, tls, mode, SL_PUMP_F_OUT_KTLS, s->o->pipe_size) < 0 ||
	    sl_pump_init(&p[1], tls, plain, mode, SL_PUMP_F_IN_KTLS, s->o->pipe_size) < 0) {
		h_err(res, "sl_pump_init: %s", strerror(errno));
		goto out;
	}
	for (;;) {
		struct pollfd pfd[2];
		int n = 0, idx[2] = { -1, -1 };
		bool again = false;

		for (int i = 0; i < 2; i++) {
			if (st[i] == SL_PUMP_WAIT_IN)
				pfd[n] = (struct pollfd){ .fd = p[i].in, .events = POLLIN }, idx[i] = n++;
			else if (st[i] == SL_PUMP_WAIT_OUT)
				pfd[n] = (struct pollfd){ .fd = p[i].out, .events = POLLOUT }, idx[i] = n++;
			else if (st[i] == SL_PUMP_YIELD)
				again = true;
		}
		if (!n && !again)
			break;
		if (h_now(CLOCK_MONOTONIC) > deadline) {
			res->timed_out = true;
			h_err(res, "relay: deadline (pumps %s/%s)", sl_pump_status_name(st[0]),
			      sl_pump_status_name(st[1]));
			break;
		}
		if (poll(pfd, (nfds_t)n, again ? 0 : 1000) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			if (st[i] == SL_PUMP_DONE || st[i] < 0)
				continue;
			if (st[i] != SL_PUMP_YIELD && !(idx[i] >= 0 && pfd[idx[i]].revents))
				continue;
			st[i] = sl_pump_run(&p[i], 0);
		}
		/* An error on either side ends the session: the controller
		 * closes both sockets (no byte goes anywhere in the clear). */
		if (st[0] < 0 || st[1] < 0)
			break;
	}
	for (int i = 0; i < 2; i++) {
		res->pump_err[i] = st[i] < 0 ? st[i] : 0;
		res->pump_side[i] = p[i].err_side;
	}
	res->rec = p[1].rec;
	res->close_notify = p[1].close_notify;
	res->relayed = s->o->role == H_OUTBOUND ? p[0].bytes_out : p[1].bytes_out;
out:
	sl_pump_done(&p[0]);
	sl_pump_done(&p[1]);
}

/* The userspace path: SSL_read/SSL_write on non-blocking sockets. */
static void h_relay_userspace(struct h_session *s, SSL *ssl, int plain, int tls,
			      double deadline)
{
	struct h_result *res = s->res;
	static __thread char a[16384], b[16384];
	size_t alen = 0, aoff = 0, blen = 0, boff = 0;
	bool a_eof = false, b_eof = false, a_shut = false, b_shut = false;
	bool w_want_read = false, r_want_write = false;
	uint64_t a2b = 0, b2a = 0;

	SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	while (!(a_shut && b_shut)) {
		struct pollfd pfd[2] = { { .fd = plain }, { .fd = tls } };
		bool progress = false;
		ssize_t n;
		int r;

		/* plain → TLS */
		if (!alen && !a_eof) {
			n = read(plain, a, sizeof(a));
			if (n > 0)
				alen = (size_t)n, aoff = 0, progress = true;
			else if (n == 0)
				a_eof = progress = true;
			else if (errno != EAGAIN)
				a_eof = true;
		}
		if (alen) {
			r = SSL_write(ssl, a + aoff, (int)(alen - aoff));
			if (r > 0) {
				aoff += (size_t)r, a2b += (uint64_t)r, progress = true;
				if (aoff == alen)
					alen = aoff = 0;
				w_want_read = false;
			} else {
				int e = SSL_get_error(ssl, r);

				if (e == SSL_ERROR_WANT_READ)
					w_want_read = true;
				else if (e != SSL_ERROR_WANT_WRITE) {
					h_err(res, "userspace relay: SSL_write failed");
					break;
				}
			}
		}
		if (a_eof && !alen && !a_shut) {
			SSL_shutdown(ssl);
			shutdown(tls, SHUT_WR);
			a_shut = progress = true;
		}
		/* TLS → plain */
		if (!blen && !b_eof) {
			r = SSL_read(ssl, b, sizeof(b));
			if (r > 0) {
				blen = (size_t)r, boff = 0, progress = true;
				r_want_write = false;
			} else {
				int e = SSL_get_error(ssl, r);

				if (e == SSL_ERROR_ZERO_RETURN) {
					b_eof = progress = true;
					res->close_notify = true;
				} else if (e == SSL_ERROR_WANT_WRITE) {
					r_want_write = true;
				} else if (e != SSL_ERROR_WANT_READ) {
					b_eof = progress = true;
				}
			}
		}
		if (blen) {
			n = write(plain, b + boff, blen - boff);
			if (n > 0) {
				boff += (size_t)n, b2a += (uint64_t)n, progress = true;
				if (boff == blen)
					blen = boff = 0;
			} else if (n < 0 && errno != EAGAIN) {
				break;
			}
		}
		if (b_eof && !blen && !b_shut) {
			shutdown(plain, SHUT_WR);
			b_shut = progress = true;
		}
		if (progress || SSL_pending(ssl))
			continue;
		if (h_now(CLOCK_MONOTONIC) > deadline) {
			res->timed_out = true;
			h_err(res, "userspace relay: deadline");
			break;
		}
		if (!alen && !a_eof)
			pfd[0].events |= POLLIN;
		if (blen)
			pfd[0].events |= POLLOUT;
		if ((!blen && !b_eof) || w_want_read)
			pfd[1].events |= POLLIN;
		if (alen || r_want_write)
			pfd[1].events |= POLLOUT;
		poll(pfd, 2, 1000);
	}
	res->relayed = s->o->role == H_OUTBOUND ? a2b : b2a;
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

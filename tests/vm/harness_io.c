// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * harness_io.c — the harness's plumbing: the certificate, loopback TCP
 * pairs, OpenSSL contexts, line I/O over a socket or an SSL, and the mail
 * transaction (a body of numbered lines, checked byte for byte).
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

double h_now(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static pthread_mutex_t h_err_lock = PTHREAD_MUTEX_INITIALIZER;

void h_err(struct h_result *res, const char *fmt, ...)
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

int h_tcp_pair(int fds[2])
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

void h_timeouts(int fd, unsigned s)
{
	struct timeval tv = { .tv_sec = s };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

int h_nonblock(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	return fcntl(fd, F_SETFL, on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
}

SSL_CTX *h_ctx(bool server, int version, const char *cipher, int tickets)
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

ssize_t h_raw_read(struct h_conn *c, void *b, size_t n)
{
	if (c->ssl) {
		int r = SSL_read(c->ssl, b, (int)n);

		return r > 0 ? r : (SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN ? 0 : -1);
	}
	return read(c->fd, b, n);
}

bool h_write(struct h_conn *c, const void *b, size_t n)
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

bool h_puts(struct h_conn *c, const char *s)
{
	return h_write(c, s, strlen(s));
}

/* One line with its CRLF into line (NUL-terminated); length, 0 at EOF,
 * -1 on error or a line longer than the buffer. */
ssize_t h_line(struct h_conn *c, char *line, size_t cap)
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
bool h_reply(struct h_conn *c, const char *want, char *last, size_t len)
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

bool h_expect(struct h_conn *c, const char *prefix)
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
bool h_send_mail(struct h_conn *c, size_t body, char *last, size_t lastlen)
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

/* The receiving server's side of h_send_mail; hook runs when MAIL FROM
 * arrives (partner actions).  Returns true if the whole body was intact
 * and QUIT came. */
bool h_recv_mail(struct h_conn *c, h_hook on_mail, void *arg, struct h_result *res,
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

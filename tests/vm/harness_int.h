/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * harness_int.h — shared by the harness's own files (harness*.c).
 */
#ifndef SL_VM_HARNESS_INT_H
#define SL_VM_HARNESS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <openssl/ssl.h>

#include "harness.h"

/* One session's shared state: options, results, the threads' ends. */
struct h_session {
	const struct h_opts *o;
	struct h_result *res;
	SSL_CTX *peer_ctx;
	int mta_fd, peer_fd;
	bool peer_keyupdated;
};

/* Buffered line I/O over a plain fd or an SSL (blocking). */
struct h_conn {
	int fd;
	SSL *ssl;
	size_t off, len;
	char buf[16384];
};

double h_now(clockid_t c);
/* The first failure of a session, for diagnostics (thread-safe). */
void h_err(struct h_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int h_tcp_pair(int fds[2]);
void h_timeouts(int fd, unsigned s);
int h_nonblock(int fd, bool on);
/* One version, one suite; the server gets the test certificate. */
SSL_CTX *h_ctx(bool server, int version, const char *cipher, int tickets);

ssize_t h_raw_read(struct h_conn *c, void *b, size_t n);
bool h_write(struct h_conn *c, const void *b, size_t n);
bool h_puts(struct h_conn *c, const char *s);
ssize_t h_line(struct h_conn *c, char *line, size_t cap);
bool h_reply(struct h_conn *c, const char *want, char *last, size_t len);
bool h_expect(struct h_conn *c, const char *prefix);

/* Runs when MAIL FROM arrives; false ends the dialogue there. */
typedef bool (*h_hook)(struct h_conn *c, void *arg);
bool h_send_mail(struct h_conn *c, size_t body, char *last, size_t lastlen);
bool h_recv_mail(struct h_conn *c, h_hook on_mail, void *arg, struct h_result *res,
		 size_t body);

void h_relay_pumps(struct h_session *s, int plain, int tls, double deadline);
void h_relay_userspace(struct h_session *s, SSL *ssl, int plain, int tls, double deadline);

#endif

// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * harness_relay.c — the controller's relay phase in the harness: the two
 * lib/pump pumps driven by poll() as the controller's loop would, or a
 * userspace OpenSSL relay for the path without kTLS.
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

/* Both pumps until both are done, one fails, or the deadline. */
void h_relay_pumps(struct h_session *s, int plain, int tls, double deadline)
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
void h_relay_userspace(struct h_session *s, SSL *ssl, int plain, int tls,
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

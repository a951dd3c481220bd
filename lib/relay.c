/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * relay.c — bounded, non-blocking two-way relay; see relay.h.
 *
 * pump() moves bytes in both directions until nothing moves, then arms
 * exactly the events that can unblock it.  With OpenSSL either direction
 * may need the other readiness (WANT_READ from SSL_write and WANT_WRITE
 * from SSL_read), which the two b_wants_* flags carry to the next arming.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>

#include "relay.h"

#define SL_B_AGAIN_READ		(-1000)	/* B needs readability */
#define SL_B_AGAIN_WRITE	(-1001)	/* B needs writability */

const char *sl_datapath_name(enum sl_datapath d)
{
	switch (d) {
	case SL_DATAPATH_USERSPACE: return "userspace";
	case SL_DATAPATH_KTLS_RW: return "ktls-rw";
	case SL_DATAPATH_KTLS_SPLICE: return "ktls-splice";
	case SL_DATAPATH_PLAIN: return "plain";
	default: return "none";
	}
}

const char *sl_relay_reason(const struct sl_relay *r)
{
	return r->reason;
}

/* ---- the B side: OpenSSL or a plain/kTLS socket ------------------------ */

static int sl_b_ssl_error(struct sl_relay *r, int ret, const char *what)
{
	int e = SSL_get_error(r->ssl, ret);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		return SL_B_AGAIN_READ;
	case SSL_ERROR_WANT_WRITE:
		return SL_B_AGAIN_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		/* Many MTAs close after 221 without close_notify, or reset. */
		if (ERR_peek_error() == 0 && (errno == 0 || errno == ECONNRESET || errno == EPIPE)) {
			ERR_clear_error();
			return what[0] == 'r' ? 0 : -EPIPE;
		}
		/* fall through */
	default: {
		char buf[96];

		ERR_error_string_n(ERR_peek_error(), buf, sizeof(buf));
		snprintf(r->reason, sizeof(r->reason), "TLS %s failed: %s", what, buf);
		ERR_clear_error();
		return -EPROTO;
	}
	}
}

static ssize_t sl_b_read(struct sl_relay *r, char *buf, size_t len)
{
	ssize_t n;

	if (r->ssl) {
		int ret = SSL_read(r->ssl, buf, (int)len);

		return ret > 0 ? ret : sl_b_ssl_error(r, ret, "read");
	}
	n = read(r->b_fd, buf, len);
	if (n < 0)
		return errno == EAGAIN ? SL_B_AGAIN_READ : errno == ECONNRESET ? 0 : -errno;
	return n;
}

static ssize_t sl_b_write(struct sl_relay *r, const char *buf, size_t len)
{
	ssize_t n;

	if (r->ssl) {
		int ret = SSL_write(r->ssl, buf, (int)len);

		return ret > 0 ? ret : sl_b_ssl_error(r, ret, "write");
	}
	n = send(r->b_fd, buf, len, MSG_NOSIGNAL);
	if (n < 0)
		return errno == EAGAIN ? SL_B_AGAIN_WRITE : -errno;
	return n;
}

static void sl_b_shutdown(struct sl_relay *r)
{
	if (r->ssl)
		SSL_shutdown(r->ssl);	/* close_notify; best effort */
	shutdown(r->b_fd, SHUT_WR);
	ERR_clear_error();
}

/* ---- pump -------------------------------------------------------------- */

static void sl_relay_finish(struct sl_relay *r, int err)
{
	if (r->finished)
		return;
	sl_relay_stop(r);
	r->finished = true;
	if (err == -ETIMEDOUT && !r->reason[0])
		snprintf(r->reason, sizeof(r->reason), "idle timeout");
	else if (err < 0 && !r->reason[0])
		snprintf(r->reason, sizeof(r->reason), "%s", strerror(-err));
	r->done(r, err, r->arg);
}

/*
 * A destination that is gone (EPIPE, ECONNRESET) ends its direction: the
 * bytes for it can never be delivered, and SMTP's own replies tell the
 * sender what arrived.  This is a close, not a relay error.
 */
static bool sl_relay_gone(struct sl_relay_dir *d, long err)
{
	if (err != -EPIPE && err != -ECONNRESET)
		return false;
	d->len = d->off = 0;
	d->eof = d->shut = true;
	return true;
}

/* Returns 1 if anything moved, 0 if blocked, <0 on error. */
static int sl_relay_pump_once(struct sl_relay *r, uint32_t *a_ev, uint32_t *b_ev)
{
	struct sl_relay_dir *u = &r->a2b, *d = &r->b2a;
	int moved = 0;
	ssize_t n;

	r->b_wants_read_for_write = r->b_wants_write_for_read = false;
	/* A → buffer */
	if (!u->eof && u->len < SL_RELAY_BUF) {
		if (u->off && !u->len)
			u->off = 0;
		if (u->off + u->len < SL_RELAY_BUF) {
			n = read(r->a_fd, u->buf + u->off + u->len, SL_RELAY_BUF - u->off - u->len);
			if (n > 0) {
				u->len += (size_t)n;
				moved = 1;
			} else if (n == 0 || errno == ECONNRESET) {
				u->eof = true;
				moved = 1;
			} else if (errno == EAGAIN) {
				*a_ev |= EPOLLIN;
			} else {
				return -errno;
			}
		}
	}
	/* buffer → B */
	if (u->len) {
		n = sl_b_write(r, u->buf + u->off, u->len);
		if (n > 0) {
			u->off += (size_t)n;
			u->len -= (size_t)n;
			u->bytes += (uint64_t)n;
			if (!u->len)
				u->off = 0;
			moved = 1;
		} else if (n == SL_B_AGAIN_WRITE) {
			*b_ev |= EPOLLOUT;
		} else if (n == SL_B_AGAIN_READ) {
			*b_ev |= EPOLLIN;
			r->b_wants_read_for_write = true;
		} else if (sl_relay_gone(u, n < 0 ? n : -EPIPE)) {
			moved = 1;
		} else {
			return (int)n;
		}
	} else if (u->eof && !u->shut) {
		sl_b_shutdown(r);
		u->shut = true;
		moved = 1;
	}
	/* B → buffer */
	if (!d->eof && d->len < SL_RELAY_BUF) {
		if (d->off && !d->len)
			d->off = 0;
		if (d->off + d->len < SL_RELAY_BUF) {
			n = sl_b_read(r, d->buf + d->off + d->len, SL_RELAY_BUF - d->off - d->len);
			if (n > 0) {
				d->len += (size_t)n;
				moved = 1;
			} else if (n == 0) {
				d->eof = true;
				moved = 1;
			} else if (n == SL_B_AGAIN_READ) {
				*b_ev |= EPOLLIN;
			} else if (n == SL_B_AGAIN_WRITE) {
				*b_ev |= EPOLLOUT;
				r->b_wants_write_for_read = true;
			} else {
				return (int)n;
			}
		}
	}
	/* buffer → A */
	if (d->len) {
		n = send(r->a_fd, d->buf + d->off, d->len, MSG_NOSIGNAL);
		if (n > 0) {
			d->off += (size_t)n;
			d->len -= (size_t)n;
			d->bytes += (uint64_t)n;
			if (!d->len)
				d->off = 0;
			moved = 1;
		} else if (errno == EAGAIN) {
			*a_ev |= EPOLLOUT;
		} else if (sl_relay_gone(d, -errno)) {
			moved = 1;
		} else {
			return -errno;
		}
	} else if (d->eof && !d->shut) {
		shutdown(r->a_fd, SHUT_WR);
		d->shut = true;
		moved = 1;
	}
	return moved;
}

static void sl_relay_pump(struct sl_relay *r)
{
	uint32_t a_ev, b_ev;
	bool any = false;
	int rc;

	do {
		a_ev = b_ev = 0;
		rc = sl_relay_pump_once(r, &a_ev, &b_ev);
		if (rc < 0) {
			sl_relay_finish(r, rc);
			return;
		}
		any |= rc > 0;
	} while (rc > 0);

	/* Both directions passed their EOF on: the session is over.  A side
	 * that closed while the other still talks keeps the relay alive until
	 * the other closes too or the idle timer fires. */
	if (r->a2b.shut && r->b2a.shut) {
		sl_relay_finish(r, 0);
		return;
	}
	if (any)
		sl_timer_arm(r->loop, &r->idle, r->idle_ms);
	sl_loop_mod(r->loop, &r->a_io, a_ev);
	sl_loop_mod(r->loop, &r->b_io, b_ev);
}

static void sl_relay_on_io(struct sl_loop *loop, int fd, uint32_t events, void *arg)
{
	struct sl_relay *r = arg;

	(void)loop;
	(void)fd;
	(void)events;
	sl_relay_pump(r);
}

static void sl_relay_on_idle(struct sl_loop *loop, void *arg)
{
	struct sl_relay *r = arg;

	(void)loop;
	sl_relay_finish(r, -ETIMEDOUT);
}

static int sl_relay_dir_init(struct sl_relay_dir *d, const void *pre, size_t len)
{
	memset(d, 0, sizeof(*d));
	if (len > SL_RELAY_BUF)
		return -E2BIG;
	d->buf = malloc(SL_RELAY_BUF);
	if (!d->buf)
		return -ENOMEM;
	if (len)
		memcpy(d->buf, pre, len);
	d->len = len;
	return 0;
}

int sl_relay_start(struct sl_relay *r, struct sl_loop *loop, enum sl_datapath path,
		   int a_fd, int b_fd, SSL *ssl, const void *a_pre, size_t a_pre_len,
		   const void *b_pre, size_t b_pre_len, uint64_t idle_ms,
		   sl_relay_done_fn done, void *arg)
{
	int rc;

	memset(r, 0, sizeof(*r));
	r->loop = loop;
	r->path = path;
	r->a_fd = a_fd;
	r->b_fd = b_fd;
	r->ssl = path == SL_DATAPATH_USERSPACE ? ssl : NULL;
	r->idle_ms = idle_ms;
	r->done = done;
	r->arg = arg;
	sl_timer_init(&r->idle, sl_relay_on_idle, r);
	if (path == SL_DATAPATH_USERSPACE && !ssl)
		return -EINVAL;
	r->active = true;
	rc = sl_relay_dir_init(&r->a2b, a_pre, a_pre_len);
	if (rc == 0)
		rc = sl_relay_dir_init(&r->b2a, b_pre, b_pre_len);
	/* Writability fires at once: the first pump runs from the loop, so
	 * done() is never called before sl_relay_start() returns. */
	if (rc == 0)
		rc = sl_loop_add(loop, &r->a_io, a_fd, EPOLLIN | EPOLLOUT, sl_relay_on_io, r);
	if (rc == 0)
		rc = sl_loop_add(loop, &r->b_io, b_fd, EPOLLIN | EPOLLOUT, sl_relay_on_io, r);
	if (rc < 0) {
		sl_relay_stop(r);
		return rc;
	}
	sl_timer_arm(loop, &r->idle, idle_ms);
	return 0;
}

void sl_relay_stop(struct sl_relay *r)
{
	if (!r->active)
		return;
	r->active = false;
	sl_loop_del(r->loop, &r->a_io);
	sl_loop_del(r->loop, &r->b_io);
	sl_timer_cancel(r->loop, &r->idle);
	free(r->a2b.buf);
	free(r->b2a.buf);
	r->a2b.buf = r->b2a.buf = NULL;
	r->a2b.len = r->b2a.len = 0;
}

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * relay.c — bounded, non-blocking two-way relay; see relay.h.
 *
 * Two engines behind one contract.  The userspace path: pump() moves
 * bytes in both directions through OpenSSL until nothing moves, then arms
 * exactly the events that can unblock it; either direction may need the
 * other readiness (WANT_READ from SSL_write and WANT_WRITE from SSL_read),
 * which the two b_wants_* flags carry to the next arming.  The kTLS and
 * plain paths: one lib/pump pump per direction, run on every event on
 * either fd, each asking for the one readiness it waits for.
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

/* ---- the userspace path: B is OpenSSL ----------------------------------- */

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
	int ret = SSL_read(r->ssl, buf, (int)len);

	return ret > 0 ? ret : sl_b_ssl_error(r, ret, "read");
}

static ssize_t sl_b_write(struct sl_relay *r, const char *buf, size_t len)
{
	int ret = SSL_write(r->ssl, buf, (int)len);

	return ret > 0 ? ret : sl_b_ssl_error(r, ret, "write");
}

/*
 * Pass A's EOF on to B: close_notify, then the TCP FIN.  The FIN must not
 * overtake the close_notify still in OpenSSL's buffer (a full socket):
 * the partner would read half a record and answer with a decode_error
 * alert.  Returns 1 when done, SL_B_AGAIN_* to be called again.
 */
static int sl_b_shutdown(struct sl_relay *r)
{
	int ret = SSL_shutdown(r->ssl);

	if (ret < 0) {
		int e = SSL_get_error(r->ssl, ret);

		if (e == SSL_ERROR_WANT_WRITE)
			return SL_B_AGAIN_WRITE;
		if (e == SSL_ERROR_WANT_READ)
			return SL_B_AGAIN_READ;
		/* anything else: the peer is gone; the FIN is all that is left */
	}
	shutdown(r->b_fd, SHUT_WR);
	ERR_clear_error();
	return 1;
}

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

/*
 * Returns 1 if anything moved, 0 if blocked, <0 on error.  a_dry/b_dry,
 * kept across the calls of one pump(): that side is not to be read in
 * this pump() — it had EPOLLIN armed and is not what woke us, or its last
 * read found nothing (EAGAIN, WANT_READ) or less than it asked for (A).
 * Nothing we do makes a socket readable, and the level-triggered EPOLLIN
 * armed instead brings us back at once if bytes came in meanwhile.
 * Without this, every pump() tried both sides until both failed: most of
 * the relay's system calls were reads that could only return EAGAIN.
 */
static int sl_relay_pump_once(struct sl_relay *r, uint32_t *a_ev, uint32_t *b_ev,
			      bool *a_dry, bool *b_dry)
{
	struct sl_relay_dir *u = &r->a2b, *d = &r->b2a;
	int moved = 0;
	ssize_t n;

	r->b_wants_read_for_write = r->b_wants_write_for_read = false;
	/* A → buffer */
	if (!u->eof && u->len < SL_RELAY_BUF && *a_dry) {
		*a_ev |= EPOLLIN;
	} else if (!u->eof && u->len < SL_RELAY_BUF) {
		if (u->off && !u->len)
			u->off = 0;
		if (u->off + u->len < SL_RELAY_BUF) {
			size_t want = SL_RELAY_BUF - u->off - u->len;

			n = read(r->a_fd, u->buf + u->off + u->len, want);
			if (n > 0) {
				u->len += (size_t)n;
				moved = 1;
				*a_dry = (size_t)n < want;
			} else if (n == 0 || errno == ECONNRESET) {
				u->eof = true;
				moved = 1;
			} else if (errno == EAGAIN) {
				*a_ev |= EPOLLIN;
				*a_dry = true;
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
		n = sl_b_shutdown(r);
		if (n == 1) {
			u->shut = true;
			moved = 1;
		} else {
			*b_ev |= n == SL_B_AGAIN_WRITE ? EPOLLOUT : EPOLLIN;
		}
	}
	/* B → buffer */
	if (!d->eof && d->len < SL_RELAY_BUF && *b_dry) {
		*b_ev |= EPOLLIN;
	} else if (!d->eof && d->len < SL_RELAY_BUF) {
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
				/* Dry only when OpenSSL holds nothing read
				 * ahead: buffered bytes get one more SSL_read
				 * rather than trust in a readiness. */
				*b_dry = !SSL_has_pending(r->ssl);
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

static void sl_relay_pump(struct sl_relay *r, int fd, uint32_t events)
{
	const uint32_t readable = EPOLLIN | EPOLLHUP | EPOLLERR;
	uint32_t a_ev, b_ev;
	bool any = false;
	bool a_dry = (r->a_io.events & EPOLLIN) && !(fd == r->a_fd && (events & readable));
	bool b_dry = (r->b_io.events & EPOLLIN) && !(fd == r->b_fd && (events & readable)) &&
		     !SSL_has_pending(r->ssl);
	int rc;

	do {
		a_ev = b_ev = 0;
		rc = sl_relay_pump_once(r, &a_ev, &b_ev, &a_dry, &b_dry);
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

/* ---- the kTLS and plain paths: B is a socket, lib/pump moves the bytes ---- */

static bool sl_relay_is_ktls(enum sl_datapath path)
{
	return path == SL_DATAPATH_KTLS_SPLICE || path == SL_DATAPATH_KTLS_RW;
}

/* Did the B→A pump's -ECONNRESET come from a TLS alert (not a TCP RST)?
 * sl_ktls_recv() leaves the last control record in rec; a user_canceled
 * warning is skipped there, so it cannot be what ended the read. */
static bool sl_relay_alert(const struct sl_pump *p)
{
	return p->rec.type == SL_TLS_CT_ALERT && p->rec.alert_desc != 0 &&
	       !(p->rec.alert_desc == 90 && p->rec.alert_level == 1);
}

/* A direction ends outside its pump: nothing is left in it (the pump
 * reported an error or waits for input), pass_eof says whether the
 * destination learns of the end. */
static void sl_relay_dir_end(struct sl_relay *r, struct sl_relay_dir *d, bool pass_eof)
{
	d->eof = d->shut = true;
	if (!pass_eof)
		return;
	if (d == &r->a2b) {
		if (d->pump.flags & SL_PUMP_F_OUT_KTLS)
			sl_ktls_send_close_notify(r->b_fd);	/* best effort */
		shutdown(r->b_fd, SHUT_WR);
	} else {
		shutdown(r->a_fd, SHUT_WR);
	}
}

/*
 * One direction's pump failed.  As on the userspace path, a destination
 * that is gone and a source that was reset only end that direction;
 * anything else ends the relay, with the reason in words.  0 or -errno.
 */
static int sl_relay_pump_failed(struct sl_relay *r, struct sl_relay_dir *d, int err)
{
	const struct sl_pump *p = &d->pump;
	bool in = p->err_side == SL_PUMP_SIDE_IN;

	if (!in && (err == -EPIPE || err == -ECONNRESET)) {
		sl_relay_dir_end(r, d, false);		/* see sl_relay_gone() */
		return 0;
	}
	if (in && err == -ECONNRESET && !sl_relay_alert(p)) {
		sl_relay_dir_end(r, d, true);		/* a reset source ended */
		return 0;
	}
	if (d == &r->a2b) {
		snprintf(r->reason, sizeof(r->reason), "%s: %s",
			 in ? "reading the local side" : "writing to the partner", strerror(-err));
		return err;
	}
	if (!in) {
		snprintf(r->reason, sizeof(r->reason), "writing to the local side: %s",
			 strerror(-err));
		return err;
	}
	switch (err) {
	case -EKEYEXPIRED:
		/* The records after it are under keys the kernel does not
		 * have: nothing after the KeyUpdate reached A. */
		snprintf(r->reason, sizeof(r->reason),
			 "partner sent a TLS KeyUpdate, which this kernel cannot follow");
		break;
	case -ECONNRESET:
		snprintf(r->reason, sizeof(r->reason), "partner sent TLS alert: %s",
			 SSL_alert_desc_string_long(p->rec.alert_desc));
		break;
	case -EBADMSG:
		snprintf(r->reason, sizeof(r->reason),
			 "TLS record from the partner failed to authenticate");
		break;
	case -EPROTO:
		snprintf(r->reason, sizeof(r->reason),
			 "unexpected TLS record from the partner (type %u, handshake type %u)",
			 p->rec.type, p->rec.hs_type);
		break;
	default:
		snprintf(r->reason, sizeof(r->reason), "reading from the partner: %s",
			 strerror(-err));
		break;
	}
	return err;
}

/*
 * Run both pumps once (each moves until it would block or used its
 * budget) and arm what each waits for.  events/fd: what woke us; a side
 * that hung up (EPOLLHUP/ERR) ends the direction toward it when that
 * direction only waits for input from the other side — it would not find
 * out before its next byte, and the relay would wake for the HUP forever.
 */
static void sl_relay_run_pumps(struct sl_relay *r, int fd, uint32_t events)
{
	struct sl_relay_dir *dirs[2] = { &r->a2b, &r->b2a };
	uint32_t ev[2] = { 0, 0 };	/* [0] a_fd, [1] b_fd */
	bool moved = false;

	for (int i = 0; i < 2; i++) {
		struct sl_relay_dir *d = dirs[i];
		uint64_t before = d->pump.bytes_in + d->pump.bytes_out;
		int st, rc;

		if (d->shut)
			continue;
		st = sl_pump_run(&d->pump, 0);
		d->st = st;
		d->bytes = d->pump.bytes_out;
		moved |= d->pump.bytes_in + d->pump.bytes_out != before;
		if (st < 0) {
			rc = sl_relay_pump_failed(r, d, st);
			if (rc < 0) {
				sl_relay_finish(r, rc);
				return;
			}
			moved = true;
			continue;
		}
		switch (st) {
		case SL_PUMP_DONE:
			d->eof = d->shut = true;
			moved = true;
			break;
		case SL_PUMP_WAIT_OUT:
			ev[1 - i] |= EPOLLOUT;	/* a2b writes B, b2a writes A */
			break;
		default:
			/* WAIT_IN, or YIELD (budget used: more to read; the
			 * level-triggered readiness brings us back). */
			ev[i] |= EPOLLIN;
			break;
		}
	}
	if (events & (EPOLLHUP | EPOLLERR)) {
		struct sl_relay_dir *toward = fd == r->a_fd ? &r->b2a : &r->a2b;

		if (!toward->shut && toward->st == SL_PUMP_WAIT_IN) {
			sl_relay_dir_end(r, toward, false);
			ev[fd == r->a_fd ? 1 : 0] &= ~(uint32_t)EPOLLIN;
			moved = true;
		}
	}
	if (r->a2b.shut && r->b2a.shut) {
		sl_relay_finish(r, 0);
		return;
	}
	if (moved)
		sl_timer_arm(r->loop, &r->idle, r->idle_ms);
	sl_loop_mod(r->loop, &r->a_io, ev[0]);
	sl_loop_mod(r->loop, &r->b_io, ev[1]);
}

/* Both pumps; a splice path that cannot get pipes runs read/write. */
static int sl_relay_pumps_init(struct sl_relay *r, const void *a_pre, size_t a_pre_len,
			       const void *b_pre, size_t b_pre_len)
{
	bool ktls = sl_relay_is_ktls(r->path);
	enum sl_pump_mode mode = r->path == SL_DATAPATH_KTLS_RW ? SL_PUMP_RW : SL_PUMP_SPLICE;
	int rc;

	for (;;) {
		r->b2a.pump.pipe[0] = r->b2a.pump.pipe[1] = -1;
		rc = sl_pump_init(&r->a2b.pump, r->a_fd, r->b_fd, mode,
				  ktls ? SL_PUMP_F_OUT_KTLS : 0, 0);
		if (rc == 0)
			rc = sl_pump_init(&r->b2a.pump, r->b_fd, r->a_fd, mode,
					  ktls ? SL_PUMP_F_IN_KTLS : 0, 0);
		/* -ENOTCONN: a side said to be kTLS is not: fail closed. */
		if (rc == 0 || mode == SL_PUMP_RW || rc == -ENOTCONN)
			break;
		/* No pipes to be had (EMFILE, ENFILE, ENOMEM): read/write
		 * needs none. */
		sl_pump_done(&r->a2b.pump);
		sl_pump_done(&r->b2a.pump);
		mode = SL_PUMP_RW;
		if (r->path == SL_DATAPATH_KTLS_SPLICE)
			r->path = SL_DATAPATH_KTLS_RW;
	}
	if (rc == 0)
		rc = sl_pump_push(&r->a2b.pump, a_pre, a_pre_len);
	if (rc == 0)
		rc = sl_pump_push(&r->b2a.pump, b_pre, b_pre_len);
	r->a2b.st = r->b2a.st = SL_PUMP_YIELD;
	return rc;
}

/* ---- common ------------------------------------------------------------- */

static void sl_relay_on_io(struct sl_loop *loop, int fd, uint32_t events, void *arg)
{
	struct sl_relay *r = arg;

	(void)loop;
	if (r->pumps)
		sl_relay_run_pumps(r, fd, events);
	else
		sl_relay_pump(r, fd, events);
}

static void sl_relay_on_idle(struct sl_loop *loop, void *arg)
{
	struct sl_relay *r = arg;

	(void)loop;
	sl_relay_finish(r, -ETIMEDOUT);
}

static int sl_relay_dir_init(struct sl_relay_dir *d, const void *pre, size_t len)
{
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
	r->idle_ms = idle_ms;
	r->done = done;
	r->arg = arg;
	r->a2b.pump.pipe[0] = r->a2b.pump.pipe[1] = -1;
	r->b2a.pump.pipe[0] = r->b2a.pump.pipe[1] = -1;
	sl_timer_init(&r->idle, sl_relay_on_idle, r);
	switch (path) {
	case SL_DATAPATH_USERSPACE:
		if (!ssl)
			return -EINVAL;	/* no plaintext path hides behind this one */
		r->ssl = ssl;
		/* From here on OpenSSL may read past the current record: one
		 * read() per burst of records instead of two per record (5-byte
		 * header, then body).  Only now: during the handshake and AUTH
		 * nothing may be read ahead, since what lies past the last reply
		 * must be seen (unsolicited data) or left to the kernel (kTLS
		 * handoff); a relay on this path never hands off.  Buffered
		 * records are drained by pump(), which reads B until OpenSSL
		 * says WANT_READ, so none waits for a readiness that never comes. */
		SSL_set_read_ahead(ssl, 1);
		break;
	case SL_DATAPATH_PLAIN:
		if (ssl)
			return -EINVAL;	/* a leg with a TLS session never goes plain */
		/* fall through */
	case SL_DATAPATH_KTLS_SPLICE:
	case SL_DATAPATH_KTLS_RW:
		r->pumps = true;
		break;
	default:
		return -EINVAL;
	}
	if (a_pre_len > SL_RELAY_BUF || b_pre_len > SL_RELAY_BUF)
		return -E2BIG;
	r->active = true;
	if (r->pumps) {
		rc = sl_relay_pumps_init(r, a_pre, a_pre_len, b_pre, b_pre_len);
	} else {
		rc = sl_relay_dir_init(&r->a2b, a_pre, a_pre_len);
		if (rc == 0)
			rc = sl_relay_dir_init(&r->b2a, b_pre, b_pre_len);
	}
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
	/* The pipes (and their bytes) go; counters and records stay for
	 * done() and the result. */
	sl_pump_done(&r->a2b.pump);
	sl_pump_done(&r->b2a.pump);
	free(r->a2b.buf);
	free(r->b2a.buf);
	r->a2b.buf = r->b2a.buf = NULL;
	r->a2b.len = r->b2a.len = 0;
}

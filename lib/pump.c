// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * pump.c — one direction of a kTLS relay: splice() through a pipe, or
 * read/write with a stack buffer.  See pump.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ktls.h"
#include "pump.h"

#define SL_PUMP_BUDGET	(1u << 20)

const char *sl_pump_mode_name(enum sl_pump_mode m)
{
	switch (m) {
	case SL_PUMP_SPLICE: return "splice";
	case SL_PUMP_RW: return "rw";
	}
	return "unknown";
}

const char *sl_pump_status_name(int status)
{
	switch (status) {
	case SL_PUMP_WAIT_IN: return "wait-in";
	case SL_PUMP_WAIT_OUT: return "wait-out";
	case SL_PUMP_YIELD: return "yield";
	case SL_PUMP_DONE: return "done";
	}
	return status < 0 ? "error" : "unknown";
}

int sl_pump_init(struct sl_pump *p, int in, int out, enum sl_pump_mode mode,
		 unsigned flags, size_t pipe_size)
{
	memset(p, 0, sizeof(*p));
	p->in = in;
	p->out = out;
	p->mode = mode;
	p->flags = flags;
	p->pipe[0] = p->pipe[1] = -1;
	if (mode != SL_PUMP_SPLICE && mode != SL_PUMP_RW)
		return -EINVAL;
	/* A side said to be kernel TLS must be: splice would otherwise move
	 * plaintext to the partner, or unauthenticated bytes to the MTA. */
	if ((flags & SL_PUMP_F_OUT_KTLS) && !(sl_ktls_active(out) & SL_KTLS_DIR_TX))
		return -ENOTCONN;
	if ((flags & SL_PUMP_F_IN_KTLS) && !(sl_ktls_active(in) & SL_KTLS_DIR_RX))
		return -ENOTCONN;
	if (mode == SL_PUMP_SPLICE) {
		if (pipe2(p->pipe, O_NONBLOCK | O_CLOEXEC) < 0) {
			p->pipe[0] = p->pipe[1] = -1;
			return -errno;
		}
		if (pipe_size && fcntl(p->pipe[1], F_SETPIPE_SZ, (int)pipe_size) < 0)
			return -errno;
	}
	return 0;
}

void sl_pump_done(struct sl_pump *p)
{
	if (p->pipe[0] >= 0)
		close(p->pipe[0]);
	if (p->pipe[1] >= 0)
		close(p->pipe[1]);
	p->pipe[0] = p->pipe[1] = -1;
	free(p->buf);
	p->buf = NULL;
	p->buf_off = p->buf_len = 0;
}

int sl_pump_push(struct sl_pump *p, const void *buf, size_t len)
{
	ssize_t n;

	if (!len)
		return 0;
	if (p->inflight || p->buf_len)
		return -EBUSY;
	if (p->mode == SL_PUMP_SPLICE) {
		int cap = fcntl(p->pipe[1], F_GETPIPE_SZ);

		if (cap < 0)
			return -errno;
		if (len > (size_t)cap)
			return -ENOBUFS;
		n = write(p->pipe[1], buf, len);
		if (n < 0)
			return -errno;
		if ((size_t)n != len)
			return -ENOBUFS;	/* cannot happen in an empty pipe */
		p->inflight = len;
	} else {
		if (len > UINT32_MAX)
			return -ENOBUFS;
		p->buf = malloc(len);
		if (!p->buf)
			return -ENOMEM;
		memcpy(p->buf, buf, len);
		p->buf_off = 0;
		p->buf_len = (uint32_t)len;
	}
	p->bytes_in += len;
	return 0;
}

static int sl_pump_fail(struct sl_pump *p, enum sl_pump_side side, int err)
{
	p->err_side = side;
	p->err = err;
	return err;
}

/* in ended and everything is out: pass the end on. */
static int sl_pump_finish(struct sl_pump *p)
{
	int r;

	if (p->flags & SL_PUMP_F_OUT_KTLS) {
		r = sl_ktls_send_close_notify(p->out);
		if (r == -EAGAIN)
			return SL_PUMP_WAIT_OUT;
		if (r < 0)
			return sl_pump_fail(p, SL_PUMP_SIDE_OUT, r);
		p->flags &= ~SL_PUMP_F_OUT_KTLS;	/* sent once */
	}
	if (shutdown(p->out, SHUT_WR) < 0 && errno != ENOTCONN)
		return sl_pump_fail(p, SL_PUMP_SIDE_OUT, -errno);
	p->done = true;
	return SL_PUMP_DONE;
}

/* Read one unit from a kTLS source into buf (>= SL_KTLS_RECORD_MAX):
 * > 0 data, 0 end (eof_in set), or -errno (-EAGAIN: nothing now). */
static ssize_t sl_pump_ktls_read(struct sl_pump *p, void *buf, size_t len)
{
	ssize_t n = sl_ktls_recv(p->in, buf, len, MSG_DONTWAIT, &p->rec);

	if (n == 0) {
		p->eof_in = true;
		p->close_notify = p->rec.type == SL_TLS_CT_ALERT && p->rec.alert_desc == 0;
	}
	return n;
}

static int sl_pump_run_splice(struct sl_pump *p, size_t budget)
{
	const unsigned sflags = SPLICE_F_NONBLOCK | SPLICE_F_MOVE;
	ssize_t n;

	for (;;) {
		/* Fill the pipe from in until it or in has nothing more, or
		 * the budget is in the pipe (a pipe of 16 buffers holds far
		 * more than 64 KiB when TCP hands over large fragments). */
		size_t want = budget > p->moved + SL_KTLS_RECORD_MAX ?
			      budget - p->moved : SL_KTLS_RECORD_MAX;

		while (!p->eof_in && p->inflight < want) {
			n = splice(p->in, NULL, p->pipe[1], NULL, want - p->inflight, sflags);
			if (n > 0) {
				p->inflight += (size_t)n;
				p->bytes_in += (uint64_t)n;
				continue;
			}
			if (n == 0) {
				/* A TCP FIN (a close_notify comes as a
				 * control record, below). */
				p->eof_in = true;
				break;
			}
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (!p->inflight)
					return SL_PUMP_WAIT_IN;
				break;	/* in empty or pipe full: drain */
			}
			if (errno == EINVAL && (p->flags & SL_PUMP_F_IN_KTLS)) {
				/* The next record is not data.  Everything
				 * before it goes out first. */
				uint8_t rec[SL_KTLS_RECORD_MAX];

				if (p->inflight)
					break;
				n = sl_pump_ktls_read(p, rec, sizeof(rec));
				if (n == -EAGAIN)
					return SL_PUMP_WAIT_IN;
				if (n < 0)
					return sl_pump_fail(p, SL_PUMP_SIDE_IN, (int)n);
				if (n > 0) {
					/* Data after skipped tickets: into the
					 * (empty) pipe, one copy, rare. */
					ssize_t w = write(p->pipe[1], rec, (size_t)n);

					if (w != n)
						return sl_pump_fail(p, SL_PUMP_SIDE_IN,
								    w < 0 ? -errno : -EIO);
					p->inflight += (size_t)n;
					p->bytes_in += (uint64_t)n;
				}
				continue;
			}
			return sl_pump_fail(p, SL_PUMP_SIDE_IN, -errno);
		}
		/* Drain the pipe into out. */
		while (p->inflight) {
			n = splice(p->pipe[0], NULL, p->out, NULL, p->inflight, sflags);
			if (n > 0) {
				p->inflight -= (size_t)n;
				p->bytes_out += (uint64_t)n;
				p->moved += (uint64_t)n;
				continue;
			}
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				return SL_PUMP_WAIT_OUT;
			return sl_pump_fail(p, SL_PUMP_SIDE_OUT, n < 0 ? -errno : -EIO);
		}
		if (p->eof_in)
			return sl_pump_finish(p);
		if (p->moved >= budget)
			return SL_PUMP_YIELD;
	}
}

/* Write from src; the rest, if out blocks, is kept in p->buf. */
static int sl_pump_write(struct sl_pump *p, const uint8_t *src, size_t len, bool kept)
{
	while (len) {
		ssize_t n = send(p->out, src, len, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0) {
			src += n;
			len -= (size_t)n;
			p->bytes_out += (uint64_t)n;
			p->moved += (uint64_t)n;
			if (kept) {
				p->buf_off += (uint32_t)n;
				p->buf_len -= (uint32_t)n;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (!kept) {
				p->buf = malloc(len);
				if (!p->buf)
					return sl_pump_fail(p, SL_PUMP_SIDE_OUT, -ENOMEM);
				memcpy(p->buf, src, len);
				p->buf_off = 0;
				p->buf_len = (uint32_t)len;
			}
			return SL_PUMP_WAIT_OUT;
		}
		return sl_pump_fail(p, SL_PUMP_SIDE_OUT, n < 0 ? -errno : -EIO);
	}
	if (kept) {
		free(p->buf);
		p->buf = NULL;
		p->buf_off = p->buf_len = 0;
	}
	return 0;
}

static int sl_pump_run_rw(struct sl_pump *p, size_t budget)
{
	uint8_t tmp[SL_KTLS_RECORD_MAX];
	ssize_t n;
	int r;

	for (;;) {
		if (p->buf_len) {
			r = sl_pump_write(p, p->buf + p->buf_off, p->buf_len, true);
			if (r)
				return r;
		}
		if (p->eof_in)
			return sl_pump_finish(p);
		if (p->moved >= budget)
			return SL_PUMP_YIELD;
		if (p->flags & SL_PUMP_F_IN_KTLS) {
			n = sl_pump_ktls_read(p, tmp, sizeof(tmp));
		} else {
			n = read(p->in, tmp, sizeof(tmp));
			if (n < 0)
				n = -errno;
			else if (n == 0)
				p->eof_in = true;
		}
		if (n == -EINTR)
			continue;
		if (n == -EAGAIN)
			return SL_PUMP_WAIT_IN;
		if (n < 0)
			return sl_pump_fail(p, SL_PUMP_SIDE_IN, (int)n);
		p->bytes_in += (uint64_t)n;
		r = sl_pump_write(p, tmp, (size_t)n, false);
		if (r)
			return r;
	}
}

int sl_pump_run(struct sl_pump *p, size_t budget)
{
	p->moved = 0;
	if (p->done)
		return SL_PUMP_DONE;
	if (p->err)
		return p->err;
	if (!budget)
		budget = SL_PUMP_BUDGET;
	if (p->mode == SL_PUMP_SPLICE)
		return sl_pump_run_splice(p, budget);
	return sl_pump_run_rw(p, budget);
}

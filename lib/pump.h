/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * pump.h — one direction of a relay between two sockets, for the kTLS
 * data paths: bytes from `in` to `out` until `in` ends, then `out` is
 * shut down for writing (after a close_notify when `out` is kernel TLS).
 *
 * A session owns two pumps (MTA → partner, partner → MTA).  The pump
 * knows no event loop: the owner calls sl_pump_run() when the fd the pump
 * last waited for is ready, and the return value says what to wait for
 * next.  Non-blocking fds only; the pump never owns them.
 *
 * Modes, best first:
 *   SL_PUMP_SPLICE  splice() in → pipe → out: the bytes stay in the kernel
 *                   (no userspace copy of the mail).  The pipe is the
 *                   buffer; a full pipe stops reading (back-pressure).
 *   SL_PUMP_RW      read()/recvmsg() into a stack buffer, write() out; an
 *                   unwritten rest is kept on the heap only until `out`
 *                   takes it (back-pressure: no read while it is there).
 *
 * With SL_PUMP_F_IN_KTLS the source is a kTLS RX socket: control records
 * are read with sl_ktls_recv() (tickets skipped; close_notify is the end;
 * KeyUpdate, alerts and other handshake messages are errors), never passed
 * on as data.  With SL_PUMP_F_OUT_KTLS the sink is a kTLS TX socket and
 * the end of `in` sends a close_notify before SHUT_WR.
 *
 * Memory: a pump is ~96 bytes; SPLICE adds two pipe fds (the kernel's
 * memory); RW holds heap only while `out` is blocked.
 */
#ifndef SL_PUMP_H
#define SL_PUMP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ktls.h"

enum sl_pump_mode {
	SL_PUMP_SPLICE = 1,
	SL_PUMP_RW = 2,
};

#define SL_PUMP_F_IN_KTLS	(1u << 0)	/* in is a kTLS RX socket */
#define SL_PUMP_F_OUT_KTLS	(1u << 1)	/* out is a kTLS TX socket */

/* What sl_pump_run() asks for next (>= 0); errors are -errno. */
enum sl_pump_status {
	SL_PUMP_WAIT_IN = 1,	/* in would block: wait for EPOLLIN on in */
	SL_PUMP_WAIT_OUT = 2,	/* out would block: wait for EPOLLOUT on out */
	SL_PUMP_YIELD = 3,	/* the budget is used up: call again soon */
	SL_PUMP_DONE = 4,	/* in ended, all passed on, out shut for writing */
};

enum sl_pump_side {
	SL_PUMP_SIDE_NONE = 0,
	SL_PUMP_SIDE_IN = 1,
	SL_PUMP_SIDE_OUT = 2,
};

struct sl_pump {
	int in, out;
	int pipe[2];			/* SPLICE */
	enum sl_pump_mode mode;
	unsigned flags;			/* SL_PUMP_F_* */
	uint8_t *buf;			/* RW: bytes read, not yet written */
	uint32_t buf_off, buf_len;
	size_t inflight;		/* SPLICE: bytes in the pipe */
	uint64_t bytes_in, bytes_out;	/* read from in / written to out */
	uint64_t moved;			/* written to out by the last run */
	bool eof_in;			/* in ended */
	bool close_notify;		/* … with a close_notify (F_IN_KTLS) */
	bool done;
	enum sl_pump_side err_side;	/* where the last error came from */
	int err;			/* the last error, -errno */
	struct sl_ktls_rec rec;		/* last control record (F_IN_KTLS) */
};

/*
 * Set up p; SPLICE mode creates the pipe (pipe_size 0 = the default,
 * otherwise F_SETPIPE_SZ).  0 or -errno (p is then safe to _done);
 * -ENOTCONN if a side flagged kTLS has no kTLS in that direction (fail
 * closed: no pump moves plaintext toward a socket believed encrypted).
 */
int sl_pump_init(struct sl_pump *p, int in, int out, enum sl_pump_mode mode,
		 unsigned flags, size_t pipe_size);

/*
 * Queue bytes that were read from `in` before the pump took over (what
 * the MTA pipelined, what a handshake buffer still held): they go out
 * first, in order, and count as read from in.  Call before the first
 * sl_pump_run().  0, -ENOBUFS (SPLICE: more than the empty pipe takes,
 * 64 KiB by default), -EBUSY (bytes already queued) or -errno.
 */
int sl_pump_push(struct sl_pump *p, const void *buf, size_t len);

/*
 * Move bytes until one side would block, in ends, or budget bytes were
 * written (0 = 1 MiB).  Returns an enum sl_pump_status, or -errno with
 * p->err_side, p->err and (for control records) p->rec filled:
 *   -EKEYEXPIRED  the peer sent a KeyUpdate the kernel cannot follow
 *   -ECONNRESET   a fatal alert from the peer (p->rec.alert_desc)
 *   -EPROTO       an unexpected handshake message or record
 *   -EBADMSG      a record failed to decrypt
 *   -EPIPE, …     the socket's own errors
 * After SL_PUMP_DONE or an error, further calls return the same.
 */
int sl_pump_run(struct sl_pump *p, size_t budget);

/* Close the pipe, free the buffer.  The fds in/out are not closed. */
void sl_pump_done(struct sl_pump *p);

const char *sl_pump_mode_name(enum sl_pump_mode m);	/* "splice", "rw" */
const char *sl_pump_status_name(int status);		/* "wait-in", …, "error" */

#endif /* SL_PUMP_H */

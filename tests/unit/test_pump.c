// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_pump.c — the relay pumps on plain TCP sockets (the host kernel has
 * no kTLS; tests/vm/ covers the kTLS side): bytes intact through both
 * modes under back-pressure, half-close, budgets, errors, and sides that
 * claim to be kTLS but are not refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "pump.h"
#include "tap.h"

static int tcp_pair(int fds[2], int bufsize)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r = -1;

	fds[0] = fds[1] = -1;
	if (bufsize) {
		/* Set before connect so the window stays small. */
		setsockopt(l, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
	}
	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(l, 1) == 0 &&
	    getsockname(l, (struct sockaddr *)&sa, &len) == 0) {
		fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (bufsize)
			setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof(bufsize));
		if (connect(fds[0], (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			fds[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
			r = fds[1] >= 0 ? 0 : -1;
		}
	}
	close(l);
	return r;
}

static uint8_t pattern(uint64_t i)
{
	return (uint8_t)(i * 2654435761u >> 13);
}

struct peer {
	int fd;
	size_t n;
	size_t from;		/* writer: the stream starts at this offset */
	bool ok;		/* reader: all bytes as written, then EOF */
	size_t got;
	bool hold;		/* reader: read nothing until the pump waited for out */
};

/* Set by drive() when the pump reports SL_PUMP_WAIT_OUT: a reader that
 * holds until then makes back-pressure certain instead of a matter of
 * which thread the scheduler runs first. */
static int out_waited;

static void *writer(void *arg)
{
	struct peer *p = arg;
	uint8_t buf[8192];
	size_t off = p->from;

	while (off < p->n) {
		size_t k = p->n - off < sizeof(buf) ? p->n - off : sizeof(buf);

		for (size_t i = 0; i < k; i++)
			buf[i] = pattern(off + i);
		ssize_t w = write(p->fd, buf, k);

		if (w <= 0)
			break;
		off += (size_t)w;
	}
	shutdown(p->fd, SHUT_WR);
	p->ok = off == p->n;
	return NULL;
}

static void *reader(void *arg)
{
	struct peer *p = arg;
	uint8_t buf[8192];
	bool same = true;
	ssize_t r;

	/* At most 5 s: a pump that never waits fails the back-pressure test,
	 * not the whole run. */
	for (int i = 0; p->hold && i < 5000 && !__atomic_load_n(&out_waited, __ATOMIC_ACQUIRE); i++)
		usleep(1000);
	while ((r = read(p->fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < r; i++)
			same &= buf[i] == pattern(p->got + (size_t)i);
		p->got += (size_t)r;
	}
	p->ok = same && r == 0 && p->got == p->n;
	return NULL;
}

static uint64_t max_moved;	/* the most one sl_pump_run() call moved */

/* Drive one pump with poll until it is done or fails; counts statuses. */
static int drive(struct sl_pump *p, size_t budget, int seen[5])
{
	max_moved = 0;
	int st = SL_PUMP_YIELD;

	for (int rounds = 0; rounds < 1000000; rounds++) {
		struct pollfd pfd = { .fd = -1 };

		if (st == SL_PUMP_WAIT_IN)
			pfd = (struct pollfd){ .fd = p->in, .events = POLLIN };
		else if (st == SL_PUMP_WAIT_OUT)
			pfd = (struct pollfd){ .fd = p->out, .events = POLLOUT };
		if (pfd.fd >= 0 && poll(&pfd, 1, 10000) <= 0)
			return -ETIMEDOUT;
		st = sl_pump_run(p, budget);
		if (p->moved > max_moved)
			max_moved = p->moved;
		if (st > 0 && st <= 4)
			seen[st]++;
		if (st == SL_PUMP_WAIT_OUT)
			__atomic_store_n(&out_waited, 1, __ATOMIC_RELEASE);
		if (st == SL_PUMP_DONE || st < 0)
			return st;
	}
	return -ELOOP;
}

struct relay_case {
	const char *name;
	enum sl_pump_mode mode;
	size_t bytes;
	int bufsize;		/* small socket buffers force back-pressure */
	size_t budget;
	size_t pushed;		/* of bytes, this many queued with sl_pump_push */
};

static const struct relay_case relay_cases[] = {
	{ "splice, 4 MiB, small buffers", SL_PUMP_SPLICE, 4u << 20, 16384, 0, 0 },
	{ "rw, 4 MiB, small buffers", SL_PUMP_RW, 4u << 20, 16384, 0, 0 },
	{ "splice, empty stream", SL_PUMP_SPLICE, 0, 0, 0, 0 },
	{ "rw, empty stream", SL_PUMP_RW, 0, 0, 0, 0 },
	{ "splice, 1 MiB, 64 KiB budget", SL_PUMP_SPLICE, 1u << 20, 0, 65536, 0 },
	{ "rw, 1 MiB, 64 KiB budget", SL_PUMP_RW, 1u << 20, 0, 65536, 0 },
	{ "splice, 1000 bytes pushed first", SL_PUMP_SPLICE, 1u << 20, 16384, 0, 1000 },
	{ "rw, 1000 bytes pushed first", SL_PUMP_RW, 1u << 20, 16384, 0, 1000 },
	{ "splice, only pushed bytes", SL_PUMP_SPLICE, 4096, 0, 0, 4096 },
};

static void t_relay(const struct relay_case *c)
{
	int a[2], b[2], seen[5] = { 0 };
	struct peer w, rd;
	struct sl_pump p;
	pthread_t wt, rt;
	int st;

	if (!tap_ok(tcp_pair(a, c->bufsize) == 0 && tcp_pair(b, c->bufsize) == 0,
		    "%s: socket pairs", c->name))
		return;
	w = (struct peer){ .fd = a[0], .n = c->bytes, .from = c->pushed };
	rd = (struct peer){ .fd = b[1], .n = c->bytes, .hold = c->bufsize != 0 };
	__atomic_store_n(&out_waited, 0, __ATOMIC_RELEASE);
	fcntl(a[1], F_SETFL, O_NONBLOCK);
	fcntl(b[0], F_SETFL, O_NONBLOCK);
	tap_int(sl_pump_init(&p, a[1], b[0], c->mode, 0, 0), 0, "%s: init", c->name);
	if (c->pushed) {
		/* The stream's head was "read before the pump": it must come
		 * out first, then the rest from the socket. */
		uint8_t *head = malloc(c->pushed);

		for (size_t i = 0; i < c->pushed; i++)
			head[i] = pattern(i);
		tap_int(sl_pump_push(&p, head, c->pushed), 0, "%s: push", c->name);
		tap_int(sl_pump_push(&p, head, 1), -EBUSY, "%s: a second push is refused", c->name);
		free(head);
	}
	pthread_create(&wt, NULL, writer, &w);
	pthread_create(&rt, NULL, reader, &rd);
	st = drive(&p, c->budget, seen);
	pthread_join(wt, NULL);
	pthread_join(rt, NULL);
	tap_int(st, SL_PUMP_DONE, "%s: done after the source's end", c->name);
	tap_ok((w.ok || c->pushed == c->bytes) && rd.ok, "%s: every byte in order, then EOF at the sink (%zu of %zu)",
	       c->name, rd.got, c->bytes);
	tap_ok(p.bytes_in == c->bytes && p.bytes_out == c->bytes && p.eof_in,
	       "%s: counters in=%llu out=%llu", c->name, (unsigned long long)p.bytes_in,
	       (unsigned long long)p.bytes_out);
	tap_ok(p.buf == NULL && p.inflight == 0, "%s: nothing left buffered", c->name);
	if (c->bufsize)
		tap_ok(seen[SL_PUMP_WAIT_OUT] > 0, "%s: back-pressure seen (%d waits for out)",
		       c->name, seen[SL_PUMP_WAIT_OUT]);
	/* One run stops at the budget, give or take one pipe or buffer. */
	if (c->budget)
		tap_ok(seen[SL_PUMP_YIELD] > 0 && max_moved <= c->budget + 65536,
		       "%s: yields to the loop (%d yields, at most %llu bytes a run)", c->name,
		       seen[SL_PUMP_YIELD], (unsigned long long)max_moved);
	tap_int(sl_pump_run(&p, 0), SL_PUMP_DONE, "%s: stays done", c->name);
	sl_pump_done(&p);
	close(a[0]), close(a[1]), close(b[0]), close(b[1]);
}

/* The sink's reader is gone: the pump reports the out side. */
static void t_sink_gone(enum sl_pump_mode mode)
{
	const char *name = sl_pump_mode_name(mode);
	int a[2], b[2], seen[5] = { 0 }, st;
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	struct peer w;
	struct sl_pump p;
	pthread_t wt;

	if (tcp_pair(a, 0) < 0 || tcp_pair(b, 0) < 0)
		return;
	setsockopt(b[1], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(b[1]);		/* RST to the pump's out */
	fcntl(a[1], F_SETFL, O_NONBLOCK);
	fcntl(b[0], F_SETFL, O_NONBLOCK);
	w = (struct peer){ .fd = a[0], .n = 1u << 20 };
	sl_pump_init(&p, a[1], b[0], mode, 0, 0);
	pthread_create(&wt, NULL, writer, &w);
	st = drive(&p, 0, seen);
	close(a[1]);		/* lets the writer finish */
	pthread_join(wt, NULL);
	tap_ok((st == -EPIPE || st == -ECONNRESET) && p.err_side == SL_PUMP_SIDE_OUT,
	       "%s: a reset sink is an error on the out side (%s)", name, strerror(-st));
	tap_int(sl_pump_run(&p, 0), st, "%s: the error sticks", name);
	sl_pump_done(&p);
	close(a[0]), close(b[0]);
}

/* Sides flagged kTLS that are plain sockets: refused before any byte. */
static void t_fake_ktls(void)
{
	int a[2];
	struct sl_pump p;

	if (tcp_pair(a, 0) < 0)
		return;
	for (int m = SL_PUMP_SPLICE; m <= SL_PUMP_RW; m++) {
		tap_int(sl_pump_init(&p, a[0], a[1], m, SL_PUMP_F_OUT_KTLS, 0), -ENOTCONN,
			"%s: an out side without kTLS TX is refused", sl_pump_mode_name(m));
		sl_pump_done(&p);
		tap_int(sl_pump_init(&p, a[0], a[1], m, SL_PUMP_F_IN_KTLS, 0), -ENOTCONN,
			"%s: an in side without kTLS RX is refused", sl_pump_mode_name(m));
		sl_pump_done(&p);
	}
	close(a[0]), close(a[1]);
}

static void t_push_limits(void)
{
	static uint8_t big[1u << 20];
	struct sl_pump p;
	int a[2];

	if (tcp_pair(a, 0) < 0)
		return;
	sl_pump_init(&p, a[0], a[1], SL_PUMP_SPLICE, 0, 0);
	tap_int(sl_pump_push(&p, big, sizeof(big)), -ENOBUFS, "splice: a push beyond the pipe is refused");
	tap_int(sl_pump_push(&p, big, 0), 0, "splice: an empty push is nothing");
	sl_pump_done(&p);
	close(a[0]), close(a[1]);
}

static void t_names(void)
{
	static const struct { int st; const char *name; } st[] = {
		{ SL_PUMP_WAIT_IN, "wait-in" }, { SL_PUMP_WAIT_OUT, "wait-out" },
		{ SL_PUMP_YIELD, "yield" }, { SL_PUMP_DONE, "done" }, { -EPIPE, "error" },
	};
	struct sl_pump p;

	for (size_t i = 0; i < TAP_NELEM(st); i++)
		tap_str(sl_pump_status_name(st[i].st), st[i].name, "status name %d", st[i].st);
	tap_str(sl_pump_mode_name(SL_PUMP_SPLICE), "splice", "mode name splice");
	tap_str(sl_pump_mode_name(SL_PUMP_RW), "rw", "mode name rw");
	tap_int(sl_pump_init(&p, 0, 1, (enum sl_pump_mode)7, 0, 0), -EINVAL, "unknown mode refused");
	sl_pump_done(&p);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	t_names();
	for (size_t i = 0; i < TAP_NELEM(relay_cases); i++)
		t_relay(&relay_cases[i]);
	t_sink_gone(SL_PUMP_SPLICE);
	t_sink_gone(SL_PUMP_RW);
	t_fake_ktls();
	t_push_limits();
	return tap_done();
}

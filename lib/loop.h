/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * loop.h — the controller's event loop: epoll, timers, a worker pool.
 *
 * Concurrency model (the whole controller follows it):
 *  - ONE thread runs the loop and owns every session, map update and
 *    policy pointer.  Callbacks run on it, never concurrently, and must
 *    not block: sockets are non-blocking, OpenSSL runs in non-blocking mode.
 *  - Work that blocks (DNS lookups with res_nquery, crypt(3) password
 *    checks at ~160 ms each) is submitted to a small pool of worker
 *    threads with sl_loop_submit().  A job's work function runs on a
 *    worker and may only touch the job's own data; its done function runs
 *    later on the loop thread, where it may touch anything.
 *  - Timers are a binary heap of absolute CLOCK_MONOTONIC deadlines.
 *
 * Ownership: struct sl_io, struct sl_timer and struct sl_job are embedded
 * in their owners (no allocation per registration).  An owner must
 * sl_loop_del() / sl_timer_cancel() before freeing them; a submitted job
 * must not be freed before its done function ran (use its cancel flag).
 */
#ifndef SL_LOOP_H
#define SL_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/epoll.h>

struct sl_loop;

typedef void (*sl_io_fn)(struct sl_loop *loop, int fd, uint32_t events, void *arg);
typedef void (*sl_timer_fn)(struct sl_loop *loop, void *arg);
typedef void (*sl_job_fn)(void *arg);

struct sl_io {
	int fd;
	uint32_t events;		/* EPOLLIN | EPOLLOUT | ... currently armed */
	sl_io_fn fn;
	void *arg;
	bool added;
};

struct sl_timer {
	uint64_t deadline_ms;		/* CLOCK_MONOTONIC, ms */
	sl_timer_fn fn;
	void *arg;
	int heap_idx;			/* -1 when not armed */
};

struct sl_job {
	sl_job_fn work;			/* runs on a worker thread */
	sl_job_fn done;			/* runs on the loop thread afterwards */
	void *arg;
	struct sl_job *next;		/* queue link, owned by the loop */
};

int sl_loop_new(unsigned workers, struct sl_loop **ret);
struct sl_loop *sl_loop_free(struct sl_loop *loop);

/* Register fd; events may be 0 (registered but idle). */
int sl_loop_add(struct sl_loop *loop, struct sl_io *io, int fd, uint32_t events,
		sl_io_fn fn, void *arg);
int sl_loop_mod(struct sl_loop *loop, struct sl_io *io, uint32_t events);
void sl_loop_del(struct sl_loop *loop, struct sl_io *io);

void sl_timer_init(struct sl_timer *t, sl_timer_fn fn, void *arg);
/* (Re)arm t to fire once, ms milliseconds from now. */
int sl_timer_arm(struct sl_loop *loop, struct sl_timer *t, uint64_t ms);
void sl_timer_cancel(struct sl_loop *loop, struct sl_timer *t);
static inline bool sl_timer_armed(const struct sl_timer *t) { return t->heap_idx >= 0; }

/* Queue a blocking job for the worker pool. */
int sl_loop_submit(struct sl_loop *loop, struct sl_job *job);

/*
 * Run job->done on the loop thread after the current batch of events.
 * This is how an owner frees itself from inside one of its callbacks:
 * epoll may still hold events for its fds in the same batch, so memory
 * holding a struct sl_io must outlive the batch.
 */
void sl_loop_defer(struct sl_loop *loop, struct sl_job *job);

/* Run until sl_loop_stop(); returns 0 or -errno. */
int sl_loop_run(struct sl_loop *loop);
void sl_loop_stop(struct sl_loop *loop);

/* Milliseconds on CLOCK_MONOTONIC (the loop's time base). */
uint64_t sl_now_ms(void);

#endif /* SL_LOOP_H */

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * loop.c — epoll + timer heap + worker pool.  See loop.h for the model.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"

#define SL_LOOP_MAX_EVENTS	64
#define SL_LOOP_MAX_WORKERS	16

struct sl_loop {
	int epfd;
	int efd;			/* eventfd: a job finished */
	struct sl_io efd_io;
	bool stop;

	struct sl_timer **heap;
	size_t n_heap, cap_heap;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct sl_job *todo_head, *todo_tail;	/* waiting for a worker */
	struct sl_job *done_head, *done_tail;	/* waiting for the loop */
	struct sl_job *defer_head, *defer_tail;	/* after this batch (loop only) */
	bool quit;
	pthread_t workers[SL_LOOP_MAX_WORKERS];
	unsigned n_workers;
};

uint64_t sl_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- job queue ------------------------------------------------------- */

static void sl_jobq_push(struct sl_job **head, struct sl_job **tail, struct sl_job *j)
{
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

static struct sl_job *sl_jobq_pop(struct sl_job **head, struct sl_job **tail)
{
	struct sl_job *j = *head;

	if (j) {
		*head = j->next;
		if (!*head)
			*tail = NULL;
		j->next = NULL;
	}
	return j;
}

static void *sl_worker_main(void *arg)
{
	struct sl_loop *loop = arg;
	uint64_t one = 1;
	struct sl_job *j;

	pthread_mutex_lock(&loop->mu);
	for (;;) {
		while (!loop->quit && !loop->todo_head)
			pthread_cond_wait(&loop->cv, &loop->mu);
		if (loop->quit)
			break;
		j = sl_jobq_pop(&loop->todo_head, &loop->todo_tail);
		pthread_mutex_unlock(&loop->mu);
		if (j->work)
			j->work(j->arg);
		pthread_mutex_lock(&loop->mu);
		sl_jobq_push(&loop->done_head, &loop->done_tail, j);
		if (write(loop->efd, &one, sizeof(one)) < 0) {
			/* eventfd cannot overflow at our rates; nothing to do */
		}
	}
	pthread_mutex_unlock(&loop->mu);
	return NULL;
}

static void sl_loop_on_done(struct sl_loop *loop, int fd, uint32_t events, void *arg)
{
	struct sl_job *list, *j;
	uint64_t n;

	if (read(fd, &n, sizeof(n)) < 0) {
		/* EAGAIN: another wakeup already drained it */
	}
	pthread_mutex_lock(&loop->mu);
	list = loop->done_head;
	loop->done_head = loop->done_tail = NULL;
	pthread_mutex_unlock(&loop->mu);
	while ((j = list)) {
		list = j->next;
		j->next = NULL;
		if (j->done)
			j->done(j->arg);
	}
}

int sl_loop_submit(struct sl_loop *loop, struct sl_job *job)
{
	if (!job || !loop->n_workers)
		return -EINVAL;
	pthread_mutex_lock(&loop->mu);
	sl_jobq_push(&loop->todo_head, &loop->todo_tail, job);
	pthread_cond_signal(&loop->cv);
	pthread_mutex_unlock(&loop->mu);
	return 0;
}

void sl_loop_defer(struct sl_loop *loop, struct sl_job *job)
{
	sl_jobq_push(&loop->defer_head, &loop->defer_tail, job);
}

static void sl_loop_run_deferred(struct sl_loop *loop)
{
	struct sl_job *j;

	while ((j = sl_jobq_pop(&loop->defer_head, &loop->defer_tail)))
		j->done(j->arg);
}

/* ---- timers: a binary min-heap of deadlines --------------------------- */

static void sl_heap_swap(struct sl_loop *loop, size_t a, size_t b)
{
	struct sl_timer *t = loop->heap[a];

	loop->heap[a] = loop->heap[b];
	loop->heap[b] = t;
	loop->heap[a]->heap_idx = (int)a;
	loop->heap[b]->heap_idx = (int)b;
}

static void sl_heap_up(struct sl_loop *loop, size_t i)
{
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (loop->heap[p]->deadline_ms <= loop->heap[i]->deadline_ms)
			break;
		sl_heap_swap(loop, i, p);
		i = p;
	}
}

static void sl_heap_down(struct sl_loop *loop, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;

		if (l < loop->n_heap && loop->heap[l]->deadline_ms < loop->heap[m]->deadline_ms)
			m = l;
		if (r < loop->n_heap && loop->heap[r]->deadline_ms < loop->heap[m]->deadline_ms)
			m = r;
		if (m == i)
			break;
		sl_heap_swap(loop, i, m);
		i = m;
	}
}

void sl_timer_init(struct sl_timer *t, sl_timer_fn fn, void *arg)
{
	t->deadline_ms = 0;
	t->fn = fn;
	t->arg = arg;
	t->heap_idx = -1;
}

void sl_timer_cancel(struct sl_loop *loop, struct sl_timer *t)
{
	size_t i, last;

	if (t->heap_idx < 0)
		return;
	i = (size_t)t->heap_idx;
	last = loop->n_heap - 1;
	if (i != last) {
		sl_heap_swap(loop, i, last);
		loop->n_heap--;
		sl_heap_down(loop, i);
		sl_heap_up(loop, i);
	} else {
		loop->n_heap--;
	}
	t->heap_idx = -1;
}

int sl_timer_arm(struct sl_loop *loop, struct sl_timer *t, uint64_t ms)
{
	sl_timer_cancel(loop, t);
	if (loop->n_heap == loop->cap_heap) {
		size_t cap = loop->cap_heap ? loop->cap_heap * 2 : 64;
		struct sl_timer **h = realloc(loop->heap, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		loop->heap = h;
		loop->cap_heap = cap;
	}
	t->deadline_ms = sl_now_ms() + ms;
	t->heap_idx = (int)loop->n_heap;
	loop->heap[loop->n_heap++] = t;
	sl_heap_up(loop, (size_t)t->heap_idx);
	return 0;
}

/* Fire every due timer; return ms until the next one, or -1 for none. */
static int sl_timers_run(struct sl_loop *loop)
{
	uint64_t now = sl_now_ms();

	while (loop->n_heap && !loop->stop) {
		struct sl_timer *t = loop->heap[0];

		if (t->deadline_ms > now) {
			uint64_t d = t->deadline_ms - now;
			return d > 60000 ? 60000 : (int)d;
		}
		sl_timer_cancel(loop, t);
		t->fn(loop, t->arg);
		sl_loop_run_deferred(loop);
		now = sl_now_ms();
	}
	return -1;
}

/* ---- fds --------------------------------------------------------------- */

int sl_loop_add(struct sl_loop *loop, struct sl_io *io, int fd, uint32_t events,
		sl_io_fn fn, void *arg)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };

	io->fd = fd;
	io->events = events;
	io->fn = fn;
	io->arg = arg;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	io->added = true;
	return 0;
}

int sl_loop_mod(struct sl_loop *loop, struct sl_io *io, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = io };

	if (!io->added)
		return -EINVAL;
	if (io->events == events)
		return 0;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, io->fd, &ev) < 0)
		return -errno;
	io->events = events;
	return 0;
}

void sl_loop_del(struct sl_loop *loop, struct sl_io *io)
{
	if (!io->added)
		return;
	epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
	io->added = false;
}

/* ---- lifecycle ----------------------------------------------------------- */

int sl_loop_new(unsigned workers, struct sl_loop **ret)
{
	struct sl_loop *loop;
	int r;

	if (workers > SL_LOOP_MAX_WORKERS)
		return -EINVAL;
	loop = calloc(1, sizeof(*loop));
	if (!loop)
		return -ENOMEM;
	loop->epfd = loop->efd = -1;
	pthread_mutex_init(&loop->mu, NULL);
	pthread_cond_init(&loop->cv, NULL);
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		r = -errno;
		goto fail;
	}
	loop->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->efd < 0) {
		r = -errno;
		goto fail;
	}
	r = sl_loop_add(loop, &loop->efd_io, loop->efd, EPOLLIN, sl_loop_on_done, NULL);
	if (r < 0)
		goto fail;
	for (; loop->n_workers < workers; loop->n_workers++) {
		r = -pthread_create(&loop->workers[loop->n_workers], NULL, sl_worker_main, loop);
		if (r < 0)
			goto fail;
	}
	*ret = loop;
	return 0;
fail:
	sl_loop_free(loop);
	return r;
}

struct sl_loop *sl_loop_free(struct sl_loop *loop)
{
	if (!loop)
		return NULL;
	pthread_mutex_lock(&loop->mu);
	loop->quit = true;
	pthread_cond_broadcast(&loop->cv);
	pthread_mutex_unlock(&loop->mu);
	for (unsigned i = 0; i < loop->n_workers; i++)
		pthread_join(loop->workers[i], NULL);
	if (loop->efd >= 0)
		close(loop->efd);
	if (loop->epfd >= 0)
		close(loop->epfd);
	pthread_mutex_destroy(&loop->mu);
	pthread_cond_destroy(&loop->cv);
	free(loop->heap);
	free(loop);
	return NULL;
}

void sl_loop_stop(struct sl_loop *loop)
{
	loop->stop = true;
}

int sl_loop_run(struct sl_loop *loop)
{
	struct epoll_event evs[SL_LOOP_MAX_EVENTS];

	loop->stop = false;
	while (!loop->stop) {
		int timeout = sl_timers_run(loop);
		int n;

		if (loop->stop)
			break;
		n = epoll_wait(loop->epfd, evs, SL_LOOP_MAX_EVENTS, timeout);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n && !loop->stop; i++) {
			struct sl_io *io = evs[i].data.ptr;

			/* A callback earlier in this batch may have removed io;
			 * its memory lives until sl_loop_run_deferred(). */
			if (io->added)
				io->fn(loop, io->fd, evs[i].events, io->arg);
		}
		sl_loop_run_deferred(loop);
	}
	sl_loop_run_deferred(loop);
	return 0;
}

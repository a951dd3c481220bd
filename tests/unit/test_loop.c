/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* test_loop.c — the event loop: fd events, timer order, jobs, deferral. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "loop.h"
#include "tap.h"

struct rec {
	char log[128];
	int fired;
};

static void rec_add(struct rec *r, char c)
{
	size_t n = strlen(r->log);

	if (n + 1 < sizeof(r->log)) {
		r->log[n] = c;
		r->log[n + 1] = 0;
	}
}

struct tctx { struct rec *r; char c; struct sl_timer t; };

static void on_timer(struct sl_loop *loop, void *arg)
{
	struct tctx *t = arg;

	rec_add(t->r, t->c);
	if (t->c == 'z')
		sl_loop_stop(loop);
}

static void test_timers(void)
{
	struct sl_loop *loop = NULL;
	struct rec r = { "", 0 };
	/* armed out of order; cancelled one must not fire */
	struct tctx t[] = { { &r, 'c', {0} }, { &r, 'a', {0} }, { &r, 'x', {0} },
			    { &r, 'b', {0} }, { &r, 'z', {0} } };
	uint64_t ms[] = { 30, 10, 15, 20, 40 };

	tap_int(sl_loop_new(0, &loop), 0, "timers: loop created");
	for (size_t i = 0; i < TAP_NELEM(t); i++) {
		sl_timer_init(&t[i].t, on_timer, &t[i]);
		sl_timer_arm(loop, &t[i].t, ms[i]);
	}
	sl_timer_cancel(loop, &t[2].t);
	tap_ok(!sl_timer_armed(&t[2].t), "timers: cancelled timer is disarmed");
	sl_loop_run(loop);
	tap_str(r.log, "abcz", "timers: fire in deadline order, cancelled never");
	sl_loop_free(loop);
}

struct ioctx { struct sl_io io; int fds[2]; struct rec r; };

static void on_read(struct sl_loop *loop, int fd, uint32_t ev, void *arg)
{
	struct ioctx *c = arg;
	char buf[16];
	ssize_t n = read(fd, buf, sizeof(buf));

	for (ssize_t i = 0; i < n; i++)
		rec_add(&c->r, buf[i]);
	if (n <= 0 || strchr(c->r.log, '!'))
		sl_loop_stop(loop);
}

static void test_io(void)
{
	struct sl_loop *loop = NULL;
	struct ioctx c = { .r = { "", 0 } };

	sl_loop_new(0, &loop);
	tap_int(pipe(c.fds), 0, "io: pipe");
	tap_int(sl_loop_add(loop, &c.io, c.fds[0], EPOLLIN, on_read, &c), 0, "io: add");
	tap_int(write(c.fds[1], "hi!", 3), 3, "io: write");
	sl_loop_run(loop);
	tap_str(c.r.log, "hi!", "io: callback saw the bytes");
	sl_loop_del(loop, &c.io);
	close(c.fds[0]);
	close(c.fds[1]);
	sl_loop_free(loop);
}

struct jctx { struct sl_job job; int input, output, done_calls; struct sl_loop *loop; };

static void j_work(void *arg) { struct jctx *j = arg; j->output = j->input * 2; }
static void j_done(void *arg)
{
	struct jctx *j = arg;

	j->done_calls++;
	sl_loop_stop(j->loop);
}

static void test_jobs(void)
{
	struct sl_loop *loop = NULL;
	struct jctx j = { .input = 21 };

	tap_int(sl_loop_new(2, &loop), 0, "jobs: loop with 2 workers");
	j.loop = loop;
	j.job = (struct sl_job){ .work = j_work, .done = j_done, .arg = &j };
	tap_int(sl_loop_submit(loop, &j.job), 0, "jobs: submitted");
	sl_loop_run(loop);
	tap_int(j.output, 42, "jobs: work ran on a worker");
	tap_int(j.done_calls, 1, "jobs: done ran once on the loop thread");
	sl_loop_free(loop);
	tap_int(sl_loop_new(0, &loop), 0, "jobs: loop without workers");
	tap_int(sl_loop_submit(loop, &j.job), -22, "jobs: submit without workers is -EINVAL");
	sl_loop_free(loop);
}

int main(void)
{
	test_timers();
	test_io();
	test_jobs();
	return tap_done();
}

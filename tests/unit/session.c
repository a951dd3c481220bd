/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * session.c — run a real lib/outbound or lib/inbound session for a test;
 * see session.h.
 */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>

#include "session.h"

unsigned ts_ktls_dirs(int *n)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	unsigned all = 0;

	*n = 0;
	while (d && (e = readdir(d))) {
		int fd = atoi(e->d_name);
		unsigned dirs;

		if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd(d))
			continue;
		dirs = sl_ktls_active(fd);	/* 0 for anything but a kTLS socket */
		if (dirs) {
			all |= dirs;
			(*n)++;
		}
	}
	if (d)
		closedir(d);
	return all;
}

/* ---- outbound ------------------------------------------------------------ */

static int ts_ob_tag(void *arg, int fd, enum sl_sock_tag tag, uint32_t policy_id)
{
	struct ts_outbound *t = arg;

	(void)fd;
	(void)policy_id;
	if ((unsigned)tag < 3)
		t->tags[tag]++;
	return 0;
}

static void ts_ob_step(void *arg, struct sl_outbound *s, const char *step, const char *detail)
{
	struct ts_outbound *t = arg;

	(void)s;
	if (t->on_step)
		t->on_step(t, step, detail);
}

static void ts_ob_done(void *arg, struct sl_outbound *s)
{
	struct ts_outbound *t = arg;

	/* The session's sockets are still open here (freed after done). */
	t->ktls_dirs = ts_ktls_dirs(&t->ktls_socks);
	t->res = *sl_outbound_result(s);
	t->done_calls++;
	t->s = NULL;
	if (!t->keep_loop)
		sl_loop_stop(t->loop);
}

int ts_outbound_start(struct ts_outbound *t, struct sl_loop *loop)
{
	struct sl_outbound_env env = {
		.loop = loop, .hostname = "us.example.org",
		.timeout_ms = t->timeout_ms ? t->timeout_ms : 1500,
		.connect_timeout_ms = t->timeout_ms ? t->timeout_ms : 1500,
		.tag = ts_ob_tag, .step = ts_ob_step, .done = ts_ob_done, .arg = t,
		.ktls_caps = t->ktls_caps, .ktls_rw = t->ktls_rw,
	};
	struct sl_outbound_params prm = {
		.id = 1, .mta_fd = t->mta_fd, .partner = &t->partner, .policy_id = 7,
		.mx = t->mx ? t->mx : "mx1.partner.test", .password = t->password,
		.dst_len = sizeof(t->dst),
	};
	unsigned flags = t->ctx_flags;
	int r;

	t->loop = loop;
	t->done_calls = 0;
	memset(t->tags, 0, sizeof(t->tags));
	if (!t->tls) {
		/* As the daemon does: kTLS allowed unless the policy says off. */
		if (t->partner.tls.ktls != SL_KTLS_OFF)
			flags |= SL_TLS_F_KTLS;
		r = sl_tls_client_ctx_new(&t->partner.tls, flags, &t->own_tls, t->ctx_reason,
					  sizeof(t->ctx_reason));
		if (r < 0)
			return r;
	}
	prm.tls = t->tls ? t->tls : t->own_tls;
	memcpy(&prm.dst, &t->dst, sizeof(t->dst));
	return sl_outbound_start(&env, &prm, &t->s);
}

void ts_outbound_done(struct ts_outbound *t)
{
	t->own_tls = sl_tls_ctx_free(t->own_tls);
	ERR_clear_error();
}

int ts_outbound_run(struct ts_outbound *t)
{
	struct sl_loop *loop = NULL;
	int r = sl_loop_new(0, &loop);

	if (r == 0)
		r = ts_outbound_start(t, loop);
	if (r == 0)
		r = sl_loop_run(loop);
	sl_loop_free(loop);
	ts_outbound_done(t);
	return r;
}

/* ---- inbound ------------------------------------------------------------- */

static void ts_in_done(void *arg, struct sl_inbound *s)
{
	struct ts_inbound *t = arg;

	t->ktls_dirs = ts_ktls_dirs(&t->ktls_socks);
	t->res = *sl_inbound_result(s);
	t->done_calls++;
	t->s = NULL;
	if (!t->keep_loop)
		sl_loop_stop(t->loop);
}

int ts_inbound_start(struct ts_inbound *t, struct sl_loop *loop)
{
	struct sl_inbound_env env = {
		.loop = loop, .hostname = "us.test",
		.timeout_ms = t->timeout_ms ? t->timeout_ms : 3000,
		.backend = &t->backend, .backend_len = t->backend_len,
		.announce = t->announce, .max_auth_failures = 3, .auth_fail_delay_ms = 10,
		.caps = t->caps, .done = ts_in_done, .arg = t,
		.ktls_caps = t->ktls_caps, .ktls_rw = t->ktls_rw,
	};
	struct sl_inbound_params prm = { .id = 1, .fd = t->fd, .partner = &t->partner };
	int r;

	t->loop = loop;
	t->done_calls = 0;
	if (!t->tls) {
		r = sl_tls_server_ctx_new(t->cert_file, t->key_file, &t->partner.inbound,
					  t->partner.tls.ktls != SL_KTLS_OFF, &t->own_tls,
					  t->ctx_reason, sizeof(t->ctx_reason));
		if (r < 0)
			return r;
	}
	prm.tls = t->tls ? t->tls : t->own_tls;
	memcpy(&prm.peer, &t->peer, sizeof(t->peer));
	memcpy(&prm.local, &t->local, sizeof(t->local));
	return sl_inbound_start(&env, &prm, &t->s);
}

void ts_inbound_done(struct ts_inbound *t)
{
	t->own_tls = sl_tls_ctx_free(t->own_tls);
	ERR_clear_error();
}

int ts_inbound_run(struct ts_inbound *t, struct sl_loop *loop)
{
	int r = ts_inbound_start(t, loop);

	if (r == 0)
		r = sl_loop_run(loop);
	ts_inbound_done(t);
	return r;
}

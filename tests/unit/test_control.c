/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test_control.c — the control socket: protocol, limits, peer
 * credentials, server on the loop (in a thread) against the client.
 */
#include <errno.h>
#include <grp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "control.h"
#include "tap.h"

static char g_dir[] = "/tmp/sl-test-control.XXXXXX";
static char g_path[256];
static int g_after;

static int h_ping(void *arg, const struct sl_control_peer *peer, json_t *args,
		  struct sl_control_reply *rep)
{
	(void)arg;
	(void)args;
	rep->data = json_pack("{s:i, s:b}", "uid", (int)peer->uid, "reader", peer->reader);
	return 0;
}

static void after_fn(void *arg)
{
	(void)arg;
	__atomic_add_fetch(&g_after, 1, __ATOMIC_SEQ_CST);
}

static int h_change(void *arg, const struct sl_control_peer *peer, json_t *args,
		    struct sl_control_reply *rep)
{
	(void)arg;
	(void)peer;
	if (json_is_true(json_object_get(args, "fail"))) {
		rep->diags = json_pack("[{s:s, s:i, s:i, s:s}]", "file", "p.yaml", "line", 3,
				       "col", 7, "message", "bad");
		return sl_control_fail(rep, "invalid_policy", "1 error");
	}
	rep->after = after_fn;
	return 0;
}

static int h_stop(void *arg, const struct sl_control_peer *peer, json_t *args,
		  struct sl_control_reply *rep)
{
	(void)peer;
	(void)args;
	rep->after = (void (*)(void *))sl_loop_stop;
	rep->after_arg = arg;
	return 0;
}

static const struct sl_control_cmd cmds[] = {
	{ "ping", false, h_ping },
	{ "change", true, h_change },
	{ "stop", false, h_stop },
};

static void *loop_thread(void *arg)
{
	sl_loop_run(arg);
	return NULL;
}

/* Raw request text, returns the reply object (or NULL). */
static json_t *raw(const char *text, size_t len)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char buf[4096];
	size_t got = 0;
	ssize_t n;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct timeval tv = { 5, 0 };

	strcpy(sun.sun_path, g_path);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return NULL;
	}
	while (len) {
		n = send(fd, text, len, MSG_NOSIGNAL);
		if (n <= 0)
			break;
		text += n;
		len -= (size_t)n;
	}
	shutdown(fd, SHUT_WR);
	while (got < sizeof(buf) - 1 && (n = recv(fd, buf + got, sizeof(buf) - 1 - got, 0)) > 0)
		got += (size_t)n;
	close(fd);
	buf[got] = 0;
	return json_loads(buf, 0, NULL);
}

static const char *code_of(const json_t *r)
{
	return sl_control_reply_code(r);
}

/* In a child as uid/gid 65534: call cmd, exit with a code describing it. */
static int as_nobody(const char *cmd)
{
	pid_t pid = fork();
	int st;

	if (pid == 0) {
		json_t *r = NULL;
		int e;

		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(90);
		e = sl_control_call(g_path, cmd, NULL, 5000, &r);
		if (e == -EACCES)
			_exit(10);	/* could not connect */
		if (e < 0)
			_exit(91);
		if (sl_control_reply_ok(r))
			_exit(0);
		_exit(!strcmp(code_of(r), "permission") ? 20 : 92);
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static void run_server_cases(bool with_group)
{
	struct sl_control_server_opts o = {
		.path = g_path, .cmds = cmds, .n_cmds = TAP_NELEM(cmds),
		.have_group = with_group, .group = 65534,
	};
	struct sl_control_server *srv = NULL;
	struct sl_loop *loop = NULL;
	json_t *r = NULL, *args;
	pthread_t th;
	struct stat st;
	char *big;

	tap_int(sl_loop_new(0, &loop), 0, "loop created");
	o.arg = loop;
	if (!tap_int(sl_control_server_new(loop, &o, &srv), 0, "server listening at %s", g_path))
		return;
	memset(&st, 0, sizeof(st));
	stat(g_path, &st);
	tap_int(st.st_mode & 0777, with_group ? 0660 : 0600, "socket mode (%s group)",
		with_group ? "with" : "without");
	pthread_create(&th, NULL, loop_thread, loop);

	/* root: every command */
	tap_int(sl_control_call(g_path, "ping", NULL, 5000, &r), 0, "ping answered");
	tap_ok(sl_control_reply_ok(r), "ping ok");
	tap_int(json_integer_value(json_object_get(sl_control_reply_data(r), "uid")), 0,
		"peer uid from SO_PEERCRED");
	json_decref(r);

	g_after = 0;
	tap_int(sl_control_call(g_path, "change", NULL, 5000, &r), 0, "change answered");
	tap_ok(sl_control_reply_ok(r) && json_is_null(sl_control_reply_data(r)),
	       "change ok, data null");
	json_decref(r);
	/* The client has the reply as soon as it is written; after() runs
	 * when the server closes right after: wait for it, with a deadline. */
	for (int i = 0; i < 200 && __atomic_load_n(&g_after, __ATOMIC_SEQ_CST) == 0; i++)
		usleep(10000);
	tap_int(__atomic_load_n(&g_after, __ATOMIC_SEQ_CST), 1, "after() ran once the reply was sent");

	args = json_pack("{s:b}", "fail", 1);
	tap_int(sl_control_call(g_path, "change", args, 5000, &r), 0, "failing change answered");
	json_decref(args);
	tap_str(code_of(r), "invalid_policy", "error code");
	tap_int(json_integer_value(json_object_get(json_array_get(sl_control_reply_diags(r), 0),
						   "line")), 3, "diags carried");
	json_decref(r);

	tap_int(sl_control_call(g_path, "frobnicate", NULL, 5000, &r), 0, "unknown cmd answered");
	tap_str(code_of(r), "unknown_command", "unknown command");
	json_decref(r);

	r = raw("{\"smtplock\":2,\"cmd\":\"ping\"}\n", 29);
	tap_str(code_of(r), "version", "version 2 refused");
	tap_int(json_integer_value(json_array_get(json_object_get(r, "versions"), 0)), 1,
		"reply lists version 1");
	json_decref(r);

	r = raw("{\"cmd\":\"ping\"}\n", 15);
	tap_str(code_of(r), "syntax", "request without version");
	json_decref(r);

	r = raw("not json\n", 9);
	tap_str(code_of(r), "syntax", "not JSON");
	json_decref(r);

	r = raw("{\"smtplock\":1,\"cmd\":\"ping\",\"cmd\":\"change\"}\n", 43);
	tap_str(code_of(r), "syntax", "duplicate keys refused");
	json_decref(r);

	r = raw("{\"smtplock\":1,\"cmd\":\"ping\"}", 27);	/* ends with the stream */
	tap_ok(sl_control_reply_ok(r), "request ended by EOF instead of newline");
	json_decref(r);

	big = malloc(SL_CONTROL_MAX_REQUEST + 100);
	memset(big, ' ', SL_CONTROL_MAX_REQUEST + 100);
	r = raw(big, SL_CONTROL_MAX_REQUEST + 100);
	tap_str(code_of(r), "too_large", "request over 64 KiB refused");
	json_decref(r);
	free(big);

	/* A second server on a live socket must not steal it. */
	{
		struct sl_control_server *s2 = NULL;
		struct sl_loop *l2 = NULL;

		sl_loop_new(0, &l2);
		tap_int(sl_control_server_new(l2, &o, &s2), -EADDRINUSE,
			"live socket not replaced");
		sl_loop_free(l2);
	}

	/* Another user. */
	if (with_group) {
		tap_int(as_nobody("ping"), 0, "group member may read");
		tap_int(as_nobody("change"), 20, "group member may not change");
	} else {
		tap_int(as_nobody("ping"), 10, "without a group others cannot even connect");
	}

	tap_int(sl_control_call(g_path, "stop", NULL, 5000, &r), 0, "stop answered");
	json_decref(r);
	pthread_join(th, NULL);
	sl_control_server_free(srv);
	tap_ok(access(g_path, F_OK) < 0, "socket removed at free");
	sl_loop_free(loop);
}

int main(void)
{
	json_t *r = NULL;
	int fd;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	if (!mkdtemp(g_dir))
		return 1;
	chmod(g_dir, 0755);
	snprintf(g_path, sizeof(g_path), "%s/sub/control", g_dir);

	tap_int(sl_control_call(g_path, "ping", NULL, 1000, &r), -ENOENT, "no socket: -ENOENT");

	run_server_cases(false);
	run_server_cases(true);

	/* A stale socket file (nobody listening) is replaced. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	strcpy(sun.sun_path, g_path);
	bind(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	tap_int(sl_control_call(g_path, "ping", NULL, 1000, &r), -ECONNREFUSED,
		"stale socket: -ECONNREFUSED");
	{
		struct sl_control_server_opts o = { .path = g_path, .cmds = cmds, .n_cmds = 1 };
		struct sl_control_server *srv = NULL;
		struct sl_loop *loop = NULL;

		sl_loop_new(0, &loop);
		tap_int(sl_control_server_new(loop, &o, &srv), 0, "stale socket replaced");
		sl_control_server_free(srv);
		sl_loop_free(loop);
	}
	unlink(g_path);
	snprintf(g_path, sizeof(g_path), "%s/sub", g_dir);
	rmdir(g_path);
	rmdir(g_dir);
	return tap_done();
}

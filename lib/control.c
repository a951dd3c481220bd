/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * control.c — the control socket: the server on the loop and the protocol
 * framing (control_client.c: the client).  See control.h for the protocol.  Every peer-controlled
 * resource is bounded: request size, connections, time.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "control_int.h"

struct sl_control_conn {
	struct sl_control_server *srv;
	struct sl_io io;
	struct sl_timer timer;
	struct sl_job free_job;
	int fd;
	struct sl_control_peer peer;
	char *in;
	size_t in_len, in_cap;
	char *out;
	size_t out_len, out_off;
	void (*after)(void *arg);
	void *after_arg;
	bool closing;
	struct sl_control_conn *next;
};

struct sl_control_server {
	struct sl_loop *loop;
	struct sl_control_server_opts o;
	char *path;
	int fd;
	struct sl_io io;
	struct sl_control_conn *conns;
	unsigned n_conns;
};

int sl_control_fail(struct sl_control_reply *rep, const char *code, const char *fmt, ...)
{
	va_list ap;

	rep->code = code;
	va_start(ap, fmt);
	vsnprintf(rep->message, sizeof(rep->message), fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- peer credentials ----------------------------------------------------- */

int sl_control_peer_get(int fd, bool have_group, gid_t group, struct sl_control_peer *ret)
{
	struct ucred uc;
	socklen_t len = sizeof(uc);
	gid_t groups[64], *gv = groups;
	int r = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0)
		return -errno;
	memset(ret, 0, sizeof(*ret));
	ret->pid = uc.pid;
	ret->uid = uc.uid;
	ret->gid = uc.gid;
	ret->reader = uc.uid == 0 || (have_group && uc.gid == group);
	if (ret->reader || !have_group)
		return 0;
	len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, gv, &len) < 0) {
		if (errno != ERANGE)
			return -errno;
		gv = malloc(len);
		if (!gv)
			return -ENOMEM;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, gv, &len) < 0) {
			r = -errno;
			goto out;
		}
	}
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (gv[i] == group)
			ret->reader = true;
out:
	if (gv != groups)
		free(gv);
	return r;
}

/* ---- server: connections --------------------------------------------------------- */

static void sl_conn_free_now(void *arg)
{
	struct sl_control_conn *c = arg;

	free(c->in);
	free(c->out);
	free(c);
}

/* Close and free; from a loop callback the free is deferred (epoll may
 * hold more events for c in this batch), outside the loop it is not. */
static void sl_conn_close_how(struct sl_control_conn *c, bool now)
{
	struct sl_control_server *s = c->srv;

	if (c->closing)
		return;
	c->closing = true;
	sl_loop_del(s->loop, &c->io);
	sl_timer_cancel(s->loop, &c->timer);
	close(c->fd);
	for (struct sl_control_conn **pp = &s->conns; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	s->n_conns--;
	if (c->after)
		c->after(c->after_arg);
	if (now) {
		sl_conn_free_now(c);
		return;
	}
	c->free_job.done = sl_conn_free_now;
	c->free_job.arg = c;
	sl_loop_defer(s->loop, &c->free_job);
}

static void sl_conn_close(struct sl_control_conn *c)
{
	sl_conn_close_how(c, false);
}

static void sl_conn_flush(struct sl_control_conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				sl_loop_mod(c->srv->loop, &c->io, EPOLLOUT);
				return;
			}
			break;		/* the peer went away */
		}
		c->out_off += (size_t)w;
	}
	sl_conn_close(c);
}

static json_t *sl_reply_new(bool ok)
{
	return json_pack("{s:i, s:b}", "smtplock", SL_CONTROL_VERSION, "ok", ok);
}

/* Serialize reply (stolen), start writing it. */
static void sl_conn_send(struct sl_control_conn *c, json_t *reply)
{
	char *text = reply ? json_dumps(reply, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	size_t n;

	json_decref(reply);
	if (!text || strlen(text) + 1 > SL_CONTROL_MAX_REPLY) {
		free(text);
		/* A fixed reply, so the client still learns something. */
		text = strdup("{\"smtplock\":1,\"ok\":false,\"error\":{\"code\":\"failed\","
			      "\"message\":\"reply too large or out of memory\"}}");
		if (!text) {
			sl_conn_close(c);
			return;
		}
	}
	n = strlen(text);
	c->out = realloc(text, n + 2);
	if (!c->out) {
		free(text);
		sl_conn_close(c);
		return;
	}
	c->out[n] = '\n';
	c->out[n + 1] = 0;
	c->out_len = n + 1;
	c->out_off = 0;
	sl_loop_mod(c->srv->loop, &c->io, 0);
	sl_conn_flush(c);
}

static void sl_conn_error(struct sl_control_conn *c, const char *cmd, const char *code,
			  const char *msg, json_t *diags)
{
	struct sl_control_server *s = c->srv;
	json_t *reply = sl_reply_new(false);
	json_t *err = json_pack("{s:s, s:s}", "code", code, "message", msg);

	if (err && diags)
		json_object_set(err, "diags", diags);
	if (reply && err) {
		json_object_set_new(reply, "error", err);
		err = NULL;
	}
	json_decref(err);
	if (reply && !strcmp(code, "version"))
		json_object_set_new(reply, "versions", json_pack("[i]", SL_CONTROL_VERSION));
	if (s->o.audit)
		s->o.audit(s->o.arg, &c->peer, cmd ? cmd : "-", code);
	sl_conn_send(c, reply);
}

static const struct sl_control_cmd *sl_cmd_find(const struct sl_control_server *s,
						 const char *name)
{
	for (size_t i = 0; i < s->o.n_cmds; i++)
		if (!strcmp(s->o.cmds[i].name, name))
			return &s->o.cmds[i];
	return NULL;
}

static void sl_conn_dispatch(struct sl_control_conn *c)
{
	struct sl_control_server *s = c->srv;
	struct sl_control_reply rep = { 0 };
	const struct sl_control_cmd *cmd;
	json_error_t jerr;
	json_t *req, *v, *args, *reply;
	const char *name;
	char msg[256];

	req = json_loadb(c->in, c->in_len, JSON_REJECT_DUPLICATES, &jerr);
	if (!req || !json_is_object(req)) {
		snprintf(msg, sizeof(msg), "request is not a JSON object: %s",
			 req ? "wrong type" : jerr.text);
		json_decref(req);
		sl_conn_error(c, NULL, "syntax", msg, NULL);
		return;
	}
	v = json_object_get(req, "smtplock");
	if (!json_is_integer(v)) {
		json_decref(req);
		sl_conn_error(c, NULL, "syntax", "request without the protocol version "
			      "(\"smtplock\": 1)", NULL);
		return;
	}
	if (json_integer_value(v) != SL_CONTROL_VERSION) {
		snprintf(msg, sizeof(msg), "protocol version %lld not supported (this controller "
			 "speaks %d)", (long long)json_integer_value(v), SL_CONTROL_VERSION);
		json_decref(req);
		sl_conn_error(c, NULL, "version", msg, NULL);
		return;
	}
	name = json_string_value(json_object_get(req, "cmd"));
	args = json_object_get(req, "args");
	if (json_is_null(args))
		args = NULL;
	if (!name || (args && !json_is_object(args))) {
		json_decref(req);
		sl_conn_error(c, NULL, "syntax", "request needs \"cmd\" (a string) and optional "
			      "\"args\" (an object)", NULL);
		return;
	}
	cmd = sl_cmd_find(s, name);
	if (!cmd) {
		snprintf(msg, sizeof(msg), "unknown command '%.64s'", name);
		sl_conn_error(c, "-", "unknown_command", msg, NULL);
		json_decref(req);
		return;
	}
	if (!c->peer.reader || (cmd->change && c->peer.uid != 0)) {
		snprintf(msg, sizeof(msg), "uid %u may not run '%s' (%s)", (unsigned)c->peer.uid,
			 cmd->name, cmd->change ? "changes need root" :
			 "read-only commands need root or controller.group");
		sl_conn_error(c, cmd->name, "permission", msg, NULL);
		json_decref(req);
		return;
	}
	if (!args)
		args = json_object();
	else
		json_incref(args);
	if (!args)
		sl_control_fail(&rep, "failed", "out of memory");
	else if (cmd->fn(s->o.arg, &c->peer, args, &rep) < 0 && !rep.code)
		sl_control_fail(&rep, "failed", "'%s' failed", cmd->name);
	json_decref(args);
	if (!rep.code) {
		c->after = rep.after;
		c->after_arg = rep.after_arg;
	}
	if (rep.code) {
		json_decref(rep.data);
		sl_conn_error(c, cmd->name, rep.code, rep.message, rep.diags);
		json_decref(rep.diags);
		json_decref(req);
		return;
	}
	reply = sl_reply_new(true);
	if (reply)
		json_object_set_new(reply, "data", rep.data ? rep.data : json_null());
	else
		json_decref(rep.data);
	json_decref(rep.diags);
	if (s->o.audit)
		s->o.audit(s->o.arg, &c->peer, cmd->name, NULL);
	json_decref(req);
	sl_conn_send(c, reply);
}

static void sl_conn_read(struct sl_control_conn *c)
{
	for (;;) {
		char *nl;
		ssize_t n;

		if (c->in_len == c->in_cap) {
			size_t cap = c->in_cap ? c->in_cap * 2 : 1024;
			char *nb;

			if (cap > SL_CONTROL_MAX_REQUEST + 1)
				cap = SL_CONTROL_MAX_REQUEST + 1;
			if (cap == c->in_cap) {
				sl_conn_error(c, NULL, "too_large", "request larger than 65536 bytes",
					      NULL);
				return;
			}
			nb = realloc(c->in, cap);
			if (!nb) {
				sl_conn_close(c);
				return;
			}
			c->in = nb;
			c->in_cap = cap;
		}
		n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				sl_conn_close(c);
			return;
		}
		if (n == 0) {		/* the end of the stream ends the request */
			if (c->in_len == 0) {
				sl_conn_close(c);
				return;
			}
			sl_conn_dispatch(c);
			return;
		}
		nl = memchr(c->in + c->in_len, '\n', (size_t)n);
		c->in_len += (size_t)n;
		if (nl) {
			c->in_len = (size_t)(nl - c->in);
			if (c->in_len > SL_CONTROL_MAX_REQUEST) {
				sl_conn_error(c, NULL, "too_large", "request larger than 65536 bytes",
					      NULL);
				return;
			}
			sl_conn_dispatch(c);
			return;
		}
	}
}

static void sl_conn_on_io(struct sl_loop *loop, int fd, uint32_t events, void *arg)
{
	struct sl_control_conn *c = arg;

	(void)loop;
	(void)fd;
	if (c->closing)
		return;
	if (c->out)
		sl_conn_flush(c);
	else if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		sl_conn_read(c);
}

static void sl_conn_on_timeout(struct sl_loop *loop, void *arg)
{
	struct sl_control_conn *c = arg;

	(void)loop;
	if (c->out || c->closing)	/* the reply did not drain in time */
		sl_conn_close(c);
	else
		sl_conn_error(c, NULL, "timeout", "no complete request within 10 s", NULL);
}

static void sl_server_on_accept(struct sl_loop *loop, int lfd, uint32_t events, void *arg)
{
	struct sl_control_server *s = arg;

	(void)events;
	for (int i = 0; i < 16; i++) {
		struct sl_control_conn *c;
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0)
			return;		/* EAGAIN, or a transient error: next wakeup */
		if (s->n_conns >= SL_CONTROL_MAX_CONNS || !(c = calloc(1, sizeof(*c)))) {
			close(fd);
			continue;
		}
		c->srv = s;
		c->fd = fd;
		sl_timer_init(&c->timer, sl_conn_on_timeout, c);
		if (sl_control_peer_get(fd, s->o.have_group, s->o.group, &c->peer) < 0 ||
		    sl_loop_add(loop, &c->io, fd, EPOLLIN, sl_conn_on_io, c) < 0) {
			close(fd);
			free(c);
			continue;
		}
		sl_timer_arm(loop, &c->timer, SL_CONTROL_TIMEOUT_MS);
		c->next = s->conns;
		s->conns = c;
		s->n_conns++;
	}
}

/* ---- server: the socket ------------------------------------------------------ */

int sl_control_sun_fill(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (!path[0] || strlen(path) >= sizeof(sun->sun_path))
		return -ENAMETOOLONG;
	memcpy(sun->sun_path, path, strlen(path));
	return 0;
}

static int sl_mkdir_parent(const char *path)
{
	char dir[PATH_MAX];
	char *slash;

	if (strlen(path) >= sizeof(dir))
		return -ENAMETOOLONG;
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = 0;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Is a controller answering on path? */
static bool sl_socket_alive(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool alive;

	if (fd < 0)
		return false;
	alive = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0;
	close(fd);
	return alive;
}

int sl_control_server_new(struct sl_loop *loop, const struct sl_control_server_opts *o,
			  struct sl_control_server **ret)
{
	struct sl_control_server *s;
	struct sockaddr_un sun;
	mode_t old;
	int r;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->loop = loop;
	s->o = *o;
	s->fd = -1;
	s->path = strdup(o->path ? o->path : SL_CONTROL_DEFAULT_PATH);
	if (!s->path) {
		r = -ENOMEM;
		goto fail;
	}
	r = sl_control_sun_fill(s->path, &sun);
	if (r == 0)
		r = sl_mkdir_parent(s->path);
	if (r < 0)
		goto fail;
	if (sl_socket_alive(&sun)) {
		r = -EADDRINUSE;
		goto fail;
	}
	unlink(s->path);	/* stale, or not there */
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		r = -errno;
		goto fail;
	}
	/* Created without access for group/other; then widened on purpose. */
	old = umask(0077);
	r = bind(s->fd, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (r < 0) {
		r = -errno;
		goto fail;
	}
	if ((o->have_group && chown(s->path, (uid_t)-1, o->group) < 0) ||
	    chmod(s->path, o->have_group ? 0660 : 0600) < 0) {
		r = -errno;
		goto fail_unlink;
	}
	if (listen(s->fd, SL_CONTROL_MAX_CONNS) < 0) {
		r = -errno;
		goto fail_unlink;
	}
	r = sl_loop_add(loop, &s->io, s->fd, EPOLLIN, sl_server_on_accept, s);
	if (r < 0)
		goto fail_unlink;
	*ret = s;
	return 0;
fail_unlink:
	unlink(s->path);
fail:
	if (s->fd >= 0)
		close(s->fd);
	free(s->path);
	free(s);
	return r;
}

struct sl_control_server *sl_control_server_free(struct sl_control_server *s)
{
	if (!s)
		return NULL;
	while (s->conns) {
		s->conns->after = NULL;	/* shutting down: no follow-up actions */
		sl_conn_close_how(s->conns, true);
	}
	sl_loop_del(s->loop, &s->io);
	close(s->fd);
	unlink(s->path);	/* may fail once privileges are dropped */
	free(s->path);
	free(s);
	return NULL;
}

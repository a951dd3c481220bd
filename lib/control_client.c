/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * control_client.c — the control socket's client: one request, one reply,
 * blocking with a deadline (for the CLI; never on the controller's loop).
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "control.h"
#include "control_int.h"

/* ---- client ------------------------------------------------------------------ */

static uint64_t sl_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait for events on fd until the deadline: 0, -ETIMEDOUT, -errno. */
static int sl_wait(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = events };
		uint64_t now = sl_mono_ms();
		int n;

		if (now >= deadline)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)(deadline - now));
		if (n > 0)
			return 0;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int sl_send_all(int fd, const char *buf, size_t len, uint64_t deadline)
{
	while (len) {
		ssize_t w = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		int r;

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			r = sl_wait(fd, POLLOUT, deadline);
			if (r < 0)
				return r;
			continue;
		}
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

static int sl_recv_line(int fd, char **ret, size_t *ret_len, uint64_t deadline)
{
	size_t len = 0, cap = 0;
	char *buf = NULL;
	int r;

	for (;;) {
		ssize_t n;

		if (len == cap) {
			char *nb;

			if (cap >= SL_CONTROL_MAX_REPLY) {
				r = -EPROTO;
				goto fail;
			}
			cap = cap ? cap * 2 : 4096;
			nb = realloc(buf, cap);
			if (!nb) {
				r = -ENOMEM;
				goto fail;
			}
			buf = nb;
		}
		n = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				r = -errno;
				goto fail;
			}
			r = sl_wait(fd, POLLIN, deadline);
			if (r < 0)
				goto fail;
			continue;
		}
		if (n == 0 || memchr(buf + len, '\n', (size_t)n)) {
			len += (size_t)n;
			break;
		}
		len += (size_t)n;
	}
	if (len == 0) {
		r = -EPROTO;
		goto fail;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
fail:
	free(buf);
	return r;
}

int sl_control_call(const char *path, const char *cmd, json_t *args, int timeout_ms,
		    json_t **ret)
{
	uint64_t deadline = sl_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 1);
	struct sockaddr_un sun;
	json_t *req = NULL, *reply;
	char *text = NULL, *line = NULL, *nl;
	size_t len = 0;
	int fd = -1, r;

	r = sl_control_sun_fill(path ? path : SL_CONTROL_DEFAULT_PATH, &sun);
	if (r < 0)
		return r;
	req = json_pack("{s:i, s:s, s:O?}", "smtplock", SL_CONTROL_VERSION, "cmd", cmd,
			"args", args);
	text = req ? json_dumps(req, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
	if (!text) {
		r = -ENOMEM;
		goto out;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	/* A Unix connect does not block on a live listener's full backlog
	 * for long; a dead one answers ECONNREFUSED at once. */
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		r = errno == EAGAIN ? -ECONNREFUSED : -errno;
		goto out;
	}
	r = sl_send_all(fd, text, strlen(text), deadline);
	if (r == 0)
		r = sl_send_all(fd, "\n", 1, deadline);
	if (r < 0)
		goto out;
	r = sl_recv_line(fd, &line, &len, deadline);
	if (r < 0)
		goto out;
	nl = memchr(line, '\n', len);
	if (nl)
		len = (size_t)(nl - line);
	reply = json_loadb(line, len, 0, NULL);
	if (!json_is_object(reply) ||
	    json_integer_value(json_object_get(reply, "smtplock")) != SL_CONTROL_VERSION ||
	    !json_is_boolean(json_object_get(reply, "ok"))) {
		json_decref(reply);
		r = -EPROTO;
		goto out;
	}
	*ret = reply;
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(line);
	free(text);
	json_decref(req);
	return r;
}

bool sl_control_reply_ok(const json_t *reply)
{
	return json_is_true(json_object_get(reply, "ok"));
}

json_t *sl_control_reply_data(const json_t *reply)
{
	return json_object_get(reply, "data");
}

static const char *sl_reply_err_str(const json_t *reply, const char *key)
{
	const char *s = json_string_value(json_object_get(json_object_get(reply, "error"), key));

	return s ? s : "";
}

const char *sl_control_reply_code(const json_t *reply)
{
	return sl_reply_err_str(reply, "code");
}

const char *sl_control_reply_message(const json_t *reply)
{
	return sl_reply_err_str(reply, "message");
}

json_t *sl_control_reply_diags(const json_t *reply)
{
	return json_object_get(json_object_get(reply, "error"), "diags");
}

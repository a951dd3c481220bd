/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * control.h — the control socket between `smtplock COMMAND` and the
 * running controller: the wire protocol, the server (one-thread loop
 * friendly) and the client.
 *
 * Protocol, version 1 (SL_CONTROL_VERSION):
 *
 *   transport	a Unix stream socket, controller.control_socket in the
 *		policy (default /run/smtplock/control), mode 0660 with the
 *		group controller.group (0600 without one)
 *   request	ONE line: a JSON object, then "\n" (or the end of the
 *		client's stream), at most SL_CONTROL_MAX_REQUEST bytes:
 *		  {"smtplock":1,"cmd":"status","args":{...}}
 *		"smtplock" is the protocol version, in every request
 *   reply	ONE line, then the server closes the connection:
 *		  {"smtplock":1,"ok":true,"data":...}
 *		  {"smtplock":1,"ok":false,"error":{"code":"permission",
 *		   "message":"...", "diags":[...]?}}
 *		error codes: version (the reply also lists "versions"),
 *		syntax, too_large, timeout, unknown_command, permission,
 *		invalid_policy (with diags: file, line, col, class,
 *		message), busy, failed
 *   access	the peer's credentials (SO_PEERCRED, SO_PEERGROUPS): uid 0
 *		may run every command; members of controller.group (as
 *		primary or supplementary group) the read-only ones; nobody
 *		else anything
 *   limits	SL_CONTROL_MAX_CONNS connections at once (more are closed
 *		at accept), SL_CONTROL_TIMEOUT_MS to send the request and
 *		receive the reply, one request per connection
 *
 * The server runs on the controller's loop thread (loop.h): accept and
 * every read and write are non-blocking, handlers run on the loop thread
 * and must not block.  Nothing here logs: the server reports each
 * request through the optional audit callback.
 */
#ifndef SL_CONTROL_H
#define SL_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "loop.h"

#define SL_CONTROL_VERSION	1
#define SL_CONTROL_DEFAULT_PATH	"/run/smtplock/control"
#define SL_CONTROL_MAX_REQUEST	65536
#define SL_CONTROL_MAX_REPLY	(16u << 20)
#define SL_CONTROL_MAX_CONNS	16
#define SL_CONTROL_TIMEOUT_MS	10000

/* Who is asking (from the kernel, not from the request). */
struct sl_control_peer {
	pid_t pid;
	uid_t uid;
	gid_t gid;
	bool reader;			/* root or a member of the group */
};

/*
 * What a handler answers.  On success set data (a new reference, may
 * stay NULL for "no data") and return 0.  On failure return
 * sl_control_fail() (which fills code/message) and optionally set diags
 * (a JSON array, a new reference).  after, if set, runs once the reply
 * has been written or the peer went away (e.g. stop the controller after
 * acknowledging `unload`).
 */
struct sl_control_reply {
	json_t *data;
	const char *code;
	char message[512];
	json_t *diags;
	void (*after)(void *arg);
	void *after_arg;
};

typedef int (*sl_control_fn)(void *arg, const struct sl_control_peer *peer, json_t *args,
			     struct sl_control_reply *rep);

struct sl_control_cmd {
	const char *name;
	bool change;			/* root only */
	sl_control_fn fn;
};

/* Fill rep's error and return -1 (for `return sl_control_fail(...)`). */
int sl_control_fail(struct sl_control_reply *rep, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct sl_control_server;

struct sl_control_server_opts {
	const char *path;		/* NULL = SL_CONTROL_DEFAULT_PATH */
	bool have_group;		/* readers: members of group */
	gid_t group;
	const struct sl_control_cmd *cmds;
	size_t n_cmds;
	void *arg;			/* for handlers and audit */
	/* Each request once answered: code NULL = ok. */
	void (*audit)(void *arg, const struct sl_control_peer *peer, const char *cmd,
		      const char *code);
};

/*
 * Create the socket (its directory too, 0755, if missing) and serve it on
 * loop.  A socket file nobody answers on is replaced; one a live
 * controller answers on is not: -EADDRINUSE.
 */
int sl_control_server_new(struct sl_loop *loop, const struct sl_control_server_opts *o,
			  struct sl_control_server **ret);
/* Close every connection and the socket, unlink it (best effort). */
struct sl_control_server *sl_control_server_free(struct sl_control_server *s);

/* Peer credentials of a connected Unix socket and whether it may read
 * (root, or group in its primary or supplementary groups). */
int sl_control_peer_get(int fd, bool have_group, gid_t group, struct sl_control_peer *ret);

/*
 * The client: one request, one reply.  args may be NULL (borrowed).
 * Returns 0 and the whole reply object in *ret (check "ok"), or -errno:
 * -ENOENT no socket, -ECONNREFUSED nobody listening (a stale socket),
 * -EACCES not allowed to connect, -ETIMEDOUT, -EPROTO a reply that is not
 * protocol version 1 JSON.
 */
int sl_control_call(const char *path, const char *cmd, json_t *args, int timeout_ms,
		    json_t **ret);

/* Accessors of a reply from sl_control_call. */
bool sl_control_reply_ok(const json_t *reply);
json_t *sl_control_reply_data(const json_t *reply);		/* borrowed */
const char *sl_control_reply_code(const json_t *reply);		/* "" if none */
const char *sl_control_reply_message(const json_t *reply);	/* "" if none */
json_t *sl_control_reply_diags(const json_t *reply);		/* borrowed, may be NULL */

#endif /* SL_CONTROL_H */

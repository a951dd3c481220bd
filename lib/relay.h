/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * relay.h — the data path of a session once the handshake is done.
 *
 * A relay joins a plain socket A (the local MTA, or the local backend for
 * inbound sessions) and the TLS side B (the partner).  Bytes from A go out
 * on B only through TLS; there is no path here that writes A's bytes to
 * B's socket in the clear.  In the userspace path B is an OpenSSL SSL; the
 * kTLS paths (where the kernel has TLS) are chosen per connection.
 *
 * Non-blocking, driven by the loop: each direction has a bounded buffer,
 * a full buffer stops reading its source (back-pressure); half-close is
 * propagated (EOF from A → close_notify + SHUT_WR on B, EOF from B →
 * SHUT_WR on A); an idle timeout ends a stuck relay.  The owner learns the
 * end through one callback and then frees the relay.
 */
#ifndef SL_RELAY_H
#define SL_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "loop.h"

#define SL_RELAY_BUF	16384

enum sl_datapath {
	SL_DATAPATH_NONE = 0,
	SL_DATAPATH_USERSPACE,		/* OpenSSL in userspace */
	SL_DATAPATH_KTLS_RW,		/* kernel TLS, read/write */
	SL_DATAPATH_KTLS_SPLICE,	/* kernel TLS, splice() through pipes */
	SL_DATAPATH_PLAIN,		/* mode: testing, partner without TLS */
};

const char *sl_datapath_name(enum sl_datapath d);

struct sl_relay;

/* err: 0 = both sides closed cleanly, -ETIMEDOUT, or another -errno /
 * -EPROTO (TLS error, reason in sl_relay_reason()). */
typedef void (*sl_relay_done_fn)(struct sl_relay *r, int err, void *arg);

struct sl_relay_dir {
	char *buf;
	size_t off, len;		/* pending bytes: buf[off, off+len) */
	uint64_t bytes;			/* delivered */
	bool eof;			/* source said EOF */
	bool shut;			/* EOF passed on to the destination */
};

struct sl_relay {
	struct sl_loop *loop;
	enum sl_datapath path;
	int a_fd, b_fd;
	SSL *ssl;			/* userspace path; NULL for kTLS/plain */
	struct sl_io a_io, b_io;
	struct sl_timer idle;
	uint64_t idle_ms;
	struct sl_relay_dir a2b, b2a;
	bool b_wants_read_for_write;	/* SSL_write said WANT_READ */
	bool b_wants_write_for_read;	/* SSL_read said WANT_WRITE */
	bool active;			/* started and not stopped */
	bool finished;
	sl_relay_done_fn done;
	void *arg;
	char reason[128];
};

/*
 * Start relaying.  a_pre/b_pre: bytes already read from A (resp. B) that
 * must go out first (e.g. what the MTA pipelined after EHLO); copied.
 * The relay does not own the fds or the SSL: the owner closes them after
 * done() (or after sl_relay_stop()).
 */
int sl_relay_start(struct sl_relay *r, struct sl_loop *loop, enum sl_datapath path,
		   int a_fd, int b_fd, SSL *ssl, const void *a_pre, size_t a_pre_len,
		   const void *b_pre, size_t b_pre_len, uint64_t idle_ms,
		   sl_relay_done_fn done, void *arg);

/* Stop without calling done (owner is tearing down). Safe to call twice. */
void sl_relay_stop(struct sl_relay *r);

const char *sl_relay_reason(const struct sl_relay *r);

#endif /* SL_RELAY_H */

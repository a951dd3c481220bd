/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * relay.h — the data path of a session once the handshake is done.
 *
 * A relay joins a plain socket A (the local MTA, or the local backend for
 * inbound sessions) and the TLS side B (the partner).  Bytes from A go out
 * on B only through TLS; there is no path here that writes A's bytes to
 * B's socket in the clear (PLAIN is the one documented exception: mode
 * testing with a partner that offers no TLS at all).
 *
 * Data paths, chosen per connection by the session (best first):
 *   KTLS_SPLICE  B is a kernel TLS socket (sl_ktls_handoff done, the SSL
 *                freed): splice() through a pipe each way (lib/pump), no
 *                userspace copy of the mail;
 *   KTLS_RW      the same with read/write (lib/pump), chosen by the
 *                session or when no pipe can be had;
 *   USERSPACE    B is an OpenSSL SSL (SSL_read/SSL_write);
 *   PLAIN        B is plain TCP (splice, like KTLS_SPLICE without TLS).
 * A kTLS path on a socket that is not kTLS both ways is refused at start
 * (-ENOTCONN): never plaintext toward a socket believed encrypted.
 * After the handoff, B→A reads see TLS control records (lib/ktls):
 * session tickets are skipped, close_notify is the end of B, and a
 * KeyUpdate (which the 6.1 kernel cannot follow), an alert or another
 * handshake message ends the relay with a reason — never a stall, never
 * a byte of plaintext after it.
 *
 * Non-blocking, driven by the loop: each direction has a bounded buffer
 * (userspace: 16 KiB; pumps: the pipe), a full one stops reading its
 * source (back-pressure); half-close is propagated (EOF from A →
 * close_notify + SHUT_WR on B, EOF from B → SHUT_WR on A); an idle timeout
 * ends a stuck relay.  The owner learns the end through one callback and
 * then frees the relay.
 */
#ifndef SL_RELAY_H
#define SL_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "loop.h"
#include "pump.h"

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
	char *buf;			/* userspace path only */
	size_t off, len;		/* pending bytes: buf[off, off+len) */
	uint64_t bytes;			/* delivered */
	bool eof;			/* source said EOF */
	bool shut;			/* EOF passed on to the destination */
	struct sl_pump pump;		/* kTLS and plain paths */
	int st;				/* the pump's last enum sl_pump_status */
};

struct sl_relay {
	struct sl_loop *loop;
	enum sl_datapath path;		/* may turn KTLS_SPLICE → KTLS_RW at start */
	int a_fd, b_fd;
	SSL *ssl;			/* userspace path; NULL otherwise */
	bool pumps;			/* the directions are lib/pump pumps */
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
 * must go out first (e.g. what the MTA pipelined after EHLO), at most
 * SL_RELAY_BUF each; copied.  ssl: the userspace path's; ignored by the
 * others.  The relay does not own the fds or the SSL: the owner closes
 * them after done() (or after sl_relay_stop()).  0, or -errno with
 * nothing registered (-ENOTCONN: a kTLS path on a socket without kTLS).
 */
int sl_relay_start(struct sl_relay *r, struct sl_loop *loop, enum sl_datapath path,
		   int a_fd, int b_fd, SSL *ssl, const void *a_pre, size_t a_pre_len,
		   const void *b_pre, size_t b_pre_len, uint64_t idle_ms,
		   sl_relay_done_fn done, void *arg);

/* Stop without calling done (owner is tearing down). Safe to call twice. */
void sl_relay_stop(struct sl_relay *r);

const char *sl_relay_reason(const struct sl_relay *r);

#endif /* SL_RELAY_H */

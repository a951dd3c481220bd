/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * ktls.h — moving an established TLS session from OpenSSL into the kernel.
 *
 * After the handshake and the SMTP AUTH exchange (done with SSL_read and
 * SSL_write), the session's record keys go to the kernel for both
 * directions (TLS_TX and TLS_RX on the TCP socket), the OpenSSL objects
 * are freed, and the socket reads and writes plaintext that the kernel
 * encrypts: the mail's bytes never pass through OpenSSL again.
 *
 *   once per process:  sl_ktls_probe()          what the kernel offers
 *   once per SSL_CTX:   sl_ktls_ctx_init()       keylog callback (TLS 1.3)
 *   per session:        sl_ktls_track_init() + sl_ktls_track_bind(), and
 *                       every message-callback call fed to
 *                       sl_ktls_track_msg()      (before the handshake)
 *                       sl_ktls_handoff()        (after AUTH)
 *                       SSL_free()               (by the caller)
 *   afterwards:         sl_ktls_recv()           data + control records
 *                       sl_ktls_send_alert()     close_notify
 *
 * Who installs the keys: OpenSSL's own kTLS (SSL_OP_ENABLE_KTLS, set on
 * the SSL before the handshake) wherever it covers a direction — with
 * Debian 12's OpenSSL 3.0 that is TX and RX for TLS 1.2 and TX only for
 * TLS 1.3 — and this module for the rest: the TLS 1.3 application traffic
 * secret (from the keylog callback) expanded with HKDF-Expand-Label, or
 * the TLS 1.2 key block (PRF over the master secret), and the record
 * sequence number counted by the message callback (records read since the
 * peer's Finished or ChangeCipherSpec: session tickets and AUTH replies
 * included).
 *
 * Guarantees:
 *  - the handoff refuses (nothing changed, the session goes on in
 *    userspace) unless OpenSSL holds no unread record or plaintext
 *    (SSL_has_pending() == 0) and the caller holds no unread bytes: no
 *    byte is lost or reordered at the switch;
 *  - one guarded setter per cipher, `default:` is an error: a cipher this
 *    file does not know is never offloaded;
 *  - after the handoff, a record that is not application data is never
 *    delivered as data: NewSessionTicket is skipped, close_notify is EOF,
 *    any other alert or handshake message (KeyUpdate: the 6.1 kernel
 *    cannot rekey) ends the read side with an error, never a stall;
 *  - secrets are wiped (OPENSSL_cleanse) as soon as they are installed.
 */
#ifndef SL_KTLS_H
#define SL_KTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "policy.h"

/* The record ciphers the kernel may offload. */
enum sl_ktls_cipher {
	SL_KTLS_AES_GCM_128 = 0,
	SL_KTLS_AES_GCM_256 = 1,
	SL_KTLS_CHACHA20_POLY1305 = 2,
	SL_KTLS_AES_CCM_128 = 3,
	SL_KTLS_N_CIPHERS
};

const char *sl_ktls_cipher_name(enum sl_ktls_cipher c);	/* "aes-gcm-128" */

/* Index of the TLS version in the caps arrays. */
#define SL_KTLS_V12	0
#define SL_KTLS_V13	1

/* What the running kernel offers, probed once (sl_ktls_probe). */
struct sl_ktls_caps {
	int err;		/* 0, or -errno why there is no kTLS at all
				 * (-ENOENT: no "tls" ULP in this kernel) */
	uint8_t tx[2];		/* [SL_KTLS_V12|V13]: bit 1 << enum sl_ktls_cipher */
	uint8_t rx[2];
	bool rekey;		/* TLS 1.3 keys can be replaced (KeyUpdate) */
};

#define SL_KTLS_CAPS_STR	256

/*
 * Probe the kernel: on a loopback TCP connection per (version, cipher),
 * attach the "tls" ULP and set TLS_TX and TLS_RX with a zero key.  Always
 * fills *caps (caps->err says why nothing is offered); returns caps->err.
 */
int sl_ktls_probe(struct sl_ktls_caps *caps);

/* "tls1.2 tx,rx=aes-gcm-128,…; tls1.3 tx=… rx=…; rekey=no", or
 * "none (TCP_ULP tls: No such file or directory)".  Returns buf. */
char *sl_ktls_caps_str(const struct sl_ktls_caps *caps, char *buf, size_t len);

bool sl_ktls_caps_any(const struct sl_ktls_caps *caps);

/* ------------------------------------------------------------------ */
/* Before the handshake                                                */

/*
 * Install the keylog callback on ctx (chaining any callback already set).
 * It records the TLS 1.3 application traffic secrets of SSLs bound to a
 * tracker and nothing else.  0 or -errno.
 */
int sl_ktls_ctx_init(SSL_CTX *ctx);

/*
 * Per-session state from the handshake to the handoff (~150 bytes,
 * embedded in the session; no allocation).  Opaque: read nothing here.
 */
struct sl_ktls_track {
	uint64_t rd_records, wr_records;	/* records in the current epoch */
	uint8_t secret[2][64];			/* [0] client, [1] server (TLS 1.3) */
	uint8_t secret_len[2];
	uint16_t flags;
};

void sl_ktls_track_init(struct sl_ktls_track *t);

/*
 * Bind t to ssl (before SSL_connect/SSL_accept): the keylog callback finds
 * it there.  mode SL_KTLS_OFF leaves ssl alone and returns 0; otherwise
 * SSL_OP_ENABLE_KTLS is set when caps offers anything.  t must stay valid
 * until sl_ktls_track_done() or SSL_free().  0 or -errno.
 */
int sl_ktls_track_bind(SSL *ssl, struct sl_ktls_track *t, const struct sl_ktls_caps *caps,
		       enum sl_ktls_mode mode);

/*
 * Feed one OpenSSL message-callback call (SSL_set_msg_callback's
 * arguments).  The session's own message callback calls this; an owner
 * without one can install sl_ktls_msg_cb with the tracker as its arg.
 */
void sl_ktls_track_msg(struct sl_ktls_track *t, int write_p, int version, int content_type,
		       const void *buf, size_t len);
void sl_ktls_msg_cb(int write_p, int version, int content_type, const void *buf,
		    size_t len, SSL *ssl, void *arg);

/* Wipe the secrets.  Safe to call twice. */
void sl_ktls_track_done(struct sl_ktls_track *t);

/* ------------------------------------------------------------------ */
/* The switch                                                          */

enum sl_ktls_by {
	SL_KTLS_BY_NONE = 0,
	SL_KTLS_BY_OPENSSL = 1,		/* OpenSSL's own kTLS, from the handshake */
	SL_KTLS_BY_SMTPLOCK = 2,	/* keys installed by sl_ktls_handoff */
};

struct sl_ktls_info {
	uint16_t version;		/* TLS1_2_VERSION / TLS1_3_VERSION */
	enum sl_ktls_cipher cipher;
	enum sl_ktls_by tx, rx;
};

/* "TLSv1.3 aes-gcm-128 tx=openssl rx=smtplock" */
char *sl_ktls_info_str(const struct sl_ktls_info *info, char *buf, size_t len);

/*
 * Can this session be offloaded at all (version, cipher, kernel)?  0 and
 * *info filled (tx/rx = BY_NONE), or -EOPNOTSUPP with a reason in why
 * (may be NULL).
 */
int sl_ktls_offloadable(SSL *ssl, const struct sl_ktls_caps *caps, struct sl_ktls_info *info,
			char *why, size_t len);

/*
 * Move the session on SSL_get_fd(ssl) into the kernel, both directions.
 * app_buffered: bytes the caller has read from this SSL and not yet
 * passed on (must be 0).
 *
 *   0               both directions in the kernel; *info says who did
 *                   what.  The caller frees ssl (SSL_free: no close_notify
 *                   is sent) and from now on uses the fd with
 *                   sl_ktls_recv / write / splice.  The tracker is wiped.
 *   -EBUSY          OpenSSL or the caller holds unread bytes: retry after
 *                   reading them (nothing changed)
 *   -EOPNOTSUPP     version/cipher/kernel cannot (nothing changed)
 *   -EKEYREJECTED   a KeyUpdate or renegotiation happened before the
 *                   switch, or no secret was captured (nothing changed)
 *   -ENOTRECOVERABLE one direction was installed and the other failed:
 *                   the session is unusable and must be closed
 *   other -errno    setsockopt failed before anything changed
 *
 * On every error but -ENOTRECOVERABLE the SSL stays usable: the session
 * goes on with the userspace relay (or fails, if the policy requires
 * kTLS — that is the caller's decision).
 */
int sl_ktls_handoff(SSL *ssl, struct sl_ktls_track *t, const struct sl_ktls_caps *caps,
		    size_t app_buffered, struct sl_ktls_info *info);

/* Which directions of fd are kernel TLS now: bit 0 = TX, bit 1 = RX. */
#define SL_KTLS_DIR_TX	1u
#define SL_KTLS_DIR_RX	2u
unsigned sl_ktls_active(int fd);

/* ------------------------------------------------------------------ */
/* After the switch                                                    */

#define SL_KTLS_RECORD_MAX	16384	/* plaintext of one TLS record */

/* TLS content types (RFC 8446, 5.1) and the handshake types we act on. */
#define SL_TLS_CT_ALERT		21
#define SL_TLS_CT_HANDSHAKE	22
#define SL_TLS_CT_DATA		23
#define SL_TLS_HS_NEW_SESSION_TICKET	4
#define SL_TLS_HS_KEY_UPDATE		24

/* The last record that was not application data. */
struct sl_ktls_rec {
	uint8_t type;			/* content type, 0 = none yet */
	uint8_t hs_type;		/* first handshake message type */
	uint8_t alert_level, alert_desc;
	uint32_t tickets;		/* NewSessionTickets skipped so far */
};

/*
 * Read application data from a kTLS RX socket (recvmsg with a
 * TLS_GET_RECORD_TYPE cmsg).  len must be >= SL_KTLS_RECORD_MAX so that
 * a control record is always read whole.  flags: MSG_DONTWAIT etc.
 *
 *   > 0            bytes of application data
 *   0              end of stream: rec->type == SL_TLS_CT_ALERT with
 *                  alert_desc 0 for a close_notify, rec->type unchanged
 *                  for a TCP FIN without one
 *   -EAGAIN        nothing to read (NewSessionTickets were skipped)
 *   -EKEYEXPIRED   the peer sent a KeyUpdate and this kernel cannot rekey
 *   -ECONNRESET    a fatal alert (rec says which)
 *   -EPROTO        another handshake message or a malformed record
 *   other -errno   from the kernel (-EBADMSG: a record failed to decrypt)
 *
 * Bytes without a record type (fd is not kTLS RX) are -EPROTO, never
 * data.  rec may be NULL.
 */
ssize_t sl_ktls_recv(int fd, void *buf, size_t len, int flags, struct sl_ktls_rec *rec);

/* Send an alert record (level 1 warning / 2 fatal) on a kTLS TX socket;
 * -ENOTCONN (nothing sent) if fd has no kTLS TX. */
int sl_ktls_send_alert(int fd, uint8_t level, uint8_t desc);
static inline int sl_ktls_send_close_notify(int fd) { return sl_ktls_send_alert(fd, 1, 0); }

#endif /* SL_KTLS_H */

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * tls.h — OpenSSL contexts built from the policy, and verdicts in words.
 *
 * A context is built once per partner policy (outbound: client; inbound:
 * server) when the policy is loaded, so a broken certificate path fails
 * the load, not a session.  Per session, sl_tls_client_new() prepares an
 * SSL with SNI = MX name and the policy's verification; after the
 * handshake, sl_tls_check_peer() decides — before a single byte of mail
 * is written — whether the peer meets the policy.
 *
 * Guarantees:
 *  - the negotiated version is never below the policy's min_version
 *    (OpenSSL's floor is set to it; SSLv3/TLSv1.0/1.1 are never allowed);
 *  - every failure yields a one-line reason an administrator can act on
 *    ("peer offered TLSv1.2, policy requires TLSv1.3",
 *    "certificate pin mismatch (got sha256:…)");
 *  - verify: fingerprint/none never make OpenSSL fail the handshake on the
 *    chain; the pin check after the handshake is what decides.
 */
#ifndef SL_TLS_H
#define SL_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "policy.h"
#include "resolve.h"	/* struct sl_tlsa */

#define SL_TLS_REASON_MAX	256

/* TLS 1.2 suites the inbound server offers (TLS 1.3 suites are all AEAD). */
#define SL_TLS_SERVER_CIPHERS	"ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL"

struct sl_tls_ctx {
	SSL_CTX *ctx;
	const struct sl_tls_policy *tp;	/* client side; NULL on the server */
	uint16_t min_version;
	enum sl_verify_mode verify;	/* client: tp->verify; server: client cert */
	const struct sl_pin *pins;	/* pins the peer certificate must match */
	size_t n_pins;
	bool ktls;			/* kTLS allowed: sl_ktls_ctx_init() done */
	bool lenient;			/* SL_TLS_F_LENIENT */
};

struct sl_ktls_track;

/*
 * What the message callback saw during one handshake.  OpenSSL has one
 * message-callback slot per SSL and this is its owner: ktls, when the
 * session sets it after sl_tls_*_new() (which clear it) and before the
 * handshake, gets every call too (the record counts the kTLS handoff
 * needs).
 */
struct sl_tls_obs {
	uint16_t server_version;	/* legacy_version of ServerHello, 0 = none */
	int alert_recv;			/* alert description from the peer, -1 = none */
	int alert_sent;			/* alert description we sent, -1 = none */
	struct sl_ktls_track *ktls;	/* fed too; NULL = none */
};

/* Flags of sl_tls_client_ctx_new(). */
/* Allow the kTLS handoff on this context (partners with tls.ktls
 * preferred or required): installs the keylog callback that captures the
 * TLS 1.3 traffic secrets (sl_ktls_ctx_init).  Whether OpenSSL's own kTLS
 * is asked for is decided per SSL by sl_ktls_track_bind(), from what the
 * kernel offers. */
#define SL_TLS_F_KTLS		(1u << 0)
/* mode: testing — OpenSSL's floor is TLS 1.2 and a bad chain does not
 * abort the handshake; sl_tls_check_peer() still judges the policy, and
 * the caller logs would_defer instead of failing. */
#define SL_TLS_F_LENIENT	(1u << 1)

/*
 * Outbound: a client context for one partner's TLS policy.  tp must
 * outlive the context (it lives in the immutable policy).  On failure,
 * reason says why (a file that cannot be read, a bad cipher string).
 */
int sl_tls_client_ctx_new(const struct sl_tls_policy *tp, unsigned flags,
			  struct sl_tls_ctx **ret, char *reason, size_t len);

/* Inbound: a server context with our certificate and one partner's
 * requirements (min_version, client certificate verification). */
int sl_tls_server_ctx_new(const char *cert, const char *key,
			  const struct sl_inbound_policy *ip, bool ktls,
			  struct sl_tls_ctx **ret, char *reason, size_t len);

struct sl_tls_ctx *sl_tls_ctx_free(struct sl_tls_ctx *c);

/*
 * A client SSL on fd: SNI and host name check = mx_name, DANE records
 * (verify: dane) installed, obs filled by the message callback.  obs must
 * outlive the SSL.  Returns 0 or -errno / -EPROTO with reason.
 */
int sl_tls_client_new(const struct sl_tls_ctx *c, int fd, const char *mx_name,
		      const struct sl_tlsa *tlsa, size_t n_tlsa,
		      struct sl_tls_obs *obs, SSL **ret, char *reason, size_t len);

/* A server SSL on fd. */
int sl_tls_server_new(const struct sl_tls_ctx *c, int fd, struct sl_tls_obs *obs,
		      SSL **ret, char *reason, size_t len);

/*
 * One step of the handshake of an SSL made by sl_tls_{client,server}_new
 * on a non-blocking socket: 1 = done, 0 = in progress (*want: EPOLLIN or
 * EPOLLOUT, what to wait for), -1 = failed (sl_tls_failure_reason says why).
 */
int sl_tls_handshake(SSL *ssl, uint32_t *want);

/* After the handshake: the version and cipher, for logs and results. */
void sl_tls_describe(SSL *ssl, char *version, size_t vlen, char *cipher, size_t clen);

/*
 * After sl_tls_handshake failed: the reason in words.  Drains the error
 * queue.
 */
void sl_tls_failure_reason(SSL *ssl, const struct sl_tls_ctx *c,
			   const struct sl_tls_obs *obs, char *reason, size_t len);

/*
 * After a successful handshake: does the peer meet the policy (version
 * floor, verify mode, pins)?  0 = yes; -EPERM with reason otherwise.
 * verified_out (may be NULL) gets "ok", "pin", "dane", "none".
 */
int sl_tls_check_peer(SSL *ssl, const struct sl_tls_ctx *c,
		      char *reason, size_t len, const char **verified_out);

/* "sha256:AB:CD:…" of the DER certificate / of its SubjectPublicKeyInfo. */
int sl_tls_cert_pin(X509 *cert, bool spki, struct sl_pin *ret);
void sl_tls_pin_format(const struct sl_pin *pin, char *buf, size_t len);

/* Drain OpenSSL's error queue of this thread (after a handled failure). */
void sl_tls_clear_errors(void);

#endif /* SL_TLS_H */

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * tls.c — policy → OpenSSL, and handshake outcomes → words.  See tls.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

#include "ktls.h"
#include "tls.h"

static void sl_tls_reason(char *reason, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void sl_tls_reason(char *reason, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!reason || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, len, fmt, ap);
	va_end(ap);
}

void sl_tls_clear_errors(void)
{
	ERR_clear_error();
}

/* The first queued OpenSSL error as text, or fallback. */
static const char *sl_tls_err_text(char *buf, size_t len, const char *fallback)
{
	unsigned long e = ERR_peek_error();

	if (!e)
		return fallback;
	ERR_error_string_n(e, buf, len);
	return buf;
}

/*
 * The message callback records what the peer said during the handshake:
 * the version in its ServerHello and any alert, so a failure can be
 * explained precisely ("peer offered TLSv1.2 …") instead of with
 * OpenSSL's generic "unsupported protocol".  It also feeds the session's
 * kTLS tracker (record sequence numbers for the handoff).
 */
static void sl_tls_msg_cb(int write_p, int version, int content_type, const void *buf,
			  size_t len, SSL *ssl, void *arg)
{
	struct sl_tls_obs *obs = arg;
	const unsigned char *p = buf;

	(void)ssl;
	if (!obs)
		return;
	sl_ktls_track_msg(obs->ktls, write_p, version, content_type, buf, len);
	if (content_type == SSL3_RT_HANDSHAKE && !write_p && len >= 6 &&
	    p[0] == SSL3_MT_SERVER_HELLO && !obs->server_version)
		obs->server_version = (uint16_t)(p[4] << 8 | p[5]);
	if (content_type == SSL3_RT_ALERT && len >= 2) {
		if (write_p)
			obs->alert_sent = p[1];
		else
			obs->alert_recv = p[1];
	}
}

static int sl_tls_ctx_common(SSL_CTX *ctx, uint16_t min_version, bool ktls,
			     char *reason, size_t len)
{
	int r;
	/* IGNORE_UNEXPECTED_EOF: many MTAs close after "221" without a
	 * close_notify; SMTP has its own end markers, so that is an EOF. */
	uint64_t opts = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
			SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_IGNORE_UNEXPECTED_EOF;

	/* The floor: never below the policy, never below TLS 1.2. */
	if (min_version < SL_TLS_1_2)
		min_version = SL_TLS_1_2;
	if (!SSL_CTX_set_min_proto_version(ctx, min_version)) {
		sl_tls_reason(reason, len, "cannot set minimum TLS version");
		return -EINVAL;
	}
	SSL_CTX_set_options(ctx, opts);
	/* SSL_OP_ENABLE_KTLS is set per SSL (sl_ktls_track_bind), only when
	 * the kernel offers kTLS: here only the keylog callback. */
	if (ktls) {
		r = sl_ktls_ctx_init(ctx);
		if (r < 0) {
			sl_tls_reason(reason, len, "cannot prepare the context for kernel TLS: %s",
				      strerror(-r));
			return r;
		}
	}
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
			 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
	return 0;
}

static int sl_tls_ciphers(SSL_CTX *ctx, const char *ciphers, const char *suites,
			  char *reason, size_t len)
{
	if (ciphers && !SSL_CTX_set_cipher_list(ctx, ciphers)) {
		sl_tls_reason(reason, len, "tls.ciphers \"%s\" selects no cipher", ciphers);
		return -EINVAL;
	}
	if (suites && !SSL_CTX_set_ciphersuites(ctx, suites)) {
		sl_tls_reason(reason, len, "tls.ciphersuites \"%s\" is invalid", suites);
		return -EINVAL;
	}
	return 0;
}

static int sl_tls_own_cert(SSL_CTX *ctx, const char *cert, const char *key,
			   char *reason, size_t len)
{
	char e[256];

	if (!SSL_CTX_use_certificate_chain_file(ctx, cert)) {
		sl_tls_reason(reason, len, "cannot load certificate %s: %s", cert,
			      sl_tls_err_text(e, sizeof(e), "error"));
		return -EINVAL;
	}
	if (!SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM)) {
		sl_tls_reason(reason, len, "cannot load key %s: %s", key,
			      sl_tls_err_text(e, sizeof(e), "error"));
		return -EINVAL;
	}
	if (!SSL_CTX_check_private_key(ctx)) {
		sl_tls_reason(reason, len, "key %s does not match certificate %s", key, cert);
		return -EINVAL;
	}
	return 0;
}

int sl_tls_client_ctx_new(const struct sl_tls_policy *tp, unsigned flags,
			  struct sl_tls_ctx **ret, char *reason, size_t len)
{
	bool ktls = flags & SL_TLS_F_KTLS, lenient = flags & SL_TLS_F_LENIENT;
	struct sl_tls_ctx *c;
	char e[256];
	int r = -ENOMEM;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->tp = tp;
	c->min_version = tp->min_version;
	c->verify = tp->verify;
	c->pins = tp->pins;
	c->n_pins = tp->n_pins;
	c->ktls = ktls;
	c->lenient = lenient;
	c->ctx = SSL_CTX_new(TLS_client_method());
	if (!c->ctx) {
		sl_tls_reason(reason, len, "SSL_CTX_new failed");
		goto fail;
	}
	r = sl_tls_ctx_common(c->ctx, lenient ? SL_TLS_1_2 : tp->min_version, ktls,
			      reason, len);
	if (r < 0)
		goto fail;
	r = sl_tls_ciphers(c->ctx, tp->ciphers, tp->ciphersuites, reason, len);
	if (r < 0)
		goto fail;
	switch (tp->verify) {
	case SL_VERIFY_CA:
		r = -EINVAL;
		if (!tp->ca_file ||
		    !SSL_CTX_load_verify_locations(c->ctx, tp->ca_file, NULL)) {
			sl_tls_reason(reason, len, "cannot load ca_file %s: %s",
				      tp->ca_file ? tp->ca_file : "(none)",
				      sl_tls_err_text(e, sizeof(e), "error"));
			goto fail;
		}
		/* Lenient: OpenSSL still verifies and records the result. */
		SSL_CTX_set_verify(c->ctx, lenient ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
		break;
	case SL_VERIFY_DANE:
		r = -EINVAL;
		if (SSL_CTX_dane_enable(c->ctx) <= 0) {
			sl_tls_reason(reason, len, "OpenSSL DANE support unavailable");
			goto fail;
		}
		/* PKIX-TA/PKIX-EE (usages 0, 1) also need a trust store. */
		if (tp->ca_file)
			SSL_CTX_load_verify_locations(c->ctx, tp->ca_file, NULL);
		SSL_CTX_set_verify(c->ctx, lenient ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
		break;
	case SL_VERIFY_FINGERPRINT:
	case SL_VERIFY_NONE:
		/* The chain is not what decides: sl_tls_check_peer() does. */
		SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
		break;
	default:
		r = -EINVAL;
		sl_tls_reason(reason, len, "unknown verify mode %d", tp->verify);
		goto fail;
	}
	if (tp->client_cert) {
		r = sl_tls_own_cert(c->ctx, tp->client_cert,
				    tp->client_key ? tp->client_key : tp->client_cert,
				    reason, len);
		if (r < 0)
			goto fail;
	}
	*ret = c;
	return 0;
fail:
	ERR_clear_error();
	sl_tls_ctx_free(c);
	return r;
}

int sl_tls_server_ctx_new(const char *cert, const char *key,
			  const struct sl_inbound_policy *ip, bool ktls,
			  struct sl_tls_ctx **ret, char *reason, size_t len)
{
	struct sl_tls_ctx *c;
	char e[256];
	int r = -ENOMEM;

	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->min_version = ip ? ip->min_version : SL_TLS_1_2;
	c->ktls = ktls;
	c->verify = SL_VERIFY_NONE;
	c->ctx = SSL_CTX_new(TLS_server_method());
	if (!c->ctx) {
		sl_tls_reason(reason, len, "SSL_CTX_new failed");
		goto fail;
	}
	r = sl_tls_ctx_common(c->ctx, c->min_version, ktls, reason, len);
	if (r < 0)
		goto fail;
	r = sl_tls_own_cert(c->ctx, cert, key, reason, len);
	if (r < 0)
		goto fail;
	/* Partners must speak TLS 1.2+; every such MTA has AEAD suites with
	 * forward secrecy, so nothing weaker is offered (no CBC: LUCKY13). */
	r = sl_tls_ciphers(c->ctx, SL_TLS_SERVER_CIPHERS, NULL, reason, len);
	if (r < 0)
		goto fail;
	if (ip && ((ip->require & SL_REQUIRE_CLIENT_CERT) || ip->client_ca_file)) {
		int mode = SSL_VERIFY_PEER;

		if (ip->require & SL_REQUIRE_CLIENT_CERT)
			mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
		if (ip->client_ca_file) {
			STACK_OF(X509_NAME) *names;

			r = -EINVAL;
			if (!SSL_CTX_load_verify_locations(c->ctx, ip->client_ca_file, NULL)) {
				sl_tls_reason(reason, len, "cannot load client_ca_file %s: %s",
					      ip->client_ca_file,
					      sl_tls_err_text(e, sizeof(e), "error"));
				goto fail;
			}
			names = SSL_load_client_CA_file(ip->client_ca_file);
			if (names)
				SSL_CTX_set_client_CA_list(c->ctx, names);
			c->verify = SL_VERIFY_CA;
		} else {
			c->verify = SL_VERIFY_FINGERPRINT;
		}
		SSL_CTX_set_verify(c->ctx, mode, NULL);
		SSL_CTX_set_verify_depth(c->ctx, 8);
		/* The session id context is required with client certificates. */
		SSL_CTX_set_session_id_context(c->ctx, (const unsigned char *)"smtplock", 8);
	}
	if (ip) {
		c->pins = ip->client_pins;
		c->n_pins = ip->n_client_pins;
	}
	*ret = c;
	return 0;
fail:
	ERR_clear_error();
	sl_tls_ctx_free(c);
	return r;
}

struct sl_tls_ctx *sl_tls_ctx_free(struct sl_tls_ctx *c)
{
	if (!c)
		return NULL;
	SSL_CTX_free(c->ctx);
	free(c);
	return NULL;
}

static int sl_tls_ssl_new(const struct sl_tls_ctx *c, int fd, struct sl_tls_obs *obs,
			  SSL **ret, char *reason, size_t len)
{
	SSL *ssl = SSL_new(c->ctx);

	if (!ssl) {
		sl_tls_reason(reason, len, "SSL_new failed");
		return -ENOMEM;
	}
	if (!SSL_set_fd(ssl, fd)) {
		SSL_free(ssl);
		sl_tls_reason(reason, len, "SSL_set_fd failed");
		return -ENOMEM;
	}
	if (obs) {
		obs->server_version = 0;
		obs->alert_recv = obs->alert_sent = -1;
		obs->ktls = NULL;
		SSL_set_msg_callback(ssl, sl_tls_msg_cb);
		SSL_set_msg_callback_arg(ssl, obs);
	}
	*ret = ssl;
	return 0;
}

int sl_tls_client_new(const struct sl_tls_ctx *c, int fd, const char *mx_name,
		      const struct sl_tlsa *tlsa, size_t n_tlsa,
		      struct sl_tls_obs *obs, SSL **ret, char *reason, size_t len)
{
	SSL *ssl = NULL;
	size_t usable = 0;
	int r;

	r = sl_tls_ssl_new(c, fd, obs, &ssl, reason, len);
	if (r < 0)
		return r;
	r = -EINVAL;
	if (mx_name && !SSL_set_tlsext_host_name(ssl, mx_name)) {
		sl_tls_reason(reason, len, "cannot set SNI %s", mx_name);
		goto fail;
	}
	switch (c->verify) {
	case SL_VERIFY_CA:
		if (!mx_name || !SSL_set1_host(ssl, mx_name)) {
			sl_tls_reason(reason, len, "no MX host name to verify the certificate against");
			goto fail;
		}
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		break;
	case SL_VERIFY_DANE:
		if (!mx_name || SSL_dane_enable(ssl, mx_name) <= 0) {
			sl_tls_reason(reason, len, "cannot enable DANE for %s",
				      mx_name ? mx_name : "(no MX name)");
			goto fail;
		}
		/* RFC 7672: DANE-EE(3) binds the key, not a name. */
		SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
		for (size_t i = 0; i < n_tlsa; i++)
			if (SSL_dane_tlsa_add(ssl, tlsa[i].usage, tlsa[i].selector,
					      tlsa[i].mtype, tlsa[i].data, tlsa[i].len) > 0)
				usable++;
		if (!usable) {
			sl_tls_reason(reason, len, "no usable TLSA records for %s", mx_name);
			r = -EPERM;
			goto fail;
		}
		break;
	default:
		break;
	}
	SSL_set_connect_state(ssl);
	*ret = ssl;
	return 0;
fail:
	ERR_clear_error();
	SSL_free(ssl);
	return r;
}

int sl_tls_server_new(const struct sl_tls_ctx *c, int fd, struct sl_tls_obs *obs,
		      SSL **ret, char *reason, size_t len)
{
	int r = sl_tls_ssl_new(c, fd, obs, ret, reason, len);

	if (r == 0)
		SSL_set_accept_state(*ret);
	return r;
}

/* OpenSSL 3.0 names no TLS 1.3-era alerts; those get their RFC 8446 names. */
static const char *sl_tls_alert_name(int desc)
{
	switch (desc) {
	case 109: return "missing extension";
	case 116: return "certificate required";
	case 120: return "no application protocol";
	default: return SSL_alert_desc_string_long(desc);
	}
}

int sl_tls_handshake(SSL *ssl, uint32_t *want)
{
	int r = SSL_do_handshake(ssl), e;

	if (r == 1)
		return 1;
	e = SSL_get_error(ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		*want = e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT;
		return 0;
	}
	return -1;
}

void sl_tls_describe(SSL *ssl, char *version, size_t vlen, char *cipher, size_t clen)
{
	snprintf(version, vlen, "%s", SSL_get_version(ssl));
	snprintf(cipher, clen, "%s", SSL_get_cipher_name(ssl));
}

void sl_tls_failure_reason(SSL *ssl, const struct sl_tls_ctx *c,
			   const struct sl_tls_obs *obs, char *reason, size_t len)
{
	unsigned long e = ERR_peek_error();
	int lib = ERR_GET_LIB(e), why = ERR_GET_REASON(e);
	uint16_t floor = c->min_version < SL_TLS_1_2 ? SL_TLS_1_2 : c->min_version;
	char buf[256];
	long vr;

	/* The peer chose a version below our floor. */
	if (obs && obs->server_version && obs->server_version < floor) {
		sl_tls_reason(reason, len, "peer offered %s, policy requires %s",
			      sl_tls_version_name(obs->server_version),
			      sl_tls_version_name(floor));
		goto out;
	}
	if (lib == ERR_LIB_SSL && why == SSL_R_CERTIFICATE_VERIFY_FAILED) {
		vr = SSL_get_verify_result(ssl);
		if (c->verify == SL_VERIFY_DANE)
			sl_tls_reason(reason, len, "DANE verification failed: %s",
				      X509_verify_cert_error_string(vr));
		else
			sl_tls_reason(reason, len, "certificate verify failed: %s",
				      X509_verify_cert_error_string(vr));
		goto out;
	}
	if (lib == ERR_LIB_SSL && (why == SSL_R_WRONG_VERSION_NUMBER ||
				   why == SSL_R_PACKET_LENGTH_TOO_LONG ||
				   why == SSL_R_RECORD_LENGTH_MISMATCH)) {
		sl_tls_reason(reason, len, "peer did not start TLS (non-TLS bytes after STARTTLS)");
		goto out;
	}
	if (obs && obs->alert_recv >= 0) {
		if (obs->alert_recv == SSL_AD_PROTOCOL_VERSION)
			sl_tls_reason(reason, len, "peer offered no TLS version >= %s "
				      "(policy requires %s)", sl_tls_version_name(floor),
				      sl_tls_version_name(floor));
		else
			sl_tls_reason(reason, len, "peer sent TLS alert: %s",
				      sl_tls_alert_name(obs->alert_recv));
		goto out;
	}
	if (lib == ERR_LIB_SSL && why == SSL_R_UNSUPPORTED_PROTOCOL) {
		sl_tls_reason(reason, len, "no common TLS version >= %s",
			      sl_tls_version_name(floor));
		goto out;
	}
	if (!e) {
		sl_tls_reason(reason, len, "connection closed during TLS handshake");
		goto out;
	}
	sl_tls_reason(reason, len, "TLS handshake failed: %s",
		      sl_tls_err_text(buf, sizeof(buf), "error"));
out:
	ERR_clear_error();
}

int sl_tls_cert_pin(X509 *cert, bool spki, struct sl_pin *ret)
{
	unsigned char *der = NULL;
	int n;

	if (!cert)
		return -EINVAL;
	if (spki)
		n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	else
		n = i2d_X509(cert, &der);
	if (n <= 0)
		return -EINVAL;
	SHA256(der, (size_t)n, ret->sha256);
	OPENSSL_free(der);
	return 0;
}

void sl_tls_pin_format(const struct sl_pin *pin, char *buf, size_t len)
{
	size_t off;

	off = (size_t)snprintf(buf, len, "sha256:");
	for (size_t i = 0; i < SL_PIN_LEN && off + 3 < len; i++)
		off += (size_t)snprintf(buf + off, len - off, i ? ":%02X" : "%02X",
					pin->sha256[i]);
}

static bool sl_tls_pin_match(const struct sl_tls_ctx *c, const struct sl_pin *pin)
{
	for (size_t i = 0; i < c->n_pins; i++)
		if (CRYPTO_memcmp(c->pins[i].sha256, pin->sha256, SL_PIN_LEN) == 0)
			return true;
	return false;
}

int sl_tls_check_peer(SSL *ssl, const struct sl_tls_ctx *c,
		      char *reason, size_t len, const char **verified_out)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	int v = SSL_version(ssl);
	uint16_t floor = c->min_version < SL_TLS_1_2 ? SL_TLS_1_2 : c->min_version;
	struct sl_pin cpin, spin;
	char got[128];
	const char *how = "none";
	long vr;

	/* Belt and braces: OpenSSL's floor already enforces this. */
	if (v < floor) {
		sl_tls_reason(reason, len, "peer negotiated %s, policy requires %s",
			      sl_tls_version_name((uint16_t)v), sl_tls_version_name(floor));
		return -EPERM;
	}
	switch (c->verify) {
	case SL_VERIFY_NONE:
		break;
	case SL_VERIFY_CA:
	case SL_VERIFY_DANE:
		vr = SSL_get_verify_result(ssl);
		if (!cert || vr != X509_V_OK) {
			sl_tls_reason(reason, len, "certificate verify failed: %s",
				      cert ? X509_verify_cert_error_string(vr)
					   : "peer sent no certificate");
			return -EPERM;
		}
		how = c->verify == SL_VERIFY_DANE ? "dane" : "ok";
		break;
	case SL_VERIFY_FINGERPRINT:
		if (!cert) {
			sl_tls_reason(reason, len, "peer sent no certificate to check the pin against");
			return -EPERM;
		}
		break;
	default:
		sl_tls_reason(reason, len, "unknown verify mode");
		return -EPERM;
	}
	/* Pins: required for verify: fingerprint, an extra check otherwise. */
	if (c->n_pins || c->verify == SL_VERIFY_FINGERPRINT) {
		if (!cert || sl_tls_cert_pin(cert, false, &cpin) < 0 ||
		    sl_tls_cert_pin(cert, true, &spin) < 0) {
			sl_tls_reason(reason, len, "cannot compute the certificate pin");
			return -EPERM;
		}
		if (!sl_tls_pin_match(c, &cpin) && !sl_tls_pin_match(c, &spin)) {
			sl_tls_pin_format(&cpin, got, sizeof(got));
			sl_tls_reason(reason, len, "certificate pin mismatch (got %s)", got);
			return -EPERM;
		}
		how = "pin";
	}
	if (verified_out)
		*verified_out = how;
	return 0;
}

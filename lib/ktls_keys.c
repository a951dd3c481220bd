// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ktls_keys.c — what the kernel needs that OpenSSL 3.0 does not hand out:
 * the TLS 1.3 application traffic secrets (keylog callback), the record
 * sequence numbers (message callback), and the keys derived from them.
 *
 * Sequence numbers: OpenSSL reports every record header it reads or
 * writes (SSL3_RT_HEADER) and then every handshake message in it.  An
 * epoch starts at the Finished message of each direction: in TLS 1.3 the
 * application keys begin with the record after it, in TLS 1.2 Finished is
 * itself record 0 of the new keys.  The records counted since then are
 * the next sequence number.  Anything that changes keys after that (KeyUpdate,
 * renegotiation) makes the count meaningless, and the handoff refuses.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include <linux/tls.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/ssl.h>

#include "ktls.h"
#include "ktls_int.h"

enum {
	SL_TRK_BOUND = 1u << 0,
	SL_TRK_RD_EPOCH = 1u << 1,	/* rd_records counts the current epoch */
	SL_TRK_WR_EPOCH = 1u << 2,
	SL_TRK_REKEYED = 1u << 3,	/* KeyUpdate or renegotiation seen */
};

static int sl_ktls_ex_idx = -1;
static pthread_once_t sl_ktls_ex_once = PTHREAD_ONCE_INIT;

static void sl_ktls_ex_init(void)
{
	sl_ktls_ex_idx = SSL_get_ex_new_index(0, (void *)"sl_ktls_track", NULL, NULL, NULL);
}

static int sl_ktls_ex(void)
{
	pthread_once(&sl_ktls_ex_once, sl_ktls_ex_init);
	return sl_ktls_ex_idx;
}

/* ------------------------------------------------------------------ */
/* Keylog: the TLS 1.3 application traffic secrets                     */

static int sl_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* "LABEL <client_random hex> <secret hex>" */
static void sl_ktls_keylog(const SSL *ssl, const char *line)
{
	struct sl_ktls_track *t;
	const char *p;
	int which;
	size_t n = 0;

	if (sl_ktls_ex() < 0)
		return;
	t = SSL_get_ex_data(ssl, sl_ktls_ex());
	if (!t)
		return;
	if (strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24) == 0)
		which = 0;
	else if (strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24) == 0)
		which = 1;
	else
		return;
	p = strchr(line + 24, ' ');
	if (!p)
		return;
	for (p++; p[0] && p[1] && n < sizeof(t->secret[which]); p += 2) {
		int hi = sl_hexval(p[0]), lo = sl_hexval(p[1]);

		if (hi < 0 || lo < 0)
			break;
		t->secret[which][n++] = (uint8_t)(hi << 4 | lo);
	}
	if (*p) {		/* not the whole line: keep nothing */
		OPENSSL_cleanse(t->secret[which], sizeof(t->secret[which]));
		n = 0;
	}
	t->secret_len[which] = (uint8_t)n;
}

int sl_ktls_ctx_init(SSL_CTX *ctx)
{
	SSL_CTX_keylog_cb_func cur = SSL_CTX_get_keylog_callback(ctx);

	if (sl_ktls_ex() < 0)
		return -ENOMEM;
	if (cur && cur != sl_ktls_keylog)
		return -EEXIST;	/* someone else logs keys: not both */
	SSL_CTX_set_keylog_callback(ctx, sl_ktls_keylog);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The tracker                                                         */

void sl_ktls_track_init(struct sl_ktls_track *t)
{
	memset(t, 0, sizeof(*t));
}

int sl_ktls_track_bind(SSL *ssl, struct sl_ktls_track *t, const struct sl_ktls_caps *caps,
		       enum sl_ktls_mode mode)
{
	if (mode == SL_KTLS_OFF)
		return 0;
	if (sl_ktls_ex() < 0 || !SSL_set_ex_data(ssl, sl_ktls_ex(), t))
		return -ENOMEM;
	t->flags |= SL_TRK_BOUND;
	/* OpenSSL installs the directions it can at the handshake itself. */
	if (caps && sl_ktls_caps_any(caps))
		SSL_set_options(ssl, SSL_OP_ENABLE_KTLS);
	return 0;
}

void sl_ktls_track_unbind(SSL *ssl)
{
	if (sl_ktls_ex() >= 0)
		SSL_set_ex_data(ssl, sl_ktls_ex(), NULL);
}

static void sl_ktls_epoch(struct sl_ktls_track *t, int write_p)
{
	if (write_p) {
		t->wr_records = 0;
		t->flags |= SL_TRK_WR_EPOCH;
	} else {
		t->rd_records = 0;
		t->flags |= SL_TRK_RD_EPOCH;
	}
}

void sl_ktls_track_msg(struct sl_ktls_track *t, int write_p, int version, int content_type,
		       const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (!t)
		return;
	switch (content_type) {
	case SSL3_RT_HEADER:		/* one record read or written */
		if (write_p)
			t->wr_records++;
		else
			t->rd_records++;
		return;
	case SSL3_RT_CHANGE_CIPHER_SPEC:
		/* The epoch is set at Finished (below), in both versions. */
		return;
	case SSL3_RT_HANDSHAKE:
		break;
	default:
		return;
	}
	if (len < 1)
		return;
	switch (p[0]) {
	case SSL3_MT_FINISHED:
		/* TLS 1.3: the application keys start after Finished.
		 * TLS 1.2: Finished is the first record (sequence 0) of the
		 * new keys; OpenSSL 3.0 reports a received ChangeCipherSpec
		 * to nobody, so this is where the read epoch is known. */
		sl_ktls_epoch(t, write_p);
		if (version != TLS1_3_VERSION) {
			if (write_p)
				t->wr_records = 1;
			else
				t->rd_records = 1;
		}
		break;
	case SSL3_MT_KEY_UPDATE:
		t->flags |= SL_TRK_REKEYED;
		break;
	case SSL3_MT_HELLO_REQUEST:
	case SSL3_MT_CLIENT_HELLO:
	case SSL3_MT_SERVER_HELLO:
		if (t->flags & (write_p ? SL_TRK_WR_EPOCH : SL_TRK_RD_EPOCH))
			t->flags |= SL_TRK_REKEYED;	/* renegotiation */
		break;
	default:
		break;
	}
}

void sl_ktls_msg_cb(int write_p, int version, int content_type, const void *buf,
		    size_t len, SSL *ssl, void *arg)
{
	(void)ssl;
	sl_ktls_track_msg(arg, write_p, version, content_type, buf, len);
}

void sl_ktls_track_done(struct sl_ktls_track *t)
{
	if (t)
		OPENSSL_cleanse(t, sizeof(*t));
}

/* ------------------------------------------------------------------ */
/* Derivation                                                          */

/* HKDF-Expand-Label(secret, label, "", len) (RFC 8446, 7.1). */
static int sl_tls13_expand(const EVP_MD *md, const uint8_t *secret, size_t secret_len,
			   const char *label, uint8_t *out, size_t len)
{
	static const char prefix[] = "tls13 ";
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_TLS1_3_KDF, NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, r = -EIO;
	OSSL_PARAM params[] = {
		OSSL_PARAM_int(OSSL_KDF_PARAM_MODE, &mode),
		OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)EVP_MD_get0_name(md), 0),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret, secret_len),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_PREFIX, (void *)prefix, sizeof(prefix) - 1),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_LABEL, (void *)label, strlen(label)),
		OSSL_PARAM_octet_string(OSSL_KDF_PARAM_DATA, (void *)"", 0),
		OSSL_PARAM_END,
	};

	if (kctx && EVP_KDF_derive(kctx, out, len, params) > 0)
		r = 0;
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return r;
}

/* The TLS 1.2 key block: PRF(master, "key expansion", server_random +
 * client_random) (RFC 5246, 6.3). */
static int sl_tls12_key_block(SSL *ssl, const EVP_MD *md, uint8_t *out, size_t len)
{
	static const char label[] = "key expansion";
	uint8_t master[SSL_MAX_MASTER_KEY_LENGTH], seed[sizeof(label) - 1 + 2 * SSL3_RANDOM_SIZE];
	SSL_SESSION *sess = SSL_get_session(ssl);
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_TLS1_PRF, NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	size_t mlen = sess ? SSL_SESSION_get_master_key(sess, master, sizeof(master)) : 0;
	int r = -EIO;

	memcpy(seed, label, sizeof(label) - 1);
	if (kctx && mlen &&
	    SSL_get_server_random(ssl, seed + sizeof(label) - 1, SSL3_RANDOM_SIZE) == SSL3_RANDOM_SIZE &&
	    SSL_get_client_random(ssl, seed + sizeof(label) - 1 + SSL3_RANDOM_SIZE,
				  SSL3_RANDOM_SIZE) == SSL3_RANDOM_SIZE) {
		OSSL_PARAM params[] = {
			OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)EVP_MD_get0_name(md), 0),
			OSSL_PARAM_octet_string(OSSL_KDF_PARAM_SECRET, master, mlen),
			OSSL_PARAM_octet_string(OSSL_KDF_PARAM_SEED, seed, sizeof(seed)),
			OSSL_PARAM_END,
		};

		if (EVP_KDF_derive(kctx, out, len, params) > 0)
			r = 0;
	}
	OPENSSL_cleanse(master, sizeof(master));
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return r;
}

int sl_ktls_derive(SSL *ssl, const struct sl_ktls_track *t, enum sl_ktls_cipher cipher,
		   bool tx, struct sl_ktls_keys *ret)
{
	const EVP_MD *md = SSL_CIPHER_get_handshake_digest(SSL_get_current_cipher(ssl));
	bool server = SSL_is_server(ssl);
	uint64_t seq;
	int r;

	if (!md || !(t->flags & SL_TRK_BOUND) || (t->flags & SL_TRK_REKEYED) ||
	    !(t->flags & (tx ? SL_TRK_WR_EPOCH : SL_TRK_RD_EPOCH)))
		return -EKEYREJECTED;
	memset(ret, 0, sizeof(*ret));
	ret->cipher = cipher;
	ret->version = SSL_version(ssl) == TLS1_3_VERSION ? TLS_1_3_VERSION : TLS_1_2_VERSION;
	sl_ktls_cipher_sizes(cipher, ret->version, &ret->key_len, &ret->iv_len);
	seq = tx ? t->wr_records : t->rd_records;
	for (int i = 7; i >= 0; i--, seq >>= 8)
		ret->seq[i] = (uint8_t)seq;

	if (ret->version == TLS_1_3_VERSION) {
		/* We send with our own secret and read with the peer's. */
		int which = tx != server ? 0 : 1;	/* 0 = client's */

		if (!t->secret_len[which] || t->secret_len[which] != EVP_MD_get_size(md))
			return -EKEYREJECTED;
		r = sl_tls13_expand(md, t->secret[which], t->secret_len[which], "key",
				    ret->key, ret->key_len);
		if (r == 0)
			r = sl_tls13_expand(md, t->secret[which], t->secret_len[which], "iv",
					    ret->iv, ret->iv_len);
	} else {
		/* client_write_key, server_write_key, client_write_IV,
		 * server_write_IV; the client's keys are what the client
		 * sends and the server reads. */
		uint8_t kb[2 * 32 + 2 * 12];
		bool client_keys = tx != server;
		size_t kl = ret->key_len, il = ret->iv_len;

		r = sl_tls12_key_block(ssl, md, kb, 2 * kl + 2 * il);
		if (r == 0) {
			memcpy(ret->key, kb + (client_keys ? 0 : kl), kl);
			memcpy(ret->iv, kb + 2 * kl + (client_keys ? 0 : il), il);
		}
		OPENSSL_cleanse(kb, sizeof(kb));
	}
	if (r < 0)
		OPENSSL_cleanse(ret, sizeof(*ret));
	return r;
}

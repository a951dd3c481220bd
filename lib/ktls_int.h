/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * ktls_int.h — shared by ktls.c (setters, handoff) and ktls_keys.c (what
 * the handshake left us: secrets, sequence numbers, derivation).  Not for
 * use outside lib/ktls*.c.
 */
#ifndef SL_KTLS_INT_H
#define SL_KTLS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "ktls.h"

/* The keys of one direction, as the kernel wants them. */
struct sl_ktls_keys {
	uint16_t version;		/* TLS_1_2_VERSION / TLS_1_3_VERSION */
	enum sl_ktls_cipher cipher;
	uint8_t key[32];
	size_t key_len;
	uint8_t iv[12];			/* TLS 1.3 and ChaCha20: 12; TLS 1.2 GCM/CCM: 4 */
	size_t iv_len;
	uint8_t seq[8];			/* next record sequence number, big endian */
};

int sl_ktls_set_keys(int fd, int dir, const struct sl_ktls_keys *k);
void sl_ktls_cipher_sizes(enum sl_ktls_cipher c, uint16_t version, size_t *key_len,
			  size_t *iv_len);

/* Keys of one direction (tx: what we send) from what the tracker saw.
 * -EKEYREJECTED when the tracker cannot vouch for them. */
int sl_ktls_derive(SSL *ssl, const struct sl_ktls_track *t, enum sl_ktls_cipher cipher,
		   bool tx, struct sl_ktls_keys *ret);

void sl_ktls_track_unbind(SSL *ssl);

#endif

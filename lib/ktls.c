// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * ktls.c — kernel capabilities, per-cipher key setters, the handoff, and
 * control records after it.  Key material (tracking and derivation) lives
 * in ktls_keys.c.  See ktls.h for the contract.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/tls.h>

#include <openssl/crypto.h>
#include <openssl/ssl.h>

#include "ktls.h"
#include "ktls_int.h"

#ifndef SOL_TLS
#define SOL_TLS 282
#endif

static const char *const sl_ktls_cipher_names[SL_KTLS_N_CIPHERS] = {
	[SL_KTLS_AES_GCM_128] = "aes-gcm-128",
	[SL_KTLS_AES_GCM_256] = "aes-gcm-256",
	[SL_KTLS_CHACHA20_POLY1305] = "chacha20-poly1305",
	[SL_KTLS_AES_CCM_128] = "aes-ccm-128",
};

const char *sl_ktls_cipher_name(enum sl_ktls_cipher c)
{
	if ((unsigned)c >= SL_KTLS_N_CIPHERS)
		return "unknown";
	return sl_ktls_cipher_names[c];
}

static const char *sl_ktls_by_name(enum sl_ktls_by b)
{
	switch (b) {
	case SL_KTLS_BY_NONE: return "none";
	case SL_KTLS_BY_OPENSSL: return "openssl";
	case SL_KTLS_BY_SMTPLOCK: return "smtplock";
	}
	return "unknown";
}

/* ------------------------------------------------------------------ */
/* One guarded setter per cipher                                       */

/*
 * Each setter copies the keys into the kernel's struct for its cipher and
 * refuses any length that does not match that struct exactly.  TLS 1.3
 * and TLS 1.2 lay the 12-byte nonce out the same way for the kernel: a
 * 4-byte salt (the fixed part) and an 8-byte iv; in TLS 1.2 the iv is
 * the explicit nonce of the first record we send, which is the record
 * sequence number (RFC 5288 section 3: unique per record is all it needs).
 * ChaCha20-Poly1305 has a 12-byte iv and no salt in both versions.
 */
#define SL_KTLS_FILL_SALTED(ci, k)						\
	do {									\
		if ((k)->key_len != sizeof((ci).key) ||				\
		    (k)->iv_len != ((k)->version == TLS_1_3_VERSION ?		\
				    sizeof((ci).salt) + sizeof((ci).iv) :	\
				    sizeof((ci).salt)))				\
			return -EINVAL;						\
		memcpy((ci).key, (k)->key, sizeof((ci).key));			\
		memcpy((ci).salt, (k)->iv, sizeof((ci).salt));			\
		if ((k)->version == TLS_1_3_VERSION)				\
			memcpy((ci).iv, (k)->iv + sizeof((ci).salt), sizeof((ci).iv)); \
		else								\
			memcpy((ci).iv, (k)->seq, sizeof((ci).iv));		\
		memcpy((ci).rec_seq, (k)->seq, sizeof((ci).rec_seq));		\
	} while (0)

static int sl_ktls_setsockopt(int fd, int dir, void *ci, size_t len)
{
	int r = setsockopt(fd, SOL_TLS, dir, ci, (socklen_t)len) < 0 ? -errno : 0;

	OPENSSL_cleanse(ci, len);
	return r;
}

static int sl_ktls_set_aes_gcm_128(int fd, int dir, const struct sl_ktls_keys *k)
{
	struct tls12_crypto_info_aes_gcm_128 ci = {
		.info = { .version = k->version, .cipher_type = TLS_CIPHER_AES_GCM_128 },
	};

	SL_KTLS_FILL_SALTED(ci, k);
	return sl_ktls_setsockopt(fd, dir, &ci, sizeof(ci));
}

static int sl_ktls_set_aes_gcm_256(int fd, int dir, const struct sl_ktls_keys *k)
{
	struct tls12_crypto_info_aes_gcm_256 ci = {
		.info = { .version = k->version, .cipher_type = TLS_CIPHER_AES_GCM_256 },
	};

	SL_KTLS_FILL_SALTED(ci, k);
	return sl_ktls_setsockopt(fd, dir, &ci, sizeof(ci));
}

static int sl_ktls_set_aes_ccm_128(int fd, int dir, const struct sl_ktls_keys *k)
{
	struct tls12_crypto_info_aes_ccm_128 ci = {
		.info = { .version = k->version, .cipher_type = TLS_CIPHER_AES_CCM_128 },
	};

	SL_KTLS_FILL_SALTED(ci, k);
	return sl_ktls_setsockopt(fd, dir, &ci, sizeof(ci));
}

static int sl_ktls_set_chacha20_poly1305(int fd, int dir, const struct sl_ktls_keys *k)
{
	struct tls12_crypto_info_chacha20_poly1305 ci = {
		.info = { .version = k->version, .cipher_type = TLS_CIPHER_CHACHA20_POLY1305 },
	};

	if (k->key_len != sizeof(ci.key) || k->iv_len != sizeof(ci.iv))
		return -EINVAL;
	memcpy(ci.key, k->key, sizeof(ci.key));
	memcpy(ci.iv, k->iv, sizeof(ci.iv));
	memcpy(ci.rec_seq, k->seq, sizeof(ci.rec_seq));
	return sl_ktls_setsockopt(fd, dir, &ci, sizeof(ci));
}

/* dir: TLS_TX or TLS_RX. */
int sl_ktls_set_keys(int fd, int dir, const struct sl_ktls_keys *k)
{
	if (k->version != TLS_1_2_VERSION && k->version != TLS_1_3_VERSION)
		return -EINVAL;
	switch (k->cipher) {
	case SL_KTLS_AES_GCM_128: return sl_ktls_set_aes_gcm_128(fd, dir, k);
	case SL_KTLS_AES_GCM_256: return sl_ktls_set_aes_gcm_256(fd, dir, k);
	case SL_KTLS_AES_CCM_128: return sl_ktls_set_aes_ccm_128(fd, dir, k);
	case SL_KTLS_CHACHA20_POLY1305: return sl_ktls_set_chacha20_poly1305(fd, dir, k);
	default:
		return -EOPNOTSUPP;	/* never offload what we do not know */
	}
}

/* The kernel's key and nonce sizes per cipher (the setters check them). */
void sl_ktls_cipher_sizes(enum sl_ktls_cipher c, uint16_t version, size_t *key_len,
			  size_t *iv_len)
{
	*key_len = c == SL_KTLS_AES_GCM_128 || c == SL_KTLS_AES_CCM_128 ? 16 : 32;
	if (c == SL_KTLS_CHACHA20_POLY1305 || version == TLS_1_3_VERSION)
		*iv_len = 12;
	else
		*iv_len = 4;
}

/* ------------------------------------------------------------------ */
/* Probe                                                               */

static int sl_ktls_ulp(int fd)
{
	static const char tls[] = "tls";

	return setsockopt(fd, SOL_TCP, TCP_ULP, tls, sizeof(tls)) < 0 ? -errno : 0;
}

/* Is the "tls" ULP attached to fd already (by OpenSSL)? */
static bool sl_ktls_has_ulp(int fd)
{
	char name[16] = "";
	socklen_t len = sizeof(name);

	if (getsockopt(fd, SOL_TCP, TCP_ULP, name, &len) < 0)
		return false;
	return strcmp(name, "tls") == 0;
}

/* A connected loopback TCP pair: fds[0] connected, fds[1] accepted (kept
 * open: TCP_ULP wants an established socket, not one the peer closed). */
static int sl_ktls_probe_pair(int lfd, const struct sockaddr_in *sa, int fds[2])
{
	int r;

	fds[1] = -1;
	fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fds[0] < 0)
		return -errno;
	if (connect(fds[0], (const struct sockaddr *)sa, sizeof(*sa)) < 0)
		goto fail;
	fds[1] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fds[1] < 0)
		goto fail;
	return 0;
fail:
	r = -errno;
	close(fds[0]);
	return r;
}

int sl_ktls_probe(struct sl_ktls_caps *caps)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t salen = sizeof(sa);
	static const uint16_t versions[2] = { TLS_1_2_VERSION, TLS_1_3_VERSION };
	int lfd, fds[2], fd, r;

	memset(caps, 0, sizeof(*caps));
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		return caps->err = -errno;
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0) {
		caps->err = -errno;
		goto out;
	}
	for (int v = 0; v < 2; v++) {
		for (int c = 0; c < SL_KTLS_N_CIPHERS; c++) {
			struct sl_ktls_keys k = { .version = versions[v], .cipher = c };

			sl_ktls_cipher_sizes(c, k.version, &k.key_len, &k.iv_len);
			r = sl_ktls_probe_pair(lfd, &sa, fds);
			if (r < 0) {
				caps->err = r;
				goto out;
			}
			fd = fds[0];
			r = sl_ktls_ulp(fd);
			if (r < 0) {
				close(fds[0]);
				close(fds[1]);
				caps->err = r;	/* no "tls" ULP at all */
				goto out;
			}
			if (sl_ktls_set_keys(fd, TLS_TX, &k) == 0) {
				caps->tx[v] |= 1u << c;
				/* Replacing a TLS 1.3 TX key is what a KeyUpdate needs. */
				if (v == SL_KTLS_V13 && c == SL_KTLS_AES_GCM_128 &&
				    sl_ktls_set_keys(fd, TLS_TX, &k) == 0)
					caps->rekey = true;
			}
			if (sl_ktls_set_keys(fd, TLS_RX, &k) == 0)
				caps->rx[v] |= 1u << c;
			close(fds[0]);
			close(fds[1]);
		}
	}
out:
	close(lfd);
	if (caps->err)
		memset(caps->tx, 0, sizeof(caps->tx)), memset(caps->rx, 0, sizeof(caps->rx));
	return caps->err;
}

bool sl_ktls_caps_any(const struct sl_ktls_caps *caps)
{
	return !caps->err && (caps->tx[0] | caps->tx[1]) && (caps->rx[0] | caps->rx[1]);
}

static size_t sl_ktls_mask_str(uint8_t mask, char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (int c = 0; c < SL_KTLS_N_CIPHERS; c++) {
		if (!(mask & (1u << c)))
			continue;
		off += (size_t)snprintf(buf + off, off < len ? len - off : 0, "%s%s",
					off ? "," : "", sl_ktls_cipher_name(c));
	}
	if (!off)
		snprintf(buf, len, "none");
	return off;
}

char *sl_ktls_caps_str(const struct sl_ktls_caps *caps, char *buf, size_t len)
{
	char m[4][80];

	if (caps->err) {
		snprintf(buf, len, "none (TCP_ULP tls: %s)", strerror(-caps->err));
		return buf;
	}
	for (int v = 0; v < 2; v++) {
		if (caps->tx[v] == caps->rx[v]) {	/* the usual case, said once */
			memcpy(m[2 * v], "tx,rx=", 7);
			sl_ktls_mask_str(caps->tx[v], m[2 * v] + 6, sizeof(m[0]) - 6);
			m[2 * v + 1][0] = '\0';
		} else {
			memcpy(m[2 * v], "tx=", 4);
			sl_ktls_mask_str(caps->tx[v], m[2 * v] + 3, sizeof(m[0]) - 3);
			memcpy(m[2 * v + 1], " rx=", 5);
			sl_ktls_mask_str(caps->rx[v], m[2 * v + 1] + 4, sizeof(m[0]) - 4);
		}
	}
	snprintf(buf, len, "tls1.2 %s%s; tls1.3 %s%s; rekey=%s",
		 m[0], m[1], m[2], m[3], caps->rekey ? "yes" : "no");
	return buf;
}

char *sl_ktls_info_str(const struct sl_ktls_info *info, char *buf, size_t len)
{
	snprintf(buf, len, "%s %s tx=%s rx=%s",
		 info->version == TLS1_3_VERSION ? "TLSv1.3" :
		 info->version == TLS1_2_VERSION ? "TLSv1.2" : "TLS?",
		 sl_ktls_cipher_name(info->cipher), sl_ktls_by_name(info->tx),
		 sl_ktls_by_name(info->rx));
	return buf;
}

/* ------------------------------------------------------------------ */
/* The switch                                                          */

/* The kTLS cipher of a negotiated suite; -EOPNOTSUPP for anything else
 * (CBC suites, CCM_8 with its short tag, …). */
static int sl_ktls_cipher_of(const SSL_CIPHER *c, enum sl_ktls_cipher *ret)
{
	const char *name = SSL_CIPHER_get_name(c);

	if (strstr(name, "CCM8") || strstr(name, "CCM_8"))
		return -EOPNOTSUPP;
	switch (SSL_CIPHER_get_cipher_nid(c)) {
	case NID_aes_128_gcm: *ret = SL_KTLS_AES_GCM_128; return 0;
	case NID_aes_256_gcm: *ret = SL_KTLS_AES_GCM_256; return 0;
	case NID_chacha20_poly1305: *ret = SL_KTLS_CHACHA20_POLY1305; return 0;
	case NID_aes_128_ccm: *ret = SL_KTLS_AES_CCM_128; return 0;
	default:
		return -EOPNOTSUPP;
	}
}

int sl_ktls_offloadable(SSL *ssl, const struct sl_ktls_caps *caps, struct sl_ktls_info *info,
			char *why, size_t len)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);
	int version = SSL_version(ssl), v;
	struct sl_ktls_info in = { .version = (uint16_t)version };

	if (caps->err) {
		if (why)
			snprintf(why, len, "kernel has no TLS (%s)", strerror(-caps->err));
		return -EOPNOTSUPP;
	}
	if (version != TLS1_2_VERSION && version != TLS1_3_VERSION) {
		if (why)
			snprintf(why, len, "%s cannot be offloaded", SSL_get_version(ssl));
		return -EOPNOTSUPP;
	}
	if (!c || sl_ktls_cipher_of(c, &in.cipher) < 0) {
		if (why)
			snprintf(why, len, "cipher %s cannot be offloaded",
				 c ? SSL_CIPHER_get_name(c) : "(none)");
		return -EOPNOTSUPP;
	}
	v = version == TLS1_3_VERSION ? SL_KTLS_V13 : SL_KTLS_V12;
	if (!(caps->tx[v] & caps->rx[v] & (1u << in.cipher))) {
		if (why)
			snprintf(why, len, "kernel offers no %s %s for both directions",
				 SSL_get_version(ssl), sl_ktls_cipher_name(in.cipher));
		return -EOPNOTSUPP;
	}
	if (info)
		*info = in;
	return 0;
}

int sl_ktls_handoff(SSL *ssl, struct sl_ktls_track *t, const struct sl_ktls_caps *caps,
		    size_t app_buffered, struct sl_ktls_info *info)
{
	struct sl_ktls_info in;
	struct sl_ktls_keys rx = { 0 }, tx = { 0 };
	bool ossl_tx, ossl_rx, rx_installed = false;
	int fd, r;

	if (!SSL_is_init_finished(ssl))
		return -EBUSY;
	fd = SSL_get_fd(ssl);
	if (fd < 0)
		return -EBADF;		/* not a socket BIO */
	r = sl_ktls_offloadable(ssl, caps, &in, NULL, 0);
	if (r < 0)
		return r;
	/* Nothing lost, nothing reordered: every byte OpenSSL took from the
	 * socket has been delivered and the caller passed all of it on. */
	if (app_buffered || SSL_has_pending(ssl))
		return -EBUSY;
	ossl_tx = BIO_get_ktls_send(SSL_get_wbio(ssl));
	ossl_rx = BIO_get_ktls_recv(SSL_get_rbio(ssl));
	in.tx = ossl_tx ? SL_KTLS_BY_OPENSSL : SL_KTLS_BY_SMTPLOCK;
	in.rx = ossl_rx ? SL_KTLS_BY_OPENSSL : SL_KTLS_BY_SMTPLOCK;

	if (!ossl_rx) {
		r = sl_ktls_derive(ssl, t, in.cipher, false, &rx);
		if (r < 0)
			goto out;
	}
	if (!ossl_tx) {
		r = sl_ktls_derive(ssl, t, in.cipher, true, &tx);
		if (r < 0)
			goto out;
	}
	if ((!ossl_rx || !ossl_tx) && !sl_ktls_has_ulp(fd)) {
		r = sl_ktls_ulp(fd);
		if (r < 0)
			goto out;	/* nothing attached: still plain TCP */
	}
	/*
	 * RX first: until it is set, OpenSSL still owns a working session.
	 * A failure here leaves the ULP with no keys, which passes bytes
	 * through untouched, so userspace TLS goes on.
	 */
	if (!ossl_rx) {
		r = sl_ktls_set_keys(fd, TLS_RX, &rx);
		if (r < 0)
			goto out;
		rx_installed = true;
	}
	if (!ossl_tx) {
		r = sl_ktls_set_keys(fd, TLS_TX, &tx);
		if (r < 0) {
			/* OpenSSL does not know our RX keys are in the kernel:
			 * its next read would parse plaintext as records. */
			if (rx_installed)
				r = -ENOTRECOVERABLE;
			goto out;
		}
	}
	if (info)
		*info = in;
	sl_ktls_track_unbind(ssl);
	sl_ktls_track_done(t);
	r = 0;
out:
	OPENSSL_cleanse(&rx, sizeof(rx));
	OPENSSL_cleanse(&tx, sizeof(tx));
	return r;
}

unsigned sl_ktls_active(int fd)
{
	/* Asking for the header only returns version and cipher, not keys. */
	struct tls_crypto_info ci;
	unsigned dirs = 0;
	socklen_t len;

	len = sizeof(ci);
	if (getsockopt(fd, SOL_TLS, TLS_TX, &ci, &len) == 0 && ci.cipher_type)
		dirs |= SL_KTLS_DIR_TX;
	len = sizeof(ci);
	if (getsockopt(fd, SOL_TLS, TLS_RX, &ci, &len) == 0 && ci.cipher_type)
		dirs |= SL_KTLS_DIR_RX;
	return dirs;
}

/* ------------------------------------------------------------------ */
/* After the switch                                                    */

/* A handshake record after the switch: tickets are skipped, anything
 * else ends the read side. */
static int sl_ktls_handshake_record(const uint8_t *p, size_t n, struct sl_ktls_rec *rec)
{
	size_t off = 0;

	if (!n)
		return -EPROTO;
	while (off < n) {
		size_t mlen;

		if (n - off < 4)
			return -EPROTO;
		mlen = (size_t)p[off + 1] << 16 | (size_t)p[off + 2] << 8 | p[off + 3];
		if (n - off - 4 < mlen)
			return -EPROTO;	/* split over records: not from a sane peer */
		rec->hs_type = p[off];
		switch (p[off]) {
		case SL_TLS_HS_NEW_SESSION_TICKET:
			rec->tickets++;
			break;
		case SL_TLS_HS_KEY_UPDATE:
			/* The records after this one use keys the kernel
			 * does not have: stop here, before any of them. */
			return -EKEYEXPIRED;
		default:
			return -EPROTO;
		}
		off += 4 + mlen;
	}
	return 0;
}

ssize_t sl_ktls_recv(int fd, void *buf, size_t len, int flags, struct sl_ktls_rec *rec)
{
	struct sl_ktls_rec dummy = { 0 };

	if (len < SL_KTLS_RECORD_MAX)
		return -EINVAL;
	if (!rec)
		rec = &dummy;
	for (;;) {
		union {
			char buf[CMSG_SPACE(sizeof(unsigned char))];
			struct cmsghdr align;
		} cbuf;
		struct iovec iov = { .iov_base = buf, .iov_len = len };
		struct msghdr m = {
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
		};
		struct cmsghdr *cm;
		int type = 0, r;
		ssize_t n;

		n = recvmsg(fd, &m, flags);
		if (n < 0)
			return -errno;
		for (cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm))
			if (cm->cmsg_level == SOL_TLS && cm->cmsg_type == TLS_GET_RECORD_TYPE)
				type = *CMSG_DATA(cm);
		if (type == 0)
			return n ? -EPROTO : 0;	/* 0 without a record: TCP FIN */
		if (type == SL_TLS_CT_DATA) {
			if (n > 0)
				return n;
			continue;		/* an empty data record */
		}
		rec->type = (uint8_t)type;
		rec->hs_type = rec->alert_level = rec->alert_desc = 0;
		switch (type) {
		case SL_TLS_CT_ALERT:
			if (n != 2)
				return -EPROTO;
			rec->alert_level = ((uint8_t *)buf)[0];
			rec->alert_desc = ((uint8_t *)buf)[1];
			if (rec->alert_desc == 0)
				return 0;	/* close_notify */
			if (rec->alert_desc == 90 && rec->alert_level == 1)
				continue;	/* user_canceled: a close_notify follows */
			return -ECONNRESET;
		case SL_TLS_CT_HANDSHAKE:
			r = sl_ktls_handshake_record(buf, (size_t)n, rec);
			if (r < 0)
				return r;
			continue;
		default:
			return -EPROTO;
		}
	}
}

int sl_ktls_send_alert(int fd, uint8_t level, uint8_t desc)
{
	union {
		char buf[CMSG_SPACE(sizeof(unsigned char))];
		struct cmsghdr align;
	} cbuf;
	uint8_t alert[2] = { level, desc };
	struct iovec iov = { .iov_base = alert, .iov_len = sizeof(alert) };
	struct msghdr m = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	ssize_t n;

	/* On a socket without kTLS TX, TCP would ignore the cmsg and send
	 * the alert's two bytes in the clear. */
	if (!(sl_ktls_active(fd) & SL_KTLS_DIR_TX))
		return -ENOTCONN;
	cm->cmsg_level = SOL_TLS;
	cm->cmsg_type = TLS_SET_RECORD_TYPE;
	cm->cmsg_len = CMSG_LEN(sizeof(unsigned char));
	*CMSG_DATA(cm) = SL_TLS_CT_ALERT;
	n = sendmsg(fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(alert) ? 0 : -EIO;
}

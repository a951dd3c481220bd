// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_ktls.c — what of lib/ktls can be checked on any kernel: the probe
 * is consistent with itself, capabilities and handoffs read right in
 * logs, unknown ciphers and sockets without kTLS fail closed.  The
 * handoff itself runs in the VM suite (tests/vm/test_ktls.c).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/tls.h>

#include "ktls.h"
#include "ktls_int.h"
#include "tap.h"

static int tcp_pair(int fds[2])
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r = -1;

	if (bind(l, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(l, 1) == 0 &&
	    getsockname(l, (struct sockaddr *)&sa, &len) == 0) {
		fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (connect(fds[0], (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			fds[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
			r = fds[1] >= 0 ? 0 : -1;
		}
	}
	close(l);
	return r;
}

#define ALL 0xf		/* every enum sl_ktls_cipher */

static const struct {
	const char *name;
	struct sl_ktls_caps caps;
	const char *want;
	bool any;
} caps_cases[] = {
	{ "no tls ULP", { .err = -ENOENT },
	  "none (TCP_ULP tls: No such file or directory)", false },
	{ "no loopback", { .err = -ENETUNREACH },
	  "none (TCP_ULP tls: Network is unreachable)", false },
	{ "everything", { .tx = { ALL, ALL }, .rx = { ALL, ALL } },
	  "tls1.2 tx,rx=aes-gcm-128,aes-gcm-256,chacha20-poly1305,aes-ccm-128; "
	  "tls1.3 tx,rx=aes-gcm-128,aes-gcm-256,chacha20-poly1305,aes-ccm-128; rekey=no", true },
	{ "TX only for 1.3, rekey", { .tx = { 1, 3 }, .rx = { 1, 0 }, .rekey = true },
	  "tls1.2 tx,rx=aes-gcm-128; tls1.3 tx=aes-gcm-128,aes-gcm-256 rx=none; rekey=yes", true },
	{ "TX only", { .tx = { 1, 1 } },
	  "tls1.2 tx=aes-gcm-128 rx=none; tls1.3 tx=aes-gcm-128 rx=none; rekey=no", false },
};

static void t_caps_str(void)
{
	char buf[SL_KTLS_CAPS_STR];

	for (size_t i = 0; i < TAP_NELEM(caps_cases); i++) {
		tap_str(sl_ktls_caps_str(&caps_cases[i].caps, buf, sizeof(buf)), caps_cases[i].want,
			"caps string: %s", caps_cases[i].name);
		tap_int(sl_ktls_caps_any(&caps_cases[i].caps), caps_cases[i].any,
			"caps any: %s", caps_cases[i].name);
	}
}

static void t_names(void)
{
	static const struct sl_ktls_info info[] = {
		{ TLS1_3_VERSION, SL_KTLS_AES_GCM_128, SL_KTLS_BY_OPENSSL, SL_KTLS_BY_SMTPLOCK },
		{ TLS1_2_VERSION, SL_KTLS_CHACHA20_POLY1305, SL_KTLS_BY_OPENSSL, SL_KTLS_BY_OPENSSL },
	};
	static const char *const want[] = {
		"TLSv1.3 aes-gcm-128 tx=openssl rx=smtplock",
		"TLSv1.2 chacha20-poly1305 tx=openssl rx=openssl",
	};
	char buf[96];

	for (size_t i = 0; i < TAP_NELEM(info); i++)
		tap_str(sl_ktls_info_str(&info[i], buf, sizeof(buf)), want[i], "info string %zu", i);
	tap_str(sl_ktls_cipher_name(SL_KTLS_AES_CCM_128), "aes-ccm-128", "cipher name");
	tap_str(sl_ktls_cipher_name(SL_KTLS_N_CIPHERS), "unknown", "cipher name out of range");
	tap_str(sl_ktls_name(SL_KTLS_PREFERRED), "preferred", "mode preferred");
	tap_str(sl_ktls_name(SL_KTLS_REQUIRED), "required", "mode required");
	tap_str(sl_ktls_name(SL_KTLS_OFF), "off", "mode off");
}

/* Whatever the kernel: the probe's answer is consistent. */
static void t_probe(void)
{
	struct sl_ktls_caps caps;
	char buf[SL_KTLS_CAPS_STR];
	int r = sl_ktls_probe(&caps);

	tap_int(r, caps.err, "probe returns caps.err");
	if (r) {
		tap_ok(!caps.tx[0] && !caps.tx[1] && !caps.rx[0] && !caps.rx[1] && !caps.rekey,
		       "probe: no kTLS, so nothing is offered");
		tap_ok(strncmp(sl_ktls_caps_str(&caps, buf, sizeof(buf)), "none (", 6) == 0,
		       "probe: no kTLS, in words: %s", buf);
	} else {
		tap_ok(sl_ktls_caps_any(&caps), "probe: kTLS offers something");
		tap_ok(strncmp(sl_ktls_caps_str(&caps, buf, sizeof(buf)), "tls1.2 ", 7) == 0,
		       "probe: in words: %s", buf);
	}
}

/* The setters' guard: unknown cipher, unknown version, wrong sizes. */
static void t_setters(void)
{
	struct sl_ktls_keys k = { .version = TLS_1_3_VERSION, .cipher = SL_KTLS_AES_GCM_128,
				  .key_len = 16, .iv_len = 12 };
	int fds[2];

	if (!tap_ok(tcp_pair(fds) == 0, "setters: socket pair"))
		return;
	k.cipher = SL_KTLS_N_CIPHERS;
	tap_int(sl_ktls_set_keys(fds[0], TLS_TX, &k), -EOPNOTSUPP, "setter: unknown cipher refused");
	k.cipher = SL_KTLS_AES_GCM_128;
	k.version = 0x0302;
	tap_int(sl_ktls_set_keys(fds[0], TLS_TX, &k), -EINVAL, "setter: TLS 1.1 refused");
	k.version = TLS_1_3_VERSION;
	k.key_len = 32;
	tap_int(sl_ktls_set_keys(fds[0], TLS_TX, &k), -EINVAL, "setter: 32-byte key for GCM-128 refused");
	k.key_len = 16;
	k.iv_len = 4;
	tap_int(sl_ktls_set_keys(fds[0], TLS_TX, &k), -EINVAL, "setter: 4-byte TLS 1.3 nonce refused");
	k.cipher = SL_KTLS_CHACHA20_POLY1305;
	k.key_len = 32;
	k.iv_len = 4;
	tap_int(sl_ktls_set_keys(fds[0], TLS_TX, &k), -EINVAL, "setter: short ChaCha20 nonce refused");
	close(fds[0]);
	close(fds[1]);
}

static void t_sizes(void)
{
	static const struct {
		enum sl_ktls_cipher c;
		uint16_t v;
		size_t key, iv;
	} cases[] = {
		{ SL_KTLS_AES_GCM_128, TLS_1_2_VERSION, 16, 4 },
		{ SL_KTLS_AES_GCM_128, TLS_1_3_VERSION, 16, 12 },
		{ SL_KTLS_AES_GCM_256, TLS_1_2_VERSION, 32, 4 },
		{ SL_KTLS_AES_CCM_128, TLS_1_2_VERSION, 16, 4 },
		{ SL_KTLS_CHACHA20_POLY1305, TLS_1_2_VERSION, 32, 12 },
		{ SL_KTLS_CHACHA20_POLY1305, TLS_1_3_VERSION, 32, 12 },
	};

	for (size_t i = 0; i < TAP_NELEM(cases); i++) {
		size_t key, iv;

		sl_ktls_cipher_sizes(cases[i].c, cases[i].v, &key, &iv);
		tap_ok(key == cases[i].key && iv == cases[i].iv, "sizes: %s %s: key %zu, nonce %zu",
		       sl_ktls_cipher_name(cases[i].c), cases[i].v == TLS_1_3_VERSION ? "1.3" : "1.2",
		       key, iv);
	}
}

/* A socket without kTLS: nothing comes out as data, nothing goes out. */
static void t_no_ktls_socket(void)
{
	char buf[SL_KTLS_RECORD_MAX], peek[8];
	struct sl_ktls_rec rec = { 0 };
	int fds[2];

	if (!tap_ok(tcp_pair(fds) == 0, "plain socket: pair"))
		return;
	tap_int(sl_ktls_recv(fds[1], buf, 100, 0, &rec), -EINVAL,
		"recv: a buffer smaller than a record is refused");
	tap_ok(write(fds[0], "250 ok\r\n", 8) == 8, "plain socket: plaintext written");
	tap_int(sl_ktls_recv(fds[1], buf, sizeof(buf), 0, &rec), -EPROTO,
		"recv: bytes without a TLS record type are not data");
	shutdown(fds[0], SHUT_WR);
	tap_int(sl_ktls_recv(fds[1], buf, sizeof(buf), 0, NULL), 0, "recv: TCP FIN is the end");
	tap_int(sl_ktls_active(fds[0]), 0, "active: none on a plain socket");
	tap_int(sl_ktls_send_close_notify(fds[1]), -ENOTCONN,
		"close_notify on a socket without kTLS TX is refused");
	tap_ok(recv(fds[0], peek, sizeof(peek), MSG_DONTWAIT) < 0 && errno == EAGAIN,
	       "… and not one byte was sent in the clear");
	close(fds[0]);
	close(fds[1]);
}

int main(void)
{
	t_caps_str();
	t_names();
	t_probe();
	t_setters();
	t_sizes();
	t_no_ktls_socket();
	return tap_done();
}

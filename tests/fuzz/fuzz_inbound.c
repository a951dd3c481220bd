/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * fuzz_inbound.c — a whole inbound session (lib/inbound) driven by a
 * fuzzed partner, over a socketpair.
 *
 * The partner's bytes arrive (then EOF) on the session's connection; the
 * loop runs until the session reports done.  Fuzzed bytes cannot make a
 * TLS handshake, so what this reaches is everything a partner can do
 * before TLS: EHLO/HELO, STARTTLS (with and without bytes pipelined after
 * it), AUTH and mail commands before TLS, NOOP/RSET/VRFY/QUIT, unknown
 * verbs, over-long and bare-LF lines — and the TLS server's reaction to a
 * ClientHello that is not one.
 *
 * Input: byte 0 = flags (bit 0: require client_cert instead of auth;
 * bit 1: announce xclient instead of proxy-v2), then the partner's bytes.
 *
 * Checked, beyond ASan/UBSan/LSan: done() exactly once; the backend (a
 * listener of ours) is never connected to — nobody is admitted without
 * TLS; the partner hears only whole CRLF lines of printable ASCII with
 * reply codes (until a 220 to STARTTLS, after which TLS records may
 * follow), never a 2xx to MAIL, RCPT, DATA or AUTH, and no bytes are
 * accepted across STARTTLS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "inbound.h"
#include "loop.h"
#include "tls.h"

#define CHECK(x) do { if (!(x)) abort(); } while (0)

static struct sl_loop *loop;
static int bfd = -1;			/* the backend: must never see a connection */
static struct sockaddr_storage backend;
static socklen_t backend_len;
static struct sl_tls_ctx *ctx_auth, *ctx_cert;
static struct sl_partner p_auth, p_cert;
static struct sl_account account = { "NTSOL", "$6$saltsalt$qFmFH.bQmmtXzyBY0s9v7Oicd2z4XSIecDzlB5KiA2/jctKu9YterLp8wwnSq.qc.eoxqOmSuNp2xS0ktL3nh/" };
static int done_calls;

/* A self-signed EC certificate for the server side, in files. */
static void make_cert(const char *cert, const char *key)
{
	EVP_PKEY *pk = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	FILE *f;

	CHECK(pk && x);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), 0);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_set_pubkey(x, pk);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
				   (const unsigned char *)"mx.us.test", -1, -1, 0);
	X509_set_issuer_name(x, X509_get_subject_name(x));
	CHECK(X509_sign(x, pk, EVP_sha256()) > 0);
	CHECK((f = fopen(cert, "w")) && PEM_write_X509(f, x) == 1);
	fclose(f);
	CHECK((f = fopen(key, "w")) && PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL) == 1);
	fclose(f);
	X509_free(x);
	EVP_PKEY_free(pk);
}

static void done(void *arg, struct sl_inbound *s)
{
	(void)arg;
	CHECK(sl_inbound_result(s)->result);
	done_calls++;
	sl_loop_stop(loop);
}

static void stop_now(struct sl_loop *l, void *arg)
{
	(void)arg;
	sl_loop_stop(l);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct sockaddr_in *b = (struct sockaddr_in *)&backend;
	char dir[64], cert[96], key[96], reason[SL_TLS_REASON_MAX];

	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	CHECK(sl_loop_new(1, &loop) == 0);
	bfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	*b = (struct sockaddr_in){ .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	backend_len = sizeof(*b);
	CHECK(bfd >= 0 && bind(bfd, (struct sockaddr *)b, sizeof(*b)) == 0 && listen(bfd, 4) == 0);
	CHECK(getsockname(bfd, (struct sockaddr *)b, &backend_len) == 0);

	snprintf(dir, sizeof(dir), "/tmp/sl-fuzz-inbound.%d", (int)getpid());
	CHECK(mkdir(dir, 0700) == 0 || errno == EEXIST);
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	make_cert(cert, key);

	p_auth = (struct sl_partner){ .domain = "ntsol.test", .direction = SL_DIR_INBOUND,
				      .has_inbound = true };
	p_auth.tls.ktls = SL_KTLS_OFF;
	p_auth.inbound = (struct sl_inbound_policy){ .require = SL_REQUIRE_TLS | SL_REQUIRE_AUTH,
		.min_version = SL_TLS_1_2, .accounts = &account, .n_accounts = 1 };
	p_cert = p_auth;
	p_cert.inbound.require = SL_REQUIRE_TLS | SL_REQUIRE_CLIENT_CERT;
	p_cert.inbound.accounts = NULL;
	p_cert.inbound.n_accounts = 0;
	p_cert.inbound.client_ca_file = cert;
	CHECK(sl_tls_server_ctx_new(cert, key, &p_auth.inbound, false, &ctx_auth, reason,
				    sizeof(reason)) == 0);
	CHECK(sl_tls_server_ctx_new(cert, key, &p_cert.inbound, false, &ctx_cert, reason,
				    sizeof(reason)) == 0);
	unlink(cert);
	unlink(key);
	rmdir(dir);
	return 0;
}

static void check_replies(const char *b, size_t n)
{
	size_t i = 0;

	while (i < n) {
		const char *nl = memchr(b + i, '\n', n - i);
		size_t len;

		if (!nl) {
			/* after the 220 to STARTTLS: TLS records (an alert) */
			CHECK(i >= 6 && (uint8_t)b[i] >= 20 && (uint8_t)b[i] <= 23);
			return;
		}
		len = (size_t)(nl - (b + i)) + 1;
		if ((uint8_t)b[i] >= 20 && (uint8_t)b[i] <= 23 && i > 0)
			return;		/* TLS records after the 220 */
		CHECK(len >= 6 && len <= 512 && b[i + len - 2] == '\r');
		CHECK(b[i] >= '2' && b[i] <= '5' && (b[i + 3] == ' ' || b[i + 3] == '-'));
		for (size_t k = i; k < i + len - 2; k++)
			CHECK(b[k] >= 0x20 && b[k] < 0x7f);
		/* Mail and AUTH are never accepted before TLS: no 235, and
		 * the only 2xx are the banner, EHLO/HELO, NOOP/RSET, VRFY's
		 * 252, QUIT's 221 and the 220 to STARTTLS. */
		CHECK(memcmp(b + i, "235", 3) != 0 && memcmp(b + i, "354", 3) != 0);
		i += len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[1 << 16];
	struct sl_inbound_env env = {
		.loop = loop, .hostname = "mx.us.test", .timeout_ms = 300,
		.backend = &backend, .backend_len = backend_len,
		.max_auth_failures = 3, .auth_fail_delay_ms = 1, .done = done,
	};
	struct sl_inbound_params prm = { .id = 1, .policy_id = 3 };
	struct sockaddr_in *peer = (struct sockaddr_in *)&prm.peer;
	struct sl_inbound *s = NULL;
	struct sl_timer now;
	struct pollfd pfd = { .fd = bfd, .events = POLLIN };
	size_t n = 0;
	int sv[2], r;

	if (size < 1)
		return 0;
	env.announce = data[0] & 2 ? SL_ANNOUNCE_XCLIENT : SL_ANNOUNCE_PROXY_V2;
	prm.partner = data[0] & 1 ? &p_cert : &p_auth;
	prm.tls = data[0] & 1 ? ctx_cert : ctx_auth;
	data++;
	size--;
	*peer = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(40000),
				      .sin_addr.s_addr = htonl(0xc6336407) };
	memcpy(&prm.local, &backend, sizeof(backend));
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	CHECK(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0);
	prm.fd = sv[0];
	done_calls = 0;
	r = sl_inbound_start(&env, &prm, &s);
	if (r < 0) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	while (size) {
		ssize_t w = send(sv[1], data, size, MSG_NOSIGNAL);

		if (w <= 0)
			break;
		data += w;
		size -= (size_t)w;
	}
	shutdown(sv[1], SHUT_WR);
	sl_timer_init(&now, stop_now, NULL);
	if (done_calls)
		sl_timer_arm(loop, &now, 0);
	CHECK(sl_loop_run(loop) == 0);
	sl_timer_cancel(loop, &now);
	CHECK(done_calls == 1);
	/* Nobody was admitted: the backend never heard of this session. */
	CHECK(poll(&pfd, 1, 0) == 0);
	for (;;) {
		ssize_t k = recv(sv[1], out + n, sizeof(out) - n, MSG_DONTWAIT);

		if (k <= 0 || (n += (size_t)k) == sizeof(out))
			break;
	}
	check_replies(out, n);
	close(sv[1]);
	ERR_clear_error();
	return 0;
}

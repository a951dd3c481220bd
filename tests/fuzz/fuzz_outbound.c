/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * fuzz_outbound.c — a whole outbound session (lib/outbound) driven by
 * fuzzed partner bytes, over real sockets.
 *
 * The session connects to a loopback listener of ours that plays the
 * partner with the input's bytes (then EOF); the MTA side is a socketpair
 * fed with the input's other bytes (then EOF).  The loop runs until the
 * session reports done.
 *
 * Input: byte 0 = flags (bit 0 mode testing, bit 1 on_failure reject,
 * bit 2 partner without auth, bit 3 a probe: no MTA, bit 4 tagging
 * fails); bytes 1-2 = length of the partner's part (little endian), then
 * the partner's bytes, then the MTA's.
 *
 * Checked, beyond ASan/UBSan/LSan: done() exactly once; in enforce mode —
 * where no TLS session can come of fuzzed bytes — the partner receives
 * nothing but our EHLO and STARTTLS lines (and a QUIT) followed by TLS
 * records: no MTA byte, no AUTH, never a line in the clear after
 * STARTTLS; the MTA hears only whole CRLF lines of printable ASCII with
 * a reply code, and in enforce mode a 421 (or, with on_failure reject,
 * the 220 and 554s of the rejecting server; 421 still for network
 * failures), never the partner's greeting.
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
#include <unistd.h>

#include <openssl/err.h>

#include "loop.h"
#include "outbound.h"
#include "tls.h"

#define CHECK(x) do { if (!(x)) abort(); } while (0)

static struct sl_loop *loop;
static int lfd = -1;
static struct sockaddr_in laddr;
static struct sl_tls_ctx *ctx_enforce, *ctx_testing;
static struct sl_partner partner;
static int done_calls;
static bool tag_fails;

static int tag(void *arg, int fd, enum sl_sock_tag t, uint32_t id)
{
	(void)arg;
	(void)fd;
	(void)t;
	(void)id;
	return tag_fails ? -EPERM : 0;
}

/* A session may end inside sl_outbound_start (a socket it cannot make
 * or tag): the loop then only has its deferred free to run. */
static void stop_now(struct sl_loop *l, void *arg)
{
	(void)arg;
	sl_loop_stop(l);
}

static void done(void *arg, struct sl_outbound *s)
{
	const struct sl_outbound_result *r = sl_outbound_result(s);

	(void)arg;
	CHECK(r->result);
	done_calls++;
	sl_loop_stop(loop);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	socklen_t len = sizeof(laddr);
	char reason[SL_TLS_REASON_MAX];

	(void)argc;
	(void)argv;
	signal(SIGPIPE, SIG_IGN);
	CHECK(sl_loop_new(0, &loop) == 0);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	laddr = (struct sockaddr_in){ .sin_family = AF_INET,
				      .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	CHECK(lfd >= 0 && bind(lfd, (struct sockaddr *)&laddr, sizeof(laddr)) == 0);
	CHECK(listen(lfd, 16) == 0 && getsockname(lfd, (struct sockaddr *)&laddr, &len) == 0);
	partner = (struct sl_partner){ .domain = "partner.test", .has_auth = true };
	partner.tls = (struct sl_tls_policy){ .min_version = SL_TLS_1_2, .verify = SL_VERIFY_NONE,
					      .ktls = SL_KTLS_OFF };
	partner.auth = (struct sl_auth_policy){ .username = "doug", .n_mechanisms = 3,
		.mechanisms = { SL_SASL_SCRAM_SHA_256, SL_SASL_PLAIN, SL_SASL_LOGIN } };
	CHECK(sl_tls_client_ctx_new(&partner.tls, 0, &ctx_enforce, reason, sizeof(reason)) == 0);
	CHECK(sl_tls_client_ctx_new(&partner.tls, SL_TLS_F_LENIENT, &ctx_testing, reason,
				    sizeof(reason)) == 0);
	return 0;
}

static size_t drain(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	for (;;) {
		ssize_t r = recv(fd, buf + n, cap - n, MSG_DONTWAIT);

		if (r <= 0)
			break;
		n += (size_t)r;
		if (n == cap)
			break;
	}
	return n;
}

static void write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return;		/* the session went away: fine */
		p += w;
		n -= (size_t)w;
	}
}

/* Enforce mode: what the partner got is EHLO/STARTTLS/QUIT lines, then
 * (after STARTTLS) TLS records only. */
static void check_partner_wire(const char *b, size_t n)
{
	size_t i = 0;
	bool starttls = false;

	while (i < n && !starttls) {
		const char *nl = memchr(b + i, '\n', n - i);
		size_t len;

		CHECK(nl);	/* we only ever send whole lines */
		len = (size_t)(nl - (b + i)) + 1;
		if (len >= 5 && !memcmp(b + i, "EHLO ", 5))
			;
		else if (len == 10 && !memcmp(b + i, "STARTTLS\r\n", 10))
			starttls = true;
		else if (len == 6 && !memcmp(b + i, "QUIT\r\n", 6))
			;
		else
			abort();	/* anything else in the clear: a leak */
		i += len;
	}
	while (i < n) {
		size_t rec;

		/* a TLS record: type 20-23, version 3.x */
		CHECK(n - i >= 1 && (uint8_t)b[i] >= 20 && (uint8_t)b[i] <= 23);
		if (n - i < 5)
			break;
		CHECK((uint8_t)b[i + 1] == 3);
		rec = 5 + (((size_t)(uint8_t)b[i + 3] << 8) | (uint8_t)b[i + 4]);
		i += rec;
	}
}

static void check_mta(const char *b, size_t n, bool enforce, bool reject)
{
	size_t i = 0;

	while (i < n) {
		const char *nl = memchr(b + i, '\n', n - i);
		size_t len;

		CHECK(nl);
		len = (size_t)(nl - (b + i)) + 1;
		CHECK(len >= 6 && len <= 512 && b[i + len - 2] == '\r');
		CHECK(b[i] >= '2' && b[i] <= '5' && b[i + 1] >= '0' && b[i + 1] <= '9' &&
		      b[i + 2] >= '0' && b[i + 2] <= '9' && (b[i + 3] == ' ' || b[i + 3] == '-'));
		for (size_t k = i; k < i + len - 2; k++)
			CHECK(b[k] >= 0x20 && b[k] < 0x7f);
		/* a network failure is a 421 even with on_failure: reject */
		if (enforce && i == 0)
			CHECK(!memcmp(b, "421 ", 4) || (reject && !memcmp(b, "220 ", 4)));
		if (enforce && i > 0)
			CHECK(!memcmp(b + i, "250", 3) || !memcmp(b + i, "221", 3) ||
			      !memcmp(b + i, "554", 3) || !memcmp(b + i, "500", 3));
		i += len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char pbuf[1 << 16], mbuf[1 << 16];
	struct sl_outbound_env env = {
		.loop = loop, .hostname = "us.example.org", .timeout_ms = 300,
		.connect_timeout_ms = 300, .tag = tag, .done = done,
	};
	struct sl_outbound_params prm = { .id = 1, .mx = "mx1.partner.test",
					  .password = "secret", .policy_id = 7 };
	struct sl_outbound *s = NULL;
	struct sl_timer now;
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	bool testing, reject, probe;
	size_t plen, pn = 0, mn = 0;
	int sv[2] = { -1, -1 }, afd = -1, r;

	if (size < 3)
		return 0;
	testing = data[0] & 1;
	reject = data[0] & 2;
	probe = data[0] & 8;
	tag_fails = data[0] & 16;
	partner.mode = testing ? SL_MODE_TESTING : SL_MODE_ENFORCE;
	partner.on_failure = reject ? SL_FAIL_REJECT : SL_FAIL_DEFER;
	partner.has_auth = !(data[0] & 4);
	plen = (size_t)data[1] | (size_t)data[2] << 8;
	data += 3;
	size -= 3;
	if (plen > size)
		plen = size;

	if (!probe) {
		CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
		CHECK(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0);
	}
	prm.mta_fd = probe ? -1 : sv[0];
	prm.partner = &partner;
	prm.tls = testing ? ctx_testing : ctx_enforce;
	memcpy(&prm.dst, &laddr, sizeof(laddr));
	prm.dst_len = sizeof(laddr);
	done_calls = 0;
	r = sl_outbound_start(&env, &prm, &s);
	if (r < 0) {
		CHECK(done_calls == 0);
		if (sv[0] >= 0)
			close(sv[0]);	/* still ours on failure */
		goto out;
	}
	/* The partner: our listener; a session that failed at once (tagging)
	 * never connects. */
	if (poll(&pfd, 1, tag_fails ? 0 : 1000) == 1) {
		afd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (afd >= 0) {
			write_all(afd, data, plen);
			shutdown(afd, SHUT_WR);
		}
	}
	if (!probe) {
		write_all(sv[1], data + plen, size - plen);
		shutdown(sv[1], SHUT_WR);
	}
	sl_timer_init(&now, stop_now, NULL);
	if (done_calls)
		sl_timer_arm(loop, &now, 0);
	CHECK(sl_loop_run(loop) == 0);
	sl_timer_cancel(loop, &now);
	CHECK(done_calls == 1);
	if (afd >= 0) {
		pn = drain(afd, pbuf, sizeof(pbuf));
		if (!testing)
			check_partner_wire(pbuf, pn);
	}
	if (!probe) {
		mn = drain(sv[1], mbuf, sizeof(mbuf));
		if (getenv("FUZZ_SHOW"))	/* replaying a reproducer by hand */
			fprintf(stderr, "partner got %zu bytes, MTA got:\n%.*s\n", pn, (int)mn, mbuf);
		check_mta(mbuf, mn, !testing, reject);
	}
out:
	if (afd >= 0) {
		struct linger lg = { 1, 0 };	/* RST: no TIME_WAIT pile */

		setsockopt(afd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(afd);
	}
	if (sv[1] >= 0)
		close(sv[1]);
	ERR_clear_error();
	return 0;
}

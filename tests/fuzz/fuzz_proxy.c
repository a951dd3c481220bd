/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * fuzz_proxy.c — PROXY protocol and XCLIENT.
 *
 * Byte 0 even: decode arbitrary bytes; whatever decodes with addresses
 * must re-emit (v1 and v2) and decode again to the same endpoints.
 * Byte 0 odd: endpoints built from the input; emit → decode must agree,
 * byte for byte in length and endpoint for endpoint; and an XCLIENT line
 * with a HELO from the input must be one printable line.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

#define CHECK(x) do { if (!(x)) abort(); } while (0)

/* Endpoint as (IPv4-mapped) 16 bytes + port: what the wire can say. */
struct norm {
	uint8_t a[16];
	uint16_t port;
};

static struct norm norm(const struct sockaddr_storage *ss)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	struct norm n;

	memset(&n, 0, sizeof(n));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		memcpy(n.a, mapped, 12);
		memcpy(n.a + 12, &in->sin_addr, 4);
		n.port = ntohs(in->sin_port);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		CHECK(ss->ss_family == AF_INET6);
		memcpy(n.a, &in6->sin6_addr, 16);
		n.port = ntohs(in6->sin6_port);
	}
	return n;
}

static void check_same(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	struct norm x = norm(a), y = norm(b);

	CHECK(memcmp(&x, &y, sizeof(x)) == 0);
}

static void round_trip(const struct sockaddr_storage *s, const struct sockaddr_storage *d)
{
	char v1[SL_PROXY_V1_MAX + 1];
	uint8_t v2[64];
	struct sl_proxy_hdr h;
	int n;

	n = sl_proxy_v1_emit(s, d, v1, sizeof(v1));
	CHECK(n > 0 && n <= SL_PROXY_V1_MAX);
	CHECK(sl_proxy_decode(v1, (size_t)n, &h) == n && h.version == 1 && !h.local);
	check_same(&h.src, s);
	check_same(&h.dst, d);
	/* Every proper prefix is "need more", never an error. */
	CHECK(sl_proxy_decode(v1, (size_t)n - 1, &h) == 0);

	n = sl_proxy_v2_emit(s, d, v2, sizeof(v2));
	CHECK(n == 28 || n == 52);
	CHECK(sl_proxy_decode(v2, (size_t)n, &h) == n && h.version == 2 && !h.local);
	check_same(&h.src, s);
	check_same(&h.dst, d);
	CHECK(sl_proxy_decode(v2, (size_t)n - 1, &h) == 0);
}

static void mk(struct sockaddr_storage *ss, const uint8_t *p, bool v6)
{
	memset(ss, 0, sizeof(*ss));
	if (v6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, p, 16);
		memcpy(&in6->sin6_port, p + 16, 2);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, p, 4);
		memcpy(&in->sin_port, p + 4, 2);
	}
}

static void fuzz_emit(const uint8_t *p, size_t n)
{
	struct sockaddr_storage s, d;
	struct sl_xclient x;
	char helo[512], line[SL_XCLIENT_LINE_MAX + 1];
	size_t hl, i;
	int r;

	if (n < 1 + 18 + 18)
		return;
	mk(&s, p + 1, p[0] & 1);
	mk(&d, p + 19, p[0] & 2);
	round_trip(&s, &d);
	hl = n - 37 < sizeof(helo) - 1 ? n - 37 : sizeof(helo) - 1;
	memcpy(helo, p + 37, hl);
	helo[hl] = '\0';
	x = (struct sl_xclient){ .addr = &s, .helo = helo, .login = (p[0] & 4) ? helo : NULL,
				 .dest = (p[0] & 8) ? &d : NULL };
	r = sl_proxy_xclient(line, sizeof(line), &x);
	if (r == -ENOSPC)
		return;
	CHECK(r > 2 && (size_t)r == strlen(line) && r <= SL_XCLIENT_LINE_MAX);
	CHECK(line[r - 2] == '\r' && line[r - 1] == '\n');
	for (i = 0; i < (size_t)r - 2; i++)
		CHECK(line[i] >= 0x20 && line[i] < 0x7f);
}

static void fuzz_decode(const uint8_t *p, size_t n)
{
	struct sl_proxy_hdr h;
	int r = sl_proxy_decode(p, n, &h);

	if (r <= 0) {
		CHECK(r == 0 || r == -EINVAL || r == -EMSGSIZE || r == -EPROTONOSUPPORT);
		return;
	}
	CHECK((size_t)r <= n && h.len == (size_t)r);
	CHECK(h.version == 1 ? r <= SL_PROXY_V1_MAX : r <= SL_PROXY_V2_MAX);
	if (!h.local)
		round_trip(&h.src, &h.dst);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		fuzz_emit(data + 1, size - 1);
	else
		fuzz_decode(data + 1, size - 1);
	return 0;
}

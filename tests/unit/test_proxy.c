/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test_proxy.c — PROXY protocol v1/v2 headers against golden bytes
 * written from the specification, the strict decoder (valid, partial,
 * malformed), emit → decode round trips, and XCLIENT/xtext encoding.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "proxy.h"
#include "tap.h"

static struct sockaddr_storage ep(const char *addr, unsigned port)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;

		in6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, addr, &in6->sin6_addr);
		in6->sin6_port = htons((uint16_t)port);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&ss;

		in->sin_family = AF_INET;
		inet_pton(AF_INET, addr, &in->sin_addr);
		in->sin_port = htons((uint16_t)port);
	}
	return ss;
}

/* "family addr port" of a decoded endpoint, for comparisons. */
static const char *ep_str(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &in->sin_addr, a, sizeof(a));
		port = ntohs(in->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		port = ntohs(in6->sin6_port);
	}
	snprintf(buf, len, "%s %s %u", ss->ss_family == AF_INET ? "4" : ss->ss_family == AF_INET6 ? "6" : "-",
		 a, port);
	return buf;
}

#define SIG "\r\n\r\n\0\r\nQUIT\n"

static const struct emit_case {
	const char *name, *src, *dst;
	unsigned sport, dport;
	const char *v1;
	const char *v2;			/* golden bytes */
	size_t v2_len;
} emit_cases[] = {
	{ "IPv4", "192.0.2.10", "198.51.100.25", 40000, 25,
	  "PROXY TCP4 192.0.2.10 198.51.100.25 40000 25\r\n",
	  SIG "\x21\x11\x00\x0c" "\xc0\x00\x02\x0a" "\xc6\x33\x64\x19" "\x9c\x40" "\x00\x19", 28 },
	{ "IPv6", "2001:db8::10", "2001:db8:1::25", 40000, 25,
	  "PROXY TCP6 2001:db8::10 2001:db8:1::25 40000 25\r\n",
	  SIG "\x21\x21\x00\x24"
	  "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x10"
	  "\x20\x01\x0d\xb8\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x25"
	  "\x9c\x40" "\x00\x19", 52 },
	{ "IPv4-mapped source is written as IPv4", "::ffff:192.0.2.10", "198.51.100.25", 1, 65535,
	  "PROXY TCP4 192.0.2.10 198.51.100.25 1 65535\r\n",
	  SIG "\x21\x11\x00\x0c" "\xc0\x00\x02\x0a" "\xc6\x33\x64\x19" "\x00\x01" "\xff\xff", 28 },
	{ "mixed families are written as IPv6", "192.0.2.10", "2001:db8::25", 0, 587,
	  "PROXY TCP6 ::ffff:192.0.2.10 2001:db8::25 0 587\r\n",
	  SIG "\x21\x21\x00\x24"
	  "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff\xc0\x00\x02\x0a"
	  "\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x25"
	  "\x00\x00" "\x02\x4b", 52 },
};

static void test_emit(void)
{
	char v1[128], a[80], b[80];
	unsigned char v2[128];
	struct sl_proxy_hdr h;
	size_t i;
	int r;

	for (i = 0; i < TAP_NELEM(emit_cases); i++) {
		const struct emit_case *c = &emit_cases[i];
		struct sockaddr_storage s = ep(c->src, c->sport), d = ep(c->dst, c->dport);

		r = sl_proxy_v1_emit(&s, &d, v1, sizeof(v1));
		tap_str(v1, c->v1, "v1 emit %s", c->name);
		tap_int(r, (long long)strlen(c->v1), "v1 emit %s: length", c->name);
		r = sl_proxy_v2_emit(&s, &d, v2, sizeof(v2));
		tap_int(r, (long long)c->v2_len, "v2 emit %s: length", c->name);
		tap_ok(r == (int)c->v2_len && memcmp(v2, c->v2, c->v2_len) == 0, "v2 emit %s: golden bytes",
		       c->name);

		/* Round trip: the decoder reads back what was announced. */
		tap_int(sl_proxy_decode(v1, strlen(v1), &h), (long long)strlen(c->v1), "v1 round trip %s", c->name);
		tap_int(h.version, 1, "v1 round trip %s: version", c->name);
		ep_str(&h.src, a, sizeof(a));
		r = sl_proxy_decode(v2, c->v2_len, &h);
		tap_int(r, (long long)c->v2_len, "v2 round trip %s", c->name);
		tap_int(h.version, 2, "v2 round trip %s: version", c->name);
		tap_str(ep_str(&h.src, b, sizeof(b)), a, "v1 and v2 decode to the same source (%s)", c->name);
	}
	{
		struct sockaddr_storage s = ep("192.0.2.1", 1), d = ep("192.0.2.2", 2), u;

		tap_int(sl_proxy_v1_emit(&s, &d, v1, 20), -ENOSPC, "v1 emit: small buffer");
		tap_int(sl_proxy_v2_emit(&s, &d, v2, 27), -ENOSPC, "v2 emit: small buffer");
		memset(&u, 0, sizeof(u));
		u.ss_family = AF_UNIX;
		tap_int(sl_proxy_v1_emit(&u, &d, v1, sizeof(v1)), -EAFNOSUPPORT, "v1 emit: AF_UNIX refused");
		tap_int(sl_proxy_v2_emit(&s, &u, v2, sizeof(v2)), -EAFNOSUPPORT, "v2 emit: AF_UNIX refused");
	}
}

static const struct decode_case {
	const char *name;
	const char *in;
	size_t len;		/* 0 = strlen */
	int want;		/* header length, 0, or -errno */
	const char *src, *dst;	/* ep_str forms, NULL when local/error */
} decode_cases[] = {
	{ "v1 TCP4 with SMTP after it", "PROXY TCP4 10.1.2.3 10.0.0.1 1234 25\r\nEHLO x\r\n", 0, 38,
	  "4 10.1.2.3 1234", "4 10.0.0.1 25" },
	{ "v1 TCP6", "PROXY TCP6 fd00::1 fd00::2 65535 0\r\n", 0, 36, "6 fd00::1 65535", "6 fd00::2 0" },
	{ "v1 UNKNOWN", "PROXY UNKNOWN\r\n", 0, 15, NULL, NULL },
	{ "v1 UNKNOWN with addresses", "PROXY UNKNOWN ffff:f::1 ffff:f::2 1 2\r\n", 0, 39, NULL, NULL },
	{ "v1 prefix only", "PROX", 0, 0, NULL, NULL },
	{ "v1 without CRLF yet", "PROXY TCP4 10.1.2.3 10.0.0.1 1234 25", 0, 0, NULL, NULL },
	{ "v1 ending in CR", "PROXY TCP4 10.1.2.3 10.0.0.1 1234 25\r", 0, 0, NULL, NULL },
	{ "not PROXY", "EHLO a.example\r\n", 0, -EINVAL, NULL, NULL },
	{ "lower-case proxy", "proxy TCP4 1.2.3.4 1.2.3.5 1 2\r\n", 0, -EINVAL, NULL, NULL },
	{ "v1 LF only", "PROXY TCP4 1.2.3.4 1.2.3.5 1 2\n", 0, -EINVAL, NULL, NULL },
	{ "v1 double space", "PROXY TCP4  1.2.3.4 1.2.3.5 1 2\r\n", 0, -EINVAL, NULL, NULL },
	{ "v1 trailing space", "PROXY TCP4 1.2.3.4 1.2.3.5 1 2 \r\n", 0, -EINVAL, NULL, NULL },
	{ "v1 missing port", "PROXY TCP4 1.2.3.4 1.2.3.5 1\r\n", 0, -EINVAL, NULL, NULL },
	{ "v1 extra field", "PROXY TCP4 1.2.3.4 1.2.3.5 1 2 3\r\n", 0, -EINVAL, NULL, NULL },
	{ "v1 port with leading zero", "PROXY TCP4 1.2.3.4 1.2.3.5 01 2\r\n", 0, -EINVAL, NULL, NULL },
	{ "v1 port 65536", "PROXY TCP4 1.2.3.4 1.2.3.5 65536 2\r\n", 0, -EINVAL, NULL, NULL },
	{ "v1 negative port", "PROXY TCP4 1.2.3.4 1.2.3.5 -1 2\r\n", 0, -EINVAL, NULL, NULL },
	{ "v1 TCP4 with an IPv6 address", "PROXY TCP4 ::1 1.2.3.5 1 2\r\n", 0, -EINVAL, NULL, NULL },
	{ "v1 TCP6 with an IPv4 address", "PROXY TCP6 1.2.3.4 ::1 1 2\r\n", 0, -EINVAL, NULL, NULL },
	{ "v1 octet 256", "PROXY TCP4 1.2.3.256 1.2.3.5 1 2\r\n", 0, -EINVAL, NULL, NULL },
	{ "v1 UDP4", "PROXY UDP4 1.2.3.4 1.2.3.5 1 2\r\n", 0, -EPROTONOSUPPORT, NULL, NULL },
	{ "v1 NUL inside", "PROXY TCP4 1.2.3.4\0 1.2.3.5 1 2\r\n", 33, -EINVAL, NULL, NULL },
	{ "v1 too long without CRLF",
	  "PROXY UNKNOWN 0123456789012345678901234567890123456789012345678901234567890123456789"
	  "0123456789012345678901234567890123456789", 0, -EMSGSIZE, NULL, NULL },
	{ "v1 CRLF at byte 107 accepted",
	  "PROXY UNKNOWN 0123456789012345678901234567890123456789012345678901234567890123456789"
	  "012345678901234567890\r\n", 0, 107, NULL, NULL },
	{ "v1 CRLF at byte 108 refused",
	  "PROXY UNKNOWN 0123456789012345678901234567890123456789012345678901234567890123456789"
	  "0123456789012345678901\r\n", 0, -EMSGSIZE, NULL, NULL },
	{ "v2 TCP4", SIG "\x21\x11\x00\x0c" "\x0a\x01\x02\x03" "\x0a\x00\x00\x01" "\x04\xd2" "\x00\x19",
	  28, 28, "4 10.1.2.3 1234", "4 10.0.0.1 25" },
	{ "v2 TCP4 with TLVs", SIG "\x21\x11\x00\x17" "\x0a\x01\x02\x03" "\x0a\x00\x00\x01" "\x04\xd2" "\x00\x19"
	  "\x01\x00\x02h2" "\x04\x00\x03" "abc", 39, 39, "4 10.1.2.3 1234", "4 10.0.0.1 25" },
	{ "v2 TLV overrunning the block", SIG "\x21\x11\x00\x11" "\x0a\x01\x02\x03" "\x0a\x00\x00\x01" "\x04\xd2" "\x00\x19"
	  "\x01\x00\x05h2", 33, -EINVAL, NULL, NULL },
	{ "v2 truncated TLV header", SIG "\x21\x11\x00\x0e" "\x0a\x01\x02\x03" "\x0a\x00\x00\x01" "\x04\xd2" "\x00\x19"
	  "\x01\x00", 30, -EINVAL, NULL, NULL },
	{ "v2 TCP4 block too short", SIG "\x21\x11\x00\x08" "\x0a\x01\x02\x03" "\x0a\x00\x00\x01", 24, -EINVAL, NULL, NULL },
	{ "v2 LOCAL", SIG "\x20\x00\x00\x00", 16, 16, NULL, NULL },
	{ "v2 LOCAL with a block", SIG "\x20\x11\x00\x0c" "\x0a\x01\x02\x03" "\x0a\x00\x00\x01" "\x04\xd2" "\x00\x19",
	  28, 28, NULL, NULL },
	{ "v2 PROXY UNSPEC", SIG "\x21\x00\x00\x00", 16, 16, NULL, NULL },
	{ "v2 UDP4", SIG "\x21\x12\x00\x0c" "\x0a\x01\x02\x03" "\x0a\x00\x00\x01" "\x04\xd2" "\x00\x19",
	  28, -EPROTONOSUPPORT, NULL, NULL },
	{ "v2 UNIX stream", SIG "\x21\x31\x00\x00", 16, -EPROTONOSUPPORT, NULL, NULL },
	{ "v2 version 1", SIG "\x11\x11\x00\x0c", 16, -EPROTONOSUPPORT, NULL, NULL },
	{ "v2 command 2", SIG "\x22\x11\x00\x0c", 16, -EPROTONOSUPPORT, NULL, NULL },
	{ "v2 over the size limit", SIG "\x21\x11\x03\xf1", 16, -EMSGSIZE, NULL, NULL },
	{ "v2 at the size limit, incomplete", SIG "\x21\x11\x03\xf0", 16, 0, NULL, NULL },
	{ "v2 signature prefix", "\r\n\r\n\0\r", 6, 0, NULL, NULL },
	{ "v2 signature only", SIG, 12, 0, NULL, NULL },
	{ "v2 block incomplete", SIG "\x21\x11\x00\x0c" "\x0a\x01", 18, 0, NULL, NULL },
	{ "v2 bad signature", "\r\n\r\n\0\r\nQUIT\r", 12, -EINVAL, NULL, NULL },
	{ "empty", "", 0, 0, NULL, NULL },
};

static void test_decode(void)
{
	struct sl_proxy_hdr h;
	char a[80];
	size_t i;
	int r;

	for (i = 0; i < TAP_NELEM(decode_cases); i++) {
		const struct decode_case *c = &decode_cases[i];
		size_t len = c->len ? c->len : strlen(c->in);

		memset(&h, 0, sizeof(h));
		r = sl_proxy_decode(c->in, len, &h);
		tap_int(r, c->want, "decode %s", c->name);
		if (r <= 0)
			continue;
		tap_int((long long)h.len, r, "decode %s: len field", c->name);
		tap_ok(h.local == (c->src == NULL), "decode %s: %s", c->name, c->src ? "addresses" : "local");
		if (!c->src)
			continue;
		tap_str(ep_str(&h.src, a, sizeof(a)), c->src, "decode %s: source", c->name);
		tap_str(ep_str(&h.dst, a, sizeof(a)), c->dst, "decode %s: destination", c->name);
	}
}

static void test_xclient(void)
{
	struct sockaddr_storage a4 = ep("192.0.2.10", 40000), a6 = ep("2001:db8::10", 2525);
	struct sockaddr_storage m4 = ep("::ffff:198.51.100.7", 25), d = ep("10.0.0.1", 25);
	char buf[1024], small[40], longhelo[800];
	struct sl_xclient x;
	int r;

	x = (struct sl_xclient){ .addr = &a4, .helo = "mx.partner.example" };
	r = sl_proxy_xclient(buf, sizeof(buf), &x);
	tap_str(buf, "XCLIENT NAME=[UNAVAILABLE] ADDR=192.0.2.10 PORT=40000 PROTO=ESMTP HELO=mx.partner.example\r\n",
		"xclient IPv4");
	tap_int(r, (long long)strlen(buf), "xclient IPv4: length");

	x = (struct sl_xclient){ .name = "mx.partner.example", .addr = &a6, .proto = "SMTP",
				 .helo = "[IPv6:2001:db8::10]", .login = "NTSOL", .dest = &d };
	sl_proxy_xclient(buf, sizeof(buf), &x);
	tap_str(buf, "XCLIENT NAME=mx.partner.example ADDR=IPV6:2001:db8::10 PORT=2525 PROTO=SMTP "
		"HELO=[IPv6:2001:db8::10] LOGIN=NTSOL DESTADDR=10.0.0.1 DESTPORT=25\r\n",
		"xclient IPv6 with LOGIN and destination");

	x = (struct sl_xclient){ .addr = &m4, .helo = "odd helo=a+b" };
	sl_proxy_xclient(buf, sizeof(buf), &x);
	tap_str(buf, "XCLIENT NAME=[UNAVAILABLE] ADDR=198.51.100.7 PORT=25 PROTO=ESMTP HELO=odd+20helo+3Da+2Bb\r\n",
		"xclient: mapped address as IPv4, HELO xtext-encoded");

	x = (struct sl_xclient){ .addr = &a4, .proto = "LMTP" };
	tap_int(sl_proxy_xclient(buf, sizeof(buf), &x), -EINVAL, "xclient: PROTO other than SMTP/ESMTP");
	x = (struct sl_xclient){ .helo = "x" };
	tap_int(sl_proxy_xclient(buf, sizeof(buf), &x), -EINVAL, "xclient: address required");
	x = (struct sl_xclient){ .addr = &a4 };
	tap_int(sl_proxy_xclient(small, sizeof(small), &x), -ENOSPC, "xclient: small buffer");
	memset(longhelo, '\x01', sizeof(longhelo) - 1);
	longhelo[sizeof(longhelo) - 1] = '\0';
	x = (struct sl_xclient){ .addr = &a4, .helo = longhelo };
	{
		static char huge[4096];

		tap_int(sl_proxy_xclient(huge, sizeof(huge), &x), -ENOSPC,
			"xclient: line over SL_XCLIENT_LINE_MAX refused");
	}

	r = sl_proxy_xtext(buf, sizeof(buf), "a+b=c d\x01\xc3\xa9~!");
	tap_str(buf, "a+2Bb+3Dc+20d+01+C3+A9~!", "xtext encoding");
	tap_int(r, 24, "xtext length");
	tap_int(sl_proxy_xtext(small, 3, "a="), -ENOSPC, "xtext: escape never cut");
	tap_int(sl_proxy_xtext(small, 3, "ab"), 2, "xtext: exact fit");
}

int main(void)
{
	test_emit();
	test_decode();
	test_xclient();
	return tap_done();
}

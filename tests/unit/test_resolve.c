/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test_resolve.c — the answer parsers behind lib/resolve, on DNS
 * responses built here (the live queries run in tests/bats/24-dns.bats
 * against dnsmasq).
 */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "resolve.h"
#include "tap.h"

struct msg {
	uint8_t b[1024];
	size_t n;
};

static void put8(struct msg *m, unsigned v) { m->b[m->n++] = (uint8_t)v; }
static void put16(struct msg *m, unsigned v) { put8(m, v >> 8); put8(m, v & 0xff); }
static void put32(struct msg *m, uint32_t v) { put16(m, v >> 16); put16(m, v & 0xffff); }

static void putname(struct msg *m, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t len = dot ? (size_t)(dot - name) : strlen(name);

		put8(m, (unsigned)len);
		memcpy(m->b + m->n, name, len);
		m->n += len;
		name += len + (dot ? 1 : 0);
	}
	put8(m, 0);
}

/* Header + question; answers follow with rr_*(). */
static void begin(struct msg *m, const char *qname, unsigned qtype, unsigned ancount, bool ad)
{
	memset(m, 0, sizeof(*m));
	put16(m, 0x1234);
	put16(m, 0x8180 | (ad ? 0x0020 : 0));	/* QR RD RA [AD] */
	put16(m, 1);
	put16(m, ancount);
	put16(m, 0);
	put16(m, 0);
	putname(m, qname);
	put16(m, qtype);
	put16(m, ns_c_in);
}

static void rr_head(struct msg *m, unsigned type, uint32_t ttl, unsigned rdlen)
{
	put16(m, 0xc00c);	/* the question's name */
	put16(m, type);
	put16(m, ns_c_in);
	put32(m, ttl);
	put16(m, rdlen);
}

static void rr_mx(struct msg *m, uint32_t ttl, unsigned pref, const char *host)
{
	struct msg tmp = { .n = 0 };

	putname(&tmp, host);
	rr_head(m, ns_t_mx, ttl, 2 + (unsigned)tmp.n);
	put16(m, pref);
	memcpy(m->b + m->n, tmp.b, tmp.n);
	m->n += tmp.n;
}

static void test_mx(void)
{
	struct sl_mx_result r;
	struct msg m;

	begin(&m, "example.org", ns_t_mx, 3, true);
	rr_mx(&m, 600, 20, "MX2.Example.ORG");
	rr_mx(&m, 300, 10, "mx1.example.org");
	rr_mx(&m, 900, 10, "mx0.example.org");
	tap_int(sl_resolve_parse_mx(m.b, m.n, &r), 0, "mx: parsed");
	tap_int((long long)r.n, 3, "mx: three hosts");
	tap_str(r.mx[0].host, "mx0.example.org", "mx: by preference then name");
	tap_str(r.mx[1].host, "mx1.example.org", "mx: second");
	tap_str(r.mx[2].host, "mx2.example.org", "mx: lower-cased, no trailing dot");
	tap_int(r.ttl, 300, "mx: the smallest TTL");
	tap_ok(r.ad, "mx: AD bit kept");
	tap_ok(!r.null_mx && !r.implicit, "mx: neither null nor implicit");

	begin(&m, "nomail.example", ns_t_mx, 1, false);
	rr_mx(&m, 3600, 0, "");
	tap_int(sl_resolve_parse_mx(m.b, m.n, &r), 0, "null mx: parsed");
	tap_ok(r.null_mx && r.n == 0, "null mx: \"0 .\" means no mail");
	tap_ok(!r.ad, "null mx: no AD bit");

	/* A CNAME before the MX records is skipped. */
	begin(&m, "alias.example", ns_t_mx, 2, false);
	rr_head(&m, ns_t_cname, 60, 2);
	put16(&m, 0xc00c);
	rr_mx(&m, 120, 5, "mx.real.example");
	tap_int(sl_resolve_parse_mx(m.b, m.n, &r), 0, "cname chain: parsed");
	tap_int((long long)r.n, 1, "cname chain: the MX only");
	tap_int(r.ttl, 120, "cname chain: the MX's TTL");

	tap_int(sl_resolve_parse_mx((const uint8_t *)"\x12\x34\x81", 3, &r), -EIO, "garbage: -EIO");
}

static void test_addrs(void)
{
	struct sl_addr_result r;
	struct msg m;
	uint8_t a[16];

	memset(&r, 0, sizeof(r));
	r.ad = true;
	begin(&m, "mx1.example.org", ns_t_a, 2, true);
	rr_head(&m, ns_t_a, 50, 4);
	put32(&m, 0xc0000201);	/* 192.0.2.1 */
	rr_head(&m, ns_t_a, 40, 4);
	put32(&m, 0xc0000202);
	tap_int(sl_resolve_parse_addrs(m.b, m.n, ns_t_a, &r), 0, "a: parsed");
	begin(&m, "mx1.example.org", ns_t_aaaa, 1, false);
	rr_head(&m, ns_t_aaaa, 70, 16);
	inet_pton(AF_INET6, "2001:db8::1", a);
	memcpy(m.b + m.n, a, 16);
	m.n += 16;
	tap_int(sl_resolve_parse_addrs(m.b, m.n, ns_t_aaaa, &r), 0, "aaaa: parsed");
	tap_int((long long)r.n, 3, "a+aaaa: three addresses");
	tap_int(r.v[0].family, AF_INET, "a: family");
	tap_ok(r.v[0].addr[10] == 0xff && r.v[0].addr[12] == 192 && r.v[0].addr[15] == 1,
	       "a: stored IPv4-mapped");
	tap_int(r.v[2].family, AF_INET6, "aaaa: family");
	tap_ok(memcmp(r.v[2].addr, a, 16) == 0, "aaaa: address");
	tap_int(r.ttl, 40, "a+aaaa: the smallest TTL");
	tap_ok(!r.ad, "a+aaaa: AD only if every answer had it");
}

static void test_tlsa(void)
{
	struct sl_tlsa_result r;
	struct msg m;

	begin(&m, "_25._tcp.mx1.example.org", ns_t_tlsa, 1, true);
	rr_head(&m, ns_t_tlsa, 300, 3 + 32);
	put8(&m, 3);
	put8(&m, 1);
	put8(&m, 1);
	for (int i = 0; i < 32; i++)
		put8(&m, (unsigned)i);
	tap_int(sl_resolve_parse_tlsa(m.b, m.n, &r), 0, "tlsa: parsed");
	tap_int((long long)r.n, 1, "tlsa: one record");
	if (r.n) {
		tap_int(r.v[0].usage, 3, "tlsa: usage DANE-EE");
		tap_int(r.v[0].selector, 1, "tlsa: selector SPKI");
		tap_int(r.v[0].mtype, 1, "tlsa: SHA-256");
		tap_int((long long)r.v[0].len, 32, "tlsa: 32 bytes");
		tap_int(r.v[0].data[31], 31, "tlsa: data");
	}
	tap_ok(r.ad, "tlsa: AD bit");
	sl_tlsa_result_done(&r);
	tap_int((long long)r.n, 0, "tlsa: done clears");
}

int main(void)
{
	test_mx();
	test_addrs();
	test_tlsa();
	return tap_done();
}

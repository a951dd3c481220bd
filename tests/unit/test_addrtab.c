/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test_addrtab.c — the address table: longest/strictest lookup, the
 * strictest-wins rule, and the map entries built from it.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addrtab.h"
#include "tap.h"

static struct sl_prefix pfx(const char *s)
{
	struct sl_prefix p;
	char buf[64], *slash;
	int len = -1;

	memset(&p, 0, sizeof(p));
	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		len = atoi(slash + 1);
	}
	if (strchr(buf, ':')) {
		p.family = AF_INET6;
		inet_pton(AF_INET6, buf, p.addr);
		p.plen = (uint8_t)(len < 0 ? 128 : len);
	} else {
		p.family = AF_INET;
		p.addr[10] = p.addr[11] = 0xff;
		inet_pton(AF_INET, buf, &p.addr[12]);
		p.plen = (uint8_t)(96 + (len < 0 ? 32 : len));
	}
	return p;
}

static struct sl_partner partner(const char *domain, enum sl_mode mode, uint16_t minv,
				 enum sl_verify_mode verify, bool auth, uint16_t port)
{
	struct sl_partner p;

	memset(&p, 0, sizeof(p));
	p.domain = (char *)domain;
	p.direction = SL_DIR_OUTBOUND;
	p.mode = mode;
	p.tls.min_version = minv;
	p.tls.verify = verify;
	p.has_auth = auth;
	p.ports[0] = port;
	p.n_ports = 1;
	return p;
}

struct scase {
	const char *name;
	int a, b;		/* indexes into the partner table */
	int want;		/* sign of sl_partner_stricter(a, b) */
};

static struct sl_partner P[8];

static void test_stricter(void)
{
	static const struct scase cases[] = {
		{ "enforce beats testing", 0, 1, 1 },
		{ "testing loses to enforce", 1, 0, -1 },
		{ "TLS 1.3 beats 1.2", 2, 0, 1 },
		{ "fingerprint beats ca", 3, 0, 1 },
		{ "dane beats ca", 4, 0, 1 },
		{ "fingerprint beats dane", 3, 4, 1 },
		{ "auth beats no auth", 5, 0, 1 },
		{ "min_version before verify", 2, 3, 1 },
		{ "mode before everything", 6, 2, -1 },
		{ "equal", 0, 7, 0 },
	};

	for (size_t i = 0; i < TAP_NELEM(cases); i++) {
		int c = sl_partner_stricter(SL_ADDRTAB_OUTBOUND, &P[cases[i].a], &P[cases[i].b]);

		tap_int(c > 0 ? 1 : c < 0 ? -1 : 0, cases[i].want, "stricter: %s", cases[i].name);
	}
}

static void test_lookup_and_entries(void)
{
	struct sl_addrtab *t = NULL;
	const struct sl_addrtab_entry *e;
	struct sl_dst_entry *dst = NULL;
	struct sl_prefix a;
	size_t n = 0;

	tap_int(sl_addrtab_new(SL_ADDRTAB_OUTBOUND, &t), 0, "table created");
	/* loose (testing) owns a /24 with port 2525; strict (1.3) and
	 * plain (1.2) both list one host of it; v6 prefix for plain. */
	a = pfx("192.0.2.0/24");
	sl_addrtab_add(t, &a, &P[1], 1, 11, NULL);
	a = pfx("192.0.2.10");
	sl_addrtab_add(t, &a, &P[0], 0, 10, "mx1.plain.test");
	a = pfx("192.0.2.10");
	sl_addrtab_add(t, &a, &P[2], 2, 12, "mx.strict.test");
	a = pfx("2001:db8::/64");
	sl_addrtab_add(t, &a, &P[0], 0, 10, NULL);
	a = pfx("2001:db8::5");
	sl_addrtab_add(t, &a, &P[0], 0, 10, "mx2.plain.test");
	a = pfx("192.0.2.77/24");	/* host bits are cleared */
	sl_addrtab_add(t, &a, &P[1], 1, 11, NULL);
	tap_int((long long)sl_addrtab_count(t), 6, "six entries");

	a = pfx("192.0.2.10");
	e = sl_addrtab_lookup(t, a.addr);
	tap_ok(e && e->partner == &P[2], "lookup: the strictest partner governs a shared host");
	tap_str(e ? e->mx_name : NULL, "mx.strict.test", "lookup: with its MX name");
	a = pfx("192.0.2.11");
	e = sl_addrtab_lookup(t, a.addr);
	tap_ok(e && e->partner == &P[1], "lookup: the rest of the /24 is the loose partner's");
	a = pfx("2001:db8::5");
	e = sl_addrtab_lookup(t, a.addr);
	tap_str(e ? e->mx_name : NULL, "mx2.plain.test", "lookup: the longest prefix of a partner, named");
	a = pfx("2001:db8::6");
	e = sl_addrtab_lookup(t, a.addr);
	tap_ok(e && e->partner == &P[0] && !e->mx_name, "lookup: a fixed prefix has no MX name");
	a = pfx("198.51.100.1");
	tap_ok(sl_addrtab_lookup(t, a.addr) == NULL, "lookup: unlisted");

	tap_int(sl_addrtab_dst_entries(t, &dst, &n), 0, "dst entries built");
	tap_int((long long)n, 4, "one entry per distinct prefix");
	for (size_t i = 0; i < n; i++) {
		char s[80];
		struct sl_prefix p;

		memset(&p, 0, sizeof(p));
		memcpy(p.addr, dst[i].key.addr, 16);
		p.plen = (uint8_t)dst[i].key.prefixlen;
		sl_addrtab_prefix_format(&p, s, sizeof(s));
		if (strcmp(s, "192.0.2.10") == 0) {
			tap_int(dst[i].val.policy_id, 12, "entry 192.0.2.10: strict's id");
			tap_int(dst[i].val.mode, SL_MODE_ENFORCE, "entry 192.0.2.10: enforce");
			tap_int(dst[i].val.n_ports, 3, "entry 192.0.2.10: every listing partner's port");
			tap_int(dst[i].val.ports[0], 465, "entry 192.0.2.10: the winner's port first");
		} else if (strcmp(s, "192.0.2.0/24") == 0) {
			tap_int(dst[i].val.policy_id, 11, "entry 192.0.2.0/24: loose's id");
			tap_int(dst[i].val.mode, SL_MODE_TESTING, "entry 192.0.2.0/24: testing");
			tap_int(dst[i].val.n_ports, 1, "entry 192.0.2.0/24: its own port only");
		} else if (strcmp(s, "2001:db8::/64") == 0) {
			tap_int(dst[i].val.policy_id, 10, "entry 2001:db8::/64: plain's id");
		} else if (strcmp(s, "2001:db8::5") == 0) {
			tap_int(dst[i].val.policy_id, 10, "entry 2001:db8::5: plain's id");
		} else {
			tap_ok(false, "unexpected entry %s", s);
		}
	}
	free(dst);
	sl_addrtab_free(t);
}

static void test_src(void)
{
	struct sl_addrtab *t = NULL;
	struct sl_src_entry *src = NULL;
	struct sl_partner a = P[0], b = P[0];
	struct sl_prefix p = pfx("198.51.100.0/24");
	size_t n = 0;

	a.has_inbound = b.has_inbound = true;
	a.inbound.require = SL_REQUIRE_TLS;
	b.inbound.require = SL_REQUIRE_TLS | SL_REQUIRE_AUTH;
	sl_addrtab_new(SL_ADDRTAB_INBOUND, &t);
	sl_addrtab_add(t, &p, &a, 0, 1, NULL);
	sl_addrtab_add(t, &p, &b, 1, 2, NULL);
	tap_int(sl_addrtab_src_entries(t, &src, &n), 0, "src entries built");
	tap_int((long long)n, 1, "src: one entry for a shared source");
	tap_int(n ? src[0].val.policy_id : 0, 2, "src: the partner requiring more wins");
	free(src);
	sl_addrtab_free(t);
}

static void test_format(void)
{
	struct sl_prefix p;
	char s[80];

	p = pfx("192.0.2.0/24");
	sl_addrtab_prefix_format(&p, s, sizeof(s));
	tap_str(s, "192.0.2.0/24", "format: IPv4 prefix");
	p = pfx("192.0.2.1");
	sl_addrtab_prefix_format(&p, s, sizeof(s));
	tap_str(s, "192.0.2.1", "format: IPv4 host");
	p = pfx("2001:db8::/48");
	sl_addrtab_prefix_format(&p, s, sizeof(s));
	tap_str(s, "2001:db8::/48", "format: IPv6 prefix");
}

int main(void)
{
	P[0] = partner("plain.test", SL_MODE_ENFORCE, SL_TLS_1_2, SL_VERIFY_CA, false, 25);
	P[1] = partner("loose.test", SL_MODE_TESTING, SL_TLS_1_3, SL_VERIFY_FINGERPRINT, true, 2525);
	P[2] = partner("strict.test", SL_MODE_ENFORCE, SL_TLS_1_3, SL_VERIFY_CA, false, 465);
	P[3] = partner("pinned.test", SL_MODE_ENFORCE, SL_TLS_1_2, SL_VERIFY_FINGERPRINT, false, 25);
	P[4] = partner("dane.test", SL_MODE_ENFORCE, SL_TLS_1_2, SL_VERIFY_DANE, false, 25);
	P[5] = partner("auth.test", SL_MODE_ENFORCE, SL_TLS_1_2, SL_VERIFY_CA, true, 25);
	P[6] = partner("t13.test", SL_MODE_TESTING, SL_TLS_1_3, SL_VERIFY_FINGERPRINT, true, 25);
	P[7] = partner("same.test", SL_MODE_ENFORCE, SL_TLS_1_2, SL_VERIFY_CA, false, 25);
	test_stricter();
	test_lookup_and_entries();
	test_src();
	test_format();
	return tap_done();
}

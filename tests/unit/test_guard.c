/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test_guard.c — the egress guard's classifier under BPF_PROG_TEST_RUN.
 *
 * Each case builds a real packet (Ethernet + IPv4/IPv6 + TCP + payload),
 * runs it through the guard and checks the verdict, the reason of the
 * event it emitted (or that it emitted none) and the counter it bumped.
 *
 * Two objects: guard_test (the very same sl_guard_skb() with the socket
 * tag chosen by the case: a test run's socket has no storage) for the
 * PRE_TLS/TLS paths, and the production sl_egress loaded through
 * lib/bpfmap (pinned under a throw-away path, then unloaded) for the
 * untagged paths.  Needs root (CAP_BPF + CAP_NET_ADMIN).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfmap.h"
#include "guard_test.skel.h"
#include "tap.h"

#define P_ENF4	"10.35.0.2"		/* policy 7, enforce, ports 25 587 */
#define P_ENF6	"2001:db8:35::"		/* /64, policy 8, enforce, port 25 */
#define P_TEST4	"192.0.2.10"		/* policy 9, testing, port 25 */
#define UNLISTED "10.35.0.99"

enum { T_UNTAGGED = 0, T_PRE_TLS = 1, T_TLS = 2, T_BOGUS = 7 };
enum { PK_PLAIN = 0, PK_FRAG_MF, PK_FRAG_OFF, PK_V6_HOPOPT, PK_V6_FRAG, PK_UDP };

struct gcase {
	const char *name;
	const char *dst;
	uint16_t dport;
	int tag;
	int shape;		/* PK_* */
	const char *payload;	/* NULL = none */
	size_t plen;		/* 0 = strlen(payload) */
	int want_ret;		/* 1 pass, 0 drop */
	int want_reason;	/* -1 = no event */
	int want_counter;	/* -1 = none; counted at policy and global */
	uint32_t policy;
};

static char big_line[700];
static char tls_big[1400];

static const struct gcase cases[] = {
	/* not ours */
	{ "unlisted address", UNLISTED, 25, T_UNTAGGED, 0, "MAIL FROM:<a@b>\r\n", 0, 1, -1, -1, 0 },
	{ "listed address, unlisted port", P_ENF4, 80, T_UNTAGGED, 0, "GET / HTTP/1.0\r\n", 0, 1, -1, -1, 0 },
	{ "listed address, no payload (ACK)", P_ENF4, 25, T_UNTAGGED, 0, NULL, 0, 1, -1, -1, 0 },
	{ "UDP to a listed address and port", P_ENF4, 25, T_UNTAGGED, PK_UDP, "MAIL FROM:<a@b>\r\n", 0, 1, -1, -1, 0 },
	/* untagged */
	{ "untagged MAIL FROM", P_ENF4, 25, T_UNTAGGED, 0, "MAIL FROM:<a@b>\r\n", 0, 0, SL_R_UNTAGGED, SL_C_GUARD_DROP, 7 },
	{ "untagged EHLO (nothing passes untagged)", P_ENF4, 25, T_UNTAGGED, 0, "EHLO x\r\n", 0, 0, SL_R_UNTAGGED, SL_C_GUARD_DROP, 7 },
	{ "untagged, second listed port", P_ENF4, 587, T_UNTAGGED, 0, "DATA\r\n", 0, 0, SL_R_UNTAGGED, SL_C_GUARD_DROP, 7 },
	{ "untagged IPv6 prefix", P_ENF6 "5", 25, T_UNTAGGED, 0, "MAIL FROM:<a@b>\r\n", 0, 0, SL_R_UNTAGGED, SL_C_GUARD_DROP, 8 },
	{ "untagged IPv6 behind a hop-by-hop header", P_ENF6 "5", 25, T_UNTAGGED, PK_V6_HOPOPT, "RCPT TO:<a@b>\r\n", 0, 0, SL_R_UNTAGGED, SL_C_GUARD_DROP, 8 },
	{ "unknown tag value", P_ENF4, 25, T_BOGUS, 0, "EHLO x\r\n", 0, 0, SL_R_BAD_TAG, SL_C_GUARD_DROP, 7 },
	/* fragments */
	{ "IPv4 first fragment to listed address", P_ENF4, 25, T_TLS, PK_FRAG_MF, "\x17\x03\x03\x00\x10xxxxxxxx", 0, 0, SL_R_FRAGMENT, SL_C_GUARD_DROP, 7 },
	{ "IPv4 later fragment to listed address", P_ENF4, 25, T_UNTAGGED, PK_FRAG_OFF, "MAIL FROM", 0, 0, SL_R_FRAGMENT, SL_C_GUARD_DROP, 7 },
	{ "IPv4 fragment to unlisted address", UNLISTED, 25, T_UNTAGGED, PK_FRAG_OFF, "MAIL FROM", 0, 1, -1, -1, 0 },
	{ "IPv6 fragment to listed prefix", P_ENF6 "9", 25, T_UNTAGGED, PK_V6_FRAG, "MAIL FROM", 0, 0, SL_R_FRAGMENT, SL_C_GUARD_DROP, 8 },
	/* PRE_TLS allow-list */
	{ "PRE_TLS EHLO", P_ENF4, 25, T_PRE_TLS, 0, "EHLO mail.example.org\r\n", 0, 1, -1, SL_C_GUARD_PASS, 7 },
	{ "PRE_TLS ehlo (lower case)", P_ENF4, 25, T_PRE_TLS, 0, "ehlo mail.example.org\r\n", 0, 1, -1, SL_C_GUARD_PASS, 7 },
	{ "PRE_TLS HELO", P_ENF4, 25, T_PRE_TLS, 0, "HELO x\r\n", 0, 1, -1, SL_C_GUARD_PASS, 7 },
	{ "PRE_TLS STARTTLS", P_ENF4, 25, T_PRE_TLS, 0, "STARTTLS\r\n", 0, 1, -1, SL_C_GUARD_PASS, 7 },
	{ "PRE_TLS StartTLS", P_ENF4, 25, T_PRE_TLS, 0, "StartTLS\r\n", 0, 1, -1, SL_C_GUARD_PASS, 7 },
	{ "PRE_TLS QUIT", P_ENF4, 25, T_PRE_TLS, 0, "QUIT\r\n", 0, 1, -1, SL_C_GUARD_PASS, 7 },
	{ "PRE_TLS RSET", P_ENF4, 25, T_PRE_TLS, 0, "RSET\r\n", 0, 1, -1, SL_C_GUARD_PASS, 7 },
	{ "PRE_TLS NOOP", P_ENF4, 25, T_PRE_TLS, 0, "NOOP\r\n", 0, 1, -1, SL_C_GUARD_PASS, 7 },
	{ "PRE_TLS NOOP with argument", P_ENF4, 25, T_PRE_TLS, 0, "NOOP ping\r\n", 0, 1, -1, SL_C_GUARD_PASS, 7 },
	{ "PRE_TLS TLS ClientHello record", P_ENF4, 25, T_PRE_TLS, 0, "\x16\x03\x01\x00\x30hello", 10, 1, -1, SL_C_GUARD_PASS, 7 },
	{ "PRE_TLS TLS record, full-size segment", P_ENF4, 25, T_PRE_TLS, 0, tls_big, sizeof(tls_big), 1, -1, SL_C_GUARD_PASS, 7 },
	{ "PRE_TLS MAIL FROM", P_ENF4, 25, T_PRE_TLS, 0, "MAIL FROM:<a@b>\r\n", 0, 0, SL_R_PRETLS_VERB, SL_C_PRETLS_DROP, 7 },
	{ "PRE_TLS DATA", P_ENF4, 25, T_PRE_TLS, 0, "DATA\r\n", 0, 0, SL_R_PRETLS_VERB, SL_C_PRETLS_DROP, 7 },
	{ "PRE_TLS AUTH before TLS", P_ENF4, 25, T_PRE_TLS, 0, "AUTH PLAIN AGZvbwBiYXI=\r\n", 0, 0, SL_R_PRETLS_VERB, SL_C_PRETLS_DROP, 7 },
	{ "PRE_TLS EHLO + pipelined MAIL", P_ENF4, 25, T_PRE_TLS, 0, "EHLO x\r\nMAIL FROM:<a@b>\r\n", 0, 0, SL_R_PRETLS_VERB, SL_C_PRETLS_DROP, 7 },
	{ "PRE_TLS STARTTLS + pipelined bytes", P_ENF4, 25, T_PRE_TLS, 0, "STARTTLS\r\nRSET\r\n", 0, 0, SL_R_PRETLS_VERB, SL_C_PRETLS_DROP, 7 },
	{ "PRE_TLS EHLO with bare LF", P_ENF4, 25, T_PRE_TLS, 0, "EHLO x\n", 0, 0, SL_R_PRETLS_VERB, SL_C_PRETLS_DROP, 7 },
	{ "PRE_TLS EHLO without line end", P_ENF4, 25, T_PRE_TLS, 0, "EHLO mail", 0, 0, SL_R_PRETLS_VERB, SL_C_PRETLS_DROP, 7 },
	{ "PRE_TLS EHLO with NUL", P_ENF4, 25, T_PRE_TLS, 0, "EHLO a\0b\r\n", 10, 0, SL_R_PRETLS_VERB, SL_C_PRETLS_DROP, 7 },
	{ "PRE_TLS EHLO without name", P_ENF4, 25, T_PRE_TLS, 0, "EHLO\r\n", 0, 0, SL_R_PRETLS_VERB, SL_C_PRETLS_DROP, 7 },
	{ "PRE_TLS EHLOx (no space)", P_ENF4, 25, T_PRE_TLS, 0, "EHLOx\r\n", 0, 0, SL_R_PRETLS_VERB, SL_C_PRETLS_DROP, 7 },
	{ "PRE_TLS QUIT with argument", P_ENF4, 25, T_PRE_TLS, 0, "QUIT now\r\n", 0, 0, SL_R_PRETLS_VERB, SL_C_PRETLS_DROP, 7 },
	{ "PRE_TLS STARTTLS with argument", P_ENF4, 25, T_PRE_TLS, 0, "STARTTLS x\r\n", 0, 0, SL_R_PRETLS_VERB, SL_C_PRETLS_DROP, 7 },
	{ "PRE_TLS short segment", P_ENF4, 25, T_PRE_TLS, 0, "EH\r\n", 0, 0, SL_R_PRETLS_VERB, SL_C_PRETLS_DROP, 7 },
	{ "PRE_TLS over-long EHLO", P_ENF4, 25, T_PRE_TLS, 0, big_line, 0, 0, SL_R_PRETLS_LONG, SL_C_PRETLS_DROP, 7 },
	{ "PRE_TLS fake record version 3.5", P_ENF4, 25, T_PRE_TLS, 0, "\x16\x03\x05\x00\x10hello", 10, 0, SL_R_PRETLS_VERB, SL_C_PRETLS_DROP, 7 },
	{ "PRE_TLS fake record type 24", P_ENF4, 25, T_PRE_TLS, 0, "\x18\x03\x03\x00\x10hello", 10, 0, SL_R_PRETLS_VERB, SL_C_PRETLS_DROP, 7 },
	{ "PRE_TLS oversized record length", P_ENF4, 25, T_PRE_TLS, 0, "\x17\x03\x03\xff\xffhello", 10, 0, SL_R_PRETLS_VERB, SL_C_PRETLS_DROP, 7 },
	/* TLS */
	{ "TLS socket, anything", P_ENF4, 25, T_TLS, 0, "MAIL FROM:<a@b>\r\n", 0, 1, -1, SL_C_GUARD_PASS, 7 },
	/* testing mode */
	{ "testing: untagged counted, not dropped", P_TEST4, 25, T_UNTAGGED, 0, "MAIL FROM:<a@b>\r\n", 0, 1, SL_R_UNTAGGED, SL_C_WOULD_DROP, 9 },
	{ "testing: PRE_TLS MAIL counted, not dropped", P_TEST4, 25, T_PRE_TLS, 0, "MAIL FROM:<a@b>\r\n", 0, 1, SL_R_PRETLS_VERB, SL_C_WOULD_DROP, 9 },
};

/* ---- packets -------------------------------------------------------------- */

/* Headers are built in aligned locals and copied: after the 14-byte
 * Ethernet header nothing in buf is aligned. */
static size_t build(const struct gcase *c, uint8_t *buf, size_t cap)
{
	const char *pl = c->payload ? c->payload : "";
	size_t plen = c->payload ? (c->plen ? c->plen : strlen(pl)) : 0;
	bool v6 = strchr(c->dst, ':') != NULL;
	bool udp = c->shape == PK_UDP;
	struct ethhdr eth;
	size_t off = sizeof(eth), l4len;

	memset(buf, 0, cap);
	memset(&eth, 0, sizeof(eth));
	eth.h_proto = htons(v6 ? ETH_P_IPV6 : ETH_P_IP);
	memcpy(buf, &eth, sizeof(eth));
	l4len = (udp ? 8 : sizeof(struct tcphdr)) + plen;
	if (!v6) {
		struct iphdr ip;

		memset(&ip, 0, sizeof(ip));
		ip.version = 4;
		ip.ihl = 5;
		ip.ttl = 64;
		ip.protocol = udp ? IPPROTO_UDP : IPPROTO_TCP;
		ip.tot_len = htons((uint16_t)(sizeof(ip) + l4len));
		inet_pton(AF_INET, "10.35.0.1", &ip.saddr);
		inet_pton(AF_INET, c->dst, &ip.daddr);
		if (c->shape == PK_FRAG_MF)
			ip.frag_off = htons(0x2000);
		else if (c->shape == PK_FRAG_OFF)
			ip.frag_off = htons(0x0010);
		memcpy(buf + off, &ip, sizeof(ip));
		off += sizeof(ip);
	} else {
		struct ipv6hdr ip6;
		size_t ext = c->shape == PK_V6_HOPOPT || c->shape == PK_V6_FRAG ? 8 : 0;

		memset(&ip6, 0, sizeof(ip6));
		ip6.version = 6;
		ip6.hop_limit = 64;
		ip6.payload_len = htons((uint16_t)(ext + l4len));
		inet_pton(AF_INET6, "2001:db8:35::1", &ip6.saddr);
		inet_pton(AF_INET6, c->dst, &ip6.daddr);
		ip6.nexthdr = c->shape == PK_V6_HOPOPT ? 0 : c->shape == PK_V6_FRAG ? 44 : IPPROTO_TCP;
		memcpy(buf + off, &ip6, sizeof(ip6));
		off += sizeof(ip6);
		if (c->shape == PK_V6_HOPOPT) {
			buf[off] = IPPROTO_TCP;	/* next header */
			buf[off + 1] = 0;	/* length: 8 bytes in all */
			buf[off + 2] = 1;	/* PadN */
			buf[off + 3] = 4;
			off += 8;
		} else if (c->shape == PK_V6_FRAG) {
			buf[off] = IPPROTO_TCP;
			buf[off + 3] = 1;	/* M flag */
			off += 8;
		}
	}
	if (udp) {
		buf[off + 2] = (uint8_t)(c->dport >> 8);
		buf[off + 3] = (uint8_t)c->dport;
		off += 8;
	} else {
		struct tcphdr th;

		memset(&th, 0, sizeof(th));
		th.source = htons(40000);
		th.dest = htons(c->dport);
		th.doff = 5;
		th.ack = 1;
		th.psh = plen > 0;
		memcpy(buf + off, &th, sizeof(th));
		off += sizeof(th);
	}
	memcpy(buf + off, pl, plen);
	return off + plen;
}

/* ---- maps ------------------------------------------------------------------- */

static struct sl_dst_entry dst_entry(const char *addr, unsigned plen, uint32_t id, uint8_t mode,
				     const uint16_t *ports, unsigned n_ports)
{
	struct sl_dst_entry e;

	memset(&e, 0, sizeof(e));
	if (strchr(addr, ':')) {
		inet_pton(AF_INET6, addr, e.key.addr);
		e.key.prefixlen = plen;
	} else {
		e.key.addr[10] = e.key.addr[11] = 0xff;
		inet_pton(AF_INET, addr, &e.key.addr[12]);
		e.key.prefixlen = 96 + plen;
	}
	e.val.policy_id = id;
	e.val.mode = mode;
	e.val.n_ports = (uint8_t)n_ports;
	memcpy(e.val.ports, ports, n_ports * sizeof(*ports));
	return e;
}

static const uint16_t ports_25_587[] = { 25, 587 }, ports_25[] = { 25 };

static void desired(struct sl_dst_entry *e, struct sl_meta_entry *me)
{
	e[0] = dst_entry(P_ENF4, 32, 7, SL_MODE_ENFORCE, ports_25_587, 2);
	e[1] = dst_entry(P_ENF6, 64, 8, SL_MODE_ENFORCE, ports_25, 1);
	e[2] = dst_entry(P_TEST4, 32, 9, SL_MODE_TESTING, ports_25, 1);
	memset(me, 0, 3 * sizeof(*me));
	for (int i = 0; i < 3; i++) {
		me[i].id = 7 + (uint32_t)i;
		snprintf(me[i].meta.domain, sizeof(me[i].meta.domain), "p%d.test", 7 + i);
	}
}

/* Fill the unpinned maps of the guard_test object directly. */
static int fill_raw(struct guard_test *g)
{
	struct sl_dst_entry e[3];
	struct sl_meta_entry me[3];
	struct sl_port_set ps;
	__u32 zero = 0;

	desired(e, me);
	for (int i = 0; i < 3; i++)
		if (bpf_map_update_elem(bpf_map__fd(g->maps.dst_policy), &e[i].key, &e[i].val, BPF_ANY))
			return -errno;
	memset(&ps, 0, sizeof(ps));
	ps.bits[25 >> 6] |= 1ull << (25 & 63);
	ps.bits[587 >> 6] |= 1ull << (587 & 63);
	return bpf_map_update_elem(bpf_map__fd(g->maps.port_set), &zero, &ps, BPF_ANY) ? -errno : 0;
}

static struct sl_event last_ev;
static int n_ev;

static int on_rb(void *ctx, void *data, size_t size)
{
	(void)ctx;
	if (size >= sizeof(last_ev)) {
		memcpy(&last_ev, data, sizeof(last_ev));
		n_ev++;
	}
	return 0;
}

static uint64_t percpu_sum(int fd, uint32_t id, int counter)
{
	int ncpu = libbpf_num_possible_cpus();
	struct sl_counters *v = calloc((size_t)ncpu, sizeof(*v));
	uint64_t s = 0;

	if (v && bpf_map_lookup_elem(fd, &id, v) == 0)
		for (int c = 0; c < ncpu; c++)
			s += v[c].v[counter];
	free(v);
	return s;
}

/* Run one case; tag < 0: the production program (tag from the socket). */
static void run_case(const struct gcase *c, int prog_fd, int counters_fd, struct ring_buffer *rb,
		     volatile int *tagp, const char *what)
{
	uint8_t pkt[2048];
	size_t len = build(c, pkt, sizeof(pkt));
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = (__u32)len, .repeat = 1);
	uint64_t g0 = 0, p0 = 0;
	int r;

	if (tagp)
		*tagp = c->tag;
	if (c->want_counter >= 0) {
		g0 = percpu_sum(counters_fd, 0, c->want_counter);
		p0 = percpu_sum(counters_fd, c->policy, c->want_counter);
	}
	ring_buffer__consume(rb);
	n_ev = 0;
	r = bpf_prog_test_run_opts(prog_fd, &o);
	if (!tap_int(r, 0, "%s: %s: test run", what, c->name))
		return;
	tap_int(o.retval, c->want_ret, "%s: %s: %s", what, c->name, c->want_ret ? "passes" : "dropped");
	ring_buffer__consume(rb);
	if (c->want_reason < 0) {
		tap_int(n_ev, 0, "%s: %s: no event", what, c->name);
	} else if (tap_int(n_ev, 1, "%s: %s: one event", what, c->name)) {
		tap_str(sl_reason_name(last_ev.reason), sl_reason_name((unsigned)c->want_reason),
			"%s: %s: event reason", what, c->name);
		tap_int(last_ev.type, c->want_ret ? SL_EV_WOULD_DROP : SL_EV_GUARD_DROP,
			"%s: %s: event type", what, c->name);
		tap_int(last_ev.policy_id, c->policy, "%s: %s: event policy", what, c->name);
		bool frag = c->shape == PK_FRAG_MF || c->shape == PK_FRAG_OFF ||
			    c->shape == PK_V6_FRAG;

		tap_int(last_ev.dport, frag ? 0 : c->dport, "%s: %s: event port", what, c->name);
	}
	if (c->want_counter >= 0) {
		tap_int((long long)(percpu_sum(counters_fd, 0, c->want_counter) - g0), 1,
			"%s: %s: global %s +1", what, c->name, sl_counter_name((unsigned)c->want_counter));
		tap_int((long long)(percpu_sum(counters_fd, c->policy, c->want_counter) - p0), 1,
			"%s: %s: policy %u %s +1", what, c->name, c->policy,
			sl_counter_name((unsigned)c->want_counter));
	}
}

static void test_classifier(void)
{
	struct guard_test *g = guard_test__open_and_load();
	struct ring_buffer *rb;

	if (!tap_ok(g != NULL, "guard_test object loads (errno %d)", errno))
		return;
	if (!tap_int(fill_raw(g), 0, "guard_test maps filled")) {
		guard_test__destroy(g);
		return;
	}
	rb = ring_buffer__new(bpf_map__fd(g->maps.events), on_rb, NULL, NULL);
	tap_ok(rb != NULL, "guard_test ring buffer");
	for (size_t i = 0; rb && i < TAP_NELEM(cases); i++)
		run_case(&cases[i], bpf_program__fd(g->progs.sl_guard_test),
			 bpf_map__fd(g->maps.counters), rb, &g->bss->sl_test_tag, "classifier");
	ring_buffer__free(rb);
	guard_test__destroy(g);
}

/* The attached program itself, through lib/bpfmap: untagged cases only. */
static void test_production(void)
{
	struct sl_bpfmap_opts opts = { 0 };
	struct sl_dst_entry e[3];
	struct sl_meta_entry me[3];
	struct sl_desired d = { .dst = e, .n_dst = 3, .meta = me, .n_meta = 3 };
	struct sl_sync_stats st;
	struct sl_bpfmap *m = NULL;
	struct ring_buffer *rb;
	char pin[64];
	unsigned removed = 0;
	int r;

	snprintf(pin, sizeof(pin), "/sys/fs/bpf/sltunit%d", (int)getpid());
	opts.pin_path = pin;
	r = sl_bpfmap_load(&opts, &m);
	if (!tap_int(r, 0, "production object loads and pins under %s", pin))
		return;
	desired(e, me);
	r = sl_bpfmap_sync(m, &d, 0, &st);
	tap_int(r, 0, "sync of 3 entries");
	tap_int(st.added, 3, "sync: 3 added");
	rb = ring_buffer__new(sl_bpfmap_map_fd(m, SL_MAP_EVENTS), on_rb, NULL, NULL);
	for (size_t i = 0; rb && i < TAP_NELEM(cases); i++)
		if (cases[i].tag == T_UNTAGGED)
			run_case(&cases[i], sl_bpfmap_prog_fd(m, SL_PROG_EGRESS),
				 sl_bpfmap_map_fd(m, SL_MAP_COUNTERS), rb, NULL, "sl_egress");
	ring_buffer__free(rb);
	m = sl_bpfmap_free(m);
	tap_int(sl_bpfmap_unload(pin, &removed), 0, "unload removes the pins");
	tap_int(removed, SL_MAP__COUNT, "unload: every map pin (no links were made)");
	tap_ok(access(pin, F_OK) < 0, "unload: pin directory gone");
}

int main(void)
{
	memcpy(big_line, "EHLO ", 5);
	memset(big_line + 5, 'a', sizeof(big_line) - 8);
	memcpy(big_line + sizeof(big_line) - 3, "\r\n", 3);
	memset(tls_big, 'x', sizeof(tls_big));
	memcpy(tls_big, "\x17\x03\x03\x40\x00", 5);

	if (geteuid() != 0) {
		tap_ok(false, "test_guard needs root (BPF_PROG_TEST_RUN)");
		return tap_done();
	}
	test_classifier();
	test_production();
	return tap_done();
}

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * guard.bpf.h — the egress guard: the fail-closed half of the outbound
 * lock.  Every TCP segment with payload toward a listed address and port
 * is checked against the sending socket's tag:
 *
 *	untagged	→ DROP (untagged_payload)
 *	PRE_TLS		→ one EHLO/HELO/STARTTLS/QUIT/RSET/NOOP line, or a
 *			  segment starting with a TLS record header, else DROP
 *	TLS		→ PASS
 *	anything else	→ DROP (unknown_socket_tag)
 *
 * IP fragments toward a listed address are dropped whatever the port (a
 * fragment hides the TCP header; the local stack never fragments TCP).
 * In testing mode a DROP becomes COUNT.
 *
 * Cost for traffic that is not ours: one header parse and one bit test
 * (the port set) before any LPM lookup.
 */
#ifndef SL_GUARD_BPF_H
#define SL_GUARD_BPF_H

#include "verdict.bpf.h"

#define SL_ETH_P_IP	0x0800
#define SL_ETH_P_IPV6	0x86DD

/* Tag argument of sl_guard_skb(): read the tag from the socket. */
#define SL_TAG_FROM_SOCKET	(-1)

struct sl_pkt {
	__u8 saddr[16];		/* IPv4-mapped for IPv4 */
	__u8 daddr[16];
	__u16 family;		/* AF_INET / AF_INET6 */
	__u16 sport, dport;	/* host order */
	__u8 fragment;		/* an IP fragment: no usable TCP header */
	__u8 pad;
	__u32 payload_off;	/* from the network header */
	__u32 payload_len;
};

/*
 * The fast exit, with direct packet access: true when the packet is
 * certainly not ours — not TCP, a TCP port outside the port set, or no
 * payload.  Anything it cannot decide on the spot (headers beyond the
 * linear area, IP options, fragments, IPv6 extension headers) goes to
 * the full parse below, which decides fail-closed.
 */
static __always_inline int sl_fast_not_ours(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct tcphdr *th;
	__u32 l3;
	__u8 *v = data;

	if ((void *)(v + 1) > end)
		return 0;
	if ((*v >> 4) == 4) {
		struct iphdr *ip = data;

		if ((void *)(ip + 1) > end)
			return 0;
		if (ip->protocol != IPPROTO_TCP)
			return 1;
		if (ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3fff)))
			return 0;
		th = (void *)(ip + 1);
		l3 = sizeof(*ip);
	} else if ((*v >> 4) == 6) {
		struct ipv6hdr *ip6 = data;

		if ((void *)(ip6 + 1) > end || ip6->nexthdr != IPPROTO_TCP)
			return 0;
		th = (void *)(ip6 + 1);
		l3 = sizeof(*ip6);
	} else {
		return 1;
	}
	if ((void *)(th + 1) > end)
		return 0;
	return skb->len <= l3 + th->doff * 4 || !sl_port_in_set(bpf_ntohs(th->dest));
}

/* Parse IPv4/IPv6 + TCP.  Returns 0 for TCP (or a TCP fragment), -1 else. */
static __always_inline int sl_pkt_parse(struct __sk_buff *skb, struct sl_pkt *pk)
{
	struct tcphdr th;
	__u32 l4off;
	__u8 ver;

	if (bpf_skb_load_bytes(skb, 0, &ver, 1))
		return -1;
	if ((ver >> 4) == 4) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return -1;
		if (ip.protocol != IPPROTO_TCP || ip.ihl < 5)
			return -1;
		pk->family = AF_INET;
		sl_mapped4(pk->saddr, ip.saddr);
		sl_mapped4(pk->daddr, ip.daddr);
		if (ip.frag_off & bpf_htons(0x3fff)) {	/* MF or an offset */
			pk->fragment = 1;
			return 0;
		}
		l4off = ip.ihl * 4;
	} else if ((ver >> 4) == 6) {
		struct ipv6hdr ip6;
		__u8 nh;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return -1;
		pk->family = AF_INET6;
		__builtin_memcpy(pk->saddr, &ip6.saddr, 16);
		__builtin_memcpy(pk->daddr, &ip6.daddr, 16);
		nh = ip6.nexthdr;
		l4off = sizeof(ip6);
		/* Skip the extension headers a TCP segment may carry. */
#pragma unroll
		for (int i = 0; i < 4; i++) {
			__u8 ext[2];

			if (nh == IPPROTO_TCP)
				break;
			if (nh == 44) {		/* fragment header */
				if (bpf_skb_load_bytes(skb, l4off, ext, 2) || ext[0] != IPPROTO_TCP)
					return -1;
				pk->fragment = 1;
				return 0;
			}
			if (nh != 0 && nh != 43 && nh != 60 && nh != 51)
				return -1;	/* not TCP */
			if (bpf_skb_load_bytes(skb, l4off, ext, 2))
				return -1;
			l4off += nh == 51 ? ((__u32)ext[1] + 2) * 4 : ((__u32)ext[1] + 1) * 8;
			nh = ext[0];
		}
		if (nh != IPPROTO_TCP)
			return -1;
	} else {
		return -1;
	}
	if (bpf_skb_load_bytes(skb, l4off, &th, sizeof(th)))
		return -1;
	pk->sport = bpf_ntohs(th.source);
	pk->dport = bpf_ntohs(th.dest);
	pk->payload_off = l4off + th.doff * 4;
	pk->payload_len = skb->len > pk->payload_off ? skb->len - pk->payload_off : 0;
	return 0;
}

static __always_inline __u32 sl_fold4(const __u8 *b)
{
	/* Upper-case four bytes at once; only letters map onto letters. */
	return ((__u32)b[0] | (__u32)b[1] << 8 | (__u32)b[2] << 16 | (__u32)b[3] << 24) &
	       ~0x20202020u;
}

#define SL_W(a, b, c, d) ((__u32)(a) | (__u32)(b) << 8 | (__u32)(c) << 16 | (__u32)(d) << 24)

/*
 * One PRE_TLS command line in b[0..len): the whole segment must be exactly
 * one allowed command, printable ASCII, ending in the only CRLF.  Pipelined
 * commands, bare LF, NUL or any other verb are refused.
 */
static __always_inline __u8 sl_pretls_line(const __u8 *b, __u64 len)
{
	__u32 verb;

	asm volatile("" : "+r"(len));	/* bound the register used below */
	if (len < 6 || len > SL_PRETLS_MAX_LINE)
		return len > SL_PRETLS_MAX_LINE ? SL_R_PRETLS_LONG : SL_R_PRETLS_VERB;
	if (b[len - 2] != '\r' || b[len - 1] != '\n')
		return SL_R_PRETLS_VERB;
	verb = sl_fold4(b);
	if (verb == SL_W('E', 'H', 'L', 'O') || verb == SL_W('H', 'E', 'L', 'O')) {
		if (len < 8 || b[4] != ' ')	/* "EHLO x\r\n" at least */
			return SL_R_PRETLS_VERB;
	} else if (verb == SL_W('N', 'O', 'O', 'P')) {
		if (len != 6 && b[4] != ' ')
			return SL_R_PRETLS_VERB;
	} else if (verb == SL_W('Q', 'U', 'I', 'T') || verb == SL_W('R', 'S', 'E', 'T')) {
		if (len != 6)
			return SL_R_PRETLS_VERB;
	} else if (verb == SL_W('S', 'T', 'A', 'R')) {
		if (len != 10 || sl_fold4(&b[4]) != SL_W('T', 'T', 'L', 'S'))
			return SL_R_PRETLS_VERB;
	} else {
		return SL_R_PRETLS_VERB;
	}
	for (__u64 i = 4; i < SL_PRETLS_MAX_LINE - 2; i++) {
		__u8 c;

		if (i >= len - 2)
			break;
		c = b[i];
		if (c < 0x20 || c > 0x7e)
			return SL_R_PRETLS_VERB;
	}
	return SL_R_NONE;
}

/* A PRE_TLS segment: a TLS record header, or one allowed command line. */
static __always_inline __u8 sl_pretls_check(struct __sk_buff *skb, const struct sl_pkt *pk)
{
	struct sl_line_buf *buf;
	__u32 zero = 0, len = pk->payload_len;
	__u64 n;
	__u8 h[5];

	if (len >= 5) {
		if (bpf_skb_load_bytes(skb, pk->payload_off, h, sizeof(h)))
			return SL_R_PRETLS_VERB;
		/* ChangeCipherSpec, Alert, Handshake, ApplicationData; SSL3..TLS1.3
		 * record version; a record length TLS allows. */
		if (h[0] >= 20 && h[0] <= 23 && h[1] == 3 && h[2] <= 4 &&
		    ((__u32)h[3] << 8 | h[4]) <= 16384 + 2048)
			return SL_R_NONE;
	}
	if (len > SL_PRETLS_MAX_LINE)
		return SL_R_PRETLS_LONG;
	if (len < 6)
		return SL_R_PRETLS_VERB;
	buf = bpf_map_lookup_elem(&scratch, &zero);
	if (!buf)
		return SL_R_PRETLS_VERB;
	/* Bound a 64-bit copy in the register clang passes to the helper, so
	 * the verifier sees the bound (clang would reuse an unchecked one). */
	n = len;
	asm volatile("" : "+r"(n));
	if (n < 6 || n > SL_PRETLS_MAX_LINE)
		return SL_R_PRETLS_VERB;
	if (bpf_skb_load_bytes(skb, pk->payload_off, buf->b, n))
		return SL_R_PRETLS_VERB;
	return sl_pretls_line(buf->b, n);
}

static __always_inline void sl_guard_event(struct __sk_buff *skb, const struct sl_pkt *pk,
					   const struct sl_decision *d,
					   const struct sl_sock_state *st)
{
	struct sl_event *ev;

	ev = sl_event_new(d->verdict == SL_V_COUNT ? SL_EV_WOULD_DROP : SL_EV_GUARD_DROP, d);
	if (!ev)
		return;
	ev->cgroup_id = bpf_skb_cgroup_id(skb);
	ev->cookie = bpf_get_socket_cookie(skb);
	ev->family = pk->family;
	ev->sport = pk->sport;
	ev->dport = pk->dport;
	__builtin_memcpy(ev->saddr, pk->saddr, 16);
	__builtin_memcpy(ev->daddr, pk->daddr, 16);
	sl_event_owner(ev, st);
	bpf_ringbuf_submit(ev, 0);
}

/*
 * The guard.  tag is SL_TAG_FROM_SOCKET in the attached program; the unit
 * tests' object (guard_test.bpf.c) passes a fixed tag, since a test run's
 * skb has a throw-away socket without storage.
 */
static __always_inline int sl_guard_skb(struct __sk_buff *skb, int tag)
{
	struct sl_decision d = { .verdict = SL_V_PASS };
	const struct sl_sock_state *st = NULL;
	const struct sl_dst_val *dst;
	struct sl_pkt pk = {};

	if (sl_fast_not_ours(skb))
		return sl_hook_ret(SL_V_PASS);
	if (sl_pkt_parse(skb, &pk) < 0)
		return sl_hook_ret(SL_V_PASS);
	if (!pk.fragment && (pk.payload_len == 0 || !sl_port_in_set(pk.dport)))
		return sl_hook_ret(SL_V_PASS);
	dst = sl_dst_lookup(pk.daddr);
	if (!dst || (!pk.fragment && !sl_port_listed(dst, pk.dport)))
		return sl_hook_ret(SL_V_PASS);
	d.policy_id = dst->policy_id;
	d.mode = dst->mode;

	if (tag == SL_TAG_FROM_SOCKET) {
		struct bpf_sock *sk = skb->sk;

		if (sk)
			sk = bpf_sk_fullsock(sk);
		if (sk)
			st = bpf_sk_storage_get(&sock_state, sk, 0, 0);
		tag = st ? (int)st->tag : SL_SOCK_UNTAGGED;
	}

	if (pk.fragment) {
		d.verdict = SL_V_DROP;
		d.reason = SL_R_FRAGMENT;
		d.counter = SL_C_GUARD_DROP;
	} else if (tag == SL_SOCK_TLS) {
		d.counter = SL_C_GUARD_PASS;
	} else if (tag == SL_SOCK_PRE_TLS) {
		d.reason = sl_pretls_check(skb, &pk);
		if (d.reason == SL_R_NONE) {
			d.counter = SL_C_GUARD_PASS;
		} else {
			d.verdict = SL_V_DROP;
			d.counter = SL_C_PRETLS_DROP;
		}
	} else {
		/* Untagged, or a tag this program does not know: never plaintext. */
		d.verdict = SL_V_DROP;
		d.reason = tag == SL_SOCK_UNTAGGED ? SL_R_UNTAGGED : SL_R_BAD_TAG;
		d.counter = SL_C_GUARD_DROP;
	}

	sl_decide_mode(&d);
	sl_count(d.policy_id, d.counter);
	if (d.verdict != SL_V_PASS)
		sl_guard_event(skb, &pk, &d, st);
	return sl_hook_ret(d.verdict);
}

#endif /* SL_GUARD_BPF_H */

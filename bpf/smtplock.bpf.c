// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * smtplock.bpf.c — the kernel half of the outbound and inbound locks.
 *
 *  sl_connect4/6	connect() from an untagged socket to a listed address
 *			and port → rewritten to the controller's listener; the
 *			original destination is kept in sk_orig storage.  A
 *			listed destination with no listener configured is
 *			refused (enforce) — never sent direct.
 *  sl_getpeername4/6	the MTA sees the partner, not the controller.
 *  sl_sockops		at TCP connect, publish the original destination
 *			under the client tuple (orig_dst) for the controller.
 *  sl_egress		the guard (guard.bpf.h).
 *  sl_inbound_lookup	sk_lookup: partner SYNs to the inbound port → the
 *			controller's inbound listener; none → refused (enforce).
 *
 * The maps (maps.bpf.h) are pinned by lib/bpfmap.c and outlive the
 * controller: with the controller gone, redirected connects hit a closed
 * port (refused) and the guard still drops plaintext.
 */
#include "guard.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Remember who connects to an SMTP port of an unlisted address. */
static __always_inline void sl_owner_record(struct bpf_sock_addr *ctx)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);
	__u32 slot = (__u32)cookie & (SL_MAX_OWNERS - 1);
	struct sl_owner *o = bpf_map_lookup_elem(&sk_owner, &slot);

	if (!o)
		return;
	o->cookie = cookie;
	o->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(o->comm, sizeof(o->comm));
}

/* connect() runs in the caller's context: "current" is the owner. */
static __always_inline void sl_connect_refused_event(const struct sl_decision *d,
						     const __u8 daddr[16], __u16 dport,
						     __u16 family)
{
	struct sl_event *ev;

	ev = sl_event_new(SL_EV_CONNECT_REFUSED, d);
	if (!ev)
		return;
	ev->cgroup_id = bpf_get_current_cgroup_id();
	ev->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(ev->comm, sizeof(ev->comm));
	ev->family = family;
	ev->dport = dport;
	__builtin_memcpy(ev->daddr, daddr, 16);
	bpf_ringbuf_submit(ev, 0);
}

/*
 * Where a socket of this family, going to daddr, is redirected: the
 * listener of the destination's family when there is one, else the other
 * (an AF_INET6 socket reaches the IPv4 listener as ::ffff:a.b.c.d; with
 * IPV6_V6ONLY that connect() fails, which fails closed).  -1: none.
 */
static __always_inline int sl_target(const struct sl_config *cfg, int sock_family,
				     const __u8 daddr[16], __u8 taddr[16], __u16 *tport)
{
	int have4 = cfg->flags & SL_CFG_HAVE_LISTEN4;
	int have6 = cfg->flags & SL_CFG_HAVE_LISTEN6;
	int use6;

	if (sock_family == AF_INET)
		use6 = 0;
	else if (sl_is_mapped(daddr))
		use6 = !have4;
	else
		use6 = !!have6;
	if (use6 ? !have6 : !have4)
		return -1;
	__builtin_memcpy(taddr, use6 ? cfg->listen6 : cfg->listen4, 16);
	*tport = use6 ? cfg->port6 : cfg->port4;
	return 0;
}

/*
 * The redirect decision, shared by connect4 and connect6.  daddr is the
 * destination in the 16-byte form; on REDIRECT taddr/tport hold the
 * listener to write back into the context.
 */
static __always_inline struct sl_decision sl_connect(struct bpf_sock_addr *ctx, int sock_family,
						     const __u8 daddr[16], __u16 dport,
						     __u8 taddr[16], __u16 *tport)
{
	struct sl_decision d = { .verdict = SL_V_PASS };
	const struct sl_dst_val *dst;
	const struct sl_config *cfg;
	const struct sl_sock_state *st;
	struct sl_sk_orig *so;
	struct bpf_sock *sk = ctx->sk;
	__u32 zero = 0;

	if (!sk)
		return d;
	dst = sl_dst_lookup(daddr);
	if (!dst || !sl_port_listed(dst, dport)) {
		sl_owner_record(ctx);
		return d;
	}
	st = bpf_sk_storage_get(&sock_state, sk, 0, 0);
	if (st && st->tag != SL_SOCK_UNTAGGED)
		return d;	/* the controller's own upstream socket */
	d.policy_id = dst->policy_id;
	d.mode = dst->mode;

	cfg = bpf_map_lookup_elem(&sl_config, &zero);
	if (!cfg || sl_target(cfg, sock_family, daddr, taddr, tport) < 0) {
		/* Listed, but nowhere to redirect: refuse, never go direct. */
		d.verdict = SL_V_DROP;
		d.reason = SL_R_NO_CONTROLLER;
		d.counter = SL_C_CONNECT_REFUSED;
		goto out;
	}
	so = bpf_sk_storage_get(&sk_orig, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!so) {
		d.verdict = SL_V_DROP;
		d.reason = SL_R_NO_MEMORY;
		d.counter = SL_C_CONNECT_REFUSED;
		goto out;
	}
	__builtin_memcpy(so->orig.addr, daddr, 16);
	so->orig.port = dport;
	so->orig.family = sl_is_mapped(daddr) ? AF_INET : AF_INET6;
	so->orig.policy_id = dst->policy_id;
	so->orig.cookie = bpf_get_socket_cookie(ctx);
	so->orig.pid = bpf_get_current_pid_tgid() >> 32;
	d.verdict = SL_V_REDIRECT;
	d.counter = SL_C_REDIRECTED;
out:
	sl_decide_mode(&d);
	sl_count(d.policy_id, d.counter);
	if (d.verdict == SL_V_DROP || d.verdict == SL_V_COUNT)
		sl_connect_refused_event(&d, daddr, dport, sock_family);
	return d;
}

SEC("cgroup/connect4")
int sl_connect4(struct bpf_sock_addr *ctx)
{
	struct sl_decision d;
	__u8 daddr[16], taddr[16];
	__u16 dport, tport = 0;
	__u32 ip;

	if (ctx->type != SOCK_STREAM)
		return sl_hook_ret(SL_V_PASS);
	dport = bpf_ntohs(ctx->user_port);
	if (!sl_port_in_set(dport))
		return sl_hook_ret(SL_V_PASS);
	sl_mapped4(daddr, ctx->user_ip4);
	d = sl_connect(ctx, AF_INET, daddr, dport, taddr, &tport);
	if (d.verdict == SL_V_REDIRECT) {
		__builtin_memcpy(&ip, &taddr[12], 4);
		ctx->user_ip4 = ip;
		ctx->user_port = bpf_htons(tport);
	}
	return sl_hook_ret(d.verdict);
}

SEC("cgroup/connect6")
int sl_connect6(struct bpf_sock_addr *ctx)
{
	struct sl_decision d;
	__u8 daddr[16], taddr[16];
	__u16 dport, tport = 0;
	__u32 w[4];

	if (ctx->type != SOCK_STREAM)
		return sl_hook_ret(SL_V_PASS);
	dport = bpf_ntohs(ctx->user_port);
	if (!sl_port_in_set(dport))
		return sl_hook_ret(SL_V_PASS);
	/* user_ip6 is read and written one __u32 at a time. */
	w[0] = ctx->user_ip6[0];
	w[1] = ctx->user_ip6[1];
	w[2] = ctx->user_ip6[2];
	w[3] = ctx->user_ip6[3];
	__builtin_memcpy(daddr, w, 16);
	d = sl_connect(ctx, AF_INET6, daddr, dport, taddr, &tport);
	if (d.verdict == SL_V_REDIRECT) {
		__builtin_memcpy(w, taddr, 16);
		ctx->user_ip6[0] = w[0];
		ctx->user_ip6[1] = w[1];
		ctx->user_ip6[2] = w[2];
		ctx->user_ip6[3] = w[3];
		ctx->user_port = bpf_htons(tport);
	}
	return sl_hook_ret(d.verdict);
}

/*
 * getpeername(): when the peer is the controller's listener and the socket
 * was redirected, answer with the original destination.  Comparing with
 * the listener first keeps a reused socket from reporting a stale record.
 */
SEC("cgroup/getpeername4")
int sl_getpeername4(struct bpf_sock_addr *ctx)
{
	const struct sl_config *cfg;
	const struct sl_sk_orig *so;
	__u32 zero = 0, ip;

	cfg = bpf_map_lookup_elem(&sl_config, &zero);
	if (!cfg || !(cfg->flags & SL_CFG_HAVE_LISTEN4) || !ctx->sk)
		return sl_hook_ret(SL_V_PASS);
	__builtin_memcpy(&ip, &cfg->listen4[12], 4);
	if (ctx->user_ip4 != ip || ctx->user_port != bpf_htons(cfg->port4))
		return sl_hook_ret(SL_V_PASS);
	so = bpf_sk_storage_get(&sk_orig, ctx->sk, 0, 0);
	if (!so || so->orig.family != AF_INET)
		return sl_hook_ret(SL_V_PASS);
	__builtin_memcpy(&ip, &so->orig.addr[12], 4);
	ctx->user_ip4 = ip;
	ctx->user_port = bpf_htons(so->orig.port);
	return sl_hook_ret(SL_V_PASS);
}

SEC("cgroup/getpeername6")
int sl_getpeername6(struct bpf_sock_addr *ctx)
{
	const struct sl_config *cfg;
	const struct sl_sk_orig *so;
	__u32 zero = 0, w[4], l[4];
	__u16 port = bpf_ntohs(ctx->user_port);
	int hit = 0;

	cfg = bpf_map_lookup_elem(&sl_config, &zero);
	if (!cfg || !ctx->sk)
		return sl_hook_ret(SL_V_PASS);
	w[0] = ctx->user_ip6[0];
	w[1] = ctx->user_ip6[1];
	w[2] = ctx->user_ip6[2];
	w[3] = ctx->user_ip6[3];
	if ((cfg->flags & SL_CFG_HAVE_LISTEN4) && port == cfg->port4) {
		__builtin_memcpy(l, cfg->listen4, 16);
		hit = w[0] == l[0] && w[1] == l[1] && w[2] == l[2] && w[3] == l[3];
	}
	if (!hit && (cfg->flags & SL_CFG_HAVE_LISTEN6) && port == cfg->port6) {
		__builtin_memcpy(l, cfg->listen6, 16);
		hit = w[0] == l[0] && w[1] == l[1] && w[2] == l[2] && w[3] == l[3];
	}
	if (!hit)
		return sl_hook_ret(SL_V_PASS);
	so = bpf_sk_storage_get(&sk_orig, ctx->sk, 0, 0);
	if (!so)
		return sl_hook_ret(SL_V_PASS);
	__builtin_memcpy(w, so->orig.addr, 16);
	ctx->user_ip6[0] = w[0];
	ctx->user_ip6[1] = w[1];
	ctx->user_ip6[2] = w[2];
	ctx->user_ip6[3] = w[3];
	ctx->user_port = bpf_htons(so->orig.port);
	return sl_hook_ret(SL_V_PASS);
}

/*
 * TCP_CONNECT_CB runs in tcp_connect(), after the local port is chosen and
 * before the SYN leaves: the entry exists before the controller can
 * accept().  For an AF_INET6 socket talking IPv4 the IPv6 view of the
 * local address is not filled in yet at this point; local_ip4 is.
 */
SEC("sockops")
int sl_sockops(struct bpf_sock_ops *skops)
{
	struct sl_tuple_key key = {};
	const struct sl_sk_orig *so;
	struct bpf_sock *sk;
	__u32 r[4];

	if (skops->op != BPF_SOCK_OPS_TCP_CONNECT_CB)
		return 1;
	sk = skops->sk;
	if (!sk)
		return 1;
	so = bpf_sk_storage_get(&sk_orig, sk, 0, 0);
	if (!so)
		return 1;
	r[0] = skops->remote_ip6[0];
	r[1] = skops->remote_ip6[1];
	r[2] = skops->remote_ip6[2];
	if (skops->family == AF_INET ||
	    (r[0] == 0 && r[1] == 0 && r[2] == bpf_htonl(0x0000ffff))) {
		sl_mapped4(key.addr, skops->local_ip4);
		key.family = AF_INET;
	} else {
		__u32 w[4];

		w[0] = skops->local_ip6[0];
		w[1] = skops->local_ip6[1];
		w[2] = skops->local_ip6[2];
		w[3] = skops->local_ip6[3];
		__builtin_memcpy(key.addr, w, 16);
		key.family = AF_INET6;
	}
	key.port = (__u16)skops->local_port;
	bpf_map_update_elem(&orig_dst, &key, &so->orig, BPF_ANY);
	return 1;
}

SEC("cgroup_skb/egress")
int sl_egress(struct __sk_buff *skb)
{
	return sl_guard_skb(skb, SL_TAG_FROM_SOCKET);
}

/*
 * Inbound: a SYN to sl_config.inbound_port from a partner source goes to
 * the controller's inbound listener (slot by family).  No listener: in
 * enforce mode the lookup fails (SK_DROP; TCP then answers with a reset),
 * so the partner defers and retries later instead of reaching the local
 * MTA without TLS.
 */
SEC("sk_lookup")
int sl_inbound_lookup(struct bpf_sk_lookup *ctx)
{
	struct sl_decision d = { .verdict = SL_V_PASS };
	struct sl_lpm_key key = { .prefixlen = 128 };
	const struct sl_config *cfg;
	const struct sl_src_val *src;
	struct bpf_sock *sk;
	struct sl_event *ev;
	__u32 zero = 0, slot;

	if (ctx->protocol != IPPROTO_TCP)
		return sl_hook_ret(SL_V_PASS);
	cfg = bpf_map_lookup_elem(&sl_config, &zero);
	if (!cfg || !(cfg->flags & SL_CFG_INBOUND) || ctx->local_port != cfg->inbound_port)
		return sl_hook_ret(SL_V_PASS);
	if (ctx->family == AF_INET) {
		sl_mapped4(key.addr, ctx->remote_ip4);
		slot = SL_INBOUND_LISTEN4;
	} else {
		__u32 w[4];

		w[0] = ctx->remote_ip6[0];
		w[1] = ctx->remote_ip6[1];
		w[2] = ctx->remote_ip6[2];
		w[3] = ctx->remote_ip6[3];
		__builtin_memcpy(key.addr, w, 16);
		slot = SL_INBOUND_LISTEN6;
	}
	src = bpf_map_lookup_elem(&src_policy, &key);
	if (!src)
		return sl_hook_ret(SL_V_PASS);
	d.policy_id = src->policy_id;
	d.mode = src->mode;

	sk = bpf_map_lookup_elem(&inbound_sock, &slot);
	if (sk) {
		long err = bpf_sk_assign(ctx, sk, 0);

		bpf_sk_release(sk);
		if (!err) {
			d.counter = SL_C_INBOUND_STEERED;
			sl_count(d.policy_id, d.counter);
			return sl_hook_ret(SL_V_PASS);
		}
	}
	d.verdict = SL_V_DROP;
	d.reason = SL_R_NO_LISTENER;
	d.counter = SL_C_INBOUND_REFUSED;
	sl_decide_mode(&d);
	sl_count(d.policy_id, d.counter);
	ev = sl_event_new(SL_EV_INBOUND_REFUSED, &d);
	if (ev) {
		ev->family = ctx->family;
		ev->sport = bpf_ntohs(ctx->remote_port);
		ev->dport = ctx->local_port;
		__builtin_memcpy(ev->saddr, key.addr, 16);
		bpf_ringbuf_submit(ev, 0);
	}
	return sl_hook_ret(d.verdict);
}

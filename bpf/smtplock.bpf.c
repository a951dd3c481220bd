// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * smtplock.bpf.c — the outbound lock's kernel half.
 *
 * sl_connect4: connect() from an untagged socket to a listed destination
 * and port is rewritten to the controller's listener.  This is the first
 * program of the outbound lock; the guard, getpeername, sockops and the
 * IPv6 variants build on the same maps.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "smtplock.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SL_MAX_PREFIXES);
	__type(key, struct sl_lpm_key);
	__type(value, struct sl_dst_val);
} dst_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sl_config);
} sl_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sl_sock_state);
} sock_state SEC(".maps");

static __always_inline int sl_port_listed(const struct sl_dst_val *v, __u16 port)
{
#pragma unroll
	for (int i = 0; i < SL_MAX_PORTS; i++)
		if (i < v->n_ports && v->ports[i] == port)
			return 1;
	return 0;
}

SEC("cgroup/connect4")
int sl_connect4(struct bpf_sock_addr *ctx)
{
	struct sl_lpm_key key = { .prefixlen = 128 };
	const struct sl_dst_val *dst;
	const struct sl_sock_state *st;
	const struct sl_config *cfg;
	__u32 zero = 0;
	__u32 ip = ctx->user_ip4;

	if (ctx->type != SOCK_STREAM)
		return 1;
	key.addr[10] = 0xff;
	key.addr[11] = 0xff;
	__builtin_memcpy(&key.addr[12], &ip, 4);
	dst = bpf_map_lookup_elem(&dst_policy, &key);
	if (!dst || !sl_port_listed(dst, bpf_ntohs(ctx->user_port)))
		return 1;
	if (ctx->sk) {
		st = bpf_sk_storage_get(&sock_state, ctx->sk, 0, 0);
		if (st && st->tag != SL_SOCK_UNTAGGED)
			return 1;	/* the controller's own upstream socket */
	}
	cfg = bpf_map_lookup_elem(&sl_config, &zero);
	if (!cfg || !(cfg->flags & SL_CFG_HAVE_LISTEN4))
		return 1;
	__builtin_memcpy(&ip, &cfg->listen4[12], 4);
	ctx->user_ip4 = ip;
	ctx->user_port = bpf_htons(cfg->port4);
	return 1;
}

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * verdict.bpf.h — decisions, counters and events, shared by every hook.
 *
 * A hook computes a struct sl_decision (verdict + reason + policy id),
 * passes it through sl_decide_mode() (testing mode turns DROP into COUNT)
 * and sl_account() (counters and the event), and returns
 * sl_hook_ret(verdict): the one place where a decision becomes the
 * hook's return value.
 */
#ifndef SL_VERDICT_BPF_H
#define SL_VERDICT_BPF_H

#include "maps.bpf.h"

struct sl_decision {
	__u8 verdict;		/* enum sl_verdict */
	__u8 reason;		/* enum sl_reason */
	__u8 mode;		/* enum sl_mode of the matching entry */
	__u8 counter;		/* enum sl_counter to bump for DROP/REDIRECT/PASS */
	__u32 policy_id;	/* 0 = none matched */
};

/*
 * The hook return value.  cgroup sock_addr and cgroup_skb: 1 = allow,
 * 0 = deny; sk_lookup: SK_PASS = 1, SK_DROP = 0.  Fail closed: anything
 * that is not an explicit allow denies.
 */
static __always_inline int sl_hook_ret(__u8 verdict)
{
	switch (verdict) {
	case SL_V_PASS:
	case SL_V_REDIRECT:
	case SL_V_COUNT:
		return 1;
	case SL_V_DROP:
	default:
		return 0;
	}
}

/* Testing mode: what would be dropped is counted, reported and allowed. */
static __always_inline void sl_decide_mode(struct sl_decision *d)
{
	if (d->verdict == SL_V_DROP && d->mode == SL_MODE_TESTING) {
		d->verdict = SL_V_COUNT;
		d->counter = SL_C_WOULD_DROP;
	}
}

static __always_inline void sl_count_one(__u32 idx, __u32 counter)
{
	struct sl_counters *c;

	c = bpf_map_lookup_elem(&counters, &idx);
	if (c && counter < SL_C__COUNT)
		c->v[counter]++;
}

/* Per-CPU counters: the global total (index 0) and the policy's own. */
static __always_inline void sl_count(__u32 policy_id, __u32 counter)
{
	sl_count_one(0, counter);
	if (policy_id && policy_id < SL_MAX_POLICIES)
		sl_count_one(policy_id, counter);
}

/* Reserve an event; the caller fills the addresses and submits it. */
static __always_inline struct sl_event *sl_event_new(__u8 type, const struct sl_decision *d)
{
	struct sl_event *ev;

	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev)
		return NULL;	/* the counter still records it */
	__builtin_memset(ev, 0, sizeof(*ev));
	ev->ts_ns = bpf_ktime_get_ns();
	ev->type = type;
	ev->reason = d->reason;
	ev->policy_id = d->policy_id;
	return ev;
}

/* Who to name in an event: the tagger (sock_state), else the owner
 * recorded at connect time (sk_owner, by cookie), else nobody. */
static __always_inline void sl_event_owner(struct sl_event *ev, const struct sl_sock_state *st)
{
	const struct sl_owner *o;
	__u32 slot;

	if (st) {
		ev->pid = st->owner_pid;
		__builtin_memcpy(ev->comm, st->owner_comm, sizeof(ev->comm));
		return;
	}
	if (!ev->cookie)
		return;
	slot = (__u32)ev->cookie & (SL_MAX_OWNERS - 1);
	o = bpf_map_lookup_elem(&sk_owner, &slot);
	if (o && o->cookie == ev->cookie) {
		ev->pid = o->pid;
		__builtin_memcpy(ev->comm, o->comm, sizeof(ev->comm));
	}
}

static __always_inline void sl_mapped4(__u8 out[16], __u32 ip_be)
{
	__builtin_memset(out, 0, 10);
	out[10] = 0xff;
	out[11] = 0xff;
	__builtin_memcpy(&out[12], &ip_be, 4);
}

static __always_inline int sl_is_mapped(const __u8 a[16])
{
	__u64 lo;
	__u32 mid;

	__builtin_memcpy(&lo, a, 8);
	__builtin_memcpy(&mid, &a[8], 4);
	return lo == 0 && mid == bpf_htonl(0x0000ffff);
}

static __always_inline int sl_port_listed(const struct sl_dst_val *v, __u16 port)
{
#pragma unroll
	for (int i = 0; i < SL_MAX_PORTS; i++)
		if (i < v->n_ports && v->ports[i] == port)
			return 1;
	return 0;
}

static __always_inline int sl_port_in_set(__u16 port)
{
	const struct sl_port_set *ps;
	__u32 zero = 0;

	ps = bpf_map_lookup_elem(&port_set, &zero);
	return ps && sl_port_set_has(ps, port);
}

static __always_inline const struct sl_dst_val *sl_dst_lookup(const __u8 addr[16])
{
	struct sl_lpm_key key = { .prefixlen = 128 };

	__builtin_memcpy(key.addr, addr, 16);
	return bpf_map_lookup_elem(&dst_policy, &key);
}

#endif /* SL_VERDICT_BPF_H */

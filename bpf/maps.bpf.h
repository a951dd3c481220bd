/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * maps.bpf.h — the maps of the outbound and inbound locks (BPF side only).
 *
 * Included by every BPF object: smtplock.bpf.c (the programs the
 * controller attaches; lib/bpfmap.c pins these maps under pin_path) and
 * guard_test.bpf.c (the unit tests' copy, never pinned).  Keys and values
 * are the structs of smtplock.h.
 */
#ifndef SL_MAPS_BPF_H
#define SL_MAPS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "smtplock.h"

#ifndef AF_INET
#define AF_INET		2
#endif
#ifndef AF_INET6
#define AF_INET6	10
#endif

/* Listed outbound destinations: address/prefix → policy id, mode, ports. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SL_MAX_PREFIXES);
	__type(key, struct sl_lpm_key);
	__type(value, struct sl_dst_val);
} dst_policy SEC(".maps");

/* Inbound partner sources steered to the inbound listener. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, SL_MAX_PREFIXES);
	__type(key, struct sl_lpm_key);
	__type(value, struct sl_src_val);
} src_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sl_config);
} sl_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sl_port_set);
} port_set SEC(".maps");

/* Tags of the controller's sockets. */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sl_sock_state);
} sock_state SEC(".maps");

/* Owners of untagged SMTP sockets to unlisted addresses (smtplock.h). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SL_MAX_OWNERS);
	__type(key, __u32);
	__type(value, struct sl_owner);
} sk_owner SEC(".maps");

/* Original destination of a redirected socket (getpeername, sockops). */
struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sl_sk_orig);
} sk_orig SEC(".maps");

/*
 * Original destination by client tuple, for the controller after
 * accept().  LRU: an entry whose connect() never reached the controller
 * (refused because it is down) ages out instead of filling the map.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SL_MAX_TUPLES);
	__type(key, struct sl_tuple_key);
	__type(value, struct sl_orig);
} orig_dst SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SL_MAX_POLICIES);
	__type(key, __u32);
	__type(value, struct sl_counters);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SL_EVENTS_BYTES);
} events SEC(".maps");

/* Domain names per policy id, for `status` without the daemon. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SL_MAX_POLICIES);
	__type(key, __u32);
	__type(value, struct sl_policy_meta);
} policy_meta SEC(".maps");

/* The inbound listeners, one per family (enum sl_inbound_slot). */
struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, SL_INBOUND_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} inbound_sock SEC(".maps");

/* Room for one PRE_TLS line (the stack is 512 bytes in all). */
struct sl_line_buf {
	__u8 b[SL_PRETLS_MAX_LINE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sl_line_buf);
} scratch SEC(".maps");

#endif /* SL_MAPS_BPF_H */

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * smtplock.h — the one ABI header shared by the eBPF programs (bpf/)
 * and userspace (lib/, ctl/).  Every map key, map value, enum, flag and
 * reason code that crosses the kernel/user boundary is defined here, once.
 *
 * Rules:
 *  - fixed-width __u8/__u16/__u32/__u64 types only, explicit padding, and a
 *    _Static_assert on the size of every struct that is a map key or value;
 *  - addresses are always 16 bytes: IPv6 as is, IPv4 as the IPv4-mapped
 *    IPv6 address ::ffff:a.b.c.d (so one LPM trie serves both families);
 *  - ports are in host byte order unless the field name ends in _be.
 */
#ifndef SMTPLOCK_H
#define SMTPLOCK_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define SL_ABI_VERSION		2

/* Where the controller pins maps and links (overridable per policy). */
#define SL_PIN_DEFAULT		"/sys/fs/bpf/smtplock"

#define SL_MAX_PORTS		8	/* SMTP ports per policy entry */
#define SL_MAX_POLICIES		1024	/* policy ids 1..SL_MAX_POLICIES-1; 0 = global */
#define SL_MAX_PREFIXES		65536	/* entries of each LPM trie */
#define SL_MAX_TUPLES		65536	/* orig_dst entries in flight */
#define SL_MAX_OWNERS		16384	/* sk_owner slots (a power of 2) */
#define SL_DOMAIN_MAX		256	/* incl. NUL; DNS names are <= 253 */
#define SL_EVENTS_BYTES		(256 * 1024)

/* The PRE_TLS allow-list inspects at most this many payload bytes; a
 * larger plaintext segment from a PRE_TLS socket is never an allowed verb. */
#define SL_PRETLS_MAX_LINE	512

/* ---------------------------------------------------------------------- */
/* Policy attributes stored in the maps                                    */

enum sl_mode {
	SL_MODE_ENFORCE = 0,	/* drop / refuse */
	SL_MODE_TESTING = 1,	/* count and report, never drop */
};

enum sl_direction {
	SL_DIR_OUTBOUND = 1,
	SL_DIR_INBOUND = 2,
	SL_DIR_BOTH = 3,
};

/* Key of the dst_policy and src_policy LPM tries. */
struct sl_lpm_key {
	__u32 prefixlen;	/* 0..128; IPv4 prefixes are stored as 96 + len */
	__u8 addr[16];
};

/* Value of dst_policy: a listed outbound destination. */
struct sl_dst_val {
	__u32 policy_id;
	__u8 mode;		/* enum sl_mode */
	__u8 n_ports;		/* valid entries in ports[] */
	__u16 pad;
	__u16 ports[SL_MAX_PORTS];
};

/* Value of src_policy: a partner source steered to the inbound listener. */
struct sl_src_val {
	__u32 policy_id;
	__u8 mode;		/* enum sl_mode */
	__u8 pad[3];
};

/*
 * Original destination of a redirected connect() (orig_dst LRU hash),
 * keyed by the client side's (local address, local port): the controller
 * computes the key from getpeername() on the socket it accept()ed.
 * family is AF_INET whenever addr is IPv4-mapped (also for an AF_INET6
 * socket talking IPv4), AF_INET6 otherwise, so both ends compute the same
 * key whatever the sockets' families.
 */
struct sl_tuple_key {
	__u8 addr[16];
	__u16 port;
	__u16 family;		/* AF_INET if addr is IPv4-mapped, else AF_INET6 */
	__u32 pad;
};

struct sl_orig {
	__u8 addr[16];		/* the listed destination the MTA asked for */
	__u16 port;
	__u16 family;		/* AF_INET or AF_INET6 */
	__u32 policy_id;
	__u64 cookie;		/* socket cookie of the client socket */
	__u32 pid;		/* who connected (tgid), 0 if unknown */
	__u32 pad;
};

/* Per-socket state in the sock_state SK_STORAGE map. */
enum sl_sock_tag {
	SL_SOCK_UNTAGGED = 0,	/* any socket the controller did not tag */
	SL_SOCK_PRE_TLS = 1,	/* controller upstream socket before STARTTLS */
	SL_SOCK_TLS = 2,	/* controller upstream socket after STARTTLS 220 */
};

/*
 * Written by the controller (by socket fd, before connect()) to tag its
 * own upstream sockets; the owner fields name the controller in events.
 */
struct sl_sock_state {
	__u32 tag;		/* enum sl_sock_tag */
	__u32 policy_id;	/* tagged: the partner's policy id */
	__u32 owner_pid;	/* the tagging process */
	__u32 pad;
	char owner_comm[16];
};

/*
 * Who connect()ed an untagged socket to a listed SMTP port of an address
 * that was not listed: what a guard event reports if that address becomes
 * listed later and the socket sends plaintext, possibly from softirq
 * context where "current" is not the sender.
 *
 * sk_owner is a direct-mapped table (ARRAY indexed by cookie modulo
 * SL_MAX_OWNERS; the cookie in the slot tells whether it is still ours):
 * creating socket storage on every SMTP connect() costs ~1.5 us and an
 * LRU hash update ~1 us on the development VM; an array write costs
 * nothing measurable.  A newer socket may overwrite a slot: the event then
 * names the cgroup only.
 */
struct sl_owner {
	__u64 cookie;		/* socket cookie; 0 = empty */
	__u32 pid;		/* tgid */
	__u32 pad;
	char comm[16];
};

/*
 * Per-socket record of a redirected connect() (sk_orig SK_STORAGE map):
 * lets getpeername() answer with the real partner, and sockops publish
 * the original destination under the tuple key.
 */
struct sl_sk_orig {
	struct sl_orig orig;
};

/*
 * Union of every listed outbound port (port_set ARRAY, one entry): the
 * connect and egress hooks test one bit before any LPM lookup, so traffic
 * to other ports costs an array lookup and nothing more.
 */
struct sl_port_set {
	__u64 bits[65536 / 64];
};

static inline int sl_port_set_has(const struct sl_port_set *ps, __u16 port)
{
	return (ps->bits[port >> 6] >> (port & 63)) & 1;
}

/* Redirect targets and steering parameters (sl_config ARRAY, one entry). */
struct sl_config {
	__u32 abi_version;	/* SL_ABI_VERSION */
	__u32 flags;		/* SL_CFG_* */
	__u8 listen4[16];	/* IPv4-mapped */
	__u8 listen6[16];
	__u16 port4;
	__u16 port6;
	__u16 inbound_port;	/* local port whose SYNs sk_lookup steers */
	__u16 pad;
};

#define SL_CFG_HAVE_LISTEN4	(1u << 0)
#define SL_CFG_HAVE_LISTEN6	(1u << 1)
#define SL_CFG_INBOUND		(1u << 2)

/* Index into the inbound_sock SOCKMAP. */
enum sl_inbound_slot {
	SL_INBOUND_LISTEN4 = 0,
	SL_INBOUND_LISTEN6 = 1,
	SL_INBOUND_SLOTS = 2,
};

/* ---------------------------------------------------------------------- */
/* Counters (per-CPU ARRAY indexed by policy id; index 0 = global total)   */

/*
 * Every counter is incremented twice: at index 0 (the global total) and at
 * the policy id of the entry that matched (when there is one).  Consumers:
 * bpf/smtplock.bpf.c (producer), lib/bpfmap.c (sum over CPUs, names),
 * ctl/ (status, stats).
 *
 *	redirected	 connect() sent to the controller
 *	guard_drop	 untagged payload dropped (and IP fragments to a partner)
 *	pretls_drop	 a tagged PRE_TLS socket sent a disallowed line
 *	would_drop	 testing mode: would have dropped or refused
 *	inbound_steered	 partner SYN steered to the inbound listener
 *	inbound_refused	 partner SYN refused: no inbound listener
 *	guard_pass	 tagged payload checked and passed
 *	connect_refused	 listed connect() refused: no controller listener
 */
#define SL_COUNTERS(X)						\
	X(SL_C_REDIRECTED,	0, "redirected")		\
	X(SL_C_GUARD_DROP,	1, "guard_drop")		\
	X(SL_C_PRETLS_DROP,	2, "pretls_drop")		\
	X(SL_C_WOULD_DROP,	3, "would_drop")		\
	X(SL_C_INBOUND_STEERED,	4, "inbound_steered")		\
	X(SL_C_INBOUND_REFUSED,	5, "inbound_refused")		\
	X(SL_C_GUARD_PASS,	6, "guard_pass")		\
	X(SL_C_CONNECT_REFUSED,	7, "connect_refused")

enum sl_counter {
#define SL_COUNTER_ENUM(n, v, s) n = v,
	SL_COUNTERS(SL_COUNTER_ENUM)
#undef SL_COUNTER_ENUM
	SL_C__COUNT
};

struct sl_counters {
	__u64 v[8];		/* indexed by enum sl_counter */
};

/* ---------------------------------------------------------------------- */
/* Events (ring buffer)                                                     */

enum sl_event_type {
	SL_EV_GUARD_DROP = 1,	/* a payload segment was dropped */
	SL_EV_WOULD_DROP = 2,	/* testing mode: would have been dropped */
	SL_EV_INBOUND_REFUSED = 3,	/* a partner SYN found no inbound listener */
	SL_EV_CONNECT_REFUSED = 4,	/* a listed connect() found no controller listener */
};

/*
 * Reason codes, defined once.  Consumers: bpf/smtplock.bpf.c (producer),
 * lib/bpfmap.c (sl_reason_name), ctl/ (logs, status).
 */
#define SL_REASONS(X)						\
	X(SL_R_NONE,		0, "none")			\
	X(SL_R_UNTAGGED,	1, "untagged_payload")		\
	X(SL_R_PRETLS_VERB,	2, "pretls_verb_not_allowed")	\
	X(SL_R_PRETLS_LONG,	3, "pretls_line_too_long")	\
	X(SL_R_NO_LISTENER,	4, "no_inbound_listener")	\
	X(SL_R_NO_CONTROLLER,	5, "no_controller_listener")	\
	X(SL_R_FRAGMENT,	6, "ip_fragment")		\
	X(SL_R_BAD_TAG,		7, "unknown_socket_tag")	\
	X(SL_R_NO_MEMORY,	8, "socket_storage_full")

enum sl_reason {
#define SL_REASON_ENUM(n, v, s) n = v,
	SL_REASONS(SL_REASON_ENUM)
#undef SL_REASON_ENUM
	SL_R__COUNT
};

/*
 * Verdicts: what a hook decided.  bpf/smtplock.bpf.c turns a verdict into
 * the hook's return value in exactly one place (sl_hook_ret): PASS,
 * REDIRECT and COUNT let the operation proceed, everything else denies it
 * (cgroup hooks: 1 = allow, 0 = deny; sk_lookup: SK_PASS = 1, SK_DROP = 0).
 */
enum sl_verdict {
	SL_V_PASS = 0,		/* not ours, or allowed */
	SL_V_REDIRECT = 1,	/* connect() rewritten to the controller */
	SL_V_COUNT = 2,		/* testing mode: counted and reported, allowed */
	SL_V_DROP = 3,		/* dropped / refused */
};

struct sl_event {
	__u64 ts_ns;		/* bpf_ktime_get_ns() */
	__u64 cgroup_id;
	__u64 cookie;		/* socket cookie, 0 if unknown */
	__u32 pid;		/* tgid if the hook knows it, else 0 */
	__u32 policy_id;
	__u8 type;		/* enum sl_event_type */
	__u8 reason;		/* enum sl_reason */
	__u16 family;		/* AF_INET / AF_INET6 */
	__u16 sport;
	__u16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[16];		/* "" if unknown */
};

/* ---------------------------------------------------------------------- */
/* Policy metadata for `smtplock status` without the daemon (ARRAY)         */

struct sl_policy_meta {
	char domain[SL_DOMAIN_MAX];	/* "" = slot unused */
	__u8 direction;		/* enum sl_direction */
	__u8 mode;		/* enum sl_mode */
	__u16 min_tls;		/* 0x0303 = TLS 1.2, 0x0304 = TLS 1.3 */
	__u8 verify;		/* enum sl_verify_mode (lib/policy.h) */
	__u8 pad[3];
};

#if defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L
_Static_assert(sizeof(struct sl_lpm_key) == 20, "sl_lpm_key ABI");
_Static_assert(sizeof(struct sl_dst_val) == 24, "sl_dst_val ABI");
_Static_assert(sizeof(struct sl_src_val) == 8, "sl_src_val ABI");
_Static_assert(sizeof(struct sl_tuple_key) == 24, "sl_tuple_key ABI");
_Static_assert(sizeof(struct sl_orig) == 40, "sl_orig ABI");
_Static_assert(sizeof(struct sl_sock_state) == 32, "sl_sock_state ABI");
_Static_assert(sizeof(struct sl_sk_orig) == 40, "sl_sk_orig ABI");
_Static_assert(sizeof(struct sl_owner) == 32, "sl_owner ABI");
_Static_assert((SL_MAX_OWNERS & (SL_MAX_OWNERS - 1)) == 0, "SL_MAX_OWNERS: a power of 2");
_Static_assert(sizeof(struct sl_port_set) == 8192, "sl_port_set ABI");
_Static_assert(SL_C__COUNT == 8, "sl_counters has room for every counter");
_Static_assert(sizeof(struct sl_config) == 48, "sl_config ABI");
_Static_assert(sizeof(struct sl_counters) == 64, "sl_counters ABI");
_Static_assert(sizeof(struct sl_event) == 88, "sl_event ABI");
_Static_assert(sizeof(struct sl_policy_meta) == 264, "sl_policy_meta ABI");
#endif

#endif /* SMTPLOCK_H */

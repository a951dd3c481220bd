/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * bpfmap.h — the BPF objects from userspace: load, pin, attach, adopt,
 * unload, and every map operation the controller and the CLI need.
 *
 * Persistence (the fail-closed contract): maps and links are pinned under
 * pin_path (default /sys/fs/bpf/smtplock):
 *
 *	<pin_path>/<map name>		dst_policy, src_policy, sl_config, ...
 *	<pin_path>/link_<program>	one bpf_link per program
 *
 * Closing a struct sl_bpfmap (or the controller dying) leaves them in
 * place: enforcement continues without the controller.  A new load ADOPTS
 * the pins: pinned maps are reused as they are, and each pinned link is
 * switched to the new program with BPF_LINK_UPDATE, atomically, so there
 * is never a moment without enforcement.  Only sl_bpfmap_unload() removes
 * links and pins.
 *
 * Map sync (sl_bpfmap_sync) applies a complete desired state in the order
 * that never opens a gap: metadata and ports added, entries added or
 * updated, then stale entries removed, then ports and metadata removed.
 *
 * Conventions: 0 or -errno; nothing here prints (libbpf's own messages go
 * through the print callback the caller installed with libbpf_set_print).
 */
#ifndef SL_BPFMAP_H
#define SL_BPFMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "smtplock.h"

/* The maps, in the order they are synced and listed. */
enum sl_map_id {
	SL_MAP_CONFIG,		/* sl_config */
	SL_MAP_PORTS,		/* port_set */
	SL_MAP_META,		/* policy_meta */
	SL_MAP_DST,		/* dst_policy */
	SL_MAP_SRC,		/* src_policy */
	SL_MAP_SOCK_STATE,	/* sock_state */
	SL_MAP_SK_ORIG,		/* sk_orig */
	SL_MAP_SK_OWNER,	/* sk_owner */
	SL_MAP_ORIG_DST,	/* orig_dst */
	SL_MAP_COUNTERS,	/* counters */
	SL_MAP_EVENTS,		/* events */
	SL_MAP_INBOUND,		/* inbound_sock */
	SL_MAP__COUNT
};

/* The programs; each has one pinned link "link_<name>". */
enum sl_prog_id {
	SL_PROG_CONNECT4,
	SL_PROG_CONNECT6,
	SL_PROG_GETPEERNAME4,
	SL_PROG_GETPEERNAME6,
	SL_PROG_SOCKOPS,
	SL_PROG_EGRESS,
	SL_PROG_INBOUND_LOOKUP,	/* attached to a network namespace */
	SL_PROG__COUNT
};

const char *sl_map_name(enum sl_map_id id);		/* "dst_policy" */
const char *sl_prog_name(enum sl_prog_id id);		/* "connect4" */

/* Names of the ABI enums of smtplock.h, for logs and status. */
const char *sl_reason_name(unsigned reason);		/* "untagged_payload" */
const char *sl_counter_name(unsigned counter);		/* "guard_drop" */
const char *sl_verdict_name(unsigned verdict);		/* "drop" */
const char *sl_event_type_name(unsigned type);		/* "guard_drop" */
const char *sl_sock_tag_name(unsigned tag);		/* "pre_tls" */
const char *sl_mode_str(unsigned mode);			/* "enforce" | "testing" */

struct sl_bpfmap;

struct sl_bpfmap_opts {
	const char *pin_path;	/* NULL = SL_PIN_DEFAULT */
};

/*
 * Open and load the programs, reusing every pinned map that exists under
 * pin_path and pinning the ones that do not (pin_path is created; when it
 * lies under /sys/fs/bpf and that is not a bpf filesystem yet, one is
 * mounted there, as systemd would have).  Nothing is attached yet.
 * -EEXIST-like failures (-EINVAL) mean a pinned map has a different
 * layout: an older ABI; `smtplock unload` then a new start fixes it.
 */
int sl_bpfmap_load(const struct sl_bpfmap_opts *opts, struct sl_bpfmap **ret);

/*
 * Attach (or adopt) the links: the cgroup programs on cgroup_dir (a cgroup
 * v2 directory), sk_lookup on the network namespace netns_fd (-1 = the
 * caller's).  A pinned link on the same target is updated in place to the
 * new program; one on another target (the policy's cgroup changed, or
 * the cgroup was removed) is replaced: the new link is attached and
 * pinned first, then the old one released.  *adopted (may be NULL) =
 * number of links that were updated rather than created.
 */
int sl_bpfmap_attach(struct sl_bpfmap *m, const char *cgroup_dir, int netns_fd,
		     unsigned *adopted);

/* Open the pinned maps only (no programs): `status`, `stats`, tools. */
#define SL_BPFMAP_RDONLY	(1u << 0)
int sl_bpfmap_open_pinned(const char *pin_path, unsigned flags, struct sl_bpfmap **ret);

/* Close fds.  Pinned maps and links stay (enforcement continues). */
struct sl_bpfmap *sl_bpfmap_free(struct sl_bpfmap *m);

/* Remove every link pin (detaching the programs), then the map pins and
 * the directory.  *removed (may be NULL) = number of pins removed.
 * -ENOENT when nothing was pinned there. */
int sl_bpfmap_unload(const char *pin_path, unsigned *removed);

/* True when pin_path holds at least one of our link pins. */
bool sl_bpfmap_pinned(const char *pin_path);

const char *sl_bpfmap_pin_path(const struct sl_bpfmap *m);
int sl_bpfmap_map_fd(const struct sl_bpfmap *m, enum sl_map_id id);
/* A loaded program's fd (-1 when opened from pins): tests, status. */
int sl_bpfmap_prog_fd(const struct sl_bpfmap *m, enum sl_prog_id id);

/* ---- cgroup v2 ---------------------------------------------------------- */

/* The first cgroup2 mount point in /proc/self/mountinfo. */
int sl_cgroup2_root(char *buf, size_t len);
/* "auto" (or NULL) → the cgroup2 root; else spec, checked to be a cgroup2
 * directory.  -ENOTDIR / -EMEDIUMTYPE otherwise. */
int sl_cgroup2_resolve(const char *spec, char *buf, size_t len);
/* Parse one mountinfo text (for tests): the first cgroup2 mount point. */
int sl_mountinfo_cgroup2(const char *text, char *buf, size_t len);

/* ---- configuration ------------------------------------------------------ */

int sl_bpfmap_config_get(struct sl_bpfmap *m, struct sl_config *ret);
int sl_bpfmap_config_set(struct sl_bpfmap *m, const struct sl_config *c);

/* Fill the listener part of a config from socket addresses (AF_INET or
 * AF_INET6; a [::ffff:a.b.c.d] listener counts as IPv4). */
int sl_config_add_listener(struct sl_config *c, const struct sockaddr *sa, socklen_t len);

/* ---- desired state ------------------------------------------------------ */

struct sl_dst_entry {
	struct sl_lpm_key key;
	struct sl_dst_val val;
};

struct sl_src_entry {
	struct sl_lpm_key key;
	struct sl_src_val val;
};

struct sl_meta_entry {
	uint32_t id;			/* 1..SL_MAX_POLICIES-1 */
	struct sl_policy_meta meta;
};

struct sl_desired {
	const struct sl_dst_entry *dst;
	size_t n_dst;
	const struct sl_src_entry *src;
	size_t n_src;
	const struct sl_meta_entry *meta;
	size_t n_meta;
};

struct sl_sync_stats {
	unsigned added, updated, removed;	/* dst_policy + src_policy entries */
	unsigned meta_added, meta_removed;
};

/* SL_SYNC_NO_REMOVE: add and update only (the controller's first sync
 * after a restart, before every partner was resolved once). */
#define SL_SYNC_NO_REMOVE	(1u << 0)

int sl_bpfmap_sync(struct sl_bpfmap *m, const struct sl_desired *d, unsigned flags,
		   struct sl_sync_stats *st);

/* Read the whole dst_policy / src_policy map (malloc'd arrays). */
int sl_bpfmap_dump_dst(struct sl_bpfmap *m, struct sl_dst_entry **ret, size_t *n);
int sl_bpfmap_dump_src(struct sl_bpfmap *m, struct sl_src_entry **ret, size_t *n);

/* policy_meta: all SL_MAX_POLICIES slots into out[]. */
int sl_bpfmap_meta_read(struct sl_bpfmap *m, struct sl_policy_meta *out);

/*
 * Stable policy ids: domains[i] keeps the id it has in meta[] (the pinned
 * policy_meta, SL_MAX_POLICIES slots); a new domain gets the lowest id
 * that no slot uses, or — only when every id is taken — a slot whose
 * domain is gone.  Pure function.  -ENOSPC when there are too many.
 */
int sl_policy_ids_assign(const struct sl_policy_meta *meta, const char *const *domains,
			 size_t n, uint32_t *ids);

/* ---- sockets -------------------------------------------------------------- */

/* Tag the controller's socket fd (before connect()); PRE_TLS → TLS later. */
int sl_bpfmap_tag(struct sl_bpfmap *m, int fd, enum sl_sock_tag tag, uint32_t policy_id);
int sl_bpfmap_tag_get(struct sl_bpfmap *m, int fd, struct sl_sock_state *ret);

/* The key the sockops program used for a client whose address is sa. */
int sl_tuple_key_from_sockaddr(const struct sockaddr *sa, socklen_t len,
			       struct sl_tuple_key *ret);

/*
 * The original destination of a connection the controller accept()ed:
 * looked up by the peer's address and removed from orig_dst.  -ENOENT
 * when the kernel has no record (not a redirected connection).
 */
int sl_bpfmap_orig_take(struct sl_bpfmap *m, int accepted_fd, struct sl_orig *ret);
int sl_bpfmap_orig_take_key(struct sl_bpfmap *m, const struct sl_tuple_key *k,
			    struct sl_orig *ret);

/* The inbound listener of a slot (fd < 0: remove it). */
int sl_bpfmap_inbound_set(struct sl_bpfmap *m, enum sl_inbound_slot slot, int listen_fd);

/* ---- counters and events ----------------------------------------------- */

/* Counters of one policy id (0 = global), summed over the CPUs. */
int sl_bpfmap_counters(struct sl_bpfmap *m, uint32_t id, struct sl_counters *ret);
/* Zero one id's counters (a fresh id must not inherit old numbers). */
int sl_bpfmap_counters_reset(struct sl_bpfmap *m, uint32_t id);

typedef void (*sl_event_fn)(const struct sl_event *ev, void *arg);

/* Subscribe to the events ring buffer; then poll sl_bpfmap_events_fd()
 * for EPOLLIN and call sl_bpfmap_events_consume(). */
int sl_bpfmap_events_open(struct sl_bpfmap *m, sl_event_fn fn, void *arg);
int sl_bpfmap_events_fd(const struct sl_bpfmap *m);
int sl_bpfmap_events_consume(struct sl_bpfmap *m);	/* events handled or -errno */

/* Address helpers (sl_addr16_*): lib/addr.h. */
#include "addr.h"

#endif /* SL_BPFMAP_H */

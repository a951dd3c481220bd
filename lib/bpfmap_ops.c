/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * bpfmap_ops.c — what the controller does with the maps: configuration,
 * the add-before-remove sync of the desired state, stable policy ids,
 * socket tags, original destinations, counters, events, names.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfmap_int.h"

/* ---- names ----------------------------------------------------------------- */

static const char *const sl_reason_names[] = {
#define SL_REASON_NAME(n, v, s) [v] = s,
	SL_REASONS(SL_REASON_NAME)
#undef SL_REASON_NAME
};

static const char *const sl_counter_names[] = {
#define SL_COUNTER_NAME(n, v, s) [v] = s,
	SL_COUNTERS(SL_COUNTER_NAME)
#undef SL_COUNTER_NAME
};

const char *sl_reason_name(unsigned reason)
{
	return reason < SL_R__COUNT ? sl_reason_names[reason] : "unknown";
}

const char *sl_counter_name(unsigned counter)
{
	return counter < SL_C__COUNT ? sl_counter_names[counter] : "unknown";
}

const char *sl_verdict_name(unsigned verdict)
{
	switch (verdict) {
	case SL_V_PASS: return "pass";
	case SL_V_REDIRECT: return "redirect";
	case SL_V_COUNT: return "count";
	case SL_V_DROP: return "drop";
	default: return "unknown";
	}
}

const char *sl_event_type_name(unsigned type)
{
	switch (type) {
	case SL_EV_GUARD_DROP: return "guard_drop";
	case SL_EV_WOULD_DROP: return "would_drop";
	case SL_EV_INBOUND_REFUSED: return "inbound_refused";
	case SL_EV_CONNECT_REFUSED: return "connect_refused";
	default: return "unknown";
	}
}

const char *sl_sock_tag_name(unsigned tag)
{
	switch (tag) {
	case SL_SOCK_UNTAGGED: return "untagged";
	case SL_SOCK_PRE_TLS: return "pre_tls";
	case SL_SOCK_TLS: return "tls";
	default: return "unknown";
	}
}

const char *sl_mode_str(unsigned mode)
{
	switch (mode) {
	case SL_MODE_ENFORCE: return "enforce";
	case SL_MODE_TESTING: return "testing";
	default: return "unknown";
	}
}

/* ---- configuration ------------------------------------------------------- */

static int sl_need(const struct sl_bpfmap *m, enum sl_map_id id)
{
	return m->fd[id] >= 0 ? m->fd[id] : -ENOENT;
}

int sl_bpfmap_config_get(struct sl_bpfmap *m, struct sl_config *ret)
{
	__u32 zero = 0;
	int fd = sl_need(m, SL_MAP_CONFIG);

	if (fd < 0)
		return fd;
	return bpf_map_lookup_elem(fd, &zero, ret) < 0 ? -errno : 0;
}

int sl_bpfmap_config_set(struct sl_bpfmap *m, const struct sl_config *c)
{
	struct sl_config v = *c;
	__u32 zero = 0;
	int fd = sl_need(m, SL_MAP_CONFIG);

	if (fd < 0)
		return fd;
	v.abi_version = SL_ABI_VERSION;
	return bpf_map_update_elem(fd, &zero, &v, BPF_ANY) < 0 ? -errno : 0;
}

int sl_config_add_listener(struct sl_config *c, const struct sockaddr *sa, socklen_t len)
{
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s4 = (const void *)sa;

		memset(c->listen4, 0, 10);
		c->listen4[10] = c->listen4[11] = 0xff;
		memcpy(&c->listen4[12], &s4->sin_addr, 4);
		c->port4 = ntohs(s4->sin_port);
		c->flags |= SL_CFG_HAVE_LISTEN4;
		return 0;
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		if (sl_addr16_is_v4(s6->sin6_addr.s6_addr)) {
			memcpy(c->listen4, &s6->sin6_addr, 16);
			c->port4 = ntohs(s6->sin6_port);
			c->flags |= SL_CFG_HAVE_LISTEN4;
		} else {
			memcpy(c->listen6, &s6->sin6_addr, 16);
			c->port6 = ntohs(s6->sin6_port);
			c->flags |= SL_CFG_HAVE_LISTEN6;
		}
		return 0;
	}
	return -EAFNOSUPPORT;
}

/* ---- desired state ------------------------------------------------------- */

/* Host bits beyond the prefix are zeroed: one key per prefix. */
static struct sl_lpm_key sl_lpm_canon(const struct sl_lpm_key *k)
{
	struct sl_lpm_key c = { .prefixlen = k->prefixlen > 128 ? 128 : k->prefixlen };

	for (unsigned i = 0; i < 16; i++) {
		unsigned bits = c.prefixlen > i * 8 ? c.prefixlen - i * 8 : 0;

		c.addr[i] = bits >= 8 ? k->addr[i] : bits ? k->addr[i] & (uint8_t)(0xff << (8 - bits)) : 0;
	}
	return c;
}

static int sl_lpm_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct sl_lpm_key));
}

/* Upsert entries[] (key at offset 0, value right after, vsize bytes). */
static int sl_upsert(int fd, const void *entries, size_t n, size_t esize, size_t vsize,
		     struct sl_sync_stats *st)
{
	unsigned char cur[64];

	for (size_t i = 0; i < n; i++) {
		const unsigned char *e = (const unsigned char *)entries + i * esize;
		struct sl_lpm_key k = sl_lpm_canon((const struct sl_lpm_key *)e);
		const unsigned char *v = e + sizeof(struct sl_lpm_key);

		if (bpf_map_lookup_elem(fd, &k, cur) == 0) {
			if (memcmp(cur, v, vsize) == 0)
				continue;
			st->updated++;
		} else {
			st->added++;
		}
		if (bpf_map_update_elem(fd, &k, v, BPF_ANY) < 0)
			return -errno;
	}
	return 0;
}

/* Every key of an LPM map (malloc'd). */
static int sl_keys(int fd, struct sl_lpm_key **ret, size_t *n)
{
	struct sl_lpm_key *v = NULL, k, *prev = NULL;
	size_t cap = 0, cnt = 0;

	for (;;) {
		if (bpf_map_get_next_key(fd, prev, &k) < 0) {
			if (errno == ENOENT)
				break;
			free(v);
			return -errno;
		}
		if (cnt == cap) {
			struct sl_lpm_key *nv;

			cap = cap ? cap * 2 : 64;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				return -ENOMEM;
			}
			v = nv;
		}
		v[cnt] = k;
		prev = &v[cnt++];
	}
	*ret = v;
	*n = cnt;
	return 0;
}

/* Delete every key not among entries[]. */
static int sl_remove_stale(int fd, const void *entries, size_t n, size_t esize,
			   struct sl_sync_stats *st)
{
	struct sl_lpm_key *want, *have = NULL;
	size_t n_have = 0;
	int r;

	want = calloc(n ? n : 1, sizeof(*want));
	if (!want)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		want[i] = sl_lpm_canon((const struct sl_lpm_key *)((const char *)entries + i * esize));
	qsort(want, n, sizeof(*want), sl_lpm_cmp);
	r = sl_keys(fd, &have, &n_have);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < n_have; i++) {
		struct sl_lpm_key k = sl_lpm_canon(&have[i]);

		if (bsearch(&k, want, n, sizeof(*want), sl_lpm_cmp))
			continue;
		if (bpf_map_delete_elem(fd, &have[i]) < 0 && errno != ENOENT) {
			r = -errno;
			goto out;
		}
		st->removed++;
	}
out:
	free(have);
	free(want);
	return r;
}

static int sl_ports_read(struct sl_bpfmap *m, struct sl_port_set *ps)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(m->fd[SL_MAP_PORTS], &zero, ps) < 0 ? -errno : 0;
}

static int sl_ports_write(struct sl_bpfmap *m, const struct sl_port_set *ps)
{
	__u32 zero = 0;

	return bpf_map_update_elem(m->fd[SL_MAP_PORTS], &zero, ps, BPF_ANY) < 0 ? -errno : 0;
}

int sl_bpfmap_sync(struct sl_bpfmap *m, const struct sl_desired *d, unsigned flags,
		   struct sl_sync_stats *st)
{
	struct sl_port_set *want = NULL, *have = NULL;
	struct sl_sync_stats dummy;
	struct sl_policy_meta cur;
	bool *keep = NULL;
	int r;

	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	for (int i = SL_MAP_CONFIG; i <= SL_MAP_SRC; i++)
		if (m->fd[i] < 0)
			return -ENOENT;
	want = calloc(1, sizeof(*want));
	have = calloc(1, sizeof(*have));
	keep = calloc(SL_MAX_POLICIES, sizeof(*keep));
	if (!want || !have || !keep) {
		r = -ENOMEM;
		goto out;
	}

	/* 1. Names of the policy ids; a slot given to a new domain starts
	 *    with zero counters. */
	for (size_t i = 0; i < d->n_meta; i++) {
		__u32 id = d->meta[i].id;

		if (id == 0 || id >= SL_MAX_POLICIES) {
			r = -EINVAL;
			goto out;
		}
		keep[id] = true;
		if (bpf_map_lookup_elem(m->fd[SL_MAP_META], &id, &cur) < 0) {
			r = -errno;
			goto out;
		}
		if (memcmp(&cur, &d->meta[i].meta, sizeof(cur)) == 0)
			continue;
		if (strncmp(cur.domain, d->meta[i].meta.domain, sizeof(cur.domain)) != 0) {
			st->meta_added++;
			if (m->fd[SL_MAP_COUNTERS] >= 0)
				sl_bpfmap_counters_reset(m, id);
		}
		if (bpf_map_update_elem(m->fd[SL_MAP_META], &id, &d->meta[i].meta, BPF_ANY) < 0) {
			r = -errno;
			goto out;
		}
	}

	/* 2. Ports: the union of old and new while entries change. */
	for (size_t i = 0; i < d->n_dst; i++)
		for (unsigned j = 0; j < d->dst[i].val.n_ports && j < SL_MAX_PORTS; j++) {
			__u16 p = d->dst[i].val.ports[j];

			want->bits[p >> 6] |= 1ull << (p & 63);
		}
	r = sl_ports_read(m, have);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < sizeof(have->bits) / sizeof(have->bits[0]); i++)
		have->bits[i] |= want->bits[i];
	r = sl_ports_write(m, have);
	if (r < 0)
		goto out;

	/* 3. Add and update. */
	r = sl_upsert(m->fd[SL_MAP_DST], d->dst, d->n_dst, sizeof(*d->dst),
		      sizeof(struct sl_dst_val), st);
	if (r < 0)
		goto out;
	r = sl_upsert(m->fd[SL_MAP_SRC], d->src, d->n_src, sizeof(*d->src),
		      sizeof(struct sl_src_val), st);
	if (r < 0 || (flags & SL_SYNC_NO_REMOVE))
		goto out;

	/* 4. Remove what is no longer wanted, then the ports and names. */
	r = sl_remove_stale(m->fd[SL_MAP_DST], d->dst, d->n_dst, sizeof(*d->dst), st);
	if (r < 0)
		goto out;
	r = sl_remove_stale(m->fd[SL_MAP_SRC], d->src, d->n_src, sizeof(*d->src), st);
	if (r < 0)
		goto out;
	r = sl_ports_write(m, want);
	if (r < 0)
		goto out;
	for (__u32 id = 1; id < SL_MAX_POLICIES; id++) {
		if (keep[id])
			continue;
		if (bpf_map_lookup_elem(m->fd[SL_MAP_META], &id, &cur) < 0 || !cur.domain[0])
			continue;
		memset(&cur, 0, sizeof(cur));
		if (bpf_map_update_elem(m->fd[SL_MAP_META], &id, &cur, BPF_ANY) < 0) {
			r = -errno;
			goto out;
		}
		st->meta_removed++;
	}
out:
	free(keep);
	free(have);
	free(want);
	return r;
}

static int sl_dump(int fd, size_t vsize, void **ret, size_t *n)
{
	struct sl_lpm_key *keys = NULL;
	size_t n_keys = 0, esize = sizeof(struct sl_lpm_key) + vsize, cnt = 0;
	unsigned char *out;
	int r;

	r = sl_keys(fd, &keys, &n_keys);
	if (r < 0)
		return r;
	out = calloc(n_keys ? n_keys : 1, esize);
	if (!out) {
		free(keys);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n_keys; i++) {
		unsigned char *e = out + cnt * esize;

		memcpy(e, &keys[i], sizeof(keys[i]));
		if (bpf_map_lookup_elem(fd, &keys[i], e + sizeof(keys[i])) == 0)
			cnt++;
	}
	free(keys);
	*ret = out;
	*n = cnt;
	return 0;
}

int sl_bpfmap_dump_dst(struct sl_bpfmap *m, struct sl_dst_entry **ret, size_t *n)
{
	int fd = sl_need(m, SL_MAP_DST);

	_Static_assert(sizeof(struct sl_dst_entry) ==
		       sizeof(struct sl_lpm_key) + sizeof(struct sl_dst_val), "packed entry");
	return fd < 0 ? fd : sl_dump(fd, sizeof(struct sl_dst_val), (void **)ret, n);
}

int sl_bpfmap_dump_src(struct sl_bpfmap *m, struct sl_src_entry **ret, size_t *n)
{
	int fd = sl_need(m, SL_MAP_SRC);

	_Static_assert(sizeof(struct sl_src_entry) ==
		       sizeof(struct sl_lpm_key) + sizeof(struct sl_src_val), "packed entry");
	return fd < 0 ? fd : sl_dump(fd, sizeof(struct sl_src_val), (void **)ret, n);
}

int sl_bpfmap_meta_read(struct sl_bpfmap *m, struct sl_policy_meta *out)
{
	int fd = sl_need(m, SL_MAP_META);

	if (fd < 0)
		return fd;
	for (__u32 id = 0; id < SL_MAX_POLICIES; id++)
		if (bpf_map_lookup_elem(fd, &id, &out[id]) < 0)
			return -errno;
	return 0;
}

int sl_policy_ids_assign(const struct sl_policy_meta *meta, const char *const *domains,
			 size_t n, uint32_t *ids)
{
	bool *taken = calloc(SL_MAX_POLICIES, sizeof(*taken));
	int r = 0;

	if (!taken)
		return -ENOMEM;
	taken[0] = true;
	for (size_t i = 0; i < n; i++) {
		ids[i] = 0;
		for (uint32_t id = 1; id < SL_MAX_POLICIES; id++)
			if (!taken[id] && meta[id].domain[0] &&
			    strncmp(meta[id].domain, domains[i], SL_DOMAIN_MAX) == 0) {
				ids[i] = id;
				taken[id] = true;
				break;
			}
	}
	/* New domains: never-used slots first, so a removed domain's id is
	 * not handed out while its entries may still be in the maps. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n; i++) {
			if (ids[i])
				continue;
			for (uint32_t id = 1; id < SL_MAX_POLICIES; id++)
				if (!taken[id] && (pass == 1 || !meta[id].domain[0])) {
					ids[i] = id;
					taken[id] = true;
					break;
				}
		}
	for (size_t i = 0; i < n; i++)
		if (!ids[i])
			r = -ENOSPC;
	free(taken);
	return r;
}

/* ---- sockets --------------------------------------------------------------- */

int sl_bpfmap_tag(struct sl_bpfmap *m, int fd, enum sl_sock_tag tag, uint32_t policy_id)
{
	struct sl_sock_state v = { .tag = tag, .policy_id = policy_id };
	int mfd = sl_need(m, SL_MAP_SOCK_STATE);

	if (mfd < 0)
		return mfd;
	v.owner_pid = (uint32_t)getpid();
	prctl(PR_GET_NAME, v.owner_comm, 0, 0, 0);
	return bpf_map_update_elem(mfd, &fd, &v, BPF_ANY) < 0 ? -errno : 0;
}

int sl_bpfmap_tag_get(struct sl_bpfmap *m, int fd, struct sl_sock_state *ret)
{
	int mfd = sl_need(m, SL_MAP_SOCK_STATE);

	if (mfd < 0)
		return mfd;
	return bpf_map_lookup_elem(mfd, &fd, ret) < 0 ? -errno : 0;
}

int sl_tuple_key_from_sockaddr(const struct sockaddr *sa, socklen_t len,
			       struct sl_tuple_key *ret)
{
	struct sl_tuple_key k;

	memset(&k, 0, sizeof(k));
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s4 = (const void *)sa;

		k.addr[10] = k.addr[11] = 0xff;
		memcpy(&k.addr[12], &s4->sin_addr, 4);
		k.port = ntohs(s4->sin_port);
	} else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		memcpy(k.addr, &s6->sin6_addr, 16);
		k.port = ntohs(s6->sin6_port);
	} else {
		return -EAFNOSUPPORT;
	}
	k.family = sl_addr16_is_v4(k.addr) ? AF_INET : AF_INET6;
	*ret = k;
	return 0;
}

int sl_bpfmap_orig_take_key(struct sl_bpfmap *m, const struct sl_tuple_key *k,
			    struct sl_orig *ret)
{
	int fd = sl_need(m, SL_MAP_ORIG_DST);

	if (fd < 0)
		return fd;
	if (bpf_map_lookup_and_delete_elem(fd, k, ret) == 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != EINVAL)
		return -errno;
	if (bpf_map_lookup_elem(fd, k, ret) < 0)
		return -errno;
	bpf_map_delete_elem(fd, k);
	return 0;
}

int sl_bpfmap_orig_take(struct sl_bpfmap *m, int accepted_fd, struct sl_orig *ret)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct sl_tuple_key k;
	int r;

	if (getpeername(accepted_fd, (struct sockaddr *)&ss, &len) < 0)
		return -errno;
	r = sl_tuple_key_from_sockaddr((struct sockaddr *)&ss, len, &k);
	if (r < 0)
		return r;
	return sl_bpfmap_orig_take_key(m, &k, ret);
}

int sl_bpfmap_inbound_set(struct sl_bpfmap *m, enum sl_inbound_slot slot, int listen_fd)
{
	int fd = sl_need(m, SL_MAP_INBOUND);
	__u32 key = slot;
	__u64 val;

	if (fd < 0)
		return fd;
	if (slot >= SL_INBOUND_SLOTS)
		return -EINVAL;
	if (listen_fd < 0) {
		/* A SOCKMAP answers -EINVAL for an empty slot. */
		if (bpf_map_delete_elem(fd, &key) < 0 && errno != ENOENT && errno != EINVAL)
			return -errno;
		return 0;
	}
	val = (__u64)listen_fd;
	return bpf_map_update_elem(fd, &key, &val, BPF_ANY) < 0 ? -errno : 0;
}

/* ---- counters and events ----------------------------------------------- */

int sl_bpfmap_counters(struct sl_bpfmap *m, uint32_t id, struct sl_counters *ret)
{
	int fd = sl_need(m, SL_MAP_COUNTERS);
	struct sl_counters *percpu;

	if (fd < 0)
		return fd;
	if (id >= SL_MAX_POLICIES)
		return -EINVAL;
	percpu = calloc((size_t)m->ncpus, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	if (bpf_map_lookup_elem(fd, &id, percpu) < 0) {
		int r = -errno;

		free(percpu);
		return r;
	}
	memset(ret, 0, sizeof(*ret));
	for (int c = 0; c < m->ncpus; c++)
		for (int i = 0; i < SL_C__COUNT; i++)
			ret->v[i] += percpu[c].v[i];
	free(percpu);
	return 0;
}

int sl_bpfmap_counters_reset(struct sl_bpfmap *m, uint32_t id)
{
	int fd = sl_need(m, SL_MAP_COUNTERS), r = 0;
	struct sl_counters *zero;

	if (fd < 0)
		return fd;
	zero = calloc((size_t)m->ncpus, sizeof(*zero));
	if (!zero)
		return -ENOMEM;
	if (bpf_map_update_elem(fd, &id, zero, BPF_ANY) < 0)
		r = -errno;
	free(zero);
	return r;
}

static int sl_rb_cb(void *ctx, void *data, size_t size)
{
	struct sl_bpfmap *m = ctx;
	struct sl_event ev;

	if (size < sizeof(ev))
		return 0;	/* not ours; skip */
	memcpy(&ev, data, sizeof(ev));
	m->ev_fn(&ev, m->ev_arg);
	return 0;
}

int sl_bpfmap_events_open(struct sl_bpfmap *m, sl_event_fn fn, void *arg)
{
	int fd = sl_need(m, SL_MAP_EVENTS);

	if (fd < 0)
		return fd;
	if (m->rb)
		return -EBUSY;
	m->ev_fn = fn;
	m->ev_arg = arg;
	m->rb = ring_buffer__new(fd, sl_rb_cb, m, NULL);
	return m->rb ? 0 : (errno ? -errno : -ENOMEM);
}

int sl_bpfmap_events_fd(const struct sl_bpfmap *m)
{
	return m->rb ? ring_buffer__epoll_fd(m->rb) : -EINVAL;
}

int sl_bpfmap_events_consume(struct sl_bpfmap *m)
{
	int r;

	if (!m->rb)
		return -EINVAL;
	r = ring_buffer__consume(m->rb);
	return r < 0 ? (r == -1 ? -errno : r) : r;
}

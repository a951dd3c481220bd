/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test_bpfmap.c — lib/bpfmap and lib/cgroup2: the pure helpers (mountinfo
 * parsing, stable ids, tuple keys, names), then, as root, the pinned maps
 * themselves: sync add-before-remove under a concurrent reader, socket
 * tags by fd, the orig_dst round trip, counters, open-from-pins, unload.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "bpfmap.h"
#include "tap.h"

/* ---- mountinfo ------------------------------------------------------------- */

struct mcase {
	const char *name;
	const char *text;
	int want_r;
	const char *want;
};

static const struct mcase mcases[] = {
	{ "hybrid host (cgroup2 under /sys/fs/cgroup/unified)",
	  "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
	  "31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
	  "40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n",
	  0, "/sys/fs/cgroup/unified" },
	{ "unified host with optional fields",
	  "35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate\n",
	  0, "/sys/fs/cgroup" },
	{ "escaped space in the mount point",
	  "50 1 0:40 / /mnt/my\\040cg rw - cgroup2 none rw\n", 0, "/mnt/my cg" },
	{ "a cgroup v1 'cgroup2' named source is not cgroup2",
	  "31 30 0:28 / /sys/fs/cgroup/cgroup2 rw - cgroup cgroup2 rw,cpu\n", -ENOENT, NULL },
	{ "no cgroup2 at all", "22 1 0:21 / /sys rw - sysfs sysfs rw\n", -ENOENT, NULL },
	{ "empty", "", -ENOENT, NULL },
	{ "no trailing newline",
	  "40 30 0:37 / /cg2 rw - cgroup2 cgroup2 rw", 0, "/cg2" },
};

static void test_mountinfo(void)
{
	char buf[256];

	for (size_t i = 0; i < TAP_NELEM(mcases); i++) {
		int r = sl_mountinfo_cgroup2(mcases[i].text, buf, sizeof(buf));

		tap_int(r, mcases[i].want_r, "mountinfo: %s: result", mcases[i].name);
		if (r == 0 && mcases[i].want)
			tap_str(buf, mcases[i].want, "mountinfo: %s: path", mcases[i].name);
	}
	tap_int(sl_cgroup2_root(buf, sizeof(buf)), 0, "cgroup2 root found on this host");
	tap_int(sl_cgroup2_resolve("/proc", buf, sizeof(buf)), -EMEDIUMTYPE,
		"cgroup2 resolve: /proc is no cgroup2 directory");
	tap_int(sl_cgroup2_resolve("/nonexistent-slt", buf, sizeof(buf)), -ENOENT,
		"cgroup2 resolve: a missing directory");
}

/* ---- ids --------------------------------------------------------------------- */

static void test_ids(void)
{
	static struct sl_policy_meta meta[SL_MAX_POLICIES];
	const char *doms[] = { "b.test", "new.test", "a.test", "new2.test" };
	uint32_t ids[4];

	memset(meta, 0, sizeof(meta));
	snprintf(meta[1].domain, sizeof(meta[1].domain), "a.test");
	snprintf(meta[2].domain, sizeof(meta[2].domain), "gone.test");
	snprintf(meta[3].domain, sizeof(meta[3].domain), "b.test");
	tap_int(sl_policy_ids_assign(meta, doms, 4, ids), 0, "ids: assigned");
	tap_int(ids[0], 3, "ids: b.test keeps 3");
	tap_int(ids[2], 1, "ids: a.test keeps 1");
	tap_int(ids[1], 4, "ids: a new domain takes a never-used slot, not gone.test's");
	tap_int(ids[3], 5, "ids: the next new domain the next one");

	/* Full table: then a removed domain's slot is reused. */
	for (uint32_t i = 1; i < SL_MAX_POLICIES; i++)
		snprintf(meta[i].domain, sizeof(meta[i].domain), "d%u.test", i);
	{
		const char *two[] = { "d7.test", "fresh.test" };

		tap_int(sl_policy_ids_assign(meta, two, 2, ids), 0, "ids: full table, reuse");
		tap_int(ids[0], 7, "ids: kept");
		tap_int(ids[1], 1, "ids: the lowest slot whose domain left");
	}
	{
		static const char *many[SL_MAX_POLICIES];
		static char names[SL_MAX_POLICIES][16];
		static uint32_t mids[SL_MAX_POLICIES];

		for (int i = 0; i < SL_MAX_POLICIES; i++) {
			snprintf(names[i], sizeof(names[i]), "n%d.test", i);
			many[i] = names[i];
		}
		tap_int(sl_policy_ids_assign(meta, many, SL_MAX_POLICIES, mids), -ENOSPC,
			"ids: more domains than ids");
	}
}

/* ---- keys and names --------------------------------------------------------- */

static void test_keys(void)
{
	struct sockaddr_in s4 = { .sin_family = AF_INET, .sin_port = htons(40001) };
	struct sockaddr_in6 s6 = { .sin6_family = AF_INET6, .sin6_port = htons(40002) };
	struct sl_tuple_key k, k2;
	struct sl_config c;
	char buf[64];

	inet_pton(AF_INET, "127.0.0.1", &s4.sin_addr);
	tap_int(sl_tuple_key_from_sockaddr((struct sockaddr *)&s4, sizeof(s4), &k), 0, "key: IPv4");
	tap_int(k.family, AF_INET, "key: IPv4 family");
	tap_int(k.port, 40001, "key: host-order port");
	inet_pton(AF_INET6, "::ffff:127.0.0.1", &s6.sin6_addr);
	s6.sin6_port = htons(40001);
	sl_tuple_key_from_sockaddr((struct sockaddr *)&s6, sizeof(s6), &k2);
	tap_ok(memcmp(&k, &k2, sizeof(k)) == 0, "key: an IPv4-mapped IPv6 peer gives the IPv4 key");
	inet_pton(AF_INET6, "::1", &s6.sin6_addr);
	sl_tuple_key_from_sockaddr((struct sockaddr *)&s6, sizeof(s6), &k2);
	tap_int(k2.family, AF_INET6, "key: IPv6 family");
	sl_addr16_format(k.addr, buf, sizeof(buf));
	tap_str(buf, "127.0.0.1", "addr16: IPv4 text");
	sl_addr16_format(k2.addr, buf, sizeof(buf));
	tap_str(buf, "::1", "addr16: IPv6 text");

	{
		struct sockaddr_storage back;
		socklen_t bl = sl_addr16_sockaddr(k.addr, k.port, &back);

		tap_int(bl, sizeof(struct sockaddr_in), "sockaddr: an IPv4-mapped address is AF_INET");
		tap_ok(memcmp(&back, &s4, sizeof(s4)) == 0, "sockaddr: round trip");
		bl = sl_addr16_sockaddr(k2.addr, k2.port, &back);
		tap_int(back.ss_family, AF_INET6, "sockaddr: IPv6");
		tap_int(bl, sizeof(struct sockaddr_in6), "sockaddr: IPv6 length");
	}
	memset(&c, 0, sizeof(c));
	sl_config_add_listener(&c, (struct sockaddr *)&s4, sizeof(s4));
	sl_config_add_listener(&c, (struct sockaddr *)&s6, sizeof(s6));
	tap_int(c.flags, SL_CFG_HAVE_LISTEN4 | SL_CFG_HAVE_LISTEN6, "config: both listeners");
	tap_int(c.port4, 40001, "config: IPv4 port");
	tap_ok(c.listen4[10] == 0xff && c.listen4[12] == 127, "config: IPv4 listener mapped");

	tap_str(sl_reason_name(SL_R_UNTAGGED), "untagged_payload", "names: reason");
	tap_str(sl_reason_name(999), "unknown", "names: unknown reason");
	tap_str(sl_counter_name(SL_C_WOULD_DROP), "would_drop", "names: counter");
	tap_str(sl_verdict_name(SL_V_DROP), "drop", "names: verdict");
	tap_str(sl_event_type_name(SL_EV_CONNECT_REFUSED), "connect_refused", "names: event");
	tap_str(sl_sock_tag_name(SL_SOCK_PRE_TLS), "pre_tls", "names: tag");
	tap_str(sl_map_name(SL_MAP_DST), "dst_policy", "names: map");
	tap_str(sl_prog_name(SL_PROG_INBOUND_LOOKUP), "inbound_lookup", "names: program");
}

/* ---- root: the pinned maps ---------------------------------------------------- */

static struct sl_dst_entry entry(const char *a4, uint32_t id, uint8_t mode, uint16_t port)
{
	struct sl_dst_entry e;

	memset(&e, 0, sizeof(e));
	e.key.prefixlen = 128;
	e.key.addr[10] = e.key.addr[11] = 0xff;
	inet_pton(AF_INET, a4, &e.key.addr[12]);
	e.val.policy_id = id;
	e.val.mode = mode;
	e.val.n_ports = 1;
	e.val.ports[0] = port;
	return e;
}

struct sampler {
	int fd;
	struct sl_lpm_key keep;		/* present in every desired state */
	atomic_bool stop;
	long samples, missing, bad_value;
};

static void *sample(void *arg)
{
	struct sampler *s = arg;
	struct sl_dst_val v;

	while (!atomic_load(&s->stop)) {
		s->samples++;
		if (bpf_map_lookup_elem(s->fd, &s->keep, &v) < 0)
			s->missing++;
		else if (v.policy_id != 1 || (v.mode != SL_MODE_ENFORCE && v.mode != SL_MODE_TESTING))
			s->bad_value++;
	}
	return NULL;
}

static void test_pinned(void)
{
	struct sl_bpfmap_opts o = { 0 };
	struct sl_bpfmap *m = NULL, *ro = NULL;
	struct sl_dst_entry s1[2], s2[2], *dump = NULL;
	struct sl_meta_entry me[2];
	struct sl_desired d1 = { .dst = s1, .n_dst = 2, .meta = me, .n_meta = 2 };
	struct sl_desired d2 = { .dst = s2, .n_dst = 2, .meta = me, .n_meta = 1 };
	struct sl_sync_stats st;
	struct sampler smp;
	struct sl_counters c;
	struct sl_sock_state ss;
	struct sl_orig orig, got;
	struct sl_tuple_key k;
	pthread_t th;
	char pin[64];
	size_t n = 0;
	unsigned removed = 0;
	int sfd;

	snprintf(pin, sizeof(pin), "/sys/fs/bpf/sltunitb%d", (int)getpid());
	o.pin_path = pin;
	if (!tap_int(sl_bpfmap_load(&o, &m), 0, "pinned: load under %s", pin))
		return;
	memset(me, 0, sizeof(me));
	me[0].id = 1;
	snprintf(me[0].meta.domain, sizeof(me[0].meta.domain), "keep.test");
	me[1].id = 2;
	snprintf(me[1].meta.domain, sizeof(me[1].meta.domain), "gone.test");
	s1[0] = entry("192.0.2.1", 1, SL_MODE_ENFORCE, 25);
	s1[1] = entry("192.0.2.2", 2, SL_MODE_ENFORCE, 587);
	s2[0] = entry("192.0.2.1", 1, SL_MODE_TESTING, 25);	/* updated in place */
	s2[1] = entry("192.0.2.3", 1, SL_MODE_ENFORCE, 25);	/* added */

	tap_int(sl_bpfmap_sync(m, &d1, 0, &st), 0, "sync: first state");
	tap_int(st.added, 2, "sync: 2 added");
	tap_int(st.meta_added, 2, "sync: 2 names");
	tap_int(sl_bpfmap_sync(m, &d1, 0, &st), 0, "sync: same state again");
	tap_int(st.added + st.updated + st.removed, 0, "sync: nothing to do");
	tap_int(sl_bpfmap_sync(m, &d2, SL_SYNC_NO_REMOVE, &st), 0, "sync: add-only");
	tap_int(st.removed, 0, "sync: add-only removes nothing");
	sl_bpfmap_dump_dst(m, &dump, &n);
	tap_int((long long)n, 3, "sync: add-only keeps the old entry");
	free(dump);
	tap_int(sl_bpfmap_sync(m, &d2, 0, &st), 0, "sync: full");
	tap_int(st.removed, 1, "sync: the stale entry removed");
	tap_int(st.meta_removed, 1, "sync: the stale name removed");
	sl_bpfmap_dump_dst(m, &dump, &n);
	tap_int((long long)n, 2, "sync: two entries left");
	free(dump);

	/* A reader never sees the shared entry missing while states alternate. */
	memset(&smp, 0, sizeof(smp));
	smp.fd = sl_bpfmap_map_fd(m, SL_MAP_DST);
	smp.keep = s1[0].key;
	atomic_init(&smp.stop, false);
	pthread_create(&th, NULL, sample, &smp);
	for (int i = 0; i < 300; i++)
		sl_bpfmap_sync(m, i % 2 ? &d1 : &d2, 0, NULL);
	atomic_store(&smp.stop, true);
	pthread_join(th, NULL);
	tap_ok(smp.samples > 0, "sampler: %ld samples during 300 syncs", smp.samples);
	tap_int(smp.missing, 0, "sampler: the shared entry was never missing");
	tap_int(smp.bad_value, 0, "sampler: and always had a valid value");

	/* Tags by fd. */
	sfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	tap_int(sl_bpfmap_tag(m, sfd, SL_SOCK_PRE_TLS, 1), 0, "tag: PRE_TLS");
	tap_int(sl_bpfmap_tag_get(m, sfd, &ss), 0, "tag: read back");
	tap_int(ss.tag, SL_SOCK_PRE_TLS, "tag: is PRE_TLS");
	tap_int(ss.owner_pid, getpid(), "tag: owner is us");
	sl_bpfmap_tag(m, sfd, SL_SOCK_TLS, 1);
	sl_bpfmap_tag_get(m, sfd, &ss);
	tap_int(ss.tag, SL_SOCK_TLS, "tag: PRE_TLS -> TLS");
	close(sfd);

	/* orig_dst round trip (what sockops writes, the controller takes). */
	memset(&k, 0, sizeof(k));
	k.addr[10] = k.addr[11] = 0xff;
	k.addr[12] = 127;
	k.addr[15] = 1;
	k.port = 40123;
	k.family = AF_INET;
	memset(&orig, 0, sizeof(orig));
	orig.port = 25;
	orig.policy_id = 1;
	bpf_map_update_elem(sl_bpfmap_map_fd(m, SL_MAP_ORIG_DST), &k, &orig, BPF_ANY);
	tap_int(sl_bpfmap_orig_take_key(m, &k, &got), 0, "orig: taken");
	tap_int(got.port, 25, "orig: the original port");
	tap_int(sl_bpfmap_orig_take_key(m, &k, &got), -ENOENT, "orig: taken once only");

	/* Counters: zero, and reset. */
	tap_int(sl_bpfmap_counters(m, 1, &c), 0, "counters: read");
	tap_int((long long)c.v[SL_C_GUARD_DROP], 0, "counters: zero");
	tap_int(sl_bpfmap_counters(m, SL_MAX_POLICIES, &c), -EINVAL, "counters: id out of range");

	/* Inbound slot: an empty delete is fine. */
	tap_int(sl_bpfmap_inbound_set(m, SL_INBOUND_LISTEN6, -1), 0, "inbound: clear an empty slot");

	m = sl_bpfmap_free(m);
	tap_int(sl_bpfmap_open_pinned(pin, SL_BPFMAP_RDONLY, &ro), 0, "pins: open read-only");
	if (ro) {
		struct sl_policy_meta *meta = calloc(SL_MAX_POLICIES, sizeof(*meta));

		tap_int(sl_bpfmap_meta_read(ro, meta), 0, "pins: names readable");
		tap_str(meta[1].domain, "keep.test", "pins: the name survived the process");
		tap_int(sl_bpfmap_tag(ro, 0, SL_SOCK_TLS, 1) < 0, 1, "pins: read-only cannot tag");
		free(meta);
		ro = sl_bpfmap_free(ro);
	}
	tap_ok(!sl_bpfmap_pinned(pin), "pins: no links (never attached)");
	tap_int(sl_bpfmap_unload(pin, &removed), 0, "unload");
	tap_int(removed, SL_MAP__COUNT, "unload: every map pin");
	tap_int(sl_bpfmap_unload(pin, &removed), -ENOENT, "unload: twice = nothing there");
	tap_int(sl_bpfmap_open_pinned(pin, 0, &ro), -ENOENT, "pins: gone");
}

int main(void)
{
	test_mountinfo();
	test_ids();
	test_keys();
	if (geteuid() == 0)
		test_pinned();
	else
		tap_ok(false, "the pinned-map tests need root");
	return tap_done();
}

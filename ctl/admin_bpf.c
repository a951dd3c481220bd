/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * admin_bpf.c — the administrator's commands and the pinned BPF objects:
 * status.h map access over lib/bpfmap (pinned maps opened read-only, or
 * the controller's own), program links, unload.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "admin.h"
#include "ctlsrv.h"
#include "links.h"

#include "admin_bpf.h"
#include "bpfmap.h"

static const char *sl_counter_names_v[SL_C__COUNT];

static int sl_maps_counters(void *arg, uint32_t id, uint64_t *vals)
{
	struct sl_counters c;
	int r = sl_bpfmap_counters(arg, id, &c);

	if (r < 0)
		return r;
	for (unsigned i = 0; i < SL_C__COUNT; i++)
		vals[i] = c.v[i];
	return 0;
}

static int sl_maps_meta(void *arg, struct sl_policy_meta *out)
{
	return sl_bpfmap_meta_read(arg, out);
}

static int sl_maps_entries(void *arg, bool inbound, struct sl_status_entry **ret, size_t *n)
{
	struct sl_status_entry *v;
	size_t cnt = 0;
	int r;

	if (inbound) {
		struct sl_src_entry *e = NULL;

		r = sl_bpfmap_dump_src(arg, &e, &cnt);
		if (r < 0)
			return r;
		v = calloc(cnt ? cnt : 1, sizeof(*v));
		for (size_t i = 0; v && i < cnt; i++) {
			v[i].key = e[i].key;
			v[i].policy_id = e[i].val.policy_id;
		}
		free(e);
	} else {
		struct sl_dst_entry *e = NULL;

		r = sl_bpfmap_dump_dst(arg, &e, &cnt);
		if (r < 0)
			return r;
		v = calloc(cnt ? cnt : 1, sizeof(*v));
		for (size_t i = 0; v && i < cnt; i++) {
			v[i].key = e[i].key;
			v[i].policy_id = e[i].val.policy_id;
		}
		free(e);
	}
	if (!v)
		return -ENOMEM;
	*ret = v;
	*n = cnt;
	return 0;
}

void sl_admin_maps_init(struct sl_status_maps *m, struct sl_bpfmap *bpf)
{
	for (unsigned i = 0; i < SL_C__COUNT; i++)
		sl_counter_names_v[i] = sl_counter_name(i);
	memset(m, 0, sizeof(*m));
	m->arg = bpf;
	m->counter_names = sl_counter_names_v;
	m->n_counters = SL_C__COUNT;
	m->counters = sl_maps_counters;
	m->meta = sl_maps_meta;
	m->entries = sl_maps_entries;
}

struct sl_admin_pins {
	struct sl_bpfmap *bpf;
	struct sl_status_maps maps;
};

int sl_admin_pins_open(const char *pin_path, struct sl_admin_pins **ret,
		       const struct sl_status_maps **maps)
{
	struct sl_admin_pins *p = calloc(1, sizeof(*p));
	int r;

	if (!p)
		return -ENOMEM;
	r = sl_bpfmap_open_pinned(pin_path, SL_BPFMAP_RDONLY, &p->bpf);
	if (r < 0) {
		free(p);
		return r;
	}
	sl_admin_maps_init(&p->maps, p->bpf);
	*ret = p;
	*maps = &p->maps;
	return 0;
}

void sl_admin_pins_close(struct sl_admin_pins *p)
{
	if (!p)
		return;
	sl_bpfmap_free(p->bpf);
	free(p);
}

int sl_admin_programs(const char *pin_path, const char *cgroup_dir, struct sl_status_prog *out,
		      size_t *n)
{
	const char *names[SL_PROG__COUNT];

	if (*n < SL_PROG__COUNT)
		return -ENOSPC;
	for (unsigned i = 0; i < SL_PROG__COUNT; i++)
		names[i] = sl_prog_name(i);
	*n = SL_PROG__COUNT;
	return sl_links_read(pin_path, names, SL_PROG__COUNT, cgroup_dir, out);
}

int sl_admin_unload_pins(const char *pin_path, unsigned *removed)
{
	return sl_bpfmap_unload(pin_path, removed);
}


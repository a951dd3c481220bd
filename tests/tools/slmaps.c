/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * slmaps — print the pinned maps as text, for the integration tests.
 *
 *	slmaps PIN_PATH dst|src|meta|config
 *	slmaps PIN_PATH counters [ID|DOMAIN]	(default 0 = global)
 *
 * One line per entry, key=value, sorted, so tests can grep.  Reads the
 * pins read-only through lib/bpfmap (the way `status` works without the
 * daemon).  A test tool only: never installed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addrtab.h"
#include "bpfmap.h"

static struct sl_policy_meta meta[SL_MAX_POLICIES];

static const char *dom(uint32_t id)
{
	return id < SL_MAX_POLICIES && meta[id].domain[0] ? meta[id].domain : "-";
}

static void pfx_text(const struct sl_lpm_key *k, char *buf, size_t len)
{
	struct sl_prefix p;

	memset(&p, 0, sizeof(p));
	memcpy(p.addr, k->addr, 16);
	p.plen = (uint8_t)k->prefixlen;
	sl_addrtab_prefix_format(&p, buf, len);
}

static int cmp_line(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void print_sorted(char **lines, size_t n)
{
	qsort(lines, n, sizeof(*lines), cmp_line);
	for (size_t i = 0; i < n; i++) {
		puts(lines[i]);
		free(lines[i]);
	}
	free(lines);
}

static int show_dst(struct sl_bpfmap *m)
{
	struct sl_dst_entry *v = NULL;
	size_t n = 0;
	char **lines;
	int r = sl_bpfmap_dump_dst(m, &v, &n);

	if (r < 0)
		return r;
	lines = calloc(n ? n : 1, sizeof(*lines));
	for (size_t i = 0; lines && i < n; i++) {
		char p[80], ports[64] = "";
		size_t o = 0;

		pfx_text(&v[i].key, p, sizeof(p));
		for (unsigned j = 0; j < v[i].val.n_ports && j < SL_MAX_PORTS; j++)
			o += (size_t)snprintf(ports + o, sizeof(ports) - o, "%s%u", j ? "," : "",
					      v[i].val.ports[j]);
		if (asprintf(&lines[i], "%s id=%u domain=%s mode=%s ports=%s", p, v[i].val.policy_id,
			     dom(v[i].val.policy_id), sl_mode_str(v[i].val.mode), ports) < 0)
			lines[i] = NULL;
	}
	if (lines)
		print_sorted(lines, n);
	free(v);
	return 0;
}

static int show_src(struct sl_bpfmap *m)
{
	struct sl_src_entry *v = NULL;
	size_t n = 0;
	char **lines;
	int r = sl_bpfmap_dump_src(m, &v, &n);

	if (r < 0)
		return r;
	lines = calloc(n ? n : 1, sizeof(*lines));
	for (size_t i = 0; lines && i < n; i++) {
		char p[80];

		pfx_text(&v[i].key, p, sizeof(p));
		if (asprintf(&lines[i], "%s id=%u domain=%s mode=%s", p, v[i].val.policy_id,
			     dom(v[i].val.policy_id), sl_mode_str(v[i].val.mode)) < 0)
			lines[i] = NULL;
	}
	if (lines)
		print_sorted(lines, n);
	free(v);
	return 0;
}

static int show_counters(struct sl_bpfmap *m, const char *which)
{
	struct sl_counters c;
	char *end;
	unsigned long id = 0;
	int r;

	if (which) {
		id = strtoul(which, &end, 10);
		if (*end) {
			id = 0;
			for (uint32_t i = 1; i < SL_MAX_POLICIES; i++)
				if (strcmp(meta[i].domain, which) == 0)
					id = i;
			if (!id)
				return -ENOENT;
		}
	}
	r = sl_bpfmap_counters(m, (uint32_t)id, &c);
	if (r < 0)
		return r;
	printf("id=%lu", id);
	for (int i = 0; i < SL_C__COUNT; i++)
		printf(" %s=%llu", sl_counter_name((unsigned)i), (unsigned long long)c.v[i]);
	printf("\n");
	return 0;
}

static int show_config(struct sl_bpfmap *m)
{
	struct sl_config c;
	char a4[64], a6[64];
	int r = sl_bpfmap_config_get(m, &c);

	if (r < 0)
		return r;
	sl_addr16_format(c.listen4, a4, sizeof(a4));
	sl_addr16_format(c.listen6, a6, sizeof(a6));
	printf("abi=%u flags=%#x listen4=%s:%u listen6=[%s]:%u inbound_port=%u\n", c.abi_version,
	       c.flags, a4, c.port4, a6, c.port6, c.inbound_port);
	return 0;
}

int main(int argc, char **argv)
{
	struct sl_bpfmap *m = NULL;
	int r;

	if (argc < 3) {
		fprintf(stderr, "usage: slmaps PIN_PATH dst|src|meta|config|counters [ID|DOMAIN]\n");
		return 2;
	}
	r = sl_bpfmap_open_pinned(argv[1], SL_BPFMAP_RDONLY, &m);
	if (r < 0) {
		fprintf(stderr, "slmaps: %s: %s\n", argv[1], strerror(-r));
		return 1;
	}
	r = sl_bpfmap_meta_read(m, meta);
	if (r == 0) {
		if (strcmp(argv[2], "dst") == 0)
			r = show_dst(m);
		else if (strcmp(argv[2], "src") == 0)
			r = show_src(m);
		else if (strcmp(argv[2], "counters") == 0)
			r = show_counters(m, argc > 3 ? argv[3] : NULL);
		else if (strcmp(argv[2], "config") == 0)
			r = show_config(m);
		else if (strcmp(argv[2], "meta") == 0)
			for (uint32_t i = 1; i < SL_MAX_POLICIES; i++) {
				if (meta[i].domain[0])
					printf("id=%u domain=%s direction=%u mode=%s\n", i, meta[i].domain,
					       meta[i].direction, sl_mode_str(meta[i].mode));
			}
		else
			r = -EINVAL;
	}
	sl_bpfmap_free(m);
	if (r < 0) {
		fprintf(stderr, "slmaps: %s: %s\n", argv[2], strerror(-r));
		return 1;
	}
	return 0;
}

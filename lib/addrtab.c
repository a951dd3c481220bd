/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* addrtab.c — listed addresses and the strictest-wins rule; see addrtab.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addrtab.h"

struct sl_addrtab {
	enum sl_addrtab_kind kind;
	struct sl_addrtab_entry *v;
	size_t n, cap;
};

int sl_addrtab_new(enum sl_addrtab_kind kind, struct sl_addrtab **ret)
{
	struct sl_addrtab *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->kind = kind;
	*ret = t;
	return 0;
}

struct sl_addrtab *sl_addrtab_free(struct sl_addrtab *t)
{
	if (!t)
		return NULL;
	for (size_t i = 0; i < t->n; i++)
		free(t->v[i].mx_name);
	free(t->v);
	free(t);
	return NULL;
}

size_t sl_addrtab_count(const struct sl_addrtab *t)
{
	return t->n;
}

const struct sl_addrtab_entry *sl_addrtab_at(const struct sl_addrtab *t, size_t i)
{
	return i < t->n ? &t->v[i] : NULL;
}

static void sl_mask(uint8_t a[16], unsigned plen)
{
	for (unsigned i = 0; i < 16; i++) {
		unsigned bits = plen > i * 8 ? plen - i * 8 : 0;

		if (bits < 8)
			a[i] &= bits ? (uint8_t)(0xff << (8 - bits)) : 0;
	}
}

/* Does prefix p contain address/prefix (a, alen)? */
static bool sl_contains(const struct sl_prefix *p, const uint8_t a[16], unsigned alen)
{
	uint8_t x[16];

	if (p->plen > alen)
		return false;
	memcpy(x, a, 16);
	sl_mask(x, p->plen);
	return memcmp(x, p->addr, 16) == 0;
}

int sl_addrtab_add(struct sl_addrtab *t, const struct sl_prefix *pfx,
		   const struct sl_partner *p, size_t partner_idx, uint32_t policy_id,
		   const char *mx_name)
{
	struct sl_addrtab_entry e;

	if (pfx->plen > 128)
		return -EINVAL;
	memset(&e, 0, sizeof(e));
	e.pfx = *pfx;
	sl_mask(e.pfx.addr, e.pfx.plen);
	e.partner = p;
	e.partner_idx = partner_idx;
	e.policy_id = policy_id;
	if (mx_name) {
		e.mx_name = strdup(mx_name);
		if (!e.mx_name)
			return -ENOMEM;
	}
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 32;
		struct sl_addrtab_entry *nv = realloc(t->v, cap * sizeof(*nv));

		if (!nv) {
			free(e.mx_name);
			return -ENOMEM;
		}
		t->v = nv;
		t->cap = cap;
	}
	t->v[t->n++] = e;
	return 0;
}

static int sl_verify_rank(enum sl_verify_mode v)
{
	switch (v) {
	case SL_VERIFY_FINGERPRINT: return 3;
	case SL_VERIFY_DANE: return 2;
	case SL_VERIFY_CA: return 1;
	case SL_VERIFY_NONE:
	default: return 0;
	}
}

static int sl_cmp(long a, long b)
{
	return a > b ? 1 : a < b ? -1 : 0;
}

static int sl_popcount(unsigned x)
{
	return __builtin_popcount(x);
}

int sl_partner_stricter(enum sl_addrtab_kind kind, const struct sl_partner *a,
			const struct sl_partner *b)
{
	int c;

	/* enforce (0) is stricter than testing (1) */
	c = sl_cmp(a->mode == SL_MODE_ENFORCE, b->mode == SL_MODE_ENFORCE);
	if (c)
		return c;
	if (kind == SL_ADDRTAB_INBOUND) {
		c = sl_cmp(a->has_inbound ? a->inbound.min_version : 0,
			   b->has_inbound ? b->inbound.min_version : 0);
		if (c)
			return c;
		return sl_cmp(a->has_inbound ? sl_popcount(a->inbound.require) : 0,
			      b->has_inbound ? sl_popcount(b->inbound.require) : 0);
	}
	c = sl_cmp(a->tls.min_version, b->tls.min_version);
	if (c)
		return c;
	c = sl_cmp(sl_verify_rank(a->tls.verify), sl_verify_rank(b->tls.verify));
	if (c)
		return c;
	return sl_cmp(a->has_auth, b->has_auth);
}

/* Is entry x a better governor than y? Strictness, then file order. */
static bool sl_better(const struct sl_addrtab *t, const struct sl_addrtab_entry *x,
		      const struct sl_addrtab_entry *y)
{
	int c;

	if (!y)
		return true;
	c = sl_partner_stricter(t->kind, x->partner, y->partner);
	if (c)
		return c > 0;
	return x->partner_idx < y->partner_idx;
}

const struct sl_addrtab_entry *sl_addrtab_lookup(const struct sl_addrtab *t,
						 const uint8_t addr[16])
{
	const struct sl_addrtab_entry *best = NULL;

	for (size_t i = 0; i < t->n; i++) {
		const struct sl_addrtab_entry *e = &t->v[i];

		if (!sl_contains(&e->pfx, addr, 128))
			continue;
		if (!best || e->partner != best->partner) {
			if (sl_better(t, e, best))
				best = e;
			continue;
		}
		/* Same partner: the longest prefix, an MX name over none. */
		if (e->pfx.plen > best->pfx.plen ||
		    (e->pfx.plen == best->pfx.plen && e->mx_name && !best->mx_name))
			best = e;
	}
	return best;
}

static int sl_pfx_cmp(const void *a, const void *b)
{
	const struct sl_addrtab_entry *x = *(const struct sl_addrtab_entry *const *)a;
	const struct sl_addrtab_entry *y = *(const struct sl_addrtab_entry *const *)b;
	int c = memcmp(x->pfx.addr, y->pfx.addr, 16);

	return c ? c : sl_cmp(x->pfx.plen, y->pfx.plen);
}

static void sl_ports_merge(struct sl_dst_val *v, const struct sl_partner *p)
{
	for (size_t i = 0; i < p->n_ports && i < SL_MAX_PORTS; i++) {
		bool have = false;

		for (unsigned j = 0; j < v->n_ports; j++)
			have |= v->ports[j] == p->ports[i];
		if (!have && v->n_ports < SL_MAX_PORTS)
			v->ports[v->n_ports++] = p->ports[i];
	}
}

/* For each distinct prefix: its governing entry (strictest among the
 * entries containing it).  Calls fn(prefix, governor, arg) per prefix. */
typedef int (*sl_each_fn)(const struct sl_addrtab *t, const struct sl_prefix *pfx,
			  const struct sl_addrtab_entry *gov, void *arg);

static int sl_each_prefix(const struct sl_addrtab *t, sl_each_fn fn, void *arg)
{
	const struct sl_addrtab_entry **s;
	int r = 0;

	s = calloc(t->n ? t->n : 1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++)
		s[i] = &t->v[i];
	qsort(s, t->n, sizeof(*s), sl_pfx_cmp);
	for (size_t i = 0; i < t->n && r == 0; i++) {
		const struct sl_addrtab_entry *gov = NULL;

		if (i > 0 && sl_pfx_cmp(&s[i - 1], &s[i]) == 0)
			continue;
		for (size_t j = 0; j < t->n; j++)
			if (sl_contains(&t->v[j].pfx, s[i]->pfx.addr, s[i]->pfx.plen) &&
			    sl_better(t, &t->v[j], gov))
				gov = &t->v[j];
		r = fn(t, &s[i]->pfx, gov, arg);
	}
	free(s);
	return r;
}

struct sl_collect {
	void *v;
	size_t n;
	size_t esize;
};

static int sl_collect_dst(const struct sl_addrtab *t, const struct sl_prefix *pfx,
			  const struct sl_addrtab_entry *gov, void *arg)
{
	struct sl_collect *c = arg;
	struct sl_dst_entry *e = (struct sl_dst_entry *)c->v + c->n++;

	memset(e, 0, sizeof(*e));
	e->key.prefixlen = pfx->plen;
	memcpy(e->key.addr, pfx->addr, 16);
	e->val.policy_id = gov->policy_id;
	e->val.mode = (uint8_t)gov->partner->mode;
	sl_ports_merge(&e->val, gov->partner);
	/* Every other partner listing this address keeps its ports guarded. */
	for (size_t j = 0; j < t->n; j++)
		if (sl_contains(&t->v[j].pfx, pfx->addr, pfx->plen))
			sl_ports_merge(&e->val, t->v[j].partner);
	return 0;
}

static int sl_collect_src(const struct sl_addrtab *t, const struct sl_prefix *pfx,
			  const struct sl_addrtab_entry *gov, void *arg)
{
	struct sl_collect *c = arg;
	struct sl_src_entry *e = (struct sl_src_entry *)c->v + c->n++;

	(void)t;
	memset(e, 0, sizeof(*e));
	e->key.prefixlen = pfx->plen;
	memcpy(e->key.addr, pfx->addr, 16);
	e->val.policy_id = gov->policy_id;
	e->val.mode = (uint8_t)gov->partner->mode;
	return 0;
}

static int sl_collect(const struct sl_addrtab *t, size_t esize, sl_each_fn fn, void **ret,
		      size_t *n)
{
	struct sl_collect c = { .esize = esize };
	int r;

	c.v = calloc(t->n ? t->n : 1, esize);
	if (!c.v)
		return -ENOMEM;
	r = sl_each_prefix(t, fn, &c);
	if (r < 0) {
		free(c.v);
		return r;
	}
	*ret = c.v;
	*n = c.n;
	return 0;
}

int sl_addrtab_dst_entries(const struct sl_addrtab *t, struct sl_dst_entry **ret, size_t *n)
{
	return sl_collect(t, sizeof(**ret), sl_collect_dst, (void **)ret, n);
}

int sl_addrtab_src_entries(const struct sl_addrtab *t, struct sl_src_entry **ret, size_t *n)
{
	return sl_collect(t, sizeof(**ret), sl_collect_src, (void **)ret, n);
}

void sl_addrtab_prefix_format(const struct sl_prefix *p, char *buf, size_t len)
{
	char a[64];
	bool v4 = sl_addr16_is_v4(p->addr);
	unsigned full = 128, plen = p->plen;

	sl_addr16_format(p->addr, a, sizeof(a));
	if (v4) {
		plen = plen >= 96 ? plen - 96 : 0;
		full = 32;
	}
	if (plen == full)
		snprintf(buf, len, "%s", a);
	else
		snprintf(buf, len, "%s/%u", a, plen);
}

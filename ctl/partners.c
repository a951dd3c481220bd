/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * partners.c — per-partner state: stable ids, DNS resolution in worker
 * jobs with TTL-driven refresh, and the maps made from it all.
 *
 * The invariant: a partner never silently falls out of enforcement.
 *  - a failed refresh keeps the last good addresses (and retries with
 *    backoff); a host whose lookup failed temporarily keeps its old
 *    addresses even when its siblings answered;
 *  - after a restart, the pinned entries of each partner seed its "last
 *    good" set, and the first syncs are add-only until every partner has
 *    answered once;
 *  - every sync is add-before-remove (lib/bpfmap.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "daemon_admin.h"
#include "daemon_int.h"
#include "log.h"

struct sl_rjob {
	struct sl_job job;
	struct sl_daemon *d;
	struct sl_pstate *ps;		/* NULL once cancelled */
	struct sl_rjob *next;		/* d->priv->jobs */
	/* inputs (copied: the worker touches nothing else) */
	char *domain;
	char **mx;
	size_t n_mx;
	/* outputs */
	int err;			/* the MX lookup's */
	bool null_mx, implicit, ad;
	uint32_t ttl;
	bool have_ttl;
	struct sl_rhost *hosts;
	int *host_err;
	size_t n_hosts;
};

static void sl_rhosts_free(struct sl_rhost *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(h[i].name);
		free(h[i].addrs);
	}
	free(h);
}

static size_t sl_rhosts_count(const struct sl_rhost *h, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		c += h[i].n;
	return c;
}

static void sl_rjob_free(struct sl_rjob *j)
{
	if (!j)
		return;
	free(j->domain);
	for (size_t i = 0; i < j->n_mx; i++)
		free(j->mx[i]);
	free(j->mx);
	sl_rhosts_free(j->hosts, j->n_hosts);
	free(j->host_err);
	free(j);
}

/* ---- the worker side ------------------------------------------------------ */

static void sl_rjob_add_host(struct sl_rjob *j, const char *name)
{
	struct sl_rhost *nh;
	int *ne;

	nh = realloc(j->hosts, (j->n_hosts + 1) * sizeof(*nh));
	if (!nh)
		return;
	j->hosts = nh;
	ne = realloc(j->host_err, (j->n_hosts + 1) * sizeof(*ne));
	if (!ne)
		return;
	j->host_err = ne;
	memset(&j->hosts[j->n_hosts], 0, sizeof(j->hosts[0]));
	j->hosts[j->n_hosts].name = strdup(name);
	j->host_err[j->n_hosts] = j->hosts[j->n_hosts].name ? 0 : -ENOMEM;
	j->n_hosts++;
}

static void sl_rjob_ttl(struct sl_rjob *j, uint32_t ttl)
{
	if (!j->have_ttl || ttl < j->ttl)
		j->ttl = ttl;
	j->have_ttl = true;
}

static void sl_rjob_work(void *arg)
{
	struct sl_rjob *j = arg;
	struct sl_mx_result mx;

	if (j->n_mx) {
		for (size_t i = 0; i < j->n_mx; i++)
			sl_rjob_add_host(j, j->mx[i]);
	} else {
		j->err = sl_resolve_mx(j->domain, &mx);
		if (j->err < 0)
			return;
		j->null_mx = mx.null_mx;
		j->implicit = mx.implicit;
		j->ad = mx.ad;
		if (!mx.implicit)
			sl_rjob_ttl(j, mx.ttl);
		for (size_t i = 0; i < mx.n; i++)
			sl_rjob_add_host(j, mx.mx[i].host);
	}
	for (size_t i = 0; i < j->n_hosts; i++) {
		struct sl_addr_result ar;
		int r;

		if (j->host_err[i] < 0)
			continue;
		r = sl_resolve_addrs(j->hosts[i].name, &ar);
		if (r < 0) {
			j->host_err[i] = r;
			continue;
		}
		if (ar.partial)
			j->host_err[i] = -EAGAIN;	/* keep the old ones too */
		if (ar.n)
			sl_rjob_ttl(j, ar.ttl);
		j->hosts[i].addrs = calloc(ar.n ? ar.n : 1, sizeof(struct sl_addr));
		if (!j->hosts[i].addrs) {
			j->host_err[i] = -ENOMEM;
			continue;
		}
		memcpy(j->hosts[i].addrs, ar.v, ar.n * sizeof(struct sl_addr));
		j->hosts[i].n = ar.n;
	}
}

/* ---- the loop side ---------------------------------------------------------- */

static void sl_jobs_unlink(struct sl_daemon *d, struct sl_rjob *j)
{
	for (struct sl_rjob **pp = &d->priv->jobs; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			return;
		}
}

static bool sl_addr_in(const struct sl_addr *v, size_t n, const struct sl_addr *a)
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(v[i].addr, a->addr, 16) == 0)
			return true;
	return false;
}

static const struct sl_rhost *sl_rhost_find(const struct sl_pstate *ps, const char *name)
{
	for (size_t i = 0; i < ps->n_hosts; i++)
		if (ps->hosts[i].name && strcmp(ps->hosts[i].name, name) == 0)
			return &ps->hosts[i];
	return NULL;
}

/* A temporarily failed host keeps what it had. */
static void sl_rhost_merge_old(struct sl_rhost *h, const struct sl_rhost *old)
{
	struct sl_addr *nv;

	if (!old || !old->n)
		return;
	nv = realloc(h->addrs, (h->n + old->n) * sizeof(*nv));
	if (!nv)
		return;
	h->addrs = nv;
	for (size_t i = 0; i < old->n; i++)
		if (!sl_addr_in(h->addrs, h->n, &old->addrs[i]))
			h->addrs[h->n++] = old->addrs[i];
}

static bool sl_rhosts_same(const struct sl_rhost *a, size_t na, const struct sl_rhost *b,
			   size_t nb)
{
	if (sl_rhosts_count(a, na) != sl_rhosts_count(b, nb))
		return false;
	for (size_t i = 0; i < na; i++)
		for (size_t k = 0; k < a[i].n; k++) {
			bool found = false;

			for (size_t j = 0; j < nb && !found; j++)
				found = (!a[i].name == !b[j].name) &&
					(!a[i].name || strcmp(a[i].name, b[j].name) == 0) &&
					sl_addr_in(b[j].addrs, b[j].n, &a[i].addrs[k]);
			if (!found)
				return false;
		}
	return true;
}

static void sl_pstate_schedule(struct sl_pstate *ps, uint64_t ms)
{
	if (ms < SL_DNS_FLOOR_MS)
		ms = SL_DNS_FLOOR_MS;
	if (ms > SL_DNS_CEILING_MS)
		ms = SL_DNS_CEILING_MS;
	sl_timer_arm(ps->d->loop, &ps->timer, ms);
}

static void sl_hosts_text(const struct sl_rhost *h, size_t n, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && o + 1 < len; i++) {
		int w = snprintf(buf + o, len - o, "%s%s", i ? "," : "",
				 h[i].name ? h[i].name : "(pinned)");

		if (w < 0)
			break;
		o += (size_t)w;
	}
	if (!buf[0])
		snprintf(buf, len, "-");
}

static bool sl_all_answered(struct sl_daemon *d)
{
	for (struct sl_pstate *ps = d->priv->ps; ps; ps = ps->next)
		if (!ps->resolved_once)
			return false;
	return true;
}

static void sl_rjob_done(void *arg)
{
	struct sl_rjob *j = arg;
	struct sl_daemon *d = j->d;
	struct sl_pstate *ps = j->ps;
	char hosts[512], eq[96];
	bool first, changed = false;

	sl_jobs_unlink(d, j);
	if (!ps) {			/* the partner went away meanwhile */
		sl_rjob_free(j);
		return;
	}
	ps->job = NULL;
	first = !ps->resolved_once;
	ps->resolved_once = true;

	if (j->err < 0) {
		uint64_t retry = (uint64_t)SL_DNS_FLOOR_MS << (ps->failures < 6 ? ps->failures : 6);

		ps->failures++;
		if (retry > SL_DNS_RETRY_MAX_MS)
			retry = SL_DNS_RETRY_MAX_MS;
		sl_log(SL_LOG_WARN,
		       "event=dns_failed domain=%s err=%s kept=%zu retry_ms=%llu",
		       ps->domain, sl_logq(eq, sizeof(eq), sl_resolve_strerror(j->err)), sl_rhosts_count(ps->hosts, ps->n_hosts),
		       (unsigned long long)retry);
		sl_pstate_schedule(ps, retry);
		sl_daemon_admin_dns_failed(d, ps, j->err);
	} else {
		for (size_t i = 0; i < j->n_hosts; i++) {
			if (j->host_err[i] == 0 || j->host_err[i] == -ENOENT) {
				if (j->host_err[i] == -ENOENT)
					sl_log(SL_LOG_WARN, "event=dns_no_host domain=%s mx=%s",
					       ps->domain, j->hosts[i].name);
				continue;
			}
			sl_log(SL_LOG_WARN, "event=dns_failed domain=%s mx=%s err=%s kept=%zu",
			       ps->domain, j->hosts[i].name,
			       sl_logq(eq, sizeof(eq), sl_resolve_strerror(j->host_err[i])),
			       sl_rhost_find(ps, j->hosts[i].name) ?
			       sl_rhost_find(ps, j->hosts[i].name)->n : 0);
			sl_rhost_merge_old(&j->hosts[i], sl_rhost_find(ps, j->hosts[i].name));
		}
		changed = !sl_rhosts_same(j->hosts, j->n_hosts, ps->hosts, ps->n_hosts);
		sl_rhosts_free(ps->hosts, ps->n_hosts);
		ps->hosts = j->hosts;
		ps->n_hosts = j->n_hosts;
		j->hosts = NULL;
		j->n_hosts = 0;
		ps->failures = 0;
		sl_hosts_text(ps->hosts, ps->n_hosts, hosts, sizeof(hosts));
		sl_log(changed || first ? SL_LOG_INFO : SL_LOG_DEBUG,
		       "event=dns_resolved domain=%s mx=%s addresses=%zu ttl=%u ad=%d%s%s",
		       ps->domain, hosts, sl_rhosts_count(ps->hosts, ps->n_hosts),
		       j->have_ttl ? j->ttl : 0, j->ad, j->null_mx ? " null_mx=1" : "",
		       j->implicit ? " implicit_mx=1" : "");
		sl_pstate_schedule(ps, j->have_ttl ? (uint64_t)j->ttl * 900 : 0);
		sl_daemon_admin_dns(d, ps, j->have_ttl ? j->ttl : 0);
	}
	sl_rjob_free(j);

	if (d->priv->initial && sl_all_answered(d)) {
		d->priv->initial = false;	/* from now on syncs also remove */
		changed = true;
	}
	if (changed || first)
		sl_partners_sync(d);
}

static void sl_pstate_resolve(struct sl_pstate *ps)
{
	struct sl_daemon *d = ps->d;
	struct sl_rjob *j;

	if (ps->job)		/* one at a time: the answer comes soon */
		return;
	j = calloc(1, sizeof(*j));
	if (!j)
		goto fail;
	j->d = d;
	j->ps = ps;
	j->domain = strdup(ps->domain);
	if (!j->domain)
		goto fail;
	if (ps->p->n_mx) {
		j->mx = calloc(ps->p->n_mx, sizeof(*j->mx));
		if (!j->mx)
			goto fail;
		for (; j->n_mx < ps->p->n_mx; j->n_mx++) {
			j->mx[j->n_mx] = strdup(ps->p->mx[j->n_mx]);
			if (!j->mx[j->n_mx])
				goto fail;
		}
	}
	j->job.work = sl_rjob_work;
	j->job.done = sl_rjob_done;
	j->job.arg = j;
	if (sl_loop_submit(d->loop, &j->job) < 0)
		goto fail;
	j->next = d->priv->jobs;
	d->priv->jobs = j;
	ps->job = j;
	return;
fail:
	sl_rjob_free(j);
	sl_log(SL_LOG_ERR, "event=dns_failed domain=%s err=%s", ps->domain, strerror(ENOMEM));
	sl_pstate_schedule(ps, SL_DNS_FLOOR_MS);
}

static void sl_pstate_on_timer(struct sl_loop *loop, void *arg)
{
	(void)loop;
	sl_pstate_resolve(arg);
}

/* ---- lifecycle ------------------------------------------------------------------ */

static char *sl_resolve_sig(const struct sl_partner *p, bool needs_dns)
{
	size_t len = strlen(p->domain) + 8;
	char *s;

	for (size_t i = 0; i < p->n_mx; i++)
		len += strlen(p->mx[i]) + 1;
	s = malloc(len);
	if (!s)
		return NULL;
	snprintf(s, len, "%d|%s|", needs_dns, p->domain);
	for (size_t i = 0; i < p->n_mx; i++) {
		strcat(s, p->mx[i]);
		strcat(s, ",");
	}
	return s;
}

static void sl_pstate_free(struct sl_pstate *ps)
{
	if (!ps)
		return;
	sl_timer_cancel(ps->d->loop, &ps->timer);
	if (ps->job)
		ps->job->ps = NULL;	/* its done function frees it */
	sl_rhosts_free(ps->hosts, ps->n_hosts);
	free(ps->sig);
	free(ps->domain);
	free(ps);
}

struct sl_pstate *sl_partners_by_id(struct sl_daemon *d, uint32_t id)
{
	for (struct sl_pstate *ps = d->priv->ps; ps; ps = ps->next)
		if (ps->id == id)
			return ps;
	return NULL;
}

uint32_t sl_daemon_policy_id(struct sl_daemon *d, const char *domain)
{
	for (struct sl_pstate *ps = d->priv->ps; ps; ps = ps->next)
		if (strcmp(ps->domain, domain) == 0)
			return ps->id;
	return 0;
}

/*
 * (Re)build the partner list for policy p: existing states are matched by
 * domain and keep their id, addresses and timers; new partners get the
 * lowest free ids (lib/bpfmap.c: sl_policy_ids_assign); partners that
 * left are freed.  Resolution of new or changed partners starts now.
 */
int sl_partners_build(struct sl_daemon *d, const struct sl_policy *p)
{
	struct sl_policy_meta *meta = NULL;
	const char **domains = NULL;
	struct sl_pstate *list = NULL, **tail = &list;
	uint32_t *ids = NULL;
	int r;

	meta = calloc(SL_MAX_POLICIES, sizeof(*meta));
	domains = calloc(p->n_partners ? p->n_partners : 1, sizeof(*domains));
	ids = calloc(p->n_partners ? p->n_partners : 1, sizeof(*ids));
	if (!meta || !domains || !ids) {
		r = -ENOMEM;
		goto out;
	}
	r = sl_bpfmap_meta_read(d->bpf, meta);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < p->n_partners; i++)
		domains[i] = p->partners[i].domain;
	r = sl_policy_ids_assign(meta, domains, p->n_partners, ids);
	if (r < 0)
		goto out;

	for (size_t i = 0; i < p->n_partners; i++) {
		const struct sl_partner *pt = &p->partners[i];
		bool needs_dns = (pt->direction & SL_DIR_OUTBOUND) ||
				 (pt->has_inbound && pt->inbound.sources_mx);
		struct sl_pstate *ps = NULL, **pp;
		char *sig = sl_resolve_sig(pt, needs_dns);

		if (!sig) {
			r = -ENOMEM;
			goto out;
		}
		for (pp = &d->priv->ps; *pp; pp = &(*pp)->next)
			if (strcmp((*pp)->domain, pt->domain) == 0) {
				ps = *pp;
				*pp = ps->next;	/* moved to the new list */
				break;
			}
		if (!ps) {
			ps = calloc(1, sizeof(*ps));
			if (!ps || !(ps->domain = strdup(pt->domain))) {
				free(ps);
				free(sig);
				r = -ENOMEM;
				goto out;
			}
			ps->d = d;
			sl_timer_init(&ps->timer, sl_pstate_on_timer, ps);
		}
		ps->p = pt;
		ps->idx = i;
		ps->id = ids[i];
		ps->needs_dns = needs_dns;
		if (!ps->sig || strcmp(ps->sig, sig) != 0) {
			/* New, or its names changed: resolve now.  The old
			 * addresses stay until the answer (fail-safe). */
			free(ps->sig);
			ps->sig = sig;
			ps->resolved_once = !needs_dns;
			sl_timer_cancel(d->loop, &ps->timer);
			if (ps->job) {
				ps->job->ps = NULL;
				ps->job = NULL;
			}
			if (!needs_dns) {
				sl_rhosts_free(ps->hosts, ps->n_hosts);
				ps->hosts = NULL;
				ps->n_hosts = 0;
			}
		} else {
			free(sig);
		}
		ps->next = NULL;
		*tail = ps;
		tail = &ps->next;
	}
	r = 0;
out:
	if (r < 0) {
		/* Keep every state (and its last good addresses): the caller
		 * rebuilds on the policy still in force, which re-points them. */
		*tail = d->priv->ps;
		d->priv->ps = list;
		goto done;
	}
	/* Whatever is left in the old list left the policy. */
	while (d->priv->ps) {
		struct sl_pstate *gone = d->priv->ps;

		d->priv->ps = gone->next;
		sl_log(SL_LOG_INFO, "event=partner_removed domain=%s id=%u", gone->domain, gone->id);
		sl_pstate_free(gone);
	}
	d->priv->ps = list;
done:
	free(ids);
	free(domains);
	free(meta);
	return r;
}

static bool sl_prefix_has(const struct sl_prefix *v, size_t n, const uint8_t a[16])
{
	for (size_t i = 0; i < n; i++) {
		unsigned plen = v[i].plen, full = plen / 8, rest = plen % 8;

		if (memcmp(v[i].addr, a, full) != 0)
			continue;
		if (rest && ((v[i].addr[full] ^ a[full]) & (uint8_t)(0xff << (8 - rest))))
			continue;
		return true;
	}
	return false;
}

/* A fixed address/prefix of the partner: not a resolved one. */
static bool sl_pstate_fixed(const struct sl_pstate *ps, const uint8_t a[16])
{
	const struct sl_partner *p = ps->p;

	return sl_prefix_has(p->addresses, p->n_addresses, a) ||
	       (p->has_inbound && sl_prefix_has(p->inbound.sources, p->inbound.n_sources, a));
}

/*
 * After a restart: what the pins say each partner had (host entries that
 * are not its fixed addresses) is its last good set, until DNS answers.
 */
int sl_partners_seed(struct sl_daemon *d)
{
	struct sl_policy_meta *meta = calloc(SL_MAX_POLICIES, sizeof(*meta));
	struct sl_dst_entry *dst = NULL;
	struct sl_src_entry *src = NULL;
	size_t n_dst = 0, n_src = 0;
	int r;

	if (!meta)
		return -ENOMEM;
	r = sl_bpfmap_meta_read(d->bpf, meta);
	if (r == 0)
		r = sl_bpfmap_dump_dst(d->bpf, &dst, &n_dst);
	if (r == 0)
		r = sl_bpfmap_dump_src(d->bpf, &src, &n_src);
	if (r < 0)
		goto out;
	for (size_t k = 0; k < n_dst + n_src; k++) {
		const struct sl_lpm_key *key = k < n_dst ? &dst[k].key : &src[k - n_dst].key;
		uint32_t id = k < n_dst ? dst[k].val.policy_id : src[k - n_dst].val.policy_id;
		struct sl_pstate *ps;
		struct sl_addr a;
		struct sl_rhost *h;

		if (key->prefixlen != 128 || id == 0 || id >= SL_MAX_POLICIES || !meta[id].domain[0])
			continue;
		for (ps = d->priv->ps; ps; ps = ps->next)
			if (ps->needs_dns && strncmp(ps->domain, meta[id].domain, SL_DOMAIN_MAX) == 0)
				break;
		if (!ps || sl_pstate_fixed(ps, key->addr))
			continue;
		if (!ps->n_hosts || ps->hosts[0].name) {
			struct sl_rhost *nh = realloc(ps->hosts, (ps->n_hosts + 1) * sizeof(*nh));

			if (!nh) {
				r = -ENOMEM;
				goto out;
			}
			memmove(nh + 1, nh, ps->n_hosts * sizeof(*nh));
			memset(nh, 0, sizeof(*nh));
			ps->hosts = nh;
			ps->n_hosts++;
		}
		h = &ps->hosts[0];
		memset(&a, 0, sizeof(a));
		memcpy(a.addr, key->addr, 16);
		a.family = sl_addr16_is_v4(a.addr) ? AF_INET : AF_INET6;
		if (!sl_addr_in(h->addrs, h->n, &a)) {
			struct sl_addr *nv = realloc(h->addrs, (h->n + 1) * sizeof(*nv));

			if (!nv) {
				r = -ENOMEM;
				goto out;
			}
			h->addrs = nv;
			h->addrs[h->n++] = a;
		}
	}
out:
	free(src);
	free(dst);
	free(meta);
	return r;
}

void sl_partners_resolve_all(struct sl_daemon *d)
{
	for (struct sl_pstate *ps = d->priv->ps; ps; ps = ps->next)
		if (ps->needs_dns && !ps->resolved_once && !ps->job)
			sl_pstate_resolve(ps);
	if (d->priv->initial && sl_all_answered(d)) {
		d->priv->initial = false;
		sl_partners_sync(d);
	}
}

static int sl_tab_add_addrs(struct sl_addrtab *t, const struct sl_pstate *ps)
{
	for (size_t i = 0; i < ps->n_hosts; i++)
		for (size_t k = 0; k < ps->hosts[i].n; k++) {
			struct sl_prefix pfx;
			int r;

			memset(&pfx, 0, sizeof(pfx));
			pfx.family = ps->hosts[i].addrs[k].family;
			memcpy(pfx.addr, ps->hosts[i].addrs[k].addr, 16);
			pfx.plen = 128;
			r = sl_addrtab_add(t, &pfx, ps->p, ps->idx, ps->id, ps->hosts[i].name);
			if (r < 0)
				return r;
		}
	return 0;
}

/* The tables and the maps from the current partner states. */
int sl_partners_sync(struct sl_daemon *d)
{
	struct sl_addrtab *out = NULL, *in = NULL;
	struct sl_dst_entry *dst = NULL;
	struct sl_src_entry *src = NULL;
	struct sl_meta_entry *meta = NULL;
	struct sl_desired want = { 0 };
	struct sl_sync_stats st;
	size_t n_meta = 0;
	int r;

	r = sl_addrtab_new(SL_ADDRTAB_OUTBOUND, &out);
	if (r == 0)
		r = sl_addrtab_new(SL_ADDRTAB_INBOUND, &in);
	if (r < 0)
		goto out;
	for (struct sl_pstate *ps = d->priv->ps; ps; ps = ps->next)
		n_meta++;
	meta = calloc(n_meta ? n_meta : 1, sizeof(*meta));
	if (!meta) {
		r = -ENOMEM;
		goto out;
	}
	n_meta = 0;
	for (struct sl_pstate *ps = d->priv->ps; ps && r == 0; ps = ps->next) {
		const struct sl_partner *p = ps->p;
		struct sl_meta_entry *m = &meta[n_meta++];

		m->id = ps->id;
		snprintf(m->meta.domain, sizeof(m->meta.domain), "%s", p->domain);
		m->meta.direction = (uint8_t)p->direction;
		m->meta.mode = (uint8_t)p->mode;
		m->meta.min_tls = p->tls.min_version;
		m->meta.verify = (uint8_t)p->tls.verify;
		if (p->direction & SL_DIR_OUTBOUND) {
			for (size_t i = 0; i < p->n_addresses && r == 0; i++)
				r = sl_addrtab_add(out, &p->addresses[i], p, ps->idx, ps->id, NULL);
			if (r == 0)
				r = sl_tab_add_addrs(out, ps);
		}
		if ((p->direction & SL_DIR_INBOUND) && p->has_inbound) {
			for (size_t i = 0; i < p->inbound.n_sources && r == 0; i++)
				r = sl_addrtab_add(in, &p->inbound.sources[i], p, ps->idx, ps->id,
						   NULL);
			if (r == 0 && p->inbound.sources_mx)
				r = sl_tab_add_addrs(in, ps);
		}
	}
	if (r < 0)
		goto out;
	r = sl_addrtab_dst_entries(out, &dst, &want.n_dst);
	if (r == 0)
		r = sl_addrtab_src_entries(in, &src, &want.n_src);
	if (r < 0)
		goto out;
	want.dst = dst;
	want.src = src;
	want.meta = meta;
	want.n_meta = n_meta;
	r = sl_bpfmap_sync(d->bpf, &want, d->priv->initial ? SL_SYNC_NO_REMOVE : 0, &st);
	if (r < 0) {
		sl_log(SL_LOG_ERR, "event=sync_failed err=%s", strerror(-r));
		goto out;
	}
	sl_log(st.added || st.updated || st.removed || st.meta_added || st.meta_removed ?
	       SL_LOG_INFO : SL_LOG_DEBUG,
	       "event=maps_synced dst=%zu src=%zu added=%u updated=%u removed=%u "
	       "partners_added=%u partners_removed=%u phase=%s",
	       want.n_dst, want.n_src, st.added, st.updated, st.removed, st.meta_added,
	       st.meta_removed, d->priv->initial ? "add-only" : "full");
	sl_addrtab_free(d->priv->out);
	sl_addrtab_free(d->priv->in);
	d->priv->out = out;
	d->priv->in = in;
	out = in = NULL;
out:
	sl_addrtab_free(out);
	sl_addrtab_free(in);
	free(meta);
	free(src);
	free(dst);
	return r;
}

void sl_partners_free(struct sl_daemon *d)
{
	while (d->priv->ps) {
		struct sl_pstate *ps = d->priv->ps;

		d->priv->ps = ps->next;
		sl_pstate_free(ps);
	}
}

/* After the loop (and its workers) are gone: jobs whose done never ran. */
void sl_partners_jobs_free(struct sl_daemon *d)
{
	while (d->priv->jobs) {
		struct sl_rjob *j = d->priv->jobs;

		d->priv->jobs = j->next;
		sl_rjob_free(j);
	}
}

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * pstats.c — per-partner run-time statistics (pstats.h).  A plain array
 * searched linearly: a policy has at most SL_MAX_POLICIES partners and an
 * update is one strcmp pass, far below a session's own cost.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "inbound.h"
#include "outbound.h"
#include "pstats.h"
#include "resolve.h"
#include "smtp.h"

struct sl_pstats {
	struct sl_pstat *v;
	size_t n, cap;
	uint64_t paths[SL_PSTATS_PATHS];
};

int sl_pstats_new(struct sl_pstats **ret)
{
	struct sl_pstats *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

struct sl_pstats *sl_pstats_free(struct sl_pstats *s)
{
	if (!s)
		return NULL;
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i].addrs);
	free(s->v);
	free(s);
	return NULL;
}

const struct sl_pstat *sl_pstats_find(const struct sl_pstats *s, const char *domain)
{
	for (size_t i = 0; s && i < s->n; i++)
		if (!strcmp(s->v[i].domain, domain))
			return &s->v[i];
	return NULL;
}

static struct sl_pstat *sl_pstats_get(struct sl_pstats *s, const char *domain)
{
	struct sl_pstat *e = (struct sl_pstat *)sl_pstats_find(s, domain);

	if (e)
		return e;
	if (!domain[0] || strlen(domain) >= SL_DOMAIN_MAX || s->n >= SL_MAX_POLICIES)
		return NULL;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 16;
		struct sl_pstat *nv = realloc(s->v, cap * sizeof(*nv));

		if (!nv)
			return NULL;
		s->v = nv;
		s->cap = cap;
	}
	e = &s->v[s->n++];
	memset(e, 0, sizeof(*e));
	strcpy(e->domain, domain);
	return e;
}

int sl_pstats_session(struct sl_pstats *s, const char *domain, enum sl_pstats_dir dir, bool ok,
		      const char *reason, enum sl_datapath path)
{
	struct sl_pstat *e = sl_pstats_get(s, domain);
	time_t now = time(NULL);

	if (!e)
		return -ENOMEM;
	dir = dir == SL_PSTATS_IN ? SL_PSTATS_IN : SL_PSTATS_OUT;
	if ((unsigned)path < SL_PSTATS_PATHS)
		s->paths[path]++;
	if (ok) {
		e->ok[dir]++;
		e->last_ok = now;
		return 0;
	}
	e->failed[dir]++;
	e->last_failure = now;
	e->last_failure_dir = dir;
	/* Peer text may be in the reason: printable before anyone shows it. */
	reason = reason && reason[0] ? reason : "unknown";
	sl_smtp_printable(e->last_reason, sizeof(e->last_reason), reason, strlen(reason));
	return 0;
}

int sl_pstats_outbound_done(struct sl_pstats *s, const char *domain,
			    const struct sl_outbound_result *r)
{
	const char *res = r->result ? r->result : "";

	if (!strcmp(res, "relayed"))
		return sl_pstats_session(s, domain, SL_PSTATS_OUT, true, NULL, r->path);
	if (!strcmp(res, "deferred") || !strcmp(res, "rejected") ||
	    (!strcmp(res, "aborted") && r->reason[0]))
		return sl_pstats_session(s, domain, SL_PSTATS_OUT, false,
					 r->reason[0] ? r->reason : res, r->path);
	return 0;			/* probe results, a plain hang-up */
}

int sl_pstats_inbound_done(struct sl_pstats *s, const char *domain,
			   const struct sl_inbound_result *r)
{
	const char *res = r->result ? r->result : "";

	if (!strcmp(res, "relayed"))
		return sl_pstats_session(s, domain, SL_PSTATS_IN, true, NULL, r->path);
	if (!strcmp(res, "refused") || !strcmp(res, "relay-error") ||
	    (!strcmp(res, "aborted") && r->reason[0]))
		return sl_pstats_session(s, domain, SL_PSTATS_IN, false,
					 r->reason[0] ? r->reason : res, r->path);
	return 0;
}

int sl_pstats_set_addrs(struct sl_pstats *s, const char *domain,
			const struct sl_pstats_addr *v, size_t n)
{
	struct sl_pstat *e = sl_pstats_get(s, domain);
	struct sl_pstats_addr *nv = NULL;

	if (!e)
		return -ENOMEM;
	if (n > SL_PSTATS_MAX_ADDRS)
		n = SL_PSTATS_MAX_ADDRS;
	if (n) {
		nv = malloc(n * sizeof(*nv));
		if (!nv)
			return -ENOMEM;
		memcpy(nv, v, n * sizeof(*nv));
		for (size_t i = 0; i < n; i++)
			nv[i].host[SL_DOMAIN_MAX - 1] = 0;
	}
	free(e->addrs);
	e->addrs = nv;
	e->n_addrs = n;
	e->have_addrs = true;
	e->resolved_at = time(NULL);
	return 0;
}

int sl_pstats_dns_failed(struct sl_pstats *s, const char *domain, int err)
{
	struct sl_pstat *e = sl_pstats_get(s, domain);

	if (!e)
		return -ENOMEM;
	e->dns_failed_at = time(NULL);
	snprintf(e->dns_error, sizeof(e->dns_error), "%s", sl_resolve_strerror(err));
	return 0;
}

void sl_pstats_retain(struct sl_pstats *s, const char *const *domains, size_t n)
{
	size_t o = 0;

	for (size_t i = 0; i < s->n; i++) {
		bool keep = false;

		for (size_t k = 0; k < n && !keep; k++)
			keep = !strcmp(s->v[i].domain, domains[k]);
		if (keep)
			s->v[o++] = s->v[i];
		else
			free(s->v[i].addrs);
	}
	s->n = o;
}

void sl_pstats_paths(const struct sl_pstats *s, uint64_t out[SL_PSTATS_PATHS])
{
	memcpy(out, s->paths, sizeof(s->paths));
}

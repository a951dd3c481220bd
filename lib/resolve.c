/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* resolve.c — MX, A/AAAA and TLSA through res_nquery; see resolve.h. */
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "resolve.h"

#define SL_DNS_BUF	65536

/* One query with its own resolver state.  Returns the answer length. */
static int sl_query(const char *name, int type, uint8_t *buf, size_t len)
{
	struct __res_state st;
	int n, r;

	memset(&st, 0, sizeof(st));
	if (res_ninit(&st) < 0) {
		res_nclose(&st);
		return -EIO;
	}
	/* EDNS0 + DO, and keep the resolver's AD bit instead of clearing it. */
	st.options |= RES_USE_EDNS0 | RES_USE_DNSSEC | RES_TRUSTAD;
	n = res_nquery(&st, name, ns_c_in, type, buf, (int)len);
	if (n >= 0) {
		r = n;
	} else {
		switch (st.res_h_errno) {
		case HOST_NOT_FOUND: r = -ENOENT; break;
		case NO_DATA: r = 0; break;	/* exists, nothing of this type */
		case TRY_AGAIN: r = -EAGAIN; break;
		default: r = -EIO; break;
		}
	}
	res_nclose(&st);
	return r;
}

static void sl_name_norm(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && s[n - 1] == '.')
		s[--n] = '\0';
	for (char *p = s; *p; p++)
		*p = (char)tolower((unsigned char)*p);
}

static uint32_t sl_ttl_min(uint32_t cur, bool first, uint32_t ttl)
{
	return first || ttl < cur ? ttl : cur;
}

static int sl_mx_cmp(const void *a, const void *b)
{
	const struct sl_mx *x = a, *y = b;

	if (x->pref != y->pref)
		return x->pref < y->pref ? -1 : 1;
	return strcmp(x->host, y->host);
}

int sl_resolve_parse_mx(const uint8_t *msg, size_t len, struct sl_mx_result *ret)
{
	struct sl_mx_result r;
	bool saw_null = false, first = true;
	ns_msg h;

	memset(&r, 0, sizeof(r));
	if (ns_initparse(msg, (int)len, &h) < 0)
		return -EIO;
	r.ad = ns_msg_getflag(h, ns_f_ad);
	for (int i = 0; i < ns_msg_count(h, ns_s_an); i++) {
		struct sl_mx mx;
		ns_rr rr;

		if (ns_parserr(&h, ns_s_an, i, &rr) < 0)
			return -EIO;
		if (ns_rr_type(rr) != ns_t_mx || ns_rr_rdlen(rr) < 3)
			continue;
		memset(&mx, 0, sizeof(mx));
		mx.pref = ns_get16(ns_rr_rdata(rr));
		if (ns_name_uncompress(ns_msg_base(h), ns_msg_end(h), ns_rr_rdata(rr) + 2,
				       mx.host, sizeof(mx.host)) < 0)
			return -EIO;
		sl_name_norm(mx.host);
		r.ttl = sl_ttl_min(r.ttl, first, ns_rr_ttl(rr));
		first = false;
		if (!mx.host[0]) {	/* "." */
			saw_null = true;
			continue;
		}
		if (r.n < SL_RESOLVE_MAX_MX)
			r.mx[r.n++] = mx;
	}
	/* RFC 7505: a null MX is the only MX; anything else is a broken zone,
	 * and we use the real hosts it lists. */
	r.null_mx = saw_null && r.n == 0;
	qsort(r.mx, r.n, sizeof(r.mx[0]), sl_mx_cmp);
	*ret = r;
	return 0;
}

int sl_resolve_parse_addrs(const uint8_t *msg, size_t len, int type, struct sl_addr_result *ret)
{
	ns_msg h;
	bool first = ret->n == 0;

	if (ns_initparse(msg, (int)len, &h) < 0)
		return -EIO;
	if (!ns_msg_getflag(h, ns_f_ad))
		ret->ad = false;
	for (int i = 0; i < ns_msg_count(h, ns_s_an); i++) {
		struct sl_addr a;
		ns_rr rr;

		if (ns_parserr(&h, ns_s_an, i, &rr) < 0)
			return -EIO;
		if ((int)ns_rr_type(rr) != type)
			continue;
		memset(&a, 0, sizeof(a));
		if (type == ns_t_a && ns_rr_rdlen(rr) == 4) {
			a.family = AF_INET;
			a.addr[10] = a.addr[11] = 0xff;
			memcpy(&a.addr[12], ns_rr_rdata(rr), 4);
		} else if (type == ns_t_aaaa && ns_rr_rdlen(rr) == 16) {
			a.family = AF_INET6;
			memcpy(a.addr, ns_rr_rdata(rr), 16);
		} else {
			continue;
		}
		ret->ttl = sl_ttl_min(ret->ttl, first, ns_rr_ttl(rr));
		first = false;
		if (ret->n < SL_RESOLVE_MAX_ADDRS)
			ret->v[ret->n++] = a;
	}
	return 0;
}

void sl_tlsa_result_done(struct sl_tlsa_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i].data);
	free(r->v);
	memset(r, 0, sizeof(*r));
}

int sl_resolve_parse_tlsa(const uint8_t *msg, size_t len, struct sl_tlsa_result *ret)
{
	struct sl_tlsa_result r;
	ns_msg h;

	memset(&r, 0, sizeof(r));
	if (ns_initparse(msg, (int)len, &h) < 0)
		return -EIO;
	r.ad = ns_msg_getflag(h, ns_f_ad);
	for (int i = 0; i < ns_msg_count(h, ns_s_an); i++) {
		const uint8_t *d;
		struct sl_tlsa *nv;
		ns_rr rr;

		if (ns_parserr(&h, ns_s_an, i, &rr) < 0)
			goto fail;
		if (ns_rr_type(rr) != ns_t_tlsa || ns_rr_rdlen(rr) < 4)
			continue;
		nv = realloc(r.v, (r.n + 1) * sizeof(*nv));
		if (!nv)
			goto fail;
		r.v = nv;
		d = ns_rr_rdata(rr);
		r.v[r.n].usage = d[0];
		r.v[r.n].selector = d[1];
		r.v[r.n].mtype = d[2];
		r.v[r.n].len = ns_rr_rdlen(rr) - 3u;
		r.v[r.n].data = malloc(r.v[r.n].len);
		if (!r.v[r.n].data)
			goto fail;
		memcpy(r.v[r.n].data, d + 3, r.v[r.n].len);
		r.ttl = sl_ttl_min(r.ttl, r.n == 0, ns_rr_ttl(rr));
		r.n++;
	}
	*ret = r;
	return 0;
fail:
	sl_tlsa_result_done(&r);
	return -ENOMEM;
}

int sl_resolve_mx(const char *domain, struct sl_mx_result *ret)
{
	uint8_t *buf = malloc(SL_DNS_BUF);
	struct sl_mx_result r;
	int n;

	if (!buf)
		return -ENOMEM;
	memset(&r, 0, sizeof(r));
	n = sl_query(domain, ns_t_mx, buf, SL_DNS_BUF);
	if (n > 0)
		n = sl_resolve_parse_mx(buf, (size_t)n, &r);
	free(buf);
	if (n < 0)
		return n;
	if (r.n == 0 && !r.null_mx) {
		/* RFC 5321 5.1: no MX, so the domain itself is the mail host. */
		if (strlen(domain) >= sizeof(r.mx[0].host))
			return -ENAMETOOLONG;
		snprintf(r.mx[0].host, sizeof(r.mx[0].host), "%s", domain);
		sl_name_norm(r.mx[0].host);
		r.n = 1;
		r.implicit = true;
	}
	*ret = r;
	return 0;
}

int sl_resolve_addrs(const char *host, struct sl_addr_result *ret)
{
	static const int types[2] = { ns_t_a, ns_t_aaaa };
	uint8_t *buf = malloc(SL_DNS_BUF);
	struct sl_addr_result r;
	int err[2];

	if (!buf)
		return -ENOMEM;
	memset(&r, 0, sizeof(r));
	r.ad = true;
	for (int i = 0; i < 2; i++) {
		int n = sl_query(host, types[i], buf, SL_DNS_BUF);

		if (n > 0)
			n = sl_resolve_parse_addrs(buf, (size_t)n, types[i], &r);
		err[i] = n < 0 ? n : 0;
	}
	free(buf);
	for (int i = 0; i < 2; i++) {
		if (err[i] == 0)
			continue;
		if (r.n == 0) {
			/* Nothing usable: a temporary failure wins over NXDOMAIN,
			 * so the caller keeps what it had. */
			int o = err[1 - i];

			return err[i] == -ENOENT && o < 0 && o != -ENOENT ? o : err[i];
		}
		if (err[i] != -ENOENT)
			r.partial = true;
	}
	if (r.n == 0)
		r.ad = false;
	*ret = r;
	return 0;
}

int sl_resolve_tlsa(const char *host, uint16_t port, struct sl_tlsa_result *ret)
{
	char name[SL_DOMAIN_MAX + 16];
	uint8_t *buf;
	int n;

	n = snprintf(name, sizeof(name), "_%u._tcp.%s", port, host);
	if (n < 0 || (size_t)n >= sizeof(name))
		return -ENAMETOOLONG;
	buf = malloc(SL_DNS_BUF);
	if (!buf)
		return -ENOMEM;
	memset(ret, 0, sizeof(*ret));
	n = sl_query(name, ns_t_tlsa, buf, SL_DNS_BUF);
	if (n > 0)
		n = sl_resolve_parse_tlsa(buf, (size_t)n, ret);
	free(buf);
	return n < 0 ? n : 0;
}

const char *sl_resolve_strerror(int err)
{
	switch (err) {
	case -ENOENT: return "no such domain (NXDOMAIN)";
	case -EAGAIN: return "temporary DNS failure (SERVFAIL or timeout)";
	case -EIO: return "DNS error";
	default: return strerror(err < 0 ? -err : err);
	}
}

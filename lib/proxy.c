/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * proxy.c — PROXY protocol v1/v2 emitters and a strict decoder, XCLIENT.
 * See proxy.h for the contracts.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "proxy.h"

#define V2_CMD_LOCAL	0x0
#define V2_CMD_PROXY	0x1
#define V2_FAM_UNSPEC	0x00
#define V2_FAM_TCP4	0x11
#define V2_FAM_TCP6	0x21
#define V2_ADDR4_LEN	12
#define V2_ADDR6_LEN	36

/* An endpoint in the form both emitters write. */
struct sl_ep {
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];	/* 4 or 16 bytes used */
	uint16_t port;		/* host order */
};

static const uint8_t sl_v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

static int sl_ep_from(const struct sockaddr_storage *ss, struct sl_ep *ep)
{
	memset(ep, 0, sizeof(*ep));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		ep->family = AF_INET;
		memcpy(ep->addr, &in->sin_addr, 4);
		ep->port = ntohs(in->sin_port);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		ep->port = ntohs(in6->sin6_port);
		if (memcmp(&in6->sin6_addr, sl_v4mapped, 12) == 0) {
			ep->family = AF_INET;
			memcpy(ep->addr, (const uint8_t *)&in6->sin6_addr + 12, 4);
		} else {
			ep->family = AF_INET6;
			memcpy(ep->addr, &in6->sin6_addr, 16);
		}
		return 0;
	}
	return -EAFNOSUPPORT;
}

static void sl_ep_to6(struct sl_ep *ep)
{
	if (ep->family != AF_INET)
		return;
	memmove(ep->addr + 12, ep->addr, 4);
	memcpy(ep->addr, sl_v4mapped, 12);
	ep->family = AF_INET6;
}

/* Both endpoints in one family (see proxy.h). */
static int sl_ep_pair(const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
		      struct sl_ep *s, struct sl_ep *d)
{
	if (sl_ep_from(src, s) < 0 || sl_ep_from(dst, d) < 0)
		return -EAFNOSUPPORT;
	if (s->family != d->family) {
		sl_ep_to6(s);
		sl_ep_to6(d);
	}
	return 0;
}

int sl_proxy_v1_emit(const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
		     char *buf, size_t len)
{
	char sa[INET6_ADDRSTRLEN], da[INET6_ADDRSTRLEN];
	struct sl_ep s, d;
	int n;

	if (sl_ep_pair(src, dst, &s, &d) < 0)
		return -EAFNOSUPPORT;
	inet_ntop(s.family, s.addr, sa, sizeof(sa));
	inet_ntop(d.family, d.addr, da, sizeof(da));
	n = snprintf(buf, len, "PROXY %s %s %s %u %u\r\n", s.family == AF_INET ? "TCP4" : "TCP6",
		     sa, da, s.port, d.port);
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}

int sl_proxy_v2_emit(const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
		     void *buf, size_t len)
{
	uint8_t *p = buf;
	struct sl_ep s, d;
	size_t alen, an;

	if (sl_ep_pair(src, dst, &s, &d) < 0)
		return -EAFNOSUPPORT;
	alen = s.family == AF_INET ? V2_ADDR4_LEN : V2_ADDR6_LEN;
	an = s.family == AF_INET ? 4 : 16;
	if (len < 16 + alen)
		return -ENOSPC;
	memcpy(p, SL_PROXY_V2_SIG, SL_PROXY_V2_SIG_LEN);
	p[12] = 0x20 | V2_CMD_PROXY;
	p[13] = s.family == AF_INET ? V2_FAM_TCP4 : V2_FAM_TCP6;
	p[14] = (uint8_t)(alen >> 8);
	p[15] = (uint8_t)alen;
	memcpy(p + 16, s.addr, an);
	memcpy(p + 16 + an, d.addr, an);
	p[16 + 2 * an] = (uint8_t)(s.port >> 8);
	p[17 + 2 * an] = (uint8_t)s.port;
	p[18 + 2 * an] = (uint8_t)(d.port >> 8);
	p[19 + 2 * an] = (uint8_t)d.port;
	return (int)(16 + alen);
}

/* ---------------------------------------------------------------------- */
/* Decoder                                                                 */

static void sl_ss_set(struct sockaddr_storage *ss, int family, const uint8_t *addr,
		      uint16_t port)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, addr, 4);
		in->sin_port = htons(port);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, addr, 16);
		in6->sin6_port = htons(port);
	}
}

/* A decimal port: "0" or 1..5 digits without a leading zero, <= 65535. */
static bool sl_v1_port(const char *s, size_t n, uint16_t *ret)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0 || n > 5 || (n > 1 && s[0] == '0'))
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return false;
	*ret = (uint16_t)v;
	return true;
}

static bool sl_v1_addr(int family, const char *s, size_t n, uint8_t *ret)
{
	char tmp[INET6_ADDRSTRLEN];

	if (n == 0 || n >= sizeof(tmp))
		return false;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	return inet_pton(family, tmp, ret) == 1;
}

static int sl_decode_v1(const char *s, size_t len, struct sl_proxy_hdr *ret)
{
	static const char prefix[] = "PROXY ";
	const char *f[6], *crlf, *p;
	size_t fl[6], n = 0, i, hl;
	uint8_t sa[16], da[16];
	uint16_t sp, dp;
	int family;

	if (memcmp(s, prefix, len < 6 ? len : 6) != 0)
		return -EINVAL;
	crlf = NULL;
	for (i = 0; i + 1 < len && i + 2 <= SL_PROXY_V1_MAX; i++) {
		if (s[i] == '\r' && s[i + 1] == '\n') {
			crlf = s + i;
			break;
		}
		if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0')
			return -EINVAL;
	}
	if (!crlf) {
		if (len >= SL_PROXY_V1_MAX)
			return -EMSGSIZE;
		/* a lone trailing CR may be the start of CRLF */
		for (i = 0; i < len; i++)
			if ((s[i] == '\r' && i + 1 != len) || s[i] == '\n' || s[i] == '\0')
				return -EINVAL;
		return 0;
	}
	hl = (size_t)(crlf - s) + 2;
	/* Fields separated by exactly one space. */
	for (p = s; p < crlf && n < 6;) {
		const char *sp_ = memchr(p, ' ', (size_t)(crlf - p));
		const char *e = sp_ ? sp_ : crlf;

		f[n] = p;
		fl[n++] = (size_t)(e - p);
		p = sp_ ? sp_ + 1 : crlf;
		if (sp_ && p == crlf)
			return -EINVAL;		/* trailing space */
	}
	if (n < 2 || fl[0] != 5 || fl[1] == 0)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	ret->version = 1;
	ret->len = hl;
	if (fl[1] == 7 && memcmp(f[1], "UNKNOWN", 7) == 0) {
		/* spec: anything may follow UNKNOWN up to the CRLF */
		ret->local = true;
		ret->family = AF_UNSPEC;
		return (int)hl;
	}
	if (fl[1] == 4 && memcmp(f[1], "TCP4", 4) == 0)
		family = AF_INET;
	else if (fl[1] == 4 && memcmp(f[1], "TCP6", 4) == 0)
		family = AF_INET6;
	else
		return -EPROTONOSUPPORT;
	if (n != 6 || p != crlf)
		return -EINVAL;
	if (!sl_v1_addr(family, f[2], fl[2], sa) || !sl_v1_addr(family, f[3], fl[3], da) ||
	    !sl_v1_port(f[4], fl[4], &sp) || !sl_v1_port(f[5], fl[5], &dp))
		return -EINVAL;
	ret->family = family;
	sl_ss_set(&ret->src, family, sa, sp);
	sl_ss_set(&ret->dst, family, da, dp);
	return (int)hl;
}

static bool sl_tlvs_ok(const uint8_t *p, size_t n)
{
	size_t i = 0, l;

	while (i < n) {
		if (n - i < 3)
			return false;
		l = ((size_t)p[i + 1] << 8) | p[i + 2];
		if (n - i - 3 < l)
			return false;
		i += 3 + l;
	}
	return true;
}

static int sl_decode_v2(const uint8_t *p, size_t len, struct sl_proxy_hdr *ret)
{
	size_t alen, total, an;
	unsigned cmd;
	int family;
	uint8_t fam;

	if (memcmp(p, SL_PROXY_V2_SIG, len < SL_PROXY_V2_SIG_LEN ? len : SL_PROXY_V2_SIG_LEN))
		return -EINVAL;
	if (len < 16)
		return 0;
	if ((p[12] >> 4) != 2)
		return -EPROTONOSUPPORT;
	cmd = p[12] & 0xf;
	if (cmd != V2_CMD_LOCAL && cmd != V2_CMD_PROXY)
		return -EPROTONOSUPPORT;
	fam = p[13];
	alen = ((size_t)p[14] << 8) | p[15];
	total = 16 + alen;
	if (total > SL_PROXY_V2_MAX)
		return -EMSGSIZE;
	if (len < total)
		return 0;
	memset(ret, 0, sizeof(*ret));
	ret->version = 2;
	ret->len = total;
	if (cmd == V2_CMD_LOCAL || fam == V2_FAM_UNSPEC) {
		/* spec: the receiver ignores the address block */
		ret->local = true;
		ret->family = AF_UNSPEC;
		return (int)total;
	}
	if (fam == V2_FAM_TCP4) {
		family = AF_INET;
		an = 4;
	} else if (fam == V2_FAM_TCP6) {
		family = AF_INET6;
		an = 16;
	} else {
		return -EPROTONOSUPPORT;
	}
	if (alen < 2 * an + 4 || !sl_tlvs_ok(p + 16 + 2 * an + 4, alen - 2 * an - 4))
		return -EINVAL;
	ret->family = family;
	sl_ss_set(&ret->src, family, p + 16, (uint16_t)(p[16 + 2 * an] << 8 | p[17 + 2 * an]));
	sl_ss_set(&ret->dst, family, p + 16 + an,
		  (uint16_t)(p[18 + 2 * an] << 8 | p[19 + 2 * an]));
	return (int)total;
}

int sl_proxy_decode(const void *buf, size_t len, struct sl_proxy_hdr *ret)
{
	const uint8_t *p = buf;

	if (len == 0)
		return 0;
	if (p[0] == 'P')
		return sl_decode_v1(buf, len, ret);
	if (p[0] == '\r')
		return sl_decode_v2(p, len, ret);
	return -EINVAL;
}

/* ---------------------------------------------------------------------- */
/* XCLIENT                                                                 */

int sl_proxy_xtext(char *dst, size_t dstlen, const char *src)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = 0;

	for (; *src; src++) {
		unsigned char c = (unsigned char)*src;

		if (c >= '!' && c <= '~' && c != '+' && c != '=') {
			if (n + 1 >= dstlen)
				return -ENOSPC;
			dst[n++] = (char)c;
		} else {
			if (n + 3 >= dstlen)
				return -ENOSPC;
			dst[n++] = '+';
			dst[n++] = hex[c >> 4];
			dst[n++] = hex[c & 15];
		}
	}
	if (n >= dstlen)
		return -ENOSPC;
	dst[n] = '\0';
	return (int)n;
}

/* " KEY=xtext(value)" appended at *off. */
static int sl_xc_attr(char *buf, size_t cap, size_t *off, const char *key, const char *val)
{
	int n = snprintf(buf + *off, cap - *off, " %s=", key);

	if (n < 0 || (size_t)n >= cap - *off)
		return -ENOSPC;
	*off += (size_t)n;
	n = sl_proxy_xtext(buf + *off, cap - *off, val);
	if (n < 0)
		return n;
	*off += (size_t)n;
	return 0;
}

/* Address and port as XCLIENT writes them. */
static int sl_xc_addr(const struct sockaddr_storage *ss, char *addr, size_t alen, char *port,
		      size_t plen)
{
	char tmp[INET6_ADDRSTRLEN];
	struct sl_ep ep;

	if (!ss || sl_ep_from(ss, &ep) < 0)
		return -EINVAL;
	inet_ntop(ep.family, ep.addr, tmp, sizeof(tmp));
	snprintf(addr, alen, "%s%s", ep.family == AF_INET6 ? "IPV6:" : "", tmp);
	snprintf(port, plen, "%u", ep.port);
	return 0;
}

int sl_proxy_xclient(char *buf, size_t len, const struct sl_xclient *x)
{
	char addr[INET6_ADDRSTRLEN + 8], port[8], daddr[INET6_ADDRSTRLEN + 8], dport[8];
	size_t cap = len < SL_XCLIENT_LINE_MAX + 1 ? len : SL_XCLIENT_LINE_MAX + 1;
	const char *proto = x->proto ? x->proto : "ESMTP";
	size_t off = 7;
	int r;

	if (strcmp(proto, "SMTP") != 0 && strcmp(proto, "ESMTP") != 0)
		return -EINVAL;
	if (sl_xc_addr(x->addr, addr, sizeof(addr), port, sizeof(port)) < 0)
		return -EINVAL;
	if (x->dest && sl_xc_addr(x->dest, daddr, sizeof(daddr), dport, sizeof(dport)) < 0)
		return -EINVAL;
	if (cap < off + 3)
		return -ENOSPC;
	memcpy(buf, "XCLIENT", off);
	r = sl_xc_attr(buf, cap, &off, "NAME", x->name ? x->name : "[UNAVAILABLE]");
	if (r == 0)
		r = sl_xc_attr(buf, cap, &off, "ADDR", addr);
	if (r == 0)
		r = sl_xc_attr(buf, cap, &off, "PORT", port);
	if (r == 0)
		r = sl_xc_attr(buf, cap, &off, "PROTO", proto);
	if (r == 0 && x->helo)
		r = sl_xc_attr(buf, cap, &off, "HELO", x->helo);
	if (r == 0 && x->login)
		r = sl_xc_attr(buf, cap, &off, "LOGIN", x->login);
	if (r == 0 && x->dest)
		r = sl_xc_attr(buf, cap, &off, "DESTADDR", daddr);
	if (r == 0 && x->dest)
		r = sl_xc_attr(buf, cap, &off, "DESTPORT", dport);
	if (r < 0)
		return r;
	if (off + 3 > cap)
		return -ENOSPC;
	memcpy(buf + off, "\r\n", 3);
	return (int)off + 2;
}

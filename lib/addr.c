/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * addr.c — addresses, prefixes and endpoints as the policy writes them.
 *
 * Every address is kept in the 16-byte form of the BPF LPM key: IPv6 as
 * is, IPv4 as the IPv4-mapped ::ffff:a.b.c.d with 96 added to its prefix
 * length, so one trie serves both families.  Text is parsed with
 * inet_pton() only; a prefix with bits set beyond its length is refused
 * (it is almost always a typo for another network).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "policy.h"

static const uint8_t sl_v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* Strict decimal: digits only, no sign, no leading zeros beyond "0". */
static int sl_parse_dec(const char *s, unsigned long max, unsigned long *ret)
{
	unsigned long v = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > max)
			return -ERANGE;
	}
	*ret = v;
	return 0;
}

/* One address into the mapped form; family as written. */
static int sl_addr_parse(const char *s, int *family, uint8_t addr[16])
{
	struct in_addr a4;

	if (inet_pton(AF_INET, s, &a4) == 1) {
		memcpy(addr, sl_v4mapped, 12);
		memcpy(addr + 12, &a4, 4);
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, s, addr) == 1) {
		*family = AF_INET6;
		return 0;
	}
	return -EINVAL;
}

int sl_prefix_parse(const char *s, struct sl_prefix *ret)
{
	char buf[INET6_ADDRSTRLEN + 8];
	struct sl_prefix p = { 0 };
	const char *slash;
	unsigned long len;
	size_t n;
	int err;

	if (!s)
		return -EINVAL;
	slash = strchr(s, '/');
	n = slash ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, n);
	buf[n] = '\0';
	err = sl_addr_parse(buf, &p.family, p.addr);
	if (err)
		return err;
	if (!slash) {
		p.plen = 128;
	} else {
		err = sl_parse_dec(slash + 1, 128, &len);
		if (err == -ERANGE || (!err && p.family == AF_INET && len > 32))
			return -ERANGE;
		if (err)
			return err;
		p.plen = (uint8_t)(p.family == AF_INET ? 96 + len : len);
	}
	/* Bits beyond the prefix must be zero. */
	for (unsigned bit = p.plen; bit < 128; bit++)
		if (p.addr[bit / 8] & (0x80u >> (bit % 8)))
			return -EDOM;
	*ret = p;
	return 0;
}

int sl_endpoint_parse(const char *s, struct sl_endpoint *ret)
{
	char buf[INET6_ADDRSTRLEN + 2];
	struct sl_endpoint e = { 0 };
	const char *host, *colon;
	unsigned long port;
	size_t n;

	if (!s)
		return -EINVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		host = s + 1;
		n = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		host = s;
		n = (size_t)(colon - s);
	}
	if (n == 0 || n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, host, n);
	buf[n] = '\0';
	if (sl_addr_parse(buf, &e.family, e.addr))
		return -EINVAL;
	/* "[192.0.2.1]:25" is not how IPv4 is written; nor "::1:25" IPv6. */
	if ((s[0] == '[') != (e.family == AF_INET6))
		return -EINVAL;
	if (sl_parse_dec(colon + 1, 65535, &port) || port == 0)
		return -EINVAL;
	e.port = (uint16_t)port;
	*ret = e;
	return 0;
}

static void sl_addr_format(int family, const uint8_t addr[16], char *buf, size_t len)
{
	char tmp[INET6_ADDRSTRLEN];

	if (family == AF_INET)
		inet_ntop(AF_INET, addr + 12, tmp, sizeof(tmp));
	else
		inet_ntop(AF_INET6, addr, tmp, sizeof(tmp));
	snprintf(buf, len, "%s", tmp);
}

void sl_prefix_format(const struct sl_prefix *p, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	sl_addr_format(p->family, p->addr, a, sizeof(a));
	if (p->plen == 128)
		snprintf(buf, len, "%s", a);
	else
		snprintf(buf, len, "%s/%u", a,
			 p->family == AF_INET ? p->plen - 96u : (unsigned)p->plen);
}

void sl_endpoint_format(const struct sl_endpoint *e, char *buf, size_t len)
{
	char a[INET6_ADDRSTRLEN];

	sl_addr_format(e->family, e->addr, a, sizeof(a));
	if (e->family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", a, e->port);
	else
		snprintf(buf, len, "%s:%u", a, e->port);
}

/* ---- the 16-byte form, socket addresses, text ------------------------------ */

bool sl_addr16_is_v4(const uint8_t a[16])
{
	return memcmp(a, sl_v4mapped, sizeof(sl_v4mapped)) == 0;
}

void sl_addr16_format(const uint8_t a[16], char *buf, size_t len)
{
	char tmp[INET6_ADDRSTRLEN];

	if (sl_addr16_is_v4(a))
		inet_ntop(AF_INET, a + 12, tmp, sizeof(tmp));
	else
		inet_ntop(AF_INET6, a, tmp, sizeof(tmp));
	snprintf(buf, len, "%s", tmp);
}

void sl_addr16_port_format(const uint8_t a[16], uint16_t port, char *buf, size_t len)
{
	char s[INET6_ADDRSTRLEN];

	sl_addr16_format(a, s, sizeof(s));
	snprintf(buf, len, sl_addr16_is_v4(a) ? "%s:%u" : "[%s]:%u", s, port);
}

socklen_t sl_addr16_sockaddr(const uint8_t a[16], uint16_t port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (sl_addr16_is_v4(a)) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, a + 12, 4);
		s4->sin_port = htons(port);
		return sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, a, 16);
		s6->sin6_port = htons(port);
		return sizeof(*s6);
	}
}

void sl_sockaddr_format(const struct sockaddr *sa, bool port, char *buf, size_t len)
{
	uint8_t a[16];
	uint16_t p;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)sa;

		memcpy(a, sl_v4mapped, sizeof(sl_v4mapped));
		memcpy(a + 12, &s4->sin_addr, 4);
		p = ntohs(s4->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		memcpy(a, &s6->sin6_addr, 16);
		p = ntohs(s6->sin6_port);
	} else {
		snprintf(buf, len, "-");
		return;
	}
	if (port)
		sl_addr16_port_format(a, p, buf, len);
	else
		sl_addr16_format(a, buf, len);
}

socklen_t sl_endpoint_sockaddr(const struct sl_endpoint *e, struct sockaddr_storage *ss)
{
	return sl_addr16_sockaddr(e->addr, e->port, ss);
}

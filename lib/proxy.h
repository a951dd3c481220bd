/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * proxy.h — announcing the real client to the local MTA: PROXY protocol
 * v1 and v2 headers (HAProxy's proxy-protocol.txt; Postfix reads them with
 * smtpd_upstream_proxy_protocol = haproxy) and the Postfix XCLIENT command
 * (XCLIENT_README).  Pure functions over bytes.
 *
 * The emitters write TCP4/TCP6 headers from two socket addresses.  IPv4-
 * mapped IPv6 addresses (what a dual-stack listener reports) are written
 * as IPv4; if one side is IPv4 and the other real IPv6, both are written
 * as IPv6 (the IPv4 one mapped), since a header carries one family.
 *
 * The decoder is strict (it is the fuzzing and round-trip oracle; Postfix
 * is the real consumer): exact v1 syntax with single spaces, addresses
 * that inet_pton accepts for the announced family, decimal ports without
 * leading zeros, CRLF within 107 bytes; v2 with the exact signature,
 * version 2, command LOCAL or PROXY, family UNSPEC/TCP4/TCP6, an address
 * block of the right size and well-formed TLVs after it, at most
 * SL_PROXY_V2_MAX bytes in all.
 */
#ifndef SL_PROXY_H
#define SL_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define SL_PROXY_V1_MAX		107	/* spec: worst case, CRLF included */
#define SL_PROXY_V2_MAX		1024	/* what we accept: 16 + addresses + TLVs */
#define SL_PROXY_V2_SIG		"\r\n\r\n\0\r\nQUIT\n"
#define SL_PROXY_V2_SIG_LEN	12
#define SL_XCLIENT_LINE_MAX	2048	/* Postfix's line_length_limit */

/* Returns the header length (NUL-terminated for v1) or -EAFNOSUPPORT
 * (not AF_INET/AF_INET6) / -ENOSPC. */
int sl_proxy_v1_emit(const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
		     char *buf, size_t len);
int sl_proxy_v2_emit(const struct sockaddr_storage *src, const struct sockaddr_storage *dst,
		     void *buf, size_t len);

struct sl_proxy_hdr {
	int version;			/* 1 or 2 */
	bool local;			/* v2 LOCAL / UNSPEC, v1 UNKNOWN: no addresses */
	int family;			/* AF_INET, AF_INET6, AF_UNSPEC when local */
	struct sockaddr_storage src, dst;	/* ports in the sockaddrs */
	size_t len;			/* header bytes, TLVs included */
};

/*
 * Decode a header at the start of buf.  Returns its length (> 0) with
 * *ret filled, 0 when buf is a proper prefix of a header (read more), or
 * -EINVAL (not a valid header), -EMSGSIZE (longer than allowed),
 * -EPROTONOSUPPORT (UDP, UNIX, another version or command).
 */
int sl_proxy_decode(const void *buf, size_t len, struct sl_proxy_hdr *ret);

/*
 * RFC 3461 xtext: '!'..'~' except '+' and '=' as is, any other byte "+HH".
 * Returns the length written (NUL-terminated) or -ENOSPC.
 */
int sl_proxy_xtext(char *dst, size_t dstlen, const char *src);

struct sl_xclient {
	const char *name;			/* client host name; NULL = [UNAVAILABLE] */
	const struct sockaddr_storage *addr;	/* client address and port (required) */
	const char *proto;			/* "SMTP" or "ESMTP"; NULL = ESMTP */
	const char *helo;			/* NULL = not sent */
	const char *login;			/* SASL login name; NULL = not sent */
	const struct sockaddr_storage *dest;	/* DESTADDR/DESTPORT; NULL = not sent */
};

/*
 * "XCLIENT NAME=… ADDR=… PORT=… PROTO=… HELO=… [LOGIN=…] [DESTADDR=… DESTPORT=…]\r\n",
 * values xtext-encoded, IPv6 addresses as "IPV6:2001:db8::1".  Returns the
 * length (NUL-terminated), -EINVAL (no address, bad proto) or -ENOSPC
 * (over len or SL_XCLIENT_LINE_MAX).
 */
int sl_proxy_xclient(char *buf, size_t len, const struct sl_xclient *x);

#endif /* SL_PROXY_H */

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * resolve.h — blocking DNS lookups for the worker pool: MX, A/AAAA, TLSA.
 *
 * Built on the system resolver library (res_ninit/res_nquery with a
 * res_state per call, so any number of workers may resolve at once;
 * ns_initparse/ns_parserr to read answers).  Every query asks for DNSSEC
 * (EDNS0 + DO) and trusts the AD bit of the configured resolver
 * (RES_TRUSTAD): results carry `ad` = the validating resolver said the
 * answer is authentic.  Use a validating resolver on localhost when DANE
 * matters.
 *
 * These functions block for up to the resolver's timeout (resolv.conf
 * "timeout"/"attempts"): call them from sl_loop_submit() jobs only.
 *
 * Errors: -ENOENT the name does not exist (NXDOMAIN), -EAGAIN temporary
 * failure (SERVFAIL, timeout: try again later), -EIO anything else.
 * "Exists but has no record of that type" (NODATA) is not an error.
 */
#ifndef SL_RESOLVE_H
#define SL_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "smtplock.h"

#define SL_RESOLVE_MAX_MX	16
#define SL_RESOLVE_MAX_ADDRS	32

struct sl_mx {
	char host[SL_DOMAIN_MAX];	/* lower case, no trailing dot */
	uint16_t pref;
};

struct sl_mx_result {
	struct sl_mx mx[SL_RESOLVE_MAX_MX];	/* by preference, then name */
	size_t n;
	uint32_t ttl;		/* smallest TTL of the MX records; 0 if none */
	bool ad;		/* the answer was DNSSEC-validated */
	bool null_mx;		/* RFC 7505 "0 .": the domain takes no mail; n == 0 */
	bool implicit;		/* no MX: RFC 5321 5.1, the domain itself (n == 1) */
};

struct sl_addr {
	int family;		/* AF_INET / AF_INET6 */
	uint8_t addr[16];	/* IPv4-mapped for AF_INET */
};

struct sl_addr_result {
	struct sl_addr v[SL_RESOLVE_MAX_ADDRS];
	size_t n;
	uint32_t ttl;		/* smallest TTL of the A/AAAA records; 0 if none */
	bool ad;		/* every answer used was DNSSEC-validated */
	bool partial;		/* one family failed temporarily: v[] may lack it */
};

struct sl_tlsa {
	uint8_t usage, selector, mtype;
	uint8_t *data;		/* malloc'd */
	size_t len;
};

struct sl_tlsa_result {
	struct sl_tlsa *v;	/* malloc'd */
	size_t n;
	uint32_t ttl;
	bool ad;
};

/* What a lookup error means, in DNS terms, for logs and status:
 * -ENOENT "no such domain (NXDOMAIN)", -EAGAIN "temporary DNS failure
 * (SERVFAIL or timeout)", -EIO "DNS error", else strerror. */
const char *sl_resolve_strerror(int err);

/* MX hosts of domain, with the RFC 5321 fallback and RFC 7505 null MX. */
int sl_resolve_mx(const char *domain, struct sl_mx_result *ret);

/* A and AAAA of host.  0 with n == 0: the name exists without addresses.
 * When one family fails temporarily and the other answers, the result is
 * returned with partial = true (the caller keeps what it had). */
int sl_resolve_addrs(const char *host, struct sl_addr_result *ret);

/* TLSA records at _<port>._tcp.<host> (DANE, RFC 7672). */
int sl_resolve_tlsa(const char *host, uint16_t port, struct sl_tlsa_result *ret);
void sl_tlsa_result_done(struct sl_tlsa_result *r);

/*
 * Answer parsers behind the functions above, on a complete DNS response
 * (for the unit tests).  type is ns_t_mx, ns_t_a, ns_t_aaaa or ns_t_tlsa;
 * records of other types (a CNAME chain) are skipped.
 */
int sl_resolve_parse_mx(const uint8_t *msg, size_t len, struct sl_mx_result *ret);
int sl_resolve_parse_addrs(const uint8_t *msg, size_t len, int type, struct sl_addr_result *ret);
int sl_resolve_parse_tlsa(const uint8_t *msg, size_t len, struct sl_tlsa_result *ret);

#endif /* SL_RESOLVE_H */

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * addrtab.h — the controller's table of listed addresses: prefix →
 * (partner, policy id, MX host name), and the map entries made from it.
 *
 * One table for outbound destinations (dst_policy) and one for inbound
 * sources (src_policy).  Built whole from the policy and the latest
 * resolution results, then swapped in; never edited in place.
 *
 * When one address belongs to several partners, the STRICTEST policy wins
 * (sl_partner_stricter): enforce over testing, then the higher TLS
 * min_version, then the stronger verify (fingerprint > dane > ca > none),
 * then "logs in" (auth) over not; for inbound sources: enforce over
 * testing, the higher inbound min_version, more `require` items.  A tie
 * goes to the partner written first.  The rule applies to every entry
 * that contains the address (a /32 inside another partner's /24 too),
 * and the map entry carries the union of their ports, so no port of any
 * of them is left unguarded.
 */
#ifndef SL_ADDRTAB_H
#define SL_ADDRTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bpfmap.h"
#include "policy.h"

enum sl_addrtab_kind {
	SL_ADDRTAB_OUTBOUND = 0,
	SL_ADDRTAB_INBOUND = 1,
};

struct sl_addrtab_entry {
	struct sl_prefix pfx;			/* IPv4-mapped, plen in the mapped space */
	const struct sl_partner *partner;	/* in the policy the table was built from */
	size_t partner_idx;			/* position in the policy (ties) */
	uint32_t policy_id;
	char *mx_name;				/* NULL for a fixed address/prefix */
};

struct sl_addrtab;

int sl_addrtab_new(enum sl_addrtab_kind kind, struct sl_addrtab **ret);
struct sl_addrtab *sl_addrtab_free(struct sl_addrtab *t);	/* returns NULL */

/* Add one prefix (host bits are cleared).  mx_name is copied. */
int sl_addrtab_add(struct sl_addrtab *t, const struct sl_prefix *pfx,
		   const struct sl_partner *p, size_t partner_idx, uint32_t policy_id,
		   const char *mx_name);

size_t sl_addrtab_count(const struct sl_addrtab *t);
const struct sl_addrtab_entry *sl_addrtab_at(const struct sl_addrtab *t, size_t i);

/*
 * The entry that governs addr (16 bytes): the strictest partner among the
 * entries containing it; for that partner, its longest prefix, preferring
 * an entry with an MX name.  NULL: not listed.
 */
const struct sl_addrtab_entry *sl_addrtab_lookup(const struct sl_addrtab *t,
						 const uint8_t addr[16]);

/* >0: a is stricter than b; <0: b is; 0: equal (then file order decides). */
int sl_partner_stricter(enum sl_addrtab_kind kind, const struct sl_partner *a,
			const struct sl_partner *b);

/*
 * The map entries: one per distinct prefix, valued by the strictest
 * partner among the entries that contain the prefix, with the union of
 * their ports (SL_MAX_PORTS at most; the winner's ports first).  *ret is
 * malloc'd.  For SL_ADDRTAB_INBOUND use sl_addrtab_src_entries.
 */
int sl_addrtab_dst_entries(const struct sl_addrtab *t, struct sl_dst_entry **ret, size_t *n);
int sl_addrtab_src_entries(const struct sl_addrtab *t, struct sl_src_entry **ret, size_t *n);

/* 16-byte address → text with a prefix length when not a host route. */
void sl_addrtab_prefix_format(const struct sl_prefix *p, char *buf, size_t len);

#endif /* SL_ADDRTAB_H */

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * sockdiag.h — end a TCP socket from outside its process (SOCK_DESTROY
 * over NETLINK_SOCK_DIAG, through libnl).
 *
 * Used when the egress guard dropped plaintext from an untagged socket:
 * destroying it makes the sender fail at once (ECONNABORTED) instead of
 * retransmitting into a wall until its timeout.  Needs CAP_NET_ADMIN and
 * CONFIG_INET_DIAG_DESTROY; the socket must live in the caller's network
 * namespace.
 */
#ifndef SL_SOCKDIAG_H
#define SL_SOCKDIAG_H

#include <stdint.h>

struct sl_sockdiag;

int sl_sockdiag_open(struct sl_sockdiag **ret);
struct sl_sockdiag *sl_sockdiag_free(struct sl_sockdiag *s);	/* returns NULL */

/*
 * Destroy the TCP socket with local end (laddr, lport) and remote end
 * (raddr, rport): 16-byte addresses (IPv4-mapped for IPv4, which also
 * finds an AF_INET6 socket talking IPv4), ports in host order.  cookie:
 * the socket cookie (from a BPF event) so a reused tuple is never hit;
 * 0 = whatever socket holds the tuple.
 * Returns 0, -ENOENT (no such socket), -EPERM, -EOPNOTSUPP (kernel
 * without INET_DIAG_DESTROY) or another -errno.
 */
int sl_sockdiag_destroy(struct sl_sockdiag *s, const uint8_t laddr[16], uint16_t lport,
			const uint8_t raddr[16], uint16_t rport, uint64_t cookie);

#endif /* SL_SOCKDIAG_H */

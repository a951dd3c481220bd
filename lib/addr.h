/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * addr.h — addresses between their three forms: the 16-byte form of the
 * BPF maps (IPv4 as ::ffff:a.b.c.d), socket addresses, and text.
 * (Policy prefixes and endpoints, parsed from text: lib/policy.h.)
 *
 * Text is always "192.0.2.1:25" or "[2001:db8::1]:25": an IPv4-mapped
 * IPv6 address (what a dual-stack socket reports for an IPv4 peer) is
 * written as the IPv4 address it is.
 */
#ifndef SL_ADDR_H
#define SL_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "policy.h"

bool sl_addr16_is_v4(const uint8_t a[16]);
/* "192.0.2.1" or "2001:db8::1". */
void sl_addr16_format(const uint8_t a[16], char *buf, size_t len);
/* "192.0.2.1:25" or "[2001:db8::1]:25" (port in host order). */
void sl_addr16_port_format(const uint8_t a[16], uint16_t port, char *buf, size_t len);
/* → sockaddr_in / sockaddr_in6 (port in host order); returns its length. */
socklen_t sl_addr16_sockaddr(const uint8_t a[16], uint16_t port, struct sockaddr_storage *ss);

/* A socket address as text, with its port or without; "-" if neither
 * AF_INET nor AF_INET6. */
void sl_sockaddr_format(const struct sockaddr *sa, bool port, char *buf, size_t len);

/* A policy endpoint → a socket address; returns its length. */
socklen_t sl_endpoint_sockaddr(const struct sl_endpoint *e, struct sockaddr_storage *ss);

#endif /* SL_ADDR_H */

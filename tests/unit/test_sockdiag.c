/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test_sockdiag.c — SOCK_DESTROY by tuple and cookie on loopback
 * connections (IPv4, IPv6, an IPv6 socket talking IPv4).  Needs
 * CAP_NET_ADMIN (root).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bpfmap.h"
#include "sockdiag.h"
#include "tap.h"

#ifndef SO_COOKIE
#define SO_COOKIE 57
#endif

struct conn {
	int lfd, cfd, afd;
	struct sl_tuple_key local, remote;
	uint64_t cookie;
};

static int conn_open(struct conn *c, int lfam, const char *laddr, int cfam, const char *caddr)
{
	struct sockaddr_storage ss;
	socklen_t len;
	socklen_t cl = sizeof(c->cookie);

	memset(c, 0, sizeof(*c));
	memset(&ss, 0, sizeof(ss));
	if (lfam == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		inet_pton(AF_INET, laddr, &s4->sin_addr);
		len = sizeof(*s4);
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, laddr, &s6->sin6_addr);
		len = sizeof(*s6);
	}
	c->lfd = socket(lfam, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (bind(c->lfd, (struct sockaddr *)&ss, len) < 0 || listen(c->lfd, 4) < 0)
		return -errno;
	len = sizeof(ss);
	getsockname(c->lfd, (struct sockaddr *)&ss, &len);
	if (cfam == AF_INET6 && lfam == AF_INET) {	/* v6 socket, v4-mapped peer */
		struct sockaddr_in6 m6 = { .sin6_family = AF_INET6 };

		m6.sin6_port = ((struct sockaddr_in *)&ss)->sin_port;
		inet_pton(AF_INET6, caddr, &m6.sin6_addr);
		memcpy(&ss, &m6, sizeof(m6));
		len = sizeof(m6);
	}
	c->cfd = socket(cfam, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(c->cfd, (struct sockaddr *)&ss, len) < 0)
		return -errno;
	c->afd = accept4(c->lfd, NULL, NULL, SOCK_CLOEXEC);
	len = sizeof(ss);
	getsockname(c->cfd, (struct sockaddr *)&ss, &len);
	sl_tuple_key_from_sockaddr((struct sockaddr *)&ss, len, &c->local);
	len = sizeof(ss);
	getpeername(c->cfd, (struct sockaddr *)&ss, &len);
	sl_tuple_key_from_sockaddr((struct sockaddr *)&ss, len, &c->remote);
	return getsockopt(c->cfd, SOL_SOCKET, SO_COOKIE, &c->cookie, &cl) < 0 ? -errno : 0;
}

static void conn_close(struct conn *c)
{
	close(c->afd);
	close(c->cfd);
	close(c->lfd);
}

struct dcase {
	const char *name;
	int lfam;
	const char *laddr;
	int cfam;
	const char *caddr;
};

static const struct dcase cases[] = {
	{ "IPv4", AF_INET, "127.0.0.1", AF_INET, NULL },
	{ "IPv6", AF_INET6, "::1", AF_INET6, NULL },
	{ "IPv6 socket talking IPv4", AF_INET, "127.0.0.1", AF_INET6, "::ffff:127.0.0.1" },
};

int main(void)
{
	struct sl_sockdiag *s = NULL;

	if (geteuid() != 0) {
		tap_ok(false, "test_sockdiag needs root (CAP_NET_ADMIN)");
		return tap_done();
	}
	if (!tap_int(sl_sockdiag_open(&s), 0, "sock_diag socket"))
		return tap_done();
	for (size_t i = 0; i < TAP_NELEM(cases); i++) {
		const struct dcase *d = &cases[i];
		struct conn c;
		char buf[8];
		ssize_t n;

		if (!tap_int(conn_open(&c, d->lfam, d->laddr, d->cfam, d->caddr), 0,
			     "%s: connected", d->name))
			continue;
		tap_int(sl_sockdiag_destroy(s, c.local.addr, c.local.port, c.remote.addr,
					    c.remote.port, c.cookie + 1), -ENOENT,
			"%s: another cookie: not that socket", d->name);
		tap_int(sl_sockdiag_destroy(s, c.local.addr, c.local.port, c.remote.addr,
					    c.remote.port, c.cookie), 0, "%s: destroyed", d->name);
		n = recv(c.cfd, buf, sizeof(buf), MSG_DONTWAIT);
		tap_ok(n < 0 && errno == ECONNABORTED, "%s: the owner sees ECONNABORTED (%s)",
		       d->name, n < 0 ? strerror(errno) : "data");
		tap_int(sl_sockdiag_destroy(s, c.local.addr, c.local.port, c.remote.addr,
					    c.remote.port, 0), -ENOENT, "%s: gone", d->name);
		conn_close(&c);
	}
	sl_sockdiag_free(s);
	return tap_done();
}

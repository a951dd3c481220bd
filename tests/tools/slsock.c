/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * slsock — a scriptable TCP client for the integration tests.
 *
 *	slsock [-6] [-b SRC] [-t pre_tls|tls -P PIN_PATH [-i POLICY_ID]]
 *	       [-T SECONDS] ADDR PORT [ACTION...]
 *
 * Connects to ADDR:PORT (an AF_INET6 socket with -6; ADDR may then be
 * ::ffff:a.b.c.d; -b binds the source address first), with TCP_NODELAY
 * (one send = one segment, for the guard tests), optionally after tagging the socket in the pinned
 * sock_state map the way the controller tags its own upstream sockets,
 * then runs the actions in order, printing one key=value line each:
 *
 *	peer		peer=ADDR:PORT (getpeername: what an MTA would log)
 *	local		local=ADDR:PORT
 *	send TEXT	sent=N (\r, \n, \\ escapes in TEXT)
 *	recv		recv="..." | recv=EOF | recv_err=ENAME
 *	wait PATH	waits until PATH exists (up to the timeout)
 *	tag TAG		re-tag the connected socket (pre_tls -> tls)
 *
 * A failed connect prints connect_err=ENAME and exits 3.  A test tool
 * only: it is never installed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "bpfmap.h"

static const char *errname(int e)
{
	switch (e) {
	case ECONNREFUSED: return "ECONNREFUSED";
	case ECONNRESET: return "ECONNRESET";
	case ECONNABORTED: return "ECONNABORTED";
	case ETIMEDOUT: return "ETIMEDOUT";
	case EAGAIN: return "EAGAIN";
	case EPERM: return "EPERM";
	case EACCES: return "EACCES";
	case ENETUNREACH: return "ENETUNREACH";
	case EHOSTUNREACH: return "EHOSTUNREACH";
	case EPIPE: return "EPIPE";
	case EINPROGRESS: return "EINPROGRESS";	/* connect() hit the -T timeout */
	default: return strerror(e);
	}
}

static void print_addr(const char *key, const struct sockaddr_storage *ss, socklen_t len)
{
	struct sl_tuple_key k;
	char a[64];

	if (sl_tuple_key_from_sockaddr((const struct sockaddr *)ss, len, &k) < 0) {
		printf("%s=?\n", key);
		return;
	}
	sl_addr16_format(k.addr, a, sizeof(a));
	if (ss->ss_family == AF_INET6 && !sl_addr16_is_v4(k.addr))
		printf("%s=[%s]:%u\n", key, a, k.port);
	else if (ss->ss_family == AF_INET6)
		printf("%s=[::ffff:%s]:%u\n", key, a, k.port);
	else
		printf("%s=%s:%u\n", key, a, k.port);
}

static size_t unescape(const char *s, char *out, size_t cap)
{
	size_t o = 0;

	for (; *s && o < cap; s++) {
		if (*s == '\\' && s[1]) {
			s++;
			out[o++] = *s == 'r' ? '\r' : *s == 'n' ? '\n' : *s == '0' ? '\0' : *s;
		} else {
			out[o++] = *s;
		}
	}
	return o;
}

static int parse_tag(const char *s)
{
	if (strcmp(s, "pre_tls") == 0)
		return SL_SOCK_PRE_TLS;
	if (strcmp(s, "tls") == 0)
		return SL_SOCK_TLS;
	if (strcmp(s, "untagged") == 0)
		return SL_SOCK_UNTAGGED;
	return -1;
}

static int do_tag(const char *pin, int fd, int tag, unsigned id)
{
	struct sl_bpfmap *m = NULL;
	int r = sl_bpfmap_open_pinned(pin, 0, &m);

	if (r == 0)
		r = sl_bpfmap_tag(m, fd, tag, id);
	sl_bpfmap_free(m);
	if (r < 0)
		printf("tag_err=%s\n", errname(-r));
	return r;
}

int main(int argc, char **argv)
{
	const char *pin = NULL, *tag_s = NULL, *src = NULL;
	struct sockaddr_storage ss;
	socklen_t len;
	unsigned id = 0, timeout = 5;
	int c, fd, v6 = 0;

	while ((c = getopt(argc, argv, "6b:t:P:i:T:")) != -1) {
		switch (c) {
		case '6': v6 = 1; break;
		case 'b': src = optarg; break;
		case 't': tag_s = optarg; break;
		case 'P': pin = optarg; break;
		case 'i': id = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'T': timeout = (unsigned)strtoul(optarg, NULL, 10); break;
		default: return 2;
		}
	}
	if (argc - optind < 2 || (tag_s && (!pin || parse_tag(tag_s) < 0))) {
		fprintf(stderr, "usage: slsock [-6] [-b SRC] [-t TAG -P PIN [-i ID]] [-T S] ADDR PORT [ACTION...]\n");
		return 2;
	}
	memset(&ss, 0, sizeof(ss));
	if (v6 || strchr(argv[optind], ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)atoi(argv[optind + 1]));
		if (inet_pton(AF_INET6, argv[optind], &s6->sin6_addr) != 1)
			return 2;
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)atoi(argv[optind + 1]));
		if (inet_pton(AF_INET, argv[optind], &s4->sin_addr) != 1)
			return 2;
		len = sizeof(*s4);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 1;
	{
		struct timeval tv = { .tv_sec = timeout };

		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	{
		int one = 1;

		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	}
	if (src) {
		struct sockaddr_storage bs;
		socklen_t bl;

		memset(&bs, 0, sizeof(bs));
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *b6 = (struct sockaddr_in6 *)&bs;

			b6->sin6_family = AF_INET6;
			if (inet_pton(AF_INET6, src, &b6->sin6_addr) != 1)
				return 2;
			bl = sizeof(*b6);
		} else {
			struct sockaddr_in *b4 = (struct sockaddr_in *)&bs;

			b4->sin_family = AF_INET;
			if (inet_pton(AF_INET, src, &b4->sin_addr) != 1)
				return 2;
			bl = sizeof(*b4);
		}
		if (bind(fd, (struct sockaddr *)&bs, bl) < 0) {
			printf("bind_err=%s\n", errname(errno));
			return 3;
		}
	}
	if (tag_s && do_tag(pin, fd, parse_tag(tag_s), id) < 0)
		return 1;
	if (connect(fd, (struct sockaddr *)&ss, len) < 0) {
		printf("connect_err=%s\n", errname(errno));
		return 3;
	}
	printf("connected=1\n");
	for (int i = optind + 2; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "peer") == 0 || strcmp(a, "local") == 0) {
			struct sockaddr_storage p;
			socklen_t pl = sizeof(p);
			int r = a[0] == 'p' ? getpeername(fd, (struct sockaddr *)&p, &pl)
					    : getsockname(fd, (struct sockaddr *)&p, &pl);

			if (r < 0)
				printf("%s_err=%s\n", a, errname(errno));
			else
				print_addr(a, &p, pl);
		} else if (strcmp(a, "send") == 0 && i + 1 < argc) {
			char buf[4096];
			size_t n = unescape(argv[++i], buf, sizeof(buf));
			ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);

			if (w < 0)
				printf("send_err=%s\n", errname(errno));
			else
				printf("sent=%zd\n", w);
		} else if (strcmp(a, "recv") == 0) {
			char buf[4096], q[8192];
			ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
			size_t o = 0;

			if (n < 0) {
				printf("recv_err=%s\n", errname(errno == EWOULDBLOCK ? EAGAIN : errno));
				continue;
			}
			if (n == 0) {
				printf("recv=EOF\n");
				continue;
			}
			for (ssize_t k = 0; k < n && o + 5 < sizeof(q); k++) {
				unsigned char ch = (unsigned char)buf[k];

				if (ch == '\r' || ch == '\n') {
					q[o++] = '\\';
					q[o++] = ch == '\r' ? 'r' : 'n';
				} else if (ch < 0x20 || ch > 0x7e) {
					o += (size_t)snprintf(q + o, sizeof(q) - o, "\\x%02x", ch);
				} else {
					q[o++] = (char)ch;
				}
			}
			q[o] = '\0';
			printf("recv=\"%s\"\n", q);
		} else if (strcmp(a, "wait") == 0 && i + 1 < argc) {
			const char *path = argv[++i];
			struct timespec ts = { 0, 20 * 1000 * 1000 };
			unsigned waited = 0;
			struct stat st;

			while (stat(path, &st) < 0 && waited < timeout * 50) {
				nanosleep(&ts, NULL);
				waited++;
			}
			printf("waited=%s\n", stat(path, &st) == 0 ? "ok" : "timeout");
		} else if (strcmp(a, "tag") == 0 && i + 1 < argc) {
			int t = parse_tag(argv[++i]);

			if (t < 0 || !pin)
				return 2;
			if (do_tag(pin, fd, t, id) == 0)
				printf("tagged=%s\n", argv[i]);
		} else {
			fprintf(stderr, "slsock: unknown action '%s'\n", a);
			return 2;
		}
	}
	close(fd);
	return 0;
}

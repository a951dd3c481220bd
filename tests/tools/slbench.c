/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * slbench — load generator for tests/bench/bpf_overhead.sh.
 *
 *	slbench sink ADDR PORT			accept, read and discard (epoll)
 *	slbench bulk ADDR PORT SECONDS [-t TAG -P PIN]
 *						one connection, 64 KiB writes;
 *						prints bytes= seconds= mbit_s=
 *						cpu_ns_per_mb=
 *	slbench connect ADDR PORT COUNT		socket+connect+close COUNT times
 *						(RST close: no TIME_WAIT pile);
 *						prints connects= ns_per_connect=
 *						cpu_ns_per_connect=
 *	slbench guard REPEAT			the guard's cost per packet by path,
 *						with BPF_PROG_TEST_RUN (no bpf_stats
 *						accounting in the figure); root
 *
 * IPv4 only; a benchmark helper, never installed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/tcp.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfmap.h"
#include "guard_test.skel.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU time of this process (user + system, which on loopback includes
 * the receive softirq work done in our context): less sensitive than the
 * wall clock to other load on a shared machine. */
static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static struct sockaddr_in addr_of(const char *a, const char *p)
{
	struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(p)) };

	if (inet_pton(AF_INET, a, &s.sin_addr) != 1) {
		fprintf(stderr, "slbench: bad address %s\n", a);
		exit(2);
	}
	return s;
}

static int sink(struct sockaddr_in sa)
{
	static char buf[1 << 16];
	struct epoll_event ev, evs[64];
	int one = 1, lfd, ep;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4096) < 0) {
		perror("slbench: sink");
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	printf("listening\n");
	fflush(stdout);
	for (;;) {
		int n = epoll_wait(ep, evs, 64, -1);

		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == lfd) {
				int c;

				while ((c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					ev.events = EPOLLIN;
					ev.data.fd = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			for (;;) {
				ssize_t r = read(fd, buf, sizeof(buf));

				if (r > 0)
					continue;
				if (r < 0 && errno == EAGAIN)
					break;
				close(fd);	/* EOF or reset */
				break;
			}
		}
	}
}

static int bulk(struct sockaddr_in sa, double secs, const char *tag, const char *pin)
{
	static char buf[1 << 16];
	unsigned long long bytes = 0;
	double t0, t, c0, c1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (tag) {
		struct sl_bpfmap *m = NULL;
		int r = sl_bpfmap_open_pinned(pin, 0, &m);

		if (r == 0)
			r = sl_bpfmap_tag(m, fd, strcmp(tag, "tls") == 0 ? SL_SOCK_TLS : SL_SOCK_PRE_TLS, 0);
		sl_bpfmap_free(m);
		if (r < 0) {
			fprintf(stderr, "slbench: tag: %s\n", strerror(-r));
			return 1;
		}
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("slbench: connect");
		return 1;
	}
	memset(buf, 'x', sizeof(buf));
	c0 = cpu_s();
	t0 = now_s();
	do {
		for (int i = 0; i < 64; i++) {
			ssize_t w = write(fd, buf, sizeof(buf));

			if (w < 0) {
				perror("slbench: write");
				return 1;
			}
			bytes += (unsigned long long)w;
		}
		t = now_s();
	} while (t - t0 < secs);
	close(fd);
	c1 = cpu_s();
	printf("bytes=%llu seconds=%.3f mbit_s=%.1f cpu_ns_per_mb=%.0f\n", bytes, t - t0,
	       (double)bytes * 8 / (t - t0) / 1e6, (c1 - c0) * 1e9 / ((double)bytes / 1e6));
	return 0;
}

static int connects(struct sockaddr_in sa, long count)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	double c0 = cpu_s(), t0 = now_s(), t, c1;

	for (long i = 0; i < count; i++) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			perror("slbench: connect");
			return 1;
		}
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		close(fd);
	}
	t = now_s();
	c1 = cpu_s();
	printf("connects=%ld ns_per_connect=%.0f cpu_ns_per_connect=%.0f\n", count,
	       (t - t0) * 1e9 / (double)count, (c1 - c0) * 1e9 / (double)count);
	return 0;
}

/* Ethernet + IPv4 + TCP + payload, headers copied from aligned locals. */
static size_t guard_pkt(uint8_t *buf, const char *dst, uint16_t dport, const char *pl, size_t plen)
{
	struct ethhdr eth = { .h_proto = htons(ETH_P_IP) };
	struct iphdr ip = { .version = 4, .ihl = 5, .ttl = 64, .protocol = IPPROTO_TCP };
	struct tcphdr th = { .source = htons(40000), .dest = htons(dport), .doff = 5, .ack = 1 };
	size_t off = 0;

	ip.tot_len = htons((uint16_t)(sizeof(ip) + sizeof(th) + plen));
	inet_pton(AF_INET, "10.0.0.1", &ip.saddr);
	inet_pton(AF_INET, dst, &ip.daddr);
	memcpy(buf + off, &eth, sizeof(eth));
	off += sizeof(eth);
	memcpy(buf + off, &ip, sizeof(ip));
	off += sizeof(ip);
	memcpy(buf + off, &th, sizeof(th));
	off += sizeof(th);
	memcpy(buf + off, pl, plen);
	return off + plen;
}

static int ev_discard(void *ctx, void *data, size_t size)
{
	(void)ctx;
	(void)data;
	(void)size;
	return 0;
}

static int guard_bench(unsigned repeat)
{
	static const struct {
		const char *name, *dst;
		uint16_t port;
		int tag, big;
		const char *pl;
	} cases[] = {
		{ "other port (5001), 1400-byte segment", "10.0.0.2", 5001, 0, 1, NULL },
		{ "SMTP port, unlisted address", "10.0.0.3", 25, 0, 1, NULL },
		{ "listed, socket tagged TLS (controller relay)", "10.0.0.2", 25, 2, 1, NULL },
		{ "listed, PRE_TLS EHLO line (classifier)", "10.0.0.2", 25, 1, 0, "EHLO mail.example.org\r\n" },
		{ "listed, untagged: dropped + event", "10.0.0.2", 25, 0, 1, NULL },
	};
	struct sl_dst_entry e;
	struct sl_port_set ps;
	struct guard_test *g;
	struct ring_buffer *rb;
	static char big[1400];
	uint8_t pkt[2048];
	__u32 zero = 0;

	g = guard_test__open_and_load();
	if (!g) {
		perror("slbench: guard_test");
		return 1;
	}
	memset(&e, 0, sizeof(e));
	e.key.prefixlen = 128;
	e.key.addr[10] = e.key.addr[11] = 0xff;
	inet_pton(AF_INET, "10.0.0.2", &e.key.addr[12]);
	e.val.policy_id = 1;
	e.val.n_ports = 1;
	e.val.ports[0] = 25;
	bpf_map_update_elem(bpf_map__fd(g->maps.dst_policy), &e.key, &e.val, BPF_ANY);
	memset(&ps, 0, sizeof(ps));
	ps.bits[0] |= 1ull << 25;
	bpf_map_update_elem(bpf_map__fd(g->maps.port_set), &zero, &ps, BPF_ANY);
	memset(big, 'x', sizeof(big));
	memcpy(big, "\x17\x03\x03\x05\x70", 5);
	/* Consume events as they come, so the ring never fills. */
	rb = ring_buffer__new(bpf_map__fd(g->maps.events), ev_discard, NULL, NULL);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].big ? guard_pkt(pkt, cases[i].dst, cases[i].port, big, sizeof(big))
					  : guard_pkt(pkt, cases[i].dst, cases[i].port, cases[i].pl,
						      strlen(cases[i].pl));
		unsigned rep = i == 4 ? repeat / 100 : repeat;	/* the event path fills the ring */
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = (__u32)len,
			    .repeat = (int)rep);

		g->bss->sl_test_tag = cases[i].tag;
		if (bpf_prog_test_run_opts(bpf_program__fd(g->progs.sl_guard_test), &o) < 0) {
			perror("slbench: test run");
			return 1;
		}
		if (rb)
			ring_buffer__consume(rb);
		printf("guard case=\"%s\" verdict=%u ns_per_packet=%u\n", cases[i].name, o.retval,
		       o.duration);
	}
	ring_buffer__free(rb);
	guard_test__destroy(g);
	return 0;
}

int main(int argc, char **argv)
{
	const char *tag = NULL, *pin = NULL;
	int c;

	while ((c = getopt(argc, argv, "t:P:")) != -1) {
		if (c == 't')
			tag = optarg;
		else if (c == 'P')
			pin = optarg;
		else
			return 2;
	}
	argc -= optind;
	argv += optind;
	if (argc >= 3 && strcmp(argv[0], "sink") == 0)
		return sink(addr_of(argv[1], argv[2]));
	if (argc >= 4 && strcmp(argv[0], "bulk") == 0 && (!tag || pin))
		return bulk(addr_of(argv[1], argv[2]), atof(argv[3]), tag, pin);
	if (argc >= 4 && strcmp(argv[0], "connect") == 0)
		return connects(addr_of(argv[1], argv[2]), atol(argv[3]));
	if (argc >= 2 && strcmp(argv[0], "guard") == 0)
		return guard_bench((unsigned)atol(argv[1]));
	fprintf(stderr, "usage: slbench sink|bulk|connect ADDR PORT [SECONDS|COUNT] [-t TAG -P PIN]\n"
			"       slbench guard REPEAT\n");
	return 2;
}

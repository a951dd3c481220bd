/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test_relay.c — the userspace relay between a plain socket and a TLS
 * peer: bytes intact and in order both ways (with bytes handed over from
 * the handshake first), half-close in both directions, back-pressure with
 * a megabyte in flight, SMTP-like ping-pong, and the idle timeout.  The pump engine (kTLS
 * paths in the VM, tests/vm/) runs here on its plain path: the same
 * contract, and kTLS paths on sockets without kernel TLS refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "pki.h"
#include "relay.h"
#include "tap.h"

static char dir[] = "/tmp/sl-test-relay.XXXXXX";
static struct pki_cert ca, srv;

static uint32_t fnv(uint32_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* Byte at absolute offset pos of a stream: independent of chunking. */
static void pattern(unsigned char *buf, size_t n, size_t pos, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)(((pos + i) * 31 + seed + (pos + i) / 251) & 0xff);
}

struct peer {
	int fd;
	SSL *ssl;
	size_t send_n, got_n;
	uint32_t got_h;
	unsigned seed;
};

/* Plain peer (the MTA): writer thread sends then half-closes. */
static void *a_writer(void *arg)
{
	struct peer *p = arg;
	unsigned char buf[8192];
	size_t left = p->send_n, off = 0;

	while (left) {
		size_t n = left < sizeof(buf) ? left : sizeof(buf);
		ssize_t w;

		pattern(buf, n, off, p->seed);
		w = write(p->fd, buf, n);
		if (w <= 0)
			break;
		left -= (size_t)w;
		off += (size_t)w;
	}
	shutdown(p->fd, SHUT_WR);
	return NULL;
}

static void *a_reader(void *arg)
{
	struct peer *p = arg;
	unsigned char buf[8192];
	ssize_t n;

	p->got_h = 2166136261u;
	while ((n = read(p->fd, buf, sizeof(buf))) > 0) {
		p->got_h = fnv(p->got_h, buf, (size_t)n);
		p->got_n += (size_t)n;
	}
	return NULL;
}

/* TLS peer (the partner): read to close_notify/EOF, then answer. */
static void *b_server(void *arg)
{
	struct peer *p = arg;
	unsigned char buf[8192];
	size_t left = p->send_n, off = 0;
	int n;

	p->got_h = 2166136261u;
	if (SSL_accept(p->ssl) != 1)
		return NULL;
	while ((n = SSL_read(p->ssl, buf, sizeof(buf))) > 0) {
		p->got_h = fnv(p->got_h, buf, (size_t)n);
		p->got_n += (size_t)n;
	}
	while (left) {
		size_t k = left < sizeof(buf) ? left : sizeof(buf);

		pattern(buf, k, off, p->seed);
		n = SSL_write(p->ssl, buf, (int)k);
		if (n <= 0)
			break;
		left -= (size_t)n;
		off += (size_t)n;
	}
	SSL_shutdown(p->ssl);
	shutdown(p->fd, SHUT_WR);
	return NULL;
}

static uint32_t expect_hash(const char *pre, size_t n, unsigned seed)
{
	unsigned char *buf = malloc(n ? n : 1);
	uint32_t h = 2166136261u;

	if (pre)
		h = fnv(h, (const unsigned char *)pre, strlen(pre));
	pattern(buf, n, 0, seed);
	h = fnv(h, buf, n);
	free(buf);
	return h;
}

struct result { int err; int calls; };

static void on_done(struct sl_relay *r, int err, void *arg)
{
	struct result *res = arg;

	res->err = err;
	res->calls++;
	sl_loop_stop(r->loop);
}

/*
 * The TLS rig of the userspace-path tests: A = MTA side (sa[0] the
 * relay's, sa[1] the MTA's), B = partner side (sb[0] the relay's TLS
 * client, already handshaken, both non-blocking; sb[1] the partner's,
 * with its server SSL, served by partner(arg) on a thread).
 */
struct rig {
	SSL_CTX *cctx, *sctx;
	SSL *cli, *srv_ssl;
	int sa[2], sb[2];
	pthread_t partner;
	struct sl_loop *loop;
};

static void rig_up(struct rig *g, const char *name, void *(*partner)(void *), void *arg,
		   int *partner_fd, SSL **partner_ssl, long mode)
{
	memset(g, 0, sizeof(*g));
	g->cctx = SSL_CTX_new(TLS_client_method());
	g->sctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX_use_certificate(g->sctx, srv.cert);
	SSL_CTX_use_PrivateKey(g->sctx, srv.key);
	socketpair(AF_UNIX, SOCK_STREAM, 0, g->sa);
	socketpair(AF_UNIX, SOCK_STREAM, 0, g->sb);
	g->srv_ssl = SSL_new(g->sctx);
	SSL_set_fd(g->srv_ssl, g->sb[1]);
	*partner_fd = g->sb[1];
	*partner_ssl = g->srv_ssl;
	pthread_create(&g->partner, NULL, partner, arg);
	/* the controller's handshake, blocking here for brevity */
	g->cli = SSL_new(g->cctx);
	SSL_set_fd(g->cli, g->sb[0]);
	tap_int(SSL_connect(g->cli), 1, "%s: handshake", name);
	fcntl(g->sa[0], F_SETFL, O_NONBLOCK);
	fcntl(g->sb[0], F_SETFL, O_NONBLOCK);
	SSL_set_mode(g->cli, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
		     mode);
	sl_loop_new(0, &g->loop);
}

/* After the partner thread was joined and sa[0] closed. */
static void rig_down(struct rig *g)
{
	SSL_free(g->cli);
	SSL_free(g->srv_ssl);
	SSL_CTX_free(g->cctx);
	SSL_CTX_free(g->sctx);
	close(g->sa[1]);
	close(g->sb[0]);
	close(g->sb[1]);
	sl_loop_free(g->loop);
	ERR_clear_error();
}

static void test_transfer(const char *name, size_t up, size_t down, const char *a_pre)
{
	struct peer ap = { .send_n = up, .seed = 7 }, bp = { .send_n = down, .seed = 11 };
	size_t pre = a_pre ? strlen(a_pre) : 0;
	struct result res = { 1, 0 };
	struct sl_relay r;
	pthread_t t1, t2;
	struct rig g;

	rig_up(&g, name, b_server, &bp, &bp.fd, &bp.ssl, 0);
	ap.fd = g.sa[1];
	tap_int(sl_relay_start(&r, g.loop, SL_DATAPATH_USERSPACE, g.sa[0], g.sb[0], g.cli,
			       a_pre, pre, NULL, 0, 5000, on_done, &res),
		0, "%s: relay started", name);
	pthread_create(&t1, NULL, a_writer, &ap);
	pthread_create(&t2, NULL, a_reader, &ap);
	sl_loop_run(g.loop);
	pthread_join(t1, NULL);
	pthread_join(g.partner, NULL);
	close(g.sa[0]);	/* the owner closes after done() */
	pthread_join(t2, NULL);

	tap_int(res.calls, 1, "%s: done called once", name);
	tap_int(res.err, 0, "%s: clean end (%s)", name, sl_relay_reason(&r));
	tap_int((long long)bp.got_n, (long long)(up + pre), "%s: partner got every byte", name);
	tap_ok(bp.got_h == expect_hash(a_pre, up, 7), "%s: partner bytes in order", name);
	tap_int((long long)ap.got_n, (long long)down, "%s: MTA got every byte", name);
	tap_ok(ap.got_h == expect_hash(NULL, down, 11), "%s: MTA bytes in order", name);
	tap_int((long long)r.a2b.bytes, (long long)(up + pre), "%s: up counter", name);
	tap_int((long long)r.b2a.bytes, (long long)down, "%s: down counter", name);
	rig_down(&g);
}

/*
 * Ping-pong, the shape of an SMTP session: the MTA sends a command and
 * waits for the reply before the next, N times, each way's size varying
 * from a few bytes to more than the relay's buffer.  Each wake-up of the
 * relay has bytes on one side only: a relay that waited on the wrong side
 * (or for a readiness that never comes, with records read ahead) stalls
 * into its idle timeout.
 */
#define PP_ROUNDS	300

static size_t pp_len(unsigned i, unsigned mul)
{
	return (i * mul) % (SL_RELAY_BUF + 4000);
}

/* One line: "<tag> <i> " + len filler bytes + CRLF, filler never CR/LF. */
static size_t pp_line(char *buf, const char *tag, unsigned i, size_t len)
{
	size_t n = (size_t)sprintf(buf, "%s %u ", tag, i);

	for (size_t k = 0; k < len; k++)
		buf[n + k] = (char)('a' + (i + k) % 26);
	memcpy(buf + n + len, "\r\n", 2);
	return n + len + 2;
}

struct pp {
	int fd;
	SSL *ssl;
	unsigned done;
	bool bad;
	char rbuf[4096];
	size_t roff, rlen;
};

/* Read up to and including CRLF into buf; its length, or 0 at EOF/error. */
static size_t pp_read_line(struct pp *p, char *buf, size_t cap)
{
	size_t n = 0;

	while (n < cap) {
		if (p->roff == p->rlen) {
			int r = p->ssl ? SSL_read(p->ssl, p->rbuf, sizeof(p->rbuf))
				       : (int)read(p->fd, p->rbuf, sizeof(p->rbuf));

			if (r <= 0)
				return 0;
			p->roff = 0;
			p->rlen = (size_t)r;
		}
		buf[n++] = p->rbuf[p->roff++];
		if (n >= 2 && buf[n - 2] == '\r' && buf[n - 1] == '\n')
			return n;
	}
	return 0;
}

static void *pp_mta(void *arg)
{
	struct pp *p = arg;
	char *out = malloc(2 * SL_RELAY_BUF), *in = malloc(2 * SL_RELAY_BUF);
	char *want = malloc(2 * SL_RELAY_BUF);

	for (unsigned i = 0; i < PP_ROUNDS && !p->bad; i++) {
		size_t n = pp_line(out, "CMD", i, pp_len(i, 37)), got;

		if (write(p->fd, out, n) != (ssize_t)n)
			p->bad = true;
		n = pp_line(want, "250", i, pp_len(i, 53));
		got = pp_read_line(p, in, 2 * SL_RELAY_BUF);
		if (got != n || memcmp(in, want, n))
			p->bad = true;
		else
			p->done++;
	}
	shutdown(p->fd, SHUT_WR);
	free(out);
	free(in);
	free(want);
	return NULL;
}

static void *pp_partner(void *arg)
{
	struct pp *p = arg;
	char *out = malloc(2 * SL_RELAY_BUF), *in = malloc(2 * SL_RELAY_BUF);
	char *want = malloc(2 * SL_RELAY_BUF);

	if (SSL_accept(p->ssl) != 1)
		p->bad = true;
	for (unsigned i = 0; !p->bad; i++) {
		size_t n = pp_line(want, "CMD", i, pp_len(i, 37)), got;

		got = pp_read_line(p, in, 2 * SL_RELAY_BUF);
		if (!got)
			break;		/* close_notify after the last round */
		if (got != n || memcmp(in, want, n)) {
			p->bad = true;
			break;
		}
		n = pp_line(out, "250", i, pp_len(i, 53));
		if (SSL_write(p->ssl, out, (int)n) != (int)n)
			p->bad = true;
		p->done++;
	}
	SSL_shutdown(p->ssl);
	shutdown(p->fd, SHUT_WR);
	free(out);
	free(in);
	free(want);
	return NULL;
}

static void test_pingpong(void)
{
	struct pp mta = { 0 }, partner = { 0 };
	struct result res = { 1, 0 };
	struct sl_relay r;
	struct rig g;
	pthread_t t1;

	rig_up(&g, "ping-pong", pp_partner, &partner, &partner.fd, &partner.ssl,
	       SSL_MODE_RELEASE_BUFFERS);
	mta.fd = g.sa[1];
	tap_int(sl_relay_start(&r, g.loop, SL_DATAPATH_USERSPACE, g.sa[0], g.sb[0], g.cli, NULL, 0,
			       NULL, 0, 5000, on_done, &res), 0, "ping-pong: relay started");
	pthread_create(&t1, NULL, pp_mta, &mta);
	sl_loop_run(g.loop);
	close(g.sa[0]);
	shutdown(g.sb[0], SHUT_RDWR);	/* a stalled relay ended by its timer: unblock the peers */
	pthread_join(t1, NULL);
	pthread_join(g.partner, NULL);

	tap_int(res.err, 0, "ping-pong: clean end, no idle timeout (%s)", sl_relay_reason(&r));
	tap_int(mta.done, PP_ROUNDS, "ping-pong: the MTA got every reply, in order");
	tap_int(partner.done, PP_ROUNDS, "ping-pong: the partner got every command, in order");
	tap_ok(!mta.bad && !partner.bad, "ping-pong: no byte out of place");
	rig_down(&g);
}

/* Plain peer on B (the pump engine's plain path): read to EOF, then send. */
static void *b_plain(void *arg)
{
	struct peer *p = arg;
	unsigned char buf[8192];
	size_t left = p->send_n, off = 0;
	ssize_t n;

	p->got_h = 2166136261u;
	while ((n = read(p->fd, buf, sizeof(buf))) > 0) {
		p->got_h = fnv(p->got_h, buf, (size_t)n);
		p->got_n += (size_t)n;
	}
	while (left) {
		size_t k = left < sizeof(buf) ? left : sizeof(buf);

		pattern(buf, k, off, p->seed);
		n = write(p->fd, buf, k);
		if (n <= 0)
			break;
		left -= (size_t)n;
		off += (size_t)n;
	}
	shutdown(p->fd, SHUT_WR);
	return NULL;
}

static void test_pumps(const char *name, size_t up, size_t down, const char *a_pre,
		       const char *b_pre)
{
	struct sl_loop *loop = NULL;
	struct peer ap = { .send_n = up, .seed = 3 }, bp = { .send_n = down, .seed = 5 };
	size_t alen = a_pre ? strlen(a_pre) : 0, blen = b_pre ? strlen(b_pre) : 0;
	struct sl_relay r;
	struct result res = { 1, 0 };
	pthread_t t1, t2, t3;
	int sa[2], sb[2];

	socketpair(AF_UNIX, SOCK_STREAM, 0, sa);
	socketpair(AF_UNIX, SOCK_STREAM, 0, sb);
	ap.fd = sa[1];
	bp.fd = sb[1];
	fcntl(sa[0], F_SETFL, O_NONBLOCK);
	fcntl(sb[0], F_SETFL, O_NONBLOCK);
	sl_loop_new(0, &loop);
	tap_int(sl_relay_start(&r, loop, SL_DATAPATH_PLAIN, sa[0], sb[0], NULL, a_pre, alen,
			       b_pre, blen, 5000, on_done, &res), 0, "%s: relay started", name);
	pthread_create(&t3, NULL, b_plain, &bp);
	pthread_create(&t1, NULL, a_writer, &ap);
	pthread_create(&t2, NULL, a_reader, &ap);
	sl_loop_run(loop);
	pthread_join(t1, NULL);
	pthread_join(t3, NULL);
	close(sa[0]);
	pthread_join(t2, NULL);

	tap_int(res.calls, 1, "%s: done called once", name);
	tap_int(res.err, 0, "%s: clean end (%s)", name, sl_relay_reason(&r));
	tap_str(sl_datapath_name(r.path), "plain", "%s: data path", name);
	tap_int((long long)bp.got_n, (long long)(up + alen), "%s: B got every byte", name);
	tap_ok(bp.got_h == expect_hash(a_pre, up, 3), "%s: B's bytes in order, a_pre first", name);
	tap_int((long long)ap.got_n, (long long)(down + blen), "%s: A got every byte", name);
	tap_ok(ap.got_h == expect_hash(b_pre, down, 5), "%s: A's bytes in order, b_pre first", name);
	tap_int((long long)r.a2b.bytes, (long long)(up + alen), "%s: up counter", name);
	tap_int((long long)r.b2a.bytes, (long long)(down + blen), "%s: down counter", name);
	close(sa[1]);
	close(sb[0]);
	close(sb[1]);
	sl_loop_free(loop);
}

/* The kTLS paths on sockets without kernel TLS (this host has none):
 * refused at start, nothing registered, no byte moved. */
static void test_ktls_refused(void)
{
	static const enum sl_datapath paths[] = { SL_DATAPATH_KTLS_SPLICE, SL_DATAPATH_KTLS_RW };
	struct sl_loop *loop = NULL;
	struct sl_relay r;
	int sa[2], sb[2];

	socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sa);
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sb);
	sl_loop_new(0, &loop);
	for (size_t i = 0; i < TAP_NELEM(paths); i++) {
		char buf[8];

		tap_int(sl_relay_start(&r, loop, paths[i], sa[0], sb[0], NULL, "MAIL\r\n", 6,
				       NULL, 0, 100, on_done, NULL), -ENOTCONN,
			"%s on a socket without kernel TLS is refused", sl_datapath_name(paths[i]));
		tap_int(recv(sb[1], buf, sizeof(buf), MSG_DONTWAIT), -1,
			"%s: not a byte reached B", sl_datapath_name(paths[i]));
	}
	for (int i = 0; i < 2; i++) {
		close(sa[i]);
		close(sb[i]);
	}
	sl_loop_free(loop);
}

static void test_idle(void)
{
	struct sl_loop *loop = NULL;
	struct sl_relay r;
	struct result res = { 1, 0 };
	int sa[2], sb[2];

	socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sa);
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sb);
	sl_loop_new(0, &loop);
	tap_int(sl_relay_start(&r, loop, SL_DATAPATH_PLAIN, sa[0], sb[0], NULL, NULL, 0,
			       NULL, 0, 100, on_done, &res), 0, "idle: relay started");
	sl_loop_run(loop);
	tap_int(res.err, -ETIMEDOUT, "idle: silent peers end in -ETIMEDOUT");
	tap_str(sl_relay_reason(&r), "idle timeout", "idle: reason");
	for (int i = 0; i < 2; i++) {
		close(sa[i]);
		close(sb[i]);
	}
	sl_loop_free(loop);
}

static void test_no_ssl(void)
{
	struct sl_relay r;
	struct sl_loop *loop = NULL;

	sl_loop_new(0, &loop);
	tap_int(sl_relay_start(&r, loop, SL_DATAPATH_USERSPACE, 0, 1, NULL, NULL, 0, NULL, 0,
			       100, on_done, NULL), -EINVAL,
		"userspace path without an SSL is refused (no plaintext path)");
	{
		SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
		SSL *ssl = SSL_new(ctx);

		tap_int(sl_relay_start(&r, loop, SL_DATAPATH_PLAIN, 0, 1, ssl, NULL, 0, NULL, 0,
				       100, on_done, NULL), -EINVAL,
			"plain path for a leg with a TLS session is refused");
		SSL_free(ssl);
		SSL_CTX_free(ctx);
	}
	sl_loop_free(loop);
}

int main(void)
{
	char cmd[300];

	if (!mkdtemp(dir) || pki_ca(&ca, dir, "ca", "CA") ||
	    pki_leaf(&srv, &ca, dir, "srv", "mx.test", "mx.test"))
		return tap_ok(0, "test PKI"), tap_done();
	test_transfer("small", 100, 50, "EHLO mta.test\r\n");
	test_transfer("1 MiB each way", 1 << 20, 1 << 20, NULL);
	test_transfer("nothing up, data down", 0, 300000, NULL);
	test_pingpong();
	test_pumps("plain: small, both pre", 100, 50, "MAIL FROM:<a@b>\r\n", "250 ok\r\n");
	test_pumps("plain: 4 MiB each way", 4 << 20, 4 << 20, "RCPT\r\n", NULL);
	test_pumps("plain: nothing up, data down", 0, 300000, NULL, NULL);
	test_ktls_refused();
	test_idle();
	test_no_ssl();
	pki_free(&ca);
	pki_free(&srv);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		tap_diag("cannot remove %s", dir);
	return tap_done();
}

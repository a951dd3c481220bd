/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test_inbound.c — the inbound session between a scripted partner client
 * (OpenSSL, blocking, in a thread) and a scripted backend MTA on loopback.
 * Each row: what the partner does, what it must be told, and whether the
 * backend may see anything at all (it must not before admission).  The
 * kTLS rows run on this host's kernel, which has no kernel TLS: off and
 * preferred relay in userspace with the reason recorded, required refuses
 * the partner with a 421 (the handoff itself: tests/vm/).
 * (End-to-end with real Postfix on both sides: tests/bats/5x-*.bats.)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "inbound.h"
#include "pki.h"
#include "sasl.h"
#include "session.h"
#include "tap.h"
#include "tls.h"

static char dir[] = "/tmp/sl-test-in.XXXXXX";
static struct pki_cert ca, srv, client, rogue_ca, rogue_client;
static char hash6[200];

enum act {
	A_GOOD,			/* STARTTLS, EHLO, AUTH PLAIN ok, mail */
	A_MAIL_FIRST,		/* MAIL before STARTTLS */
	A_PIPELINED_STARTTLS,	/* "STARTTLS\r\nMAIL FROM:<>\r\n" in one write */
	A_WRONG_PASSWORD,
	A_NO_AUTH,		/* TLS, then MAIL without AUTH */
	A_CERT_ONLY,		/* client certificate, no AUTH */
	A_NO_CERT,		/* no client certificate where one is required */
	A_ROGUE_CERT,		/* client certificate from an unknown CA */
	A_TLS12,		/* client capped at TLS 1.2 */
	A_THREE_WRONG,		/* three wrong passwords */
	A_UNKNOWN_USER,
};

struct tcase {
	const char *name;
	enum act act;
	unsigned require;
	uint16_t min_version;
	enum sl_announce announce;
	const char *want;	/* prefix of the decisive reply the partner got */
	bool want_backend;	/* the backend saw a connection */
	bool want_mail;		/* the backend got the message */
	const char *want_result;
	enum sl_ktls_mode ktls;	/* the partner's tls.ktls (default preferred) */
	int caps;		/* 0 probed (none here), 1 NULL, 2 "everything" */
	const char *want_ktls;	/* prefix of res.ktls, NULL = not checked */
	const char *want_seen;	/* a reply the partner must have seen, NULL = none */
};

#define RA (SL_REQUIRE_TLS | SL_REQUIRE_AUTH)
#define NOKTLS "kernel has no TLS (No such file or directory)"
#define REQ421 "421 4.7.5 smtplock: kernel TLS required but unavailable: "
#define RC (SL_REQUIRE_TLS | SL_REQUIRE_CLIENT_CERT)

static const struct tcase cases[] = {
	{ "TLS + AUTH, PROXY v2", A_GOOD, RA, SL_TLS_1_2, SL_ANNOUNCE_PROXY_V2,
	  "250 2.0.0 Ok: queued", true, true, "relayed",
	  SL_KTLS_PREFERRED, 0, NULL, NULL },
	{ "TLS + AUTH, XCLIENT", A_GOOD, RA, SL_TLS_1_2, SL_ANNOUNCE_XCLIENT,
	  "250 2.0.0 Ok: queued", true, true, "relayed",
	  SL_KTLS_PREFERRED, 0, NULL, NULL },
	{ "TLS + AUTH, no announce", A_GOOD, RA, SL_TLS_1_2, SL_ANNOUNCE_NONE,
	  "250 2.0.0 Ok: queued", true, true, "relayed",
	  SL_KTLS_PREFERRED, 0, NULL, NULL },
	{ "MAIL before STARTTLS", A_MAIL_FIRST, RA, SL_TLS_1_2, SL_ANNOUNCE_PROXY_V2,
	  "530 5.7.0 Must issue a STARTTLS command first", false, false, "refused",
	  SL_KTLS_PREFERRED, 0, NULL, NULL },
	{ "commands pipelined after STARTTLS", A_PIPELINED_STARTTLS, RA, SL_TLS_1_2,
	  SL_ANNOUNCE_PROXY_V2, "554 5.5.0 smtplock: commands pipelined after STARTTLS",
	  false, false, "refused",
	  SL_KTLS_PREFERRED, 0, NULL, NULL },
	{ "wrong password", A_WRONG_PASSWORD, RA, SL_TLS_1_2, SL_ANNOUNCE_PROXY_V2,
	  "535 5.7.8", false, false, "refused",
	  SL_KTLS_PREFERRED, 0, NULL, NULL },
	{ "unknown user", A_UNKNOWN_USER, RA, SL_TLS_1_2, SL_ANNOUNCE_PROXY_V2,
	  "535 5.7.8", false, false, "refused",
	  SL_KTLS_PREFERRED, 0, NULL, NULL },
	{ "three wrong passwords", A_THREE_WRONG, RA, SL_TLS_1_2, SL_ANNOUNCE_PROXY_V2,
	  "421 4.7.0 smtplock: too many authentication failures", false, false, "refused",
	  SL_KTLS_PREFERRED, 0, NULL, NULL },
	{ "MAIL after TLS without AUTH", A_NO_AUTH, RA, SL_TLS_1_2, SL_ANNOUNCE_PROXY_V2,
	  "530 5.7.0 Authentication required", false, false, "refused",
	  SL_KTLS_PREFERRED, 0, NULL, NULL },
	{ "client certificate admits", A_CERT_ONLY, RC, SL_TLS_1_2, SL_ANNOUNCE_PROXY_V2,
	  "250 2.0.0 Ok: queued", true, true, "relayed",
	  SL_KTLS_PREFERRED, 0, NULL, NULL },
	{ "client certificate missing", A_NO_CERT, RC, SL_TLS_1_2, SL_ANNOUNCE_PROXY_V2,
	  "TLS failed", false, false, "refused",
	  SL_KTLS_PREFERRED, 0, NULL, NULL },
	{ "client certificate from unknown CA", A_ROGUE_CERT, RC, SL_TLS_1_2,
	  SL_ANNOUNCE_PROXY_V2, "TLS failed", false, false, "refused",
	  SL_KTLS_PREFERRED, 0, NULL, NULL },
	{ "TLS 1.2 client, floor 1.3", A_TLS12, RA, SL_TLS_1_3, SL_ANNOUNCE_PROXY_V2,
	  "TLS failed", false, false, "refused",
	  SL_KTLS_PREFERRED, 0, NULL, NULL },
	/* tls.ktls on a kernel without kTLS */
	{ "ktls off: userspace relay", A_GOOD, RA, SL_TLS_1_2, SL_ANNOUNCE_NONE,
	  "250 2.0.0 Ok: queued", true, true, "relayed", SL_KTLS_OFF, 0, "off by policy", NULL },
	{ "ktls preferred, no kernel TLS: userspace, reason noted", A_GOOD, RA, SL_TLS_1_2,
	  SL_ANNOUNCE_NONE, "250 2.0.0 Ok: queued", true, true, "relayed", SL_KTLS_PREFERRED, 0,
	  NOKTLS, NULL },
	{ "ktls required, no kernel TLS: 421 after the handshake, backend untouched", A_GOOD, RA,
	  SL_TLS_1_2, SL_ANNOUNCE_NONE, NULL, false, false, "refused", SL_KTLS_REQUIRED, 0,
	  NOKTLS, REQ421 NOKTLS },
	{ "ktls required, not probed: 421", A_GOOD, RA, SL_TLS_1_2, SL_ANNOUNCE_NONE, NULL,
	  false, false, "refused", SL_KTLS_REQUIRED, 1, "kernel has no TLS (not probed)",
	  REQ421 "kernel has no TLS (not probed)" },
	{ "ktls required, kernel refuses the keys at the switch: 421, no mail", A_GOOD, RA,
	  SL_TLS_1_2, SL_ANNOUNCE_NONE, NULL, true, false, "refused", SL_KTLS_REQUIRED, 2,
	  "kernel refused the keys", REQ421 "kernel refused the keys: No such file or directory" },
	{ "ktls preferred, kernel refuses the keys: the SSL goes on in userspace", A_GOOD, RA,
	  SL_TLS_1_2, SL_ANNOUNCE_NONE, "250 2.0.0 Ok: queued", true, true, "relayed",
	  SL_KTLS_PREFERRED, 2, "kernel refused the keys: No such file or directory", NULL },
};

/* ---- the scripted backend MTA --------------------------------------------- */

struct backend {
	int lfd;
	bool proxy;		/* a PROXY v2 header comes first */
	bool connected;
	char header[64];	/* first bytes: the PROXY signature, if any */
	char log[8192];		/* everything received */
	size_t log_len;
	bool got_mail;
};

static int b_line(int fd, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len && read(fd, buf + n, 1) == 1)
		if (buf[n++] == '\n')
			break;
	buf[n] = 0;
	return (int)n;
}

static void *backend_main(void *arg)
{
	struct backend *b = arg;
	char line[1024];
	bool data = false;
	int fd = accept(b->lfd, NULL, NULL);

	if (fd < 0)
		return NULL;
	b->connected = true;
	/* a PROXY v2 header starts with 12 signature bytes; peek at them */
	if (b->proxy && recv(fd, b->header, 12, MSG_PEEK | MSG_WAITALL) == 12 &&
	    memcmp(b->header, "\r\n\r\n\0\r\nQUIT\n", 12) == 0) {
		unsigned char hdr[16 + 216];

		recv(fd, hdr, 16, MSG_WAITALL);
		recv(fd, hdr + 16, (size_t)(hdr[14] << 8 | hdr[15]), MSG_WAITALL);
	}
	dprintf(fd, "220 backend.test ESMTP\r\n");
	while (b_line(fd, line, sizeof(line)) > 0) {
		size_t l = strlen(line);

		if (b->log_len + l < sizeof(b->log)) {
			memcpy(b->log + b->log_len, line, l);
			b->log_len += l;
		}
		if (data) {
			if (!strcmp(line, ".\r\n")) {
				data = false;
				b->got_mail = strstr(b->log, "marker-77") != NULL;
				dprintf(fd, "250 2.0.0 Ok: queued as B1\r\n");
			}
			continue;
		}
		if (!strncasecmp(line, "EHLO", 4))
			dprintf(fd, "250-backend.test\r\n250-PIPELINING\r\n250-SIZE 5000\r\n"
				"250-XCLIENT NAME ADDR PROTO HELO LOGIN\r\n250-STARTTLS\r\n250 8BITMIME\r\n");
		else if (!strncasecmp(line, "XCLIENT", 7))
			dprintf(fd, "220 backend.test ESMTP\r\n");
		else if (!strncasecmp(line, "DATA", 4)) {
			data = true;
			dprintf(fd, "354 go\r\n");
		} else if (!strncasecmp(line, "QUIT", 4)) {
			dprintf(fd, "221 bye\r\n");
			break;
		} else
			dprintf(fd, "250 2.0.0 ok\r\n");
	}
	close(fd);
	return NULL;
}

/* ---- the scripted partner --------------------------------------------------- */

struct partner {
	struct sockaddr_in addr;	/* the controller's listener */
	enum act act;
	char decisive[512];		/* the reply the case is about */
	char ehlo_tls[1024];
	char seen[4096];		/* every reply, in order */
	size_t seen_len;
};

struct pc { int fd; SSL *ssl; };

static struct partner *cur_partner;	/* one partner thread at a time */

static int p_reply(struct pc *c, char *buf, size_t len)
{
	struct partner *p = cur_partner;
	size_t n = 0;

	while (n + 1 < len) {
		int r = c->ssl ? SSL_read(c->ssl, buf + n, 1) : (int)read(c->fd, buf + n, 1);

		if (r <= 0)
			break;
		if (buf[n++] == '\n') {
			char *ls = buf + n - 2;

			while (ls > buf && ls[-1] != '\n')
				ls--;
			if (ls[3] == ' ')
				break;
		}
	}
	buf[n] = 0;
	if (p && p->seen_len + n < sizeof(p->seen)) {
		memcpy(p->seen + p->seen_len, buf, n);
		p->seen_len += n;
		p->seen[p->seen_len] = 0;
	}
	return (int)n;
}

static void p_send(struct pc *c, const char *s)
{
	if (c->ssl)
		SSL_write(c->ssl, s, (int)strlen(s));
	else if (write(c->fd, s, strlen(s)) < 0)
		return;
}

static void *partner_main(void *arg)
{
	struct partner *p = arg;
	struct pc c = { socket(AF_INET, SOCK_STREAM, 0), NULL };
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	char buf[2048];

	if (connect(c.fd, (struct sockaddr *)&p->addr, sizeof(p->addr)) < 0)
		goto out;
	p_reply(&c, buf, sizeof(buf));			/* banner */
	p_send(&c, "EHLO partner.test\r\n");
	p_reply(&c, buf, sizeof(buf));
	if (p->act == A_MAIL_FIRST) {
		p_send(&c, "MAIL FROM:<a@partner.test>\r\n");
		p_reply(&c, p->decisive, sizeof(p->decisive));
		goto out;
	}
	if (p->act == A_PIPELINED_STARTTLS) {
		p_send(&c, "STARTTLS\r\nMAIL FROM:<a@partner.test>\r\n");
		p_reply(&c, p->decisive, sizeof(p->decisive));
		goto out;
	}
	p_send(&c, "STARTTLS\r\n");
	p_reply(&c, buf, sizeof(buf));
	if (p->act == A_TLS12)
		SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	if (p->act == A_CERT_ONLY) {
		SSL_CTX_use_certificate(ctx, client.cert);
		SSL_CTX_use_PrivateKey(ctx, client.key);
	}
	if (p->act == A_ROGUE_CERT) {
		SSL_CTX_use_certificate(ctx, rogue_client.cert);
		SSL_CTX_use_PrivateKey(ctx, rogue_client.key);
	}
	c.ssl = SSL_new(ctx);
	SSL_set_fd(c.ssl, c.fd);
	if (SSL_connect(c.ssl) != 1) {
		snprintf(p->decisive, sizeof(p->decisive), "TLS failed");
		goto out;
	}
	p_send(&c, "EHLO partner.test\r\n");
	if (p_reply(&c, p->ehlo_tls, sizeof(p->ehlo_tls)) <= 0) {
		/* TLS 1.3: a rejected client certificate shows on first read */
		snprintf(p->decisive, sizeof(p->decisive), "TLS failed");
		goto out;
	}
	if (p->ehlo_tls[0] != '2') {		/* refused right after TLS */
		snprintf(p->decisive, sizeof(p->decisive), "%.500s", p->ehlo_tls);
		goto out;
	}
	switch (p->act) {
	case A_NO_AUTH:
		p_send(&c, "MAIL FROM:<a@partner.test>\r\n");
		p_reply(&c, p->decisive, sizeof(p->decisive));
		goto out;
	case A_WRONG_PASSWORD:
		p_send(&c, "AUTH PLAIN AE5UU09MAHdyb25n\r\n");	/* \0NTSOL\0wrong */
		p_reply(&c, p->decisive, sizeof(p->decisive));
		goto out;
	case A_UNKNOWN_USER:
		p_send(&c, "AUTH PLAIN AG5vYm9keQBzM2NyZXQ=\r\n");	/* \0nobody\0s3cret */
		p_reply(&c, p->decisive, sizeof(p->decisive));
		goto out;
	case A_THREE_WRONG:
		for (int i = 0; i < 3; i++) {
			p_send(&c, "AUTH PLAIN AE5UU09MAHdyb25n\r\n");
			p_reply(&c, p->decisive, sizeof(p->decisive));
		}
		goto out;
	case A_CERT_ONLY:
		break;
	default:
		p_send(&c, "AUTH PLAIN AE5UU09MAHMzY3JldA==\r\n");	/* \0NTSOL\0s3cret */
		p_reply(&c, buf, sizeof(buf));
		if (strncmp(buf, "235", 3) != 0) {
			snprintf(p->decisive, sizeof(p->decisive), "%.300s", buf);
			goto out;
		}
		break;
	}
	p_send(&c, "MAIL FROM:<a@partner.test>\r\nRCPT TO:<b@us.test>\r\nDATA\r\n");
	p_reply(&c, buf, sizeof(buf));
	p_reply(&c, buf, sizeof(buf));
	p_reply(&c, buf, sizeof(buf));
	p_send(&c, "Subject: marker-77\r\n\r\nhello\r\n.\r\n");
	p_reply(&c, p->decisive, sizeof(p->decisive));
	p_send(&c, "QUIT\r\n");
	p_reply(&c, buf, sizeof(buf));
out:
	if (c.ssl)
		SSL_free(c.ssl);
	close(c.fd);
	SSL_CTX_free(ctx);
	return NULL;
}

/* ---- harness ------------------------------------------------------------------ */

static struct sl_ktls_caps probed;

static void run_case(const struct tcase *tc, struct sl_loop *loop, struct sl_inbound_caps *caps)
{
	static const struct sl_ktls_caps lie = { .tx = { 0xf, 0xf }, .rx = { 0xf, 0xf } };
	struct sl_account acct = { .username = "NTSOL", .password_hash = hash6 };
	struct ts_inbound t = { .cert_file = srv.cert_file, .key_file = srv.key_file,
				.announce = tc->announce, .caps = caps,
				.ktls_caps = tc->caps == 1 ? NULL : tc->caps == 2 ? &lie : &probed };
	struct backend b = { .proxy = tc->announce == SL_ANNOUNCE_PROXY_V2 };
	struct partner pa = { .act = tc->act };
	struct sockaddr_in lsin = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) }, bsin = lsin;
	socklen_t slen = sizeof(lsin);
	pthread_t tb, tp;
	int lfd, fd;

	t.partner = (struct sl_partner){ .domain = "partner.test" };
	t.partner.tls.ktls = tc->ktls;
	t.partner.inbound = (struct sl_inbound_policy){ .require = tc->require,
		.min_version = tc->min_version, .accounts = &acct, .n_accounts = 1,
		.client_ca_file = ca.cert_file };
	b.lfd = socket(AF_INET, SOCK_STREAM, 0);
	bind(b.lfd, (struct sockaddr *)&bsin, sizeof(bsin));
	listen(b.lfd, 1);
	getsockname(b.lfd, (struct sockaddr *)&bsin, &slen);
	memcpy(&t.backend, &bsin, sizeof(bsin));
	t.backend_len = sizeof(bsin);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	bind(lfd, (struct sockaddr *)&lsin, sizeof(lsin));
	listen(lfd, 1);
	slen = sizeof(lsin);
	getsockname(lfd, (struct sockaddr *)&lsin, &slen);
	pa.addr = lsin;
	cur_partner = &pa;
	pthread_create(&tb, NULL, backend_main, &b);
	pthread_create(&tp, NULL, partner_main, &pa);

	slen = sizeof(t.peer);
	fd = accept4(lfd, (struct sockaddr *)&t.peer, &slen, SOCK_NONBLOCK);
	slen = sizeof(t.local);
	getsockname(fd, (struct sockaddr *)&t.local, &slen);
	t.fd = fd;
	tap_int(ts_inbound_run(&t, loop), 0, "%s: session ran (%s)", tc->name, t.ctx_reason);
	pthread_join(tp, NULL);
	shutdown(b.lfd, SHUT_RDWR);
	pthread_join(tb, NULL);
	cur_partner = NULL;

	tap_int(t.done_calls, 1, "%s: done() once", tc->name);
	if (tc->want && !tap_ok(strncmp(pa.decisive, tc->want, strlen(tc->want)) == 0,
				"%s: partner told", tc->name))
		tap_diag("got:  %s\nwant: %s...", pa.decisive, tc->want);
	if (tc->want_seen && !tap_ok(strstr(pa.seen, tc->want_seen) != NULL,
				     "%s: partner told (%s)", tc->name, tc->want_seen))
		tap_diag("the partner saw:\n%s", pa.seen);
	tap_int(b.connected, tc->want_backend, "%s: backend connected", tc->name);
	tap_int(b.got_mail, tc->want_mail, "%s: mail at the backend", tc->name);
	tap_str(t.res.result, tc->want_result, "%s: result (%s)", tc->name, t.res.reason);
	if (tc->want_mail) {
		tap_ok(strstr(b.log, "EHLO partner.test") != NULL, "%s: partner's EHLO replayed", tc->name);
		if (tc->announce == SL_ANNOUNCE_XCLIENT)
			tap_ok(strstr(b.log, "XCLIENT ") && strstr(b.log, "ADDR=127.0.0.1") &&
			       strstr(b.log, "LOGIN=NTSOL"), "%s: XCLIENT names the partner", tc->name);
		if (tc->announce == SL_ANNOUNCE_PROXY_V2)
			tap_ok(memcmp(b.header, "\r\n\r\n\0\r\nQUIT\n", 12) == 0,
			       "%s: PROXY v2 header first", tc->name);
		tap_ok(strstr(t.res.received, "by us.test (smtplock) with ESMTPS") != NULL,
		       "%s: Received trace (%s)", tc->name, t.res.received);
		tap_ok(strstr(pa.ehlo_tls, "STARTTLS") == NULL && strstr(pa.ehlo_tls, "XCLIENT") == NULL,
		       "%s: no STARTTLS/XCLIENT offered over TLS", tc->name);
		/* No kernel TLS here: what carried the mail is OpenSSL. */
		tap_str(sl_datapath_name(t.res.path), "userspace", "%s: data path", tc->name);
		tap_int(t.ktls_socks, 0, "%s: no socket with kernel TLS", tc->name);
	}
	if (tc->want_ktls && !tap_ok(strncmp(t.res.ktls, tc->want_ktls, strlen(tc->want_ktls)) == 0,
				     "%s: kTLS outcome in the result", tc->name))
		tap_diag("got:  %s\nwant: %s...", t.res.ktls, tc->want_ktls);
	close(lfd);
	close(b.lfd);
	ERR_clear_error();
}

int main(void)
{
	struct sl_inbound_caps caps = { 0 };
	struct sl_loop *loop = NULL;
	char cmd[300];

	signal(SIGPIPE, SIG_IGN);
	sl_ktls_probe(&probed);
	if (!mkdtemp(dir) || pki_ca(&ca, dir, "ca", "CA") ||
	    pki_leaf(&srv, &ca, dir, "srv", "us.test", "us.test") ||
	    pki_leaf(&client, &ca, dir, "client", "mx.partner.test", "mx.partner.test") ||
	    pki_ca(&rogue_ca, dir, "rogue", "Rogue CA") ||
	    pki_leaf(&rogue_client, &rogue_ca, dir, "rclient", "mx.partner.test", "mx.partner.test") ||
	    sl_sasl_hash_password("s3cret", "$6$", 5000, hash6, sizeof(hash6)) < 0)
		return tap_ok(0, "test PKI and hash"), tap_done();
	sl_loop_new(2, &loop);
	for (size_t i = 0; i < TAP_NELEM(cases); i++)
		run_case(&cases[i], loop, &caps);
	tap_ok(caps.known && strstr(caps.lines, "SIZE 5000") && !strstr(caps.lines, "XCLIENT") &&
	       !strstr(caps.lines, "STARTTLS"), "backend capabilities learned, filtered");
	sl_loop_free(loop);
	pki_free(&ca); pki_free(&srv); pki_free(&client); pki_free(&rogue_ca);
	pki_free(&rogue_client);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		tap_diag("cannot remove %s", dir);
	return tap_done();
}

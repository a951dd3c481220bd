/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test_outbound.c — the outbound session against a scripted partner on
 * loopback and a scripted MTA on a socket pair.  Each row is a partner
 * behaviour and what the MTA must see: the partner's greeting and
 * filtered capabilities with the mail relayed over TLS after AUTH, or a
 * 421/554 with the precise reason and no mail at the partner.  The kTLS
 * rows run on this host's kernel, which has no kernel TLS: off and
 * preferred relay in userspace with the reason recorded, required fails
 * with the precise 421 (the handoff itself: tests/vm/).
 * (The end-to-end tests with real Postfix are in tests/bats/3x-*.bats.)
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

#include "outbound.h"
#include "pki.h"
#include "session.h"
#include "tap.h"
#include "tls.h"

static char dir[] = "/tmp/sl-test-ob.XXXXXX";
static struct pki_cert ca, srv, other;

enum behave {
	P_GOOD = 0,
	P_NO_STARTTLS = 1 << 0,
	P_INJECT = 1 << 1,	/* plaintext pipelined after "220 ready" */
	P_BAD_PASSWORD = 1 << 2,
	P_OTHER_CA = 1 << 3,
	P_TLS12 = 1 << 4,
	P_NO_AUTH = 1 << 5,	/* no AUTH in the post-TLS EHLO */
	P_GREET_554 = 1 << 6,
	P_NO_TLS_START = 1 << 7,	/* answers STARTTLS 220, never does TLS */
	P_INJECT_PRE = 1 << 8,	/* "220 go ahead" injected after the EHLO reply */
	P_INJECT_GREET = 1 << 9,	/* an EHLO reply without STARTTLS after the greeting */
};

/* What the session is told the kernel offers. */
enum caps {
	CAPS_PROBED = 0,	/* sl_ktls_probe() on this host: none */
	CAPS_NULL,		/* env.ktls_caps = NULL */
	CAPS_LIE,		/* "everything": the handoff meets the real kernel */
};

struct tcase {
	const char *name;
	unsigned behave;
	enum sl_verify_mode verify;
	uint16_t min_version;
	enum sl_mode mode;
	enum sl_on_failure on_failure;
	const char *want_mta;		/* prefix of the MTA's first line */
	bool want_mail;			/* the partner received the message */
	const char *want_result;
	enum sl_ktls_mode ktls;		/* the partner's tls.ktls (default preferred) */
	enum caps caps;
	const char *want_ktls;		/* prefix of res.ktls, NULL = not checked */
	int want_auth;			/* 1/0: the partner saw AUTH, -1 = not checked */
};

#define NOKTLS "kernel has no TLS (No such file or directory)"
#define REQ421 "421 4.7.5 smtplock: partner.test: kernel TLS required but unavailable: "

static const struct tcase cases[] = {
	{ "happy path", P_GOOD, SL_VERIFY_CA, SL_TLS_1_2, SL_MODE_ENFORCE, SL_FAIL_DEFER,
	  "220 mx1.partner.test ESMTP fake", true, "relayed",
	  SL_KTLS_PREFERRED, CAPS_PROBED, NULL, -1 },
	{ "no STARTTLS", P_NO_STARTTLS, SL_VERIFY_CA, SL_TLS_1_2, SL_MODE_ENFORCE, SL_FAIL_DEFER,
	  "421 4.7.4 smtplock: partner.test: peer offered no STARTTLS", false, "deferred",
	  SL_KTLS_PREFERRED, CAPS_PROBED, NULL, -1 },
	{ "unknown CA", P_OTHER_CA, SL_VERIFY_CA, SL_TLS_1_2, SL_MODE_ENFORCE, SL_FAIL_DEFER,
	  "421 4.7.5 smtplock: partner.test: certificate verify failed: unable to get local issuer",
	  false, "deferred",
	  SL_KTLS_PREFERRED, CAPS_PROBED, NULL, -1 },
	{ "TLS 1.2 partner, policy 1.3", P_TLS12, SL_VERIFY_CA, SL_TLS_1_3, SL_MODE_ENFORCE, SL_FAIL_DEFER,
	  "421 4.7.5 smtplock: partner.test: peer offered no TLS version >= TLSv1.3", false, "deferred",
	  SL_KTLS_PREFERRED, CAPS_PROBED, NULL, -1 },
	{ "pin mismatch", P_GOOD, SL_VERIFY_FINGERPRINT, SL_TLS_1_2, SL_MODE_ENFORCE, SL_FAIL_DEFER,
	  "421 4.7.5 smtplock: partner.test: certificate pin mismatch (got sha256:", false, "deferred",
	  SL_KTLS_PREFERRED, CAPS_PROBED, NULL, -1 },
	{ "wrong password", P_BAD_PASSWORD, SL_VERIFY_CA, SL_TLS_1_2, SL_MODE_ENFORCE, SL_FAIL_DEFER,
	  "421 4.7.8 smtplock: partner.test: AUTH rejected: 535 5.7.8", false, "deferred",
	  SL_KTLS_PREFERRED, CAPS_PROBED, NULL, -1 },
	{ "no AUTH offered", P_NO_AUTH, SL_VERIFY_CA, SL_TLS_1_2, SL_MODE_ENFORCE, SL_FAIL_DEFER,
	  "421 4.7.4 smtplock: partner.test: peer offers no AUTH mechanism", false, "deferred",
	  SL_KTLS_PREFERRED, CAPS_PROBED, NULL, -1 },
	{ "plaintext injected after STARTTLS 220", P_INJECT, SL_VERIFY_CA, SL_TLS_1_2,
	  SL_MODE_ENFORCE, SL_FAIL_DEFER, "421 4.7.5 smtplock: partner.test: peer sent plaintext "
	  "after its STARTTLS reply", false, "deferred",
	  SL_KTLS_PREFERRED, CAPS_PROBED, NULL, -1 },
	{ "response injected before STARTTLS (NO STARTTLS study)", P_INJECT_PRE, SL_VERIFY_CA,
	  SL_TLS_1_2, SL_MODE_ENFORCE, SL_FAIL_DEFER, "421 4.7.5 smtplock: partner.test: peer sent "
	  "unsolicited data before STARTTLS (20 bytes, possible response injection)", false,
	  "deferred", SL_KTLS_PREFERRED, CAPS_PROBED, NULL, 0 },
	{ "EHLO reply injected after the greeting", P_INJECT_GREET, SL_VERIFY_CA, SL_TLS_1_2,
	  SL_MODE_ENFORCE, SL_FAIL_DEFER, "421 4.7.5 smtplock: partner.test: peer sent "
	  "unsolicited data after its greeting", false, "deferred",
	  SL_KTLS_PREFERRED, CAPS_PROBED, NULL, 0 },
	{ "STARTTLS 220 but no TLS", P_NO_TLS_START, SL_VERIFY_CA, SL_TLS_1_2, SL_MODE_ENFORCE,
	  SL_FAIL_DEFER, "421 4.4.2 smtplock: partner.test: timeout in state tls", false, "deferred",
	  SL_KTLS_PREFERRED, CAPS_PROBED, NULL, -1 },
	{ "partner greets 554", P_GREET_554, SL_VERIFY_CA, SL_TLS_1_2, SL_MODE_ENFORCE, SL_FAIL_DEFER,
	  "421 4.5.0 smtplock: partner.test: partner greeted with 554", false, "deferred",
	  SL_KTLS_PREFERRED, CAPS_PROBED, NULL, -1 },
	{ "on_failure reject: 554 at MAIL", P_NO_STARTTLS, SL_VERIFY_CA, SL_TLS_1_2,
	  SL_MODE_ENFORCE, SL_FAIL_REJECT, "220 ", false, "rejected",
	  SL_KTLS_PREFERRED, CAPS_PROBED, NULL, -1 },
	{ "testing: no STARTTLS goes on in plaintext", P_NO_STARTTLS, SL_VERIFY_CA, SL_TLS_1_2,
	  SL_MODE_TESTING, SL_FAIL_DEFER, "220 mx1.partner.test ESMTP fake", true, "relayed",
	  SL_KTLS_PREFERRED, CAPS_PROBED, NULL, -1 },
	{ "testing: pin mismatch goes on over TLS", P_GOOD, SL_VERIFY_FINGERPRINT, SL_TLS_1_2,
	  SL_MODE_TESTING, SL_FAIL_DEFER, "220 mx1.partner.test ESMTP fake", true, "relayed",
	  SL_KTLS_PREFERRED, CAPS_PROBED, NULL, -1 },
	/* tls.ktls on a kernel without kTLS */
	{ "ktls off: userspace relay", P_GOOD, SL_VERIFY_CA, SL_TLS_1_2, SL_MODE_ENFORCE,
	  SL_FAIL_DEFER, "220 mx1.partner.test ESMTP fake", true, "relayed",
	  SL_KTLS_OFF, CAPS_PROBED, "off by policy", 1 },
	{ "ktls preferred, no kernel TLS: userspace, reason noted", P_GOOD, SL_VERIFY_CA,
	  SL_TLS_1_2, SL_MODE_ENFORCE, SL_FAIL_DEFER, "220 mx1.partner.test ESMTP fake", true,
	  "relayed", SL_KTLS_PREFERRED, CAPS_PROBED, NOKTLS, 1 },
	{ "ktls preferred, not probed: userspace", P_GOOD, SL_VERIFY_CA, SL_TLS_1_2,
	  SL_MODE_ENFORCE, SL_FAIL_DEFER, "220 mx1.partner.test ESMTP fake", true, "relayed",
	  SL_KTLS_PREFERRED, CAPS_NULL, "kernel has no TLS (not probed)", 1 },
	{ "ktls required, no kernel TLS: 421 before AUTH", P_GOOD, SL_VERIFY_CA, SL_TLS_1_2,
	  SL_MODE_ENFORCE, SL_FAIL_DEFER, REQ421 NOKTLS, false, "deferred",
	  SL_KTLS_REQUIRED, CAPS_PROBED, NOKTLS, 0 },
	{ "ktls required, not probed: 421", P_GOOD, SL_VERIFY_CA, SL_TLS_1_2, SL_MODE_ENFORCE,
	  SL_FAIL_DEFER, REQ421 "kernel has no TLS (not probed)", false, "deferred",
	  SL_KTLS_REQUIRED, CAPS_NULL, NULL, 0 },
	{ "ktls required, kernel refuses the keys at the switch: 421 after AUTH", P_GOOD,
	  SL_VERIFY_CA, SL_TLS_1_2, SL_MODE_ENFORCE, SL_FAIL_DEFER,
	  REQ421 "kernel refused the keys: No such file or directory", false, "deferred",
	  SL_KTLS_REQUIRED, CAPS_LIE, "kernel refused the keys", 1 },
	{ "ktls preferred, kernel refuses the keys: the SSL goes on in userspace", P_GOOD,
	  SL_VERIFY_CA, SL_TLS_1_2, SL_MODE_ENFORCE, SL_FAIL_DEFER,
	  "220 mx1.partner.test ESMTP fake", true, "relayed", SL_KTLS_PREFERRED, CAPS_LIE,
	  "kernel refused the keys: No such file or directory", 1 },
	{ "ktls required, mode testing: relayed in userspace, would_defer", P_GOOD, SL_VERIFY_CA,
	  SL_TLS_1_2, SL_MODE_TESTING, SL_FAIL_DEFER, "220 mx1.partner.test ESMTP fake", true,
	  "relayed", SL_KTLS_REQUIRED, CAPS_PROBED, NOKTLS, 1 },
	{ "ktls required, on_failure reject: 554 at MAIL", P_GOOD, SL_VERIFY_CA, SL_TLS_1_2,
	  SL_MODE_ENFORCE, SL_FAIL_REJECT, "220 ", false, "rejected", SL_KTLS_REQUIRED,
	  CAPS_PROBED, NOKTLS, 0 },
};

/* ---- the scripted partner ------------------------------------------------- */

struct partner {
	int lfd;
	unsigned behave;
	char got[4096];		/* everything received after AUTH, plaintext */
	size_t got_len;
	bool saw_plain_mail;	/* MAIL FROM arrived before TLS */
	bool saw_auth;
	bool tls;
};

struct conn { int fd; SSL *ssl; };

static int c_write(struct conn *c, const char *s)
{
	if (c->ssl)
		return SSL_write(c->ssl, s, (int)strlen(s));
	return (int)write(c->fd, s, strlen(s));
}

/* Read one line (CRLF) byte by byte: slow but never over-reads. */
static int c_line(struct conn *c, char *buf, size_t len)
{
	size_t n = 0;

	while (n + 1 < len) {
		int r = c->ssl ? SSL_read(c->ssl, buf + n, 1) : (int)read(c->fd, buf + n, 1);

		if (r <= 0)
			return -1;
		if (buf[n++] == '\n')
			break;
	}
	buf[n] = 0;
	return (int)n;
}

static void *partner_main(void *arg)
{
	struct partner *p = arg;
	struct conn c = { -1, NULL };
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	const struct pki_cert *cert = p->behave & P_OTHER_CA ? &other : &srv;
	char line[1024];
	bool data = false;

	SSL_CTX_use_certificate(ctx, cert->cert);
	SSL_CTX_use_PrivateKey(ctx, cert->key);
	if (p->behave & P_TLS12)
		SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	c.fd = accept(p->lfd, NULL, NULL);
	if (c.fd < 0)
		goto out;
	if (p->behave & P_GREET_554) {
		c_write(&c, "554 5.7.1 go away\r\n");
		goto out;
	}
	c_write(&c, p->behave & P_INJECT_GREET ?
		"220 mx1.partner.test ESMTP fake\r\n250 mx1.partner.test\r\n" :
		"220 mx1.partner.test ESMTP fake\r\n");
	while (c_line(&c, line, sizeof(line)) > 0) {
		if (data) {
			if (p->got_len + strlen(line) < sizeof(p->got)) {
				memcpy(p->got + p->got_len, line, strlen(line));
				p->got_len += strlen(line);
			}
			if (!strcmp(line, ".\r\n")) {
				data = false;
				c_write(&c, "250 2.0.0 Ok: queued as FAKE1\r\n");
			}
			continue;
		}
		if (!strncasecmp(line, "EHLO", 4)) {
			if (!c.ssl)
				c_write(&c, p->behave & P_NO_STARTTLS ?
					"250-mx1.partner.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n" :
					p->behave & P_INJECT_PRE ?
					"250-mx1.partner.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
					"220 2.0.0 go ahead\r\n" :
					"250-mx1.partner.test\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n");
			else
				c_write(&c, p->behave & P_NO_AUTH ?
					"250-mx1.partner.test\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n" :
					"250-mx1.partner.test\r\n250-SIZE 10240000\r\n250-AUTH PLAIN LOGIN\r\n"
					"250-AUTH=PLAIN LOGIN\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n");
		} else if (!strncasecmp(line, "STARTTLS", 8)) {
			if (p->behave & P_INJECT)
				c_write(&c, "220 2.0.0 Ready\r\n250 injected\r\n");
			else
				c_write(&c, "220 2.0.0 Ready\r\n");
			if (p->behave & P_NO_TLS_START) {
				/* swallow the ClientHello, never answer */
				while (read(c.fd, line, sizeof(line)) > 0)
					;
				goto out;
			}
			c.ssl = SSL_new(ctx);
			SSL_set_fd(c.ssl, c.fd);
			if (SSL_accept(c.ssl) != 1)
				goto out;
			p->tls = true;
		} else if (!strncasecmp(line, "AUTH PLAIN", 10)) {
			p->saw_auth = true;
			/* "\0doug\0secret" = AGRvdWcAc2VjcmV0 */
			if (!(p->behave & P_BAD_PASSWORD) && strstr(line, "AGRvdWcAc2VjcmV0"))
				c_write(&c, "235 2.7.0 Authentication successful\r\n");
			else
				c_write(&c, "535 5.7.8 Error: authentication failed: bad\r\n");
		} else if (!strncasecmp(line, "MAIL", 4)) {
			if (!c.ssl)
				p->saw_plain_mail = true;
			c_write(&c, "250 2.1.0 Ok\r\n");
		} else if (!strncasecmp(line, "RCPT", 4)) {
			c_write(&c, "250 2.1.5 Ok\r\n");
		} else if (!strncasecmp(line, "DATA", 4)) {
			data = true;
			c_write(&c, "354 End data with <CR><LF>.<CR><LF>\r\n");
		} else if (!strncasecmp(line, "QUIT", 4)) {
			c_write(&c, "221 2.0.0 Bye\r\n");
			break;
		} else {
			c_write(&c, "502 5.5.2 Error: command not recognized\r\n");
		}
	}
out:
	if (c.ssl) {
		SSL_shutdown(c.ssl);
		SSL_free(c.ssl);
	}
	if (c.fd >= 0)
		close(c.fd);
	SSL_CTX_free(ctx);
	return NULL;
}

/* ---- the scripted MTA ------------------------------------------------------ */

struct mta {
	int fd;
	bool reject;		/* expect a 554 at MAIL */
	char first[512];	/* the greeting (first line) */
	char caps[1024];	/* the EHLO reply */
	char mail_reply[512];
	char end_reply[512];
};

static int mta_reply(int fd, char *buf, size_t len)
{
	size_t n = 0;

	/* read until a line "NNN " (last line of a reply) */
	while (n + 1 < len) {
		ssize_t r = read(fd, buf + n, 1);

		if (r <= 0)
			break;
		n++;
		if (buf[n - 1] == '\n') {
			char *ls = buf + n - 2;

			while (ls > buf && ls[-1] != '\n')
				ls--;
			if (n - (size_t)(ls - buf) >= 4 && ls[3] == ' ')
				break;
		}
	}
	buf[n] = 0;
	return (int)n;
}

static void *mta_main(void *arg)
{
	struct mta *m = arg;
	char buf[1024];

	if (mta_reply(m->fd, m->first, sizeof(m->first)) <= 0 || m->first[0] != '2')
		goto out;
	dprintf(m->fd, "EHLO mta.example.org\r\n");
	mta_reply(m->fd, m->caps, sizeof(m->caps));
	dprintf(m->fd, "MAIL FROM:<a@example.org>\r\n");
	mta_reply(m->fd, m->mail_reply, sizeof(m->mail_reply));
	if (m->reject) {
		dprintf(m->fd, "QUIT\r\n");
		mta_reply(m->fd, buf, sizeof(buf));
		goto out;
	}
	dprintf(m->fd, "RCPT TO:<b@partner.test>\r\n");
	mta_reply(m->fd, buf, sizeof(buf));
	dprintf(m->fd, "DATA\r\n");
	mta_reply(m->fd, buf, sizeof(buf));
	dprintf(m->fd, "Subject: marker-42\r\n\r\nbody\r\n.\r\n");
	mta_reply(m->fd, m->end_reply, sizeof(m->end_reply));
	dprintf(m->fd, "QUIT\r\n");
	mta_reply(m->fd, buf, sizeof(buf));
out:
	shutdown(m->fd, SHUT_WR);
	while (read(m->fd, buf, sizeof(buf)) > 0)
		;
	return NULL;
}

/* ---- harness ------------------------------------------------------------------ */

static struct sl_ktls_caps probed;

static void run_case(const struct tcase *tc)
{
	static const struct sl_ktls_caps lie = { .tx = { 0xf, 0xf }, .rx = { 0xf, 0xf } };
	struct ts_outbound t = { .mx = "mx1.partner.test", .password = "secret",
				 .ktls_caps = tc->caps == CAPS_NULL ? NULL :
					      tc->caps == CAPS_LIE ? &lie : &probed };
	struct sl_partner *partner = &t.partner;
	struct sl_pin pin;
	struct partner p = { .behave = tc->behave };
	struct mta m = { .reject = tc->on_failure == SL_FAIL_REJECT };
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t slen = sizeof(sin);
	pthread_t tp, tm;
	int sv[2], r;

	*partner = (struct sl_partner){ .domain = "partner.test", .mode = tc->mode,
					.on_failure = tc->on_failure, .has_auth = true };
	partner->tls = (struct sl_tls_policy){ .min_version = tc->min_version,
					       .verify = tc->verify, .ca_file = ca.cert_file,
					       .ktls = tc->ktls };
	if (tc->verify == SL_VERIFY_FINGERPRINT) {
		memset(&pin, 0x5a, sizeof(pin));
		partner->tls.pins = &pin;
		partner->tls.n_pins = 1;
	}
	partner->auth = (struct sl_auth_policy){ .username = "doug", .n_mechanisms = 2,
						 .mechanisms = { SL_SASL_PLAIN, SL_SASL_LOGIN } };
	t.ctx_flags = tc->mode == SL_MODE_TESTING ? SL_TLS_F_LENIENT : 0;

	p.lfd = socket(AF_INET, SOCK_STREAM, 0);
	bind(p.lfd, (struct sockaddr *)&sin, sizeof(sin));
	listen(p.lfd, 1);
	getsockname(p.lfd, (struct sockaddr *)&sin, &slen);
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	fcntl(sv[0], F_SETFL, O_NONBLOCK);	/* ours; the MTA end blocks */
	m.fd = sv[1];
	t.mta_fd = sv[0];
	t.dst = sin;
	pthread_create(&tp, NULL, partner_main, &p);
	pthread_create(&tm, NULL, mta_main, &m);

	r = ts_outbound_run(&t);
	tap_int(r, 0, "%s: session ran (%s)", tc->name, t.ctx_reason);
	pthread_join(tm, NULL);
	shutdown(p.lfd, SHUT_RDWR);
	pthread_join(tp, NULL);

	tap_int(t.done_calls, 1, "%s: done() once", tc->name);
	if (!tap_ok(strncmp(m.first, tc->want_mta, strlen(tc->want_mta)) == 0,
		    "%s: MTA told", tc->name))
		tap_diag("got:  %s\nwant: %s...", m.first, tc->want_mta);
	tap_str(t.res.result, tc->want_result, "%s: result", tc->name);
	tap_int(p.got_len > 0 && strstr(p.got, "marker-42") != NULL, tc->want_mail,
		"%s: mail at the partner", tc->name);
	tap_ok(t.tags[SL_SOCK_PRE_TLS] >= 1, "%s: upstream socket tagged before connect", tc->name);
	if (tc->want_mail && tc->mode == SL_MODE_ENFORCE) {
		tap_ok(p.tls && !p.saw_plain_mail, "%s: mail went over TLS only", tc->name);
		tap_ok(strstr(m.caps, "STARTTLS") == NULL && strstr(m.caps, "AUTH") == NULL,
		       "%s: STARTTLS and AUTH filtered from the MTA's EHLO", tc->name);
		tap_ok(strstr(m.caps, "SIZE 10240000") != NULL, "%s: SIZE kept", tc->name);
		tap_str(t.res.auth, "ok", "%s: auth ok", tc->name);
		tap_ok(t.res.bytes_up > 0 && t.res.bytes_down > 0, "%s: bytes counted", tc->name);
		/* No kernel TLS here: what carried the mail is OpenSSL. */
		tap_str(sl_datapath_name(t.res.path), "userspace", "%s: data path", tc->name);
		tap_int(t.ktls_socks, 0, "%s: no socket with kernel TLS", tc->name);
	}
	if (m.reject) {
		const char *want = tc->ktls == SL_KTLS_REQUIRED ?
			"554 5.7.5 smtplock: partner.test: kernel TLS required but unavailable" :
			"554 5.7.4 smtplock: partner.test: peer offered no STARTTLS";

		if (!tap_ok(strncmp(m.mail_reply, want, strlen(want)) == 0,
			    "%s: MAIL answered with the 554", tc->name))
			tap_diag("got: %s", m.mail_reply);
	}
	if (tc->mode == SL_MODE_TESTING)
		tap_ok(t.res.would_defer[0] != 0, "%s: would_defer recorded (%s)", tc->name,
		       t.res.would_defer);
	if (tc->want_ktls && !tap_ok(strncmp(t.res.ktls, tc->want_ktls, strlen(tc->want_ktls)) == 0,
				     "%s: kTLS outcome in the result", tc->name))
		tap_diag("got:  %s\nwant: %s...", t.res.ktls, tc->want_ktls);
	if (tc->want_auth >= 0)
		tap_int(p.saw_auth, tc->want_auth, "%s: partner %s AUTH", tc->name,
			tc->want_auth ? "saw" : "never saw");
	close(sv[1]);
	close(p.lfd);
	ERR_clear_error();
}

int main(void)
{
	char cmd[300];

	/* OpenSSL writes with write(2): a closed peer raises SIGPIPE, which
	 * the controller ignores too. */
	signal(SIGPIPE, SIG_IGN);
	sl_ktls_probe(&probed);
	tap_diag("this kernel's TLS: %s", sl_ktls_caps_str(&probed, cmd, sizeof(cmd)));

	if (!mkdtemp(dir) || pki_ca(&ca, dir, "ca", "CA") ||
	    pki_ca(&other, dir, "otherca", "Other CA") ||
	    pki_leaf(&srv, &ca, dir, "srv", "mx1.partner.test", "mx1.partner.test"))
		return tap_ok(0, "test PKI"), tap_done();
	{
		struct pki_cert o = other;

		/* "other": a server certificate from an unknown CA */
		pki_leaf(&other, &o, dir, "srvother", "mx1.partner.test", "mx1.partner.test");
		pki_free(&o);
	}
	for (size_t i = 0; i < TAP_NELEM(cases); i++)
		run_case(&cases[i]);
	pki_free(&ca);
	pki_free(&srv);
	pki_free(&other);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		tap_diag("cannot remove %s", dir);
	return tap_done();
}

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test_tls.c — policy → OpenSSL: real handshakes over socket pairs between
 * sl_tls client contexts and test servers, each case a named row.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "pki.h"
#include "tap.h"
#include "tls.h"

static char dir[] = "/tmp/sl-test-tls.XXXXXX";
static struct pki_cert ca, other_ca, srv, srv_wrong_name, srv_other, client;

enum srv_kind { SRV_GOOD, SRV_WRONG_NAME, SRV_OTHER_CA, SRV_TLS12, SRV_NEED_CLIENT, SRV_PLAIN };

struct tcase {
	const char *name;
	enum sl_verify_mode verify;
	uint16_t min_version;
	enum srv_kind srv;
	int pins;		/* 0 none, 1 right cert pin, 2 right spki pin, 3 wrong pin,
				   4 wrong then right (rotation) */
	int tlsa;		/* 0 none, 1 DANE-EE SPKI right, 2 DANE-EE wrong */
	int client_cert;
	unsigned flags;
	int want;		/* 0 = pass, 1 = handshake fails, 2 = check_peer fails,
				   3 = the first read after the handshake fails (TLS 1.3
				   servers reject a client certificate after Finished) */
	const char *reason;	/* expected prefix of the reason */
	const char *verified;	/* expected verified_out on success */
};

static const struct tcase cases[] = {
	{ "ca: chain and name ok", SL_VERIFY_CA, SL_TLS_1_2, SRV_GOOD, 0, 0, 0, 0, 0, NULL, "ok" },
	{ "ca: unknown CA", SL_VERIFY_CA, SL_TLS_1_2, SRV_OTHER_CA, 0, 0, 0, 0, 1,
	  "certificate verify failed: unable to get local issuer certificate", NULL },
	{ "ca: name mismatch", SL_VERIFY_CA, SL_TLS_1_2, SRV_WRONG_NAME, 0, 0, 0, 0, 1,
	  "certificate verify failed: hostname mismatch", NULL },
	{ "ca: lenient (testing) reports instead of failing", SL_VERIFY_CA, SL_TLS_1_2,
	  SRV_OTHER_CA, 0, 0, 0, SL_TLS_F_LENIENT, 2,
	  "certificate verify failed: unable to get local issuer certificate", NULL },
	{ "fingerprint: certificate pin", SL_VERIFY_FINGERPRINT, SL_TLS_1_2, SRV_OTHER_CA, 1, 0, 0, 0, 0, NULL, "pin" },
	{ "fingerprint: SPKI pin", SL_VERIFY_FINGERPRINT, SL_TLS_1_2, SRV_OTHER_CA, 2, 0, 0, 0, 0, NULL, "pin" },
	{ "fingerprint: rotation, second pin matches", SL_VERIFY_FINGERPRINT, SL_TLS_1_2, SRV_GOOD, 4, 0, 0, 0, 0, NULL, "pin" },
	{ "fingerprint: mismatch names the pin", SL_VERIFY_FINGERPRINT, SL_TLS_1_2, SRV_GOOD, 3, 0, 0, 0, 2,
	  "certificate pin mismatch (got sha256:", NULL },
	{ "min 1.3 against a TLS 1.2 server", SL_VERIFY_NONE, SL_TLS_1_3, SRV_TLS12, 0, 0, 0, 0, 1,
	  "peer offered no TLS version >= TLSv1.3 (policy requires TLSv1.3)", NULL },
	{ "min 1.3 lenient: negotiates, then judged", SL_VERIFY_NONE, SL_TLS_1_3, SRV_TLS12, 0, 0, 0,
	  SL_TLS_F_LENIENT, 2, "peer negotiated TLSv1.2, policy requires TLSv1.3", NULL },
	{ "min 1.2 against a TLS 1.2 server", SL_VERIFY_NONE, SL_TLS_1_2, SRV_TLS12, 0, 0, 0, 0, 0, NULL, "none" },
	{ "none: self-signed is fine", SL_VERIFY_NONE, SL_TLS_1_3, SRV_OTHER_CA, 0, 0, 0, 0, 0, NULL, "none" },
	{ "mutual TLS: client certificate presented", SL_VERIFY_CA, SL_TLS_1_2, SRV_NEED_CLIENT, 0, 0, 1, 0, 0, NULL, "ok" },
	{ "mutual TLS: server requires, none given", SL_VERIFY_CA, SL_TLS_1_2, SRV_NEED_CLIENT, 0, 0, 0, 0, 3,
	  "peer sent TLS alert: certificate required", NULL },
	{ "dane: DANE-EE SPKI matches", SL_VERIFY_DANE, SL_TLS_1_2, SRV_OTHER_CA, 0, 1, 0, 0, 0, NULL, "dane" },
	{ "dane: DANE-EE mismatch", SL_VERIFY_DANE, SL_TLS_1_2, SRV_OTHER_CA, 0, 2, 0, 0, 1,
	  "DANE verification failed", NULL },
	{ "peer answers with plaintext", SL_VERIFY_NONE, SL_TLS_1_2, SRV_PLAIN, 0, 0, 0, 0, 1,
	  "peer did not start TLS", NULL },
};

static SSL_CTX *server_ctx(enum srv_kind k)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	const struct pki_cert *c = k == SRV_WRONG_NAME ? &srv_wrong_name :
				   k == SRV_OTHER_CA ? &srv_other : &srv;

	SSL_CTX_use_certificate(ctx, c->cert);
	SSL_CTX_use_PrivateKey(ctx, c->key);
	if (k == SRV_TLS12)
		SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
	if (k == SRV_NEED_CLIENT) {
		SSL_CTX_load_verify_locations(ctx, ca.cert_file, NULL);
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	return ctx;
}

/* Drive both ends until neither makes progress; returns client result. */
static int handshake(SSL *cli, SSL *srv_ssl, int srv_fd, enum srv_kind k)
{
	int cr = 0, sr = k == SRV_PLAIN ? 1 : 0;

	if (k == SRV_PLAIN && write(srv_fd, "250 not tls at all\r\n", 20) < 0)
		return -1;
	for (int i = 0; i < 200 && (cr <= 0 || sr <= 0); i++) {
		if (cr <= 0) {
			cr = SSL_connect(cli);
			if (cr <= 0 && SSL_get_error(cli, cr) != SSL_ERROR_WANT_READ &&
			    SSL_get_error(cli, cr) != SSL_ERROR_WANT_WRITE)
				return -1;
		}
		if (sr <= 0) {
			sr = SSL_accept(srv_ssl);
			if (sr <= 0 && SSL_get_error(srv_ssl, sr) != SSL_ERROR_WANT_READ &&
			    SSL_get_error(srv_ssl, sr) != SSL_ERROR_WANT_WRITE) {
				ERR_clear_error();
				sr = 1;	/* server gave up; the client will see why */
			}
		}
	}
	return cr == 1 ? 0 : -1;
}

/* Server says hello, client reads it: where post-handshake alerts show. */
static int first_read(SSL *cli, SSL *srv_ssl)
{
	char buf[16];
	int r = 0;

	for (int i = 0; i < 50; i++) {
		ERR_clear_error();
		if (SSL_write(srv_ssl, "220 hi\r\n", 8) <= 0 &&
		    SSL_get_error(srv_ssl, 0) == SSL_ERROR_SSL)
			ERR_clear_error();	/* the server failed; the client sees why */
		r = SSL_read(cli, buf, sizeof(buf));
		if (r > 0)
			return 0;
		if (SSL_get_error(cli, r) != SSL_ERROR_WANT_READ)
			return -1;
	}
	return -1;
}

static void run_case(const struct tcase *tc)
{
	struct sl_tls_policy tp = { .min_version = tc->min_version, .verify = tc->verify,
				    .ca_file = ca.cert_file };
	struct sl_pin pins[2];
	struct sl_tlsa tlsa = { 3, 1, 1, NULL, 32 };
	struct sl_pin spki;
	struct sl_tls_ctx *c = NULL;
	struct sl_tls_obs obs;
	SSL_CTX *sctx;
	SSL *cli = NULL, *s;
	const struct pki_cert *scert = tc->srv == SRV_OTHER_CA ? &srv_other : &srv;
	char reason[SL_TLS_REASON_MAX] = "";
	const char *verified = NULL;
	int sv[2], r, got;

	if (tc->pins == 1 || tc->pins == 2) {
		sl_tls_cert_pin(scert->cert, tc->pins == 2, &pins[0]);
		tp.pins = pins;
		tp.n_pins = 1;
	} else if (tc->pins == 3 || tc->pins == 4) {
		memset(&pins[0], 0xab, sizeof(pins[0]));
		sl_tls_cert_pin(scert->cert, false, &pins[1]);
		tp.pins = pins;
		tp.n_pins = tc->pins == 3 ? 1 : 2;
	}
	if (tc->client_cert) {
		tp.client_cert = client.cert_file;
		tp.client_key = client.key_file;
	}
	sl_tls_cert_pin(scert->cert, true, &spki);
	if (tc->tlsa == 2)
		spki.sha256[0] ^= 1;
	tlsa.data = spki.sha256;

	r = sl_tls_client_ctx_new(&tp, tc->flags, &c, reason, sizeof(reason));
	if (!tap_int(r, 0, "%s: client context", tc->name)) {
		tap_diag("%s", reason);
		return;
	}
	socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv);
	sctx = server_ctx(tc->srv);
	s = SSL_new(sctx);
	SSL_set_fd(s, sv[1]);
	r = sl_tls_client_new(c, sv[0], "mx1.partner.test", &tlsa, tc->tlsa ? 1 : 0,
			      &obs, &cli, reason, sizeof(reason));
	tap_int(r, 0, "%s: client SSL", tc->name);
	if (r == 0) {
		if (handshake(cli, s, sv[1], tc->srv) < 0) {
			sl_tls_failure_reason(cli, c, &obs, reason, sizeof(reason));
			got = 1;
		} else if (sl_tls_check_peer(cli, c, reason, sizeof(reason), &verified) < 0) {
			got = 2;
		} else if (first_read(cli, s) < 0) {
			sl_tls_failure_reason(cli, c, &obs, reason, sizeof(reason));
			got = 3;
		} else {
			got = 0;
		}
		tap_int(got, tc->want, "%s: outcome", tc->name);
		if (tc->reason && !tap_ok(strncmp(reason, tc->reason, strlen(tc->reason)) == 0,
					  "%s: reason", tc->name))
			tap_diag("got: %s\nwant prefix: %s", reason, tc->reason);
		if (tc->verified)
			tap_str(verified, tc->verified, "%s: verified as", tc->name);
		if (!tc->reason && !tc->verified)
			tap_diag("reason: %s", reason);
	}
	SSL_free(cli);
	SSL_free(s);
	SSL_CTX_free(sctx);
	close(sv[0]);
	close(sv[1]);
	sl_tls_ctx_free(c);
	ERR_clear_error();
}

static void test_pin_format(void)
{
	struct sl_pin p;
	char buf[128];

	for (int i = 0; i < SL_PIN_LEN; i++)
		p.sha256[i] = (uint8_t)i;
	sl_tls_pin_format(&p, buf, sizeof(buf));
	tap_str(buf, "sha256:00:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D:0E:0F:10:11:12:13:"
		"14:15:16:17:18:19:1A:1B:1C:1D:1E:1F", "pin format: colon hex upper case");
}

static void test_bad_ctx(void)
{
	struct sl_tls_policy tp = { .min_version = SL_TLS_1_2, .verify = SL_VERIFY_CA,
				    .ca_file = "/nonexistent/ca.pem" };
	struct sl_tls_ctx *c = NULL;
	char reason[SL_TLS_REASON_MAX] = "";

	tap_int(sl_tls_client_ctx_new(&tp, 0, &c, reason, sizeof(reason)), -EINVAL,
		"context: missing ca_file fails the load");
	tap_ok(strstr(reason, "/nonexistent/ca.pem") != NULL, "context: reason names the file");
	tap_ok(c == NULL, "context: ret untouched on failure");
	tp.verify = SL_VERIFY_NONE;
	tp.ciphers = "NO-SUCH-CIPHER";
	tap_int(sl_tls_client_ctx_new(&tp, 0, &c, reason, sizeof(reason)), -EINVAL,
		"context: bad cipher list fails the load");
}

int main(void)
{
	char cmd[300];

	if (!mkdtemp(dir))
		return 1;
	if (pki_ca(&ca, dir, "ca", "Test CA") || pki_ca(&other_ca, dir, "other", "Other CA") ||
	    pki_leaf(&srv, &ca, dir, "srv", "mx1.partner.test", "mx1.partner.test") ||
	    pki_leaf(&srv_wrong_name, &ca, dir, "wrong", "mx9.elsewhere.test", "mx9.elsewhere.test") ||
	    pki_leaf(&srv_other, &other_ca, dir, "srvother", "mx1.partner.test", "mx1.partner.test") ||
	    pki_leaf(&client, &ca, dir, "client", "us.example.org", "us.example.org")) {
		tap_ok(0, "test PKI created");
		return tap_done();
	}
	for (size_t i = 0; i < TAP_NELEM(cases); i++)
		run_case(&cases[i]);
	test_pin_format();
	test_bad_ctx();
	pki_free(&ca); pki_free(&other_ca); pki_free(&srv); pki_free(&srv_wrong_name);
	pki_free(&srv_other); pki_free(&client);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		tap_diag("could not remove %s", dir);
	return tap_done();
}

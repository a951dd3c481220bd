/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * policy_keys_tls.c — the value handlers of the TLS and authentication keys:
 * certificate pins, OpenSSL cipher strings, SASL mechanisms, crypt(3)
 * hashes and inbound requirements.  Same contract as policy_keys.c.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <string.h>

#include "policy_int.h"

/* ---- TLS ---------------------------------------------------------------------- */

static void i_pin(struct yp *y, yaml_event_t *ev, size_t idx, void *ctx)
{
	struct ylist *l = ctx;
	struct sl_pin **v = FLD(struct sl_pin *, l->obj, l->k->off), *nv, pin;
	size_t *n = FLD(size_t, l->obj, l->k->off2);
	const char *s = yp_scalar(y, ev, l->k->name);

	if (!s)
		return;
	if (sl_pin_parse(s, &pin)) {
		yp_err(y, ev, SL_DIAG_VALUE,
		       "%s: '%s' is not sha256: followed by 32 bytes in hex (colons optional)",
		       l->k->name, s);
		return;
	}
	for (size_t i = 0; i < *n; i++) {
		if (!memcmp(&(*v)[i], &pin, sizeof(pin))) {
			yp_err(y, ev, SL_DIAG_DUPLICATE, "%s: this pin is listed twice", l->k->name);
			return;
		}
	}
	nv = yp_push(y, *v, *n, sizeof(pin));
	if (!nv)
		return;
	nv[(*n)++] = pin;
	*v = nv;
}

void yh_pins(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	struct ylist l = { obj, k, 0, NULL };

	yp_seq(y, ev, k->name, i_pin, &l);
}

static SSL_CTX *yp_ssl(struct yp *y)
{
	if (!y->ld->ssl_ctx) {
		y->ld->ssl_ctx = SSL_CTX_new(TLS_method());
		if (!y->ld->ssl_ctx)
			y->ld->oom = true;
	}
	return y->ld->ssl_ctx;
}

/* OpenSSL judges cipher strings; TLS 1.2 lists must select something. */
void yh_ciphers(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	const char *s = yp_scalar(y, ev, k->name);
	SSL_CTX *ctx = yp_ssl(y);

	if (!s || !ctx)
		return;
	if (!*s || SSL_CTX_set_cipher_list(ctx, s) != 1)
		yp_err(y, ev, SL_DIAG_VALUE, "%s: '%s' selects no cipher OpenSSL knows", k->name, s);
	else
		*FLD(char *, obj, k->off) = yp_strdup(y, s);
	ERR_clear_error();
}

/* TLS 1.3 suites: OpenSSL skips unknown names silently, so check each. */
void yh_ciphersuites(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	const char *s = yp_scalar(y, ev, k->name);
	SSL_CTX *ctx = yp_ssl(y);
	char *list, *name, *save = NULL;
	bool ok = true;

	if (!s || !ctx)
		return;
	if (!*s) {
		yp_err(y, ev, SL_DIAG_VALUE, "%s: must not be empty", k->name);
		return;
	}
	list = strdup(s);
	if (!list) {
		y->ld->oom = true;
		return;
	}
	for (name = strtok_r(list, ":", &save); name && ok; name = strtok_r(NULL, ":", &save)) {
		STACK_OF(SSL_CIPHER) *sk;
		bool found = false;

		if (SSL_CTX_set_ciphersuites(ctx, name) != 1)
			ok = false;
		sk = SSL_CTX_get_ciphers(ctx);
		/* The list mixes in the TLS 1.2 ciphers: match 1.3 suites only. */
		for (int i = 0; ok && sk && i < sk_SSL_CIPHER_num(sk); i++) {
			const SSL_CIPHER *c = sk_SSL_CIPHER_value(sk, i);

			if (!strcmp(SSL_CIPHER_standard_name(c), name) &&
			    !strcmp(SSL_CIPHER_get_version(c), "TLSv1.3"))
				found = true;
		}
		if (!found) {
			yp_err(y, ev, SL_DIAG_VALUE, "%s: unknown TLS 1.3 ciphersuite '%s'", k->name,
			       name);
			ok = false;
		}
	}
	if (ok)
		*FLD(char *, obj, k->off) = yp_strdup(y, s);
	free(list);
	ERR_clear_error();
}

/* ---- auth and accounts ---------------------------------------------------- */

static const struct yenum e_mech[] = {
	{ "SCRAM-SHA-256", SL_SASL_SCRAM_SHA_256 },
	{ "PLAIN", SL_SASL_PLAIN },
	{ "LOGIN", SL_SASL_LOGIN },
	{ NULL, 0 },
};

static void i_mech(struct yp *y, yaml_event_t *ev, size_t idx, void *ctx)
{
	struct ylist *l = ctx;
	struct sl_auth_policy *a = &((struct raw_auth *)l->obj)->a;
	const char *s = yp_scalar(y, ev, l->k->name);
	const struct yenum *e;

	l->n++;
	if (!s)
		return;
	for (e = e_mech; e->name && strcasecmp(e->name, s); e++)
		;
	if (!e->name) {
		yp_err(y, ev, SL_DIAG_VALUE,
		       "%s: unknown mechanism '%s' (expected SCRAM-SHA-256, PLAIN or LOGIN)",
		       l->k->name, s);
		return;
	}
	for (size_t i = 0; i < a->n_mechanisms; i++) {
		if (a->mechanisms[i] == (enum sl_sasl_mech)e->val) {
			yp_err(y, ev, SL_DIAG_DUPLICATE, "%s: '%s' is listed twice", l->k->name, s);
			return;
		}
	}
	a->mechanisms[a->n_mechanisms++] = (enum sl_sasl_mech)e->val;
}

void yh_mechs(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	struct ylist l = { obj, k, 0, NULL };

	if (yp_seq(y, ev, k->name, i_mech, &l) && l.n == 0)
		yp_err(y, ev, SL_DIAG_MISSING, "%s: the list is empty", k->name);
}

void yh_hash(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	const char *s = yp_scalar(y, ev, k->name);
	int err;

	if (!s)
		return;
	err = sl_crypt_hash_check(s);
	if (err == -EPROTONOSUPPORT)
		yp_err(y, ev, SL_DIAG_VALUE,
		       "%s: not a supported crypt(3) hash (use $y$ yescrypt, $6$, $5$ or $2b$; "
		       "`smtplock passwd` makes one)", k->name);
	else if (err)
		yp_err(y, ev, SL_DIAG_VALUE, "%s: malformed %.3s crypt(3) hash", k->name, s);
	else
		*FLD(char *, obj, k->off) = yp_strdup(y, s);
}

static const struct yenum e_require[] = {
	{ "tls", SL_REQUIRE_TLS },
	{ "auth", SL_REQUIRE_AUTH },
	{ "client_cert", SL_REQUIRE_CLIENT_CERT },
	{ NULL, 0 },
};

static void i_require(struct yp *y, yaml_event_t *ev, size_t idx, void *ctx)
{
	struct ylist *l = ctx;
	struct raw_pinbound *in = l->obj;
	unsigned v;

	l->n++;
	if (!yp_enum(y, ev, l->k->name, e_require, &v))
		return;
	if (in->in.require & v) {
		yp_err(y, ev, SL_DIAG_DUPLICATE, "%s: '%s' is listed twice", l->k->name,
		       (const char *)ev->data.scalar.value);
		return;
	}
	in->in.require |= v;
	in->require_pos[__builtin_ctz(v)] = yp_pos(y, ev);
}

void yh_require(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	struct ylist l = { obj, k, 0, NULL };

	if (yp_seq(y, ev, k->name, i_require, &l) && l.n == 0)
		yp_err(y, ev, SL_DIAG_MISSING, "%s: the list is empty", k->name);
}


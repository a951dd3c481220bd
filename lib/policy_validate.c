/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * policy_validate.c — from the raw parse to the effective model.
 *
 * Built-in defaults fill what the file leaves out; defaults: is merged into
 * every partner key by key (a partner's own value wins, tls: field by
 * field); then the rules that span several keys are checked.  Each error
 * points at the token that decided the outcome: the partner's own value,
 * else the defaults: value it inherited, else the partner itself.
 *
 * Fail closed: an outbound partner whose certificate check cannot work (no
 * CA bundle, no pins) is an error, never a silent downgrade to "none".
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "policy_int.h"

static const char *sl_strdup_or(struct ld *ld, const char *s, const char *def)
{
	char *r;

	if (s)
		return s;
	r = sl_arena_strdup(ld->a, def);
	if (!r)
		ld->oom = true;
	return r;
}

static void ld_err_pos(struct ld *ld, unsigned fidx, struct sl_pos pos,
		       enum sl_diag_class cls, const char *msg)
{
	ld_err(ld, fidx, pos.line, pos.col, cls, "%s", msg);
}

/* ---- controller, defaults, inbound ---------------------------------------- */

static void sl_build_controller(struct ld *ld, const struct raw_root *r, struct sl_controller *c)
{
	const struct raw_controller *rc = &r->ctl;

	*c = rc->c;
	if (!YSEEN(rc, CK_LISTEN)) {
		c->n_listen = 1;
		sl_endpoint_parse(SL_POLICY_DEFAULT_LISTEN, &c->listen[0]);
	}
	c->cgroup = (char *)sl_strdup_or(ld, c->cgroup, "auto");
	c->pin_path = (char *)sl_strdup_or(ld, c->pin_path, SL_PIN_DEFAULT);
	c->control_socket = (char *)sl_strdup_or(ld, c->control_socket, SL_POLICY_DEFAULT_CONTROL);
	c->max_sessions = YSEEN(&rc->limits, LK_MAX_SESSIONS) ?
		rc->limits.max_sessions : SL_POLICY_DEFAULT_MAX_SESSIONS;
	c->max_sessions_per_source = YSEEN(&rc->limits, LK_MAX_PER_SOURCE) ?
		rc->limits.max_per_source : SL_POLICY_DEFAULT_MAX_PER_SOURCE;
	c->timeout_ms = YSEEN(&rc->limits, LK_TIMEOUT) ?
		rc->limits.timeout_ms : SL_POLICY_DEFAULT_TIMEOUT_MS;
	if (c->max_sessions_per_source > c->max_sessions && !rc->limits.m.bad &&
	    rc->limits.m.seen)
		ld_err_pos(ld, rc->limits.m.fidx,
			   rc->limits.m.val[YSEEN(&rc->limits, LK_MAX_PER_SOURCE) ?
					    LK_MAX_PER_SOURCE : LK_MAX_SESSIONS],
			   SL_DIAG_VALUE,
			   "limits: max_sessions_per_source is larger than max_sessions");
}

/* One tls: block over another, field by field; NULL own = defaults only. */
static void sl_merge_tls(struct sl_tls_policy *out, const struct raw_tls *own,
			 const struct raw_tls *def)
{
#define SRC(k) (own && YSEEN(own, k) ? &own->t : YSEEN(def, k) ? &def->t : NULL)
	const struct sl_tls_policy *s;

	memset(out, 0, sizeof(*out));
	s = SRC(TK_MIN_VERSION);
	out->min_version = s ? s->min_version : SL_TLS_1_2;
	s = SRC(TK_VERIFY);
	out->verify = s ? s->verify : SL_VERIFY_CA;
	if ((s = SRC(TK_CA_FILE)))
		out->ca_file = s->ca_file;
	if ((s = SRC(TK_FINGERPRINTS))) {
		out->pins = s->pins;
		out->n_pins = s->n_pins;
	}
	if ((s = SRC(TK_CLIENT_CERT)))
		out->client_cert = s->client_cert;
	if ((s = SRC(TK_CLIENT_KEY)))
		out->client_key = s->client_key;
	if ((s = SRC(TK_CIPHERS)))
		out->ciphers = s->ciphers;
	if ((s = SRC(TK_CIPHERSUITES)))
		out->ciphersuites = s->ciphersuites;
	s = SRC(TK_KTLS);
	out->ktls = s ? s->ktls : SL_KTLS_PREFERRED;
#undef SRC
}

static void sl_build_defaults(const struct raw_root *r, struct sl_defaults *d)
{
	const struct raw_defaults *rd = &r->defs;

	memset(d, 0, sizeof(*d));
	d->mode = YSEEN(rd, DK_MODE) ? rd->d.mode : SL_MODE_ENFORCE;
	d->on_failure = YSEEN(rd, DK_ON_FAILURE) ? rd->d.on_failure : SL_FAIL_DEFER;
	if (YSEEN(rd, DK_PORTS)) {
		memcpy(d->ports, rd->d.ports, sizeof(d->ports));
		d->n_ports = rd->d.n_ports;
	} else {
		d->ports[0] = 25;
		d->n_ports = 1;
	}
	sl_merge_tls(&d->tls, NULL, &rd->tls);
}

static void sl_build_inbound(const struct raw_root *r, struct sl_inbound_global *g)
{
	*g = r->in.g;
	g->present = r->in.m.present;
	if (!YSEEN(&r->in, GK_ANNOUNCE))
		g->announce = SL_ANNOUNCE_NONE;
	if (!YSEEN(&r->in, GK_PORT))
		g->port = SL_POLICY_DEFAULT_INBOUND_PORT;
}

/* ---- partners ------------------------------------------------------------- */

struct sl_where {
	unsigned fidx;
	struct sl_pos pos;
	bool inherited;			/* from defaults: (so not per partner) */
	bool bad;			/* the deciding value was already reported */
};

/* Where tls key k of a partner was decided. */
static struct sl_where sl_tls_where(const struct raw_root *r, const struct raw_partner *rp, int k)
{
	if (YSEEN(&rp->tls, k))
		return (struct sl_where){ rp->tls.m.fidx, rp->tls.m.val[k], false,
					  YBAD(&rp->tls, k) };
	if (YSEEN(&r->defs.tls, k))
		return (struct sl_where){ r->defs.tls.m.fidx, r->defs.tls.m.val[k], true,
					  YBAD(&r->defs.tls, k) };
	return (struct sl_where){ rp->m.fidx, rp->m.start, false, false };
}

/* A tls: or defaults: block that was not even a mapping. */
static bool sl_tls_broken(const struct raw_root *r, const struct raw_partner *rp)
{
	return (YBAD(rp, PK_TLS) && !rp->tls.m.seen) ||
	       (YBAD(r, RK_DEFAULTS) && !r->defs.m.seen) ||
	       (YBAD(&r->defs, DK_TLS) && !r->defs.tls.m.seen);
}

static void sl_check_outbound(struct ld *ld, const struct raw_root *r,
			      const struct raw_partner *rp, const struct sl_partner *p)
{
	const struct sl_tls_policy *t = &p->tls;
	struct sl_where w = sl_tls_where(r, rp, TK_VERIFY);
	const char *name = p->domain ? p->domain : "?";

	if (w.bad || sl_tls_broken(r, rp))
		return;
	if (t->verify == SL_VERIFY_CA && !t->ca_file && !sl_tls_where(r, rp, TK_CA_FILE).bad) {
		if (w.inherited)
			ld_err(ld, w.fidx, w.pos.line, w.pos.col, SL_DIAG_MISSING,
			       "verify: ca needs a ca_file (in defaults.tls or each partner's tls)");
		else
			ld_err(ld, w.fidx, w.pos.line, w.pos.col, SL_DIAG_MISSING,
			       "partner '%s': verify: ca%s needs a ca_file (in defaults.tls or its tls)",
			       name, YSEEN(&rp->tls, TK_VERIFY) ? "" : " (the default)");
	}
	if (t->verify == SL_VERIFY_FINGERPRINT && t->n_pins == 0 &&
	    !sl_tls_where(r, rp, TK_FINGERPRINTS).bad) {
		if (w.inherited)
			ld_err(ld, w.fidx, w.pos.line, w.pos.col, SL_DIAG_MISSING,
			       "verify: fingerprint needs fingerprints (in defaults.tls or each partner's tls)");
		else
			ld_err(ld, w.fidx, w.pos.line, w.pos.col, SL_DIAG_MISSING,
			       "partner '%s': verify: fingerprint needs at least one entry in fingerprints",
			       name);
	}
	if (!t->client_cert != !t->client_key) {
		w = sl_tls_where(r, rp, t->client_cert ? TK_CLIENT_CERT : TK_CLIENT_KEY);
		ld_err(ld, w.fidx, w.pos.line, w.pos.col, SL_DIAG_MISSING,
		       "%s needs %s too (mutual TLS takes a certificate and its key)",
		       t->client_cert ? "client_cert" : "client_key",
		       t->client_cert ? "client_key" : "client_cert");
	}
}

static void sl_build_auth(struct ld *ld, const struct raw_partner *rp, struct sl_auth_policy *a)
{
	const struct raw_auth *ra = &rp->auth;

	*a = ra->a;
	if (!YSEEN(ra, AK_MECHANISMS)) {
		a->mechanisms[0] = SL_SASL_SCRAM_SHA_256;
		a->mechanisms[1] = SL_SASL_PLAIN;
		a->mechanisms[2] = SL_SASL_LOGIN;
		a->n_mechanisms = 3;
	}
	if (!YSEEN(ra, AK_PASSWORD_FILE))
		ld_err_pos(ld, ra->m.fidx, ra->m.start, SL_DIAG_MISSING,
			   "auth: no password source: password_file is required");
}

static void sl_build_pinbound(struct ld *ld, const struct sl_policy *p,
			      const struct raw_partner *rp, struct sl_inbound_policy *in)
{
	const struct raw_pinbound *ri = &rp->in;

	*in = ri->in;
	in->require |= SL_REQUIRE_TLS;	/* partner mail never arrives in plaintext */
	if (!YSEEN(ri, IK_MIN_VERSION))
		in->min_version = p->defaults.tls.min_version;
	in->accounts = NULL;
	in->n_accounts = 0;
	if (ri->n_accounts) {
		in->accounts = sl_arena_alloc(ld->a, ri->n_accounts * sizeof(*in->accounts));
		if (!in->accounts) {
			ld->oom = true;
			return;
		}
	}
	for (size_t i = 0; i < ri->n_accounts; i++) {
		const struct raw_account *ra = ri->accounts[i];

		for (size_t j = 0; ra->a.username && j < in->n_accounts; j++) {
			if (in->accounts[j].username &&
			    !strcmp(in->accounts[j].username, ra->a.username)) {
				ld_err(ld, ra->m.fidx, ra->m.val[UK_USERNAME].line,
				       ra->m.val[UK_USERNAME].col, SL_DIAG_DUPLICATE,
				       "accounts: username '%s' is listed twice", ra->a.username);
				break;
			}
		}
		in->accounts[in->n_accounts++] = ra->a;
	}
	if ((ri->in.require & SL_REQUIRE_AUTH) && !in->n_accounts && !YBAD(ri, IK_ACCOUNTS))
		ld_err_pos(ld, ri->m.fidx, ri->require_pos[1], SL_DIAG_MISSING,
			   "require: auth needs at least one entry in accounts");
	if ((ri->in.require & SL_REQUIRE_CLIENT_CERT) && !in->client_ca_file && !in->n_client_pins &&
	    !YBAD(ri, IK_CLIENT_CA_FILE) && !YBAD(ri, IK_FINGERPRINTS))
		ld_err_pos(ld, ri->m.fidx, ri->require_pos[2], SL_DIAG_MISSING,
			   "require: client_cert needs client_ca_file or fingerprints");
}

static void sl_build_partner(struct ld *ld, const struct raw_root *r, const struct sl_policy *pol,
			     const struct raw_partner *rp, struct sl_partner *p, bool *warned_inbound)
{
	const struct sl_defaults *d = &pol->defaults;
	const char *name;

	*p = rp->p;
	p->pos = rp->m.key[PK_DOMAIN];
	if (!p->pos.file)
		p->pos = rp->m.start;
	name = p->domain ? p->domain : "?";
	if (!YSEEN(rp, PK_DIRECTION) || YBAD(rp, PK_DIRECTION))
		p->direction = SL_DIR_OUTBOUND;
	if (!YSEEN(rp, PK_MODE))
		p->mode = d->mode;
	if (!YSEEN(rp, PK_ON_FAILURE))
		p->on_failure = d->on_failure;
	if (!YSEEN(rp, PK_PORTS)) {
		memcpy(p->ports, d->ports, sizeof(p->ports));
		p->n_ports = d->n_ports;
	}
	sl_merge_tls(&p->tls, &rp->tls, &r->defs.tls);
	p->has_auth = rp->auth.m.present;
	memset(&p->auth, 0, sizeof(p->auth));
	if (p->has_auth)
		sl_build_auth(ld, rp, &p->auth);
	p->has_inbound = rp->in.m.present;
	memset(&p->inbound, 0, sizeof(p->inbound));
	if (p->has_inbound)
		sl_build_pinbound(ld, pol, rp, &p->inbound);

	/* Rules across keys need the whole partner: not after a syntax
	 * error, nor when its direction (which rules apply) is unknown. */
	if (YBAD(rp, PK_DIRECTION) || ld->files[rp->m.fidx].dead)
		return;
	if (p->direction & SL_DIR_OUTBOUND) {
		sl_check_outbound(ld, r, rp, p);
	} else if (p->has_auth) {
		ld_err_pos(ld, rp->m.fidx, rp->m.key[PK_AUTH], SL_DIAG_VALUE,
			   "auth: is our account at the partner, used only when sending "
			   "(direction: outbound or both)");
	}
	if (p->direction & SL_DIR_INBOUND) {
		if (!p->has_inbound)
			ld_err(ld, rp->m.fidx, rp->m.val[PK_DIRECTION].line,
			       rp->m.val[PK_DIRECTION].col, SL_DIAG_MISSING,
			       "partner '%s' receives mail (direction: %s) but has no inbound: block "
			       "(sources, require)", name, sl_direction_name(p->direction));
		if (!r->in.m.present && !*warned_inbound) {
			ld_err(ld, rp->m.fidx, rp->m.val[PK_DIRECTION].line,
			       rp->m.val[PK_DIRECTION].col, SL_DIAG_MISSING,
			       "partner '%s' receives mail (direction: %s) but the top-level inbound: "
			       "block (listen, backend, cert, key) is missing",
			       name, sl_direction_name(p->direction));
			*warned_inbound = true;
		}
	} else if (p->has_inbound) {
		ld_err_pos(ld, rp->m.fidx, rp->m.key[PK_INBOUND], SL_DIAG_VALUE,
			   "an inbound: block needs direction: inbound or both");
	}
}

/* A domain defined twice anywhere: the second one is the error. */
static void sl_check_duplicates(struct ld *ld, const struct raw_root *r, const struct sl_policy *p)
{
	for (size_t i = 1; i < p->n_partners; i++) {
		const struct sl_partner *b = &p->partners[i];

		if (!b->domain)
			continue;
		for (size_t j = 0; j < i; j++) {
			const struct sl_partner *a = &p->partners[j];

			if (!a->domain || strcmp(a->domain, b->domain))
				continue;
			ld_err(ld, r->partners[i]->m.fidx, r->partners[i]->m.val[PK_DOMAIN].line,
			       r->partners[i]->m.val[PK_DOMAIN].col, SL_DIAG_DUPLICATE,
			       "domain '%s' is already defined at %s:%u", b->domain,
			       a->pos.file, a->pos.line);
			break;
		}
	}
}

void sl_policy_build(struct ld *ld, struct sl_policy *p)
{
	const struct raw_root *r = ld->root;
	bool warned_inbound = false;

	p->version = r->version;
	sl_build_controller(ld, r, &p->controller);
	sl_build_defaults(r, &p->defaults);
	sl_build_inbound(r, &p->inbound);
	if (r->n_partners) {
		p->partners = sl_arena_alloc(ld->a, r->n_partners * sizeof(*p->partners));
		if (!p->partners) {
			ld->oom = true;
			return;
		}
	}
	for (size_t i = 0; i < r->n_partners; i++) {
		const struct raw_partner *rp = r->partners[i];

		if (i == SL_MAX_POLICIES - 1)
			ld_err_pos(ld, rp->m.fidx, rp->m.start, SL_DIAG_VALUE,
				   "too many partners (at most 1023)");
		sl_build_partner(ld, r, p, rp, &p->partners[i], &warned_inbound);
		p->n_partners++;
	}
	sl_check_duplicates(ld, r, p);
}

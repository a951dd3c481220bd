/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * policy_schema.c — schema v1 as tables of keys.
 *
 * Each mapping of the policy is one table: key name, the handler that
 * checks and stores its value (policy_keys.c), where it goes in the raw
 * object, and whether it is required.  What depends on several keys, and
 * the built-in defaults, is policy_validate.c's job.  Keep
 * smtplock-policy(5) in step with these tables.
 */
#include <stddef.h>
#include <string.h>

#include "policy_int.h"

#define ARENA(y) ((y)->ld->a)
#define N(a) (sizeof(a) / sizeof((a)[0]))

static const struct ykey k_account[] = {
	[UK_USERNAME] = { "username", yh_str, offsetof(struct raw_account, a.username), 0, NULL, YK_REQUIRED },
	[UK_PASSWORD_HASH] = { "password_hash", yh_hash, offsetof(struct raw_account, a.password_hash), 0, NULL, YK_REQUIRED },
};
static const struct ytable t_account = { "accounts[]", k_account, sizeof(k_account) / sizeof(k_account[0]) };

static void i_account(struct yp *y, yaml_event_t *ev, size_t idx, void *ctx)
{
	struct raw_pinbound *in = ctx;
	struct raw_account *acc, **nv;

	acc = sl_arena_alloc(ARENA(y), sizeof(*acc));
	nv = acc ? yp_push(y, in->accounts, in->n_accounts, sizeof(*nv)) : NULL;
	if (!nv) {
		y->ld->oom = true;
		yp_skip(y, ev);
		return;
	}
	nv[in->n_accounts++] = acc;
	in->accounts = nv;
	yp_map(y, ev, &t_account, acc);
}

static void h_accounts(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	yp_seq(y, ev, k->name, i_account, obj);
}

/* ---- tables ------------------------------------------------------------------- */

static void h_map(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	yp_map(y, ev, k->aux, FLD(void, obj, k->off));
}

static const struct yenum e_mode[] = {
	{ "enforce", SL_MODE_ENFORCE }, { "testing", SL_MODE_TESTING }, { NULL, 0 } };
static const struct yenum e_on_failure[] = {
	{ "defer", SL_FAIL_DEFER }, { "reject", SL_FAIL_REJECT }, { NULL, 0 } };
static const struct yenum e_direction[] = {
	{ "outbound", SL_DIR_OUTBOUND }, { "inbound", SL_DIR_INBOUND },
	{ "both", SL_DIR_BOTH }, { NULL, 0 } };
static const struct yenum e_verify[] = {
	{ "none", SL_VERIFY_NONE }, { "ca", SL_VERIFY_CA },
	{ "fingerprint", SL_VERIFY_FINGERPRINT }, { "dane", SL_VERIFY_DANE }, { NULL, 0 } };
static const struct yenum e_ktls[] = {
	{ "preferred", SL_KTLS_PREFERRED }, { "required", SL_KTLS_REQUIRED },
	{ "off", SL_KTLS_OFF }, { NULL, 0 } };
static const struct yenum e_announce[] = {
	{ "none", SL_ANNOUNCE_NONE }, { "proxy-v1", SL_ANNOUNCE_PROXY_V1 },
	{ "proxy-v2", SL_ANNOUNCE_PROXY_V2 }, { "xclient", SL_ANNOUNCE_XCLIENT }, { NULL, 0 } };

#define T(f) offsetof(struct raw_tls, t.f)
static const struct ykey k_tls[] = {
	[TK_MIN_VERSION] = { "min_version", yh_tlsver, T(min_version), 0, NULL, 0 },
	[TK_VERIFY] = { "verify", yh_enum, T(verify), 0, e_verify, 0 },
	[TK_CA_FILE] = { "ca_file", yh_file, T(ca_file), 0, NULL, 0 },
	[TK_FINGERPRINTS] = { "fingerprints", yh_pins, T(pins), T(n_pins), NULL, 0 },
	[TK_CLIENT_CERT] = { "client_cert", yh_file, T(client_cert), 0, NULL, 0 },
	[TK_CLIENT_KEY] = { "client_key", yh_file, T(client_key), 0, NULL, 0 },
	[TK_CIPHERS] = { "ciphers", yh_ciphers, T(ciphers), 0, NULL, 0 },
	[TK_CIPHERSUITES] = { "ciphersuites", yh_ciphersuites, T(ciphersuites), 0, NULL, 0 },
	[TK_KTLS] = { "ktls", yh_enum, T(ktls), 0, e_ktls, 0 },
};
#undef T
static const struct ytable t_dtls = { "defaults.tls", k_tls, N(k_tls) };
static const struct ytable t_ptls = { "partner tls", k_tls, N(k_tls) };

static const struct ykey k_limits[] = {
	[LK_MAX_SESSIONS] = { "max_sessions", yh_uint, offsetof(struct raw_limits, max_sessions), 0, &yr_sessions, 0 },
	[LK_MAX_PER_SOURCE] = { "max_sessions_per_source", yh_uint, offsetof(struct raw_limits, max_per_source), 0, &yr_sessions, 0 },
	[LK_TIMEOUT] = { "timeout", yh_timeout, offsetof(struct raw_limits, timeout_ms), 0, NULL, 0 },
};
static const struct ytable t_limits = { "controller.limits", k_limits, N(k_limits) };

#define C(f) offsetof(struct raw_controller, c.f)
static const struct ykey k_controller[] = {
	[CK_HOSTNAME] = { "hostname", yh_hostname, C(hostname), 0, NULL, YK_REQUIRED },
	[CK_LISTEN] = { "listen", yh_endpoints, C(listen), C(n_listen), NULL, 0 },
	[CK_CGROUP] = { "cgroup", yh_abspath, C(cgroup), 0, "auto", 0 },
	[CK_PIN_PATH] = { "pin_path", yh_abspath, C(pin_path), 0, NULL, 0 },
	[CK_CONTROL_SOCKET] = { "control_socket", yh_abspath, C(control_socket), 0, NULL, 0 },
	[CK_USER] = { "user", yh_str, C(user), 0, NULL, 0 },
	[CK_GROUP] = { "group", yh_str, C(group), 0, NULL, 0 },
	[CK_LIMITS] = { "limits", h_map, offsetof(struct raw_controller, limits), 0, &t_limits, 0 },
};
#undef C
static const struct ytable t_controller = { "controller", k_controller, N(k_controller) };

#define D(f) offsetof(struct raw_defaults, d.f)
static const struct ykey k_defaults[] = {
	[DK_MODE] = { "mode", yh_enum, D(mode), 0, e_mode, 0 },
	[DK_PORTS] = { "ports", yh_ports, D(ports), D(n_ports), NULL, 0 },
	[DK_ON_FAILURE] = { "on_failure", yh_enum, D(on_failure), 0, e_on_failure, 0 },
	[DK_TLS] = { "tls", h_map, offsetof(struct raw_defaults, tls), 0, &t_dtls, 0 },
};
#undef D
static const struct ytable t_defaults = { "defaults", k_defaults, N(k_defaults) };

#define A(f) offsetof(struct raw_auth, a.f)
static const struct ykey k_auth[] = {
	[AK_USERNAME] = { "username", yh_str, A(username), 0, NULL, YK_REQUIRED },
	[AK_PASSWORD_FILE] = { "password_file", yh_secret, A(password_file), 0, NULL, 0 },
	[AK_MECHANISMS] = { "mechanisms", yh_mechs, 0, 0, NULL, 0 },
};
#undef A
static const struct ytable t_auth = { "auth", k_auth, N(k_auth) };

#define I(f) offsetof(struct raw_pinbound, in.f)
static const struct ykey k_pinbound[] = {
	[IK_SOURCES] = { "sources", yh_sources, I(sources), I(n_sources), NULL, YK_REQUIRED },
	[IK_REQUIRE] = { "require", yh_require, 0, 0, NULL, YK_REQUIRED },
	[IK_MIN_VERSION] = { "min_version", yh_tlsver, I(min_version), 0, NULL, 0 },
	[IK_ACCOUNTS] = { "accounts", h_accounts, 0, 0, NULL, 0 },
	[IK_CLIENT_CA_FILE] = { "client_ca_file", yh_file, I(client_ca_file), 0, NULL, 0 },
	[IK_FINGERPRINTS] = { "fingerprints", yh_pins, I(client_pins), I(n_client_pins), NULL, 0 },
};
#undef I
static const struct ytable t_pinbound = { "partner inbound", k_pinbound, N(k_pinbound) };

static void h_pdomain(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	struct raw_partner *rp = obj;

	rp->p.domain = yp_domain(y, ev, k->name);
}

#define P(f) offsetof(struct raw_partner, p.f)
static const struct ykey k_partner[] = {
	[PK_DOMAIN] = { "domain", h_pdomain, 0, 0, NULL, YK_REQUIRED },
	[PK_DIRECTION] = { "direction", yh_enum, P(direction), 0, e_direction, 0 },
	[PK_MODE] = { "mode", yh_enum, P(mode), 0, e_mode, 0 },
	[PK_PORTS] = { "ports", yh_ports, P(ports), P(n_ports), NULL, 0 },
	[PK_ON_FAILURE] = { "on_failure", yh_enum, P(on_failure), 0, e_on_failure, 0 },
	[PK_MX] = { "mx", yh_hosts, P(mx), P(n_mx), NULL, 0 },
	[PK_ADDRESSES] = { "addresses", yh_prefixes, P(addresses), P(n_addresses), NULL, 0 },
	[PK_TLS] = { "tls", h_map, offsetof(struct raw_partner, tls), 0, &t_ptls, 0 },
	[PK_AUTH] = { "auth", h_map, offsetof(struct raw_partner, auth), 0, &t_auth, 0 },
	[PK_INBOUND] = { "inbound", h_map, offsetof(struct raw_partner, in), 0, &t_pinbound, 0 },
};
#undef P
static const struct ytable t_partner = { "partner", k_partner, N(k_partner) };

void sl_schema_partner(struct yp *y, yaml_event_t *ev, size_t idx, void *ctx)
{
	struct raw_root *root = ctx;
	struct raw_partner *rp, **nv;

	rp = sl_arena_alloc(ARENA(y), sizeof(*rp));
	nv = rp ? yp_push(y, root->partners, root->n_partners, sizeof(*nv)) : NULL;
	if (!nv) {
		y->ld->oom = true;
		yp_skip(y, ev);
		return;
	}
	nv[root->n_partners++] = rp;
	root->partners = nv;
	rp->p.dropin = y->ld->files[y->fidx].dropin;
	yp_map(y, ev, &t_partner, rp);
}

static void h_partners(struct yp *y, yaml_event_t *ev, const struct ykey *k, void *obj)
{
	yp_seq(y, ev, k->name, sl_schema_partner, obj);
}

#define G(f) offsetof(struct raw_ginbound, g.f)
static const struct ykey k_ginbound[] = {
	[GK_LISTEN] = { "listen", yh_endpoint, G(listen), 0, NULL, YK_REQUIRED },
	[GK_BACKEND] = { "backend", yh_endpoint, G(backend), 0, NULL, YK_REQUIRED },
	[GK_ANNOUNCE] = { "announce", yh_enum, G(announce), 0, e_announce, 0 },
	[GK_CERT] = { "cert", yh_file, G(cert), 0, NULL, YK_REQUIRED },
	[GK_KEY] = { "key", yh_file, G(key), 0, NULL, YK_REQUIRED },
	[GK_PORT] = { "port", yh_port, G(port), 0, NULL, 0 },
};
#undef G
static const struct ytable t_ginbound = { "inbound", k_ginbound, N(k_ginbound) };

static const struct ykey k_root[] = {
	[RK_VERSION] = { "version", yh_version, offsetof(struct raw_root, version), 0, NULL, YK_REQUIRED },
	[RK_CONTROLLER] = { "controller", h_map, offsetof(struct raw_root, ctl), 0, &t_controller, YK_REQUIRED },
	[RK_DEFAULTS] = { "defaults", h_map, offsetof(struct raw_root, defs), 0, &t_defaults, 0 },
	[RK_PARTNERS] = { "partners", h_partners, 0, 0, NULL, 0 },
	[RK_INBOUND] = { "inbound", h_map, offsetof(struct raw_root, in), 0, &t_ginbound, 0 },
};
static const struct ytable t_root = { "the policy", k_root, N(k_root) };

_Static_assert(N(k_tls) <= YK_MAX && N(k_controller) <= YK_MAX && N(k_partner) <= YK_MAX,
	       "a table has more keys than struct ymeta records");

void sl_schema_main(struct yp *y, yaml_event_t *ev, size_t idx, void *root)
{
	yp_map(y, ev, &t_root, root);
}

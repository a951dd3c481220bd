/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * status.c — build the status document (status.h) and judge it.
 *
 * What is enforced is what the maps say (policy_meta names each policy
 * id's domain, dst_policy/src_policy hold its addresses), so partners are
 * listed from the union of the policy and policy_meta: a partner of the
 * policy the maps do not hold yet is shown (not enforced, a problem), and
 * so is one the maps still hold after it left the policy file.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "sasl.h"
#include "status.h"

void sl_status_time(time_t t, char *buf, size_t len)
{
	struct tm tm;

	if (t <= 0 || !gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "-");
}

static json_t *sl_json_time(time_t t)
{
	char buf[32];

	if (t <= 0)
		return json_null();
	sl_status_time(t, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *sl_json_str(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *sl_json_u64(uint64_t v)
{
	return json_integer((json_int_t)v);
}

static void sl_hex(const uint8_t *v, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hx[v[i] >> 4];
		out[2 * i + 1] = hx[v[i] & 15];
	}
	out[2 * n] = 0;
}

static void sl_addr_text(const uint8_t a[16], unsigned plen, char *buf, size_t len)
{
	struct sl_prefix p = { .plen = (uint8_t)plen };
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	p.family = memcmp(a, mapped, 12) == 0 && plen >= 96 ? AF_INET : AF_INET6;
	memcpy(p.addr, a, 16);
	sl_prefix_format(&p, buf, len);
}

/* ---- pieces -------------------------------------------------------------- */

static json_t *sl_counters_json(const struct sl_status_maps *m, uint32_t id)
{
	uint64_t v[SL_STATUS_MAX_COUNTERS] = { 0 };
	size_t n = m ? m->n_counters : 0;
	json_t *o;

	if (!m || !m->counters || n > SL_STATUS_MAX_COUNTERS || m->counters(m->arg, id, v) < 0)
		return json_null();
	o = json_object();
	for (size_t i = 0; o && i < n; i++)
		json_object_set_new(o, m->counter_names[i], sl_json_u64(v[i]));
	return o;
}

static json_t *sl_programs_json(const struct sl_status_src *src, unsigned *attached)
{
	json_t *a = json_array();

	*attached = 0;
	for (size_t i = 0; a && i < src->n_progs; i++) {
		const struct sl_status_prog *p = &src->progs[i];

		if (p->attached)
			(*attached)++;
		json_array_append_new(a, json_pack("{s:s, s:b, s:o, s:o, s:o, s:o}",
			"name", p->name, "attached", p->attached,
			"link_id", p->attached ? json_integer(p->link_id) : json_null(),
			"prog_id", p->attached ? json_integer(p->prog_id) : json_null(),
			"attach_type", p->attached ? json_string(p->attach_type) : json_null(),
			"target", p->attached && p->target[0] ? json_string(p->target) : json_null()));
	}
	return a;
}

struct sl_build {
	const struct sl_status_src *src;
	time_t now;
	struct sl_policy_meta *meta;		/* NULL when unreadable */
	struct sl_status_entry *dst, *srcs;
	size_t n_dst, n_src;
};

static uint32_t sl_meta_id(const struct sl_build *b, const char *domain)
{
	if (!b->meta)
		return 0;
	for (uint32_t id = 1; id < SL_MAX_POLICIES; id++)
		if (!strncmp(b->meta[id].domain, domain, SL_DOMAIN_MAX))
			return id;
	return 0;
}

static void sl_add_entries(json_t *a, const struct sl_status_entry *v, size_t n, uint32_t id,
			   const char *source, bool inbound)
{
	for (size_t i = 0; i < n; i++) {
		char text[64];

		if (v[i].policy_id != id)
			continue;
		sl_addr_text(v[i].key.addr, v[i].key.prefixlen, text, sizeof(text));
		json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:n, s:n}", "address", text,
						   "source", source, "direction",
						   inbound ? "inbound" : "outbound", "host", "ttl_left_s"));
	}
}

static json_t *sl_addresses_json(const struct sl_build *b, const struct sl_partner *p,
				 const struct sl_pstat *ps, uint32_t id)
{
	json_t *a = json_array();
	char text[64];

	if (!a)
		return NULL;
	if (p && ps && ps->have_addrs) {
		/* The controller's own view: fixed addresses and DNS answers. */
		for (size_t i = 0; i < p->n_addresses; i++) {
			sl_prefix_format(&p->addresses[i], text, sizeof(text));
			json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:n, s:n}", "address",
				text, "source", "fixed", "direction", "outbound", "host", "ttl_left_s"));
		}
		for (size_t i = 0; p->has_inbound && i < p->inbound.n_sources; i++) {
			sl_prefix_format(&p->inbound.sources[i], text, sizeof(text));
			json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:n, s:n}", "address",
				text, "source", "fixed", "direction", "inbound", "host", "ttl_left_s"));
		}
		for (size_t i = 0; i < ps->n_addrs; i++) {
			const struct sl_pstats_addr *x = &ps->addrs[i];

			sl_addr_text(x->addr, 128, text, sizeof(text));
			json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:s, s:o}", "address",
				text, "source", "dns", "direction",
				p->direction == SL_DIR_INBOUND ? "inbound" : "outbound", "host", x->host,
				"ttl_left_s", x->expires ? json_integer(x->expires > b->now ?
							  x->expires - b->now : 0) : json_null()));
		}
		return a;
	}
	/* Otherwise what the maps hold for the partner's id. */
	if (id) {
		sl_add_entries(a, b->dst, b->n_dst, id, "map", false);
		sl_add_entries(a, b->srcs, b->n_src, id, "map", true);
	}
	return a;
}

static json_t *sl_partner_json(const struct sl_build *b, const struct sl_partner *p,
			       const char *domain)
{
	const struct sl_pstat *ps = sl_pstats_find(b->src->pstats, domain);
	uint32_t id = sl_meta_id(b, domain);
	const struct sl_policy_meta *m = id ? &b->meta[id] : NULL;
	unsigned direction = p ? (unsigned)p->direction : m ? m->direction : 0;
	unsigned mode = p ? (unsigned)p->mode : m ? m->mode : 0;
	unsigned min_tls = p ? p->tls.min_version : m ? m->min_tls : 0;
	unsigned verify = p ? (unsigned)p->tls.verify : m ? m->verify : 0;
	json_t *o, *last = json_null(), *dns;

	if (ps && ps->last_failure)
		last = json_pack("{s:o, s:I, s:s, s:s}", "time", sl_json_time(ps->last_failure),
				 "ago_s", (json_int_t)(b->now - ps->last_failure), "direction",
				 ps->last_failure_dir == SL_PSTATS_IN ? "inbound" : "outbound",
				 "reason", ps->last_reason);
	dns = ps ? json_pack("{s:o, s:o, s:o}", "resolved_at", sl_json_time(ps->resolved_at),
			     "failed_at", sl_json_time(ps->dns_failed_at), "error",
			     ps->dns_error[0] ? json_string(ps->dns_error) : json_null())
		 : json_null();
	o = json_pack("{s:s, s:o, s:b, s:b, s:s, s:s, s:s, s:s}",
		      "domain", domain,
		      "policy_id", id ? json_integer(id) : json_null(),
		      "in_policy", p != NULL, "enforced", id != 0,
		      "direction", sl_direction_name(direction),
		      "mode", sl_mode_name(mode),
		      "min_tls", sl_tls_version_name(min_tls),
		      "verify", sl_verify_name(verify));
	if (!o) {
		json_decref(last);
		json_decref(dns);
		return NULL;
	}
	json_object_set_new(o, "addresses", sl_addresses_json(b, p, ps, id));
	json_object_set_new(o, "dns", dns);
	json_object_set_new(o, "sessions", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}",
		"ok", (json_int_t)(ps ? ps->ok[0] + ps->ok[1] : 0),
		"failed", (json_int_t)(ps ? ps->failed[0] + ps->failed[1] : 0),
		"outbound_ok", (json_int_t)(ps ? ps->ok[SL_PSTATS_OUT] : 0),
		"outbound_failed", (json_int_t)(ps ? ps->failed[SL_PSTATS_OUT] : 0),
		"inbound_ok", (json_int_t)(ps ? ps->ok[SL_PSTATS_IN] : 0),
		"inbound_failed", (json_int_t)(ps ? ps->failed[SL_PSTATS_IN] : 0)));
	json_object_set_new(o, "last_failure", last);
	json_object_set_new(o, "counters", id ? sl_counters_json(b->src->maps, id) : json_null());
	return o;
}

static json_t *sl_partners_json(const struct sl_build *b)
{
	const struct sl_policy *pol = b->src->policy;
	json_t *a = json_array();

	if (!a)
		return NULL;
	for (size_t i = 0; pol && i < pol->n_partners; i++)
		json_array_append_new(a, sl_partner_json(b, &pol->partners[i],
							 pol->partners[i].domain));
	for (uint32_t id = 1; b->meta && id < SL_MAX_POLICIES; id++) {
		char domain[SL_DOMAIN_MAX];

		if (!b->meta[id].domain[0])
			continue;
		memcpy(domain, b->meta[id].domain, SL_DOMAIN_MAX);
		domain[SL_DOMAIN_MAX - 1] = 0;
		if (pol && sl_policy_find(pol, domain))
			continue;
		json_array_append_new(a, sl_partner_json(b, NULL, domain));
	}
	return a;
}

static json_t *sl_policy_json(const struct sl_status_src *src)
{
	char hex[65];

	if (!src->policy)
		return json_pack("{s:o, s:n, s:n, s:o}", "path", sl_json_str(src->policy_path),
				 "sha256", "partners", "error", sl_json_str(src->policy_error));
	sl_hex(src->policy->sha256, 32, hex);
	return json_pack("{s:o, s:s, s:I, s:n}", "path", sl_json_str(src->policy_path),
			 "sha256", hex, "partners", (json_int_t)src->policy->n_partners, "error");
}

static json_t *sl_datapath_json(const struct sl_pstats *ps)
{
	uint64_t v[SL_PSTATS_PATHS] = { 0 };
	json_t *o;

	if (!ps)
		return json_null();
	sl_pstats_paths(ps, v);
	o = json_object();
	for (unsigned i = SL_DATAPATH_USERSPACE; o && i < SL_PSTATS_PATHS; i++)
		json_object_set_new(o, sl_datapath_name(i), sl_json_u64(v[i]));
	return o;
}

json_t *sl_status_build(const struct sl_status_src *src, time_t now)
{
	const struct sl_status_maps *m = src->maps;
	struct sl_build b = { .src = src, .now = now };
	unsigned attached = 0;
	json_t *doc = NULL, *progs;

	if (m && m->meta) {
		b.meta = calloc(SL_MAX_POLICIES, sizeof(*b.meta));
		if (b.meta && m->meta(m->arg, b.meta) < 0) {
			free(b.meta);
			b.meta = NULL;
		}
	}
	if (m && m->entries) {
		if (m->entries(m->arg, false, &b.dst, &b.n_dst) < 0)
			b.n_dst = 0;
		if (m->entries(m->arg, true, &b.srcs, &b.n_src) < 0)
			b.n_src = 0;
	}
	progs = sl_programs_json(src, &attached);
	doc = json_pack("{s:{s:b, s:o, s:o, s:o, s:o, s:o}, s:o,"
			" s:{s:o, s:o, s:i, s:i, s:o}, s:o, s:{s:o}, s:o, s:o}",
		"controller", "running", src->running,
			"pid", src->running ? json_integer(src->pid) : json_null(),
			"started", src->running ? sl_json_time(src->started) : json_null(),
			"uptime_s", src->running ? json_integer(now - src->started) : json_null(),
			"version", sl_json_str(src->version),
			"user", src->running ? sl_json_str(src->user) : json_null(),
		"policy", sl_policy_json(src),
		"enforcement", "pin_path", sl_json_str(src->pin_path),
			"cgroup", sl_json_str(src->cgroup),
			"programs_attached", (int)attached, "programs_total", (int)src->n_progs,
			"maps_error", sl_json_str(src->maps ? NULL : src->maps_error),
		"programs", progs,
		"kernel", "ktls", sl_json_str(src->ktls),
		"datapath", sl_datapath_json(src->pstats),
		"counters", sl_counters_json(m, 0));
	if (doc)
		json_object_set_new(doc, "partners", sl_partners_json(&b));
	free(b.meta);
	free(b.dst);
	free(b.srcs);
	return doc;
}

/* ---- health -------------------------------------------------------------------- */

static json_t *sl_health_list(json_t *doc, const char *key)
{
	json_t *h = json_object_get(doc, "health"), *l;

	if (!json_is_object(h)) {
		h = json_object();
		if (!h || json_object_set_new(doc, "health", h) < 0)
			return NULL;
	}
	l = json_object_get(h, key);
	if (!json_is_array(l)) {
		l = json_array();
		if (!l || json_object_set_new(h, key, l) < 0)
			return NULL;
	}
	return l;
}

static void sl_health_vadd(json_t *doc, const char *key, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

static void sl_health_vadd(json_t *doc, const char *key, const char *fmt, va_list ap)
{
	json_t *l = sl_health_list(doc, key);
	char buf[512];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (l)
		json_array_append_new(l, json_string(buf));
}

void sl_status_add_problem(json_t *doc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sl_health_vadd(doc, "problems", fmt, ap);
	va_end(ap);
}

static void sl_status_add_note(json_t *doc, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void sl_status_add_note(json_t *doc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sl_health_vadd(doc, "notes", fmt, ap);
	va_end(ap);
}

int sl_status_health(json_t *doc)
{
	json_t *ctl = json_object_get(doc, "controller"), *enf = json_object_get(doc, "enforcement");
	json_t *progs = json_object_get(doc, "programs"), *partners = json_object_get(doc, "partners");
	json_t *pol = json_object_get(doc, "policy"), *h, *v;
	bool running = json_is_true(json_object_get(ctl, "running"));
	json_int_t attached = json_integer_value(json_object_get(enf, "programs_attached"));
	json_int_t total = json_integer_value(json_object_get(enf, "programs_total"));
	const char *state;
	size_t i;
	int code;

	/* Make sure both lists exist, problems possibly added by the caller. */
	if (!sl_health_list(doc, "problems") || !sl_health_list(doc, "notes"))
		return 2;
	if (attached == 0) {
		sl_status_add_problem(doc, "no smtplock program is attached: nothing is enforced");
	} else {
		if (!running)
			sl_status_add_problem(doc, "controller DOWN: listed connections are refused "
					      "(mail waits in the queue); enforcement ACTIVE (fail-closed)");
		if (attached < total)
			json_array_foreach(progs, i, v)
				if (!json_is_true(json_object_get(v, "attached")))
					sl_status_add_problem(doc, "program %s is not attached",
						json_string_value(json_object_get(v, "name")));
	}
	if (json_is_string(json_object_get(enf, "maps_error")))
		sl_status_add_problem(doc, "maps not readable: %s",
				      json_string_value(json_object_get(enf, "maps_error")));
	if (json_is_string(json_object_get(pol, "error")))
		sl_status_add_problem(doc, "policy: %s",
				      json_string_value(json_object_get(pol, "error")));
	json_array_foreach(partners, i, v) {
		const char *d = json_string_value(json_object_get(v, "domain"));
		const char *dir = json_string_value(json_object_get(v, "direction"));
		bool enforced = json_is_true(json_object_get(v, "enforced"));
		bool in_policy = json_is_true(json_object_get(v, "in_policy"));
		json_t *addrs = json_object_get(v, "addresses");
		bool any_out = false;
		size_t k;
		json_t *a;

		if (!d)
			continue;
		if (in_policy && !enforced && attached)
			sl_status_add_problem(doc, "%s: in the policy but not in the kernel maps "
					      "(reload pending?)", d);
		if (!in_policy && enforced)
			sl_status_add_note(doc, "%s: enforced but no longer in the policy file "
					   "(reload pending?)", d);
		json_array_foreach(addrs, k, a)
			if (!strcmp(json_string_value(json_object_get(a, "direction")) ?: "",
				    "outbound"))
				any_out = true;
		if (enforced && dir && strcmp(dir, "inbound") && !any_out && running)
			sl_status_add_problem(doc, "%s: no address known yet (DNS pending or "
					      "failing): nothing to redirect", d);
		if (!strcmp(json_string_value(json_object_get(v, "mode")) ?: "", "testing"))
			sl_status_add_note(doc, "%s: mode testing (nothing blocked, only counted)", d);
	}
	h = json_object_get(doc, "health");
	code = attached == 0 ? 2 : json_array_size(json_object_get(h, "problems")) ? 1 : 0;
	state = code == 0 ? "healthy" : code == 1 ? "degraded" : "not enforcing";
	json_object_set_new(h, "exit", json_integer(code));
	json_object_set_new(h, "state", json_string(state));
	return code;
}

/* ---- a partner's settings ------------------------------------------------------ */

static json_t *sl_prefixes_json(const struct sl_prefix *v, size_t n)
{
	json_t *a = json_array();
	char text[64];

	for (size_t i = 0; a && i < n; i++) {
		sl_prefix_format(&v[i], text, sizeof(text));
		json_array_append_new(a, json_string(text));
	}
	return a;
}

static json_t *sl_pins_json(const struct sl_pin *v, size_t n)
{
	json_t *a = json_array();
	char text[SL_PIN_TEXT_LEN];

	for (size_t i = 0; a && i < n; i++) {
		sl_pin_format(&v[i], text, sizeof(text));
		json_array_append_new(a, json_string(text));
	}
	return a;
}

json_t *sl_status_partner_policy(const struct sl_partner *p)
{
	json_t *o, *a;

	o = json_pack("{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:o, s:o, s:o, s:s}}",
		      "domain", p->domain, "direction", sl_direction_name(p->direction),
		      "mode", sl_mode_name(p->mode), "on_failure", sl_on_failure_name(p->on_failure),
		      "tls", "min_version", sl_tls_version_name(p->tls.min_version),
			"verify", sl_verify_name(p->tls.verify),
			"ca_file", sl_json_str(p->tls.ca_file),
			"fingerprints", sl_pins_json(p->tls.pins, p->tls.n_pins),
			"client_cert", sl_json_str(p->tls.client_cert),
			"ktls", sl_ktls_name(p->tls.ktls));
	if (!o)
		return NULL;
	a = json_array();
	for (size_t i = 0; a && i < p->n_ports; i++)
		json_array_append_new(a, json_integer(p->ports[i]));
	json_object_set_new(o, "ports", a);
	a = json_array();
	for (size_t i = 0; a && i < p->n_mx; i++)
		json_array_append_new(a, json_string(p->mx[i]));
	json_object_set_new(o, "mx", a);
	json_object_set_new(o, "addresses", sl_prefixes_json(p->addresses, p->n_addresses));
	if (p->has_auth) {
		a = json_array();
		for (size_t i = 0; a && i < p->auth.n_mechanisms; i++)
			json_array_append_new(a, sl_json_str(sl_sasl_mech_name(p->auth.mechanisms[i])));
		json_object_set_new(o, "auth", json_pack("{s:s, s:s, s:o}", "username",
			p->auth.username, "password_file", p->auth.password_file, "mechanisms", a));
	} else {
		json_object_set_new(o, "auth", json_null());
	}
	if (p->has_inbound) {
		json_t *req = json_array(), *acc = json_array();

		if (p->inbound.require & SL_REQUIRE_TLS)
			json_array_append_new(req, json_string("tls"));
		if (p->inbound.require & SL_REQUIRE_AUTH)
			json_array_append_new(req, json_string("auth"));
		if (p->inbound.require & SL_REQUIRE_CLIENT_CERT)
			json_array_append_new(req, json_string("client_cert"));
		for (size_t i = 0; acc && i < p->inbound.n_accounts; i++)
			json_array_append_new(acc, json_string(p->inbound.accounts[i].username));
		a = sl_prefixes_json(p->inbound.sources, p->inbound.n_sources);
		if (a && p->inbound.sources_mx)
			json_array_append_new(a, json_string("mx"));
		json_object_set_new(o, "inbound", json_pack("{s:o, s:o, s:s, s:o, s:o}",
			"sources", a, "require", req,
			"min_version", sl_tls_version_name(p->inbound.min_version),
			"accounts", acc, "client_ca_file", sl_json_str(p->inbound.client_ca_file)));
	} else {
		json_object_set_new(o, "inbound", json_null());
	}
	json_object_set_new(o, "defined_at", json_pack("{s:o, s:i, s:i}", "file",
		sl_json_str(p->pos.file), "line", (int)p->pos.line, "col", (int)p->pos.col));
	json_object_set_new(o, "dropin", json_boolean(p->dropin));
	return o;
}

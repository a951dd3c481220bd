/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test_status.c — per-partner run-time stats (pstats), the status
 * document, its health rule and the Prometheus rendering, on a policy
 * and fake maps.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inbound.h"
#include "outbound.h"
#include "pstats.h"
#include "status.h"
#include "tap.h"

/* ---- fake maps: a.example has id 1, gone.example id 5 (not in the policy) -- */

static const char *const cnames[] = { "redirected", "guard_drop" };

static int f_counters(void *arg, uint32_t id, uint64_t *v)
{
	(void)arg;
	v[0] = 100 + id;
	v[1] = id;
	return 0;
}

static int f_meta(void *arg, struct sl_policy_meta *out)
{
	(void)arg;
	memset(out, 0, SL_MAX_POLICIES * sizeof(*out));
	strcpy(out[1].domain, "a.example");
	out[1].direction = SL_DIR_OUTBOUND;
	strcpy(out[5].domain, "gone.example");
	out[5].direction = SL_DIR_OUTBOUND;
	out[5].min_tls = 0x0304;
	out[5].verify = SL_VERIFY_FINGERPRINT;
	return 0;
}

static int f_entries(void *arg, bool inbound, struct sl_status_entry **ret, size_t *n)
{
	struct sl_status_entry *v = calloc(2, sizeof(*v));

	(void)arg;
	if (inbound) {
		*ret = v;
		*n = 0;
		return 0;
	}
	v[0].key.prefixlen = 128;
	v[0].key.addr[10] = v[0].key.addr[11] = 0xff;
	v[0].key.addr[12] = 192; v[0].key.addr[13] = 0; v[0].key.addr[14] = 2; v[0].key.addr[15] = 10;
	v[0].policy_id = 5;
	v[1] = v[0];
	v[1].key.addr[15] = 11;
	v[1].policy_id = 1;
	*ret = v;
	*n = 2;
	return 0;
}

static const struct sl_status_maps fmaps = {
	.counter_names = cnames, .n_counters = 2,
	.counters = f_counters, .meta = f_meta, .entries = f_entries,
};

static struct sl_policy *load_policy(char *dir)
{
	char path[300];
	struct sl_policy *p = NULL;
	FILE *f;

	snprintf(path, sizeof(path), "%s/policy.yaml", dir);
	f = fopen(path, "w");
	fprintf(f, "version: 1\ncontroller:\n  hostname: mail.test\n"
		"defaults:\n  tls: { verify: none }\n"
		"partners:\n  - domain: a.example\n    addresses: [192.0.2.11]\n"
		"  - domain: b.example\n    mode: testing\n    mx: [mx.b.example]\n");
	fclose(f);
	if (sl_policy_load(path, &p, NULL) < 0)
		return NULL;
	unlink(path);
	return p;
}

static json_t *partner(json_t *doc, const char *d)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(doc, "partners"), i, v)
		if (!strcmp(json_string_value(json_object_get(v, "domain")), d))
			return v;
	return NULL;
}

static bool has_problem(json_t *doc, const char *needle)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(doc, "health"), "problems"), i, v)
		if (strstr(json_string_value(v), needle))
			return true;
	return false;
}

static void test_pstats(void)
{
	struct sl_pstats *s = NULL;
	struct sl_outbound_result o = { .result = "relayed", .path = SL_DATAPATH_USERSPACE };
	struct sl_inbound_result in = { .result = "refused" };
	struct sl_pstats_addr a[2];
	const struct sl_pstat *e;
	uint64_t paths[SL_PSTATS_PATHS];
	const char *keep[] = { "a.example" };

	tap_int(sl_pstats_new(&s), 0, "pstats: new");
	sl_pstats_outbound_done(s, "a.example", &o);
	o.result = "deferred";
	strcpy(o.reason, "partner offers no STARTTLS\x01\n");
	sl_pstats_outbound_done(s, "a.example", &o);
	o.result = "aborted";
	o.reason[0] = 0;
	sl_pstats_outbound_done(s, "a.example", &o);	/* MTA hung up: not counted */
	o.result = "pass";
	sl_pstats_outbound_done(s, "a.example", &o);	/* probe: not counted */
	strcpy(in.reason, "no AUTH");
	sl_pstats_inbound_done(s, "b.example", &in);
	e = sl_pstats_find(s, "a.example");
	tap_ok(e && e->ok[SL_PSTATS_OUT] == 1 && e->failed[SL_PSTATS_OUT] == 1,
	       "pstats: relayed = ok, deferred = failed, aborted without reason and probe ignored");
	tap_ok(e && e->last_failure > 0 && !strchr(e->last_reason, '\x01') &&
	       !strchr(e->last_reason, '\n'), "pstats: last reason made printable (%s)",
	       e ? e->last_reason : "-");
	e = sl_pstats_find(s, "b.example");
	tap_ok(e && e->failed[SL_PSTATS_IN] == 1 && !strcmp(e->last_reason, "no AUTH"),
	       "pstats: inbound refusal counted with its reason");
	sl_pstats_paths(s, paths);
	tap_int((long long)paths[SL_DATAPATH_USERSPACE], 2, "pstats: sessions per data path");
	memset(a, 0, sizeof(a));
	a[0].addr[10] = a[0].addr[11] = 0xff;
	a[0].addr[15] = 1;
	strcpy(a[0].host, "mx.a.example");
	a[0].expires = time(NULL) + 300;
	tap_int(sl_pstats_set_addrs(s, "a.example", a, 1), 0, "pstats: addresses set");
	sl_pstats_retain(s, keep, 1);
	tap_ok(sl_pstats_find(s, "a.example") && !sl_pstats_find(s, "b.example"),
	       "pstats: retain drops partners that left");
	tap_ok(!sl_pstats_find(s, "nobody.example"), "pstats: unknown partner: none");
	sl_pstats_free(s);
}

static void test_status(struct sl_policy *pol)
{
	struct sl_status_prog progs[2] = {
		{ .name = "connect4", .attached = true, .link_id = 7, .prog_id = 9,
		  .attach_type = "cgroup_inet4_connect", .target = "cgroup /x" },
		{ .name = "egress", .attached = true, .link_id = 8, .prog_id = 10,
		  .attach_type = "cgroup_inet_egress", .target = "cgroup /x" },
	};
	struct sl_pstats *ps = NULL;
	struct sl_pstats_addr a;
	struct sl_status_src src = {
		.running = true, .pid = 42, .started = time(NULL) - 60, .version = "t",
		.policy_path = "/etc/p.yaml", .policy = pol, .pin_path = "/sys/fs/bpf/x",
		.progs = progs, .n_progs = 2, .maps = &fmaps,
	};
	json_t *doc, *p, *ad;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	sl_pstats_new(&ps);
	src.pstats = ps;
	memset(&a, 0, sizeof(a));
	a.addr[10] = a.addr[11] = 0xff;
	a.addr[12] = 198; a.addr[13] = 51; a.addr[14] = 100; a.addr[15] = 7;
	strcpy(a.host, "mx.b.example");
	a.expires = time(NULL) + 120;
	sl_pstats_set_addrs(ps, "b.example", &a, 1);
	sl_pstats_session(ps, "a.example", SL_PSTATS_OUT, false, "TLS below 1.3", SL_DATAPATH_NONE);

	doc = sl_status_build(&src, time(NULL));
	tap_ok(doc != NULL, "status: built");
	tap_int(json_array_size(json_object_get(doc, "partners")), 3,
		"status: partners = policy (2) + maps-only (1)");
	p = partner(doc, "a.example");
	tap_ok(json_is_true(json_object_get(p, "enforced")) &&
	       json_integer_value(json_object_get(p, "policy_id")) == 1,
	       "status: a.example enforced as id 1");
	tap_int(json_integer_value(json_object_get(json_object_get(p, "counters"), "redirected")),
		101, "status: per-partner counters read by id");
	tap_str(json_string_value(json_object_get(json_object_get(p, "last_failure"), "reason")),
		"TLS below 1.3", "status: last failure reason");
	tap_str(json_string_value(json_object_get(json_array_get(json_object_get(p, "addresses"), 0),
						  "address")), "192.0.2.11",
		"status: a.example's address from the maps (no DNS state)");
	p = partner(doc, "b.example");
	ad = json_array_get(json_object_get(p, "addresses"), 0);
	tap_ok(json_is_false(json_object_get(p, "enforced")), "status: b.example not in the maps");
	tap_str(json_string_value(json_object_get(ad, "host")), "mx.b.example",
		"status: DNS address with its MX host");
	tap_ok(json_integer_value(json_object_get(ad, "ttl_left_s")) > 100 &&
	       json_integer_value(json_object_get(ad, "ttl_left_s")) <= 120,
	       "status: TTL left counted down from the expiry");
	p = partner(doc, "gone.example");
	tap_ok(json_is_false(json_object_get(p, "in_policy")) &&
	       !strcmp(json_string_value(json_object_get(p, "min_tls")), "TLSv1.3") &&
	       !strcmp(json_string_value(json_object_get(p, "verify")), "fingerprint"),
	       "status: a maps-only partner described from policy_meta");
	tap_int(sl_status_health(doc), 1, "health: degraded (b.example not in the maps)");
	tap_ok(has_problem(doc, "b.example: in the policy but not in the kernel maps"),
	       "health: names the partner missing from the maps");

	f = open_memstream(&text, &len);
	sl_status_prometheus(doc, f);
	fclose(f);
	tap_ok(strstr(text, "smtplock_up 1\n") != NULL, "prometheus: smtplock_up");
	tap_ok(strstr(text, "smtplock_guard_drop_total{domain=\"gone.example\"} 5\n") != NULL,
	       "prometheus: per-partner kernel counter");
	tap_ok(strstr(text, "smtplock_sessions_total{domain=\"a.example\",direction=\"outbound\","
			    "result=\"failed\"} 1\n") != NULL, "prometheus: sessions by result");
	tap_ok(strstr(text, "# TYPE smtplock_redirected_total counter\n") != NULL,
	       "prometheus: TYPE lines");
	free(text);
	json_decref(doc);

	/* Controller down, programs pinned: degraded with the fail-closed line. */
	src.running = false;
	src.pstats = NULL;
	doc = sl_status_build(&src, time(NULL));
	tap_ok(json_is_null(json_object_get(json_object_get(doc, "controller"), "pid")),
	       "down: no pid");
	tap_int(sl_status_health(doc), 1, "down: degraded");
	tap_ok(has_problem(doc, "enforcement ACTIVE (fail-closed)"), "down: says fail-closed");
	json_decref(doc);

	/* Nothing attached: not enforcing. */
	progs[0].attached = progs[1].attached = false;
	doc = sl_status_build(&src, time(NULL));
	tap_int(sl_status_health(doc), 2, "no program attached: not enforcing");
	tap_str(json_string_value(json_object_get(json_object_get(doc, "health"), "state")),
		"not enforcing", "health state text");
	json_decref(doc);

	/* Healthy: running, all attached, every partner in the maps with an address. */
	progs[0].attached = progs[1].attached = true;
	src.running = true;
	src.pstats = ps;
	src.policy = NULL;
	src.policy_error = NULL;
	doc = sl_status_build(&src, time(NULL));
	sl_pstats_set_addrs(ps, "a.example", &a, 1);
	sl_pstats_set_addrs(ps, "gone.example", &a, 1);
	json_decref(doc);
	doc = sl_status_build(&src, time(NULL));
	tap_int(sl_status_health(doc), 0, "healthy when all is in place");
	json_decref(doc);
	sl_pstats_free(ps);
}

static void test_partner_policy(struct sl_policy *pol)
{
	json_t *j = sl_status_partner_policy(sl_policy_find(pol, "b.example"));

	tap_str(json_string_value(json_object_get(j, "mode")), "testing", "partner json: mode");
	tap_str(json_string_value(json_array_get(json_object_get(j, "mx"), 0)), "mx.b.example",
		"partner json: mx");
	tap_int(json_integer_value(json_object_get(json_object_get(j, "defined_at"), "line")), 9,
		"partner json: where it is defined");
	json_decref(j);
}

int main(void)
{
	char dir[] = "/tmp/sl-test-status.XXXXXX";
	struct sl_policy *pol;

	test_pstats();
	if (!mkdtemp(dir))
		return 1;
	pol = load_policy(dir);
	rmdir(dir);
	if (!tap_ok(pol != NULL, "test policy loads"))
		return tap_done();
	test_status(pol);
	test_partner_policy(pol);
	sl_policy_free(pol);
	return tap_done();
}

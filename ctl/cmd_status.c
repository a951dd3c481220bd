/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * cmd_status.c — `smtplock status [--json] [-c FILE] [--socket PATH]`.
 *
 * From the controller when it runs, otherwise from the pinned maps: the
 * one line an administrator must never misread comes first, e.g.
 *
 *	controller DOWN — enforcement ACTIVE (fail-closed)
 *
 * Exit 0 healthy, 1 degraded, 2 not enforcing (status.h has the rule).
 */
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "ctl.h"

static const char *sl_s(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "-";
}

static long long sl_i(const json_t *o, const char *k)
{
	return (long long)json_integer_value(json_object_get(o, k));
}

static void sl_duration(long long s, char *buf, size_t len)
{
	if (s < 120)
		snprintf(buf, len, "%llds", s);
	else if (s < 7200)
		snprintf(buf, len, "%lldm%02llds", s / 60, s % 60);
	else if (s < 172800)
		snprintf(buf, len, "%lldh%02lldm", s / 3600, s / 60 % 60);
	else
		snprintf(buf, len, "%lldd%02lldh", s / 86400, s / 3600 % 24);
}

static void sl_print_headline(const json_t *doc)
{
	json_t *ctl = json_object_get(doc, "controller"), *enf = json_object_get(doc, "enforcement");
	bool running = json_is_true(json_object_get(ctl, "running"));
	long long att = sl_i(enf, "programs_attached"), tot = sl_i(enf, "programs_total");
	char up[32];

	if (running) {
		sl_duration(sl_i(ctl, "uptime_s"), up, sizeof(up));
		printf("controller  running: pid %lld, up %s, user %s, version %s\n",
		       sl_i(ctl, "pid"), up, sl_s(ctl, "user"), sl_s(ctl, "version"));
		printf("enforcement %s\n", att == 0 ? "NONE (no program attached)" :
		       att < tot ? "PARTIAL (a program is missing)" : "ACTIVE");
	} else if (att > 0) {
		printf("controller DOWN — enforcement ACTIVE (fail-closed)\n");
		printf("            listed connections are refused (mail waits in the queue);"
		       " plaintext to partners is dropped\n");
	} else {
		printf("controller DOWN — enforcement NONE (nothing attached)\n");
	}
}

static void sl_print_general(const json_t *doc)
{
	json_t *pol = json_object_get(doc, "policy"), *enf = json_object_get(doc, "enforcement");
	json_t *progs = json_object_get(doc, "programs"), *c = json_object_get(doc, "counters");
	json_t *dp = json_object_get(doc, "datapath"), *v;
	const char *sha = json_string_value(json_object_get(pol, "sha256")), *key;
	size_t i;

	printf("policy      %s", sl_s(pol, "path"));
	if (sha)
		printf("  sha256 %.16s…  %lld partner%s", sha, sl_i(pol, "partners"),
		       sl_i(pol, "partners") == 1 ? "" : "s");
	else
		printf("  (%s)", sl_s(pol, "error"));
	printf("\npins        %s  cgroup %s\n", sl_s(enf, "pin_path"), sl_s(enf, "cgroup"));
	printf("programs    %lld/%lld attached\n", sl_i(enf, "programs_attached"),
	       sl_i(enf, "programs_total"));
	json_array_foreach(progs, i, v) {
		if (json_is_true(json_object_get(v, "attached")))
			printf("  %-15s %-24s %s (link %lld, prog %lld)\n", sl_s(v, "name"),
			       sl_s(v, "attach_type"), sl_s(v, "target"), sl_i(v, "link_id"),
			       sl_i(v, "prog_id"));
		else
			printf("  %-15s NOT ATTACHED\n", sl_s(v, "name"));
	}
	printf("kernel TLS  %s\n", sl_s(json_object_get(doc, "kernel"), "ktls"));
	if (json_is_object(dp)) {
		printf("data path  ");
		json_object_foreach(dp, key, v)
			printf(" %s %lld", key, (long long)json_integer_value(v));
		printf(" (sessions)\n");
	}
	if (json_is_object(c)) {
		printf("counters   ");
		json_object_foreach(c, key, v)
			printf(" %s %lld", key, (long long)json_integer_value(v));
		printf("\n");
	}
}

static void sl_print_partner(const json_t *p)
{
	json_t *addrs = json_object_get(p, "addresses"), *s = json_object_get(p, "sessions");
	json_t *lf = json_object_get(p, "last_failure"), *c = json_object_get(p, "counters");
	json_t *dns = json_object_get(p, "dns"), *a;
	size_t i;
	char ago[32];

	printf("\npartner %s  [%s, %s, min %s, verify %s", sl_s(p, "domain"),
	       sl_s(p, "direction"), sl_s(p, "mode"), sl_s(p, "min_tls"), sl_s(p, "verify"));
	if (json_is_integer(json_object_get(p, "policy_id")))
		printf(", id %lld", sl_i(p, "policy_id"));
	printf("]%s%s\n", json_is_true(json_object_get(p, "enforced")) ? "" : "  NOT ENFORCED",
	       json_is_true(json_object_get(p, "in_policy")) ? "" : "  (not in the policy file)");
	printf("  addresses ");
	if (!json_array_size(addrs))
		printf(" none");
	json_array_foreach(addrs, i, a) {
		printf("%s %s (%s", i ? "," : "", sl_s(a, "address"), sl_s(a, "source"));
		if (json_is_string(json_object_get(a, "host")))
			printf(" %s", sl_s(a, "host"));
		if (json_is_integer(json_object_get(a, "ttl_left_s")))
			printf(", ttl %llds", sl_i(a, "ttl_left_s"));
		if (!strcmp(sl_s(a, "direction"), "inbound"))
			printf(", inbound");
		printf(")");
	}
	printf("\n");
	if (json_is_string(json_object_get(dns, "error")))
		printf("  dns        last lookup failed %s: %s\n", sl_s(dns, "failed_at"),
		       sl_s(dns, "error"));
	printf("  sessions   %lld ok, %lld failed", sl_i(s, "ok"), sl_i(s, "failed"));
	if (json_is_object(lf)) {
		sl_duration(sl_i(lf, "ago_s"), ago, sizeof(ago));
		printf("; last failure %s (%s ago, %s): %s", sl_s(lf, "time"), ago,
		       sl_s(lf, "direction"), sl_s(lf, "reason"));
	}
	printf("\n");
	if (json_is_object(c))
		printf("  kernel     %lld redirected, %lld guard drops, %lld would-drop (testing)\n",
		       sl_i(c, "redirected"), sl_i(c, "guard_drop"), sl_i(c, "would_drop"));
}

static void sl_print_health(const json_t *doc)
{
	json_t *h = json_object_get(doc, "health"), *v;
	size_t i;

	printf("\nhealth      %s\n", sl_s(h, "state"));
	json_array_foreach(json_object_get(h, "problems"), i, v)
		printf("  problem: %s\n", json_string_value(v));
	json_array_foreach(json_object_get(h, "notes"), i, v)
		printf("  note: %s\n", json_string_value(v));
}

int cmd_status(int argc, char **argv)
{
	const char *policy = NULL, *sock = NULL;
	struct sl_admin a;
	bool json = false;
	json_t *doc, *p;
	int c, code = 2;
	size_t i;
	const struct sl_admin_flag flags[] = { { "json", 'j', &json }, { NULL, 0, NULL } };

	c = sl_admin_getopt("status", argc, argv, flags, &policy, &sock);
	if (c != SL_EXIT_OK)
		return c;
	sl_admin_init(&a, "status", policy, sock);
	doc = sl_admin_status(&a, &code);
	sl_admin_done(&a);
	if (!doc)
		return SL_EXIT_USAGE;	/* could not tell: treat as not enforcing */
	if (json) {
		sl_admin_print_json(doc);
	} else {
		sl_print_headline(doc);
		sl_print_general(doc);
		json_array_foreach(json_object_get(doc, "partners"), i, p)
			sl_print_partner(p);
		sl_print_health(doc);
	}
	json_decref(doc);
	return code;
}

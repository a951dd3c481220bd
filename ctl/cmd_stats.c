/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * cmd_stats.c — `smtplock stats [--prometheus | --json] [-c FILE]
 * [--socket PATH]`: the kernel counters and the sessions per partner.
 * --prometheus writes the text exposition format for node_exporter's
 * textfile collector (metric names smtplock_*).
 */
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "ctl.h"

static void sl_stats_text(const json_t *doc)
{
	json_t *c = json_object_get(doc, "counters"), *p, *v;
	const char *key;
	size_t i;

	printf("%-28s", "PARTNER");
	json_object_foreach(c, key, v)
		printf(" %15s", key);
	printf(" %9s %9s\n", "sess_ok", "sess_fail");
	printf("%-28s", "(all)");
	json_object_foreach(c, key, v)
		printf(" %15lld", (long long)json_integer_value(v));
	printf("\n");
	json_array_foreach(json_object_get(doc, "partners"), i, p) {
		json_t *pc = json_object_get(p, "counters"), *s = json_object_get(p, "sessions");

		printf("%-28s", json_string_value(json_object_get(p, "domain")));
		json_object_foreach(c, key, v)
			printf(" %15lld", (long long)json_integer_value(json_object_get(pc, key)));
		printf(" %9lld %9lld\n", (long long)json_integer_value(json_object_get(s, "ok")),
		       (long long)json_integer_value(json_object_get(s, "failed")));
	}
	if (!json_is_object(c))
		printf("(kernel counters not readable)\n");
}

int cmd_stats(int argc, char **argv)
{
	const char *policy = NULL, *sock = NULL;
	bool prom = false, json = false;
	struct sl_admin a;
	json_t *doc;
	int c, code = 0;
	const struct sl_admin_flag flags[] = {
		{ "prometheus", 'p', &prom }, { "json", 'j', &json }, { NULL, 0, NULL }
	};

	c = sl_admin_getopt("stats", argc, argv, flags, &policy, &sock);
	if (c != SL_EXIT_OK)
		return c;
	if (prom && json)
		return sl_usage_error("stats", "--prometheus and --json exclude each other");
	sl_admin_init(&a, "stats", policy, sock);
	doc = sl_admin_status(&a, &code);
	sl_admin_done(&a);
	if (!doc)
		return SL_EXIT_FAIL;
	if (prom) {
		sl_status_prometheus(doc, stdout);
	} else if (json) {
		json_t *out = json_pack("{s:O, s:O, s:O, s:[]}", "controller",
					json_object_get(doc, "controller"), "counters",
					json_object_get(doc, "counters"), "datapath",
					json_object_get(doc, "datapath"), "partners");
		json_t *p;
		size_t i;

		json_array_foreach(json_object_get(doc, "partners"), i, p)
			json_array_append_new(json_object_get(out, "partners"),
				json_pack("{s:O, s:O, s:O}", "domain", json_object_get(p, "domain"),
					  "counters", json_object_get(p, "counters"),
					  "sessions", json_object_get(p, "sessions")));
		sl_admin_print_json(out);
		json_decref(out);
	} else {
		sl_stats_text(doc);
	}
	json_decref(doc);
	return fflush(stdout) == 0 && !ferror(stdout) ? SL_EXIT_OK : SL_EXIT_FAIL;
}

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * status_prom.c — the status document in the Prometheus text exposition
 * format 0.0.4 (status.h), for node_exporter's textfile collector.
 */
#include <errno.h>
#include <stdio.h>
#include <time.h>

#include "status.h"

/* ---- Prometheus ------------------------------------------------------------------ */

/* A label value: \ " and newline escaped (exposition format 0.0.4). */
static void sl_prom_label(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			fprintf(f, "\\%c", *s);
		else if (*s == '\n')
			fputs("\\n", f);
		else
			fputc(*s, f);
	}
}

static void sl_prom_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP smtplock_%s %s\n# TYPE smtplock_%s %s\n", name, help, name, type);
}

int sl_status_prometheus(const json_t *doc, FILE *f)
{
	json_t *ctl = json_object_get(doc, "controller"), *enf = json_object_get(doc, "enforcement");
	json_t *partners = json_object_get(doc, "partners"), *counters = json_object_get(doc, "counters");
	json_t *dp = json_object_get(doc, "datapath"), *v, *p;
	const char *key;
	size_t i;

	sl_prom_head(f, "up", "gauge", "1 when the controller is running.");
	fprintf(f, "smtplock_up %d\n", json_is_true(json_object_get(ctl, "running")));
	sl_prom_head(f, "programs_attached", "gauge", "BPF programs attached (pinned links).");
	fprintf(f, "smtplock_programs_attached %lld\n",
		(long long)json_integer_value(json_object_get(enf, "programs_attached")));
	if (json_is_integer(json_object_get(ctl, "uptime_s"))) {
		sl_prom_head(f, "uptime_seconds", "gauge", "Seconds since the controller started.");
		fprintf(f, "smtplock_uptime_seconds %lld\n",
			(long long)json_integer_value(json_object_get(ctl, "uptime_s")));
	}
	sl_prom_head(f, "partners", "gauge", "Partner domains enforced in the kernel maps.");
	{
		long long n = 0;

		json_array_foreach(partners, i, p)
			n += json_is_true(json_object_get(p, "enforced"));
		fprintf(f, "smtplock_partners %lld\n", n);
	}
	/* Kernel counters: global totals, then per partner, one family each. */
	json_object_foreach((json_t *)counters, key, v) {
		char name[80];

		snprintf(name, sizeof(name), "%s_total", key);
		sl_prom_head(f, name, "counter", "Kernel counter (see smtplock(8), STATISTICS).");
		fprintf(f, "smtplock_%s{domain=\"\"} %lld\n", name, (long long)json_integer_value(v));
		json_array_foreach(partners, i, p) {
			json_t *pc = json_object_get(json_object_get(p, "counters"), key);

			if (!json_is_integer(pc))
				continue;
			fprintf(f, "smtplock_%s{domain=\"", name);
			sl_prom_label(f, json_string_value(json_object_get(p, "domain")));
			fprintf(f, "\"} %lld\n", (long long)json_integer_value(pc));
		}
	}
	sl_prom_head(f, "sessions_total", "counter",
		     "Sessions since the controller started, by partner, direction and result.");
	json_array_foreach(partners, i, p) {
		static const char *const dirs[] = { "outbound", "inbound" };
		json_t *s = json_object_get(p, "sessions");

		for (int d = 0; d < 2; d++)
			for (int ok = 1; ok >= 0; ok--) {
				char k[32];

				snprintf(k, sizeof(k), "%s_%s", dirs[d], ok ? "ok" : "failed");
				fputs("smtplock_sessions_total{domain=\"", f);
				sl_prom_label(f, json_string_value(json_object_get(p, "domain")));
				fprintf(f, "\",direction=\"%s\",result=\"%s\"} %lld\n", dirs[d],
					ok ? "ok" : "failed",
					(long long)json_integer_value(json_object_get(s, k)));
			}
	}
	sl_prom_head(f, "last_failure_timestamp_seconds", "gauge",
		     "Unix time of the last failed session of a partner (absent: none).");
	json_array_foreach(partners, i, p) {
		json_t *lf = json_object_get(p, "last_failure");
		json_int_t ago = json_integer_value(json_object_get(lf, "ago_s"));

		if (!json_is_object(lf))
			continue;
		fputs("smtplock_last_failure_timestamp_seconds{domain=\"", f);
		sl_prom_label(f, json_string_value(json_object_get(p, "domain")));
		fprintf(f, "\"} %lld\n", (long long)(time(NULL) - ago));
	}
	sl_prom_head(f, "partner_addresses", "gauge", "Addresses locked per partner.");
	json_array_foreach(partners, i, p) {
		fputs("smtplock_partner_addresses{domain=\"", f);
		sl_prom_label(f, json_string_value(json_object_get(p, "domain")));
		fprintf(f, "\"} %zu\n", json_array_size(json_object_get(p, "addresses")));
	}
	if (json_is_object(dp)) {
		sl_prom_head(f, "datapath_sessions_total", "counter",
			     "Relayed sessions by data path (kernel TLS or userspace).");
		json_object_foreach((json_t *)dp, key, v)
			fprintf(f, "smtplock_datapath_sessions_total{path=\"%s\"} %lld\n", key,
				(long long)json_integer_value(v));
	}
	return ferror(f) ? -EIO : 0;
}

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * admin.c — shared by the administrator's commands (admin.h).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <yaml.h>

#include "admin.h"
#include "control.h"
#include "ctl.h"
#include "ctlsrv.h"
#include "ktls.h"

#define SL_ADMIN_TIMEOUT_MS 15000

/*
 * From a policy that does not load (being edited, broken — exactly when
 * `reload` must still reach the controller to report the errors): only
 * controller.control_socket and controller.pin_path, by a plain YAML walk.
 */
static void sl_admin_salvage(struct sl_admin *a)
{
	yaml_parser_t parser;
	yaml_event_t ev;
	FILE *f = fopen(a->policy_path, "re");
	int depth = 0;
	bool in_ctl = false, want_val = false;
	char **target = NULL, *top_key = NULL;

	if (!f)
		return;
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		return;
	}
	yaml_parser_set_input_file(&parser, f);
	for (;;) {
		bool is_key;

		if (!yaml_parser_parse(&parser, &ev))
			break;
		if (ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			break;
		}
		switch (ev.type) {
		case YAML_MAPPING_START_EVENT:
		case YAML_SEQUENCE_START_EVENT:
			if (depth == 1)
				in_ctl = top_key && !strcmp(top_key, "controller") &&
					 ev.type == YAML_MAPPING_START_EVENT;
			if (depth == 1 || (depth == 2 && in_ctl))
				want_val = false;	/* a key's value */
			depth++;
			break;
		case YAML_MAPPING_END_EVENT:
		case YAML_SEQUENCE_END_EVENT:
			depth--;
			if (depth == 1) {
				in_ctl = false;
				want_val = false;
			}
			break;
		case YAML_SCALAR_EVENT:
			is_key = !want_val;
			if (depth == 1) {
				if (is_key) {
					free(top_key);
					top_key = strdup((char *)ev.data.scalar.value);
				}
				want_val = is_key;
			} else if (depth == 2 && in_ctl) {
				if (is_key) {
					const char *k = (char *)ev.data.scalar.value;

					target = !strcmp(k, "control_socket") ? &a->salvaged_socket :
						 !strcmp(k, "pin_path") ? &a->salvaged_pin_path : NULL;
				} else if (target && !*target) {
					*target = strdup((char *)ev.data.scalar.value);
					target = NULL;
				}
				want_val = is_key;
			}
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	free(top_key);
	yaml_parser_delete(&parser);
	fclose(f);
}

#define SL_ADMIN_MAX_FLAGS 4

int sl_admin_getopt(const char *cmd, int argc, char **argv, const struct sl_admin_flag *flags,
		    const char **policy_path, const char **socket)
{
	struct option opts[SL_ADMIN_MAX_FLAGS + 3] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
	};
	char optstr[2 * SL_ADMIN_MAX_FLAGS + 8] = "c:s:";
	size_t n = 0, o = strlen(optstr);
	int c;

	for (; flags && flags[n].name && n < SL_ADMIN_MAX_FLAGS; n++) {
		opts[2 + n] = (struct option){ flags[n].name, no_argument, NULL, flags[n].c };
		optstr[o++] = flags[n].c;
	}
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, optstr, opts, NULL)) != -1) {
		size_t i;

		if (c == 'c') {
			*policy_path = optarg;
			continue;
		}
		if (c == 's') {
			*socket = optarg;
			continue;
		}
		for (i = 0; i < n && flags[i].c != c; i++)
			;
		if (i == n)
			return sl_usage_error(cmd, "unknown option or missing value '%s'",
					      argv[optind - 1]);
		*flags[i].set = true;
	}
	if (optind != argc)
		return sl_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	return SL_EXIT_OK;
}

void sl_admin_init(struct sl_admin *a, const char *cmd, const char *policy_path,
		   const char *socket)
{
	memset(a, 0, sizeof(*a));
	a->cmd = cmd;
	a->policy_path = policy_path ? policy_path : SL_DEFAULT_POLICY;
	a->socket = socket;
	a->policy_err = sl_policy_load(a->policy_path, &a->policy, &a->diags);
	if (a->policy_err < 0)
		sl_admin_salvage(a);
}

void sl_admin_done(struct sl_admin *a)
{
	sl_policy_free(a->policy);
	sl_diags_done(&a->diags);
	free(a->salvaged_socket);
	free(a->salvaged_pin_path);
	memset(a, 0, sizeof(*a));
}

const char *sl_admin_socket(const struct sl_admin *a)
{
	if (a->socket)
		return a->socket;
	if (a->policy && a->policy->controller.control_socket)
		return a->policy->controller.control_socket;
	if (a->salvaged_socket)
		return a->salvaged_socket;
	return SL_CONTROL_DEFAULT_PATH;
}

const char *sl_admin_pin_path(const struct sl_admin *a)
{
	if (a->policy && a->policy->controller.pin_path)
		return a->policy->controller.pin_path;
	if (a->salvaged_pin_path)
		return a->salvaged_pin_path;
	return SL_PIN_DEFAULT;
}

const char *sl_admin_cgroup(const struct sl_admin *a)
{
	if (a->policy && a->policy->controller.cgroup)
		return a->policy->controller.cgroup;
	return "auto";
}

int sl_admin_call(const struct sl_admin *a, const char *cmd, json_t *args, json_t **ret)
{
	return sl_control_call(sl_admin_socket(a), cmd, args, SL_ADMIN_TIMEOUT_MS, ret);
}

bool sl_admin_down(int err)
{
	return err == -ENOENT || err == -ECONNREFUSED;
}

void sl_admin_call_error(const struct sl_admin *a, int err)
{
	const char *hint = "";

	if (err == -EACCES)
		hint = " (read-only commands need root or a member of controller.group)";
	else if (sl_admin_down(err))
		hint = " (the controller is not running)";
	fprintf(stderr, "%s: %s: cannot reach the controller at %s: %s%s\n", sl_progname, a->cmd,
		sl_admin_socket(a), strerror(-err), hint);
}

void sl_admin_reply_error(const struct sl_admin *a, const json_t *reply)
{
	json_t *diags = sl_control_reply_diags(reply), *d;
	size_t i;

	json_array_foreach(diags, i, d) {
		const char *file = json_string_value(json_object_get(d, "file"));
		json_int_t line = json_integer_value(json_object_get(d, "line"));
		json_int_t col = json_integer_value(json_object_get(d, "col"));
		const char *msg = json_string_value(json_object_get(d, "message"));

		if (line)
			fprintf(stderr, "%s:%lld:%lld: error: %s\n", file ? file : "-", (long long)line,
				(long long)col, msg ? msg : "");
		else
			fprintf(stderr, "%s: error: %s\n", file ? file : "-", msg ? msg : "");
	}
	fprintf(stderr, "%s: %s: %s\n", sl_progname, a->cmd, sl_control_reply_message(reply));
}

/* What the kernel offers for kernel TLS (lib/ktls probes it on loopback). */
void sl_admin_ktls(char *buf, size_t len)
{
	struct sl_ktls_caps caps;

	sl_ktls_probe(&caps);
	sl_ktls_caps_str(&caps, buf, len);
}

json_t *sl_admin_status_offline(const struct sl_admin *a, bool quiet)
{
	char ktls[SL_KTLS_CAPS_STR];

	struct sl_status_prog progs[SL_CTLSRV_MAX_PROGS];
	const struct sl_status_maps *maps = NULL;
	struct sl_admin_pins *pins = NULL;
	char cgdir[4096], perr[512] = "";
	size_t n_progs = SL_CTLSRV_MAX_PROGS;
	const char *cg = sl_admin_cgroup(a);
	struct sl_status_src src = {
		.version = SL_VERSION,
		.policy_path = a->policy_path,
		.policy = a->policy,
		.pin_path = sl_admin_pin_path(a),
		.progs = progs,
	};
	json_t *doc;
	int r;

	if (!a->policy) {
		if (a->diags.n)
			snprintf(perr, sizeof(perr), "%s:%u:%u: %s", a->diags.v[0].file ?
				 a->diags.v[0].file : a->policy_path, a->diags.v[0].line,
				 a->diags.v[0].col, a->diags.v[0].msg);
		else
			snprintf(perr, sizeof(perr), "%s: %s", a->policy_path, strerror(-a->policy_err));
		src.policy_error = perr;
	}
	snprintf(cgdir, sizeof(cgdir), "%s", cg);
	src.cgroup = cgdir;
	sl_admin_ktls(ktls, sizeof(ktls));
	src.ktls = ktls;
	memset(progs, 0, sizeof(progs));
	r = sl_admin_programs(src.pin_path, strcmp(cg, "auto") ? cg : NULL, progs, &n_progs);
	if (r == -EACCES || r == -EPERM || r == -ENOSYS) {
		/* Never claim "not enforcing" when we could not look. */
		if (!quiet)
			fprintf(stderr, "%s: %s: the controller is not running and the pins "
				"under %s cannot be read: %s\n", sl_progname, a->cmd, src.pin_path,
				r == -ENOSYS ? "this build has no BPF loader" :
				"permission denied (run as root)");
		return NULL;
	}
	src.n_progs = n_progs;
	r = sl_admin_pins_open(src.pin_path, &pins, &maps);
	if (r == 0) {
		src.maps = maps;
	} else {
		src.maps_error = r == -ENOENT ? NULL :
				 r == -EACCES || r == -EPERM ? "permission denied (run as root)" :
				 r == -ENOSYS ? "this build has no BPF loader" : strerror(-r);
	}
	doc = sl_status_build(&src, time(NULL));
	sl_admin_pins_close(pins);
	return doc;
}

json_t *sl_admin_status(const struct sl_admin *a, int *exit_code)
{
	json_t *reply = NULL, *doc;
	int r;

	r = sl_admin_call(a, "status", NULL, &reply);
	if (r == 0 && sl_control_reply_ok(reply)) {
		const char *run_sha, *pol_err;
		char disk[65];

		doc = json_incref(sl_control_reply_data(reply));
		json_decref(reply);
		if (!json_is_object(doc)) {
			json_decref(doc);
			fprintf(stderr, "%s: %s: the controller sent no status\n", sl_progname, a->cmd);
			return NULL;
		}
		/* What runs versus what is on disk: a pending reload. */
		run_sha = json_string_value(json_object_get(json_object_get(doc, "policy"), "sha256"));
		if (a->policy) {
			for (int i = 0; i < 32; i++)
				snprintf(disk + 2 * i, 3, "%02x", a->policy->sha256[i]);
			if (run_sha && strcmp(run_sha, disk))
				sl_status_add_problem(doc, "the policy on disk differs from the running "
						      "one: run `smtplock reload`");
		} else if (a->diags.n) {
			pol_err = a->diags.v[0].msg;
			sl_status_add_problem(doc, "the policy on disk does not load (%s:%u:%u: %s): "
					      "the running one stays in force",
					      a->diags.v[0].file ? a->diags.v[0].file : a->policy_path,
					      a->diags.v[0].line, a->diags.v[0].col, pol_err);
		}
	} else if (r == 0) {
		sl_admin_reply_error(a, reply);
		json_decref(reply);
		return NULL;
	} else if (sl_admin_down(r)) {
		doc = sl_admin_status_offline(a, false);
		if (!doc)
			return NULL;	/* said why */
	} else {
		sl_admin_call_error(a, r);
		return NULL;
	}
	if (!doc) {
		fprintf(stderr, "%s: %s: out of memory\n", sl_progname, a->cmd);
		return NULL;
	}
	*exit_code = sl_status_health(doc);
	return doc;
}

void sl_admin_print_json(const json_t *doc)
{
	json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	fflush(stdout);
}

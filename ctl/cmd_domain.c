/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * cmd_domain.c — `smtplock domain list | show D | add D [options] |
 * remove D`: partners as drop-in files.
 *
 * add writes policies.d/D.yaml next to the main policy and remove deletes
 * it; the main file is never rewritten (its comments are the admin's).
 * Both validate the whole resulting policy first (the loader's
 * sl_policy_load_opts with the drop-in that is not on disk yet, or
 * without the one about to go), then change the file atomically, then ask
 * a running controller to reload; if that reload fails, the file change
 * is undone so disk and kernel agree.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "admin.h"
#include "control.h"
#include "ctl.h"
#include "domain_yaml.h"

/* ---- common options ------------------------------------------------------------ */

struct sl_dom_opts {
	const char *policy, *sock;
	bool json;
};

static const struct option sl_dom_common[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "socket", required_argument, NULL, 's' },
	{ "json", no_argument, NULL, 'j' },
	{ NULL, 0, NULL, 0 },
};

/* Parse -c/--socket/--json and positional args; returns SL_EXIT_OK or usage. */
static int sl_dom_parse_common(int argc, char **argv, const char *verb, struct sl_dom_opts *o,
			       bool json_ok, int want_pos, char **pos)
{
	int c, n = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "c:s:j", sl_dom_common, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->policy = optarg;
			break;
		case 's':
			o->sock = optarg;
			break;
		case 'j':
			if (!json_ok)
				return sl_usage_error("domain", "%s: --json is not an option here",
						      verb);
			o->json = true;
			break;
		default:
			return sl_usage_error("domain", "%s: unknown option or missing value '%s'",
					      verb, argv[optind - 1]);
		}
	}
	for (; optind < argc; optind++) {
		if (n >= want_pos)
			return sl_usage_error("domain", "%s: unexpected argument '%s'", verb,
					      argv[optind]);
		pos[n++] = argv[optind];
	}
	if (n < want_pos)
		return sl_usage_error("domain", "%s: missing DOMAIN", verb);
	return SL_EXIT_OK;
}

static bool sl_dom_policy_ok(const struct sl_admin *a)
{
	if (a->policy)
		return true;
	sl_diags_print(&a->diags, stderr);
	if (!a->diags.n)
		fprintf(stderr, "%s: error: %s\n", a->policy_path, strerror(-a->policy_err));
	fprintf(stderr, "%s: domain: the current policy does not load; fix it first\n",
		sl_progname);
	return false;
}

/* The status document if it can be had without noise: the controller's,
 * or (root) the pinned maps'. */
static json_t *sl_dom_status_quiet(const struct sl_admin *a, bool *live)
{
	json_t *reply = NULL, *doc = NULL;
	int r = sl_admin_call(a, "status", NULL, &reply);

	*live = false;
	if (r == 0 && sl_control_reply_ok(reply)) {
		doc = json_incref(sl_control_reply_data(reply));
		*live = true;
	} else if (sl_admin_down(r) && geteuid() == 0 && a->policy) {
		doc = sl_admin_status_offline(a, true);
	}
	json_decref(reply);
	return doc;
}

static json_t *sl_dom_entry(const json_t *doc, const char *domain)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(doc, "partners"), i, v)
		if (!strcmp(json_string_value(json_object_get(v, "domain")) ?: "", domain))
			return v;
	return NULL;
}

/* ---- list ---------------------------------------------------------------------- */

static int sl_dom_list(int argc, char **argv)
{
	struct sl_dom_opts o = { 0 };
	struct sl_admin a;
	json_t *doc, *rows, *row, *v;
	bool live;
	size_t i;
	int rc = sl_dom_parse_common(argc, argv, "list", &o, true, 0, NULL);

	if (rc != SL_EXIT_OK)
		return rc;
	sl_admin_init(&a, "domain", o.policy, o.sock);
	doc = sl_dom_status_quiet(&a, &live);
	if (!a.policy && !live) {
		sl_dom_policy_ok(&a);
		sl_admin_done(&a);
		return SL_EXIT_FAIL;
	}
	rows = json_array();
	for (size_t k = 0; a.policy && k < a.policy->n_partners; k++) {
		const struct sl_partner *p = &a.policy->partners[k];
		json_t *e = sl_dom_entry(doc, p->domain);

		json_array_append_new(rows, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:b, s:o}",
			"domain", p->domain, "direction", sl_direction_name(p->direction),
			"mode", sl_mode_name(p->mode), "min_tls", sl_tls_version_name(p->tls.min_version),
			"verify", sl_verify_name(p->tls.verify), "file", p->pos.file ?: "-",
			"line", (int)p->pos.line, "dropin", p->dropin,
			"enforced", doc ? json_boolean(e && json_is_true(json_object_get(e, "enforced")))
				    : json_null()));
	}
	/* What runs but is not (or no longer) on disk. */
	json_array_foreach(json_object_get(doc, "partners"), i, v) {
		const char *d = json_string_value(json_object_get(v, "domain"));

		if (!d || (a.policy && sl_policy_find(a.policy, d)))
			continue;
		json_array_append_new(rows, json_pack("{s:s, s:O, s:O, s:O, s:O, s:n, s:n, s:b, s:O}",
			"domain", d, "direction", json_object_get(v, "direction"),
			"mode", json_object_get(v, "mode"), "min_tls", json_object_get(v, "min_tls"),
			"verify", json_object_get(v, "verify"), "file", "line", "dropin", 0,
			"enforced", json_object_get(v, "enforced")));
	}
	if (o.json) {
		sl_admin_print_json(rows);
	} else {
		printf("%-32s %-9s %-8s %-8s %-12s %-9s %s\n", "DOMAIN", "DIRECTION", "MODE",
		       "MIN_TLS", "VERIFY", "ENFORCED", "DEFINED IN");
		json_array_foreach(rows, i, row) {
			json_t *enf = json_object_get(row, "enforced");

			printf("%-32s %-9s %-8s %-8s %-12s %-9s ",
			       json_string_value(json_object_get(row, "domain")),
			       json_string_value(json_object_get(row, "direction")),
			       json_string_value(json_object_get(row, "mode")),
			       json_string_value(json_object_get(row, "min_tls")),
			       json_string_value(json_object_get(row, "verify")),
			       json_is_null(enf) ? "?" : json_is_true(enf) ? "yes" : "NO");
			if (json_is_string(json_object_get(row, "file")))
				printf("%s:%lld\n", json_string_value(json_object_get(row, "file")),
				       (long long)json_integer_value(json_object_get(row, "line")));
			else
				printf("(running only: not in the policy file)\n");
		}
		if (!json_array_size(rows))
			printf("(no partners)\n");
	}
	json_decref(rows);
	json_decref(doc);
	sl_admin_done(&a);
	return SL_EXIT_OK;
}

/* ---- show ---------------------------------------------------------------------- */

static void sl_show_value(const char *key, const json_t *v, int indent)
{
	const char *k;
	json_t *x;
	size_t i;

	if (json_is_object(v)) {
		printf("%*s%s:\n", indent, "", key);
		json_object_foreach((json_t *)v, k, x)
			sl_show_value(k, x, indent + 2);
		return;
	}
	printf("%*s%-*s ", indent, "", 18 - indent > 1 ? 18 - indent : 1, key);
	if (json_is_array(v)) {
		if (!json_array_size(v))
			printf("-");
		json_array_foreach(v, i, x) {
			if (json_is_object(x)) {
				printf("%s%s", i ? ", " : "",
				       json_string_value(json_object_get(x, "address")) ?: "?");
				if (json_is_integer(json_object_get(x, "ttl_left_s")))
					printf(" (ttl %llds)", (long long)json_integer_value(
						json_object_get(x, "ttl_left_s")));
			} else if (json_is_string(x)) {
				printf("%s%s", i ? ", " : "", json_string_value(x));
			} else {
				printf("%s%lld", i ? ", " : "", (long long)json_integer_value(x));
			}
		}
	} else if (json_is_string(v)) {
		printf("%s", json_string_value(v));
	} else if (json_is_integer(v)) {
		printf("%lld", (long long)json_integer_value(v));
	} else if (json_is_boolean(v)) {
		printf("%s", json_is_true(v) ? "yes" : "no");
	} else {
		printf("-");
	}
	printf("\n");
}

static int sl_dom_show(int argc, char **argv)
{
	struct sl_dom_opts o = { 0 };
	char *pos[1], dom[SL_DOMAIN_MAX];
	const struct sl_partner *p = NULL;
	json_t *doc, *out, *pol = NULL, *st = NULL, *reply = NULL;
	struct sl_admin a;
	int rc = sl_dom_parse_common(argc, argv, "show", &o, true, 1, pos);

	if (rc != SL_EXIT_OK)
		return rc;
	if (sl_domain_normalize(pos[0], dom, sizeof(dom)) < 0)
		return sl_usage_error("domain", "show: '%s' is not a domain name", pos[0]);
	sl_admin_init(&a, "domain", o.policy, o.sock);
	if (a.policy)
		p = sl_policy_find(a.policy, dom);
	if (p) {
		bool live;

		pol = sl_status_partner_policy(p);
		doc = sl_dom_status_quiet(&a, &live);
		st = json_incref(sl_dom_entry(doc, dom));
		json_decref(doc);
	} else if (sl_admin_call(&a, "domain", json_pack("{s:s}", "domain", dom), &reply) == 0 &&
		   sl_control_reply_ok(reply)) {
		/* Not on disk (or the file is not readable): the running policy. */
		pol = json_incref(json_object_get(sl_control_reply_data(reply), "policy"));
		st = json_incref(json_object_get(sl_control_reply_data(reply), "status"));
	}
	json_decref(reply);
	if (!pol && !st) {
		fprintf(stderr, "%s: domain: %s is not a partner (policy %s)\n", sl_progname, dom,
			a.policy_path);
		sl_admin_done(&a);
		return SL_EXIT_FAIL;
	}
	out = json_pack("{s:s, s:o, s:o}", "domain", dom, "policy", pol ? pol : json_null(),
			"status", st ? st : json_null());
	if (o.json) {
		sl_admin_print_json(out);
	} else {
		json_t *x = json_object_get(out, "policy"), *y = json_object_get(out, "status");

		printf("domain %s\n", dom);
		if (json_is_object(x)) {
			json_t *at = json_object_get(x, "defined_at");

			printf("  defined in         %s:%lld\n",
			       json_string_value(json_object_get(at, "file")) ?: "-",
			       (long long)json_integer_value(json_object_get(at, "line")));
			json_object_del(x, "defined_at");
			json_object_del(x, "domain");
			sl_show_value("policy", x, 2);
		}
		if (json_is_object(y)) {
			json_object_del(y, "domain");
			sl_show_value("status", y, 2);
		}
	}
	json_decref(out);
	sl_admin_done(&a);
	return SL_EXIT_OK;
}

/* ---- files ----------------------------------------------------------------------- */

/* <dir of main>/policies.d[/<domain>.yaml] */
static int sl_dropin_path(const char *main_path, const char *domain, char *buf, size_t len)
{
	const char *slash = strrchr(main_path, '/');
	int n;

	if (slash)
		n = snprintf(buf, len, "%.*s/%s%s%s%s", (int)(slash - main_path), main_path,
			     SL_POLICY_DROPIN_DIR, domain ? "/" : "", domain ? domain : "",
			     domain ? ".yaml" : "");
	else
		n = snprintf(buf, len, "%s%s%s%s", SL_POLICY_DROPIN_DIR, domain ? "/" : "",
			     domain ? domain : "", domain ? ".yaml" : "");
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Write text to path, which must not exist, atomically (temp + link):
 * same group and read bits as the main policy file. */
static int sl_write_new(const char *main_path, const char *dir, const char *path,
			const char *text)
{
	char tmp[PATH_MAX];
	struct stat st;
	size_t len = strlen(text);
	mode_t mode = 0644;
	gid_t gid = (gid_t)-1;
	int fd, r = 0;

	if (stat(main_path, &st) == 0) {
		mode = (st.st_mode & 0644) | 0600;
		gid = st.st_gid;
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	if (snprintf(tmp, sizeof(tmp), "%s/.smtplock-add.%d.tmp", dir, (int)getpid()) >=
	    (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len || fchmod(fd, mode) < 0 ||
	    (gid != (gid_t)-1 && fchown(fd, (uid_t)-1, gid) < 0 && errno != EPERM) ||
	    fsync(fd) < 0)
		r = -errno ? -errno : -EIO;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && link(tmp, path) < 0)	/* fails if path exists: no clobbering */
		r = -errno;
	unlink(tmp);
	return r;
}

static void sl_print_validation(const struct sl_diags *dg, int err, const char *what)
{
	sl_diags_print(dg, stderr);
	if (!dg->n)
		fprintf(stderr, "%s: domain: %s: %s\n", sl_progname, what, strerror(-err));
	fprintf(stderr, "%s: domain: %s: the resulting policy would be invalid; nothing changed\n",
		sl_progname, what);
}

/* After the file changed: reload a running controller.  0 ok or not
 * running; -1 the reload failed (printed; the caller undoes the change). */
static int sl_dom_reload(const struct sl_admin *a)
{
	int r = sl_admin_reload(a, true);

	if (r == 1)
		printf("the controller is not running: the change takes effect when it starts\n");
	return r < 0 ? -1 : 0;
}

/* ---- add ------------------------------------------------------------------------- */

static int sl_dom_add(int argc, char **argv)
{
	struct sl_domain_spec spec;
	struct sl_policy_opts po = { 0 };
	struct sl_diags dg = { 0 };
	struct sl_policy *np = NULL;
	char dir[PATH_MAX], path[PATH_MAX], *yaml = NULL;
	const struct sl_partner *old;
	struct sl_admin a;
	int rc, r;

	rc = sl_domain_spec_parse(argc, argv, &spec);
	if (rc != SL_EXIT_OK)
		return rc;
	sl_admin_init(&a, "domain", spec.policy, spec.sock);
	rc = SL_EXIT_FAIL;
	if (!sl_dom_policy_ok(&a))
		goto out;
	old = sl_policy_find(a.policy, spec.domain);
	if (old) {
		fprintf(stderr, "%s: domain: %s is already a partner, defined at %s:%u:%u\n",
			sl_progname, spec.domain, old->pos.file ?: a.policy_path, old->pos.line,
			old->pos.col);
		goto out;
	}
	if (sl_dropin_path(a.policy_path, NULL, dir, sizeof(dir)) < 0 ||
	    sl_dropin_path(a.policy_path, spec.domain, path, sizeof(path)) < 0) {
		fprintf(stderr, "%s: domain: path too long\n", sl_progname);
		goto out;
	}
	if (access(path, F_OK) == 0) {
		fprintf(stderr, "%s: domain: %s exists already (with another domain inside?): "
			"remove or rename it first\n", sl_progname, path);
		goto out;
	}
	yaml = sl_domain_spec_yaml(&spec);
	if (!yaml) {
		fprintf(stderr, "%s: domain: out of memory\n", sl_progname);
		goto out;
	}
	po.extra_name = path;
	po.extra_text = yaml;
	r = sl_policy_load_opts(a.policy_path, &po, &np, &dg);
	if (r < 0) {
		sl_print_validation(&dg, r, spec.domain);
		goto out;
	}
	r = sl_write_new(a.policy_path, dir, path, yaml);
	if (r < 0) {
		fprintf(stderr, "%s: domain: writing %s: %s\n", sl_progname, path, strerror(-r));
		goto out;
	}
	printf("added %s: %s\n", spec.domain, path);
	if (sl_dom_reload(&a) < 0) {
		unlink(path);
		fprintf(stderr, "%s: domain: the controller refused the new policy; %s removed "
			"again, nothing changed\n", sl_progname, path);
		goto out;
	}
	rc = SL_EXIT_OK;
out:
	sl_policy_free(np);
	sl_diags_done(&dg);
	free(yaml);
	sl_domain_spec_done(&spec);
	sl_admin_done(&a);
	return rc;
}

/* ---- remove ------------------------------------------------------------------------ */

static int sl_dom_remove(int argc, char **argv)
{
	struct sl_dom_opts o = { 0 };
	struct sl_policy_opts po = { 0 };
	struct sl_diags dg = { 0 };
	struct sl_policy *np = NULL;
	char *pos[1], dom[SL_DOMAIN_MAX], hidden[PATH_MAX], file[PATH_MAX];
	const struct sl_partner *p;
	struct sl_admin a;
	const char *base;
	int rc = sl_dom_parse_common(argc, argv, "remove", &o, false, 1, pos), r;

	if (rc != SL_EXIT_OK)
		return rc;
	if (sl_domain_normalize(pos[0], dom, sizeof(dom)) < 0)
		return sl_usage_error("domain", "remove: '%s' is not a domain name", pos[0]);
	sl_admin_init(&a, "domain", o.policy, o.sock);
	rc = SL_EXIT_FAIL;
	if (!sl_dom_policy_ok(&a))
		goto out;
	p = sl_policy_find(a.policy, dom);
	if (!p) {
		fprintf(stderr, "%s: domain: %s is not a partner (policy %s)\n", sl_progname, dom,
			a.policy_path);
		goto out;
	}
	if (!p->dropin) {
		fprintf(stderr, "%s: domain: %s is defined in the main policy file at %s:%u:%u; "
			"smtplock never rewrites that file: delete the entry there, then run "
			"`smtplock reload`\n", sl_progname, dom, p->pos.file ?: a.policy_path,
			p->pos.line, p->pos.col);
		goto out;
	}
	snprintf(file, sizeof(file), "%s", p->pos.file);
	po.skip_file = file;
	r = sl_policy_load_opts(a.policy_path, &po, &np, &dg);
	if (r < 0) {
		sl_print_validation(&dg, r, dom);
		goto out;
	}
	/* Aside under a hidden name (the loader skips it) until the reload
	 * succeeded, so a refused reload can be undone. */
	base = strrchr(file, '/');
	base = base ? base + 1 : file;
	if (snprintf(hidden, sizeof(hidden), "%.*s.%s.removed", (int)(base - file), file, base) >=
	    (int)sizeof(hidden) || rename(file, hidden) < 0) {
		fprintf(stderr, "%s: domain: removing %s: %s\n", sl_progname, file, strerror(errno));
		goto out;
	}
	printf("removed %s: %s\n", dom, file);
	if (sl_dom_reload(&a) < 0) {
		if (rename(hidden, file) == 0)
			fprintf(stderr, "%s: domain: the controller refused the new policy; %s "
				"restored, nothing changed\n", sl_progname, file);
		goto out;
	}
	unlink(hidden);
	rc = SL_EXIT_OK;
out:
	sl_policy_free(np);
	sl_diags_done(&dg);
	sl_admin_done(&a);
	return rc;
}

int cmd_domain(int argc, char **argv)
{
	if (argc < 2 || argv[1][0] == '-')
		return sl_usage_error("domain", "missing verb (list, show, add, remove) before "
				      "the options");
	if (!strcmp(argv[1], "list"))
		return sl_dom_list(argc - 1, argv + 1);
	if (!strcmp(argv[1], "show"))
		return sl_dom_show(argc - 1, argv + 1);
	if (!strcmp(argv[1], "add"))
		return sl_dom_add(argc - 1, argv + 1);
	if (!strcmp(argv[1], "remove"))
		return sl_dom_remove(argc - 1, argv + 1);
	return sl_usage_error("domain", "unknown verb '%s' (list, show, add, remove)", argv[1]);
}

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * ctlsrv.c — the commands the running controller answers (ctlsrv.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctlsrv.h"

struct sl_ctlsrv {
	struct sl_ctlsrv_opts o;
	struct sl_control_server *srv;
};

json_t *sl_ctlsrv_diags_json(const struct sl_diags *dg)
{
	json_t *a = json_array();

	for (size_t i = 0; a && dg && i < dg->n; i++) {
		const struct sl_diag *d = &dg->v[i];

		json_array_append_new(a, json_pack("{s:s?, s:i, s:i, s:s, s:s?}", "file", d->file,
						   "line", (int)d->line, "col", (int)d->col,
						   "class", sl_diag_class_name(d->cls),
						   "message", d->msg));
	}
	if (a && dg && dg->dropped)
		json_array_append_new(a, json_pack("{s:n, s:i, s:i, s:s, s:s}", "file", "line", 0,
						   "col", 0, "class", "more", "message",
						   "more errors not shown"));
	return a;
}

json_t *sl_ctlsrv_status(struct sl_ctlsrv *s)
{
	struct sl_status_prog progs[SL_CTLSRV_MAX_PROGS];
	size_t n_progs = SL_CTLSRV_MAX_PROGS;
	struct sl_status_src src = {
		.running = true,
		.pid = getpid(),
		.started = s->o.started,
		.version = SL_VERSION,
		.user = s->o.user ? s->o.user : "root",
		.policy_path = s->o.policy_path,
		.policy = s->o.ops.policy ? s->o.ops.policy(s->o.ops.arg) : NULL,
		.pin_path = s->o.pin_path,
		.cgroup = s->o.cgroup,
		.progs = progs,
		.ktls = s->o.ktls,
		.maps = s->o.maps,
		.maps_error = "the controller has no map access",
		.pstats = s->o.pstats,
	};

	memset(progs, 0, sizeof(progs));
	if (!s->o.ops.programs || s->o.ops.programs(s->o.ops.arg, progs, &n_progs) < 0)
		n_progs = 0;
	src.n_progs = n_progs;
	return sl_status_build(&src, time(NULL));
}

/* ---- the commands --------------------------------------------------------- */

static int sl_cmd_ping(void *arg, const struct sl_control_peer *peer, json_t *args,
		       struct sl_control_reply *rep)
{
	(void)arg;
	(void)peer;
	(void)args;
	rep->data = json_pack("{s:i, s:s}", "pid", (int)getpid(), "version", SL_VERSION);
	return rep->data ? 0 : sl_control_fail(rep, "failed", "out of memory");
}

static int sl_cmd_status(void *arg, const struct sl_control_peer *peer, json_t *args,
			 struct sl_control_reply *rep)
{
	(void)peer;
	(void)args;
	rep->data = sl_ctlsrv_status(arg);
	return rep->data ? 0 : sl_control_fail(rep, "failed", "out of memory");
}

static int sl_cmd_domain(void *arg, const struct sl_control_peer *peer, json_t *args,
			 struct sl_control_reply *rep)
{
	struct sl_ctlsrv *s = arg;
	const char *domain = json_string_value(json_object_get(args, "domain"));
	const struct sl_policy *pol = s->o.ops.policy ? s->o.ops.policy(s->o.ops.arg) : NULL;
	const struct sl_partner *p;
	json_t *doc, *entry = NULL, *v;
	size_t i;

	(void)peer;
	if (!domain)
		return sl_control_fail(rep, "syntax", "domain: needs {\"domain\": NAME}");
	p = pol ? sl_policy_find(pol, domain) : NULL;
	doc = sl_ctlsrv_status(s);
	json_array_foreach(json_object_get(doc, "partners"), i, v)
		if (!strcmp(json_string_value(json_object_get(v, "domain")) ?: "", domain))
			entry = json_incref(v);
	json_decref(doc);
	if (!p && !entry)
		return sl_control_fail(rep, "not_found", "%s is not a partner of the running "
				       "policy", domain);
	rep->data = json_pack("{s:o, s:o}", "policy", p ? sl_status_partner_policy(p) : json_null(),
			      "status", entry ? entry : json_null());
	return rep->data ? 0 : sl_control_fail(rep, "failed", "out of memory");
}

static int sl_cmd_reload(void *arg, const struct sl_control_peer *peer, json_t *args,
			 struct sl_control_reply *rep)
{
	struct sl_ctlsrv *s = arg;
	struct sl_diags dg = { 0 };
	const struct sl_policy *pol;
	char hex[65];
	int r;

	(void)peer;
	(void)args;
	if (!s->o.ops.reload)
		return sl_control_fail(rep, "failed", "this controller cannot reload");
	r = s->o.ops.reload(s->o.ops.arg, &dg);
	if (r < 0) {
		if (dg.n) {
			sl_control_fail(rep, "invalid_policy", "%s: %zu error%s, the running policy "
					"is unchanged", s->o.policy_path, dg.n + dg.dropped,
					dg.n + dg.dropped == 1 ? "" : "s");
			rep->diags = sl_ctlsrv_diags_json(&dg);
		} else {
			sl_control_fail(rep, "failed", "reload failed: %s; the running policy is "
					"unchanged", strerror(-r));
		}
		sl_diags_done(&dg);
		return -1;
	}
	sl_diags_done(&dg);
	pol = s->o.ops.policy ? s->o.ops.policy(s->o.ops.arg) : NULL;
	for (int i = 0; pol && i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", pol->sha256[i]);
	rep->data = json_pack("{s:I, s:s}", "partners", (json_int_t)(pol ? pol->n_partners : 0),
			      "sha256", pol ? hex : "");
	return rep->data ? 0 : sl_control_fail(rep, "failed", "out of memory");
}

static void sl_after_unload(void *arg)
{
	struct sl_ctlsrv *s = arg;

	s->o.ops.stop(s->o.ops.arg);
}

static int sl_cmd_unload(void *arg, const struct sl_control_peer *peer, json_t *args,
			 struct sl_control_reply *rep)
{
	struct sl_ctlsrv *s = arg;

	(void)peer;
	(void)args;
	if (!s->o.ops.stop)
		return sl_control_fail(rep, "failed", "this controller cannot stop on request");
	rep->data = json_pack("{s:b, s:i}", "stopping", 1, "pid", (int)getpid());
	rep->after = sl_after_unload;
	rep->after_arg = s;
	return rep->data ? 0 : sl_control_fail(rep, "failed", "out of memory");
}

static const struct sl_control_cmd sl_ctlsrv_cmds[] = {
	{ "ping", false, sl_cmd_ping },
	{ "status", false, sl_cmd_status },
	{ "domain", false, sl_cmd_domain },
	{ "reload", true, sl_cmd_reload },
	{ "unload", true, sl_cmd_unload },
};

static void sl_ctlsrv_audit(void *arg, const struct sl_control_peer *peer, const char *cmd,
			    const char *code)
{
	struct sl_ctlsrv *s = arg;

	if (s->o.ops.audit)
		s->o.ops.audit(s->o.ops.arg, peer, cmd, code);
}

int sl_ctlsrv_new(struct sl_loop *loop, const struct sl_ctlsrv_opts *o, struct sl_ctlsrv **ret)
{
	struct sl_control_server_opts so = {
		.path = o->path,
		.have_group = o->have_group,
		.group = o->group,
		.cmds = sl_ctlsrv_cmds,
		.n_cmds = sizeof(sl_ctlsrv_cmds) / sizeof(sl_ctlsrv_cmds[0]),
		.audit = sl_ctlsrv_audit,
	};
	struct sl_ctlsrv *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	s->o = *o;
	so.arg = s;
	r = sl_control_server_new(loop, &so, &s->srv);
	if (r < 0) {
		free(s);
		return r;
	}
	*ret = s;
	return 0;
}

struct sl_ctlsrv *sl_ctlsrv_free(struct sl_ctlsrv *s)
{
	if (!s)
		return NULL;
	sl_control_server_free(s->srv);
	free(s);
	return NULL;
}

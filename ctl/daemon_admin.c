/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * daemon_admin.c — the daemon's administration side (daemon_admin.h).
 *
 * One daemon per process: the state is a file-scope singleton.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "admin_bpf.h"
#include "ctlsrv.h"
#include "daemon_admin.h"
#include "daemon_int.h"
#include "log.h"
#include "privdrop.h"

static struct {
	struct sl_daemon *d;
	sl_daemon_reload_fn reload;
	struct sl_ctlsrv *srv;
	struct sl_pstats *pstats;
	struct sl_status_maps maps;
	struct sl_status_prog progs[SL_CTLSRV_MAX_PROGS];
	size_t n_progs;
	char ktls[256];
	char user[64];
} sl_adm;

struct sl_pstats *sl_daemon_pstats(struct sl_daemon *d)
{
	(void)d;
	return sl_adm.pstats;
}

/* ---- what the control server asks -------------------------------------------- */

static const struct sl_policy *sl_adm_policy(void *arg)
{
	return ((struct sl_daemon *)arg)->policy;
}

static int sl_adm_reload(void *arg, struct sl_diags *dg)
{
	return sl_adm.reload(arg, dg);
}

static void sl_adm_stop(void *arg)
{
	struct sl_daemon *d = arg;

	sl_log(SL_LOG_WARN, "event=unload_requested msg=\"stopping; the CLI removes the pins\"");
	sl_loop_stop(d->loop);
}

/* The links as read at set-up (the pins are root's; we may not be). */
static int sl_adm_programs(void *arg, struct sl_status_prog *out, size_t *n)
{
	struct sl_daemon *d = arg;
	size_t room = *n;

	/* Re-read when we can (still root); else the set-up snapshot. */
	if (sl_admin_programs(d->priv->pin_path, d->priv->cgroup_dir, out, n) == 0)
		return 0;
	*n = sl_adm.n_progs < room ? sl_adm.n_progs : room;
	memcpy(out, sl_adm.progs, *n * sizeof(*out));
	return 0;
}

static void sl_adm_audit(void *arg, const struct sl_control_peer *peer, const char *cmd,
			 const char *code)
{
	enum sl_log_level lv = SL_LOG_DEBUG;	/* reads that went well */

	(void)arg;
	if (code && !strcmp(code, "permission"))
		lv = SL_LOG_WARN;
	else if (code || !strcmp(cmd, "reload") || !strcmp(cmd, "unload"))
		lv = SL_LOG_INFO;
	sl_log(lv, "event=control cmd=%s uid=%u pid=%d result=%s", cmd, (unsigned)peer->uid,
	       (int)peer->pid, code ? code : "ok");
}

/* ---- start and stop ------------------------------------------------------------ */

int sl_daemon_admin_start(struct sl_daemon *d, sl_daemon_reload_fn reload)
{
	const struct sl_controller *c = &d->policy->controller;
	struct sl_ctlsrv_opts o = { 0 };
	struct sl_privdrop_info pi;
	int r;

	memset(&sl_adm, 0, sizeof(sl_adm));
	sl_adm.d = d;
	sl_adm.reload = reload;
	r = sl_pstats_new(&sl_adm.pstats);
	if (r < 0)
		return r;
	sl_admin_maps_init(&sl_adm.maps, d->bpf);
	sl_adm.n_progs = SL_CTLSRV_MAX_PROGS;
	if (sl_admin_programs(d->priv->pin_path, d->priv->cgroup_dir, sl_adm.progs,
			      &sl_adm.n_progs) < 0)
		sl_log(SL_LOG_WARN, "event=links_unreadable pin_path=%s", d->priv->pin_path);
	sl_admin_ktls(sl_adm.ktls, sizeof(sl_adm.ktls));
	snprintf(sl_adm.user, sizeof(sl_adm.user), "%s", c->user ? c->user : "root");

	o.path = c->control_socket;
	if (c->group) {
		r = sl_group_gid(c->group, &o.group);
		if (r < 0) {
			sl_log(SL_LOG_ERR, "event=start_failed step=control group=%s err=\"no such "
			       "group\"", c->group);
			return r;
		}
		o.have_group = true;
	}
	o.policy_path = d->priv->opts.policy_path;
	o.pin_path = d->priv->pin_path;
	o.cgroup = d->priv->cgroup_dir;
	o.user = sl_adm.user;
	o.ktls = sl_adm.ktls;
	o.started = time(NULL);
	o.maps = &sl_adm.maps;
	o.pstats = sl_adm.pstats;
	o.ops = (struct sl_ctlsrv_ops){
		.arg = d, .policy = sl_adm_policy, .reload = sl_adm_reload, .stop = sl_adm_stop,
		.programs = sl_adm_programs, .audit = sl_adm_audit,
	};
	r = sl_ctlsrv_new(d->loop, &o, &sl_adm.srv);
	if (r < 0) {
		sl_log(SL_LOG_ERR, "event=start_failed step=control socket=%s err=%s%s",
		       c->control_socket ? c->control_socket : SL_CONTROL_DEFAULT_PATH,
		       strerror(-r), r == -EADDRINUSE ? " hint=\"another controller runs\"" : "");
		return r;
	}
	sl_log(SL_LOG_INFO, "event=control_listening socket=%s group=%s",
	       c->control_socket ? c->control_socket : SL_CONTROL_DEFAULT_PATH,
	       c->group ? c->group : "-");

	/* Last: everything that needs root is done. */
	r = sl_privdrop(c->user, &pi);
	if (r < 0) {
		sl_log(SL_LOG_ERR, "event=start_failed step=privdrop user=%s err=%s", c->user,
		       r == -ENOENT ? "no such user" : strerror(-r));
		return r;
	}
	if (c->user && pi.uid)
		sl_log(SL_LOG_INFO, "event=privileges_dropped user=%s uid=%u gid=%u caps=%s",
		       c->user, (unsigned)pi.uid, (unsigned)pi.gid, pi.caps);
	return 0;
}

void sl_daemon_admin_stop(struct sl_daemon *d)
{
	(void)d;
	sl_adm.srv = sl_ctlsrv_free(sl_adm.srv);
	sl_adm.pstats = sl_pstats_free(sl_adm.pstats);
}

/* ---- what the daemon reports ------------------------------------------------- */

void sl_daemon_admin_dns(struct sl_daemon *d, const struct sl_pstate *ps, uint32_t ttl)
{
	struct sl_pstats_addr *v;
	time_t now = time(NULL);
	size_t n = 0;

	(void)d;
	if (!sl_adm.pstats)
		return;
	for (size_t i = 0; i < ps->n_hosts; i++)
		n += ps->hosts[i].n;
	v = calloc(n ? n : 1, sizeof(*v));
	if (!v)
		return;
	n = 0;
	for (size_t i = 0; i < ps->n_hosts; i++)
		for (size_t k = 0; k < ps->hosts[i].n; k++) {
			memcpy(v[n].addr, ps->hosts[i].addrs[k].addr, 16);
			snprintf(v[n].host, sizeof(v[n].host), "%s",
				 ps->hosts[i].name ? ps->hosts[i].name : "(pinned)");
			v[n].expires = ttl ? now + ttl : 0;
			n++;
		}
	sl_pstats_set_addrs(sl_adm.pstats, ps->domain, v, n);
	free(v);
}

void sl_daemon_admin_dns_failed(struct sl_daemon *d, const struct sl_pstate *ps, int err)
{
	(void)d;
	if (sl_adm.pstats)
		sl_pstats_dns_failed(sl_adm.pstats, ps->domain, err);
}

void sl_daemon_admin_reloaded(struct sl_daemon *d)
{
	const struct sl_policy *p = d->policy;
	const char **names;

	if (!sl_adm.pstats)
		return;
	names = calloc(p->n_partners ? p->n_partners : 1, sizeof(*names));
	if (!names)
		return;
	for (size_t i = 0; i < p->n_partners; i++)
		names[i] = p->partners[i].domain;
	sl_pstats_retain(sl_adm.pstats, names, p->n_partners);
	free(names);
}


/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * daemon.c — `smtplock run`: start, listeners, accept, signals, reload,
 * stop.  The order of the start is the fail-closed contract (daemon.h):
 * nothing is attached before the policy is known good and the listeners
 * are up; the pins are never removed here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon_admin.h"
#include "daemon_int.h"
#include "log.h"
#include "sessions.h"

/* ---- small helpers ----------------------------------------------------------- */

/* Reply once and close: for connections we will not serve.  Deferral,
 * never plaintext: the MTA keeps the message queued. */
static void sl_reply_close(int fd, const char *line)
{
	ssize_t w = send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);

	(void)w;
	shutdown(fd, SHUT_WR);
	close(fd);
}

/* ---- the session interface (daemon.h) --------------------------------------- */

struct sl_policy_ref *sl_daemon_policy_hold(struct sl_daemon *d)
{
	d->priv->pref->refs++;
	return d->priv->pref;
}

void sl_policy_ref_put(struct sl_policy_ref *ref)
{
	if (!ref || --ref->refs > 0)
		return;
	sl_session_rt_free(ref->rt);
	sl_policy_free(ref->policy);
	free(ref);
}

/*
 * A reference to a newly loaded policy, with its session runtime (TLS
 * contexts, secrets) built: a policy whose certificates or secrets cannot
 * be used is refused here, before anything changes.  Takes p; on failure
 * p is freed and err says why.
 */
static struct sl_policy_ref *sl_policy_ref_new(struct sl_policy *p, char *err, size_t errlen)
{
	struct sl_policy_ref *r = calloc(1, sizeof(*r));
	int rc;

	if (!r) {
		snprintf(err, errlen, "%s", strerror(ENOMEM));
		sl_policy_free(p);
		return NULL;
	}
	rc = sl_session_rt_new(p, &r->rt, err, errlen);
	if (rc < 0) {
		if (!err[0])
			snprintf(err, errlen, "%s", strerror(-rc));
		sl_policy_free(p);
		free(r);
		return NULL;
	}
	r->policy = p;
	r->refs = 1;
	return r;
}

int sl_daemon_tag(struct sl_daemon *d, int fd, enum sl_sock_tag tag, uint32_t policy_id)
{
	return sl_bpfmap_tag(d->bpf, fd, tag, policy_id);
}

const struct sl_addrtab_entry *sl_daemon_lookup_dst(struct sl_daemon *d, const uint8_t addr[16])
{
	return d->priv->out ? sl_addrtab_lookup(d->priv->out, addr) : NULL;
}

const struct sl_addrtab_entry *sl_daemon_lookup_src(struct sl_daemon *d, const uint8_t addr[16])
{
	return d->priv->in ? sl_addrtab_lookup(d->priv->in, addr) : NULL;
}

/* ---- accept ------------------------------------------------------------------- */

static void sl_accept_outbound(struct sl_daemon *d, uint64_t session, int fd,
			       const struct sockaddr_storage *ss, socklen_t len, const char *peer)
{
	const struct sl_addrtab_entry *e;
	char orig_s[64];
	struct sl_orig orig;
	int r;

	r = sl_bpfmap_orig_take(d->bpf, fd, &orig);
	if (r < 0) {
		sl_log(SL_LOG_WARN, "event=no_orig session=%llu peer=%s err=%s",
		       (unsigned long long)session, peer, strerror(-r));
		sl_reply_close(fd, "421 4.3.0 smtplock: no original destination\r\n");
		return;
	}
	sl_addr16_port_format(orig.addr, orig.port, orig_s, sizeof(orig_s));
	e = sl_daemon_lookup_dst(d, orig.addr);
	if (!e) {
		/* Listed at connect(), gone since (a reload): still not plaintext. */
		sl_log(SL_LOG_WARN, "event=orig_unlisted session=%llu peer=%s orig=%s",
		       (unsigned long long)session, peer, orig_s);
		sl_reply_close(fd, "421 4.3.0 smtplock: original destination no longer listed\r\n");
		return;
	}
	sl_log(SL_LOG_INFO, "event=accept session=%llu peer=%s orig=%s domain=%s mx=%s pid=%u",
	       (unsigned long long)session, peer, orig_s, e->partner->domain,
	       e->mx_name ? e->mx_name : "-", orig.pid);
	sl_outbound_accept(d, session, fd, (const struct sockaddr *)ss, len, &orig, e->partner,
			   e->mx_name ? e->mx_name : "");
}

static void sl_accept_inbound(struct sl_daemon *d, uint64_t session, int fd,
			      const struct sockaddr_storage *ss, socklen_t len, const char *peer)
{
	const struct sl_addrtab_entry *e = NULL;
	struct sl_tuple_key k;

	if (sl_tuple_key_from_sockaddr((const struct sockaddr *)ss, len, &k) == 0)
		e = sl_daemon_lookup_src(d, k.addr);
	sl_log(SL_LOG_INFO, "event=inbound_accept session=%llu peer=%s domain=%s",
	       (unsigned long long)session, peer, e ? e->partner->domain : "-");
	sl_inbound_accept(d, session, fd, (const struct sockaddr *)ss, len, e ? e->partner : NULL);
}

static void sl_on_accept(struct sl_loop *loop, int lfd, uint32_t events, void *arg)
{
	struct sl_listener *l = arg;
	struct sl_daemon *d = l->d;

	(void)loop;
	(void)events;
	/* A bounded batch per wakeup keeps the loop fair. */
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof(ss);
		char peer[80];
		uint64_t session;
		int fd;

		fd = accept4(lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				sl_log(SL_LOG_WARN, "event=accept_failed err=%s", strerror(errno));
			return;
		}
		session = ++d->priv->next_session;
		sl_sockaddr_format((struct sockaddr *)&ss, true, peer, sizeof(peer));
		if (l->inbound)
			sl_accept_inbound(d, session, fd, &ss, len, peer);
		else
			sl_accept_outbound(d, session, fd, &ss, len, peer);
	}
}

static int sl_listen_one(struct sl_daemon *d, const struct sl_endpoint *e, bool inbound)
{
	struct sl_listener *l;
	char text[80];
	int one = 1, r;

	if (d->priv->n_ls >= SL_MAX_LISTENERS)
		return -E2BIG;
	l = &d->priv->ls[d->priv->n_ls];
	memset(l, 0, sizeof(*l));
	l->d = d;
	l->inbound = inbound;
	l->len = sl_endpoint_sockaddr(e, &l->addr);
	sl_sockaddr_format((struct sockaddr *)&l->addr, true, text, sizeof(text));
	l->fd = socket(l->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		return -errno;
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l->addr.ss_family == AF_INET6) {
		/* Outbound: [::1] must not also take IPv4.  Inbound: an IPv6
		 * listener serves both families' SYNs (sk_lookup assigns it to
		 * IPv4 ones too), so it must be dual-stack. */
		int v6only = !inbound;

		setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
	}
	if (bind(l->fd, (struct sockaddr *)&l->addr, l->len) < 0 || listen(l->fd, SOMAXCONN) < 0) {
		r = -errno;
		sl_log(SL_LOG_ERR, "event=listen_failed addr=%s err=%s", text, strerror(-r));
		close(l->fd);
		return r;
	}
	d->priv->n_ls++;
	sl_log(SL_LOG_INFO, "event=listening addr=%s role=%s", text, inbound ? "inbound" : "outbound");
	return 0;
}

static int sl_listeners_open(struct sl_daemon *d)
{
	const struct sl_policy *p = d->policy;
	struct sl_endpoint def;
	int r;

	if (p->controller.n_listen == 0) {
		r = sl_endpoint_parse(SL_POLICY_DEFAULT_LISTEN, &def);
		if (r < 0)
			return r;
		r = sl_listen_one(d, &def, false);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < p->controller.n_listen; i++) {
		r = sl_listen_one(d, &p->controller.listen[i], false);
		if (r < 0)
			return r;
	}
	if (p->inbound.present)
		return sl_listen_one(d, &p->inbound.listen, true);
	return 0;
}

/* sl_config and the inbound sockmap from the listeners. */
static int sl_config_apply(struct sl_daemon *d)
{
	struct sl_config cfg;
	int r;

	memset(&cfg, 0, sizeof(cfg));
	for (size_t i = 0; i < d->priv->n_ls; i++) {
		struct sl_listener *l = &d->priv->ls[i];
		bool v4 = l->addr.ss_family == AF_INET;

		if (l->inbound) {
			/* An IPv4 listener takes IPv4 SYNs only; an IPv6 one bound
			 * to [::] is dual-stack and takes both; bound to another
			 * IPv6 address the kernel made it IPv6-only.  Partners of
			 * a family without a listener are refused (fail closed). */
			int v6only = 1;
			socklen_t ol = sizeof(v6only);

			if (!v4)
				getsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &ol);
			r = sl_bpfmap_inbound_set(d->bpf, SL_INBOUND_LISTEN4, v4 || !v6only ? l->fd : -1);
			if (r == 0)
				r = sl_bpfmap_inbound_set(d->bpf, SL_INBOUND_LISTEN6, v4 ? -1 : l->fd);
			if (r < 0)
				return r;
			sl_log(SL_LOG_INFO, "event=inbound_steering port=%u ipv4=%s ipv6=%s",
			       d->policy->inbound.port ? d->policy->inbound.port : 25,
			       v4 || !v6only ? "yes" : "refused", v4 ? "refused" : "yes");
			cfg.flags |= SL_CFG_INBOUND;
			cfg.inbound_port = d->policy->inbound.port ? d->policy->inbound.port : 25;
			continue;
		}
		/* The first listener of each family is the redirect target. */
		if ((v4 && (cfg.flags & SL_CFG_HAVE_LISTEN4)) ||
		    (!v4 && (cfg.flags & SL_CFG_HAVE_LISTEN6)))
			continue;
		r = sl_config_add_listener(&cfg, (struct sockaddr *)&l->addr, l->len);
		if (r < 0)
			return r;
	}
	return sl_bpfmap_config_set(d->bpf, &cfg);
}

/* ---- reload ------------------------------------------------------------------ */

static void sl_log_diags(const struct sl_diags *dg)
{
	char q[600];

	for (size_t i = 0; i < dg->n; i++)
		sl_log(SL_LOG_ERR, "event=policy_error where=%s:%u:%u class=%s msg=%s",
		       dg->v[i].file ? dg->v[i].file : "-", dg->v[i].line, dg->v[i].col,
		       sl_diag_class_name(dg->v[i].cls), sl_logq(q, sizeof(q), dg->v[i].msg));
}

static bool sl_endpoints_same(const struct sl_controller *a, const struct sl_controller *b)
{
	if (a->n_listen != b->n_listen)
		return false;
	for (size_t i = 0; i < a->n_listen; i++)
		if (a->listen[i].family != b->listen[i].family || a->listen[i].port != b->listen[i].port ||
		    memcmp(a->listen[i].addr, b->listen[i].addr, 16) != 0)
			return false;
	return true;
}

static bool sl_str_same(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/*
 * The one reload, for SIGHUP and `smtplock reload`: the new policy is
 * parsed, validated and made usable (contexts, secrets) whole first; any
 * failure changes nothing.  0, or -EINVAL with the errors in *dgp, or
 * another -errno.
 */
static int sl_reload(struct sl_daemon *d, struct sl_diags *dgp)
{
	char err[512] = "", q[600];
	struct sl_diags dg = { 0 };
	struct sl_policy *np = NULL;
	struct sl_policy_ref *old = d->priv->pref, *nref;
	const struct sl_controller *oc = &d->policy->controller;
	int r;

	sl_log(SL_LOG_INFO, "event=reload_start policy=%s", d->priv->opts.policy_path);
	r = sl_policy_load(d->priv->opts.policy_path, &np, &dg);
	if (r < 0) {
		sl_log(SL_LOG_ERR, "event=reload_failed policy=%s errors=%zu err=%s action=kept_old",
		       d->priv->opts.policy_path, dg.n, strerror(-r));
		sl_log_diags(&dg);
		*dgp = dg;
		return r;
	}
	sl_diags_done(&dg);
	if (!sl_endpoints_same(oc, &np->controller) ||
	    !sl_str_same(oc->cgroup, np->controller.cgroup) ||
	    !sl_str_same(oc->pin_path, np->controller.pin_path) ||
	    d->policy->inbound.present != np->inbound.present)
		sl_log(SL_LOG_WARN, "event=reload_partial msg=\"controller.listen, cgroup, pin_path "
		       "and inbound.listen take effect at the next start\"");
	nref = sl_policy_ref_new(np, err, sizeof(err));
	if (!nref) {
		sl_log(SL_LOG_ERR, "event=reload_failed err=%s action=kept_old",
		       sl_logq(q, sizeof(q), err));
		/* An unusable certificate or secret is an error in the policy:
		 * the caller sees it like a validation error. */
		dgp->v = calloc(1, sizeof(*dgp->v));
		if (dgp->v) {
			dgp->v->file = strdup(d->priv->opts.policy_path);
			dgp->v->cls = SL_DIAG_FILE;
			dgp->v->msg = strdup(err);
			dgp->n = 1;
		}
		return -EINVAL;
	}
	r = sl_partners_build(d, np);
	if (r < 0) {
		/* The states may now point into np: rebuild them on the old. */
		sl_partners_build(d, d->policy);
		sl_policy_ref_put(nref);
		sl_log(SL_LOG_ERR, "event=reload_failed err=%s action=kept_old", strerror(-r));
		return r;
	}
	d->priv->pref = nref;
	d->policy = np;
	d->hostname = np->controller.hostname;
	sl_partners_sync(d);		/* fixed addresses and carried-over ones now */
	sl_partners_resolve_all(d);	/* new or changed names in the background */
	sl_policy_ref_put(old);
	sl_daemon_admin_reloaded(d);
	sl_log(SL_LOG_INFO, "event=reload_ok policy=%s partners=%zu", d->priv->opts.policy_path,
	       np->n_partners);
	return 0;
}

static void sl_on_signal(struct sl_loop *loop, int fd, uint32_t events, void *arg)
{
	struct sl_daemon *d = arg;
	struct signalfd_siginfo si;

	(void)events;
	while (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP: {
			struct sl_diags dg = { 0 };

			sl_reload(d, &dg);
			sl_diags_done(&dg);
			break;
		}
		case SIGTERM:
		case SIGINT:
			sl_log(SL_LOG_INFO, "event=stopping signal=%s pins=kept",
			       si.ssi_signo == SIGTERM ? "TERM" : "INT");
			sl_loop_stop(loop);
			break;
		default:
			break;
		}
	}
}

/* ---- start and stop ------------------------------------------------------------ */

/*
 * Without --foreground: fork before any thread exists; the parent waits
 * until the child is enforcing (or failed) and exits with its status.
 */
static int sl_daemonize(struct sl_daemon_priv *p)
{
	int fds[2], null;
	unsigned char st = 1;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0) {
		close(fds[1]);
		if (read(fds[0], &st, 1) != 1)
			st = 1;
		_exit(st);
	}
	close(fds[0]);
	p->ready_fd = fds[1];
	setsid();
	if (chdir("/") < 0)
		return -errno;
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		close(null);
	}
	return 0;
}

static void sl_ready(struct sl_daemon_priv *p, unsigned char status)
{
	if (p->ready_fd >= 0) {
		ssize_t w = write(p->ready_fd, &status, 1);

		(void)w;
		close(p->ready_fd);
		p->ready_fd = -1;
	}
}

static int sl_signals_block(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	signal(SIGPIPE, SIG_IGN);
	/* Before the worker threads exist, so they inherit the mask. */
	return sigprocmask(SIG_BLOCK, set, NULL) < 0 ? -errno : 0;
}

static int sl_daemon_start(struct sl_daemon *d, const sigset_t *sigs)
{
	struct sl_bpfmap_opts bo = { .pin_path = d->priv->pin_path };
	unsigned adopted = 0;
	int r;

	sl_sessions_init();
	r = sl_loop_new(SL_DNS_WORKERS, &d->loop);
	if (r < 0) {
		sl_log(SL_LOG_ERR, "event=start_failed step=loop err=%s", strerror(-r));
		return r;
	}
	r = sl_listeners_open(d);
	if (r < 0)
		return r;
	r = sl_bpfmap_load(&bo, &d->bpf);
	if (r < 0) {
		sl_log(SL_LOG_ERR, "event=start_failed step=bpf_load pin_path=%s err=%s%s",
		       d->priv->pin_path, strerror(-r),
		       r == -EINVAL ? " hint=\"pinned maps of another version: smtplock unload\"" : "");
		return r;
	}
	r = sl_config_apply(d);
	if (r == 0)
		r = sl_partners_build(d, d->policy);
	if (r == 0)
		r = sl_partners_seed(d);
	if (r == 0)
		r = sl_partners_sync(d);	/* add-only: fixed + pinned addresses */
	if (r < 0) {
		sl_log(SL_LOG_ERR, "event=start_failed step=maps err=%s", strerror(-r));
		return r;
	}
	r = sl_bpfmap_attach(d->bpf, d->priv->cgroup_dir, -1, &adopted);
	if (r < 0) {
		sl_log(SL_LOG_ERR, "event=start_failed step=attach cgroup=%s err=%s",
		       d->priv->cgroup_dir, strerror(-r));
		return r;
	}
	sl_log(SL_LOG_INFO, "event=attached cgroup=%s pin_path=%s links=%d adopted=%u",
	       d->priv->cgroup_dir, d->priv->pin_path, SL_PROG__COUNT, adopted);

	for (size_t i = 0; i < d->priv->n_ls; i++) {
		r = sl_loop_add(d->loop, &d->priv->ls[i].io, d->priv->ls[i].fd, EPOLLIN,
				sl_on_accept, &d->priv->ls[i]);
		if (r < 0)
			return r;
	}
	d->priv->sig_fd = signalfd(-1, sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->priv->sig_fd < 0)
		return -errno;
	r = sl_loop_add(d->loop, &d->priv->sig_io, d->priv->sig_fd, EPOLLIN, sl_on_signal, d);
	if (r < 0)
		return r;
	r = sl_bpfmap_events_open(d->bpf, sl_events_handle, d);
	if (r == 0)
		r = sl_loop_add(d->loop, &d->priv->ev_io, sl_bpfmap_events_fd(d->bpf), EPOLLIN,
				sl_events_on_readable, d);
	if (r < 0) {
		sl_log(SL_LOG_ERR, "event=start_failed step=events err=%s", strerror(-r));
		return r;
	}
	r = sl_sockdiag_open(&d->priv->diag);
	if (r < 0)
		sl_log(SL_LOG_WARN, "event=sockdiag_unavailable err=%s msg=\"offending sockets "
		       "will not be destroyed (the guard still drops)\"", strerror(-r));
	sl_partners_resolve_all(d);
	return sl_daemon_admin_start(d, sl_reload);
}

static void sl_daemon_stop(struct sl_daemon *d)
{
	struct sl_daemon_priv *p = d->priv;

	/* Listeners first: from here on, listed connects are refused. */
	for (size_t i = 0; i < p->n_ls; i++) {
		if (d->loop)
			sl_loop_del(d->loop, &p->ls[i].io);
		close(p->ls[i].fd);
	}
	p->n_ls = 0;
	if (d->loop) {
		sl_loop_del(d->loop, &p->ev_io);
		sl_loop_del(d->loop, &p->sig_io);
		sl_sessions_shutdown();
		sl_partners_free(d);
		sl_daemon_admin_stop(d);
	}
	if (p->sig_fd >= 0)
		close(p->sig_fd);
	d->loop = sl_loop_free(d->loop);	/* joins the DNS workers */
	sl_partners_jobs_free(d);
	p->diag = sl_sockdiag_free(p->diag);
	d->bpf = sl_bpfmap_free(d->bpf);	/* pins and links stay */
	p->out = sl_addrtab_free(p->out);
	p->in = sl_addrtab_free(p->in);
	sl_policy_ref_put(p->pref);
	p->pref = NULL;
	d->policy = NULL;
	free(p->pin_path);
}

int sl_daemon_main(const struct sl_daemon_opts *o)
{
	struct sl_daemon_priv priv = { .opts = *o, .sig_fd = -1, .ready_fd = -1, .initial = true };
	char err[512] = "";
	struct sl_daemon d = { .priv = &priv };
	struct sl_diags dg = { 0 };
	struct sl_policy *p = NULL;
	sigset_t sigs;
	int r;

	sl_log_set_verbose(o->verbose);
	sl_log_libbpf();

	/* 0. This process will hold the partners' passwords and our TLS keys:
	 * it never dumps core (a core file is readable where it lands) and
	 * other processes of its user may not read its memory (ptrace,
	 * /proc/PID/mem).  Dropping privileges later clears this flag too,
	 * but a controller that stays root needs it as much. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		fprintf(stderr, "smtplock: run: cannot disable core dumps: %s\n", strerror(errno));

	/* 1. The policy, whole and valid, or nothing at all happens. */
	r = sl_policy_load(o->policy_path, &p, &dg);
	if (r < 0) {
		if (dg.n)
			sl_diags_print(&dg, stderr);
		else
			fprintf(stderr, "%s: %s\n", o->policy_path, strerror(-r));
		sl_diags_done(&dg);
		fprintf(stderr, "smtplock: run: invalid policy, nothing attached\n");
		return 1;
	}
	sl_diags_done(&dg);
	priv.pref = sl_policy_ref_new(p, err, sizeof(err));
	if (!priv.pref) {
		fprintf(stderr, "%s: %s\nsmtplock: run: policy unusable, nothing attached\n",
			o->policy_path, err);
		return 1;
	}
	d.policy = p;
	d.hostname = p->controller.hostname;
	priv.pin_path = strdup(p->controller.pin_path ? p->controller.pin_path : SL_PIN_DEFAULT);
	r = sl_cgroup2_resolve(p->controller.cgroup, priv.cgroup_dir, sizeof(priv.cgroup_dir));
	if (r < 0 || !priv.pin_path) {
		fprintf(stderr, "smtplock: run: controller.cgroup %s: %s\n",
			p->controller.cgroup ? p->controller.cgroup : "auto",
			r == -EMEDIUMTYPE ? "not a cgroup v2 directory" : strerror(r < 0 ? -r : ENOMEM));
		goto fail;
	}
	r = sl_signals_block(&sigs);
	if (r == 0 && !o->foreground)
		r = sl_daemonize(&priv);
	if (r < 0)
		goto fail;

	sl_log(SL_LOG_INFO, "event=start version=%s policy=%s partners=%zu pid=%d",
	       SL_VERSION, o->policy_path, p->n_partners, (int)getpid());
	r = sl_daemon_start(&d, &sigs);
	if (r < 0)
		goto fail;
	sl_log(SL_LOG_INFO, "event=ready");
	sl_ready(&priv, 0);

	r = sl_loop_run(d.loop);
	if (r < 0)
		sl_log(SL_LOG_ERR, "event=loop_failed err=%s", strerror(-r));
	sl_daemon_stop(&d);
	sl_log(SL_LOG_INFO, "event=stopped enforcement=pinned");
	return r < 0 ? 1 : 0;
fail:
	sl_ready(&priv, 1);
	sl_daemon_stop(&d);
	return 1;
}

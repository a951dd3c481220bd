/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * sessions.c — the daemon's session hooks (daemon.h): outbound and inbound
 * sessions on the daemon's loop.
 *
 * Per loaded policy, a runtime (struct sl_session_rt) holds what sessions
 * need and what must not be read per session: the OpenSSL contexts of
 * every partner and the partners' passwords.  It is built when a policy is
 * loaded — at start and at reload, before the policy is swapped in — so a
 * certificate or secret that cannot be read makes the policy invalid and
 * changes nothing.  A session holds a reference to its policy (and so to
 * the runtime) until it ends: a reload never pulls contexts from under a
 * running session.
 *
 * Each session logs exactly one line when it ends (result=…), with peer
 * text made printable.
 *
 * Limits (controller.limits): at most max_sessions at once, and at most
 * max_sessions_per_source from one client address — the local MTA's for
 * outbound, the partner's for inbound — so that one runaway client cannot
 * take every slot.  A connection over either cap gets 421 4.3.2 and is
 * closed at once: the client retries later, nothing is queued here.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "addr.h"
#include "daemon_admin.h"
#include "daemon_int.h"
#include "inbound.h"
#include "ktls.h"
#include "log.h"
#include "outbound.h"
#include "resolve.h"
#include "sessions.h"
#include "smtp.h"

#define SL_CONNECT_TIMEOUT_MS	30000
#define SL_AUTH_FAIL_DELAY_MS	1000
#define SL_AUTH_MAX_FAILURES	3

struct sl_session_rt {
	size_t n;
	struct sl_tls_ctx **client;	/* outbound partners */
	struct sl_tls_ctx **server;	/* inbound partners */
	char **secret;			/* partners with auth */
};

/* Live sessions per client address: a small chained hash table. */
#define SL_SRC_BUCKETS	1024

struct sl_src {
	uint8_t addr[16];		/* IPv4-mapped for IPv4 */
	unsigned n;
	struct sl_src *next;
};

/* One live session, for the count and for shutdown. */
struct sl_sess {
	struct sl_daemon *d;
	struct sl_policy_ref *ref;
	uint64_t id;
	bool inbound;
	struct sl_src *src;		/* its client address's count */
	union {
		struct sl_outbound *ob;
		struct sl_inbound *in;
	};
	struct sl_tlsa_result tlsa;	/* verify: dane */
	char mx[SL_DOMAIN_MAX];		/* outbound: the MX name, the session's own copy */
	struct sockaddr_storage backend;	/* inbound: lives as long as the session */
	struct sl_sess *prev, *next;
};

/* A DANE session waiting for its TLSA answer (worker job). */
struct sl_tlsa_wait {
	struct sl_job job;
	struct sl_sess *sess;
	struct sl_outbound_params prm;
	char mx[SL_DOMAIN_MAX];		/* the worker's copy */
	struct sl_tlsa_result tlsa;	/* the worker's answer, the session's in done */
	int fd;
	int r;
};

static struct sl_sess *sl_sessions;
static size_t sl_n_sessions;
static struct sl_src *sl_srcs[SL_SRC_BUCKETS];

/*
 * Memory back to the system once a busy controller is idle: a thousand
 * held sessions leave megabytes in malloc's arenas that an idle daemon
 * would keep for good.  When the last session of a busy spell ends (at
 * least SL_TRIM_PEAK at once), a timer trims the arenas a moment later,
 * after the sessions' deferred frees ran, if still idle.
 */
#define SL_TRIM_PEAK		32
#define SL_TRIM_DELAY_MS	500
static void sl_trim(struct sl_loop *loop, void *arg);
static size_t sl_peak;
static struct sl_timer sl_trim_timer = { .fn = sl_trim, .heap_idx = -1 };
static struct sl_loop *sl_trim_loop;
static struct sl_inbound_caps sl_backend_caps;

/* What the kernel offers for TLS, probed once (sl_sessions_init). */
static struct sl_ktls_caps sl_ktls;
static bool sl_ktls_probed;

void sl_sessions_init(void)
{
	char buf[256];

	if (sl_ktls_probed)
		return;
	sl_ktls_probe(&sl_ktls);
	sl_ktls_probed = true;
	sl_ktls_caps_str(&sl_ktls, buf, sizeof(buf));
	sl_log(SL_LOG_INFO, "event=ktls_probe kernel_tls=%s caps=\"%s\"",
	       sl_ktls_caps_any(&sl_ktls) ? "yes" : "no", buf);
}

static const struct sl_ktls_caps *sl_sessions_ktls(void)
{
	return sl_ktls_probed && sl_ktls_caps_any(&sl_ktls) ? &sl_ktls : NULL;
}

/* ---- the per-policy runtime --------------------------------------------- */

void sl_session_rt_free(struct sl_session_rt *rt)
{
	if (!rt)
		return;
	for (size_t i = 0; i < rt->n; i++) {
		sl_tls_ctx_free(rt->client[i]);
		sl_tls_ctx_free(rt->server[i]);
		if (rt->secret[i]) {
			OPENSSL_cleanse(rt->secret[i], strlen(rt->secret[i]));
			free(rt->secret[i]);
		}
	}
	free(rt->client);
	free(rt->server);
	free(rt->secret);
	free(rt);
}

int sl_session_rt_new(const struct sl_policy *p, struct sl_session_rt **ret,
		      char *err, size_t errlen)
{
	struct sl_session_rt *rt = calloc(1, sizeof(*rt));
	char reason[SL_TLS_REASON_MAX];
	int r = -ENOMEM;

	if (!rt)
		return -ENOMEM;
	rt->n = p->n_partners;
	rt->client = calloc(rt->n + 1, sizeof(*rt->client));
	rt->server = calloc(rt->n + 1, sizeof(*rt->server));
	rt->secret = calloc(rt->n + 1, sizeof(*rt->secret));
	if (!rt->client || !rt->server || !rt->secret)
		goto fail;
	for (size_t i = 0; i < rt->n; i++) {
		const struct sl_partner *pt = &p->partners[i];

		if (pt->direction & SL_DIR_OUTBOUND) {
			unsigned flags = pt->mode == SL_MODE_TESTING ? SL_TLS_F_LENIENT : 0;

			if (pt->tls.ktls != SL_KTLS_OFF)
				flags |= SL_TLS_F_KTLS;

			r = sl_tls_client_ctx_new(&pt->tls, flags, &rt->client[i], reason,
						  sizeof(reason));
			if (r < 0) {
				snprintf(err, errlen, "%s: tls: %s", pt->domain, reason);
				goto fail;
			}
			if (pt->has_auth) {
				r = sl_policy_read_secret(pt->auth.password_file, &rt->secret[i]);
				if (r < 0) {
					snprintf(err, errlen, "%s: auth.password_file %s: %s", pt->domain,
						 pt->auth.password_file, strerror(-r));
					goto fail;
				}
			}
		}
		if ((pt->direction & SL_DIR_INBOUND) && pt->has_inbound && p->inbound.present) {
			r = sl_tls_server_ctx_new(p->inbound.cert, p->inbound.key, &pt->inbound,
						  pt->tls.ktls != SL_KTLS_OFF, &rt->server[i], reason,
						  sizeof(reason));
			if (r < 0) {
				snprintf(err, errlen, "%s: inbound tls: %s", pt->domain, reason);
				goto fail;
			}
		}
	}
	*ret = rt;
	return 0;
fail:
	sl_session_rt_free(rt);
	return r;
}

/* ---- bookkeeping ----------------------------------------------------------- */

static size_t sl_src_bucket(const uint8_t addr[16])
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (int i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 16777619u;
	return h & (SL_SRC_BUCKETS - 1);
}

/* The count of this client address, made if need be (NULL: no memory). */
static struct sl_src *sl_src_get(const uint8_t addr[16], bool make)
{
	size_t b = sl_src_bucket(addr);
	struct sl_src *c;

	for (c = sl_srcs[b]; c; c = c->next)
		if (!memcmp(c->addr, addr, 16))
			return c;
	if (!make || !(c = calloc(1, sizeof(*c))))
		return NULL;
	memcpy(c->addr, addr, 16);
	c->next = sl_srcs[b];
	sl_srcs[b] = c;
	return c;
}

/* Forget a count that no session holds. */
static void sl_src_drop(struct sl_src *c)
{
	struct sl_src **pp;

	if (!c || c->n)
		return;
	for (pp = &sl_srcs[sl_src_bucket(c->addr)]; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	free(c);
}

static void sl_src_put(struct sl_src *c)
{
	if (c && c->n)
		c->n--;
	sl_src_drop(c);
}

static struct sl_sess *sl_sess_new(struct sl_daemon *d, uint64_t id, bool inbound,
				   struct sl_src *src)
{
	struct sl_sess *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->d = d;
	s->id = id;
	s->inbound = inbound;
	s->src = src;
	src->n++;
	s->ref = sl_daemon_policy_hold(d);
	s->next = sl_sessions;
	if (sl_sessions)
		sl_sessions->prev = s;
	sl_sessions = s;
	if (++sl_n_sessions > sl_peak)
		sl_peak = sl_n_sessions;
	return s;
}

static void sl_trim(struct sl_loop *loop, void *arg)
{
	(void)loop;
	(void)arg;
	if (!sl_n_sessions)
		malloc_trim(0);
}

static void sl_sess_free(struct sl_sess *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		sl_sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	if (--sl_n_sessions == 0 && sl_peak >= SL_TRIM_PEAK && s->d->loop) {
		sl_peak = 0;
		sl_trim_loop = s->d->loop;
		sl_timer_arm(sl_trim_loop, &sl_trim_timer, SL_TRIM_DELAY_MS);
	}
	sl_src_put(s->src);
	sl_tlsa_result_done(&s->tlsa);
	sl_policy_ref_put(s->ref);
	free(s);
}

size_t sl_sessions_active(void)
{
	return sl_n_sessions;
}

void sl_sessions_shutdown(void)
{
	while (sl_sessions) {
		struct sl_sess *s = sl_sessions;

		if (s->inbound && s->in)
			sl_inbound_abort(s->in);
		else if (!s->inbound && s->ob)
			sl_outbound_abort(s->ob);
		sl_sess_free(s);
	}
	/* After the frees: the last one arms the trim timer. */
	if (sl_trim_loop)
		sl_timer_cancel(sl_trim_loop, &sl_trim_timer);
	sl_trim_loop = NULL;
}

/*
 * Room for one more session from this client address?  NULL with *why
 * set when a cap is reached (or no memory); else the address's count,
 * which sl_sess_new takes.  Defer, never queue without bound.
 */
static struct sl_src *sl_sessions_admit(struct sl_daemon *d, const struct sockaddr *peer,
					socklen_t peer_len, const char **why)
{
	const struct sl_controller *c = &d->policy->controller;
	struct sl_tuple_key k;
	struct sl_src *src;

	if (c->max_sessions && sl_n_sessions >= c->max_sessions) {
		*why = "too many sessions";
		return NULL;
	}
	memset(&k, 0, sizeof(k));
	if (sl_tuple_key_from_sockaddr(peer, peer_len, &k) < 0)
		memset(k.addr, 0, sizeof(k.addr));	/* unknown: one shared count */
	src = sl_src_get(k.addr, true);
	if (!src) {
		*why = "out of memory";
		return NULL;
	}
	if (c->max_sessions_per_source && src->n >= c->max_sessions_per_source) {
		*why = "too many sessions from this source";
		return NULL;
	}
	return src;
}

static void sl_refuse_log(uint64_t session, bool inbound, const char *domain, const char *peer_s,
			  const char *why)
{
	sl_log(SL_LOG_WARN, "session=%llu direction=%s domain=%s peer=%s result=%s reason=\"%s\"",
	       (unsigned long long)session, inbound ? "in" : "out", domain, peer_s,
	       inbound ? "refused" : "deferred", why);
}

static size_t sl_partner_index(const struct sl_policy *p, const struct sl_partner *pt)
{
	return (size_t)(pt - p->partners);
}

static void sl_reply_close(int fd, const char *line)
{
	ssize_t w = send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);

	(void)w;
	shutdown(fd, SHUT_WR);
	close(fd);
}

/* ---- outbound ----------------------------------------------------------------- */

static int sl_ob_tag(void *arg, int fd, enum sl_sock_tag tag, uint32_t policy_id)
{
	struct sl_sess *s = arg;

	return sl_daemon_tag(s->d, fd, tag, policy_id);
}

static void sl_ob_step(void *arg, struct sl_outbound *ob, const char *step, const char *detail)
{
	struct sl_sess *s = arg;
	char q[700];

	(void)ob;
	sl_log(SL_LOG_DEBUG, "event=step session=%llu step=%s detail=%s",
	       (unsigned long long)s->id, step, sl_logq(q, sizeof(q), detail));
}

static void sl_ob_done(void *arg, struct sl_outbound *ob)
{
	struct sl_sess *s = arg;
	const struct sl_outbound_result *r = sl_outbound_result(ob);
	const struct sl_outbound_params *p = sl_outbound_params(ob);
	char reason[600], would[600], ktls[200];

	sl_log(r->reason[0] && strcmp(r->result, "relayed") ? SL_LOG_WARN : SL_LOG_INFO,
	       "session=%llu direction=out domain=%s mx=%s addr=%s tls=%s cipher=%s verify=%s "
	       "auth=%s result=%s datapath=%s ktls=%s bytes_up=%llu bytes_down=%llu ms=%llu%s%s%s%s",
	       (unsigned long long)s->id, p->partner->domain, p->mx, r->addr, r->tls, r->cipher,
	       r->verify, r->auth, r->result, sl_datapath_name(r->path),
	       sl_logq(ktls, sizeof(ktls), r->ktls[0] ? r->ktls : "-"),
	       (unsigned long long)r->bytes_up, (unsigned long long)r->bytes_down,
	       (unsigned long long)r->ms,
	       r->reason[0] ? " reason=" : "", r->reason[0] ? sl_logq(reason, sizeof(reason), r->reason) : "",
	       r->would_defer[0] ? " would_defer=" : "",
	       r->would_defer[0] ? sl_logq(would, sizeof(would), r->would_defer) : "");
	sl_pstats_outbound_done(sl_daemon_pstats(s->d), p->partner->domain, r);
	sl_sess_free(s);
}

static void sl_ob_launch(struct sl_sess *s, struct sl_outbound_params *prm, int fd)
{
	struct sl_daemon *d = s->d;
	const struct sl_controller *c = &s->ref->policy->controller;
	struct sl_outbound_env env = {
		.loop = d->loop,
		.hostname = c->hostname,
		.timeout_ms = c->timeout_ms,
		.connect_timeout_ms = c->timeout_ms < SL_CONNECT_TIMEOUT_MS ? c->timeout_ms
									     : SL_CONNECT_TIMEOUT_MS,
		.tag = sl_ob_tag,
		.ktls_caps = sl_sessions_ktls(),
		.step = sl_log_verbose() ? sl_ob_step : NULL,
		.done = sl_ob_done,
		.arg = s,
	};
	int r;

	if (s->tlsa.n) {
		prm->tlsa = (const struct sl_tlsa *)s->tlsa.v;
		prm->n_tlsa = s->tlsa.n;
		prm->tlsa_secure = s->tlsa.ad;
	}
	r = sl_outbound_start(&env, prm, &s->ob);
	if (r < 0) {
		sl_log(SL_LOG_ERR, "session=%llu direction=out domain=%s result=deferred "
		       "reason=\"cannot start session: %s\"", (unsigned long long)s->id,
		       prm->partner->domain, strerror(-r));
		sl_reply_close(fd, "421 4.3.0 smtplock: cannot start session\r\n");
		sl_sess_free(s);
	}
}

static void sl_tlsa_work(void *arg)
{
	struct sl_tlsa_wait *w = arg;
	/* sin_port and sin6_port share their offset: either family. */
	uint16_t port = ntohs(((struct sockaddr_in *)&w->prm.dst)->sin_port);

	/* Into w, not the session: a shutdown frees sessions while workers
	 * run (sl_loop_free joins them after), so the worker never touches
	 * one. */
	w->r = sl_resolve_tlsa(w->mx, port, &w->tlsa);
}

static void sl_tlsa_done(void *arg)
{
	struct sl_tlsa_wait *w = arg;

	/* A failed lookup leaves no records: the session fails with
	 * "no usable TLSA records", which is the DANE verdict. */
	if (w->r < 0)
		sl_log(SL_LOG_WARN, "session=%llu event=tlsa_lookup_failed mx=%s err=%s",
		       (unsigned long long)w->sess->id, w->mx, strerror(-w->r));
	w->sess->tlsa = w->tlsa;	/* moved: the session frees it */
	/* w->prm.mx is the session's own copy: w is freed now. */
	sl_ob_launch(w->sess, &w->prm, w->fd);
	free(w);
}

/* A new session for a connection the caps admit; otherwise the client is
 * told 421 4.3.2 (it retries later), the refusal logged, and NULL. */
static struct sl_sess *sl_sess_admit(struct sl_daemon *d, uint64_t session, bool inbound, int fd,
				     const struct sl_partner *p, const struct sockaddr *peer,
				     socklen_t peer_len)
{
	const char *why = "out of memory";
	struct sl_sess *s = NULL;
	struct sl_src *src;
	char ps[80], line[200];

	src = sl_sessions_admit(d, peer, peer_len, &why);
	if (src)
		s = sl_sess_new(d, session, inbound, src);
	if (s)
		return s;
	sl_sockaddr_format(peer, true, ps, sizeof(ps));
	sl_refuse_log(session, inbound, p->domain, ps, why);
	snprintf(line, sizeof(line), "421 4.3.2 smtplock: %s, try again later\r\n", why);
	sl_reply_close(fd, line);
	sl_src_drop(src);	/* made for this connection only */
	return NULL;
}

void sl_outbound_accept(struct sl_daemon *d, uint64_t session, int fd,
			const struct sockaddr *peer, socklen_t peer_len,
			const struct sl_orig *orig, const struct sl_partner *p,
			const char *mx_name)
{
	struct sl_outbound_params prm = { .id = session, .mta_fd = fd, .partner = p };
	struct sl_session_rt *rt;
	struct sl_sess *s;
	size_t idx;

	s = sl_sess_admit(d, session, false, fd, p, peer, peer_len);
	if (!s)
		return;
	rt = s->ref->rt;
	idx = sl_partner_index(s->ref->policy, p);
	if (!rt || idx >= rt->n || !rt->client[idx]) {
		sl_log(SL_LOG_ERR, "session=%llu direction=out domain=%s result=deferred "
		       "reason=\"no TLS context for this partner\"", (unsigned long long)session,
		       p->domain);
		sl_reply_close(fd, "421 4.3.0 smtplock: partner not configured for outbound\r\n");
		sl_sess_free(s);
		return;
	}
	/* The original destination, as the MTA asked for it. */
	prm.dst_len = sl_addr16_sockaddr(orig->addr, orig->port, &prm.dst);
	prm.policy_id = orig->policy_id ? orig->policy_id : sl_daemon_policy_id(d, p->domain);
	prm.tls = rt->client[idx];
	prm.password = rt->secret[idx];
	/* mx_name belongs to the address table, which the next map sync (a
	 * reload, a DNS refresh) replaces while this session runs: the
	 * session names its partner's host from its own copy. */
	snprintf(s->mx, sizeof(s->mx), "%s", mx_name && mx_name[0] ? mx_name : p->domain);
	prm.mx = s->mx;
	prm.owner = s;

	if (p->tls.verify == SL_VERIFY_DANE) {
		struct sl_tlsa_wait *w = calloc(1, sizeof(*w));

		if (!w) {
			sl_reply_close(fd, "421 4.3.0 smtplock: out of memory\r\n");
			sl_sess_free(s);
			return;
		}
		w->sess = s;
		w->prm = prm;
		w->fd = fd;
		snprintf(w->mx, sizeof(w->mx), "%s", prm.mx);
		w->job = (struct sl_job){ .work = sl_tlsa_work, .done = sl_tlsa_done, .arg = w };
		if (sl_loop_submit(d->loop, &w->job) == 0)
			return;
		free(w);
	}
	sl_ob_launch(s, &prm, fd);
}

/* ---- inbound ------------------------------------------------------------------ */

static void sl_in_done(void *arg, struct sl_inbound *in)
{
	struct sl_sess *s = arg;
	const struct sl_inbound_result *r = sl_inbound_result(in);
	const struct sl_inbound_params *p = sl_inbound_params(in);
	char helo[300], reason[600], cert[300], rcvd[1100], ktls[200];

	sl_log(strcmp(r->result, "relayed") ? SL_LOG_WARN : SL_LOG_INFO,
	       "session=%llu direction=in domain=%s peer=%s helo=%s tls=%s cipher=%s account=%s "
	       "cert=%s result=%s datapath=%s ktls=%s bytes_in=%llu bytes_out=%llu ms=%llu "
	       "auth_failures=%u%s%s%s%s",
	       (unsigned long long)s->id, p->partner->domain, r->peer,
	       sl_logq(helo, sizeof(helo), r->helo[0] ? r->helo : "-"), r->tls, r->cipher,
	       r->account[0] ? r->account : "-", sl_logq(cert, sizeof(cert), r->cert[0] ? r->cert : "-"),
	       r->result, sl_datapath_name(r->path),
	       sl_logq(ktls, sizeof(ktls), r->ktls[0] ? r->ktls : "-"), (unsigned long long)r->bytes_in,
	       (unsigned long long)r->bytes_out, (unsigned long long)r->ms, r->auth_failures,
	       r->reason[0] ? " reason=" : "", r->reason[0] ? sl_logq(reason, sizeof(reason), r->reason) : "",
	       r->received[0] ? " received=" : "",
	       r->received[0] ? sl_logq(rcvd, sizeof(rcvd), r->received) : "");
	sl_pstats_inbound_done(sl_daemon_pstats(s->d), p->partner->domain, r);
	sl_sess_free(s);
}

void sl_inbound_accept(struct sl_daemon *d, uint64_t session, int fd,
		       const struct sockaddr *peer, socklen_t peer_len,
		       const struct sl_partner *p)
{
	const struct sl_inbound_global *ig = &d->policy->inbound;
	struct sl_inbound_params prm = { .id = session, .fd = fd, .partner = p };
	struct sl_inbound_env env;
	struct sockaddr_storage *backend;
	struct sl_session_rt *rt;
	struct sl_sess *s;
	socklen_t blen, llen = sizeof(prm.local);
	size_t idx;
	int r;

	if (!p) {
		/* Steered at SYN time, unlisted since (a reload). */
		sl_log(SL_LOG_WARN, "session=%llu direction=in result=refused "
		       "reason=\"source no longer listed\"", (unsigned long long)session);
		sl_reply_close(fd, "421 4.3.0 smtplock: try again later\r\n");
		return;
	}
	s = sl_sess_admit(d, session, true, fd, p, peer, peer_len);
	if (!s)
		return;
	rt = s->ref->rt;
	idx = sl_partner_index(s->ref->policy, p);
	if (!rt || idx >= rt->n || !rt->server[idx]) {
		sl_log(SL_LOG_ERR, "session=%llu direction=in domain=%s result=refused "
		       "reason=\"partner not configured for inbound\"", (unsigned long long)session,
		       p->domain);
		sl_reply_close(fd, "421 4.3.0 smtplock: try again later\r\n");
		sl_sess_free(s);
		return;
	}
	memcpy(&prm.peer, peer, peer_len < sizeof(prm.peer) ? peer_len : sizeof(prm.peer));
	getsockname(fd, (struct sockaddr *)&prm.local, &llen);
	prm.tls = rt->server[idx];
	prm.policy_id = sl_daemon_policy_id(d, p->domain);
	prm.owner = s;
	backend = &s->backend;
	blen = sl_endpoint_sockaddr(&ig->backend, backend);
	env = (struct sl_inbound_env){
		.loop = d->loop,
		.hostname = s->ref->policy->controller.hostname,
		.timeout_ms = s->ref->policy->controller.timeout_ms,
		.backend = backend,
		.backend_len = blen,
		.announce = ig->announce,
		.max_auth_failures = SL_AUTH_MAX_FAILURES,
		.auth_fail_delay_ms = SL_AUTH_FAIL_DELAY_MS,
		.caps = &sl_backend_caps,
		.ktls_caps = sl_sessions_ktls(),
		.done = sl_in_done,
		.arg = s,
	};
	r = sl_inbound_start(&env, &prm, &s->in);
	if (r < 0) {
		sl_log(SL_LOG_ERR, "session=%llu direction=in domain=%s result=refused "
		       "reason=\"cannot start session: %s\"", (unsigned long long)session,
		       p->domain, strerror(-r));
		sl_reply_close(fd, "421 4.3.0 smtplock: try again later\r\n");
		sl_sess_free(s);
	}
}

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * events.c — what the BPF programs report: log each event once, and end
 * sockets that tried to send plaintext past the redirect (SOCK_DESTROY),
 * so their owner fails at once instead of retransmitting into the guard.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "daemon_int.h"
#include "log.h"

void sl_events_on_readable(struct sl_loop *loop, int fd, uint32_t events, void *arg)
{
	struct sl_daemon *d = arg;
	int r;

	(void)loop;
	(void)fd;
	(void)events;
	r = sl_bpfmap_events_consume(d->bpf);
	if (r < 0)
		sl_log(SL_LOG_WARN, "event=events_read_failed err=%s", strerror(-r));
}

static bool sl_destroyed_recently(struct sl_daemon_priv *p, uint64_t cookie)
{
	for (unsigned i = 0; i < SL_DESTROYED_RING; i++)
		if (p->destroyed[i] == cookie)
			return true;
	p->destroyed[p->n_destroyed++ % SL_DESTROYED_RING] = cookie;
	return false;
}

static void sl_event_domain(struct sl_daemon *d, uint32_t id, char *buf, size_t len)
{
	struct sl_pstate *ps = id ? sl_partners_by_id(d, id) : NULL;

	if (ps)
		snprintf(buf, len, "%s", ps->domain);
	else if (id)
		snprintf(buf, len, "id:%u", id);
	else
		snprintf(buf, len, "-");
}

void sl_events_handle(const struct sl_event *ev, void *arg)
{
	struct sl_daemon *d = arg;
	char dom[SL_DOMAIN_MAX], src[64], dst[64], comm[64], cq[80];
	int r;

	sl_event_domain(d, ev->policy_id, dom, sizeof(dom));
	sl_addr16_port_format(ev->saddr, ev->sport, src, sizeof(src));
	sl_addr16_port_format(ev->daddr, ev->dport, dst, sizeof(dst));
	memcpy(comm, ev->comm, sizeof(ev->comm));
	comm[sizeof(ev->comm)] = '\0';
	sl_logq(cq, sizeof(cq), comm);

	switch (ev->type) {
	case SL_EV_GUARD_DROP:
	case SL_EV_WOULD_DROP:
		sl_log(ev->type == SL_EV_GUARD_DROP ? SL_LOG_WARN : SL_LOG_INFO,
		       "event=%s policy=%s pid=%u comm=%s src=%s dst=%s reason=%s cgroup=%llu cookie=%llu",
		       sl_event_type_name(ev->type), dom, ev->pid, cq, src, dst,
		       sl_reason_name(ev->reason), (unsigned long long)ev->cgroup_id,
		       (unsigned long long)ev->cookie);
		break;
	case SL_EV_CONNECT_REFUSED:
		sl_log(SL_LOG_WARN, "event=connect_refused policy=%s pid=%u comm=%s dst=%s reason=%s",
		       dom, ev->pid, cq, dst, sl_reason_name(ev->reason));
		return;
	case SL_EV_INBOUND_REFUSED:
		sl_log(SL_LOG_WARN, "event=inbound_refused policy=%s src=%s port=%u reason=%s",
		       dom, src, ev->dport, sl_reason_name(ev->reason));
		return;
	default:
		sl_log(SL_LOG_WARN, "event=unknown_bpf_event type=%u", ev->type);
		return;
	}

	/* Only a dropped untagged socket is ended: our own PRE_TLS sockets
	 * belong to their session, and testing mode never interferes. */
	if (ev->type != SL_EV_GUARD_DROP || !d->priv->diag ||
	    (ev->reason != SL_R_UNTAGGED && ev->reason != SL_R_BAD_TAG) || !ev->sport ||
	    sl_destroyed_recently(d->priv, ev->cookie))
		return;
	r = sl_sockdiag_destroy(d->priv->diag, ev->saddr, ev->sport, ev->daddr, ev->dport,
				ev->cookie);
	if (r == 0)
		sl_log(SL_LOG_WARN, "event=socket_destroyed policy=%s pid=%u comm=%s src=%s dst=%s cookie=%llu",
		       dom, ev->pid, cq, src, dst, (unsigned long long)ev->cookie);
	else
		sl_log(r == -ENOENT ? SL_LOG_INFO : SL_LOG_WARN,
		       "event=socket_destroy_failed policy=%s src=%s dst=%s cookie=%llu err=%s",
		       dom, src, dst, (unsigned long long)ev->cookie, strerror(-r));
}

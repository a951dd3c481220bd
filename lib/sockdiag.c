/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* sockdiag.c — SOCK_DESTROY through libnl; see sockdiag.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include <netlink/msg.h>
#include <netlink/netlink.h>
#include <netlink/socket.h>

#include "sockdiag.h"

struct sl_sockdiag {
	struct nl_sock *sk;
	struct nl_cb *cb;
	int err;			/* errno of the last request's reply */
	int done;
};

static int sl_sd_on_err(struct sockaddr_nl *nla, struct nlmsgerr *e, void *arg)
{
	struct sl_sockdiag *s = arg;

	(void)nla;
	s->err = e->error;	/* negative errno, or 0 for an ACK */
	s->done = 1;
	return NL_STOP;
}

static int sl_sd_on_ack(struct nl_msg *msg, void *arg)
{
	struct sl_sockdiag *s = arg;

	(void)msg;
	s->err = 0;
	s->done = 1;
	return NL_STOP;
}

int sl_sockdiag_open(struct sl_sockdiag **ret)
{
	struct sl_sockdiag *s = calloc(1, sizeof(*s));
	int r;

	if (!s)
		return -ENOMEM;
	s->sk = nl_socket_alloc();
	s->cb = nl_cb_alloc(NL_CB_DEFAULT);
	if (!s->sk || !s->cb) {
		r = -ENOMEM;
		goto fail;
	}
	nl_cb_err(s->cb, NL_CB_CUSTOM, sl_sd_on_err, s);
	nl_cb_set(s->cb, NL_CB_ACK, NL_CB_CUSTOM, sl_sd_on_ack, s);
	r = nl_connect(s->sk, NETLINK_SOCK_DIAG);
	if (r < 0) {
		r = -EPROTONOSUPPORT;
		goto fail;
	}
	*ret = s;
	return 0;
fail:
	sl_sockdiag_free(s);
	return r;
}

struct sl_sockdiag *sl_sockdiag_free(struct sl_sockdiag *s)
{
	if (!s)
		return NULL;
	nl_cb_put(s->cb);
	nl_socket_free(s->sk);	/* closes the socket */
	free(s);
	return NULL;
}

static int sl_is_mapped(const uint8_t a[16])
{
	static const uint8_t pfx[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	return memcmp(a, pfx, sizeof(pfx)) == 0;
}

int sl_sockdiag_destroy(struct sl_sockdiag *s, const uint8_t laddr[16], uint16_t lport,
			const uint8_t raddr[16], uint16_t rport, uint64_t cookie)
{
	struct inet_diag_req_v2 req;
	int r;

	if (sl_is_mapped(laddr) != sl_is_mapped(raddr))
		return -EINVAL;
	memset(&req, 0, sizeof(req));
	req.sdiag_protocol = IPPROTO_TCP;
	req.idiag_states = ~0u;
	req.id.idiag_sport = htons(lport);
	req.id.idiag_dport = htons(rport);
	req.id.idiag_if = 0;
	if (sl_is_mapped(laddr)) {
		req.sdiag_family = AF_INET;
		memcpy(&req.id.idiag_src[0], laddr + 12, 4);
		memcpy(&req.id.idiag_dst[0], raddr + 12, 4);
	} else {
		req.sdiag_family = AF_INET6;
		memcpy(req.id.idiag_src, laddr, 16);
		memcpy(req.id.idiag_dst, raddr, 16);
	}
	if (cookie) {
		req.id.idiag_cookie[0] = (uint32_t)cookie;
		req.id.idiag_cookie[1] = (uint32_t)(cookie >> 32);
	} else {
		req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
		req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	}
	r = nl_send_simple(s->sk, SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, &req, sizeof(req));
	if (r < 0)
		return -EIO;
	s->done = 0;
	s->err = 0;
	while (!s->done) {
		r = nl_recvmsgs(s->sk, s->cb);
		if (r < 0 && !s->done)
			return -EIO;
	}
	return s->err;
}

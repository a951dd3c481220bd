/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * outbound_stub.c — placeholder session hooks (daemon.h) until the
 * SMTP/TLS session code replaces this file.
 *
 * Fail closed: every redirected connection is answered with a 421, so the
 * MTA keeps the message queued and retries; nothing is ever relayed in
 * plaintext.  The log line names the original destination (tests).
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon_int.h"
#include "log.h"

static void sl_stub_reply(int fd, const char *line)
{
	ssize_t w = send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);

	(void)w;
	shutdown(fd, SHUT_WR);
	close(fd);
}

void sl_outbound_accept(struct sl_daemon *d, uint64_t session, int fd,
			const struct sl_orig *orig, const struct sl_partner *p,
			const char *mx_name)
{
	char line[SL_DOMAIN_MAX + 96], dst[64];

	(void)d;
	sl_format_addr_port(orig->addr, orig->port, dst, sizeof(dst));
	sl_log(SL_LOG_WARN, "event=outbound_unavailable session=%llu domain=%s mx=%s orig=%s "
	       "result=deferred", (unsigned long long)session, p->domain,
	       mx_name[0] ? mx_name : "-", dst);
	snprintf(line, sizeof(line), "421 4.3.0 smtplock: %s: session handling not available\r\n",
		 p->domain);
	sl_stub_reply(fd, line);
}

void sl_inbound_accept(struct sl_daemon *d, uint64_t session, int fd,
		       const struct sockaddr *peer, socklen_t peer_len,
		       const struct sl_partner *p)
{
	(void)d;
	(void)peer;
	(void)peer_len;
	sl_log(SL_LOG_WARN, "event=inbound_unavailable session=%llu domain=%s result=deferred",
	       (unsigned long long)session, p ? p->domain : "-");
	sl_stub_reply(fd, "421 4.3.0 smtplock: inbound session handling not available\r\n");
}

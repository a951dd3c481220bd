/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * harness.h — one SMTP-over-TLS session with three parties, for the kTLS
 * tests and the data-path benchmark (tests/vm/).
 *
 *   MTA (plain TCP) ⇄ controller (this process's main thread) ⇄ partner (TLS)
 *
 * The controller does what smtplock's session code does: the SMTP
 * dialogue up to STARTTLS, the TLS handshake (client for outbound, server
 * for inbound), EHLO + AUTH through SSL_read/SSL_write, the kTLS handoff
 * (lib/ktls), and then relays with the pumps (lib/pump) or a userspace
 * OpenSSL relay.  The MTA and the partner run in threads; one of them
 * sends a mail transaction whose body is a generated stream, the other
 * checks every byte of it and answers 250 only if all arrived intact.
 */
#ifndef SL_VM_HARNESS_H
#define SL_VM_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "ktls.h"
#include "pump.h"

enum h_path {
	H_PATH_SPLICE = 1,	/* kTLS + splice pumps */
	H_PATH_RW,		/* kTLS + read/write pumps */
	H_PATH_USERSPACE,	/* OpenSSL relay, no handoff */
};

enum h_role {
	H_OUTBOUND = 1,		/* controller is the TLS client, MTA sends */
	H_INBOUND,		/* controller is the TLS server, partner sends */
};

/* What the partner does besides the transaction (outbound only). */
enum h_partner_act {
	H_ACT_NONE = 0,
	H_ACT_TICKETS_AFTER_AUTH,	/* NSTs right after 235: in flight at the switch */
	H_ACT_TICKETS_AFTER_SWITCH,	/* NSTs before answering MAIL FROM */
	H_ACT_KEYUPDATE_BEFORE_SWITCH,	/* KeyUpdate before answering AUTH */
	H_ACT_KEYUPDATE_AFTER_SWITCH,	/* KeyUpdate, then the MAIL FROM answer */
	H_ACT_CLOSE_NOTIFY,		/* "421", close_notify, close after MAIL FROM */
};

struct h_opts {
	enum h_role role;
	enum h_path path;
	int tls_version;		/* TLS1_2_VERSION / TLS1_3_VERSION */
	const char *cipher;		/* OpenSSL name of the one suite allowed */
	size_t body;			/* bytes of the message body */
	int tickets;			/* partner/our server's num_tickets; -1 = default */
	enum h_partner_act act;
	const struct sl_ktls_caps *caps;/* NULL = probed */
	bool no_openssl_ktls;		/* clear SSL_OP_ENABLE_KTLS: own keys only */
	size_t pipe_size;		/* splice pumps: 0 = default */
	bool check_busy;		/* first try the handoff with 1 byte "buffered" */
	bool hrr;			/* TLS 1.3: force a HelloRetryRequest */
	unsigned timeout_s;		/* whole session; 0 = 180 */
};

struct h_result {
	int handoff;			/* sl_ktls_handoff()'s result; 1 = not tried */
	int busy;			/* check_busy: the first try's result */
	char why[160];			/* sl_ktls_offloadable's reason */
	struct sl_ktls_info info;
	unsigned active;		/* sl_ktls_active() after the switch (or not) */
	int pump_err[2];		/* [0] MTA→partner, [1] partner→MTA */
	int pump_side[2];
	struct sl_ktls_rec rec;		/* partner→MTA pump's last control record */
	bool close_notify;		/* partner→MTA ended with a close_notify */
	bool sender_ok;			/* the sender got "250 … ok" and 221 */
	bool receiver_ok;		/* the receiver checked every body byte */
	bool mta_eof;			/* MTA saw the end of the stream */
	char mta_last[128];		/* last line the MTA read */
	char error[256];		/* first failure, for diagnostics */
	uint64_t relayed;		/* body direction bytes through the relay */
	double wall_s;			/* relay phase: wall time */
	double cpu_s;			/* relay phase: controller thread CPU */
	bool timed_out;
	int server_hellos;		/* seen by the controller: 2 = HelloRetryRequest */
};

/* The kernel's capabilities, probed once. */
const struct sl_ktls_caps *h_caps(void);

/* Run one session; false if the harness itself failed (res->error). */
bool h_run(const struct h_opts *o, struct h_result *res);

/* Held connections for the memory test: n sessions handed off and idle.
 * Returns heap bytes per session after the switch, or -1. */
long h_heap_per_session(int n, int tls_version, const char *cipher, char *err, size_t len);

const char *h_path_name(enum h_path p);

#endif

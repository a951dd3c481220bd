// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * test_ktls.c — the kTLS suite.  Runs INSIDE the VM (tests/vm/run.sh →
 * scripts/vm.sh), on a kernel with CONFIG_TLS; prints TAP.
 *
 * Groups: probe; ciphers, control, fallback, memory, big (lib/ktls and
 * lib/pump driven by the harness's own controller); sessions (the real
 * lib/outbound and lib/inbound sessions: handoff after AUTH, data path
 * chosen and reported, the policy's tls.ktls); bpf.
 *
 *   test_ktls [BPF_DIR]      BPF_DIR: where the *.bpf.o are (build/bpf)
 *
 * SL_VM_BIG=BYTES changes the size of the big payloads (default 50 MB);
 * SL_VM_ONLY=GROUP,… runs only some groups (probe always runs).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>
#include <openssl/ssl.h>

#include "harness.h"
#include "ktls.h"
#include "pump.h"
#include "tap.h"

#define KIB 1024u
#define MIB (1024u * 1024u)

static size_t big = 50u * MIB;

struct suite {
	int version;
	const char *name;	/* OpenSSL name */
	enum sl_ktls_cipher kc;
};

static const struct suite suites[] = {
	{ TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", SL_KTLS_AES_GCM_128 },
	{ TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384", SL_KTLS_AES_GCM_256 },
	{ TLS1_2_VERSION, "ECDHE-ECDSA-CHACHA20-POLY1305", SL_KTLS_CHACHA20_POLY1305 },
	{ TLS1_2_VERSION, "ECDHE-ECDSA-AES128-CCM", SL_KTLS_AES_CCM_128 },
	{ TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", SL_KTLS_AES_GCM_128 },
	{ TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384", SL_KTLS_AES_GCM_256 },
	{ TLS1_3_VERSION, "TLS_CHACHA20_POLY1305_SHA256", SL_KTLS_CHACHA20_POLY1305 },
	{ TLS1_3_VERSION, "TLS_AES_128_CCM_SHA256", SL_KTLS_AES_CCM_128 },
};

static const char *vname(int v)
{
	return v == TLS1_3_VERSION ? "TLSv1.3" : "TLSv1.2";
}

static bool kernel_has(int version, enum sl_ktls_cipher c)
{
	const struct sl_ktls_caps *caps = h_caps();
	int v = version == TLS1_3_VERSION ? SL_KTLS_V13 : SL_KTLS_V12;

	return caps->tx[v] & caps->rx[v] & (1u << c);
}

static void diag_result(const struct h_result *r)
{
	char info[96];

	if (r->handoff == 0)
		tap_diag("kTLS: %s, active 0x%x", sl_ktls_info_str(&r->info, info, sizeof(info)),
			 r->active);
	else if (r->handoff != 1)
		tap_diag("handoff: %s%s%s", strerror(-r->handoff), r->why[0] ? ": " : "", r->why);
	if (r->error[0])
		tap_diag("error: %s", r->error);
	if (r->pump_err[0] || r->pump_err[1])
		tap_diag("pumps: up %s (side %d), down %s (side %d)",
			 r->pump_err[0] ? strerror(-r->pump_err[0]) : "ok", r->pump_side[0],
			 r->pump_err[1] ? strerror(-r->pump_err[1]) : "ok", r->pump_side[1]);
	tap_diag("relayed %llu bytes in %.2fs wall, %.2fs controller CPU; MTA's last line \"%s\"",
		 (unsigned long long)r->relayed, r->wall_s, r->cpu_s, r->mta_last);
}

/* A session that must go through the kernel both ways and end cleanly. */
static void expect_ktls(const char *name, const struct h_opts *o, enum sl_ktls_by want_tx,
			enum sl_ktls_by want_rx)
{
	struct h_result r;
	bool ok = true;

	h_run(o, &r);
	if (o->hrr)
		ok &= tap_int(r.server_hellos, 2, "%s: the server did ask again", name);
	ok &= tap_ok(r.handoff == 0 && r.active == (SL_KTLS_DIR_TX | SL_KTLS_DIR_RX),
		     "%s: handoff, kernel TLS active for TX and RX", name);
	if (want_tx)
		ok &= tap_ok(r.info.tx == want_tx && r.info.rx == want_rx,
			     "%s: keys installed by the expected party", name);
	ok &= tap_ok(r.sender_ok && r.receiver_ok && !r.timed_out,
		     "%s: SMTP transaction, %zu-byte body intact", name, o->body);
	ok &= tap_ok(!r.pump_err[0] && !r.pump_err[1] && r.close_notify && r.mta_eof,
		     "%s: ended with close_notify, both directions closed", name);
	if (!ok)
		diag_result(&r);
}

/* A session the kernel must not take: the userspace relay carries it. */
static void expect_fallback(const char *name, const struct h_opts *o, int want_err,
			    bool want_nothing_in_kernel)
{
	struct h_result r;

	h_run(o, &r);
	if (!tap_int(r.handoff, want_err, "%s: handoff refused (%s)", name, strerror(-want_err)))
		diag_result(&r);
	if (want_nothing_in_kernel && !tap_int(r.active, 0, "%s: nothing in the kernel", name))
		diag_result(&r);
	if (!tap_ok(r.sender_ok && r.receiver_ok && !r.timed_out,
		    "%s: userspace relay carried the transaction intact", name))
		diag_result(&r);
}

static void t_probe(void)
{
	const struct sl_ktls_caps *caps = h_caps();
	struct sl_ktls_caps none = { .err = -ENOENT };
	char buf[SL_KTLS_CAPS_STR];

	tap_ok(caps->err == 0, "probe: the kernel has the tls ULP");
	tap_diag("kTLS: %s", sl_ktls_caps_str(caps, buf, sizeof(buf)));
	for (int v = 0; v < 2; v++)
		tap_ok((caps->tx[v] & caps->rx[v] & 3) == 3,
		       "probe: %s AES-GCM-128 and -256 offered for TX and RX",
		       v ? "TLS 1.3" : "TLS 1.2");
	tap_str(sl_ktls_caps_str(&none, buf, sizeof(buf)),
		"none (TCP_ULP tls: No such file or directory)", "probe: a kernel without kTLS, in words");
	tap_ok(!sl_ktls_caps_any(&none), "probe: a kernel without kTLS offers nothing");
}

static void t_ciphers(void)
{
	char name[128];

	for (size_t i = 0; i < TAP_NELEM(suites); i++) {
		const struct suite *s = &suites[i];
		struct h_opts o = { .role = H_OUTBOUND, .path = H_PATH_SPLICE, .tls_version = s->version,
				    .cipher = s->name, .body = 64 * KIB, .tickets = -1 };

		if (!kernel_has(s->version, s->kc)) {
			tap_diag("%s %s: the kernel does not offer it", vname(s->version), s->name);
			continue;
		}
		/* OpenSSL 3.0 does TX and RX for TLS 1.2, and TX for TLS 1.3
		 * except with CCM; lib/ktls does the rest. */
		snprintf(name, sizeof(name), "outbound %s %s", vname(s->version), s->name);
		expect_ktls(name, &o,
			    s->version == TLS1_3_VERSION && s->kc == SL_KTLS_AES_CCM_128 ?
			    SL_KTLS_BY_SMTPLOCK : SL_KTLS_BY_OPENSSL,
			    s->version == TLS1_3_VERSION ? SL_KTLS_BY_SMTPLOCK : SL_KTLS_BY_OPENSSL);
		/* The same with every key installed by lib/ktls. */
		o.no_openssl_ktls = true;
		snprintf(name, sizeof(name), "outbound %s %s, own keys", vname(s->version), s->name);
		expect_ktls(name, &o, SL_KTLS_BY_SMTPLOCK, SL_KTLS_BY_SMTPLOCK);
	}
	for (int v = 0; v < 2; v++) {
		struct h_opts o = { .role = H_INBOUND, .path = H_PATH_SPLICE,
				    .tls_version = v ? TLS1_3_VERSION : TLS1_2_VERSION,
				    .cipher = v ? "TLS_AES_128_GCM_SHA256" : "ECDHE-ECDSA-AES128-GCM-SHA256",
				    .body = 64 * KIB, .tickets = -1 };

		snprintf(name, sizeof(name), "inbound %s AES-128-GCM", vname(o.tls_version));
		expect_ktls(name, &o, 0, 0);
		o.no_openssl_ktls = true;
		snprintf(name, sizeof(name), "inbound %s AES-128-GCM, own keys", vname(o.tls_version));
		expect_ktls(name, &o, SL_KTLS_BY_SMTPLOCK, SL_KTLS_BY_SMTPLOCK);
	}
	{
		struct h_opts o = { .role = H_OUTBOUND, .path = H_PATH_SPLICE,
				    .tls_version = TLS1_3_VERSION, .cipher = "TLS_AES_128_GCM_SHA256",
				    .body = 16 * KIB, .tickets = 0 };

		expect_ktls("outbound TLSv1.3, no session tickets", &o, 0, 0);
		o.tickets = -1;
		o.hrr = true;
		o.no_openssl_ktls = true;
		expect_ktls("outbound TLSv1.3 after a HelloRetryRequest, own keys", &o,
			    SL_KTLS_BY_SMTPLOCK, SL_KTLS_BY_SMTPLOCK);
		o.role = H_INBOUND;
		expect_ktls("inbound TLSv1.3 after a HelloRetryRequest, own keys", &o,
			    SL_KTLS_BY_SMTPLOCK, SL_KTLS_BY_SMTPLOCK);
	}
}

static void t_big(void)
{
	static const enum h_path paths[] = { H_PATH_SPLICE, H_PATH_RW, H_PATH_USERSPACE };
	char name[128];

	for (size_t i = 0; i < TAP_NELEM(paths); i++) {
		for (int role = H_OUTBOUND; role <= H_INBOUND; role++) {
			struct h_opts o = { .role = role, .path = paths[i],
					    .tls_version = TLS1_3_VERSION,
					    .cipher = "TLS_AES_128_GCM_SHA256", .body = big,
					    .tickets = -1, .timeout_s = 300 };
			struct h_result r;

			snprintf(name, sizeof(name), "%s %s, %zu MB body", h_path_name(paths[i]),
				 role == H_OUTBOUND ? "outbound (MTA→partner)" : "inbound (partner→MTA)",
				 big / MIB);
			h_run(&o, &r);
			if (paths[i] != H_PATH_USERSPACE &&
			    !tap_ok(r.handoff == 0 && r.active == 3, "%s: kernel TLS both ways", name))
				diag_result(&r);
			if (!tap_ok(r.sender_ok && r.receiver_ok && !r.timed_out && !r.pump_err[0] &&
				    !r.pump_err[1], "%s: every line intact and in order", name))
				diag_result(&r);
			else
				tap_diag("%s: %.1f MB/s, %.2f s controller CPU", name,
					 (double)r.relayed / MIB / (r.wall_s > 0 ? r.wall_s : 1), r.cpu_s);
		}
	}
}

static void t_control(void)
{
	static const enum h_path kpaths[] = { H_PATH_SPLICE, H_PATH_RW };
	struct h_opts base = { .role = H_OUTBOUND, .path = H_PATH_SPLICE,
			       .tls_version = TLS1_3_VERSION, .cipher = "TLS_AES_128_GCM_SHA256",
			       .body = 32 * KIB, .tickets = 2 };
	struct h_opts o;
	struct h_result r;
	char name[128];

	/* Tickets in flight at the switch: OpenSSL or the kernel reads them. */
	o = base;
	o.act = H_ACT_TICKETS_AFTER_AUTH;
	expect_ktls("tickets sent right after AUTH (in flight at the switch)", &o, 0, 0);

	for (size_t i = 0; i < TAP_NELEM(kpaths); i++) {
		const char *pn = h_path_name(kpaths[i]);

		o = base;
		o.path = kpaths[i];
		o.act = H_ACT_TICKETS_AFTER_SWITCH;
		h_run(&o, &r);
		snprintf(name, sizeof(name), "%s: tickets after the switch", pn);
		if (!tap_ok(r.handoff == 0 && r.sender_ok && r.receiver_ok && !r.pump_err[1],
			    "%s are skipped, the transaction goes on", name))
			diag_result(&r);
		tap_ok(r.rec.tickets >= 2, "%s: the pump saw them as control records (%u)", name,
		       r.rec.tickets);

		o = base;
		o.path = kpaths[i];
		o.act = H_ACT_KEYUPDATE_AFTER_SWITCH;
		h_run(&o, &r);
		snprintf(name, sizeof(name), "%s: KeyUpdate from the partner", pn);
		if (!tap_ok(r.handoff == 0 && r.pump_err[1] == -EKEYEXPIRED &&
			    r.pump_side[1] == SL_PUMP_SIDE_IN && r.rec.hs_type == SL_TLS_HS_KEY_UPDATE,
			    "%s ends the read side with EKEYEXPIRED", name))
			diag_result(&r);
		if (!tap_ok(!r.timed_out && r.mta_eof && !r.sender_ok && strncmp(r.mta_last, "250", 3) != 0,
			    "%s: no stall, no bytes after it reach the MTA, MTA sees the end", name))
			diag_result(&r);
	}

	o = base;
	o.act = H_ACT_KEYUPDATE_BEFORE_SWITCH;
	expect_fallback("KeyUpdate before the switch", &o, -EKEYREJECTED, false);

	for (int v = 0; v < 2; v++) {
		o = base;
		o.tls_version = v ? TLS1_3_VERSION : TLS1_2_VERSION;
		o.cipher = v ? "TLS_AES_128_GCM_SHA256" : "ECDHE-ECDSA-AES128-GCM-SHA256";
		o.act = H_ACT_CLOSE_NOTIFY;
		h_run(&o, &r);
		snprintf(name, sizeof(name), "%s close_notify from the partner mid-session",
			 vname(o.tls_version));
		if (!tap_ok(r.handoff == 0 && !r.pump_err[1] && r.close_notify && r.mta_eof &&
			    strncmp(r.mta_last, "421", 3) == 0,
			    "%s: its last reply reaches the MTA, then a clean end", name))
			diag_result(&r);
	}

	o = base;
	o.check_busy = true;
	h_run(&o, &r);
	tap_int(r.busy, -EBUSY, "handoff with bytes still buffered by the caller is refused");
	if (!tap_ok(r.handoff == 0 && r.sender_ok && r.receiver_ok,
		    "… and the session is still whole for the real handoff"))
		diag_result(&r);
}

static void t_fallback(void)
{
	struct h_opts o = { .role = H_OUTBOUND, .path = H_PATH_SPLICE, .body = 64 * KIB, .tickets = -1 };
	struct sl_ktls_caps nokernel = { .err = -ENOENT }, no256 = *h_caps();

	o.tls_version = TLS1_3_VERSION;
	o.cipher = "TLS_AES_128_CCM_8_SHA256";
	expect_fallback("TLSv1.3 AES-128-CCM-8 (no kernel cipher)", &o, -EOPNOTSUPP, true);

	o.tls_version = TLS1_2_VERSION;
	o.cipher = "ECDHE-ECDSA-AES128-SHA256";
	expect_fallback("TLSv1.2 AES-128-CBC-SHA256 (no kernel cipher)", &o, -EOPNOTSUPP, true);

	o.tls_version = TLS1_3_VERSION;
	o.cipher = "TLS_AES_128_GCM_SHA256";
	o.caps = &nokernel;
	expect_fallback("probe said: no kernel TLS", &o, -EOPNOTSUPP, true);

	no256.tx[SL_KTLS_V13] &= (uint8_t)~(1u << SL_KTLS_AES_GCM_256);
	o.cipher = "TLS_AES_256_GCM_SHA384";
	o.caps = &no256;
	expect_fallback("probe said: no TLS 1.3 AES-256-GCM TX", &o, -EOPNOTSUPP, false);
}

static void t_memory(void)
{
	char err[256] = "";
	long per = h_heap_per_session(16, TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", err, sizeof(err));

	if (!tap_ok(per >= 0 && per <= 10 * 1024,
		    "a held kTLS connection costs <= 10 KiB of controller heap (%ld bytes)", per))
		tap_diag("%s", err);
}

static int bpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (level == LIBBPF_WARN)
		return vfprintf(stdout, fmt, ap);	/* shows up as TAP noise only on failure */
	return 0;
}

/* ------------------------------------------------------------------ */
/* The real sessions                                                   */

static void diag_hs(const struct hs_result *r)
{
	tap_diag("session: %s (%s); path %s; ktls \"%s\"; kTLS 0x%x on %d socket(s); %.1fs",
		 r->result, r->reason, sl_datapath_name(r->path), r->ktls, r->ktls_dirs,
		 r->ktls_socks, r->wall_s);
	tap_diag("parties: sender %s, receiver %s, MTA first \"%s\", last \"%s\"%s%s",
		 r->h.sender_ok ? "ok" : "FAILED", r->h.receiver_ok ? "ok" : "FAILED",
		 r->mta_first, r->h.mta_last, r->h.error[0] ? "; " : "", r->h.error);
}

/* A session the kernel must carry on want, end to end. */
static void expect_session(const char *name, const struct hs_opts *o, enum sl_datapath want)
{
	struct hs_result r;
	bool ok = true;

	hs_run(o, &r);
	ok &= tap_str(r.result, "relayed", "%s: relayed", name);
	ok &= tap_str(sl_datapath_name(r.path), sl_datapath_name(want), "%s: data path", name);
	ok &= tap_ok(r.ktls_dirs == (SL_KTLS_DIR_TX | SL_KTLS_DIR_RX) && r.ktls_socks == 1,
		     "%s: kernel TLS TX and RX on the partner socket (getsockopt)", name);
	ok &= tap_ok(strncmp(r.ktls, vname(o->tls_version), 7) == 0,
		     "%s: the result names the kTLS session (%s)", name, r.ktls);
	ok &= tap_ok(r.auth_ok && r.h.sender_ok && r.h.receiver_ok,
		     "%s: AUTH, then a %zu-byte body intact", name, o->body);
	if (o->role == H_OUTBOUND)
		ok &= tap_ok(strncmp(r.mta_first, "220 partner.test", 16) == 0 && r.h.mta_eof,
			     "%s: the MTA was greeted with the partner's 220, saw the end", name);
	if (!ok)
		diag_hs(&r);
	else if (o->body >= MIB)
		tap_diag("%s: %.1f MB/s", name, (double)o->body / MIB / (r.wall_s > 0 ? r.wall_s : 1));
}

static void t_sessions(void)
{
	static const struct suite gcm[] = {
		{ TLS1_2_VERSION, "ECDHE-ECDSA-AES128-GCM-SHA256", SL_KTLS_AES_GCM_128 },
		{ TLS1_2_VERSION, "ECDHE-ECDSA-AES256-GCM-SHA384", SL_KTLS_AES_GCM_256 },
		{ TLS1_3_VERSION, "TLS_AES_128_GCM_SHA256", SL_KTLS_AES_GCM_128 },
		{ TLS1_3_VERSION, "TLS_AES_256_GCM_SHA384", SL_KTLS_AES_GCM_256 },
	};
	struct hs_opts o;
	struct hs_result r;
	char name[160];
	bool ok;

	/* Every AES-GCM suite, both roles, splice. */
	for (size_t i = 0; i < TAP_NELEM(gcm); i++) {
		for (int role = H_OUTBOUND; role <= H_INBOUND; role++) {
			o = (struct hs_opts){ .role = role, .tls_version = gcm[i].version,
					      .cipher = gcm[i].name, .body = 256 * KIB };
			snprintf(name, sizeof(name), "session %s %s %s",
				 role == H_OUTBOUND ? "outbound" : "inbound",
				 vname(gcm[i].version), gcm[i].name);
			expect_session(name, &o, SL_DATAPATH_KTLS_SPLICE);
		}
	}

	/* The big message through each kTLS path, both roles. */
	for (int rw = 0; rw <= 1; rw++) {
		for (int role = H_OUTBOUND; role <= H_INBOUND; role++) {
			o = (struct hs_opts){ .role = role, .tls_version = TLS1_3_VERSION,
					      .cipher = "TLS_AES_128_GCM_SHA256", .body = big,
					      .rw = rw, .mode = SL_KTLS_REQUIRED, .timeout_s = 300 };
			snprintf(name, sizeof(name), "session %s, ktls required, %s, %zu MB",
				 role == H_OUTBOUND ? "outbound" : "inbound",
				 rw ? "read/write forced" : "splice", big / MIB);
			expect_session(name, &o, rw ? SL_DATAPATH_KTLS_RW : SL_DATAPATH_KTLS_SPLICE);
		}
	}

	/* A KeyUpdate from the partner after the handoff: the kernel cannot
	 * follow; the session ends with the reason, nothing after it (the
	 * 250 to MAIL FROM) reaches the MTA, the MTA sees the end. */
	for (int rw = 0; rw <= 1; rw++) {
		o = (struct hs_opts){ .role = H_OUTBOUND, .tls_version = TLS1_3_VERSION,
				      .cipher = "TLS_AES_128_GCM_SHA256", .body = 32 * KIB,
				      .act = H_ACT_KEYUPDATE_AFTER_SWITCH, .rw = rw, .timeout_s = 60 };
		snprintf(name, sizeof(name), "session, %s: KeyUpdate from the partner", rw ? "rw" : "splice");
		hs_run(&o, &r);
		ok = tap_ok(r.path != SL_DATAPATH_USERSPACE && r.ktls_dirs == 3 &&
			    strcmp(r.result, "relay-error") == 0 && strstr(r.reason, "KeyUpdate"),
			    "%s ends the session with the reason", name);
		ok &= tap_ok(r.wall_s < 30 && r.h.mta_eof && !r.h.sender_ok && r.h.mta_last[0] == '\0',
			     "%s: no stall, no byte after it at the MTA, the MTA sees the end", name);
		if (!ok)
			diag_hs(&r);
	}

	/* The partner's last word, then close_notify: a clean end. */
	o = (struct hs_opts){ .role = H_OUTBOUND, .tls_version = TLS1_3_VERSION,
			      .cipher = "TLS_AES_128_GCM_SHA256", .body = 32 * KIB,
			      .act = H_ACT_CLOSE_NOTIFY };
	hs_run(&o, &r);
	if (!tap_ok(strcmp(r.result, "relayed") == 0 && r.path == SL_DATAPATH_KTLS_SPLICE &&
		    strncmp(r.h.mta_last, "421", 3) == 0 && r.h.mta_eof,
		    "session: close_notify from the partner mid-session: its 421 reaches the MTA, clean end"))
		diag_hs(&r);

	/* A cipher the kernel cannot offload. */
	o = (struct hs_opts){ .role = H_OUTBOUND, .tls_version = TLS1_2_VERSION,
			      .cipher = "ECDHE-ECDSA-AES128-SHA256", .body = 64 * KIB };
	hs_run(&o, &r);
	ok = tap_ok(strcmp(r.result, "relayed") == 0 && r.path == SL_DATAPATH_USERSPACE &&
		    r.ktls_socks == 0 && r.h.sender_ok && r.h.receiver_ok,
		    "session, CBC cipher, ktls preferred: the userspace relay carries it intact");
	ok &= tap_str(r.ktls, "cipher ECDHE-ECDSA-AES128-SHA256 cannot be offloaded",
		      "session, CBC cipher, ktls preferred: the reason is in the result");
	if (!ok)
		diag_hs(&r);
	o.mode = SL_KTLS_REQUIRED;
	hs_run(&o, &r);
	ok = tap_str(r.mta_first, "421 4.7.5 smtplock: partner.test: kernel TLS required but "
		     "unavailable: cipher ECDHE-ECDSA-AES128-SHA256 cannot be offloaded",
		     "session, CBC cipher, ktls required: the MTA is told why");
	ok &= tap_ok(strcmp(r.result, "deferred") == 0 && !r.auth_ok && !r.h.receiver_ok &&
		     r.bytes_up == 0, "session, CBC cipher, ktls required: no AUTH, nothing relayed");
	if (!ok)
		diag_hs(&r);
	/* Inbound offers AEAD suites only (SL_TLS_SERVER_CIPHERS): a partner
	 * that can do nothing but CBC is refused at the handshake. */
	o.role = H_INBOUND;
	hs_run(&o, &r);
	if (!tap_ok(strcmp(r.result, "refused") == 0 && !r.backend_connected &&
		    strstr(r.reason, "no shared cipher"),
		    "session inbound, CBC-only partner: refused at TLS, backend never contacted"))
		diag_hs(&r);
	o = (struct hs_opts){ .role = H_INBOUND, .tls_version = TLS1_3_VERSION,
			      .cipher = "TLS_AES_128_GCM_SHA256", .body = 64 * KIB,
			      .mode = SL_KTLS_OFF };
	hs_run(&o, &r);
	if (!tap_ok(strcmp(r.result, "relayed") == 0 && r.path == SL_DATAPATH_USERSPACE &&
		    r.ktls_socks == 0 && r.h.receiver_ok && strcmp(r.ktls, "off by policy") == 0,
		    "session inbound, ktls off: userspace, nothing in the kernel"))
		diag_hs(&r);
}

static void t_held(void)
{
	struct hs_opts o = { .tls_version = TLS1_3_VERSION, .cipher = "TLS_AES_128_GCM_SHA256" };
	struct hs_held_info info;
	const int n = 16;

	for (int role = H_OUTBOUND; role <= H_INBOUND; role++) {
		const char *rn = role == H_OUTBOUND ? "outbound" : "inbound";
		char err[256] = "";
		long per;

		o.role = role;
		per = role == H_OUTBOUND ? hs_held_outbound(n, &o, &info, err, sizeof(err))
					 : hs_held_inbound(n, &o, &info, err, sizeof(err));
		if (!tap_ok(info.relaying == 2 * n + 1 && info.ktls == 2 * n + 1 &&
			    info.splice == 2 * n + 1 && info.ktls_socks == 2 * n + 1 &&
			    info.ktls_dirs == 3,
			    "held: %d real %s sessions relay with kTLS + splice (%d, %d, %d sockets)",
			    2 * n + 1, rn, info.relaying, info.splice, info.ktls_socks))
			tap_diag("%s", err);
		if (!tap_ok(per >= 0 && per <= 10 * 1024,
			    "held: a real %s session costs <= 10 KiB of controller heap after the "
			    "handoff (%ld bytes)", rn, per))
			tap_diag("%s", err);
	}
}

static void t_bpf(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	libbpf_set_print(bpf_quiet);
	while (d && (e = readdir(d))) {
		char path[512];
		struct bpf_object *obj;
		struct bpf_program *prog;
		size_t len = strlen(e->d_name);
		int r, progs = 0;

		if (len < 7 || strcmp(e->d_name + len - 6, ".bpf.o") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		obj = bpf_object__open_file(path, NULL);
		r = obj ? bpf_object__load(obj) : -errno;
		bpf_object__for_each_program(prog, obj)
			progs++;
		tap_ok(r == 0, "BPF %s: %d programs load on this kernel (CO-RE)", e->d_name, progs);
		if (r)
			tap_diag("bpf_object__load: %s", strerror(-r));
		bpf_object__close(obj);
		n++;
	}
	if (d)
		closedir(d);
	tap_ok(n > 0, "BPF objects found in %s (%d)", dir, n);
}

/* SL_VM_ONLY=ciphers,control,…: run only those groups (development). */
static bool want(const char *group)
{
	const char *only = getenv("SL_VM_ONLY");

	return !only || !*only || strstr(only, group);
}

int main(int argc, char **argv)
{
	const char *bpf_dir = argc > 1 ? argv[1] : "build/bpf";
	const char *b = getenv("SL_VM_BIG");

	if (b && *b)
		big = strtoul(b, NULL, 10);
	setvbuf(stdout, NULL, _IOLBF, 0);
	t_probe();
	if (h_caps()->err) {
		tap_diag("no kernel TLS here: the rest would prove nothing");
		tap_done();
		return 1;
	}
	if (want("ciphers"))
		t_ciphers();
	if (want("control"))
		t_control();
	if (want("fallback"))
		t_fallback();
	if (want("memory")) {
		t_memory();
		t_held();
	}
	if (want("sessions"))
		t_sessions();
	if (want("big"))
		t_big();
	if (want("bpf"))
		t_bpf(bpf_dir);
	return tap_done();
}

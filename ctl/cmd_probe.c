/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * cmd_probe.c — `smtplock probe DOMAIN [-c FILE] [--json]`: the outbound
 * handshake against every MX host of a partner, exactly as a session would
 * do it (lib/outbound in probe mode: no mail, QUIT at the end), each step
 * printed, and a verdict against the configured policy:
 *
 *	PASS			every MX host reached meets the policy
 *	FAIL: <reason>		the first failure, as the MTA would be told
 *
 * Exit 0 PASS, 1 FAIL, 2 bad usage or an unusable policy.
 *
 * The probe's sockets are tagged in the pinned maps when the kernel half
 * is loaded, like the controller's own: not redirected, and held to the
 * PRE_TLS allow-list by the guard until STARTTLS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "addr.h"
#include "bpfmap.h"
#include "ctl.h"
#include "outbound.h"
#include "resolve.h"

#define SL_PROBE_MAX_TARGETS	16

struct sl_probe_target {
	char mx[SL_DOMAIN_MAX];
	struct sockaddr_storage ss;
	socklen_t len;
	char err[128];			/* no address: why */
};

struct sl_probe {
	bool json;
	struct sl_loop *loop;
	struct sl_bpfmap *maps;		/* NULL: nothing pinned, no tagging */
	json_t *steps;			/* of the current target (--json) */
	struct sl_outbound_result res;
	bool done;
};

static int sl_probe_tag(void *arg, int fd, enum sl_sock_tag tag, uint32_t policy_id)
{
	struct sl_probe *pr = arg;

	return pr->maps ? sl_bpfmap_tag(pr->maps, fd, tag, policy_id) : 0;
}

static void sl_probe_step(void *arg, struct sl_outbound *s, const char *step, const char *detail)
{
	struct sl_probe *pr = arg;

	(void)s;
	if (pr->json)
		json_array_append_new(pr->steps, json_pack("{s:s,s:s}", "step", step,
							   "detail", detail));
	else
		printf("  %-12s %s\n", step, detail);
}

static void sl_probe_done(void *arg, struct sl_outbound *s)
{
	struct sl_probe *pr = arg;

	pr->res = *sl_outbound_result(s);
	pr->done = true;
	sl_loop_stop(pr->loop);
}

static void sl_probe_addr(const struct sl_addr *a, uint16_t port, struct sl_probe_target *t)
{
	t->len = sl_addr16_sockaddr(a->addr, port, &t->ss);
}

/* The hosts the MTA would try: MX (or the policy's mx:), first address
 * each; or the fixed addresses when the partner has no MX at all. */
static size_t sl_probe_targets(const struct sl_partner *p, struct sl_probe_target *t, size_t max)
{
	uint16_t port = p->n_ports ? p->ports[0] : 25;
	struct sl_mx_result mxr;
	struct sl_addr_result ar;
	size_t n = 0, nmx = 0;
	const char *hosts[SL_RESOLVE_MAX_MX];
	int r;

	if (p->n_mx) {
		for (size_t i = 0; i < p->n_mx && nmx < SL_RESOLVE_MAX_MX; i++)
			hosts[nmx++] = p->mx[i];
	} else if (!p->n_addresses) {
		memset(&mxr, 0, sizeof(mxr));
		r = sl_resolve_mx(p->domain, &mxr);
		if (r < 0 || mxr.null_mx) {
			snprintf(t[0].mx, sizeof(t[0].mx), "%s", p->domain);
			snprintf(t[0].err, sizeof(t[0].err), "MX lookup: %s",
				 r < 0 ? strerror(-r) : "null MX: the domain takes no mail");
			return 1;
		}
		for (size_t i = 0; i < mxr.n && nmx < SL_RESOLVE_MAX_MX; i++)
			hosts[nmx++] = mxr.mx[i].host;
	}
	for (size_t i = 0; i < nmx && n < max; i++, n++) {
		snprintf(t[n].mx, sizeof(t[n].mx), "%s", hosts[i]);
		memset(&ar, 0, sizeof(ar));
		r = sl_resolve_addrs(hosts[i], &ar);
		if (r < 0 || !ar.n)
			snprintf(t[n].err, sizeof(t[n].err), "address lookup: %s",
				 r < 0 ? strerror(-r) : "no A/AAAA records");
		else
			sl_probe_addr(&ar.v[0], port, &t[n]);
	}
	/* Fixed addresses stand for the domain itself (SNI = the domain). */
	for (size_t i = 0; !nmx && i < p->n_addresses && n < max; i++) {
		struct sl_addr a = { .family = p->addresses[i].family };

		if (p->addresses[i].plen != 128)
			continue;	/* a prefix names no host to probe */
		memcpy(a.addr, p->addresses[i].addr, 16);
		snprintf(t[n].mx, sizeof(t[n].mx), "%s", p->domain);
		sl_probe_addr(&a, port, &t[n++]);
	}
	return n;
}

static void sl_probe_usage(FILE *f)
{
	fprintf(f, "usage: %s probe DOMAIN [-c FILE] [--json]\n", sl_progname);
}

int cmd_probe(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = SL_DEFAULT_POLICY, *domain;
	struct sl_probe_target targets[SL_PROBE_MAX_TARGETS] = { 0 };
	struct sl_probe pr = { 0 };
	struct sl_diags dg = { 0 };
	struct sl_policy *pol = NULL;
	const struct sl_partner *p;
	struct sl_tls_ctx *tctx = NULL;
	struct sl_loop *loop = NULL;
	char norm[SL_DOMAIN_MAX], reason[SL_TLS_REASON_MAX], verdict[600] = "";
	char *secret = NULL;
	json_t *jhosts = NULL;
	size_t n, passed = 0;
	int c, r, rc = SL_EXIT_USAGE;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'j': pr.json = true; break;
		case 'h': sl_probe_usage(stdout); return SL_EXIT_OK;
		default: sl_probe_usage(stderr); return SL_EXIT_USAGE;
		}
	}
	if (optind != argc - 1) {
		sl_probe_usage(stderr);
		return SL_EXIT_USAGE;
	}
	domain = argv[optind];
	if (sl_domain_normalize(domain, norm, sizeof(norm)) < 0)
		return sl_usage_error("probe", "'%s' is not a domain name", domain);
	r = sl_policy_load(path, &pol, &dg);
	if (r < 0) {
		sl_diags_print(&dg, stderr);
		if (!dg.n)
			fprintf(stderr, "%s: %s\n", path, strerror(-r));
		fprintf(stderr, "%s: probe: the policy is not usable\n", sl_progname);
		goto out;
	}
	p = sl_policy_find(pol, norm);
	if (!p || !(p->direction & SL_DIR_OUTBOUND)) {
		fprintf(stderr, "%s: probe: %s is not an outbound partner in %s\n", sl_progname,
			norm, path);
		goto out;
	}
	r = sl_tls_client_ctx_new(&p->tls, p->mode == SL_MODE_TESTING ? SL_TLS_F_LENIENT : 0,
				  &tctx, reason, sizeof(reason));
	if (r < 0) {
		fprintf(stderr, "%s: probe: %s: %s\n", sl_progname, norm, reason);
		goto out;
	}
	/* The password will be in this process's memory: no core of it. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (p->has_auth && (r = sl_policy_read_secret(p->auth.password_file, &secret)) < 0) {
		fprintf(stderr, "%s: probe: %s: auth.password_file %s: %s\n", sl_progname, norm,
			p->auth.password_file, strerror(-r));
		goto out;
	}
	/* Tag like the controller when its maps are pinned; without them
	 * nothing redirects or guards, and no tag is needed. */
	if (sl_bpfmap_pinned(pol->controller.pin_path ? pol->controller.pin_path : SL_PIN_DEFAULT)) {
		r = sl_bpfmap_open_pinned(pol->controller.pin_path ? pol->controller.pin_path
								 : SL_PIN_DEFAULT, 0, &pr.maps);
		if (r < 0) {
			fprintf(stderr, "%s: probe: cannot open the pinned maps to tag the probe's "
				"sockets: %s\n", sl_progname, strerror(-r));
			goto out;
		}
	}
	if ((r = sl_loop_new(0, &loop)) < 0)
		goto out;
	pr.loop = loop;
	n = sl_probe_targets(p, targets, SL_PROBE_MAX_TARGETS);
	if (pr.json)
		jhosts = json_array();
	else
		printf("probe %s (policy %s: verify=%s min=%s%s%s)\n", norm, path,
		       sl_verify_name(p->tls.verify), sl_tls_version_name(p->tls.min_version),
		       p->has_auth ? " auth=" : "", p->has_auth ? p->auth.username : "");
	for (size_t i = 0; i < n; i++) {
		struct sl_probe_target *t = &targets[i];
		struct sl_tlsa_result tlsa = { 0 };
		struct sl_outbound *s = NULL;
		struct sl_outbound_env env = { .loop = loop, .hostname = pol->controller.hostname,
			.timeout_ms = pol->controller.timeout_ms < 30000 ? pol->controller.timeout_ms : 30000,
			.connect_timeout_ms = 10000, .tag = sl_probe_tag, .step = sl_probe_step,
			.done = sl_probe_done, .arg = &pr };
		struct sl_outbound_params prm = { .id = i + 1, .mta_fd = -1, .partner = p,
			.mx = t->mx, .tls = tctx, .password = secret };

		if (pr.json)
			pr.steps = json_array();
		else
			printf("%s\n", t->mx);
		memset(&pr.res, 0, sizeof(pr.res));
		pr.done = false;
		if (t->err[0]) {
			snprintf(pr.res.reason, sizeof(pr.res.reason), "%s", t->err);
			pr.res.result = "fail";
			sl_probe_step(&pr, NULL, "resolve", t->err);
		} else {
			memcpy(&prm.dst, &t->ss, sizeof(t->ss));
			prm.dst_len = t->len;
			if (p->tls.verify == SL_VERIFY_DANE) {
				uint16_t port = p->n_ports ? p->ports[0] : 25;

				r = sl_resolve_tlsa(t->mx, port, &tlsa);
				sl_probe_step(&pr, NULL, "tlsa", r < 0 ? strerror(-r) :
					      tlsa.ad ? "answer DNSSEC-validated (AD)" :
							"answer NOT validated (no AD bit)");
				prm.tlsa = tlsa.v;
				prm.n_tlsa = tlsa.n;
				prm.tlsa_secure = tlsa.ad;
			}
			r = sl_outbound_start(&env, &prm, &s);
			if (r == 0)
				sl_loop_run(loop);
			if (!pr.done) {
				pr.res.result = "fail";
				snprintf(pr.res.reason, sizeof(pr.res.reason), "%s", strerror(-r));
			}
		}
		sl_tlsa_result_done(&tlsa);
		if (!strcmp(pr.res.result, "pass"))
			passed++;
		else if (!verdict[0])
			snprintf(verdict, sizeof(verdict), "%s: %s", t->mx,
				 pr.res.reason[0] ? pr.res.reason : pr.res.would_defer);
		if (pr.json) {
			json_array_append_new(jhosts, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o}",
				"mx", t->mx, "addr", pr.res.addr[0] ? pr.res.addr : "-",
				"result", pr.res.result, "reason",
				pr.res.reason[0] ? pr.res.reason : pr.res.would_defer,
				"tls", pr.res.tls[0] ? pr.res.tls : "-",
				"cipher", pr.res.cipher[0] ? pr.res.cipher : "-",
				"verify", pr.res.verify ? pr.res.verify : "-",
				"auth", pr.res.auth ? pr.res.auth : "-", "steps", pr.steps));
		} else {
			printf("  => %s%s%s\n", !strcmp(pr.res.result, "pass") ? "pass" : "fail",
			       strcmp(pr.res.result, "pass") ? ": " : "",
			       strcmp(pr.res.result, "pass") ? (pr.res.reason[0] ? pr.res.reason
									  : pr.res.would_defer) : "");
		}
	}
	if (!n)
		snprintf(verdict, sizeof(verdict), "no MX host or address to probe");
	rc = n && passed == n ? SL_EXIT_OK : SL_EXIT_FAIL;
	if (pr.json) {
		json_t *doc = json_pack("{s:s,s:s,s:s,s:o}", "domain", norm,
					"verdict", rc == SL_EXIT_OK ? "PASS" : "FAIL",
					"reason", rc == SL_EXIT_OK ? "" : verdict, "hosts", jhosts);

		json_dumpf(doc, stdout, JSON_INDENT(2));
		putchar('\n');
		json_decref(doc);
	} else if (rc == SL_EXIT_OK) {
		printf("PASS\n");
	} else {
		printf("FAIL: %s\n", verdict);
	}
out:
	if (secret) {
		OPENSSL_cleanse(secret, strlen(secret));
		free(secret);
	}
	sl_loop_free(loop);
	sl_bpfmap_free(pr.maps);
	sl_tls_ctx_free(tctx);
	sl_policy_free(pol);
	sl_diags_done(&dg);
	return rc;
}

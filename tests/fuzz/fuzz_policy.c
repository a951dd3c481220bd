/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * fuzz_policy.c — the policy loader (YAML → model → validation) on
 * hostile files.
 *
 * The policy is an administrator's file, but `smtplock domain add` writes
 * drop-ins from command-line text and reload reads whatever is on disk:
 * the loader must never crash, hang or leak on any input, and what it
 * accepts must be a model the rest of the controller can trust.
 *
 * Byte 0 even: the rest is the main file (written to a private directory,
 * loaded with sl_policy_load).  Byte 0 odd: a fixed valid main file and
 * the rest as an extra drop-in (sl_policy_load_opts, the `domain add`
 * path, in memory).  The directory holds files a policy may name, by
 * relative path: ca.crt, pass (0600), open.pass (0644: must be refused),
 * cert.pem, key.pem.
 *
 * Checked: success gives a model whose every partner sl_policy_find()
 * returns, with a lower-case domain, an MX list, addresses and ports in
 * range, limits consistent (per source <= global), and a dump that is
 * produced without error; failure gives -EINVAL with at least one
 * diagnostic (positions within the file), or another -errno with none
 * required; diagnostics print.  Everything is freed (LeakSanitizer).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy.h"

#define CHECK(x) do { if (!(x)) abort(); } while (0)

static char dir[64];
static char main_path[96];
static char fixed_path[96];

static void put(const char *name, const char *text, mode_t mode)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	CHECK(fd >= 0);
	CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	CHECK(fchmod(fd, mode) == 0);
	close(fd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	snprintf(dir, sizeof(dir), "/tmp/sl-fuzz-policy.%d", (int)getpid());
	mkdir(dir, 0700);
	put("ca.crt", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", 0644);
	put("cert.pem", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n", 0644);
	put("key.pem", "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n", 0600);
	put("pass", "secret\n", 0600);
	put("open.pass", "secret\n", 0644);
	snprintf(main_path, sizeof(main_path), "%s/policy.yaml", dir);
	snprintf(fixed_path, sizeof(fixed_path), "%s/fixed/policy.yaml", dir);
	{
		char sub[80];

		snprintf(sub, sizeof(sub), "%s/fixed", dir);
		mkdir(sub, 0700);
	}
	{
		int fd = open(fixed_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		static const char fixed[] =
			"version: 1\n"
			"controller: { hostname: mail.example.org, cgroup: auto }\n"
			"defaults: { tls: { verify: none } }\n"
			"partners:\n"
			"  - domain: base.example\n";

		CHECK(fd >= 0);
		CHECK(write(fd, fixed, sizeof(fixed) - 1) == (ssize_t)sizeof(fixed) - 1);
		close(fd);
	}
	return 0;
}

static void check_model(const struct sl_policy *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	CHECK(p->version == 1);
	CHECK(p->controller.hostname && p->controller.hostname[0]);
	CHECK(p->controller.n_listen <= SL_POLICY_MAX_LISTEN);
	CHECK(!p->controller.max_sessions ||
	      p->controller.max_sessions_per_source <= p->controller.max_sessions);
	CHECK(p->controller.timeout_ms >= 1000 && p->controller.timeout_ms <= 3600000);
	for (size_t i = 0; i < p->n_partners; i++) {
		const struct sl_partner *pt = &p->partners[i];

		CHECK(pt->domain && pt->domain[0]);
		for (const char *c = pt->domain; *c; c++)
			CHECK(!(*c >= 'A' && *c <= 'Z'));
		CHECK(strlen(pt->domain) < SL_DOMAIN_MAX);
		CHECK(sl_policy_find(p, pt->domain) == pt);
		CHECK(pt->n_ports >= 1 && pt->n_ports <= SL_MAX_PORTS);
		for (size_t k = 0; k < pt->n_ports; k++)
			CHECK(pt->ports[k] != 0);
		for (size_t k = 0; k < pt->n_mx; k++)
			CHECK(pt->mx[k] && pt->mx[k][0]);
		for (size_t k = 0; k < pt->n_addresses; k++)
			CHECK(pt->addresses[k].plen > 0 && pt->addresses[k].plen <= 128);
		CHECK(pt->tls.min_version == SL_TLS_1_2 || pt->tls.min_version == SL_TLS_1_3);
		CHECK(pt->tls.verify != SL_VERIFY_FINGERPRINT || pt->tls.n_pins > 0);
		if (pt->has_auth) {
			CHECK(pt->auth.username && pt->auth.password_file);
			CHECK(pt->auth.n_mechanisms >= 1 && pt->auth.n_mechanisms <= 3);
		}
	}
	f = open_memstream(&buf, &len);
	CHECK(f);
	sl_policy_dump(p, f);
	CHECK(fclose(f) == 0);
	CHECK(len > 0);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sl_diags dg = { 0 };
	struct sl_policy *p = NULL;
	char *text, *buf = NULL;
	size_t len = 0;
	FILE *f;
	int r;

	if (size < 1 || size > SL_POLICY_MAX_BYTES)
		return 0;
	if (data[0] & 1) {
		struct sl_policy_opts o = { .extra_name = "policies.d/fuzz.yaml" };

		text = malloc(size);
		CHECK(text);
		memcpy(text, data + 1, size - 1);
		text[size - 1] = 0;	/* the API takes a C string */
		o.extra_text = text;
		r = sl_policy_load_opts(fixed_path, &o, &p, &dg);
		free(text);
	} else {
		int fd = open(main_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		CHECK(fd >= 0);
		CHECK(write(fd, data + 1, size - 1) == (ssize_t)(size - 1));
		close(fd);
		r = sl_policy_load(main_path, &p, &dg);
	}
	if (r == 0) {
		CHECK(p);
		CHECK(dg.n == 0);
		check_model(p);
		p = sl_policy_free(p);
	} else {
		CHECK(!p);
		if (r == -EINVAL)
			CHECK(dg.n >= 1);
		for (size_t i = 0; i < dg.n; i++) {
			CHECK(dg.v[i].msg && dg.v[i].msg[0]);
			CHECK(!strchr(dg.v[i].msg, '\n'));
		}
	}
	f = open_memstream(&buf, &len);
	CHECK(f);
	sl_diags_print(&dg, f);
	fclose(f);
	free(buf);
	sl_diags_done(&dg);
	return 0;
}

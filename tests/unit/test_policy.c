/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test_policy.c — the policy loader, as tables of named cases.
 *
 * Each case writes its policy (and drop-ins) into a fresh tmpdir that
 * also holds a few fixture files (secrets with good and bad modes, dummy
 * certificates), loads it, and compares the diagnostics exactly: file,
 * line, column and class, in order.  A valid case runs a check function on
 * the model.  Then the value helpers get tables of their own, and the
 * golden files (tests/unit/golden/NAME.yaml → NAME.dump) compare the
 * canonical dump byte for byte; SL_GOLDEN_UPDATE=1 rewrites the dumps.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy.h"
#include "tap.h"

/* ---- fixture ------------------------------------------------------------ */

/* Lines 1-3 of most cases; CA adds lines 4-6 so outbound partners verify. */
#define HDR "version: 1\ncontroller:\n  hostname: mail.example.org\n"
#define CA "defaults:\n  tls:\n    ca_file: /etc/ssl/certs/ca-certificates.crt\n"
#define INB "inbound:\n  listen: 127.0.0.1:10026\n  backend: 127.0.0.1:25\n" \
	    "  cert: certs/a.pem\n  key: certs/a.key\n"

#define Y6 "$6$/uYlCxYGWu/9Xs5s$4c9ZmoiC.ZKQqlA.4y/Qr537CcQrNO73ixWL8WLrCxUlxpzvCLdHIAq.f.zMRF0P1OgGarsTkoqmPzx0tBwVt/"
#define YY "$y$j9T$GQm.yk8fNwavlCSycwiGX.$pyz4FwuW0su3n8tBtOCEB4mu2xk/h0k1GhAq11UhjuC"
#define PIN "sha256:465e8ac368cb33df5115b71a8b23834b87ad006c77e83f45c3433a8d126cffc5"

static char tmpdir[64];

static int write_file(const char *dir, const char *name, const char *text, mode_t mode)
{
	char path[512], sub[512], *slash;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(sub, sizeof(sub), "%s", path);
	slash = strrchr(sub, '/');
	*slash = '\0';
	mkdir(sub, 0755);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	n = write(fd, text, strlen(text));
	close(fd);
	chmod(path, mode);
	return n == (ssize_t)strlen(text) ? 0 : -EIO;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void fixture_up(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/sl-test-policy.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		exit(1);
	}
	write_file(tmpdir, "secrets/ok.pass", "s3cret\n", 0600);
	write_file(tmpdir, "secrets/open.pass", "s3cret\n", 0644);
	write_file(tmpdir, "secrets/empty.pass", "", 0600);
	write_file(tmpdir, "certs/a.pem", "dummy\n", 0644);
	write_file(tmpdir, "certs/a.key", "dummy\n", 0600);
}

static void fixture_down(void)
{
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- loader cases ----------------------------------------------------------- */

struct tfile {
	const char *name;		/* relative to the tmpdir; mode 0644 */
	const char *text;
};

struct tdiag {
	const char *file;		/* NULL = the main file */
	unsigned line, col;
	enum sl_diag_class cls;
};

struct tcase {
	const char *name;
	const char *main;		/* policy.yaml */
	struct tfile more[4];		/* drop-ins and other files */
	struct tdiag want[12];		/* none = a valid policy */
	const char *msg;		/* a substring of the first error */
	void (*check)(const struct sl_policy *p);
};

#define E(l, c, k) { NULL, l, c, SL_DIAG_##k }
#define EF(f, l, c, k) { f, l, c, SL_DIAG_##k }

/* ---- checks of valid cases ---- */

static void chk_minimal(const struct sl_policy *p)
{
	char buf[64];

	tap_int(p->version, 1, "version");
	tap_str(p->controller.hostname, "mail.example.org", "hostname");
	tap_int(p->controller.n_listen, 1, "one default listen address");
	sl_endpoint_format(&p->controller.listen[0], buf, sizeof(buf));
	tap_str(buf, "127.0.0.1:10025", "default listen");
	tap_str(p->controller.cgroup, "auto", "default cgroup");
	tap_str(p->controller.pin_path, SL_PIN_DEFAULT, "default pin_path");
	tap_str(p->controller.control_socket, "/run/smtplock/control", "default control_socket");
	tap_ok(!p->controller.user && !p->controller.group, "no user/group by default");
	tap_int(p->controller.max_sessions, 1000, "default max_sessions");
	tap_int(p->controller.max_sessions_per_source, 100, "default per source");
	tap_int(p->controller.timeout_ms, 300000, "default timeout");
	tap_int(p->defaults.mode, SL_MODE_ENFORCE, "default mode");
	tap_int(p->defaults.on_failure, SL_FAIL_DEFER, "default on_failure");
	tap_ok(p->defaults.n_ports == 1 && p->defaults.ports[0] == 25, "default ports [25]");
	tap_int(p->defaults.tls.verify, SL_VERIFY_CA, "default verify ca");
	tap_int(p->defaults.tls.min_version, SL_TLS_1_2, "default min TLS 1.2");
	tap_int(p->defaults.tls.ktls, SL_KTLS_PREFERRED, "default ktls preferred");
	tap_int(p->n_partners, 0, "no partners");
	tap_ok(!p->inbound.present, "no inbound block");
	tap_int(p->n_files, 1, "one file read");
}

static void chk_merge(const struct sl_policy *p)
{
	const struct sl_partner *a = sl_policy_find(p, "a.example");
	const struct sl_partner *b = sl_policy_find(p, "b.example");

	if (!tap_ok(a && b, "both partners found"))
		return;
	tap_int(a->mode, SL_MODE_TESTING, "a inherits mode testing");
	tap_ok(a->n_ports == 2 && a->ports[0] == 25 && a->ports[1] == 587, "a inherits ports");
	tap_int(a->on_failure, SL_FAIL_REJECT, "a inherits on_failure");
	tap_int(a->tls.min_version, SL_TLS_1_3, "a inherits min_version");
	tap_int(a->tls.ktls, SL_KTLS_OFF, "a inherits ktls");
	tap_int(a->direction, SL_DIR_OUTBOUND, "direction defaults to outbound");
	tap_int(b->mode, SL_MODE_ENFORCE, "b overrides mode");
	tap_ok(b->n_ports == 1 && b->ports[0] == 2525, "b overrides ports");
	tap_int(b->tls.verify, SL_VERIFY_NONE, "b overrides verify only");
	tap_int(b->tls.min_version, SL_TLS_1_3, "b still inherits min_version");
	tap_str(b->tls.ca_file, "/etc/ssl/certs/ca-certificates.crt", "b still inherits ca_file");
}

static void chk_normalise(const struct sl_policy *p)
{
	const struct sl_partner *a = sl_policy_find(p, "MAIL.Partner.example.");

	tap_str(p->controller.hostname, "mx.example.org", "hostname lower-cased, dot dropped");
	if (!tap_ok(a != NULL, "find is case-insensitive and ignores a trailing dot"))
		return;
	tap_str(a->domain, "mail.partner.example", "domain normalised");
	tap_ok(a->n_mx == 1 && !strcmp(a->mx[0], "mx1.partner.example"), "mx normalised");
	tap_ok(sl_policy_find(p, "xn--bcher-kva.example") != NULL, "A-label accepted");
	tap_ok(sl_policy_find(p, "other.example") == NULL, "unknown domain not found");
}

static void chk_pins(const struct sl_policy *p)
{
	const struct sl_partner *a = sl_policy_find(p, "a.example");
	char buf[SL_PIN_TEXT_LEN];

	if (!tap_ok(a && a->tls.n_pins == 3, "three pins"))
		return;
	tap_int(a->tls.verify, SL_VERIFY_FINGERPRINT, "verify fingerprint");
	tap_ok(a->tls.pins[0].sha256[0] == 0x46 && a->tls.pins[0].sha256[1] == 0x5e &&
	       a->tls.pins[0].sha256[31] == 0xc5, "plain hex pin decoded");
	sl_pin_format(&a->tls.pins[1], buf, sizeof(buf));
	tap_str(buf, "sha256:b38251a9fdb2b22aa10c75ecdb6e806d5cf1eb190e305e7ced0ffacc6d0cb73c",
		"colon form decoded, upper case accepted");
	tap_int(a->tls.pins[2].sha256[31], 0xff, "last byte of third pin");
}

static void chk_addresses(const struct sl_policy *p)
{
	const struct sl_partner *a = sl_policy_find(p, "a.example");
	char buf[64];

	if (!tap_ok(a && a->n_addresses == 4, "four addresses"))
		return;
	tap_int(a->addresses[0].family, AF_INET, "IPv4 family as written");
	tap_int(a->addresses[0].plen, 96 + 24, "IPv4 /24 stored as /120");
	tap_ok(a->addresses[0].addr[10] == 0xff && a->addresses[0].addr[11] == 0xff &&
	       a->addresses[0].addr[12] == 192, "IPv4 stored mapped");
	tap_int(a->addresses[1].plen, 128, "IPv4 host = /128");
	tap_int(a->addresses[2].plen, 64, "IPv6 /64");
	sl_prefix_format(&a->addresses[2], buf, sizeof(buf));
	tap_str(buf, "2001:db8::/64", "IPv6 prefix formatted");
	sl_prefix_format(&a->addresses[3], buf, sizeof(buf));
	tap_str(buf, "2001:db8::25", "IPv6 host formatted");
}

static void chk_inbound(const struct sl_policy *p)
{
	const struct sl_partner *a = sl_policy_find(p, "a.example");
	size_t out, in;

	if (!tap_ok(a && a->has_inbound, "inbound partner"))
		return;
	tap_int(a->direction, SL_DIR_BOTH, "direction both");
	tap_int(a->inbound.require, SL_REQUIRE_TLS | SL_REQUIRE_AUTH, "tls is implied by require");
	tap_int(a->inbound.min_version, SL_TLS_1_3, "inbound min_version from defaults.tls");
	tap_int(a->inbound.n_accounts, 4, "four accounts");
	tap_ok(a->inbound.sources_mx, "sources: mx");
	tap_int(a->inbound.n_sources, 1, "one source prefix");
	tap_ok(p->inbound.present, "top-level inbound");
	tap_int(p->inbound.port, 25, "inbound.port default 25");
	tap_int(p->inbound.announce, SL_ANNOUNCE_NONE, "announce default none");
	tap_ok(p->inbound.cert && p->inbound.cert[0] == '/', "cert path made absolute");
	sl_policy_count(p, &out, &in);
	tap_ok(out == 1 && in == 1, "count: 1 outbound, 1 inbound");
}

static void chk_secret_path(const struct sl_policy *p)
{
	const struct sl_partner *a = sl_policy_find(p, "a.example");
	char want[256], *secret = NULL;

	snprintf(want, sizeof(want), "%s/secrets/ok.pass", tmpdir);
	if (!tap_ok(a && a->has_auth, "auth present"))
		return;
	tap_str(a->auth.password_file, want, "relative password_file made absolute");
	tap_int(a->auth.n_mechanisms, 3, "all mechanisms by default");
	tap_int(a->auth.mechanisms[0], SL_SASL_SCRAM_SHA_256, "SCRAM first");
	tap_int(sl_policy_read_secret(a->auth.password_file, &secret), 0, "secret readable");
	tap_str(secret, "s3cret", "trailing newline stripped");
	free(secret);
}

static void chk_controller(const struct sl_policy *p)
{
	char buf[64];

	tap_int(p->controller.n_listen, 2, "two listen addresses");
	sl_endpoint_format(&p->controller.listen[1], buf, sizeof(buf));
	tap_str(buf, "[::1]:10025", "IPv6 listen");
	tap_str(p->controller.cgroup, "/sys/fs/cgroup/x", "cgroup path");
	tap_str(p->controller.user, "smtplock", "user");
	tap_int(p->controller.timeout_ms, 300000, "timeout 5m");
	tap_int(p->controller.max_sessions, 50, "max_sessions");
}

static void chk_empty_partners(const struct sl_policy *p)
{
	tap_int(p->n_partners, 0, "null partners = none");
}

static void chk_dropins(const struct sl_policy *p)
{
	if (!tap_int(p->n_partners, 3, "three partners"))
		return;
	tap_str(p->partners[0].domain, "main.example", "main file first");
	tap_str(p->partners[1].domain, "a.example", "then drop-ins by name");
	tap_str(p->partners[2].domain, "b.example", "b after a");
	tap_ok(!p->partners[0].dropin && p->partners[1].dropin, "dropin flags");
	tap_int(p->n_files, 3, "README, hidden and .bak files ignored");
	tap_ok(strstr(p->files[1], "policies.d/a.yaml") != NULL, "files[1] is a.yaml");
	tap_ok(p->partners[2].pos.file == p->files[2] && p->partners[2].pos.line == 1,
	       "partner position in its drop-in");
	tap_ok(p->partners[1].tls.pins && p->partners[1].tls.n_pins == 1, "drop-in pins");
}

static void chk_flow(const struct sl_policy *p)
{
	const struct sl_partner *a = sl_policy_find(p, "a.example");

	tap_ok(a && a->tls.min_version == SL_TLS_1_3 && a->tls.verify == SL_VERIFY_DANE,
	       "flow mappings and quoted keys");
}

static void chk_ciphers(const struct sl_policy *p)
{
	tap_str(p->defaults.tls.ciphers, "ECDHE+AESGCM", "ciphers kept");
	tap_str(p->defaults.tls.ciphersuites, "TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256",
		"ciphersuites kept");
}

static void chk_noverify(const struct sl_policy *p)
{
	tap_int(p->n_partners, 2, "verify none and dane need no ca_file");
}

static void chk_mx_in(const struct sl_policy *p)
{
	const struct sl_partner *a = sl_policy_find(p, "a.example");

	tap_ok(a && a->direction == SL_DIR_INBOUND && a->inbound.sources_mx &&
	       a->inbound.n_sources == 0 && a->inbound.n_client_pins == 1,
	       "inbound-only partner: sources [mx], client pins");
	tap_ok(a && !(a->direction & SL_DIR_OUTBOUND), "inbound partner needs no ca_file");
}

static const struct tcase cases[] = {
	/* ---- valid ---- */
	{ "minimal policy gets every built-in default", HDR, .check = chk_minimal },
	{ "defaults merge into partners key by key",
	  HDR "defaults:\n  mode: testing\n  ports: [25, 587]\n  on_failure: reject\n"
	  "  tls: {min_version: \"1.3\", ca_file: /etc/ssl/certs/ca-certificates.crt, ktls: off}\n"
	  "partners:\n  - domain: a.example\n  - domain: b.example\n    mode: enforce\n"
	  "    ports: [2525]\n    tls: {verify: none}\n", .check = chk_merge },
	{ "names are case-normalised, trailing dot dropped",
	  "version: 1\ncontroller:\n  hostname: MX.Example.ORG.\n" CA
	  "partners:\n  - domain: Mail.Partner.Example.\n    mx: [MX1.partner.example.]\n"
	  "  - domain: xn--bcher-kva.example\n", .check = chk_normalise },
	{ "pins: plain hex, colons, upper case",
	  HDR "partners:\n  - domain: a.example\n    tls:\n      verify: fingerprint\n"
	  "      fingerprints:\n        - " PIN "\n"
	  "        - \"SHA256:B3:82:51:A9:FD:B2:B2:2A:A1:0C:75:EC:DB:6E:80:6D:5C:F1:EB:19:0E:30:5E:7C:ED:0F:FA:CC:6D:0C:B7:3C\"\n"
	  "        - sha256:00000000000000000000000000000000000000000000000000000000000000ff\n",
	  .check = chk_pins },
	{ "addresses: IPv4 mapped, prefixes, hosts",
	  HDR CA "partners:\n  - domain: a.example\n"
	  "    addresses: [192.0.2.0/24, 192.0.2.7, \"2001:db8::/64\", \"2001:db8::25\"]\n",
	  .check = chk_addresses },
	{ "inbound partner with accounts of every hash kind",
	  HDR "defaults:\n  tls: {min_version: 1.3, ca_file: /etc/ssl/certs/ca-certificates.crt}\n"
	  "partners:\n  - domain: a.example\n    direction: both\n    inbound:\n"
	  "      sources: [198.51.100.0/24, mx]\n      require: [auth]\n      accounts:\n"
	  "        - {username: a, password_hash: \"" YY "\"}\n"
	  "        - {username: b, password_hash: \"" Y6 "\"}\n"
	  "        - {username: c, password_hash: \"$2b$12$oscCXtfitkdE96cQuDSGvulZqr9WVeyfOSVeQOiJ6PHkCOIcwfPHm\"}\n"
	  "        - {username: d, password_hash: \"$5$nRmqOyEW/y6m63YV$dNqOC1ffj2SncqzTW1dK4VWVICwcCLnBDkbj8CH.3Z3\"}\n"
	  INB, .check = chk_inbound },
	{ "relative password_file resolved next to the policy",
	  HDR CA "partners:\n  - domain: a.example\n    auth:\n      username: us\n"
	  "      password_file: secrets/ok.pass\n", .check = chk_secret_path },
	{ "controller keys all set",
	  HDR "  listen: [127.0.0.1:10025, \"[::1]:10025\"]\n  cgroup: /sys/fs/cgroup/x\n"
	  "  user: smtplock\n  group: smtplock\n  pin_path: /sys/fs/bpf/x\n"
	  "  control_socket: /run/x.sock\n"
	  "  limits: {max_sessions: 50, max_sessions_per_source: 5, timeout: 5m}\n",
	  .check = chk_controller },
	{ "partners: with no value is an empty list", HDR "partners:\n", .check = chk_empty_partners },
	{ "drop-ins in name order after the main file; other files ignored",
	  HDR CA "partners:\n  - domain: main.example\n",
	  { { "policies.d/b.yaml", "domain: b.example\n" },
	    { "policies.d/a.yaml", "domain: a.example\ntls:\n  verify: fingerprint\n"
	      "  fingerprints: [" PIN "]\n" },
	    { "policies.d/README", "not yaml: [\n" },
	    { "policies.d/.hidden.yaml", "not: [valid\n" } },
	  .check = chk_dropins },
	{ "flow style and quoted keys",
	  HDR "\"partners\": [{domain: a.example, 'tls': {min_version: '1.3', verify: dane}}]\n",
	  .check = chk_flow },
	{ "OpenSSL cipher strings",
	  HDR "defaults:\n  tls:\n    ca_file: /etc/ssl/certs/ca-certificates.crt\n"
	  "    ciphers: ECDHE+AESGCM\n"
	  "    ciphersuites: TLS_AES_256_GCM_SHA384:TLS_AES_128_GCM_SHA256\n",
	  .check = chk_ciphers },
	{ "verify none and dane without a ca_file",
	  HDR "partners:\n  - domain: a.example\n    tls: {verify: none}\n"
	  "  - domain: b.example\n    tls: {verify: dane}\n", .check = chk_noverify },
	{ "inbound-only partner: sources mx and client pins",
	  HDR "partners:\n  - domain: a.example\n    direction: inbound\n    inbound:\n"
	  "      sources: [mx]\n      require: [tls, client_cert]\n      fingerprints: [" PIN "]\n"
	  INB, .check = chk_mx_in },

	/* ---- invalid: YAML ---- */
	{ "YAML syntax error: tab indentation",
	  HDR "partners:\n\t- domain: a.example\n", .want = { E(5, 1, SYNTAX) } },
	{ "YAML syntax error: unterminated quote",
	  HDR "partners:\n  - domain: \"a.example\n", .want = { E(6, 1, SYNTAX) } },
	{ "empty file", "", .want = { E(0, 0, MISSING) }, .msg = "empty" },
	{ "invalid UTF-8", HDR "partners:\n  - domain: a\xff.example\n",
	  .want = { E(5, 14, SYNTAX) }, .msg = "invalid input" },
	{ "aliases are refused",
	  HDR CA "partners:\n  - &p {domain: a.example}\n  - *p\n", .want = { E(9, 5, SYNTAX) } },
	{ "one document per file", HDR "---\nversion: 1\n", .want = { E(4, 1, SYNTAX) } },

	/* ---- invalid: shape ---- */
	{ "version missing", "controller:\n  hostname: mail.example.org\n",
	  .want = { E(1, 1, MISSING) }, .msg = "'version'" },
	{ "version 2", "version: 2\ncontroller:\n  hostname: a.example\n",
	  .want = { E(1, 10, VALUE) } },
	{ "version quoted is a string", "version: \"1\"\ncontroller:\n  hostname: a.example\n",
	  .want = { E(1, 10, TYPE) } },
	{ "unknown key at the top", HDR "partner:\n  - domain: a.example\n",
	  .want = { E(4, 1, UNKNOWN_KEY) }, .msg = "did you mean 'partners'" },
	{ "unknown key in a partner's tls",
	  HDR CA "partners:\n  - domain: a.example\n    tls:\n      verfy: ca\n",
	  .want = { E(10, 7, UNKNOWN_KEY) } },
	{ "unknown keys at every level",
	  HDR "  colour: blue\n" CA "    pinz: []\n  modes: x\nextra: 1\n"
	  "partners:\n  - domain: a.example\n    auth:\n      user: x\n      password_file: secrets/ok.pass\n"
	  "    inbound: {sauces: []}\n",
	  .want = { E(4, 3, UNKNOWN_KEY), E(8, 5, UNKNOWN_KEY), E(9, 3, UNKNOWN_KEY),
		    E(10, 1, UNKNOWN_KEY), E(14, 7, UNKNOWN_KEY), E(14, 7, MISSING),
		    E(16, 5, VALUE), E(16, 14, MISSING), E(16, 14, MISSING),
		    E(16, 15, UNKNOWN_KEY) } },
	{ "duplicate key in a mapping",
	  HDR CA "partners:\n  - domain: a.example\n    mode: testing\n    mode: enforce\n",
	  .want = { E(10, 5, DUPLICATE) }, .msg = "first at line 9" },
	{ "controller.hostname missing", "version: 1\ncontroller:\n  cgroup: auto\n",
	  .want = { E(3, 3, MISSING) } },
	{ "controller missing", "version: 1\n", .want = { E(1, 1, MISSING) } },
	{ "wrong types: list for mapping, scalar for list, mapping for string",
	  "version: 1\ncontroller: [a]\npartners: a.example\ndefaults:\n  mode: {a: b}\n",
	  .want = { E(2, 13, TYPE), E(3, 11, TYPE), E(5, 9, TYPE) } },
	{ "null where a string is due", HDR CA "partners:\n  - domain:\n",
	  .want = { E(8, 12, TYPE) } },
	{ "a key that is not a string", HDR "? [a, b]\n: c\n", .want = { E(4, 3, TYPE) } },

	/* ---- invalid: values ---- */
	{ "min_version not 1.2 or 1.3",
	  HDR "defaults:\n  tls:\n    min_version: \"1.1\"\n    ca_file: /etc/ssl/certs/ca-certificates.crt\n"
	  "partners:\n  - domain: a.example\n    tls: {min_version: 1.20}\n",
	  .want = { E(6, 18, VALUE), E(10, 24, VALUE) } },
	{ "verify: fingerprint without pins",
	  HDR CA "partners:\n  - domain: a.example\n    tls:\n      verify: fingerprint\n",
	  .want = { E(10, 15, MISSING) } },
	{ "malformed pins, all reported",
	  HDR "partners:\n  - domain: a.example\n    tls:\n      verify: fingerprint\n      fingerprints:\n"
	  "        - sha256:465e8ac368\n"
	  "        - sha1:465e8ac368cb33df5115b71a8b23834b87ad006c77e83f45c3433a8d126cffc5\n"
	  "        - sha256:g65e8ac368cb33df5115b71a8b23834b87ad006c77e83f45c3433a8d126cffc5\n"
	  "        - \"sha256:46:5e8a\"\n",
	  .want = { E(9, 11, VALUE), E(10, 11, VALUE), E(11, 11, VALUE), E(12, 11, VALUE) } },
	{ "malformed addresses and prefixes",
	  HDR CA "partners:\n  - domain: a.example\n"
	  "    addresses: [192.0.2.256, 192.0.2.0/33, 192.0.2.1/24, \"2001:db8::g\", 0.0.0.0/0]\n",
	  .want = { E(9, 17, VALUE), E(9, 30, VALUE), E(9, 44, VALUE), E(9, 58, VALUE),
		    E(9, 73, VALUE) } },
	{ "invalid domain names",
	  HDR CA "partners:\n  - domain: -bad.example\n  - domain: a..example\n"
	  "  - domain: under_score.example\n  - domain: 192.0.2.1\n"
	  "  - domain: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example\n",
	  .want = { E(8, 13, VALUE), E(9, 13, VALUE), E(10, 13, VALUE), E(11, 13, VALUE),
		    E(12, 13, VALUE) } },
	{ "U-label: use the A-label", HDR CA "partners:\n  - domain: bücher.example\n",
	  .want = { E(8, 13, VALUE) }, .msg = "A-label" },
	{ "auth without a password source",
	  HDR CA "partners:\n  - domain: a.example\n    auth:\n      username: us\n",
	  .want = { E(10, 7, MISSING) }, .msg = "password_file" },
	{ "password_file missing",
	  HDR CA "partners:\n  - domain: a.example\n    auth:\n      username: us\n"
	  "      password_file: secrets/none.pass\n", .want = { E(11, 22, FILE) } },
	{ "password_file readable by others",
	  HDR CA "partners:\n  - domain: a.example\n    auth:\n      username: us\n"
	  "      password_file: secrets/open.pass\n", .want = { E(11, 22, FILE) },
	  .msg = "chmod 600" },
	{ "password_file empty",
	  HDR CA "partners:\n  - domain: a.example\n    auth: {username: us, password_file: secrets/empty.pass}\n",
	  .want = { E(9, 41, FILE) } },
	{ "a value with a line break is quoted on one line of the message",
	  HDR CA "partners:\n  - domain: a.example\n    addresses: [\"192.0.2.1\\nx.example: 1:1: forged\"]\n",
	  .want = { E(9, 17, VALUE) }, .msg = "'192.0.2.1\\nx.example: 1:1: forged'" },
	{ "invalid direction", HDR CA "partners:\n  - domain: a.example\n    direction: out\n",
	  .want = { E(9, 16, VALUE) } },
	{ "ports out of range, duplicated, too many",
	  HDR "defaults:\n  ports: [0, 65536, 25, 25]\n"
	  "partners:\n  - domain: a.example\n    tls: {verify: none}\n"
	  "    ports: [1, 2, 3, 4, 5, 6, 7, 8, 9]\n",
	  .want = { E(5, 11, VALUE), E(5, 14, VALUE), E(5, 25, DUPLICATE), E(9, 37, VALUE) } },
	{ "unknown inbound.require value",
	  HDR "partners:\n  - domain: a.example\n    direction: inbound\n    inbound:\n"
	  "      sources: [198.51.100.7]\n      require: [tls, password]\n" INB,
	  .want = { E(9, 22, VALUE) } },
	{ "malformed crypt hashes",
	  HDR "partners:\n  - domain: a.example\n    direction: inbound\n    inbound:\n"
	  "      sources: [198.51.100.7]\n      require: [auth]\n      accounts:\n"
	  "        - {username: a, password_hash: \"$6$salt$tooshort\"}\n"
	  "        - {username: b, password_hash: \"$1$abc$0123456789abcdefghijkl\"}\n"
	  "        - {username: c, password_hash: plaintext}\n"
	  "        - {username: d, password_hash: \"$y$j9T$salt$\"}\n" INB,
	  .want = { E(11, 40, VALUE), E(12, 40, VALUE), E(13, 40, VALUE), E(14, 40, VALUE) } },
	{ "duplicate domain in the main file",
	  HDR CA "partners:\n  - domain: a.example\n  - domain: A.Example.\n",
	  .want = { E(9, 13, DUPLICATE) }, .msg = "policy.yaml:8" },
	{ "duplicate domain: main file and a drop-in",
	  HDR CA "partners:\n  - domain: a.example\n",
	  { { "policies.d/x.yaml", "# x\ndomain: a.example\n" } },
	  .want = { EF("policies.d/x.yaml", 2, 9, DUPLICATE) }, .msg = "policy.yaml:8" },
	{ "duplicate domain in two drop-ins",
	  HDR CA, { { "policies.d/a.yaml", "domain: a.example\n" },
		    { "policies.d/b.yaml", "domain: a.example\n" } },
	  .want = { EF("policies.d/b.yaml", 1, 9, DUPLICATE) }, .msg = "policies.d/a.yaml:1" },
	{ "verify: ca (the default) without a ca_file",
	  HDR "partners:\n  - domain: a.example\n    mode: testing\n",
	  .want = { E(5, 5, MISSING) }, .msg = "ca_file" },
	{ "ca_file that does not exist",
	  HDR "defaults:\n  tls:\n    ca_file: /nonexistent/ca.pem\n", .want = { E(6, 14, FILE) } },
	{ "client_cert without client_key",
	  HDR CA "partners:\n  - domain: a.example\n    tls: {client_cert: certs/a.pem}\n",
	  .want = { E(9, 24, MISSING) } },
	{ "inbound partner without an inbound block",
	  HDR CA "partners:\n  - domain: a.example\n    direction: both\n" INB,
	  .want = { E(9, 16, MISSING) }, .msg = "no inbound: block" },
	{ "inbound partner without the top-level inbound block",
	  HDR "partners:\n  - domain: a.example\n    direction: inbound\n"
	  "    inbound: {sources: [198.51.100.7], require: [tls]}\n",
	  .want = { E(6, 16, MISSING) }, .msg = "top-level inbound" },
	{ "top-level inbound without its required keys", HDR "inbound:\n  announce: xclient\n",
	  .want = { E(5, 3, MISSING), E(5, 3, MISSING), E(5, 3, MISSING), E(5, 3, MISSING) } },
	{ "require: auth without accounts, client_cert without CA or pins",
	  HDR "partners:\n  - domain: a.example\n    direction: inbound\n    inbound:\n"
	  "      sources: [198.51.100.7]\n      require: [auth, client_cert]\n" INB,
	  .want = { E(9, 17, MISSING), E(9, 23, MISSING) } },
	{ "inbound block on an outbound-only partner",
	  HDR CA "partners:\n  - domain: a.example\n"
	  "    inbound: {sources: [198.51.100.7], require: [tls]}\n",
	  .want = { E(9, 5, VALUE) } },
	{ "empty sources list",
	  HDR "partners:\n  - domain: a.example\n    direction: inbound\n"
	  "    inbound: {sources: [], require: [tls]}\n" INB, .want = { E(7, 24, MISSING) } },
	{ "malformed endpoints",
	  HDR "  listen: [127.0.0.1, \"[::1]\", \"::1:25\", 127.0.0.1:0]\n",
	  .want = { E(4, 12, VALUE), E(4, 23, VALUE), E(4, 32, VALUE), E(4, 42, VALUE) } },
	{ "cipher strings OpenSSL does not know",
	  HDR "defaults:\n  tls:\n    ca_file: /etc/ssl/certs/ca-certificates.crt\n"
	  "    ciphers: NOPE\n    ciphersuites: TLS_AES_256_GCM_SHA384:TLS_FAKE\n",
	  .want = { E(7, 14, VALUE), E(8, 19, VALUE) }, .msg = "no cipher" },
	{ "a TLS 1.2 cipher is not a TLS 1.3 suite",
	  HDR CA "partners:\n  - domain: a.example\n"
	  "    tls: {ciphersuites: TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}\n",
	  .want = { E(9, 25, VALUE) }, .msg = "TLS 1.3" },
	{ "cgroup must be absolute, timeout in range",
	  HDR "  cgroup: sys/fs/cgroup\n  limits: {timeout: 2h, max_sessions: 0}\n",
	  .want = { E(4, 11, VALUE), E(5, 21, VALUE), E(5, 39, VALUE) } },

	/* ---- invalid: drop-ins ---- */
	{ "syntax error in a drop-in; the main file is still checked",
	  "version: 1\ncontroller: {}\n", { { "policies.d/a.yaml", "domain: [a.example\n" } },
	  .want = { E(2, 13, MISSING), EF("policies.d/a.yaml", 1, 9, TYPE),
		    EF("policies.d/a.yaml", 2, 1, SYNTAX) } },
	{ "a drop-in holds one partner, not a policy",
	  HDR CA, { { "policies.d/a.yaml", "partners:\n  - domain: a.example\n" } },
	  .want = { EF("policies.d/a.yaml", 1, 1, UNKNOWN_KEY),
		    EF("policies.d/a.yaml", 1, 1, MISSING) } },

	/* ---- several errors at once ---- */
	{ "several errors in one file are all reported",
	  "version: 3\ncontroller:\n  hostname: mail.example.org\n  listen: [1.2.3.4]\n"
	  "defaults:\n  mode: strict\n  tls: {ca_file: /etc/ssl/certs/ca-certificates.crt}\n"
	  "partners:\n  - domain: a.example\n    direction: both\n    colour: red\n"
	  "  - domain: a.example\n",
	  .want = { E(1, 10, VALUE), E(4, 12, VALUE), E(6, 9, VALUE), E(10, 16, MISSING),
		    E(10, 16, MISSING), E(11, 5, UNKNOWN_KEY), E(12, 13, DUPLICATE) } },
};

static void run_case(const struct tcase *c)
{
	struct sl_diags d = { 0 };
	struct sl_policy *p = NULL;
	char path[256];
	size_t want_n = 0;
	bool same = true;
	int rc;

	fixture_up();
	write_file(tmpdir, "policy.yaml", c->main, 0644);
	for (const struct tfile *f = c->more; f->name; f++)
		write_file(tmpdir, f->name, f->text, 0644);
	snprintf(path, sizeof(path), "%s/policy.yaml", tmpdir);
	rc = sl_policy_load(path, &p, &d);

	while (want_n < TAP_NELEM(c->want) && c->want[want_n].cls)
		want_n++;
	if (want_n == 0) {
		if (!tap_int(rc, 0, "%s: loads", c->name))
			sl_diags_print(&d, stdout);
		else if (c->check)
			c->check(p);
		goto out;
	}
	tap_int(rc, -EINVAL, "%s: refused", c->name);
	tap_ok(p == NULL, "%s: no model returned", c->name);
	same = d.n == want_n;
	for (size_t i = 0; same && i < want_n; i++) {
		const struct tdiag *w = &c->want[i];
		char wfile[300];

		snprintf(wfile, sizeof(wfile), "%s/%s", tmpdir, w->file ? w->file : "policy.yaml");
		same = !strcmp(d.v[i].file, wfile) && d.v[i].line == w->line &&
		       d.v[i].col == w->col && d.v[i].cls == w->cls;
	}
	if (!tap_ok(same, "%s: %zu error(s) at the expected file:line:col and class",
		    c->name, want_n)) {
		for (size_t i = 0; i < want_n; i++)
			tap_diag("want %s:%u:%u %s", c->want[i].file ? c->want[i].file : "policy.yaml",
				 c->want[i].line, c->want[i].col, sl_diag_class_name(c->want[i].cls));
		for (size_t i = 0; i < d.n; i++)
			tap_diag("got  %s:%u:%u %s: %s", d.v[i].file, d.v[i].line, d.v[i].col,
				 sl_diag_class_name(d.v[i].cls), d.v[i].msg);
	}
	if (c->msg && d.n) {
		tap_ok(strstr(d.v[0].msg, c->msg) != NULL, "%s: message mentions \"%s\"",
		       c->name, c->msg);
		if (!strstr(d.v[0].msg, c->msg))
			tap_diag("message: %s", d.v[0].msg);
	}
out:
	sl_policy_free(p);
	sl_diags_done(&d);
	fixture_down();
}

/* ---- sl_policy_load_opts and other whole-load behaviour ----------------------- */

static void test_opts(void)
{
	struct sl_policy_opts o = { 0 };
	struct sl_diags d = { 0 };
	struct sl_policy *p = NULL;
	char path[256], skip[256];
	int rc;

	fixture_up();
	snprintf(path, sizeof(path), "%s/policy.yaml", tmpdir);
	write_file(tmpdir, "policy.yaml", HDR CA "partners:\n  - domain: main.example\n", 0644);
	write_file(tmpdir, "policies.d/bad.yaml", "domain: [\n", 0644);
	write_file(tmpdir, "policies.d/c.yaml", "domain: c.example\n", 0644);

	rc = sl_policy_load(path, &p, &d);
	tap_int(rc, -EINVAL, "opts: a broken drop-in breaks the load");
	sl_diags_done(&d);

	snprintf(skip, sizeof(skip), "%s/policies.d/bad.yaml", tmpdir);
	o.skip_file = skip;
	rc = sl_policy_load_opts(path, &o, &p, &d);
	if (tap_int(rc, 0, "opts: skip_file leaves the broken drop-in out")) {
		tap_int(p->n_partners, 2, "opts: main + c.example");
		tap_int(p->n_files, 2, "opts: skipped file not in files[]");
		p = sl_policy_free(p);
	}

	o.extra_name = "policies.d/new.example.yaml";
	o.extra_text = "domain: new.example\nmode: testing\n";
	rc = sl_policy_load_opts(path, &o, &p, &d);
	if (tap_int(rc, 0, "opts: extra drop-in validated from text")) {
		const struct sl_partner *n = sl_policy_find(p, "new.example");

		tap_ok(n && n->dropin && n->mode == SL_MODE_TESTING, "opts: extra partner present");
		tap_int(p->n_files, 3, "opts: extra counted as a file");
		tap_str(p->files[2], "policies.d/new.example.yaml", "opts: extra named as given");
		p = sl_policy_free(p);
	}

	o.extra_name = "policies.d/dup.yaml";
	o.extra_text = "domain: C.example\n";
	rc = sl_policy_load_opts(path, &o, &p, &d);
	tap_int(rc, -EINVAL, "opts: extra duplicating a domain is refused");
	if (tap_int(d.n, 1, "opts: one error")) {
		tap_str(d.v[0].file, "policies.d/dup.yaml", "opts: error names the extra drop-in");
		tap_ok(d.v[0].line == 1 && d.v[0].col == 9 && d.v[0].cls == SL_DIAG_DUPLICATE,
		       "opts: at the domain value, class duplicate");
		tap_ok(strstr(d.v[0].msg, "policies.d/c.yaml:1") != NULL,
		       "opts: names the first definition");
	}
	sl_diags_done(&d);

	/* The extra replaces an on-disk drop-in of the same name (an edit). */
	o.extra_name = "policies.d/c.yaml";
	o.extra_text = "domain: c.example\nmode: testing\n";
	rc = sl_policy_load_opts(path, &o, &p, &d);
	if (tap_int(rc, 0, "opts: extra replaces a drop-in of the same name")) {
		tap_int(p->n_partners, 2, "opts: c.example once");
		tap_int(sl_policy_find(p, "c.example")->mode, SL_MODE_TESTING, "opts: new content");
		p = sl_policy_free(p);
	}
	fixture_down();
}

static void test_whole_load(void)
{
	struct sl_diags d = { 0 };
	struct sl_policy *p = NULL, *q = NULL;
	char path[256], text[8192];
	size_t n = 0;
	int rc;

	fixture_up();
	snprintf(path, sizeof(path), "%s/missing.yaml", tmpdir);
	rc = sl_policy_load(path, &p, &d);
	tap_int(rc, -ENOENT, "missing file: -ENOENT");
	tap_ok(d.n == 1 && d.v[0].line == 0 && d.v[0].cls == SL_DIAG_FILE,
	       "missing file: one file error for the whole file");
	sl_diags_done(&d);

	/* More errors than SL_DIAG_MAX: the first ones kept, the rest counted. */
	n = (size_t)snprintf(text, sizeof(text), HDR "partners:\n");
	for (int i = 0; i < SL_DIAG_MAX + 6; i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "  - {domain: a%d.example, bad: 1}\n", i);
	write_file(tmpdir, "many.yaml", text, 0644);
	snprintf(path, sizeof(path), "%s/many.yaml", tmpdir);
	rc = sl_policy_load(path, &p, &d);
	tap_int(rc, -EINVAL, "too many errors: refused");
	tap_int(d.n, SL_DIAG_MAX, "too many errors: SL_DIAG_MAX kept");
	tap_ok(d.dropped > 0, "too many errors: the rest counted as dropped");
	sl_diags_done(&d);

	/* diags may be NULL; sha256 differs with the content. */
	write_file(tmpdir, "a.yaml", HDR, 0644);
	write_file(tmpdir, "b.yaml", HDR "# other bytes\n", 0644);
	snprintf(path, sizeof(path), "%s/a.yaml", tmpdir);
	rc = sl_policy_load(path, &p, NULL);
	snprintf(path, sizeof(path), "%s/b.yaml", tmpdir);
	rc |= sl_policy_load(path, &q, NULL);
	if (tap_int(rc, 0, "diags NULL: loads"))
		tap_ok(memcmp(p->sha256, q->sha256, 32) != 0, "sha256 covers the bytes");
	sl_policy_free(p);
	sl_policy_free(q);
	tap_ok(sl_policy_free(NULL) == NULL, "free(NULL) is a no-op");
	fixture_down();
}

/* ---- value helpers ---------------------------------------------------------------- */

static void test_prefixes(void)
{
	static const struct { const char *in; int rc; const char *out; } t[] = {
		{ "192.0.2.0/24", 0, "192.0.2.0/24" },
		{ "192.0.2.1", 0, "192.0.2.1" },
		{ "192.0.2.1/32", 0, "192.0.2.1" },
		{ "2001:DB8::/32", 0, "2001:db8::/32" },
		{ "::ffff:192.0.2.0/120", 0, "::ffff:192.0.2.0/120" },
		{ "192.0.2.1/24", -EDOM, NULL },
		{ "2001:db8::1/64", -EDOM, NULL },
		{ "192.0.2.0/33", -ERANGE, NULL },
		{ "2001:db8::/129", -ERANGE, NULL },
		{ "192.0.2.0/024", -EINVAL, NULL },
		{ "192.0.2.0/", -EINVAL, NULL },
		{ "192.0.2", -EINVAL, NULL },
		{ "fe80::1%eth0", -EINVAL, NULL },
		{ "", -EINVAL, NULL },
	};

	for (size_t i = 0; i < TAP_NELEM(t); i++) {
		struct sl_prefix p;
		char buf[64];
		int rc = sl_prefix_parse(t[i].in, &p);

		tap_int(rc, t[i].rc, "prefix '%s': rc", t[i].in);
		if (!rc && t[i].out) {
			sl_prefix_format(&p, buf, sizeof(buf));
			tap_str(buf, t[i].out, "prefix '%s': formatted", t[i].in);
		}
	}
}

static void test_endpoints(void)
{
	static const struct { const char *in; int rc; const char *out; } t[] = {
		{ "127.0.0.1:10025", 0, "127.0.0.1:10025" },
		{ "[::1]:25", 0, "[::1]:25" },
		{ "[2001:DB8::1]:587", 0, "[2001:db8::1]:587" },
		{ "127.0.0.1", -EINVAL, NULL },
		{ "::1:25", -EINVAL, NULL },
		{ "[127.0.0.1]:25", -EINVAL, NULL },
		{ "127.0.0.1:0", -EINVAL, NULL },
		{ "127.0.0.1:65536", -EINVAL, NULL },
		{ "127.0.0.1:+25", -EINVAL, NULL },
		{ "[::1]25", -EINVAL, NULL },
	};

	for (size_t i = 0; i < TAP_NELEM(t); i++) {
		struct sl_endpoint e;
		char buf[64];
		int rc = sl_endpoint_parse(t[i].in, &e);

		tap_int(rc, t[i].rc, "endpoint '%s': rc", t[i].in);
		if (!rc && t[i].out) {
			sl_endpoint_format(&e, buf, sizeof(buf));
			tap_str(buf, t[i].out, "endpoint '%s': formatted", t[i].in);
		}
	}
}

static void test_domains(void)
{
	static const struct { const char *in; int rc; const char *out; } t[] = {
		{ "Example.COM", 0, "example.com" },
		{ "example.com.", 0, "example.com" },
		{ "xn--bcher-kva.example", 0, "xn--bcher-kva.example" },
		{ "a-b.c0", 0, "a-b.c0" },
		{ "localhost", 0, "localhost" },
		{ "b\xc3\xbc" "cher.example", -EILSEQ, NULL },
		{ "-a.example", -EINVAL, NULL },
		{ "a-.example", -EINVAL, NULL },
		{ "a..example", -EINVAL, NULL },
		{ ".example", -EINVAL, NULL },
		{ "example..", -EINVAL, NULL },
		{ "a_b.example", -EINVAL, NULL },
		{ "*.example", -EINVAL, NULL },
		{ "10.0.0.1", -EINVAL, NULL },
		{ "", -EINVAL, NULL },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.x", -ENAMETOOLONG, NULL },
	};
	char out[SL_DOMAIN_MAX], longname[300];

	for (size_t i = 0; i < TAP_NELEM(t); i++) {
		int rc = sl_domain_normalize(t[i].in, out, sizeof(out));

		tap_int(rc, t[i].rc, "domain '%s': rc", t[i].in);
		if (!rc)
			tap_str(out, t[i].out, "domain '%s': normalised", t[i].in);
	}
	/* 253 characters is the limit of a name. */
	memset(longname, 'a', sizeof(longname));
	for (int i = 63; i < 253; i += 64)
		longname[i] = '.';
	longname[253] = '\0';
	tap_int(sl_domain_normalize(longname, out, sizeof(out)), 0, "domain of 253 characters");
	longname[253] = 'a';
	longname[254] = '\0';
	tap_int(sl_domain_normalize(longname, out, sizeof(out)), -ENAMETOOLONG,
		"domain of 254 characters");
}

static void test_pins_hashes(void)
{
	static const struct { const char *in; int rc; } pins[] = {
		{ PIN, 0 },
		{ "SHA256:465E8AC368CB33DF5115B71A8B23834B87AD006C77E83F45C3433A8D126CFFC5", 0 },
		{ "sha256:46:5e:8a:c3:68:cb:33:df:51:15:b7:1a:8b:23:83:4b:87:ad:00:6c:77:e8:3f:45:c3:43:3a:8d:12:6c:ff:c5", 0 },
		{ "sha256:46:5e8ac368cb33df5115b71a8b23834b87ad006c77e83f45c3433a8d126cffc5", -EINVAL },
		{ "sha256:465e8ac368cb33df5115b71a8b23834b87ad006c77e83f45c3433a8d126cffc", -EINVAL },
		{ "sha256:465e8ac368cb33df5115b71a8b23834b87ad006c77e83f45c3433a8d126cffc500", -EINVAL },
		{ "465e8ac368cb33df5115b71a8b23834b87ad006c77e83f45c3433a8d126cffc5", -EINVAL },
		{ "sha256:", -EINVAL },
	};
	static const struct { const char *in; int rc; } hashes[] = {
		{ YY, 0 },
		{ Y6, 0 },
		{ "$6$rounds=10000$saltsalt$4c9ZmoiC.ZKQqlA.4y/Qr537CcQrNO73ixWL8WLrCxUlxpzvCLdHIAq.f.zMRF0P1OgGarsTkoqmPzx0tBwVt/", 0 },
		{ "$5$nRmqOyEW/y6m63YV$dNqOC1ffj2SncqzTW1dK4VWVICwcCLnBDkbj8CH.3Z3", 0 },
		{ "$2b$12$oscCXtfitkdE96cQuDSGvulZqr9WVeyfOSVeQOiJ6PHkCOIcwfPHm", 0 },
		{ "$2b$03$oscCXtfitkdE96cQuDSGvulZqr9WVeyfOSVeQOiJ6PHkCOIcwfPHm", -EINVAL },
		{ "$y$j9T$GQm.yk8fNwavlCSycwiGX.$pyz4FwuW0su3n8tBtOCEB4mu2xk/h0k1GhAq11Uhju", -EINVAL },
		{ "$6$/uYlCxYGWu/9Xs5s$4c9Zmoi", -EINVAL },
		{ "$6$waytoolongsaltforsha$4c9ZmoiC.ZKQqlA.4y/Qr537CcQrNO73ixWL8WLrCxUlxpzvCLdHIAq.f.zMRF0P1OgGarsTkoqmPzx0tBwVt/", -EINVAL },
		{ "$1$abcdefgh$0123456789abcdefghijkl", -EPROTONOSUPPORT },
		{ "ab01234567890", -EPROTONOSUPPORT },
		{ "$7$CU..../....abc$def", -EPROTONOSUPPORT },
		{ "", -EPROTONOSUPPORT },
	};
	struct sl_pin pin;

	for (size_t i = 0; i < TAP_NELEM(pins); i++)
		tap_int(sl_pin_parse(pins[i].in, &pin), pins[i].rc, "pin #%zu", i);
	for (size_t i = 0; i < TAP_NELEM(hashes); i++)
		tap_int(sl_crypt_hash_check(hashes[i].in), hashes[i].rc, "hash '%.12s...'",
			hashes[i].in);
}

static void test_secret(void)
{
	static const struct { const char *name, *text; mode_t mode; int rc; const char *want; } t[] = {
		{ "s1", "pw\n", 0600, 0, "pw" },
		{ "s2", "pw\r\n", 0400, 0, "pw" },
		{ "s3", "pw", 0600, 0, "pw" },
		{ "s4", "pw\n", 0640, -EPERM, NULL },
		{ "s5", "\n", 0600, -EINVAL, NULL },
		{ "s6", "p\0w\n", 0600, -EINVAL, NULL },
	};

	fixture_up();
	for (size_t i = 0; i < TAP_NELEM(t); i++) {
		char path[256], *s = NULL;
		int fd, rc;

		snprintf(path, sizeof(path), "%s/%s", tmpdir, t[i].name);
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, t[i].mode);
		if (fd >= 0) {
			ssize_t w = write(fd, t[i].text, strlen(t[i].text) + (i == 5 ? 4 : 0));

			(void)w;
			close(fd);
		}
		rc = sl_policy_read_secret(path, &s);
		tap_int(rc, t[i].rc, "secret %s: rc", t[i].name);
		if (!rc)
			tap_str(s, t[i].want, "secret %s: content", t[i].name);
		free(s);
	}
	fixture_down();
}

/* ---- golden dumps ---------------------------------------------------------------- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "re");
	char *buf = NULL;
	size_t cap = 0, n;

	if (!f)
		return NULL;
	n = (size_t)getdelim(&buf, &cap, '\0', f);
	fclose(f);
	if (n == (size_t)-1) {
		free(buf);
		return strdup("");
	}
	return buf;
}

/* Replace every occurrence of from in s with to (s is freed). */
static char *replace_all(char *s, const char *from, const char *to)
{
	size_t nf = strlen(from), nt = strlen(to), cap = strlen(s) * (nt > nf ? nt / nf + 2 : 1) + 1;
	char *out = malloc(cap), *o = out;

	for (const char *p = s; *p;) {
		if (!strncmp(p, from, nf)) {
			memcpy(o, to, nt);
			o += nt;
			p += nf;
		} else {
			*o++ = *p++;
		}
	}
	*o = '\0';
	free(s);
	return out;
}

static int only_yaml(const struct dirent *de)
{
	size_t n = strlen(de->d_name);

	return n > 5 && !strcmp(de->d_name + n - 5, ".yaml");
}

static void golden_one(const char *gdir, const char *name, bool update)
{
	char src[2048], dst[2048], want_path[2048], dropdir[1024], *text, *got = NULL, *want;
	struct sl_diags d = { 0 };
	struct sl_policy *p = NULL;
	struct dirent **des = NULL;
	size_t n = 0;
	FILE *mem;
	int nd;

	fixture_up();
	snprintf(src, sizeof(src), "%s/%s", gdir, name);
	text = slurp(src);
	write_file(tmpdir, name, text ? text : "", 0644);
	free(text);
	/* golden/NAME.policies.d/ *.yaml become the drop-ins. */
	snprintf(dropdir, sizeof(dropdir), "%s/%.*s.policies.d", gdir, (int)strlen(name) - 5, name);
	nd = scandir(dropdir, &des, only_yaml, alphasort);
	for (int i = 0; i < nd; i++) {
		char dname[512];

		snprintf(src, sizeof(src), "%s/%s", dropdir, des[i]->d_name);
		snprintf(dname, sizeof(dname), "policies.d/%s", des[i]->d_name);
		text = slurp(src);
		write_file(tmpdir, dname, text ? text : "", 0644);
		free(text);
		free(des[i]);
	}
	free(des);

	snprintf(dst, sizeof(dst), "%s/%s", tmpdir, name);
	if (!tap_int(sl_policy_load(dst, &p, &d), 0, "golden %s: loads", name)) {
		sl_diags_print(&d, stdout);
		sl_diags_done(&d);
		fixture_down();
		return;
	}
	mem = open_memstream(&got, &n);
	sl_policy_dump(p, mem);
	fclose(mem);
	sl_policy_free(p);
	got = replace_all(got, tmpdir, "@DIR@");

	snprintf(want_path, sizeof(want_path), "%s/%.*s.dump", gdir, (int)strlen(name) - 5, name);
	if (update) {
		FILE *f = fopen(want_path, "we");

		if (f) {
			fputs(got, f);
			fclose(f);
		}
	}
	want = slurp(want_path);
	if (!tap_str(got, want, "golden %s: dump matches %s", name, want_path) && want) {
		/* tap_str printed both; nothing more to add. */
	}
	free(want);
	free(got);
	fixture_down();
}

static void test_golden(void)
{
	const char *gdir = getenv("SL_GOLDEN_DIR");
	bool update = getenv("SL_GOLDEN_UPDATE") != NULL;
	char def[512], *slash;
	struct dirent **des = NULL;
	int n;

	if (!gdir) {
		snprintf(def, sizeof(def), "%s", __FILE__);
		slash = strrchr(def, '/');
		snprintf(slash ? slash + 1 : def, sizeof(def) - (size_t)(slash ? slash + 1 - def : 0),
			 "golden");
		gdir = def;
	}
	n = scandir(gdir, &des, only_yaml, alphasort);
	tap_ok(n >= 3, "golden: at least three golden policies in %s", gdir);
	for (int i = 0; i < n; i++) {
		golden_one(gdir, des[i]->d_name, update);
		free(des[i]);
	}
	free(des);
}

int main(void)
{
	size_t n_invalid = 0;

	for (size_t i = 0; i < TAP_NELEM(cases); i++) {
		run_case(&cases[i]);
		n_invalid += cases[i].want[0].cls != 0;
	}
	tap_ok(TAP_NELEM(cases) >= 40 && 2 * n_invalid >= TAP_NELEM(cases),
	       "the table has %zu cases, %zu of them invalid", TAP_NELEM(cases), n_invalid);
	test_opts();
	test_whole_load();
	test_prefixes();
	test_endpoints();
	test_domains();
	test_pins_hashes();
	test_secret();
	test_golden();
	return tap_done();
}

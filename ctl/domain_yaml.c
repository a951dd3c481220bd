/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * domain_yaml.c — `domain add` options → a drop-in YAML file.
 *
 * Strings are written as YAML double-quoted scalars ("\\" and "\"" escaped;
 * control characters are refused at parse time), so no value can change
 * the file's structure.
 */
#include <getopt.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "domain_yaml.h"
#include "policy.h"
#include "status.h"

enum {
	O_DIRECTION = 256, O_MODE, O_MIN_TLS, O_VERIFY, O_PIN, O_CA_FILE, O_MX, O_ADDRESS,
	O_AUTH_USER, O_PASSWORD_FILE, O_SOURCE, O_REQUIRE, O_ACCOUNT, O_CLIENT_CA, O_ON_FAILURE,
};

static const struct option sl_add_opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "socket", required_argument, NULL, 's' },
	{ "direction", required_argument, NULL, O_DIRECTION },
	{ "mode", required_argument, NULL, O_MODE },
	{ "on-failure", required_argument, NULL, O_ON_FAILURE },
	{ "min-tls", required_argument, NULL, O_MIN_TLS },
	{ "verify", required_argument, NULL, O_VERIFY },
	{ "pin", required_argument, NULL, O_PIN },
	{ "ca-file", required_argument, NULL, O_CA_FILE },
	{ "mx", required_argument, NULL, O_MX },
	{ "address", required_argument, NULL, O_ADDRESS },
	{ "auth-user", required_argument, NULL, O_AUTH_USER },
	{ "password-file", required_argument, NULL, O_PASSWORD_FILE },
	{ "source", required_argument, NULL, O_SOURCE },
	{ "require", required_argument, NULL, O_REQUIRE },
	{ "account", required_argument, NULL, O_ACCOUNT },
	{ "client-ca", required_argument, NULL, O_CLIENT_CA },
	{ NULL, 0, NULL, 0 },
};

static int sl_bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sl_bad(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return sl_usage_error("domain", "add: %s", msg);
}

static bool sl_one_of(const char *v, const char *const *set)
{
	for (; *set; set++)
		if (!strcmp(v, *set))
			return true;
	return false;
}

static bool sl_clean(const char *v)
{
	if (!v[0])
		return false;
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* A path given on the command line is relative to where the admin is,
 * not to the policy's directory: make it absolute. */
static char *sl_abs(const char *p)
{
	char cwd[PATH_MAX], *out;

	if (p[0] == '/')
		return strdup(p);
	if (!getcwd(cwd, sizeof(cwd)))
		return NULL;
	if (asprintf(&out, "%s/%s", cwd, p) < 0)
		return NULL;
	return out;
}

static int sl_push(const char **v, size_t *n, const char *x, const char *opt)
{
	if (*n >= SL_SPEC_MAX_LIST)
		return sl_bad("%s: at most 32 values", opt);
	v[(*n)++] = x;
	return SL_EXIT_OK;
}

int sl_domain_spec_parse(int argc, char **argv, struct sl_domain_spec *s)
{
	static const char *const dirs[] = { "outbound", "inbound", "both", NULL };
	static const char *const modes[] = { "enforce", "testing", NULL };
	static const char *const fails[] = { "defer", "reject", NULL };
	static const char *const tlsv[] = { "1.2", "1.3", NULL };
	static const char *const verifies[] = { "none", "ca", "fingerprint", "dane", NULL };
	static const char *const reqs[] = { "tls", "auth", "client_cert", NULL };
	const char *name = NULL;
	char **dst;
	int c, rc;

	memset(s, 0, sizeof(*s));
	optind = 1;
	opterr = 0;
	int li;

	for (;;) {
		char optname[40];
		const char *opt = optname;

		li = -1;
		c = getopt_long(argc, argv, "-c:s:", sl_add_opts, &li);
		if (c == -1)
			break;
		if (li >= 0)
			snprintf(optname, sizeof(optname), "--%s", sl_add_opts[li].name);
		else if ((c == '?' || c == ':') && optopt > 0 && optopt < 256)
			snprintf(optname, sizeof(optname), "-%c", optopt);
		else
			opt = argv[optind - 1];

		if (c != 1 && c != '?' && c != ':' && optarg && !sl_clean(optarg))
			return sl_bad("%s: empty value or control characters", opt);
		rc = SL_EXIT_OK;
		switch (c) {
		case 1:
			if (name)
				return sl_bad("unexpected argument '%s'", optarg);
			name = optarg;
			break;
		case 'c':
			s->policy = optarg;
			break;
		case 's':
			s->sock = optarg;
			break;
		case O_DIRECTION:
			if (!sl_one_of(optarg, dirs))
				return sl_bad("--direction: '%s' is not outbound, inbound or both",
					      optarg);
			s->direction = optarg;
			break;
		case O_MODE:
			if (!sl_one_of(optarg, modes))
				return sl_bad("--mode: '%s' is not enforce or testing", optarg);
			s->mode = optarg;
			break;
		case O_ON_FAILURE:
			if (!sl_one_of(optarg, fails))
				return sl_bad("--on-failure: '%s' is not defer or reject",
					      optarg);
			s->on_failure = optarg;
			break;
		case O_MIN_TLS:
			if (!sl_one_of(optarg, tlsv))
				return sl_bad("--min-tls: '%s' is not 1.2 or 1.3", optarg);
			s->min_tls = optarg;
			break;
		case O_VERIFY:
			if (!sl_one_of(optarg, verifies))
				return sl_bad("--verify: '%s' is not none, ca, fingerprint or "
					      "dane", optarg);
			s->verify = optarg;
			break;
		case O_PIN: {
			struct sl_pin pin;

			if (sl_pin_parse(optarg, &pin) < 0)
				return sl_bad("--pin: '%s' is not sha256: and 64 hex digits",
					      optarg);
			rc = sl_push(s->pins, &s->n_pins, optarg, "--pin");
			break;
		}
		case O_MX: {
			char host[SL_DOMAIN_MAX];

			if (sl_domain_normalize(optarg, host, sizeof(host)) < 0)
				return sl_bad("--mx: '%s' is not a host name", optarg);
			rc = sl_push(s->mx, &s->n_mx, optarg, "--mx");
			break;
		}
		case O_ADDRESS:
		case O_SOURCE: {
			struct sl_prefix pfx;

			if (!(c == O_SOURCE && !strcmp(optarg, "mx")) && sl_prefix_parse(optarg, &pfx) < 0)
				return sl_bad("%s: '%s' is not an address or prefix (write a prefix "
					      "with its network address: 192.0.2.0/24)", opt, optarg);
			rc = c == O_SOURCE ? sl_push(s->sources, &s->n_sources, optarg, "--source")
					   : sl_push(s->addresses, &s->n_addresses, optarg, "--address");
			break;
		}
		case O_REQUIRE: {
			char *save = NULL, *tok;

			snprintf(s->require_buf, sizeof(s->require_buf), "%s", optarg);
			s->n_require = 0;
			for (tok = strtok_r(s->require_buf, ",", &save); tok;
			     tok = strtok_r(NULL, ",", &save)) {
				if (!sl_one_of(tok, reqs) || s->n_require >= 3)
					return sl_bad("--require: '%s' is not a list of tls, auth, "
						      "client_cert", optarg);
				s->require[s->n_require++] = tok;
			}
			break;
		}
		case O_ACCOUNT:
			if (!strchr(optarg, ':') || strchr(optarg, ':') == optarg ||
			    sl_crypt_hash_check(strchr(optarg, ':') + 1) < 0)
				return sl_bad("--account: '%s' is not USER:HASH with a crypt(3) hash "
					      "($y$, $6$, $5$, $2b$; see smtplock passwd)",
					      optarg);
			rc = sl_push(s->accounts, &s->n_accounts, optarg, "--account");
			break;
		case O_AUTH_USER:
			s->auth_user = optarg;
			break;
		case O_CA_FILE:
		case O_PASSWORD_FILE:
		case O_CLIENT_CA:
			dst = c == O_CA_FILE ? &s->ca_file : c == O_PASSWORD_FILE ?
			      &s->password_file : &s->client_ca;
			free(*dst);
			*dst = sl_abs(optarg);
			if (!*dst)
				return sl_bad("%s: cannot make '%s' absolute", opt, optarg);
			break;
		default:
			return sl_bad("unknown option or missing value '%s'", opt);
		}
		if (rc != SL_EXIT_OK)
			return rc;
	}
	if (!name)
		return sl_usage_error("domain", "add: missing DOMAIN");
	if (sl_domain_normalize(name, s->domain, sizeof(s->domain)) < 0)
		return sl_bad("'%s' is not a domain name (LDH labels; an IDN as its A-label "
			      "xn--...)", name);
	if (!s->auth_user != !s->password_file)
		return sl_usage_error("domain", "add: --auth-user and --password-file go together");
	if ((s->n_sources || s->n_require || s->n_accounts || s->client_ca) &&
	    (!s->direction || !strcmp(s->direction, "outbound")))
		return sl_usage_error("domain", "add: --source, --require, --account and "
				      "--client-ca need --direction inbound or both");
	if (s->direction && strcmp(s->direction, "outbound") && !s->n_sources)
		return sl_usage_error("domain", "add: --direction %s needs at least one --source "
				      "(an address, a prefix or mx)", s->direction);
	return SL_EXIT_OK;
}

void sl_domain_spec_done(struct sl_domain_spec *s)
{
	free(s->ca_file);
	free(s->password_file);
	free(s->client_ca);
	s->ca_file = s->password_file = s->client_ca = NULL;
}

/* ---- YAML ------------------------------------------------------------------------ */

static void sl_q(FILE *f, const char *v)
{
	fputc('"', f);
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			fputc('\\', f);
		fputc(*v, f);
	}
	fputc('"', f);
}

static void sl_list(FILE *f, const char *ind, const char *key, const char *const *v, size_t n)
{
	if (!n)
		return;
	fprintf(f, "%s%s: [", ind, key);
	for (size_t i = 0; i < n; i++) {
		if (i)
			fputs(", ", f);
		sl_q(f, v[i]);
	}
	fputs("]\n", f);
}

static void sl_kv(FILE *f, const char *ind, const char *key, const char *v)
{
	if (!v)
		return;
	fprintf(f, "%s%s: ", ind, key);
	sl_q(f, v);
	fputc('\n', f);
}

char *sl_domain_spec_yaml(const struct sl_domain_spec *s)
{
	char *buf = NULL, when[32];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	sl_status_time(time(NULL), when, sizeof(when));
	fprintf(f, "# Partner %s, written by `smtplock domain add` on %s.\n"
		"# One partner per file (the keys of a partners[] item, smtplock-policy(5));\n"
		"# `smtplock domain remove %s` deletes this file.\n", s->domain, when, s->domain);
	sl_kv(f, "", "domain", s->domain);
	sl_kv(f, "", "direction", s->direction);
	sl_kv(f, "", "mode", s->mode);
	sl_kv(f, "", "on_failure", s->on_failure);
	sl_list(f, "", "mx", s->mx, s->n_mx);
	sl_list(f, "", "addresses", s->addresses, s->n_addresses);
	if (s->min_tls || s->verify || s->ca_file || s->n_pins) {
		fputs("tls:\n", f);
		sl_kv(f, "  ", "min_version", s->min_tls);
		sl_kv(f, "  ", "verify", s->verify);
		sl_kv(f, "  ", "ca_file", s->ca_file);
		sl_list(f, "  ", "fingerprints", s->pins, s->n_pins);
	}
	if (s->auth_user) {
		fputs("auth:\n", f);
		sl_kv(f, "  ", "username", s->auth_user);
		sl_kv(f, "  ", "password_file", s->password_file);
	}
	if (s->n_sources) {
		fputs("inbound:\n", f);
		sl_list(f, "  ", "sources", s->sources, s->n_sources);
		if (s->n_require)
			sl_list(f, "  ", "require", s->require, s->n_require);
		else
			fputs("  require: [\"tls\"]\n", f);
		sl_kv(f, "  ", "client_ca_file", s->client_ca);
		if (s->n_accounts) {
			fputs("  accounts:\n", f);
			for (size_t i = 0; i < s->n_accounts; i++) {
				const char *colon = strchr(s->accounts[i], ':');
				char user[256];

				snprintf(user, sizeof(user), "%.*s", (int)(colon - s->accounts[i]),
					 s->accounts[i]);
				fputs("    - username: ", f);
				sl_q(f, user);
				fputs("\n      password_hash: ", f);
				sl_q(f, colon + 1);
				fputc('\n', f);
			}
		}
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

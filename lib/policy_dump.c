/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * policy_dump.c — the effective model as canonical text.
 *
 * Every field, defaults already merged, in a fixed order and format (YAML
 * shaped, one key per line, "-" for unset).  The golden tests compare it
 * byte for byte, so change it only together with tests/unit/golden/.
 */
#include <stdio.h>

#include "policy.h"
#include "sasl.h"

static const char *sl_or_dash(const char *s)
{
	return s ? s : "-";
}

static void sl_dump_ports(FILE *f, const uint16_t *ports, size_t n)
{
	fputc('[', f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%s%u", i ? ", " : "", ports[i]);
	fputs("]\n", f);
}

static void sl_dump_prefixes(FILE *f, const struct sl_prefix *v, size_t n, bool mx)
{
	char buf[64];

	fputc('[', f);
	if (mx)
		fprintf(f, "mx%s", n ? ", " : "");
	for (size_t i = 0; i < n; i++) {
		sl_prefix_format(&v[i], buf, sizeof(buf));
		fprintf(f, "%s%s", i ? ", " : "", buf);
	}
	fputs("]\n", f);
}

static void sl_dump_pins(FILE *f, const char *ind, const struct sl_pin *v, size_t n)
{
	char buf[SL_PIN_TEXT_LEN];

	fprintf(f, "%sfingerprints:%s\n", ind, n ? "" : " []");
	for (size_t i = 0; i < n; i++) {
		sl_pin_format(&v[i], buf, sizeof(buf));
		fprintf(f, "%s- %s\n", ind, buf);
	}
}

static void sl_dump_tls(FILE *f, const char *ind, const struct sl_tls_policy *t)
{
	fprintf(f, "%smin_version: %s\n", ind, sl_tls_version_name(t->min_version));
	fprintf(f, "%sverify: %s\n", ind, sl_verify_name(t->verify));
	fprintf(f, "%sca_file: %s\n", ind, sl_or_dash(t->ca_file));
	sl_dump_pins(f, ind, t->pins, t->n_pins);
	fprintf(f, "%sclient_cert: %s\n", ind, sl_or_dash(t->client_cert));
	fprintf(f, "%sclient_key: %s\n", ind, sl_or_dash(t->client_key));
	fprintf(f, "%sciphers: %s\n", ind, sl_or_dash(t->ciphers));
	fprintf(f, "%sciphersuites: %s\n", ind, sl_or_dash(t->ciphersuites));
	fprintf(f, "%sktls: %s\n", ind, sl_ktls_name(t->ktls));
}

static void sl_dump_partner(FILE *f, const struct sl_partner *p)
{
	fprintf(f, "  - domain: %s\n", p->domain);
	fprintf(f, "    defined_at: %s:%u:%u%s\n", p->pos.file, p->pos.line, p->pos.col,
		p->dropin ? " (drop-in)" : "");
	fprintf(f, "    direction: %s\n", sl_direction_name(p->direction));
	fprintf(f, "    mode: %s\n", sl_mode_name(p->mode));
	fprintf(f, "    ports: ");
	sl_dump_ports(f, p->ports, p->n_ports);
	fprintf(f, "    on_failure: %s\n", sl_on_failure_name(p->on_failure));
	fprintf(f, "    mx: [");
	for (size_t i = 0; i < p->n_mx; i++)
		fprintf(f, "%s%s", i ? ", " : "", p->mx[i]);
	fprintf(f, "]\n    addresses: ");
	sl_dump_prefixes(f, p->addresses, p->n_addresses, false);
	fprintf(f, "    tls:\n");
	sl_dump_tls(f, "      ", &p->tls);
	if (p->has_auth) {
		fprintf(f, "    auth:\n      username: %s\n      password_file: %s\n"
			"      mechanisms: [", p->auth.username, p->auth.password_file);
		for (size_t i = 0; i < p->auth.n_mechanisms; i++)
			fprintf(f, "%s%s", i ? ", " : "", sl_sasl_mech_name(p->auth.mechanisms[i]));
		fputs("]\n", f);
	} else {
		fprintf(f, "    auth: -\n");
	}
	if (!p->has_inbound) {
		fprintf(f, "    inbound: -\n");
		return;
	}
	fprintf(f, "    inbound:\n      sources: ");
	sl_dump_prefixes(f, p->inbound.sources, p->inbound.n_sources, p->inbound.sources_mx);
	fprintf(f, "      require: [%s%s%s]\n",
		p->inbound.require & SL_REQUIRE_TLS ? "tls" : "",
		p->inbound.require & SL_REQUIRE_AUTH ? ", auth" : "",
		p->inbound.require & SL_REQUIRE_CLIENT_CERT ? ", client_cert" : "");
	fprintf(f, "      min_version: %s\n", sl_tls_version_name(p->inbound.min_version));
	fprintf(f, "      accounts:%s\n", p->inbound.n_accounts ? "" : " []");
	for (size_t i = 0; i < p->inbound.n_accounts; i++)
		fprintf(f, "        - %s %s\n", p->inbound.accounts[i].username,
			p->inbound.accounts[i].password_hash);
	fprintf(f, "      client_ca_file: %s\n", sl_or_dash(p->inbound.client_ca_file));
	sl_dump_pins(f, "      ", p->inbound.client_pins, p->inbound.n_client_pins);
}

void sl_policy_dump(const struct sl_policy *p, FILE *f)
{
	const struct sl_controller *c = &p->controller;
	char buf[64];

	fprintf(f, "version: %u\nfiles:\n", p->version);
	for (size_t i = 0; i < p->n_files; i++)
		fprintf(f, "  - %s\n", p->files[i]);
	fprintf(f, "sha256: ");
	for (size_t i = 0; i < sizeof(p->sha256); i++)
		fprintf(f, "%02x", p->sha256[i]);
	fprintf(f, "\ncontroller:\n  hostname: %s\n  listen: [", c->hostname);
	for (size_t i = 0; i < c->n_listen; i++) {
		sl_endpoint_format(&c->listen[i], buf, sizeof(buf));
		fprintf(f, "%s%s", i ? ", " : "", buf);
	}
	fprintf(f, "]\n  cgroup: %s\n  pin_path: %s\n  control_socket: %s\n"
		"  user: %s\n  group: %s\n  limits:\n    max_sessions: %u\n"
		"    max_sessions_per_source: %u\n    timeout_ms: %u\n",
		c->cgroup, c->pin_path, c->control_socket, sl_or_dash(c->user),
		sl_or_dash(c->group), c->max_sessions, c->max_sessions_per_source,
		c->timeout_ms);
	fprintf(f, "defaults:\n  mode: %s\n  ports: ", sl_mode_name(p->defaults.mode));
	sl_dump_ports(f, p->defaults.ports, p->defaults.n_ports);
	fprintf(f, "  on_failure: %s\n  tls:\n", sl_on_failure_name(p->defaults.on_failure));
	sl_dump_tls(f, "    ", &p->defaults.tls);
	fprintf(f, "partners:%s\n", p->n_partners ? "" : " []");
	for (size_t i = 0; i < p->n_partners; i++)
		sl_dump_partner(f, &p->partners[i]);
	if (!p->inbound.present) {
		fprintf(f, "inbound: -\n");
		return;
	}
	sl_endpoint_format(&p->inbound.listen, buf, sizeof(buf));
	fprintf(f, "inbound:\n  listen: %s\n", buf);
	sl_endpoint_format(&p->inbound.backend, buf, sizeof(buf));
	fprintf(f, "  backend: %s\n  announce: %s\n  cert: %s\n  key: %s\n  port: %u\n", buf,
		sl_announce_name(p->inbound.announce), p->inbound.cert, p->inbound.key,
		p->inbound.port);
}

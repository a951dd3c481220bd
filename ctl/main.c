/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * main.c — `smtplock COMMAND ...`: the command table and its dispatcher.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"

const char *sl_progname = "smtplock";

static const struct sl_cmd sl_cmds[] = {
	{ "run", cmd_run, "-c FILE [--foreground] [-v]",
	  "the controller: load and pin the BPF programs, serve redirected sessions",
	  "Loads the policy, attaches and pins the eBPF programs on the policy's\n"
	  "cgroup, fills the maps and serves the sessions the kernel redirects.\n"
	  "Enforcement stays pinned when the controller exits; only\n"
	  "`smtplock unload` removes it.\n" },
	{ "policy", cmd_policy, "check FILE",
	  "validate a policy file (and its policies.d/ drop-ins)",
	  "policy check FILE\n"
	  "  Prints \"policy OK: N partners (M outbound, K inbound)\" and exits 0,\n"
	  "  or prints every error as FILE:LINE:COL: error: message and exits 1.\n" },
	{ "status", cmd_status, "[--json] [-c FILE] [--socket PATH]",
	  "controller, programs, maps, data path and per-domain counters",
	  "Asks the controller over its control socket; when it is down, reads the\n"
	  "pinned maps (root) and says `controller DOWN — enforcement ACTIVE\n"
	  "(fail-closed)`.  Per partner: direction, mode, TLS floor, verify mode,\n"
	  "addresses (with the DNS TTL left), sessions ok/failed, the last failure,\n"
	  "guard drops.  Root and members of controller.group may read it.\n"
	  "  -c, --config FILE   the policy (default " SL_DEFAULT_POLICY ")\n"
	  "  --socket PATH       the control socket (default: the policy's)\n"
	  "  --json              the whole document as JSON\n"
	  "Exit 0 healthy, 1 degraded, 2 not enforcing.\n" },
	{ "domain", cmd_domain, "list | show D | add D [options] | remove D",
	  "manage partners (drop-in files in policies.d/)",
	  "domain list [--json]            partners: where defined, enforced or not\n"
	  "domain show D [--json]          one partner's settings and state\n"
	  "domain add D [options]          write policies.d/D.yaml, then reload\n"
	  "domain remove D                 delete policies.d/D.yaml, then reload\n"
	  "The whole resulting policy is validated first; the main policy file is\n"
	  "never rewritten (a partner defined there is removed by editing it).\n"
	  "Changes need root; the controller applies them without a restart.\n"
	  "add options (lists: repeat the option):\n"
	  "  --direction outbound|inbound|both   --mode enforce|testing\n"
	  "  --on-failure defer|reject           --min-tls 1.2|1.3\n"
	  "  --verify none|ca|fingerprint|dane   --ca-file FILE\n"
	  "  --pin sha256:HEX                    --mx HOST\n"
	  "  --address ADDR[/LEN]                --auth-user NAME --password-file FILE\n"
	  "  inbound: --source ADDR[/LEN]|mx  --require tls,auth,client_cert\n"
	  "           --account USER:HASH (see passwd)  --client-ca FILE\n"
	  "every verb: -c, --config FILE; --socket PATH\n" },
	{ "probe", cmd_probe, "DOMAIN [-c FILE] [--json]",
	  "dry handshake against a partner, with a PASS/FAIL verdict", NULL },
	{ "reload", cmd_reload, "[-c FILE] [--socket PATH]",
	  "validate and apply the policy atomically (as SIGHUP)",
	  "The controller loads the policy again and applies it only if it is\n"
	  "valid as a whole; otherwise nothing changes and its FILE:LINE:COL errors\n"
	  "are printed here.  Root only.  Exit 0 applied, 1 refused or not running.\n" },
	{ "stats", cmd_stats, "[--prometheus | --json] [-c FILE] [--socket PATH]",
	  "counters, optionally in the Prometheus text format",
	  "Kernel counters (global and per partner) and sessions per partner.\n"
	  "--prometheus prints metrics named smtplock_* for node_exporter's textfile\n"
	  "collector, e.g. from a timer:\n"
	  "  smtplock stats --prometheus > /var/lib/node_exporter/smtplock.prom.$$ &&\n"
	  "  mv /var/lib/node_exporter/smtplock.prom.$$ /var/lib/node_exporter/smtplock.prom\n" },
	{ "passwd", cmd_passwd, "[--sha512]",
	  "read a password without echo, print its yescrypt hash", NULL },
	{ "unload", cmd_unload, "[--yes] [-c FILE] [--socket PATH]",
	  "remove the programs and pins: partners then receive plaintext",
	  "Stops the controller and removes every smtplock program and pin.  After\n"
	  "that nothing enforces TLS toward the partners: mail leaves as the MTA\n"
	  "sends it, in plaintext where the partner allows it.  Asks for 'yes' on a\n"
	  "terminal; without a terminal it refuses unless --yes is given.  Root only.\n" },
};

#define SL_NCMDS (sizeof(sl_cmds) / sizeof(sl_cmds[0]))

static const struct sl_cmd *sl_cmd_find(const char *name)
{
	for (size_t i = 0; i < SL_NCMDS; i++)
		if (strcmp(sl_cmds[i].name, name) == 0)
			return &sl_cmds[i];
	return NULL;
}

void sl_cmd_usage(const char *name, FILE *f)
{
	const struct sl_cmd *c = sl_cmd_find(name);

	if (c)
		fprintf(f, "usage: %s %s %s\n", sl_progname, c->name, c->synopsis);
}

int sl_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: %s: ", sl_progname, cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	sl_cmd_usage(cmd, stderr);
	return SL_EXIT_USAGE;
}

static void sl_help_all(FILE *f)
{
	fprintf(f,
		"usage: %s COMMAND [ARGS]\n\n"
		"smtplock locks SMTP to and from listed partner domains: TLS of the\n"
		"required strength, the partner's certificate checked, our account\n"
		"logged in — enforced in the kernel for every program on the host.\n\n"
		"commands:\n", sl_progname);
	for (size_t i = 0; i < SL_NCMDS; i++)
		fprintf(f, "  %-8s %s\n", sl_cmds[i].name, sl_cmds[i].summary);
	fprintf(f, "\n`%s help COMMAND` for one command; `man smtplock`, "
		"`man smtplock-policy` for the policy reference.\n", sl_progname);
}

static int sl_help(int argc, char **argv)
{
	const struct sl_cmd *c;

	if (argc < 2) {
		sl_help_all(stdout);
		return SL_EXIT_OK;
	}
	c = sl_cmd_find(argv[1]);
	if (!c) {
		fprintf(stderr, "%s: help: unknown command '%s'\n", sl_progname, argv[1]);
		return SL_EXIT_USAGE;
	}
	printf("usage: %s %s %s\n\n%s\n", sl_progname, c->name, c->synopsis, c->summary);
	if (c->help)
		printf("\n%s", c->help);
	return SL_EXIT_OK;
}

int main(int argc, char **argv)
{
	const struct sl_cmd *c;

	if (argc < 2) {
		sl_help_all(stderr);
		return SL_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))
		return sl_help(argc - 1, argv + 1);
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("smtplock %s\n", SL_VERSION);
		return SL_EXIT_OK;
	}
	c = sl_cmd_find(argv[1]);
	if (!c) {
		fprintf(stderr, "%s: unknown command '%s' (try '%s --help')\n",
			sl_progname, argv[1], sl_progname);
		return SL_EXIT_USAGE;
	}
	if (argc > 2 && (!strcmp(argv[2], "--help") || !strcmp(argv[2], "-h"))) {
		char *hargv[] = { "help", argv[1], NULL };
		return sl_help(2, hargv);
	}
	return c->fn(argc - 1, argv + 1);
}

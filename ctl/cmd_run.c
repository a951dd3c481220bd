/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* cmd_run.c — `smtplock run -c FILE [--foreground] [-v]`. */
#include <getopt.h>
#include <string.h>

#include "ctl.h"
#include "daemon.h"

int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	struct sl_daemon_opts o = { .policy_path = SL_DEFAULT_POLICY };
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "c:fv", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o.policy_path = optarg;
			break;
		case 'f':
			o.foreground = true;
			break;
		case 'v':
			o.verbose = true;
			break;
		default:
			return sl_usage_error("run", "unknown option");
		}
	}
	if (optind != argc)
		return sl_usage_error("run", "unexpected argument '%s'", argv[optind]);
	return sl_daemon_main(&o) == 0 ? SL_EXIT_OK : SL_EXIT_FAIL;
}

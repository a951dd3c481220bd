/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * cmd_policy.c — `smtplock policy check FILE`.
 *
 * Loads the policy exactly as `run` and `reload` do (main file plus its
 * policies.d/ drop-ins) and answers with one line on stdout (exit 0), or
 * every error as FILE:LINE:COL: error: message on stderr followed by a
 * count (exit 1).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "policy.h"

static int sl_policy_check(const char *path)
{
	struct sl_diags diags = { 0 };
	struct sl_policy *p = NULL;
	size_t out, in, n;
	int err;

	err = sl_policy_load(path, &p, &diags);
	if (err) {
		sl_diags_print(&diags, stderr);
		n = diags.n + diags.dropped;
		if (n == 0) {		/* out of memory or a bad argument */
			fprintf(stderr, "%s: error: %s\n", path, strerror(-err));
			n = 1;
		}
		if (diags.dropped)
			fprintf(stderr, "%s: %zu error%s (%zu not shown)\n", path, n,
				n == 1 ? "" : "s", diags.dropped);
		else
			fprintf(stderr, "%s: %zu error%s\n", path, n, n == 1 ? "" : "s");
		sl_diags_done(&diags);
		return SL_EXIT_FAIL;
	}
	sl_policy_count(p, &out, &in);
	printf("policy OK: %zu partner%s (%zu outbound, %zu inbound)\n", p->n_partners,
	       p->n_partners == 1 ? "" : "s", out, in);
	sl_policy_free(p);
	return SL_EXIT_OK;
}

int cmd_policy(int argc, char **argv)
{
	if (argc < 2)
		return sl_usage_error(argv[0], "missing verb (check)");
	if (strcmp(argv[1], "check"))
		return sl_usage_error(argv[0], "unknown verb '%s'", argv[1]);
	if (argc < 3)
		return sl_usage_error(argv[0], "check: missing FILE");
	if (argc > 3)
		return sl_usage_error(argv[0], "check: one FILE only");
	if (argv[2][0] == '-' && argv[2][1])
		return sl_usage_error(argv[0], "check: unknown option '%s'", argv[2]);
	return sl_policy_check(argv[2]);
}

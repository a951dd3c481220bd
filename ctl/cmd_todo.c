/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * cmd_todo.c — commands of the DESIGN.md surface not built yet.  Each
 * says so and exits 2; a command moves to its own file when it is built.
 */
#include <stdio.h>

#include "ctl.h"

static int sl_not_yet(const char *name)
{
	fprintf(stderr, "%s: %s: not implemented in this version\n", sl_progname, name);
	return SL_EXIT_USAGE;
}

int cmd_run(int argc, char **argv) { (void)argc; return sl_not_yet(argv[0]); }
int cmd_probe(int argc, char **argv) { (void)argc; return sl_not_yet(argv[0]); }

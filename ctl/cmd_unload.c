/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * cmd_unload.c — `smtplock unload [--yes] [-c FILE] [--socket PATH]`:
 * stop the controller and remove the programs and pins.  This is the one
 * command that ends the guarantee, so it says so plainly first and asks
 * on a terminal; without a terminal it needs --yes.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "admin.h"
#include "control.h"
#include "ctl.h"

static bool sl_confirm(void)
{
	char line[16];

	fprintf(stderr, "Type 'yes' to unload: ");
	fflush(stderr);
	if (!fgets(line, sizeof(line), stdin))
		return false;
	line[strcspn(line, "\r\n")] = 0;
	return !strcmp(line, "yes");
}

/* Wait until nobody answers on the socket any more (the daemon exited). */
static bool sl_wait_down(const struct sl_admin *a, int seconds)
{
	struct timespec ts = { 0, 100 * 1000 * 1000 };

	for (int i = 0; i < seconds * 10; i++) {
		json_t *reply = NULL;
		int r = sl_admin_call(a, "ping", NULL, &reply);

		json_decref(reply);
		if (r < 0 && r != -ETIMEDOUT)
			return true;
		nanosleep(&ts, NULL);
	}
	return false;
}

int cmd_unload(int argc, char **argv)
{
	const char *policy = NULL, *sock = NULL, *pins;
	bool yes = false;
	struct sl_admin a;
	json_t *reply = NULL;
	unsigned removed = 0;
	int c, r, rc = SL_EXIT_FAIL;
	const struct sl_admin_flag flags[] = { { "yes", 'y', &yes }, { NULL, 0, NULL } };

	c = sl_admin_getopt("unload", argc, argv, flags, &policy, &sock);
	if (c != SL_EXIT_OK)
		return c;
	sl_admin_init(&a, "unload", policy, sock);
	pins = sl_admin_pin_path(&a);
	fprintf(stderr,
		"WARNING: unload stops the smtplock controller and removes its programs and\n"
		"pins (%s). From then on nothing protects mail to and from the listed\n"
		"partners: it leaves this host as the MTA sends it — in PLAINTEXT wherever\n"
		"the partner allows it — and the kernel guard no longer drops anything.\n",
		pins);
	if (!yes) {
		if (!isatty(STDIN_FILENO)) {
			sl_admin_done(&a);
			return sl_usage_error("unload", "refusing without --yes (no terminal to "
					      "confirm on)");
		}
		if (!sl_confirm()) {
			fprintf(stderr, "%s: unload: not confirmed, nothing changed\n", sl_progname);
			sl_admin_done(&a);
			return SL_EXIT_FAIL;
		}
	}
	if (geteuid() != 0) {
		fprintf(stderr, "%s: unload: only root may unload\n", sl_progname);
		goto out;
	}
	r = sl_admin_call(&a, "unload", NULL, &reply);
	if (r == 0 && !sl_control_reply_ok(reply)) {
		sl_admin_reply_error(&a, reply);
		goto out;
	}
	if (r == 0) {
		fprintf(stderr, "%s: unload: controller pid %lld stopping\n", sl_progname,
			(long long)json_integer_value(json_object_get(sl_control_reply_data(reply),
								      "pid")));
		if (!sl_wait_down(&a, 15)) {
			fprintf(stderr, "%s: unload: the controller did not stop within 15 s; "
				"pins kept\n", sl_progname);
			goto out;
		}
	} else if (!sl_admin_down(r)) {
		sl_admin_call_error(&a, r);
		goto out;
	}
	r = sl_admin_unload_pins(pins, &removed);
	if (r == -ENOENT) {
		printf("nothing was pinned at %s: nothing to unload\n", pins);
		rc = SL_EXIT_OK;
	} else if (r < 0) {
		fprintf(stderr, "%s: unload: removing the pins at %s: %s\n", sl_progname, pins,
			r == -ENOSYS ? "this build has no BPF loader" : strerror(-r));
	} else {
		printf("unloaded: %u pin%s removed from %s; smtplock no longer enforces anything\n",
		       removed, removed == 1 ? "" : "s", pins);
		rc = SL_EXIT_OK;
	}
out:
	json_decref(reply);
	sl_admin_done(&a);
	return rc;
}

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * cmd_reload.c — `smtplock reload [-c FILE] [--socket PATH]`: ask the
 * controller to load its policy again, as SIGHUP does (the same function
 * runs).  Atomic: a policy with errors changes nothing, and its
 * FILE:LINE:COL errors come back here through the control socket.
 */
#include <stdio.h>
#include <string.h>

#include "admin.h"
#include "control.h"
#include "ctl.h"

/* The reload of `reload`, `domain add` and `domain remove`. */
int sl_admin_reload(const struct sl_admin *a, bool quiet_if_down)
{
	json_t *reply = NULL, *data;
	int r;

	r = sl_admin_call(a, "reload", NULL, &reply);
	if (r < 0) {
		if (sl_admin_down(r) && quiet_if_down)
			return 1;
		sl_admin_call_error(a, r);
		return -1;
	}
	if (!sl_control_reply_ok(reply)) {
		sl_admin_reply_error(a, reply);
		json_decref(reply);
		return -1;
	}
	data = sl_control_reply_data(reply);
	printf("reloaded: %lld partner%s, policy sha256 %.16s…\n",
	       (long long)json_integer_value(json_object_get(data, "partners")),
	       json_integer_value(json_object_get(data, "partners")) == 1 ? "" : "s",
	       json_string_value(json_object_get(data, "sha256")) ?: "-");
	json_decref(reply);
	return 0;
}

int cmd_reload(int argc, char **argv)
{
	const char *policy = NULL, *sock = NULL;
	struct sl_admin a;
	int c, r;

	c = sl_admin_getopt("reload", argc, argv, NULL, &policy, &sock);
	if (c != SL_EXIT_OK)
		return c;
	sl_admin_init(&a, "reload", policy, sock);
	r = sl_admin_reload(&a, false);
	sl_admin_done(&a);
	return r == 0 ? SL_EXIT_OK : SL_EXIT_FAIL;
}

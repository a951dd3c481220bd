/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * test_privdrop.c — the controller's privilege drop, in forked children:
 * the user's ids everywhere, CAP_BPF + CAP_NET_ADMIN and nothing else
 * (effective, permitted, bounding), no_new_privs, and no way back.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sys/capability.h>

#include "privdrop.h"
#include "tap.h"

/* Run fn in a child; its exit status. */
static int in_child(int (*fn)(void))
{
	pid_t pid = fork();
	int st;

	if (pid == 0)
		_exit(fn());
	if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

static int drop_nobody(void)
{
	struct sl_privdrop_info info;
	cap_flag_value_t v;
	cap_t caps;
	uid_t r, e, s;

	if (sl_privdrop("nobody", &info) != 0)
		return 10;
	if (getresuid(&r, &e, &s) < 0 || r != 65534 || e != 65534 || s != 65534)
		return 11;
	if (getgid() != 65534 || getegid() != 65534)
		return 12;
	caps = cap_get_proc();
	for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
		bool want = c == CAP_BPF || c == CAP_NET_ADMIN;

		if (!CAP_IS_SUPPORTED(c))
			continue;
		cap_get_flag(caps, c, CAP_EFFECTIVE, &v);
		if ((v == CAP_SET) != want)
			return 13;
		cap_get_flag(caps, c, CAP_PERMITTED, &v);
		if ((v == CAP_SET) != want)
			return 14;
		if ((cap_get_bound(c) == 1) != want)
			return 15;
	}
	cap_free(caps);
	if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1)
		return 16;
	if (setuid(0) == 0 || seteuid(0) == 0)
		return 17;
	if (strcmp(info.caps, "cap_net_admin,cap_bpf=ep") != 0)
		return 18;
	return 0;
}

static int drop_unknown(void)
{
	return sl_privdrop("no-such-user-smtplock-test", NULL) == -ENOENT ? 0 : 1;
}

static int drop_root(void)
{
	struct sl_privdrop_info info;

	return sl_privdrop("root", &info) == 0 && getuid() == 0 && info.uid == 0 ? 0 : 1;
}

static int drop_not_root(void)
{
	if (setgid(65534) < 0 || setuid(65534) < 0)
		return 2;
	return sl_privdrop("nobody", NULL) == -EPERM ? 0 : 1;
}

int main(void)
{
	gid_t g;

	if (geteuid() != 0) {
		printf("1..0 # SKIP needs root\n");
		return 0;
	}
	tap_int(in_child(drop_nobody), 0, "to nobody: ids, CAP_BPF + CAP_NET_ADMIN only, "
		"no_new_privs, no way back (exit code names the failed check)");
	tap_int(in_child(drop_unknown), 0, "an unknown user: -ENOENT");
	tap_int(in_child(drop_root), 0, "user root (or none): nothing changes");
	tap_int(in_child(drop_not_root), 0, "not root to begin with: -EPERM");
	tap_int(sl_group_gid("nogroup", &g), 0, "group name resolves");
	tap_int(g, 65534, "nogroup is 65534");
	tap_int(sl_group_gid("no-such-group-smtplock", &g), -ENOENT, "unknown group: -ENOENT");
	return tap_done();
}

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * privdrop.c — become controller.user with only CAP_BPF and CAP_NET_ADMIN
 * (privdrop.h says why those two).  libcap for the capability sets.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <sys/capability.h>

#include "privdrop.h"

static const cap_value_t sl_keep[] = { CAP_BPF, CAP_NET_ADMIN };
#define SL_NKEEP (sizeof(sl_keep) / sizeof(sl_keep[0]))

int sl_group_gid(const char *name, gid_t *ret)
{
	struct group gr, *res = NULL;
	char buf[4096];

	if (getgrnam_r(name, &gr, buf, sizeof(buf), &res) != 0 || !res)
		return -ENOENT;
	*ret = res->gr_gid;
	return 0;
}

static bool sl_kept(cap_value_t c)
{
	for (size_t i = 0; i < SL_NKEEP; i++)
		if (sl_keep[i] == c)
			return true;
	return false;
}

int sl_privdrop(const char *user, struct sl_privdrop_info *info)
{
	struct passwd pw, *res = NULL;
	char buf[4096], *text;
	cap_t caps = NULL;
	int r;

	if (info)
		memset(info, 0, sizeof(*info));
	if (!user || !strcmp(user, "root"))
		return 0;
	if (getpwnam_r(user, &pw, buf, sizeof(buf), &res) != 0 || !res)
		return -ENOENT;
	if (geteuid() != 0)
		return -EPERM;
	if (pw.pw_uid == 0)
		return 0;

	/* While we still hold CAP_SETPCAP: empty the bounding set. */
	for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++)
		if (!sl_kept(c) && CAP_IS_SUPPORTED(c) && cap_drop_bound(c) < 0)
			return -errno;
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
		return -errno;
	if (initgroups(pw.pw_name, pw.pw_gid) < 0 ||
	    setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid) < 0 ||
	    setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid) < 0) {
		r = -errno;
		goto out;
	}
	/* Permitted kept by KEEPCAPS; effective was cleared: set both to the
	 * kept list only. */
	caps = cap_init();
	if (!caps || cap_set_flag(caps, CAP_PERMITTED, SL_NKEEP, sl_keep, CAP_SET) < 0 ||
	    cap_set_flag(caps, CAP_EFFECTIVE, SL_NKEEP, sl_keep, CAP_SET) < 0 ||
	    cap_set_proc(caps) < 0) {
		r = -errno;
		goto out;
	}
	if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		r = -errno;
		goto out;
	}
	/* Verify: no way back. */
	if (setuid(0) == 0 || seteuid(0) == 0 || setgid(0) == 0) {
		r = -EPERM;
		goto out;
	}
	if (info) {
		info->uid = pw.pw_uid;
		info->gid = pw.pw_gid;
		text = cap_to_text(caps, NULL);
		snprintf(info->caps, sizeof(info->caps), "%s", text ? text : "?");
		cap_free(text);
	}
	r = 0;
out:
	prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	cap_free(caps);
	return r;
}

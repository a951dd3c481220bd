/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * privdrop.h — the controller gives up root once it is set up.
 *
 * After loading and attaching the programs, pinning, binding its
 * listeners and control socket, and reading what only root may read, the
 * controller becomes controller.user (default: stays root) and keeps only
 * the capabilities it still needs, in the calling thread:
 *
 *   CAP_BPF        map updates and socket tagging through the map fds it
 *                  holds: kernels before 6.5 refuse every bpf() command to
 *                  a process without it while kernel.unprivileged_bpf_
 *                  disabled is set (Debian's default); 6.5 and later only
 *                  check the fd, but we keep one rule for all
 *   CAP_NET_ADMIN  sock_diag SOCK_DESTROY of sockets that tried to send
 *                  plaintext past the redirect
 *
 * Everything else goes: supplementary groups are the user's own, uid and
 * gid (real, effective, saved) are the user's, the bounding set is
 * emptied but for the kept capabilities, and no_new_privs is set.  Other
 * threads (DNS workers) end with no capability at all: the kernel clears
 * them when the uids change, as only the calling thread asked to keep them.
 * Then the drop is verified: getting root back must fail.
 */
#ifndef SL_PRIVDROP_H
#define SL_PRIVDROP_H

#include <stdbool.h>
#include <sys/types.h>

struct sl_privdrop_info {
	uid_t uid;
	gid_t gid;
	char caps[128];			/* "cap_net_admin,cap_bpf=ep" */
};

/*
 * user NULL or "root": nothing changes (returns 0, info->uid = 0).
 * -ENOENT: no such user; -EPERM: not root to begin with, or root could
 * be regained afterwards (then the caller must exit).  info may be NULL.
 */
int sl_privdrop(const char *user, struct sl_privdrop_info *info);

/* The gid of a group name (controller.group).  -ENOENT if none. */
int sl_group_gid(const char *name, gid_t *ret);

#endif /* SL_PRIVDROP_H */

/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * links.c — which of our programs are attached, read from their pinned
 * links (<pin_path>/link_<name>): for `status`, with or without the
 * controller.  Opening a pin needs the rights on the bpf filesystem
 * (root); the controller reads them before dropping its privileges.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "links.h"

static void sl_link_target(const struct bpf_link_info *info, const char *cgroup_dir,
			   char *buf, size_t len)
{
	struct stat st;

	switch (info->type) {
	case BPF_LINK_TYPE_CGROUP:
		/* A cgroup v2 directory's inode number is the cgroup id. */
		if (cgroup_dir && stat(cgroup_dir, &st) == 0 &&
		    (uint64_t)st.st_ino == info->cgroup.cgroup_id)
			snprintf(buf, len, "cgroup %s", cgroup_dir);
		else
			snprintf(buf, len, "cgroup id %llu",
				 (unsigned long long)info->cgroup.cgroup_id);
		break;
	case BPF_LINK_TYPE_NETNS:
		snprintf(buf, len, "netns inode %u", info->netns.netns_ino);
		break;
	default:
		snprintf(buf, len, "link type %u", info->type);
		break;
	}
}

static unsigned sl_link_attach_type(const struct bpf_link_info *info)
{
	switch (info->type) {
	case BPF_LINK_TYPE_CGROUP:
		return info->cgroup.attach_type;
	case BPF_LINK_TYPE_NETNS:
		return info->netns.attach_type;
	default:
		return (unsigned)-1;
	}
}

int sl_links_read(const char *pin_path, const char *const *names, size_t n,
		  const char *cgroup_dir, struct sl_status_prog *out)
{
	int err = 0;

	for (size_t i = 0; i < n; i++) {
		struct sl_status_prog *p = &out[i];
		struct bpf_link_info info;
		__u32 len = sizeof(info);
		char path[PATH_MAX];
		const char *at;
		int fd;

		memset(p, 0, sizeof(*p));
		snprintf(p->name, sizeof(p->name), "%s", names[i]);
		if (snprintf(path, sizeof(path), "%s/link_%s", pin_path, names[i]) >=
		    (int)sizeof(path))
			return -ENAMETOOLONG;
		fd = bpf_obj_get(path);
		if (fd < 0) {
			if (errno != ENOENT && !err)
				err = -errno;	/* EACCES: not root */
			continue;
		}
		memset(&info, 0, sizeof(info));
		if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) {
			p->attached = true;
			p->link_id = info.id;
			p->prog_id = info.prog_id;
			at = libbpf_bpf_attach_type_str(sl_link_attach_type(&info));
			snprintf(p->attach_type, sizeof(p->attach_type), "%s", at ? at : "unknown");
			sl_link_target(&info, cgroup_dir, p->target, sizeof(p->target));
		} else if (!err) {
			err = -errno;
		}
		close(fd);
	}
	return err;
}

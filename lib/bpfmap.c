/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * bpfmap.c — load, pin, attach, adopt and unload the BPF programs.
 * See bpfmap.h for the persistence contract.  Map operations live in
 * bpfmap_ops.c, cgroup2 discovery in cgroup2.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfmap_int.h"
#include "smtplock.skel.h"

static const char *const sl_map_names[SL_MAP__COUNT] = {
	[SL_MAP_CONFIG] = "sl_config",
	[SL_MAP_PORTS] = "port_set",
	[SL_MAP_META] = "policy_meta",
	[SL_MAP_DST] = "dst_policy",
	[SL_MAP_SRC] = "src_policy",
	[SL_MAP_SOCK_STATE] = "sock_state",
	[SL_MAP_SK_ORIG] = "sk_orig",
	[SL_MAP_SK_OWNER] = "sk_owner",
	[SL_MAP_ORIG_DST] = "orig_dst",
	[SL_MAP_COUNTERS] = "counters",
	[SL_MAP_EVENTS] = "events",
	[SL_MAP_INBOUND] = "inbound_sock",
};

/* Program names as in smtplock.bpf.c ("sl_" + this). */
static const char *const sl_prog_names[SL_PROG__COUNT] = {
	[SL_PROG_CONNECT4] = "connect4",
	[SL_PROG_CONNECT6] = "connect6",
	[SL_PROG_GETPEERNAME4] = "getpeername4",
	[SL_PROG_GETPEERNAME6] = "getpeername6",
	[SL_PROG_SOCKOPS] = "sockops",
	[SL_PROG_EGRESS] = "egress",
	[SL_PROG_INBOUND_LOOKUP] = "inbound_lookup",
};

const char *sl_map_name(enum sl_map_id id)
{
	return (unsigned)id < SL_MAP__COUNT ? sl_map_names[id] : "?";
}

const char *sl_prog_name(enum sl_prog_id id)
{
	return (unsigned)id < SL_PROG__COUNT ? sl_prog_names[id] : "?";
}

const char *sl_bpfmap_pin_path(const struct sl_bpfmap *m)
{
	return m->pin_path;
}

int sl_bpfmap_map_fd(const struct sl_bpfmap *m, enum sl_map_id id)
{
	return (unsigned)id < SL_MAP__COUNT ? m->fd[id] : -1;
}

static struct bpf_program *sl_prog(struct smtplock *skel, enum sl_prog_id id);

int sl_bpfmap_prog_fd(const struct sl_bpfmap *m, enum sl_prog_id id)
{
	struct bpf_program *p;

	if (!m->skel || (unsigned)id >= SL_PROG__COUNT)
		return -1;
	p = sl_prog(m->skel, id);
	return p ? bpf_program__fd(p) : -1;
}

static int sl_pin_file(char *buf, size_t len, const char *dir, const char *prefix,
		       const char *name, const char *suffix)
{
	int n = snprintf(buf, len, "%s/%s%s%s", dir, prefix, name, suffix);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static struct sl_bpfmap *sl_bpfmap_alloc(const char *pin_path)
{
	struct sl_bpfmap *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	for (int i = 0; i < SL_MAP__COUNT; i++)
		m->fd[i] = -1;
	m->pin_path = strdup(pin_path ? pin_path : SL_PIN_DEFAULT);
	m->ncpus = libbpf_num_possible_cpus();
	if (!m->pin_path || m->ncpus <= 0) {
		free(m->pin_path);
		free(m);
		return NULL;
	}
	return m;
}

struct sl_bpfmap *sl_bpfmap_free(struct sl_bpfmap *m)
{
	if (!m)
		return NULL;
	ring_buffer__free(m->rb);
	/* Closing a link fd does not detach a pinned link. */
	for (int i = 0; i < SL_PROG__COUNT; i++)
		bpf_link__destroy(m->links[i]);
	if (m->own_fds)
		for (int i = 0; i < SL_MAP__COUNT; i++)
			if (m->fd[i] >= 0)
				close(m->fd[i]);
	smtplock__destroy(m->skel);
	free(m->pin_path);
	free(m);
	return NULL;
}

/*
 * Make sure pin_path exists on a bpf filesystem.  The usual place,
 * /sys/fs/bpf, is mounted by systemd; where nobody did, we mount it the
 * same way.  Any other non-bpffs location is refused: pins there would
 * not be pins.
 */
static int sl_bpffs_prepare(const char *pin_path)
{
	char path[PATH_MAX], *p;
	struct statfs sfs;
	size_t len = strlen(pin_path);

	if (len == 0 || len >= sizeof(path) || pin_path[0] != '/')
		return -EINVAL;
	memcpy(path, pin_path, len + 1);
	while (len > 1 && path[len - 1] == '/')
		path[--len] = '\0';
	/* The deepest existing ancestor must be (or become) bpffs. */
	p = strrchr(path, '/');
	for (;;) {
		char save = *p;

		*p = '\0';
		if (statfs(p == path ? "/" : path, &sfs) == 0) {
			*p = save;
			break;
		}
		*p = save;
		if (errno != ENOENT)
			return -errno;
		while (--p > path && *p != '/')
			;
	}
	if ((unsigned long)sfs.f_type != BPF_FS_MAGIC) {
		if (strncmp(pin_path, "/sys/fs/bpf/", 12) != 0)
			return -EMEDIUMTYPE;
		if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700") < 0)
			return -errno;
	}
	/* mkdir -p */
	for (p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (statfs(path, &sfs) < 0)
		return -errno;
	return (unsigned long)sfs.f_type == BPF_FS_MAGIC ? 0 : -EMEDIUMTYPE;
}

static struct bpf_program *sl_prog(struct smtplock *skel, enum sl_prog_id id)
{
	char name[64];

	snprintf(name, sizeof(name), "sl_%s", sl_prog_names[id]);
	return bpf_object__find_program_by_name(skel->obj, name);
}

int sl_bpfmap_load(const struct sl_bpfmap_opts *opts, struct sl_bpfmap **ret)
{
	struct sl_bpfmap *m;
	char path[PATH_MAX];
	int r;

	m = sl_bpfmap_alloc(opts ? opts->pin_path : NULL);
	if (!m)
		return -ENOMEM;
	r = sl_bpffs_prepare(m->pin_path);
	if (r < 0)
		goto fail;
	m->skel = smtplock__open();
	if (!m->skel) {
		r = errno ? -errno : -EINVAL;
		goto fail;
	}
	/* Pinned maps are reused by libbpf at load; new ones are pinned. */
	for (int i = 0; i < SL_MAP__COUNT; i++) {
		struct bpf_map *map = bpf_object__find_map_by_name(m->skel->obj, sl_map_names[i]);

		if (!map) {
			r = -ENOENT;
			goto fail;
		}
		r = sl_pin_file(path, sizeof(path), m->pin_path, "", sl_map_names[i], "");
		if (r < 0)
			goto fail;
		r = bpf_map__set_pin_path(map, path);
		if (r < 0)
			goto fail;
	}
	r = smtplock__load(m->skel);
	if (r < 0)
		goto fail;
	for (int i = 0; i < SL_MAP__COUNT; i++)
		m->fd[i] = bpf_map__fd(bpf_object__find_map_by_name(m->skel->obj, sl_map_names[i]));
	*ret = m;
	return 0;
fail:
	sl_bpfmap_free(m);
	return r;
}

/* Does the pinned link point where we want it? */
static bool sl_link_on_target(int link_fd, bool netns, __u64 target_id)
{
	struct bpf_link_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(link_fd, &info, &len) < 0)
		return false;
	if (netns)
		return info.type == BPF_LINK_TYPE_NETNS && info.netns.netns_ino == target_id;
	return info.type == BPF_LINK_TYPE_CGROUP && info.cgroup.cgroup_id == target_id;
}

static int sl_attach_one(struct sl_bpfmap *m, enum sl_prog_id id, int target_fd,
			 __u64 target_id, bool *adopted)
{
	bool netns = id == SL_PROG_INBOUND_LOOKUP;
	struct bpf_program *prog = sl_prog(m->skel, id);
	char path[PATH_MAX], tmp[PATH_MAX];
	struct bpf_link *old, *link;
	int r;

	*adopted = false;
	if (!prog)
		return -ENOENT;
	r = sl_pin_file(path, sizeof(path), m->pin_path, "link_", sl_prog_names[id], "");
	if (r < 0)
		return r;
	/* bpffs refuses dots in names: "link_x_new", not "link_x.new". */
	r = sl_pin_file(tmp, sizeof(tmp), m->pin_path, "link_", sl_prog_names[id], "_new");
	if (r < 0)
		return r;

	old = access(path, F_OK) == 0 ? bpf_link__open(path) : NULL;
	if (old && sl_link_on_target(bpf_link__fd(old), netns, target_id) &&
	    bpf_link__update_program(old, prog) == 0) {
		/* Adopted: the same link now runs the new program, no gap. */
		m->links[id] = old;
		*adopted = true;
		return 0;
	}

	/* New target (or a link we cannot update): attach first, then swap
	 * the pin, then let the old link go. */
	link = netns ? bpf_program__attach_netns(prog, target_fd)
		     : bpf_program__attach_cgroup(prog, target_fd);
	if (!link) {
		r = errno ? -errno : -EINVAL;
		goto out;
	}
	unlink(tmp);
	r = bpf_link__pin(link, tmp);
	if (r < 0) {
		bpf_link__destroy(link);
		goto out;
	}
	if (rename(tmp, path) < 0) {
		r = -errno;
		unlink(tmp);
		bpf_link__destroy(link);
		goto out;
	}
	m->links[id] = link;
	r = 0;
out:
	bpf_link__destroy(old);	/* closes our fd; the old pin is gone */
	return r;
}

/* Link pins of programs this version no longer has. */
static void sl_remove_stale_links(const char *pin_path)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *dir = opendir(pin_path);

	if (!dir)
		return;
	while ((de = readdir(dir))) {
		bool known = false;

		if (strncmp(de->d_name, "link_", 5) != 0)
			continue;
		for (int i = 0; i < SL_PROG__COUNT; i++)
			if (strcmp(de->d_name + 5, sl_prog_names[i]) == 0)
				known = true;
		if (!known && sl_pin_file(path, sizeof(path), pin_path, "", de->d_name, "") == 0)
			unlink(path);
	}
	closedir(dir);
}

int sl_bpfmap_attach(struct sl_bpfmap *m, const char *cgroup_dir, int netns_fd,
		     unsigned *adopted)
{
	int cg_fd = -1, ns_fd = -1, r = 0;
	struct stat cg_st, ns_st;
	unsigned n_adopted = 0;

	if (!m->skel)
		return -EINVAL;
	cg_fd = open(cgroup_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg_fd < 0)
		return -errno;
	ns_fd = netns_fd >= 0 ? fcntl(netns_fd, F_DUPFD_CLOEXEC, 3)
			      : open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (ns_fd < 0) {
		r = -errno;
		goto out;
	}
	/* The kernel's cgroup id on cgroup2 is the directory's inode number. */
	if (fstat(cg_fd, &cg_st) < 0 || fstat(ns_fd, &ns_st) < 0) {
		r = -errno;
		goto out;
	}
	for (int i = 0; i < SL_PROG__COUNT; i++) {
		bool netns = i == SL_PROG_INBOUND_LOOKUP, a;

		r = sl_attach_one(m, i, netns ? ns_fd : cg_fd,
				  netns ? (__u64)ns_st.st_ino : (__u64)cg_st.st_ino, &a);
		if (r < 0)
			goto out;
		n_adopted += a;
	}
	sl_remove_stale_links(m->pin_path);
	if (adopted)
		*adopted = n_adopted;
out:
	if (ns_fd >= 0)
		close(ns_fd);
	close(cg_fd);
	return r;
}

int sl_bpfmap_open_pinned(const char *pin_path, unsigned flags, struct sl_bpfmap **ret)
{
	LIBBPF_OPTS(bpf_obj_get_opts, o);
	char path[PATH_MAX];
	struct sl_bpfmap *m;
	int found = 0, r;

	m = sl_bpfmap_alloc(pin_path);
	if (!m)
		return -ENOMEM;
	m->own_fds = true;
	if (flags & SL_BPFMAP_RDONLY)
		o.file_flags = BPF_F_RDONLY;
	for (int i = 0; i < SL_MAP__COUNT; i++) {
		r = sl_pin_file(path, sizeof(path), m->pin_path, "", sl_map_names[i], "");
		if (r < 0)
			goto fail;
		/* The ring buffer's consumer page must be writable. */
		o.file_flags = (flags & SL_BPFMAP_RDONLY) && i != SL_MAP_EVENTS ? BPF_F_RDONLY : 0;
		m->fd[i] = bpf_obj_get_opts(path, &o);
		if (m->fd[i] >= 0)
			found++;
		else if (errno != ENOENT) {
			r = -errno;
			goto fail;
		}
	}
	if (!found) {
		r = -ENOENT;
		goto fail;
	}
	*ret = m;
	return 0;
fail:
	sl_bpfmap_free(m);
	return r;
}

bool sl_bpfmap_pinned(const char *pin_path)
{
	char path[PATH_MAX];

	for (int i = 0; i < SL_PROG__COUNT; i++)
		if (sl_pin_file(path, sizeof(path), pin_path ? pin_path : SL_PIN_DEFAULT,
				"link_", sl_prog_names[i], "") == 0 &&
		    access(path, F_OK) == 0)
			return true;
	return false;
}

static bool sl_is_our_pin(const char *name)
{
	if (strncmp(name, "link_", 5) == 0)
		return true;	/* including a stale "link_x_new" */
	for (int i = 0; i < SL_MAP__COUNT; i++)
		if (strcmp(name, sl_map_names[i]) == 0)
			return true;
	return false;
}

int sl_bpfmap_unload(const char *pin_path, unsigned *removed)
{
	char path[PATH_MAX];
	unsigned n = 0;
	struct dirent *de;
	DIR *dir;
	int r = 0;

	if (!pin_path)
		pin_path = SL_PIN_DEFAULT;
	/* Links first: enforcement ends before its maps go away. */
	for (int pass = 0; pass < 2; pass++) {
		dir = opendir(pin_path);
		if (!dir)
			return errno == ENOENT ? -ENOENT : -errno;
		while ((de = readdir(dir))) {
			bool link = strncmp(de->d_name, "link_", 5) == 0;

			if (de->d_name[0] == '.' || !sl_is_our_pin(de->d_name) || link != (pass == 0))
				continue;
			if (sl_pin_file(path, sizeof(path), pin_path, "", de->d_name, "") < 0)
				continue;
			if (unlink(path) == 0)
				n++;
			else if (!r)
				r = -errno;
		}
		closedir(dir);
	}
	if (rmdir(pin_path) < 0 && !r)
		r = -errno;
	if (removed)
		*removed = n;
	if (!r && n == 0)
		r = -ENOENT;
	return r;
}

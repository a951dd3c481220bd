/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * cgroup2.c — where the cgroup v2 hierarchy is mounted (`cgroup: auto`).
 *
 * Found the way findmnt(8) does, from /proc/self/mountinfo, never from a
 * hard-coded path: systemd hosts mount it at /sys/fs/cgroup, hybrid ones
 * at /sys/fs/cgroup/unified.
 */
#include <errno.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include "bpfmap.h"

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static int sl_unescape(const char *s, size_t n, char *buf, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '\\' && i + 3 < n && s[i + 1] >= '0' && s[i + 1] <= '3' &&
		    s[i + 2] >= '0' && s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
			c = (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
			i += 3;
		}
		if (o + 1 >= len)
			return -ENAMETOOLONG;
		buf[o++] = c;
	}
	buf[o] = '\0';
	return 0;
}

int sl_mountinfo_cgroup2(const char *text, char *buf, size_t len)
{
	const char *line = text;

	while (line && *line) {
		const char *end = strchr(line, '\n'), *f[5], *sep, *p;
		size_t llen = end ? (size_t)(end - line) : strlen(line);
		int nf = 0;

		/* Fields: id parent maj:min root mountpoint opts [optional...] - fstype ... */
		p = line;
		while (nf < 5 && p < line + llen) {
			f[nf++] = p;
			p = memchr(p, ' ', (size_t)(line + llen - p));
			if (!p)
				break;
			p++;
		}
		sep = NULL;
		for (const char *q = line; q + 3 <= line + llen; q++)
			if (q[0] == ' ' && q[1] == '-' && q[2] == ' ') {
				sep = q + 3;
				break;
			}
		if (nf == 5 && sep && (size_t)(line + llen - sep) >= 8 &&
		    strncmp(sep, "cgroup2 ", 8) == 0) {
			const char *mp = f[4], *mpe = memchr(mp, ' ', (size_t)(line + llen - mp));

			if (mpe)
				return sl_unescape(mp, (size_t)(mpe - mp), buf, len);
		}
		line = end ? end + 1 : NULL;
	}
	return -ENOENT;
}

int sl_cgroup2_root(char *buf, size_t len)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *text = NULL;
	size_t cap = 0;
	ssize_t n;
	int r;

	if (!f)
		return -errno;
	/* Read it all: getdelim with NUL reads to EOF. */
	n = getdelim(&text, &cap, '\0', f);
	fclose(f);
	if (n < 0) {
		free(text);
		return -EIO;
	}
	r = sl_mountinfo_cgroup2(text, buf, len);
	free(text);
	return r;
}

int sl_cgroup2_resolve(const char *spec, char *buf, size_t len)
{
	struct statfs sfs;
	struct stat st;
	int n;

	if (!spec || strcmp(spec, "auto") == 0)
		return sl_cgroup2_root(buf, len);
	if (stat(spec, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if (statfs(spec, &sfs) < 0)
		return -errno;
	if ((unsigned long)sfs.f_type != CGROUP2_SUPER_MAGIC)
		return -EMEDIUMTYPE;
	n = snprintf(buf, len, "%s", spec);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

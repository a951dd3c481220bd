/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * links.h — our programs' pinned links, read for `status`.
 */
#ifndef SL_LINKS_H
#define SL_LINKS_H

#include <stddef.h>

#include "status.h"

/*
 * For each program name, out[i] says whether <pin_path>/link_<name> holds
 * a live link, its ids, attach type and target (a cgroup is named by
 * cgroup_dir when its id matches).  A missing pin is "not attached".
 * Returns 0, or the first error other than a missing pin (-EACCES when
 * not allowed to open pins); out[] is filled either way.
 */
int sl_links_read(const char *pin_path, const char *const *names, size_t n,
		  const char *cgroup_dir, struct sl_status_prog *out);

#endif /* SL_LINKS_H */

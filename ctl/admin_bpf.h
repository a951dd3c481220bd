/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* admin_bpf.h — status.h map access over a struct sl_bpfmap (the
 * controller's own, or pins opened read-only). */
#ifndef SL_CTL_ADMIN_BPF_H
#define SL_CTL_ADMIN_BPF_H

#include "bpfmap.h"
#include "status.h"

/* m reads bpf's maps; bpf must outlive m. */
void sl_admin_maps_init(struct sl_status_maps *m, struct sl_bpfmap *bpf);

#endif

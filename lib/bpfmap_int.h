/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/* bpfmap_int.h — struct sl_bpfmap, private to lib/bpfmap*.c. */
#ifndef SL_BPFMAP_INT_H
#define SL_BPFMAP_INT_H

#include "bpfmap.h"

struct smtplock;
struct ring_buffer;
struct bpf_link;

struct sl_bpfmap {
	char *pin_path;
	struct smtplock *skel;		/* NULL when opened from pins */
	int fd[SL_MAP__COUNT];		/* -1 = absent */
	bool own_fds;			/* opened from pins: we close them */
	struct bpf_link *links[SL_PROG__COUNT];
	struct ring_buffer *rb;
	sl_event_fn ev_fn;
	void *ev_arg;
	int ncpus;
};

#endif

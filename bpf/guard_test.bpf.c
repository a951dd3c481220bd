// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * guard_test.bpf.c — the egress guard with the socket tag supplied by the
 * test, for BPF_PROG_TEST_RUN (tests/unit/test_guard.c).
 *
 * A test run gives the program a throw-away socket without storage, so
 * the PRE_TLS and TLS paths of the real sl_egress cannot be reached that
 * way.  This object compiles the very same sl_guard_skb() (guard.bpf.h)
 * with its own unpinned copy of the maps; the controller never loads it.
 */
#include "guard.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by the test before each run: enum sl_sock_tag. */
volatile int sl_test_tag;

SEC("cgroup_skb/egress")
int sl_guard_test(struct __sk_buff *skb)
{
	return sl_guard_skb(skb, sl_test_tag);
}

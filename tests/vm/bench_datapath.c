// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * bench_datapath.c — throughput and controller CPU per GB of each data
 * path (a benchmark, not a test: tests/bench/datapath.sh runs it on the
 * host and inside the VM and computes ratios).
 *
 *   bench_datapath SIZE COUNT [PATH...]     PATH: splice rw userspace
 *
 * For each path available here (kTLS paths need kernel TLS) and each
 * direction, COUNT sessions relay one message of SIZE body bytes (TLS 1.3,
 * AES-128-GCM, a userspace OpenSSL partner).  One line per combination:
 *
 *   path=ktls-splice dir=outbound size=1000000 count=10 bytes=… wall_s=…
 *   cpu_s=… mb_s=… cpu_s_per_gb=…
 *
 * wall_s and cpu_s cover the relay phase only (after the handoff), cpu_s
 * is the controller thread's (user + system: the kernel's TLS work runs
 * in its system calls).  MB = 10^6 bytes, GB = 10^9 bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/ssl.h>

#include "harness.h"

static bool run(enum h_path path, enum h_role role, size_t size, int count)
{
	double wall = 0, cpu = 0;
	uint64_t bytes = 0;

	for (int i = 0; i < count; i++) {
		struct h_opts o = { .role = role, .path = path, .tls_version = TLS1_3_VERSION,
				    .cipher = "TLS_AES_128_GCM_SHA256", .body = size, .tickets = -1,
				    .timeout_s = 600 };
		struct h_result r;

		h_run(&o, &r);
		if (!r.sender_ok || !r.receiver_ok || r.timed_out ||
		    (path != H_PATH_USERSPACE && r.handoff != 0)) {
			fprintf(stderr, "bench_datapath: %s %s: session %d failed: %s (handoff %d)\n",
				h_path_name(path), role == H_OUTBOUND ? "outbound" : "inbound", i,
				r.error, r.handoff);
			return false;
		}
		wall += r.wall_s;
		cpu += r.cpu_s;
		bytes += r.relayed;
	}
	printf("path=%s dir=%s size=%zu count=%d bytes=%llu wall_s=%.3f cpu_s=%.3f "
	       "mb_s=%.1f cpu_s_per_gb=%.3f\n",
	       h_path_name(path), role == H_OUTBOUND ? "outbound" : "inbound", size, count,
	       (unsigned long long)bytes, wall, cpu, (double)bytes / 1e6 / wall,
	       cpu / ((double)bytes / 1e9));
	fflush(stdout);
	return true;
}

int main(int argc, char **argv)
{
	static const struct { const char *name; enum h_path path; } paths[] = {
		{ "splice", H_PATH_SPLICE }, { "rw", H_PATH_RW }, { "userspace", H_PATH_USERSPACE },
	};
	size_t size;
	int count;
	bool ok = true;

	if (argc < 3) {
		fprintf(stderr, "usage: bench_datapath SIZE COUNT [splice|rw|userspace ...]\n");
		return 2;
	}
	size = strtoul(argv[1], NULL, 10);
	count = atoi(argv[2]);
	if (!size || count <= 0) {
		fprintf(stderr, "bench_datapath: SIZE and COUNT must be positive\n");
		return 2;
	}
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		bool wanted = argc == 3;

		for (int a = 3; a < argc; a++)
			wanted |= strcmp(argv[a], paths[i].name) == 0;
		if (!wanted)
			continue;
		if (paths[i].path != H_PATH_USERSPACE && h_caps()->err) {
			printf("path=%s skipped: no kernel TLS here\n", h_path_name(paths[i].path));
			continue;
		}
		ok &= run(paths[i].path, H_OUTBOUND, size, count);
		ok &= run(paths[i].path, H_INBOUND, size, count);
	}
	return ok ? 0 : 1;
}

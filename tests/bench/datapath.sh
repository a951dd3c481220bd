#!/bin/bash
# tests/bench/datapath.sh — throughput and CPU per GB of each relay data path.
# A benchmark, not a test: it prints figures and fails only if a session
# fails.  Results and how to read them: tests/bench/README.md.
#
#   tests/bench/datapath.sh                host + VM, then the ratio table
#   tests/bench/datapath.sh --inside NAME  one machine's raw lines (used in the VM)
#
# Paths: ktls-splice and ktls-rw need kernel TLS, so they run only in the
# VM (scripts/vm.sh, Debian's 6.1 kernel under qemu); the userspace
# OpenSSL relay runs in both.  Each machine measures `openssl speed -evp
# aes-128-gcm` (16 KiB blocks, one core) as its own reference, so the
# ratios compare paths across machines as different as a TCG VM and the host.
#
# Environment: SIZES="1000000:20:10 50000000:3:1" (body bytes : sessions
# on the host : sessions in the VM), SPEED_S=3 (openssl speed seconds).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
SIZES=${SIZES:-"1000000:20:10 50000000:3:1"}
SPEED_S=${SPEED_S:-3}
BENCH=$BUILD/vm-tests/bench_datapath

inside() {	# $1 = machine name; raw "key=value" lines on stdout
	local name=$1 speed spec size nhost nvm n
	speed=$(openssl speed -evp aes-128-gcm -bytes 16384 -seconds "$SPEED_S" 2>/dev/null |
		awk '$1 == "AES-128-GCM" { v = $NF; sub(/k$/, "", v); printf "%.1f", v * 1000 / 1e6 }')
	echo "machine=$name openssl_aes_128_gcm_mb_s=$speed cpus=$(nproc) kernel=$(uname -r)"
	for spec in $SIZES; do
		IFS=: read -r size nhost nvm <<<"$spec"
		n=$nhost
		[ "$name" = vm ] && n=$nvm
		"$BENCH" "$size" "$n" | sed "s/^/machine=$name /"
	done
}

if [ "${1:-}" = --inside ]; then
	inside "${2:?machine name}"
	exit 0
fi

make --no-print-directory -s "$BENCH" >&2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "# host: userspace path (no kernel TLS here)" >&2
inside host | tee -a "$out"
echo "# vm: every path (scripts/vm.sh)" >&2
SIZES=$SIZES SPEED_S=$SPEED_S scripts/vm.sh --timeout 1800 -- \
	tests/bench/datapath.sh --inside vm | tee -a "$out"

# The table: per machine and path, throughput and CPU against that
# machine's own AES-128-GCM speed.
awk '
function kv(s, k,   i, a) { for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == k) return a[2] } return "" }
/openssl_aes_128_gcm_mb_s=/ { speed[kv($0, "machine")] = kv($0, "openssl_aes_128_gcm_mb_s"); next }
/ cpu_s_per_gb=/ {
	m = kv($0, "machine"); p = kv($0, "path"); d = kv($0, "dir"); sz = kv($0, "size")
	mbs = kv($0, "mb_s"); cpg = kv($0, "cpu_s_per_gb")
	key = m SUBSEP sz SUBSEP d
	if (p == "userspace") user[key] = cpg
	row[++n] = sprintf("%s|%s|%s|%s|%s|%s", m, p, d, sz, mbs, cpg)
}
END {
	printf "\n%-5s %-12s %-9s %9s %9s %10s %10s %9s %11s\n", "where", "path", "direction", "message",
		"MB/s", "CPU s/GB", "MB/s÷AES", "AES×CPU", "CPU÷user"
	for (i = 1; i <= n; i++) {
		split(row[i], f, "|")
		s = speed[f[1]]; key = f[1] SUBSEP f[4] SUBSEP f[3]
		printf "%-5s %-12s %-9s %7.0fMB %9.1f %10.2f %10.3f %9.2f %11s\n", f[1], f[2], f[3],
			f[4] / 1e6, f[5], f[6], (s > 0 ? f[5] / s : 0), f[6] * s / 1000,
			(user[key] > 0 ? sprintf("%.2f", f[6] / user[key]) : "-")
	}
	printf "\nAES-128-GCM reference (openssl speed, 16 KiB blocks, one core):"
	for (m in speed) printf " %s %.1f MB/s", m, speed[m]
	printf "\nMB/s÷AES: relay throughput over one core of AES-GCM; AES×CPU: controller CPU\n"
	printf "per byte in units of one AES-GCM pass (1.0 = as cheap as encrypting it once);\n"
	printf "CPU÷user: controller CPU per GB relative to the userspace path, same place.\n"
}' "$out"

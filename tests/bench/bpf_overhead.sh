#!/bin/bash
# tests/bench/bpf_overhead.sh — what the BPF programs cost the rest of the
# host.  A benchmark, not a timed test: it prints figures (Markdown, for
# tests/bench/README.md) and never fails on them.
#
#   make && sudo SLT_ID=35 tests/bench/bpf_overhead.sh
#   ROUNDS=9 SECS=2 CONNECTS=10000 tests/bench/bpf_overhead.sh
#
# One network namespace (loopback only) and two cgroups: "on", where
# `smtplock run` attached its programs, and "off", with nothing attached.
# Each workload runs alternately in "off" and "on", ROUNDS times:
#
#   bulk, other traffic      one TCP stream to port 5001 (not an SMTP
#                            port): the guard's fast exit
#   bulk, controller (TLS)   a socket tagged TLS to a listed partner
#                            address and port: the guard's full path
#   connect(), other port    socket+connect+close to port 5001
#   connect(), SMTP port     ... to port 25 of an unlisted address: the
#                            connect hook's full path (LPM, owner record)
#
# Three views, because on a shared machine the first is noisy:
#  1. end to end: the client's CPU time per MB / per connect() (user +
#     system; on loopback the receive path runs in the sender's context
#     too), the minimum over the rounds of each side, and the wall-clock
#     medians;
#  2. exact invocation counts of our programs per MB / per connect(), and
#     their run time from the kernel's BPF statistics
#     (kernel.bpf_stats_enabled, on for the run, then restored) — which
#     include the statistics' own clock reads, ~50-100 ns per run on a VM;
#  3. the guard's cost per packet on each path with BPF_PROG_TEST_RUN
#     (repeat 1e6, before the statistics are switched on), and from 2 x 3
#     the guard's share of the CPU per MB.
set -eu
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD=${BUILD:-$ROOT/build}
SL=$BUILD/smtplock
BENCH=$BUILD/tests/tools/slbench
SLMAPS=$BUILD/tests/tools/slmaps
ROUNDS=${ROUNDS:-9}
SECS=${SECS:-2}
CONNECTS=${CONNECTS:-10000}
# Client and sinks share one CPU: loopback's receive work then always runs
# in the same place, which steadies the CPU-time figures.
CPU=${CPU:-$(( $(nproc) - 1 ))}
ID=${SLT_ID:-$(( 0x$(printf '%s' "$ROOT" | sha256sum | cut -c1-4) % 200 + 20 ))}
NS=sltb$ID
CGROOT=$(findmnt -n -o TARGET -t cgroup2 | head -n1)
CG_ON=$CGROOT/sltb${ID}on
CG_OFF=$CGROOT/sltb${ID}off
PIN=/sys/fs/bpf/sltb$ID
TMP=$(mktemp -d /tmp/sltbench.XXXXXX)
PIDS=()
PROG_IDS=

[ "$(id -u)" = 0 ] || { echo "bpf_overhead.sh: needs root" >&2; exit 2; }
[ -x "$SL" ] && [ -x "$BENCH" ] || { echo "bpf_overhead.sh: run make first" >&2; exit 2; }
STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)

cleanup() {
	local p cg
	sysctl -q -w kernel.bpf_stats_enabled="$STATS_WAS" || true
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS[@]}"; do
		for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
	done
	rm -rf "$PIN"
	for cg in "$CG_ON" "$CG_OFF"; do
		[ -d "$cg" ] || continue
		for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do echo "$p" >"$CGROOT/cgroup.procs"; done
		rmdir "$cg" 2>/dev/null || true
	done
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT

bg() {	# bg CMD...: in the namespace, on $CPU, remembered for cleanup
	nsenter --net="/run/netns/$NS" -- taskset -c "$CPU" "$@" &
	PIDS+=($!)
}

in_cg() {	# in_cg CGROUP CMD...: CMD in the namespace, as a member of CGROUP
	local cg=$1; shift
	sh -c 'echo $$ >"$0/cgroup.procs" && ns=$1 && shift && exec nsenter --net="/run/netns/$ns" -- "$@"' \
		"$cg" "$NS" taskset -c "$CPU" "$@"
}

wait_file() {	# wait_file FILE PATTERN
	for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
	echo "bpf_overhead.sh: timeout waiting for '$2' in $1" >&2
	cat "$1" >&2
	exit 1
}

# Our programs' cumulative run time (ns) and run count.
bpf_totals() {
	local id t=0 c=0 rt rc
	for id in $PROG_IDS; do
		read -r rt rc < <(bpftool -j prog show id "$id" | jq -r '"\(.run_time_ns // 0) \(.run_cnt // 0)"')
		t=$((t + rt)); c=$((c + rc))
	done
	echo "$t $c"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
minimum() { sort -n | head -n1; }
total() { awk '{ s += $1 } END { printf "%.3f\n", s }'; }

# field FILE NAME: the values of NAME=... in FILE, one per line.
field() { grep -o "\b$2=[0-9.]*" "$1" | cut -d= -f2; }

# measure NAME CMD...: ROUNDS alternating off/on runs; BPF totals of "on".
measure() {
	local name=$1; shift
	local r t0 c0 t1 c1 bpf_ns=0 bpf_runs=0
	: >"$TMP/$name.off"
	: >"$TMP/$name.on"
	for r in $(seq "$ROUNDS"); do
		in_cg "$CG_OFF" "$@" >>"$TMP/$name.off"
		read -r t0 c0 < <(bpf_totals)
		in_cg "$CG_ON" "$@" >>"$TMP/$name.on"
		read -r t1 c1 < <(bpf_totals)
		bpf_ns=$((bpf_ns + t1 - t0)); bpf_runs=$((bpf_runs + c1 - c0))
	done
	echo "$bpf_ns $bpf_runs" >"$TMP/$name.bpf"
	for side in off on; do
		[ "$(grep -c . "$TMP/$name.$side")" -eq "$ROUNDS" ] ||
			{ echo "bpf_overhead.sh: $name: a run failed" >&2; cat "$TMP/$name.$side" >&2; exit 1; }
	done
}

# ---- set-up ------------------------------------------------------------------
ip netns del "$NS" 2>/dev/null || true
ip netns add "$NS"
ip -n "$NS" link set lo up
mkdir -p "$CG_ON" "$CG_OFF"
rm -rf "$PIN"
cat >"$TMP/policy.yaml" <<EOF
version: 1
controller:
  hostname: bench.test
  listen: [127.0.0.1:10025]
  cgroup: $CG_ON
  pin_path: $PIN
defaults:
  tls: { verify: none }
partners:
  - domain: partner.bench
    addresses: [127.0.0.2, 192.0.2.0/24, "2001:db8::/32"]
EOF
nsenter --net="/run/netns/$NS" -- "$SL" run -c "$TMP/policy.yaml" --foreground 2>"$TMP/daemon.log" &
PIDS+=($!)
wait_file "$TMP/daemon.log" 'event=ready'
for l in connect4 connect6 getpeername4 getpeername6 sockops egress inbound_lookup; do
	PROG_IDS="$PROG_IDS $(bpftool -j link show pinned "$PIN/link_$l" | jq .prog_id)"
done
bg "$BENCH" sink 127.0.0.1 5001 >"$TMP/sink1"
bg "$BENCH" sink 127.0.0.2 25 >"$TMP/sink2"
bg "$BENCH" sink 127.0.0.3 25 >"$TMP/sink3"
for f in sink1 sink2 sink3; do wait_file "$TMP/$f" listening; done
# The per-packet figures first: with bpf_stats on, the statistics' clock
# reads would land inside BPF_PROG_TEST_RUN's timing loop.
for r in 1 2 3; do "$BENCH" guard 1000000; done >"$TMP/guard"
sysctl -q -w kernel.bpf_stats_enabled=1

# ---- runs --------------------------------------------------------------------
measure bulk_other "$BENCH" bulk 127.0.0.1 5001 "$SECS"
measure bulk_tls "$BENCH" -t tls -P "$PIN" bulk 127.0.0.2 25 "$SECS"
measure conn_other "$BENCH" connect 127.0.0.1 5001 "$CONNECTS"
measure conn_smtp "$BENCH" connect 127.0.0.3 25 "$CONNECTS"
passes=$("$SLMAPS" "$PIN" counters 0 | grep -o 'guard_pass=[0-9]*' | cut -d= -f2)


# ---- report ------------------------------------------------------------------
guard_ns() {	# guard_ns CASE-PREFIX: the best of the three runs
	grep "case=\"$1" "$TMP/guard" | field /dev/stdin ns_per_packet | minimum
}

label() {
	case $1 in
	bulk_other) echo "bulk TCP, other traffic (port 5001)" ;;
	bulk_tls) echo "bulk TCP, controller socket tagged TLS to a listed partner" ;;
	conn_other) echo "connect()+close, port 5001" ;;
	conn_smtp) echo "connect()+close, port 25 of an unlisted address" ;;
	esac
}

echo "#### 1. End to end (client CPU time: best of $ROUNDS rounds each; wall clock: medians)"
echo
echo "| workload | CPU without | CPU with | difference | wall clock without / with |"
echo "|---|---|---|---|---|"
for n in bulk_other bulk_tls; do
	a=$(field "$TMP/$n.off" cpu_ns_per_mb | minimum); b=$(field "$TMP/$n.on" cpu_ns_per_mb | minimum)
	wa=$(field "$TMP/$n.off" mbit_s | median); wb=$(field "$TMP/$n.on" mbit_s | median)
	awk -v l="$(label $n)" -v a="$a" -v b="$b" -v wa="$wa" -v wb="$wb" 'BEGIN {
		printf "| %s | %.0f ns/MB | %.0f ns/MB | %+.2f%% | %.0f / %.0f Mbit/s |\n", l, a, b, (b / a - 1) * 100, wa, wb }'
done
for n in conn_other conn_smtp; do
	a=$(field "$TMP/$n.off" cpu_ns_per_connect | minimum); b=$(field "$TMP/$n.on" cpu_ns_per_connect | minimum)
	wa=$(field "$TMP/$n.off" ns_per_connect | median); wb=$(field "$TMP/$n.on" ns_per_connect | median)
	awk -v l="$(label $n)" -v a="$a" -v b="$b" -v wa="$wa" -v wb="$wb" 'BEGIN {
		printf "| %s | %.0f ns | %.0f ns | %+.0f ns | %.0f / %.0f ns |\n", l, a, b, b - a, wa, wb }'
done
echo
echo "#### 2. Our programs per unit of work (bpf_stats: an upper bound, it adds its own clock reads to every run)"
echo
echo "| workload | program runs | BPF time |"
echo "|---|---|---|"
for n in bulk_other bulk_tls conn_other conn_smtp; do
	read -r bns bruns <"$TMP/$n.bpf"
	if [[ $n == bulk* ]]; then
		units=$(field "$TMP/$n.on" bytes | awk '{ s += $1 / 1e6 } END { printf "%.3f", s }'); unit=MB
	else
		units=$(field "$TMP/$n.on" connects | total); unit="connect()"
	fi
	awk -v l="$(label $n)" -v ns="$bns" -v runs="$bruns" -v u="$units" -v unit="$unit" 'BEGIN {
		printf "| %s | %.2f per %s | %.0f ns per %s (%.0f ns per run) |\n",
			l, runs / u, unit, ns / u, unit, ns / runs }'
	echo "$n $(awk -v r="$bruns" -v u="$units" 'BEGIN { printf "%.3f", r / u }')" >>"$TMP/runs_per_unit"
done
echo
echo "#### 3. The guard per packet (BPF_PROG_TEST_RUN, repeat 1e6, best of 3: a lower bound, hot caches)"
echo
echo "| path | ns per packet |"
echo "|---|---|"
grep -o 'case="[^"]*"' "$TMP/guard" | sort -u | while read -r c; do
	c=${c#case=\"}; c=${c%\"}
	echo "| $c | $(guard_ns "$c") |"
done
fast=$(guard_ns "other port")
tls=$(guard_ns "listed, socket tagged TLS")
# The reference: the least CPU per MB any bulk run needed (either side,
# either workload): the loopback TCP stack's own cost per MB when least
# disturbed.  Single runs vary by 2-3x with where the receive softirq ran.
ref=$(cat "$TMP"/bulk_*.off "$TMP"/bulk_*.on | field /dev/stdin cpu_ns_per_mb | minimum)
echo
for n in bulk_other bulk_tls; do
	per=$([ $n = bulk_other ] && echo "$fast" || echo "$tls")
	runs=$(awk -v n=$n '$1 == n { print $2 }' "$TMP/runs_per_unit")
	awk -v l="$(label $n)" -v r="$runs" -v p="$per" -v b="$ref" 'BEGIN {
		printf "- %s: %.1f guard runs per MB x %s ns = %.0f ns per MB = %.2f%% of the %.0f ns of CPU the stack needs per MB (throughput cost)\n",
			l, r, p, r * p, r * p / b * 100, b }'
done
echo
echo "rounds=$ROUNDS seconds=$SECS connects=$CONNECTS cpu=$CPU guard_pass_segments=$passes" \
	"kernel=$(uname -r) cpus=$(nproc) load=\"$(cut -d' ' -f1-3 /proc/loadavg)\""

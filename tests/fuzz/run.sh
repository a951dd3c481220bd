#!/bin/bash
# tests/fuzz/run.sh — run the libFuzzer harnesses that `make fuzzers` built.
#
#   tests/fuzz/run.sh short            every harness briefly (make check), TAP
#   tests/fuzz/run.sh long [SECONDS]   every harness SECONDS each (default 300;
#                                      make fuzz), TAP, and a tally in
#                                      $BUILD/test-logs/fuzz-tally.md
#
# One TAP line per harness, its description giving executions and corpus
# size.  Inputs:
#   tests/fuzz/corpus/<harness>/   seeds (transcripts) and crash regressions,
#                                  replayed first on every run, never written
#   tests/fuzz/<harness>.dict      libFuzzer dictionary, if present
# Working corpus: short → a temporary directory (discarded); long →
# tests/fuzz/corpus-<harness>/ (kept between runs, not in git).
# A crash, leak or timeout is "not ok" with the reproducer's path (under
# $BUILD/fuzz-artifacts/<harness>/); once fixed, copy the reproducer into
# tests/fuzz/corpus/<harness>/ so every short run replays it.
#
# FUZZ_SHORT_SECONDS (default 8) sets the short time per harness: five
# harnesses stay under a minute.
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
FZ=$BUILD/fz/fuzz
LOGDIR=$BUILD/test-logs
mode=${1:-short}

case $mode in
short) secs=${FUZZ_SHORT_SECONDS:-8} ;;
long) secs=${2:-300} ;;
*)
	echo "usage: $0 short | long [SECONDS]" >&2
	exit 2
	;;
esac
case $secs in
'' | *[!0-9]*) echo "$0: SECONDS must be a number" >&2; exit 2 ;;
esac
mkdir -p "$LOGDIR"

harnesses=()
for src in tests/fuzz/fuzz_*.c; do
	[ -e "$src" ] && harnesses+=("$(basename "$src" .c)")
done
echo "1..${#harnesses[@]}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/slfuzz.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
rows=()
failed=0
n=0
for h in "${harnesses[@]}"; do
	n=$((n + 1))
	bin=$FZ/$h
	if [ ! -x "$bin" ]; then
		echo "not ok $n - $h: not built (run: make fuzzers)"
		rows+=("| $h | - | not built | - | - |")
		failed=$((failed + 1))
		continue
	fi
	seeds=tests/fuzz/corpus/$h
	mkdir -p "$seeds"
	art=$BUILD/fuzz-artifacts/$h
	mkdir -p "$art"
	if [ "$mode" = long ]; then
		work=tests/fuzz/corpus-$h
	else
		work=$tmp/$h
	fi
	mkdir -p "$work"
	dict=()
	[ -e "tests/fuzz/$h.dict" ] && dict=("-dict=tests/fuzz/$h.dict")
	log=$LOGDIR/fuzz-$h.log
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=4096 \
		-print_final_stats=1 -artifact_prefix="$art/" "${dict[@]}" \
		"$work" "$seeds" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
	[ -n "$execs" ] || execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
	[ -n "$execs" ] || execs=0
	corpus=$(find "$work" "$seeds" -type f | wc -l)
	if [ "$rc" -eq 0 ]; then
		echo "ok $n - $h: $execs execs in ${secs}s, corpus $corpus"
		rows+=("| $h | $secs | $execs | 0 | $corpus |")
	else
		repro=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
		echo "not ok $n - $h: failed (status $rc) after $execs execs; reproducer: ${repro:-none}; log: $log"
		grep -E 'ERROR|SUMMARY|==[0-9]+==' "$log" | head -5 | sed 's/^/#   /'
		rows+=("| $h | $secs | $execs | 1 | $corpus |")
		failed=$((failed + 1))
	fi
done

if [ "$mode" = long ]; then
	tally=$LOGDIR/fuzz-tally.md
	{
		echo "Fuzzing tally: \`make fuzz\` (tests/fuzz/run.sh long $secs)," \
			"$(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)," \
			"clang $(clang -dumpversion 2>/dev/null), ASan+UBSan, $(nproc) CPUs"
		echo
		echo "| harness | seconds | executions | crashes | corpus files |"
		echo "|---|---|---|---|---|"
		printf '%s\n' "${rows[@]}"
	} >"$tally"
	sed 's/^/# /' "$tally"
	echo "# tally written to $tally"
fi
[ "$failed" -eq 0 ]

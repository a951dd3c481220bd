#!/bin/bash
# tests/run.sh — run every test suite and print one summary line.
#
#   tests/run.sh              all suites (what `make check` runs)
#   tests/run.sh unit bats    only the named suites
#   BATS_FILTER=20- tests/run.sh bats   only bats files whose name matches
#
# Each suite is a command that prints TAP.  The last line of output is
# exactly "N passed, N failed", counting the unit and integration tests
# together; the exit status is non-zero if anything failed.  Under CI
# (CI=true) a skipped test counts as failed.  A suite that exits non-zero
# without reporting a failure, or reports fewer results than its plan,
# counts as one failure more.
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
LOGDIR=$BUILD/test-logs
mkdir -p "$LOGDIR"

passed=0
failed=0
skipped=0
failures=()

# run_suite NAME CMD...: run CMD, tee its TAP to the log, count results.
run_suite() {
	local name=$1; shift
	local log="$LOGDIR/$name.tap" rc
	printf '# ---- %s: %s\n' "$name" "$*"
	"$@" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	local counts
	counts=$(awk -v ci="${CI:-}" '
		/^ok / && /# [Ss][Kk][Ii][Pp]/ { s++; next }
		/^ok /     { p++; next }
		/^not ok / { f++; next }
		/^1\.\.[0-9]+/ { split($0, a, /\.\./); plan = a[2] + 0 }
		END { printf "%d %d %d %d\n", p, f, s, (plan == "" ? -1 : plan) }' "$log")
	local p f s plan
	read -r p f s plan <<<"$counts"
	if [ "${CI:-}" = true ] && [ "$s" -gt 0 ]; then
		f=$((f + s)); s=0
		failures+=("$name: $s skipped (skip = fail under CI)")
	else
		skipped=$((skipped + s))
	fi
	local got=$((p + f + s))
	if [ "$plan" -ge 0 ] && [ "$got" -lt "$plan" ]; then
		f=$((f + 1))
		failures+=("$name: $got results for a plan of $plan")
	elif [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=$((f + 1))
		failures+=("$name: exited with status $rc")
	fi
	[ "$f" -gt 0 ] && failures+=("$name: $f failed (log: $log)")
	passed=$((passed + p))
	failed=$((failed + f))
}

suite_unit() {		# $1 = build dir of the unit test binaries
	local t any=0
	for t in "$1"/tests/test_*; do
		[ -x "$t" ] || continue
		any=1
		run_suite "$(basename "$(dirname "$(dirname "$t")")")-$(basename "$t")" "$t"
	done
	[ $any = 1 ] || { failures+=("no unit tests in $1"); failed=$((failed + 1)); }
}

suite_bats() {
	local f
	for f in tests/bats/*.bats; do
		[[ -n "${BATS_FILTER:-}" && "$f" != *"$BATS_FILTER"* ]] && continue
		run_suite "bats-$(basename "$f" .bats)" bats --tap "$f"
	done
}

suite_fuzz() {
	[ -x tests/fuzz/run.sh ] && run_suite fuzz-short tests/fuzz/run.sh short
}

suite_faults() {
	[ -x tests/faults/run.sh ] && run_suite faults-short tests/faults/run.sh short
}

suite_vm() {
	[ -x tests/vm/run.sh ] && run_suite vm-ktls tests/vm/run.sh
}

suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(unit unit-san fuzz bats faults vm)
for s in "${suites[@]}"; do
	case $s in
	unit)     suite_unit "$BUILD" ;;
	unit-san) suite_unit "$BUILD/san" ;;
	fuzz)     suite_fuzz ;;
	bats)     suite_bats ;;
	faults)   suite_faults ;;
	vm)       suite_vm ;;
	*) echo "tests/run.sh: unknown suite '$s'" >&2; exit 2 ;;
	esac
done

if [ ${#failures[@]} -gt 0 ]; then
	echo "# ---- failures"
	printf '#   %s\n' "${failures[@]}"
fi
[ "$skipped" -gt 0 ] && echo "# $skipped skipped (not under CI)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/bin/bash
# tests/faults/run.sh — fault injection, load and hygiene under real
# software (tests/faults/*.bats), with a tally.
#
#   tests/faults/run.sh short          each scenario's loop once (make check)
#   tests/faults/run.sh long [ROUNDS]  each loop ROUNDS times (default 6:
#                                      more than 100 injections; make faults)
#   FAULTS_FILTER=10- tests/faults/run.sh short   only matching files
#
# Prints bats' TAP, then the tally (one row per scenario: injections,
# messages sent, delivered, duplicated, lost, plaintext bytes of mail and
# markers seen in clear on the partner's wire, bytes the capture missed
# (tests/faults/wire.py), the controller's idle fd
# count and RSS at the baseline and the highest after a round) as TAP
# comments.  The long run also writes it to $BUILD/test-logs/faults-tally.md.
# Needs root and `make` (the controller, the test tools).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
LOGDIR=$BUILD/test-logs
mode=${1:-short}

case $mode in
short) rounds=1 ;;
long) rounds=${2:-6} ;;
*)
	echo "usage: $0 short | long [ROUNDS]" >&2
	exit 2
	;;
esac
case $rounds in
'' | *[!0-9]* | 0) echo "$0: ROUNDS must be a positive number" >&2; exit 2 ;;
esac
mkdir -p "$LOGDIR"

files=()
for f in tests/faults/*.bats; do
	[[ -n "${FAULTS_FILTER:-}" && "$f" != *"$FAULTS_FILTER"* ]] && continue
	files+=("$f")
done
[ ${#files[@]} -gt 0 ] || { echo "1..0"; exit 0; }

tally=$(mktemp "${TMPDIR:-/tmp}/slfaults.XXXXXX")
trap 'rm -f "$tally"' EXIT
t0=$SECONDS
FAULTS_MODE=$mode FAULTS_ROUNDS=$rounds FAULTS_TALLY=$tally bats --tap "${files[@]}"
rc=$?
secs=$((SECONDS - t0))

table() {
	printf '| scenario | injections | sent | delivered | duplicated | lost | plaintext bytes | markers in clear | capture gaps (bytes) | fds idle: base / max | RSS kB: base / max |\n'
	printf '|---|---|---|---|---|---|---|---|---|---|---|\n'
	awk -F'\t' '{
		printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s / %s |\n",
			$1, $2, $3, $4, $5, $6, $7, $8, $13, $9, $10, $11, $12
		for (i = 2; i <= 8; i++) s[i] += $i
		s[13] += $13
	} END {
		printf "| **total** | %d | %d | %d | %d | %d | %d | %d | %d | | |\n",
			s[2], s[3], s[4], s[5], s[6], s[7], s[8], s[13]
	}' "$tally"
}

echo "# ---- fault tally ($mode, $rounds round(s), ${secs}s)"
table | sed 's/^/# /'
if [ "$mode" = long ]; then
	out=$LOGDIR/faults-tally.md
	{
		echo "Fault-injection tally: \`tests/faults/run.sh long $rounds\`" \
			"(\`make faults\`), $(date -u +%Y-%m-%d), commit" \
			"$(git rev-parse --short HEAD 2>/dev/null || echo unknown), $(nproc) CPUs, ${secs} s"
		echo
		table
	} >"$out"
	echo "# tally written to $out"
fi
exit $rc

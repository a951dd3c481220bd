#!/bin/bash
# tests/bench/run.sh — run the benchmarks of tests/bench/ one after the other
# (what `make bench` runs).  Benchmarks measure, they do not pass or fail on
# their figures; a benchmark fails only when it cannot run (mail lost, a
# session refused, a tool missing).  Results and how to read them:
# tests/bench/README.md.
#
#   tests/bench/run.sh                       every benchmark, in the order below
#   tests/bench/run.sh datapath postfix_native   only those (names or file names)
#   tests/bench/run.sh --list                the names
#
# Each benchmark is configured through its environment (see its header:
# ROUNDS, SECS, SIZES, WORKLOADS, CACHE, README, ...), which passes through
# unchanged; one SLT_ID is chosen here for all of them, so a run uses one
# set of namespace, cgroup and pin names.  Arguments after `--` go to every
# selected benchmark.  Prints one line per benchmark at the end and exits
# non-zero if any failed.
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD

# In order: the cheap kernel-half figures first, the long end-to-end run last.
ALL=(bpf_overhead datapath load postfix_native)

if [ -z "${SLT_ID:-}" ]; then
	SLT_ID=$(( 0x$(printf '%s' "$ROOT" | sha256sum | cut -c1-4) % 200 + 20 ))
fi
export SLT_ID

sel=()
args=()
while [ $# -gt 0 ]; do
	case $1 in
	--list) printf '%s\n' "${ALL[@]}"; exit 0 ;;
	--) shift; args=("$@"); break ;;
	-h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) n=${1##*/}; n=${n%.sh}
	   [ -x "tests/bench/$n.sh" ] || { echo "run.sh: no benchmark '$1' (try --list)" >&2; exit 2; }
	   sel+=("$n") ;;
	esac
	shift
done
[ ${#sel[@]} -gt 0 ] || sel=("${ALL[@]}")

results=()
rc=0
for n in "${sel[@]}"; do
	printf '# ==== %s (SLT_ID=%s) ====\n' "$n" "$SLT_ID"
	start=$SECONDS
	"tests/bench/$n.sh" "${args[@]}"
	st=$?
	[ $st -eq 0 ] || rc=1
	results+=("$(printf '%-16s %s  %ds' "$n" "$([ $st -eq 0 ] && echo done || echo "FAILED ($st)")" $((SECONDS - start)))")
done
printf '# ==== summary ====\n'
printf '# %s\n' "${results[@]}"
exit $rc

#!/bin/bash
# tests/bench/load.sh — the controller under load, at full size: 1,000
# redirected sessions held open in the relay plus 500 slowloris clients,
# fresh sessions timed in the middle (tests/faults/70-load.bats with its
# sizes raised; the same assertions hold, the figures are printed).
#
#   make && sudo SLT_ID=39 tests/bench/load.sh
#   HELD=2000 SLOW=1000 TIMEOUT=30 tests/bench/load.sh
#
# Prints load.py's key=value figures for the main run as TAP comments; the
# per-held-session RSS is (RSS loaded - RSS idle) / sessions live.
set -u
cd "$(dirname "$0")/../.."
export LOAD_HELD=${HELD:-1000} LOAD_SLOW=${SLOW:-500} LOAD_TIMEOUT=${TIMEOUT:-20}
export LOAD_PER_SOURCE=${PER_SOURCE:-100}
echo "# load: held=$LOAD_HELD slow=$LOAD_SLOW timeout=${LOAD_TIMEOUT}s per_source=$LOAD_PER_SOURCE," \
	"$(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
exec bats --tap tests/faults/70-load.bats

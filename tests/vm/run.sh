#!/bin/bash
# tests/vm/run.sh — the kTLS suite, inside Debian 12's 6.1 kernel.
#
# The host kernel has no CONFIG_TLS: scripts/vm.sh boots a VM with the
# host's userland and runs $BUILD/vm-tests/test_ktls there (kTLS for TLS
# 1.2/1.3 and every offloadable cipher, 50 MB through each data path,
# control records, fallback, memory per held connection, and the BPF
# objects loading on that kernel).  TAP on stdout, as tests/run.sh wants.
#
#   tests/vm/run.sh                the whole suite
#   SL_VM_ONLY=control tests/vm/run.sh    some groups (see test_ktls.c)
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
export BUILD

# Build what runs inside (no-op when `make` already did).
if ! make --no-print-directory -s "$BUILD/vm-tests/test_ktls" >&2; then
	echo "not ok 1 - build of $BUILD/vm-tests/test_ktls"
	echo "1..1"
	exit 1
fi

start=$(date +%s)
scripts/vm.sh --timeout "${SL_VM_SUITE_TIMEOUT:-900}" -- \
	"$BUILD/vm-tests/test_ktls" "$BUILD/bpf"
rc=$?
echo "# vm suite: $(( $(date +%s) - start ))s including the VM boot (exit $rc)"
if [ $rc -ge 124 ]; then
	# The VM itself failed: say so as a failed test, not as silence.
	echo "not ok - the VM did not run the suite to its end (scripts/vm.sh exit $rc)"
fi
exit $rc

# tests/bats/helper.bash — the one helper of the integration tests.
#
# Every bats file starts with `load helper`.  It gives:
#   - SL: the smtplock binary; ROOT: the checkout; T: a fresh tmpdir per test
#   - an ID unique to this checkout (SLT_ID), so several checkouts can run
#     their tests at once without sharing namespaces, cgroups or pins
#   - sl_skip REASON: skip (which counts as a failure under CI=true)
#   - wait_until SECONDS CMD...: poll CMD until it succeeds (no bare sleeps)
#   - network: sl_net_up / sl_net_down, namespaces $NS_H (host under test)
#     and $NS_P (partners), joined by a veth; sl_in NS CMD... runs a
#     command in a namespace without hiding /sys (nsenter, not ip netns exec)
#   - a cgroup v2 directory per test file ($SL_CG) and sl_in_cgroup CMD...
#   - bg PID bookkeeping: sl_bg CMD... starts a background process and
#     remembers its PID; sl_kill_bg ends only the processes we started
#   - capture: sl_capture_start NS IFACE FILE / sl_capture_stop
# Postfix, dnsmasq and PKI helpers live in tests/bats/lib/*.bash.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
SL=$BUILD/smtplock

# A small number unique to this checkout: from SLT_ID or a hash of ROOT.
if [ -z "${SLT_ID:-}" ]; then
	SLT_ID=$(( 0x$(printf '%s' "$ROOT" | sha256sum | cut -c1-4) % 200 + 20 ))
fi
export SLT_ID
NS_H=slt${SLT_ID}h
NS_P=slt${SLT_ID}p
NET4=10.$SLT_ID.0
NET6=fd00:$SLT_ID::
H4=$NET4.1
P4=$NET4.2
H6=${NET6}1
P6=${NET6}2
VETH_H=slv${SLT_ID}h
VETH_P=slv${SLT_ID}p
SL_PIN=/sys/fs/bpf/slt$SLT_ID
SL_CTL=/run/slt$SLT_ID.control

sl_cgroup2_root() { findmnt -n -o TARGET -t cgroup2 | head -n1; }
SL_CG=$(sl_cgroup2_root)/slt$SLT_ID

sl_skip() {
	skip "$*"
}

# wait_until SECONDS CMD...: true once CMD succeeds, false at the deadline.
# (EPOCHREALTIME, not date: a poll loop should not fork to read the clock.)
wait_until() {
	local deadline=$(( ${EPOCHREALTIME/./} + $1 * 1000000 )); shift
	while ! "$@" 2>/dev/null; do
		[ "${EPOCHREALTIME/./}" -lt "$deadline" ] || return 1
		sleep 0.05
	done
}

sl_require_root() {
	[ "$(id -u)" = 0 ] || sl_skip "needs root"
}

# ---- per-test tmpdir -------------------------------------------------------
sl_tmp() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/slt.XXXXXX")
	chmod 755 "$T"
	export T
}

# ---- background processes we own ------------------------------------------
SL_BG_FILE=${BATS_FILE_TMPDIR:-/tmp}/bg.pids

sl_bg() {
	"$@" &
	echo $! >>"$SL_BG_FILE"
	SL_BG_PID=$!
}

sl_kill_bg() {
	local pid
	[ -f "$SL_BG_FILE" ] || return 0
	while read -r pid; do
		kill "$pid" 2>/dev/null || true
	done <"$SL_BG_FILE"
	while read -r pid; do
		wait_until 5 sl_gone "$pid" || kill -9 "$pid" 2>/dev/null || true
	done <"$SL_BG_FILE"
	rm -f "$SL_BG_FILE"
}

# A process is gone when it no longer exists or is a zombie (PID 1 here
# does not reap orphans promptly).
sl_gone() {
	local st
	read -r st 2>/dev/null <"/proc/$1/stat" || return 0
	st=${st##*) }		# the state follows "(comm) "
	[ "${st%% *}" = Z ]
}

# ---- network namespaces ----------------------------------------------------
sl_in() {	# sl_in NS CMD...: run in the namespace's network, keep /sys
	local ns=$1; shift
	nsenter --net="/run/netns/$ns" -- "$@"
}

sl_net_up() {
	sl_net_down
	ip netns add "$NS_H"
	ip netns add "$NS_P"
	ip link add "$VETH_H" type veth peer name "$VETH_P"
	ip link set "$VETH_H" netns "$NS_H"
	ip link set "$VETH_P" netns "$NS_P"
	ip -n "$NS_H" link set lo up
	ip -n "$NS_P" link set lo up
	ip -n "$NS_H" addr add "$H4/24" dev "$VETH_H"
	ip -n "$NS_P" addr add "$P4/24" dev "$VETH_P"
	ip -n "$NS_H" addr add "$H6/64" dev "$VETH_H" nodad
	ip -n "$NS_P" addr add "$P6/64" dev "$VETH_P" nodad
	ip -n "$NS_H" link set "$VETH_H" up
	ip -n "$NS_P" link set "$VETH_P" up
	mkdir -p "/etc/netns/$NS_H" "/etc/netns/$NS_P"
}

# sl_net_addr NS ADDR/PLEN: one more address (a second MX, a new partner).
sl_net_addr() {
	local dev=$VETH_H
	[ "$1" = "$NS_P" ] && dev=$VETH_P
	case $2 in
	*:*) ip -n "$1" addr add "$2" dev "$dev" nodad ;;
	*)   ip -n "$1" addr add "$2" dev "$dev" ;;
	esac
}

sl_net_down() {
	ip netns del "$NS_H" 2>/dev/null || true
	ip netns del "$NS_P" 2>/dev/null || true
	rm -rf "/etc/netns/$NS_H" "/etc/netns/$NS_P"
}

# ---- cgroup v2 -------------------------------------------------------------
sl_cg_up() {
	mkdir -p "$SL_CG"
}

sl_cg_down() {
	local pid
	[ -d "$SL_CG" ] || return 0
	# Move leftovers (only ours live here) back to the root before rmdir.
	for pid in $(cat "$SL_CG/cgroup.procs" 2>/dev/null); do
		echo "$pid" >"$(sl_cgroup2_root)/cgroup.procs" 2>/dev/null || true
	done
	rmdir "$SL_CG" 2>/dev/null || true
}

# sl_in_cgroup CMD...: run CMD as a member of $SL_CG.
sl_in_cgroup() {
	sh -c 'echo $$ > "$0/cgroup.procs" && exec "$@"' "$SL_CG" "$@"
}

# ---- packet capture --------------------------------------------------------
# sl_capture_start NS IFACE FILE [FILTER]: tcpdump in NS until sl_capture_stop.
sl_capture_start() {
	local ns=$1 dev=$2 file=$3 filter=${4:-tcp}
	# nsenter execs tcpdump: $! is tcpdump itself, not a subshell that
	# would ignore the signal meant for it.  --immediate-mode: without it
	# packets wait up to a second in the kernel's ring for a block to fill,
	# and those still waiting when we stop are lost.
	nsenter --net="/run/netns/$ns" -- \
		tcpdump -i "$dev" --immediate-mode -U -s 0 -w "$file" "$filter" 2>"$file.log" &
	SL_CAPTURE_PID=$!
	echo $SL_CAPTURE_PID >>"$SL_BG_FILE"
	wait_until 10 grep -q 'listening on' "$file.log"
}

sl_capture_stop() {
	[ -n "${SL_CAPTURE_PID:-}" ] || return 0
	sleep 0.2	# let the last segments reach the capture
	kill -TERM "$SL_CAPTURE_PID" 2>/dev/null || true
	wait_until 10 sl_gone "$SL_CAPTURE_PID"
	SL_CAPTURE_PID=
}

# sl_capture_payload FILE: every TCP payload in FILE as one line of hex per
# segment (for grepping plaintext out of a capture).
sl_capture_payload() {
	tshark -r "$1" -Y 'tcp.len > 0' -T fields -e tcp.payload 2>/dev/null
}

# sl_capture_has_text FILE TEXT: the text appears in some segment's payload.
sl_capture_has_text() {
	local hex
	hex=$(printf '%s' "$2" | od -An -tx1 | tr -d ' \n')
	sl_capture_payload "$1" | tr -d ':' | grep -qi "$hex"
}

# tests/bats/daemon.bash — the controller under test (load after helper).
#
#   sl_world_up / sl_world_down   netns + cgroup + tmpdir; stop, unpin, clean
#   sl_daemon_start POLICY        `smtplock run` in $NS_H, waits for ready
#                                 ($T/resolv.conf, if present, is bind-mounted
#                                 over /etc/resolv.conf in a private mount ns)
#   sl_daemon_stop / sl_daemon_hup
#   sl_log_has REGEX              the daemon's log has a matching line
#   sl_client ARGS...             slsock in $NS_H, inside $SL_CG
#   sl_maps WHAT [ARG]            slmaps on $SL_PIN
#   sl_counter DOMAIN|ID NAME     one counter's value
#   sl_partner_listen PORT [ADDR] a TCP sink in $NS_P writing $T/partner.PORT
#   sl_nsbg NS CMD...             a background command in NS (sl_kill_bg ends it)
#   sl_cap_start NS IFACE FILE / sl_cap_stop
#                                 tcpdump whose PID is tcpdump's own (helper.bash's
#                                 sl_capture_start records a subshell's PID, which
#                                 SIGINT does not stop)

SLSOCK=$BUILD/tests/tools/slsock
SLMAPS=$BUILD/tests/tools/slmaps

# sl_nsbg NS CMD...: sl_bg, but in NS; the PID recorded is CMD's own
# (nsenter and unshare exec their command), so sl_kill_bg ends it.
sl_nsbg() {
	local ns=$1; shift
	sl_bg nsenter --net="/run/netns/$ns" -- "$@"
}

sl_world_up() {
	sl_require_root
	sl_tmp
	sl_net_up
	sl_cg_up
	rm -rf "$SL_PIN"
	SL_DAEMON_PID=
}

sl_world_down() {
	sl_daemon_stop
	sl_kill_bg
	rm -rf "$SL_PIN"	# the test's `unload`: no daemon holds the links now
	sl_cg_down
	sl_net_down
	[ -n "${T:-}" ] && rm -rf "$T"
	return 0
}

sl_daemon_start() {
	local policy=$1; shift
	local log=$T/daemon.log
	: >"$log"
	if [ -f "$T/resolv.conf" ]; then
		sl_nsbg "$NS_H" unshare -m --propagation private sh -c \
			'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$T/resolv.conf" \
			"$SL" run -c "$policy" --foreground -v "$@" 2>>"$log"
	else
		sl_nsbg "$NS_H" "$SL" run -c "$policy" --foreground -v "$@" 2>>"$log"
	fi
	SL_DAEMON_PID=$SL_BG_PID
	if ! wait_until 20 grep -q 'event=ready' "$log"; then
		echo "# daemon did not become ready:" >&3
		sed 's/^/#   /' "$log" | grep -v 'level=debug' >&3
		return 1
	fi
}

sl_daemon_alive() {
	[ -n "${SL_DAEMON_PID:-}" ] && ! sl_gone "$SL_DAEMON_PID"
}

sl_daemon_stop() {
	[ -n "${SL_DAEMON_PID:-}" ] || return 0
	kill -TERM "$SL_DAEMON_PID" 2>/dev/null || true
	wait_until 15 sl_gone "$SL_DAEMON_PID" || kill -KILL "$SL_DAEMON_PID" 2>/dev/null || true
	SL_DAEMON_PID=
}

sl_daemon_hup() {
	kill -HUP "$SL_DAEMON_PID"
}

sl_log_has() {
	grep -Eq "$1" "$T/daemon.log"
}

sl_log_count() {
	grep -Ec "$1" "$T/daemon.log" || true
}

sl_client() {
	sl_in "$NS_H" sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$SL_CG" "$SLSOCK" "$@"
}

sl_maps() {
	"$SLMAPS" "$SL_PIN" "$@"
}

# sl_counter DOMAIN|ID NAME: prints the counter's value.
sl_counter() {
	sl_maps counters "$1" | tr ' ' '\n' | sed -n "s/^$2=//p"
}

sl_partner_listen() {
	local port=$1 addr=${2:-$P4}
	local proto=TCP bind=$addr
	case $addr in *:*) proto=TCP6 bind="[$addr]" ;; esac
	sl_nsbg "$NS_P" socat -u "$proto-LISTEN:$port,bind=$bind,reuseaddr,fork" \
		"OPEN:$T/partner.$port,creat,append"
	wait_until 5 sl_in "$NS_P" sh -c "ss -Hltn 'sport = :$port' | grep -q ."
}

# A minimal policy: controller on loopback, the test's cgroup and pins.
# sl_policy FILE <<'EOF' (partners: ...) EOF appends the rest from stdin.
sl_policy() {
	local f=$1
	{
		cat <<EOF
version: 1
controller:
  hostname: mail.test
  listen: [127.0.0.1:10025, "[::1]:10025"]
  cgroup: $SL_CG
  pin_path: $SL_PIN
defaults:
  tls: { verify: none }
EOF
		cat
	} >"$f"
}

sl_cap_start() {
	local ns=$1 dev=$2 file=$3
	# --immediate-mode: no packet waits in a kernel block when we stop.
	sl_nsbg "$ns" tcpdump --immediate-mode -i "$dev" -U -s 0 -w "$file" tcp 2>"$file.log"
	SL_CAP_PID=$SL_BG_PID
	wait_until 10 grep -q 'listening on' "$file.log"
}

sl_cap_stop() {
	[ -n "${SL_CAP_PID:-}" ] || return 0
	# tcpdump -U writes each packet at once; SIGINT flushes and exits.
	kill -INT "$SL_CAP_PID" 2>/dev/null || true
	wait_until 10 sl_gone "$SL_CAP_PID"
	SL_CAP_PID=
}

# tests/bats/daemon.bash — the controller under test (load after helper).
#
#   sl_world_up / sl_world_down   netns + cgroup + tmpdir; stop, unpin, clean
#   sl_daemon_start POLICY        `smtplock run` in $NS_H, waits for ready
#                                 (after lib/dns's sl_dns_init, with its
#                                 resolv.conf, the way sl_dns_in runs things)
#   sl_daemon_stop / sl_daemon_hup
#   sl_log_has REGEX              the daemon's log has a matching line
#   sl_client ARGS...             slsock in $NS_H, inside $SL_CG
#   sl_maps WHAT [ARG]            slmaps on $SL_PIN
#   sl_counter DOMAIN|ID NAME     one counter's value
#   sl_partner_listen PORT [ADDR] a TCP sink in $NS_P writing $T/partner.PORT
#   sl_nsbg NS CMD...             a background command in NS (sl_kill_bg ends it)

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
	if [ -n "${SL_DNS:-}" ]; then
		# sl_dns_in's recipe, with the daemon's own PID recorded.
		sl_nsbg "$NS_H" unshare -m --propagation private sh -c \
			'mount --bind "$0" /etc/resolv.conf && exec "$@"' "/etc/netns/$NS_H/resolv.conf" \
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

# One controller for a whole bats file: started in setup_file (its log in
# $TF), found again by each test's setup, stopped in teardown_file.
sl_file_daemon_start() {
	T=$TF sl_daemon_start "$@" || return 1
	echo "$SL_DAEMON_PID" >"$TF/daemon.pid"
}

sl_file_daemon() {
	SL_DAEMON_PID=$(cat "$TF/daemon.pid" 2>/dev/null)
}

sl_file_daemon_stop() {
	sl_file_daemon
	sl_daemon_stop
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

# A minimal policy: controller on loopback, the test's cgroup and pins, a
# 2 s per-state timeout: the TCP sinks these tests use as partners never
# greet, so a redirected connection gets "421 4.4.2 … timeout in state
# greeting" quickly (a real partner is tested in 30-outbound.bats).
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
  control_socket: $SL_CTL
  limits: { timeout: 2s }
defaults:
  tls: { verify: none }
EOF
		cat
	} >"$f"
}


#!/usr/bin/env bats
# 70-load: the controller under load (tests/bench/load.py).
#
# Many redirected sessions held open in the relay, slowloris clients (one
# byte every few seconds of an endless line), and fresh sessions timed in
# the middle of it.  The partner is load.py's asyncio MX (STARTTLS, AUTH,
# mail dropped), so that the controller, not the partner, is what is
# measured.  Expected: a fresh session completes within a second; the
# per-state timeout cuts the slowloris clients; the per-source and global
# caps answer 421 4.3.2; an over-long line gets 500; memory per held
# session is bounded and everything is given back when they end.
#
# Sizes: LOAD_HELD (default 200), LOAD_SLOW (50), LOAD_TIMEOUT (5s, the
# policy's per-state timeout); tests/bench/load.sh runs it with 1,000 and
# 500 and records the figures in tests/bench/README.md.

load ../bats/helper
load ../bats/daemon
load ../bats/lib/pki

LOAD=$ROOT/tests/bench/load.py
HELD=${LOAD_HELD:-200}
SLOW=${LOAD_SLOW:-50}
TMO=${LOAD_TIMEOUT:-5}
PER_SRC=${LOAD_PER_SOURCE:-30}
SL_PY=${SL_PY:-/usr/bin/python3}

setup_file() {
	sl_require_root
	sl_net_up
	sl_cg_up
	rm -rf "$SL_PIN"
	export TF=$BATS_FILE_TMPDIR
	sl_pki_init
	sl_pki_server load ca load.test
	nsenter --net="/run/netns/$NS_P" -- "$SL_PY" "$LOAD" partner --listen "$P4" \
		--cert "$SL_PKI/load.pem" --host load.test >"$TF/partner.out" 2>&1 &
	echo $! >>"$SL_BG_FILE"
	wait_until 10 grep -q ready "$TF/partner.out"
	policy "$TF/policy.yaml" $((HELD + SLOW + PER_SRC + 50))
	sl_file_daemon_start "$TF/policy.yaml"
}

teardown_file() {
	sl_file_daemon_stop
	sl_kill_bg
	rm -rf "$SL_PIN"
	sl_net_down
	sl_cg_down
}

setup() {
	sl_file_daemon
}

# policy FILE MAX_SESSIONS [MAX_PER_SOURCE]
policy() {
	cat >"$1" <<-EOF
	version: 1
	controller:
	  hostname: mail.sender.test
	  listen: [127.0.0.1:10025]
	  cgroup: $SL_CG
	  pin_path: $SL_PIN
	  control_socket: $SL_CTL
	  limits: { max_sessions: $2, max_sessions_per_source: ${3:-$PER_SRC}, timeout: ${TMO}s }
	defaults:
	  tls: { min_version: "1.2", verify: ca, ca_file: $SL_PKI/ca.crt }
	partners:
	  - domain: load.test
	    addresses: [$P4]
	    auth: { username: load, password_file: $TF/pass }
	EOF
	printf 'load-pass\n' >"$TF/pass"
	chmod 600 "$TF/pass"
}

reload_ok() {
	local n
	n=$(grep -c 'event=reload_ok' "$TF/daemon.log" || true)
	kill -HUP "$SL_DAEMON_PID"
	wait_until 10 sh -c "[ \$(grep -c 'event=reload_ok' '$TF/daemon.log') -gt $n ]"
}

# load.py run ARGS... from $NS_H, inside the enforced cgroup, with room
# for the file descriptors.
load_run() {
	sl_in "$NS_H" sh -c 'ulimit -n 16384 && echo $$ >"$0/cgroup.procs" && exec "$@"' "$SL_CG" \
		"$SL_PY" "$LOAD" run --target "$P4" --ctl-pid "$SL_DAEMON_PID" "$@"
}

val() { sed -n "s/^$1=//p" <<<"$output"; }

@test "load: $HELD held + $SLOW slowloris sessions; a fresh one still completes within a second; limits hold" {
	run load_run --held "$HELD" --slow "$SLOW" --slow-interval 2 --keepalive 2 \
		--fresh 5 --per-source-cap "$PER_SRC" --long-line 2000 \
		--slow-wait $((TMO * 3 + 10)) --json "$TF/load.json"
	sed 's/^/# /' <<<"$output" >&3
	[ "$status" -eq 0 ]
	# Every held session reached the relay, through TLS + AUTH to the partner.
	[ "$(val held)" -eq "$HELD" ]
	[ "$(val held_failed)" -eq 0 ]
	# Fresh sessions in the middle of it: all complete, within a second.
	[ "$(val fresh_ok)" -eq 5 ]
	awk -v m="$(val fresh_median_s)" 'BEGIN { exit !(m < 1.0) }'
	# The slowloris clients: every one cut by the per-state timeout, not
	# before it and not much after.
	[ "$(val slow_started)" -eq "$SLOW" ]
	[ "$(val slow_cut)" -eq "$SLOW" ]
	awk -v lo="$(val slow_cut_min_s)" -v hi="$(val slow_cut_max_s)" -v t="$TMO" \
		'BEGIN { exit !(lo >= t - 1 && hi <= t + 4) }'
	[[ "$(val slow_last_words)" == 421* ]] || [ -z "$(val slow_last_words)" ]
	# The per-source cap: exactly the excess refused, with 421 4.3.2.
	[ "$(val cap_ok)" -eq "$PER_SRC" ]
	[ "$(val cap_refused)" -eq 5 ]
	grep -q 'reason="too many sessions from this source"' "$TF/daemon.log"
	# An over-long line is refused, not buffered.
	[[ "$(val long_line_reply)" == "500 5.5.2 Line too long"* ]]
	# Memory: bounded per held session, and given back at the end: fds
	# exactly, RSS to within 4 MB of the idle figure (what the fresh
	# sessions' OpenSSL and the loop keep).
	awk -v k="$(val rss_per_session_kb)" 'BEGIN { exit !(k > 0 && k < 200) }'
	[ "$(val after_fds)" -le "$(val idle_fds)" ]
	[ "$(val after_rss_kb)" -lt $(( $(val idle_rss_kb) + 4096 )) ]
}

@test "load: the global cap answers 421 4.3.2 to the sessions beyond it" {
	policy "$TF/policy.yaml" 10 10
	reload_ok
	run load_run --held 15 --slow 0 --fresh 0 --keepalive 2 --sources 127.0.0.100-127.0.0.114
	sed 's/^/# /' <<<"$output" >&3
	[ "$(val held)" -eq 10 ]
	[ "$(val held_refused)" -eq 5 ]
	[[ "$(val held_refusal)" == "421 4.3.2 smtplock: too many sessions, try again later" ]]
	policy "$TF/policy.yaml" $((HELD + SLOW + PER_SRC + 50))
	reload_ok
}

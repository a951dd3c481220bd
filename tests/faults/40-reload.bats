#!/usr/bin/env bats
# 40-reload: a policy reload storm — SIGHUP 50 times a second — while mail
# is delivered.  The policy file itself changes under the storm: the
# running policy, the same with one more partner (maps change both ways),
# and an invalid one (each reload of it must change nothing); every swap
# is an atomic rename, as an editor or `smtplock domain` does it.
#
# Expected: every message delivered once, nothing in clear, sessions
# never lose their TLS contexts or secrets to a reload, and the
# controller back to its baseline fds and memory after each round.

load faults

setup_file() {
	fl_world_up
	fl_baseline
	cp "$TF/policy.yaml" "$TF/policy.a"
	{ cat "$TF/policy.a"; printf '  - domain: extra.test\n    addresses: [%s.99]\n' "$NET4"; } \
		>"$TF/policy.b"
	sed 's/^version: 1$/version: 2/' "$TF/policy.a" >"$TF/policy.c"
}

teardown_file() {
	fl_world_down
}

# The storm: 50 SIGHUPs a second (the pacing is the point of the test),
# cycling the policy file through a, b, a, c; in Python, as a shell loop
# forks too much to keep the pace on a loaded machine.  It prints how
# many signals it sent when it is told to stop (SIGTERM).
storm() {
	exec "$SL_PY" - "$1" "$TF" <<-'PY'
	import os, signal, sys, time
	pid, d = int(sys.argv[1]), sys.argv[2]
	texts = {f: open(f'{d}/policy.{f}').read() for f in 'abc'}
	n, stop = 0, []
	signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
	t = time.monotonic()
	while not stop:
	    f = 'abac'[n % 4]
	    with open(f'{d}/policy.tmp', 'w') as o:
	        o.write(texts[f])
	    os.rename(f'{d}/policy.tmp', f'{d}/policy.yaml')
	    try:
	        os.kill(pid, signal.SIGHUP)
	    except ProcessLookupError:
	        break
	    n += 1
	    t += 0.02
	    time.sleep(max(0.0, t - time.monotonic()))
	open(f'{d}/storm.count', 'a').write(f'{n}\n')
	PY
}

_n_log() { grep -c -- "$1" "$FL_LOG" || true; }
_log_gt() { [ "$(_n_log "$1")" -gt "$2" ]; }

@test "policy reload storm (SIGHUP 50/s) during delivery: all delivered, nothing in clear, no growth" {
	local r n1 ok0 bad0 spid sighups reloads=0 fails=0
	fl_fault
	for (( r = 1; r <= FL_ROUNDS; r++ )); do
		ok0=$(_n_log 'event=reload_ok')
		bad0=$(_n_log 'event=reload_failed')
		sl_bg storm "$(fl_ctl_pid)"
		spid=$SL_BG_PID
		sl_pf_send snd 10 me@sender.test doug@ntsol.test | while read -r m; do
			printf '%s\tntsol.test\treload\n' "$m" >>"$TF/sent.tsv"; done
		sl_pf_send snd 5 me@sender.test doug@hostile.test 10k | while read -r m; do
			printf '%s\thostile.test\treload\n' "$m" >>"$TF/sent.tsv"; done
		sl_pf_send snd 2 me@sender.test doug@ntsol.test 5m | while read -r m; do
			printf '%s\tntsol.test\treload\n' "$m" >>"$TF/sent.tsv"; done
		fl_deliver_all 120
		kill -TERM "$spid"
		wait_until 5 sl_gone "$spid"
		# Back to the running policy, reloaded once more for sure.
		cp "$TF/policy.a" "$TF/policy.yaml"
		n1=$(_n_log 'event=reload_ok')
		fl_ctl_hup
		wait_until 10 _log_gt 'event=reload_ok' "$n1"
		reloads=$((reloads + $(_n_log 'event=reload_ok') - ok0))
		fails=$((fails + $(_n_log 'event=reload_failed') - bad0))
		fl_round_end
	done
	sighups=$(awk '{ s += $1 } END { print s + 0 }' "$TF/storm.count")
	echo "# SIGHUPs sent: $sighups; reloads: $reloads ok, $fails refused (the invalid policy)" >&3
	fl_account reload $((reloads + fails))
	# The storm really stormed: dozens of reloads a round, both kinds.
	[ "$reloads" -ge $((FL_ROUNDS * 20)) ]
	[ "$fails" -ge "$FL_ROUNDS" ]
	# No session failed because of a reload.
	! grep -E 'direction=out .*result=(deferred|relay-error|aborted)' \
		<(awk '/event=start /{ s = 1 } s' "$FL_LOG" | grep -v 'ms=[0-9]* reason="connect to')
}

#!/usr/bin/env bats
# 50-restart: the controller restarted (stopped with SIGTERM, or killed)
# while our Postfix holds connections open to it — idle ones in Postfix's
# connection cache (kept for reuse for a minute here) and busy ones
# carrying 5 MB messages.
#
# Expected: Postfix finds its cached connections dead and its transfers
# cut, keeps the mail queued, and delivers it all after the restart; none
# in clear; the new controller at the baseline after each round.

load faults

setup_file() {
	FL_SENDER_OPTS=(smtp_connection_cache_destinations=ntsol.test,hostile.test
		smtp_connection_cache_time_limit=60s smtp_connection_reuse_time_limit=300s)
	fl_world_up
	fl_baseline
}

teardown_file() {
	fl_world_down
}

# Connections our Postfix holds to the controller's listener.
_held() {
	sl_in "$NS_H" ss -Htn state established '( dport = :10025 )' | wc -l
}
_held_ge() { [ "$(_held)" -ge "$1" ]; }
# Some connection to it has carried more than a megabyte from Postfix:
# a 5 MB message is under way.
_busy() {
	sl_in "$NS_H" ss -Htin state established '( dport = :10025 )' |
		grep -oE 'bytes_sent:[0-9]+' | awk -F: '$2 > 1000000 { f = 1 } END { exit !f }'
}

@test "controller restarted while Postfix holds cached and busy connections to it" {
	local r i how inj=0
	fl_fault
	for (( r = 1; r <= FL_ROUNDS * 2; r++ )); do
		# Idle cached connections: deliver, and Postfix keeps them.
		for i in 1 2; do fl_send restart ntsol.test >/dev/null; done
		fl_send restart hostile.test >/dev/null
		fl_deliver_all
		wait_until 10 _held_ge 1
		# Busy ones: two 5 MB messages under way.
		for i in 1 2; do fl_send restart ntsol.test 5m >/dev/null; done
		wait_until 60 _busy
		echo "# round $r: $(_held) connections held" >&3
		if (( r % 2 )); then how=TERM; fl_ctl_stop; else how=KILL; fl_ctl_kill; fi
		fl_ctl_start
		# Mail sent after the restart goes first to the dead cached
		# connections.
		fl_send restart ntsol.test >/dev/null
		fl_deliver_all 120
		fl_round_end
		inj=$((inj + 1))
	done
	fl_account restart "$inj" "$inj"
}

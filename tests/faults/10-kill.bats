#!/usr/bin/env bats
# 10-kill: the controller SIGKILLed in the middle of sessions.
#
# Each injection kills the controller while a message is on its way, then
# starts it again (the pins kept enforcement meanwhile).  Expected: our
# Postfix keeps the message queued (it lost its connection), delivers it
# after the restart, exactly once — or twice when the kill landed after
# the partner had stored the message and before its reply reached the
# sender (SMTP's at-least-once; counted as duplicated); nothing in clear
# on the partner's wire; the restarted controller back to the baseline
# fd count and memory after each round.

load faults

setup_file() {
	fl_world_up
	fl_baseline
}

teardown_file() {
	fl_world_down
}

_faulted() { [ "$(grep -c "fault $1" "$(sl_hostile_log hostile)")" -gt "$2" ]; }

# kill_at ROUND POINT [SIZE [AFTER-BYTES]]: the scripted partner stalls
# at POINT in the first session; we kill the controller there.
kill_at() {
	local r=$1 pt=$2 size=${3:-} after=${4:-0} m n
	n=$(grep -c "fault stall at $pt" "$(sl_hostile_log hostile)" || true)
	fl_fault --at "$pt" --do stall --faults 1 --after-bytes "$after"
	m=$(fl_send kill hostile.test "$size")
	wait_until 90 _faulted "stall at $pt" "$n"
	fl_ctl_kill
	# The MTA lost its connection: the message waits in its queue.
	fl_wait_deferred "$m" . 60
	fl_ctl_start
	fl_deliver_all
	fl_wait_stored "$m" 30
	fl_round_end
}

@test "controller SIGKILLed before the greeting, mid-TLS, mid-AUTH, mid-DATA (5 MB), after the final dot" {
	local r inj=0
	for (( r = 1; r <= FL_ROUNDS; r++ )); do
		kill_at "$r" connect
		kill_at "$r" tls
		kill_at "$r" auth
		kill_at "$r" body 5m 2500000
		kill_at "$r" dot
		kill_at "$r" stored
		inj=$((inj + 6))
	done
	# Only a kill after "stored" may duplicate: one copy more each.
	fl_account kill "$inj" "$FL_ROUNDS"
}

_step_gt() { [ "$(grep -c "step=$1 " "$FL_LOG")" -gt "$2" ]; }

# Random points of a real session with the real partner (Postfix): a step
# of the controller's own trace picked at random, and for the relay a
# random delay into the 5 MB transfer.
@test "controller SIGKILLed at random points of sessions with a real Postfix partner" {
	local r m n step inj=0 steps=(connect greeting ehlo starttls tls verify auth relay relay relay)
	for (( r = 1; r <= FL_ROUNDS * 3; r++ )); do
		step=${steps[RANDOM % ${#steps[@]}]}
		n=$(grep -c "step=$step " "$FL_LOG" || true)
		m=$(fl_send killrand ntsol.test 5m)
		wait_until 60 _step_gt "$step" "$n"
		# A random fraction of the transfer (the fault's timing is
		# the point here, not a wait for a condition).
		[ "$step" != relay ] || sleep "0.$((RANDOM % 10))"
		fl_ctl_kill
		fl_ctl_start
		fl_deliver_all
		fl_wait_stored "$m" 30
		fl_round_end
		inj=$((inj + 1))
	done
	fl_account killrand "$inj" "$inj"
}

#!/usr/bin/env bats
# 20-partner: the partner fails under us — it resets the connection, or
# stops answering until our per-state timeout fires — at every point of a
# TLS + AUTH session.  The scripted partner (the only kind that can be
# told where to fail) serves the retry normally.
#
# Expected: each failure ends the session with a 4xx to our Postfix (or a
# lost connection in the relay), the message stays queued and is
# delivered by the retry; nothing in clear on the wire; the controller
# (the same process throughout) back to its baseline fds and memory after
# each round.

load faults

setup_file() {
	fl_world_up
	fl_baseline
}

teardown_file() {
	fl_world_down
}

POINTS=(connect greeting tls auth mail data body dot stored)

_faulted() { [ "$(grep -c "fault $1" "$(sl_hostile_log hostile)")" -gt "$2" ]; }

# fault_at ROUND ACTION POINT: one injection; the message is delivered.
fault_at() {
	local r=$1 act=$2 pt=$3 m n size='' after=0
	[ "$pt" = body ] && { size=5m; after=2500000; }
	n=$(grep -c "fault $act at $pt" "$(sl_hostile_log hostile)" || true)
	fl_fault --at "$pt" --do "$act" --faults 1 --after-bytes "$after"
	m=$(fl_send "$act" hostile.test "$size")
	wait_until 90 _faulted "$act at $pt" "$n"
	fl_deliver_all
	fl_wait_stored "$m" 30
	fl_round_end
}

@test "partner resets the connection at every point of the session" {
	local r p inj=0
	for (( r = 1; r <= FL_ROUNDS; r++ )); do
		for p in "${POINTS[@]}"; do
			fault_at "$r" reset "$p"
			inj=$((inj + 1))
		done
	done
	# A reset after "stored" loses the 250: one copy more each round.
	fl_account reset "$inj" "$FL_ROUNDS"
	# Every reset reached us as a failure of that session, not a hang.
	[ "$(grep -c 'result=deferred\|result=relayed\|result=relay-error' "$FL_LOG")" -ge "$inj" ]
}

@test "partner stalls at every point until our timeouts fire" {
	local r p inj=0 before
	before=$(grep -c 'timeout in state\|reason="relay: idle timeout"' "$FL_LOG" || true)
	for (( r = 1; r <= FL_ROUNDS; r++ )); do
		for p in "${POINTS[@]}"; do
			fault_at "$r" stall "$p"
			inj=$((inj + 1))
		done
	done
	fl_account stall "$inj" "$FL_ROUNDS"
	# Our timeouts ended the stalls (not our Postfix's, which are minutes).
	[ "$(grep -c 'timeout in state\|reason="relay: idle timeout"' "$FL_LOG")" -ge $((before + inj)) ]
}

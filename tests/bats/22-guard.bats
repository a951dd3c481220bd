#!/usr/bin/env bats
# 22-guard: the egress guard.  A socket that escaped the redirect cannot
# send plaintext to a listed partner (dropped, counted, reported with its
# owner, destroyed); the controller's own PRE_TLS sockets may only send
# the STARTTLS preamble; testing mode counts and never drops.

load helper
load daemon

LATE=

setup() {
	sl_world_up
	LATE=$NET4.3
	sl_net_addr "$NS_P" "$LATE/24"
	sl_policy "$T/policy.yaml" <<EOF
partners:
  - domain: partner.test
    addresses: [$P4]
EOF
}

teardown() {
	sl_world_down
}

# client_bg OUT ARGS...: slsock in the test cgroup, in the background.
client_bg() {
	local out=$1; shift
	sl_in "$NS_H" sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$SL_CG" "$SLSOCK" "$@" \
		>"$out" &
	echo $! >>"$SL_BG_FILE"
	wait_until 5 grep -q 'connected=1' "$out"
}

@test "guard: a connection opened before its partner was listed cannot send MAIL FROM: dropped, counted, reported, destroyed" {
	sl_partner_listen 25 "$LATE"
	sl_daemon_start "$T/policy.yaml"
	# late.test is not listed yet: this connect goes straight to it.
	client_bg "$T/c.out" -T 5 "$LATE" 25 peer wait "$T/go" send 'MAIL FROM:<a@b>\r\n' recv
	grep -q "peer=$LATE:25" "$T/c.out"
	pid=$(sl_in "$NS_H" ss -Htnp "dst $LATE:25" | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -n1)
	[ -n "$pid" ]

	sl_policy "$T/policy.yaml" <<EOF
partners:
  - domain: partner.test
    addresses: [$P4]
  - domain: late.test
    addresses: [$LATE]
EOF
	sl_daemon_hup
	wait_until 10 sl_log_has 'event=reload_ok'
	sl_maps dst | grep -q "^$LATE id=2 domain=late.test mode=enforce"

	touch "$T/go"
	wait_until 10 grep -q '^recv' "$T/c.out"
	# The sender fails at once (sock_diag destroyed its socket).
	grep -q 'recv_err=ECONNABORTED' "$T/c.out"
	wait_until 5 sl_log_has "event=guard_drop policy=late\.test pid=$pid comm=\"slsock\" src=$H4:[0-9]+ dst=$LATE:25 reason=untagged_payload"
	sl_log_has "event=socket_destroyed policy=late\.test pid=$pid comm=\"slsock\""
	[ "$(sl_counter late.test guard_drop)" -eq 1 ]
	[ "$(sl_counter 0 guard_drop)" -eq 1 ]
	! grep -q 'MAIL FROM' "$T/partner.25"
	[ -z "$(sl_in "$NS_H" ss -Htn "dst $LATE:25")" ]
}

@test "guard: a tagged PRE_TLS socket may send EHLO but not MAIL FROM" {
	sl_partner_listen 25
	sl_daemon_start "$T/policy.yaml"
	id=$(sl_maps meta | sed -n 's/^id=\([0-9]*\) domain=partner.test .*/\1/p')
	client_bg "$T/c.out" -t pre_tls -P "$SL_PIN" -i "$id" -T 2 "$P4" 25 peer \
		send 'EHLO mail.test\r\n' wait "$T/go" send 'MAIL FROM:<a@b>\r\n'
	# Tagged: not redirected, it reaches the partner itself.
	grep -q "peer=$P4:25" "$T/c.out"
	wait_until 5 grep -q 'EHLO mail.test' "$T/partner.25"
	touch "$T/go"
	wait_until 5 sl_log_has "event=guard_drop policy=partner\.test .* dst=$P4:25 reason=pretls_verb_not_allowed"
	[ "$(sl_counter partner.test pretls_drop)" -ge 1 ]
	[ "$(sl_counter partner.test guard_pass)" -ge 1 ]	# the EHLO
	[ "$(sl_counter partner.test guard_drop)" -eq 0 ]
	[ "$(sl_counter partner.test redirected)" -eq 0 ]
	! grep -q 'MAIL FROM' "$T/partner.25"
	# Our own sockets belong to their session: never destroyed by the guard.
	! sl_log_has 'event=socket_destroyed'
}

@test "guard: STARTTLS passes PRE_TLS, and once tagged TLS the socket may send anything" {
	sl_partner_listen 25
	sl_daemon_start "$T/policy.yaml"
	run sl_client -t pre_tls -P "$SL_PIN" "$P4" 25 send 'EHLO mail.test\r\n' \
		send 'STARTTLS\r\n' tag tls send 'MAIL FROM:<after@tls>\r\n'
	[ "$status" -eq 0 ]
	[[ "$output" == *"tagged=tls"* ]]
	wait_until 5 grep -q 'MAIL FROM:<after@tls>' "$T/partner.25"
	grep -q STARTTLS "$T/partner.25"
	[ "$(sl_counter partner.test pretls_drop)" -eq 0 ]
	[ "$(sl_counter partner.test guard_pass)" -eq 3 ]
}

@test "guard: testing mode drops nothing and counts would_drop" {
	sl_policy "$T/policy.yaml" <<EOF
partners:
  - domain: partner.test
    mode: testing
    addresses: [$P4]
  - domain: late.test
    mode: testing
    addresses: [$LATE]
EOF
	sl_partner_listen 25
	sl_partner_listen 25 "$LATE"
	sl_daemon_start "$T/policy.yaml"
	# An untagged socket that is not redirected: the MTA's own (tagged
	# here only to skip the redirect), then re-tagged untagged.
	run sl_client -t pre_tls -P "$SL_PIN" "$P4" 25 tag untagged send 'MAIL FROM:<plain@test>\r\n'
	[ "$status" -eq 0 ]
	wait_until 5 grep -q 'MAIL FROM:<plain@test>' "$T/partner.25"
	# A PRE_TLS socket sending a disallowed line: also only counted.
	run sl_client -t pre_tls -P "$SL_PIN" "$LATE" 25 send 'RCPT TO:<x@late.test>\r\n'
	[ "$status" -eq 0 ]
	wait_until 5 grep -q 'RCPT TO:<x@late.test>' "$T/partner.25"
	[ "$(sl_counter partner.test would_drop)" -eq 1 ]
	[ "$(sl_counter late.test would_drop)" -eq 1 ]
	[ "$(sl_counter 0 guard_drop)" -eq 0 ]
	[ "$(sl_counter 0 pretls_drop)" -eq 0 ]
	wait_until 5 sl_log_has "event=would_drop policy=partner\.test .* reason=untagged_payload"
	sl_log_has "event=would_drop policy=late\.test .* reason=pretls_verb_not_allowed"
	! sl_log_has 'event=socket_destroyed'
	# Testing mode still redirects (the controller reports what would fail).
	run sl_client "$P4" 25 recv
	[[ "$output" == *"421 4.4.2 smtplock: partner.test"* ]]
}

#!/usr/bin/env bats
# 20-redirect: connect() to a listed partner is steered to the controller,
# which learns the original destination; the MTA's getpeername() shows the
# partner; everything else goes direct.  An invalid policy attaches nothing.

load helper
load daemon

setup() {
	sl_world_up
	sl_policy "$T/policy.yaml" <<EOF
partners:
  - domain: partner.test
    addresses: [$P4, "$P6"]
EOF
}

teardown() {
	sl_world_down
}

@test "run: an invalid policy prints FILE:LINE:COL, exits 1 and attaches nothing" {
	cat >"$T/bad.yaml" <<EOF
version: 1
controller:
  hostname: mail.test
  cgroup: $SL_CG
  pin_path: $SL_PIN
  no_such_key: 1
partners:
  - domain: partner.test
    addresses: [$P4]
EOF
	run sl_in "$NS_H" "$SL" run -c "$T/bad.yaml" --foreground
	[ "$status" -eq 1 ]
	[[ "$output" == *"$T/bad.yaml:6:3:"* ]]
	[ ! -e "$SL_PIN/link_connect4" ]
	[ ! -e "$SL_PIN/link_egress" ]
	# Nothing steers: the partner is reached directly.
	sl_partner_listen 25
	run sl_client "$P4" 25 peer send 'hello\r\n'
	[ "$status" -eq 0 ]
	[[ "$output" == *"peer=$P4:25"* ]]
	wait_until 5 grep -q hello "$T/partner.25"
}

@test "redirect: IPv4 connect to a listed partner reaches the controller, getpeername shows the partner" {
	sl_partner_listen 25
	sl_daemon_start "$T/policy.yaml"
	run sl_client "$P4" 25 peer local recv
	[ "$status" -eq 0 ]
	[[ "$output" == *"peer=$P4:25"* ]]			# what the MTA logs
	[[ "$output" == *"local=127.0.0.1:"* ]]		# it really talks to us
	[[ "$output" == *'recv="421 4.4.2 smtplock: partner.test: timeout in state greeting\r\n"'* ]]
	wait_until 5 sl_log_has "event=accept session=[0-9]+ peer=127\.0\.0\.1:[0-9]+ orig=$P4:25 domain=partner\.test"
	sl_log_has "direction=out domain=partner\.test .*addr=$P4:25 .*result=deferred"
	[ ! -s "$T/partner.25" ]				# the partner saw nothing
	[ "$(sl_counter partner.test redirected)" -eq 1 ]
	[ "$(sl_counter 0 redirected)" -eq 1 ]
}

@test "redirect: IPv6 connect to a listed partner reaches the controller, getpeername shows the partner" {
	sl_partner_listen 25 "$P6"
	sl_daemon_start "$T/policy.yaml"
	run sl_client "$P6" 25 peer local recv
	[ "$status" -eq 0 ]
	[[ "$output" == *"peer=[$P6]:25"* ]]
	[[ "$output" == *"local=[::1]:"* ]]
	[[ "$output" == *"421 4.4.2 smtplock: partner.test"* ]]
	wait_until 5 sl_log_has "event=accept .* orig=\[$P6\]:25 domain=partner\.test"
	[ ! -s "$T/partner.25" ]
	[ "$(sl_counter partner.test redirected)" -eq 1 ]
}

@test "redirect: an IPv6 socket to an IPv4-mapped listed address reaches the IPv4 listener" {
	sl_partner_listen 25
	sl_daemon_start "$T/policy.yaml"
	run sl_client -6 "::ffff:$P4" 25 peer local recv
	[ "$status" -eq 0 ]
	[[ "$output" == *"peer=[::ffff:$P4]:25"* ]]
	[[ "$output" == *"local=[::ffff:127.0.0.1]:"* ]]
	[[ "$output" == *"421 4.4.2 smtplock: partner.test"* ]]
	wait_until 5 sl_log_has "event=accept .* orig=$P4:25 domain=partner\.test"
	[ ! -s "$T/partner.25" ]
}

@test "redirect: unlisted addresses and unlisted ports go direct" {
	sl_net_addr "$NS_P" "$NET4.3/24"
	sl_partner_listen 2525
	sl_partner_listen 25 "$NET4.3"
	sl_daemon_start "$T/policy.yaml"
	run sl_client "$P4" 2525 peer send 'port 2525\r\n'
	[ "$status" -eq 0 ]
	[[ "$output" == *"peer=$P4:2525"* ]]
	run sl_client "$NET4.3" 25 peer send 'unlisted address\r\n'
	[ "$status" -eq 0 ]
	[[ "$output" == *"peer=$NET4.3:25"* ]]
	wait_until 5 grep -q 'port 2525' "$T/partner.2525"
	wait_until 5 grep -q 'unlisted address' "$T/partner.25"
	[ "$(sl_counter 0 redirected)" -eq 0 ]
	[ "$(sl_counter 0 guard_drop)" -eq 0 ]
	! sl_log_has 'event=accept '
}

@test "redirect: the controller publishes its listeners in sl_config" {
	sl_daemon_start "$T/policy.yaml"
	run sl_maps config
	[ "$status" -eq 0 ]
	[[ "$output" == *"listen4=127.0.0.1:10025"* ]]
	[[ "$output" == *"listen6=[::1]:10025"* ]]
	run sl_maps dst
	[[ "$output" == *"$P4 id=1 domain=partner.test mode=enforce ports=25"* ]]
	[[ "$output" == *"$P6 id=1 domain=partner.test mode=enforce ports=25"* ]]
}

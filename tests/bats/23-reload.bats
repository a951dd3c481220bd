#!/usr/bin/env bats
# 23-reload: SIGHUP applies a changed partner list to the maps, adding
# before removing, with stable ids; an invalid policy changes nothing.

load helper
load daemon

A2= B= C=

setup() {
	sl_world_up
	A2=$NET4.4 B=$NET4.3 C=$NET4.5
	for a in $A2 $B $C; do sl_net_addr "$NS_P" "$a/24"; done
	sl_policy "$T/policy.yaml" <<EOF
partners:
  - domain: a.test
    addresses: [$P4]
  - domain: b.test
    addresses: [$B]
EOF
}

teardown() {
	sl_world_down
}

@test "reload: a changed partner list updates the maps add-before-remove, ids stay stable" {
	sl_daemon_start "$T/policy.yaml"
	run sl_maps dst
	[ "${lines[0]}" = "$P4 id=1 domain=a.test mode=enforce ports=25" ]
	[ "${lines[1]}" = "$B id=2 domain=b.test mode=enforce ports=25" ]
	[ "${#lines[@]}" -eq 2 ]
	run sl_client "$B" 25 recv		# b.test is redirected
	[[ "$output" == *"421 4.4.2 smtplock: b.test"* ]]

	# Sample the map while the reload runs: a.test's address must never
	# be missing, and the new entries appear before the old one goes.
	( while [ ! -e "$T/stop" ]; do sl_maps dst | tr '\n' '|'; echo; done >"$T/samples" ) &
	echo $! >>"$SL_BG_FILE"
	sl_policy "$T/policy.yaml" <<EOF
partners:
  - domain: a.test
    addresses: [$P4, $A2]
    ports: [25, 587]
  - domain: c.test
    addresses: [$C]
EOF
	sl_daemon_hup
	wait_until 10 sl_log_has 'event=reload_ok'
	touch "$T/stop"
	wait_until 10 sl_log_has 'event=maps_synced dst=3 src=0 added=2 updated=1 removed=1 partners_added=1 partners_removed=1 phase=full'

	run sl_maps dst
	[ "${lines[0]}" = "$P4 id=1 domain=a.test mode=enforce ports=25,587" ]
	[ "${lines[1]}" = "$A2 id=1 domain=a.test mode=enforce ports=25,587" ]
	[ "${lines[2]}" = "$C id=3 domain=c.test mode=enforce ports=25" ]	# a fresh id, not b's
	[ "${#lines[@]}" -eq 3 ]
	run sl_maps meta
	[[ "$output" != *"b.test"* ]]
	[[ "$output" == *"id=3 domain=c.test"* ]]
	# No sample lost a.test; none had b.test without ... c.test being absent
	# only before the reload, i.e. no sample lacks both b.test and c.test.
	! grep -v "$P4 id=1 domain=a.test" "$T/samples" | grep -q .
	! grep -v 'domain=b.test' "$T/samples" | grep -v 'domain=c.test' | grep -q .
	sl_log_has 'event=partner_removed domain=b.test id=2'

	run sl_client "$B" 25 send 'x\r\n'	# b.test is no longer steered
	[[ "$output" == *"connect_err=ECONNREFUSED"* ]]
	run sl_client "$C" 25 recv
	[[ "$output" == *"421 4.4.2 smtplock: c.test"* ]]
	run sl_client "$A2" 587 recv
	[[ "$output" == *"421 4.4.2 smtplock: a.test"* ]]
}

@test "reload: an invalid policy changes nothing and is logged with FILE:LINE:COL" {
	sl_daemon_start "$T/policy.yaml"
	before=$(sl_maps dst)
	cat >"$T/policy.yaml" <<EOF
version: 1
controller:
  hostname: mail.test
  cgroup: $SL_CG
  pin_path: $SL_PIN
partners:
  - domain: a.test
    mode: sometimes
EOF
	sl_daemon_hup
	wait_until 10 sl_log_has 'event=reload_failed .* action=kept_old'
	sl_log_has "event=policy_error where=$T/policy.yaml:8:11 class=[a-z_]+ msg=\".*sometimes"
	sl_daemon_alive
	[ "$(sl_maps dst)" = "$before" ]
	run sl_client "$P4" 25 recv
	[[ "$output" == *"421 4.4.2 smtplock: a.test"* ]]
}

@test "reload: the strictest policy wins for an address two partners share" {
	sl_policy "$T/policy.yaml" <<EOF
partners:
  - domain: loose.test
    mode: testing
    addresses: ["$NET4.0/24"]
    ports: [2525]
  - domain: strict.test
    addresses: [$P4]
    tls: { min_version: "1.3" }
  - domain: lesser.test
    addresses: [$P4]
EOF
	sl_daemon_start "$T/policy.yaml"
	run sl_maps dst
	# The /32 belongs to strict.test (enforce, TLS 1.3) and guards the
	# ports of every partner listing it; the /24 stays loose.test's.
	[[ "$output" == *"$P4 id=2 domain=strict.test mode=enforce ports=25,2525"* ]]
	[[ "$output" == *"$NET4.0/24 id=1 domain=loose.test mode=testing ports=2525"* ]]
	run sl_client "$P4" 2525 recv
	[[ "$output" == *"421 4.4.2 smtplock: strict.test"* ]]
}

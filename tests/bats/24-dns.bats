#!/usr/bin/env bats
# 24-dns: partners without fixed addresses are resolved (MX, then A and
# AAAA; no MX = the domain itself), refreshed with their TTL, and a failed
# refresh keeps the last good addresses: a partner never silently falls
# out of enforcement.

load helper
load daemon
load lib/dns

MX1_4= MX1_6= NOMX_4=

setup() {
	sl_world_up
	MX1_4=$NET4.6 MX1_6=${NET6}6 NOMX_4=$NET4.7
	# The test bed's dnsmasq in the partners' namespace, TTL 1 s.
	sl_dns_init
	sl_dns_mx dns.test mx1.dns.test 10
	sl_dns_addr mx1.dns.test "$MX1_4" "$MX1_6"
	sl_dns_addr nomx.test "$NOMX_4"
	sl_dns_ttl 1
	sl_dns_start
	sl_policy "$T/policy.yaml" <<EOF
partners:
  - domain: dns.test
  - domain: nomx.test
EOF
}

teardown() {
	sl_dns_stop
	sl_world_down
}

@test "dns: MX, A and AAAA fill dst_policy; the MX name is kept for the session" {
	sl_daemon_start "$T/policy.yaml"
	wait_until 15 sl_log_has 'event=dns_resolved domain=dns.test mx=mx1.dns.test addresses=2 ttl=1 '
	wait_until 15 sl_log_has 'event=dns_resolved domain=nomx.test mx=nomx.test addresses=1 .*implicit_mx=1'
	wait_until 10 sl_log_has 'event=maps_synced .* phase=full'
	run sl_maps dst
	[[ "$output" == *"$MX1_4 id=1 domain=dns.test mode=enforce ports=25"* ]]
	[[ "$output" == *"$MX1_6 id=1 domain=dns.test mode=enforce ports=25"* ]]
	[[ "$output" == *"$NOMX_4 id=2 domain=nomx.test mode=enforce ports=25"* ]]
	[ "${#lines[@]}" -eq 3 ]
	run sl_client "$MX1_6" 25 recv
	[[ "$output" == *"421 4.4.2 smtplock: dns.test"* ]]
	wait_until 5 sl_log_has "event=accept .* orig=\[$MX1_6\]:25 domain=dns\.test mx=mx1\.dns\.test"
}

@test "dns: a failed refresh keeps the last good addresses" {
	sl_daemon_start "$T/policy.yaml"
	wait_until 15 sl_log_has 'event=dns_resolved domain=dns.test mx=mx1.dns.test addresses=2'
	wait_until 10 sl_log_has 'event=maps_synced .* phase=full'
	before=$(sl_maps dst)
	sl_dns_mode down
	# TTL 1 s: the next refresh (at the 5 s floor) fails...
	wait_until 20 sl_log_has 'event=dns_failed domain=dns.test err=.* kept=2 retry_ms=[0-9]+'
	wait_until 20 sl_log_has 'event=dns_failed domain=nomx.test err=.* kept=1 retry_ms=[0-9]+'
	# ... and nothing fell out of the maps or of enforcement.
	[ "$(sl_maps dst)" = "$before" ]
	run sl_client "$MX1_4" 25 recv
	[[ "$output" == *"421 4.4.2 smtplock: dns.test"* ]]
	sl_log_has "event=accept .* orig=$MX1_4:25 domain=dns\.test mx=mx1\.dns\.test"
}

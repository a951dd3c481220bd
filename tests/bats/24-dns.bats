#!/usr/bin/env bats
# 24-dns: partners without fixed addresses are resolved (MX, then A and
# AAAA; no MX = the domain itself), refreshed with their TTL, and a failed
# refresh keeps the last good addresses: a partner never silently falls
# out of enforcement.

load helper
load daemon

MX1_4= MX1_6= NOMX_4=

setup() {
	sl_world_up
	MX1_4=$NET4.6 MX1_6=${NET6}6 NOMX_4=$NET4.7
	command -v dnsmasq >/dev/null || sl_skip "dnsmasq not installed"
	# A resolver of our own in the partners' namespace, TTL 1 s; --local:
	# answer from local data only (a name without MX gets NODATA).
	sl_nsbg "$NS_P" dnsmasq --keep-in-foreground --no-resolv --no-hosts --bind-interfaces \
		--listen-address="$P4" --port=53 --pid-file= --user=root --local-ttl=1 \
		--log-queries --log-facility="$T/dnsmasq.log" \
		--local=/test/ \
		--mx-host=dns.test,mx1.dns.test,10 \
		--host-record="mx1.dns.test,$MX1_4,$MX1_6" \
		--host-record="nomx.test,$NOMX_4"
	DNS_PID=$SL_BG_PID
	wait_until 10 sl_in "$NS_P" sh -c "ss -Hlun 'sport = :53' | grep -q ."
	printf 'nameserver %s\noptions timeout:1 attempts:1\n' "$P4" >"$T/resolv.conf"
	sl_policy "$T/policy.yaml" <<EOF
partners:
  - domain: dns.test
  - domain: nomx.test
EOF
}

teardown() {
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
	[[ "$output" == *"421 4.3.0 smtplock: dns.test"* ]]
	wait_until 5 sl_log_has "event=accept .* orig=\[$MX1_6\]:25 domain=dns\.test mx=mx1\.dns\.test"
	grep -q 'query\[MX\] dns.test' "$T/dnsmasq.log"
}

@test "dns: a failed refresh keeps the last good addresses" {
	sl_daemon_start "$T/policy.yaml"
	wait_until 15 sl_log_has 'event=dns_resolved domain=dns.test mx=mx1.dns.test addresses=2'
	wait_until 10 sl_log_has 'event=maps_synced .* phase=full'
	before=$(sl_maps dst)
	kill "$DNS_PID"
	wait_until 10 sl_gone "$DNS_PID"
	# TTL 1 s: the next refresh (at the 5 s floor) fails...
	wait_until 20 sl_log_has 'event=dns_failed domain=dns.test err=.* kept=2 retry_ms=[0-9]+'
	wait_until 20 sl_log_has 'event=dns_failed domain=nomx.test err=.* kept=1 retry_ms=[0-9]+'
	# ... and nothing fell out of the maps or of enforcement.
	[ "$(sl_maps dst)" = "$before" ]
	run sl_client "$MX1_4" 25 recv
	[[ "$output" == *"421 4.3.0 smtplock: dns.test"* ]]
	sl_log_has "event=accept .* orig=$MX1_4:25 domain=dns\.test mx=mx1\.dns\.test"
}

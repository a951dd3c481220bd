#!/usr/bin/env bats
# 25-inbound: the kernel half of the inbound lock.  sk_lookup steers SYNs
# from a partner's sources to local port 25 to the controller's inbound
# listener; everybody else reaches the local MTA untouched; with no
# listener, partner connections are refused in enforce mode (sk_lookup's
# SK_DROP fails the listener lookup, TCP answers with a reset: the partner
# defers and retries later) and let through, counted, in testing mode.

load helper
load daemon

OTHER=

setup() {
	sl_world_up
	OTHER=$NET4.9
	sl_net_addr "$NS_P" "$OTHER/24"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/key.pem" -out "$T/cert.pem" -subj /CN=mail.test -days 2 2>/dev/null
	# The local MTA: a banner on port 25 of the host.
	sl_nsbg "$NS_H" socat "TCP-LISTEN:25,bind=$H4,reuseaddr,fork" 'SYSTEM:echo 220 local-mta'
	wait_until 5 sl_in "$NS_H" sh -c "ss -Hltn 'sport = :25' | grep -q ."
	write_policy enforce
}

teardown() {
	sl_world_down
}

write_policy() {
	sl_policy "$T/policy.yaml" <<EOF
partners:
  - domain: in.test
    direction: inbound
    mode: $1
    inbound:
      sources: [$P4, "$P6"]
      require: [tls]
inbound:
  listen: ${2:-127.0.0.1:10026}
  backend: $H4:25
  cert: $T/cert.pem
  key: $T/key.pem
EOF
}

# from SRC: connect from the partners' namespace to the host's port 25.
from() {
	local src=$1 dst=$H4; shift
	case $src in *:*) dst=$H6 ;; esac
	sl_in "$NS_P" "$SLSOCK" -T 2 -b "$src" "$dst" 25 "$@"
}

@test "inbound: a partner source is steered to the inbound listener, others reach the local MTA" {
	sl_daemon_start "$T/policy.yaml"
	sl_maps src | grep -q "^$P4 id=1 domain=in.test mode=enforce"
	run from "$P4" recv
	[ "$status" -eq 0 ]
	[[ "$output" == *'recv="220 mail.test ESMTP smtplock\r\n"'* ]]
	wait_until 5 sl_log_has "event=inbound_accept session=[0-9]+ peer=$P4:[0-9]+ domain=in\.test"
	run from "$OTHER" recv
	[ "$status" -eq 0 ]
	[[ "$output" == *'recv="220 local-mta\n"'* ]]
	[ "$(sl_counter in.test inbound_steered)" -eq 1 ]
	[ "$(sl_counter 0 inbound_steered)" -eq 1 ]
}

@test "inbound: controller stopped: partner connections are refused (enforce), others still reach the MTA" {
	sl_daemon_start "$T/policy.yaml"
	sl_daemon_stop
	run from "$P4" recv
	[ "$status" -eq 3 ]
	[[ "$output" == *"connect_err=ECONNREFUSED"* ]]	# never the local MTA in plaintext
	[ "$(sl_counter in.test inbound_refused)" -ge 1 ]
	run from "$OTHER" recv
	[[ "$output" == *'recv="220 local-mta\n"'* ]]
}

@test "inbound: testing mode with no listener lets the partner through and counts it" {
	write_policy testing
	sl_daemon_start "$T/policy.yaml"
	sl_daemon_stop
	run from "$P4" recv
	[ "$status" -eq 0 ]
	[[ "$output" == *'recv="220 local-mta\n"'* ]]
	[ "$(sl_counter in.test would_drop)" -ge 1 ]
	[ "$(sl_counter in.test inbound_refused)" -eq 0 ]
}

@test "inbound: a [::] inbound listener takes both families; an IPv4 one refuses IPv6 partners" {
	sl_daemon_start "$T/policy.yaml"
	sl_log_has 'event=inbound_steering port=25 ipv4=yes ipv6=refused'
	run from "$P6" recv		# IPv4-only listener: IPv6 partner refused
	[[ "$output" == *"connect_err=ECONNREFUSED"* ]]
	sl_daemon_stop
	write_policy enforce '"[::]:10026"'
	sl_daemon_start "$T/policy.yaml"
	sl_log_has 'event=inbound_steering port=25 ipv4=yes ipv6=yes'
	run from "$P6" recv
	[[ "$output" == *"220 mail.test ESMTP smtplock"* ]]
	run from "$P4" recv
	[[ "$output" == *"220 mail.test ESMTP smtplock"* ]]
	wait_until 5 sl_log_has "event=inbound_accept .* peer=\[$P6\]:[0-9]+ domain=in\.test"
	sl_log_has "event=inbound_accept .* peer=$P4:[0-9]+ domain=in\.test"
}

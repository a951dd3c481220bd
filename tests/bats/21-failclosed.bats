#!/usr/bin/env bats
# 21-failclosed: enforcement outlives the controller.  Stopped with its
# pins kept, connects to listed partners are refused and the guard still
# drops plaintext; a new run adopts the pins without a gap.

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

# Payload-carrying TCP segments to port 25 in a capture file.
payload_packets_25() {
	tshark -r "$1" -Y 'tcp.len > 0 && tcp.dstport == 25' -T fields -e frame.number 2>/dev/null | wc -l
}

@test "fail closed: controller stopped, pins kept: connect refused, zero payload on the partner's wire" {
	sl_partner_listen 25
	sl_partner_listen 2525
	# A connection made before anything was attached (the pre-existing case).
	sl_in "$NS_H" sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$SL_CG" \
		"$SLSOCK" -T 3 "$P4" 25 wait "$T/go" send 'MAIL FROM:<old@test>\r\n' recv \
		>"$T/old.out" &
	echo $! >>"$SL_BG_FILE"
	wait_until 5 grep -q connected=1 "$T/old.out"

	sl_daemon_start "$T/policy.yaml"
	sl_daemon_stop
	[ -e "$SL_PIN/link_connect4" ]
	[ -e "$SL_PIN/link_egress" ]
	[ -e "$SL_PIN/dst_policy" ]

	sl_capture_start "$NS_P" "$VETH_P" "$T/cap.pcap"
	run sl_client "$P4" 25 send 'MAIL FROM:<new@test>\r\n'
	[ "$status" -eq 3 ]
	[[ "$output" == *"connect_err=ECONNREFUSED"* ]]
	run sl_client "$P6" 25 send 'MAIL FROM:<new6@test>\r\n'
	[ "$status" -eq 3 ]
	[[ "$output" == *"connect_err=ECONNREFUSED"* ]]
	touch "$T/go"
	wait_until 10 grep -q 'recv' "$T/old.out"
	# Positive control: the capture does see plaintext to unlisted ports.
	run sl_client "$P4" 2525 send 'control\r\n'
	[ "$status" -eq 0 ]
	wait_until 5 grep -q control "$T/partner.2525"
	sl_capture_stop

	sl_capture_has_text "$T/cap.pcap" 'control'
	[ "$(payload_packets_25 "$T/cap.pcap")" -eq 0 ]
	! sl_capture_has_text "$T/cap.pcap" 'MAIL FROM'
	! grep -q 'MAIL FROM' "$T/partner.25"
	[ "$(sl_counter partner.test guard_drop)" -ge 1 ]
	[ "$(sl_counter partner.test redirected)" -eq 2 ]
}

@test "fail closed: a new run adopts the pins: the same links switch to the new programs" {
	sl_daemon_start "$T/policy.yaml"
	sl_log_has 'event=attached .* adopted=0'
	run sl_client "$P4" 25 recv
	[[ "$output" == *"421 4.4.2 smtplock"* ]]
	link_before=$(bpftool -j link show pinned "$SL_PIN/link_egress" | jq .id)
	prog_before=$(bpftool -j link show pinned "$SL_PIN/link_egress" | jq .prog_id)
	sl_daemon_stop

	sl_daemon_start "$T/policy.yaml"
	sl_log_has 'event=attached .* links=7 adopted=7'
	link_after=$(bpftool -j link show pinned "$SL_PIN/link_egress" | jq .id)
	prog_after=$(bpftool -j link show pinned "$SL_PIN/link_egress" | jq .prog_id)
	[ "$link_before" = "$link_after" ]		# the link was updated, not replaced
	[ "$prog_before" != "$prog_after" ]		# ... to the new program
	# The maps were reused: the counter of the first run is still there.
	[ "$(sl_counter partner.test redirected)" -eq 1 ]
	run sl_client "$P4" 25 recv
	[[ "$output" == *"421 4.4.2 smtplock"* ]]
	[ "$(sl_counter partner.test redirected)" -eq 2 ]
	sl_maps meta | grep -q 'id=1 domain=partner.test'
}

@test "fail closed: listed destination with no listener configured is refused, never direct" {
	sl_partner_listen 25
	sl_daemon_start "$T/policy.yaml"
	sl_daemon_stop
	# Simulate a config without listeners (what a half-written start would leave).
	bpftool map update pinned "$SL_PIN/sl_config" key 0 0 0 0 value $(printf '0 %.0s' $(seq 48))
	run sl_client "$P4" 25 send 'MAIL FROM:<a@b>\r\n'
	[ "$status" -eq 3 ]
	[[ "$output" == *"connect_err=EPERM"* ]]
	[ "$(sl_counter partner.test connect_refused)" -eq 1 ]
	[ ! -s "$T/partner.25" ]
}

#!/usr/bin/env bats
# 61-starttls-inbound: the STARTTLS attack classes from the server side —
# what a man in the middle (or a broken partner) sends our inbound
# listener: commands pipelined after STARTTLS in the same segment
# (CVE-2011-0411, "buffered plaintext at the switch"), plaintext where the
# ClientHello should be, mail and AUTH before TLS.
#
# The partner is a scripted client (lib/smtp_client.py) from the partner's
# source address; our side is a real Postfix behind smtplock (PROXY v2 on
# 127.0.0.1:10027).  Each attack: refused with the right reply, nothing
# reaches our Postfix — a capture of the backend leg holds no byte — and
# the control case (the same client doing it right) does reach it.

load helper
load daemon
load lib/pki
load lib/postfix
load lib/capture

CLIENT=$ROOT/tests/bats/lib/smtp_client.py
PASS_IN='In-b0und pass'

setup_file() {
	sl_require_root
	sl_net_up
	sl_cg_up
	rm -rf "$SL_PIN"
	export TF=$BATS_FILE_TMPDIR
	sl_pki_init
	sl_pki_server ours-tls ca mx.our.test
	sl_pf_receiver ours our.test
	sl_pf_start ours
	local hash
	hash=$(printf '%s\n' "$PASS_IN" | "$SL" passwd --sha512)
	cat >"$TF/policy.yaml" <<-EOF
	version: 1
	controller:
	  hostname: mx.our.test
	  listen: [127.0.0.1:10025]
	  cgroup: $SL_CG
	  pin_path: $SL_PIN
	  control_socket: $SL_CTL
	  limits: { timeout: 5s }
	defaults:
	  tls: { verify: none }
	partners:
	  - domain: ntsol.test
	    direction: inbound
	    inbound:
	      sources: [$P4/32]
	      require: [tls, auth]
	      accounts: [{ username: NTSOL, password_hash: "$hash" }]
	inbound:
	  listen: "[::]:10026"
	  backend: 127.0.0.1:10027
	  announce: proxy-v2
	  cert: $SL_PKI/ours-tls.pem
	  key: $SL_PKI/ours-tls.key
	EOF
	sl_file_daemon_start "$TF/policy.yaml"
}

teardown_file() {
	sl_file_daemon_stop
	sl_pf_world_down
}

setup() {
	sl_tmp
	sl_file_daemon
	# The backend leg (controller → our Postfix) and the partner's wire.
	sl_capture_start "$NS_H" lo "$T/backend.pcap" 'tcp port 10027'
	BACKEND_CAP=$SL_CAPTURE_PID
	sl_capture_start "$NS_P" "$VETH_P" "$T/wire.pcap"
}

teardown() {
	sl_capture_stop
	SL_CAPTURE_PID=$BACKEND_CAP sl_capture_stop
	[ -n "${SL_KEEP:-}" ] || rm -rf "$T"
}

client() {
	sl_in "$NS_P" /usr/bin/python3 "$CLIENT" --connect "$H4" --bind "$P4" \
		--ca "$SL_PKI/ca.crt" --pass "$PASS_IN" "$@"
}

# backend_quiet: not one byte went to our Postfix.
backend_quiet() {
	sl_capture_stop
	SL_CAPTURE_PID=$BACKEND_CAP sl_capture_stop
	BACKEND_CAP=
	[ "$(sl_capture_bytes "$T/backend.pcap")" -eq 0 ]
}

@test "inbound starttls: control — STARTTLS, TLS, AUTH, a message: it reaches our Postfix" {
	local m=SLMctl$RANDOM
	run client --do good --marker "$m"
	echo "$output" | sed 's/^/# /' >&3
	[[ "$output" == *"* tls TLSv1.3"* ]]
	[[ "$output" == *"S: 235 "* ]]
	sl_pf_wait_marker ours "$m" 30
	sl_capture_stop
	SL_CAPTURE_PID=$BACKEND_CAP sl_capture_stop
	BACKEND_CAP=
	[ "$(sl_capture_bytes "$T/backend.pcap")" -gt 0 ]
	[ "$(sl_capture_count "$T/wire.pcap" "$m")" -eq 0 ]
}

@test "inbound starttls: MAIL pipelined after STARTTLS in one segment → 554, no TLS, nothing to our Postfix" {
	run client --do pipelined
	echo "$output" | sed 's/^/# /' >&3
	[[ "$output" == *"S: 554 5.5.0 "*"pipelined after STARTTLS"* ]]
	[[ "$output" != *"S: 220 2.0.0 Ready to start TLS"* ]]
	[[ "$output" == *"* closed"* ]]
	backend_quiet
	wait_until 5 grep -q 'direction=in domain=ntsol.test .*result=refused .*reason="commands pipelined after STARTTLS"' "$TF/daemon.log"
}

@test "inbound starttls: plaintext where the ClientHello should be → the handshake fails, nothing to our Postfix" {
	run client --do plain-after-220
	echo "$output" | sed 's/^/# /' >&3
	[[ "$output" == *"S: 220 2.0.0 Ready to start TLS"* ]]
	# No SMTP reply to the plaintext MAIL: it was never read as a command.
	[ "$(grep -c '^S: ' <<<"$output")" -eq 5 ]
	[[ "$output" == *"* closed"* ]]
	backend_quiet
	wait_until 5 grep -q 'direction=in domain=ntsol.test .*tls=- .*result=' "$TF/daemon.log"
}

@test "inbound starttls: MAIL, RCPT, DATA and AUTH before TLS → 530 each, nothing to our Postfix" {
	run client --do before-tls
	echo "$output" | sed 's/^/# /' >&3
	[ "$(grep -c 'S: 530 5.7.0 Must issue a STARTTLS command first' <<<"$output")" -eq 4 ]
	# Nothing that carries mail is offered before TLS.
	! grep -Eq 'S: 250[- ](AUTH|PIPELINING|CHUNKING)' <<<"$output"
	backend_quiet
}

#!/usr/bin/env bats
# 60-starttls: the STARTTLS attack classes against the outbound lock — the
# "NO STARTTLS" study (Poddebniak et al., USENIX Security 2021) and
# CVE-2011-0411 — each played by a scripted partner (lib/partner.bash) in
# front of our stock Postfix.  (30-outbound has the plain "250 after the
# STARTTLS 220" injection; these extend it.)
#
# Each test: the message stays in our Postfix's queue with a 4.7.x reason,
# the partner stored nothing it should not have, and the capture of the
# partner's wire holds no byte of mail in clear (tests/faults/wire.py: no
# MAIL, RCPT, DATA, AUTH or message line outside TLS) and not the marker.

load helper
load daemon
load lib/pki
load lib/dns
load lib/postfix
load lib/partner
load lib/capture

WIRE=$ROOT/tests/faults/wire.py
A_PRE=$NET4.60
A_PRE2=$NET4.61
A_AUTH=$NET4.62
A_LATE=$NET4.63
A_NOTLS=$NET4.64
A_ONCE=$NET4.65

setup_file() {
	sl_require_root
	sl_net_up
	sl_cg_up
	rm -rf "$SL_PIN"
	export TF=$BATS_FILE_TMPDIR
	local a d
	for a in $A_PRE $A_PRE2 $A_AUTH $A_LATE $A_NOTLS $A_ONCE; do
		sl_net_addr "$NS_P" "$a/24"
	done
	sl_pki_init
	sl_dns_init
	for d in pre:$A_PRE pre2:$A_PRE2 auth:$A_AUTH late:$A_LATE notls:$A_NOTLS once:$A_ONCE; do
		sl_dns_mx "${d%%:*}.test" "mx.${d%%:*}.test"
		sl_dns_addr "mx.${d%%:*}.test" "${d#*:}"
	done
	sl_dns_start
	# Before STARTTLS: a "220" that would start our handshake early, and
	# an EHLO-shaped reply.
	sl_hostile_start pre "$A_PRE" --host mx.pre.test --mode inject-pre \
		--inject '220 2.0.0 go ahead\r\n'
	sl_hostile_start pre2 "$A_PRE2" --host mx.pre2.test --mode inject-pre \
		--inject '250-mx.pre2.test\r\n250 AUTH PLAIN\r\n'
	# After the STARTTLS 220, in the same segment: a whole fake session
	# (EHLO, AUTH accepted, MAIL accepted) for a client that would read
	# it after the handshake.
	sl_hostile_start auth "$A_AUTH" --host mx.auth.test --mode inject \
		--inject '250-mx.auth.test\r\n250 AUTH PLAIN\r\n235 2.7.0 Authentication successful\r\n250 2.1.0 Ok\r\n'
	# After the 220, a moment later: in flight when our handshake starts.
	sl_hostile_start late "$A_LATE" --host mx.late.test --mode inject-late \
		--inject '250 2.0.0 injected\r\n'
	sl_hostile_start notls "$A_NOTLS" --host mx.notls.test --mode notls
	sl_hostile_start once "$A_ONCE" --host mx.once.test --mode starttls-once
	sl_pf_sender snd
	sl_pf_start snd

	printf '%s\n' "$SL_PF_PASS" >"$TF/pass"
	chmod 600 "$TF/pass"
	{
		cat <<-EOF
		version: 1
		controller:
		  hostname: mail.sender.test
		  listen: [127.0.0.1:10025, "[::1]:10025"]
		  cgroup: $SL_CG
		  pin_path: $SL_PIN
		  control_socket: $SL_CTL
		  limits: { timeout: 3s }
		defaults:
		  tls: { min_version: "1.2", verify: ca, ca_file: $SL_PKI/ca.crt }
		partners:
		EOF
		for d in pre pre2 auth late notls once; do
			printf '  - domain: %s.test\n    auth: { username: smtplock, password_file: %s }\n' \
				"$d" "$TF/pass"
		done
	} >"$TF/policy.yaml"
	sl_file_daemon_start "$TF/policy.yaml"
}

teardown_file() {
	sl_file_daemon_stop
	local n
	for n in pre pre2 auth late notls once; do sl_hostile_stop "$n"; done
	sl_pf_world_down
}

setup() {
	sl_tmp
	sl_file_daemon
	sl_pf_purge snd
}

teardown() {
	sl_capture_stop
	[ -n "${SL_KEEP:-}" ] || rm -rf "$T"
}

# no_mail_in_clear PCAP MARKER...: the capture has our controller's
# traffic and not one byte of mail outside TLS.
no_mail_in_clear() {
	local f=$1 out; shift
	sl_capture_clean "$f" "$@"
	out=$(/usr/bin/python3 "$WIRE" "$f" "$@")
	grep -q '^plaintext_bytes=0$' <<<"$out" && grep -q '^markers_in_clear=0$' <<<"$out" || {
		echo "$out" >&2; return 1; }
}

# refused DOMAIN ERE: a message to DOMAIN waits in our queue with a reason
# matching ERE; the partner stored nothing; nothing in clear.
refused() {
	local d=$1 ere=$2 m
	sl_capture_start "$NS_P" "$VETH_P" "$T/cap.pcap"
	m=$(sl_pf_send snd 1 me@sender.test "doug@$d.test")
	sl_pf_wait_deferred snd 1 "$ere" 60 || {
		echo "# queue:" >&3; sl_pf_queue snd | sed 's/^/#   /' >&3; return 1; }
	sl_capture_stop
	[ "$(sl_hostile_count "$d")" -eq 0 ]
	no_mail_in_clear "$T/cap.pcap" "$m"
}

@test "starttls: a 220 injected before STARTTLS → refused (4.7.5), no handshake started on it" {
	refused pre '4\.7\.5 smtplock: pre\.test: peer sent unsolicited data before STARTTLS'
	# We never answered the injected 220 with a handshake: the partner
	# saw no STARTTLS from us at all.
	! grep -q 'C: STARTTLS' "$(sl_hostile_log pre)"
}

@test "starttls: an EHLO reply injected before STARTTLS → refused (4.7.5)" {
	refused pre2 '4\.7\.5 smtplock: pre2\.test: peer sent unsolicited data before STARTTLS'
	! grep -q 'C: AUTH' "$(sl_hostile_log pre2)"
}

@test "starttls: a fake EHLO + AUTH + MAIL session injected after the STARTTLS 220 → refused (4.7.5)" {
	refused auth '4\.7\.5 smtplock: auth\.test: peer sent plaintext after its STARTTLS reply'
	! grep -q 'C: AUTH' "$(sl_hostile_log auth)"
}

@test "starttls: plaintext in flight at the switch (arrives after our ClientHello) → refused (4.7.5)" {
	refused late '4\.7\.5 smtplock: late\.test: '
	! grep -q '\* tls ' "$(sl_hostile_log late)"
}

@test "starttls: the partner answers STARTTLS with 220 and never starts TLS → deferred at our timeout" {
	refused notls '4\.4\.2 smtplock: notls\.test: timeout in state tls'
	grep -q '\* notls: holding' "$(sl_hostile_log notls)"
}

@test "starttls: STARTTLS dropped from the EHLO on the second connection → the second message waits (4.7.4)" {
	local m1 m2
	sl_capture_start "$NS_P" "$VETH_P" "$T/cap.pcap"
	m1=$(sl_pf_send snd 1 me@sender.test doug@once.test)
	sl_pf_wait_empty snd 60
	[ "$(sl_hostile_count once)" -eq 1 ]
	grep -rq "marker: $m1" "$SL_HOSTILE_ROOT/once/spool"
	m2=$(sl_pf_send snd 1 me@sender.test doug@once.test)
	sl_pf_wait_deferred snd 1 '4\.7\.4 smtplock: once\.test: peer offered no STARTTLS' 60
	sl_capture_stop
	# The partner has the first message only; the second went nowhere.
	[ "$(sl_hostile_count once)" -eq 1 ]
	! grep -rq "marker: $m2" "$SL_HOSTILE_ROOT/once/spool"
	no_mail_in_clear "$T/cap.pcap" "$m1" "$m2"
}

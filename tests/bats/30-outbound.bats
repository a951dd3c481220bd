#!/usr/bin/env bats
# 30-outbound: the outbound lock end to end, with real software only.
#
# Our sender is a stock Postfix in $NS_H with no TLS or SASL settings of its
# own, delivering by MX lookup (dnsmasq), living in the enforced cgroup.
# The partner is a Postfix that requires STARTTLS and AUTH, with variants
# that fail one policy point each.  smtplock runs in $NS_H.  Everything
# that matters is asserted on what Postfix reports (queue, mailbox) and on
# a packet capture of the partner's interface, not on our own log.

load helper
load daemon
load lib/pki
load lib/dns
load lib/postfix
load lib/partner
load lib/capture

A_TLS12=$NET4.4
A_EVIL=$NET4.5
A_OTHERPW=$NET4.6
A_NOTLS=$NET4.8
A_PIN=$NET4.10
A_INJECT=$NET4.20

setup_file() {
	sl_require_root
	sl_net_up
	sl_cg_up
	rm -rf "$SL_PIN"
	local a
	for a in $A_TLS12 $A_EVIL $A_OTHERPW $A_NOTLS $A_PIN $A_INJECT; do
		sl_net_addr "$NS_P" "$a/24"
	done
	export TF=$BATS_FILE_TMPDIR
	sl_pki_init
	# One certificate naming every MX of the partner's listeners (the
	# name smtplock checks is the MX host name), and one from an unknown CA.
	sl_pki_server pf-all ca mx1.ntsol.test mx.tls12.test mx.otherpw.test \
		mx.notls.test mx.pin.test
	sl_pki_server evil-mx evil mx.evilca.test

	sl_dns_init
	sl_dns_mx ntsol.test mx1.ntsol.test
	sl_dns_addr mx1.ntsol.test "$P4" "$P6"
	local d
	for d in tls12:$A_TLS12 evilca:$A_EVIL otherpw:$A_OTHERPW notls:$A_NOTLS \
		pin:$A_PIN inject:$A_INJECT; do
		sl_dns_mx "${d%%:*}.test" "mx.${d%%:*}.test"
		sl_dns_addr "mx.${d%%:*}.test" "${d#*:}"
	done
	sl_dns_start

	sl_pf_partner strict "$P4,$P6" ntsol.test,tls12.test,evilca.test,otherpw.test,notls.test,pin.test \
		host=mx1.ntsol.test cert=pf-all
	sl_pf_listen strict tls12 "$A_TLS12" tls_max=1.2 cert=pf-all
	sl_pf_listen strict evilca "$A_EVIL" cert=evil-mx
	sl_pf_listen strict otherpw "$A_OTHERPW" "pass=0ther pass" cert=pf-all
	sl_pf_listen strict notls "$A_NOTLS" tls=none
	sl_pf_listen strict pin "$A_PIN" cert=pf-all
	sl_hostile_start inject "$A_INJECT" --mode inject --host mx.inject.test \
		--inject '250 2.0.0 injected\r\n'
	sl_pf_sender snd
	sl_pf_start_all strict snd

	printf '%s\n' "$SL_PF_PASS" >"$TF/ntsol.pass"
	chmod 600 "$TF/ntsol.pass"
	cp "/etc/netns/$NS_H/resolv.conf" "$TF/resolv.conf"
	sl_ob_policy "$TF/policy.yaml"
	# One controller for the whole file; daemon.bash keeps its log in $T.
	sl_file_daemon_start "$TF/policy.yaml"
}

teardown_file() {
	sl_file_daemon_stop
	sl_hostile_stop inject
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

# The policy: one partner per failure, all with the same account.
# sl_ob_policy FILE [yes]: "yes" pins the partner's real certificate.
sl_ob_policy() {
	local pin="sha256:$(printf '%064d' 0)"
	[ "${2:-}" = yes ] && pin=$(sl_pki_pin_cert "$SL_PKI/pf-all.crt")
	cat >"$1" <<POLICY
version: 1
controller:
  hostname: mail.sender.test
  listen: [127.0.0.1:10025, "[::1]:10025"]
  cgroup: $SL_CG
  pin_path: $SL_PIN
  limits: { timeout: 10s }
defaults:
  tls: { min_version: "1.2", verify: ca, ca_file: $SL_PKI/ca.crt }
partners:
  - domain: ntsol.test
    auth: { username: smtplock, password_file: $TF/ntsol.pass }
  - domain: tls12.test
    tls: { min_version: "1.3" }
    auth: { username: smtplock, password_file: $TF/ntsol.pass }
  - domain: evilca.test
    tls: { ca_file: ${3:-$SL_PKI/ca.crt} }
    auth: { username: smtplock, password_file: $TF/ntsol.pass }
  - domain: otherpw.test
    auth: { username: smtplock, password_file: $TF/ntsol.pass }
  - domain: notls.test
    auth: { username: smtplock, password_file: $TF/ntsol.pass }
  - domain: pin.test
    tls: { verify: fingerprint, fingerprints: ["$pin"] }
    auth: { username: smtplock, password_file: $TF/ntsol.pass }
  - domain: inject.test
    tls: { verify: none }
    auth: { username: smtplock, password_file: $TF/ntsol.pass }
POLICY
}

reload_ok() {
	local n
	n=$(T=$TF sl_log_count 'event=reload_ok')
	T=$TF sl_daemon_hup
	wait_until 10 sh -c "[ \$(grep -c 'event=reload_ok' '$TF/daemon.log') -gt $n ]"
}

# A message to DOMAIN waits in our Postfix's queue with a reason matching
# ERE, and nothing of it crossed the partner's wire in clear.
defers_with() {
	local domain=$1 reason=$2 marker
	sl_capture_start "$NS_P" "$VETH_P" "$T/cap.pcap"
	marker=$(sl_pf_send snd 1 me@sender.test "doug@$domain")
	sl_pf_wait_deferred snd 1 "$reason" 60 || {
		echo "# queue:" >&3; sl_pf_queue snd | sed 's/^/#   /' >&3
		return 1
	}
	sl_capture_stop
	# Our controller talked to the partner (the capture has payload), yet
	# no envelope or body went out in clear.
	sl_capture_clean "$T/cap.pcap" "$marker"
	[ "$(sl_pf_mbox_count strict "$domain")" -eq 0 ]
}

@test "outbound: 20 messages through stock Postfix arrive at the partner, none in cleartext" {
	local markers m
	sl_capture_start "$NS_P" "$VETH_P" "$T/cap.pcap"
	markers=$(sl_pf_send snd 20 me@sender.test doug@ntsol.test)
	sl_pf_wait_mbox strict 20 90 ntsol.test || {
		sl_pf_queue snd | sed 's/^/# /' >&3; false; }
	sl_pf_wait_empty snd 30
	sl_capture_stop
	[ "$(sl_pf_mbox_count strict ntsol.test)" -eq 20 ]
	for m in $markers; do
		sl_pf_mbox_intact strict "$m"
	done
	sl_capture_clean "$T/cap.pcap" $markers
	# TLS on the wire, and the partner saw our AUTH.
	sl_capture_tls_versions "$T/cap.pcap" | grep -q 'TLSv1.3'
	grep -q 'sasl_username=smtplock' "$(sl_pf_log strict)"
	T=$TF sl_log_has 'direction=out domain=ntsol.test mx=mx1.ntsol.test .*tls=TLSv1.3 .*verify=ok auth=ok result=relayed'
}

@test "outbound: partner without STARTTLS → queued with 4.7.4, partner fixed → delivered" {
	defers_with notls.test '4\.7\.4 smtplock: notls\.test: peer offered no STARTTLS'
	sl_pf_listen strict notls "$A_NOTLS" cert=pf-all	# the partner turns TLS on
	sl_pf_flush snd
	sl_pf_wait_mbox strict 1 60 notls.test
	sl_pf_wait_empty snd 30
}

@test "outbound: TLS 1.2-only partner, policy min 1.3 → queued with 4.7.5, policy relaxed → delivered" {
	defers_with tls12.test '4\.7\.5 smtplock: tls12\.test: peer offered no TLS version >= TLSv1\.3'
	sed -i 's/min_version: "1.3"/min_version: "1.2"/' "$TF/policy.yaml"
	reload_ok
	sl_pf_flush snd
	sl_pf_wait_mbox strict 1 60 tls12.test
	sl_pf_wait_empty snd 30
}

@test "outbound: certificate from an unknown CA → queued with 4.7.5, CA trusted → delivered" {
	defers_with evilca.test '4\.7\.5 smtplock: evilca\.test: certificate verify failed: (unable to get local issuer|self-signed certificate in certificate chain)'
	cat "$SL_PKI/ca.crt" "$SL_PKI/evil.crt" >"$TF/both-ca.pem"
	sl_ob_policy "$TF/policy.yaml" no "$TF/both-ca.pem"
	reload_ok
	sl_pf_flush snd
	sl_pf_wait_mbox strict 1 60 evilca.test
	sl_pf_wait_empty snd 30
}

@test "outbound: certificate pin mismatch → queued with 4.7.5 naming the pin, pin fixed → delivered" {
	local got
	got=$(sl_pki_pin_cert "$SL_PKI/pf-all.crt" colons)
	defers_with pin.test "4\\.7\\.5 smtplock: pin\\.test: certificate pin mismatch \\(got $got\\)"
	sl_ob_policy "$TF/policy.yaml" yes
	reload_ok
	sl_pf_flush snd
	sl_pf_wait_mbox strict 1 60 pin.test
	sl_pf_wait_empty snd 30
}

@test "outbound: wrong password → queued with 4.7.8 quoting the partner, password fixed → delivered" {
	defers_with otherpw.test '4\.7\.8 smtplock: otherpw\.test: AUTH rejected: 535 5\.7\.8'
	sl_pf_user strict smtplock "$SL_PF_PASS" otherpw	# the partner resets our account
	sl_pf_flush snd
	sl_pf_wait_mbox strict 1 60 otherpw.test
	sl_pf_wait_empty snd 30
}

@test "outbound: plaintext injected after the STARTTLS reply → queued with 4.7.5, nothing accepted" {
	defers_with inject.test '4\.7\.5 smtplock: inject\.test: peer sent plaintext after its STARTTLS reply'
	[ "$(sl_hostile_count inject)" -eq 0 ]
}

# `smtplock probe` the way an admin runs it: in the host namespace with its
# DNS, inside the enforced cgroup, with the controller's pins visible (so
# the probe must tag its sockets or it would be redirected to the daemon).
probe() {
	sl_in "$NS_H" unshare -m --propagation private sh -c \
		'mount --bind "$0" /etc/resolv.conf && echo $$ >"$1/cgroup.procs" && shift && exec "$@"' \
		"$TF/resolv.conf" "$SL_CG" "$SL" probe -c "$TF/policy.yaml" "$@"
}

@test "probe: a partner that meets the policy → PASS, every step printed, no mail sent" {
	local before
	before=$(sl_pf_mbox_count strict ntsol.test)
	run probe ntsol.test
	echo "$output" | sed 's/^/# /' >&3
	[ "$status" -eq 0 ]
	[[ "$output" == *"mx1.ntsol.test"* ]]
	[[ "$output" == *"starttls"*"220"* ]]
	[[ "$output" == *"tls "*"TLSv1.3"* ]]
	[[ "$output" == *"verify "*"ok"* ]]
	[[ "$output" == *"auth "*"235"* ]]
	[ "${lines[-1]}" = PASS ]
	[ "$(sl_pf_mbox_count strict ntsol.test)" -eq "$before" ]
	# The probe talked to the partner, not to our own controller.
	grep -q 'sasl_username=smtplock' "$(sl_pf_log strict)"
}

@test "probe: each failing partner → FAIL with the reason the MTA would get, exit 1" {
	run probe tls12.test
	[ "$status" -eq 0 ] || [ "$status" -eq 1 ]	# its policy may have been relaxed above
	sl_ob_policy "$TF/policy.yaml"
	run probe tls12.test
	[ "$status" -eq 1 ]
	[[ "${lines[-1]}" == "FAIL: mx.tls12.test: peer offered no TLS version >= TLSv1.3"* ]]
	run probe pin.test
	[ "$status" -eq 1 ]
	[[ "${lines[-1]}" == "FAIL: mx.pin.test: certificate pin mismatch (got sha256:"* ]]
	run probe inject.test
	[ "$status" -eq 1 ]
	[[ "${lines[-1]}" == *"peer sent plaintext after its STARTTLS reply"* ]]
}

@test "probe: --json is one document with the verdict and the steps" {
	run probe --json ntsol.test
	[ "$status" -eq 0 ]
	[ "$(echo "$output" | jq -r .verdict)" = PASS ]
	[ "$(echo "$output" | jq -r '.hosts[0].mx')" = mx1.ntsol.test ]
	[ "$(echo "$output" | jq -r '.hosts[0].auth')" = ok ]
	echo "$output" | jq -e '.hosts[0].steps | map(.step) | index("tls") != null'
	run probe --json pin.test
	[ "$status" -eq 1 ]
	[ "$(echo "$output" | jq -r .verdict)" = FAIL ]
	[[ "$(echo "$output" | jq -r .reason)" == *"certificate pin mismatch"* ]]
}

@test "probe: bad usage exits 2 with a message" {
	run "$SL" probe
	[ "$status" -eq 2 ]
	[[ "$output" == *"usage: smtplock probe DOMAIN"* ]]
	run "$SL" probe nosuch.test -c "$TF/policy.yaml"
	[ "$status" -eq 2 ]
	[[ "$output" == *"nosuch.test is not an outbound partner"* ]]
	run "$SL" probe 'bad domain!' -c "$TF/policy.yaml"
	[ "$status" -eq 2 ]
}

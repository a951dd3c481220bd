#!/usr/bin/env bats
# 50-inbound: partners sending to us must use TLS and log in (or present
# their certificate) first — real Postfix on both ends.
#
# Our receiving Postfix ("ours", $NS_H) listens on $H4:25 and takes PROXY v2
# on 127.0.0.1:10027 and XCLIENT on 127.0.0.1:10028.  smtplock steers SYNs
# from the partners' sources ($P4, $P6 for ntsol.test; $A_MTLS for
# mtls.test) to its inbound listener; everyone else reaches Postfix
# untouched.  The partners' senders are Postfix instances in $NS_P, each
# bound to its source address; the ones expected to be refused run with
# soft_bounce so that a 5xx leaves their mail queued (as the issue wants
# it observed: "the partner keeps the mail queued").

load helper
load daemon
load lib/pki
load lib/dns
load lib/postfix
load lib/capture

A_MTLS=$NET4.11		# the mutual-TLS partner's server
A_OTHER=$NET4.12	# not a partner at all
PASS_IN='In-b0und pass'

setup_file() {
	sl_require_root
	sl_net_up
	sl_cg_up
	rm -rf "$SL_PIN"
	sl_net_addr "$NS_P" "$A_MTLS/24"
	sl_net_addr "$NS_P" "$A_OTHER/24"
	export TF=$BATS_FILE_TMPDIR
	sl_pki_init
	sl_pki_server ours-tls ca mx.our.test
	sl_pki_client mtls-good ca mx.mtls.test
	sl_pki_client mtls-evil evil mx.mtls.test

	sl_dns_init
	sl_dns_mx our.test mx.our.test
	sl_dns_addr mx.our.test "$H4"
	sl_dns_start

	sl_pf_receiver ours our.test
	local common=(soft_bounce=yes smtp_tls_CAfile="$SL_PKI/ca.crt")
	# The partner, as it should be: TLS + AUTH with the account we made.
	sl_pf_sender good ns="$NS_P" tls=encrypt "sasl=NTSOL:$PASS_IN" smtp_bind_address="$P4"
	# The same partner, misconfigured in one way each.
	sl_pf_sender notls ns="$NS_P" tls=none smtp_bind_address="$P4" "${common[@]}"
	sl_pf_sender noauth ns="$NS_P" tls=encrypt smtp_bind_address="$P4" "${common[@]}"
	sl_pf_sender badpw ns="$NS_P" tls=encrypt "sasl=NTSOL:wrong" smtp_bind_address="$P4" "${common[@]}"
	sl_pf_sender tls12 ns="$NS_P" tls=encrypt "sasl=NTSOL:$PASS_IN" smtp_bind_address="$P4" \
		'smtp_tls_protocols=>=TLSv1.2,<=TLSv1.2' \
		'smtp_tls_mandatory_protocols=>=TLSv1.2,<=TLSv1.2' "${common[@]}"
	# The mutual-TLS partner: a good certificate, and one from an unknown CA.
	sl_pf_sender mgood ns="$NS_P" tls=encrypt ccert=mtls-good smtp_bind_address="$A_MTLS"
	sl_pf_sender mevil ns="$NS_P" tls=encrypt ccert=mtls-evil smtp_bind_address="$A_MTLS" \
		"${common[@]}"
	# Someone else entirely, in plaintext.
	sl_pf_sender other ns="$NS_P" tls=none smtp_bind_address="$A_OTHER"
	sl_pf_start_all ours good notls noauth badpw tls12 mgood mevil other

	HASH=$(printf '%s\n' "$PASS_IN" | "$SL" passwd --sha512)
	export HASH
	in_policy "$TF/policy.yaml"
	sl_file_daemon_start "$TF/policy.yaml"
}

teardown_file() {
	sl_file_daemon_stop
	sl_pf_world_down
}

setup() {
	sl_tmp
	sl_file_daemon
}

teardown() {
	sl_capture_stop
	[ -n "${SL_KEEP:-}" ] || rm -rf "$T"
}

# in_policy FILE [MIN_VERSION] [ANNOUNCE BACKEND]
in_policy() {
	cat >"$1" <<POLICY
version: 1
controller:
  hostname: mx.our.test
  listen: [127.0.0.1:10025]
  cgroup: $SL_CG
  pin_path: $SL_PIN
  limits: { timeout: 10s }
defaults:
  tls: { verify: none }
partners:
  - domain: ntsol.test
    direction: inbound
    inbound:
      sources: [$P4/32, "$P6/128"]
      require: [tls, auth]
      min_version: "${2:-1.2}"
      accounts: [{ username: NTSOL, password_hash: "$HASH" }]
  - domain: mtls.test
    direction: inbound
    inbound:
      sources: [$A_MTLS/32]
      require: [tls, client_cert]
      client_ca_file: $SL_PKI/ca.crt
inbound:
  listen: "[::]:10026"
  backend: ${4:-127.0.0.1:10027}
  announce: ${3:-proxy-v2}
  cert: $SL_PKI/ours-tls.pem
  key: $SL_PKI/ours-tls.key
POLICY
}

reload_ok() {
	local n
	n=$(grep -c 'event=reload_ok' "$TF/daemon.log" || true)
	kill -HUP "$SL_DAEMON_PID"
	wait_until 10 sh -c "[ \$(grep -c 'event=reload_ok' '$TF/daemon.log') -gt $n ]"
}

# refused SENDER ERE: one message from SENDER stays in its queue with a
# reason matching ERE, our Postfix gets nothing, no cleartext envelope.
refused() {
	local snd=$1 ere=$2 before marker
	before=$(sl_pf_mbox_count ours)
	sl_capture_start "$NS_P" "$VETH_P" "$T/cap.pcap"
	marker=$(sl_pf_send "$snd" 1 "a@$snd.sender.test" doug@our.test)
	sl_pf_wait_deferred "$snd" 1 "$ere" 60 || {
		echo "# $snd queue:" >&3; sl_pf_queue "$snd" | sed 's/^/#   /' >&3; return 1; }
	sl_capture_stop
	[ "$(sl_pf_mbox_count ours)" -eq "$before" ]
	[ -z "$(sl_pf_mbox_find ours "$marker")" ]
	# Nothing of the envelope went out in the clear in either direction.
	# (No PIPELINING is offered before TLS, so even a partner without TLS
	# never puts its recipients on the wire.)
	[ "$(sl_capture_count "$T/cap.pcap" "RCPT TO" 2>/dev/null)" -eq 0 ]
	sl_pf_purge "$snd"
}

@test "inbound: 20 messages from the partner's Postfix (TLS + AUTH) reach ours, real client address logged" {
	local markers m
	sl_capture_start "$NS_P" "$VETH_P" "$T/cap.pcap"
	markers=$(sl_pf_send good 20 a@good.sender.test doug@our.test)
	sl_pf_wait_mbox ours 20 90 || { sl_pf_queue good | sed 's/^/# /' >&3; false; }
	sl_pf_wait_empty good 30
	sl_capture_stop
	for m in $markers; do
		sl_pf_mbox_intact ours "$m"
	done
	sl_capture_clean "$T/cap.pcap" $markers
	# PROXY v2 worked: our Postfix believes the partner's address.
	grep -Eq "client=[^ ]*\[$P4\]" "$(sl_pf_log ours)"
	! grep -Eq "client=[^ ]*\[127\.0\.0\.1\]" "$(sl_pf_log ours)"
	grep -Eq "direction=in domain=ntsol.test peer=$P4:[0-9]+ .*tls=TLSv1\.3 .*account=NTSOL .*result=relayed" "$TF/daemon.log"
	grep -Eq 'received="from good.sender.test \(\['"$P4"'\]\) by mx.our.test \(smtplock\) with ESMTPSA' "$TF/daemon.log"
}

@test "inbound: XCLIENT announces the partner too" {
	local marker
	in_policy "$TF/policy.yaml" 1.2 xclient 127.0.0.1:10028
	reload_ok
	marker=$(sl_pf_send good 1 a@good.sender.test doug@our.test)
	sl_pf_wait_empty good 60
	sl_pf_mbox_intact ours "$marker"
	# XCLIENT passes the address and the SASL login; Postfix logs both.
	grep -Eq "client=[^ ]*\[$P4\].*sasl_username=NTSOL" "$(sl_pf_log ours)"
	in_policy "$TF/policy.yaml"
	reload_ok
}

@test "inbound: partner without TLS → 530 5.7.0 Must issue a STARTTLS command first, kept queued" {
	refused notls '530 5\.7\.0 Must issue a STARTTLS command first'
}

@test "inbound: partner with TLS but no AUTH → 530 5.7.0 Authentication required" {
	refused noauth '530 5\.7\.0 Authentication required'
}

@test "inbound: wrong password → 535 5.7.8" {
	refused badpw '535 5\.7\.8'
	grep -Eq 'direction=in domain=ntsol.test .*result=refused .*auth_failures=[1-9]' "$TF/daemon.log"
}

@test "inbound: TLS 1.2 partner against a 1.3 floor → TLS refused, kept queued" {
	in_policy "$TF/policy.yaml" 1.3
	reload_ok
	refused tls12 'TLS|handshake'
	in_policy "$TF/policy.yaml"
	reload_ok
}

@test "inbound: client certificate from an unknown CA → refused; from the partner's CA → delivered without AUTH" {
	local marker
	refused mevil 'TLS|handshake|certificate'
	marker=$(sl_pf_send mgood 1 a@mgood.sender.test doug@our.test)
	sl_pf_wait_empty mgood 60
	sl_pf_mbox_intact ours "$marker"
	grep -Eq "direction=in domain=mtls.test peer=$A_MTLS:[0-9]+ .*cert=\"[^\"]*mx.mtls.test.*result=relayed" "$TF/daemon.log"
}

@test "inbound: a non-partner source sends in plaintext, straight to our Postfix, untouched" {
	local marker
	marker=$(sl_pf_send other 1 a@other.sender.test doug@our.test)
	sl_pf_wait_empty other 60
	sl_pf_mbox_intact ours "$marker"
	grep -Eq "client=[^ ]*\[$A_OTHER\]" "$(sl_pf_log ours)"
	! grep -Eq "peer=$A_OTHER:" "$TF/daemon.log"		# smtplock never saw it
}

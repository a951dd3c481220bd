#!/usr/bin/env bats
# 05-testbed.bats — the end-to-end test bed is real and strict, without smtplock.
#
# The outbound, inbound, fault and benchmark tests stand on these helpers
# (tests/bats/lib/*.bash).  Each test here shows one of them doing what it
# claims with real software: dnsmasq answers, the partner Postfix refuses
# what it must refuse and delivers what it must deliver, the sender Postfix
# finds partners through DNS from inside our cgroup and keeps refused mail
# queued with a reason, our receiving Postfix believes PROXY v2 and XCLIENT,
# the scripted hostile partners misbehave as advertised, and the capture
# helpers find plaintext wherever it is.

load helper
load lib/pki
load lib/dns
load lib/postfix
load lib/partner
load lib/capture

# Addresses on the partner side: $P4/$P6 is the strict partner.
A_PLAIN=$NET4.3
A_TLS12=$NET4.4
A_EVIL=$NET4.5
A_OTHERPW=$NET4.6
A_MTLS=$NET4.7
A_NOTLS=$NET4.8
A_DEAD=$NET4.9
A_HOSTILE=$NET4.20
OTHER_PASS='0ther pass'

setup_file() {
	sl_require_root
	sl_net_up
	sl_cg_up
	local a
	for a in $A_PLAIN $A_TLS12 $A_EVIL $A_OTHERPW $A_MTLS $A_NOTLS $A_DEAD $A_HOSTILE; do
		sl_net_addr "$NS_P" "$a/24"
	done

	sl_pki_init
	sl_pki_server evil-mx evil mx.evilca.test
	sl_pki_client doug ca DOUG

	sl_dns_init
	sl_dns_mx ntsol.test mx1.ntsol.test
	sl_dns_addr mx1.ntsol.test "$P4" "$P6"
	local d
	for d in plain:$A_PLAIN tls12:$A_TLS12 evilca:$A_EVIL otherpw:$A_OTHERPW \
		mtls:$A_MTLS notls:$A_NOTLS dead:$A_DEAD; do
		sl_dns_mx "${d%%:*}.test" "mx.${d%%:*}.test"
		sl_dns_addr "mx.${d%%:*}.test" "${d#*:}"
	done
	sl_dns_mx our.test mx.our.test
	sl_dns_addr mx.our.test "$H4" "$H6"
	sl_dns_tlsa _25._tcp.mx1.ntsol.test 3 1 1 "$(sl_pki_tlsa_hex "$SL_PKI/ca.crt" 1)"
	sl_dns_start

	# One partner Postfix ($NS_P): the strict partner, and its variants as
	# further listeners, each with a domain of its own.
	sl_pf_partner strict "$P4,$P6" ntsol.test,plain.test,tls12.test,evilca.test,otherpw.test,mtls.test,notls.test \
		host=mx1.ntsol.test
	sl_pf_listen strict plain "$A_PLAIN" tls=none auth=no
	sl_pf_listen strict tls12 "$A_TLS12" tls_max=1.2
	sl_pf_listen strict evilca "$A_EVIL" cert=evil-mx
	sl_pf_listen strict otherpw "$A_OTHERPW" "pass=$OTHER_PASS"
	sl_pf_listen strict mtls "$A_MTLS" ccert=require
	sl_pf_listen strict notls "$A_NOTLS" tls=none
	# Senders: ours in $NS_H (no TLS, no SASL: what smtplock will protect),
	# one on the partner side doing TLS + SCRAM-SHA-256 itself.
	sl_pf_sender snd soft_bounce=yes
	sl_pf_sender psnd ns="$NS_P" tls=encrypt "sasl=smtplock:$SL_PF_PASS" \
		mechs=SCRAM-SHA-256 host=mx.partner.test
	# Our receiving MTA ($NS_H).
	sl_pf_receiver ours our.test
	sl_pf_start_all strict snd psnd ours
}

teardown_file() {
	sl_pf_world_down
}

setup() {
	sl_tmp
}

teardown() {
	sl_capture_stop
	[ -n "${SL_KEEP:-}" ] || rm -rf "$T"
}

# swaks from the host namespace, printing only the transcript.
swaks_h() {
	sl_in "$NS_H" swaks --timeout 10 -f me@snd.sender.test "$@" 2>&1
}

auth_args=(-a PLAIN -au smtplock)

# ---- PKI -------------------------------------------------------------------

@test "pki: partner certificates chain to the test CA, not to the evil CA" {
	sl_pki_server t-mx ca mx.t.test alt.t.test
	run openssl verify -CAfile "$SL_PKI/ca.crt" "$SL_PKI/t-mx.crt"
	[ "$status" -eq 0 ]
	run openssl verify -CAfile "$SL_PKI/evil.crt" "$SL_PKI/t-mx.crt"
	[ "$status" -ne 0 ]
	run openssl verify -CAfile "$SL_PKI/evil.crt" "$SL_PKI/evil-mx.crt"
	[ "$status" -eq 0 ]
	run openssl x509 -in "$SL_PKI/t-mx.crt" -noout -ext subjectAltName
	[[ $output == *"DNS:mx.t.test, DNS:alt.t.test"* ]]
	run openssl verify -CAfile "$SL_PKI/ca.crt" -purpose sslclient "$SL_PKI/doug.crt"
	[ "$status" -eq 0 ]
}

@test "pki: pins are SHA-256 of the certificate's DER and of its SPKI" {
	local cert spki fp
	cert=$(sl_pki_pin_cert "$SL_PKI/pf-strict.crt")
	spki=$(sl_pki_pin_spki "$SL_PKI/pf-strict.crt")
	[[ $cert =~ ^sha256:[0-9a-f]{64}$ ]]
	[[ $spki =~ ^sha256:[0-9a-f]{64}$ ]]
	[ "$cert" != "$spki" ]
	# openssl's own fingerprint is the certificate pin.
	fp=$(openssl x509 -in "$SL_PKI/pf-strict.crt" -noout -fingerprint -sha256)
	[ "sha256:${fp#*=}" = "$(sl_pki_pin_cert "$SL_PKI/pf-strict.crt" colons)" ]
	# The SPKI pin survives re-issuing the certificate for the same key.
	openssl req -new -x509 -key "$SL_PKI/pf-strict.key" -subj /CN=again \
		-days 1 -out "$T/again.crt" 2>/dev/null
	[ "$(sl_pki_pin_spki "$T/again.crt")" = "$spki" ]
	[ "$(sl_pki_pin_cert "$T/again.crt")" != "$cert" ]
	# What the partner presents on the wire is what we pinned.
	run sl_in "$NS_H" openssl s_client -starttls smtp -connect "$P4:25" \
		-servername mx1.ntsol.test </dev/null
	printf '%s\n' "$output" | openssl x509 -out "$T/seen.crt" 2>/dev/null
	[ "$(sl_pki_pin_cert "$T/seen.crt")" = "$cert" ]
}

# ---- DNS -------------------------------------------------------------------

@test "dns: MX, A, AAAA and TLSA answer in the host namespace through its resolv.conf" {
	run ip netns exec "$NS_H" dig +short MX ntsol.test
	[ "$output" = "10 mx1.ntsol.test." ]
	run ip netns exec "$NS_H" dig +short A mx1.ntsol.test
	[ "$output" = "$P4" ]
	run ip netns exec "$NS_H" dig +short AAAA mx1.ntsol.test
	[ "$output" = "$P6" ]
	run ip netns exec "$NS_H" dig +short TLSA _25._tcp.mx1.ntsol.test
	local want
	want=$(sl_pki_tlsa_hex "$SL_PKI/ca.crt" 1 | tr a-f A-F)
	[ "$output" = "3 1 1 ${want:0:56} ${want:56}" ]
	run ip netns exec "$NS_H" dig MX unknown.test
	[[ $output == *"status: NXDOMAIN"* ]]
	# The controller's way in: the same resolver, and /sys still whole.
	run sl_dns_in "$NS_H" sh -c "dig +short MX ntsol.test && ls -d '$SL_CG'"
	[ "${lines[0]}" = "10 mx1.ntsol.test." ]
	[ "${lines[1]}" = "$SL_CG" ]
}

@test "dns: records change on reload; answers can fail, time out or carry AD" {
	sl_dns_addr mx.moving.test "$NET4.40"
	sl_dns_reload
	[ "$(sl_dns_dig "$NS_H" A mx.moving.test)" = "$NET4.40" ]
	# An address move is a SIGHUP (same dnsmasq PID), an MX change a restart.
	local pid
	pid=$(cat "$SL_DNS/dnsmasq.pid")
	sl_dns_del mx.moving.test
	sl_dns_addr mx.moving.test "$NET4.41"
	sl_dns_reload
	[ "$(sl_dns_dig "$NS_H" A mx.moving.test)" = "$NET4.41" ]
	[ "$(cat "$SL_DNS/dnsmasq.pid")" = "$pid" ]
	sl_dns_mx moving.test mx.moving.test 5
	sl_dns_reload
	[ "$(sl_dns_dig "$NS_H" MX moving.test)" = "5 mx.moving.test." ]

	local dig=(ip netns exec "$NS_H" dig +tries=1 +time=1 MX ntsol.test)
	run "${dig[@]}"
	[[ $output == *"status: NOERROR"* ]]
	[[ $output != *" ad;"* ]]
	sl_dns_mode timeout
	run "${dig[@]}"
	[[ $output == *"timed out"* ]]
	sl_dns_mode normal
	run "${dig[@]}"
	[[ $output == *"status: NOERROR"* ]]
	sl_dns_mode ad
	run "${dig[@]}"
	[[ $output == *" ad;"* ]]
	[[ $output == *"mx1.ntsol.test."* ]]
	sl_dns_mode servfail
	run "${dig[@]}"
	[[ $output == *"status: SERVFAIL"* ]]
	sl_dns_mode refused
	run "${dig[@]}"
	[[ $output == *"status: REFUSED"* ]]
	sl_dns_mode down
	run "${dig[@]}"
	[[ $output == *"connection refused"* ]]
	sl_dns_mode normal
	[ "$(sl_dns_dig "$NS_H" MX ntsol.test)" = "10 mx1.ntsol.test." ]
}

# ---- the strict partner ------------------------------------------------------

@test "partner: plaintext MAIL is refused (530 Must issue a STARTTLS command first)" {
	local before
	before=$(sl_pf_mbox_count strict ntsol.test)
	run swaks_h -s "$P4" -t doug@ntsol.test
	[[ $output == *"250-STARTTLS"* ]]
	[[ $output == *"530 5.7.0 Must issue a STARTTLS command first"* ]]
	[[ $output != *"AUTH"* ]]	# no AUTH offered before TLS
	[ "$(sl_pf_mbox_count strict ntsol.test)" = "$before" ]
}

@test "partner: TLS without AUTH is refused" {
	local before
	before=$(sl_pf_mbox_count strict ntsol.test)
	run swaks_h -s "$P4" -tls -t doug@ntsol.test
	[[ $output == *"TLS started"* ]]
	[[ $output == *"250-AUTH PLAIN LOGIN SCRAM-SHA-256"* ]]
	[[ $output == *"554 5.7.1 <doug@ntsol.test>: Recipient address rejected: Access denied"* ]]
	[ "$(sl_pf_mbox_count strict ntsol.test)" = "$before" ]
}

@test "partner: a wrong password is refused (535)" {
	run swaks_h -s "$P4" -tls "${auth_args[@]}" -ap wrong -t doug@ntsol.test
	[[ $output == *"535 5.7.8"* ]]
	[[ $output != *"250 2.0.0 Ok: queued"* ]]
}

@test "partner: TLS + AUTH PLAIN delivers, and the wire shows no cleartext" {
	local before m=SLMswaks$RANDOM$RANDOM
	before=$(sl_pf_mbox_count strict ntsol.test)
	sl_capture_start "$NS_P" "$VETH_P" "$T/cap.pcap"
	run swaks_h -s "$P4" -tls "${auth_args[@]}" -ap "$SL_PF_PASS" \
		-t doug@ntsol.test --header "Subject: $m" --body "body $m"
	[[ $output == *"235 2.7.0 Authentication successful"* ]]
	[[ $output == *"250 2.0.0 Ok: queued"* ]]
	sl_capture_stop
	sl_pf_wait_mbox strict $((before + 1)) 10 ntsol.test
	grep -rq "body $m" "$SL_PF_ROOT/strict/mail"
	sl_capture_clean "$T/cap.pcap" "$m" "AUTH PLAIN"
	[ "$(sl_capture_tls_versions "$T/cap.pcap")" = TLSv1.3 ]
}

@test "partner: SCRAM-SHA-256 works (via Postfix's Cyrus SASL client; swaks has no SCRAM)" {
	local m
	m=$(sl_pf_send psnd 1 a@partner.test doug@ntsol.test 10k)
	sl_pf_wait_empty psnd 15
	sl_pf_mbox_intact strict "$m"
	grep -q "sasl_method=SCRAM-SHA-256, sasl_username=smtplock@mx1.ntsol.test" \
		"$(sl_pf_log strict)"
}

# ---- partner variants --------------------------------------------------------

@test "variant: a partner that offers no STARTTLS (and AUTH in plaintext)" {
	run swaks_h -s "$A_NOTLS" -t doug@notls.test --quit-after EHLO
	[[ $output == *"250-AUTH PLAIN LOGIN SCRAM-SHA-256"* ]]
	[[ $output != *"STARTTLS"* ]]
	run swaks_h -s "$A_NOTLS" -tls -t doug@notls.test
	[[ $output == *"Host did not advertise STARTTLS"* ]]
	[ "$(sl_pf_mbox_count strict notls.test)" = 0 ]
}

@test "variant: a TLS 1.2-only partner" {
	run sl_in "$NS_H" openssl s_client -starttls smtp -connect "$A_TLS12:25" -tls1_3 </dev/null
	[ "$status" -ne 0 ]
	run sl_in "$NS_H" openssl s_client -starttls smtp -connect "$A_TLS12:25" </dev/null
	[[ $output == *"New, TLSv1.2, Cipher is"* ]]
	run swaks_h -s "$A_TLS12" -tls "${auth_args[@]}" -ap "$SL_PF_PASS" -t doug@tls12.test
	[[ $output == *"TLS started with cipher TLSv1.2"* ]]
	[[ $output == *"250 2.0.0 Ok: queued"* ]]
	# ...while the strict partner speaks 1.3.
	run sl_in "$NS_H" openssl s_client -starttls smtp -connect "$P4:25" </dev/null
	[[ $output == *"New, TLSv1.3, Cipher is"* ]]
}

@test "variant: a partner whose certificate comes from an unknown CA" {
	run sl_in "$NS_H" openssl s_client -starttls smtp -connect "$A_EVIL:25" \
		-CAfile "$SL_PKI/ca.crt" -verify_return_error </dev/null
	[ "$status" -ne 0 ]
	run sl_in "$NS_H" openssl s_client -starttls smtp -connect "$A_EVIL:25" \
		-CAfile "$SL_PKI/evil.crt" -verify_return_error -verify_hostname mx.evilca.test </dev/null
	[ "$status" -eq 0 ]
	[[ $output == *"Verify return code: 0 (ok)"* ]]
	# The strict partner verifies against the test CA, by name.
	run sl_in "$NS_H" openssl s_client -starttls smtp -connect "$P4:25" \
		-CAfile "$SL_PKI/ca.crt" -verify_return_error -verify_hostname mx1.ntsol.test </dev/null
	[ "$status" -eq 0 ]
}

@test "variant: a partner with a different password" {
	run swaks_h -s "$A_OTHERPW" -tls "${auth_args[@]}" -ap "$SL_PF_PASS" -t doug@otherpw.test
	[[ $output == *"535 5.7.8"* ]]
	run swaks_h -s "$A_OTHERPW" -tls "${auth_args[@]}" -ap "$OTHER_PASS" -t doug@otherpw.test
	[[ $output == *"250 2.0.0 Ok: queued"* ]]
}

@test "variant: a partner that requires a client certificate" {
	run swaks_h -s "$A_MTLS" -tls "${auth_args[@]}" -ap "$SL_PF_PASS" -t doug@mtls.test
	[[ $output != *"250 2.0.0 Ok: queued"* ]]
	run swaks_h -s "$A_MTLS" -tls --tls-cert "$SL_PKI/doug.crt" --tls-key "$SL_PKI/doug.key" \
		"${auth_args[@]}" -ap "$SL_PF_PASS" -t doug@mtls.test
	[[ $output == *"250 2.0.0 Ok: queued"* ]]
	grep -q 'postfix/mtls/smtpd.*Trusted TLS connection established from' "$(sl_pf_log strict)"
	# A certificate from another CA is not enough.
	sl_pki_client stranger evil
	run swaks_h -s "$A_MTLS" -tls --tls-cert "$SL_PKI/stranger.crt" --tls-key "$SL_PKI/stranger.key" \
		"${auth_args[@]}" -ap "$SL_PF_PASS" -t doug@mtls.test
	[[ $output != *"250 2.0.0 Ok: queued"* ]]
}

# ---- our sending Postfix -------------------------------------------------------

@test "sender: runs in the test cgroup and delivers by MX lookup, bodies intact" {
	local pid p
	pid=$(sl_pf_master_pid snd)
	grep -qxF "$pid" "$SL_CG/cgroup.procs"
	local -a m
	mapfile -t m < <(sl_pf_send snd 2 me@snd.sender.test bob@plain.test 10k;
		sl_pf_send snd 1 me@snd.sender.test bob@plain.test 1m)
	[ "${#m[@]}" = 3 ]
	sl_pf_wait_empty snd 20
	for p in "${m[@]}"; do sl_pf_mbox_intact strict "$p"; done
	grep -q "to=<bob@plain.test>, relay=mx.plain.test\[$A_PLAIN\]:25.*status=sent" "$(sl_pf_log snd)"
	# Its smtp clients were born there too (they idle on after delivery).
	local -a smtp=()
	for p in $(_sl_pf_procs snd); do
		[ "$(cat "/proc/$p/comm" 2>/dev/null)" = smtp ] && smtp+=("$p")
	done
	[ "${#smtp[@]}" -ge 1 ]
	for p in "${smtp[@]}"; do grep -qxF "$p" "$SL_CG/cgroup.procs"; done
	# A damaged body is noticed.
	local f
	f=$(sl_pf_mbox_find strict "${m[0]}")
	sed -i '$ s/.$/#/' "$f"
	run sl_pf_mbox_intact strict "${m[0]}"
	[ "$status" -ne 0 ]
}

@test "sender: a refusing partner leaves the mail queued with its reason" {
	local m
	m=$(sl_pf_send snd 2 me@snd.sender.test doug@ntsol.test)
	sl_pf_wait_deferred snd 2 'Must issue a STARTTLS command first' 20
	run sl_pf_queue snd
	[[ $output == *"doug@ntsol.test"*"host mx1.ntsol.test["*"] said: 530 5.7.0 Must issue a STARTTLS command first"* ]]
	[ "$(sl_pf_queue_count snd)" -ge 2 ]
	sl_pf_purge snd
	sl_pf_wait_empty snd 10
}

@test "sender: a partner that is down defers; once it is up, a flush delivers" {
	local m
	m=$(sl_pf_send snd 1 me@snd.sender.test bob@dead.test 10k)
	sl_pf_wait_deferred snd 1 "connect to mx.dead.test\[$A_DEAD\]:25: Connection refused" 20
	sl_pf_partner dead "$A_DEAD" dead.test tls=none auth=no
	sl_pf_start dead
	sl_pf_flush snd
	sl_pf_wait_empty snd 20
	sl_pf_mbox_intact dead "$m"
	sl_pf_stop dead
	! sl_pf_running dead
	[ -z "$(_sl_pf_procs dead)" ]
}

# ---- our receiving Postfix and the partner-side sender ---------------------------

@test "receiver: logs the real client from a PROXY v2 header" {
	run sl_in "$NS_H" swaks --timeout 10 -s 127.0.0.1 -p 10027 --proxy-version 2 \
		--proxy-family AF_INET --proxy-protocol STREAM \
		--proxy-source 198.51.100.77 --proxy-source-port 40001 \
		--proxy-dest "$H4" --proxy-dest-port 25 -f a@partner.test -t u@our.test
	[[ $output == *"250 2.0.0 Ok: queued"* ]]
	wait_until 10 grep -q 'client=unknown\[198.51.100.77\]' "$(sl_pf_log ours)"
	# A hand-made v2 header (TCP over IPv6: 2001:db8::7 port 40001 to
	# 2001:db8::1 port 25), as the inbound relay will write it.
	{
		printf '\r\n\r\n\x00\r\nQUIT\n\x21\x21\x00\x24'
		printf '\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x07'
		printf '\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01'
		printf '\x9c\x41\x00\x19QUIT\r\n'
	} >"$T/proxy"
	run sl_in "$NS_H" socat -t 5 - TCP:127.0.0.1:10027 <"$T/proxy"
	[[ $output == *"221 2.0.0 Bye"* ]]
	wait_until 10 grep -q 'connect from unknown\[2001:db8::7\]' "$(sl_pf_log ours)"
	# Without the header, that listener refuses to talk.
	run swaks_h -s 127.0.0.1 -p 10027 -t u@our.test
	[[ $output != *"250 2.0.0 Ok: queued"* ]]
}

@test "receiver: logs the real client given by XCLIENT" {
	run sl_in "$NS_H" swaks --timeout 10 -s 127.0.0.1 -p 10028 \
		--xclient-addr 203.0.113.9 --xclient-name mx.partner.test \
		-f a@partner.test -t u@our.test
	[[ $output == *"250 2.0.0 Ok: queued"* ]]
	wait_until 10 grep -q 'client=mx.partner.test\[203.0.113.9\]' "$(sl_pf_log ours)"
	# Plain port 25 accepts anyone for our domain and logs the real peer.
	run swaks_h -s "$H4" -t u@our.test
	[[ $output == *"250 2.0.0 Ok: queued"* ]]
	wait_until 10 grep -q "client=unknown\[$H4\]" "$(sl_pf_log ours)"
}

@test "partner-side sender: it insists on TLS; no TLS offered = mail deferred" {
	# (its TLS + AUTH delivery is the SCRAM test above)
	local m
	m=$(sl_pf_send psnd 1 a@partner.test u@our.test)
	sl_pf_wait_deferred psnd 1 'TLS is required, but was not offered' 20
	run sl_pf_mbox_find ours "$m"
	[ "$status" -ne 0 ]
	sl_pf_purge psnd
}

# ---- scripted hostile partners ------------------------------------------------

@test "hostile: no STARTTLS; plaintext mail would be accepted" {
	sl_hostile_start h "$A_HOSTILE" --mode nostarttls
	run swaks_h -s "$A_HOSTILE" -t x@h.test --quit-after EHLO
	[[ $output == *"250 ENHANCEDSTATUSCODES"* ]]
	[[ $output != *"STARTTLS"* ]]
	run swaks_h -s "$A_HOSTILE" -t x@h.test
	[[ $output == *"250 2.0.0 Ok: queued"* ]]
	[ "$(sl_hostile_count h)" = 1 ]
	sl_hostile_stop h
}

@test "hostile: plaintext injected right after the STARTTLS reply (CVE-2011-0411 class)" {
	sl_hostile_start h "$A_HOSTILE" --mode inject --inject '250 2.0.0 injected\r\n'
	printf 'EHLO x\r\nSTARTTLS\r\n' >"$T/in"
	run sl_in "$NS_H" socat -t 5 - "TCP:$A_HOSTILE:25" <"$T/in"
	# Both arrive in plaintext, before any TLS.
	[[ $output == *$'220 2.0.0 Ready to start TLS\r\n250 2.0.0 injected'* ]]
	# A client that keeps buffered bytes across STARTTLS (swaks) is fooled:
	# it takes the injected line for the EHLO reply over TLS.
	run swaks_h -s "$A_HOSTILE" -tls "${auth_args[@]}" -ap "$SL_PF_PASS" -t x@h.test
	[[ $output == *"<~  250 2.0.0 injected"* ]]
	sl_hostile_wait h '\* tls TLSv1.3' 5
	sl_hostile_stop h
}

@test "hostile: response injected before STARTTLS" {
	sl_hostile_start h "$A_HOSTILE" --mode inject-pre --inject '220 2.0.0 go ahead\r\n'
	run swaks_h -s "$A_HOSTILE" -t x@h.test --quit-after EHLO
	[[ $output == *"250 STARTTLS"* ]]
	grep -q 'S: 220 2.0.0 go ahead' "$(sl_hostile_log h)"
	sl_hostile_stop h
}

@test "hostile: STARTTLS answered with 220, TLS never starts" {
	sl_hostile_start h "$A_HOSTILE" --mode notls
	run sl_in "$NS_H" timeout 1.5 openssl s_client -starttls smtp -connect "$A_HOSTILE:25" </dev/null
	[ "$status" -eq 124 ]
	sl_hostile_wait h '\* notls: holding' 5
	run grep -c '\* tls' "$(sl_hostile_log h)"
	[ "$output" = 0 ]
	sl_hostile_stop h
}

@test "hostile: STARTTLS offered on the first connection only" {
	sl_hostile_start h "$A_HOSTILE" --mode starttls-once
	run swaks_h -s "$A_HOSTILE" -t x@h.test --quit-after EHLO
	[[ $output == *"250 STARTTLS"* ]]
	run swaks_h -s "$A_HOSTILE" -t x@h.test --quit-after EHLO
	[[ $output != *"STARTTLS"* ]]
	sl_hostile_stop h
}

@test "hostile: stalls and resets where asked" {
	sl_hostile_start h "$A_HOSTILE" --at connect --do stall
	run sl_in "$NS_H" bash -c "exec 3<>/dev/tcp/$A_HOSTILE/25 && read -t 1 l <&3"
	[ "$status" -gt 128 ]	# read timed out: no greeting
	sl_hostile_start h "$A_HOSTILE" --at connect --do reset
	run sl_in "$NS_H" bash -c "exec 3<>/dev/tcp/$A_HOSTILE/25 && read -t 5 l <&3"
	[[ $output == *"Connection reset by peer"* ]]
	# Deep in a TLS + AUTH session: a reset at DATA.
	sl_hostile_start h "$A_HOSTILE" --at data --do reset
	run swaks_h -s "$A_HOSTILE" -tls "${auth_args[@]}" -ap "$SL_PF_PASS" -t x@h.test
	[[ $output == *"235 2.7.0 Authentication successful"* ]]
	[[ $output != *"354 End data"* ]]
	sl_hostile_wait h 'fault reset at data' 5
	# Past the body, before the reply: the message was received, not acknowledged.
	sl_hostile_start h "$A_HOSTILE" --at dot --do close
	run swaks_h -s "$A_HOSTILE" -tls "${auth_args[@]}" -ap "$SL_PF_PASS" -t x@h.test
	[[ $output == *"354 End data"* ]]
	[[ $output != *"250 2.0.0 Ok: queued"* ]]
	sl_hostile_wait h 'fault close at dot' 5
	sl_hostile_stop h
}

# ---- capture -------------------------------------------------------------------

@test "capture: finds plaintext, also a marker split across two segments" {
	sl_capture_start "$NS_P" "$VETH_P" "$T/cap.pcap"
	# NOOP's reply proves the first half left alone before the second goes.
	run sl_in "$NS_H" bash -c "exec 3<>/dev/tcp/$A_PLAIN/25 && read -t 5 l <&3 &&
		printf 'NOOP\r\nMAIL FROM:<a@SPLITMAR' >&3 && read -t 5 l <&3 &&
		printf 'KER.test>\r\nQUIT\r\n' >&3 && cat <&3"
	[[ $output == *"221 2.0.0 Bye"* ]]
	# And over IPv6: plaintext MAIL FROM to the strict partner (refused, but
	# on the wire).
	run swaks_h -s "$P6" -t doug@ntsol.test
	[[ $output == *"530 5.7.0"* ]]
	sl_capture_stop
	# No single segment holds the marker ...
	run sl_capture_scan -s "$T/cap.pcap" SPLITMARKER SPLITMAR KER.test
	[ "${lines[0]}" = "0	SPLITMARKER" ]
	[ "${lines[1]}" = "1	SPLITMAR" ]
	[ "${lines[2]}" = "1	KER.test" ]
	# ... the reassembled stream does; case does not matter for verbs.
	run sl_capture_scan "$T/cap.pcap" SPLITMARKER "mail from" "$P6" "Must issue a STARTTLS"
	[ "${lines[0]}" = "1	SPLITMARKER" ]
	[ "${lines[1]}" = "2	mail from" ]
	[ "${lines[3]}" = "1	Must issue a STARTTLS" ]
	run sl_capture_clean "$T/cap.pcap"
	[ "$status" -ne 0 ]
	[[ $output == *"in clear in 2 flow(s): MAIL FROM"* ]]
	# An empty capture proves nothing.
	sl_capture_start "$NS_P" "$VETH_P" "$T/empty.pcap"
	sl_capture_stop
	run sl_capture_clean "$T/empty.pcap"
	[ "$status" -ne 0 ]
	[[ $output == *"proves nothing"* ]]
}

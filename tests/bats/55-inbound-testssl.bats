#!/usr/bin/env bats
# 55-inbound-testssl: testssl (Debian's testssl.sh) --starttls smtp against the inbound
# listener, from a partner source (so it is the controller that answers):
# no HIGH or CRITICAL finding.  The summary is kept in build/ for
# docs/SECURITY.md.

load helper
load daemon
load lib/pki

setup() {
	sl_world_up
	sl_pki_init "$T/pki"
	# A certificate as an operator would deploy it (398 days, a CRL URI):
	# testssl judges the certificate too, and the test PKI's 30-day leaves
	# without revocation info are HIGH findings about the PKI, not smtplock.
	SL_PKI_DAYS=398 SL_PKI_EXT_EXTRA='crlDistributionPoints=URI:http://crl.our.test/ca.crl' \
		sl_pki_server ours ca mx.our.test
	sl_policy "$T/policy.yaml" <<EOF
partners:
  - domain: ntsol.test
    direction: inbound
    inbound:
      sources: [$P4/32]
      require: [tls, auth]
      accounts: [{ username: NTSOL, password_hash: "\$6\$abcdefgh\$TZ8A3m5Ch2F5O2JhPXcEXHTbl3cpOGpHSVKyCxPTUVchy2WOhRmvjl/uYFcONnEsYkwtqOLIUkBVvB.Aoz44v0" }]
inbound:
  listen: "[::]:10026"
  backend: 127.0.0.1:10027
  announce: proxy-v2
  cert: $SL_PKI/ours.pem
  key: $SL_PKI/ours.key
EOF
	sl_daemon_start "$T/policy.yaml"
}

teardown() {
	sl_world_down
}

@test "testssl.sh --starttls smtp: the inbound listener has no HIGH or CRITICAL finding" {
	local out=$BUILD/test-logs/testssl-inbound
	mkdir -p "$(dirname "$out")"
	rm -f "$out.json" "$out.log"
	# -p protocols, -s cipher categories, -S server defaults, -U
	# vulnerabilities, -f forward secrecy; from the partner's address.
	# The name the partner connects to (the MX), at our address, trusting
	# the CA that issued our certificate, as the partner's MTA would.
	sl_in "$NS_P" testssl --quiet --color 0 --warnings off --starttls smtp \
		--add-ca "$SL_PKI/ca.crt" --ip "$H4" \
		-p -s -f -S -U --jsonfile "$out.json" --logfile "$out.log" mx.our.test:25 \
		>/dev/null 2>&1 || true
	[ -s "$out.json" ]
	# It talked to smtplock (steered), not to a plain local MTA.
	sl_log_has "event=inbound_accept .* peer=$P4:[0-9]+ domain=ntsol\.test"
	# The findings that matter are there (not an empty run)...
	jq -e '[.[] | select(.id == "TLS1_2")] | length == 1' "$out.json"
	jq -e '[.[] | select(.id == "SSLv3" or .id == "TLS1" or .id == "TLS1_1") |
		select(.finding | test("not offered"))] | length == 3' "$out.json"
	# ...and none is HIGH or CRITICAL.
	jq -r '.[] | select(.severity == "HIGH" or .severity == "CRITICAL") |
		"\(.severity) \(.id): \(.finding)"' "$out.json" >"$T/bad"
	if [ -s "$T/bad" ]; then
		sed 's/^/# /' "$T/bad" >&3
		false
	fi
	jq -r '.[] | "\(.severity)\t\(.id)\t\(.finding)"' "$out.json" |
		sort | uniq >"$out.summary"
}

#!/usr/bin/env bats
# 30-dns: the partners' DNS fails or changes under the controller.
#
# dnsfail.test: found by MX lookup only (no fixed address).  Our Postfix
# reaches it through a transport entry ([address], no DNS of its own), so
# it keeps sending while the controller's refreshes fail: the one thing
# between that mail and the wire in clear is the controller keeping the
# last good addresses.  Each round breaks DNS in one way (no server, no
# answer, SERVFAIL, REFUSED), waits for a refresh to fail, sends, and
# also restarts the controller with DNS still broken (the pinned entries
# must carry it).
#
# dnsmove.test: its MX moves to a new host (new name, new address) while
# mail flows.  The policy lists the partner's network as well as its
# name (addresses: a /28): a new MX address inside it is redirected from
# the first connect, before any refresh could know it, and fails closed
# (the certificate names a host the controller cannot yet name) until the
# refresh brings the new MX name.  The move goes both ways each round.

load faults

A_FAIL=$NET4.40
A_DNSA=$NET4.49
A_DNSB=$NET4.50

fl_dns_extra() {
	sl_dns_mx dnsfail.test mx.dnsfail.test
	sl_dns_addr mx.dnsfail.test "$A_FAIL"
	sl_dns_mx dnsmove.test mx.dnsa.test
	sl_dns_addr mx.dnsa.test "$A_DNSA"
	sl_dns_addr mx.dnsb.test "$A_DNSB"
}

fl_partner_extra() {
	sl_pf_listen strict dnsfail "$A_FAIL" cert=pf-strict
	sl_pf_listen strict dnsa "$A_DNSA,$A_DNSB" cert=pf-strict
	sl_pf_conf strict "virtual_mailbox_domains=ntsol.test dnsfail.test dnsmove.test"
}

setup_file() {
	FL_P_ADDRS=("$A_FAIL" "$A_DNSA" "$A_DNSB")
	FL_SENDER_OPTS=("transport_maps=inline:{dnsfail.test=smtp:[$A_FAIL]}")
	fl_world_up "  - domain: dnsfail.test
    auth: { username: smtplock, password_file: $BATS_FILE_TMPDIR/partner.pass }
  - domain: dnsmove.test
    addresses: [$NET4.48/28]
    auth: { username: smtplock, password_file: $BATS_FILE_TMPDIR/partner.pass }"
	fl_baseline
}

teardown_file() {
	fl_world_down
}

_n_log() { grep -c -- "$1" "$FL_LOG" || true; }
_log_gt() { [ "$(_n_log "$1")" -gt "$2" ]; }
_enforced() { "$SLMAPS" "$SL_PIN" dst | grep -q "^$1 .*domain=$2 "; }

@test "DNS fails (down, no answer, SERVFAIL, REFUSED): the partner stays enforced, mail flows encrypted" {
	local r mode m n inj=0
	for (( r = 1; r <= FL_ROUNDS; r++ )); do
		for mode in down timeout servfail refused; do
			n=$(_n_log 'event=dns_failed domain=dnsfail.test')
			sl_dns_mode "$mode"
			wait_until 40 _log_gt 'event=dns_failed domain=dnsfail.test' "$n"
			_enforced "$A_FAIL" dnsfail.test
			m=$(fl_send dnsfail dnsfail.test)
			fl_wait_stored "$m" 60
			inj=$((inj + 1))
			if [ "$mode" = servfail ]; then
				# A restart while DNS is broken: the pinned entries keep
				# the address enforced.  The MX name (for the certificate
				# check) lives only in memory: until DNS answers, the
				# session fails closed and the message waits.
				fl_ctl_stop
				fl_ctl_start noresolve
				_enforced "$A_FAIL" dnsfail.test
				m=$(fl_send dnsfail dnsfail.test)
				fl_wait_deferred "$m" '4\.7\.5 smtplock: dnsfail\.test: ' 60
				sl_dns_mode normal
				fl_wait_stored "$m" 60 || { fl_deliver_all && fl_wait_stored "$m" 30; }
				inj=$((inj + 1))
			fi
			sl_dns_mode normal
			fl_round_end
		done
	done
	fl_deliver_all
	fl_account dnsfail "$inj"
}

@test "DNS change: the MX moves to a new host while mail flows; the controller follows, nothing in clear" {
	local r i n to inj=0
	for (( r = 1; r <= FL_ROUNDS * 2; r++ )); do
		if (( r % 2 )); then to=dnsb; else to=dnsa; fi
		# Mail in flight around the change.
		for i in 1 2; do fl_send dnsmove dnsmove.test >/dev/null; done
		n=$(_n_log "event=dns_resolved domain=dnsmove.test mx=mx.$to.test")
		sl_dns_del dnsmove.test
		sl_dns_mx dnsmove.test "mx.$to.test"
		sl_dns_reload
		for i in 1 2 3; do fl_send dnsmove dnsmove.test >/dev/null; done
		# The refresh brings the new host's name (its address was
		# enforced all along: inside the listed /28).
		wait_until 30 _log_gt "event=dns_resolved domain=dnsmove.test mx=mx.$to.test" "$n"
		fl_deliver_all
		fl_round_end
		inj=$((inj + 1))
	done
	fl_account dnsmove "$inj"
}

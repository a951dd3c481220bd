# tests/faults/faults.bash — the fault-injection bed (tests/faults/*.bats).
#
# One world per bats file, with real software around the controller:
#   - our sender: stock Postfix ("snd") in $NS_H, inside the enforced
#     cgroup, delivering by MX lookup through the test bed's dnsmasq;
#   - partners in $NS_P: a strict Postfix ("strict": STARTTLS + AUTH
#     required) for ntsol.test on $P4, and the scripted partner
#     (tests/bats/lib/smtp_partner.py, also STARTTLS + AUTH) for
#     hostile.test on $FL_A_HOSTILE, told the fault of each injection
#     through its control file (fl_fault "--at POINT --do ACTION
#     --faults 1": the next session gets the fault, the retry is served);
#   - the controller, started, killed and restarted here (fl_ctl_*), its
#     log in $TF/daemon.log;
#   - a capture of the partners' interface for the whole file.
#
# Every message is a marker (lib/postfix: sl_pf_send) recorded per
# scenario; fl_account counts what each scenario sent, what the partners
# stored (and how often), and what the capture shows in clear, and adds
# a row to the tally ($FAULTS_TALLY, printed by tests/faults/run.sh):
#
#   scenario injections sent delivered duplicated lost plaintext_bytes
#   markers_in_clear fd_base fd_max rss_base_kb rss_max_kb
#
# fd_max / rss_max: the highest fd count and RSS of the controller seen
# after a round, once it had no session left (fl_round_end).
#
# FAULTS_ROUNDS (tests/faults/run.sh: short 1, long 6) is how many times
# each scenario's loop runs.

load ../bats/helper
load ../bats/daemon
load ../bats/lib/pki
load ../bats/lib/dns
load ../bats/lib/postfix
load ../bats/lib/partner

FL_A_HOSTILE=$NET4.30
FL_SENDER_OPTS=()		# more sl_pf_sender options for "snd"
FL_P_ADDRS=()			# more addresses in $NS_P
FL_ROUNDS=${FAULTS_ROUNDS:-1}
FL_LIB=$ROOT/tests/faults
SL_PY=${SL_PY:-/usr/bin/python3}

# ---- the world ----------------------------------------------------------------

# fl_world_up [POLICY-EXTRA]: everything above; POLICY-EXTRA (YAML lines
# under partners:) adds partners.  Call from setup_file.  Hooks, if the
# file defines them: FL_P_ADDRS (more partner addresses), FL_SENDER_OPTS,
# fl_dns_extra (records), fl_partner_extra (more Postfix listeners).
fl_world_up() {
	sl_require_root
	sl_net_up
	sl_cg_up
	rm -rf "$SL_PIN"
	local a
	for a in "$FL_A_HOSTILE" "${FL_P_ADDRS[@]}"; do
		sl_net_addr "$NS_P" "$a/24"
	done
	export TF=$BATS_FILE_TMPDIR
	export FAULTS_TALLY=${FAULTS_TALLY:-$TF/tally}
	export SL_HOSTILE_ROOT=$TF/hostile
	: >"$TF/sent.tsv"
	sl_pki_init
	sl_pki_server pf-strict ca mx1.ntsol.test mx.dnsfail.test mx.dnsa.test mx.dnsb.test
	sl_dns_init
	sl_dns_mx ntsol.test mx1.ntsol.test
	sl_dns_addr mx1.ntsol.test "$P4"
	sl_dns_mx hostile.test mx.hostile.test
	sl_dns_addr mx.hostile.test "$FL_A_HOSTILE"
	[ "$(type -t fl_dns_extra)" = function ] && fl_dns_extra
	sl_dns_start

	sl_pf_partner strict "$P4" ntsol.test host=mx1.ntsol.test cert=pf-strict
	[ "$(type -t fl_partner_extra)" = function ] && fl_partner_extra
	# The sender as shipped, plus: mail of a lost connection goes back
	# to the queue at once (the test bed's backoff is already 1 s..4 s).
	sl_pf_sender snd "${FL_SENDER_OPTS[@]}"
	sl_pf_start_all strict snd
	printf '%s\n' "$SL_PF_PASS" >"$TF/partner.pass"
	chmod 600 "$TF/partner.pass"
	fl_policy "$TF/policy.yaml" "${1:-}"
	: >"$TF/hostile.ctl"
	sl_hostile_start hostile "$FL_A_HOSTILE" --host mx.hostile.test --control "$TF/hostile.ctl"
	FL_LOG=$TF/daemon.log
	: >"$FL_LOG"
	fl_ctl_start
	fl_capture_start
}

# The partners' wire, for the whole file.  helper.bash's capture with a
# 64 MB kernel buffer: 5 MB messages come in bursts, and a capture that
# drops segments proves less (wire.py counts what it missed).
fl_capture_start() {
	nsenter --net="/run/netns/$NS_P" -- tcpdump -i "$VETH_P" --immediate-mode -U -B 65536 \
		-s 0 -w "$TF/wire.pcap" 'tcp port 25' 2>"$TF/wire.pcap.log" &
	echo $! >"$TF/capture.pid"
	echo $! >>"$SL_BG_FILE"
	wait_until 10 grep -q 'listening on' "$TF/wire.pcap.log"
}

fl_world_down() {
	SL_CAPTURE_PID=$(cat "$TF/capture.pid" 2>/dev/null) sl_capture_stop
	fl_ctl_stop
	sl_hostile_stop hostile
	sl_pf_world_down
}

# fl_policy FILE [EXTRA]: ntsol.test (Postfix) and hostile.test (scripted),
# both with TLS verified against the test CA and AUTH; a short timeout per
# SMTP state so that stalls end in seconds.
fl_policy() {
	cat >"$1" <<-EOF
	version: 1
	controller:
	  hostname: mail.sender.test
	  listen: [127.0.0.1:10025, "[::1]:10025"]
	  cgroup: $SL_CG
	  pin_path: $SL_PIN
	  control_socket: $SL_CTL
	  limits: { timeout: ${FL_TIMEOUT:-2s} }
	defaults:
	  tls: { min_version: "1.2", verify: ca, ca_file: $SL_PKI/ca.crt }
	partners:
	  - domain: ntsol.test
	    auth: { username: smtplock, password_file: $TF/partner.pass }
	  - domain: hostile.test
	    auth: { username: smtplock, password_file: $TF/partner.pass }
	EOF
	[ -z "${2:-}" ] || printf '%s\n' "$2" >>"$1"
}

# ---- the controller -------------------------------------------------------------

FL_LOG=${BATS_FILE_TMPDIR:-/tmp}/daemon.log

fl_ctl_pid() { cat "$TF/ctl.pid" 2>/dev/null; }

_fl_ready_gt() { [ "$(grep -c 'event=ready' "$FL_LOG")" -gt "$1" ]; }

# fl_ctl_start [noresolve]: `smtplock run` in $NS_H with the test bed's
# resolv.conf (daemon.bash's recipe), appending to $FL_LOG; returns once
# it is ready and (unless noresolve) every partner has been resolved.
fl_ctl_start() {
	local n
	n=$(grep -c 'event=ready' "$FL_LOG" || true)
	sl_nsbg "$NS_H" unshare -m --propagation private sh -c \
		'mount --bind "$0" /etc/resolv.conf && exec "$@"' "/etc/netns/$NS_H/resolv.conf" \
		"$SL" run -c "$TF/policy.yaml" --foreground -v 2>>"$FL_LOG"
	echo "$SL_BG_PID" >"$TF/ctl.pid"
	# Killed on purpose: no "Killed" note from bash in the TAP stream.
	disown "$SL_BG_PID" 2>/dev/null || true
	if ! wait_until 20 _fl_ready_gt "$n"; then
		echo "# controller did not become ready:" >&3
		tail -n 20 "$FL_LOG" | sed 's/^/#   /' >&3
		return 1
	fi
	# Partners resolved and in the maps (not only the pinned ones).
	[ "${1:-}" = noresolve ] || wait_until 15 _fl_resolved "$n"
}

_fl_resolved() {
	awk -v n="$1" '/event=ready/ { r++ } r > n && /event=maps_synced .*phase=full/ { ok = 1 }
		END { exit !ok }' "$FL_LOG"
}

fl_ctl_kill() {
	local pid
	pid=$(fl_ctl_pid)
	kill -KILL "$pid"
	wait_until 10 sl_gone "$pid"
}

fl_ctl_stop() {
	local pid
	pid=$(fl_ctl_pid) || return 0
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	wait_until 15 sl_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
	rm -f "$TF/ctl.pid"
}

fl_ctl_hup() { kill -HUP "$(fl_ctl_pid)"; }

fl_ctl_fds() { ls "/proc/$(fl_ctl_pid)/fd" | wc -l; }
fl_ctl_rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$(fl_ctl_pid)/status"; }

# Sessions the running controller still has open: one log line per
# accept, one per session end (counted from its own start).
fl_ctl_sessions() {
	awk '/event=start / { a = e = 0 } /event=accept / { a++ }
		/direction=out domain=/ && /result=/ { e++ } END { print a - e }' "$FL_LOG"
}

# ---- rounds and accounting ---------------------------------------------------------

# fl_baseline: the controller's fd count and RSS when idle, after one
# message through each partner (OpenSSL, the loop and the log have built
# what they keep).  Kept in $TF/base.
fl_baseline() {
	local m
	m=$(fl_send warmup ntsol.test)
	fl_wait_stored "$m" 60
	m=$(fl_send warmup hostile.test)
	fl_wait_stored "$m" 60
	sl_pf_wait_empty snd 30
	fl_wait_idle
	echo "$(fl_ctl_fds) $(fl_ctl_rss)" >"$TF/base"
	: >"$TF/rounds"
}

_fl_idle() { [ "$(fl_ctl_sessions)" -le 0 ]; }
fl_wait_idle() { wait_until "${1:-30}" _fl_idle; }

_fl_fds_le() { [ "$(fl_ctl_fds)" -le "$1" ]; }

# fl_round_end: the controller has no session left and its fd count is
# back to the baseline; its RSS is recorded.  (A controller that was
# restarted is a new process: its fds are compared with the same
# baseline, which holds nothing per session.)
fl_round_end() {
	local fd0 rss0
	read -r fd0 rss0 <"$TF/base"
	fl_wait_idle 30 || { echo "# sessions still open: $(fl_ctl_sessions)" >&3; return 1; }
	if ! wait_until 10 _fl_fds_le "$fd0"; then
		echo "# controller fds: $(fl_ctl_fds), baseline $fd0" >&3
		ls -l "/proc/$(fl_ctl_pid)/fd" | sed 's/^/#   /' >&3
		return 1
	fi
	echo "$(fl_ctl_fds) $(fl_ctl_rss)" >>"$TF/rounds"
}

# fl_send SCENARIO DOMAIN [SIZE]: one message, recorded; prints its marker.
fl_send() {
	local m
	m=$(sl_pf_send snd 1 me@sender.test "doug@$2" "${3:-}") || return 1
	printf '%s\t%s\t%s\n' "$m" "$2" "$1" >>"$TF/sent.tsv"
	printf '%s\n' "$m"
}

# Every stored copy of every message, as "COUNT MARKER" lines.
fl_stored() {
	{
		find "$SL_PF_ROOT"/*/mail -type f \( -path '*/new/*' -o -path '*/cur/*' \) 2>/dev/null
		find "${SL_HOSTILE_ROOT:-/nonexistent}" -name '*.eml' 2>/dev/null
	} | xargs -r grep -hoE -m1 '^marker: SLM[0-9a-f]+' | awk '{ print $2 }' | sort | uniq -c
}

fl_copies() { fl_stored | awk -v m="$1" '$2 == m { print $1; f = 1 } END { if (!f) print 0 }'; }
_fl_stored_ge1() { [ "$(fl_copies "$1")" -ge 1 ]; }
fl_wait_stored() { wait_until "$2" _fl_stored_ge1 "$1" || { fl_why "$1 not stored"; return 1; }; }

# fl_why TEXT: what the parties say, on a failure.
fl_why() {
	{
		echo "# $1; our queue:"
		sl_pf_queue snd | sed 's/^/#   /'
		echo "# controller log (last lines):"
		grep -v 'level=debug' "$FL_LOG" | tail -n 15 | sed 's/^/#   /'
		echo "# sender maillog:"
		tail -n 10 "$(sl_pf_log snd)" | sed 's/^/#   /'
	} >&3
}

# fl_fault [OPTION...]: the scripted partner's fault for its next
# sessions (smtp_partner.py --control; none: behave).
fl_fault() {
	printf '%s\n' "$*" >"$TF/hostile.ctl.new"
	mv "$TF/hostile.ctl.new" "$TF/hostile.ctl"
}

# fl_deferred MARKER ERE: our Postfix holds the message with a reason
# matching ERE (it moves between queues as it is retried).
_fl_deferred() {
	local id
	id=$(_fl_qid "$1") || return 1
	sl_pf_queue snd | awk -F'\t' -v id="$id" '$2 == id { print $4 }' | grep -Eq -- "$2"
}
_fl_qid() {
	local f
	f=$(grep -rlF "Message-ID: <$1@smtplock.test>" "$SL_PF_ROOT/snd/spool/"{active,deferred,incoming,hold} \
		2>/dev/null | head -n1) || return 1
	[ -n "$f" ] && basename "$f"
}
fl_wait_deferred() { _sl_pf_wait "$3" _fl_deferred "$1" "$2"; }

# fl_deliver_all: flush our Postfix until its queue is empty.
fl_deliver_all() {
	sl_pf_flush snd
	sl_pf_wait_empty snd "${1:-90}" || {
		echo "# still queued:" >&3
		sl_pf_queue snd | sed 's/^/#   /' >&3
		return 1
	}
}

# fl_account SCENARIO INJECTIONS [MAX-DUP]: every message of SCENARIO
# delivered (MAX-DUP extra copies allowed in all: SMTP's at-least-once,
# default 0), none in clear on the wire; the tally row.  The capture is
# read up to now.
fl_account() {
	local sc=$1 inj=$2 maxdup=${3:-0}
	local sent=0 deliv=0 dup=0 lost=0 m c fd0 rss0 fdmax rssmax
	local stored markers=()
	stored=$(fl_stored)
	while IFS=$'\t' read -r m _ s; do
		[ "$s" = "$sc" ] || continue
		markers+=("$m")
		sent=$((sent + 1))
		c=$(awk -v m="$m" '$2 == m { print $1; f = 1 } END { if (!f) print 0 }' <<<"$stored")
		if [ "$c" -ge 1 ]; then
			deliv=$((deliv + 1))
			dup=$((dup + c - 1))
		else
			lost=$((lost + 1))
			echo "# lost: $m" >&3
		fi
	done <"$TF/sent.tsv"
	local wire pt mic gap
	sleep 0.2	# the last segments reach the capture file (-U)
	wire=$("$SL_PY" "$FL_LIB/wire.py" "$TF/wire.pcap" "${markers[@]}")
	pt=$(sed -n 's/^plaintext_bytes=//p' <<<"$wire")
	gap=$(sed -n 's/^gap_bytes=//p' <<<"$wire")
	mic=$(sed -n 's/^markers_in_clear=//p' <<<"$wire")
	read -r fd0 rss0 <"$TF/base"
	fdmax=$(awk 'BEGIN { m = 0 } $1 > m { m = $1 } END { print m }' "$TF/rounds")
	rssmax=$(awk 'BEGIN { m = 0 } $2 > m { m = $2 } END { print m }' "$TF/rounds")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$sc" "$inj" "$sent" "$deliv" \
		"$dup" "$lost" "$pt" "$mic" "$fd0" "$fdmax" "$rss0" "$rssmax" "$gap" >>"$FAULTS_TALLY"
	printf '# %s: injections=%s sent=%s delivered=%s duplicated=%s lost=%s plaintext_bytes=%s markers_in_clear=%s capture_gaps=%s fds=%s/%s rss_kb=%s/%s\n' \
		"$sc" "$inj" "$sent" "$deliv" "$dup" "$lost" "$pt" "$mic" "$gap" "$fd0" "$fdmax" "$rss0" "$rssmax" >&3
	grep '^leak=' <<<"$wire" | sed 's/^/#   /' >&3 || true
	: >"$TF/rounds"
	[ "$sent" -gt 0 ] && [ "$lost" -eq 0 ] && [ "$dup" -le "$maxdup" ] &&
		[ "${pt:-1}" -eq 0 ] && [ "${mic:-1}" -eq 0 ] && [ "$fdmax" -le "$fd0" ] &&
		fl_rss_ok "$rss0" "$rssmax"
}

# Memory back to baseline: glibc keeps freed memory in its arenas, so
# the RSS of an idle controller may sit a little above the first idle
# figure; growth per round is what a leak looks like.
fl_rss_ok() {
	local base=$1 max=$2 slack=${FL_RSS_SLACK_KB:-4096}
	[ "$max" -le $((base + slack)) ] || {
		echo "# controller RSS ${max} kB after a round, baseline ${base} kB (+${slack} allowed)" >&3
		return 1
	}
}

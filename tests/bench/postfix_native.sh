#!/bin/bash
# tests/bench/postfix_native.sh — smtplock against Postfix doing TLS + AUTH
# itself: the same messages from Postfix to the same partner, once each way,
# messages per second and sending-side CPU per message.  A benchmark, not a
# timed test: it prints figures (and writes them into tests/bench/README.md)
# and fails only if mail does not arrive intact.
#
#   make && sudo SLT_ID=40 tests/bench/postfix_native.sh
#   ROUNDS=3 WORKLOADS="200:10k 20:1m" CACHE="off on" MECHS="SCRAM-SHA-256 PLAIN" \
#       README= tests/bench/postfix_native.sh
#
# The world, built once with the bats test bed (tests/bats/lib/*.bash, the
# same as 30-outbound.bats): namespaces $NS_H (ours) and $NS_P (partner),
# dnsmasq, a test PKI, and a partner Postfix that requires STARTTLS and
# AUTH (Cyrus SASL, sasldb).  Two senders, both stock Postfix in $NS_H,
# each with its master in a cgroup of its own under the enforced one:
#
#   A  native  smtp_tls_security_level=encrypt, smtp_tls_CAfile and
#              smtp_sasl_password_maps: Postfix does TLS + AUTH itself,
#              straight to the partner.  smtplock is NOT running and its
#              pinned links are removed: nothing is attached to the cgroup.
#   B  lock    no TLS or SASL settings; smtplock runs (verify: ca, auth)
#              and its programs redirect the sender's connections to it.
#
# Per run and workload (COUNT x SIZE): the wall time from the first sendmail
# to the last message delivered into the partner's maildir (the newest
# file's mtime), and the CPU the sending side used meanwhile:
#   A  the sender Postfix: cpu.stat usage_usec of its cgroup.  Its master's
#      children (pickup, cleanup, qmgr, trivial-rewrite, smtp, tlsmgr ...)
#      come and go; a cgroup's usage includes the CPU of members that have
#      exited, so nothing escapes;
#   B  the same for its sender, plus the controller's, which is moved into
#      a cgroup of its own (outside the enforced one) after start; its
#      /proc/PID/stat utime+stime is printed alongside as a cross-check.
# The CPU is read once the sender's queue is empty and its connections are
# closed, so each run pays for its own QUITs and close-downs.  sendmail
# itself runs in this script's cgroup: the submission costs the same in
# both runs and is counted in neither.
#
# CACHE: the sender's SMTP connection caching, the same in A and B:
#   off  smtp_connection_cache_on_demand=no: one connection (one TLS
#        handshake and AUTH) per message in both;
#   on   smtp_connection_cache_on_demand=yes (the default) and, for A,
#        smtp_tls_connection_reuse=yes (tlsproxy): without it Postfix never
#        reuses a TLS connection, while B's plaintext leg to the controller
#        is reused as Postfix likes — the relayed partner session with it.
# Neither side resumes TLS sessions (no smtp_tls_session_cache_database;
# the controller keeps none).
#
# MECHS: the SASL mechanism both sides use, each in turn.  SCRAM-SHA-256 is
# what both pick by themselves from the partner's offer; PLAIN takes the
# SASL libraries out of the comparison (Cyrus's SCRAM client, which Postfix
# uses, derives the salted password with 4096 one-shot HMAC() calls that
# fetch the digest each time: several times the cost of the controller's
# PKCS5_PBKDF2_HMAC).
#
# Rounds alternate the order (A then B, B then A, ...) and the figures are
# medians over ROUNDS.  The machine is shared: the 1-minute load average is
# recorded with every measurement.
set -e -o pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$PWD
ROUNDS=${ROUNDS:-3}
WORKLOADS=${WORKLOADS:-"200:10k 20:1m"}
CACHE=${CACHE:-"off on"}
MECHS=${MECHS:-"SCRAM-SHA-256 PLAIN"}
README=${README-tests/bench/README.md}
CMDLINE="sudo SLT_ID=${SLT_ID:-<id>} ROUNDS=$ROUNDS WORKLOADS=\"$WORKLOADS\" CACHE=\"$CACHE\" MECHS=\"$MECHS\" tests/bench/postfix_native.sh"

[ "$(id -u)" = 0 ] || { echo "postfix_native.sh: needs root" >&2; exit 2; }
[ -x build/smtplock ] || { echo "postfix_native.sh: run make first" >&2; exit 2; }

# PN_TMP=DIR PN_KEEP=1 ROUNDS=0: build the world in DIR and leave it up; then
# `PN_TMP=DIR . tests/bench/postfix_native.sh` (sourced) gives its functions
# on that world (lock_on, measure A native 200 10k, ...) to profile by hand;
# a later run with PN_TMP=DIR and no PN_KEEP takes it down at the end.
TMP=${PN_TMP:-$(mktemp -d /tmp/slbench-pf.XXXXXX)}
mkdir -p "$TMP"
chmod 755 "$TMP"
export BATS_FILE_TMPDIR=$TMP TF=$TMP T=$TMP
exec 3>&2	# the test bed reports trouble on fd 3 (bats' terminal)

# shellcheck source=../bats/helper.bash
. tests/bats/helper.bash
. tests/bats/daemon.bash
. tests/bats/lib/pki.bash
. tests/bats/lib/dns.bash
. tests/bats/lib/postfix.bash

# A world left up by PN_KEEP=1: take it over (and down at the end).
[ ! -f "$TMP/env" ] || . "$TMP/env"

CGROOT=$(sl_cgroup2_root)
CG_CTL=$CGROOT/slt${SLT_ID}ctl		# the controller, outside the enforced cgroup
CG_PT=$CGROOT/slt${SLT_ID}partner	# the partner Postfix (for the record)
OUT=$TMP/raw.txt			# one key=value line per measurement
SL_DAEMON_PID=
[ ! -f "$TMP/daemon.pid" ] || read -r SL_DAEMON_PID <"$TMP/daemon.pid"

cleanup() {
	set +e
	[ -z "${PN_KEEP:-}" ] || { say "world kept: $TMP (SL_PF_ROOT=$SL_PF_ROOT)"; return; }
	sl_daemon_stop
	sl_pf_cleanup
	sl_dns_stop
	sl_kill_bg
	rm -rf "$SL_PIN"
	local cg p
	for cg in "$SL_CG"/*/ "$CG_CTL" "$CG_PT"; do
		[ -d "$cg" ] || continue
		for p in $(cat "$cg/cgroup.procs" 2>/dev/null); do echo "$p" >"$CGROOT/cgroup.procs"; done
		rmdir "$cg" 2>/dev/null
	done
	sl_cg_down
	sl_net_down
	rm -rf "$TMP"
}

say() { printf '# %s\n' "$*" >&2; }
die() { say "FAIL: $*"; exit 1; }

# ---- the world -----------------------------------------------------------------
world_up() {
	sl_net_up
	sl_cg_up
	rm -rf "$SL_PIN"
	mkdir -p "$SL_CG/native" "$SL_CG/lock" "$CG_CTL" "$CG_PT"
	sl_pki_init
	sl_pki_server pf-bench ca mx1.ntsol.test
	sl_dns_init
	sl_dns_ttl 300
	sl_dns_mx ntsol.test mx1.ntsol.test
	sl_dns_addr mx1.ntsol.test "$P4"
	sl_dns_start
	sl_pf_partner partner "$P4" ntsol.test host=mx1.ntsol.test cert=pf-bench
	# Both: messages are submitted on hold (see measure), and idle
	# processes stay for the whole benchmark (warm in every round).
	local -a both=("header_checks=regexp:$TMP/hold" max_idle=3600s)
	printf '/^Subject: smtplock test / HOLD\n' >"$TMP/hold"
	sl_pf_sender native tls=encrypt "sasl=smtplock:$SL_PF_PASS" "${both[@]}"
	sl_pf_sender lock "${both[@]}"
	# TLS connection reuse (CACHE=on) goes through tlsproxy(8), which the
	# test bed's master.cf does not run.
	printf 'tlsproxy  unix  -       -       n       -       0       tlsproxy\n' \
		>>"$SL_PF_ROOT/native/etc/master.cf"
	_sl_pf_settle native
	# Each sender's master in its own cgroup: sl_pf_start puts it in $SL_CG.
	sl_pf_start partner
	# The partner's CPU is not the sending side's, but it shares the two
	# cores: recorded to explain the throughput.  Its master's future
	# children follow it into the cgroup.
	local p
	for p in $(_sl_pf_procs partner); do echo "$p" >"$CG_PT/cgroup.procs"; done
	SL_CG=$SL_CG/native sl_pf_start native
	SL_CG=$SL_CG/lock sl_pf_start lock
	printf '%s\n' "$SL_PF_PASS" >"$TMP/ntsol.pass"
	chmod 600 "$TMP/ntsol.pass"
	declare -p SL_PF_ROOT SL_PKI SL_DNS SL_DNS_ADDR >"$TMP/env"
	# The bodies, made now rather than inside a timed window.
	local w
	for w in $WORKLOADS; do _sl_pf_payload "${w#*:}" >/dev/null; done
}

# mech_mode MECH: both sides log in with this SASL mechanism (the native
# sender through smtp_sasl_mechanism_filter, smtplock through its policy).
mech_mode() {
	sl_pf_conf native "smtp_sasl_mechanism_filter=$1"
	sl_pf_reload native
	cat >"$TMP/policy.yaml" <<-POLICY
	version: 1
	controller:
	  hostname: mail.sender.test
	  listen: [127.0.0.1:10025]
	  cgroup: $SL_CG
	  pin_path: $SL_PIN
	  control_socket: $SL_CTL
	defaults:
	  tls: { min_version: "1.2", verify: ca, ca_file: $SL_PKI/ca.crt }
	partners:
	  - domain: ntsol.test
	    auth: { username: smtplock, password_file: $TMP/ntsol.pass, mechanisms: [$1] }
	POLICY
}

# cache_mode off|on: the same connection caching in both senders.
cache_mode() {
	local od=no
	[ "$1" = on ] && od=yes
	sl_pf_conf native "smtp_connection_cache_on_demand=$od" "smtp_tls_connection_reuse=$od"
	sl_pf_conf lock "smtp_connection_cache_on_demand=$od"
	sl_pf_reload native
	sl_pf_reload lock
}

attached() {	# the number of programs attached to the enforced cgroup
	bpftool cgroup show "$SL_CG" 2>/dev/null | awk 'NR > 1 && $1 ~ /^[0-9]+$/' | wc -l
}

lock_on() {
	sl_daemon_start "$TMP/policy.yaml" || die "smtplock did not start"
	echo "$SL_DAEMON_PID" >"$CG_CTL/cgroup.procs"
	echo "$SL_DAEMON_PID" >"$TMP/daemon.pid"
	[ "$(attached)" -gt 0 ] || die "smtplock attached nothing to $SL_CG"
}

lock_off() {
	sl_daemon_stop
	rm -f "$TMP/daemon.pid"
	rm -rf "$SL_PIN"	# the pinned links hold the programs: unload
	wait_until 10 sh -c "[ \$(bpftool cgroup show '$SL_CG' 2>/dev/null | awk 'NR > 1 && \$1 ~ /^[0-9]+\$/' | wc -l) = 0 ]" ||
		die "programs still attached to $SL_CG"
}

# ---- measuring -------------------------------------------------------------------
BOX=			# the partner's maildir
cg_usec() { local k v; while read -r k v; do [ "$k" = usage_usec ] && { echo "$v"; return; }; done <"$1/cpu.stat"; }
proc_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
delivered() { local f=("$BOX"/new/* "$BOX"/cur/*); local n=0 x; for x in "${f[@]}"; do [ -e "$x" ] && n=$((n + 1)); done; echo "$n"; }
partner_conns() { grep -c ']: connect from ' "$(sl_pf_log partner)" || true; }
_delivered_ge() { [ "$(delivered)" -ge "$1" ]; }
# No SMTP connection of ours is open (the sender's, the controller's).
_quiet() { [ -z "$(sl_in "$NS_H" ss -Htn state established '( dport = :25 or dport = :10025 )')" ]; }

_held_ge() { [ "$(sl_pf_queue_count "$1" hold)" -ge "$2" ]; }

# measure A|B NAME COUNT SIZE: one key=value line on $OUT and stdout.
#
# sendmail (sl_pf_send: a handful of forks per message) submits a few
# messages per second on this machine, fewer than either side delivers, so
# a clock started at the first sendmail would time the submission.  The
# messages are therefore submitted on hold (the senders' header_checks),
# then released at once (postsuper -H ALL; postqueue -f), and the clock
# runs from the release to the last delivery.  CPU: the submission's
# (pickup, cleanup, trivial-rewrite: the same work in A and B) is recorded
# apart from the delivery's (qmgr, smtp, tlsproxy, scache, ... and the
# controller), from the release until the sender is quiet again.
measure() {
	local run=$1 pf=$2 count=$3 size=$4 cg=$SL_CG/$2
	local c0 c1 c2 k1=0 k2=0 kt1=0 kt2=0 p1 p2 ts t1 tlast conns1 conns2 lines1 markers m load
	rm -f "$BOX"/new/* "$BOX"/cur/*
	c0=$(cg_usec "$cg")
	ts=$EPOCHREALTIME
	markers=$(sl_pf_send "$pf" "$count" me@sender.test doug@ntsol.test "$size")
	_sl_pf_wait 120 _held_ge "$pf" "$count" || die "$run: $count messages not on hold"
	load=$(cut -d' ' -f1 /proc/loadavg)
	conns1=$(partner_conns)
	lines1=$(wc -l <"$(sl_pf_log partner)")
	c1=$(cg_usec "$cg")
	p1=$(cg_usec "$CG_PT")
	if [ "$run" = B ]; then k1=$(cg_usec "$CG_CTL"); kt1=$(proc_ticks "$SL_DAEMON_PID"); fi
	t1=$EPOCHREALTIME
	MAIL_CONFIG=$SL_PF_ROOT/$pf/etc postsuper -H ALL 2>/dev/null
	sl_pf_flush "$pf"
	wait_until 600 _delivered_ge "$count" || die "$run: $(delivered) of $count delivered"
	wait_until 60 _sl_pf_empty "$pf" || die "$run: the sender's queue is not empty"
	wait_until 30 _quiet || say "$run: connections still open after 30 s"
	c2=$(cg_usec "$cg")
	p2=$(cg_usec "$CG_PT")
	if [ "$run" = B ]; then k2=$(cg_usec "$CG_CTL"); kt2=$(proc_ticks "$SL_DAEMON_PID"); fi
	tlast=$(find "$BOX/new" "$BOX/cur" -type f -printf '%T@\n' | sort -n | tail -n1)
	conns2=$(partner_conns)
	[ "$(delivered)" -eq "$count" ] || die "$run: $(delivered) delivered, $count sent"
	# Every login of the run used the mechanism under test.
	m=$(tail -n +"$((lines1 + 1))" "$(sl_pf_log partner)" | grep -o 'sasl_method=[^,]*' | sort -u | tr '\n' ' ')
	[ "$m" = "sasl_method=$MECH_NOW " ] || die "$run: the partner saw ${m:-no login}, not $MECH_NOW"
	# Spot checks: the first, a middle and the last message, byte for byte.
	set -- $markers
	for m in "$1" "${@:$(( ($# + 1) / 2 )):1}" "${@: -1}"; do
		sl_pf_mbox_intact partner "$m" || die "$run: message $m damaged"
	done
	awk -v run="$run" -v cache="$CACHE_NOW" -v mech="$MECH_NOW" -v n="$count" -v size="$size" -v ts="$ts" \
	    -v t1="$t1" -v tl="$tlast" -v sub_us="$(( c1 - c0 ))" -v pf="$(( c2 - c1 ))" \
	    -v ctl="$(( k2 - k1 ))" -v ticks="$(( kt2 - kt1 ))" -v hz="$(getconf CLK_TCK)" \
	    -v conns="$(( conns2 - conns1 ))" -v load="$load" -v round="$ROUND" \
	    -v pt="$(( p2 - p1 ))" 'BEGIN {
		s = tl - t1
		printf "run=%s mech=%s cache=%s round=%d n=%d size=%s secs=%.3f msgs_s=%.2f " \
			"cpu_postfix_s=%.3f cpu_ctl_s=%.3f cpu_ctl_proc_s=%.2f cpu_ms_per_msg=%.2f " \
			"cpu_submit_ms_per_msg=%.2f cpu_partner_ms_per_msg=%.2f partner_conns=%d " \
			"submit_secs=%.1f load1=%s\n",
			run, mech, cache, round, n, size, s, n / s, pf / 1e6, ctl / 1e6, ticks / hz,
			(pf + ctl) / 1e3 / n, sub_us / 1e3 / n, pt / 1e3 / n, conns, t1 - ts, load
	}' | tee -a "$OUT"
}

run_A() { local w; for w in $WORKLOADS; do measure A native "${w%%:*}" "${w#*:}"; done; }
run_B() {
	local w
	lock_on
	for w in $WORKLOADS; do measure B lock "${w%%:*}" "${w#*:}"; done
	T=$TMP sl_log_has 'result=relayed' || die "B: no session relayed by smtplock"
	lock_off
}

# ---- the report --------------------------------------------------------------------
# Per (cache, workload): medians over the rounds, the ratios of the medians
# — B/A for throughput, A/B for CPU per message, so >= 0.95 meets the goal
# either way — and, in brackets, the range of the same ratio taken round by
# round (A and B of one round ran minutes apart at most: the spread says
# how much the machine's load moved the figures).
report() {
	awk '
	function kv(k,   i, a) { for (i = 1; i <= NF; i++) { split($i, a, "="); if (a[1] == k) return a[2] } return "" }
	function median(s,   v, n, i, j, t) {
		n = split(s, v, " ")
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
		return n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
	}
	function range(s,   v, n, i, lo, hi) {
		n = split(s, v, " "); lo = hi = v[1]
		for (i = 2; i <= n; i++) { if (v[i] + 0 < lo + 0) lo = v[i]; if (v[i] + 0 > hi + 0) hi = v[i] }
		return sprintf("%.2f–%.2f", lo, hi)
	}
	/^run=/ && kv("round") > 0 {
		k = kv("mech") SUBSEP kv("cache") SUBSEP kv("n") SUBSEP kv("size")
		if (!(k in seen)) { seen[k] = 1; order[++nk] = k }
		r = kv("run"); rd = kv("round")
		mps[k, r] = mps[k, r] " " kv("msgs_s"); m1[k, r, rd] = kv("msgs_s")
		cpm[k, r] = cpm[k, r] " " kv("cpu_ms_per_msg"); c1[k, r, rd] = kv("cpu_ms_per_msg")
		ctl[k, r] = ctl[k, r] " " (kv("cpu_ctl_s") * 1000 / kv("n"))
		ptn[k, r] = ptn[k, r] " " kv("cpu_partner_ms_per_msg")
		cn[k, r] = cn[k, r] " " kv("partner_conns")
		if (rd > maxrd) maxrd = rd
	}
	END {
		printf "| AUTH | cache | workload | msg/s A | msg/s B | **B/A** msg/s | CPU ms/msg A | CPU ms/msg B (controller) | **A/B** CPU | partner: CPU ms/msg A / B, connections A / B |\n"
		printf "|---|---|---|---|---|---|---|---|---|---|\n"
		for (i = 1; i <= nk; i++) {
			k = order[i]; split(k, f, SUBSEP)
			rm = rc = ""
			for (rd = 1; rd <= maxrd; rd++)
				if (((k, "A", rd) in m1) && ((k, "B", rd) in m1)) {
					rm = rm " " m1[k, "B", rd] / m1[k, "A", rd]
					rc = rc " " c1[k, "A", rd] / c1[k, "B", rd]
				}
			ma = median(mps[k, "A"]); mb = median(mps[k, "B"])
			ca = median(cpm[k, "A"]); cb = median(cpm[k, "B"])
			printf "| %s | %s | %d × %s | %.1f | %.1f | **%.2f** (%s) | %.2f | %.2f (%.2f) | **%.2f** (%s) | %.2f / %.2f, %s / %s |\n",
				f[1], f[2], f[3], f[4], ma, mb, mb / ma, range(rm), ca, cb, median(ctl[k, "B"]),
				ca / cb, range(rc), median(ptn[k, "A"]), median(ptn[k, "B"]),
				median(cn[k, "A"]), median(cn[k, "B"])
		}
	}' "$OUT"
}

machine() {
	local cpu
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	printf '%s, %s CPUs, kernel %s, Postfix %s, %s, smtplock %s\n' "$cpu" "$(nproc)" \
		"$(uname -r)" "$(postconf -d -h mail_version)" "$(openssl version | cut -d' ' -f1-2)" \
		"$(git describe --always --dirty 2>/dev/null || cat VERSION)"
}

# write_readme TEXTFILE: the figures between the markers of our section.
write_readme() {
	local begin='<!-- postfix_native.sh: figures begin -->' end='<!-- postfix_native.sh: figures end -->'
	grep -qF "$begin" "$README" || { say "no figures markers in $README: not written"; return 0; }
	awk -v b="$begin" -v e="$end" -v f="$1" '
		$0 == b { print; while ((getline l < f) > 0) print l; skip = 1; next }
		$0 == e { skip = 0 }
		!skip' "$README" >"$README.new" && mv "$README.new" "$README"
	say "figures written into $README"
}

# ---- main ---------------------------------------------------------------------------
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0	# sourced: the functions only
trap cleanup EXIT
trap 'exit 130' INT TERM
say "building the world (SLT_ID=$SLT_ID)"
sl_pf_cleanup
world_up
BOX=$SL_PF_ROOT/partner/mail/box
lock_off
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')
: >"$OUT"
for MECH_NOW in $MECHS; do
	mech_mode "$MECH_NOW"
	for CACHE_NOW in $CACHE; do
		say "AUTH $MECH_NOW, connection caching: $CACHE_NOW"
		cache_mode "$CACHE_NOW"
		# Round 0 warms up (processes, caches; not reported).
		for (( ROUND = 0; ROUND <= ROUNDS; ROUND++ )); do
			if (( ROUND % 2 )); then run_A; run_B; else run_B; run_A; fi
		done
	done
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

{
	echo "Run $STARTED on: $(machine)."
	echo "Load average (1, 5, 15 min) at the start: $LOAD_START; at the end: $LOAD_END;"
	awk '/^run=/ && !/ round=0 / { split($NF, a, "="); v[++n] = a[2] } END {
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (v[j] + 0 < v[i] + 0) { t = v[i]; v[i] = v[j]; v[j] = t }
		printf "1-minute load during the %d measurements: min %s, median %s, max %s.\n", n, v[1], v[int((n + 1) / 2)], v[n] }' "$OUT"
	echo
	report
	echo
	echo '```'
	echo "$CMDLINE"
	echo '```'
	echo
	echo "<details><summary>raw measurements</summary>"
	echo
	echo '```'
	cat "$OUT"
	echo '```'
	echo "</details>"
} >"$TMP/figures.md"
echo
cat "$TMP/figures.md"
[ -z "$README" ] || write_readme "$TMP/figures.md"

# tests/bats/lib/dns.bash — the test bed's DNS: dnsmasq in the partner namespace.
#
#   load lib/dns
#   sl_dns_init [ADDR]           state in $SL_DNS (per-file tmpdir); dnsmasq will
#                                listen on ADDR:53 (default $P4) in $NS_P, with no
#                                upstream (--no-resolv, --no-hosts) and
#                                authoritative NXDOMAIN for *.test names it
#                                does not know; writes /etc/netns/$NS_H/ and
#                                /etc/netns/$NS_P/resolv.conf pointing at it
#                                (timeout:1 attempts:1, so failures are fast).
#                                Only processes started with `ip netns exec`
#                                see that resolv.conf (Postfix via lib/postfix
#                                is), and that hides bpffs and cgroup2, so:
#   sl_dns_in NS CMD...          run CMD in NS's network with NS's resolv.conf
#                                AND /sys intact (nsenter + a private mount
#                                namespace binding resolv.conf): how to start
#                                the smtplock controller, which needs both
#   sl_dns_dig NS ARGS...        dig @ADDR +short ARGS from namespace NS
#   records (edit files; take effect at sl_dns_start / sl_dns_reload):
#     sl_dns_addr NAME ADDR...     A / AAAA (by the address's family)
#     sl_dns_mx DOMAIN HOST [PREF] MX (PREF default 10)
#     sl_dns_txt NAME TEXT         TXT
#     sl_dns_tlsa NAME U S M HEX   TLSA (type 52 via --dns-rr), e.g.
#                                  sl_dns_tlsa _25._tcp.mx1.x.test 3 1 1 \
#                                      "$(sl_pki_tlsa_hex mx1.crt 1)"
#     sl_dns_cname NAME TARGET     CNAME
#     sl_dns_del NAME              forget every record of NAME (exact name)
#     sl_dns_ttl SECONDS           TTL of every answer (default 0: no caching)
#   sl_dns_start                 start dnsmasq (and the front, see modes);
#                                returns once it answers
#   sl_dns_reload                apply record changes: address-only changes are
#                                a SIGHUP (addn-hosts file, no gap in service:
#                                use them for "addresses move during a
#                                refresh"); anything else restarts dnsmasq
#                                (a gap of some tens of ms)
#   sl_dns_stop                  stop everything DNS (by PID) and wait
#   sl_dns_mode MODE             how DNS answers from now on:
#       normal    dnsmasq answers on ADDR:53 (the default)
#       down      nothing listens: queries get ICMP port unreachable
#       timeout   dnsmasq is SIGSTOPped: queries are never answered
#       refused   dnsmasq without any record: REFUSED to everything
#       servfail  the front (dns_front.py) answers SERVFAIL to everything
#       ad        the front forwards to dnsmasq and sets the AD bit, standing
#                 in for a DNSSEC-validating resolver (see the note below)
#     normal <-> timeout and ad <-> servfail switch at once; the others
#     restart dnsmasq.  Records keep applying in every answering mode.
#
# DNSSEC: dnsmasq can validate answers from an upstream (--dnssec) but cannot
# sign zones, and no signer is among our packages.  The controller's DANE code
# trusts the AD bit of its configured resolver, as Postfix does, so mode `ad`
# (a front that sets AD on dnsmasq's answers) tests that path; mode `normal`
# gives the same answers without AD, for the "no AD bit → fail" test.
# Everything ends at sl_dns_stop; call it in teardown_file.

SL_DNS_LIB=${BASH_SOURCE[0]%/*}
# Debian's python3 (deps.sh), not whatever shim comes first in PATH.
SL_PY=${SL_PY:-/usr/bin/python3}

sl_dns_init() {
	SL_DNS=${BATS_FILE_TMPDIR:-$T}/dns
	SL_DNS_ADDR=${1:-$P4}
	export SL_DNS SL_DNS_ADDR
	mkdir -p "$SL_DNS"
	: >"$SL_DNS/records.conf"
	: >"$SL_DNS/hosts"
	echo 0 >"$SL_DNS/ttl"
	echo normal >"$SL_DNS/mode"
	echo pass >"$SL_DNS/front.mode"
	local ns
	for ns in "$NS_H" "$NS_P"; do
		mkdir -p "/etc/netns/$ns"
		printf 'nameserver %s\noptions timeout:1 attempts:1\n' "$SL_DNS_ADDR" \
			>"/etc/netns/$ns/resolv.conf"
	done
}

# ---- records ---------------------------------------------------------------
sl_dns_addr() {
	local name=$1 a; shift
	for a in "$@"; do
		printf '%s %s\n' "$a" "$name" >>"$SL_DNS/hosts"
	done
}

sl_dns_mx() {
	printf 'mx-host=%s,%s,%s\n' "$1" "$2" "${3:-10}" >>"$SL_DNS/records.conf"
}

sl_dns_txt() {
	printf 'txt-record=%s,"%s"\n' "$1" "$2" >>"$SL_DNS/records.conf"
}

sl_dns_tlsa() {
	printf 'dns-rr=%s,52,%02x%02x%02x%s\n' "$1" "$2" "$3" "$4" "$5" \
		>>"$SL_DNS/records.conf"
}

sl_dns_cname() {
	printf 'cname=%s,%s\n' "$1" "$2" >>"$SL_DNS/records.conf"
}

sl_dns_del() {
	local n=$1
	awk -v n="$n" '$2 != n' "$SL_DNS/hosts" >"$SL_DNS/hosts.new" &&
		mv "$SL_DNS/hosts.new" "$SL_DNS/hosts"
	awk -v n="$n" '{ split($0, a, /[=,]/) } a[2] != n' "$SL_DNS/records.conf" \
		>"$SL_DNS/records.new" && mv "$SL_DNS/records.new" "$SL_DNS/records.conf"
}

sl_dns_ttl() {
	echo "$1" >"$SL_DNS/ttl"
}

# ---- dnsmasq ---------------------------------------------------------------
# _sl_dns_conf ADDR PORT EMPTY: the dnsmasq configuration (EMPTY=1: no records).
_sl_dns_conf() {
	local c=$SL_DNS/dnsmasq.conf ttl
	read -r ttl <"$SL_DNS/ttl"
	cat >"$c" <<-EOF
	port=$2
	listen-address=$1
	bind-interfaces
	no-resolv
	no-hosts
	no-negcache
	local-ttl=$ttl
	log-facility=$SL_DNS/dnsmasq.log
	log-queries
	EOF
	if [ "$3" != 1 ]; then
		cat >>"$c" <<-EOF
		local=/test/
		addn-hosts=$SL_DNS/hosts
		conf-file=$SL_DNS/records.conf
		EOF
	fi
	# What a SIGHUP cannot reload: remember it to know when to restart.
	{ cat "$c" "$SL_DNS/records.conf"; } | sha256sum >"$SL_DNS/conf.sum"
}

# (read, not cat: under load every fork costs tens of ms, and mode switches
# in fault loops should be quick)
_sl_dns_pid() {
	local p=
	read -r p 2>/dev/null <"$SL_DNS/$1.pid"
	echo "$p"
}

_sl_dns_answers() {	# _sl_dns_answers ADDR PORT: something answers there
	sl_in "$NS_P" dig @"$1" -p "$2" +tries=1 +time=1 SOA test. >/dev/null 2>&1
}

_sl_dns_run_dnsmasq() {	# ADDR PORT EMPTY
	local n
	_sl_dns_conf "$@"
	n=$(_sl_dns_starts)
	nsenter --net="/run/netns/$NS_P" -- dnsmasq -k --user=root --pid-file= \
		--conf-file="$SL_DNS/dnsmasq.conf" 2>>"$SL_DNS/dnsmasq.err" &
	echo $! >"$SL_DNS/dnsmasq.pid"
	echo $! >>"$SL_BG_FILE"
	# dnsmasq logs "started" once its sockets are bound; a query proves it.
	wait_until 5 _sl_dns_started "$n" && _sl_dns_answers "$1" "$2"
}

_sl_dns_starts() {
	local n
	n=$(grep -c 'dnsmasq\[[0-9]*\]: started, version' "$SL_DNS/dnsmasq.log" 2>/dev/null)
	echo "${n:-0}"
}
_sl_dns_started() { [ "$(_sl_dns_starts)" -gt "$1" ]; }

_sl_dns_run_front() {
	echo "$1" >"$SL_DNS/front.mode"
	nsenter --net="/run/netns/$NS_P" -- "$SL_PY" "$SL_DNS_LIB/dns_front.py" \
		"$SL_DNS_ADDR" 127.0.0.1 5353 "$SL_DNS/front.mode" \
		>"$SL_DNS/front.out" 2>&1 &
	echo $! >"$SL_DNS/front.pid"
	echo $! >>"$SL_BG_FILE"
	wait_until 5 grep -q ready "$SL_DNS/front.out"
}

_sl_dns_kill() {	# _sl_dns_kill dnsmasq|front
	local pid
	pid=$(_sl_dns_pid "$1") || return 0
	[ -n "$pid" ] || return 0
	kill -CONT "$pid" 2>/dev/null
	kill "$pid" 2>/dev/null
	wait_until 5 sl_gone "$pid" || kill -9 "$pid" 2>/dev/null
	rm -f "$SL_DNS/$1.pid"
}

sl_dns_stop() {
	[ -n "${SL_DNS:-}" ] || return 0
	_sl_dns_kill front
	_sl_dns_kill dnsmasq
}

sl_dns_start() {
	local m
	read -r m <"$SL_DNS/mode"
	sl_dns_stop
	echo down >"$SL_DNS/mode"
	sl_dns_mode "$m"
}

sl_dns_mode() {
	local m=$1 cur pid
	read -r cur <"$SL_DNS/mode"
	pid=$(_sl_dns_pid dnsmasq)
	# Cheap switches first: the front reads its mode per query, and a
	# stopped dnsmasq only needs to continue.
	if [ -n "$(_sl_dns_pid front)" ] && { [ "$m" = ad ] || [ "$m" = servfail ]; }; then
		echo "$m" >"$SL_DNS/front.mode"
		echo "$m" >"$SL_DNS/mode"
		return
	fi
	if [ -n "$pid" ] && { [ "$cur" = normal ] || [ "$cur" = timeout ]; } &&
	   { [ "$m" = normal ] || [ "$m" = timeout ]; }; then
		if [ "$m" = timeout ]; then kill -STOP "$pid"; else kill -CONT "$pid"; fi
		echo "$m" >"$SL_DNS/mode"
		return
	fi
	sl_dns_stop
	case $m in
	normal|timeout)
		_sl_dns_run_dnsmasq "$SL_DNS_ADDR" 53 0 || return 1
		if [ "$m" = timeout ]; then
			kill -STOP "$(_sl_dns_pid dnsmasq)"
		fi ;;
	refused)
		_sl_dns_run_dnsmasq "$SL_DNS_ADDR" 53 1 ;;
	servfail|ad)
		_sl_dns_run_dnsmasq 127.0.0.1 5353 0 && _sl_dns_run_front "$m" ;;
	down) ;;
	*) echo "sl_dns_mode: unknown mode $m" >&2; return 2 ;;
	esac || return 1
	echo "$m" >"$SL_DNS/mode"
}

sl_dns_reload() {
	local pid n sum applied mode
	pid=$(_sl_dns_pid dnsmasq)
	read -r applied <"$SL_DNS/conf.sum"
	read -r mode <"$SL_DNS/mode"
	sum=$({ cat "$SL_DNS/dnsmasq.conf" "$SL_DNS/records.conf"; } | sha256sum)
	if [ -z "$pid" ] || [ "$sum" != "$applied" ] || [ "$mode" != normal ]; then
		sl_dns_start
		return
	fi
	# Same configuration: a SIGHUP rereads the addn-hosts file, and dnsmasq
	# logs "read FILE - N names" once it has.
	n=$(grep -c "read $SL_DNS/hosts" "$SL_DNS/dnsmasq.log")
	kill -HUP "$pid"
	wait_until 5 _sl_dns_reread "$n"
}

_sl_dns_reread() {
	[ "$(grep -c "read $SL_DNS/hosts" "$SL_DNS/dnsmasq.log")" -gt "$1" ]
}

sl_dns_in() {
	local ns=$1; shift
	nsenter --net="/run/netns/$ns" -- unshare -m --propagation private \
		sh -c 'mount --bind "$0" /etc/resolv.conf && exec "$@"' \
		"/etc/netns/$ns/resolv.conf" "$@"
}

sl_dns_dig() {
	local ns=$1; shift
	sl_in "$ns" dig @"$SL_DNS_ADDR" +tries=1 +time=1 +short "$@"
}

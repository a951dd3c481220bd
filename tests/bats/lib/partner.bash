# tests/bats/lib/partner.bash — scripted hostile partners (smtp_partner.py).
#
# Real partners are Postfix (lib/postfix.bash: sl_pf_partner).  These exist for
# the attack and fault scenarios no real server plays on purpose: no STARTTLS,
# plaintext injected around STARTTLS (CVE-2011-0411 class), STARTTLS answered
# but TLS never started, STARTTLS offered only once, and stalls or resets at
# any point of a TLS + AUTH session.
#
#   load lib/pki; load lib/partner
#   sl_hostile_start NAME ADDR [OPTION...]  start one on ADDR:25 in $NS_P (add
#                       ADDR with sl_net_addr first); returns once it listens.
#                       OPTIONs are smtp_partner.py's (see its header):
#                         --mode normal|nostarttls|inject|inject-pre|inject-late|
#                                notls|starttls-once
#                         --at POINT --do reset|close|stall [--after-bytes N]
#                              [--faults N]  (only the first N sessions fail)
#                         --inject TEXT   (printf escapes: '250 x\r\n')
#                         --tls-max 1.2   --host FQDN   --port N
#                         --user U --pass P   (default smtplock / $SL_PF_PASS)
#                       Default certificate: a new one from the test CA for
#                       --host (default mx.hostile.test); --cert PEM to change.
#   sl_hostile_stop NAME          end it (by PID) and wait
#   sl_hostile_log NAME           path of its transcript ("N C: …", "N S: …",
#                                 "N * tls TLSv1.3", "N * fault reset at data",
#                                 "N * stored FILE"), N = session number
#   sl_hostile_count NAME         messages it stored (accepted with 250)
#   sl_hostile_wait NAME ERE SECS until the transcript has a line matching ERE
#
# Examples:
#   sl_hostile_start inj "$NET4.20" --mode inject --inject '250 2.0.0 pwned\r\n'
#   sl_hostile_start rst "$NET4.21" --at data --do reset
#   sl_hostile_start big "$NET4.22" --at body --after-bytes 2000000 --do stall

SL_HOSTILE_LIB=${BASH_SOURCE[0]%/*}
SL_PY=${SL_PY:-/usr/bin/python3}
SL_PF_PASS=${SL_PF_PASS:-'tEst-pAss 1'}

_sl_hostile_dir() {
	if [ -z "${SL_HOSTILE_ROOT:-}" ]; then
		SL_HOSTILE_ROOT=${BATS_FILE_TMPDIR:-$T}/hostile
		export SL_HOSTILE_ROOT
	fi
	printf '%s\n' "$SL_HOSTILE_ROOT/$1"
}

sl_hostile_start() {
	local n=$1 addr=$2 d host=mx.hostile.test cert='' inject=''; shift 2
	local -a args=()
	_sl_hostile_dir "$n" >/dev/null	# sets SL_HOSTILE_ROOT here, not in a subshell
	d=$(_sl_hostile_dir "$n")
	[ -f "$d/pid" ] && sl_hostile_stop "$n"
	rm -rf "$d"; mkdir -p "$d/spool"
	# --host and --cert are needed here; --inject gets printf escapes.
	while [ $# -gt 0 ]; do
		case $1 in
		--host) host=$2; args+=("$1" "$2"); shift 2 ;;
		--cert) cert=$2; shift 2 ;;
		--inject) inject=$(printf '%b' "$2"); args+=(--inject "$inject"); shift 2 ;;
		*) args+=("$1"); shift ;;
		esac
	done
	if [ -z "$cert" ]; then
		cert=$SL_PKI/hostile-$host.pem
		[ -f "$cert" ] || sl_pki_server "hostile-$host" ca "$host" || return 1
	fi
	nsenter --net="/run/netns/$NS_P" -- "$SL_PY" "$SL_HOSTILE_LIB/smtp_partner.py" \
		--listen "$addr" --cert "$cert" --pass "$SL_PF_PASS" \
		--spool "$d/spool" --log "$d/log" "${args[@]}" >"$d/out" 2>&1 &
	echo $! >"$d/pid"
	echo $! >>"$SL_BG_FILE"
	wait_until 5 grep -q '^ready' "$d/out" || { cat "$d/out" >&2; return 1; }
}

sl_hostile_stop() {
	local d pid
	d=$(_sl_hostile_dir "$1")
	read -r pid 2>/dev/null <"$d/pid" || return 0
	kill "$pid" 2>/dev/null
	wait_until 5 sl_gone "$pid" || kill -9 "$pid" 2>/dev/null
	rm -f "$d/pid"
}

sl_hostile_log() { printf '%s\n' "$(_sl_hostile_dir "$1")/log"; }

sl_hostile_count() {
	find "$(_sl_hostile_dir "$1")/spool" -name '*.eml' | wc -l
}

_sl_hostile_has() { grep -qE -- "$2" "$(sl_hostile_log "$1")"; }
sl_hostile_wait() { wait_until "$3" _sl_hostile_has "$1" "$2"; }

#!/usr/bin/env bats
# 65-hygiene: what a controller that carried real mail leaves behind.
#
#   - memory: the daemon under valgrind (memcheck) through real outbound
#     sessions — delivered, deferred, a reload between them — and a clean
#     stop: no byte definitely or indirectly lost;
#   - secrets: the partner passwords of the policy (as written, and as
#     AUTH PLAIN/LOGIN put them on the wire) appear in no log (with -v),
#     in no output of status, stats or domain, and in no core dump: the
#     controller cannot be made to dump one;
#   - privileges: with controller.user, the controller runs as that user
#     with CAP_BPF and CAP_NET_ADMIN only, through sessions and a reload.
#
# Real software as in 30-outbound: stock Postfix sender, strict Postfix
# partner (STARTTLS + AUTH), dnsmasq.

load helper
load daemon
load lib/pki
load lib/dns
load lib/postfix

A_NOTLS=$NET4.70
VG_LOG=

setup_file() {
	sl_require_root
	sl_net_up
	sl_cg_up
	rm -rf "$SL_PIN"
	sl_net_addr "$NS_P" "$A_NOTLS/24"
	export TF=$BATS_FILE_TMPDIR
	getent passwd smtplock >/dev/null ||
		adduser --system --group --no-create-home --home /nonexistent smtplock >/dev/null 2>&1
	# What the controller reads again at a reload after dropping to
	# smtplock — the policy's secret (owned by that user) and the CA —
	# lives where that user can reach it (bats' directories are 0700).
	ETC=$(mktemp -d "/tmp/slt${SLT_ID}etc.XXXXXX")
	chmod 755 "$ETC"
	echo "$ETC" >"$TF/etc.path"
	printf '%s\n' "$SL_PF_PASS" >"$ETC/ntsol.pass"
	chown smtplock "$ETC/ntsol.pass"
	chmod 600 "$ETC/ntsol.pass"
	sl_pki_init "$ETC/pki"
	chmod 755 "$ETC/pki"
	sl_pki_server pf-strict ca mx1.ntsol.test
	sl_dns_init
	sl_dns_mx ntsol.test mx1.ntsol.test
	sl_dns_addr mx1.ntsol.test "$P4"
	sl_dns_mx notls.test mx.notls.test
	sl_dns_addr mx.notls.test "$A_NOTLS"
	sl_dns_start
	sl_pf_partner strict "$P4" ntsol.test,notls.test host=mx1.ntsol.test cert=pf-strict
	sl_pf_listen strict notls "$A_NOTLS" tls=none
	sl_pf_sender snd
	sl_pf_start_all strict snd
}

teardown_file() {
	rm -rf "$(cat "$TF/etc.path" 2>/dev/null)"
	sl_pf_world_down
}

setup() {
	sl_tmp
	ETC=$(cat "$TF/etc.path")
	sl_pf_purge snd
}

teardown() {
	sl_daemon_stop
	[ -n "${SL_KEEP:-}" ] || rm -rf "$T"
}

# policy FILE [CONTROLLER-LINE...]
policy() {
	local f=$1; shift
	{
		printf 'version: 1\ncontroller:\n  hostname: mail.sender.test\n'
		printf '  listen: [127.0.0.1:10025]\n  cgroup: %s\n  pin_path: %s\n' "$SL_CG" "$SL_PIN"
		printf '  control_socket: %s\n  limits: { timeout: 10s }\n' "$SL_CTL"
		[ $# -eq 0 ] || printf '  %s\n' "$@"
		cat <<-EOF
		defaults:
		  tls: { min_version: "1.2", verify: ca, ca_file: $SL_PKI/ca.crt }
		partners:
		  - domain: ntsol.test
		    auth: { username: smtplock, password_file: $ETC/ntsol.pass }
		  - domain: notls.test
		    auth: { username: smtplock, password_file: $ETC/ntsol.pass }
		EOF
	} >"$f"
	chmod 644 "$f"
}

# Mail through the controller: N messages to ntsol.test delivered, one to
# notls.test deferred (the failure path), a reload in between.
traffic() {
	local n=$1 m
	sl_pf_send snd "$n" me@sender.test doug@ntsol.test 100k >/dev/null
	sl_pf_wait_mbox strict "$n" 120 ntsol.test
	sl_pf_send snd 1 me@sender.test doug@notls.test >/dev/null
	sl_pf_wait_deferred snd 1 '4\.7\.4 smtplock: notls\.test: peer offered no STARTTLS' 120
	sl_pf_purge snd
	reload_ok
	m=$(sl_pf_send snd 1 me@sender.test doug@ntsol.test 1m)
	sl_pf_wait_marker strict "$m" 120
	sl_pf_wait_empty snd 60
}

reload_ok() {
	local n
	n=$(grep -c 'event=reload_ok' "$T/daemon.log" || true)
	kill -HUP "$SL_DAEMON_PID"
	wait_until 60 sh -c "[ \$(grep -c 'event=reload_ok' '$T/daemon.log') -gt $n ]"
}

# Every form the password takes: as written, and base64 as AUTH PLAIN
# ("\0user\0pass") and AUTH LOGIN ("pass") send it.
secret_forms() {
	printf '%s\n' "$SL_PF_PASS"
	printf '\0smtplock\0%s' "$SL_PF_PASS" | base64 -w0; echo
	printf '%s' "$SL_PF_PASS" | base64 -w0; echo
}

# no_secret FILE...: none of the forms in any of the files.
no_secret() {
	local s f bad=0
	while read -r s; do
		for f in "$@"; do
			if grep -aqF -- "$s" "$f"; then
				echo "secret form '$s' found in $f" >&2
				bad=1
			fi
		done
	done < <(secret_forms)
	return $bad
}

@test "hygiene: the daemon under valgrind through real sessions and a reload leaks nothing" {
	policy "$T/policy.yaml"
	VG_LOG=$T/valgrind.log
	: >"$T/daemon.log"
	sl_nsbg "$NS_H" unshare -m --propagation private sh -c \
		'mount --bind "$0" /etc/resolv.conf && exec "$@"' "/etc/netns/$NS_H/resolv.conf" \
		valgrind --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect --num-callers=30 \
		--suppressions="$ROOT/tests/bats/lib/valgrind-bpf.supp" \
		--log-file="$VG_LOG" "$SL" run -c "$T/policy.yaml" --foreground -v 2>>"$T/daemon.log"
	SL_DAEMON_PID=$SL_BG_PID
	wait_until 120 grep -q 'event=ready' "$T/daemon.log"
	wait_until 60 grep -q 'event=maps_synced .*phase=full' "$T/daemon.log"
	traffic 3
	grep -q 'direction=out domain=ntsol.test .*result=relayed' "$T/daemon.log"
	kill -TERM "$SL_DAEMON_PID"
	wait_until 120 sl_gone "$SL_DAEMON_PID"
	SL_DAEMON_PID=
	grep -q 'event=stopped' "$T/daemon.log"
	grep -E 'ERROR SUMMARY|definitely lost|indirectly lost|still reachable|suppressed:' "$VG_LOG" |
		sed 's/^/# /' >&3
	# No error at all (leaks count as errors here), and valgrind did run
	# to the end of the process.
	grep -Eq 'ERROR SUMMARY: 0 errors from 0 contexts' "$VG_LOG" || {
		grep -v 'unhandled eBPF command' "$VG_LOG" | head -n 80 | sed 's/^/# /' >&3
		false
	}
}

@test "hygiene: as controller.user, CAP_BPF and CAP_NET_ADMIN only, through sessions and a reload" {
	local uid st
	policy "$T/policy.yaml" 'user: smtplock'
	sl_daemon_start "$T/policy.yaml"
	sl_log_has 'event=privileges_dropped user=smtplock'
	traffic 2
	uid=$(id -u smtplock)
	st=/proc/$SL_DAEMON_PID/status
	[ "$(awk '/^Uid:/ {print $2 $3 $4 $5}' "$st")" = "$uid$uid$uid$uid" ]
	[ "$(awk '/^Gid:/ {print $2}' "$st")" = "$(id -g smtplock)" ]
	# CAP_NET_ADMIN = 12, CAP_BPF = 39: nothing else, and no way back.
	[ "$(awk '/^CapEff:/ {print $2}' "$st")" = 0000008000001000 ]
	[ "$(awk '/^CapPrm:/ {print $2}' "$st")" = 0000008000001000 ]
	[ "$(awk '/^NoNewPrivs:/ {print $2}' "$st")" = 1 ]
	# Every thread (the DNS workers too) runs as the user.
	for t in /proc/$SL_DAEMON_PID/task/*/status; do
		[ "$(awk '/^Uid:/ {print $2}' "$t")" = "$uid" ]
	done
	sl_log_has 'event=reload_ok'
}

@test "hygiene: no password in the log (-v), status, stats or domain output" {
	local out=$T/outputs
	policy "$T/policy.yaml" 'user: smtplock'
	sl_daemon_start "$T/policy.yaml"
	traffic 1
	"$SL" status -c "$T/policy.yaml" >"$out.status" 2>&1
	"$SL" status --json -c "$T/policy.yaml" >"$out.status-json" 2>&1
	"$SL" stats -c "$T/policy.yaml" >"$out.stats" 2>&1
	"$SL" stats --prometheus -c "$T/policy.yaml" >"$out.prom" 2>&1
	"$SL" domain list -c "$T/policy.yaml" >"$out.list" 2>&1
	"$SL" domain show ntsol.test -c "$T/policy.yaml" >"$out.show" 2>&1
	"$SL" policy check "$T/policy.yaml" >"$out.check" 2>&1
	# The outputs exist and say something about the partner.
	grep -q ntsol.test "$out.status-json"
	grep -q ntsol.test "$out.show"
	# The log is verbose: every handshake step, AUTH included.
	grep -q 'step=auth ' "$T/daemon.log"
	no_secret "$T/daemon.log" "$out".* "$(sl_pf_log snd)"
}

@test "hygiene: the controller cannot be made to dump core (its memory holds the secrets)" {
	local pid
	policy "$T/policy.yaml"
	mkdir -p "$T/cwd"
	chmod 777 "$T/cwd"
	: >"$T/daemon.log"
	sl_nsbg "$NS_H" unshare -m --propagation private sh -c \
		'mount --bind "$0" /etc/resolv.conf && cd "$1" && shift && ulimit -c unlimited && exec "$@"' \
		"/etc/netns/$NS_H/resolv.conf" "$T/cwd" "$SL" run -c "$T/policy.yaml" --foreground \
		2>>"$T/daemon.log"
	SL_DAEMON_PID=$SL_BG_PID
	wait_until 20 grep -q 'event=ready' "$T/daemon.log"
	pid=$SL_DAEMON_PID
	# The kernel would write ./core (core_pattern here) for this signal.
	[ "$(cat /proc/sys/kernel/core_pattern)" = core ] ||
		sl_skip "core_pattern is not 'core': cannot look for the dump"
	kill -SEGV "$pid"
	wait_until 20 sl_gone "$pid"
	SL_DAEMON_PID=
	ls -la "$T/cwd" | sed 's/^/# /' >&3
	local cores=("$T"/cwd/core*)
	if [ -e "${cores[0]}" ]; then
		no_secret "${cores[@]}" || true
		echo "# a core was written: ${cores[*]}" >&3
		false
	fi
}

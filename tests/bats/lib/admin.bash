# tests/bats/lib/admin.bash — helpers of the administrator's tool tests
# (4x-*.bats); load after helper (and daemon, when it exists).
#
#   sl_admin_policy FILE [CONTROLLER-LINES]   a policy on this test's cgroup,
#                       pins and control socket ($T/control), partner
#                       a.example at $P4; stdin, if it is not a terminal,
#                       is appended (more partners)
#   sl_need_daemon      skip unless `smtplock run` and tests/bats/daemon.bash
#                       are in the tree
#   sl_need_loader      skip unless this build reads pinned maps
#   sl_connect ADDR     connect from $NS_H inside $SL_CG to ADDR:25, print
#                       what the other end says first (a redirected
#                       connection gets the controller's 421)
#   sl_as_reader CMD... run CMD as uid 65534 with nogroup (65534) as a
#                       supplementary group: a member of controller.group
#   sl_as_other CMD...  the same without that group
#   sl_ok_json          $output is one valid JSON document
#   sl_listen_banner ADDR TEXT   a "partner" on ADDR:25 in $NS_P that
#                       greets with "220 TEXT" (plaintext)

sl_admin_policy() {
	local f=$1 extra=${2:-}
	{
		printf 'version: 1\ncontroller:\n  hostname: mail.test\n'
		printf '  listen: [127.0.0.1:10025]\n  cgroup: %s\n  pin_path: %s\n' "$SL_CG" "$SL_PIN"
		printf '  control_socket: %s/control\n' "$T"
		[ -n "$extra" ] && printf '%s\n' "$extra"
		printf 'defaults:\n  tls: { verify: none }\n'
		printf 'partners:\n  - domain: a.example\n    addresses: [%s]\n' "$P4"
		[ -t 0 ] || cat
	} >"$f"
	chmod 644 "$f"
}

sl_need_daemon() {
	if [ "$(type -t sl_daemon_start)" != function ] ||
	   "$SL" run --help 2>&1 | grep -q 'not implemented'; then
		sl_skip "needs the controller daemon (smtplock run, tests/bats/daemon.bash)"
	fi
}

sl_need_loader() {
	if "$SL" status -c /dev/null 2>&1 | grep -q 'no BPF loader'; then
		sl_skip "needs lib/bpfmap (reading pinned maps)"
	fi
}

sl_connect() {
	sl_in "$NS_H" sh -c 'echo $$ >"$0/cgroup.procs" && exec socat -T3 - "TCP:$1:25,connect-timeout=3"' \
		"$SL_CG" "$1" </dev/null 2>&1 || true
}

sl_as_reader() {
	setpriv --reuid=65534 --regid=1 --groups=65534 -- "$@"
}

sl_as_other() {
	setpriv --reuid=65534 --regid=1 --clear-groups -- "$@"
}

sl_ok_json() {
	printf '%s' "$output" | jq -e . >/dev/null
}

sl_listen_banner() {
	local addr=$1 text=$2
	sl_bg nsenter --net="/run/netns/$NS_P" -- socat \
		"TCP-LISTEN:25,bind=$addr,reuseaddr,fork" "SYSTEM:echo 220 $text"
	wait_until 5 sl_in "$NS_P" sh -c "ss -Hltn 'src $addr:25' | grep -q ."
}

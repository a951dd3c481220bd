#!/usr/bin/env bats
# 41-admin-daemon — the administrator's tool against a running controller:
# status up and down, domain add/remove take effect without a restart,
# reload is atomic, readers and changers, the privilege drop, unload.
#
# Partner a.example is at $P4 (from the policy); a "partner" greets in
# plaintext on $P4:25 and on $X4:25 (not listed until a test adds it), so a
# connection that is NOT redirected reads "220 partner-plain", a
# redirected one gets the controller's 421.

load helper
[ -f "$BATS_TEST_DIRNAME/daemon.bash" ] && load daemon
load lib/admin

X4=10.$SLT_ID.0.3

setup() {
	sl_need_daemon
	sl_world_up
	sl_net_addr "$NS_P" "$X4/24"
	sl_listen_banner "$P4" partner-plain
	sl_listen_banner "$X4" partner-plain
	sl_admin_policy "$T/policy.yaml"
}

teardown() {
	[ "$(type -t sl_world_down)" = function ] && sl_world_down
	return 0
}

redirected() {	# redirected ADDR: the controller answered, not the partner
	local out
	out=$(sl_connect "$1")
	echo "# connect $1: $out" >&3
	[[ $out == *"421 "*smtplock* ]]
}

not_redirected() {
	local out
	out=$(sl_connect "$1")
	echo "# connect $1: $out" >&3
	[[ $out == *"220 partner-plain"* ]]
}

@test "status while running: JSON says running, all programs attached, the partner enforced" {
	sl_daemon_start "$T/policy.yaml"
	run "$SL" status --json -c "$T/policy.yaml"
	sl_ok_json
	[ "$status" -eq 0 ]
	[ "$(jq -r '.controller.running' <<<"$output")" = true ]
	[ "$(jq -r '.controller.pid' <<<"$output")" = "$SL_DAEMON_PID" ]
	[ "$(jq -r '.enforcement.programs_attached == .enforcement.programs_total' <<<"$output")" = true ]
	[ "$(jq -r '[.programs[] | select(.attached)] | length' <<<"$output")" -ge 6 ]
	[ "$(jq -r '.policy.sha256' <<<"$output")" = "$(sha256sum <"$T/policy.yaml" | cut -c1-64)" ]
	[ "$(jq -r '.partners[0].domain' <<<"$output")" = a.example ]
	[ "$(jq -r '.partners[0].enforced' <<<"$output")" = true ]
	[ "$(jq -r '.partners[0].addresses[0].address' <<<"$output")" = "$P4" ]
	[ "$(jq -r '.health.state' <<<"$output")" = healthy ]
	run "$SL" status -c "$T/policy.yaml"
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == "controller  running: pid $SL_DAEMON_PID"* ]]
	[[ $output == *"partner a.example"* ]]
}

@test "status records a failed session with its reason and time" {
	sl_daemon_start "$T/policy.yaml"
	redirected "$P4"
	run "$SL" status --json -c "$T/policy.yaml"
	sl_ok_json
	[ "$(jq -r '.partners[0].sessions.failed + .partners[0].sessions.ok' <<<"$output")" -ge 1 ]
	[ "$(jq -r '.partners[0].counters.redirected' <<<"$output")" -ge 1 ]
	if [ "$(jq -r '.partners[0].sessions.failed' <<<"$output")" -ge 1 ]; then
		[ "$(jq -r '.partners[0].last_failure.reason | length' <<<"$output")" -gt 0 ]
		[ "$(jq -r '.partners[0].last_failure.ago_s' <<<"$output")" -le 60 ]
	fi
}

@test "status with the controller killed: DOWN, enforcement ACTIVE (fail-closed), pins stay" {
	sl_daemon_start "$T/policy.yaml"
	kill -KILL "$SL_DAEMON_PID"
	wait_until 10 sl_gone "$SL_DAEMON_PID"
	SL_DAEMON_PID=
	[ -e "$SL_PIN/link_connect4" ]
	run "$SL" status -c "$T/policy.yaml"
	[ "$status" -eq 1 ]
	[ "${lines[0]}" = "controller DOWN — enforcement ACTIVE (fail-closed)" ]
	[[ $output == *"partner a.example"* ]]
	run "$SL" status --json -c "$T/policy.yaml"
	[ "$status" -eq 1 ]
	sl_ok_json
	[ "$(jq -r '.controller.running' <<<"$output")" = false ]
	[ "$(jq -r '.health.state' <<<"$output")" = degraded ]
	[ "$(jq -r '.partners[0].enforced' <<<"$output")" = true ]
	[ "$(jq -r '.enforcement.programs_attached' <<<"$output")" -ge 6 ]
	# and it is: the partner is not reached in plaintext
	run sl_connect "$P4"
	[[ $output != *"220 partner-plain"* ]]
}

@test "domain add: the new partner is redirected at once, without a restart; remove: no longer" {
	sl_daemon_start "$T/policy.yaml"
	not_redirected "$X4"
	run "$SL" domain add x.example --address "$X4" -c "$T/policy.yaml"
	sed "s/^/# /" <<<"$output" >&3
	[ "$status" -eq 0 ]
	[[ $output == *"reloaded: 2 partners"* ]]
	redirected "$X4"
	redirected "$P4"
	sl_daemon_alive		# same controller, no restart
	run "$SL" domain list --json -c "$T/policy.yaml"
	[ "$(jq -r '.[] | select(.domain == "x.example") | .enforced' <<<"$output")" = true ]
	run "$SL" domain show x.example --json -c "$T/policy.yaml"
	[ "$(jq -r '.status.enforced' <<<"$output")" = true ]
	run "$SL" domain remove x.example -c "$T/policy.yaml"
	[ "$status" -eq 0 ]
	[[ $output == *"reloaded: 1 partner"* ]]
	not_redirected "$X4"
	redirected "$P4"
	sl_daemon_alive
}

@test "reload with a broken policy: the error comes back with FILE:LINE:COL, the old policy stays" {
	sl_daemon_start "$T/policy.yaml"
	cp "$T/policy.yaml" "$T/good.yaml"
	printf '  - domain: x.example\n    addresses: [%s]\n    tls: { verify: sometimes }\n' \
		"$X4" >>"$T/policy.yaml"
	run "$SL" reload -c "$T/policy.yaml"
	sed "s/^/# /" <<<"$output" >&3
	[ "$status" -eq 1 ]
	[[ $output == *"$T/policy.yaml:15:"*": error: "*sometimes* ]]
	[[ $output == *"the running policy is unchanged"* ]]
	sl_log_has 'event=reload_failed'
	redirected "$P4"
	not_redirected "$X4"
	run "$SL" status --json -c "$T/policy.yaml"
	[ "$status" -eq 1 ]	# the policy on disk does not load: degraded
	[ "$(jq -r '.policy.sha256' <<<"$output")" = "$(sha256sum <"$T/good.yaml" | cut -c1-64)" ]
	[[ $(jq -r '.health.problems | join("\n")' <<<"$output") == *"does not load"* ]]
}

@test "SIGHUP runs the same reload: broken → kept, fixed → applied" {
	sl_daemon_start "$T/policy.yaml"
	printf 'bogus: 1\n' >>"$T/policy.yaml"
	sl_daemon_hup
	wait_until 10 sl_log_has 'event=reload_failed'
	redirected "$P4"
	sl_admin_policy "$T/policy.yaml" <<EOF
  - domain: x.example
    addresses: [$X4]
EOF
	sl_daemon_hup
	wait_until 10 sl_log_has 'event=reload_ok'
	redirected "$X4"
}

@test "a member of controller.group reads status; changes need root; others get nothing" {
	sl_admin_policy "$T/policy.yaml" "  group: nogroup" </dev/null
	sl_daemon_start "$T/policy.yaml"
	[ "$(stat -c %a:%G "$T/control")" = 660:nogroup ]
	run sl_as_reader "$SL" status --json -c "$T/policy.yaml"
	[ "$status" -eq 0 ]
	sl_ok_json
	[ "$(jq -r '.partners[0].domain' <<<"$output")" = a.example ]
	run sl_as_reader "$SL" stats --prometheus -c "$T/policy.yaml"
	[ "$status" -eq 0 ]
	[[ $output == *"smtplock_up 1"* ]]
	run sl_as_reader "$SL" reload -c "$T/policy.yaml"
	[ "$status" -eq 1 ]
	[[ $output == *"may not run 'reload' (changes need root)"* ]]
	run sl_as_reader "$SL" domain add x.example --address "$X4" -c "$T/policy.yaml"
	[ "$status" -eq 1 ]
	[ ! -e "$T/policies.d/x.example.yaml" ]
	not_redirected "$X4"
	run sl_as_other "$SL" status -c "$T/policy.yaml"
	[ "$status" -eq 2 ]
	[[ $output == *"Permission denied"* ]]
	sl_log_has 'event=control cmd=reload uid=65534 .*result=permission'
}

@test "privilege drop: the controller runs as controller.user with CAP_BPF and CAP_NET_ADMIN only" {
	getent passwd smtplock >/dev/null ||
		adduser --system --group --no-create-home --home /nonexistent smtplock >/dev/null 2>&1
	sl_admin_policy "$T/policy.yaml" "  user: smtplock" </dev/null
	sl_daemon_start "$T/policy.yaml"
	sl_log_has 'event=privileges_dropped user=smtplock'
	local uid st
	uid=$(id -u smtplock)
	st=/proc/$SL_DAEMON_PID/status
	[ "$(awk '/^Uid:/ {print $2 $3 $4 $5}' "$st")" = "$uid$uid$uid$uid" ]
	[ "$(awk '/^NoNewPrivs:/ {print $2}' "$st")" = 1 ]
	# CAP_NET_ADMIN = 12, CAP_BPF = 39
	[ "$(awk '/^CapEff:/ {print $2}' "$st")" = 0000008000001000 ]
	[ "$(awk '/^CapBnd:/ {print $2}' "$st")" = 0000008000001000 ]
	# and it still updates the maps: a partner added after the drop is enforced
	run "$SL" domain add x.example --address "$X4" -c "$T/policy.yaml"
	[ "$status" -eq 0 ]
	redirected "$X4"
	run "$SL" status --json -c "$T/policy.yaml"
	[ "$(jq -r '.controller.user' <<<"$output")" = smtplock ]
	[ "$(jq -r '.enforcement.programs_attached == .enforcement.programs_total' <<<"$output")" = true ]
}

@test "stats --prometheus: well-formed exposition text, counters move" {
	sl_daemon_start "$T/policy.yaml"
	redirected "$P4"
	run "$SL" stats --prometheus -c "$T/policy.yaml"
	[ "$status" -eq 0 ]
	local bad
	bad=$(grep -Ev '^(# (HELP|TYPE) smtplock_[a-z_]+ .+|smtplock_[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9]+)$' \
		<<<"$output" || true)
	[ -z "$bad" ]
	[[ $output == *'smtplock_redirected_total{domain="a.example"} '[1-9]* ]]
	run "$SL" stats --json -c "$T/policy.yaml"
	sl_ok_json
	[ "$(jq -r '.partners[0].counters.redirected' <<<"$output")" -ge 1 ]
	run "$SL" stats -c "$T/policy.yaml"
	[[ $output == *a.example* ]]
}

@test "unload --yes: the controller stops, programs and pins go, partners get plaintext again" {
	sl_daemon_start "$T/policy.yaml"
	redirected "$P4"
	run "$SL" unload --yes -c "$T/policy.yaml"
	sed "s/^/# /" <<<"$output" >&3
	[ "$status" -eq 0 ]
	[[ $output == *PLAINTEXT* ]]
	[[ $output == *"unloaded:"* ]]
	wait_until 10 sl_gone "$SL_DAEMON_PID"
	SL_DAEMON_PID=
	[ ! -e "$SL_PIN" ]
	not_redirected "$P4"
	run "$SL" status -c "$T/policy.yaml"
	[ "$status" -eq 2 ]
	run "$SL" unload --yes -c "$T/policy.yaml"
	[ "$status" -eq 0 ]
	[[ $output == *"nothing to unload"* ]]
}

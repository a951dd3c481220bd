#!/usr/bin/env bats
# 40-admin-cli — the administrator's commands without a controller:
# arguments, messages, exit codes, drop-in files, JSON.

load helper
load lib/admin

setup() {
	sl_tmp
	NET4=10.$SLT_ID.0 P4=$NET4.2
	sl_admin_policy "$T/policy.yaml"
}

teardown() {
	[ -n "${T:-}" ] && rm -rf "$T"
}

# Every bad invocation: exit 2, a message naming the command, no crash.
@test "bad arguments: a clear message and exit 2, for every subcommand" {
	local -a cases=(
		"status --frob|status: unknown option"
		"status extra|status: unexpected argument 'extra'"
		"stats --prometheus --json|exclude each other"
		"stats --bogus|stats: unknown option"
		"reload now|reload: unexpected argument 'now'"
		"reload --frob|reload: unknown option"
		"unload --frob|unload: unknown option"
		"unload extra|unload: unexpected argument"
		"domain|domain: missing verb"
		"domain frob|domain: unknown verb 'frob'"
		"domain show|show: missing DOMAIN"
		"domain show a b|show: unexpected argument 'b'"
		"domain show bad..name|show: 'bad..name' is not a domain name"
		"domain remove|remove: missing DOMAIN"
		"domain remove --json x.example|remove: --json is not an option here"
		"domain list extra|list: unexpected argument"
		"domain add|add: missing DOMAIN"
		"domain add x.example y.example|add: unexpected argument 'y.example'"
		"domain add x-.example|is not a domain name"
		"domain add -x y.example|unknown option or missing value '-x'"
		"domain add x.example --direction sideways|--direction: 'sideways' is not outbound"
		"domain add x.example --mode maybe|--mode: 'maybe' is not enforce or testing"
		"domain add x.example --min-tls 1.1|--min-tls: '1.1' is not 1.2 or 1.3"
		"domain add x.example --verify trust-me|--verify: 'trust-me' is not none"
		"domain add x.example --pin md5:00|--pin: 'md5:00' is not sha256:"
		"domain add x.example --address 192.0.2.1/24|--address: '192.0.2.1/24' is not an address"
		"domain add x.example --address banana|--address: 'banana' is not an address"
		"domain add x.example --mx bad..host|--mx: 'bad..host' is not a host name"
		"domain add x.example --mx|--mx: '-c' is not a host name"
		"domain add x.example --auth-user u|--auth-user and --password-file go together"
		"domain add x.example --direction inbound|needs at least one --source"
		"domain add x.example --source 192.0.2.1|need --direction inbound or both"
		"domain add x.example --direction both --source 192.0.2.1 --account nohash|--account: 'nohash' is not USER:HASH"
		"domain add x.example --direction both --source 192.0.2.1 --require tls,magic|--require: 'tls,magic'"
		"domain add x.example --bogus|unknown option or missing value '--bogus'"
	)
	local c args want
	for c in "${cases[@]}"; do
		args=${c%%|*}
		want=${c#*|}
		# shellcheck disable=SC2086
		run "$SL" $args -c "$T/policy.yaml"
		echo "# smtplock $args -> $status: ${lines[0]:-}" >&3
		[ "$status" -eq 2 ]
		[[ $output == *"smtplock: "* ]]
		[[ $output == *"$want"* ]]
	done
	[ ! -e "$T/policies.d" ]	# nothing was written by any of them
}

@test "help: every admin command documents its options" {
	local c
	for c in status domain reload stats unload; do
		run "$SL" "$c" --help
		[ "$status" -eq 0 ]
		[[ $output == *"usage: smtplock $c"* ]]
	done
	run "$SL" domain --help
	for opt in --direction --mode --min-tls --verify --pin --mx --address --auth-user \
		   --password-file --source --require --account; do
		[[ $output == *"$opt"* ]]
	done
	run "$SL" help unload
	[[ $output == *plaintext* ]]
}

@test "domain add writes one drop-in, validated, and list/show read it back (JSON)" {
	run "$SL" domain add New.Example. --address 192.0.2.7 --min-tls 1.3 --mode testing \
		--mx mx1.new.example --mx mx2.new.example -c "$T/policy.yaml"
	[ "$status" -eq 0 ]
	[[ $output == *"added new.example: $T/policies.d/new.example.yaml"* ]]
	[[ $output == *"not running"* ]]
	[ -f "$T/policies.d/new.example.yaml" ]
	grep -q '^domain: "new.example"$' "$T/policies.d/new.example.yaml"
	run "$SL" policy check "$T/policy.yaml"
	[ "$status" -eq 0 ]
	[[ $output == *"2 partners"* ]]
	# the main file is untouched
	sl_admin_policy "$T/expected.yaml" </dev/null
	cmp "$T/policy.yaml" "$T/expected.yaml"

	run "$SL" domain list --json -c "$T/policy.yaml"
	[ "$status" -eq 0 ]
	sl_ok_json
	[ "$(jq -r 'map(.domain) | join(",")' <<<"$output")" = "a.example,new.example" ]
	[ "$(jq -r '.[1].dropin' <<<"$output")" = true ]
	[ "$(jq -r '.[0].dropin' <<<"$output")" = false ]
	[ "$(jq -r '.[1].min_tls' <<<"$output")" = TLSv1.3 ]

	run "$SL" domain show new.example --json -c "$T/policy.yaml"
	[ "$status" -eq 0 ]
	sl_ok_json
	[ "$(jq -r '.policy.mode' <<<"$output")" = testing ]
	[ "$(jq -r '.policy.mx | join(",")' <<<"$output")" = "mx1.new.example,mx2.new.example" ]
	[ "$(jq -r '.policy.addresses[0]' <<<"$output")" = 192.0.2.7 ]
	[ "$(jq -r '.policy.defined_at.file' <<<"$output")" = "$T/policies.d/new.example.yaml" ]

	run "$SL" domain show new.example -c "$T/policy.yaml"
	[ "$status" -eq 0 ]
	[[ $output == *"defined in"*"new.example.yaml"* ]]
}

@test "domain add: values that could break YAML are written as data" {
	printf 'secret\n' >"$T/pw"
	chmod 600 "$T/pw"
	run "$SL" domain add q.example --address 192.0.2.8 --auth-user 'DOM\user "x": [y]' \
		--password-file "$T/pw" -c "$T/policy.yaml"
	[ "$status" -eq 0 ]
	run "$SL" domain show q.example --json -c "$T/policy.yaml"
	[ "$(jq -r '.policy.auth.username' <<<"$output")" = 'DOM\user "x": [y]' ]
	[ "$(jq -r '.policy.auth.password_file' <<<"$output")" = "$T/pw" ]
}

@test "domain add: a relative file name is taken from the current directory" {
	printf 'secret\n' >"$T/pw2"
	chmod 600 "$T/pw2"
	cd "$T"
	run "$SL" domain add r.example --address 192.0.2.9 --auth-user u --password-file pw2 \
		-c policy.yaml
	[ "$status" -eq 0 ]
	grep -q "password_file: \"$T/pw2\"" "$T/policies.d/r.example.yaml"
}

@test "domain add: an existing domain fails and says where it is defined" {
	run "$SL" domain add a.example --address 192.0.2.9 -c "$T/policy.yaml"
	[ "$status" -eq 1 ]
	[[ $output == *"a.example is already a partner, defined at $T/policy.yaml:11:5"* ]]
	run "$SL" domain add b.example --address 192.0.2.9 -c "$T/policy.yaml"
	[ "$status" -eq 0 ]
	run "$SL" domain add B.EXAMPLE --address 192.0.2.10 -c "$T/policy.yaml"
	[ "$status" -eq 1 ]
	[[ $output == *"defined at $T/policies.d/b.example.yaml"* ]]
}

@test "domain add: a resulting policy with errors is refused with FILE:LINE:COL, nothing written" {
	run "$SL" domain add c.example --verify ca -c "$T/policy.yaml"
	[ "$status" -eq 1 ]
	[[ $output == *"$T/policies.d/c.example.yaml:"*":"*": error: "*"ca_file"* ]]
	[[ $output == *"nothing changed"* ]]
	[ ! -e "$T/policies.d/c.example.yaml" ]
	run "$SL" domain add c.example --auth-user u --password-file "$T/missing.pass" \
		-c "$T/policy.yaml"
	[ "$status" -eq 1 ]
	[ ! -e "$T/policies.d/c.example.yaml" ]
}

@test "domain add: refused while the current policy has errors" {
	printf 'bogus: 1\n' >>"$T/policy.yaml"
	run "$SL" domain add d.example --address 192.0.2.9 -c "$T/policy.yaml"
	[ "$status" -eq 1 ]
	[[ $output == *"$T/policy.yaml:"*"bogus"* ]]
	[[ $output == *"fix it first"* ]]
	[ ! -e "$T/policies.d/d.example.yaml" ]
}

@test "domain remove: a drop-in goes, a main-file partner is not touched and its place is named" {
	"$SL" domain add e.example --address 192.0.2.9 -c "$T/policy.yaml"
	run "$SL" domain remove e.example -c "$T/policy.yaml"
	[ "$status" -eq 0 ]
	[[ $output == *"removed e.example"* ]]
	[ ! -e "$T/policies.d/e.example.yaml" ]
	[ -z "$(ls -A "$T/policies.d")" ]	# no backup left behind
	run "$SL" domain remove a.example -c "$T/policy.yaml"
	[ "$status" -eq 1 ]
	[[ $output == *"a.example is defined in the main policy file at $T/policy.yaml:11:5"* ]]
	[[ $output == *"never rewrites"* ]]
	sl_admin_policy "$T/expected.yaml" </dev/null
	cmp "$T/policy.yaml" "$T/expected.yaml"
	run "$SL" domain remove nobody.example -c "$T/policy.yaml"
	[ "$status" -eq 1 ]
	[[ $output == *"nobody.example is not a partner"* ]]
}

@test "domain show / list: an unknown domain, an unreadable policy" {
	run "$SL" domain show zzz.example -c "$T/policy.yaml"
	[ "$status" -eq 1 ]
	[[ $output == *"zzz.example is not a partner"* ]]
	run "$SL" domain list -c "$T/nonexistent.yaml"
	[ "$status" -eq 1 ]
	[[ $output == *"nonexistent.yaml"* ]]
}

@test "an unprivileged user cannot add or remove a domain" {
	sl_require_root
	run sl_as_other "$SL" domain add f.example --address 192.0.2.9 -c "$T/policy.yaml"
	[ "$status" -eq 1 ]
	[[ $output == *"Permission denied"* ]]
	[ ! -e "$T/policies.d/f.example.yaml" ]
	"$SL" domain add f.example --address 192.0.2.9 -c "$T/policy.yaml"
	run sl_as_other "$SL" domain remove f.example -c "$T/policy.yaml"
	[ "$status" -eq 1 ]
	[ -e "$T/policies.d/f.example.yaml" ]
	# but may list (the files are world-readable here)
	run sl_as_other "$SL" domain list -c "$T/policy.yaml"
	[ "$status" -eq 0 ]
	[[ $output == *f.example* ]]
}

@test "reload without a controller: exit 1, says it is not running" {
	run "$SL" reload -c "$T/policy.yaml"
	[ "$status" -eq 1 ]
	[[ $output == *"cannot reach the controller at $T/control"*"not running"* ]]
}

@test "reload finds the socket even in a policy that does not load" {
	printf 'bogus: [1\n' >>"$T/policy.yaml"
	run "$SL" reload -c "$T/policy.yaml"
	[ "$status" -eq 1 ]
	[[ $output == *"$T/control"* ]]
}

@test "unload without a terminal and without --yes refuses (exit 2) after the warning" {
	run "$SL" unload -c "$T/policy.yaml" </dev/null
	[ "$status" -eq 2 ]
	[[ $output == *PLAINTEXT* ]]
	[[ $output == *"refusing without --yes"* ]]
}

@test "unload by a non-root user: refused" {
	sl_require_root
	run sl_as_other "$SL" unload --yes -c "$T/policy.yaml"
	[ "$status" -eq 1 ]
	[[ $output == *"only root may unload"* ]]
}

@test "status with nothing pinned and no controller: not enforcing, exit 2, JSON" {
	sl_need_loader
	rm -rf "$SL_PIN"
	run "$SL" status --json -c "$T/policy.yaml"
	[ "$status" -eq 2 ]
	sl_ok_json
	[ "$(jq -r '.controller.running' <<<"$output")" = false ]
	[ "$(jq -r '.health.state' <<<"$output")" = "not enforcing" ]
	[ "$(jq -r '.enforcement.programs_attached' <<<"$output")" = 0 ]
	run "$SL" status -c "$T/policy.yaml"
	[ "$status" -eq 2 ]
	[[ ${lines[0]} == "controller DOWN — enforcement NONE (nothing attached)" ]]
	run "$SL" stats --prometheus -c "$T/policy.yaml"
	[[ $output == *"smtplock_up 0"* ]]
	[[ $output == *"smtplock_programs_attached 0"* ]]
}

@test "status as another user without a controller: says it cannot tell, never 'healthy'" {
	sl_require_root
	run sl_as_other "$SL" status -c "$T/policy.yaml"
	[ "$status" -eq 2 ]
	[[ $output != *healthy* ]]
}

#!/usr/bin/env bats
# 10-policy-check.bats — `smtplock policy check`, help and version: exit
# codes and output.  No root, network or BPF needed.

load helper

bats_require_minimum_version 1.5.0

setup() {
	sl_tmp
}

teardown() {
	rm -rf "$T"
}

# at_token FILE LINE COL TOKEN: the text at LINE:COL of FILE starts with TOKEN.
at_token() {
	local text
	text=$(sed -n "${2}p" "$1" | cut -c "${3}-")
	[[ "$text" == "$4"* ]] || {
		echo "at $1:$2:$3 found '$text', expected '$4...'" >&2
		return 1
	}
}

# A valid main file for the drop-in tests.
write_main() {
	cat >"$T/policy.yaml" <<-EOF
	version: 1
	controller:
	  hostname: mail.example.org
	defaults:
	  tls: {ca_file: /etc/ssl/certs/ca-certificates.crt}
	partners:
	  - domain: main.example
	EOF
}

@test "every policy in policies/ passes policy check" {
	local f n=0
	for f in "$ROOT"/policies/*.yaml "$ROOT"/policies/*/policy.yaml; do
		run --separate-stderr "$SL" policy check "$f"
		[ "$status" -eq 0 ] || { echo "$f: $stderr" >&2; false; }
		[[ "$output" =~ ^policy\ OK:\ [0-9]+\ partners?\ \([0-9]+\ outbound,\ [0-9]+\ inbound\)$ ]] ||
			{ echo "$f: $output" >&2; false; }
		[ -z "$stderr" ]
		n=$((n + 1))
	done
	[ "$n" -ge 5 ]
}

@test "policy check counts partners by direction" {
	run --separate-stderr "$SL" policy check "$ROOT/policies/example.yaml"
	[ "$status" -eq 0 ]
	[ "$output" = "policy OK: 2 partners (2 outbound, 1 inbound)" ]
	run --separate-stderr "$SL" policy check "$ROOT/policies/outbound-pinned.yaml"
	[ "$output" = "policy OK: 1 partner (1 outbound, 0 inbound)" ]
	run --separate-stderr "$SL" policy check "$ROOT/policies/two-way-mtls.yaml"
	[ "$output" = "policy OK: 1 partner (1 outbound, 1 inbound)" ]
	# the drop-in layout: one partner in the main file, two in policies.d/
	run --separate-stderr "$SL" policy check "$ROOT/policies/dropin/policy.yaml"
	[ "$output" = "policy OK: 3 partners (3 outbound, 0 inbound)" ]
}

@test "a malformed policy: every error as FILE:LINE:COL pointing at the token" {
	cat >"$T/bad.yaml" <<-'EOF'
	version: 2
	controller:
	  hostname: mail.example.org
	  listen: [127.0.0.1]
	defaults:
	  mode: enforcing
	  tls: {min_version: "1.1", ca_file: /etc/ssl/certs/ca-certificates.crt}
	partners:
	  - domain: a.example
	    verfy: ca
	    addresses: [192.0.2.1/24, 2001:db8::zz]
	  - domain: A.example
	EOF
	run --separate-stderr "$SL" policy check "$T/bad.yaml"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	local -a lines
	mapfile -t lines <<<"$stderr"
	[ "${#lines[@]}" -eq 9 ]
	[ "${lines[8]}" = "$T/bad.yaml: 8 errors" ]
	local expect=(
		"1:10:2" "4:12:127.0.0.1" "6:9:enforcing" "7:22:\"1.1\"" "10:5:verfy"
		"11:17:192.0.2.1/24" "11:31:2001:db8::zz" "12:13:A.example"
	)
	local i l c tok
	for i in "${!expect[@]}"; do
		IFS=: read -r l c tok <<<"${expect[$i]}"
		[[ "${lines[$i]}" == "$T/bad.yaml:$l:$c: error: "* ]] ||
			{ echo "line $i: ${lines[$i]} (want $l:$c)" >&2; false; }
		at_token "$T/bad.yaml" "$l" "$c" "$tok"
	done
	[[ "${lines[7]}" == *"already defined at $T/bad.yaml:9"* ]]
}

@test "a YAML syntax error is reported with its position" {
	printf 'version: 1\ncontroller:\n  hostname: "mail.example.org\n' >"$T/syntax.yaml"
	run --separate-stderr "$SL" policy check "$T/syntax.yaml"
	[ "$status" -eq 1 ]
	[[ "${stderr}" == "$T/syntax.yaml:4:1: error: YAML syntax: "* ]]
	[[ "${stderr}" == *$'\n'"$T/syntax.yaml: 1 error" ]]
}

@test "a missing file: exit 1 with the reason" {
	run --separate-stderr "$SL" policy check "$T/nope.yaml"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	[ "$stderr" = "$T/nope.yaml: error: cannot read: No such file or directory
$T/nope.yaml: 1 error" ]
}

@test "drop-ins: a domain defined twice points at the second, naming the first" {
	write_main
	mkdir "$T/policies.d"
	printf 'domain: new.example\n' >"$T/policies.d/a.yaml"
	printf '# again\ndomain: Main.Example\n' >"$T/policies.d/b.yaml"
	printf 'not a drop-in\n' >"$T/policies.d/README"
	run --separate-stderr "$SL" policy check "$T/policy.yaml"
	[ "$status" -eq 1 ]
	[ "$stderr" = "$T/policies.d/b.yaml:2:9: error: domain 'main.example' is already defined at $T/policy.yaml:7
$T/policy.yaml: 1 error" ]
	rm "$T/policies.d/b.yaml"
	run --separate-stderr "$SL" policy check "$T/policy.yaml"
	[ "$status" -eq 0 ]
	[ "$output" = "policy OK: 2 partners (2 outbound, 0 inbound)" ]
}

@test "a password file readable by others is refused" {
	write_main
	cat >>"$T/policy.yaml" <<-'EOF'
	    auth:
	      username: us
	      password_file: secret.pass
	EOF
	echo pw >"$T/secret.pass"
	chmod 644 "$T/secret.pass"
	run --separate-stderr "$SL" policy check "$T/policy.yaml"
	[ "$status" -eq 1 ]
	[[ "$stderr" == "$T/policy.yaml:10:22: error: password_file: '$T/secret.pass' is accessible by group or other (mode 0644): chmod 600 it"* ]]
	chmod 600 "$T/secret.pass"
	run --separate-stderr "$SL" policy check "$T/policy.yaml"
	[ "$status" -eq 0 ]
}

@test "bad usage exits 2 with a usage line" {
	local args
	for args in "" "check" "frob x.yaml" "check a.yaml b.yaml" "check --frob"; do
		# shellcheck disable=SC2086
		run --separate-stderr "$SL" policy $args
		[ "$status" -eq 2 ] || { echo "policy $args: status $status" >&2; false; }
		[ -z "$output" ]
		[[ "$stderr" == "smtplock: policy: "* ]]
		[[ "$stderr" == *"usage: smtplock policy check FILE"* ]]
	done
}

@test "--help, help policy, policy --help and --version" {
	run --separate-stderr "$SL" --help
	[ "$status" -eq 0 ]
	[[ "$output" == "usage: smtplock COMMAND"* ]]
	[[ "$output" == *"  policy   validate a policy file"* ]]
	run --separate-stderr "$SL" help policy
	[ "$status" -eq 0 ]
	[[ "$output" == "usage: smtplock policy check FILE"* ]]
	[[ "$output" == *"FILE:LINE:COL: error: message"* ]]
	run --separate-stderr "$SL" policy --help
	[ "$status" -eq 0 ]
	[[ "$output" == "usage: smtplock policy check FILE"* ]]
	run --separate-stderr "$SL" --version
	[ "$status" -eq 0 ]
	[ "$output" = "smtplock $(cat "$ROOT/VERSION")" ]
	run --separate-stderr "$SL" help nosuchcommand
	[ "$status" -eq 2 ]
}

@test "the policy reference renders" {
	command -v man >/dev/null || sl_skip "man is not installed"
	run --separate-stderr env MANWIDTH=80 man -l "$ROOT/man/smtplock-policy.5"
	[ "$status" -eq 0 ]
	[[ "$output" == *"policies.d"* ]]
	[[ "$output" == *"min_version"* ]]
	[[ "$output" == *"strictest"* ]]
}

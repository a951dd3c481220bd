#!/usr/bin/env bats
# 42-admin-ops — operations: man pages, the systemd unit, make install /
# uninstall, bash completion.

load helper

setup() {
	sl_tmp
}

teardown() {
	[ -n "${T:-}" ] && rm -rf "$T"
}

@test "man pages render without warnings" {
	command -v man >/dev/null || sl_skip "man-db not installed"
	local page warn
	for page in man/smtplock.8 man/smtplock-policy.5; do
		warn=$(MANWIDTH=80 man --warnings -l "$ROOT/$page" 2>&1 >/dev/null)
		echo "# $page: $warn" >&3
		[ -z "$warn" ]
		run env MANWIDTH=80 man -l "$ROOT/$page"
		[ "$status" -eq 0 ]
		[[ $output == *NAME* && $output == *DESCRIPTION* ]]
	done
}

@test "smtplock(8) documents every command, option and exit status" {
	command -v man >/dev/null || sl_skip "man-db not installed"
	local text c opt
	text=$(MANWIDTH=200 man -l "$ROOT/man/smtplock.8" 2>/dev/null)
	for c in $("$SL" --help | awk '/^commands:/ {on = 1; next} on && /^  [a-z]/ {print $1}'); do
		[[ $text == *"smtplock $c"* ]] || { echo "# command $c missing" >&3; false; }
	done
	for opt in --json --prometheus --yes --socket --config --direction --mode --on-failure \
		   --min-tls --verify --ca-file --pin --mx --address --auth-user --password-file \
		   --source --require --account --client-ca --foreground --sha512; do
		[[ $text == *"$opt"* ]] || { echo "# option $opt missing" >&3; false; }
	done
	[[ $text == *"EXIT STATUS"* && $text == *"CONTROL SOCKET"* && $text == *FILES* ]]
	[[ $text == *"controller DOWN — enforcement ACTIVE (fail-closed)"* ]]
}

@test "the systemd unit passes systemd-analyze verify" {
	command -v systemd-analyze >/dev/null || sl_skip "systemd-analyze not available"
	# As installed, with the binary of this build.
	sed "s|@SBINDIR@|$BUILD|g" "$ROOT/scripts/smtplock.service" >"$T/smtplock.service"
	run systemd-analyze verify --man=no "$T/smtplock.service"
	echo "# $output" >&3
	[ "$status" -eq 0 ]
	[ -z "$output" ]
	grep -q '^NoNewPrivileges=yes' "$T/smtplock.service"
	grep -q '^ProtectSystem=strict' "$T/smtplock.service"
	grep -q '^ReadWritePaths=/sys/fs/bpf' "$T/smtplock.service"
	grep -q '^CapabilityBoundingSet=' "$T/smtplock.service"
}

@test "make install puts everything under DESTDIR/PREFIX; uninstall removes it" {
	run make -C "$ROOT" --no-print-directory install DESTDIR="$T/root" PREFIX=/usr/local
	[ "$status" -eq 0 ]
	local f
	for f in sbin/smtplock share/man/man8/smtplock.8 share/man/man5/smtplock-policy.5 \
		 lib/systemd/system/smtplock.service lib/sysusers.d/smtplock.conf \
		 share/bash-completion/completions/smtplock \
		 share/doc/smtplock/examples/example.yaml; do
		[ -f "$T/root/usr/local/$f" ] || { echo "# missing $f" >&3; false; }
	done
	[ -x "$T/root/usr/local/sbin/smtplock" ]
	grep -q '^ExecStart=/usr/local/sbin/smtplock run' \
		"$T/root/usr/local/lib/systemd/system/smtplock.service"
	! grep -q '@SBINDIR@' "$T/root/usr/local/lib/systemd/system/smtplock.service"
	run "$T/root/usr/local/sbin/smtplock" policy check \
		"$T/root/usr/local/share/doc/smtplock/examples/rollout-testing.yaml"
	run make -C "$ROOT" --no-print-directory uninstall DESTDIR="$T/root" PREFIX=/usr/local
	[ "$status" -eq 0 ]
	[ -z "$(find "$T/root" -type f)" ]
}

@test "bash completion: commands, domain verbs, option values" {
	[ -f /usr/share/bash-completion/bash_completion ] || sl_skip "bash-completion not installed"
	comp() {	# comp WORDS...: the completions of the last word
		bash -c '
			source /usr/share/bash-completion/bash_completion
			source "$0"
			COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1))
			COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
			_smtplock smtplock "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
			printf "%s\n" "${COMPREPLY[@]}"' "$ROOT/scripts/smtplock.bash-completion" "$@"
	}
	run comp smtplock do
	[ "$output" = domain ]
	run comp smtplock domain ""
	[ "$(echo $output)" = "list show add remove" ]
	run comp smtplock domain add x.example --verify ""
	[ "$(echo $output)" = "none ca fingerprint dane" ]
	run comp smtplock status --j
	[ "$output" = --json ]
	run comp smtplock unload --y
	[ "$output" = --yes ]
}

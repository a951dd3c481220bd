#!/bin/sh
# Install every build and test dependency of smtplock from Debian's packages.
# Idempotent: when everything is present it prints nothing and exits 0.
# Nothing is downloaded from anywhere but the configured Debian mirrors.
set -eu

PKGS="
make gcc pkg-config clang llvm lld libclang-rt-14-dev
libbpf-dev bpftool libssl-dev openssl libyaml-dev
libnl-3-dev libnl-route-3-dev libnl-genl-3-dev libcrypt-dev
libjansson-dev libcap-dev
bats jq iproute2 procps psmisc util-linux netcat-openbsd socat
postfix libsasl2-modules sasl2-bin dnsmasq dnsutils swaks tshark tcpdump
qemu-system-x86 busybox-static cpio kmod xz-utils
testssl.sh valgrind man-db groff-base bash-completion systemd
ca-certificates python3
"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "deps.sh: missing packages:$missing" >&2
	echo "deps.sh: run as root (sudo make ...) to install them" >&2
	exit 1
fi

echo "deps.sh: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
# Pre-seed debconf so no package prompts.
debconf-set-selections <<SEED
postfix postfix/main_mailer_type select No configuration
postfix postfix/mailname string localhost
wireshark-common wireshark-common/install-setuid boolean false
man-db man-db/auto-update boolean false
SEED
apt-get -qq update >/dev/null
# shellcheck disable=SC2086
apt-get -qq -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
	--no-install-recommends install $missing >/dev/null
echo "deps.sh: done"

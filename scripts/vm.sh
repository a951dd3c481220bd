#!/bin/bash
# scripts/vm.sh — run one command inside Debian 12's own 6.1 kernel, under qemu.
#
#   scripts/vm.sh [--timeout S] [--mem MB] [--cpus N] [--verbose] -- CMD ARGS...
#   scripts/vm.sh --prepare       fetch + build the kernel/initramfs cache only
#
# Why: the development and CI machines run a kernel without CONFIG_TLS, so
# kernel TLS (and the BPF programs on an older kernel) can only be tested in
# a VM.  The VM boots the kernel of the current `linux-image-6.1.*-amd64`
# package (fetched with `apt-get download`, never installed on the host) on
# qemu's `microvm` machine, loads `tls`, and runs CMD with the HOST's userland:
# the host's root filesystem is shared read-only over virtio-9p and a tmpfs
# overlay on top of it makes it writable inside the VM (writes are thrown
# away).  CMD starts in the current directory with the current environment.
#
# CMD's stdout and stderr stream to this script's stdout (second serial
# port); kernel messages go to the first serial port, kept in a log and shown
# when the VM dies without an exit status (or always with --verbose).
# The exit status is CMD's, carried back in a file on a writable 9p share;
# inside the VM that share is $SL_VM_OUT (same path as on the host), a place
# for CMD to leave results.  124 = timeout, 125 = the VM itself failed.
#
# Cache: $BUILD/vm/ (kernel, modules, initramfs per package version).
# KVM is used only when /dev/kvm exists AND a probe boot with it succeeds
# (it has been seen to fail with internal errors); otherwise TCG.
# The guest gets the host's TSC rate (tsc_early_khz=): without it about one
# boot in four hung in calibration on microvm/TCG here.  The uncompressed
# vmlinux boots through PVH, ~5 s faster than the bzImage under TCG.
# Boot to the command: ~3 s of guest time, ~5.5 s of wall time for `true`.
#
# Environment: SL_VM_TIMEOUT SL_VM_MEM SL_VM_CPUS SL_VM_VERBOSE (the
# options' defaults: 600 s, 2048 MB, 2, 0), SL_VM_ACCEL=tcg (skip the KVM
# probe), SL_VM_KERNEL_PKG=linux-image-6.1.0-N-amd64, SL_VM_BZIMAGE=1,
# SL_VM_TSC_KHZ=N|off.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
VMDIR=$BUILD/vm

timeout_s=${SL_VM_TIMEOUT:-600}
mem_mb=${SL_VM_MEM:-2048}
cpus=${SL_VM_CPUS:-2}
verbose=${SL_VM_VERBOSE:-0}
prepare_only=0

die() { echo "vm.sh: $*" >&2; exit 125; }
usage() {
	sed -n '3,5p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case $1 in
	--timeout) timeout_s=${2:?}; shift 2 ;;
	--mem) mem_mb=${2:?}; shift 2 ;;
	--cpus) cpus=${2:?}; shift 2 ;;
	--verbose) verbose=1; shift ;;
	--prepare) prepare_only=1; shift ;;
	--) shift; break ;;
	-h|--help) usage ;;
	*) usage ;;
	esac
done
[[ $timeout_s =~ ^[0-9]+$ && $mem_mb =~ ^[0-9]+$ && $cpus =~ ^[0-9]+$ ]] ||
	die "--timeout, --mem and --cpus take whole numbers"
[ $prepare_only = 1 ] || [ $# -gt 0 ] || usage

for t in qemu-system-x86_64 busybox cpio depmod modprobe xz apt-get dpkg-deb; do
	command -v "$t" >/dev/null || die "$t not found (scripts/deps.sh installs it)"
done
[ -x /bin/busybox ] || die "/bin/busybox missing (busybox-static)"

# ---------------------------------------------------------------- kernel
# The package: what the linux-image-amd64 metapackage points at (Debian 12:
# the current 6.1 ABI), or SL_VM_KERNEL_PKG.  Without apt lists, the newest
# kernel already in the cache.
apt_kernel() {
	local p
	p=$(apt-cache depends linux-image-amd64 2>/dev/null |
	    awk '$1 == "Depends:" && $2 ~ /^linux-image-6\.1\.[0-9]+-[0-9]+-amd64$/ { print $2; exit }')
	[ -n "$p" ] || p=$(apt-cache pkgnames linux-image-6.1. 2>/dev/null |
		grep -E '^linux-image-6\.1\.[0-9]+-[0-9]+-amd64$' | sort -V | tail -1)
	echo "$p"
}
pick_kernel() {
	local p=${SL_VM_KERNEL_PKG:-}
	[ -n "$p" ] || p=$(apt_kernel)
	# A machine whose apt lists were never fetched knows no kernel yet.
	if [ -z "$p" ] && [ "$(id -u)" = 0 ] && ! ls "$VMDIR"/linux-image-6.1.*_*/ready >/dev/null 2>&1; then
		apt-get -qq update >/dev/null 2>&1 || true
		p=$(apt_kernel)
	fi
	if [ -z "$p" ]; then
		p=$(ls -d "$VMDIR"/linux-image-6.1.*-amd64_* 2>/dev/null | sort -V | tail -1)
		p=${p##*/}; p=${p%%_*}
	fi
	[ -n "$p" ] || die "no linux-image-6.1.*-amd64 package known to apt (apt-get update?)"
	echo "$p"
}

# apt-cache costs a second or two per call: the choice is remembered until
# the apt lists change.
PICK=$VMDIR/kernel.pick
if [ -z "${SL_VM_KERNEL_PKG:-}" ] && [ -s "$PICK" ] &&
   [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -newer "$PICK" 2>/dev/null | head -1)" ]; then
	read -r KPKG KPKGVER < "$PICK"
else
	KPKG=$(pick_kernel) || exit 125
	KPKGVER=$(apt-cache show --no-all-versions "$KPKG" 2>/dev/null | awk '/^Version:/ { print $2; exit }')
	if [ -z "$KPKGVER" ]; then
		d=$(ls -d "$VMDIR/${KPKG}_"* 2>/dev/null | sort -V | tail -1)
		[ -n "$d" ] || die "$KPKG: no version known to apt and none cached"
		KPKGVER=${d##*_}
	fi
	if [ -z "${SL_VM_KERNEL_PKG:-}" ]; then
		mkdir -p "$VMDIR"
		echo "$KPKG $KPKGVER" > "$PICK.tmp" && mv "$PICK.tmp" "$PICK"
	fi
fi
KVER=${KPKG#linux-image-}
KDIR=$VMDIR/${KPKG}_$KPKGVER

# Modules the initramfs carries: the 9p root and its transport, overlayfs,
# tls, veth, and every crypto module (the kernel asks for AEAD templates
# such as "gcm(aes)" by name at TLS_TX/TLS_RX time; init preloads them).
BOOT_MODULES="virtio_mmio 9pnet_virtio 9p overlay"
EXTRA_MODULES="tls veth"
CRYPTO_PRELOAD="aesni_intel ghash_clmulni_intel gcm ccm chacha20poly1305 chacha_x86_64 poly1305_x86_64 ctr ghash_generic"

# The uncompressed kernel: qemu boots its ELF through the PVH entry point,
# which skips the bzImage decompressor (several seconds under TCG).
extract_vmlinux() {	# bzImage → vmlinux (xz payload, Debian's setting)
	local z=$1 out=$2 off
	grep -q '^CONFIG_KERNEL_XZ=y' "$KDIR/config" || { cp "$z" "$out"; return; }
	off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$z" | head -1 | cut -d: -f1)
	[ -n "$off" ] || { cp "$z" "$out"; return; }
	tail -c +$((off + 1)) "$z" | xz -dc --single-stream > "$out.tmp" 2>/dev/null || true
	if [ "$(head -c4 "$out.tmp" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
		mv "$out.tmp" "$out"
	else
		rm -f "$out.tmp"; cp "$z" "$out"
	fi
}

write_init() {	# the initramfs's /init (busybox sh, PID 1)
	cat <<'EOF'
#!/bin/busybox sh
# PID 1 of the smtplock test VM (written by scripts/vm.sh).
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
fail() { echo "vm-init: $*"; sync; reboot -f; }
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
KVER=$(uname -r)
OUT=; VERBOSE=0
for a in $(cat /proc/cmdline); do
	case $a in sl.out=*) OUT=${a#sl.out=} ;; sl.verbose=1) VERBOSE=1 ;; esac
done
[ -n "$OUT" ] || fail "no sl.out= on the kernel command line"
[ "$VERBOSE" = 1 ] && echo "vm-init: $(cut -d' ' -f1 /proc/uptime)s: init started"
for m in $(cat /etc/boot-modules); do modprobe "$m" || fail "modprobe $m"; done
mkdir -p /lower /rw /root
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=262144,cache=loose hostroot /lower ||
	fail "mount of the host root over 9p failed"
mount -t tmpfs -o mode=755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /root ||
	fail "overlay mount failed"
mkdir -p "/root$OUT"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 out "/root$OUT" ||
	fail "mount of the output share failed"
[ "$VERBOSE" = 1 ] && echo "vm-init: $(cut -d' ' -f1 /proc/uptime)s: root mounted"
# kTLS and the AEADs it asks for by name.
modprobe tls || fail "modprobe tls"
for m in $(cat /etc/crypto-modules); do modprobe "$m" 2>/dev/null; done
modprobe veth
# The same modules for the host userland's own modprobe inside the VM.
mkdir -p "/root/lib/modules/$KVER"
mount --bind "/lib/modules/$KVER" "/root/lib/modules/$KVER"
mount -t proc proc /root/proc
mount -t sysfs sys /root/sys
mount -t devtmpfs dev /root/dev
mkdir -p /root/dev/pts /root/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /root/dev/pts
mount -t tmpfs tmpfs /root/dev/shm
# No tmpfs over /tmp: a checkout (and the output share inside it) may live
# there, and the overlay already keeps every write in memory.  /run gets a
# fresh one: the host's netns files there are not namespaces in the VM.
mount -t tmpfs -o mode=755 tmpfs /root/run
mount -t bpf bpf /root/sys/fs/bpf
mount -t cgroup2 cgroup2 /root/sys/fs/cgroup
mount -t debugfs debugfs /root/sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /root/sys/kernel/tracing 2>/dev/null
ip link set lo up
hostname smtplock-vm
stty -F /dev/ttyS1 raw -echo 2>/dev/null
[ "$VERBOSE" = 1 ] && echo "vm-init: $(cut -d' ' -f1 /proc/uptime)s: running the command"
chroot /root /bin/sh -c 'exec /bin/bash "$1" </dev/null >/dev/ttyS1 2>&1' sh "$OUT/cmd.sh"
rc=$?
echo "$rc" > "/root$OUT/rc"
[ "$VERBOSE" = 1 ] && echo "vm-init: $(cut -d' ' -f1 /proc/uptime)s: exit status $rc"
sync
[ "$VERBOSE" = 1 ] && echo "vm-init: $(cut -d' ' -f1 /proc/uptime)s: rebooting"
# An emergency restart (triple fault with reboot=t, -no-reboot ends qemu):
# the orderly path waits a second for the other CPUs, and nothing is left
# to flush (the 9p output share is uncached, the console drained at close).
echo b > /proc/sysrq-trigger
reboot -f
EOF
}

prepare() {
	mkdir -p "$VMDIR"
	exec 9>"$VMDIR/.lock"
	flock 9
	[ -f "$KDIR/ready" ] && return 0
	echo "vm.sh: preparing $KPKG $KPKGVER in ${KDIR#$ROOT/}" >&2
	rm -rf "$KDIR"
	local dl=$VMDIR/dl x=$KDIR/x st=$KDIR/initramfs mods
	mkdir -p "$dl" "$KDIR"
	rm -f "$dl"/*.deb
	# _apt cannot write into build/: let apt run this download as root.
	if ! (cd "$dl" && apt-get -q -o APT::Sandbox::User=root download "$KPKG=$KPKGVER" >/dev/null); then
		# A mirror that dropped this version: a kernel already cached
		# does the job as well.
		local old
		rm -rf "$KDIR"
		old=$(ls -d "$VMDIR"/linux-image-6.1.*_*/ready 2>/dev/null | sort -V | tail -1)
		[ -n "$old" ] || die "apt-get download $KPKG=$KPKGVER failed"
		KDIR=${old%/ready}
		KPKG=${KDIR##*/}; KPKGVER=${KPKG#*_}; KPKG=${KPKG%%_*}; KVER=${KPKG#linux-image-}
		echo "vm.sh: download failed; using the cached $KPKG $KPKGVER" >&2
		return 0
	fi
	dpkg-deb -x "$dl/${KPKG}_"*.deb "$x"
	rm -f "$dl"/*.deb
	cp "$x/boot/config-$KVER" "$KDIR/config"
	cp "$x/boot/vmlinuz-$KVER" "$KDIR/vmlinuz"
	extract_vmlinux "$KDIR/vmlinuz" "$KDIR/vmlinux"
	grep -q '^CONFIG_TLS=[ym]' "$KDIR/config" || die "$KPKG has no CONFIG_TLS"

	depmod -b "$x" "$KVER"
	mods=$(for m in $BOOT_MODULES $EXTRA_MODULES $CRYPTO_PRELOAD; do
		modprobe -d "$x" -S "$KVER" --show-depends "$m" 2>/dev/null
	done | awk '$1 == "insmod" { print $2 }')
	mods="$mods $(find "$x/lib/modules/$KVER/kernel/crypto" \
		"$x/lib/modules/$KVER/kernel/arch/x86/crypto" \
		"$x/lib/modules/$KVER/kernel/lib/crypto" -name '*.ko*')"
	mkdir -p "$st"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,etc,lib/modules/"$KVER"}
	local m rel
	for m in $mods; do
		rel=${m#"$x"/lib/modules/"$KVER"/}
		mkdir -p "$st/lib/modules/$KVER/$(dirname "$rel")"
		cp "$m" "$st/lib/modules/$KVER/$rel"
	done
	cp "$x/lib/modules/$KVER"/modules.{order,builtin,builtin.modinfo} "$st/lib/modules/$KVER/"
	depmod -b "$st" "$KVER"
	rm -rf "$x"
	cp /bin/busybox "$st/bin/busybox"
	mknod -m 600 "$st/dev/console" c 5 1
	echo "$BOOT_MODULES" > "$st/etc/boot-modules"
	echo "$CRYPTO_PRELOAD" > "$st/etc/crypto-modules"
	(cd "$st" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc --quiet -R 0:0) > "$KDIR/initramfs.cpio"
	rm -rf "$st"
	touch "$KDIR/ready"
}

prepare
[ $prepare_only = 1 ] && { echo "$KDIR"; exit 0; }

# ---------------------------------------------------------------- run
# The TSC rate the host measured: the guest skips its own calibration,
# which hung some microvm boots under TCG.
tsc_khz() {
	local mhz
	mhz=$(awk -F: '/^cpu MHz/ { gsub(/ /, "", $2); print $2; exit }' /proc/cpuinfo)
	[ -n "$mhz" ] && awk -v m="$mhz" 'BEGIN { printf "%d", m * 1000 }'
}

RUN=$(mktemp -d "$VMDIR/run.XXXXXX")
qpid=
cleanup() {
	[ -n "$qpid" ] && kill "$qpid" 2>/dev/null
	rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The command, its directory and environment, as a script for bash in the VM.
{
	echo "# written by scripts/vm.sh"
	export -p | grep -vE '^declare -x (BASH_[A-Z_]*|OLDPWD|PWD|SHLVL|_|TMPDIR|XDG_RUNTIME_DIR|DBUS_SESSION_BUS_ADDRESS|SSH_[A-Z_]*|TERM|COLORTERM)(=|$)' || true
	echo "export SL_VM_OUT=$(printf %q "$RUN") SL_IN_VM=1 TERM=dumb"
	printf 'cd %q || exit 125\n' "$PWD"
	printf 'exec'; printf ' %q' "$@"; printf '\n'
} > "$RUN/cmd.sh"

# /init goes in a second cpio made for every run and appended to the cached
# one (the kernel unpacks both, the later wins): a change of write_init
# takes effect at once, without fetching the kernel package again.
(st=$RUN/initfs && mkdir -p "$st" && write_init > "$st/init" && chmod 755 "$st/init" &&
	cd "$st" && echo init | cpio -o -H newc --quiet -R 0:0) > "$RUN/init.cpio" ||
	die "cannot build the init cpio"
cat "$KDIR/initramfs.cpio" "$RUN/init.cpio" > "$RUN/initrd"
rm -rf "$RUN/initfs" "$RUN/init.cpio"

KERNEL=$KDIR/vmlinux
[ "${SL_VM_BZIMAGE:-0}" = 1 ] && KERNEL=$KDIR/vmlinuz
tsc=${SL_VM_TSC_KHZ:-$(tsc_khz || true)}
[ "$tsc" = off ] && tsc=

# qemu_cmd DIR OUT: the qemu command line in QARGS for a run whose share is
# DIR and whose command output goes to the file OUT.
qemu_cmd() {
	local dir=$1 out=$2 append
	append="console=ttyS0 earlyprintk=ttyS0 reboot=t panic=-1 quiet loglevel=4"
	append+=" mitigations=off 8250.nr_uarts=2 i8042.noaux i8042.nokbd random.trust_cpu=on"
	append+=" nokaslr no_timer_check cryptomgr.notests sl.out=$dir sl.verbose=$verbose"
	[ -n "$tsc" ] && append+=" tsc_early_khz=$tsc"
	QARGS=(
		-M microvm,acpi=on,pit=on,pic=off,rtc=off,x-option-roms=off
		-m "$mem_mb" -smp "$cpus" -nodefaults -no-user-config -nographic -no-reboot
		-kernel "$KERNEL" -initrd "$RUN/initrd" -append "$append"
		-chardev "file,id=con,path=$dir/console.log"
		-serial chardev:con
		-chardev "file,id=out,path=$out,append=on"
		-device isa-serial,chardev=out,iobase=0x2f8,irq=3
		-fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap
		-device virtio-9p-device,fsdev=hostroot,mount_tag=hostroot
		-fsdev "local,id=out,path=$dir,security_model=none,multidevs=remap"
		-device virtio-9p-device,fsdev=out,mount_tag=out
	)
}

# KVM only if it really works here (it has failed with internal errors on
# these machines): one probe boot per host boot, remembered.
pick_accel() {
	local boot_id cache=$VMDIR/kvm.probe p r=tcg
	if [ "${SL_VM_ACCEL:-}" = tcg ] || [ ! -c /dev/kvm ] || [ ! -w /dev/kvm ]; then
		echo tcg; return
	fi
	boot_id=$(cat /proc/sys/kernel/random/boot_id)
	if [ -f "$cache" ] && [ "$(cut -d' ' -f1 "$cache")" = "$boot_id" ]; then
		cut -d' ' -f2 "$cache"; return
	fi
	p=$(mktemp -d "$VMDIR/probe.XXXXXX")
	printf 'exit 0\n' > "$p/cmd.sh"
	qemu_cmd "$p" /dev/null
	if timeout -k 5 60 qemu-system-x86_64 "${QARGS[@]}" -accel kvm -cpu host \
		>/dev/null 2>&1 </dev/null && [ "$(cat "$p/rc" 2>/dev/null)" = 0 ]; then
		r=kvm
	fi
	rm -rf "$p"
	echo "$boot_id $r" > "$cache"
	echo "$r"
}
accel=$(pick_accel)
# The command's output: qemu writes a FIFO, cat copies it to our stdout
# (qemu reopening /dev/stdout misbehaves when stdout is not a pipe or file).
mkfifo "$RUN/out"
cat "$RUN/out" &
catpid=$!
qemu_cmd "$RUN" "$RUN/out"
if [ "$accel" = kvm ]; then
	QARGS+=(-accel kvm -cpu host)
else
	QARGS+=(-accel tcg,thread=multi -cpu max)
fi

t0=$(date +%s.%N)
set +e
timeout -k 5 "$timeout_s" qemu-system-x86_64 "${QARGS[@]}" </dev/null 2>"$RUN/qemu.err" &
qpid=$!
wait "$qpid"
qrc=$?
qpid=
# cat ends when qemu's end of the FIFO closes.  If qemu never opened it,
# cat is still blocked in open(): a writer that opens and closes at once
# (non-blocking: it fails if cat is already gone) lets it end.
dd if=/dev/null of="$RUN/out" oflag=nonblock status=none 2>/dev/null || true
wait "$catpid" 2>/dev/null || true
set -e
t1=$(date +%s.%N)

if [ "$verbose" = 1 ]; then
	echo "vm.sh: $KPKG $KPKGVER, $accel, ${cpus} vCPU, $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')s" >&2
	cat "$RUN/console.log" >&2
fi
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
	echo "vm.sh: timeout after ${timeout_s}s" >&2
	[ "$verbose" = 1 ] || tail -n 30 "$RUN/console.log" >&2
	exit 124
fi
if [ ! -f "$RUN/rc" ]; then
	echo "vm.sh: the VM stopped without an exit status (qemu status $qrc)" >&2
	[ "$verbose" = 1 ] || tail -n 40 "$RUN/console.log" >&2
	cat "$RUN/qemu.err" >&2
	exit 125
fi
exit "$(cat "$RUN/rc")"

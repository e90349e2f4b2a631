#!/bin/sh
# Runs a test script inside a QEMU (TCG) guest booted with Debian's kernel,
# with vstor.ko built for that kernel. See
# /work/shared/guides/kernel-tests-in-qemu.md for the how and why.
#
# Usage: tests/vm/run-vm.sh SCRIPT [FILE...]
#   SCRIPT runs as /test.sh under busybox sh in the guest, as root, with
#   /mod/vstor.ko (not loaded), the FILEs in /bin and $OUT (=/tmp/out) for
#   files to bring back. FILEs ending in .c are built here first as static
#   binaries (libnl-genl-3 and common/ available) and copied without the .c.
# Prints the guest script's output (its PASS:/FAIL:/SKIP: lines), then a
# PASS/FAIL line each for the guest exit status, dmesg and the taint flags.
# Exit status: 0 all passed, 1 failed, 77 skipped (no kernel image/headers,
# qemu or busybox-static on this host).
# Environment:
#   VM_TIMEOUT     whole-boot limit in seconds (default 240)
#   GUEST_TIMEOUT  limit for SCRIPT inside the guest (default 150)
#   VM_KEEP=DIR    also copy the results (console.log, dmesg, ...) to DIR
#   VM_APPEND      extra kernel command line (e.g. panic_on_warn=1)
#   VM_MEM         guest memory in MiB (default 1024)
#   VM_CLOCK       tsc: boot with tsc=reliable clocksource=tsc (TCG's vCPUs
#                  share the host's TSC, but the kernel's sync check fails
#                  under emulation and picks the HPET, an MMIO exit per
#                  read); default: the kernel's choice
#   VM_BINS        more programs for the guest, copied with every library
#                  ldd names to the same paths (dynamic Debian binaries)
#   VM_MODS        more Debian modules, insmod'ed by /init in order
#                  (with their dependencies), e.g. "brd"
#   VM_SMP         vCPUs (default 2)
#   VM_NET=udp=HOST:PORT,localaddr=HOST:PORT, with VM_IP=ADDR/LEN: a
#                  virtio NIC on QEMU's UDP socket network (frames to the
#                  peer's port, from the local one), eth0 at ADDR in the
#                  guest, so two guests talk to each other as two hosts.
#                  (Not the TCP form, listen=/connect=: its host socket
#                  held small frames ~40 ms between the two QEMUs.)
#   VM_MTU         eth0's MTU with VM_NET (default: the driver's, 1500)
set -u
REPO=$(cd "$(dirname "$0")/../.." && pwd) || exit 1
VM_TIMEOUT=${VM_TIMEOUT:-240}
case ${VM_CLOCK:-} in
"" | hpet) clock_args="" ;;
tsc) clock_args="tsc=reliable clocksource=tsc" ;;
*) echo "$0: VM_CLOCK must be tsc or hpet, not ${VM_CLOCK}" >&2; exit 2 ;;
esac
GUEST_TIMEOUT=${GUEST_TIMEOUT:-150}
net_args="" net_up=""
if [ -n "${VM_NET:-}" ]; then
	case ${VM_NET} in
	udp=*:[0-9]*,localaddr=*:[0-9]*) ;;
	*) echo "$0: VM_NET must be udp=HOST:PORT,localaddr=HOST:PORT, not ${VM_NET}" >&2; exit 2 ;;
	esac
	case ${VM_IP:-} in
	*.*.*.*/[0-9]*) ;;
	*) echo "$0: VM_NET needs VM_IP=ADDR/LEN (e.g. 10.0.2.1/24), not '${VM_IP:-}'" >&2; exit 2 ;;
	esac
	# a MAC of its own per guest: the last byte of its address
	mac=$(printf '52:54:00:12:34:%02x' "$(echo "${VM_IP%/*}" | cut -d. -f4)")
	net_args="-netdev socket,id=n0,${VM_NET} -device virtio-net-pci,netdev=n0,mac=$mac"
	mtu=""
	[ -n "${VM_MTU:-}" ] && mtu=" mtu ${VM_MTU}"
	net_up="ip addr add ${VM_IP} dev eth0 && ip link set eth0${mtu} up || echo 'init: eth0 at ${VM_IP}${mtu} failed'"
	VM_MODS="virtio_net ${VM_MODS:-}"
fi

skip() {
	echo "SKIP: vm: $*"
	exit 77
}

[ $# -ge 1 ] || { echo "usage: $0 SCRIPT [FILE...]" >&2; exit 2; }
SCRIPT=$1
shift
[ -f "$SCRIPT" ] || { echo "$0: no such script: $SCRIPT" >&2; exit 2; }

# Newest kernel that has both an image and headers (never uname -r).
KVER=$(for f in /boot/vmlinuz-*-amd64; do
	[ -e "$f" ] || continue
	v=${f#/boot/vmlinuz-}
	[ -d "/usr/src/linux-headers-$v" ] && echo "$v"
done | sort -V | tail -n 1)
[ -n "$KVER" ] || skip "no /boot/vmlinuz-*-amd64 with matching /usr/src/linux-headers-* (install linux-image-amd64 linux-headers-amd64)"
[ -r "/boot/vmlinuz-$KVER" ] || skip "/boot/vmlinuz-$KVER is not readable"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 not installed"
[ -x /bin/busybox ] || skip "busybox-static not installed"
command -v cpio >/dev/null || skip "cpio not installed"
command -v modprobe >/dev/null || skip "kmod (modprobe) not installed"

work=$(mktemp -d "${TMPDIR:-/tmp}/vstor-vm.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
root=$work/root
mkdir -p "$root/bin" "$root/mod" "$root/proc" "$root/sys" "$root/dev" \
	"$root/tmp" "$root/sbin" "$root/usr/bin" "$root/usr/sbin"

t0=$(date +%s)

# The module, for exactly this kernel.
if ! make -C "$REPO" kmod KDIR="/usr/src/linux-headers-$KVER" >"$work/kbuild.log" 2>&1; then
	tail -n 40 "$work/kbuild.log"
	echo "FAIL: vm: make kmod KDIR=/usr/src/linux-headers-$KVER"
	exit 1
fi
cp "$REPO/kmod/vstor.ko" "$root/mod/vstor.ko"

# Files for the guest; C sources become static binaries.
for f in "$@"; do
	case "$f" in
	*.c)
		bin=$(basename "$f" .c)
		# shellcheck disable=SC2046
		if ! gcc -static -std=gnu11 -O2 -g -Wall -Wextra -Werror \
			-I"$REPO/common" -o "$root/bin/$bin" "$f" \
			$(pkg-config --cflags --libs --static libnl-genl-3.0) \
			>"$work/cc.log" 2>&1; then
			grep -v 'statically linked applications\|in function' "$work/cc.log"
			echo "FAIL: vm: cannot build $f"
			exit 1
		fi
		;;
	*)
		cp "$f" "$root/bin/" || exit 1
		;;
	esac
done
cp /bin/busybox "$root/bin/busybox"
# Dynamic programs with their libraries at the same paths; SRC=DEST puts
# SRC at DEST in the guest.
for f in ${VM_BINS:-}; do
	src=${f%%=*}
	dst=$src
	case "$f" in *=*) dst=${f#*=} ;; esac
	[ -x "$src" ] || { echo "FAIL: vm: VM_BINS: $src is not an executable"; exit 1; }
	mkdir -p "$root$(dirname "$dst")" && cp -L "$src" "$root$dst" || exit 1
	for l in $(ldd "$src" 2>/dev/null | awk '/=> \// { print $3 } /^\t\/.*ld-linux/ { print $1 }'); do
		cp --parents -L "$l" "$root" || exit 1
	done
done
cp "$SCRIPT" "$root/test.sh"

# Debian modules for the results disk, in load order. virtio_pci is no
# symbol dependency of virtio_blk, so ask for it explicitly.
[ -e "/lib/modules/$KVER/modules.dep" ] || depmod "$KVER" 2>/dev/null ||
	skip "no /lib/modules/$KVER/modules.dep (run depmod $KVER as root)"
: >"$root/mod/order"
for m in virtio_pci virtio_blk ${VM_MODS:-}; do
	modprobe -S "$KVER" --show-depends "$m" >>"$work/deps" 2>/dev/null ||
		skip "modprobe cannot resolve $m for $KVER"
done
for path in $(awk '$1 == "insmod" { print $2 }' "$work/deps"); do
	name=$(basename "$path")
	case "$name" in
	*.ko) ;;
	*.ko.xz) name=${name%.xz} ;;
	*.ko.zst) name=${name%.zst} ;;
	*) continue ;;
	esac
	grep -qx "$name" "$root/mod/order" && continue
	case "$path" in
	*.xz) xz -dc "$path" >"$root/mod/$name" ;;
	*.zst) zstd -qdc "$path" >"$root/mod/$name" ;;
	*) cp "$path" "$root/mod/$name" ;;
	esac || skip "cannot copy $path"
	echo "$name" >>"$root/mod/order"
done
grep -qx virtio_blk.ko "$root/mod/order" || skip "virtio_blk.ko not found for $KVER"

cat >"$root/init" <<EOF
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
ip link set lo up
for m in \$(cat /mod/order); do insmod /mod/\$m || echo "init: insmod \$m failed"; done
$net_up
export OUT=/tmp/out VSTOR_KO=/mod/vstor.ko
mkdir -p \$OUT
cd /tmp
timeout $GUEST_TIMEOUT sh /test.sh >\$OUT/test.log 2>&1
rc=\$?
echo \$rc >\$OUT/rc
dmesg >\$OUT/dmesg.txt
cat /proc/sys/kernel/tainted >\$OUT/taint
i=0
while [ ! -b /dev/vda ] && [ \$i -lt 50 ]; do sleep 0.1; i=\$((i + 1)); done
tar -C \$OUT -cf /dev/vda .
sync
[ \$rc -gt 255 ] && rc=255
printf "\\\\\$(printf %o \$rc)" | dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
poweroff -f
EOF
chmod 755 "$root/init" "$root/test.sh"

(cd "$root" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) \
	>"$work/initramfs.cpio.gz" || { echo "FAIL: vm: cannot pack the initramfs"; exit 1; }
truncate -s 16M "$work/results.img"
t1=$(date +%s)

# shellcheck disable=SC2086
timeout "$VM_TIMEOUT" qemu-system-x86_64 -accel tcg -m "${VM_MEM:-1024}" -smp "${VM_SMP:-2}" $net_args \
	-nodefaults -display none -no-reboot \
	-kernel "/boot/vmlinuz-$KVER" -initrd "$work/initramfs.cpio.gz" \
	-append "console=ttyS0 quiet panic=-1 $clock_args ${VM_APPEND:-}" \
	-serial "file:$work/console.log" \
	-drive "file=$work/results.img,format=raw,if=virtio" \
	-device isa-debug-exit,iobase=0xf4,iosize=0x04 </dev/null
qrc=$?
t2=$(date +%s)

mkdir -p "$work/out"
tar -xf "$work/results.img" -C "$work/out" 2>/dev/null
[ -n "${VM_KEEP:-}" ] && mkdir -p "$VM_KEEP" && cp -r "$work/out/." "$work/console.log" "$VM_KEEP/"

[ -f "$work/out/test.log" ] && cat "$work/out/test.log"
echo "# vm: kernel $KVER, build+initramfs $((t1 - t0))s, boot+test $((t2 - t1))s"

ok=1
grc=$(cat "$work/out/rc" 2>/dev/null || echo none)
if [ "$qrc" -eq 1 ] && [ "$grc" = 0 ]; then
	echo "PASS: vm: guest script exited 0"
else
	case $qrc in
	124) why="VM timed out after ${VM_TIMEOUT}s" ;;
	0) why="guest panicked or powered off without a status" ;;
	*) why="qemu status $qrc" ;;
	esac
	echo "FAIL: vm: guest script status $grc ($why)"
	echo "# last console lines:"
	tail -n 40 "$work/console.log" | sed 's/^/#   /'
	ok=0
fi

if [ -f "$work/out/dmesg.txt" ]; then
	bad=$(grep -E 'BUG:|WARNING:|Oops|general protection|Call Trace|lockdep|possible circular|possible recursive|hung_task|blocked for more than|UBSAN|KASAN|kmemleak' \
		"$work/out/dmesg.txt")
	if [ -z "$bad" ]; then
		echo "PASS: vm: dmesg has no BUG/WARNING/Oops/lockdep/hung task lines"
	else
		echo "FAIL: vm: dmesg has kernel splats:"
		echo "$bad" | head -n 40 | sed 's/^/#   /'
		ok=0
	fi
else
	echo "FAIL: vm: no dmesg from the guest"
	ok=0
fi

taint=$(cat "$work/out/taint" 2>/dev/null || echo none)
case $taint in
'' | *[!0-9]*)
	echo "FAIL: vm: no taint value from the guest"
	ok=0
	;;
*)
	if [ $((taint & ~12288)) -eq 0 ]; then
		echo "PASS: vm: taint $taint (only O/E allowed)"
	else
		echo "FAIL: vm: taint $taint has bits other than O|E (4096|8192)"
		ok=0
	fi
	;;
esac

[ "$ok" = 1 ]

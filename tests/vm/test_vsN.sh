#!/bin/sh
# /dev/vsN against a real cluster inside a QEMU guest (tests/vm/cluster_guest.sh):
# Debian's etcd, three vstor-osd on RAM disks, vsctl map and the map agent,
# fio verify runs, ext4, OSD kill -9, lazy-pool flushes and unmaps, unmap/map,
# the map options hw_queues, conns_per_osd and io_timeout, forced unmap, layered
# images (also a clone whose parent is in another pool), erasure-coded
# pools (xor and jerasure 2+1). Run by
# tests/run.sh with the build directory as $1 (its vstor-osd, vstor-disk and
# vsctl go into the guest). Skips when no kernel image/headers or qemu.
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-build}
for b in vstor-osd vstor-disk vsctl; do
	[ -x "$BUILD/$b" ] || { echo "SKIP: vm: $BUILD/$b not built"; exit 0; }
done
for b in /usr/bin/etcd /usr/bin/fio /sbin/mkfs.ext4; do
	[ -x "$b" ] || { echo "SKIP: vm: $b not installed"; exit 0; }
done
stage=$(mktemp -d "${TMPDIR:-/tmp}/vstor-vsN.XXXXXX") || exit 1
trap 'rm -rf "$stage"' EXIT
# Our programs under their plain names; ASan builds are too slow for TCG,
# so prefer the optimised build next to an ASan one.
for b in vstor-osd vstor-disk vsctl; do
	src="$BUILD/$b"
	case "$BUILD" in *asan*) [ -x "build/$b" ] && src="build/$b" ;; esac
	cp "$src" "$stage/$b"
done
VM_MEM=${VM_MEM:-3072} VM_TIMEOUT=${VM_TIMEOUT:-1400} GUEST_TIMEOUT=${GUEST_TIMEOUT:-1300} \
VM_MODS="brd crc32c_generic ext4" \
VM_BINS="/usr/bin/etcd /usr/bin/fio /sbin/mkfs.ext4 /usr/sbin/blkdiscard /usr/bin/fallocate
 $stage/vstor-osd=/usr/bin/vstor-osd
 $stage/vstor-disk=/usr/bin/vstor-disk $stage/vsctl=/usr/bin/vsctl" \
	sh tests/vm/run-vm.sh tests/vm/cluster_guest.sh tests/vm/guest_lib.sh
rc=$?
[ "$rc" -eq 77 ] && exit 0
exit "$rc"

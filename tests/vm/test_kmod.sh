#!/bin/sh
# vstor.ko in a QEMU guest: load, netlink family checks and fuzzing
# (genl_probe), a lying OSD (fake_osd), unload; dmesg and taint checked. Run by tests/run.sh with the
# build directory as $1 (unused: the module and the probe are built for the
# guest's kernel by run-vm.sh). Skips when no kernel image/headers or qemu.
cd "$(dirname "$0")/../.." || exit 1
sh tests/vm/run-vm.sh tests/vm/kmod_guest.sh tests/vm/genl_probe.c tests/vm/fake_osd.c
rc=$?
[ "$rc" -eq 77 ] && exit 0	# the SKIP: line is already printed
exit "$rc"

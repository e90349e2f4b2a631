#!/bin/sh
# Guest side of tests/vm/test_kmod.sh (runs in the VM via run-vm.sh):
# load vstor.ko, probe its netlink family, unload it, twice.
fail=0
pass() { echo "PASS: $*"; }
failed() { echo "FAIL: $*"; fail=1; }

for round in 1 2; do
	if insmod "$VSTOR_KO"; then
		pass "insmod vstor.ko (round $round)"
	else
		failed "insmod vstor.ko (round $round)"
		exit 1
	fi
	if [ "$round" = 1 ]; then
		genl_probe || fail=1
	else
		genl_probe --fuzz 200 || fail=1
	fi
	if rmmod vstor; then
		pass "rmmod vstor (round $round)"
	else
		failed "rmmod vstor (round $round)"
		exit 1
	fi
	grep -q '^vstor ' /proc/modules && failed "vstor still in /proc/modules"
	genl_probe --absent || fail=1
done
exit $fail

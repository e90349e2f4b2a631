#!/bin/sh
# Guest side of tests/vm/test_kmod.sh (runs in the VM via run-vm.sh):
# load vstor.ko, probe its netlink family, unload it, twice.
fail=0
pass() { echo "PASS: $*"; }
failed() { echo "FAIL: $*"; fail=1; }

# The receive path against an OSD that lies: a device whose PG 1 primary
# (OSD 1 at 127.0.0.1:11203 in genl_probe's map) is fake_osd, which breaks
# half of its replies (bad magic, wrong opcode/id/length, huge payloads,
# duplicates, truncation, hang-ups). I/O must go on through the resets and
# never oops; then a forced unmap. With --map-layers the device has three
# parent layers: the fake OSD's random READ bitmaps send reads down the
# chain in waves of sub-reads.
lying_osd() {	# genl_probe's map option
	seed=$(( $(date +%s) % 100000 ))
	fake_osd 11203 1 90 $seed >/tmp/fake.log 2>&1 &
	fpid=$!
	dev=$(genl_probe "$1") || { failed "map a device on the fake OSD ($1)"; kill $fpid; return 1; }
	(
		i=0
		while [ $i -lt 16 ]; do
			dd if="$dev" of=/dev/null bs=4k count=4 skip=$(( i % 28 )) iflag=direct 2>/dev/null
			dd if=/dev/zero of="$dev" bs=4k count=2 seek=$(( i % 30 )) oflag=direct 2>/dev/null
			i=$((i + 1))
		done
	) &
	iopid=$!
	end=$(( $(date +%s) + 80 ))
	while kill -0 $iopid 2>/dev/null && [ "$(date +%s)" -lt "$end" ]; do sleep 0.5; done
	stuck=0
	kill -0 $iopid 2>/dev/null && stuck=1
	genl_probe --unmap-all || fail=1
	wait $iopid 2>/dev/null
	kill $fpid 2>/dev/null
	wait $fpid 2>/dev/null
	# the fake OSD's summary: N connections (every reset reconnects)
	conns=$(grep -o '[0-9]* connections' /tmp/fake.log | cut -d' ' -f1)
	if [ $stuck = 1 ]; then
		failed "I/O against the lying OSD did not finish in 80 s ($1, seed $seed)"
	elif [ "${conns:-0}" -lt 2 ]; then
		failed "the lying OSD caused no connection reset ($1, seed $seed)"
	else
		pass "I/O against the lying OSD ($1) finished through $((conns - 1)) connection resets (seed $seed)"
	fi
	sed 's/^/# /' /tmp/fake.log
}

# Late replies and an I/O scheduler: with one, blk-mq hands a driver tag to
# a different request (PDU) each time. fake_osd first answers every request
# with -EIO under the id its tag and part had last time on the connection,
# as a late reply to that earlier request would; the kernel must drop it,
# which it can only if it never sent the same id again: every read and
# write succeeds.
stale_tag() {
	fake_osd 11203 1 60 1 stale-tag >/tmp/fake.log 2>&1 &
	fpid=$!
	dev=$(genl_probe --map-only) || { failed "map a device on the stale-tag OSD"; kill $fpid; return 1; }
	q=/sys/block/${dev#/dev/}/queue/scheduler
	if ! echo mq-deadline >"$q" 2>/dev/null || ! grep -q '\[mq-deadline\]' "$q"; then
		failed "cannot select mq-deadline for $dev: $(cat "$q")"
	fi
	bad=0
	i=0
	while [ $i -lt 400 ] && [ $bad -lt 5 ]; do
		dd if="$dev" of=/dev/null bs=4k count=1 skip=$(( i % 32 )) iflag=direct 2>/dev/null || bad=$((bad + 1))
		dd if=/dev/zero of="$dev" bs=4k count=1 seek=$(( i % 32 )) oflag=direct 2>/dev/null || bad=$((bad + 1))
		# an elevator switch frees the scheduler's requests, which the
		# late replies named: the module must not look them up
		if [ $(( i % 50 )) = 49 ]; then
			{ echo none >"$q" && echo mq-deadline >"$q"; } || failed "switch $dev's scheduler"
		fi
		i=$((i + 1))
	done
	genl_probe --unmap-all || fail=1
	kill $fpid 2>/dev/null
	wait $fpid 2>/dev/null
	stale=$(grep -o '[0-9]* stale-tag replies' /tmp/fake.log | cut -d' ' -f1)
	if [ $bad -gt 0 ]; then
		failed "a stale reply completed another request of the same tag: $bad I/O errors in $i rounds (mq-deadline)"
	elif [ "${stale:-0}" -lt 100 ]; then
		failed "fake_osd sent only ${stale:-0} stale-tag replies"
	else
		pass "$((2 * i)) reads and writes with mq-deadline (switched $((i / 50)) times), ${stale} stale replies dropped"
	fi
	sed 's/^/# /' /tmp/fake.log
}

for round in 1 2; do
	if insmod "$VSTOR_KO"; then
		pass "insmod vstor.ko (round $round)"
	else
		failed "insmod vstor.ko (round $round)"
		exit 1
	fi
	if [ "$round" = 1 ]; then
		genl_probe || fail=1
		stale_tag || fail=1
		lying_osd --map-only || fail=1
		lying_osd --map-layers || fail=1
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

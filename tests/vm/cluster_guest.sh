#!/bin/sh
# Guest side of tests/vm/test_vsN.sh (runs in the VM via run-vm.sh): a real
# cluster inside the guest (Debian's etcd, three vstor-osd on brd RAM disks,
# a replicated pool), an image mapped as /dev/vs0 through vsctl map and the
# map agent, and the data checks of issue 5 on the device:
#   fio libaio --verify=crc32c: 4 KiB random at iodepth 1 and 32 (one
#   request per io_submit and batches of up to 32), 1 MiB sequential; ext4
#   with files checked by sha256 after unmount and mount; kill -9 of an OSD
#   during a fio verify run (rx_work=1), then its restart; a lazy
#   (immediate_commit=none) mapping: write cache, writes retained until
#   fsync, kill -9 of a primary holding unsynced writes (overlapping ones,
#   and a fio verify run with fsyncs): they are replayed, the fsync
#   succeeds, the data is right; every primary moved to another OSD
#   (config/pgs) with unsynced writes: replayed to the new primaries by the
#   new map, the fsync succeeds, the data is right, also after kill -9 of
#   the old primary; a normal unmap SYNCs acknowledged writes (EBUSY while
#   the SYNC cannot finish; LIST and other commands go on meanwhile; a
#   forced unmap overtakes it) and the data survives kill -9 of every OSD; map
#   -> unmap -> map quickly; layered images: a snapshot of a mapped image
#   (the agent moves the device to the new inode, writes after it show over
#   the snapshot's data), remap, the snapshot read-only, a clone of it,
#   flatten while mapped, snap rm of a mapped clone's parent, a snapshot
#   while fio verify writes; a clone in a second pool of a snapshot in rep3
#   (parent data, writes only in the clone, reads while every rep3 PG
#   changes primary); erasure-coded pools (xor 2+1, jerasure 2+1): queue
#   limits of the stripe, fio verify, whole-stripe discard and write-zeroes,
#   kill -9 of an OSD during fio verify, a lazy fsync, clones with EC and
#   replicated parents; and at the end, with a fourth OSD, xor 3+1 (a 384
#   KiB stripe, no power of two): fio verify, discard and write-zeroes of
#   whole and partial stripes; --hw_queues 2 with --conns_per_osd 2; poll_queues=0;
#   --io_timeout with an OSD stopped; forced unmap with the cluster stopped
#   and I/O in flight.
# Every check prints PASS:/FAIL:; the host checks dmesg for splats.
set -u
. /bin/guest_lib.sh

fio_iops() { grep -Eo '(write|read): IOPS=[^,]*' "$1" | tr '\n' ' '; }	# LOG

# PID LOG WHAT [SECS [DIAG]]: waits for a fio job in the background, PASS/FAIL;
# one still running after SECS is killed, and DIAG (a command) says why
fio_wait() {
	if [ -n "${4:-}" ]; then
		end=$(( $(date +%s) + $4 ))
		while kill -0 "$1" 2>/dev/null && [ "$(date +%s)" -lt "$end" ]; do sleep 1; done
		if kill -0 "$1" 2>/dev/null; then
			kill -9 "$1"
			wait "$1" 2>/dev/null
			failed "$3: still running after $4 s"
			sed 's/^/#   /' "$2" | tail -n 10
			${5:-true}
			return
		fi
	fi
	if wait "$1"; then
		pass "$3: $(fio_iops "$2")"
	else
		failed "$3"
		sed 's/^/#   /' "$2" | tail -n 20
	fi
}

# DEV SKIP FILE OK BAD: the 1 MiB at SKIP x 64 KiB of DEV reads back as FILE
range_check() {
	if dd if="$1" of=/tmp/range.back bs=64k skip="$2" count=16 iflag=direct 2>/dev/null &&
		cmp -s "$3" /tmp/range.back; then
		pass "$4"
	else
		failed "$5"
	fi
}

# DEV NAME SKIP OFF N WHAT: 1 MiB of random data at SKIP x 64 KiB of DEV,
# then N random 4 KiB blocks over it from its block OFF (writes whose order
# matters); /tmp/NAME.exp is what must read back
overlap_write() {
	dd if=/dev/urandom of=/tmp/"$2".exp bs=64k count=16 2>/dev/null
	dd if=/dev/urandom of=/tmp/"$2".over bs=4k count="$5" 2>/dev/null
	dd if=/tmp/"$2".exp of="$1" bs=64k seek="$3" oflag=direct 2>/dev/null ||
		failed "$6: write 1 MiB"
	dd if=/tmp/"$2".over of="$1" bs=4k seek=$(( $3 * 16 + $4 )) oflag=direct 2>/dev/null ||
		failed "$6: overwrite"
	dd if=/tmp/"$2".over of=/tmp/"$2".exp bs=4k seek="$4" conv=notrunc 2>/dev/null
}

# DEV SECS: an fsync of DEV in the background (one stuck in the kernel
# cannot be killed); 0 when it succeeds, 1 when it fails, 2 when it still
# waits after SECS
fsync_wait() {
	dd if=/dev/null of="$1" conv=fsync 2>/dev/null &
	SYNC_PID=$!
	end=$(( $(date +%s) + $2 ))
	while kill -0 "$SYNC_PID" 2>/dev/null && [ "$(date +%s)" -lt "$end" ]; do sleep 0.5; done
	kill -0 "$SYNC_PID" 2>/dev/null && return 2
	wait "$SYNC_PID" || return 1
}

fio_verify() {	# NAME ARGS...: a fio write+verify job on $FIO_DEV (/dev/vs0)
	name=$1
	shift
	if fio --name="$name" --filename="${FIO_DEV:-/dev/vs0}" --direct=1 --ioengine=libaio \
		--verify=crc32c --verify_fatal=1 --do_verify=1 --eta=never \
		--output=/tmp/fio-"$name".log "$@"; then
		pass "fio $name: $(fio_iops /tmp/fio-"$name".log)"
	else
		failed "fio $name"
		sed 's/^/#   /' /tmp/fio-"$name".log | tail -n 20
	fi
}

# ---- the cluster ----
cluster_start 320 4
$V create img1 --size 128M >/dev/null || die "create image"

# ---- map ----
vstor_load
$V map-agent >/tmp/agent.log 2>&1 &
AGENT_PID=$!
dev=$($V map img1 --no_agent) || die "vsctl map img1"
[ "$dev" = /dev/vs0 ] || failed "vsctl map printed '$dev', want /dev/vs0"
[ -b /dev/vs0 ] || die "/dev/vs0 is no block device"
pass "vsctl map img1 -> $dev"
for a in pool image inode size state epoch; do
	note "sysfs vstor/$a = $(cat /sys/block/vs0/vstor/$a)"
done
[ "$(cat /sys/block/vs0/vstor/image)" = img1 ] && [ "$(cat /sys/block/vs0/vstor/pool)" = rep3 ] &&
	[ "$(cat /sys/block/vs0/vstor/size)" = $(( 128 << 20 )) ] ||
	failed "sysfs attributes"
$V list | sed 's/^/# /'
$V list --json | grep -q '"device":"/dev/vs0"' && pass "vsctl list --json" || failed "vsctl list --json"

# ---- data ----
fio_verify rand4k-qd1 --rw=randwrite --bs=4k --iodepth=1 --size=4m
be0=$(cat /sys/block/vs0/vstor/batch_ends)
fio_verify rand4k-qd32 --rw=randwrite --bs=4k --iodepth=32 --size=16m --offset=16m
# batched submissions: requests that are not their batch's last wait for
# its end (bd->last / commit_rqs) to be sent; the same range written again
fio_verify rand4k-qd32-batch --rw=randwrite --bs=4k --iodepth=32 --size=16m --offset=16m \
	--iodepth_batch_submit=32 --iodepth_batch_complete_max=32
# the requests whose replies one receive parsed end together
be1=$(cat /sys/block/vs0/vstor/batch_ends)
[ $((be1 - be0)) -gt 100 ] && pass "depth 32: $((be1 - be0)) requests ended in batches" ||
	failed "depth 32: $((be1 - be0)) requests ended in batches (want > 100)"
fio_verify seq1m --rw=write --bs=1m --iodepth=4 --size=32m --offset=32m
# polled I/O (io_uring --hipri): the poll queue's own connections, whose
# replies fio's thread parses itself (poll_replies counts them)
pr0=$(cat /sys/block/vs0/vstor/poll_replies)
fio_verify rand4k-qd1-hipri --ioengine=io_uring --hipri --rw=randwrite --bs=4k --iodepth=1 \
	--size=4m --offset=64m
fio_verify rand4k-qd32-hipri --ioengine=io_uring --hipri --rw=randwrite --bs=4k --iodepth=32 \
	--size=16m --offset=64m --iodepth_batch_submit=32 --iodepth_batch_complete_max=32
pr1=$(cat /sys/block/vs0/vstor/poll_replies)
[ $((pr1 - pr0)) -gt 1000 ] && pass "polled I/O: $((pr1 - pr0)) replies parsed by the pollers" ||
	failed "polled I/O: $((pr1 - pr0)) replies parsed by the pollers (want > 1000)"

if mkfs.ext4 -q -F /dev/vs0 >/tmp/mkfs.log 2>&1; then
	mkdir -p /mnt
	mount -t ext4 /dev/vs0 /mnt || die "mount ext4"
	i=0
	while [ $i -lt 20 ]; do
		dd if=/dev/urandom of=/mnt/f$i bs=4k count=$(( (i * 37) % 200 + 1 )) 2>/dev/null
		i=$((i + 1))
	done
	mkdir /mnt/dir && cp /mnt/f1 /mnt/f2 /mnt/dir/
	(cd /mnt && sha256sum f* dir/*) >/tmp/sums
	umount /mnt || die "umount"
	mount -t ext4 /dev/vs0 /mnt || die "mount again"
	if (cd /mnt && sha256sum -c /tmp/sums >/dev/null); then
		pass "ext4: 22 files intact after unmount and mount"
	else
		failed "ext4: checksums differ after remount"
	fi
	umount /mnt
else
	failed "mkfs.ext4: $(tail -n 3 /tmp/mkfs.log)"
fi

# An open device is not unmapped without --force.
exec 7</dev/vs0
if $V unmap /dev/vs0 2>/tmp/unmap.err; then
	failed "vsctl unmap of an open device succeeded"
else
	grep -q "is open" /tmp/unmap.err && pass "unmap of an open device: $(cat /tmp/unmap.err)" ||
		failed "unmap of an open device: $(cat /tmp/unmap.err)"
fi
exec 7<&-
$V unmap img1 >/dev/null && pass "vsctl unmap img1 (by image name)" || failed "vsctl unmap img1"
[ -e /sys/block/vs0 ] && failed "/sys/block/vs0 still there after unmap"

# ---- kill -9 of an OSD during a fio verify run, then its restart ----
# with rx_work=1: replies parsed in a work item, so the reset and resend
# of a connection also meet a receive side outside the softirq
RX=/sys/module/vstor/parameters/rx_work
echo 1 >$RX || failed "rx_work=1"
dev=$($V map img1 --no_agent) || die "map img1 again"
fio --name=kill --filename=/dev/vs0 --direct=1 --ioengine=libaio --rw=randwrite --bs=4k \
	--iodepth=8 --size=24m --offset=64m --verify=crc32c --verify_fatal=1 --do_verify=1 \
	--eta=never --output=/tmp/fio-kill.log &
FIO_PID=$!
busy() { $V list --json | grep -q '"inflight":[1-9]'; }
wait_for 120 busy || failed "fio did not start writing"
kill -9 "$OSD_PID_2"
wait "$OSD_PID_2" 2>/dev/null
note "killed OSD 2 (kill -9) while fio writes"
# Its etcd lease has to expire before it may register again.
wait_for 60 osds_up 2 || failed "osd/state/2 did not expire"
start_osd 2
wait_for 60 osds_up 3 || failed "OSD 2 did not come back"
note "OSD 2 restarted"
kill_diag() {	# the mappings and the agent's last words
	$V list | sed 's/^/#   /'
	tail -n 20 /tmp/agent.log | sed 's/^/# agent: /'
}
fio_wait "$FIO_PID" /tmp/fio-kill.log "fio verify across kill -9 and restart of OSD 2" 240 kill_diag
grep -q "pushed" /tmp/agent.log && pass "map agent pushed new maps: $(grep -c pushed /tmp/agent.log)" ||
	{ failed "map agent pushed no map"; tail -n 20 /tmp/agent.log | sed 's/^/# agent: /'; }
wait_for 120 pgs_active || failed "PGs active again: $($V status --json)"
runs=$(cat /sys/block/vs0/vstor/rx_work_runs)
[ "$runs" -gt 0 ] && pass "rx_work=1: $runs receives in the work item" ||
	failed "rx_work=1: no receive went to the work item"
$V unmap /dev/vs0 >/dev/null || failed "unmap after the kill test"
echo 0 >$RX

# ---- lazy pools: acknowledged writes are kept and replayed ----
# kill -9 of the primary of PG 1 with unsynced writes (overlapping ones
# whose order matters, and a fio verify run that fsyncs as it goes): the
# device replays them to the new primary, the fsync succeeds, the data is
# right, during and after the restart of the OSD (and at the end of the
# suite after kill -9 of every OSD).
etcd_put config/global '{"immediate_commit":"none"}' || failed "config/global none"
d=$($V map img1 --no_agent) || die "map img1 (lazy)"
lz=/sys/block/${d#/dev/}/vstor
wc=$(cat /sys/block/${d#/dev/}/queue/write_cache)
[ "$wc" = "write back" ] && pass "lazy pool: write cache advertised" || failed "lazy pool: write_cache '$wc'"
dd if=/dev/urandom of="$d" bs=4k count=64 oflag=direct 2>/dev/null || failed "lazy: write"
r0=$(cat $lz/lazy_retained_ops)
flush_dev "$d" && pass "lazy: fsync (SYNC to the OSDs written to)" || failed "lazy: fsync"
r1=$(cat $lz/lazy_retained_ops)
[ "$r0" -ge 64 ] && [ "$r1" = 0 ] && pass "lazy: $r0 writes retained until the fsync freed them" ||
	failed "lazy: retained writes $r0 before the fsync, $r1 after"
# polled writes on a lazy pool: the flush's SYNCs go to the poll queue's
# connections too, where the receive softirq parses the replies
FIO_DEV=$d fio_verify lazy-hipri --ioengine=io_uring --hipri --rw=randwrite --bs=4k \
	--iodepth=16 --size=4m --offset=116m
flush_dev "$d" && [ "$(cat $lz/lazy_retained_ops)" = 0 ] &&
	pass "lazy: fsync after polled writes freed them all" ||
	failed "lazy: fsync after polled writes ($(cat $lz/lazy_retained_ops) retained)"
# max_dirty_ops 16 (read at map): fio at iodepth 32 must wait for room,
# never fail; automatic SYNCs free it
echo 16 >/sys/module/vstor/parameters/max_dirty_ops
d2=$($V map img1 --no_agent --dev 6) || die "map img1 --dev 6 (lazy, 16 dirty ops)"
echo 1024 >/sys/module/vstor/parameters/max_dirty_ops
lz2=/sys/block/${d2#/dev/}/vstor
fio --name=lazylim --filename="$d2" --direct=1 --ioengine=libaio --rw=randwrite --bs=4k \
	--iodepth=32 --size=4m --offset=48m --verify=crc32c --verify_fatal=1 --do_verify=1 \
	--eta=never --output=/tmp/fio-lazylim.log &
FIO_PID=$!
most=0
while kill -0 "$FIO_PID" 2>/dev/null; do
	n=$(cat $lz2/lazy_retained_ops)
	[ "$n" -gt "$most" ] && most=$n
	sleep 0.2
done
if wait "$FIO_PID"; then
	pass "lazy, max_dirty_ops 16: fio verify at iodepth 32: $(grep -Eo 'write: IOPS=[^,]*' /tmp/fio-lazylim.log)"
else
	failed "lazy, max_dirty_ops 16: fio verify"
	sed 's/^/#   /' /tmp/fio-lazylim.log | tail -n 20
fi
a=$(cat $lz2/lazy_auto_syncs)
[ "$most" -le 16 ] && [ "$a" -gt 0 ] &&
	pass "lazy, max_dirty_ops 16: at most $most retained, $a automatic SYNCs" ||
	failed "lazy, max_dirty_ops 16: $most retained at most, $a automatic SYNCs"
$V unmap "$d2" >/dev/null || failed "unmap $d2"
# 1 MiB at 96 MiB (objects 768..775), then 128 KiB over its second 64 KiB
overlap_write "$d" lz 1536 16 32 lazy
fio --name=lazykill --filename="$d" --direct=1 --ioengine=libaio --rw=randwrite --bs=4k \
	--iodepth=8 --size=16m --offset=64m --fsync=32 --verify=crc32c --verify_fatal=1 \
	--do_verify=1 --eta=never --output=/tmp/fio-lazy.log &
FIO_PID=$!
wait_for 120 busy || failed "lazy: fio did not start writing"
p=$(pg1_primary)
eval "kill -9 \$OSD_PID_$p; wait \$OSD_PID_$p" 2>/dev/null
note "killed OSD $p (primary of PG 1) with $(cat $lz/lazy_retained_ops) writes retained"
lz_diag() {	# the device's lazy counters and the kernel's last words
	for f in $lz/lazy_*; do note "${f##*/} $(cat "$f")"; done
	dmesg | tail -n 20 | sed 's/^/# dmesg: /'
}
# PG 1 has no primary until OSD $p is back (static placement): the fsync
# waits for the restart, the replay to the restarted OSD and its SYNC
t0=$(date +%s)
dd if=/dev/null of="$d" conv=fsync 2>/dev/null &
SYNC_PID=$!
wait_for 60 osds_up 2 || failed "osd/state/$p did not expire"
kill -0 "$SYNC_PID" 2>/dev/null && note "lazy: the fsync waits while OSD $p is down"
start_osd "$p"
wait_for 60 osds_up 3 || failed "OSD $p did not come back"
end=$(( $(date +%s) + 150 ))
while kill -0 "$SYNC_PID" 2>/dev/null && [ "$(date +%s)" -lt "$end" ]; do sleep 0.5; done
if kill -0 "$SYNC_PID" 2>/dev/null; then
	failed "lazy: fsync still waiting 150 s after the restart of OSD $p"
	lz_diag
elif wait "$SYNC_PID"; then
	pass "lazy: fsync across kill -9 and restart of OSD $p succeeds ($(( $(date +%s) - t0 )) s, $(cat $lz/lazy_replays) writes replayed)"
else
	failed "lazy: fsync across kill -9 and restart of OSD $p failed"
	lz_diag
fi
[ "$(cat $lz/lazy_replays)" -gt 0 ] || failed "lazy: no write was replayed"
lz_check() {	# WHEN: the 1 MiB at 96 MiB reads back as written last
	range_check "$d" 1536 /tmp/lz.exp "lazy: overlapping unsynced writes intact $1" \
		"lazy: overlapping unsynced writes differ $1"
}
lz_check "after the replay"
fio_wait "$FIO_PID" /tmp/fio-lazy.log \
	"lazy: fio verify (fsync every 32) across kill -9 and restart of OSD $p" 240 lz_diag
wait_for 120 pgs_active || failed "PGs active after OSD $p: $($V status --json)"
lz_check "after the restart of OSD $p"

# ---- lazy pools: a primary moves to another OSD (SET_MAP) ----
# The PGs of PG 1's primary (static placement: the first OSD of their
# sets) get the second OSD of their set as primary (config/pgs) while 32
# writes are retained: the connections stay up, so only the new map
# (vs_lazy_remap) makes the device replay the writes of those PGs, and
# only those, to the new primaries; the fsync that follows succeeds, the
# data is right, also after kill -9 of the old primary, which is then
# primary of no PG (with fio verify writing meanwhile); then the placement
# goes back (a second move, to the restarted OSD).
mt=$(date +%s)
p0=$(pg1_primary)
etcd_get config/pgs >/tmp/pgs0.json
sed -E "s/\"osd_set\":\[$p0,([0-9]+),([0-9]+)\],\"primary\":$p0([,}])/\"osd_set\":[$p0,\1,\2],\"primary\":\1\3/g" \
	/tmp/pgs0.json >/tmp/pgs1.json
flush_dev "$d" || failed "lazy move: fsync before the writes"
# 1 MiB at 104 MiB (objects 832..839, PGs 1..8), then 64 KiB over the
# second half of object 832 (PG 1): 18 of the 32 writes are in PG 1
overlap_write "$d" mv 1664 16 16 "lazy move"
mv_kept=$(cat $lz/lazy_retained_ops)
mv_rep=$(cat $lz/lazy_replays)
mv_ep=$(cat $lz/epoch)
mv_lost=$(dmesg | grep -c "connection to OSD .* lost")
[ "$mv_kept" = 32 ] || failed "lazy move: $mv_kept writes retained, want 32"
etcd_put config/pgs "$(cat /tmp/pgs1.json)" || failed "lazy move: put config/pgs with new primaries"
moved0() { p=$(pg1_primary); [ -n "$p" ] && [ "$p" != "$p0" ] && pgs_active; }
wait_for 90 moved0 || failed "lazy move: PG 1 still on OSD $p0: $($V status --json)"
mv_newer() { [ "$(cat $lz/epoch)" -gt "$mv_ep" ]; }
wait_for 30 mv_newer || failed "lazy move: $d still at epoch $mv_ep"
p1=$(pg1_primary)
if fsync_wait "$d" 120; then
	n=$(( $(cat $lz/lazy_replays) - mv_rep ))
	[ "$n" -ge 18 ] && [ "$n" -lt "$mv_kept" ] &&
		pass "lazy: OSD $p0's PGs moved (PG 1 to OSD $p1, epoch $mv_ep -> $(cat $lz/epoch)): $n replays of $mv_kept retained writes, the fsync succeeds" ||
		failed "lazy move: $n replays of $mv_kept retained writes, want 18 or more, not all"
else
	failed "lazy move: the fsync after the primary move failed or hangs"
	lz_diag
fi
[ "$(dmesg | grep -c "connection to OSD .* lost")" = "$mv_lost" ] ||
	failed "lazy move: a connection was lost: the replay was not the new map's"
mv_check() {	# WHEN: the 1 MiB at 104 MiB reads back as written last
	range_check "$d" 1664 /tmp/mv.exp "lazy: retained writes intact $1" \
		"lazy: retained writes differ $1"
}
mv_check "after the primary move and the fsync"
fio --name=lazymove --filename="$d" --direct=1 --ioengine=libaio --rw=randwrite --bs=4k \
	--iodepth=8 --size=4m --offset=80m --fsync=32 --verify=crc32c --verify_fatal=1 \
	--do_verify=1 --eta=never --output=/tmp/fio-lazymove.log &
FIO_PID=$!
wait_for 120 busy || failed "lazy move: fio did not start writing"
eval "kill -9 \$OSD_PID_$p0; wait \$OSD_PID_$p0" 2>/dev/null
wait_for 60 osds_up 2 || failed "osd/state/$p0 did not expire"
mv_check "after kill -9 of the old primary OSD $p0"
start_osd "$p0"
wait_for 60 osds_up 3 || failed "OSD $p0 did not come back"
fio_wait "$FIO_PID" /tmp/fio-lazymove.log \
	"lazy: fio verify (fsync every 32) across kill -9 and restart of the old primary OSD $p0" 240 lz_diag
wait_for 120 pgs_active || failed "PGs active after OSD $p0: $($V status --json)"
etcd_put config/pgs "$(cat /tmp/pgs0.json)" || failed "lazy move: put config/pgs back"
back0() { [ "$(pg1_primary)" = "$p0" ] && pgs_active; }
wait_for 90 back0 || failed "lazy move: PG 1 not back on OSD $p0: $($V status --json)"
fsync_wait "$d" 120 || failed "lazy move: fsync after the move back"
mv_check "after the move back to OSD $p0"
note "lazy move checks took $(( $(date +%s) - mt ))s"
note "lazy: $(cat $lz/lazy_replays) replays, $(cat $lz/lazy_syncs) SYNCs, $(cat $lz/lazy_auto_syncs) automatic"
$V unmap "$d" >/dev/null && pass "lazy: unmap" || failed "unmap lazy"

# ---- lazy pools: a normal unmap SYNCs the acknowledged writes first ----
# Our OSDs keep unsynced replicated writes across kill -9 (they are stable
# versions in the page cache of the disk), so the SYNC itself is what is
# checked: the primaries count the SYNCs they serve (osd/stats, every 5 s).
syncs() {	# primary SYNCs served by all OSDs
	s=0
	for n in 1 2 3; do
		c=$(etcd_get osd/stats/$n | grep -o '"primary_sync":{"count":[0-9]*' | grep -o '[0-9]*$')
		s=$((s + ${c:-0}))
	done
	echo "$s"
}
stats_since() {	# T: every OSD published osd/stats after second T
	for n in 1 2 3; do
		t=$(etcd_get osd/stats/$n | sed -n 's/.*"time":"\([0-9]*\).*/\1/p')
		[ -n "$t" ] && [ "$t" -gt "$1" ] || return 1
	done
}
fresh_syncs() {	# primary SYNCs, from stats published after now
	wait_for 20 stats_since "$(date +%s)" || failed "osd/stats not refreshed in 20 s"
	syncs
}
dd if=/dev/urandom of=/tmp/lazy.bin bs=64k count=16 2>/dev/null
d=$($V map img1 --no_agent) || die "map img1 (lazy unmap)"
# 1 MiB at 100 MiB: objects 800..807, PGs 1..8
dd if=/tmp/lazy.bin of="$d" bs=64k seek=1600 oflag=direct 2>/dev/null || failed "lazy: write before unmap"
s0=$(fresh_syncs)
if $V unmap "$d" 2>/tmp/unmap.err; then
	s1=$(fresh_syncs)
	[ "$s1" -gt "$s0" ] && pass "lazy: unmap SYNCed the acknowledged writes (primary SYNCs $s0 -> $s1)" ||
		failed "lazy: unmap sent no SYNC for acknowledged writes (primary SYNCs $s0 -> $s1)"
else
	failed "lazy: unmap with unsynced writes: $(cat /tmp/unmap.err)"
fi
# WHAT: img1 mapped (d) with a fresh write to PG 1 whose primary (p) is
# then stopped, under a short unmap_timeout_ms: its SYNC cannot finish.
stuck_sync_map() {
	d=$($V map img1 --no_agent) || die "map img1 (lazy, $1)"
	dd if=/dev/urandom of="$d" bs=4k count=4 oflag=direct 2>/dev/null ||
		failed "lazy: write to PG 1 ($1)"
	p=$(pg1_primary)
	echo 5000 >/sys/module/vstor/parameters/unmap_timeout_ms
	eval "kill -STOP \$OSD_PID_$p"
}
stuck_sync_resume() {
	eval "kill -CONT \$OSD_PID_$p"
	echo 10000 >/sys/module/vstor/parameters/unmap_timeout_ms
}
# A SYNC that cannot finish (the primary stopped): EBUSY, then a retry works.
# While a normal unmap waits, the control mutex is free: LIST and a second
# unmap of the device (refused) answer at once, not after the wait.
stuck_sync_map "stopped OSD"
$V unmap "$d" 2>/tmp/unmap.err &
upid=$!
removing() { [ "$(cat "/sys/block/${d#/dev/}/vstor/state")" = removing ]; }
wait_for 5 removing || failed "lazy: $d not removing during its unmap"
t0=$(now_ms)
$V list >/dev/null || failed "vsctl list during an unmap"
$V unmap "$d" 2>/tmp/unmap2.err && failed "a second unmap of $d while one waits succeeded"
ms=$(( $(now_ms) - t0 ))
grep -q "another unmap" /tmp/unmap2.err && [ $ms -lt 3000 ] &&
	pass "during an unmap: list, and a second unmap refused in $ms ms: $(cat /tmp/unmap2.err)" ||
	failed "during an unmap: list + second unmap took $ms ms: $(cat /tmp/unmap2.err)"
if wait $upid; then
	failed "lazy: unmap with the SYNC stuck (OSD $p stopped) succeeded"
else
	grep -q "did not finish" /tmp/unmap.err &&
		pass "lazy: unmap with OSD $p stopped refused: $(cat /tmp/unmap.err)" ||
		failed "lazy: unmap with OSD $p stopped: $(cat /tmp/unmap.err)"
fi
stuck_sync_resume
$V unmap "$d" 2>/tmp/unmap.err && pass "lazy: unmap after SIGCONT of OSD $p" ||
	failed "lazy: unmap after SIGCONT of OSD $p: $(cat /tmp/unmap.err)"
stuck_sync_map "force during unmap"
# A forced unmap while a normal one waits: it removes the device, the
# normal one says so.
$V unmap "$d" 2>/tmp/unmap.err &
upid=$!
wait_for 5 removing || failed "lazy: $d not removing during its second unmap"
$V unmap --force "$d" >/dev/null 2>/tmp/unmap2.err || failed "force unmap during a normal one: $(cat /tmp/unmap2.err)"
if wait $upid; then
	failed "a normal unmap overtaken by a forced one succeeded"
else
	grep -q "forced unmap removed" /tmp/unmap.err && [ ! -e "/sys/block/${d#/dev/}" ] &&
		pass "force unmap during a normal one: removed; the normal one: $(cat /tmp/unmap.err)" ||
		failed "force unmap during a normal one: $(cat /tmp/unmap.err)"
fi
stuck_sync_resume
etcd_put config/global '{"immediate_commit":"all"}' || failed "config/global all"

# ---- map -> unmap -> map quickly ----
ok=1
i=0
while [ $i -lt 5 ]; do
	d=$($V map img1 --no_agent) && $V unmap "$d" >/dev/null || { ok=0; break; }
	i=$((i + 1))
done
d=$($V map img1 --no_agent) &&
	dd if="$d" of=/dev/null bs=4k count=16 iflag=direct 2>/dev/null &&
	$V unmap "$d" >/dev/null || ok=0
[ $ok = 1 ] && pass "map -> unmap x5, then map, read, unmap" || failed "quick map/unmap (round $i)"

# ---- a read-only mapping refuses writes ----
d=$($V map img1 --readonly --no_agent) || die "map --readonly"
if dd if=/dev/zero of="$d" bs=4k count=1 oflag=direct 2>/dev/null; then
	failed "write to a --readonly device succeeded"
else
	pass "write to a --readonly device refused"
fi
$V unmap "$d" >/dev/null || failed "unmap readonly"

# ---- layers: snapshot of a mapped image, a clone of it, flatten ----
sum_of() { sha256sum | cut -d' ' -f1; }
dev_sum() { dd if="$1" bs=1M iflag=direct 2>/dev/null | sum_of; }	# whole device
dev_inode() { cat "/sys/block/${1#/dev/}/vstor/inode"; }
# B's regions (4 KiB units: offset count): one granule, a run across two
# objects, a whole object, two runs with holes inside one object
B_REGIONS="1:1 50:16 256:32 770:3 776:1"
put_regions() {	# SRC DST DD-FLAG REGIONS
	for r in $4; do
		dd if="$1" of="$2" bs=4k skip=${r%:*} seek=${r%:*} count=${r#*:} conv=notrunc \
			$3 2>/dev/null || return 1
	done
}
reads_start() {	# DEV SUM: whole-device reads in the background, counted, misreads too
	rm -f /tmp/rd.stop /tmp/rd.bad /tmp/rd.n
	( while [ ! -e /tmp/rd.stop ]; do
		[ "$(dev_sum "$1")" = "$2" ] || echo >>/tmp/rd.bad
		echo >>/tmp/rd.n
	done ) &
	RD_PID=$!
}
reads_stop() { touch /tmp/rd.stop; wait "$RD_PID"; }
parents_of() { $V list --json | grep -o "\"device\":\"$1\"[^}]*" | grep -o '"parents":\[[0-9,]*\]'; }
lt=$(date +%s)
$V create lay --size 8M >/dev/null || failed "create lay"
dd if=/dev/urandom of=/tmp/A bs=1M count=8 2>/dev/null
dd if=/dev/urandom of=/tmp/B bs=1M count=8 2>/dev/null
cp /tmp/A /tmp/AB
put_regions /tmp/B /tmp/AB "" "$B_REGIONS"
sumA=$(sum_of </tmp/A)
sumAB=$(sum_of </tmp/AB)
d=$($V map lay --no_agent) || die "map lay"
dd if=/tmp/A of="$d" bs=1M oflag=direct 2>/dev/null || failed "write A to $d"
[ "$(dev_sum "$d")" = "$sumA" ] || failed "$d does not read back pattern A"
ino=$(dev_inode "$d")
$V snap create lay@s1 >/dev/null || failed "vsctl snap create lay@s1"
moved() { [ "$(dev_inode "$d")" != "$ino" ]; }
if wait_for 30 moved; then
	pass "snapshot of a mapped image: the agent moved $d from inode $ino to $(dev_inode "$d") ($(parents_of "$d"))"
else
	failed "$d still on inode $ino 30 s after the snapshot"
	tail -n 5 /tmp/agent.log | sed 's/^/# agent: /'
fi
put_regions /tmp/B "$d" oflag=direct "$B_REGIONS" || failed "write B to $d"
[ "$(dev_sum "$d")" = "$sumAB" ] && pass "B over A through the same mapping" ||
	failed "B over A through the same mapping: checksum differs"
# small reads inside the object with holes: runs from both layers
[ "$(dd if="$d" bs=4k skip=768 count=32 iflag=direct 2>/dev/null | sum_of)" = \
	"$(dd if=/tmp/AB bs=4k skip=768 count=32 2>/dev/null | sum_of)" ] &&
	pass "4 KiB reads of an object with B runs between A runs" ||
	failed "4 KiB reads of an object with B runs between A runs"
$V unmap "$d" >/dev/null || failed "unmap lay"
d=$($V map lay --no_agent) || die "map lay (a clone now)"
[ "$(dev_sum "$d")" = "$sumAB" ] && pass "unmap, map again: B over A ($(parents_of "$d"))" ||
	failed "after remap: checksum differs from B over A"
s=$($V map lay@s1 --no_agent) || die "map lay@s1"
[ "$(cat "/sys/block/${s#/dev/}/ro")" = 1 ] && pass "lay@s1 maps read-only" || failed "lay@s1 is not read-only"
[ "$(dev_sum "$s")" = "$sumA" ] && pass "lay@s1 shows A" || failed "lay@s1 does not show A"
$V clone lay@s1 lay2 >/dev/null || failed "vsctl clone lay@s1 lay2"
c=$($V map lay2 --no_agent) || die "map lay2"
[ "$(dev_sum "$c")" = "$sumA" ] && pass "clone lay2 of lay@s1 shows A" || failed "clone lay2 does not show A"
cp /tmp/A /tmp/AC
put_regions /tmp/B /tmp/AC "" "0:2 128:16"
put_regions /tmp/B "$c" oflag=direct "0:2 128:16" || failed "write to lay2"
[ "$(dev_sum "$c")" = "$(sum_of </tmp/AC)" ] && [ "$(dev_sum "$s")" = "$sumA" ] &&
	pass "writes to the clone show in it, not in lay@s1" || failed "clone writes: checksums differ"
$V flatten lay >/dev/null || failed "vsctl flatten lay"
flat() { parents_of "$d" | grep -q '\[\]'; }
wait_for 30 flat && pass "flatten while mapped: $d has no parents now" ||
	failed "$d still has parents after flatten: $(parents_of "$d")"
[ "$(dev_sum "$d")" = "$sumAB" ] && pass "after flatten: B over A" || failed "after flatten: checksum differs"
$V unmap "$s" >/dev/null || failed "unmap lay@s1"
# snap rm of the clone's parent while it is read: the data moves into lay2,
# the chain shrinks, and every read shows the same data
sumAC=$(sum_of </tmp/AC)
reads_start "$c" "$sumAC"
$V snap rm lay@s1 >/dev/null || failed "vsctl snap rm lay@s1"
c_flat() { parents_of "$c" | grep -q '\[\]'; }
wait_for 30 c_flat || failed "snap rm lay@s1: lay2 still has parents $(parents_of "$c")"
reads_stop
[ ! -e /tmp/rd.bad ] && [ "$(dev_sum "$c")" = "$sumAC" ] &&
	pass "snap rm of the parent of mapped lay2: no parents, same data in $(wc -l </tmp/rd.n) reads during it" ||
	failed "snap rm of lay2's parent: $(wc -l </tmp/rd.bad 2>/dev/null) of $(wc -l </tmp/rd.n) reads differ"
# a snapshot while fio writes: writes sent before the switch land in the
# snapshot's inode and must still verify through it
ino=$(dev_inode "$d")
fio --name=snapw --filename="$d" --direct=1 --ioengine=libaio --rw=randwrite --bs=4k \
	--iodepth=8 --size=4m --rate_iops=400 --verify=crc32c --verify_fatal=1 --do_verify=1 \
	--eta=never --output=/tmp/fio-snapw.log &
FIO_PID=$!
sleep 2
$V snap create lay@s2 >/dev/null || failed "vsctl snap create lay@s2 under fio"
wait_for 30 moved || failed "$d not moved after lay@s2"
note "$d moved to inode $(dev_inode "$d") ($(parents_of "$d")) while fio wrote"
if wait "$FIO_PID"; then
	pass "fio verify across a snapshot of the mapped image: $(grep -Eo '(write|read): IOPS=[^,]*' /tmp/fio-snapw.log | tr '\n' ' ')"
else
	failed "fio verify across a snapshot of the mapped image"
	sed 's/^/#   /' /tmp/fio-snapw.log | tail -n 20
fi
# another image taking the name is no snapshot: the device stays where it is
ino=$(dev_inode "$d")
$V modify lay --rename lay-old >/dev/null && $V create lay --size 8M >/dev/null ||
	failed "rename lay, create another lay"
unrelated() { grep -q "not on top of the device's inode $ino" /tmp/agent.log; }
wait_for 30 unrelated && [ "$(dev_inode "$d")" = "$ino" ] &&
	pass "a new image named lay is not followed: $d stays on inode $ino" ||
	failed "after a new image took the name: $d on inode $(dev_inode "$d") (was $ino)"
for x in "$c" "$d"; do $V unmap "$x" >/dev/null || failed "unmap $x"; done
note "layer checks took $(( $(date +%s) - lt ))s"

# ---- a clone in another pool: the parent is read through its own pool's map ----
xt=$(date +%s)
$V pool create xp --scheme replicated --pg_size 2 --pg_minsize 1 --pg_count 8 >/dev/null ||
	failed "pool create xp"
PGS_TOTAL=24
$V pg place --static --json >/tmp/pgs.json || failed "pg place (rep3 and xp)"
wait_for 90 pgs_active || failed "PGs of rep3 and xp active: $($V status --json)"
$V create xa --size 8M --pool rep3 >/dev/null || failed "create xa in rep3"
d=$($V map xa --no_agent) || die "map xa"
dd if=/tmp/A of="$d" bs=1M oflag=direct 2>/dev/null || failed "write A to xa"
$V unmap "$d" >/dev/null || failed "unmap xa"
$V snap create xa@s1 >/dev/null && $V clone xa@s1 xb --pool xp >/dev/null ||
	failed "snapshot xa@s1, clone it into pool xp as xb"
c=$($V map xb --no_agent) || die "map xb (pool xp, parent in rep3)"
pools_of() { cat "/sys/block/${1#/dev/}/vstor/pools"; }
xpid=$($V pool ls --json | grep -o '"id":[0-9]*,"name":"xp"' | grep -o '[0-9]*' | head -n 1)
note "xb: pool_id $(cat "/sys/block/${c#/dev/}/vstor/pool_id"), sysfs pools '$(pools_of "$c")' (xp is $xpid)"
case " $(pools_of "$c")" in
" $xpid:"*" 1:"*) pass "xb maps with the map of its parent's pool too: $(pools_of "$c")" ;;
*) failed "sysfs pools of xb: '$(pools_of "$c")', want $xpid:E 1:E" ;;
esac
[ "$(dev_sum "$c")" = "$sumA" ] && pass "clone xb in pool xp shows xa@s1's data from pool rep3" ||
	failed "clone xb in another pool does not show A"
$V list | grep -q " 1:[0-9]" && $V list --json | grep -q '"parent_pools":\[1\]' &&
	pass "vsctl list shows xb's parent in pool 1: $($V list --json | grep -o '"parent_pools[^}]*}')" ||
	failed "vsctl list parent pools: $($V list --json)"
put_regions /tmp/B "$c" oflag=direct "0:2 128:16" || failed "write to xb"
s=$($V map xa@s1 --no_agent) || die "map xa@s1"
[ "$(dev_sum "$c")" = "$sumAC" ] && [ "$(dev_sum "$s")" = "$sumA" ] &&
	pass "writes to xb (pool xp) show in it, xa@s1 (pool rep3) unchanged" ||
	failed "cross-pool clone writes: checksums differ"
$V unmap "$s" >/dev/null || failed "unmap xa@s1"
# every PG of rep3 gets another primary while xb is read: the agent pushes
# SET_MAP of pool 1 to a device of pool xp, and reads go on at the new primaries
e1=$(pools_of "$c" | sed 's/.* 1://')
reads_start "$c" "$sumAC"
p0=$(pg1_primary)
sed -E 's/"osd_set":\[([0-9]+),([0-9]+),([0-9]+)\],"primary":[0-9]+/"osd_set":[\1,\2,\3],"primary":\2/g' \
	/tmp/pgs.json >/tmp/pgs2.json
etcd_put config/pgs "$(cat /tmp/pgs2.json)" || failed "put config/pgs with new rep3 primaries"
moved1() { p=$(pg1_primary); [ -n "$p" ] && [ "$p" != "$p0" ] && pgs_active; }
wait_for 90 moved1 || failed "rep3 PG 1 still on OSD $p0: $($V status --json)"
newer1() { [ "$(pools_of "$c" | sed 's/.* 1://')" -gt "$e1" ]; }
wait_for 30 newer1 || failed "pool 1 map of xb still at epoch $e1"
sleep 1
reads_stop
[ ! -e /tmp/rd.bad ] && [ "$(dev_sum "$c")" = "$sumAC" ] &&
	pass "rep3 primaries moved (PG 1: OSD $p0 -> $(pg1_primary)), xb's pool 1 map $e1 -> $(pools_of "$c" | sed 's/.* 1://'): same data in $(wc -l </tmp/rd.n) reads" ||
	failed "reads of xb across the rep3 primary change: $(wc -l </tmp/rd.bad 2>/dev/null) of $(wc -l </tmp/rd.n) differ"
$V unmap "$c" >/dev/null || failed "unmap xb"
note "cross-pool checks took $(( $(date +%s) - xt ))s"

# ---- erasure-coded pools: xor 2+1 and jerasure 2+1 on the three OSDs ----
et=$(date +%s)
$V pool create ecx --scheme xor --pg_size 3 --pg_minsize 2 --pg_count 4 >/dev/null &&
	$V pool create ecj --scheme jerasure --pg_size 3 --parity_chunks 1 --pg_minsize 2 \
		--pg_count 4 >/dev/null || failed "pool create ecx (xor 2+1), ecj (jerasure 2+1)"
PGS_TOTAL=32
$V pg place --static >/dev/null || failed "pg place (with ecx, ecj)"
wait_for 90 pgs_active || failed "PGs of ecx and ecj active: $($V status --json)"
$V create ec1 --size 8M --pool ecx >/dev/null || failed "create ec1 in ecx"
d=$($V map ec1 --no_agent) || die "map ec1 (xor 2+1)"
ec_limits() {	# NAME DEV KIB: io_opt, discard granularity and chunk_sectors are the stripe
	q=/sys/block/${2#/dev/}/queue
	[ "$(cat $q/optimal_io_size)" = $(( $3 << 10 )) ] &&
		[ "$(cat $q/discard_granularity)" = $(( $3 << 10 )) ] &&
		[ "$(cat $q/chunk_sectors)" = $(( $3 * 2 )) ] &&
		pass "$1 maps as $2: io_opt, discard granularity and chunk_sectors are the $3 KiB stripe" ||
		failed "$1 queue limits: io_opt $(cat $q/optimal_io_size), discard $(cat $q/discard_granularity), chunk $(cat $q/chunk_sectors)"
}
ec_limits "ec1 (xor 2+1)" "$d" 256
FIO_DEV=$d
fio_verify ec-rand4k-qd1 --rw=randwrite --bs=4k --iodepth=1 --size=512k
fio_verify ec-rand4k-qd16 --rw=randwrite --bs=4k --iodepth=16 --size=1m --offset=2m
fio_verify ec-seq1m --rw=write --bs=1m --iodepth=2 --size=4m --offset=4m
# a whole stripe discarded (DELETE), punched (write-zeroes: DELETE), zeroed
# without unmap (write-zeroes NOUNMAP: a zero WRITE): each reads back zeroes
dd if=/tmp/A of="$d" bs=256k count=5 oflag=direct 2>/dev/null || failed "write A to ec1"
dd if=/tmp/A of=/tmp/ecz bs=256k count=1 2>/dev/null
dd if=/dev/zero of=/tmp/ecz bs=256k seek=1 count=3 2>/dev/null
dd if=/tmp/A of=/tmp/ecz bs=256k skip=4 seek=4 count=1 2>/dev/null
blkdiscard -o 262144 -l 262144 "$d" && /usr/bin/fallocate -p -o 524288 -l 262144 "$d" &&
	/usr/sbin/blkdiscard -z -o 786432 -l 262144 "$d" || failed "ec1: discard/punch/zeroout"
[ "$(dd if="$d" bs=256k count=5 iflag=direct 2>/dev/null | sum_of)" = "$(sum_of </tmp/ecz)" ] &&
	pass "ec1: discard, punch hole and zeroout of a whole stripe read back zeroes, neighbours intact" ||
	failed "ec1: discard/write-zeroes of whole stripes: data differs"
# kill -9 of an OSD during a fio verify run: degraded writes and reads
fio --name=eckill --filename="$d" --direct=1 --ioengine=libaio --rw=randwrite --bs=4k \
	--iodepth=8 --size=1m --verify=crc32c --verify_fatal=1 --do_verify=1 \
	--eta=never --output=/tmp/fio-eckill.log &
FIO_PID=$!
wait_for 60 busy || failed "ec1: fio did not start writing"
kill -9 "$OSD_PID_3"
wait "$OSD_PID_3" 2>/dev/null
wait_for 60 osds_up 2 || failed "osd/state/3 did not expire"
# write-zeroes of 4 stripes (PGs 1-4) while they are degraded: the DELETE
# is refused (EBUSY) and zeroes are written instead (those of PGs with
# OSD 3 as primary wait for it)
/usr/bin/fallocate -p -o 6291456 -l 1048576 "$d" &
ZPID=$!
start_osd 3
wait_for 60 osds_up 3 || failed "OSD 3 did not come back"
wait "$ZPID" || failed "ec1: punch hole while degraded"
dd if=/dev/zero of=/tmp/ecz bs=1M count=1 2>/dev/null
[ "$(dd if="$d" bs=1M skip=6 count=1 iflag=direct 2>/dev/null | sum_of)" = "$(sum_of </tmp/ecz)" ] &&
	pass "ec1: punch hole of 4 stripes while degraded reads back zeroes" ||
	failed "ec1: punch hole while degraded: not all zeroes"
fio_wait "$FIO_PID" /tmp/fio-eckill.log "ec1: fio verify across kill -9 and restart of OSD 3"
wait_for 120 pgs_active || failed "PGs active after OSD 3: $($V status --json)"
# lazy: the flush SYNCs the EC primaries written to
etcd_put config/global '{"immediate_commit":"none"}' || failed "config/global none"
$V unmap "$d" >/dev/null || failed "unmap ec1"
d=$($V map ec1 --no_agent) || die "map ec1 (lazy)"
dd if=/tmp/B of="$d" bs=64k count=16 oflag=direct 2>/dev/null && flush_dev "$d" &&
	$V unmap "$d" >/dev/null || failed "ec1 lazy: write, fsync, unmap"
etcd_put config/global '{"immediate_commit":"all"}' || failed "config/global all"
d=$($V map ec1 --no_agent) || die "map ec1 again"
[ "$(dd if="$d" bs=64k count=16 iflag=direct 2>/dev/null | sum_of)" = \
	"$(dd if=/tmp/B bs=64k count=16 2>/dev/null | sum_of)" ] &&
	pass "ec1 lazy: write, fsync and unmap, then the data reads back" ||
	failed "ec1 lazy: data differs after fsync and unmap"
$V unmap "$d" >/dev/null || failed "unmap ec1"
# jerasure 2+1
$V create ec2 --size 4M --pool ecj >/dev/null || failed "create ec2 in ecj"
d=$($V map ec2 --no_agent) || die "map ec2 (jerasure 2+1)"
FIO_DEV=$d
fio_verify ecj-rand4k-qd16 --rw=randwrite --bs=4k --iodepth=16 --size=1m
$V unmap "$d" >/dev/null || failed "unmap ec2"
# layers: a clone in the EC pool, an EC parent under a replicated clone,
# a replicated parent (xa@s1, A) under an EC clone: parent reads are cut
# and routed by the parent pool's stripes
$V create ecl --size 8M --pool ecx >/dev/null || failed "create ecl"
d=$($V map ecl --no_agent) || die "map ecl"
dd if=/tmp/A of="$d" bs=1M oflag=direct 2>/dev/null || failed "write A to ecl"
$V unmap "$d" >/dev/null || failed "unmap ecl"
$V snap create ecl@s1 >/dev/null && $V clone ecl@s1 ecc >/dev/null &&
	$V clone ecl@s1 ecr --pool rep3 >/dev/null && $V clone xa@s1 xe --pool ecx >/dev/null ||
	failed "snapshot ecl@s1; clones ecc (ecx), ecr (rep3) of it, xe (ecx) of xa@s1"
for img in ecc ecr xe; do
	d=$($V map $img --no_agent) || die "map $img"
	[ "$(dev_sum "$d")" = "$sumA" ] || { failed "clone $img does not show its parent's data"; continue; }
	put_regions /tmp/B "$d" oflag=direct "0:2 128:16" || failed "write to $img"
	[ "$(dev_sum "$d")" = "$sumAC" ] && pass "clone $img ($(pools_of "$d")): parent data, its own writes over it" ||
		failed "clone $img: writes over the parent's data differ"
	$V unmap "$d" >/dev/null || failed "unmap $img"
done
FIO_DEV=/dev/vs0
note "EC checks took $(( $(date +%s) - et ))s"

# ---- --hw_queues 2 --conns_per_osd 2: both queues, two connections per OSD ----
osd_port() { etcd_get "osd/state/$1" | sed -n 's/.*"port":\([0-9]*\).*/\1/p'; }
kconns() {	# PORT: established connections to PORT no process holds (the module's)
	own=" $(ls -l /proc/[0-9]*/fd 2>/dev/null | sed -n 's/.*socket:\[\([0-9]*\)\].*/\1/p' | tr '\n' ' ') "
	awk -v p="$(printf ':%04X' "$1")" -v own="$own" '$4 == "01" &&
		substr($3, length($3) - 4) == p && !index(own, " " $10 " ")' /proc/net/tcp | wc -l
}
d=$($V map img1 --no_agent --hw_queues 2 --conns_per_osd 2) || die "map --hw_queues 2 --conns_per_osd 2"
nq=$(ls /sys/block/vs0/mq | wc -l) np=$(cat /sys/module/vstor/parameters/poll_queues)
[ "$nq" = $((2 + np)) ] && pass "--hw_queues 2: 2 blk-mq queues and $np poll queue(s)" ||
	failed "--hw_queues 2: $nq queues in /sys/block/vs0/mq (want 2 + $np poll)"
# one job per CPU, so that both queues (and so both connection slots) carry I/O
fio_verify mq2-conns2 --rw=randwrite --bs=4k --iodepth=32 --size=4m --offset=16m \
	--offset_increment=4m --numjobs=2 --cpus_allowed=0-1 --cpus_allowed_policy=split --group_reporting
c=""
for n in 1 2 3; do
	c="$c $(kconns "$(osd_port $n)")"
done
[ "$c" = " 2 2 2" ] && pass "--conns_per_osd 2: connections to OSDs 1 2 3:$c" ||
	failed "--conns_per_osd 2: connections to OSDs 1 2 3:$c (want 2 each)"
$V unmap "$d" >/dev/null || failed "unmap (hw_queues 2)"
# poll_queues=0: one map, no poll queue; polled I/O completes as any other
echo 0 >/sys/module/vstor/parameters/poll_queues
d=$($V map img1 --no_agent) || die "map with poll_queues=0"
echo "$np" >/sys/module/vstor/parameters/poll_queues
nq=$(ls /sys/block/vs0/mq | wc -l)
[ "$nq" = 1 ] && pass "poll_queues=0: 1 blk-mq queue" || failed "poll_queues=0: $nq queues"
fio_verify nopoll-hipri --ioengine=io_uring --hipri --rw=randwrite --bs=4k --iodepth=8 \
	--size=2m --offset=16m
[ "$(cat /sys/block/vs0/vstor/poll_replies)" = 0 ] && pass "poll_queues=0: no reply parsed by a poller" ||
	failed "poll_queues=0: $(cat /sys/block/vs0/vstor/poll_replies) replies parsed by pollers"
$V unmap "$d" >/dev/null || failed "unmap (poll_queues=0)"

# ---- --io_timeout: a read from a stopped OSD fails in time, then I/O works ----
d=$($V map img1 --no_agent --io_timeout 3000) || die "map --io_timeout 3000"
dd if="$d" of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null || failed "io_timeout: first read"
p=$(pg1_primary)
eval "kill -STOP \$OSD_PID_$p"
t=$(date +%s)
# in the background: a read that hangs sleeps uninterruptibly until SIGCONT
dd if="$d" of=/dev/null bs=4k count=1 iflag=direct 2>/tmp/dd.err &
DD_PID=$!
while kill -0 "$DD_PID" 2>/dev/null && [ "$(date +%s)" -lt $((t + 10)) ]; do sleep 0.2; done
el=$(( $(date +%s) - t ))
hung=0
kill -0 "$DD_PID" 2>/dev/null && hung=1
eval "kill -CONT \$OSD_PID_$p"
wait "$DD_PID"
rc=$?
if [ "$hung" = 0 ] && [ "$rc" -ne 0 ]; then
	pass "--io_timeout 3000: read from stopped OSD $p failed after ${el}s: $(tail -n 1 /tmp/dd.err)"
else
	failed "--io_timeout 3000: read from stopped OSD $p: $([ "$hung" = 1 ] && echo "still waiting after ${el}s, ")status $rc"
fi
fio_verify io-timeout-after --rw=randwrite --bs=4k --iodepth=8 --size=2m
$V unmap "$d" >/dev/null || failed "unmap (io_timeout)"

# ---- lazy pools: writes the OSDs lost are replayed (power loss) ----
# The OSDs' disks are saved with everything synced; /dev/vs5 (lazy) then
# writes 1 MiB and overlapping 128 KiB without a SYNC; the force unmap test
# below kills every OSD (kill -9), the disks go back to the saved state, so
# after the restart only /dev/vs5's replay brings those writes back.
etcd_put config/global '{"immediate_commit":"none"}' || failed "config/global none"
pl=$($V map img1 --no_agent --dev 5) || die "map img1 --dev 5 (lazy)"
etcd_put config/global '{"immediate_commit":"all"}' || failed "config/global all"
flush_dev "$pl" || failed "power loss: fsync before the save"
for n in 1 2 3; do
	eval "kill \$OSD_PID_$n; wait \$OSD_PID_$n" 2>/dev/null
	dd if=/dev/ram$(( n - 1 )) of=/tmp/ram$n.saved bs=1M 2>/dev/null ||
		failed "power loss: save /dev/ram$(( n - 1 ))"
done
wait_for 60 osds_up 0 || failed "osd/state of the stopped OSDs did not expire"
for n in 1 2 3; do
	start_osd "$n"
done
wait_for 60 osds_up 3 || failed "OSDs did not come back after the save"
wait_for 120 pgs_active || failed "PGs active after the save: $($V status --json)"
overlap_write "$pl" pl 1760 8 32 "power loss"
pl_sys=/sys/block/${pl#/dev/}/vstor
pl_kept=$(cat $pl_sys/lazy_retained_ops)
pl_rep=$(cat $pl_sys/lazy_replays)
[ "$pl_kept" -ge 48 ] || failed "power loss: $pl_kept writes retained, want >= 48"

# ---- forced unmap with the cluster stopped and I/O in flight ----
dev=$($V map img1 --no_agent) || die "map for the force test"
kill "$AGENT_PID" 2>/dev/null
for n in 1 2 3; do
	eval "kill -9 \$OSD_PID_$n" 2>/dev/null
done
note "all OSDs killed"
fio --name=stuck --filename=/dev/vs0 --direct=1 --ioengine=libaio --rw=randwrite --bs=4k \
	--iodepth=16 --size=8m --runtime=120 --time_based --eta=never --output=/tmp/fio-stuck.log &
FIO_PID=$!
stuck() { $V list --json | grep -q '"inflight":[1-9]'; }
wait_for 120 stuck || failed "no request in flight on /dev/vs0 with the cluster gone"
note "before force unmap: $($V list --json | grep -o '"inflight":[0-9]*')"
if $V unmap /dev/vs0 2>/tmp/unmap.err; then
	failed "normal unmap with I/O stuck succeeded"
else
	pass "normal unmap refused: $(cat /tmp/unmap.err)"
fi
t=$(date +%s)
timeout 60 $V unmap /dev/vs0 --force >/dev/null && pass "force unmap with the cluster gone took $(( $(date +%s) - t ))s" ||
	failed "force unmap"
end=$(( $(date +%s) + 60 ))
while kill -0 "$FIO_PID" 2>/dev/null && [ "$(date +%s)" -lt "$end" ]; do sleep 0.5; done
if kill -0 "$FIO_PID" 2>/dev/null; then
	failed "fio still running 60 s after the force unmap"
	kill -9 "$FIO_PID"
else
	wait "$FIO_PID"
	rc=$?
	[ $rc -ne 0 ] && pass "fio ended with an error after the force unmap (status $rc)" ||
		failed "fio succeeded although the device was force-unmapped"
fi
[ -e /sys/block/vs0 ] && failed "/sys/block/vs0 still there after force unmap"
$V list | grep -q vs0 && failed "vs0 still listed"
for n in 1 2 3; do	# the power loss: back to the disks saved
	dd if=/tmp/ram$n.saved of=/dev/ram$(( n - 1 )) bs=1M 2>/dev/null ||
		failed "power loss: restore /dev/ram$(( n - 1 ))"
	rm -f /tmp/ram$n.saved
done

# ---- what the lazy unmap synced survived kill -9 of every OSD ----
wait_for 60 osds_up 0 || failed "osd/state of the killed OSDs did not expire"
# mapping with every OSD down: an empty OSD_LIST, a warning, a device
if d=$($V map img1 --no_agent 2>/tmp/map-down.err); then
	grep -q "no primary OSD" /tmp/map-down.err &&
		pass "map with every OSD down: $d, warned: $(cat /tmp/map-down.err)" ||
		failed "map with every OSD down gave no warning: $(cat /tmp/map-down.err)"
	$V unmap "$d" || failed "unmap of $d mapped with every OSD down"
else
	failed "map with every OSD down: $(cat /tmp/map-down.err)"
fi
for n in 1 2 3; do
	start_osd "$n"
done
wait_for 60 osds_up 3 || failed "OSDs did not come back"
wait_for 120 pgs_active || failed "PGs active after restarting all OSDs: $($V status --json)"
# /dev/vs5 lives on: the agent again, for its maps
$V map-agent >>/tmp/agent.log 2>&1 &
AGENT_PID=$!
d=$($V map img1 --no_agent) || die "map img1 after the restart"
range_check "$d" 1600 /tmp/lazy.bin \
	"lazy: data written before the unmap intact after kill -9 and restart of all OSDs" \
	"lazy: data written before the unmap differs after the restart of all OSDs"
lz_check "after kill -9 and restart of all OSDs"
# the power loss: /dev/vs5 replays what the restored disks lack, then syncs
fsync_wait "$pl" 150
rc=$?
lz=$pl_sys
if [ $rc = 2 ]; then
	failed "power loss: fsync still waiting 150 s after the restart"
	lz_diag
elif [ $rc = 0 ]; then
	pl_n=$(( $(cat $pl_sys/lazy_replays) - pl_rep ))
	[ "$pl_n" -ge "$pl_kept" ] &&
		pass "power loss: fsync succeeds after $pl_n replays of $pl_kept retained writes" ||
		failed "power loss: $pl_n replays of $pl_kept retained writes"
else
	failed "power loss: fsync after the restore failed"
	lz_diag
fi
range_check "$d" 1760 /tmp/pl.exp \
	"power loss: the lost unsynced writes are back (read through another mapping)" \
	"power loss: the unsynced writes differ after the restore and replay"
$V unmap "$pl" >/dev/null || failed "unmap $pl"
$V unmap "$d" >/dev/null || failed "unmap after the restart"

# ---- an erasure-coded pool with k=3: xor 3+1, stripes of 384 KiB ----
# Stripes that are not a power of two: offsets are divided, never shifted
# or masked. A fourth OSD joins for the pool; last, since the sections
# above count three OSDs.
e3t=$(date +%s)
vstor-disk format --data_path /dev/ram3 --osd_num 4 >/tmp/format4.log 2>&1 ||
	failed "vstor-disk format osd 4: $(tail -n 3 /tmp/format4.log)"
start_osd 4
wait_for 60 osds_up 4 || failed "OSD 4 did not come up"
$V pool create ec3 --scheme xor --pg_size 4 --pg_minsize 3 --pg_count 4 >/dev/null ||
	failed "pool create ec3 (xor 3+1)"
PGS_TOTAL=36
$V pg place --static --pool ec3 >/dev/null || failed "pg place --pool ec3"
wait_for 90 pgs_active || failed "PGs of ec3 active: $($V status --json)"
$V create e3 --size 6M --pool ec3 >/dev/null || failed "create e3 in ec3"
d=$($V map e3 --no_agent) || die "map e3 (xor 3+1)"
ec_limits "e3 (xor 3+1)" "$d" 384
FIO_DEV=$d
fio_verify ec3-rand4k-qd1 --rw=randwrite --bs=4k --iodepth=1 --size=768k
fio_verify ec3-rand4k-qd16 --rw=randwrite --bs=4k --iodepth=16 --size=1536k --offset=768k
# 256 KiB writes: every other one crosses a stripe boundary
fio_verify ec3-seq256k --rw=write --bs=256k --iodepth=4 --size=3m --offset=3m
# stripes 0..7 (3 MiB) written; stripe 1 punched (write-zeroes: DELETE),
# stripe 2 discarded (DELETE; its start, sector 1536, is no multiple of a
# power-of-two granularity), stripe 3 zeroed without unmap (a zero WRITE),
# and a punch over stripes 4.5..6.5 (zero WRITEs at both ends, stripe 5
# deleted): each reads back zeroes, stripes 0, 7 and the halves outside
# the last range intact
dd if=/dev/urandom of=/tmp/e3 bs=384k count=8 2>/dev/null
dd if=/tmp/e3 of="$d" bs=384k oflag=direct 2>/dev/null || failed "write 3 MiB to e3"
cp /tmp/e3 /tmp/e3.exp
dd if=/dev/zero of=/tmp/e3.exp bs=64k seek=6 count=18 conv=notrunc 2>/dev/null
dd if=/dev/zero of=/tmp/e3.exp bs=64k seek=27 count=12 conv=notrunc 2>/dev/null
/usr/bin/fallocate -p -o 393216 -l 393216 "$d" && blkdiscard -o 786432 -l 393216 "$d" &&
	/usr/sbin/blkdiscard -z -o 1179648 -l 393216 "$d" &&
	/usr/bin/fallocate -p -o $(( 393216 * 9 / 2 )) -l $(( 393216 * 2 )) "$d" ||
	failed "e3: punch/discard/zeroout"
[ "$(dd if="$d" bs=384k count=8 iflag=direct 2>/dev/null | sum_of)" = "$(sum_of </tmp/e3.exp)" ] &&
	pass "e3: punch hole, discard and zeroout of 384 KiB stripes, a punch over 1.5 stripes: zeroes, neighbours intact" ||
	{
		failed "e3: discard/write-zeroes of 384 KiB stripes: data differs"
		dd if="$d" of=/tmp/e3.back bs=384k count=8 iflag=direct 2>/dev/null
		cmp -l /tmp/e3.exp /tmp/e3.back | awk 'NR == 1 { print "# first differing byte " $1 - 1 }
			END { print "# " NR " bytes differ" }'
	}
$V unmap "$d" >/dev/null || failed "unmap e3"
FIO_DEV=/dev/vs0
kill "$OSD_PID_4"
wait "$OSD_PID_4" 2>/dev/null
note "k=3 EC checks took $(( $(date +%s) - e3t ))s"

# ---- a pool of 4096 PGs: PG_TABLE_PARTs to real OSDs ----
# (ec3's 4 PGs stay degraded without OSD 4: "active" counts the others)
bigt=$(date +%s)
big_active() { $V status --json | grep -q "\"active\":$(( PGS_TOTAL - 4 + 4096 ))[,}]"; }
$V pool create big --scheme replicated --pg_size 3 --pg_minsize 2 --pg_count 4096 >/dev/null ||
	failed "pool create big (4096 PGs)"
$V pg place --static --pool big >/dev/null || failed "pg place --pool big"
# every 3 s: a status reads all 4096 PG states from etcd, load kept off it
# while the OSDs write those states. On a slow host etcd's apply fell
# seconds behind their txns and refused keepalives till a lease expired;
# an OSD now holds its PG updates while its keepalive goes unanswered.
if wait_every 3 180 big_active; then
	pass "4096 PGs of pool big active in $(( $(date +%s) - bigt ))s"
	note "PG updates held for a keepalive: $(grep -h holding /tmp/osd[123].log | wc -l) times"
else
	failed "4096 PGs of pool big active: $($V status --json | grep -o '"pg_states":{[^}]*}')"
	grep -h "lease\|expired\|busy" /tmp/osd[123].log | tail -n 5 | sed 's/^/#   /'
fi
$V create bigi --size 64M --pool big >/dev/null || failed "create bigi in pool big"
if d=$($V map bigi --no_agent); then
	FIO_DEV=$d
	# 512 objects of 128 KiB: writes to about 480 of the 4096 PGs
	fio_verify big-rand4k-qd16 --rw=randwrite --bs=4k --iodepth=16 --size=64m --io_size=8m
	fio_verify big-seq128k --rw=write --bs=128k --iodepth=4 --size=64m
	FIO_DEV=/dev/vs0
	$V unmap "$d" >/dev/null || failed "unmap bigi"
else
	failed "map bigi (a 4096-PG pool)"
fi
note "4096-PG checks took $(( $(date +%s) - bigt ))s"

kill "$AGENT_PID" 2>/dev/null
cluster_stop
rmmod vstor || failed "rmmod vstor"
exit $fail

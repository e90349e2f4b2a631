#!/bin/sh
# Shared by the guest scripts of tests/vm/ (sourced; run-vm.sh puts it in
# /bin): PASS/FAIL reporting, polling with deadlines, and a real cluster in
# the guest: Debian's etcd, vstor-osd on brd RAM disks, a replicated pool.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
fail=0
T0=$(date +%s)
# GUEST_ETCD (kernel command line): etcd on a network address, as in the
# two-guest bench (run-vm.sh VM_NET), where the OSDs bind to its host too
ETCD=${GUEST_ETCD:-127.0.0.1:2379}
# etcd answers slowly in a TCG guest on a busy host: a vsctl call once failed
# on the 1 s default quick timeout
V="vsctl --etcd_address $ETCD --etcd_quick_timeout 5000"

pass() { echo "PASS: $* ($(( $(date +%s) - T0 ))s)"; }
failed() { echo "FAIL: $* ($(( $(date +%s) - T0 ))s)"; fail=1; }
note() { echo "# $*"; }
die() {
	failed "$*"
	for f in /tmp/etcd.log /tmp/osd*.log /tmp/agent.log; do
		[ -f "$f" ] && { echo "# --- $f"; tail -n 30 "$f" | sed 's/^/#   /'; }
	done
	dmesg | tail -n 40 | sed 's/^/# dmesg: /'
	exit 1
}

# milliseconds since boot (busybox date has no %N)
now_ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }

# wait_for SECONDS CMD...: polls CMD every 0.2 s until it succeeds.
wait_for() { wait_every 0.2 "$@"; }

# wait_every INTERVAL SECONDS CMD...: polls CMD every INTERVAL s until it
# succeeds, for SECONDS at most (for a costly CMD: a vsctl status of
# thousands of PGs loads etcd)
wait_every() {
	every=$1 limit=$2
	shift 2
	end=$(( $(date +%s) + limit ))
	while ! "$@" >/dev/null 2>&1; do
		[ "$(date +%s)" -ge "$end" ] && return 1
		sleep "$every"
	done
}

etcd_put() { etcd_raw_put "/vitastor/$1" "$2"; }	# KEY VALUE (relative to /vitastor/)

etcd_raw_put() {	# KEY VALUE
	k=$(printf '%s' "$1" | base64 | tr -d '\n')
	val=$(printf '%s' "$2" | base64 | tr -d '\n')
	wget -q -O /dev/null --post-data "{\"key\":\"$k\",\"value\":\"$val\"}" \
		"http://$ETCD/v3/kv/put"
}

osd_disk() {	# N: the disk of OSD N (see cluster_start)
	if [ -n "${OSD_DISK_LAT_US:-}" ]; then echo "/dev/osddisk$1"; else echo "/dev/ram$(( $1 - 1 ))"; fi
}

# --etcd_quick_timeout 2000: a lease TTL of 25 s, not 15. Creating 4096 PGs
# with ASan OSDs on a slow host kept etcd from answering keepalives for
# 16-18 s (the OSD exits when its lease expires, as it must); a kill -9
# test waits that much longer for the lease of the OSD it killed.
start_osd() {	# N: vstor-osd N on its disk (osd_disk), pid in OSD_PID_N
	vstor-osd --etcd_address "$ETCD" --etcd_quick_timeout 2000 --osd_num "$1" \
		--data_path "$(osd_disk "$1")" --bind_address "${ETCD%:*}" \
		--immediate_commit all >>"/tmp/osd$1.log" 2>&1 &
	eval "OSD_PID_$1=$!"
}

osds_up() {	# N: exactly N OSDs up
	[ "$($V status --json | grep -o '"osd_up":[0-9]*')" = "\"osd_up\":$1" ]
}

pgs_active() {	# all PGS_TOTAL PGs active (and nothing else): 16 of rep3, more with other pools
	$V status --json | grep -q "\"pg_states\":{\"active\":${PGS_TOTAL:-16}}"
}

disk_link() {	# N INDEX: /dev/osddiskN to null_blk's disk (6.1 names it for the configfs item)
	for dev in /dev/osd$1 /dev/nullb$2; do
		[ -b $dev ] && ln -sf $dev "/dev/osddisk$1" && return
	done
	return 1
}

# disks_latent MB: 3 RAM-backed null_blk disks (configfs) that complete
# every request OSD_DISK_LAT_US after it came (a timer each, so requests
# overlap), linked as /dev/osddisk1..3: disks with a device's latency
# (brd answers at memory speed)
disks_latent() {
	cfs=/sys/kernel/config/nullb
	[ -d $cfs ] || mount -t configfs none /sys/kernel/config || die "mount configfs"
	[ -d $cfs ] || insmod /mod/null_blk.ko nr_devices=0 || die "insmod null_blk (add it to VM_MODS)"
	for n in 1 2 3; do
		d=$cfs/osd$n
		mkdir "$d" && echo 1 >"$d/memory_backed" && echo 2 >"$d/irqmode" &&
			echo $(( OSD_DISK_LAT_US * 1000 )) >"$d/completion_nsec" &&
			echo "$1" >"$d/size" && echo 4096 >"$d/blocksize" && echo 1 >"$d/power" &&
			disk_link "$n" "$(cat "$d/index")" ||
			die "null_blk disk $n with ${OSD_DISK_LAT_US} us latency"
	done
}

# cluster_start OSD_MB [DISKS]: etcd, 3 OSDs on brd disks of OSD_MB MiB
# (DISKS of them, default 3: more for OSDs a test starts later; with
# OSD_DISK_LAT_US set, the three of disks_latent), pool rep3 (replicated,
# size 3, min 2, 16 PGs, static placement), immediate_commit all. Dies
# when something does not come up.
cluster_start() {
	if [ -n "${OSD_DISK_LAT_US:-}" ]; then
		disks_latent "$1"
	else
		rmmod brd 2>/dev/null
		insmod /mod/brd.ko rd_nr="${2:-3}" rd_size=$(( $1 * 1024 )) || die "insmod brd"
	fi
	mkdir -p /tmp/etcd
	# above the OSDs, as if on a host of its own. Not enough alone: with
	# ASan OSDs creating 4096 PGs on a slow host it still stalled 18 s;
	# the OSDs' longer lease (start_osd) is what keeps them. (The shell
	# renices itself and execs etcd: every thread inherits it.)
	sh -c 'renice -n -10 -p $$ >/dev/null; exec "$@"' etcd \
		etcd --data-dir /tmp/etcd --name default \
		--listen-client-urls "http://$ETCD" --advertise-client-urls "http://$ETCD" \
		--listen-peer-urls http://127.0.0.1:2380 \
		--initial-advertise-peer-urls http://127.0.0.1:2380 \
		--initial-cluster default=http://127.0.0.1:2380 >/tmp/etcd.log 2>&1 &
	ETCD_PID=$!
	wait_for 60 $V status || die "etcd did not start"
	pass "etcd up"
	etcd_put config/global '{"immediate_commit":"all"}' || die "config/global"
	for n in 1 2 3; do
		vstor-disk format --data_path "$(osd_disk "$n")" --osd_num "$n" \
			>/tmp/format$n.log 2>&1 ||
			die "vstor-disk format osd $n: $(tail -n 3 /tmp/format$n.log)"
		start_osd "$n"
	done
	$V pool create rep3 --scheme replicated --pg_size 3 --pg_minsize 2 --pg_count 16 \
		>/dev/null || die "pool create"
	wait_for 60 osds_up 3 || die "3 OSDs up: $($V status --json)"
	$V pg place --static >/dev/null || die "pg place"
	wait_for 90 pgs_active || die "PGs active: $($V status)"
	pass "cluster: 3 OSDs, 16 PGs active"
}

# The module with timeouts for TCG (many times slower than hardware).
vstor_load() {
	insmod "$VSTOR_KO" connect_timeout_ms=10000 tcp_timeout_ms=20000 idle_timeout_ms=10000 \
		ping_timeout_ms=10000 stuck_ms=60000 || die "insmod vstor"
}

cluster_stop() {
	for n in 1 2 3; do
		eval "kill \$OSD_PID_$n" 2>/dev/null
	done
	kill "$ETCD_PID" 2>/dev/null
	wait 2>/dev/null
}

etcd_get() { etcd_raw_get "/vitastor/$1"; }	# KEY: the value (relative to /vitastor/)

etcd_raw_get() {	# KEY: the value
	k=$(printf '%s' "$1" | base64 | tr -d '\n')
	wget -q -O - --post-data "{\"key\":\"$k\"}" "http://$ETCD/v3/kv/range" |
		sed -n 's/.*"value":"\([^"]*\)".*/\1/p' | base64 -d
}

etcd_has() { [ -n "$(etcd_raw_get "$1")" ]; }	# KEY: it has a value

# osd_ticks: the CPU ticks (utime + stime) of the OSDs this guest started,
# with the softirq work done in their context
osd_ticks() {
	ot_sum=0
	for ot_n in 1 2 3; do
		eval "ot_pid=\${OSD_PID_$ot_n:-}"
		[ -n "$ot_pid" ] && ot_sum=$((ot_sum + $(awk '{ print $14 + $15 }' "/proc/$ot_pid/stat")))
	done
	echo "$ot_sum"
}

pg1_primary() {	# the OSD holding the lock of PG 1 of pool 1
	etcd_get pg/state/1/1 | sed -n 's/.*"primary":"*\([0-9]*\).*/\1/p'
}

flush_dev() {	# DEV: fsync of the device (a block layer flush), its status
	dd if=/dev/null of="$1" conv=fsync 2>/dev/null
}

# pin 0|1: etcd and every OSD thread on vCPU 1 (1), or on both (0); sets
# $TS, the client's command prefix, and $SFX, the suffix of the run names
pin() {
	mask=3 TS="" SFX=""
	[ "$1" = 1 ] && mask=2 TS="taskset 1" SFX="+pin"
	for pid in $ETCD_PID $OSD_PID_1 $OSD_PID_2 $OSD_PID_3; do
		for task in /proc/"$pid"/task/*; do
			taskset -p $mask "${task##*/}" >/dev/null || failed "taskset $mask ${task##*/}"
		done
	done
}

# bench_image_up: the cluster, a 64 MiB image "bench" written in full and
# mapped without the agent at $dev (the bench and profile guests).
bench_image_up() {
	cluster_start 192
	bench_image_map
}

# bench_image_map: bench_image_up on a cluster that is up (here or at
# $ETCD in another guest)
bench_image_map() {
	$V create bench --size 64M >/dev/null || die "create image"
	vstor_load
	dev=$($V map bench --no_agent) || die "vsctl map bench"
	fio --name=fill --filename="$dev" --direct=1 --ioengine=libaio --rw=write --bs=1m \
		--iodepth=4 --size=64m --eta=never --output=/dev/null || die "fill the image"
	pass "image written in full"
}

# busy_ms: the busy ticks of all CPUs (/proc/stat: user, nice, system,
# irq, softirq, steal) and the milliseconds since boot, read by one awk
# so that the two describe the same moment
busy_ms() {
	awk 'FNR == NR { ms = $1 * 1000; next }
		/^cpu / { printf "%d %d\n", $2 + $3 + $4 + $7 + $8 + $9, ms }' /proc/uptime /proc/stat
}

# windowed SECS CMD...: runs CMD, a client doing SECS s of I/O, and calls
# the caller's window_begin 1 s after its start and window_end half a
# second before its I/O can end, so that the counters taken there see the
# client's I/O alone: its start (fio parses its job and sets up its
# buffers, vsctl bench reads etcd and connects) and its exit are not the
# path measured, and counted with the run they made CPU per op depend on
# them. Runs shorter than 3 s are counted whole. CMD's status.
windowed() {
	w_secs=$1
	shift
	if [ "$w_secs" -lt 3 ]; then
		window_begin
		"$@"
		w_rc=$?
		window_end
		return $w_rc
	fi
	"$@" &
	w_pid=$!
	sleep 1
	window_begin
	sleep "$((w_secs - 2)).5"
	window_end
	wait $w_pid
}

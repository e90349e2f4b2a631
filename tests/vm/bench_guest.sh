#!/bin/sh
# Guest side of tests/vm/bench_vsN.sh: the same cluster as the VM tests,
# one image written in full, then fio on /dev/vs0 (libaio, O_DIRECT) and
# vsctl bench (libvstor, userspace) with the same parameters, BENCH_ROUNDS
# rounds; within a round the two clients alternate per case and swap
# order every round, so host noise hits both alike. Every run also records
# the guest's busy CPU ticks (/proc/stat, all CPUs: clients, OSDs, etcd,
# softirq) over a window of its I/O (windowed: from 1 s in to 0.5 s before
# its end, runs of 3 s and more) so the host can report CPU per op.
# Results go to $OUT as fio-*.json / bench-*.json and cpu.txt ("kind type
# qd round ticks segments osd_ticks ctxt intr window_ms").
# BENCH_LAYERED=1 snapshots the written image first, so reads go through
# a parent layer. BENCH_ENGINES lists the fio cases (see run_fio): an
# engine or "nullb" (the same fio job on /dev/nullb0: the floor of fio and
# the block layer, no network), with -batch and -deferN suffixes, or "blk"
# (tests/bench/blk_bench: libaio with vsctl bench's event loop). cpu.txt
# also gets the TCP segments the guest sent during the run, the OSD
# processes' CPU ticks, context switches and interrupts.
# BENCH_CASES (default all): the TYPE-QD cases to run ("write-1,read-32").
# BENCH_PIN: 0 (default) leaves the scheduler alone; 1 pins etcd and the
# OSDs (every thread) to vCPU 1 and the client (fio or vsctl bench) to vCPU
# 0, as on a client host separate from the OSD hosts; "both" runs every
# case both ways, alternating (the results of pinned runs are named
# KIND+pin).
# BENCH_SPLIT=1: the cluster is in another guest (bench_osds_guest.sh, at
# $GUEST_ETCD): this guest is the client host alone; it waits for the
# cluster, creates and maps the image and tells the OSD guest when it is
# done; no pinning, and the OSDs' CPU is not in cpu.txt (0).
# window_begin and window_end are called by windowed (guest_lib.sh)
# shellcheck disable=SC2317
. /bin/guest_lib.sh
SECS=${BENCH_SECONDS:-3}
ROUNDS=${BENCH_ROUNDS:-5}
ENGINES=$(echo "${BENCH_ENGINES:-libaio-batch libaio nullb-batch}" | tr , " ")
CASES=$(echo "${BENCH_CASES:-read-1 read-32 write-1 write-32}" | tr , " ")
case ${BENCH_PIN:-0} in
0) PINS=0 ;;
1) PINS=1 ;;
both) PINS="0 1" ;;
*) die "BENCH_PIN=${BENCH_PIN}: 0, 1 or both" ;;
esac
SPLIT=${BENCH_SPLIT:-0}
[ "$SPLIT" = 1 ] && [ "$PINS" != 0 ] && die "BENCH_PIN needs the OSDs in this guest (not BENCH_SPLIT=1)"
note "clocksource: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
# BENCH_DISK_LAT_US: the OSDs on disks of that latency (disks_latent)
[ "${BENCH_DISK_LAT_US:-0}" != 0 ] && OSD_DISK_LAT_US=$BENCH_DISK_LAT_US
if [ -n "${OSD_DISK_LAT_US:-}" ]; then note "OSD disks: null_blk, $OSD_DISK_LAT_US us per request"; else note "OSD disks: brd"; fi
if [ "$SPLIT" = 1 ]; then
	note "client guest: $(nproc) vCPU, cluster at $ETCD, MTU $(cat /sys/class/net/eth0/mtu)"
	wait_every 1 600 etcd_has /vstor-bench/osds-up || die "no cluster at $ETCD (the OSD guest, bench_osds_guest.sh)"
	pass "cluster up in the OSD guest"
	note "ping to the OSD guest: $(ping -c 20 -i 0.2 -q "${ETCD%:*}" | tail -n 1)"
	bench_image_map
else
	bench_image_up
fi
if [ "${BENCH_LAYERED:-0}" = 1 ]; then
	# all the data one layer down: reads of granules not written since go
	# to the parent (a second READ per request on /dev/vs0 and in libvstor)
	$V unmap "$dev" >/dev/null && $V snap create bench@base >/dev/null &&
		dev=$($V map bench --no_agent) || die "snapshot the image and map it again"
	pass "snapshot bench@base: $dev reads through it"
fi


# TCP segments sent (OutSegs), the OSDs' CPU ticks (utime + stime, with
# the softirq work done in their context), context switches, interrupts
counters() {
	echo "$(awk '/^Tcp:/ && $2 ~ /[0-9]/ { print $12 }' /proc/net/snmp) $(osd_ticks)" \
		"$(awk '/^ctxt/ || /^intr/ { print $2 }' /proc/stat | tr '\n' ' ')"
}

delta() {	# BEFORE AFTER: the differences, field by field
	echo "$1 | $2" | awk '{ split($0, h, "|"); n = split(h[1], a, " "); split(h[2], b, " ")
		for (i = 1; i <= n; i++) printf "%d ", b[i] - a[i] }'
}

# a run's counters over its window (windowed, guest_lib.sh): counters,
# busy ticks and time at its begin and end
window_begin() { c0=$(counters) bt=$(busy_ms); b0=${bt% *} t0=${bt#* }; }
window_end() { bt=$(busy_ms) c1=$(counters); b1=${bt% *} t1=${bt#* }; }

# record NAME TYPE QD ROUND: the run's line in cpu.txt, with the busy
# ticks, the counters and the window's length in ms (0: the whole run)
record() {
	ms=$((t1 - t0))
	[ "$SECS" -lt 3 ] && ms=0
	echo "$1 $2 $3 $4 $((b1 - b0)) $(delta "$c0" "$c1") $ms" >>"$OUT/cpu.txt"
}

# run_fio CASE TYPE QD ROUND NAME. CASE is an engine ("libaio",
# "io_uring") or "nullb" (libaio on /dev/nullb0), then optional -WORD
# suffixes: -batch (fio submits and reaps up to QD at once, as vsctl
# bench's event loop does), -cminN (--iodepth_batch_complete_min=N, at
# most QD: fio waits for N completions and resubmits them together, so
# the OSDs get batches of N), -hipri (io_uring: polled completions, the
# module's poll queue), -gtod (--gtod_reduce=1: fio reads the clock only
# for its run time), -fixed (io_uring: --fixedbufs --registerfiles, the
# buffers pinned once, not per I/O), -norand (--norandommap
# --randrepeat=0: no map of the blocks done), -lite, -nostats, -thread
# (--thread: the job runs as a thread of fio's process, not a child
# process, so switching to and from fio's helper thread, which wakes many
# times a second, keeps the address space: see bench_vsN.sh); NAME names
# the results.
run_fio() {
	file=$dev engine=${1%%-*} opts="" words=$(echo "${1#"$engine"}" | tr - " ")
	[ "$engine" = nullb ] && file=/dev/nullb0 engine=libaio
	q=/sys/block/${file#/dev/}/queue stats=$(cat $q/iostats) wbt=$(cat $q/wbt_lat_usec)
	for w in $words; do
		case $w in
		batch) opts="$opts --iodepth_batch_submit=$3 --iodepth_batch_complete_max=$3" ;;
		cmin[0-9]*) n=${w#cmin}; [ "$n" -gt "$3" ] && n=$3
			opts="$opts --iodepth_batch_complete_min=$n" ;;
		lite) opts="$opts --disk_util=0 --disable_slat=1" ;;
		thread) opts="$opts --thread" ;;
		hipri) opts="$opts --hipri" ;;
		fixed) opts="$opts --fixedbufs=1 --registerfiles=1" ;;
		gtod) opts="$opts --gtod_reduce=1" ;;
		norand) opts="$opts --norandommap --randrepeat=0" ;;
		nostats) { echo 0 >$q/iostats && echo 0 >$q/wbt_lat_usec; } || failed "nostats" ;;
		*) failed "unknown fio case $1" ;;
		esac
	done
	# shellcheck disable=SC2086
	windowed "$SECS" $TS fio --name=b --filename="$file" --direct=1 --ioengine="$engine" --rw="rand$2" \
		--bs=4k --iodepth="$3" --size=64m --runtime="$SECS" --time_based \
		$opts --eta=never --output-format=json \
		--output="$OUT/fio_$5$SFX-$2-$3-$4.json" || failed "fio $1 $2 qd$3"
	record "fio_$5$SFX" "$2" "$3" "$4"
	echo "$stats" >$q/iostats
	echo "$wbt" >$q/wbt_lat_usec
}

run_blk() {	# CASE TYPE QD ROUND: blk_bench, the light libaio client, on $dev
	# shellcheck disable=SC2086
	windowed "$SECS" $TS blk_bench "$dev" "$2" "$3" "$SECS" >"$OUT/$1$SFX-$2-$3-$4.json" ||
		failed "blk_bench $2 qd$3"
	record "$1$SFX" "$2" "$3" "$4"
}

# run_client CASE TYPE QD ROUND: CASE "blk" is blk_bench, the rest are
# fio's (run_fio); -deferN and -rxworkN suffixes (either client) set the
# module's tx_defer and rx_work to N for the run.
run_client() {
	c=$1 base=$1 restore=""
	shift
	for w in $(echo "$c" | tr - " "); do
		case $w in
		defer[0-9]*) p=tx_defer v=${w#defer} ;;
		rxwork[0-9]*) p=rx_work v=${w#rxwork} ;;
		*) continue ;;
		esac
		f=/sys/module/vstor/parameters/$p
		restore="$restore $f=$(cat $f)"
		echo "$v" >$f || failed "$p=$v"
		base=$(echo "$base" | sed "s/-$w//")
	done
	if [ "$base" = blk ]; then run_blk "$c" "$@"; else run_fio "$base" "$@" "$c"; fi
	for r in $restore; do echo "${r#*=}" >"${r%%=*}"; done
}

run_bench() {	# TYPE QD ROUND
	# shellcheck disable=SC2086
	windowed "$SECS" $TS $V bench bench --io-type "$1" --io-pattern rand --io-size 4k \
		--io-depth "$2" --seconds "$SECS" --json \
		>"$OUT/bench$SFX-$1-$2-$3.json" 2>"$OUT/bench.err" ||
		failed "vsctl bench $1 qd$2: $(cat "$OUT/bench.err")"
	record "bench$SFX" "$1" "$2" "$3"
}

: >"$OUT/cpu.txt"
round=1
while [ $round -le "$ROUNDS" ]; do
	for c in $CASES; do
		t=${c%-*} qd=${c#*-}
		for pm in $PINS; do
			pin "$pm"
			if [ $((round % 2)) = 1 ]; then
				for e in $ENGINES; do run_client "$e" $t $qd $round; done
				run_bench $t $qd $round
			else
				run_bench $t $qd $round
				for e in $ENGINES; do run_client "$e" $t $qd $round; done
			fi
		done
		PINS=$(echo $PINS | awk '{ for (i = NF; i > 0; i--) printf "%s ", $i }')
	done
	pass "round $round"
	round=$((round + 1))
done
uptime >"$OUT/guest-uptime"
$V unmap "$dev" >/dev/null || failed "unmap"
if [ "$SPLIT" = 1 ]; then
	etcd_raw_put /vstor-bench/client-done 1 || failed "tell the OSD guest the client is done"
else
	cluster_stop
fi
exit $fail

#!/bin/sh
# Guest side of tests/vm/profile_vsN.sh: the bench cluster and image, then
# per case one run for its counters (over the middle of the run, see
# windowed in guest_lib.sh; per op: whole-guest and OSD CPU,
# context switches, TCP segments in/out, NET_RX softirqs, IPIs) and, with
# PROF_PERF=1, one under `perf record -e cpu-clock -a -g` (the software
# clock works under TCG), reported here against this kernel's kallsyms and
# the module's symbols: by comm, by symbol, and inclusive per comm.
# A case is fio_ENGINE, nullb (fio libaio on /dev/nullb0), blk (blk_bench)
# or bench, with optional +PARAM=VALUE suffixes that set vstor module
# parameters first (fio_libaio+tx_defer=0), for A/B runs in one guest.
# window_begin and window_end are called by windowed (guest_lib.sh)
# shellcheck disable=SC2317
. /bin/guest_lib.sh
SECS=${PROF_SECONDS:-4}
QD=${PROF_QD:-32}
RW=${PROF_RW:-read}
CASES=$(echo "${PROF_CASES:-fio_libaio bench nullb}" | tr , " ")
# PROF_EVENT: what perf samples (default the software clock at 499 Hz);
# a tracepoint (sched:sched_switch: who blocks where) records every hit
PERF_EVENT=${PROF_EVENT:-cpu-clock} PERF_RATE="-F 499"
case $PERF_EVENT in
*:*)	PERF_RATE="-c 1"
	mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
	# probe:FUNCTION: a kprobe at the kernel function's entry (call_rcu)
	for e in $(echo "$PERF_EVENT" | tr , " "); do
		case $e in
		probe:*) perf probe -q -a "${e#probe:}" || failed "perf probe ${e#probe:}" ;;
		esac
	done ;;
esac
echo 0 >/proc/sys/kernel/kptr_restrict
echo -1 >/proc/sys/kernel/perf_event_paranoid
note "clocksource: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource)"
bench_image_up
# PROF_PIN=1: etcd and the OSDs on vCPU 1, the client on vCPU 0 (as bench_vsN)
pin "${PROF_PIN:-0}"

# OSD ticks, etcd ticks, context switches, interrupts, TCP
# segments in and out, NET_RX and BLOCK softirqs, LOC RES CAL TLB
counters() {
	echo "$(osd_ticks) $(awk '{ print $14 + $15 }' "/proc/$ETCD_PID/stat")" \
		"$(awk '/^ctxt/ || /^intr/ { print $2 }' /proc/stat | tr '\n' ' ')" \
		"$(awk '/^Tcp:/ && $2 ~ /[0-9]/ { print $11, $12 }' /proc/net/snmp)" \
		"$(awk '/NET_RX:|BLOCK:/ { print $2 + $3 }' /proc/softirqs | tr '\n' ' ')" \
		"$(awk '$1 ~ /^(LOC|RES|CAL|TLB):$/ { print $2 + $3 }' /proc/interrupts | tr '\n' ' ')"
}

# TcpExt counters (/proc/net/netstat) that tell the segments apart: pure
# ACKs received (all traffic is in the guest, so: sent), delayed ACKs sent,
# data segments sent, and where incoming segments were queued
TCPEXT="TCPPureAcks DelayedACKs TCPOrigDataSent TCPHPHits TCPBacklogCoalesce"
tcpext() {
	awk -v want="$TCPEXT" '/^TcpExt:/ { if (!n) { n = split($0, k); next }
		split($0, v); for (i = 2; i <= n; i++) x[k[i]] = v[i] }
		END { m = split(want, w, " "); for (i = 1; i <= m; i++) printf "%s ", x[w[i]] + 0 }' \
		/proc/net/netstat
}

tcpext_per_op() {	# BEFORE AFTER OPS
	echo "$1 | $2" | awk -v ops="$3" -v names="$TCPEXT" '{
		split($0, h, "|"); split(h[1], a, " "); split(h[2], b, " ")
		n = split(names, name, " ")
		for (i = 1; i <= n; i++)
			printf "%s/op=%.3f ", name[i], (b[i] - a[i]) / ops }'
}

per_op() {	# BEFORE AFTER OPS
	echo "$1 | $2" | awk -v ops="$3" '{
		split($0, h, "|"); split(h[1], a, " "); split(h[2], b, " ")
		n = split("busy_ms osd_ms etcd_ms ctxt intr tcp_in tcp_out net_rx block loc res cal tlb", name, " ")
		for (i = 1; i <= n; i++)
			printf "%s/op=%.3f ", name[i], (b[i] - a[i]) * (i <= 3 ? 10 : 1) / ops }'
}

cmdline() {	# CASE
	case $1 in
	bench) echo "$V bench bench --io-type $RW --io-pattern rand --io-size 4k" \
		"--io-depth $QD --seconds $SECS --json" ;;
	blk) echo "blk_bench $dev $RW $QD $SECS" ;;
	*)	f=$dev e=${1#fio_}
		[ "$1" = nullb ] && f=/dev/nullb0 e=libaio
		echo "fio --name=b --filename=$f --direct=1 --ioengine=$e --rw=rand$RW" \
			"--bs=4k --iodepth=$QD --size=64m --runtime=$SECS --time_based" \
			"--eta=never --output-format=terse $(echo "${PROF_FIO_OPTS:-}" | tr , " ")" ;;
	esac
}

report() {	# CASE: perf record of one run, reports in $OUT
	d=/tmp/$1.data
	# shellcheck disable=SC2046,SC2086
	perf record -q -e "$PERF_EVENT" $PERF_RATE -a -g -o "$d" -- $TS $(cmdline "$1") \
		>"$OUT/$1.perf.out" 2>&1 || failed "perf record $1"
	perf report -i "$d" --stdio --no-children -g none -n --sort comm >"$OUT/$1.comm.txt" 2>/dev/null
	perf report -i "$d" --stdio --no-children -g none -n --sort comm,sym >"$OUT/$1.commsym.txt" 2>/dev/null
	perf report -i "$d" --stdio --children -g none --sort sym >"$OUT/$1.children.txt" 2>/dev/null
	for comm in fio vsctl vstor-osd; do
		perf report -i "$d" --stdio --children -g none --comm $comm --sort sym \
			--percent-limit 0.5 >"$OUT/$1.children-$comm.txt" 2>/dev/null
	done
	# every sample with its call chain (tracepoints: the event's fields)
	[ "${PROF_SCRIPT:-0}" = 1 ] && perf script -i "$d" -F comm,tid,event,trace,ip,sym \
		>"$OUT/$1.script.txt" 2>/dev/null
	rm -f "$d"
}

# a run's counters over its window (windowed, guest_lib.sh)
window_begin() { x0=$(tcpext) c0=$(counters) bt=$(busy_ms); b0=${bt% *} t0=${bt#* }; }
window_end() { bt=$(busy_ms) c1=$(counters) x1=$(tcpext); b1=${bt% *} t1=${bt#* }; }

for cs in $CASES; do
	c=${cs%%+*}
	# shellcheck disable=SC2046
	set -- $(echo "$cs" | tr + " ")
	shift
	for kv in "$@"; do
		echo "${kv#*=}" >"/sys/module/vstor/parameters/${kv%%=*}" || failed "set $kv"
	done
	# shellcheck disable=SC2046,SC2086
	windowed "$SECS" $TS $(cmdline "$c") >"$OUT/$c.out" 2>&1 || failed "$cs"
	case $c in
	bench|blk) iops=$(grep -o '"iops":[0-9.]*' "$OUT/$c.out" | head -n 1 | cut -d: -f2) ;;
	*) iops=$(awk -F';' '{ print $8 + $49 }' "$OUT/$c.out") ;;
	esac
	# the ops of the counted window at the run's rate (windowed)
	ops=$(awk -v i="$iops" -v s="$SECS" -v ms=$((t1 - t0)) \
		'BEGIN { if (s >= 3) s = ms / 1000; printf "%d", i * s + 1 }')
	note "$cs: iops $iops $(per_op "$b0 $c0" "$b1 $c1" "$ops")"
	note "$cs: $(tcpext_per_op "$x0" "$x1" "$ops")"
	[ "${PROF_PERF:-0}" = 1 ] && report "$c"
done
pass "profiled: $CASES"
$V unmap "$dev" >/dev/null || failed "unmap"
cluster_stop
exit $fail

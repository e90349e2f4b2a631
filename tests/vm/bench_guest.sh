#!/bin/sh
# Guest side of tests/vm/bench_vsN.sh: the same cluster as the VM tests,
# one image written in full, then fio on /dev/vs0 (libaio, O_DIRECT) and
# vsctl bench (libvstor, userspace) with the same parameters, BENCH_ROUNDS
# rounds; within a round the two clients alternate per case and swap
# order every round, so host noise hits both alike. Every run also records
# the guest's busy CPU ticks (/proc/stat, all CPUs: clients, OSDs, etcd,
# softirq) so the host can report CPU per op. Results go to $OUT as
# fio-*.json / bench-*.json and cpu.txt ("kind type qd round ticks").
# BENCH_LAYERED=1 snapshots the written image first, so reads go through
# a parent layer. BENCH_ENGINES lists the fio cases (see run_fio): an
# engine or "nullb" (the same fio job on /dev/nullb0: the floor of fio and
# the block layer, no network), with -batch and -deferN suffixes. cpu.txt
# also gets the TCP segments the guest sent during the run.
. /bin/guest_lib.sh
SECS=${BENCH_SECONDS:-3}
ROUNDS=${BENCH_ROUNDS:-5}
ENGINES=$(echo "${BENCH_ENGINES:-libaio-batch libaio nullb-batch}" | tr , " ")
bench_image_up
if [ "${BENCH_LAYERED:-0}" = 1 ]; then
	# all the data one layer down: reads of granules not written since go
	# to the parent (a second READ per request on /dev/vs0 and in libvstor)
	$V unmap "$dev" >/dev/null && $V snap create bench@base >/dev/null &&
		dev=$($V map bench --no_agent) || die "snapshot the image and map it again"
	pass "snapshot bench@base: $dev reads through it"
fi

busy() {	# busy ticks of all CPUs so far
	awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

segs() {	# TCP segments sent so far (OutSegs)
	awk '/^Tcp:/ && $2 ~ /[0-9]/ { print $12 }' /proc/net/snmp
}

# run_fio CASE TYPE QD ROUND. CASE is an engine ("libaio", "io_uring") or
# "nullb" (libaio on /dev/nullb0), then optional -WORD suffixes: -batch
# (fio submits and reaps up to QD at once, as vsctl bench's event loop
# does), -deferN (the module's tx_defer=N for this run).
run_fio() {
	file=$dev engine=${1%%-*} opts="" defer=/sys/module/vstor/parameters/tx_defer
	was=$(cat $defer) words=$(echo "${1#"$engine"}" | tr - " ")
	[ "$engine" = nullb ] && file=/dev/nullb0 engine=libaio
	for w in $words; do
		case $w in
		batch) opts="--iodepth_batch_submit=$3 --iodepth_batch_complete_max=$3" ;;
		defer*) echo "${w#defer}" >$defer || failed "tx_defer=${w#defer}" ;;
		*) failed "unknown fio case $1" ;;
		esac
	done
	b0=$(busy) s0=$(segs)
	# shellcheck disable=SC2086
	fio --name=b --filename="$file" --direct=1 --ioengine="$engine" --rw="rand$2" \
		--bs=4k --iodepth="$3" --size=64m --runtime="$SECS" --time_based \
		$opts --eta=never --output-format=json \
		--output="$OUT/fio_$1-$2-$3-$4.json" || failed "fio $1 $2 qd$3"
	echo "fio_$1 $2 $3 $4 $(( $(busy) - b0 )) $(( $(segs) - s0 ))" >>"$OUT/cpu.txt"
	echo "$was" >$defer
}

run_bench() {	# TYPE QD ROUND
	b0=$(busy) s0=$(segs)
	$V bench bench --io-type "$1" --io-pattern rand --io-size 4k \
		--io-depth "$2" --seconds "$SECS" --json \
		>"$OUT/bench-$1-$2-$3.json" 2>"$OUT/bench.err" ||
		failed "vsctl bench $1 qd$2: $(cat "$OUT/bench.err")"
	echo "bench $1 $2 $3 $(( $(busy) - b0 )) $(( $(segs) - s0 ))" >>"$OUT/cpu.txt"
}

: >"$OUT/cpu.txt"
round=1
while [ $round -le "$ROUNDS" ]; do
	for t in read write; do
		for qd in 1 32; do
			if [ $((round % 2)) = 1 ]; then
				for e in $ENGINES; do run_fio "$e" $t $qd $round; done
				run_bench $t $qd $round
			else
				run_bench $t $qd $round
				for e in $ENGINES; do run_fio "$e" $t $qd $round; done
			fi
		done
	done
	pass "round $round"
	round=$((round + 1))
done
uptime >"$OUT/guest-uptime"
$V unmap "$dev" >/dev/null || failed "unmap"
cluster_stop
exit $fail

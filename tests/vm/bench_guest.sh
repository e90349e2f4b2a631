#!/bin/sh
# Guest side of tests/vm/bench_vsN.sh: the same cluster as the VM tests,
# one image written in full, then fio on /dev/vs0 (libaio, O_DIRECT) and
# vsctl bench (libvstor, userspace) with the same parameters, alternating,
# three rounds. Results go to $OUT as fio-*.json and bench-*.json.
. /bin/guest_lib.sh
SECS=${BENCH_SECONDS:-4}
cluster_start 192
$V create bench --size 64M >/dev/null || die "create image"
vstor_load
dev=$($V map bench --no_agent) || die "vsctl map bench"
fio --name=fill --filename="$dev" --direct=1 --ioengine=libaio --rw=write --bs=1m \
	--iodepth=4 --size=64m --eta=never --output=/dev/null || die "fill the image"
pass "image written in full"
# Rounds alternate between the two clients, so load on the (shared) host
# hits both alike; the host script takes each one's best round.
for round in 1 2 3; do
	for rw in randread randwrite; do
		t=${rw#rand}
		for qd in 1 32; do
			fio --name=b --filename="$dev" --direct=1 --ioengine=libaio --rw="$rw" \
				--bs=4k --iodepth="$qd" --size=64m --runtime="$SECS" --time_based \
				--eta=never --output-format=json \
				--output="$OUT/fio-$t-$qd-$round.json" || failed "fio $rw qd$qd"
			$V bench bench --io-type "$t" --io-pattern rand --io-size 4k \
				--io-depth "$qd" --seconds "$SECS" --json \
				>"$OUT/bench-$t-$qd-$round.json" 2>"$OUT/bench.err" ||
				failed "vsctl bench $t qd$qd: $(cat "$OUT/bench.err")"
		done
	done
	pass "round $round"
done
uptime >"$OUT/guest-uptime"
$V unmap "$dev" >/dev/null || failed "unmap"
cluster_stop
exit $fail

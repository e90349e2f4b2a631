#!/bin/sh
# The README's demo (tests/demo.sh -> tests/bench/cluster_bench.sh) with the
# binaries of BUILD_DIR and very short runs: it starts etcd and 3 OSDs,
# prints the six-test table and leaves nothing behind; --keep leaves a
# usable cluster and a working stop script; SIGTERM in the middle stops
# everything; bad arguments are refused.
# Usage: test_demo.sh BUILD_DIR
set -u
BUILD=${1:-build}
cd "$(dirname "$0")/../.." || exit 1
T=$(mktemp -d "${TMPDIR:-/tmp}/vstor-demo-test.XXXXXX")
trap 'for d in "$T"/d*; do [ -x "$d/c3/stop.sh" ] && sh "$d/c3/stop.sh" >/dev/null; done; rm -rf "$T"' EXIT
QUICK="--no-deps --build $BUILD --seconds 0.5 --floor-seconds 0.2 --osd-mib 320 --image-mib 64"

case_() { name=$1; shift; if "$@"; then echo "PASS: $name"; else echo "FAIL: $name"; fi; }

# nothing runs with files under $1 and $1 is gone
gone() {
	! pgrep -f "$1" >/dev/null && [ ! -e "$1" ]
}

has_table() {
	for t in "T1Q1 4k randwrite (sync)  3" "T1Q1 4k randread  *3" "Q128 4k randwrite  *3" \
		"Q128 4k randread  *3" "4M Q32 write  *3" "4M Q32 read  *3" "x floor" \
		"floor parts" "load average"; do
		grep -q "$t" "$1" || { echo "no '$t' in the output:"; cat "$1"; return 1; }
	done
}

t_run() {
	# shellcheck disable=SC2086
	sh tests/demo.sh $QUICK --dir "$T/d1" >"$T/out1" 2>"$T/err1" ||
		{ cat "$T/err1"; return 1; }
	has_table "$T/out1" && gone "$T/d1"
}

t_keep() {
	# shellcheck disable=SC2086
	sh tests/demo.sh $QUICK --dir "$T/d2" --keep >"$T/out2" 2>"$T/err2" ||
		{ cat "$T/err2"; return 1; }
	has_table "$T/out2" || return 1
	cmd=$(grep -m1 'vsctl --etcd_address .* status$' "$T/out2") || return 1
	stop=$(sed -n 's/^  sh \(.*stop.sh\)$/\1/p' "$T/out2")
	[ -n "$stop" ] || return 1
	$cmd >"$T/st2" || { cat "$T/st2"; return 1; }
	grep -q 'osd: *3 up' "$T/st2" || { cat "$T/st2"; return 1; }
	pgrep -f "$T/d2" >/dev/null || return 1
	sh "$stop" >/dev/null && gone "$T/d2"
}

t_sigterm() {
	# shellcheck disable=SC2086
	sh tests/demo.sh $QUICK --seconds 60 --dir "$T/d3" >"$T/out3" 2>"$T/err3" &
	pid=$!
	n=600
	while [ "$n" -gt 0 ] && ! grep -q 't1q1_randwrite\|filling the image' "$T/err3"; do
		kill -0 "$pid" 2>/dev/null || { cat "$T/err3"; return 1; }
		sleep 0.1
		n=$((n - 1))
	done
	[ "$n" -gt 0 ] || return 1
	pgrep -f "$T/d3" >/dev/null || return 1
	kill -TERM "$pid"
	wait "$pid"
	rc=$?
	[ "$rc" -ne 0 ] && grep -q interrupted "$T/err3" && gone "$T/d3"
}

t_bad_args() {
	! sh tests/bench/cluster_bench.sh --bogus 2>"$T/e1" && grep -q 'unknown argument' "$T/e1" &&
	mkdir -p "$T/exists" &&
	! sh tests/bench/cluster_bench.sh --build "$BUILD" --dir "$T/exists" 2>/dev/null &&
	[ -d "$T/exists" ] &&
	! sh tests/bench/cluster_bench.sh --build "$BUILD" --osd-mib 300 --image-mib 1024 2>/dev/null &&
	! sh tests/bench/cluster_bench.sh --build "$BUILD" --seconds x 2>/dev/null &&
	! sh tests/demo.sh --no-deps --build "$T/nowhere" 2>"$T/e2" && grep -q 'missing' "$T/e2" &&
	sh tests/demo.sh --help | grep -q -- '--keep'
}

case_ demo_table_and_cleanup t_run
case_ demo_keep_and_stop_script t_keep
case_ demo_sigterm_cleans_up t_sigterm
case_ demo_bad_args t_bad_args

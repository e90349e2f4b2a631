#!/bin/sh
# The README's test command: installs dependencies, builds everything (gcc,
# clang, ASan+UBSan, libFuzzer targets, the kernel module) and runs all tests.
# The last line is the summary "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.." || exit 1
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 2)}
t0=$(date +%s)

step() {
	name=$1
	shift
	s=$(date +%s)
	echo "== $name"
	if ! "$@" >"${TMPDIR:-/tmp}/vstor-check-step.log" 2>&1; then
		tail -n 80 "${TMPDIR:-/tmp}/vstor-check-step.log"
		echo "== $name: FAILED"
		echo "0 passed, 1 failed"
		exit 1
	fi
	echo "== $name: ok ($(( $(date +%s) - s ))s)"
}

step "dependencies" sh tests/deps.sh
step "build (gcc)" make -j"$JOBS"
step "build (clang)" make -j"$JOBS" CC=clang
step "build (asan+ubsan)" make -j"$JOBS" asan
step "build (libFuzzer targets)" make -j"$JOBS" fuzz
step "build (kernel module)" make kmod

echo "== tests"
# run.sh prints the total time and then the summary line, last.
export CHECK_T0="$t0"
exec sh tests/run.sh build-asan

#!/bin/sh
# Runs every test binary of a build and prints one summary line last:
#   N passed, N failed, N skipped
# Usage: tests/run.sh [BUILD_DIR] (default build-asan)
# Environment: FUZZ_SECONDS (per fuzz target, default 30; 0 skips fuzzing),
#   TEST_FILTER (substring of test binary names to run), VERBOSE=1.
set -u
cd "$(dirname "$0")/.." || exit 1
BUILD=${1:-build-asan}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
FILTER=${TEST_FILTER:-}

work=$(mktemp -d "${TMPDIR:-/tmp}/vstor-tests.XXXXXX") || exit 1
# Every test writes its temp files (etcd data dirs, OSD files) below $TMPDIR,
# so removing it cleans up whatever a crashed test left behind.
export TMPDIR="$work/tmp"
mkdir -p "$TMPDIR"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

passed=0 failed=0 skipped=0
failures=""

# run_one NAME TIMEOUT CMD...: runs a test binary that prints PASS:/FAIL:/SKIP:
# lines; a crash, timeout or non-zero exit without a FAIL line counts as one
# failure of its own.
run_one() {
	name=$1 limit=$2
	shift 2
	log="$work/$(echo "$name" | tr / _).log"
	start=$(date +%s)
	timeout -k 10 "$limit" "$@" >"$log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	p=$(grep -c '^PASS: ' "$log")
	f=$(grep -c '^FAIL: ' "$log")
	s=$(grep -c '^SKIP: ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
			echo "FAIL: $name (timed out after ${limit}s)" >>"$log"
		else
			echo "FAIL: $name (exit status $rc)" >>"$log"
		fi
	fi
	if [ "$rc" -eq 0 ] && [ "$p" -eq 0 ] && [ "$s" -eq 0 ]; then
		p=1	# a plain program (e.g. a fuzzer run) that succeeded
	fi
	passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
	printf '%-40s %3d passed %3d failed %3d skipped %4ds\n' "$name" "$p" "$f" "$s" "$secs"
	if [ "$f" -gt 0 ] || [ "${VERBOSE:-0}" = 1 ]; then
		failures="$failures $name"
		sed 's/^/    /' "$log" | tail -n 150
	fi
}

for dir in unit cluster; do
	for t in "$BUILD"/tests/$dir/*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		case "$t" in *.d|*.o) continue ;; esac
		case "$t" in *"$FILTER"*) ;; *) continue ;; esac
		limit=120
		[ "$dir" = cluster ] && limit=900
		run_one "$dir/$(basename "$t")" "$limit" "$t"
	done
done

for t in tests/*/test_*.sh; do
	[ -f "$t" ] || continue
	case "$t" in *"$FILTER"*) ;; *) continue ;; esac
	run_one "${t#tests/}" 1200 sh "$t" "$BUILD"
done

if [ "$FUZZ_SECONDS" -gt 0 ] && [ -d build-fuzz/fuzz ]; then
	for t in build-fuzz/fuzz/*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		case "$t" in *.d|*.o) continue ;; esac
		case "$t" in *"$FILTER"*) ;; *) continue ;; esac
		corpus="$work/corpus-$(basename "$t")"
		mkdir -p "$corpus"
		seeds="tests/fuzz/corpus/$(basename "$t")"
		[ -d "$seeds" ] || seeds=""
		run_one "fuzz/$(basename "$t")" $((FUZZ_SECONDS + 60)) \
			"$t" -max_total_time="$FUZZ_SECONDS" -rss_limit_mb=2048 \
			-artifact_prefix="$work/" "$corpus" $seeds
	done
fi

[ -n "$failures" ] && echo "failed:$failures"
[ -n "${CHECK_T0:-}" ] && echo "# whole run took $(( $(date +%s) - CHECK_T0 ))s"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]

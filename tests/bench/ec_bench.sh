#!/bin/sh
# Erasure-code benchmark (not a timed test): encode/decode/update
# throughput per CPU-second for xor 2+1 and ec 2+1, 2+2, 4+2, 8+4 at 128 KiB
# and 4 KiB chunks next to memcpy of the same bytes; gf-complete's region
# multiply per method, also with its SSSE3 path disabled; callgrind
# instructions per byte (stable under load).
# Usage: tests/bench/ec_bench.sh [SECONDS_PER_CASE]   (run `make` first)
set -eu
cd "$(dirname "$0")/../.."
SECS=${1:-0.3}
make -s build/libvstor-common.a
cc -std=c11 -O2 -g -D_GNU_SOURCE -Icommon -Wall -Wextra -Werror \
	-o build/ec_bench tests/bench/ec_bench.c build/libvstor-common.a \
	-lJerasure -lgf_complete
echo "kernel $(uname -r), commit $(git rev-parse --short HEAD 2>/dev/null || echo ?)," \
	"cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
taskset -c 0 build/ec_bench "$SECS"
echo
echo "with GF_COMPLETE_DISABLE_SSSE3=1 (gf-complete's run-time switch):"
GF_COMPLETE_DISABLE_SSSE3=1 taskset -c 0 build/ec_bench "$SECS" --regions
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

if ! command -v valgrind >/dev/null; then
	echo "valgrind missing: no instruction counts"
	exit 0
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/ec_bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
valgrind --tool=callgrind --collect-atstart=no \
	--callgrind-out-file="$dir/cg.out" build/ec_bench --callgrind >"$dir/names" 2>"$dir/log"
echo
echo "callgrind (one warm pass of each case):"
grep '^gf-complete' "$dir/names"
echo "| case | instructions/byte |"
echo "|---|---|"
# Each dump cg.out.N names its case ("desc: Trigger: Client Request: NAME")
# and its instruction total; the program printed the bytes per case.
for f in "$dir"/cg.out.*; do
	name=$(sed -n 's/^desc: Trigger: Client Request: //p' "$f")
	ir=$(sed -n 's/^summary: //p;s/^totals: //p' "$f" | head -n1)
	bytes=$(grep -F "callgrind $name " "$dir/names" | awk '{print $NF}')
	[ -n "$bytes" ] && awk -v n="$name" -v i="$ir" -v b="$bytes" \
		'BEGIN { printf "| %s | %.3f |\n", n, i / b }'
done | sort -t'|' -k2,2 -s

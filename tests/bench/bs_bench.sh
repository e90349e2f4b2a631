#!/bin/sh
# Blockstore benchmark: engine vs raw liburing on one file (not a timed test).
# Usage: tests/bench/bs_bench.sh [FILE] [SIZE_MIB] [SECONDS_PER_CASE]
# Builds build/bs_bench from tests/bench/bs_bench.c against build/*.a
# (run `make` first). FILE defaults to $TMPDIR/bs_bench.img and is removed.
set -eu
cd "$(dirname "$0")/../.."
FILE=${1:-${TMPDIR:-/tmp}/bs_bench.img}
SIZE=${2:-1024}
SECS=${3:-3}
make -s build/libvstor-blockstore.a build/libvstor-common.a
cc -std=c11 -O2 -g -D_GNU_SOURCE -Icommon -Iosd/blockstore -Wall -Wextra -Werror \
	-o build/bs_bench tests/bench/bs_bench.c build/libvstor-blockstore.a build/libvstor-common.a \
	$(pkg-config --libs liburing)
echo "kernel $(uname -r), commit $(git rev-parse --short HEAD 2>/dev/null || echo ?)"
taskset -c 0 build/bs_bench "$FILE" "$SIZE" "$SECS"
[ -n "${1:-}" ] || rm -f "$FILE"

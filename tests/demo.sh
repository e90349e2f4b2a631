#!/bin/sh
# The README's main command (also `make demo`): installs the dependencies
# (tests/deps.sh), builds vstor, starts a demo cluster in a temp dir (a real
# etcd on a random loopback port and 3 vstor-osd on files, immediate_commit
# all), creates a replicated pool (pg_size 3) and a 1 GiB image, runs
# `vsctl bench` for the six seed tests against the disk and network floor
# measured in the same run, prints the table and stops everything again,
# also on Ctrl-C or a failure.
#
# Usage: sh tests/demo.sh [--keep] [--no-deps] [--build DIR] [BENCH OPTIONS]
#   --keep         leave the cluster running and print how to use and stop it
#   --no-deps      do not run tests/deps.sh
#   --build DIR    use the binaries in DIR instead of building into build/
#   BENCH OPTIONS  passed to tests/bench/cluster_bench.sh (defaults here:
#                  --pg-sizes 3 --seconds 5 --floor-seconds 2 --osd-mib 1280
#                  --image-mib 1024); see its --help
set -u
cd "$(dirname "$0")/.." || exit 1
DEPS=1 BUILD=
ARGS="--pg-sizes 3 --seconds 5 --floor-seconds 2 --osd-mib 1280 --image-mib 1024"
PASS=
while [ $# -gt 0 ]; do
	case $1 in
	--no-deps) DEPS=0 ;;
	--build) BUILD=$2; shift ;;
	-h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) PASS="$PASS $1" ;;
	esac
	shift || { echo "demo: --build needs a directory" >&2; exit 2; }
done
if [ "$DEPS" = 1 ]; then
	sh tests/deps.sh || { echo "demo: installing the dependencies failed" >&2; exit 1; }
fi
if [ -z "$BUILD" ]; then
	echo "demo: building (make)" >&2
	make -j"$(nproc 2>/dev/null || echo 2)" >/dev/null ||
		{ echo "demo: the build failed; run make to see why" >&2; exit 1; }
	BUILD=build
fi
# shellcheck disable=SC2086
exec sh tests/bench/cluster_bench.sh --build "$BUILD" $ARGS $PASS

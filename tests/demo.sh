#!/bin/sh
# The README's main command. At this stage of the project it installs the
# dependencies, builds vstor and runs its self-check against a real etcd
# started on a random loopback port (protocol layouts, configuration, etcd
# client: range, txn, leases, watch with resume). Later it will start a demo
# cluster and run its benchmark.
set -u
cd "$(dirname "$0")/.." || exit 1
sh tests/deps.sh || exit 1
make -j"$(nproc 2>/dev/null || echo 2)" >/dev/null || { echo "demo: build failed; run make to see why" >&2; exit 1; }
FUZZ_SECONDS=0 exec sh tests/run.sh build

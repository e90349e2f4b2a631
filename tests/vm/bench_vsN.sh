#!/bin/sh
# Benchmark (a script, not a test): 4 KiB random read/write at queue depth
# 1 and 32 on /dev/vs0 (fio, libaio, O_DIRECT: the kernel module's path) vs
# vsctl bench (libvstor: the userspace client) with the same parameters, in
# the same QEMU guest against the same three OSDs. Prints a table with
# ratios (kernel / userspace; above 1 = the kernel path is faster, for
# latency below 1 is better).
#
# Usage: sh tests/vm/bench_vsN.sh [BUILD_DIR] [SECONDS_PER_RUN]
# Each case runs 3 times per client, alternating fio and vsctl bench so
# that host load hits both alike; the table shows each one's best run.
# The guest runs under TCG: absolute numbers say little about real
# hardware, the ratios between the two clients are the result.
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-build}
SECS=${2:-4}
for b in vstor-osd vstor-disk vsctl; do
	[ -x "$BUILD/$b" ] || { echo "bench_vsN: $BUILD/$b not built (run make)" >&2; exit 1; }
done
keep=$(mktemp -d "${TMPDIR:-/tmp}/vstor-bench.XXXXXX") || exit 1
trap 'rm -rf "$keep"' EXIT
echo "# host load before: $(uptime)"
VM_MEM=2048 VM_TIMEOUT=900 GUEST_TIMEOUT=800 VM_KEEP="$keep/out" \
VM_MODS="brd" \
VM_BINS="/usr/bin/etcd /usr/bin/fio $BUILD/vstor-osd=/usr/bin/vstor-osd
 $BUILD/vstor-disk=/usr/bin/vstor-disk $BUILD/vsctl=/usr/bin/vsctl" \
VM_APPEND="BENCH_SECONDS=$SECS" \
	sh tests/vm/run-vm.sh tests/vm/bench_guest.sh tests/vm/guest_lib.sh >"$keep/log" 2>&1
rc=$?
echo "# host load after:  $(uptime)"
[ -f "$keep/out/guest-uptime" ] && echo "# guest load at the end: $(cat "$keep/out/guest-uptime")"
if [ $rc -ne 0 ]; then
	cat "$keep/log"
	exit 1
fi
python3 - "$keep/out" "$SECS" <<'PY'
import json, os, sys
d, secs = sys.argv[1], sys.argv[2]
def best(kind, t, qd):
    runs = []
    for r in (1, 2, 3):
        p = os.path.join(d, f"{kind}-{t}-{qd}-{r}.json")
        if not os.path.exists(p):
            continue
        j = json.load(open(p))
        if kind == "fio":
            x = j["jobs"][0][t]
            runs.append((x["iops"], x["lat_ns"]["mean"] / 1000.0))
        else:
            x = j["total"]
            runs.append((x["iops"], x["lat_us"]["mean"]))
    return max(runs)
print(f"# 4 KiB random, best of 3 runs of {secs} s per client, replicated x3 pool on 3 OSDs (brd RAM disks) in one TCG guest")
print("| case | /dev/vs0 (fio libaio) | vsctl bench (libvstor) | ratio kernel/user |")
print("|---|---|---|---|")
for t in ("read", "write"):
    for qd in (1, 32):
        fi, fl = best("fio", t, qd)
        bi, bl = best("bench", t, qd)
        name = f"T1Q{qd} {t}"
        print(f"| {name} IOPS | {fi:.0f} | {bi:.0f} | {fi / bi:.2f}x |")
        print(f"| {name} mean latency | {fl:.0f} us | {bl:.0f} us | {fl / bl:.2f}x |")
PY

#!/bin/sh
# Benchmark (a script, not a test): 4 KiB random read/write at queue depth
# 1 and 32 on /dev/vs0 (fio, O_DIRECT: the kernel module's path) vs vsctl
# bench (libvstor: the userspace client) with the same parameters, in the
# same QEMU guest against the same three OSDs. Prints a table with ratios
# (kernel / userspace; for IOPS above 1 = the kernel path is faster, for
# latency and CPU per op below 1 is better).
#
# Usage: sh tests/vm/bench_vsN.sh [BUILD_DIR] [SECONDS_PER_RUN] [ROUNDS]
#   (defaults: build, 3, 5). BENCH_ENGINES (default "libaio-batch libaio
#   nullb-batch"): the fio cases, each an engine on /dev/vs0 ("libaio",
#   "io_uring") or "nullb" (the same fio job on /dev/nullb0: what fio and
#   the guest's block layer cost alone, the floor of the kernel path),
#   with optional suffixes: -batch adds --iodepth_batch_submit=QD
#   --iodepth_batch_complete_max=QD (fio reaps every completion there is
#   and submits their replacements with one io_submit, as vsctl bench's
#   event loop does with one io_uring_enter; at QD1 it changes nothing),
#   -deferN runs with the module's tx_defer=N (libaio-batch-defer0).
#   Plain "libaio" is fio's default: one io_submit per request.
#   BENCH_LAYERED=1: the image is snapshotted after it was written, so
#   reads go through a parent layer (clone/snapshot read cost).
# The guest runs under TCG on a shared host, so single runs are noisy:
# each case runs ROUNDS times per client, the clients alternating, and
# the table gives medians (with the min..max of IOPS). CPU per op is the
# whole guest's busy time (both vCPUs: client, OSDs, etcd, softirq) over
# the ops of the run, so it compares what each client path costs the
# machine. Absolute numbers say little about real hardware; the ratios
# between the two clients are the result.
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-build}
SECS=${2:-3}
ROUNDS=${3:-5}
ENGINES=${BENCH_ENGINES:-libaio-batch libaio nullb-batch}
for b in vstor-osd vstor-disk vsctl; do
	[ -x "$BUILD/$b" ] || { echo "bench_vsN: $BUILD/$b not built (run make)" >&2; exit 1; }
done
keep=$(mktemp -d "${TMPDIR:-/tmp}/vstor-bench.XXXXXX") || exit 1
trap 'rm -rf "$keep"' EXIT
echo "# host load before: $(uptime)"
VM_MEM=2048 VM_TIMEOUT=3000 GUEST_TIMEOUT=2900 VM_KEEP="$keep/out" \
VM_MODS="brd null_blk" \
VM_BINS="/usr/bin/etcd /usr/bin/fio $BUILD/vstor-osd=/usr/bin/vstor-osd
 $BUILD/vstor-disk=/usr/bin/vstor-disk $BUILD/vsctl=/usr/bin/vsctl" \
VM_APPEND="BENCH_SECONDS=$SECS BENCH_ROUNDS=$ROUNDS BENCH_ENGINES=$(echo $ENGINES | tr " " ,) BENCH_LAYERED=${BENCH_LAYERED:-0}" \
	sh tests/vm/run-vm.sh tests/vm/bench_guest.sh tests/vm/guest_lib.sh >"$keep/log" 2>&1
rc=$?
echo "# host load after:  $(uptime)"
[ -f "$keep/out/guest-uptime" ] && echo "# guest load at the end: $(cat "$keep/out/guest-uptime")"
if [ $rc -ne 0 ]; then
	cat "$keep/log"
	exit 1
fi
[ -n "${BENCH_KEEP:-}" ] && mkdir -p "$BENCH_KEEP" && cp -r "$keep/out/." "$BENCH_KEEP/"
python3 - "$keep/out" "$SECS" "$ROUNDS" "$ENGINES" <<'PY'
import json, os, statistics, sys
d, secs, rounds, engines = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split()
HZ = 100  # USER_HZ of /proc/stat
ticks = {}
segs = {}
for line in open(os.path.join(d, "cpu.txt")):
    kind, t, qd, r, n, s = line.split()
    ticks[(kind, t, qd, r)] = int(n)
    segs[(kind, t, qd, r)] = int(s)

def runs(kind, t, qd):
    out = []
    for r in range(1, rounds + 1):
        p = os.path.join(d, f"{kind}-{t}-{qd}-{r}.json")
        if not os.path.exists(p):
            continue
        j = json.load(open(p))
        if kind.startswith("fio"):
            x = j["jobs"][0][t]
            iops, lat, ops = x["iops"], x["lat_ns"]["mean"] / 1000.0, x["total_ios"]
        else:
            x = j["total"]
            iops, lat, ops = x["iops"], x["lat_us"]["mean"], x["ops"]
        n = ticks.get((kind, t, str(qd), str(r)))
        cpu = n * 1e6 / HZ / ops if n is not None and ops else float("nan")
        sg = segs.get((kind, t, str(qd), str(r)))
        sg = sg / ops if sg is not None and ops else float("nan")
        out.append((iops, lat, cpu, sg))
    return out

def med(rs, i):
    return statistics.median(r[i] for r in rs)

print(f"# 4 KiB random, medians of {rounds} runs of {secs} s per client (IOPS min..max in brackets),")
print("# replicated x3 pool on 3 OSDs (brd RAM disks) in one 2-vCPU TCG guest; CPU = whole-guest busy time per op;")
print("# segs/op = TCP segments sent in the guest per op (requests, replies, replication, ACKs)")
print("| case | client | IOPS | mean latency | CPU/op | segs/op | IOPS ratio | latency ratio | CPU/op ratio |")
print("|---|---|---|---|---|---|---|---|---|")
def label(e):
    w = e.split("-")
    s = "/dev/nullb0 fio libaio" if w[0] == "nullb" else "/dev/vs0 fio " + w[0]
    for x in w[1:]:
        s += " batched" if x == "batch" else " tx_defer=" + x[5:]
    return s + " (floor)" if w[0] == "nullb" else s

for t in ("read", "write"):
    for qd in (1, 32):
        b = runs("bench", t, qd)
        bi, bl, bc = med(b, 0), med(b, 1), med(b, 2)
        name = f"T1Q{qd} {t}"
        print(f"| {name} | vsctl bench | {bi:.0f} [{min(r[0] for r in b):.0f}..{max(r[0] for r in b):.0f}]"
              f" | {bl:.0f} us | {bc:.0f} us | {med(b, 3):.2f} | 1 | 1 | 1 |")
        for e in engines:
            f = runs(f"fio_{e}", t, qd)
            fi, fl, fc = med(f, 0), med(f, 1), med(f, 2)
            print(f"| {name} | {label(e)} | {fi:.0f} [{min(r[0] for r in f):.0f}..{max(r[0] for r in f):.0f}]"
                  f" | {fl:.0f} us | {fc:.0f} us | {med(f, 3):.2f} | {fi / bi:.2f}x | {fl / bl:.2f}x | {fc / bc:.2f}x |")
PY

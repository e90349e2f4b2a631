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
#   -cminN adds --iodepth_batch_complete_min=N (at most QD: fio sleeps
#   until N requests completed and resubmits them together, so the OSDs
#   get batches of N, as vsctl bench's do when its replies come in one
#   receive),
#   -deferN runs with the module's tx_defer=N (libaio-batch-defer0),
#   -rxworkN with its rx_work=N (both also for "blk": blk-rxwork1),
#   -hipri (io_uring only) polls for completions (--hipri): the requests
#   go to the device's poll queue, whose replies fio's thread parses
#   itself (module parameter poll_queues); -fixed (io_uring only):
#   --fixedbufs --registerfiles (buffers registered and pinned once, as
#   libvstor's are allocated once, not pinned per I/O); -gtod:
#   --gtod_reduce=1 (no per-I/O clock reads and latency stats in fio: its
#   IOPS only); -norand: --norandommap --randrepeat=0 (no map of the
#   blocks done).
#   Plain "libaio" is fio's default: one io_submit per request. "blk" is
#   not fio but tests/bench/blk_bench: Linux AIO on /dev/vs0 with vsctl
#   bench's event loop and nothing else (a client as light as vsctl
#   bench, to tell fio's own cost from the kernel path's). -lite: fio
#   with --disk_util=0 --disable_slat=1; -nostats: the queue's iostats
#   and wbt off for the run; -thread: fio's --thread (the job a thread of
#   fio's own process, not a child process: fio's helper thread wakes
#   many times a second, and each switch between it and a child process
#   changes the address space, which under TCG likely costs a flush of
#   the emulated TLB; in a 1-vCPU client guest (BENCH_SPLIT) it cut
#   fio's CPU per op at depth 1 read by 28-42%).
#   BENCH_LAYERED=1: the image is snapshotted after it was written, so
#   reads go through a parent layer (clone/snapshot read cost).
#   BENCH_CASES (default "read-1 read-32 write-1 write-32"): TYPE-QD cases.
#   BENCH_PIN=1: etcd and the OSDs pinned to vCPU 1, the client (fio or
#   vsctl bench alike) to vCPU 0, as with a client host apart from the OSD
#   hosts; BENCH_PIN=both runs every case both ways, alternating, and
#   prints both (default 0: no pinning, the client and the OSDs share both
#   vCPUs).
#   BENCH_SPLIT=1: the client host apart from the OSD host, as in a real
#   cluster: etcd and the OSDs in one guest (BENCH_OSD_CPUS vCPUs, default
#   1, tests/vm/bench_osds_guest.sh), fio and vsctl bench in a second
#   (BENCH_CLIENT_CPUS, default 1), the two on QEMU's UDP socket network
#   (a virtio NIC each, BENCH_MTU, default 1500). CPU per op is the client
#   guest's alone: what each client path costs its host. The two QEMUs
#   (a vCPU thread and an I/O thread each) still share the host's cores,
#   so a client's CPU is not wholly apart from the OSDs'. The network (an
#   emulated NIC and host UDP between two QEMUs) is slower than loopback
#   in one guest, the same for both clients. No BENCH_PIN there.
#   BENCH_DISK_LAT_US=N: the OSDs on RAM-backed null_blk disks that
#   complete each request N us after it came (default 0: brd, memory
#   speed). Under TCG the CPU path is some 30x slower than on hardware
#   and brd has no latency at all, so at depth 32 everything is CPU-bound;
#   a disk latency scaled like the CPU gives the regime of real clusters,
#   where the disks and the network, not the client's CPU, set the pace.
#   Memory-backed null_blk costs the OSDs more CPU than brd (a copy and a
#   timer per request).
#   BENCH_CLOCK (default tsc): the guest's clocksource. Under TCG the
#   kernel finds the vCPUs' TSCs "unsynchronized" and falls back to the
#   emulated HPET, whose every read is an MMIO exit (no vDSO: each
#   clock_gettime is a syscall too); real hosts run on the TSC, so the
#   bench boots with tsc=reliable (TCG's TSC is the host's, one clock for
#   all vCPUs). BENCH_CLOCK=hpet keeps the kernel's own choice.
# The guest runs under TCG on a shared host, so single runs are noisy:
# each case runs ROUNDS times per client, the clients alternating, and
# the table gives medians (with the min..max of IOPS). CPU per op is the
# whole guest's busy time (both vCPUs: client, OSDs, etcd, softirq) over
# the ops of the middle of the run (from 1 s in to 0.5 s before its end,
# at the run's IOPS; runs shorter than 3 s whole), so it compares what
# each client path costs the machine, without the clients' start-up. Absolute numbers say little about real hardware; the ratios
# between the two clients are the result.
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-build}
SECS=${2:-3}
ROUNDS=${3:-5}
ENGINES=${BENCH_ENGINES:-libaio-batch libaio nullb-batch}
for b in vstor-osd vstor-disk vsctl tests/bench/blk_bench; do
	[ -x "$BUILD/$b" ] || { echo "bench_vsN: $BUILD/$b not built (run make)" >&2; exit 1; }
done
keep=$(mktemp -d "${TMPDIR:-/tmp}/vstor-bench.XXXXXX") || exit 1
trap 'rm -rf "$keep"' EXIT
echo "# host load before: $(uptime)"
APPEND="BENCH_SECONDS=$SECS BENCH_ROUNDS=$ROUNDS BENCH_ENGINES=$(echo $ENGINES | tr " " ,) BENCH_LAYERED=${BENCH_LAYERED:-0} BENCH_PIN=${BENCH_PIN:-0} BENCH_DISK_LAT_US=${BENCH_DISK_LAT_US:-0} BENCH_CASES=$(echo ${BENCH_CASES:-read-1 read-32 write-1 write-32} | tr " " ,)"
BINS="/usr/bin/etcd /usr/bin/fio $BUILD/vstor-osd=/usr/bin/vstor-osd
 $BUILD/vstor-disk=/usr/bin/vstor-disk $BUILD/vsctl=/usr/bin/vsctl
 $BUILD/tests/bench/blk_bench=/usr/bin/blk_bench"
vm() {	# SCRIPT: run-vm.sh with the bench's settings (and the caller's VM_*)
	VM_CLOCK=${BENCH_CLOCK:-tsc} VM_MEM=2048 VM_TIMEOUT=3000 GUEST_TIMEOUT=2900 \
	VM_MODS="brd null_blk" VM_BINS="$BINS" VM_APPEND="$APPEND" \
		sh tests/vm/run-vm.sh "$1" tests/vm/guest_lib.sh
}
SPLIT=${BENCH_SPLIT:-0}
if [ "$SPLIT" = 1 ]; then
	# two guests on QEMU's socket network, a UDP port each
	ports=$(python3 -c 'import socket
s = [socket.socket(type=socket.SOCK_DGRAM) for i in (0, 1)]
for x in s: x.bind(("127.0.0.1", 0))
print(*(x.getsockname()[1] for x in s))')
	p1=${ports% *} p2=${ports#* }
	APPEND="$APPEND GUEST_ETCD=10.0.2.1:2379 BENCH_SPLIT=1"
	VM_MTU=${BENCH_MTU:-1500}
	export VM_MTU
	VM_KEEP="$keep/osds" VM_SMP=${BENCH_OSD_CPUS:-1} VM_IP=10.0.2.1/24 \
		VM_NET=udp=127.0.0.1:$p2,localaddr=127.0.0.1:$p1 \
		vm tests/vm/bench_osds_guest.sh >"$keep/osds.log" 2>&1 &
	opid=$!
	# its QEMU, known by its port (a background function is a subshell)
	osd_qemu="localaddr=127.0.0.1:$p1 "
	stop_osds() { pkill -f "$osd_qemu" 2>/dev/null; }
	trap 'stop_osds; rm -rf "$keep"' EXIT
	# the client guest waits for the cluster (bench_guest.sh); start it
	# once the OSD guest's module build is done (one make at a time)
	i=0
	until pgrep -f "$osd_qemu" >/dev/null; do
		i=$((i + 1))
		if [ $i -gt 600 ] || ! kill -0 $opid 2>/dev/null; then
			cat "$keep/osds.log"
			echo "bench_vsN: the OSD guest did not start" >&2
			exit 1
		fi
		sleep 0.5
	done
	VM_KEEP="$keep/out" VM_SMP=${BENCH_CLIENT_CPUS:-1} VM_IP=10.0.2.2/24 \
		VM_NET=udp=127.0.0.1:$p1,localaddr=127.0.0.1:$p2 vm tests/vm/bench_guest.sh >"$keep/log" 2>&1
	rc=$?
	# the OSD guest stops when the client says it is done; not if it failed
	i=0
	while kill -0 $opid 2>/dev/null && [ $i -lt 240 ]; do sleep 0.5; i=$((i + 1)); done
	stop_osds
	wait $opid 2>/dev/null
	grep '^# OSD CPU\|^FAIL' "$keep/osds.log" | sed 's/^/# OSD guest: /'
else
	VM_KEEP="$keep/out" vm tests/vm/bench_guest.sh >"$keep/log" 2>&1
	rc=$?
fi
echo "# host load after:  $(uptime)"
[ -f "$keep/out/guest-uptime" ] && echo "# guest load at the end: $(cat "$keep/out/guest-uptime")"
grep '^# clocksource\|^# OSD disks\|^# ping\|^# client guest' "$keep/log"
if [ $rc -ne 0 ]; then
	cat "$keep/log"
	exit 1
fi
[ -n "${BENCH_KEEP:-}" ] && mkdir -p "$BENCH_KEEP" && cp -r "$keep/out/." "$BENCH_KEEP/"
split=""
[ "$SPLIT" = 1 ] && split="${BENCH_OSD_CPUS:-1} ${BENCH_CLIENT_CPUS:-1}"
python3 - "$keep/out" "$SECS" "$ROUNDS" "$ENGINES" "${BENCH_DISK_LAT_US:-0}" "$split" <<'PY'
import json, os, statistics, sys
d, secs, rounds, engines = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split()
split = sys.argv[6].split()
disks = "brd RAM disks" if sys.argv[5] == "0" else f"null_blk disks of {sys.argv[5]} us"
HZ = 100  # USER_HZ of /proc/stat
ticks = {}
segs = {}
extra = {}  # OSD ticks, context switches, interrupts
for line in open(os.path.join(d, "cpu.txt")):
    kind, t, qd, r, n, s, *x = line.split()
    ticks[(kind, t, qd, r)] = int(n)
    segs[(kind, t, qd, r)] = int(s)
    extra[(kind, t, qd, r)] = [int(v) for v in x]

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
            if not lat and iops:  # gtod_reduce: no latencies; Little's law
                lat = int(qd) * 1e6 / iops
        else:
            x = j["total"]
            iops, lat, ops = x["iops"], x["lat_us"]["mean"], x["ops"]
        n = ticks.get((kind, t, str(qd), str(r)))
        x = extra.get((kind, t, str(qd), str(r))) or [float("nan")] * 4
        # the counters cover a window of the run (bench_guest.sh windowed):
        # its ops at the run's rate; 0 = the whole run
        if len(x) > 3 and x[3] > 0:
            ops = iops * x[3] / 1000.0
        cpu = n * 1e6 / HZ / ops if n is not None and ops else float("nan")
        sg = segs.get((kind, t, str(qd), str(r)))
        sg = sg / ops if sg is not None and ops else float("nan")
        osd = x[0] * 1e6 / HZ / ops if ops and not split else float("nan")
        out.append((iops, lat, cpu, sg, osd, x[1] / ops, x[2] / ops))
    return out

def med(rs, i):
    return statistics.median(r[i] for r in rs)

print(f"# 4 KiB random, medians of {rounds} runs of {secs} s per client (IOPS min..max in brackets),")
if split:
    print(f"# replicated x3 pool on 3 OSDs ({disks}) in a {split[0]}-vCPU TCG guest, the clients in another of")
    print(f"# {split[1]} vCPU (QEMU socket network); CPU = the client guest's busy time per op (no OSDs there)")
else:
    print(f"# replicated x3 pool on 3 OSDs ({disks}) in one 2-vCPU TCG guest; CPU = whole-guest busy time per op")
print("# over the middle of each run (from 1 s in to 0.5 s before its end: no client start-up or exit);")
print("# segs/op = TCP segments sent in the guest per op (requests, replies, replication, ACKs);")
print("# OSD/op = the OSD processes' CPU (with the softirq work done in their context); cs, intr = per op")
print("# +pin: etcd and the OSDs on vCPU 1, the client on vCPU 0 (BENCH_PIN); ratios against vsctl bench")
print("# in the same mode; per-pair = the median [min..max] of the ratios of the runs of one round")
print("| case | client | IOPS | mean latency | CPU/op | OSD/op | segs/op | cs/op | intr/op | IOPS ratio | per-pair | latency ratio | CPU/op ratio |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
def label(e):
    w = e.split("-")
    words = {"batch": " batched", "hipri": " polled", "fixed": " fixedbufs", "gtod": " gtod_reduce", "norand": " norandommap", "lite": " lite", "nostats": " nostats", "thread": " thread"}
    def word(x):
        if x.startswith("rxwork"):
            return " rx_work=" + x[6:]
        if x.startswith("cmin"):
            return " complete_min=" + x[4:]
        return words.get(x) or " tx_defer=" + x[5:]
    s = {"blk": "/dev/vs0 blk_bench (libaio, minimal)",
         "nullb": "/dev/nullb0 fio libaio"}.get(w[0], "/dev/vs0 fio " + w[0])
    s += "".join(word(x) for x in w[1:])
    return s + " (floor)" if w[0] == "nullb" else s

def row(name, client, rs, b=None):
    i, l, c = med(rs, 0), med(rs, 1), med(rs, 2)
    s = (f"| {name} | {client} | {i:.0f} [{min(r[0] for r in rs):.0f}..{max(r[0] for r in rs):.0f}]"
         f" | {l:.0f} us | {c:.0f} us | {med(rs, 4):.0f} us | {med(rs, 3):.2f} | {med(rs, 5):.2f}"
         f" | {med(rs, 6):.2f} |")
    if b is None:
        return s + " 1 | | 1 | 1 |"
    pr = [f[0] / g[0] for f, g in zip(rs, b)]
    return s + (f" {i / med(b, 0):.2f}x | {statistics.median(pr):.2f}x [{min(pr):.2f}..{max(pr):.2f}]"
                f" | {l / med(b, 1):.2f}x | {c / med(b, 2):.2f}x |")

for t in ("read", "write"):
    for qd in (1, 32):
        for sfx in ("", "+pin"):
            b = runs("bench" + sfx, t, qd)
            if not b:
                continue
            name = f"T1Q{qd} {t}{sfx}"
            print(row(name, "vsctl bench", b))
            for e in engines:
                f = runs((e if e.split("-")[0] == "blk" else f"fio_{e}") + sfx, t, qd)
                if len(f) == len(b):
                    print(row(name, label(e), f, b))
PY

#!/bin/sh
# Cluster benchmark (not a timed test): a real etcd + 3 vstor-osd on files
# (immediate_commit all), replicated pg_size 2 and 3, driven by `vsctl
# bench`, against the physical floor measured in the same run on the same
# filesystem (tests/bench/raw_floor: O_DIRECT disk, loopback TCP ping-pong).
# Prints a table of the six seed tests with ratios to the floor, the OSD CPU
# time per client op and the machine load.
#
# Usage: tests/bench/cluster_bench.sh [--seconds S] [--floor-seconds S]
#          [--pg-sizes "2 3"] [--osd-mib M] [--image-mib M] [--dir DIR]
#          [--build DIR] [--json FILE] [--keep]
#   --seconds S        per cluster test (default 10)
#   --floor-seconds S  per floor case (default 3)
#   --pg-sizes LIST    replicated pool sizes to run, one cluster each (2 3)
#   --osd-mib M        OSD file size (default 1536); files are written
#                      with zeroes first, so this much disk is used per OSD
#   --image-mib M      image size (default 1024); the image is filled with
#                      4 MiB writes before the tests so reads hit the disk
#   --dir DIR          where the files go: a path that does not exist yet
#                      (default: a new dir in $TMPDIR or /var/tmp); it is
#                      removed at the end
#   --build DIR        prebuilt binaries (default: `make` into build/)
#   --json FILE        also write every result as JSON lines to FILE
#   --keep             leave the last cluster running; print how to use and
#                      stop it
#
# Floors (same run, same filesystem; each test is compared with its floor
# cases measured right before and right after it, since a shared disk
# drifts; the summary lines give the medians of all runs): T1Q1 write = 2 loopback RTTs (4 KiB
# request) + 1 4 KiB RWF_DSYNC write; T1Q1 read = 1 RTT (4 KiB reply) + 1
# 4 KiB O_DIRECT read, from the means and from the medians of the parts
# (shown as mean/median; the median is steadier on a shared disk). The Q128
# and 4 MiB floors are the raw disk's IOPS and MB/s at the same depth,
# divided by pg_size for writes (every replica is on this one disk). Ratio
# = how many times the floor: latency / floor latency (mean/median), floor
# rate / rate; 1.0 is the floor. OSD CPU = utime+stime of all OSD processes
# (/proc/PID/stat, all threads) during the test / client ops.
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/cluster.sh

SECS=10 FSECS=3 PGS="2 3" OSD_MIB=1536 IMG_MIB=1024 DIR= BUILD= JSON= KEEP=0
usage() { sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--seconds) SECS=$2; shift ;;
	--floor-seconds) FSECS=$2; shift ;;
	--pg-sizes) PGS=$2; shift ;;
	--osd-mib) OSD_MIB=$2; shift ;;
	--image-mib) IMG_MIB=$2; shift ;;
	--dir) DIR=$2; shift ;;
	--build) BUILD=$2; shift ;;
	--json) JSON=$2; shift ;;
	--keep) KEEP=1 ;;
	-h|--help) usage ;;
	*) echo "cluster_bench: unknown argument $1" >&2; usage ;;
	esac
	shift || usage
done
for n in "$SECS" "$FSECS" "$OSD_MIB" "$IMG_MIB"; do
	case $n in ''|*[!0-9.]*) echo "cluster_bench: not a number: $n" >&2; exit 2 ;; esac
done
[ "$OSD_MIB" -ge $((IMG_MIB + 256)) ] ||
	{ echo "cluster_bench: --osd-mib must exceed --image-mib by 256 or more" >&2; exit 2; }

if [ -z "$BUILD" ]; then
	BUILD=build
	make -s -j"$(nproc 2>/dev/null || echo 2)" >/dev/null ||
		{ echo "cluster_bench: the build failed; run make to see why" >&2; exit 1; }
fi
for b in vsctl vstor-osd vstor-disk tests/bench/raw_floor; do
	[ -x "$BUILD/$b" ] || { echo "cluster_bench: $BUILD/$b is missing (make)" >&2; exit 1; }
done

if [ -z "$DIR" ]; then
	base=${TMPDIR:-/var/tmp}
	DIR=$(mktemp -d "$base/vstor-bench.XXXXXX") || exit 1
elif [ -e "$DIR" ]; then
	# it is removed at the end, so it must be ours
	echo "cluster_bench: --dir $DIR exists; give a new path" >&2
	exit 2
else
	mkdir -p "$DIR" || exit 1
fi
RES="$DIR/results.jsonl"
: >"$RES"
CUR=
cleanup() {
	if [ "$KEEP" = 1 ] && [ -n "$CUR" ]; then
		return
	fi
	vc_stop
	rm -rf "$DIR"
}
trap cleanup EXIT
trap 'echo "cluster_bench: interrupted" >&2; exit 130' INT TERM HUP

HZ=$(getconf CLK_TCK)
osd_ticks() {
	_t=0
	for _p in $(cat "$VC_DIR"/osd*.pid); do
		_t=$((_t + $(awk '{print $14 + $15}' "/proc/$_p/stat")))
	done
	echo "$_t"
}
cpu_busy() { awk '/^cpu /{print $2+$3+$4+$7+$8" "$2+$3+$4+$5+$6+$7+$8+$9" "$9}' /proc/stat; }

say() { echo "$*" >&2; }

load0=$(cut -d' ' -f1-3 /proc/loadavg)
stat0=$(cpu_busy)
say "cluster_bench: $(nproc) CPUs, kernel $(uname -r), commit $(git rev-parse --short HEAD 2>/dev/null || echo ?), load $load0"
say "cluster_bench: files in $DIR ($(df -hT "$DIR" | awk 'NR==2{print $2" on "$1}'))"

# ---- the floor ----
floor() {
	say "floor: raw disk (${FSECS}s per case) and loopback TCP"
	if [ ! -f "$DIR/raw.img" ]; then
		# as large as an OSD file (at most 1 GiB), written like one
		dd if=/dev/zero of="$DIR/raw.img" bs=4M \
			count=$(( (OSD_MIB < 1024 ? OSD_MIB : 1024) / 4 )) conv=fsync status=none ||
			exit 1
	fi
	"$BUILD/tests/bench/raw_floor" disk "$DIR/raw.img" "$FSECS" >>"$RES.floor" || exit 1
	"$BUILD/tests/bench/raw_floor" net "$FSECS" >>"$RES.floor" || exit 1
}

# floor_for TAG TEST: the floor cases of one test, tagged (the disk is
# shared and its speed drifts, so each test is compared with the floor
# measured right before and right after it)
floor_for() {
	case $2 in
	t1q1_randwrite) _d=disk_write4k_dsync_q1 _n=net_rtt_4k_request ;;
	t1q1_randread) _d=disk_read4k_q1 _n=net_rtt_4k_reply ;;
	q128_randwrite) _d=disk_write4k_dsync_q128 _n= ;;
	q128_randread) _d=disk_read4k_q128 _n= ;;
	seq4m_q32_write) _d=disk_write4m_dsync_q32 _n= ;;
	seq4m_q32_read) _d=disk_read4m_q32 _n= ;;
	esac
	{
		"$BUILD/tests/bench/raw_floor" disk "$DIR/raw.img" "$FSECS" $_d || exit 1
		[ -z "$_n" ] || "$BUILD/tests/bench/raw_floor" net "$FSECS" $_n || exit 1
	} | sed "s/^{/{\"tag\":\"$1\",/" >>"$RES.floor"
}

# bench_one PG NAME ARGS...: one vsctl bench with the OSD CPU around it,
# between two measurements of its floor
bench_one() {
	_pg=$1 _name=$2
	shift 2
	floor_for "$_pg:$_name" "$_name"
	_c0=$(osd_ticks)
	_out=$(vc_vsctl bench img --json "$@") || { say "bench $_name failed"; exit 1; }
	_c1=$(osd_ticks)
	echo "{\"pg_size\":$_pg,\"test\":\"$_name\",\"osd_cpu_s\":$(echo "$_c0 $_c1 $HZ" |
		awk '{printf "%.3f", ($2 - $1) / $3}'),\"bench\":$_out}" >>"$RES"
	floor_for "$_pg:$_name" "$_name"
	say "  $_name: $(echo "$_out" | python3 -c 'import json,sys; t=json.load(sys.stdin)["total"]; print("%.0f IOPS, %.1f MB/s, mean %.0f us, p99 %.0f us" % (t["iops"], t["mbps"], t["lat_us"]["mean"], t["lat_us"]["p99"]))')"
}

run_cluster() {
	_pg=$1
	CUR="$DIR/c$_pg"
	say "cluster: etcd + 3 OSDs (${OSD_MIB} MiB files), pool pg_size $_pg, image ${IMG_MIB} MiB"
	vc_start "$CUR" "$BUILD" 3 "$OSD_MIB" || exit 1
	vc_pool bench "$_pg" $((_pg > 1 ? _pg - 1 : 1)) 32 || exit 1
	vc_vsctl create img --size "${IMG_MIB}M" >/dev/null || exit 1
	say "  filling the image (4 MiB writes, depth 32)"
	vc_vsctl bench img --io-type write --io-size 4M --io-depth 32 \
		--io-total "${IMG_MIB}M" --json >/dev/null || exit 1
	S=$SECS
	bench_one "$_pg" t1q1_randwrite --io-type write --io-pattern rand --io-depth 1 --seconds "$S"
	bench_one "$_pg" t1q1_randread --io-type read --io-pattern rand --io-depth 1 --seconds "$S"
	bench_one "$_pg" q128_randwrite --io-type write --io-pattern rand --io-depth 128 --seconds "$S"
	bench_one "$_pg" q128_randread --io-type read --io-pattern rand --io-depth 128 --seconds "$S"
	bench_one "$_pg" seq4m_q32_write --io-type write --io-size 4M --io-depth 32 --seconds "$S"
	bench_one "$_pg" seq4m_q32_read --io-type read --io-size 4M --io-depth 32 --seconds "$S"
}

last=
for pg in $PGS; do last=$pg; done
floor
for pg in $PGS; do
	run_cluster "$pg"
	if [ "$pg" != "$last" ] || [ "$KEEP" = 0 ]; then
		vc_stop
		CUR=
	fi
done
rm -f "$DIR/raw.img"

load1=$(cut -d' ' -f1-3 /proc/loadavg)
stat1=$(cpu_busy)
LOADS="$load0|$load1|$stat0|$stat1|$SECS|$FSECS" python3 - "$RES" <<'EOF'
import json, os, sys

res = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
floors = {}
for l in open(sys.argv[1] + ".floor"):
    if l.strip():
        f = json.loads(l)
        floors.setdefault(f["name"], []).append(f)

def fl(name, key, sub=None, tag=None):
    """the mean of the runs tagged for one test (before and after it), else
    the median of all runs of this case"""
    runs = [f for f in floors[name] if tag and f.get("tag") == tag]
    v = sorted((f[key][sub] if sub else f[key]) for f in (runs or floors[name]))
    return sum(v) / len(v) if runs else v[len(v) // 2]

def parts(q, tag=None):
    return (fl("net_rtt_4k_request", "lat_us", q, tag), fl("net_rtt_4k_reply", "lat_us", q, tag),
            fl("disk_write4k_dsync_q1", "lat_us", q, tag), fl("disk_read4k_q1", "lat_us", q, tag))

tests = {
    "t1q1_randwrite": "T1Q1 4k randwrite (sync)",
    "t1q1_randread": "T1Q1 4k randread",
    "q128_randwrite": "Q128 4k randwrite",
    "q128_randread": "Q128 4k randread",
    "seq4m_q32_write": "4M Q32 write",
    "seq4m_q32_read": "4M Q32 read",
}
rows = [("test", "pg", "IOPS", "MB/s", "lat mean", "p50", "p99 us", "floor", "x floor",
         "OSD CPU us/op", "client us/op")]
for r in res:
    t, pg, name = r["bench"]["total"], r["pg_size"], r["test"]
    tag = "%d:%s" % (pg, name)
    ops = max(t["ops"], 1)
    lat = t["lat_us"]
    w = "write" in name
    if name.startswith("t1q1"):
        # latency floors from the mean and the median of the parts
        fm = [2 * p[0] + p[2] if w else p[1] + p[3]
              for p in (parts("mean", tag), parts("p50", tag))]
        ftxt = "%.0f/%.0f us" % (fm[0], fm[1])
        ratio = "%.2f/%.2f" % (lat["mean"] / fm[0], lat["p50"] / fm[1])
    elif name.startswith("q128"):
        f = fl("disk_write4k_dsync_q128" if w else "disk_read4k_q128", "iops", None, tag) / \
            (pg if w else 1)
        ftxt, ratio = "%.0f IOPS" % f, "%.2f" % (f / max(t["iops"], 1e-9))
    else:
        f = fl("disk_write4m_dsync_q32" if w else "disk_read4m_q32", "mbps", None, tag) / \
            (pg if w else 1)
        ftxt, ratio = "%.0f MB/s" % f, "%.2f" % (f / max(t["mbps"], 1e-9))
    rows.append((tests[name], str(pg), "%.0f" % t["iops"], "%.1f" % t["mbps"],
                 "%.0f" % lat["mean"], "%.0f" % lat["p50"], "%.0f" % lat["p99"], ftxt, ratio,
                 "%.1f" % (r["osd_cpu_s"] * 1e6 / ops), "%.1f" % r["bench"]["client_cpu_us_per_op"]))
rtt_w, rtt_r, dw, dr = parts("mean")
w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
print()
for i, r in enumerate(rows):
    print("  ".join(c.ljust(w[k]) if k < 2 else c.rjust(w[k]) for k, c in enumerate(r)))
    if i == 0:
        print("  ".join("-" * x for x in w))
l0, l1, s0, s1, secs, fsecs = os.environ["LOADS"].split("|")
b0, t0, st0 = map(int, s0.split()); b1, t1, st1 = map(int, s1.split())
print()
print("floor parts (mean us): RTT 4k request %.1f, RTT 4k reply %.1f, disk 4k DSYNC write %.1f "
      "(x2 parallel %.1f, x3 %.1f), disk 4k read %.1f" % (rtt_w, rtt_r, dw,
      fl("disk_write4k_dsync_x2_q1", "lat_us", "mean"), fl("disk_write4k_dsync_x3_q1", "lat_us", "mean"), dr))
print("raw disk: Q128 4k DSYNC write %.0f IOPS, Q128 4k read %.0f IOPS, 4M Q32 DSYNC write %.0f MB/s, "
      "4M Q32 read %.0f MB/s" % (fl("disk_write4k_dsync_q128", "iops"), fl("disk_read4k_q128", "iops"),
      fl("disk_write4m_dsync_q32", "mbps"), fl("disk_read4m_q32", "mbps")))
print("raw CPU per op (utime+stime incl. io-wq): 4k DSYNC write %.1f us, 4k read %.1f us, "
      "Q128 4k DSYNC write %.1f us, Q128 4k read %.1f us, TCP round trip %.1f us per side"
      % (fl("disk_write4k_dsync_q1", "cpu_us_per_op"), fl("disk_read4k_q1", "cpu_us_per_op"),
         fl("disk_write4k_dsync_q128", "cpu_us_per_op"), fl("disk_read4k_q128", "cpu_us_per_op"),
         fl("net_rtt_4k_request", "cpu_us_per_op")))
print("run: %s s per test, %s s per floor case; load average %s before, %s after; "
      "CPU busy %.0f%%, steal %.1f%% over the run" % (secs, fsecs, l0, l1,
      100.0 * (b1 - b0) / max(t1 - t0, 1), 100.0 * (st1 - st0) / max(t1 - t0, 1)))
EOF
rc=$?
[ -n "$JSON" ] && cat "$RES.floor" "$RES" >"$JSON"
if [ "$KEEP" = 1 ] && [ -n "$CUR" ]; then
	vc_stop_script "$CUR/stop.sh"
	echo "rmdir \"$DIR\" 2>/dev/null" >>"$CUR/stop.sh"
	cat <<EOF

The cluster is still running (etcd 127.0.0.1:$VC_ETCD_PORT, 3 OSDs, files in $CUR).
Use it with:
  $BUILD/vsctl --etcd_address 127.0.0.1:$VC_ETCD_PORT status
  $BUILD/vsctl --etcd_address 127.0.0.1:$VC_ETCD_PORT ls
  $BUILD/vsctl --etcd_address 127.0.0.1:$VC_ETCD_PORT bench img --io-type read --io-pattern rand --seconds 10
Stop it and remove its files with:
  sh $CUR/stop.sh
EOF
	rm -f "$RES" "$RES.floor"
fi
exit $rc

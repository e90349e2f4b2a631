#!/bin/sh
# EC vs replicated cluster benchmark (not a timed test): one real etcd + 3
# vstor-osd on files (immediate_commit all), two pools on the same OSDs in
# the same run: "ec" (scheme ec, pg_size 3, parity_chunks 1: 2+1) and "rep"
# (replicated, pg_size 2 by default: the same one-OSD loss tolerance). The
# six seed tests (vsctl bench) run on each pool's image in turn, test by
# test, so both see the same disk and load; prints one table with ec/rep
# ratios (rates: ec / rep, so < 1 is slower; latency: ec / rep, so > 1 is
# slower) and the OSD CPU per client op.
#
# Usage: tests/bench/ec_cluster_bench.sh [--seconds S] [--rep-size N]
#          [--osd-mib M] [--image-mib M] [--dir DIR] [--build DIR]
#   --seconds S     per test and pool (default 10)
#   --rep-size N    pg_size of the replicated pool (default 2)
#   --osd-mib M     OSD file size (default 1536), written with zeroes first
#   --image-mib M   size of each image (default 512); filled with 4 MiB
#                   writes before the tests so reads hit the disk
#   --dir DIR       a new path for the files (default: in $TMPDIR or
#                   /var/tmp), removed at the end
#   --build DIR     prebuilt binaries (default: `make` into build/)
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/cluster.sh

SECS=10 REP=2 OSD_MIB=1536 IMG_MIB=512 DIR= BUILD=
usage() { sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while [ $# -gt 0 ]; do
	case $1 in
	--seconds) SECS=$2; shift ;;
	--rep-size) REP=$2; shift ;;
	--osd-mib) OSD_MIB=$2; shift ;;
	--image-mib) IMG_MIB=$2; shift ;;
	--dir) DIR=$2; shift ;;
	--build) BUILD=$2; shift ;;
	-h|--help) usage ;;
	*) echo "ec_cluster_bench: unknown argument $1" >&2; usage ;;
	esac
	shift || usage
done
for n in "$SECS" "$REP" "$OSD_MIB" "$IMG_MIB"; do
	case $n in ''|*[!0-9.]*) echo "ec_cluster_bench: not a number: $n" >&2; exit 2 ;; esac
done
[ "$OSD_MIB" -ge $((IMG_MIB * 2 + 256)) ] ||
	{ echo "ec_cluster_bench: --osd-mib must exceed 2 x --image-mib by 256" >&2; exit 2; }
if [ -z "$BUILD" ]; then
	BUILD=build
	make -s -j2 >/dev/null || { echo "ec_cluster_bench: the build failed" >&2; exit 1; }
fi
if [ -z "$DIR" ]; then
	DIR=$(mktemp -d "${TMPDIR:-/var/tmp}/vstor-ecbench.XXXXXX") || exit 1
elif [ -e "$DIR" ]; then
	echo "ec_cluster_bench: --dir $DIR exists; give a new path" >&2
	exit 2
fi
RES="$DIR/results.jsonl"
trap 'vc_stop; rm -rf "$DIR"' EXIT
trap 'echo "ec_cluster_bench: interrupted" >&2; exit 130' INT TERM HUP
say() { echo "$*" >&2; }
HZ=$(getconf CLK_TCK)
osd_ticks() {
	_t=0
	for _p in $(cat "$VC_DIR"/osd*.pid); do
		_t=$((_t + $(awk '{print $14 + $15}' "/proc/$_p/stat")))
	done
	echo "$_t"
}

say "ec_cluster_bench: $(nproc) CPUs, kernel $(uname -r), commit $(git rev-parse --short HEAD 2>/dev/null || echo ?), load $(cut -d' ' -f1-3 /proc/loadavg)"
vc_start "$DIR/c" "$BUILD" 3 "$OSD_MIB" || exit 1
: >"$RES"
vc_vsctl pool create rep --scheme replicated --pg_size "$REP" --pg_minsize 1 \
	--pg_count 32 >/dev/null || exit 1
vc_vsctl pool create ec --scheme ec --pg_size 3 --parity_chunks 1 --pg_minsize 2 \
	--pg_count 32 >/dev/null || exit 1
vc_vsctl pg place --static >/dev/null || exit 1
vc_wait 60 vc_pgs_active || { vc_vsctl status >&2; exit 1; }
for p in rep ec; do
	vc_vsctl create "img-$p" --size "${IMG_MIB}M" --pool "$p" >/dev/null || exit 1
	say "filling img-$p (4 MiB writes, depth 32)"
	vc_vsctl bench "img-$p" --io-type write --io-size 4M --io-depth 32 \
		--io-total "${IMG_MIB}M" --json >/dev/null || exit 1
done

bench() {
	_name=$1
	shift
	for _p in rep ec; do
		_c0=$(osd_ticks)
		_out=$(vc_vsctl bench "img-$_p" --json --seconds "$SECS" "$@") ||
			{ say "bench $_name on $_p failed"; exit 1; }
		_c1=$(osd_ticks)
		echo "{\"pool\":\"$_p\",\"test\":\"$_name\",\"osd_cpu_s\":$(echo "$_c0 $_c1 $HZ" |
			awk '{printf "%.3f", ($2 - $1) / $3}'),\"bench\":$_out}" >>"$RES"
		say "  $_name $_p: $(echo "$_out" | python3 -c 'import json,sys; t=json.load(sys.stdin)["total"]; print("%.0f IOPS, %.1f MB/s, mean %.0f us" % (t["iops"], t["mbps"], t["lat_us"]["mean"]))')"
	done
}
bench t1q1_randwrite --io-type write --io-pattern rand --io-depth 1
bench t1q1_randread --io-type read --io-pattern rand --io-depth 1
bench q128_randwrite --io-type write --io-pattern rand --io-depth 128
bench q128_randread --io-type read --io-pattern rand --io-depth 128
bench seq4m_q32_write --io-type write --io-size 4M --io-depth 32
bench seq4m_q32_read --io-type read --io-size 4M --io-depth 32

REP=$REP python3 - "$RES" <<'EOF'
import json, os, sys

res = {}
for l in open(sys.argv[1]):
    if l.strip():
        r = json.loads(l)
        res[(r["test"], r["pool"])] = r
names = [("t1q1_randwrite", "T1Q1 4k randwrite"), ("t1q1_randread", "T1Q1 4k randread"),
         ("q128_randwrite", "Q128 4k randwrite"), ("q128_randread", "Q128 4k randread"),
         ("seq4m_q32_write", "4M Q32 write"), ("seq4m_q32_read", "4M Q32 read")]
rows = [("test", "rep IOPS", "rep MB/s", "rep lat us", "ec IOPS", "ec MB/s", "ec lat us",
         "ec/rep rate", "ec/rep lat", "OSD CPU us/op rep", "ec")]
for key, title in names:
    a, b = res[(key, "rep")], res[(key, "ec")]
    ta, tb = a["bench"]["total"], b["bench"]["total"]
    cpu = lambda r, t: r["osd_cpu_s"] * 1e6 / max(t["ops"], 1)
    rows.append((title, "%.0f" % ta["iops"], "%.1f" % ta["mbps"], "%.0f" % ta["lat_us"]["mean"],
                 "%.0f" % tb["iops"], "%.1f" % tb["mbps"], "%.0f" % tb["lat_us"]["mean"],
                 "%.2f" % (tb["iops"] / max(ta["iops"], 1e-9)),
                 "%.2f" % (tb["lat_us"]["mean"] / max(ta["lat_us"]["mean"], 1e-9)),
                 "%.1f" % cpu(a, ta), "%.1f" % cpu(b, tb)))
w = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
print()
print("ec 2+1 vs replicated pg_size %s, 3 OSDs, immediate_commit all" % os.environ["REP"])
for i, r in enumerate(rows):
    print("  ".join(c.ljust(w[k]) if k == 0 else c.rjust(w[k]) for k, c in enumerate(r)))
    if i == 0:
        print("  ".join("-" * x for x in w))
EOF
say "load after: $(cut -d' ' -f1-3 /proc/loadavg)"

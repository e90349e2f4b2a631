#!/bin/sh
# Per-op OSD cost counts (not a timed test): a real etcd + 3 vstor-osd on
# files (immediate_commit all), one replicated PG of size 3 (so OSD 1..3
# have fixed roles: one primary, two secondaries), T1Q1 4 KiB random writes
# then reads of a fixed op count through `vsctl bench`. Per phase and per
# OSD it prints syscalls/op and io_uring_enter/op (strace -c -f, a spot
# check that slows the OSDs but not what they call per op), voluntary and
# involuntary context switches/op (/proc/PID/status, in a separate run
# without strace), and with --callgrind user-space instructions/op
# (valgrind --tool=callgrind, counting only during the phase).
#
# Usage: tests/bench/osd_syscalls.sh [--ops N] [--build DIR] [--callgrind]
#          [--pg-size N]
#   --ops N       client ops per phase (default 2000)
#   --build DIR   prebuilt binaries (default: `make` into build/)
#   --callgrind   run the OSDs under callgrind and print Ir/op as well
#   --pg-size N   replicas (default 3)
#   --cg-save DIR copy the callgrind profiles there (PHASE.osdN.callgrind)
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/lib/cluster.sh

OPS=2000 BUILD= CG=0 PG=3 CG_SAVE=
while [ $# -gt 0 ]; do
	case $1 in
	--ops) OPS=$2; shift ;;
	--build) BUILD=$2; shift ;;
	--callgrind) CG=1 ;;
	--pg-size) PG=$2; shift ;;
	--cg-save) CG_SAVE=$2; CG=1; shift ;;
	-h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
	*) echo "osd_syscalls: unknown argument $1" >&2; exit 2 ;;
	esac
	shift
done
if [ -z "$BUILD" ]; then
	BUILD=build
	make -s -j2 >/dev/null || { echo "osd_syscalls: the build failed" >&2; exit 1; }
fi
DIR=$(mktemp -d "${TMPDIR:-/var/tmp}/vstor-sysc.XXXXXX") || exit 1
trap 'vc_stop; rm -rf "$DIR"' EXIT
trap 'exit 130' INT TERM HUP

say() { echo "$*" >&2; }
pids() { for i in 1 2 3; do cat "$VC_DIR/osd$i.pid"; done; }
ctxsw() { awk '/^voluntary_ctxt/{v=$2} /^nonvoluntary_ctxt/{n=$2} END{print v, n}' "/proc/$1/status"; }

# phase NAME IOTYPE MODE: one vsctl bench of $OPS T1Q1 4k random ops
phase() {
	_name=$1 _type=$2 _mode=$3
	case $_mode in
	strace)
		_sp=
		for p in $(pids); do
			strace -c -f -q -o "$DIR/st.$_name.$p" -p "$p" &
			_sp="$_sp $!"
		done
		sleep 1 ;;
	ctx)
		for p in $(pids); do ctxsw "$p" >"$DIR/cs0.$p"; done ;;
	cg)
		for p in $(pids); do callgrind_control -z "$p" >/dev/null 2>&1; callgrind_control -i on "$p" >/dev/null 2>&1; done ;;
	esac
	vc_vsctl bench img --io-type "$_type" --io-pattern rand --io-depth 1 \
		--io-total $((OPS * 4))k --json >"$DIR/bench.$_name.$_mode" ||
		{ say "bench failed"; exit 1; }
	case $_mode in
	strace)
		for p in $_sp; do kill -INT "$p"; done
		for p in $_sp; do wait "$p"; done ;;
	ctx)
		for p in $(pids); do ctxsw "$p" >"$DIR/cs1.$p"; done ;;
	cg)
		for p in $(pids); do
			callgrind_control -i off "$p" >/dev/null 2>&1
			callgrind_control -d "$_name" "$p" >/dev/null 2>&1
		done ;;
	esac
	_i=0
	for p in $(pids); do
		_i=$((_i + 1))
		case $_mode in
		strace)
			awk -v ops="$OPS" -v osd="$_i" -v ph="$_name" '
				/io_uring_enter/ {e=$4}
				/total/ {t=$4}
				END {printf "%s osd%d: syscalls/op %.2f io_uring_enter/op %.2f\n", ph, osd, t/ops, e/ops}' \
				"$DIR/st.$_name.$p" ;;
		ctx)
			read -r v0 n0 <"$DIR/cs0.$p"
			read -r v1 n1 <"$DIR/cs1.$p"
			echo "$_name osd$_i: ctxsw/op voluntary $(echo "$v0 $v1 $OPS" | awk '{printf "%.2f", ($2-$1)/$3}') involuntary $(echo "$n0 $n1 $OPS" | awk '{printf "%.2f", ($2-$1)/$3}')" ;;
		cg)
			_f=$(ls -t "$DIR"/callgrind.out."$p"* 2>/dev/null | head -n 1)
			[ -z "$CG_SAVE" ] || cp "$_f" "$CG_SAVE/$_name.osd$_i.callgrind"
			echo "$_name osd$_i: Ir/op $(callgrind_annotate "$_f" 2>/dev/null |
				awk -v ops="$OPS" '/PROGRAM TOTALS/ {gsub(",", "", $1); printf "%.0f", $1/ops}')" ;;
		esac
	done
	python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["total"]; print("%s %s: client mean %.0f us, p50 %.0f us" % (sys.argv[2], sys.argv[3], t["lat_us"]["mean"], t["lat_us"]["p50"]))' \
		"$DIR/bench.$_name.$_mode" "$_name" "$_mode"
}

run() {
	_mode=$1
	shift
	say "cluster ($_mode): etcd + 3 OSDs, pool pg_size $PG, 1 PG"
	vc_start "$DIR/c" "$BUILD" 3 320 "$@" || exit 1
	vc_pool bench "$PG" 1 1 || exit 1
	vc_vsctl create img --size 64M >/dev/null || exit 1
	vc_vsctl bench img --io-type write --io-size 4M --io-depth 8 --io-total 64M \
		--json >/dev/null || exit 1
	# warm-up (connections, allocations)
	vc_vsctl bench img --io-type write --io-pattern rand --io-depth 1 --io-total 400k \
		--json >/dev/null || exit 1
	phase write write "$_mode"
	phase read read "$_mode"
	vc_stop
}

echo "commit $(git -C "$BUILD/.." rev-parse --short HEAD), kernel $(uname -r), $OPS ops per phase, load $(cut -d' ' -f1-3 /proc/loadavg)"
run ctx
run strace
if [ "$CG" = 1 ]; then
	# slow under valgrind: longer ping/idle timeouts
	VC_OSD_WRAP="valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file=$DIR/callgrind.out.%p"
	run cg --osd_ping_timeout 60 --osd_idle_timeout 60
fi

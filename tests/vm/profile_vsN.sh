#!/bin/sh
# Profiling (a script, not a test): the bench guest's cluster and image,
# then per case the counters per op (whole-guest and OSD CPU, context
# switches, TCP segments, softirqs, IPIs) and optionally a perf profile
# (perf record -e cpu-clock -a -g, reported in the guest by comm and
# symbol, kernel and module symbols included). See profile_guest.sh.
#
# Usage: sh tests/vm/profile_vsN.sh [BUILD_DIR] [OUT_DIR]
#   PROF_CASES   comma-separated cases (default fio_libaio,bench,nullb):
#                fio_ENGINE, nullb, blk (blk_bench), bench; +PARAM=VALUE sets a vstor
#                module parameter first (fio_libaio+tx_defer=0)
#   PROF_PERF=1  also record and report a perf profile per case
#   PROF_EVENT   perf's event (default cpu-clock; sched:sched_switch
#                records every context switch, with call chains)
#   PROF_SCRIPT=1 also every sample with its call chain (perf script)
#   PROF_SECONDS, PROF_QD, PROF_RW (read/write), PROF_FIO_OPTS
#   PROF_PIN=1   etcd and the OSDs on vCPU 1, the client on vCPU 0
#   PROF_CLOCK   the guest's clocksource, tsc (default) or hpet (see
#                BENCH_CLOCK in bench_vsN.sh)
# The counters go to stdout, the perf reports to OUT_DIR.
cd "$(dirname "$0")/../.." || exit 1
BUILD=${1:-build}
OUTDIR=${2:-}
for b in vstor-osd vstor-disk vsctl; do
	[ -x "$BUILD/$b" ] || { echo "profile_vsN: $BUILD/$b not built (run make)" >&2; exit 1; }
done
PERF=$(command -v perf) || { echo "profile_vsN: perf not installed (linux-perf)" >&2; exit 1; }
echo "# host load before: $(uptime)"
vars=""
for v in PROF_CASES PROF_PERF PROF_EVENT PROF_SCRIPT PROF_SECONDS PROF_QD PROF_RW PROF_FIO_OPTS PROF_PIN; do
	eval "val=\${$v:-}"
	[ -n "$val" ] && vars="$vars $v=$(echo "$val" | tr ' ' ,)"
done
VM_CLOCK=${PROF_CLOCK:-tsc} VM_MEM=2048 VM_TIMEOUT=3000 GUEST_TIMEOUT=2900 VM_KEEP="$OUTDIR" VM_MODS="brd null_blk" \
VM_BINS="/usr/bin/etcd /usr/bin/fio $PERF $BUILD/vstor-osd=/usr/bin/vstor-osd
 $BUILD/vstor-disk=/usr/bin/vstor-disk $BUILD/vsctl=/usr/bin/vsctl
 $BUILD/tests/bench/blk_bench=/usr/bin/blk_bench" \
VM_APPEND="$vars" \
	sh tests/vm/run-vm.sh tests/vm/profile_guest.sh tests/vm/guest_lib.sh
rc=$?
echo "# host load after:  $(uptime)"
exit $rc

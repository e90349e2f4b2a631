#!/bin/sh
# Guest side of tests/vm/bench_vsN.sh with BENCH_SPLIT=1: the OSD host.
# etcd and the three OSDs of the bench cluster (guest_lib.sh's
# cluster_start) on this guest's network address ($GUEST_ETCD, run-vm.sh
# VM_NET/VM_IP), for bench_guest.sh running in a second guest, the client
# host. Tells the client the cluster is up (key /vstor-bench/osds-up) and
# serves it until it says it is done (/vstor-bench/client-done), then
# notes the OSDs' CPU time and stops.
. /bin/guest_lib.sh
[ "${BENCH_DISK_LAT_US:-0}" != 0 ] && OSD_DISK_LAT_US=$BENCH_DISK_LAT_US
cluster_start 192
etcd_raw_put /vstor-bench/osds-up 1 || die "put /vstor-bench/osds-up"
# the bench's guest limit (bench_vsN.sh: GUEST_TIMEOUT 2900) less a margin
wait_every 2 2800 etcd_has /vstor-bench/client-done || die "the client guest never finished"
pass "client done"
note "OSD CPU: $(($(osd_ticks) * 10)) ms over the guest's $(awk '{ printf "%d", $1 }' /proc/uptime) s, load: $(uptime)"
cluster_stop
exit $fail

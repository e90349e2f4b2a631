# A throw-away vstor cluster from the shell, for the demo, the cluster
# benchmark and the tool tests: a real etcd on a random loopback port, N
# vstor-osd processes on files, all under one directory. POSIX sh; source it.
#
#   vc_start DIR BUILD NOSD OSD_MIB [OSD_ARGS...]   etcd + OSDs (immediate_commit
#                                                     $VC_IC: all unless set; each OSD
#                                                     run under $VC_OSD_WRAP if set)
#   vc_pool NAME PG_SIZE PG_MINSIZE PG_COUNT          pool + static placement, waits active
#   vc_vsctl ARGS...                                  vsctl against this cluster
#   vc_stop                                           SIGTERM (then SIGKILL) all, remove DIR
#   vc_stop_script FILE                               writes a script doing vc_stop later
#
# The daemons run in their own sessions (setsid), so a Ctrl-C reaches only
# the script, whose trap (set by the caller: trap vc_stop EXIT) stops them
# in order. Every wait has a deadline; nothing sleeps for synchronization
# beyond short polls.

VC_DIR= VC_BUILD= VC_ETCD_PORT= VC_ETCD_PID= VC_OSD_PIDS= VC_NOSD=0
VC_IC=${VC_IC:-all}

vc_log() { echo "cluster: $*" >&2; }

# vc_wait SECONDS CMD...: polls CMD every 0.1 s until it succeeds.
vc_wait() {
	_n=$(($1 * 10))
	shift
	while [ "$_n" -gt 0 ]; do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
		_n=$((_n - 1))
	done
	return 1
}

vc_vsctl() {
	"$VC_BUILD/vsctl" --config_path /dev/null --etcd_address "127.0.0.1:$VC_ETCD_PORT" "$@"
}

vc_alive() { kill -0 "$1" 2>/dev/null; }

vc_etcd_healthy() {
	ETCDCTL_API=3 etcdctl --endpoints "http://127.0.0.1:$VC_ETCD_PORT" \
		--dial-timeout 1s --command-timeout 2s endpoint health
}

# A random port in 20000..59999 that nothing listens on right now.
vc_rand_port() {
	while :; do
		_p=$(( $(od -An -N2 -tu2 /dev/urandom) % 40000 + 20000 ))
		if ! ss -Htln "sport = :$_p" 2>/dev/null | grep -q .; then
			echo "$_p"
			return
		fi
	done
}

vc_start_etcd() {
	for _try in 1 2 3 4 5; do
		VC_ETCD_PORT=$(vc_rand_port)
		_peer=$(vc_rand_port)
		rm -rf "$VC_DIR/etcd"
		setsid etcd --name vstor --data-dir "$VC_DIR/etcd" \
			--listen-client-urls "http://127.0.0.1:$VC_ETCD_PORT" \
			--advertise-client-urls "http://127.0.0.1:$VC_ETCD_PORT" \
			--listen-peer-urls "http://127.0.0.1:$_peer" \
			--initial-advertise-peer-urls "http://127.0.0.1:$_peer" \
			--initial-cluster "vstor=http://127.0.0.1:$_peer" \
			--initial-cluster-token "vstor-$$" \
			>"$VC_DIR/etcd.log" 2>&1 </dev/null &
		VC_ETCD_PID=$!
		echo "$VC_ETCD_PID" >"$VC_DIR/etcd.pid"
		_n=200
		while [ "$_n" -gt 0 ] && vc_alive "$VC_ETCD_PID"; do
			vc_etcd_healthy >/dev/null 2>&1 && return 0
			sleep 0.1
			_n=$((_n - 1))
		done
		# died (port taken in the meantime?) or never got healthy: again
		kill -9 "$VC_ETCD_PID" 2>/dev/null
		wait "$VC_ETCD_PID" 2>/dev/null
		VC_ETCD_PID=
	done
	vc_log "etcd did not start; the end of $VC_DIR/etcd.log:"
	tail -n 20 "$VC_DIR/etcd.log" >&2
	return 1
}

# vc_osds_up N: N OSDs in osd/state.
vc_osds_up() {
	[ "$(vc_vsctl osd ls --json | grep -o '"state":"up"' | wc -l)" -ge "$1" ]
}

vc_start() {
	VC_DIR=$1 VC_BUILD=$2 VC_NOSD=$3
	_mib=$4
	shift 4
	mkdir -p "$VC_DIR" || return 1
	command -v etcd >/dev/null || { vc_log "etcd is not installed (sh tests/deps.sh)"; return 1; }
	vc_start_etcd || return 1
	ETCDCTL_API=3 etcdctl --endpoints "http://127.0.0.1:$VC_ETCD_PORT" \
		put /vitastor/config/global "{\"immediate_commit\":\"$VC_IC\"}" >/dev/null || return 1
	VC_OSD_PIDS=
	for _i in $(seq 1 "$VC_NOSD"); do
		_f="$VC_DIR/osd$_i.img"
		# written zeroes, not a sparse file: the first write to a hole
		# costs a filesystem journal commit and would skew benchmarks
		dd if=/dev/zero of="$_f" bs=4M count=$((_mib / 4)) conv=fsync status=none ||
			return 1
		"$VC_BUILD/vstor-disk" format --data_path "$_f" --osd_num "$_i" \
			>"$VC_DIR/osd$_i.log" 2>&1 || { vc_log "vstor-disk format failed:";
			cat "$VC_DIR/osd$_i.log" >&2; return 1; }
		# shellcheck disable=SC2086 # VC_OSD_WRAP: a command line (valgrind ...)
		setsid ${VC_OSD_WRAP:-} "$VC_BUILD/vstor-osd" --osd_num "$_i" --data_path "$_f" \
			--bind_address 127.0.0.1 --bind_port 0 \
			--etcd_address "127.0.0.1:$VC_ETCD_PORT" --immediate_commit "$VC_IC" "$@" \
			>>"$VC_DIR/osd$_i.log" 2>&1 </dev/null &
		VC_OSD_PIDS="$VC_OSD_PIDS $!"
		echo "$!" >"$VC_DIR/osd$_i.pid"
	done
	if ! vc_wait 30 vc_osds_up "$VC_NOSD"; then
		vc_log "the OSDs did not come up; their logs:"
		for _i in $(seq 1 "$VC_NOSD"); do tail -n 10 "$VC_DIR/osd$_i.log" >&2; done
		return 1
	fi
}

# PGs of all pools active: pg_states is exactly {"active": pg_count}.
vc_pgs_active() {
	_s=$(vc_vsctl status --json) || return 1
	_c=$(echo "$_s" | sed -n 's/.*"pg_count":\([0-9]*\).*/\1/p')
	echo "$_s" | grep -q "\"pg_states\":{\"active\":$_c}"
}

vc_pool() {
	vc_vsctl pool create "$1" --scheme replicated --pg_size "$2" --pg_minsize "$3" \
		--pg_count "$4" >/dev/null || return 1
	vc_vsctl pg place --static >/dev/null || return 1
	if ! vc_wait 60 vc_pgs_active; then
		vc_log "PGs did not become active:"
		vc_vsctl status >&2
		return 1
	fi
}

# vc_pids: every daemon PID (from the pid files, so a stop script works too).
vc_pids() { cat "$VC_DIR"/osd*.pid "$VC_DIR"/etcd.pid 2>/dev/null; }

vc_stop() {
	[ -n "$VC_DIR" ] && [ -d "$VC_DIR" ] || return 0
	# OSDs first (they revoke their leases in etcd), then etcd
	for _p in $(cat "$VC_DIR"/osd*.pid 2>/dev/null) $(cat "$VC_DIR/etcd.pid" 2>/dev/null); do
		kill -TERM "$_p" 2>/dev/null
		_n=100
		while [ "$_n" -gt 0 ] && vc_alive "$_p"; do
			sleep 0.1
			_n=$((_n - 1))
		done
		kill -KILL "$_p" 2>/dev/null
		wait "$_p" 2>/dev/null
	done
	rm -rf "$VC_DIR"
	VC_DIR=
}

# A script that stops this cluster later (for --keep).
vc_stop_script() {
	cat >"$1" <<EOF
#!/bin/sh
# Stops the vstor demo cluster in $VC_DIR and removes that directory.
for p in \$(cat "$VC_DIR"/osd*.pid 2>/dev/null) \$(cat "$VC_DIR/etcd.pid" 2>/dev/null); do
	kill -TERM "\$p" 2>/dev/null
	n=100
	while [ "\$n" -gt 0 ] && kill -0 "\$p" 2>/dev/null; do sleep 0.1; n=\$((n - 1)); done
	kill -KILL "\$p" 2>/dev/null
done
rm -rf "$VC_DIR"
echo "vstor demo cluster stopped"
EOF
	chmod +x "$1"
}

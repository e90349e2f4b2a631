/* libvstor lazy mode (spec 7) against a real cluster: etcd + 3 vstor-osd
 * with immediate_commit none (config/global and the OSDs), pool 1
 * replicated pg_size 3 / pg_minsize 2, 4 PGs with primaries 1, 2, 1, 2.
 * Image 1/1 (8 MiB) written through libvstor with a model of its bytes.
 *
 * Cases: verified writes are retained until a SYNC, which goes to both
 * primaries and frees them; kill -9 of a replica before SYNC (while
 * writing, and with the client idle: the re-peering primaries drop its
 * connections and it replays); kill -9 of a
 * primary before SYNC (the SYNC waits, the client replays to the restarted
 * OSD, then syncs); a power loss of every OSD (kill -9, data files put
 * back as they were at the last SYNC, restart: only the replay brings the
 * unsynced writes back); the dirty limits start automatic SYNCs (client
 * counters and the OSDs' primary_sync op_stats) and bound the retained
 * data; SYNCs issued all through a replay of hundreds of overlapping
 * writes to one object, with the primary killed again in the middle of the
 * replay. After each case every byte is read back through the client, and
 * once the PGs are clean again every replica is compared with SEC_READ. */
#include "check.h"
#include "etcd.h"
#include "json.h"
#include "osd_cluster.h"
#include "vc_model.h"
#include "vstor_client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "/vcl"
#define NOSD 3
#define NPG 4
#define BS (128u << 10)
#define IMG_SIZE (8u << 20)
#define NOBJ (IMG_SIZE / BS)
#define INODE ((1ull << 48) | 1)

static struct osd_cluster C;
static struct vstor_client *vc;
static struct vcm M;
static const uint64_t pg_primary[NPG + 1] = { 0, 1, 2, 1, 2 };
static const int all_pgs[NPG] = { 1, 2, 3, 4 };

static const char *osd_args[] = {
	"--etcd_address", NULL, "--etcd_prefix", PREFIX, "--etcd_report_interval", "1",
	"--max_etcd_attempts", "2", "--etcd_quick_timeout", "500",
	"--immediate_commit", "none",
	/* only SYNCs make writes durable, so the OSDs' drops are predictable */
	"--autosync_interval", "0", "--autosync_writes", "0", NULL,
};

static struct vstor_client *new_client(uint64_t max_bytes, uint64_t max_ops, char *err,
				       size_t errlen)
{
	struct vstor_client_opts o = {
		.up_wait_retry_interval_ms = 100, .max_dirty_bytes = max_bytes,
		.max_dirty_ops = max_ops,
	};
	struct etcd_config *cfg = vcm_etcd_cfg(etcd_proc_endpoint(C.etcd), PREFIX);
	struct vstor_client *c;

	if (!cfg) {
		snprintf(err, errlen, "etcd config");
		return NULL;
	}
	o.etcd = cfg;
	c = vstor_client_create(&o, NULL, err, errlen);
	etcd_config_free(cfg);
	free(cfg);
	return c;
}

static struct vstor_client_stats stats(struct vstor_client *c)
{
	struct vstor_client_stats st;

	vstor_client_get_stats(c, &st);
	return st;
}

static bool wait_clean(int timeout_ms)
{
	return oc_wait_pgs(&C, 1, all_pgs, NPG, pg_primary, "active\0", "degraded", timeout_ms);
}

static bool wait_osd_gone(int n)
{
	char key[32];

	snprintf(key, sizeof(key), "osd/state/%d", n);
	return oc_wait_key_gone(C.cl, key, 15000);
}

/* Restarts OSD n once its old lease is gone, while the client loop runs. */
static bool restart_osd(int n)
{
	oc_close(&C, n);
	return wait_osd_gone(n) && osd_proc_restart(C.osds[n]) == 0;
}

/* Every replica of every object equals the model (SEC_READ, last stable). */
static bool replicas_agree(void)
{
	static uint8_t out[BS];
	bool ok = true;

	for (unsigned i = 0; i < NOBJ; i++)
		for (int n = 1; n <= NOSD; n++) {
			uint64_t ver = 0;
			int64_t rv = oc_sec_read(&C, n, INODE, (uint64_t)i * BS, BS, out, &ver);

			if (rv != BS || memcmp(out, M.model + (uint64_t)i * BS, BS)) {
				fprintf(stderr, "object %u on OSD %d: rv %lld, %s\n", i, n,
					(long long)rv, rv == BS ? "data differs" : "read failed");
				ok = false;
			}
		}
	return ok;
}

struct cbres {
	bool done;
	int64_t rv;
};

static void cb(void *arg, int64_t rv, uint64_t version)
{
	struct cbres *r = arg;

	r->done = true;
	r->rv = rv;
}

static bool run_until(struct vstor_client *c, const bool *flag, int timeout_ms)
{
	long long deadline = vt_now_ms() + timeout_ms;

	while (!*flag && vt_now_ms() < deadline)
		vstor_client_run_once(c, 20000000);
	return *flag;
}

static void run_for(struct vstor_client *c, int ms)
{
	for (long long t = vt_now_ms() + ms; vt_now_ms() < t;)
		vstor_client_run_once(c, 20000000);
}

/* primary_sync count of OSD n from osd/stats/<n>, or -1. */
static long long osd_syncs(int n)
{
	char key[32], *v = NULL, err[128];
	json_t j;
	uint64_t cnt = 0;
	long long r = -1;

	snprintf(key, sizeof(key), "osd/stats/%d", n);
	if (etcd_get_str_sync(C.cl, key, &v) != ETCD_OK || !v)
		return -1;
	j = json_parse(v, strlen(v), err, sizeof(err));
	if (!json_u64(json_get(json_get(json_get(j, "op_stats"), "primary_sync"), "count"), &cnt))
		r = (long long)cnt;
	json_free(j);
	free(v);
	return r;
}

/* ---- cases ---- */

static void t_setup(void)
{
	char err[256];

	oc_init(&C);
	C.etcd = etcd_proc_start();
	CHECK(C.etcd);
	C.cl = oc_new_client(&C, PREFIX);
	CHECK(C.cl);
	osd_args[1] = etcd_proc_endpoint(C.etcd);
	CHECK(etcd_put_str_sync(C.cl, "config/global", "{\"immediate_commit\":\"none\"}") == ETCD_OK);
	CHECK(etcd_put_str_sync(C.cl, "config/pools",
				"{\"1\":{\"name\":\"rep\",\"scheme\":\"replicated\",\"pg_size\":3,"
				"\"pg_minsize\":2,\"pg_count\":4}}") == ETCD_OK);
	CHECK(etcd_put_str_sync(C.cl, "config/pgs", "{\"hash\":\"x\",\"items\":{\"1\":{"
				"\"1\":{\"osd_set\":[1,2,3],\"primary\":1},"
				"\"2\":{\"osd_set\":[2,3,1],\"primary\":2},"
				"\"3\":{\"osd_set\":[1,3,2],\"primary\":1},"
				"\"4\":{\"osd_set\":[2,1,3],\"primary\":2}}}}") == ETCD_OK);
	CHECK(etcd_put_str_sync(C.cl, "config/inode/1/1",
				"{\"name\":\"lazyimg\",\"size\":8388608}") == ETCD_OK);
	for (int n = 1; n <= NOSD; n++) {
		C.osds[n] = osd_proc_start((uint64_t)n, osd_args);
		CHECK(C.osds[n]);
	}
	CHECK_MSG(wait_clean(20000), "PGs not active; see %s", osd_proc_log(C.osds[1]));
	vc = new_client(0, 0, err, sizeof(err));
	CHECK_MSG(vc, "client: %s", err);
	CHECK_EQ(vstor_client_wait_ready(vc, 10000), 0);
	CHECK_EQ(vcm_init(&M, vc, INODE, IMG_SIZE), 0);
}

/* Writes are retained (no SYNC below the limits); one SYNC per primary
 * frees them all. */
static void t_retain_and_sync(void)
{
	struct vstor_client_stats st0 = stats(vc), st1, st2;

	vcm_area(&M, 0, IMG_SIZE, 64 << 10);
	CHECK_EQ(vcm_write_loop(&M, 200, NULL, 60000), 0);
	CHECK_MSG(!M.failed, "%d writes failed, last %lld", M.failed, (long long)M.last_err);
	st1 = stats(vc);
	CHECK_EQ(st1.autosyncs, st0.autosyncs);
	CHECK_EQ(st1.syncs, st0.syncs);
	CHECK(st1.dirty_ops > 0 && st1.dirty_bytes > 0);
	CHECK_EQ(vstor_sync_sync(vc), 0);
	st2 = stats(vc);
	CHECK_EQ(st2.dirty_ops, 0);
	CHECK_EQ(st2.dirty_bytes, 0);
	CHECK_EQ(st2.syncs, st1.syncs + 2);	/* OSDs 1 and 2 */
	/* nothing retained: a SYNC sends nothing */
	CHECK_EQ(vstor_sync_sync(vc), 0);
	CHECK_EQ(stats(vc).syncs, st2.syncs);
	CHECK(vcm_verify(&M));
	fprintf(stderr, "retain_and_sync: %llu writes retained, %llu bytes\n",
		(unsigned long long)st1.dirty_ops, (unsigned long long)st1.dirty_bytes);
}

static bool killed;
static int kill_osd;

static void kill_at(struct vcm *m, int done)
{
	if (!killed && done >= 30) {
		killed = true;
		osd_proc_kill(C.osds[kill_osd]);
		oc_close(&C, kill_osd);
		fprintf(stderr, "killed OSD %d after %d writes\n", kill_osd, done);
	}
}

/* kill -9 of OSD 3 (never a primary) with unsynced writes: writing goes
 * on, SYNC succeeds, the data is right; restarted, it is recovered. */
static void t_kill_replica(void)
{
	vcm_area(&M, 0, IMG_SIZE, 128 << 10);
	killed = false;
	kill_osd = 3;
	CHECK_EQ(vcm_write_loop(&M, 100, kill_at, 60000), 0);
	CHECK(killed);
	CHECK_MSG(!M.failed, "%d writes failed, last %lld", M.failed, (long long)M.last_err);
	CHECK_EQ(vstor_sync_sync(vc), 0);
	CHECK_EQ(stats(vc).dirty_ops, 0);
	CHECK(vcm_verify(&M));
	CHECK(restart_osd(3));
	CHECK_MSG(wait_clean(30000), "PGs not clean; see %s", osd_proc_log(C.osds[1]));
	CHECK(replicas_agree());
}

/* An idle client with unsynced writes, kill -9 of OSD 3 (a replica in
 * every PG): nothing the client sends fails, but the primaries re-peer and
 * drop its connections (spec 7, OSD side), so it replays everything. */
static void t_repeer_drop(void)
{
	struct vstor_client_stats st0, st;
	long long deadline;

	vcm_area(&M, 0, IMG_SIZE, 64 << 10);
	CHECK_EQ(vcm_write_loop(&M, 40, NULL, 60000), 0);
	CHECK_MSG(!M.failed, "%d writes failed", M.failed);
	st0 = stats(vc);
	CHECK(st0.dirty_ops > 0);
	CHECK(osd_proc_kill(C.osds[3]) >= 0);
	oc_close(&C, 3);
	deadline = vt_now_ms() + 20000;
	do {
		vstor_client_run_once(vc, 20000000);
		st = stats(vc);
	} while ((st.replayed < st0.replayed + st0.dirty_ops || st.replay_pending) &&
		 vt_now_ms() < deadline);
	CHECK_MSG(st.replayed >= st0.replayed + st0.dirty_ops,
		  "%llu of %llu retained writes replayed after the re-peer",
		  (unsigned long long)(st.replayed - st0.replayed),
		  (unsigned long long)st0.dirty_ops);
	CHECK(st.reconnects > st0.reconnects);
	CHECK_EQ(vstor_sync_sync(vc), 0);
	CHECK_EQ(stats(vc).dirty_ops, 0);
	CHECK(vcm_verify(&M));
	CHECK(restart_osd(3));
	CHECK_MSG(wait_clean(30000), "PGs not clean; see %s", osd_proc_log(C.osds[1]));
	CHECK(replicas_agree());
}

/* kill -9 of primary 1 before SYNC: a SYNC waits (its writes must be
 * replayed first), the restarted OSD gets the replay, then the SYNC. */
static void t_kill_primary(void)
{
	struct vstor_client_stats st0, st1, st2;
	struct cbres s = { 0 };

	vcm_area(&M, 0, IMG_SIZE, 128 << 10);
	CHECK_EQ(vcm_write_loop(&M, 100, NULL, 60000), 0);
	CHECK_MSG(!M.failed, "%d writes failed", M.failed);
	st0 = stats(vc);
	CHECK(st0.dirty_ops > 0);
	CHECK(osd_proc_kill(C.osds[1]) >= 0);
	oc_close(&C, 1);
	CHECK_EQ(vstor_sync(vc, cb, &s), 0);
	run_for(vc, 1000);
	st1 = stats(vc);
	CHECK_MSG(!s.done, "SYNC completed (%lld) with primary 1 dead", (long long)s.rv);
	CHECK_MSG(st1.replay_pending > 0, "nothing to replay after the primary died");
	CHECK(restart_osd(1));
	CHECK(run_until(vc, &s.done, 30000));
	st2 = stats(vc);
	CHECK_EQ(s.rv, 0);
	CHECK_EQ(st2.replay_pending, 0);
	CHECK_EQ(st2.dirty_ops, 0);
	CHECK(st2.replayed >= st0.replayed + st1.replay_pending);
	CHECK(st2.replayed <= st0.replayed + 3 * st0.dirty_ops);	/* no replay storm */
	fprintf(stderr, "kill_primary: %llu retained, %llu replayed\n",
		(unsigned long long)st0.dirty_ops,
		(unsigned long long)(st2.replayed - st0.replayed));
	CHECK(vcm_verify(&M));
	CHECK_MSG(wait_clean(30000), "PGs not clean; see %s", osd_proc_log(C.osds[1]));
	CHECK(replicas_agree());
}

static int copy_file(const char *from, const char *to)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd), "cp --sparse=always '%s' '%s'", from, to);
	return system(cmd) == 0 ? 0 : -1;
}

/* Power loss of the whole cluster before SYNC: the OSDs' files go back to
 * what they held at the last SYNC (copies taken with the OSDs stopped),
 * so the unsynced writes exist only in the client. It replays them. */
static void t_power_loss(void)
{
	struct vstor_client_stats st0, st1;
	struct cbres s = { 0 };
	char dev[1024], snap[1100];

	CHECK_EQ(vstor_sync_sync(vc), 0);
	for (int n = 1; n <= NOSD; n++)
		CHECK_EQ(osd_proc_stop(C.osds[n]), 0);
	for (int n = 1; n <= NOSD; n++) {
		snprintf(dev, sizeof(dev), "%s/osd.img", osd_proc_dir(C.osds[n]));
		snprintf(snap, sizeof(snap), "%s.synced", dev);
		CHECK_EQ(copy_file(dev, snap), 0);
		oc_close(&C, n);
	}
	for (int n = 1; n <= NOSD; n++)
		CHECK_EQ(osd_proc_restart(C.osds[n]), 0);
	vcm_area(&M, 0, IMG_SIZE, 64 << 10);
	CHECK_EQ(vcm_write_loop(&M, 150, NULL, 60000), 0);
	CHECK_MSG(!M.failed, "%d writes failed", M.failed);
	st0 = stats(vc);
	CHECK(st0.dirty_ops > 0);
	for (int n = 1; n <= NOSD; n++) {
		CHECK(osd_proc_kill(C.osds[n]) >= 0);
		oc_close(&C, n);
	}
	for (int n = 1; n <= NOSD; n++) {
		snprintf(dev, sizeof(dev), "%s/osd.img", osd_proc_dir(C.osds[n]));
		snprintf(snap, sizeof(snap), "%s.synced", dev);
		CHECK_EQ(copy_file(snap, dev), 0);
	}
	CHECK_EQ(vstor_sync(vc, cb, &s), 0);
	for (int n = 1; n <= NOSD; n++)
		CHECK_MSG(wait_osd_gone(n), "osd/state/%d did not expire", n);
	for (int n = 1; n <= NOSD; n++)
		CHECK_EQ(osd_proc_restart(C.osds[n]), 0);
	CHECK(run_until(vc, &s.done, 30000));
	st1 = stats(vc);
	CHECK_EQ(s.rv, 0);
	CHECK_EQ(st1.dirty_ops, 0);
	CHECK(st1.replayed >= st0.replayed + st0.dirty_ops);
	CHECK(st1.replayed <= st0.replayed + 3 * st0.dirty_ops);
	fprintf(stderr, "power_loss: %llu writes replayed\n",
		(unsigned long long)(st1.replayed - st0.replayed));
	CHECK(vcm_verify(&M));
	CHECK_MSG(wait_clean(30000), "PGs not clean; see %s", osd_proc_log(C.osds[1]));
	CHECK(replicas_agree());
}

static struct vstor_client *lim;
static int over_limit;

static void check_limits(struct vcm *m, int done)
{
	struct vstor_client_stats st = stats(lim);

	if (st.dirty_ops > 16 || st.dirty_bytes > (256 << 10))
		over_limit++;
}

/* client_max_dirty_ops 16, client_max_dirty_bytes 256 KiB: automatic
 * SYNCs (client counters and the OSDs' primary_sync stats), and the
 * retained data never passes the limits. */
static void t_dirty_limits(void)
{
	struct vstor_client_stats st;
	long long before = osd_syncs(1) + osd_syncs(2), after = -1;
	long long deadline;
	char err[256];

	lim = new_client(256 << 10, 16, err, sizeof(err));
	CHECK_MSG(lim, "client: %s", err);
	CHECK_EQ(vstor_client_wait_ready(lim, 10000), 0);
	M.vc = lim;
	over_limit = 0;
	vcm_area(&M, 0, IMG_SIZE, 64 << 10);
	CHECK_EQ(vcm_write_loop(&M, 300, check_limits, 60000), 0);
	M.vc = vc;
	st = stats(lim);
	CHECK_MSG(!M.failed, "%d writes failed", M.failed);
	CHECK_EQ(over_limit, 0);
	CHECK_MSG(st.autosyncs >= 10, "%llu automatic SYNCs", (unsigned long long)st.autosyncs);
	CHECK(st.syncs >= st.autosyncs);
	CHECK(st.dirty_ops <= 16);
	CHECK_EQ(vstor_sync_sync(lim), 0);
	vstor_client_destroy(lim);
	lim = NULL;
	/* the OSDs saw them (osd/stats is published every second, so it may
	 * lag behind by the last few) */
	deadline = vt_now_ms() + 10000;
	while (vt_now_ms() < deadline) {
		after = osd_syncs(1) + osd_syncs(2);
		if (before >= 0 && after >= before + (long long)st.autosyncs)
			break;
		vt_sleep_ms(200);
	}
	CHECK_MSG(before >= 0 && after >= before + (long long)st.autosyncs,
		  "primary_sync on OSDs 1+2: %lld -> %lld, client: %llu automatic, %llu SYNCs",
		  before, after, (unsigned long long)st.autosyncs, (unsigned long long)st.syncs);
	fprintf(stderr, "dirty_limits: %llu automatic SYNCs, %llu SYNCs\n",
		(unsigned long long)st.autosyncs, (unsigned long long)st.syncs);
	CHECK(vcm_verify(&M));
}

/* Hundreds of overlapping writes to one object of PG 2 (each of the 8
 * slots rewrites its own 16 KiB), primary 2 killed before SYNC; a SYNC is
 * issued on every loop turn while it is down, restarted, replayed (one
 * write of an object at a time, in order), killed again in the middle of
 * the replay and restarted again. Every SYNC must succeed and only once
 * nothing is left to replay; the object must hold the last writes. */
static struct vstor_client_stats sst;
static int syncs_issued, syncs_done, syncs_bad, syncs_early;

static void storm_cb(void *arg, int64_t rv, uint64_t version)
{
	syncs_done++;
	if (rv)
		syncs_bad++;
	vstor_client_get_stats(vc, &sst);
	if (sst.replay_pending)
		syncs_early++;
}

static void storm_turns(int ms)
{
	for (long long t = vt_now_ms() + ms; vt_now_ms() < t;) {
		if (syncs_issued < 2000 && !vstor_sync(vc, storm_cb, NULL))
			syncs_issued++;
		vstor_client_run_once(vc, 20000000);
	}
}

static void t_sync_storm_replay(void)
{
	struct vstor_client_stats st0, st;
	long long deadline;
	bool rekilled = false;
	uint64_t base;

	/* object 1 = PG 2 (stripe 1 mod 4) */
	vcm_area(&M, BS, BS, 16 << 10);
	CHECK_EQ(vcm_write_loop(&M, 400, NULL, 60000), 0);
	CHECK_MSG(!M.failed, "%d writes failed", M.failed);
	st0 = stats(vc);
	CHECK_MSG(st0.dirty_ops >= 300, "%llu retained", (unsigned long long)st0.dirty_ops);
	syncs_issued = syncs_done = syncs_bad = syncs_early = 0;
	CHECK(osd_proc_kill(C.osds[2]) >= 0);
	oc_close(&C, 2);
	storm_turns(500);
	CHECK_MSG(!syncs_done, "%d SYNCs completed with primary 2 dead", syncs_done);
	CHECK(wait_osd_gone(2));
	storm_turns(10);
	CHECK_EQ(osd_proc_restart(C.osds[2]), 0);
	base = stats(vc).replayed;
	/* kill it again once part of the replay is through */
	deadline = vt_now_ms() + 30000;
	while (!rekilled && vt_now_ms() < deadline) {
		st = stats(vc);
		if (st.replayed >= base + 20 && st.replay_pending > 0) {
			CHECK(osd_proc_kill(C.osds[2]) >= 0);
			oc_close(&C, 2);
			rekilled = true;
			fprintf(stderr, "killed OSD 2 again: %llu replayed, %llu pending, %d SYNCs "
				"done\n", (unsigned long long)(st.replayed - base),
				(unsigned long long)st.replay_pending, syncs_done);
			break;
		}
		storm_turns(1);
	}
	CHECK_MSG(rekilled, "the replay was never seen in progress");
	CHECK_EQ(syncs_early, 0);
	CHECK(wait_osd_gone(2));
	storm_turns(10);
	CHECK_EQ(osd_proc_restart(C.osds[2]), 0);
	deadline = vt_now_ms() + 30000;
	while (syncs_done < syncs_issued && vt_now_ms() < deadline)
		storm_turns(10);
	st = stats(vc);
	fprintf(stderr, "sync_storm: %d SYNCs issued, %d done; %llu writes replayed\n",
		syncs_issued, syncs_done, (unsigned long long)(st.replayed - st0.replayed));
	CHECK_EQ(syncs_done, syncs_issued);
	CHECK_EQ(syncs_bad, 0);
	CHECK_EQ(syncs_early, 0);
	CHECK_EQ(st.dirty_ops, 0);
	/* once up to the second kill, then all again */
	CHECK(st.replayed <= st0.replayed + 3 * st0.dirty_ops);
	CHECK(vcm_verify(&M));
	CHECK_MSG(wait_clean(30000), "PGs not clean; see %s", osd_proc_log(C.osds[2]));
	CHECK(replicas_agree());
}

int main(void)
{
	vt_run("setup", t_setup);
	if (!vt_case_failed) {
		vt_run("retain_until_sync", t_retain_and_sync);
		vt_run("kill9_replica_before_sync", t_kill_replica);
		vt_run("repeer_drops_idle_client_replay", t_repeer_drop);
		vt_run("kill9_primary_before_sync_replay", t_kill_primary);
		vt_run("power_loss_all_osds_replay", t_power_loss);
		vt_run("dirty_limits_autosync", t_dirty_limits);
		vt_run("sync_storm_during_replay_rekill", t_sync_storm_replay);
	}
	if (lim)
		vstor_client_destroy(lim);
	vstor_client_destroy(vc);
	vcm_free(&M);
	oc_free(&C);
	return vt_finish();
}

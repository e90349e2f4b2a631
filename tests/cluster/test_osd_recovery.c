/* Recovery of a replicated pool (spec §8.2 steps 4-8) on 3 real vstor-osd
 * processes + a real etcd: objects written while OSD 3 was down (kill -9)
 * are copied to it after its restart, the PGs drop "has_degraded", and
 * every replica has the same data and version (SEC_READ on each OSD).
 * With config/global no_recovery the PGs stay has_degraded, and a client
 * write to a degraded object repairs that object first.
 *
 * Pool 1: pg_size 3, pg_minsize 2, 4 PGs placed by hand (primaries 1, 2,
 * 3, 1). Short lease: etcd_report_interval 1 s, TTL 3 s. */
#include "check.h"
#include "etcd.h"
#include "osd_cluster.h"
#include "vstor_proto.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "/vr"
#define NOSD 3
#define NPG 4
#define BS (128u << 10)
#define NOLD 32
#define NOBJ 48			/* objects NOLD.. are created while OSD 3 is down */
#define INODE ((1ull << 48) | 7)

static struct osd_cluster C;
static struct oc_model M;
static const uint64_t pg_primary[NPG + 1] = { 0, 1, 2, 3, 1 };
static const int live_pgs[] = { 1, 2, 4 };

static const char *osd_args[] = {
	"--etcd_address", NULL, "--etcd_prefix", PREFIX, "--etcd_report_interval", "1",
	"--max_etcd_attempts", "2", "--etcd_quick_timeout", "500", NULL,
};

static int obj_pg(int i)
{
	return i % NPG + 1;
}

static int write_random(int i)
{
	return oc_model_write(&C, &M, (int)pg_primary[obj_pg(i)], i, 16);
}

static bool read_check(int i)
{
	return oc_model_read(&C, &M, (int)pg_primary[obj_pg(i)], i);
}

/* Object i on OSD n: same data and version as the model. */
static bool replica_ok(int i, int n)
{
	return oc_model_replica(&C, &M, n, i);
}

static bool wait_pgs(const int *pgs, int npgs, const char *need, const char *notin,
		     int timeout_ms)
{
	return oc_wait_pgs(&C, 1, pgs, npgs, pg_primary, need, notin, timeout_ms);
}

/* ---- cases ---- */

static void t_setup(void)
{
	int all[NPG] = { 1, 2, 3, 4 };

	oc_init(&C);
	CHECK(oc_start(&C, PREFIX, osd_args, NOSD,
		       "{\"1\":{\"name\":\"rep\",\"scheme\":\"replicated\",\"pg_size\":3,"
		       "\"pg_minsize\":2,\"pg_count\":4}}",
		       "{\"hash\":\"x\",\"items\":{\"1\":{"
		       "\"1\":{\"osd_set\":[1,2,3],\"primary\":1},"
		       "\"2\":{\"osd_set\":[2,3,1],\"primary\":2},"
		       "\"3\":{\"osd_set\":[3,1,2],\"primary\":3},"
		       "\"4\":{\"osd_set\":[1,3,2],\"primary\":1}}}}"));
	CHECK_MSG(wait_pgs(all, NPG, "active\0", "degraded", 20000),
		  "PGs not active; see %s", osd_proc_log(C.osds[1]));
	CHECK_EQ(oc_model_init(&M, INODE, BS, NOBJ, 0x9e3779b97f4a7c15ull), 0);
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < NOLD; i++) {
			int r = write_random(i);

			CHECK_MSG(r == 0, "write obj %d: %d", i, r);
		}
}

/* kill -9 OSD 3, then overwrite old objects and create new ones in the
 * PGs still served (primaries 1 and 2). */
static void t_kill_and_write(void)
{
	CHECK(osd_proc_kill(C.osds[3]) >= 0);
	oc_close(&C, 3);
	CHECK_MSG(wait_pgs(live_pgs, 3, "active\0degraded\0", NULL, 15000),
		  "PGs not degraded; see %s", osd_proc_log(C.osds[1]));
	for (int i = 0; i < NOBJ; i++) {
		int r;

		if (pg_primary[obj_pg(i)] == 3 || (i < NOLD && i % 3 == 0))
			continue;	/* some old objects stay clean */
		r = write_random(i);
		CHECK_MSG(r == 0, "write obj %d with OSD 3 down: %d", i, r);
	}
}

/* no_recovery (config/global): OSD 3 back, PGs active+has_degraded and
 * stay so; a client write to a degraded object recovers it first: all
 * three replicas then match. */
static void t_no_recovery_client_fix(void)
{
	int i = 1;	/* PG 2 (primary 2), old object overwritten while down */

	CHECK(etcd_put_str_sync(C.cl, "config/global", "{\"no_recovery\":true}") == ETCD_OK);
	CHECK_MSG(oc_wait_osd_gone(&C, 3, 10000), "osd/state/3 did not expire");
	CHECK_EQ(osd_proc_restart(C.osds[3]), 0);
	CHECK_MSG(wait_pgs(live_pgs, 3, "active\0has_degraded\0", "\"degraded\"", 15000),
		  "PGs not active+has_degraded; see %s", osd_proc_log(C.osds[1]));
	vt_sleep_ms(1500);
	CHECK_MSG(wait_pgs(live_pgs, 3, "active\0has_degraded\0", NULL, 100),
		  "recovered despite no_recovery");
	M.quiet = true;
	CHECK(!replica_ok(i, 3));
	M.quiet = false;
	CHECK_EQ(write_random(i), 0);
	for (int n = 1; n <= NOSD; n++)
		CHECK_MSG(replica_ok(i, n), "obj %d on OSD %d after a client write", i, n);
	/* a new object created while down: a read through the primary */
	CHECK(read_check(NOLD + 1));
}

/* no_recovery off: recovery runs; a client write during it ends
 * consistent. */
static void t_recovery(void)
{
	long long t0 = vt_now_ms();
	int i = 7;	/* PG 4 (primary 1), overwritten while down */
	CHECK(etcd_put_str_sync(C.cl, "config/global", "{}") == ETCD_OK);
	CHECK_EQ(write_random(i), 0);	/* races with recovery */
	CHECK_MSG(wait_pgs(live_pgs, 3, "active\0", "degraded", 30000),
		  "PGs still has_degraded; see %s", osd_proc_log(C.osds[1]));
	fprintf(stderr, "recovered in %lld ms\n", vt_now_ms() - t0);
	{
		int three[] = { 3 };

		CHECK(wait_pgs(three, 1, "active\0", "degraded", 15000));
	}
	for (int j = 0; j < NOBJ; j++) {
		if (pg_primary[obj_pg(j)] == 3 && j >= NOLD)
			continue;	/* never written */
		CHECK_MSG(read_check(j), "read obj %d", j);
		for (int n = 1; n <= NOSD; n++)
			CHECK_MSG(replica_ok(j, n), "obj %d on OSD %d", j, n);
	}
}

static void t_stats(void)
{
	char *v = NULL;

	CHECK(etcd_get_str_sync(C.cl, "pg/stats/1/1", &v) == ETCD_OK);
	CHECK_MSG(v && strstr(v, "\"degraded_count\":0") && strstr(v, "\"object_count\":") &&
		  strstr(v, "\"write_osd_set\":[1,2,3]"), "pg/stats/1/1: %s", v ? v : "(none)");
	free(v);
	v = NULL;
	{
		long long deadline = vt_now_ms() + 5000;
		bool ok = false;

		while (!ok && vt_now_ms() < deadline) {
			free(v);
			v = NULL;
			CHECK(etcd_get_str_sync(C.cl, "osd/stats/1", &v) == ETCD_OK);
			ok = v && strstr(v, "\"recovery_stats\":{\"degraded\":{\"count\":") &&
			     !strstr(v, "\"degraded\":{\"count\":0,");
			if (!ok)
				vt_sleep_ms(200);
		}
		CHECK_MSG(ok, "osd/stats/1: %s", v ? v : "(none)");
	}
	free(v);
}

static void t_shutdown(void)
{
	CHECK_EQ(oc_stop_all(&C), 0);
}

int main(void)
{
	vt_run("setup_write", t_setup);
	if (!vt_case_failed) {
		vt_run("kill_and_write", t_kill_and_write);
		vt_run("no_recovery_client_write_fixes", t_no_recovery_client_fix);
		vt_run("recovery_replicas_identical", t_recovery);
		vt_run("pg_and_osd_stats", t_stats);
		vt_run("clean_shutdown", t_shutdown);
	}
	oc_free(&C);
	oc_model_free(&M);
	return vt_finish();
}

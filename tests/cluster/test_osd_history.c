/* pg/history, epochs and misplaced objects (spec §8.2, §8.3, §9) on 4 real
 * vstor-osd processes + a real etcd, lazy mode (immediate_commit none):
 *
 * - a PG moved by hand (config/pgs + pg/history written in one txn, as the
 *   monitor does) to OSDs that have none of its data finds it through the
 *   history, copies it, deletes the copies left on the old OSDs (after a
 *   sync) and ends active and clean with the history cleared; a PG moved
 *   by one OSD does the same for the one copy that moved;
 * - the version epoch is persisted in pg/history and keeps rising across
 *   kill -9 and restarts of the PG's OSDs;
 * - split brain (pg_size 2, pg_minsize 1): writes go to OSD 2 alone while
 *   OSD 1 is down; OSD 1 brought up alone must stay incomplete, and once
 *   OSD 2 is back the PG is active with OSD 2's newer data.
 *
 * Pool 1: pg_size 2, pg_minsize 1, 2 PGs: [1,2] (primary 1), [2,1] (2).
 * Pool 2: pg_size 2, pg_minsize 1, 1 PG: [1,2] (primary 1). */
#include "check.h"
#include "etcd.h"
#include "osd_cluster.h"
#include "vstor_proto.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "/vh"
#define NOSD 4
#define BS (128u << 10)
#define NOBJ 24				/* pool 1: even objects PG 1, odd PG 2 */
#define INODE1 ((1ull << 48) | 3)
#define NOBJ2 8
#define INODE2 ((2ull << 48) | 4)

static struct osd_cluster C;
static struct oc_model M1, M2;
static uint64_t prim1[3] = { 0, 1, 2 };	/* pool 1 primaries by PG */
static uint64_t prim2[2] = { 0, 1 };
static const char *set1[3] = { NULL, "[1,2]", "[2,1]" };
static const char *set2 = "[1,2]";

static const char *osd_args[] = {
	"--etcd_address", NULL, "--etcd_prefix", PREFIX, "--etcd_report_interval", "1",
	"--max_etcd_attempts", "2", "--etcd_quick_timeout", "500", NULL,
};

static int pg_of(int i)
{
	return i % 2 + 1;
}

static char *pgs_doc(void)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf), "{\"hash\":\"h\",\"items\":{"
		 "\"1\":{\"1\":{\"osd_set\":%s,\"primary\":%" PRIu64 "},"
		 "\"2\":{\"osd_set\":%s,\"primary\":\"%" PRIu64 "\"}},"
		 "\"2\":{\"1\":{\"osd_set\":%s,\"primary\":%" PRIu64 "}}}}",
		 set1[1], prim1[1], set1[2], prim1[2], set2, prim2[1]);
	return buf;
}

static bool wait_pg(uint64_t pool, int pg, uint64_t primary, const char *need,
		    const char *notin, int ms)
{
	uint64_t prims[4] = { 0 };

	prims[pg] = primary;
	return oc_wait_pgs(&C, pool, &pg, 1, prims, need, notin, ms);
}

static uint64_t hist_epoch(uint64_t pool, int pg)
{
	char key[64], *v = NULL;
	uint64_t e = 0;

	snprintf(key, sizeof(key), "pg/history/%" PRIu64 "/%d", pool, pg);
	if (etcd_get_str_sync(C.cl, key, &v) == ETCD_OK && v) {
		json_t j = json_parse(v, strlen(v), NULL, 0);

		if (json_u64(json_get(j, "epoch"), &e))
			e = 0;
		json_free(j);
	}
	free(v);
	return e;
}

/* Objects of inode on OSD n (SEC_LIST), of PG pg of 2 (0 = all). */
static int count_on(int n, uint64_t inode, int pg)
{
	static struct vs_obj_ver_id v[256];
	int64_t k = oc_sec_list(&C, n, inode, v, 256);
	int c = 0;

	if (k < 0)
		return -1;
	for (int64_t i = 0; i < k; i++)
		c += !pg || (int)(v[i].stripe / BS % 2 + 1) == pg;
	return c;
}

/* ---- cases ---- */

static void t_setup(void)
{
	CHECK(oc_start(&C, PREFIX, osd_args, NOSD,
		       "{\"1\":{\"name\":\"a\",\"scheme\":\"replicated\",\"pg_size\":2,"
		       "\"pg_minsize\":1,\"pg_count\":2},"
		       "\"2\":{\"name\":\"b\",\"scheme\":\"replicated\",\"pg_size\":2,"
		       "\"pg_minsize\":1,\"pg_count\":1}}", pgs_doc()));
	CHECK_MSG(wait_pg(1, 1, 1, "active\0", "\"degraded\"", 20000) &&
		  wait_pg(1, 2, 2, "active\0", "\"degraded\"", 20000) &&
		  wait_pg(2, 1, 1, "active\0", "\"degraded\"", 20000),
		  "PGs not active; see %s", osd_proc_log(C.osds[1]));
	CHECK_EQ(oc_model_init(&M1, INODE1, BS, NOBJ, 0), 0);
	CHECK_EQ(oc_model_init(&M2, INODE2, BS, NOBJ2, 77), 0);
	for (int round = 0; round < 2; round++)
		for (int i = 0; i < NOBJ; i++)
			CHECK_EQ(oc_model_write(&C, &M1, (int)prim1[pg_of(i)], i, 32), 0);
	for (int i = 0; i < NOBJ2; i++)
		CHECK_EQ(oc_model_write(&C, &M2, (int)prim2[1], i, 32), 0);
}

/* Active and clean: the history is cleared to all_peers = osd_set, and
 * the versions carry the persisted epoch. */
static void t_clean_history_epoch(void)
{
	char *v = NULL;
	uint64_t e;

	CHECK_MSG(oc_wait_value(&C, "pg/history/1/1", "\"osd_sets\":[]\0\"all_peers\":[1,2]\0",
				NULL, 10000, &v), "pg/history/1/1: %s", v ? v : "(none)");
	free(v);
	e = hist_epoch(1, 1);
	CHECK(e > 0);
	for (int i = 0; i < NOBJ; i += 2)
		CHECK_MSG(vs_version_epoch(M1.ver[i]) == e, "obj %d version %" PRIx64 ", epoch %"
			  PRIu64, i, M1.ver[i], e);
}

/* PG 1 of pool 1 moves from [1,2] to [3,4], PG 2 from [2,1] to [2,3]; the
 * old sets go to pg/history in the same transaction. */
static void t_move(void)
{
	char h1[128], h2[128], *v = NULL;
	const char *kv[6];

	snprintf(h1, sizeof(h1), "{\"osd_sets\":[[1,2]],\"all_peers\":[1,2],\"epoch\":\"%" PRIu64
		 "\"}", hist_epoch(1, 1));
	snprintf(h2, sizeof(h2), "{\"osd_sets\":[[\"2\",\"1\"]],\"all_peers\":[2,1],\"epoch\":%"
		 PRIu64 "}", hist_epoch(1, 2));
	set1[1] = "[3,4]";
	prim1[1] = 3;
	set1[2] = "[\"2\",3]";
	kv[0] = "config/pgs";
	kv[1] = pgs_doc();
	kv[2] = "pg/history/1/1";
	kv[3] = h1;
	kv[4] = "pg/history/1/2";
	kv[5] = h2;
	CHECK(oc_put_many(&C, kv, 3));
	CHECK_MSG(wait_pg(1, 1, 3, "active\0", "has_", 30000) &&
		  wait_pg(1, 2, 2, "active\0", "has_", 30000),
		  "moved PGs not active and clean; see %s and %s", osd_proc_log(C.osds[3]),
		  osd_proc_log(C.osds[2]));
	CHECK_MSG(oc_wait_value(&C, "pg/history/1/1", "\"osd_sets\":[]\0\"all_peers\":[3,4]\0",
				NULL, 10000, &v), "pg/history/1/1: %s", v ? v : "(none)");
	free(v);
	CHECK_MSG(oc_wait_value(&C, "pg/history/1/2", "\"osd_sets\":[]\0\"all_peers\":[2,3]\0",
				NULL, 10000, &v), "pg/history/1/2: %s", v ? v : "(none)");
	free(v);
	for (int i = 0; i < NOBJ; i++) {
		int a = pg_of(i) == 1 ? 3 : 2, b = pg_of(i) == 1 ? 4 : 3;

		CHECK_MSG(oc_model_replica(&C, &M1, a, i) && oc_model_replica(&C, &M1, b, i),
			  "obj %d not on OSDs %d and %d", i, a, b);
		CHECK_MSG(oc_model_read(&C, &M1, (int)prim1[pg_of(i)], i), "read obj %d", i);
	}
	/* the extra copies are gone */
	CHECK_EQ(count_on(1, INODE1, 0), 0);
	CHECK_EQ(count_on(2, INODE1, 1), 0);
	CHECK_EQ(count_on(4, INODE1, 2), 0);
	CHECK_EQ(count_on(3, INODE1, 0), NOBJ);
	CHECK_MSG(oc_wait_value(&C, "pg/stats/1/1", "\"misplaced_count\":0\0\"degraded_count\":0\0"
				"\"object_count\":12\0\"write_osd_set\":[3,4]\0", NULL, 5000, &v),
		  "pg/stats/1/1: %s", v ? v : "(none)");
	free(v);
	/* OSD 3 recovered PG 1 (12 objects, degraded: copies made) and
	 * deleted the 12 misplaced copies on 1 and 2 */
	CHECK_MSG(oc_wait_value(&C, "osd/stats/3", "\"misplaced\":{\"count\":12,\0", NULL, 5000, &v),
		  "osd/stats/3: %s", v && strstr(v, "recovery_stats") ? strstr(v, "recovery_stats") :
		  "(none)");
	free(v);
}

/* kill -9 both OSDs of PG 1, restart them: the new primary's epoch is
 * above the old one, persisted before use, and versions keep rising. */
static void t_epoch_across_restart(void)
{
	uint64_t e1 = hist_epoch(1, 1), e2;
	int i = 4;	/* PG 1 */

	CHECK_EQ(oc_model_write(&C, &M1, 3, i, 8), 0);
	CHECK_EQ(vs_version_epoch(M1.ver[i]), e1);
	CHECK(osd_proc_kill(C.osds[3]) >= 0);
	CHECK(osd_proc_kill(C.osds[4]) >= 0);
	oc_close(&C, 3);
	oc_close(&C, 4);
	CHECK(oc_wait_osd_gone(&C, 3, 10000) && oc_wait_osd_gone(&C, 4, 10000));
	CHECK_EQ(osd_proc_restart(C.osds[4]), 0);
	CHECK_EQ(osd_proc_restart(C.osds[3]), 0);
	CHECK_MSG(wait_pg(1, 1, 3, "active\0", "degraded", 20000), "PG 1/1 not active; see %s",
		  osd_proc_log(C.osds[3]));
	CHECK_MSG(oc_wait_value(&C, "pg/history/1/1", "\"osd_sets\":[]\0\"all_peers\":[3,4]\0",
				NULL, 10000, NULL), "pg/history/1/1 not clean");
	e2 = hist_epoch(1, 1);
	CHECK_MSG(e2 > e1, "epoch %" PRIu64 " -> %" PRIu64, e1, e2);
	CHECK(oc_model_read(&C, &M1, 3, i));
	CHECK_EQ(oc_model_write(&C, &M1, 3, i, 8), 0);
	CHECK_MSG(vs_version_epoch(M1.ver[i]) == hist_epoch(1, 1), "version %" PRIx64
		  " epoch %" PRIu64, M1.ver[i], hist_epoch(1, 1));
	for (int k = 0; k < NOBJ; k += 2)
		CHECK_MSG(oc_model_read(&C, &M1, 3, k), "read obj %d", k);
}

/* Pool 2, pg_size 2, pg_minsize 1. */
static void t_split_brain(void)
{
	char *v = NULL;
	int p1[] = { 1 };

	/* OSD 1 (the primary) dies; OSD 2 takes the PG, degraded, and
	 * records [0,2] in the history; the client writes there */
	CHECK(osd_proc_kill(C.osds[1]) >= 0);
	oc_close(&C, 1);
	prim2[1] = 2;
	CHECK(etcd_put_str_sync(C.cl, "config/pgs", pgs_doc()) == ETCD_OK);
	CHECK_MSG(wait_pg(2, 1, 2, "active\0degraded\0", NULL, 20000),
		  "PG 2/1 not active+degraded on OSD 2; see %s", osd_proc_log(C.osds[2]));
	CHECK_MSG(oc_wait_value(&C, "pg/history/2/1", "[0,2]\0", NULL, 5000, &v),
		  "pg/history/2/1: %s", v ? v : "(none)");
	free(v);
	for (int i = 0; i < NOBJ2; i++)
		CHECK_EQ(oc_model_write(&C, &M2, 2, i, 32), 0);
	CHECK_EQ(oc_sync(&C, 2), 0);
	/* OSD 2 dies, OSD 1 comes back alone: it must not serve its stale
	 * copies */
	CHECK(osd_proc_kill(C.osds[2]) >= 0);
	oc_close(&C, 2);
	CHECK(oc_wait_osd_gone(&C, 2, 10000));
	CHECK(oc_wait_osd_gone(&C, 1, 10000));
	prim2[1] = 1;
	CHECK(etcd_put_str_sync(C.cl, "config/pgs", pgs_doc()) == ETCD_OK);
	CHECK_EQ(osd_proc_restart(C.osds[1]), 0);
	CHECK_MSG(oc_wait_pgs(&C, 2, p1, 1, prim2, "incomplete\0", NULL, 20000),
		  "PG 2/1 not incomplete on OSD 1; see %s", osd_proc_log(C.osds[1]));
	for (int k = 0; k < 20; k++) {
		uint64_t p = 0;

		CHECK_MSG(!oc_pg_state(&C, 2, 1, &p, "active\0", NULL),
			  "PG 2/1 became active without OSD 2 (split brain)");
		vt_sleep_ms(100);
	}
	CHECK_EQ(oc_prim_rw(&C, 1, VS_OP_READ, INODE2, 0, 4096, 0, NULL, NULL, NULL, NULL),
		 -EPIPE);
	/* OSD 2 back: active with the newer data everywhere */
	CHECK_EQ(osd_proc_restart(C.osds[2]), 0);
	CHECK_MSG(oc_wait_pgs(&C, 2, p1, 1, prim2, "active\0", "has_", 20000),
		  "PG 2/1 not active and clean; see %s", osd_proc_log(C.osds[1]));
	for (int i = 0; i < NOBJ2; i++) {
		CHECK_MSG(oc_model_read(&C, &M2, 1, i), "read obj %d of pool 2", i);
		CHECK_MSG(oc_model_replica(&C, &M2, 1, i) && oc_model_replica(&C, &M2, 2, i),
			  "replicas of obj %d of pool 2", i);
	}
}

static void t_shutdown(void)
{
	CHECK_EQ(oc_stop_all(&C), 0);
}

int main(void)
{
	oc_init(&C);
	vt_run("setup_write", t_setup);
	if (!vt_case_failed) {
		vt_run("clean_history_and_epoch", t_clean_history_epoch);
		vt_run("move_pgs_by_history_misplaced_removed", t_move);
		vt_run("epoch_rises_across_restart", t_epoch_across_restart);
		vt_run("split_brain_stays_incomplete", t_split_brain);
		vt_run("clean_shutdown", t_shutdown);
	}
	oc_free(&C);
	oc_model_free(&M1);
	oc_model_free(&M2);
	return vt_finish();
}

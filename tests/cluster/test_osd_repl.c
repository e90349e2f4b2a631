/* Replicated pool on 3 real vstor-osd processes + a real etcd: PG locks
 * and states in pg/state, primary WRITE/READ/SYNC/DELETE routed by
 * pg/state.primary, replicas identical (SEC_READ on every member), CAS,
 * -EPIPE from a non-primary, and kill -9 of one OSD: the PGs of the other
 * primaries go active+degraded and keep serving reads and writes.
 *
 * Pool 1: pg_size 3, pg_minsize 2, 4 PGs placed by hand (primaries 1, 2,
 * 3, 1). Short lease: etcd_report_interval 1 s, TTL 3 s. */
#include "check.h"
#include "etcd.h"
#include "osd_cluster.h"
#include "osd_proc.h"
#include "vstor_proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PREFIX "/vt"
#define NOSD 3
#define NPG 4
#define BS (128u << 10)
#define NOBJ 48
#define INODE ((1ull << 48) | 5)

static struct osd_cluster C;
static struct oc_model M;
static const uint64_t pg_primary[NPG + 1] = { 0, 1, 2, 3, 1 };

/* no_recovery: t_restart checks the has_degraded flag that recovery
 * (test_osd_recovery) would clear. */
static const char *osd_args[] = {
	"--etcd_address", NULL, "--etcd_prefix", PREFIX, "--etcd_report_interval", "1",
	"--max_etcd_attempts", "2", "--etcd_quick_timeout", "500", "--no_recovery", "true", NULL,
};

static int64_t prim_rw(int n, uint64_t opcode, uint64_t offset, uint32_t len, uint64_t cas,
		       const void *data, void *out, uint64_t *ver)
{
	uint32_t bl = 0;
	int64_t rv = oc_prim_rw(&C, n, opcode, INODE, offset, len, cas, data, out, ver, &bl);

	if (opcode == VS_OP_READ && rv >= 0 && bl != 4)
		return -1000;
	return rv;
}

/* ---- cluster state ---- */

static int obj_pg(int i)
{
	return i % NPG + 1;
}

static bool wait_pgs(const int *pgs, int npgs, const char *need, const char *notin,
		     int timeout_ms)
{
	return oc_wait_pgs(&C, 1, pgs, npgs, pg_primary, need, notin, timeout_ms);
}

static int write_random(int i)
{
	return oc_model_write(&C, &M, (int)pg_primary[obj_pg(i)], i, 32);
}

static bool read_check(int i)
{
	return oc_model_read(&C, &M, (int)pg_primary[obj_pg(i)], i);
}

/* ---- cases ---- */

static void t_setup(void)
{
	char pgs[1024];
	int all[NPG] = { 1, 2, 3, 4 };

	snprintf(pgs, sizeof(pgs), "{\"hash\":\"x\",\"items\":{\"1\":{"
		 "\"1\":{\"osd_set\":[1,2,3],\"primary\":1},"
		 "\"2\":{\"osd_set\":[2,3,1],\"primary\":2},"
		 "\"3\":{\"osd_set\":[3,1,2],\"primary\":3},"
		 "\"4\":{\"osd_set\":[1,3,2],\"primary\":1}}}}");
	CHECK(oc_start(&C, PREFIX, osd_args, NOSD,
		       "{\"1\":{\"name\":\"rep\",\"scheme\":\"replicated\",\"pg_size\":3,"
		       "\"pg_minsize\":2,\"pg_count\":4}}", pgs));
	CHECK_MSG(wait_pgs(all, NPG, "active\0", "degraded", 20000),
		  "PGs not active; see %s", osd_proc_log(C.osds[1]));
	CHECK_EQ(oc_model_init(&M, INODE, BS, NOBJ, 0), 0);
}

static void t_write_read(void)
{
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < NOBJ; i++) {
			int r = write_random(i);

			CHECK_MSG(r == 0, "write obj %d: %d", i, r);
		}
	for (int i = 0; i < NOBJ; i++)
		CHECK_MSG(read_check(i), "read obj %d", i);
	for (int n = 1; n <= NOSD; n++)
		CHECK_EQ(oc_sync(&C, n), 0);
}

/* Pipelined writes to one object on one connection: applied in arrival
 * order with consecutive versions. */
static void t_pipelined_same_object(void)
{
	enum { N = 16 };
	int i = 5, p = (int)pg_primary[obj_pg(i)];
	int fd = oc_connect_port(osd_proc_port(C.osds[p]));
	static uint8_t data[N][8192];
	union vs_packet req, rep;
	uint64_t first = 0;

	CHECK(fd >= 0);
	for (int k = 0; k < N; k++) {
		uint32_t off = (uint32_t)(k % 4) * 8192;

		for (size_t b = 0; b < sizeof(data[k]); b++)
			data[k][b] = (uint8_t)oc_rnd(&M);
		vs_req_init(&req, 1000 + (uint64_t)k, VS_OP_WRITE);
		vs_le64_set(&req.rw.inode, INODE);
		vs_le64_set(&req.rw.offset, (uint64_t)i * BS + off);
		vs_le32_set(&req.rw.len, sizeof(data[k]));
		CHECK(oc_send_all(fd, &req, sizeof(req)) && oc_send_all(fd, data[k], sizeof(data[k])));
		memcpy(M.data[i] + off, data[k], sizeof(data[k]));
	}
	for (int k = 0; k < N; k++) {
		uint64_t id, ver;

		CHECK(oc_recv_all(fd, &rep, sizeof(rep)));
		id = vs_le64_get(rep.hdr.id) - 1000;
		ver = vs_le64_get(rep.reply_rw.version);
		CHECK_EQ(vs_le64_get(rep.reply.retval), sizeof(data[0]));
		if (!k)
			first = ver - id;
		CHECK_MSG(ver == first + id && ver > M.ver[i], "reply %d: id %" PRIu64
			  " version %" PRIu64, k, id, ver);
	}
	close(fd);
	M.ver[i] = first + N - 1;
	CHECK(read_check(i));
}

static void t_replicas_identical(void)
{
	for (int i = 0; i < NOBJ; i++)
		for (int n = 1; n <= NOSD; n++)
			CHECK_MSG(oc_model_replica(&C, &M, n, i), "obj %d on OSD %d", i, n);
}

static void t_cas_epipe_einval(void)
{
	static uint8_t data[4096];
	uint64_t ver = 0;
	int p = (int)pg_primary[obj_pg(0)];

	memset(data, 0x5a, sizeof(data));
	CHECK_EQ(prim_rw(p, VS_OP_WRITE, 0, 4096, M.ver[0] + 1, data, NULL, &ver), 4096);
	CHECK_EQ(ver, M.ver[0] + 1);
	M.ver[0] = ver;
	memcpy(M.data[0], data, 4096);
	CHECK_EQ(prim_rw(p, VS_OP_WRITE, 0, 4096, M.ver[0], data, NULL, &ver), -EINTR);
	CHECK_EQ(ver, M.ver[0]);
	/* CAS create on an existing object fails too */
	CHECK_EQ(prim_rw(p, VS_OP_WRITE, 0, 4096, 1, data, NULL, &ver), -EINTR);
	/* not the primary of PG 1 */
	CHECK_EQ(prim_rw(2, VS_OP_WRITE, 0, 4096, 0, data, NULL, NULL), -EPIPE);
	CHECK_EQ(prim_rw(3, VS_OP_READ, 0, 4096, 0, NULL, data, NULL), -EPIPE);
	/* misaligned, crossing the stripe */
	CHECK_EQ(prim_rw(p, VS_OP_READ, 512, 4096, 0, NULL, data, NULL), -EINVAL);
	CHECK_EQ(prim_rw(p, VS_OP_READ, BS - 4096, 8192, 0, NULL, data, NULL), -EINVAL);
	CHECK(read_check(0));
	/* DELETE of a whole object, then it reads as zeroes */
	{
		int i = NOBJ - 1;

		p = (int)pg_primary[obj_pg(i)];
		CHECK_EQ(prim_rw(p, VS_OP_DELETE, (uint64_t)i * BS, 0, 0, NULL, NULL, &ver), 0);
		CHECK(ver > M.ver[i]);
		memset(M.data[i], 0, BS);
		M.ver[i] = ver;
		CHECK(read_check(i));
		/* deleting it again, or an object never written, succeeds (§4.0.5) */
		CHECK_EQ(prim_rw(p, VS_OP_DELETE, (uint64_t)i * BS, 0, 0, NULL, NULL, &ver), 0);
		CHECK_EQ(prim_rw(p, VS_OP_DELETE, (uint64_t)(i + NPG * 100) * BS, 0, 0, NULL, NULL,
				 &ver), 0);
		CHECK_EQ(write_random(i), 0);
		CHECK(read_check(i));
	}
}

static void t_kill_one(void)
{
	int live[] = { 1, 2, 4 };

	CHECK_EQ(osd_proc_kill(C.osds[3]) >= 0, 1);
	oc_close(&C, 3);
	CHECK_MSG(wait_pgs(live, 3, "active\0degraded\0", NULL, 15000),
		  "PGs not degraded; see %s", osd_proc_log(C.osds[1]));
	for (int i = 0; i < NOBJ; i++) {
		if (pg_primary[obj_pg(i)] == 3)
			continue;
		CHECK_MSG(read_check(i), "read obj %d after kill", i);
	}
	for (int i = 0; i < NOBJ; i++) {
		int r;

		if (pg_primary[obj_pg(i)] == 3)
			continue;
		r = write_random(i);
		CHECK_MSG(r == 0, "write obj %d after kill: %d", i, r);
		CHECK_MSG(read_check(i), "read obj %d after write", i);
	}
}

/* OSD 3 back (no_recovery set): the PGs of 1 and 2 are active and not
 * degraded, but flag has_degraded (OSD 3 missed writes); its own PG 3 is
 * locked and active again. */
static void t_restart(void)
{
	int mine[] = { 1, 2, 4 }, three[] = { 3 };

	CHECK_MSG(oc_wait_osd_gone(&C, 3, 10000), "osd/state/3 did not expire");
	CHECK_EQ(osd_proc_restart(C.osds[3]), 0);
	CHECK_MSG(wait_pgs(mine, 3, "active\0has_degraded\0", "\"degraded\"", 15000),
		  "PGs not active+has_degraded; see %s", osd_proc_log(C.osds[1]));
	CHECK_MSG(wait_pgs(three, 1, "active\0", NULL, 15000), "PG 3 not active; see %s",
		  osd_proc_log(C.osds[3]));
	for (int i = 0; i < NOBJ; i++)
		CHECK_MSG(read_check(i), "read obj %d after restart", i);
}

/* SIGTERM: clean exit (ASan builds check leaks), PG locks gone with the
 * revoked lease. */
static void t_shutdown(void)
{
	char *v = NULL;

	CHECK_EQ(osd_proc_stop(C.osds[2]), 0);
	CHECK_EQ(osd_proc_stop(C.osds[1]), 0);
	CHECK(etcd_get_str_sync(C.cl, "pg/state/1/1", &v) == ETCD_OK);
	CHECK_MSG(!v, "pg/state/1/1 still there: %s", v);
}

int main(void)
{
	oc_init(&C);
	vt_run("setup_pgs_active", t_setup);
	if (!vt_case_failed) {
		vt_run("write_read", t_write_read);
		vt_run("pipelined_same_object", t_pipelined_same_object);
		vt_run("replicas_identical", t_replicas_identical);
		vt_run("cas_epipe_einval_delete", t_cas_epipe_einval);
		vt_run("kill_one_degraded", t_kill_one);
		vt_run("restart_has_degraded", t_restart);
		vt_run("clean_shutdown", t_shutdown);
	}
	oc_free(&C);
	oc_model_free(&M);
	return vt_finish();
}

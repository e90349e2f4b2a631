/* Lazy mode on the OSD (immediate_commit none; spec §4.0.4, §7, §8.3) on 3
 * real vstor-osd processes + a real etcd, with raw client connections:
 *
 * - a PG that re-peers drops exactly the client connections that hold
 *   writes in it no SYNC covered (a SYNC from any client covers them; a
 *   write to another PG does not count), so their clients replay;
 * - autosync_writes: the primary syncs itself (SEC_SYNC to its replicas)
 *   after that many writes, not before;
 * - autosync_interval: it syncs a single write within the interval; then
 *   kill -9 of the primary and a restart: every acknowledged and
 *   autosynced write reads back (checksummed model, every replica).
 *
 * Pool 1: pg_size 3, pg_minsize 2, 1 PG [1,2,3]; pool 2: pg_size 2,
 * pg_minsize 1, 1 PG [1,2]; OSD 1 is the primary of both. */
#include "check.h"
#include "etcd.h"
#include "json.h"
#include "osd_cluster.h"
#include "vstor_proto.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PREFIX "/vl"
#define NOSD 3
#define BS (128u << 10)
#define NOBJ 16
#define INODE1 ((1ull << 48) | 9)
#define INODE2 ((2ull << 48) | 9)
#define RAW ((uint64_t)NOBJ * BS)	/* raw writes go to objects NOBJ.. */

static struct osd_cluster C;
static struct oc_model M1, M2;
static const uint64_t prim[2] = { 0, 1 };

static const char *osd_args[] = {
	"--etcd_address", NULL, "--etcd_prefix", PREFIX, "--etcd_report_interval", "1",
	"--max_etcd_attempts", "2", "--etcd_quick_timeout", "500",
	"--immediate_commit", "none", NULL,
};

static bool wait_pg(uint64_t pool, const char *need, const char *notin, int ms)
{
	int one = 1;

	return oc_wait_pgs(&C, pool, &one, 1, prim, need, notin, ms);
}

/* One request on a raw connection (a WRITE sends len patterned bytes),
 * the reply and its payload read; the retval. */
static int64_t raw_call(int fd, uint64_t opcode, uint64_t inode, uint64_t off, uint32_t len)
{
	static uint8_t data[65536];
	union vs_packet req, rep;
	int64_t pl;

	vs_req_init(&req, C.next_id++, opcode);
	vs_le64_set(&req.rw.inode, inode);
	vs_le64_set(&req.rw.offset, off);
	vs_le32_set(&req.rw.len, len);
	memset(data, (int)(off >> 12) ^ 0x5c, len);
	if (!oc_send_all(fd, &req, sizeof(req)) ||
	    (opcode == VS_OP_WRITE && !oc_send_all(fd, data, len)) ||
	    !oc_recv_all(fd, &rep, sizeof(rep)))
		return INT64_MIN;
	pl = vs_check_reply(&rep, opcode);
	if (pl < 0 || (size_t)pl > sizeof(data) || (pl && !oc_recv_all(fd, data, (size_t)pl)))
		return INT64_MIN;
	return (int64_t)vs_le64_get(rep.reply.retval);
}

/* The OSD closed fd (EOF or reset within ms). */
static bool closed_by_osd(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char b;

	return poll(&p, 1, ms) == 1 && recv(fd, &b, 1, MSG_DONTWAIT) <= 0;
}

static uint64_t sync_count(int n)
{
	char key[32], *v = NULL;
	uint64_t cnt = UINT64_MAX;

	snprintf(key, sizeof(key), "osd/stats/%d", n);
	if (etcd_get_str_sync(C.cl, key, &v) == ETCD_OK && v) {
		json_t j = json_parse(v, strlen(v), NULL, 0);

		if (json_u64(json_path(j, "op_stats", "sync", "count", NULL), &cnt))
			cnt = UINT64_MAX;
		json_free(j);
	}
	free(v);
	return cnt;
}

/* SEC_SYNCs OSD n has served, once two stats reports agree. */
static uint64_t sync_count_settled(int n)
{
	uint64_t a = sync_count(n), b;

	for (int k = 0; k < 50; k++) {
		vt_sleep_ms(1100);
		b = sync_count(n);
		if (a == b)
			return a;
		a = b;
	}
	return UINT64_MAX;
}

static bool wait_sync_count_above(int n, uint64_t base, int ms)
{
	long long deadline = vt_now_ms() + ms;

	while (vt_now_ms() < deadline) {
		uint64_t c = sync_count(n);

		if (c != UINT64_MAX && c > base)
			return true;
		vt_sleep_ms(200);
	}
	return false;
}

/* ---- cases ---- */

static void t_setup(void)
{
	CHECK(oc_start(&C, PREFIX, osd_args, NOSD,
		       "{\"1\":{\"name\":\"a\",\"scheme\":\"replicated\",\"pg_size\":3,"
		       "\"pg_minsize\":2,\"pg_count\":1},"
		       "\"2\":{\"name\":\"b\",\"scheme\":\"replicated\",\"pg_size\":2,"
		       "\"pg_minsize\":1,\"pg_count\":1}}",
		       "{\"hash\":\"h\",\"items\":{\"1\":{\"1\":{\"osd_set\":[1,2,3],\"primary\":1}},"
		       "\"2\":{\"1\":{\"osd_set\":[1,2],\"primary\":1}}}}"));
	CHECK(etcd_put_str_sync(C.cl, "config/global",
				"{\"autosync_interval\":0,\"autosync_writes\":0}") == ETCD_OK);
	CHECK_MSG(wait_pg(1, "active\0", "degraded", 20000) && wait_pg(2, "active\0", "degraded",
								       20000),
		  "PGs not active; see %s", osd_proc_log(C.osds[1]));
	CHECK_EQ(oc_model_init(&M1, INODE1, BS, NOBJ, 0), 0);
	CHECK_EQ(oc_model_init(&M2, INODE2, BS, NOBJ, 5), 0);
}

/* Six client connections to OSD 1; OSD 3 dies, pool 1's PG re-peers. */
static void t_drop_unsynced_on_repeer(void)
{
	enum { A, B, CS, D, E, F, N };
	int fd[N];

	for (int i = 0; i < N; i++) {
		fd[i] = oc_connect_port(osd_proc_port(C.osds[1]));
		CHECK(fd[i] >= 0);
	}
	/* objects NOBJ.. are outside the models */
	CHECK_EQ(raw_call(fd[A], VS_OP_WRITE, INODE1, RAW, 4096), 4096);	/* unsynced, pool 1 */
	CHECK_EQ(raw_call(fd[B], VS_OP_WRITE, INODE2, RAW, 4096), 4096);	/* unsynced, pool 2 */
	CHECK_EQ(raw_call(fd[CS], VS_OP_WRITE, INODE1, RAW + BS, 4096), 4096);
	CHECK_EQ(raw_call(fd[CS], VS_OP_SYNC, 0, 0, 0), 0);			/* synced itself */
	CHECK_EQ(raw_call(fd[D], VS_OP_WRITE, INODE1, RAW + 2 * BS, 4096), 4096);
	CHECK_EQ(raw_call(fd[E], VS_OP_SYNC, 0, 0, 0), 0);			/* covers D */
	CHECK_EQ(raw_call(fd[A], VS_OP_WRITE, INODE1, RAW + 3 * BS, 8192), 8192);	/* after it */
	CHECK_EQ(raw_call(fd[F], VS_OP_READ, INODE1, RAW, 4096), 4096);	/* reads only */
	CHECK(osd_proc_kill(C.osds[3]) >= 0);
	oc_close(&C, 3);
	CHECK_MSG(wait_pg(1, "active\0degraded\0", NULL, 15000), "pool 1 PG not degraded; see %s",
		  osd_proc_log(C.osds[1]));
	CHECK_MSG(closed_by_osd(fd[A], 5000), "connection with unsynced writes not dropped");
	for (int i = B; i < N; i++)
		CHECK_MSG(!closed_by_osd(fd[i], 200) && raw_call(fd[i], VS_OP_PING, 0, 0, 0) == 0,
			  "connection %d dropped", i);
	for (int i = 0; i < N; i++)
		close(fd[i]);
	/* the acknowledged writes are there */
	{
		static uint8_t out[8192], want[8192];

		memset(want, (int)((RAW + 3 * BS) >> 12) ^ 0x5c, sizeof(want));
		CHECK_EQ(oc_prim_rw(&C, 1, VS_OP_READ, INODE1, RAW + 3 * BS, 8192, 0, NULL, out,
				    NULL, NULL), 8192);
		CHECK(!memcmp(out, want, sizeof(want)));
	}
	CHECK(oc_wait_osd_gone(&C, 3, 10000));
	CHECK_EQ(osd_proc_restart(C.osds[3]), 0);
	CHECK_MSG(wait_pg(1, "active\0", "degraded", 20000), "pool 1 PG not clean; see %s",
		  osd_proc_log(C.osds[1]));
}

/* autosync_writes 4: three writes leave the replicas unsynced, the fourth
 * syncs them. */
static void t_autosync_writes(void)
{
	uint64_t base;

	CHECK(etcd_put_str_sync(C.cl, "config/global",
				"{\"autosync_interval\":0,\"autosync_writes\":4}") == ETCD_OK);
	base = sync_count_settled(2);
	CHECK(base != UINT64_MAX);
	for (int i = 0; i < 3; i++)
		CHECK_EQ(oc_model_write(&C, &M1, 1, i, 4), 0);
	vt_sleep_ms(2500);
	CHECK_MSG(sync_count(2) == base, "synced before autosync_writes (%" PRIu64 " -> %" PRIu64
		  ")", base, sync_count(2));
	CHECK_EQ(oc_model_write(&C, &M1, 1, 3, 4), 0);
	CHECK_MSG(wait_sync_count_above(2, base, 8000), "no autosync after 4 writes");
}

/* autosync_interval 1 s: one write is synced within it; kill -9 of the
 * primary keeps everything acknowledged. */
static void t_autosync_interval_kill(void)
{
	uint64_t base;

	CHECK(etcd_put_str_sync(C.cl, "config/global",
				"{\"autosync_interval\":1,\"autosync_writes\":0}") == ETCD_OK);
	base = sync_count_settled(3);
	CHECK(base != UINT64_MAX);
	for (int i = 0; i < NOBJ; i++) {
		CHECK_EQ(oc_model_write(&C, &M1, 1, i, 32), 0);
		CHECK_EQ(oc_model_write(&C, &M2, 1, i, 32), 0);
	}
	CHECK_MSG(wait_sync_count_above(3, base, 8000), "no autosync within the interval");
	CHECK(osd_proc_kill(C.osds[1]) >= 0);
	oc_close(&C, 1);
	CHECK(oc_wait_osd_gone(&C, 1, 10000));
	CHECK_EQ(osd_proc_restart(C.osds[1]), 0);
	CHECK_MSG(wait_pg(1, "active\0", "degraded", 20000) && wait_pg(2, "active\0", "degraded",
								       20000),
		  "PGs not active after the restart; see %s", osd_proc_log(C.osds[1]));
	for (int i = 0; i < NOBJ; i++) {
		CHECK_MSG(oc_model_read(&C, &M1, 1, i) && oc_model_read(&C, &M2, 1, i),
			  "read obj %d", i);
		for (int n = 1; n <= NOSD; n++)
			CHECK_MSG(oc_model_replica(&C, &M1, n, i), "pool 1 obj %d on OSD %d", i, n);
		for (int n = 1; n <= 2; n++)
			CHECK_MSG(oc_model_replica(&C, &M2, n, i), "pool 2 obj %d on OSD %d", i, n);
	}
}

static void t_shutdown(void)
{
	CHECK_EQ(oc_stop_all(&C), 0);
}

int main(void)
{
	oc_init(&C);
	vt_run("setup", t_setup);
	if (!vt_case_failed) {
		vt_run("repeer_drops_unsynced_clients", t_drop_unsynced_on_repeer);
		vt_run("autosync_writes", t_autosync_writes);
		vt_run("autosync_interval_kill_primary", t_autosync_interval_kill);
		vt_run("clean_shutdown", t_shutdown);
	}
	oc_free(&C);
	oc_model_free(&M1);
	oc_model_free(&M2);
	return vt_finish();
}

/* vstor-mon with real OSDs: a real etcd, 4-6 vstor-osd processes on files
 * (hosts h1..h6 by config/node_placement), two monitors, libvstor writing
 * under load while the cluster changes:
 *
 *   - kill -9 an OSD: the monitor moves its primaries at once (PGs active,
 *     degraded) and re-places its PGs after osd_out_time; recovery fills
 *     the new members; every PG ends active with no degraded object (and
 *     left_on_dead while the dead OSD is in their histories: then
 *     'vsctl osd rm', as an admin does, and the PGs are clean); the times
 *     from the kill are printed;
 *   - add an OSD: PGs move to it (rebalancing), all clean again;
 *   - kill -9 the master monitor: the standby takes over; I/O never waits
 *     for a monitor;
 *   - interrupted rebalance: add an OSD and kill another one while objects
 *     are being copied: still ends clean;
 *   - no monitor at all: I/O goes on.
 *
 * After each step every 4 KiB block is checked through the client and on
 * every OSD of its PG (SEC_READ): its content is derived from (block,
 * generation), the generation being that of the last acknowledged write.
 * Writes in flight never overlap, so the expected content is exact. */
#include "check.h"
#include "etcd.h"
#include "json.h"
#include "mon_proc.h"
#include "osd_cluster.h"
#include "pg_check.h"
#include "vc_model.h"
#include "vstor_client.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "/vmo"
#define NOSD 6
#define BS (128u << 10)
#define IMG (16u << 20)
#define BLK 4096u
#define NBLK (IMG / BLK)
#define QD 8
#define MAXRUN 16
#define INODE ((1ull << 48) | 1)
#define PG_COUNT 16
#define OUT_TIME "5"
#define CLEAN_MS 120000

static struct osd_cluster C;
static struct mon_proc *mons[2];
static struct vstor_client *vc;
static uint32_t gen[NBLK], next_gen;
static bool busy[NBLK];

static const char *osd_args[] = {
	"--etcd_address", NULL, "--etcd_prefix", PREFIX, "--etcd_report_interval", "1",
	"--max_etcd_attempts", "2", "--etcd_quick_timeout", "500",
	"--immediate_commit", "all", NULL,
};

static uint64_t rnd(void)
{
	return (uint64_t)vcm_rnd() << 32 | vcm_rnd();
}

/* The content of block b at generation g (g = 0: never written). */
static void fill(uint8_t *buf, uint32_t b, uint32_t g)
{
	uint64_t x = ((uint64_t)b << 32 | g) * 0x9e3779b97f4a7c15ull + 1;

	if (!g) {
		memset(buf, 0, BLK);
		return;
	}
	for (uint32_t i = 0; i < BLK; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(buf + i, &x, 8);
	}
	memcpy(buf, &b, 4);
	memcpy(buf + 4, &g, 4);
}

static bool block_ok(const uint8_t *got, uint32_t b, const char *where)
{
	static uint8_t want[BLK];
	uint32_t gb = 0, gg = 0;

	fill(want, b, gen[b]);
	if (!memcmp(got, want, BLK))
		return true;
	memcpy(&gb, got, 4);
	memcpy(&gg, got + 4, 4);
	fprintf(stderr, "%s: block %u: want generation %u, got block %u generation %u\n", where, b,
		gen[b], gb, gg);
	return false;
}

/* ---- the write load ---- */

struct wop {
	bool busy;
	uint32_t first, n, g;
	uint8_t buf[MAXRUN * BLK];
};

static struct wop ops[QD];
static uint64_t w_done, w_failed;
static int64_t w_err;

static void wcb(void *arg, int64_t rv, uint64_t version)
{
	struct wop *o = arg;

	(void)version;
	o->busy = false;
	for (uint32_t i = 0; i < o->n; i++)
		busy[o->first + i] = false;
	if (rv != (int64_t)o->n * BLK) {
		w_failed++;
		w_err = rv;
		return;
	}
	w_done++;
	for (uint32_t i = 0; i < o->n; i++)
		gen[o->first + i] = o->g;
}

static void submit(struct wop *o)
{
	uint32_t first = (uint32_t)(rnd() % NBLK), n = (uint32_t)(rnd() % MAXRUN) + 1;

	if (first + n > NBLK)
		n = NBLK - first;
	for (uint32_t i = 0; i < n; i++)
		if (busy[first + i])
			return;		/* overlaps a write in flight: next time */
	o->first = first;
	o->n = n;
	o->g = ++next_gen;
	for (uint32_t i = 0; i < n; i++) {
		fill(o->buf + i * BLK, first + i, o->g);
		busy[first + i] = true;
	}
	o->busy = true;
	if (vstor_write(vc, INODE, (uint64_t)first * BLK, (uint64_t)n * BLK, o->buf, wcb, o)) {
		o->busy = false;
		for (uint32_t i = 0; i < n; i++)
			busy[first + i] = false;
		w_failed++;
	}
}

/* Keeps QD writes in flight until done() says so (checked every 50 ms) or
 * ms pass; then lets the writes in flight finish. */
static void load(int ms, bool (*done)(void))
{
	long long end = vt_now_ms() + ms, next_check = 0;
	bool stop = false;

	for (;;) {
		stop |= vt_now_ms() >= end;
		if (!stop && done && vt_now_ms() >= next_check) {
			stop = done();
			next_check = vt_now_ms() + 50;
		}
		for (int i = 0; i < QD && !stop; i++)
			if (!ops[i].busy)
				submit(&ops[i]);
		if (stop) {
			bool any = false;

			for (int i = 0; i < QD; i++)
				any |= ops[i].busy;
			if (!any)
				return;
		}
		vstor_client_run_once(vc, 20000000);
	}
}

/* ---- cluster state ---- */

static struct pg_want W = { .pool = 1, .pg_count = PG_COUNT, .pg_size = 3 };

static bool all_clean(void)
{
	return pgs_clean(C.cl, &W);
}

static bool pg_set(json_t pgs, int pg, uint64_t set[3], uint64_t *primary)
{
	return pg_set_of(pgs, 1, pg, set, 3, primary);
}

/* Every PG active (maybe degraded) under a primary that is not osd. */
static int gone_osd;
static bool all_active_without(void)
{
	for (int pg = 1; pg <= PG_COUNT; pg++) {
		uint64_t p = 0;

		if (!oc_pg_state(&C, 1, pg, &p, "active\0", NULL) || p == (uint64_t)gone_osd)
			return false;
	}
	return true;
}

/* ---- verification ---- */

static bool verify_client(void)
{
	uint8_t *buf = malloc(1 << 20);
	bool ok = buf != NULL;

	for (uint32_t off = 0; ok && off < IMG; off += 1 << 20) {
		int64_t r = vstor_read_sync(vc, INODE, off, 1 << 20, buf);

		if (r != 1 << 20) {
			fprintf(stderr, "read at %u: %lld\n", off, (long long)r);
			ok = false;
			break;
		}
		for (uint32_t b = 0; ok && b < (1u << 20) / BLK; b++)
			ok = block_ok(buf + b * BLK, off / BLK + b, "client read");
	}
	free(buf);
	return ok;
}

/* Every object on every OSD of its PG: the same data, blocks as expected. */
static bool verify_replicas(void)
{
	static uint8_t out[BS];
	json_t pgs = oc_get_json(C.cl, "config/pgs");
	bool ok = pgs != NULL;
	uint32_t checked = 0;

	for (uint32_t obj = 0; ok && obj < IMG / BS; obj++) {
		uint64_t set[3], prim, ver0 = 0;
		bool written = false;

		for (uint32_t b = 0; b < BS / BLK; b++)
			written |= gen[obj * (BS / BLK) + b] != 0;
		if (!written || !pg_set(pgs, (int)(obj % PG_COUNT) + 1, set, &prim)) {
			ok = written ? false : ok;
			continue;
		}
		for (int s = 0; ok && s < 3; s++) {
			uint64_t ver = 0;
			char where[64];
			int64_t r = oc_sec_read(&C, (int)set[s], INODE, (uint64_t)obj * BS, BS, out, &ver);

			snprintf(where, sizeof(where), "OSD %" PRIu64 " object %u", set[s], obj);
			if (r != BS) {
				fprintf(stderr, "%s: SEC_READ %lld\n", where, (long long)r);
				ok = false;
				break;
			}
			for (uint32_t b = 0; ok && b < BS / BLK; b++)
				ok = block_ok(out + b * BLK, obj * (BS / BLK) + b, where);
			if (s && ver != ver0) {
				fprintf(stderr, "%s: version %" PRIu64 ", first member %" PRIu64 "\n", where,
					ver, ver0);
				ok = false;
			}
			ver0 = ver;
			checked++;
		}
	}
	if (pgs)
		json_free(pgs);
	return ok && checked > 0;
}

static void show_logs(void)
{
	oc_print_logs(&C, NOSD, mons, 2);
}

#define CHECK_LOGS(cond, ...) do { \
	if (!(cond)) { show_logs(); CHECK_MSG(cond, __VA_ARGS__); } \
} while (0)

static int start_osd(int n)
{
	C.osds[n] = osd_proc_start((uint64_t)n, osd_args);
	return C.osds[n] ? 0 : -1;
}

/* Which monitor is master: the running one whose log says so. */
static int master_index(void)
{
	for (int i = 0; i < 2; i++)
		if (mons[i] && mon_proc_running(mons[i]) &&
		    oc_log_has(mon_proc_log(mons[i]), "master monitor now"))
			return i;
	return -1;
}

static void start_mon(int i)
{
	const char *args[] = { "--etcd_prefix", PREFIX, "--mon_change_timeout", "200",
		"--mon_stats_timeout", "500", "--osd_out_time", OUT_TIME, "--etcd_mon_ttl", "2",
		"--etcd_mon_retries", "1", NULL };

	mons[i] = mon_proc_start(etcd_proc_endpoint(C.etcd), args);
}

/* kill -9 OSD n under load (after pre_ms of load); once every PG is
 * active again, after_active() (may be NULL); once its PGs are re-placed
 * and recovered (PGs active, maybe left_on_dead: the dead OSD is still in
 * their histories), 'vsctl osd rm n' as an admin would, then clean.
 * Returns ms from the kill to clean, or -1. */
static long long kill_and_recover(int n, int pre_ms, void (*after_active)(void))
{
	long long t0, t_active, t_rec;
	const char *out;
	int rc;

	load(pre_ms, NULL);
	osd_proc_kill(C.osds[n]);
	oc_close(&C, n);
	t0 = vt_now_ms();
	gone_osd = n;
	load(CLEAN_MS, all_active_without);
	t_active = vt_now_ms() - t0;
	if (after_active)
		after_active();
	W.no_osd = n;
	W.need_osd = 0;
	W.allow_left_on_dead = true;
	load(CLEAN_MS, all_clean);
	t_rec = vt_now_ms() - t0;
	W.allow_left_on_dead = false;
	{
		char args[32];

		snprintf(args, sizeof(args), "osd rm %d", n);
		out = mon_vsctl(etcd_proc_endpoint(C.etcd), PREFIX, args, &rc);
		if (rc) {
			char *v = NULL;

			fprintf(stderr, "vsctl %s: %s", args, out);
			etcd_get_str_sync(C.cl, "config/pgs", &v);
			fprintf(stderr, "config/pgs: %s\n", v ? v : "(none)");
			free(v);
			show_logs();
			return -1;
		}
	}
	load(CLEAN_MS, all_clean);
	printf("  kill -9 OSD %d: PGs active again after %lld ms, re-placed and recovered after "
	       "%lld ms (osd_out_time %s s), clean after 'vsctl osd rm' at %lld ms; %" PRIu64
	       " writes, %" PRIu64 " failed\n", n, t_active, t_rec, OUT_TIME, vt_now_ms() - t0,
	       w_done, w_failed);
	return all_clean() ? vt_now_ms() - t0 : -1;
}

/* ---- cases ---- */

static void t_setup(void)
{
	char err[256];
	struct vstor_client_opts o = { .up_wait_retry_interval_ms = 200 };
	struct etcd_config ec;

	oc_init(&C);
	C.etcd = etcd_proc_start();
	CHECK(C.etcd);
	C.cl = oc_new_client(&C, PREFIX);
	CHECK(C.cl);
	osd_args[1] = etcd_proc_endpoint(C.etcd);
	/* one host per OSD, by config (they all run on this machine) */
	CHECK(oc_put_hosts(&C, NOSD));
	CHECK(etcd_put_str_sync(C.cl, "config/global", "{\"immediate_commit\":\"all\"}") == ETCD_OK);
	CHECK(etcd_put_str_sync(C.cl, "config/pools",
				"{\"1\":{\"name\":\"rep\",\"scheme\":\"replicated\",\"pg_size\":3,"
				"\"pg_minsize\":2,\"pg_count\":16,\"failure_domain\":\"host\"}}") == ETCD_OK);
	CHECK(etcd_put_str_sync(C.cl, "config/inode/1/1", "{\"name\":\"img\",\"size\":16777216}") ==
	      ETCD_OK);
	for (int n = 1; n <= 4; n++)
		CHECK(start_osd(n) == 0);
	start_mon(0);
	CHECK(mons[0]);
	start_mon(1);
	CHECK(mons[1]);
	etcd_config_init(&ec);
	CHECK(etcd_config_add_endpoints(&ec, etcd_proc_endpoint(C.etcd), err, sizeof(err)) == 0);
	etcd_config_set(&ec.prefix, PREFIX);
	o.etcd = &ec;
	vc = vstor_client_create(&o, NULL, err, sizeof(err));
	etcd_config_free(&ec);
	CHECK_MSG(vc, "client: %s", err);
	CHECK_EQ(vstor_client_wait_ready(vc, 20000), 0);
	W.need_osd = 4;
	load(CLEAN_MS, all_clean);
	CHECK_LOGS(all_clean(), "PGs not placed and clean: %s", W.why);
	load(2000, NULL);
	CHECK_MSG(!w_failed, "%" PRIu64 " writes failed (last %lld)", w_failed, (long long)w_err);
	CHECK(verify_client());
	CHECK(verify_replicas());
}

static void t_kill_osd_under_load(void)
{
	long long ms = kill_and_recover(2, 1500, NULL);

	CHECK_LOGS(ms > 0, "not clean after killing OSD 2: %s", W.why);
	CHECK_MSG(!w_failed, "%" PRIu64 " writes failed (last %lld)", w_failed, (long long)w_err);
	CHECK(verify_client());
	CHECK(verify_replicas());
}

static void t_add_osd(void)
{
	long long t0 = vt_now_ms();

	CHECK(start_osd(5) == 0);
	W.need_osd = 5;
	load(CLEAN_MS, all_clean);
	CHECK_LOGS(all_clean(), "not clean with OSD 5: %s", W.why);
	printf("  OSD 5 added: rebalanced and clean after %lld ms\n", vt_now_ms() - t0);
	CHECK_MSG(!w_failed, "%" PRIu64 " writes failed", w_failed);
	CHECK(verify_client());
	CHECK(verify_replicas());
}

static void t_kill_master_mon(void)
{
	json_t m0 = oc_get_json(C.cl, "mon/master"), m1 = NULL;
	char id[64];
	long long t0;
	int master = master_index();

	CHECK(m0 && master >= 0);
	snprintf(id, sizeof(id), "%s", json_str(json_get(m0, "id")));
	json_free(m0);
	mon_proc_kill(mons[master]);
	t0 = vt_now_ms();
	/* I/O goes on without a master meanwhile; the standby takes over when
	 * the killed master's lease (TTL 3 s) expires */
	while (!m1 && vt_now_ms() - t0 < 20000) {
		load(100, NULL);
		m1 = oc_get_json(C.cl, "mon/master");
		if (m1 && !strcmp(json_str(json_get(m1, "id")), id)) {
			json_free(m1);
			m1 = NULL;
		}
	}
	CHECK_LOGS(m1, "no new master monitor");
	json_free(m1);
	/* mon/master is written before the new master logs that it is one */
	for (long long end = vt_now_ms() + 5000; master_index() != 1 - master && vt_now_ms() < end;)
		vt_sleep_ms(50);
	CHECK_EQ(master_index(), 1 - master);
	printf("  master monitor killed: the standby is master after %lld ms\n", vt_now_ms() - t0);
	{
		long long ms = kill_and_recover(3, 1500, NULL);

		CHECK_LOGS(ms > 0, "not clean after killing OSD 3: %s", W.why);
	}
	CHECK_MSG(!w_failed, "%" PRIu64 " writes failed", w_failed);
	CHECK(verify_client());
	CHECK(verify_replicas());
}

/* A PG with OSD n in its set is active but still has objects to copy. */
static int held_osd;
static bool rebalance_held(void)
{
	json_t pgs = oc_get_json(C.cl, "config/pgs");
	bool held = false;

	for (int pg = 1; pgs && pg <= PG_COUNT && !held; pg++) {
		uint64_t set[3], prim, p = 0;

		if (pg_set(pgs, pg, set, &prim) &&
		    (set[0] == (uint64_t)held_osd || set[1] == (uint64_t)held_osd ||
		     set[2] == (uint64_t)held_osd))
			held = oc_pg_state(&C, 1, pg, &p, "active\0has_degraded\0", NULL);
	}
	if (pgs)
		json_free(pgs);
	return held;
}

static void release_recovery(void)
{
	if (etcd_put_str_sync(C.cl, "config/global", "{\"immediate_commit\":\"all\"}") != ETCD_OK)
		fprintf(stderr, "cannot clear no_recovery\n");
}

/* Rebalancing to a new OSD 6 is held mid-way (no_recovery: its PGs are
 * active with objects still to copy), OSD 1 is killed, then recovery goes
 * on: all clean, nothing lost. */
static void t_interrupted_rebalance(void)
{
	long long ms;

	CHECK(etcd_put_str_sync(C.cl, "config/global",
				"{\"immediate_commit\":\"all\",\"no_recovery\":true}") == ETCD_OK);
	CHECK(start_osd(6) == 0);
	held_osd = 6;
	load(30000, rebalance_held);
	CHECK_LOGS(rebalance_held(), "no PG of OSD 6 waiting for recovery");
	ms = kill_and_recover(1, 300, release_recovery);
	CHECK_LOGS(ms > 0, "not clean after killing OSD 1 mid-rebalance: %s", W.why);
	CHECK_MSG(!w_failed, "%" PRIu64 " writes failed", w_failed);
	CHECK(verify_client());
	CHECK(verify_replicas());
}

static void t_no_monitor(void)
{
	for (int i = 0; i < 2; i++)
		if (mons[i])
			mon_proc_kill(mons[i]);
	load(3000, NULL);
	CHECK_MSG(!w_failed, "%" PRIu64 " writes failed without a monitor", w_failed);
	CHECK(w_done > 0);
	CHECK(verify_client());
}

int main(void)
{
	RUN(t_setup);
	if (!vt_case_failed) {
		RUN(t_kill_osd_under_load);
		RUN(t_add_osd);
		RUN(t_kill_master_mon);
		RUN(t_interrupted_rebalance);
		RUN(t_no_monitor);
	}
	if (vc)
		vstor_client_destroy(vc);
	for (int i = 0; i < 2; i++)
		mon_proc_free(mons[i]);
	oc_free(&C);
	return vt_finish();
}

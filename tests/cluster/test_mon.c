/* vstor-mon against a real etcd, with the OSDs' keys written by the test
 * (osd/state under leases the test revokes to take an OSD down, osd/stats
 * with sizes and hosts): placement written and failure domains kept,
 * primaries move off a down OSD at once, re-placement after osd_out_time
 * with the old sets in pg/history, bad pool configs reported in
 * pool/stats while other pools go on, standby takeover after kill -9,
 * pg_count change (pause, wait for the PGs to stop, merged histories),
 * history/last_clean_pgs, and statistics. Each case has its own prefix. */
#include "check.h"
#include "etcd.h"
#include "etcd_proc.h"
#include "json.h"
#include "mon_proc.h"
#include "osd_cluster.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TIB (1ull << 40)
#define WAIT_MS 30000

static struct etcd_proc *E;
static struct etcd_client *cl;
static char prefix[64];
static int64_t leases[64];	/* per fake OSD */

static struct etcd_client *client(const char *pfx)
{
	struct etcd_config cfg;
	struct etcd_client *c;
	char err[256];

	etcd_config_init(&cfg);
	cfg.quick_timeout_ms = 3000;
	if (etcd_config_add_endpoints(&cfg, etcd_proc_endpoint(E), err, sizeof(err))) {
		etcd_config_free(&cfg);
		return NULL;
	}
	etcd_config_set(&cfg.prefix, pfx);
	c = etcd_client_new(&cfg, NULL, err, sizeof(err));
	etcd_config_free(&cfg);
	return c;
}

static void new_prefix(const char *name)
{
	if (cl)
		etcd_client_free(cl);
	snprintf(prefix, sizeof(prefix), "/test_mon_%s", name);
	cl = client(prefix);
	memset(leases, 0, sizeof(leases));
}

static int put(const char *key, const char *value)
{
	return etcd_put_str_sync(cl, key, value);
}

static int putf(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int putf(const char *key, const char *fmt, ...)
{
	char buf[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return put(key, buf);
}

/* An up OSD: osd/state under its own lease, osd/stats with size and host. */
static int osd_up(uint64_t num, const char *host, unsigned tib)
{
	struct etcd_result r;
	char key[64], val[512];
	struct timespec ts;
	struct etcd_put_req req = { 0 };

	if (etcd_lease_grant_sync(cl, 600, 0, &r) != ETCD_OK) {
		etcd_result_clear(&r);
		return -1;
	}
	leases[num] = r.lease_id;
	etcd_result_clear(&r);
	clock_gettime(CLOCK_REALTIME, &ts);
	snprintf(key, sizeof(key), "osd/stats/%" PRIu64, num);
	snprintf(val, sizeof(val), "{\"time\":\"%lld.000\",\"blockstore_ready\":true,\"size\":%llu,"
		 "\"free\":%llu,\"host\":\"%s\",\"op_stats\":{\"primary_write\":{\"count\":\"%" PRIu64
		 "\",\"usec\":100,\"bytes\":4096}},\"subop_stats\":{},\"recovery_stats\":{}}",
		 (long long)ts.tv_sec, (unsigned long long)tib * TIB, (unsigned long long)tib * TIB / 2,
		 host, num);
	if (put(key, val))
		return -1;
	snprintf(key, sizeof(key), "osd/state/%" PRIu64, num);
	snprintf(val, sizeof(val), "{\"state\":\"up\",\"addresses\":[\"127.0.0.1\"],\"host\":\"%s\","
		 "\"port\":%" PRIu64 ",\"primary_enabled\":true,\"blockstore_enabled\":true}", host,
		 10000 + num);
	req.key = key;
	req.value = val;
	req.value_len = strlen(val);
	req.lease = leases[num];
	if (etcd_put_sync(cl, &req, &r) != ETCD_OK) {
		etcd_result_clear(&r);
		return -1;
	}
	etcd_result_clear(&r);
	return 0;
}

/* Takes an OSD down like a crash: its lease (and so osd/state) goes. */
static int osd_down(uint64_t num)
{
	struct etcd_result r;
	int rc = etcd_lease_revoke_sync(cl, leases[num], &r);

	etcd_result_clear(&r);
	leases[num] = 0;
	return rc;
}

static struct mon_proc *mons[4];

static struct mon_proc *mon_start(const char *out_time, const char *ttl)
{
	const char *args[] = { "--etcd_prefix", prefix, "--mon_change_timeout", "100",
		"--mon_stats_timeout", "100", "--osd_out_time", out_time, "--etcd_mon_ttl", ttl,
		"--etcd_mon_retries", "1", NULL };
	struct mon_proc *m = mon_proc_start(etcd_proc_endpoint(E), args);

	for (int i = 0; m && i < 4; i++)
		if (!mons[i]) {
			mons[i] = m;
			break;
		}
	return m;
}

/* After each case: every monitor stops cleanly (exit 0, so no crash and,
 * under ASan, no leak), its log is shown when something failed. */
static void mons_done(void)
{
	for (int i = 0; i < 4; i++) {
		int st = 0;

		if (!mons[i])
			continue;
		if (mon_proc_running(mons[i]))
			st = mon_proc_stop(mons[i]);
		else if (mon_proc_pid(mons[i]))
			st = -1;
		if (st)
			vt_fail(__FILE__, __LINE__, "vstor-mon exited with status %d", st);
		if (vt_case_failed)
			vt_print_tail("vstor-mon", mon_proc_log(mons[i]));
		mon_proc_free(mons[i]);
		mons[i] = NULL;
	}
}

/* A case: its body, then mons_done() whatever the body did. */
#define MON_CASE(name) \
	static void name##_body(void); \
	static void name(void) { name##_body(); mons_done(); } \
	static void name##_body(void)

/* The PGs of a pool in config/pgs: sets[(pg-1)*size + i], prim[pg-1]. */
struct pgs {
	uint32_t n;
	uint64_t sets[1024 * 4], prim[1024];
	bool paused;
	char hash[48];
};

static bool read_pgs(uint64_t pool, uint32_t size, struct pgs *p)
{
	json_t j = oc_get_json(cl, "config/pgs"), pp;
	char id[32];

	memset(p, 0, sizeof(*p));
	if (!j)
		return false;
	snprintf(p->hash, sizeof(p->hash), "%s", json_str(json_get(j, "hash")) ?
		 json_str(json_get(j, "hash")) : "");
	snprintf(id, sizeof(id), "%" PRIu64, pool);
	pp = json_get(json_get(j, "items"), id);
	for (size_t i = 0; json_is_obj(pp) && i < json_len(pp) && i < 1024; i++) {
		uint64_t pg = strtoull(json_key_at(pp, i), NULL, 10);
		json_t set = json_get(json_at(pp, i), "osd_set");
		bool pause = false;

		if (!pg || pg > 1024)
			continue;
		for (size_t s = 0; s < size && s < json_len(set); s++)
			json_u64(json_at(set, s), &p->sets[(pg - 1) * size + s]);
		json_u64(json_get(json_at(pp, i), "primary"), &p->prim[pg - 1]);
		json_bool(json_get(json_at(pp, i), "pause"), &pause);
		p->paused |= pause;
		p->n++;
	}
	json_free(j);
	return true;
}

/* Polls until pool has count PGs (not paused when unpaused). */
static bool wait_pgs(uint64_t pool, uint32_t size, uint32_t count, bool unpaused, struct pgs *p)
{
	long long end = vt_now_ms() + WAIT_MS;

	while (vt_now_ms() < end) {
		if (read_pgs(pool, size, p) && p->n == count && (!unpaused || !p->paused))
			return true;
		vt_sleep_ms(50);
	}
	return false;
}

static const char *host_of(uint64_t osd)
{
	static char h[16];

	snprintf(h, sizeof(h), "h%" PRIu64, (osd + 1) / 2);	/* 1,2 -> h1; 3,4 -> h2 ... */
	return h;
}

static bool has(const uint64_t *set, uint32_t size, uint64_t osd)
{
	for (uint32_t s = 0; s < size; s++)
		if (set[s] == osd)
			return true;
	return false;
}

/* Every PG has size OSDs on distinct hosts and a primary among them. */
static bool pgs_valid(const struct pgs *p, uint32_t size, uint64_t not_osd)
{
	for (uint32_t q = 0; q < p->n; q++) {
		const uint64_t *set = &p->sets[q * size];

		for (uint32_t s = 0; s < size; s++) {
			if (!set[s] || set[s] == not_osd)
				return false;
			for (uint32_t r = 0; r < s; r++)
				if ((set[r] + 1) / 2 == (set[s] + 1) / 2)	/* same host */
					return false;
		}
		if (!has(set, size, p->prim[q]))
			return false;
	}
	return true;
}

static const char *vsctl(const char *args, int *rc)
{
	return mon_vsctl(etcd_proc_endpoint(E), prefix, args, rc);
}

static int cluster6(void)
{
	for (uint64_t n = 1; n <= 6; n++)
		if (osd_up(n, host_of(n), n % 2 ? 1 : 2))
			return -1;
	return 0;
}

#define POOL1 "\"1\":{\"name\":\"p1\",\"scheme\":\"replicated\",\"pg_size\":3,\"pg_minsize\":2," \
	      "\"pg_count\":32,\"failure_domain\":\"host\"}"

/* ---- cases ---- */

MON_CASE(t_initial_placement)
{
	struct mon_proc *m;
	struct pgs p;
	json_t master, ps;

	new_prefix("initial");
	CHECK(cluster6() == 0);
	CHECK(putf("config/pools", "{%s}", POOL1) == 0);
	m = mon_start("600", "10");
	CHECK(m);
	CHECK_MSG(wait_pgs(1, 3, 32, true, &p), "no placement in config/pgs");
	CHECK(pgs_valid(&p, 3, 0));
	CHECK_EQ(strlen(p.hash), 40);
	master = oc_get_json(cl, "mon/master");
	CHECK(master && json_get(master, "id") && json_get(master, "hostname"));
	json_free(master);
	/* each host (3 TiB) is in every PG; in it a 1 TiB OSD has half the PGs of a 2 TiB one */
	for (uint64_t n = 1; n <= 6; n++) {
		uint32_t k = 0;

		for (uint32_t i = 0; i < 32 * 3; i++)
			k += p.sets[i] == n;
		CHECK_MSG(n % 2 ? k >= 10 && k <= 11 : k >= 21 && k <= 22, "OSD %" PRIu64 ": %u", n, k);
	}
	for (long long end = vt_now_ms() + WAIT_MS; vt_now_ms() < end; vt_sleep_ms(50)) {
		ps = oc_get_json(cl, "pool/stats/1");
		if (ps)
			break;
	}
	CHECK(ps);
	CHECK_STR(json_str(json_get(ps, "status")), "ok");
	json_free(ps);
}

MON_CASE(t_down_then_out)
{
	struct mon_proc *m;
	struct pgs p, p2;
	uint32_t prim_of_1 = 0, moved = 0;
	long long t0;
	json_t h;
	char key[64];

	new_prefix("downout");
	CHECK(cluster6() == 0);
	CHECK(putf("config/pools", "{%s}", POOL1) == 0);
	m = mon_start("4", "10");
	CHECK(m);
	CHECK(wait_pgs(1, 3, 32, true, &p));
	for (uint32_t q = 0; q < 32; q++)
		prim_of_1 += p.prim[q] == 1;
	CHECK(prim_of_1 > 0);
	CHECK(osd_down(1) == 0);
	t0 = vt_now_ms();
	/* down: primaries move at once, sets stay */
	for (;;) {
		bool ok = read_pgs(1, 3, &p2);

		for (uint32_t q = 0; ok && q < 32; q++)
			ok = p2.prim[q] != 1;
		if (ok)
			break;
		CHECK_MSG(vt_now_ms() - t0 < 3500, "primaries did not move off OSD 1");
		vt_sleep_ms(20);
	}
	printf("  primaries moved %lld ms after the lease went\n", vt_now_ms() - t0);
	CHECK(!memcmp(p.sets, p2.sets, sizeof(p.sets)));
	for (uint32_t q = 0; q < 32; q++) {
		CHECK(has(&p2.sets[q * 3], 3, p2.prim[q]));
		moved += p.prim[q] != p2.prim[q];
	}
	CHECK_MSG(moved <= prim_of_1 + prim_of_1 / 2 + 2, "%u primaries moved, %u were on OSD 1",
		  moved, prim_of_1);
	/* out after osd_out_time: OSD 1 leaves every set, histories keep it */
	for (;;) {
		bool ok = read_pgs(1, 3, &p2) && p2.n == 32;

		for (uint32_t i = 0; ok && i < 32 * 3; i++)
			ok = p2.sets[i] != 1;
		if (ok)
			break;
		CHECK_MSG(vt_now_ms() - t0 < 4000 + WAIT_MS, "OSD 1 was not re-placed");
		vt_sleep_ms(50);
	}
	printf("  re-placed %lld ms after the lease went (osd_out_time 4 s)\n", vt_now_ms() - t0);
	CHECK(vt_now_ms() - t0 >= 3900);
	CHECK(pgs_valid(&p2, 3, 1));
	for (uint32_t q = 0; q < 32; q++) {
		if (!has(&p.sets[q * 3], 3, 1))
			continue;
		snprintf(key, sizeof(key), "pg/history/1/%u", q + 1);
		h = oc_get_json(cl, key);
		CHECK_MSG(h && json_len(json_get(h, "osd_sets")) == 1, "no history for PG %u", q + 1);
		for (uint32_t s = 0; s < 3; s++) {
			uint64_t o = 0;

			json_u64(json_at(json_at(json_get(h, "osd_sets"), 0), s), &o);
			CHECK(o == p.sets[q * 3 + s]);
		}
		json_free(h);
	}
	/* it comes back: it is used again */
	CHECK(osd_up(1, host_of(1), 1) == 0);
	for (;;) {
		bool used = false;

		if (read_pgs(1, 3, &p2))
			for (uint32_t i = 0; i < 32 * 3; i++)
				used |= p2.sets[i] == 1;
		if (used)
			break;
		CHECK_MSG(vt_now_ms() - t0 < 8000 + WAIT_MS, "OSD 1 was not used again");
		vt_sleep_ms(50);
	}
	CHECK(pgs_valid(&p2, 3, 0));
}

MON_CASE(t_bad_pools)
{
	struct mon_proc *m;
	struct pgs p, p2;
	json_t ps;
	const char *want[] = { "2", "scheme", "3", "failure domains", "5", "failure_domain", NULL };

	new_prefix("badpools");
	CHECK(cluster6() == 0);
	CHECK(putf("config/pools", "{%s,\"2\":{\"name\":\"p2\",\"scheme\":\"weird\",\"pg_size\":3,"
		   "\"pg_minsize\":2,\"pg_count\":8},\"3\":{\"name\":\"p3\",\"scheme\":\"replicated\","
		   "\"pg_size\":5,\"pg_minsize\":4,\"pg_count\":8},\"5\":{\"name\":\"p5\",\"scheme\":"
		   "\"replicated\",\"pg_size\":2,\"pg_minsize\":1,\"pg_count\":8,\"failure_domain\":"
		   "\"planet\"},\"4\":{\"name\":\"p4\",\"scheme\":\"replicated\",\"pg_size\":3,"
		   "\"pg_minsize\":2,\"pg_count\":4,\"failure_domain\":\"osd\"}}", POOL1) == 0);
	m = mon_start("600", "10");
	CHECK(m);
	CHECK(wait_pgs(1, 3, 32, true, &p));
	CHECK(wait_pgs(4, 3, 4, true, &p2));
	CHECK(read_pgs(2, 3, &p2) && p2.n == 0);
	CHECK(read_pgs(3, 5, &p2) && p2.n == 0);
	for (int i = 0; want[i]; i += 2) {
		char key[64];
		bool ok = false;

		snprintf(key, sizeof(key), "pool/stats/%s", want[i]);
		for (long long end = vt_now_ms() + WAIT_MS; !ok && vt_now_ms() < end; vt_sleep_ms(50)) {
			ps = oc_get_json(cl, key);
			ok = ps && json_str(json_get(ps, "status")) &&
			     !strcmp(json_str(json_get(ps, "status")), "error") &&
			     strstr(json_str(json_get(ps, "message")), want[i + 1]);
			if (ps)
				json_free(ps);
		}
		CHECK_MSG(ok, "pool %s has no error status mentioning %s", want[i], want[i + 1]);
	}
	{
		int rc;
		const char *out = vsctl("df", &rc);

		CHECK_MSG(rc == 0 && strstr(out, "error: pg_minsize 4 needs 4 failure domains"),
			  "vsctl df: %s", out);
		out = vsctl("status", &rc);
		CHECK_MSG(rc == 0 && strstr(out, "problems:") && strstr(out, "pool 2: error: invalid pool"),
			  "vsctl status: %s", out);
	}
	/* config/pools becomes garbage: nothing moves, the last good one is used */
	CHECK(put("config/pools", "{\"1\":{\"name\":") == 0);
	CHECK(put("config/osd/2", "not json") == 0);
	vt_sleep_ms(1000);
	CHECK(read_pgs(1, 3, &p2) && p2.n == 32);
	CHECK(!memcmp(p.sets, p2.sets, sizeof(p.sets)));
	CHECK(mon_proc_running(m));
}

MON_CASE(t_standby_takeover)
{
	struct mon_proc *a, *b;
	json_t ma, mb;
	struct pgs p;
	long long t0;
	char ida[64];

	new_prefix("standby");
	CHECK(cluster6() == 0);
	CHECK(putf("config/pools", "{%s}", POOL1) == 0);
	a = mon_start("600", "2");
	CHECK(a);
	CHECK(wait_pgs(1, 3, 32, true, &p));
	b = mon_start("600", "2");
	CHECK(b);
	ma = oc_get_json(cl, "mon/master");
	CHECK(ma);
	snprintf(ida, sizeof(ida), "%s", json_str(json_get(ma, "id")));
	json_free(ma);
	/* b is standby: a member, not master */
	vt_sleep_ms(500);
	mb = oc_get_json(cl, "mon/master");
	CHECK(mb && !strcmp(json_str(json_get(mb, "id")), ida));
	json_free(mb);
	mon_proc_kill(a);
	t0 = vt_now_ms();
	for (;;) {
		mb = oc_get_json(cl, "mon/master");
		if (mb && strcmp(json_str(json_get(mb, "id")), ida))
			break;
		if (mb)
			json_free(mb);
		CHECK_MSG(vt_now_ms() - t0 < 15000, "the standby did not take over");
		vt_sleep_ms(50);
	}
	json_free(mb);
	printf("  standby took over %lld ms after kill -9 (lease TTL 3 s)\n", vt_now_ms() - t0);
	/* and works: a new pool is placed */
	CHECK(putf("config/pools", "{%s,\"2\":{\"name\":\"p2\",\"scheme\":\"replicated\",\"pg_size\":2,"
		   "\"pg_minsize\":1,\"pg_count\":8}}", POOL1) == 0);
	CHECK(wait_pgs(2, 2, 8, true, &p));
}

MON_CASE(t_pg_count_change)
{
	struct mon_proc *m;
	struct pgs p, p2;
	long long end;
	bool saw_pause = false;

	new_prefix("pgcount");
	CHECK(cluster6() == 0);
	CHECK(putf("config/pools", "{%s}", POOL1) == 0);
	m = mon_start("600", "10");
	CHECK(m);
	CHECK(wait_pgs(1, 3, 32, true, &p));
	/* a PG still running holds the change */
	CHECK(put("pg/state/1/5", "{\"primary\":1,\"state\":[\"active\"],\"peers\":[1]}") == 0);
	CHECK(put("config/pools", "{\"1\":{\"name\":\"p1\",\"scheme\":\"replicated\",\"pg_size\":3,"
		  "\"pg_minsize\":2,\"pg_count\":64,\"failure_domain\":\"host\"}}") == 0);
	for (end = vt_now_ms() + WAIT_MS; !saw_pause && vt_now_ms() < end; vt_sleep_ms(50))
		saw_pause = read_pgs(1, 3, &p2) && p2.paused && p2.n == 32;
	CHECK_MSG(saw_pause, "the PGs were not paused");
	vt_sleep_ms(700);
	CHECK(read_pgs(1, 3, &p2) && p2.n == 32 && p2.paused);
	{
		struct etcd_result r;
		struct etcd_delete_req del = { .key = "pg/state/1/5" };

		CHECK(etcd_delete_sync(cl, &del, &r) == ETCD_OK);
		etcd_result_clear(&r);
	}
	CHECK(wait_pgs(1, 3, 64, true, &p2));
	CHECK(pgs_valid(&p2, 3, 0));
	/* new PG 33 takes objects of old PG 1: its history has old PG 1's set */
	{
		json_t h = oc_get_json(cl, "pg/history/1/33");
		bool found = false;

		for (size_t i = 0; h && i < json_len(json_get(h, "osd_sets")); i++) {
			json_t s = json_at(json_get(h, "osd_sets"), i);
			uint64_t o[3] = { 0 };

			for (int k = 0; k < 3; k++)
				json_u64(json_at(s, k), &o[k]);
			found |= !memcmp(o, &p.sets[0], sizeof(o));
		}
		CHECK_MSG(found, "PG 33 has no history of old PG 1");
		json_free(h);
	}
	/* and back to 32 */
	CHECK(putf("config/pools", "{%s}", POOL1) == 0);
	CHECK(wait_pgs(1, 3, 32, true, &p2));
}

MON_CASE(t_last_clean_and_stats)
{
	struct mon_proc *m;
	struct pgs p;
	json_t lc = NULL, st = NULL, is = NULL;
	char key[64], val[256];
	long long end;

	new_prefix("clean");
	CHECK(cluster6() == 0);
	CHECK(putf("config/pools", "{%s}", POOL1) == 0);
	CHECK(put("osd/inodestats/1", "{\"1\":{\"7\":{\"read\":{\"count\":2,\"usec\":10,\"bytes\":8192},"
		  "\"write\":{\"count\":\"3\",\"usec\":30,\"bytes\":12288}}}}") == 0);
	CHECK(put("osd/inodestats/2", "{\"1\":{\"7\":{\"write\":{\"count\":1,\"usec\":5,\"bytes\":4096}}}}") == 0);
	CHECK(put("osd/space/1", "{\"1\":{\"7\":1048576}}") == 0);
	CHECK(put("osd/space/3", "{\"1\":{\"7\":\"1048576\"}}") == 0);
	m = mon_start("600", "10");
	CHECK(m);
	CHECK(wait_pgs(1, 3, 32, true, &p));
	for (uint32_t q = 0; q < 32; q++) {
		snprintf(key, sizeof(key), "pg/state/1/%u", q + 1);
		snprintf(val, sizeof(val), "{\"primary\":%" PRIu64 ",\"state\":[\"active\"],\"peers\":[]}",
			 p.prim[q]);
		CHECK(put(key, val) == 0);
		snprintf(key, sizeof(key), "pg/stats/1/%u", q + 1);
		CHECK(put(key, "{\"object_count\":10,\"clean_count\":9,\"misplaced_count\":0,"
			  "\"degraded_count\":1,\"incomplete_count\":0}") == 0);
	}
	for (end = vt_now_ms() + WAIT_MS; !lc && vt_now_ms() < end; vt_sleep_ms(50))
		lc = oc_get_json(cl, "history/last_clean_pgs");
	CHECK_MSG(lc, "no history/last_clean_pgs");
	CHECK_STR(json_str(json_get(lc, "hash")), p.hash);
	json_free(lc);
	for (end = vt_now_ms() + WAIT_MS; vt_now_ms() < end; vt_sleep_ms(50)) {
		double d = 0;

		if (st)
			json_free(st);
		st = oc_get_json(cl, "stats");
		if (!json_double(json_path(st, "object_counts", "object", NULL), &d) && d == 320)
			break;
	}
	CHECK(st);
	{
		double d = 0;

		CHECK(!json_double(json_path(st, "object_counts", "degraded", NULL), &d) && d == 32);
		CHECK(!json_double(json_path(st, "op_stats", "primary_write", "count", NULL), &d) &&
		      d == 21);	/* 1 + 2 + ... + 6 */
	}
	for (end = vt_now_ms() + WAIT_MS; !is && vt_now_ms() < end; vt_sleep_ms(50))
		is = oc_get_json(cl, "inode/stats/1/7");
	CHECK(is);
	{
		double d = 0;

		CHECK(!json_double(json_get(is, "raw_used"), &d) && d == 2097152);
		CHECK(!json_double(json_path(is, "write", "count", NULL), &d) && d == 4);
		CHECK(!json_double(json_path(is, "read", "bytes", NULL), &d) && d == 8192);
	}
	json_free(is);
	json_free(st);
	st = oc_get_json(cl, "pool/stats/1");
	CHECK(st);
	{
		double d = 0;

		CHECK(!json_double(json_get(st, "total_raw_tb"), &d) && d == 9);
		CHECK(!json_double(json_get(st, "used_raw_tb"), &d) && d > 0);
		CHECK(!json_double(json_get(st, "raw_to_usable"), &d) && d > 0.33 && d < 0.34);
	}
	json_free(st);
	{
		int rc;
		const char *out = vsctl("status", &rc);

		CHECK_MSG(rc == 0 && strstr(out, "objects: 320 (32 degraded") &&
			  strstr(out, "(master), 0 standby") && strstr(out, "32 active"),
			  "vsctl status: %s", out);
		out = vsctl("df", &rc);
		CHECK_MSG(rc == 0 && strstr(out, "p1") && strstr(out, "3.0 TiB") && strstr(out, " ok"),
			  "vsctl df: %s", out);
		out = vsctl("df --json", &rc);
		CHECK_MSG(rc == 0 && strstr(out, "\"total\":32985348") &&
			  strstr(out, "\"status\":\"ok\""), "vsctl df --json: %s", out);
	}
}

/* config/pgs as Vitastor's monitor writes it (OSD numbers as strings) is
 * read as the baseline: unchanged sets keep their primaries, changed ones
 * (PG 4: two OSDs on one host) get their old set (as numbers) in
 * pg/history. Bad JSON in config/pgs is replaced. */
MON_CASE(t_strings_in_pgs)
{
	static const uint64_t old[4][3] = { { 1, 3, 5 }, { 2, 4, 6 }, { 2, 4, 6 }, { 2, 3, 4 } };
	static const uint64_t oldp[4] = { 3, 4, 6, 2 };
	struct mon_proc *m;
	struct pgs p;
	uint32_t kept = 0, changed = 0;

	new_prefix("strings");
	CHECK(cluster6() == 0);
	CHECK(put("config/pools", "{\"1\":{\"name\":\"p1\",\"scheme\":\"replicated\",\"pg_size\":3,"
		  "\"pg_minsize\":2,\"pg_count\":4,\"failure_domain\":\"host\"}}") == 0);
	CHECK(put("config/pgs", "{\"hash\":\"x\",\"items\":{\"1\":{"
		  "\"1\":{\"osd_set\":[\"1\",\"3\",\"5\"],\"primary\":\"3\"},"
		  "\"2\":{\"osd_set\":[\"2\",\"4\",\"6\"],\"primary\":\"4\"},"
		  "\"3\":{\"osd_set\":[\"2\",\"4\",\"6\"],\"primary\":\"6\"},"
		  "\"4\":{\"osd_set\":[\"2\",\"3\",\"4\"],\"primary\":\"2\"}}}}") == 0);
	m = mon_start("600", "10");
	CHECK(m);
	for (long long end = vt_now_ms() + WAIT_MS; vt_now_ms() < end; vt_sleep_ms(50))
		if (read_pgs(1, 3, &p) && p.n == 4 && strcmp(p.hash, "x"))
			break;
	CHECK_MSG(p.n == 4 && strcmp(p.hash, "x"), "config/pgs not rewritten");
	CHECK(pgs_valid(&p, 3, 0));
	for (uint32_t q = 0; q < 4; q++) {
		bool same = true;
		char key[64];
		json_t h;

		for (int s = 0; s < 3; s++)
			same &= has(&p.sets[q * 3], 3, old[q][s]);
		if (same) {
			CHECK_EQ(p.prim[q], oldp[q]);
			kept++;
			continue;
		}
		changed++;
		snprintf(key, sizeof(key), "pg/history/1/%u", q + 1);
		h = oc_get_json(cl, key);
		CHECK_MSG(h, "no history for changed PG %u", q + 1);
		for (int s = 0; s < 3; s++) {
			uint64_t o = 0;

			CHECK(json_is_num(json_at(json_at(json_get(h, "osd_sets"), 0), (size_t)s)));
			json_u64(json_at(json_at(json_get(h, "osd_sets"), 0), (size_t)s), &o);
			CHECK_EQ(o, old[q][s]);
		}
		json_free(h);
	}
	printf("  %u PGs kept their sets and primaries, %u changed\n", kept, changed);
	CHECK(kept > 0 && changed > 0);	/* PG 4 had OSDs 3 and 4 on host h2 */
	/* garbage in config/pgs: rewritten from the last good one */
	CHECK(put("config/pgs", "{\"hash\":") == 0);
	for (long long end = vt_now_ms() + WAIT_MS; vt_now_ms() < end; vt_sleep_ms(50))
		if (read_pgs(1, 3, &p) && p.n == 4)
			break;
	CHECK_EQ(p.n, 4);
}

/* vsctl osd rm: refused while the OSD is up, while it is in an osd_set
 * (without --force) and while a PG naming it is not active (without
 * --allow-data-loss); then it leaves every pg/history and its keys go. */
MON_CASE(t_osd_rm)
{
	struct mon_proc *m;
	struct pgs p;
	const char *out;
	json_t h;
	int rc;

	new_prefix("osdrm");
	CHECK(cluster6() == 0);
	CHECK(putf("config/pools", "{%s}", POOL1) == 0);
	m = mon_start("600", "10");
	CHECK(m);
	CHECK(wait_pgs(1, 3, 32, true, &p));
	out = vsctl("osd rm 1", &rc);
	CHECK_MSG(rc == 1 && strstr(out, "is up"), "%s", out);
	CHECK(osd_down(1) == 0);
	out = vsctl("osd rm 1", &rc);
	CHECK_MSG(rc == 1 && strstr(out, "still in the osd_set"), "%s", out);
	CHECK(put("pg/history/1/1", "{\"osd_sets\":[[1,3,5],[1,0,0]],\"all_peers\":[\"1\",3,5],"
		  "\"epoch\":3}") == 0);
	CHECK(put("pg/state/1/1", "{\"primary\":3,\"state\":[\"active\",\"left_on_dead\"],"
		  "\"peers\":[3,5]}") == 0);
	CHECK(put("pg/history/1/2", "{\"osd_sets\":[[2,4,6]]}") == 0);
	CHECK(put("pg/history/1/3", "{\"osd_sets\":[[1,4,6]]}") == 0);	/* PG 3 not active */
	out = vsctl("osd rm 1 --force", &rc);
	CHECK_MSG(rc == 1 && strstr(out, "PG 1/3") && strstr(out, "--allow-data-loss"), "%s", out);
	out = vsctl("osd rm 1 --force --allow-data-loss", &rc);
	CHECK_MSG(rc == 0 && strstr(out, "dropped from 2 PG histories"), "%s", out);
	h = oc_get_json(cl, "pg/history/1/1");
	CHECK(h);
	{
		struct strbuf sb;

		sb_init(&sb);
		sb_json_val(&sb, h);
		CHECK_STR(sb.buf, "{\"osd_sets\":[[0,3,5]],\"all_peers\":[3,5],\"epoch\":3}");
		sb_free(&sb);
	}
	json_free(h);
	h = oc_get_json(cl, "pg/history/1/3");
	CHECK(h && json_len(json_at(json_get(h, "osd_sets"), 0)) == 3);
	json_free(h);
	h = oc_get_json(cl, "osd/stats/1");
	CHECK(!h);
}

/* Polls until key is gone; false on timeout. */
static bool wait_gone(const char *key)
{
	for (long long end = vt_now_ms() + WAIT_MS; vt_now_ms() < end; vt_sleep_ms(50)) {
		json_t j = oc_get_json(cl, key);

		if (!j)
			return true;
		json_free(j);
	}
	return false;
}

static bool exists(const char *key)
{
	json_t j = oc_get_json(cl, key);

	if (j)
		json_free(j);
	return j != NULL;
}

/* pg/history and pg/stats of PGs that are gone are deleted: of a pool
 * removed from config/pools (once no pg/state of the PG is left), of a
 * pool gone long ago, beyond the pool's pg_count; those of existing PGs,
 * of an invalid pool and of a PG an OSD still runs stay. inode/stats of
 * inodes no OSD reports any more go too. */
MON_CASE(t_gone_pgs)
{
	struct mon_proc *m;
	struct pgs p;
	char key[64];

	new_prefix("gone");
	CHECK(cluster6() == 0);
	CHECK(putf("config/pools", "{%s,\"2\":{\"name\":\"p2\",\"scheme\":\"replicated\","
		   "\"pg_size\":3,\"pg_minsize\":2,\"pg_count\":4},\"7\":{\"name\":\"p7\","
		   "\"scheme\":\"weird\",\"pg_size\":3,\"pg_minsize\":2,\"pg_count\":4}}", POOL1) == 0);
	for (int q = 1; q <= 4; q++) {
		snprintf(key, sizeof(key), "pg/history/2/%d", q);
		CHECK(put(key, "{\"osd_sets\":[[1,3,5]],\"epoch\":3}") == 0);
		snprintf(key, sizeof(key), "pg/stats/2/%d", q);
		CHECK(put(key, "{\"object_count\":1}") == 0);
	}
	CHECK(put("pg/history/1/5", "{\"osd_sets\":[[1,3,5]]}") == 0);
	CHECK(put("pg/history/1/40", "{\"osd_sets\":[[1,3,5]]}") == 0);
	CHECK(put("pg/stats/1/40", "{\"object_count\":1}") == 0);
	CHECK(put("pg/history/7/1", "{\"osd_sets\":[[1,3,5]]}") == 0);
	CHECK(put("pg/history/9/1", "{\"osd_sets\":[[1,3,5]]}") == 0);
	CHECK(put("pg/history/1/x", "{}") == 0);	/* not a PG key: left alone */
	CHECK(put("osd/inodestats/1", "{\"1\":{\"5\":{\"write\":{\"count\":1,\"usec\":5,"
		  "\"bytes\":4096}}}}") == 0);
	CHECK(put("inode/stats/1/99", "{\"raw_used\":0}") == 0);
	m = mon_start("600", "10");
	CHECK(m);
	CHECK(wait_pgs(1, 3, 32, true, &p));
	CHECK(wait_pgs(2, 3, 4, true, &p));
	/* an OSD runs PG 2/1 */
	CHECK(put("pg/state/2/1", "{\"primary\":1,\"state\":[\"active\"],\"peers\":[1,3,5]}") == 0);
	CHECK_MSG(wait_gone("pg/history/1/40"), "history beyond pg_count kept");
	CHECK(wait_gone("pg/stats/1/40"));
	CHECK_MSG(wait_gone("pg/history/9/1"), "history of a pool gone long ago kept");
	CHECK_MSG(wait_gone("inode/stats/1/99"), "inode/stats nobody reports kept");
	CHECK(exists("inode/stats/1/5"));
	CHECK(exists("pg/history/1/5") && exists("pg/history/7/1") && exists("pg/history/1/x"));
	for (int q = 1; q <= 4; q++) {
		snprintf(key, sizeof(key), "pg/history/2/%d", q);
		CHECK_MSG(exists(key), "%s deleted while pool 2 exists", key);
	}

	/* pool 2 goes: its PGs leave config/pgs, then their keys (PG 1 once
	 * no OSD runs it) */
	CHECK(putf("config/pools", "{%s,\"7\":{\"name\":\"p7\",\"scheme\":\"weird\",\"pg_size\":3,"
		   "\"pg_minsize\":2,\"pg_count\":4}}", POOL1) == 0);
	CHECK(wait_pgs(2, 3, 0, false, &p));
	for (int q = 2; q <= 4; q++) {
		snprintf(key, sizeof(key), "pg/history/2/%d", q);
		CHECK_MSG(wait_gone(key), "%s kept", key);
		snprintf(key, sizeof(key), "pg/stats/2/%d", q);
		CHECK_MSG(wait_gone(key), "%s kept", key);
	}
	CHECK_MSG(exists("pg/history/2/1") && exists("pg/stats/2/1"),
		  "the keys of a PG an OSD still runs were deleted");
	{
		struct etcd_delete_req dr = { .key = "pg/state/2/1" };
		struct etcd_result r;

		CHECK(etcd_delete_sync(cl, &dr, &r) == ETCD_OK);
		etcd_result_clear(&r);
	}
	CHECK(wait_gone("pg/history/2/1"));
	CHECK(wait_gone("pg/stats/2/1"));
	CHECK(exists("pg/history/1/5") && exists("pg/history/7/1"));
	/* the OSD stops reporting inode 5 (restarted, the image removed) */
	CHECK(put("osd/inodestats/1", "{}") == 0);
	CHECK(wait_gone("inode/stats/1/5"));
	CHECK(mon_proc_running(m));
}

int main(void)
{
	E = etcd_proc_start();
	if (!E) {
		printf("FAIL: etcd did not start\n");
		return 1;
	}
	RUN(t_initial_placement);
	RUN(t_down_then_out);
	RUN(t_bad_pools);
	RUN(t_standby_takeover);
	RUN(t_pg_count_change);
	RUN(t_last_clean_and_stats);
	RUN(t_strings_in_pgs);
	RUN(t_osd_rm);
	RUN(t_gone_pgs);
	if (cl)
		etcd_client_free(cl);
	etcd_proc_free(E);
	return vt_finish();
}

/* A pool of many PGs on 3 real vstor-osd processes + a real etcd, the
 * lease kept alive every second (etcd_report_interval 1, TTL 11 s): every
 * PG must reach "active" under its configured primary while every OSD
 * keeps its lease (osd/state/<n> stays under the lease it registered
 * with, no "expired" in the logs, and etcd never shows less than
 * MIN_TTL_LEFT s of the TTL left: the keepalives stay on time), and the
 * number of etcd revisions the OSDs cause stays well below one per PG
 * (pg/state and pg/history writes are batched into transactions). Then
 * the pool's primaries rotate (every PG moves to the next OSD): released
 * and re-locked, all active again. Then etcd stops (SIGSTOP) while the
 * primaries rotate back: the OSDs' keepalives go unanswered, each holds
 * its PG updates, and after SIGCONT the first answered keepalive sends them:
 * all active, leases kept.
 *
 * VSTOR_MANYPG_COUNT overrides the PG count (default 2048) to measure
 * bigger pools by hand; the times and etcd revisions are printed. */
#include "check.h"
#include "etcd.h"
#include "osd_cluster.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "/vmpg"
#define NOSD 3
#define WAIT_MS 120000
#define MIN_TTL_LEFT 6		/* of 11 s, renewed every second */

static struct osd_cluster C;
static int pg_count = 2048;
static int64_t leases[NOSD + 1];

/* keepalive every second (TTL 1 + 10 s): the run spans many of them */
static const char *osd_args[] = {
	"--etcd_address", NULL, "--etcd_prefix", PREFIX, "--immediate_commit", "all",
	"--etcd_report_interval", "1", NULL,
};

static uint64_t primary_of(int pg, int shift)
{
	return (uint64_t)((pg + shift) % NOSD) + 1;
}

/* config/pgs with every PG on OSDs 1..3, primaries rotated by shift. */
static char *pgs_doc(int shift)
{
	struct strbuf sb;

	sb_init(&sb);
	sb_puts(&sb, "{\"hash\":\"h\",\"items\":{\"1\":{");
	for (int pg = 1; pg <= pg_count; pg++) {
		uint64_t p = primary_of(pg, shift);

		sb_printf(&sb, "%s\"%d\":{\"osd_set\":[%" PRIu64 ",%" PRIu64 ",%" PRIu64
			  "],\"primary\":%" PRIu64 "}", pg > 1 ? "," : "", pg, p, p % NOSD + 1,
			  (p + 1) % NOSD + 1, p);
	}
	sb_puts(&sb, "}}}");
	if (sb.oom) {
		sb_free(&sb);
		return NULL;
	}
	return sb.buf;
}

static int64_t revision(void)
{
	struct etcd_range_req req = { .key = "config/pools" };
	struct etcd_result r;
	int64_t rev = etcd_range_sync(C.cl, &req, &r) == ETCD_OK ? r.revision : -1;

	etcd_result_clear(&r);
	return rev;
}

/* How many PGs are "active" alone under their configured primary; -1 on
 * an etcd error. */
static int count_active(int shift)
{
	struct etcd_range_req req = { .key = "pg/state/1/", .prefix = true, .timeout_ms = 10000 };
	struct etcd_result r;
	int n = 0;

	if (etcd_range_sync(C.cl, &req, &r) != ETCD_OK) {
		etcd_result_clear(&r);
		return -1;
	}
	for (size_t i = 0; i < r.n_kvs; i++) {
		const struct etcd_kv *kv = &r.kvs[i];
		json_t j = json_parse(kv->value, kv->value_len, NULL, 0);
		json_t st = json_get(j, "state");
		uint64_t prim = 0;
		int pg = atoi(kv->key + strlen("pg/state/1/"));

		if (!json_u64(json_get(j, "primary"), &prim) && pg >= 1 && pg <= pg_count &&
		    prim == primary_of(pg, shift) && json_len(st) == 1 &&
		    !strcmp(json_str(json_at(st, 0)) ? json_str(json_at(st, 0)) : "", "active"))
			n++;
		json_free(j);
	}
	etcd_result_clear(&r);
	return n;
}

/* The lease each OSD registered osd/state/<n> with (0: key missing). */
static int64_t state_lease(int n)
{
	char key[32];
	struct etcd_range_req req = { .key = key };
	struct etcd_result r;
	int64_t lease = 0;

	snprintf(key, sizeof(key), "osd/state/%d", n);
	if (etcd_range_sync(C.cl, &req, &r) == ETCD_OK && r.n_kvs)
		lease = r.kvs[0].lease;
	etcd_result_clear(&r);
	return lease;
}

static bool log_has(int n, const char *needle)
{
	FILE *f = fopen(osd_proc_log(C.osds[n]), "r");
	char line[1024];
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* Seconds left of lease id (etcd's lease/timetolive), -1 when unknown. */
static int64_t ttl_left(int64_t id)
{
	char body[64];
	struct etcd_result r;
	int64_t ttl = -1;

	snprintf(body, sizeof(body), "{\"ID\":%" PRId64 "}", id);
	if (etcd_call_sync(C.cl, "/lease/timetolive", body, true, &r) != ETCD_OK ||
	    json_i64(json_get(r.json, "TTL"), &ttl))
		ttl = -1;
	etcd_result_clear(&r);
	return ttl;
}

/* The least TTL left seen on the OSDs' leases: the keepalives (every
 * second, TTL 11 s) must keep coming while the OSDs work on their PGs. */
static int64_t min_ttl = 1000;

static void sample_ttls(void)
{
	for (int n = 1; n <= NOSD; n++) {
		int64_t t = ttl_left(leases[n]);

		if (t >= 0 && t < min_ttl)
			min_ttl = t;
	}
}

/* Waits until all PGs are active under the primaries of shift; the time
 * in ms, or -1. */
static long long wait_active(int shift, int *last)
{
	long long t0 = vt_now_ms();

	while (vt_now_ms() - t0 < WAIT_MS) {
		*last = count_active(shift);
		sample_ttls();
		if (*last == pg_count)
			return vt_now_ms() - t0;
		for (int n = 1; n <= NOSD; n++)
			if (!osd_proc_running(C.osds[n]))
				return -1;
		vt_sleep_ms(250);
	}
	return -1;
}

/* Every OSD still runs with the lease it started with. */
static bool leases_kept(void)
{
	for (int n = 1; n <= NOSD; n++) {
		if (!osd_proc_running(C.osds[n]) || state_lease(n) != leases[n] ||
		    log_has(n, "expired")) {
			fprintf(stderr, "OSD %d: lost its lease (running %d, lease %" PRIx64
				" -> %" PRIx64 ")\n", n, osd_proc_running(C.osds[n]),
				(uint64_t)leases[n], (uint64_t)state_lease(n));
			return false;
		}
	}
	return true;
}

static void t_start_all_active(void)
{
	char pools[256];
	char *pgs = pgs_doc(0);
	int64_t rev0, rev1;
	long long ms;
	int last = 0;

	CHECK(pgs);
	snprintf(pools, sizeof(pools), "{\"1\":{\"name\":\"many\",\"scheme\":\"replicated\","
		 "\"pg_size\":3,\"pg_minsize\":2,\"pg_count\":%d}}", pg_count);
	if (!oc_start(&C, PREFIX, osd_args, NOSD, pools, pgs)) {
		free(pgs);
		CHECK(!"cluster started");
	}
	free(pgs);
	rev0 = revision();
	for (int n = 1; n <= NOSD; n++) {
		long long t0 = vt_now_ms();

		while (!(leases[n] = state_lease(n)) && vt_now_ms() - t0 < 20000)
			vt_sleep_ms(50);
		CHECK_MSG(leases[n], "OSD %d registered", n);
	}
	ms = wait_active(0, &last);
	CHECK_MSG(ms >= 0, "%d of %d PGs active", last, pg_count);
	rev1 = revision();
	printf("start: %d PGs active in %lld ms, %" PRId64 " etcd revisions, least lease TTL "
	       "left %" PRId64 " s\n", pg_count, ms, rev1 - rev0, min_ttl);
	/* per PG: the lock, "peering", pg/history, "active" and pg/stats
	 * would be 5 revisions each unbatched */
	CHECK_MSG(rev1 - rev0 < pg_count, "%" PRId64 " revisions for %d PGs", rev1 - rev0,
		  pg_count);
	CHECK(leases_kept());
}

static void t_rotate_primaries(void)
{
	char *pgs = pgs_doc(1);
	int64_t rev0, rev1;
	long long ms;
	int last = 0;

	CHECK(pgs);
	rev0 = revision();
	CHECK(etcd_put_str_sync(C.cl, "config/pgs", pgs) == ETCD_OK);
	free(pgs);
	ms = wait_active(1, &last);
	CHECK_MSG(ms >= 0, "%d of %d PGs active", last, pg_count);
	rev1 = revision();
	printf("rotate: %d PGs moved and active in %lld ms, %" PRId64 " etcd revisions, least "
	       "lease TTL left %" PRId64 " s\n", pg_count, ms, rev1 - rev0, min_ttl);
	CHECK(leases_kept());
}

/* Every lease was renewed in time all along: a keepalive at most ~5 s
 * after the previous one (every second is the schedule). */
static void t_keepalives_on_time(void)
{
	sample_ttls();
	CHECK_MSG(min_ttl >= MIN_TTL_LEFT, "a lease went down to %" PRId64 " s", min_ttl);
	CHECK(leases_kept());
}

/* A PG update waits while the OSD's keepalive fails: etcd paused (as
 * an etcd whose apply is seconds behind refuses keepalives), the PG
 * updates of a rotation are held, and go out once a keepalive answers. */
static void t_held_while_etcd_paused(void)
{
	pid_t pid = etcd_proc_pid(C.etcd);
	char *pgs = pgs_doc(0);
	long long ms;
	int last = 0;

	CHECK(pgs && pid > 0);
	CHECK(etcd_put_str_sync(C.cl, "config/pgs", pgs) == ETCD_OK);
	free(pgs);
	vt_sleep_ms(200);	/* the OSDs see it and start re-peering */
	CHECK(kill(pid, SIGSTOP) == 0);
	/* keepalives every second: one still unanswered at the next report
	 * holds (the client's own 5 attempts of 1 s outlast the pause) */
	vt_sleep_ms(4000);
	CHECK(kill(pid, SIGCONT) == 0);
	ms = wait_active(0, &last);
	CHECK_MSG(ms >= 0, "%d of %d PGs active", last, pg_count);
	printf("paused: %d PGs active %lld ms after etcd continued\n", pg_count, ms);
	for (int n = 1; n <= NOSD; n++)
		CHECK_MSG(log_has(n, "holding") && log_has(n, "queued PG updates again"),
			  "OSD %d held its PG updates and sent them on", n);
	CHECK(leases_kept());
}

static void t_shutdown(void)
{
	CHECK_EQ(oc_stop_all(&C), 0);
}

int main(void)
{
	const char *env = getenv("VSTOR_MANYPG_COUNT");

	if (env && atoi(env) > 0)
		pg_count = atoi(env);
	oc_init(&C);
	vt_run("start_all_active", t_start_all_active);
	if (!vt_case_failed) {
		vt_run("rotate_primaries", t_rotate_primaries);
		vt_run("keepalives_on_time", t_keepalives_on_time);
		vt_run("held_while_etcd_paused", t_held_while_etcd_paused);
		vt_run("clean_shutdown", t_shutdown);
	}
	oc_free(&C);
	return vt_finish();
}

/* Listing an inode's objects (vstor_list_inode, spec 7) against a real
 * cluster: etcd + 3 vstor-osd (immediate_commit all), pool 1 replicated
 * pg_size 3 / pg_minsize 2, 4 PGs with primaries 1, 2, 1, 2.
 *
 * Cases: an empty inode lists nothing; written objects of two inodes are
 * listed per inode, sorted, once each (also several in one PG); deleted
 * ones disappear; with OSD 3 killed the PGs are degraded, so every member
 * and every OSD of pg/history is asked: the list stays complete and OSD 3
 * (and a dead OSD named only in the history) is reported down; bad
 * arguments. */
#include "check.h"
#include "etcd.h"
#include "etcd_proc.h"
#include "osd_proc.h"
#include "vstor_client.h"
#include "vstor_proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "/vl"
#define NOSD 3
#define BS (128u << 10)
#define INODE_A ((1ull << 48) | 1)
#define INODE_B ((1ull << 48) | 2)
#define INODE_EMPTY ((1ull << 48) | 3)

static struct etcd_proc *etcd;
static struct etcd_client *ecl;
static struct osd_proc *osds[NOSD + 1];
static struct vstor_client *vc;

static const char *osd_args[] = {
	"--etcd_address", NULL, "--etcd_prefix", PREFIX, "--etcd_report_interval", "1",
	"--max_etcd_attempts", "2", "--etcd_quick_timeout", "500",
	"--immediate_commit", "all", NULL,
};

/* objects written to inode A (stripe numbers; 0, 4, 8 are all in PG 1) */
static const uint64_t a_objs[] = { 0, 3, 4, 5, 8, 17, 40 };
#define NA (sizeof(a_objs) / sizeof(a_objs[0]))
static bool a_live[NA];

static bool pg_has(int pg, const char *word)
{
	char key[32], *v = NULL;
	bool ok;

	snprintf(key, sizeof(key), "pg/state/1/%d", pg);
	if (etcd_get_str_sync(ecl, key, &v) != ETCD_OK || !v)
		return false;
	ok = strstr(v, word) != NULL;
	free(v);
	return ok;
}

static bool pgs_have(const char *word)
{
	for (int pg = 1; pg <= 4; pg++)
		if (!pg_has(pg, word))
			return false;
	return true;
}

static void t_setup(void)
{
	struct etcd_config cfg;
	struct vstor_client_opts o = { .up_wait_retry_interval_ms = 100, .etcd = &cfg };
	char err[256];

	etcd = etcd_proc_start();
	CHECK(etcd);
	etcd_config_init(&cfg);
	cfg.quick_timeout_ms = 2000;
	cfg.max_attempts = 3;
	CHECK(!etcd_config_add_endpoints(&cfg, etcd_proc_endpoint(etcd), err, sizeof(err)));
	CHECK(!etcd_config_set(&cfg.prefix, PREFIX));
	ecl = etcd_client_new(&cfg, NULL, err, sizeof(err));
	CHECK(ecl);
	osd_args[1] = etcd_proc_endpoint(etcd);
	CHECK(etcd_put_str_sync(ecl, "config/global", "{\"immediate_commit\":\"all\"}") == ETCD_OK);
	CHECK(etcd_put_str_sync(ecl, "config/pools",
				"{\"1\":{\"name\":\"rep\",\"scheme\":\"replicated\",\"pg_size\":3,"
				"\"pg_minsize\":2,\"pg_count\":4}}") == ETCD_OK);
	CHECK(etcd_put_str_sync(ecl, "config/pgs", "{\"hash\":\"x\",\"items\":{\"1\":{"
				"\"1\":{\"osd_set\":[1,2,3],\"primary\":1},"
				"\"2\":{\"osd_set\":[2,3,1],\"primary\":2},"
				"\"3\":{\"osd_set\":[1,3,2],\"primary\":1},"
				"\"4\":{\"osd_set\":[2,1,3],\"primary\":2}}}}") == ETCD_OK);
	for (int n = 1; n <= NOSD; n++) {
		osds[n] = osd_proc_start((uint64_t)n, osd_args);
		CHECK(osds[n]);
	}
	vc = vstor_client_create(&o, NULL, err, sizeof(err));
	etcd_config_free(&cfg);
	CHECK_MSG(vc, "client: %s", err);
	CHECK_EQ(vstor_client_wait_ready(vc, 20000), 0);
	for (long long t = vt_now_ms() + 30000; !pgs_have("[\"active\"]") && vt_now_ms() < t;)
		vt_sleep_ms(50);
	CHECK_MSG(pgs_have("[\"active\"]"), "PGs did not become active");
	/* the client's view of osd/state follows by watch */
	for (long long t = vt_now_ms() + 10000; vt_now_ms() < t;) {
		struct vstor_inode_list *l = NULL;
		size_t nd = 1;

		if (!vstor_list_inode_sync(vc, INODE_EMPTY, &l))
			nd = l->ndown;
		vstor_inode_list_free(l);
		if (!nd)
			break;
		vstor_client_run_once(vc, 50000000);
	}
}

/* list of inode equals the live entries of want[0..n) (stripe numbers) */
static bool list_is(uint64_t inode, const uint64_t *want, const bool *live, size_t n,
		    size_t ndown_want)
{
	struct vstor_inode_list *l = NULL;
	size_t k = 0;
	int r = vstor_list_inode_sync(vc, inode, &l);
	bool ok = !r && l;

	for (size_t i = 0; ok && i < n; i++) {
		if (live && !live[i])
			continue;
		if (k >= l->n || l->stripes[k] != want[i] * BS)
			ok = false;
		k++;
	}
	if (ok && (k != l->n || l->ndown != ndown_want || l->inode != inode))
		ok = false;
	if (!ok) {
		fprintf(stderr, "list of %llx: r=%d n=%zu ndown=%zu (want %zu, %zu):", (unsigned long long)inode,
			r, l ? l->n : 0, l ? l->ndown : 0, k, ndown_want);
		for (size_t i = 0; l && i < l->n; i++)
			fprintf(stderr, " %llu", (unsigned long long)(l->stripes[i] / BS));
		fprintf(stderr, "; down:");
		for (size_t i = 0; l && i < l->ndown; i++)
			fprintf(stderr, " %llu", (unsigned long long)l->down_osds[i]);
		fprintf(stderr, "\n");
	}
	vstor_inode_list_free(l);
	return ok;
}

static void t_empty(void)
{
	CHECK(list_is(INODE_EMPTY, NULL, NULL, 0, 0));
}

static void t_written(void)
{
	static uint8_t buf[8192];
	static const uint64_t b_objs[] = { 1, 4 };

	memset(buf, 0x33, sizeof(buf));
	for (size_t i = 0; i < NA; i++) {
		/* two writes to some objects: still listed once */
		CHECK_EQ(vstor_write_sync(vc, INODE_A, a_objs[i] * BS + 4096, 8192, buf), 8192);
		if (i % 2)
			CHECK_EQ(vstor_write_sync(vc, INODE_A, a_objs[i] * BS, 4096, buf), 4096);
		a_live[i] = true;
	}
	for (size_t i = 0; i < 2; i++)
		CHECK_EQ(vstor_write_sync(vc, INODE_B, b_objs[i] * BS, 4096, buf), 4096);
	CHECK(list_is(INODE_A, a_objs, a_live, NA, 0));
	CHECK(list_is(INODE_B, b_objs, NULL, 2, 0));
}

static void t_deleted(void)
{
	CHECK_EQ(vstor_delete_sync(vc, INODE_A, a_objs[2] * BS, BS), 0);
	CHECK_EQ(vstor_delete_sync(vc, INODE_A, a_objs[5] * BS, BS), 0);
	a_live[2] = a_live[5] = false;
	CHECK(list_is(INODE_A, a_objs, a_live, NA, 0));
}

static void t_degraded(void)
{
	long long deadline = vt_now_ms() + 30000;
	struct vstor_inode_list *l = NULL;

	/* a history naming OSD 7, which never existed: the primary re-peers
	 * and flags the PG left_on_dead (7 may hold data), so the PG is not
	 * clean: 7 is asked, and reported down */
	CHECK(etcd_put_str_sync(ecl, "pg/history/1/2",
				"{\"osd_sets\":[[2,7,1]],\"all_peers\":[1,2,3,7],\"epoch\":1}") ==
	      ETCD_OK);
	while (!pg_has(2, "left_on_dead") && vt_now_ms() < deadline)
		vt_sleep_ms(100);
	CHECK_MSG(pg_has(2, "left_on_dead"), "PG 2 not left_on_dead");
	CHECK(list_is(INODE_A, a_objs, a_live, NA, 1));
	osd_proc_kill(osds[3]);
	while (!pgs_have("\"degraded\"") && vt_now_ms() < deadline)
		vt_sleep_ms(100);
	CHECK_MSG(pgs_have("\"degraded\""), "PGs did not become degraded");
	CHECK(list_is(INODE_A, a_objs, a_live, NA, 2));
	CHECK_EQ(vstor_list_inode_sync(vc, INODE_A, &l), 0);
	CHECK(l->ndown == 2 && l->down_osds[0] == 3 && l->down_osds[1] == 7);
	vstor_inode_list_free(l);
}

static void noop_cb(void *arg, int err, struct vstor_inode_list *l)
{
	vstor_inode_list_free(l);
}

static void t_bad_args(void)
{
	struct vstor_inode_list *l = (struct vstor_inode_list *)1;

	CHECK_EQ(vstor_list_inode_sync(vc, (99ull << 48) | 1, &l), -ENOENT);
	CHECK(l == NULL);
	/* a pool without PGs in config/pgs */
	CHECK(etcd_put_str_sync(ecl, "config/pools",
				"{\"1\":{\"name\":\"rep\",\"scheme\":\"replicated\",\"pg_size\":3,"
				"\"pg_minsize\":2,\"pg_count\":4},\"2\":{\"name\":\"nopgs\","
				"\"scheme\":\"replicated\",\"pg_size\":1,\"pg_count\":1}}") == ETCD_OK);
	for (long long t = vt_now_ms() + 10000; !vstor_inode_stripe_size(vc, 2ull << 48 | 1) &&
	     vt_now_ms() < t;)
		vstor_client_run_once(vc, 50000000);
	CHECK_EQ(vstor_list_inode_sync(vc, (2ull << 48) | 1, &l), -ENOENT);
	CHECK_EQ(vstor_list_inode(vc, 0, noop_cb, NULL), -EINVAL);
	CHECK_EQ(vstor_list_inode(vc, 1ull << 48, noop_cb, NULL), -EINVAL);
	CHECK_EQ(vstor_list_inode(vc, INODE_A, NULL, NULL), -EINVAL);
}

int main(void)
{
	vt_run("setup", t_setup);
	if (!vt_case_failed) {
		vt_run("list_empty_inode", t_empty);
		vt_run("list_written_objects", t_written);
		vt_run("list_after_delete", t_deleted);
		vt_run("list_degraded_asks_history", t_degraded);
		vt_run("list_bad_args", t_bad_args);
	}
	vstor_client_destroy(vc);
	if (ecl)
		etcd_client_free(ecl);
	for (int n = 1; n <= NOSD; n++)
		osd_proc_free(osds[n]);
	etcd_proc_free(etcd);
	return vt_finish();
}

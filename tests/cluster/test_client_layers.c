/* libvstor reads of layered images (snapshots, clones: spec 4.0.2, 9)
 * against a real cluster: etcd + 3 vstor-osd (immediate_commit all), pool
 * 1 replicated pg_size 2 (4 PGs), pool 2 replicated pg_size 1 (2 PGs). The
 * layers are made by hand in config/inode here (vsctl's snapshot commands
 * are tested in test_vsctl_snap).
 *
 * Cases: a snapshot (base made readonly, a new top layer with parent_id)
 * keeps the base's data while the top is overwritten in random places:
 * both verified against models, with whole-image and random unaligned
 * multi-stripe reads; zeroes written to the top hide the parent; a third
 * layer; a clone in another pool (parent_pool); the granule bits of
 * vstor_read_ext (one layer, whole chain); writes to the readonly base
 * refused, CAS writes (wrong version -EINTR, more than one stripe
 * -EINVAL), VSTOR_RW_IGNORE_READONLY; a parent_id loop (-ELOOP) and a
 * parent without config/inode (its objects still read). */
#include "check.h"
#include "etcd.h"
#include "etcd_proc.h"
#include "osd_proc.h"
#include "vc_model.h"
#include "vstor_client.h"
#include "vstor_proto.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PREFIX "/vly"
#define NOSD 3
#define SIZE (4u << 20)
#define INO(pool, n) (((uint64_t)(pool) << 48) | (n))

static struct etcd_proc *etcd;
static struct etcd_client *ecl;
static struct osd_proc *osds[NOSD + 1];
static struct vstor_client *vc;
static struct vcm mA, mB, mC, mD;

static const char *osd_args[] = {
	"--etcd_address", NULL, "--etcd_prefix", PREFIX, "--etcd_report_interval", "1",
	"--max_etcd_attempts", "2", "--etcd_quick_timeout", "500",
	"--immediate_commit", "all", NULL,
};

static bool pgs_active(void)
{
	static const char *keys[] = { "pg/state/1/1", "pg/state/1/2", "pg/state/1/3",
				      "pg/state/1/4", "pg/state/2/1", "pg/state/2/2" };

	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		char *v = NULL;
		bool ok = etcd_get_str_sync(ecl, keys[i], &v) == ETCD_OK && v &&
			strstr(v, "[\"active\"]");

		free(v);
		if (!ok)
			return false;
	}
	return true;
}

/* Puts config/inode/<pool>/<n> and waits until the client has it with the
 * given parent. */
static bool put_inode(uint32_t pool, uint64_t n, const char *json, uint64_t want_parent)
{
	char key[64];
	uint64_t parent = ~0ull;

	snprintf(key, sizeof(key), "config/inode/%u/%llu", pool, (unsigned long long)n);
	if (etcd_put_str_sync(ecl, key, json) != ETCD_OK)
		return false;
	for (long long t = vt_now_ms() + 10000; vt_now_ms() < t;) {
		if (!vstor_inode_parent(vc, INO(pool, n), &parent) && parent == want_parent)
			return true;
		vstor_client_run_once(vc, 20000000);
	}
	return false;
}

static void t_setup(void)
{
	struct etcd_config *cfg;
	struct vstor_client_opts o = { .up_wait_retry_interval_ms = 100 };
	char err[256];

	etcd = etcd_proc_start();
	CHECK(etcd);
	cfg = vcm_etcd_cfg(etcd_proc_endpoint(etcd), PREFIX);
	CHECK(cfg);
	ecl = etcd_client_new(cfg, NULL, err, sizeof(err));
	CHECK(ecl);
	osd_args[1] = etcd_proc_endpoint(etcd);
	CHECK(etcd_put_str_sync(ecl, "config/global", "{\"immediate_commit\":\"all\"}") == ETCD_OK);
	CHECK(etcd_put_str_sync(ecl, "config/pools",
				"{\"1\":{\"name\":\"rep\",\"scheme\":\"replicated\",\"pg_size\":2,"
				"\"pg_minsize\":1,\"pg_count\":4},"
				"\"2\":{\"name\":\"one\",\"scheme\":\"replicated\",\"pg_size\":1,"
				"\"pg_minsize\":1,\"pg_count\":2}}") == ETCD_OK);
	CHECK(etcd_put_str_sync(ecl, "config/pgs", "{\"hash\":\"x\",\"items\":{\"1\":{"
				"\"1\":{\"osd_set\":[1,2],\"primary\":1},"
				"\"2\":{\"osd_set\":[2,3],\"primary\":2},"
				"\"3\":{\"osd_set\":[3,1],\"primary\":3},"
				"\"4\":{\"osd_set\":[1,3],\"primary\":1}},\"2\":{"
				"\"1\":{\"osd_set\":[3],\"primary\":3},"
				"\"2\":{\"osd_set\":[2],\"primary\":2}}}}") == ETCD_OK);
	for (int n = 1; n <= NOSD; n++) {
		osds[n] = osd_proc_start((uint64_t)n, osd_args);
		CHECK(osds[n]);
	}
	o.etcd = cfg;
	vc = vstor_client_create(&o, NULL, err, sizeof(err));
	etcd_config_free(cfg);
	free(cfg);
	CHECK_MSG(vc, "client: %s", err);
	CHECK_EQ(vstor_client_wait_ready(vc, 20000), 0);
	for (long long t = vt_now_ms() + 30000; !pgs_active() && vt_now_ms() < t;)
		vt_sleep_ms(50);
	CHECK_MSG(pgs_active(), "PGs did not become active");
	CHECK(put_inode(1, 1, "{\"name\":\"A\",\"size\":4194304}", 0));
}

/* random reads of 4 KiB .. 600 KiB at random granule offsets */
static bool random_reads(struct vcm *m, int n)
{
	uint8_t *buf = malloc(600 << 10);
	bool ok = buf != NULL;

	for (int i = 0; ok && i < n; i++) {
		uint64_t len = ((uint64_t)vcm_rnd() % 150 + 1) * 4096;
		uint64_t off = ((uint64_t)vcm_rnd() % ((m->size - len) / 4096 + 1)) * 4096;
		int64_t r = vstor_read_sync(m->vc, m->inode, off, len, buf);

		ok = r == (int64_t)len && !memcmp(buf, m->model + off, len);
		if (!ok)
			fprintf(stderr, "read %llx+%llu of %llx: r=%lld, %s\n",
				(unsigned long long)off, (unsigned long long)len,
				(unsigned long long)m->inode, (long long)r,
				r == (int64_t)len ? "data differs" : "failed");
	}
	free(buf);
	return ok;
}

static void t_snapshot(void)
{
	CHECK(!vcm_init(&mA, vc, INO(1, 1), SIZE));
	CHECK(!vcm_write_loop(&mA, 200, NULL, 60000) && !mA.failed);
	CHECK(vcm_verify(&mA));
	/* the snapshot: A becomes readonly "A@s1", B on top takes the name */
	CHECK(put_inode(1, 1, "{\"name\":\"A@s1\",\"size\":4194304,\"readonly\":true}", 0));
	CHECK(put_inode(1, 2, "{\"name\":\"A\",\"size\":4194304,\"parent_id\":1}", INO(1, 1)));
	CHECK(!vcm_init(&mB, vc, INO(1, 2), SIZE));
	memcpy(mB.model, mA.model, SIZE);
	CHECK(vcm_verify(&mB));		/* nothing written yet: all from A */
	CHECK(!vcm_write_loop(&mB, 60, NULL, 60000) && !mB.failed);
	CHECK(vcm_verify(&mB));
	CHECK(vcm_verify(&mA));
	CHECK(random_reads(&mB, 200));
	CHECK(random_reads(&mA, 50));
}

static void t_zero_hides_parent(void)
{
	static uint8_t z[3 * 4096];

	/* granules 5..7 of stripe 2: A has data there (200 random writes) */
	CHECK(vstor_write_sync(vc, mB.inode, 2 * 131072 + 5 * 4096, sizeof(z), z) == sizeof(z));
	memset(mB.model + 2 * 131072 + 5 * 4096, 0, sizeof(z));
	CHECK(vcm_verify(&mB));
	CHECK(vcm_verify(&mA));
}

struct wt {
	bool done;
	int64_t rv;
	uint64_t ver;
};

static void wt_cb(void *a, int64_t rv, uint64_t v)
{
	struct wt *w = a;

	w->done = true;
	w->rv = rv;
	w->ver = v;
}

static int64_t wt_wait(struct wt *w, int r)
{
	if (r)
		return r;
	while (!w->done)
		vstor_client_run_once(vc, 50000000);
	return w->rv;
}

#define STRIPE 131072u

static void t_readonly_and_cas(void)
{
	static uint8_t buf[2 * STRIPE], bits[8];
	struct wt w = { 0 };
	uint64_t v;

	CHECK_EQ(vstor_write_sync(vc, mA.inode, 0, 4096, buf), -EINVAL);
	/* a version read (the object exists: version > 0), a stale compare
	 * fails with the current version */
	CHECK(vstor_write_sync(vc, mB.inode, 0, 4096, mB.model) == 4096);
	CHECK_EQ(wt_wait(&w, vstor_read_ext(vc, mB.inode, 0, STRIPE, buf, bits,
					    VSTOR_RW_NO_PARENTS, wt_cb, &w)), STRIPE);
	v = w.ver;
	CHECK(v > 0);
	memset(&w, 0, sizeof(w));
	memcpy(buf, mB.model, 4096);
	CHECK_EQ(wt_wait(&w, vstor_write_ext(vc, mB.inode, 0, 4096, buf, v, 0, wt_cb, &w)),
		 -EINTR);
	CHECK_EQ(w.ver, v);
	memset(&w, 0, sizeof(w));
	CHECK_EQ(wt_wait(&w, vstor_write_ext(vc, mB.inode, 0, 4096, buf, v + 1, 0, wt_cb, &w)),
		 4096);
	CHECK(w.ver > v);
	/* a version is per object: no CAS across stripes */
	memset(&w, 0, sizeof(w));
	CHECK_EQ(wt_wait(&w, vstor_write_ext(vc, mB.inode, STRIPE - 4096, 8192, buf, 5, 0,
					     wt_cb, &w)), -EINVAL);
	/* layer tools may write a readonly layer (the same bytes here) */
	memset(&w, 0, sizeof(w));
	CHECK_EQ(wt_wait(&w, vstor_write_ext(vc, mA.inode, 8192, 4096, mA.model + 8192, 0,
					     VSTOR_RW_IGNORE_READONLY, wt_cb, &w)), 4096);
	CHECK_EQ(vstor_write_ext(vc, mA.inode, 0, 4096, buf, 0, 99, wt_cb, &w), -EINVAL);
	CHECK_EQ(vstor_read_ext(vc, mA.inode, 0, 4096, buf, NULL, 99, wt_cb, &w), -EINVAL);
	CHECK(vcm_verify(&mA) && vcm_verify(&mB));
}

static bool getbit(const uint8_t *b, unsigned i)
{
	return (b[i / 8] >> (i % 8)) & 1;
}

/* C on top of B on top of A; C writes granules 0, 1 and 9 of stripe 4 */
static void t_third_layer_bits(void)
{
	static uint8_t buf[STRIPE], own[3][4], chain[4];
	uint64_t ino[3] = { INO(1, 3), INO(1, 2), INO(1, 1) };
	struct wt w;

	CHECK(put_inode(1, 2, "{\"name\":\"A@s2\",\"size\":4194304,\"parent_id\":1,"
			"\"readonly\":true}", INO(1, 1)));
	CHECK(put_inode(1, 3, "{\"name\":\"A\",\"size\":4194304,\"parent_id\":2}", INO(1, 2)));
	CHECK(!vcm_init(&mC, vc, INO(1, 3), SIZE));
	memcpy(mC.model, mB.model, SIZE);
	CHECK(vcm_verify(&mC));
	for (unsigned g = 0; g < 10; g += (g == 1 ? 8 : 1)) {
		memset(buf, (int)(0x40 + g), 4096);
		CHECK(vstor_write_sync(vc, mC.inode, 4 * STRIPE + g * 4096, 4096, buf) == 4096);
		memset(mC.model + 4 * STRIPE + g * 4096, (int)(0x40 + g), 4096);
	}
	for (int l = 0; l < 3; l++) {
		memset(&w, 0, sizeof(w));
		CHECK_EQ(wt_wait(&w, vstor_read_ext(vc, ino[l], 4 * STRIPE, STRIPE, buf, own[l],
						    VSTOR_RW_NO_PARENTS, wt_cb, &w)), STRIPE);
	}
	for (unsigned g = 0; g < 32; g++)
		CHECK_MSG(getbit(own[0], g) == (g == 0 || g == 1 || g == 9), "granule %u", g);
	memset(&w, 0, sizeof(w));
	CHECK_EQ(wt_wait(&w, vstor_read_ext(vc, mC.inode, 4 * STRIPE, STRIPE, buf, chain, 0,
					    wt_cb, &w)), STRIPE);
	CHECK(!memcmp(buf, mC.model + 4 * STRIPE, STRIPE));
	for (unsigned g = 0; g < 32; g++)
		CHECK_MSG(getbit(chain, g) == (getbit(own[0], g) || getbit(own[1], g) ||
					       getbit(own[2], g)), "chain granule %u", g);
	CHECK(!vcm_write_loop(&mC, 40, NULL, 60000) && !mC.failed);
	CHECK(vcm_verify(&mC) && vcm_verify(&mB) && vcm_verify(&mA));
	CHECK(random_reads(&mC, 200));
}

/* D in pool 2, twice A's size, parent A in pool 1: [4M, 8M) is in no
 * layer until D writes there */
static void t_clone_other_pool(void)
{
	CHECK(put_inode(2, 1, "{\"name\":\"D\",\"size\":8388608,\"parent_pool\":1,"
			"\"parent_id\":1}", INO(1, 1)));
	CHECK(!vcm_init(&mD, vc, INO(2, 1), 2 * SIZE));
	memcpy(mD.model, mA.model, SIZE);
	CHECK(vcm_verify(&mD));
	CHECK(!vcm_write_loop(&mD, 60, NULL, 60000) && !mD.failed);
	CHECK(vcm_verify(&mD) && vcm_verify(&mA) && vcm_verify(&mC));
	CHECK(random_reads(&mD, 200));
	/* a full inode id as parent_id */
	CHECK(put_inode(2, 2, "{\"name\":\"D2\",\"parent_id\":281474976710657}", INO(1, 1)));
}

static void t_bad_chains(void)
{
	static uint8_t buf[8192], pat[4096];

	/* 10 <-> 11, no data: granules are in no layer, the walk never ends */
	CHECK(put_inode(1, 10, "{\"name\":\"L1\",\"parent_id\":11}", INO(1, 11)));
	CHECK(put_inode(1, 11, "{\"name\":\"L2\",\"parent_id\":10}", INO(1, 10)));
	CHECK_EQ(vstor_read_sync(vc, INO(1, 10), 0, 8192, buf), -ELOOP);
	/* a parent without config/inode: its objects are read all the same */
	memset(pat, 0x5a, sizeof(pat));
	CHECK(vstor_write_sync(vc, INO(1, 21), 4096, 4096, pat) == 4096);
	CHECK(put_inode(1, 20, "{\"name\":\"orphan\",\"parent_id\":21}", INO(1, 21)));
	memset(buf, 1, sizeof(buf));
	CHECK(vstor_read_sync(vc, INO(1, 20), 0, 8192, buf) == 8192);
	CHECK(buf[0] == 0 && buf[4095] == 0 && !memcmp(buf + 4096, pat, 4096));
	/* garbage parent fields: no parent */
	CHECK(put_inode(1, 22, "{\"name\":\"g\",\"parent_id\":\"x\"}", 0));
	CHECK(put_inode(1, 23, "{\"name\":\"g2\",\"parent_id\":5,\"parent_pool\":70000}", 0));
	CHECK_EQ(vstor_read_sync(vc, INO(1, 22), 0, 100, buf), -EINVAL);
}

int main(void)
{
	vt_run("setup", t_setup);
	if (!vt_case_failed) {
		vt_run("snapshot_keeps_base", t_snapshot);
		vt_run("zeroes_hide_parent", t_zero_hides_parent);
		vt_run("readonly_and_cas", t_readonly_and_cas);
		vt_run("third_layer_and_bits", t_third_layer_bits);
		vt_run("clone_in_other_pool", t_clone_other_pool);
		vt_run("bad_chains", t_bad_chains);
	}
	vcm_free(&mA);
	vcm_free(&mB);
	vcm_free(&mC);
	vcm_free(&mD);
	vstor_client_destroy(vc);
	for (int n = NOSD; n >= 1; n--)
		if (osds[n])
			osd_proc_stop(osds[n]);
	etcd_client_free(ecl);
	etcd_proc_stop(etcd);
	return vt_finish();
}

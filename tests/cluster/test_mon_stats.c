/* Space and I/O statistics end to end: real etcd, 3 vstor-osd (one host
 * each by config/node_placement), one vstor-mon, pool "rep" (replicated,
 * pg_size 2, 8 PGs placed by the monitor), data written and read with
 * vsctl import/export (libvstor):
 *
 *   - every OSD's osd/space/<n> equals, per inode, the objects it holds
 *     (SEC_LIST) x block_size; the monitor's inode/stats raw_used and
 *     pool/stats used_raw_tb are their exact sums; write and read bytes
 *     in inode/stats are exactly what was imported and exported;
 *   - vsctl df, ls, status show those numbers;
 *   - vsctl rm of one image: its objects go from osd/space and raw_used,
 *     its deletes are counted (one per object), the other image is as it
 *     was;
 *   - an EC pool (xor 2+1): chunks in osd/space, raw and usable used;
 *   - an OSD restarted counts its objects again from its blockstore. */
#include "check.h"
#include "etcd.h"
#include "json.h"
#include "mon_proc.h"
#include "osd_cluster.h"
#include "proc.h"

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PREFIX "/vms"
#define NOSD 3
#define BS (128u << 10)
#define A_BYTES (6 * BS + 8192)		/* 7 objects */
#define B_BYTES (3 * BS)		/* 3 objects */
#define WAIT_MS 30000

static struct osd_cluster C;
static struct mon_proc *mon;
static char tmp[PATH_MAX];
static uint64_t ino_a, ino_b;		/* numbers inside pool 1 */

static const char *osd_args[] = {
	"--etcd_address", NULL, "--etcd_prefix", PREFIX, "--etcd_report_interval", "1",
	"--max_etcd_attempts", "2", "--etcd_quick_timeout", "500", "--immediate_commit", "all",
	NULL,
};

static const char *vsctl(const char *args, int *rc)
{
	return mon_vsctl(etcd_proc_endpoint(C.etcd), PREFIX, args, rc);
}

static double jnum(json_t j, const char *a, const char *b)
{
	double d = -1;

	if (json_double(b ? json_path(j, a, b, NULL) : json_get(j, a), &d))
		return -1;
	return d;
}

static void show_logs(void)
{
	oc_print_logs(&C, NOSD, &mon, 1);
}

static bool write_file(const char *path, size_t len, uint64_t seed)
{
	uint8_t *buf = malloc(len);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	bool ok;

	for (size_t i = 0; buf && i < len; i++)
		buf[i] = (uint8_t)(vt_rand(&seed) | 1);	/* no zero object: all written */
	ok = buf && fd >= 0 && write(fd, buf, len) == (ssize_t)len;
	if (fd >= 0)
		close(fd);
	free(buf);
	return ok;
}

/* Inode number of image name (index/image), 0 if none. */
static uint64_t image_id(const char *name)
{
	char key[128];
	json_t j;
	uint64_t id = 0;

	snprintf(key, sizeof(key), "index/image/%s", name);
	j = oc_get_json(C.cl, key);
	json_u64(json_get(j, "id"), &id);
	if (j)
		json_free(j);
	return id;
}

static uint64_t cur_pool = 1;	/* of the inodes below */

/* osd/space/<n> of inode cur_pool/<ino> in bytes (0: no entry). */
static uint64_t osd_space(int n, uint64_t ino)
{
	char key[64], id[32], pool[32];
	json_t j;
	uint64_t v = 0;

	snprintf(key, sizeof(key), "osd/space/%d", n);
	snprintf(id, sizeof(id), "%" PRIu64, ino);
	snprintf(pool, sizeof(pool), "%" PRIu64, cur_pool);
	j = oc_get_json(C.cl, key);
	json_u64(json_get(json_get(j, pool), id), &v);
	if (j)
		json_free(j);
	return v;
}

/* Objects of inode cur_pool/<ino> on OSD n (SEC_LIST), -1 on error. */
static int64_t osd_objects(int n, uint64_t ino)
{
	static struct vs_obj_ver_id list[256];

	return oc_sec_list(&C, n, (cur_pool << 48) | ino, list, 256);
}

/* Polls until every OSD's osd/space for ino matches its SEC_LIST and
 * they add up to objects; false on timeout (message printed). */
static bool space_matches(uint64_t ino, int64_t objects)
{
	long long end = vt_now_ms() + WAIT_MS;
	int64_t sum = 0, cnt[NOSD + 1] = { 0 };
	uint64_t sp[NOSD + 1] = { 0 };

	while (vt_now_ms() < end) {
		bool ok = true;

		sum = 0;
		for (int n = 1; n <= NOSD; n++) {
			cnt[n] = osd_objects(n, ino);
			sp[n] = osd_space(n, ino);
			ok &= cnt[n] >= 0 && sp[n] == (uint64_t)cnt[n] * BS;
			sum += cnt[n];
		}
		if (ok && sum == objects)
			return true;
		vt_sleep_ms(100);
	}
	for (int n = 1; n <= NOSD; n++)
		fprintf(stderr, "inode %" PRIu64 ": OSD %d lists %" PRId64 " objects, osd/space %"
			PRIu64 " bytes\n", ino, n, cnt[n], sp[n]);
	fprintf(stderr, "%" PRId64 " objects in all, want %" PRId64 "\n", sum, objects);
	return false;
}

/* Polls inode/stats/1/<ino> until fn(stats) holds; the last value goes to
 * *out (caller frees). */
static bool inode_stats_until(uint64_t ino, bool (*fn)(json_t j, void *arg), void *arg,
			      json_t *out)
{
	char key[64];
	long long end = vt_now_ms() + WAIT_MS;
	json_t j = NULL;

	snprintf(key, sizeof(key), "inode/stats/%" PRIu64 "/%" PRIu64, cur_pool, ino);
	while (vt_now_ms() < end) {
		if (j)
			json_free(j);
		j = oc_get_json(C.cl, key);
		if (j && fn(j, arg))
			break;
		vt_sleep_ms(100);
	}
	*out = j;
	return j && fn(j, arg);
}

static bool raw_used_is(json_t j, void *arg)
{
	return jnum(j, "raw_used", NULL) == *(double *)arg;
}

/* raw_used and one op kind's bytes, waited for together: the monitor may
 * publish a sum of one OSD's new space and another's older counters. */
struct raw_ops {
	double raw;
	const char *op;
	double bytes;
};

static bool raw_and_bytes_are(json_t j, void *arg)
{
	const struct raw_ops *w = arg;

	return jnum(j, "raw_used", NULL) == w->raw && jnum(j, w->op, "bytes") == w->bytes;
}

static bool read_bytes_is(json_t j, void *arg)
{
	return jnum(j, "read", "bytes") == *(double *)arg;
}

static bool pool_used_is(double bytes)
{
	long long end = vt_now_ms() + WAIT_MS;
	double d = -1;

	while (vt_now_ms() < end) {
		json_t j = oc_get_json(C.cl, "pool/stats/1");

		d = jnum(j, "used_raw_tb", NULL) * 1099511627776.0;
		if (j)
			json_free(j);
		if (fabs(d - bytes) < 0.5)
			return true;
		vt_sleep_ms(100);
	}
	fprintf(stderr, "pool/stats/1 used_raw_tb = %.0f bytes, want %.0f\n", d, bytes);
	return false;
}

/* ---- cases ---- */

static void t_setup(void)
{
	const char *tdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	const char *margs[] = { "--etcd_prefix", PREFIX, "--mon_change_timeout", "100",
		"--mon_stats_timeout", "200", NULL };
	long long end;
	const char *out = "";
	int rc = -1;

	snprintf(tmp, sizeof(tmp), "%s/mon-stats.XXXXXX", tdir);
	CHECK(mkdtemp(tmp));
	oc_init(&C);
	C.etcd = etcd_proc_start();
	CHECK(C.etcd);
	C.cl = oc_new_client(&C, PREFIX);
	CHECK(C.cl);
	osd_args[1] = etcd_proc_endpoint(C.etcd);
	CHECK(oc_put_hosts(&C, NOSD));
	CHECK(etcd_put_str_sync(C.cl, "config/global", "{\"immediate_commit\":\"all\"}") == ETCD_OK);
	CHECK(etcd_put_str_sync(C.cl, "config/pools",
				"{\"1\":{\"name\":\"rep\",\"scheme\":\"replicated\",\"pg_size\":2,"
				"\"pg_minsize\":1,\"pg_count\":8,\"failure_domain\":\"host\"},"
				"\"2\":{\"name\":\"x21\",\"scheme\":\"xor\",\"pg_size\":3,"
				"\"parity_chunks\":1,\"pg_minsize\":2,\"pg_count\":4}}") == ETCD_OK);
	for (int n = 1; n <= NOSD; n++) {
		C.osds[n] = osd_proc_start((uint64_t)n, osd_args);
		CHECK(C.osds[n]);
	}
	mon = mon_proc_start(etcd_proc_endpoint(C.etcd), margs);
	CHECK(mon);
	for (end = vt_now_ms() + 60000; vt_now_ms() < end; vt_sleep_ms(200)) {
		out = vsctl("status --json", &rc);
		if (!rc && strstr(out, "\"pg_states\":{\"active\":12}"))
			break;
	}
	if (rc || !strstr(out, "\"pg_states\":{\"active\":12}"))
		show_logs();
	CHECK_MSG(!rc && strstr(out, "\"pg_states\":{\"active\":12}"), "PGs not active: %s", out);
}

static void t_written(void)
{
	char a[PATH_MAX + 16], b[PATH_MAX + 16], cmd[2 * PATH_MAX + 64];
	double want;
	json_t j = NULL;
	const char *out;
	int rc;

	snprintf(a, sizeof(a), "%s/a", tmp);
	snprintf(b, sizeof(b), "%s/b", tmp);
	CHECK(write_file(a, A_BYTES, 1) && write_file(b, B_BYTES, 2));
	snprintf(cmd, sizeof(cmd), "import %s imga --pool rep", a);
	out = vsctl(cmd, &rc);
	CHECK_MSG(!rc, "import: %s", out);
	snprintf(cmd, sizeof(cmd), "import %s imgb --pool rep", b);
	out = vsctl(cmd, &rc);
	CHECK_MSG(!rc, "import: %s", out);
	ino_a = image_id("imga");
	ino_b = image_id("imgb");
	CHECK(ino_a && ino_b && ino_a != ino_b);

	/* per OSD: what it stores; in all: 2 copies of every object */
	if (!space_matches(ino_a, 14) || !space_matches(ino_b, 6))
		show_logs();
	CHECK(space_matches(ino_a, 14));
	CHECK(space_matches(ino_b, 6));

	struct raw_ops ra = { 14.0 * BS, "write", A_BYTES }, rb = { 6.0 * BS, "write", B_BYTES };

	CHECK_MSG(inode_stats_until(ino_a, raw_and_bytes_are, &ra, &j),
		  "inode/stats of imga: raw_used %.0f, write bytes %.0f", jnum(j, "raw_used", NULL),
		  jnum(j, "write", "bytes"));
	CHECK_MSG(jnum(j, "write", "count") >= 7, "write count %.0f", jnum(j, "write", "count"));
	CHECK(jnum(j, "delete", "count") < 0);		/* none yet */
	if (j)
		json_free(j);
	CHECK_MSG(inode_stats_until(ino_b, raw_and_bytes_are, &rb, &j),
		  "inode/stats of imgb: raw_used %.0f, write bytes %.0f", jnum(j, "raw_used", NULL),
		  jnum(j, "write", "bytes"));
	if (j)
		json_free(j);
	CHECK(pool_used_is(20.0 * BS));

	/* export reads the image's bytes exactly */
	snprintf(cmd, sizeof(cmd), "export imga %s/a.out", tmp);
	out = vsctl(cmd, &rc);
	CHECK_MSG(!rc, "export: %s", out);
	want = A_BYTES;
	CHECK_MSG(inode_stats_until(ino_a, read_bytes_is, &want, &j), "read bytes %.0f",
		  jnum(j, "read", "bytes"));
	if (j)
		json_free(j);

	/* the CLI: usable = raw / pg_size */
	out = vsctl("df --json", &rc);
	CHECK_MSG(!rc && strstr(out, "\"used_raw\":2621440,") && strstr(out, "\"used\":1310720,"),
		  "df: %s", out);
	out = vsctl("df", &rc);
	CHECK_MSG(!rc && strstr(out, "1.2 MiB"), "df: %s", out);
	out = vsctl("ls --json", &rc);
	CHECK_MSG(!rc && strstr(out, "\"name\":\"imga\"") && strstr(out, "\"used\":917504") &&
		  strstr(out, "\"used\":393216"), "ls: %s", out);
	out = vsctl("ls", &rc);
	CHECK_MSG(!rc && strstr(out, "USED") && strstr(out, "896 KiB") && strstr(out, "384 KiB"),
		  "ls: %s", out);
	out = vsctl("status --json", &rc);
	CHECK_MSG(!rc && strstr(out, "\"used_raw\":2621440"), "status: %s", out);
	out = vsctl("status", &rc);
	CHECK_MSG(!rc && strstr(out, "used:    2.5 MiB raw"), "status: %s", out);
}

static void t_rm(void)
{
	double want = 0;
	json_t j = NULL;
	const char *out;
	int rc;

	out = vsctl("rm imga", &rc);
	CHECK_MSG(!rc, "rm: %s", out);
	CHECK(space_matches(ino_a, 0));
	for (int n = 1; n <= NOSD; n++)
		CHECK_EQ(osd_space(n, ino_a), 0);
	struct raw_ops gone = { 0, "delete", 7.0 * BS };

	CHECK_MSG(inode_stats_until(ino_a, raw_and_bytes_are, &gone, &j), "raw_used %.0f",
		  jnum(j, "raw_used", NULL));
	CHECK_EQ(jnum(j, "delete", "count"), 7);
	CHECK_EQ((uint64_t)jnum(j, "delete", "bytes"), 7 * BS);
	if (j)
		json_free(j);
	want = 6.0 * BS;
	CHECK(inode_stats_until(ino_b, raw_used_is, &want, &j));
	if (j)
		json_free(j);
	CHECK(space_matches(ino_b, 6));
	CHECK(pool_used_is(6.0 * BS));
	out = vsctl("df --json", &rc);
	CHECK_MSG(!rc && strstr(out, "\"used_raw\":786432,"), "df: %s", out);
}

/* An EC pool (xor 2+1): every OSD stores one chunk (block_size) of each
 * stripe of 2 x block_size, raw_used counts the 3 chunks, df's usable
 * used = raw x 2/3. */
static void t_ec(void)
{
	char x[PATH_MAX + 16], cmd[2 * PATH_MAX + 64];
	uint64_t ino;
	double want = 6.0 * BS;
	json_t j = NULL;
	const char *out;
	int rc;

	snprintf(x, sizeof(x), "%s/x", tmp);
	CHECK(write_file(x, 4 * BS, 3));
	snprintf(cmd, sizeof(cmd), "import %s imgx --pool x21", x);
	out = vsctl(cmd, &rc);
	CHECK_MSG(!rc, "import: %s", out);
	ino = image_id("imgx");
	CHECK(ino);
	cur_pool = 2;
	CHECK(space_matches(ino, 6));
	struct raw_ops x21 = { want, "write", 4.0 * BS };

	CHECK_MSG(inode_stats_until(ino, raw_and_bytes_are, &x21, &j), "raw_used %.0f",
		  jnum(j, "raw_used", NULL));
	CHECK_EQ((uint64_t)jnum(j, "write", "bytes"), 4 * BS);
	if (j)
		json_free(j);
	cur_pool = 1;
	for (long long end = vt_now_ms() + WAIT_MS; vt_now_ms() < end; vt_sleep_ms(100)) {
		out = vsctl("df --json", &rc);
		if (!rc && strstr(out, "\"used\":524288,"))
			break;
	}
	/* pool 2: raw 6 chunks, usable 4 blocks (pool 1 has 786432 raw too) */
	CHECK_MSG(!rc && strstr(out, "\"name\":\"x21\"") &&
		  strstr(out, "\"used_raw\":786432,\"total\":") && strstr(out, "\"used\":524288,"),
		  "df: %s", out);
	out = vsctl("ls --json", &rc);
	CHECK_MSG(!rc && strstr(out, "\"used\":524288"), "ls: %s", out);
}

/* A restarted OSD publishes its space from the blockstore at once; its
 * op counters start again from zero. */
static void t_restart(void)
{
	char key[64];
	int64_t before = osd_objects(2, ino_b);
	json_t j;

	CHECK(before > 0);
	CHECK_EQ(osd_proc_stop(C.osds[2]), 0);
	oc_close(&C, 2);
	CHECK(etcd_put_str_sync(C.cl, "osd/space/2", "{}") == ETCD_OK);
	CHECK_EQ(osd_proc_restart(C.osds[2]), 0);
	CHECK(space_matches(ino_b, 6));
	CHECK_EQ(osd_space(2, ino_b), (uint64_t)before * BS);
	snprintf(key, sizeof(key), "osd/inodestats/2");
	j = oc_get_json(C.cl, key);
	CHECK(j && json_is_obj(j));
	if (j)
		json_free(j);
}

/* Monitor and OSDs stop cleanly (under ASan: no leak). */
static void t_stop(void)
{
	if (mon) {
		CHECK_EQ(mon_proc_stop(mon), 0);
		mon_proc_free(mon);
		mon = NULL;
	}
	CHECK_EQ(oc_stop_all(&C), 0);
}

int main(void)
{
	RUN(t_setup);
	if (!vt_case_failed) {
		RUN(t_written);
		RUN(t_rm);
		RUN(t_ec);
		RUN(t_restart);
	}
	if (vt_case_failed)
		show_logs();
	RUN(t_stop);
	mon_proc_free(mon);
	oc_free(&C);
	if (tmp[0])
		proc_rm_tree(tmp);
	return vt_finish();
}

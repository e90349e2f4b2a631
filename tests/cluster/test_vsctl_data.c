/* vsctl's data commands against a real cluster: etcd + 3 vstor-osd
 * (immediate_commit all), pool "rep" replicated pg_size 2, 8 PGs placed by
 * 'vsctl pg place --static'. vsctl runs as a subprocess through /bin/sh
 * (for pipes), the OSDs are checked directly over their port.
 *
 * Cases: bench (text and --json output parse and add up, --io-total gives
 * exactly that many ops, rw mixes, reads after writes), bench's bad
 * arguments (exit 2) and bad targets (exit 1); import/export round trips
 * compared byte by byte and by checksum: a sparse file whose size is not a
 * multiple of 4 KiB into a new image, standard input into a new image,
 * export to standard output, re-import over existing data (zero objects
 * deleted, the bytes after the end of the file kept); the progress bar on
 * a terminal (script(1)) and not without one; rm deletes every object,
 * checked with SEC_LIST of all PGs on every OSD, and leaves other images
 * alone; rm --metadata-only keeps the data; bad arguments of import,
 * export and rm; every command's --help reads like a man page. */
#include "check.h"
#include "etcd.h"
#include "json.h"
#include "osd_cluster.h"
#include "proc.h"
#include "vstor_proto.h"
#include "vt_sh.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOSD 3
#define POOL 1

static struct osd_cluster C;
static char vsctl[PATH_MAX + 16], tmp[PATH_MAX];

static const char *osd_args[] = {
	"--etcd_address", NULL, "--etcd_report_interval", "1", "--max_etcd_attempts", "2",
	"--etcd_quick_timeout", "500", "--immediate_commit", "all", NULL,
};

static struct vt_sh R;

/* $V in the command line is vsctl with the test etcd; output in R. */
#define sh(...) vt_vsctl(&R, vsctl, etcd_proc_endpoint(C.etcd), tmp, __VA_ARGS__)
#define CHECK_SH(expect_rc, ...) VT_CHECK_SH(&R, expect_rc, sh, __VA_ARGS__)

static bool out_has(const char *s)
{
	return strstr(R.out, s) != NULL;
}

static bool err_has(const char *s)
{
	return strstr(R.err, s) != NULL;
}

static uint64_t rnd(void)
{
	static uint64_t s = 0x2545f4914f6cdd1dull;

	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return s;
}

static bool same_file(const char *a, const char *b)
{
	uint64_t la, lb, ha = vt_file_sum(a, &la), hb = vt_file_sum(b, &lb);

	if (ha != hb || la != lb)
		fprintf(stderr, "%s: %llu bytes sum %llx; %s: %llu bytes sum %llx\n", a,
			(unsigned long long)la, (unsigned long long)ha, b, (unsigned long long)lb,
			(unsigned long long)hb);
	return ha == hb && la == lb;
}

static const char *path(const char *name)
{
	static char bufs[4][PATH_MAX + 64];
	static int k;
	char *b = bufs[k++ % 4];

	snprintf(b, PATH_MAX + 64, "%s/%s", tmp, name);
	return b;
}

/* Writes len bytes: random blocks, with a zero region [zoff, zoff+zlen)
 * left as a hole. */
static bool make_file(const char *name, uint64_t len, uint64_t zoff, uint64_t zlen)
{
	int fd = open(path(name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	uint8_t buf[4096];
	bool ok = fd >= 0;

	for (uint64_t off = 0; ok && off < len; off += sizeof(buf)) {
		size_t n = len - off < sizeof(buf) ? (size_t)(len - off) : sizeof(buf);

		if (off >= zoff && off + n <= zoff + zlen)
			continue;
		for (size_t i = 0; i < n; i += 8) {
			uint64_t x = rnd();

			memcpy(buf + i, &x, n - i < 8 ? n - i : 8);
		}
		ok = pwrite(fd, buf, n, (off_t)off) == (ssize_t)n;
	}
	if (ok)
		ok = ftruncate(fd, (off_t)len) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* ---- objects on the OSDs ---- */

/* Objects of inode on OSD n over all PGs (SEC_LIST pg_count 0), or -1. */
static int64_t osd_objects(int n, uint64_t inode)
{
	static uint8_t out[1 << 20];
	union vs_packet req, rep;
	int64_t rv;

	vs_req_init(&req, C.next_id++, VS_OP_SEC_LIST);
	vs_le32_set(&req.sec_list.pg_num, 0);
	vs_le32_set(&req.sec_list.pg_count, 0);
	vs_le64_set(&req.sec_list.min_inode, inode);
	vs_le64_set(&req.sec_list.max_inode, inode);
	rv = oc_call(&C, n, &req, NULL, 0, &rep, out, sizeof(out));
	return rv;
}

static int64_t all_objects(uint64_t inode)
{
	int64_t sum = 0;

	for (int n = 1; n <= NOSD; n++) {
		int64_t r = osd_objects(n, inode);

		if (r < 0)
			return -1;
		sum += r;
	}
	return sum;
}

/* inode of an image from 'vsctl info --json' */
static uint64_t image_inode(const char *name)
{
	uint64_t inode = 0;
	json_t j;

	if (sh("$V info %s --json", name))
		return 0;
	j = json_parse(R.out, strlen(R.out), NULL, 0);
	json_u64(json_get(j, "inode"), &inode);
	json_free(j);
	return inode;
}

/* ---- cases ---- */

static void t_setup(void)
{
	long long deadline;
	const char *tdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char exe[PATH_MAX];
	ssize_t n;

	snprintf(tmp, sizeof(tmp), "%s/vsctl-data.XXXXXX", tdir);
	CHECK(mkdtemp(tmp));
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	CHECK(n > 0);
	exe[n] = 0;
	*strrchr(exe, '/') = 0;	/* BUILD/tests/cluster */
	*strrchr(exe, '/') = 0;
	*strrchr(exe, '/') = 0;
	snprintf(vsctl, sizeof(vsctl), "%s/vsctl", exe);
	CHECK(access(vsctl, X_OK) == 0);
	oc_init(&C);
	C.etcd = etcd_proc_start();
	CHECK(C.etcd);
	C.cl = oc_new_client(&C, "/vitastor");
	CHECK(C.cl);
	CHECK(etcd_put_str_sync(C.cl, "config/global", "{\"immediate_commit\":\"all\"}") == ETCD_OK);
	osd_args[1] = etcd_proc_endpoint(C.etcd);
	for (int i = 1; i <= NOSD; i++) {
		C.osds[i] = osd_proc_start((uint64_t)i, osd_args);
		CHECK(C.osds[i]);
	}
	deadline = vt_now_ms() + 30000;
	while (sh("$V osd ls --json | grep -o '\"state\":\"up\"' | wc -l | grep -qx 3") &&
	       vt_now_ms() < deadline)
		vt_sleep_ms(100);
	CHECK_MSG(!R.rc, "OSDs did not come up");
	CHECK_SH(0, "$V pool create rep --scheme replicated --pg_size 2 --pg_minsize 1 "
		 "--pg_count 8 && $V pg place --static");
	deadline = vt_now_ms() + 60000;
	while (sh("$V status --json | grep -q '\"pg_states\":{\"active\":8}'") &&
	       vt_now_ms() < deadline)
		vt_sleep_ms(100);
	CHECK_MSG(!R.rc, "PGs did not become active");
	CHECK_SH(0, "$V create bimg --size 16M && $V create roimg --size 1M && "
		 "$V modify roimg --readonly");
}

static json_t bench_json(void)
{
	return json_parse(R.out, strlen(R.out), NULL, 0);
}

static double jnum(json_t j, const char *a, const char *b, const char *c)
{
	double d = -1;

	json_double(c ? json_path(j, a, b, c, NULL) : b ? json_path(j, a, b, NULL) :
		    json_get(j, a), &d);
	return d;
}

static void t_bench(void)
{
	json_t j;

	/* fixed amount: exactly io_total / io_size ops */
	CHECK_SH(0, "$V bench bimg --io-type write --io-size 64k --io-depth 8 --io-total 8M --json");
	j = bench_json();
	CHECK_MSG(j, "not JSON: %s", R.out);
	CHECK(jnum(j, "total", "ops", NULL) == 128);
	CHECK(jnum(j, "write", "ops", NULL) == 128);
	CHECK(jnum(j, "read", "ops", NULL) == 0);
	CHECK(jnum(j, "io_size", NULL, NULL) == 65536);
	CHECK(jnum(j, "io_depth", NULL, NULL) == 8);
	CHECK(jnum(j, "total", "bytes", NULL) == 8 << 20);
	CHECK(jnum(j, "total", "iops", NULL) > 0);
	CHECK(jnum(j, "total", "lat_us", "p50") > 0);
	CHECK(jnum(j, "total", "lat_us", "p50") <= jnum(j, "total", "lat_us", "p99"));
	CHECK(jnum(j, "total", "lat_us", "p99") <= jnum(j, "total", "lat_us", "p99_9"));
	CHECK(jnum(j, "total", "lat_us", "p99_9") <= jnum(j, "total", "lat_us", "max"));
	CHECK(jnum(j, "total", "lat_us", "min") <= jnum(j, "total", "lat_us", "mean"));
	CHECK(jnum(j, "client_cpu_us_per_op", NULL, NULL) > 0);
	json_free(j);
	/* timed rw: both kinds, shares near the mix */
	CHECK_SH(0, "$V bench bimg --io-type rw --io-pattern rand --rw-mix-read 70 --io-depth 4 "
		 "--seconds 1 --json");
	j = bench_json();
	CHECK(j);
	CHECK(jnum(j, "read", "ops", NULL) > 0 && jnum(j, "write", "ops", NULL) > 0);
	CHECK(jnum(j, "read", "ops", NULL) + jnum(j, "write", "ops", NULL) ==
	      jnum(j, "total", "ops", NULL));
	CHECK(jnum(j, "seconds", NULL, NULL) >= 1 && jnum(j, "seconds", NULL, NULL) < 30);
	CHECK(!strcmp(json_str(json_get(j, "io_pattern")), "rand"));
	json_free(j);
	/* text output */
	CHECK_SH(0, "$V bench bimg --io-type read --io-pattern rand --io-depth 2 --io-total 1M");
	CHECK(out_has("bench bimg: read rand 4 KiB, depth 2"));
	CHECK(out_has("read   ops 256, "));
	CHECK(out_has(" IOPS, ") && out_has("latency us: mean ") && out_has("p99.9 "));
	CHECK(out_has("client CPU "));
}

static void t_bench_bad_args(void)
{
	static const char *bad[] = {
		"bimg", "bimg --io-type foo", "bimg --io-type read --io-size 1000",
		"bimg --io-type read --io-size 128M", "bimg --io-type read --io-depth 0",
		"bimg --io-type read --io-depth x", "bimg --io-type read --io-pattern zig",
		"bimg --io-type read --seconds -1", "bimg --io-type read --seconds abc",
		"bimg --io-type rw --rw-mix-read 101", "bimg --io-type read --rw-mix-read 5",
		"bimg --io-type read --io-total 1k", "--io-type read", "bimg other --io-type read",
		"bimg --io-type read --bogus 1", "bimg --io-type read --metadata-only",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK_SH(2, "$V bench %s", bad[i]);
		CHECK_MSG(err_has("Try 'vsctl bench --help'") || err_has("Try 'vsctl --help'"),
			  "%s: %s", bad[i], R.err);
	}
	CHECK_SH(1, "$V bench nosuch --io-type read --io-total 4k");
	CHECK(err_has("image 'nosuch' does not exist"));
	CHECK_SH(1, "$V bench roimg --io-type write --io-total 4k");
	CHECK(err_has("readonly"));
	CHECK_SH(0, "$V bench roimg --io-type read --io-total 4k");
	CHECK_SH(1, "$V create tiny --size 4000 >/dev/null && $V bench tiny --io-type read "
		 "--io-total 4k");
	CHECK(err_has("smaller than --io-size"));
}

static void t_import_export(void)
{
	uint64_t inode;

	/* 3 MiB + 12345 bytes, a hole over objects 8..15 */
	CHECK(make_file("a", (3u << 20) + 12345, 1u << 20, 1u << 20));
	CHECK_SH(0, "$V import %s imgA --json", path("a"));
	CHECK(out_has("\"created\":true") && out_has("\"bytes\":3158073"));
	CHECK(out_has("\"zero_objects_skipped\":8"));
	CHECK_SH(0, "$V info imgA --json");
	CHECK(out_has("\"size\":3158073"));
	CHECK_SH(0, "$V export imgA %s", path("a.out"));
	CHECK(same_file(path("a"), path("a.out")));
	/* the hole stays a hole in the exported file */
	struct stat st;

	CHECK(stat(path("a.out"), &st) == 0);
	CHECK_MSG((uint64_t)st.st_blocks * 512 < (3u << 20), "%llu blocks",
		  (unsigned long long)st.st_blocks);
	/* 8 objects skipped of 25: the list on the OSDs (2 copies each) */
	inode = image_inode("imgA");
	CHECK(inode);
	CHECK_EQ(all_objects(inode), 2 * 17);
	/* standard input into a new image, export to standard output */
	CHECK_SH(0, "cat %s | $V import - imgB --size 3158073", path("a"));
	CHECK_SH(0, "$V export imgB - | cat > %s", path("b.out"));
	CHECK(same_file(path("a"), path("b.out")));
	CHECK(err_has("Exported image 'imgB'"));
	/* import over existing data: zero objects are deleted, bytes past the
	 * end of the (unaligned) file are kept */
	CHECK(make_file("z", 500000, 0, 500000));
	CHECK_SH(0, "$V import %s imgA --json", path("z"));
	CHECK(out_has("\"created\":false") && out_has("\"zero_objects_deleted\":3"));
	CHECK_SH(0, "dd if=%s of=%s conv=notrunc status=none && $V export imgA %s",
		 path("z"), path("a"), path("a2.out"));
	CHECK(same_file(path("a"), path("a2.out")));
	CHECK_EQ(all_objects(inode), 2 * 14);
}

static void t_progress(void)
{
	/* script(1) gives vsctl a terminal: the bar is drawn on it */
	CHECK_SH(0, "script -qec \"$V import %s imgP\" /dev/null", path("a"));
	CHECK_MSG(out_has("import [") && out_has("100%"), "%s", R.out);
	CHECK_SH(0, "$V import %s imgP", path("a"));
	CHECK(!err_has("import [") && !out_has("import ["));
	CHECK_SH(0, "script -qec \"$V rm imgP\" /dev/null");
	CHECK_MSG(out_has("rm [") && out_has("100%"), "%s", R.out);
}

static void t_rm(void)
{
	uint64_t a = image_inode("imgA"), b = image_inode("imgB");

	CHECK(a && b);
	CHECK(all_objects(b) > 0);
	CHECK_SH(0, "$V rm imgB --json");
	CHECK(out_has("\"objects_deleted\":17"));
	CHECK_EQ(all_objects(b), 0);
	CHECK(all_objects(a) == 2 * 14);	/* untouched */
	CHECK_SH(1, "$V info imgB");
	/* metadata only: the objects stay */
	CHECK_SH(0, "$V rm imgA --metadata-only");
	CHECK(out_has("were not deleted"));
	CHECK(all_objects(a) == 2 * 14);
	/* bench data of bimg: rm deletes it all */
	uint64_t bi = image_inode("bimg");

	CHECK(bi && all_objects(bi) > 0);
	CHECK_SH(0, "$V rm bimg");
	CHECK(out_has("data objects deleted"));
	CHECK_EQ(all_objects(bi), 0);
}

static void t_data_bad_args(void)
{
	CHECK_SH(2, "$V import %s", path("a"));
	CHECK_SH(2, "$V import a b c");
	CHECK_SH(2, "$V import %s x --io-depth 0", path("a"));
	CHECK_SH(2, "$V import %s bad/name", path("a"));
	CHECK_SH(2, "$V import %s x --size 10q", path("a"));
	CHECK_SH(1, "$V import %s/nope x", tmp);
	CHECK(err_has("cannot open"));
	CHECK_SH(1, "$V import - newimg </dev/null");
	CHECK(err_has("give --size"));
	CHECK_SH(1, "$V import %s roimg", path("a"));
	CHECK(err_has("readonly"));
	CHECK_SH(0, "$V create small --size 1M");
	CHECK_SH(1, "$V import %s small", path("a"));
	CHECK(err_has("does not fit") && err_has("--resize"));
	CHECK_SH(1, "head -c 2000000 /dev/zero | $V import - small");
	CHECK(err_has("larger than image"));
	CHECK_SH(1, "$V import %s x --size 1M", path("a"));
	CHECK(err_has("smaller than"));
	CHECK_SH(2, "$V export small");
	CHECK_SH(1, "$V export nosuch %s", path("n.out"));
	CHECK_SH(1, "$V export small %s", path("a"));
	CHECK(err_has("exists; give --force"));
	CHECK_SH(0, "$V export small %s --force", path("a"));
	CHECK_SH(1, "$V export small %s/no/such/dir", tmp);
	CHECK(err_has("cannot open"));
	CHECK_SH(2, "$V export small x --size 1M");
	CHECK_SH(1, "$V rm nosuch");
	CHECK_SH(2, "$V rm small --io-depth 5000");
	CHECK_SH(2, "$V rm");
}

static bool pgs_match(const char *need, const char *notin)
{
	bool ok = true;
	uint64_t prim;

	for (int pg = 1; pg <= 8 && ok; pg++)
		ok = oc_pg_state(&C, POOL, pg, &prim, need, notin);
	return ok;
}

/* With OSD 3 down its PGs are degraded: deletes there are refused, rm
 * keeps the image and says why; once OSD 3 is back and recovered, rm
 * deletes every object on every OSD. */
static void t_rm_osd_down(void)
{
	long long deadline;
	uint64_t inode;
	bool any_degraded = false;
	uint64_t prim;

	CHECK(make_file("d", (3u << 20) + 12345, 1u << 20, 1u << 20));
	CHECK_SH(0, "$V import %s imgD", path("d"));
	inode = image_inode("imgD");
	CHECK(inode && all_objects(inode) == 2 * 17);
	osd_proc_kill(C.osds[3]);
	oc_close(&C, 3);
	deadline = vt_now_ms() + 30000;
	while (!any_degraded && vt_now_ms() < deadline) {
		for (int pg = 1; pg <= 8; pg++)
			any_degraded |= oc_pg_state(&C, POOL, pg, &prim, "degraded\0", NULL);
		vt_sleep_ms(100);
	}
	CHECK_MSG(any_degraded, "no PG became degraded");
	CHECK_SH(1, "$V rm imgD");
	CHECK_MSG(err_has("degraded") || err_has("are down"), "%s", R.err);
	CHECK(err_has("the image is kept") || err_has("image is kept"));
	CHECK_SH(0, "$V info imgD");
	CHECK_EQ(osd_proc_restart(C.osds[3]), 0);
	deadline = vt_now_ms() + 60000;
	while (!pgs_match("active\0", "degraded") && vt_now_ms() < deadline)
		vt_sleep_ms(100);
	CHECK_MSG(pgs_match("active\0", "degraded"), "PGs did not recover");
	CHECK_SH(0, "$V rm imgD");
	CHECK_EQ(all_objects(inode), 0);
}

static void t_help(void)
{
	static const char *cmds[] = {
		"pool create", "pool ls", "pool rm", "create", "ls", "info", "modify", "rm",
		"import", "export", "bench", "pg place", "osd ls", "status",
	};

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		CHECK_SH(0, "%s %s --help", vsctl, cmds[i]);
		CHECK_MSG(out_has("NAME\n    vsctl ") && out_has("\nSYNOPSIS\n") &&
			  out_has("\nEXAMPLES\n") && out_has("Global options:"),
			  "vsctl %s --help:\n%s", cmds[i], R.out);
	}
	CHECK_SH(0, "%s --help", vsctl);
	CHECK(out_has("bench IMAGE") && out_has("import FILE") && out_has("export IMAGE"));
}

int main(void)
{
	vt_run("setup", t_setup);
	if (!vt_case_failed) {
		vt_run("bench_output", t_bench);
		vt_run("bench_bad_args", t_bench_bad_args);
		vt_run("import_export_roundtrip", t_import_export);
		vt_run("progress_bar_on_tty", t_progress);
		vt_run("rm_deletes_every_object", t_rm);
		vt_run("data_bad_args", t_data_bad_args);
		vt_run("rm_with_an_osd_down", t_rm_osd_down);
	}
	vt_run("help_pages", t_help);
	oc_free(&C);
	if (tmp[0])
		proc_rm_tree(tmp);
	return vt_finish();
}

/* vsctl snap create|ls|rm, clone, flatten against a real cluster: etcd +
 * 3 vstor-osd (immediate_commit all), pool "rep" replicated pg_size 2, 8
 * PGs placed by 'vsctl pg place --static'. vsctl runs as a subprocess;
 * the data is written and verified through libvstor in this process
 * against models (tests/lib/vc_model), and exported images are compared
 * with the models by checksum.
 *
 * Cases: write an image, snapshot it (the old inode becomes the readonly
 * snapshot, a new inode takes the name), overwrite parts of the head:
 * snapshot and head verified; a clone of the snapshot written and
 * verified with its parent; a second snapshot and 'snap ls' (chain,
 * children, JSON); 'snap rm' of the middle layer (merged into the head,
 * its objects gone from every OSD, with reads of the head racing it);
 * flatten of the clone while it is
 * written (CAS: the live writes win), with a progress bar; 'snap rm' of
 * the base; rm of an image with children refused; bad input with clear
 * errors and exit codes; snap rm and flatten refused while an OSD that may
 * hold the layer's objects is down, done once it is back; --help pages. */
#include "check.h"
#include "etcd.h"
#include "json.h"
#include "osd_cluster.h"
#include "proc.h"
#include "vc_model.h"
#include "vstor_client.h"
#include "vstor_proto.h"
#include "vt_sh.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NOSD 3
#define SIZE (8u << 20)

static struct osd_cluster C;
static char vsctl[PATH_MAX + 16], tmp[PATH_MAX];
static struct vstor_client *vc;
static struct vt_sh R;
static struct vcm mS1, mHead, mClone;
static uint64_t s1_ino, s2_ino;

static const char *osd_args[] = {
	"--etcd_address", NULL, "--etcd_report_interval", "1", "--max_etcd_attempts", "2",
	"--etcd_quick_timeout", "500", "--immediate_commit", "all", NULL,
};

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

/* a number from 'vsctl info NAME --json' (0 when missing) */
static uint64_t info_num(const char *name, const char *key)
{
	uint64_t x = 0;
	json_t j;

	if (sh("$V info '%s' --json", name))
		return 0;
	j = json_parse(R.out, strlen(R.out), NULL, 0);
	json_u64(json_get(j, key), &x);
	json_free(j);
	return x;
}

/* Waits until the test's client sees name as inode with parent. */
static bool client_sees(const char *name, uint64_t inode, uint64_t parent)
{
	for (long long t = vt_now_ms() + 10000; vt_now_ms() < t;) {
		uint64_t ino = 0, p = ~0ull;

		if (!vstor_image_lookup(vc, name, &ino, NULL, NULL) && ino == inode &&
		    !vstor_inode_parent(vc, inode, &p) && p == parent)
			return true;
		vstor_client_run_once(vc, 20000000);
	}
	return false;
}

/* SEC_LIST of inode on every OSD: the object count */
static int64_t all_objects(uint64_t inode)
{
	static struct vs_obj_ver_id objs[4096];
	int64_t sum = 0;

	for (int n = 1; n <= NOSD; n++) {
		int64_t r = oc_sec_list(&C, n, inode, objs, 4096);

		if (r < 0)
			return -1;
		sum += r;
	}
	return sum;
}

/* 'vsctl export' of name matches the model, by checksum */
static bool export_matches(const char *name, const struct vcm *m)
{
	char path[PATH_MAX + 32];
	uint64_t len, sum;

	snprintf(path, sizeof(path), "%s/export.img", tmp);
	if (sh("$V export '%s' %s --force", name, path)) {
		fprintf(stderr, "export %s: %s\n", name, R.err);
		return false;
	}
	sum = vt_file_sum(path, &len);
	unlink(path);
	if (len != m->size || sum != vt_buf_sum(m->model, m->size)) {
		fprintf(stderr, "export %s: %llu bytes, checksum %llx, model %llx\n", name,
			(unsigned long long)len, (unsigned long long)sum,
			(unsigned long long)vt_buf_sum(m->model, m->size));
		return false;
	}
	return true;
}

static void t_setup(void)
{
	long long deadline;
	const char *tdir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	struct etcd_config *cfg;
	struct vstor_client_opts o = { .up_wait_retry_interval_ms = 100 };
	char exe[PATH_MAX], err[256];
	ssize_t n;

	snprintf(tmp, sizeof(tmp), "%s/vsctl-snap.XXXXXX", tdir);
	CHECK(mkdtemp(tmp));
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	CHECK(n > 0);
	exe[n] = 0;
	for (int i = 0; i < 3; i++)
		*strrchr(exe, '/') = 0;	/* BUILD/tests/cluster/x -> BUILD */
	snprintf(vsctl, sizeof(vsctl), "%s/vsctl", exe);
	CHECK(access(vsctl, X_OK) == 0);
	oc_init(&C);
	C.etcd = etcd_proc_start();
	CHECK(C.etcd);
	C.cl = oc_new_client(&C, "/vitastor");
	CHECK(C.cl);
	CHECK(etcd_put_str_sync(C.cl, "config/global", "{\"immediate_commit\":\"all\"}") == ETCD_OK);
	osd_args[1] = etcd_proc_endpoint(C.etcd);
	for (int i = 1; i <= NOSD; i++)
		CHECK((C.osds[i] = osd_proc_start((uint64_t)i, osd_args)));
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
	cfg = vcm_etcd_cfg(etcd_proc_endpoint(C.etcd), "/vitastor");
	CHECK(cfg);
	o.etcd = cfg;
	vc = vstor_client_create(&o, NULL, err, sizeof(err));
	etcd_config_free(cfg);
	free(cfg);
	CHECK_MSG(vc, "client: %s", err);
	CHECK_EQ(vstor_client_wait_ready(vc, 20000), 0);
}

static void t_snapshot(void)
{
	uint64_t ino, head;
	json_t j;

	CHECK_SH(0, "$V create img --size 8M");
	ino = info_num("img", "inode");
	CHECK(ino && client_sees("img", ino, 0));
	CHECK(!vcm_init(&mS1, vc, ino, SIZE));
	CHECK(!vcm_write_loop(&mS1, 150, NULL, 60000) && !mS1.failed);
	CHECK(vcm_verify(&mS1));
	CHECK_SH(0, "$V snap create img@s1 --json");
	j = json_parse(R.out, strlen(R.out), NULL, 0);
	CHECK_MSG(j, "%s", R.out);
	CHECK(json_u64(json_get(j, "inode"), &head) == 0);
	CHECK(!strcmp(json_str(json_get(j, "snapshot")), "img@s1"));
	json_free(j);
	/* the old inode is the snapshot now, the name is on a new one */
	s1_ino = ino;
	CHECK_EQ(info_num("img@s1", "inode"), ino);
	CHECK_SH(0, "$V info img@s1 --json");
	CHECK(out_has("\"readonly\":true"));
	CHECK_EQ(info_num("img", "inode"), head);
	CHECK_SH(0, "$V info img --json");
	CHECK(out_has("\"parent_name\":\"img@s1\"") && out_has("\"readonly\":false") &&
	      out_has("\"size\":8388608"));
	CHECK(client_sees("img", head, ino));
	CHECK_EQ(vstor_write_sync(vc, ino, 0, 4096, mS1.model), -EINVAL);
	CHECK(!vcm_init(&mHead, vc, head, SIZE));
	memcpy(mHead.model, mS1.model, SIZE);
	CHECK(vcm_verify(&mHead));
	CHECK(!vcm_write_loop(&mHead, 60, NULL, 60000) && !mHead.failed);
	CHECK(vcm_verify(&mHead) && vcm_verify(&mS1));
	CHECK(export_matches("img", &mHead) && export_matches("img@s1", &mS1));
}

static void t_clone(void)
{
	uint64_t ino;

	CHECK_SH(0, "$V clone img@s1 cl --json");
	CHECK(out_has("\"name\":\"cl\"") && out_has("\"parent\":\"img@s1\""));
	ino = info_num("cl", "inode");
	CHECK(ino && client_sees("cl", ino, s1_ino));
	CHECK(!vcm_init(&mClone, vc, ino, SIZE));
	memcpy(mClone.model, mS1.model, SIZE);
	CHECK(vcm_verify(&mClone));
	CHECK(!vcm_write_loop(&mClone, 60, NULL, 60000) && !mClone.failed);
	CHECK(vcm_verify(&mClone) && vcm_verify(&mS1) && vcm_verify(&mHead));
	CHECK(export_matches("cl", &mClone));
}

static void t_second_snapshot_ls(void)
{
	uint64_t head;
	json_t j;

	CHECK_SH(0, "$V snap create img@s2");
	CHECK(out_has("Snapshot 'img@s2' created"));
	s2_ino = mHead.inode;
	head = info_num("img", "inode");
	CHECK(head && head != s2_ino && client_sees("img", head, s2_ino));
	mHead.inode = head;
	CHECK(vcm_verify(&mHead));
	CHECK(!vcm_write_loop(&mHead, 40, NULL, 60000) && !mHead.failed);
	CHECK(vcm_verify(&mHead));
	/* the chain of img: img -> img@s2 -> img@s1 */
	CHECK_SH(0, "$V snap ls img --json");
	j = json_parse(R.out, strlen(R.out), NULL, 0);
	CHECK_MSG(j && json_len(j) == 3, "%s", R.out);
	CHECK(!strcmp(json_str(json_get(json_at(j, 0), "name")), "img"));
	CHECK(!strcmp(json_str(json_get(json_at(j, 1), "name")), "img@s2"));
	CHECK(!strcmp(json_str(json_get(json_at(j, 2), "name")), "img@s1"));
	CHECK_EQ(json_len(json_get(json_at(j, 2), "children")), 2);
	json_free(j);
	CHECK_SH(0, "$V snap ls img");
	CHECK(out_has("LAYER") && out_has("img@s2") && (out_has("cl,img@s2") || out_has("img@s2,cl")));
	CHECK_SH(0, "$V snap ls");
	CHECK(out_has("img@s1") && out_has("img@s2") && !out_has("\ncl "));
}

static void t_rm_refused(void)
{
	CHECK_SH(1, "$V rm img@s1");
	CHECK(err_has("has children") && err_has("snap rm") && err_has("flatten"));
	CHECK_SH(1, "$V modify img@s2 --readwrite");
	CHECK(err_has("is the parent of 'img'"));
	CHECK_SH(0, "$V info img@s1");
}

/* Starts a shell command line in the background: its stdout+stderr go to
 * tmp/bg.out, its exit status to tmp/bg.rc. */
static bool bg_start(const char *cmd)
{
	return sh("( %s > %s/bg.out 2>&1; echo $? > %s/bg.rc.tmp; mv %s/bg.rc.tmp %s/bg.rc ) &",
		  cmd, tmp, tmp, tmp, tmp) == 0;
}

/* The exit status of the background command once done (its output in
 * R.out), else -1. */
static int bg_done(void)
{
	char path[PATH_MAX + 16], buf[16] = "";
	FILE *f;

	snprintf(path, sizeof(path), "%s/bg.rc", tmp);
	if (!(f = fopen(path, "r")))
		return -1;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	unlink(path);
	snprintf(path, sizeof(path), "%s/bg.out", tmp);
	vt_slurp(path, R.out, sizeof(R.out));
	return buf[0] ? atoi(buf) : 99;
}

/* one random read of m (4 KiB .. 256 KiB) checked against the model */
static bool read_one(struct vcm *m)
{
	static uint8_t buf[256 << 10];
	uint64_t len = ((uint64_t)vcm_rnd() % 64 + 1) * 4096;
	uint64_t off = ((uint64_t)vcm_rnd() % ((m->size - len) / 4096 + 1)) * 4096;
	int64_t r = vstor_read_sync(m->vc, m->inode, off, len, buf);

	if (r == (int64_t)len && !memcmp(buf, m->model + off, len))
		return true;
	fprintf(stderr, "read %llu+%llu: r=%lld\n", (unsigned long long)off,
		(unsigned long long)len, (long long)r);
	{
		/* for the race: is it still wrong, and what chain does the client see */
		uint64_t par = 0;
		int64_t r1;

		vstor_inode_parent(m->vc, m->inode, &par);
		r1 = vstor_read_sync(m->vc, m->inode, off, len, buf);
		fprintf(stderr, "  parent now %llx; re-read %s\n", (unsigned long long)par,
			r1 == (int64_t)len && !memcmp(buf, m->model + off, len) ? "ok" : "bad");
	}
	for (uint64_t g = 0; r == (int64_t)len && g < len / 4096; g++) {
		static const uint8_t z[4096];
		const uint8_t *b = buf + g * 4096, *w = m->model + off + g * 4096;

		if (memcmp(b, w, 4096))
			fprintf(stderr, "  granule at %llu differs: read %s, model %s\n",
				(unsigned long long)(off + g * 4096), memcmp(b, z, 4096) ? "data" :
				"zeroes", memcmp(w, z, 4096) ? "data" : "zeroes");
	}
	return false;
}

/* img@s2 goes; its data moves into img, whose parent becomes img@s1; img
 * is read all the while (VSTOR_SNAP_RACE=0 skips the reads) */
static void t_snap_rm_middle(void)
{
	int rc, reads = 0;

	CHECK(all_objects(s2_ino) > 0);
	CHECK(bg_start("$V snap rm img@s2 --json --io-depth 1"));
	int bad = 0;
	/* reads racing the merge once saw zeroes about 1 run in 6 under ASan:
	 * the blockstore read a redirected write's block before its data was
	 * there (fixed in bs_read.c) */
	const char *env = getenv("VSTOR_SNAP_RACE");
	bool race = !env || strcmp(env, "0");

	while ((rc = bg_done()) < 0) {
		if (race) {
			bad += !read_one(&mHead);
			reads++;
		} else {
			vt_sleep_ms(20);
		}
	}
	fprintf(stderr, "%d reads during snap rm, %d bad; after: %s\n", reads, bad,
		vcm_verify(&mHead) ? "verify ok" : "verify BAD");
	CHECK(!bad);
	CHECK_MSG(rc == 0, "snap rm: %s", R.out);
	CHECK_MSG(out_has("\"merged_into\":1") && out_has("\"objects_deleted\":"), "%s", R.out);
	CHECK(client_sees("img", mHead.inode, s1_ino));
	CHECK(vcm_verify(&mHead) && vcm_verify(&mS1) && vcm_verify(&mClone));
	CHECK_EQ(all_objects(s2_ino), 0);
	CHECK_SH(1, "$V info img@s2");
	CHECK(export_matches("img", &mHead));
}

static void t_flatten_live(void)
{
	int n = 0, rc;

	/* flatten in the background (on a terminal), the clone written meanwhile */
	CHECK(bg_start("script -qec \"$V flatten cl --io-depth 2\" /dev/null"));
	for (long long t = vt_now_ms() + 120000; (rc = bg_done()) < 0 && vt_now_ms() < t; n++)
		CHECK(!vcm_write_loop(&mClone, 8, NULL, 60000) && !mClone.failed);
	CHECK_MSG(rc == 0, "flatten exit %d: %s", rc, R.out);
	CHECK_MSG(strstr(R.out, "flatten [") && strstr(R.out, "flattened"), "%s", R.out);
	fprintf(stderr, "%d write rounds during flatten: %s\n", n, strstr(R.out, "flattened"));
	CHECK(client_sees("cl", mClone.inode, 0));
	CHECK(vcm_verify(&mClone));
	CHECK(!vcm_write_loop(&mClone, 20, NULL, 60000) && !mClone.failed);
	CHECK(vcm_verify(&mClone) && export_matches("cl", &mClone));
	CHECK_SH(0, "$V info cl --json");
	CHECK(!out_has("parent"));
	CHECK_SH(0, "$V flatten cl");
	CHECK(out_has("nothing to flatten"));
}

/* img@s1 has one child left (img): merged into it, then gone */
static void t_snap_rm_base(void)
{
	CHECK_SH(0, "$V snap rm img@s1");
	CHECK(out_has("merged into 1 child") && out_has("Image 'img@s1' removed"));
	CHECK(client_sees("img", mHead.inode, 0));
	CHECK(vcm_verify(&mHead) && vcm_verify(&mClone));
	CHECK_EQ(all_objects(s1_ino), 0);
	CHECK(export_matches("img", &mHead));
	/* a fresh snapshot's whole data moves into the new head */
	CHECK_SH(0, "$V snap create cl@x && $V snap rm cl@x && $V snap ls --json");
	CHECK(out_has("[]"));
	CHECK_EQ(all_objects(mClone.inode), 0);
	mClone.inode = info_num("cl", "inode");
	CHECK(client_sees("cl", mClone.inode, 0));
	CHECK(vcm_verify(&mClone));
}

static void t_bad_input(void)
{
	CHECK_SH(1, "$V snap create nosuch@x");
	CHECK(err_has("image 'nosuch' does not exist"));
	CHECK_SH(2, "$V snap create img");
	CHECK(err_has("IMAGE@SNAPSHOT") && err_has("Try 'vsctl snap create --help'"));
	CHECK_SH(2, "$V snap create img@");
	CHECK_SH(2, "$V snap create @x");
	CHECK_SH(2, "$V snap create 'a/b@c'");
	CHECK_SH(2, "$V snap create a@b c@d");
	CHECK_SH(0, "$V snap create img@t1");
	CHECK_SH(1, "$V snap create img@t1");
	CHECK(err_has("'img@t1' already exists"));
	CHECK_SH(1, "$V snap create img@t1@z");
	CHECK(err_has("is readonly") && err_has("vsctl clone"));
	CHECK_SH(1, "$V clone img c2");
	CHECK(err_has("'img' is not readonly") && err_has("snap create"));
	CHECK_SH(1, "$V clone img@t1 cl");
	CHECK(err_has("'cl' already exists"));
	CHECK_SH(1, "$V clone nosuch c3");
	CHECK(err_has("does not exist"));
	CHECK_SH(2, "$V clone img@t1 'bad/name'");
	CHECK_SH(2, "$V clone img@t1");
	CHECK_SH(2, "$V clone img@t1 c4 --size 0");
	CHECK_SH(1, "$V clone img@t1 c4 --pool nosuchpool");
	CHECK_SH(1, "$V snap rm img");
	CHECK(err_has("not a snapshot") && err_has("vsctl rm img"));
	CHECK_SH(1, "$V snap rm nosuch@x");
	CHECK_SH(2, "$V snap rm img@t1 --io-depth 0");
	CHECK_SH(2, "$V flatten img --io-depth 5000");
	CHECK_SH(1, "$V flatten nosuch");
	CHECK_SH(1, "$V snap ls nosuch");
	CHECK_SH(2, "$V snap");
	CHECK(err_has("subcommand"));
	CHECK_SH(2, "$V snap bogus");
	CHECK_SH(2, "$V snap create img@t2 --size 1G");
	CHECK(err_has("does not apply"));
	/* nothing above changed the data */
	CHECK(client_sees("img", info_num("img", "inode"), mHead.inode));
	CHECK(vcm_verify(&mHead) && vcm_verify(&mClone));
	CHECK_SH(0, "$V snap rm img@t1");
	mHead.inode = info_num("img", "inode");
	CHECK(client_sees("img", mHead.inode, 0));
	CHECK(vcm_verify(&mHead) && export_matches("img", &mHead));
}

static bool pgs_match(const char *need, const char *notin)
{
	bool ok = true;
	uint64_t prim;

	for (int pg = 1; pg <= 8 && ok; pg++)
		ok = oc_pg_state(&C, 1, pg, &prim, need, notin);
	return ok;
}

/* With OSD 3 down, a snapshot's objects cannot all be listed: snap rm and
 * flatten refuse (saying why) and change nothing; once it is back and
 * recovered they work. */
static void t_osd_down(void)
{
	uint64_t prim, snap_ino = mHead.inode;
	bool degraded = false;

	CHECK_SH(0, "$V snap create img@d && $V clone img@d cd");
	mHead.inode = info_num("img", "inode");
	CHECK(client_sees("img", mHead.inode, snap_ino));
	CHECK(vcm_write_loop(&mHead, 10, NULL, 60000) == 0 && !mHead.failed);
	osd_proc_kill(C.osds[3]);
	oc_close(&C, 3);
	for (long long t = vt_now_ms() + 30000; !degraded && vt_now_ms() < t; vt_sleep_ms(100))
		for (int pg = 1; pg <= 8; pg++)
			degraded |= oc_pg_state(&C, 1, pg, &prim, "degraded\0", NULL);
	CHECK_MSG(degraded, "no PG became degraded");
	CHECK_SH(1, "$V snap rm img@d");
	CHECK_MSG(err_has("OSD 3 is down") && err_has("try again"), "%s", R.err);
	CHECK_SH(1, "$V flatten cd");
	CHECK_MSG(err_has("OSD 3 is down"), "%s", R.err);
	CHECK_SH(0, "$V info img@d && $V info cd --json");
	CHECK(out_has("\"parent_name\":\"img@d\""));
	/* (no reads now: without a monitor the PGs OSD 3 was primary of have
	 * no primary until it is back) */
	CHECK_EQ(osd_proc_restart(C.osds[3]), 0);
	for (long long t = vt_now_ms() + 60000; !pgs_match("active\0", "degraded") &&
	     vt_now_ms() < t;)
		vt_sleep_ms(100);
	CHECK_MSG(pgs_match("active\0", "degraded"), "PGs did not recover");
	CHECK_SH(0, "$V flatten cd && $V snap rm img@d");
	CHECK(client_sees("img", mHead.inode, 0));
	CHECK(vcm_verify(&mHead) && export_matches("img", &mHead));
	CHECK_EQ(all_objects(snap_ino), 0);
}

static void t_help(void)
{
	static const char *cmds[] = { "snap create", "snap ls", "snap rm", "clone", "flatten" };

	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		CHECK_SH(0, "%s %s --help", vsctl, cmds[i]);
		CHECK_MSG(out_has("NAME\n    vsctl ") && out_has("\nSYNOPSIS\n") &&
			  out_has("\nEXAMPLES\n") && out_has("Global options:"),
			  "vsctl %s --help:\n%s", cmds[i], R.out);
	}
	CHECK_SH(0, "%s --help", vsctl);
	CHECK(out_has("snap create IMAGE@SNAP") && out_has("flatten IMAGE"));
}

int main(void)
{
	vt_run("setup", t_setup);
	if (!vt_case_failed) {
		vt_run("snapshot_then_overwrite", t_snapshot);
		vt_run("clone_of_snapshot", t_clone);
		vt_run("second_snapshot_and_ls", t_second_snapshot_ls);
		vt_run("rm_of_a_parent_refused", t_rm_refused);
		vt_run("snap_rm_merges_middle_layer", t_snap_rm_middle);
		vt_run("flatten_while_writing", t_flatten_live);
		vt_run("snap_rm_base", t_snap_rm_base);
		vt_run("bad_input", t_bad_input);
		vt_run("osd_down_refused", t_osd_down);
	}
	vt_run("help_pages", t_help);
	vcm_free(&mS1);
	vcm_free(&mHead);
	vcm_free(&mClone);
	vstor_client_destroy(vc);
	oc_free(&C);
	if (tmp[0])
		proc_rm_tree(tmp);
	return vt_finish();
}

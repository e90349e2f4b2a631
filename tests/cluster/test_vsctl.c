/* vsctl against a real etcd: runs the built vsctl binary (next to the test
 * binary's build directory: <build>/vsctl) as a subprocess. Pools, images,
 * id allocation (also from parallel processes), static PG placement,
 * osd ls and status with keys planted by the test, bad command lines and
 * bad JSON in etcd. */
#include "check.h"
#include "etcd.h"
#include "etcd_proc.h"
#include "json.h"

#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static struct etcd_proc *etcd;
static struct etcd_client *cli;
static char vsctl[PATH_MAX + 16];

struct run {
	int rc;
	char out[65536];
	char err[16384];
};

static struct run R;

/* Starts vsctl with the test etcd and the given arguments (NULL-terminated)
 * with stdout/stderr going to files named after tag; returns the pid. */
static pid_t spawn(const char *tag, bool with_etcd, va_list ap)
{
	const char *argv[64];
	char out[PATH_MAX], err[PATH_MAX];
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	int n = 0;
	pid_t pid;

	argv[n++] = vsctl;
	argv[n++] = "--config_path";
	argv[n++] = "/dev/null";
	if (with_etcd) {
		argv[n++] = "--etcd_address";
		argv[n++] = etcd_proc_endpoint(etcd);
	}
	for (const char *a; n < 62 && (a = va_arg(ap, const char *));)
		argv[n++] = a;
	argv[n] = NULL;
	snprintf(out, sizeof(out), "%s/vsctl.%d.%s.out", tmp, (int)getpid(), tag);
	snprintf(err, sizeof(err), "%s/vsctl.%d.%s.err", tmp, (int)getpid(), tag);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid == 0) {
		int fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int fe = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		dup2(fo, 1);
		dup2(fe, 2);
		execv(vsctl, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static int finish(pid_t pid, const char *tag, struct run *r)
{
	char out[PATH_MAX], err[PATH_MAX];
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	int st = 0;

	waitpid(pid, &st, 0);
	snprintf(out, sizeof(out), "%s/vsctl.%d.%s.out", tmp, (int)getpid(), tag);
	snprintf(err, sizeof(err), "%s/vsctl.%d.%s.err", tmp, (int)getpid(), tag);
	vt_slurp(out, r->out, sizeof(r->out));
	vt_slurp(err, r->err, sizeof(r->err));
	r->rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	/* A sanitizer report must not pass for an expected "exit 1". */
	if (strstr(r->err, "Sanitizer") || strstr(r->err, "runtime error:"))
		r->rc = 99;
	if (r->rc != 0 && r->rc != 1 && r->rc != 2)
		fprintf(stderr, "vsctl exited with %d: %s\n", r->rc, r->err);
	return r->rc;
}

static pid_t spawn_va(const char *tag, int with_etcd, ...);

/* The same as spawn() for a NULL-terminated array (at most 15 entries). */
static pid_t spawn_list(const char *tag, bool with_etcd, const char **list)
{
	const char *a[16] = { 0 };

	for (int i = 0; i < 15 && list[i]; i++)
		a[i] = list[i];
	return spawn_va(tag, with_etcd, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8],
			a[9], a[10], a[11], a[12], a[13], a[14], (const char *)NULL);
}

/* Runs vsctl to completion; the result is in R. Returns the exit code. */
static int run_list(const char **list, bool with_etcd)
{
	return finish(spawn_list("r", with_etcd, list), "r", &R);
}

static pid_t spawn_va(const char *tag, int with_etcd, ...)
{
	va_list ap;
	pid_t pid;

	va_start(ap, with_etcd);
	pid = spawn(tag, with_etcd, ap);
	va_end(ap);
	return pid;
}

static int run_va(bool with_etcd, const char *first, va_list ap)
{
	const char *list[16];
	int n = 0;

	list[n++] = first;
	for (const char *a = first; a && n < 15;)
		list[n++] = a = va_arg(ap, const char *);
	list[15] = NULL;
	return run_list(list, with_etcd);
}

/* vs(args..., NULL): vsctl with the test etcd. */
static int vs(const char *first, ...)
{
	va_list ap;
	int rc;

	va_start(ap, first);
	rc = run_va(true, first, ap);
	va_end(ap);
	return rc;
}

/* Without etcd (usage errors). */
static int vs_noetcd(const char *first, ...)
{
	va_list ap;
	int rc;

	va_start(ap, first);
	rc = run_va(false, first, ap);
	va_end(ap);
	return rc;
}

static bool out_has(const char *s)
{
	return strstr(R.out, s) != NULL;
}

static bool err_has(const char *s)
{
	return strstr(R.err, s) != NULL;
}

static int put(const char *key, const char *value)
{
	return etcd_put_str_sync(cli, key, value);
}

static char *get(const char *key)
{
	char *v = NULL;

	if (etcd_get_str_sync(cli, key, &v) != ETCD_OK)
		return NULL;
	return v;
}

static json_t parse_out(void)
{
	return json_parse(R.out, strlen(R.out), NULL, 0);
}

#define CHECK_RUN(expect_rc, call) do { \
	int _rc = (call); \
	CHECK_MSG(_rc == (expect_rc), "%s: rc %d != %d\nstdout: %s\nstderr: %s", #call, \
		_rc, (expect_rc), R.out, R.err); \
} while (0)

static void t_usage(void)
{
	CHECK_RUN(2, vs_noetcd("frobnicate", NULL));
	CHECK(err_has("unknown command 'frobnicate'") && err_has("--help"));
	CHECK_RUN(2, vs_noetcd("pool", "frob", NULL));
	CHECK_RUN(2, vs_noetcd("pool", NULL));
	CHECK_RUN(2, vs_noetcd(NULL));
	CHECK_RUN(2, vs_noetcd("ls", "--bogus-option", "1", NULL));
	CHECK(err_has("unknown option --bogus-option"));
	CHECK_RUN(2, vs_noetcd("create", "x", "--size", NULL));
	CHECK(err_has("missing value"));
	CHECK_RUN(2, vs_noetcd("create", "x", "--size", "12Q", NULL));
	CHECK(err_has("--size") && err_has("12Q"));
	CHECK_RUN(2, vs_noetcd("create", "x", NULL));
	CHECK(err_has("--size is required"));
	CHECK_RUN(2, vs_noetcd("create", NULL));
	CHECK(err_has("missing argument"));
	CHECK_RUN(2, vs_noetcd("info", "a", "b", NULL));
	CHECK(err_has("unexpected argument 'b'"));
	CHECK_RUN(2, vs_noetcd("ls", "--size", "5", NULL));
	CHECK(err_has("does not apply"));
	CHECK_RUN(2, vs_noetcd("pool", "create", "p", "--scheme", "replicated", "--pg_size", "x",
			       "--pg_count", "1", NULL));
	CHECK(err_has("--pg_size"));
	CHECK_RUN(2, vs_noetcd("modify", "x", NULL));
	CHECK(err_has("nothing to change"));
	CHECK_RUN(2, vs_noetcd("modify", "x", "--readonly", "--readwrite", NULL));
	CHECK_RUN(2, vs_noetcd("pg", "place", NULL));
	CHECK(err_has("--static"));
	/* help */
	CHECK_RUN(0, vs_noetcd("--help", NULL));
	CHECK(out_has("SYNOPSIS") && out_has("pool create") && out_has("--etcd_address"));
	CHECK_RUN(0, vs_noetcd("pool", "create", "--help", NULL));
	CHECK(out_has("EXAMPLES") && out_has("--pg_minsize"));
	CHECK_RUN(0, vs_noetcd("help", "rm", NULL));
	CHECK(out_has("--metadata-only"));
	/* no etcd configured */
	CHECK_RUN(1, vs_noetcd("ls", NULL));
	CHECK(err_has("no etcd_address: give --etcd_address HOST:PORT"));
}

static void t_pools(void)
{
	json_t j;

	CHECK_RUN(0, vs("pool", "ls", NULL));
	CHECK(out_has("NAME"));
	CHECK_RUN(0, vs("pool", "create", "p1", "--scheme", "replicated", "--pg_size", "2",
			"--pg_count", "8", NULL));
	CHECK(out_has("id 1"));
	CHECK_RUN(1, vs("pool", "create", "p1", "--scheme", "replicated", "--pg_size", "2",
			"--pg_count", "8", NULL));
	CHECK(err_has("already exists"));
	CHECK_RUN(2, vs("pool", "create", "p2", "--scheme", "raid5", "--pg_size", "2",
			"--pg_count", "8", NULL));
	CHECK(err_has("--scheme"));
	CHECK_RUN(2, vs("pool", "create", "p2", "--scheme", "replicated", "--pg_size", "0",
			"--pg_count", "8", NULL));
	CHECK(err_has("pg_size must be 1..256"));
	CHECK_RUN(2, vs("pool", "create", "p2", "--scheme", "xor", "--pg_size", "2",
			"--pg_count", "8", NULL));
	CHECK(err_has("pg_size must be 3..256"));
	CHECK_RUN(2, vs("pool", "create", "p2", "--scheme", "jerasure", "--pg_size", "4",
			"--parity_chunks", "3", "--pg_count", "8", NULL));
	CHECK(err_has("parity_chunks must be 1..pg_size-2"));
	CHECK_RUN(2, vs("pool", "create", "p2", "--scheme", "ec", "--pg_size", "4",
			"--parity_chunks", "2", "--pg_minsize", "1", "--pg_count", "8", NULL));
	CHECK(err_has("pg_minsize must be 2..pg_size"));
	CHECK_RUN(2, vs("pool", "create", "p2", "--scheme", "replicated", "--pg_size", "2",
			"--pg_minsize", "3", "--pg_count", "8", NULL));
	CHECK_RUN(2, vs("pool", "create", "p2", "--scheme", "replicated", "--pg_size", "2", NULL));
	CHECK(err_has("--pg_count is required"));
	CHECK_RUN(2, vs("pool", "create", "p2", "--scheme", "replicated", "--pg_size", "2",
			"--pg_count", "0", NULL));
	CHECK_RUN(2, vs("pool", "create", "p2", "--scheme", "replicated", "--pg_size", "2",
			"--pg_count", "4", "--id", "70000", NULL));
	CHECK_RUN(2, vs("pool", "create", "12", "--scheme", "replicated", "--pg_size", "2",
			"--pg_count", "4", NULL));
	CHECK(err_has("bad pool name"));
	CHECK_RUN(0, vs("pool", "create", "e1", "--scheme", "ec", "--pg_size", "3",
			"--pg_count", "4", "--id", "5", "--pg_stripe_size", "1M", NULL));
	CHECK(out_has("id 5"));
	CHECK_RUN(1, vs("pool", "create", "e2", "--scheme", "xor", "--pg_size", "3",
			"--pg_count", "4", "--id", "5", NULL));
	CHECK(err_has("already used"));
	CHECK_RUN(0, vs("pool", "create", "p3", "--scheme", "replicated", "--pg_size", "1",
			"--pg_count", "2", "--json", NULL));
	CHECK(out_has("\"id\":6"));
	CHECK_RUN(0, vs("pool", "ls", "--json", NULL));
	j = parse_out();
	CHECK(json_is_arr(j) && json_len(j) == 3);
	CHECK_STR(json_str(json_get(json_at(j, 1), "name")), "e1");
	CHECK_STR(json_str(json_get(json_at(j, 1), "scheme")), "jerasure");
	uint64_t x = 0;
	json_u64(json_get(json_at(j, 1), "pg_minsize"), &x);
	CHECK_EQ(x, 2);
	json_u64(json_get(json_at(j, 1), "pg_stripe_size"), &x);
	CHECK_EQ(x, 1048576);
	json_free(j);
	CHECK_RUN(0, vs("pool", "ls", NULL));
	CHECK(out_has("p1") && out_has("e1") && out_has("jerasure") && out_has("FAILURE_DOMAIN"));
	CHECK_RUN(0, vs("pool", "rm", "p3", NULL));
	CHECK_RUN(1, vs("pool", "rm", "p3", NULL));
	CHECK(err_has("does not exist"));
}

static void t_images(void)
{
	json_t j;
	char *s;
	uint64_t x = 0;

	CHECK_RUN(1, vs("create", "a1", "--size", "1G", NULL));
	CHECK(err_has("--pool"));
	CHECK_RUN(1, vs("create", "a1", "--size", "1G", "--pool", "nope", NULL));
	CHECK(err_has("pool 'nope' does not exist"));
	CHECK_RUN(0, vs("create", "a1", "--size", "1G", "--pool", "p1", NULL));
	CHECK_RUN(0, vs("create", "a2", "--size", "512M", "--pool", "1", "--json", NULL));
	j = parse_out();
	CHECK(json_get(j, "id") && !json_u64(json_get(j, "id"), &x) && x == 2);
	json_free(j);
	CHECK_RUN(1, vs("create", "a1", "--size", "1G", "--pool", "p1", NULL));
	CHECK(err_has("image 'a1' already exists"));
	CHECK_RUN(2, vs("create", "a/b", "--size", "1G", "--pool", "p1", NULL));
	s = get("index/image/a1");
	CHECK(s && strstr(s, "\"id\":1") && strstr(s, "\"pool_id\":1"));
	free(s);
	s = get("config/inode/1/2");
	CHECK(s && strstr(s, "\"name\":\"a2\"") && strstr(s, "\"size\":536870912"));
	free(s);
	s = get("index/maxid/1");
	CHECK(s && !strcmp(s, "2"));
	free(s);

	CHECK_RUN(0, vs("ls", NULL));
	CHECK(out_has("a1") && out_has("a2") && out_has("1 GiB") && out_has("512 MiB"));
	CHECK_RUN(0, vs("ls", "--json", NULL));
	j = parse_out();
	CHECK(json_is_arr(j) && json_len(j) == 2);
	json_u64(json_get(json_at(j, 0), "inode"), &x);
	CHECK_EQ(x, (1ull << 48) | 1);
	json_free(j);
	CHECK_RUN(0, vs("info", "a1", NULL));
	CHECK(out_has("size:") && out_has("1 GiB") && out_has("0x1000000000001"));
	CHECK_RUN(1, vs("info", "zz", NULL));
	CHECK(err_has("image 'zz' does not exist"));

	CHECK_RUN(1, vs("modify", "a1", "--resize", "512M", NULL));
	CHECK(err_has("--force"));
	CHECK_RUN(0, vs("modify", "a1", "--resize", "2G", "--rename", "b1", "--readonly", NULL));
	CHECK_RUN(1, vs("info", "a1", NULL));
	CHECK_RUN(0, vs("info", "b1", "--json", NULL));
	j = parse_out();
	CHECK(j && json_get(j, "readonly") && json_get(j, "readonly")->type == yajl_t_true);
	json_u64(json_get(j, "size"), &x);
	CHECK_EQ(x, 2ull << 30);
	json_u64(json_get(j, "id"), &x);
	CHECK_EQ(x, 1);
	json_free(j);
	s = get("index/image/a1");
	CHECK(s == NULL);
	s = get("index/image/b1");
	CHECK(s && strstr(s, "\"id\":1"));
	free(s);
	CHECK_RUN(0, vs("modify", "b1", "--resize", "1G", "--force", "--readwrite", NULL));
	s = get("config/inode/1/1");
	CHECK(s && strstr(s, "\"size\":1073741824") && !strstr(s, "readonly"));
	free(s);
	CHECK_RUN(1, vs("modify", "a2", "--rename", "b1", NULL));
	CHECK(err_has("exists"));

	/* Unknown members of the inode object survive a modify. */
	CHECK(put("config/inode/1/7", "{\"name\":\"hand\",\"size\":4096,\"parent_id\":1,\"x\":[1]}") == 0);
	CHECK_RUN(0, vs("info", "hand", NULL));
	CHECK(out_has("parent:    b1"));
	CHECK_RUN(0, vs("modify", "hand", "--resize", "8k", NULL));
	s = get("config/inode/1/7");
	CHECK(s && strstr(s, "\"x\":[1]") && strstr(s, "\"parent_id\":1") && strstr(s, "8192"));
	free(s);
	s = get("index/image/hand");
	CHECK(s && strstr(s, "\"id\":7"));
	free(s);
	CHECK_RUN(1, vs("rm", "b1", "--metadata-only", NULL));
	CHECK(err_has("parent of 'hand'"));
	/* The next create skips the number taken by hand. */
	CHECK(put("index/maxid/1", "6") == 0);
	CHECK_RUN(0, vs("create", "after", "--size", "1M", "--pool", "p1", "--json", NULL));
	CHECK(out_has("\"id\":8"));

	/* no PGs placed yet: the objects cannot be listed */
	CHECK_RUN(1, vs("rm", "hand", NULL));
	CHECK(err_has("--metadata-only") && err_has("no PGs"));
	CHECK_RUN(0, vs("rm", "hand", "--metadata-only", NULL));
	CHECK(get("config/inode/1/7") == NULL && get("index/image/hand") == NULL);
	CHECK_RUN(1, vs("pool", "rm", "p1", NULL));
	CHECK(err_has("still has"));
	CHECK_RUN(0, vs("rm", "after", "--metadata-only", NULL));
	CHECK_RUN(0, vs("rm", "b1", "--metadata-only", NULL));
	CHECK_RUN(0, vs("rm", "a2", "--metadata-only", NULL));
	CHECK_RUN(0, vs("ls", "--json", NULL));
	CHECK(!strcmp(R.out, "[]\n"));
	CHECK_RUN(0, vs("pool", "rm", "p1", NULL));
}

static void t_concurrent_create(void)
{
	enum { N = 8 };
	pid_t pids[N];
	char names[N][16], tags[N][16];
	uint64_t ids[N];
	json_t j;

	for (int i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "c%d", i);
		snprintf(tags[i], sizeof(tags[i]), "c%d", i);
		pids[i] = spawn_va(tags[i], true, "create", names[i], "--size", "1G", "--pool", "e1",
				   (const char *)NULL);
	}
	for (int i = 0; i < N; i++) {
		struct run r;

		finish(pids[i], tags[i], &r);
		CHECK_MSG(r.rc == 0, "create %s: rc %d: %s", names[i], r.rc, r.err);
	}
	CHECK_RUN(0, vs("ls", "--pool", "e1", "--json", NULL));
	j = parse_out();
	CHECK(json_is_arr(j) && json_len(j) == N);
	for (int i = 0; i < N; i++) {
		ids[i] = 0;
		json_u64(json_get(json_at(j, (size_t)i), "id"), &ids[i]);
		for (int k = 0; k < i; k++)
			CHECK_MSG(ids[i] != ids[k], "duplicate id %d", (int)ids[i]);
		CHECK(ids[i] >= 1 && ids[i] <= N);
	}
	json_free(j);
	char *s = get("index/maxid/5");
	CHECK(s && atoi(s) == N);
	free(s);
}

/* Checks config/pgs for pool: pg_count PGs, osd_set of pg_size numbers,
 * nonzero entries distinct, primary = first. zeros: expected 0 slots per PG. */
static void check_pgs(json_t pgs, const char *pool, size_t pg_count, size_t pg_size, size_t zeros)
{
	json_t items = json_get(json_get(pgs, "items"), pool);

	CHECK(json_is_str(json_get(pgs, "hash")));
	CHECK_MSG(json_is_obj(items) && json_len(items) == pg_count, "pool %s PGs", pool);
	for (size_t pg = 1; pg <= pg_count; pg++) {
		char k[16];
		json_t e, set;
		uint64_t prim = 0, o[8];
		size_t nz = 0;

		snprintf(k, sizeof(k), "%zu", pg);
		e = json_get(items, k);
		set = json_get(e, "osd_set");
		CHECK_MSG(json_is_arr(set) && json_len(set) == pg_size, "pg %s/%zu", pool, pg);
		CHECK(json_get(e, "primary") && json_get(e, "primary")->type == yajl_t_number);
		json_u64(json_get(e, "primary"), &prim);
		for (size_t s = 0; s < pg_size; s++) {
			CHECK(json_at(set, s)->type == yajl_t_number);
			json_u64(json_at(set, s), &o[s]);
			nz += o[s] == 0;
			for (size_t t = 0; t < s; t++)
				CHECK(!o[s] || o[s] != o[t]);
		}
		CHECK_EQ(nz, zeros);
		CHECK_EQ(prim, o[0]);
	}
}

static void t_pg_place(void)
{
	json_t j;
	char *s;

	CHECK_RUN(1, vs("pg", "place", "--static", NULL));
	CHECK(err_has("no OSD is up"));
	CHECK(put("osd/state/1", "{\"state\":\"up\",\"addresses\":[\"127.0.0.1\"],\"port\":4001,\"host\":\"h1\"}") == 0);
	CHECK(put("osd/state/2", "{\"state\":\"up\",\"addresses\":[\"127.0.0.2\"],\"port\":\"4002\",\"host\":\"h2\"}") == 0);
	CHECK_RUN(1, vs("pg", "place", "--static", "--pool", "e1", NULL));
	CHECK(err_has("--allow-degraded") && err_has("only 2"));
	CHECK_RUN(0, vs("pg", "place", "--static", "--pool", "e1", "--allow-degraded", NULL));
	s = get("config/pgs");
	CHECK(s);
	j = json_parse(s, strlen(s), NULL, 0);
	free(s);
	CHECK(j);
	check_pgs(j, "5", 4, 3, 1);
	json_free(j);
	if (vt_case_failed)
		return;
	CHECK(put("osd/state/3", "{\"state\":\"up\",\"addresses\":[\"127.0.0.3\"],\"port\":4003}") == 0);
	CHECK_RUN(0, vs("pool", "create", "r2", "--scheme", "replicated", "--pg_size", "2",
			"--pg_count", "5", "--id", "2", NULL));
	CHECK_RUN(0, vs("pg", "place", "--static", "--json", NULL));
	j = parse_out();
	CHECK(j);
	check_pgs(j, "5", 4, 3, 0);
	check_pgs(j, "2", 5, 2, 0);
	json_free(j);
	if (vt_case_failed)
		return;
	/* Placing one pool keeps the others. */
	CHECK_RUN(0, vs("pg", "place", "--static", "--pool", "r2", NULL));
	CHECK(out_has("r2"));
	s = get("config/pgs");
	j = s ? json_parse(s, strlen(s), NULL, 0) : NULL;
	free(s);
	CHECK(j);
	check_pgs(j, "5", 4, 3, 0);
	check_pgs(j, "2", 5, 2, 0);
	json_free(j);
	if (vt_case_failed)
		return;
	/* Removing a pool drops its PGs too. */
	CHECK_RUN(0, vs("pool", "create", "gone", "--scheme", "replicated", "--pg_size", "1",
			"--pg_count", "3", "--id", "9", NULL));
	CHECK_RUN(0, vs("pg", "place", "--static", "--pool", "gone", NULL));
	s = get("config/pgs");
	CHECK(s && strstr(s, "\"9\":{"));
	free(s);
	CHECK_RUN(0, vs("pool", "rm", "gone", NULL));
	s = get("config/pgs");
	j = s ? json_parse(s, strlen(s), NULL, 0) : NULL;
	free(s);
	CHECK(j && !json_get(json_get(j, "items"), "9"));
	check_pgs(j, "5", 4, 3, 0);
	check_pgs(j, "2", 5, 2, 0);
	json_free(j);
}

static void t_osd_ls_status(void)
{
	json_t j, e;
	uint64_t x = 0;

	CHECK(put("osd/stats/1", "{\"size\":\"1099511627776\",\"free\":549755813888,\"host\":\"h1\"}") == 0);
	CHECK(put("osd/stats/4", "{\"size\":1073741824,\"free\":1073741824,\"host\":\"h4\"}") == 0);
	CHECK(put("osd/stats/9", "garbage") == 0);
	CHECK_RUN(0, vs("osd", "ls", NULL));
	CHECK(out_has("127.0.0.1:4001") && out_has("127.0.0.2:4002") && out_has("down") &&
	      out_has("1 TiB") && out_has("50.0%") && out_has("h4"));
	CHECK(err_has("osd/stats/9"));
	CHECK_RUN(0, vs("osd", "ls", "--json", NULL));
	j = parse_out();
	CHECK(json_is_arr(j) && json_len(j) == 4);
	e = json_at(j, 3);
	CHECK(!json_u64(json_get(e, "osd_num"), &x) && x == 4);
	CHECK_STR(json_str(json_get(e, "state")), "down");
	CHECK_STR(json_str(json_get(json_at(j, 0), "address")), "127.0.0.1:4001");
	CHECK_STR(json_str(json_get(json_at(j, 0), "host")), "h1");
	json_free(j);

	CHECK(put("pg/state/5/1", "{\"primary\":1,\"state\":[\"active\"],\"peers\":[1,2,3]}") == 0);
	CHECK(put("pg/state/5/2", "{\"primary\":\"2\",\"state\":[\"active\",\"degraded\"]}") == 0);
	CHECK(put("pg/state/2/1", "{\"primary\":3,\"state\":[\"active\"]}") == 0);
	CHECK_RUN(0, vs("status", "--json", NULL));
	j = parse_out();
	CHECK(j);
	CHECK(!json_u64(json_get(j, "osd_up"), &x) && x == 3);
	CHECK(!json_u64(json_get(j, "osd_total"), &x) && x == 4);
	CHECK(!json_u64(json_get(j, "pool_count"), &x) && x == 2);
	CHECK(!json_u64(json_get(j, "pg_count"), &x) && x == 9);
	CHECK(!json_u64(json_path(j, "pg_states", "active", NULL), &x) && x == 2);
	CHECK(!json_u64(json_path(j, "pg_states", "active+degraded", NULL), &x) && x == 1);
	CHECK(!json_u64(json_path(j, "pg_states", "offline", NULL), &x) && x == 6);
	CHECK(!json_u64(json_get(j, "image_count"), &x) && x == 8);
	json_free(j);
	CHECK_RUN(0, vs("status", NULL));
	CHECK(out_has("3 up, 4 total") && out_has("1 active+degraded") && out_has("6 offline"));
}

static void t_bad_json(void)
{
	CHECK(put("config/pools", "{\"1\":{\"name\":\"x\",\"scheme\":\"replicated\",\"pg_size\":0,"
		  "\"pg_minsize\":1,\"pg_count\":1},\"2\":{\"name\":\"ok\",\"scheme\":\"replicated\","
		  "\"pg_size\":\"2\",\"pg_minsize\":\"1\",\"pg_count\":\"4\"}}") == 0);
	CHECK_RUN(0, vs("pool", "ls", NULL));
	CHECK(err_has("pool 1 is invalid") && out_has("ok"));
	CHECK(!out_has(" x "));
	CHECK(put("config/pools", "{not json") == 0);
	CHECK_RUN(1, vs("pool", "ls", NULL));
	CHECK(err_has("/vitastor/config/pools") && err_has("invalid JSON"));
	CHECK_RUN(1, vs("create", "q", "--size", "1G", NULL));
	CHECK(err_has("invalid JSON"));
	CHECK_RUN(1, vs("status", NULL));
	CHECK(put("config/pools", "[1,2]") == 0);
	CHECK_RUN(1, vs("pool", "create", "z", "--scheme", "replicated", "--pg_size", "1",
			"--pg_count", "1", NULL));
	CHECK(err_has("not a JSON object"));
	CHECK(put("config/pgs", "\"x\"") == 0);
	CHECK(put("config/pools", "{}") == 0);
	CHECK(put("config/inode/5/3", "{bad") == 0);
	CHECK_RUN(0, vs("ls", NULL));
	CHECK(err_has("config/inode/5/3"));
	CHECK(put("index/maxid/5", "\"abc\"") == 0);
	CHECK(put("config/pools", "{\"5\":{\"name\":\"e\",\"scheme\":\"replicated\",\"pg_size\":1,"
		  "\"pg_minsize\":1,\"pg_count\":1}}") == 0);
	CHECK_RUN(1, vs("create", "q", "--size", "1G", NULL));
	CHECK(err_has("index/maxid/5"));
}

static void t_etcd_down(void)
{
	const char *list[] = { "--etcd_address", "127.0.0.1:1", "--etcd_quick_timeout", "200",
		"--max_etcd_attempts", "1", "ls", NULL };

	CHECK_RUN(1, run_list(list, false));
	CHECK(err_has("etcd") && err_has("--etcd_address"));
}

int main(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	struct etcd_config cfg;
	char err[256];
	struct stat st;

	if (n <= 0)
		return 1;
	self[n] = 0;
	/* <build>/tests/cluster/test_vsctl -> <build>/vsctl */
	for (int i = 0; i < 3; i++) {
		char *sl = strrchr(self, '/');

		if (sl)
			*sl = 0;
	}
	snprintf(vsctl, sizeof(vsctl), "%s/vsctl", self);
	if (stat(vsctl, &st) < 0 || !S_ISREG(st.st_mode)) {
		printf("SKIP: test_vsctl (%s is not built)\n", vsctl);
		return vt_finish();
	}
	etcd = etcd_proc_start();
	if (!etcd) {
		printf("FAIL: etcd_start (could not start etcd)\n");
		return 1;
	}
	etcd_config_init(&cfg);
	etcd_config_add_endpoints(&cfg, etcd_proc_endpoint(etcd), err, sizeof(err));
	cli = etcd_client_new(&cfg, NULL, err, sizeof(err));
	etcd_config_free(&cfg);
	if (!cli) {
		printf("FAIL: etcd_client (%s)\n", err);
		etcd_proc_free(etcd);
		return 1;
	}
	RUN(t_usage);
	RUN(t_pools);
	RUN(t_images);
	RUN(t_concurrent_create);
	RUN(t_pg_place);
	RUN(t_osd_ls_status);
	RUN(t_bad_json);
	RUN(t_etcd_down);
	etcd_client_free(cli);
	etcd_proc_free(etcd);
	return vt_finish();
}

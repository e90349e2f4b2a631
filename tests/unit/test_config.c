#include "check.h"
#include "config.h"
#include "log.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------- */

static char tmp_paths[8][64];
static int n_tmp;

/* Writes text to a new temporary file and returns its path. */
static const char *write_tmp(const char *text)
{
	char *p = tmp_paths[n_tmp++ % 8];
	int fd;

	if (p[0])
		unlink(p);	/* the slot's previous file */
	snprintf(p, 64, "/tmp/vstor-test-config-XXXXXX");
	fd = mkstemp(p);
	if (fd < 0)
		return NULL;
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		close(fd);
		return NULL;
	}
	close(fd);
	return p;
}

static void remove_tmps(void)
{
	for (int i = 0; i < 8; i++)
		if (tmp_paths[i][0])
			unlink(tmp_paths[i]);
}

/* cfg_load with "prog" as argv[0]; args is NULL-terminated. If file_text is
 * given, it is written to a temporary file passed with --config_path. */
static int load(struct cfg *cfg, const char *file_text, const char *const *args)
{
	char *argv[64];
	int argc = 0;

	argv[argc++] = (char *)"prog";
	if (file_text) {
		argv[argc++] = (char *)"--config_path";
		argv[argc++] = (char *)write_tmp(file_text);
	}
	for (; args && *args && argc < 63; args++)
		argv[argc++] = (char *)*args;
	argv[argc] = NULL;
	return cfg_load(cfg, argc, argv);
}

#define ARGS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Captures log output. */
static FILE *cap;
static char logtext[16384];

static int saved_level;

static void cap_start(void)
{
	cap = tmpfile();
	vlog_set_stream(cap);
	vlog_set_timestamps(false);
	saved_level = vlog_set_level(VLOG_WARN);
}

static const char *cap_end(void)
{
	size_t n = 0;

	vlog_set_stream(NULL);
	vlog_set_timestamps(true);
	vlog_set_level(saved_level);
	if (cap) {
		rewind(cap);
		n = fread(logtext, 1, sizeof(logtext) - 1, cap);
		fclose(cap);
		cap = NULL;
	}
	logtext[n] = 0;
	return logtext;
}

/* Runs fn(cfg) in a child; returns whether it aborted with a message
 * containing expect. */
static bool aborts(void (*fn)(struct cfg *cfg), const char *expect)
{
	FILE *out = tmpfile();
	char msg[1024];
	pid_t pid;
	int status;
	size_t n;

	if (!out)
		return false;
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		fclose(out);
		return false;
	}
	if (pid == 0) {
		struct cfg *cfg = cfg_new();

		vlog_set_level(VLOG_OFF);	/* die() still writes */
		vlog_set_stream(out);
		fn(cfg);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid) {
		fclose(out);
		return false;
	}
	rewind(out);
	n = fread(msg, 1, sizeof(msg) - 1, out);
	msg[n] = 0;
	fclose(out);
	if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT))
		return false;
	if (!strstr(msg, expect)) {
		fprintf(stderr, "abort message \"%s\" lacks \"%s\"\n", msg, expect);
		return false;
	}
	return true;
}

/* ---- cases ------------------------------------------------------------ */

static void defaults(void)
{
	struct cfg *cfg = cfg_new();
	size_t n = 99;

	CHECK_EQ(cfg_u64(cfg, "block_size"), 131072);
	CHECK_EQ(cfg_u64(cfg, "bitmap_granularity"), 4096);
	CHECK_STR(cfg_str(cfg, "immediate_commit"), "none");
	CHECK_STR(cfg_str(cfg, "etcd_prefix"), "/vitastor");
	CHECK_STR(cfg_str(cfg, "config_path"), "/etc/vitastor/vitastor.conf");
	CHECK_EQ(cfg_i64(cfg, "log_level"), 0);
	CHECK_EQ(cfg_u64(cfg, "client_max_dirty_bytes"), 32 << 20);
	CHECK_EQ(cfg_u64(cfg, "client_max_dirty_ops"), 1024);
	CHECK_EQ(cfg_ms(cfg, "up_wait_retry_interval"), 500);
	CHECK_EQ(cfg_ms(cfg, "peer_connect_interval"), 5000);
	CHECK_EQ(cfg_ms(cfg, "peer_connect_timeout"), 5000);
	CHECK_EQ(cfg_ms(cfg, "osd_idle_timeout"), 5000);
	CHECK_EQ(cfg_ms(cfg, "osd_ping_timeout"), 5000);
	CHECK_EQ(cfg_u64(cfg, "tcp_header_buffer_size"), 65536);
	CHECK(!cfg_bool(cfg, "use_sync_send_recv"));
	CHECK_EQ(cfg_u64(cfg, "rdma_port_num"), 1);
	CHECK_EQ(cfg_u64(cfg, "rdma_gid_index"), 0);
	CHECK(!cfg_is_set(cfg, "rdma_mtu"));
	CHECK(cfg_str(cfg, "rdma_device") == NULL);
	CHECK_EQ(cfg_u64(cfg, "rdma_max_sge"), 128);
	CHECK_EQ(cfg_u64(cfg, "rdma_max_send"), 1);
	CHECK_EQ(cfg_u64(cfg, "rdma_max_recv"), 128);
	CHECK_EQ(cfg_u64(cfg, "rdma_max_msg"), 132096);
	CHECK_EQ(cfg_u64(cfg, "max_etcd_attempts"), 5);
	CHECK_EQ(cfg_ms(cfg, "etcd_quick_timeout"), 1000);
	CHECK_EQ(cfg_ms(cfg, "etcd_slow_timeout"), 5000);
	CHECK_EQ(cfg_ms(cfg, "etcd_keepalive_timeout"), 30000);
	CHECK_EQ(cfg_ms(cfg, "etcd_ws_keepalive_interval"), 30000);
	CHECK_STR(cfg_str(cfg, "bind_address"), "0.0.0.0");
	CHECK_EQ(cfg_u64(cfg, "bind_port"), 0);
	CHECK_EQ(cfg_ms(cfg, "etcd_report_interval"), 5000);
	CHECK(cfg_bool(cfg, "run_primary"));
	CHECK(!cfg_bool(cfg, "readonly"));
	CHECK(!cfg_bool(cfg, "no_recovery"));
	CHECK(!cfg_bool(cfg, "no_rebalance"));
	CHECK_EQ(cfg_ms(cfg, "autosync_interval"), 5000);
	CHECK_EQ(cfg_u64(cfg, "autosync_writes"), 128);
	CHECK_EQ(cfg_u64(cfg, "recovery_queue_depth"), 4);
	CHECK_EQ(cfg_u64(cfg, "recovery_sync_batch"), 16);
	CHECK_EQ(cfg_ms(cfg, "etcd_mon_ttl"), 30000);
	CHECK_EQ(cfg_ms(cfg, "etcd_mon_timeout"), 1000);
	CHECK_EQ(cfg_u64(cfg, "etcd_mon_retries"), 5);
	CHECK_EQ(cfg_ms(cfg, "mon_change_timeout"), 1000);
	CHECK_EQ(cfg_ms(cfg, "mon_stats_timeout"), 1000);
	CHECK_EQ(cfg_ms(cfg, "osd_out_time"), 600000);
	CHECK_EQ(json_len(cfg_json(cfg, "placement_levels")), 2);
	CHECK_EQ(json_u64(json_get(cfg_json(cfg, "placement_levels"), "osd"), &(uint64_t){0}), 0);
	CHECK(!cfg_is_set(cfg, "osd_num"));
	CHECK_EQ(cfg_u64(cfg, "osd_num"), 0);
	CHECK(cfg_strv(cfg, "etcd_address", &n)[0] == NULL);
	CHECK_EQ(n, 0);
	CHECK_EQ(cfg_source(cfg, "block_size"), CFG_SRC_DEFAULT);
	CHECK_EQ(cfg_source(cfg, "osd_num"), CFG_SRC_UNSET);
	CHECK_EQ(cfg_source(cfg, "no_such_key"), CFG_SRC_UNSET);
	CHECK_STR(cfg_origin(cfg, "block_size"), "by default");
	CHECK_EQ(cfg_validate(cfg), 0);
	cfg_free(cfg);
}

static void file_parsing(void)
{
	struct cfg *cfg = cfg_new();
	const char *path = write_tmp(
		"{\"etcd_address\": \"10.0.0.1:2379\", \"block_size\": 262144,\n"
		" \"immediate_commit\": \"all\", \"readonly\": true, \"log_level\": 1,\n"
		" \"osd_network\": [\"10.0.0.0/24\"], \"peer_connect_interval\": 2,\n"
		" \"placement_levels\": {\"dc\": 10, \"host\": 100, \"osd\": 101}}");
	int rc;

	CHECK(path);
	rc = cfg_load(cfg, 3, (char *[]){ "prog", "--config_path", (char *)path, NULL });
	CHECK_MSG(rc == 0, "%s", cfg_error(cfg));
	CHECK_STR(cfg_file_path(cfg), path);
	CHECK_STR(cfg_strv(cfg, "etcd_address", NULL)[0], "10.0.0.1:2379");
	CHECK_EQ(cfg_u64(cfg, "block_size"), 262144);
	CHECK_STR(cfg_str(cfg, "immediate_commit"), "all");
	CHECK(cfg_bool(cfg, "readonly"));
	CHECK_EQ(cfg_i64(cfg, "log_level"), 1);
	CHECK_STR(cfg_strv(cfg, "osd_network", NULL)[0], "10.0.0.0/24");
	CHECK_EQ(cfg_ms(cfg, "peer_connect_interval"), 2000);
	CHECK_EQ(json_len(cfg_json(cfg, "placement_levels")), 3);
	CHECK_EQ(cfg_source(cfg, "block_size"), CFG_SRC_FILE);
	CHECK_EQ(cfg_source(cfg, "config_path"), CFG_SRC_CMDLINE);
	CHECK_EQ(cfg_source(cfg, "bitmap_granularity"), CFG_SRC_DEFAULT);
	CHECK(!strncmp(cfg_origin(cfg, "block_size"), "in /tmp/", 8));
	cfg_free(cfg);
}

static void cmdline_overrides_file(void)
{
	struct cfg *cfg = cfg_new();
	int rc = load(cfg, "{\"block_size\": 65536, \"bind_port\": 1000, \"etcd_prefix\": \"/f\"}",
		      ARGS("--block_size", "262144", "--etcd_prefix", "/cmd"));

	CHECK_MSG(rc == 0, "%s", cfg_error(cfg));
	CHECK_EQ(cfg_u64(cfg, "block_size"), 262144);
	CHECK_EQ(cfg_source(cfg, "block_size"), CFG_SRC_CMDLINE);
	CHECK_STR(cfg_str(cfg, "etcd_prefix"), "/cmd");
	CHECK_EQ(cfg_u64(cfg, "bind_port"), 1000);
	CHECK_EQ(cfg_source(cfg, "bind_port"), CFG_SRC_FILE);
	CHECK_STR(cfg_origin(cfg, "block_size"), "on the command line");
	cfg_free(cfg);
}

static void key_equals_value(void)
{
	struct cfg *cfg = cfg_new();
	int rc = load(cfg, NULL, ARGS("--config_path=", "--bind_port=7900",
				      "--etcd-address=a:1,b:2", "--etcd_prefix=/x=y",
				      "--bind_address=", "--log_level=-1"));
	size_t n;
	const char *const *v;

	CHECK_MSG(rc == 0, "%s", cfg_error(cfg));
	CHECK_EQ(cfg_u64(cfg, "bind_port"), 7900);
	v = cfg_strv(cfg, "etcd_address", &n);
	CHECK_EQ(n, 2);
	CHECK_STR(v[0], "a:1");
	CHECK_STR(v[1], "b:2");
	CHECK(v[2] == NULL);
	CHECK_STR(cfg_str(cfg, "etcd_prefix"), "/x=y");
	CHECK_STR(cfg_str(cfg, "bind_address"), "");
	CHECK_EQ(cfg_i64(cfg, "log_level"), -1);
	CHECK_STR(cfg_file_path(cfg), "");	/* --config_path= : no file */
	cfg_free(cfg);
}

static void bare_bool_flags(void)
{
	struct cfg *cfg = cfg_new();
	int rc = load(cfg, NULL, ARGS("--config_path", "", "--readonly", "--no_recovery",
				      "true", "--run_primary", "false", "--no-rebalance",
				      "--use_sync_send_recv", "data", "--bind_port", "5"));
	size_t n;

	CHECK_MSG(rc == 0, "%s", cfg_error(cfg));
	CHECK(cfg_bool(cfg, "readonly"));
	CHECK(cfg_bool(cfg, "no_recovery"));
	CHECK(!cfg_bool(cfg, "run_primary"));
	CHECK(cfg_bool(cfg, "no_rebalance"));
	/* "data" is not a boolean word: a positional argument. */
	CHECK(cfg_bool(cfg, "use_sync_send_recv"));
	CHECK_EQ(cfg_u64(cfg, "bind_port"), 5);
	CHECK_STR(cfg_args(cfg, &n)[0], "data");
	CHECK_EQ(n, 1);
	cfg_free(cfg);

	cfg = cfg_new();
	CHECK_EQ(cfg_set(cfg, "readonly", "maybe", CFG_SRC_CMDLINE), -EINVAL);
	CHECK_STR(cfg_error(cfg), "config: readonly on the command line: expected true or "
		  "false, got \"maybe\"");
	CHECK_EQ(cfg_set(cfg, "readonly", "YES", CFG_SRC_CMDLINE), 0);
	CHECK(cfg_bool(cfg, "readonly"));
	cfg_free(cfg);
}

static void positional_and_help(void)
{
	struct cfg *cfg = cfg_new();
	size_t n;
	char *const *a;
	int rc = load(cfg, NULL, ARGS("--config_path", "", "create", "-h", "-v", "name",
				      "--", "--readonly", "-h"));

	CHECK_MSG(rc == 0, "%s", cfg_error(cfg));
	CHECK(cfg_help_requested(cfg));
	a = cfg_args(cfg, &n);
	CHECK_EQ(n, 5);
	CHECK_STR(a[0], "create");
	CHECK_STR(a[1], "-v");
	CHECK_STR(a[2], "name");
	CHECK_STR(a[3], "--readonly");
	CHECK_STR(a[4], "-h");
	CHECK(a[5] == NULL);
	CHECK(!cfg_bool(cfg, "readonly"));
	cfg_free(cfg);

	/* With --help, a broken or missing config file is not read. */
	cfg = cfg_new();
	CHECK_EQ(load(cfg, "{bad json", ARGS("--help")), 0);
	CHECK(cfg_help_requested(cfg));
	cfg_free(cfg);
	cfg = cfg_new();
	CHECK_EQ(load(cfg, NULL, ARGS("--config_path", "/nonexistent/x.conf", "-h")), 0);
	CHECK(cfg_help_requested(cfg));
	cfg_free(cfg);

	cfg = cfg_new();
	CHECK_EQ(load(cfg, NULL, ARGS("--config_path", "", "--help")), 0);
	CHECK(cfg_help_requested(cfg));
	CHECK_EQ(cfg_args(cfg, &n)[0] == NULL, 1);
	CHECK_EQ(n, 0);
	cfg_free(cfg);
}

static void missing_value(void)
{
	struct cfg *cfg = cfg_new();

	CHECK_EQ(load(cfg, NULL, ARGS("--block_size")), -EINVAL);
	CHECK_STR(cfg_error(cfg), "config: block_size on the command line: missing value");
	cfg_free(cfg);
	cfg = cfg_new();
	CHECK_EQ(load(cfg, NULL, ARGS("--etcd_prefix", "--readonly")), -EINVAL);
	CHECK_STR(cfg_error(cfg), "config: etcd_prefix on the command line: missing value");
	cfg_free(cfg);
	cfg = cfg_new();
	CHECK_EQ(load(cfg, NULL, ARGS("--=5")), -EINVAL);
	CHECK_STR(cfg_error(cfg), "config: \"--=5\" on the command line: empty option name");
	cfg_free(cfg);
}

static void etcd_merge(void)
{
	struct cfg *cfg = cfg_new();
	const char *g1 = "{\"block_size\": 1048576, \"immediate_commit\": \"all\","
			 " \"client_max_dirty_ops\": 10, \"osd_out_time\": 60,"
			 " \"etcd_report_interval\": 30, \"custom\": [1]}";
	const char *g2 = "{\"block_size\": \"2M\", \"osd_out_time\": 120}";
	int rc;

	cap_start();
	rc = load(cfg, "{\"immediate_commit\": \"small\"}", ARGS("--client_max_dirty_ops", "5"));
	CHECK_MSG(rc == 0, "%s", cfg_error(cfg));
	rc = cfg_merge_etcd_text(cfg, g1, strlen(g1));
	cap_end();
	CHECK_MSG(rc == 0, "%s", cfg_error(cfg));
	/* Only keys not set locally come from etcd. */
	CHECK_EQ(cfg_u64(cfg, "block_size"), 1 << 20);
	CHECK_EQ(cfg_source(cfg, "block_size"), CFG_SRC_ETCD);
	CHECK_STR(cfg_origin(cfg, "block_size"), "in etcd /vitastor/config/global");
	CHECK_STR(cfg_str(cfg, "immediate_commit"), "small");
	CHECK_EQ(cfg_source(cfg, "immediate_commit"), CFG_SRC_FILE);
	CHECK_EQ(cfg_u64(cfg, "client_max_dirty_ops"), 5);
	CHECK_EQ(cfg_source(cfg, "client_max_dirty_ops"), CFG_SRC_CMDLINE);
	CHECK_EQ(cfg_ms(cfg, "osd_out_time"), 60000);
	/* Derived default follows etcd_report_interval. */
	CHECK_EQ(cfg_ms(cfg, "etcd_keepalive_timeout"), 60000);
	CHECK(json_is_arr(cfg_raw(cfg, "custom")));
	CHECK_EQ(cfg_source(cfg, "custom"), CFG_SRC_ETCD);

	/* Re-merge replaces all earlier etcd values. */
	rc = cfg_merge_etcd_text(cfg, g2, strlen(g2));
	CHECK_MSG(rc == 0, "%s", cfg_error(cfg));
	CHECK_EQ(cfg_u64(cfg, "block_size"), 2 << 20);
	CHECK_EQ(cfg_ms(cfg, "osd_out_time"), 120000);
	CHECK_EQ(cfg_ms(cfg, "etcd_report_interval"), 5000);
	CHECK_EQ(cfg_source(cfg, "etcd_report_interval"), CFG_SRC_DEFAULT);
	CHECK_EQ(cfg_ms(cfg, "etcd_keepalive_timeout"), 30000);
	CHECK(cfg_raw(cfg, "custom") == NULL);
	CHECK_STR(cfg_str(cfg, "immediate_commit"), "small");

	/* config/global deleted: back to defaults. */
	CHECK_EQ(cfg_merge_etcd(cfg, NULL), 0);
	CHECK_EQ(cfg_u64(cfg, "block_size"), 131072);
	CHECK_EQ(cfg_source(cfg, "block_size"), CFG_SRC_DEFAULT);
	CHECK_EQ(cfg_merge_etcd_text(cfg, "", 0), 0);
	cfg_free(cfg);
}

static void etcd_merge_errors_keep_config(void)
{
	struct cfg *cfg = cfg_new();
	const char *good = "{\"block_size\": 262144, \"osd_out_time\": 10}";
	const char *bad_type = "{\"block_size\": 524288, \"osd_out_time\": \"soon\"}";
	const char *bad_cross = "{\"block_size\": 524288, \"bitmap_granularity\": 3000}";
	const char *not_obj = "[1,2]";

	CHECK_EQ(cfg_merge_etcd_text(cfg, good, strlen(good)), 0);
	CHECK_EQ(cfg_merge_etcd_text(cfg, bad_type, strlen(bad_type)), -EINVAL);
	CHECK_STR(cfg_error(cfg), "config: osd_out_time in etcd /vitastor/config/global: "
		  "expected a duration in seconds like 5 or \"500ms\", got \"soon\"");
	CHECK_EQ(cfg_u64(cfg, "block_size"), 262144);
	CHECK_EQ(cfg_ms(cfg, "osd_out_time"), 10000);
	CHECK_EQ(cfg_merge_etcd_text(cfg, bad_cross, strlen(bad_cross)), -EINVAL);
	CHECK_STR(cfg_error(cfg), "config: bitmap_granularity in etcd /vitastor/config/global: "
		  "3000 does not divide block_size (524288 in etcd /vitastor/config/global)");
	CHECK_EQ(cfg_u64(cfg, "block_size"), 262144);
	CHECK_EQ(cfg_u64(cfg, "bitmap_granularity"), 4096);
	CHECK_EQ(cfg_ms(cfg, "osd_out_time"), 10000);
	CHECK_EQ(cfg_merge_etcd_text(cfg, not_obj, strlen(not_obj)), -EINVAL);
	CHECK_STR(cfg_error(cfg), "config: etcd /vitastor/config/global: expected a JSON "
		  "object, got [1,2]");
	CHECK_EQ(cfg_merge_etcd_text(cfg, "{\"a\":", 5), -EINVAL);
	CHECK(!strncmp(cfg_error(cfg), "config: etcd /vitastor/config/global: invalid JSON: ",
		       52));
	CHECK_EQ(cfg_u64(cfg, "block_size"), 262144);
	cfg_free(cfg);
}

static void etcd_local_only_keys(void)
{
	struct cfg *cfg = cfg_new();
	const char *g = "{\"osd_num\": 7, \"config_path\": \"/x\", \"etcd_prefix\": \"/y\","
			" \"etcd_address\": \"e:2379\"}";

	CHECK_EQ(cfg_set(cfg, "etcd_prefix", "/pfx/", CFG_SRC_CMDLINE), 0);
	CHECK_EQ(cfg_merge_etcd_text(cfg, g, strlen(g)), 0);
	CHECK(!cfg_is_set(cfg, "osd_num"));
	CHECK_STR(cfg_str(cfg, "config_path"), "/etc/vitastor/vitastor.conf");
	CHECK_STR(cfg_str(cfg, "etcd_prefix"), "/pfx/");
	CHECK_STR(cfg_strv(cfg, "etcd_address", NULL)[0], "e:2379");
	CHECK_STR(cfg_origin(cfg, "etcd_address"), "in etcd /pfx/config/global");
	cfg_free(cfg);
}

static void numbers_as_strings(void)
{
	struct cfg *cfg = cfg_new();
	int rc = load(cfg, "{\"block_size\": \"262144\", \"bind_port\": \"1234\","
			   " \"log_level\": \"-1\", \"etcd_quick_timeout\": \"2000\","
			   " \"readonly\": \"true\", \"run_primary\": 0,"
			   " \"osd_out_time\": \"30\", \"osd_num\": \"12\","
			   " \"client_max_dirty_ops\": 1e3}", NULL);

	CHECK_MSG(rc == 0, "%s", cfg_error(cfg));
	CHECK_EQ(cfg_u64(cfg, "block_size"), 262144);
	CHECK_EQ(cfg_u64(cfg, "bind_port"), 1234);
	CHECK_EQ(cfg_i64(cfg, "log_level"), -1);
	CHECK_EQ(cfg_ms(cfg, "etcd_quick_timeout"), 2000);
	CHECK(cfg_bool(cfg, "readonly"));
	CHECK(!cfg_bool(cfg, "run_primary"));
	CHECK_EQ(cfg_ms(cfg, "osd_out_time"), 30000);
	CHECK_EQ(cfg_u64(cfg, "osd_num"), 12);
	CHECK_EQ(cfg_u64(cfg, "client_max_dirty_ops"), 1000);
	cfg_free(cfg);
}

static void size_suffixes(void)
{
	struct cfg *cfg = cfg_new();
	uint64_t u = 0;
	int rc;

	CHECK_EQ(cfg_parse_size("0", &u), 0);
	CHECK_EQ(u, 0);
	CHECK_EQ(cfg_parse_size("128k", &u), 0);
	CHECK_EQ(u, 131072);
	CHECK_EQ(cfg_parse_size("128K", &u), 0);
	CHECK_EQ(u, 131072);
	CHECK_EQ(cfg_parse_size("4M", &u), 0);
	CHECK_EQ(u, 4 << 20);
	CHECK_EQ(cfg_parse_size("4MB", &u), 0);
	CHECK_EQ(u, 4 << 20);
	CHECK_EQ(cfg_parse_size("4mib", &u), 0);
	CHECK_EQ(u, 4 << 20);
	CHECK_EQ(cfg_parse_size("1G", &u), 0);
	CHECK_EQ(u, 1 << 30);
	CHECK_EQ(cfg_parse_size("2T", &u), 0);
	CHECK(u == 2ull << 40);
	CHECK_EQ(cfg_parse_size("512b", &u), 0);
	CHECK_EQ(u, 512);
	CHECK_EQ(cfg_parse_size("15E", &u), 0);
	CHECK(u == 15ull << 60);
	CHECK_EQ(cfg_parse_size("16E", &u), -ERANGE);
	CHECK_EQ(cfg_parse_size("99999999999999999999", &u), -ERANGE);
	CHECK_EQ(cfg_parse_size("1.5G", &u), -EINVAL);
	CHECK_EQ(cfg_parse_size("12q", &u), -EINVAL);
	CHECK_EQ(cfg_parse_size("k", &u), -EINVAL);
	CHECK_EQ(cfg_parse_size("", &u), -EINVAL);
	CHECK_EQ(cfg_parse_size(" 1k", &u), -EINVAL);
	CHECK_EQ(cfg_parse_size("1k ", &u), -EINVAL);
	CHECK_EQ(cfg_parse_size("-1", &u), -EINVAL);
	CHECK_EQ(cfg_parse_size("1kbb", &u), -EINVAL);

	rc = load(cfg, "{\"block_size\": \"1M\", \"client_dirty_limit\": \"64MiB\","
		       " \"tcp_header_buffer_size\": \"16k\"}", ARGS("--rdma_max_msg", "1m"));
	CHECK_MSG(rc == 0, "%s", cfg_error(cfg));
	CHECK_EQ(cfg_u64(cfg, "block_size"), 1 << 20);
	CHECK_EQ(cfg_u64(cfg, "client_max_dirty_bytes"), 64 << 20);
	CHECK_EQ(cfg_u64(cfg, "tcp_header_buffer_size"), 16384);
	CHECK_EQ(cfg_u64(cfg, "rdma_max_msg"), 1 << 20);
	cfg_free(cfg);
}

static void durations(void)
{
	struct cfg *cfg = cfg_new();
	uint64_t ms = 0;
	int rc;

	CHECK_EQ(cfg_parse_duration_ms("5", 1000, &ms), 0);
	CHECK_EQ(ms, 5000);
	CHECK_EQ(cfg_parse_duration_ms("500ms", 1000, &ms), 0);
	CHECK_EQ(ms, 500);
	CHECK_EQ(cfg_parse_duration_ms("1.5s", 1, &ms), 0);
	CHECK_EQ(ms, 1500);
	CHECK_EQ(cfg_parse_duration_ms("2m", 1, &ms), 0);
	CHECK_EQ(ms, 120000);
	CHECK_EQ(cfg_parse_duration_ms("1h", 1, &ms), 0);
	CHECK_EQ(ms, 3600000);
	CHECK_EQ(cfg_parse_duration_ms("1x", 1, &ms), -EINVAL);
	CHECK_EQ(cfg_parse_duration_ms("-1", 1, &ms), -EINVAL);
	CHECK_EQ(cfg_parse_duration_ms("0x10", 1, &ms), -EINVAL);
	CHECK_EQ(cfg_parse_duration_ms("1.2.3", 1, &ms), -EINVAL);
	CHECK_EQ(cfg_parse_duration_ms(".", 1, &ms), -EINVAL);
	CHECK_EQ(cfg_parse_duration_ms("99999999999999999999", 1000, &ms), -ERANGE);

	rc = load(cfg, "{\"peer_connect_interval\": 1.5, \"osd_idle_timeout\": \"500ms\","
		       " \"etcd_slow_timeout\": \"2s\"}", ARGS("--etcd_mon_timeout", "3000"));
	CHECK_MSG(rc == 0, "%s", cfg_error(cfg));
	CHECK_EQ(cfg_ms(cfg, "peer_connect_interval"), 1500);
	CHECK_EQ(cfg_ms(cfg, "osd_idle_timeout"), 500);
	CHECK_EQ(cfg_ms(cfg, "etcd_slow_timeout"), 2000);
	CHECK_EQ(cfg_ms(cfg, "etcd_mon_timeout"), 3000);
	/* Explicit keepalive timeout is not overridden by the derived default. */
	CHECK_EQ(cfg_set(cfg, "etcd_keepalive_timeout", "45", CFG_SRC_FILE), 0);
	CHECK_EQ(cfg_set(cfg, "etcd_report_interval", "60", CFG_SRC_FILE), 0);
	CHECK_EQ(cfg_validate(cfg), 0);
	CHECK_EQ(cfg_ms(cfg, "etcd_keepalive_timeout"), 45000);
	cfg_free(cfg);
}

/* One bad value: loads file_text, expects -EINVAL and the message. */
static int bad_file_value(const char *file_text, const char *expect)
{
	struct cfg *cfg = cfg_new();
	char want[1024];
	const char *path = write_tmp(file_text);
	int rc = cfg_load(cfg, 3, (char *[]){ "prog", "--config_path", (char *)path, NULL });

	snprintf(want, sizeof(want), expect, path);
	if (rc != -EINVAL || strcmp(cfg_error(cfg), want)) {
		vt_fail(__FILE__, __LINE__, "rc %d, \"%s\" != \"%s\"", rc, cfg_error(cfg), want);
		cfg_free(cfg);
		return -1;
	}
	cfg_free(cfg);
	return 0;
}

static void type_errors_name_key_and_source(void)
{
	struct cfg *cfg;

	/* The example from the brief, with the actual path. */
	if (bad_file_value("{\"block_size\": \"abc\"}", "config: block_size in %s: expected "
			   "a size like 131072 or \"128k\", got \"abc\""))
		return;
	if (bad_file_value("{\"readonly\": \"maybe\"}",
			   "config: readonly in %s: expected true or false, got \"maybe\""))
		return;
	if (bad_file_value("{\"readonly\": 2}",
			   "config: readonly in %s: expected true or false, got 2"))
		return;
	if (bad_file_value("{\"client_max_dirty_ops\": \"lots\"}", "config: client_max_dirty_ops"
			   " in %s: expected a non-negative integer, got \"lots\""))
		return;
	if (bad_file_value("{\"client_max_dirty_ops\": -1}", "config: client_max_dirty_ops"
			   " in %s: expected a non-negative integer, got -1"))
		return;
	if (bad_file_value("{\"log_level\": 1.5}",
			   "config: log_level in %s: expected an integer, got 1.5"))
		return;
	if (bad_file_value("{\"etcd_prefix\": 5}",
			   "config: etcd_prefix in %s: expected a string, got 5"))
		return;
	if (bad_file_value("{\"immediate_commit\": \"some\"}", "config: immediate_commit in %s:"
			   " expected one of \"none\", \"small\", \"all\", got \"some\""))
		return;
	if (bad_file_value("{\"etcd_address\": {\"a\": 1}}", "config: etcd_address in %s: "
			   "expected a string or an array of strings, got {\"a\":1}"))
		return;
	if (bad_file_value("{\"osd_network\": [\"10.0.0.0/8\", 5]}", "config: osd_network in "
			   "%s: expected a string or an array of strings, got [\"10.0.0.0/8\",5]"))
		return;
	if (bad_file_value("{\"placement_levels\": [1]}", "config: placement_levels in %s: "
			   "expected a JSON object, got [1]"))
		return;
	if (bad_file_value("{\"placement_levels\": {\"rack\": \"x\"}}", "config: "
			   "placement_levels in %s: level \"rack\": expected a non-negative "
			   "integer, got \"x\""))
		return;
	if (bad_file_value("{\"etcd_quick_timeout\": true}", "config: etcd_quick_timeout in "
			   "%s: expected a duration in milliseconds like 1000 or \"1s\", got true"))
		return;
	if (bad_file_value("{\"client_dirty_limit\": \"1q\"}", "config: client_dirty_limit in "
			   "%s: expected a size like 131072 or \"128k\", got \"1q\""))
		return;

	/* Command-line values are named as such. */
	cfg = cfg_new();
	CHECK_EQ(load(cfg, NULL, ARGS("--config_path", "", "--block_size", "abc")), -EINVAL);
	CHECK_STR(cfg_error(cfg), "config: block_size on the command line: expected a size "
		  "like 131072 or \"128k\", got \"abc\"");
	cfg_free(cfg);
	cfg = cfg_new();
	CHECK_EQ(load(cfg, NULL, ARGS("--placement_levels", "{bad")), -EINVAL);
	CHECK_STR(cfg_error(cfg), "config: placement_levels on the command line: expected a "
		  "JSON object, got \"{bad\"");
	cfg_free(cfg);
}

static void out_of_range(void)
{
	struct cfg *cfg;

	if (bad_file_value("{\"up_wait_retry_interval\": 10}", "config: up_wait_retry_interval"
			   " in %s: 10 is out of range (must be at least 50 ms)"))
		return;
	if (bad_file_value("{\"bind_port\": 70000}", "config: bind_port in %s: 70000 is out of"
			   " range (must be between 0 and 65535)"))
		return;
	if (bad_file_value("{\"rdma_port_num\": 0}", "config: rdma_port_num in %s: 0 is out of"
			   " range (must be between 1 and 255)"))
		return;
	if (bad_file_value("{\"log_level\": -4}", "config: log_level in %s: -4 is out of range"
			   " (must be at least -3)"))
		return;
	if (bad_file_value("{\"osd_num\": 0}", "config: osd_num in %s: 0 is out of range"
			   " (must be at least 1)"))
		return;
	if (bad_file_value("{\"etcd_report_interval\": \"500ms\"}", "config: "
			   "etcd_report_interval in %s: \"500ms\" is out of range (must be at "
			   "least 1 s)"))
		return;
	if (bad_file_value("{\"client_max_dirty_ops\": 1e30}", "config: client_max_dirty_ops "
			   "in %s: 1e30 is out of range (does not fit in 64 bits)"))
		return;
	if (bad_file_value("{\"block_size\": \"16E\"}", "config: block_size in %s: \"16E\" is "
			   "out of range (does not fit in 64 bits)"))
		return;
	if (bad_file_value("{\"rdma_mtu\": 1000}", "config: rdma_mtu in %s: 1000 is not one "
			   "of 256, 512, 1024, 2048, 4096"))
		return;
	if (bad_file_value("{\"block_size\": 100000}", "config: block_size in %s: 100000 is "
			   "not a power of two between 4096 (4k) and 134217728 (128M)"))
		return;
	if (bad_file_value("{\"block_size\": \"256M\"}", "config: block_size in %s: 268435456"
			   " is not a power of two between 4096 (4k) and 134217728 (128M)"))
		return;
	if (bad_file_value("{\"bitmap_granularity\": 0}", "config: bitmap_granularity in %s: "
			   "must not be 0"))
		return;

	cfg = cfg_new();
	CHECK_EQ(load(cfg, NULL, ARGS("--config_path", "", "--bitmap_granularity", "5000")),
		 -EINVAL);
	CHECK_STR(cfg_error(cfg), "config: bitmap_granularity on the command line: 5000 does "
		  "not divide block_size (131072 by default)");
	cfg_free(cfg);
	cfg = cfg_new();
	CHECK_EQ(load(cfg, NULL, ARGS("--config_path", "", "--up_wait_retry_interval", "10")),
		 -EINVAL);
	CHECK_STR(cfg_error(cfg), "config: up_wait_retry_interval on the command line: \"10\" "
		  "is out of range (must be at least 50 ms)");
	cfg_free(cfg);
}

static void unknown_keys_warned(void)
{
	struct cfg *cfg = cfg_new();
	const char *log;
	struct strbuf sb;
	int rc;

	cap_start();
	rc = load(cfg, "{\"osd_memlock\": true, \"fancy\": {\"x\": [1, 2]}}",
		  ARGS("--some_flag", "--other", "val", "--fancy", "cmd"));
	log = cap_end();
	CHECK_MSG(rc == 0, "%s", cfg_error(cfg));
	CHECK_MSG(strstr(log, "WARN: config: unknown key \"osd_memlock\" in /tmp/"), "%s", log);
	CHECK_MSG(strstr(log, "WARN: config: unknown key \"some_flag\" on the command line "
			 "(kept, but not used by vstor)\n"), "%s", log);
	CHECK_MSG(strstr(log, "unknown key \"other\""), "%s", log);
	/* Warned once per key even though "fancy" came from two sources. */
	CHECK_MSG(strstr(log, "\"fancy\"") && !strstr(strstr(log, "\"fancy\"") + 1, "\"fancy\""),
		  "%s", log);
	CHECK(json_is_bool(cfg_raw(cfg, "osd_memlock")));
	CHECK(json_is_bool(cfg_raw(cfg, "some_flag")));
	CHECK_STR(json_str(cfg_raw(cfg, "other")), "val");
	CHECK_STR(json_str(cfg_raw(cfg, "fancy")), "cmd");
	CHECK_EQ(cfg_source(cfg, "fancy"), CFG_SRC_CMDLINE);
	CHECK_EQ(cfg_source(cfg, "osd_memlock"), CFG_SRC_FILE);
	CHECK(!cfg_is_known(cfg, "fancy"));
	CHECK(cfg_is_known(cfg, "client_dirty_limit"));
	CHECK(cfg_raw(cfg, "block_size") == NULL);
	CHECK(cfg_raw(cfg, "absent") == NULL);

	sb_init(&sb);
	CHECK_EQ(cfg_dump_json(cfg, &sb, CFG_DUMP_UNKNOWN | CFG_DUMP_SOURCES), 0);
	CHECK_MSG(strstr(sb.buf, "\"fancy\":{\"value\":\"cmd\",\"source\":\"cmdline\"}"),
		  "%s", sb.buf);
	CHECK_MSG(strstr(sb.buf, "\"osd_memlock\":{\"value\":true,\"source\":\"file\"}"),
		  "%s", sb.buf);
	CHECK_MSG(!strstr(sb.buf, "{\"x\""), "%s", sb.buf);	/* shadowed file value */
	sb_free(&sb);
	cfg_free(cfg);
}

static void bad_json_file(void)
{
	struct cfg *cfg = cfg_new();
	const char *path = write_tmp("{\"block_size\": 131072,,}");
	char want[256];

	CHECK_EQ(cfg_load(cfg, 3, (char *[]){ "prog", "--config_path", (char *)path, NULL }),
		 -EINVAL);
	snprintf(want, sizeof(want), "config: %s: invalid JSON: ", path);
	CHECK_MSG(!strncmp(cfg_error(cfg), want, strlen(want)), "%s", cfg_error(cfg));
	CHECK(strlen(cfg_error(cfg)) > strlen(want));
	CHECK(!strchr(cfg_error(cfg), '\n'));
	cfg_free(cfg);

	cfg = cfg_new();
	path = write_tmp("[\"block_size\"]");
	CHECK_EQ(cfg_load_file(cfg, path, true), -EINVAL);
	snprintf(want, sizeof(want), "config: %s: expected a JSON object, got [\"block_size\"]",
		 path);
	CHECK_STR(cfg_error(cfg), want);
	cfg_free(cfg);

	/* Empty or blank file: no settings. */
	cfg = cfg_new();
	path = write_tmp(" \n\t");
	CHECK_EQ(cfg_load_file(cfg, path, true), 0);
	CHECK_STR(cfg_file_path(cfg), path);
	cfg_free(cfg);
}

static void missing_config_file(void)
{
	struct cfg *cfg = cfg_new();
	const char *missing = "/tmp/vstor-test-no-such-dir/vitastor.conf";

	CHECK_EQ(cfg_load(cfg, 3, (char *[]){ "prog", "--config_path", (char *)missing, NULL }),
		 -ENOENT);
	CHECK_STR(cfg_error(cfg), "config: cannot open config file "
		  "/tmp/vstor-test-no-such-dir/vitastor.conf: No such file or directory");
	cfg_free(cfg);

	/* Not explicit: fine. */
	cfg = cfg_new();
	CHECK_EQ(cfg_load_file(cfg, missing, false), 0);
	CHECK_STR(cfg_file_path(cfg), "");
	CHECK_EQ(cfg_u64(cfg, "block_size"), 131072);
	cfg_free(cfg);

	/* A directory is an error even when optional. */
	cfg = cfg_new();
	CHECK(cfg_load_file(cfg, "/tmp", false) < 0);
	CHECK_MSG(strstr(cfg_error(cfg), "/tmp"), "%s", cfg_error(cfg));
	cfg_free(cfg);
}

static void string_or_array_lists(void)
{
	struct cfg *cfg = cfg_new();
	const char *const *v;
	size_t n;
	int rc;

	rc = load(cfg, "{\"etcd_address\": \" 10.0.0.1:2379 ,http://10.0.0.2:2379/v3,,\","
		       " \"osd_network\": \"10.1.0.0/16\"}", NULL);
	CHECK_MSG(rc == 0, "%s", cfg_error(cfg));
	v = cfg_strv(cfg, "etcd_address", &n);
	CHECK_EQ(n, 2);
	CHECK_STR(v[0], "10.0.0.1:2379");
	CHECK_STR(v[1], "http://10.0.0.2:2379/v3");
	CHECK(v[2] == NULL);
	v = cfg_strv(cfg, "osd_network", &n);
	CHECK_EQ(n, 1);
	CHECK_STR(v[0], "10.1.0.0/16");
	cfg_free(cfg);

	cfg = cfg_new();
	rc = load(cfg, "{\"etcd_address\": [\"a:1\", \" b:2\", \"\", \"c:3\"],"
		       " \"osd_network\": []}",
		  ARGS("--osd_network", "[\"192.168.0.0/24\", \"10.0.0.0/8\"]"));
	CHECK_MSG(rc == 0, "%s", cfg_error(cfg));
	v = cfg_strv(cfg, "etcd_address", &n);
	CHECK_EQ(n, 3);
	CHECK_STR(v[1], "b:2");
	CHECK_STR(v[2], "c:3");
	v = cfg_strv(cfg, "osd_network", &n);
	CHECK_EQ(n, 2);
	CHECK_STR(v[0], "192.168.0.0/24");
	CHECK_STR(v[1], "10.0.0.0/8");
	CHECK(cfg_strv(cfg, "osd_network", NULL)[2] == NULL);
	cfg_free(cfg);

	cfg = cfg_new();
	CHECK_EQ(cfg_set(cfg, "osd_network", "[1]", CFG_SRC_CMDLINE), -EINVAL);
	CHECK_STR(cfg_error(cfg), "config: osd_network on the command line: expected a string"
		  " or an array of strings, got [1]");
	CHECK_EQ(cfg_set(cfg, "osd_network", "[oops", CFG_SRC_CMDLINE), -EINVAL);
	CHECK_EQ(cfg_set(cfg, "osd_network", "", CFG_SRC_CMDLINE), 0);
	CHECK_EQ(cfg_source(cfg, "osd_network"), CFG_SRC_CMDLINE);
	cfg_strv(cfg, "osd_network", &n);
	CHECK_EQ(n, 0);
	cfg_free(cfg);
}

static void alias_old_name(void)
{
	struct cfg *cfg = cfg_new();
	int rc;

	/* The current name wins within one source, in either order. */
	rc = load(cfg, "{\"client_max_dirty_bytes\": \"8M\", \"client_dirty_limit\": \"4M\"}",
		  NULL);
	CHECK_MSG(rc == 0, "%s", cfg_error(cfg));
	CHECK_EQ(cfg_u64(cfg, "client_max_dirty_bytes"), 8 << 20);
	cfg_free(cfg);
	cfg = cfg_new();
	rc = load(cfg, "{\"client_dirty_limit\": \"4M\", \"client_max_dirty_bytes\": \"8M\"}",
		  NULL);
	CHECK_MSG(rc == 0, "%s", cfg_error(cfg));
	CHECK_EQ(cfg_u64(cfg, "client_max_dirty_bytes"), 8 << 20);
	cfg_free(cfg);
	/* A higher source wins whatever name it uses. */
	cfg = cfg_new();
	rc = load(cfg, "{\"client_max_dirty_bytes\": \"8M\"}",
		  ARGS("--client_dirty_limit", "2M"));
	CHECK_MSG(rc == 0, "%s", cfg_error(cfg));
	CHECK_EQ(cfg_u64(cfg, "client_max_dirty_bytes"), 2 << 20);
	CHECK_EQ(cfg_source(cfg, "client_max_dirty_bytes"), CFG_SRC_CMDLINE);
	cfg_free(cfg);
}

static void null_and_ignored_values(void)
{
	struct cfg *cfg = cfg_new();
	const char *log;
	int rc;

	cap_start();
	rc = load(cfg, "{\"block_size\": null, \"config_path\": \"/elsewhere\"}", NULL);
	log = cap_end();
	CHECK_MSG(rc == 0, "%s", cfg_error(cfg));
	CHECK_EQ(cfg_u64(cfg, "block_size"), 131072);
	CHECK_EQ(cfg_source(cfg, "block_size"), CFG_SRC_DEFAULT);
	CHECK(strcmp(cfg_str(cfg, "config_path"), "/elsewhere"));
	CHECK_MSG(strstr(log, "config_path in /tmp/"), "%s", log);
	CHECK_MSG(strstr(log, "only valid on the command line"), "%s", log);
	cfg_free(cfg);
}

/* A program's own keys, e.g. blockstore options of the OSD. */
static const struct cfg_opt osd_test_opts[] = {
	{ .name = "data_device", .type = CFG_STR, .scope = CFG_SC_OSD,
	  .help = "Data device path." },
	{ .name = "journal_size", .type = CFG_SIZE, .def = "16M", CFG_RANGE(4096, 1LL << 40),
	  .scope = CFG_SC_OSD, .help = "Journal size." },
	{ .name = "inmemory_metadata", .type = CFG_BOOL, .def = "true", .scope = CFG_SC_OSD,
	  .help = "Keep metadata in memory." },
	{ .name = "throttle_target_iops", .type = CFG_DOUBLE, .def = "100.5",
	  CFG_RANGE(1, 1000000), .scope = CFG_SC_OSD, .help = "Throttling target." },
	{ .name = "disable_flush", .type = CFG_BOOL, .def = "false", .scope = CFG_SC_OSD,
	  .alias = "disable_fsync", .help = "Do not flush the data device." },
};

static int osd_test_check(struct cfg *cfg)
{
	if (cfg_u64(cfg, "journal_size") % 4096)
		return cfg_fail(cfg, "config: journal_size %s: must be a multiple of 4096",
				cfg_origin(cfg, "journal_size"));
	return 0;
}

static void extra_schema(void)
{
	struct cfg *cfg = cfg_new();
	FILE *f;
	char help[16384];
	size_t n;
	int rc;

	cfg_register(cfg, osd_test_opts, CFG_COUNT(osd_test_opts), osd_test_check);
	CHECK_EQ(cfg_u64(cfg, "journal_size"), 16 << 20);
	CHECK(cfg_bool(cfg, "inmemory_metadata"));
	CHECK(cfg_double(cfg, "throttle_target_iops") == 100.5);
	CHECK(cfg_str(cfg, "data_device") == NULL);
	rc = load(cfg, "{\"data_device\": \"/dev/sdb\", \"throttle_target_iops\": \"250\"}",
		  ARGS("--journal_size", "32M", "--disable_fsync"));
	CHECK_MSG(rc == 0, "%s", cfg_error(cfg));
	CHECK_STR(cfg_str(cfg, "data_device"), "/dev/sdb");
	CHECK_EQ(cfg_u64(cfg, "journal_size"), 32 << 20);
	CHECK(cfg_double(cfg, "throttle_target_iops") == 250);
	CHECK(cfg_bool(cfg, "disable_flush"));
	/* The base keys still work alongside. */
	CHECK_EQ(cfg_u64(cfg, "block_size"), 131072);
	/* The program's check hook runs on merges. */
	CHECK_EQ(cfg_set(cfg, "journal_size", "5000", CFG_SRC_CMDLINE), 0);
	CHECK_EQ(cfg_validate(cfg), -EINVAL);
	CHECK_STR(cfg_error(cfg), "config: journal_size on the command line: must be a "
		  "multiple of 4096");
	CHECK_EQ(cfg_set(cfg, "journal_size", "1k", CFG_SRC_CMDLINE), -EINVAL);
	CHECK_STR(cfg_error(cfg), "config: journal_size on the command line: \"1k\" is out "
		  "of range (must be between 4096 and 1099511627776)");
	CHECK_EQ(cfg_set(cfg, "throttle_target_iops", "0.5", CFG_SRC_CMDLINE), -EINVAL);
	CHECK_STR(cfg_error(cfg), "config: throttle_target_iops on the command line: \"0.5\" "
		  "is out of range (must be between 1 and 1000000)");

	f = tmpfile();
	CHECK(f);
	cfg_print_help(cfg, f, CFG_SC_OSD);
	rewind(f);
	n = fread(help, 1, sizeof(help) - 1, f);
	help[n] = 0;
	fclose(f);
	CHECK_MSG(strstr(help, "  --journal_size <size>  (default: 16M)  [osd]\n"
			 "      Journal size.\n"), "%s", help);
	CHECK_MSG(strstr(help, "Old name: --disable_fsync."), "%s", help);
	CHECK_MSG(strstr(help, "  --block_size <size>  (default: 131072)  [all, cluster-wide]\n"),
		  "%s", help);
	CHECK_MSG(strstr(help, "--immediate_commit <none|small|all>  (default: none)"), "%s",
		  help);
	CHECK_MSG(!strstr(help, "--osd_out_time"), "%s", help);	/* mon only */
	cfg_free(cfg);
}

static void abort_getter_unknown(struct cfg *cfg) { cfg_u64(cfg, "no_such_key"); }
static void abort_getter_type(struct cfg *cfg) { cfg_str(cfg, "block_size"); }
static void abort_getter_ms(struct cfg *cfg) { cfg_ms(cfg, "block_size"); }
static void abort_register_dup(struct cfg *cfg)
{
	cfg_register(cfg, osd_test_opts, CFG_COUNT(osd_test_opts), NULL);
	cfg_register(cfg, osd_test_opts, 1, NULL);
}
static void abort_register_late(struct cfg *cfg)
{
	cfg_set(cfg, "block_size", "4k", CFG_SRC_CMDLINE);
	cfg_register(cfg, osd_test_opts, CFG_COUNT(osd_test_opts), NULL);
}
static const struct cfg_opt bad_default_opts[] = {
	{ .name = "bad_default", .type = CFG_U64, .def = "many" },
};
static void abort_bad_default(struct cfg *cfg)
{
	cfg_register(cfg, bad_default_opts, 1, NULL);
}
static void no_abort(struct cfg *cfg)
{
	cfg_u64(cfg, "block_size");
	cfg_ms(cfg, "osd_out_time");
	cfg_free(cfg);
}

static void programming_errors_abort(void)
{
	CHECK(aborts(abort_getter_unknown,
		     "ERROR: config: cfg_u64(\"no_such_key\"): the key is not registered"));
	CHECK(aborts(abort_getter_type, "cfg_str(\"block_size\"): the key has type size"));
	CHECK(aborts(abort_getter_ms, "cfg_ms(\"block_size\"): the key has type size"));
	CHECK(aborts(abort_register_dup, "key data_device registered twice"));
	CHECK(aborts(abort_register_late, "cfg_register() called after values were loaded"));
	CHECK(aborts(abort_bad_default, "config: bad_default by default: expected a "
		     "non-negative integer, got \"many\" (a bug in the schema)"));
	CHECK(!aborts(no_abort, ""));
}

static void require_key(void)
{
	struct cfg *cfg = cfg_new();

	CHECK_EQ(cfg_require(cfg, "etcd_address"), -EINVAL);
	CHECK_STR(cfg_error(cfg), "config: etcd_address is not set (give --etcd_address or set"
		  " it in /etc/vitastor/vitastor.conf)");
	CHECK_EQ(cfg_require(cfg, "block_size"), 0);
	CHECK_EQ(cfg_set(cfg, "etcd_address", "e:2379", CFG_SRC_CMDLINE), 0);
	CHECK_EQ(cfg_require(cfg, "etcd_address"), 0);
	cfg_free(cfg);
}

static void dump_round_trip(void)
{
	struct cfg *cfg = cfg_new(), *again;
	char want[512];
	struct strbuf sb;
	json_t v;
	int rc;

	rc = load(cfg, "{\"peer_connect_interval\": 1.5, \"block_size\": \"1M\","
		       " \"etcd_address\": \"a:1,b:2\", \"log_level\": -1}",
		  ARGS("--readonly", "--osd_num", "3"));
	CHECK_MSG(rc == 0, "%s", cfg_error(cfg));
	sb_init(&sb);
	CHECK_EQ(cfg_dump_json(cfg, &sb, 0), 0);
	snprintf(want, sizeof(want), "{\"config_path\":\"%s\",\"etcd_address\":[\"a:1\","
		 "\"b:2\"],\"log_level\":-1,\"block_size\":1048576,"
		 "\"peer_connect_interval\":1.500,\"readonly\":true,\"osd_num\":3}",
		 cfg_str(cfg, "config_path"));
	CHECK_STR(sb.buf, want);
	sb_reset(&sb);
	CHECK_EQ(cfg_dump_json(cfg, &sb, CFG_DUMP_DEFAULTS | CFG_DUMP_SOURCES), 0);
	v = json_parse(sb.buf, sb.len, NULL, 0);
	CHECK(v);
	CHECK_STR(json_str(json_path(v, "osd_out_time", "source", NULL)), "default");
	CHECK_STR(json_str(json_path(v, "block_size", "source", NULL)), "file");
	CHECK_STR(json_str(json_path(v, "osd_num", "source", NULL)), "cmdline");
	CHECK(json_is_obj(json_path(v, "placement_levels", "value", NULL)));
	CHECK(!json_get(v, "rdma_mtu"));
	json_free(v);

	/* The dump (with defaults) loads back to the same values. */
	sb_reset(&sb);
	CHECK_EQ(cfg_dump_json(cfg, &sb, CFG_DUMP_DEFAULTS), 0);
	again = cfg_new();
	rc = cfg_load_text(again, sb.buf, sb.len, "dump");
	CHECK_MSG(rc == 0, "%s", cfg_error(again));
	CHECK_EQ(cfg_validate(again), 0);
	CHECK_EQ(cfg_ms(again, "peer_connect_interval"), 1500);
	CHECK_EQ(cfg_u64(again, "block_size"), 1 << 20);
	CHECK_EQ(cfg_u64(again, "osd_num"), 3);
	CHECK_EQ(cfg_ms(again, "etcd_keepalive_timeout"), 30000);
	CHECK_EQ(cfg_i64(again, "log_level"), -1);
	CHECK_STR(cfg_origin(again, "block_size"), "in dump");
	cfg_free(again);
	sb_free(&sb);
	cfg_free(cfg);
}

static void file_reload_replaces(void)
{
	struct cfg *cfg = cfg_new();
	const char *t1 = "{\"bind_port\": 1, \"readonly\": true}";
	const char *t2 = "{\"bind_port\": 2}";
	const char *t3 = "{\"bind_port\": -1}";

	CHECK_EQ(cfg_load_text(cfg, t1, strlen(t1), "one"), 0);
	CHECK(cfg_bool(cfg, "readonly"));
	CHECK_EQ(cfg_load_text(cfg, t2, strlen(t2), "two"), 0);
	CHECK_EQ(cfg_u64(cfg, "bind_port"), 2);
	CHECK(!cfg_bool(cfg, "readonly"));
	/* A failed load keeps the previous file values. */
	CHECK_EQ(cfg_load_text(cfg, t3, strlen(t3), "three"), -EINVAL);
	CHECK_EQ(cfg_u64(cfg, "bind_port"), 2);
	CHECK_STR(cfg_file_path(cfg), "two");
	cfg_free(cfg);
}

int main(void)
{
	/* Keep test output free of the warnings the cases provoke. */
	vlog_set_level(VLOG_ERROR);
	RUN(defaults);
	RUN(file_parsing);
	RUN(cmdline_overrides_file);
	RUN(key_equals_value);
	RUN(bare_bool_flags);
	RUN(positional_and_help);
	RUN(missing_value);
	RUN(etcd_merge);
	RUN(etcd_merge_errors_keep_config);
	RUN(etcd_local_only_keys);
	RUN(numbers_as_strings);
	RUN(size_suffixes);
	RUN(durations);
	RUN(type_errors_name_key_and_source);
	RUN(out_of_range);
	RUN(unknown_keys_warned);
	RUN(bad_json_file);
	RUN(missing_config_file);
	RUN(string_or_array_lists);
	RUN(alias_old_name);
	RUN(null_and_ignored_values);
	RUN(extra_schema);
	RUN(programming_errors_abort);
	RUN(require_key);
	RUN(dump_round_trip);
	RUN(file_reload_replaces);
	remove_tmps();
	return vt_finish();
}

/* vstor-osd against a real etcd: osd/state/<n> with a lease, osd/stats/<n>
 * updates, a duplicate OSD number refused, the key gone after kill -9 once
 * the lease expires and at once after SIGTERM, bad config/pools and
 * config/pgs ignored (the OSD keeps serving and picks up the next valid
 * document; what it parsed is read from its "config/... applied" log
 * lines), and an etcd restart survived with the key kept.
 *
 * Short intervals keep it fast: etcd_report_interval 1 s, 2 attempts of
 * 500 ms -> lease TTL 1 + ceil(2*2*500/1000) = 3 s. */
#include "check.h"
#include "etcd.h"
#include "etcd_proc.h"
#include "json.h"
#include "osd_proc.h"
#include "vstor_proto.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define PREFIX "/vt"
#define TTL_S 3

static struct etcd_proc *etcd;
static struct etcd_client *cl;
static struct osd_proc *osd1;

static const char *osd_args[] = {
	"--etcd_address", NULL, "--etcd_prefix", PREFIX, "--etcd_report_interval", "1",
	"--max_etcd_attempts", "2", "--etcd_quick_timeout", "500", NULL,
};

static struct etcd_client *new_client(void)
{
	struct etcd_config cfg;
	struct etcd_client *c;
	char err[256];

	etcd_config_init(&cfg);
	cfg.quick_timeout_ms = 2000;
	cfg.max_attempts = 3;
	if (etcd_config_add_endpoints(&cfg, etcd_proc_endpoint(etcd), err, sizeof(err))) {
		etcd_config_free(&cfg);
		return NULL;
	}
	etcd_config_set(&cfg.prefix, PREFIX);
	c = etcd_client_new(&cfg, NULL, err, sizeof(err));
	etcd_config_free(&cfg);
	return c;
}

/* The key's kv (value and lease) or false when absent. */
static bool get_kv(const char *key, char **value, int64_t *lease)
{
	struct etcd_range_req req = { .key = key };
	struct etcd_result res;
	bool found = false;

	if (etcd_range_sync(cl, &req, &res) == ETCD_OK && res.n_kvs) {
		found = true;
		if (value)
			*value = strndup(res.kvs[0].value, res.kvs[0].value_len);
		if (lease)
			*lease = res.kvs[0].lease;
	}
	etcd_result_clear(&res);
	return found;
}

static bool wait_key(const char *key, bool present, int timeout_ms)
{
	long long deadline = vt_now_ms() + timeout_ms;

	do {
		if (get_kv(key, NULL, NULL) == present)
			return true;
		vt_sleep_ms(100);
	} while (vt_now_ms() < deadline);
	return false;
}

static bool put(const char *key, const char *value)
{
	return etcd_put_str_sync(cl, key, value) == ETCD_OK;
}

/* Counts lines of the OSD's log containing s. */
static int log_count(struct osd_proc *p, const char *s)
{
	FILE *f = fopen(osd_proc_log(p), "r");
	char line[4096];
	int n = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		n += strstr(line, s) != NULL;
	fclose(f);
	return n;
}

static bool wait_log(struct osd_proc *p, const char *s, int count, int timeout_ms)
{
	long long deadline = vt_now_ms() + timeout_ms;

	do {
		if (log_count(p, s) >= count)
			return true;
		vt_sleep_ms(50);
	} while (vt_now_ms() < deadline);
	fprintf(stderr, "log of %s lacks %d x \"%s\"\n", osd_proc_log(p), count, s);
	return false;
}

static struct osd_proc *start_osd(uint64_t num)
{
	return osd_proc_start(num, osd_args);
}

/* SHOW_CONFIG over TCP: true when the OSD answers with its JSON. */
static bool show_config_ok(struct osd_proc *p)
{
	struct sockaddr_in sa;
	struct timeval tv = { .tv_sec = 5 };
	union vs_packet req, rep;
	char buf[4096];
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int64_t n;
	bool ok = false;

	if (fd < 0)
		return false;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)osd_proc_port(p));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	vs_req_init(&req, 1, VS_OP_SHOW_CONFIG);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    send(fd, &req, sizeof(req), MSG_NOSIGNAL) == (ssize_t)sizeof(req) &&
	    recv(fd, &rep, VS_PACKET_SIZE, MSG_WAITALL) == VS_PACKET_SIZE) {
		n = vs_check_reply(&rep, VS_OP_SHOW_CONFIG);
		if (n > 1 && n < (int64_t)sizeof(buf) &&
		    recv(fd, buf, (size_t)n, MSG_WAITALL) == n)
			ok = strstr(buf, "\"osd_num\":1") != NULL;
	}
	close(fd);
	return ok;
}

static void test_register(void)
{
	char *v = NULL, err[128];
	int64_t lease = 0;
	json_t j;
	uint64_t port;
	bool b;

	CHECK(wait_key("osd/state/1", true, 10000));
	CHECK(get_kv("osd/state/1", &v, &lease));
	CHECK(lease != 0);
	j = json_parse(v, strlen(v), err, sizeof(err));
	CHECK_MSG(j, "osd/state/1 = %s: %s", v, err);
	free(v);
	CHECK_STR(json_str(json_get(j, "state")), "up");
	CHECK_STR(json_str(json_at(json_get(j, "addresses"), 0)), "127.0.0.1");
	CHECK(json_u64(json_get(j, "port"), &port) == 0 && (int)port == osd_proc_port(osd1));
	CHECK(json_str(json_get(j, "host")) != NULL);
	CHECK(json_bool(json_get(j, "blockstore_enabled"), &b) == 0 && b);
	CHECK(json_bool(json_get(j, "primary_enabled"), &b) == 0);
	json_free(j);
}

static void test_stats(void)
{
	char *v1 = NULL, *v2 = NULL, err[128];
	json_t j;
	uint64_t n;
	bool b;
	long long deadline;

	CHECK(show_config_ok(osd1));
	CHECK(wait_key("osd/stats/1", true, 5000));
	CHECK(get_kv("osd/stats/1", &v1, NULL));
	j = json_parse(v1, strlen(v1), err, sizeof(err));
	CHECK_MSG(j, "osd/stats/1 = %s: %s", v1, err);
	CHECK(json_str(json_get(j, "time")) && strchr(json_str(json_get(j, "time")), '.'));
	CHECK(json_bool(json_get(j, "blockstore_ready"), &b) == 0 && b);
	CHECK(json_u64(json_get(j, "size"), &n) == 0 && n > 0);
	CHECK(json_u64(json_get(j, "free"), &n) == 0 && n > 0);
	CHECK(json_get(json_get(j, "op_stats"), "primary_write") != NULL);
	CHECK(json_is_obj(json_get(j, "subop_stats")));
	CHECK(json_get(json_get(j, "recovery_stats"), "degraded") != NULL);
	json_free(j);
	/* It updates every report interval, and counts our SHOW_CONFIG. */
	deadline = vt_now_ms() + 5000;
	do {
		vt_sleep_ms(200);
		free(v2);
		v2 = NULL;
		CHECK(get_kv("osd/stats/1", &v2, NULL));
	} while (!strcmp(v1, v2) && vt_now_ms() < deadline);
	free(v1);
	j = json_parse(v2, strlen(v2), err, sizeof(err));
	free(v2);
	CHECK(j);
	CHECK(json_u64(json_path(j, "op_stats", "show_config", "count", NULL), &n) == 0 && n >= 1);
	json_free(j);
}

static void test_duplicate_refused(void)
{
	struct osd_proc *dup = start_osd(1);
	long long deadline = vt_now_ms() + 10000;

	CHECK(dup);
	while (osd_proc_running(dup) && vt_now_ms() < deadline)
		vt_sleep_ms(50);
	CHECK(!osd_proc_running(dup));
	CHECK(wait_log(dup, "another OSD 1 is running, or its lease has not expired yet", 1, 100));
	osd_proc_free(dup);
	/* The first one is unaffected. */
	CHECK(osd_proc_running(osd1));
	CHECK(wait_key("osd/state/1", true, 100));
}

static void test_bad_config(void)
{
	CHECK(put("config/pools", "{\"1\":{\"name\":\"one\",\"scheme\":\"replicated\","
		  "\"pg_size\":\"2\",\"pg_minsize\":1,\"pg_count\":2}}"));
	CHECK(wait_log(osd1, "config/pools applied: 1 pools: 1:one(replicated,pg_size=2,"
		       "pg_minsize=1,pg_count=2)", 1, 5000));
	CHECK(put("config/pools", "{\"1\": {broken"));
	CHECK(wait_log(osd1, "config/pools ignored", 1, 5000));
	CHECK(put("config/pgs", "[1,2"));
	CHECK(wait_log(osd1, "config/pgs ignored", 1, 5000));
	CHECK(osd_proc_running(osd1));
	CHECK(show_config_ok(osd1));
	/* An invalid pool is skipped, the valid one used; numbers as strings. */
	CHECK(put("config/pools", "{\"1\":{\"name\":\"one\",\"scheme\":\"replicated\","
		  "\"pg_size\":2,\"pg_minsize\":1,\"pg_count\":2},\"2\":{\"name\":\"bad\","
		  "\"scheme\":\"raid5\",\"pg_size\":3,\"pg_minsize\":2,\"pg_count\":1},"
		  "\"3\":{\"name\":\"ec\",\"scheme\":\"xor\",\"pg_size\":3,\"pg_minsize\":2,"
		  "\"pg_count\":4}}"));
	CHECK(wait_log(osd1, "config/pools applied: 2 pools: 1:one(replicated,pg_size=2,"
		       "pg_minsize=1,pg_count=2), 3:ec(xor,pg_size=3,pg_minsize=2,pg_count=4)",
		       1, 5000));
	CHECK(wait_log(osd1, "config/pools: pool 2 skipped", 1, 100));
	CHECK(put("config/pgs", "{\"hash\":\"x\",\"items\":{\"1\":{\"1\":{\"osd_set\":[\"1\",2],"
		  "\"primary\":\"1\"},\"2\":{\"osd_set\":[2,1],\"primary\":2,\"pause\":true}}}}"));
	CHECK(wait_log(osd1, "config/pgs applied: 1 pools with PGs: pool 1: 2 PGs (1 primary "
		       "here, 1 paused)", 1, 5000));
	CHECK(osd_proc_running(osd1));
	CHECK(show_config_ok(osd1));
}

static void test_etcd_restart(void)
{
	int64_t lease1 = 0, lease2 = 0;

	CHECK(get_kv("osd/state/1", NULL, &lease1));
	CHECK(etcd_proc_restart(etcd) != NULL);
	/* Give the OSD a few keepalive rounds against the new etcd. */
	vt_sleep_ms(2500);
	CHECK(osd_proc_running(osd1));
	CHECK(get_kv("osd/state/1", NULL, &lease2));
	CHECK_EQ(lease1, lease2);
	/* Its watch reconnected: a new config is picked up. */
	CHECK(put("config/pools", "{\"5\":{\"name\":\"after\",\"pg_size\":1,\"pg_minsize\":1,"
		  "\"pg_count\":1}}"));
	CHECK(wait_log(osd1, "config/pools applied: 1 pools: 5:after(", 1, 8000));
	vt_sleep_ms(TTL_S * 1000);
	CHECK(osd_proc_running(osd1));
	CHECK(wait_key("osd/state/1", true, 100));
	CHECK(show_config_ok(osd1));
}

static void test_sigterm_removes_key(void)
{
	long long t0;

	CHECK_EQ(osd_proc_stop(osd1), 0);
	t0 = vt_now_ms();
	CHECK(wait_key("osd/state/1", false, 1000));
	CHECK(vt_now_ms() - t0 < 1000);
	CHECK(wait_log(osd1, "lease", 1, 100));
}

static void test_kill9_lease_expires(void)
{
	struct osd_proc *p = start_osd(2);
	long long t0;

	CHECK(p);
	CHECK(wait_key("osd/state/2", true, 10000));
	CHECK_EQ(osd_proc_kill(p), 128 + 9);
	t0 = vt_now_ms();
	/* Still there right after the kill, gone within the TTL (+ slack). */
	CHECK(get_kv("osd/state/2", NULL, NULL));
	CHECK(wait_key("osd/state/2", false, (TTL_S + 3) * 1000));
	CHECK_MSG(vt_now_ms() - t0 >= 1000, "key vanished after %lld ms", vt_now_ms() - t0);
	osd_proc_free(p);
}

int main(void)
{
	etcd = etcd_proc_start();
	if (!etcd) {
		printf("FAIL: start etcd\n");
		return 1;
	}
	osd_args[1] = etcd_proc_endpoint(etcd);
	cl = new_client();
	osd1 = cl ? start_osd(1) : NULL;
	if (!osd1) {
		printf("FAIL: start vstor-osd\n");
		return 1;
	}
	RUN(test_register);
	RUN(test_stats);
	RUN(test_duplicate_refused);
	RUN(test_bad_config);
	RUN(test_etcd_restart);
	RUN(test_sigterm_removes_key);
	RUN(test_kill9_lease_expires);
	osd_proc_free(osd1);
	etcd_client_free(cl);
	etcd_proc_free(etcd);
	return vt_finish();
}

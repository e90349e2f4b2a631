/* etcd client against a real etcd: key-value ops, txn, leases, the
 * external event-loop mode, authentication, teardown from callbacks. */
#include "check.h"
#include "etcd.h"
#include "etcd_proc.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

static struct etcd_proc *etcd;

static const char *tls_ca, *tls_cert, *tls_key;

static struct etcd_client *new_client_cfg(const char *endpoints, const char *user, const char *password,
	const struct etcd_loop *loop)
{
	struct etcd_config cfg;
	struct etcd_client *c;
	char err[256];

	etcd_config_init(&cfg);
	cfg.quick_timeout_ms = 2000;
	cfg.max_attempts = 3;
	if (etcd_config_add_endpoints(&cfg, endpoints, err, sizeof(err))) {
		fprintf(stderr, "endpoints: %s\n", err);
		etcd_config_free(&cfg);
		return NULL;
	}
	etcd_config_set(&cfg.prefix, "/vt");
	etcd_config_set(&cfg.user, user);
	etcd_config_set(&cfg.password, password);
	etcd_config_set(&cfg.ca_file, tls_ca);
	etcd_config_set(&cfg.cert_file, tls_cert);
	etcd_config_set(&cfg.key_file, tls_key);
	c = etcd_client_new(&cfg, loop, err, sizeof(err));
	if (!c)
		fprintf(stderr, "etcd_client_new: %s\n", err);
	etcd_config_free(&cfg);
	return c;
}

static struct etcd_client *new_client(void)
{
	return new_client_cfg(etcd_proc_endpoint(etcd), NULL, NULL, NULL);
}

/* Drives a self-driven client until *flag or the timeout. */
static bool run_until(struct etcd_client *c, const bool *flag, int timeout_ms)
{
	long long deadline = vt_now_ms() + timeout_ms;

	while (!*flag && vt_now_ms() < deadline)
		if (etcd_run(c, 20) == 1 && !*flag)
			vt_sleep_ms(5);
	return *flag;
}

static int put_s(struct etcd_client *c, const char *key, const char *val, int64_t lease)
{
	struct etcd_put_req q = { .key = key, .value = val, .value_len = strlen(val), .lease = lease };
	struct etcd_result r;
	int rc = etcd_put_sync(c, &q, &r);

	if (rc)
		fprintf(stderr, "put %s: %s\n", key, r.errmsg);
	etcd_result_clear(&r);
	return rc;
}

/* Number of keys under prefix p (-1 on error). */
static long count_prefix(struct etcd_client *c, const char *p)
{
	struct etcd_range_req q = { .key = p, .prefix = true, .count_only = true };
	struct etcd_result r;
	long n = etcd_range_sync(c, &q, &r) ? -1 : (long)r.count;

	etcd_result_clear(&r);
	return n;
}

/* ---- configuration ---- */

static void config_parsing(void)
{
	struct etcd_config cfg;
	char err[256];
	const char *text = "{\"etcd_address\":[\"10.0.0.1:2379\",\"https://h2:1234/x/y/\"],"
		"\"etcd_prefix\":\"/pfx/\",\"max_etcd_attempts\":\"7\",\"etcd_quick_timeout\":300,"
		"\"etcd_slow_timeout\":9000,\"etcd_user\":\"u\",\"etcd_password\":\"p\"}";
	json_t v = json_parse(text, strlen(text), NULL, 0);
	struct etcd_client *c;

	etcd_config_init(&cfg);
	CHECK_EQ(etcd_config_add_endpoints(&cfg, " 127.0.0.1:1, http://h:5/v3 ,h3,[::1]:7/p", err,
		sizeof(err)), 0);
	CHECK_EQ(cfg.n_endpoints, 4);
	CHECK_STR(cfg.endpoints[0], "http://127.0.0.1:1/v3");
	CHECK_STR(cfg.endpoints[1], "http://h:5/v3");
	CHECK_STR(cfg.endpoints[2], "http://h3:2379/v3");
	CHECK_STR(cfg.endpoints[3], "http://[::1]:7/p");
	CHECK_EQ(etcd_config_add_endpoints(&cfg, "ftp://x:1", err, sizeof(err)), ETCD_E_INVAL);
	CHECK_EQ(etcd_config_add_endpoints(&cfg, " , ", err, sizeof(err)), ETCD_E_INVAL);
	CHECK_EQ(etcd_config_add_endpoints(&cfg, "/v3", err, sizeof(err)), ETCD_E_INVAL);
	CHECK(v);
	CHECK_EQ(etcd_config_from_json(&cfg, v, err, sizeof(err)), 0);
	json_free(v);
	CHECK_EQ(cfg.n_endpoints, 2);
	CHECK_STR(cfg.endpoints[0], "http://10.0.0.1:2379/v3");
	CHECK_STR(cfg.endpoints[1], "https://h2:1234/x/y");
	CHECK_STR(cfg.prefix, "/pfx/");
	CHECK_EQ(cfg.max_attempts, 7);
	CHECK_EQ(cfg.quick_timeout_ms, 300);
	CHECK_EQ(cfg.slow_timeout_ms, 9000);
	CHECK_STR(cfg.user, "u");
	c = etcd_client_new(&cfg, NULL, err, sizeof(err));
	CHECK_MSG(c, "%s", err);
	CHECK_STR(etcd_prefix(c), "/pfx");
	CHECK_STR(etcd_current_endpoint(c), "http://10.0.0.1:2379/v3");
	etcd_client_free(c);
	v = json_parse("{\"etcd_address\":5}", 18, NULL, 0);
	CHECK_EQ(etcd_config_from_json(&cfg, v, err, sizeof(err)), ETCD_E_INVAL);
	json_free(v);
	CHECK_EQ(cfg.n_endpoints, 2);
	etcd_config_free(&cfg);
	etcd_config_init(&cfg);
	CHECK(etcd_client_new(&cfg, NULL, err, sizeof(err)) == NULL);
	etcd_config_free(&cfg);
}

/* ---- key-value ---- */

static void put_get(void)
{
	struct etcd_client *c = new_client();
	unsigned char bin[300];
	struct etcd_result r;
	struct etcd_range_req q = { .key = "pg/bin" };
	struct etcd_put_req p = { .key = "pg/bin", .value = bin, .value_len = sizeof(bin), .prev_kv = true };
	char *s = NULL;

	CHECK(c);
	for (size_t i = 0; i < sizeof(bin); i++)
		bin[i] = (unsigned char)(i * 7);	/* NULs, 0xff, invalid UTF-8 */
	CHECK_EQ(etcd_put_str_sync(c, "pg/a", "{\"x\":1}"), 0);
	CHECK_EQ(etcd_get_str_sync(c, "pg/a", &s), 0);
	CHECK_STR(s, "{\"x\":1}");
	free(s);
	CHECK_EQ(etcd_get_str_sync(c, "pg/missing", &s), 0);
	CHECK(s == NULL);

	CHECK_EQ(etcd_put_sync(c, &p, &r), 0);
	CHECK(r.revision > 0);
	CHECK_EQ(r.n_prev_kvs, 0);
	etcd_result_clear(&r);
	bin[0] = 1;
	CHECK_EQ(etcd_put_sync(c, &p, &r), 0);
	CHECK_EQ(r.n_prev_kvs, 1);
	CHECK_EQ(r.prev_kvs[0].value_len, sizeof(bin));
	CHECK_EQ((unsigned char)r.prev_kvs[0].value[0], 0);
	etcd_result_clear(&r);

	CHECK_EQ(etcd_range_sync(c, &q, &r), 0);
	CHECK_EQ(r.n_kvs, 1);
	CHECK_EQ(r.count, 1);
	CHECK_STR(r.kvs[0].key, "pg/bin");
	CHECK_EQ(r.kvs[0].key_len, 6);
	CHECK_STR(r.kvs[0].full_key, "/vt/pg/bin");
	CHECK_EQ(r.kvs[0].value_len, sizeof(bin));
	CHECK(!memcmp(r.kvs[0].value, bin, sizeof(bin)));
	CHECK_EQ(r.kvs[0].value[sizeof(bin)], 0);
	CHECK_EQ(r.kvs[0].version, 2);
	CHECK(r.kvs[0].create_revision > 0 && r.kvs[0].mod_revision > r.kvs[0].create_revision);
	CHECK_EQ(r.kvs[0].mod_revision, r.revision);
	CHECK_EQ(r.kvs[0].lease, 0);
	CHECK(r.json != NULL);
	etcd_result_clear(&r);

	/* An empty value. */
	CHECK_EQ(etcd_put_str_sync(c, "pg/empty", ""), 0);
	q.key = "pg/empty";
	CHECK_EQ(etcd_range_sync(c, &q, &r), 0);
	CHECK_EQ(r.n_kvs, 1);
	CHECK_EQ(r.kvs[0].value_len, 0);
	CHECK_STR(r.kvs[0].value, "");
	etcd_result_clear(&r);
	etcd_client_free(c);
}

static void range_prefix_limit_revision(void)
{
	struct etcd_client *c = new_client();
	struct etcd_result r;
	struct etcd_range_req q = { .key = "rg/", .prefix = true };
	int64_t rev3 = 0;
	char key[32], val[32];

	CHECK(c);
	/* Neighbours that a sloppy prefix end would include. */
	CHECK_EQ(put_s(c, "rg0", "no", 0), 0);
	CHECK_EQ(put_s(c, "rg", "no", 0), 0);
	for (int i = 1; i <= 5; i++) {
		struct etcd_put_req p = { .key = key, .value = val };
		snprintf(key, sizeof(key), "rg/%d", i);
		snprintf(val, sizeof(val), "v%d", i);
		p.value_len = strlen(val);
		CHECK_EQ(etcd_put_sync(c, &p, &r), 0);
		if (i == 3)
			rev3 = r.revision;
		etcd_result_clear(&r);
	}
	CHECK_EQ(etcd_range_sync(c, &q, &r), 0);
	CHECK_EQ(r.n_kvs, 5);
	CHECK_EQ(r.count, 5);
	CHECK(!r.more);
	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "rg/%d", i + 1);
		snprintf(val, sizeof(val), "v%d", i + 1);
		CHECK_STR(r.kvs[i].key, key);
		CHECK_STR(r.kvs[i].value, val);
	}
	etcd_result_clear(&r);

	q.limit = 2;
	CHECK_EQ(etcd_range_sync(c, &q, &r), 0);
	CHECK_EQ(r.n_kvs, 2);
	CHECK_EQ(r.count, 5);
	CHECK(r.more);
	CHECK_STR(r.kvs[1].key, "rg/2");
	etcd_result_clear(&r);

	q.limit = 0;
	q.revision = rev3;
	CHECK_EQ(etcd_range_sync(c, &q, &r), 0);
	CHECK_EQ(r.n_kvs, 3);
	CHECK_STR(r.kvs[2].key, "rg/3");
	etcd_result_clear(&r);

	q.revision = 0;
	q.keys_only = true;
	CHECK_EQ(etcd_range_sync(c, &q, &r), 0);
	CHECK_EQ(r.n_kvs, 5);
	CHECK_EQ(r.kvs[0].value_len, 0);
	etcd_result_clear(&r);

	q.keys_only = false;
	q.count_only = true;
	CHECK_EQ(etcd_range_sync(c, &q, &r), 0);
	CHECK_EQ(r.n_kvs, 0);
	CHECK_EQ(r.count, 5);
	etcd_result_clear(&r);

	/* An explicit range [rg/2, rg/4). */
	{
		struct etcd_range_req q2 = { .key = "rg/2", .range_end = "rg/4" };

		CHECK_EQ(etcd_range_sync(c, &q2, &r), 0);
		CHECK_EQ(r.n_kvs, 2);
		CHECK_STR(r.kvs[0].key, "rg/2");
		CHECK_STR(r.kvs[1].key, "rg/3");
		etcd_result_clear(&r);
	}
	/* Bad arguments are refused up front. */
	{
		struct etcd_range_req bad = { .key = "x", .range_end = "y", .prefix = true };

		CHECK_EQ(etcd_range_sync(c, &bad, &r), ETCD_E_INVAL);
		etcd_result_clear(&r);
		CHECK_EQ(etcd_range(c, NULL, NULL, NULL), ETCD_E_INVAL);
	}
	/* A future revision is an etcd error. */
	q.count_only = false;
	q.revision = 1 << 30;
	CHECK_EQ(etcd_range_sync(c, &q, &r), ETCD_E_ETCD);
	CHECK(strstr(r.errmsg, "future revision"));
	CHECK_EQ(r.etcd_code, 11);
	CHECK_EQ(r.http_status, 400);
	etcd_result_clear(&r);
	etcd_client_free(c);
}

static void delete_keys(void)
{
	struct etcd_client *c = new_client();
	struct etcd_result r;
	struct etcd_delete_req d = { .key = "del/a" };

	CHECK(c);
	CHECK_EQ(put_s(c, "del/a", "1", 0), 0);
	CHECK_EQ(put_s(c, "del/b/1", "2", 0), 0);
	CHECK_EQ(put_s(c, "del/b/2", "3", 0), 0);
	CHECK_EQ(etcd_delete_sync(c, &d, &r), 0);
	CHECK_EQ(r.deleted, 1);
	etcd_result_clear(&r);
	CHECK_EQ(etcd_delete_sync(c, &d, &r), 0);
	CHECK_EQ(r.deleted, 0);
	etcd_result_clear(&r);
	d.key = "del/b/";
	d.prefix = true;
	d.prev_kv = true;
	CHECK_EQ(etcd_delete_sync(c, &d, &r), 0);
	CHECK_EQ(r.deleted, 2);
	CHECK_EQ(r.n_prev_kvs, 2);
	CHECK_STR(r.prev_kvs[0].key, "del/b/1");
	CHECK_STR(r.prev_kvs[1].value, "3");
	etcd_result_clear(&r);
	CHECK_EQ(count_prefix(c, "del/"), 0);
	etcd_client_free(c);
}

static void txn_cas(void)
{
	struct etcd_client *c = new_client();
	struct etcd_result r;
	struct etcd_compare absent = { .key = "txn/k", .target = ETCD_CMP_CREATE, .op = ETCD_CMP_EQUAL, .number = 0 };
	struct etcd_txn_op create = { .type = ETCD_OP_PUT, .put = { .key = "txn/k", .value = "v1", .value_len = 2 } };
	struct etcd_txn_op get = { .type = ETCD_OP_RANGE, .range = { .key = "txn/k" } };
	struct etcd_txn_req t = { .compare = &absent, .n_compare = 1, .success = &create, .n_success = 1,
		.failure = &get, .n_failure = 1 };
	int64_t mod;

	CHECK(c);
	/* Create if absent: first wins, second sees the value. */
	CHECK_EQ(etcd_txn_sync(c, &t, &r), 0);
	CHECK(r.succeeded);
	CHECK_EQ(r.n_responses, 1);
	CHECK_EQ(r.responses[0].type, ETCD_OP_PUT);
	etcd_result_clear(&r);
	CHECK_EQ(etcd_txn_sync(c, &t, &r), 0);
	CHECK(!r.succeeded);
	CHECK_EQ(r.n_responses, 1);
	CHECK_EQ(r.responses[0].type, ETCD_OP_RANGE);
	CHECK_EQ(r.responses[0].n_kvs, 1);
	CHECK_STR(r.responses[0].kvs[0].value, "v1");
	mod = r.responses[0].kvs[0].mod_revision;
	etcd_result_clear(&r);

	/* mod_revision guard: succeeds once, then the guard is stale. */
	{
		struct etcd_compare guard = { .key = "txn/k", .target = ETCD_CMP_MOD, .op = ETCD_CMP_EQUAL,
			.number = mod };
		struct etcd_txn_op ops[2] = {
			{ .type = ETCD_OP_PUT, .put = { .key = "txn/k", .value = "v2", .value_len = 2 } },
			{ .type = ETCD_OP_DELETE, .del = { .key = "txn/other" } },
		};
		struct etcd_txn_req t2 = { .compare = &guard, .n_compare = 1, .success = ops, .n_success = 2 };

		CHECK_EQ(etcd_txn_sync(c, &t2, &r), 0);
		CHECK(r.succeeded);
		CHECK_EQ(r.n_responses, 2);
		CHECK_EQ(r.responses[1].type, ETCD_OP_DELETE);
		etcd_result_clear(&r);
		CHECK_EQ(etcd_txn_sync(c, &t2, &r), 0);
		CHECK(!r.succeeded);
		CHECK_EQ(r.n_responses, 0);
		etcd_result_clear(&r);
		/* mod_revision < a future revision holds. */
		guard.op = ETCD_CMP_LESS;
		guard.number = 1 << 30;
		ops[0].put.value = "v3";
		CHECK_EQ(etcd_txn_sync(c, &t2, &r), 0);
		CHECK(r.succeeded);
		etcd_result_clear(&r);
	}
	/* Value, version and several compares. */
	{
		struct etcd_compare cmps[2] = {
			{ .key = "txn/k", .target = ETCD_CMP_VALUE, .op = ETCD_CMP_EQUAL, .value = "v3", .value_len = 2 },
			{ .key = "txn/k", .target = ETCD_CMP_VERSION, .op = ETCD_CMP_GREATER, .number = 2 },
		};
		struct etcd_txn_req t3 = { .compare = cmps, .n_compare = 2, .success = &get, .n_success = 1 };

		CHECK_EQ(etcd_txn_sync(c, &t3, &r), 0);
		CHECK(r.succeeded);
		CHECK_EQ(r.responses[0].n_kvs, 1);
		CHECK_EQ(r.responses[0].kvs[0].version, 3);
		etcd_result_clear(&r);
		cmps[1].op = ETCD_CMP_NOT_EQUAL;
		cmps[1].number = 3;
		CHECK_EQ(etcd_txn_sync(c, &t3, &r), 0);
		CHECK(!r.succeeded);
		etcd_result_clear(&r);
	}
	etcd_client_free(c);
}

/* ---- leases ---- */

struct ka_state {
	int ok, failed;
	int64_t ttl;
	bool done;
};

static void ka_cb(void *arg, struct etcd_result *res)
{
	struct ka_state *s = arg;

	if (res->status == ETCD_OK) {
		s->ok++;
		s->ttl = res->ttl;
	} else {
		s->failed++;
	}
	s->done = true;
}

static void lease_expiry_and_keepalive(void)
{
	struct etcd_client *c = new_client();
	struct etcd_result r;
	int64_t dying, kept;
	long long t0, gone_at = 0;
	struct ka_state ka = { 0 };

	CHECK(c);
	CHECK_EQ(etcd_lease_grant_sync(c, 2, 0, &r), 0);
	dying = r.lease_id;
	CHECK(dying > 0);
	CHECK_EQ(r.ttl, 2);
	etcd_result_clear(&r);
	CHECK_EQ(etcd_lease_grant_sync(c, 2, 0, &r), 0);
	kept = r.lease_id;
	etcd_result_clear(&r);
	CHECK_EQ(put_s(c, "lease/dying", "x", dying), 0);
	CHECK_EQ(put_s(c, "lease/kept", "y", kept), 0);
	{
		struct etcd_range_req q = { .key = "lease/kept" };

		CHECK_EQ(etcd_range_sync(c, &q, &r), 0);
		CHECK_EQ(r.kvs[0].lease, kept);
		etcd_result_clear(&r);
	}
	t0 = vt_now_ms();
	/* Keep one lease alive every 400 ms for 4 s; the other must expire. */
	while (vt_now_ms() - t0 < 4000) {
		ka.done = false;
		CHECK_EQ(etcd_lease_keepalive(c, kept, ka_cb, &ka), 0);
		CHECK(run_until(c, &ka.done, 5000));
		if (!gone_at) {
			struct etcd_range_req q = { .key = "lease/dying" };

			CHECK_EQ(etcd_range_sync(c, &q, &r), 0);
			if (!r.n_kvs)
				gone_at = vt_now_ms();
			etcd_result_clear(&r);
		}
		vt_sleep_ms(400);
	}
	CHECK_EQ(ka.failed, 0);
	CHECK(ka.ok >= 8);
	CHECK_EQ(ka.ttl, 2);
	CHECK_MSG(gone_at, "the key of the expired lease is still there");
	CHECK_MSG(gone_at - t0 >= 1000, "expired too early: %lld ms", gone_at - t0);
	CHECK_EQ(count_prefix(c, "lease/kept"), 1);
	/* Keepalive of the expired lease reports it gone. */
	CHECK_EQ(etcd_lease_keepalive_sync(c, dying, &r), ETCD_E_NOLEASE);
	etcd_result_clear(&r);
	CHECK_EQ(etcd_lease_revoke_sync(c, kept, &r), 0);
	etcd_result_clear(&r);
	etcd_client_free(c);
}

static void lease_revoke(void)
{
	struct etcd_client *c = new_client();
	struct etcd_result r;
	int64_t id;

	CHECK(c);
	CHECK_EQ(etcd_lease_grant_sync(c, 60, 0, &r), 0);
	id = r.lease_id;
	etcd_result_clear(&r);
	CHECK_EQ(put_s(c, "revoke/a", "1", id), 0);
	CHECK_EQ(put_s(c, "revoke/b", "2", id), 0);
	CHECK_EQ(count_prefix(c, "revoke/"), 2);
	/* A txn guarded by "the key is held by my lease". */
	{
		struct etcd_compare mine = { .key = "revoke/a", .target = ETCD_CMP_LEASE, .op = ETCD_CMP_EQUAL,
			.number = id };
		struct etcd_txn_op op = { .type = ETCD_OP_PUT, .put = { .key = "revoke/a", .value = "3",
			.value_len = 1, .lease = id } };
		struct etcd_txn_req t = { .compare = &mine, .n_compare = 1, .success = &op, .n_success = 1 };

		CHECK_EQ(etcd_txn_sync(c, &t, &r), 0);
		CHECK(r.succeeded);
		etcd_result_clear(&r);
		mine.number = id + 1;
		CHECK_EQ(etcd_txn_sync(c, &t, &r), 0);
		CHECK(!r.succeeded);
		etcd_result_clear(&r);
	}
	CHECK_EQ(etcd_lease_revoke_sync(c, id, &r), 0);
	etcd_result_clear(&r);
	CHECK_EQ(count_prefix(c, "revoke/"), 0);
	CHECK_EQ(etcd_lease_revoke_sync(c, id, &r), ETCD_E_ETCD);
	CHECK(strstr(r.errmsg, "lease not found"));
	CHECK_EQ(r.etcd_code, 5);
	etcd_result_clear(&r);
	CHECK_EQ(etcd_lease_keepalive_sync(c, id, &r), ETCD_E_NOLEASE);
	etcd_result_clear(&r);
	/* A put with a lease that does not exist. */
	CHECK_EQ(put_s(c, "revoke/c", "3", id), ETCD_E_ETCD);
	/* A chosen lease id. */
	CHECK_EQ(etcd_lease_grant_sync(c, 30, 0x7e57, &r), 0);
	CHECK_EQ(r.lease_id, 0x7e57);
	etcd_result_clear(&r);
	CHECK_EQ(etcd_lease_revoke_sync(c, 0x7e57, &r), 0);
	etcd_result_clear(&r);
	etcd_client_free(c);
}

/* ---- many concurrent async ops ---- */

struct counter {
	int ok, failed, expected;
	bool done;
};

static void count_cb(void *arg, struct etcd_result *res)
{
	struct counter *n = arg;

	if (res->status == ETCD_OK)
		n->ok++;
	else
		n->failed++;
	if (n->ok + n->failed == n->expected)
		n->done = true;
}

static void async_many(void)
{
	struct etcd_client *c = new_client();
	struct counter n = { .expected = 200 };
	char key[32];
	long long t0 = vt_now_ms();

	CHECK(c);
	for (int i = 0; i < n.expected; i++) {
		struct etcd_put_req p = { .key = key, .value = "v", .value_len = 1 };

		snprintf(key, sizeof(key), "many/%03d", i);
		CHECK_EQ(etcd_put(c, &p, count_cb, &n), 0);
	}
	CHECK_EQ(etcd_pending(c), n.expected);
	CHECK_EQ(etcd_run(c, 20000), 1);
	CHECK(n.done);
	CHECK_EQ(n.failed, 0);
	CHECK_EQ(etcd_pending(c), 0);
	CHECK_EQ(count_prefix(c, "many/"), 200);
	CHECK_MSG(vt_now_ms() - t0 < 15000, "took %lld ms", vt_now_ms() - t0);
	/* etcd_run returns at the timeout with nothing to do too. */
	CHECK_EQ(etcd_run(c, 10), 1);
	etcd_client_free(c);
}

/* ---- external event loop (epoll) ---- */

struct eloop {
	int epfd;
	struct etcd_client *c;
	long long due;		/* -1: no timer */
	int fd_calls, timer_calls, nfds;
	char reg[65536];
};

static void el_watch_fd(void *ctx, int fd, int events)
{
	struct eloop *l = ctx;
	struct epoll_event ev = { 0 };

	l->fd_calls++;
	if (fd < 0 || fd >= (int)sizeof(l->reg))
		return;
	if (events & ETCD_POLL_REMOVE) {
		if (l->reg[fd])
			l->nfds--;
		epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
		l->reg[fd] = 0;
		return;
	}
	ev.data.fd = fd;
	ev.events = ((events & ETCD_POLL_IN) ? EPOLLIN : 0) | ((events & ETCD_POLL_OUT) ? EPOLLOUT : 0);
	if (epoll_ctl(l->epfd, l->reg[fd] ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, fd, &ev) &&
	    epoll_ctl(l->epfd, l->reg[fd] ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev))
		fprintf(stderr, "epoll_ctl %d: %s\n", fd, strerror(errno));
	if (!l->reg[fd])
		l->nfds++;
	l->reg[fd] = 1;
}

static void el_set_timer(void *ctx, int ms)
{
	struct eloop *l = ctx;

	l->timer_calls++;
	l->due = ms < 0 ? -1 : vt_now_ms() + ms;
}

static bool el_run_until(struct eloop *l, const bool *flag, int timeout_ms)
{
	long long deadline = vt_now_ms() + timeout_ms;

	while (!*flag && vt_now_ms() < deadline) {
		struct epoll_event evs[16];
		long long wait = 50;
		int n;

		if (l->due >= 0)
			wait = l->due - vt_now_ms() < wait ? l->due - vt_now_ms() : wait;
		if (wait < 0)
			wait = 0;
		n = epoll_wait(l->epfd, evs, 16, (int)wait);
		for (int i = 0; i < n; i++) {
			int re = 0;

			if (evs[i].events & EPOLLIN)
				re |= ETCD_POLL_IN;
			if (evs[i].events & EPOLLOUT)
				re |= ETCD_POLL_OUT;
			if (evs[i].events & (EPOLLERR | EPOLLHUP))
				re |= ETCD_POLL_ERR;
			etcd_on_fd(l->c, evs[i].data.fd, re);
		}
		if (l->due >= 0 && vt_now_ms() >= l->due) {
			l->due = -1;
			etcd_on_timer(l->c);
		}
	}
	return *flag;
}

struct el_watch {
	int created, events;
	int64_t last_rev;
	bool ordered;
};

static void el_watch_cb(void *arg, struct etcd_watch *w, const struct etcd_watch_update *u)
{
	struct el_watch *s = arg;

	if (u->kind == ETCD_WATCH_CREATED)
		s->created++;
	for (size_t i = 0; i < u->n_events; i++) {
		if (u->events[i].kv.mod_revision <= s->last_rev)
			s->ordered = false;
		s->last_rev = u->events[i].kv.mod_revision;
		s->events++;
	}
}

struct ext_wait {
	struct etcd_result res;
	bool done;
};

static void ext_cb(void *arg, struct etcd_result *res)
{
	struct ext_wait *w = arg;

	etcd_result_move(&w->res, res);
	w->done = true;
}

static void external_loop(void)
{
	struct eloop l = { .due = -1 };
	struct etcd_loop hooks = { el_watch_fd, el_set_timer, &l };
	struct etcd_client *c;
	struct ext_wait w = { 0 };
	struct el_watch ws = { .ordered = true };
	struct etcd_watch_req wq = { .key = "ext/", .prefix = true };
	struct etcd_watch *watch;
	struct counter n = { .expected = 20 };
	char key[32];

	l.epfd = epoll_create1(EPOLL_CLOEXEC);
	CHECK(l.epfd >= 0);
	c = l.c = new_client_cfg(etcd_proc_endpoint(etcd), NULL, NULL, &hooks);
	CHECK(c);
	{
		struct etcd_put_req p = { .key = "ext/a", .value = "1", .value_len = 1 };

		CHECK_EQ(etcd_put(c, &p, ext_cb, &w), 0);
	}
	CHECK(l.due >= 0);	/* curl asked for a timer to start */
	CHECK(el_run_until(&l, &w.done, 5000));
	CHECK_MSG(w.res.status == 0, "%s", w.res.errmsg);
	etcd_result_clear(&w.res);
	CHECK(l.fd_calls > 0);
	CHECK(l.timer_calls > 0);

	/* The blocking API refuses to run inside someone else's loop. */
	{
		struct etcd_result r;
		struct etcd_range_req q = { .key = "ext/a" };

		CHECK_EQ(etcd_range_sync(c, &q, &r), ETCD_E_INVAL);
		etcd_result_clear(&r);
		CHECK_EQ(etcd_run(c, 10), ETCD_E_INVAL);
	}

	watch = etcd_watch_create(c, &wq, el_watch_cb, &ws);
	CHECK(watch);
	{
		bool created = false;
		long long deadline = vt_now_ms() + 5000;

		while (!ws.created && vt_now_ms() < deadline)
			el_run_until(&l, &created, 20);
		CHECK_EQ(ws.created, 1);
	}
	for (int i = 0; i < n.expected; i++) {
		struct etcd_put_req p = { .key = key, .value = "x", .value_len = 1 };

		snprintf(key, sizeof(key), "ext/%02d", i);
		CHECK_EQ(etcd_put(c, &p, count_cb, &n), 0);
	}
	CHECK(el_run_until(&l, &n.done, 10000));
	CHECK_EQ(n.failed, 0);
	{
		bool never = false;
		long long deadline = vt_now_ms() + 5000;

		while (ws.events < n.expected && vt_now_ms() < deadline)
			el_run_until(&l, &never, 20);
	}
	CHECK_EQ(ws.events, n.expected);
	CHECK(ws.ordered);

	{
		struct etcd_range_req q = { .key = "ext/", .prefix = true, .count_only = true };

		w.done = false;
		CHECK_EQ(etcd_range(c, &q, ext_cb, &w), 0);
		CHECK(el_run_until(&l, &w.done, 5000));
		CHECK_EQ(w.res.status, 0);
		CHECK_EQ(w.res.count, n.expected + 1);
		etcd_result_clear(&w.res);
	}
	etcd_watch_cancel(watch);
	CHECK_EQ(etcd_pending(c), 0);
	etcd_client_free(c);
	/* Every fd handed out was taken back (closed connections included). */
	CHECK_MSG(l.nfds == 0, "%d fds still registered", l.nfds);
	close(l.epfd);
}

/* ---- teardown from callbacks ---- */

struct teardown_state {
	struct etcd_client *c;
	int called, canceled;
	bool freed;
};

static void teardown_cb(void *arg, struct etcd_result *res)
{
	struct teardown_state *s = arg;

	s->called++;
	if (res->status == ETCD_E_CANCELED) {
		s->canceled++;
		/* Starting more work while the client goes away is refused. */
		struct etcd_range_req q = { .key = "x" };

		if (etcd_range(s->c, &q, teardown_cb, s) != ETCD_E_CANCELED)
			s->called += 1000;
		return;
	}
	if (!s->freed) {
		s->freed = true;
		etcd_client_free(s->c);
	}
}

static void teardown_watch_cb(void *arg, struct etcd_watch *w, const struct etcd_watch_update *u)
{
}

static void free_from_callback(void)
{
	struct teardown_state s = { 0 };
	struct etcd_range_req q = { .key = "td/x" };
	struct etcd_watch_req wq = { .key = "td/", .prefix = true };

	s.c = new_client();
	CHECK(s.c);
	CHECK(etcd_watch_create(s.c, &wq, teardown_watch_cb, NULL));
	for (int i = 0; i < 10; i++)
		CHECK_EQ(etcd_range(s.c, &q, teardown_cb, &s), 0);
	/* Runs until the first callback frees the client. */
	while (!s.freed)
		etcd_run(s.c, 50);
	CHECK_EQ(s.called, 10);
	CHECK(s.canceled >= 1 && s.canceled <= 9);

	/* Freeing with pending work from outside any callback. */
	s = (struct teardown_state){ 0 };
	s.c = new_client();
	CHECK(s.c);
	s.freed = true;	/* do not free again from the callback */
	for (int i = 0; i < 5; i++)
		CHECK_EQ(etcd_range(s.c, &q, teardown_cb, &s), 0);
	CHECK(etcd_watch_create(s.c, &wq, teardown_watch_cb, NULL));
	etcd_client_free(s.c);
	CHECK_EQ(s.canceled, 5);
}

/* ---- authentication ---- */

static int call_ok(struct etcd_client *c, const char *path, const char *body)
{
	struct etcd_result r;
	int rc = etcd_call_sync(c, path, body, false, &r);

	if (rc)
		fprintf(stderr, "%s: %s\n", path, r.errmsg);
	etcd_result_clear(&r);
	return rc;
}

struct auth_watch {
	int created, events, retries;
};

static void auth_watch_cb(void *arg, struct etcd_watch *w, const struct etcd_watch_update *u)
{
	struct auth_watch *s = arg;

	if (u->kind == ETCD_WATCH_CREATED)
		s->created++;
	else if (u->kind == ETCD_WATCH_RETRY)
		s->retries++;
	s->events += (int)u->n_events;
}

static void auth_user_password(void)
{
	struct etcd_proc *e = etcd_proc_start();
	struct etcd_client *admin, *c, *anon, *bad;
	struct etcd_result r;
	struct auth_watch aw = { 0 };
	struct etcd_watch_req wq = { .key = "auth/", .prefix = true };
	struct etcd_watch *w;
	char *s = NULL;

	CHECK(e);
	admin = new_client_cfg(etcd_proc_endpoint(e), NULL, NULL, NULL);
	CHECK(admin);
	CHECK_EQ(call_ok(admin, "/auth/role/add", "{\"name\":\"root\"}"), 0);
	CHECK_EQ(call_ok(admin, "/auth/user/add", "{\"name\":\"root\",\"password\":\"s3cret\"}"), 0);
	CHECK_EQ(call_ok(admin, "/auth/user/grant", "{\"user\":\"root\",\"role\":\"root\"}"), 0);
	CHECK_EQ(call_ok(admin, "/auth/enable", "{}"), 0);
	etcd_client_free(admin);

	c = new_client_cfg(etcd_proc_endpoint(e), "root", "s3cret", NULL);
	anon = new_client_cfg(etcd_proc_endpoint(e), NULL, NULL, NULL);
	bad = new_client_cfg(etcd_proc_endpoint(e), "root", "wrong", NULL);
	CHECK(c && anon && bad);
	CHECK_EQ(etcd_put_str_sync(c, "auth/k", "v"), 0);
	CHECK_EQ(etcd_get_str_sync(c, "auth/k", &s), 0);
	CHECK_STR(s, "v");
	free(s);
	{
		struct etcd_range_req q = { .key = "auth/k" };

		CHECK_EQ(etcd_range_sync(anon, &q, &r), ETCD_E_ETCD);
		CHECK_MSG(strstr(r.errmsg, "user name is empty"), "%s", r.errmsg);
		etcd_result_clear(&r);
		CHECK_EQ(etcd_range_sync(bad, &q, &r), ETCD_E_ETCD);
		CHECK_MSG(strstr(r.errmsg, "authentication failed"), "%s", r.errmsg);
		etcd_result_clear(&r);
	}
	w = etcd_watch_create(c, &wq, auth_watch_cb, &aw);
	CHECK(w);
	{
		long long deadline = vt_now_ms() + 5000;

		while (!aw.created && vt_now_ms() < deadline)
			etcd_run(c, 20);
		CHECK_EQ(aw.created, 1);
	}
	/* Simple tokens live in etcd's memory: after a restart the client's
	 * token is invalid and it must authenticate again by itself. */
	CHECK(etcd_proc_restart(e));
	CHECK_EQ(etcd_put_str_sync(c, "auth/k2", "v2"), 0);
	CHECK_EQ(etcd_get_str_sync(c, "auth/k2", &s), 0);
	CHECK_STR(s, "v2");
	free(s);
	{
		long long deadline = vt_now_ms() + 8000;

		while ((aw.events < 1 || aw.created < 2) && vt_now_ms() < deadline)
			etcd_run(c, 20);
		CHECK_MSG(aw.created == 2, "created %d retries %d", aw.created, aw.retries);
		CHECK_EQ(aw.events, 1);
	}
	etcd_watch_cancel(w);
	etcd_client_free(c);
	etcd_client_free(anon);
	etcd_client_free(bad);
	etcd_proc_free(e);
}

/* ---- TLS ---- */

static void tls_client_certificates(void)
{
	char dir[600], cert[700], key[700], cmd[2048];
	const char *tmp = getenv("TMPDIR");
	struct etcd_proc *e = NULL;
	struct etcd_client *c;
	struct auth_watch aw = { 0 };
	struct etcd_watch_req wq = { .key = "tls/", .prefix = true };
	struct etcd_watch *w;
	struct etcd_result r;
	char *s = NULL;

	snprintf(dir, sizeof(dir), "%s/vstor-tls-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	CHECK(mkdtemp(dir));
	snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
	snprintf(key, sizeof(key), "%s/key.pem", dir);
	/* One self-signed certificate: server certificate, CA and client
	 * certificate at once. */
	snprintf(cmd, sizeof(cmd), "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
		"-nodes -keyout %s -out %s -days 2 -subj /CN=localhost "
		"-addext subjectAltName=IP:127.0.0.1,DNS:localhost >/dev/null 2>&1", key, cert);
	if (system(cmd) != 0) {
		vt_skip("openssl could not make a test certificate");
		goto out;
	}
	e = etcd_proc_start_tls(cert, key, cert);
	CHECK(e);
	CHECK(!strncmp(etcd_proc_endpoint(e), "https://", 8));
	tls_ca = cert;
	tls_cert = cert;
	tls_key = key;
	c = new_client_cfg(etcd_proc_endpoint(e), NULL, NULL, NULL);
	tls_ca = tls_cert = tls_key = NULL;
	CHECK(c);
	CHECK_EQ(etcd_put_str_sync(c, "tls/k", "secret"), 0);
	CHECK_EQ(etcd_get_str_sync(c, "tls/k", &s), 0);
	CHECK_STR(s, "secret");
	free(s);
	w = etcd_watch_create(c, &wq, auth_watch_cb, &aw);
	CHECK(w);
	{
		long long deadline = vt_now_ms() + 5000;

		while (!aw.created && vt_now_ms() < deadline)
			etcd_run(c, 20);
		CHECK_EQ(etcd_put_str_sync(c, "tls/k2", "x"), 0);
		while (!aw.events && vt_now_ms() < deadline)
			etcd_run(c, 20);
		CHECK_EQ(aw.events, 1);
	}
	etcd_watch_cancel(w);
	etcd_client_free(c);
	/* Without a client certificate / without the CA: refused. */
	tls_ca = cert;
	c = new_client_cfg(etcd_proc_endpoint(e), NULL, NULL, NULL);
	tls_ca = NULL;
	CHECK(c);
	{
		struct etcd_range_req q = { .key = "tls/k" };

		CHECK(etcd_range_sync(c, &q, &r) != 0);
		etcd_result_clear(&r);
	}
	etcd_client_free(c);
	tls_cert = cert;
	tls_key = key;
	c = new_client_cfg(etcd_proc_endpoint(e), NULL, NULL, NULL);
	tls_cert = tls_key = NULL;
	CHECK(c);
	{
		struct etcd_range_req q = { .key = "tls/k" };

		CHECK_EQ(etcd_range_sync(c, &q, &r), ETCD_E_CONNECT);
		etcd_result_clear(&r);
	}
	etcd_client_free(c);
out:
	tls_ca = tls_cert = tls_key = NULL;
	etcd_proc_free(e);
	unlink(cert);
	unlink(key);
	rmdir(dir);
}

int main(void)
{
	RUN(config_parsing);
	etcd = etcd_proc_start();
	if (!etcd) {
		fprintf(stderr, "cannot start etcd\n");
		return 1;
	}
	RUN(put_get);
	RUN(range_prefix_limit_revision);
	RUN(delete_keys);
	RUN(txn_cas);
	RUN(lease_expiry_and_keepalive);
	RUN(lease_revoke);
	RUN(async_many);
	RUN(external_loop);
	RUN(free_from_callback);
	RUN(auth_user_password);
	RUN(tls_client_certificates);
	etcd_proc_free(etcd);
	return vt_finish();
}

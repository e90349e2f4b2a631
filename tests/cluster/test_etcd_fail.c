/* etcd client failure handling: endpoint failover (dead, hanging and killed
 * endpoints) and a scripted fake server answering garbage of every kind.
 * Every case must end with a clean error within a bounded time. */
#include "check.h"
#include "base64.h"
#include "etcd.h"
#include "etcd_proc.h"
#include "fake_http.h"

#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct etcd_client *client_opts(const char *endpoints, int timeout_ms, int attempts, size_t max_body)
{
	struct etcd_config cfg;
	struct etcd_client *c;
	char err[256];

	etcd_config_init(&cfg);
	cfg.quick_timeout_ms = timeout_ms;
	cfg.slow_timeout_ms = 2000;
	cfg.max_attempts = attempts;
	if (max_body)
		cfg.max_body = max_body;
	if (etcd_config_add_endpoints(&cfg, endpoints, err, sizeof(err))) {
		fprintf(stderr, "endpoints: %s\n", err);
		etcd_config_free(&cfg);
		return NULL;
	}
	etcd_config_set(&cfg.prefix, "/vtf");
	c = etcd_client_new(&cfg, NULL, err, sizeof(err));
	if (!c)
		fprintf(stderr, "etcd_client_new: %s\n", err);
	etcd_config_free(&cfg);
	return c;
}

/* A loopback port nobody listens on (right now). */
static int dead_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 1;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	    !getsockname(fd, (struct sockaddr *)&a, &len))
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static int range1(struct etcd_client *c, const char *key, struct etcd_result *r)
{
	struct etcd_range_req q = { .key = key };

	return etcd_range_sync(c, &q, r);
}

static int put1(struct etcd_client *c, const char *key, const char *val)
{
	return etcd_put_str_sync(c, key, val);
}

/* ---- failover against real etcds ---- */

struct wrec {
	int created, retries, events, errors;
	int last_status;
	int64_t compact_rev;
	int64_t revs[16];
	char vals[16][64];
	bool cancel_on_retry;
	bool canceled;
};

static void wrec_cb(void *arg, struct etcd_watch *w, const struct etcd_watch_update *u)
{
	struct wrec *r = arg;

	switch (u->kind) {
	case ETCD_WATCH_CREATED:
		r->created++;
		break;
	case ETCD_WATCH_RETRY:
		r->retries++;
		r->last_status = u->status;
		if (r->cancel_on_retry) {
			etcd_watch_cancel(w);
			r->canceled = true;
		}
		break;
	case ETCD_WATCH_ERROR:
		r->errors++;
		r->last_status = u->status;
		r->compact_rev = u->compact_revision;
		break;
	case ETCD_WATCH_EVENTS:
		for (size_t i = 0; i < u->n_events; i++, r->events++) {
			if (r->events < 16) {
				r->revs[r->events] = u->events[i].kv.mod_revision;
				snprintf(r->vals[r->events], sizeof(r->vals[0]), "%.*s",
					(int)u->events[i].kv.value_len, u->events[i].kv.value);
			}
		}
		break;
	default:
		break;
	}
}

static bool run_while(struct etcd_client *c, int *counter, int target, int timeout_ms)
{
	long long deadline = vt_now_ms() + timeout_ms;

	while (*counter < target && vt_now_ms() < deadline)
		if (etcd_run(c, 20) == 1)
			vt_sleep_ms(5);
	return *counter >= target;
}

static void failover_dead_endpoint(struct etcd_proc *e)
{
	char eps[256];
	struct etcd_client *c;
	struct etcd_result r;
	struct wrec wr = { 0 };
	struct etcd_watch_req wq = { .key = "fo/", .prefix = true };
	struct etcd_watch *w;
	long long t0;
	int d1 = dead_port(), d2 = dead_port();

	snprintf(eps, sizeof(eps), "127.0.0.1:%d,%s", d1, etcd_proc_endpoint(e));
	c = client_opts(eps, 1000, 3, 0);
	CHECK(c);
	/* A put is retried too: the request never left the client. */
	CHECK_EQ(put1(c, "fo/a", "1"), 0);
	CHECK(strstr(etcd_current_endpoint(c), etcd_proc_endpoint(e)));
	CHECK_EQ(range1(c, "fo/a", &r), 0);
	CHECK_EQ(r.n_kvs, 1);
	etcd_result_clear(&r);
	w = etcd_watch_create(c, &wq, wrec_cb, &wr);
	CHECK(run_while(c, &wr.created, 1, 5000));
	CHECK_EQ(put1(c, "fo/b", "2"), 0);
	CHECK(run_while(c, &wr.events, 1, 5000));
	etcd_watch_cancel(w);
	etcd_client_free(c);

	/* Nothing alive: a connect error after max_attempts, quickly. */
	snprintf(eps, sizeof(eps), "127.0.0.1:%d,127.0.0.1:%d", d1, d2);
	c = client_opts(eps, 1000, 4, 0);
	CHECK(c);
	t0 = vt_now_ms();
	CHECK_EQ(range1(c, "fo/a", &r), ETCD_E_CONNECT);
	CHECK_MSG(strstr(r.errmsg, "after 4 attempts"), "%s", r.errmsg);
	etcd_result_clear(&r);
	CHECK_EQ(put1(c, "fo/a", "1"), ETCD_E_CONNECT);
	CHECK_MSG(vt_now_ms() - t0 < 3000, "took %lld ms", vt_now_ms() - t0);
	etcd_client_free(c);
}

static void failover_dead(void)
{
	struct etcd_proc *e = etcd_proc_start();

	CHECK(e);
	failover_dead_endpoint(e);
	etcd_proc_free(e);
}

/* First endpoint accepts but never answers: reads go on to the next one
 * after the timeout, writes report the timeout (they may have applied). */
static void failover_hanging_endpoint(void)
{
	struct etcd_proc *e = etcd_proc_start();
	struct fake_http *f = fake_http_start();
	struct fake_http_resp hang = fake_http_resp(200, "");
	struct etcd_client *c;
	struct etcd_result r;
	char eps[256];
	long long t0;

	CHECK(e && f);
	hang.chunked = true;
	hang.hold = true;
	fake_http_set(f, &hang);
	snprintf(eps, sizeof(eps), "%s,%s", fake_http_endpoint(f), etcd_proc_endpoint(e));
	c = client_opts(eps, 1000, 3, 0);
	CHECK(c);
	t0 = vt_now_ms();
	CHECK_EQ(put1(c, "hang/a", "1"), ETCD_E_TIMEOUT);
	CHECK_EQ(fake_http_requests(f), 1);
	CHECK_EQ(range1(c, "hang/a", &r), 0);
	CHECK_EQ(r.n_kvs, 0);
	etcd_result_clear(&r);
	CHECK_EQ(fake_http_requests(f), 2);
	/* The good endpoint is remembered. */
	CHECK_EQ(put1(c, "hang/a", "1"), 0);
	CHECK_EQ(fake_http_requests(f), 2);
	CHECK_MSG(vt_now_ms() - t0 < 8000, "took %lld ms", vt_now_ms() - t0);
	etcd_client_free(c);
	fake_http_stop(f);
	etcd_proc_free(e);
}

static void failover_kill_first(void)
{
	struct etcd_proc *e1 = etcd_proc_start(), *e2 = etcd_proc_start();
	struct etcd_client *c;
	struct etcd_result r;
	struct wrec wr = { 0 };
	struct etcd_watch_req wq = { .key = "kill/", .prefix = true };
	struct etcd_watch *w;
	char eps[256], key[32];

	CHECK(e1 && e2);
	snprintf(eps, sizeof(eps), "%s,%s", etcd_proc_endpoint(e1), etcd_proc_endpoint(e2));
	c = client_opts(eps, 1000, 3, 0);
	CHECK(c);
	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "kill/%d", i);
		CHECK_EQ(put1(c, key, "before"), 0);
	}
	CHECK(strstr(etcd_current_endpoint(c), etcd_proc_endpoint(e1)));
	w = etcd_watch_create(c, &wq, wrec_cb, &wr);
	CHECK(run_while(c, &wr.created, 1, 5000));
	CHECK_EQ(etcd_proc_kill(e1), 0);
	/* Pooled connections to e1 are dead now; everything moves to e2. */
	for (int i = 0; i < 20; i++) {
		snprintf(key, sizeof(key), "kill/%d", i);
		CHECK_EQ(put1(c, key, "after"), 0);
		CHECK_EQ(range1(c, key, &r), 0);
		CHECK_EQ(r.n_kvs, 1);
		CHECK_STR(r.kvs[0].value, "after");
		etcd_result_clear(&r);
	}
	CHECK(strstr(etcd_current_endpoint(c), etcd_proc_endpoint(e2)));
	CHECK(run_while(c, &wr.created, 2, 5000));
	CHECK(wr.retries >= 1);
	etcd_watch_cancel(w);
	etcd_client_free(c);
	etcd_proc_free(e1);
	etcd_proc_free(e2);
}

/* ---- the fake server ---- */

enum { ANY_TRANSPORT = 1000 };	/* ETCD_E_CONNECT or ETCD_E_RESPONSE */

struct fake_case {
	const char *name;
	int status;		/* HTTP status; 0: close without an answer */
	const char *body;
	enum etcd_op_type op;
	int expect;		/* etcd status, or ANY_TRANSPORT */
	int requests;		/* how many requests the server must see */
	const char *msg;	/* expected part of errmsg */
	bool chunked, hold;
	long cut;		/* cut_after; 0 = none */
	uint64_t filler, declared;
	int timeout;		/* per-request timeout, 0: the client's 1 s */
};

/* Designated, so that the optional fields may be left out. */
#define FC(n, st, b, o, e, rq, ...) { .name = n, .status = st, .body = b, .op = o, .expect = e, \
	.requests = rq, .msg = __VA_ARGS__ }

static const struct fake_case fake_cases[] = {
	FC("bad json", 200, "{\"header\":{\"revision\":\"1\"},\"kvs\":[", ETCD_OP_RANGE, ETCD_E_RESPONSE, 1, NULL),
	FC("not json", 200, "<html><body>hello</body></html>", ETCD_OP_RANGE, ETCD_E_RESPONSE, 1, NULL),
	FC("empty body", 200, "", ETCD_OP_RANGE, ETCD_E_RESPONSE, 1, "empty answer"),
	FC("truncated chunked (range)", 200, "{\"header\":{\"revision\":\"1\"},\"kvs\":[]}", ETCD_OP_RANGE,
		ANY_TRANSPORT, 2, NULL, .chunked = true, .cut = 12),
	FC("truncated chunked (put)", 200, "{\"header\":{\"revision\":\"1\"}}", ETCD_OP_PUT,
		ANY_TRANSPORT, 1, NULL, .chunked = true, .cut = 12),
	FC("closed mid-body (range)", 200, "{\"header\":{\"revision\":\"1\"},\"kvs\":[]}", ETCD_OP_RANGE,
		ANY_TRANSPORT, 2, NULL, .cut = 12),
	FC("closed mid-body (txn)", 200, "{\"header\":{\"revision\":\"1\"}}", ETCD_OP_TXN,
		ANY_TRANSPORT, 1, NULL, .cut = 12),
	FC("no answer (range)", 0, NULL, ETCD_OP_RANGE, ETCD_E_CONNECT, 2, NULL),
	FC("no answer (put)", 0, NULL, ETCD_OP_PUT, ETCD_E_CONNECT, 1, NULL),
	FC("500 text (range)", 500, "oops", ETCD_OP_RANGE, ETCD_E_HTTP, 2, "HTTP status 500"),
	FC("500 text (put)", 500, "oops", ETCD_OP_PUT, ETCD_E_HTTP, 1, "HTTP status 500"),
	FC("503 etcd error", 503, "{\"error\":\"etcdserver: leader changed\",\"message\":"
		"\"etcdserver: leader changed\",\"code\":14}", ETCD_OP_RANGE, ETCD_E_ETCD, 2, "leader changed"),
	FC("404", 404, "404 page not found", ETCD_OP_RANGE, ETCD_E_HTTP, 1, "HTTP status 404"),
	FC("huge chunked body", 200, "{\"header\":{},\"kvs\":[", ETCD_OP_RANGE, ETCD_E_RESPONSE, 1, "exceeds",
		.chunked = true, .filler = 100u << 20, .timeout = 10000),
	FC("huge declared length", 200, "{", ETCD_OP_RANGE, ETCD_E_RESPONSE, 1, "exceeds",
		.hold = true, .declared = 100u << 20),
	FC("hang (range)", 200, "", ETCD_OP_RANGE, ETCD_E_TIMEOUT, 2, NULL, .chunked = true, .hold = true),
	FC("hang (put)", 200, "", ETCD_OP_PUT, ETCD_E_TIMEOUT, 1, NULL, .chunked = true, .hold = true),
	FC("top-level array", 200, "[1,2]", ETCD_OP_RANGE, ETCD_E_RESPONSE, 1, "not a JSON object"),
	FC("no header", 200, "{\"kvs\":[]}", ETCD_OP_RANGE, ETCD_E_RESPONSE, 1, "header"),
	FC("revision not a number", 200, "{\"header\":{\"revision\":\"abc\"}}", ETCD_OP_RANGE,
		ETCD_E_RESPONSE, 1, "revision"),
	FC("kvs not an array", 200, "{\"header\":{},\"kvs\":{\"a\":1}}", ETCD_OP_RANGE, ETCD_E_RESPONSE, 1,
		"not an array"),
	FC("kv not an object", 200, "{\"header\":{},\"kvs\":[5]}", ETCD_OP_RANGE, ETCD_E_RESPONSE, 1, NULL),
	FC("value not base64", 200, "{\"header\":{},\"kvs\":[{\"key\":\"YQ==\",\"value\":\"!!!\"}]}",
		ETCD_OP_RANGE, ETCD_E_RESPONSE, 1, "value is not valid base64"),
	FC("key not base64", 200, "{\"header\":{},\"kvs\":[{\"key\":\"YQ\",\"value\":\"YQ==\"}]}",
		ETCD_OP_RANGE, ETCD_E_RESPONSE, 1, "key is not valid base64"),
	FC("key missing", 200, "{\"header\":{},\"kvs\":[{\"value\":\"YQ==\"}]}", ETCD_OP_RANGE,
		ETCD_E_RESPONSE, 1, NULL),
	FC("number is an object", 200, "{\"header\":{},\"kvs\":[{\"key\":\"YQ==\",\"version\":{}}]}",
		ETCD_OP_RANGE, ETCD_E_RESPONSE, 1, "version"),
	FC("txn responses not an array", 200, "{\"header\":{},\"succeeded\":true,\"responses\":5}", ETCD_OP_TXN,
		ETCD_E_RESPONSE, 1, NULL),
	FC("txn unknown response", 200, "{\"header\":{},\"responses\":[{\"response_x\":{}}]}", ETCD_OP_TXN,
		ETCD_E_RESPONSE, 1, NULL),
	FC("succeeded not a bool", 200, "{\"header\":{},\"succeeded\":\"yes\"}", ETCD_OP_TXN,
		ETCD_E_RESPONSE, 1, NULL),
	FC("keepalive without TTL", 200, "{\"result\":{\"header\":{},\"ID\":\"5\"}}", ETCD_OP_LEASE_KEEPALIVE,
		ETCD_E_NOLEASE, 1, "not found"),
	FC("keepalive stream error", 200, "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"boom\"}}",
		ETCD_OP_LEASE_KEEPALIVE, ETCD_E_ETCD, 1, "boom"),
	FC("keepalive result not an object", 200, "{\"result\":7}", ETCD_OP_LEASE_KEEPALIVE,
		ETCD_E_RESPONSE, 1, NULL),
	FC("grant error field", 200, "{\"header\":{},\"ID\":\"0\",\"error\":\"too many leases\"}",
		ETCD_OP_LEASE_GRANT, ETCD_E_ETCD, 1, "too many leases"),
	FC("grant without ID", 200, "{\"header\":{},\"TTL\":\"5\"}", ETCD_OP_LEASE_GRANT, ETCD_E_RESPONSE, 1, NULL),
};

static int run_op(struct etcd_client *c, enum etcd_op_type op, int timeout, struct etcd_result *r)
{
	switch (op) {
	case ETCD_OP_PUT: {
		struct etcd_put_req q = { .key = "k", .value = "v", .value_len = 1, .timeout_ms = timeout };

		return etcd_put_sync(c, &q, r);
	}
	case ETCD_OP_TXN: {
		struct etcd_txn_req q = { .timeout_ms = timeout };

		return etcd_txn_sync(c, &q, r);
	}
	case ETCD_OP_LEASE_KEEPALIVE:
		return etcd_lease_keepalive_sync(c, 5, r);
	case ETCD_OP_LEASE_GRANT:
		return etcd_lease_grant_sync(c, 5, 0, r);
	default: {
		struct etcd_range_req q = { .key = "k", .timeout_ms = timeout };

		return etcd_range_sync(c, &q, r);
	}
	}
}

static void fake_server_answers(void)
{
	struct fake_http *f = fake_http_start();
	struct etcd_client *c;
	char path[256];

	CHECK(f);
	c = client_opts(fake_http_endpoint(f), 1000, 2, 0);
	CHECK(c);
	for (size_t i = 0; i < sizeof(fake_cases) / sizeof(fake_cases[0]); i++) {
		const struct fake_case *fc = &fake_cases[i];
		struct fake_http_resp resp = fake_http_resp(fc->status, fc->body);
		struct etcd_result r;
		int before = fake_http_requests(f), rc;
		long long t0 = vt_now_ms(), took;

		resp.chunked = fc->chunked;
		resp.hold = fc->hold;
		resp.cut_after = fc->cut ? fc->cut : -1;
		resp.filler = fc->filler;
		resp.declared_len = fc->declared;
		fake_http_set(f, &resp);
		rc = run_op(c, fc->op, fc->timeout, &r);
		took = vt_now_ms() - t0;
		if (fc->expect == ANY_TRANSPORT)
			CHECK_MSG(rc == ETCD_E_CONNECT || rc == ETCD_E_RESPONSE, "%s: status %d (%s)",
				fc->name, rc, r.errmsg);
		else
			CHECK_MSG(rc == fc->expect, "%s: status %d, expected %d (%s)", fc->name, rc,
				fc->expect, r.errmsg);
		CHECK_MSG(r.status == rc && r.errmsg[0], "%s: no message", fc->name);
		CHECK_MSG(!fc->msg || strstr(r.errmsg, fc->msg), "%s: message \"%s\"", fc->name, r.errmsg);
		CHECK_MSG(fake_http_requests(f) - before == fc->requests, "%s: %d requests, expected %d",
			fc->name, fake_http_requests(f) - before, fc->requests);
		CHECK_MSG(took < 15000, "%s: took %lld ms", fc->name, took);
		etcd_result_clear(&r);
		CHECK_EQ(etcd_pending(c), 0);
	}
	CHECK_STR(fake_http_last_path(f, path, sizeof(path)), "/v3/lease/grant");
	etcd_client_free(c);
	fake_http_stop(f);
}

/* A well-formed answer from the fake: keys come back relative to the prefix. */
static void fake_server_good_answer(void)
{
	struct fake_http *f = fake_http_start();
	struct etcd_client *c;
	struct etcd_result r;
	char k1[64], k2[64], body[512], path[64];

	CHECK(f);
	b64_encode("/vtf/dir/x", 10, k1);
	b64_encode("/elsewhere", 10, k2);
	snprintf(body, sizeof(body), "{\"header\":{\"revision\":\"7\"},\"kvs\":[{\"key\":\"%s\",\"value\":\"eQ==\","
		"\"mod_revision\":\"7\",\"create_revision\":6,\"version\":\"2\",\"lease\":\"99\"},"
		"{\"key\":\"%s\"}],\"count\":\"2\",\"more\":true}", k1, k2);
	{
		struct fake_http_resp resp = fake_http_resp(200, body);

		resp.piece = 5;	/* dribbled out in tiny chunks */
		resp.chunked = true;
		fake_http_set(f, &resp);
	}
	c = client_opts(fake_http_endpoint(f), 2000, 2, 0);
	CHECK(c);
	CHECK_EQ(range1(c, "dir/x", &r), 0);
	CHECK_EQ(r.revision, 7);
	CHECK_EQ(r.count, 2);
	CHECK(r.more);
	CHECK_EQ(r.n_kvs, 2);
	CHECK_STR(r.kvs[0].key, "dir/x");
	CHECK_STR(r.kvs[0].full_key, "/vtf/dir/x");
	CHECK_STR(r.kvs[0].value, "y");
	CHECK_EQ(r.kvs[0].create_revision, 6);
	CHECK_EQ(r.kvs[0].version, 2);
	CHECK_EQ(r.kvs[0].lease, 99);
	CHECK_STR(r.kvs[1].key, "/elsewhere");
	CHECK_EQ(r.kvs[1].value_len, 0);
	etcd_result_clear(&r);
	CHECK_STR(fake_http_last_path(f, path, sizeof(path)), "/v3/kv/range");
	etcd_client_free(c);
	fake_http_stop(f);
}

/* ---- watches against the fake server ---- */

static void watch_fake(struct fake_http *f, struct etcd_client *c, const struct fake_http_resp *resp,
	struct wrec *wr, int (*field), int target)
{
	struct etcd_watch_req q = { .key = "w/", .prefix = true };
	struct etcd_watch *w;
	bool cancel_on_retry = wr->cancel_on_retry;

	memset(wr, 0, sizeof(*wr));
	wr->cancel_on_retry = cancel_on_retry;
	fake_http_set(f, resp);
	w = etcd_watch_create(c, &q, wrec_cb, wr);
	if (!w)
		return;
	run_while(c, field, target, 10000);
	if (!wr->canceled)
		etcd_watch_cancel(w);
}

static void fake_watch_streams(void)
{
	struct fake_http *f = fake_http_start();
	struct etcd_client *c;
	struct wrec wr = { 0 };
	struct fake_http_resp resp;
	struct strbuf sb;
	char k[64], v1[64], v2[64];

	CHECK(f);
	c = client_opts(fake_http_endpoint(f), 1000, 2, 0);
	CHECK(c);
	b64_encode("/vtf/w/a", 8, k);
	b64_encode("}{\"[", 4, v1);
	b64_encode("v\\2", 3, v2);
	/* Messages split everywhere, strings full of brackets and escapes,
	 * two messages in one piece, blank lines between them. */
	sb_init(&sb);
	sb_printf(&sb, "{\"result\":{\"header\":{\"revision\":\"10\"},\"created\":true}}\n"
		"{\"result\":{\"header\":{\"revision\":\"11\"},\"junk\":\"}}]]\\\"{{\\\\\",\"events\":["
		"{\"kv\":{\"key\":\"%s\",\"value\":\"%s\",\"mod_revision\":\"11\"}}]}}\r\n\n"
		"{\"result\":{\"header\":{\"revision\":\"13\"},\"events\":["
		"{\"kv\":{\"key\":\"%s\",\"value\":\"%s\",\"mod_revision\":\"12\"}},"
		"{\"type\":\"DELETE\",\"kv\":{\"key\":\"%s\",\"mod_revision\":\"13\"}}]}}"
		"{\"result\":{\"header\":{\"revision\":\"20\"}}}",
		k, v1, k, v2, k);
	resp = fake_http_resp(200, sb.buf);
	resp.chunked = true;
	resp.piece = 7;
	resp.hold = true;
	watch_fake(f, c, &resp, &wr, &wr.events, 3);
	CHECK_EQ(wr.created, 1);
	CHECK_EQ(wr.events, 3);
	CHECK_EQ(wr.revs[0], 11);
	CHECK_EQ(wr.revs[2], 13);
	CHECK_STR(wr.vals[0], "}{\"[");
	CHECK_STR(wr.vals[1], "v\\2");
	CHECK_EQ(wr.retries, 0);

	/* The same stream again, whole: the progress message after the events
	 * moves the resume point past them. */
	resp.piece = 0;
	{
		struct etcd_watch_req q = { .key = "w/", .prefix = true };
		struct etcd_watch *w;
		long long deadline = vt_now_ms() + 5000;

		memset(&wr, 0, sizeof(wr));
		fake_http_set(f, &resp);
		w = etcd_watch_create(c, &q, wrec_cb, &wr);
		CHECK(w);
		while (etcd_watch_next_revision(w) != 21 && vt_now_ms() < deadline)
			etcd_run(c, 20);
		CHECK_EQ(etcd_watch_next_revision(w), 21);
		etcd_watch_cancel(w);
	}
	sb_free(&sb);

	/* Garbage after a good message: a retry with a clean error. */
	resp = fake_http_resp(200, "{\"result\":{\"header\":{\"revision\":\"3\"},\"created\":true}}\nxyz");
	resp.chunked = true;
	resp.hold = true;
	wr.cancel_on_retry = true;	/* cancelled from inside its callback */
	watch_fake(f, c, &resp, &wr, &wr.retries, 1);
	CHECK_EQ(wr.retries, 1);
	CHECK(wr.canceled);
	CHECK_EQ(wr.last_status, ETCD_E_RESPONSE);
	wr.cancel_on_retry = false;

	/* Valid JSON, wrong shape. */
	resp = fake_http_resp(200, "{\"result\":{\"events\":[{\"kv\":{\"key\":5}}]}}");
	resp.chunked = true;
	resp.hold = true;
	watch_fake(f, c, &resp, &wr, &wr.retries, 1);
	CHECK_EQ(wr.last_status, ETCD_E_RESPONSE);
	resp = fake_http_resp(200, "[1]");
	resp.chunked = true;
	resp.hold = true;
	watch_fake(f, c, &resp, &wr, &wr.retries, 1);
	CHECK_EQ(wr.last_status, ETCD_E_RESPONSE);

	/* HTTP errors, with and without an etcd error body. */
	resp = fake_http_resp(500, "nope");
	watch_fake(f, c, &resp, &wr, &wr.retries, 2);
	CHECK_EQ(wr.retries, 2);
	CHECK_EQ(wr.last_status, ETCD_E_HTTP);
	resp = fake_http_resp(400, "{\"error\":\"bad\",\"message\":\"bad request\",\"code\":3}");
	watch_fake(f, c, &resp, &wr, &wr.retries, 1);
	CHECK_EQ(wr.last_status, ETCD_E_ETCD);

	/* Stream ends / breaks mid-message. */
	resp = fake_http_resp(200, "{\"result\":{\"header\":{\"revision\":\"3\"},\"created\":true}}\n{\"res");
	resp.chunked = true;
	watch_fake(f, c, &resp, &wr, &wr.retries, 1);
	CHECK_EQ(wr.created, 1);
	CHECK_EQ(wr.last_status, ETCD_E_CONNECT);
	resp.cut_after = 70;
	watch_fake(f, c, &resp, &wr, &wr.retries, 2);
	CHECK_EQ(wr.retries, 2);

	/* Compaction reported by the server: final, with the revision. */
	resp = fake_http_resp(200, "{\"result\":{\"header\":{\"revision\":\"50\"},\"created\":true}}"
		"{\"result\":{\"header\":{},\"canceled\":true,\"compact_revision\":\"42\"}}");
	resp.chunked = true;
	resp.hold = true;
	watch_fake(f, c, &resp, &wr, &wr.errors, 1);
	CHECK_EQ(wr.errors, 1);
	CHECK_EQ(wr.last_status, ETCD_E_COMPACTED);
	CHECK_EQ(wr.compact_rev, 42);
	CHECK_EQ(wr.retries, 0);

	/* Canceled for another reason: final etcd error. */
	resp = fake_http_resp(200, "{\"result\":{\"header\":{},\"created\":true,\"canceled\":true,"
		"\"cancel_reason\":\"permission denied\"}}");
	resp.chunked = true;
	resp.hold = true;
	watch_fake(f, c, &resp, &wr, &wr.errors, 1);
	CHECK_EQ(wr.last_status, ETCD_E_ETCD);
	CHECK_EQ(wr.created, 0);

	/* A message bigger than the bound: refused without buffering it all. */
	etcd_client_free(c);
	c = client_opts(fake_http_endpoint(f), 1000, 2, 1 << 20);
	CHECK(c);
	resp = fake_http_resp(200, "{\"result\":{\"header\":{\"revision\":\"3\"},\"created\":true}}"
		"{\"result\":{\"junk\":\"");
	resp.chunked = true;
	resp.filler = 100u << 20;
	resp.hold = true;
	{
		long long t0 = vt_now_ms();

		watch_fake(f, c, &resp, &wr, &wr.retries, 1);
		CHECK_EQ(wr.retries, 1);
		CHECK_EQ(wr.last_status, ETCD_E_RESPONSE);
		CHECK(vt_now_ms() - t0 < 10000);
	}
	etcd_client_free(c);
	fake_http_stop(f);
}

int main(void)
{
	RUN(fake_server_answers);
	RUN(fake_server_good_answer);
	RUN(fake_watch_streams);
	RUN(failover_dead);
	RUN(failover_hanging_endpoint);
	RUN(failover_kill_first);
	return vt_finish();
}

/* etcd watches against a real etcd: order, history, prev_kv, resume across
 * an etcd restart, compaction, cancellation from callbacks. */
#include "check.h"
#include "etcd.h"
#include "etcd_proc.h"

#include <stdlib.h>
#include <time.h>

static struct etcd_proc *etcd;

static struct etcd_client *client_at(const char *endpoints)
{
	struct etcd_config cfg;
	struct etcd_client *c;
	char err[256];

	etcd_config_init(&cfg);
	cfg.quick_timeout_ms = 1000;
	cfg.max_attempts = 3;
	if (etcd_config_add_endpoints(&cfg, endpoints, err, sizeof(err))) {
		etcd_config_free(&cfg);
		return NULL;
	}
	etcd_config_set(&cfg.prefix, "/vtw");
	c = etcd_client_new(&cfg, NULL, err, sizeof(err));
	if (!c)
		fprintf(stderr, "etcd_client_new: %s\n", err);
	etcd_config_free(&cfg);
	return c;
}

/* Everything a watch reported. */
struct rec {
	int created, retries, progress, errors;
	int last_status;
	int64_t compact_rev, created_rev;
	int n;
	int64_t revs[2048];
	bool is_delete[2048];
	bool has_prev[2048];
	char keys[2048][24];
	char vals[2048][24];
	char prev_vals[2048][24];
	bool out_of_order;
	bool cancel_on_event;	/* cancel the watch from its callback */
	struct etcd_watch *cancel_other;	/* cancel this one from the callback */
	int calls_after_cancel;
	bool canceled;
};

static void rec_cb(void *arg, struct etcd_watch *w, const struct etcd_watch_update *u)
{
	struct rec *r = arg;

	if (r->canceled)
		r->calls_after_cancel++;
	switch (u->kind) {
	case ETCD_WATCH_CREATED:
		r->created++;
		r->created_rev = u->revision;
		break;
	case ETCD_WATCH_RETRY:
		r->retries++;
		r->last_status = u->status;
		break;
	case ETCD_WATCH_PROGRESS:
		r->progress++;
		break;
	case ETCD_WATCH_ERROR:
		r->errors++;
		r->last_status = u->status;
		r->compact_rev = u->compact_revision;
		break;
	case ETCD_WATCH_EVENTS:
		for (size_t i = 0; i < u->n_events && r->n < 2048; i++) {
			const struct etcd_event *e = &u->events[i];

			if (r->n && e->kv.mod_revision <= r->revs[r->n - 1])
				r->out_of_order = true;
			r->revs[r->n] = e->kv.mod_revision;
			r->is_delete[r->n] = e->is_delete;
			r->has_prev[r->n] = e->has_prev_kv;
			snprintf(r->keys[r->n], sizeof(r->keys[0]), "%s", e->kv.key);
			snprintf(r->vals[r->n], sizeof(r->vals[0]), "%s", e->kv.value);
			snprintf(r->prev_vals[r->n], sizeof(r->prev_vals[0]), "%s",
				e->has_prev_kv ? e->prev_kv.value : "");
			r->n++;
		}
		break;
	}
	if (r->cancel_other) {
		etcd_watch_cancel(r->cancel_other);
		r->cancel_other = NULL;
	}
	if (r->cancel_on_event && u->kind == ETCD_WATCH_EVENTS) {
		etcd_watch_cancel(w);
		r->canceled = true;
	}
}

/* Runs c until cond(r) or the timeout. */
static bool wait_rec(struct etcd_client *c, struct rec *r, int timeout_ms, bool (*cond)(const struct rec *, int),
	int arg)
{
	long long deadline = vt_now_ms() + timeout_ms;

	while (!cond(r, arg) && vt_now_ms() < deadline)
		if (etcd_run(c, 20) == 1)
			vt_sleep_ms(5);
	return cond(r, arg);
}

static bool has_created(const struct rec *r, int n)
{
	return r->created >= n;
}

static bool has_events(const struct rec *r, int n)
{
	return r->n >= n;
}

static bool has_error(const struct rec *r, int n)
{
	return r->errors >= n;
}

struct counter {
	int ok, failed, expected;
};

static void count_cb(void *arg, struct etcd_result *res)
{
	struct counter *n = arg;

	if (res->status == ETCD_OK)
		n->ok++;
	else
		n->failed++;
}

static void watch_order(void)
{
	struct etcd_client *c = client_at(etcd_proc_endpoint(etcd));
	struct rec *r = calloc(1, sizeof(*r));
	struct etcd_watch_req q = { .key = "order/", .prefix = true };
	struct etcd_watch *w;
	struct counter n = { .expected = 500 };
	char key[32], val[32];

	CHECK(c && r);
	w = etcd_watch_create(c, &q, rec_cb, r);
	CHECK(w);
	CHECK(wait_rec(c, r, 5000, has_created, 1));
	CHECK_EQ(etcd_watch_next_revision(w), r->created_rev + 1);
	/* Many puts in flight at once, over several connections. */
	for (int i = 0; i < n.expected; i++) {
		struct etcd_put_req p = { .key = key, .value = val };

		snprintf(key, sizeof(key), "order/%d", i % 37);
		snprintf(val, sizeof(val), "%d", i);
		p.value_len = strlen(val);
		CHECK_EQ(etcd_put(c, &p, count_cb, &n), 0);
	}
	CHECK(wait_rec(c, r, 20000, has_events, n.expected));
	etcd_run(c, 100);
	CHECK_EQ(n.ok, n.expected);
	CHECK_EQ(r->n, n.expected);
	CHECK(!r->out_of_order);
	CHECK_EQ(r->revs[r->n - 1] - r->revs[0], n.expected - 1);
	CHECK_EQ(etcd_watch_next_revision(w), r->revs[r->n - 1] + 1);
	CHECK_EQ(r->retries, 0);
	etcd_watch_cancel(w);
	etcd_client_free(c);
	free(r);
}

static void watch_history_prev_kv_delete(void)
{
	struct etcd_client *c = client_at(etcd_proc_endpoint(etcd));
	struct rec *r = calloc(1, sizeof(*r));
	struct etcd_watch_req q = { .key = "hist/a", .prev_kv = true };
	struct etcd_put_req p = { .key = "hist/a", .value = "1", .value_len = 1 };
	struct etcd_delete_req d = { .key = "hist/a" };
	struct etcd_result res;
	struct etcd_watch *w;
	int64_t first;

	CHECK(c && r);
	CHECK_EQ(etcd_put_sync(c, &p, &res), 0);
	first = res.revision;
	etcd_result_clear(&res);
	p.value = "2";
	CHECK_EQ(etcd_put_sync(c, &p, &res), 0);
	etcd_result_clear(&res);
	CHECK_EQ(etcd_put_str_sync(c, "hist/b", "other key"), 0);
	CHECK_EQ(etcd_delete_sync(c, &d, &res), 0);
	etcd_result_clear(&res);
	/* Replay from the first put. */
	q.start_revision = first;
	w = etcd_watch_create(c, &q, rec_cb, r);
	CHECK(w);
	CHECK(wait_rec(c, r, 5000, has_events, 3));
	etcd_run(c, 100);
	CHECK_EQ(r->n, 3);
	CHECK_EQ(r->revs[0], first);
	CHECK_STR(r->vals[0], "1");
	CHECK(!r->is_delete[0]);
	CHECK_STR(r->vals[1], "2");
	CHECK(r->has_prev[1]);
	CHECK_STR(r->prev_vals[1], "1");
	CHECK(r->is_delete[2]);
	CHECK_STR(r->keys[2], "hist/a");
	CHECK_STR(r->prev_vals[2], "2");
	CHECK_EQ(r->created, 1);
	etcd_watch_cancel(w);
	etcd_client_free(c);
	free(r);
}

/* Events A, etcd restart, events B written as soon as etcd is back: every
 * event exactly once and in order. */
static void watch_resume_across_restart(void)
{
	struct etcd_proc *e = etcd_proc_start();
	struct etcd_client *c, *writer;
	struct rec *r = calloc(1, sizeof(*r));
	struct etcd_watch_req q = { .key = "res/", .prefix = true };
	struct etcd_watch *w;
	char key[32], val[32];
	int total = 0;

	CHECK(e && r);
	c = client_at(etcd_proc_endpoint(e));
	writer = client_at(etcd_proc_endpoint(e));
	CHECK(c && writer);
	w = etcd_watch_create(c, &q, rec_cb, r);
	CHECK(w);
	CHECK(wait_rec(c, r, 5000, has_created, 1));
	for (int round = 0; round < 2; round++) {
		/* A: written while the watcher does not run; it reads them (or
		 * not) before etcd goes down. */
		for (int i = 0; i < 20; i++, total++) {
			snprintf(key, sizeof(key), "res/%d", total);
			snprintf(val, sizeof(val), "%d", total);
			CHECK_EQ(etcd_put_str_sync(writer, key, val), 0);
		}
		if (round == 0)
			etcd_run(c, 30);
		CHECK_EQ(etcd_proc_stop(e), 0);
		/* The watcher notices and retries against a dead etcd. */
		etcd_run(c, 300);
		CHECK(etcd_proc_restart(e));
		/* B: right away, while the watcher is still reconnecting. */
		for (int i = 0; i < 20; i++, total++) {
			snprintf(key, sizeof(key), "res/%d", total);
			snprintf(val, sizeof(val), "%d", total);
			CHECK_EQ(etcd_put_str_sync(writer, key, val), 0);
		}
		/* The first round catches up before the second restart. */
		if (round == 0) {
			CHECK(wait_rec(c, r, 15000, has_events, total));
			CHECK_EQ(r->created, 2);
		}
	}
	CHECK(wait_rec(c, r, 15000, has_events, total));
	etcd_run(c, 200);
	CHECK_EQ(r->n, total);
	CHECK(!r->out_of_order);
	for (int i = 0; i < total; i++) {
		snprintf(val, sizeof(val), "%d", i);
		CHECK_STR(r->vals[i], val);
	}
	CHECK(r->retries >= 2);
	CHECK_MSG(r->created >= 3, "created %d retries %d", r->created, r->retries);
	CHECK_EQ(r->errors, 0);
	etcd_watch_cancel(w);
	etcd_client_free(c);
	etcd_client_free(writer);
	etcd_proc_free(e);
	free(r);
}

static void watch_compaction(void)
{
	struct etcd_client *c = client_at(etcd_proc_endpoint(etcd));
	struct rec *r = calloc(1, sizeof(*r));
	struct etcd_watch_req q = { .key = "cmp/", .prefix = true };
	struct etcd_result res;
	struct etcd_watch *w;
	int64_t old, now;

	CHECK(c && r);
	CHECK_EQ(etcd_put_str_sync(c, "cmp/a", "1"), 0);
	{
		struct etcd_range_req rq = { .key = "cmp/a" };

		CHECK_EQ(etcd_range_sync(c, &rq, &res), 0);
		old = res.kvs[0].mod_revision;
		etcd_result_clear(&res);
	}
	CHECK_EQ(etcd_put_str_sync(c, "cmp/a", "2"), 0);
	CHECK_EQ(etcd_put_str_sync(c, "cmp/a", "3"), 0);
	{
		struct etcd_range_req rq = { .key = "cmp/a" };

		CHECK_EQ(etcd_range_sync(c, &rq, &res), 0);
		now = res.revision;
		etcd_result_clear(&res);
	}
	CHECK_EQ(etcd_compact_sync(c, now, true, &res), 0);
	etcd_result_clear(&res);
	/* A watch from before the compaction. */
	q.start_revision = old;
	w = etcd_watch_create(c, &q, rec_cb, r);
	CHECK(w);
	CHECK(wait_rec(c, r, 5000, has_error, 1));
	CHECK_EQ(r->last_status, ETCD_E_COMPACTED);
	CHECK_EQ(r->compact_rev, now);
	CHECK_EQ(r->n, 0);
	/* Stopped: no reconnects, nothing pending. */
	etcd_run(c, 200);
	CHECK_EQ(r->errors, 1);
	CHECK_EQ(r->retries, 0);
	CHECK_EQ(etcd_pending(c), 0);
	etcd_watch_cancel(w);
	/* A range at the compacted revision. */
	{
		struct etcd_range_req rq = { .key = "cmp/a", .revision = old };

		CHECK_EQ(etcd_range_sync(c, &rq, &res), ETCD_E_COMPACTED);
		CHECK(strstr(res.errmsg, "compacted"));
		etcd_result_clear(&res);
	}
	/* Re-create from the compact revision: works. */
	memset(r, 0, sizeof(*r));
	q.start_revision = now;
	w = etcd_watch_create(c, &q, rec_cb, r);
	CHECK(wait_rec(c, r, 5000, has_events, 1));
	CHECK_STR(r->vals[0], "3");
	etcd_watch_cancel(w);
	etcd_client_free(c);
	free(r);
}

static void watch_cancel_from_callbacks(void)
{
	struct etcd_client *c = client_at(etcd_proc_endpoint(etcd));
	struct rec *r1 = calloc(1, sizeof(*r1)), *r2 = calloc(1, sizeof(*r2)), *r3 = calloc(1, sizeof(*r3));
	struct etcd_watch_req q = { .key = "cancel/", .prefix = true };
	struct etcd_watch *w1, *w2, *w3;

	CHECK(c && r1 && r2 && r3);
	w1 = etcd_watch_create(c, &q, rec_cb, r1);
	w2 = etcd_watch_create(c, &q, rec_cb, r2);
	w3 = etcd_watch_create(c, &q, rec_cb, r3);
	CHECK(w1 && w2 && w3);
	CHECK(wait_rec(c, r1, 5000, has_created, 1));
	CHECK(wait_rec(c, r2, 5000, has_created, 1));
	CHECK(wait_rec(c, r3, 5000, has_created, 1));
	r1->cancel_on_event = true;	/* w1 cancels itself */
	r2->cancel_other = w3;		/* w2 cancels w3 on its next callback */
	CHECK_EQ(etcd_put_str_sync(c, "cancel/x", "1"), 0);
	CHECK(wait_rec(c, r1, 5000, has_events, 1));
	CHECK(wait_rec(c, r2, 5000, has_events, 1));
	CHECK_EQ(etcd_put_str_sync(c, "cancel/y", "2"), 0);
	CHECK(wait_rec(c, r2, 5000, has_events, 2));
	etcd_run(c, 100);
	CHECK_EQ(r1->n, 1);
	CHECK_EQ(r1->calls_after_cancel, 0);
	CHECK(r3->n <= 1);
	CHECK_EQ(etcd_pending(c), 1);
	etcd_watch_cancel(w2);
	CHECK_EQ(etcd_pending(c), 0);
	etcd_client_free(c);
	free(r1);
	free(r2);
	free(r3);
}

int main(void)
{
	etcd = etcd_proc_start();
	if (!etcd) {
		fprintf(stderr, "cannot start etcd\n");
		return 1;
	}
	RUN(watch_order);
	RUN(watch_history_prev_kv_delete);
	RUN(watch_resume_across_restart);
	RUN(watch_compaction);
	RUN(watch_cancel_from_callbacks);
	etcd_proc_free(etcd);
	return vt_finish();
}

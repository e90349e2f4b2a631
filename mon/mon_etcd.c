/* The monitor's etcd side (mon.h): lease, mon/member/<lease>, election of
 * mon/master, the mirror of the whole prefix, and guarded write batches.
 *
 * Start: grant the lease (TTL etcd_mon_ttl + etcd_mon_timeout/1000 x
 * etcd_mon_retries, spec §9), put mon/member/<lease>, load everything with
 * one range, watch the prefix from the next revision, then try to create
 * mon/master (compare create_revision == 0). A standby tries again when the
 * watch shows mon/master deleted (the master's lease expired or it was
 * revoked at shutdown). Keepalive every second; a lost lease (etcd says so,
 * or no successful keepalive for a whole TTL) ends mastership at once and
 * starts over with a new lease. Every write is guarded by mon/master's
 * lease being ours, so a monitor that lost mastership cannot write. */
#include "mon.h"

#include "log.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RETRY_MS 1000
#define KEEPALIVE_MS 1000
#define BATCH 60

static void lease_grant(struct mon *m);
static void load(struct mon *m);
static void elect(struct mon *m);

static uint64_t now_ns(void)
{
	return ringloop_now_ns();
}

static void retry_later(struct mon *m)
{
	if (!m->stopping)
		ringloop_timer_add(m->rl, &m->retry_t, now_ns() + RETRY_MS * 1000000ull);
}

static void retry_cb(struct ringloop_timer *t)
{
	struct mon *m = (struct mon *)(void *)((char *)t - offsetof(struct mon, retry_t));

	if (m->stopping)
		return;
	if (m->state == MS_LEASE)
		lease_grant(m);
	else if (m->state == MS_LOAD)
		load(m);
	else if (m->state == MS_RUN && !m->master)
		elect(m);
}

static bool gone(struct mon *m, struct etcd_result *r)
{
	return r->status == ETCD_E_CANCELED || m->stopping;
}

/* {"ip":[...],"hostname":"..."} plus ,"id":"<lease>" for mon/master. */
static char *identity_json(const struct mon *m, bool with_id)
{
	struct ifaddrs *ifa = NULL;
	struct strbuf sb;
	char host[256];
	int n = 0;

	if (gethostname(host, sizeof(host) - 1) < 0)
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = 0;
	sb_init(&sb);
	sb_puts(&sb, "{\"ip\":[");
	if (!getifaddrs(&ifa)) {
		for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
			char buf[INET_ADDRSTRLEN];

			if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
			    (i->ifa_flags & IFF_LOOPBACK) || !(i->ifa_flags & IFF_UP))
				continue;
			inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, buf,
				  sizeof(buf));
			sb_puts(&sb, n++ ? "," : "");
			sb_json_str(&sb, buf);
		}
		freeifaddrs(ifa);
	}
	sb_puts(&sb, "],\"hostname\":");
	sb_json_str(&sb, host);
	if (with_id)
		sb_printf(&sb, ",\"id\":\"%" PRId64 "\"", m->lease);
	sb_puts(&sb, "}");
	if (sb.oom) {
		sb_free(&sb);
		return NULL;
	}
	return sb.buf;
}

/* ---- lease and membership ---- */

static void lost_master(struct mon *m, const char *why)
{
	if (m->master)
		log_err("no longer the master monitor: %s", why);
	m->master = false;
}

static void member_cb(void *arg, struct etcd_result *r)
{
	struct mon *m = arg;

	if (gone(m, r))
		return;
	if (r->status) {
		log_warn("etcd: putting %s failed: %s %s; retrying", m->member_key,
			 etcd_strerror(r->status), r->errmsg);
		retry_later(m);
		return;
	}
	if (m->watch) {		/* a new lease after losing one: the mirror runs */
		m->state = MS_RUN;
		elect(m);
	} else {
		m->state = MS_LOAD;
		load(m);
	}
}

static void member_put(struct mon *m)
{
	struct etcd_put_req req = { .key = m->member_key, .lease = m->lease };

	m->state = MS_MEMBER;
	snprintf(m->member_key, sizeof(m->member_key), "mon/member/%" PRId64, m->lease);
	req.value = m->member_json;
	req.value_len = strlen(m->member_json);
	if (etcd_put(m->ec, &req, member_cb, m))
		retry_later(m);
}

static void lease_cb(void *arg, struct etcd_result *r)
{
	struct mon *m = arg;

	if (gone(m, r))
		return;
	if (r->status) {
		log_warn("etcd: lease grant failed: %s %s; retrying", etcd_strerror(r->status),
			 r->errmsg);
		retry_later(m);
		return;
	}
	m->lease = r->lease_id;
	m->last_keepalive_ns = now_ns();
	log_info("etcd: lease %" PRId64 " (TTL %" PRId64 " s)", m->lease, m->lease_ttl);
	member_put(m);
}

static void lease_grant(struct mon *m)
{
	m->state = MS_LEASE;
	m->lease = 0;
	if (etcd_lease_grant(m->ec, m->lease_ttl, 0, lease_cb, m))
		retry_later(m);
}

static void keepalive_cb(void *arg, struct etcd_result *r)
{
	struct mon *m = arg;

	m->keepalive_inflight = false;
	if (gone(m, r))
		return;
	if (r->status == ETCD_E_NOLEASE) {
		log_err("etcd: lease %" PRId64 " expired; starting over with a new one", m->lease);
		lost_master(m, "its lease expired");
		lease_grant(m);
		return;
	}
	if (r->status) {
		log_warn("etcd: lease keepalive failed: %s %s", etcd_strerror(r->status), r->errmsg);
		if (now_ns() - m->last_keepalive_ns > (uint64_t)m->lease_ttl * 1000000000ull)
			lost_master(m, "no keepalive got through for a whole lease TTL");
		return;
	}
	m->last_keepalive_ns = now_ns();
}

static void keepalive_timer(struct ringloop_timer *t)
{
	struct mon *m = (struct mon *)(void *)((char *)t - offsetof(struct mon, keepalive_t));

	if (m->stopping)
		return;
	if (m->lease && m->state >= MS_MEMBER && !m->keepalive_inflight &&
	    !etcd_lease_keepalive(m->ec, m->lease, keepalive_cb, m))
		m->keepalive_inflight = true;
	ringloop_timer_add(m->rl, &m->keepalive_t, now_ns() + KEEPALIVE_MS * 1000000ull);
}

/* ---- election ---- */

static void elect_cb(void *arg, struct etcd_result *r)
{
	struct mon *m = arg;
	const struct etcd_kv *kv = NULL;

	m->elect_inflight = false;
	if (gone(m, r))
		return;
	if (r->status) {
		log_warn("etcd: election txn failed: %s %s; retrying", etcd_strerror(r->status),
			 r->errmsg);
		retry_later(m);
		return;
	}
	if (!r->succeeded && r->n_responses && r->responses[0].n_kvs)
		kv = &r->responses[0].kvs[0];
	if (r->succeeded || (kv && kv->lease == m->lease)) {
		if (!m->master)
			log_info("master monitor now (lease %" PRId64 ")", m->lease);
		m->master = true;
		m->place_dirty = true;
		mon_schedule_place(m);
		mon_schedule_stats(m);
		return;
	}
	if (!kv) {		/* deleted in between: try again */
		retry_later(m);
		return;
	}
	log_info("standby: the master monitor is %.*s", (int)kv->value_len, kv->value);
}

static void elect(struct mon *m)
{
	struct etcd_compare cmp = { .key = "mon/master", .target = ETCD_CMP_CREATE,
		.op = ETCD_CMP_EQUAL, .number = 0 };
	struct etcd_txn_op ok = { .type = ETCD_OP_PUT }, fail = { .type = ETCD_OP_RANGE };
	struct etcd_txn_req req = { .compare = &cmp, .n_compare = 1, .success = &ok,
		.n_success = 1, .failure = &fail, .n_failure = 1 };
	char *val;

	if (m->elect_inflight || m->master || !m->lease || m->stopping)
		return;
	val = identity_json(m, true);
	if (!val) {
		retry_later(m);
		return;
	}
	ok.put.key = "mon/master";
	ok.put.value = val;
	ok.put.value_len = strlen(val);
	ok.put.lease = m->lease;
	fail.range.key = "mon/master";
	if (etcd_txn(m->ec, &req, elect_cb, m) == 0)
		m->elect_inflight = true;
	else
		retry_later(m);
	free(val);
}

/* ---- the mirror ---- */

/* What a changed key means for the monitor. */
static void changed(struct mon *m, const char *key, bool deleted, json_t old)
{
	if (!strcmp(key, "config/global")) {
		if (cfg_merge_etcd(m->cfg, kv_json(&m->kv, key)) < 0)
			log_err("etcd config/global: %s; keeping the previous settings",
				cfg_error(m->cfg));
		mon_schedule_place(m);
	} else if (!strncmp(key, "config/", 7) || !strncmp(key, "osd/state/", 10)) {
		mon_schedule_place(m);
	} else if (!strncmp(key, "osd/stats/", 10)) {
		json_t now = kv_json(&m->kv, key);
		json_t a = json_get(old, "size"), b = json_get(now, "size");
		const char *ha = json_str(json_get(old, "host")), *hb = json_str(json_get(now, "host"));
		uint64_t sa = 0, sb = 1;

		/* the placement tree only cares about size and host */
		if (deleted || !a || !b || json_u64(a, &sa) || json_u64(b, &sb) || sa != sb ||
		    !ha != !hb || (ha && strcmp(ha, hb)))
			mon_schedule_place(m);
		mon_schedule_stats(m);
	} else if (!strncmp(key, "pg/state/", 9)) {
		mon_schedule_place(m);	/* pg_count changes wait for it; last_clean_pgs */
		mon_schedule_stats(m);
	} else if (!strncmp(key, "pg/stats/", 9) || !strncmp(key, "osd/inodestats/", 15) ||
		   !strncmp(key, "osd/space/", 10)) {
		mon_schedule_stats(m);
	} else if (!strcmp(key, "mon/master")) {
		struct kv_entry *e = kv_get(&m->kv, key);

		if (m->master && (!e || e->lease != m->lease))
			lost_master(m, "mon/master is not under our lease any more");
		if (!e && !m->master)
			elect(m);
	}
}

static void watch_cb(void *arg, struct etcd_watch *w, const struct etcd_watch_update *u);

static void watch_start(struct mon *m)
{
	struct etcd_watch_req wr = { .key = "", .prefix = true, .start_revision = m->rev + 1 };

	m->watch = etcd_watch_create(m->ec, &wr, watch_cb, m);
	if (!m->watch)
		log_err("etcd: cannot create the watch");
}

static void watch_cb(void *arg, struct etcd_watch *w, const struct etcd_watch_update *u)
{
	struct mon *m = arg;

	if (m->stopping)
		return;
	switch (u->kind) {
	case ETCD_WATCH_CREATED:
	case ETCD_WATCH_PROGRESS:
		break;
	case ETCD_WATCH_RETRY:
		if (u->failures == 1 || u->failures % 10 == 0)
			log_warn("etcd: watch broke (%s); reconnecting", u->errmsg ? u->errmsg : "?");
		break;
	case ETCD_WATCH_ERROR:
		log_warn("etcd: watch ended (%s); loading everything again",
			 u->errmsg ? u->errmsg : etcd_strerror(u->status));
		etcd_watch_cancel(w);
		m->watch = NULL;
		m->state = MS_LOAD;
		load(m);
		break;
	case ETCD_WATCH_EVENTS:
		for (size_t i = 0; i < u->n_events; i++) {
			const struct etcd_event *ev = &u->events[i];
			const char *key = ev->kv.key;
			struct kv_entry *e = kv_get(&m->kv, key);
			json_t old = NULL;

			/* keep the old parse alive for the comparison */
			if (e && e->json) {
				old = e->json;
				e->json = NULL;
			}
			if (ev->is_delete)
				kv_del(&m->kv, key);
			else if (kv_put(&m->kv, key, ev->kv.value, ev->kv.value_len,
					ev->kv.create_revision, ev->kv.mod_revision, ev->kv.lease) < 0)
				log_err("out of memory mirroring %s", key);
			else if (!kv_json(&m->kv, key) && old) {
				kv_get(&m->kv, key)->json = old;	/* keep the last good */
				old = NULL;
			}
			changed(m, key, ev->is_delete, old);
			if (old)
				json_free(old);
		}
		if (u->revision > m->rev)
			m->rev = u->revision;
		mon_live_update(m);
		break;
	}
}

static void load_cb(void *arg, struct etcd_result *r)
{
	struct mon *m = arg;

	if (gone(m, r))
		return;
	if (r->status) {
		log_warn("etcd: loading the cluster state failed: %s %s; retrying",
			 etcd_strerror(r->status), r->errmsg);
		retry_later(m);
		return;
	}
	kv_clear(&m->kv);
	kv_init(&m->kv);
	for (size_t i = 0; i < r->n_kvs; i++) {
		const struct etcd_kv *kv = &r->kvs[i];

		if (kv_put(&m->kv, kv->key, kv->value, kv->value_len, kv->create_revision,
			   kv->mod_revision, kv->lease) < 0) {
			log_err("out of memory loading the cluster state");
			m->exit_code = 1;
			return;
		}
	}
	m->rev = r->revision;
	if (cfg_merge_etcd(m->cfg, kv_json(&m->kv, "config/global")) < 0)
		log_err("etcd config/global: %s; ignoring it", cfg_error(m->cfg));
	log_info("etcd: loaded %zu keys at revision %" PRId64, m->kv.n, m->rev);
	watch_start(m);
	m->state = MS_RUN;
	mon_live_update(m);
	if (m->master) {
		m->place_dirty = true;
		mon_schedule_place(m);
		mon_schedule_stats(m);
	} else {
		elect(m);
	}
}

static void load(struct mon *m)
{
	struct etcd_range_req req = { .key = "", .prefix = true, .timeout_ms = 30000 };

	if (etcd_range(m->ec, &req, load_cb, m))
		retry_later(m);
}

/* ---- write batches ---- */

int64_t mon_expect(const struct mon *m, const char *key)
{
	const struct kv_entry *e = kv_get(&m->kv, key);

	return e ? e->mod_rev : 0;
}

int mon_put(struct mon *m, const char *key, const char *value, int64_t expect_mod)
{
	struct mon_put *p;

	if (m->nputs == m->puts_cap) {
		size_t cap = m->puts_cap ? m->puts_cap * 2 : 64;
		struct mon_put *np = realloc(m->puts, cap * sizeof(*np));

		if (!np)
			return -1;
		m->puts = np;
		m->puts_cap = cap;
	}
	p = &m->puts[m->nputs];
	p->key = strdup(key);
	p->value = value ? strdup(value) : NULL;
	p->expect_mod = expect_mod;
	p->check_only = false;
	if (!p->key || (value && !p->value)) {
		free(p->key);
		free(p->value);
		return -1;
	}
	m->nputs++;
	return 0;
}

int mon_check(struct mon *m, const char *key, int64_t expect_mod)
{
	if (mon_put(m, key, NULL, expect_mod) < 0)
		return -1;
	m->puts[m->nputs - 1].check_only = true;
	return 0;
}

void mon_puts_clear(struct mon *m)
{
	for (size_t i = 0; i < m->nputs; i++) {
		free(m->puts[i].key);
		free(m->puts[i].value);
	}
	m->nputs = 0;
	m->puts_done = 0;
}

static void flush_next(struct mon *m);

static void flush_end(struct mon *m, int status)
{
	void (*cb)(struct mon *, int) = m->write_cb;

	mon_puts_clear(m);
	m->write_inflight = false;
	m->write_cb = NULL;
	if (cb)
		cb(m, status);
}

static void flush_cb(void *arg, struct etcd_result *r)
{
	struct mon *m = arg;
	size_t n = m->nputs - m->puts_done;

	if (r->status == ETCD_E_CANCELED)
		return;
	if (r->status) {
		log_warn("etcd: writing %s failed: %s %s", m->puts[m->puts_done].key,
			 etcd_strerror(r->status), r->errmsg);
		flush_end(m, r->status);
		return;
	}
	if (!r->succeeded) {
		flush_end(m, 0);
		return;
	}
	if (r->revision > m->wait_rev)
		m->wait_rev = r->revision;
	m->puts_done += n < BATCH ? n : BATCH;
	flush_next(m);
}

static void flush_next(struct mon *m)
{
	size_t n = m->nputs - m->puts_done;
	struct etcd_compare cmp[BATCH + 1];
	struct etcd_txn_op ops[BATCH];
	struct etcd_txn_req req = { .compare = cmp, .success = ops };
	int rc;

	if (!n || m->stopping) {
		flush_end(m, 1);
		return;
	}
	if (n > BATCH)
		n = BATCH;
	memset(cmp, 0, sizeof(cmp));
	memset(ops, 0, sizeof(ops));
	cmp[0].key = "mon/master";
	cmp[0].target = ETCD_CMP_LEASE;
	cmp[0].op = ETCD_CMP_EQUAL;
	cmp[0].number = m->lease;
	req.n_compare = 1;
	for (size_t i = 0; i < n; i++) {
		const struct mon_put *p = &m->puts[m->puts_done + i];
		struct etcd_txn_op *op = &ops[req.n_success];

		if (p->expect_mod >= 0) {
			struct etcd_compare *c = &cmp[req.n_compare++];

			c->key = p->key;
			c->op = ETCD_CMP_EQUAL;
			c->target = p->expect_mod ? ETCD_CMP_MOD : ETCD_CMP_CREATE;
			c->number = p->expect_mod;
		}
		if (p->check_only)
			continue;
		req.n_success++;
		if (p->value) {
			op->type = ETCD_OP_PUT;
			op->put.key = p->key;
			op->put.value = p->value;
			op->put.value_len = strlen(p->value);
		} else {
			op->type = ETCD_OP_DELETE;
			op->del.key = p->key;
		}
	}
	rc = etcd_txn(m->ec, &req, flush_cb, m);
	if (rc)
		flush_end(m, rc);
}

void mon_flush(struct mon *m, void (*cb)(struct mon *m, int status))
{
	if (m->write_inflight) {	/* callers check; never two batches */
		log_err("internal: a write batch is already in flight");
		return;
	}
	m->write_inflight = true;
	m->write_cb = cb;
	m->puts_done = 0;
	if (!m->master) {
		flush_end(m, 0);
		return;
	}
	flush_next(m);
}

/* ---- start / stop ---- */

int mon_etcd_start(struct mon *m)
{
	struct etcd_config ecfg;
	struct etcd_loop loop;
	char err[512];
	uint64_t ttl = cfg_ms(m->cfg, "etcd_mon_ttl") / 1000;
	uint64_t extra = cfg_ms(m->cfg, "etcd_mon_timeout") * cfg_u64(m->cfg, "etcd_mon_retries");

	m->lease_ttl = (int64_t)(ttl + (extra + 999) / 1000);
	if (m->lease_ttl < 2)
		m->lease_ttl = 2;
	m->member_json = identity_json(m, false);
	if (!m->member_json)
		return -1;
	etcd_config_init(&ecfg);
	if (etcd_config_from_cfg(&ecfg, m->cfg, err, sizeof(err)) < 0) {
		log_err("%s", err);
		etcd_config_free(&ecfg);
		return -1;
	}
	m->erl = etcd_ringloop_new(m->rl);
	if (!m->erl) {
		etcd_config_free(&ecfg);
		return -1;
	}
	etcd_ringloop_loop(m->erl, &loop);
	m->ec = etcd_client_new(&ecfg, &loop, err, sizeof(err));
	etcd_config_free(&ecfg);
	if (!m->ec) {
		log_err("etcd: %s", err);
		return -1;
	}
	etcd_ringloop_attach(m->erl, m->ec);
	ringloop_timer_init(&m->retry_t, retry_cb);
	ringloop_timer_init(&m->keepalive_t, keepalive_timer);
	ringloop_timer_add(m->rl, &m->keepalive_t, now_ns() + KEEPALIVE_MS * 1000000ull);
	lease_grant(m);
	return 0;
}

static void revoke_cb(void *arg, struct etcd_result *r)
{
	bool *done = arg;

	(void)r;
	*done = true;
}

/* Revokes the lease so mon/master and mon/member go at once and a standby
 * takes over without waiting for the TTL. */
void mon_etcd_stop(struct mon *m)
{
	bool done = false;
	uint64_t deadline = now_ns() + 2000000000ull;

	m->stopping = true;
	ringloop_timer_del(m->rl, &m->retry_t);
	ringloop_timer_del(m->rl, &m->keepalive_t);
	if (m->watch)
		etcd_watch_cancel(m->watch);
	m->watch = NULL;
	if (m->ec && m->lease && !etcd_lease_revoke(m->ec, m->lease, revoke_cb, &done))
		while (!done && now_ns() < deadline)
			ringloop_run_once(m->rl, 100000000);
	if (m->ec)
		etcd_client_free(m->ec);
	m->ec = NULL;
	if (m->erl)
		etcd_ringloop_free(m->erl);
	m->erl = NULL;
	mon_puts_clear(m);
	free(m->puts);
	m->puts = NULL;
	free(m->member_json);
	m->member_json = NULL;
	kv_clear(&m->kv);
}

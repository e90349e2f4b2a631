/* The OSD's life in etcd (spec §9): the async etcd client driven by the
 * ring loop, the OSD lease, osd/state/<n>, osd/stats/<n>, and the cluster
 * configuration (config/global, config/pools, config/pgs, peers' osd/state)
 * loaded once and then followed with watches.
 *
 * Event loop glue: every socket curl wants watched gets a one-shot
 * io_uring poll, re-armed after etcd_on_fd(). curl closes sockets and
 * reuses their numbers, so every poll carries the generation of its slot;
 * when curl changes or drops the events of a socket, the poll in flight is
 * marked stale and removed (POLL_REMOVE by user_data: io_uring holds a
 * reference to the file, so a forgotten poll would keep a closed socket
 * alive), and its completion is ignored. The client's single timer is a
 * ringloop timer.
 *
 * Life cycle: grant the lease -> register osd/state/<n> (txn: only if the
 * key does not exist) -> load config/global, config/pools, config/pgs and
 * osd/state/ in one txn -> watch config/ and osd/state/ from the next
 * revision. Every etcd_report_interval: keep the lease alive (again a
 * second after a failed keepalive, PG updates held till one answers; a
 * late report timer is logged, it means the loop was busy) and publish
 * osd/stats/<n>, with osd/inodestats/<n> and osd/space/<n> (osd_inostats.c)
 * in the same txn when they changed. Losing the lease is fatal (it will guard PG locks). A
 * compacted watch reloads everything and watches again. */
#include "config.h"
#include "etcd.h"
#include "json.h"
#include "log.h"
#include "osd.h"
#include "etcd_ringloop.h"
#include "osd_pgmap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <inttypes.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RETRY_MS	1000

struct osd_etcd;

struct peer {
	uint64_t num;
	int port;
	char addr[64];
};

enum oe_state { OE_LEASE, OE_REGISTER, OE_LOAD, OE_RUN };

struct osd_etcd {
	struct osd *osd;
	struct etcd_client *ec;
	struct etcd_ringloop *glue;	/* drives ec from the ring loop */
	struct ringloop_timer retry;	/* next step after a failure */
	struct ringloop_timer report;	/* keepalive + stats */
	struct ringloop_timer ka_retry;	/* keepalive again soon after a failure */
	uint64_t report_due_ns;		/* when report should have run */
	uint64_t ka_sent_ns, ka_ok_ns;	/* last keepalive sent, last one answered */
	uint64_t logged_steps;		/* PG steps at the last batch log line */
	enum oe_state state;
	bool step_inflight, keepalive_inflight, stats_inflight, closing;
	int64_t lease_id;
	int64_t revision;		/* of the last full load */
	struct etcd_watch *w_config, *w_state, *w_hist;
	char key_state[64], key_stats[64], key_inodestats[64], key_space[64];
	/* osd/inodestats and osd/space as last published (put only when
	 * changed) and as in the put in flight */
	char *pub_ino, *pub_space, *pend_ino, *pend_space;
	char host[256];
	char *state_json;
	struct osd_pgmap pgmap;
	struct peer *peers;
	size_t npeers;
	bool revoked;
};

unsigned osd_lease_ttl(const struct cfg *cfg)
{
	uint64_t report = cfg_ms(cfg, "etcd_report_interval") / 1000;
	uint64_t extra = cfg_u64(cfg, "max_etcd_attempts") * 2 * cfg_ms(cfg, "etcd_quick_timeout");

	if (!report)
		report = 1;
	return (unsigned)(report + (extra + 999) / 1000);
}

static void fatal(struct osd_etcd *oe)
{
	if (!oe->osd->exit_code)
		oe->osd->exit_code = 1;
}

static void retry_later(struct osd_etcd *oe)
{
	ringloop_timer_add(oe->osd->rl, &oe->retry, ringloop_now_ns() + RETRY_MS * 1000000ull);
}

static uint64_t report_interval_ms(struct osd_etcd *oe)
{
	uint64_t ms = cfg_ms(oe->osd->cfg, "etcd_report_interval");

	return ms ? ms : 1000;
}

static void add_addr(struct strbuf *sb, int *n, const char *a)
{
	sb_puts(sb, *n ? "," : "");
	sb_json_str(sb, a);
	(*n)++;
}

/* Spec §10: a specific bind address is advertised as is; 0.0.0.0 means
 * every UP, non-loopback IPv4 address (loopback if there is none). */
static void add_addresses(struct strbuf *sb, const char *bind)
{
	struct ifaddrs *ifa = NULL;
	int n = 0;

	sb_puts(sb, "[");
	if (bind && *bind && strcmp(bind, "0.0.0.0")) {
		add_addr(sb, &n, bind);
	} else if (!getifaddrs(&ifa)) {
		for (struct ifaddrs *i = ifa; i; i = i->ifa_next) {
			char buf[INET_ADDRSTRLEN];

			if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET ||
			    !(i->ifa_flags & IFF_UP) || (i->ifa_flags & IFF_LOOPBACK))
				continue;
			if (inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr,
				      buf, sizeof(buf)))
				add_addr(sb, &n, buf);
		}
		freeifaddrs(ifa);
	}
	if (!n)
		add_addr(sb, &n, "127.0.0.1");
	sb_puts(sb, "]");
}

/* ---- configuration from etcd ---- */

static void apply_global(struct osd_etcd *oe, const char *v, size_t len)
{
	if (cfg_merge_etcd_text(oe->osd->cfg, v ? v : "{}", v ? len : 2) < 0)
		log_warn("etcd: config/global ignored, keeping the previous settings: %s",
			 cfg_error(oe->osd->cfg));
	else
		log_info("etcd: config/global %s", v ? "applied" : "absent");
}

static void apply_pools(struct osd_etcd *oe, const char *v, size_t len)
{
	char err[256], *sum;

	if (osd_pgmap_set_pools(&oe->pgmap, v, len, err, sizeof(err)) < 0) {
		log_warn("etcd: config/pools ignored, keeping the last good pool configuration: %s",
			 err);
		return;
	}
	sum = osd_pgmap_pools_summary(&oe->pgmap);
	log_info("etcd: config/pools applied: %s", sum ? sum : "(out of memory)");
	free(sum);
}

static void apply_pgs(struct osd_etcd *oe, const char *v, size_t len)
{
	char err[256], *sum;

	if (osd_pgmap_set_pgs(&oe->pgmap, v, len, err, sizeof(err)) < 0) {
		log_warn("etcd: config/pgs ignored, keeping the last good PG configuration: %s",
			 err);
		return;
	}
	sum = osd_pgmap_pgs_summary(&oe->pgmap, oe->osd->osd_num);
	log_info("etcd: config/pgs applied: %s", sum ? sum : "(out of memory)");
	free(sum);
}

static void peer_del(struct osd_etcd *oe, uint64_t num)
{
	for (size_t i = 0; i < oe->npeers; i++)
		if (oe->peers[i].num == num) {
			log_info("etcd: OSD %" PRIu64 " is down", num);
			oe->peers[i] = oe->peers[--oe->npeers];
			return;
		}
}

static void peer_set(struct osd_etcd *oe, uint64_t num, const char *v, size_t len)
{
	char err[128];
	json_t j = json_parse(v, len, err, sizeof(err));
	const char *addr = json_str(json_at(json_get(j, "addresses"), 0));
	uint64_t port = 0;
	struct peer *p = NULL;

	if (!j || !addr || json_u64(json_get(j, "port"), &port) || !port || port > 65535) {
		log_warn("etcd: osd/state/%" PRIu64 " ignored: no address or port%s%s", num,
			 j ? "" : ": ", j ? "" : err);
		json_free(j);
		return;
	}
	for (size_t i = 0; i < oe->npeers; i++)
		if (oe->peers[i].num == num)
			p = &oe->peers[i];
	if (!p) {
		struct peer *n = realloc(oe->peers, (oe->npeers + 1) * sizeof(*n));

		if (!n) {
			json_free(j);
			return;
		}
		oe->peers = n;
		p = &oe->peers[oe->npeers++];
	}
	p->num = num;
	p->port = (int)port;
	snprintf(p->addr, sizeof(p->addr), "%s", addr);
	if (num != oe->osd->osd_num)
		log_info("etcd: OSD %" PRIu64 " is up at %s:%d", num, p->addr, p->port);
	json_free(j);
}

static void apply_kv(struct osd_etcd *oe, const char *key, const char *v, size_t len)
{
	uint64_t num;
	char *end;

	if (!strcmp(key, "config/global"))
		apply_global(oe, v, len);
	else if (!strcmp(key, "config/pools"))
		apply_pools(oe, v, len);
	else if (!strcmp(key, "config/pgs"))
		apply_pgs(oe, v, len);
	else if (!strncmp(key, "osd/state/", 10)) {
		num = strtoull(key + 10, &end, 10);
		if (*end || !num)
			return;
		if (v)
			peer_set(oe, num, v, len);
		else
			peer_del(oe, num);
	} else {
		return;
	}
	if (oe->state == OE_RUN)
		osd_pg_changed(oe->osd);
}

struct etcd_client *osd_etcd_client(struct osd *osd)
{
	return osd->etcd ? osd->etcd->ec : NULL;
}

int64_t osd_etcd_lease(struct osd *osd)
{
	return osd->etcd ? osd->etcd->lease_id : 0;
}

const struct osd_pgmap *osd_etcd_pgmap(struct osd *osd)
{
	return osd->etcd ? &osd->etcd->pgmap : NULL;
}

bool osd_etcd_peer(struct osd *osd, uint64_t num, const char **addr, int *port)
{
	struct osd_etcd *oe = osd->etcd;

	if (!oe)
		return false;
	for (size_t i = 0; i < oe->npeers; i++)
		if (oe->peers[i].num == num) {
			*addr = oe->peers[i].addr;
			*port = oe->peers[i].port;
			return true;
		}
	return false;
}

/* ---- life cycle steps ---- */

static void step(struct osd_etcd *oe);
static void on_watch(void *arg, struct etcd_watch *w, const struct etcd_watch_update *u);

static bool gone(struct osd_etcd *oe, struct etcd_result *res)
{
	return oe->closing || res->status == ETCD_E_CANCELED;
}

static void lease_cb(void *arg, struct etcd_result *res)
{
	struct osd_etcd *oe = arg;

	oe->step_inflight = false;
	if (gone(oe, res))
		return;
	if (res->status) {
		log_warn("etcd: lease grant failed: %s %s; retrying", etcd_strerror(res->status),
			 res->errmsg);
		retry_later(oe);
		return;
	}
	oe->lease_id = res->lease_id;
	oe->ka_ok_ns = ringloop_now_ns();
	log_info("etcd: lease %" PRIx64 " granted (TTL %" PRId64 " s)", (uint64_t)res->lease_id,
		 res->ttl);
	oe->state = OE_REGISTER;
	step(oe);
}

static void register_cb(void *arg, struct etcd_result *res)
{
	struct osd_etcd *oe = arg;
	const struct etcd_kv *kv = NULL;

	oe->step_inflight = false;
	if (gone(oe, res))
		return;
	if (res->status) {
		/* The put may have been applied: the retry sees our lease. */
		log_warn("etcd: registering %s failed: %s %s; retrying", oe->key_state,
			 etcd_strerror(res->status), res->errmsg);
		retry_later(oe);
		return;
	}
	if (!res->succeeded) {
		if (res->n_responses && res->responses[0].n_kvs)
			kv = &res->responses[0].kvs[0];
		if (!kv || kv->lease != oe->lease_id) {
			log_err("etcd: %s already exists: another OSD %" PRIu64 " is running, or "
				"its lease has not expired yet (wait up to %u s and start again)",
				oe->key_state, oe->osd->osd_num, oe->osd->lease_ttl);
			fatal(oe);
			return;
		}
	}
	log_info("etcd: registered %s (%s)", oe->key_state, oe->state_json);
	oe->state = OE_LOAD;
	step(oe);
}

static void load_cb(void *arg, struct etcd_result *res)
{
	struct osd_etcd *oe = arg;
	static const char *const keys[] = { "config/global", "config/pools", "config/pgs" };
	struct etcd_watch_req wr;

	oe->step_inflight = false;
	if (gone(oe, res))
		return;
	if (res->status || res->n_responses != 4) {
		log_warn("etcd: loading the configuration failed: %s %s; retrying",
			 etcd_strerror(res->status), res->errmsg);
		retry_later(oe);
		return;
	}
	for (size_t i = 0; i < 3; i++) {
		struct etcd_result *r = &res->responses[i];

		apply_kv(oe, keys[i], r->n_kvs ? r->kvs[0].value : NULL,
			 r->n_kvs ? r->kvs[0].value_len : 0);
	}
	oe->npeers = 0;
	for (size_t i = 0; i < res->responses[3].n_kvs; i++) {
		const struct etcd_kv *kv = &res->responses[3].kvs[i];

		apply_kv(oe, kv->key, kv->value, kv->value_len);
	}
	oe->revision = res->revision;
	memset(&wr, 0, sizeof(wr));
	wr.prefix = true;
	wr.start_revision = res->revision + 1;
	wr.key = "config/";
	oe->w_config = etcd_watch_create(oe->ec, &wr, on_watch, oe);
	wr.key = "osd/state/";
	oe->w_state = etcd_watch_create(oe->ec, &wr, on_watch, oe);
	wr.key = "pg/history/";
	oe->w_hist = etcd_watch_create(oe->ec, &wr, on_watch, oe);
	if (!oe->w_config || !oe->w_state || !oe->w_hist) {
		log_err("etcd: cannot create watches");
		fatal(oe);
		return;
	}
	log_info("etcd: configuration loaded at revision %" PRId64 ", watching config/, "
		 "osd/state/ and pg/history/", res->revision);
	oe->state = OE_RUN;
	osd_pg_changed(oe->osd);
}

static void step(struct osd_etcd *oe)
{
	int r = 0;

	if (oe->closing || oe->step_inflight)
		return;
	oe->step_inflight = true;
	switch (oe->state) {
	case OE_LEASE:
		r = etcd_lease_grant(oe->ec, oe->osd->lease_ttl, 0, lease_cb, oe);
		break;
	case OE_REGISTER: {
		struct etcd_compare cmp = {
			.key = oe->key_state, .target = ETCD_CMP_CREATE, .op = ETCD_CMP_EQUAL,
		};
		struct etcd_txn_op ok = { .type = ETCD_OP_PUT }, fail = { .type = ETCD_OP_RANGE };
		struct etcd_txn_req req = {
			.compare = &cmp, .n_compare = 1, .success = &ok, .n_success = 1,
			.failure = &fail, .n_failure = 1,
		};

		ok.put.key = oe->key_state;
		ok.put.value = oe->state_json;
		ok.put.value_len = strlen(oe->state_json);
		ok.put.lease = oe->lease_id;
		fail.range.key = oe->key_state;
		r = etcd_txn(oe->ec, &req, register_cb, oe);
		break;
	}
	case OE_LOAD: {
		struct etcd_txn_op ops[4];
		struct etcd_txn_req req = { .success = ops, .n_success = 4 };
		int slow = (int)cfg_ms(oe->osd->cfg, "etcd_slow_timeout");

		memset(ops, 0, sizeof(ops));
		for (int i = 0; i < 4; i++)
			ops[i].type = ETCD_OP_RANGE;
		ops[0].range.key = "config/global";
		ops[1].range.key = "config/pools";
		ops[2].range.key = "config/pgs";
		ops[3].range.key = "osd/state/";
		ops[3].range.prefix = true;
		req.timeout_ms = slow > 0 ? slow : 5000;
		r = etcd_txn(oe->ec, &req, load_cb, oe);
		break;
	}
	case OE_RUN:
		oe->step_inflight = false;
		return;
	}
	if (r < 0) {
		oe->step_inflight = false;
		log_err("etcd: cannot start a request: %s", etcd_strerror(r));
		fatal(oe);
	}
}

static void watches_cancel(struct osd_etcd *oe)
{
	struct etcd_watch **w[] = { &oe->w_config, &oe->w_state, &oe->w_hist };

	for (size_t i = 0; i < sizeof(w) / sizeof(w[0]); i++) {
		if (*w[i])
			etcd_watch_cancel(*w[i]);
		*w[i] = NULL;
	}
}

static void retry_cb(struct ringloop_timer *t)
{
	step((struct osd_etcd *)(void *)((char *)t - offsetof(struct osd_etcd, retry)));
}

static const char *watch_name(const struct osd_etcd *oe, const struct etcd_watch *w)
{
	return w == oe->w_config ? "config/" : w == oe->w_state ? "osd/state/" : "pg/history/";
}

static void on_watch(void *arg, struct etcd_watch *w, const struct etcd_watch_update *u)
{
	struct osd_etcd *oe = arg;

	switch (u->kind) {
	case ETCD_WATCH_CREATED:
	case ETCD_WATCH_PROGRESS:
		break;
	case ETCD_WATCH_EVENTS:
		for (size_t i = 0; i < u->n_events; i++) {
			const struct etcd_event *e = &u->events[i];

			if (w == oe->w_hist)
				osd_pg_history_changed(oe->osd, e->kv.key,
						       e->is_delete ? NULL : e->kv.value,
						       e->is_delete ? 0 : e->kv.value_len,
						       e->kv.mod_revision);
			else
				apply_kv(oe, e->kv.key, e->is_delete ? NULL : e->kv.value,
					 e->is_delete ? 0 : e->kv.value_len);
		}
		break;
	case ETCD_WATCH_RETRY:
		if (u->failures == 1)
			log_warn("etcd: watch of %s broken (%s%s%s), reconnecting",
				 watch_name(oe, w),
				 etcd_strerror(u->status), u->errmsg ? ": " : "",
				 u->errmsg ? u->errmsg : "");
		break;
	case ETCD_WATCH_ERROR:
		log_warn("etcd: watch of %s stopped (%s, compact revision %" PRId64 "): "
			 "reloading the configuration", watch_name(oe, w),
			 etcd_strerror(u->status), u->compact_revision);
		watches_cancel(oe);
		oe->state = OE_LOAD;
		step(oe);
		break;
	}
}

/* ---- periodic: keepalive and stats ---- */

static void keepalive_cb(void *arg, struct etcd_result *res)
{
	struct osd_etcd *oe = arg;
	uint64_t now = ringloop_now_ns(), rtt = (now - oe->ka_sent_ns) / 1000000;

	oe->keepalive_inflight = false;
	if (gone(oe, res))
		return;
	if (res->status == ETCD_E_NOLEASE) {
		log_err("etcd: lease %" PRIx64 " expired or was revoked: exiting, since the lease "
			"guards this OSD's state and PG locks", (uint64_t)oe->lease_id);
		oe->lease_id = 0;
		fatal(oe);
	} else if (res->status) {
		/* again in a second, not a report interval later: the TTL
		 * leaves room for a few attempts, not for two intervals */
		log_warn("etcd: lease keepalive failed: %s %s; %" PRIu64 " ms since the last one "
			 "answered, retrying", etcd_strerror(res->status), res->errmsg,
			 (now - oe->ka_ok_ns) / 1000000);
		osd_etcd_batch_hold(oe->osd, true);
		ringloop_timer_del(oe->osd->rl, &oe->ka_retry);
		ringloop_timer_add(oe->osd->rl, &oe->ka_retry, now + RETRY_MS * 1000000ull);
	} else {
		if (rtt >= 1000)
			log_warn("etcd: lease keepalive answered after %" PRIu64 " ms", rtt);
		oe->ka_ok_ns = now;
		osd_etcd_batch_hold(oe->osd, false);
	}
}

static void keepalive_send(struct osd_etcd *oe)
{
	if (oe->closing || !oe->lease_id || oe->state < OE_LOAD || oe->keepalive_inflight)
		return;
	if (!etcd_lease_keepalive(oe->ec, oe->lease_id, keepalive_cb, oe)) {
		oe->keepalive_inflight = true;
		oe->ka_sent_ns = ringloop_now_ns();
	}
}

static void ka_retry_cb(struct ringloop_timer *t)
{
	keepalive_send(container_of(t, struct osd_etcd, ka_retry));
}

/* The pending per-inode texts become the published ones, or are dropped
 * (failure: put again next time). */
static void pub_settle(char **pub, char **pend, bool ok)
{
	if (*pend && ok) {
		free(*pub);
		*pub = *pend;
	} else {
		free(*pend);
		if (!ok) {
			free(*pub);
			*pub = NULL;
		}
	}
	*pend = NULL;
}

static void stats_cb(void *arg, struct etcd_result *res)
{
	struct osd_etcd *oe = arg;

	oe->stats_inflight = false;
	pub_settle(&oe->pub_ino, &oe->pend_ino, !res->status);
	pub_settle(&oe->pub_space, &oe->pend_space, !res->status);
	if (gone(oe, res))
		return;
	if (res->status)
		log_debug("etcd: publishing %s failed: %s %s", oe->key_stats,
			  etcd_strerror(res->status), res->errmsg);
}

/* Adds a put of key = text (taken) to ops unless it equals *pub; *pend
 * keeps it until the txn ends. */
static void pub_add(struct etcd_txn_op *ops, size_t *n, const char *key, char *text,
		    const char *pub, char **pend)
{
	if (!text)
		return;
	if (pub && !strcmp(pub, text)) {
		free(text);
		return;
	}
	*pend = text;
	memset(&ops[*n], 0, sizeof(ops[*n]));
	ops[*n].type = ETCD_OP_PUT;
	ops[*n].put.key = key;
	ops[*n].put.value = text;
	ops[*n].put.value_len = strlen(text);
	++*n;
}

/* osd/inodestats or osd/space text (malloc'ed), NULL when out of memory. */
static char *inode_text(struct osd *osd, int (*fn)(struct osd *osd, struct strbuf *sb))
{
	struct strbuf sb;

	sb_init(&sb);
	if (fn(osd, &sb) < 0 || sb.oom || !sb.buf) {
		sb_free(&sb);
		return NULL;
	}
	return sb.buf;
}

static void publish_stats(struct osd_etcd *oe)
{
	struct osd *osd = oe->osd;
	struct bs_stats bst;
	struct timespec ts;
	struct strbuf sb;
	struct etcd_txn_op ops[3];
	struct etcd_txn_req req = { .n_success = 1 };
	int n = 0;

	memset(&bst, 0, sizeof(bst));
	bs_get_stats(osd->bs, &bst);
	clock_gettime(CLOCK_REALTIME, &ts);
	sb_init(&sb);
	sb_printf(&sb, "{\"time\":\"%lld.%03ld\",\"blockstore_ready\":true,\"size\":%" PRIu64
		  ",\"free\":%" PRIu64 ",\"host\":", (long long)ts.tv_sec, ts.tv_nsec / 1000000,
		  bst.data_blocks * osd->block_size, bst.free_blocks * osd->block_size);
	sb_json_str(&sb, oe->host);
	sb_puts(&sb, ",\"op_stats\":{");
	for (uint64_t op = VS_OP_MIN; op <= VS_OP_MAX; op++) {
		const struct osd_op_stat *st = &osd->op_stats[op];

		sb_printf(&sb, "%s\"%s\":{\"count\":%" PRIu64 ",\"usec\":%" PRIu64 ",\"bytes\":%"
			  PRIu64 "}", n++ ? "," : "", osd_op_stat_name(op), st->count, st->usec,
			  st->bytes);
	}
	sb_printf(&sb, "},\"subop_stats\":{},\"recovery_stats\":{\"degraded\":{\"count\":%"
		  PRIu64 ",\"bytes\":%" PRIu64 "},\"misplaced\":{\"count\":%" PRIu64
		  ",\"bytes\":%" PRIu64 "}}}", osd->rec_degraded_count, osd->rec_degraded_bytes,
		  osd->rec_misplaced_count, osd->rec_misplaced_bytes);
	if (sb.oom) {
		sb_free(&sb);
		return;
	}
	/* one txn: osd/stats, and the per-inode keys when they changed */
	memset(ops, 0, sizeof(ops));
	ops[0].type = ETCD_OP_PUT;
	ops[0].put.key = oe->key_stats;
	ops[0].put.value = sb.buf;
	ops[0].put.value_len = sb.len;
	req.success = ops;
	pub_add(ops, &req.n_success, oe->key_inodestats, inode_text(osd, osd_inostats_json),
		oe->pub_ino, &oe->pend_ino);
	pub_add(ops, &req.n_success, oe->key_space, inode_text(osd, osd_space_json),
		oe->pub_space, &oe->pend_space);
	if (!etcd_txn(oe->ec, &req, stats_cb, oe)) {
		oe->stats_inflight = true;
	} else {
		pub_settle(&oe->pub_ino, &oe->pend_ino, false);
		pub_settle(&oe->pub_space, &oe->pend_space, false);
	}
	sb_free(&sb);
}

static void report_arm(struct osd_etcd *oe, uint64_t now)
{
	oe->report_due_ns = now + report_interval_ms(oe) * 1000000ull;
	ringloop_timer_add(oe->osd->rl, &oe->report, oe->report_due_ns);
}

static void report_cb(struct ringloop_timer *t)
{
	struct osd_etcd *oe = container_of(t, struct osd_etcd, report);
	uint64_t now = ringloop_now_ns(), steps, txns, queued;

	if (oe->closing)
		return;
	/* a late timer means the loop was busy that long: the keepalive
	 * is late by as much */
	if (now > oe->report_due_ns + 1000000000ull)
		log_warn("etcd: event loop busy, lease keepalive %" PRIu64 " ms late",
			 (now - oe->report_due_ns) / 1000000);
	/* unanswered for an interval: the client is still retrying it, and
	 * our PG updates must not keep etcd's apply behind meanwhile */
	if (oe->keepalive_inflight)
		osd_etcd_batch_hold(oe->osd, true);
	keepalive_send(oe);
	if (oe->state >= OE_LOAD && !oe->stats_inflight)
		publish_stats(oe);
	osd_etcd_batch_counts(oe->osd, &steps, &txns, &queued);
	if (steps != oe->logged_steps)
		log_info("etcd: %" PRIu64 " PG updates sent in %" PRIu64 " txns so far, %" PRIu64
			 " queued", steps - queued, txns, queued);
	oe->logged_steps = steps;
	report_arm(oe, now);
}

/* ---- start / stop ---- */

int osd_etcd_start(struct osd *osd)
{
	struct osd_etcd *oe;
	struct etcd_config ecfg;
	struct etcd_loop loop;
	struct strbuf sb;
	size_t naddr = 0;
	char err[512];

	cfg_strv(osd->cfg, "etcd_address", &naddr);
	if (!naddr) {
		log_info("etcd_address is not set: running without etcd (no registration, "
			 "no cluster configuration)");
		return 0;
	}
	oe = calloc(1, sizeof(*oe));
	if (!oe) {
		log_err("out of memory");
		return -1;
	}
	oe->osd = osd;
	ringloop_timer_init(&oe->retry, retry_cb);
	ringloop_timer_init(&oe->report, report_cb);
	ringloop_timer_init(&oe->ka_retry, ka_retry_cb);
	snprintf(oe->key_state, sizeof(oe->key_state), "osd/state/%" PRIu64, osd->osd_num);
	snprintf(oe->key_stats, sizeof(oe->key_stats), "osd/stats/%" PRIu64, osd->osd_num);
	snprintf(oe->key_inodestats, sizeof(oe->key_inodestats), "osd/inodestats/%" PRIu64,
		 osd->osd_num);
	snprintf(oe->key_space, sizeof(oe->key_space), "osd/space/%" PRIu64, osd->osd_num);
	if (gethostname(oe->host, sizeof(oe->host) - 1) < 0)
		snprintf(oe->host, sizeof(oe->host), "localhost");

	sb_init(&sb);
	sb_puts(&sb, "{\"state\":\"up\",\"addresses\":");
	add_addresses(&sb, osd->bind_address);
	sb_puts(&sb, ",\"host\":");
	sb_json_str(&sb, oe->host);
	sb_printf(&sb, ",\"port\":%d,\"primary_enabled\":%s,\"blockstore_enabled\":true}",
		  osd->port, osd->primary_enabled ? "true" : "false");
	if (sb.oom) {
		sb_free(&sb);
		free(oe);
		log_err("out of memory");
		return -1;
	}
	oe->state_json = sb.buf;

	etcd_config_init(&ecfg);
	if (etcd_config_from_cfg(&ecfg, osd->cfg, err, sizeof(err))) {
		log_err("etcd configuration: %s", err);
		goto fail;
	}
	oe->glue = etcd_ringloop_new(osd->rl);
	if (!oe->glue) {
		log_err("out of memory");
		goto fail;
	}
	etcd_ringloop_loop(oe->glue, &loop);
	oe->ec = etcd_client_new(&ecfg, &loop, err, sizeof(err));
	if (!oe->ec) {
		log_err("etcd client: %s", err);
		goto fail;
	}
	etcd_ringloop_attach(oe->glue, oe->ec);
	etcd_config_free(&ecfg);
	osd->etcd = oe;
	log_info("etcd: connecting to %s (prefix %s), lease TTL %u s, report interval %" PRIu64
		 " ms", etcd_current_endpoint(oe->ec), etcd_prefix(oe->ec), osd->lease_ttl,
		 report_interval_ms(oe));
	oe->state = OE_LEASE;
	step(oe);
	report_arm(oe, ringloop_now_ns());
	return osd->exit_code ? -1 : 0;
fail:
	etcd_config_free(&ecfg);
	if (oe->glue)
		etcd_ringloop_free(oe->glue);
	free(oe->state_json);
	free(oe);
	return -1;
}

static void revoke_cb(void *arg, struct etcd_result *res)
{
	struct osd_etcd *oe = arg;

	oe->revoked = true;
	if (res->status && res->status != ETCD_E_CANCELED)
		log_warn("etcd: revoking lease %" PRIx64 " failed: %s %s", (uint64_t)oe->lease_id,
			 etcd_strerror(res->status), res->errmsg);
	else if (!res->status)
		log_info("etcd: lease %" PRIx64 " revoked, %s removed", (uint64_t)oe->lease_id,
			 oe->key_state);
}

void osd_etcd_stop(struct osd *osd)
{
	struct osd_etcd *oe = osd->etcd;
	uint64_t deadline;

	if (!oe)
		return;
	ringloop_timer_del(osd->rl, &oe->retry);
	ringloop_timer_del(osd->rl, &oe->report);
	ringloop_timer_del(osd->rl, &oe->ka_retry);
	if (oe->lease_id && !etcd_lease_revoke(oe->ec, oe->lease_id, revoke_cb, oe)) {
		deadline = ringloop_now_ns() + 3000000000ull;
		while (!oe->revoked && ringloop_now_ns() < deadline)
			ringloop_run_once(osd->rl, 50000000);
	}
	oe->closing = true;
	watches_cancel(oe);
	osd_etcd_batch_cancel(osd);
	etcd_client_free(oe->ec);
	osd_etcd_batch_free(osd);	/* its txns in flight are cancelled now */
	etcd_ringloop_free(oe->glue);	/* withdraws the polls still in flight */
	osd_pgmap_free(&oe->pgmap);
	free(oe->peers);
	free(oe->state_json);
	free(oe->pub_ino);
	free(oe->pub_space);
	free(oe->pend_ino);
	free(oe->pend_space);
	free(oe);
	osd->etcd = NULL;
}

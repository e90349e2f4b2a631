/* PG life cycle and the etcd side of PGs (spec §8.1, §9).
 *
 * Life cycle of a PG this OSD is the config/pgs primary of (not paused):
 * lock pg/state/<pool>/<pg> with our lease (txn: create_revision == 0, or
 * lease == ours) publishing ["starting"], then peering (osd_peering.c),
 * then "active" or "incomplete". A PG that moves away is released (delete
 * guarded by lease == ours); at shutdown the lease revoke drops the keys.
 * A change of the osd_set or of the up members re-peers. pg/stats is
 * published after peering and recovery. */
#include "osd_pg.h"
#include "config.h"
#include "etcd.h"
#include "json.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char *const st_names[] = { "offline", "starting", "peering", "incomplete", "active" };

static struct osd_pgs *pgs_get(struct osd *osd)
{
	if (!osd->pgs) {
		osd->pgs = calloc(1, sizeof(*osd->pgs));
		if (!osd->pgs)
			return NULL;
		osd->pgs->buckets = calloc(OBJ_BUCKETS, sizeof(struct obj *));
		if (!osd->pgs->buckets) {
			free(osd->pgs);
			osd->pgs = NULL;
		}
	}
	return osd->pgs;
}

/* ---- objects ---- */

struct obj *pg_obj_get(struct osd_pgs *P, uint64_t inode, uint64_t stripe, bool create)
{
	uint64_t h = (inode * 0x9e3779b97f4a7c15ull) ^ (stripe * 0xc2b2ae3d27d4eb4full);
	struct obj **b = &P->buckets[(h >> 32) % OBJ_BUCKETS], *o;

	for (o = *b; o; o = o->next)
		if (o->inode == inode && o->stripe == stripe)
			return o;
	if (!create)
		return NULL;
	o = calloc(1, sizeof(*o));
	if (!o)
		return NULL;
	o->inode = inode;
	o->stripe = stripe;
	o->next = *b;
	*b = o;
	return o;
}

/* ---- etcd: pg/state ---- */

static void pg_retry_cb(struct ringloop_timer *t)
{
	struct pgrun *pg = (struct pgrun *)(void *)((char *)t - offsetof(struct pgrun, retry));

	if (pg->osd->pgs->stopping)
		return;
	if (pg->want && pg->st == PG_OFF) {
		pg->st = PG_STARTING;
		pg_publish(pg);
	} else if (pg->st != PG_OFF || pg->locked) {
		pg_publish(pg);		/* after an etcd error */
	}
}

static void publish_cb(void *arg, struct etcd_result *res)
{
	struct pgrun *pg = arg;
	struct osd *osd = pg->osd;
	bool was_locked = pg->locked;

	pg->etcd_inflight = false;
	if (res->status == ETCD_E_CANCELED || osd->pgs->stopping)
		return;
	if (res->status) {
		log_warn("PG %" PRIu64 "/%u: updating %s failed: %s %s; retrying", pg->pool_id,
			 pg->num, pg->key, etcd_strerror(res->status), res->errmsg);
		pg->etcd_again = false;
		ringloop_timer_add(osd->rl, &pg->retry,
				   ringloop_now_ns() + PG_RETRY_MS * 1000000ull);
		return;
	} else if (pg->st == PG_OFF && was_locked) {
		pg->locked = false;
		log_info("PG %" PRIu64 "/%u: released", pg->pool_id, pg->num);
	} else if (res->succeeded) {
		pg->locked = true;
	} else {
		const struct etcd_kv *kv = NULL;

		if (res->n_responses && res->responses[0].n_kvs)
			kv = &res->responses[0].kvs[0];
		if (kv && kv->lease == osd_etcd_lease(osd) && !was_locked) {
			pg->locked = true;	/* ours already: put again */
			pg->etcd_again = true;
		} else {
			log_warn("PG %" PRIu64 "/%u: %s is held by another OSD%s; retrying",
				 pg->pool_id, pg->num, pg->key, was_locked ? " (lock lost)" : "");
			pg->locked = false;
			pg->st = PG_OFF;
			pg->etcd_again = false;
			ringloop_timer_add(osd->rl, &pg->retry,
					   ringloop_now_ns() + PG_RETRY_MS * 1000000ull);
			return;
		}
	}
	if (pg->etcd_again) {
		pg->etcd_again = false;
		pg_publish(pg);
		return;
	}
	if (pg->st == PG_STARTING && pg->locked) {
		log_info("PG %" PRIu64 "/%u: locked %s", pg->pool_id, pg->num, pg->key);
		pg_peer(pg);
	}
}

void pg_publish(struct pgrun *pg)
{
	struct osd *osd = pg->osd;
	struct etcd_client *ec = osd_etcd_client(osd);
	struct etcd_compare cmp = { .key = pg->key };
	struct etcd_txn_op ok = { .type = ETCD_OP_PUT }, fail = { .type = ETCD_OP_RANGE };
	struct etcd_txn_req req = {
		.compare = &cmp, .n_compare = 1, .success = &ok, .n_success = 1,
		.failure = &fail, .n_failure = 1,
	};
	struct strbuf sb;
	int n = 0;

	if (!ec)
		return;
	if (pg->etcd_inflight) {
		pg->etcd_again = true;
		return;
	}
	if (pg->st == PG_OFF && !pg->locked)
		return;
	sb_init(&sb);
	sb_printf(&sb, "{\"primary\":%" PRIu64 ",\"state\":[\"%s\"", osd->osd_num,
		  st_names[pg->st]);
	if (pg->st == PG_ACTIVE && pg->degraded)
		sb_puts(&sb, ",\"degraded\"");
	if (pg->st == PG_ACTIVE && pg->has_degraded)
		sb_puts(&sb, ",\"has_degraded\"");
	sb_puts(&sb, "],\"peers\":[");
	if (pg->st == PG_ACTIVE || pg->st == PG_INCOMPLETE) {
		sb_printf(&sb, "%" PRIu64, osd->osd_num);
		n++;
		for (uint32_t i = 0; i + 1 < pg->nlive; i++)
			sb_printf(&sb, ",%" PRIu64, pg->live[i]);
	} else {
		for (uint32_t i = 0; i < pg->size; i++)
			if (pg->set[i])
				sb_printf(&sb, "%s%" PRIu64, n++ ? "," : "", pg->set[i]);
	}
	sb_puts(&sb, "]}");
	if (sb.oom) {
		sb_free(&sb);
		return;
	}
	if (pg->locked) {
		cmp.target = ETCD_CMP_LEASE;
		cmp.op = ETCD_CMP_EQUAL;
		cmp.number = osd_etcd_lease(osd);
	} else {
		cmp.target = ETCD_CMP_CREATE;
		cmp.op = ETCD_CMP_EQUAL;
		cmp.number = 0;
	}
	if (pg->st == PG_OFF) {
		ok.type = ETCD_OP_DELETE;
		ok.del.key = pg->key;
	} else {
		ok.put.key = pg->key;
		ok.put.value = sb.buf;
		ok.put.value_len = sb.len;
		ok.put.lease = osd_etcd_lease(osd);
	}
	fail.range.key = pg->key;
	if (etcd_txn(ec, &req, publish_cb, pg) == 0)
		pg->etcd_inflight = true;
	else
		log_warn("PG %" PRIu64 "/%u: cannot start an etcd request", pg->pool_id, pg->num);
	sb_free(&sb);
}

/* ---- configuration ---- */

static uint64_t up_mask(struct pgrun *pg)
{
	uint64_t m = 0;
	const char *a;
	int port;

	for (uint32_t i = 0; i < pg->size; i++)
		if (pg->set[i] && (pg->set[i] == pg->osd->osd_num ||
				   osd_etcd_peer(pg->osd, pg->set[i], &a, &port)))
			m |= 1ull << i;
	return m;
}

struct pgrun *pg_find(struct osd_pgs *P, uint64_t pool, uint32_t num)
{
	for (struct pgrun *pg = P->pgs; pg; pg = pg->next)
		if (pg->pool_id == pool && pg->num == num)
			return pg;
	return NULL;
}

static void changed_cb(struct ringloop_defer *d)
{
	struct osd_pgs *P = (struct osd_pgs *)(void *)((char *)d - offsetof(struct osd_pgs, changed));
	struct pgrun *pg;
	const struct osd_pgmap *m;
	struct osd *osd;

	if (P->stopping || !P->pgs_owner)
		return;
	osd = P->pgs_owner;
	m = osd_etcd_pgmap(osd);
	if (!m)
		return;
	for (pg = P->pgs; pg; pg = pg->next)
		pg->seen = false;
	for (size_t i = 0; i < m->npgs; i++) {
		const struct osd_pool_pgs *pp = &m->pgs[i];
		const struct osd_pool *pool = osd_pgmap_pool(m, pp->pool_id);

		for (size_t j = 0; j < pp->n; j++) {
			const struct osd_pg *cp = &pp->pgs[j];
			bool want = pool && pool->scheme == OSD_SCHEME_REPLICATED &&
				    cp->primary == osd->osd_num && cp->set_size <= MAX_SET &&
				    !osd_pg_paused(m, pp->pool_id, cp);
			bool set_changed;
			uint64_t stripe;

			pg = pg_find(P, pp->pool_id, cp->num);
			if (!pg && !want)
				continue;
			if (!pg) {
				pg = calloc(1, sizeof(*pg));
				if (!pg)
					continue;
				pg->osd = osd;
				pg->pool_id = pp->pool_id;
				pg->num = cp->num;
				snprintf(pg->key, sizeof(pg->key), "pg/state/%" PRIu64 "/%u",
					 pg->pool_id, pg->num);
				ringloop_timer_init(&pg->retry, pg_retry_cb);
				ringloop_timer_init(&pg->rec_timer, pg_rec_timer_cb);
				pg->next = P->pgs;
				P->pgs = pg;
			}
			pg->seen = true;
			pg->want = want;
			if (!want)
				continue;
			set_changed = pg->size != cp->set_size ||
				      memcmp(pg->set, cp->osd_set, cp->set_size * sizeof(uint64_t));
			memcpy(pg->set, cp->osd_set, cp->set_size * sizeof(uint64_t));
			pg->size = cp->set_size;
			pg->minsize = pool->pg_minsize;
			pg->pg_count = (uint32_t)pp->n;
			stripe = osd->block_size;
			pg->pg_stripe_size = pool->pg_stripe_size > stripe ? pool->pg_stripe_size : stripe;
			if (pg->st == PG_OFF) {
				if (!pg->etcd_inflight) {
					pg->st = PG_STARTING;
					pg_publish(pg);
				}
			} else if (set_changed || ((pg->st == PG_ACTIVE || pg->st == PG_INCOMPLETE) &&
						   up_mask(pg) != pg->up_mask)) {
				log_info("PG %" PRIu64 "/%u: %s changed, re-peering", pg->pool_id,
					 pg->num, set_changed ? "osd_set" : "set of up OSDs");
				pg_repeer(pg);
			}
		}
	}
	for (pg = P->pgs; pg; pg = pg->next) {
		if (!pg->seen)
			pg->want = false;
		if (!pg->want && pg->st != PG_OFF) {
			log_info("PG %" PRIu64 "/%u: no longer ours, releasing", pg->pool_id, pg->num);
			pg->st = PG_OFF;
			pg_publish(pg);
		}
	}
	pg_rec_kick(P);	/* no_recovery may have changed */
}

void osd_pg_changed(struct osd *osd)
{
	struct osd_pgs *P = pgs_get(osd);

	if (!P) {
		log_err("out of memory");
		osd->exit_code = 1;
		return;
	}
	P->pgs_owner = osd;
	P->changed.cb = changed_cb;
	ringloop_defer(osd->rl, &P->changed);
}

void osd_pg_stop(struct osd *osd)
{
	struct osd_pgs *P = osd->pgs;

	if (!P)
		return;
	P->stopping = true;
	ringloop_defer_cancel(osd->rl, &P->changed);
	for (struct pgrun *pg = P->pgs; pg; pg = pg->next) {
		ringloop_timer_del(osd->rl, &pg->retry);
		ringloop_timer_del(osd->rl, &pg->rec_timer);
	}
}

void osd_pg_free(struct osd *osd)
{
	struct osd_pgs *P = osd->pgs;

	if (!P)
		return;
	while (P->pgs) {
		struct pgrun *pg = P->pgs;

		P->pgs = pg->next;
		free(pg->rec);
		free(pg);
	}
	for (uint32_t b = 0; b < OBJ_BUCKETS; b++)
		while (P->buckets[b]) {
			struct obj *o = P->buckets[b];

			P->buckets[b] = o->next;
			free(o);
		}
	free(P->buckets);
	free(P->peers);
	free(P);
	osd->pgs = NULL;
}

static void pg_stats_cb(void *arg, struct etcd_result *res)
{
	(void)arg;
	(void)res;
}

void pg_stats_publish(struct pgrun *pg)
{
	struct etcd_client *ec = osd_etcd_client(pg->osd);
	struct etcd_put_req req;
	struct strbuf sb;
	char key[64];

	if (!ec || pg->st != PG_ACTIVE)
		return;
	sb_init(&sb);
	sb_printf(&sb, "{\"object_count\":%" PRIu64 ",\"clean_count\":%" PRIu64
		  ",\"misplaced_count\":0,\"degraded_count\":%u,\"incomplete_count\":0,"
		  "\"write_osd_set\":[", pg->nobjs,
		  pg->nobjs > pg->rec_left ? pg->nobjs - pg->rec_left : 0, pg->rec_left);
	for (uint32_t i = 0; i < pg->size; i++)
		sb_printf(&sb, "%s%" PRIu64, i ? "," : "",
			  (pg->live_mask & (1ull << i)) ? pg->set[i] : 0);
	sb_puts(&sb, "]}");
	if (!sb.oom) {
		snprintf(key, sizeof(key), "pg/stats/%" PRIu64 "/%u", pg->pool_id, pg->num);
		memset(&req, 0, sizeof(req));
		req.key = key;
		req.value = sb.buf;
		req.value_len = sb.len;
		etcd_put(ec, &req, pg_stats_cb, NULL);
	}
	sb_free(&sb);
}

/* PG life cycle and the etcd side of PGs (spec §8.1, §9).
 *
 * Life cycle of a PG this OSD is the config/pgs primary of (not paused):
 * lock pg/state/<pool>/<pg> with our lease (txn: create_revision == 0, or
 * lease == ours) publishing ["starting"], then peering (osd_peering.c),
 * then "active" or "incomplete". A PG that moves away is released (delete
 * guarded by lease == ours); at shutdown the lease revoke drops the keys.
 * A change of the osd_set, of the up peers or of pg/history re-peers.
 * pg/stats is published after peering and recovery.
 *
 * Also here: the object table (every object of our PGs, for per-object
 * ordering and versions) and the per-pool PG index that routes primary
 * ops without a search. */
#include "osd_pg.h"
#include "config.h"
#include "etcd.h"
#include "json.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static const char *const st_names[] = {
	[PG_OFF] = "offline", [PG_STARTING] = "starting", [PG_PEERING] = "peering",
	[PG_INCOMPLETE] = "incomplete", [PG_PEERED] = "peered", [PG_ACTIVE] = "active",
};

#define OBJ_MIN_BUCKETS	1024u

/* Test-only (README, osd_ec.c): VSTOR_TEST_EC_FAULT=partial:N|unstable:N|
 * stabilize:N. */
static void ec_fault_init(struct osd_pgs *P)
{
	const char *f = getenv("VSTOR_TEST_EC_FAULT");
	unsigned long long n = 0;
	char mode[16];

	if (!f || sscanf(f, "%15[a-z]:%llu", mode, &n) != 2 || !n)
		return;
	P->ec_fault = !strcmp(mode, "partial") ? 1 : !strcmp(mode, "unstable") ? 2 :
		      !strcmp(mode, "stabilize") ? 3 : 0;
	P->ec_fault_at = n;
	if (P->ec_fault)
		log_warn("VSTOR_TEST_EC_FAULT=%s: this OSD exits at EC write %llu (tests only)", f, n);
}

static struct osd_pgs *pgs_get(struct osd *osd)
{
	if (!osd->pgs) {
		osd->pgs = calloc(1, sizeof(*osd->pgs));
		if (!osd->pgs)
			return NULL;
		osd->pgs->objs.b = calloc(OBJ_MIN_BUCKETS, sizeof(struct obj *));
		if (!osd->pgs->objs.b) {
			free(osd->pgs);
			osd->pgs = NULL;
			return NULL;
		}
		osd->pgs->objs.nb = OBJ_MIN_BUCKETS;
		idmap_init(&osd->pgs->by_id);
		ec_fault_init(osd->pgs);
		pg_sync_init(osd);
	}
	return osd->pgs;
}

/* ---- objects ---- */

static size_t obj_hash(const struct obj_table *t, uint64_t inode, uint64_t stripe)
{
	uint64_t h = (inode * 0x9e3779b97f4a7c15ull) ^ (stripe * 0xc2b2ae3d27d4eb4full);

	return (size_t)((h ^ (h >> 29)) & (t->nb - 1));
}

/* Doubles the bucket array once the table is fuller than one object per
 * bucket (kept a power of two). */
static void obj_grow(struct obj_table *t)
{
	size_t nb = t->nb * 2;
	struct obj **b = calloc(nb, sizeof(*b)), **old = t->b;
	size_t onb = t->nb;

	if (!b)
		return;		/* longer chains, still correct */
	t->b = b;
	t->nb = nb;
	for (size_t i = 0; i < onb; i++)
		while (old[i]) {
			struct obj *o = old[i];
			size_t h = obj_hash(t, o->inode, o->stripe);

			old[i] = o->next;
			o->next = b[h];
			b[h] = o;
		}
	free(old);
}

struct obj *pg_obj_get(struct osd_pgs *P, uint64_t inode, uint64_t stripe, bool create)
{
	struct obj_table *t = &P->objs;
	struct obj **b = &t->b[obj_hash(t, inode, stripe)], *o;

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
	if (++t->n > t->nb)
		obj_grow(t);
	return o;
}

void pg_obj_st_clear(struct obj *o)
{
	free(o->st);
	o->st = NULL;
}

/* ---- etcd: pg/state ---- */

static void publish_retry_cb(struct ringloop_timer *t)
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
	} else if (pg->pub_delete) {
		/* failed: the key is not ours (any more) */
		pg->locked = false;
		if (res->succeeded)
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
			log_warn("PG %" PRIu64 "/%u: %s is held by another OSD%s (%.*s); retrying",
				 pg->pool_id, pg->num, pg->key, was_locked ? " (lock lost)" : "",
				 kv ? (int)(kv->value_len < 200 ? kv->value_len : 200) : 4,
				 kv ? kv->value : "gone");
			pg->locked = false;
			pg->st = PG_OFF;
			pg->etcd_again = false;
			ringloop_timer_add(osd->rl, &pg->retry,
					   ringloop_now_ns() + PG_RETRY_MS * 1000000ull);
			if (pg->fix_pub)
				pg_ec_fix_published(pg);	/* ends the peering */
			return;
		}
	}
	if (pg->etcd_again || (pg->st == PG_OFF && pg->locked)) {
		pg->etcd_again = false;
		pg_publish(pg);
		return;
	}
	if (pg->fix_pub)
		pg_ec_fix_published(pg);
	if (pg->st == PG_STARTING && pg->locked) {
		log_info("PG %" PRIu64 "/%u: locked %s", pg->pool_id, pg->num, pg->key);
		pg_peer(pg);
	}
}

void pg_publish(struct pgrun *pg)
{
	struct osd *osd = pg->osd;
	struct etcd_compare cmp = { .key = pg->key };
	struct etcd_txn_op ok = { .type = ETCD_OP_PUT };
	struct strbuf sb;
	int n = 0;

	if (!osd_etcd_client(osd))
		return;
	if (pg->st == PG_OFF && pg->busy_objs)
		return;		/* the next primary must list what they write: pg_obj_next */
	if (pg->etcd_inflight) {
		pg->etcd_again = true;
		return;
	}
	if (pg->st == PG_OFF && !pg->locked)
		return;
	sb_init(&sb);
	sb_printf(&sb, "{\"primary\":%" PRIu64 ",\"state\":[\"%s\"", osd->osd_num,
		  st_names[pg->st]);
	if (pg->st == PG_ACTIVE || pg->st == PG_PEERED) {
		if (pg->degraded)
			sb_puts(&sb, ",\"degraded\"");
		if (pg->n_incomplete)
			sb_puts(&sb, ",\"has_incomplete\"");
		if (pg->n_degraded)
			sb_puts(&sb, ",\"has_degraded\"");
		if (pg->n_misplaced)
			sb_puts(&sb, ",\"has_misplaced\"");
		if (pg->unclean)
			sb_puts(&sb, ",\"has_unclean\"");
		if (pg->left_on_dead)
			sb_puts(&sb, ",\"left_on_dead\"");
	}
	sb_puts(&sb, "],\"peers\":[");
	if (pg->st == PG_ACTIVE || pg->st == PG_PEERED || pg->st == PG_INCOMPLETE) {
		for (uint32_t i = 0; i < pg->npeers; i++)
			if (pg->peers[i].ok)
				sb_printf(&sb, "%s%" PRIu64, n++ ? "," : "", pg->peers[i].osd);
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
	pg->pub_delete = pg->st == PG_OFF;
	if (pg->st == PG_OFF) {
		ok.type = ETCD_OP_DELETE;
		ok.del.key = pg->key;
	} else {
		ok.put.key = pg->key;
		ok.put.value = sb.buf;
		ok.put.value_len = sb.len;
		ok.put.lease = osd_etcd_lease(osd);
	}
	if (osd_etcd_step(osd, &cmp, &ok, publish_cb, pg) == 0)
		pg->etcd_inflight = true;
	else
		log_warn("PG %" PRIu64 "/%u: cannot start an etcd request", pg->pool_id, pg->num);
	sb_free(&sb);
}

/* ---- configuration ---- */

uint64_t pg_peers_up(struct pgrun *pg)
{
	uint64_t m = 0;
	const char *a;
	int port;

	for (uint32_t i = 0; i < pg->npeers; i++)
		if (pg->peers[i].osd == pg->osd->osd_num ||
		    osd_etcd_peer(pg->osd, pg->peers[i].osd, &a, &port))
			m |= 1ull << i;
	return m;
}

struct pgrun *pg_route(struct osd_pgs *P, uint64_t inode, uint64_t stripe)
{
	uint64_t pool = inode >> VS_INODE_NUM_BITS;

	for (size_t i = 0; i < P->npools; i++) {
		const struct pool_pgs *pp = &P->pools[i];

		if (pp->pool_id == pool)
			return pp->by_num[stripe / pp->pg_stripe_size % pp->pg_count + 1];
	}
	return NULL;
}

static void pools_free(struct osd_pgs *P)
{
	for (size_t i = 0; i < P->npools; i++)
		free(P->pools[i].by_num);
	free(P->pools);
	P->pools = NULL;
	P->npools = 0;
}

/* Rebuilds the routing index from the PGs we want. */
static void pools_index(struct osd_pgs *P, const struct osd_pgmap *m)
{
	pools_free(P);
	P->pools = calloc(m->npgs ? m->npgs : 1, sizeof(*P->pools));
	if (!P->pools)
		return;
	for (size_t i = 0; i < m->npgs; i++) {
		const struct osd_pool_pgs *cp = &m->pgs[i];
		struct pool_pgs *pp = &P->pools[P->npools];

		pp->pool_id = cp->pool_id;
		pp->pg_count = (uint32_t)cp->n;
		pp->by_num = calloc(cp->n + 1, sizeof(*pp->by_num));
		if (!pp->by_num || !cp->n) {
			free(pp->by_num);
			continue;
		}
		pp->pg_stripe_size = 1;
		for (struct pgrun *pg = P->pgs; pg; pg = pg->next)
			if (pg->pool_id == cp->pool_id && pg->want && pg->num <= cp->n) {
				pp->by_num[pg->num] = pg;
				pp->pg_stripe_size = pg->pg_stripe_size;
			}
		P->npools++;
	}
}

static bool self_in_set(const struct osd_pg *cp, uint64_t self, uint32_t *pos)
{
	for (uint32_t i = 0; i < cp->set_size; i++)
		if (cp->osd_set[i] == self) {
			*pos = i;
			return true;
		}
	return false;
}

/* PGs by (pool, num) in P->by_id: config/pgs and pg/history events look
 * their PG up once each, and a search of the list made that quadratic in
 * the PG count. Pool ids past 32 bits (meaningless: a pool id is the top
 * 16 bits of an inode) stay in the list only. */
static uint64_t pg_id(uint64_t pool, uint32_t num)
{
	return pool >> 32 ? 0 : pool << 32 | num;
}

static struct pgrun *pg_lookup(struct osd_pgs *P, uint64_t pool, uint32_t num)
{
	uint64_t id = pg_id(pool, num);

	if (id)
		return idmap_get(&P->by_id, id);
	for (struct pgrun *pg = P->pgs; pg; pg = pg->next)
		if (pg->pool_id == pool && pg->num == num)
			return pg;
	return NULL;
}

static struct pgrun *pg_new(struct osd_pgs *P, struct osd *osd, uint64_t pool, uint32_t num)
{
	struct pgrun *pg = calloc(1, sizeof(*pg));
	uint64_t id = pg_id(pool, num);

	if (!pg || (id && idmap_put(&P->by_id, id, pg))) {
		free(pg);
		return NULL;
	}
	pg->osd = osd;
	pg->pool_id = pool;
	pg->num = num;
	snprintf(pg->key, sizeof(pg->key), "pg/state/%" PRIu64 "/%u", pool, num);
	snprintf(pg->hkey, sizeof(pg->hkey), "pg/history/%" PRIu64 "/%u", pool, num);
	pg_hist_init(&pg->hist);
	pg_hist_init(&pg->hist_new);
	ringloop_timer_init(&pg->retry, publish_retry_cb);
	ringloop_timer_init(&pg->rec_timer, pg_rec_timer_cb);
	ringloop_timer_init(&pg->peer_timer, pg_peer_timer_cb);
	ringloop_timer_init(&pg->probe_timer, pg_probe_timer_cb);
	pg->next = P->pgs;
	P->pgs = pg;
	return pg;
}

/* Applies one config/pgs entry to pg; true when it must re-peer. */
static bool pg_configure(struct pgrun *pg, const struct osd_pool *pool, const struct osd_pg *cp,
			 uint32_t pg_count, uint32_t self_pos)
{
	struct osd *osd = pg->osd;
	uint32_t dc = pool->scheme == OSD_SCHEME_REPLICATED ? 1 : pool->pg_size - pool->parity_chunks;
	uint64_t stripe = (uint64_t)osd->block_size * dc;
	bool changed = pg->size != cp->set_size || pg->minsize != pool->pg_minsize ||
		       pg->data_chunks != dc || pg->scheme != pool->scheme ||
		       memcmp(pg->set, cp->osd_set, cp->set_size * sizeof(uint64_t));

	memcpy(pg->set, cp->osd_set, cp->set_size * sizeof(uint64_t));
	pg->size = cp->set_size;
	pg->minsize = pool->pg_minsize;
	pg->scheme = pool->scheme;
	pg->data_chunks = dc;
	pg->ec = pool->scheme == OSD_SCHEME_REPLICATED ? NULL :
		 pg_ec_code(osd->pgs, (int)pool->scheme, dc, cp->set_size - dc);
	if (pool->scheme != OSD_SCHEME_REPLICATED && !pg->ec)
		log_err("PG %" PRIu64 "/%u: no erasure code for %u+%u: its ops fail with EIO",
			pg->pool_id, pg->num, dc, cp->set_size - dc);
	pg->self_pos = self_pos;
	if (pg->pg_count != pg_count)
		changed = true;
	pg->pg_count = pg_count;
	pg->pg_stripe_size = pool->pg_stripe_size > stripe ? pool->pg_stripe_size : stripe;
	return changed;
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
	pg_sync_config(osd);
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
			uint32_t pos = 0;
			bool want = pool && cp->primary == osd->osd_num && cp->set_size <= MAX_SET &&
				    (pool->scheme == OSD_SCHEME_REPLICATED ||
				     cp->set_size == pool->pg_size) &&
				    !osd_pg_paused(m, pp->pool_id, cp);
			bool changed;

			if (want && !self_in_set(cp, osd->osd_num, &pos)) {
				log_warn("PG %" PRIu64 "/%u: config/pgs names this OSD primary but not a "
					 "member of osd_set: not served", pp->pool_id, cp->num);
				want = false;
			}
			pg = pg_lookup(P, pp->pool_id, cp->num);
			if (!pg && !want)
				continue;
			if (!pg && !(pg = pg_new(P, osd, pp->pool_id, cp->num)))
				continue;
			pg->seen = true;
			pg->want = want;
			if (!want)
				continue;
			changed = pg_configure(pg, pool, cp, (uint32_t)pp->n, pos);
			if (pg->st == PG_OFF) {
				if (!pg->etcd_inflight) {
					pg->st = PG_STARTING;
					pg_publish(pg);
				}
			} else if (pg->st != PG_STARTING &&
				   (changed || (pg->st != PG_PEERING &&
						pg_peers_up(pg) != pg->up_mask))) {
				log_info("PG %" PRIu64 "/%u: %s changed, re-peering", pg->pool_id,
					 pg->num, changed ? "configuration" : "set of up peers");
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
			pg_rec_reset(pg);
			pg_publish(pg);
		}
	}
	pools_index(P, m);
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

void osd_pg_history_changed(struct osd *osd, const char *key, const char *value, size_t len,
			    int64_t mod_rev)
{
	uint64_t pool;
	unsigned num;
	int end = 0;
	struct pgrun *pg;

	if (!osd->pgs || sscanf(key, "pg/history/%" SCNu64 "/%u%n", &pool, &num, &end) != 2 ||
	    key[end])
		return;
	pg = pg_lookup(osd->pgs, pool, num);
	if (pg && pg->want)
		pg_hist_event(pg, value, len, mod_rev);
}

void osd_pg_stop(struct osd *osd)
{
	struct osd_pgs *P = osd->pgs;

	if (!P)
		return;
	P->stopping = true;
	ringloop_defer_cancel(osd->rl, &P->changed);
	ringloop_defer_cancel(osd->rl, &P->rec_kick);
	pg_sync_stop(osd);
	for (struct pgrun *pg = P->pgs; pg; pg = pg->next) {
		ringloop_timer_del(osd->rl, &pg->retry);
		ringloop_timer_del(osd->rl, &pg->rec_timer);
		ringloop_timer_del(osd->rl, &pg->peer_timer);
		ringloop_timer_del(osd->rl, &pg->probe_timer);
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
		pg_rec_reset(pg);
		free(pg->deg);
		free(pg->mis);
		for (uint32_t i = 0; i < pg->npeers; i++)
			free(pg->peers[i].list);
		pg_ec_fix_free(pg);
		pg_hist_free(&pg->hist);
		pg_hist_free(&pg->hist_new);
		free(pg);
	}
	for (size_t b = 0; b < P->objs.nb; b++)
		while (P->objs.b[b]) {
			struct obj *o = P->objs.b[b];

			P->objs.b[b] = o->next;
			free(o->st);
			free(o);
		}
	free(P->objs.b);
	idmap_free(&P->by_id);
	pg_ec_codes_free(P);
	pools_free(P);
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
	uint64_t unclean = pg->n_degraded + pg->n_misplaced + pg->n_incomplete;
	struct etcd_txn_op op = { .type = ETCD_OP_PUT };
	struct strbuf sb;
	char key[64];

	if (!osd_etcd_client(pg->osd) || pg->st != PG_ACTIVE)
		return;
	sb_init(&sb);
	sb_printf(&sb, "{\"object_count\":%" PRIu64 ",\"clean_count\":%" PRIu64
		  ",\"misplaced_count\":%" PRIu64 ",\"degraded_count\":%" PRIu64
		  ",\"incomplete_count\":%" PRIu64 ",\"write_osd_set\":[", pg->nobjs,
		  pg->nobjs > unclean ? pg->nobjs - unclean : 0, pg->n_misplaced, pg->n_degraded,
		  pg->n_incomplete);
	for (uint32_t i = 0; i < pg->size; i++)
		sb_printf(&sb, "%s%" PRIu64, i ? "," : "", pg->cur[i]);
	sb_puts(&sb, "]}");
	if (!sb.oom) {
		snprintf(key, sizeof(key), "pg/stats/%" PRIu64 "/%u", pg->pool_id, pg->num);
		op.put.key = key;
		op.put.value = sb.buf;
		op.put.value_len = sb.len;
		osd_etcd_step(pg->osd, NULL, &op, pg_stats_cb, NULL);
	}
	sb_free(&sb);
}

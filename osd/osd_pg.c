/* PGs of replicated pools and the primary ops on them (spec §4.0, §5,
 * §6, §8, §9).
 *
 * Life cycle of a PG this OSD is the config/pgs primary of (not paused):
 * lock pg/state/<pool>/<pg> with our lease (txn: create_revision == 0, or
 * lease == ours) publishing ["starting"], then ["peering"]: SEC_SYNC +
 * SEC_LIST to every other osd_set member over outgoing connections (and a
 * local list), per object the highest version is kept so writes go on above
 * it; members that answer are the live set. Below pg_minsize live members
 * the PG is "incomplete", else "active" (+ "degraded" below pg_size;
 * "has_degraded" when some object's newest version is not on every live
 * member; those objects form the PG's degraded list, repaired by the
 * recovery loop at the end of this file). No pg/history, no misplaced
 * objects. A PG that moves away is released
 * (delete guarded by lease == ours); at shutdown the lease revoke drops the
 * keys. A closed peer connection or a change of the up members re-peers.
 *
 * Primary ops: WRITE/DELETE are serialized per object in arrival order and
 * go to the local blockstore and every live member at once with the same
 * explicit version (current + 1); READ reads the local stable version;
 * an op on a degraded object first recovers it (in the object's queue);
 * SYNC syncs locally and every peer written since the last SYNC. */
#include "config.h"
#include "etcd.h"
#include "json.h"
#include "log.h"
#include "osd.h"
#include "osd_pgmap.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define OBJ_BUCKETS	65536u
#define MAX_SET		32
#define PG_RETRY_MS	1000

struct obj {
	uint64_t inode, stripe, version, pver;
	uint32_t gen, cnt;
	bool busy, rec_del;
	/* Peering result (set-index bits): members with the target version,
	 * live members lacking it (0 = clean); rec_del: the target is a
	 * deletion at version (del_ver: last version deleted here). */
	uint64_t have, miss, del_ver;
	uint64_t tver;			/* target version to recover */
	struct pgrun *pg;
	struct osd_op *wq_head, *wq_tail;
	struct obj *next;
};

enum pg_st { PG_OFF, PG_STARTING, PG_PEERING, PG_INCOMPLETE, PG_ACTIVE };

static const char *const st_names[] = { "offline", "starting", "peering", "incomplete", "active" };

struct pgrun {
	struct osd *osd;
	uint64_t pool_id;
	uint32_t num;
	enum pg_st st;
	bool want, seen, locked, etcd_inflight, etcd_again, peering, repeer;
	uint64_t set[MAX_SET];
	uint32_t size, minsize, pg_count;
	uint64_t pg_stripe_size;
	uint64_t live[MAX_SET];		/* live members other than this OSD */
	uint32_t nlive;			/* incl. this OSD */
	uint64_t up_mask;		/* set members up at the last peering */
	bool degraded;
	uint64_t has_degraded;
	uint32_t round;
	int pending;
	uint32_t nok;
	uint64_t ok_mask;
	char key[64];
	struct ringloop_timer retry;
	/* recovery: degraded objects of the last peering */
	uint32_t self_idx;
	uint64_t live_mask, nobjs;
	struct obj **rec;
	uint32_t nrec, rec_cap, rec_pos, rec_left, rec_busy;
	struct ringloop_timer rec_timer;
	struct pgrun *next;
};

struct peer_slot {
	uint64_t num;
	struct osd_conn *c;
};

struct osd_pgs {
	struct obj **buckets;
	struct pgrun *pgs;
	struct peer_slot *peers;
	size_t npeers;
	struct ringloop_defer changed;
	uint32_t gen;
	uint64_t next_id;
	unsigned rec_inflight;
	bool stopping;
	struct osd *pgs_owner;
};

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

static struct obj *obj_get(struct osd_pgs *P, uint64_t inode, uint64_t stripe, bool create)
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

/* ---- peer connections ---- */

static struct osd_conn *peer_conn(struct osd *osd, uint64_t num)
{
	struct osd_pgs *P = osd->pgs;
	struct peer_slot *n;
	const char *addr;
	int port;
	struct osd_conn *c;

	for (size_t i = 0; i < P->npeers; i++)
		if (P->peers[i].num == num)
			return P->peers[i].c;
	if (P->stopping || !osd_etcd_peer(osd, num, &addr, &port))
		return NULL;
	n = realloc(P->peers, (P->npeers + 1) * sizeof(*n));
	if (!n)
		return NULL;
	P->peers = n;
	c = osd_connect(osd, num, addr, port);
	if (!c)
		return NULL;
	P->peers[P->npeers].num = num;
	P->peers[P->npeers].c = c;
	P->npeers++;
	return c;
}

static void pg_repeer(struct pgrun *pg);

void osd_pg_conn_closed(struct osd *osd, struct osd_conn *c)
{
	struct osd_pgs *P = osd->pgs;

	if (!P)
		return;
	for (size_t i = 0; i < P->npeers; i++)
		if (P->peers[i].c == c) {
			P->peers[i] = P->peers[--P->npeers];
			break;
		}
	if (P->stopping)
		return;
	for (struct pgrun *pg = P->pgs; pg; pg = pg->next) {
		if (pg->st != PG_ACTIVE)
			continue;
		for (uint32_t i = 0; i + 1 < pg->nlive; i++)
			if (pg->live[i] == c->peer_osd) {
				log_info("PG %" PRIu64 "/%u: lost the connection to OSD %" PRIu64
					 ", re-peering", pg->pool_id, pg->num, c->peer_osd);
				pg_repeer(pg);
				break;
			}
	}
}

static struct osd_op *sub_new(struct osd *osd, uint64_t opcode, void (*cb)(struct osd_op *))
{
	struct osd_op *op = osd_op_alloc(osd);

	if (!op)
		return NULL;
	op->is_sub = true;
	op->sub_cb = cb;
	op->parent = NULL;
	op->pg = NULL;
	vs_req_init(&op->req, ++osd->pgs->next_id, opcode);
	op->opcode = opcode;
	op->iov[0].iov_base = &op->req;
	op->iov[0].iov_len = VS_PACKET_SIZE;
	op->niov = 1;
	return op;
}

static int64_t sub_retval(struct osd_op *sub)
{
	return (int64_t)vs_le64_get(sub->reply.reply.retval);
}

/* ---- etcd: pg/state ---- */

static void pg_publish(struct pgrun *pg);
static void pg_peer(struct pgrun *pg);

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

static void pg_publish(struct pgrun *pg)
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

/* ---- peering ---- */

static int cmp_ver(const void *a, const void *b)
{
	const struct bs_obj_ver *x = a, *y = b;

	if (x->inode != y->inode)
		return x->inode < y->inode ? -1 : 1;
	if (x->stripe != y->stripe)
		return x->stripe < y->stripe ? -1 : 1;
	return x->version > y->version ? -1 : x->version < y->version ? 1 : 0;
}

/* Merges one member's list (native byte order, sorted here). */
static void merge_list(struct pgrun *pg, struct bs_obj_ver *v, uint32_t n, uint64_t bit)
{
	struct osd_pgs *P = pg->osd->pgs;

	if (!n)
		return;
	qsort(v, n, sizeof(*v), cmp_ver);
	for (uint32_t i = 0; i < n; i++) {
		struct obj *o;

		if (i && v[i].inode == v[i - 1].inode && v[i].stripe == v[i - 1].stripe)
			continue;
		o = obj_get(P, v[i].inode, v[i].stripe, true);
		if (!o)
			continue;
		if (o->gen != pg->round) {
			o->gen = pg->round;
			o->pg = pg;
			o->pver = v[i].version;
			o->cnt = 1;
			o->have = bit;
		} else if (v[i].version > o->pver) {
			o->pver = v[i].version;
			o->cnt = 1;
			o->have = bit;
		} else if (v[i].version == o->pver) {
			o->cnt++;
			o->have |= bit;
		}
	}
}

static void pg_stats_publish(struct pgrun *pg);
static void rec_kick(struct osd_pgs *P);

static void peer_done(struct pgrun *pg)
{
	struct osd_pgs *P = pg->osd->pgs;
	uint64_t objs = 0;

	if (--pg->pending)
		return;
	pg->peering = false;
	if (P->stopping)
		return;
	if (pg->repeer) {
		pg->repeer = false;
		if (pg->st != PG_OFF)
			pg_peer(pg);
		return;
	}
	if (pg->st != PG_PEERING)
		return;
	pg->nlive = 0;
	for (uint32_t i = 0; i < pg->size; i++)
		if (pg->ok_mask & (1ull << i)) {
			if (pg->set[i] != pg->osd->osd_num)
				pg->live[pg->nlive] = pg->set[i], pg->nlive++;
		}
	pg->nlive++;	/* this OSD (its local list must have succeeded) */
	if (!(pg->ok_mask & (1ull << 63)))
		pg->nlive = 0;
	pg->live_mask = 0;
	for (uint32_t i = 0; i < pg->size; i++)
		if (i != pg->self_idx && (pg->ok_mask & (1ull << i)))
			pg->live_mask |= 1ull << i;
	if (pg->ok_mask & (1ull << 63))
		pg->live_mask |= 1ull << pg->self_idx;
	pg->nrec = pg->rec_pos = pg->rec_left = 0;
	for (uint32_t b = 0; b < OBJ_BUCKETS; b++)
		for (struct obj *o = P->buckets[b]; o; o = o->next) {
			if (o->pg != pg)
				continue;
			o->miss = 0;
			if (o->gen != pg->round)
				continue;	/* listed by no member */
			objs++;
			if (o->del_ver && o->del_ver == o->version && o->version > o->pver) {
				o->rec_del = true;	/* deleted here, still on some */
				o->miss = o->have & pg->live_mask;
				o->tver = o->version;
			} else {
				if (o->pver > o->version)
					o->version = o->pver;
				o->rec_del = false;
				o->miss = pg->live_mask & ~o->have;
				o->tver = o->pver;
			}
			if (!o->miss)
				continue;
			if (pg->nrec == pg->rec_cap) {
				uint32_t cap = pg->rec_cap ? pg->rec_cap * 2 : 64;
				struct obj **n = realloc(pg->rec, cap * sizeof(*n));

				if (!n) {
					o->miss = 0;
					log_err("PG %" PRIu64 "/%u: out of memory for the degraded list",
						pg->pool_id, pg->num);
					continue;
				}
				pg->rec = n;
				pg->rec_cap = cap;
			}
			pg->rec[pg->nrec++] = o;
		}
	pg->rec_left = pg->nrec;
	pg->has_degraded = pg->nrec;
	pg->nobjs = objs;
	if (pg->nlive < pg->minsize) {
		pg->st = PG_INCOMPLETE;
		log_warn("PG %" PRIu64 "/%u: incomplete (%u of %u OSDs live, pg_minsize %u)",
			 pg->pool_id, pg->num, pg->nlive, pg->size, pg->minsize);
	} else {
		pg->st = PG_ACTIVE;
		pg->degraded = pg->nlive < pg->size;
		log_info("PG %" PRIu64 "/%u: active%s, %u of %u OSDs live, %" PRIu64 " objects, "
			 "has_degraded %" PRIu64, pg->pool_id, pg->num,
			 pg->degraded ? "+degraded" : "", pg->nlive, pg->size, objs, pg->has_degraded);
	}
	pg_publish(pg);
	pg_stats_publish(pg);
	if (pg->st == PG_ACTIVE)
		rec_kick(P);
}

static struct pgrun *sub_pg(struct osd_op *sub)
{
	return sub->pg;
}

static void peer_sync_cb(struct osd_op *sub)
{
	peer_done(sub_pg(sub));
}

static void peer_list_cb(struct osd_op *sub)
{
	struct pgrun *pg = sub_pg(sub);
	int64_t rv = sub_retval(sub);

	if (rv >= 0 && sub->round == pg->round) {
		struct bs_obj_ver *v = sub->rbuf;

		for (int64_t i = 0; i < rv; i++) {
			v[i].inode = vs_le64_get(v[i].inode);
			v[i].stripe = vs_le64_get(v[i].stripe);
			v[i].version = vs_le64_get(v[i].version);
		}
		merge_list(pg, v, (uint32_t)rv, 1ull << sub->peer);
		pg->ok_mask |= 1ull << sub->peer;
	} else if (rv < 0) {
		log_info("PG %" PRIu64 "/%u: OSD %" PRIu64 " did not answer SEC_LIST (%s)",
			 pg->pool_id, pg->num, pg->set[sub->peer], strerror((int)-rv));
	}
	peer_done(pg);
}

static void local_list_cb(struct bs_op *bop)
{
	struct osd_op *op = bop->priv;
	struct pgrun *pg = op->pg;

	if (bop->retval >= 0 && op->round == pg->round) {
		merge_list(pg, bop->list, bop->list_count, 1ull << pg->self_idx);
		pg->ok_mask |= 1ull << 63;
	} else if (bop->retval < 0) {
		log_err("PG %" PRIu64 "/%u: local list failed: %s", pg->pool_id, pg->num,
			strerror(-bop->retval));
	}
	osd_op_free(op->osd, op);
	peer_done(pg);
}

static void pg_peer(struct pgrun *pg)
{
	struct osd *osd = pg->osd;
	struct osd_pgs *P = osd->pgs;
	struct osd_op *op;
	const char *a;
	int port;

	if (pg->peering) {
		pg->repeer = true;
		return;
	}
	pg->st = PG_PEERING;
	pg->peering = true;
	pg->repeer = false;
	pg->round = ++P->gen;
	pg->ok_mask = 0;
	pg->up_mask = 0;
	pg->pending = 1;
	pg->self_idx = 63;
	for (uint32_t i = 0; i < pg->size; i++)
		if (pg->set[i] == osd->osd_num)
			pg->self_idx = i;
	pg_publish(pg);
	for (uint32_t i = 0; i < pg->size; i++) {
		uint64_t m = pg->set[i];
		struct osd_conn *c;
		struct osd_op *s1, *s2;

		if (!m)
			continue;
		if (m == osd->osd_num) {
			pg->up_mask |= 1ull << i;
			continue;
		}
		if (osd_etcd_peer(osd, m, &a, &port))
			pg->up_mask |= 1ull << i;
		c = peer_conn(osd, m);
		if (!c)
			continue;
		s1 = sub_new(osd, VS_OP_SEC_SYNC, peer_sync_cb);
		s2 = sub_new(osd, VS_OP_SEC_LIST, peer_list_cb);
		if (!s1 || !s2) {
			if (s1)
				osd_op_free(osd, s1);
			if (s2)
				osd_op_free(osd, s2);
			continue;
		}
		s1->pg = s2->pg = pg;
		s2->round = pg->round;
		s2->peer = i;
		vs_le32_set(&s2->req.sec_list.pg_num, pg->num);
		vs_le32_set(&s2->req.sec_list.pg_count, pg->pg_count);
		vs_le64_set(&s2->req.sec_list.pg_stripe_size, pg->pg_stripe_size);
		vs_le64_set(&s2->req.sec_list.min_inode, pg->pool_id << VS_INODE_NUM_BITS);
		vs_le64_set(&s2->req.sec_list.max_inode,
			    (pg->pool_id << VS_INODE_NUM_BITS) | VS_INODE_NUM_MASK);
		pg->pending += 2;
		osd_send_sub(c, s1);
		osd_send_sub(c, s2);
	}
	op = osd_op_alloc(osd);
	if (op) {
		memset(&op->bs, 0, sizeof(op->bs));
		op->pg = pg;
		op->round = pg->round;
		op->bs.opcode = BS_OP_LIST;
		op->bs.pg_num = pg->num;
		op->bs.pg_count = pg->pg_count;
		op->bs.pg_stripe_size = pg->pg_stripe_size;
		op->bs.min_inode = pg->pool_id << VS_INODE_NUM_BITS;
		op->bs.max_inode = (pg->pool_id << VS_INODE_NUM_BITS) | VS_INODE_NUM_MASK;
		op->bs.cb = local_list_cb;
		op->bs.priv = op;
		pg->pending++;
		bs_submit(osd->bs, &op->bs);
	}
	peer_done(pg);
}

static void pg_repeer(struct pgrun *pg)
{
	if (pg->st == PG_OFF || pg->st == PG_STARTING)
		return;
	pg_peer(pg);
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

static void rec_timer_cb(struct ringloop_timer *t)
{
	struct pgrun *pg = (struct pgrun *)(void *)((char *)t - offsetof(struct pgrun, rec_timer));

	pg->rec_pos = 0;
	rec_kick(pg->osd->pgs);
}

static struct pgrun *pg_find(struct osd_pgs *P, uint64_t pool, uint32_t num)
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
				ringloop_timer_init(&pg->rec_timer, rec_timer_cb);
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
	rec_kick(P);	/* no_recovery may have changed */
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

/* ---- primary ops ---- */

static void reply_rw(struct osd_op *op, int64_t retval, uint64_t version)
{
	vs_reply_init(&op->reply, &op->req, retval);
	vs_le64_set(&op->reply.reply_rw.version, version);
	op->iov[0].iov_base = &op->reply;
	op->iov[0].iov_len = VS_PACKET_SIZE;
	op->niov = 1;
}

static void reply_err(struct osd_op *op, int64_t err)
{
	reply_rw(op, err, 0);
	osd_send_reply(op);
}

static void rw_start(struct osd *osd, struct osd_op *op);
static void rec_start(struct osd_op *op);
static void rec_done(struct osd_op *op, bool ok);
static void read_submit(struct osd *osd, struct osd_op *op);

static void obj_next(struct osd *osd, struct obj *o)
{
	struct osd_op *op = o->wq_head;

	o->busy = false;
	if (!op)
		return;
	o->wq_head = op->wnext;
	if (!o->wq_head)
		o->wq_tail = NULL;
	o->busy = true;
	rw_start(osd, op);
}

static void rw_put(struct osd_op *op)
{
	struct obj *o = op->obj;
	bool del = op->opcode == VS_OP_DELETE;

	if (--op->pending)
		return;
	if (op->bs.retval >= 0 && op->newver > o->version)
		o->version = op->newver;
	if (del && op->result == 0)
		o->del_ver = op->newver;
	if (op->result == 0)
		reply_rw(op, del ? 0 : (int64_t)vs_le32_get(op->req.rw.len), op->newver);
	else
		reply_rw(op, op->result, o->version);
	osd_send_reply(op);
	obj_next(op->osd, o);
}

/* Deleting an object that does not exist (or no longer does) succeeds, as
 * spec §4.0.5 says; the blockstore reports it as -ENOENT. */
static bool delete_of_nothing(const struct osd_op *op, int64_t rv)
{
	return op->opcode == VS_OP_DELETE && rv == -ENOENT;
}

static void rw_local_cb(struct bs_op *bop)
{
	struct osd_op *op = bop->priv;

	if (bop->retval < 0 && !op->result && !delete_of_nothing(op, bop->retval))
		op->result = bop->retval;
	rw_put(op);
}

static void rw_sub_cb(struct osd_op *sub)
{
	struct osd_op *op = sub->parent;
	int64_t rv = sub_retval(sub);

	if (rv < 0 && !op->result && !delete_of_nothing(op, rv)) {
		log_warn("%s of %" PRIx64 ":%" PRIx64 " v%" PRIu64 " on OSD %" PRIu64 " failed: %s",
			 vs_op_name(sub->opcode), vs_le64_get(op->req.rw.inode),
			 ((struct obj *)op->obj)->stripe, op->newver, sub->peer,
			 strerror((int)-rv));
		op->result = rv == -EPIPE ? -EPIPE : rv;
	}
	rw_put(op);
}

static void rw_start(struct osd *osd, struct osd_op *op)
{
	struct obj *o = op->obj;
	struct pgrun *pg = op->pg;
	uint64_t cas = vs_le64_get(op->req.rw.version);
	uint32_t len = vs_le32_get(op->req.rw.len);
	bool del = op->opcode == VS_OP_DELETE;
	uint64_t off = vs_le64_get(op->req.rw.offset) - o->stripe;

	if (op->recovery) {
		if (pg->st != PG_ACTIVE || op->round != pg->round || !o->miss)
			rec_done(op, false);
		else
			rec_start(op);
		return;
	}
	if (pg->st != PG_ACTIVE) {
		reply_err(op, -EPIPE);
		obj_next(osd, o);
		return;
	}
	if (o->miss && o->pg == pg) {
		/* not clean: recover it first, then run op (spec §8.2) */
		struct osd_op *r = osd_op_alloc(osd);

		if (!r) {
			reply_err(op, -ENOMEM);
			obj_next(osd, o);
			return;
		}
		r->recovery = true;
		r->pg = pg;
		r->obj = o;
		r->round = pg->round;
		r->parent = op;
		r->opcode = 0;
		rec_start(r);
		return;
	}
	if (op->opcode == VS_OP_READ) {
		read_submit(osd, op);
		return;
	}
	if (cas && o->version != cas - 1) {
		reply_rw(op, -EINTR, o->version);
		osd_send_reply(op);
		obj_next(osd, o);
		return;
	}
	op->newver = o->version + 1;
	op->result = 0;
	op->pending = 2;
	memset(&op->bs, 0, sizeof(op->bs));
	op->bs.opcode = del ? BS_OP_DELETE : BS_OP_WRITE_STABLE;
	op->bs.oid.inode = o->inode;
	op->bs.oid.stripe = o->stripe;
	op->bs.version = op->newver;
	op->bs.offset = (uint32_t)off;
	op->bs.len = del ? 0 : len;
	op->bs.buf = del ? NULL : op->buf;
	op->bs.cb = rw_local_cb;
	op->bs.priv = op;
	bs_submit(osd->bs, &op->bs);
	for (uint32_t i = 0; i + 1 < pg->nlive; i++) {
		struct osd_conn *c = peer_conn(osd, pg->live[i]);
		struct osd_op *s;

		if (!c || !(s = sub_new(osd, del ? VS_OP_SEC_DELETE : VS_OP_SEC_WRITE_STABLE,
					rw_sub_cb))) {
			if (!op->result)
				op->result = -EPIPE;
			continue;
		}
		s->parent = op;
		s->peer = pg->live[i];
		if (del) {
			vs_le64_set(&s->req.sec_del.oid.inode, o->inode);
			vs_le64_set(&s->req.sec_del.oid.stripe, o->stripe);
			vs_le64_set(&s->req.sec_del.version, op->newver);
		} else {
			vs_le64_set(&s->req.sec_rw.oid.inode, o->inode);
			vs_le64_set(&s->req.sec_rw.oid.stripe, o->stripe);
			vs_le64_set(&s->req.sec_rw.version, op->newver);
			vs_le32_set(&s->req.sec_rw.offset, (uint32_t)off);
			vs_le32_set(&s->req.sec_rw.len, len);
			if (len) {
				s->iov[1].iov_base = op->buf;
				s->iov[1].iov_len = len;
				s->niov = 2;
			}
		}
		c->dirty = true;
		op->pending++;
		osd_send_sub(c, s);
	}
	rw_put(op);
}

static void read_cb(struct bs_op *bop)
{
	struct osd_op *op = bop->priv;
	struct osd *osd = op->osd;
	uint32_t len = vs_le32_get(op->req.rw.len);

	if (bop->retval == -ENOENT) {
		bop->retval = (int)len;
		bop->version = 0;
		if (len)
			memset(op->buf, 0, len);
		memset(op->bitmap, 0, osd->bitmap_size);
	}
	if (op->obj)
		obj_next(osd, op->obj);	/* queued behind a recovery */
	if (bop->retval < 0) {
		reply_err(op, bop->retval);
		return;
	}
	reply_rw(op, len, bop->version);
	vs_le32_set(&op->reply.reply_rw.bitmap_len, osd->bitmap_size);
	op->iov[op->niov].iov_base = op->bitmap;
	op->iov[op->niov++].iov_len = osd->bitmap_size;
	if (len) {
		op->iov[op->niov].iov_base = op->buf;
		op->iov[op->niov++].iov_len = len;
	}
	osd_send_reply(op);
}

static void read_submit(struct osd *osd, struct osd_op *op)
{
	uint64_t inode = vs_le64_get(op->req.rw.inode), offset = vs_le64_get(op->req.rw.offset);
	uint64_t stripe = offset / osd->block_size * osd->block_size;

	memset(&op->bs, 0, sizeof(op->bs));
	op->bs.opcode = BS_OP_READ;
	op->bs.oid.inode = inode;
	op->bs.oid.stripe = stripe;
	op->bs.offset = (uint32_t)(offset - stripe);
	op->bs.len = vs_le32_get(op->req.rw.len);
	op->bs.buf = op->buf;
	op->bs.bitmap = op->bitmap;
	op->bs.cb = read_cb;
	op->bs.priv = op;
	bs_submit(osd->bs, &op->bs);
}

static void sync_put(struct osd_op *op)
{
	if (--op->pending)
		return;
	reply_rw(op, op->result, 0);
	osd_send_reply(op);
}

static void sync_local_cb(struct bs_op *bop)
{
	struct osd_op *op = bop->priv;

	if (bop->retval < 0 && !op->result)
		op->result = bop->retval;
	sync_put(op);
}

static void sync_sub_cb(struct osd_op *sub)
{
	struct osd_op *op = sub->parent;
	int64_t rv = sub_retval(sub);

	if (rv < 0 && !op->result)
		op->result = rv;
	sync_put(op);
}

static void exec_sync(struct osd *osd, struct osd_op *op)
{
	struct osd_pgs *P = osd->pgs;

	if (osd->immediate_commit == BS_IC_ALL) {
		reply_err(op, 0);
		return;
	}
	op->result = 0;
	op->pending = 2;
	memset(&op->bs, 0, sizeof(op->bs));
	op->bs.opcode = BS_OP_SYNC;
	op->bs.cb = sync_local_cb;
	op->bs.priv = op;
	bs_submit(osd->bs, &op->bs);
	for (size_t i = 0; P && i < P->npeers; i++) {
		struct osd_conn *c = P->peers[i].c;
		struct osd_op *s;

		if (!c->dirty)
			continue;
		s = sub_new(osd, VS_OP_SEC_SYNC, sync_sub_cb);
		if (!s) {
			op->result = -ENOMEM;
			continue;
		}
		c->dirty = false;
		s->parent = op;
		op->pending++;
		osd_send_sub(c, s);
	}
	sync_put(op);
}

/* Ops on one object run one at a time in arrival order (spec §4.0.3). */
static void obj_enqueue(struct osd *osd, struct obj *o, struct osd_op *op)
{
	op->obj = o;
	op->wnext = NULL;
	if (o->busy) {
		if (o->wq_tail)
			o->wq_tail->wnext = op;
		else
			o->wq_head = op;
		o->wq_tail = op;
		return;
	}
	o->busy = true;
	rw_start(osd, op);
}

void osd_primary_exec(struct osd *osd, struct osd_op *op)
{
	struct osd_pgs *P = osd->pgs;
	const struct osd_pgmap *m = osd_etcd_pgmap(osd);
	uint64_t inode = vs_le64_get(op->req.rw.inode), offset = vs_le64_get(op->req.rw.offset);
	uint32_t len = vs_le32_get(op->req.rw.len);
	uint64_t pool_id = inode >> VS_INODE_NUM_BITS, stripe, pgn;
	const struct osd_pool *pool;
	struct pgrun *pg;
	struct obj *o;

	if (!m) {
		/* Without etcd this OSD never runs PGs: retrying cannot help. */
		reply_err(op, -EINVAL);
		return;
	}
	if (op->opcode == VS_OP_SYNC) {
		exec_sync(osd, op);
		return;
	}
	if (vs__check_primary_rw(&op->req.rw, osd->bitmap_granularity, osd->block_size)) {
		reply_err(op, -EINVAL);
		return;
	}
	pool = m ? osd_pgmap_pool(m, pool_id) : NULL;
	if (!P || !pool) {
		reply_err(op, -EPIPE);
		return;
	}
	if (pool->scheme != OSD_SCHEME_REPLICATED) {
		reply_err(op, -EINVAL);
		return;
	}
	stripe = offset / osd->block_size * osd->block_size;
	pg = NULL;
	for (struct pgrun *p = P->pgs; p; p = p->next)
		if (p->pool_id == pool_id && p->want) {
			pg = p;
			break;
		}
	if (!pg || !pg->pg_count) {
		reply_err(op, -EPIPE);
		return;
	}
	pgn = stripe / pg->pg_stripe_size % pg->pg_count + 1;
	pg = pg_find(P, pool_id, (uint32_t)pgn);
	if (!pg || !pg->want || pg->st != PG_ACTIVE) {
		reply_err(op, -EPIPE);
		return;
	}
	op->pg = pg;
	if (op->opcode == VS_OP_READ) {
		if (osd->bitmap_size <= sizeof(op->bmp_inline)) {
			op->bitmap = op->bmp_inline;
		} else {
			op->bmp = osd_buf_get(osd, osd->bitmap_size, &op->bmp_size);
			op->bitmap = op->bmp;
		}
		if (!op->bitmap || (len && !(op->buf = osd_buf_get(osd, len, &op->buf_size)))) {
			reply_err(op, -ENOMEM);
			return;
		}
		o = obj_get(P, inode, stripe, false);
		op->obj = NULL;
		if (!o || !(o->miss && o->pg == pg)) {
			read_submit(osd, op);
			return;
		}
		/* a degraded object: in order, recovered first */
		obj_enqueue(osd, o, op);
		return;
	}
	if (op->opcode == VS_OP_DELETE && pg->degraded) {
		reply_err(op, -EBUSY);
		return;
	}
	o = obj_get(P, inode, stripe, true);
	if (!o) {
		reply_err(op, -ENOMEM);
		return;
	}
	obj_enqueue(osd, o, op);
}

/* ---- recovery (spec §8.2 steps 4-8) ----
 *
 * Peering leaves per PG a list of degraded objects (o->miss != 0). Up to
 * recovery_queue_depth recovery ops per OSD walk it; each goes through the
 * object's queue like a client write: read the target version (locally or
 * SEC_READ from a member that has it), then SEC_WRITE_STABLE it with the
 * same version (or SEC_DELETE) to every live member lacking it. A client
 * op on a degraded object recovers it first (rw_start). */

static void pg_stats_cb(void *arg, struct etcd_result *res)
{
	(void)arg;
	(void)res;
}

static void pg_stats_publish(struct pgrun *pg)
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

static void rec_check_done(struct pgrun *pg)
{
	struct osd *osd = pg->osd;

	if (pg->st != PG_ACTIVE || osd->pgs->stopping)
		return;
	if (pg->has_degraded && !pg->rec_left) {
		pg->has_degraded = 0;
		log_info("PG %" PRIu64 "/%u: recovery done", pg->pool_id, pg->num);
		pg_publish(pg);
		pg_stats_publish(pg);
	} else if (pg->rec_left && !pg->rec_busy && pg->rec_pos >= pg->nrec) {
		/* some objects failed: another pass later */
		ringloop_timer_del(osd->rl, &pg->rec_timer);
		ringloop_timer_add(osd->rl, &pg->rec_timer,
				   ringloop_now_ns() + PG_RETRY_MS * 1000000ull);
	}
}

static void rec_kick(struct osd_pgs *P)
{
	struct osd *osd = P->pgs_owner;
	uint64_t depth;

	if (!osd || P->stopping || !osd->cfg || cfg_bool(osd->cfg, "no_recovery"))
		return;
	depth = cfg_u64(osd->cfg, "recovery_queue_depth");
	if (!depth)
		depth = 1;
	for (struct pgrun *pg = P->pgs; pg && P->rec_inflight < depth; pg = pg->next) {
		if (pg->st != PG_ACTIVE || pg->peering)
			continue;
		while (P->rec_inflight < depth && pg->rec_pos < pg->nrec) {
			struct obj *o = pg->rec[pg->rec_pos];
			struct osd_op *op;

			if (!o->miss || o->pg != pg) {
				pg->rec_pos++;
				continue;	/* fixed by a client write */
			}
			op = osd_op_alloc(osd);
			if (!op)
				return;
			pg->rec_pos++;
			op->recovery = true;
			op->pg = pg;
			op->obj = o;
			op->round = pg->round;
			op->parent = NULL;
			op->opcode = 0;
			op->wnext = NULL;
			P->rec_inflight++;
			pg->rec_busy++;
			if (o->busy) {
				if (o->wq_tail)
					o->wq_tail->wnext = op;
				else
					o->wq_head = op;
				o->wq_tail = op;
				continue;
			}
			o->busy = true;
			rec_start(op);
		}
		rec_check_done(pg);
	}
}

static void rec_done(struct osd_op *op, bool ok)
{
	struct obj *o = op->obj;
	struct pgrun *pg = op->pg;
	struct osd *osd = pg->osd;
	struct osd_pgs *P = osd->pgs;
	struct osd_op *parent = op->parent;

	if (ok && op->round == pg->round && o->miss) {
		o->miss = 0;
		if (pg->rec_left)
			pg->rec_left--;
		osd->rec_degraded_count++;
		if (!o->rec_del)
			osd->rec_degraded_bytes += osd->block_size;
	}
	if (!parent) {
		P->rec_inflight--;
		pg->rec_busy--;
	}
	osd_op_free(osd, op);
	if (parent) {
		if (ok)
			rw_start(osd, parent);
		else {
			reply_err(parent, -EPIPE);
			obj_next(osd, o);
		}
	} else {
		obj_next(osd, o);
	}
	rec_check_done(pg);
	rec_kick(P);
}

static void rec_put(struct osd_op *op)
{
	if (--op->pending)
		return;
	rec_done(op, op->result == 0);
}

static void rec_local_cb(struct bs_op *bop)
{
	struct osd_op *op = bop->priv;

	if (bop->retval < 0 && !op->result)
		op->result = bop->retval;
	rec_put(op);
}

static void rec_sub_cb(struct osd_op *sub)
{
	struct osd_op *op = sub->parent;
	int64_t rv = sub_retval(sub);

	if (rv < 0 && !op->result) {
		log_warn("recovery: %s of %" PRIx64 ":%" PRIx64 " v%" PRIu64 " on OSD %" PRIu64
			 " failed: %s", vs_op_name(sub->opcode), ((struct obj *)op->obj)->inode,
			 ((struct obj *)op->obj)->stripe, ((struct obj *)op->obj)->tver,
			 sub->peer, strerror((int)-rv));
		op->result = rv;
	}
	rec_put(op);
}

static void rec_write(struct osd_op *op)
{
	struct obj *o = op->obj;
	struct pgrun *pg = op->pg;
	struct osd *osd = pg->osd;
	bool del = o->rec_del;

	op->pending = 1;
	op->result = 0;
	for (uint32_t i = 0; i < pg->size; i++) {
		struct osd_conn *c;
		struct osd_op *s;

		if (!(o->miss & (1ull << i)))
			continue;
		if (i == pg->self_idx) {
			memset(&op->bs, 0, sizeof(op->bs));
			op->bs.opcode = del ? BS_OP_DELETE : BS_OP_WRITE_STABLE;
			op->bs.oid.inode = o->inode;
			op->bs.oid.stripe = o->stripe;
			op->bs.version = o->tver;
			op->bs.len = del ? 0 : osd->block_size;
			op->bs.buf = del ? NULL : op->buf;
			op->bs.bitmap = del ? NULL : op->bitmap;
			op->bs.cb = rec_local_cb;
			op->bs.priv = op;
			op->pending++;
			bs_submit(osd->bs, &op->bs);
			continue;
		}
		c = peer_conn(osd, pg->set[i]);
		if (!c || !(s = sub_new(osd, del ? VS_OP_SEC_DELETE : VS_OP_SEC_WRITE_STABLE,
					rec_sub_cb))) {
			op->result = -EPIPE;
			continue;
		}
		s->parent = op;
		s->peer = pg->set[i];
		if (del) {
			vs_le64_set(&s->req.sec_del.oid.inode, o->inode);
			vs_le64_set(&s->req.sec_del.oid.stripe, o->stripe);
			vs_le64_set(&s->req.sec_del.version, o->tver);
		} else {
			vs_le64_set(&s->req.sec_rw.oid.inode, o->inode);
			vs_le64_set(&s->req.sec_rw.oid.stripe, o->stripe);
			vs_le64_set(&s->req.sec_rw.version, o->tver);
			vs_le32_set(&s->req.sec_rw.offset, 0);
			vs_le32_set(&s->req.sec_rw.len, osd->block_size);
			vs_le32_set(&s->req.sec_rw.attr_len, osd->bitmap_size);
			s->iov[1].iov_base = op->bitmap;
			s->iov[1].iov_len = osd->bitmap_size;
			s->iov[2].iov_base = op->buf;
			s->iov[2].iov_len = osd->block_size;
			s->niov = 3;
		}
		c->dirty = true;
		op->pending++;
		osd_send_sub(c, s);
	}
	rec_put(op);
}

static void rec_read_local_cb(struct bs_op *bop)
{
	struct osd_op *op = bop->priv;
	struct obj *o = op->obj;

	if (bop->retval < 0 || bop->version != o->tver) {
		log_warn("recovery: local read of %" PRIx64 ":%" PRIx64 " v%" PRIu64
			 " failed: %d (version %" PRIu64 ")", o->inode, o->stripe, o->tver,
			 bop->retval, bop->version);
		rec_done(op, false);
		return;
	}
	rec_write(op);
}

static void rec_read_sub_cb(struct osd_op *sub)
{
	struct osd_op *op = sub->parent;
	struct osd *osd = op->osd;
	struct obj *o = op->obj;
	int64_t rv = sub_retval(sub);
	uint32_t al = vs_le32_get(sub->reply.reply_sec_rw.attr_len);

	if (rv != (int64_t)osd->block_size || !sub->rbuf ||
	    vs_le64_get(sub->reply.reply_sec_rw.version) != o->tver) {
		log_warn("recovery: SEC_READ of %" PRIx64 ":%" PRIx64 " v%" PRIu64 " from OSD %"
			 PRIu64 " failed: %" PRId64, o->inode, o->stripe, o->tver, sub->peer, rv);
		rec_done(op, false);
		return;
	}
	memset(op->bitmap, 0, osd->bitmap_size);
	memcpy(op->bitmap, sub->rbuf, al < osd->bitmap_size ? al : osd->bitmap_size);
	memcpy(op->buf, (uint8_t *)sub->rbuf + al, osd->block_size);
	rec_write(op);
}

static void rec_start(struct osd_op *op)
{
	struct obj *o = op->obj;
	struct pgrun *pg = op->pg;
	struct osd *osd = pg->osd;
	uint64_t src;
	struct osd_conn *c = NULL;
	struct osd_op *s;

	if (o->rec_del) {
		rec_write(op);
		return;
	}
	if (osd->bitmap_size <= sizeof(op->bmp_inline)) {
		op->bitmap = op->bmp_inline;
	} else {
		op->bmp = osd_buf_get(osd, osd->bitmap_size, &op->bmp_size);
		op->bitmap = op->bmp;
	}
	op->buf = osd_buf_get(osd, osd->block_size, &op->buf_size);
	if (!op->bitmap || !op->buf) {
		rec_done(op, false);
		return;
	}
	if (o->have & (1ull << pg->self_idx)) {
		memset(&op->bs, 0, sizeof(op->bs));
		op->bs.opcode = BS_OP_READ;
		op->bs.oid.inode = o->inode;
		op->bs.oid.stripe = o->stripe;
		op->bs.version = o->tver;
		op->bs.len = osd->block_size;
		op->bs.buf = op->buf;
		op->bs.bitmap = op->bitmap;
		op->bs.cb = rec_read_local_cb;
		op->bs.priv = op;
		bs_submit(osd->bs, &op->bs);
		return;
	}
	src = o->have & pg->live_mask;
	for (uint32_t i = 0; i < pg->size && !c; i++)
		if (src & (1ull << i))
			c = peer_conn(osd, pg->set[i]);
	if (!c || !(s = sub_new(osd, VS_OP_SEC_READ, rec_read_sub_cb))) {
		rec_done(op, false);
		return;
	}
	s->parent = op;
	s->peer = c->peer_osd;
	vs_le64_set(&s->req.sec_rw.oid.inode, o->inode);
	vs_le64_set(&s->req.sec_rw.oid.stripe, o->stripe);
	vs_le64_set(&s->req.sec_rw.version, o->tver);
	vs_le32_set(&s->req.sec_rw.offset, 0);
	vs_le32_set(&s->req.sec_rw.len, osd->block_size);
	osd_send_sub(c, s);
}

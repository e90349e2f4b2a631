/* Peering (spec §8.2, §8.3, §9): which data the PG has and where.
 *
 * 1. Read pg/history/<pool>/<pg> (osd_sets, all_peers, epoch). Reading it
 *    here, after the config/pgs change that started the peering, sees the
 *    history the monitor wrote in the same transaction.
 * 2. Peers = osd_set ∪ history osd_sets ∪ all_peers. SEC_SYNC + SEC_LIST
 *    to every one that is up (and a local list); those that answer are
 *    this peering's peers. The current set is the live osd_set members.
 *    Fewer than pg_minsize of them, or a history set with no live member
 *    (its data may be newer than anything we can see) → "incomplete".
 * 3. Merge the lists per object: the target version is the newest one that
 *    is stable anywhere or present in data_chunks roles; a live position
 *    lacking its chunk at that version makes the object degraded, copies
 *    elsewhere (other OSDs, other roles) make it misplaced.
 *    EC: unstable versions newer than the target are rolled back and
 *    older ones (and the target's) stabilized on every peer first
 *    (osd_ec_peer.c); an object whose target version has fewer than
 *    data_chunks chunks is incomplete (reads EIO).
 * 4. Activate: epoch = the highest seen (history or versions) + 1, so a
 *    version written from now on is above every version any earlier
 *    primary used (also deletions, which lists do not show); with a
 *    current set below pg_size the set is appended to the history. The
 *    PG publishes "peered" until that history is written (guarded by
 *    mod_revision < the revision we read it at), then "active".
 * Once recovery leaves no degraded or misplaced object on a full set,
 * pg_clean() clears the history (all_peers = osd_set).
 *
 * One peering runs at a time; a request while one runs (pg->repeer)
 * starts another when the current one's outstanding steps are back. The
 * lists of step 2 wait for the ops still running on the PG's objects
 * (pg->busy_objs, pg_obj_next). */
#include "osd_pg.h"
#include "config.h"
#include "etcd.h"
#include "json.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void peer_put(struct pgrun *pg);
static void hist_sync(struct pgrun *pg);
static void probe_arm(struct pgrun *pg);

/* ---- the peer set ---- */

static int peer_idx(const struct pgrun *pg, uint64_t osd)
{
	for (uint32_t i = 0; i < pg->npeers; i++)
		if (pg->peers[i].osd == osd)
			return (int)i;
	return -1;
}

static bool peer_ok(const struct pgrun *pg, uint64_t osd)
{
	int i = peer_idx(pg, osd);

	return i >= 0 && pg->peers[i].ok;
}

static void peer_add(struct pgrun *pg, uint64_t osd)
{
	if (!osd || peer_idx(pg, osd) >= 0)
		return;
	if (pg->npeers == MAX_PEERS) {
		log_warn("PG %" PRIu64 "/%u: more than %u peers in osd_set + pg/history; OSD %"
			 PRIu64 " ignored", pg->pool_id, pg->num, MAX_PEERS, osd);
		return;
	}
	memset(&pg->peers[pg->npeers], 0, sizeof(pg->peers[0]));
	pg->peers[pg->npeers++].osd = osd;
}

static void peers_free_lists(struct pgrun *pg)
{
	for (uint32_t i = 0; i < pg->npeers; i++) {
		free(pg->peers[i].list);
		pg->peers[i].list = NULL;
		pg->peers[i].nlist = pg->peers[i].nstable = 0;
	}
}

static void peers_build(struct pgrun *pg)
{
	peers_free_lists(pg);
	pg_ec_fix_free(pg);
	pg->npeers = 0;
	for (uint32_t i = 0; i < pg->size; i++)
		peer_add(pg, pg->set[i]);
	for (uint32_t i = 0; i < pg->hist.nsets; i++)
		for (uint32_t k = 0; k < pg->hist.sets[i].n; k++)
			peer_add(pg, pg->hist.sets[i].osd[k]);
	for (uint32_t i = 0; i < pg->hist.nall; i++)
		peer_add(pg, pg->hist.all[i]);
}

/* ---- step 1: pg/history ---- */

static void peer_retry_later(struct pgrun *pg)
{
	pg->peer_err = true;
}

void pg_peer_timer_cb(struct ringloop_timer *t)
{
	struct pgrun *pg = (struct pgrun *)(void *)((char *)t - offsetof(struct pgrun, peer_timer));

	if (!pg->osd->pgs->stopping && pg->want && pg->st != PG_OFF && pg->st != PG_STARTING)
		pg_peer(pg);
}

static void hist_read_cb(void *arg, struct etcd_result *res)
{
	struct pgrun *pg = arg;
	char err[256];

	if (res->status == ETCD_E_CANCELED)
		return;
	if (res->status) {
		log_warn("PG %" PRIu64 "/%u: reading %s failed: %s %s; retrying", pg->pool_id,
			 pg->num, pg->hkey, etcd_strerror(res->status), res->errmsg);
		peer_retry_later(pg);
	} else {
		const struct etcd_kv *kv = res->n_kvs ? &res->kvs[0] : NULL;

		if (pg_hist_parse(&pg->hist, kv ? kv->value : NULL, kv ? kv->value_len : 0, err,
				  sizeof(err)))
			log_warn("PG %" PRIu64 "/%u: %s ignored, keeping the last good history: %s",
				 pg->pool_id, pg->num, pg->hkey, err);
		pg->hist_rev = res->revision;
	}
	peer_put(pg);
}

static bool hist_read(struct pgrun *pg)
{
	struct etcd_txn_op op = { .type = ETCD_OP_RANGE };

	op.range.key = pg->hkey;
	return osd_etcd_step(pg->osd, NULL, &op, hist_read_cb, pg) == 0;
}

/* ---- step 2: lists ---- */

static void peer_sync_cb(struct osd_op *sub)
{
	struct pgrun *pg = sub->pg;
	int64_t rv = pg_sub_retval(sub);

	if (rv < 0 && sub->round == pg->round && sub->peer < pg->npeers)
		pg->peers[sub->peer].failed = true;
	peer_put(pg);
}

static void peer_list_cb(struct osd_op *sub)
{
	struct pgrun *pg = sub->pg;
	int64_t rv = pg_sub_retval(sub);
	uint64_t stable = vs_le64_get(sub->reply.reply_sec_list.stable_count);

	if (rv >= 0 && sub->round == pg->round && sub->peer < pg->npeers) {
		struct pg_peer *p = &pg->peers[sub->peer];
		struct bs_obj_ver *v = sub->rbuf;

		for (int64_t i = 0; i < rv; i++) {
			v[i].inode = vs_le64_get(v[i].inode);
			v[i].stripe = vs_le64_get(v[i].stripe);
			v[i].version = vs_le64_get(v[i].version);
		}
		p->list = v;
		sub->rbuf = NULL;	/* the PG owns the list now */
		p->nlist = (uint32_t)rv;
		p->nstable = stable < (uint64_t)rv ? (uint32_t)stable : (uint32_t)rv;
		p->ok = true;
	} else if (rv < 0) {
		log_info("PG %" PRIu64 "/%u: OSD %" PRIu64 " did not answer SEC_LIST (%s)",
			 pg->pool_id, pg->num, sub->conn ? sub->conn->peer_osd : 0,
			 strerror((int)-rv));
	}
	peer_put(pg);
}

static void local_list_cb(struct bs_op *bop)
{
	struct osd_op *op = bop->priv;
	struct pgrun *pg = op->pg;

	if (bop->retval >= 0 && op->round == pg->round && op->peer < pg->npeers) {
		struct pg_peer *p = &pg->peers[op->peer];

		p->list = bop->list;
		bop->list = NULL;
		p->nlist = bop->list_count;
		p->nstable = bop->list_stable_count;
		p->ok = true;
	} else if (bop->retval < 0) {
		log_err("PG %" PRIu64 "/%u: local list failed: %s", pg->pool_id, pg->num,
			strerror(-bop->retval));
	}
	osd_op_free(op->osd, op);
	peer_put(pg);
}

static void list_fill(const struct pgrun *pg, uint32_t *pg_num, uint32_t *pg_count,
		      uint64_t *pss, uint64_t *min_inode, uint64_t *max_inode)
{
	*pg_num = pg->num;
	*pg_count = pg->pg_count;
	*pss = pg->pg_stripe_size;
	*min_inode = pg->pool_id << VS_INODE_NUM_BITS;
	*max_inode = (pg->pool_id << VS_INODE_NUM_BITS) | VS_INODE_NUM_MASK;
}

static void list_local(struct pgrun *pg, uint32_t idx)
{
	struct osd *osd = pg->osd;
	struct osd_op *op = osd_op_alloc(osd);

	if (!op)
		return;
	memset(&op->bs, 0, sizeof(op->bs));
	op->pg = pg;
	op->round = pg->round;
	op->peer = idx;
	op->bs.opcode = BS_OP_LIST;
	list_fill(pg, &op->bs.pg_num, &op->bs.pg_count, &op->bs.pg_stripe_size,
		  &op->bs.min_inode, &op->bs.max_inode);
	op->bs.cb = local_list_cb;
	op->bs.priv = op;
	pg->pending++;
	bs_submit(osd->bs, &op->bs);
}

static void list_peer(struct pgrun *pg, uint32_t idx)
{
	struct osd *osd = pg->osd;
	struct osd_conn *c = pg_peer_conn(osd, pg->peers[idx].osd);
	struct osd_op *s1, *s2;
	uint32_t num, count;
	uint64_t pss, lo, hi;

	if (!c)
		return;
	s1 = osd_sub_new(osd, VS_OP_SEC_SYNC, peer_sync_cb);
	s2 = osd_sub_new(osd, VS_OP_SEC_LIST, peer_list_cb);
	if (!s1 || !s2) {
		if (s1)
			osd_op_free(osd, s1);
		if (s2)
			osd_op_free(osd, s2);
		return;
	}
	s1->pg = s2->pg = pg;
	s1->round = s2->round = pg->round;
	s1->peer = s2->peer = idx;
	list_fill(pg, &num, &count, &pss, &lo, &hi);
	vs_le32_set(&s2->req.sec_list.pg_num, num);
	vs_le32_set(&s2->req.sec_list.pg_count, count);
	vs_le64_set(&s2->req.sec_list.pg_stripe_size, pss);
	vs_le64_set(&s2->req.sec_list.min_inode, lo);
	vs_le64_set(&s2->req.sec_list.max_inode, hi);
	pg->pending += 2;
	osd_send_sub(c, s1);
	osd_send_sub(c, s2);
}

static void lists_start(struct pgrun *pg)
{
	peers_build(pg);
	pg->up_mask = pg_peers_up(pg);
	for (uint32_t i = 0; i < pg->npeers; i++) {
		pg->peers[i].up = pg->up_mask & (1ull << i);
		if (pg->peers[i].osd == pg->osd->osd_num)
			list_local(pg, i);
		else if (pg->peers[i].up)
			list_peer(pg, i);
	}
}

/* ---- step 3: object states ---- */

static int cmp_pent(const void *a, const void *b)
{
	const struct pent *x = a, *y = b;

	if (x->inode != y->inode)
		return x->inode < y->inode ? -1 : 1;
	if (x->stripe != y->stripe)
		return x->stripe < y->stripe ? -1 : 1;
	if (x->version != y->version)
		return x->version > y->version ? -1 : 1;
	if (x->role != y->role)
		return x->role < y->role ? -1 : 1;
	return x->peer < y->peer ? -1 : x->peer > y->peer;
}

/* All lists in one array sorted by object, newest version first. NULL
 * with *n = 0 when there is nothing (or no memory: *oom). */
static struct pent *lists_merge(struct pgrun *pg, size_t *n, bool *oom, bool *invalid)
{
	size_t total = 0, k = 0;
	struct pent *e;

	*n = 0;
	for (uint32_t i = 0; i < pg->npeers; i++)
		if (pg->peers[i].ok)
			total += pg->peers[i].nlist;
	if (!total)
		return NULL;
	e = malloc(total * sizeof(*e));
	if (!e) {
		*oom = true;
		return NULL;
	}
	for (uint32_t i = 0; i < pg->npeers; i++) {
		const struct pg_peer *p = &pg->peers[i];

		for (uint32_t j = 0; p->ok && j < p->nlist; j++) {
			uint32_t role = vs_stripe_role(p->list[j].stripe);

			if (role >= pg->size || (pg_replicated(pg) && role)) {
				*invalid = true;	/* spec §8.1 has_invalid */
				continue;
			}
			e[k].inode = p->list[j].inode;
			e[k].stripe = vs_stripe_base(p->list[j].stripe);
			e[k].version = p->list[j].version;
			e[k].peer = i;
			e[k].role = (uint16_t)role;
			e[k].stable = j < p->nstable;
			k++;
		}
	}
	qsort(e, k, sizeof(*e), cmp_pent);
	*n = k;
	return e;
}

/* The target version of the object in e[0..n) (newest first): the newest
 * version stable anywhere or present in data_chunks roles; 0 if none. */
static uint64_t target_version(const struct pgrun *pg, const struct pent *e, size_t n)
{
	for (size_t k = 0; k < n;) {
		uint64_t v = e[k].version, roles = 0;
		bool stable = false;

		for (; k < n && e[k].version == v; k++) {
			roles |= 1ull << e[k].role;
			stable |= e[k].stable;
		}
		if (stable || (uint32_t)__builtin_popcountll(roles) >= pg->data_chunks)
			return v;
	}
	return 0;
}

static bool any_stable(const struct pent *e, size_t n)
{
	for (size_t k = 0; k < n; k++)
		if (e[k].stable)
			return true;
	return false;
}

/* How many distinct roles hold version v. */
static uint32_t roles_at(const struct pent *e, size_t n, uint64_t v)
{
	uint64_t roles = 0;

	for (size_t k = 0; k < n; k++)
		if (e[k].version == v)
			roles |= 1ull << e[k].role;
	return (uint32_t)__builtin_popcountll(roles);
}

static bool has_chunk(const struct pent *e, size_t n, uint32_t peer, uint32_t role, uint64_t v)
{
	for (size_t k = 0; k < n; k++)
		if (e[k].peer == peer && e[k].role == role && e[k].version == v)
			return true;
	return false;
}

/* A copy where the osd_set does not keep it: another OSD or another role. */
static bool is_extra(const struct pgrun *pg, const struct pent *e)
{
	uint64_t osd = pg->peers[e->peer].osd;

	for (uint32_t pos = 0; pos < pg->size; pos++)
		if (pg->set[pos] == osd && pg_role(pg, pos) == e->role)
			return false;
	return true;
}

/* The state of one object from its copies e[0..n); *epoch gets the
 * highest epoch seen. 0 or -ENOMEM. */
static int obj_assess(struct pgrun *pg, const struct pent *e, size_t n, uint64_t *epoch)
{
	struct osd_pgs *P = pg->osd->pgs;
	struct obj *o = pg_obj_get(P, e[0].inode, e[0].stripe, true);
	uint64_t newest = e[0].version, tver, miss = 0;
	enum obj_kind kind = 0;
	bool del = false, extra = false;

	if (!o)
		return -ENOMEM;
	if (vs_version_epoch(newest) > *epoch)
		*epoch = vs_version_epoch(newest);
	pg_obj_st_clear(o);
	o->pg = pg;
	pg->nobjs++;
	tver = target_version(pg, e, n);
	if (o->deleted && o->version > newest) {
		/* deleted by this primary, still on some OSD: delete there */
		del = true;
		tver = o->version;
		kind = OBJ_DEGRADED;
	} else if (!tver && !pg_replicated(pg) && !any_stable(e, n)) {
		/* EC: only unstable versions, none on data_chunks roles: a
		 * first write that never completed; rolled back to nothing */
		o->deleted = false;
		o->version = 0;
		return pg_ec_fix_collect(pg, e, n, 0);
	} else if (!tver || (!pg_replicated(pg) && roles_at(e, n, tver) < pg->data_chunks)) {
		/* EC: the newest stable version lacks enough chunks */
		o->deleted = false;
		o->version = tver ? tver : newest;
		kind = OBJ_INCOMPLETE;
	} else {
		if (!pg_replicated(pg) && pg_ec_fix_collect(pg, e, n, tver))
			return -ENOMEM;
		o->deleted = false;
		o->version = tver;
		for (uint32_t pos = 0; pos < pg->size; pos++) {
			int pi = pg->cur[pos] ? peer_idx(pg, pg->cur[pos]) : -1;

			if (pi >= 0 && !has_chunk(e, n, (uint32_t)pi, pg_role(pg, pos), tver))
				miss |= 1ull << pos;
		}
		for (size_t k = 0; k < n && !extra; k++)
			extra = is_extra(pg, &e[k]);
		kind = miss ? OBJ_DEGRADED : extra ? OBJ_MISPLACED : 0;
	}
	if (!kind)
		return 0;
	o->st = malloc(sizeof(*o->st) + n * sizeof(o->st->loc[0]));
	if (!o->st)
		return -ENOMEM;
	o->st->tver = tver;
	o->st->miss = miss;
	o->st->kind = kind;
	o->st->del = del;
	o->st->nloc = (uint32_t)n;
	for (size_t k = 0; k < n; k++) {
		o->st->loc[k].osd = pg->peers[e[k].peer].osd;
		o->st->loc[k].version = e[k].version;
		o->st->loc[k].role = e[k].role;
	}
	if (pg_rec_add(pg, o)) {
		pg_obj_st_clear(o);
		return -ENOMEM;
	}
	return 0;
}

/* Object states of the merged lists; the highest epoch seen in *epoch.
 * 0, -ENOMEM, or -EINVAL (a chunk with an impossible role). */
static int objects_assess(struct pgrun *pg, uint64_t *epoch)
{
	bool oom = false, invalid = false;
	size_t n, a = 0;
	struct pent *e = lists_merge(pg, &n, &oom, &invalid);
	int r = 0;

	peers_free_lists(pg);
	pg->nobjs = pg->n_degraded = pg->n_misplaced = pg->n_incomplete = 0;
	while (a < n && !r) {
		size_t b = a + 1;

		while (b < n && e[b].inode == e[a].inode && e[b].stripe == e[a].stripe)
			b++;
		r = obj_assess(pg, &e[a], b - a, epoch);
		a = b;
	}
	free(e);
	if (oom || r)
		return -ENOMEM;
	return invalid ? -EINVAL : 0;
}

/* ---- step 4: activation ---- */

static const char *incomplete_reason(struct pgrun *pg, char *buf, size_t len)
{
	uint32_t need = pg_replicated(pg) ? 1 : pg->data_chunks;

	if (!peer_ok(pg, pg->osd->osd_num))
		return "the local list failed";
	if (pg->ncur < pg->minsize) {
		snprintf(buf, len, "%u of %u OSDs of osd_set live, pg_minsize %u", pg->ncur,
			 pg->size, pg->minsize);
		return buf;
	}
	for (uint32_t i = 0; i < pg->hist.nsets; i++) {
		const struct pg_hset *h = &pg->hist.sets[i];
		uint32_t live = 0, nz = 0;

		for (uint32_t k = 0; k < h->n; k++) {
			nz += h->osd[k] != 0;
			live += h->osd[k] && peer_ok(pg, h->osd[k]);
		}
		if (nz && live < need) {
			size_t o = (size_t)snprintf(buf, len, "no live OSD of history set [");

			for (uint32_t k = 0; k < h->n && o < len; k++)
				o += (size_t)snprintf(buf + o, len - o, "%s%" PRIu64, k ? "," : "",
						      h->osd[k]);
			if (o < len)
				snprintf(buf + o, len - o, "] (it may hold newer data)");
			return buf;
		}
	}
	return NULL;
}

static bool peers_up_failed(const struct pgrun *pg)
{
	for (uint32_t i = 0; i < pg->npeers; i++)
		if (pg->peers[i].up && !pg->peers[i].ok)
			return true;
	return false;
}

/* ---- peers registered in etcd that did not answer ----
 * (stopped, hung, or dropped by the liveness checks): PING them every
 * peer_connect_interval and re-peer once one answers. */

static void probe_arm(struct pgrun *pg)
{
	struct osd *osd = pg->osd;
	uint64_t ms = osd->cfg ? cfg_ms(osd->cfg, "peer_connect_interval") : 5000;

	if (!peers_up_failed(pg))
		return;
	ringloop_timer_del(osd->rl, &pg->probe_timer);
	ringloop_timer_add(osd->rl, &pg->probe_timer,
			   ringloop_now_ns() + (ms ? ms : 1000) * 1000000ull);
}

static void probe_cb(struct osd_op *sub)
{
	struct pgrun *pg = sub->pg;

	if (sub->round != pg->round || pg->peering ||
	    (pg->st != PG_ACTIVE && pg->st != PG_INCOMPLETE))
		return;
	if (pg_sub_retval(sub) == 0) {
		log_info("PG %" PRIu64 "/%u: OSD %" PRIu64 " answers again, re-peering",
			 pg->pool_id, pg->num, sub->peer);
		pg_repeer(pg);
	} else {
		probe_arm(pg);
	}
}

void pg_probe_timer_cb(struct ringloop_timer *t)
{
	struct pgrun *pg = (struct pgrun *)(void *)((char *)t - offsetof(struct pgrun, probe_timer));
	struct osd *osd = pg->osd;

	if (osd->pgs->stopping || pg->peering || (pg->st != PG_ACTIVE && pg->st != PG_INCOMPLETE))
		return;
	for (uint32_t i = 0; i < pg->npeers; i++) {
		struct osd_conn *c;
		struct osd_op *s;

		if (!pg->peers[i].up || pg->peers[i].ok || pg->peers[i].osd == osd->osd_num)
			continue;
		c = pg_peer_conn(osd, pg->peers[i].osd);
		if (!c || !(s = osd_sub_new(osd, VS_OP_PING, probe_cb)))
			continue;
		s->pg = pg;
		s->round = pg->round;
		s->peer = pg->peers[i].osd;
		osd_send_sub(c, s);
	}
}

static bool is_member(const struct pgrun *pg, uint64_t osd)
{
	for (uint32_t i = 0; i < pg->size; i++)
		if (pg->set[i] == osd)
			return true;
	return false;
}

static bool pg_is_clean(const struct pgrun *pg)
{
	return !pg->degraded && !pg->left_on_dead && !pg->n_degraded && !pg->n_misplaced &&
	       !pg->n_incomplete;
}

/* The history of a clean PG: no sets, all_peers = osd_set. */
static int hist_make_clean(const struct pgrun *pg, struct pg_hist *h)
{
	pg_hist_clear_sets(h);
	free(h->all);
	h->all = NULL;
	h->nall = 0;
	for (uint32_t i = 0; i < pg->size; i++)
		if (pg_hist_add_peer(h, pg->set[i]))
			return -ENOMEM;
	return 0;
}


/* pg->hist is what hist_make_clean() makes of it: no sets, all_peers =
 * the OSDs of osd_set. */
static bool hist_is_clean(const struct pgrun *pg)
{
	if (pg->hist.nsets)
		return false;
	for (uint32_t i = 0; i < pg->size; i++)
		if (pg->set[i] && !pg_hist_has_peer(&pg->hist, pg->set[i]))
			return false;
	for (uint32_t i = 0; i < pg->hist.nall; i++)
		if (!is_member(pg, pg->hist.all[i]))
			return false;
	return true;
}

/* Writes pg->hist_new guarded by "not changed since we read it". */
static bool hist_write(struct pgrun *pg, etcd_cb *cb)
{
	struct etcd_compare cmp = {
		.key = pg->hkey, .target = ETCD_CMP_MOD, .op = ETCD_CMP_LESS,
		.number = pg->hist_rev + 1,
	};
	struct etcd_txn_op ok = { .type = ETCD_OP_PUT };
	struct strbuf sb;
	bool started;

	if (!osd_etcd_client(pg->osd))
		return false;
	sb_init(&sb);
	if (pg_hist_format(&pg->hist_new, &sb)) {
		sb_free(&sb);
		return false;
	}
	ok.put.key = pg->hkey;
	ok.put.value = sb.buf;
	ok.put.value_len = sb.len;
	started = osd_etcd_step(pg->osd, &cmp, &ok, cb, pg) == 0;
	sb_free(&sb);
	if (started) {
		pg->hist_writing = true;
		pg->hist_round = pg->round;
	}
	return started;
}

/* The result of a guarded history write: 1 written (pg->hist updated),
 * 0 the guard failed (somebody else changed it: re-peer), -1 error. */
static int hist_written(struct pgrun *pg, struct etcd_result *res)
{
	pg->hist_writing = false;
	if (res->status) {
		log_warn("PG %" PRIu64 "/%u: writing %s failed: %s %s", pg->pool_id, pg->num,
			 pg->hkey, etcd_strerror(res->status), res->errmsg);
		return -1;
	}
	if (!res->succeeded) {
		log_info("PG %" PRIu64 "/%u: %s changed meanwhile, re-peering", pg->pool_id, pg->num,
			 pg->hkey);
		return 0;
	}
	pg_hist_free(&pg->hist);
	pg->hist = pg->hist_new;
	pg_hist_init(&pg->hist_new);
	pg->hist_rev = res->revision;
	pg->epoch = pg->hist.epoch;
	return 1;
}

static void activate_cb(void *arg, struct etcd_result *res)
{
	struct pgrun *pg = arg;
	int r;

	if (res->status == ETCD_E_CANCELED)
		return;
	r = hist_written(pg, res);
	if (r < 0)
		peer_retry_later(pg);
	else if (!r)
		pg->repeer = true;
	peer_put(pg);
}

static void lists_done(struct pgrun *pg)
{
	char why[256];
	const char *reason;
	uint64_t epoch = pg->hist.epoch;
	int r;

	for (uint32_t i = 0; i < pg->npeers; i++)
		pg->peers[i].ok = pg->peers[i].ok && !pg->peers[i].failed;
	pg->ncur = 0;
	for (uint32_t pos = 0; pos < pg->size; pos++) {
		pg->cur[pos] = pg->set[pos] && peer_ok(pg, pg->set[pos]) ? pg->set[pos] : 0;
		pg->ncur += pg->cur[pos] != 0;
	}
	reason = incomplete_reason(pg, why, sizeof(why));
	r = reason ? 0 : objects_assess(pg, &epoch);
	if (r == -EINVAL)
		reason = "chunks with a role impossible for the pool scheme (has_invalid)";
	else if (r)
		reason = "out of memory";
	if (reason) {
		peers_free_lists(pg);
		pg_rec_reset(pg);
		pg->st = PG_INCOMPLETE;
		pg->peering = false;
		log_warn("PG %" PRIu64 "/%u: incomplete: %s", pg->pool_id, pg->num, reason);
		pg_publish(pg);
		if (pg_peers_up(pg) != pg->up_mask) {
			log_info("PG %" PRIu64 "/%u: set of up peers changed while peering, "
				 "re-peering", pg->pool_id, pg->num);
			pg_peer(pg);
		} else {
			probe_arm(pg);
		}
		return;
	}
	pg->fix_epoch = epoch;
	if (pg_ec_fix_start(pg))
		return;		/* pg_peer_activate() once the fix-ups are back */
	pg_peer_activate(pg);
}

/* After the lists (and the EC fix-ups): degraded state, the history to
 * write, "peered". */
void pg_peer_flags(struct pgrun *pg)
{
	pg->degraded = pg->ncur < pg->size;
	pg->left_on_dead = false;
	for (uint32_t i = 0; i < pg->npeers; i++)
		if (!pg->peers[i].ok && !is_member(pg, pg->peers[i].osd))
			pg->left_on_dead = true;
}

void pg_peer_activate(struct pgrun *pg)
{
	uint64_t epoch = pg->fix_epoch;
	int r;

	pg->unclean = false;
	pg_peer_flags(pg);
	if (pg_hist_copy(&pg->hist_new, &pg->hist)) {
		peer_retry_later(pg);
		return;
	}
	pg->hist_new.epoch = epoch + 1;
	r = 0;
	if (pg_is_clean(pg)) {
		r = hist_make_clean(pg, &pg->hist_new);
	} else if (pg->degraded) {
		r = pg_hist_add_set(&pg->hist_new, pg->cur, pg->size);
		for (uint32_t i = 0; i < pg->npeers && !r; i++)
			r = pg_hist_add_peer(&pg->hist_new, pg->peers[i].osd);
	}
	pg->st = PG_PEERED;
	pg->phase = PH_WRITE;
	log_info("PG %" PRIu64 "/%u: peered%s%s, %u of %u OSDs live, %" PRIu64 " objects (%"
		 PRIu64 " degraded, %" PRIu64 " misplaced, %" PRIu64 " incomplete), epoch %"
		 PRIu64, pg->pool_id, pg->num, pg->degraded ? "+degraded" : "",
		 pg->left_on_dead ? "+left_on_dead" : "", pg->ncur, pg->size, pg->nobjs,
		 pg->n_degraded, pg->n_misplaced, pg->n_incomplete, pg->hist_new.epoch);
	/* "peered" is what clients see while a degraded set goes into the
	 * history (spec §8.2 step 5); otherwise "peering" stays until
	 * "active", one etcd write less per activation */
	if (pg->degraded || pg->left_on_dead)
		pg_publish(pg);
	if (r || !hist_write(pg, activate_cb)) {
		peer_retry_later(pg);
		return;
	}
	pg->pending++;
}

static void activated(struct pgrun *pg)
{
	pg->st = PG_ACTIVE;
	pg->peering = false;
	log_info("PG %" PRIu64 "/%u: active%s%s%s%s, epoch %" PRIu64, pg->pool_id, pg->num,
		 pg->degraded ? "+degraded" : "", pg->n_degraded ? "+has_degraded" : "",
		 pg->n_misplaced ? "+has_misplaced" : "", pg->left_on_dead ? "+left_on_dead" : "",
		 pg->epoch);
	pg_publish(pg);
	pg_stats_publish(pg);
	pg_rec_kick(pg->osd->pgs);
	hist_sync(pg);	/* an epoch bump wanted meanwhile */
	if (pg_peers_up(pg) != pg->up_mask) {
		log_info("PG %" PRIu64 "/%u: set of up peers changed while peering, re-peering",
			 pg->pool_id, pg->num);
		pg_peer(pg);
	} else {
		probe_arm(pg);
	}
}

/* With nothing outstanding: ends a peering that was stopped, failed or
 * asked to restart. True when it did. */
static bool peer_interrupted(struct pgrun *pg)
{
	struct osd *osd = pg->osd;
	bool later;

	if (osd->pgs->stopping) {
		pg->peering = false;
		return true;
	}
	if (pg->st == PG_OFF || !pg->want) {
		pg->peering = pg->repeer = pg->peer_err = false;
		peers_free_lists(pg);
		return true;
	}
	if (!pg->repeer && !pg->peer_err)
		return false;
	later = pg->peer_err && !pg->repeer;
	pg->peering = pg->repeer = pg->peer_err = false;
	peers_free_lists(pg);
	if (later) {
		ringloop_timer_del(osd->rl, &pg->peer_timer);
		ringloop_timer_add(osd->rl, &pg->peer_timer,
				   ringloop_now_ns() + PG_RETRY_MS * 1000000ull);
	} else {
		pg_peer(pg);
	}
	return true;
}

/* One outstanding step of the peering finished. */
static void peer_put(struct pgrun *pg)
{
	if (--pg->pending || peer_interrupted(pg))
		return;
	switch (pg->phase) {
	case PH_HIST:
		pg->phase = PH_LIST;
		pg->pending = 1;
		lists_start(pg);
		peer_put(pg);
		break;
	case PH_LIST:
		lists_done(pg);
		if (pg->peering && !pg->pending)
			peer_interrupted(pg);	/* failed before the write started */
		break;
	case PH_FIX:
		pg_ec_fix_free(pg);
		pg_peer_activate(pg);
		if (pg->peering && !pg->pending)
			peer_interrupted(pg);
		break;
	case PH_WRITE:
		activated(pg);
		break;
	}
}

void pg_peer_put(struct pgrun *pg)
{
	peer_put(pg);
}

void pg_peer(struct pgrun *pg)
{
	struct osd *osd = pg->osd;

	if (pg->peering) {
		pg->repeer = true;
		return;
	}
	ringloop_timer_del(osd->rl, &pg->peer_timer);
	ringloop_timer_del(osd->rl, &pg->probe_timer);
	pg->st = PG_PEERING;
	pg->peering = true;
	pg->unclean = pg->fix_pub = false;
	pg->repeer = pg->peer_err = false;
	pg->round = ++osd->pgs->gen;
	pg->phase = PH_HIST;
	pg->pending = 1;
	pg_rec_reset(pg);
	pg_sync_drop_dirty(pg);
	/* Writes and recoveries still in flight go on to the old set; the
	 * lists must see what they wrote, or a version written after a peer
	 * listed is unknown to this peering: recovery rebuilds the new set
	 * from the older target, the next SYNC stabilizes the newer version
	 * where it landed, an extra copy's deletion at target + 1 fails with
	 * EEXIST for ever. So the lists wait until they are done
	 * ("repeering": draining, spec §8.1); new ops get -EPIPE meanwhile. */
	if (pg->busy_objs) {
		pg->draining = true;
		pg->pending++;
	}
	for (uint32_t i = 0; i < pg->npeers; i++)
		pg->peers[i].ok = false;
	pg_publish(pg);
	if (!hist_read(pg))
		peer_retry_later(pg);
	else
		pg->pending++;
	peer_put(pg);
}

void pg_repeer(struct pgrun *pg)
{
	if (pg->st == PG_OFF || pg->st == PG_STARTING)
		return;
	pg_peer(pg);
}

/* ---- history changes while active ---- */

static void hist_sync_cb(void *arg, struct etcd_result *res)
{
	struct pgrun *pg = arg;
	bool stale = pg->hist_round != pg->round;
	int r;

	if (res->status == ETCD_E_CANCELED)
		return;
	r = hist_written(pg, res);
	if (stale || pg->st != PG_ACTIVE)
		return;		/* a re-peering rewrites it anyway */
	if (!r) {
		pg_repeer(pg);
	} else if (r < 0) {
		ringloop_timer_del(pg->osd->rl, &pg->peer_timer);
		ringloop_timer_add(pg->osd->rl, &pg->peer_timer,
				   ringloop_now_ns() + PG_RETRY_MS * 1000000ull);
	} else {
		log_info("PG %" PRIu64 "/%u: %s written (epoch %" PRIu64 ", %u sets)", pg->pool_id,
			 pg->num, pg->hkey, pg->hist.epoch, pg->hist.nsets);
		hist_sync(pg);
	}
}

/* Brings pg/history in line with an active PG: the epoch bump of the
 * bit-15 quirk, and clearing it once the PG is clean. */
static void hist_sync(struct pgrun *pg)
{
	bool clean = pg_is_clean(pg);

	if (pg->st != PG_ACTIVE || pg->hist_writing || pg->peering)
		return;
	/* nothing to write, known without building it (recovery checks
	 * every active PG each pass) */
	if (!pg->bump_wanted && (!clean || hist_is_clean(pg)))
		return;
	if (pg_hist_copy(&pg->hist_new, &pg->hist))
		return;
	if (pg->bump_wanted) {
		pg->hist_new.epoch = pg->epoch + 1;
		pg->bump_wanted = false;
	}
	if (clean && hist_make_clean(pg, &pg->hist_new))
		return;
	if (pg_hist_equal(&pg->hist_new, &pg->hist))
		return;
	if (!hist_write(pg, hist_sync_cb)) {
		ringloop_timer_del(pg->osd->rl, &pg->peer_timer);
		ringloop_timer_add(pg->osd->rl, &pg->peer_timer,
				   ringloop_now_ns() + PG_RETRY_MS * 1000000ull);
	}
}

void pg_clean(struct pgrun *pg)
{
	hist_sync(pg);
}

uint64_t pg_next_version(struct pgrun *pg, struct obj *o)
{
	uint64_t v = o->version;

	if (vs_version_epoch(v) < pg->epoch)
		return vs_version_make(pg->epoch, 1);
	if (vs_version_counter(v) == VS_VERSION_COUNTER_MASK)
		return 0;	/* waits for the bump below to be persisted */
	v++;
	if ((vs_version_counter(v) & VS_VERSION_COUNTER_BUMP) && !pg->bump_wanted &&
	    !(pg->hist_writing && pg->hist_new.epoch > pg->epoch)) {
		pg->bump_wanted = true;
		hist_sync(pg);
	}
	return v;
}

void pg_hist_event(struct pgrun *pg, const char *value, size_t len, int64_t mod_rev)
{
	struct pg_hist h;
	char err[256];

	if (mod_rev <= pg->hist_rev || pg->hist_writing)
		return;		/* seen, or ours / raced by our guarded write */
	if (pg->st == PG_OFF || pg->st == PG_STARTING)
		return;
	pg_hist_init(&h);
	if (pg_hist_parse(&h, value, len, err, sizeof(err))) {
		log_warn("PG %" PRIu64 "/%u: %s ignored: %s", pg->pool_id, pg->num, pg->hkey, err);
		return;
	}
	if (pg_hist_equal(&h, &pg->hist)) {
		pg->hist_rev = mod_rev;
	} else {
		log_info("PG %" PRIu64 "/%u: %s changed, re-peering", pg->pool_id, pg->num,
			 pg->hkey);
		pg_repeer(pg);
	}
	pg_hist_free(&h);
}

/* libvstor lazy mode (spec 7): immediate_commit != "all" in config/global.
 *
 * An OSD acknowledges a write before it is durable; only a later SYNC to
 * that OSD makes it so, and if the OSD crashes (or loses its PG) first, the
 * write may be gone. So the client keeps a private copy of every write and
 * delete acknowledged since its covering SYNC and sends it again when that
 * can have happened.
 *
 * Retention. A write/delete part reserves a slot (and arena pages for its
 * data) before it is sent; the data is copied in when the OSD acknowledges
 * it, and the slot joins the retained list, which stays in original ack
 * order ("gen"). Slots and pages are preallocated: client_max_dirty_ops
 * slots, client_max_dirty_bytes of arena (next-fit page bitmap), so the
 * bound is hard and nothing is allocated per write. A part that finds no
 * room waits (and starts an automatic SYNC); an automatic SYNC also starts
 * once the retained writes reach half of either limit, so writing goes on
 * while it runs. A part larger than the whole arena is let in alone, with
 * a heap buffer.
 *
 * Replay. A retained write is marked for replay when the connection to the
 * OSD that acknowledged it drops, or when its PG's primary (pg/state) is
 * another OSD (at a routing change or, for acks that raced with one, at the
 * ack). While a PG has writes to replay, no other part of a user op (read,
 * write, delete) is sent to it. The pump sends marked writes to the PG's
 * current primary in list order, but at most one per object at a time:
 * if a replay fails (-EPIPE while the PG activates, a dropped connection),
 * a later one of the same object cannot have been applied before it.
 * Acknowledged again, the write is retained as before (same gen, new ack
 * sequence, new OSD). Overlapping writes thus land in their original order,
 * whatever fails in between.
 *
 * SYNC. vstor_sync() covers every write retained at the call (gen <=
 * sync_gen). It waits until none of those is left: writes to replay go
 * first; for the others, each OSD holding some gets a SYNC (one in flight
 * per connection; it covers what that OSD acknowledged before it was sent).
 * A successful SYNC frees what it covers; a SYNC lost with its connection
 * turns into replays and new SYNCs; a SYNC that fails otherwise fails the
 * waiting syncs (the writes stay retained, and the next sync tries again).
 * Syncs complete in order. */
#include "client_int.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define PAGE 4096u
#define MS 1000000ull

static void lazy_kick(struct vstor_client *c)
{
	if (!c->destroying)
		ringloop_defer(c->rl, &c->lazy.kick);
}

static uint8_t *slot_data(const struct vc_lazy *l, const struct vc_dirty *e)
{
	return e->heap ? e->heap : e->npages ? l->arena + (size_t)e->page * PAGE : NULL;
}

static uint64_t slot_bytes(const struct vc_dirty *e)
{
	return e->heap ? e->len : (uint64_t)e->npages * PAGE;
}

/* ---- arena: next-fit over a page bitmap ---- */

static bool page_used(const struct vc_lazy *l, uint32_t i)
{
	return (l->pagemap[i / 64] >> (i % 64)) & 1;
}

static void pages_mark(struct vc_lazy *l, uint32_t start, uint32_t n, bool used)
{
	for (uint32_t i = start; i < start + n; i++) {
		uint64_t bit = 1ull << (i % 64);

		if (used)
			l->pagemap[i / 64] |= bit;
		else
			l->pagemap[i / 64] &= ~bit;
	}
}

/* The first used page in [start, end), or end. */
static uint32_t first_used(const struct vc_lazy *l, uint32_t start, uint32_t end)
{
	uint32_t i = start;

	while (i < end) {
		uint64_t w = l->pagemap[i / 64] >> (i % 64);

		if (w)
			return i + (uint32_t)__builtin_ctzll(w) < end ? i + (uint32_t)__builtin_ctzll(w) : end;
		i = (i / 64 + 1) * 64;
	}
	return end;
}

static bool pages_alloc(struct vc_lazy *l, uint32_t n, uint32_t *out)
{
	uint32_t start = l->hint, scanned = 0;

	while (scanned <= l->npages + n) {
		uint32_t busy;

		if (start + n > l->npages) {
			scanned += l->npages - start;
			start = 0;
			continue;
		}
		busy = first_used(l, start, start + n);
		if (busy == start + n) {
			pages_mark(l, start, n, true);
			l->hint = start + n == l->npages ? 0 : start + n;
			*out = start;
			return true;
		}
		scanned += busy + 1 - start;
		start = busy + 1;
		while (start < l->npages && page_used(l, start)) {
			start++;
			scanned++;
		}
	}
	return false;
}

/* ---- setup ---- */

static void kick_cb(struct ringloop_defer *d);

void vc_lazy_init(struct vstor_client *c)
{
	struct vc_lazy *l = &c->lazy;

	memset(l, 0, sizeof(*l));
	l->max_bytes = c->opts.max_dirty_bytes;
	l->max_ops = c->opts.max_dirty_ops;
	l->kick.cb = kick_cb;
}

/* On the first lazy write: the slots, the arena (address space only until
 * touched) and the pump's object set. */
static int lazy_setup(struct vstor_client *c)
{
	struct vc_lazy *l = &c->lazy;
	size_t bcap = 16;

	if (l->slots)
		return 0;
	l->npages = (uint32_t)((l->max_bytes + PAGE - 1) / PAGE);
	if (!l->npages)
		l->npages = 1;
	l->arena = mmap(NULL, (size_t)l->npages * PAGE, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (l->arena == MAP_FAILED) {
		l->arena = NULL;
		return -ENOMEM;
	}
	while (bcap < 2 * l->max_ops)
		bcap *= 2;
	l->pagemap = calloc((l->npages + 63) / 64, sizeof(uint64_t));
	l->slots = calloc(l->max_ops, sizeof(*l->slots));
	l->busy = calloc(bcap, sizeof(*l->busy));
	if (!l->pagemap || !l->slots || !l->busy) {
		munmap(l->arena, (size_t)l->npages * PAGE);
		free(l->pagemap);
		free(l->slots);
		free(l->busy);
		l->arena = NULL;
		l->pagemap = NULL;
		l->slots = NULL;
		l->busy = NULL;
		return -ENOMEM;
	}
	l->busy_mask = bcap - 1;
	for (size_t i = l->max_ops; i-- > 0;) {
		l->slots[i].next = l->free;
		l->free = &l->slots[i];
	}
	return 0;
}

void vc_lazy_destroy(struct vstor_client *c)
{
	struct vc_lazy *l = &c->lazy;
	struct vc_op *op;

	if (l->rops)
		log_warn("vstor client: %" PRIu64 " acknowledged writes (%" PRIu64 " bytes) were "
			 "never synced; dropping their copies", l->rops, l->rbytes);
	ringloop_defer_cancel(c->rl, &l->kick);
	while ((op = l->sync_head)) {
		l->sync_head = op->pnext;
		op->pnext = NULL;
		vc_op_fail(op, -ECANCELED);
	}
	l->sync_tail = NULL;
	for (struct vc_dirty *e = l->head; e; e = e->next)
		free(e->heap);
	if (l->arena)
		munmap(l->arena, (size_t)l->npages * PAGE);
	free(l->pagemap);
	free(l->slots);
	free(l->busy);
	memset(l, 0, sizeof(*l));
	l->kick.cb = kick_cb;
}

/* ---- slots ---- */

static void slot_free(struct vstor_client *c, struct vc_dirty *e)
{
	struct vc_lazy *l = &c->lazy;

	if (e->heap)
		free(e->heap);
	else if (e->npages)
		pages_mark(l, e->page, e->npages, false);
	l->bytes -= slot_bytes(e);
	l->ops--;
	memset(e, 0, sizeof(*e));
	e->next = l->free;
	l->free = e;
}

static void start_autosync(struct vstor_client *c)
{
	struct vc_lazy *l = &c->lazy;

	if (l->autosync || !l->head)
		return;
	l->autosync = true;
	l->autosync_gen = l->gen;
	c->stats.autosyncs++;
	lazy_kick(c);
}

int vc_lazy_reserve(struct vstor_client *c, struct vc_part *p)
{
	struct vc_lazy *l = &c->lazy;
	uint32_t npages = (p->len + PAGE - 1) / PAGE, page = 0;
	bool oversize;
	struct vc_dirty *e;
	int r;

	if (p->dirty)
		return 0;
	r = lazy_setup(c);
	if (r)
		return r;
	oversize = npages > l->npages;
	if (l->ops >= l->max_ops || (oversize ? l->bytes != 0 :
	    l->bytes + (uint64_t)npages * PAGE > (uint64_t)l->npages * PAGE))
		goto full;
	if (npages && !oversize && !pages_alloc(l, npages, &page))
		goto full;	/* fragmented: a SYNC frees pages */
	e = l->free;
	l->free = e->next;
	memset(e, 0, sizeof(*e));
	if (oversize && !(e->heap = malloc(p->len))) {
		e->next = l->free;
		l->free = e;
		return -ENOMEM;
	}
	e->page = page;
	e->npages = oversize ? 0 : npages;
	e->len = p->len;
	l->ops++;
	l->bytes += slot_bytes(e);
	p->dirty = e;
	return 0;
full:
	start_autosync(c);
	return -EAGAIN;
}

void vc_lazy_release(struct vstor_client *c, struct vc_part *p)
{
	struct vc_dirty *e = p->dirty;

	if (!e)
		return;
	p->dirty = NULL;
	slot_free(c, e);
	vc_kick(c);	/* room for parts waiting for a slot */
}

/* ---- replay marks ---- */

static void mark_replay(struct vstor_client *c, struct vc_dirty *e)
{
	struct vc_pg *pg;

	if (e->replay)
		return;
	e->replay = true;
	e->sent = false;
	c->lazy.nreplay++;
	pg = vc_pg_of(c, e->inode, e->offset, NULL);
	if (pg)
		pg->replaying++;
}

static void replay_done(struct vstor_client *c, struct vc_dirty *e)
{
	struct vc_pg *pg = vc_pg_of(c, e->inode, e->offset, NULL);

	e->replay = e->sent = false;
	c->lazy.nreplay--;
	if (pg && pg->replaying && !--pg->replaying)
		vc_kick(c);	/* user parts for this PG may go now */
}

/* Its PG's primary is not the OSD that acknowledged it: that OSD lost (or
 * is losing) the PG, and the new primary may not have the write. */
static bool moved(struct vstor_client *c, const struct vc_dirty *e)
{
	struct vc_pg *pg = vc_pg_of(c, e->inode, e->offset, NULL);

	return pg && pg->target && pg->target != e->osd;
}

void vc_lazy_acked(struct vstor_client *c, struct vc_part *p, uint64_t osd)
{
	struct vc_lazy *l = &c->lazy;
	struct vc_dirty *e = p->dirty;
	uint8_t *data;

	p->dirty = NULL;
	e->opcode = p->op->opcode;
	e->inode = p->op->inode;
	e->offset = p->offset;
	e->len = p->len;
	data = slot_data(l, e);
	if (data && p->len)
		memcpy(data, p->buf, p->len);
	vc_pg_of(c, e->inode, e->offset, &e->obj);
	e->gen = ++l->gen;
	e->ack_seq = ++l->ack_seq;
	e->osd = osd;
	e->retained = true;
	e->prev = l->tail;
	e->next = NULL;
	if (l->tail)
		l->tail->next = e;
	else
		l->head = e;
	l->tail = e;
	l->rbytes += slot_bytes(e);
	l->rops++;
	if (moved(c, e)) {
		mark_replay(c, e);
		lazy_kick(c);
	}
	if (2 * l->rbytes >= (uint64_t)l->npages * PAGE || 2 * l->rops >= l->max_ops)
		start_autosync(c);
}

static void retained_del(struct vstor_client *c, struct vc_dirty *e)
{
	struct vc_lazy *l = &c->lazy;

	if (e->prev)
		e->prev->next = e->next;
	else
		l->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		l->tail = e->prev;
	l->rbytes -= slot_bytes(e);
	l->rops--;
	slot_free(c, e);
}

/* After a lost connection, like the parts of user ops: try again after
 * up_wait_retry_interval, or at once when the routing changes. */
static uint64_t retry_at(struct vstor_client *c)
{
	return ringloop_now_ns() + c->opts.up_wait_retry_interval_ms * MS;
}

void vc_lazy_conn_lost(struct vstor_client *c, struct vc_conn *cn)
{
	uint64_t t = 0;

	for (struct vc_dirty *e = c->lazy.head; e; e = e->next)
		if (!e->replay && e->osd == cn->osd) {
			mark_replay(c, e);
			if (!t)
				t = retry_at(c);
			e->not_before_ns = t;
		}
	if (t || c->lazy.sync_head || c->lazy.autosync)
		vc_retry_arm(c);
}

void vc_lazy_part_lost(struct vstor_client *c, struct vc_part *p)
{
	struct vc_dirty *e = (struct vc_dirty *)(void *)p;

	if (p->kind == VC_K_REPLAY) {
		e->sent = false;
		e->not_before_ns = retry_at(c);
	}
}

void vc_lazy_routing(struct vstor_client *c)
{
	bool any = false;

	/* the PG table was rebuilt from scratch: count again */
	for (struct vc_dirty *e = c->lazy.head; e; e = e->next) {
		if (e->replay) {
			struct vc_pg *pg = vc_pg_of(c, e->inode, e->offset, NULL);

			if (pg)
				pg->replaying++;
			if (!e->failed)
				e->not_before_ns = 0;	/* maybe routable now */
			any = true;
		} else if (moved(c, e)) {
			mark_replay(c, e);
			any = true;
		}
	}
	if (any)
		lazy_kick(c);
}

/* ---- the replay pump ---- */

/* True if an earlier replay of (inode, obj) was seen in this pass. */
static bool busy_seen(struct vc_lazy *l, uint64_t inode, uint64_t obj)
{
	size_t i = (size_t)(((inode ^ (obj * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull) >> 20);

	for (i &= l->busy_mask;; i = (i + 1) & l->busy_mask) {
		struct vc_busy *b = &l->busy[i];

		if (b->stamp != l->stamp) {
			b->stamp = l->stamp;
			b->inode = inode;
			b->obj = obj;
			return false;
		}
		if (b->inode == inode && b->obj == obj)
			return true;
	}
}

static bool replay_send(struct vstor_client *c, struct vc_dirty *e, struct vc_conn *cn)
{
	struct vc_part *p = &e->part;

	memset(p, 0, sizeof(*p));
	p->kind = VC_K_REPLAY;
	p->offset = e->offset;
	p->len = e->opcode == VS_OP_WRITE ? e->len : 0;
	p->buf = slot_data(&c->lazy, e);
	p->id = c->next_id++;
	vs_req_init(&p->pkt, p->id, e->opcode);
	vs_le64_set(&p->pkt.rw.inode, e->inode);
	vs_le64_set(&p->pkt.rw.offset, e->offset);
	vs_le32_set(&p->pkt.rw.len, p->len);
	if (!vc_conn_send(cn, p))
		return false;
	e->sent = true;
	return true;
}

static void pump(struct vstor_client *c)
{
	struct vc_lazy *l = &c->lazy;
	uint64_t now = 0;
	bool later = false;

	if (!l->nreplay)
		return;
	l->stamp++;
	for (struct vc_dirty *e = l->head; e; e = e->next) {
		struct vc_pg *pg;
		struct vc_conn *cn;

		if (!e->replay || busy_seen(l, e->inode, e->obj) || e->sent)
			continue;
		if (e->not_before_ns) {
			if (!now)
				now = ringloop_now_ns();
			if (now < e->not_before_ns) {
				later = true;
				continue;
			}
		}
		pg = vc_pg_of(c, e->inode, e->offset, NULL);
		cn = pg && pg->exists && !pg->paused && pg->target ? vc_conn_get(c, pg->target) : NULL;
		if (!cn || !replay_send(c, e, cn))
			later = true;
	}
	if (later)
		vc_retry_arm(c);
}

/* ---- SYNC ---- */

static void sync_done(struct vstor_client *c, struct vc_op *op, int64_t err)
{
	op->pnext = NULL;
	vc_op_fail(op, err);
}

/* Fails every waiting sync (and ends the automatic one) with err. */
static void syncs_fail(struct vstor_client *c, int64_t err)
{
	struct vc_lazy *l = &c->lazy;
	struct vc_op *op;

	while ((op = l->sync_head)) {
		l->sync_head = op->pnext;
		sync_done(c, op, err);
	}
	l->sync_tail = NULL;
	l->autosync = false;
}

static void sync_send(struct vstor_client *c, struct vc_conn *cn)
{
	struct vc_part *p = &cn->syncp;

	memset(p, 0, sizeof(*p));
	p->kind = VC_K_SYNC;
	p->id = c->next_id++;
	vs_req_init(&p->pkt, p->id, VS_OP_SYNC);
	cn->sync_seq = c->lazy.ack_seq;
	if (!vc_conn_send(cn, p)) {
		vc_retry_arm(c);
		return;
	}
	cn->sync_busy = true;
}

static void sync_check(struct vstor_client *c)
{
	struct vc_lazy *l = &c->lazy;
	uint64_t first = l->head ? l->head->gen : UINT64_MAX, upto = 0;
	struct vc_op *op;

	if (l->replay_err) {
		syncs_fail(c, l->replay_err);
		l->replay_err = 0;
	}
	while ((op = l->sync_head) && op->sync_gen < first) {
		l->sync_head = op->pnext;
		if (!l->sync_head)
			l->sync_tail = NULL;
		sync_done(c, op, 0);
	}
	if (l->autosync && l->autosync_gen < first) {
		l->autosync = false;
		if (2 * l->rbytes >= (uint64_t)l->npages * PAGE || 2 * l->rops >= l->max_ops)
			start_autosync(c);
	}
	if (l->sync_tail)
		upto = l->sync_tail->sync_gen;
	if (l->autosync && l->autosync_gen > upto)
		upto = l->autosync_gen;
	/* replays are acknowledged first; then their OSD gets a SYNC too */
	for (struct vc_dirty *e = l->head; e && e->gen <= upto; e = e->next) {
		struct vc_conn *cn;

		if (e->replay)
			continue;
		cn = e->osd < c->nconns ? c->conns[e->osd] : NULL;
		if (!cn || cn->state != VC_C_READY) {
			/* not the connection that acknowledged it (that one's loss
			 * marks its writes): replay to be safe */
			mark_replay(c, e);
			lazy_kick(c);
			continue;
		}
		if (!cn->sync_busy)
			sync_send(c, cn);
		/* else: wait for that SYNC; if e was acknowledged after it was
		 * sent, the next one covers it */
	}
}

static void kick_cb(struct ringloop_defer *d)
{
	struct vstor_client *c = (struct vstor_client *)(void *)((char *)d -
		offsetof(struct vstor_client, lazy.kick));

	pump(c);
	sync_check(c);
}

void vc_lazy_sync(struct vstor_client *c, struct vc_op *op)
{
	struct vc_lazy *l = &c->lazy;

	op->sync_gen = l->gen;
	if (!l->head) {
		vc_op_fail(op, 0);
		return;
	}
	op->pnext = NULL;
	if (l->sync_tail)
		l->sync_tail->pnext = op;
	else
		l->sync_head = op;
	l->sync_tail = op;
	lazy_kick(c);
}

/* Frees what a successful SYNC on cn covers. */
static void sync_ok(struct vstor_client *c, struct vc_conn *cn)
{
	struct vc_dirty *e, *next;
	bool any = false;

	for (e = c->lazy.head; e; e = next) {
		next = e->next;
		if (!e->replay && e->osd == cn->osd && e->ack_seq <= cn->sync_seq) {
			retained_del(c, e);
			any = true;
		}
	}
	if (any)
		vc_kick(c);	/* room for parts waiting for a slot */
}

bool vc_lazy_reply(struct vc_conn *cn, struct vc_part *p, int64_t rv)
{
	struct vstor_client *c = cn->c;
	struct vc_dirty *e = (struct vc_dirty *)(void *)p;

	if (p->kind == VC_K_SYNC)
		cn->sync_busy = false;
	else
		e->sent = false;
	lazy_kick(c);
	if (rv == -EPIPE) {
		c->stats.epipe++;
		vc_conn_fail(cn, "-EPIPE (not primary or PG not active)");
		return false;
	}
	if (p->kind == VC_K_SYNC) {
		if (rv >= 0) {
			c->stats.syncs++;
			sync_ok(c, cn);
			return true;
		}
		log_warn("vstor client: SYNC on OSD %" PRIu64 " failed: %s", cn->osd,
			 strerror((int)-rv));
		syncs_fail(c, rv);
	} else if (rv >= 0) {
		c->stats.replayed++;
		e->osd = cn->osd;
		e->ack_seq = ++c->lazy.ack_seq;
		e->not_before_ns = 0;
		e->failed = false;
		replay_done(c, e);
		if (moved(c, e))
			mark_replay(c, e);
		return true;
	} else {
		/* -EBUSY (e.g. a degraded PG refusing DELETE): wait quietly */
		if (rv != -EBUSY) {
			if (!e->failed)
				log_warn("vstor client: replaying a write to OSD %" PRIu64
					 " failed: %s; retrying", cn->osd, strerror((int)-rv));
			c->lazy.replay_err = rv;
		}
		e->failed = true;
		e->not_before_ns = ringloop_now_ns() + c->opts.up_wait_retry_interval_ms * MS;
		vc_retry_arm(c);
	}
	if (rv == -EINTR || rv == -EIO || rv == -EBUSY)
		return true;
	vc_conn_fail(cn, strerror((int)-rv));
	return false;
}

bool vc_lazy_timeouts(struct vstor_client *c, uint64_t now)
{
	struct vc_lazy *l = &c->lazy;
	struct vc_op **pp = &l->sync_head, *op;

	l->sync_tail = NULL;
	while ((op = *pp)) {
		if (op->deadline_ns && now >= op->deadline_ns) {
			*pp = op->pnext;
			sync_done(c, op, -ETIMEDOUT);
			continue;
		}
		l->sync_tail = op;
		pp = &op->pnext;
	}
	if (l->nreplay || l->autosync)
		lazy_kick(c);	/* unroutable replays, SYNCs that could not be queued */
	return l->sync_head || l->nreplay;
}

void vc_lazy_stats(const struct vstor_client *c, struct vstor_client_stats *st)
{
	st->dirty_ops = c->lazy.rops;
	st->dirty_bytes = c->lazy.rbytes;
	st->replay_pending = c->lazy.nreplay;
}

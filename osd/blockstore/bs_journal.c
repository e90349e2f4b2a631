/* Blockstore journal records: building the open record (group commit),
 * ring space, writing records and acknowledging them in seq order. */
#include "bs_internal.h"

struct rec *rec_at(struct bs *bs, uint32_t k)
{
	return &bs->recs[(bs->rfirst + k) % bs->rcap];
}

uint32_t rec_index(struct bs *bs, uint32_t k)
{
	return (bs->rfirst + k) % bs->rcap;
}

static void process_completions(struct bs *bs);

static void rec_io_done(struct bs *bs, struct rec *r)
{
	if (--r->pending == 0 && r->state == R_WRITING) {
		r->state = R_DONE;
		if (bs->rd_wait)
			reads_retry(bs);
		process_completions(bs);
	}
}

static void rec_write_cb(struct bs_io *io, int res)
{
	struct bs *bs = io->owner;
	struct rec *r = &bs->recs[io->arg];

	bs->inflight_ios--;
	if (res < 0)
		fail(bs, "journal write", res);
	rec_io_done(bs, r);
}

void big_write_cb(struct bs_io *io, int res)
{
	struct bs *bs = io->owner;
	struct rec *r = &bs->recs[io->arg];

	bs->inflight_ios--;
	if (res < 0)
		fail(bs, "data write", res);
	io_put(bs, io);
	rec_io_done(bs, r);
}

static void rec_close(struct bs *bs)
{
	uint32_t ri = bs->open_rec;
	struct rec *r;
	struct bs_jhdr *h;

	if (ri == NONE32)
		return;
	r = &bs->recs[ri];
	bs->open_rec = NONE32;
	ringloop_defer_cancel(bs->rl, &bs->close_d);
	h = (struct bs_jhdr *)(void *)(bs->mirror + (size_t)r->pos * BS_SECT);
	memset(h, 0, sizeof(*h));
	h->magic = BS_JREC_MAGIC;
	h->seq = r->seq;
	h->prev = r->prev;
	memcpy(h->uuid, bs->sb.uuid, 8);
	h->nentries = r->nent;
	h->nsect = r->nsect;
	h->bytes = r->hdr_bytes;
	h->flags = r->wrap ? BS_JR_WRAP : 0;
	h->crc = crc32c(0, h, r->hdr_bytes);
	r->state = R_WRITING;
	r->pending++;
	memset(&r->io, 0, sizeof(r->io));
	r->io.cb = rec_write_cb;
	r->io.owner = bs;
	r->io.arg = ri;
	bs->st.records++;
	/* a wrap record only needs its header sector on disk */
	do_write(bs, BS_SLOT_JOURNAL, h, (size_t)(r->wrap ? 1 : r->nsect) * BS_SECT,
		bs->sb.journal_offset + (uint64_t)r->pos * BS_SECT, bs->jdsync, &r->io);
}

void close_cb(struct ringloop_defer *d)
{
	struct bs *bs = (struct bs *)(void *)((char *)d - offsetof(struct bs, close_d));

	rec_close(bs);
}

static uint32_t rec_open(struct bs *bs, uint32_t nsect, bool wrap)
{
	uint32_t ri;
	struct rec *r;

	if (bs->rcount == bs->rcap)
		return NONE32;
	ri = rec_index(bs, bs->rcount);
	bs->rcount++;
	r = &bs->recs[ri];
	memset(r, 0, sizeof(*r));
	r->seq = bs->next_seq++;
	r->prev = bs->last_seq;
	bs->last_seq = r->seq;
	r->pos = bs->head;
	r->nsect = nsect;
	r->hdr_bytes = sizeof(struct bs_jhdr);
	r->wrap = wrap;
	r->state = R_OPEN;
	bs->head += nsect;
	bs->used += nsect;
	return ri;
}

/* Reserves an entry (and dsect data sectors) in the open record. Returns
 * the entry and its record index, or NULL when the journal is full. */
struct bs_jent *jent_reserve(struct bs *bs, uint32_t dsect, uint32_t *ri_out, uint32_t *data_sect)
{
	uint32_t ring = bs->ring_end - bs->ring_start;
	struct rec *r;
	struct bs_jent *e;

	if (bs->open_rec != NONE32) {
		r = &bs->recs[bs->open_rec];
		if (r->hdr_bytes + bs->jent_size > BS_SECT || r->nsect - 1 + dsect > bs->max_rec_data ||
			r->pos + r->nsect + dsect > bs->ring_end || bs->used + dsect > ring)
			rec_close(bs);
	}
	if (bs->open_rec == NONE32) {
		uint32_t need = 1 + dsect;

		if (bs->head == bs->ring_end)
			bs->head = bs->ring_start;
		if (bs->head + need > bs->ring_end) {
			uint32_t tail = bs->ring_end - bs->head;
			uint32_t wi;

			if (bs->used + tail + need > ring || bs->rcount + 2 > bs->rcap)
				return NULL;
			wi = rec_open(bs, tail, true);
			bs->open_rec = wi;
			rec_close(bs);
			bs->head = bs->ring_start;
		}
		if (bs->used + need > ring || bs->rcount + 1 > bs->rcap)
			return NULL;
		bs->open_rec = rec_open(bs, 1, false);
		ringloop_defer(bs->rl, &bs->close_d);
	}
	r = &bs->recs[bs->open_rec];
	e = (struct bs_jent *)(void *)(bs->mirror + (size_t)r->pos * BS_SECT + r->hdr_bytes);
	memset(e, 0, bs->jent_size);
	r->hdr_bytes += bs->jent_size;
	r->nent++;
	*data_sect = r->pos + r->nsect;
	r->nsect += dsect;
	bs->head += dsect;
	bs->used += dsect;
	*ri_out = bs->open_rec;
	return e;
}

void rec_attach_op(struct bs *bs, uint32_t ri, struct bs_op *op)
{
	struct rec *r = &bs->recs[ri];

	opq_push(&r->ops, &r->ops_tail, op);
}

void complete_op(struct bs_op *op)
{
	op->cb(op);
}

static void process_completions(struct bs *bs)
{
	bool adv = false;

	while (bs->nack < bs->rcount) {
		struct rec *r = rec_at(bs, bs->nack);
		struct bs_op *op, *next;

		if (r->state != R_DONE)
			break;
		bs->nack++;
		bs->completed_seq = r->seq;
		if (bs->writes_durable) {
			bs->durable_seq = r->seq;
			adv = true;
		}
		op = r->ops;
		r->ops = r->ops_tail = NULL;
		for (; op; op = next) {
			next = op->next;
			complete_op(op);
		}
	}
	sync_kick(bs);
	if (adv)
		flush_kick(bs);
}

static void defer_done_cb(struct ringloop_defer *d)
{
	struct bs_op *op = (struct bs_op *)(void *)((char *)d - offsetof(struct bs_op, d));

	complete_op(op);
}

void finish_later(struct bs *bs, struct bs_op *op, int retval)
{
	op->retval = retval;
	op->d.cb = defer_done_cb;
	op->d.queued = false;
	ringloop_defer(bs->rl, &op->d);
}

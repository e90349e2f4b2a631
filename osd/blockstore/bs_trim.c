/* Blockstore journal trimming: advancing the journal start past dead
 * records and releasing what waited for it. */
#include "bs_internal.h"

static void trim_cb(struct bs_io *io, int res)
{
	struct bs *bs = io->owner;

	bs->inflight_ios--;
	bs->trim_inflight = false;
	if (res < 0) {
		fail(bs, "journal trim", res);
		return;
	}
	for (uint32_t k = 0; k < bs->trim_k; k++) {
		bs->used -= bs->recs[bs->rfirst].nsect;
		bs->rfirst = (bs->rfirst + 1) % bs->rcap;
		bs->rcount--;
		bs->nack--;
	}
	if (bs->rcount == 0 && bs->open_rec == NONE32 && bs->used != 0)
		bs->used = 0;
	bs->trimmed_seq = bs->trim_prev;
	DBG("trimmed to %llu pos %llu\n", (unsigned long long)bs->trimmed_seq, (unsigned long long)bs->trim_pos);
	bs->st.trims++;
	while (bs->tomb_count) {
		struct tomb *t = &bs->tombs[bs->tomb_first];
		struct obj *o;

		if (t->seq > bs->trimmed_seq)
			break;
		o = &bs->objs[t->obj];
		if (t->kind == TOMB_FRESH) {
			if (!(o->flags & OF_FREE) && o->block == t->blk)
				o->flags &= ~(uint32_t)OF_FRESH;
		} else if (!(o->flags & (OF_FREE | OF_QUEUED)) && o->head == NONE32 && o->block == NONE32) {
			obj_remove(bs, t->obj);
		}
		bs->tomb_first = (bs->tomb_first + 1) % bs->tomb_cap;
		bs->tomb_count--;
	}
	gp_poll(bs);
	kick_waitq(bs);
	if (fq_unpark_all(bs))
		flush_kick(bs);	/* some may be unblocked now */
	try_trim(bs);
}

void try_trim(struct bs *bs)
{
	uint32_t k = 0;
	struct bs_jstart *js;

	if (bs->trim_inflight || bs->failed)
		return;
	while (k < bs->nack && rec_at(bs, k)->live == 0)
		k++;
	if (!k)
		return;
	bs->trim_k = k;
	bs->trim_prev = rec_at(bs, k - 1)->seq;
	if (k < bs->rcount)
		bs->trim_pos = rec_at(bs, k)->pos;
	else
		bs->trim_pos = bs->head == bs->ring_end ? bs->ring_start : bs->head;
	js = (struct bs_jstart *)(void *)(bs->mirror + BS_SECT);
	memset(js, 0, BS_SECT);
	js->magic = BS_JSTART_MAGIC;
	memcpy(js->uuid, bs->sb.uuid, 16);
	js->pos = bs->trim_pos;
	js->prev_seq = bs->trim_prev;
	js->crc = crc32c(0, js, sizeof(*js));
	bs->trim_inflight = true;
	memset(&bs->trim_io, 0, sizeof(bs->trim_io));
	bs->trim_io.cb = trim_cb;
	bs->trim_io.owner = bs;
	do_write(bs, BS_SLOT_JOURNAL, js, BS_SECT, bs->sb.journal_offset + BS_SECT,
		!bs->cfg.disable_journal_fsync, &bs->trim_io);
}

/* ---------- open / replay ---------- */

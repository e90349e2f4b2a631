/* Blockstore startup: metadata load and journal replay. */
#include "bs_internal.h"

int load_meta(struct bs *bs, char *err, size_t errlen)
{
	size_t chunk = 1 << 20;
	uint8_t *buf = zalloc_aligned(chunk);
	uint64_t msize = bs->nmeta_blocks * BS_SECT;
	int r = 0;

	if (!buf)
		return -ENOMEM;
	for (uint64_t off = 0; off < msize && !r; off += chunk) {
		uint64_t n = msize - off < chunk ? msize - off : chunk;

		r = sio(bs->rl, bs->be, false, BS_SLOT_META, buf, n, bs->sb.meta_offset + BS_SECT + off);
		if (r) {
			errf(err, errlen, "metadata read failed: %s", strerror(-r));
			break;
		}
		for (uint64_t mb = 0; mb < n / BS_SECT; mb++) {
			for (uint32_t i = 0; i < bs->ment_per_block; i++) {
				uint64_t blk = (off / BS_SECT + mb) * bs->ment_per_block + i;
				struct bs_ment *m = (struct bs_ment *)(void *)(buf + mb * BS_SECT +
					(size_t)i * bs->ment_size);
				uint32_t crc = m->crc, oi;

				if (blk >= bs->nblocks)
					break;
				if (!m->inode && !m->stripe && !m->version && !crc)
					continue;
				m->crc = 0;
				if (crc32c(0, m, bs->ment_size) != crc || !m->version || !m->inode) {
					errf(err, errlen, "metadata entry for block %llu is corrupted",
						(unsigned long long)blk);
					r = -EUCLEAN;
					break;
				}
				oi = obj_find(bs, m->inode, m->stripe);
				if (oi != NONE32) {
					/* a flush was interrupted between two
					 * metadata blocks: keep the newer */
					uint32_t stale;

					if (bs->objs[oi].version >= m->version) {
						stale = (uint32_t)blk;
					} else {
						stale = bs->objs[oi].block;
						bs->clean_owner[stale] = NONE32;
						bs->used_bm[stale / 64] &= ~(1ull << (stale & 63));
						bs->nfree++;
						bs->objs[oi].block = (uint32_t)blk;
						bs->objs[oi].version = m->version;
						memcpy(o_int(bs, oi), m + 1, 2 * bs->bmp_size);
						bs->clean_owner[blk] = oi;
						block_mark_used(bs, (uint32_t)blk);
					}
					mark_meta_dirty(bs, stale);
					continue;
				}
				oi = obj_insert(bs, m->inode, m->stripe);
				if (oi == NONE32) {
					r = -ENOMEM;
					break;
				}
				bs->objs[oi].version = m->version;
				bs->objs[oi].block = (uint32_t)blk;
				memcpy(o_int(bs, oi), m + 1, 2 * bs->bmp_size);
				bs->clean_owner[blk] = oi;
				block_mark_used(bs, (uint32_t)blk);
			}
		}
	}
	free(buf);
	return r;
}

/* Pass 1 for one entry of the record at pos: false when the entry is
 * invalid or its data does not match its CRC (a torn write). */
static bool replay_check_entry(struct bs *bs, uint32_t pos, const struct bs_jhdr *h, const struct bs_jent *e,
	uint8_t *tmp)
{
	uint32_t oi;

	if (e->type < BS_JE_SMALL || e->type > BS_JE_ROLLBACK)
		return false;
	if (e->type > BS_JE_BIG)
		return true;
	if ((e->offset % bs->gran) || (e->len % bs->gran) || e->offset > bs->block_size ||
		e->len > bs->block_size - e->offset)
		return false;
	if (e->type == BS_JE_BIG && e->loc >= bs->nblocks)
		return false;
	if (e->type == BS_JE_SMALL && (e->loc < pos + 1 || e->loc > (uint64_t)pos + h->nsect ||
		e->len / BS_SECT > (uint64_t)pos + h->nsect - e->loc))
		return false;
	oi = obj_find(bs, e->inode, e->stripe);
	if (oi != NONE32 && e->version <= bs->objs[oi].version)
		return true; /* already flushed: nothing to verify */
	if (e->type == BS_JE_SMALL) {
		if (crc32c(0, bs->mirror + e->loc * BS_SECT, e->len) != e->data_crc) {
			if (getenv("BS_DEBUG"))
				fprintf(stderr, "replay: small write crc mismatch v%llu\n", (unsigned long long)e->version);
			return false;
		}
		return true;
	}
	if (!e->len)
		return true;
	if (sio(bs->rl, bs->be, false, BS_SLOT_DATA, tmp, e->len, block_off(bs, (uint32_t)e->loc) + e->offset))
		return false;
	if (crc32c(0, tmp, e->len) != e->data_crc) {
		if (getenv("BS_DEBUG"))
			fprintf(stderr, "replay: big write crc mismatch obj %llx:%llx v%llu blk %llu\n",
				(unsigned long long)e->inode, (unsigned long long)e->stripe,
				(unsigned long long)e->version, (unsigned long long)e->loc);
		return false;
	}
	return true;
}

/* Appends the replayed record h at pos to the record ring; NONE32 when the
 * ring is full. */
static uint32_t replay_add_rec(struct bs *bs, uint32_t pos, const struct bs_jhdr *h)
{
	uint32_t ri;
	struct rec *r;

	if (bs->rcount >= bs->rcap)
		return NONE32;
	ri = rec_index(bs, bs->rcount);
	bs->rcount++;
	bs->nack++;
	r = &bs->recs[ri];
	memset(r, 0, sizeof(*r));
	r->seq = h->seq;
	r->prev = h->prev;
	r->pos = pos;
	r->nsect = h->nsect;
	r->state = R_DONE;
	return ri;
}

/* A write or delete entry the flusher already applied. */
static void replay_flushed(struct bs *bs, uint32_t oi, const struct bs_jent *e, uint64_t seq)
{
	/* if it installed the clean block, that block must not be modified
	 * in place yet */
	if (e->type == BS_JE_BIG && oi != NONE32 && bs->objs[oi].block == (uint32_t)e->loc) {
		if (!(bs->objs[oi].flags & OF_FRESH))
			tomb_push(bs, oi, (uint32_t)e->loc, seq, TOMB_FRESH);
	} else if (e->type == BS_JE_BIG && !block_used(bs, (uint32_t)e->loc)) {
		/* the entry stays in the journal (and may be CRC-checked by a
		 * later replay if the object is deleted meanwhile): keep its
		 * block reserved until the journal is trimmed past it */
		block_mark_used(bs, (uint32_t)e->loc);
		bs->last_seq = seq; /* the deferred free's tag */
		block_free_deferred(bs, (uint32_t)e->loc);
	}
}

/* Adds a not yet flushed write or delete entry of record ri to the index. */
static bool replay_add_dent(struct bs *bs, uint32_t oi, const struct bs_jent *e, uint64_t seq, uint32_t ri)
{
	uint32_t di;
	struct dent *d;

	if (oi == NONE32) {
		oi = obj_insert(bs, e->inode, e->stripe);
		if (oi == NONE32)
			return false;
	}
	di = dent_alloc(bs);
	if (di == NONE32)
		return false;
	d = &bs->dents[di];
	d->version = e->version;
	d->seq = seq;
	d->stab_seq = (e->flags & BS_JEF_STABLE) ? seq : 0;
	d->loc = e->loc;
	d->offset = e->offset;
	d->len = e->len;
	d->rec = ri;
	d->type = e->type;
	memcpy(d_bmp(bs, di), e + 1, bs->bmp_size);
	bs->recs[ri].live++;
	if (d->stab_seq)
		chain_stabilize(bs, oi, UINT64_MAX, seq);
	chain_append(bs, oi, di);
	fq_push(bs, oi);
	return true;
}

/* Pass 2 for one entry of record ri: applies it to the index. */
static bool replay_apply_entry(struct bs *bs, const struct bs_jent *e, uint64_t seq, uint32_t ri)
{
	uint32_t oi = obj_find(bs, e->inode, e->stripe);
	bool deleted = true;
	uint64_t nv = 0;

	bs->st.replayed_entries++;
	if (oi != NONE32)
		nv = obj_newest(bs, oi, &deleted);
	if (e->type == BS_JE_STABILIZE) {
		if (oi != NONE32)
			chain_stabilize(bs, oi, e->version, seq);
		return true;
	}
	if (e->type == BS_JE_ROLLBACK) {
		if (oi != NONE32)
			obj_rollback(bs, oi, e->version);
		return true;
	}
	if (e->version <= nv) {
		replay_flushed(bs, oi, e, seq);
		return true;
	}
	if (e->type == BS_JE_DELETE && deleted)
		return true;
	if (e->type == BS_JE_SMALL && deleted)
		return true; /* cannot happen in a valid journal */
	if (e->type == BS_JE_BIG) {
		if (block_used(bs, (uint32_t)e->loc))
			return true; /* cannot happen in a valid journal */
		block_mark_used(bs, (uint32_t)e->loc);
	}
	return replay_add_dent(bs, oi, e, seq, ri);
}

/* Validates and applies one record's entries. Returns false when the record
 * is torn or invalid (replay stops before it). */
static bool replay_record(struct bs *bs, uint32_t pos, const struct bs_jhdr *h, uint8_t *tmp)
{
	const uint8_t *p = (const uint8_t *)(h + 1);
	uint32_t ri;

	for (uint32_t i = 0; i < h->nentries; i++)
		if (!replay_check_entry(bs, pos, h, (const void *)(p + (size_t)i * bs->jent_size), tmp))
			return false;
	ri = replay_add_rec(bs, pos, h);
	if (ri == NONE32)
		return false;
	for (uint32_t i = 0; i < h->nentries; i++)
		if (!replay_apply_entry(bs, (const void *)(p + (size_t)i * bs->jent_size), h->seq, ri))
			return false;
	return true;
}

/* Reads the whole journal into the mirror and checks its start sector. */
static int replay_load_journal(struct bs *bs, struct bs_jstart *js, char *err, size_t errlen)
{
	uint32_t crc;

	for (uint64_t off = 0; off < bs->sb.journal_size; off += 1 << 20) {
		uint64_t n = bs->sb.journal_size - off < (1 << 20) ? bs->sb.journal_size - off : (1 << 20);
		int r = sio(bs->rl, bs->be, false, BS_SLOT_JOURNAL, bs->mirror + off, n, bs->sb.journal_offset + off);

		if (r) {
			errf(err, errlen, "journal read failed: %s", strerror(-r));
			return r;
		}
	}
	memcpy(js, bs->mirror + BS_SECT, sizeof(*js));
	crc = js->crc;
	js->crc = 0;
	if (js->magic != BS_JSTART_MAGIC || crc32c(0, js, sizeof(*js)) != crc ||
		memcmp(js->uuid, bs->sb.uuid, 16) || js->pos < bs->ring_start || js->pos >= bs->ring_end) {
		errf(err, errlen, "journal start sector is corrupted or belongs to another OSD");
		return -EUCLEAN;
	}
	return 0;
}

/* Whether the header at pos continues the chain after record last and is
 * intact (CRC over its first `bytes` bytes, taken with crc = 0). */
static bool replay_header_ok(struct bs *bs, uint32_t pos, uint32_t consumed, uint64_t last)
{
	struct bs_jhdr *h = (struct bs_jhdr *)(void *)(bs->mirror + (size_t)pos * BS_SECT);
	uint32_t ring = bs->ring_end - bs->ring_start, crc = h->crc;
	bool ok;

	if (h->magic != BS_JREC_MAGIC || h->prev != last || h->seq <= last || memcmp(h->uuid, bs->sb.uuid, 8))
		return false;
	if (h->bytes < sizeof(*h) || h->bytes > BS_SECT || h->nsect < 1 || h->nsect > bs->ring_end - pos ||
		consumed + h->nsect > ring ||
		(uint64_t)h->nentries * bs->jent_size != h->bytes - sizeof(*h))
		return false;
	h->crc = 0;
	ok = crc32c(0, h, h->bytes) == crc;
	h->crc = crc;
	return ok;
}

/* Replays the record at pos; false ends the replay before it. */
static bool replay_one(struct bs *bs, uint32_t pos, uint8_t *tmp)
{
	const struct bs_jhdr *h = (const struct bs_jhdr *)(const void *)(bs->mirror + (size_t)pos * BS_SECT);
	uint32_t ri;

	if (!(h->flags & BS_JR_WRAP))
		return replay_record(bs, pos, h, tmp);
	if (h->nentries || pos + h->nsect != bs->ring_end)
		return false;
	ri = replay_add_rec(bs, pos, h);
	if (ri == NONE32)
		return false;
	bs->recs[ri].wrap = 1;
	return true;
}

int replay(struct bs *bs, char *err, size_t errlen)
{
	struct bs_jstart js;
	uint32_t pos, ring = bs->ring_end - bs->ring_start, consumed = 0;
	uint64_t last;
	uint8_t *tmp = zalloc_aligned(bs->block_size);
	int r;

	if (!tmp)
		return -ENOMEM;
	r = replay_load_journal(bs, &js, err, errlen);
	if (r)
		goto out;
	pos = (uint32_t)js.pos;
	last = js.prev_seq;
	bs->trimmed_seq = last;
	for (;;) {
		const struct bs_jhdr *h;

		if (pos == bs->ring_end)
			pos = bs->ring_start;
		if (consumed >= ring || !replay_header_ok(bs, pos, consumed, last) || !replay_one(bs, pos, tmp))
			break;
		h = (const struct bs_jhdr *)(const void *)(bs->mirror + (size_t)pos * BS_SECT);
		bs->st.replayed_records++;
		last = h->seq;
		consumed += h->nsect;
		pos += h->nsect;
	}
	if (pos == bs->ring_end)
		pos = bs->ring_start;
	DBG("replay end: last %llu pos %u records %u\n", (unsigned long long)last, pos, bs->rcount);
	bs->head = pos;
	bs->used = consumed;
	bs->last_seq = last;
	/* the new life's first record must name `last` as prev; shift it so
	 * stale records of the old life (seq last+1...) can never follow */
	bs->next_seq = last + SEQ_GAP;
	bs->completed_seq = bs->durable_seq = last;
out:
	free(tmp);
	return r;
}

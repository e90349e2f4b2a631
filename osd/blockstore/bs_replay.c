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

/* Validates and applies one record's entries. Returns false when the record
 * is torn or invalid (replay stops before it). */
static bool replay_record(struct bs *bs, uint32_t pos, const struct bs_jhdr *h, uint8_t *tmp)
{
	const uint8_t *p = (const uint8_t *)(h + 1);
	uint32_t ri;
	struct rec *r;

	/* pass 1: validate */
	for (uint32_t i = 0; i < h->nentries; i++) {
		const struct bs_jent *e = (const struct bs_jent *)(const void *)(p + (size_t)i * bs->jent_size);
		uint32_t oi;

		if (e->type < BS_JE_SMALL || e->type > BS_JE_ROLLBACK)
			return false;
		if (e->type > BS_JE_BIG)
			continue;
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
			continue; /* already flushed: nothing to verify */
		if (e->type == BS_JE_SMALL) {
			if (e->loc < pos + 1 || e->loc > (uint64_t)pos + h->nsect ||
			e->len / BS_SECT > (uint64_t)pos + h->nsect - e->loc)
				return false;
			if (crc32c(0, bs->mirror + e->loc * BS_SECT, e->len) != e->data_crc) {
				if (getenv("BS_DEBUG"))
					fprintf(stderr, "replay: small write crc mismatch v%llu\n", (unsigned long long)e->version);
				return false;
			}
		} else {
			if (e->loc >= bs->nblocks)
				return false;
			if (e->len) {
				if (sio(bs->rl, bs->be, false, BS_SLOT_DATA, tmp, e->len,
					block_off(bs, (uint32_t)e->loc) + e->offset))
					return false;
				if (crc32c(0, tmp, e->len) != e->data_crc) {
					if (getenv("BS_DEBUG"))
						fprintf(stderr, "replay: big write crc mismatch obj %llx:%llx v%llu blk %llu\n",
							(unsigned long long)e->inode, (unsigned long long)e->stripe,
							(unsigned long long)e->version, (unsigned long long)e->loc);
					return false;
				}
			}
		}
	}
	if (bs->rcount >= bs->rcap)
		return false;
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
	/* pass 2: apply */
	for (uint32_t i = 0; i < h->nentries; i++) {
		const struct bs_jent *e = (const struct bs_jent *)(const void *)(p + (size_t)i * bs->jent_size);
		uint32_t oi = obj_find(bs, e->inode, e->stripe), di;
		bool deleted = true;
		uint64_t nv = 0;

		bs->st.replayed_entries++;
		if (oi != NONE32)
			nv = obj_newest(bs, oi, &deleted);
		if (e->type == BS_JE_STABILIZE) {
			if (oi == NONE32)
				continue;
			for (di = bs->objs[oi].head; di != NONE32; di = bs->dents[di].next)
				if (bs->dents[di].version <= e->version && !bs->dents[di].stab_seq)
					bs->dents[di].stab_seq = h->seq;
			continue;
		}
		if (e->type == BS_JE_ROLLBACK) {
			if (oi == NONE32)
				continue;
			rollback_obj(bs, oi, e->version);
			if (bs->objs[oi].head == NONE32 && bs->objs[oi].version == 0 &&
				bs->objs[oi].block == NONE32 && !(bs->objs[oi].flags & OF_QUEUED))
				obj_remove(bs, oi);
			continue;
		}
		if (e->version <= nv) {
			/* flushed already: if it installed the clean block,
			 * that block must not be modified in place yet */
			if (e->type == BS_JE_BIG && oi != NONE32 && bs->objs[oi].block == (uint32_t)e->loc) {
				if (!(bs->objs[oi].flags & OF_FRESH))
					tomb_push(bs, oi, (uint32_t)e->loc, h->seq, TOMB_FRESH);
			} else if (e->type == BS_JE_BIG && !block_used(bs, (uint32_t)e->loc)) {
				/* the entry stays in the journal (and may be
				 * CRC-checked by a later replay if the object is
				 * deleted meanwhile): keep its block reserved
				 * until the journal is trimmed past it */
				block_mark_used(bs, (uint32_t)e->loc);
				bs->last_seq = h->seq; /* the deferred free's tag */
				block_free_deferred(bs, (uint32_t)e->loc);
			}
			continue;
		}
		if (e->type == BS_JE_DELETE && deleted)
			continue;
		if (e->type == BS_JE_SMALL && deleted)
			continue; /* cannot happen in a valid journal */
		if (e->type == BS_JE_BIG) {
			if (block_used(bs, (uint32_t)e->loc))
				continue; /* cannot happen in a valid journal */
			block_mark_used(bs, (uint32_t)e->loc);
		}
		if (oi == NONE32) {
			oi = obj_insert(bs, e->inode, e->stripe);
			if (oi == NONE32)
				return false;
		}
		di = dent_alloc(bs);
		if (di == NONE32)
			return false;
		{
			struct dent *d = &bs->dents[di];

			d->version = e->version;
			d->seq = h->seq;
			d->stab_seq = (e->flags & BS_JEF_STABLE) ? h->seq : 0;
			d->loc = e->loc;
			d->offset = e->offset;
			d->len = e->len;
			d->rec = ri;
			d->type = e->type;
			memcpy(d_bmp(bs, di), e + 1, bs->bmp_size);
		}
		r = &bs->recs[ri];
		r->live++;
		if (bs->dents[di].stab_seq)
			for (uint32_t k = bs->objs[oi].head; k != NONE32; k = bs->dents[k].next)
				if (!bs->dents[k].stab_seq)
					bs->dents[k].stab_seq = h->seq;
		chain_append(bs, oi, di);
		fq_push(bs, oi);
	}
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
	for (uint64_t off = 0; off < bs->sb.journal_size; off += 1 << 20) {
		uint64_t n = bs->sb.journal_size - off < (1 << 20) ? bs->sb.journal_size - off : (1 << 20);

		r = sio(bs->rl, bs->be, false, BS_SLOT_JOURNAL, bs->mirror + off, n, bs->sb.journal_offset + off);
		if (r) {
			errf(err, errlen, "journal read failed: %s", strerror(-r));
			free(tmp);
			return r;
		}
	}
	memcpy(&js, bs->mirror + BS_SECT, sizeof(js));
	{
		uint32_t crc = js.crc;

		js.crc = 0;
		if (js.magic != BS_JSTART_MAGIC || crc32c(0, &js, sizeof(js)) != crc ||
			memcmp(js.uuid, bs->sb.uuid, 16) || js.pos < bs->ring_start || js.pos >= bs->ring_end) {
			errf(err, errlen, "journal start sector is corrupted or belongs to another OSD");
			free(tmp);
			return -EUCLEAN;
		}
	}
	pos = (uint32_t)js.pos;
	last = js.prev_seq;
	bs->trimmed_seq = last;
	for (;;) {
		const struct bs_jhdr *h;
		struct bs_jhdr hc;
		uint32_t crc;

		if (pos == bs->ring_end)
			pos = bs->ring_start;
		if (consumed >= ring)
			break;
		h = (const struct bs_jhdr *)(const void *)(bs->mirror + (size_t)pos * BS_SECT);
		memcpy(&hc, h, sizeof(hc));
		if (hc.magic != BS_JREC_MAGIC || hc.prev != last || hc.seq <= last || memcmp(hc.uuid, bs->sb.uuid, 8))
			break;
		if (hc.bytes < sizeof(hc) || hc.bytes > BS_SECT || hc.nsect < 1 || hc.nsect > bs->ring_end - pos ||
			consumed + hc.nsect > ring ||
			(uint64_t)hc.nentries * bs->jent_size != hc.bytes - sizeof(hc))
			break;
		crc = hc.crc;
		((struct bs_jhdr *)(void *)(bs->mirror + (size_t)pos * BS_SECT))->crc = 0;
		if (crc32c(0, h, hc.bytes) != crc) {
			((struct bs_jhdr *)(void *)(bs->mirror + (size_t)pos * BS_SECT))->crc = crc;
			break;
		}
		((struct bs_jhdr *)(void *)(bs->mirror + (size_t)pos * BS_SECT))->crc = crc;
		if (hc.flags & BS_JR_WRAP) {
			if (hc.nentries || pos + hc.nsect != bs->ring_end || bs->rcount >= bs->rcap)
				break;
			{
				struct rec *rr = &bs->recs[rec_index(bs, bs->rcount)];

				memset(rr, 0, sizeof(*rr));
				rr->seq = hc.seq;
				rr->prev = hc.prev;
				rr->pos = pos;
				rr->nsect = hc.nsect;
				rr->state = R_DONE;
				rr->wrap = 1;
				bs->rcount++;
				bs->nack++;
			}
		} else if (!replay_record(bs, pos, h, tmp)) {
			break;
		}
		bs->st.replayed_records++;
		last = hc.seq;
		consumed += hc.nsect;
		pos += hc.nsect;
	}
	free(tmp);
	if (pos == bs->ring_end)
		pos = bs->ring_start;
	DBG("replay end: last %llu pos %u records %u\n", (unsigned long long)last, pos, bs->rcount);
	bs->head = pos;
	bs->used = consumed;
	bs->last_seq = last;
	bs->next_seq = last + SEQ_GAP;
	bs->completed_seq = bs->durable_seq = last;
	/* the new life's first record must name `last` as prev; shift it so
	 * stale records of the old life (seq last+1...) can never follow */
	return 0;
}

/* Blockstore engine internals shared by its pieces (bs_*.c); not public API.
 * Design and on-disk format: FORMAT.md. */
#ifndef VSTOR_BS_INTERNAL_H
#define VSTOR_BS_INTERNAL_H

#include "blockstore.h"
#include "bs_disk.h"
#include "crc32c.h"
#include "idmap.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONE32 UINT32_MAX
#define SEQ_GAP (1ull << 32)

/* OF_FRESH: the clean block was installed by a big write whose journal entry
 * may still be replayed (its data CRC is checked then), so the flusher must
 * not modify the block in place until the journal is trimmed past it. */
/* OF_PARKED: queued for the flusher, but in bs->park, not bs->fq: its
 * flushable entries wait for the trim of its OF_FRESH block (FORMAT.md
 * section 6), so flush passes do not rescan it until a trim or journal
 * pressure (fl_start) or a new write (fq_push) moves it back. */
enum { OF_QUEUED = 1, OF_FREE = 2, OF_FRESH = 4, OF_PARKED = 8 };

/* 40 bytes; bitmaps live in obj_bmp (2 x bitmap_size per object). */
struct obj {
	uint64_t inode, stripe;
	uint64_t version;   /* clean (flushed) version; 0 = none */
	uint32_t block;     /* clean block or NONE32 */
	uint32_t head, tail; /* dirty chain (oldest first) */
	uint32_t flags;
};

struct dent {
	uint64_t version, seq, stab_seq, loc;
	uint32_t next, offset, len, rec;
	uint8_t type;
};

enum { R_OPEN = 0, R_WRITING = 1, R_DONE = 2 };

struct rec {
	uint64_t seq, prev;
	uint32_t pos, nsect, live, pending;
	uint32_t hdr_bytes, nent;
	struct bs_op *ops, *ops_tail;
	uint8_t state, wrap;
	struct bs_io io;
};

struct dfree {
	uint32_t blk;
	uint64_t tag, epoch;
};

/* Deferred per-object work released by journal trimming. */
enum { TOMB_DELETE = 0, TOMB_FRESH = 1 };
struct tomb {
	uint32_t obj, blk;
	uint64_t seq;
	int kind;
};

struct flush_item {
	uint32_t obj, nent;
	uint32_t cow_blk; /* copy-on-write target block, or NONE32 */
	uint32_t cow_idx; /* index into cow_buf */
};
#define COW_MAX 8

struct bs {
	struct ringloop *rl;
	struct bs_backend *be;
	struct bs_config cfg;
	struct bs_sb sb;
	uint32_t block_size, gran, bmp_size, bmp8, ngran;
	uint32_t ment_size, ment_per_block, jent_size;
	uint64_t nblocks, nmeta_blocks;
	bool writes_durable, jdsync, ddsync;

	/* index */
	struct obj *objs;
	uint8_t *obj_bmp;
	uint32_t nobjs_cap, nobjs, obj_free;
	uint32_t *htab;
	uint32_t hcap;
	uint32_t *clean_owner;   /* per block */
	uint64_t *used_bm;       /* per block: allocated */
	uint64_t nfree, alloc_hint;
	struct dent *dents;
	uint8_t *dent_bmp;
	uint32_t ndents_cap, dent_free, ndents;

	/* journal */
	uint8_t *mirror;         /* whole journal area */
	uint32_t ring_start, ring_end, head, used, max_rec_data;
	uint64_t next_seq, last_seq, completed_seq, durable_seq, trimmed_seq;
	struct rec *recs;
	uint32_t rcap, rfirst, rcount, nack;
	uint32_t open_rec;       /* NONE32 when no record is open */
	struct ringloop_defer close_d;

	/* deferred block frees and read grace periods */
	struct dfree *dfr;
	uint64_t dfr_cap, dfr_first, dfr_count;
	uint64_t gp_epoch, gp_done;
	uint32_t gp_cnt[2];
	struct tomb *tombs;
	uint64_t tomb_cap, tomb_first, tomb_count;

	/* waiting ops (journal or blocks exhausted) */
	struct bs_op *wq, *wq_tail;
	/* reads waiting for a big write's data to reach its block */
	struct bs_op *rd_wait, *rd_wait_tail;
	struct ringloop_defer wq_d;
	bool in_dispatch;

	/* sync */
	struct bs_op *sw, *sw_tail;
	bool sync_inflight;
	uint32_t sync_pending;
	uint64_t sync_target;
	struct bs_io sync_io[2];
	struct bs_op autosync;
	bool autosync_busy;

	/* flusher */
	uint32_t *fq;
	uint32_t fq_cap, fq_first, fq_count;
	uint32_t *park;			/* OF_PARKED objects (and stale entries) */
	uint32_t npark, park_cap;
	struct flush_item *fl;
	uint32_t fl_n, fl_pending, fl_state;
	bool fl_active, fl_force, fl_data_written;
	uint32_t *fl_recs;
	size_t fl_nrecs, fl_recs_cap;
	uint32_t *mdirty;        /* list of dirty meta blocks */
	uint8_t *mdirty_bm;
	uint32_t nmdirty;
	uint8_t *mbuf;
	uint32_t mbuf_cap;
	uint8_t *cow_buf;
	uint32_t ncow;
	struct bs_io fl_fsync_io;
	struct ringloop_defer fl_d;

	/* trim */
	bool trim_inflight;
	uint32_t trim_k;
	uint64_t trim_pos, trim_prev;
	struct bs_io trim_io;

	/* io pool */
	struct bs_io *iofree;
	void **iochunks;
	size_t niochunks;

	/* scratch */
	uint32_t *chain;
	size_t chain_cap;

	/* objects stored per inode (bs_space.c): inode -> uint64_t * */
	struct idmap space;
	bool space_stale;        /* recount before the next bs_inode_space() */

	bool failed;
	int inflight_reads;
	uint64_t inflight_ios;
	struct bs_stats st;
};

/* Appends op to the singly linked FIFO head/tail (op->next). */
static inline void opq_push(struct bs_op **head, struct bs_op **tail, struct bs_op *op)
{
	op->next = NULL;
	if (*tail)
		(*tail)->next = op;
	else
		*head = op;
	*tail = op;
}

static inline void bit_set(uint8_t *bm, uint32_t i)
{
	bm[i >> 3] |= (uint8_t)(1u << (i & 7));
}

static inline bool bit_get(const uint8_t *bm, uint32_t i)
{
	return bm[i >> 3] >> (i & 7) & 1;
}

static inline void bit_put(uint8_t *bm, uint32_t i, bool v)
{
	if (v)
		bm[i >> 3] |= (uint8_t)(1u << (i & 7));
	else
		bm[i >> 3] &= (uint8_t)~(1u << (i & 7));
}

static inline uint8_t *o_int(struct bs *bs, uint32_t oi)
{
	return bs->obj_bmp + (size_t)oi * 2 * bs->bmp_size;
}

static inline uint8_t *o_ext(struct bs *bs, uint32_t oi)
{
	return o_int(bs, oi) + bs->bmp_size;
}

static inline uint8_t *d_bmp(struct bs *bs, uint32_t di)
{
	return bs->dent_bmp + (size_t)di * bs->bmp_size;
}

static inline uint64_t block_off(struct bs *bs, uint32_t blk)
{
	return bs->sb.data_offset + BS_SECT + (uint64_t)blk * bs->block_size;
}

/* BS_DEBUG in the environment turns on engine tracing to stderr. */
bool bs_debug(void);
#define DBG(...) do { if (bs_debug()) fprintf(stderr, __VA_ARGS__); } while (0)

/* bs_io.c */
void *zalloc_aligned(size_t sz);
uint64_t mix64(uint64_t a, uint64_t b);
void u32_push(uint32_t **arr, size_t *n, size_t *cap, size_t first, uint32_t v);
struct bs_io *io_get(struct bs *bs);
void io_put(struct bs *bs, struct bs_io *io);
void do_read(struct bs *bs, int slot, void *buf, size_t len, uint64_t off, struct bs_io *io);
void do_write(struct bs *bs, int slot, const void *buf, size_t len, uint64_t off, bool dsync,
	struct bs_io *io);
void do_flush(struct bs *bs, int slot, struct bs_io *io);
void fail(struct bs *bs, const char *what, int res);
int sio(struct ringloop *rl, struct bs_backend *be, bool write, int slot, void *buf, size_t len,
	uint64_t off);
int sflush(struct ringloop *rl, struct bs_backend *be, int slot);
void errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* bs_index.c */
uint32_t obj_find(struct bs *bs, uint64_t inode, uint64_t stripe);
uint32_t obj_insert(struct bs *bs, uint64_t inode, uint64_t stripe);
void obj_remove(struct bs *bs, uint32_t oi);
uint32_t dent_alloc(struct bs *bs);
void dent_free(struct bs *bs, uint32_t di);
void chain_append(struct bs *bs, uint32_t oi, uint32_t di);
void chain_stabilize(struct bs *bs, uint32_t oi, uint64_t upto, uint64_t seq);
size_t chain_collect(struct bs *bs, uint32_t oi);
uint64_t obj_newest(struct bs *bs, uint32_t oi, bool *deleted);
void bmp_apply(struct bs *bs, uint8_t *dst, const uint8_t *src, uint32_t off, uint32_t len);
void ext_at(struct bs *bs, uint32_t oi, const uint32_t *chain, long upto, uint8_t *out);
uint32_t block_alloc(struct bs *bs);
void block_mark_used(struct bs *bs, uint32_t b);
bool block_used(struct bs *bs, uint32_t b);
void gp_poll(struct bs *bs);
void block_free_deferred(struct bs *bs, uint32_t b);
void fq_push(struct bs *bs, uint32_t oi);
uint32_t fq_pop(struct bs *bs);
void fq_park(struct bs *bs, uint32_t oi);
bool fq_unpark_all(struct bs *bs);
void obj_rollback(struct bs *bs, uint32_t oi, uint64_t ver);
void tomb_push(struct bs *bs, uint32_t oi, uint32_t blk, uint64_t seq, int kind);

/* bs_journal.c */
struct rec *rec_at(struct bs *bs, uint32_t k);
uint32_t rec_index(struct bs *bs, uint32_t k);
void big_write_cb(struct bs_io *io, int res);
void close_cb(struct ringloop_defer *d);
struct bs_jent *jent_reserve(struct bs *bs, uint32_t dsect, uint32_t *ri_out, uint32_t *data_sect);
void rec_attach_op(struct bs *bs, uint32_t ri, struct bs_op *op);
void complete_op(struct bs_op *op);
void finish_later(struct bs *bs, struct bs_op *op, int retval);

/* bs_sync.c */
void sync_kick(struct bs *bs);
void do_sync_op(struct bs *bs, struct bs_op *op);
void request_autosync(struct bs *bs);

/* bs_write.c */
int do_write_op(struct bs *bs, struct bs_op *op);
int do_stabilize_op(struct bs *bs, struct bs_op *op);
int do_rollback_op(struct bs *bs, struct bs_op *op);

/* bs_read.c */
void do_read_op(struct bs *bs, struct bs_op *op);
void reads_retry(struct bs *bs);
void do_read_bmp_op(struct bs *bs, struct bs_op *op);

/* bs_list.c */
void do_list_op(struct bs *bs, struct bs_op *op);

/* bs_flush.c */
void mark_meta_dirty(struct bs *bs, uint32_t blk);
void fl_defer_cb(struct ringloop_defer *d);
void flush_kick(struct bs *bs);

/* bs_space.c */
bool obj_live(struct bs *bs, uint32_t oi);
void space_note(struct bs *bs, uint64_t inode, bool was, bool now);
void space_recount(struct bs *bs);
void space_free(struct bs *bs);

/* bs_trim.c */
void try_trim(struct bs *bs);

/* bs_format.c */
int sb_load(struct bs *bs, uint8_t *buf, char *err, size_t errlen);

/* bs_replay.c */
int load_meta(struct bs *bs, char *err, size_t errlen);
int replay(struct bs *bs, char *err, size_t errlen);

/* blockstore.c */
void kick_waitq(struct bs *bs);

#endif

/* vstor blockstore: the OSD's storage engine. See FORMAT.md.
 *
 * Objects are (inode, stripe) chunks of block_size bytes. All operations are
 * asynchronous: fill a caller-owned struct bs_op, call bs_submit(); op->cb
 * runs later from the ring loop (never inside bs_submit). No allocation per
 * op on the I/O path (LIST allocates its result array).
 */
#ifndef VSTOR_BLOCKSTORE_H
#define VSTOR_BLOCKSTORE_H

#include "bs_backend.h"
#include "ringloop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bs_oid {
	uint64_t inode, stripe;
};

/* Same layout as Vitastor's obj_ver_id. */
struct bs_obj_ver {
	uint64_t inode, stripe, version;
};

enum bs_opcode {
	BS_OP_READ = 1,
	BS_OP_WRITE,
	BS_OP_WRITE_STABLE,
	BS_OP_SYNC,
	BS_OP_STABILIZE,
	BS_OP_ROLLBACK,
	BS_OP_DELETE,
	BS_OP_LIST,
	BS_OP_READ_BMP,
};

#define BS_VER_STABLE 0ull
#define BS_VER_NEWEST UINT64_MAX

struct bs_op {
	/* in */
	int opcode;
	struct bs_oid oid;
	/* WRITE/DELETE: 0 = current+1, else explicit (must exceed current,
	 * else -EEXIST). READ: 0 = last stable, BS_VER_NEWEST, else newest
	 * <= version. Out: the version written/deleted/read. */
	uint64_t version;
	uint32_t offset, len;      /* granularity-aligned, inside the block */
	void *buf;                 /* 4 KiB-aligned */
	/* WRITE: external bitmap (bitmap_size bytes), only bits of the
	 * written range are applied; may be NULL (= all ones for the range).
	 * READ: out, the version's external bitmap (may be NULL). */
	void *bitmap;
	/* STABILIZE / ROLLBACK / READ_BMP */
	const struct bs_obj_ver *vers;
	uint32_t nvers;
	/* READ_BMP out: nvers x (u64 version + bitmap_size bytes) */
	void *bmp_out;
	/* LIST */
	uint32_t pg_num, pg_count;
	uint64_t pg_stripe_size, min_inode, max_inode;
	/* out */
	int retval;                /* >= 0 or -errno */
	struct bs_obj_ver *list;   /* LIST: malloc'ed, caller frees */
	uint32_t list_count, list_stable_count;

	void (*cb)(struct bs_op *op);
	void *priv;

	/* private */
	struct bs_op *next;
	struct ringloop_defer d;
	uint64_t seq, sync_target;
	int pending;
	int gp;
	uint32_t blk;
};

enum { BS_IC_NONE = 0, BS_IC_SMALL = 1, BS_IC_ALL = 2 };

struct bs_config {
	/* Either a backend (takes ownership) or paths. */
	struct bs_backend *backend;
	const char *data_path, *meta_path, *journal_path;
	/* Expected values; 0 = accept what the superblock says. */
	uint64_t osd_num;
	uint32_t block_size, bitmap_granularity;
	int immediate_commit;
	bool disable_data_fsync, disable_meta_fsync, disable_journal_fsync;
	/* Flusher: objects per pass (default 64); start flushing when the
	 * journal is fuller than this percentage (default 25). */
	uint32_t flush_batch, flush_start_pct;
};

struct bs_format_opts {
	uint64_t osd_num;
	uint32_t block_size;          /* default 128 KiB */
	uint32_t bitmap_granularity;  /* default 4 KiB */
	uint64_t journal_size;        /* default 16 MiB (clamped to device) */
	uint8_t uuid[16];             /* all zero = random */
	uint64_t data_blocks;         /* 0 = as many as fit */
};

struct bs;

/* Writes superblocks, an empty journal and zeroed metadata on the
 * backend's slots, computing every offset itself. Synchronous (runs the
 * backend's ring loop). 0 or -errno with a message in err. */
int bs_format(struct bs_backend *be, const struct bs_format_opts *o, char *err, size_t errlen);

/* Opens (verifies superblocks, loads metadata, replays the journal).
 * Synchronous. 0 or -errno with a message in err; on failure the backend
 * given in cfg is destroyed. */
int bs_open(struct ringloop *rl, const struct bs_config *cfg, struct bs **out, char *err, size_t errlen);
/* Frees everything, including the backend. Does no I/O: the caller must
 * have waited for its ops (and bs_is_idle() for internal I/O) unless the
 * backend is dead (crash tests). */
void bs_close(struct bs *bs);

void bs_submit(struct bs *bs, struct bs_op *op);

/* True when no op and no internal I/O is in flight. */
bool bs_is_idle(struct bs *bs);
/* Makes the flusher run until everything stable and durable is flushed and
 * the journal trimmed (background; poll bs_is_idle()). */
void bs_flush_all(struct bs *bs);

struct bs_stats {
	uint64_t objects, dirty_entries, free_blocks, data_blocks;
	uint64_t journal_used, journal_size;   /* bytes of the ring */
	uint64_t ram_index_bytes;              /* object index + bitmaps + hash + owners */
	uint64_t flush_passes, trims, records, autosyncs, cow_flushes;
	uint64_t bytes_written[BS_NSLOTS], writes[BS_NSLOTS];
	uint64_t user_bytes_written;
	uint64_t replayed_records, replayed_entries;
};
void bs_get_stats(struct bs *bs, struct bs_stats *st);
/* Calls fn for every inode with objects stored here (chunks of every
 * role count; an object counts while its newest version, stable or not,
 * is not a deletion), with their number. Kept as objects come and go,
 * not by scanning (except once after an allocation failure). */
void bs_inode_space(struct bs *bs, void (*fn)(void *arg, uint64_t inode, uint64_t objects),
		    void *arg);
uint32_t bs_block_size(struct bs *bs);
uint32_t bs_bitmap_size(struct bs *bs);

#endif

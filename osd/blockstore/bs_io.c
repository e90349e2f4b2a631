/* Blockstore I/O plumbing: aligned buffers, the bs_io pool, counted
 * backend calls, the failure latch and the blocking startup I/O. */
#include "bs_internal.h"

#include <stdarg.h>

void *zalloc_aligned(size_t sz)
{
	void *p = NULL;

	if (posix_memalign(&p, BS_SECT, sz ? sz : BS_SECT))
		return NULL;
	memset(p, 0, sz);
	return p;
}

uint64_t mix64(uint64_t a, uint64_t b)
{
	uint64_t h = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull + (a << 6) + (a >> 2));

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

/* Appends v to a growable array, doubling it from first entries; aborts
 * when out of memory (the callers cannot undo their work half-way). */
void u32_push(uint32_t **arr, size_t *n, size_t *cap, size_t first, uint32_t v)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : first;
		uint32_t *a = realloc(*arr, nc * sizeof(*a));

		if (!a)
			abort();
		*arr = a;
		*cap = nc;
	}
	(*arr)[(*n)++] = v;
}

struct bs_io *io_get(struct bs *bs)
{
	struct bs_io *io;

	if (!bs->iofree) {
		size_t n = 256;
		struct bs_io *chunk = calloc(n, sizeof(*chunk));
		void **ch = realloc(bs->iochunks, (bs->niochunks + 1) * sizeof(*ch));

		if (!chunk || !ch) {
			free(chunk);
			if (ch)
				bs->iochunks = ch;
			return NULL;
		}
		bs->iochunks = ch;
		ch[bs->niochunks++] = chunk;
		for (size_t i = 0; i < n; i++) {
			chunk[i].next = bs->iofree;
			bs->iofree = &chunk[i];
		}
	}
	io = bs->iofree;
	bs->iofree = io->next;
	memset(io, 0, sizeof(*io));
	io->owner = bs;
	return io;
}

void io_put(struct bs *bs, struct bs_io *io)
{
	io->next = bs->iofree;
	bs->iofree = io;
}

void do_read(struct bs *bs, int slot, void *buf, size_t len, uint64_t off, struct bs_io *io)
{
	bs->inflight_ios++;
	bs->be->ops->read(bs->be, slot, buf, len, off, io);
}

bool bs_debug(void)
{
	static int dbg = -1;

	if (dbg < 0)
		dbg = getenv("BS_DEBUG") != NULL;
	return dbg;
}

void do_write(struct bs *bs, int slot, const void *buf, size_t len, uint64_t off, bool dsync,
	struct bs_io *io)
{
	if (slot == BS_SLOT_DATA)
		DBG("data write blk %llu +%llu len %zu\n", (unsigned long long)((off - bs->sb.data_offset - BS_SECT) / bs->block_size),
			(unsigned long long)((off - bs->sb.data_offset - BS_SECT) % bs->block_size), len);
	else if (slot == BS_SLOT_JOURNAL && off == bs->sb.journal_offset + BS_SECT)
		DBG("trim write\n");
	bs->inflight_ios++;
	bs->st.bytes_written[slot] += len;
	bs->st.writes[slot]++;
	bs->be->ops->write(bs->be, slot, buf, len, off, dsync, io);
}

void do_flush(struct bs *bs, int slot, struct bs_io *io)
{
	bs->inflight_ios++;
	bs->be->ops->flush(bs->be, slot, io);
}

void fail(struct bs *bs, const char *what, int res)
{
	if (!bs->failed)
		fprintf(stderr, "blockstore: I/O error in %s: %s; the store stops accepting writes\n",
			what, strerror(-res));
	bs->failed = true;
}

struct sync_ctx {
	bool done;
	int res;
};

static void sync_cb(struct bs_io *io, int res)
{
	struct sync_ctx *c = (struct sync_ctx *)(uintptr_t)io->arg;

	c->done = true;
	c->res = res;
}

/* Runs the ring loop until the startup I/O behind c completes. */
static int sync_wait(struct ringloop *rl, struct sync_ctx *c)
{
	int spins = 0;

	while (!c->done) {
		int r = ringloop_run_once(rl, -1);

		if (r < 0)
			return r;
		if (r == 0 && ++spins > 1000)
			return -EIO; /* dead backend */
	}
	return c->res < 0 ? c->res : 0;
}

static void sync_io_init(struct bs_io *io, struct sync_ctx *c)
{
	memset(io, 0, sizeof(*io));
	io->cb = sync_cb;
	io->arg = (uint64_t)(uintptr_t)c;
}

/* Synchronous I/O for startup: runs the ring loop until done. */
int sio(struct ringloop *rl, struct bs_backend *be, bool write, int slot, void *buf, size_t len,
	uint64_t off)
{
	struct sync_ctx c = { false, 0 };
	struct bs_io io;

	sync_io_init(&io, &c);
	if (off + len > be->size[slot] || off + len < off)
		return -ENOSPC;
	if (write)
		be->ops->write(be, slot, buf, len, off, false, &io);
	else
		be->ops->read(be, slot, buf, len, off, &io);
	return sync_wait(rl, &c);
}

int sflush(struct ringloop *rl, struct bs_backend *be, int slot)
{
	struct sync_ctx c = { false, 0 };
	struct bs_io io;

	sync_io_init(&io, &c);
	be->ops->flush(be, slot, &io);
	return sync_wait(rl, &c);
}

void errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* libFuzzer target: corrupted journal/metadata/superblock images through
 * the blockstore's startup path (superblock checks, metadata load, journal
 * replay) on the in-memory backend, then a few ops on whatever opened.
 * Must never crash, hang or leak; refusing to start is fine.
 *
 * Input: byte 0 = flags (bit 0: after patching, recompute the CRCs of
 * journal records, the start sector and metadata entries so structure
 * checks behind the CRCs are reached), then patches: u32 offset (little
 * endian, modulo the metadata+journal span), u8 length, bytes. */
#include "blockstore.h"
#include "bs_disk.h"
#include "crc32c.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define BSZ (16 * 1024)
#define DEVSZ (1 << 20)

static struct ringloop *rl;
static uint8_t *base;
static struct bs_sb sb;

static void cb(struct bs_op *op)
{
	*(int *)op->priv = 1;
}

static int run(struct bs *bs, struct bs_op *op)
{
	int done = 0;

	op->cb = cb;
	op->priv = &done;
	bs_submit(bs, op);
	for (int i = 0; i < 10000 && !done; i++)
		ringloop_run_once(rl, 0);
	return done ? op->retval : -1;
}

static void settle(struct bs *bs)
{
	for (int i = 0; i < 10000 && !bs_is_idle(bs); i++)
		ringloop_run_once(rl, 0);
}

static void make_base(void)
{
	uint64_t sizes[BS_NSLOTS] = { DEVSZ, 0, 0 };
	struct bs_backend *be;
	struct bs_format_opts fo;
	struct bs_config cfg;
	struct bs *bs = NULL;
	char err[256];
	void *buf = NULL;

	rl = ringloop_create(64);
	be = bs_backend_mem_create(rl, sizes);
	memset(&fo, 0, sizeof(fo));
	fo.block_size = BSZ;
	fo.journal_size = 128 * 1024;
	if (!rl || !be || bs_format(be, &fo, err, sizeof(err)))
		abort();
	memset(&cfg, 0, sizeof(cfg));
	cfg.backend = be;
	cfg.immediate_commit = BS_IC_ALL;
	cfg.flush_start_pct = 90;
	if (bs_open(rl, &cfg, &bs, err, sizeof(err)))
		abort();
	if (posix_memalign(&buf, 4096, BSZ))
		abort();
	for (int i = 0; i < 24; i++) {
		struct bs_op op;

		memset(&op, 0, sizeof(op));
		memset(buf, i + 1, BSZ);
		op.opcode = i % 3 ? BS_OP_WRITE_STABLE : BS_OP_WRITE;
		op.oid.inode = 1;
		op.oid.stripe = (uint64_t)(i % 5) * BSZ;
		op.offset = i % 4 ? (uint32_t)(i % 4) * 4096 : 0;
		op.len = i % 4 ? 4096 : BSZ;
		op.buf = buf;
		if (i == 20) {
			op.opcode = BS_OP_DELETE;
			op.len = 0;
		}
		run(bs, &op);
		if (i == 12) {
			bs_flush_all(bs);
			settle(bs);
		}
	}
	settle(bs);
	memcpy(&sb, bs_mem_image(be, BS_SLOT_DATA, true), sizeof(sb));
	base = malloc(DEVSZ);
	memcpy(base, bs_mem_image(be, BS_SLOT_DATA, true), DEVSZ);
	bs_close(bs);
	free(buf);
}

static void fix_crcs(uint8_t *img)
{
	uint8_t *j = img + sb.journal_offset, *m = img + sb.meta_offset + BS_SECT;
	uint64_t nsect = sb.journal_size / BS_SECT;
	struct bs_jstart *js = (struct bs_jstart *)(void *)(j + BS_SECT);

	js->crc = 0;
	js->crc = crc32c(0, js, sizeof(*js));
	for (uint64_t s = 2; s < nsect; s++) {
		struct bs_jhdr *h = (struct bs_jhdr *)(void *)(j + s * BS_SECT);

		if (h->magic != BS_JREC_MAGIC || h->bytes < sizeof(*h) || h->bytes > BS_SECT)
			continue;
		h->crc = 0;
		h->crc = crc32c(0, h, h->bytes);
	}
	for (uint64_t off = 0; off + sb.meta_entry_size <= sb.meta_size - BS_SECT; off += sb.meta_entry_size) {
		struct bs_ment *e = (struct bs_ment *)(void *)(m + off);

		if ((off % BS_SECT) + sb.meta_entry_size > BS_SECT)
			continue;
		if (!e->inode && !e->stripe && !e->version)
			continue;
		e->crc = 0;
		e->crc = crc32c(0, e, sb.meta_entry_size);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t sizes[BS_NSLOTS] = { DEVSZ, 0, 0 };
	struct bs_backend *be;
	struct bs_config cfg;
	struct bs *bs = NULL;
	char err[256];
	uint8_t *img;
	uint64_t span;
	size_t p = 1;

	if (!base)
		make_base();
	if (!size)
		return 0;
	be = bs_backend_mem_create(rl, sizes);
	if (!be)
		return 0;
	img = bs_mem_image(be, BS_SLOT_DATA, false);
	memcpy(img, base, DEVSZ);
	span = sb.data_offset + BS_SECT;
	while (p + 5 <= size) {
		uint32_t off;
		uint8_t len;

		memcpy(&off, data + p, 4);
		len = data[p + 4];
		p += 5;
		off = (uint32_t)(off % span);
		if (len > size - p)
			len = (uint8_t)(size - p);
		if (off + len > span)
			len = (uint8_t)(span - off);
		memcpy(img + off, data + p, len);
		p += len;
	}
	if (data[0] & 1)
		fix_crcs(img);
	memcpy(bs_mem_image(be, BS_SLOT_DATA, true), img, DEVSZ);
	memset(&cfg, 0, sizeof(cfg));
	cfg.backend = be;
	cfg.immediate_commit = (data[0] & 2) ? BS_IC_ALL : BS_IC_NONE;
	if (bs_open(rl, &cfg, &bs, err, sizeof(err)) == 0) {
		void *buf = NULL;
		struct bs_op op;

		if (posix_memalign(&buf, 4096, BSZ))
			abort();
		for (uint64_t s = 0; s < 6; s++) {
			memset(&op, 0, sizeof(op));
			op.opcode = BS_OP_READ;
			op.oid.inode = 1;
			op.oid.stripe = s * BSZ;
			op.version = BS_VER_NEWEST;
			op.len = BSZ;
			op.buf = buf;
			run(bs, &op);
		}
		memset(&op, 0, sizeof(op));
		op.opcode = BS_OP_LIST;
		if (run(bs, &op) >= 0)
			free(op.list);
		memset(&op, 0, sizeof(op));
		op.opcode = BS_OP_WRITE_STABLE;
		op.oid.inode = 1;
		op.oid.stripe = 0;
		op.offset = 4096;
		op.len = 4096;
		op.buf = buf;
		run(bs, &op);
		bs_flush_all(bs);
		settle(bs);
		bs_close(bs);
		free(buf);
	}
	for (int i = 0; i < 4; i++)
		ringloop_run_once(rl, 0);
	return 0;
}

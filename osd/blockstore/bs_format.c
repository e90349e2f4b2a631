/* Blockstore format: layout, superblocks and their validation. */
#include "bs_internal.h"

#include <time.h>

static uint32_t sb_crc(const struct bs_sb *sb)
{
	struct bs_sb t = *sb;

	t.crc = 0;
	return crc32c(0, &t, sizeof(t));
}

uint32_t ment_size_for(uint32_t bmp_size)
{
	return (uint32_t)((sizeof(struct bs_ment) + 2 * bmp_size + 7) & ~7u);
}

uint32_t jent_size_for(uint32_t bmp_size)
{
	return (uint32_t)((sizeof(struct bs_jent) + bmp_size + 7) & ~7u);
}

static uint64_t rnd64(void)
{
	static uint64_t s;
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	s += (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull + (uint64_t)ts.tv_sec + (uint64_t)(uintptr_t)&ts;
	return mix64(s, (uint64_t)ts.tv_nsec);
}

int bs_format(struct bs_backend *be, const struct bs_format_opts *o, char *err, size_t errlen)
{
	struct bs_sb sb;
	uint32_t bsz = o->block_size ? o->block_size : 128 * 1024;
	uint32_t gran = o->bitmap_granularity ? o->bitmap_granularity : 4096;
	uint64_t fill[BS_NSLOTS] = { 0, 0, 0 };
	uint64_t jsize, nblocks, per, msize;
	uint8_t *buf;
	int r;
	bool sep_meta = be->phys[BS_SLOT_META] != be->phys[BS_SLOT_DATA];
	bool sep_j = be->phys[BS_SLOT_JOURNAL] != be->phys[BS_SLOT_DATA];

	if (bsz < 4096 || bsz > 1024 * 1024 || (bsz & (bsz - 1)) || gran < 4096 || (gran & (gran - 1)) ||
		gran > bsz || bsz / gran > 256) {
		errf(err, errlen, "bad geometry: block_size %u, bitmap_granularity %u (need powers of two, "
			"4 KiB <= granularity <= block_size <= 1 MiB, <= 256 granules)", bsz, gran);
		return -EINVAL;
	}
	memset(&sb, 0, sizeof(sb));
	memcpy(sb.magic, BS_SB_MAGIC, 8);
	sb.format_version = BS_FORMAT_VERSION;
	memcpy(sb.uuid, o->uuid, 16);
	if (!memcmp(sb.uuid, (uint8_t[16]){ 0 }, 16)) {
		uint64_t a = rnd64(), b = rnd64();

		memcpy(sb.uuid, &a, 8);
		memcpy(sb.uuid + 8, &b, 8);
	}
	sb.osd_num = o->osd_num;
	sb.ctime = (uint64_t)time(NULL);
	sb.block_size = bsz;
	sb.bitmap_granularity = gran;
	sb.meta_entry_size = ment_size_for(bsz / gran / 8 ? bsz / gran / 8 : 1);
	sb.jentry_size = jent_size_for(bsz / gran / 8 ? bsz / gran / 8 : 1);
	sb.separate_meta = sep_meta;
	sb.separate_journal = sep_j;
	/* journal first on its device */
	jsize = o->journal_size ? o->journal_size : 16ull << 20;
	jsize &= ~(uint64_t)(BS_SECT - 1);
	if (sep_j && jsize > be->size[BS_SLOT_JOURNAL])
		jsize = be->size[BS_SLOT_JOURNAL] & ~(uint64_t)(BS_SECT - 1);
	if (jsize < 2 * BS_SECT + 4ull * (bsz + BS_SECT)) {
		errf(err, errlen, "journal too small: %llu bytes, need at least %llu",
			(unsigned long long)jsize, (unsigned long long)(2 * BS_SECT + 4ull * (bsz + BS_SECT)));
		return -EINVAL;
	}
	sb.journal_offset = fill[be->phys[BS_SLOT_JOURNAL]];
	sb.journal_size = jsize;
	fill[be->phys[BS_SLOT_JOURNAL]] += jsize;
	per = BS_SECT / sb.meta_entry_size;
	/* blocks: what fits on the data device after journal/meta */
	{
		uint64_t avail_data = be->size[BS_SLOT_DATA] - fill[be->phys[BS_SLOT_DATA]];
		uint64_t lo = 0, hi;

		if (be->size[BS_SLOT_DATA] < fill[be->phys[BS_SLOT_DATA]] + 3 * BS_SECT) {
			errf(err, errlen, "device too small");
			return -ENOSPC;
		}
		hi = avail_data / bsz + 1;
		/* binary search the largest block count that fits */
		while (lo + 1 < hi) {
			uint64_t mid = (lo + hi) / 2, need_d, need_m;

			msize = BS_SECT * (1 + (mid + per - 1) / per);
			need_d = BS_SECT + mid * bsz;
			need_m = msize;
			if (!sep_meta)
				need_d += need_m;
			if (need_d <= avail_data &&
				(!sep_meta || need_m <= be->size[BS_SLOT_META] - fill[be->phys[BS_SLOT_META]]))
				lo = mid;
			else
				hi = mid;
		}
		nblocks = lo;
		if (o->data_blocks && o->data_blocks < nblocks)
			nblocks = o->data_blocks;
	}
	if (nblocks < 2 || nblocks >= NONE32) {
		errf(err, errlen, "device too small or too large for %u-byte blocks (%llu blocks)", bsz,
			(unsigned long long)nblocks);
		return -ENOSPC;
	}
	msize = BS_SECT * (1 + (nblocks + per - 1) / per);
	sb.meta_offset = fill[be->phys[BS_SLOT_META]];
	sb.meta_size = msize;
	fill[be->phys[BS_SLOT_META]] += msize;
	sb.data_offset = fill[be->phys[BS_SLOT_DATA]];
	sb.data_blocks = nblocks;
	sb.data_size = BS_SECT + nblocks * bsz;
	fill[be->phys[BS_SLOT_DATA]] += sb.data_size;

	buf = zalloc_aligned(1 << 20);
	if (!buf) {
		errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* zero metadata and the journal's start/first ring sectors */
	for (uint64_t off = BS_SECT; off < msize; off += 1 << 20) {
		uint64_t n = msize - off < (1 << 20) ? msize - off : (1 << 20);

		r = sio(be->rl, be, true, BS_SLOT_META, buf, n, sb.meta_offset + off);
		if (r)
			goto io_fail;
	}
	r = sio(be->rl, be, true, BS_SLOT_JOURNAL, buf, 2 * BS_SECT, sb.journal_offset + 2 * BS_SECT);
	if (r)
		goto io_fail;
	{
		struct bs_jstart *js = (struct bs_jstart *)(void *)buf;

		memset(buf, 0, BS_SECT);
		js->magic = BS_JSTART_MAGIC;
		memcpy(js->uuid, sb.uuid, 16);
		js->pos = 2;
		js->prev_seq = 0;
		js->crc = crc32c(0, js, sizeof(*js));
		r = sio(be->rl, be, true, BS_SLOT_JOURNAL, buf, BS_SECT, sb.journal_offset + BS_SECT);
		if (r)
			goto io_fail;
	}
	{
		static const struct { int area, slot; } a[3] = {
			{ BS_AREA_DATA, BS_SLOT_DATA }, { BS_AREA_META, BS_SLOT_META },
			{ BS_AREA_JOURNAL, BS_SLOT_JOURNAL },
		};

		for (int i = 0; i < 3; i++) {
			uint64_t off = a[i].slot == BS_SLOT_DATA ? sb.data_offset :
				a[i].slot == BS_SLOT_META ? sb.meta_offset : sb.journal_offset;

			memset(buf, 0, BS_SECT);
			sb.area = (uint32_t)a[i].area;
			sb.crc = sb_crc(&sb);
			memcpy(buf, &sb, sizeof(sb));
			r = sio(be->rl, be, true, a[i].slot, buf, BS_SECT, off);
			if (r)
				goto io_fail;
		}
	}
	for (int s = 0; s < BS_NSLOTS; s++) {
		if (be->phys[s] != s)
			continue;
		r = sflush(be->rl, be, s);
		if (r)
			goto io_fail;
	}
	free(buf);
	return 0;
io_fail:
	errf(err, errlen, "format: I/O error: %s", strerror(-r));
	free(buf);
	return r;
}

int check_sb(const struct bs_sb *sb, char *err, size_t errlen, const char *where)
{
	if (memcmp(sb->magic, BS_SB_MAGIC, 8)) {
		errf(err, errlen, "%s: no vstor blockstore superblock (wrong device or not formatted)", where);
		return -EINVAL;
	}
	if (sb->crc != sb_crc(sb)) {
		errf(err, errlen, "%s: superblock checksum mismatch (corrupted)", where);
		return -EINVAL;
	}
	if (sb->format_version != BS_FORMAT_VERSION) {
		errf(err, errlen, "%s: unsupported format version %u (expected %u)", where, sb->format_version,
			BS_FORMAT_VERSION);
		return -EINVAL;
	}
	return 0;
}

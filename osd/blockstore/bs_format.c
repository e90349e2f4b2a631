/* Blockstore format: layout, superblocks and their validation. */
#include "bs_internal.h"

#include <time.h>

static uint32_t sb_crc(const struct bs_sb *sb)
{
	struct bs_sb t = *sb;

	t.crc = 0;
	return crc32c(0, &t, sizeof(t));
}

static uint32_t ment_size_for(uint32_t bmp_size)
{
	return (uint32_t)((sizeof(struct bs_ment) + 2 * bmp_size + 7) & ~7u);
}

static uint32_t jent_size_for(uint32_t bmp_size)
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

/* The three areas in the order their superblocks are written and checked. */
static const struct {
	int area, slot;
	const char *name;
} areas[3] = {
	{ BS_AREA_DATA, BS_SLOT_DATA, "data" }, { BS_AREA_META, BS_SLOT_META, "metadata" },
	{ BS_AREA_JOURNAL, BS_SLOT_JOURNAL, "journal" },
};

static uint64_t area_offset(const struct bs_sb *sb, int slot)
{
	return slot == BS_SLOT_DATA ? sb->data_offset : slot == BS_SLOT_META ? sb->meta_offset : sb->journal_offset;
}

static bool geometry_ok(uint32_t bsz, uint32_t gran)
{
	return !(bsz < 4096 || bsz > 1024 * 1024 || (bsz & (bsz - 1)) || gran < 4096 || (gran & (gran - 1)) ||
		gran > bsz || bsz / gran > 256);
}

/* The largest block count whose data (and, on a shared device, metadata)
 * fits after what fill[] already holds. */
static uint64_t fit_blocks(const struct bs_backend *be, const uint64_t *fill, uint32_t bsz, uint64_t per,
	bool sep_meta)
{
	uint64_t avail_data = be->size[BS_SLOT_DATA] - fill[be->phys[BS_SLOT_DATA]];
	uint64_t lo = 0, hi = avail_data / bsz + 1;

	/* binary search the largest block count that fits */
	while (lo + 1 < hi) {
		uint64_t mid = (lo + hi) / 2, need_d, need_m;

		need_m = BS_SECT * (1 + (mid + per - 1) / per);
		need_d = BS_SECT + mid * bsz;
		if (!sep_meta)
			need_d += need_m;
		if (need_d <= avail_data &&
			(!sep_meta || need_m <= be->size[BS_SLOT_META] - fill[be->phys[BS_SLOT_META]]))
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static void format_identity(struct bs_sb *sb, const struct bs_format_opts *o, uint32_t bsz, uint32_t gran)
{
	memset(sb, 0, sizeof(*sb));
	memcpy(sb->magic, BS_SB_MAGIC, 8);
	sb->format_version = BS_FORMAT_VERSION;
	memcpy(sb->uuid, o->uuid, 16);
	if (!memcmp(sb->uuid, (uint8_t[16]){ 0 }, 16)) {
		uint64_t a = rnd64(), b = rnd64();

		memcpy(sb->uuid, &a, 8);
		memcpy(sb->uuid + 8, &b, 8);
	}
	sb->osd_num = o->osd_num;
	sb->ctime = (uint64_t)time(NULL);
	sb->block_size = bsz;
	sb->bitmap_granularity = gran;
	sb->meta_entry_size = ment_size_for(bsz / gran / 8 ? bsz / gran / 8 : 1);
	sb->jentry_size = jent_size_for(bsz / gran / 8 ? bsz / gran / 8 : 1);
}

/* Places the areas (FORMAT.md section 1) and fills the superblock. */
static int format_layout(struct bs_backend *be, const struct bs_format_opts *o, struct bs_sb *sb, char *err,
	size_t errlen)
{
	uint32_t bsz = o->block_size ? o->block_size : 128 * 1024;
	uint32_t gran = o->bitmap_granularity ? o->bitmap_granularity : 4096;
	uint64_t fill[BS_NSLOTS] = { 0, 0, 0 };
	uint64_t jsize, nblocks, per, msize;
	bool sep_meta = be->phys[BS_SLOT_META] != be->phys[BS_SLOT_DATA];
	bool sep_j = be->phys[BS_SLOT_JOURNAL] != be->phys[BS_SLOT_DATA];

	if (!geometry_ok(bsz, gran)) {
		errf(err, errlen, "bad geometry: block_size %u, bitmap_granularity %u (need powers of two, "
			"4 KiB <= granularity <= block_size <= 1 MiB, <= 256 granules)", bsz, gran);
		return -EINVAL;
	}
	format_identity(sb, o, bsz, gran);
	sb->separate_meta = sep_meta;
	sb->separate_journal = sep_j;
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
	sb->journal_offset = fill[be->phys[BS_SLOT_JOURNAL]];
	sb->journal_size = jsize;
	fill[be->phys[BS_SLOT_JOURNAL]] += jsize;
	per = BS_SECT / sb->meta_entry_size;
	/* blocks: what fits on the data device after journal/meta */
	if (be->size[BS_SLOT_DATA] < fill[be->phys[BS_SLOT_DATA]] + 3 * BS_SECT) {
		errf(err, errlen, "device too small");
		return -ENOSPC;
	}
	nblocks = fit_blocks(be, fill, bsz, per, sep_meta);
	if (o->data_blocks && o->data_blocks < nblocks)
		nblocks = o->data_blocks;
	if (nblocks < 2 || nblocks >= NONE32) {
		errf(err, errlen, "device too small or too large for %u-byte blocks (%llu blocks)", bsz,
			(unsigned long long)nblocks);
		return -ENOSPC;
	}
	msize = BS_SECT * (1 + (nblocks + per - 1) / per);
	sb->meta_offset = fill[be->phys[BS_SLOT_META]];
	sb->meta_size = msize;
	fill[be->phys[BS_SLOT_META]] += msize;
	sb->data_offset = fill[be->phys[BS_SLOT_DATA]];
	sb->data_blocks = nblocks;
	sb->data_size = BS_SECT + nblocks * bsz;
	fill[be->phys[BS_SLOT_DATA]] += sb->data_size;
	return 0;
}

/* Writes the formatted areas through buf (1 MiB, zeroed): empty metadata,
 * an empty journal and the superblocks, then flushes every device. */
static int format_write(struct bs_backend *be, struct bs_sb *sb, uint8_t *buf)
{
	struct bs_jstart *js = (struct bs_jstart *)(void *)buf;
	int r;

	/* zero metadata and the journal's start/first ring sectors */
	for (uint64_t off = BS_SECT; off < sb->meta_size; off += 1 << 20) {
		uint64_t n = sb->meta_size - off < (1 << 20) ? sb->meta_size - off : (1 << 20);

		r = sio(be->rl, be, true, BS_SLOT_META, buf, n, sb->meta_offset + off);
		if (r)
			return r;
	}
	r = sio(be->rl, be, true, BS_SLOT_JOURNAL, buf, 2 * BS_SECT, sb->journal_offset + 2 * BS_SECT);
	if (r)
		return r;
	memset(buf, 0, BS_SECT);
	js->magic = BS_JSTART_MAGIC;
	memcpy(js->uuid, sb->uuid, 16);
	js->pos = 2;
	js->prev_seq = 0;
	js->crc = crc32c(0, js, sizeof(*js));
	r = sio(be->rl, be, true, BS_SLOT_JOURNAL, buf, BS_SECT, sb->journal_offset + BS_SECT);
	if (r)
		return r;
	for (int i = 0; i < 3; i++) {
		memset(buf, 0, BS_SECT);
		sb->area = (uint32_t)areas[i].area;
		sb->crc = sb_crc(sb);
		memcpy(buf, sb, sizeof(*sb));
		r = sio(be->rl, be, true, areas[i].slot, buf, BS_SECT, area_offset(sb, areas[i].slot));
		if (r)
			return r;
	}
	for (int s = 0; s < BS_NSLOTS; s++) {
		if (be->phys[s] != s)
			continue;
		r = sflush(be->rl, be, s);
		if (r)
			return r;
	}
	return 0;
}

int bs_format(struct bs_backend *be, const struct bs_format_opts *o, char *err, size_t errlen)
{
	struct bs_sb sb;
	uint8_t *buf;
	int r;

	r = format_layout(be, o, &sb, err, errlen);
	if (r)
		return r;
	buf = zalloc_aligned(1 << 20);
	if (!buf) {
		errf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r = format_write(be, &sb, buf);
	if (r)
		errf(err, errlen, "format: I/O error: %s", strerror(-r));
	free(buf);
	return r;
}

static int check_sb(const struct bs_sb *sb, char *err, size_t errlen, const char *where)
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

/* The data superblock against the devices and the configuration. */
static int sb_check_config(struct bs *bs, char *err, size_t errlen)
{
	const struct bs_sb *sb = &bs->sb;
	const struct bs_config *cfg = &bs->cfg;
	bool sep_meta = bs->be->phys[BS_SLOT_META] != bs->be->phys[BS_SLOT_DATA];
	bool sep_j = bs->be->phys[BS_SLOT_JOURNAL] != bs->be->phys[BS_SLOT_DATA];

	if (sep_meta != !!sb->separate_meta || sep_j != !!sb->separate_journal) {
		errf(err, errlen, "device layout mismatch: formatted with metadata %s and journal %s the "
			"data device, opened with metadata %s and journal %s it",
			sb->separate_meta ? "off" : "on", sb->separate_journal ? "off" : "on",
			sep_meta ? "off" : "on", sep_j ? "off" : "on");
		return -EINVAL;
	}
	if (cfg->osd_num && cfg->osd_num != sb->osd_num) {
		errf(err, errlen, "device belongs to OSD %llu, not OSD %llu",
			(unsigned long long)sb->osd_num, (unsigned long long)cfg->osd_num);
		return -EINVAL;
	}
	if ((cfg->block_size && cfg->block_size != sb->block_size) ||
		(cfg->bitmap_granularity && cfg->bitmap_granularity != sb->bitmap_granularity)) {
		errf(err, errlen, "geometry mismatch: device has block_size %u bitmap_granularity %u, "
			"configured %u/%u", sb->block_size, sb->bitmap_granularity, cfg->block_size,
			cfg->bitmap_granularity);
		return -EINVAL;
	}
	if (!geometry_ok(sb->block_size, sb->bitmap_granularity)) {
		errf(err, errlen, "superblock has invalid geometry");
		return -EINVAL;
	}
	return 0;
}

/* Derives the engine geometry from the superblock and checks that the
 * stored sizes agree with it and the layout fits the devices. */
static int sb_derive(struct bs *bs, char *err, size_t errlen)
{
	const struct bs_sb *sb = &bs->sb;
	const struct bs_backend *be = bs->be;

	bs->block_size = sb->block_size;
	bs->gran = sb->bitmap_granularity;
	bs->ngran = bs->block_size / bs->gran;
	bs->bmp_size = bs->ngran / 8 ? bs->ngran / 8 : 1;
	bs->ment_size = ment_size_for(bs->bmp_size);
	bs->jent_size = jent_size_for(bs->bmp_size);
	if (sb->meta_entry_size != bs->ment_size || sb->jentry_size != bs->jent_size) {
		errf(err, errlen, "superblock entry sizes do not match its geometry");
		return -EINVAL;
	}
	bs->ment_per_block = BS_SECT / bs->ment_size;
	bs->nblocks = sb->data_blocks;
	bs->nmeta_blocks = (bs->nblocks + bs->ment_per_block - 1) / bs->ment_per_block;
	if (!bs->nblocks || bs->nblocks >= NONE32 ||
		sb->data_size != BS_SECT + bs->nblocks * bs->block_size ||
		sb->meta_size != BS_SECT * (1 + bs->nmeta_blocks) ||
		sb->journal_size < 2 * BS_SECT + 4ull * (bs->block_size + BS_SECT) ||
		sb->journal_size > (1ull << 34) || (sb->journal_size % BS_SECT) ||
		(sb->journal_offset % BS_SECT) || (sb->meta_offset % BS_SECT) || (sb->data_offset % BS_SECT) ||
		sb->data_offset + sb->data_size > be->size[BS_SLOT_DATA] ||
		sb->meta_offset + sb->meta_size > be->size[BS_SLOT_META] ||
		sb->journal_offset + sb->journal_size > be->size[BS_SLOT_JOURNAL]) {
		errf(err, errlen, "superblock layout does not fit the devices (device too small, "
			"truncated, or wrong device)");
		return -EINVAL;
	}
	return 0;
}

/* Each area's own superblock must be a copy of the data one. */
static int sb_check_areas(struct bs *bs, uint8_t *buf, char *err, size_t errlen)
{
	const struct bs_sb *sb = &bs->sb;

	for (int i = 0; i < 3; i++) {
		struct bs_sb o;
		int r = sio(bs->rl, bs->be, false, areas[i].slot, buf, BS_SECT, area_offset(sb, areas[i].slot));

		if (r) {
			errf(err, errlen, "cannot read the %s superblock: %s", areas[i].name, strerror(-r));
			return r;
		}
		memcpy(&o, buf, sizeof(o));
		r = check_sb(&o, err, errlen, areas[i].name);
		if (r)
			return r;
		if (o.area != (uint32_t)areas[i].area) {
			errf(err, errlen, "%s area: found the superblock of another area (wrong device?)",
				areas[i].name);
			return -EINVAL;
		}
		if (memcmp(o.uuid, sb->uuid, 16)) {
			errf(err, errlen, "%s area belongs to another OSD (uuid mismatch)", areas[i].name);
			return -EINVAL;
		}
		o.area = sb->area;
		o.crc = sb->crc;
		if (memcmp(&o, sb, sizeof(o))) {
			errf(err, errlen, "%s area superblock disagrees with the data superblock", areas[i].name);
			return -EINVAL;
		}
	}
	return 0;
}

/* Reads and validates the superblocks at open (FORMAT.md section 1) and
 * sets the geometry from them; buf is one aligned sector. */
int sb_load(struct bs *bs, uint8_t *buf, char *err, size_t errlen)
{
	int r = sio(bs->rl, bs->be, false, BS_SLOT_DATA, buf, BS_SECT, 0);

	if (r) {
		errf(err, errlen, "cannot read the data device: %s", strerror(-r));
		return r;
	}
	memcpy(&bs->sb, buf, sizeof(bs->sb));
	r = check_sb(&bs->sb, err, errlen, "data device");
	if (!r)
		r = sb_check_config(bs, err, errlen);
	if (!r)
		r = sb_derive(bs, err, errlen);
	if (!r)
		r = sb_check_areas(bs, buf, err, errlen);
	return r;
}

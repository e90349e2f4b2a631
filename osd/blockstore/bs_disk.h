/* On-disk structures of the vstor blockstore (private). See FORMAT.md.
 * All integers little-endian (x86-64/arm64 native). */
#ifndef VSTOR_BS_DISK_H
#define VSTOR_BS_DISK_H

#include <stdint.h>

#define BS_SECT 4096u
#define BS_FORMAT_VERSION 1u
#define BS_SB_MAGIC "vstorBS1"
#define BS_JSTART_MAGIC 0x5453424au /* "JBST" */
#define BS_JREC_MAGIC 0x4345524au   /* "JREC" */

enum { BS_AREA_JOURNAL = 1, BS_AREA_META = 2, BS_AREA_DATA = 3 };

struct bs_sb {
	char magic[8];
	uint32_t format_version;
	uint32_t area;              /* BS_AREA_* of the area this copy heads */
	uint8_t uuid[16];           /* shared by all areas of one OSD */
	uint64_t osd_num;
	uint64_t ctime;             /* unix seconds */
	uint32_t block_size, bitmap_granularity;
	uint32_t meta_entry_size, jentry_size;
	uint8_t separate_meta, separate_journal, pad0[6];
	uint64_t journal_offset, journal_size;
	uint64_t meta_offset, meta_size;
	uint64_t data_offset, data_size;
	uint64_t data_blocks;
	uint32_t pad1;
	uint32_t crc;               /* crc32c of this struct with crc = 0 */
};

/* Journal sector 1. */
struct bs_jstart {
	uint32_t crc;
	uint32_t magic;
	uint8_t uuid[16];
	uint64_t pos;       /* sector (within the journal area) of the oldest record */
	uint64_t prev_seq;  /* seq of the record before it (the first must name it in prev) */
};

enum { BS_JR_WRAP = 1 };

/* Record header: first bytes of a record's first sector; entries follow. */
struct bs_jhdr {
	uint32_t crc;       /* crc32c of bytes [0, bytes) with crc = 0 */
	uint32_t magic;
	uint64_t seq, prev;
	uint8_t uuid[8];    /* first 8 bytes of the OSD uuid */
	uint32_t nentries;
	uint32_t nsect;     /* sectors of the record including this one */
	uint32_t bytes;     /* header + entries */
	uint32_t flags;     /* BS_JR_WRAP: the rest of the ring is skipped */
};

enum {
	BS_JE_SMALL = 1,   /* data in the journal at loc (sector) */
	BS_JE_BIG = 2,     /* data in data block loc (redirect) */
	BS_JE_DELETE = 3,
	BS_JE_STABILIZE = 4,
	BS_JE_ROLLBACK = 5,
};
#define BS_JEF_STABLE 1

/* Followed by the external bitmap (bitmap_size bytes, padded to 8). */
struct bs_jent {
	uint8_t type, flags;
	uint16_t pad;
	uint32_t offset, len;
	uint32_t data_crc;
	uint64_t inode, stripe, version;
	uint64_t loc;
};

/* Metadata entry k describes data block k; followed by the internal
 * (granules physically written) and external bitmaps. All-zero = free. */
struct bs_ment {
	uint64_t inode, stripe, version;
	uint32_t crc;       /* crc32c of the entry with crc = 0 */
	uint32_t flags;
};

#endif

/* Private to the EC files of vstor-osd (osd_ec.c, osd_ec_util.c): the
 * scratch state of one EC op, kept at the start of op->ecbuf (a pooled
 * buffer, so the op path does not call malloc).
 *
 * Layout of op->ecbuf: struct ecx rounded up to 4 KiB, then n chunk
 * buffers of clen bytes (role order; clen a multiple of 4 KiB, so every
 * buffer stays 4 KiB-aligned for the blockstore and the SIMD paths), then
 * n bitmaps of bitmap_size bytes. */
#ifndef VSTOR_OSD_EC_INT_H
#define VSTOR_OSD_EC_INT_H

#include "osd_pg.h"

#define ECX_HDR 4096u

struct ecx {
	uint32_t n, k, lo, hi, clen;	/* roles; chunk range [lo, hi) buffered */
	uint32_t ws[MAX_SET], we[MAX_SET];	/* writes: range of each data role */
	uint32_t rlen[MAX_SET];		/* reads: bytes asked of each role */
	uint64_t rver[MAX_SET];		/* reads: version each role returned */
	uint64_t read, need;		/* roles read; roles whose old data is needed */
	void (*step)(struct osd_op *op);	/* once every I/O of a phase is back */
	uint8_t *chunk[MAX_SET], *bmp[MAX_SET];	/* buffers (clen / bitmap_size) */
	uint8_t *dst[MAX_SET], *dbmp[MAX_SET];	/* where reads of each role go */
	struct bs_obj_ver sv;		/* the local STABILIZE's entry */
};

_Static_assert(sizeof(struct ecx) <= ECX_HDR, "struct ecx must fit its header page");

static inline struct ecx *ecx_of(const struct osd_op *op)
{
	return op->ecbuf;
}

/* Sets up op->ecbuf for n roles with chunk buffers of clen bytes (0: none)
 * and n bitmaps (zeroed). NULL when out of memory. */
struct ecx *ecx_alloc(struct osd *osd, struct osd_op *op, uint32_t n, uint32_t k, uint32_t clen);
/* Reads [off, off + len) of chunk role of o from OSD num at version into
 * x->dst[role] / x->dbmp[role] (op->pending counts it; x->step runs when
 * the last I/O of the phase is back, see ecx_put). -ENOENT reads as
 * zeroes with version 0; other errors go to op->result. */
void ecx_read(struct osd_op *op, const struct obj *o, uint32_t role, uint64_t num, uint32_t off,
	      uint32_t len, uint64_t version);
/* One I/O of the phase is back: runs x->step at zero. */
void ecx_put(struct osd_op *op);
/* Sets the bits of granules [start, end) of a bitmap. */
void ecx_bits(uint8_t *bmp, uint32_t gran, uint32_t start, uint32_t end);
/* Picks the roles to read: those of want that are live; when one is dead,
 * any k live roles (want's first). 0, or -EIO with fewer than k live. */
int ecx_pick(const struct pgrun *pg, uint64_t want, uint64_t *read);

#endif

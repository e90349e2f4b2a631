/* Preallocated ops (a LIFO free list grown in slabs, never shrunk) and
 * 4 KiB-aligned buffers in power-of-two size classes, so the op path does
 * not call malloc once the pools are warm. */
#include "osd.h"

#include <stdlib.h>
#include <string.h>

#define OPS_PER_SLAB	256
#define BUF_MIN_SHIFT	12
#define BUF_CLASSES	9	/* 4 KiB .. 1 MiB cached; larger go to malloc */

static int grow_ops(struct osd *osd)
{
	struct osd_op *slab = calloc(OPS_PER_SLAB, sizeof(*slab));
	void **slabs;

	if (!slab)
		return -1;
	slabs = realloc(osd->op_slabs, (osd->nslabs + 1) * sizeof(*slabs));
	if (!slabs) {
		free(slab);
		return -1;
	}
	osd->op_slabs = slabs;
	osd->op_slabs[osd->nslabs++] = slab;
	for (int i = OPS_PER_SLAB - 1; i >= 0; i--) {
		slab[i].next = osd->op_free;
		osd->op_free = &slab[i];
	}
	return 0;
}

struct osd_op *osd_op_alloc(struct osd *osd)
{
	struct osd_op *op;

	if (!osd->op_free && grow_ops(osd) < 0)
		return NULL;
	op = osd->op_free;
	osd->op_free = op->next;
	/* Only the fields the op path relies on being clear. */
	op->conn = NULL;
	op->buf = op->bmp = op->bitmap = NULL;
	op->buf_size = op->bmp_size = 0;
	op->err = 0;
	op->start_ns = 0;
	op->bs.list = NULL;
	op->niov = 0;
	op->reply_len = 0;
	op->next = NULL;
	op->is_sub = false;
	op->rbuf = NULL;
	op->ecbuf = NULL;
	op->ecbuf_size = 0;
	op->obj = NULL;
	op->recovery = false;
	op->mem = 0;
	op->sub_id = 0;
	op->osd = osd;
	osd->ops_live++;
	return op;
}

void osd_op_free(struct osd *osd, struct osd_op *op)
{
	if (op->buf)
		osd_buf_put(osd, op->buf, op->buf_size);
	if (op->bmp)
		osd_buf_put(osd, op->bmp, op->bmp_size);
	if (op->ecbuf)
		osd_buf_put(osd, op->ecbuf, op->ecbuf_size);
	op->ecbuf = NULL;
	free(op->bs.list);
	op->bs.list = NULL;
	op->buf = op->bmp = NULL;
	op->next = osd->op_free;
	osd->op_free = op;
	osd->ops_live--;
}

static int size_class(size_t size)
{
	int c = 0;

	while (c < BUF_CLASSES && ((size_t)1 << (BUF_MIN_SHIFT + c)) < size)
		c++;
	return c;
}

void *osd_buf_get(struct osd *osd, size_t size, size_t *cap)
{
	int c = size_class(size ? size : 1);
	size_t sz;
	void *p;

	if (c < BUF_CLASSES) {
		sz = (size_t)1 << (BUF_MIN_SHIFT + c);
		p = osd->bufs.free[c];
		if (p) {
			memcpy(&osd->bufs.free[c], p, sizeof(void *));
			*cap = sz;
			return p;
		}
	} else {
		sz = (size + 4095) & ~(size_t)4095;
	}
	if (posix_memalign(&p, 4096, sz))
		return NULL;
	*cap = sz;
	return p;
}

void osd_buf_put(struct osd *osd, void *buf, size_t cap)
{
	int c = size_class(cap);

	if (c < BUF_CLASSES && ((size_t)1 << (BUF_MIN_SHIFT + c)) == cap) {
		memcpy(buf, &osd->bufs.free[c], sizeof(void *));
		osd->bufs.free[c] = buf;
		return;
	}
	free(buf);
}

void osd_pools_destroy(struct osd *osd)
{
	for (int c = 0; c < BUF_CLASSES; c++) {
		void *p = osd->bufs.free[c], *n;

		while (p) {
			memcpy(&n, p, sizeof(void *));
			free(p);
			p = n;
		}
		osd->bufs.free[c] = NULL;
	}
	for (size_t i = 0; i < osd->nslabs; i++)
		free(osd->op_slabs[i]);
	free(osd->op_slabs);
	osd->op_slabs = NULL;
	osd->nslabs = 0;
	osd->op_free = NULL;
}

/* Per-inode statistics of this OSD (spec §9), published with osd/stats:
 *
 *   osd/inodestats/<n>  {"<pool>": {"<n>": {read|write|delete:
 *                        {count, usec, bytes}}}}: the primary READ, WRITE
 *                        and DELETE ops this OSD answered successfully
 *   osd/space/<n>       {"<pool>": {"<n>": bytes}}: bytes stored here
 *                        (objects of every role x block_size, from the
 *                        blockstore's per-inode counts)
 *
 * The counters are a map inode -> struct ino_stat, allocated once per
 * inode (the map is pre-sized and doubles when half full, so an op of a
 * known inode costs one lookup, or none when it is the last one seen). A
 * DELETE counts block_size bytes: the object it removes. */
#include "osd.h"
#include "json.h"

#include <inttypes.h>
#include <stdlib.h>

#define INO_BITS 48
#define INO_MASK (((uint64_t)1 << INO_BITS) - 1)

enum { IST_READ, IST_WRITE, IST_DELETE, IST_N };
static const char *const ist_names[IST_N] = { "read", "write", "delete" };

struct ino_stat {
	struct osd_op_stat op[IST_N];
};

int osd_inostats_init(struct osd *osd)
{
	idmap_init(&osd->ino_stats);
	return idmap_reserve(&osd->ino_stats, 256);
}

void osd_inostats_free(struct osd *osd)
{
	size_t pos = 0;
	uint64_t key;
	void *val;

	while (idmap_next(&osd->ino_stats, &pos, &key, &val))
		free(val);
	idmap_free(&osd->ino_stats);
	osd->ino_last = 0;
	osd->ino_last_st = NULL;
}

static struct ino_stat *ino_stat(struct osd *osd, uint64_t inode)
{
	struct ino_stat *s;

	if (inode == osd->ino_last)
		return osd->ino_last_st;
	s = idmap_get(&osd->ino_stats, inode);
	if (!s) {
		s = calloc(1, sizeof(*s));
		if (!s)
			return NULL;
		if (idmap_put(&osd->ino_stats, inode, s)) {
			free(s);
			return NULL;
		}
	}
	osd->ino_last = inode;
	osd->ino_last_st = s;
	return s;
}

void osd_inostats_account(struct osd *osd, const struct osd_op *op, uint64_t usec, int64_t rv)
{
	uint64_t inode = vs_le64_get(op->req.rw.inode);
	struct osd_op_stat *st;
	struct ino_stat *s;
	int k;

	if (rv < 0 || !inode)
		return;
	k = op->opcode == VS_OP_READ ? IST_READ : op->opcode == VS_OP_WRITE ? IST_WRITE :
	    IST_DELETE;
	s = ino_stat(osd, inode);
	if (!s)
		return;		/* out of memory: this op goes uncounted */
	st = &s->op[k];
	st->count++;
	st->usec += usec;
	st->bytes += k == IST_DELETE ? osd->block_size : (uint64_t)rv;
}

/* ---- JSON: {"<pool>": {"<n>": value}} in inode order ---- */

struct ino_ent {
	uint64_t inode;
	uint64_t objects;	/* osd/space */
	const struct ino_stat *st;	/* osd/inodestats */
};

struct ino_list {
	struct ino_ent *v;
	size_t n, cap;
	bool oom;
};

static void list_add(struct ino_list *l, uint64_t inode, uint64_t objects,
		     const struct ino_stat *st)
{
	if (inode >> INO_BITS == 0)
		return;		/* no pool: not an image's object */
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 64;
		struct ino_ent *nv = realloc(l->v, nc * sizeof(*nv));

		if (!nv) {
			l->oom = true;
			return;
		}
		l->v = nv;
		l->cap = nc;
	}
	l->v[l->n++] = (struct ino_ent){ inode, objects, st };
}

static int ent_cmp(const void *a, const void *b)
{
	const struct ino_ent *x = a, *y = b;

	return x->inode < y->inode ? -1 : x->inode > y->inode;
}

/* Writes the list as JSON; value() appends one entry's value. */
static int list_json(struct ino_list *l, struct strbuf *sb, struct osd *osd,
		     void (*value)(struct strbuf *sb, struct osd *osd, const struct ino_ent *e))
{
	uint64_t pool = 0;

	if (l->oom)
		return -1;
	if (l->n)
		qsort(l->v, l->n, sizeof(*l->v), ent_cmp);
	sb_puts(sb, "{");
	for (size_t i = 0; i < l->n; i++) {
		uint64_t p = l->v[i].inode >> INO_BITS;

		if (p != pool)
			sb_printf(sb, "%s\"%" PRIu64 "\":{", pool ? "}," : "", p);
		else
			sb_puts(sb, ",");
		pool = p;
		sb_printf(sb, "\"%" PRIu64 "\":", l->v[i].inode & INO_MASK);
		value(sb, osd, &l->v[i]);
	}
	sb_puts(sb, pool ? "}}" : "}");
	return sb->oom ? -1 : 0;
}

static void stat_value(struct strbuf *sb, struct osd *osd, const struct ino_ent *e)
{
	int n = 0;

	sb_puts(sb, "{");
	for (int k = 0; k < IST_N; k++) {
		const struct osd_op_stat *st = &e->st->op[k];

		if (!st->count)
			continue;
		sb_printf(sb, "%s\"%s\":{\"count\":%" PRIu64 ",\"usec\":%" PRIu64 ",\"bytes\":%"
			  PRIu64 "}", n++ ? "," : "", ist_names[k], st->count, st->usec, st->bytes);
	}
	sb_puts(sb, "}");
}

static void space_value(struct strbuf *sb, struct osd *osd, const struct ino_ent *e)
{
	sb_printf(sb, "%" PRIu64, e->objects * osd->block_size);
}

int osd_inostats_json(struct osd *osd, struct strbuf *sb)
{
	struct ino_list l = { 0 };
	size_t pos = 0;
	uint64_t key;
	void *val;
	int rc;

	while (idmap_next(&osd->ino_stats, &pos, &key, &val))
		list_add(&l, key, 0, val);
	rc = list_json(&l, sb, osd, stat_value);
	free(l.v);
	return rc;
}

static void space_cb(void *arg, uint64_t inode, uint64_t objects)
{
	list_add(arg, inode, objects, NULL);
}

int osd_space_json(struct osd *osd, struct strbuf *sb)
{
	struct ino_list l = { 0 };
	int rc;

	bs_inode_space(osd->bs, space_cb, &l);
	rc = list_json(&l, sb, osd, space_value);
	free(l.v);
	return rc;
}

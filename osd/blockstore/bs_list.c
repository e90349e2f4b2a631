/* Blockstore LIST: stable and unstable object versions, sorted. */
#include "bs_internal.h"

static int cmp_ov(const void *a, const void *b)
{
	const struct bs_obj_ver *x = a, *y = b;

	if (x->inode != y->inode)
		return x->inode < y->inode ? -1 : 1;
	if (x->stripe != y->stripe)
		return x->stripe < y->stripe ? -1 : 1;
	return x->version < y->version ? -1 : x->version > y->version;
}

void do_list_op(struct bs *bs, struct bs_op *op)
{
	size_t cap = 64, ns = 0, nu = 0;
	struct bs_obj_ver *st = malloc(cap * sizeof(*st)), *un = malloc(cap * sizeof(*un));
	size_t capu = cap;

	op->list = NULL;
	op->list_count = op->list_stable_count = 0;
	if (!st || !un) {
		free(st);
		free(un);
		finish_later(bs, op, -ENOMEM);
		return;
	}
	for (uint32_t oi = 0; oi < bs->nobjs_cap; oi++) {
		struct obj *o = &bs->objs[oi];
		uint64_t sv = 0, uv = 0;
		bool sdel = true;

		if (o->flags & OF_FREE)
			continue;
		if (o->inode < op->min_inode || (op->max_inode && o->inode > op->max_inode))
			continue;
		if (op->pg_count) {
			uint64_t pss = op->pg_stripe_size ? op->pg_stripe_size : bs->block_size;

			if ((o->stripe / pss) % op->pg_count + 1 != op->pg_num)
				continue;
		}
		if (o->version && o->block != NONE32) {
			sv = o->version;
			sdel = false;
		}
		for (uint32_t di = o->head; di != NONE32; di = bs->dents[di].next) {
			struct dent *d = &bs->dents[di];

			if (d->stab_seq) {
				sv = d->version;
				sdel = d->type == BS_JE_DELETE;
			} else {
				uv = d->version;
			}
		}
		if (sv && !sdel) {
			if (ns == cap) {
				cap *= 2;
				st = realloc(st, cap * sizeof(*st));
				if (!st)
					abort();
			}
			st[ns++] = (struct bs_obj_ver){ o->inode, o->stripe, sv };
		}
		if (uv) {
			if (nu == capu) {
				capu *= 2;
				un = realloc(un, capu * sizeof(*un));
				if (!un)
					abort();
			}
			un[nu++] = (struct bs_obj_ver){ o->inode, o->stripe, uv };
		}
	}
	qsort(st, ns, sizeof(*st), cmp_ov);
	qsort(un, nu, sizeof(*un), cmp_ov);
	st = realloc(st, (ns + nu + 1) * sizeof(*st));
	if (!st)
		abort();
	memcpy(st + ns, un, nu * sizeof(*un));
	free(un);
	op->list = st;
	op->list_count = (uint32_t)(ns + nu);
	op->list_stable_count = (uint32_t)ns;
	finish_later(bs, op, (int)(ns + nu));
}

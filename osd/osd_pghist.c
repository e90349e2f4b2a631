/* pg/history documents (see osd_pghist.h). */
#include "osd_pghist.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pg_hist_init(struct pg_hist *h)
{
	memset(h, 0, sizeof(*h));
}

void pg_hist_free(struct pg_hist *h)
{
	for (uint32_t i = 0; i < h->nsets; i++)
		free(h->sets[i].osd);
	free(h->sets);
	free(h->all);
	pg_hist_init(h);
}

void pg_hist_clear_sets(struct pg_hist *h)
{
	for (uint32_t i = 0; i < h->nsets; i++)
		free(h->sets[i].osd);
	free(h->sets);
	h->sets = NULL;
	h->nsets = 0;
}

bool pg_hist_has_peer(const struct pg_hist *h, uint64_t osd)
{
	for (uint32_t i = 0; i < h->nall; i++)
		if (h->all[i] == osd)
			return true;
	return false;
}

int pg_hist_add_peer(struct pg_hist *h, uint64_t osd)
{
	uint64_t *n;

	if (!osd || pg_hist_has_peer(h, osd))
		return 0;
	n = realloc(h->all, (h->nall + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	h->all = n;
	h->all[h->nall++] = osd;
	return 0;
}

static bool set_equal(const struct pg_hset *s, const uint64_t *set, uint32_t n)
{
	return s->n == n && !memcmp(s->osd, set, n * sizeof(*set));
}

int pg_hist_add_set(struct pg_hist *h, const uint64_t *set, uint32_t n)
{
	struct pg_hset *ns;
	uint32_t nz = 0;

	for (uint32_t i = 0; i < n; i++)
		nz += set[i] != 0;
	if (!nz)
		return 0;
	for (uint32_t i = 0; i < h->nsets; i++)
		if (set_equal(&h->sets[i], set, n))
			return 0;
	ns = realloc(h->sets, (h->nsets + 1) * sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	h->sets = ns;
	ns[h->nsets].osd = malloc(n * sizeof(*set));
	if (!ns[h->nsets].osd)
		return -ENOMEM;
	memcpy(ns[h->nsets].osd, set, n * sizeof(*set));
	ns[h->nsets].n = n;
	h->nsets++;
	return 0;
}

int pg_hist_copy(struct pg_hist *dst, const struct pg_hist *src)
{
	pg_hist_free(dst);
	dst->epoch = src->epoch;
	for (uint32_t i = 0; i < src->nsets; i++)
		if (pg_hist_add_set(dst, src->sets[i].osd, src->sets[i].n))
			goto oom;
	for (uint32_t i = 0; i < src->nall; i++)
		if (pg_hist_add_peer(dst, src->all[i]))
			goto oom;
	return 0;
oom:
	pg_hist_free(dst);
	return -ENOMEM;
}

bool pg_hist_equal(const struct pg_hist *a, const struct pg_hist *b)
{
	if (a->epoch != b->epoch || a->nsets != b->nsets || a->nall != b->nall)
		return false;
	for (uint32_t i = 0; i < a->nsets; i++)
		if (!set_equal(&a->sets[i], b->sets[i].osd, b->sets[i].n))
			return false;
	for (uint32_t i = 0; i < a->nall; i++)
		if (!pg_hist_has_peer(b, a->all[i]))
			return false;
	return true;
}

/* An OSD number: a non-negative integer (or decimal string); 0 only where
 * zero_ok (a free slot of a set). */
static int osd_id(json_t v, bool zero_ok, uint64_t *out)
{
	if (json_u64(v, out) || (!*out && !zero_ok))
		return -1;
	return 0;
}

static int parse_doc(struct pg_hist *h, json_t j, char *err, size_t errlen)
{
	json_t sets = json_get(j, "osd_sets"), all = json_get(j, "all_peers");
	json_t ep = json_get(j, "epoch");
	uint64_t buf[PGH_MAX_SET];

	if (!json_is_obj(j)) {
		snprintf(err, errlen, "not a JSON object");
		return -1;
	}
	if (ep && json_u64(ep, &h->epoch)) {
		snprintf(err, errlen, "epoch is not a non-negative integer");
		return -1;
	}
	if (sets && (!json_is_arr(sets) || json_len(sets) > PGH_MAX_SETS)) {
		snprintf(err, errlen, "osd_sets is not an array (of at most %u sets)", PGH_MAX_SETS);
		return -1;
	}
	for (size_t i = 0; sets && i < json_len(sets); i++) {
		json_t s = json_at(sets, i);
		size_t n = json_len(s);

		if (!json_is_arr(s) || n > PGH_MAX_SET) {
			snprintf(err, errlen, "osd_sets[%zu] is not an array of at most %u OSDs", i,
				 PGH_MAX_SET);
			return -1;
		}
		for (size_t k = 0; k < n; k++)
			if (osd_id(json_at(s, k), true, &buf[k])) {
				snprintf(err, errlen, "osd_sets[%zu][%zu] is not an OSD number", i, k);
				return -1;
			}
		if (pg_hist_add_set(h, buf, (uint32_t)n))
			goto oom;
	}
	if (all && (!json_is_arr(all) || json_len(all) > PGH_MAX_PEERS)) {
		snprintf(err, errlen, "all_peers is not an array (of at most %u OSDs)", PGH_MAX_PEERS);
		return -1;
	}
	for (size_t i = 0; all && i < json_len(all); i++) {
		uint64_t osd;

		/* 0 is tolerated and skipped, like a free slot */
		if (osd_id(json_at(all, i), true, &osd)) {
			snprintf(err, errlen, "all_peers[%zu] is not an OSD number", i);
			return -1;
		}
		if (pg_hist_add_peer(h, osd))
			goto oom;
	}
	return 0;
oom:
	snprintf(err, errlen, "out of memory");
	return -1;
}

int pg_hist_parse(struct pg_hist *h, const char *text, size_t len, char *err, size_t errlen)
{
	struct pg_hist n;
	json_t j;
	int r;

	pg_hist_init(&n);
	if (!text) {
		pg_hist_free(h);
		return 0;
	}
	j = json_parse(text, len, err, errlen);
	if (!j)
		return -1;
	r = parse_doc(&n, j, err, errlen);
	json_free(j);
	if (r) {
		pg_hist_free(&n);
		return -1;
	}
	pg_hist_free(h);
	*h = n;
	return 0;
}

int pg_hist_format(const struct pg_hist *h, struct strbuf *sb)
{
	sb_puts(sb, "{\"osd_sets\":[");
	for (uint32_t i = 0; i < h->nsets; i++) {
		sb_puts(sb, i ? ",[" : "[");
		for (uint32_t k = 0; k < h->sets[i].n; k++)
			sb_printf(sb, "%s%" PRIu64, k ? "," : "", h->sets[i].osd[k]);
		sb_puts(sb, "]");
	}
	sb_puts(sb, "],\"all_peers\":[");
	for (uint32_t i = 0; i < h->nall; i++)
		sb_printf(sb, "%s%" PRIu64, i ? "," : "", h->all[i]);
	sb_printf(sb, "],\"epoch\":%" PRIu64 "}", h->epoch);
	return sb->oom ? -ENOMEM : 0;
}

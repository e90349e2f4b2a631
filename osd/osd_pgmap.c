/* config/pools and config/pgs parsing (see osd_pgmap.h). */
#include "osd_pgmap.h"
#include "json.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static void pool_free(struct osd_pool *p)
{
	free(p->name);
	free(p->immediate_commit);
}

static void pools_free(struct osd_pool *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		pool_free(&p[i]);
	free(p);
}

static void pgs_free(struct osd_pool_pgs *pp, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < pp[i].n; j++)
			free(pp[i].pgs[j].osd_set);
		free(pp[i].pgs);
	}
	free(pp);
}

void osd_pgmap_free(struct osd_pgmap *m)
{
	pools_free(m->pools, m->npools);
	pgs_free(m->pgs, m->npgs);
	free(m->pgs_hash);
	memset(m, 0, sizeof(*m));
}

static int parse_id(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || !v)
		return -1;
	*out = v;
	return 0;
}

/* Optional u32 member: absent keeps *out; wrong type or range fails. */
static int opt_u32(json_t obj, const char *key, uint32_t *out, const char **bad)
{
	json_t v = json_get(obj, key);
	uint64_t u;

	if (!v)
		return 0;
	if (json_u64(v, &u) || u > UINT32_MAX) {
		*bad = key;
		return -1;
	}
	*out = (uint32_t)u;
	return 0;
}

/* Validates one pool (spec §9 "Pool object"); on failure why says why. */
static int parse_pool(uint64_t id, json_t v, struct osd_pool *p, char *why, size_t wlen)
{
	const char *scheme, *bad = NULL, *name;
	json_t ic;
	uint64_t u;
	uint32_t moc = 10000;

	memset(p, 0, sizeof(*p));
	p->id = id;
	if (!json_is_obj(v)) {
		snprintf(why, wlen, "not an object");
		return -1;
	}
	name = json_str(json_get(v, "name"));
	if (!name || !*name) {
		snprintf(why, wlen, "name is missing or empty");
		return -1;
	}
	scheme = json_str(json_get(v, "scheme"));
	if (!scheme || !strcmp(scheme, "replicated"))
		p->scheme = OSD_SCHEME_REPLICATED;
	else if (!strcmp(scheme, "xor"))
		p->scheme = OSD_SCHEME_XOR;
	else if (!strcmp(scheme, "jerasure") || !strcmp(scheme, "ec"))
		p->scheme = OSD_SCHEME_JERASURE;	/* "ec": an alias (spec §11) */
	else {
		snprintf(why, wlen, "scheme \"%.40s\" is not replicated, xor, jerasure or ec", scheme);
		return -1;
	}
	if (!scheme && json_get(v, "scheme")) {
		snprintf(why, wlen, "scheme is not a string");
		return -1;
	}
	if (!json_get(v, "pg_size") || !json_get(v, "pg_minsize") || !json_get(v, "pg_count")) {
		snprintf(why, wlen, "pg_size, pg_minsize and pg_count are required");
		return -1;
	}
	p->parity_chunks = p->scheme == OSD_SCHEME_XOR ? 1 : 0;
	if (opt_u32(v, "pg_size", &p->pg_size, &bad) || opt_u32(v, "pg_minsize", &p->pg_minsize, &bad) ||
	    opt_u32(v, "pg_count", &p->pg_count, &bad) ||
	    opt_u32(v, "parity_chunks", &p->parity_chunks, &bad) ||
	    opt_u32(v, "max_osd_combinations", &moc, &bad)) {
		snprintf(why, wlen, "%s is not a non-negative integer", bad);
		return -1;
	}
	if (json_get(v, "pg_stripe_size")) {
		if (json_u64(json_get(v, "pg_stripe_size"), &u)) {
			snprintf(why, wlen, "pg_stripe_size is not a non-negative integer");
			return -1;
		}
		p->pg_stripe_size = u;
	}
	if (p->pg_size < 1 || p->pg_size > 256) {
		snprintf(why, wlen, "pg_size %u is not in 1..256", p->pg_size);
		return -1;
	}
	if (p->scheme != OSD_SCHEME_REPLICATED && p->pg_size < 3) {
		snprintf(why, wlen, "pg_size %u < 3 for an EC pool", p->pg_size);
		return -1;
	}
	if (p->scheme == OSD_SCHEME_XOR && p->parity_chunks != 1) {
		snprintf(why, wlen, "parity_chunks must be 1 for xor");
		return -1;
	}
	if (p->scheme == OSD_SCHEME_JERASURE &&
	    (p->parity_chunks < 1 || p->parity_chunks > p->pg_size - 2)) {
		snprintf(why, wlen, "parity_chunks %u is not in 1..%u", p->parity_chunks,
			 p->pg_size - 2);
		return -1;
	}
	if (p->scheme == OSD_SCHEME_REPLICATED)
		p->parity_chunks = 0;
	if (p->pg_minsize < 1 || p->pg_minsize > p->pg_size ||
	    (p->scheme != OSD_SCHEME_REPLICATED && p->pg_minsize < p->pg_size - p->parity_chunks)) {
		snprintf(why, wlen, "pg_minsize %u is out of range", p->pg_minsize);
		return -1;
	}
	if (p->pg_count < 1) {
		snprintf(why, wlen, "pg_count must be at least 1");
		return -1;
	}
	if (moc < 100) {
		snprintf(why, wlen, "max_osd_combinations must be at least 100");
		return -1;
	}
	ic = json_get(v, "immediate_commit");
	if (ic && !json_is_str(ic)) {
		snprintf(why, wlen, "immediate_commit is not a string");
		return -1;
	}
	p->name = strdup(name);
	p->immediate_commit = ic ? strdup(json_str(ic)) : NULL;
	if (!p->name || (ic && !p->immediate_commit)) {
		pool_free(p);
		snprintf(why, wlen, "out of memory");
		return -1;
	}
	return 0;
}

static int cmp_pool(const void *a, const void *b)
{
	uint64_t x = ((const struct osd_pool *)a)->id, y = ((const struct osd_pool *)b)->id;

	return x < y ? -1 : x > y;
}

static json_t parse_doc(const char *text, size_t len, char *err, size_t errlen)
{
	char perr[200];
	json_t root = json_parse(text, len, perr, sizeof(perr));

	if (!root) {
		snprintf(err, errlen, "invalid JSON: %s", perr);
		return NULL;
	}
	if (!json_is_obj(root)) {
		snprintf(err, errlen, "not a JSON object");
		json_free(root);
		return NULL;
	}
	return root;
}

int osd_pgmap_set_pools(struct osd_pgmap *m, const char *text, size_t len, char *err, size_t errlen)
{
	json_t root;
	struct osd_pool *pools;
	size_t n = 0, cnt;

	if (!text) {
		pools_free(m->pools, m->npools);
		m->pools = NULL;
		m->npools = 0;
		return 0;
	}
	root = parse_doc(text, len, err, errlen);
	if (!root)
		return -1;
	cnt = json_len(root);
	pools = calloc(cnt ? cnt : 1, sizeof(*pools));
	if (!pools) {
		snprintf(err, errlen, "out of memory");
		json_free(root);
		return -1;
	}
	for (size_t i = 0; i < cnt; i++) {
		const char *key = json_key_at(root, i);
		char why[160];
		uint64_t id;

		if (parse_id(key, &id) || id >= (1u << 16)) {
			log_warn("config/pools: pool \"%.40s\" skipped: the key is not a pool id "
				 "(1..65535)", key);
			continue;
		}
		if (parse_pool(id, json_at(root, i), &pools[n], why, sizeof(why))) {
			log_warn("config/pools: pool %" PRIu64 " skipped: %s", id, why);
			continue;
		}
		n++;
	}
	json_free(root);
	qsort(pools, n, sizeof(*pools), cmp_pool);
	for (size_t i = 1; i < n; i++)
		if (pools[i].id == pools[i - 1].id) {
			log_warn("config/pools: pool %" PRIu64 " given twice, using the last one",
				 pools[i].id);
			pool_free(&pools[i - 1]);
			memmove(&pools[i - 1], &pools[i], (n - i) * sizeof(*pools));
			n--;
			i--;
		}
	pools_free(m->pools, m->npools);
	m->pools = pools;
	m->npools = n;
	return (int)n;
}

static int cmp_pg(const void *a, const void *b)
{
	uint32_t x = ((const struct osd_pg *)a)->num, y = ((const struct osd_pg *)b)->num;

	return x < y ? -1 : x > y;
}

static int cmp_pp(const void *a, const void *b)
{
	uint64_t x = ((const struct osd_pool_pgs *)a)->pool_id;
	uint64_t y = ((const struct osd_pool_pgs *)b)->pool_id;

	return x < y ? -1 : x > y;
}

static int parse_pg(json_t v, struct osd_pg *pg, char *why, size_t wlen)
{
	json_t set = json_get(v, "osd_set"), pause = json_get(v, "pause");

	if (!json_is_obj(v)) {
		snprintf(why, wlen, "not an object");
		return -1;
	}
	if (!json_is_arr(set)) {
		snprintf(why, wlen, "osd_set is not an array");
		return -1;
	}
	if (json_get(v, "primary") && json_u64(json_get(v, "primary"), &pg->primary)) {
		snprintf(why, wlen, "primary is not an OSD number");
		return -1;
	}
	if (pause && json_bool(pause, &pg->pause)) {
		snprintf(why, wlen, "pause is not a boolean");
		return -1;
	}
	pg->set_size = (uint32_t)json_len(set);
	pg->osd_set = calloc(pg->set_size ? pg->set_size : 1, sizeof(uint64_t));
	if (!pg->osd_set) {
		snprintf(why, wlen, "out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < pg->set_size; i++)
		if (json_u64(json_at(set, i), &pg->osd_set[i])) {
			snprintf(why, wlen, "osd_set[%u] is not an OSD number", i);
			free(pg->osd_set);
			pg->osd_set = NULL;
			return -1;
		}
	return 0;
}

int osd_pgmap_set_pgs(struct osd_pgmap *m, const char *text, size_t len, char *err, size_t errlen)
{
	json_t root, items, hash;
	struct osd_pool_pgs *pp;
	size_t npp = 0, cnt, total = 0;
	char *hs = NULL;

	if (!text) {
		pgs_free(m->pgs, m->npgs);
		free(m->pgs_hash);
		m->pgs = NULL;
		m->pgs_hash = NULL;
		m->npgs = 0;
		return 0;
	}
	root = parse_doc(text, len, err, errlen);
	if (!root)
		return -1;
	items = json_get(root, "items");
	hash = json_get(root, "hash");
	if (items && !json_is_obj(items)) {
		snprintf(err, errlen, "items is not an object");
		json_free(root);
		return -1;
	}
	if (hash && !json_is_str(hash)) {
		snprintf(err, errlen, "hash is not a string");
		json_free(root);
		return -1;
	}
	cnt = json_len(items);
	pp = calloc(cnt ? cnt : 1, sizeof(*pp));
	if (!pp || (hash && !(hs = strdup(json_str(hash))))) {
		free(pp);
		snprintf(err, errlen, "out of memory");
		json_free(root);
		return -1;
	}
	for (size_t i = 0; i < cnt; i++) {
		const char *key = json_key_at(items, i);
		json_t pool = json_at(items, i);
		struct osd_pool_pgs *cur = &pp[npp];
		uint64_t id;

		if (parse_id(key, &id) || !json_is_obj(pool)) {
			log_warn("config/pgs: pool \"%.40s\" skipped: not a pool id with an object "
				 "of PGs", key);
			continue;
		}
		cur->pool_id = id;
		cur->pgs = calloc(json_len(pool) ? json_len(pool) : 1, sizeof(*cur->pgs));
		if (!cur->pgs) {
			snprintf(err, errlen, "out of memory");
			pgs_free(pp, npp);
			free(hs);
			json_free(root);
			return -1;
		}
		for (size_t j = 0; j < json_len(pool); j++) {
			const char *pk = json_key_at(pool, j);
			struct osd_pg *pg = &cur->pgs[cur->n];
			char why[128];
			uint64_t num;

			memset(pg, 0, sizeof(*pg));
			if (parse_id(pk, &num) || num > UINT32_MAX) {
				log_warn("config/pgs: pool %" PRIu64 " PG \"%.40s\" skipped: not a "
					 "PG number", id, pk);
				continue;
			}
			pg->num = (uint32_t)num;
			if (parse_pg(json_at(pool, j), pg, why, sizeof(why))) {
				log_warn("config/pgs: pool %" PRIu64 " PG %" PRIu64 " skipped: %s",
					 id, num, why);
				continue;
			}
			cur->n++;
		}
		qsort(cur->pgs, cur->n, sizeof(*cur->pgs), cmp_pg);
		total += cur->n;
		npp++;
	}
	json_free(root);
	qsort(pp, npp, sizeof(*pp), cmp_pp);
	pgs_free(m->pgs, m->npgs);
	free(m->pgs_hash);
	m->pgs = pp;
	m->npgs = npp;
	m->pgs_hash = hs;
	return (int)(total > INT32_MAX ? INT32_MAX : total);
}

const struct osd_pool *osd_pgmap_pool(const struct osd_pgmap *m, uint64_t id)
{
	for (size_t i = 0; i < m->npools; i++)
		if (m->pools[i].id == id)
			return &m->pools[i];
	return NULL;
}

bool osd_pg_paused(const struct osd_pgmap *m, uint64_t pool_id, const struct osd_pg *pg)
{
	const struct osd_pool *p = osd_pgmap_pool(m, pool_id);

	return pg->pause || !p || pg->set_size != p->pg_size || pg->num > p->pg_count;
}

static const char *scheme_name(enum osd_pool_scheme s)
{
	return s == OSD_SCHEME_XOR ? "xor" : s == OSD_SCHEME_JERASURE ? "jerasure" : "replicated";
}

char *osd_pgmap_pools_summary(const struct osd_pgmap *m)
{
	struct strbuf sb;

	sb_init(&sb);
	sb_printf(&sb, "%zu pools", m->npools);
	for (size_t i = 0; i < m->npools; i++) {
		const struct osd_pool *p = &m->pools[i];

		sb_printf(&sb, "%s %" PRIu64 ":%s(%s,pg_size=%u,pg_minsize=%u,pg_count=%u)",
			  i ? "," : ":", p->id, p->name, scheme_name(p->scheme), p->pg_size,
			  p->pg_minsize, p->pg_count);
	}
	if (sb.oom) {
		sb_free(&sb);
		return NULL;
	}
	return sb.buf;
}

char *osd_pgmap_pgs_summary(const struct osd_pgmap *m, uint64_t osd_num)
{
	struct strbuf sb;

	sb_init(&sb);
	sb_printf(&sb, "%zu pools with PGs", m->npgs);
	for (size_t i = 0; i < m->npgs; i++) {
		const struct osd_pool_pgs *pp = &m->pgs[i];
		size_t mine = 0, paused = 0;

		for (size_t j = 0; j < pp->n; j++) {
			mine += pp->pgs[j].primary == osd_num;
			paused += osd_pg_paused(m, pp->pool_id, &pp->pgs[j]);
		}
		sb_printf(&sb, "%s pool %" PRIu64 ": %zu PGs (%zu primary here, %zu paused)",
			  i ? "," : ":", pp->pool_id, pp->n, mine, paused);
	}
	if (sb.oom) {
		sb_free(&sb);
		return NULL;
	}
	return sb.buf;
}

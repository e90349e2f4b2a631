/* Pool object validation (pool.h). */
#include "pool.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int get_num(json_t obj, const char *key, bool required, uint64_t def, uint64_t *out,
	char *err, size_t errlen)
{
	json_t v = json_get(obj, key);

	*out = def;
	if (!v || v->type == yajl_t_null) {
		if (required) {
			snprintf(err, errlen, "%s is missing", key);
			return -1;
		}
		return 0;
	}
	if (json_u64(v, out) < 0) {
		snprintf(err, errlen, "%s must be a non-negative integer", key);
		return -1;
	}
	return 0;
}

int pool_check(json_t obj, struct pool_cfg *p, char *err, size_t errlen)
{
	struct pool_cfg tmp;
	uint64_t data_chunks;
	json_t tags;
	bool ec;

	if (!p)
		p = &tmp;
	memset(p, 0, sizeof(*p));
	p->obj = obj;
	if (!json_is_obj(obj)) {
		snprintf(err, errlen, "not a JSON object");
		return -1;
	}
	p->name = json_str(json_get(obj, "name"));
	if (!p->name || !p->name[0]) {
		snprintf(err, errlen, "name is missing or empty");
		return -1;
	}
	p->scheme = json_str(json_get(obj, "scheme"));
	if (p->scheme && !strcmp(p->scheme, "ec"))
		p->scheme = "jerasure";	/* an alias (spec §11) */
	if (!p->scheme || (strcmp(p->scheme, "replicated") && strcmp(p->scheme, "xor") &&
			   strcmp(p->scheme, "jerasure"))) {
		snprintf(err, errlen, "scheme must be replicated, xor, jerasure or ec");
		return -1;
	}
	ec = strcmp(p->scheme, "replicated") != 0;
	if (get_num(obj, "pg_size", true, 0, &p->pg_size, err, errlen) < 0)
		return -1;
	if (p->pg_size < 1 || p->pg_size > 256 || (ec && p->pg_size < 3)) {
		snprintf(err, errlen, "pg_size must be %s..256, got %" PRIu64,
			 ec ? "3" : "1", p->pg_size);
		return -1;
	}
	if (get_num(obj, "parity_chunks", false, ec ? 1 : 0, &p->parity_chunks, err, errlen) < 0)
		return -1;
	if (!strcmp(p->scheme, "xor") && p->parity_chunks != 1) {
		snprintf(err, errlen, "parity_chunks must be 1 for xor, got %" PRIu64,
			 p->parity_chunks);
		return -1;
	}
	if (!strcmp(p->scheme, "jerasure") &&
	    (p->parity_chunks < 1 || p->parity_chunks > p->pg_size - 2)) {
		snprintf(err, errlen, "parity_chunks must be 1..pg_size-2 (1..%" PRIu64
			 ") for jerasure, got %" PRIu64, p->pg_size - 2, p->parity_chunks);
		return -1;
	}
	if (!ec)
		p->parity_chunks = 0;
	p->ec = ec;
	data_chunks = ec ? p->pg_size - p->parity_chunks : 1;
	p->data_chunks = data_chunks;
	if (get_num(obj, "pg_minsize", true, 0, &p->pg_minsize, err, errlen) < 0)
		return -1;
	if (p->pg_minsize < (ec ? data_chunks : 1) || p->pg_minsize > p->pg_size) {
		snprintf(err, errlen, "pg_minsize must be %" PRIu64 "..pg_size (%" PRIu64
			 ")%s, got %" PRIu64, ec ? data_chunks : 1, p->pg_size,
			 ec ? ", at least the data chunk count" : "", p->pg_minsize);
		return -1;
	}
	if (get_num(obj, "pg_count", true, 0, &p->pg_count, err, errlen) < 0)
		return -1;
	if (p->pg_count < 1) {
		snprintf(err, errlen, "pg_count must be at least 1");
		return -1;
	}
	p->failure_domain = "host";
	if (json_get(obj, "failure_domain")) {
		p->failure_domain = json_str(json_get(obj, "failure_domain"));
		if (!p->failure_domain || !p->failure_domain[0]) {
			snprintf(err, errlen, "failure_domain must be a non-empty string");
			return -1;
		}
	}
	if (get_num(obj, "max_osd_combinations", false, 10000, &p->max_osd_combinations, err,
		    errlen) < 0)
		return -1;
	if (p->max_osd_combinations < 100) {
		snprintf(err, errlen, "max_osd_combinations must be at least 100");
		return -1;
	}
	if (get_num(obj, "pg_stripe_size", false, 0, &p->pg_stripe_size, err, errlen) < 0)
		return -1;
	if (json_get(obj, "root_node") && !json_is_str(json_get(obj, "root_node"))) {
		snprintf(err, errlen, "root_node must be a string");
		return -1;
	}
	p->root_node = json_str(json_get(obj, "root_node"));
	tags = json_get(obj, "osd_tags");
	if (tags && !json_is_str(tags)) {
		bool ok = json_is_arr(tags);

		for (size_t i = 0; ok && i < json_len(tags); i++)
			ok = json_is_str(json_at(tags, i));
		if (!ok) {
			snprintf(err, errlen, "osd_tags must be a string or an array of strings");
			return -1;
		}
	}
	p->osd_tags = tags;
	return 0;
}

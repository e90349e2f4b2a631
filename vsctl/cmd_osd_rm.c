/* vsctl osd rm: forget an OSD that is gone for good.
 *
 * A dead OSD stays in the pg/history (osd_sets, all_peers) of the PGs it
 * had, because it may hold data nobody else has; those PGs stay
 * left_on_dead (or incomplete) until it comes back or is removed here
 * (spec §8.2). Removing it drops it from every pg/history (a set it was
 * in keeps its other OSDs; a set left empty goes) and deletes its
 * osd/stats, osd/inodestats, osd/space and config/osd keys; the PGs then
 * re-peer and, once clean, clear their history.
 *
 * Refused while the OSD is up, while it is still in a PG's osd_set in
 * config/pgs (the monitor moves it out after osd_out_time; --force), and
 * while a PG that names it is not active, since then its copy may be the
 * only one (--allow-data-loss). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "vsctl.h"

#define BATCH 50

struct hist_edit {
	char *key, *value;
	int64_t mod_rev;
};

static bool arr_has(json_t arr, uint64_t n)
{
	for (size_t i = 0; json_is_arr(arr) && i < json_len(arr); i++) {
		uint64_t x;

		if (!json_u64(json_at(arr, i), &x) && x == n)
			return true;
	}
	return false;
}

/* The history without OSD n, as JSON; other fields are kept. */
static void hist_without(json_t h, uint64_t n, struct strbuf *sb)
{
	size_t k = 0;

	sb_puts(sb, "{");
	for (size_t i = 0; i < json_len(h); i++) {
		const char *key = json_key_at(h, i);
		json_t v = json_at(h, i);

		sb_printf(sb, "%s", k++ ? "," : "");
		sb_json_str(sb, key);
		sb_puts(sb, ":");
		if (!strcmp(key, "all_peers") && json_is_arr(v)) {
			size_t m = 0;

			sb_puts(sb, "[");
			for (size_t j = 0; j < json_len(v); j++) {
				uint64_t x;

				if (!json_u64(json_at(v, j), &x) && x == n)
					continue;
				sb_puts(sb, m++ ? "," : "");
				sb_json_val(sb, json_at(v, j));
			}
			sb_puts(sb, "]");
		} else if (!strcmp(key, "osd_sets") && json_is_arr(v)) {
			size_t m = 0;

			sb_puts(sb, "[");
			for (size_t j = 0; j < json_len(v); j++) {
				json_t set = json_at(v, j);
				bool others = false;

				for (size_t s = 0; s < json_len(set); s++) {
					uint64_t x = 0;

					json_u64(json_at(set, s), &x);
					others |= x && x != n;
				}
				if (!others)
					continue;	/* nothing left of it */
				sb_puts(sb, m++ ? ",[" : "[");
				for (size_t s = 0; s < json_len(set); s++) {
					uint64_t x = 0;

					json_u64(json_at(set, s), &x);
					sb_printf(sb, "%s%" PRIu64, s ? "," : "", x == n ? 0 : x);
				}
				sb_puts(sb, "]");
			}
			sb_puts(sb, "]");
		} else {
			sb_json_val(sb, v);
		}
	}
	sb_puts(sb, "}");
}

/* PGs (in config/pgs) whose osd_set has n, as "pool/pg" into sb. */
static size_t in_osd_sets(json_t pgs, uint64_t n, struct strbuf *sb)
{
	json_t items = json_get(pgs, "items");
	size_t found = 0;

	for (size_t i = 0; json_is_obj(items) && i < json_len(items); i++) {
		json_t pp = json_at(items, i);

		for (size_t k = 0; json_is_obj(pp) && k < json_len(pp); k++) {
			if (!arr_has(json_get(json_at(pp, k), "osd_set"), n))
				continue;
			if (found++ < 8)
				sb_printf(sb, "%s%s/%s", found > 1 ? ", " : "", json_key_at(items, i),
					  json_key_at(pp, k));
		}
	}
	return found;
}

static bool pg_active(struct vsctl *v, const char *hist_key)
{
	char key[128];
	json_t st = NULL;
	const char *s;
	bool ok;

	snprintf(key, sizeof(key), "pg/state/%s", hist_key + strlen("pg/history/"));
	if (vs_get_json(v, key, &st, NULL) != 1)
		return false;
	s = json_str(json_at(json_get(st, "state"), 0));
	ok = s && !strcmp(s, "active");
	json_free(st);
	return ok;
}

static int write_edits(struct vsctl *v, const struct hist_edit *e, size_t n, uint64_t osd)
{
	static const char *const drop[] = { "osd/stats/", "osd/inodestats/", "osd/space/",
					    "config/osd/" };
	struct etcd_compare cmp[BATCH];
	struct etcd_txn_op ops[BATCH];
	char keys[4][64];

	for (size_t done = 0; done < n;) {
		size_t k = n - done < BATCH ? n - done : BATCH;
		struct etcd_txn_req req = { .compare = cmp, .n_compare = k, .success = ops,
			.n_success = k };

		memset(cmp, 0, sizeof(cmp));
		memset(ops, 0, sizeof(ops));
		for (size_t i = 0; i < k; i++) {
			cmp[i].key = e[done + i].key;
			cmp[i].target = ETCD_CMP_MOD;
			cmp[i].op = ETCD_CMP_EQUAL;
			cmp[i].number = e[done + i].mod_rev;
			ops[i].type = ETCD_OP_PUT;
			ops[i].put.key = e[done + i].key;
			ops[i].put.value = e[done + i].value;
			ops[i].put.value_len = strlen(e[done + i].value);
		}
		switch (vs_txn(v, &req)) {
		case 1:
			break;
		case 0:
			vs_err("a pg/history key changed meanwhile (a PG re-peered); run the command "
			       "again");
			return -1;
		default:
			return -1;
		}
		done += k;
	}
	memset(ops, 0, sizeof(ops));
	for (int i = 0; i < 4; i++) {
		snprintf(keys[i], sizeof(keys[i]), "%s%" PRIu64, drop[i], osd);
		ops[i].type = ETCD_OP_DELETE;
		ops[i].del.key = keys[i];
	}
	{
		struct etcd_txn_req req = { .success = ops, .n_success = 4 };

		return vs_txn(v, &req) == 1 ? 0 : -1;
	}
}

int cmd_osd_rm(struct vsctl *v)
{
	uint64_t osd = vs_key_num(v->args[0], "");
	struct etcd_result hist = { 0 };
	struct hist_edit *edits = NULL;
	size_t nedits = 0, nunsafe = 0;
	struct strbuf why, unsafe;
	json_t pgs = NULL;
	char key[64];
	int rc = VS_ERR, r;

	if (!osd)
		return vs_usage(v, "'%s' is not an OSD number", v->args[0]);
	sb_init(&why);
	sb_init(&unsafe);
	snprintf(key, sizeof(key), "osd/state/%" PRIu64, osd);
	r = vs_get(v, key, NULL, NULL);
	if (r < 0)
		goto out;
	if (r == 1) {
		vs_err("OSD %" PRIu64 " is up (%s exists): stop it first; only OSDs that are gone "
		       "for good are removed", osd, key);
		goto out;
	}
	if (vs_get_json(v, "config/pgs", &pgs, NULL) < 0)
		goto out;
	if (in_osd_sets(pgs, osd, &why) && !vs_opt_bool(v, "force")) {
		vs_err("OSD %" PRIu64 " is still in the osd_set of PG %s: the monitor moves its PGs "
		       "elsewhere after osd_out_time; wait for that (or --force)", osd, why.buf);
		goto out;
	}
	if (vs_list(v, "pg/history/", &hist) < 0)
		goto out;
	edits = calloc(hist.n_kvs + 1, sizeof(*edits));
	if (!edits) {
		vs_err("out of memory");
		goto out;
	}
	for (size_t i = 0; i < hist.n_kvs; i++) {
		json_t h = json_parse(hist.kvs[i].value, hist.kvs[i].value_len, NULL, 0);
		bool named = false;
		struct strbuf sb;

		for (size_t s = 0; json_is_obj(h) && s < json_len(json_get(h, "osd_sets")); s++)
			named |= arr_has(json_at(json_get(h, "osd_sets"), s), osd);
		named |= arr_has(json_get(h, "all_peers"), osd);
		if (!named) {
			if (h)
				json_free(h);
			continue;
		}
		if (!pg_active(v, hist.kvs[i].key) && nunsafe++ < 8)
			sb_printf(&unsafe, "%s%s", nunsafe > 1 ? ", " : "",
				  hist.kvs[i].key + strlen("pg/history/"));
		sb_init(&sb);
		hist_without(h, osd, &sb);
		json_free(h);
		if (sb.oom) {
			sb_free(&sb);
			vs_err("out of memory");
			goto out;
		}
		edits[nedits].key = strdup(hist.kvs[i].key);
		edits[nedits].value = sb.buf;
		edits[nedits].mod_rev = hist.kvs[i].mod_revision;
		if (!edits[nedits++].key) {
			vs_err("out of memory");
			goto out;
		}
	}
	if (nunsafe && !vs_opt_bool(v, "allow_data_loss")) {
		vs_err("PG %s%s of OSD %" PRIu64 "'s history %s not active: OSD %" PRIu64 " may hold "
		       "the only copy of some data there. Bring it back, or give --allow-data-loss",
		       unsafe.buf, nunsafe > 8 ? ", ..." : "", osd, nunsafe > 1 ? "are" : "is", osd);
		goto out;
	}
	if (write_edits(v, edits, nedits, osd) < 0)
		goto out;
	if (v->json)
		printf("{\"osd\":%" PRIu64 ",\"histories_updated\":%zu}\n", osd, nedits);
	else
		printf("OSD %" PRIu64 " removed: dropped from %zu PG histories, its osd/stats, "
		       "osd/inodestats, osd/space and config/osd keys deleted\n", osd, nedits);
	rc = VS_OK;
out:
	for (size_t i = 0; i < nedits; i++) {
		free(edits[i].key);
		free(edits[i].value);
	}
	free(edits);
	etcd_result_clear(&hist);
	if (pgs)
		json_free(pgs);
	sb_free(&why);
	sb_free(&unsafe);
	return rc;
}

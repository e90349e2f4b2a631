/* The placement tree and a pool's failure domains (spec §11 "Tree",
 * "Failure domains"); see placement.h. */
#include "placement.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Level number of a level name: placement_levels first, then the known
 * names; -1 if unknown. */
static int level_num(json_t levels, const char *name)
{
	static const struct {
		const char *name;
		int level;
	} known[] = {
		{ "datacenter", 10 }, { "dc", 10 }, { "room", 20 }, { "row", 30 },
		{ "rack", 40 }, { "host", 100 }, { "osd", 101 },
	};
	json_t v = json_get(levels, name);
	int64_t n;

	if (!name)
		return -1;
	if (v && !json_i64(v, &n) && n >= 0 && n <= 1000000)
		return (int)n;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(known[i].name, name))
			return known[i].level;
	return -1;
}

static bool is_osd_name(const char *s, uint64_t *num)
{
	char *end;
	unsigned long long v;

	if (!s || *s < '1' || *s > '9')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*num = v;
	return true;
}

int pl_tree_find(const struct pl_tree *t, const char *name)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->nodes[i].name, name))
			return (int)i;
	return -1;
}

static void warn(struct pl_tree *t, const char *fmt, const char *a, const char *b)
{
	if (!t->warn[0])
		snprintf(t->warn, sizeof(t->warn), fmt, a, b);
}

static int add_node(struct pl_tree *t, size_t *cap, const char *name, const char *level_name,
		    int level)
{
	struct pl_node *nd;

	if (t->n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct pl_node *nn = realloc(t->nodes, nc * sizeof(*nn));

		if (!nn)
			return -1;
		t->nodes = nn;
		*cap = nc;
	}
	nd = &t->nodes[t->n];
	memset(nd, 0, sizeof(*nd));
	nd->name = strdup(name);
	nd->level_name = strdup(level_name);
	nd->level = level;
	nd->parent = -1;
	if (!nd->name || !nd->level_name) {
		free(nd->name);
		free(nd->level_name);
		return -1;
	}
	t->n++;
	return 0;
}

/* Sets the parent of node i by name (from node_placement or the host),
 * creating a missing host node at level "host" when create_host. */
static int set_parent(struct pl_tree *t, size_t *cap, json_t levels, size_t i, const char *pname,
		      bool create_host)
{
	int p;

	if (!pname || !*pname)
		return 0;
	p = pl_tree_find(t, pname);
	if (p < 0 && create_host) {
		if (add_node(t, cap, pname, "host", level_num(levels, "host")) < 0)
			return -1;
		p = (int)t->n - 1;
	}
	if (p < 0) {
		warn(t, "placement tree: parent \"%.60s\" of node \"%.60s\" does not exist; "
		     "the node hangs under the root", pname, t->nodes[i].name);
		return 0;
	}
	if (t->nodes[p].level >= t->nodes[i].level) {
		warn(t, "placement tree: parent \"%.60s\" of node \"%.60s\" is not at a higher "
		     "level; the node hangs under the root", pname, t->nodes[i].name);
		return 0;
	}
	t->nodes[i].parent = p;
	return 0;
}

int pl_tree_build(struct pl_tree *t, json_t np, json_t levels,
		  const struct pl_osd_in *osds, size_t nosd)
{
	size_t cap = 0, ninner;
	char name[32];
	int osd_level = level_num(levels, "osd");

	memset(t, 0, sizeof(*t));
	if (!json_is_obj(np))
		np = NULL;
	/* Inner nodes of node_placement. */
	for (size_t i = 0; np && i < json_len(np); i++) {
		const char *key = json_key_at(np, i), *lname;
		json_t v = json_at(np, i);
		uint64_t num;
		int lv;

		if (is_osd_name(key, &num))
			continue;
		lname = json_str(json_get(v, "level"));
		lv = level_num(levels, lname);
		if (!json_is_obj(v) || lv < 0) {
			warn(t, "placement tree: node \"%.60s\" has no known level (%.60s); "
			     "ignoring it", key, lname ? lname : "none");
			continue;
		}
		if (pl_tree_find(t, key) >= 0)
			continue;
		if (add_node(t, &cap, key, lname, lv) < 0)
			goto oom;
	}
	ninner = t->n;
	for (size_t i = 0; i < ninner; i++) {
		json_t v = json_get(np, t->nodes[i].name);

		if (set_parent(t, &cap, levels, i, json_str(json_get(v, "parent")), false) < 0)
			goto oom;
	}
	/* OSD leaves. */
	for (size_t k = 0; k < nosd; k++) {
		const struct pl_osd_in *o = &osds[k];
		struct pl_node *nd;
		json_t v;
		const char *pname;
		size_t i;

		snprintf(name, sizeof(name), "%" PRIu64, o->num);
		if (!o->num || pl_tree_find(t, name) >= 0)
			continue;
		if (add_node(t, &cap, name, "osd", osd_level) < 0)
			goto oom;
		i = t->n - 1;
		nd = &t->nodes[i];
		nd->osd = o->num;
		nd->weight = o->reweight * (double)o->size / (double)(1ull << 40);
		if (!(nd->weight >= 0) || isinf(nd->weight))
			nd->weight = 0;
		if (o->ntags) {
			nd->tags = calloc(o->ntags, sizeof(char *));
			if (!nd->tags)
				goto oom;
			for (size_t j = 0; j < o->ntags; j++) {
				nd->tags[j] = strdup(o->tags[j]);
				if (!nd->tags[j])
					goto oom;
				nd->ntags++;
			}
		}
		v = json_get(np, name);
		pname = json_str(json_get(v, "parent"));
		if (set_parent(t, &cap, levels, i, pname ? pname : o->host, !pname) < 0)
			goto oom;
	}
	return 0;
oom:
	pl_tree_free(t);
	return -1;
}

void pl_tree_free(struct pl_tree *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->nodes[i].name);
		free(t->nodes[i].level_name);
		for (size_t j = 0; j < t->nodes[i].ntags; j++)
			free(t->nodes[i].tags[j]);
		free(t->nodes[i].tags);
	}
	free(t->nodes);
	memset(t, 0, sizeof(*t));
}

static int cmp_node_name(const void *a, const void *b, void *arg)
{
	const struct pl_tree *t = arg;

	return strcmp(t->nodes[*(const size_t *)a].name, t->nodes[*(const size_t *)b].name);
}

void pl_tree_json(const struct pl_tree *t, struct strbuf *sb)
{
	size_t *ord = malloc((t->n ? t->n : 1) * sizeof(size_t));

	if (!ord) {
		sb->oom = true;
		return;
	}
	for (size_t i = 0; i < t->n; i++)
		ord[i] = i;
	qsort_r(ord, t->n, sizeof(size_t), cmp_node_name, (void *)t);
	sb_puts(sb, "[");
	for (size_t k = 0; k < t->n; k++) {
		const struct pl_node *nd = &t->nodes[ord[k]];

		sb_puts(sb, k ? ",{\"name\":" : "{\"name\":");
		sb_json_str(sb, nd->name);
		sb_puts(sb, ",\"level\":");
		sb_json_str(sb, nd->level_name);
		if (nd->parent >= 0) {
			sb_puts(sb, ",\"parent\":");
			sb_json_str(sb, t->nodes[nd->parent].name);
		}
		if (nd->osd) {
			sb_printf(sb, ",\"weight\":%.9g,\"tags\":[", nd->weight);
			for (size_t j = 0; j < nd->ntags; j++) {
				if (j)
					sb_puts(sb, ",");
				sb_json_str(sb, nd->tags[j]);
			}
			sb_puts(sb, "]");
		}
		sb_puts(sb, "}");
	}
	sb_puts(sb, "]");
	free(ord);
}

int pl_osd_config(json_t v, double *reweight, const char ***tags, size_t *ntags,
		  char *err, size_t errlen)
{
	json_t rw = json_get(v, "reweight"), tg = json_get(v, "tags");

	*reweight = 1;
	*tags = NULL;
	*ntags = 0;
	if (v && !json_is_obj(v)) {
		snprintf(err, errlen, "not a JSON object");
		return -1;
	}
	if (rw && (json_double(rw, reweight) || !(*reweight >= 0) || isinf(*reweight))) {
		snprintf(err, errlen, "reweight must be a non-negative number");
		*reweight = 1;
		return -1;
	}
	if (!tg)
		return 0;
	if (!json_is_str(tg) && !json_is_arr(tg)) {
		snprintf(err, errlen, "tags must be a string or an array of strings");
		return -1;
	}
	*tags = calloc(json_is_str(tg) ? 1 : json_len(tg) + 1, sizeof(char *));
	if (!*tags) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (json_is_str(tg)) {
		(*tags)[(*ntags)++] = json_str(tg);
		return 0;
	}
	for (size_t i = 0; i < json_len(tg); i++) {
		const char *s = json_str(json_at(tg, i));

		if (!s) {
			free(*tags);
			*tags = NULL;
			*ntags = 0;
			snprintf(err, errlen, "tags must be a string or an array of strings");
			return -1;
		}
		(*tags)[(*ntags)++] = s;
	}
	return 0;
}

/* ---- selection ---- */

static bool under(const struct pl_tree *t, int node, int root)
{
	for (; node >= 0; node = t->nodes[node].parent)
		if (node == root)
			return true;
	return false;
}

static bool has_tags(const struct pl_node *nd, const struct pl_pool_sel *sel)
{
	for (size_t i = 0; i < sel->ntags; i++) {
		bool found = false;

		for (size_t j = 0; j < nd->ntags && !found; j++)
			found = !strcmp(nd->tags[j], sel->osd_tags[i]);
		if (!found)
			return false;
	}
	return true;
}

static int cmp_osd(const void *a, const void *b)
{
	const struct pl_osd *x = a, *y = b;

	return (x->num > y->num) - (x->num < y->num);
}

int pl_select(const struct pl_tree *t, json_t levels, const struct pl_pool_sel *sel,
	      struct pl_select *out, char *err, size_t errlen)
{
	const char *fd = sel->failure_domain ? sel->failure_domain : "host";
	int fdl = level_num(levels, fd), root = -1;
	int *dom_node = NULL;
	size_t ndn = 0;

	memset(out, 0, sizeof(*out));
	if (fdl < 0) {
		snprintf(err, errlen, "failure_domain \"%.60s\" is not a placement level (known: "
			 "placement_levels, host, osd, rack, row, room, datacenter)", fd);
		return -1;
	}
	if (sel->root_node && (root = pl_tree_find(t, sel->root_node)) < 0) {
		snprintf(err, errlen, "root_node \"%.60s\" is not a node of the placement tree "
			 "(config/node_placement or an OSD's host)", sel->root_node);
		return -1;
	}
	out->osds = calloc(t->n ? t->n : 1, sizeof(*out->osds));
	dom_node = calloc(t->n ? t->n : 1, sizeof(int));
	if (!out->osds || !dom_node)
		goto oom;
	for (size_t i = 0; i < t->n; i++) {
		const struct pl_node *nd = &t->nodes[i];
		int d = (int)i;

		if (!nd->osd || !(nd->weight > 0) || (root >= 0 && !under(t, (int)i, root)) ||
		    !has_tags(nd, sel))
			continue;
		/* The domain: the topmost node on the way up still at or below
		 * the failure domain level. */
		for (int p = nd->parent; p >= 0 && t->nodes[p].level >= fdl; p = t->nodes[p].parent)
			d = p;
		out->osds[out->nosd].num = nd->osd;
		out->osds[out->nosd].weight = nd->weight;
		out->osds[out->nosd].domain = (uint32_t)d;	/* node index for now */
		out->nosd++;
	}
	qsort(out->osds, out->nosd, sizeof(*out->osds), cmp_osd);
	/* Node indexes -> domain numbers in order of first appearance. */
	for (size_t i = 0; i < out->nosd; i++) {
		size_t k;

		for (k = 0; k < ndn; k++)
			if (dom_node[k] == (int)out->osds[i].domain)
				break;
		if (k == ndn)
			dom_node[ndn++] = (int)out->osds[i].domain;
		out->osds[i].domain = (uint32_t)k;
	}
	out->ndomains = (uint32_t)ndn;
	out->domain_names = calloc(ndn ? ndn : 1, sizeof(char *));
	if (!out->domain_names)
		goto oom;
	for (size_t k = 0; k < ndn; k++) {
		out->domain_names[k] = strdup(t->nodes[dom_node[k]].name);
		if (!out->domain_names[k])
			goto oom;
	}
	free(dom_node);
	return 0;
oom:
	free(dom_node);
	pl_select_free(out);
	snprintf(err, errlen, "out of memory");
	return -1;
}

void pl_select_free(struct pl_select *s)
{
	for (uint32_t k = 0; s->domain_names && k < s->ndomains; k++)
		free(s->domain_names[k]);
	free(s->domain_names);
	free(s->osds);
	memset(s, 0, sizeof(*s));
}

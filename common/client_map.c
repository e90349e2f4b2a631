/* libvstor: routing snapshots for the kernel map agent (vsctl map and
 * vsctl map-agent). They read the routing table client_etcd.c keeps, so
 * the kernel routes exactly as libvstor does. */
#include "client_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void vc_map_changed(struct vstor_client *c, int64_t rev)
{
	if (rev > c->map_revision)
		c->map_revision = rev;
	if (c->map_cb)
		c->map_cb(c->map_cb_arg);
}

void vstor_client_on_map_change(struct vstor_client *c, vstor_map_cb *cb, void *arg)
{
	c->map_cb = cb;
	c->map_cb_arg = arg;
}

void vstor_pool_map_free(struct vstor_pool_map *m)
{
	for (size_t i = 0; i < m->nosds; i++) {
		for (size_t k = 0; k < m->osds[i].naddrs; k++)
			free(m->osds[i].addrs[k]);
		free(m->osds[i].addrs);
	}
	free(m->osds);
	free(m->primary);
	memset(m, 0, sizeof(*m));
}

static int add_osd(struct vstor_pool_map *m, const struct vc_osd *o)
{
	struct vstor_map_osd *n;

	for (size_t i = 0; i < m->nosds; i++)
		if (m->osds[i].num == o->num)
			return 0;
	n = realloc(m->osds, (m->nosds + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	m->osds = n;
	n = &m->osds[m->nosds];
	memset(n, 0, sizeof(*n));
	n->num = o->num;
	n->port = o->port;
	n->addrs = calloc(o->naddrs, sizeof(char *));
	if (!n->addrs)
		return -ENOMEM;
	m->nosds++;
	for (size_t k = 0; k < o->naddrs; k++) {
		n->addrs[k] = strdup(o->addrs[k]);
		if (!n->addrs[k])
			return -ENOMEM;
		n->naddrs++;
	}
	return 0;
}

int vstor_client_pool_map(struct vstor_client *c, uint32_t pool, struct vstor_pool_map *out)
{
	const struct vc_pool *p;
	int err = 0;

	memset(out, 0, sizeof(*out));
	if (!c->loaded)
		return -EAGAIN;
	p = vc_pool_find(c, pool);
	if (!p)
		return -ENOENT;
	out->pool_id = pool;
	out->epoch = (uint64_t)c->map_revision;
	out->block_size = (uint32_t)c->block_size;
	out->bitmap_granularity = (uint32_t)c->bitmap_gran;
	out->data_chunks = (uint32_t)(p->stripe / c->block_size);
	out->immediate_commit_all = c->imm_all;
	out->pg_stripe_size = p->pg_stripe_size;
	out->pg_count = p->pg_count;
	if (!p->pg_count)
		return 0;
	out->primary = calloc(p->pg_count, sizeof(uint64_t));
	if (!out->primary)
		return -ENOMEM;
	for (uint32_t i = 0; i < p->pg_count && !err; i++) {
		const struct vc_pg *pg = &p->pgs[i];
		const struct vc_osd *o;

		if (!pg->exists || pg->paused || !pg->target)
			continue;
		o = vc_osd_find(c, pg->target);
		if (!o || !o->naddrs)
			continue;
		out->primary[i] = pg->target;
		err = add_osd(out, o);
	}
	if (err)
		vstor_pool_map_free(out);
	return err;
}

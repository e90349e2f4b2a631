/* Sub-ops of the PG code: this OSD as a client of its peers, over one
 * outgoing connection per peer OSD (opened on first use from osd/state).
 * A closed peer connection re-peers every PG whose last peering used it. */
#include "osd_pg.h"
#include "log.h"

#include <inttypes.h>
#include <stdlib.h>

struct osd_conn *pg_peer_conn(struct osd *osd, uint64_t num)
{
	struct osd_pgs *P = osd->pgs;
	struct peer_slot *n;
	const char *addr;
	int port;
	struct osd_conn *c;

	for (size_t i = 0; i < P->npeers; i++)
		if (P->peers[i].num == num)
			return P->peers[i].c;
	if (P->stopping || !osd_etcd_peer(osd, num, &addr, &port))
		return NULL;
	n = realloc(P->peers, (P->npeers + 1) * sizeof(*n));
	if (!n)
		return NULL;
	P->peers = n;
	c = osd_connect(osd, num, addr, port);
	if (!c)
		return NULL;
	P->peers[P->npeers].num = num;
	P->peers[P->npeers].c = c;
	P->npeers++;
	return c;
}

void osd_pg_conn_closed(struct osd *osd, struct osd_conn *c)
{
	struct osd_pgs *P = osd->pgs;

	if (!P)
		return;
	for (size_t i = 0; i < P->npeers; i++)
		if (P->peers[i].c == c) {
			P->peers[i] = P->peers[--P->npeers];
			break;
		}
	if (P->stopping)
		return;
	for (struct pgrun *pg = P->pgs; pg; pg = pg->next) {
		if (pg->st != PG_ACTIVE && pg->st != PG_PEERED && pg->st != PG_INCOMPLETE)
			continue;
		for (uint32_t i = 0; i < pg->npeers; i++)
			if (pg->peers[i].ok && pg->peers[i].osd == c->peer_osd) {
				log_info("PG %" PRIu64 "/%u: lost the connection to OSD %" PRIu64
					 ", re-peering", pg->pool_id, pg->num, c->peer_osd);
				pg_repeer(pg);
				break;
			}
	}
}

int64_t pg_sub_retval(struct osd_op *sub)
{
	return (int64_t)vs_le64_get(sub->reply.reply.retval);
}

void pg_sub_write(struct osd_op *s, const struct obj *o, uint32_t role, uint64_t version,
		  uint32_t off, uint32_t len, void *bitmap, uint32_t bitmap_len, void *data)
{
	vs_le64_set(&s->req.sec_rw.oid.inode, o->inode);
	vs_le64_set(&s->req.sec_rw.oid.stripe, o->stripe | role);
	vs_le64_set(&s->req.sec_rw.version, version);
	vs_le32_set(&s->req.sec_rw.offset, off);
	vs_le32_set(&s->req.sec_rw.len, len);
	vs_le32_set(&s->req.sec_rw.attr_len, bitmap ? bitmap_len : 0);
	if (bitmap) {
		s->iov[s->niov].iov_base = bitmap;
		s->iov[s->niov++].iov_len = bitmap_len;
	}
	if (len) {
		s->iov[s->niov].iov_base = data;
		s->iov[s->niov++].iov_len = len;
	}
}

void pg_sub_delete(struct osd_op *s, const struct obj *o, uint32_t role, uint64_t version)
{
	vs_le64_set(&s->req.sec_del.oid.inode, o->inode);
	vs_le64_set(&s->req.sec_del.oid.stripe, o->stripe | role);
	vs_le64_set(&s->req.sec_del.version, version);
}

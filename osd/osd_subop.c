/* Sub-ops of the PG code: this OSD as a client of its peers, over one
 * outgoing connection per peer OSD (opened on first use from osd/state).
 * A closed peer connection re-peers every active PG that uses it. */
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

void pg_repeer(struct pgrun *pg);

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
		if (pg->st != PG_ACTIVE)
			continue;
		for (uint32_t i = 0; i + 1 < pg->nlive; i++)
			if (pg->live[i] == c->peer_osd) {
				log_info("PG %" PRIu64 "/%u: lost the connection to OSD %" PRIu64
					 ", re-peering", pg->pool_id, pg->num, c->peer_osd);
				pg_repeer(pg);
				break;
			}
	}
}

struct osd_op *pg_sub_new(struct osd *osd, uint64_t opcode, void (*cb)(struct osd_op *))
{
	struct osd_op *op = osd_op_alloc(osd);

	if (!op)
		return NULL;
	op->is_sub = true;
	op->sub_cb = cb;
	op->parent = NULL;
	op->pg = NULL;
	vs_req_init(&op->req, ++osd->pgs->next_id, opcode);
	op->opcode = opcode;
	op->iov[0].iov_base = &op->req;
	op->iov[0].iov_len = VS_PACKET_SIZE;
	op->niov = 1;
	return op;
}

int64_t pg_sub_retval(struct osd_op *sub)
{
	return (int64_t)vs_le64_get(sub->reply.reply.retval);
}

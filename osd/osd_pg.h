/* Private header of the PG code of vstor-osd: osd_pg.c (life cycle,
 * pg/state and pg/stats in etcd), osd_subop.c (sub-ops to peers),
 * osd_peering.c, osd_primary.c, osd_recovery.c. */
#ifndef VSTOR_OSD_PG_H
#define VSTOR_OSD_PG_H

#include "osd.h"
#include "osd_pgmap.h"

#include <stdbool.h>
#include <stdint.h>

#define OBJ_BUCKETS	65536u
#define MAX_SET		32
#define PG_RETRY_MS	1000

struct obj {
	uint64_t inode, stripe, version, pver;
	uint32_t gen, cnt;
	bool busy, rec_del;
	/* Peering result (set-index bits): members with the target version,
	 * live members lacking it (0 = clean); rec_del: the target is a
	 * deletion at version (del_ver: last version deleted here). */
	uint64_t have, miss, del_ver;
	uint64_t tver;			/* target version to recover */
	struct pgrun *pg;
	struct osd_op *wq_head, *wq_tail;
	struct obj *next;
};

enum pg_st { PG_OFF, PG_STARTING, PG_PEERING, PG_INCOMPLETE, PG_ACTIVE };

struct pgrun {
	struct osd *osd;
	uint64_t pool_id;
	uint32_t num;
	enum pg_st st;
	bool want, seen, locked, etcd_inflight, etcd_again, peering, repeer;
	uint64_t set[MAX_SET];
	uint32_t size, minsize, pg_count;
	uint64_t pg_stripe_size;
	uint64_t live[MAX_SET];		/* live members other than this OSD */
	uint32_t nlive;			/* incl. this OSD */
	uint64_t up_mask;		/* set members up at the last peering */
	bool degraded;
	uint64_t has_degraded;
	uint32_t round;
	int pending;
	uint32_t nok;
	uint64_t ok_mask;
	char key[64];
	struct ringloop_timer retry;
	/* recovery: degraded objects of the last peering */
	uint32_t self_idx;
	uint64_t live_mask, nobjs;
	struct obj **rec;
	uint32_t nrec, rec_cap, rec_pos, rec_left, rec_busy;
	struct ringloop_timer rec_timer;
	struct pgrun *next;
};

struct peer_slot {
	uint64_t num;
	struct osd_conn *c;
};

struct osd_pgs {
	struct obj **buckets;
	struct pgrun *pgs;
	struct peer_slot *peers;
	size_t npeers;
	struct ringloop_defer changed;
	uint32_t gen;
	uint64_t next_id;
	unsigned rec_inflight;
	bool stopping;
	struct osd *pgs_owner;
};

/* osd_pg.c */
struct obj *pg_obj_get(struct osd_pgs *P, uint64_t inode, uint64_t stripe, bool create);
struct pgrun *pg_find(struct osd_pgs *P, uint64_t pool, uint32_t num);
void pg_publish(struct pgrun *pg);
void pg_stats_publish(struct pgrun *pg);

/* osd_subop.c */
struct osd_conn *pg_peer_conn(struct osd *osd, uint64_t num);
struct osd_op *pg_sub_new(struct osd *osd, uint64_t opcode, void (*cb)(struct osd_op *));
int64_t pg_sub_retval(struct osd_op *sub);

/* osd_peering.c */
void pg_peer(struct pgrun *pg);
void pg_repeer(struct pgrun *pg);

/* osd_primary.c */
void pg_reply_rw(struct osd_op *op, int64_t retval, uint64_t version);
void pg_reply_err(struct osd_op *op, int64_t err);
void pg_obj_next(struct osd *osd, struct obj *o);
void pg_rw_start(struct osd *osd, struct osd_op *op);
void pg_read_submit(struct osd *osd, struct osd_op *op);

/* osd_recovery.c */
void pg_rec_kick(struct osd_pgs *P);
void pg_rec_start(struct osd_op *op);
void pg_rec_done(struct osd_op *op, bool ok);
void pg_rec_timer_cb(struct ringloop_timer *t);

#endif

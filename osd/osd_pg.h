/* Private header of the PG code of vstor-osd:
 *   osd_pg.c        PG life cycle, pg/state lock, pg/stats, object table
 *   osd_subop.c     sub-ops to peer OSDs
 *   osd_peering.c   peering with pg/history, object states, epochs
 *   osd_primary.c   primary READ/WRITE/DELETE/SYNC
 *   osd_recovery.c  recovery of degraded and misplaced objects
 *   osd_ec.c        EC/XOR primary reads and writes (encode, RMW, stabilize)
 *   osd_ec_util.c   EC chunk I/O helpers, stabilize batches, recovery reads
 *   osd_ec_peer.c   EC peering: rollback / stabilize of unstable versions
 *
 * Chunk roles (spec §5, §6). A PG has pg_size positions in role order
 * (osd_set[i] holds role i); data_chunks of them hold data, the rest
 * parity. An object (inode, stripe start) is stored as chunks whose
 * secondary object id is (inode, stripe | role). A replicated pool has
 * data_chunks = 1 and every position holds a full copy as role 0; an EC
 * pool (issue 7) stores chunk i on position i. Everything below is written
 * in terms of positions and pg_role(): peering records which (OSD, role,
 * version) copies exist, recovery rebuilds the chunk of each position
 * that lacks it, and writes address every live position with its role.
 * What EC adds is the encoding (which bytes go to which role) and the
 * two-phase stabilization of unstable versions. */
#ifndef VSTOR_OSD_PG_H
#define VSTOR_OSD_PG_H

#include "osd.h"
#include "osd_pghist.h"
#include "osd_pgmap.h"

#include <stdbool.h>
#include <stdint.h>

#define MAX_SET		32	/* pg_size this OSD runs */
#define MAX_PEERS	64	/* osd_set + history + all_peers of one PG */
#define PG_RETRY_MS	1000

/* One copy (chunk) of an object found at peering. */
struct obj_loc {
	uint64_t osd, version;
	uint32_t role;
};

enum obj_kind { OBJ_DEGRADED = 1, OBJ_MISPLACED, OBJ_INCOMPLETE };

/* Non-clean state of an object from the last peering (NULL = clean). */
struct obj_st {
	uint64_t tver;		/* target version (a deletion when del) */
	uint64_t miss;		/* positions lacking their chunk at tver */
	enum obj_kind kind;
	bool del;		/* target: a deletion this primary made */
	uint32_t nloc;
	struct obj_loc loc[];	/* every copy found */
};

struct obj {
	uint64_t inode, stripe;		/* stripe start (role bits clear) */
	uint64_t version;		/* current version (deletion: its version) */
	struct pgrun *pg;
	struct obj_st *st;
	struct osd_op *wq_head, *wq_tail;	/* ops waiting for this object */
	struct obj *next;		/* hash chain */
	struct pgrun *busy_pg;		/* busy with an op of this PG (busy_objs) */
	bool busy, deleted;
};

/* Object table: all objects of the PGs this OSD is primary of. */
struct obj_table {
	struct obj **b;
	size_t nb, n;
};

enum pg_st { PG_OFF, PG_STARTING, PG_PEERING, PG_INCOMPLETE, PG_PEERED, PG_ACTIVE };

/* Version lists (native order) for SEC_ROLLBACK / SEC_STABILIZE. */
struct ver_list {
	struct bs_obj_ver *v;
	uint32_t n, cap;
};

struct pg_peer {
	uint64_t osd;
	struct ver_list rb, stab;	/* EC peering fix-ups (osd_ec_peer.c) */
	bool up;			/* in osd/state when peering started */
	bool ok;			/* listed: part of this peering */
	bool failed;			/* its SEC_SYNC failed */
	struct bs_obj_ver *list;	/* its SEC_LIST result (native order) */
	uint32_t nlist, nstable;
};

struct pgrun {
	struct osd *osd;
	uint64_t pool_id;
	uint32_t num;
	enum pg_st st;
	bool want, seen, locked, etcd_inflight, etcd_again;
	bool pub_delete;		/* the pg/state txn in flight deletes */
	/* configuration */
	enum osd_pool_scheme scheme;
	uint32_t size, minsize, data_chunks, pg_count;
	struct ec *ec;			/* EC pools: the code (shared, osd_pgs.ecs) */
	uint64_t pg_stripe_size;
	uint64_t set[MAX_SET];		/* config/pgs osd_set (role order) */
	uint32_t self_pos;		/* this OSD's position in set */
	/* peering: read pg/history, list every peer, write pg/history */
	bool peering, repeer, peer_err;
	enum { PH_HIST, PH_LIST, PH_FIX, PH_WRITE } phase;
	uint64_t fix_epoch;		/* highest epoch seen, kept over PH_FIX */
	uint32_t round;
	int pending;
	/* objects running an op of this PG (write, recovery, queued read):
	 * a peering lists only once they are done (draining), a release
	 * deletes pg/state only then (pg_obj_next) */
	uint32_t busy_objs;
	bool draining;
	struct ringloop_timer peer_timer;	/* retry after an etcd error */
	struct ringloop_timer probe_timer;	/* PING peers that failed */
	struct pg_peer peers[MAX_PEERS];	/* set + history + all_peers */
	uint32_t npeers;
	uint64_t up_mask;		/* peers[] up at the last peering */
	struct pg_hist hist;		/* pg/history as read (or written) */
	int64_t hist_rev;		/* etcd revision hist is known at */
	struct pg_hist hist_new;	/* being written */
	bool hist_writing;		/* a pg/history write is in flight */
	bool bump_wanted;		/* the epoch counter reached bit 15 */
	uint32_t hist_round;		/* round of the write in flight */
	struct ringloop_timer retry;
	/* result */
	uint64_t cur[MAX_SET];		/* set positions that are live (0 = not) */
	uint32_t ncur;
	uint64_t epoch;			/* version epoch of writes (persisted) */
	bool degraded, left_on_dead;
	bool unclean;			/* EC fix-ups of unstable versions running */
	bool fix_pub;			/* PH_FIX waits for has_unclean in pg/state */
	uint64_t nobjs, n_degraded, n_misplaced, n_incomplete;
	/* recovery: non-clean objects (each once: degraded ones, then
	 * misplaced ones; an object moves to mis[] when only extra copies
	 * are left) */
	struct obj **deg, **mis;
	uint32_t ndeg, deg_cap, deg_pos, nmis, mis_cap, mis_pos;
	uint32_t rec_busy;
	struct ringloop_timer rec_timer;
	char key[64], hkey[64];
	struct pgrun *next;
};

/* A pool's PGs by number, for routing primary ops. */
struct pool_pgs {
	uint64_t pool_id;
	uint32_t pg_count;
	uint64_t pg_stripe_size;
	struct pgrun **by_num;		/* [1..pg_count] */
};

struct peer_slot {
	uint64_t num;
	struct osd_conn *c;
};

/* An EC write acknowledged unstable in lazy mode, stabilized after the
 * next SYNC (spec §8.3) unless its PG re-peered meanwhile. */
struct pg_unstable {
	struct pgrun *pg;
	uint32_t round;
	uint64_t inode, stripe, version;
};

struct pg_unstable_list {
	struct pg_unstable *v;
	size_t n, cap;
};

/* Primary SYNCs, serialized per OSD (osd_sync.c): waiters that come while
 * one runs are served by the next one, which starts when it ends. */
struct pg_syncer {
	struct osd_op *next_head, *next_tail;	/* waiting for the next sync */
	struct osd_op *run;			/* served by the one running */
	bool running;
	int pending;
	int64_t result;
	struct bs_op bs;
	struct osd *osd;
	/* lazy mode: writes are numbered when acknowledged; a sync that
	 * started at write_seq covers every write up to it */
	uint64_t write_seq, run_seq, synced_seq;
	uint64_t since_sync;		/* writes since the last sync started */
	struct pg_unstable_list run_unst;	/* stabilized by the running one */
	uint64_t autosync_writes;	/* config, cached off the write path */
	struct osd_op *auto_op;		/* autosync waiter (NULL: none queued) */
	struct ringloop_timer timer;	/* autosync_interval */
};

/* One code per (scheme, k, m): matrices and decode caches shared by PGs. */
struct pg_ec_code {
	int scheme;
	uint32_t k, m;
	struct ec *ec;
};

struct osd_pgs {
	struct obj_table objs;
	struct pg_ec_code *ecs;
	size_t necs;
	struct pg_unstable_list unst;		/* waiting for the next sync */
	/* test-only fault hook (VSTOR_TEST_EC_FAULT, osd_ec.c): die after the
	 * data writes of the fault_at-th EC write, before stabilizing */
	int ec_fault;
	uint64_t ec_fault_at, ec_writes;
	struct pgrun *pgs;
	struct idmap by_id;		/* pool << 32 | num -> pgrun (osd_pg.c) */
	struct pool_pgs *pools;
	size_t npools;
	struct peer_slot *peers;
	size_t npeers;
	struct ringloop_defer changed;
	struct ringloop_defer rec_kick;		/* osd_recovery.c */
	uint32_t gen;
	unsigned rec_inflight;
	struct pg_syncer sync;
	bool stopping;
	struct osd *pgs_owner;
};

static inline bool pg_replicated(const struct pgrun *pg)
{
	return pg->scheme == OSD_SCHEME_REPLICATED;
}

/* The chunk role stored at set position pos. */
static inline uint32_t pg_role(const struct pgrun *pg, uint32_t pos)
{
	return pg_replicated(pg) ? 0 : pos;
}

/* ---- osd_pg.c ---- */
struct obj *pg_obj_get(struct osd_pgs *P, uint64_t inode, uint64_t stripe, bool create);
/* The PG an op on (inode, stripe start) belongs to, NULL if not ours. */
struct pgrun *pg_route(struct osd_pgs *P, uint64_t inode, uint64_t stripe);
void pg_publish(struct pgrun *pg);
void pg_stats_publish(struct pgrun *pg);
/* Up-state of pg's peers (bit i: peers[i] in osd/state). */
uint64_t pg_peers_up(struct pgrun *pg);
void pg_obj_st_clear(struct obj *o);

/* ---- osd_subop.c ---- */
struct osd_conn *pg_peer_conn(struct osd *osd, uint64_t num);
int64_t pg_sub_retval(struct osd_op *sub);
/* SEC_WRITE_STABLE of the chunk (o, role) at version: payload iov =
 * [bitmap (if bitmap)] + data; off/len inside the chunk. */
void pg_sub_write(struct osd_op *s, const struct obj *o, uint32_t role, uint64_t version,
		  uint32_t off, uint32_t len, void *bitmap, uint32_t bitmap_len, void *data);
void pg_sub_delete(struct osd_op *s, const struct obj *o, uint32_t role, uint64_t version);

/* ---- osd_peering.c ---- */
void pg_peer(struct pgrun *pg);
void pg_repeer(struct pgrun *pg);
void pg_peer_timer_cb(struct ringloop_timer *t);
/* One outstanding step of the peering finished. */
void pg_peer_put(struct pgrun *pg);
/* degraded and left_on_dead from the peers listed (lists merged). */
void pg_peer_flags(struct pgrun *pg);
/* Continues a peering after the list merge (and PH_FIX). */
void pg_peer_activate(struct pgrun *pg);
void pg_probe_timer_cb(struct ringloop_timer *t);
/* The version a new write of o uses (spec §8.3); 0 when the counter is
 * exhausted until the epoch bump is persisted. */
uint64_t pg_next_version(struct pgrun *pg, struct obj *o);
/* pg became clean (no degraded/misplaced objects, not degraded): clear
 * pg/history (all_peers = osd_set). */
void pg_clean(struct pgrun *pg);
void pg_hist_event(struct pgrun *pg, const char *value, size_t len, int64_t mod_rev);

/* ---- osd_primary.c ---- */
void pg_reply_rw(struct osd_op *op, int64_t retval, uint64_t version);
void pg_reply_err(struct osd_op *op, int64_t err);
/* o (not busy) runs an op of pg from now on, until pg_obj_next finds its
 * queue empty. */
void pg_obj_busy(struct obj *o, struct pgrun *pg);
/* The op running on o is done: starts the next one queued, or o is idle. */
void pg_obj_next(struct osd *osd, struct obj *o);
void pg_rw_start(struct osd *osd, struct osd_op *op);
void pg_read_submit(struct osd *osd, struct osd_op *op);

/* ---- osd_sync.c ---- */
/* Makes every write acknowledged so far durable on this OSD and on every
 * peer written since the last sync, then calls cb(op, 0 or -errno). With
 * immediate_commit=all cb runs at once. */
void pg_sync(struct osd *osd, struct osd_op *op, void (*cb)(struct osd_op *op, int64_t result));
/* Lazy mode bookkeeping of a write this primary made durable only at the
 * next sync: numbered, counted for autosync_writes, and remembered on the
 * client connection c (NULL: an internal write) for pg. */
void pg_sync_written(struct osd *osd, struct osd_conn *c, struct pgrun *pg);
/* pg re-peers: drop the client connections with writes in pg that no
 * sync covered, so the clients replay them (spec §7). */
void pg_sync_drop_dirty(struct pgrun *pg);
void pg_sync_init(struct osd *osd);
/* The configuration changed: re-read what the write path uses. */
void pg_sync_config(struct osd *osd);
void pg_sync_stop(struct osd *osd);

/* ---- osd_ec.c ---- */
/* EC pools: primary WRITE (version op->newver assigned, object queued)
 * and READ (as pg_read_submit). */
void pg_ec_write(struct osd *osd, struct osd_op *op);
void pg_ec_read(struct osd *osd, struct osd_op *op);

/* ---- osd_ec_util.c ---- */
/* The shared code of (scheme, k, m); NULL on bad parameters or no memory. */
struct ec *pg_ec_code(struct osd_pgs *P, int scheme, uint32_t k, uint32_t m);
void pg_ec_codes_free(struct osd_pgs *P);
/* A SEC_STABILIZE / SEC_ROLLBACK sub-op to OSD num for v[0..n) (copied);
 * NULL when there is no connection or memory. Send it with osd_send_sub. */
struct osd_op *pg_sub_vers(struct osd *osd, uint64_t num, uint64_t opcode,
			   const struct bs_obj_ver *v, uint32_t n, void (*cb)(struct osd_op *));
int pg_ver_push(struct ver_list *l, uint64_t inode, uint64_t stripe, uint64_t version);
/* Lazy mode: remembers an acknowledged unstable EC write (0 or -ENOMEM). */
int pg_unstable_add(struct osd *osd, struct pgrun *pg, const struct obj *o, uint64_t version);
int pg_unstable_push(struct pg_unstable_list *l, const struct pg_unstable *u);
/* Stabilizes every write of l on the live positions of its PG, then
 * done(osd, 0 or -errno); l is emptied. */
void pg_unstable_stabilize(struct osd *osd, struct pg_unstable_list *l,
			   void (*done)(struct osd *osd, int64_t result));
/* Recovery of an EC object: reads k chunks of its target version and
 * decodes every role, then pg_rec_read_done(). */
void pg_ec_rec_read(struct osd_op *op);
/* The chunk buffers of role after pg_ec_rec_read (whole chunk). */
void pg_ec_rec_chunk(struct osd_op *op, uint32_t role, void **buf, void **bmp);

/* ---- osd_ec_peer.c ---- */
/* Adds the rollback / stabilize fix-ups of one EC object (entries sorted
 * newest first) to the peers' lists. */
/* One listed chunk version (peering). */
struct pent {
	uint64_t inode, stripe, version;	/* stripe: start, role bits clear */
	uint32_t peer;
	uint16_t role;
	bool stable;
};
int pg_ec_fix_collect(struct pgrun *pg, const struct pent *e, size_t n, uint64_t tver);
/* Starts PH_FIX with the collected fix-ups: publishes "peered" +
 * has_unclean first; false when there are none. */
bool pg_ec_fix_start(struct pgrun *pg);
/* pg/state with has_unclean is in etcd (or the PG lost it): sends the
 * fix-ups. */
void pg_ec_fix_published(struct pgrun *pg);
void pg_ec_fix_free(struct pgrun *pg);

/* ---- osd_recovery.c ---- */
void pg_rec_read_done(struct osd_op *op, bool ok);
void pg_rec_kick(struct osd_pgs *P);
void pg_rec_start(struct osd_op *op);
void pg_rec_done(struct osd_op *op, bool ok);
void pg_rec_timer_cb(struct ringloop_timer *t);
/* Drops the recovery lists of pg (re-peering). */
void pg_rec_reset(struct pgrun *pg);
/* o is clean now (deleted with all its copies): drop its state. */
void pg_rec_forget(struct pgrun *pg, struct obj *o);
/* Adds o (with st) to the recovery lists and counts it by kind. 0 or
 * -ENOMEM. */
int pg_rec_add(struct pgrun *pg, struct obj *o);

#endif

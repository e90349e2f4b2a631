/* libvstor internals shared by client.c (ops, routing, connections),
 * client_etcd.c (cluster state from etcd), client_lazy.c (lazy mode:
 * retained writes, replay, SYNC) and client_list.c (object listing). */
#ifndef VSTOR_CLIENT_INT_H
#define VSTOR_CLIENT_INT_H

#include "etcd.h"
#include "etcd_ringloop.h"
#include "idmap.h"
#include "json.h"
#include "ringloop.h"
#include "vstor_client.h"
#include "vstor_proto.h"

#define VC_INLINE_PARTS 4
#define VC_POOLED_PARTS 64	/* part arrays up to this size stay with pooled ops */

struct vc_op;
struct vc_conn;

enum vc_part_where { VC_P_NONE, VC_P_WAIT, VC_P_CONN, VC_P_DONE };
/* What a request on a connection is: part of a user op (op != NULL), the
 * connection's PING, the replay of a retained write, a lazy-mode SYNC. */
enum vc_part_kind { VC_K_OP, VC_K_PING, VC_K_REPLAY, VC_K_SYNC };

struct vc_dirty;

struct vc_part {
	enum vc_part_kind kind;
	struct vc_op *op;
	struct vc_part *prev, *next;	/* client wait list or conn inflight list */
	struct vc_part *snext;		/* conn send queue */
	union vs_packet pkt;
	uint64_t offset;
	uint32_t len;
	uint8_t *buf;
	uint64_t osd;			/* raw requests: the target OSD */
	uint64_t id;
	enum vc_part_where where;
	struct vc_conn *conn;
	struct vc_dirty *dirty;		/* lazy write/delete: its retention slot */
};

struct vc_op {
	struct vstor_client *c;
	uint64_t opcode, inode, offset, len, version;
	uint8_t *buf;
	/* READ of one layer (client_layer.c): the reply bitmaps go to lbits,
	 * one bit per granule from offset lbits_base, LSB first; NULL: dropped */
	uint8_t *lbits;
	uint64_t lbits_base;
	uint64_t cas;			/* WRITE: compare-and-set version, 0: none */
	unsigned flags;			/* VSTOR_RW_* */
	struct vc_raw *raw;		/* raw request (vc_raw_submit), else NULL */
	struct vc_op *pnext;		/* client's list of ops not split yet */
	int64_t err;
	vstor_cb *cb;
	void *arg;
	struct vc_part *parts;
	unsigned nparts, ndone;
	uint64_t deadline_ns;		/* 0: none */
	uint64_t sync_gen;		/* SYNC: covers retained writes up to this gen */
	struct ringloop_defer defer;	/* completion outside the submit call */
	struct vc_op *next_free;
	/* from here on: not cleared on reuse */
	struct vc_part inl[VC_INLINE_PARTS];
	struct vc_part *xparts;		/* ops of more parts; kept while pooled */
	unsigned xcap;
};

enum vc_conn_state { VC_C_CONNECTING, VC_C_HELLO, VC_C_READY, VC_C_DEAD };
enum vc_recv_state { VC_R_HDR, VC_R_SKIP, VC_R_DATA, VC_R_JSON };

struct vc_conn {
	struct vstor_client *c;
	uint64_t osd;
	int fd;
	enum vc_conn_state state;
	struct ringloop_op pin, pout;
	bool pin_busy, pout_busy;
	struct ringloop_timer ctimer;	/* connect + handshake timeout */
	struct ringloop_timer itimer;	/* idle -> PING, PING timeout */
	uint64_t last_rx_ns, ping_sent_ns;
	bool ping_inflight;
	struct vc_part ping;		/* kind VC_K_PING */
	/* lazy mode: one SYNC in flight at most; it covers the writes this
	 * OSD acknowledged up to ack sequence sync_seq */
	struct vc_part syncp;		/* kind VC_K_SYNC */
	bool sync_busy;
	uint64_t sync_seq;
	/* send side */
	union vs_packet hello;
	uint64_t hello_id;
	size_t hello_off;		/* bytes of hello sent; 128 = done */
	struct vc_part *sq_head, *sq_tail;
	size_t sq_off;			/* bytes of sq_head sent */
	struct vc_part *inflight;	/* dlist: queued or sent, awaiting replies */
	/* receive side */
	enum vc_recv_state rstate;
	union vs_packet rhdr;
	size_t rgot, rneed;
	struct vc_part *rpart;		/* READ being received */
	uint8_t *rxbuf;			/* stream buffer: rx_pos..rx_end unparsed */
	size_t rx_pos, rx_end;
	uint8_t *rbuf;			/* bitmap / JSON scratch */
	size_t rbuf_cap, rskip_then_data;
	struct vc_conn *next_dead;
	struct vc_conn *flush_next;	/* client's flush queue */
	bool flush_queued;
};

struct vc_osd {
	uint64_t num;
	int port;
	char **addrs;
	size_t naddrs;
};

struct vc_pgstate {
	uint32_t pool, pg;
	uint64_t primary;		/* 0: not usable */
};

struct vc_pg {
	bool exists, paused;
	uint64_t target;		/* primary from pg/state, 0 = none */
	uint32_t replaying;		/* retained writes to replay first (lazy) */
};

struct vc_pool {
	uint32_t id;
	uint64_t stripe, pg_stripe_size;
	uint32_t pg_count;		/* 0: unroutable */
	struct vc_pg *pgs;		/* [pg_count], index pg-1 */
};

struct vc_inode {
	uint64_t inode;
	char *name;
	uint64_t size;
	bool readonly;
	uint64_t parent;		/* full inode id of parent_id/parent_pool, 0: none */
	int64_t mod_revision;
};

/* Lazy mode (immediate_commit != all, client_lazy.c): every write or
 * delete acknowledged since its covering SYNC is retained in a vc_dirty
 * slot, with a copy of its data in the arena. */
struct vc_dirty {
	struct vc_part part;		/* its replay request (kind VC_K_REPLAY) */
	struct vc_dirty *prev, *next;	/* retained list (original ack order) / free list */
	uint64_t opcode, inode, offset, obj;	/* obj: the stripe (object) start */
	uint32_t len;
	uint32_t page, npages;		/* arena pages; npages 0: none */
	uint8_t *heap;			/* a write larger than the whole arena */
	uint64_t gen;			/* original ack order, kept across replays */
	uint64_t ack_seq;		/* order of its latest ack (replays ack anew) */
	uint64_t osd;			/* the OSD whose SYNC makes it durable */
	uint64_t not_before_ns;		/* replay retry after an error */
	bool retained, replay, sent, failed;
};

struct vc_busy {
	uint64_t inode, obj, stamp;
};

struct vc_lazy {
	uint64_t max_bytes, max_ops;	/* limits (client_max_dirty_*) */
	uint8_t *arena;			/* max_bytes, in 4 KiB pages */
	uint32_t npages, hint;
	uint64_t *pagemap;		/* bit set = page in use */
	struct vc_dirty *slots, *free;	/* max_ops slots */
	struct vc_dirty *head, *tail;	/* retained, in original ack order */
	uint64_t gen, ack_seq;
	uint64_t bytes, ops;		/* reserved + retained */
	uint64_t rbytes, rops;		/* retained */
	uint64_t nreplay;		/* retained and marked for replay */
	struct vc_op *sync_head, *sync_tail;	/* waiting syncs (pnext), by sync_gen */
	bool autosync;
	uint64_t autosync_gen;
	int64_t replay_err;		/* reported to the waiting syncs */
	struct ringloop_defer kick;	/* replay pump + sync check */
	struct vc_busy *busy;		/* pump: objects with an earlier replay pending */
	size_t busy_mask;
	uint64_t stamp;
};

struct vstor_client {
	struct ringloop *rl;
	bool own_rl, destroying;
	struct vstor_client_opts opts;
	struct etcd_config ecfg;
	struct etcd_ringloop *glue;
	struct etcd_client *ec;
	/* etcd state */
	bool loaded, loading;
	int64_t revision;
	struct etcd_watch *w_config, *w_pgstate, *w_osdstate;
	struct ringloop_timer reload_timer;
	json_t pools_json, pgs_json;
	struct vc_pgstate *pgst;
	size_t npgst;
	struct vc_osd *osds;
	size_t nosds;
	struct vc_inode *inodes;	/* sorted by inode */
	uint64_t inode_gen;		/* +1 at every config/inode change */
	size_t ninodes, inodes_cap;
	bool loading_all;		/* applying the full load */
	struct vc_pool *pools;
	size_t npools;
	uint64_t block_size, bitmap_gran;
	bool imm_all;
	/* ops */
	struct vc_op *free_ops;
	struct vc_part *wait_head;	/* dlist of parts waiting for a retry */
	struct vc_op *pending;		/* ops waiting for their pool to be known */
	struct ringloop_timer retry_timer;
	struct ringloop_defer kick;	/* route the waiting parts now */
	struct vc_conn **conns;		/* by OSD number */
	size_t nconns;
	struct vc_conn *dead;
	struct ringloop_defer reap;
	struct vc_conn *flushq;		/* conns with sends queued this iteration */
	struct ringloop_defer flush;	/* prewait: flush them */
	uint64_t next_id;
	struct idmap ids;		/* request id -> part in flight (any conn) */
	uint64_t inflight_ops;
	struct vc_lazy lazy;
	struct vstor_client_stats stats;
	/* routing-change notification (client_map.c) */
	vstor_map_cb *map_cb;
	void *map_cb_arg;
	int64_t map_revision;
};

/* client_etcd.c */
int vc_etcd_start(struct vstor_client *c, char *err, size_t errlen);
void vc_etcd_stop(struct vstor_client *c);
const struct vc_pool *vc_pool_find(const struct vstor_client *c, uint32_t id);
const struct vc_osd *vc_osd_find(const struct vstor_client *c, uint64_t num);
const struct vc_inode *vc_inode_find(const struct vstor_client *c, uint64_t inode);

/* The PG an offset of inode maps to (NULL: pool or PG unknown); *obj gets
 * the stripe start (may be NULL). */
struct vc_pg *vc_pg_of(struct vstor_client *c, uint64_t inode, uint64_t offset, uint64_t *obj);

/* client_map.c: routing may have changed, as of etcd revision rev. */
void vc_map_changed(struct vstor_client *c, int64_t rev);

/* client.c: one READ or WRITE as an op of its own, without the layering
 * of client_layer.c (the checks of vstor_read/vstor_write done); lbits
 * as in struct vc_op. */
int vc_submit_rw(struct vstor_client *c, uint64_t opcode, uint64_t inode, uint64_t offset,
	uint64_t len, uint8_t *buf, uint8_t *lbits, uint64_t lbits_base, uint64_t cas,
	unsigned flags, vstor_cb *cb, void *arg);

/* client_layer.c: a READ of an image that has (or may have: the client is
 * not loaded yet) parent layers, merged per granule. */
int vc_layer_read(struct vstor_client *c, uint64_t inode, uint64_t offset, uint64_t len,
	uint8_t *buf, uint8_t *bits, vstor_cb *cb, void *arg);
/* Copies a READ reply's stripe bitmap (bl bytes) into p->op->lbits for the
 * granules of p. */
void vc_layer_bits(struct vstor_client *c, struct vc_part *p, const uint8_t *bm, size_t bl);

/* client.c: the cluster state changed or loaded; retry waiting parts now. */
void vc_kick(struct vstor_client *c);
void vc_retry_arm(struct vstor_client *c);
/* The connection to osd (connecting if needed), NULL if not possible now. */
struct vc_conn *vc_conn_get(struct vstor_client *c, uint64_t osd);
/* Queues p (id and pkt set) on cn; false when that is not possible. */
bool vc_conn_send(struct vc_conn *cn, struct vc_part *p);
void vc_conn_fail(struct vc_conn *cn, const char *why);
/* Completes an op that has no parts in flight with err, on the next
 * iteration. */
void vc_op_fail(struct vc_op *op, int64_t err);

/* client_lazy.c (see there) */
void vc_lazy_init(struct vstor_client *c);
void vc_lazy_destroy(struct vstor_client *c);
int vc_lazy_reserve(struct vstor_client *c, struct vc_part *p);
void vc_lazy_acked(struct vstor_client *c, struct vc_part *p, uint64_t osd);
void vc_lazy_release(struct vstor_client *c, struct vc_part *p);
void vc_lazy_part_lost(struct vstor_client *c, struct vc_part *p);
void vc_lazy_conn_lost(struct vstor_client *c, struct vc_conn *cn);
bool vc_lazy_reply(struct vc_conn *cn, struct vc_part *p, int64_t rv);
void vc_lazy_routing(struct vstor_client *c);
void vc_lazy_sync(struct vstor_client *c, struct vc_op *op);
bool vc_lazy_timeouts(struct vstor_client *c, uint64_t now);
void vc_lazy_stats(const struct vstor_client *c, struct vstor_client_stats *st);

/* A raw header-only request to one OSD (SEC_LIST, SEC_READ, SEC_SYNC,
 * SEC_DELETE or PING; used by client_list.c), sent on the client's
 * connection to that OSD with the usual retries on -EPIPE or a lost
 * connection. The client sets req's id. On completion reply holds the
 * reply header and payload (malloc'ed, or NULL) its payload_len bytes of
 * payload; the caller frees payload, also after an error. The callback gets
 * the reply's retval, or -EHOSTDOWN once the OSD is not up in osd/state,
 * -ETIMEDOUT (op timeout) or -ECANCELED. Returns 0, or -EHOSTDOWN, -EINVAL,
 * -ENOMEM with no callback. */
struct vc_raw {
	union vs_packet req, reply;
	uint8_t *payload;
	size_t payload_len;
};
int vc_raw_submit(struct vstor_client *c, uint64_t osd, struct vc_raw *raw, vstor_cb *cb,
	void *arg);

#endif

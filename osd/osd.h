/* vstor-osd: the OSD daemon's shared state, connections and ops.
 *
 * One thread, one ring (common/ringloop.h). The messenger (msgr.c) accepts
 * TCP connections, frames requests (msgr_rx.c) into struct osd_op taken from
 * a free list, and sends replies through a per-connection outbox with one
 * sendmsg in flight. osd_ops.c executes ops: a table maps every opcode to
 * a handler, so the primary ops of the next step (PGs) replace one entry. */
#ifndef VSTOR_OSD_H
#define VSTOR_OSD_H

#include "blockstore.h"
#include "idmap.h"
#include "msgr_rx.h"
#include "ringloop.h"
#include "vstor_proto.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define OSD_LEASE_TIMEOUT	15	/* seconds, default lease TTL (SHOW_CONFIG) */
#define OSD_OP_IOV		4	/* reply header + up to 3 payload parts */
#define OSD_SEND_IOV		256	/* iovecs per sendmsg */
#define OSD_CONN_DIRTY		8	/* PGs with unsynced writes tracked per client */
/* A client connection stops being read while it owns this many ops
 * (executing, or replies it does not read) or buffers for this many
 * bytes, and is read again below half of both: one client cannot take all
 * of the OSD's memory (TCP flow control pushes back on it). */
#define OSD_CONN_MAX_OPS	1024
#define OSD_CONN_MAX_MEM	(256u << 20)

struct osd;
struct osd_conn;
struct osd_etcd;
struct cfg;

struct osd_op {
	struct osd_conn *conn;
	union vs_packet req;
	union vs_packet reply;
	uint64_t opcode;
	int64_t check;			/* vs_check_request() result */
	int err;			/* reply this -errno, do not execute */
	uint64_t start_ns;		/* when executed (op stats); 0 = not */
	struct bs_op bs;
	/* Payload in and reply payload out; 4 KiB-aligned pool buffers. */
	void *buf;
	size_t buf_size;
	void *bmp;
	size_t bmp_size;
	void *bitmap;			/* bmp or bmp_inline */
	uint8_t bmp_inline[64];
	/* Reply iovecs: iov[0] is the reply header. */
	struct iovec iov[OSD_OP_IOV];
	int niov;
	size_t reply_len;
	struct osd_op *next;		/* free list / outbox */
	/* Sub-ops (this OSD as a client of a peer, osd_send_sub): finished
	 * (sub_cb, then freed) once both sent and answered or failed. */
	bool is_sub, sub_sent, sub_done;
	void (*sub_cb)(struct osd_op *sub);
	struct osd_op *sub_prev, *sub_next;	/* conn's waiting sub-ops, oldest first */
	uint64_t sub_id;			/* its key in osd->subs, 0 = none */
	size_t mem;			/* buffer bytes charged to conn (caps) */
	void *rbuf;			/* reply payload (malloc), freed after sub_cb */
	/* primary ops (osd_primary.c, osd_recovery.c) */
	struct osd *osd;
	struct osd_op *parent;
	int pending;
	int64_t result;
	uint64_t newver, peer;
	void *obj, *pg;
	uint32_t round;
	struct osd_op *wnext;		/* per-object wait queue */
	bool recovery;			/* internal recovery op (osd_recovery.c) */
	void (*sync_cb)(struct osd_op *op, int64_t result);	/* osd_sync.c */
	int phase;			/* step of an internal op (recovery) */
	void *ecbuf;			/* EC scratch (osd_ec.c), from the buffer pool */
	size_t ecbuf_size;
};

struct osd_conn {
	struct osd *osd;
	int fd;
	uint64_t serial;
	struct msgr_rx rx;
	uint8_t *rbuf;
	struct osd_op *rx_op;		/* op whose payload is arriving */
	struct ringloop_op recv_rop, send_rop;
	bool recv_inflight, send_inflight, closing;
	unsigned nops;			/* ops owned (executing or queued) */
	/* Outbox: replies in order; the head may be partly sent. */
	struct osd_op *out_head, *out_tail;
	size_t out_head_off;
	struct iovec send_iov[OSD_SEND_IOV];
	struct msghdr send_msg;
	struct ringloop_defer flush_d;
	struct osd_conn *prev, *next;	/* all connections */
	/* Outgoing connections to peer OSDs (osd_connect). */
	uint64_t peer_osd;		/* 0: accepted client connection */
	bool connect_inflight, dirty;
	struct sockaddr_storage peer_sa;
	struct ringloop_op connect_rop;
	struct osd_op *subs, *subs_tail;	/* sub-ops waiting for a reply */
	struct osd_op *rx_sub;		/* sub-op whose reply payload arrives */
	/* liveness of peer connections (spec §4.2): PING after
	 * osd_idle_timeout without a reply, drop after osd_ping_timeout
	 * without one, or when a sub-op waits longer than peer_op_timeout */
	uint64_t last_rx_ns;
	struct ringloop_timer live_timer;
	struct osd_op *ping;		/* in flight */
	/* caps of client connections (OSD_CONN_MAX_*) */
	size_t mem;
	bool rx_paused;
	/* Lazy mode (osd_sync.c): PGs this client has writes in that no SYNC
	 * has covered yet, with the sequence number of its last one there;
	 * past OSD_CONN_DIRTY PGs, dirty_all covers every PG. */
	struct { void *pg; uint64_t seq; } dirty_pgs[OSD_CONN_DIRTY];
	uint32_t ndirty;
	uint64_t dirty_all;
};

struct osd_bufpool {
	void *free[16];			/* per size class 4 KiB << i */
};

struct osd_stats {
	uint64_t ops, accepted, closed, bad_frames;
};

/* Per-opcode counters, published in osd/stats/<n> (op_stats). */
struct osd_op_stat {
	uint64_t count, usec, bytes;
};

struct osd {
	struct ringloop *rl;
	struct bs *bs;
	uint64_t osd_num;
	uint32_t block_size, bitmap_granularity, bitmap_size;
	bool readonly;
	/* runs primary ops: run_primary and an etcd to learn PGs from */
	bool primary_enabled;
	int immediate_commit;		/* BS_IC_* */
	/* SHOW_CONFIG reply payload: JSON + NUL. */
	char *config_json;
	size_t config_json_len;
	/* listener */
	int listen_fd;
	struct ringloop_op accept_rop;
	bool accept_inflight;
	struct ringloop_timer accept_retry;
	struct osd_conn *conns;
	unsigned nconns;
	uint64_t conn_serial;
	bool stopping;
	/* pools */
	struct osd_op *op_free;
	void **op_slabs;
	size_t nslabs;
	unsigned ops_live;
	struct osd_bufpool bufs;
	struct osd_stats stats;
	/* sub-ops in flight by request id (ids from sub_next_id) */
	struct idmap subs;
	uint64_t sub_next_id;
	struct osd_op_stat op_stats[VS_OP_MAX + 1];
	/* per-inode primary op counters (osd_inostats.c) and the last used */
	struct idmap ino_stats;
	uint64_t ino_last;
	void *ino_last_st;
	/* etcd (osd_etcd.c); NULL when no etcd_address is configured */
	struct cfg *cfg;
	struct osd_etcd *etcd;
	struct osd_etcd_batch *ebatch;	/* osd_etcd_batch.c, made on first use */
	unsigned lease_ttl;		/* seconds */
	const char *bind_address;
	int port;
	int exit_code;			/* > 0: leave the loop and exit with it */
	struct osd_pgs *pgs;		/* osd_pg.h */
	/* recovery_stats (osd_recovery.c) */
	uint64_t rec_degraded_count, rec_degraded_bytes;
	uint64_t rec_misplaced_count, rec_misplaced_bytes;
};

/* ---- msgr.c ---- */
/* Binds and listens; *port gets the bound port. 0 or -errno (message
 * logged). */
int osd_listen(struct osd *osd, const char *addr, int port, int *bound_port);
/* Starts accepting (call once the ring loop runs). */
void osd_accept_start(struct osd *osd);
/* Stops accepting and drops every connection (waits for their ops). */
void osd_msgr_shutdown(struct osd *osd);
/* Queues op's reply (op->iov[0..niov)) on its connection and releases the
 * op once sent; if the connection is gone the op is just released. */
void osd_send_reply(struct osd_op *op);
/* Drops a connection (idempotent). */
void osd_conn_close(struct osd_conn *c, const char *why);

/* Opens an outgoing connection to OSD num at addr:port (IPv4); requests
 * may be queued at once. NULL on failure. */
struct osd_conn *osd_connect(struct osd *osd, uint64_t num, const char *addr, int port);
/* A sub-op from the pool: opcode, a fresh request id, iov[0] = its
 * header; sub_cb cb. NULL when out of memory. */
struct osd_op *osd_sub_new(struct osd *osd, uint64_t opcode, void (*cb)(struct osd_op *));
/* Sends sub-op sub (req, iov[0..niov) set; iov[0] = &sub->req) on c. Its
 * sub_cb runs exactly once, with sub->reply (retval -EPIPE if the
 * connection failed) and sub->rbuf (reply payload). */
void osd_send_sub(struct osd_conn *c, struct osd_op *sub);

/* ---- PGs: osd_pg.c, osd_peering.c, osd_primary.c, osd_recovery.c ---- */
/* The PG configuration or the peer list changed (deferred recompute). */
void osd_pg_changed(struct osd *osd);
/* pg/history/<pool>/<pg> changed in etcd (value NULL: deleted). */
void osd_pg_history_changed(struct osd *osd, const char *key, const char *value, size_t len,
			    int64_t mod_rev);
/* A peer connection closed (before its waiting sub-ops fail). */
void osd_pg_conn_closed(struct osd *osd, struct osd_conn *c);
/* Primary READ / WRITE / SYNC / DELETE. */
void osd_primary_exec(struct osd *osd, struct osd_op *op);
/* Test-only (VSTOR_TEST_EC_FAULT=stabilize:N, osd_ec.c): a SEC_STABILIZE
 * arrived; exits at the N-th, before applying it. */
void osd_ec_fault_stabilize(struct osd *osd);
/* Stop taking PGs (shutdown; the lease revoke drops the pg/state keys). */
void osd_pg_stop(struct osd *osd);
void osd_pg_free(struct osd *osd);

/* ---- osd_ops.c ---- */
/* Builds the SHOW_CONFIG JSON. 0 or -ENOMEM. */
int osd_build_config_json(struct osd *osd);
/* Decides where a request's payload goes (see msgr_rx_ops.request). */
int osd_op_prepare(struct osd *osd, struct osd_op *op, uint64_t frame_len,
		   struct iovec dst[2]);
/* Runs a fully received request; its reply goes out via osd_send_reply. */
void osd_op_exec(struct osd *osd, struct osd_op *op);

/* Counts a finished op in osd->op_stats (called when its reply is queued). */
void osd_op_account(struct osd *osd, struct osd_op *op);
/* Stats name of an opcode (spec §3: "read", "primary_write", ...). */
const char *osd_op_stat_name(uint64_t opcode);

/* ---- osd_inostats.c ---- */
/* 0 or -ENOMEM. */
int osd_inostats_init(struct osd *osd);
void osd_inostats_free(struct osd *osd);
/* Counts a finished primary READ/WRITE/DELETE (rv < 0: not counted). */
void osd_inostats_account(struct osd *osd, const struct osd_op *op, uint64_t usec, int64_t rv);
struct strbuf;
/* The values of osd/inodestats/<n> and osd/space/<n>; 0 or -ENOMEM. */
int osd_inostats_json(struct osd *osd, struct strbuf *sb);
int osd_space_json(struct osd *osd, struct strbuf *sb);

/* ---- osd_etcd.c ---- */
/* Lease TTL for the configuration: etcd_report_interval +
 * ceil(max_etcd_attempts * 2 * etcd_quick_timeout / 1000) seconds. */
unsigned osd_lease_ttl(const struct cfg *cfg);
/* Starts the etcd life cycle when etcd_address is set (lease, osd/state,
 * config load and watches, periodic keepalive and stats). Returns 0 (also
 * when etcd is not configured) or -1 (message logged). Fatal conditions
 * later (key taken by another OSD, lease lost) set osd->exit_code. */
int osd_etcd_start(struct osd *osd);
/* Revokes the lease (osd/state disappears at once), waiting up to a few
 * seconds by running the ring loop, and frees the etcd state. */
void osd_etcd_stop(struct osd *osd);
struct etcd_client *osd_etcd_client(struct osd *osd);
int64_t osd_etcd_lease(struct osd *osd);
const struct osd_pgmap *osd_etcd_pgmap(struct osd *osd);
/* Address and port of OSD num from osd/state (false: not up). */
bool osd_etcd_peer(struct osd *osd, uint64_t num, const char **addr, int *port);

/* ---- osd_etcd_batch.c ---- */
struct etcd_compare;
struct etcd_txn_op;
struct etcd_result;
/* Queues one step on one key: op (a put, delete or range of a single key,
 * no prev_kv), guarded by cmp (on the same key, not VALUE) or not (NULL);
 * both are copied. It is sent in one etcd txn with other steps, and cb
 * gets the answer a txn of its own would have given (osd_etcd_batch.c):
 * status, revision, succeeded and, when its guard failed, responses[0] =
 * the key as read; a range's kvs. The result belongs to the caller of cb
 * (never move or clear it). 0, or ETCD_E_* when not queued (no cb). */
int osd_etcd_step(struct osd *osd, const struct etcd_compare *cmp, const struct etcd_txn_op *op,
		  void (*cb)(void *arg, struct etcd_result *res), void *arg);
/* Steps queued so far, txns sent, steps waiting now. */
void osd_etcd_batch_counts(struct osd *osd, uint64_t *steps, uint64_t *txns, uint64_t *queued);
/* Shutdown: queued steps complete with ETCD_E_CANCELED, no new ones are
 * taken; the txns in flight complete when the client is freed. */
void osd_etcd_batch_cancel(struct osd *osd);
/* While held, no new txn is sent (queued steps wait): a lease keepalive
 * that failed or is unanswered at the next report holds, an answered one
 * releases (osd_etcd.c). */
void osd_etcd_batch_hold(struct osd *osd, bool hold);
/* Cancels, then frees the batcher (after the etcd client is freed). */
void osd_etcd_batch_free(struct osd *osd);

/* ---- pool.c ---- */
struct osd_op *osd_op_alloc(struct osd *osd);
void osd_op_free(struct osd *osd, struct osd_op *op);
/* 4 KiB-aligned buffer of at least size bytes (size rounded up to 4 KiB);
 * *cap gets the usable size. NULL when out of memory. */
void *osd_buf_get(struct osd *osd, size_t size, size_t *cap);
void osd_buf_put(struct osd *osd, void *buf, size_t cap);
void osd_pools_destroy(struct osd *osd);

#endif

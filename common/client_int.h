/* libvstor internals shared by client.c (ops, routing, connections) and
 * client_etcd.c (cluster state from etcd). */
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

struct vc_part {
	struct vc_op *op;
	struct vc_part *prev, *next;	/* client wait list or conn inflight list */
	struct vc_part *snext;		/* conn send queue */
	union vs_packet pkt;
	uint64_t offset;
	uint32_t len;
	uint8_t *buf;
	uint64_t osd;			/* SYNC: the target OSD */
	uint64_t id;
	enum vc_part_where where;
	struct vc_conn *conn;
};

struct vc_op {
	struct vstor_client *c;
	uint64_t opcode, inode, offset, len, version;
	uint8_t *buf;
	struct vc_raw *raw;		/* raw request (vc_raw_submit), else NULL */
	struct vc_op *pnext;		/* client's list of ops not split yet */
	int64_t err;
	vstor_cb *cb;
	void *arg;
	struct vc_part *parts;
	unsigned nparts, ndone;
	uint64_t deadline_ns;		/* 0: none */
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
	struct vc_part ping;		/* op == NULL */
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
	uint8_t *rbuf;			/* bitmap / JSON scratch */
	size_t rbuf_cap, rskip_then_data;
	struct vc_conn *next_dead;
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
	int64_t mod_revision;
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
	uint64_t next_id;
	struct idmap ids;		/* request id -> part in flight (any conn) */
	uint64_t inflight_ops;
	struct vstor_client_stats stats;
};

/* client_etcd.c */
int vc_etcd_start(struct vstor_client *c, char *err, size_t errlen);
void vc_etcd_stop(struct vstor_client *c);
const struct vc_pool *vc_pool_find(const struct vstor_client *c, uint32_t id);
const struct vc_osd *vc_osd_find(const struct vstor_client *c, uint64_t num);
const struct vc_inode *vc_inode_find(const struct vstor_client *c, uint64_t inode);

/* client.c: the cluster state changed or loaded; retry waiting parts now. */
void vc_kick(struct vstor_client *c);

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

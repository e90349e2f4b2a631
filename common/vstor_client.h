/* libvstor: the vstor/Vitastor block client.
 *
 * Replicated pools (and, routing-wise, EC ones), with immediate_commit
 * "all" or lazy (anything else in config/global). The client follows the cluster in etcd (config/global, config/pools,
 * config/pgs, config/inode/, pg/state/, osd/state/: one load, then
 * watches), keeps one TCP connection per OSD (TCP_NODELAY, SHOW_CONFIG
 * handshake checking osd_num and protocol_version), pipelines requests
 * matched by id, and splits every user op at stripe boundaries into one
 * primary op per stripe, routed to pg/state/<pool>/<pg>.primary.
 *
 * Retries (spec 7): -EPIPE, a lost connection, a PG that is missing,
 * paused or not active, or an unknown pool keep the part waiting; every
 * up_wait_retry_interval it is routed again and resent. I/O never fails
 * because the cluster restarts; with op_timeout_ms set, parts still waiting
 * after that long fail with -ETIMEDOUT. Other OSD errors (-EINVAL, -EINTR,
 * -EIO, -ENOSPC, ...) complete the op with that error; the connection is
 * closed on any error but -EINTR/-EIO. Writes/deletes to an inode marked
 * readonly in etcd fail with -EINVAL.
 *
 * Lazy mode (spec 7; immediate_commit in config/global is not "all"): an
 * acknowledged write is durable only after a SYNC, so the client keeps a
 * copy of every write and delete acknowledged since its covering SYNC. If
 * the connection to the OSD that acknowledged it drops, or its PG moves to
 * another primary, the client sends it again (in the original order,
 * before anything newer goes to that PG) and syncs it there. The copies
 * are bounded by max_dirty_bytes / max_dirty_ops (client_max_dirty_bytes,
 * client_max_dirty_ops); an automatic SYNC starts at half of either, and
 * a write that finds no room waits for it. vstor_sync() makes everything
 * acknowledged before it durable; vstor_client_destroy() drops unsynced
 * copies (with a warning), so sync first.
 *
 * Caller-driven loops: vstor_client_fd() and vstor_client_timeout_ms().
 *
 * Snapshots and clones (spec 4.0.2, 9): an image whose config/inode has a
 * parent_id reads through its chain of parent layers, in any pool, merged
 * per bitmap granule on the client (client_layer.c); writes go to the
 * image itself (the top layer) only. NOT yet: RDMA. With
 * immediate_commit=all nothing is copied or retained.
 *
 * Threading: one thread; everything runs from the ringloop. Callbacks never
 * run from inside the submitting call. */
#ifndef VSTOR_CLIENT_H
#define VSTOR_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd.h"
#include "ringloop.h"

struct cfg;
struct vstor_client;

struct vstor_client_opts {
	const struct etcd_config *etcd;	/* required (copied) */
	uint64_t up_wait_retry_interval_ms;	/* 0: 500 */
	uint64_t op_timeout_ms;		/* 0: wait forever */
	uint64_t peer_connect_timeout_ms;	/* 0: 5000 */
	uint64_t osd_idle_timeout_ms;	/* 0: 5000; PING after this long without a reply */
	uint64_t osd_ping_timeout_ms;	/* 0: 5000; no PING reply -> reconnect */
	uint64_t max_dirty_bytes;	/* 0: 32 MiB; lazy mode, see vstor_sync() */
	uint64_t max_dirty_ops;		/* 0: 1024 */
	int log_level;			/* 0: errors/warnings only */
};

/* rl == NULL: the client creates and owns its ring loop (drive it with
 * vstor_client_run_once() or the *_sync() calls). Returns NULL with a
 * message in err. */
struct vstor_client *vstor_client_create(const struct vstor_client_opts *opts,
	struct ringloop *rl, char *err, size_t errlen);
/* The same from a loaded configuration (etcd_*, up_wait_retry_interval,
 * peer_connect_timeout, osd_idle_timeout, osd_ping_timeout and
 * client_op_timeout when known to cfg). */
struct vstor_client *vstor_client_create_cfg(const struct cfg *cfg, struct ringloop *rl,
	char *err, size_t errlen);
/* Ops still in flight complete with -ECANCELED first (their callbacks run
 * inside this call). */
void vstor_client_destroy(struct vstor_client *c);
struct ringloop *vstor_client_ringloop(struct vstor_client *c);
/* One loop iteration (see ringloop_run_once()). */
int vstor_client_run_once(struct vstor_client *c, int64_t timeout_ns);
/* Driving the client from the caller's own poll/epoll loop instead of
 * vstor_client_run_once(c, -1) or the *_sync() calls:
 *
 *	int fd = vstor_client_fd(c);		// watch for POLLIN
 *	for (;;) {
 *		poll(... fd ..., vstor_client_timeout_ms(c));
 *		vstor_client_run_once(c, 0);	// fd readable or timeout
 *	}
 *
 * vstor_client_fd() returns the fd (the same one for the client's whole
 * life; with a shared ring loop it is that loop's) or a negative errno.
 * vstor_client_timeout_ms() is how long the caller may wait before the
 * next vstor_client_run_once(c, 0): 0 = at once, -1 = only when the fd is
 * readable. Ask it again after every vstor_client_run_once() and after
 * submitting ops: submitting queues work that only the loop carries out.
 * Calling vstor_client_run_once(c, 0) more often is harmless. Callbacks
 * run only inside vstor_client_run_once(). */
int vstor_client_fd(struct vstor_client *c);
int vstor_client_timeout_ms(struct vstor_client *c);

/* True once the first full load from etcd has completed. */
bool vstor_client_ready(const struct vstor_client *c);
/* Runs the loop until ready; 0 or -ETIMEDOUT. */
int vstor_client_wait_ready(struct vstor_client *c, int timeout_ms);

/* Image by name (config/inode/<pool>/<n>.name): 0 and the full inode id,
 * size (0 if unset) and readonly flag, or -ENOENT. Needs a ready client. */
int vstor_image_lookup(struct vstor_client *c, const char *name, uint64_t *inode,
	uint64_t *size, bool *readonly);

/* retval: bytes (read/write), 0 (sync/delete) or a negative errno.
 * version: the object version of the last part that completed (single-
 * stripe ops: the version read or written). */
typedef void vstor_cb(void *arg, int64_t retval, uint64_t version);

/* Async ops. offset and len must be multiples of bitmap_granularity (4096),
 * len > 0; delete removes whole objects, so its offset and len must be
 * multiples of the stripe size. buf must stay valid until the callback.
 * Return 0 when submitted (cb runs later, exactly once) or a negative errno
 * (-EINVAL, -ENOMEM) with no callback. */
int vstor_read(struct vstor_client *c, uint64_t inode, uint64_t offset, uint64_t len,
	void *buf, vstor_cb *cb, void *arg);
int vstor_write(struct vstor_client *c, uint64_t inode, uint64_t offset, uint64_t len,
	const void *buf, vstor_cb *cb, void *arg);
int vstor_delete(struct vstor_client *c, uint64_t inode, uint64_t offset, uint64_t len,
	vstor_cb *cb, void *arg);

/* For layer tools (vsctl flatten, snap rm). */
#define VSTOR_RW_NO_PARENTS 1		/* read: this layer only, no parents */
#define VSTOR_RW_IGNORE_READONLY 2	/* write: also to a readonly inode */
/* vstor_read() that also reports which granules hold data: bits gets one
 * bit per bitmap_granularity of [offset, offset+len) (LSB first; at least
 * len/4096/8 rounded up bytes), set when the granule was written in the
 * image or (without VSTOR_RW_NO_PARENTS) in any layer of its chain. bits
 * may be NULL. Granules no layer holds read as zeroes. */
int vstor_read_ext(struct vstor_client *c, uint64_t inode, uint64_t offset, uint64_t len,
	void *buf, uint8_t *bits, unsigned flags, vstor_cb *cb, void *arg);
/* vstor_write() with a compare-and-set version (spec 4.0.3; 0: none, then
 * the range may span stripes, else it must stay inside one: -EINVAL) and
 * flags. A failed compare completes with -EINTR and the object's current
 * version. */
int vstor_write_ext(struct vstor_client *c, uint64_t inode, uint64_t offset, uint64_t len,
	const void *buf, uint64_t cas, unsigned flags, vstor_cb *cb, void *arg);
/* vstor_delete() with flags (VSTOR_RW_IGNORE_READONLY: removing a
 * snapshot's data). */
int vstor_delete_ext(struct vstor_client *c, uint64_t inode, uint64_t offset, uint64_t len,
	unsigned flags, vstor_cb *cb, void *arg);
/* The parent layer of an image (full inode id, 0: none) as config/inode
 * says; -ENOENT when the client does not know the inode. */
int vstor_inode_parent(struct vstor_client *c, uint64_t inode, uint64_t *parent);
/* Changes whenever some config/inode entry changed (a counter). */
uint64_t vstor_client_inode_gen(const struct vstor_client *c);
/* Completes once every write and delete acknowledged before the call is
 * durable: writes to be replayed first are replayed, then every OSD that
 * holds some of them gets a SYNC (primary SYNC, spec 4.0.4). With nothing
 * retained (always with immediate_commit=all) it completes with 0 on the
 * next iteration. A SYNC lost with its connection turns into replays and a
 * new SYNC, not an error; an OSD's SYNC error (-EIO, ...) or an error
 * replaying a write fails the waiting syncs with it (the writes stay
 * retained, a later vstor_sync() tries again). op_timeout_ms applies. */
int vstor_sync(struct vstor_client *c, vstor_cb *cb, void *arg);

/* Blocking wrappers for tools: run the loop until the op completes and
 * return its retval (never call them from a callback). */
int64_t vstor_read_sync(struct vstor_client *c, uint64_t inode, uint64_t offset,
	uint64_t len, void *buf);
int64_t vstor_write_sync(struct vstor_client *c, uint64_t inode, uint64_t offset,
	uint64_t len, const void *buf);
int64_t vstor_delete_sync(struct vstor_client *c, uint64_t inode, uint64_t offset,
	uint64_t len);
int64_t vstor_sync_sync(struct vstor_client *c);

/* The objects of an inode (spec 7), for tools (rm, import): per PG a
 * SEC_LIST to the primary if the PG is clean, else to every OSD of
 * osd_set, pg/history osd_sets and all_peers. OSDs that are not up are
 * skipped and listed in down_osds: then objects may be missing from the
 * list. Needs a ready client. */
struct vstor_inode_list {
	uint64_t inode;
	uint64_t *stripes;	/* object (stripe) start offsets, sorted, unique */
	size_t n;
	uint64_t *down_osds;	/* sorted, unique */
	size_t ndown;
};
/* err: 0, or a negative errno (list NULL): -ENOENT when the pool has no
 * PGs in config/pgs, -EIO (etcd), -ENOMEM. The callee owns list (free with
 * vstor_inode_list_free()). */
typedef void vstor_list_cb(void *arg, int err, struct vstor_inode_list *list);
/* 0 when started (cb runs later, once), or -EINVAL, -EAGAIN (client not
 * ready), -ENOENT (pool unknown), -ENOMEM, -EIO (etcd) with no callback. */
int vstor_list_inode(struct vstor_client *c, uint64_t inode, vstor_list_cb *cb, void *arg);
/* Blocking: 0 and *out, or a negative errno. */
int vstor_list_inode_sync(struct vstor_client *c, uint64_t inode, struct vstor_inode_list **out);
void vstor_inode_list_free(struct vstor_inode_list *l);
/* Bytes per object of the inode's pool (block_size x data chunks): the unit
 * of vstor_delete(). 0 while the pool is unknown. */
uint64_t vstor_inode_stripe_size(struct vstor_client *c, uint64_t inode);

/* Counters (for tests and tools). */
struct vstor_client_stats {
	uint64_t ops, parts_sent, retries, reconnects, epipe;
	/* lazy mode */
	uint64_t syncs;		/* SYNCs to OSDs that succeeded */
	uint64_t autosyncs;	/* automatic SYNCs started by the dirty limits */
	uint64_t replayed;	/* retained writes sent again and acknowledged */
	uint64_t dirty_ops, dirty_bytes;	/* retained now (bytes in 4 KiB pages) */
	uint64_t replay_pending;	/* retained writes waiting to be replayed */
};
void vstor_client_get_stats(const struct vstor_client *c, struct vstor_client_stats *st);

/* ---- Routing snapshots (client_map.c), for the kernel map agent ----
 *
 * The client's view of one pool as the kernel module takes it over
 * netlink: the PG -> primary table and the addresses of the OSDs. A PG's
 * primary is 0 when the PG is missing, paused, not active, or its primary
 * has no osd/state. epoch is the etcd revision this view is as of, so it
 * only grows, across clients too. */
struct vstor_map_osd {
	uint64_t num;
	int port;
	char **addrs;			/* IPv4/IPv6 literals, in order */
	size_t naddrs;
};

struct vstor_pool_map {
	uint32_t pool_id;
	uint64_t epoch;
	uint32_t block_size, bitmap_granularity, data_chunks;
	bool immediate_commit_all;
	uint64_t pg_stripe_size;
	uint32_t pg_count;		/* 0: the pool has no PGs yet */
	uint64_t *primary;		/* [pg_count], PG n at n-1 */
	struct vstor_map_osd *osds;	/* every OSD named as a primary */
	size_t nosds;
};

/* 0, -ENOENT (no such pool), -EAGAIN (not loaded yet) or -ENOMEM. */
int vstor_client_pool_map(struct vstor_client *c, uint32_t pool, struct vstor_pool_map *out);
void vstor_pool_map_free(struct vstor_pool_map *m);

/* Called (from the loop) after the routing state was loaded or changed. */
typedef void vstor_map_cb(void *arg);
void vstor_client_on_map_change(struct vstor_client *c, vstor_map_cb *cb, void *arg);

#endif

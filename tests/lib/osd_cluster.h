/* Helpers for tests that run a real etcd + several vstor-osd processes:
 * an etcd client for the test, blocking connections to the OSDs (one per
 * OSD, cached, reopened after a transport error), primary READ/WRITE/
 * DELETE and SEC_READ calls, and pg/state polling. */
#ifndef VSTOR_TEST_OSD_CLUSTER_H
#define VSTOR_TEST_OSD_CLUSTER_H

#include "etcd.h"
#include "etcd_proc.h"
#include "json.h"
#include "osd_proc.h"
#include "vstor_proto.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define OC_MAX_OSD 8

struct osd_cluster {
	struct etcd_proc *etcd;
	struct etcd_client *cl;
	struct osd_proc *osds[OC_MAX_OSD + 1];	/* 1-based */
	int fds[OC_MAX_OSD + 1];
	uint64_t next_id;
};

/* Zeroes c and marks every connection closed. */
void oc_init(struct osd_cluster *c);
/* Starts etcd and the test client (prefix), puts config/pools and
 * config/pgs, and starts OSDs 1..nosd with osd_args, whose element [1]
 * is set to the etcd endpoint ("--etcd_address", NULL, ...). false (with
 * a message on stderr) on failure. */
bool oc_start(struct osd_cluster *c, const char *prefix, const char **osd_args, int nosd,
	      const char *pools, const char *pgs);
/* Test-side etcd client for c->etcd with the given prefix (NULL on
 * failure). */
struct etcd_client *oc_new_client(struct osd_cluster *c, const char *prefix);
/* Blocking loopback connection (10 s receive timeout); -1 on failure. */
int oc_connect_port(int port);
bool oc_send_all(int fd, const void *p, size_t len);
bool oc_recv_all(int fd, void *p, size_t len);
/* Drops the cached connection to OSD n. */
void oc_close(struct osd_cluster *c, int n);
/* Sends req (+ payload) to OSD n, receives the reply and up to outcap
 * bytes of its payload into out. The retval, or INT64_MIN on a transport
 * error (the connection is then dropped). A cached connection that fails
 * is reopened and the request sent again once (the OSD drops clients
 * with unsynced writes when a PG re-peers; clients resend). */
int64_t oc_call(struct osd_cluster *c, int n, union vs_packet *req, const void *payload,
		size_t plen, union vs_packet *rep, void *out, size_t outcap);
/* Primary READ/WRITE/DELETE on OSD n. READ copies len data bytes (after
 * the bitmap) to out and *bitmap_len gets the bitmap length; *ver gets the
 * reply version. Both pointers may be NULL. */
int64_t oc_prim_rw(struct osd_cluster *c, int n, uint64_t opcode, uint64_t inode,
		   uint64_t offset, uint32_t len, uint64_t cas, const void *data, void *out,
		   uint64_t *ver, uint32_t *bitmap_len);
/* SEC_READ of len bytes at offset 0 of (inode, stripe), version 0 (last
 * stable); data to out, version to *ver. */
int64_t oc_sec_read(struct osd_cluster *c, int n, uint64_t inode, uint64_t stripe,
		    uint32_t len, void *out, uint64_t *ver);
/* pg/state/<pool>/<pg> exists, *primary gets its primary, and every word
 * of need ("a\0b\0", quoted match) is in it and notin (raw substring, may
 * be NULL) is not. */
bool oc_pg_state(struct osd_cluster *c, uint64_t pool, int pg, uint64_t *primary,
		 const char *need, const char *notin);
/* Polls oc_pg_state of pgs[0..npgs) of pool until all match with
 * primary == primaries[pg] (primaries indexed by PG number), or timeout. */
bool oc_wait_pgs(struct osd_cluster *c, uint64_t pool, const int *pgs, int npgs,
		 const uint64_t *primaries, const char *need, const char *notin,
		 int timeout_ms);
/* Polls until etcd key (e.g. "osd/state/3": an OSD's lease expired) is
 * gone, or timeout; true when gone. */
bool oc_wait_key_gone(struct etcd_client *cl, const char *key, int timeout_ms);
/* Polls key until its value contains every raw substring of need
 * ("a\0b\0") and not notin (may be NULL). The last value read goes to
 * *last (caller frees; may be NULL) for messages. */
bool oc_wait_value(struct osd_cluster *c, const char *key, const char *need, const char *notin,
		   int timeout_ms, char **last);
/* Whether some value key had since it was last created (walking back
 * over its mod revisions, at most 1000) contains the raw substring
 * needle: for states too short-lived to poll. */
bool oc_key_history_has(struct osd_cluster *c, const char *key, const char *needle);
/* Puts several keys in one transaction (like the monitor does): keys and
 * values alternate in kv[0..2n). */
bool oc_put_many(struct osd_cluster *c, const char *const *kv, size_t n);
/* Puts config/node_placement with OSDs 1..nosd each on its own host
 * h1..hN (they all run on this machine). */
bool oc_put_hosts(struct osd_cluster *c, int nosd);
/* The JSON value of key (json_free it), NULL when absent or not JSON. */
json_t oc_get_json(struct etcd_client *cl, const char *key);
/* Waits until osd/state/<n> is gone (lease expired); false on timeout. */
bool oc_wait_osd_gone(struct osd_cluster *c, int n, int timeout_ms);
/* SEC_LIST on OSD n of the objects of inode (all PGs): up to cap
 * entries (native byte order) into out. The entry count or < 0. */
int64_t oc_sec_list(struct osd_cluster *c, int n, uint64_t inode, struct vs_obj_ver_id *out,
		    size_t cap);
/* Some line (up to 1 KiB) of the file at path contains needle. */
bool oc_log_has(const char *path, const char *needle);
/* SYNC (primary) on OSD n: its retval. */
int64_t oc_sync(struct osd_cluster *c, int n);

/* A model of objects 0..nobj-1 of one inode (object i = bytes
 * [i * bs, (i + 1) * bs)): the data and the version last acknowledged,
 * written and checked through the OSDs. */
struct oc_model {
	uint64_t inode;
	uint32_t bs;
	int nobj;
	uint8_t **data;
	uint64_t *ver;
	uint64_t seed;
	bool quiet;		/* replica mismatches are expected: no messages */
};

int oc_model_init(struct oc_model *m, uint64_t inode, uint32_t bs, int nobj, uint64_t seed);
void oc_model_free(struct oc_model *m);
uint32_t oc_rnd(struct oc_model *m);
/* Writes 1..max_blocks random 4 KiB blocks at a random offset of object i
 * through primary OSD n, resending it on -EPIPE or a lost connection for
 * up to 15 s; the version must rise. 0, or the failing retval (-2000: the
 * version did not rise; INT32_MIN: no connection). */
int oc_model_write(struct osd_cluster *c, struct oc_model *m, int n, int i, uint32_t max_blocks);
/* Reads object i through primary OSD n: data and version as the model. */
bool oc_model_read(struct osd_cluster *c, struct oc_model *m, int n, int i);
/* Object i on OSD n (SEC_READ of the last stable version): data and
 * version as the model (a message on stderr when not, unless quiet). */
bool oc_model_replica(struct osd_cluster *c, struct oc_model *m, int n, int i);

/* SIGTERM to every OSD, highest number first: 0 when all exited cleanly,
 * else the first bad exit status (osd_proc_stop). */
int oc_stop_all(struct osd_cluster *c);
/* Closes connections, frees OSDs, the client and etcd. */
void oc_free(struct osd_cluster *c);

struct mon_proc;
/* Prints the log tails of the monitors in mons (NULL entries skipped) and
 * of OSDs 1..nosd: what a failing cluster test shows. */
void oc_print_logs(struct osd_cluster *c, int nosd, struct mon_proc *const *mons, int nmons);

#endif

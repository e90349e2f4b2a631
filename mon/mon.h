/* vstor-mon: the monitor (spec §9-11). One process per monitor; several
 * may run, one is master (mon/master under its lease), the others stand
 * by with the same mirror of etcd and take over when the key vanishes.
 * Only the master writes. Not on the I/O path: OSDs and clients never
 * wait for it.
 *
 *   mon_etcd.c   lease, election, the mirror (one range + one watch of the
 *                whole prefix), guarded write batches
 *   mon_live.c   OSD liveness: up = osd/state lease alive; out after
 *                osd_out_time down
 *   mon_place.c  pools, placement tree, PGs, primaries, pg/history,
 *                pg_count changes, history/last_clean_pgs
 *   mon_sweep.c  pg/history and pg/stats of removed pools and PGs
 *   mon_stats.c  stats, pool/stats, inode/stats from the OSDs' keys
 *   main.c       configuration, the ring loop, signals */
#ifndef VSTOR_MON_H
#define VSTOR_MON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "etcd.h"
#include "etcd_ringloop.h"
#include "json.h"
#include "mon_kv.h"
#include "ringloop.h"

struct mon_osd {
	uint64_t num;
	bool up;
	uint64_t down_ns;	/* CLOCK_MONOTONIC when seen down; 0 while up */
	bool out_placed;	/* a placement was scheduled since it is out */
};

/* Status of one pool for pool/stats (level 0 ok, 1 warning, 2 error). */
struct mon_pool_status {
	uint64_t id;
	int level;
	char msg[256];
};

struct mon_put {
	char *key;
	char *value;		/* NULL: delete */
	int64_t expect_mod;	/* compare mod_revision ==; 0: must not exist; -1: none */
	bool check_only;	/* only the compare, no write */
};

enum mon_state { MS_LEASE, MS_MEMBER, MS_LOAD, MS_RUN };

struct mon {
	struct cfg *cfg;
	struct ringloop *rl;
	struct etcd_ringloop *erl;
	struct etcd_client *ec;
	enum mon_state state;
	bool stopping;
	int exit_code;

	/* lease and election */
	int64_t lease, lease_ttl;
	bool master, elect_inflight, keepalive_inflight;
	uint64_t last_keepalive_ns;
	char member_key[64];
	char *member_json;	/* {ip, hostname} */
	struct ringloop_timer keepalive_t, retry_t;

	/* the mirror */
	struct kv kv;
	int64_t rev;		/* revision the mirror is at */
	struct etcd_watch *watch;

	/* write batches (one at a time) */
	struct mon_put *puts;
	size_t nputs, puts_cap, puts_done;
	bool write_inflight;
	void (*write_cb)(struct mon *m, int status);
	int64_t wait_rev;	/* recompute only once the mirror is at this */

	/* reactions */
	struct ringloop_timer change_t, stats_t, out_t;
	bool place_dirty, stats_dirty, stats_write_pending;

	/* liveness */
	struct mon_osd *osds;
	size_t nosds;

	/* pool status for pool/stats */
	struct mon_pool_status *pstat;
	size_t npstat;
	char global_err[256];	/* e.g. config/pools is not valid JSON */

	/* previous aggregate counters for speeds (mon_stats.c) */
	struct mon_stats_prev *sprev;
};

/* mon_etcd.c */
int mon_etcd_start(struct mon *m);
void mon_etcd_stop(struct mon *m);
/* Queues a put (value) or delete (value NULL) for the next batch; the key
 * and value are copied. -1 on out of memory. */
int mon_put(struct mon *m, const char *key, const char *value, int64_t expect_mod);
/* Sends the queued puts in txns of at most 60, each guarded by mon/master
 * being ours and by the puts' expectations; cb gets 1 (all applied), 0 (a
 * guard failed: the mirror is behind or another monitor wrote) or a
 * negative ETCD_E_* status. Nothing queued: cb(1) right away. */
void mon_flush(struct mon *m, void (*cb)(struct mon *m, int status));
/* Queues a compare without a write (e.g. config/pgs unchanged). */
int mon_check(struct mon *m, const char *key, int64_t expect_mod);
void mon_puts_clear(struct mon *m);
/* The expectation for writing key: its mod_revision in the mirror, 0 if absent. */
int64_t mon_expect(const struct mon *m, const char *key);

/* mon_live.c */
/* Updates liveness from the mirror (osd/state, osd/stats); arms out_t for
 * the next OSD to become out. Returns true when up/down changed. */
bool mon_live_update(struct mon *m);
bool mon_osd_up(const struct mon *m, uint64_t num);
/* Whether a down OSD has been down for osd_out_time (or never up). */
bool mon_osd_out(const struct mon *m, uint64_t num);
void mon_live_free(struct mon *m);

/* mon_place.c */
/* Recomputes PGs and primaries (master only) and writes what changed. */
void mon_place(struct mon *m);
/* Writes history/last_clean_pgs when every PG is active and clean. */
void mon_check_clean(struct mon *m);
void mon_set_pool_status(struct mon *m, uint64_t pool, int level, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* mon_sweep.c */
/* Queues guarded deletes of pg/history and pg/stats of PGs that no longer
 * exist; the number queued or -1 on out of memory. */
int mon_sweep(struct mon *m);

/* mon_stats.c */
void mon_stats(struct mon *m);
void mon_stats_free(struct mon *m);

/* main.c / mon_etcd.c: schedule reactions */
void mon_schedule_place(struct mon *m);
void mon_schedule_stats(struct mon *m);

#endif

/* vsctl: the cluster administration tool (etcd side: spec §9; data: libvstor).
 *
 * Shared declarations of the command files. Every command handler returns
 * the process exit code: VS_OK, VS_ERR (the operation failed; a message is
 * on stderr) or VS_USAGE (bad command line; a message and a hint to
 * --help are on stderr). */
#ifndef VSTOR_VSCTL_H
#define VSTOR_VSCTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cmp.h"
#include "config.h"
#include "etcd.h"
#include "json.h"

#define VS_OK 0
#define VS_ERR 1
#define VS_USAGE 2

#define VS_MAX_POOL_ID 65535ull
#define VS_MAX_INODE_NUM ((1ull << 48) - 1)

struct vsctl {
	struct cfg *cfg;
	struct etcd_client *etcd;	/* connected on first use */
	const char *cmd;		/* "pool create", ... */
	char *const *args;		/* positional arguments after the command words */
	size_t nargs;
	bool json;
};

/* ---- messages ---- */
void vs_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vs_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "vsctl CMD: msg" and the --help hint; returns VS_USAGE. */
int vs_usage(const struct vsctl *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Whether a vstor.ko with the FEATURES word feat lacks need (VS_FEAT_EC,
 * VS_FEAT_XPOOL) to map image, whose pool (or a parent's) is pool; why:
 * the FEATURES query failed (then feat means nothing). True with the error
 * for vs_err in buf (kmod_feat.c). */
bool vs_kmod_lacks(uint64_t need, uint64_t feat, const char *why, const char *image,
		   const char *pool, char *buf, size_t len);

/* s as a quoted JSON string (a static buffer; the last 4 stay valid). */
const char *vs_q(const char *s);

/* ---- options ---- */
/* Typed option getters; unset options give the default. */
const char *vs_opt_str(const struct vsctl *v, const char *key);
bool vs_opt_set(const struct vsctl *v, const char *key);
bool vs_opt_bool(const struct vsctl *v, const char *key);
/* A numeric option: 0 with *out (def when unset), or VS_USAGE (printed). */
int vs_opt_num(const struct vsctl *v, const char *key, uint64_t def, uint64_t *out);

/* ---- sizes ---- */
/* "10G", "512M", "4096"; 0 or -1 with a message (names the option). */
int vs_parse_size(const struct vsctl *v, const char *opt, const char *text, uint64_t *out);
/* Human form: "10 GiB", "1.5 TiB", "4096 B". */
const char *vs_fmt_size(uint64_t bytes, char *buf, size_t len);

/* ---- etcd ---- */
/* Connects (once). VS_OK or VS_ERR with a message. */
int vs_connect(struct vsctl *v);
/* The full etcd key of a relative one, for messages. */
const char *vs_full_key(const struct vsctl *v, const char *key, char *buf, size_t len);
/* One key: 1 found (*value malloc'ed, *mod_rev), 0 absent, -1 error
 * (printed). value/mod_rev may be NULL. */
int vs_get(struct vsctl *v, const char *key, char **value, int64_t *mod_rev);
/* The same, parsing the value as JSON: 1 found (*out), 0 absent, -1 error
 * including bad JSON (printed, naming the key and what to do). */
int vs_get_json(struct vsctl *v, const char *key, json_t *out, int64_t *mod_rev);
/* Every key under prefix; 0 or -1 (printed). Free with etcd_result_clear. */
int vs_list(struct vsctl *v, const char *prefix, struct etcd_result *out);
/* Runs a txn; 1 succeeded, 0 compares failed, -1 error (printed). */
int vs_txn(struct vsctl *v, const struct etcd_txn_req *req);
/* Parses the decimal number after prefix in key ("osd/state/12" -> 12);
 * 0 when it is not a plain positive number. */
uint64_t vs_key_num(const char *key, const char *prefix);

/* ---- pools (cmd_pool.c) ---- */
struct vs_pool {
	uint64_t id;
	const char *name;
	const char *scheme;
	uint64_t pg_size, pg_minsize, parity_chunks, pg_count;
	const char *failure_domain;
	uint64_t pg_stripe_size;
	json_t obj;			/* the pool object (owned by vs_pools) */
};

struct vs_pools {
	json_t root;			/* config/pools, NULL when absent */
	int64_t mod_rev;		/* 0 when absent */
	struct vs_pool *pools;		/* the valid ones, sorted by id */
	size_t n;
};

/* Checks a pool object against the spec §9 rules; 0 or -1 with a message
 * in err. Fills *p (pointers into obj) when p != NULL. */
int vs_pool_check(json_t obj, struct vs_pool *p, char *err, size_t errlen);
/* Loads config/pools; invalid pools are skipped with a warning (they are
 * ignored by every reader). Bad JSON is an error. 0 or -1 (printed). */
int vs_pools_load(struct vsctl *v, struct vs_pools *out, bool warn);
void vs_pools_free(struct vs_pools *p);
/* Pool by name or numeric id; NULL with a message printed. */
const struct vs_pool *vs_pool_find(const struct vs_pools *p, const char *name_or_id);
const struct vs_pool *vs_pool_by_id(const struct vs_pools *p, uint64_t id);

/* ---- tables (table.c) ---- */
struct vs_table;
/* Columns from a "|"-separated list of headers; a header starting with '>'
 * is right-aligned (the '>' is not printed). */
struct vs_table *vs_table_new(const char *headers);
/* Adds a row: one printf-formatted cell per call of vs_table_cell, rows
 * start with vs_table_row. */
void vs_table_row(struct vs_table *t);
void vs_table_cell(struct vs_table *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void vs_table_print(struct vs_table *t, FILE *out);
void vs_table_free(struct vs_table *t);

/* ---- data commands (data.c) ---- */
#include "vstor_client.h"

struct vs_image_io {
	struct vstor_client *c;
	uint64_t inode, size;
	bool readonly;
};

/* A ready libvstor client (from --etcd_address etc.) and, if name is not
 * NULL, the image (for_write: refused when readonly). VS_OK or VS_ERR
 * (printed). */
int vs_client_open(struct vsctl *v, struct vs_image_io *io, const char *name, bool for_write);
void vs_client_close(struct vs_image_io *io);

/* A one-line progress bar on stderr, only when it is a TTY and not --json;
 * redrawn at most 5 times a second. */
struct vs_progress {
	bool on, bytes, drawn;
	const char *what;
	uint64_t total, done, t0, last;
};
void vs_progress_start(struct vs_progress *p, const struct vsctl *v, const char *what,
	uint64_t total, bool bytes);
void vs_progress_update(struct vs_progress *p, uint64_t done);
/* Draws the final state and ends the line. */
void vs_progress_end(struct vs_progress *p);

/* ---- images (cmd_image.c) ---- */
/* VS_OK, or VS_USAGE with a message about a bad image name. */
int vs_check_image_name(const struct vsctl *v, const char *name);
/* Creates an image in --pool (or the only pool); prints the result when
 * print. VS_OK or VS_ERR (printed). */
int vs_image_create(struct vsctl *v, const char *name, uint64_t size, bool print);
/* Deletes every data object of inode (cmd_data.c); *deleted gets the
 * count. VS_OK, or VS_ERR (printed) when objects may remain. */
int vs_rm_data(struct vsctl *v, const char *name, uint64_t inode, uint64_t *deleted);

/* ---- commands ---- */
int cmd_pool_create(struct vsctl *v);
int cmd_pool_ls(struct vsctl *v);
int cmd_pool_rm(struct vsctl *v);
int cmd_create(struct vsctl *v);
int cmd_ls(struct vsctl *v);
int cmd_info(struct vsctl *v);
int cmd_modify(struct vsctl *v);
int cmd_rm(struct vsctl *v);
int cmd_pg_place(struct vsctl *v);
int cmd_osd_ls(struct vsctl *v);
int cmd_status(struct vsctl *v);
int cmd_df(struct vsctl *v);
int cmd_osd_rm(struct vsctl *v);
int cmd_bench(struct vsctl *v);
int cmd_import(struct vsctl *v);
int cmd_export(struct vsctl *v);
int cmd_map(struct vsctl *v);
int cmd_unmap(struct vsctl *v);
int cmd_list(struct vsctl *v);
int cmd_map_agent(struct vsctl *v);
int cmd_snap_create(struct vsctl *v);
int cmd_snap_ls(struct vsctl *v);
int cmd_snap_rm(struct vsctl *v);
int cmd_clone(struct vsctl *v);
int cmd_flatten(struct vsctl *v);

#endif

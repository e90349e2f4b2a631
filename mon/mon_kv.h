/* The monitor's mirror of everything under the etcd prefix: loaded with
 * one range, kept current by one watch (spec §9: "the monitor watches the
 * whole prefix"). Values are parsed once when they arrive; a value that is
 * not valid JSON keeps the last good parse (json stays, bad is set), so a
 * broken edit of e.g. config/node_placement never empties the tree. */
#ifndef VSTOR_MON_KV_H
#define VSTOR_MON_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

struct kv_entry {
	char *key;		/* relative to the prefix */
	char *value;		/* NUL-terminated */
	size_t len;
	int64_t create_rev, mod_rev, lease;
	json_t json;		/* last good parse, NULL if none */
	bool bad;		/* the current value is not valid JSON */
	char err[128];		/* why, when bad */
	struct kv_entry *next;
};

struct kv {
	struct kv_entry **b;
	size_t nb, n;
};

void kv_init(struct kv *kv);
void kv_clear(struct kv *kv);
/* Sets a key; -1 on out of memory. */
int kv_put(struct kv *kv, const char *key, const char *value, size_t len, int64_t create_rev,
	   int64_t mod_rev, int64_t lease);
void kv_del(struct kv *kv, const char *key);
struct kv_entry *kv_get(const struct kv *kv, const char *key);
/* The parsed value of a key, NULL when absent or never valid. */
json_t kv_json(const struct kv *kv, const char *key);
/* Entries whose key starts with prefix, sorted by key with numbers in
 * numeric order ("osd/state/2" < "osd/state/10"); free() the array. */
struct kv_entry **kv_list(const struct kv *kv, const char *prefix, size_t *n);
/* The decimal number after prefix in key, 0 if it is not one. */
uint64_t kv_key_num(const char *key, const char *prefix);

#endif

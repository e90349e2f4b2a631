/* The pool object of config/pools (spec §9 "Pool object"): one validator
 * for every reader that must agree on which pools are valid (vsctl, the
 * monitor). Invalid pools are skipped by all readers. */
#ifndef VSTOR_POOL_H
#define VSTOR_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "json.h"

struct pool_cfg {
	uint64_t id;			/* set by the caller (the config/pools key) */
	const char *name;
	const char *scheme;		/* replicated, xor, jerasure */
	bool ec;			/* xor or jerasure */
	uint64_t pg_size, pg_minsize, parity_chunks, pg_count;
	uint64_t data_chunks;		/* 1 for replicated, pg_size - parity_chunks */
	uint64_t max_osd_combinations;	/* default 10000 */
	uint64_t pg_stripe_size;	/* 0 = unset */
	const char *failure_domain;	/* default "host" */
	const char *root_node;		/* NULL = unset */
	json_t osd_tags;		/* string, array of strings or NULL */
	json_t obj;			/* the pool object itself */
};

/* Checks obj against the spec rules; 0, or -1 with a message saying what
 * is wrong in err. Pointers in *p point into obj. p may be NULL. */
int pool_check(json_t obj, struct pool_cfg *p, char *err, size_t errlen);

#endif

/* vsctl: the vstor.ko netlink interface (nl.c). */
#ifndef VSTOR_VSCTL_NL_H
#define VSTOR_VSCTL_NL_H

#include <stdbool.h>
#include <stdint.h>

#include <netlink/attr.h>
#include <netlink/msg.h>
#include <netlink/socket.h>

#include "vstor_client.h"
#include "vstor_genl.h"

struct vs_nl {
	struct nl_sock *sk;
	int family;
	char err[256];		/* the last error, with the kernel's message */
};

/* Opens a socket to the family; events: joined to the event group and
 * non-blocking. 0, or -ENOENT etc. with nl->err set. */
int vs_nl_open(struct vs_nl *nl, bool events);
void vs_nl_close(struct vs_nl *nl);

/* A request of the family (flags: NLM_F_DUMP or 0; ACK is added). */
struct nl_msg *vs_nl_msg(struct vs_nl *nl, int cmd, int flags);
/* A MAP or SET_MAP request with room for maps_size bytes of maps
 * (vs_nl_map_size of each); NULL when out of memory. */
struct nl_msg *vs_nl_msg_maps(struct vs_nl *nl, int cmd, size_t maps_size);
/* Called for every reply or event message, with its parsed attributes. */
typedef void vs_nl_reply_cb(void *arg, int cmd, struct nlattr **tb);
/* Sends msg (always freed) and waits for the ack or the end of a dump.
 * 0 or a negative errno with nl->err set. */
int vs_nl_call(struct vs_nl *nl, struct nl_msg *msg, vs_nl_reply_cb *cb, void *arg);
/* Reads the queued events of an event socket without blocking. */
int vs_nl_events(struct vs_nl *nl, vs_nl_reply_cb *cb, void *arg);

struct vs_kdev {
	uint32_t index, pool_id, state, inflight, flags, timeout_ms;
	uint64_t inode, size, epoch, features;
	uint8_t immediate_commit;
	char pool[VS_GENL_NAME_MAXLEN + 1], image[VS_GENL_NAME_MAXLEN + 1];
	uint32_t nlayers;			/* parents of inode */
	uint64_t layers[VS_GENL_MAX_LAYERS];	/* nearest first */
	uint32_t nxpools;			/* POOLS: other pools of the layers */
	uint32_t xpool[VS_GENL_MAX_POOLS];
	uint64_t xepoch[VS_GENL_MAX_POOLS];	/* their map epochs */
};

struct vs_kdevs {
	struct vs_kdev *devs;
	size_t n;
};

int vs_nl_list(struct vs_nl *nl, struct vs_kdevs *out);
void vs_kdevs_free(struct vs_kdevs *l);
const char *vs_dev_state_name(uint32_t state);

/* PG_TABLE is one netlink attribute, at most 64 KiB: 24 bytes per PG. A
 * module with the PG_PARTS feature takes PG_TABLE_PARTs instead, tables of
 * up to 65536 PGs (VS_NL_MAX_PGS_PARTS, etcd's limit) in every pool. */
#define VS_NL_MAX_PGS		VS_GENL_PG_TABLE_MAX_PGS
#define VS_NL_MAX_PGS_PARTS	65536

/* POOL_ID, PG_COUNT, PG_STRIPE_SIZE, MAP_EPOCH, OSD_LIST and the PG table
 * of MAP and SET_MAP: PG_TABLE, or with parts PG_TABLE_PARTs (which the
 * module must support: VS_FEAT_PG_PARTS). PGs whose primary has no usable
 * address get 0. 0, or -E2BIG when an attribute does not fit (PG_TABLE:
 * more than VS_NL_MAX_PGS PGs; OSD_LIST above 64 KiB), -ENOMEM. */
int vs_nl_put_map(struct nl_msg *msg, const struct vstor_pool_map *m, bool parts);
/* The PGs of m whose primary has a usable address (the others get 0). */
uint32_t vs_nl_map_reachable(const struct vstor_pool_map *m);
/* An upper bound of what vs_nl_put_map (or a POOLS item of m) writes. */
size_t vs_nl_map_size(const struct vstor_pool_map *m);
/* POOLS of MAP: the maps of the n other pools of the layers, with parts
 * their tables as PG_TABLE_PARTs after POOLS; 0 or -E2BIG (POOLS is one
 * attribute of 64 KiB: without parts, all its tables and OSD lists
 * together; with parts, its OSD lists). */
int vs_nl_put_pools(struct nl_msg *msg, const struct vstor_pool_map *maps, size_t n, bool parts);
/* The VS_FEAT_* bits the loaded module supports. 0 or a negative errno. */
int vs_nl_features(struct vs_nl *nl, uint64_t *out);
/* LAYERS of MAP and SET_LAYERS: n parent inodes, nearest first (none: no
 * attribute). */
void vs_nl_put_layers(struct nl_msg *msg, const uint64_t *layers, size_t n);

#endif

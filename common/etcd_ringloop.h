/* Drives an external-loop etcd client (common/etcd.h) from a ringloop:
 * every socket curl wants watched gets a one-shot io_uring poll, re-armed
 * after etcd_on_fd(); the client's single timer is a ringloop timer.
 *
 * curl closes sockets and reuses their numbers, so every poll carries the
 * generation of its fd slot; when curl changes or drops the events of a
 * socket, the poll in flight is marked stale and removed (POLL_REMOVE by
 * user_data: io_uring holds a reference to the file, so a forgotten poll
 * would keep a closed socket alive) and its completion is ignored.
 *
 * Use:
 *   g = etcd_ringloop_new(rl);
 *   etcd_ringloop_loop(g, &loop);
 *   c = etcd_client_new(&cfg, &loop, err, sizeof(err));
 *   etcd_ringloop_attach(g, c);
 *   ...
 *   etcd_client_free(c);
 *   etcd_ringloop_free(g);   (withdraws polls, runs the loop up to 1 s) */
#ifndef VSTOR_ETCD_RINGLOOP_H
#define VSTOR_ETCD_RINGLOOP_H

#include "etcd.h"
#include "ringloop.h"

struct etcd_ringloop;

/* NULL on out of memory. */
struct etcd_ringloop *etcd_ringloop_new(struct ringloop *rl);
/* Fills the hooks to pass to etcd_client_new(). */
void etcd_ringloop_loop(struct etcd_ringloop *g, struct etcd_loop *loop);
void etcd_ringloop_attach(struct etcd_ringloop *g, struct etcd_client *c);
/* Set when arming a poll failed for lack of memory (the client may stall). */
bool etcd_ringloop_failed(const struct etcd_ringloop *g);
/* Call after etcd_client_free(). */
void etcd_ringloop_free(struct etcd_ringloop *g);

#endif

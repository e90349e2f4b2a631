/* libvstor: ops, routing and OSD connections; see vstor_client.h.
 *
 * A user op is split into parts, one per stripe (SYNC: one per OSD). A part
 * is always in exactly one place: the client's wait list (no route yet, or
 * failed with -EPIPE / connection loss and waiting for the retry timer), a
 * connection's in-flight list (queued for sending or sent), or done.
 *
 * Connections: non-blocking sockets driven by one-shot io_uring polls
 * (POLLIN always armed while connected, POLLOUT when the send queue is
 * stuck); sends and receives are plain non-blocking syscalls. A dead
 * connection is shut down and closed at once (that wakes its polls) and
 * freed once its polls have completed. */
#include "client_int.h"
#include "config.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

/* tests/fuzz/fuzz_client_rx.c feeds replies without a socket */
#ifndef VC_RECV
#define VC_RECV recv
#endif

#define MS 1000000ull
#define MAX_IOV 256
#define VC_RXBUF 65536		/* receive stream buffer per connection */
#define VC_RX_DIRECT 32768	/* payload rests this large bypass it */

#define conn_fail vc_conn_fail
static void conn_flush(struct vc_conn *cn);
static void conn_arm_in(struct vc_conn *cn);
static void part_route(struct vstor_client *c, struct vc_part *p);

/* ---- op completion ---- */

static void op_free(struct vstor_client *c, struct vc_op *op)
{
	/* huge ops are rare and their I/O dwarfs a malloc: do not keep them */
	if (op->xcap > VC_POOLED_PARTS) {
		free(op->xparts);
		op->xparts = NULL;
		op->xcap = 0;
	}
	op->parts = NULL;
	op->next_free = c->free_ops;
	c->free_ops = op;
}

static void op_finish(struct vc_op *op)
{
	struct vstor_client *c = op->c;
	vstor_cb *cb = op->cb;
	void *arg = op->arg;
	int64_t rv = op->err ? op->err : (int64_t)op->len;
	uint64_t ver = op->version;

	c->inflight_ops--;
	op_free(c, op);
	cb(arg, rv, ver);
}

static void op_defer_cb(struct ringloop_defer *d)
{
	op_finish((struct vc_op *)(void *)((char *)d - offsetof(struct vc_op, defer)));
}

static void part_done(struct vc_part *p, int64_t rv, uint64_t version)
{
	struct vc_op *op = p->op;

	if (p->dirty)	/* failed (acked parts gave their slot to the retained list) */
		vc_lazy_release(op->c, p);
	p->where = VC_P_DONE;
	if (rv < 0 && !op->err)
		op->err = rv;
	if (rv >= 0 || rv == -EINTR)	/* CAS failed: the current version */
		op->version = version;
	if (++op->ndone == op->nparts)
		op_finish(op);
}

/* ---- wait list and retries ---- */

static void wait_add(struct vstor_client *c, struct vc_part *p)
{
	p->where = VC_P_WAIT;
	p->conn = NULL;
	p->prev = NULL;
	p->next = c->wait_head;
	if (c->wait_head)
		c->wait_head->prev = p;
	c->wait_head = p;
}

static void wait_del(struct vstor_client *c, struct vc_part *p)
{
	if (p->prev)
		p->prev->next = p->next;
	else
		c->wait_head = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
	p->where = VC_P_NONE;
}

void vc_retry_arm(struct vstor_client *c)
{
	if (c->retry_timer.heap_idx == SIZE_MAX && !c->destroying)
		ringloop_timer_add(c->rl, &c->retry_timer,
				   ringloop_now_ns() + c->opts.up_wait_retry_interval_ms * MS);
}

/* A part failed in a retryable way: wait and re-route. */
static void part_retry(struct vstor_client *c, struct vc_part *p)
{
	c->stats.retries++;
	wait_add(c, p);
	vc_retry_arm(c);
}

/* Checked again here: the op may have been submitted before the load. */
static bool inode_readonly(struct vstor_client *c, struct vc_op *op)
{
	const struct vc_inode *in;

	if ((op->opcode != VS_OP_WRITE && op->opcode != VS_OP_DELETE) ||
	    (op->flags & VSTOR_RW_IGNORE_READONLY))
		return false;
	in = vc_inode_find(c, op->inode);
	return in && in->readonly;
}

static void op_split(struct vstor_client *c, struct vc_op *op);

static void route_waiting(struct vstor_client *c)
{
	struct vc_part *list, *p, *next;
	struct vc_op *ops = c->pending, *op;
	uint64_t now = ringloop_now_ns();

	c->pending = NULL;
	while ((op = ops)) {
		ops = op->pnext;
		op->pnext = NULL;
		if (op->deadline_ns && now >= op->deadline_ns)
			vc_op_fail(op, -ETIMEDOUT);
		else
			op_split(c, op);
	}
	/* taken only now: op_split() may have added parts */
	list = c->wait_head;
	c->wait_head = NULL;
	for (p = list; p; p = next) {
		next = p->next;
		p->prev = p->next = NULL;
		p->where = VC_P_NONE;
		if (p->op->deadline_ns && now >= p->op->deadline_ns)
			part_done(p, -ETIMEDOUT, 0);
		else if (inode_readonly(c, p->op))
			part_done(p, -EINVAL, 0);
		else
			part_route(c, p);
	}
	if (vc_lazy_timeouts(c, now) || c->wait_head || c->pending)
		vc_retry_arm(c);
}

static void retry_cb(struct ringloop_timer *t)
{
	route_waiting((struct vstor_client *)(void *)((char *)t -
		offsetof(struct vstor_client, retry_timer)));
}

static void kick_cb(struct ringloop_defer *d)
{
	struct vstor_client *c = (struct vstor_client *)(void *)((char *)d -
		offsetof(struct vstor_client, kick));

	/* The routing changed (or was loaded): try the waiting parts now. */
	route_waiting(c);
}

void vc_kick(struct vstor_client *c)
{
	if ((c->wait_head || c->pending) && !c->destroying)
		ringloop_defer(c->rl, &c->kick);
}

/* ---- connections ---- */

static void noop_cb(struct ringloop_op *op, int res, uint32_t flags)
{
}

static struct ringloop_op noop_rop = { .cb = noop_cb };

static void conn_poll(struct vc_conn *cn, struct ringloop_op *rop, unsigned mask)
{
	struct io_uring_sqe *sqe = ringloop_get_sqe(cn->c->rl);

	io_uring_prep_poll_add(sqe, cn->fd, mask);
	ringloop_sqe_set_op(sqe, rop);
}

static void conn_poll_remove(struct vc_conn *cn, struct ringloop_op *rop)
{
	struct io_uring_sqe *sqe = ringloop_get_sqe(cn->c->rl);

	io_uring_prep_poll_remove(sqe, (uint64_t)(uintptr_t)rop);
	ringloop_sqe_set_op(sqe, &noop_rop);
}

static void reap_cb(struct ringloop_defer *d)
{
	struct vstor_client *c = (struct vstor_client *)(void *)((char *)d -
		offsetof(struct vstor_client, reap));
	struct vc_conn **pp = &c->dead, *cn;

	while ((cn = *pp)) {
		if (cn->pin_busy || cn->pout_busy) {
			pp = &cn->next_dead;
			continue;
		}
		*pp = cn->next_dead;
		free(cn->rbuf);
		free(cn->rxbuf);
		free(cn);
	}
}

void vc_conn_fail(struct vc_conn *cn, const char *why)
{
	struct vstor_client *c = cn->c;
	struct vc_part *p, *next;

	if (cn->state == VC_C_DEAD)
		return;
	if ((cn->state == VC_C_READY && !c->destroying) || c->opts.log_level > 0)
		log_warn("vstor client: connection to OSD %" PRIu64 " closed: %s", cn->osd, why);
	cn->state = VC_C_DEAD;
	if (cn->flush_queued) {
		struct vc_conn **pp = &c->flushq;

		while (*pp != cn)
			pp = &(*pp)->flush_next;
		*pp = cn->flush_next;
		cn->flush_queued = false;
	}
	ringloop_timer_del(c->rl, &cn->ctimer);
	ringloop_timer_del(c->rl, &cn->itimer);
	if (cn->osd < c->nconns && c->conns[cn->osd] == cn)
		c->conns[cn->osd] = NULL;
	if (cn->fd >= 0) {
		shutdown(cn->fd, SHUT_RDWR);
		if (cn->pin_busy)
			conn_poll_remove(cn, &cn->pin);
		if (cn->pout_busy)
			conn_poll_remove(cn, &cn->pout);
		close(cn->fd);
		cn->fd = -1;
	}
	for (p = cn->inflight; p; p = next) {
		next = p->next;
		idmap_del(&c->ids, p->id);
		p->prev = p->next = p->snext = NULL;
		if (p->kind == VC_K_OP)
			part_retry(c, p);
		else
			vc_lazy_part_lost(c, p);
	}
	cn->inflight = NULL;
	cn->sq_head = cn->sq_tail = NULL;
	cn->sync_busy = false;
	/* what it acknowledged may be lost with it: replay that */
	if (!c->destroying)
		vc_lazy_conn_lost(c, cn);
	cn->next_dead = c->dead;
	c->dead = cn;
	ringloop_defer(c->rl, &c->reap);
}

static void ctimer_cb(struct ringloop_timer *t)
{
	struct vc_conn *cn = (struct vc_conn *)(void *)((char *)t - offsetof(struct vc_conn, ctimer));

	conn_fail(cn, "connect/handshake timeout");
}

/* p awaits its reply on cn; false when its id cannot be registered. */
static bool inflight_add(struct vc_conn *cn, struct vc_part *p)
{
	if (idmap_put(&cn->c->ids, p->id, p))
		return false;
	p->where = VC_P_CONN;
	p->conn = cn;
	p->prev = NULL;
	p->next = cn->inflight;
	if (cn->inflight)
		cn->inflight->prev = p;
	cn->inflight = p;
	return true;
}

/* Queues p on cn; false (p untouched) when its id cannot be registered. */
bool vc_conn_send(struct vc_conn *cn, struct vc_part *p)
{
	if (!inflight_add(cn, p))
		return false;
	p->snext = NULL;
	if (cn->sq_tail)
		cn->sq_tail->snext = p;
	else
		cn->sq_head = p;
	cn->sq_tail = p;
	if (cn->state == VC_C_READY && !cn->flush_queued) {
		/* one sendmsg for everything queued in this loop iteration */
		cn->flush_queued = true;
		cn->flush_next = cn->c->flushq;
		cn->c->flushq = cn;
		ringloop_prewait(cn->c->rl, &cn->c->flush);
	}
	return true;
}

static void flush_cb(struct ringloop_defer *d)
{
	struct vstor_client *c = (struct vstor_client *)(void *)((char *)d -
		offsetof(struct vstor_client, flush));
	struct vc_conn *cn;

	while ((cn = c->flushq)) {
		c->flushq = cn->flush_next;
		cn->flush_queued = false;
		conn_flush(cn);
	}
}

/* spec 4.2: PING after osd_idle_timeout without a reply; no answer within
 * osd_ping_timeout -> disconnect (the parts are retried elsewhere/later). */
static void itimer_cb(struct ringloop_timer *t)
{
	struct vc_conn *cn = (struct vc_conn *)(void *)((char *)t - offsetof(struct vc_conn, itimer));
	struct vstor_client *c = cn->c;
	uint64_t now = ringloop_now_ns();

	if (cn->state != VC_C_READY)
		return;
	if (cn->ping_inflight) {
		if (now >= cn->ping_sent_ns + c->opts.osd_ping_timeout_ms * MS) {
			conn_fail(cn, "PING timeout");
			return;
		}
		ringloop_timer_add(c->rl, t, cn->ping_sent_ns + c->opts.osd_ping_timeout_ms * MS);
		return;
	}
	if (now < cn->last_rx_ns + c->opts.osd_idle_timeout_ms * MS) {
		ringloop_timer_add(c->rl, t, cn->last_rx_ns + c->opts.osd_idle_timeout_ms * MS);
		return;
	}
	memset(&cn->ping, 0, sizeof(cn->ping));
	cn->ping.kind = VC_K_PING;
	cn->ping.id = c->next_id++;
	vs_req_init(&cn->ping.pkt, cn->ping.id, VS_OP_PING);
	cn->ping_sent_ns = now;
	ringloop_timer_add(c->rl, t, now + c->opts.osd_ping_timeout_ms * MS);
	cn->ping_inflight = vc_conn_send(cn, &cn->ping);
}

static int rbuf_reserve(struct vc_conn *cn, size_t n)
{
	uint8_t *b;

	if (n <= cn->rbuf_cap)
		return 0;
	b = realloc(cn->rbuf, n);
	if (!b)
		return -ENOMEM;
	cn->rbuf = b;
	cn->rbuf_cap = n;
	return 0;
}

static void inflight_del(struct vc_conn *cn, struct vc_part *p)
{
	idmap_del(&cn->c->ids, p->id);
	if (p->prev)
		p->prev->next = p->next;
	else
		cn->inflight = p->next;
	if (p->next)
		p->next->prev = p->prev;
	p->prev = p->next = NULL;
	p->where = VC_P_NONE;
}

static void hello_done(struct vc_conn *cn)
{
	char err[128];
	json_t v = json_parse((const char *)cn->rbuf, cn->rneed ? cn->rneed - 1 : 0, err, sizeof(err));
	uint64_t num = 0, pv = 0;

	if (!v || json_u64(json_get(v, "osd_num"), &num) || num != cn->osd ||
	    json_u64(json_get(v, "protocol_version"), &pv) || pv != VS_PROTOCOL_VERSION) {
		json_free(v);
		conn_fail(cn, "bad SHOW_CONFIG reply (osd_num or protocol_version)");
		return;
	}
	json_free(v);
	cn->state = VC_C_READY;
	ringloop_timer_del(cn->c->rl, &cn->ctimer);
	ringloop_timer_add(cn->c->rl, &cn->itimer,
			   cn->last_rx_ns + cn->c->opts.osd_idle_timeout_ms * MS);
	conn_flush(cn);
}

/* A reply to an op part; returns false when the connection died. */
static bool reply_done(struct vc_conn *cn, struct vc_part *p)
{
	struct vstor_client *c = cn->c;
	int64_t rv = vs_reply_retval(&cn->rhdr);
	uint64_t ver = vs_le64_get(cn->rhdr.reply_rw.version);

	inflight_del(cn, p);
	if (p->kind == VC_K_REPLAY || p->kind == VC_K_SYNC)
		return vc_lazy_reply(cn, p, rv);
	if (p->kind == VC_K_PING) {
		cn->ping_inflight = false;
		if (rv) {
			conn_fail(cn, "PING failed");
			return false;
		}
		return true;
	}
	if (p->op->raw) {
		p->op->raw->reply = cn->rhdr;
		p->op->len = rv > 0 ? (uint64_t)rv : 0;
	}
	if (rv >= 0) {
		if (p->dirty)
			vc_lazy_acked(c, p, cn->osd);
		part_done(p, rv, ver);
		return true;
	}
	if (rv == -EPIPE) {
		c->stats.epipe++;
		part_retry(c, p);
		conn_fail(cn, "-EPIPE (not primary or PG not active)");
		return false;
	}
	part_done(p, rv, ver);
	if (rv == -EINTR || rv == -EIO)
		return true;
	conn_fail(cn, strerror((int)-rv));
	return false;
}

/* The longest bitmap a READ reply may carry (spec 4.0.1: the whole
 * stripe's, one bit per granule); more drops the connection, as the
 * reference client does. */
static uint64_t read_bitmap_max(const struct vstor_client *c, const struct vc_part *p)
{
	const struct vc_pool *pool = vc_pool_find(c, vs_inode_pool(p->op->inode));
	uint64_t stripe = pool ? pool->stripe : c->block_size;

	return (stripe / c->bitmap_gran + 7) / 8;
}

/* Processes a complete 128-byte reply header; returns false on death. */
static bool got_header(struct vc_conn *cn)
{
	uint64_t id = vs_le64_get(cn->rhdr.hdr.id), opcode;
	struct vc_part *p = NULL;
	int64_t plen;

	if (vs_le64_get(cn->rhdr.hdr.magic) != VS_REPLY_MAGIC) {
		conn_fail(cn, "garbage or unexpected request from the OSD");
		return false;
	}
	cn->last_rx_ns = ringloop_now_ns();
	if (cn->state == VC_C_HELLO && id == cn->hello_id) {
		opcode = VS_OP_SHOW_CONFIG;
	} else {
		p = idmap_get(&cn->c->ids, id);
		if (!p || p->conn != cn) {
			conn_fail(cn, "reply with an unknown id");
			return false;
		}
		opcode = vs_le64_get(p->pkt.hdr.opcode);
	}
	plen = vs_check_reply(&cn->rhdr, opcode);
	if (plen < 0) {
		conn_fail(cn, vs_frame_err_str(plen));
		return false;
	}
	if (vs_reply_retval(&cn->rhdr) < -4095) {
		/* not a negated errno: garbage; the part is retried elsewhere */
		conn_fail(cn, "reply with an invalid retval");
		return false;
	}
	if (!p) {
		if (vs_reply_retval(&cn->rhdr) < 0 || !plen || rbuf_reserve(cn, (size_t)plen)) {
			conn_fail(cn, "SHOW_CONFIG failed");
			return false;
		}
		cn->rstate = VC_R_JSON;
		cn->rneed = (size_t)plen;
		cn->rgot = 0;
		return true;
	}
	if (opcode == VS_OP_READ && vs_reply_retval(&cn->rhdr) >= 0) {
		uint64_t bl = vs_le32_get(cn->rhdr.reply_rw.bitmap_len);

		if ((uint64_t)vs_reply_retval(&cn->rhdr) != p->len || bl > read_bitmap_max(cn->c, p) ||
		    rbuf_reserve(cn, bl + 1)) {
			conn_fail(cn, "READ reply length or bitmap length mismatch");
			return false;
		}
		cn->rpart = p;
		cn->rgot = 0;
		cn->rneed = bl;
		cn->rstate = bl ? VC_R_SKIP : VC_R_DATA;
		if (!bl && p->op->lbits)
			vc_layer_bits(cn->c, p, NULL, 0);
		if (!bl)
			cn->rneed = p->len;
		if (cn->rneed)
			return true;
		cn->rstate = VC_R_HDR;
		cn->rpart = NULL;
		return reply_done(cn, p);
	}
	if (plen && p->op && p->op->raw) {
		struct vc_raw *raw = p->op->raw;

		/* a resend after a lost connection may have got part of one */
		free(raw->payload);
		raw->payload_len = 0;
		if (!(raw->payload = malloc((size_t)plen))) {
			conn_fail(cn, "out of memory for a reply payload");
			return false;
		}
		raw->payload_len = (size_t)plen;
		p->buf = raw->payload;
		cn->rpart = p;
		cn->rgot = 0;
		cn->rneed = (size_t)plen;
		cn->rstate = VC_R_DATA;
		return true;
	}
	if (plen) {
		conn_fail(cn, "unexpected reply payload");
		return false;
	}
	return reply_done(cn, p);
}

/* Where the bytes of the current receive stage go, and how many it still
 * needs. */
static uint8_t *rx_dst(struct vc_conn *cn, size_t *want)
{
	switch (cn->rstate) {
	case VC_R_HDR:
		*want = VS_PACKET_SIZE - cn->rgot;
		return cn->rhdr.buf + cn->rgot;
	case VC_R_DATA:
		*want = cn->rneed - cn->rgot;
		return cn->rpart->buf + cn->rgot;
	default:
		*want = cn->rneed - cn->rgot;
		return cn->rbuf + cn->rgot;
	}
}

/* The current stage has all its bytes: on to the next; false when the
 * connection died. */
static bool rx_stage_done(struct vc_conn *cn)
{
	struct vc_part *p = cn->rpart;

	cn->rgot = 0;
	switch (cn->rstate) {
	case VC_R_HDR:
		return got_header(cn);
	case VC_R_JSON:
		cn->rstate = VC_R_HDR;
		hello_done(cn);
		return cn->state != VC_C_DEAD;
	case VC_R_SKIP:
		if (p->op->lbits)
			vc_layer_bits(cn->c, p, cn->rbuf, cn->rneed);
		cn->rstate = VC_R_DATA;
		cn->rneed = p->len;
		if (cn->rneed)
			return true;
		break;	/* no data after the bitmap */
	default:
		break;
	}
	cn->rstate = VC_R_HDR;
	cn->rpart = NULL;
	return reply_done(cn, p);
}

/* Hands the buffered bytes to the receive stages; false when the
 * connection died. */
static bool rx_parse(struct vc_conn *cn)
{
	while (cn->rx_pos < cn->rx_end) {
		size_t want, n;
		uint8_t *dst = rx_dst(cn, &want);

		n = cn->rx_end - cn->rx_pos < want ? cn->rx_end - cn->rx_pos : want;
		memcpy(dst, cn->rxbuf + cn->rx_pos, n);
		cn->rx_pos += n;
		cn->rgot += n;
		if (n == want && !rx_stage_done(cn))
			return false;
	}
	cn->rx_pos = cn->rx_end = 0;
	return true;
}

/* Receives into a VC_RXBUF stream buffer and parses every reply in it:
 * one recv for many replies (a small read's data is copied out of it);
 * only the rest of a large payload (>= VC_RX_DIRECT) goes straight to its
 * destination. A short recv means the socket is drained: then the POLLIN
 * poll is re-armed instead of asking again for an EAGAIN. */
static void conn_read(struct vc_conn *cn)
{
	for (;;) {
		uint8_t *dst;
		size_t want;
		ssize_t r;
		bool direct;

		if (!rx_parse(cn))
			return;
		dst = rx_dst(cn, &want);
		direct = cn->rstate == VC_R_DATA && want >= VC_RX_DIRECT;
		if (!direct) {
			dst = cn->rxbuf;
			want = VC_RXBUF;
		}
		r = VC_RECV(cn->fd, dst, want, MSG_DONTWAIT);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			conn_fail(cn, r ? strerror(errno) : "connection closed by the OSD");
			return;
		}
		if (!direct) {
			cn->rx_end = (size_t)r;
		} else {
			cn->rgot += (size_t)r;
			if ((size_t)r == want && !rx_stage_done(cn))
				return;
		}
		if ((size_t)r < want) {
			rx_parse(cn);	/* drained: the rest comes with POLLIN */
			return;
		}
	}
}

static void pin_cb(struct ringloop_op *op, int res, uint32_t flags)
{
	struct vc_conn *cn = (struct vc_conn *)(void *)((char *)op - offsetof(struct vc_conn, pin));

	cn->pin_busy = false;
	if (cn->state == VC_C_DEAD) {
		ringloop_defer(cn->c->rl, &cn->c->reap);
		return;
	}
	if (res < 0 && res != -ECANCELED) {
		conn_fail(cn, strerror(-res));
		return;
	}
	conn_read(cn);
	if (cn->state != VC_C_DEAD)
		conn_arm_in(cn);
}

static void conn_arm_in(struct vc_conn *cn)
{
	if (cn->pin_busy || cn->state == VC_C_DEAD)
		return;
	cn->pin_busy = true;
	conn_poll(cn, &cn->pin, POLLIN);
}

static void conn_arm_out(struct vc_conn *cn)
{
	if (cn->pout_busy || cn->state == VC_C_DEAD)
		return;
	cn->pout_busy = true;
	conn_poll(cn, &cn->pout, POLLOUT);
}

static void start_hello(struct vc_conn *cn)
{
	cn->state = VC_C_HELLO;
	cn->hello_id = cn->c->next_id++;
	vs_req_init(&cn->hello, cn->hello_id, VS_OP_SHOW_CONFIG);
	cn->hello_off = 0;
	conn_arm_in(cn);
	conn_flush(cn);
}

static void pout_cb(struct ringloop_op *op, int res, uint32_t flags)
{
	struct vc_conn *cn = (struct vc_conn *)(void *)((char *)op - offsetof(struct vc_conn, pout));
	int err = 0;
	socklen_t len = sizeof(err);

	cn->pout_busy = false;
	if (cn->state == VC_C_DEAD) {
		ringloop_defer(cn->c->rl, &cn->c->reap);
		return;
	}
	if (cn->state == VC_C_CONNECTING) {
		if (getsockopt(cn->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			conn_fail(cn, strerror(err));
			return;
		}
		start_hello(cn);
		return;
	}
	conn_flush(cn);
}

/* Sends what can be sent now: the handshake, then (once READY) the queue. */
static void conn_flush(struct vc_conn *cn)
{
	if (cn->pout_busy)
		return;	/* waiting for POLLOUT, which flushes */
	while (cn->state == VC_C_HELLO || cn->state == VC_C_READY) {
		struct iovec iov[MAX_IOV];
		int n = 0;
		size_t skip;
		ssize_t r;

		if (cn->hello_off < VS_PACKET_SIZE) {
			iov[n].iov_base = cn->hello.buf + cn->hello_off;
			iov[n++].iov_len = VS_PACKET_SIZE - cn->hello_off;
		}
		if (cn->state == VC_C_READY) {
			skip = cn->sq_off;
			for (struct vc_part *p = cn->sq_head; p && n + 2 <= MAX_IOV; p = p->snext) {
				size_t dl = vs_le64_get(p->pkt.hdr.opcode) == VS_OP_WRITE ? p->len : 0;

				if (skip < VS_PACKET_SIZE) {
					iov[n].iov_base = p->pkt.buf + skip;
					iov[n++].iov_len = VS_PACKET_SIZE - skip;
					skip = 0;
				} else {
					skip -= VS_PACKET_SIZE;
				}
				if (dl) {
					iov[n].iov_base = p->buf + skip;
					iov[n++].iov_len = dl - skip;
				}
				skip = 0;
			}
		}
		if (!n)
			return;
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)n };

		r = sendmsg(cn->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			conn_arm_out(cn);
			return;
		}
		if (r < 0) {
			conn_fail(cn, strerror(errno));
			return;
		}
		size_t done = (size_t)r;

		if (cn->hello_off < VS_PACKET_SIZE) {
			size_t h = VS_PACKET_SIZE - cn->hello_off;

			h = h < done ? h : done;
			cn->hello_off += h;
			done -= h;
		}
		while (done && cn->sq_head) {
			struct vc_part *p = cn->sq_head;
			size_t total = VS_PACKET_SIZE +
				(vs_le64_get(p->pkt.hdr.opcode) == VS_OP_WRITE ? p->len : 0);
			size_t left = total - cn->sq_off;

			if (done < left) {
				cn->sq_off += done;
				done = 0;
				break;
			}
			done -= left;
			cn->sq_off = 0;
			cn->sq_head = p->snext;
			p->snext = NULL;
			if (!cn->sq_head)
				cn->sq_tail = NULL;
			cn->c->stats.parts_sent++;
		}
	}
}

struct vc_conn *vc_conn_get(struct vstor_client *c, uint64_t osd)
{
	const struct vc_osd *o;
	struct vc_conn *cn;
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1, r;

	if (osd < c->nconns && c->conns[osd])
		return c->conns[osd];
	o = vc_osd_find(c, osd);
	if (!o)
		return NULL;
	if (osd >= c->nconns) {
		size_t n = osd + 16;
		struct vc_conn **nc = realloc(c->conns, n * sizeof(*nc));

		if (!nc)
			return NULL;
		memset(nc + c->nconns, 0, (n - c->nconns) * sizeof(*nc));
		c->conns = nc;
		c->nconns = n;
	}
	memset(&ss, 0, sizeof(ss));
	/* try the addresses in turn, one per connection attempt */
	const char *addr = o->addrs[c->stats.reconnects % o->naddrs];
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)o->port);
		sl = sizeof(*s4);
	} else if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)o->port);
		sl = sizeof(*s6);
	} else {
		return NULL;
	}
	cn = calloc(1, sizeof(*cn));
	if (!cn)
		return NULL;
	cn->rxbuf = malloc(VC_RXBUF);
	if (!cn->rxbuf) {
		free(cn);
		return NULL;
	}
	cn->c = c;
	cn->osd = osd;
	cn->pin.cb = pin_cb;
	cn->pout.cb = pout_cb;
	cn->hello_off = VS_PACKET_SIZE;
	ringloop_timer_init(&cn->ctimer, ctimer_cb);
	ringloop_timer_init(&cn->itimer, itimer_cb);
	cn->last_rx_ns = ringloop_now_ns();
	cn->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (cn->fd < 0) {
		free(cn->rxbuf);
		free(cn);
		return NULL;
	}
	setsockopt(cn->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->conns[osd] = cn;
	c->stats.reconnects++;
	ringloop_timer_add(c->rl, &cn->ctimer,
			   ringloop_now_ns() + c->opts.peer_connect_timeout_ms * MS);
	r = connect(cn->fd, (struct sockaddr *)&ss, sl);
	if (r == 0) {
		start_hello(cn);
	} else if (errno == EINPROGRESS) {
		cn->state = VC_C_CONNECTING;
		conn_arm_out(cn);
	} else {
		conn_fail(cn, strerror(errno));
		return NULL;
	}
	return cn->state == VC_C_DEAD ? NULL : cn;
}

/* ---- routing ---- */

/* Where a part of a user op goes now, or 0 (wait): its PG's primary,
 * unless the PG is missing, paused, or has retained writes to replay
 * first (lazy mode; they must land before anything newer). */
static uint64_t part_target(struct vstor_client *c, struct vc_part *p)
{
	const struct vc_pg *pg;

	if (p->op->raw)
		return p->osd;
	if (!c->loaded)
		return 0;
	pg = vc_pg_of(c, p->op->inode, p->offset, NULL);
	if (!pg || !pg->exists || pg->paused || pg->replaying)
		return 0;
	return pg->target;
}

static void part_route(struct vstor_client *c, struct vc_part *p)
{
	uint64_t osd = part_target(c, p);
	uint64_t opcode = p->op->opcode;
	struct vc_conn *cn;
	int r;

	/* lazy mode: room for the copy first, so the limits are hard */
	if (osd && !c->imm_all && !p->op->raw && (opcode == VS_OP_WRITE || opcode == VS_OP_DELETE)) {
		r = vc_lazy_reserve(c, p);
		if (r == -EAGAIN) {
			osd = 0;
		} else if (r) {
			part_done(p, r, 0);
			return;
		}
	}
	cn = osd ? vc_conn_get(c, osd) : NULL;
	if (!cn) {
		if (p->op->raw && c->loaded && !vc_osd_find(c, osd)) {
			part_done(p, -EHOSTDOWN, 0);
			return;
		}
		wait_add(c, p);
		vc_retry_arm(c);
		return;
	}
	p->id = c->next_id++;
	if (p->op->raw) {
		p->pkt = p->op->raw->req;
		vs_le64_set(&p->pkt.hdr.id, p->id);
	} else {
		vs_req_init(&p->pkt, p->id, opcode);
	}
	if (!p->op->raw) {
		vs_le64_set(&p->pkt.rw.inode, p->op->inode);
		vs_le64_set(&p->pkt.rw.offset, p->offset);
		vs_le32_set(&p->pkt.rw.len, p->len);
		if (p->op->cas)
			vs_le64_set(&p->pkt.rw.version, p->op->cas);
	}
	if (!vc_conn_send(cn, p))
		part_retry(c, p);
}

/* ---- submission ---- */

static struct vc_op *op_get(struct vstor_client *c)
{
	struct vc_op *op = c->free_ops;

	if (op)
		c->free_ops = op->next_free;
	else if ((op = malloc(sizeof(*op)))) {
		op->xparts = NULL;
		op->xcap = 0;
	} else {
		return NULL;
	}
	memset(op, 0, offsetof(struct vc_op, inl));
	op->c = c;
	op->defer.cb = op_defer_cb;
	if (c->opts.op_timeout_ms)
		op->deadline_ns = ringloop_now_ns() + c->opts.op_timeout_ms * MS;
	return op;
}

static int op_alloc_parts(struct vc_op *op, unsigned nparts)
{
	op->nparts = nparts;
	if (nparts <= VC_INLINE_PARTS) {
		op->parts = op->inl;
		memset(op->inl, 0, nparts * sizeof(op->inl[0]));
		return 0;
	}
	/* a pooled op keeps its part array (up to VC_POOLED_PARTS): no
	 * malloc after warm-up */
	if (nparts > op->xcap) {
		struct vc_part *x = realloc(op->xparts, nparts * sizeof(*x));

		if (!x)
			return -ENOMEM;
		op->xparts = x;
		op->xcap = nparts;
	}
	op->parts = op->xparts;
	memset(op->parts, 0, nparts * sizeof(*op->parts));
	return 0;
}

/* Completes an op that has no parts in flight, on the next iteration. */
void vc_op_fail(struct vc_op *op, int64_t err)
{
	op->err = err;
	op->nparts = op->ndone = 0;
	ringloop_defer(op->c->rl, &op->defer);
}

/* Splits op at its pool's stripe boundaries and routes the parts; an op
 * whose pool is not known yet waits in c->pending. */
static void op_split(struct vstor_client *c, struct vc_op *op)
{
	const struct vc_pool *pool = c->loaded ? vc_pool_find(c, vs_inode_pool(op->inode)) : NULL;
	uint64_t stripe, end = op->offset + op->len, pos;
	unsigned n = 0;

	if (!pool) {
		op->pnext = c->pending;
		c->pending = op;
		vc_retry_arm(c);
		return;
	}
	if (inode_readonly(c, op)) {
		vc_op_fail(op, -EINVAL);
		return;
	}
	stripe = pool->stripe;
	if (op->opcode == VS_OP_DELETE && (op->offset % stripe || op->len % stripe)) {
		vc_op_fail(op, -EINVAL);
		return;
	}
	for (pos = op->offset; pos < end; pos = (pos / stripe + 1) * stripe)
		n++;
	if (op->cas && n > 1) {
		vc_op_fail(op, -EINVAL);	/* a version is per object */
		return;
	}
	if (op_alloc_parts(op, n)) {
		vc_op_fail(op, -ENOMEM);
		return;
	}
	n = 0;
	for (pos = op->offset; pos < end; n++) {
		uint64_t next = (pos / stripe + 1) * stripe;
		struct vc_part *p = &op->parts[n];

		if (next > end)
			next = end;
		p->op = op;
		p->offset = pos;
		p->len = op->opcode == VS_OP_DELETE ? 0 : (uint32_t)(next - pos);
		p->buf = op->buf ? op->buf + (pos - op->offset) : NULL;
		pos = next;
	}
	if (op->opcode == VS_OP_DELETE)
		op->len = 0;
	for (unsigned i = 0; i < op->nparts; i++)
		part_route(c, &op->parts[i]);
}

int vc_submit_rw(struct vstor_client *c, uint64_t opcode, uint64_t inode, uint64_t offset,
		 uint64_t len, uint8_t *buf, uint8_t *lbits, uint64_t lbits_base, uint64_t cas,
		 unsigned flags, vstor_cb *cb, void *arg)
{
	struct vc_op *op;
	const struct vc_inode *in;

	if (!c || !cb || !vs_inode_pool(inode) || !vs_inode_num(inode) || offset + len < offset ||
	    !len || len > ((uint64_t)1 << 48))
		return -EINVAL;
	if (c->destroying)
		return -ECANCELED;
	if (opcode != VS_OP_DELETE && (offset % c->bitmap_gran || len % c->bitmap_gran))
		return -EINVAL;
	if (opcode != VS_OP_READ && !(flags & VSTOR_RW_IGNORE_READONLY) &&
	    (in = vc_inode_find(c, inode)) && in->readonly)
		return -EINVAL;
	op = op_get(c);
	if (!op)
		return -ENOMEM;
	op->opcode = opcode;
	op->inode = inode;
	op->offset = offset;
	op->len = len;
	op->buf = buf;
	op->lbits = lbits;
	op->lbits_base = lbits_base;
	op->cas = cas;
	op->flags = flags;
	op->cb = cb;
	op->arg = arg;
	c->inflight_ops++;
	c->stats.ops++;
	op_split(c, op);
	return 0;
}

static int submit_rw(struct vstor_client *c, uint64_t opcode, uint64_t inode, uint64_t offset,
		     uint64_t len, uint8_t *buf, vstor_cb *cb, void *arg)
{
	return vc_submit_rw(c, opcode, inode, offset, len, buf, NULL, 0, 0, 0, cb, arg);
}

/* Images without parents (the common case, once loaded) go straight to
 * one op; layered ones (or unknown yet) through client_layer.c. */
int vstor_read(struct vstor_client *c, uint64_t inode, uint64_t offset, uint64_t len,
	       void *buf, vstor_cb *cb, void *arg)
{
	const struct vc_inode *in;

	if (!buf || !c)
		return -EINVAL;
	if (c->loaded && (!(in = vc_inode_find(c, inode)) || !in->parent))
		return submit_rw(c, VS_OP_READ, inode, offset, len, buf, cb, arg);
	return vc_layer_read(c, inode, offset, len, buf, NULL, cb, arg);
}

int vstor_read_ext(struct vstor_client *c, uint64_t inode, uint64_t offset, uint64_t len,
		   void *buf, uint8_t *bits, unsigned flags, vstor_cb *cb, void *arg)
{
	if (!buf || !c || (flags & ~VSTOR_RW_NO_PARENTS))
		return -EINVAL;
	if (flags & VSTOR_RW_NO_PARENTS)
		return vc_submit_rw(c, VS_OP_READ, inode, offset, len, buf, bits, offset, 0, 0,
				    cb, arg);
	return vc_layer_read(c, inode, offset, len, buf, bits, cb, arg);
}

int vstor_delete_ext(struct vstor_client *c, uint64_t inode, uint64_t offset, uint64_t len,
		     unsigned flags, vstor_cb *cb, void *arg)
{
	if (flags & ~VSTOR_RW_IGNORE_READONLY)
		return -EINVAL;
	return vc_submit_rw(c, VS_OP_DELETE, inode, offset, len, NULL, NULL, 0, 0, flags, cb, arg);
}

int vstor_write_ext(struct vstor_client *c, uint64_t inode, uint64_t offset, uint64_t len,
		    const void *buf, uint64_t cas, unsigned flags, vstor_cb *cb, void *arg)
{
	if (!buf || (flags & ~VSTOR_RW_IGNORE_READONLY))
		return -EINVAL;
	return vc_submit_rw(c, VS_OP_WRITE, inode, offset, len, (uint8_t *)(uintptr_t)buf, NULL,
			    0, cas, flags, cb, arg);
}

int vstor_write(struct vstor_client *c, uint64_t inode, uint64_t offset, uint64_t len,
		const void *buf, vstor_cb *cb, void *arg)
{
	if (!buf)
		return -EINVAL;
	return submit_rw(c, VS_OP_WRITE, inode, offset, len, (uint8_t *)(uintptr_t)buf, cb, arg);
}

int vstor_delete(struct vstor_client *c, uint64_t inode, uint64_t offset, uint64_t len,
		 vstor_cb *cb, void *arg)
{
	return submit_rw(c, VS_OP_DELETE, inode, offset, len, NULL, cb, arg);
}

int vstor_sync(struct vstor_client *c, vstor_cb *cb, void *arg)
{
	struct vc_op *op;

	if (!c || !cb)
		return -EINVAL;
	if (c->destroying)
		return -ECANCELED;
	op = op_get(c);
	if (!op)
		return -ENOMEM;
	op->opcode = VS_OP_SYNC;
	op->cb = cb;
	op->arg = arg;
	c->inflight_ops++;
	c->stats.ops++;
	vc_lazy_sync(c, op);
	return 0;
}

int vc_raw_submit(struct vstor_client *c, uint64_t osd, struct vc_raw *raw, vstor_cb *cb,
		  void *arg)
{
	struct vc_op *op;
	uint64_t opcode = raw ? vs_le64_get(raw->req.hdr.opcode) : 0;

	/* header-only requests whose reply payload the header describes */
	if (!c || !raw || !cb || !osd || vs_le64_get(raw->req.hdr.magic) != VS_REQ_MAGIC ||
	    (opcode != VS_OP_SEC_LIST && opcode != VS_OP_SEC_READ && opcode != VS_OP_SEC_SYNC &&
	     opcode != VS_OP_SEC_DELETE && opcode != VS_OP_PING))
		return -EINVAL;
	if (c->destroying)
		return -ECANCELED;
	if (c->loaded && !vc_osd_find(c, osd))
		return -EHOSTDOWN;
	op = op_get(c);
	if (!op)
		return -ENOMEM;
	raw->payload = NULL;
	raw->payload_len = 0;
	op->opcode = opcode;
	op->raw = raw;
	op->cb = cb;
	op->arg = arg;
	op->nparts = 1;
	op->parts = op->inl;
	memset(op->inl, 0, sizeof(op->inl[0]));
	op->inl[0].op = op;
	op->inl[0].osd = osd;
	c->inflight_ops++;
	c->stats.ops++;
	part_route(c, &op->inl[0]);
	return 0;
}

/* ---- blocking wrappers ---- */

struct waiter {
	bool done;
	int64_t rv;
};

static void waiter_cb(void *arg, int64_t rv, uint64_t version)
{
	struct waiter *w = arg;

	w->done = true;
	w->rv = rv;
}

static int64_t wait_for(struct vstor_client *c, int r, struct waiter *w)
{
	if (r)
		return r;
	while (!w->done)
		ringloop_run_once(c->rl, 100 * (int64_t)MS);
	return w->rv;
}

int64_t vstor_read_sync(struct vstor_client *c, uint64_t inode, uint64_t offset,
			uint64_t len, void *buf)
{
	struct waiter w = { 0 };

	return wait_for(c, vstor_read(c, inode, offset, len, buf, waiter_cb, &w), &w);
}

int64_t vstor_write_sync(struct vstor_client *c, uint64_t inode, uint64_t offset,
			 uint64_t len, const void *buf)
{
	struct waiter w = { 0 };

	return wait_for(c, vstor_write(c, inode, offset, len, buf, waiter_cb, &w), &w);
}

int64_t vstor_delete_sync(struct vstor_client *c, uint64_t inode, uint64_t offset, uint64_t len)
{
	struct waiter w = { 0 };

	return wait_for(c, vstor_delete(c, inode, offset, len, waiter_cb, &w), &w);
}

int64_t vstor_sync_sync(struct vstor_client *c)
{
	struct waiter w = { 0 };

	return wait_for(c, vstor_sync(c, waiter_cb, &w), &w);
}

/* ---- client ---- */

/* The loop-side state of a client whose opts are set (also used by
 * tests/fuzz/fuzz_client_rx.c). */
static void client_init(struct vstor_client *c)
{
	vc_lazy_init(c);
	c->next_id = 1;
	idmap_init(&c->ids);
	ringloop_timer_init(&c->retry_timer, retry_cb);
	c->kick.cb = kick_cb;
	c->reap.cb = reap_cb;
	c->flush.cb = flush_cb;
}

struct vstor_client *vstor_client_create(const struct vstor_client_opts *opts,
					 struct ringloop *rl, char *err, size_t errlen)
{
	struct vstor_client *c;

	if (!opts || !opts->etcd || !opts->etcd->n_endpoints) {
		snprintf(err, errlen, "no etcd endpoints");
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->opts = *opts;
	c->opts.etcd = NULL;
	if (!c->opts.up_wait_retry_interval_ms)
		c->opts.up_wait_retry_interval_ms = 500;
	if (c->opts.up_wait_retry_interval_ms < 50)
		c->opts.up_wait_retry_interval_ms = 50;
	if (!c->opts.peer_connect_timeout_ms)
		c->opts.peer_connect_timeout_ms = 5000;
	if (!c->opts.osd_idle_timeout_ms)
		c->opts.osd_idle_timeout_ms = 5000;
	if (!c->opts.osd_ping_timeout_ms)
		c->opts.osd_ping_timeout_ms = 5000;
	if (!c->opts.max_dirty_bytes)
		c->opts.max_dirty_bytes = 32ull << 20;
	if (!c->opts.max_dirty_ops)
		c->opts.max_dirty_ops = 1024;
	client_init(c);
	/* copy the etcd configuration */
	etcd_config_init(&c->ecfg);
	c->ecfg.quick_timeout_ms = opts->etcd->quick_timeout_ms;
	c->ecfg.slow_timeout_ms = opts->etcd->slow_timeout_ms;
	c->ecfg.max_attempts = opts->etcd->max_attempts;
	c->ecfg.keepalive_interval_s = opts->etcd->keepalive_interval_s;
	c->ecfg.max_body = opts->etcd->max_body;
	if (etcd_config_set(&c->ecfg.prefix, opts->etcd->prefix) ||
	    etcd_config_set(&c->ecfg.ca_file, opts->etcd->ca_file) ||
	    etcd_config_set(&c->ecfg.cert_file, opts->etcd->cert_file) ||
	    etcd_config_set(&c->ecfg.key_file, opts->etcd->key_file) ||
	    etcd_config_set(&c->ecfg.user, opts->etcd->user) ||
	    etcd_config_set(&c->ecfg.password, opts->etcd->password) ||
	    !(c->ecfg.endpoints = calloc(opts->etcd->n_endpoints, sizeof(char *)))) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (size_t i = 0; i < opts->etcd->n_endpoints; i++) {
		if (!(c->ecfg.endpoints[i] = strdup(opts->etcd->endpoints[i]))) {
			snprintf(err, errlen, "out of memory");
			goto fail;
		}
		c->ecfg.n_endpoints++;
	}
	c->rl = rl;
	if (!rl) {
		c->rl = ringloop_create(512);
		if (!c->rl) {
			snprintf(err, errlen, "io_uring: %s", strerror(errno));
			goto fail;
		}
		c->own_rl = true;
	}
	if (vc_etcd_start(c, err, errlen))
		goto fail;
	return c;
fail:
	if (c->own_rl)
		ringloop_destroy(c->rl);
	etcd_config_free(&c->ecfg);
	free(c);
	return NULL;
}

struct vstor_client *vstor_client_create_cfg(const struct cfg *cfg, struct ringloop *rl,
					     char *err, size_t errlen)
{
	struct etcd_config ec;
	struct vstor_client_opts o = { .etcd = &ec };
	struct vstor_client *c;

	etcd_config_init(&ec);
	if (etcd_config_from_cfg(&ec, cfg, err, errlen)) {
		etcd_config_free(&ec);
		return NULL;
	}
	if (cfg_is_known(cfg, "up_wait_retry_interval"))
		o.up_wait_retry_interval_ms = cfg_ms(cfg, "up_wait_retry_interval");
	if (cfg_is_known(cfg, "peer_connect_timeout"))
		o.peer_connect_timeout_ms = cfg_ms(cfg, "peer_connect_timeout");
	if (cfg_is_known(cfg, "osd_idle_timeout"))
		o.osd_idle_timeout_ms = cfg_ms(cfg, "osd_idle_timeout");
	if (cfg_is_known(cfg, "osd_ping_timeout"))
		o.osd_ping_timeout_ms = cfg_ms(cfg, "osd_ping_timeout");
	if (cfg_is_known(cfg, "client_op_timeout"))
		o.op_timeout_ms = cfg_ms(cfg, "client_op_timeout");
	if (cfg_is_known(cfg, "client_max_dirty_bytes"))
		o.max_dirty_bytes = cfg_u64(cfg, "client_max_dirty_bytes");
	if (cfg_is_known(cfg, "client_max_dirty_ops"))
		o.max_dirty_ops = cfg_u64(cfg, "client_max_dirty_ops");
	c = vstor_client_create(&o, rl, err, errlen);
	etcd_config_free(&ec);
	return c;
}

void vstor_client_destroy(struct vstor_client *c)
{
	uint64_t deadline;

	if (!c)
		return;
	c->destroying = true;
	ringloop_timer_del(c->rl, &c->retry_timer);
	ringloop_defer_cancel(c->rl, &c->kick);
	ringloop_defer_cancel(c->rl, &c->flush);
	for (size_t k = 0; k < c->nconns; k++)
		if (c->conns[k])
			conn_fail(c->conns[k], "client destroyed");
	while (c->pending) {
		struct vc_op *op = c->pending;

		c->pending = op->pnext;
		vc_op_fail(op, -ECANCELED);
	}
	/* everything in flight is now waiting: cancel it */
	while (c->wait_head) {
		struct vc_part *p = c->wait_head;

		wait_del(c, p);
		part_done(p, -ECANCELED, 0);
	}
	vc_lazy_destroy(c);
	/* deferred completions (sync) and dead connections' polls */
	deadline = ringloop_now_ns() + 1000 * MS;
	while ((c->inflight_ops || c->dead) && ringloop_now_ns() < deadline)
		ringloop_run_once(c->rl, 10 * (int64_t)MS);
	vc_etcd_stop(c);
	while (c->free_ops) {
		struct vc_op *op = c->free_ops;

		c->free_ops = op->next_free;
		free(op->xparts);
		free(op);
	}
	free(c->conns);
	idmap_free(&c->ids);
	etcd_config_free(&c->ecfg);
	if (c->own_rl)
		ringloop_destroy(c->rl);
	free(c);
}

struct ringloop *vstor_client_ringloop(struct vstor_client *c)
{
	return c->rl;
}

int vstor_client_run_once(struct vstor_client *c, int64_t timeout_ns)
{
	return ringloop_run_once(c->rl, timeout_ns);
}

int vstor_client_fd(struct vstor_client *c)
{
	return ringloop_event_fd(c->rl);
}

int vstor_client_timeout_ms(struct vstor_client *c)
{
	int64_t ns = ringloop_timeout_ns(c->rl);

	if (ns < 0)
		return -1;
	/* rounded up: waking before the timer is due would only spin */
	ns = (ns + (int64_t)MS - 1) / (int64_t)MS;
	return ns > INT_MAX ? INT_MAX : (int)ns;
}

bool vstor_client_ready(const struct vstor_client *c)
{
	return c->loaded;
}

int vstor_client_wait_ready(struct vstor_client *c, int timeout_ms)
{
	uint64_t deadline = ringloop_now_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * MS;

	while (!c->loaded) {
		if (timeout_ms >= 0 && ringloop_now_ns() >= deadline)
			return -ETIMEDOUT;
		ringloop_run_once(c->rl, 50 * (int64_t)MS);
	}
	return 0;
}

int vstor_image_lookup(struct vstor_client *c, const char *name, uint64_t *inode,
		       uint64_t *size, bool *readonly)
{
	for (size_t i = 0; i < c->ninodes; i++)
		if (!strcmp(c->inodes[i].name, name)) {
			if (inode)
				*inode = c->inodes[i].inode;
			if (size)
				*size = c->inodes[i].size;
			if (readonly)
				*readonly = c->inodes[i].readonly;
			return 0;
		}
	return -ENOENT;
}

void vstor_client_get_stats(const struct vstor_client *c, struct vstor_client_stats *st)
{
	*st = c->stats;
	vc_lazy_stats(c, st);
}

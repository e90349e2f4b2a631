/* OSD messenger: TCP listener, per-connection receive through a 64 KiB
 * stream buffer (msgr_rx.c), per-connection outbox with one sendmsg in
 * flight, and teardown that waits for the connection's ops. */
#include "osd.h"
#include "config.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void conn_recv(struct osd_conn *c);
static void conn_flush(struct osd_conn *c);
static void live_arm(struct osd_conn *c);

int osd_listen(struct osd *osd, const char *addr, int port, int *bound_port)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd, one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		log_err("bind_address \"%s\" is not an IPv4 address", addr);
		return -EINVAL;
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		log_err("socket: %s", strerror(errno));
		return -errno;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
		int e = errno;

		log_err("cannot listen on %s:%d: %s", addr, port, strerror(e));
		close(fd);
		return -e;
	}
	osd->listen_fd = fd;
	*bound_port = ntohs(sa.sin_port);
	return 0;
}

/* ---- connection lifetime ---- */

static void conn_maybe_free(struct osd_conn *c)
{
	struct osd *osd = c->osd;

	if (!c->closing || c->recv_inflight || c->send_inflight || c->connect_inflight || c->nops)
		return;
	ringloop_defer_cancel(osd->rl, &c->flush_d);
	ringloop_timer_del(osd->rl, &c->live_timer);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		osd->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	osd->nconns--;
	osd->stats.closed++;
	free(c->rbuf);
	free(c);
}

static void sub_forget(struct osd_op *op)
{
	if (op->sub_id) {
		idmap_del(&op->osd->subs, op->sub_id);
		op->sub_id = 0;
	}
}

static void sub_finish(struct osd_op *op)
{
	if (!op->sub_sent || !op->sub_done)
		return;
	op->sub_cb(op);
	free(op->rbuf);
	op->rbuf = NULL;
	osd_op_free(op->osd, op);
}

static void sub_fail(struct osd_op *op)
{
	sub_forget(op);
	vs_reply_init(&op->reply, &op->req, -EPIPE);
	op->sub_done = true;
	sub_finish(op);
}

static void conn_recv_resume(struct osd_conn *c)
{
	if (c->rx_paused && !c->closing && c->nops <= OSD_CONN_MAX_OPS / 2 &&
	    c->mem <= OSD_CONN_MAX_MEM / 2) {
		c->rx_paused = false;
		conn_recv(c);
	}
}

static void release_op(struct osd_conn *c, struct osd_op *op)
{
	c->nops--;
	if (op->is_sub) {
		op->sub_sent = true;
		sub_finish(op);
		return;
	}
	c->mem -= op->mem;
	osd_op_free(c->osd, op);
	conn_recv_resume(c);
}

static void sub_unlink(struct osd_conn *c, struct osd_op *op)
{
	if (op->sub_prev)
		op->sub_prev->sub_next = op->sub_next;
	else
		c->subs = op->sub_next;
	if (op->sub_next)
		op->sub_next->sub_prev = op->sub_prev;
	else
		c->subs_tail = op->sub_prev;
	op->sub_prev = op->sub_next = NULL;
}

void osd_conn_close(struct osd_conn *c, const char *why)
{
	struct osd_op *op;

	if (c->closing)
		return;
	c->closing = true;
	log_debug("connection %llu (fd %d) closed: %s", (unsigned long long)c->serial, c->fd,
		  why);
	/* Wakes the recv and sendmsg in flight; their CQEs finish teardown. */
	shutdown(c->fd, SHUT_RDWR);
	if (c->rx_op) {
		release_op(c, c->rx_op);
		c->rx_op = NULL;
	}
	if (c->peer_osd) {
		osd_pg_conn_closed(c->osd, c);
		if (c->rx_sub) {
			op = c->rx_sub;
			c->rx_sub = NULL;
			sub_fail(op);
		}
		while ((op = c->subs)) {
			sub_unlink(c, op);
			sub_fail(op);
		}
	}
	/* Queued replies no sendmsg refers to can go now; with a sendmsg in
	 * flight its completion frees them. */
	if (!c->send_inflight) {
		while ((op = c->out_head)) {
			c->out_head = op->next;
			release_op(c, op);
		}
		c->out_tail = NULL;
	}
	conn_maybe_free(c);
}

/* ---- receive ---- */

static int rx_request(void *ctx, const union vs_packet *p, int64_t check, uint64_t frame_len,
		      struct iovec dst[2])
{
	struct osd_conn *c = ctx;
	struct osd_op *op = osd_op_alloc(c->osd);

	if (!op) {
		log_err("out of memory for ops");
		return -1;
	}
	op->conn = c;
	c->nops++;
	op->req = *p;
	op->opcode = vs_le64_get(p->hdr.opcode);
	op->check = check;
	c->rx_op = op;
	if (osd_op_prepare(c->osd, op, frame_len, dst) < 0)
		return -1;
	/* charged until released: the payload buffers, and what a read
	 * will allocate for its reply */
	op->mem = op->buf_size + op->bmp_size;
	if (!op->err && check >= 0 && (op->opcode == VS_OP_READ || op->opcode == VS_OP_SEC_READ))
		op->mem += vs_le32_get(op->opcode == VS_OP_READ ? p->rw.len : p->sec_rw.len);
	c->mem += op->mem;
	return 0;
}

static int rx_reply(void *ctx, const union vs_packet *p, struct iovec dst[2])
{
	struct osd_conn *c = ctx;
	uint64_t id = vs_le64_get(p->hdr.id);
	struct osd_op *op;
	int64_t n;

	op = id ? idmap_get(&c->osd->subs, id) : NULL;
	if (!op || op->conn != c) {
		c->osd->stats.bad_frames++;
		log_warn("connection %llu: reply with id %llu that matches no request, closing",
			 (unsigned long long)c->serial, (unsigned long long)id);
		return -1;
	}
	n = vs_check_reply(p, op->opcode);
	if (n < 0) {
		log_warn("connection %llu: bad reply to %s: %s, closing",
			 (unsigned long long)c->serial, vs_op_name(op->opcode), vs_frame_err_str(n));
		return -1;
	}
	sub_unlink(c, op);
	sub_forget(op);
	op->reply = *p;
	if (n > 0) {
		op->rbuf = malloc((size_t)n);
		if (!op->rbuf) {
			sub_fail(op);
			return -1;
		}
		dst[0].iov_base = op->rbuf;
		dst[0].iov_len = (size_t)n;
	}
	c->rx_sub = op;
	return 0;
}

static int rx_complete(void *ctx)
{
	struct osd_conn *c = ctx;
	struct osd_op *op = c->rx_op;

	c->rx_op = NULL;
	if (c->rx_sub) {
		op = c->rx_sub;
		c->rx_sub = NULL;
		op->sub_done = true;
		sub_finish(op);
		return 0;
	}
	if (op) {
		c->osd->stats.ops++;
		osd_op_exec(c->osd, op);
	}
	return 0;
}

static const struct msgr_rx_ops rx_ops = {
	.request = rx_request,
	.reply = rx_reply,
	.complete = rx_complete,
};

static void recv_cb(struct ringloop_op *rop, int res, uint32_t flags)
{
	struct osd_conn *c = container_of(rop, struct osd_conn, recv_rop);

	c->recv_inflight = false;
	if (c->closing) {
		conn_maybe_free(c);
		return;
	}
	if (res == -EINTR || res == -EAGAIN) {
		conn_recv(c);
		return;
	}
	if (res <= 0) {
		osd_conn_close(c, res ? strerror(-res) : "peer closed");
		return;
	}
	c->last_rx_ns = ringloop_now_ns();
	if (msgr_rx_advance(&c->rx, (size_t)res) < 0) {
		c->osd->stats.bad_frames++;
		if (!c->closing)
			log_warn("connection %llu: bad frame (garbage, bad magic or length), closing",
				 (unsigned long long)c->serial);
		osd_conn_close(c, "bad frame");
		return;
	}
	if (!c->peer_osd && (c->nops >= OSD_CONN_MAX_OPS || c->mem >= OSD_CONN_MAX_MEM)) {
		c->rx_paused = true;	/* conn_recv_resume() goes on */
		return;
	}
	conn_recv(c);
}

static void conn_recv(struct osd_conn *c)
{
	struct io_uring_sqe *sqe;
	uint8_t *p;
	size_t len;

	if (c->closing || c->recv_inflight)
		return;
	msgr_rx_space(&c->rx, &p, &len);
	if (len > (1u << 30))
		len = 1u << 30;
	sqe = ringloop_get_sqe(c->osd->rl);
	io_uring_prep_recv(sqe, c->fd, p, len, c->rx.direct ? MSG_WAITALL : 0);
	ringloop_sqe_set_op(sqe, &c->recv_rop);
	c->recv_inflight = true;
}

/* ---- send ---- */

static void flush_deferred(struct ringloop_defer *d)
{
	conn_flush(container_of(d, struct osd_conn, flush_d));
}

static void send_cb(struct ringloop_op *rop, int res, uint32_t flags)
{
	struct osd_conn *c = container_of(rop, struct osd_conn, send_rop);
	size_t done = res > 0 ? (size_t)res : 0;
	struct osd_op *op;

	c->send_inflight = false;
	if (res < 0 && res != -EINTR && res != -EAGAIN && !c->closing) {
		/* With no sendmsg in flight, closing frees the outbox. */
		osd_conn_close(c, strerror(-res));
		return;
	}
	if (c->closing) {
		while ((op = c->out_head)) {
			c->out_head = op->next;
			release_op(c, op);
		}
		c->out_tail = NULL;
		conn_maybe_free(c);
		return;
	}
	/* Retire fully sent replies from the head. */
	while (done && (op = c->out_head)) {
		size_t left = op->reply_len - c->out_head_off;

		if (done < left) {
			c->out_head_off += done;
			break;
		}
		done -= left;
		c->out_head_off = 0;
		c->out_head = op->next;
		if (!c->out_head)
			c->out_tail = NULL;
		release_op(c, op);
	}
	if (c->out_head)
		ringloop_prewait(c->osd->rl, &c->flush_d);
}

static void conn_flush(struct osd_conn *c)
{
	struct io_uring_sqe *sqe;
	struct osd_op *op;
	size_t skip = c->out_head_off;
	int n = 0;

	if (c->closing || c->send_inflight || c->connect_inflight || !c->out_head)
		return;
	for (op = c->out_head; op && n + op->niov <= OSD_SEND_IOV; op = op->next) {
		for (int i = 0; i < op->niov; i++) {
			struct iovec v = op->iov[i];

			if (skip >= v.iov_len) {
				skip -= v.iov_len;
				continue;
			}
			v.iov_base = (uint8_t *)v.iov_base + skip;
			v.iov_len -= skip;
			skip = 0;
			c->send_iov[n++] = v;
		}
	}
	memset(&c->send_msg, 0, sizeof(c->send_msg));
	c->send_msg.msg_iov = c->send_iov;
	c->send_msg.msg_iovlen = (size_t)n;
	sqe = ringloop_get_sqe(c->osd->rl);
	io_uring_prep_sendmsg(sqe, c->fd, &c->send_msg, MSG_NOSIGNAL | MSG_WAITALL);
	ringloop_sqe_set_op(sqe, &c->send_rop);
	c->send_inflight = true;
	/* Runs right before the wait (prewait): when this sendmsg carries the
	 * whole outbox and its completion resumes nothing, the wait need not
	 * return for it. */
	if (!op && !c->rx_paused)
		ringloop_sqe_quiet(c->osd->rl);
}

/* Queues op's iovecs on the connection's outbox. One sendmsg per
 * connection per loop iteration carries everything queued meanwhile: the
 * flush is a prewait callback, so it runs after all of the iteration's
 * callbacks, right before the wait that submits it. */
static void outbox_push(struct osd_conn *c, struct osd_op *op)
{
	op->reply_len = 0;
	for (int i = 0; i < op->niov; i++)
		op->reply_len += op->iov[i].iov_len;
	op->next = NULL;
	if (c->out_tail)
		c->out_tail->next = op;
	else
		c->out_head = op;
	c->out_tail = op;
	if (!c->send_inflight)
		ringloop_prewait(c->osd->rl, &c->flush_d);
}

void osd_send_reply(struct osd_op *op)
{
	struct osd_conn *c = op->conn;

	osd_op_account(c->osd, op);
	if (c->closing) {
		release_op(c, op);
		conn_maybe_free(c);
		return;
	}
	outbox_push(c, op);
}

/* ---- connection setup ---- */

static struct osd_conn *conn_new(struct osd *osd, int fd)
{
	struct osd_conn *c = calloc(1, sizeof(*c));

	if (c)
		c->rbuf = malloc(MSGR_RX_BUF_SIZE);
	if (!c || !c->rbuf) {
		free(c);
		return NULL;
	}
	c->osd = osd;
	c->fd = fd;
	c->serial = ++osd->conn_serial;
	c->recv_rop.cb = recv_cb;
	c->send_rop.cb = send_cb;
	c->flush_d.cb = flush_deferred;
	msgr_rx_init(&c->rx, c->rbuf, MSGR_RX_BUF_SIZE, &rx_ops, c);
	c->next = osd->conns;
	if (c->next)
		c->next->prev = c;
	osd->conns = c;
	osd->nconns++;
	return c;
}

/* ---- liveness of peer connections ---- */

static uint64_t cfg_ns(const struct osd *osd, const char *key, uint64_t def_ms)
{
	uint64_t ms = osd->cfg ? cfg_ms(osd->cfg, key) : def_ms;

	return ms * 1000000ull;
}

static void live_arm(struct osd_conn *c)
{
	uint64_t step = cfg_ns(c->osd, "osd_ping_timeout", 5000) / 4;

	if (step > 1000000000ull)
		step = 1000000000ull;
	if (step < 50000000ull)
		step = 50000000ull;
	ringloop_timer_add(c->osd->rl, &c->live_timer, ringloop_now_ns() + step);
}

static void ping_cb(struct osd_op *sub)
{
	struct osd_conn *c = sub->conn;
	int64_t rv = (int64_t)vs_le64_get(sub->reply.reply.retval);

	c->ping = NULL;
	if (rv != 0 && !c->closing) {
		log_warn("OSD %llu: PING failed (%s), dropping the connection",
			 (unsigned long long)c->peer_osd, strerror((int)-rv));
		osd_conn_close(c, "ping failed");
	}
}

static void live_cb(struct ringloop_timer *t)
{
	struct osd_conn *c = container_of(t, struct osd_conn, live_timer);
	struct osd *osd = c->osd;
	uint64_t now = ringloop_now_ns();
	uint64_t idle = cfg_ns(osd, "osd_idle_timeout", 5000);
	uint64_t ping = cfg_ns(osd, "osd_ping_timeout", 5000);
	uint64_t op_to = cfg_ns(osd, "peer_op_timeout", 60000);
	struct osd_op *old = c->subs;

	if (c->closing)
		return;
	if (c->ping && now - c->ping->start_ns >= ping) {
		log_warn("OSD %llu: no PING reply in %llu ms, dropping the connection",
			 (unsigned long long)c->peer_osd, (unsigned long long)(ping / 1000000));
		osd_conn_close(c, "ping timeout");
		return;
	}
	if (op_to && old && old != c->ping && now - old->start_ns >= op_to) {
		log_warn("OSD %llu: %s unanswered for %llu s, dropping the connection",
			 (unsigned long long)c->peer_osd, vs_op_name(old->opcode),
			 (unsigned long long)(op_to / 1000000000ull));
		osd_conn_close(c, "peer_op_timeout");
		return;
	}
	if (!c->ping && idle && now - c->last_rx_ns >= idle) {
		struct osd_op *p = osd_sub_new(osd, VS_OP_PING, ping_cb);

		if (p) {
			c->ping = p;
			osd_send_sub(c, p);
			if (c->closing)
				return;
		}
	}
	live_arm(c);
}

static void connect_cb(struct ringloop_op *rop, int res, uint32_t flags)
{
	struct osd_conn *c = container_of(rop, struct osd_conn, connect_rop);

	c->connect_inflight = false;
	if (c->closing) {
		conn_maybe_free(c);
		return;
	}
	if (res < 0) {
		log_info("connection to OSD %llu failed: %s", (unsigned long long)c->peer_osd,
			 strerror(-res));
		osd_conn_close(c, strerror(-res));
		return;
	}
	log_info("connected to OSD %llu", (unsigned long long)c->peer_osd);
	c->last_rx_ns = ringloop_now_ns();
	live_arm(c);
	conn_recv(c);
	if (c->out_head)
		ringloop_prewait(c->osd->rl, &c->flush_d);
}

struct osd_conn *osd_connect(struct osd *osd, uint64_t num, const char *addr, int port)
{
	struct sockaddr_in *sa;
	struct io_uring_sqe *sqe;
	struct osd_conn *c;
	int fd, one = 1;

	if (osd->stopping)
		return NULL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return NULL;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = conn_new(osd, fd);
	if (!c) {
		close(fd);
		return NULL;
	}
	c->peer_osd = num;
	ringloop_timer_init(&c->live_timer, live_cb);
	sa = (struct sockaddr_in *)(void *)&c->peer_sa;
	sa->sin_family = AF_INET;
	sa->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &sa->sin_addr) != 1) {
		c->closing = true;
		conn_maybe_free(c);
		return NULL;
	}
	c->connect_rop.cb = connect_cb;
	sqe = ringloop_get_sqe(osd->rl);
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)sa, sizeof(*sa));
	ringloop_sqe_set_op(sqe, &c->connect_rop);
	c->connect_inflight = true;
	return c;
}

struct osd_op *osd_sub_new(struct osd *osd, uint64_t opcode, void (*cb)(struct osd_op *))
{
	struct osd_op *op = osd_op_alloc(osd);

	if (!op)
		return NULL;
	op->is_sub = true;
	op->sub_cb = cb;
	op->parent = NULL;
	op->pg = NULL;
	vs_req_init(&op->req, ++osd->sub_next_id, opcode);
	op->opcode = opcode;
	op->iov[0].iov_base = &op->req;
	op->iov[0].iov_len = VS_PACKET_SIZE;
	op->niov = 1;
	return op;
}

void osd_send_sub(struct osd_conn *c, struct osd_op *op)
{
	uint64_t id = vs_le64_get(op->req.hdr.id);

	op->is_sub = true;
	op->sub_sent = op->sub_done = false;
	op->conn = c;
	op->sub_prev = op->sub_next = NULL;
	op->sub_id = 0;
	op->start_ns = ringloop_now_ns();
	if (c->closing || idmap_put(&c->osd->subs, id, op)) {
		op->sub_sent = true;
		sub_fail(op);
		return;
	}
	op->sub_id = id;
	c->nops++;
	/* oldest first: the liveness timer looks at the head */
	op->sub_prev = c->subs_tail;
	if (c->subs_tail)
		c->subs_tail->sub_next = op;
	else
		c->subs = op;
	c->subs_tail = op;
	outbox_push(c, op);
}

/* ---- accept ---- */

static void accept_arm(struct osd *osd);

static void accept_retry_cb(struct ringloop_timer *t)
{
	accept_arm(container_of(t, struct osd, accept_retry));
}

static void accept_cb(struct ringloop_op *rop, int res, uint32_t flags)
{
	struct osd *osd = container_of(rop, struct osd, accept_rop);
	struct osd_conn *c;
	int one = 1;

	osd->accept_inflight = false;
	if (res < 0) {
		if (osd->stopping)
			return;
		if (res != -EINTR && res != -EAGAIN && res != -ECONNABORTED) {
			log_err("accept: %s", strerror(-res));
			ringloop_timer_add(osd->rl, &osd->accept_retry,
					   ringloop_now_ns() + 100000000ull);
			return;
		}
		accept_arm(osd);
		return;
	}
	if (osd->stopping) {
		close(res);
		return;
	}
	setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c = conn_new(osd, res);
	if (!c) {
		log_err("out of memory for a connection");
		close(res);
		accept_arm(osd);
		return;
	}
	osd->stats.accepted++;
	log_debug("connection %llu accepted (fd %d)", (unsigned long long)c->serial, res);
	conn_recv(c);
	accept_arm(osd);
}

static void accept_arm(struct osd *osd)
{
	struct io_uring_sqe *sqe;

	if (osd->stopping || osd->accept_inflight)
		return;
	sqe = ringloop_get_sqe(osd->rl);
	io_uring_prep_accept(sqe, osd->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	ringloop_sqe_set_op(sqe, &osd->accept_rop);
	osd->accept_inflight = true;
}

void osd_accept_start(struct osd *osd)
{
	osd->accept_rop.cb = accept_cb;
	ringloop_timer_init(&osd->accept_retry, accept_retry_cb);
	accept_arm(osd);
}

void osd_msgr_shutdown(struct osd *osd)
{
	struct osd_conn *c, *next;

	osd->stopping = true;
	ringloop_timer_del(osd->rl, &osd->accept_retry);
	if (osd->listen_fd >= 0) {
		/* Wakes the accept in flight (it completes with an error). */
		shutdown(osd->listen_fd, SHUT_RDWR);
	}
	for (c = osd->conns; c; c = next) {
		next = c->next;
		osd_conn_close(c, "OSD shutting down");
	}
}

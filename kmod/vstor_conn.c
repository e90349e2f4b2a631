// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel TCP connections to OSDs.
 *
 * The kernel owns its sockets: a connection connects by itself when the
 * first part is queued on it (connect_work, blocking connect and the
 * SHOW_CONFIG handshake with timeouts, outside the I/O path's locks),
 * reconnects with exponential backoff and resends what it had in flight
 * when the socket breaks. Sending and receiving are done by one work item
 * per connection (io_work), kicked by queue_rq and by the socket callbacks;
 * it never blocks: MSG_DONTWAIT everywhere, resumed on data_ready and
 * write_space. Every reply header is validated before it touches a
 * request; a reply that does not fit the protocol resets the connection,
 * and a reply to an earlier send (generation mismatch) is read and dropped.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/bvec.h>
#include <linux/kernel.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/tcp.h>
#include <linux/uio.h>
#include <net/sock.h>
#include <net/tcp.h>

#include "vstor.h"

#define VS_TX_BUDGET	16	/* io_work rounds before it yields */
#define VS_RX_BUDGET	64	/* receive steps per round */

struct vs_conn *vs_conn_new(struct vs_dev *dev, const struct vs_map_osd *osd,
			    u32 slot);
static void vs_conn_io_work(struct work_struct *w);
static void vs_conn_connect_work(struct work_struct *w);

struct vs_conn *vs_conn_new(struct vs_dev *dev, const struct vs_map_osd *osd,
			    u32 slot)
{
	struct vs_conn *conn;

	conn = kzalloc(sizeof(*conn), GFP_KERNEL);
	if (!conn)
		return NULL;
	conn->scratch = (void *)__get_free_page(GFP_KERNEL);
	if (!conn->scratch) {
		kfree(conn);
		return NULL;
	}
	conn->dev = dev;
	conn->osd = osd;
	conn->osd_num = osd->num;
	conn->slot = slot;
	spin_lock_init(&conn->lock);
	INIT_LIST_HEAD(&conn->sendq);
	INIT_LIST_HEAD(&conn->inflight);
	mutex_init(&conn->io_mutex);
	INIT_WORK(&conn->io_work, vs_conn_io_work);
	INIT_DELAYED_WORK(&conn->connect_work, vs_conn_connect_work);
	return conn;
}

void vs_conn_free(struct vs_conn *conn)
{
	if (!conn)
		return;
	WARN_ON_ONCE(!list_empty(&conn->sendq) || !list_empty(&conn->inflight));
	free_page((unsigned long)conn->scratch);
	mutex_destroy(&conn->io_mutex);
	kfree(conn);
}

bool vs_conn_ready(struct vs_conn *conn)
{
	return READ_ONCE(conn->state) == VS_CONN_READY;
}

/* conn->lock held */
static void vs_conn_kick_locked(struct vs_conn *conn)
{
	switch (conn->state) {
	case VS_CONN_READY:
		queue_work(vs_io_wq, &conn->io_work);
		break;
	case VS_CONN_IDLE:
		conn->state = VS_CONN_CONNECTING;
		queue_delayed_work(vs_ctl_wq, &conn->connect_work,
				   msecs_to_jiffies(conn->backoff_ms));
		break;
	default:
		break;
	}
}

/*
 * Queues part for sending. False when the connection is being removed:
 * the caller routes the part elsewhere. Any context.
 */
bool vs_conn_queue(struct vs_conn *conn, struct vs_part *part)
{
	spin_lock(&conn->lock);
	if (conn->state == VS_CONN_DEAD) {
		spin_unlock(&conn->lock);
		return false;
	}
	WRITE_ONCE(part->conn, conn);
	part->state = VS_PART_QUEUED;
	list_add_tail(&part->node, &conn->sendq);
	vs_conn_kick_locked(conn);
	spin_unlock(&conn->lock);
	return true;
}

/* ---- socket callbacks: they only kick io_work ---- */

static void vs_sk_data_ready(struct sock *sk)
{
	struct vs_conn *conn;

	read_lock_bh(&sk->sk_callback_lock);
	conn = sk->sk_user_data;
	if (conn)
		queue_work(vs_io_wq, &conn->io_work);
	read_unlock_bh(&sk->sk_callback_lock);
}

static void vs_sk_write_space(struct sock *sk)
{
	struct vs_conn *conn;

	read_lock_bh(&sk->sk_callback_lock);
	conn = sk->sk_user_data;
	if (conn) {
		if (sk_stream_is_writeable(sk)) {
			clear_bit(SOCK_NOSPACE, &sk->sk_socket->flags);
			queue_work(vs_io_wq, &conn->io_work);
		}
		conn->saved_write_space(sk);
	}
	read_unlock_bh(&sk->sk_callback_lock);
}

static void vs_sk_state_change(struct sock *sk)
{
	struct vs_conn *conn;

	read_lock_bh(&sk->sk_callback_lock);
	conn = sk->sk_user_data;
	if (conn) {
		/* io_work sees the error or EOF on its next recv */
		if (sk->sk_state != TCP_ESTABLISHED)
			queue_work(vs_io_wq, &conn->io_work);
		conn->saved_state_change(sk);
	}
	read_unlock_bh(&sk->sk_callback_lock);
}

static void vs_sk_install(struct vs_conn *conn, struct socket *sock)
{
	struct sock *sk = sock->sk;

	write_lock_bh(&sk->sk_callback_lock);
	sk->sk_user_data = conn;
	conn->saved_data_ready = sk->sk_data_ready;
	conn->saved_write_space = sk->sk_write_space;
	conn->saved_state_change = sk->sk_state_change;
	sk->sk_data_ready = vs_sk_data_ready;
	sk->sk_write_space = vs_sk_write_space;
	sk->sk_state_change = vs_sk_state_change;
	write_unlock_bh(&sk->sk_callback_lock);
}

static void vs_sk_restore(struct vs_conn *conn, struct socket *sock)
{
	struct sock *sk = sock->sk;

	write_lock_bh(&sk->sk_callback_lock);
	sk->sk_user_data = NULL;
	sk->sk_data_ready = conn->saved_data_ready;
	sk->sk_write_space = conn->saved_write_space;
	sk->sk_state_change = conn->saved_state_change;
	write_unlock_bh(&sk->sk_callback_lock);
}

static void vs_sock_close(struct vs_conn *conn, struct socket *sock)
{
	if (!sock)
		return;
	vs_sk_restore(conn, sock);
	kernel_sock_shutdown(sock, SHUT_RDWR);
	sock_release(sock);
}

/* ---- connecting ---- */

static int vs_sock_xfer(struct socket *sock, void *buf, size_t len, bool tx)
{
	struct kvec iov;
	struct msghdr msg;
	int ret;

	while (len) {
		memset(&msg, 0, sizeof(msg));
		iov.iov_base = buf;
		iov.iov_len = len;
		if (tx) {
			msg.msg_flags = MSG_NOSIGNAL;
			ret = kernel_sendmsg(sock, &msg, &iov, 1, len);
		} else {
			msg.msg_flags = MSG_WAITALL | MSG_NOSIGNAL;
			ret = kernel_recvmsg(sock, &msg, &iov, 1, len, msg.msg_flags);
		}
		if (ret <= 0)
			return ret ? ret : -ECONNRESET;
		buf += ret;
		len -= ret;
	}
	return 0;
}

/* The unsigned number after "key": in the SHOW_CONFIG JSON, or -1. */
static s64 vs_json_u64(const char *json, const char *key)
{
	const char *p = strstr(json, key);
	u64 v = 0;
	int digits = 0;

	if (!p)
		return -1;
	p += strlen(key);
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (*p++ != ':')
		return -1;
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '"')
		p++;
	while (*p >= '0' && *p <= '9' && digits < 19) {
		v = v * 10 + (*p++ - '0');
		digits++;
	}
	return digits ? (s64)v : -1;
}

/*
 * SHOW_CONFIG first, as the reference client does: the OSD at this
 * address must be the one we meant and speak protocol version 1.
 */
static int vs_handshake(struct vs_conn *conn, struct socket *sock)
{
	union vs_packet pkt;
	u64 id = (u64)VS_ID_PART_CONN << VS_ID_PART_SHIFT;
	s64 retval, osd, ver;
	char *json;
	int err;

	vs_req_init(&pkt, id, VS_OP_SHOW_CONFIG);
	err = vs_sock_xfer(sock, &pkt, sizeof(pkt), true);
	if (err)
		return err;
	err = vs_sock_xfer(sock, &pkt, sizeof(pkt), false);
	if (err)
		return err;
	if (vs_check_reply(&pkt, VS_OP_SHOW_CONFIG) < 0 ||
	    vs_packet_id(&pkt) != id)
		return -EPROTO;
	retval = vs_reply_retval(&pkt);
	if (retval <= 0)
		return retval < 0 ? (int)retval : -EPROTO;
	json = kmalloc(retval + 1, GFP_NOIO);
	if (!json)
		return -ENOMEM;
	err = vs_sock_xfer(sock, json, retval, false);
	if (!err) {
		json[retval] = 0;
		osd = vs_json_u64(json, "\"" VS_CFG_OSD_NUM "\"");
		ver = vs_json_u64(json, "\"" VS_CFG_PROTOCOL_VERSION "\"");
		if (osd != (s64)conn->osd_num) {
			pr_warn_ratelimited("vs%u: OSD %llu: the peer is OSD %lld\n",
					    conn->dev->index, conn->osd_num, osd);
			err = -EPROTO;
		} else if (ver != VS_PROTOCOL_VERSION) {
			pr_warn_ratelimited("vs%u: OSD %llu speaks protocol %lld\n",
					    conn->dev->index, conn->osd_num, ver);
			err = -EPROTO;
		}
	}
	kfree(json);
	return err;
}

static void vs_sock_options(struct socket *sock)
{
	struct sock *sk = sock->sk;
	int idle = max(1u, vs_tcp_timeout_ms / 3000);

	sk->sk_allocation = GFP_NOIO;
	vs_sk_no_task_frag(sk);
	tcp_sock_set_nodelay(sk);
	sock_set_keepalive(sk);
	tcp_sock_set_keepidle(sk, idle);
	tcp_sock_set_keepintvl(sk, idle);
	tcp_sock_set_keepcnt(sk, 3);
	tcp_sock_set_user_timeout(sk, vs_tcp_timeout_ms);
	tcp_sock_set_syncnt(sk, 2);
	sock_no_linger(sk);
	sk->sk_sndtimeo = msecs_to_jiffies(vs_connect_timeout_ms);
	sk->sk_rcvtimeo = msecs_to_jiffies(vs_connect_timeout_ms);
}

static int vs_conn_open(struct vs_conn *conn, struct sockaddr_storage *addr,
			struct socket **out)
{
	int len = addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
						 sizeof(struct sockaddr_in);
	struct socket *sock;
	int err;

	err = sock_create_kern(&init_net, addr->ss_family, SOCK_STREAM,
			       IPPROTO_TCP, &sock);
	if (err)
		return err;
	vs_sock_options(sock);
	err = kernel_connect(sock, (struct sockaddr *)addr, len, 0);
	if (!err)
		err = vs_handshake(conn, sock);
	if (err) {
		sock_release(sock);
		return err;
	}
	*out = sock;
	return 0;
}

static void vs_conn_connect_work(struct work_struct *w)
{
	struct vs_conn *conn = container_of(to_delayed_work(w), struct vs_conn,
					    connect_work);
	struct sockaddr_storage addrs[VS_MAX_ADDRS];
	struct socket *sock = NULL;
	unsigned int noio, i, n;
	int err = -EHOSTUNREACH;

	spin_lock(&conn->lock);
	if (conn->state != VS_CONN_CONNECTING) {
		spin_unlock(&conn->lock);
		return;
	}
	n = conn->osd->naddrs;
	memcpy(addrs, conn->osd->addrs, n * sizeof(addrs[0]));
	spin_unlock(&conn->lock);

	noio = memalloc_noio_save();
	for (i = 0; i < n; i++) {
		err = vs_conn_open(conn, &addrs[i], &sock);
		if (!err)
			break;
	}
	memalloc_noio_restore(noio);

	mutex_lock(&conn->io_mutex);
	spin_lock(&conn->lock);
	if (conn->state != VS_CONN_CONNECTING) {
		spin_unlock(&conn->lock);
		mutex_unlock(&conn->io_mutex);
		if (sock)
			sock_release(sock);
		return;
	}
	if (err) {
		conn->backoff_ms = clamp(conn->backoff_ms * 2, 100u,
					 vs_backoff_max_ms);
		/* nothing to send any more (moved by a new map): stop trying */
		if (list_empty(&conn->sendq))
			conn->state = VS_CONN_IDLE;
		else
			queue_delayed_work(vs_ctl_wq, &conn->connect_work,
					   msecs_to_jiffies(conn->backoff_ms));
		spin_unlock(&conn->lock);
		mutex_unlock(&conn->io_mutex);
		pr_warn_ratelimited("vs%u: cannot connect to OSD %llu: %d, retrying in %u ms\n",
				    conn->dev->index, conn->osd_num, err,
				    conn->backoff_ms);
		atomic64_set(&conn->dev->unreachable_osd, conn->osd_num);
		vs_dev_event(conn->dev, VS_EV_OSD_UNREACHABLE);
		vs_dev_event(conn->dev, VS_EV_NEED_MAP);
		return;
	}
	conn->sock = sock;
	conn->state = VS_CONN_READY;
	conn->backoff_ms = 0;
	conn->tx_busy = false;
	conn->tx_corked = false;
	conn->tx_part = NULL;
	conn->rx_state = VS_RX_HDR;
	conn->rx_got = 0;
	conn->rx_part = NULL;
	conn->last_rx = jiffies;
	conn->ping_sent = false;
	conn->conn_gen++;
	spin_unlock(&conn->lock);
	/* from here on the socket never blocks */
	sock->sk->sk_sndtimeo = 0;
	sock->sk->sk_rcvtimeo = 0;
	vs_sk_install(conn, sock);
	mutex_unlock(&conn->io_mutex);
	queue_work(vs_io_wq, &conn->io_work);
}

/* ---- resetting ---- */

/*
 * The socket broke or the peer spoke nonsense (io_mutex held): close it,
 * put every part it carried back at the head of the send queue (they get a
 * new generation when resent), and reconnect. SYNCs bound to this
 * connection fail instead, and so does the next flush if the OSD may have
 * lost acknowledged but unsynced writes.
 */
static void vs_conn_reset(struct vs_conn *conn, int why, struct list_head *failed)
{
	struct vs_part *part, *tmp;
	struct socket *sock;
	bool lost;

	spin_lock(&conn->lock);
	sock = conn->sock;
	conn->sock = NULL;
	if (conn->rx_part) {
		list_add(&conn->rx_part->node, &conn->inflight);
		conn->rx_part = NULL;
	}
	list_for_each_entry_safe(part, tmp, &conn->inflight, node) {
		if (part->flags & VS_PF_FIXED) {
			list_move_tail(&part->node, failed);
			continue;
		}
		part->state = VS_PART_QUEUED;
	}
	list_splice_init(&conn->inflight, &conn->sendq);
	lost = conn->dirty;
	conn->dirty = false;
	conn->tx_busy = false;
	conn->tx_part = NULL;
	conn->rx_state = VS_RX_HDR;
	conn->rx_got = 0;
	if (conn->state == VS_CONN_READY) {
		conn->state = VS_CONN_IDLE;
		if (!list_empty(&conn->sendq))
			vs_conn_kick_locked(conn);
	}
	spin_unlock(&conn->lock);

	vs_sock_close(conn, sock);
	if (lost)
		WRITE_ONCE(conn->dev->sync_lost, true);
	if (sock && why)
		pr_warn_ratelimited("vs%u: connection to OSD %llu lost (%d)%s\n",
				    conn->dev->index, conn->osd_num, why,
				    lost ? ", unsynced writes may be lost" : "");
}

static void vs_fail_list(struct list_head *list, int err)
{
	struct vs_part *part, *tmp;

	list_for_each_entry_safe(part, tmp, list, node) {
		list_del_init(&part->node);
		vs_part_done(part, err);
	}
}

/*
 * Takes every part off a connection that leaves its route (or its device):
 * marks it dead, stops connecting and sending, closes the socket. The parts
 * go to out, to be routed again or failed by the caller. Process context.
 */
void vs_conn_kill(struct vs_conn *conn, struct list_head *out)
{
	struct socket *sock;

	spin_lock(&conn->lock);
	conn->state = VS_CONN_DEAD;
	spin_unlock(&conn->lock);
	cancel_delayed_work_sync(&conn->connect_work);

	mutex_lock(&conn->io_mutex);
	spin_lock(&conn->lock);
	sock = conn->sock;
	conn->sock = NULL;
	if (conn->rx_part) {
		list_add(&conn->rx_part->node, &conn->inflight);
		conn->rx_part = NULL;
	}
	list_splice_tail_init(&conn->inflight, out);
	list_splice_tail_init(&conn->sendq, out);
	conn->tx_busy = false;
	conn->tx_part = NULL;
	if (conn->dirty)
		WRITE_ONCE(conn->dev->sync_lost, true);
	conn->dirty = false;
	spin_unlock(&conn->lock);
	vs_sock_close(conn, sock);
	mutex_unlock(&conn->io_mutex);
	cancel_work_sync(&conn->io_work);
}

/*
 * Takes the parts for which pred() holds off a live connection, to out.
 * A part whose payload is half sent cannot be taken back without breaking
 * the stream, so that resets the connection first.
 */
void vs_conn_sweep(struct vs_conn *conn,
		   bool (*pred)(struct vs_part *part, void *arg), void *arg,
		   struct list_head *out)
{
	struct vs_part *part, *tmp;
	LIST_HEAD(failed);
	bool reset;

	mutex_lock(&conn->io_mutex);
again:
	reset = false;
	spin_lock(&conn->lock);
	list_for_each_entry_safe(part, tmp, &conn->sendq, node)
		if (pred(part, arg))
			list_move_tail(&part->node, out);
	list_for_each_entry_safe(part, tmp, &conn->inflight, node) {
		if (!pred(part, arg))
			continue;
		if (conn->tx_busy && conn->tx_part == part) {
			if (conn->tx_off) {
				reset = true;
				continue;
			}
			conn->tx_busy = false;
			conn->tx_part = NULL;
		}
		list_move_tail(&part->node, out);
	}
	if (conn->rx_part && pred(conn->rx_part, arg)) {
		/* read the rest of its payload into the scratch page */
		if (conn->rx_state == VS_RX_SKIP && conn->rx_next == VS_RX_DATA)
			conn->rx_left += conn->rx_part->len;	/* bitmap, then data */
		conn->rx_state = VS_RX_SKIP;
		conn->rx_next = VS_RX_HDR;
		list_add_tail(&conn->rx_part->node, out);
		conn->rx_part = NULL;
	}
	spin_unlock(&conn->lock);
	if (reset && conn->sock) {
		vs_conn_reset(conn, 0, &failed);
		goto again;
	}
	mutex_unlock(&conn->io_mutex);
	vs_fail_list(&failed, -EIO);
}

/* ---- sending ---- */

/* The single-page segment of rq at byte off, at most max bytes long. */
static void vs_rq_bvec(struct request *rq, u32 off, u32 max, struct bio_vec *out)
{
	struct req_iterator iter;
	struct bio_vec bv;

	out->bv_len = 0;
	rq_for_each_segment(bv, rq, iter) {
		if (off < bv.bv_len) {
			out->bv_page = bv.bv_page;
			out->bv_offset = bv.bv_offset + off;
			out->bv_len = min(bv.bv_len - off, max);
			return;
		}
		off -= bv.bv_len;
	}
}

static void vs_build_req(struct vs_conn *conn, struct vs_part *part)
{
	union vs_packet *p = &conn->tx_hdr;

	vs_req_init(p, vs_part_id(part), part->op);
	conn->tx_len = VS_PACKET_SIZE;
	if (part->op == VS_OP_SYNC)
		return;
	vs_le64_set(&p->rw.inode, conn->dev->p.inode);
	vs_le64_set(&p->rw.offset, part->offset);
	vs_le32_set(&p->rw.len, part->len);
	if (part->op == VS_OP_WRITE)
		conn->tx_len += part->len;
}

static void vs_build_ping(struct vs_conn *conn)
{
	u64 id = ((u64)(conn->conn_gen & VS_ID_GEN_MASK) << VS_ID_GEN_SHIFT) |
		 ((u64)VS_ID_PART_CONN << VS_ID_PART_SHIFT);

	vs_req_init(&conn->tx_hdr, id, VS_OP_PING);
	conn->tx_len = VS_PACKET_SIZE;
	conn->tx_off = 0;
	conn->tx_part = NULL;
	conn->tx_busy = true;
	conn->ping_sent = true;
	conn->last_rx = jiffies;
}

/*
 * Sends what it can of the op in tx_hdr (and its payload). MSG_MORE while
 * more of it or more queued ops follow, so a burst of small requests
 * leaves in few segments (the sendq check is a hint: the last op of a
 * burst always goes without MSG_MORE and pushes everything out).
 */
static int vs_send_some(struct vs_conn *conn)
{
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL };
	struct vs_part *part = conn->tx_part;
	bool more = !list_empty(&conn->sendq);
	struct bio_vec bv;
	struct kvec iov;
	u32 left;
	int ret;

	if (conn->tx_off < VS_PACKET_SIZE) {
		iov.iov_base = (u8 *)&conn->tx_hdr + conn->tx_off;
		iov.iov_len = VS_PACKET_SIZE - conn->tx_off;
		if (conn->tx_len > VS_PACKET_SIZE || more)
			msg.msg_flags |= MSG_MORE;
		ret = kernel_sendmsg(conn->sock, &msg, &iov, 1, iov.iov_len);
	} else {
		u32 off = conn->tx_off - VS_PACKET_SIZE;

		left = conn->tx_len - conn->tx_off;
		if (part->flags & VS_PF_ZERO) {
			bv.bv_page = ZERO_PAGE(0);
			bv.bv_offset = 0;
			bv.bv_len = min_t(u32, left, PAGE_SIZE);
		} else {
			vs_rq_bvec(part->cmd->rq, part->roff + off, left, &bv);
			if (!bv.bv_len)
				return -EIO;
		}
		if (left > bv.bv_len || more)
			msg.msg_flags |= MSG_MORE;
		iov_iter_bvec(&msg.msg_iter, ITER_SOURCE, &bv, 1, bv.bv_len);
		ret = sock_sendmsg(conn->sock, &msg);
	}
	if (ret > 0)
		conn->tx_corked = msg.msg_flags & MSG_MORE;
	return ret ? ret : -EPIPE;
}

/* >0: progress, 0: nothing to send or the socket is full, <0: error. */
static int vs_conn_tx(struct vs_conn *conn)
{
	struct vs_part *part;
	int progress = 0, ret;

	for (;;) {
		if (!conn->tx_busy) {
			part = NULL;
			spin_lock(&conn->lock);
			if (!list_empty(&conn->sendq)) {
				part = list_first_entry(&conn->sendq,
							struct vs_part, node);
				list_move_tail(&part->node, &conn->inflight);
				part->state = VS_PART_SENDING;
				part->gen++;
			}
			spin_unlock(&conn->lock);
			if (!part) {
				/* the ops we announced with MSG_MORE were swept */
				if (conn->tx_corked) {
					tcp_sock_set_cork(conn->sock->sk, false);
					conn->tx_corked = false;
				}
				return progress;
			}
			vs_build_req(conn, part);
			conn->tx_part = part;
			conn->tx_off = 0;
			conn->tx_busy = true;
		}
		ret = vs_send_some(conn);
		if (ret == -EAGAIN)
			return progress;
		if (ret < 0)
			return ret;
		progress = 1;
		conn->tx_off += ret;
		if (conn->tx_off < conn->tx_len)
			continue;
		if (conn->tx_part) {
			spin_lock(&conn->lock);
			conn->tx_part->state = VS_PART_SENT;
			spin_unlock(&conn->lock);
		}
		conn->tx_part = NULL;
		conn->tx_busy = false;
	}
}

/* ---- receiving ---- */

static void vs_conn_part_reply(struct vs_conn *conn, struct vs_part *part,
			       s64 retval)
{
	struct vs_dev *dev = conn->dev;

	conn->rx_part = NULL;
	if (retval >= 0 && dev->lazy &&
	    (part->op == VS_OP_WRITE || part->op == VS_OP_DELETE)) {
		spin_lock(&conn->lock);
		conn->dirty = true;
		if (part->flags & VS_PF_FUA) {
			/* FUA: the same OSD makes it durable before we ack */
			part->op = VS_OP_SYNC;
			part->flags = (part->flags & ~VS_PF_FUA) | VS_PF_FIXED;
			conn->dirty = false;
			part->state = VS_PART_QUEUED;
			list_add_tail(&part->node, &conn->sendq);
			spin_unlock(&conn->lock);
			return;
		}
		spin_unlock(&conn->lock);
	}
	WRITE_ONCE(part->conn, NULL);
	vs_part_done(part, retval < 0 ? (int)retval : 0);
}

/* The part a reply header names, taken off the in-flight list; or NULL. */
static struct vs_part *vs_conn_claim(struct vs_conn *conn, u64 id, int *err)
{
	struct blk_mq_tag_set *set = &conn->dev->tag_set;
	u32 utag = (u32)id, hwq = blk_mq_unique_tag_to_hwq(utag);
	u32 tag = blk_mq_unique_tag_to_tag(utag);
	u32 pidx = (id >> VS_ID_PART_SHIFT) & VS_ID_PART_MASK;
	u32 gen = (id >> VS_ID_GEN_SHIFT) & VS_ID_GEN_MASK;
	struct vs_part *part = NULL, *p;
	struct request *rq;

	*err = 0;
	if (hwq >= set->nr_hw_queues || tag >= set->queue_depth ||
	    pidx >= VS_NPARTS) {
		*err = -EPROTO;
		return NULL;
	}
	rq = blk_mq_tag_to_rq(set->tags[hwq], tag);
	if (!rq)
		return NULL;
	p = &((struct vs_cmd *)blk_mq_rq_to_pdu(rq))->parts[pidx];
	spin_lock(&conn->lock);
	if (READ_ONCE(p->conn) == conn && p->state == VS_PART_SENT &&
	    (p->gen & VS_ID_GEN_MASK) == gen) {
		part = p;
		list_del_init(&part->node);
		part->state = VS_PART_RECEIVING;
	}
	spin_unlock(&conn->lock);
	return part;
}

static int vs_conn_ping_reply(struct vs_conn *conn)
{
	union vs_packet *h = &conn->rx_hdr;
	u32 gen = (vs_packet_id(h) >> VS_ID_GEN_SHIFT) & VS_ID_GEN_MASK;

	if (vs_packet_opcode(h) != VS_OP_PING || !conn->ping_sent ||
	    gen != (conn->conn_gen & VS_ID_GEN_MASK) || vs_reply_retval(h))
		return -EPROTO;
	conn->ping_sent = false;
	return 0;
}

/* A whole reply header is in rx_hdr: check it, then decide what follows. */
static int vs_conn_got_hdr(struct vs_conn *conn)
{
	union vs_packet *h = &conn->rx_hdr;
	u64 id = vs_packet_id(h);
	struct vs_part *part;
	s64 len, retval;
	int err;

	if (!vs_packet_is_reply(h))
		return -EPROTO;
	if (((id >> VS_ID_PART_SHIFT) & VS_ID_PART_MASK) == VS_ID_PART_CONN)
		return vs_conn_ping_reply(conn);
	part = vs_conn_claim(conn, id, &err);
	if (err)
		return err;
	if (!part) {
		/* stale: a reply to an earlier send; read it and drop it */
		len = vs_check_reply(h, vs_packet_opcode(h));
		if (len < 0)
			return -EPROTO;
		if (len) {
			conn->rx_state = VS_RX_SKIP;
			conn->rx_left = len;
			conn->rx_next = VS_RX_HDR;
		}
		return 0;
	}
	/* from here on the part is ours: a reset puts it back */
	conn->rx_part = part;
	len = vs_check_reply(h, part->op);
	if (len < 0)
		return -EPROTO;
	retval = vs_reply_retval(h);
	if (retval < 0) {
		vs_conn_part_reply(conn, part, retval);
		return 0;
	}
	switch (part->op) {
	case VS_OP_READ: {
		u32 blen = vs_le32_get(h->reply_rw.bitmap_len);

		if (retval != part->len || blen > conn->dev->bitmap_len)
			return -EPROTO;
		conn->rx_data_off = 0;
		if (blen) {
			conn->rx_state = VS_RX_SKIP;
			conn->rx_left = blen;
			conn->rx_next = VS_RX_DATA;
		} else {
			conn->rx_state = VS_RX_DATA;
			conn->rx_left = part->len;
		}
		return 0;
	}
	case VS_OP_WRITE:
		if (retval != part->len)
			return -EPROTO;
		break;
	default:
		if (retval)
			return -EPROTO;
		break;
	}
	vs_conn_part_reply(conn, part, 0);
	return 0;
}

static int vs_recv_some(struct vs_conn *conn)
{
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL };
	struct vs_part *part = conn->rx_part;
	struct bio_vec bv;
	struct kvec iov;
	int ret;

	switch (conn->rx_state) {
	case VS_RX_HDR:
		iov.iov_base = (u8 *)&conn->rx_hdr + conn->rx_got;
		iov.iov_len = VS_PACKET_SIZE - conn->rx_got;
		ret = kernel_recvmsg(conn->sock, &msg, &iov, 1, iov.iov_len,
				     msg.msg_flags);
		break;
	case VS_RX_SKIP:
		iov.iov_base = conn->scratch;
		iov.iov_len = min_t(u32, conn->rx_left, PAGE_SIZE);
		ret = kernel_recvmsg(conn->sock, &msg, &iov, 1, iov.iov_len,
				     msg.msg_flags);
		break;
	default:
		vs_rq_bvec(part->cmd->rq, part->roff + conn->rx_data_off,
			   conn->rx_left, &bv);
		if (!bv.bv_len)
			return -EIO;
		iov_iter_bvec(&msg.msg_iter, ITER_DEST, &bv, 1, bv.bv_len);
		ret = sock_recvmsg(conn->sock, &msg, msg.msg_flags);
		break;
	}
	return ret ? ret : -ECONNRESET;
}

/* >0: progress, 0: nothing more to read now, <0: error. */
static int vs_conn_rx(struct vs_conn *conn)
{
	int progress = 0, ret, n;

	for (n = 0; n < VS_RX_BUDGET; n++) {
		ret = vs_recv_some(conn);
		if (ret == -EAGAIN)
			return progress;
		if (ret < 0)
			return ret;
		progress = 1;
		switch (conn->rx_state) {
		case VS_RX_HDR:
			conn->rx_got += ret;
			if (conn->rx_got < VS_PACKET_SIZE)
				break;
			conn->rx_got = 0;
			conn->last_rx = jiffies;
			ret = vs_conn_got_hdr(conn);
			if (ret < 0)
				return ret;
			break;
		case VS_RX_SKIP:
			conn->rx_left -= ret;
			if (conn->rx_left)
				break;
			conn->rx_state = conn->rx_next;
			if (conn->rx_state == VS_RX_DATA)
				conn->rx_left = conn->rx_part->len;
			break;
		default:
			conn->rx_data_off += ret;
			conn->rx_left -= ret;
			if (conn->rx_left)
				break;
			conn->rx_state = VS_RX_HDR;
			vs_conn_part_reply(conn, conn->rx_part, conn->rx_part->len);
			break;
		}
	}
	return 1;
}

/*
 * Liveness beyond TCP (spec 4.2): a peer whose kernel still ACKs but whose
 * OSD process hangs is found by PING. With requests waiting and nothing
 * received for idle_timeout, send one; no reply for ping_timeout resets.
 */
static int vs_conn_ping_check(struct vs_conn *conn)
{
	bool waiting;

	if (!vs_idle_timeout_ms)
		return 0;
	spin_lock(&conn->lock);
	waiting = !list_empty(&conn->inflight) || conn->rx_part;
	spin_unlock(&conn->lock);
	if (conn->ping_sent) {
		if (time_after(jiffies, conn->last_rx +
			       msecs_to_jiffies(vs_ping_timeout_ms)))
			return -ETIMEDOUT;
	} else if (waiting && !conn->tx_busy &&
		   time_after(jiffies, conn->last_rx +
			      msecs_to_jiffies(vs_idle_timeout_ms))) {
		vs_build_ping(conn);
		return 1;
	}
	return 0;
}

static void vs_conn_io_work(struct work_struct *w)
{
	struct vs_conn *conn = container_of(w, struct vs_conn, io_work);
	unsigned int noio = memalloc_noio_save();
	LIST_HEAD(failed);
	int i, tx = 0, rx = 0, err = 0;

	mutex_lock(&conn->io_mutex);
	if (!conn->sock)
		goto out;
	for (i = 0; i < VS_TX_BUDGET; i++) {
		tx = vs_conn_tx(conn);
		if (tx < 0) {
			err = tx;
			break;
		}
		rx = vs_conn_rx(conn);
		if (rx < 0) {
			err = rx;
			break;
		}
		if (!tx && !rx) {
			err = vs_conn_ping_check(conn);
			if (err <= 0)
				break;
			err = 0;	/* a ping to send */
		}
	}
	if (err)
		vs_conn_reset(conn, err, &failed);
	else if (i == VS_TX_BUDGET)
		queue_work(vs_io_wq, &conn->io_work);
out:
	mutex_unlock(&conn->io_mutex);
	vs_fail_list(&failed, -EIO);
	memalloc_noio_restore(noio);
}

/* Periodic liveness check of the device's ready connections. */
void vs_conn_tick(struct vs_conn *conn)
{
	if (vs_conn_ready(conn))
		queue_work(vs_io_wq, &conn->io_work);
}

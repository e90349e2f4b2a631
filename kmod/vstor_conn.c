// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel TCP connections to OSDs.
 *
 * The kernel owns its sockets: a connection connects by itself when the
 * first part is queued on it (connect_work, blocking connect and the
 * SHOW_CONFIG handshake with timeouts, outside the I/O path's locks),
 * reconnects with exponential backoff and resends what it had in flight
 * when the socket breaks.
 *
 * Sending: queue_rq pushes its parts out itself when it can take the
 * connection's io_mutex (no context switch per request), else io_work
 * does, kicked by queue_rq and sk_write_space. Queued parts leave in
 * batches: up to VS_TX_OPS requests, headers and payload pages gathered
 * into one non-blocking sendmsg, MSG_MORE only while more follows at once.
 *
 * Receiving happens in sk_data_ready itself (softirq, or the socket lock
 * owner's release_sock): tcp_read_sock hands us the skbs, replies are
 * parsed and READ data copied straight into the request's pages, and the
 * request completes right there: no work item, no recvmsg per header
 * (unless rx_work=1: then a work item on the sending CPU does the same).
 * Every reply header is validated before it touches a request; a reply
 * that does not fit the protocol makes io_work reset the connection, and
 * a reply to an earlier send (generation mismatch) is skipped.
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

#define VS_TX_BUDGET	16	/* sendmsg calls per io_work run or push */

static void vs_conn_io_work(struct work_struct *w);
static void vs_conn_rx_work(struct work_struct *w);
static void vs_conn_connect_work(struct work_struct *w);
static void vs_conn_rx_sock(struct vs_conn *conn, struct sock *sk);

struct vs_conn *vs_conn_new(struct vs_dev *dev, const struct vs_map_osd *osd,
			    u32 slot)
{
	struct vs_conn *conn;

	conn = kzalloc(sizeof(*conn), GFP_KERNEL);
	if (!conn)
		return NULL;
	/* kmalloc: one slab object, so no header straddles a page */
	conn->tx_hdrs = kcalloc(VS_TX_OPS, sizeof(*conn->tx_hdrs), GFP_KERNEL);
	if (!conn->tx_hdrs) {
		kfree(conn);
		return NULL;
	}
	conn->dev = dev;
	conn->osd = osd;
	conn->osd_num = osd->num;
	conn->slot = slot;
	conn->poll = slot >= dev->p.conns_per_osd;
	spin_lock_init(&conn->lock);
	INIT_LIST_HEAD(&conn->sendq);
	INIT_LIST_HEAD(&conn->inflight);
	atomic_set(&conn->users, 0);
	mutex_init(&conn->io_mutex);
	INIT_WORK(&conn->io_work, vs_conn_io_work);
	INIT_WORK(&conn->rx_work, vs_conn_rx_work);
	conn->tx_cpu = WORK_CPU_UNBOUND;
	INIT_DELAYED_WORK(&conn->connect_work, vs_conn_connect_work);
	return conn;
}

void vs_conn_free(struct vs_conn *conn)
{
	if (!conn)
		return;
	WARN_ON_ONCE(!list_empty(&conn->sendq) || !list_empty(&conn->inflight));
	kfree(conn->tx_hdrs);
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

static u32 vs_list_count(const struct list_head *list)
{
	const struct list_head *pos;
	u32 n = 0;

	list_for_each(pos, list)
		n++;
	return n;
}

/*
 * Whether a part just queued on a ready connection should wait for the
 * kick after the next reply (tx_defer, vstor_main.c). Pairs with the
 * barrier in vs_dev_kick_deferred: either that kick sees tx_deferred, or
 * we see the reply's claim and push ourselves. The replies awaited may
 * be another OSD's, and that OSD may hang: kick_work kicks a jiffy later
 * at the latest.
 */
static bool vs_tx_hold(struct vs_dev *dev)
{
	if (!vs_tx_defer || atomic_read(&dev->tx_waiting) < vs_tx_defer)
		return false;
	atomic_inc(&dev->tx_deferred);
	/* tx_deferred before tx_waiting: pairs with vs_dev_kick_deferred */
	smp_mb__after_atomic();
	if (atomic_read(&dev->tx_waiting) < vs_tx_defer)
		return false;
	queue_delayed_work(vs_io_wq, &dev->kick_work, 1);
	return true;
}

/*
 * Queues part for sending. False when the connection is being removed:
 * the caller routes the part elsewhere. With push, a ready connection is
 * not kicked: *push is set and the caller sends (vs_conn_push) once it
 * holds a user reference and no RCU lock; unless may_hold and tx_defer
 * parts of the device await replies: then part leaves with the batch the
 * next reply kicks (vs_dev_kick_deferred). Any context.
 */
bool vs_conn_queue(struct vs_conn *conn, struct vs_part *part, bool *push,
		   bool may_hold)
{
	spin_lock_bh(&conn->lock);
	if (conn->state == VS_CONN_DEAD) {
		spin_unlock_bh(&conn->lock);
		return false;
	}
	WRITE_ONCE(part->conn, conn);
	part->state = VS_PART_QUEUED;
	list_add_tail(&part->node, &conn->sendq);
	if (!push || conn->state != VS_CONN_READY)
		vs_conn_kick_locked(conn);
	else if (!may_hold || !vs_tx_hold(conn->dev))
		*push = true;
	spin_unlock_bh(&conn->lock);
	return true;
}

/*
 * A reference that keeps conn from being freed after the RCU read side
 * that found it ends (vs_conn_kill waits for it).
 */
void vs_conn_get_user(struct vs_conn *conn)
{
	atomic_inc(&conn->users);
}

void vs_conn_put_user(struct vs_conn *conn)
{
	if (atomic_dec_and_test(&conn->users))
		wake_up_var(&conn->users);
}

/* ---- socket callbacks ---- */

/* Receive errors are acted on in process context: io_work resets. */
static void vs_conn_fail(struct vs_conn *conn, int err)
{
	if (!READ_ONCE(conn->err))
		WRITE_ONCE(conn->err, err);
	queue_work(vs_io_wq, &conn->io_work);
}

/* Whether sk_data_ready leaves the replies to rx_work (see vs_rx_work). */
static bool vs_rx_defer(struct vs_conn *conn, struct sock *sk)
{
	/* the owner's release_sock is process context already: parse there */
	if (!READ_ONCE(vs_rx_work) || conn->poll || sock_owned_by_user_nocheck(sk))
		return false;
	/* a lone reply (depth 1) is not worth a kworker wakeup */
	return atomic_read(&conn->dev->tx_waiting) > 1;
}

/*
 * Whether sk_data_ready leaves the replies to the pollers: a poll queue's
 * connection carries polled requests only, and their tasks poll until
 * they complete (io_work parses too, should one stop). A lazy pool's
 * SYNCs go to every connection and their flush does not poll: parse.
 */
static bool vs_rx_polled(struct vs_conn *conn, struct sock *sk)
{
	return conn->poll && !conn->dev->lz && !sock_owned_by_user_nocheck(sk);
}

/* Called with the socket lock held (softirq or release_sock's backlog). */
static void vs_sk_data_ready(struct sock *sk)
{
	struct vs_conn *conn;

	read_lock_bh(&sk->sk_callback_lock);
	conn = sk->sk_user_data;
	if (conn && vs_rx_defer(conn, sk))
		queue_work_on(READ_ONCE(conn->tx_cpu), vs_io_wq, &conn->rx_work);
	else if (conn && !vs_rx_polled(conn, sk))
		vs_conn_rx_sock(conn, sk);
	read_unlock_bh(&sk->sk_callback_lock);
}

/* rx_work=1: what sk_data_ready left in the socket (see vs_rx_work). */
/*
 * What the socket holds, parsed in the calling task (rx_work, io_work, a
 * poller; conn->sock stays while it runs): the number of replies parsed.
 */
static u32 vs_conn_rx_task(struct vs_conn *conn)
{
	struct sock *sk = conn->sock->sk;
	unsigned int noio = memalloc_noio_save();
	u32 done;

	lock_sock(sk);
	done = conn->rx_done;
	vs_conn_rx_sock(conn, sk);
	/* the backlog release_sock parses counts too */
	release_sock(sk);
	memalloc_noio_restore(noio);
	return READ_ONCE(conn->rx_done) - done;
}

static void vs_conn_rx_work(struct work_struct *w)
{
	struct vs_conn *conn = container_of(w, struct vs_conn, rx_work);

	/* conn->sock: vs_sk_detach cancels this before the socket goes */
	vs_conn_rx_task(conn);
	atomic64_inc(&conn->dev->rx_work_runs);
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
		/* closed, reset or timed out: reconnect */
		if (sk->sk_state != TCP_ESTABLISHED)
			vs_conn_fail(conn, -ECONNRESET);
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

/*
 * No receive callback or rx_work runs on the socket after this (io_mutex
 * held, so it is conn->sock): the receive cursors are the caller's.
 */
static void vs_sk_detach(struct vs_conn *conn, struct socket *sock)
{
	vs_sk_restore(conn, sock);
	cancel_work_sync(&conn->rx_work);
}

/* Closes a socket whose callbacks were restored. */
static void vs_sock_close(struct socket *sock)
{
	if (!sock)
		return;
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

/* Forgets the transmit batch and receive cursor (io_mutex, conn->lock). */
static void vs_conn_clear_cursors(struct vs_conn *conn)
{
	if (conn->rx_part) {
		list_add(&conn->rx_part->node, &conn->inflight);
		atomic_inc(&conn->dev->tx_waiting);
		conn->rx_part = NULL;
	}
	conn->rx_state = VS_RX_HDR;
	conn->rx_got = 0;
	conn->tx_nops = 0;
	conn->tx_cur = 0;
	conn->tx_sent = 0;
	conn->tx_queued = 0;
	conn->ping_due = false;
	conn->err = 0;
}

static void vs_conn_connect_work(struct work_struct *w)
{
	struct vs_conn *conn = container_of(to_delayed_work(w), struct vs_conn,
					    connect_work);
	struct sockaddr_storage addrs[VS_MAX_ADDRS];
	struct socket *sock = NULL;
	unsigned int noio, i, n;
	int err = -EHOSTUNREACH;

	spin_lock_bh(&conn->lock);
	if (conn->state != VS_CONN_CONNECTING) {
		spin_unlock_bh(&conn->lock);
		return;
	}
	n = conn->osd->naddrs;
	memcpy(addrs, conn->osd->addrs, n * sizeof(addrs[0]));
	spin_unlock_bh(&conn->lock);

	noio = memalloc_noio_save();
	for (i = 0; i < n; i++) {
		err = vs_conn_open(conn, &addrs[i], &sock);
		if (!err)
			break;
	}
	memalloc_noio_restore(noio);

	mutex_lock(&conn->io_mutex);
	spin_lock_bh(&conn->lock);
	if (conn->state != VS_CONN_CONNECTING) {
		spin_unlock_bh(&conn->lock);
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
		spin_unlock_bh(&conn->lock);
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
	vs_conn_clear_cursors(conn);
	conn->last_rx = jiffies;
	conn->ping_sent = false;
	conn->conn_gen++;
	spin_unlock_bh(&conn->lock);
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
 * connection fail instead; on a lazy pool, the writes it acknowledged
 * since their SYNC are replayed (vstor_lazy.c).
 */
static void vs_conn_reset(struct vs_conn *conn, int why, struct list_head *failed)
{
	struct vs_part *part, *tmp;
	struct socket *sock = conn->sock;
	int waited = 0;

	/* no receive callback runs after this: the cursors are ours */
	if (sock)
		vs_sk_detach(conn, sock);
	spin_lock_bh(&conn->lock);
	conn->sock = NULL;
	vs_conn_clear_cursors(conn);
	list_for_each_entry_safe(part, tmp, &conn->inflight, node) {
		waited++;
		if (part->flags & VS_PF_FIXED) {
			list_move_tail(&part->node, failed);
			continue;
		}
		part->state = VS_PART_QUEUED;
	}
	list_splice_init(&conn->inflight, &conn->sendq);
	atomic_sub(waited, &conn->dev->tx_waiting);
	if (conn->state == VS_CONN_READY) {
		conn->state = VS_CONN_IDLE;
		if (!list_empty(&conn->sendq))
			vs_conn_kick_locked(conn);
	}
	spin_unlock_bh(&conn->lock);

	vs_sock_close(sock);
	/* parts held back behind the ones that will get no reply now */
	vs_dev_kick_deferred(conn->dev);
	if (conn->dev->lz)
		vs_lazy_conn_lost(conn);
	if (sock && why)
		pr_warn_ratelimited("vs%u: connection to OSD %llu lost (%d)\n",
				    conn->dev->index, conn->osd_num, why);
}

static void vs_fail_list(struct list_head *list, int err)
{
	struct vs_part *part, *tmp;

	list_for_each_entry_safe(part, tmp, list, node) {
		list_del_init(&part->node);
		vs_part_done(part, err, NULL);
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

	spin_lock_bh(&conn->lock);
	conn->state = VS_CONN_DEAD;
	spin_unlock_bh(&conn->lock);
	cancel_delayed_work_sync(&conn->connect_work);

	mutex_lock(&conn->io_mutex);
	sock = conn->sock;
	if (sock)
		vs_sk_detach(conn, sock);
	spin_lock_bh(&conn->lock);
	conn->sock = NULL;
	vs_conn_clear_cursors(conn);
	atomic_sub(vs_list_count(&conn->inflight), &conn->dev->tx_waiting);
	list_splice_tail_init(&conn->inflight, out);
	list_splice_tail_init(&conn->sendq, out);
	spin_unlock_bh(&conn->lock);
	vs_sock_close(sock);
	mutex_unlock(&conn->io_mutex);
	if (conn->dev->lz)
		vs_lazy_conn_lost(conn);
	/* pushers found it before it died; they may still kick io_work */
	wait_var_event(&conn->users, !atomic_read(&conn->users));
	cancel_work_sync(&conn->io_work);
}

/*
 * Takes the parts for which pred() holds off a live connection, to out.
 * A part of the transmit batch that is not completely out cannot be taken
 * back without breaking the stream, so that resets the connection first.
 */
void vs_conn_sweep(struct vs_conn *conn,
		   bool (*pred)(struct vs_part *part, void *arg), void *arg,
		   struct list_head *out)
{
	struct vs_part *part, *tmp;
	struct sock *sk;
	LIST_HEAD(failed);
	bool reset;

	mutex_lock(&conn->io_mutex);
again:
	reset = false;
	/* the socket lock holds the receive side off the cursor */
	sk = conn->sock ? conn->sock->sk : NULL;
	if (sk)
		lock_sock(sk);
	spin_lock_bh(&conn->lock);
	list_for_each_entry_safe(part, tmp, &conn->sendq, node)
		if (pred(part, arg))
			list_move_tail(&part->node, out);
	list_for_each_entry_safe(part, tmp, &conn->inflight, node) {
		if (!pred(part, arg))
			continue;
		if (part->tx_end > conn->tx_sent) {
			reset = true;
			continue;
		}
		/*
		 * Its reply may still come, in release_sock below or in
		 * softirq on another CPU while the caller walks out: it must
		 * not claim the part off out (vs_conn_claim: on inflight).
		 */
		part->state = VS_PART_IDLE;
		WRITE_ONCE(part->conn, NULL);
		list_move_tail(&part->node, out);
		atomic_dec(&conn->dev->tx_waiting);
	}
	if (conn->rx_part && pred(conn->rx_part, arg)) {
		/* read the rest of its payload into nowhere */
		if (conn->rx_state == VS_RX_SKIP && conn->rx_next == VS_RX_DATA)
			conn->rx_left += conn->rx_part->len;	/* bitmap, then data */
		conn->rx_state = VS_RX_SKIP;
		conn->rx_next = VS_RX_HDR;
		list_add_tail(&conn->rx_part->node, out);
		conn->rx_part = NULL;
	}
	spin_unlock_bh(&conn->lock);
	if (sk)
		release_sock(sk);
	if (reset && conn->sock) {
		vs_conn_reset(conn, 0, &failed);
		goto again;
	}
	mutex_unlock(&conn->io_mutex);
	/* parts held back behind the ones taken away would wait for nothing */
	vs_dev_kick_deferred(conn->dev);
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

/*
 * Appends the segments of rq's bytes [off, off + len) to vec (at most
 * VS_TX_VECS in all); the number of bytes they cover.
 */
static u32 vs_rq_vecs(struct request *rq, u32 off, u32 len,
		      struct bio_vec *vec, u32 *nvec)
{
	struct req_iterator iter;
	struct bio_vec bv;
	u32 pos = 0, got = 0;

	rq_for_each_segment(bv, rq, iter) {
		u32 s = pos, e = pos + bv.bv_len, skip;

		pos = e;
		if (e <= off)
			continue;
		if (s >= off + len || *nvec == VS_TX_VECS)
			break;
		skip = off > s ? off - s : 0;
		vec[*nvec] = bv;
		vec[*nvec].bv_offset += skip;
		vec[*nvec].bv_len = min(bv.bv_len - skip, off + len - s - skip);
		got += vec[*nvec].bv_len;
		(*nvec)++;
	}
	return got;
}

/* The request header of part in hdr; its length on the wire. */
static u32 vs_build_req(struct vs_conn *conn, struct vs_part *part,
			union vs_packet *p)
{
	vs_req_init(p, part->id, part->op);
	if (part->op == VS_OP_SYNC)
		return VS_PACKET_SIZE;
	vs_le64_set(&p->rw.inode, part->inode);
	vs_le64_set(&p->rw.offset, part->offset);
	vs_le32_set(&p->rw.len, part->len);
	return VS_PACKET_SIZE + (part->op == VS_OP_WRITE ? part->len : 0);
}

static void vs_batch_add(struct vs_conn *conn, struct vs_part *part, u32 len)
{
	struct vs_tx_op *op = &conn->tx_ops[conn->tx_nops++];

	conn->tx_queued += len;
	op->part = part;
	op->len = len;
	op->end = conn->tx_queued;
}

/* A new batch from the send queue (and a due PING); false if empty. */
static bool vs_batch_fill(struct vs_conn *conn)
{
	struct vs_part *part;

	conn->tx_nops = 0;
	conn->tx_cur = 0;
	if (conn->ping_due) {
		u64 id = ((u64)(conn->conn_gen & VS_ID_GEN_MASK) << VS_ID_GEN_SHIFT) |
			 ((u64)VS_ID_PART_CONN << VS_ID_PART_SHIFT);

		vs_req_init(&conn->tx_hdrs[0], id, VS_OP_PING);
		vs_batch_add(conn, NULL, VS_PACKET_SIZE);
		conn->ping_due = false;
		WRITE_ONCE(conn->ping_sent, true);
		WRITE_ONCE(conn->last_rx, jiffies);
	}
	spin_lock_bh(&conn->lock);
	while (conn->tx_nops < VS_TX_OPS && !list_empty(&conn->sendq)) {
		part = list_first_entry(&conn->sendq, struct vs_part, node);
		/* lazy: nothing else of a PG that replays acknowledged writes */
		if (unlikely(conn->dev->lz) && vs_lazy_hold_queued(conn->dev, part))
			continue;
		list_move_tail(&part->node, &conn->inflight);
		part->state = VS_PART_SENDING;
		/*
		 * From the connection, not the part: with an I/O scheduler a
		 * driver tag goes to another request (PDU) each time, whose
		 * own count may repeat an id still awaiting a late reply.
		 */
		part->gen = ++conn->tx_gen;
		part->id = vs_part_id(part);
		vs_batch_add(conn, part, vs_build_req(conn, part,
						      &conn->tx_hdrs[conn->tx_nops]));
		part->tx_end = conn->tx_queued;
		atomic_inc(&conn->dev->tx_waiting);
	}
	spin_unlock_bh(&conn->lock);
	return conn->tx_nops;
}

static void vs_bvec(struct bio_vec *bv, struct page *page, u32 len, u32 off)
{
	bv->bv_page = page;
	bv->bv_len = len;
	bv->bv_offset = off;
}

/* Segments for op i of the batch from byte off of it on; bytes covered. */
static u32 vs_op_vecs(struct vs_conn *conn, u32 i, u32 off, u32 *nvec)
{
	struct vs_tx_op *op = &conn->tx_ops[i];
	struct bio_vec *vec = conn->tx_vec;
	struct vs_part *part = op->part;
	u32 got = 0, n;

	if (off < VS_PACKET_SIZE) {
		u8 *hdr = (u8 *)&conn->tx_hdrs[i] + off;

		vs_bvec(&vec[(*nvec)++], virt_to_page(hdr), VS_PACKET_SIZE - off,
			offset_in_page(hdr));
		got = VS_PACKET_SIZE - off;
		off = 0;
	} else {
		off -= VS_PACKET_SIZE;
	}
	if (op->len == VS_PACKET_SIZE)
		return got;
	n = op->len - VS_PACKET_SIZE;
	if ((part->flags & (VS_PF_LAZY | VS_PF_ZERO)) == VS_PF_LAZY)
		return got + vs_lazy_vecs(part, off, n - off, vec, nvec);
	if (!(part->flags & VS_PF_ZERO))
		return got + vs_rq_vecs(part->cmd->rq, part->roff + off, n - off,
					vec, nvec);
	while (off < n && *nvec < VS_TX_VECS) {
		u32 k = min_t(u32, n - off, PAGE_SIZE);

		vs_bvec(&vec[(*nvec)++], ZERO_PAGE(0), k, 0);
		got += k;
		off += k;
	}
	return got;
}

/*
 * One sendmsg of as much of the batch as fits in tx_vec (socket lock
 * held). tx_msg lets the receive side, should tcp_sendmsg_locked process
 * the backlog midway, tell which ops are already out.
 */
static int vs_batch_send(struct vs_conn *conn, struct sock *sk)
{
	struct msghdr msg = { .msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL };
	size_t len = 0;
	u32 nvec = 0, i;
	int ret;

	for (i = conn->tx_cur; i < conn->tx_nops && nvec < VS_TX_VECS; i++) {
		u64 start = conn->tx_ops[i].end - conn->tx_ops[i].len;
		u32 off = conn->tx_sent > start ? conn->tx_sent - start : 0;
		u32 got = vs_op_vecs(conn, i, off, &nvec);

		/* short of segments only when tx_vec is full, else a bug */
		if (got < conn->tx_ops[i].len - off && nvec < VS_TX_VECS)
			return -EIO;
		len += got;
	}
	if (!len)
		return -EIO;
	/* more follows right away: the rest of the batch or the next one */
	if (conn->tx_sent + len < conn->tx_queued || !list_empty(&conn->sendq))
		msg.msg_flags |= MSG_MORE;
	iov_iter_bvec(&msg.msg_iter, ITER_SOURCE, conn->tx_vec, nvec, len);
	conn->tx_call_len = len;
	WRITE_ONCE(conn->tx_msg, &msg);
	ret = tcp_sendmsg_locked(sk, &msg, len);
	WRITE_ONCE(conn->tx_msg, NULL);
	if (ret <= 0)
		return ret ? ret : -EPIPE;
	conn->tx_sent += ret;
	while (conn->tx_cur < conn->tx_nops &&
	       conn->tx_ops[conn->tx_cur].end <= conn->tx_sent)
		conn->tx_cur++;
	return ret;
}

/* Bytes of this socket's stream handed to TCP (socket lock held). */
static u64 vs_tx_sent_now(struct vs_conn *conn)
{
	struct msghdr *m = READ_ONCE(conn->tx_msg);

	if (m)
		return conn->tx_sent + conn->tx_call_len - iov_iter_count(&m->msg_iter);
	return conn->tx_sent;
}

/*
 * Sends until the send queue is empty, the socket is full or budget calls
 * were made (io_mutex held). 1: more to send, 0: done or full, <0: error.
 */
static int vs_conn_tx(struct vs_conn *conn, int budget)
{
	struct sock *sk = conn->sock->sk;
	int ret = 0;

	WRITE_ONCE(conn->tx_cpu, raw_smp_processor_id());
	lock_sock(sk);
	while (budget--) {
		if (conn->tx_cur == conn->tx_nops && !vs_batch_fill(conn)) {
			ret = 0;
			goto out;
		}
		ret = vs_batch_send(conn, sk);
		if (ret == -EAGAIN) {
			ret = 0;
			goto out;
		}
		if (ret < 0)
			goto out;
	}
	ret = conn->tx_cur < conn->tx_nops || !list_empty(&conn->sendq);
out:
	/* replies that came meanwhile are processed here, in order */
	release_sock(sk);
	return ret;
}

/*
 * Sends what is queued in the caller's context (io_mutex held). True if
 * io_work has to go on: more to send, or a broken connection to reset.
 */
static bool vs_conn_tx_task(struct vs_conn *conn)
{
	unsigned int noio;
	int ret;

	if (!conn->sock || READ_ONCE(conn->err))
		return true;
	noio = memalloc_noio_save();
	ret = vs_conn_tx(conn, VS_TX_BUDGET);
	memalloc_noio_restore(noio);
	if (ret < 0)
		WRITE_ONCE(conn->err, ret);
	return ret;
}

/*
 * queue_rq's fast path: send what is queued now, in the caller's context,
 * unless someone else holds the connection (then io_work does it).
 */
void vs_conn_push(struct vs_conn *conn)
{
	bool more = true;

	if (mutex_trylock(&conn->io_mutex)) {
		more = vs_conn_tx_task(conn);
		mutex_unlock(&conn->io_mutex);
	}
	if (more)
		queue_work(vs_io_wq, &conn->io_work);
}

/*
 * A poller's turn on a connection (blk-mq .poll, user reference held), in
 * three steps so that one poll parses every connection first and then
 * sends on each what the replies released (tx_defer): begin takes the
 * connection unless someone else works on it (never waits), rx parses
 * and completes the replies the socket holds in the polling task (the
 * number parsed), end sends and lets go.
 */
bool vs_conn_poll_begin(struct vs_conn *conn)
{
	if (!mutex_trylock(&conn->io_mutex))
		return false;
	if (!conn->sock || READ_ONCE(conn->err)) {
		mutex_unlock(&conn->io_mutex);
		return false;
	}
	/* from here the kicks leave the sendq to vs_conn_poll_end */
	WRITE_ONCE(conn->polling, true);
	return true;
}

int vs_conn_poll_rx(struct vs_conn *conn)
{
	if (skb_queue_empty_lockless(&conn->sock->sk->sk_receive_queue))
		return 0;
	return vs_conn_rx_task(conn);
}

void vs_conn_poll_end(struct vs_conn *conn)
{
	bool more;

	WRITE_ONCE(conn->polling, false);
	/* polling cleared before the sendq is read: pairs with the kick's */
	smp_mb();
	more = !list_empty_careful(&conn->sendq) && vs_conn_tx_task(conn);
	mutex_unlock(&conn->io_mutex);
	if (more)
		queue_work(vs_io_wq, &conn->io_work);
}

/* ---- receiving ---- */

/*
 * The parser's batch ends every so many replies or copied bytes, not only
 * at the end of the parse: a socket full of large READ replies must not
 * hold the first request back until the last is copied.
 */
#define VS_BATCH_REPLIES	32
#define VS_BATCH_BYTES		(256U << 10)

static void vs_rx_batch_end(struct vs_rx_batch *b)
{
	b->replies = 0;
	b->bytes = 0;
	/* ending empties the list and keeps ->complete: test the list */
	if (rq_list_peek(&b->iob.req_list))
		b->iob.complete(&b->iob);
}

static void vs_rx_batch_step(struct vs_rx_batch *b, u32 bytes)
{
	b->bytes += bytes;
	if (++b->replies >= VS_BATCH_REPLIES || b->bytes >= VS_BATCH_BYTES)
		vs_rx_batch_end(b);
}

static void vs_conn_part_reply(struct vs_conn *conn, struct vs_part *part,
			       s64 retval)
{
	/* the part may be another request's once vs_part_done ends it */
	u32 bytes = part->op == VS_OP_READ && retval > 0 ? part->len : 0;

	conn->rx_part = NULL;
	WRITE_ONCE(part->conn, NULL);
	WRITE_ONCE(conn->rx_done, conn->rx_done + 1);
	if (unlikely(part->flags & VS_PF_LAZY)) {
		vs_lazy_reply(conn, part, retval);
		return;
	}
	/* lazy: kept until a SYNC covers it */
	if (retval >= 0 && part->dirty)
		vs_lazy_acked(conn, part);
	vs_part_done(part, retval < 0 ? (int)retval : 0,
		     conn->rx_batch ? &conn->rx_batch->iob : NULL);
	if (conn->rx_batch)
		vs_rx_batch_step(conn->rx_batch, bytes);
}

/* Whether a reply id can name nothing this device sends: a lying peer. */
static bool vs_id_bogus(struct vs_dev *dev, u64 id)
{
	u32 utag = (u32)id, pidx = (id >> VS_ID_PART_SHIFT) & VS_ID_PART_MASK;

	if (pidx == VS_ID_PART_LAZY)
		return !vs_lazy_id_valid(dev, utag);
	return blk_mq_unique_tag_to_hwq(utag) >= dev->tag_set.nr_hw_queues ||
	       blk_mq_unique_tag_to_tag(utag) >= dev->tag_set.queue_depth ||
	       pidx >= VS_NPARTS;
}

/*
 * The part a reply header names, taken off the in-flight list; or NULL.
 * Found on that list, not through the tag: with an I/O scheduler a tag's
 * request may be one of a pool an elevator switch has freed since (a late
 * reply to an aborted part), and the list holds only parts alive on this
 * connection. Replies come mostly in the order sent: the match is near
 * the head.
 */
static struct vs_part *vs_conn_claim(struct vs_conn *conn, u64 id, int *err)
{
	struct vs_part *part = NULL, *p;

	*err = vs_id_bogus(conn->dev, id) ? -EPROTO : 0;
	if (*err)
		return NULL;
	spin_lock_bh(&conn->lock);
	list_for_each_entry(p, &conn->inflight, node) {
		if (p->id != id)
			continue;
		/* an answer to a request we have not sent yet is a lie */
		if (p->tx_end > vs_tx_sent_now(conn)) {
			*err = -EPROTO;
			break;
		}
		part = p;
		list_del_init(&part->node);
		atomic_dec(&conn->dev->tx_waiting);
		part->state = VS_PART_RECEIVING;
		break;
	}
	spin_unlock_bh(&conn->lock);
	return part;
}

static int vs_conn_ping_reply(struct vs_conn *conn)
{
	union vs_packet *h = &conn->rx_hdr;
	u32 gen = (vs_packet_id(h) >> VS_ID_GEN_SHIFT) & VS_ID_GEN_MASK;

	if (vs_packet_opcode(h) != VS_OP_PING || !READ_ONCE(conn->ping_sent) ||
	    gen != (conn->conn_gen & VS_ID_GEN_MASK) || vs_reply_retval(h))
		return -EPROTO;
	WRITE_ONCE(conn->ping_sent, false);
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
		u32 want = vs_part_bitmap_len(part);

		if (retval != part->len || blen > want)
			return -EPROTO;
		/* a layered read needs to know every granule of the stripe */
		if ((part->flags & VS_PF_LAYER) && blen != want)
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

/* READ data from skb into rx_part's pages; the bytes taken. */
static int vs_rx_data(struct vs_conn *conn, struct sk_buff *skb, u32 off,
		      u32 avail)
{
	struct vs_part *part = conn->rx_part;
	struct bio_vec bv;
	void *dst;
	int err;

	vs_rq_bvec(part->cmd->rq, part->roff + conn->rx_data_off,
		   min(conn->rx_left, avail), &bv);
	if (!bv.bv_len)
		return -EIO;
	dst = kmap_local_page(bv.bv_page);
	err = skb_copy_bits(skb, off, dst + bv.bv_offset, bv.bv_len);
	kunmap_local(dst);
	if (err)
		return err;
	conn->rx_data_off += bv.bv_len;
	conn->rx_left -= bv.bv_len;
	if (!conn->rx_left) {
		conn->rx_state = VS_RX_HDR;
		vs_conn_part_reply(conn, part, part->len);
	}
	return bv.bv_len;
}

/* One step of the receive state machine on avail bytes of skb at off. */
static int vs_rx_step(struct vs_conn *conn, struct sk_buff *skb, u32 off,
		      u32 avail)
{
	u32 n;
	int err;

	switch (conn->rx_state) {
	case VS_RX_HDR:
		n = min_t(u32, avail, VS_PACKET_SIZE - conn->rx_got);
		err = skb_copy_bits(skb, off, (u8 *)&conn->rx_hdr + conn->rx_got, n);
		if (err)
			return err;
		conn->rx_got += n;
		if (conn->rx_got < VS_PACKET_SIZE)
			return n;
		conn->rx_got = 0;
		WRITE_ONCE(conn->last_rx, jiffies);
		err = vs_conn_got_hdr(conn);
		return err < 0 ? err : n;
	case VS_RX_SKIP:
		n = min(avail, conn->rx_left);
		if (conn->rx_next == VS_RX_DATA && conn->rx_part &&
		    (conn->rx_part->flags & VS_PF_LAYER)) {
			/* the bitmap of a layered read: rx_data_off counts it */
			err = vs_layer_rx_bitmap(conn->rx_part, skb, off, n,
						 conn->rx_data_off);
			if (err)
				return err;
			conn->rx_data_off += n;
		}
		conn->rx_left -= n;
		if (!conn->rx_left) {
			conn->rx_state = conn->rx_next;
			if (conn->rx_state == VS_RX_DATA) {
				conn->rx_left = conn->rx_part->len;
				conn->rx_data_off = 0;
			}
		}
		return n;
	default:
		return vs_rx_data(conn, skb, off, avail);
	}
}

/* tcp_read_sock's actor: consumes all of len unless the stream is bad. */
static int vs_rx_actor(read_descriptor_t *desc, struct sk_buff *skb,
		       unsigned int off, size_t len)
{
	struct vs_conn *conn = desc->arg.data;
	size_t done = 0;
	int ret;

	while (done < len) {
		ret = vs_rx_step(conn, skb, off + done, min_t(size_t, len - done, U32_MAX));
		if (ret < 0) {
			desc->error = ret;
			desc->count = 0;
			break;
		}
		done += ret;
	}
	return done;
}

/*
 * Everything the socket holds, parsed and completed (socket lock held):
 * the requests that end well end together, after the parse.
 */
static void vs_conn_rx_sock(struct vs_conn *conn, struct sock *sk)
{
	read_descriptor_t desc = { .arg.data = conn, .count = 1 };
	struct vs_rx_batch batch = { };

	if (READ_ONCE(conn->err))
		return;
	conn->rx_batch = &batch;
	tcp_read_sock(sk, &desc, vs_rx_actor);
	conn->rx_batch = NULL;
	vs_rx_batch_end(&batch);
	if (desc.error) {
		vs_conn_fail(conn, desc.error);
		return;
	}
	/* parts queued while these replies were awaited go out now, together */
	vs_dev_kick_deferred(conn->dev);
}

/*
 * Liveness beyond TCP (spec 4.2): a peer whose kernel still ACKs but whose
 * OSD process hangs is found by PING. With requests waiting and nothing
 * received for idle_timeout, send one; no reply for ping_timeout resets.
 */
static int vs_conn_ping_check(struct vs_conn *conn)
{
	unsigned long last = READ_ONCE(conn->last_rx);
	bool waiting;

	if (!vs_idle_timeout_ms)
		return 0;
	spin_lock_bh(&conn->lock);
	waiting = !list_empty(&conn->inflight) || READ_ONCE(conn->rx_part);
	spin_unlock_bh(&conn->lock);
	if (READ_ONCE(conn->ping_sent)) {
		if (time_after(jiffies, last + msecs_to_jiffies(vs_ping_timeout_ms)))
			return -ETIMEDOUT;
	} else if (waiting && !conn->ping_due &&
		   time_after(jiffies, last + msecs_to_jiffies(vs_idle_timeout_ms))) {
		conn->ping_due = true;
	}
	return 0;
}

/*
 * Process-context side of a connection: resets after an error, sends
 * what queue_rq could not push, PINGs an idle peer.
 */
static void vs_conn_io_work(struct work_struct *w)
{
	struct vs_conn *conn = container_of(w, struct vs_conn, io_work);
	unsigned int noio = memalloc_noio_save();
	LIST_HEAD(failed);
	int err, more = 0;

	mutex_lock(&conn->io_mutex);
	if (!conn->sock)
		goto out;
	err = READ_ONCE(conn->err);
	/* a poll queue's replies whose poller stopped (see vs_rx_polled) */
	if (!err && conn->poll) {
		vs_conn_rx_task(conn);
		err = READ_ONCE(conn->err);
	}
	if (!err)
		err = vs_conn_ping_check(conn);
	if (!err) {
		more = vs_conn_tx(conn, VS_TX_BUDGET);
		if (more < 0)
			err = more;
	}
	/* a receive error may have come while we sent */
	if (!err)
		err = READ_ONCE(conn->err);
	if (err)
		vs_conn_reset(conn, err, &failed);
	else if (more > 0)
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

/*
 * Sends what a ready connection holds back (vs_dev_kick_deferred). Under
 * conn->lock: once vs_conn_kill marked it dead, nothing queues its work.
 */
void vs_conn_kick_queued(struct vs_conn *conn)
{
	if (list_empty(&conn->sendq))
		return;
	/* a poller sends it once it parsed its replies (vs_conn_poll_end) */
	if (conn->poll) {
		/* the sendq read before polling: pairs with vs_conn_poll_end */
		smp_mb();
		if (READ_ONCE(conn->polling))
			return;
	}
	spin_lock_bh(&conn->lock);
	if (conn->state == VS_CONN_READY && !list_empty(&conn->sendq))
		queue_work(vs_io_wq, &conn->io_work);
	spin_unlock_bh(&conn->lock);
}

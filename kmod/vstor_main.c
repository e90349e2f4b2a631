// SPDX-License-Identifier: GPL-2.0
/*
 * vstor.ko: block devices (/dev/vsN) backed by a vstor cluster.
 *
 * Module init and exit, and the module parameters. Order matters: the
 * generic netlink family is the only way in from userspace, so it is
 * registered last, when everything a command may touch is ready, and
 * unregistered first, so that no MAP or UNMAP can race with tearing the
 * devices down (blktests nbd/004 found the reverse order unsafe in nbd).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <net/genetlink.h>

#include "vstor.h"
#include "vstor_proto.h"

/*
 * Timeouts, in milliseconds. The defaults suit real hardware; tests under
 * QEMU TCG (many times slower) stretch or shrink them with these.
 */
unsigned int vs_connect_timeout_ms = 5000;
module_param_named(connect_timeout_ms, vs_connect_timeout_ms, uint, 0644);
MODULE_PARM_DESC(connect_timeout_ms, "TCP connect + SHOW_CONFIG handshake limit (peer_connect_timeout)");

unsigned int vs_tcp_timeout_ms = 15000;
module_param_named(tcp_timeout_ms, vs_tcp_timeout_ms, uint, 0644);
MODULE_PARM_DESC(tcp_timeout_ms, "TCP_USER_TIMEOUT; keepalive probes every third of it");

unsigned int vs_retry_interval_ms = 500;
module_param_named(retry_interval_ms, vs_retry_interval_ms, uint, 0644);
MODULE_PARM_DESC(retry_interval_ms, "retry of a request refused with EPIPE or without primary (up_wait_retry_interval)");

unsigned int vs_backoff_max_ms = 5000;
module_param_named(backoff_max_ms, vs_backoff_max_ms, uint, 0644);
MODULE_PARM_DESC(backoff_max_ms, "longest wait between reconnect attempts (starts at 100, doubles)");

unsigned int vs_idle_timeout_ms = 5000;
module_param_named(idle_timeout_ms, vs_idle_timeout_ms, uint, 0644);
MODULE_PARM_DESC(idle_timeout_ms, "PING an OSD that answered nothing this long while requests wait (osd_idle_timeout, 0 = never)");

unsigned int vs_ping_timeout_ms = 5000;
module_param_named(ping_timeout_ms, vs_ping_timeout_ms, uint, 0644);
MODULE_PARM_DESC(ping_timeout_ms, "reconnect when a PING is not answered this long (osd_ping_timeout)");

unsigned int vs_stuck_ms = 30000;
module_param_named(stuck_ms, vs_stuck_ms, uint, 0644);
MODULE_PARM_DESC(stuck_ms, "report requests older than this (IO_STUCK event) unless the device has a timeout");

unsigned int vs_unmap_timeout_ms = 10000;
module_param_named(unmap_timeout_ms, vs_unmap_timeout_ms, uint, 0644);
MODULE_PARM_DESC(unmap_timeout_ms, "how long a normal UNMAP waits for requests in flight");

/*
 * Batching: with this many parts of a device awaiting replies, queue_rq no
 * longer sends a new request alone but leaves it for the kick after the
 * next reply, so that the requests queued meanwhile share one sendmsg per
 * connection and one wakeup of each OSD. fio submits one request per
 * syscall: sent one by one they cost ~1 TCP segment per request each way
 * at QD32 and the OSDs 3x the CPU per op of vsctl bench's batches. A
 * request waits at most for the next reply (a burst's first one never:
 * nothing awaits a reply then), so QD1 latency is unchanged.
 */
unsigned int vs_tx_defer = 1;
module_param_named(tx_defer, vs_tx_defer, uint, 0644);
MODULE_PARM_DESC(tx_defer, "parts awaiting replies from which new requests wait for the next reply and leave together (0 = each at once)");

/*
 * Lazy pools (spec 7, client_max_dirty_ops / client_max_dirty_bytes): the
 * writes each device keeps for replay until a SYNC, preallocated at MAP.
 * Half of either starts an automatic SYNC; at the limit writes wait.
 */
module_param_named(max_dirty_ops, vs_max_dirty_ops, uint, 0644);
MODULE_PARM_DESC(max_dirty_ops, "lazy pools: acknowledged writes kept for replay per device until a SYNC (read at map)");
module_param_named(max_dirty_bytes, vs_max_dirty_bytes, uint, 0644);
MODULE_PARM_DESC(max_dirty_bytes, "lazy pools: bytes of them (read at map)");

/*
 * Whether tx_defer also holds the requests of a batch the submitter handed
 * over at once (bd->last): they leave together at the batch's end anyway,
 * but held they collect more requests behind the next reply.
 */
bool vs_tx_defer_batch;
module_param_named(tx_defer_batch, vs_tx_defer_batch, bool, 0644);
MODULE_PARM_DESC(tx_defer_batch, "tx_defer holds the requests of a submitted batch too (0 = a batch leaves at its end)");

/*
 * Where replies are parsed and their requests completed. By default in
 * sk_data_ready, in the softirq that received them: no wakeup, no context
 * switch. On loopback (a client on an OSD host) that softirq runs in the
 * replying OSD's context, so the OSD's CPU pays for the client's receive
 * path; rx_work moves it to a work item on the CPU that last sent on the
 * connection, as a NIC's interrupt on a client host apart would. That
 * costs a kworker wakeup per receive, so a reply with no other request
 * of the device awaiting one (depth 1) is still parsed in the softirq.
 */
bool vs_rx_work;
module_param_named(rx_work, vs_rx_work, bool, 0644);
MODULE_PARM_DESC(rx_work, "parse replies in a work item on the CPU that last sent, not in the receive softirq (clients on OSD hosts with CPUs of their own)");

/*
 * Polled I/O (io_uring IORING_SETUP_IOPOLL, preadv2 RWF_HIPRI): requests
 * marked REQ_POLLED go to poll queues with connections of their own, whose
 * replies the polling task parses itself: no softirq parse, no wakeup, the
 * reply's copy on the poller's CPU. 0: polled I/O runs as any other.
 */
unsigned int vs_poll_queues = 1;
module_param_named(poll_queues, vs_poll_queues, uint, 0644);
MODULE_PARM_DESC(poll_queues, "blk-mq poll queues of each device (at most one per CPU), one connection per OSD each (read at map; 0 = none)");

struct workqueue_struct *vs_io_wq;
struct workqueue_struct *vs_ctl_wq;

DEFINE_MUTEX(vs_ctl_mutex);
LIST_HEAD(vs_devs);

static int __init vs_init(void)
{
	int err;

	err = vs_check_proto();
	if (err) {
		pr_err("protocol header self-check failed\n");
		return err;
	}
	/* Both are on the I/O path: they must make progress under reclaim. */
	vs_io_wq = alloc_workqueue("vstor_io", WQ_MEM_RECLAIM | WQ_HIGHPRI, 0);
	vs_ctl_wq = alloc_workqueue("vstor_ctl", WQ_MEM_RECLAIM, 0);
	if (!vs_io_wq || !vs_ctl_wq) {
		err = -ENOMEM;
		goto out_wq;
	}
	err = vs_dev_init();
	if (err) {
		pr_err("cannot register a block major: %d\n", err);
		goto out_wq;
	}
	err = vs_genl_init();
	if (err) {
		pr_err("cannot register the %s netlink family: %d\n",
		       VS_GENL_NAME, err);
		goto out_dev;
	}
	pr_info("protocol %d, netlink family %s v%d\n",
		VS_PROTOCOL_VERSION, VS_GENL_NAME, VS_GENL_VERSION);
	return 0;

out_dev:
	vs_dev_exit();
out_wq:
	if (vs_ctl_wq)
		destroy_workqueue(vs_ctl_wq);
	if (vs_io_wq)
		destroy_workqueue(vs_io_wq);
	return err;
}

static void __exit vs_exit(void)
{
	vs_genl_exit();
	/* No command can arrive now; nobody has a device open (module ref). */
	vs_dev_remove_all();
	vs_dev_exit();
	destroy_workqueue(vs_ctl_wq);
	destroy_workqueue(vs_io_wq);
}

module_init(vs_init);
module_exit(vs_exit);

MODULE_DESCRIPTION("vstor clustered block device");
MODULE_LICENSE("GPL");
MODULE_ALIAS_GENL_FAMILY(VS_GENL_NAME);

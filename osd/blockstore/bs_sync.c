/* Blockstore SYNC: making completed records durable (fsync), autosync. */
#include "bs_internal.h"

static void sync_done_cb(struct bs_io *io, int res)
{
	struct bs *bs = io->owner;

	bs->inflight_ios--;
	if (res < 0)
		fail(bs, "fsync", res);
	if (--bs->sync_pending)
		return;
	bs->sync_inflight = false;
	if (bs->sync_target > bs->durable_seq)
		bs->durable_seq = bs->sync_target;
	sync_kick(bs);
	flush_kick(bs);
}

void sync_kick(struct bs *bs)
{
	while (bs->sw && bs->sw->sync_target <= bs->durable_seq) {
		struct bs_op *op = bs->sw;

		bs->sw = op->next;
		if (!bs->sw)
			bs->sw_tail = NULL;
		op->retval = 0;
		complete_op(op);
	}
	if (!bs->sw || bs->sync_inflight || bs->completed_seq < bs->sw->sync_target)
		return;
	bs->sync_target = bs->completed_seq;
	if (bs->writes_durable) {
		bs->durable_seq = bs->sync_target;
		sync_kick(bs);
		return;
	}
	bs->sync_inflight = true;
	bs->sync_pending = 1;
	for (int i = 0; i < 2; i++) {
		memset(&bs->sync_io[i], 0, sizeof(bs->sync_io[i]));
		bs->sync_io[i].cb = sync_done_cb;
		bs->sync_io[i].owner = bs;
	}
	if (!bs->cfg.disable_journal_fsync) {
		bs->sync_pending++;
		do_flush(bs, BS_SLOT_JOURNAL, &bs->sync_io[0]);
	}
	if (!bs->cfg.disable_data_fsync &&
		(bs->be->phys[BS_SLOT_DATA] != bs->be->phys[BS_SLOT_JOURNAL] || bs->cfg.disable_journal_fsync)) {
		bs->sync_pending++;
		do_flush(bs, BS_SLOT_DATA, &bs->sync_io[1]);
	}
	if (--bs->sync_pending == 0) {
		bs->sync_inflight = false;
		bs->durable_seq = bs->sync_target;
		sync_kick(bs);
		flush_kick(bs);
	}
}

void do_sync_op(struct bs *bs, struct bs_op *op)
{
	op->sync_target = bs->last_seq;
	op->next = NULL;
	if (op->sync_target <= bs->durable_seq) {
		finish_later(bs, op, 0);
		return;
	}
	opq_push(&bs->sw, &bs->sw_tail, op);
	sync_kick(bs);
}

static void autosync_cb(struct bs_op *op)
{
	struct bs *bs = op->priv;

	bs->autosync_busy = false;
}

void request_autosync(struct bs *bs)
{
	if (bs->autosync_busy || bs->writes_durable || bs->last_seq <= bs->durable_seq)
		return;
	bs->autosync_busy = true;
	bs->st.autosyncs++;
	memset(&bs->autosync, 0, sizeof(bs->autosync));
	bs->autosync.opcode = BS_OP_SYNC;
	bs->autosync.cb = autosync_cb;
	bs->autosync.priv = bs;
	do_sync_op(bs, &bs->autosync);
}

/* OSD op dispatch: one handler per opcode. Secondary ops run on the local
 * blockstore; SHOW_CONFIG and PING are answered at once; primary ops need
 * PGs and run in osd_primary.c (osd_primary_exec). */
#include "osd.h"
#include "json.h"
#include "log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

typedef void (*osd_op_handler)(struct osd *osd, struct osd_op *op);

static const char *ic_name(int ic)
{
	return ic == BS_IC_ALL ? VS_IMMEDIATE_COMMIT_ALL :
	       ic == BS_IC_SMALL ? VS_IMMEDIATE_COMMIT_SMALL : VS_IMMEDIATE_COMMIT_NONE;
}

int osd_build_config_json(struct osd *osd)
{
	struct strbuf sb;

	sb_init(&sb);
	sb_printf(&sb, "{\"%s\":%" PRIu64 ",\"%s\":%d,\"%s\":%u,\"%s\":%u,\"%s\":%s,"
		  "\"%s\":true,\"%s\":%s,\"%s\":",
		  VS_CFG_OSD_NUM, osd->osd_num, VS_CFG_PROTOCOL_VERSION, VS_PROTOCOL_VERSION,
		  VS_CFG_BLOCK_SIZE, osd->block_size, VS_CFG_BITMAP_GRANULARITY,
		  osd->bitmap_granularity, VS_CFG_PRIMARY_ENABLED,
		  osd->primary_enabled ? "true" : "false", VS_CFG_BLOCKSTORE_ENABLED,
		  VS_CFG_READONLY, osd->readonly ? "true" : "false", VS_CFG_IMMEDIATE_COMMIT);
	sb_json_str(&sb, ic_name(osd->immediate_commit));
	sb_printf(&sb, ",\"%s\":%d}", VS_CFG_LEASE_TIMEOUT,
		  osd->lease_ttl ? (int)osd->lease_ttl : OSD_LEASE_TIMEOUT);
	if (sb.oom || !sb.buf) {
		sb_free(&sb);
		return -ENOMEM;
	}
	osd->config_json = sb.buf;		/* owned by osd, freed at exit */
	osd->config_json_len = sb.len + 1;	/* with the NUL */
	return 0;
}

/* ---- receive: where payloads go ---- */

static void *op_buf(struct osd *osd, struct osd_op *op, size_t size)
{
	op->buf = osd_buf_get(osd, size, &op->buf_size);
	return op->buf;
}

/* The bitmap buffer: inline when small, else from the pool. Zeroed. */
static void *op_bitmap(struct osd *osd, struct osd_op *op, size_t size)
{
	if (size <= sizeof(op->bmp_inline)) {
		op->bitmap = op->bmp_inline;
	} else {
		op->bmp = osd_buf_get(osd, size, &op->bmp_size);
		op->bitmap = op->bmp;
	}
	if (op->bitmap)
		memset(op->bitmap, 0, size);
	return op->bitmap;
}

static bool op_modifies(uint64_t opcode)
{
	switch (opcode) {
	case VS_OP_SEC_WRITE:
	case VS_OP_SEC_WRITE_STABLE:
	case VS_OP_SEC_STABILIZE:
	case VS_OP_SEC_ROLLBACK:
	case VS_OP_SEC_DELETE:
	case VS_OP_WRITE:
	case VS_OP_DELETE:
		return true;
	default:
		return false;
	}
}

int osd_op_prepare(struct osd *osd, struct osd_op *op, uint64_t frame_len, struct iovec dst[2])
{
	uint32_t len, off, attr;

	/* Unless a case below takes it, the payload is read and dropped. */
	dst[0].iov_base = NULL;
	dst[0].iov_len = frame_len;
	if (op->check < 0) {
		op->err = -EINVAL;
		return 0;
	}
	if (osd->readonly && op_modifies(op->opcode)) {
		op->err = -EROFS;
		return 0;
	}
	switch (op->opcode) {
	case VS_OP_SEC_WRITE:
	case VS_OP_SEC_WRITE_STABLE:
		len = vs_le32_get(op->req.sec_rw.len);
		off = vs_le32_get(op->req.sec_rw.offset);
		attr = vs_le32_get(op->req.sec_rw.attr_len);
		/* Refuse before allocating: the range must fit one block. */
		if (off > osd->block_size || len > osd->block_size - off) {
			op->err = -EINVAL;
			return 0;
		}
		if (!op_bitmap(osd, op, attr > osd->bitmap_size ? attr : osd->bitmap_size) ||
		    (len && !op_buf(osd, op, len)))
			return -1;
		dst[0].iov_base = op->bitmap;
		dst[0].iov_len = attr;
		dst[1].iov_base = op->buf;
		dst[1].iov_len = len;
		return 0;
	case VS_OP_SEC_STABILIZE:
	case VS_OP_SEC_ROLLBACK:
	case VS_OP_SEC_READ_BMP:
		if (frame_len && !op_buf(osd, op, frame_len))
			return -1;
		dst[0].iov_base = op->buf;
		return 0;
	case VS_OP_WRITE:
		/* Alignment and routing are checked when executed (osd_primary.c). */
		if (frame_len && !op_buf(osd, op, frame_len))
			return -1;
		dst[0].iov_base = op->buf;
		return 0;
	default:
		/* SHOW_CONFIG's JSON (RDMA negotiation) is ignored: no RDMA. */
		return 0;
	}
}

/* ---- replies ---- */

static void reply_hdr(struct osd_op *op, int64_t retval)
{
	vs_reply_init(&op->reply, &op->req, retval);
	op->iov[0].iov_base = &op->reply;
	op->iov[0].iov_len = VS_PACKET_SIZE;
	op->niov = 1;
}

static void reply_add(struct osd_op *op, void *p, size_t len)
{
	if (!len)
		return;
	op->iov[op->niov].iov_base = p;
	op->iov[op->niov].iov_len = len;
	op->niov++;
}

static void reply_simple(struct osd_op *op, int64_t retval)
{
	reply_hdr(op, retval);
	osd_send_reply(op);
}

/* ---- handlers ---- */

static void exec_show_config(struct osd *osd, struct osd_op *op)
{
	reply_hdr(op, (int64_t)osd->config_json_len);
	reply_add(op, osd->config_json, osd->config_json_len);
	osd_send_reply(op);
}

static void exec_ping(struct osd *osd, struct osd_op *op)
{
	reply_simple(op, 0);
}

static void exec_invalid(struct osd *osd, struct osd_op *op)
{
	reply_simple(op, -EINVAL);
}

static void bs_done(struct bs_op *bop);

static void submit(struct osd *osd, struct osd_op *op, int bs_opcode)
{
	op->bs.opcode = bs_opcode;
	op->bs.cb = bs_done;
	op->bs.priv = op;
	bs_submit(osd->bs, &op->bs);
}

static void clear_bs(struct osd_op *op)
{
	memset(&op->bs, 0, sizeof(op->bs));
}

static void exec_sec_rw(struct osd *osd, struct osd_op *op)
{
	const struct vs_op_sec_rw *r = &op->req.sec_rw;
	uint32_t len = vs_le32_get(r->len), off = vs_le32_get(r->offset);
	bool rd = op->opcode == VS_OP_SEC_READ;

	clear_bs(op);
	op->bs.oid.inode = vs_le64_get(r->oid.inode);
	op->bs.oid.stripe = vs_le64_get(r->oid.stripe);
	op->bs.version = vs_le64_get(r->version);
	op->bs.offset = off;
	op->bs.len = len;
	if (rd) {
		if (off > osd->block_size || len > osd->block_size - off) {
			reply_simple(op, -EINVAL);
			return;
		}
		if (!op_bitmap(osd, op, osd->bitmap_size) || (len && !op_buf(osd, op, len))) {
			reply_simple(op, -ENOMEM);
			return;
		}
		op->bs.buf = op->buf;
		op->bs.bitmap = op->bitmap;
		submit(osd, op, BS_OP_READ);
		return;
	}
	op->bs.buf = op->buf;
	op->bs.bitmap = vs_le32_get(r->attr_len) ? op->bitmap : NULL;
	submit(osd, op, op->opcode == VS_OP_SEC_WRITE ? BS_OP_WRITE : BS_OP_WRITE_STABLE);
}

static void exec_sec_delete(struct osd *osd, struct osd_op *op)
{
	clear_bs(op);
	op->bs.oid.inode = vs_le64_get(op->req.sec_del.oid.inode);
	op->bs.oid.stripe = vs_le64_get(op->req.sec_del.oid.stripe);
	op->bs.version = vs_le64_get(op->req.sec_del.version);
	submit(osd, op, BS_OP_DELETE);
}

static void exec_sec_sync(struct osd *osd, struct osd_op *op)
{
	clear_bs(op);
	submit(osd, op, BS_OP_SYNC);
}

/* The payload obj_ver_id[] in place as struct bs_obj_ver[] (same layout;
 * little-endian on the wire). */
static uint32_t vers_in_place(struct osd_op *op, uint64_t bytes)
{
	uint32_t n = (uint32_t)(bytes / VS_OBJ_VER_ID_SIZE);
	struct bs_obj_ver *v = op->buf;

	for (uint32_t i = 0; i < n; i++) {
		v[i].inode = vs_le64_get(v[i].inode);
		v[i].stripe = vs_le64_get(v[i].stripe);
		v[i].version = vs_le64_get(v[i].version);
	}
	return n;
}

static void exec_sec_vers(struct osd *osd, struct osd_op *op)
{
	uint64_t bytes = vs_le64_get(op->req.sec_stab.len);
	uint32_t n = vers_in_place(op, bytes);

	clear_bs(op);
	op->bs.vers = op->buf;
	op->bs.nvers = n;
	if (op->opcode == VS_OP_SEC_READ_BMP) {
		size_t out = (size_t)n * (8 + osd->bitmap_size);

		if (out) {
			op->bmp = osd_buf_get(osd, out, &op->bmp_size);
			if (!op->bmp) {
				reply_simple(op, -ENOMEM);
				return;
			}
		}
		op->bs.bmp_out = op->bmp;
		submit(osd, op, BS_OP_READ_BMP);
		return;
	}
	if (op->opcode == VS_OP_SEC_STABILIZE)
		osd_ec_fault_stabilize(osd);
	submit(osd, op, op->opcode == VS_OP_SEC_STABILIZE ? BS_OP_STABILIZE : BS_OP_ROLLBACK);
}

static void exec_sec_list(struct osd *osd, struct osd_op *op)
{
	const struct vs_op_sec_list *l = &op->req.sec_list;

	clear_bs(op);
	op->bs.pg_num = vs_le32_get(l->pg_num);
	op->bs.pg_count = vs_le32_get(l->pg_count);
	op->bs.pg_stripe_size = vs_le64_get(l->pg_stripe_size);
	op->bs.min_inode = vs_le64_get(l->min_inode);
	op->bs.max_inode = vs_le64_get(l->max_inode);
	if (op->bs.pg_count && (!op->bs.pg_num || op->bs.pg_num > op->bs.pg_count ||
				!op->bs.pg_stripe_size)) {
		reply_simple(op, -EINVAL);
		return;
	}
	submit(osd, op, BS_OP_LIST);
}

static void bs_done(struct bs_op *bop)
{
	struct osd_op *op = bop->priv;
	int64_t rv = bop->retval;

	switch (op->opcode) {
	case VS_OP_SEC_READ:
		reply_hdr(op, rv);
		vs_le64_set(&op->reply.reply_sec_rw.version, bop->version);
		if (rv >= 0) {
			vs_le32_set(&op->reply.reply_sec_rw.attr_len, op->conn->osd->bitmap_size);
			reply_add(op, op->bitmap, op->conn->osd->bitmap_size);
			reply_add(op, op->buf, (size_t)rv);
		}
		break;
	case VS_OP_SEC_WRITE:
	case VS_OP_SEC_WRITE_STABLE:
		reply_hdr(op, rv < 0 ? rv : (int64_t)bop->len);
		vs_le64_set(&op->reply.reply_sec_rw.version, bop->version);
		break;
	case VS_OP_SEC_DELETE:
		reply_hdr(op, rv);
		vs_le64_set(&op->reply.reply_sec_del.version, bop->version);
		break;
	case VS_OP_SEC_READ_BMP:
		reply_hdr(op, rv);
		if (rv > 0) {
			uint8_t *p = op->bmp;
			size_t step = 8 + op->conn->osd->bitmap_size;

			for (uint32_t i = 0; i < bop->nvers; i++) {
				uint64_t v;

				memcpy(&v, p + i * step, 8);
				v = vs_cpu_to_le64(v);
				memcpy(p + i * step, &v, 8);
			}
			reply_add(op, op->bmp, (size_t)rv);
		}
		break;
	case VS_OP_SEC_LIST:
		reply_hdr(op, rv < 0 ? rv : (int64_t)bop->list_count);
		if (rv >= 0) {
			struct bs_obj_ver *v = bop->list;

			vs_le64_set(&op->reply.reply_sec_list.stable_count, bop->list_stable_count);
			for (uint32_t i = 0; i < bop->list_count; i++) {
				v[i].inode = vs_cpu_to_le64(v[i].inode);
				v[i].stripe = vs_cpu_to_le64(v[i].stripe);
				v[i].version = vs_cpu_to_le64(v[i].version);
			}
			if (bop->list_count)
				reply_add(op, bop->list, (size_t)bop->list_count * VS_OBJ_VER_ID_SIZE);
		}
		break;
	default:
		reply_hdr(op, rv);
		break;
	}
	osd_send_reply(op);
}

static const osd_op_handler handlers[VS_OP_MAX + 1] = {
	[VS_OP_SEC_READ] = exec_sec_rw,
	[VS_OP_SEC_WRITE] = exec_sec_rw,
	[VS_OP_SEC_WRITE_STABLE] = exec_sec_rw,
	[VS_OP_SEC_SYNC] = exec_sec_sync,
	[VS_OP_SEC_STABILIZE] = exec_sec_vers,
	[VS_OP_SEC_ROLLBACK] = exec_sec_vers,
	[VS_OP_SEC_DELETE] = exec_sec_delete,
	[VS_OP_TEST_SYNC_STAB_ALL] = exec_invalid,	/* needs allow_test_ops */
	[VS_OP_SEC_LIST] = exec_sec_list,
	[VS_OP_SHOW_CONFIG] = exec_show_config,
	[VS_OP_READ] = osd_primary_exec,
	[VS_OP_WRITE] = osd_primary_exec,
	[VS_OP_SYNC] = osd_primary_exec,
	[VS_OP_DELETE] = osd_primary_exec,
	[VS_OP_PING] = exec_ping,
	[VS_OP_SEC_READ_BMP] = exec_sec_vers,
};

const char *osd_op_stat_name(uint64_t opcode)
{
	static const char *const names[VS_OP_MAX + 1] = {
		[VS_OP_SEC_READ] = "read",
		[VS_OP_SEC_WRITE] = "write",
		[VS_OP_SEC_WRITE_STABLE] = "write_stable",
		[VS_OP_SEC_SYNC] = "sync",
		[VS_OP_SEC_STABILIZE] = "stabilize",
		[VS_OP_SEC_ROLLBACK] = "rollback",
		[VS_OP_SEC_DELETE] = "delete",
		[VS_OP_TEST_SYNC_STAB_ALL] = "sync_stab_all",
		[VS_OP_SEC_LIST] = "list",
		[VS_OP_SHOW_CONFIG] = "show_config",
		[VS_OP_READ] = "primary_read",
		[VS_OP_WRITE] = "primary_write",
		[VS_OP_SYNC] = "primary_sync",
		[VS_OP_DELETE] = "primary_delete",
		[VS_OP_PING] = "ping",
		[VS_OP_SEC_READ_BMP] = "sec_read_bmp",
	};

	return vs_opcode_valid(opcode) ? names[opcode] : NULL;
}

void osd_op_account(struct osd *osd, struct osd_op *op)
{
	struct osd_op_stat *st;
	uint64_t usec;
	int64_t rv;

	if (!op->start_ns || !vs_opcode_valid(op->opcode))
		return;
	st = &osd->op_stats[op->opcode];
	usec = (ringloop_now_ns() - op->start_ns) / 1000;
	st->count++;
	st->usec += usec;
	rv = (int64_t)vs_le64_get(op->reply.reply.retval);
	switch (op->opcode) {
	case VS_OP_READ:
	case VS_OP_WRITE:
	case VS_OP_DELETE:
		osd_inostats_account(osd, op, usec, rv);
		/* fall through */
	case VS_OP_SEC_READ:
	case VS_OP_SEC_WRITE:
	case VS_OP_SEC_WRITE_STABLE:
		if (rv > 0 && op->opcode != VS_OP_DELETE)
			st->bytes += (uint64_t)rv;
		break;
	default:
		break;
	}
	op->start_ns = 0;
}

void osd_op_exec(struct osd *osd, struct osd_op *op)
{
	op->start_ns = ringloop_now_ns();
	if (op->err || op->check < 0 || !vs_opcode_valid(op->opcode) || !handlers[op->opcode]) {
		if (op->check < 0)
			log_debug("connection %llu: op %llu (opcode %llu) refused: %s",
				  (unsigned long long)op->conn->serial,
				  (unsigned long long)vs_le64_get(op->req.hdr.id),
				  (unsigned long long)op->opcode, vs_frame_err_str(op->check));
		reply_simple(op, op->err ? op->err : -EINVAL);
		return;
	}
	handlers[op->opcode](osd, op);
}

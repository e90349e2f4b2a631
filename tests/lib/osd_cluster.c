/* See osd_cluster.h. */
#include "osd_cluster.h"
#include "mon_proc.h"

#include "check.h"
#include "json.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

void oc_init(struct osd_cluster *c)
{
	memset(c, 0, sizeof(*c));
	for (int n = 0; n <= OC_MAX_OSD; n++)
		c->fds[n] = -1;
	c->next_id = 1;
}

struct etcd_client *oc_new_client(struct osd_cluster *c, const char *prefix)
{
	struct etcd_config cfg;
	struct etcd_client *cl;
	char err[256];

	etcd_config_init(&cfg);
	cfg.quick_timeout_ms = 2000;
	cfg.max_attempts = 3;
	if (etcd_config_add_endpoints(&cfg, etcd_proc_endpoint(c->etcd), err, sizeof(err))) {
		etcd_config_free(&cfg);
		return NULL;
	}
	etcd_config_set(&cfg.prefix, prefix);
	cl = etcd_client_new(&cfg, NULL, err, sizeof(err));
	etcd_config_free(&cfg);
	return cl;
}

bool oc_start(struct osd_cluster *c, const char *prefix, const char **osd_args, int nosd,
	      const char *pools, const char *pgs)
{
	c->etcd = etcd_proc_start();
	if (!c->etcd || !(c->cl = oc_new_client(c, prefix))) {
		fprintf(stderr, "oc_start: no etcd\n");
		return false;
	}
	osd_args[1] = etcd_proc_endpoint(c->etcd);
	if (etcd_put_str_sync(c->cl, "config/pools", pools) != ETCD_OK ||
	    etcd_put_str_sync(c->cl, "config/pgs", pgs) != ETCD_OK) {
		fprintf(stderr, "oc_start: cannot put config/pools and config/pgs\n");
		return false;
	}
	for (int n = 1; n <= nosd && n <= OC_MAX_OSD; n++)
		if (!(c->osds[n] = osd_proc_start((uint64_t)n, osd_args)))
			return false;
	return true;
}

int oc_connect_port(int port)
{
	struct sockaddr_in sa;
	struct timeval tv = { .tv_sec = 10 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (fd < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* EINTR is retried: io_uring task work of the test's own client (a
 * completion of its ring) interrupts a blocking socket call, and one with
 * SO_RCVTIMEO is not restarted by the kernel. */
bool oc_send_all(int fd, const void *p, size_t len)
{
	while (len) {
		ssize_t r = send(fd, p, len, MSG_NOSIGNAL);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p = (const uint8_t *)p + r;
		len -= (size_t)r;
	}
	return true;
}

bool oc_recv_all(int fd, void *p, size_t len)
{
	while (len) {
		ssize_t r = recv(fd, p, len, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p = (uint8_t *)p + r;
		len -= (size_t)r;
	}
	return true;
}

void oc_close(struct osd_cluster *c, int n)
{
	if (c->fds[n] >= 0)
		close(c->fds[n]);
	c->fds[n] = -1;
}

/* Why a call failed, for oc_call()'s message. */
#define CALL_ERR_LEN 128

static int64_t call_once(struct osd_cluster *c, int n, union vs_packet *req, const void *payload,
			 size_t plen, union vs_packet *rep, void *out, size_t outcap,
			 char *call_err)
{
	uint64_t opcode = vs_le64_get(req->hdr.opcode);
	const char *what;
	int64_t pl;
	int fd;

	errno = 0;
	if (c->fds[n] < 0 && c->osds[n])
		c->fds[n] = oc_connect_port(osd_proc_port(c->osds[n]));
	fd = c->fds[n];
	if (fd < 0) {
		snprintf(call_err, CALL_ERR_LEN, "connect: %s", strerror(errno));
		return INT64_MIN;
	}
	what = "send";
	if (!oc_send_all(fd, req, VS_PACKET_SIZE) || (plen && !oc_send_all(fd, payload, plen)))
		goto fail;
	what = "receive reply header";
	if (!oc_recv_all(fd, rep, VS_PACKET_SIZE))
		goto fail;
	pl = vs_check_reply(rep, opcode);
	if (pl < 0 || (size_t)pl > outcap || vs_le64_get(rep->hdr.id) != vs_le64_get(req->hdr.id)) {
		snprintf(call_err, CALL_ERR_LEN,
			 "bad reply header (check %lld, opcode %llu, id %llu, want %llu)",
			 (long long)pl, (unsigned long long)vs_le64_get(rep->hdr.opcode),
			 (unsigned long long)vs_le64_get(rep->hdr.id),
			 (unsigned long long)vs_le64_get(req->hdr.id));
		goto close;
	}
	what = "receive reply payload";
	if (pl && !oc_recv_all(fd, out, (size_t)pl))
		goto fail;
	return (int64_t)vs_le64_get(rep->reply.retval);
fail:
	snprintf(call_err, CALL_ERR_LEN, "%s: %s", what,
		 errno ? strerror(errno) : "connection closed by the OSD");
close:
	oc_close(c, n);
	return INT64_MIN;
}

int64_t oc_call(struct osd_cluster *c, int n, union vs_packet *req, const void *payload,
		size_t plen, union vs_packet *rep, void *out, size_t outcap)
{
	bool cached = c->fds[n] >= 0;
	char err[CALL_ERR_LEN];
	int64_t rv = call_once(c, n, req, payload, plen, rep, out, outcap, err);

	/* A cached connection the OSD closed meanwhile (a re-peer drops
	 * clients with unsynced writes, spec §7): reconnect and resend once,
	 * as a client does. */
	if (rv == INT64_MIN && cached)
		rv = call_once(c, n, req, payload, plen, rep, out, outcap, err);
	if (rv == INT64_MIN)
		fprintf(stderr, "%s to OSD %d failed: %s\n",
			vs_op_name(vs_le64_get(req->hdr.opcode)), n, err);
	return rv;
}

int64_t oc_prim_rw(struct osd_cluster *c, int n, uint64_t opcode, uint64_t inode,
		   uint64_t offset, uint32_t len, uint64_t cas, const void *data, void *out,
		   uint64_t *ver, uint32_t *bitmap_len)
{
	union vs_packet req, rep;
	size_t cap = (size_t)len + 4096;
	uint8_t *buf = malloc(cap);
	int64_t rv;

	if (!buf)
		return INT64_MIN;
	memset(&rep, 0, sizeof(rep));
	vs_req_init(&req, c->next_id++, opcode);
	vs_le64_set(&req.rw.inode, inode);
	vs_le64_set(&req.rw.offset, offset);
	vs_le32_set(&req.rw.len, len);
	vs_le64_set(&req.rw.version, cas);
	rv = oc_call(c, n, &req, opcode == VS_OP_WRITE ? data : NULL,
		     opcode == VS_OP_WRITE ? len : 0, &rep, buf, cap);
	if (ver)
		*ver = vs_le64_get(rep.reply_rw.version);
	if (opcode == VS_OP_READ && rv >= 0) {
		uint32_t bl = vs_le32_get(rep.reply_rw.bitmap_len);

		if (bitmap_len)
			*bitmap_len = bl;
		if (out && bl <= 4096)
			memcpy(out, buf + bl, len);
	}
	free(buf);
	return rv;
}

int64_t oc_sec_read(struct osd_cluster *c, int n, uint64_t inode, uint64_t stripe,
		    uint32_t len, void *out, uint64_t *ver)
{
	union vs_packet req, rep;
	size_t cap = (size_t)len + 4096;
	uint8_t *buf = malloc(cap);
	int64_t rv;

	if (!buf)
		return INT64_MIN;
	memset(&rep, 0, sizeof(rep));
	vs_req_init(&req, c->next_id++, VS_OP_SEC_READ);
	vs_le64_set(&req.sec_rw.oid.inode, inode);
	vs_le64_set(&req.sec_rw.oid.stripe, stripe);
	vs_le32_set(&req.sec_rw.len, len);
	rv = oc_call(c, n, &req, NULL, 0, &rep, buf, cap);
	*ver = vs_le64_get(rep.reply_sec_rw.version);
	if (rv == (int64_t)len)
		memcpy(out, buf + vs_le32_get(rep.reply_sec_rw.attr_len), len);
	free(buf);
	return rv;
}

bool oc_pg_state(struct osd_cluster *c, uint64_t pool, int pg, uint64_t *primary,
		 const char *need, const char *notin)
{
	char key[64], *v = NULL;
	bool ok = false;

	snprintf(key, sizeof(key), "pg/state/%llu/%d", (unsigned long long)pool, pg);
	if (etcd_get_str_sync(c->cl, key, &v) != ETCD_OK || !v)
		goto out;
	{
		json_t j = json_parse(v, strlen(v), NULL, 0);

		if (j && !json_u64(json_get(j, "primary"), primary)) {
			ok = true;
			for (const char *w = need; w && *w; w += strlen(w) + 1) {
				char q[64];

				snprintf(q, sizeof(q), "\"%s\"", w);
				if (!strstr(v, q))
					ok = false;
			}
			if (notin && strstr(v, notin))
				ok = false;
		}
		json_free(j);
	}
out:
	free(v);
	return ok;
}

bool oc_wait_pgs(struct osd_cluster *c, uint64_t pool, const int *pgs, int npgs,
		 const uint64_t *primaries, const char *need, const char *notin,
		 int timeout_ms)
{
	long long deadline = vt_now_ms() + timeout_ms;
	uint64_t p;

	for (;;) {
		int ok = 0;

		for (int i = 0; i < npgs; i++)
			ok += oc_pg_state(c, pool, pgs[i], &p, need, notin) &&
			      p == primaries[pgs[i]];
		if (ok == npgs)
			return true;
		if (vt_now_ms() > deadline)
			return false;
		vt_sleep_ms(100);
	}
}

bool oc_key_history_has(struct osd_cluster *c, const char *key, const char *needle)
{
	struct etcd_range_req req = { .key = key };
	bool found = false;

	for (int i = 0; i < 1000 && !found; i++) {
		struct etcd_result r;
		int64_t mod;

		memset(&r, 0, sizeof(r));
		if (etcd_range_sync(c->cl, &req, &r) != ETCD_OK || !r.n_kvs) {
			etcd_result_clear(&r);
			break;
		}
		found = strstr(r.kvs[0].value, needle) != NULL;
		mod = r.kvs[0].mod_revision;
		etcd_result_clear(&r);
		if (mod <= 1)
			break;
		req.revision = mod - 1;
	}
	return found;
}

bool oc_wait_key_gone(struct etcd_client *cl, const char *key, int timeout_ms)
{
	long long deadline = vt_now_ms() + timeout_ms;
	char *v = NULL;

	do {
		free(v);
		v = NULL;
		if (etcd_get_str_sync(cl, key, &v) != ETCD_OK)
			return false;
		if (v)
			vt_sleep_ms(100);
	} while (v && vt_now_ms() < deadline);
	free(v);
	return !v;
}

bool oc_wait_value(struct osd_cluster *c, const char *key, const char *need, const char *notin,
		   int timeout_ms, char **last)
{
	long long deadline = vt_now_ms() + timeout_ms;
	char *v = NULL;
	bool ok;

	for (;;) {
		free(v);
		v = NULL;
		ok = etcd_get_str_sync(c->cl, key, &v) == ETCD_OK && v;
		for (const char *w = need; ok && w && *w; w += strlen(w) + 1)
			ok = strstr(v, w) != NULL;
		if (ok && notin && strstr(v, notin))
			ok = false;
		if (ok || vt_now_ms() > deadline)
			break;
		vt_sleep_ms(100);
	}
	if (last)
		*last = v;
	else
		free(v);
	return ok;
}

bool oc_put_hosts(struct osd_cluster *c, int nosd)
{
	struct strbuf np;
	bool ok;

	sb_init(&np);
	sb_puts(&np, "{");
	for (int n = 1; n <= nosd; n++)
		sb_printf(&np, "%s\"%d\":{\"level\":\"osd\",\"parent\":\"h%d\"},"
			  "\"h%d\":{\"level\":\"host\"}", n > 1 ? "," : "", n, n, n);
	sb_puts(&np, "}");
	ok = !np.oom && etcd_put_str_sync(c->cl, "config/node_placement", np.buf) == ETCD_OK;
	sb_free(&np);
	return ok;
}

bool oc_put_many(struct osd_cluster *c, const char *const *kv, size_t n)
{
	struct etcd_txn_op ops[16];
	struct etcd_txn_req req = { .success = ops, .n_success = n };
	struct etcd_result res;
	bool ok;

	if (n > 16)
		return false;
	memset(ops, 0, sizeof(ops));
	for (size_t i = 0; i < n; i++) {
		ops[i].type = ETCD_OP_PUT;
		ops[i].put.key = kv[2 * i];
		ops[i].put.value = kv[2 * i + 1];
		ops[i].put.value_len = strlen(kv[2 * i + 1]);
	}
	ok = etcd_txn_sync(c->cl, &req, &res) == ETCD_OK && res.succeeded;
	etcd_result_clear(&res);
	return ok;
}

bool oc_wait_osd_gone(struct osd_cluster *c, int n, int timeout_ms)
{
	char key[32];

	snprintf(key, sizeof(key), "osd/state/%d", n);
	return oc_wait_key_gone(c->cl, key, timeout_ms);
}

int64_t oc_sec_list(struct osd_cluster *c, int n, uint64_t inode, struct vs_obj_ver_id *out,
		    size_t cap)
{
	union vs_packet req, rep;
	int64_t rv;

	vs_req_init(&req, c->next_id++, VS_OP_SEC_LIST);
	vs_le64_set(&req.sec_list.min_inode, inode);
	vs_le64_set(&req.sec_list.max_inode, inode);
	rv = oc_call(c, n, &req, NULL, 0, &rep, out, cap * sizeof(*out));
	for (int64_t i = 0; i < rv; i++) {
		out[i].inode = vs_le64_get(out[i].inode);
		out[i].stripe = vs_le64_get(out[i].stripe);
		out[i].version = vs_le64_get(out[i].version);
	}
	return rv;
}

bool oc_log_has(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	bool found = false;

	while (f && !found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	if (f)
		fclose(f);
	return found;
}

int64_t oc_sync(struct osd_cluster *c, int n)
{
	union vs_packet req, rep;

	vs_req_init(&req, c->next_id++, VS_OP_SYNC);
	return oc_call(c, n, &req, NULL, 0, &rep, NULL, 0);
}

/* ---- model ---- */

int oc_model_init(struct oc_model *m, uint64_t inode, uint32_t bs, int nobj, uint64_t seed)
{
	memset(m, 0, sizeof(*m));
	m->inode = inode;
	m->bs = bs;
	m->nobj = nobj;
	m->seed = seed ? seed : 88172645463325252ull;
	m->data = calloc((size_t)nobj, sizeof(*m->data));
	m->ver = calloc((size_t)nobj, sizeof(*m->ver));
	if (!m->data || !m->ver)
		return -ENOMEM;
	for (int i = 0; i < nobj; i++)
		if (!(m->data[i] = calloc(1, bs)))
			return -ENOMEM;
	return 0;
}

void oc_model_free(struct oc_model *m)
{
	for (int i = 0; m->data && i < m->nobj; i++)
		free(m->data[i]);
	free(m->data);
	free(m->ver);
	memset(m, 0, sizeof(*m));
}

uint32_t oc_rnd(struct oc_model *m)
{
	m->seed ^= m->seed << 13;
	m->seed ^= m->seed >> 7;
	m->seed ^= m->seed << 17;
	return (uint32_t)m->seed;
}

int oc_model_write(struct osd_cluster *c, struct oc_model *m, int n, int i, uint32_t max_blocks)
{
	uint32_t blocks = m->bs / 4096;
	uint32_t len = (oc_rnd(m) % max_blocks + 1) * 4096, off = (oc_rnd(m) % blocks) * 4096;
	uint8_t *data;
	uint64_t ver = 0;
	int64_t rv;

	if (len > m->bs)
		len = m->bs;
	if (off + len > m->bs)
		off = m->bs - len;
	data = malloc(len);
	if (!data)
		return -ENOMEM;
	for (uint32_t k = 0; k < len; k++)
		data[k] = (uint8_t)oc_rnd(m);
	/* -EPIPE (PG not active, re-peering) or a lost connection: the
	 * write may or may not have been applied; resend the same one, as a
	 * client does (spec §7) */
	for (long long deadline = vt_now_ms() + 15000;;) {
		rv = oc_prim_rw(c, n, VS_OP_WRITE, m->inode, (uint64_t)i * m->bs + off, len, 0, data,
				NULL, &ver, NULL);
		if ((rv != -EPIPE && rv != INT64_MIN) || vt_now_ms() > deadline)
			break;
		vt_sleep_ms(100);
	}
	if (rv == len) {
		memcpy(m->data[i] + off, data, len);
		if (ver <= m->ver[i])
			rv = -2000;
		m->ver[i] = ver;
	}
	free(data);
	return rv == len ? 0 : rv == INT64_MIN ? INT32_MIN : (int)rv;
}

/* Object i read through OSD n (primary READ or SEC_READ) vs the model. */
static bool model_check(struct osd_cluster *c, struct oc_model *m, int n, int i, bool primary)
{
	uint8_t *out = malloc(m->bs);
	uint64_t ver = 0;
	int64_t rv;
	bool ok;

	if (!out)
		return false;
	if (primary)
		rv = oc_prim_rw(c, n, VS_OP_READ, m->inode, (uint64_t)i * m->bs, m->bs, 0, NULL, out,
				&ver, NULL);
	else
		rv = oc_sec_read(c, n, m->inode, (uint64_t)i * m->bs, m->bs, out, &ver);
	ok = rv == m->bs && !memcmp(out, m->data[i], m->bs) && ver == m->ver[i];
	if (!ok && !m->quiet)
		fprintf(stderr, "%s obj %d on OSD %d: rv %" PRId64 " version %" PRIu64 " (want %"
			PRIu64 ")%s\n", primary ? "read of" : "replica of", i, n, rv, ver, m->ver[i],
			rv == m->bs && memcmp(out, m->data[i], m->bs) ? ", data differs" : "");
	free(out);
	return ok;
}

bool oc_model_read(struct osd_cluster *c, struct oc_model *m, int n, int i)
{
	return model_check(c, m, n, i, true);
}

bool oc_model_replica(struct osd_cluster *c, struct oc_model *m, int n, int i)
{
	return model_check(c, m, n, i, false);
}

int oc_stop_all(struct osd_cluster *c)
{
	int bad = 0;

	for (int n = OC_MAX_OSD; n >= 1; n--) {
		int r = c->osds[n] ? osd_proc_stop(c->osds[n]) : 0;

		if (r && !bad)
			bad = r;
	}
	return bad;
}

void oc_free(struct osd_cluster *c)
{
	for (int n = 0; n <= OC_MAX_OSD; n++) {
		oc_close(c, n);
		if (c->osds[n])
			osd_proc_free(c->osds[n]);
		c->osds[n] = NULL;
	}
	if (c->cl)
		etcd_client_free(c->cl);
	c->cl = NULL;
	if (c->etcd)
		etcd_proc_free(c->etcd);
	c->etcd = NULL;
}

json_t oc_get_json(struct etcd_client *cl, const char *key)
{
	char *v = NULL;
	json_t j = NULL;

	if (etcd_get_str_sync(cl, key, &v) == ETCD_OK && v)
		j = json_parse(v, strlen(v), NULL, 0);
	free(v);
	return j;
}

void oc_print_logs(struct osd_cluster *c, int nosd, struct mon_proc *const *mons, int nmons)
{
	for (int i = 0; i < nmons; i++)
		if (mons[i])
			vt_print_tail("vstor-mon", mon_proc_log(mons[i]));
	for (int n = 1; n <= nosd && n <= OC_MAX_OSD; n++)
		if (c->osds[n])
			vt_print_tail("vstor-osd", osd_proc_log(c->osds[n]));
}

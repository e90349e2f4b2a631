/* See osd_cluster.h. */
#include "osd_cluster.h"

#include "check.h"
#include "json.h"

#include <arpa/inet.h>
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

bool oc_send_all(int fd, const void *p, size_t len)
{
	while (len) {
		ssize_t r = send(fd, p, len, MSG_NOSIGNAL);

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

int64_t oc_call(struct osd_cluster *c, int n, union vs_packet *req, const void *payload,
		size_t plen, union vs_packet *rep, void *out, size_t outcap)
{
	uint64_t opcode = vs_le64_get(req->hdr.opcode);
	int64_t pl;
	int fd;

	if (c->fds[n] < 0 && c->osds[n])
		c->fds[n] = oc_connect_port(osd_proc_port(c->osds[n]));
	fd = c->fds[n];
	if (fd < 0)
		return INT64_MIN;
	if (!oc_send_all(fd, req, VS_PACKET_SIZE) || (plen && !oc_send_all(fd, payload, plen)) ||
	    !oc_recv_all(fd, rep, VS_PACKET_SIZE))
		goto fail;
	pl = vs_check_reply(rep, opcode);
	if (pl < 0 || (size_t)pl > outcap || vs_le64_get(rep->hdr.id) != vs_le64_get(req->hdr.id))
		goto fail;
	if (pl && !oc_recv_all(fd, out, (size_t)pl))
		goto fail;
	return (int64_t)vs_le64_get(rep->reply.retval);
fail:
	oc_close(c, n);
	return INT64_MIN;
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

#include "vc_model.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint32_t vcm_rnd(void)
{
	static uint64_t s = 88172645463325252ull;

	s ^= s << 13;
	s ^= s >> 7;
	s ^= s << 17;
	return (uint32_t)s;
}

struct etcd_config *vcm_etcd_cfg(const char *endpoint, const char *prefix)
{
	struct etcd_config *cfg = calloc(1, sizeof(*cfg));
	char err[256];

	if (!cfg)
		return NULL;
	etcd_config_init(cfg);
	cfg->quick_timeout_ms = 2000;
	cfg->max_attempts = 3;
	if (etcd_config_add_endpoints(cfg, endpoint, err, sizeof(err)) ||
	    etcd_config_set(&cfg->prefix, prefix)) {
		etcd_config_free(cfg);
		free(cfg);
		return NULL;
	}
	return cfg;
}

struct vstor_client *vcm_client_new(const char *endpoint, const char *prefix, int op_timeout_ms)
{
	struct vstor_client_opts o = { .up_wait_retry_interval_ms = 200,
				       .op_timeout_ms = op_timeout_ms };
	struct etcd_config *cfg = vcm_etcd_cfg(endpoint, prefix);
	struct vstor_client *c;
	char err[256];

	if (!cfg)
		return NULL;
	o.etcd = cfg;
	c = vstor_client_create(&o, NULL, err, sizeof(err));
	etcd_config_free(cfg);
	free(cfg);
	if (!c)
		fprintf(stderr, "client: %s\n", err);
	else if (vstor_client_wait_ready(c, 20000)) {
		vstor_client_destroy(c);
		c = NULL;
	}
	return c;
}

int vcm_init(struct vcm *m, struct vstor_client *vc, uint64_t inode, uint64_t size)
{
	memset(m, 0, sizeof(*m));
	m->vc = vc;
	m->inode = inode;
	m->size = size;
	m->model = calloc(1, size);
	if (!m->model)
		return -1;
	vcm_area(m, 0, size, 1 << 20);
	for (int i = 0; i < VCM_QD; i++)
		if (!(m->slots[i].data = malloc(1 << 20)))
			return -1;
	return 0;
}

void vcm_free(struct vcm *m)
{
	for (int i = 0; i < VCM_QD; i++)
		free(m->slots[i].data);
	free(m->model);
	memset(m, 0, sizeof(*m));
}

void vcm_area(struct vcm *m, uint64_t base, uint64_t span, uint64_t max_len)
{
	m->base = base;
	m->span = span;
	m->max_len = max_len > (1 << 20) ? 1 << 20 : max_len;
}

static void wcb(void *arg, int64_t rv, uint64_t version)
{
	struct vcm_slot *s = arg;
	struct vcm *m = s->m;

	(void)version;
	s->busy = false;
	m->done++;
	if (rv != (int64_t)s->len) {
		m->failed++;
		m->last_err = rv;
		return;
	}
	memcpy(m->model + s->off, s->data, s->len);
}

static int submit(struct vcm *m, int i)
{
	struct vcm_slot *s = &m->slots[i];
	uint64_t region = m->span / VCM_QD / 4096 * 4096;
	uint64_t len = ((uint64_t)vcm_rnd() % (m->max_len / 4096) + 1) * 4096;
	uint64_t off = ((uint64_t)vcm_rnd() % (region / 4096)) * 4096;

	if (off + len > region)
		len = region - off;
	s->m = m;
	s->off = m->base + region * (uint64_t)i + off;
	s->len = len;
	for (uint64_t k = 0; k < len; k += 8) {
		uint64_t x = ((uint64_t)vcm_rnd() << 32) | vcm_rnd();

		memcpy(s->data + k, &x, 8);
	}
	s->busy = true;
	return vstor_write(m->vc, m->inode, s->off, s->len, s->data, wcb, s);
}

int vcm_write_loop(struct vcm *m, int n, void (*on_progress)(struct vcm *m, int done),
		   int timeout_ms)
{
	long long deadline = vt_now_ms() + timeout_ms;
	int submitted = 0;

	m->done = m->failed = 0;
	for (;;) {
		for (int i = 0; i < VCM_QD && submitted < n; i++)
			if (!m->slots[i].busy) {
				if (submit(m, i)) {
					m->slots[i].busy = false;
					return -1;
				}
				submitted++;
			}
		if (m->done == n)
			return 0;
		if (vt_now_ms() > deadline) {
			fprintf(stderr, "vcm_write_loop: %d of %d writes done after %d ms\n",
				m->done, n, timeout_ms);
			return -1;
		}
		vstor_client_run_once(m->vc, 50000000);
		if (on_progress)
			on_progress(m, m->done);
	}
}

bool vcm_verify(struct vcm *m)
{
	uint8_t *buf = malloc(1 << 20);
	bool ok = buf != NULL;

	for (uint64_t off = 0; ok && off < m->size; off += 1 << 20) {
		uint64_t len = m->size - off < (1 << 20) ? m->size - off : 1 << 20;
		int64_t r = vstor_read_sync(m->vc, m->inode, off, len, buf);

		if (r != (int64_t)len || memcmp(buf, m->model + off, len)) {
			uint64_t k = 0;

			while (r == (int64_t)len && k < len && buf[k] == m->model[off + k])
				k++;
			fprintf(stderr, "verify: %llu+%llu: r=%lld, first difference at %llu\n",
				(unsigned long long)off, (unsigned long long)len, (long long)r,
				(unsigned long long)(off + k));
			ok = false;
		}
	}
	free(buf);
	return ok;
}

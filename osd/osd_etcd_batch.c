/* Batched single-key etcd steps of PGs (pg/state, pg/history, pg/stats).
 *
 * A PG's etcd step is one key: a put, delete or range, alone or guarded by
 * one compare on that key (spec §9 guards: create_revision == 0, lease ==
 * ours, mod_revision < the revision it was read at). Thousands of PGs each
 * sending their own txn swamp etcd and the client (requests queued inside
 * curl time out before they are even sent, and the lease keepalive waits
 * behind them), so the steps are queued and sent together: one txn of up
 * to BATCH_MAX steps whose compares are all the steps' compares, whose
 * success ops are all their ops and whose failure ops read every guarded
 * key. At most INFLIGHT such txns are in flight; the rest waits here, in
 * order, not in curl.
 *
 * Each step still gets the answer a txn of its own would have given:
 *   - the batch succeeded: every compare held at its revision, every op
 *     was applied (a range reads the key at that revision);
 *   - the batch failed: the failure ranges show each guarded key at that
 *     revision, and its compare is evaluated on it exactly as etcd does
 *     (a missing key compares as zeroes). A step whose compare is false
 *     gets its failure (succeeded = false, responses[0] = the range of its
 *     key), as alone; the others were not applied and go back to the head
 *     of the queue, in order. Should no compare be false (cannot happen
 *     unless etcd disagrees), those steps are sent one by one, where
 *     etcd's answer is final;
 *   - an error (timeout, connection): every step gets it, as alone (a txn
 *     that timed out may have been applied; the callers re-read).
 * Steps of one key stay in order: a batch ends before a key it already
 * has, so a range never sees a write queued after it.
 *
 * Held (osd_etcd_batch_hold): etcd renews a lease only once its apply has
 * caught up with its log, within a second, so a backlog of our own txns
 * (thousands of PGs, a slow host) fails the keepalives until the lease is
 * gone. While the OSD's keepalive fails or goes unanswered no new txn is
 * sent: those in flight drain and the next keepalive gets through. */
#include "osd.h"
#include "config.h"
#include "etcd.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define BATCH_MAX	128	/* etcd's default --max-txn-ops */
#define INFLIGHT	4

struct step {
	struct step *next;
	bool guarded, solo;
	struct etcd_compare cmp;
	struct etcd_txn_op op;
	char *key;			/* op and cmp key */
	char *value;			/* put value, cmp value */
	etcd_cb *cb;
	void *arg;
};

struct batch {
	struct osd_etcd_batch *b;
	struct step **s;
	size_t n;
};

struct osd_etcd_batch {
	struct osd *osd;
	struct step *head, *tail;
	size_t queued;
	unsigned inflight;
	struct ringloop_defer flush;
	bool stopping, held;
	/* counters (log lines, tests) */
	uint64_t n_steps, n_txns, n_refailed;
};

static void flush_cb(struct ringloop_defer *d);

static struct osd_etcd_batch *batcher(struct osd *osd)
{
	struct osd_etcd_batch *b = osd->ebatch;

	if (b)
		return b;
	b = calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	b->osd = osd;
	b->flush.cb = flush_cb;
	osd->ebatch = b;
	return b;
}

static void step_free(struct step *s)
{
	free(s->key);
	free(s->value);
	free(s);
}

/* Calls s's callback with res as its own answer and frees s. */
static void step_done(struct step *s, struct etcd_result *res)
{
	s->cb(s->arg, res);
	step_free(s);
}

static void step_status(struct step *s, int status, const char *msg, int64_t revision)
{
	struct etcd_result res;

	memset(&res, 0, sizeof(res));
	res.type = s->guarded ? ETCD_OP_TXN : s->op.type;
	res.status = status;
	res.revision = revision;
	snprintf(res.errmsg, sizeof(res.errmsg), "%s", msg ? msg : "");
	step_done(s, &res);
}

int osd_etcd_step(struct osd *osd, const struct etcd_compare *cmp, const struct etcd_txn_op *op,
		  etcd_cb *cb, void *arg)
{
	struct osd_etcd_batch *b = batcher(osd);
	struct step *s;
	const char *key = op->type == ETCD_OP_PUT ? op->put.key :
			  op->type == ETCD_OP_DELETE ? op->del.key : op->range.key;

	if (!b || b->stopping || !osd_etcd_client(osd))
		return ETCD_E_INVAL;
	if (op->type == ETCD_OP_PUT ? op->put.prev_kv :
	    op->type == ETCD_OP_DELETE ? op->del.range_end || op->del.prefix || op->del.prev_kv :
	    op->type == ETCD_OP_RANGE ? op->range.range_end || op->range.prefix : true)
		return ETCD_E_INVAL;	/* one key, nothing else */
	if (cmp && (strcmp(cmp->key, key) || cmp->target == ETCD_CMP_VALUE))
		return ETCD_E_INVAL;
	s = calloc(1, sizeof(*s));
	if (!s || !(s->key = strdup(key)))
		goto oom;
	s->op = *op;
	switch (op->type) {
	case ETCD_OP_PUT:
		s->op.put.key = s->key;
		s->value = malloc(op->put.value_len + 1);
		if (!s->value)
			goto oom;
		memcpy(s->value, op->put.value, op->put.value_len);
		s->op.put.value = s->value;
		break;
	case ETCD_OP_DELETE:
		s->op.del.key = s->key;
		break;
	default:
		s->op.range.key = s->key;
		break;
	}
	if (cmp) {
		s->guarded = true;
		s->cmp = *cmp;
		s->cmp.key = s->key;
	}
	s->cb = cb;
	s->arg = arg;
	if (b->tail)
		b->tail->next = s;
	else
		b->head = s;
	b->tail = s;
	b->queued++;
	b->n_steps++;
	ringloop_defer(osd->rl, &b->flush);
	return 0;
oom:
	if (s)
		step_free(s);
	return ETCD_E_NOMEM;
}

/* etcd's applyCompare on the key as the failure range shows it. */
static bool cmp_holds(const struct etcd_compare *c, const struct etcd_result *r)
{
	const struct etcd_kv *kv = r && r->n_kvs ? &r->kvs[0] : NULL;
	int64_t v;

	switch (c->target) {
	case ETCD_CMP_VERSION:
		v = kv ? kv->version : 0;
		break;
	case ETCD_CMP_CREATE:
		v = kv ? kv->create_revision : 0;
		break;
	case ETCD_CMP_MOD:
		v = kv ? kv->mod_revision : 0;
		break;
	case ETCD_CMP_LEASE:
		v = kv ? kv->lease : 0;
		break;
	default:
		return false;
	}
	switch (c->op) {
	case ETCD_CMP_EQUAL:
		return v == c->number;
	case ETCD_CMP_NOT_EQUAL:
		return v != c->number;
	case ETCD_CMP_LESS:
		return v < c->number;
	default:
		return v > c->number;
	}
}

/* Puts s[0..n) back at the head of the queue, in order. */
static void requeue(struct osd_etcd_batch *b, struct step **s, size_t n)
{
	for (size_t i = n; i-- > 0;) {
		s[i]->next = b->head;
		b->head = s[i];
		if (!b->tail)
			b->tail = s[i];
		b->queued++;
	}
}

static void batch_failed(struct batch *t, struct etcd_result *res)
{
	struct osd_etcd_batch *b = t->b;
	size_t nfail = 0, nback = 0, g = 0;

	for (size_t i = 0; i < t->n; i++) {
		struct step *s = t->s[i];
		struct etcd_result *fr = g < res->n_responses ? &res->responses[g] : NULL;
		struct etcd_result one;

		if (!s->guarded || (t->n > 1 && cmp_holds(&s->cmp, fr))) {
			g += s->guarded;
			t->s[nback++] = s;
			continue;
		}
		g++;
		memset(&one, 0, sizeof(one));
		one.type = ETCD_OP_TXN;
		one.revision = res->revision;
		one.succeeded = false;
		one.responses = fr;
		one.n_responses = fr ? 1 : 0;
		step_done(s, &one);
		nfail++;
	}
	if (!nfail)
		for (size_t i = 0; i < nback; i++)
			t->s[i]->solo = true;
	b->n_refailed += nback;
	requeue(b, t->s, nback);
}

static void batch_cb(void *arg, struct etcd_result *res)
{
	struct batch *t = arg;
	struct osd_etcd_batch *b = t->b;

	b->inflight--;
	if (res->status) {
		for (size_t i = 0; i < t->n; i++)
			step_status(t->s[i], res->status, res->errmsg, 0);
	} else if (res->succeeded) {
		for (size_t i = 0; i < t->n; i++) {
			struct step *s = t->s[i];
			struct etcd_result one, *r = i < res->n_responses ? &res->responses[i] : NULL;

			memset(&one, 0, sizeof(one));
			one.revision = res->revision;
			if (s->guarded) {
				one.type = ETCD_OP_TXN;
				one.succeeded = true;
			} else {
				one.type = s->op.type;
				if (r && s->op.type == ETCD_OP_RANGE) {
					one.kvs = r->kvs;
					one.n_kvs = r->n_kvs;
					one.count = r->count;
				}
			}
			step_done(s, &one);
		}
	} else {
		batch_failed(t, res);
	}
	free(t->s);
	free(t);
	if (b->head && !b->stopping)
		ringloop_defer(b->osd->rl, &b->flush);
}

static bool in_batch(const struct batch *t, const char *key)
{
	for (size_t i = 0; i < t->n; i++)
		if (!strcmp(t->s[i]->key, key))
			return true;
	return false;
}

/* Takes the next batch off the queue: up to BATCH_MAX steps, ending before
 * a key it already has; a solo step goes alone. */
static void batch_take(struct osd_etcd_batch *b, struct batch *t)
{
	while (b->head && t->n < BATCH_MAX) {
		struct step *s = b->head;

		if (t->n && (s->solo || in_batch(t, s->key)))
			break;
		b->head = s->next;
		if (!b->head)
			b->tail = NULL;
		s->next = NULL;
		b->queued--;
		t->s[t->n++] = s;
		if (s->solo)
			break;
	}
}

static int batch_send(struct osd_etcd_batch *b, struct batch *t)
{
	struct etcd_compare *cmp = calloc(t->n, sizeof(*cmp));
	struct etcd_txn_op *ok = calloc(t->n, sizeof(*ok)), *fail = calloc(t->n, sizeof(*fail));
	struct etcd_txn_req req = { .compare = cmp, .success = ok, .failure = fail };
	int slow = (int)cfg_ms(b->osd->cfg, "etcd_slow_timeout");
	int rc = ETCD_E_NOMEM;

	if (cmp && ok && fail) {
		for (size_t i = 0; i < t->n; i++) {
			struct step *s = t->s[i];

			ok[req.n_success++] = s->op;
			if (!s->guarded)
				continue;
			cmp[req.n_compare++] = s->cmp;
			fail[req.n_failure].type = ETCD_OP_RANGE;
			fail[req.n_failure++].range.key = s->key;
		}
		/* a batch is one etcd request: the slow timeout, as for loads */
		req.timeout_ms = t->n > 1 && slow > 0 ? slow : 0;
		rc = etcd_txn(osd_etcd_client(b->osd), &req, batch_cb, t);
	}
	free(cmp);
	free(ok);
	free(fail);
	return rc;
}

static void flush_cb(struct ringloop_defer *d)
{
	struct osd_etcd_batch *b = container_of(d, struct osd_etcd_batch, flush);

	while (b->head && b->inflight < INFLIGHT && !b->stopping && !b->held) {
		struct batch *t = calloc(1, sizeof(*t));
		int rc;

		if (t)
			t->s = calloc(BATCH_MAX, sizeof(*t->s));
		if (!t || !t->s) {
			free(t);
			log_err("etcd: out of memory sending PG updates; retrying");
			ringloop_defer(b->osd->rl, &b->flush);
			return;
		}
		t->b = b;
		batch_take(b, t);
		rc = batch_send(b, t);
		if (rc) {
			/* as a txn of their own that could not start */
			for (size_t i = 0; i < t->n; i++)
				step_status(t->s[i], rc, "cannot start an etcd request", 0);
			free(t->s);
			free(t);
			continue;
		}
		b->inflight++;
		b->n_txns++;
	}
}

void osd_etcd_batch_counts(struct osd *osd, uint64_t *steps, uint64_t *txns, uint64_t *queued)
{
	struct osd_etcd_batch *b = osd->ebatch;

	*steps = b ? b->n_steps : 0;
	*txns = b ? b->n_txns : 0;
	*queued = b ? b->queued : 0;
}

void osd_etcd_batch_hold(struct osd *osd, bool hold)
{
	struct osd_etcd_batch *b = osd->ebatch;

	if (!b || b->held == hold)
		return;
	b->held = hold;
	if (hold) {
		log_warn("etcd: holding %zu queued PG updates (%u txns in flight) until a "
			 "lease keepalive gets through", b->queued, b->inflight);
	} else {
		log_info("etcd: sending the %zu queued PG updates again", b->queued);
		ringloop_defer(osd->rl, &b->flush);
	}
}

void osd_etcd_batch_cancel(struct osd *osd)
{
	struct osd_etcd_batch *b = osd->ebatch;

	if (!b)
		return;
	b->stopping = true;
	ringloop_defer_cancel(osd->rl, &b->flush);
	while (b->head) {
		struct step *s = b->head;

		b->head = s->next;
		b->queued--;
		step_status(s, ETCD_E_CANCELED, "etcd client closed", 0);
	}
	b->tail = NULL;
}

void osd_etcd_batch_free(struct osd *osd)
{
	osd_etcd_batch_cancel(osd);
	free(osd->ebatch);
	osd->ebatch = NULL;
}

/* mon_kv.h: a chained hash table of etcd keys. */
#include "mon_kv.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t hash(const char *s)
{
	size_t h = 5381;

	while (*s)
		h = h * 33 + (unsigned char)*s++;
	return h;
}

void kv_init(struct kv *kv)
{
	memset(kv, 0, sizeof(*kv));
}

static void entry_free(struct kv_entry *e)
{
	free(e->key);
	free(e->value);
	if (e->json)
		json_free(e->json);
	free(e);
}

void kv_clear(struct kv *kv)
{
	for (size_t i = 0; i < kv->nb; i++) {
		struct kv_entry *e = kv->b[i], *n;

		for (; e; e = n) {
			n = e->next;
			entry_free(e);
		}
	}
	free(kv->b);
	memset(kv, 0, sizeof(*kv));
}

static int grow(struct kv *kv)
{
	size_t nb = kv->nb ? kv->nb * 2 : 1024;
	struct kv_entry **b = calloc(nb, sizeof(*b));

	if (!b)
		return -1;
	for (size_t i = 0; i < kv->nb; i++) {
		struct kv_entry *e = kv->b[i], *n;

		for (; e; e = n) {
			size_t h = hash(e->key) & (nb - 1);

			n = e->next;
			e->next = b[h];
			b[h] = e;
		}
	}
	free(kv->b);
	kv->b = b;
	kv->nb = nb;
	return 0;
}

struct kv_entry *kv_get(const struct kv *kv, const char *key)
{
	if (!kv->nb)
		return NULL;
	for (struct kv_entry *e = kv->b[hash(key) & (kv->nb - 1)]; e; e = e->next)
		if (!strcmp(e->key, key))
			return e;
	return NULL;
}

int kv_put(struct kv *kv, const char *key, const char *value, size_t len, int64_t create_rev,
	   int64_t mod_rev, int64_t lease)
{
	struct kv_entry *e = kv_get(kv, key);
	char *v = malloc(len + 1);
	json_t j;

	if (!v)
		return -1;
	memcpy(v, value, len);
	v[len] = 0;
	if (!e) {
		if (kv->n >= kv->nb && grow(kv) < 0) {
			free(v);
			return -1;
		}
		e = calloc(1, sizeof(*e));
		if (!e || !(e->key = strdup(key))) {
			free(e);
			free(v);
			return -1;
		}
		size_t h = hash(key) & (kv->nb - 1);

		e->next = kv->b[h];
		kv->b[h] = e;
		kv->n++;
	}
	free(e->value);
	e->value = v;
	e->len = len;
	e->create_rev = create_rev;
	e->mod_rev = mod_rev;
	e->lease = lease;
	j = json_parse(v, len, e->err, sizeof(e->err));
	e->bad = !j;
	if (j) {
		if (e->json)
			json_free(e->json);
		e->json = j;
		e->err[0] = 0;
	}
	return 0;
}

void kv_del(struct kv *kv, const char *key)
{
	struct kv_entry **p;

	if (!kv->nb)
		return;
	for (p = &kv->b[hash(key) & (kv->nb - 1)]; *p; p = &(*p)->next) {
		if (!strcmp((*p)->key, key)) {
			struct kv_entry *e = *p;

			*p = e->next;
			entry_free(e);
			kv->n--;
			return;
		}
	}
}

json_t kv_json(const struct kv *kv, const char *key)
{
	struct kv_entry *e = kv_get(kv, key);

	return e ? e->json : NULL;
}

/* Key order with digit runs compared as numbers. */
static int keycmp(const char *a, const char *b)
{
	while (*a && *b) {
		if (*a >= '0' && *a <= '9' && *b >= '0' && *b <= '9') {
			size_t la = strspn(a, "0123456789"), lb = strspn(b, "0123456789");
			int c;

			if (la != lb)
				return la < lb ? -1 : 1;
			c = memcmp(a, b, la);
			if (c)
				return c;
			a += la;
			b += lb;
			continue;
		}
		if (*a != *b)
			return (unsigned char)*a < (unsigned char)*b ? -1 : 1;
		a++;
		b++;
	}
	return (unsigned char)*a - (unsigned char)*b;
}

static int cmp_entry(const void *x, const void *y)
{
	return keycmp((*(struct kv_entry *const *)x)->key, (*(struct kv_entry *const *)y)->key);
}

struct kv_entry **kv_list(const struct kv *kv, const char *prefix, size_t *n)
{
	size_t pl = strlen(prefix), k = 0;
	struct kv_entry **out = malloc((kv->n + 1) * sizeof(*out));

	*n = 0;
	if (!out)
		return NULL;
	for (size_t i = 0; i < kv->nb; i++)
		for (struct kv_entry *e = kv->b[i]; e; e = e->next)
			if (!strncmp(e->key, prefix, pl))
				out[k++] = e;
	qsort(out, k, sizeof(*out), cmp_entry);
	*n = k;
	return out;
}

uint64_t kv_key_num(const char *key, const char *prefix)
{
	size_t pl = strlen(prefix);
	char *end;
	unsigned long long v;

	if (strncmp(key, prefix, pl) || key[pl] < '1' || key[pl] > '9')
		return 0;
	errno = 0;
	v = strtoull(key + pl, &end, 10);
	if (errno || *end)
		return 0;
	return v;
}

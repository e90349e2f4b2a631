/* OSD liveness (spec §11): an OSD is up while its lease-bound osd/state
 * key exists with state "up"; down at once when it vanishes (primaries
 * move); out once it has been down for osd_out_time, then it leaves the
 * placement tree and its PGs are re-placed. The down time is when this
 * monitor saw it go; for an OSD already down when the monitor started,
 * the time of its last osd/stats report. */
#include "mon.h"

#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct mon_osd *find(const struct mon *m, uint64_t num)
{
	for (size_t i = 0; i < m->nosds; i++)
		if (m->osds[i].num == num)
			return &m->osds[i];
	return NULL;
}

bool mon_osd_up(const struct mon *m, uint64_t num)
{
	const struct mon_osd *o = find(m, num);

	return o && o->up;
}

static uint64_t out_ns(const struct mon *m)
{
	return cfg_ms(m->cfg, "osd_out_time") * 1000000ull;
}

bool mon_osd_out(const struct mon *m, uint64_t num)
{
	const struct mon_osd *o = find(m, num);

	if (!o)
		return true;
	return !o->up && ringloop_now_ns() - o->down_ns >= out_ns(m);
}

/* OSDs down for osd_out_time that no placement has seen out yet: true
 * (and marked) if any. */
static bool newly_out(struct mon *m, uint64_t now)
{
	bool any = false;

	for (size_t i = 0; i < m->nosds; i++) {
		struct mon_osd *o = &m->osds[i];

		if (!o->up && !o->out_placed && now - o->down_ns >= out_ns(m)) {
			o->out_placed = true;
			any = true;
		}
	}
	return any;
}

static void out_cb(struct ringloop_timer *t)
{
	struct mon *m = (struct mon *)(void *)((char *)t - offsetof(struct mon, out_t));

	newly_out(m, ringloop_now_ns());
	log_info("an OSD has been down for osd_out_time: re-placing its PGs");
	mon_schedule_place(m);
}

/* When an OSD never seen up went down, from its last stats report. */
static uint64_t down_since(const struct mon *m, uint64_t num, uint64_t now)
{
	char key[64];
	double t;
	struct timespec ts;
	uint64_t ago;

	snprintf(key, sizeof(key), "osd/stats/%llu", (unsigned long long)num);
	if (json_double(json_get(kv_json(&m->kv, key), "time"), &t) < 0)
		return now > out_ns(m) ? now - out_ns(m) : 1;
	clock_gettime(CLOCK_REALTIME, &ts);
	t = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - t;
	ago = t > 0 ? (uint64_t)(t * 1e9) : 0;
	return now > ago ? now - ago : 1;
}

static int add_osd(struct mon *m, uint64_t num, bool up, uint64_t now)
{
	struct mon_osd *n = realloc(m->osds, (m->nosds + 1) * sizeof(*n));

	if (!n)
		return -1;
	m->osds = n;
	n[m->nosds].num = num;
	n[m->nosds].up = up;
	n[m->nosds].down_ns = up ? 0 : down_since(m, num, now);
	n[m->nosds].out_placed = false;
	m->nosds++;
	return 0;
}

static bool state_up(json_t st)
{
	const char *s = json_str(json_get(st, "state"));

	return s && !strcmp(s, "up");
}

bool mon_live_update(struct mon *m)
{
	size_t nst = 0, nstats = 0;
	struct kv_entry **st = kv_list(&m->kv, "osd/state/", &nst);
	struct kv_entry **stats = kv_list(&m->kv, "osd/stats/", &nstats);
	uint64_t now = ringloop_now_ns(), next = 0;
	bool changed = false;

	if (!st || !stats)
		goto out;
	/* up/down of every OSD that has a state or stats key */
	for (int pass = 0; pass < 2; pass++) {
		struct kv_entry **v = pass ? stats : st;
		size_t n = pass ? nstats : nst;

		for (size_t i = 0; i < n; i++) {
			uint64_t num = kv_key_num(v[i]->key, pass ? "osd/stats/" : "osd/state/");
			struct mon_osd *o;
			bool up = false;
			char key[64];

			if (!num)
				continue;
			snprintf(key, sizeof(key), "osd/state/%llu", (unsigned long long)num);
			up = state_up(kv_json(&m->kv, key)) && kv_get(&m->kv, key) &&
			     !kv_get(&m->kv, key)->bad;
			o = find(m, num);
			if (!o) {
				if (add_osd(m, num, up, now) < 0)
					goto out;
				changed = true;
				continue;
			}
			if (up && !o->up) {
				log_info("OSD %llu is up", (unsigned long long)num);
				o->up = true;
				o->down_ns = 0;
				o->out_placed = false;
				changed = true;
			} else if (!up && o->up) {
				log_info("OSD %llu is down (its osd/state lease is gone)",
					 (unsigned long long)num);
				o->up = false;
				o->down_ns = now;
				changed = true;
			}
		}
	}
	/* forget OSDs with no key left */
	for (size_t i = 0; i < m->nosds;) {
		char k1[64], k2[64];

		snprintf(k1, sizeof(k1), "osd/state/%llu", (unsigned long long)m->osds[i].num);
		snprintf(k2, sizeof(k2), "osd/stats/%llu", (unsigned long long)m->osds[i].num);
		if (!kv_get(&m->kv, k1) && !kv_get(&m->kv, k2)) {
			m->osds[i] = m->osds[--m->nosds];
			changed = true;
			continue;
		}
		i++;
	}
	/* the next OSD to become out */
	for (size_t i = 0; i < m->nosds; i++) {
		uint64_t at = m->osds[i].down_ns + out_ns(m);

		if (!m->osds[i].up && at > now && (!next || at < next))
			next = at;
	}
	ringloop_timer_del(m->rl, &m->out_t);
	m->out_t.cb = out_cb;
	if (next)
		ringloop_timer_add(m->rl, &m->out_t, next + 1000000);
	/* one that became out after its timer was due but before it ran (an
	 * update came first and deleted the timer): re-place now, or its PGs
	 * would stay degraded until some other change */
	if (newly_out(m, now)) {
		log_info("an OSD has been down for osd_out_time: re-placing its PGs");
		mon_schedule_place(m);
	}
out:
	free(st);
	free(stats);
	return changed;
}

void mon_live_free(struct mon *m)
{
	free(m->osds);
	m->osds = NULL;
	m->nosds = 0;
}

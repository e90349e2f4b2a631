/* vstor-mon: the monitor daemon (see mon.h).
 *
 *   vstor-mon --etcd_address HOST:PORT [--etcd_prefix /vitastor]
 *             [--osd_out_time 600] [--etcd_mon_ttl 30] ...
 *
 * Runs until SIGTERM/SIGINT, then revokes its lease so a standby takes
 * over at once. Settings come from the command line, the config file and
 * etcd config/global (spec §10; --help lists the monitor's). */
#include "mon.h"

#include "log.h"
#include "sigwatch.h"
#include "version.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct mon *of_timer(struct ringloop_timer *t, size_t off)
{
	return (struct mon *)(void *)((char *)t - off);
}

static void change_cb(struct ringloop_timer *t)
{
	struct mon *m = of_timer(t, offsetof(struct mon, change_t));

	if (!m->master || m->stopping) {
		m->place_dirty = false;
		return;
	}
	/* one write at a time, and only from a mirror that has our last write */
	if (m->write_inflight || m->rev < m->wait_rev || m->state != MS_RUN) {
		ringloop_timer_add(m->rl, &m->change_t, ringloop_now_ns() + 50000000ull);
		return;
	}
	m->place_dirty = false;
	mon_place(m);
}

static void stats_cb(struct ringloop_timer *t)
{
	struct mon *m = of_timer(t, offsetof(struct mon, stats_t));

	if (!m->master || m->stopping)
		return;
	if (m->write_inflight || m->place_dirty || m->state != MS_RUN) {
		ringloop_timer_add(m->rl, &m->stats_t, ringloop_now_ns() + 100000000ull);
		return;
	}
	mon_stats(m);
}

static void arm(struct mon *m, struct ringloop_timer *t, const char *delay_key)
{
	if (t->heap_idx != SIZE_MAX)
		return;		/* already due */
	ringloop_timer_add(m->rl, t, ringloop_now_ns() + cfg_ms(m->cfg, delay_key) * 1000000ull);
}

void mon_schedule_place(struct mon *m)
{
	m->place_dirty = true;
	if (m->master)
		arm(m, &m->change_t, "mon_change_timeout");
}

void mon_schedule_stats(struct mon *m)
{
	if (m->master)
		arm(m, &m->stats_t, "mon_stats_timeout");
}

static int run(struct cfg *cfg)
{
	struct mon m;
	struct sigwatch sw;
	int rc = 1, r;

	memset(&m, 0, sizeof(m));
	m.cfg = cfg;
	kv_init(&m.kv);
	ringloop_timer_init(&m.change_t, change_cb);
	ringloop_timer_init(&m.stats_t, stats_cb);
	ringloop_timer_init(&m.out_t, NULL);
	m.rl = ringloop_create(256);
	if (!m.rl) {
		log_err("cannot set up io_uring: %s", strerror(errno));
		return 1;
	}
	if ((r = sigwatch_start(&sw, m.rl)) < 0) {
		log_err("signalfd: %s", strerror(-r));
		goto out;
	}
	if (mon_etcd_start(&m) < 0)
		goto out;
	log_info("monitor started (osd_out_time %llu s, lease TTL %lld s)",
		 (unsigned long long)(cfg_ms(cfg, "osd_out_time") / 1000), (long long)m.lease_ttl);
	while (!sw.signo && !m.exit_code) {
		r = ringloop_run_once(m.rl, -1);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
			log_err("ring loop: %s", strerror(-r));
			goto out;
		}
	}
	rc = m.exit_code;
	if (sw.signo)
		log_info("signal %d: stopping", sw.signo);
out:
	ringloop_timer_del(m.rl, &m.change_t);
	ringloop_timer_del(m.rl, &m.stats_t);
	ringloop_timer_del(m.rl, &m.out_t);
	mon_etcd_stop(&m);
	mon_live_free(&m);
	mon_stats_free(&m);
	free(m.pstat);
	sigwatch_close(&sw);
	ringloop_destroy(m.rl);
	return rc;
}

int main(int argc, char **argv)
{
	struct cfg *cfg = cfg_new();
	int rc;

	vstor_version_option(argc, argv, "vstor-mon");
	vlog_set_prog("vstor-mon");
	if (cfg_load(cfg, argc, argv) < 0) {
		fprintf(stderr, "vstor-mon: %s\n", cfg_error(cfg));
		cfg_free(cfg);
		return 2;
	}
	if (cfg_help_requested(cfg)) {
		printf("Usage: vstor-mon --etcd_address HOST:PORT[,HOST:PORT...] [options]\n\n"
		       "The vstor monitor: watches OSD liveness in etcd, places PGs on OSDs\n"
		       "(failure domains, capacity, least data movement; an LP solved with\n"
		       "lp_solve), moves primaries off OSDs that are down, re-places the PGs\n"
		       "of OSDs down for osd_out_time, keeps pg/history for peering, and\n"
		       "aggregates statistics. Several may run: one is master (etcd key\n"
		       "mon/master under its lease), the others take over when it goes.\n"
		       "Settings also come from the config file and etcd config/global.\n\n"
		       "Options (--version prints the version):\n");
		cfg_print_help(cfg, stdout, CFG_SC_MON);
		cfg_free(cfg);
		return 0;
	}
	vlog_set_verbosity(cfg_i64(cfg, "log_level"));
	if (cfg_require(cfg, "etcd_address") < 0) {
		fprintf(stderr, "vstor-mon: %s\n", cfg_error(cfg));
		cfg_free(cfg);
		return 2;
	}
	rc = run(cfg);
	cfg_free(cfg);
	return rc;
}

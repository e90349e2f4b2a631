/* vstor-osd: the OSD daemon (issue 4, first step).
 *
 *   vstor-osd --osd_num N --data_path PATH [--meta_path P] [--journal_path P]
 *             [--bind_address ADDR] [--bind_port PORT] [--immediate_commit all]
 *
 * Opens the blockstore formatted by `vstor-disk format`, listens on TCP and
 * serves SHOW_CONFIG, PING and the secondary ops. Prints
 * "listening on ADDR:PORT" on stdout once it accepts connections. SIGTERM
 * or SIGINT stop it cleanly (connections dropped, blockstore idle, closed,
 * etcd lease revoked). With etcd_address set it registers in etcd and
 * follows the cluster configuration (osd_etcd.c).
 * Not yet: PGs, primary ops, replication. */
#include "config.h"
#include "log.h"
#include "osd.h"
#include "version.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

static const struct cfg_opt osd_opts[] = {
	{ .name = "data_path", .type = CFG_STR, .scope = CFG_SC_OSD, .flags = CFG_F_NO_ETCD,
	  .help = "block device or file with the OSD's data (formatted by vstor-disk format)" },
	{ .name = "meta_path", .type = CFG_STR, .scope = CFG_SC_OSD, .flags = CFG_F_NO_ETCD,
	  .help = "separate metadata device (default: on data_path)" },
	{ .name = "journal_path", .type = CFG_STR, .scope = CFG_SC_OSD, .flags = CFG_F_NO_ETCD,
	  .help = "separate journal device (default: on data_path)" },
};

struct sigwatch {
	struct ringloop_op rop;
	struct ringloop *rl;
	int fd;
	struct signalfd_siginfo si;
	int signo;
};

static void sig_arm(struct sigwatch *w);

static void sig_cb(struct ringloop_op *rop, int res, uint32_t flags)
{
	struct sigwatch *w = (struct sigwatch *)(void *)rop;

	if (res == (int)sizeof(w->si)) {
		w->signo = (int)w->si.ssi_signo;
		return;
	}
	sig_arm(w);
}

static void sig_arm(struct sigwatch *w)
{
	struct io_uring_sqe *sqe = ringloop_get_sqe(w->rl);

	io_uring_prep_read(sqe, w->fd, &w->si, sizeof(w->si), 0);
	ringloop_sqe_set_op(sqe, &w->rop);
}

static int parse_ic(const char *s)
{
	if (s && !strcmp(s, VS_IMMEDIATE_COMMIT_ALL))
		return BS_IC_ALL;
	if (s && !strcmp(s, VS_IMMEDIATE_COMMIT_SMALL))
		return BS_IC_SMALL;
	return BS_IC_NONE;
}

static int run(struct cfg *cfg)
{
	struct osd osd;
	struct bs_config bc;
	struct bs_backend *be;
	struct sigwatch sw;
	sigset_t mask;
	char err[512];
	int port = 0, rc = 1;
	uint64_t deadline;

	memset(&osd, 0, sizeof(osd));
	idmap_init(&osd.subs);
	osd.listen_fd = -1;
	osd.cfg = cfg;
	osd.bind_address = cfg_str(cfg, "bind_address");
	osd.lease_ttl = osd_lease_ttl(cfg);
	osd.osd_num = cfg_u64(cfg, "osd_num");
	osd.readonly = cfg_bool(cfg, "readonly");
	osd.immediate_commit = parse_ic(cfg_str(cfg, "immediate_commit"));

	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	memset(&sw, 0, sizeof(sw));
	sw.fd = signalfd(-1, &mask, SFD_CLOEXEC);
	if (sw.fd < 0) {
		log_err("signalfd: %s", strerror(errno));
		return 1;
	}
	osd.rl = ringloop_create(1024);
	if (!osd.rl) {
		log_err("cannot set up io_uring: %s", strerror(errno));
		close(sw.fd);
		return 1;
	}
	be = bs_backend_uring_open(osd.rl, cfg_str(cfg, "data_path"), cfg_str(cfg, "meta_path"),
				   cfg_str(cfg, "journal_path"), err, sizeof(err));
	if (!be) {
		log_err("cannot open the OSD device: %s", err);
		goto out;
	}
	memset(&bc, 0, sizeof(bc));
	bc.backend = be;
	bc.osd_num = osd.osd_num;
	bc.immediate_commit = osd.immediate_commit;
	if (bs_open(osd.rl, &bc, &osd.bs, err, sizeof(err))) {
		log_err("cannot open the blockstore on %s: %s (is it formatted with "
			"'vstor-disk format --data_path %s --osd_num %llu'?)",
			cfg_str(cfg, "data_path"), err, cfg_str(cfg, "data_path"),
			(unsigned long long)osd.osd_num);
		osd.bs = NULL;
		goto out;
	}
	osd.block_size = bs_block_size(osd.bs);
	osd.bitmap_size = bs_bitmap_size(osd.bs);
	osd.bitmap_granularity = osd.bitmap_size ? osd.block_size / (osd.bitmap_size * 8) :
		osd.block_size;
	{
		size_t n_etcd = 0;

		cfg_strv(cfg, "etcd_address", &n_etcd);
		osd.primary_enabled = cfg_bool(cfg, "run_primary") && n_etcd > 0;
	}
	if (idmap_reserve(&osd.subs, 1024) || osd_inostats_init(&osd) ||
	    osd_build_config_json(&osd) < 0) {
		log_err("out of memory");
		goto out;
	}
	if (osd_listen(&osd, cfg_str(cfg, "bind_address"), (int)cfg_u64(cfg, "bind_port"),
		       &port) < 0)
		goto out;
	printf("listening on %s:%d\n", cfg_str(cfg, "bind_address"), port);
	fflush(stdout);
	log_info("OSD %llu serving %s (block_size %u, immediate_commit %s%s) on %s:%d",
		 (unsigned long long)osd.osd_num, cfg_str(cfg, "data_path"), osd.block_size,
		 cfg_str(cfg, "immediate_commit"), osd.readonly ? ", readonly" : "",
		 cfg_str(cfg, "bind_address"), port);

	osd.port = port;
	if (osd_etcd_start(&osd) < 0)
		goto out;

	sw.rl = osd.rl;
	sw.rop.cb = sig_cb;
	sig_arm(&sw);
	osd_accept_start(&osd);
	while (!sw.signo && !osd.exit_code) {
		int r = ringloop_run_once(osd.rl, -1);

		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
			log_err("ring loop: %s", strerror(-r));
			goto out;
		}
	}
	if (sw.signo)
		log_info("signal %d: shutting down", sw.signo);
	else
		log_err("shutting down after a fatal error");
	osd_pg_stop(&osd);
	osd_msgr_shutdown(&osd);
	deadline = ringloop_now_ns() + 10000000000ull;
	while ((osd.nconns || !bs_is_idle(osd.bs)) && ringloop_now_ns() < deadline)
		ringloop_run_once(osd.rl, 50000000);
	if (osd.nconns || !bs_is_idle(osd.bs))
		log_warn("shutdown: %u connections or blockstore I/O still busy after 10 s",
			 osd.nconns);
	else
		rc = osd.exit_code;
out:
	osd_etcd_stop(&osd);
	osd_pg_free(&osd);
	if (osd.bs && bs_is_idle(osd.bs))
		bs_close(osd.bs);
	if (osd.listen_fd >= 0)
		close(osd.listen_fd);
	ringloop_destroy(osd.rl);
	close(sw.fd);
	if (!osd.nconns)
		osd_pools_destroy(&osd);
	idmap_free(&osd.subs);
	osd_inostats_free(&osd);
	free(osd.config_json);
	return rc;
}

int main(int argc, char **argv)
{
	struct cfg *cfg = cfg_new();
	int rc;

	vstor_version_option(argc, argv, "vstor-osd");
	vlog_set_prog("vstor-osd");
	cfg_register(cfg, osd_opts, CFG_COUNT(osd_opts), NULL);
	if (cfg_load(cfg, argc, argv) < 0) {
		fprintf(stderr, "vstor-osd: %s\n", cfg_error(cfg));
		cfg_free(cfg);
		return 2;
	}
	if (cfg_help_requested(cfg)) {
		printf("Usage: vstor-osd --osd_num N --data_path PATH [options]\n\n"
		       "Serves one OSD device (formatted by 'vstor-disk format') over the\n"
		       "Vitastor OSD protocol. Prints \"listening on ADDR:PORT\" when ready.\n\n"
		       "Options (--version prints the version):\n");
		cfg_print_help(cfg, stdout, CFG_SC_OSD);
		cfg_free(cfg);
		return 0;
	}
	vlog_set_verbosity(cfg_i64(cfg, "log_level"));
	if (cfg_require(cfg, "osd_num") < 0 || cfg_require(cfg, "data_path") < 0) {
		fprintf(stderr, "vstor-osd: %s\nRun 'vstor-osd --help' for usage.\n",
			cfg_error(cfg));
		cfg_free(cfg);
		return 2;
	}
	rc = run(cfg);
	cfg_free(cfg);
	return rc;
}

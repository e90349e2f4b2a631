/* vsctl map, unmap, list and map-agent: /dev/vsN devices of vstor.ko.
 *
 * map resolves the image and its pool's PG map through libvstor (the same
 * routing the userspace client uses) and hands them to the kernel with
 * MAP. The kernel cannot read etcd, so one host-wide agent (vsctl
 * map-agent, the vstor-map-agent systemd unit) keeps every mapped pool's
 * map current: it pushes SET_MAP whenever config/pgs, pg/state or
 * osd/state change, and answers the kernel's NEED_MAP events. map starts
 * the agent when none runs (unless --no_agent). The agent holds no device
 * state of its own: restarting it loses nothing.
 *
 * Layers: map hands the kernel the image's parents (config/inode
 * parent_id, nearest first) and the kernel reads through them (spec
 * 4.0.2). A snapshot of a mapped image moves its name to a new inode on
 * top of the old one; the agent sees the name's inode or chain differ
 * from the kernel's and pushes SET_LAYERS (also when flatten or snap rm
 * shorten the chain). Until then the device writes to the old inode,
 * which stays visible through the new top.
 *
 * Parents in other pools (a clone made with --pool): map also hands the
 * kernel the PG map of every other pool of the chain (POOLS, the XPOOL
 * feature), and the agent keeps those current as it does the device's
 * own. Those pools must have the image pool's block_size and
 * bitmap_granularity (the kernel cuts requests by the device's granules);
 * map refuses others, naming the pool. They may have other data_chunks
 * (replicated under EC or the other way round): the kernel cuts a
 * parent's reads at its own pool's stripes. The set of pools is fixed at
 * map: a chain that later reaches a new pool needs an unmap and map.
 *
 * Erasure-coded pools (xor, jerasure): the kernel cuts requests at
 * stripes (block_size x data_chunks), routes each by its stripe's PG and
 * the primary OSD does the coding, as for libvstor. That takes the EC
 * feature; map names it when the loaded vstor.ko lacks it. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "ringloop.h"
#include "vsctl.h"
#include "vsctl_nl.h"

#define AGENT_DIR "/run/vstor"
#define AGENT_LOCK AGENT_DIR "/map-agent.lock"
#define AGENT_LOG AGENT_DIR "/map-agent.log"
#define AGENT_RESYNC_MS 5000

static uint32_t vs_inode_pool(uint64_t inode)
{
	return (uint32_t)(inode >> 48);
}

static uint64_t vs_inode_num(uint64_t inode)
{
	return inode & VS_MAX_INODE_NUM;
}

/* /run/vstor, also where /run itself is missing (initramfs, containers). */
static void agent_dir(void)
{
	mkdir("/run", 0755);
	mkdir(AGENT_DIR, 0755);
}

static struct vstor_client *open_client(struct vsctl *v, int wait_ms)
{
	char err[256];
	struct vstor_client *c = vstor_client_create_cfg(v->cfg, NULL, err, sizeof(err));

	if (!c) {
		vs_err("%s", err);
		return NULL;
	}
	if (wait_ms && vstor_client_wait_ready(c, wait_ms)) {
		vs_err("the cluster state did not load from etcd within %d s (is etcd_address right?)",
		       wait_ms / 1000);
		vstor_client_destroy(c);
		return NULL;
	}
	return c;
}

/* ---- map ---- */

/* The parents of inode, nearest first, as libvstor knows config/inode (a
 * parent whose entry is gone ends the chain, as for libvstor's reads):
 * their number or -ELOOP (more than VS_GENL_MAX_LAYERS). */
static int image_chain(struct vstor_client *c, uint64_t inode,
		       uint64_t out[VS_GENL_MAX_LAYERS])
{
	uint64_t cur = inode, parent;
	int n = 0;

	while (!vstor_inode_parent(c, cur, &parent) && parent) {
		if (n == VS_GENL_MAX_LAYERS)
			return -ELOOP;
		out[n++] = parent;
		cur = parent;
	}
	return n;
}

static const char *chain_error(int err)
{
	return err == -EXDEV ? "its parent layers are in more than 8 other pools" :
			       "its chain of parent layers is longer than 64 (or loops)";
}

/* The pools of chain other than top's, each once, in chain order: their
 * number or -EXDEV (more than VS_GENL_MAX_POOLS). */
static int chain_pools(uint64_t top, const uint64_t *chain, int n,
		       uint32_t out[VS_GENL_MAX_POOLS])
{
	int np = 0, k;

	for (int i = 0; i < n; i++) {
		uint32_t pool = vs_inode_pool(chain[i]);

		if (pool == vs_inode_pool(top))
			continue;
		for (k = 0; k < np && out[k] != pool; k++)
			;
		if (k < np)
			continue;
		if (np == VS_GENL_MAX_POOLS)
			return -EXDEV;
		out[np++] = pool;
	}
	return np;
}

static const char *pool_label(const struct vs_pools *pools, uint32_t id, char *buf, size_t len)
{
	const struct vs_pool *p = vs_pool_by_id(pools, id);

	if (p)
		snprintf(buf, len, "'%s' (id %u)", p->name, id);
	else
		snprintf(buf, len, "id %u", id);
	return buf;
}

/* Whether the loaded vstor.ko has need (VS_FEAT_EC, VS_FEAT_XPOOL); false
 * after an error message about image name, whose pool (or a parent's) is
 * pool id. */
static bool kmod_has(struct vs_nl *nl, uint64_t need, const struct vs_pools *pools,
		     const char *name, uint32_t id)
{
	uint64_t feat = 0;
	char lb[300], msg[1024];
	int err = vs_nl_features(nl, &feat);

	if (!vs_kmod_lacks(need, feat, err ? nl->err : NULL, name,
			   pool_label(pools, id, lb, sizeof(lb)), msg, sizeof(msg)))
		return true;
	vs_err("%s", msg);
	return false;
}

/* Whether the PG tables of m and xm[0..nx-1] can be sent: *parts when the
 * module takes PG_TABLE_PARTs; otherwise each must fit one PG_TABLE. False
 * after an error message about image name. */
static bool map_tables_fit(struct vs_nl *nl, const char *name, const struct vstor_pool_map *m,
			   const struct vstor_pool_map *xm, int nx, bool *parts)
{
	uint32_t most = m->pg_count;
	uint64_t feat = 0;

	for (int k = 0; k < nx; k++)
		if (xm[k].pg_count > most)
			most = xm[k].pg_count;
	*parts = !vs_nl_features(nl, &feat) && (feat & VS_FEAT_PG_PARTS);
	if (most > VS_NL_MAX_PGS_PARTS) {
		vs_err("cannot map image '%s': a pool of its chain has %u PGs, more than the %d "
		       "a pool may have", name, most, VS_NL_MAX_PGS_PARTS);
		return false;
	}
	if (*parts || most <= VS_NL_MAX_PGS)
		return true;
	vs_err("cannot map image '%s': a pool of its chain has %u PGs, and the loaded vstor.ko "
	       "takes at most %d in a PG table (it lacks the PG_PARTS feature): load a newer "
	       "vstor.ko, or use the userspace client", name, most, VS_NL_MAX_PGS);
	return false;
}

/* The maps of the other pools of image name's chain into xm[], checked
 * against the image pool's map m (same block and granule sizes): their
 * number, or -1 after an error message. */
static int load_xpools(struct vstor_client *c, struct vs_nl *nl, const struct vs_pools *pools,
		       const char *name, const struct vstor_pool_map *m, const uint32_t *ids,
		       int n, struct vstor_pool_map *xm)
{
	char lb[300];
	int k, err;

	if (!n)
		return 0;
	memset(xm, 0, (size_t)n * sizeof(*xm));
	if (!kmod_has(nl, VS_FEAT_XPOOL, pools, name, ids[0]))
		return -1;
	for (k = 0; k < n; k++) {
		struct vstor_pool_map *x = &xm[k];
		const char *why = NULL;

		err = vstor_client_pool_map(c, ids[k], x);
		if (err)
			why = "is not in config/pools";
		else if (!x->pg_count)
			why = "has no PGs yet";
		else if (x->block_size != m->block_size)
			why = "has another block_size than the image's pool";
		else if (x->bitmap_granularity != m->bitmap_granularity)
			why = "has another bitmap_granularity than the image's pool";
		if (why)
			vs_err("cannot map image '%s': its parent layers' pool %s %s (vstor.ko reads "
			       "parents in pools of the same block and granule sizes only: flatten "
			       "the image, or use the userspace client)", name,
			       pool_label(pools, ids[k], lb, sizeof(lb)), why);
		if (why || (x->data_chunks > 1 && !kmod_has(nl, VS_FEAT_EC, pools, name, ids[k]))) {
			for (int i = 0; i <= k; i++)
				vstor_pool_map_free(&xm[i]);
			return -1;
		}
	}
	return n;
}

/* The vsctl options of map as netlink attributes; VS_OK or VS_USAGE. */
static int put_map_options(struct vsctl *v, struct nl_msg *msg, bool readonly)
{
	static const struct { const char *opt; int attr; uint64_t max; } nums[] = {
		{ "queue_depth", VS_ATTR_QUEUE_DEPTH, 4096 },
		{ "hw_queues", VS_ATTR_HW_QUEUES, 1024 },
		{ "conns_per_osd", VS_ATTR_CONNS_PER_OSD, 64 },
		{ "io_timeout", VS_ATTR_TIMEOUT_MS, UINT32_MAX },
		{ "dev", VS_ATTR_DEV_INDEX, VS_GENL_MAX_DEV_INDEX },
	};
	uint64_t n;

	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		if (!vs_opt_set(v, nums[i].opt))
			continue;
		if (vs_opt_num(v, nums[i].opt, 0, &n))
			return VS_USAGE;
		if (n > nums[i].max || (!n && nums[i].attr != VS_ATTR_TIMEOUT_MS &&
					nums[i].attr != VS_ATTR_DEV_INDEX))
			return vs_usage(v, "--%s must be %s..%" PRIu64, nums[i].opt,
					nums[i].attr == VS_ATTR_TIMEOUT_MS ||
					nums[i].attr == VS_ATTR_DEV_INDEX ? "0" : "1", nums[i].max);
		nla_put_u32(msg, nums[i].attr, (uint32_t)n);
	}
	if (readonly)
		nla_put_u32(msg, VS_ATTR_FLAGS, VS_GENL_F_READONLY);
	nla_put_u64(msg, VS_ATTR_FEATURES, VS_FEAT_KNOWN);
	return VS_OK;
}

struct map_reply {
	bool have;
	uint32_t index;
	uint64_t features;
};

static void map_reply_cb(void *arg, int cmd, struct nlattr **tb)
{
	struct map_reply *r = arg;

	if (tb[VS_ATTR_DEV_INDEX]) {
		r->have = true;
		r->index = nla_get_u32(tb[VS_ATTR_DEV_INDEX]);
	}
	if (tb[VS_ATTR_FEATURES])
		r->features = nla_get_u64(tb[VS_ATTR_FEATURES]);
}

static bool agent_running(void)
{
	int fd = open(AGENT_LOCK, O_RDWR | O_CLOEXEC);
	bool held;

	if (fd < 0)
		return false;
	held = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
	close(fd);
	return held;
}

/* Starts "vsctl map-agent" detached, with our etcd options. */
static void agent_spawn(struct vsctl *v)
{
	static const char *const pass[] = { "etcd_address", "etcd_prefix", "config_path" };
	char *argv[2 + 2 * 3 + 1];
	char opt[3][64];
	int n = 0, status;
	pid_t pid;

	argv[n++] = "vsctl";
	argv[n++] = "map-agent";
	for (size_t i = 0; i < 3; i++) {
		const char *val = cfg_str(v->cfg, pass[i]);

		if (!val || cfg_source(v->cfg, pass[i]) != CFG_SRC_CMDLINE)
			continue;
		snprintf(opt[i], sizeof(opt[i]), "--%s", pass[i]);
		argv[n++] = opt[i];
		argv[n++] = (char *)val;
	}
	argv[n] = NULL;
	agent_dir();
	pid = fork();
	if (pid < 0) {
		vs_warn("cannot start the map agent: %s", strerror(errno));
		return;
	}
	if (!pid) {
		int fd;

		setsid();
		if (fork())
			_exit(0);
		fd = open("/dev/null", O_RDONLY);
		dup2(fd, 0);
		fd = open(AGENT_LOG, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	fprintf(stderr, "vsctl: started the map agent (log: %s)\n", AGENT_LOG);
}

int cmd_map(struct vsctl *v)
{
	const char *name = v->args[0];
	struct vstor_pool_map m;
	struct map_reply rep = { 0 };
	struct vs_pools pools = { 0 };
	const struct vs_pool *pool = NULL;
	struct vstor_pool_map xm[VS_GENL_MAX_POOLS];
	uint32_t xids[VS_GENL_MAX_POOLS];
	struct vstor_client *c;
	struct nl_msg *msg = NULL;
	struct vs_nl nl = { 0 };
	uint64_t inode, size, chain[VS_GENL_MAX_LAYERS];
	bool ro, parts = false;
	int rc = VS_ERR, err, nchain, nx = 0;
	size_t msize;

	if (vs_nl_open(&nl, false)) {
		vs_err("%s", nl.err);
		return VS_ERR;
	}
	if (vs_pools_load(v, &pools, false))
		goto out_nl;
	c = open_client(v, 15000);
	if (!c)
		goto out_pools;
	memset(&m, 0, sizeof(m));
	err = vstor_image_lookup(c, name, &inode, &size, &ro);
	if (err) {
		vs_err("no image named '%s' (see vsctl ls)", name);
		goto out;
	}
	if (vs_opt_set(v, "pool")) {
		pool = vs_pool_find(&pools, vs_opt_str(v, "pool"));
		if (!pool)
			goto out;
		if (pool->id != vs_inode_pool(inode)) {
			vs_err("image '%s' is in pool %u, not in %s", name, vs_inode_pool(inode),
			       vs_opt_str(v, "pool"));
			goto out;
		}
	}
	pool = vs_pool_by_id(&pools, vs_inode_pool(inode));
	nchain = image_chain(c, inode, chain);
	if (nchain >= 0)
		nx = chain_pools(inode, chain, nchain, xids);
	if (nx < 0) {
		nchain = nx;
		nx = 0;
	}
	if (nchain < 0) {
		vs_err("cannot map image '%s': %s", name, chain_error(nchain));
		goto out;
	}
	if (!size) {
		vs_err("image '%s' has no size (set one: vsctl modify %s --resize SIZE)", name, name);
		goto out;
	}
	if (size % 512)
		vs_warn("image size %" PRIu64 " is not a multiple of 512; the device ends at %" PRIu64,
			size, size & ~(uint64_t)511);
	err = vstor_client_pool_map(c, vs_inode_pool(inode), &m);
	if (err || !m.pg_count) {
		vs_err("pool %u of image '%s' %s", vs_inode_pool(inode), name,
		       err ? "is not in config/pools" :
		       "has no PGs yet (place them: vsctl pg place --static, or run vstor-mon)");
		goto out;
	}
	if (!vs_nl_map_reachable(&m))
		vs_warn("no primary OSD of pool %u is up: I/O on the device waits until OSDs "
			"start and the map agent sends their addresses (vsctl status)",
			vs_inode_pool(inode));
	if (m.data_chunks > 1 && !kmod_has(&nl, VS_FEAT_EC, &pools, name, vs_inode_pool(inode)))
		goto out;
	nx = load_xpools(c, &nl, &pools, name, &m, xids, nx, xm);
	if (nx < 0) {
		nx = 0;
		goto out;
	}
	msize = vs_nl_map_size(&m);
	for (int k = 0; k < nx; k++)
		msize += vs_nl_map_size(&xm[k]);
	msg = vs_nl_msg_maps(&nl, VS_CMD_MAP, msize);
	if (!msg)
		goto out;
	nla_put_u64(msg, VS_ATTR_INODE, inode);
	nla_put_u64(msg, VS_ATTR_SIZE, size & ~(uint64_t)511);
	nla_put_u32(msg, VS_ATTR_BLOCK_SIZE, m.block_size);
	nla_put_u32(msg, VS_ATTR_BITMAP_GRANULARITY, m.bitmap_granularity);
	if (m.data_chunks > 1)
		nla_put_u32(msg, VS_ATTR_DATA_CHUNKS, m.data_chunks);
	nla_put_u8(msg, VS_ATTR_IMMEDIATE_COMMIT,
		   m.immediate_commit_all ? VS_GENL_COMMIT_ALL : VS_GENL_COMMIT_NONE);
	if (pool)
		nla_put_string(msg, VS_ATTR_POOL_NAME, pool->name);
	nla_put_string(msg, VS_ATTR_IMAGE_NAME, name);
	vs_nl_put_layers(msg, chain, (size_t)nchain);
	rc = put_map_options(v, msg, ro || vs_opt_bool(v, "readonly"));
	if (!rc && !map_tables_fit(&nl, name, &m, xm, nx, &parts))
		rc = VS_ERR;
	if (!rc && (vs_nl_put_map(msg, &m, parts) || vs_nl_put_pools(msg, xm, (size_t)nx, parts))) {
		vs_err("cannot map image '%s': the PG maps of its pools do not fit a netlink "
		       "attribute (64 KiB: %s)", name, parts ?
		       "an OSD_LIST, and the OSD lists of the other pools of its parents together" :
		       "the PG table of a pool, and those of the other pools of its parents together");
		rc = VS_ERR;
	}
	if (rc) {
		nlmsg_free(msg);
		goto out;
	}
	rc = VS_ERR;
	err = vs_nl_call(&nl, msg, map_reply_cb, &rep);
	if (err || !rep.have) {
		vs_err("mapping '%s' failed: %s", name, err ? nl.err : "no device index in the reply");
		goto out;
	}
	if (v->json)
		printf("{\"device\":\"/dev/vs%u\",\"index\":%u,\"image\":%s,\"pool_id\":%u,"
		       "\"inode\":%" PRIu64 ",\"size\":%" PRIu64 ",\"epoch\":%" PRIu64
		       ",\"parents\":%d,\"parent_pools\":%d}\n",
		       rep.index, rep.index, vs_q(name), vs_inode_pool(inode),
		       vs_inode_num(inode), size & ~(uint64_t)511, m.epoch, nchain, nx);
	else
		printf("/dev/vs%u\n", rep.index);
	fflush(stdout);
	rc = VS_OK;
	if (!vs_opt_bool(v, "no_agent") && !agent_running())
		agent_spawn(v);
out:
	for (int k = 0; k < nx; k++)
		vstor_pool_map_free(&xm[k]);
	vstor_pool_map_free(&m);
	vstor_client_destroy(c);
out_pools:
	vs_pools_free(&pools);
out_nl:
	vs_nl_close(&nl);
	return rc;
}

/* ---- unmap ---- */

/* "/dev/vs3", "vs3" or "3": the index; -1 when arg is no device name. */
static long dev_index(const char *arg)
{
	char *end;
	long n;

	if (!strncmp(arg, "/dev/", 5))
		arg += 5;
	if (!strncmp(arg, "vs", 2))
		arg += 2;
	if (*arg < '0' || *arg > '9')
		return -1;
	n = strtol(arg, &end, 10);
	return *end || n > VS_GENL_MAX_DEV_INDEX ? -1 : n;
}

int cmd_unmap(struct vsctl *v)
{
	const char *arg = v->args[0];
	bool force = vs_opt_bool(v, "force");
	struct vs_nl nl;
	struct vs_kdevs devs;
	long index = dev_index(arg);
	int rc = VS_ERR, err = 0;

	if (vs_nl_open(&nl, false)) {
		vs_err("%s", nl.err);
		return VS_ERR;
	}
	if (index < 0) {
		size_t found = 0;

		if (vs_nl_list(&nl, &devs)) {
			vs_err("listing devices: %s", nl.err);
			goto out;
		}
		for (size_t i = 0; i < devs.n; i++) {
			if (strcmp(devs.devs[i].image, arg))
				continue;
			if (vs_opt_set(v, "pool") && strcmp(devs.devs[i].pool, vs_opt_str(v, "pool")))
				continue;
			index = devs.devs[i].index;
			found++;
		}
		vs_kdevs_free(&devs);
		if (found != 1) {
			vs_err(found ? "image '%s' is mapped %zu times: name the device (/dev/vsN)"
			       : "image '%s' is not mapped (see vsctl list)", arg, found);
			goto out;
		}
	}
	/* an open by udev (blkid) right after map is brief: retry for 3 s */
	for (int tries = 0; tries < 15; tries++) {
		struct nl_msg *msg = vs_nl_msg(&nl, VS_CMD_UNMAP, 0);

		if (!msg)
			goto out;
		nla_put_u32(msg, VS_ATTR_DEV_INDEX, (uint32_t)index);
		if (force)
			nla_put_u32(msg, VS_ATTR_FLAGS, VS_GENL_F_FORCE);
		err = vs_nl_call(&nl, msg, NULL, NULL);
		if (err != -EBUSY || !strstr(nl.err, "is open"))
			break;
		usleep(200 * 1000);
	}
	if (err) {
		vs_err("unmapping /dev/vs%ld: %s", index, nl.err);
		goto out;
	}
	if (v->json)
		printf("{\"device\":\"/dev/vs%ld\",\"unmapped\":true,\"forced\":%s}\n", index,
		       force ? "true" : "false");
	else
		printf("unmapped /dev/vs%ld\n", index);
	rc = VS_OK;
out:
	vs_nl_close(&nl);
	return rc;
}

/* ---- list ---- */

/* "-", "7" or "7<3<1" (nearest parent first; "POOL:N" for a parent in
 * another pool than the device's), cut with "..." when long. */
static const char *parents_str(const struct vs_kdev *d, char *buf, size_t size)
{
	size_t len = 0;

	snprintf(buf, size, "-");
	for (uint32_t k = 0; k < d->nlayers; k++) {
		uint32_t pool = vs_inode_pool(d->layers[k]);
		char pfx[16] = "";
		int n;

		if (pool != d->pool_id)
			snprintf(pfx, sizeof(pfx), "%u:", pool);
		n = snprintf(buf + len, size - len, "%s%s%" PRIu64, k ? "<" : "", pfx,
			     vs_inode_num(d->layers[k]));

		if (n < 0 || (size_t)n >= size - len) {
			snprintf(buf + (len < size - 4 ? len : size - 4), 4, "...");
			break;
		}
		len += (size_t)n;
	}
	return buf;
}

int cmd_list(struct vsctl *v)
{
	struct vs_nl nl;
	struct vs_kdevs devs;
	struct vs_table *t;
	char sz[32], par[64];

	if (vs_nl_open(&nl, false)) {
		vs_err("%s", nl.err);
		return VS_ERR;
	}
	if (vs_nl_list(&nl, &devs)) {
		vs_err("listing devices: %s", nl.err);
		vs_nl_close(&nl);
		return VS_ERR;
	}
	vs_nl_close(&nl);
	if (v->json) {
		printf("[");
		for (size_t i = 0; i < devs.n; i++) {
			const struct vs_kdev *d = &devs.devs[i];

			printf("%s{\"device\":\"/dev/vs%u\",\"index\":%u,\"pool\":%s,\"pool_id\":%u,"
			       "\"image\":%s,\"inode\":%" PRIu64 ",\"size\":%" PRIu64 ",\"state\":\"%s\","
			       "\"epoch\":%" PRIu64 ",\"inflight\":%u,\"readonly\":%s,"
			       "\"immediate_commit\":\"%s\",\"io_timeout_ms\":%u,\"parents\":[",
			       i ? "," : "", d->index, d->index, vs_q(d->pool), d->pool_id,
			       vs_q(d->image), vs_inode_num(d->inode), d->size,
			       vs_dev_state_name(d->state), d->epoch, d->inflight,
			       d->flags & VS_GENL_F_READONLY ? "true" : "false",
			       d->immediate_commit == VS_GENL_COMMIT_ALL ? "all" : "none",
			       d->timeout_ms);
			for (uint32_t k = 0; k < d->nlayers; k++)
				printf("%s%" PRIu64, k ? "," : "", vs_inode_num(d->layers[k]));
			printf("],\"parent_pools\":[");
			for (uint32_t k = 0; k < d->nlayers; k++)
				printf("%s%u", k ? "," : "", vs_inode_pool(d->layers[k]));
			printf("],\"pool_epochs\":{\"%u\":%" PRIu64, d->pool_id, d->epoch);
			for (uint32_t k = 0; k < d->nxpools; k++)
				printf(",\"%u\":%" PRIu64, d->xpool[k], d->xepoch[k]);
			printf("}}");
		}
		printf("]\n");
	} else {
		t = vs_table_new("device|pool|image|>inode|parents|>size|state|>epoch|>inflight|mode");
		for (size_t i = 0; i < devs.n; i++) {
			const struct vs_kdev *d = &devs.devs[i];

			vs_table_row(t);
			vs_table_cell(t, "/dev/vs%u", d->index);
			vs_table_cell(t, "%s", d->pool);
			vs_table_cell(t, "%s", d->image);
			vs_table_cell(t, "%" PRIu64, vs_inode_num(d->inode));
			vs_table_cell(t, "%s", parents_str(d, par, sizeof(par)));
			vs_table_cell(t, "%s", vs_fmt_size(d->size, sz, sizeof(sz)));
			vs_table_cell(t, "%s", vs_dev_state_name(d->state));
			vs_table_cell(t, "%" PRIu64, d->epoch);
			vs_table_cell(t, "%u", d->inflight);
			vs_table_cell(t, "%s", d->flags & VS_GENL_F_READONLY ? "ro" : "rw");
		}
		vs_table_print(t, stdout);
		vs_table_free(t);
	}
	vs_kdevs_free(&devs);
	return VS_OK;
}

/* ---- map-agent ---- */

struct agent {
	struct vstor_client *c;
	struct vs_nl cmd, ev;
	struct ringloop_op ev_op;
	bool ev_armed, dirty;
	uint64_t last_sync_ns, inode_gen;
	uint8_t logged[VS_GENL_MAX_DEV_INDEX + 1];	/* enum agent_note per device */
};

static volatile sig_atomic_t agent_stop;

static void agent_signal(int sig)
{
	agent_stop = 1;
}

static void agent_map_changed(void *arg)
{
	((struct agent *)arg)->dirty = true;
}

static void agent_event_cb(void *arg, int cmd, struct nlattr **tb)
{
	struct agent *a = arg;

	switch (cmd) {
	case VS_CMD_NEED_MAP:
	case VS_CMD_DEV_ADDED:
	case VS_CMD_OSD_UNREACHABLE:
		a->dirty = true;
		break;
	default:
		break;
	}
}

static void agent_arm(struct agent *a);

static void agent_ev_ready(struct ringloop_op *op, int res, uint32_t flags)
{
	struct agent *a = (struct agent *)(void *)((char *)op - offsetof(struct agent, ev_op));

	a->ev_armed = false;
	vs_nl_events(&a->ev, agent_event_cb, a);
	agent_arm(a);
}

static void agent_arm(struct agent *a)
{
	struct io_uring_sqe *sqe;

	if (a->ev_armed)
		return;
	sqe = ringloop_get_sqe(vstor_client_ringloop(a->c));
	io_uring_prep_poll_add(sqe, nl_socket_get_fd(a->ev.sk), POLLIN);
	ringloop_sqe_set_op(sqe, &a->ev_op);
	a->ev_armed = true;
}

enum agent_note { NOTE_NONE, NOTE_GONE, NOTE_UNRELATED, NOTE_NEWPOOL };

/* What was logged last about a device whose image is gone (removed or
 * renamed while mapped) or whose name now has an unrelated inode (it
 * keeps its layers then): each is logged once; true if note was. */
static bool agent_noted(struct agent *a, const struct vs_kdev *d, enum agent_note note)
{
	bool was = a->logged[d->index] == note;

	a->logged[d->index] = (uint8_t)note;
	return was;
}

/* Whether a device may move to top with chain: the same top (its chain
 * changed), or a snapshot put top over the device's inode. Any other top
 * is another image that took the name: never write into that. */
static bool may_move(const struct vs_kdev *d, uint64_t top, const uint64_t *chain, int n)
{
	if (top == d->inode)
		return true;
	for (int k = 0; k < n; k++)
		if (chain[k] == d->inode)
			return true;
	return false;
}

/* Whether every layer of chain is in a pool the device routes in. */
static bool chain_pools_known(const struct vs_kdev *d, const uint64_t *chain, int n)
{
	for (int k = 0; k < n; k++) {
		uint32_t pool = vs_inode_pool(chain[k]), i;

		for (i = 0; pool != d->pool_id && i < d->nxpools && d->xpool[i] != pool; i++)
			;
		if (pool != d->pool_id && i == d->nxpools)
			return false;
	}
	return true;
}

/* Pushes SET_LAYERS when the image's name now has another inode or chain
 * than the device (snapshot, flatten, snap rm of a parent). */
static void agent_layers(struct agent *a, const struct vs_kdev *d)
{
	uint64_t inode, size, chain[VS_GENL_MAX_LAYERS];
	struct nl_msg *msg;
	bool ro;
	int n, err;

	if (!(d->features & VS_FEAT_LAYERS) || d->index > VS_GENL_MAX_DEV_INDEX)
		return;
	if (vstor_image_lookup(a->c, d->image, &inode, &size, &ro) ||
	    vs_inode_pool(inode) != d->pool_id) {
		if (!agent_noted(a, d, NOTE_GONE))
			log_warn("/dev/vs%u: no image '%s' in pool %u any more: it keeps reading "
				 "inode %" PRIu64 " and its %u parents", d->index, d->image,
				 d->pool_id, vs_inode_num(d->inode), d->nlayers);
		return;
	}
	n = image_chain(a->c, inode, chain);
	if (n < 0) {
		log_warn("/dev/vs%u: image '%s': %s", d->index, d->image, chain_error(n));
		return;
	}
	if (!chain_pools_known(d, chain, n)) {
		if (!agent_noted(a, d, NOTE_NEWPOOL))
			log_warn("/dev/vs%u: image '%s' now has a parent layer in a pool the device "
				 "has no map of: it keeps reading inode %" PRIu64 " and its %u parents "
				 "(unmap and map it again)", d->index, d->image,
				 vs_inode_num(d->inode), d->nlayers);
		return;
	}
	if (!may_move(d, inode, chain, n)) {
		if (!agent_noted(a, d, NOTE_UNRELATED))
			log_warn("/dev/vs%u: image '%s' is now inode %" PRIu64 ", which is not on top "
				 "of the device's inode %" PRIu64 ": left as it is", d->index, d->image,
				 vs_inode_num(inode), vs_inode_num(d->inode));
		return;
	}
	agent_noted(a, d, NOTE_NONE);
	if (inode == d->inode && (uint32_t)n == d->nlayers &&
	    !memcmp(chain, d->layers, (size_t)n * sizeof(chain[0])))
		return;
	msg = vs_nl_msg(&a->cmd, VS_CMD_SET_LAYERS, 0);
	if (!msg)
		return;
	nla_put_u32(msg, VS_ATTR_DEV_INDEX, d->index);
	nla_put_u64(msg, VS_ATTR_INODE, inode);
	vs_nl_put_layers(msg, chain, (size_t)n);
	err = vs_nl_call(&a->cmd, msg, NULL, NULL);
	if (err)
		log_warn("/dev/vs%u: SET_LAYERS inode %" PRIu64 ": %s", d->index,
			 vs_inode_num(inode), a->cmd.err);
	else
		log_info("/dev/vs%u (%s): layers now inode %" PRIu64 " with %d parents "
			 "(was %" PRIu64 " with %u)", d->index, d->image, vs_inode_num(inode), n,
			 vs_inode_num(d->inode), d->nlayers);
}

/* The pools the devices route in, each with the oldest epoch a device has. */
struct agent_pool {
	uint32_t id;
	uint64_t oldest;
};

static void agent_pool_add(struct agent_pool *ps, size_t *n, uint32_t id, uint64_t epoch)
{
	for (size_t k = 0; k < *n; k++) {
		if (ps[k].id == id) {
			if (epoch < ps[k].oldest)
				ps[k].oldest = epoch;
			return;
		}
	}
	ps[*n].id = id;
	ps[*n].oldest = epoch;
	(*n)++;
}

/* SET_MAP of pool when etcd has a newer map than some device of it. */
static void agent_push_map(struct agent *a, uint32_t pool, uint64_t oldest)
{
	struct vstor_pool_map m;
	struct nl_msg *msg;
	uint64_t feat = 0;
	bool parts;
	int err;

	err = vstor_client_pool_map(a->c, pool, &m);
	if (err || !m.pg_count || m.epoch <= oldest) {
		vstor_pool_map_free(&m);
		return;
	}
	/* asked each time: the module may have been replaced meanwhile */
	parts = !vs_nl_features(&a->cmd, &feat) && (feat & VS_FEAT_PG_PARTS);
	msg = vs_nl_msg_maps(&a->cmd, VS_CMD_SET_MAP, vs_nl_map_size(&m));
	if (msg && !vs_nl_put_map(msg, &m, parts)) {
		err = vs_nl_call(&a->cmd, msg, NULL, NULL);
		if (err && err != -ENODEV)
			log_warn("pool %u: SET_MAP epoch %" PRIu64 ": %s", pool, m.epoch,
				 a->cmd.err);
		else if (!err)
			log_info("pool %u: map epoch %" PRIu64 " pushed", pool, m.epoch);
	} else if (msg) {
		nlmsg_free(msg);
		if (parts)
			log_warn("pool %u: its map (%u PGs) does not fit SET_MAP (its OSD_LIST is "
				 "above 64 KiB)", pool, m.pg_count);
		else
			log_warn("pool %u: its map (%u PGs) does not fit SET_MAP (at most %d PGs "
				 "without the PG_PARTS feature of a newer vstor.ko)", pool,
				 m.pg_count, VS_NL_MAX_PGS);
	}
	vstor_pool_map_free(&m);
}

/* Pushes the current map of every pool (a device's own or one of its
 * parents') whose devices lag behind, and the current layers of every
 * device whose image changed. */
static void agent_sync(struct agent *a)
{
	struct vs_kdevs devs;
	struct agent_pool *ps;
	size_t np = 0;

	a->dirty = false;
	a->last_sync_ns = ringloop_now_ns();
	if (vs_nl_list(&a->cmd, &devs)) {
		log_warn("listing devices: %s", a->cmd.err);
		return;
	}
	ps = calloc(devs.n * (1 + VS_GENL_MAX_POOLS) + 1, sizeof(*ps));
	if (!ps) {
		vs_kdevs_free(&devs);
		return;
	}
	for (size_t i = 0; i < devs.n; i++) {
		const struct vs_kdev *d = &devs.devs[i];

		agent_pool_add(ps, &np, d->pool_id, d->epoch);
		for (uint32_t k = 0; k < d->nxpools; k++)
			agent_pool_add(ps, &np, d->xpool[k], d->xepoch[k]);
	}
	for (size_t k = 0; k < np; k++)
		agent_push_map(a, ps[k].id, ps[k].oldest);
	free(ps);
	for (size_t i = 0; i < devs.n; i++)
		agent_layers(a, &devs.devs[i]);
	vs_kdevs_free(&devs);
}

int cmd_map_agent(struct vsctl *v)
{
	struct agent a = { 0 };
	struct sigaction sa = { .sa_handler = agent_signal };
	int lock, rc = VS_ERR;

	vlog_set_verbosity(0);
	vlog_set_prog("vsctl map-agent");
	vlog_set_timestamps(true);
	agent_dir();
	lock = open(AGENT_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (lock < 0) {
		vs_err("cannot create %s: %s", AGENT_LOCK, strerror(errno));
		return VS_ERR;
	}
	if (flock(lock, LOCK_EX | LOCK_NB)) {
		vs_err("another map agent is running (%s is locked)", AGENT_LOCK);
		close(lock);
		return VS_ERR;
	}
	if (vs_nl_open(&a.cmd, false) || vs_nl_open(&a.ev, true)) {
		vs_err("%s", a.cmd.err[0] ? a.cmd.err : a.ev.err);
		goto out;
	}
	a.c = open_client(v, 0);
	if (!a.c)
		goto out;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	a.ev_op.cb = agent_ev_ready;
	vstor_client_on_map_change(a.c, agent_map_changed, &a);
	agent_arm(&a);
	log_info("following etcd for the mapped devices");
	while (!agent_stop) {
		vstor_client_run_once(a.c, 200 * 1000000ll);
		if (!vstor_client_ready(a.c))
			continue;
		if (vstor_client_inode_gen(a.c) != a.inode_gen) {
			a.inode_gen = vstor_client_inode_gen(a.c);
			a.dirty = true;
		}
		if (a.dirty || ringloop_now_ns() - a.last_sync_ns > AGENT_RESYNC_MS * 1000000ull)
			agent_sync(&a);
	}
	log_info("stopping");
	rc = VS_OK;
out:
	if (a.c)
		vstor_client_destroy(a.c);
	vs_nl_close(&a.ev);
	vs_nl_close(&a.cmd);
	close(lock);
	return rc;
}

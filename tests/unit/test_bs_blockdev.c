/* Blockstore on a real block device: a loop device over a temp file, with
 * the io_uring backend (O_DIRECT on /dev/loopN). Skipped where loop devices
 * cannot be set up (not root, no loop driver). */
#include "test_bs_util.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#define BSZ (128u << 10)
#define NOBJ 64

static char loopdev[64];

/* Attaches path to a free loop device; returns 0 or -1. */
static int loop_attach(const char *path)
{
	char cmd[1024];
	FILE *p;

	snprintf(cmd, sizeof(cmd), "losetup -f --show '%s' 2>/dev/null", path);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	if (!fgets(loopdev, sizeof(loopdev), p))
		loopdev[0] = 0;
	if (pclose(p) || strncmp(loopdev, "/dev/loop", 9))
		return -1;
	loopdev[strcspn(loopdev, "\n")] = 0;
	return 0;
}

static void loop_detach(void)
{
	char cmd[128];

	if (!loopdev[0])
		return;
	snprintf(cmd, sizeof(cmd), "losetup -d %s", loopdev);
	if (system(cmd))
		fprintf(stderr, "warning: %s failed\n", cmd);
	loopdev[0] = 0;
}

static struct bs *open_dev(char *err, size_t errlen)
{
	struct bs_config cfg;
	struct bs *bs = NULL;

	memset(&cfg, 0, sizeof(cfg));
	cfg.data_path = loopdev;
	cfg.immediate_commit = BS_IC_ALL;
	return bs_open(T_rl, &cfg, &bs, err, errlen) ? NULL : bs;
}

static int format_dev(char *err, size_t errlen)
{
	struct bs_backend *be = bs_backend_uring_open(T_rl, loopdev, NULL, NULL, err, errlen);
	struct bs_format_opts fo;
	int r;

	if (!be)
		return -1;
	if (!be->is_blockdev[BS_SLOT_DATA]) {
		snprintf(err, errlen, "backend did not detect a block device");
		be->ops->destroy(be);
		return -1;
	}
	memset(&fo, 0, sizeof(fo));
	fo.osd_num = 7;
	fo.journal_size = 4 << 20;
	r = bs_format(be, &fo, err, errlen);
	be->ops->destroy(be);
	return r;
}

static int verify_all(struct bs *bs, uint8_t *w, uint8_t *r)
{
	uint64_t v;

	for (int i = 0; i < NOBJ; i++) {
		t_fill(w, BSZ, (uint64_t)i + 100);
		if (t_read(bs, 5, (uint64_t)i * BSZ, BS_VER_STABLE, 0, BSZ, r, &v, NULL) != (int)BSZ)
			return -1;
		/* Odd objects got a 4 KiB overwrite at 8 KiB after the full write. */
		if (i % 2)
			t_fill(w + 8192, 4096, (uint64_t)i + 1000);
		if (memcmp(r, w, BSZ) || v != (i % 2 ? 2u : 1u))
			return -1;
	}
	return 0;
}

static void blockdev_write_restart(void)
{
	char path[512], err[256];
	uint8_t *w = t_abuf(BSZ), *r = t_abuf(BSZ);
	struct bs *bs = NULL;
	int fd;

	snprintf(path, sizeof(path), "%s/bs_blockdev.img", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	fd = open(path, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	CHECK(fd >= 0);
	CHECK_EQ(ftruncate(fd, 64 << 20), 0);
	close(fd);
	if (loop_attach(path)) {
		vt_skip("cannot set up a loop device (needs root and the loop driver)");
		goto out;
	}
	CHECK_MSG(!format_dev(err, sizeof(err)), "format %s: %s", loopdev, err);
	bs = open_dev(err, sizeof(err));
	CHECK_MSG(bs, "open %s: %s", loopdev, err);
	for (int i = 0; i < NOBJ; i++) {
		t_fill(w, BSZ, (uint64_t)i + 100);
		CHECK_EQ(t_write(bs, BS_OP_WRITE_STABLE, 5, (uint64_t)i * BSZ, 0, 0, BSZ, w, NULL), BSZ);
		if (i % 2) {
			t_fill(w, 4096, (uint64_t)i + 1000);
			CHECK_EQ(t_write(bs, BS_OP_WRITE_STABLE, 5, (uint64_t)i * BSZ, 0, 8192, 4096, w, NULL), 4096);
		}
	}
	CHECK_EQ(verify_all(bs, w, r), 0);
	CHECK_EQ(t_idle(bs), 0);
	bs_close(bs);
	/* Replay from the journal, then flush to the data area and reopen. */
	for (int round = 0; round < 2; round++) {
		bs = open_dev(err, sizeof(err));
		CHECK_MSG(bs, "reopen %s: %s", loopdev, err);
		CHECK_MSG(!verify_all(bs, w, r), "data differs after reopen %d", round);
		CHECK_EQ(t_flush_all(bs), 0);
		bs_close(bs);
	}
	bs = NULL;
out:
	loop_detach();
	unlink(path);
	free(w);
	free(r);
}

int main(void)
{
	T_rl = ringloop_create(256);
	if (!T_rl) {
		perror("ringloop_create");
		return 1;
	}
	RUN(blockdev_write_restart);
	loop_detach();
	ringloop_destroy(T_rl);
	return vt_finish();
}

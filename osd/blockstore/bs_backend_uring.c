/* io_uring backend: O_DIRECT on regular files or block devices, registered
 * files, one SQE per I/O, submission batched by the ring loop. */
#include "bs_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

struct uring_be {
	struct bs_backend be;
	int fd[BS_NSLOTS];
	bool fixed;
};

static struct uring_be *U(struct bs_backend *be)
{
	return (struct uring_be *)be;
}

static void on_cqe(struct ringloop_op *op, int res, uint32_t flags)
{
	struct bs_io *io = (struct bs_io *)(void *)((char *)op - offsetof(struct bs_io, rop));

	(void)flags;
	if (io->bkind && res >= 0 && (uint32_t)res != io->blen)
		res = -EIO; /* short read/write on O_DIRECT: treat as error */
	io->cb(io, res);
}

static struct io_uring_sqe *prep(struct uring_be *u, struct bs_io *io)
{
	struct io_uring_sqe *sqe = ringloop_get_sqe(u->be.rl);

	io->rop.cb = on_cqe;
	return sqe;
}

static void fail_now(struct bs_io *io)
{
	/* No SQE available: complete with an error from a CQE-less path is
	 * not allowed, so this only happens with a broken ring; report it on
	 * the callback directly. */
	io->cb(io, -EIO);
}

static void u_rw(struct bs_backend *be, int slot, void *buf, size_t len, uint64_t off,
	bool write, bool dsync, struct bs_io *io)
{
	struct uring_be *u = U(be);
	struct io_uring_sqe *sqe = prep(u, io);
	int fd = u->fixed ? be->phys[slot] : u->fd[be->phys[slot]];

	if (!sqe) {
		fail_now(io);
		return;
	}
	if (write)
		io_uring_prep_write(sqe, fd, buf, (unsigned)len, off);
	else
		io_uring_prep_read(sqe, fd, buf, (unsigned)len, off);
	if (dsync)
		sqe->rw_flags = RWF_DSYNC;
	if (u->fixed)
		sqe->flags |= IOSQE_FIXED_FILE;
	io->bkind = 1;
	io->blen = (uint32_t)len;
	ringloop_sqe_set_op(sqe, &io->rop);
}

static void u_read(struct bs_backend *be, int slot, void *buf, size_t len, uint64_t off, struct bs_io *io)
{
	u_rw(be, slot, buf, len, off, false, false, io);
}

static void u_write(struct bs_backend *be, int slot, const void *buf, size_t len, uint64_t off,
	bool dsync, struct bs_io *io)
{
	u_rw(be, slot, (void *)(uintptr_t)buf, len, off, true, dsync, io);
}

static void u_flush(struct bs_backend *be, int slot, struct bs_io *io)
{
	struct uring_be *u = U(be);
	struct io_uring_sqe *sqe = prep(u, io);
	int fd = u->fixed ? be->phys[slot] : u->fd[be->phys[slot]];

	if (!sqe) {
		fail_now(io);
		return;
	}
	io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
	if (u->fixed)
		sqe->flags |= IOSQE_FIXED_FILE;
	io->bkind = 0;
	ringloop_sqe_set_op(sqe, &io->rop);
}

static void u_destroy(struct bs_backend *be)
{
	struct uring_be *u = U(be);

	if (u->fixed)
		io_uring_unregister_files(ringloop_ring(be->rl));
	for (int i = 0; i < BS_NSLOTS; i++)
		if (u->fd[i] >= 0)
			close(u->fd[i]);
	free(u);
}

static const struct bs_backend_ops uring_ops = {
	.read = u_read, .write = u_write, .flush = u_flush, .destroy = u_destroy,
};

struct bs_backend *bs_backend_uring_open(struct ringloop *rl, const char *data_path,
	const char *meta_path, const char *journal_path, char *err, size_t errlen)
{
	struct uring_be *u = calloc(1, sizeof(*u));
	const char *paths[BS_NSLOTS] = { data_path, meta_path, journal_path };

	if (!u) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	u->be.ops = &uring_ops;
	u->be.rl = rl;
	for (int i = 0; i < BS_NSLOTS; i++)
		u->fd[i] = -1;
	for (int i = 0; i < BS_NSLOTS; i++) {
		struct stat st;
		int fd, same = -1;

		if (i > 0 && (!paths[i] || !paths[i][0]))
			same = 0;
		for (int j = 0; same < 0 && j < i; j++)
			if (paths[j] && paths[i] && !strcmp(paths[i], paths[j]))
				same = u->be.phys[j];
		if (same >= 0) {
			u->be.phys[i] = same;
			u->be.size[i] = u->be.size[same];
			u->be.is_blockdev[i] = u->be.is_blockdev[same];
			continue;
		}
		if (!paths[i]) {
			snprintf(err, errlen, "no data device path");
			goto fail;
		}
		fd = open(paths[i], O_RDWR | O_DIRECT | O_CLOEXEC);
		if (fd < 0) {
			snprintf(err, errlen, "open %s: %s", paths[i], strerror(errno));
			goto fail;
		}
		u->fd[i] = fd;
		u->be.phys[i] = i;
		if (fstat(fd, &st) < 0) {
			snprintf(err, errlen, "stat %s: %s", paths[i], strerror(errno));
			goto fail;
		}
		if (S_ISBLK(st.st_mode)) {
			uint64_t sz = 0;

			if (ioctl(fd, BLKGETSIZE64, &sz) < 0) {
				snprintf(err, errlen, "BLKGETSIZE64 %s: %s", paths[i], strerror(errno));
				goto fail;
			}
			u->be.size[i] = sz;
			u->be.is_blockdev[i] = true;
		} else if (S_ISREG(st.st_mode)) {
			u->be.size[i] = (uint64_t)st.st_size;
		} else {
			snprintf(err, errlen, "%s: not a regular file or block device", paths[i]);
			goto fail;
		}
		u->be.size[i] &= ~4095ull;
	}
	{
		/* Registered files: slot index -> fixed file index. */
		int fds[BS_NSLOTS];

		for (int i = 0; i < BS_NSLOTS; i++)
			fds[i] = u->fd[i];
		if (io_uring_register_files(ringloop_ring(rl), fds, BS_NSLOTS) == 0)
			u->fixed = true;
	}
	return &u->be;
fail:
	u_destroy(&u->be);
	return NULL;
}

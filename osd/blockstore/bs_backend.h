/* Device I/O backends for the blockstore. The engine never touches fds: it
 * submits reads, writes and flushes on "slots" (journal, meta, data area
 * devices) through this interface, and completions always arrive from the
 * ring loop (a CQE or a deferred callback), never inside the submit call.
 *
 *  - io_uring backend: the real one (O_DIRECT, registered files).
 *  - memory backend: devices in RAM; optionally models a volatile write
 *    cache for crash tests: writes not covered by a completed flush (or
 *    written with dsync) may be lost or torn at 4 KiB granularity when the
 *    test declares a power loss.
 */
#ifndef VSTOR_BS_BACKEND_H
#define VSTOR_BS_BACKEND_H

#include "ringloop.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { BS_SLOT_DATA = 0, BS_SLOT_META = 1, BS_SLOT_JOURNAL = 2, BS_NSLOTS = 3 };

struct bs_io {
	void (*cb)(struct bs_io *io, int res); /* res = bytes or -errno */
	void *owner;
	uint64_t arg;
	/* backend-private */
	struct ringloop_op rop;
	struct ringloop_defer d;
	int res;
	struct bs_io *next, *prev;
	void *be;
	uint64_t boff;
	uint32_t blen;
	uint8_t bkind, bdev;
	const void *wbuf;	/* a late write's data, applied at delivery */
};

struct bs_backend;
struct bs_backend_ops {
	/* buf, len and off must be 4 KiB-aligned. */
	void (*read)(struct bs_backend *be, int slot, void *buf, size_t len, uint64_t off, struct bs_io *io);
	void (*write)(struct bs_backend *be, int slot, const void *buf, size_t len, uint64_t off,
		bool dsync, struct bs_io *io);
	/* Flushes the slot's device (fdatasync). */
	void (*flush)(struct bs_backend *be, int slot, struct bs_io *io);
	void (*destroy)(struct bs_backend *be);
};

struct bs_backend {
	const struct bs_backend_ops *ops;
	struct ringloop *rl;
	/* phys[slot]: index of the physical device holding this slot; slots
	 * with equal phys share one device (one flush covers both). */
	int phys[BS_NSLOTS];
	uint64_t size[BS_NSLOTS];
	bool is_blockdev[BS_NSLOTS];
};

/* Opens paths (journal/meta NULL = same device as data) with O_DIRECT.
 * Regular files and block devices. Returns NULL with a message in err. */
struct bs_backend *bs_backend_uring_open(struct ringloop *rl, const char *data_path,
	const char *meta_path, const char *journal_path, char *err, size_t errlen);

/* RAM devices: sizes[slot] (0 = same device as data). */
struct bs_backend *bs_backend_mem_create(struct ringloop *rl, const uint64_t sizes[BS_NSLOTS]);
/* Access to a RAM device's current (cached) and durable contents. */
uint8_t *bs_mem_image(struct bs_backend *be, int slot, bool durable);
/* Enables volatile-cache modelling: writes become durable only through a
 * completed flush or dsync write. */
void bs_mem_set_volatile(struct bs_backend *be, bool on);
/* Late writes: a write's data reaches the device only when its completion
 * is delivered, so reads issued in between see the old contents, as they
 * may on a real disk with O_DIRECT. */
void bs_mem_set_late_writes(struct bs_backend *be, bool on);
/* Crash after this many more submitted I/Os (0 = never): from then on
 * submissions and completions are dropped. */
void bs_mem_crash_after(struct bs_backend *be, uint64_t nios);
bool bs_mem_crashed(struct bs_backend *be);
/* Declares power loss now: stops all I/O and, for every 4 KiB sector not
 * yet durable, keeps the new or the old contents at random (seeded). After
 * this the durable image is what a new backend should be created from. */
void bs_mem_power_loss(struct bs_backend *be, uint64_t seed);
/* Creates a new backend on the same geometry whose contents are the
 * durable image of old (for restart after a crash). */
struct bs_backend *bs_backend_mem_clone_durable(struct ringloop *rl, struct bs_backend *old);
uint64_t bs_mem_io_count(struct bs_backend *be);

#endif

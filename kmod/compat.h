/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel API compatibility for vstor.ko.
 *
 * The module targets Debian 12's 6.1 kernel and should build on 6.1..6.12.
 * Where those kernels differ, the difference is handled here, and only
 * here, keyed on HAVE_* macros that kmod/Kbuild derives from the target's
 * headers (probes for the API itself, never version numbers: distributions
 * backport). Only the 6.1 side is built and tested here; the other side of
 * each probe follows the newer kernels' documented API.
 */
#ifndef VSTOR_COMPAT_H
#define VSTOR_COMPAT_H

#include <linux/blk-mq.h>
#include <linux/blkdev.h>
#include <net/sock.h>

/* sk_use_task_frag (6.2, backported): never use current's page frag. */
static inline void vs_sk_no_task_frag(struct sock *sk)
{
#ifdef HAVE_SK_USE_TASK_FRAG
	sk->sk_use_task_frag = false;
#endif
}

/* block_device_operations.open/release took a bdev and fmode_t until 6.5. */
#ifdef HAVE_BLK_MODE_T
#define VS_BDOPS_OPEN(fn)	int fn(struct gendisk *disk, blk_mode_t mode)
#define VS_BDOPS_OPEN_DISK	(disk)
#define VS_BDOPS_RELEASE(fn)	void fn(struct gendisk *disk)
#else
#define VS_BDOPS_OPEN(fn)	int fn(struct block_device *bdev, fmode_t mode)
#define VS_BDOPS_OPEN_DISK	(bdev->bd_disk)
#define VS_BDOPS_RELEASE(fn)	void fn(struct gendisk *disk, fmode_t mode)
#endif

#ifdef HAVE_BLK_MQ_F_SHOULD_MERGE
#define VS_BLK_MQ_F_MERGE	BLK_MQ_F_SHOULD_MERGE
#else
#define VS_BLK_MQ_F_MERGE	0
#endif

#ifdef HAVE_BLK_MQ_F_NO_SCHED_BY_DEFAULT
#define VS_BLK_MQ_F_NO_SCHED	BLK_MQ_F_NO_SCHED_BY_DEFAULT
#else
#define VS_BLK_MQ_F_NO_SCHED	0
#endif

/* The queue limits of a device, in one place for both APIs. */
struct vs_limits {
	unsigned int lbs;		/* logical = physical block size */
	unsigned int io_opt;
	unsigned int max_sectors;
	unsigned int chunk_sectors;
	unsigned int discard_sectors;	/* 0: no discard / write-zeroes */
	unsigned int discard_granularity;
	bool write_cache;		/* volatile cache + FUA */
};

/*
 * blk_mq_alloc_disk() with the limits applied: 6.9 takes a queue_limits
 * (and 6.11 moved the cache and rotational flags into it), 6.1 has setters.
 */
static inline struct gendisk *vs_alloc_disk(struct blk_mq_tag_set *set,
					    const struct vs_limits *l,
					    void *data)
{
	struct gendisk *disk;
#ifdef HAVE_QUEUE_LIMITS_ALLOC
	struct queue_limits lim = {
		.logical_block_size = l->lbs,
		.physical_block_size = l->lbs,
		.io_min = l->lbs,
		.io_opt = l->io_opt,
		.max_hw_sectors = l->max_sectors,
		.chunk_sectors = l->chunk_sectors,
		.max_segments = USHRT_MAX,
		.max_segment_size = UINT_MAX,
		.max_hw_discard_sectors = l->discard_sectors,
		.max_write_zeroes_sectors = l->discard_sectors,
		.discard_granularity = l->discard_granularity,
#ifdef HAVE_BLK_FEATURES
		.features = l->write_cache ? BLK_FEAT_WRITE_CACHE | BLK_FEAT_FUA : 0,
#endif
	};

	disk = blk_mq_alloc_disk(set, &lim, data);
	if (IS_ERR(disk))
		return disk;
#else
	struct request_queue *q;

	disk = blk_mq_alloc_disk(set, data);
	if (IS_ERR(disk))
		return disk;
	q = disk->queue;
	blk_queue_logical_block_size(q, l->lbs);
	blk_queue_physical_block_size(q, l->lbs);
	blk_queue_io_min(q, l->lbs);
	blk_queue_io_opt(q, l->io_opt);
	blk_queue_max_hw_sectors(q, l->max_sectors);
	blk_queue_chunk_sectors(q, l->chunk_sectors);
	blk_queue_max_segments(q, USHRT_MAX);
	blk_queue_max_segment_size(q, UINT_MAX);
	if (l->discard_sectors) {
		blk_queue_max_discard_sectors(q, l->discard_sectors);
		blk_queue_max_write_zeroes_sectors(q, l->discard_sectors);
		q->limits.discard_granularity = l->discard_granularity;
	}
#endif
#ifndef HAVE_BLK_FEATURES
	/* from 6.11 a disk is rotational only if its limits say BLK_FEAT_ROTATIONAL */
	blk_queue_flag_set(QUEUE_FLAG_NONROT, disk->queue);
	blk_queue_write_cache(disk->queue, l->write_cache, l->write_cache);
#endif
	return disk;
}

#endif /* VSTOR_COMPAT_H */

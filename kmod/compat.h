/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel API compatibility for vstor.ko.
 *
 * The module targets Debian 12's 6.1 kernel and should build on 6.1..6.12.
 * Where those kernels differ (blk_mq_alloc_disk() and queue limits, block
 * device open/release, zero-copy socket sends, sk_use_task_frag, ...), the
 * difference is handled here, and only here, keyed on HAVE_* macros that
 * Kbuild will generate from small test compiles against the target headers.
 * No LINUX_VERSION_CODE checks in the driver: distributions backport.
 *
 * Nothing in the control plane needs a probe yet; the first probes come with
 * the block device.
 */
#ifndef VSTOR_COMPAT_H
#define VSTOR_COMPAT_H

#endif /* VSTOR_COMPAT_H */

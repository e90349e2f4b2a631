// SPDX-License-Identifier: GPL-2.0
/*
 * vstor.ko: block devices (/dev/vsN) backed by a vstor cluster.
 *
 * Module init and exit. Order matters: the generic netlink family is the
 * only way in from userspace, so it is registered last, when everything a
 * command may touch is ready, and unregistered first, so that no MAP or
 * UNMAP can race with tearing the devices down (blktests nbd/004 found the
 * reverse order unsafe in nbd).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <net/genetlink.h>

#include "vstor.h"
#include "vstor_proto.h"

static int __init vs_init(void)
{
	int err;

	err = vs_check_proto();
	if (err) {
		pr_err("protocol header self-check failed\n");
		return err;
	}

	/* The block device major and the device index come here. */

	err = vs_genl_init();
	if (err) {
		pr_err("cannot register the %s netlink family: %d\n",
		       VS_GENL_NAME, err);
		return err;
	}

	pr_info("protocol %d, netlink family %s v%d\n",
		VS_PROTOCOL_VERSION, VS_GENL_NAME, VS_GENL_VERSION);
	return 0;
}

static void __exit vs_exit(void)
{
	vs_genl_exit();
	/* Devices are torn down here, after no command can arrive. */
}

module_init(vs_init);
module_exit(vs_exit);

MODULE_DESCRIPTION("vstor clustered block device");
MODULE_LICENSE("GPL");
MODULE_ALIAS_GENL_FAMILY(VS_GENL_NAME);

/* SPDX-License-Identifier: GPL-2.0 */
/*
 * vstor.ko internals shared between the files of the module. The headers
 * shared with userspace (vstor_proto.h, vstor_genl.h) live in ../common.
 */
#ifndef VSTOR_H
#define VSTOR_H

#include <linux/types.h>

#include "compat.h"
#include "vstor_genl.h"

/* Highest /dev/vsN index MAP accepts (DEV_INDEX). */
#define VS_MAX_DEV_INDEX	65535u

/* Most PGs a pool may have (PG_COUNT). */
#define VS_MAX_PG_COUNT		65536u

/*
 * Feature bits this driver grants (VS_ATTR_FEATURES is masked with it).
 * These are the features the MAP/SET_MAP validation already accepts and the
 * data path is designed for; EC pools and discard are refused for now.
 */
#define VS_DRV_FEATURES		(VS_FEAT_MULTI_CONN | VS_FEAT_IPV6 |	\
				 VS_FEAT_FORCE_UNMAP | VS_FEAT_LAZY_SYNC | \
				 VS_FEAT_REQ_TIMEOUT | VS_FEAT_RESIZE)

/* vstor_genl.c */
int vs_genl_init(void);
void vs_genl_exit(void);

/* vstor_check.c */
int vs_check_proto(void);

#endif /* VSTOR_H */

/* vsctl map: what an image needs of the loaded vstor.ko (its FEATURES
 * word) and the error that names what it lacks. A file of its own so that
 * tests/unit/test_vsctl_feat.c feeds it feature words without a kernel. */
#include <stdio.h>

#include "vsctl.h"
#include "vstor_genl.h"

static const struct {
	uint64_t bit;
	const char *name;
	const char *pre, *post;	/* what the image has, around its pool */
	const char *them;
	const char *fix;
} needs[] = {
	{ VS_FEAT_EC, "EC", "pool ", " is erasure-coded", "it", "use the userspace client" },
	{ VS_FEAT_XPOOL, "XPOOL", "it has parent layers in pool ", "", "them",
	  "flatten the image" },
};

bool vs_kmod_lacks(uint64_t need, uint64_t feat, const char *why, const char *image,
		   const char *pool, char *buf, size_t len)
{
	for (size_t i = 0; i < sizeof(needs) / sizeof(needs[0]); i++) {
		if (needs[i].bit != need)
			continue;
		if (!why && (feat & need))
			return false;
		snprintf(buf, len, "cannot map image '%s': %s%s%s, and the loaded vstor.ko lacks "
			 "the %s feature to read %s (%s): load a newer vstor.ko, or %s", image,
			 needs[i].pre, pool, needs[i].post, needs[i].name, needs[i].them,
			 why ? why : "not granted", needs[i].fix);
		return true;
	}
	snprintf(buf, len, "cannot map image '%s': vsctl has no check for vstor.ko feature "
		 "0x%llx", image, (unsigned long long)need);
	return true;
}

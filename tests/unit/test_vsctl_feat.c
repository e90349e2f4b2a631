/* vsctl map's check of the loaded vstor.ko's FEATURES word
 * (vsctl/kmod_feat.c, called by cmd_map.c for every EC pool and parent
 * pool of an image): a module lacking EC or XPOOL, or one whose FEATURES
 * query failed, gets an error that names the image, the pool, the
 * feature and what to do; a module with the bit passes. The words are
 * the module's own (VS_FEAT_KNOWN of vstor_genl.h, shared with kmod/). */
#include "../../vsctl/kmod_feat.c"

#include "check.h"

static const char *pool = "'ec' (id 3)";

/* need missing from feat: the error's parts, and buf filled */
#define CHECK_LACKS(need, feat, why, name, what, fix) do { \
	char buf_[1024] = ""; \
	CHECK(vs_kmod_lacks(need, feat, why, "img", pool, buf_, sizeof(buf_))); \
	CHECK_MSG(strstr(buf_, "cannot map image 'img'") && strstr(buf_, pool) && \
		  strstr(buf_, "lacks the " name " feature") && strstr(buf_, what) && \
		  strstr(buf_, fix), "message: %s", buf_); \
} while (0)

static void t_has(void)
{
	char buf[256] = "untouched";

	CHECK(!vs_kmod_lacks(VS_FEAT_EC, VS_FEAT_KNOWN, NULL, "img", pool, buf, sizeof(buf)));
	CHECK(!vs_kmod_lacks(VS_FEAT_XPOOL, VS_FEAT_KNOWN, NULL, "img", pool, buf, sizeof(buf)));
	CHECK(!vs_kmod_lacks(VS_FEAT_EC, VS_FEAT_EC, NULL, "img", pool, buf, sizeof(buf)));
	CHECK(!vs_kmod_lacks(VS_FEAT_XPOOL, VS_FEAT_XPOOL, NULL, "img", pool, buf, sizeof(buf)));
	CHECK(!strcmp(buf, "untouched"));
}

static void t_lacks_ec(void)
{
	CHECK_LACKS(VS_FEAT_EC, VS_FEAT_KNOWN & ~VS_FEAT_EC, NULL, "EC", "is erasure-coded",
		    "use the userspace client");
	CHECK_LACKS(VS_FEAT_EC, 0, NULL, "EC", "(not granted)", "load a newer vstor.ko");
	/* a module with XPOOL but not EC (no such release, but the bits are apart) */
	CHECK_LACKS(VS_FEAT_EC, VS_FEAT_XPOOL, NULL, "EC", "pool 'ec' (id 3) is erasure-coded",
		    "or use the userspace client");
}

static void t_lacks_xpool(void)
{
	/* the module of 0f915ee's parent: EC, layers, no POOLS */
	CHECK_LACKS(VS_FEAT_XPOOL, VS_FEAT_KNOWN & ~VS_FEAT_XPOOL, NULL, "XPOOL",
		    "it has parent layers in pool 'ec' (id 3)", "or flatten the image");
	CHECK_LACKS(VS_FEAT_XPOOL, VS_FEAT_EC | VS_FEAT_LAYERS, NULL, "XPOOL", "to read them",
		    "flatten the image");
}

/* FEATURES failed (a module before it, or a netlink error): refused, with why */
static void t_query_failed(void)
{
	CHECK_LACKS(VS_FEAT_EC, VS_FEAT_KNOWN, "Operation not supported", "EC",
		    "(Operation not supported)", "load a newer vstor.ko");
	CHECK_LACKS(VS_FEAT_XPOOL, ~0ULL, "Object not found", "XPOOL", "(Object not found)",
		    "flatten the image");
}

/* a short buffer: cut, NUL-terminated; a need without a check is refused */
static void t_edges(void)
{
	char small[16], buf[256];

	memset(small, 'x', sizeof(small));
	CHECK(vs_kmod_lacks(VS_FEAT_EC, 0, NULL, "img", pool, small, sizeof(small)));
	CHECK_EQ(strlen(small), sizeof(small) - 1);
	CHECK(vs_kmod_lacks(VS_FEAT_DISCARD, VS_FEAT_KNOWN, NULL, "img", pool, buf, sizeof(buf)));
	CHECK_MSG(strstr(buf, "no check for vstor.ko feature 0x80"), "message: %s", buf);
}

int main(void)
{
	RUN(t_has);
	RUN(t_lacks_ec);
	RUN(t_lacks_xpool);
	RUN(t_query_failed);
	RUN(t_edges);
	return vt_finish();
}

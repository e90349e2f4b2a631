/* SHA-1 against the FIPS 180 example vectors and chunked input. */
#include "check.h"
#include "sha1.h"

static void vectors(void)
{
	char hex[41];
	const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	struct sha1 s;
	uint8_t d[20];
	char a[1001];

	sha1_hex("abc", 3, hex);
	CHECK_STR(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
	sha1_hex("", 0, hex);
	CHECK_STR(hex, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
	sha1_hex(two, strlen(two), hex);
	CHECK_STR(hex, "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
	/* one million 'a' in odd-sized pieces */
	memset(a, 'a', sizeof(a));
	sha1_init(&s);
	for (int i = 0; i < 1000; i++)
		sha1_update(&s, a, i % 2 ? 999 : 1001);
	sha1_final(&s, d);
	CHECK_EQ(d[0], 0x34);
	CHECK_EQ(d[1], 0xaa);
	CHECK_EQ(d[19], 0x6f);
}

int main(void)
{
	RUN(vectors);
	return vt_finish();
}

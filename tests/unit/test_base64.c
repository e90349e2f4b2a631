#include "check.h"
#include "base64.h"

#include <errno.h>
#include <stdlib.h>

static void known_vectors(void)
{
	static const char *const plain[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar" };
	static const char *const enc[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy" };
	char out[32];

	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		size_t n = b64_encode(plain[i], strlen(plain[i]), out);

		CHECK_EQ(n, strlen(enc[i]));
		CHECK_EQ(n, b64_encoded_len(strlen(plain[i])));
		CHECK_STR(out, enc[i]);
		CHECK_EQ(b64_decode(enc[i], strlen(enc[i]), out), strlen(plain[i]));
		CHECK(!memcmp(out, plain[i], strlen(plain[i])));
	}
	/* The full alphabet, including '+' and '/'. */
	{
		unsigned char all[3] = { 0xfb, 0xff, 0xbf };

		b64_encode(all, 3, out);
		CHECK_STR(out, "+/+/");
	}
}

static void round_trips_all_lengths(void)
{
	unsigned char src[64], dec[64 + 3];
	char enc[128];

	srand(12345);
	for (int round = 0; round < 20; round++) {
		for (size_t len = 0; len <= 64; len++) {
			for (size_t i = 0; i < len; i++)
				src[i] = round == 0 ? (unsigned char)(i * 37 + len) :
					round == 1 ? 0xff : round == 2 ? 0 : (unsigned char)rand();
			size_t n = b64_encode(src, len, enc);

			CHECK_EQ(n, b64_encoded_len(len));
			CHECK_EQ(strlen(enc), n);
			CHECK(b64_decoded_max(n) >= len);
			long d = b64_decode(enc, n, dec);

			CHECK_EQ(d, len);
			CHECK_MSG(!memcmp(src, dec, len), "mismatch at length %zu", len);
		}
	}
}

static void strict_rejection(void)
{
	static const char *const bad[] = {
		"Z", "Zg", "Zg=", "Zm9", "Zm9vY",	/* length not a multiple of 4 */
		"Zg=a", "Z===", "====", "=Zg=", "Zm=v",	/* misplaced padding */
		"Zg==Zm9v", "Zm8=Zm9v",			/* padding before the end */
		"Zh==", "Zm9=",				/* non-zero unused bits */
		"Zm9v\n", "Zm 9", "Zm9-", "Zm9_",	/* foreign characters, URL alphabet */
		"Zm\x80v", "Zm9v====",
	};
	char out[16];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_MSG(b64_decode(bad[i], strlen(bad[i]), out) < 0, "accepted \"%s\"", bad[i]);
	/* An embedded NUL is a bad character too. */
	CHECK(b64_decode("Zm\0v", 4, out) < 0);
}

static void alloc_variant(void)
{
	size_t len = 99;
	char *p = b64_decode_alloc("Zm9vYmFy", 8, &len);

	CHECK(p);
	CHECK_EQ(len, 6);
	CHECK_STR(p, "foobar");
	free(p);
	p = b64_decode_alloc("", 0, &len);
	CHECK(p);
	CHECK_EQ(len, 0);
	CHECK_EQ(p[0], 0);
	free(p);
	errno = 0;
	CHECK(b64_decode_alloc("Zm9", 3, &len) == NULL);
	CHECK_EQ(errno, EINVAL);
}

int main(void)
{
	RUN(known_vectors);
	RUN(round_trips_all_lengths);
	RUN(strict_rejection);
	RUN(alloc_variant);
	return vt_finish();
}

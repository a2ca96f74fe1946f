/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/shm/test_shm_checksum.c
 * Goal: both checksum algorithms compute what their specifications say, whichever
 * implementation this CPU picks (CRC32C instruction or table; XXH3 baseline, AVX2 or
 * AVX-512 build), and a change in any byte, the length or the seed changes the sum.
 * checksum_copy() copies exactly and returns checksum_compute() of the source, for
 * every vector build this CPU can run (the fused XXH3 copies are checked against
 * libxxhash one by one, at every length around block and stripe edges).
 * Method: the CRC32C check value, libxxhash's own XXH3 as the reference on many sizes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>
#include <cmocka.h>

#include "pf_config.h"
#include "shm/checksum.h"
#include "shm/checksum_simd.h"

static unsigned char buf[70000];
static unsigned char out[70000 + 64];

static void fill(void)
{
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 2654435761u >> 13);
}

static void test_checksum_crc32c_check_value(void **state)
{
	(void)state;
	/* The CRC-32C check value (RFC 3720 appendix, "123456789"). */
	assert_int_equal(checksum_crc32c(0, "123456789", 9), 0xe3069283u);
	assert_int_equal(checksum_crc32c(0, "", 0), 0);
}

static void test_checksum_xxh3_matches_library(void **state)
{
	static const size_t sizes[] = {0,   1,   3,    16,   17,    128,  129,
				       240, 241, 1024, 4096, 65536, 69999};

	(void)state;
	fill();
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t want = XXH3_64bits_withSeed(buf, sizes[i], 42);

		assert_int_equal(checksum_compute(CHECKSUM_XXH3, 42, buf, sizes[i]),
				 want == 0 ? 1 : want);
	}
	assert_non_null(checksum_xxh3_variant());
}

static void test_checksum_detects_changes(void **state)
{
	enum checksum_algo algos[] = {CHECKSUM_XXH3, CHECKSUM_CRC32C};

	(void)state;
	fill();
	for (size_t a = 0; a < 2; a++) {
		uint64_t base = checksum_compute(algos[a], 7, buf, 4096);

		assert_int_not_equal(checksum_compute(algos[a], 8, buf, 4096), base);
		assert_int_not_equal(checksum_compute(algos[a], 7, buf, 4095), base);
		for (size_t i = 0; i < 4096; i += 511) {
			buf[i] ^= 0x10;
			assert_int_not_equal(checksum_compute(algos[a], 7, buf, 4096), base);
			buf[i] ^= 0x10;
		}
		assert_int_equal(checksum_compute(algos[a], 7, buf, 4096), base);
	}
}

#if PF_HAVE_XXH3_SIMD
typedef uint64_t (*copy_fn)(void *dst, const void *src, size_t n, uint64_t seed);

/* One fused build against libxxhash: every length in [0, 2100] (blocks of 1024 bytes,
 * stripes of 64, the 240-byte short path), then large and odd ones, at unaligned ends. */
static void copy_matches(copy_fn fn)
{
	static const size_t big[] = {4096, 4097, 65536, 65599, 69999};
	static const uint64_t seeds[] = {0, 42, UINT64_C(0x9e3779b97f4a7c15)};

	for (size_t s = 0; s < sizeof(seeds) / sizeof(seeds[0]); s++) {
		for (size_t n = 0; n <= 2100 + sizeof(big) / sizeof(big[0]); n++) {
			size_t len = n <= 2100 ? n : big[n - 2101];
			size_t off = n % 7, src = n <= 2100 ? n % 5 : 0; /* big ones: buf's end */

			memset(out, 0xa5, sizeof(out));
			assert_int_equal(fn(out + off, buf + src, len, seeds[s]),
					 XXH3_64bits_withSeed(buf + src, len, seeds[s]));
			assert_memory_equal(out + off, buf + src, len);
			assert_int_equal(out[off + len], 0xa5);
		}
	}
}
#endif

static void test_checksum_copy_fused_matches_library(void **state)
{
	int avx2 = 0, avx512 = 0;

	(void)state;
	fill();
#if PF_HAVE_XXH3_SIMD
	__builtin_cpu_init();
	avx2 = __builtin_cpu_supports("avx2");
	avx512 = __builtin_cpu_supports("avx512f");
	if (avx2)
		copy_matches(checksum_xxh3_copy_avx2);
	if (avx512)
		copy_matches(checksum_xxh3_copy_avx512);
#endif
	/* Say what was checked in a TAP comment: a cmocka skip counts as a failure under
	 * meson, and a silent pass would hide that nothing ran. */
	printf("# fused copies checked: avx2 %s, avx512 %s%s\n", avx2 ? "yes" : "no",
	       avx512 ? "yes" : "no",
	       PF_HAVE_XXH3_SIMD ? "" : " (built without the vector copies)");
	fflush(stdout);
}

static void test_checksum_copy_equals_compute(void **state)
{
	static const size_t sizes[] = {0, 1, 240, 241, 4096, 65536, 69999};
	enum checksum_algo algos[] = {CHECKSUM_XXH3, CHECKSUM_CRC32C};

	(void)state;
	fill();
	for (size_t a = 0; a < 2; a++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			memset(out, 0, sizeof(out));
			assert_int_equal(checksum_copy(algos[a], 9, out, buf, sizes[i]),
					 checksum_compute(algos[a], 9, buf, sizes[i]));
			assert_memory_equal(out, buf, sizes[i]);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checksum_crc32c_check_value),
		cmocka_unit_test(test_checksum_xxh3_matches_library),
		cmocka_unit_test(test_checksum_copy_fused_matches_library),
		cmocka_unit_test(test_checksum_copy_equals_compute),
		cmocka_unit_test(test_checksum_detects_changes),
	};

	return cmocka_run_group_tests_name("shm_checksum", tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/shm/test_shm_checksum.c
 * Goal: both checksum algorithms compute what their specifications say, whichever
 * implementation this CPU picks (CRC32C instruction or table; XXH3 baseline, AVX2 or
 * AVX-512 build), and a change in any byte, the length or the seed changes the sum.
 * Method: the CRC32C check value, libxxhash's own XXH3 as the reference on many sizes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <xxhash.h>
#include <cmocka.h>

#include "shm/checksum.h"
#include "shm/checksum_simd.h"

static unsigned char buf[70000];

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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_checksum_crc32c_check_value),
		cmocka_unit_test(test_checksum_xxh3_matches_library),
		cmocka_unit_test(test_checksum_detects_changes),
	};

	return cmocka_run_group_tests_name("shm_checksum", tests, NULL, NULL);
}

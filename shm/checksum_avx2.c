/* SPDX-License-Identifier: MIT */
/* shm/checksum_avx2.c: XXH3-64 from libxxhash's header, built with -mavx2 (see
 * checksum_simd.h). Call only when the CPU has AVX2. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "shm/checksum_simd.h"

uint64_t checksum_xxh3_avx2(const void *p, size_t n, uint64_t seed)
{
	return XXH3_64bits_withSeed(p, n, seed);
}

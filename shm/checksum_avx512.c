/* SPDX-License-Identifier: MIT */
/* shm/checksum_avx512.c: XXH3-64 from libxxhash's header, built with -mavx512f (see
 * checksum_simd.h). Call only when the CPU has AVX-512F. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "shm/checksum_simd.h"

uint64_t checksum_xxh3_avx512(const void *p, size_t n, uint64_t seed)
{
	return XXH3_64bits_withSeed(p, n, seed);
}

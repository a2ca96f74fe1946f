/* SPDX-License-Identifier: MIT */
/* shm/checksum_avx2.c: XXH3-64 from libxxhash's header, built with -mavx2 (see
 * checksum_simd.h), and its fused copy (checksum_fused.h). Call only when the CPU has
 * AVX2. */
#define XXH_INLINE_ALL
#include <immintrin.h>
#include <xxhash.h>

#include "shm/checksum_simd.h"

typedef __m256i fv;
#define FV_PER_STRIPE 2
#define fv_zero() _mm256_setzero_si256()
#define fv_load(p) _mm256_loadu_si256((const __m256i *)(const void *)(p))
#define fv_store(p, v) _mm256_storeu_si256((__m256i *)(void *)(p), (v))
#define fv_load_acc(a) _mm256_load_si256((const __m256i *)(const void *)(a))
#define fv_store_acc(a, v) _mm256_store_si256((__m256i *)(void *)(a), (v))
#define fv_add(a, b) _mm256_add_epi64((a), (b))
#define fv_swap(v) _mm256_shuffle_epi32((v), _MM_SHUFFLE(1, 0, 3, 2))

static inline fv fv_prod(fv d, fv k)
{
	fv dk = _mm256_xor_si256(d, k);

	return _mm256_mul_epu32(dk, _mm256_srli_epi64(dk, 32));
}

#include "shm/checksum_fused.h"

uint64_t checksum_xxh3_avx2(const void *p, size_t n, uint64_t seed)
{
	return XXH3_64bits_withSeed(p, n, seed);
}

uint64_t checksum_xxh3_copy_avx2(void *dst, const void *src, size_t n, uint64_t seed)
{
	return fv_xxh3_copy(dst, src, n, seed);
}

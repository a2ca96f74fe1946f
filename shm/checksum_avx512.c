/* SPDX-License-Identifier: MIT */
/* shm/checksum_avx512.c: XXH3-64 from libxxhash's header, built with -mavx512f (see
 * checksum_simd.h), and its fused copy (checksum_fused.h). Call only when the CPU has
 * AVX-512F. */
#define XXH_INLINE_ALL
#include <immintrin.h>
#include <xxhash.h>

#include "shm/checksum_simd.h"

typedef __m512i fv;
#define FV_PER_STRIPE 1
#define fv_zero() _mm512_setzero_si512()
#define fv_load(p) _mm512_loadu_si512((const void *)(p))
#define fv_store(p, v) _mm512_storeu_si512((void *)(p), (v))
#define fv_load_acc(a) _mm512_load_si512((const void *)(a))
#define fv_store_acc(a, v) _mm512_store_si512((void *)(a), (v))
#define fv_add(a, b) _mm512_add_epi64((a), (b))
#define fv_swap(v) _mm512_shuffle_epi32((v), (_MM_PERM_ENUM)_MM_SHUFFLE(1, 0, 3, 2))

static inline fv fv_prod(fv d, fv k)
{
	fv dk = _mm512_xor_si512(d, k);

	return _mm512_mul_epu32(dk, _mm512_srli_epi64(dk, 32));
}

#include "shm/checksum_fused.h"

uint64_t checksum_xxh3_avx512(const void *p, size_t n, uint64_t seed)
{
	return XXH3_64bits_withSeed(p, n, seed);
}

uint64_t checksum_xxh3_copy_avx512(void *dst, const void *src, size_t n, uint64_t seed)
{
	return fv_xxh3_copy(dst, src, n, seed);
}

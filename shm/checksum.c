/* SPDX-License-Identifier: MIT */
/*
 * shm/checksum.c: XXH3-64 from libxxhash and CRC32C with a hardware path.
 *
 * CRC32C uses the SSE4.2 crc32 instruction through a target attribute, chosen at run
 * time with __builtin_cpu_supports, so the library still runs on CPUs without it.
 */
#include <pthread.h>
#include <string.h>
#include <xxhash.h>

#include "shm/checksum.h"
#include "shm/checksum_simd.h"
#include "shm/pf_assert.h"

#if PF_HAVE_SSE42
#include <nmmintrin.h>
#endif

static uint32_t crc_table[256];
static pthread_once_t crc_table_once = PTHREAD_ONCE_INIT;

static void crc_table_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc32c_sw(uint32_t crc, const unsigned char *p, size_t n)
{
	(void)pthread_once(&crc_table_once, crc_table_init);
	for (size_t i = 0; i < n; i++)
		crc = crc_table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
	return crc;
}

#if PF_HAVE_SSE42
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const unsigned char *p,
							    size_t n)
{
	uint64_t c = crc;

	while (n >= 8) {
		uint64_t w;

		memcpy(&w, p, sizeof(w));
		c = _mm_crc32_u64(c, w);
		p += 8;
		n -= 8;
	}
	while (n > 0) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		n--;
	}
	return (uint32_t)c;
}
#endif

int checksum_crc32c_hw(void)
{
#if PF_HAVE_SSE42
	return __builtin_cpu_supports("sse4.2") ? 1 : 0;
#else
	return 0;
#endif
}

uint32_t checksum_crc32c(uint32_t crc, const void *p, size_t n)
{
	PF_ASSERT(p != NULL || n == 0);
	crc = ~crc;
#if PF_HAVE_SSE42
	if (checksum_crc32c_hw())
		return ~crc32c_hw(crc, p, n);
#endif
	return ~crc32c_sw(crc, p, n);
}

uint64_t checksum_seed(const uint64_t *words, size_t count)
{
	uint64_t x = UINT64_C(0x9e3779b97f4a7c15);

	for (size_t i = 0; i < count; i++) {
		uint64_t z = (x += words[i] + UINT64_C(0x9e3779b97f4a7c15));

		z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
		z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
		x = z ^ (z >> 31);
	}
	return x;
}

typedef uint64_t (*xxh3_fn)(const void *p, size_t n, uint64_t seed);
typedef uint64_t (*xxh3_copy_fn)(void *dst, const void *src, size_t n, uint64_t seed);

static uint64_t xxh3_base(const void *p, size_t n, uint64_t seed)
{
	return XXH3_64bits_withSeed(p, n, seed);
}

/* No vector unit: copy, then hash the copy (it is in cache now). */
static uint64_t xxh3_copy_base(void *dst, const void *src, size_t n, uint64_t seed)
{
	memcpy(dst, src, n);
	return XXH3_64bits_withSeed(dst, n, seed);
}

static xxh3_fn xxh3_impl = xxh3_base;
static xxh3_copy_fn xxh3_copy_impl = xxh3_copy_base;
static pthread_once_t xxh3_once = PTHREAD_ONCE_INIT;

/* The widest vector unit this CPU has; every variant returns the same hash. */
static void xxh3_pick(void)
{
#if PF_HAVE_XXH3_SIMD
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f")) {
		xxh3_impl = checksum_xxh3_avx512;
		xxh3_copy_impl = checksum_xxh3_copy_avx512;
	} else if (__builtin_cpu_supports("avx2")) {
		xxh3_impl = checksum_xxh3_avx2;
		xxh3_copy_impl = checksum_xxh3_copy_avx2;
	}
#endif
}

const char *checksum_xxh3_variant(void)
{
	(void)pthread_once(&xxh3_once, xxh3_pick);
#if PF_HAVE_XXH3_SIMD
	if (xxh3_impl == checksum_xxh3_avx512)
		return "avx512";
	if (xxh3_impl == checksum_xxh3_avx2)
		return "avx2";
#endif
	return "baseline";
}

static uint64_t crc_sum(uint64_t seed, const void *p, size_t n)
{
	uint32_t crc = checksum_crc32c((uint32_t)seed ^ (uint32_t)(seed >> 32), p, n);

	return ((uint64_t)crc << 32) | (crc ^ 0x5bd1e995u);
}

uint64_t checksum_compute(enum checksum_algo algo, uint64_t seed, const void *p, size_t n)
{
	uint64_t sum;

	PF_ASSERT(algo == CHECKSUM_XXH3 || algo == CHECKSUM_CRC32C);
	PF_ASSERT(p != NULL || n == 0);
	if (algo == CHECKSUM_CRC32C) {
		sum = crc_sum(seed, p, n);
	} else {
		(void)pthread_once(&xxh3_once, xxh3_pick);
		sum = xxh3_impl(p, n, seed);
	}
	return sum == 0 ? 1 : sum;
}

uint64_t checksum_copy(enum checksum_algo algo, uint64_t seed, void *dst, const void *src, size_t n)
{
	uint64_t sum;

	PF_ASSERT(algo == CHECKSUM_XXH3 || algo == CHECKSUM_CRC32C);
	PF_ASSERT((dst != NULL && src != NULL) || n == 0);
	if (n == 0)
		return checksum_compute(algo, seed, src, 0);
	if (algo == CHECKSUM_CRC32C) {
		memcpy(dst, src, n);
		sum = crc_sum(seed, dst, n);
	} else {
		(void)pthread_once(&xxh3_once, xxh3_pick);
		sum = xxh3_copy_impl(dst, src, n, seed);
	}
	return sum == 0 ? 1 : sum;
}

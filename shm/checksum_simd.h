/* SPDX-License-Identifier: MIT */
/*
 * shm/checksum_simd.h: XXH3-64 compiled for wider vector units, chosen at run time.
 *
 * Debian's libxxhash is built for the baseline x86-64 (SSE2). The same algorithm from its
 * header, compiled in a unit of its own with -mavx2 or -mavx512f, gives the same hash
 * twice to three times faster; checksum.c calls these only when the CPU has the unit.
 */
#ifndef PF_SHM_CHECKSUM_SIMD_H
#define PF_SHM_CHECKSUM_SIMD_H

#include <stddef.h>
#include <stdint.h>

uint64_t checksum_xxh3_avx2(const void *p, size_t n, uint64_t seed);
uint64_t checksum_xxh3_avx512(const void *p, size_t n, uint64_t seed);

/* The same hash of src, computed while copying it to dst in one pass (checksum_fused.h). */
uint64_t checksum_xxh3_copy_avx2(void *dst, const void *src, size_t n, uint64_t seed);
uint64_t checksum_xxh3_copy_avx512(void *dst, const void *src, size_t n, uint64_t seed);

#endif /* PF_SHM_CHECKSUM_SIMD_H */

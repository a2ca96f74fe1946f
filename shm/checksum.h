/* SPDX-License-Identifier: MIT */
/*
 * shm/checksum.h: integrity checksums for checkpoints and other shared records.
 *
 * Two algorithms, both seeded so that a record's header fields are covered along with
 * its bytes: XXH3-64 (libxxhash, the default: it measured faster than CRC32C on this
 * machine class, see `scripts/bench checkpoint`) and CRC32C (SSE4.2 instruction when the
 * CPU has it, a table otherwise). The algorithm is fixed per domain at creation and
 * recorded in its layout, so every reader verifies with the writer's choice.
 */
#ifndef PF_SHM_CHECKSUM_H
#define PF_SHM_CHECKSUM_H

#include <stddef.h>
#include <stdint.h>

enum checksum_algo {
	CHECKSUM_XXH3 = 1,
	CHECKSUM_CRC32C = 2,
};

/* Checksum of n bytes at p, seeded; never returns 0 so 0 can mean "unset". */
uint64_t checksum_compute(enum checksum_algo algo, uint64_t seed, const void *p, size_t n);

/*
 * Copy n bytes from src to dst and return checksum_compute(algo, seed, src, n), in one
 * pass over the bytes where the CPU allows (XXH3 with AVX2 or AVX-512: each stripe is
 * hashed from the registers it was copied through); otherwise a copy, then the checksum
 * of the copy. dst and src must not overlap. The hash is of the bytes as they were read:
 * if another process changes src meanwhile, the result describes dst, not src.
 */
uint64_t checksum_copy(enum checksum_algo algo, uint64_t seed, void *dst, const void *src,
		       size_t n);

/* Which XXH3 build this process uses: "avx512", "avx2" or "baseline". */
const char *checksum_xxh3_variant(void);

/* CRC32C (Castagnoli) continuing from crc; exposed for tests against known vectors. */
uint32_t checksum_crc32c(uint32_t crc, const void *p, size_t n);

/* 1 when CRC32C runs on the SSE4.2 instruction in this process. */
int checksum_crc32c_hw(void);

/* Mix a few 64-bit words into a seed (splitmix64 steps). */
uint64_t checksum_seed(const uint64_t *words, size_t count);

#endif /* PF_SHM_CHECKSUM_H */

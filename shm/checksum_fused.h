/* SPDX-License-Identifier: MIT */
/*
 * shm/checksum_fused.h: XXH3-64 of bytes while they are copied, in one pass.
 *
 * A copy followed by a hash reads every byte twice; at 64 KiB and up that second pass
 * costs as much as the copy. Here each 64-byte stripe is loaded into vector registers
 * once, stored to the destination and fed to XXH3's accumulator from the same registers,
 * so a checkpoint commit (copy in) or load (copy out, then verify) costs about one copy.
 * The result is bit for bit XXH3_64bits_withSeed() of the bytes (the unit tests compare
 * against libxxhash): the stripe's contribution acc += swap(d) + lo(d ^ k) * hi(d ^ k) is
 * split, by the associativity of addition modulo 2^64, into a sum of the products and a
 * sum of the data that is swapped once per block instead of once per stripe, and two
 * partial sums halve the dependency chain. Blocks, scrambles, the last stripe and the
 * merge are libxxhash's own functions (XXH_INLINE_ALL).
 *
 * Included by one unit per vector width (checksum_avx2.c, checksum_avx512.c), which
 * defines first, for its width:
 *   fv                  the vector type; FV_PER_STRIPE vectors make a 64-byte stripe
 *   fv_zero()           all zero
 *   fv_load(p)          unaligned load; fv_store(p, v) unaligned store
 *   fv_load_acc(a), fv_store_acc(a, v)   the accumulator lanes a[0..7], aligned
 *   fv_add(a, b)        lane-wise 64-bit add
 *   fv_prod(d, k)       lo32(d ^ k) * hi32(d ^ k) per 64-bit lane
 *   fv_swap(v)          swap the two 64-bit lanes of each 128-bit pair
 */
#ifndef PF_SHM_CHECKSUM_FUSED_H
#define PF_SHM_CHECKSUM_FUSED_H

#include <string.h>

#define FV_STRIPE 64
#define FV_BLOCK_STRIPES ((XXH_SECRET_DEFAULT_SIZE - FV_STRIPE) / XXH_SECRET_CONSUME_RATE)

struct fv_sums {
	fv p[2][FV_PER_STRIPE]; /* products, two partial sums */
	fv d[2][FV_PER_STRIPE]; /* data, two partial sums */
};

static inline void fv_sums_zero(struct fv_sums *s)
{
	for (int j = 0; j < 2; j++)
		for (int v = 0; v < FV_PER_STRIPE; v++)
			s->p[j][v] = s->d[j][v] = fv_zero();
}

/* Copy stripes [0, n) of src to dst, adding their terms to s (key i at secret + 8 i). */
static inline void fv_stripes(struct fv_sums *s, unsigned char *dst, const unsigned char *src,
			      const unsigned char *secret, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int j = (int)(i & 1);

		for (int v = 0; v < FV_PER_STRIPE; v++) {
			size_t off = i * FV_STRIPE + (size_t)v * sizeof(fv);
			fv d = fv_load(src + off);

			fv_store(dst + off, d);
			s->p[j][v] =
				fv_add(s->p[j][v],
				       fv_prod(d, fv_load(secret + i * XXH_SECRET_CONSUME_RATE +
							  (size_t)v * sizeof(fv))));
			s->d[j][v] = fv_add(s->d[j][v], d);
		}
	}
}

/* acc += the stripes' terms. */
static inline void fv_fold(xxh_u64 *acc, const struct fv_sums *s)
{
	for (int v = 0; v < FV_PER_STRIPE; v++) {
		fv a = fv_load_acc(acc + (size_t)v * (sizeof(fv) / 8));
		fv p = fv_add(s->p[0][v], s->p[1][v]);
		fv d = fv_add(s->d[0][v], s->d[1][v]);

		fv_store_acc(acc + (size_t)v * (sizeof(fv) / 8), fv_add(a, fv_add(p, fv_swap(d))));
	}
}

/* XXH3_64bits_withSeed(src, n, seed), copying src to dst on the way; n > 240. */
static inline xxh_u64 fv_xxh3_copy_long(unsigned char *dst, const unsigned char *src, size_t n,
					xxh_u64 seed)
{
	XXH_ALIGN(64) xxh_u8 custom[XXH_SECRET_DEFAULT_SIZE];
	XXH_ALIGN(64) xxh_u64 acc[XXH_ACC_NB] = XXH3_INIT_ACC;
	const xxh_u8 *secret = XXH3_kSecret;
	size_t block = FV_STRIPE * FV_BLOCK_STRIPES, blocks = (n - 1) / block, done, tail;
	struct fv_sums s;

	if (seed != 0) {
		XXH3_initCustomSecret(custom, seed);
		secret = custom;
	}
	for (size_t b = 0; b < blocks; b++) {
		fv_sums_zero(&s);
		fv_stripes(&s, dst + b * block, src + b * block, secret, FV_BLOCK_STRIPES);
		fv_fold(acc, &s);
		XXH3_scrambleAcc(acc, secret + XXH_SECRET_DEFAULT_SIZE - FV_STRIPE);
	}
	done = blocks * block;
	tail = ((n - 1) - done) / FV_STRIPE;
	fv_sums_zero(&s);
	fv_stripes(&s, dst + done, src + done, secret, tail);
	fv_fold(acc, &s);
	done += tail * FV_STRIPE;
	memcpy(dst + done, src + done, n - done);
	/* The last stripe overlaps what was hashed; it is in the destination now, in L1. */
	XXH3_accumulate_512(acc, dst + n - FV_STRIPE,
			    secret + XXH_SECRET_DEFAULT_SIZE - FV_STRIPE -
				    XXH_SECRET_LASTACC_START);
	return XXH3_mergeAccs(acc, secret + XXH_SECRET_MERGEACCS_START, (xxh_u64)n * XXH_PRIME64_1);
}

/* Any length: short inputs are copied, then hashed by libxxhash (they fit in L1). */
static inline xxh_u64 fv_xxh3_copy(void *dst, const void *src, size_t n, xxh_u64 seed)
{
	if (n <= XXH3_MIDSIZE_MAX) {
		memcpy(dst, src, n);
		return XXH3_64bits_withSeed(dst, n, seed);
	}
	return fv_xxh3_copy_long(dst, src, n, seed);
}

#endif /* PF_SHM_CHECKSUM_FUSED_H */

/* SPDX-License-Identifier: MIT */
/*
 * shm/ring_mpmc.h: multi-producer/multi-consumer ring of 32-bit values in a shared
 * segment, lock-free and tolerant of producers and consumers that are preempted or
 * killed at any instruction. The protocol block is at the top of ring_mpmc.c.
 *
 * Layout: two hint words (tail, head), each with two cache lines to itself (adjacent-line
 * prefetch), one read-only configuration line, then 2^order slots of one 64-bit word each:
 * [lap:31][full:1][value:32]. All-zero slots are EMPTY in lap 0, so a zero-filled segment
 * is a valid empty ring once ring_mpmc_init() has written the header. No pointers inside.
 */
#ifndef PF_SHM_RING_MPMC_H
#define PF_SHM_RING_MPMC_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/pf_atomic.h"
#include "shm/pf_compiler.h"

#define RING_MPMC_MAGIC UINT64_C(0x434d504d474e4952) /* "RINGMPMC" little-endian */
#define RING_MPMC_ORDER_MIN 1u  /* 2 slots: the smallest ring that is still a ring */
#define RING_MPMC_ORDER_MAX 24u /* 16 Mi slots (128 MiB): bounds what a peer can claim */

struct ring_mpmc {
	alignas(PF_CACHELINE) _Atomic uint64_t tail; /* hint: next position to fill */
	uint8_t pad0[2 * PF_CACHELINE - 8];
	_Atomic uint64_t head; /* hint: next position to take */
	uint8_t pad1[2 * PF_CACHELINE - 8];
	uint64_t magic; /* immutable after init */
	uint32_t order;
	uint32_t mask;
	uint64_t reserved[(PF_CACHELINE - 16) / 8]; /* must be zero */
	/* _Atomic uint64_t slot[mask + 1] follows, cache-line aligned. */
};
_Static_assert(offsetof(struct ring_mpmc, tail) == 0, "tail moved");
_Static_assert(offsetof(struct ring_mpmc, head) == 2 * PF_CACHELINE,
	       "head must not share (or prefetch-pair) a line with tail");
_Static_assert(offsetof(struct ring_mpmc, magic) == 4 * PF_CACHELINE, "config moved");
_Static_assert(sizeof(struct ring_mpmc) == 5 * PF_CACHELINE, "ring_mpmc is shared ABI");

/* Bytes a ring of slots needs (header plus slots), or 0 when slots is not a power of two
 * in [2, 2^24]. */
size_t ring_mpmc_bytes(uint32_t slots) PF_PRIVATE_EXPORT(ring_mpmc_bytes);

/*
 * Format bytes of caller memory as an empty ring of slots (capacity = slots). Not
 * concurrent with any other use of the ring. Returns 0, or -EINVAL (r NULL, slots not a
 * power of two in [2, 2^24], or bytes < ring_mpmc_bytes(slots)).
 */
int ring_mpmc_init(struct ring_mpmc *r, size_t bytes, uint32_t slots);

/*
 * Validate a ring another process formatted, mapped as bytes (input: no asserts).
 * Returns 0, or -EINVAL (r NULL), -EBADMSG (wrong magic), -EPROTO (order/mask
 * inconsistent, or a reserved word not zero), -EOVERFLOW (bytes too small for the header
 * or for the slots it claims), -ERANGE (tail - head outside [-capacity, 2 * capacity]:
 * the hints lag by at most one capacity each, see ring_mpmc.c). Read-only; may run
 * concurrently with producers and consumers, but is exact only on a quiescent ring (under
 * heavy traffic the two hints may be read at different moments).
 */
int ring_mpmc_check(const struct ring_mpmc *r, size_t bytes);

/*
 * Enqueue value. MP-safe with any number of producers and consumers. Returns 0 and, when
 * ret_pos is not NULL, the position the value took (for ring_mpmc_consumed()); or -EAGAIN
 * when the ring is full. Lock-free; any thread or process; not async-signal-safe only in
 * fault-injection builds.
 */
int ring_mpmc_try_enqueue(struct ring_mpmc *r, uint32_t value, uint64_t *ret_pos);

/* Dequeue one value into *ret_value. MC-safe. Returns 0, or -EAGAIN when empty.
 * Lock-free. */
int ring_mpmc_try_dequeue(struct ring_mpmc *r, uint32_t *ret_value);

/*
 * Enqueue v[0..k) for the largest k <= n that fits in one contiguous run of positions;
 * returns k (0..n). A short count means full, or another producer took the next position
 * (call again). Values of one call keep their order. Lock-free.
 */
unsigned ring_mpmc_enqueue_burst(struct ring_mpmc *r, const uint32_t *v, unsigned n);

/* Dequeue up to n values into out from one contiguous run; returns how many (0..n).
 * Lock-free. */
unsigned ring_mpmc_dequeue_burst(struct ring_mpmc *r, uint32_t *out, unsigned n);

/* Items in the ring, approximately (the hints may lag); in [0, capacity]. Never 0 while
 * the item at the head hint is there, however far the tail hint lags. Wait-free. */
uint32_t ring_mpmc_count(const struct ring_mpmc *r) PF_PRIVATE_EXPORT(ring_mpmc_count);

/* Capacity of a formatted ring. */
static inline uint32_t ring_mpmc_capacity(const struct ring_mpmc *r)
{
	return r->mask + 1;
}

/*
 * True when the entry enqueued at pos (from ring_mpmc_try_enqueue()) is no longer in the
 * ring: its slot has moved past that lap. Stable once true, until 2^31 laps later.
 * Wait-free. When true, the consumer's slot update happened-before the return.
 */
bool ring_mpmc_consumed(const struct ring_mpmc *r, uint64_t pos);

#endif /* PF_SHM_RING_MPMC_H */

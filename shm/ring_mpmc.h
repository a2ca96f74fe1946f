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
 * The operations take a private view (struct ring_mpmc_view) that carries the geometry:
 * the configuration line records it for validation only.
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
	uint64_t magic; /* written by ring_mpmc_init(); only ring_mpmc_check() reads these */
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

/*
 * A process's own view of a ring: where the ring is mapped and its geometry, taken from
 * the caller's validated limits by ring_mpmc_attach() and never read again from the shared
 * header. The header is shared memory: any process mapping the segment can scribble on
 * its order and mask, so nothing on the data path reads them (invariant 5). Every index
 * the operations compute from a shared word (a hint, a position) is masked with the view's
 * mask. Lives in private memory; copying it is fine.
 */
struct ring_mpmc_view {
	struct ring_mpmc *ring; /* the shared hints and slots */
	uint32_t mask;          /* capacity - 1 */
	uint32_t order;         /* log2(capacity) */
};

/* Bytes a ring of slots needs (header plus slots), or 0 when slots is not a power of two
 * in [2, 2^24]. */
size_t ring_mpmc_bytes(uint32_t slots) PF_PRIVATE_EXPORT(ring_mpmc_bytes);

/*
 * Format bytes of caller memory as an empty ring of slots (capacity = slots). Not
 * concurrent with any other use of the ring. Returns 0, or -EINVAL (r NULL, slots not a
 * power of two in [2, 2^24], or bytes < ring_mpmc_bytes(slots)). Use it through a view
 * from ring_mpmc_attach().
 */
int ring_mpmc_init(struct ring_mpmc *r, size_t bytes, uint32_t slots);

/*
 * Make *ret_view for the ring at r, mapped as bytes, that the caller's own limits say has
 * slots slots: the geometry comes from slots, never from the header, and the header must
 * agree with it (ring_mpmc_check()). Input from another process: no asserts. Returns 0,
 * or -EINVAL (r or ret_view NULL, slots not a power of two in [2, 2^24]), -EOVERFLOW
 * (bytes < ring_mpmc_bytes(slots)), or ring_mpmc_check()'s errors but -ERANGE (hints out
 * of their window: the operations bring them back). *ret_view is written only on
 * success.
 */
int ring_mpmc_attach(struct ring_mpmc *r, size_t bytes, uint32_t slots,
		     struct ring_mpmc_view *ret_view);

/*
 * Validate the shared ring against the view's geometry (input: no asserts; each shared
 * word is read once). Returns 0, or -EINVAL (v or its ring NULL), -EBADMSG (wrong magic),
 * -EPROTO (the header's order or mask is not the view's, or a reserved word is not zero),
 * -ERANGE (tail - head outside [-capacity, 2 * capacity]: the hints lag by at most one
 * capacity each, see ring_mpmc.c). A failure changes nothing: the operations keep to the
 * view's geometry. Read-only; may run concurrently with producers and consumers, but is
 * exact only on a quiescent ring (under heavy traffic the two hints may be read at
 * different moments).
 */
int ring_mpmc_check(const struct ring_mpmc_view *v);

/*
 * Enqueue value. MP-safe with any number of producers and consumers. Returns 0 and, when
 * ret_pos is not NULL, the position the value took (for ring_mpmc_consumed()); or -EAGAIN
 * when the ring is full. Lock-free; any thread or process; not async-signal-safe only in
 * fault-injection builds.
 */
int ring_mpmc_try_enqueue(const struct ring_mpmc_view *v, uint32_t value, uint64_t *ret_pos);

/* Dequeue one value into *ret_value. MC-safe. Returns 0, or -EAGAIN when empty. The value
 * is what some process wrote: the caller validates it. Lock-free. */
int ring_mpmc_try_dequeue(const struct ring_mpmc_view *v, uint32_t *ret_value);

/*
 * Enqueue vals[0..k) for the largest k <= n that fits in one contiguous run of positions;
 * returns k (0..n). A short count means full, or another producer took the next position
 * (call again). Values of one call keep their order. Lock-free.
 */
unsigned ring_mpmc_enqueue_burst(const struct ring_mpmc_view *v, const uint32_t *vals, unsigned n);

/* Dequeue up to n values into out from one contiguous run; returns how many (0..n).
 * Lock-free. */
unsigned ring_mpmc_dequeue_burst(const struct ring_mpmc_view *v, uint32_t *out, unsigned n);

/* Items in the ring, approximately (the hints may lag); in [0, capacity] whatever the
 * hints hold. Never 0 while the item at the head hint is there, however far the tail hint
 * lags. Wait-free. */
uint32_t ring_mpmc_count(const struct ring_mpmc_view *v) PF_PRIVATE_EXPORT(ring_mpmc_count);

/* Capacity of the ring, from the view. */
static inline uint32_t ring_mpmc_capacity(const struct ring_mpmc_view *v)
{
	return v->mask + 1;
}

/*
 * True when the entry enqueued at pos (from ring_mpmc_try_enqueue()) is no longer in the
 * ring: its slot has moved past that lap. Stable once true, until 2^31 laps later. pos
 * may come from shared memory: any value is safe. Wait-free. When true, the consumer's
 * slot update happened-before the return.
 */
bool ring_mpmc_consumed(const struct ring_mpmc_view *v, uint64_t pos);

#endif /* PF_SHM_RING_MPMC_H */

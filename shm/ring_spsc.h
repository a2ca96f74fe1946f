/* SPDX-License-Identifier: MIT */
/*
 * shm/ring_spsc.h: single-producer/single-consumer ring of 64-bit words (offsets or ids,
 * never pointers) living in a shared segment.
 *
 * Ownership    field        written by   read by
 *              tail         producer     consumer [A1], validator
 *              head_cache   producer     producer only
 *              head         consumer     producer [A2], validator
 *              tail_cache   consumer     consumer only
 *              slot[i]      producer     consumer, only for i in [head, tail)
 *              magic..      ring_spsc_init()  everyone (immutable afterwards)
 *
 * Ordering edges
 *   [R1] producer store-release of tail  ->  [A1] consumer load-acquire of tail:
 *        the slots written before R1 are visible to the consumer after A1.
 *   [R2] consumer store-release of head  ->  [A2] producer load-acquire of head:
 *        the consumer's slot reads are complete before the producer reuses the slots.
 *
 * Progress: wait-free for both sides (no loop waits for the other side). Indices are
 * 32 bits and wrap modulo 2^32; only differences are used, and capacity <= 2^24 keeps
 * tail - head unambiguous. The owner-private caches sit on their owner's cache line
 * (Aeron's head_cache_position): a cache only ever lags the real index, so a replacement
 * producer or consumer that inherits a stale one is merely conservative.
 *
 * Concurrency contract: at most one producer and one consumer at a time. A killed
 * producer or consumer leaves a consistent ring (each side publishes with one store);
 * its replacement continues from the shared index.
 */
#ifndef PF_SHM_RING_SPSC_H
#define PF_SHM_RING_SPSC_H

#include <errno.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/pf_assert.h"
#include "shm/pf_atomic.h"
#include "shm/pf_compiler.h"

#define RING_SPSC_MAGIC UINT64_C(0x43535053474e4952) /* "RINGSPSC" little-endian */
#define RING_SPSC_ORDER_MIN 1u  /* 2 slots: the smallest ring that is still a ring */
#define RING_SPSC_ORDER_MAX 24u /* 16 Mi slots (128 MiB): bounds what a peer can claim */

struct ring_spsc {
	alignas(PF_CACHELINE) _Atomic uint32_t tail; /* producer's line */
	uint32_t head_cache;
	uint8_t pad0[PF_CACHELINE - 8];
	alignas(PF_CACHELINE) _Atomic uint32_t head; /* consumer's line */
	uint32_t tail_cache;
	uint8_t pad1[PF_CACHELINE - 8];
	alignas(PF_CACHELINE) uint64_t magic; /* immutable after init */
	uint32_t order;
	uint32_t mask;
	uint64_t reserved[(PF_CACHELINE - 16) / 8]; /* must be zero */
	/* uint64_t slot[mask + 1] follows, cache-line aligned. */
};
_Static_assert(offsetof(struct ring_spsc, tail) == 0, "tail moved");
_Static_assert(offsetof(struct ring_spsc, head) == PF_CACHELINE,
	       "head must not share a line with tail");
_Static_assert(offsetof(struct ring_spsc, magic) == 2 * PF_CACHELINE, "config moved");
_Static_assert(sizeof(struct ring_spsc) == 3 * PF_CACHELINE, "ring_spsc is shared ABI");
_Static_assert(sizeof(struct ring_spsc) % PF_CACHELINE == 0, "slots must start on a fresh line");

/* Bytes a ring of slots needs (header plus slots), or 0 when slots is not a power of two
 * in [2, 2^24]. */
size_t ring_spsc_bytes(uint32_t slots);

/*
 * Format bytes of caller memory as an empty ring of slots. Not concurrent with any other
 * use of the ring. Returns 0, or -EINVAL (r NULL, slots not a power of two in [2, 2^24],
 * or bytes < ring_spsc_bytes(slots)).
 */
int ring_spsc_init(struct ring_spsc *r, size_t bytes, uint32_t slots);

/*
 * Validate a ring another process formatted, mapped as bytes (input: no asserts).
 * Returns 0, or -EINVAL (r NULL), -EBADMSG (wrong magic), -EPROTO (order/mask
 * inconsistent or a reserved word not zero), -EOVERFLOW (bytes too small for the header
 * or the slots it claims), -ERANGE (tail - head, or an owner cache, outside [0, capacity]).
 * Read-only; meant for a quiescent ring (before attaching, or after a peer died): the
 * owner caches are plain fields.
 */
int ring_spsc_check(const struct ring_spsc *r, size_t bytes);

static inline uint64_t *ring_spsc_slots(struct ring_spsc *r)
{
	return (uint64_t *)(r + 1);
}

/* Slots the producer can use; the ring stores capacity = mask + 1 items. */
static inline uint32_t ring_spsc_capacity(const struct ring_spsc *r)
{
	return r->mask + 1;
}

/* Producer only. Returns 0, or -EAGAIN when full. Wait-free. */
static inline int ring_spsc_try_enqueue(struct ring_spsc *r, uint64_t value)
{
	/* Relaxed: this thread is the only writer of tail. */
	uint32_t tail = pf_load_relaxed(&r->tail);

	if (tail - r->head_cache > r->mask) {
		/* [A2] pairs with [R2] in ring_spsc_try_dequeue(). */
		r->head_cache = pf_load_acquire(&r->head);
		if (tail - r->head_cache > r->mask)
			return -EAGAIN;
	}
	PF_ASSERT(tail - r->head_cache <= r->mask);
	ring_spsc_slots(r)[tail & r->mask] = value;
	/* [R1] pairs with [A1] in ring_spsc_try_dequeue(): publishes the slot store above. */
	pf_store_release(&r->tail, tail + 1);
	return 0;
}

/* Consumer only. Returns 0 and writes *ret_value, or -EAGAIN when empty. Wait-free. */
static inline int ring_spsc_try_dequeue(struct ring_spsc *r, uint64_t *ret_value)
{
	/* Relaxed: this thread is the only writer of head. */
	uint32_t head = pf_load_relaxed(&r->head);

	if (head == r->tail_cache) {
		/* [A1] pairs with [R1] in ring_spsc_try_enqueue(). */
		r->tail_cache = pf_load_acquire(&r->tail);
		if (head == r->tail_cache)
			return -EAGAIN;
	}
	PF_ASSERT(r->tail_cache - head <= r->mask + 1);
	*ret_value = ring_spsc_slots(r)[head & r->mask];
	/* [R2] pairs with [A2] in ring_spsc_try_enqueue(): the slot load above completes first. */
	pf_store_release(&r->head, head + 1);
	return 0;
}

/* Producer only. Enqueues the first 0..n values of v; returns how many. Wait-free. */
static inline unsigned ring_spsc_enqueue_burst(struct ring_spsc *r, const uint64_t *v, unsigned n)
{
	/* Relaxed: this thread is the only writer of tail. */
	uint32_t tail = pf_load_relaxed(&r->tail);
	uint32_t free_slots = r->mask + 1 - (tail - r->head_cache);
	uint64_t *slot = ring_spsc_slots(r);

	if (free_slots < n) {
		/* [A2] pairs with [R2] in ring_spsc_dequeue_burst(). */
		r->head_cache = pf_load_acquire(&r->head);
		free_slots = r->mask + 1 - (tail - r->head_cache);
		if (free_slots < n)
			n = free_slots;
	}
	PF_ASSERT(free_slots <= r->mask + 1);
	for (unsigned i = 0; i < n; i++)
		slot[(tail + i) & r->mask] = v[i];
	if (n != 0) {
		/* [R1] pairs with [A1] in ring_spsc_dequeue_burst(): publishes the slots. */
		pf_store_release(&r->tail, tail + n);
	}
	return n;
}

/* Consumer only. Dequeues 0..n values into out; returns how many. Wait-free. */
static inline unsigned ring_spsc_dequeue_burst(struct ring_spsc *r, uint64_t *out, unsigned n)
{
	/* Relaxed: this thread is the only writer of head. */
	uint32_t head = pf_load_relaxed(&r->head);
	uint32_t avail = r->tail_cache - head;
	const uint64_t *slot = ring_spsc_slots(r);

	if (avail < n) {
		/* [A1] pairs with [R1] in ring_spsc_enqueue_burst(). */
		r->tail_cache = pf_load_acquire(&r->tail);
		avail = r->tail_cache - head;
		if (avail < n)
			n = avail;
	}
	PF_ASSERT(avail <= r->mask + 1);
	for (unsigned i = 0; i < n; i++)
		out[i] = slot[(head + i) & r->mask];
	if (n != 0) {
		/* [R2] pairs with [A2] in ring_spsc_enqueue_burst(): the slot loads come first. */
		pf_store_release(&r->head, head + n);
	}
	return n;
}

#endif /* PF_SHM_RING_SPSC_H */

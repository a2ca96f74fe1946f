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
 *              magic..      ring_spsc_init()  ring_spsc_check() only
 *
 * Geometry (mask, order, where the slots are) is the caller's: a struct ring_spsc_view in
 * process-private memory, made by ring_spsc_attach() from the caller's validated limits;
 * the shared header only records it, for validation. The indices and the owner caches are
 * shared words, so what they say is bounded at its use: every slot index is masked with
 * the view's mask, and a distance between them that no correct peer can produce (more
 * than a capacity) is refused (full, or empty) rather than asserted.
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

/* A process's own view of a ring: the mapping and the geometry, validated once by
 * ring_spsc_attach() and never read again from the shared header (see ring_mpmc.h). */
struct ring_spsc_view {
	struct ring_spsc *ring; /* the shared indices, caches and slots */
	uint32_t mask;          /* capacity - 1 */
	uint32_t order;         /* log2(capacity) */
};

/* Bytes a ring of slots needs (header plus slots), or 0 when slots is not a power of two
 * in [2, 2^24]. */
size_t ring_spsc_bytes(uint32_t slots);

/*
 * Format bytes of caller memory as an empty ring of slots. Not concurrent with any other
 * use of the ring. Returns 0, or -EINVAL (r NULL, slots not a power of two in [2, 2^24],
 * or bytes < ring_spsc_bytes(slots)). Use it through a view from ring_spsc_attach().
 */
int ring_spsc_init(struct ring_spsc *r, size_t bytes, uint32_t slots);

/*
 * Make *ret_view for the ring at r, mapped as bytes, that the caller's own limits say has
 * slots slots: the geometry comes from slots, never from the header, and the header must
 * agree with it (ring_spsc_check()). Input from another process: no asserts. Returns 0,
 * or -EINVAL (r or ret_view NULL, slots not a power of two in [2, 2^24]), -EOVERFLOW
 * (bytes < ring_spsc_bytes(slots)), or ring_spsc_check()'s errors. *ret_view is written
 * only on success.
 */
int ring_spsc_attach(struct ring_spsc *r, size_t bytes, uint32_t slots,
		     struct ring_spsc_view *ret_view);

/*
 * Validate the shared ring against the view's geometry (input: no asserts; each shared
 * word is read once). Returns 0, or -EINVAL (v or its ring NULL), -EBADMSG (wrong magic),
 * -EPROTO (the header's order or mask is not the view's, or a reserved word not zero),
 * -ERANGE (tail - head, or an owner cache, outside [0, capacity]). Read-only; meant for a
 * quiescent ring (before attaching, or after a peer died): the owner caches are plain
 * fields.
 */
int ring_spsc_check(const struct ring_spsc_view *v);

static inline uint64_t *ring_spsc_slots(const struct ring_spsc_view *v)
{
	return (uint64_t *)(v->ring + 1);
}

/* Slots the producer can use; the ring stores capacity = mask + 1 items. */
static inline uint32_t ring_spsc_capacity(const struct ring_spsc_view *v)
{
	return v->mask + 1;
}

/* Slots free for a producer at tail, by a head it read: 0 when the two are further apart
 * than a capacity, which no correct consumer leaves (a scribbled index: refused as full). */
static inline uint32_t ring_spsc_free(const struct ring_spsc_view *v, uint32_t tail, uint32_t head)
{
	uint32_t used = tail - head;

	return used > v->mask + 1 ? 0 : v->mask + 1 - used;
}

/* Items a consumer at head can take, by a tail it read: 0 when the two are further apart
 * than a capacity, which no correct producer leaves (a scribbled index: refused as empty). */
static inline uint32_t ring_spsc_avail(const struct ring_spsc_view *v, uint32_t head, uint32_t tail)
{
	uint32_t avail = tail - head;

	return avail > v->mask + 1 ? 0 : avail;
}

/* Producer only. Returns 0, or -EAGAIN when full. Wait-free. */
static inline int ring_spsc_try_enqueue(const struct ring_spsc_view *v, uint64_t value)
{
	struct ring_spsc *r = v->ring;
	/* Relaxed: this thread is the only writer of tail. */
	uint32_t tail = pf_load_relaxed(&r->tail);
	uint32_t head = r->head_cache;

	if (tail - head > v->mask) { /* full, or further apart than a capacity: refused */
		/* [A2] pairs with [R2] in ring_spsc_try_dequeue(). */
		head = pf_load_acquire(&r->head);
		r->head_cache = head;
		if (tail - head > v->mask)
			return -EAGAIN;
	}
	PF_ASSERT(tail - head <= v->mask);
	ring_spsc_slots(v)[tail & v->mask] = value;
	/* [R1] pairs with [A1] in ring_spsc_try_dequeue(): publishes the slot store above. */
	pf_store_release(&r->tail, tail + 1);
	return 0;
}

/* Consumer only. Returns 0 and writes *ret_value, or -EAGAIN when empty. Wait-free. */
static inline int ring_spsc_try_dequeue(const struct ring_spsc_view *v, uint64_t *ret_value)
{
	struct ring_spsc *r = v->ring;
	/* Relaxed: this thread is the only writer of head. */
	uint32_t head = pf_load_relaxed(&r->head);
	uint32_t tail = r->tail_cache;

	if (tail - head - 1 > v->mask) { /* empty, or further apart than a capacity: refused */
		/* [A1] pairs with [R1] in ring_spsc_try_enqueue(). */
		tail = pf_load_acquire(&r->tail);
		r->tail_cache = tail;
		if (tail - head - 1 > v->mask)
			return -EAGAIN;
	}
	PF_ASSERT(tail - head - 1 <= v->mask);
	*ret_value = ring_spsc_slots(v)[head & v->mask];
	/* [R2] pairs with [A2] in ring_spsc_try_enqueue(): the slot load above completes first. */
	pf_store_release(&r->head, head + 1);
	return 0;
}

/* Producer only. Enqueues the first 0..n values of vals; returns how many. Wait-free. */
static inline unsigned ring_spsc_enqueue_burst(const struct ring_spsc_view *v, const uint64_t *vals,
					       unsigned n)
{
	struct ring_spsc *r = v->ring;
	/* Relaxed: this thread is the only writer of tail. */
	uint32_t tail = pf_load_relaxed(&r->tail);
	uint32_t free_slots = ring_spsc_free(v, tail, r->head_cache);
	uint64_t *slot = ring_spsc_slots(v);

	if (free_slots < n) {
		/* [A2] pairs with [R2] in ring_spsc_dequeue_burst(). */
		uint32_t head = pf_load_acquire(&r->head);

		r->head_cache = head;
		free_slots = ring_spsc_free(v, tail, head);
		if (free_slots < n)
			n = free_slots;
	}
	PF_ASSERT(free_slots <= v->mask + 1);
	for (unsigned i = 0; i < n; i++)
		slot[(tail + i) & v->mask] = vals[i];
	if (n != 0) {
		/* [R1] pairs with [A1] in ring_spsc_dequeue_burst(): publishes the slots. */
		pf_store_release(&r->tail, tail + n);
	}
	return n;
}

/* Consumer only. Dequeues 0..n values into out; returns how many. Wait-free. */
static inline unsigned ring_spsc_dequeue_burst(const struct ring_spsc_view *v, uint64_t *out,
					       unsigned n)
{
	struct ring_spsc *r = v->ring;
	/* Relaxed: this thread is the only writer of head. */
	uint32_t head = pf_load_relaxed(&r->head);
	uint32_t avail = ring_spsc_avail(v, head, r->tail_cache);
	const uint64_t *slot = ring_spsc_slots(v);

	if (avail < n) {
		/* [A1] pairs with [R1] in ring_spsc_enqueue_burst(). */
		uint32_t tail = pf_load_acquire(&r->tail);

		r->tail_cache = tail;
		avail = ring_spsc_avail(v, head, tail);
		if (avail < n)
			n = avail;
	}
	PF_ASSERT(avail <= v->mask + 1);
	for (unsigned i = 0; i < n; i++)
		out[i] = slot[(head + i) & v->mask];
	if (n != 0) {
		/* [R2] pairs with [A2] in ring_spsc_enqueue_burst(): the slot loads come first. */
		pf_store_release(&r->head, head + n);
	}
	return n;
}

#endif /* PF_SHM_RING_SPSC_H */

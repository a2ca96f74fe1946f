/* SPDX-License-Identifier: MIT */
/*
 * shm/ring_mpmc.c: multi-producer/multi-consumer ring that survives preempted and killed
 * participants.
 *
 * Why not rte_ring/ck_ring: their MP/MC modes reserve positions with one CAS and publish
 * them with an in-order tail store, so a producer preempted between the two stops every
 * other producer (and every consumer) until it runs again. With 2 producers and 2
 * consumers on 2 cores that is one item per scheduler slice; with a killed producer it is
 * forever. Here no step of one thread ever waits for a step of another.
 *
 * Slot word: [lap:31][full:1][value:32]. Position p lives in slot p & mask, in lap
 * L = (p >> order) mod 2^31. The top 32 bits, seq = lap << 1 | full, order a slot's life:
 *   EMPTY(L) = 2L      position p not yet filled
 *   FULL(L)  = 2L + 1  position p filled, not yet taken
 *   EMPTY(L + 1)       position p taken; the slot now waits for position p + capacity
 * A slot only ever moves forward along this sequence, one step per successful CAS.
 * Comparisons use d = (int32_t)(seq - expected), wrap-safe modulo 2^32.
 *
 * Ownership    field     written by                      read by
 *              slot[i]   producers (CAS EMPTY -> FULL)    everyone
 *                        consumers (CAS FULL -> EMPTY+1)
 *              tail      any producer (CAS, forward*)    producers, ring_mpmc_count/check
 *              head      any consumer (CAS, forward*)    consumers, ring_mpmc_count/check
 *              * back only from a value shown impossible, to what the other hint proves
 *                (resync()); with both hints scribbled ahead, no floor is left and the ring
 *                answers full (empty) until one is put back
 *              magic..   ring_mpmc_init()                 ring_mpmc_check() only
 *
 * Geometry (mask, order, where the slots are) is the caller's: a struct ring_mpmc_view in
 * process-private memory, made by ring_mpmc_attach() from the caller's validated limits.
 * The shared header only records it, for validation; a peer that scribbles on it changes
 * nothing here. Every slot index is a position masked with the view's mask, whatever
 * position a hint or a caller names, so no shared word can send an access outside the
 * slots; a hint scribbled behind costs at most bounded scans (rescan()) and a full or empty
 * answer, one scribbled ahead is taken back to what the other hint proves (resync()).
 *
 * tail and head are hints, not the truth: invariant H: every position < tail has been
 * filled, every position < head has been taken. A hint is only advanced, by CAS, to a
 * position up to which its writer has itself seen every slot filled (taken). The truth
 * is in the slots; a thread that finds its hint behind scans forward over slots that are
 * past the state it wants, and helps the hint along.
 *
 * Enqueue (per position p, starting at the tail hint read once per call):
 *   d = seq(slot) - 2L:  0 -> CAS to FULL(L, value): linearization point; the value is
 *                             in the word, so publishing it is atomic;
 *                        >0 -> p already filled (hint behind): skip to p + 1;
 *                        <0 -> FULL(L - 1): position p - capacity not taken: full.
 * Dequeue (from the head hint): d = seq(slot) - (2L + 1): 0 -> CAS to EMPTY(L + 1)
 *   (linearization point); >0 -> already taken, skip; <0 -> EMPTY(L): empty.
 * Either side CASes its hint once at the end of a call to the position after its run. A
 * thread that had to skip first publishes the skipped-to position before it fills or
 * takes anything, and a burst stops at the first slot someone else got to: so each
 * call's run is contiguous and starts at or below the hint, which bounds the hint lag
 * (below). A burst never exceeds capacity items.
 *
 * Cache-line traffic (per-slot CAS is serialising, so line transfers do not overlap):
 * a producer CASes blind, expecting EMPTY(L), instead of load-then-CAS (one exclusive
 * transfer per line, not shared then exclusive); a burst prefetches all its lines for
 * writing first; a consumer burst takes no more than the tail hint says is published and,
 * when the hint says empty, confirms with a plain load, so that it does not chase a
 * producer through the line it is filling. Neither is trusted for correctness: a lagging
 * tail hint (preempted or dead producer) only sends the consumer to the slots, as above.
 *
 * Ordering edges
 *   [R1] producer's slot CAS (release)      ->  [A1] consumer's slot load/CAS (acquire):
 *        whatever the producer wrote before enqueueing (the record the value names) is
 *        visible to the consumer that takes it.
 *   [R2] consumer's slot CAS (release)      ->  [A2] producer's slot load (acquire) and
 *        ring_mpmc_consumed(): the consumer is done with the item before the slot is
 *        reused, and a caller that sees "consumed" also sees what the consumer did first.
 *   [R3] hint CAS (release)                 ->  [A3] hint load (acquire): a thread that
 *        starts from a hint sees slot states at least as new as those that justified it,
 *        so it does not report full or empty on a slot older than the hint.
 * Nothing else is ordered: each slot word is self-describing and every change to it is a
 * CAS that re-validates the state it was derived from.
 *
 * Progress: lock-free. A CAS fails only because another thread's CAS on the same word
 * succeeded, i.e. made progress; scans are bounded by capacity + 1 skipped positions
 * before the hint is re-read. No thread ever waits for another to finish a step.
 *
 * A thread stopped or killed at each step:
 *   before its slot CAS         nothing happened; nothing to repair.
 *   after a producer's slot CAS the item is enqueued (the value is in the slot); tail
 *                               lags; the next producer sees FULL (or, if consumed
 *                               already, EMPTY(L + 1)) and skips and advances it.
 *   after a consumer's slot CAS the item left the ring and is lost with the consumer (the
 *                               caller's domain protocol re-queues it; ring_mpmc_consumed()
 *                               tells it the entry is gone); head lags; the next
 *                               consumer skips over it.
 *   during a hint CAS           the hint is either old or new: both satisfy H.
 *   mid-burst                   the prefix it filled (took) is done, as above, one by one.
 * No item is duplicated: taking is a single successful CAS FULL(L) -> EMPTY(L + 1) on the
 * slot, which can succeed once per lap.
 *
 * Hint lag (refinement of |tail - head| <= capacity): runs are contiguous, start at or
 * below the hint, and hold <= capacity items, so filled positions < tail + capacity and
 * taken positions < head + capacity. Hence -capacity <= tail - head <= 2 * capacity; the
 * upper end is reached when a consumer dies after taking a full ring (head stays, real
 * head is + capacity) and producers then fill the ring again. ring_mpmc_check() accepts
 * exactly that window.
 *
 * ABA and the 31-bit lap: a slot's seq repeats after 2^31 laps, i.e. 2^31 * capacity >=
 * 2^32 positions. A thread can be fooled only if it read a hint, stalled while at least
 * 2^32 items went through (> 40 s at 100 M items/s, longer for bigger rings), and the slot
 * then sits in exactly the state it expects. The effect is bounded: the slot's state
 * matched, so the CAS fills (takes) the slot's *current* position, which lies within the
 * live window [head, tail + capacity); the item is neither lost nor duplicated, it is
 * merely out of FIFO order, and ret_pos names the stale position, so ring_mpmc_consumed()
 * may report it consumed early or late by 2^31 laps. A slot reused 2^31 laps later can
 * also make ring_mpmc_consumed() report false again.
 */
#include <errno.h>
#include <string.h>

#include "shm/fault.h"
#include "shm/pf_assert.h"
#include "shm/ring_mpmc.h"

#define SEQ_FULL 1u

/* The slots follow the header; r is the view's private pointer, not a shared offset. */
static inline _Atomic uint64_t *slots(struct ring_mpmc *r)
{
	return (_Atomic uint64_t *)(r + 1);
}

/* seq of EMPTY(lap of pos): the lap in the top 31 bits of a 32-bit word. */
static inline uint32_t empty_seq(uint64_t pos, uint32_t order)
{
	return (uint32_t)((pos >> order) << 1);
}

static inline int32_t seq_diff(uint64_t word, uint32_t expected)
{
	return (int32_t)((uint32_t)(word >> 32) - expected);
}

static inline bool ahead(uint64_t a, uint64_t b)
{
	return (int64_t)(a - b) > 0;
}

/* Move a hint forward to to, unless someone already moved it at least that far. */
static void hint_advance(_Atomic uint64_t *hint, uint64_t from, uint64_t to)
{
	uint64_t cur = from;

	/* [R3] pairs with [A3] in enqueue_run() and dequeue_run(): the slot states we saw
	 * (every position < to filled, or taken) happen-before a load that sees to. A failed
	 * CAS reloads cur; the loop ends once the hint is at or past to. */
	while (ahead(to, cur) && !pf_cas_acq_rel(hint, &cur, to))
		pf_cpu_relax();
}

/*
 * Ask for every line of the run [p, p + n) at once, for writing. Slot CASes are
 * serialising: issued one by one they would wait for each line in turn; prefetched, the
 * transfers overlap (what plain stores get for free in a ring without per-slot CAS).
 */
static inline void prefetch_run(_Atomic uint64_t *slot, uint32_t mask, uint64_t p, unsigned n)
{
	const unsigned per_line = PF_CACHELINE / sizeof(*slot);

	for (unsigned i = 0; i < n; i += per_line)
		pf_prefetch_write(&slot[(p + i) & mask]);
	pf_prefetch_write(&slot[(p + n - 1) & mask]);
}

#define RESCANS_MAX 64u /* laps one call may scan over a lagging hint before it returns */

/* A stale hint can make a live slot look full (or empty) once: look at the hint again, once
 * per call. True when it has moved past p (then *p is where it is). */
static bool reload(_Atomic uint64_t *hint, bool *reloaded, uint64_t *p)
{
	uint64_t cur;

	if (*reloaded)
		return false;
	*reloaded = true;
	/* [A3] pairs with [R3] in hint_advance(). */
	cur = pf_load_acquire(hint);
	if (!ahead(cur, *p))
		return false;
	*p = cur;
	return true;
}

/*
 * A hint shown ahead of the truth: the slot at position p of its lap L holds a state of lap
 * L - 1 or earlier that the hint says is over (the position p - capacity not filled, for the
 * tail; not taken, for the head). Invariant H forbids it (the hint's writer saw p - capacity
 * done before its release, our acquire load of the hint sees that), so a peer scribbled on
 * the hint, and no protocol step would ever bring it back: every call would answer full (or
 * empty) for good. Once per call, move it back, by CAS from the value we acted on (*hint),
 * to a floor below which everything is known done by the other hint's invariant (the tail:
 * the head hint, every position below it taken, so filled; the head: the tail hint less a
 * capacity, every position below it filled a lap later, so taken), and scan from there.
 * Returns false when this call already did (then the answer stands).
 */
static bool resync(const struct ring_mpmc_view *r, bool tail, bool *resynced, uint64_t *hint,
		   uint64_t *p, unsigned *skipped)
{
	_Atomic uint64_t *mine = tail ? &r->ring->tail : &r->ring->head;
	uint64_t cap = (uint64_t)r->mask + 1, cur = *hint, other, floor;

	if (*resynced)
		return false;
	*resynced = true;
	/* [A3] pairs with [R3] in hint_advance(): the other hint's invariant, the floor's. */
	other = pf_load_acquire(tail ? &r->ring->head : &r->ring->tail);
	floor = tail ? other : (other > cap ? other - cap : 0);
	/* [R3] pairs with [A3] in enqueue_run() and dequeue_run(): a load that sees floor
	 * inherits what justified it. */
	if (ahead(cur, floor))
		(void)pf_cas_acq_rel(mine, &cur, floor);
	*hint = floor;
	*p = floor;
	*skipped = 0;
	return true;
}

/*
 * A scan passed more than a capacity of positions. Normally the hint has moved on in the
 * meantime (our read of it was stale): jump to it. If it has not, the hint lags by more
 * than the protocol allows (corrupted, or hand-set): publish how far we got, which is
 * justified (every position < *p has been seen filled, or taken), and keep scanning,
 * at most RESCANS_MAX laps per call so that every call is bounded. Returns true when the
 * call should give up.
 */
static bool rescan(_Atomic uint64_t *hint, uint64_t *from, uint64_t *p, unsigned *skipped,
		   unsigned *laps)
{
	/* [A3] pairs with [R3] in hint_advance(). */
	uint64_t cur = pf_load_acquire(hint);

	if (ahead(cur, *p)) {
		*p = cur;
		*skipped = 0;
		return false;
	}
	hint_advance(hint, *from, *p);
	*from = *p;
	*skipped = 0;
	return ++*laps > RESCANS_MAX;
}

/*
 * Fill up to n consecutive positions from the tail hint with v[]. Returns how many; the
 * first position taken goes to *ret_pos.
 */
static unsigned enqueue_run(const struct ring_mpmc_view *r, const uint32_t *v, unsigned n,
			    uint64_t *ret_pos)
{
	_Atomic uint64_t *slot = slots(r->ring);
	const uint32_t mask = r->mask, order = r->order;
	uint64_t t, p, w;
	unsigned done = 0, skipped = 0, laps = 0;
	bool reloaded = false, resynced = false;

	PF_ASSERT(n >= 1 && n <= mask + 1);
	/* [A3] pairs with [R3] in hint_advance(). */
	t = pf_load_acquire(&r->ring->tail);
	p = t;
	if (n > 1)
		prefetch_run(slot, mask, p, n);
	for (;;) {
		const uint32_t want = empty_seq(p, order);
		const uint64_t full = (uint64_t)(want | SEQ_FULL) << 32 | v[done];
		int32_t d;

		/* Fast path: CAS blind, expecting EMPTY(L) (EMPTY words carry value 0), so that
		 * the slot's line moves here once, exclusive, instead of shared and then again
		 * for the CAS. After a skip, look first: the hint is published before filling,
		 * and only when the slot is fillable. */
		w = (uint64_t)want << 32;
		if (done == 0 && p != t) {
			/* [A2] pairs with [R2] in dequeue_run(): the consumer is done with it. */
			w = pf_load_acquire(&slot[p & mask]);
			if (seq_diff(w, want) == 0) {
				hint_advance(&r->ring->tail, t, p); /* run starts at or below it */
				t = p;
			}
		}
		/* [R1] pairs with [A1] in dequeue_run(): publishes the value and what the
		 * producer wrote before enqueueing it. [A2] (on failure too): pairs with [R2]
		 * in dequeue_run(). */
		if (seq_diff(w, want) == 0 && pf_cas_acq_rel(&slot[p & mask], &w, full)) {
			PF_FAULT_POINT(RING_ENQ_AFTER_SLOT);
			if (done == 0)
				*ret_pos = p;
			p++;
			if (++done == n)
				break;
			continue;
		}
		d = seq_diff(w, want); /* w: what the slot holds now */
		if (d == 0) {
			break; /* EMPTY with a value: not a state this protocol writes */
		} else if (d > 0) {
			if (done != 0)
				break; /* another producer got the next position: run ends */
			p++;
			if (++skipped > mask + 1 && rescan(&r->ring->tail, &t, &p, &skipped, &laps))
				break;
		} else if (done != 0 ||
			   /* Not FULL(L - 1) but older: the tail hint is a scribble. */
			   !(d < -1 ? resync(r, true, &resynced, &t, &p, &skipped)
				    : reload(&r->ring->tail, &reloaded, &p))) {
			break; /* full */
		}
	}
	if (p != t)
		hint_advance(&r->ring->tail, t, p);
	PF_ASSERT(done <= n);
	return done;
}

/* Take up to n consecutive positions from the head hint into out[]. Returns how many. */
static unsigned dequeue_run(const struct ring_mpmc_view *r, uint32_t *out, unsigned n)
{
	_Atomic uint64_t *slot = slots(r->ring);
	const uint32_t mask = r->mask, order = r->order;
	uint64_t h, p, w;
	unsigned done = 0, skipped = 0, laps = 0;
	bool reloaded = false, resynced = false;

	PF_ASSERT(n >= 1 && n <= mask + 1);
	/* [A3] pairs with [R3] in hint_advance(). */
	h = pf_load_acquire(&r->ring->head);
	p = h;
	if (n > 1) {
		/* A burst takes no more than the tail hint says is published, so that it does
		 * not chase a producer slot by slot through the lines it is still filling (one
		 * line transfer per item instead of per line). The hint only limits how many:
		 * when it lags (a dead producer), the slots are scanned as usual.
		 * [A3] pairs with [R3] in hint_advance(). */
		uint64_t tail = pf_load_acquire(&r->ring->tail);

		if (ahead(tail, h)) {
			if (tail - h < n)
				n = (unsigned)(tail - h);
			prefetch_run(slot, mask, p, n);
		} else {
			/* The hint says empty. Confirm with a plain load (the line stays shared
			 * with the producer about to fill it) before anything that would take
			 * it exclusive: a FULL slot here means the hint lags (a producer
			 * preempted or dead before its tail CAS), and we go on as usual. */
			uint64_t w0;

			/* [A1] pairs with [R1] in enqueue_run(). */
			w0 = pf_load_acquire(&slot[p & mask]);
			if (seq_diff(w0, empty_seq(p, order)) == 0)
				return 0;
		}
	}
	for (;;) {
		const uint32_t want = empty_seq(p, order) | SEQ_FULL;
		int32_t d;

		/* The load below would fetch the line shared, the CAS again exclusive. */
		pf_prefetch_write(&slot[p & mask]);
		/* [A1] pairs with [R1] in enqueue_run(): the value and the producer's writes. */
		w = pf_load_acquire(&slot[p & mask]);
		d = seq_diff(w, want);
		if (d == 0) {
			if (done == 0 && p != h) {
				hint_advance(&r->ring->head, h, p); /* run starts at or below it */
				h = p;
			}
			/* [R2] pairs with [A2] in enqueue_run() and ring_mpmc_consumed(): we are
			 * done with the slot; [A1] on failure as above. */
			if (!pf_cas_acq_rel(&slot[p & mask], &w, (uint64_t)(want + 1) << 32))
				continue; /* another consumer took p: look again */
			PF_FAULT_POINT(RING_DEQ_AFTER_SLOT);
			out[done] = (uint32_t)w;
			p++;
			if (++done == n)
				break;
		} else if (d > 0) {
			if (done != 0)
				break; /* another consumer got the next position: run ends */
			p++;
			if (++skipped > mask + 1 && rescan(&r->ring->head, &h, &p, &skipped, &laps))
				break;
		} else if (done != 0 ||
			   /* Not EMPTY(L) but FULL(L - 1) or older: the head hint is a scribble. */
			   !(d < -1 ? resync(r, false, &resynced, &h, &p, &skipped)
				    : reload(&r->ring->head, &reloaded, &p))) {
			break; /* empty */
		}
	}
	if (p != h)
		hint_advance(&r->ring->head, h, p);
	PF_ASSERT(done <= n);
	return done;
}

int ring_mpmc_try_enqueue(const struct ring_mpmc_view *v, uint32_t value, uint64_t *ret_pos)
{
	uint64_t pos = 0;

	PF_ASSERT(v != NULL && v->ring != NULL);
	if (enqueue_run(v, &value, 1, &pos) == 0)
		return -EAGAIN;
	if (ret_pos != NULL)
		*ret_pos = pos;
	return 0;
}

int ring_mpmc_try_dequeue(const struct ring_mpmc_view *v, uint32_t *ret_value)
{
	PF_ASSERT(v != NULL && v->ring != NULL && ret_value != NULL);
	return dequeue_run(v, ret_value, 1) == 1 ? 0 : -EAGAIN;
}

unsigned ring_mpmc_enqueue_burst(const struct ring_mpmc_view *v, const uint32_t *vals, unsigned n)
{
	uint64_t pos;

	PF_ASSERT(v != NULL && v->ring != NULL && (vals != NULL || n == 0));
	if (n == 0)
		return 0;
	return enqueue_run(v, vals, PF_MIN(n, v->mask + 1), &pos);
}

unsigned ring_mpmc_dequeue_burst(const struct ring_mpmc_view *v, uint32_t *out, unsigned n)
{
	PF_ASSERT(v != NULL && v->ring != NULL && (out != NULL || n == 0));
	if (n == 0)
		return 0;
	return dequeue_run(v, out, PF_MIN(n, v->mask + 1));
}

uint32_t ring_mpmc_count(const struct ring_mpmc_view *v)
{
	const struct ring_mpmc *r = v->ring;
	uint64_t head, tail, w;

	/* Relaxed: an estimate; both hints lag and nothing is derived from them. */
	head = pf_load_relaxed(&r->head);
	/* Relaxed: as above. */
	tail = pf_load_relaxed(&r->tail);
	if (ahead(tail, head))
		return tail - head > v->mask ? v->mask + 1 : (uint32_t)(tail - head);
	/* The hints say empty. A producer stopped or killed between its slot CAS and its
	 * tail CAS left the tail behind the item it enqueued, and nobody moves it until the
	 * next enqueue: a caller that takes 0 for "nothing to dequeue" would leave that item
	 * there. So look at the slot at the head hint. Relaxed: an estimate as above; the
	 * dequeue that follows reads the slot again, with acquire. */
	w = pf_load_relaxed(&slots(v->ring)[head & v->mask]);
	return seq_diff(w, empty_seq(head, v->order) | SEQ_FULL) == 0 ? 1 : 0;
}

bool ring_mpmc_consumed(const struct ring_mpmc_view *v, uint64_t pos)
{
	const uint32_t want = empty_seq(pos, v->order) | SEQ_FULL;
	/* [A2] pairs with [R2] in dequeue_run(): a caller that sees the entry gone also sees
	 * what the consumer did before taking it out. */
	uint64_t w = pf_load_acquire(&slots(v->ring)[pos & v->mask]);

	return seq_diff(w, want) > 0;
}

static uint32_t order_of(uint32_t slots_n)
{
	uint32_t order = 0;

	while ((UINT32_C(1) << order) < slots_n)
		order++;
	return order;
}

size_t ring_mpmc_bytes(uint32_t slots_n)
{
	if (!PF_IS_POW2(slots_n) || slots_n < (UINT32_C(1) << RING_MPMC_ORDER_MIN) ||
	    slots_n > (UINT32_C(1) << RING_MPMC_ORDER_MAX))
		return 0;
	return sizeof(struct ring_mpmc) + (size_t)slots_n * sizeof(uint64_t);
}

int ring_mpmc_init(struct ring_mpmc *r, size_t bytes, uint32_t slots_n)
{
	size_t need = ring_mpmc_bytes(slots_n);
	struct ring_mpmc_view v;

	if (r == NULL || need == 0 || bytes < need)
		return -EINVAL;
	memset(r, 0, sizeof(*r)); /* not yet shared: nobody else may look at it */
	for (uint32_t i = 0; i < slots_n; i++)
		atomic_init(&slots(r)[i], 0); /* EMPTY, lap 0 */
	r->magic = RING_MPMC_MAGIC;
	r->order = order_of(slots_n);
	r->mask = slots_n - 1;
	PF_ASSERT(ring_mpmc_attach(r, bytes, slots_n, &v) == 0);
	PF_ASSERT(ring_mpmc_capacity(&v) == slots_n);
	return 0;
}

int ring_mpmc_attach(struct ring_mpmc *r, size_t bytes, uint32_t slots_n,
		     struct ring_mpmc_view *ret_view)
{
	struct ring_mpmc_view v;
	size_t need = ring_mpmc_bytes(slots_n);
	int rc;

	if (r == NULL || ret_view == NULL || need == 0)
		return -EINVAL;
	if (bytes < need)
		return -EOVERFLOW;
	v.ring = r;
	v.mask = slots_n - 1;
	v.order = order_of(slots_n);
	rc = ring_mpmc_check(&v);
	/* Hints out of their window are a peer's scribble that the operations repair
	 * (resync(), rescan()); refusing the ring for it would keep every new process
	 * out of the domain for as long as it stays. */
	if (rc < 0 && rc != -ERANGE)
		return rc;
	*ret_view = v;
	return 0;
}

int ring_mpmc_check(const struct ring_mpmc_view *v)
{
	const struct ring_mpmc *r;
	uint64_t head, tail = 0, cap;
	int64_t diff;

	if (v == NULL || v->ring == NULL)
		return -EINVAL;
	r = v->ring;
	/* Each configuration word is read once and compared with the view's: a peer may be
	 * writing them right now, and nothing computed here comes from them. */
	if (r->magic != RING_MPMC_MAGIC)
		return -EBADMSG;
	if (r->order != v->order || r->mask != v->mask)
		return -EPROTO;
	for (size_t i = 0; i < PF_ARRAY_SIZE(r->reserved); i++) {
		if (r->reserved[i] != 0)
			return -EPROTO;
	}
	cap = (uint64_t)v->mask + 1;
	/* Relaxed: a snapshot of two hints, nothing derived from them is dereferenced. It is
	 * exact when head is the same before and after tail is read (hints only grow); under
	 * traffic we try a few times, then judge the last, possibly torn, pair. */
	head = pf_load_relaxed(&r->head);
	for (int i = 0; i < 8; i++) {
		uint64_t again;

		/* Relaxed: as above. */
		tail = pf_load_relaxed(&r->tail);
		/* Relaxed: as above. */
		again = pf_load_relaxed(&r->head);
		if (again == head)
			break;
		head = again;
	}
	diff = (int64_t)(tail - head);
	if (diff < -(int64_t)cap || diff > 2 * (int64_t)cap)
		return -ERANGE;
	return 0;
}

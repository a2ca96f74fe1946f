/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/shm/test_shm_ring_mpmc.c
 * Goal: the MPMC ring is full and empty exactly at capacity, keeps FIFO order across
 * laps, reports partial burst counts, tells consumed entries apart, recovers from a
 * participant that died between its slot CAS and its hint CAS, and its validator refuses
 * each corrupted header field with its own errno. A header scribbled on after attach
 * (order, mask, or both, with extreme and random values) changes nothing: every operation
 * keeps to the geometry of the view, never touches memory outside the slots, and only the
 * validator notices. Method: single-threaded; a dead producer or consumer is simulated by
 * winding its hint back after the call (the state a kill after the slot CAS leaves);
 * data-path bodies run once per mode (single, burst); the scribbled ring's last slot ends
 * where an inaccessible page begins, so a stray access faults in any build.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "shm/ring_mpmc.h"

#define SLOTS 8u
#define BUF_BYTES (sizeof(struct ring_mpmc) + 64u * sizeof(uint64_t))

enum mode { MODE_SINGLE, MODE_BURST, MODE_COUNT };

static _Alignas(PF_CACHELINE) unsigned char buf[BUF_BYTES];
static struct ring_mpmc_view view;

static struct ring_mpmc_view *fresh(uint32_t slots)
{
	struct ring_mpmc *r = (struct ring_mpmc *)buf;

	memset(buf, 0xa5, sizeof(buf)); /* init must not rely on zeroed memory */
	assert_int_equal(ring_mpmc_init(r, sizeof(buf), slots), 0);
	assert_int_equal(ring_mpmc_attach(r, sizeof(buf), slots, &view), 0);
	return &view;
}

static unsigned put(const struct ring_mpmc_view *r, enum mode mode, const uint32_t *v, unsigned n)
{
	unsigned i;

	if (mode == MODE_BURST)
		return ring_mpmc_enqueue_burst(r, v, n);
	for (i = 0; i < n; i++) {
		if (ring_mpmc_try_enqueue(r, v[i], NULL) != 0)
			break;
	}
	return i;
}

static unsigned get(const struct ring_mpmc_view *r, enum mode mode, uint32_t *out, unsigned n)
{
	unsigned i;

	if (mode == MODE_BURST)
		return ring_mpmc_dequeue_burst(r, out, n);
	for (i = 0; i < n; i++) {
		if (ring_mpmc_try_dequeue(r, &out[i]) != 0)
			break;
	}
	return i;
}

/* Single-threaded test: hints are set with plain stores to build a given state. */
static void set_hints(const struct ring_mpmc_view *r, uint64_t tail, uint64_t head)
{
	/* Relaxed: single-threaded test. */
	pf_store_relaxed(&r->ring->tail, tail);
	/* Relaxed: single-threaded test. */
	pf_store_relaxed(&r->ring->head, head);
}

static void test_ring_mpmc_init_rejects_bad_sizes(void **state)
{
	struct ring_mpmc *r = (struct ring_mpmc *)buf;

	(void)state;
	assert_int_equal(ring_mpmc_bytes(0), 0);
	assert_int_equal(ring_mpmc_bytes(1), 0);
	assert_int_equal(ring_mpmc_bytes(6), 0);
	assert_int_equal(ring_mpmc_bytes(UINT32_C(1) << 25), 0);
	assert_int_equal(ring_mpmc_bytes(UINT32_C(1) << 24), sizeof(*r) + (8u << 24));
	assert_int_equal(ring_mpmc_init(NULL, sizeof(buf), SLOTS), -EINVAL);
	assert_int_equal(ring_mpmc_init(r, sizeof(buf), 0), -EINVAL);
	assert_int_equal(ring_mpmc_init(r, ring_mpmc_bytes(SLOTS) - 1, SLOTS), -EINVAL);
	assert_int_equal(ring_mpmc_init(r, ring_mpmc_bytes(SLOTS), SLOTS), 0);
}

static void test_ring_mpmc_zero_filled_is_empty(void **state)
{
	struct ring_mpmc *r = (struct ring_mpmc *)buf;
	struct ring_mpmc_view v;
	uint32_t x;

	(void)state;
	memset(buf, 0, sizeof(buf));
	assert_int_equal(ring_mpmc_init(r, sizeof(buf), SLOTS), 0);
	assert_int_equal(ring_mpmc_attach(r, sizeof(buf), SLOTS, &v), 0);
	assert_int_equal(ring_mpmc_try_dequeue(&v, &x), -EAGAIN);
	assert_int_equal(ring_mpmc_count(&v), 0);
	assert_int_equal(ring_mpmc_capacity(&v), SLOTS);
}

static void test_ring_mpmc_full_and_empty_at_capacity(void **state)
{
	uint32_t v[SLOTS + 1], out[SLOTS + 1];

	(void)state;
	for (unsigned i = 0; i <= SLOTS; i++)
		v[i] = 0xfffffff0u + i; /* values use all 32 bits */
	for (int m = 0; m < MODE_COUNT; m++) {
		struct ring_mpmc_view *r = fresh(SLOTS);

		assert_int_equal(get(r, (enum mode)m, out, 1), 0);
		assert_int_equal(put(r, (enum mode)m, v, SLOTS), SLOTS);
		assert_int_equal(ring_mpmc_count(r), SLOTS);
		assert_int_equal(ring_mpmc_try_enqueue(r, 7, NULL), -EAGAIN);
		assert_int_equal(ring_mpmc_enqueue_burst(r, v, 1), 0);
		assert_int_equal(get(r, (enum mode)m, out, SLOTS + 1), SLOTS);
		for (unsigned i = 0; i < SLOTS; i++)
			assert_int_equal(out[i], v[i]);
		assert_int_equal(ring_mpmc_try_dequeue(r, &out[0]), -EAGAIN);
		assert_int_equal(ring_mpmc_count(r), 0);
		assert_int_equal(ring_mpmc_check(r), 0);
	}
}

static void test_ring_mpmc_fifo_across_wrap(void **state)
{
	uint32_t v[SLOTS], out[SLOTS], next_in = 0, next_out = 0;

	(void)state;
	for (int m = 0; m < MODE_COUNT; m++) {
		struct ring_mpmc_view *r = fresh(4);

		for (unsigned round = 0; round < 2000; round++) {
			unsigned k = 1 + round % 4, got;

			for (unsigned i = 0; i < k; i++)
				v[i] = next_in++;
			assert_int_equal(put(r, (enum mode)m, v, k), k);
			got = get(r, (enum mode)m, out, 1 + (round * 7) % 4);
			for (unsigned i = 0; i < got; i++)
				assert_int_equal(out[i], next_out++);
			while ((got = get(r, (enum mode)m, out, SLOTS)) != 0) {
				for (unsigned i = 0; i < got; i++)
					assert_int_equal(out[i], next_out++);
			}
		}
		assert_int_equal(next_in, next_out);
		assert_int_equal(ring_mpmc_check(r), 0);
	}
}

/* Positions near the 31-bit lap wrap: lap comparisons must be modular. */
static void test_ring_mpmc_fifo_across_lap_wrap(void **state)
{
	const uint64_t start = (UINT64_C(1) << 33) - 3 * 4; /* lap 2^31 - 3 of a 4-slot ring */
	struct ring_mpmc_view *r = fresh(4);
	_Atomic uint64_t *slot = (_Atomic uint64_t *)(r->ring + 1);
	uint32_t next_in = 0, next_out = 0, v;

	(void)state;
	for (uint64_t p = start; p < start + 4; p++) /* EMPTY in the lap of p */
		atomic_init(&slot[p & 3], (uint64_t)(uint32_t)((p >> 2) << 1) << 32);
	set_hints(r, start, start);
	for (unsigned i = 0; i < 100; i++) {
		uint64_t pos;

		assert_int_equal(ring_mpmc_try_enqueue(r, next_in++, &pos), 0);
		assert_int_equal(pos, start + i);
		assert_false(ring_mpmc_consumed(r, pos));
		assert_int_equal(ring_mpmc_try_dequeue(r, &v), 0);
		assert_int_equal(v, next_out++);
		assert_true(ring_mpmc_consumed(r, pos));
	}
	assert_int_equal(ring_mpmc_check(r), 0);
}

static void test_ring_mpmc_burst_partial_counts(void **state)
{
	uint32_t v[2 * SLOTS], out[2 * SLOTS];
	struct ring_mpmc_view *r = fresh(SLOTS);

	(void)state;
	for (unsigned i = 0; i < 2 * SLOTS; i++)
		v[i] = i;
	assert_int_equal(ring_mpmc_enqueue_burst(r, v, 5), 5);
	assert_int_equal(ring_mpmc_enqueue_burst(r, v + 5, 10), SLOTS - 5);
	assert_int_equal(ring_mpmc_enqueue_burst(r, v, 3), 0);
	assert_int_equal(ring_mpmc_dequeue_burst(r, out, 3), 3);
	assert_int_equal(ring_mpmc_dequeue_burst(r, out + 3, 2 * SLOTS), SLOTS - 3);
	for (unsigned i = 0; i < SLOTS; i++)
		assert_int_equal(out[i], i);
	assert_int_equal(ring_mpmc_dequeue_burst(r, out, 4), 0);
	assert_int_equal(ring_mpmc_enqueue_burst(r, v, 0), 0);
	assert_int_equal(ring_mpmc_dequeue_burst(r, out, 0), 0);
	/* More than capacity in one call: capped at capacity. */
	assert_int_equal(ring_mpmc_enqueue_burst(r, v, 2 * SLOTS), SLOTS);
	assert_int_equal(ring_mpmc_dequeue_burst(r, out, 2 * SLOTS), SLOTS);
}

static void test_ring_mpmc_consumed(void **state)
{
	struct ring_mpmc_view *r = fresh(SLOTS);
	uint64_t pos[3];
	uint32_t v;

	(void)state;
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(ring_mpmc_try_enqueue(r, 10 + i, &pos[i]), 0);
		assert_int_equal(pos[i], i);
		assert_false(ring_mpmc_consumed(r, pos[i]));
	}
	assert_int_equal(ring_mpmc_try_dequeue(r, &v), 0);
	assert_int_equal(v, 10);
	assert_true(ring_mpmc_consumed(r, pos[0]));
	assert_false(ring_mpmc_consumed(r, pos[1]));
	/* Later laps reuse the slot: the old entry stays consumed. */
	for (unsigned i = 0; i < 5 * SLOTS; i++) {
		assert_int_equal(ring_mpmc_try_dequeue(r, &v), 0);
		assert_int_equal(ring_mpmc_try_enqueue(r, i, NULL), 0);
	}
	assert_true(ring_mpmc_consumed(r, pos[0]));
	assert_true(ring_mpmc_consumed(r, pos[1]));
	assert_true(ring_mpmc_consumed(r, pos[2]));
}

/* A producer (consumer) killed after its slot CAS leaves its hint behind; the next one
 * must skip over and advance it, with nothing lost, duplicated or reordered. */
static void test_ring_mpmc_recovers_lagging_hints(void **state)
{
	uint32_t v[SLOTS], out[2 * SLOTS];

	(void)state;
	for (unsigned i = 0; i < SLOTS; i++)
		v[i] = 100 + i;
	for (int m = 0; m < MODE_COUNT; m++) {
		struct ring_mpmc_view *r = fresh(SLOTS);
		uint64_t pos;

		assert_int_equal(put(r, (enum mode)m, v, 3), 3);
		set_hints(r, 0, 0); /* the producer(s) died before their tail CAS */
		assert_int_equal(ring_mpmc_try_enqueue(r, 103, &pos), 0);
		assert_int_equal(pos, 3);
		assert_int_equal(get(r, (enum mode)m, out, 2), 2);
		set_hints(r, 4, 0); /* the consumer died before its head CAS */
		assert_int_equal(get(r, (enum mode)m, out, 2), 2);
		assert_int_equal(out[0], 102);
		assert_int_equal(out[1], 103);
		assert_int_equal(ring_mpmc_try_dequeue(r, &out[0]), -EAGAIN);
		/* A consumer that took a full ring and died: tail - head reaches 2 capacity. */
		r = fresh(SLOTS);
		assert_int_equal(put(r, (enum mode)m, v, SLOTS), SLOTS);
		assert_int_equal(get(r, (enum mode)m, out, SLOTS), SLOTS);
		set_hints(r, SLOTS, 0);
		assert_int_equal(put(r, (enum mode)m, v, SLOTS), SLOTS);
		assert_int_equal(ring_mpmc_try_enqueue(r, 1, NULL), -EAGAIN);
		assert_int_equal(ring_mpmc_check(r), 0);
		assert_int_equal(ring_mpmc_count(r), SLOTS);
		assert_int_equal(get(r, (enum mode)m, out, 2 * SLOTS), SLOTS);
		for (unsigned i = 0; i < SLOTS; i++)
			assert_int_equal(out[i], v[i]);
		/* Both hints far behind (stale by several laps): still works. */
		set_hints(r, 0, 0);
		assert_int_equal(put(r, (enum mode)m, v, 2), 2);
		assert_int_equal(get(r, (enum mode)m, out, 2), 2);
		assert_int_equal(out[1], v[1]);
		assert_int_equal(ring_mpmc_check(r), 0);
	}
}

static void test_ring_mpmc_attach_rejects_each_field(void **state)
{
	struct ring_mpmc *m = (struct ring_mpmc *)buf;
	struct ring_mpmc_view v = {0}, *r;

	(void)state;
	r = fresh(SLOTS);
	assert_int_equal(ring_mpmc_attach(NULL, sizeof(buf), SLOTS, &v), -EINVAL);
	assert_int_equal(ring_mpmc_attach(m, sizeof(buf), SLOTS, NULL), -EINVAL);
	assert_int_equal(ring_mpmc_attach(m, sizeof(buf), 12, &v), -EINVAL);
	assert_int_equal(ring_mpmc_attach(m, sizeof(buf), 1, &v), -EINVAL);
	assert_int_equal(ring_mpmc_attach(m, sizeof(*m) - 1, SLOTS, &v), -EOVERFLOW);
	assert_int_equal(ring_mpmc_attach(m, ring_mpmc_bytes(SLOTS) - 1, SLOTS, &v), -EOVERFLOW);
	assert_null(v.ring); /* written only on success */
	assert_int_equal(ring_mpmc_attach(m, ring_mpmc_bytes(SLOTS), SLOTS, &v), 0);
	assert_ptr_equal(v.ring, m);
	assert_int_equal(ring_mpmc_capacity(&v), SLOTS);
	assert_int_equal(ring_mpmc_check(NULL), -EINVAL);
	r->ring->magic ^= UINT64_C(1) << 63;
	assert_int_equal(ring_mpmc_check(r), -EBADMSG);
	assert_int_equal(ring_mpmc_attach(m, sizeof(buf), SLOTS, &v), -EBADMSG);
	r = fresh(SLOTS);
	r->ring->order = 2;
	assert_int_equal(ring_mpmc_check(r), -EPROTO);
	r = fresh(SLOTS);
	r->ring->mask = 8;
	assert_int_equal(ring_mpmc_check(r), -EPROTO);
	r = fresh(SLOTS);
	r->ring->order = 31;
	r->ring->mask = (UINT32_C(1) << 31) - 1;
	assert_int_equal(ring_mpmc_check(r), -EPROTO);
	r = fresh(SLOTS);
	r->ring->order = 0;
	r->ring->mask = 0;
	assert_int_equal(ring_mpmc_check(r), -EPROTO);
	for (size_t i = 0; i < PF_ARRAY_SIZE(r->ring->reserved); i++) {
		r = fresh(SLOTS);
		r->ring->reserved[i] = UINT64_C(1) << i;
		assert_int_equal(ring_mpmc_check(r), -EPROTO);
	}
	/* A header that claims 64 slots: refused by a caller whose limits say 8, accepted by
	 * one whose limits say 64 where the mapping holds them, refused where it does not. */
	r = fresh(SLOTS);
	r->ring->order = 6;
	r->ring->mask = 63;
	assert_int_equal(ring_mpmc_attach(m, sizeof(buf), SLOTS, &v), -EPROTO);
	assert_int_equal(ring_mpmc_attach(m, sizeof(buf), 64, &v), 0);
	assert_int_equal(ring_mpmc_attach(m, ring_mpmc_bytes(32), 64, &v), -EOVERFLOW);
	r = fresh(SLOTS);
	set_hints(r, 2 * SLOTS + 1, 0);
	assert_int_equal(ring_mpmc_check(r), -ERANGE);
	set_hints(r, 2 * SLOTS, 0);
	assert_int_equal(ring_mpmc_check(r), 0);
	set_hints(r, 100, 100 + SLOTS + 1);
	assert_int_equal(ring_mpmc_check(r), -ERANGE);
	set_hints(r, 100, 100 + SLOTS);
	assert_int_equal(ring_mpmc_check(r), 0);
	set_hints(r, 0, UINT64_MAX / 2);
	assert_int_equal(ring_mpmc_check(r), -ERANGE);
}

/* A hint scribbled ahead of the truth (the tail past a lap not filled, the head past one not
 * taken) is one no protocol step moves back: the ring answered full (or empty) for good, and
 * a process attaching refused it. The operations take it back to what the other hint
 * proves, in order, and attaching accepts the ring. */
static void test_ring_mpmc_hints_scribbled_ahead_recover(void **state)
{
	struct ring_mpmc_view v;
	uint32_t in[] = {1, 2, 3}, out[4], x;

	(void)state;
	for (int m = 0; m < MODE_COUNT; m++) {
		struct ring_mpmc_view *r = fresh(SLOTS);

		assert_int_equal(put(r, (enum mode)m, in, 3), 3);
		assert_int_equal(get(r, (enum mode)m, out, 1), 1);
		assert_int_equal(out[0], 1);
		/* Tail five laps ahead. */
		set_hints(r, 3 + 5 * SLOTS, 1);
		assert_int_equal(ring_mpmc_check(r), -ERANGE);
		assert_int_equal(ring_mpmc_attach(r->ring, sizeof(buf), SLOTS, &v), 0);
		assert_int_equal(ring_mpmc_try_enqueue(r, 4, NULL), 0);
		assert_int_equal(get(r, (enum mode)m, out, 4), 3);
		assert_int_equal(out[0], 2);
		assert_int_equal(out[1], 3);
		assert_int_equal(out[2], 4);
		assert_int_equal(ring_mpmc_try_dequeue(r, &x), -EAGAIN);
		/* Head three laps ahead, one item waiting. */
		assert_int_equal(ring_mpmc_try_enqueue(r, 5, NULL), 0);
		set_hints(r, 5, 4 + 3 * SLOTS);
		assert_int_equal(get(r, (enum mode)m, out, 2), 1);
		assert_int_equal(out[0], 5);
		assert_int_equal(ring_mpmc_check(r), 0);
		/* And it goes on as a ring: a full lap in, a full lap out. */
		for (uint32_t i = 0; i < SLOTS; i++)
			assert_int_equal(ring_mpmc_try_enqueue(r, 10 + i, NULL), 0);
		assert_int_equal(ring_mpmc_try_enqueue(r, 99, NULL), -EAGAIN);
		for (uint32_t i = 0; i < SLOTS; i++) {
			assert_int_equal(ring_mpmc_try_dequeue(r, &x), 0);
			assert_int_equal(x, 10 + i);
		}
	}
}

/* A scribble on the configuration line: order and mask, one or both, set to value. */
enum scribble_field { SCRIBBLE_MASK, SCRIBBLE_ORDER, SCRIBBLE_BOTH };

static uint32_t xorshift(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static void scribble(struct ring_mpmc *r, enum scribble_field f, uint32_t value)
{
	if (f == SCRIBBLE_MASK)
		r->mask = value;
	else if (f == SCRIBBLE_ORDER)
		r->order = value;
	else {
		r->order = value;
		r->mask = value < 32 ? (uint32_t)((UINT64_C(1) << value) - 1) : UINT32_MAX;
	}
}

/*
 * Every operation on a ring whose header was scribbled on after attach: full and empty at
 * the view's capacity, FIFO across laps, positions and consumed(), partial bursts, counts.
 */
static void exercise(const struct ring_mpmc_view *r, enum mode m)
{
	uint32_t v[2 * SLOTS], out[2 * SLOTS], next_in = 0, next_out = 0, x;
	uint64_t pos[SLOTS];

	for (unsigned i = 0; i < 2 * SLOTS; i++)
		v[i] = 0xfffffff0u + i;
	for (unsigned lap = 0; lap < 3; lap++) {
		assert_int_equal(put(r, m, v, 2 * SLOTS), SLOTS);
		assert_int_equal(ring_mpmc_count(r), SLOTS);
		assert_int_equal(ring_mpmc_try_enqueue(r, 7, NULL), -EAGAIN);
		assert_int_equal(ring_mpmc_enqueue_burst(r, v, 1), 0);
		assert_int_equal(get(r, m, out, 2 * SLOTS), SLOTS);
		for (unsigned i = 0; i < SLOTS; i++)
			assert_int_equal(out[i], v[i]);
		assert_int_equal(ring_mpmc_try_dequeue(r, &x), -EAGAIN);
		assert_int_equal(ring_mpmc_dequeue_burst(r, out, SLOTS), 0);
		assert_int_equal(ring_mpmc_count(r), 0);
	}
	for (unsigned i = 0; i < SLOTS; i++) {
		assert_int_equal(ring_mpmc_try_enqueue(r, next_in++, &pos[i]), 0);
		assert_false(ring_mpmc_consumed(r, pos[i]));
	}
	for (unsigned i = 0; i < SLOTS; i++) {
		assert_int_equal(ring_mpmc_try_dequeue(r, &x), 0);
		assert_int_equal(x, next_out++);
		assert_true(ring_mpmc_consumed(r, pos[i]));
		assert_false(i + 1 < SLOTS && ring_mpmc_consumed(r, pos[i + 1]));
	}
	for (unsigned round = 0; round < 300; round++) {
		unsigned k = 1 + round % SLOTS, got;

		for (unsigned i = 0; i < k; i++)
			v[i] = next_in++;
		assert_int_equal(put(r, m, v, k), k);
		while ((got = get(r, m, out, 1 + round % 3)) != 0) {
			for (unsigned i = 0; i < got; i++)
				assert_int_equal(out[i], next_out++);
		}
	}
	assert_int_equal(next_in, next_out);
	/* Positions of every kind, as a shared hint could name them: any is safe. */
	assert_true(ring_mpmc_consumed(r, 0));
	(void)ring_mpmc_consumed(r, UINT64_MAX);
	(void)ring_mpmc_consumed(r, UINT64_C(1) << 40);
}

/* Mapping holding a ring of SLOTS slots whose last slot ends where a page without access
 * begins. */
struct guarded {
	void *map;
	size_t map_bytes;
	struct ring_mpmc *ring;
};

static void guarded_make(struct guarded *g)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), bytes = ring_mpmc_bytes(SLOTS);

	g->map_bytes = PF_ALIGN_UP(bytes, page) + page;
	g->map = mmap(NULL, g->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		      0);
	assert_true(g->map != MAP_FAILED);
	assert_int_equal(mprotect((char *)g->map + g->map_bytes - page, page, PROT_NONE), 0);
	g->ring = (struct ring_mpmc *)((char *)g->map + g->map_bytes - page - bytes);
	assert_int_equal((uintptr_t)g->ring % PF_CACHELINE, 0);
}

static void test_ring_mpmc_scribbled_geometry_changes_nothing(void **state)
{
	static const uint32_t masks[] = {0,  1,           SLOTS / 2 - 1, SLOTS,     2 * SLOTS - 1,
					 63, 0x7fffffffu, 0x80000000u,   UINT32_MAX};
	static const uint32_t orders[] = {0, 2, 4, 24, 25, 31, 32, 33, 63, 64, 255, UINT32_MAX};
	static const uint32_t both[] = {0, 1, 4, 24, 31};
	struct {
		enum scribble_field f;
		const uint32_t *values;
		size_t n;
	} sets[] = {
		{SCRIBBLE_MASK, masks, PF_ARRAY_SIZE(masks)},
		{SCRIBBLE_ORDER, orders, PF_ARRAY_SIZE(orders)},
		{SCRIBBLE_BOTH, both, PF_ARRAY_SIZE(both)},
	};
	uint32_t seed = 0x2545f491u;
	struct guarded g;

	(void)state;
	guarded_make(&g);
	for (size_t s = 0; s < PF_ARRAY_SIZE(sets); s++) {
		for (size_t i = 0; i < sets[s].n + 4; i++) { /* the listed values, then random */
			uint32_t value = i < sets[s].n ? sets[s].values[i] : xorshift(&seed);

			for (int m = 0; m < MODE_COUNT; m++) {
				struct ring_mpmc_view v;

				assert_int_equal(
					ring_mpmc_init(g.ring, ring_mpmc_bytes(SLOTS), SLOTS), 0);
				assert_int_equal(
					ring_mpmc_attach(g.ring, ring_mpmc_bytes(SLOTS), SLOTS, &v),
					0);
				scribble(g.ring, sets[s].f, value);
				if (g.ring->order != 3 || g.ring->mask != SLOTS - 1)
					assert_int_equal(ring_mpmc_check(&v), -EPROTO);
				exercise(&v, (enum mode)m);
				assert_int_equal(ring_mpmc_capacity(&v), SLOTS);
				scribble(g.ring, SCRIBBLE_BOTH, 3); /* put it back */
				assert_int_equal(ring_mpmc_check(&v), 0);
			}
		}
	}
	assert_int_equal(munmap(g.map, g.map_bytes), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_mpmc_init_rejects_bad_sizes),
		cmocka_unit_test(test_ring_mpmc_zero_filled_is_empty),
		cmocka_unit_test(test_ring_mpmc_hints_scribbled_ahead_recover),
		cmocka_unit_test(test_ring_mpmc_full_and_empty_at_capacity),
		cmocka_unit_test(test_ring_mpmc_fifo_across_wrap),
		cmocka_unit_test(test_ring_mpmc_fifo_across_lap_wrap),
		cmocka_unit_test(test_ring_mpmc_burst_partial_counts),
		cmocka_unit_test(test_ring_mpmc_consumed),
		cmocka_unit_test(test_ring_mpmc_recovers_lagging_hints),
		cmocka_unit_test(test_ring_mpmc_attach_rejects_each_field),
		cmocka_unit_test(test_ring_mpmc_scribbled_geometry_changes_nothing),
	};

	return cmocka_run_group_tests_name("shm_ring_mpmc", tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/shm/test_shm_ring_spsc.c
 * Goal: the SPSC ring is full and empty exactly at capacity, keeps FIFO order across
 * index wrap-around, reports partial burst counts, and its validator refuses each
 * corrupted header field with its own errno. A header scribbled on after attach changes
 * nothing (the geometry is the view's), and indices or owner caches scribbled further
 * apart than a capacity are refused (full, empty), never trusted or asserted on. Method:
 * single-threaded, every data-path test body runs once per mode (single-item calls, burst
 * calls), liburing-style; the scribbled ring's last slot ends where an inaccessible page
 * begins, so a stray access faults in any build.
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

#include "shm/ring_spsc.h"

#define SLOTS 8u
#define BUF_BYTES (sizeof(struct ring_spsc) + 64u * sizeof(uint64_t))

enum mode { MODE_SINGLE, MODE_BURST, MODE_COUNT };

static _Alignas(PF_CACHELINE) unsigned char buf[BUF_BYTES];
static struct ring_spsc_view view;

static struct ring_spsc_view *fresh(uint32_t slots)
{
	struct ring_spsc *r = (struct ring_spsc *)buf;

	memset(buf, 0xa5, sizeof(buf)); /* init must not rely on zeroed memory */
	assert_int_equal(ring_spsc_init(r, sizeof(buf), slots), 0);
	assert_int_equal(ring_spsc_attach(r, sizeof(buf), slots, &view), 0);
	return &view;
}

/* Enqueue up to n values the way mode says; returns how many went in. */
static unsigned put(const struct ring_spsc_view *r, enum mode mode, const uint64_t *v, unsigned n)
{
	unsigned i;

	if (mode == MODE_BURST)
		return ring_spsc_enqueue_burst(r, v, n);
	for (i = 0; i < n; i++) {
		if (ring_spsc_try_enqueue(r, v[i]) != 0)
			break;
	}
	return i;
}

static unsigned get(const struct ring_spsc_view *r, enum mode mode, uint64_t *out, unsigned n)
{
	unsigned i;

	if (mode == MODE_BURST)
		return ring_spsc_dequeue_burst(r, out, n);
	for (i = 0; i < n; i++) {
		if (ring_spsc_try_dequeue(r, &out[i]) != 0)
			break;
	}
	return i;
}

static void test_ring_spsc_init_rejects_bad_sizes(void **state)
{
	struct ring_spsc *r = (struct ring_spsc *)buf;

	(void)state;
	assert_int_equal(ring_spsc_bytes(0), 0);
	assert_int_equal(ring_spsc_bytes(1), 0);
	assert_int_equal(ring_spsc_bytes(3), 0);
	assert_int_equal(ring_spsc_bytes(UINT32_C(1) << 25), 0);
	assert_int_equal(ring_spsc_bytes(2), sizeof(*r) + 16);
	assert_int_equal(ring_spsc_init(NULL, sizeof(buf), SLOTS), -EINVAL);
	assert_int_equal(ring_spsc_init(r, sizeof(buf), 12), -EINVAL);
	assert_int_equal(ring_spsc_init(r, sizeof(buf), 1), -EINVAL);
	assert_int_equal(ring_spsc_init(r, ring_spsc_bytes(SLOTS) - 1, SLOTS), -EINVAL);
	assert_int_equal(ring_spsc_init(r, ring_spsc_bytes(SLOTS), SLOTS), 0);
}

static void test_ring_spsc_full_and_empty_at_capacity(void **state)
{
	uint64_t v[SLOTS + 1], out[SLOTS + 1];

	(void)state;
	for (unsigned i = 0; i <= SLOTS; i++)
		v[i] = 1000 + i;
	for (int m = 0; m < MODE_COUNT; m++) {
		struct ring_spsc_view *r = fresh(SLOTS);

		assert_int_equal(get(r, (enum mode)m, out, 1), 0);
		assert_int_equal(put(r, (enum mode)m, v, SLOTS), SLOTS);
		assert_int_equal(ring_spsc_try_enqueue(r, 7), -EAGAIN);
		assert_int_equal(ring_spsc_enqueue_burst(r, v, 1), 0);
		assert_int_equal(get(r, (enum mode)m, out, SLOTS + 1), SLOTS);
		for (unsigned i = 0; i < SLOTS; i++)
			assert_int_equal(out[i], v[i]);
		assert_int_equal(ring_spsc_try_dequeue(r, &out[0]), -EAGAIN);
		assert_int_equal(ring_spsc_check(r), 0);
	}
}

static void test_ring_spsc_fifo_across_wrap(void **state)
{
	uint64_t v[SLOTS], out[SLOTS], next_in = 0, next_out = 0;

	(void)state;
	for (int m = 0; m < MODE_COUNT; m++) {
		struct ring_spsc_view *r = fresh(4);

		/* Start near the 32-bit wrap of the indices. */
		r->ring->tail = r->ring->head = UINT32_MAX - 50;
		r->ring->head_cache = r->ring->tail_cache = UINT32_MAX - 50;
		for (unsigned round = 0; round < 1000; round++) {
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
	}
}

static void test_ring_spsc_burst_partial_counts(void **state)
{
	uint64_t v[2 * SLOTS], out[2 * SLOTS];
	struct ring_spsc_view *r = fresh(SLOTS);

	(void)state;
	for (unsigned i = 0; i < 2 * SLOTS; i++)
		v[i] = i;
	assert_int_equal(ring_spsc_enqueue_burst(r, v, 5), 5);
	assert_int_equal(ring_spsc_enqueue_burst(r, v + 5, 10), SLOTS - 5);
	assert_int_equal(ring_spsc_enqueue_burst(r, v, 3), 0);
	assert_int_equal(ring_spsc_dequeue_burst(r, out, 3), 3);
	assert_int_equal(ring_spsc_dequeue_burst(r, out + 3, 2 * SLOTS), SLOTS - 3);
	for (unsigned i = 0; i < SLOTS; i++)
		assert_int_equal(out[i], i);
	assert_int_equal(ring_spsc_dequeue_burst(r, out, 4), 0);
	assert_int_equal(ring_spsc_enqueue_burst(r, v, 0), 0);
}

static void test_ring_spsc_attach_rejects_each_field(void **state)
{
	struct ring_spsc *m = (struct ring_spsc *)buf;
	struct ring_spsc_view v = {0}, *r;

	(void)state;
	r = fresh(SLOTS);
	assert_int_equal(ring_spsc_attach(NULL, sizeof(buf), SLOTS, &v), -EINVAL);
	assert_int_equal(ring_spsc_attach(m, sizeof(buf), SLOTS, NULL), -EINVAL);
	assert_int_equal(ring_spsc_attach(m, sizeof(buf), 12, &v), -EINVAL);
	assert_int_equal(ring_spsc_attach(m, sizeof(*m) - 1, SLOTS, &v), -EOVERFLOW);
	assert_int_equal(ring_spsc_attach(m, ring_spsc_bytes(SLOTS) - 1, SLOTS, &v), -EOVERFLOW);
	assert_null(v.ring); /* written only on success */
	assert_int_equal(ring_spsc_attach(m, ring_spsc_bytes(SLOTS), SLOTS, &v), 0);
	assert_ptr_equal(v.ring, m);
	assert_int_equal(ring_spsc_check(NULL), -EINVAL);
	r->ring->magic ^= 1;
	assert_int_equal(ring_spsc_check(r), -EBADMSG);
	r = fresh(SLOTS);
	r->ring->order = 4;
	assert_int_equal(ring_spsc_check(r), -EPROTO);
	r = fresh(SLOTS);
	r->ring->mask = 5;
	assert_int_equal(ring_spsc_check(r), -EPROTO);
	r = fresh(SLOTS);
	r->ring->order = 25;
	r->ring->mask = (UINT32_C(1) << 25) - 1;
	assert_int_equal(ring_spsc_check(r), -EPROTO);
	r = fresh(SLOTS);
	r->ring->order = 0;
	r->ring->mask = 0;
	assert_int_equal(ring_spsc_check(r), -EPROTO);
	for (size_t i = 0; i < PF_ARRAY_SIZE(r->ring->reserved); i++) {
		r = fresh(SLOTS);
		r->ring->reserved[i] = 1;
		assert_int_equal(ring_spsc_check(r), -EPROTO);
	}
	/* A header that claims 64 slots: refused by a caller whose limits say 8, accepted by
	 * one whose limits say 64 where the mapping holds them, refused where it does not. */
	r = fresh(SLOTS);
	r->ring->order = 6;
	r->ring->mask = 63;
	assert_int_equal(ring_spsc_attach(m, sizeof(buf), SLOTS, &v), -EPROTO);
	assert_int_equal(ring_spsc_attach(m, sizeof(buf), 64, &v), 0);
	assert_int_equal(ring_spsc_attach(m, ring_spsc_bytes(32), 64, &v), -EOVERFLOW);
	r = fresh(SLOTS);
	r->ring->tail = SLOTS + 1; /* more items than slots */
	assert_int_equal(ring_spsc_check(r), -ERANGE);
	r = fresh(SLOTS);
	r->ring->head = 1; /* head past tail */
	assert_int_equal(ring_spsc_check(r), -ERANGE);
	r = fresh(SLOTS);
	r->ring->tail_cache = SLOTS + 1;
	assert_int_equal(ring_spsc_check(r), -ERANGE);
	r = fresh(SLOTS);
	r->ring->tail = SLOTS;
	assert_int_equal(ring_spsc_check(r), 0);
	r->ring->head_cache = UINT32_MAX;
	assert_int_equal(ring_spsc_check(r), -ERANGE);
}

static uint32_t xorshift(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* Mapping holding a ring of SLOTS slots whose last slot ends where a page without access
 * begins. */
struct guarded {
	void *map;
	size_t map_bytes;
	struct ring_spsc *ring;
};

static void guarded_make(struct guarded *g)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), bytes = ring_spsc_bytes(SLOTS);

	g->map_bytes = PF_ALIGN_UP(bytes, page) + page;
	g->map = mmap(NULL, g->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		      0);
	assert_true(g->map != MAP_FAILED);
	assert_int_equal(mprotect((char *)g->map + g->map_bytes - page, page, PROT_NONE), 0);
	g->ring = (struct ring_spsc *)((char *)g->map + g->map_bytes - page - bytes);
	assert_int_equal((uintptr_t)g->ring % PF_CACHELINE, 0);
}

/* Full and empty at the view's capacity and FIFO across wrap-around, whatever the header
 * says. */
static void exercise(const struct ring_spsc_view *r, enum mode m)
{
	uint64_t v[2 * SLOTS], out[2 * SLOTS], next_in = 0, next_out = 0;

	for (unsigned i = 0; i < 2 * SLOTS; i++)
		v[i] = 1000 + i;
	for (unsigned lap = 0; lap < 3; lap++) {
		assert_int_equal(put(r, m, v, 2 * SLOTS), SLOTS);
		assert_int_equal(ring_spsc_try_enqueue(r, 7), -EAGAIN);
		assert_int_equal(ring_spsc_enqueue_burst(r, v, 1), 0);
		assert_int_equal(get(r, m, out, 2 * SLOTS), SLOTS);
		for (unsigned i = 0; i < SLOTS; i++)
			assert_int_equal(out[i], v[i]);
		assert_int_equal(ring_spsc_try_dequeue(r, &out[0]), -EAGAIN);
		assert_int_equal(ring_spsc_dequeue_burst(r, out, SLOTS), 0);
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
}

static void test_ring_spsc_scribbled_geometry_changes_nothing(void **state)
{
	static const uint32_t masks[] = {0,  1,           SLOTS / 2 - 1, SLOTS,     2 * SLOTS - 1,
					 63, 0x7fffffffu, 0x80000000u,   UINT32_MAX};
	uint32_t seed = 0x9e3779b9u;
	struct guarded g;

	(void)state;
	guarded_make(&g);
	for (size_t i = 0; i < PF_ARRAY_SIZE(masks) + 4; i++) { /* listed values, then random */
		uint32_t value = i < PF_ARRAY_SIZE(masks) ? masks[i] : xorshift(&seed);

		for (int m = 0; m < MODE_COUNT; m++) {
			struct ring_spsc_view v;

			assert_int_equal(ring_spsc_init(g.ring, ring_spsc_bytes(SLOTS), SLOTS), 0);
			assert_int_equal(
				ring_spsc_attach(g.ring, ring_spsc_bytes(SLOTS), SLOTS, &v), 0);
			g.ring->mask = value;
			g.ring->order =
				(uint32_t)i * 37u; /* 0, 37, 74...: mostly no order at all */
			if (value != SLOTS - 1)
				assert_int_equal(ring_spsc_check(&v), -EPROTO);
			exercise(&v, (enum mode)m);
			assert_int_equal(ring_spsc_capacity(&v), SLOTS);
			g.ring->mask = SLOTS - 1;
			g.ring->order = 3;
			assert_int_equal(ring_spsc_check(&v), 0);
		}
	}
	assert_int_equal(munmap(g.map, g.map_bytes), 0);
}

/* An index or an owner cache a peer set further from the other index than a capacity:
 * refused as full or empty, nothing read or written outside the slots, no assertion. */
static void test_ring_spsc_scribbled_indices_refused(void **state)
{
	static const uint32_t far[] = {SLOTS + 1, 2 * SLOTS, UINT32_MAX / 2, UINT32_MAX};
	uint64_t v[SLOTS], out[SLOTS];

	(void)state;
	for (unsigned i = 0; i < SLOTS; i++)
		v[i] = i;
	for (size_t i = 0; i < PF_ARRAY_SIZE(far); i++) {
		for (int m = 0; m < MODE_COUNT; m++) {
			struct ring_spsc_view *r = fresh(SLOTS);

			/* The consumer's cache of the tail: refused, then the real tail. */
			assert_int_equal(put(r, (enum mode)m, v, 3), 3);
			r->ring->tail_cache = far[i];
			assert_int_equal(get(r, (enum mode)m, out, SLOTS), 3);
			assert_int_equal(out[2], 2);
			/* The tail itself: nothing taken while it is that far. */
			r->ring->tail = r->ring->head + far[i];
			r->ring->tail_cache = r->ring->tail;
			assert_int_equal(get(r, (enum mode)m, out, SLOTS), 0);
			assert_int_equal(ring_spsc_check(r), -ERANGE);
			/* The producer's cache of the head, then the head itself: full. */
			r = fresh(SLOTS);
			r->ring->head_cache = 0 - far[i];
			assert_int_equal(put(r, (enum mode)m, v, SLOTS), SLOTS);
			assert_int_equal(get(r, (enum mode)m, out, SLOTS), SLOTS);
			r->ring->head = r->ring->tail - far[i];
			r->ring->head_cache = r->ring->head;
			assert_int_equal(put(r, (enum mode)m, v, 1), 0);
			assert_int_equal(ring_spsc_check(r), -ERANGE);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_spsc_init_rejects_bad_sizes),
		cmocka_unit_test(test_ring_spsc_full_and_empty_at_capacity),
		cmocka_unit_test(test_ring_spsc_fifo_across_wrap),
		cmocka_unit_test(test_ring_spsc_burst_partial_counts),
		cmocka_unit_test(test_ring_spsc_attach_rejects_each_field),
		cmocka_unit_test(test_ring_spsc_scribbled_geometry_changes_nothing),
		cmocka_unit_test(test_ring_spsc_scribbled_indices_refused),
	};

	return cmocka_run_group_tests_name("shm_ring_spsc", tests, NULL, NULL);
}

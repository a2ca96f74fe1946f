/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/shm/test_shm_ring_spsc.c
 * Goal: the SPSC ring is full and empty exactly at capacity, keeps FIFO order across
 * index wrap-around, reports partial burst counts, and its validator refuses each
 * corrupted header field with its own errno. Method: single-threaded, every data-path
 * test body runs once per mode (single-item calls, burst calls), liburing-style.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "shm/ring_spsc.h"

#define SLOTS 8u
#define BUF_BYTES (sizeof(struct ring_spsc) + 64u * sizeof(uint64_t))

enum mode { MODE_SINGLE, MODE_BURST, MODE_COUNT };

static _Alignas(PF_CACHELINE) unsigned char buf[BUF_BYTES];

static struct ring_spsc *fresh(uint32_t slots)
{
	struct ring_spsc *r = (struct ring_spsc *)buf;

	memset(buf, 0xa5, sizeof(buf)); /* init must not rely on zeroed memory */
	assert_int_equal(ring_spsc_init(r, sizeof(buf), slots), 0);
	return r;
}

/* Enqueue up to n values the way mode says; returns how many went in. */
static unsigned put(struct ring_spsc *r, enum mode mode, const uint64_t *v, unsigned n)
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

static unsigned get(struct ring_spsc *r, enum mode mode, uint64_t *out, unsigned n)
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
		struct ring_spsc *r = fresh(SLOTS);

		assert_int_equal(get(r, (enum mode)m, out, 1), 0);
		assert_int_equal(put(r, (enum mode)m, v, SLOTS), SLOTS);
		assert_int_equal(ring_spsc_try_enqueue(r, 7), -EAGAIN);
		assert_int_equal(ring_spsc_enqueue_burst(r, v, 1), 0);
		assert_int_equal(get(r, (enum mode)m, out, SLOTS + 1), SLOTS);
		for (unsigned i = 0; i < SLOTS; i++)
			assert_int_equal(out[i], v[i]);
		assert_int_equal(ring_spsc_try_dequeue(r, &out[0]), -EAGAIN);
		assert_int_equal(ring_spsc_check(r, sizeof(buf)), 0);
	}
}

static void test_ring_spsc_fifo_across_wrap(void **state)
{
	uint64_t v[SLOTS], out[SLOTS], next_in = 0, next_out = 0;

	(void)state;
	for (int m = 0; m < MODE_COUNT; m++) {
		struct ring_spsc *r = fresh(4);

		/* Start near the 32-bit wrap of the indices. */
		r->tail = r->head = r->head_cache = r->tail_cache = UINT32_MAX - 50;
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
	struct ring_spsc *r = fresh(SLOTS);

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

static void test_ring_spsc_check_rejects_each_field(void **state)
{
	struct ring_spsc *r;

	(void)state;
	r = fresh(SLOTS);
	assert_int_equal(ring_spsc_check(NULL, sizeof(buf)), -EINVAL);
	assert_int_equal(ring_spsc_check(r, sizeof(*r) - 1), -EOVERFLOW);
	assert_int_equal(ring_spsc_check(r, ring_spsc_bytes(SLOTS) - 1), -EOVERFLOW);
	assert_int_equal(ring_spsc_check(r, ring_spsc_bytes(SLOTS)), 0);
	r->magic ^= 1;
	assert_int_equal(ring_spsc_check(r, sizeof(buf)), -EBADMSG);
	r = fresh(SLOTS);
	r->order = 4;
	assert_int_equal(ring_spsc_check(r, sizeof(buf)), -EPROTO);
	r = fresh(SLOTS);
	r->mask = 5;
	assert_int_equal(ring_spsc_check(r, sizeof(buf)), -EPROTO);
	r = fresh(SLOTS);
	r->order = 25;
	r->mask = (UINT32_C(1) << 25) - 1;
	assert_int_equal(ring_spsc_check(r, sizeof(buf)), -EPROTO);
	r = fresh(SLOTS);
	r->order = 0;
	r->mask = 0;
	assert_int_equal(ring_spsc_check(r, sizeof(buf)), -EPROTO);
	for (size_t i = 0; i < PF_ARRAY_SIZE(r->reserved); i++) {
		r = fresh(SLOTS);
		r->reserved[i] = 1;
		assert_int_equal(ring_spsc_check(r, sizeof(buf)), -EPROTO);
	}
	r = fresh(SLOTS);
	r->order = 6; /* claims 64 slots: fits buf, but not a smaller mapping */
	r->mask = 63;
	assert_int_equal(ring_spsc_check(r, sizeof(buf)), 0);
	assert_int_equal(ring_spsc_check(r, ring_spsc_bytes(32)), -EOVERFLOW);
	r = fresh(SLOTS);
	r->tail = SLOTS + 1; /* more items than slots */
	assert_int_equal(ring_spsc_check(r, sizeof(buf)), -ERANGE);
	r = fresh(SLOTS);
	r->head = 1; /* head past tail */
	assert_int_equal(ring_spsc_check(r, sizeof(buf)), -ERANGE);
	r = fresh(SLOTS);
	r->tail_cache = SLOTS + 1;
	assert_int_equal(ring_spsc_check(r, sizeof(buf)), -ERANGE);
	r = fresh(SLOTS);
	r->tail = SLOTS;
	assert_int_equal(ring_spsc_check(r, sizeof(buf)), 0);
	r->head_cache = UINT32_MAX;
	assert_int_equal(ring_spsc_check(r, sizeof(buf)), -ERANGE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_spsc_init_rejects_bad_sizes),
		cmocka_unit_test(test_ring_spsc_full_and_empty_at_capacity),
		cmocka_unit_test(test_ring_spsc_fifo_across_wrap),
		cmocka_unit_test(test_ring_spsc_burst_partial_counts),
		cmocka_unit_test(test_ring_spsc_check_rejects_each_field),
	};

	return cmocka_run_group_tests_name("shm_ring_spsc", tests, NULL, NULL);
}

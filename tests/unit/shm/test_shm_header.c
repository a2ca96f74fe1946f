/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/shm/test_shm_header.c
 * Goal: an attaching process refuses each malformed segment header with its own errno
 * and accepts a well-formed one, and shm_header_read() hands out exactly what it
 * validated, a private copy that later writes to the segment do not reach. Method: build a
 * good header with a region table in a buffer, corrupt one field at a time (negative
 * space), check the errno each time.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "shm/pf_atomic.h"
#include "shm/shm_header.h"

#define SEG_BYTES 4096u

struct seg {
	_Alignas(64) unsigned char bytes[SEG_BYTES];
};

static struct pf_shm_header *good(struct seg *s)
{
	struct pf_shm_header *h = (struct pf_shm_header *)s->bytes;
	struct pf_shm_region *reg = (struct pf_shm_region *)(s->bytes + 64);

	memset(s, 0, sizeof(*s));
	h->magic = PF_SHM_MAGIC;
	h->layout_major = 1;
	h->header_bytes = sizeof(*h);
	h->segment_bytes = SEG_BYTES;
	h->table_offset = 64;
	h->region_count = 2;
	reg[0] = (struct pf_shm_region){.offset = 128, .bytes = 1024};
	reg[1] = (struct pf_shm_region){.offset = 2048, .bytes = 2048};
	shm_header_publish(h);
	return h;
}

static struct pf_shm_region *regions(struct seg *s)
{
	return (struct pf_shm_region *)(s->bytes + 64);
}

static void test_shm_header_accepts_good(void **state)
{
	struct seg s;

	(void)state;
	assert_int_equal(shm_header_check(good(&s), SEG_BYTES, 1), 0);
}

static void test_shm_header_rejects_each_field(void **state)
{
	struct seg s;
	struct pf_shm_header *h;

	(void)state;
	assert_int_equal(shm_header_check(NULL, SEG_BYTES, 1), -EINVAL);
	assert_int_equal(shm_header_check(good(&s), 63, 1), -EINVAL);

	h = good(&s);
	/* Relaxed: single-threaded test. */
	pf_store_relaxed(&h->ready, 0);
	assert_int_equal(shm_header_check(h, SEG_BYTES, 1), -EAGAIN);
	h = good(&s);
	h->magic ^= 1;
	assert_int_equal(shm_header_check(h, SEG_BYTES, 1), -EBADMSG);
	h = good(&s);
	h->layout_major = 2;
	assert_int_equal(shm_header_check(h, SEG_BYTES, 1), -EPROTONOSUPPORT);
	h = good(&s);
	h->header_bytes = 72;
	assert_int_equal(shm_header_check(h, SEG_BYTES, 1), -EPROTO);
	h = good(&s);
	h->reserved0 = 1;
	assert_int_equal(shm_header_check(h, SEG_BYTES, 1), -EPROTO);
	h = good(&s);
	h->reserved1 = 1;
	assert_int_equal(shm_header_check(h, SEG_BYTES, 1), -EPROTO);
	h = good(&s);
	h->reserved2 = 1;
	assert_int_equal(shm_header_check(h, SEG_BYTES, 1), -EPROTO);
	h = good(&s);
	assert_int_equal(shm_header_check(h, SEG_BYTES - 64, 1), -EOVERFLOW);
	h = good(&s);
	h->region_count = 0;
	assert_int_equal(shm_header_check(h, SEG_BYTES, 1), -ERANGE);
	h = good(&s);
	h->region_count = PF_SHM_REGIONS_MAX + 1;
	assert_int_equal(shm_header_check(h, SEG_BYTES, 1), -ERANGE);
	h = good(&s);
	h->table_offset = SEG_BYTES - 16;
	assert_int_equal(shm_header_check(h, SEG_BYTES, 1), -ERANGE);
	h = good(&s);
	h->table_offset = 8;
	assert_int_equal(shm_header_check(h, SEG_BYTES, 1), -ERANGE);
	h = good(&s);
	h->table_offset = UINT64_MAX - 7;
	assert_int_equal(shm_header_check(h, SEG_BYTES, 1), -ERANGE);
}

static void test_shm_header_rejects_bad_regions(void **state)
{
	struct seg s;
	struct pf_shm_header *h;

	(void)state;
	h = good(&s);
	regions(&s)[0].bytes = 0;
	assert_int_equal(shm_header_check(h, SEG_BYTES, 1), -ERANGE);
	h = good(&s);
	regions(&s)[0].offset = 130; /* misaligned */
	assert_int_equal(shm_header_check(h, SEG_BYTES, 1), -ERANGE);
	h = good(&s);
	regions(&s)[1].offset = 1024; /* overlaps region 0 */
	assert_int_equal(shm_header_check(h, SEG_BYTES, 1), -ERANGE);
	h = good(&s);
	regions(&s)[1].bytes = 4096; /* past the end */
	assert_int_equal(shm_header_check(h, SEG_BYTES, 1), -ERANGE);
	h = good(&s);
	regions(&s)[1].offset = UINT64_MAX - 63; /* wraps */
	assert_int_equal(shm_header_check(h, SEG_BYTES, 1), -ERANGE);
	h = good(&s);
	regions(&s)[0].offset = 64; /* over the table itself */
	assert_int_equal(shm_header_check(h, SEG_BYTES, 1), -ERANGE);
}

/* The copy is the validated header and table; the segment written afterwards does not
 * change it. */
static void test_shm_header_read_copies(void **state)
{
	struct shm_header_copy c;
	struct seg s;
	struct pf_shm_header *h;

	(void)state;
	h = good(&s);
	assert_int_equal(shm_header_read(h, SEG_BYTES, 1, NULL), -EINVAL);
	assert_int_equal(shm_header_read(NULL, SEG_BYTES, 1, &c), -EINVAL);
	assert_int_equal(shm_header_read(h, SEG_BYTES, 1, &c), 0);
	h->table_offset = UINT64_MAX - 7;
	h->region_count = PF_SHM_REGIONS_MAX;
	h->segment_bytes = UINT64_MAX;
	regions(&s)[1].offset = UINT64_C(1) << 45;
	assert_int_equal(c.hdr.table_offset, 64);
	assert_int_equal(c.hdr.region_count, 2);
	assert_int_equal(c.hdr.segment_bytes, SEG_BYTES);
	assert_int_equal(c.regions[0].offset, 128);
	assert_int_equal(c.regions[1].offset, 2048);
	assert_int_equal(c.regions[1].bytes, 2048);
	assert_int_equal(shm_header_read(h, SEG_BYTES, 1, &c), -EOVERFLOW);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shm_header_accepts_good),
		cmocka_unit_test(test_shm_header_rejects_each_field),
		cmocka_unit_test(test_shm_header_rejects_bad_regions),
		cmocka_unit_test(test_shm_header_read_copies),
	};

	return cmocka_run_group_tests_name("shm_header", tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/core/test_core_domain.c
 * Goal: a domain is created with exactly its limits and permissions, attaches cleanly,
 * and an attacher refuses every malformed segment with its own errno without crashing
 * (bad names, limits of 0, garbage, truncated, wrong magic or major, corrupted limits and
 * region sizes), leaving nothing behind. Method: create real segments under /dev/shm,
 * corrupt them through a second mapping, and attach.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/domain_impl.h"
#include "pflight/pflight.h"
#include "shm/shm_header.h"
#include "tests/common/test_util.h"

static char name[64];

static int setup(void **state)
{
	(void)state;
	test_domain_name(name, sizeof(name), "domain");
	(void)pf_domain_unlink(name);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	(void)pf_domain_unlink(name);
	return 0;
}

static void test_domain_create_open_info(void **state)
{
	struct pf_domain_opts o;
	struct pf_domain *a, *b;
	struct pf_domain_info info = {.size = sizeof(info)};
	char path[128];
	struct stat st;

	(void)state;
	pf_domain_opts_init(&o);
	o.members_max = 16;
	o.vnodes_max = 100;
	assert_int_equal(pf_domain_create(name, &o, &a), 0);
	assert_int_equal(pf_domain_create(name, &o, &b), -EEXIST);
	(void)snprintf(path, sizeof(path), "/dev/shm/pflight-%s", name);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(pf_domain_open(name, &b), 0);
	assert_int_equal(pf_domain_info(b, &info), 0);
	assert_int_equal(info.members_max, 16);
	assert_int_equal(info.vnodes_max, 100);
	assert_int_equal(info.caps_max, PF_CAPS_MAX);
	assert_true(info.table_bytes_per_vnode <= 128);
	assert_int_equal(info.vnodes_pending, 0);
	pf_domain_close(b);
	assert_int_equal(pf_domain_destroy(a), 0);
	assert_int_equal(pf_domain_open(name, &b), -ENOENT);
}

static void test_domain_table_cost_at_scale(void **state)
{
	struct pf_domain_opts o;
	struct pf_domain *a;
	struct pf_domain_info info = {.size = sizeof(info)};

	(void)state;
	pf_domain_opts_init(&o);
	o.members_max = PF_MEMBERS_MAX;
	o.vnodes_max = PF_VNODES_MAX;
	o.inbox_slots = 2;
	o.msg_bytes_max = 48;
	o.state_bytes_max = 64;
	assert_int_equal(pf_domain_create(name, &o, &a), 0);
	assert_int_equal(pf_domain_info(a, &info), 0);
	assert_int_equal(info.vnodes_max, PF_VNODES_MAX);
	assert_int_equal(info.members_max, PF_MEMBERS_MAX);
	assert_true(info.table_bytes_per_vnode <= 128);
	assert_int_equal(pf_domain_destroy(a), 0);
}

static void test_domain_group_mode(void **state)
{
	struct pf_domain_opts o;
	struct pf_domain *a;
	char path[128];
	struct stat st;

	(void)state;
	pf_domain_opts_init(&o);
	o.gid = (int32_t)getegid();
	assert_int_equal(pf_domain_create(name, &o, &a), 0);
	(void)snprintf(path, sizeof(path), "/dev/shm/pflight-%s", name);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0660);
	assert_int_equal(st.st_gid, getegid());
	assert_int_equal(pf_domain_destroy(a), 0);
}

static void expect_create(const struct pf_domain_opts *o, int want)
{
	struct pf_domain *d = NULL;

	assert_int_equal(pf_domain_create(name, o, &d), want);
	if (want == 0)
		assert_int_equal(pf_domain_destroy(d), 0);
	else
		assert_null(d);
}

static void test_domain_bad_input(void **state)
{
	struct pf_domain_opts o;
	struct pf_domain *d = NULL;
	char longname[PF_DOMAIN_NAME_MAX + 2];

	(void)state;
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(pf_domain_create("a/b", NULL, &d), -EINVAL);
	assert_int_equal(pf_domain_create("", NULL, &d), -EINVAL);
	assert_int_equal(pf_domain_create(".hidden", NULL, &d), -EINVAL);
	assert_int_equal(pf_domain_create("sp ace", NULL, &d), -EINVAL);
	assert_int_equal(pf_domain_create(longname, NULL, &d), -ENAMETOOLONG);
	assert_int_equal(pf_domain_open("../etc", &d), -EINVAL);
	assert_int_equal(pf_domain_create(NULL, NULL, &d), -EINVAL);
	assert_int_equal(pf_domain_create(name, NULL, NULL), -EINVAL);

#define WITH(field, value, want)                                                                   \
	do {                                                                                       \
		pf_domain_opts_init(&o);                                                           \
		o.field = (value);                                                                 \
		expect_create(&o, (want));                                                         \
	} while (0)
	WITH(members_max, 0, -EINVAL);
	WITH(members_max, PF_MEMBERS_MAX + 1, -EINVAL);
	WITH(vnodes_max, 0, -EINVAL);
	WITH(vnodes_max, PF_VNODES_MAX + 1, -EINVAL);
	WITH(caps_max, 0, -EINVAL);
	WITH(caps_max, PF_CAPS_MAX + 1, -EINVAL);
	WITH(inbox_slots, 48, -EINVAL);
	WITH(inbox_slots, 1, -EINVAL);
	WITH(msg_bytes_max, 0, -EINVAL);
	WITH(msg_bytes_max, PF_MSG_BYTES_MAX + 1, -EINVAL);
	WITH(state_bytes_max, 0, -EINVAL);
	WITH(mode, 0200, -EINVAL);
	WITH(mode, 01600, -EINVAL);
	WITH(mode, 0666, -EINVAL); /* others may write: any local user could forge records */
	WITH(mode, 0602, -EINVAL);
	WITH(mode, 0644, 0);
	WITH(mode, 0640, 0);
	WITH(flags, 0x80, -EINVAL);
	WITH(checksum, 9, -EINVAL);
	WITH(checksum, PF_CHECKSUM_CRC32C, 0);
	WITH(heartbeat_interval_ns, 0, -EINVAL);
	WITH(heartbeat_misses, 1, -EINVAL);
	WITH(reserved[2], 1, -EINVAL);
	WITH(size, 4, -EINVAL);
#undef WITH
	/* Nothing was left behind by any refusal. */
	assert_int_equal(pf_domain_open(name, &d), -ENOENT);
}

/* Write bytes into a raw segment named like a domain. */
static void write_raw(const void *bytes, size_t len)
{
	char path[128];
	int fd;

	(void)snprintf(path, sizeof(path), "/pflight-%s", name);
	(void)shm_unlink(path);
	fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	if (len > 0)
		assert_int_equal(write(fd, bytes, len), (ssize_t)len);
	(void)close(fd);
}

static void test_domain_attach_garbage(void **state)
{
	static unsigned char junk[8192];
	struct pf_domain *d = NULL;

	(void)state;
	write_raw(NULL, 0);
	assert_int_equal(pf_domain_open(name, &d), -EAGAIN); /* empty: creator not done */
	write_raw("tiny", 4);
	assert_int_equal(pf_domain_open(name, &d), -EOVERFLOW);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (unsigned char)(i * 131u + 7u);
	write_raw(junk, sizeof(junk));
	assert_true(pf_domain_open(name, &d) < 0);
	memset(junk, 0, sizeof(junk));
	write_raw(junk, sizeof(junk));
	assert_int_equal(pf_domain_open(name, &d), -EAGAIN); /* never published */
	assert_null(d);
}

/* Map an existing domain's segment for corruption. */
static unsigned char *map_raw(size_t *ret_bytes)
{
	char path[128];
	struct stat st;
	void *p;
	int fd;

	(void)snprintf(path, sizeof(path), "/pflight-%s", name);
	fd = shm_open(path, O_RDWR, 0);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(p != MAP_FAILED);
	(void)close(fd);
	*ret_bytes = (size_t)st.st_size;
	return p;
}

/* Create a fresh domain, apply `corrupt`, attach, expect `want`. */
static void expect_refused(void (*corrupt)(unsigned char *base, size_t bytes), int want)
{
	struct pf_domain *a, *b = NULL;
	unsigned char *raw;
	size_t bytes;

	(void)pf_domain_unlink(name);
	assert_int_equal(pf_domain_create(name, NULL, &a), 0);
	raw = map_raw(&bytes);
	corrupt(raw, bytes);
	assert_int_equal(pf_domain_open(name, &b), want);
	assert_null(b);
	(void)munmap(raw, bytes);
	assert_int_equal(pf_domain_destroy(a), 0);
}

static struct pf_shm_region *table_of(unsigned char *base)
{
	return (struct pf_shm_region *)(base + PF_SHM_HEADER_BYTES);
}

static struct dom_limits *limits_of(unsigned char *base)
{
	return (struct dom_limits *)(base + table_of(base)[REGION_CONTROL].offset);
}

static void c_magic(unsigned char *b, size_t n)
{
	(void)n;
	((struct pf_shm_header *)b)->magic ^= 0xff;
}
static void c_major(unsigned char *b, size_t n)
{
	(void)n;
	((struct pf_shm_header *)b)->layout_major = DOMAIN_LAYOUT_MAJOR + 1;
}
static void c_segment_bytes(unsigned char *b, size_t n)
{
	((struct pf_shm_header *)b)->segment_bytes = n + 4096;
}
static void c_region_offset(unsigned char *b, size_t n)
{
	table_of(b)[REGION_INBOX].offset = n; /* past the end */
}
static void c_region_bytes(unsigned char *b, size_t n)
{
	(void)n;
	table_of(b)[REGION_CAPS].bytes -= 64; /* fits, but not what the limits imply */
}
static void c_region_count(unsigned char *b, size_t n)
{
	(void)n;
	((struct pf_shm_header *)b)->region_count = REGION_COUNT - 1;
}
static void c_members_max(unsigned char *b, size_t n)
{
	(void)n;
	limits_of(b)->members_max = PF_MEMBERS_MAX + 1;
}
static void c_vnodes_zero(unsigned char *b, size_t n)
{
	(void)n;
	limits_of(b)->vnodes_max = 0;
}
static void c_inbox_slots(unsigned char *b, size_t n)
{
	(void)n;
	limits_of(b)->inbox_slots = 48;
}
static void c_slot_bytes(unsigned char *b, size_t n)
{
	(void)n;
	limits_of(b)->inbox_slot_bytes += 64;
}
static void c_ckpt_bytes(unsigned char *b, size_t n)
{
	(void)n;
	limits_of(b)->ckpt_slot_bytes = 1;
}
static void c_checksum(unsigned char *b, size_t n)
{
	(void)n;
	limits_of(b)->checksum = 77;
}
static void c_reserved(unsigned char *b, size_t n)
{
	(void)n;
	limits_of(b)->reserved[3] = 1;
}
static void c_heartbeat(unsigned char *b, size_t n)
{
	(void)n;
	limits_of(b)->heartbeat_misses = 0;
}
static void c_pending_ring(unsigned char *b, size_t n)
{
	(void)n;
	struct ring_mpmc *r = (struct ring_mpmc *)(b + table_of(b)[REGION_PENDING].offset);

	r->magic ^= 0xa5;
}

static void test_domain_attach_refuses_each_field(void **state)
{
	(void)state;
	expect_refused(c_magic, -EBADMSG);
	expect_refused(c_major, -EPROTONOSUPPORT);
	expect_refused(c_segment_bytes, -EOVERFLOW);
	expect_refused(c_region_offset, -ERANGE);
	expect_refused(c_region_bytes, -EPROTO);
	expect_refused(c_region_count, -EPROTO);
	expect_refused(c_members_max, -EPROTO);
	expect_refused(c_vnodes_zero, -EPROTO);
	expect_refused(c_inbox_slots, -EPROTO);
	expect_refused(c_slot_bytes, -EPROTO);
	expect_refused(c_ckpt_bytes, -EPROTO);
	expect_refused(c_checksum, -EPROTO);
	expect_refused(c_reserved, -EPROTO);
	expect_refused(c_heartbeat, -EPROTO);
	expect_refused(c_pending_ring, -EBADMSG);
}

static void test_domain_truncated(void **state)
{
	struct pf_domain *a, *b = NULL;
	char path[128];
	int fd;

	(void)state;
	assert_int_equal(pf_domain_create(name, NULL, &a), 0);
	(void)snprintf(path, sizeof(path), "/pflight-%s", name);
	fd = shm_open(path, O_RDWR, 0);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 8192), 0);
	(void)close(fd);
	assert_int_equal(pf_domain_open(name, &b), -EOVERFLOW);
	/* The creator's mapping is now partly beyond the file: only unlink, do not touch. */
	assert_int_equal(pf_domain_unlink(name), 0);
	pf_domain_close(a);
}

static void test_domain_counters_and_version(void **state)
{
	uint64_t values[PF_COUNTER_COUNT + 4];
	struct pf_domain *a;

	(void)state;
	assert_int_equal(pf_domain_create(name, NULL, &a), 0);
	assert_int_equal(pf_domain_counters(a, values, PF_COUNTER_COUNT + 4), PF_COUNTER_COUNT);
	for (uint32_t i = 0; i < PF_COUNTER_COUNT; i++) {
		assert_int_equal(values[i], 0);
		assert_non_null(pf_counter_name(i));
	}
	assert_null(pf_counter_name(PF_COUNTER_COUNT));
	assert_int_equal(pf_domain_wait_membership(a, 0, 1000000), -ETIMEDOUT);
	assert_int_equal(pf_domain_wait_membership(a, 7, 1000000), 0);
	assert_int_equal(pf_version_check(PF_VERSION_MAJOR, PF_VERSION_MINOR), 1);
	assert_int_equal(pf_version_check(PF_VERSION_MAJOR + 1, 0), 0);
	assert_int_equal(pf_domain_destroy(a), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_domain_create_open_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_table_cost_at_scale, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_group_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_attach_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_attach_refuses_each_field, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_domain_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_counters_and_version, setup, teardown),
	};

	return cmocka_run_group_tests_name("core_domain", tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/core/test_core_domain.c
 * Goal: a domain is created with exactly its limits and permissions (its assignment rings
 * sized from its VNodes per member slot unless told), attaches cleanly,
 * and an attacher refuses every malformed segment with its own errno without crashing
 * (bad names, limits of 0, garbage, truncated, wrong magic or major, corrupted limits and
 * region sizes), leaving nothing behind. A ring's header scribbled on after open (its
 * order, its mask, or both, with extreme and random values: another process's stray
 * write) changes nothing: placement, claims, adoption, the wait's look, ring counts,
 * releases, the supervisor's sweep and repair all keep to the geometry validated at open,
 * and only the validator notices. Method: create real segments under /dev/shm, corrupt
 * them through a second mapping, and attach; each scribbled domain lives in a child
 * process, so a fault is reported with the scribble that caused it.
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
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/domain_impl.h"
#include "core/member_impl.h"
#include "pflight/pflight.h"
#include "shm/fault.h"
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

/* VNodes one member may have placed on it before it adopts any: its ring's slots - 1. */
static uint32_t ring_room_of(uint32_t vnodes_max, uint32_t members_max, uint32_t assign_slots)
{
	struct pf_member_info mi = {.size = sizeof(mi)};
	struct pf_member_opts mo;
	struct pf_domain_opts o;
	struct pf_domain *a;
	struct pf_member *m;
	struct pf_sched *s;
	uint32_t define = PF_MIN(vnodes_max, 40000u);

	pf_domain_opts_init(&o);
	o.members_max = members_max;
	o.vnodes_max = vnodes_max;
	o.inbox_slots = 2;
	o.msg_bytes_max = 48;
	o.state_bytes_max = 64;
	o.assign_slots = assign_slots;
	assert_int_equal(pf_domain_create(name, &o, &a), 0);
	pf_member_opts_init(&mo);
	mo.vnode_capacity = vnodes_max;
	assert_int_equal(pf_member_join(a, &mo, &m), 0);
	assert_int_equal(pf_vnode_define_range(a, 0, define, NULL), (int)define);
	assert_int_equal(pf_sched_create(a, NULL, &s), 0);
	assert_true(pf_sched_run(s, define) >= 0);
	assert_int_equal(pf_member_info(a, (uint32_t)pf_member_id(m), &mi), 0);
	pf_sched_destroy(s);
	assert_int_equal(pf_member_leave(m), 0);
	assert_int_equal(pf_domain_destroy(a), 0);
	return mi.vnodes_placed;
}

/* The assignment ring grows with the domain by default (twice the VNodes per member slot,
 * 256 at least): a rebalancing round gives a member no more than its ring has room for. An
 * explicit size is kept. */
static void test_domain_assign_ring_scales(void **state)
{
	(void)state;
	assert_int_equal(ring_room_of(1024, 64, 0), 255);
	assert_int_equal(ring_room_of(PF_VNODES_MAX, 64, 0), 32767);
	assert_int_equal(ring_room_of(PF_VNODES_MAX, PF_MEMBERS_MAX, 0), 511);
	assert_int_equal(ring_room_of(PF_VNODES_MAX, 64, 256), 255);
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

/* A stray write on a ring's configuration line: its order, its mask, or both. */
enum scribble_field { SCRIBBLE_MASK, SCRIBBLE_ORDER, SCRIBBLE_BOTH, SCRIBBLE_FIELDS };
static const char *const scribble_names[SCRIBBLE_FIELDS] = {"mask", "order", "order+mask"};

#define RINGS_VNODES 12u

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

/* The pending ring and every member slot's assignment ring, the same stray write on each. */
static void scribble_rings(struct pf_domain *d, enum scribble_field f, uint32_t value)
{
	scribble(d->pending.ring, f, value);
	for (uint32_t i = 0; i < d->lim.members_max; i++)
		scribble(d->assign[i].ring, f, value);
}

static void rings_restore(struct pf_domain *d)
{
	scribble(d->pending.ring, SCRIBBLE_BOTH, d->pending.order);
	for (uint32_t i = 0; i < d->lim.members_max; i++)
		scribble(d->assign[i].ring, SCRIBBLE_BOTH, d->assign[i].order);
}

/* Every ring of d against its view: 0 when all pass, else the first error. */
static int rings_check(struct pf_domain *d)
{
	int r = ring_mpmc_check(&d->pending);

	for (uint32_t i = 0; r == 0 && i < d->lim.members_max; i++)
		r = ring_mpmc_check(&d->assign[i]);
	return r;
}

/* In the child: report a failed expectation with the scribble, and give its line. */
#define EXPECT(cond)                                                                               \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: %s, after %s = %#x\n", __FILE__, __LINE__, #cond,  \
				scribble_names[f], value);                                         \
			return __LINE__;                                                           \
		}                                                                                  \
	} while (0)

/* Place until every VNode is owned: the scheduler's runs, then the claims and adoptions
 * of the members given (a member NULL takes nothing). Returns the handles now held. */
static uint32_t place_all(struct pf_sched *s, struct pf_member *a, struct pf_member *b,
			  struct pf_vnode **h, uint32_t held)
{
	for (int round = 0; round < 64 && held < RINGS_VNODES; round++) {
		(void)pf_sched_run(s, 64);
		while (a != NULL && held < RINGS_VNODES &&
		       pf_vnode_claim(a, PF_CLAIM_NOWAIT, 0, &h[held]) == 0)
			held++;
		while (b != NULL && held < RINGS_VNODES && pf_vnode_adopt(b, &h[held]) == 0)
			held++;
	}
	return held;
}

/*
 * One domain, every ring scribbled on the same way right after open, then every operation
 * that touches a ring, by the creator's handle and by another handle that attached before
 * the scribble. Returns 0, or the line of the first failed expectation.
 */
static int rings_scribbled_run(enum scribble_field f, uint32_t value)
{
	struct pf_domain_opts o;
	struct pf_supervisor_opts so;
	struct pf_domain_info di = {.size = sizeof(di)};
	struct pf_member_info mi = {.size = sizeof(mi)};
	struct pf_domain *d, *d2, *d3;
	struct pf_member *a, *b;
	struct pf_sched *s;
	struct pf_supervisor *sup;
	struct pf_vnode *h[RINGS_VNODES];
	uint64_t c[PF_COUNTER_COUNT];
	uint32_t held = 0, kept = 0, on_b = 0, released = 0, ev, slot_b, gen_b;
	char nm[64];
	int r, changed;

	test_domain_name(nm, sizeof(nm), "rings");
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = 4;
	o.vnodes_max = 16;
	o.assign_slots = 8;
	o.slot_grace_ns = 0;
	EXPECT(pf_domain_create(nm, &o, &d) == 0);
	EXPECT(pf_domain_open(nm, &d2) == 0); /* a worker's handle: views of its own */
	EXPECT(pf_member_join(d2, NULL, &a) == 0);
	EXPECT(pf_member_join(d, NULL, &b) == 0);
	slot_b = (uint32_t)pf_member_id(b);
	gen_b = (uint32_t)(pf_member_id(b) >> 32);
	EXPECT(pf_sched_create(d, NULL, &s) == 0);
	pf_supervisor_opts_init(&so);
	so.sweep_interval_ns = 1; /* every check sweeps */
	EXPECT(pf_supervisor_create(d2, &so, &sup) == 0);

	scribble_rings(d, f, value);
	changed = d->pending.ring->order != d->pending.order ||
		  d->pending.ring->mask != d->pending.mask;
	EXPECT(!changed || (rings_check(d) == -EPROTO && rings_check(d2) == -EPROTO));
	EXPECT(!changed || pf_domain_open(nm, &d3) == -EPROTO); /* refused, not trusted */

	/* Queued as they are defined; the wait's look before and after the scheduler. */
	EXPECT(pf_vnode_define_range(d, 0, RINGS_VNODES, NULL) == (int)RINGS_VNODES);
	EXPECT(ring_mpmc_count(&d->pending) <= ring_mpmc_capacity(&d->pending));
	r = pf_member_wait(a, 0, &ev);
	EXPECT(r == 0 || r == -ETIMEDOUT);
	r = pf_sched_run(s, 4);
	EXPECT(r >= 0 && r <= 4);
	EXPECT(pf_member_info(d, (uint32_t)pf_member_id(a), &mi) == 0);
	EXPECT(mi.vnodes_placed <= o.assign_slots);
	r = pf_member_wait(a, 0, &ev);
	EXPECT(r == 0 || r == -ETIMEDOUT);
	EXPECT(r != 0 || mi.vnodes_placed == 0 || (ev & PF_WAIT_PLACEMENT) != 0);

	/* The scheduler and the members' own placement rounds, claims and adoptions. */
	held = place_all(s, a, b, h, held);
	EXPECT(held == RINGS_VNODES);
	EXPECT(pf_domain_info(d2, &di) == 0 && di.vnodes_active == RINGS_VNODES);
	EXPECT(ring_mpmc_count(&d->pending) == 0 && ring_mpmc_count(&d2->assign[0]) == 0);

	/* Releases queue again; one goes through pf_sched_place() by id, and is adopted. */
	for (uint32_t i = 0; i < held; i++) {
		if (kept < 3 && h[i]->member == a) {
			released = pf_vnode_id(h[i]);
			EXPECT(pf_vnode_release(h[i]) == 0);
			kept++;
			continue;
		}
		h[i - kept] = h[i];
	}
	held -= kept;
	EXPECT(kept == 3);
	EXPECT(pf_sched_place(s, pf_vnode_id(h[0]), NULL) == -EBUSY); /* owned */
	EXPECT(pf_sched_place(s, released, NULL) == 0);
	EXPECT(pf_vnode_adopt(a, &h[held]) == 0 || pf_vnode_adopt(b, &h[held]) == 0);
	EXPECT(pf_vnode_id(h[held++]) == released);

	/* The sweep (consumed positions, orphans, undelivered) and a repair. */
	EXPECT(pf_supervisor_check(sup) >= 0);
	for (uint32_t i = 0; i < held; i++) { /* b's handles go with its slot */
		if (h[i]->member == b)
			on_b++;
		else
			h[i - on_b] = h[i];
	}
	held -= on_b;
	EXPECT(on_b > 0 && supervisor_declare_dead(sup, slot_b, gen_b, PF_DEATH_HUNG) == (int)on_b);
	EXPECT(pf_supervisor_check(sup) >= 0);
	held = place_all(s, a, NULL, h, held);
	EXPECT(held == RINGS_VNODES);
	EXPECT(pf_domain_info(d, &di) == 0 && di.vnodes_active == RINGS_VNODES &&
	       di.vnodes_pending == 0);
	EXPECT(pf_member_vnodes(a) == RINGS_VNODES);
	EXPECT(pf_domain_counters(d, c, PF_COUNTER_COUNT) == PF_COUNTER_COUNT);
	EXPECT(c[PF_COUNTER_SHM_INVALID] == 0); /* nothing read was out of range */

	/* Put back as written at creation: every check passes, a new attacher is let in. */
	rings_restore(d);
	EXPECT(rings_check(d) == 0 && rings_check(d2) == 0);
	EXPECT(pf_domain_open(nm, &d3) == 0);
	pf_domain_close(d3);
	EXPECT(pf_member_leave(a) == 0);
	EXPECT(pf_member_leave(b) == -ESTALE);
	pf_supervisor_destroy(sup);
	pf_sched_destroy(s);
	pf_domain_close(d2);
	EXPECT(pf_domain_destroy(d) == 0);
	return 0;
}

#undef EXPECT

static uint32_t xorshift(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static void test_domain_rings_scribbled_change_nothing(void **state)
{
	/* 16 VNodes: the pending ring has 32 slots (order 5), the assignment rings 8. */
	static const uint32_t masks[] = {0,  1,  3,  8,           31,          32,
					 63, 64, 65, 0x7fffffffu, 0x80000000u, UINT32_MAX};
	static const uint32_t orders[] = {0,  1,  2,  4,  6,  24,  25,
					  31, 32, 33, 63, 64, 255, UINT32_MAX};
	static const uint32_t both[] = {0, 1, 4, 6, 24, 31};
	const struct {
		const uint32_t *values;
		size_t n;
	} sets[SCRIBBLE_FIELDS] = {
		[SCRIBBLE_MASK] = {masks, PF_ARRAY_SIZE(masks)},
		[SCRIBBLE_ORDER] = {orders, PF_ARRAY_SIZE(orders)},
		[SCRIBBLE_BOTH] = {both, PF_ARRAY_SIZE(both)},
	};
	uint32_t seed = 0x6a09e667u, failed = 0;

	(void)state;
	for (int f = 0; f < SCRIBBLE_FIELDS; f++) {
		for (size_t i = 0; i < sets[f].n + 3; i++) { /* the listed values, then random */
			uint32_t value = i < sets[f].n ? sets[f].values[i] : xorshift(&seed);
			char child_name[64];
			int status;
			pid_t pid;

			if (f == SCRIBBLE_BOTH && i >= sets[f].n)
				value %= 64; /* an order, with the mask it implies */
			pid = fork();
			assert_true(pid >= 0);
			if (pid == 0) {
				int line = rings_scribbled_run((enum scribble_field)f, value);

				fflush(stderr);
				_exit(line == 0 ? 0 : 1);
			}
			assert_int_equal(waitpid(pid, &status, 0), pid);
			/* What a child that died left: its segment is named after its pid. */
			(void)snprintf(child_name, sizeof(child_name), "pft-rings-%d", (int)pid);
			(void)pf_domain_unlink(child_name);
			if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
				continue;
			failed++;
			print_error("%s = %#x: %s %d\n", scribble_names[f], value,
				    WIFSIGNALED(status) ? "killed by signal" : "exit status",
				    WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
		}
	}
	assert_int_equal(failed, 0); /* every scribble above is reported */
}

/* The value a ring gives back, its id checked where it is used. */
static uint64_t invalid_count(struct pf_domain *d)
{
	uint64_t c[PF_COUNTER_COUNT];

	assert_int_equal(pf_domain_counters(d, c, PF_COUNTER_COUNT), PF_COUNTER_COUNT);
	return c[PF_COUNTER_SHM_INVALID];
}

/*
 * The words a peer can write into a ring besides its header: a value out of the table is
 * refused and counted once wherever it is taken (the scheduler's pending queue, a claim's
 * assignment ring); hints anywhere leave every count within capacity, every position
 * masked, and every operation returning.
 */
static void test_domain_ring_words_scribbled(void **state)
{
	static const uint64_t hints[][2] = {
		{UINT64_MAX, 0},        {0, UINT64_MAX},         {UINT64_C(1) << 40, 3},
		{3, UINT64_C(1) << 40}, {UINT64_MAX / 2, 12345}, {0x8000000000000001u, 7},
	};
	struct pf_domain_opts o;
	struct pf_supervisor_opts so;
	struct pf_domain *d;
	struct pf_member *a;
	struct pf_sched *s;
	struct pf_supervisor *sup;
	struct pf_vnode *h[8];
	uint32_t held = 0, slot, ev;
	uint64_t invalid;
	int r;

	(void)state;
	pf_domain_opts_init(&o);
	o.members_max = 4;
	o.vnodes_max = 16;
	o.assign_slots = 8;
	assert_int_equal(pf_domain_create(name, &o, &d), 0);
	assert_int_equal(pf_member_join(d, NULL, &a), 0);
	slot = (uint32_t)pf_member_id(a);
	assert_int_equal(pf_sched_create(d, NULL, &s), 0);
	pf_supervisor_opts_init(&so);
	so.sweep_interval_ns = 1;
	assert_int_equal(pf_supervisor_create(d, &so, &sup), 0);
	assert_int_equal(pf_vnode_define_range(d, 0, 4, NULL), 4);

	/* Ids past the table in the pending queue: the scheduler counts each and goes on. */
	invalid = invalid_count(d);
	assert_int_equal(ring_mpmc_try_enqueue(&d->pending, 16, NULL), 0);
	assert_int_equal(ring_mpmc_try_enqueue(&d->pending, UINT32_MAX, NULL), 0);
	assert_int_equal(pf_sched_run(s, 64), 4);
	assert_int_equal(invalid_count(d), invalid + 2);
	/* And in an assignment ring, behind four real placements: a claim counts each. */
	assert_int_equal(ring_mpmc_try_enqueue(assign_ring(d, slot), 16, NULL), 0);
	assert_int_equal(ring_mpmc_try_enqueue(assign_ring(d, slot), UINT32_MAX, NULL), 0);
	while (pf_vnode_claim(a, PF_CLAIM_NOWAIT, 0, &h[held]) == 0)
		held++;
	assert_int_equal(held, 4);
	assert_int_equal(invalid_count(d), invalid + 4);
	assert_int_equal(ring_mpmc_count(assign_ring(d, slot)), 0);

	/* Hints anywhere, on the pending queue and on the member's ring. */
	for (size_t i = 0; i < PF_ARRAY_SIZE(hints); i++) {
		const struct ring_mpmc_view *rings[2] = {&d->pending, assign_ring(d, slot)};

		for (int k = 0; k < 2; k++) {
			int64_t lag = (int64_t)(hints[i][0] - hints[i][1]); /* positions wrap */
			int64_t cap = ring_mpmc_capacity(rings[k]);

			atomic_store(&rings[k]->ring->tail, hints[i][0]);
			atomic_store(&rings[k]->ring->head, hints[i][1]);
			assert_true(ring_mpmc_count(rings[k]) <= ring_mpmc_capacity(rings[k]));
			assert_int_equal(ring_mpmc_check(rings[k]),
					 lag < -cap || lag > 2 * cap ? -ERANGE : 0);
		}
		if (held > 0)
			assert_int_equal(pf_vnode_release(h[--held]), 0);
		assert_true(pf_sched_run(s, 64) >= 0);
		assert_true(pf_supervisor_check(sup) >= 0);
		r = pf_member_wait(a, 0, &ev);
		assert_true(r == 0 || r == -ETIMEDOUT);
		while (held < PF_ARRAY_SIZE(h) &&
		       (r = pf_vnode_claim(a, PF_CLAIM_NOWAIT, 0, &h[held])) == 0)
			held++;
		assert_int_equal(r, -EAGAIN);
		for (int k = 0; k < 2; k++)
			assert_true(ring_mpmc_count(rings[k]) <= ring_mpmc_capacity(rings[k]));
	}
	pf_supervisor_destroy(sup);
	pf_sched_destroy(s);
	assert_int_equal(pf_member_leave(a), 0);
	assert_int_equal(pf_domain_destroy(d), 0);
}

#if PF_FAULT_INJECTION
/* A peer's writes on the header and the region table, between their validation by an
 * attacher and their use: every region moved past the mapping (all) and, with all, the
 * header's own geometry too. */
struct open_race {
	struct pf_shm_header *hdr; /* the creator's mapping of them */
	int all;
	int fired;
};

static struct pf_shm_region *race_table(struct open_race *o)
{
	return (struct pf_shm_region *)((unsigned char *)o->hdr + PF_SHM_HEADER_BYTES);
}

static void open_hook(void *arg, enum fault_point point)
{
	struct open_race *o = arg;

	(void)point;
	if (o->fired++ != 0)
		return;
	for (uint32_t i = 0; i < REGION_COUNT; i++) {
		race_table(o)[i].offset = (UINT64_C(1) << 45) + i * 4096;
		race_table(o)[i].bytes = UINT64_MAX;
	}
	o->hdr->segment_bytes = UINT64_MAX;
	if (o->all) {
		o->hdr->table_offset = UINT64_C(1) << 40;
		o->hdr->region_count = PF_SHM_REGIONS_MAX;
	}
}

/* Where p lies in d's mapping: offsets compare across the mappings of one segment. */
static uint64_t off_in(const struct pf_domain *d, const void *p)
{
	assert_true((const unsigned char *)p >= (const unsigned char *)d->seg.base);
	assert_true((const unsigned char *)p < (const unsigned char *)d->seg.base + d->seg.bytes);
	return (uint64_t)((const unsigned char *)p - (const unsigned char *)d->seg.base);
}
#endif

#if PF_FAULT_INJECTION
/* One attach with the peer's writes of race.all at the instant after validation. */
static void open_scribbled_round(int all)
{
	struct pf_shm_region saved_table[REGION_COUNT];
	struct pf_domain_info ai = {.size = sizeof(ai)}, bi = {.size = sizeof(bi)};
	struct pf_shm_header saved_hdr;
	struct open_race race = {.all = all};
	struct pf_domain_opts o;
	struct pf_domain *a, *b;
	struct pf_member *m;
	struct pf_vnode *v;

	pf_domain_opts_init(&o);
	o.members_max = 4;
	o.vnodes_max = 16;
	assert_int_equal(pf_domain_create(name, &o, &a), 0);
	race.hdr = a->seg.base;
	memcpy(&saved_hdr, race.hdr, sizeof(saved_hdr));
	memcpy(saved_table, race_table(&race), sizeof(saved_table));
	fault_set_hook(FAULT_SHM_HEADER_READ, open_hook, &race);
	assert_int_equal(pf_domain_open(name, &b), 0);
	fault_set_hook(FAULT_SHM_HEADER_READ, NULL, NULL);
	assert_int_equal(race.fired, 1);
	assert_int_equal(off_in(b, b->ctl), off_in(a, a->ctl));
	assert_int_equal(off_in(b, b->caps), off_in(a, a->caps));
	assert_int_equal(off_in(b, b->members), off_in(a, a->members));
	assert_int_equal(off_in(b, b->own), off_in(a, a->own));
	assert_int_equal(off_in(b, b->vnodes), off_in(a, a->vnodes));
	assert_int_equal(off_in(b, b->pending.ring), off_in(a, a->pending.ring));
	assert_int_equal(off_in(b, b->ckpt), off_in(a, a->ckpt));
	assert_int_equal(off_in(b, b->inbox), off_in(a, a->inbox));
	for (uint32_t i = 0; i < o.members_max; i++)
		assert_int_equal(off_in(b, b->assign[i].ring), off_in(a, a->assign[i].ring));
	assert_int_equal(off_in(b, b->explain), off_in(a, a->explain));
	assert_int_equal(off_in(b, b->history), off_in(a, a->history));
	assert_int_equal(off_in(b, b->ckpt_hold), off_in(a, a->ckpt_hold));
	/* It works through its handle while the header still says nonsense. */
	assert_int_equal(pf_vnode_define(b, 3, NULL), 0);
	assert_int_equal(pf_member_join(b, NULL, &m), 0);
	assert_int_equal(pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v), 0);
	assert_int_equal(pf_vnode_id(v), 3);
	assert_int_equal(pf_domain_info(a, &ai), 0);
	assert_int_equal(pf_domain_info(b, &bi), 0);
	assert_int_equal(ai.vnodes_active, 1);
	assert_int_equal(bi.vnodes_active, 1);
	assert_int_equal(pf_member_leave(m), 0);
	pf_domain_close(b);
	/* A later attacher sees the scribble and refuses it; put back, it is let in. */
	assert_int_equal(pf_domain_open(name, &b), -EOVERFLOW);
	memcpy(race_table(&race), saved_table, sizeof(saved_table));
	memcpy(race.hdr, &saved_hdr, sizeof(saved_hdr));
	assert_int_equal(pf_domain_open(name, &b), 0);
	pf_domain_close(b);
	assert_int_equal(pf_domain_destroy(a), 0);
}
#endif

/* An attacher uses the header and the region table it validated, not what a peer writes
 * there right after: every region of its handle lies where the creator's does, and the
 * domain works through it. */
static void test_domain_open_header_scribbled_after_check(void **state)
{
	(void)state;
#if PF_FAULT_INJECTION
	open_scribbled_round(0); /* the regions only: what a re-read would go and use */
	open_scribbled_round(1); /* and the header's table offset and region count */
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_domain_create_open_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_table_cost_at_scale, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_assign_ring_scales, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_group_mode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_attach_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_attach_refuses_each_field, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_domain_truncated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_counters_and_version, setup, teardown),
		cmocka_unit_test_setup_teardown(test_domain_open_header_scribbled_after_check,
						setup, teardown),
		cmocka_unit_test(test_domain_rings_scribbled_change_nothing),
		cmocka_unit_test_setup_teardown(test_domain_ring_words_scribbled, setup, teardown),
	};

	return cmocka_run_group_tests_name("core_domain", tests, NULL, NULL);
}

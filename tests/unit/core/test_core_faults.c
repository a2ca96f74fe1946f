/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/core/test_core_faults.c
 * Goal: every failure of a system resource on the control path (shm_open, ftruncate,
 * mmap, allocation) is reported as its errno, leaves nothing behind (no segment, no
 * half-registered member, no owned VNode) and leaks nothing (ASan). Method: the SQLite
 * sweep: fail the n-th hit of a fault point once, run the whole sequence, check the
 * state, and raise n until the sequence succeeds untouched. And the internal
 * member_leave_many() (the simulator's) still returns every VNode without the memory for
 * its shared scan; the wait and an adoption without memory lose nothing.
 * Built only with -Dfault_injection=true.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/member_impl.h"
#include "pflight/pflight.h"
#include "shm/fault.h"
#include "tests/common/test_util.h"

static char name[64];

/* create, join, define, claim, commit, wait fd, leave, destroy; returns the first error. */
static int sequence(int *ret_step)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	struct pf_domain *d;
	struct pf_member *m;
	struct pf_vnode *v;
	int r;

	*ret_step = 0;
	r = pf_domain_create(name, NULL, &d);
	if (r < 0)
		return r;
	*ret_step = 1;
	r = pf_member_join(d, NULL, &m);
	if (r < 0)
		goto out_domain;
	/* A failed join left no member behind. */
	*ret_step = 2;
	r = pf_vnode_define_range(d, 0, 4, NULL);
	if (r < 0)
		goto out_member;
	*ret_step = 3;
	r = pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v);
	if (r < 0)
		goto out_member;
	*ret_step = 4;
	r = pf_checkpoint_commit(v, pf_vnode_epoch(v), "state", 5);
	if (r < 0)
		goto out_member;
	*ret_step = 5;
	r = pf_member_wait_fd(m);
	r = r >= 0 ? 0 : r;
out_member:
	(void)pf_member_leave(m);
	(void)pf_domain_info(d, &di);
	assert_int_equal(di.vnodes_active, 0); /* a failed claim owns nothing either */
out_domain:
	(void)pf_domain_info(d, &di);
	assert_int_equal(di.members_active, 0);
	(void)pf_domain_destroy(d);
	return r;
}

static void sweep(enum fault_point point, int want_errno)
{
	struct pf_domain *d = NULL;
	int failures = 0;

	for (uint64_t n = 1; n < 64; n++) {
		int step, r;

		fault_disarm_all();
		fault_arm(point, n, FAULT_MODE_FAIL_ONCE);
		r = sequence(&step);
		assert_int_equal(pf_domain_open(name, &d), -ENOENT); /* nothing left behind */
		if (r == 0 && fault_hits(point) < n) {
			fault_disarm_all();
			assert_true(failures > 0); /* the sweep did reach the point */
			return;
		}
		assert_int_equal(r, want_errno);
		failures++;
	}
	fail_msg("sequence never completed");
}

static void test_faults_shm_open(void **state)
{
	(void)state;
	sweep(FAULT_SHM_OPEN, -EMFILE);
}

static void test_faults_truncate(void **state)
{
	(void)state;
	sweep(FAULT_SHM_TRUNCATE, -ENOSPC);
}

static void test_faults_mmap(void **state)
{
	(void)state;
	sweep(FAULT_SHM_MMAP, -ENOMEM);
}

static void test_faults_alloc(void **state)
{
	(void)state;
	sweep(FAULT_ALLOC, -ENOMEM);
}

/* member_leave_many() without memory for its shared scan: every member still leaves, and
 * every VNode they held, by handle or only placed on them, goes back to PENDING. */
static void test_faults_leave_many_alloc(void **state)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	struct pf_domain_opts o;
	struct pf_member *m[2];
	struct pf_domain *d;
	struct pf_sched *s;
	struct pf_vnode *v;

	(void)state;
	fault_disarm_all();
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.vnodes_max = 8;
	assert_int_equal(pf_domain_create(name, &o, &d), 0);
	assert_int_equal(pf_vnode_define_range(d, 0, 8, NULL), 8);
	assert_int_equal(pf_member_join(d, NULL, &m[0]), 0);
	assert_int_equal(pf_member_join(d, NULL, &m[1]), 0);
	assert_int_equal(pf_vnode_claim_id(m[0], 0, &v), 0); /* by id: no placement round */
	assert_int_equal(pf_sched_create(d, NULL, &s), 0);
	assert_int_equal(pf_sched_run(s, 8), 7); /* placed on both, adopted by neither */
	fault_arm(FAULT_ALLOC, 1, FAULT_MODE_FAIL_ONCE);
	assert_int_equal(member_leave_many(m, 2), 0);
	assert_int_equal(fault_hits(FAULT_ALLOC), 1); /* its scan had no memory */
	fault_disarm_all();
	assert_int_equal(pf_domain_info(d, &di), 0);
	assert_int_equal(di.members_active, 0);
	assert_int_equal(di.vnodes_active, 0);
	assert_int_equal(di.vnodes_pending, 8);
	pf_sched_destroy(s);
	assert_int_equal(pf_domain_destroy(d), 0);
}

/* The wait without memory for its spin's copy of the member's VNodes: it parks at once,
 * and its look there (which allocates nothing) still finds the message. */
static void test_faults_wait_alloc(void **state)
{
	struct pf_domain_opts o;
	struct pf_member *m;
	struct pf_domain *d;
	struct pf_vnode *v;
	uint32_t ev = 0;

	(void)state;
	fault_disarm_all();
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.vnodes_max = 8;
	assert_int_equal(pf_domain_create(name, &o, &d), 0);
	assert_int_equal(pf_member_join(d, NULL, &m), 0);
	assert_int_equal(pf_vnode_define(d, 3, NULL), 0);
	assert_int_equal(pf_vnode_claim_id(m, 3, &v), 0);
	assert_int_equal(pf_send(d, 3, "x", 1), 0);
	fault_arm(FAULT_ALLOC, 1, FAULT_MODE_FAIL_ONCE);
	assert_int_equal(pf_member_wait(m, UINT64_C(2000000000), &ev), 0);
	assert_int_equal(fault_hits(FAULT_ALLOC), 1); /* the spin had no memory */
	assert_int_equal(ev & PF_WAIT_MESSAGE, PF_WAIT_MESSAGE);
	fault_disarm_all();
	assert_int_equal(pf_member_wait(m, 0, &ev), 0); /* with memory again */
	assert_int_equal(ev & PF_WAIT_MESSAGE, PF_WAIT_MESSAGE);
	assert_int_equal(pf_member_leave(m), 0);
	assert_int_equal(pf_domain_destroy(d), 0);
}

static struct pf_domain *fill_dom;
static uint32_t fill_slot;
static int fill_once;

/* After a dequeue took its slot: a placer fills the ring the entry came from (once). */
static void on_dequeue_fill(void *arg, enum fault_point point)
{
	(void)arg;
	(void)point;
	if (fill_once) {
		fill_once = 0;
		(void)ring_mpmc_try_enqueue(assign_ring(fill_dom, fill_slot), 7, NULL);
	}
}

/* An adopt without memory for the handle leaves the placement where it was, even when a
 * placer fills the member's assignment ring meanwhile: the VNode is adopted by the next
 * try, not stranded ACTIVE on the member with no entry left to adopt it by. */
static void test_faults_adopt_alloc(void **state)
{
	struct pf_domain_opts o;
	struct pf_member *m;
	struct pf_domain *d;
	struct pf_sched *s;
	struct pf_vnode *v;

	(void)state;
	fault_disarm_all();
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.vnodes_max = 8;
	assert_int_equal(pf_domain_create(name, &o, &d), 0);
	assert_int_equal(pf_member_join(d, NULL, &m), 0);
	assert_int_equal(pf_vnode_define(d, 3, NULL), 0);
	assert_int_equal(pf_sched_create(d, NULL, &s), 0);
	assert_int_equal(pf_sched_run(s, 8), 1); /* placed on m, not adopted yet */
	fill_dom = d;
	fill_slot = (uint32_t)pf_member_id(m);
	/* The rest of the ring: entries of VNode 7, never defined (skipped by the adopt). */
	while (ring_mpmc_try_enqueue(assign_ring(d, fill_slot), 7, NULL) == 0) {
	}
	fill_once = 1;
	fault_set_hook(FAULT_RING_DEQ_AFTER_SLOT, on_dequeue_fill, NULL);
	fault_arm(FAULT_ALLOC, 1, FAULT_MODE_FAIL_ONCE);
	assert_int_equal(pf_vnode_adopt(m, &v), -ENOMEM);
	fault_disarm_all();
	fill_once = 0;
	assert_int_equal(pf_vnode_adopt(m, &v), 0);
	assert_int_equal(pf_vnode_id(v), 3);
	fault_set_hook(FAULT_RING_DEQ_AFTER_SLOT, NULL, NULL);
	pf_sched_destroy(s);
	assert_int_equal(pf_member_leave(m), 0);
	assert_int_equal(pf_domain_destroy(d), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_faults_shm_open),
		cmocka_unit_test(test_faults_truncate),
		cmocka_unit_test(test_faults_mmap),
		cmocka_unit_test(test_faults_alloc),
		cmocka_unit_test(test_faults_leave_many_alloc),
		cmocka_unit_test(test_faults_wait_alloc),
		cmocka_unit_test(test_faults_adopt_alloc),
	};

	test_domain_name(name, sizeof(name), "faults");
	(void)pf_domain_unlink(name);
	return cmocka_run_group_tests_name("core_faults", tests, NULL, NULL);
}

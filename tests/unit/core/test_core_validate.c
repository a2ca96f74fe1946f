/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/core/test_core_validate.c
 * Goal: the member-record and VNode-record validators refuse each field corrupted once
 * with its errno, accept the records a correct writer produces, and the readers built on
 * them (pf_member_info, pf_vnode_info) refuse a corrupt record instead of reporting it.
 * Method: a live member and VNode in a real domain; corrupt one field through the
 * internal layout, check, restore, next field.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/member_impl.h"
#include "core/tally.h"
#include "core/validate.h"
#include "pflight/pflight.h"
#include "tests/common/test_util.h"

static char name[64];
static struct pf_domain *dom;
static struct pf_member *mem;
static struct pf_vnode *vn;
static uint32_t slot;

static int setup(void **state)
{
	const char *caps[] = {"a"};
	struct pf_member_opts mo;
	struct pf_domain_opts o;
	int r;

	(void)state;
	test_domain_name(name, sizeof(name), "validate");
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = 4;
	o.vnodes_max = 8;
	r = pf_domain_create(name, &o, &dom);
	if (r < 0)
		return r;
	pf_member_opts_init(&mo);
	mo.caps = caps;
	mo.caps_count = 1;
	r = pf_member_join(dom, &mo, &mem);
	if (r < 0)
		return r;
	slot = (uint32_t)pf_member_id(mem);
	r = pf_vnode_define_range(dom, 0, 8, NULL);
	if (r < 0)
		return r;
	return pf_vnode_claim_id(mem, 3, &vn);
}

static int teardown(void **state)
{
	(void)state;
	(void)pf_member_leave(mem);
	return pf_domain_destroy(dom);
}

#define CORRUPT_MEMBER(field, value, want)                                                         \
	do {                                                                                       \
		__typeof__(rec->field) saved = rec->field;                                         \
		rec->field = (value);                                                              \
		assert_int_equal(member_record_check(dom, slot), (want));                          \
		assert_int_equal(pf_member_info(dom, slot, &mi), (want));                          \
		rec->field = saved;                                                                \
		assert_int_equal(member_record_check(dom, slot), 0);                               \
	} while (0)

static void test_validate_member_each_field(void **state)
{
	struct dom_member *rec = &dom->members[slot];
	struct pf_member_info mi = {.size = sizeof(mi)};
	uint64_t w = atomic_load(&rec->state);
	uint32_t f = atomic_load(&rec->futex);

	(void)state;
	assert_int_equal(member_record_check(dom, slot), 0);
	assert_int_equal(pf_member_info(dom, slot, &mi), 0);
	/* The state word: an unknown state, an unknown cause, unknown flags, generation 0. */
	assert_true((w & MEMBER_FACTS) == MEMBER_FLAG_JOINED);
	atomic_store(&rec->state, member_word(member_word_gen(w), 9, 0, 0));
	assert_int_equal(member_record_check(dom, slot), -EBADMSG);
	atomic_store(&rec->state,
		     member_word(member_word_gen(w), PF_MEMBER_ACTIVE, 7, MEMBER_FLAG_JOINED));
	assert_int_equal(member_record_check(dom, slot), -EBADMSG);
	atomic_store(&rec->state, w | (UINT64_C(1) << 24));
	assert_int_equal(member_record_check(dom, slot), -EBADMSG);
	atomic_store(&rec->state, member_word(0, PF_MEMBER_ACTIVE, 0, MEMBER_FLAG_JOINED));
	assert_int_equal(member_record_check(dom, slot), -EBADMSG);
	atomic_store(&rec->state, w);
	/* The futex of an ACTIVE member must name a thread. */
	atomic_store(&rec->futex, 0);
	assert_int_equal(member_record_check(dom, slot), -EBADMSG);
	atomic_store(&rec->futex, f);
	assert_int_equal(member_record_check(dom, slot), 0);
	CORRUPT_MEMBER(tid, 0, -EBADMSG);
	CORRUPT_MEMBER(numa_node, -2, -EBADMSG);
	CORRUPT_MEMBER(numa_node, 5000, -EBADMSG);
	CORRUPT_MEMBER(cpu, -1, -EBADMSG);
	CORRUPT_MEMBER(caps[1], UINT64_C(1) << 60, -EBADMSG);
	CORRUPT_MEMBER(caps[0], UINT64_C(1) << 9, -EBADMSG);
	CORRUPT_MEMBER(caps_declared, PF_MEMBER_CAPS_MAX + 1, -EBADMSG);
	CORRUPT_MEMBER(reliability_ppm, 1000001, -EBADMSG);
	CORRUPT_MEMBER(trust_ppm, 2000000, -EBADMSG);
	CORRUPT_MEMBER(load_ppm, UINT32_MAX, -EBADMSG);
	CORRUPT_MEMBER(pid, 0, -EBADMSG);
	CORRUPT_MEMBER(vnode_capacity, 0, -EBADMSG);
	CORRUPT_MEMBER(reserved0, 1, -EPROTO);
	CORRUPT_MEMBER(reserved1, 1, -EPROTO);
	CORRUPT_MEMBER(reserved2, 1, -EPROTO);
	CORRUPT_MEMBER(admission, admission_word(member_word_gen(w), 3, 0, 0, 0), -EBADMSG);
	CORRUPT_MEMBER(admission, admission_word(member_word_gen(w), 1, 3, 0, 0), -EBADMSG);
	CORRUPT_MEMBER(admission, admission_word(member_word_gen(w), 2, 0, 0, 99), -EBADMSG);
	CORRUPT_MEMBER(admission, admission_word(member_word_gen(w), 2, 0, 9, 2), -EBADMSG);
	CORRUPT_MEMBER(admission, admission_word(member_word_gen(w), 0x12, 0, 0, 2), -EBADMSG);
	CORRUPT_MEMBER(admission, admission_word(member_word_gen(w), 0x41, 0, 0, 0), -EBADMSG);
	CORRUPT_MEMBER(reserved3, 1, -EPROTO);
	CORRUPT_MEMBER(reserved5[3], 1, -EPROTO);
	/* The attach word: this generation's, or claimed for the next by a joiner about to
	 * take the slot; never further ahead. */
	CORRUPT_MEMBER(attached, ((uint64_t)(member_word_gen(w) + 2) << 32) | 1, -EBADMSG);
	CORRUPT_MEMBER(attached, ((uint64_t)(member_word_gen(w) + 1) << 32) | 1, 0);
	CORRUPT_MEMBER(reserved4[0], 1, -EPROTO);
	/* The counting words (core/tally.c): nothing beyond what they define, never ahead of
	 * the slot's generation, a census within the limits. */
	CORRUPT_MEMBER(tally, tally_word(member_word_gen(w), 0) | (UINT64_C(1) << 7), -EBADMSG);
	CORRUPT_MEMBER(tally, tally_word(member_word_gen(w) + 1, 0), -EBADMSG);
	CORRUPT_MEMBER(repair_owned, repair_owned_word(member_word_gen(w) + 1, 0), -EBADMSG);
	CORRUPT_MEMBER(repair_owned, repair_owned_word(member_word_gen(w), 9), -EBADMSG);
	CORRUPT_MEMBER(tally, tally_word(member_word_gen(w), TALLY_COUNTED_MASK), 0);
	CORRUPT_MEMBER(repair_owned, repair_owned_word(member_word_gen(w), 8), 0);
}

/* Each fact of a generation only in the states a correct writer leaves it in. */
static void test_validate_member_facts(void **state)
{
	static const struct {
		uint32_t state;
		uint64_t flags;
		int want;
	} cases[] = {
		{PF_MEMBER_ACTIVE, 0, -EBADMSG}, /* live without having joined */
		{PF_MEMBER_DRAINING, MEMBER_FLAG_RETIRE, -EBADMSG},
		{PF_MEMBER_JOINING, MEMBER_FLAG_JOINED, -EBADMSG}, /* a member back to joining */
		{PF_MEMBER_JOINING, MEMBER_FLAG_REFUSED | MEMBER_FLAG_AWAIT, -EBADMSG},
		{PF_MEMBER_ACTIVE, MEMBER_FLAG_JOINED | MEMBER_FLAG_REFUSED, -EBADMSG},
		{PF_MEMBER_RETIRED, MEMBER_FLAG_REFUSED, -EBADMSG},
		{PF_MEMBER_DRAINING, MEMBER_FLAG_JOINED | MEMBER_FLAG_DRAINED, -EBADMSG},
		{PF_MEMBER_FREE, MEMBER_FLAG_DRAINED, -EBADMSG}, /* drained, never joined */
		{PF_MEMBER_DEAD, MEMBER_FLAG_JOINED | MEMBER_FLAG_DRAINED, -EBADMSG},
		{PF_MEMBER_JOINING, MEMBER_FLAG_HUNG, -EBADMSG}, /* judged hung, never joined */
		{PF_MEMBER_DEAD, MEMBER_FLAG_JOINED | MEMBER_FLAG_HUNG,
		 -EBADMSG}, /* not dead hung */
		{PF_MEMBER_ACTIVE, MEMBER_FLAG_JOINED, 0},
		{PF_MEMBER_DRAINING, MEMBER_FLAG_JOINED | MEMBER_FLAG_RETIRE, 0},
		{PF_MEMBER_FREE, MEMBER_FLAG_JOINED, 0}, /* left */
		{PF_MEMBER_RETIRED, MEMBER_FLAG_JOINED | MEMBER_FLAG_DRAINED, 0},
		{PF_MEMBER_JOINING, MEMBER_FLAG_REFUSED, 0},
		{PF_MEMBER_FREE, MEMBER_FLAG_REFUSED, 0},
		{PF_MEMBER_DEAD, MEMBER_FLAG_REFUSED, 0},
		{PF_MEMBER_DEAD, MEMBER_FLAG_JOINED | MEMBER_FLAG_REPAIRED, 0},
		{PF_MEMBER_ACTIVE, MEMBER_FLAG_JOINED | MEMBER_FLAG_HUNG, 0},
		{PF_MEMBER_DRAINING, MEMBER_FLAG_JOINED | MEMBER_FLAG_HUNG, 0},
		{PF_MEMBER_FREE, MEMBER_FLAG_JOINED | MEMBER_FLAG_HUNG,
		 0}, /* left before the kill */
	};
	struct dom_member *rec = &dom->members[slot];
	uint64_t w = atomic_load(&rec->state);

	(void)state;
	for (size_t i = 0; i < PF_ARRAY_SIZE(cases); i++) {
		uint32_t cause = cases[i].state == PF_MEMBER_DEAD ? PF_DEATH_EXITED : 0;

		atomic_store(&rec->state, member_word(member_word_gen(w), cases[i].state, cause,
						      cases[i].flags));
		assert_int_equal(member_record_check(dom, slot), cases[i].want);
	}
	atomic_store(&rec->state, member_word(member_word_gen(w), PF_MEMBER_DEAD, PF_DEATH_HUNG,
					      MEMBER_FLAG_JOINED | MEMBER_FLAG_HUNG));
	assert_int_equal(member_record_check(dom, slot), 0); /* judged hung, died hung */
	atomic_store(&rec->state, w);
	assert_int_equal(member_record_check(dom, slot), 0);
}

static void test_validate_vnode_each_field(void **state)
{
	struct dom_vnode *v = &dom->vnodes[3];
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	uint64_t w = atomic_load(&dom->own[3]);
	uint64_t c = atomic_load(&v->ckpt);

	(void)state;
	assert_int_equal(vnode_record_check(dom, 3), 0);
	assert_int_equal(pf_vnode_info(dom, 3, &vi), 0);
	/* Ownership word: unknown state; owner slot past members_max. */
	atomic_store(&dom->own[3], (w & ~(uint64_t)OWN_STATE_MASK) | 9);
	assert_int_equal(vnode_record_check(dom, 3), -EBADMSG);
	assert_int_equal(pf_vnode_info(dom, 3, &vi), -EBADMSG);
	atomic_store(&dom->own[3], own_word(PF_VNODE_ACTIVE, 4, own_gen(w), own_epoch(w)));
	assert_int_equal(vnode_record_check(dom, 3), -EBADMSG);
	atomic_store(&dom->own[3], w);
	/* Checkpoint descriptor sealed by an epoch nobody owned. */
	atomic_store(&v->ckpt, ckpt_word(own_epoch(w) + 1, 0, CKPT_BUF_NONE));
	assert_int_equal(vnode_record_check(dom, 3), -EBADMSG);
	/* Checkpoint descriptor naming a buffer past the pool. */
	atomic_store(&v->ckpt, ckpt_word(own_epoch(w), 0, dom->lim.ckpt_bufs));
	assert_int_equal(vnode_record_check(dom, 3), -EBADMSG);
	atomic_store(&v->ckpt, c);
	/* Inbox positions far apart. */
	atomic_store(&v->inbox_tail, 1000);
	assert_int_equal(vnode_record_check(dom, 3), -EBADMSG);
	atomic_store(&v->inbox_tail, 0);
	v->home_node = -5;
	assert_int_equal(vnode_record_check(dom, 3), -EBADMSG);
	v->home_node = -1;
	v->caps[1] = 1;
	assert_int_equal(vnode_record_check(dom, 3), -EBADMSG);
	v->caps[1] = 0;
	atomic_store(&v->pending_reason, 99);
	assert_int_equal(vnode_record_check(dom, 3), -EBADMSG);
	atomic_store(&v->pending_reason, 0);
	/* Move request: reserved bits set; a target slot past members_max; a stale or
	 * valid request for a real slot is fine. */
	atomic_store(&v->move_req, UINT64_C(1) << 2);
	assert_int_equal(vnode_record_check(dom, 3), -EPROTO);
	assert_int_equal(pf_vnode_info(dom, 3, &vi), -EPROTO);
	atomic_store(&v->move_req, move_word(own_epoch(w), 4, 1));
	assert_int_equal(vnode_record_check(dom, 3), -EBADMSG);
	atomic_store(&v->move_req, move_word(own_epoch(w), 4, 1) & ~MOVE_VALID);
	assert_int_equal(vnode_record_check(dom, 3), 0);
	atomic_store(&v->move_req, move_word(own_epoch(w) + 7, slot, 1));
	assert_int_equal(vnode_record_check(dom, 3), 0);
	atomic_store(&v->move_req, 0);
	assert_int_equal(vnode_record_check(dom, 3), 0);
	assert_int_equal(pf_vnode_info(dom, 3, &vi), 0);
	assert_int_equal(vi.owner_slot, slot);
	(void)vn;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_validate_member_each_field, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_member_facts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_validate_vnode_each_field, setup, teardown),
	};

	return cmocka_run_group_tests_name("core_validate", tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/tools/test_tools_held.c
 * Goal: the tools count VNodes per member one way (tools/common/held.c): a VNode counts on
 * the member that owns it, adopted or not, while ACTIVE and while MIGRATING or DRAINING
 * off it; a VNode whose ownership names the slot's earlier generation (a dead
 * predecessor's, not yet repaired) counts on nobody, not on the slot's new member; PENDING
 * VNodes count nowhere.
 * Method: one member joined from this thread, VNodes placed by the scheduler; ownership
 * words then forged in place (the states a crash and a hand-off leave).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "core/member_impl.h"
#include "held.h"
#include "pflight/pflight.h"
#include "tests/common/test_util.h"

#define VNODES 6u
#define SLOTS 4u

static void test_held_counts_current_owner(void **state)
{
	struct pf_domain_opts o;
	struct pf_member_opts mo;
	struct pf_member_info mi = {.size = sizeof(mi)};
	struct pf_domain *dom;
	struct pf_member *m;
	struct pf_sched *s;
	uint32_t held[SLOTS], slot, gen, epoch;
	char name[64];

	(void)state;
	test_domain_name(name, sizeof(name), "held");
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = SLOTS;
	o.vnodes_max = VNODES;
	assert_int_equal(pf_domain_create(name, &o, &dom), 0);
	pf_member_opts_init(&mo);
	assert_int_equal(pf_member_join(dom, &mo, &m), 0);
	slot = (uint32_t)pf_member_id(m);
	assert_int_equal(pf_member_info(dom, slot, &mi), 0);
	gen = mi.generation;
	assert_int_equal(pf_vnode_define_range(dom, 0, VNODES, NULL), VNODES);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	assert_int_equal(pf_sched_run(s, VNODES - 1), VNODES - 1); /* the last stays PENDING */
	pf_sched_destroy(s);
	assert_int_equal(held_count(dom, VNODES, held, SLOTS), VNODES - 1);
	assert_int_equal(held[slot], VNODES - 1);
	/* VNode 0: its owner's predecessor in the slot; 1: migrating; 2: draining.
	 * Relaxed: single-threaded set-up (the test forges what a crash and a hand-off leave). */
	epoch = own_epoch(pf_load_relaxed(&dom->own[0]));
	pf_store_relaxed(&dom->own[0], own_word(PF_VNODE_ACTIVE, slot, gen - 1, epoch));
	pf_store_relaxed(&dom->own[1], own_word(PF_VNODE_MIGRATING, slot, gen, epoch));
	pf_store_relaxed(&dom->own[2], own_word(PF_VNODE_DRAINING, slot, gen, epoch));
	memset(held, 0xff, sizeof(held));
	assert_int_equal(held_count(dom, VNODES, held, SLOTS), VNODES - 2);
	assert_int_equal(held[slot], VNODES - 2);
	for (uint32_t i = 0; i < SLOTS; i++)
		if (i != slot)
			assert_int_equal(held[i], 0);
	(void)pf_member_leave(m);
	assert_int_equal(pf_domain_destroy(dom), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_held_counts_current_owner),
	};

	return cmocka_run_group_tests_name("tools_held", tests, NULL, NULL);
}

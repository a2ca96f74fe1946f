/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/core/test_core_tally.c
 * Goal: the membership counters of core/tally.c count every event of a generation exactly
 * once: when it happens (from the facts in the state word), and again after a joiner
 * folded it into the counter words and took the slot; and a death between any two
 * instructions of a fold, of a census or of a transition (left as the words it leaves)
 * loses nothing and doubles nothing, whether a reader, the next joiner or a fold of
 * another slot comes next.
 * Method: members joined from this thread (member_join_as() picks the slot), deaths
 * through supervisor_declare_dead(), the gate through pf_admission_decide() on a slot a
 * simulated joiner put in AWAIT; the words a process killed mid-step would leave are
 * written as it would have left them. Every check reads pf_domain_counters() and
 * pf_domain_membership().
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
#include "pflight/pflight.h"
#include "shm/fault.h"
#include "tests/common/test_util.h"

static struct pf_domain *dom;
static struct pf_supervisor *sup;
static uint64_t want[PF_COUNTER_COUNT];

static int setup(void **state)
{
	struct pf_domain_opts o;
	char name[64];

	(void)state;
	test_domain_name(name, sizeof(name), "tally");
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = 4;
	o.vnodes_max = 8;
	o.slot_grace_ns = 0;
	memset(want, 0, sizeof(want));
	if (pf_domain_create(name, &o, &dom) != 0 || pf_supervisor_create(dom, NULL, &sup) != 0)
		return -1;
	return pf_vnode_define_range(dom, 0, 8, NULL) == 8 ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	pf_supervisor_destroy(sup);
	return pf_domain_destroy(dom);
}

/* Every counter is what the steps so far did, and members_active what the table says. */
static void check(uint32_t live)
{
	uint64_t v[PF_COUNTER_COUNT];

	assert_int_equal(pf_domain_counters(dom, v, PF_COUNTER_COUNT), PF_COUNTER_COUNT);
	for (uint32_t i = 0; i <= PF_COUNTER_SLOTS_FREED; i++) {
		if (v[i] != want[i])
			print_error("%s: %llu, want %llu\n", pf_counter_name(i),
				    (unsigned long long)v[i], (unsigned long long)want[i]);
		assert_int_equal(v[i], want[i]);
	}
	assert_int_equal(pf_domain_membership(dom, NULL), live);
}

static struct pf_member *join_at(uint32_t slot)
{
	struct member_as as = {.identity_key = 0x77, .slot_start = slot};
	struct pf_member *m;

	assert_int_equal(member_join_as(dom, NULL, &as, &m), 0);
	assert_int_equal((uint32_t)pf_member_id(m), slot);
	return m;
}

/* A join in a slot used before: the join, and the slot taken again. */
static struct pf_member *rejoin_at(uint32_t slot)
{
	struct pf_member *m = join_at(slot);

	want[PF_COUNTER_JOINS]++;
	want[PF_COUNTER_SLOTS_FREED]++;
	check(1);
	return m;
}

/* The member leaves by itself. */
static void leave(struct pf_member *m)
{
	assert_int_equal(pf_member_leave(m), 0);
	want[PF_COUNTER_LEAVES]++;
	check(0);
}

static uint32_t gen_of(const struct pf_member *m)
{
	return (uint32_t)(pf_member_id(m) >> 32);
}

static uint64_t word(uint32_t slot)
{
	return atomic_load(&dom->members[slot].state);
}

/* What a joiner does to a slot up to waiting at the gate: fold, take, AWAIT. */
static uint32_t simulated_await(uint32_t slot)
{
	uint64_t w = word(slot);
	uint32_t gen = member_word_gen(w) + 1;

	assert_int_equal(tally_fold(dom, slot, w), 0);
	atomic_store(&dom->members[slot].state,
		     member_word(gen, PF_MEMBER_JOINING, 0, MEMBER_FLAG_AWAIT));
	return gen;
}

static void decide(uint32_t slot, uint32_t gen, int allowed)
{
	struct pf_policy_verdict v = {.size = sizeof(v),
				      .allowed = (uint32_t)allowed,
				      .rule = PF_POLICY_NO_RULE,
				      .check = allowed ? PF_POLICY_ALLOWED : PF_POLICY_UIDS};

	assert_int_equal(pf_admission_decide(dom, slot, gen, &v, 400000, 0), 0);
}

static int refuse_hook(void *arg, const struct pf_member_identity *id, const char *const *caps,
		       uint32_t count)
{
	(void)arg;
	(void)id;
	(void)caps;
	(void)count;
	return -EPERM;
}

/* Join, leave, die (hung, with VNodes), drain away, refusals and an admission that never
 * woke: each counted once when it happens, and still once after the slot is taken again. */
static void test_tally_each_transition_once(void **state)
{
	struct pf_drain_report rep = {.size = sizeof(rep)};
	struct pf_member_opts o;
	struct pf_member *m;
	struct pf_vnode *v;
	struct pf_sched *s;
	uint32_t gen;

	(void)state;
	check(0);
	m = join_at(1);
	want[PF_COUNTER_JOINS]++;
	check(1);
	assert_int_equal(pf_vnode_claim_id(m, 0, &v), 0); /* by id: no placement round */
	assert_int_equal(pf_vnode_claim_id(m, 1, &v), 0);
	assert_int_equal(supervisor_declare_dead(sup, 1, gen_of(m), PF_DEATH_HUNG), 2);
	want[PF_COUNTER_HUNG]++;
	want[PF_COUNTER_REPAIRS]++;
	want[PF_COUNTER_VNODES_REPAIRED] += 2;
	check(0);
	assert_int_equal(pf_member_leave(m), -ESTALE);
	check(0);
	m = rejoin_at(1); /* folds the dead generation */
	leave(m);
	m = rejoin_at(1);
	/* Drained away: neither a leave nor a death; its own leave then changes nothing. */
	assert_int_equal(pf_member_cordon(dom, 1, 0), 0);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	assert_int_equal(pf_sched_drain_step(s, 1, NULL, &rep), 0);
	assert_true(rep.done);
	pf_sched_destroy(s);
	check(0);
	assert_int_equal(pf_member_leave(m), 0);
	check(0);
	/* Refused by the can-register hook: no slot, counted by the refused caller. */
	pf_member_opts_init(&o);
	o.can_register = refuse_hook;
	assert_int_equal(pf_member_join(dom, &o, &m), -EPERM);
	want[PF_COUNTER_JOIN_REFUSED]++;
	check(0);
	/* Refused at the gate: the gatekeeper's CAS is the event. */
	gen = simulated_await(1);
	want[PF_COUNTER_SLOTS_FREED]++;
	check(0);
	decide(1, gen, 0);
	want[PF_COUNTER_JOIN_REFUSED]++;
	check(0);
	assert_int_equal(member_word_state(word(1)), PF_MEMBER_JOINING);
	assert_true((word(1) & MEMBER_FLAG_REFUSED) != 0);
	atomic_store(&dom->members[1].state,
		     member_word(gen, PF_MEMBER_FREE, 0, MEMBER_FLAG_REFUSED));
	check(0);
	/* Admitted, and declared dead before it ever woke: a member that joined and died. */
	gen = simulated_await(1);
	want[PF_COUNTER_SLOTS_FREED]++;
	decide(1, gen, 1);
	want[PF_COUNTER_JOINS]++;
	check(1);
	assert_int_equal(supervisor_declare_dead(sup, 1, gen, PF_DEATH_EXITED), 0);
	want[PF_COUNTER_DEATHS]++;
	want[PF_COUNTER_REPAIRS]++;
	check(0);
	/* Everything above folded into the counter words, once more: nothing moves. */
	m = rejoin_at(1);
	for (uint32_t k = 0; k < TALLY_EVENTS; k++)
		assert_int_equal(atomic_load(&dom->ctl->counters[k]) >> TALLY_COUNT_SHIFT,
				 want[k] - (k == PF_COUNTER_JOINS));
	assert_int_equal(pf_member_leave(m), 0);
}

/* Slot `slot` as a generation that joined and left would leave it, tally word on `tally`. */
static void left_generation(uint32_t slot, uint32_t gen, uint64_t tally)
{
	atomic_store(&dom->members[slot].state,
		     member_word(gen, PF_MEMBER_FREE, 0, MEMBER_FLAG_JOINED));
	atomic_store(&dom->members[slot].tally, tally);
}

/* A fold killed after each of its instructions: a reader counts the generation once, the
 * next joiner finishes the fold without adding twice, a fold of another slot that meets
 * the dead folder's tag keeps its evidence (helping), and a stale folder does nothing. */
static void test_tally_death_mid_fold(void **state)
{
	_Atomic uint64_t *joins = &dom->ctl->counters[PF_COUNTER_JOINS];

	(void)state;
	left_generation(0, 5, tally_word(4, TALLY_COUNTED_MASK)); /* not folded yet */
	want[PF_COUNTER_JOINS] = want[PF_COUNTER_LEAVES] = 1;
	want[PF_COUNTER_SLOTS_FREED] = 4;
	check(0);
	/* Killed after the begin (tally word on 5, nothing added). */
	atomic_store(&dom->members[0].tally, tally_word(5, 0));
	check(0);
	/* Killed after the CAS that added the join, before its mark. */
	atomic_store(joins, (UINT64_C(1) << TALLY_COUNT_SHIFT) | TALLY_TAGGED | 0);
	check(0);
	/* Another slot's generation folds its join: it keeps slot 0's evidence first. */
	left_generation(2, 3, 0);
	want[PF_COUNTER_JOINS]++;
	want[PF_COUNTER_LEAVES]++;
	want[PF_COUNTER_SLOTS_FREED] += 2;
	check(0);
	assert_int_equal(tally_fold(dom, 2, word(2)), 0);
	check(0);
	assert_true((atomic_load(&dom->members[0].tally) & (UINT64_C(1) << PF_COUNTER_JOINS)) != 0);
	assert_int_equal(atomic_load(joins) >> TALLY_COUNT_SHIFT, 2);
	/* The next joiner of slot 0 finishes its fold: the leave only. Twice: no change. */
	assert_int_equal(tally_fold(dom, 0, word(0)), 0);
	assert_int_equal(tally_fold(dom, 0, word(0)), 0);
	check(0);
	assert_int_equal(atomic_load(&dom->members[0].tally), tally_word(5, 3));
	assert_int_equal(atomic_load(joins) >> TALLY_COUNT_SHIFT, 2);
	/* Slot 0 taken and left again: the tags its last fold left are erased, not believed. */
	leave(rejoin_at(0));
	assert_int_equal(tally_fold(dom, 0, word(0)), 0);
	check(0);
	assert_int_equal(atomic_load(joins) >> TALLY_COUNT_SHIFT, 3);
	/* A stale folder of generation 5 (the slot is on 6 now): nothing. */
	assert_int_equal(tally_fold(dom, 0, member_word(5, PF_MEMBER_FREE, 0, MEMBER_FLAG_JOINED)),
			 0);
	check(0);
}

/* A supervisor killed after its DEAD CAS, and one killed after its census: the next
 * repair counts the VNodes once, the death once, the repair once. */
static void test_tally_death_mid_repair(void **state)
{
	struct pf_member *m;
	struct pf_vnode *v;
	uint64_t w, owned[2] = {0, 0};
	uint32_t gen;

	(void)state;
	m = join_at(3);
	gen = gen_of(m);
	for (uint32_t i = 0; i < 3; i++) /* by id: no placement round */
		assert_int_equal(pf_vnode_claim_id(m, i, &v), 0);
	want[PF_COUNTER_JOINS]++;
	check(1);
	/* The DEAD CAS of a supervisor that died right after it. */
	w = word(3);
	atomic_store(&dom->members[3].state,
		     member_word(gen, PF_MEMBER_DEAD, PF_DEATH_EXITED, member_word_facts(w)));
	want[PF_COUNTER_DEATHS]++;
	check(0);
	/* The next one counted what it owns (and listed it) and died before returning any. */
	assert_int_equal(tally_repair_census(dom, 3, gen, owned), 1);
	assert_true(owned[0] == 7 && owned[1] == 0);
	want[PF_COUNTER_VNODES_REPAIRED] += 3;
	check(0);
	/* A third finishes: the census stands, the VNodes go back, the slot is repaired. */
	assert_int_equal(pf_supervisor_check(sup), 1);
	want[PF_COUNTER_REPAIRS]++;
	check(0);
	assert_int_equal(tally_repair_census(dom, 3, gen, NULL), 0); /* late and stale */
	check(0);
	assert_int_equal(pf_member_leave(m), -ESTALE);
	leave(rejoin_at(3));
}

/* A census word out of bounds (a foreign writer's) is counted invalid where it is acted
 * on, not once more on every read of the counters for as long as it stays. */
static void test_tally_bad_census_counted_once(void **state)
{
	uint64_t v[PF_COUNTER_COUNT], first;
	struct pf_member *m;

	(void)state;
	m = join_at(2);
	want[PF_COUNTER_JOINS]++;
	atomic_store(&dom->members[2].repair_owned, repair_owned_word(gen_of(m), 1000));
	assert_int_equal(pf_domain_counters(dom, v, PF_COUNTER_COUNT), PF_COUNTER_COUNT);
	first = v[PF_COUNTER_SHM_INVALID];
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pf_domain_counters(dom, v, PF_COUNTER_COUNT), PF_COUNTER_COUNT);
		assert_int_equal(v[PF_COUNTER_SHM_INVALID], first);
	}
	atomic_store(&dom->members[2].repair_owned, 0);
	leave(m);
}

#if PF_FAULT_INJECTION
/* The joiner waiting at the gate of slot 1 gives up and joins without a decision, while
 * the gatekeeper is between its writes and its CAS. */
static void give_up_hook(void *arg, enum fault_point point)
{
	uint32_t gen = *(const uint32_t *)arg;
	uint64_t w = member_word(gen, PF_MEMBER_JOINING, 0, MEMBER_FLAG_AWAIT);

	(void)point;
	assert_true(atomic_compare_exchange_strong(&dom->members[1].state, &w,
						   member_word(gen, PF_MEMBER_JOINING, 0, 0)));
	atomic_store(&dom->members[1].state,
		     member_word(gen, PF_MEMBER_ACTIVE, 0, MEMBER_FLAG_JOINED));
}
#endif

/* A gatekeeper whose decision loses to the joiner's giving up leaves no decision in the
 * record of the member the joiner became: neither a refusal, nor a grant with its trust. */
static void test_tally_late_decision_taken_back(void **state)
{
#if PF_FAULT_INJECTION
	struct pf_policy_verdict v = {.size = sizeof(v), .rule = PF_POLICY_NO_RULE};
	uint32_t gen;
	uint64_t a;

	(void)state;
	fault_set_hook(FAULT_ADMISSION_BEFORE_SETTLE, give_up_hook, &gen);
	for (int allowed = 0; allowed <= 1; allowed++) {
		gen = simulated_await(1);
		atomic_store(&dom->members[1].trust_ppm, 500000);
		v.allowed = (uint32_t)allowed;
		v.check = allowed ? PF_POLICY_ALLOWED : PF_POLICY_UIDS;
		assert_int_equal(pf_admission_decide(dom, 1, gen, &v, 400000, 0), -ESTALE);
		a = atomic_load(&dom->members[1].admission);
		assert_true(a == 0 || admission_gen(a) != gen);
		assert_int_equal(atomic_load(&dom->members[1].trust_ppm), 500000);
		/* The member it became leaves. */
		atomic_store(&dom->members[1].state,
			     member_word(gen, PF_MEMBER_FREE, 0, MEMBER_FLAG_JOINED));
		want[PF_COUNTER_JOINS]++;
		want[PF_COUNTER_LEAVES]++;
		want[PF_COUNTER_SLOTS_FREED] = gen - 1; /* only slot 1 was taken again */
		check(0);
	}
	fault_set_hook(FAULT_ADMISSION_BEFORE_SETTLE, NULL, NULL);
#else
	(void)state; /* built without fault points: nothing to stall */
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tally_each_transition_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tally_death_mid_fold, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tally_death_mid_repair, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tally_bad_census_counted_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_tally_late_decision_taken_back, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("core_tally", tests, NULL, NULL);
}

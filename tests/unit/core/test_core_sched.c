/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/core/test_core_sched.c
 * Goal: the scheduler places exactly as its strategies' formulas say, never on a member
 * that lacks a capability or sits under the trust floor, never on a member at its bounded
 * load while another could take the VNode (a property over random placement sequences,
 * every strategy), lets no failure history starve a member, explains every decision,
 * leaves unplaceable VNodes PENDING with a visible reason, gives identical decisions
 * for identical inputs (replay), takes no member's own count of its VNodes beyond what
 * the domain has, and, when the bound yields, asks no hook twice and lists the members as
 * the decision judges them. Method: members joined from this thread (each holds its
 * own robust futex), attributes set through the API (reliability through failures
 * recorded for an identity key); the expected winner of each decision is recomputed here
 * from the published formulas and compared.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/domain_impl.h"
#include "core/member_impl.h"
#include "pflight/pflight.h"
#include "tests/common/test_history.h"
#include "tests/common/test_util.h"

#define MEMBERS_MAX 16

static char name[64];
static struct pf_domain *dom;
static struct pf_member *mem[MEMBERS_MAX];
static uint32_t nmem;
static uint32_t ring_slots = 4096; /* assign_slots of the next domain make() creates */

static void make(uint32_t strategy, uint32_t vnodes, uint64_t seed)
{
	struct pf_domain_opts o;

	test_domain_name(name, sizeof(name), "sched");
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = MEMBERS_MAX;
	o.vnodes_max = vnodes;
	o.sched_strategy = strategy;
	o.sched_seed = seed;
	o.assign_slots = ring_slots;
	assert_int_equal(pf_domain_create(name, &o, &dom), 0);
	nmem = 0;
}

static void destroy(void)
{
	for (uint32_t i = 0; i < nmem; i++)
		(void)pf_member_leave(mem[i]);
	assert_int_equal(pf_domain_destroy(dom), 0);
}

static uint32_t add_member(const char *const *caps, uint32_t ncaps, uint32_t capacity)
{
	struct pf_member_opts o;

	pf_member_opts_init(&o);
	o.caps = caps;
	o.caps_count = ncaps;
	o.vnode_capacity = capacity;
	assert_int_equal(pf_member_join(dom, &o, &mem[nmem]), 0);
	return (uint32_t)pf_member_id(mem[nmem++]);
}

static int teardown(void **state)
{
	(void)state;
	return 0;
}

/* The bounded-load check as sched.h states it: a member may take one more VNode when
 * assigned + 1 <= ceil((1 + eps) x total x capacity / capacity_sum), exactly. */
static int within_bound(uint64_t assigned, uint64_t capacity, uint64_t total, uint64_t cap_sum,
			uint64_t eps_ppm)
{
	return assigned * PF_PPM * cap_sum < (PF_PPM + eps_ppm) * total * capacity;
}

/* trust-weighted: each decision goes to argmax w / (w + assigned / capacity) among the
 * members within their bound, with w = max(trust / best trust, 1 / 1.25) (reliability 1
 * for all). */
static void test_sched_trust_weighted_follows_formula(void **state)
{
	static const uint32_t trust[3] = {1000000, 900000, 250000};
	uint32_t slot[3], assigned[3] = {0, 0, 0};
	struct pf_sched_decision dec = {.size = sizeof(dec)};
	struct pf_sched *s;

	(void)state;
	make(PF_SCHED_TRUST_WEIGHTED, 256, 1);
	for (int i = 0; i < 3; i++) {
		slot[i] = add_member(NULL, 0, 100);
		assert_int_equal(pf_member_set_trust(dom, slot[i], trust[i]), 0);
	}
	assert_int_equal(pf_vnode_define_range(dom, 0, 200, NULL), 200);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	for (uint32_t v = 0; v < 200; v++) {
		double score[3], best = -1;
		int won = -1;

		for (int i = 0; i < 3; i++) {
			double w = fmax(trust[i] / 1e6, 1.0 / 1.25);

			score[i] = w / (w + assigned[i] / 100.0);
			if (within_bound(assigned[i], 100, v + 1, 300, 250000))
				best = score[i] > best ? score[i] : best;
		}
		assert_int_equal(pf_sched_place(s, v, &dec), 0);
		assert_int_equal(dec.reason, PF_SCHED_PLACED);
		for (int i = 0; i < 3; i++)
			if (dec.winner_slot == slot[i])
				won = i;
		/* The winner has the best score of those within their bound (ties go to the
		 * seed's hash). */
		assert_true(won >= 0);
		assert_true(fabs(score[won] - best) < 1e-12);
		assert_true(fabs(dec.score - best) < 1e-9);
		assert_true(fabs(dec.trust - trust[won] / 1e6) < 1e-9);
		assert_int_equal(dec.epoch, 1);
		assigned[won]++;
	}
	/* The more trusted, the more VNodes, in proportion to the weights 1 : 0.9 : 0.8 (the
	 * last floored at 1 / 1.25: a quarter of the first's trust gives four fifths of its
	 * share). */
	assert_true(assigned[0] > assigned[1] && assigned[1] > assigned[2]);
	assert_true(fabs((double)assigned[2] / assigned[0] - 0.8) < 0.03);
	assert_true(fabs((double)assigned[1] / assigned[0] - 0.9) < 0.03);
	assert_int_equal(pf_sched_place(s, 5, &dec), -EBUSY); /* already placed */
	pf_sched_destroy(s);
	destroy();
}

static void test_sched_bin_packing_and_agent(void **state)
{
	struct pf_sched_decision dec = {.size = sizeof(dec)};
	uint32_t busy, idle, counts[2] = {0, 0};
	struct pf_sched *s;

	(void)state;
	make(PF_SCHED_BIN_PACKING, 64, 2);
	busy = add_member(NULL, 0, 100);
	idle = add_member(NULL, 0, 100);
	assert_int_equal(pf_member_report_load(mem[0], 800000, 600000), 0);
	assert_int_equal(pf_member_report_load(mem[0], PF_PPM + 1, 0), -EINVAL);
	assert_int_equal(pf_vnode_define_range(dom, 0, 40, NULL), 40);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	assert_int_equal(pf_sched_explain_subscribe(dom), 0);
	for (uint32_t v = 0; v < 40; v++) {
		assert_int_equal(pf_sched_place(s, v, &dec), 0);
		counts[dec.winner_slot == idle]++;
		/* Whenever the busy one wins, the idle one was at its bound. */
		assert_int_equal(dec.filtered[PF_SCHED_FILTERED_BOUND], dec.winner_slot == busy);
	}
	/* free(busy) = 0.2 + 0.4 - 2k/100; free(idle) = 2 - 2k/100: idle wins every score,
	 * but not past its bound, ceil(1.25 x 40 / 2) = 25. */
	assert_int_equal(counts[1], 25);
	{
		/* The explanation ring tells the bound apart, as placements saw it. */
		struct pf_sched_decision seen[64];
		uint64_t cursor = 0, seqs[64];
		int n = pf_sched_explain_read(dom, &cursor, seen, 64, seqs);
		uint32_t bound = 0;

		assert_int_equal(n, 40);
		for (int i = 0; i < n; i++)
			bound += seen[i].filtered[PF_SCHED_FILTERED_BOUND];
		assert_int_equal(bound, counts[0]);
	}
	pf_sched_explain_unsubscribe(dom);
	pf_sched_destroy(s);
	destroy();

	make(PF_SCHED_AGENT, 64, 3);
	add_member(NULL, 0, 100);
	add_member(NULL, 0, 100);
	assert_int_equal(pf_vnode_define_range(dom, 0, 41, NULL), 41);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	counts[0] = counts[1] = 0;
	for (uint32_t v = 0; v < 41; v++) {
		assert_int_equal(pf_sched_place(s, v, &dec), 0);
		counts[dec.winner_slot == (uint32_t)pf_member_id(mem[1])]++;
	}
	/* reliability / (1 + tasks) with equal reliability: they alternate. */
	assert_true(counts[0] == 20 || counts[0] == 21);
	pf_sched_destroy(s);
	destroy();
}

static int refuse_slot(void *arg, uint32_t vnode, uint32_t slot)
{
	(void)vnode;
	return slot == *(uint32_t *)arg ? -EPERM : 0;
}

/* Property: random members and requirements; a placed VNode's owner always covers its
 * capabilities, has trust >= the floor and was not refused by the hook; an unplaced one
 * has no such member. */
static void test_sched_filters_property(void **state)
{
	static const char *const names[] = {"a", "b", "c", "d"};
	const char *pick[4];
	struct pf_sched_decision dec = {.size = sizeof(dec)};
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	struct pf_member_info mi = {.size = sizeof(mi)};
	struct pf_sched_opts so;
	struct pf_sched *s;
	uint32_t refused, placed = 0, trust[10];
	unsigned seed = 12345;

	(void)state;
	make(PF_SCHED_TRUST_WEIGHTED, 512, 4);
	assert_int_equal(pf_sched_configure(dom, PF_SCHED_TRUST_WEIGHTED, 400000, 250000), 0);
	for (int i = 0; i < 10; i++) {
		uint32_t n = 0, slot;

		for (int c = 0; c < 4; c++)
			if (rand_r(&seed) % 2)
				pick[n++] = names[c];
		slot = add_member(pick, n, 50);
		trust[i] = (uint32_t)(rand_r(&seed) % PF_PPM);
		assert_int_equal(pf_member_set_trust(dom, slot, trust[i]), 0);
	}
	refused = (uint32_t)pf_member_id(mem[3]);
	pf_sched_opts_init(&so);
	so.can_assign = refuse_slot;
	so.policy_arg = &refused;
	so.flags = 0x1; /* none is defined */
	assert_int_equal(pf_sched_create(dom, &so, &s), -EINVAL);
	so.flags = 0;
	so.reserved[1] = 1;
	assert_int_equal(pf_sched_create(dom, &so, &s), -EINVAL);
	so.reserved[1] = 0;
	assert_int_equal(pf_sched_create(dom, &so, &s), 0);
	for (uint32_t v = 0; v < 300; v++) {
		struct pf_vnode_spec spec;
		uint32_t n = 0;
		int r;

		for (int c = 0; c < 4; c++)
			if (rand_r(&seed) % 4 == 0)
				pick[n++] = names[c];
		pf_vnode_spec_init(&spec);
		spec.caps = pick;
		spec.caps_count = n;
		assert_int_equal(pf_vnode_define(dom, v, &spec), 0);
		r = pf_sched_place(s, v, &dec);
		assert_int_equal(pf_vnode_info(dom, v, &vi), 0);
		if (r == 0) {
			placed++;
			assert_int_equal(pf_member_info(dom, dec.winner_slot, &mi), 0);
			assert_int_equal(vi.owner_slot, dec.winner_slot);
			assert_true((vi.caps[0] & ~mi.caps[0]) == 0 &&
				    (vi.caps[1] & ~mi.caps[1]) == 0);
			assert_true(dec.trust >= 0.4);
			for (uint32_t i = 0; i < nmem; i++)
				if ((uint32_t)pf_member_id(mem[i]) == dec.winner_slot)
					assert_true(trust[i] >= 400000);
			assert_int_not_equal(dec.winner_slot, refused);
			continue;
		}
		assert_int_equal(r, -ENOENT);
		assert_int_equal(vi.state, PF_VNODE_PENDING);
		assert_int_not_equal(vi.pending_reason, PF_SCHED_PLACED);
		/* Brute force: no member could have taken it. */
		for (uint32_t i = 0; i < nmem; i++) {
			uint32_t slot = (uint32_t)pf_member_id(mem[i]);
			int capable;

			assert_int_equal(pf_member_info(dom, slot, &mi), 0);
			capable =
				(vi.caps[0] & ~mi.caps[0]) == 0 && (vi.caps[1] & ~mi.caps[1]) == 0;
			assert_false(capable && trust[i] >= 400000 && slot != refused);
		}
	}
	assert_true(placed > 100);
	pf_sched_destroy(s);
	destroy();
}

static void test_sched_empty_candidates_reason(void **state)
{
	const char *gpu[] = {"gpu"};
	struct pf_sched_decision dec = {.size = sizeof(dec)};
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	struct pf_vnode_spec spec;
	struct pf_sched *s;

	(void)state;
	make(PF_SCHED_TRUST_WEIGHTED, 16, 5);
	assert_int_equal(pf_vnode_define(dom, 0, NULL), 0);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	assert_int_equal(pf_sched_place(s, 0, &dec), -ENOENT);
	assert_int_equal(dec.reason, PF_SCHED_NO_MEMBER);
	assert_int_equal(pf_vnode_info(dom, 0, &vi), 0);
	assert_int_equal(vi.state, PF_VNODE_PENDING);
	assert_int_equal(vi.pending_reason, PF_SCHED_NO_MEMBER);
	add_member(NULL, 0, 10);
	pf_vnode_spec_init(&spec);
	spec.caps = gpu;
	spec.caps_count = 1;
	assert_int_equal(pf_vnode_define(dom, 1, &spec), 0);
	assert_int_equal(pf_sched_place(s, 1, &dec), -ENOENT); /* refreshes: one member now */
	assert_int_equal(dec.reason, PF_SCHED_FILTER_CAPS);
	assert_int_equal(dec.filtered[PF_SCHED_FILTERED_CAPS], 1);
	{
		struct pf_sched_candidate c[4];

		/* The full explanation names the member and the filter that removed it. */
		assert_int_equal(pf_sched_candidates(s, 1, c, 4), 1);
		assert_int_equal(c[0].slot, (uint32_t)pf_member_id(mem[0]));
		assert_int_equal(c[0].verdict, PF_SCHED_FILTER_CAPS);
		assert_int_equal(pf_sched_candidates(s, 0, c, 4), 1);
		assert_int_equal(c[0].verdict, PF_SCHED_PLACED);
		assert_true(c[0].score > 0);
	}
	assert_int_equal(pf_sched_place(s, 0, &dec), 0);
	assert_int_equal(pf_sched_place(s, 2, &dec), -EBUSY); /* not defined */
	assert_string_equal(pf_sched_reason_name(PF_SCHED_FILTER_CAPS), "filter-caps");
	assert_string_equal(pf_sched_strategy_name(PF_SCHED_AGENT), "agent");
	assert_null(pf_sched_strategy_name(9));
	pf_sched_destroy(s);
	destroy();
}

/* Same registry, same seed, same requests: same decisions, for every strategy. */
static void run_sequence(uint32_t strategy, uint32_t *winners, uint32_t n)
{
	static const char *const caps[] = {"x", "y"};
	struct pf_sched_decision dec = {.size = sizeof(dec)};
	struct pf_sched *s;

	make(strategy, 256, 77);
	for (uint32_t i = 0; i < 8; i++)
		add_member(caps, i % 3, 64);
	assert_int_equal(pf_vnode_define_range(dom, 0, n, NULL), (int)n);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	for (uint32_t v = 0; v < n; v++) {
		assert_int_equal(pf_sched_place(s, v, &dec), 0);
		winners[v] = dec.winner_slot;
	}
	pf_sched_destroy(s);
	destroy();
}

static void test_sched_replay_is_identical(void **state)
{
	uint32_t a[200], b[200];

	(void)state;
	for (uint32_t strategy = 0; strategy <= PF_SCHED_AGENT; strategy++) {
		run_sequence(strategy, a, 200);
		run_sequence(strategy, b, 200);
		assert_memory_equal(a, b, sizeof(a));
	}
}

static void test_sched_consistent_hash_bounded(void **state)
{
	struct pf_sched_decision dec = {.size = sizeof(dec)};
	uint32_t counts[MEMBERS_MAX] = {0}, max = 0;
	struct pf_sched *s;

	(void)state;
	make(PF_SCHED_CONSISTENT_HASH, 1024, 9);
	for (int i = 0; i < 10; i++)
		add_member(NULL, 0, 1000);
	assert_int_equal(pf_vnode_define_range(dom, 0, 1000, NULL), 1000);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	for (uint32_t v = 0; v < 1000; v++) {
		assert_int_equal(pf_sched_place(s, v, &dec), 0);
		counts[dec.winner_slot]++;
	}
	for (int i = 0; i < MEMBERS_MAX; i++)
		max = counts[i] > max ? counts[i] : max;
	/* No member above ceil(1.25 x the mean) (mean 100). */
	assert_true(max <= 125);
	pf_sched_destroy(s);
	destroy();
}

/* The bounded-load property's world: who holds what, as the test counts it. */
#define PROP_VNODES 600u
struct prop {
	struct pf_vnode *h[PROP_VNODES];    /* adopted handles; NULL: pending */
	struct pf_member *own[PROP_VNODES]; /* and who adopted each */
	uint32_t cap[MEMBERS_MAX];          /* capacity of mem[i] */
	uint32_t has[MEMBERS_MAX];          /* its capabilities: bit 0 "a", bit 1 "b" */
	uint32_t held[MEMBERS_MAX];         /* VNodes mem[i] holds */
	uint32_t need[PROP_VNODES];         /* what each VNode requires, the same bits */
	uint32_t joined;                    /* members ever joined: slots left stay in grace */
	unsigned seed;
};

static const char *const prop_caps[2] = {"a", "b"};

static void prop_join(struct prop *p)
{
	const char *caps[2];
	uint32_t slot, n = 0;

	p->joined++;
	p->cap[nmem] = 10 + (uint32_t)(rand_r(&p->seed) % 190);
	p->has[nmem] = (uint32_t)rand_r(&p->seed) % 4;
	p->held[nmem] = 0;
	for (uint32_t c = 0; c < 2; c++)
		if (p->has[nmem] & (1u << c))
			caps[n++] = prop_caps[c];
	slot = add_member(caps, n, p->cap[nmem]);
	assert_int_equal(
		pf_member_set_trust(dom, slot, 300000 + (uint32_t)(rand_r(&p->seed) % 700001)), 0);
	assert_int_equal(pf_member_report_load(mem[nmem - 1], (uint32_t)(rand_r(&p->seed) % 500000),
					       (uint32_t)(rand_r(&p->seed) % 500000)),
			 0);
}

/* mem[i] leaves: what it held goes back to PENDING. */
static void prop_leave(struct prop *p, uint32_t i)
{
	for (uint32_t v = 0; v < PROP_VNODES; v++)
		if (p->h[v] != NULL && p->own[v] == mem[i])
			p->h[v] = NULL; /* freed by the leave */
	assert_int_equal(pf_member_leave(mem[i]), 0);
	nmem--;
	mem[i] = mem[nmem];
	p->cap[i] = p->cap[nmem];
	p->has[i] = p->has[nmem];
	p->held[i] = p->held[nmem];
}

/* VNode v requires nothing (half of them), "a" or "b". */
static void prop_define(struct prop *p, uint32_t v)
{
	struct pf_vnode_spec spec;
	uint32_t r = (uint32_t)rand_r(&p->seed) % 4;

	p->need[v] = r < 2 ? 0 : 1u << (r - 2);
	pf_vnode_spec_init(&spec);
	spec.caps = p->need[v] != 0 ? &prop_caps[r - 2] : NULL;
	spec.caps_count = p->need[v] != 0;
	assert_int_equal(pf_vnode_define(dom, v, &spec), 0);
}

/* Place pending VNode v: the winner must be within its bound with v counted, among the
 * members that could take v (the pool: they cover its requirement). */
static void prop_place(struct prop *p, struct pf_sched *s, uint32_t v, uint64_t eps)
{
	struct pf_sched_decision dec = {.size = sizeof(dec)};
	uint64_t total = 1, cap_sum = 0;
	uint32_t w = MEMBERS_MAX, any = 0, capable = 0;

	for (uint32_t i = 0; i < nmem; i++) {
		if ((p->has[i] & p->need[v]) != p->need[v])
			continue;
		capable |= 1u << i;
		total += p->held[i];
		cap_sum += p->cap[i];
	}
	if (capable == 0) {
		assert_int_equal(pf_sched_place(s, v, &dec), -ENOENT);
		assert_int_equal(dec.reason, PF_SCHED_FILTER_CAPS);
		return;
	}
	for (uint32_t i = 0; i < nmem; i++)
		any |= (capable >> i & 1) &&
		       within_bound(p->held[i], p->cap[i], total, cap_sum, eps);
	assert_true(any); /* the bounds sum to at least the total: someone has room */
	assert_int_equal(pf_sched_place(s, v, &dec), 0);
	for (uint32_t i = 0; i < nmem; i++)
		if ((uint32_t)pf_member_id(mem[i]) == dec.winner_slot)
			w = i;
	assert_true(w < nmem && (capable >> w & 1));
	assert_true(within_bound(p->held[w], p->cap[w], total, cap_sum, eps));
	assert_int_equal(pf_vnode_adopt(mem[w], &p->h[v]), 0);
	assert_int_equal(pf_vnode_id(p->h[v]), v);
	p->own[v] = mem[w];
	p->held[w]++;
}

/* Property: for every strategy and two epsilons, random capacities, capabilities, trusts
 * and loads, VNodes that require a capability or none, and a random sequence of
 * placements, releases, joins and leaves, no placement puts a member above
 * ceil((1 + eps) x its capacity-weighted fair share among the members that could take the
 * VNode) while one of those is below its own (one always is). */
static void test_sched_bound_property(void **state)
{
	static const uint32_t eps[2] = {0, 250000};

	(void)state;
	for (uint32_t strategy = 0; strategy <= PF_SCHED_AGENT; strategy++) {
		for (uint32_t e = 0; e < 2; e++) {
			struct prop *p = calloc(1, sizeof(*p));
			struct pf_sched *s;

			assert_non_null(p);
			p->seed = 1000 * strategy + e;
			make(strategy, PROP_VNODES, 11 + strategy);
			assert_int_equal(pf_sched_configure(dom, strategy, 0, eps[e]), 0);
			for (int i = 0; i < 4; i++)
				prop_join(p);
			for (uint32_t v = 0; v < PROP_VNODES; v++)
				prop_define(p, v);
			assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
			for (int op = 0; op < 3000; op++) {
				uint32_t r = (uint32_t)rand_r(&p->seed) % 100;
				uint32_t v = (uint32_t)rand_r(&p->seed) % PROP_VNODES;

				if (r < 70 && p->h[v] == NULL) {
					prop_place(p, s, v, eps[e]);
				} else if (r < 90 && p->h[v] != NULL) {
					for (uint32_t i = 0; i < nmem; i++)
						p->held[i] -= p->own[v] == mem[i];
					assert_int_equal(pf_vnode_release(p->h[v]), 0);
					p->h[v] = NULL;
					/* Releases move no setting: tell the model. */
					assert_int_equal(pf_sched_refresh(s), 0);
				} else if (r < 95 && p->joined < MEMBERS_MAX) {
					prop_join(p);
				} else if (r >= 95 && nmem > 2) {
					prop_leave(p, v % nmem);
				}
			}
			pf_sched_destroy(s);
			destroy();
			free(p);
		}
	}
}

/* Failure history lowers a key's share without starving it: members of an executable whose
 * workers died four times (reliability 1/16, a newcomer's trust 1/16 of the default, as
 * pflightd admits it) beside a member of a healthy one; every strategy gives the
 * newcomer work, and the reliability-weighted ones at least fair / (1 + eps) of it. */
static void test_sched_failing_key_not_starved(void **state)
{
	(void)state;
	for (uint32_t strategy = 0; strategy <= PF_SCHED_AGENT; strategy++) {
		struct member_as failing = {.identity_key = 0xfa11, .slot_start = 0};
		struct member_as healthy = {.identity_key = 0x600d, .slot_start = 8};
		struct pf_sched_decision dec = {.size = sizeof(dec)};
		struct pf_member_opts o;
		struct pf_supervisor *sup;
		uint32_t counts[MEMBERS_MAX] = {0}, newcomer;
		struct pf_sched *s;

		make(strategy, 512, 21);
		assert_int_equal(pf_supervisor_create(dom, NULL, &sup), 0);
		pf_member_opts_init(&o);
		o.vnode_capacity = 256;
		assert_int_equal(member_join_as(dom, &o, &failing, &mem[nmem++]), 0); /* the old */
		assert_int_equal(member_join_as(dom, &o, &healthy, &mem[nmem++]), 0);
		assert_int_equal(test_key_failures(dom, sup, &o, &failing, 4), 0);
		assert_int_equal(member_join_as(dom, &o, &failing, &mem[nmem++]), 0);
		newcomer = (uint32_t)pf_member_id(mem[2]);
		assert_int_equal(pf_member_set_trust(dom, newcomer, PF_PPM / 2 / 16), 0);
		assert_int_equal(pf_vnode_define_range(dom, 0, 300, NULL), 300);
		assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
		for (uint32_t v = 0; v < 300; v++) {
			assert_int_equal(pf_sched_place(s, v, &dec), 0);
			counts[dec.winner_slot]++;
		}
		print_message("# %s: old %u, healthy %u, newcomer %u\n",
			      pf_sched_strategy_name(strategy),
			      counts[(uint32_t)pf_member_id(mem[0])],
			      counts[(uint32_t)pf_member_id(mem[1])], counts[newcomer]);
		/* Nobody above ceil(1.25 x 100); the newcomer has work. */
		for (uint32_t i = 0; i < nmem; i++)
			assert_true(counts[(uint32_t)pf_member_id(mem[i])] <= 125);
		assert_true(counts[newcomer] > 0);
		if (strategy == PF_SCHED_TRUST_WEIGHTED || strategy == PF_SCHED_AGENT)
			assert_true(counts[newcomer] >= 80 - 1); /* fair / 1.25, one for rounding */
		pf_sched_destroy(s);
		pf_supervisor_destroy(sup);
		destroy();
	}
}

/* A VNode whose epoch has passed 2^31 (claimed and released a billion times): the
 * placement is made, reported placed with its epoch, and counted in the model. */
static void test_sched_place_epoch_past_2_31(void **state)
{
	struct pf_sched_decision dec = {.size = sizeof(dec)};
	struct pf_vnode *v;
	struct pf_sched *s;

	(void)state;
	make(PF_SCHED_TRUST_WEIGHTED, 4, 10);
	add_member(NULL, 0, 10);
	assert_int_equal(pf_vnode_define(dom, 0, NULL), 0);
	/* As the epoch stands after 2^30 claims and releases. */
	atomic_store(&dom->own[0], own_word(PF_VNODE_PENDING, 0, 0, UINT32_C(0x7fffffff)));
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	assert_int_equal(pf_sched_place(s, 0, &dec), 0);
	assert_int_equal(dec.reason, PF_SCHED_PLACED);
	assert_int_equal(dec.epoch, UINT64_C(0x80000000));
	assert_int_equal(pf_vnode_adopt(mem[0], &v), 0);
	assert_int_equal(pf_vnode_epoch(v), UINT64_C(0x80000000));
	assert_int_equal(pf_checkpoint_commit(v, pf_vnode_epoch(v), "x", 1), 0);
	assert_int_equal(pf_vnode_release(v), 0);
	pf_sched_destroy(s);
	destroy();
}

static void test_sched_adopt_and_explain(void **state)
{
	struct pf_sched_decision dec = {.size = sizeof(dec)}, seen[8];
	struct pf_vnode *v;
	struct pf_sched *s;
	uint64_t cursor = 0, seqs[8];
	size_t len;
	char buf[8];
	int n;

	(void)state;
	make(PF_SCHED_TRUST_WEIGHTED, 16, 10);
	add_member(NULL, 0, 10);
	assert_int_equal(pf_vnode_define_range(dom, 0, 4, NULL), 4);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	assert_int_equal(pf_sched_place(s, 0, &dec), 0); /* nobody listens: not recorded */
	assert_int_equal(pf_sched_explain_subscribe(dom), 0);
	assert_int_equal(pf_sched_place(s, 1, &dec), 0);
	assert_int_equal(pf_sched_place(s, 2, &dec), 0);
	n = pf_sched_explain_read(dom, &cursor, seen, 8, seqs);
	assert_int_equal(n, 2);
	assert_int_equal(seen[0].vnode, 1);
	assert_int_equal(seen[1].vnode, 2);
	assert_int_equal(seen[1].winner_slot, dec.winner_slot);
	assert_true(fabs(seen[1].score - dec.score) < 1e-12);
	assert_int_equal(pf_sched_explain_read(dom, &cursor, seen, 8, seqs), 0);
	pf_sched_explain_unsubscribe(dom);
	/* The winner adopts what it was given, with the epoch of the placement. */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(pf_vnode_adopt(mem[0], &v), 0);
		assert_int_equal(pf_vnode_epoch(v), 1);
		assert_int_equal(pf_checkpoint_commit(v, 1, "ok", 2), 0);
		assert_int_equal(pf_checkpoint_load(v, buf, sizeof(buf), &len), 0);
	}
	assert_int_equal(pf_vnode_adopt(mem[0], &v), -EAGAIN);
	assert_int_equal(pf_sched_run(s, 10), 1); /* VNode 3 from the pending queue */
	assert_int_equal(pf_vnode_adopt(mem[0], &v), 0);
	assert_int_equal(pf_vnode_id(v), 3);
	pf_sched_destroy(s);
	destroy();
}

/* The explanation ring's head is a shared word: a peer that scribbles on it (far ahead, then
 * back) makes a reader neither report explanations that were never written nor stop
 * reading the ones written after the word is back. */
static void test_sched_explain_head_scribbled(void **state)
{
	struct pf_sched_decision dec = {.size = sizeof(dec)}, seen[8];
	struct pf_sched *s;
	uint64_t cursor = 0, seqs[8], head;
	uint64_t bad[] = {UINT64_C(1) << 63, UINT64_MAX, UINT64_C(1) << 40};

	(void)state;
	make(PF_SCHED_TRUST_WEIGHTED, 16, 10);
	add_member(NULL, 0, 10);
	assert_int_equal(pf_vnode_define_range(dom, 0, 8, NULL), 8);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	assert_int_equal(pf_sched_explain_subscribe(dom), 0);
	assert_int_equal(pf_sched_place(s, 0, &dec), 0);
	assert_int_equal(pf_sched_explain_read(dom, &cursor, seen, 8, seqs), 1);
	for (size_t i = 0; i < PF_ARRAY_SIZE(bad); i++) {
		head = atomic_load(&dom->ctl->explain_seq);
		atomic_store(&dom->ctl->explain_seq, bad[i]);
		assert_int_equal(pf_sched_explain_read(dom, &cursor, seen, 8, seqs), 0);
		atomic_store(&dom->ctl->explain_seq, head);
		/* The next placement is read, and only it. */
		assert_int_equal(pf_sched_place(s, (uint32_t)i + 1, &dec), 0);
		assert_int_equal(pf_sched_explain_read(dom, &cursor, seen, 8, seqs), 1);
		assert_int_equal(seen[0].vnode, i + 1);
		assert_int_equal(seqs[0], head);
	}
	pf_sched_explain_unsubscribe(dom);
	pf_sched_destroy(s);
	destroy();
}

/* A member's record says how many VNodes it holds, and the member writes it (stale at
 * times, or anything at all): a count above the VNodes the domain has is refused and
 * counted, never taken into the bound's arithmetic, and every strategy goes on placing,
 * explaining and rebalancing. */
static void test_sched_member_count_out_of_range(void **state)
{
	static const uint32_t strategies[] = {PF_SCHED_TRUST_WEIGHTED, PF_SCHED_CONSISTENT_HASH,
					      PF_SCHED_BIN_PACKING, PF_SCHED_AGENT};
	static const uint32_t forged[2] = {UINT32_MAX, 0xfffffff0u};

	(void)state;
	for (size_t k = 0; k < PF_ARRAY_SIZE(strategies); k++) {
		struct pf_sched_decision dec = {.size = sizeof(dec)};
		struct pf_sched_candidate c[4];
		struct pf_rebalance_opts ro;
		uint64_t before[PF_COUNTER_COUNT], after[PF_COUNTER_COUNT];
		struct pf_sched *s;
		uint32_t honest;

		make(strategies[k], 16, 3);
		honest = add_member(NULL, 0, 10);
		for (int i = 0; i < 2; i++)
			/* Relaxed: single-threaded set-up, a forged count. */
			pf_store_relaxed(&dom->members[add_member(NULL, 0, 10)].vnodes_owned,
					 forged[i]);
		assert_int_equal(pf_vnode_define_range(dom, 0, 16, NULL), 16);
		assert_int_equal(pf_domain_counters(dom, before, PF_COUNTER_COUNT),
				 PF_COUNTER_COUNT);
		assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
		assert_int_equal(pf_domain_counters(dom, after, PF_COUNTER_COUNT),
				 PF_COUNTER_COUNT);
		assert_int_equal(after[PF_COUNTER_SHM_INVALID] - before[PF_COUNTER_SHM_INVALID], 2);
		/* The two count as holding every VNode: the first goes to the honest member. */
		assert_int_equal(pf_sched_place(s, 0, &dec), 0);
		assert_int_equal(dec.winner_slot, honest);
		assert_int_equal(pf_sched_candidates(s, 1, c, 4), 3);
		assert_int_equal(pf_sched_run(s, 16), 15);
		pf_rebalance_opts_init(&ro);
		ro.cooldown_ns = 0;
		assert_true(pf_sched_rebalance(s, &ro, NULL) >= 0);
		pf_sched_destroy(s);
		destroy();
	}
}

/* The can-assign hook's calls for one slot, refusing it. */
struct hook_count {
	uint32_t refused;
	uint32_t calls;
};

static int refuse_counting(void *arg, uint32_t vnode, uint32_t slot)
{
	struct hook_count *h = arg;

	(void)vnode;
	if (slot != h->refused)
		return 0;
	h->calls++;
	return -EPERM;
}

/* When the bound yields, the members the first pass refused for their ring or by the hook
 * are not asked again. A and B (assignment rings of 4: room for 3) hold 3 VNodes each, at
 * their bound (3 >= 1.25 x 7/3); the hook refuses C, the only member below it. The seventh
 * VNode: the first pass passes A and B (bound) and is refused by C; the yield pass finds
 * A's and B's rings full, and does not call the hook for C a second time: the decision
 * fails with the hook's reason, one call. Once A adopts its VNodes, the bound yields to A:
 * pf_sched_candidates() says so (A passes, B's ring is full) rather than naming their
 * bound, and the placement asks the hook for C once. Every strategy. */
static void test_sched_yield_asks_once(void **state)
{
	static const uint32_t strategies[] = {PF_SCHED_TRUST_WEIGHTED, PF_SCHED_CONSISTENT_HASH,
					      PF_SCHED_BIN_PACKING, PF_SCHED_AGENT};

	(void)state;
	for (size_t k = 0; k < PF_ARRAY_SIZE(strategies); k++) {
		struct pf_sched_decision dec = {.size = sizeof(dec)};
		struct pf_sched_candidate c[3];
		struct hook_count h = {.calls = 0};
		struct pf_sched_opts so;
		struct pf_sched *s;
		struct pf_vnode *v;
		uint32_t a, b, n;

		ring_slots = 4;
		make(strategies[k], 8, 5);
		ring_slots = 4096;
		a = add_member(NULL, 0, 10);
		b = add_member(NULL, 0, 10);
		h.refused = add_member(NULL, 0, 10);
		assert_int_equal(pf_vnode_define_range(dom, 0, 8, NULL), 8);
		pf_sched_opts_init(&so);
		so.can_assign = refuse_counting;
		so.policy_arg = &h;
		assert_int_equal(pf_sched_create(dom, &so, &s), 0);
		for (uint32_t id = 0; id < 6; id++) {
			assert_int_equal(pf_sched_place(s, id, &dec), 0);
			assert_true(dec.winner_slot == a || dec.winner_slot == b);
		}
		h.calls = 0;
		assert_int_equal(pf_sched_place(s, 6, &dec), -ENOENT);
		assert_int_equal(dec.reason, PF_SCHED_FILTER_POLICY);
		assert_int_equal(h.calls, 1);
		n = 0;
		while (pf_vnode_adopt(mem[0], &v) == 0)
			n++;
		assert_int_equal(n, 3);
		assert_int_equal(pf_sched_candidates(s, 6, c, 3), 3);
		for (int i = 0; i < 3; i++)
			assert_int_equal(c[i].verdict, c[i].slot == a   ? PF_SCHED_PLACED
						       : c[i].slot == b ? PF_SCHED_FILTER_FULL
									: PF_SCHED_FILTER_POLICY);
		h.calls = 0;
		assert_int_equal(pf_sched_place(s, 6, &dec), 0);
		assert_int_equal(dec.winner_slot, a);
		assert_int_equal(dec.filtered[PF_SCHED_FILTERED_BOUND], 2);
		assert_int_equal(h.calls, 1);
		pf_sched_destroy(s);
		destroy();
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_sched_trust_weighted_follows_formula, teardown),
		cmocka_unit_test_teardown(test_sched_bin_packing_and_agent, teardown),
		cmocka_unit_test_teardown(test_sched_filters_property, teardown),
		cmocka_unit_test_teardown(test_sched_empty_candidates_reason, teardown),
		cmocka_unit_test_teardown(test_sched_replay_is_identical, teardown),
		cmocka_unit_test_teardown(test_sched_consistent_hash_bounded, teardown),
		cmocka_unit_test_teardown(test_sched_bound_property, teardown),
		cmocka_unit_test_teardown(test_sched_failing_key_not_starved, teardown),
		cmocka_unit_test_teardown(test_sched_adopt_and_explain, teardown),
		cmocka_unit_test_teardown(test_sched_explain_head_scribbled, teardown),
		cmocka_unit_test_teardown(test_sched_place_epoch_past_2_31, teardown),
		cmocka_unit_test_teardown(test_sched_member_count_out_of_range, teardown),
		cmocka_unit_test_teardown(test_sched_yield_asks_once, teardown),
	};

	return cmocka_run_group_tests_name("core_sched", tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/core/test_core_rebalance.c
 * Goal: rebalancing moves VNodes with their state and loses no message; a round respects
 * its budgets (absolute and relative), stops at them when asked to (the same moves, fewer
 * VNodes examined), refuses to run inside the cool-down, and settles:
 * once nothing is worth moving, a round with nothing changed moves nothing (no
 * ping-pong); a request made stale by an ownership change is ignored; a handoff to a
 * target that left falls back to PENDING; and a consistent-hash join of one member into
 * N moves close to the ideal 1/(N + 1) of the VNodes. Rounds keep the bounded load: at
 * rest no member is above (1 + eps) x its fair share, none that could be given VNodes is
 * below fair / (1 + eps), and a newcomer of an executable whose workers keep dying (its
 * reliability and trust cut sixteen-fold) is brought up to that within three rounds of the
 * default budget. Members that alone cover a capability are judged among themselves:
 * rounds over them settle, and lift a peer that joins. A lift passes the VNodes the hook
 * refuses its target and stops at the target's full ring; consistent-hash leaves a VNode
 * whose ring walk meets a full ring before its owner where it is, until there is room.
 * An operator's migrate explains its target as a placement would (no winner node when
 * refused, no score under consistent-hash), and refuses a member at its bound with that
 * reason.
 * Method: members joined from this thread; the test plays every owner (it keeps each
 * VNode's handle and acts on move requests as a worker would) and every target (adopts).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "pflight/pflight.h"
#include "tests/common/test_history.h"
#include "tests/common/test_util.h"

#define MEMBERS_MAX 16
#define VNODES_MAX 4096
#define SETTLE_ROUNDS_MAX 64

static char name[64];
static struct pf_domain *dom;
static struct pf_member *mem[MEMBERS_MAX];
static uint32_t nmem;
static struct pf_vnode *hv[PF_VNODES_MAX];        /* the handle of each VNode, if adopted */
static struct pf_member *owner_of[PF_VNODES_MAX]; /* and which member holds it */
static uint32_t ring_slots = 4096;                /* assign_slots of the next domain */

/* What a counter VNode checkpoints: messages are sequence numbers from 1. */
struct counter {
	uint64_t last;
	uint64_t applied;
	uint64_t dups;
	uint64_t gaps;
};

static void make(uint32_t strategy, uint32_t vnodes)
{
	struct pf_domain_opts o;

	test_domain_name(name, sizeof(name), "rebalance");
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = MEMBERS_MAX;
	o.vnodes_max = vnodes;
	o.sched_strategy = strategy;
	o.sched_seed = 7;
	o.assign_slots = ring_slots;
	assert_int_equal(pf_domain_create(name, &o, &dom), 0);
	nmem = 0;
	memset(hv, 0, sizeof(hv));
	memset(owner_of, 0, sizeof(owner_of));
}

static void destroy(void)
{
	for (uint32_t i = 0; i < nmem; i++)
		(void)pf_member_leave(mem[i]);
	assert_int_equal(pf_domain_destroy(dom), 0);
}

static uint32_t add_member(uint32_t capacity)
{
	struct pf_member_opts o;

	pf_member_opts_init(&o);
	o.vnode_capacity = capacity;
	assert_int_equal(pf_member_join(dom, &o, &mem[nmem]), 0);
	return (uint32_t)pf_member_id(mem[nmem++]);
}

static struct pf_rebalance_opts opts_now(void)
{
	struct pf_rebalance_opts o;

	pf_rebalance_opts_init(&o);
	o.cooldown_ns = 0;
	o.moves_max = UINT32_MAX;
	o.moves_ppm = PF_PPM;
	return o;
}

/* Every member takes what was placed on it. */
static void adopt_all(void)
{
	for (uint32_t i = 0; i < nmem; i++) {
		struct pf_vnode *v;

		while (pf_vnode_adopt(mem[i], &v) == 0) {
			assert_null(hv[pf_vnode_id(v)]);
			hv[pf_vnode_id(v)] = v;
			owner_of[pf_vnode_id(v)] = mem[i];
		}
	}
}

static void place_all(struct pf_sched *s, uint32_t vnodes)
{
	struct pf_sched_decision dec = {.size = sizeof(dec)};

	for (uint32_t v = 0; v < vnodes; v++)
		assert_int_equal(pf_sched_place(s, v, &dec), 0);
	adopt_all();
}

/* Owners act on their move requests (state committed already); targets adopt. Returns
 * the number handed over. */
static uint32_t handoff_all(uint32_t vnodes)
{
	uint32_t moved = 0, slot;

	for (uint32_t id = 0; id < vnodes; id++) {
		if (hv[id] == NULL || pf_vnode_move_target(hv[id], &slot) != 1)
			continue;
		assert_int_not_equal(slot, (uint32_t)pf_member_id(owner_of[id]));
		assert_int_equal(pf_vnode_handoff(hv[id]), 0);
		hv[id] = NULL;
		moved++;
	}
	adopt_all();
	return moved;
}

static uint32_t settled_over; /* of the VNodes settle() moved, those off members over bound */

/* Rounds and handoffs until a round requests nothing; returns the VNodes moved. */
static uint32_t settle(struct pf_sched *s, const struct pf_rebalance_opts *o, uint32_t vnodes)
{
	struct pf_rebalance_report rep = {.size = sizeof(rep)};
	uint32_t moved = 0;

	settled_over = 0;
	for (int i = 0; i < SETTLE_ROUNDS_MAX; i++) {
		int r = pf_sched_rebalance(s, o, &rep);

		assert_true(r >= 0);
		assert_int_equal((uint32_t)r, rep.requested);
		if (r == 0)
			return moved;
		assert_int_equal(handoff_all(vnodes), (uint32_t)r);
		moved += (uint32_t)r;
		settled_over += rep.over_bound;
	}
	fail_msg("rebalancing did not settle in %d rounds", SETTLE_ROUNDS_MAX);
	return moved;
}

static uint32_t owned_by(uint32_t slot, uint32_t vnodes)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	uint32_t n = 0;

	for (uint32_t id = 0; id < vnodes; id++) {
		assert_int_equal(pf_vnode_info(dom, id, &vi), 0);
		n += vi.state == PF_VNODE_ACTIVE && vi.owner_slot == slot;
	}
	return n;
}

/* Every member within the bounded load as rebalancing keeps it, exactly: held x 1e6 x C
 * <= (1e6 + eps) x T x capacity, and held x (1e6 + eps) x C >= 1e6 x T x capacity when
 * `lifted` (heap strategies lift; consistent-hash lifts through its ring only). */
static void assert_balanced(const uint32_t *slots, const uint32_t *caps, uint32_t n,
			    uint32_t vnodes, uint64_t eps, int lifted)
{
	uint64_t total = 0, cap_sum = 0;
	uint32_t held[MEMBERS_MAX];

	for (uint32_t i = 0; i < n; i++) {
		held[i] = owned_by(slots[i], vnodes);
		total += held[i];
		cap_sum += caps[i];
	}
	for (uint32_t i = 0; i < n; i++) {
		assert_true(held[i] * PF_PPM * cap_sum <= (PF_PPM + eps) * total * caps[i]);
		if (lifted)
			assert_true(held[i] * (PF_PPM + eps) * cap_sum >= PF_PPM * total * caps[i]);
	}
}

static void send_seq(uint32_t id, uint64_t first, uint64_t last)
{
	for (uint64_t seq = first; seq <= last; seq++)
		assert_int_equal(pf_send(dom, id, &seq, sizeof(seq)), 0);
}

static void apply(struct counter *c, uint64_t seq)
{
	c->dups += seq <= c->last;
	c->gaps += seq > c->last + 1;
	c->last = seq > c->last ? seq : c->last;
	c->applied++;
}

/* Receive `count` messages into c; then the inbox must be empty. */
static void recv_into(struct pf_vnode *v, struct counter *c, uint32_t count)
{
	uint64_t seq;
	size_t len;

	for (uint32_t i = 0; i < count; i++) {
		assert_int_equal(pf_recv(v, &seq, sizeof(seq), &len), 0);
		assert_int_equal(len, sizeof(seq));
		apply(c, seq);
	}
}

static int teardown(void **state)
{
	(void)state;
	return 0;
}

/* One member holds everything; a second joins: one member's VNodes go to the other
 * with their checkpoint, and the messages read but not checkpointed, and those sent
 * during the move, arrive exactly once at the new owner. */
static void test_rebalance_move_carries_state(void **state)
{
	struct pf_rebalance_opts o = opts_now();
	struct pf_rebalance_report rep = {.size = sizeof(rep)};
	struct counter c = {0}, got;
	struct pf_sched *s;
	struct pf_vnode *v;
	uint32_t a, b, slot;
	size_t len;

	(void)state;
	make(PF_SCHED_TRUST_WEIGHTED, 16);
	a = add_member(10);
	assert_int_equal(pf_vnode_define_range(dom, 0, 10, NULL), 10);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	place_all(s, 10);
	send_seq(0, 1, 5);
	recv_into(hv[0], &c, 5);
	assert_int_equal(pf_checkpoint_commit(hv[0], pf_vnode_epoch(hv[0]), &c, sizeof(c)), 0);
	send_seq(0, 6, 7);
	{
		struct counter unsaved = c;

		recv_into(hv[0], &unsaved, 2); /* read, never checkpointed */
		assert_int_equal(unsaved.last, 7);
	}
	b = add_member(10);
	assert_int_equal(pf_sched_rebalance(s, &o, &rep), 4);
	/* 10 on a, 0 on b: 1/(1 + k/10) > 1.2 / (1 + (9 - k)/10) holds for k = 0..3. */
	assert_int_equal(rep.requested, 4);
	assert_int_equal(rep.owned, 10);
	assert_int_equal(rep.examined, 10);
	assert_int_equal(rep.skipped_hysteresis, 6);
	assert_int_equal(pf_vnode_move_target(hv[0], &slot), 1);
	assert_int_equal(slot, b);
	send_seq(0, 8, 9); /* during the move */
	assert_int_equal(pf_vnode_handoff(hv[0]), 0);
	hv[0] = NULL;
	send_seq(0, 10, 10);
	assert_int_equal(pf_vnode_adopt(mem[1], &v), 0);
	assert_int_equal(pf_vnode_id(v), 0);
	assert_int_equal(pf_vnode_epoch(v), 2);
	assert_int_equal(pf_vnode_move_target(v, NULL), 0); /* the request was for epoch 1 */
	memset(&got, 0, sizeof(got));
	assert_int_equal(pf_checkpoint_load(v, &got, sizeof(got), &len), 0);
	assert_int_equal(len, sizeof(got));
	assert_int_equal(got.last, 5);
	recv_into(v, &got, 5);
	assert_int_equal(pf_recv(v, &c, sizeof(c), &len), -EAGAIN);
	assert_int_equal(got.last, 10);
	assert_int_equal(got.applied, 10);
	assert_int_equal(got.dups, 0);
	assert_int_equal(got.gaps, 0);
	assert_int_equal(pf_checkpoint_commit(v, 2, &got, sizeof(got)), 0);
	assert_int_equal(owned_by(a, 16), 9);
	assert_int_equal(owned_by(b, 16), 1);
	assert_int_equal(pf_vnode_handoff(v), -ENOENT); /* no request: nothing happens */
	assert_int_equal(pf_vnode_release(v), 0);
	assert_int_equal(pf_vnode_move_target(NULL, NULL), -EINVAL);
	assert_int_equal(pf_vnode_handoff(NULL), -EINVAL);
	pf_sched_destroy(s);
	destroy();
}

static uint32_t requests_pending(uint32_t vnodes)
{
	uint32_t n = 0;

	for (uint32_t id = 0; id < vnodes; id++)
		n += hv[id] != NULL && pf_vnode_move_target(hv[id], NULL) == 1;
	return n;
}

static void test_rebalance_budget(void **state)
{
	struct pf_rebalance_opts o = opts_now(), bad;
	struct pf_rebalance_report rep = {.size = sizeof(rep)};
	struct pf_sched *s;

	(void)state;
	make(PF_SCHED_TRUST_WEIGHTED, 256);
	add_member(100);
	assert_int_equal(pf_vnode_define_range(dom, 0, 200, NULL), 200);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	place_all(s, 200);
	add_member(100);
	add_member(100);
	add_member(100);
	/* Absolute: 5 per round; the rest would move but waits. */
	o.moves_max = 5;
	assert_int_equal(pf_sched_rebalance(s, &o, &rep), 5);
	assert_int_equal(rep.budget, 5);
	assert_true(rep.skipped_budget > 0);
	assert_int_equal(requests_pending(200), 5);
	/* Pending requests are not asked twice, and count on their targets. */
	assert_int_equal(pf_sched_rebalance(s, &o, &rep), 5);
	assert_int_equal(rep.pending, 5);
	assert_int_equal(requests_pending(200), 10);
	/* Relative: 10% of 200 owned in flight = 20, of which 10 are pending. */
	o.moves_max = 1000;
	o.moves_ppm = 100000;
	assert_int_equal(pf_sched_rebalance(s, &o, &rep), 10);
	assert_int_equal(rep.budget, 10);
	assert_int_equal(requests_pending(200), 20);
	/* The fraction is full: a round that comes before owners act asks for nothing more. */
	assert_int_equal(pf_sched_rebalance(s, &o, &rep), 0);
	assert_int_equal(rep.pending, 20);
	assert_int_equal(rep.budget, 0);
	assert_true(rep.skipped_budget > 0);
	assert_int_equal(requests_pending(200), 20);
	/* Owners act: the fraction has room again. */
	assert_int_equal(handoff_all(200), 20);
	assert_int_equal(pf_sched_rebalance(s, &o, &rep), 20);
	assert_int_equal(rep.pending, 0);
	/* 0 ppm: a dry run that only counts. */
	o.moves_ppm = 0;
	assert_int_equal(pf_sched_rebalance(s, &o, &rep), 0);
	assert_true(rep.skipped_budget > 0);
	bad = o;
	bad.moves_ppm = PF_PPM + 1;
	assert_int_equal(pf_sched_rebalance(s, &bad, &rep), -EINVAL);
	bad = o;
	bad.size = 4;
	assert_int_equal(pf_sched_rebalance(s, &bad, &rep), -EINVAL);
	bad = o;
	bad.flags = 0x80; /* not a PF_REBALANCE_* flag */
	assert_int_equal(pf_sched_rebalance(s, &bad, &rep), -EINVAL);
	assert_int_equal(pf_sched_rebalance(NULL, &o, &rep), -EINVAL);
	pf_sched_destroy(s);
	destroy();
}

/* One round over 200 VNodes on one member with three newcomers and a budget of 5, with
 * `flags`: the target slot of each VNode's move request (UINT32_MAX: none) in targets. */
static void budget_round(uint32_t flags, uint32_t targets[200], struct pf_rebalance_report *rep)
{
	struct pf_rebalance_opts o = opts_now();
	struct pf_sched *s;

	make(PF_SCHED_TRUST_WEIGHTED, 256);
	add_member(100);
	assert_int_equal(pf_vnode_define_range(dom, 0, 200, NULL), 200);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	place_all(s, 200);
	add_member(100);
	add_member(100);
	add_member(100);
	o.moves_max = 5;
	o.flags = flags;
	assert_int_equal(pf_sched_rebalance(s, &o, rep), 5);
	for (uint32_t id = 0; id < 200; id++)
		if (pf_vnode_move_target(hv[id], &targets[id]) != 1)
			targets[id] = UINT32_MAX;
	pf_sched_destroy(s);
	destroy();
}

/* PF_REBALANCE_BUDGET_STOP asks for the same moves and stops looking once they are asked. */
static void test_rebalance_budget_stop(void **state)
{
	struct pf_rebalance_report full = {.size = sizeof(full)}, stop = {.size = sizeof(stop)};
	struct pf_rebalance_opts bad = opts_now();
	uint32_t a[200], b[200];
	struct pf_sched *s;

	(void)state;
	budget_round(0, a, &full);
	budget_round(PF_REBALANCE_BUDGET_STOP, b, &stop);
	assert_memory_equal(a, b, sizeof(a));
	assert_int_equal(full.examined, 200);
	assert_true(full.skipped_budget > 1);
	assert_int_equal(stop.skipped_budget, 1);
	assert_true(stop.examined < full.examined);
	assert_int_equal(stop.requested, full.requested);
	make(PF_SCHED_TRUST_WEIGHTED, 16);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	bad.flags = 0x2;
	assert_int_equal(pf_sched_rebalance(s, &bad, NULL), -EINVAL);
	pf_sched_destroy(s);
	destroy();
}

static void test_rebalance_cooldown(void **state)
{
	struct pf_rebalance_opts o;
	struct pf_rebalance_report rep = {.size = sizeof(rep)};
	struct timespec ts = {0, 3000000};
	struct pf_sched *s;

	(void)state;
	make(PF_SCHED_TRUST_WEIGHTED, 64);
	add_member(10);
	assert_int_equal(pf_vnode_define_range(dom, 0, 10, NULL), 10);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	place_all(s, 10);
	add_member(10);
	pf_rebalance_opts_init(&o);
	assert_int_equal(o.cooldown_ns, UINT64_C(200000000));
	assert_int_equal(pf_sched_rebalance(s, &o, &rep), -EAGAIN);
	assert_true(rep.cooldown_left_ns > 0 && rep.cooldown_left_ns <= o.cooldown_ns);
	assert_int_equal(rep.rounds_refused, 1);
	assert_int_equal(rep.rounds, 0);
	assert_int_equal(rep.requested, 0);
	assert_int_equal(requests_pending(10), 0);
	assert_int_equal(pf_sched_rebalance(s, NULL, NULL), -EAGAIN); /* defaults, no report */
	o.cooldown_ns = 2000000;
	(void)nanosleep(&ts, NULL);
	assert_int_equal(pf_sched_rebalance(s, &o, &rep), 1); /* 1% of 10, at least one */
	assert_int_equal(rep.rounds, 1);
	assert_int_equal(rep.rounds_refused, 2);
	pf_sched_destroy(s);
	destroy();
}

/* Every heap strategy: one member holds everything, three join; rounds settle, every
 * VNode moved at most once, the load is spread, and a further round moves nothing. */
static void test_rebalance_settles_without_ping_pong(void **state)
{
	struct pf_rebalance_opts o = opts_now();
	struct pf_rebalance_report rep = {.size = sizeof(rep)};
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	static const uint32_t strategies[] = {PF_SCHED_TRUST_WEIGHTED, PF_SCHED_BIN_PACKING,
					      PF_SCHED_AGENT};

	(void)state;
	for (size_t k = 0; k < sizeof(strategies) / sizeof(strategies[0]); k++) {
		struct pf_sched *s;
		uint32_t slot[4], moved;

		make(strategies[k], 512);
		slot[0] = add_member(200);
		assert_int_equal(pf_vnode_define_range(dom, 0, 400, NULL), 400);
		assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
		place_all(s, 400);
		for (int i = 1; i < 4; i++)
			slot[i] = add_member(200);
		moved = settle(s, &o, 400);
		print_message("# %s: moved %u: %u %u %u %u\n",
			      pf_sched_strategy_name(strategies[k]), moved, owned_by(slot[0], 400),
			      owned_by(slot[1], 400), owned_by(slot[2], 400),
			      owned_by(slot[3], 400));
		/* The margin leaves the first member ~15-20% above the others, no more. */
		assert_true(moved >= 200 && moved <= 300);
		for (uint32_t id = 0; id < 400; id++) {
			assert_int_equal(pf_vnode_info(dom, id, &vi), 0);
			assert_int_equal(vi.state, PF_VNODE_ACTIVE);
			assert_true(vi.epoch <= 2); /* placed (1), moved at most once (2) */
		}
		for (int i = 0; i < 4; i++) {
			uint32_t n = owned_by(slot[i], 400);

			assert_true(n >= 70 && n <= 160);
		}
		{
			static const uint32_t caps[4] = {200, 200, 200, 200};

			assert_balanced(slot, caps, 4, 400, 250000, 1);
		}
		for (int i = 0; i < 3; i++) {
			assert_int_equal(pf_sched_rebalance(s, &o, &rep), 0);
			assert_int_equal(rep.owned, 400);
			assert_int_equal(rep.pending, 0);
			assert_int_equal(rep.examined, 400);
		}
		pf_sched_destroy(s);
		destroy();
	}
}

static void test_rebalance_stale_request_ignored(void **state)
{
	struct pf_rebalance_opts o = opts_now();
	struct pf_rebalance_report rep = {.size = sizeof(rep)};
	struct pf_sched *s;
	struct pf_vnode *v;
	int requested;

	(void)state;
	make(PF_SCHED_TRUST_WEIGHTED, 16);
	add_member(10);
	assert_int_equal(pf_vnode_define_range(dom, 0, 10, NULL), 10);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	place_all(s, 10);
	add_member(10);
	requested = pf_sched_rebalance(s, &o, &rep);
	assert_int_equal(requested, 4);
	assert_int_equal(pf_vnode_move_target(hv[0], NULL), 1);
	/* Ownership changes under the request: released (epoch 2), claimed again (3). */
	assert_int_equal(pf_vnode_release(hv[0]), 0);
	hv[0] = NULL;
	assert_int_equal(pf_vnode_claim_id(mem[0], 0, &v), 0);
	assert_int_equal(pf_vnode_epoch(v), 3);
	assert_int_equal(pf_vnode_move_target(v, NULL), 0);
	assert_int_equal(pf_vnode_handoff(v), -ENOENT);
	hv[0] = v;
	/* The next round sees three requests pending, not four. */
	o.moves_ppm = 0;
	assert_int_equal(pf_sched_rebalance(s, &o, &rep), 0);
	assert_int_equal(rep.pending, 3);
	pf_sched_destroy(s);
	destroy();
}

static void test_rebalance_handoff_to_dead_target(void **state)
{
	struct pf_rebalance_opts o = opts_now();
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	struct counter c = {.last = 42, .applied = 42}, got;
	struct pf_sched *s;
	struct pf_vnode *v;
	size_t len;

	(void)state;
	make(PF_SCHED_TRUST_WEIGHTED, 16);
	add_member(10);
	assert_int_equal(pf_vnode_define_range(dom, 0, 10, NULL), 10);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	place_all(s, 10);
	assert_int_equal(pf_checkpoint_commit(hv[0], 1, &c, sizeof(c)), 0);
	add_member(10);
	assert_int_equal(pf_sched_rebalance(s, &o, NULL), 4);
	assert_int_equal(pf_member_leave(mem[1]), 0); /* the target goes away */
	nmem--;
	assert_int_equal(pf_vnode_handoff(hv[0]), 1);
	hv[0] = NULL;
	assert_int_equal(pf_vnode_info(dom, 0, &vi), 0);
	assert_int_equal(vi.state, PF_VNODE_PENDING);
	assert_int_equal(vi.epoch, 2);
	/* Placed again (on the only member left), with its state. */
	assert_int_equal(pf_sched_run(s, 16), 1);
	assert_int_equal(pf_vnode_adopt(mem[0], &v), 0);
	assert_int_equal(pf_vnode_id(v), 0);
	assert_int_equal(pf_vnode_epoch(v), 3);
	assert_int_equal(pf_checkpoint_load(v, &got, sizeof(got), &len), 0);
	assert_int_equal(got.last, 42);
	hv[0] = v;
	pf_sched_destroy(s);
	destroy();
}

/* consistent-hash: after the initial placement has settled, one member joins N = 10:
 * about 1/(N + 1) of the VNodes move to the newcomer or along the ring; the join also
 * lowers every bound (1.25 x 4000 / 11 = 454.5), so members the ring had given more shed
 * the excess, no more. */
static void test_rebalance_chash_join_moves_its_share(void **state)
{
	const uint32_t n = 4000, members = 10;
	struct pf_rebalance_opts o = opts_now();
	struct pf_sched *s;
	uint32_t before, moved, newcomer, excess = 0;
	double fraction, ideal = 1.0 / (members + 1);

	(void)state;
	make(PF_SCHED_CONSISTENT_HASH, VNODES_MAX);
	for (uint32_t i = 0; i < members; i++)
		add_member(1000);
	assert_int_equal(pf_vnode_define_range(dom, 0, n, NULL), (int)n);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	place_all(s, n);
	before = settle(s, &o, n);
	for (uint32_t i = 0; i < members; i++) {
		uint32_t held = owned_by((uint32_t)pf_member_id(mem[i]), n);

		excess += held > 454 ? held - 454 : 0;
	}
	newcomer = add_member(1000);
	moved = settle(s, &o, n);
	fraction = (double)(moved - settled_over) / n;
	print_message("# chash: settle %u, after join %u moved (%u over bound, %u above it "
		      "before; ring %.4f, ideal %.4f), newcomer %u\n",
		      before, moved, settled_over, excess, fraction, ideal, owned_by(newcomer, n));
	assert_true(fraction >= 0.5 * ideal && fraction <= 1.5 * ideal);
	assert_true(settled_over <= excess);
	assert_true(owned_by(newcomer, n) >= (moved - settled_over) / 2);
	{
		uint32_t slots[MEMBERS_MAX], caps[MEMBERS_MAX];

		for (uint32_t i = 0; i <= members; i++) {
			slots[i] = (uint32_t)pf_member_id(mem[i]);
			caps[i] = 1000;
		}
		assert_balanced(slots, caps, members + 1, n, 250000, 0);
	}
	pf_sched_destroy(s);
	destroy();
}

/* The demo's trouble: three members of one executable hold 256 VNodes; the executable's
 * workers die four times (reliability 1/16 for all of its members), and a newcomer of it
 * joins with a trust cut as much (as pflightd admits it). Every strategy's rounds, with
 * the default budget, bring it up to fair / (1 + eps) within three rounds (pflightd runs
 * one a second), and leave every member within its bound; a migrate onto a member at its
 * bound is refused with that reason. */
static void test_rebalance_lifts_failing_newcomer(void **state)
{
	static const uint32_t strategies[] = {PF_SCHED_TRUST_WEIGHTED, PF_SCHED_BIN_PACKING,
					      PF_SCHED_AGENT, PF_SCHED_CONSISTENT_HASH};

	(void)state;
	for (size_t k = 0; k < sizeof(strategies) / sizeof(strategies[0]); k++) {
		struct member_as kind = {.identity_key = 0xdead, .slot_start = 0};
		static const uint32_t caps[4] = {256, 256, 256, 256};
		struct pf_rebalance_opts o;
		struct pf_member_opts mo;
		struct pf_supervisor *sup;
		struct pf_sched *s;
		uint32_t slots[4], rounds = 0;

		make(strategies[k], 512);
		pf_member_opts_init(&mo);
		mo.vnode_capacity = 256;
		for (int i = 0; i < 3; i++) {
			assert_int_equal(member_join_as(dom, &mo, &kind, &mem[nmem]), 0);
			slots[i] = (uint32_t)pf_member_id(mem[nmem++]);
		}
		assert_int_equal(pf_vnode_define_range(dom, 0, 256, NULL), 256);
		assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
		place_all(s, 256);
		assert_int_equal(pf_supervisor_create(dom, NULL, &sup), 0);
		assert_int_equal(test_key_failures(dom, sup, &mo, &kind, 4), 0);
		assert_int_equal(member_join_as(dom, &mo, &kind, &mem[nmem]), 0);
		slots[3] = (uint32_t)pf_member_id(mem[nmem++]);
		assert_int_equal(pf_member_set_trust(dom, slots[3], PF_PPM / 2 / 16), 0);
		pf_rebalance_opts_init(&o);
		o.cooldown_ns = 0;
		/* fair = 64, fair / 1.25 = 51.2: 52 VNodes; ring points decide for chash. */
		while (owned_by(slots[3], 256) < 52 && rounds < 3) {
			assert_true(pf_sched_rebalance(s, &o, NULL) > 0);
			(void)handoff_all(256);
			rounds++;
		}
		print_message("# %s: newcomer %u after %u rounds\n",
			      pf_sched_strategy_name(strategies[k]), owned_by(slots[3], 256),
			      rounds);
		if (strategies[k] != PF_SCHED_CONSISTENT_HASH)
			assert_true(owned_by(slots[3], 256) >= 52);
		assert_true(owned_by(slots[3], 256) > 0);
		o.moves_max = UINT32_MAX;
		o.moves_ppm = PF_PPM;
		(void)settle(s, &o, 256);
		assert_balanced(slots, caps, 4, 256, 250000,
				strategies[k] != PF_SCHED_CONSISTENT_HASH);
		pf_supervisor_destroy(sup);
		pf_sched_destroy(s);
		destroy();
	}
}

/* A member that covers a capability set is judged, for VNodes that need it, against the
 * members that could take them (the bound's pool), as placement judges it. Two members
 * with "gpu" and two without; 200 VNodes need "gpu". Placement gives the two gpu members
 * their share of the pool, though each is far above (1 + eps) x fair of all four: rounds
 * must settle (every strategy), not hand VNodes back and forth between the two forever. A
 * third gpu member that joins is then brought up to its share of the pool (heap
 * strategies), with every gpu member within its bound, and the others get nothing. */
static void test_rebalance_capability_pools(void **state)
{
	static const uint32_t strategies[] = {PF_SCHED_TRUST_WEIGHTED, PF_SCHED_BIN_PACKING,
					      PF_SCHED_AGENT, PF_SCHED_CONSISTENT_HASH};
	static const char *const gpu[] = {"gpu"};
	static const uint32_t caps[3] = {100, 100, 100};

	(void)state;
	for (size_t k = 0; k < sizeof(strategies) / sizeof(strategies[0]); k++) {
		struct pf_rebalance_opts o = opts_now();
		struct pf_member_opts mo;
		struct pf_vnode_spec sp;
		struct pf_sched *s;
		uint32_t slots[3], plain[2];

		make(strategies[k], 200);
		for (int i = 0; i < 4; i++) {
			pf_member_opts_init(&mo);
			mo.vnode_capacity = 100;
			mo.caps = i < 2 ? gpu : NULL;
			mo.caps_count = i < 2 ? 1 : 0;
			assert_int_equal(pf_member_join(dom, &mo, &mem[nmem]), 0);
			if (i < 2)
				slots[i] = (uint32_t)pf_member_id(mem[nmem]);
			else
				plain[i - 2] = (uint32_t)pf_member_id(mem[nmem]);
			nmem++;
		}
		pf_vnode_spec_init(&sp);
		sp.caps = gpu;
		sp.caps_count = 1;
		assert_int_equal(pf_vnode_define_range(dom, 0, 200, &sp), 200);
		assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
		place_all(s, 200);
		(void)settle(s, &o, 200);
		assert_balanced(slots, caps, 2, 200, 250000, 1);
		/* the default budget too: a round over a settled pool asks nothing */
		pf_rebalance_opts_init(&o);
		o.cooldown_ns = 0;
		assert_int_equal(pf_sched_rebalance(s, &o, NULL), 0);
		pf_member_opts_init(&mo);
		mo.vnode_capacity = 100;
		mo.caps = gpu;
		mo.caps_count = 1;
		assert_int_equal(pf_member_join(dom, &mo, &mem[nmem]), 0);
		slots[2] = (uint32_t)pf_member_id(mem[nmem++]);
		o = opts_now();
		(void)settle(s, &o, 200);
		assert_balanced(slots, caps, 3, 200, 250000,
				strategies[k] != PF_SCHED_CONSISTENT_HASH);
		assert_int_equal(owned_by(plain[0], 200) + owned_by(plain[1], 200), 0);
		pf_sched_destroy(s);
		destroy();
	}
}

/* The can-assign hook refuses the newcomer every even VNode. */
static int odd_only(void *arg, uint32_t vnode, uint32_t slot)
{
	return slot == *(uint32_t *)arg && vnode % 2 == 0 ? -EPERM : 0;
}

/* A lift meets refusals: A and B hold 20 VNodes each; C joins (below fair / (1 + eps) =
 * 40/3/1.25: it needs 11), the hook lets it take odd VNodes only, and its assignment ring
 * (8 slots) has room for 7 requests. The first round lifts it by 7 odd VNodes, passing the
 * even ones (placement gave those to A: the lift takes from B), and stops there for its
 * ring; once C has adopted them, rounds bring it to its share with odd VNodes only, and
 * every member within its bound. */
static void test_rebalance_lift_refused(void **state)
{
	struct pf_rebalance_report rep = {.size = sizeof(rep)};
	struct pf_rebalance_opts o = opts_now();
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	static const uint32_t caps[3] = {100, 100, 100};
	struct pf_sched_opts so;
	struct pf_sched *s;
	uint32_t slots[3];
	int r;

	(void)state;
	ring_slots = 8;
	make(PF_SCHED_TRUST_WEIGHTED, 40);
	ring_slots = 4096;
	slots[0] = add_member(100);
	slots[1] = add_member(100);
	assert_int_equal(pf_vnode_define_range(dom, 0, 40, NULL), 40);
	pf_sched_opts_init(&so);
	so.can_assign = odd_only;
	so.policy_arg = &slots[2];
	slots[2] = UINT32_MAX; /* no one refused while placing */
	assert_int_equal(pf_sched_create(dom, &so, &s), 0);
	for (uint32_t id = 0; id < 40; id++) {
		assert_int_equal(pf_sched_place(s, id, NULL), 0);
		adopt_all(); /* rings of 8: adopt as they come */
	}
	assert_int_equal(owned_by(slots[0], 40), 20);
	slots[2] = add_member(100);
	r = pf_sched_rebalance(s, &o, &rep);
	assert_int_equal(rep.lifted, 7); /* ring count + requests + 1 < 8 slots */
	assert_true(r >= 7);
	assert_int_equal(handoff_all(40), (uint32_t)r);
	assert_int_equal(owned_by(slots[2], 40), 7);
	(void)settle(s, &o, 40);
	assert_true(owned_by(slots[2], 40) >= 11);
	for (uint32_t id = 0; id < 40; id++) {
		assert_int_equal(pf_vnode_info(dom, id, &vi), 0);
		if (vi.owner_slot == slots[2])
			assert_int_equal(id % 2, 1);
	}
	assert_balanced(slots, caps, 3, 40, 250000, 1);
	pf_sched_destroy(s);
	destroy();
}

/* Consistent-hash against a full ring: A holds 40 VNodes, B joins with an assignment ring
 * of 8 (room for 7 requests). A round moves to B the first 7 VNodes whose ring walk reaches
 * it before A, and counts the others that would go there as full, leaving them on A; once
 * B has adopted, later rounds move the rest, and the members end within their bounds. */
static void test_rebalance_chash_full_ring(void **state)
{
	struct pf_rebalance_report rep = {.size = sizeof(rep)};
	struct pf_rebalance_opts o = opts_now();
	static const uint32_t caps[2] = {100, 100};
	struct pf_sched *s;
	uint32_t slots[2];

	(void)state;
	ring_slots = 8;
	make(PF_SCHED_CONSISTENT_HASH, 40);
	ring_slots = 4096;
	slots[0] = add_member(100);
	assert_int_equal(pf_vnode_define_range(dom, 0, 40, NULL), 40);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	for (uint32_t id = 0; id < 40; id++) {
		assert_int_equal(pf_sched_place(s, id, NULL), 0);
		adopt_all(); /* rings of 8: adopt as they come */
	}
	slots[1] = add_member(100);
	assert_int_equal(pf_sched_rebalance(s, &o, &rep), 7);
	assert_true(rep.skipped_full > 0);
	assert_int_equal(handoff_all(40), 7);
	assert_int_equal(owned_by(slots[1], 40), 7);
	(void)settle(s, &o, 40);
	assert_true(owned_by(slots[1], 40) > 7);
	assert_balanced(slots, caps, 2, 40, 250000, 0);
	pf_sched_destroy(s);
	destroy();
}

/* pf_sched_migrate()'s decision reads as pf_sched_place()'s does for the same member: the
 * winner's fields as placements record them (consistent-hash scores nothing), and no
 * winner, node included, when the target is refused. */
static void test_rebalance_migrate_decision(void **state)
{
	static const uint32_t strategies[] = {PF_SCHED_TRUST_WEIGHTED, PF_SCHED_CONSISTENT_HASH};

	(void)state;
	for (size_t i = 0; i < sizeof(strategies) / sizeof(strategies[0]); i++) {
		struct pf_sched_decision placed = {.size = sizeof(placed)};
		struct pf_sched_decision dec = {.size = sizeof(dec)};
		uint32_t a, b, nobody;
		struct pf_sched *s;

		make(strategies[i], 16);
		a = add_member(100);
		assert_int_equal(pf_vnode_define_range(dom, 0, 1, NULL), 1);
		assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
		assert_int_equal(pf_sched_place(s, 0, &placed), 0);
		assert_int_equal(placed.winner_slot, a);
		adopt_all();
		b = add_member(100);
		nobody = (b + 1) % MEMBERS_MAX;
		assert_int_equal(pf_sched_migrate(s, 0, nobody, &dec), -ESRCH);
		assert_int_equal(dec.reason, PF_SCHED_FILTER_STATE);
		assert_int_equal(dec.winner_slot, UINT32_MAX);
		assert_int_equal(dec.winner_node, -1);
		assert_int_equal(pf_sched_migrate(s, 0, b, &dec), 0);
		assert_int_equal(dec.winner_slot, b);
		assert_int_equal(dec.winner_node, placed.winner_node);
		assert_true(dec.reliability == placed.reliability && dec.trust == placed.trust);
		assert_true(dec.load == placed.load && dec.numa_factor == placed.numa_factor);
		if (strategies[i] == PF_SCHED_CONSISTENT_HASH)
			assert_true(dec.score == 0.0);
		else
			assert_true(dec.score > 0.0);
		pf_sched_destroy(s);
		destroy();
	}
}

/* A migrate is a placement's filters, the bound included: a member of capacity 1 beside two
 * of 100 may be given one VNode of 10 (0 < 1.25 x 11 / 201), not a second. */
static void test_rebalance_migrate_refuses_bound(void **state)
{
	struct pf_sched_decision dec = {.size = sizeof(dec)};
	struct pf_sched *s;
	uint32_t small;

	(void)state;
	make(PF_SCHED_TRUST_WEIGHTED, 16);
	add_member(100);
	add_member(100);
	assert_int_equal(pf_vnode_define_range(dom, 0, 10, NULL), 10);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	place_all(s, 10);
	small = add_member(1);
	assert_int_equal(pf_sched_migrate(s, 0, small, &dec), 0);
	assert_int_equal(handoff_all(10), 1);
	assert_int_equal(owned_by(small, 10), 1);
	assert_int_equal(pf_sched_migrate(s, 1, small, &dec), -EPERM);
	assert_int_equal(dec.reason, PF_SCHED_FILTER_BOUND);
	assert_int_equal(dec.filtered[PF_SCHED_FILTERED_BOUND], 1);
	assert_string_equal(pf_sched_reason_name(dec.reason), "filter-bound");
	pf_sched_destroy(s);
	destroy();
}

/* Place every PENDING VNode, the members adopting as their rings fill. */
static void place_run(struct pf_sched *s, uint32_t vnodes)
{
	uint32_t placed = 0;

	while (placed < vnodes) {
		int r = pf_sched_run(s, 65536);

		assert_true(r > 0);
		placed += (uint32_t)r;
		adopt_all();
	}
}

/* VNodes of which a move request is pending, and the round's fraction of the owned. */
static void assert_in_flight(const struct pf_rebalance_report *rep, uint32_t vnodes)
{
	uint64_t fraction = ((uint64_t)rep->owned * 100000u + PF_PPM - 1) / PF_PPM;

	assert_true(rep->requested <= rep->budget);
	assert_true((uint64_t)rep->budget + rep->pending <= PF_MAX_OF(fraction, rep->pending));
	assert_true(requests_pending(vnodes) <= fraction);
}

/* The case: a fifth member joins four holding a million VNodes. On the default
 * options (bar the cool-down), no round asks for more than the fraction in flight (10%,
 * earlier requests still pending included, even when rounds come faster than owners act),
 * the newcomer reaches fair / (1 + eps) within a few rounds (the first default, 256 moves a
 * round, took over six hundred), the moves are the newcomer's due and no more (no
 * overshoot, every VNode moved at most once), and once settled a round moves nothing. */
static void test_rebalance_join_at_scale(void **state)
{
	const uint32_t n = PF_VNODES_MAX, cap = n / 4;
	struct pf_rebalance_opts o;
	struct pf_rebalance_report rep = {.size = sizeof(rep)};
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	struct pf_domain_opts d;
	struct pf_sched *s;
	uint32_t newcomer, moved = 0, rounds = 0;

	(void)state;
	test_domain_name(name, sizeof(name), "rebalance");
	pf_domain_opts_init(&d);
	d.flags = PF_DOMAIN_REPLACE;
	d.members_max = MEMBERS_MAX;
	d.vnodes_max = n;
	d.inbox_slots = 2;
	d.msg_bytes_max = 48;
	d.state_bytes_max = 64; /* the assignment rings on their default: from the size */
	assert_int_equal(pf_domain_create(name, &d, &dom), 0);
	nmem = 0;
	memset(hv, 0, sizeof(hv));
	for (int i = 0; i < 4; i++)
		add_member(cap);
	assert_int_equal(pf_vnode_define_range(dom, 0, n, NULL), (int)n);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	place_run(s, n);
	newcomer = add_member(cap);
	pf_rebalance_opts_init(&o);
	o.cooldown_ns = 0;
	for (int r; (r = pf_sched_rebalance(s, &o, &rep)) > 0; rounds++) {
		assert_in_flight(&rep, n);
		/* Owners have not acted: the next round adds nothing past the fraction. */
		assert_true(pf_sched_rebalance(s, &o, &rep) >= 0);
		assert_in_flight(&rep, n);
		moved += handoff_all(n);
		assert_true(rounds < 8);
	}
	assert_int_equal(rep.requested, 0);
	print_message("# join at scale: %u rounds, %u moved (ideal %u), newcomer %u\n", rounds,
		      moved, n / 5, owned_by(newcomer, n));
	assert_true(owned_by(newcomer, n) * 5ull * 125 >= (uint64_t)n * 100); /* fair / 1.25 */
	assert_true(moved == owned_by(newcomer, n) && moved <= n / 5);
	for (uint32_t id = 0; id < n; id += 97) {
		assert_int_equal(pf_vnode_info(dom, id, &vi), 0);
		assert_true(vi.state == PF_VNODE_ACTIVE && vi.epoch <= 2);
	}
	assert_int_equal(pf_sched_rebalance(s, &o, &rep), 0); /* hysteresis: nothing moves back */
	assert_int_equal(rep.pending, 0);
	pf_sched_destroy(s);
	destroy();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_rebalance_move_carries_state, teardown),
		cmocka_unit_test_teardown(test_rebalance_budget, teardown),
		cmocka_unit_test_teardown(test_rebalance_budget_stop, teardown),
		cmocka_unit_test_teardown(test_rebalance_cooldown, teardown),
		cmocka_unit_test_teardown(test_rebalance_settles_without_ping_pong, teardown),
		cmocka_unit_test_teardown(test_rebalance_stale_request_ignored, teardown),
		cmocka_unit_test_teardown(test_rebalance_handoff_to_dead_target, teardown),
		cmocka_unit_test_teardown(test_rebalance_chash_join_moves_its_share, teardown),
		cmocka_unit_test_teardown(test_rebalance_lifts_failing_newcomer, teardown),
		cmocka_unit_test_teardown(test_rebalance_capability_pools, teardown),
		cmocka_unit_test_teardown(test_rebalance_lift_refused, teardown),
		cmocka_unit_test_teardown(test_rebalance_chash_full_ring, teardown),
		cmocka_unit_test_teardown(test_rebalance_migrate_decision, teardown),
		cmocka_unit_test_teardown(test_rebalance_migrate_refuses_bound, teardown),
		cmocka_unit_test_teardown(test_rebalance_join_at_scale, teardown),
	};

	return cmocka_run_group_tests_name("core_rebalance", tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/core/test_core_drain.c
 * Goal: a cordoned member gets nothing new (placement, its own claims); a drain moves
 * every VNode with its checkpoint and its messages exactly once to other members, never
 * more than `parallel` at once; at the deadline the rest goes back to PENDING with its
 * last checkpoint and inbox; a retire ends RETIRED (kept as history) and the slot is
 * reused after the grace period; a drain with no capable target says why; bad arguments
 * are refused.
 * Method: members joined from this thread; the test plays every owner (commit, then hand
 * over on a move request) and every target (adopt, load the checkpoint).
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
#include "tests/common/test_util.h"

#define MEMBERS_MAX 8
#define VNODES_MAX 256
#define STEPS_MAX 1000

static char name[64];
static struct pf_domain *dom;
static struct pf_member *mem[MEMBERS_MAX];
static uint32_t nmem;
static struct pf_vnode *hv[VNODES_MAX];
static struct pf_member *owner_of[VNODES_MAX];
static uint32_t moves[VNODES_MAX];

/* What a counter VNode checkpoints: messages are sequence numbers from 1. */
struct counter {
	uint64_t last;
	uint64_t applied;
	uint64_t dups;
	uint64_t gaps;
};
static struct counter ctr[VNODES_MAX];

static void make(uint32_t members_max, uint64_t grace_ns)
{
	struct pf_domain_opts o;

	test_domain_name(name, sizeof(name), "drain");
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = members_max;
	o.vnodes_max = VNODES_MAX;
	o.assign_slots = 1024;
	o.slot_grace_ns = grace_ns;
	assert_int_equal(pf_domain_create(name, &o, &dom), 0);
	nmem = 0;
	memset(hv, 0, sizeof(hv));
	memset(owner_of, 0, sizeof(owner_of));
	memset(moves, 0, sizeof(moves));
	memset(ctr, 0, sizeof(ctr));
}

static void destroy(void)
{
	for (uint32_t i = 0; i < nmem; i++)
		(void)pf_member_leave(mem[i]);
	assert_int_equal(pf_domain_destroy(dom), 0);
}

static uint32_t add_member(const char *cap)
{
	const char *caps[1] = {cap};
	struct pf_member_opts o;

	pf_member_opts_init(&o);
	o.vnode_capacity = 1000;
	o.caps = caps;
	o.caps_count = cap != NULL;
	assert_int_equal(pf_member_join(dom, &o, &mem[nmem]), 0);
	return (uint32_t)pf_member_id(mem[nmem++]);
}

/* Every member takes what was placed on it, from its last checkpoint. */
static void adopt_all(void)
{
	for (uint32_t i = 0; i < nmem; i++) {
		struct pf_vnode *v;
		size_t len;
		int r;

		while (mem[i] != NULL && pf_vnode_adopt(mem[i], &v) == 0) {
			uint32_t id = pf_vnode_id(v);

			assert_null(hv[id]);
			hv[id] = v;
			owner_of[id] = mem[i];
			memset(&ctr[id], 0, sizeof(ctr[id]));
			r = pf_checkpoint_load(v, &ctr[id], sizeof(ctr[id]), &len);
			assert_true(r == 0 || r == -ENOENT);
		}
	}
}

static void place_all(struct pf_sched *s)
{
	while (pf_sched_run(s, VNODES_MAX) > 0)
		;
	adopt_all();
}

static void apply(struct counter *c, uint64_t seq)
{
	c->dups += seq <= c->last;
	c->gaps += seq > c->last + 1;
	c->last = seq > c->last ? seq : c->last;
	c->applied++;
}

/* The owner reads what waits in the inbox. */
static void recv_all(uint32_t id)
{
	uint64_t seq;
	size_t len;

	while (pf_recv(hv[id], &seq, sizeof(seq), &len) == 0) {
		assert_int_equal(len, sizeof(seq));
		apply(&ctr[id], seq);
	}
}

static void commit(uint32_t id)
{
	assert_int_equal(
		pf_checkpoint_commit(hv[id], pf_vnode_epoch(hv[id]), &ctr[id], sizeof(ctr[id])), 0);
}

static void send_seq(uint32_t id, uint64_t first, uint64_t last)
{
	for (uint64_t seq = first; seq <= last; seq++)
		assert_int_equal(pf_send(dom, id, &seq, sizeof(seq)), 0);
}

/* Owners act on move requests as a worker does (read, commit, hand over); targets adopt.
 * Returns the number handed over. */
static uint32_t serve_moves(uint32_t vnodes, uint32_t from)
{
	uint32_t moved = 0, slot;

	for (uint32_t id = 0; id < vnodes; id++) {
		if (hv[id] == NULL || pf_vnode_move_target(hv[id], &slot) != 1)
			continue;
		assert_int_not_equal(slot, from);
		recv_all(id);
		commit(id);
		assert_int_equal(pf_vnode_handoff(hv[id]), 0);
		hv[id] = NULL;
		moves[id]++;
		moved++;
	}
	adopt_all();
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

static uint32_t requests_pending(uint32_t vnodes)
{
	uint32_t n = 0;

	for (uint32_t id = 0; id < vnodes; id++)
		n += hv[id] != NULL && pf_vnode_move_target(hv[id], NULL) == 1;
	return n;
}

/* Forget the handles of a member that is about to leave (leave frees them). */
static void forget(struct pf_member *m)
{
	for (uint32_t id = 0; id < VNODES_MAX; id++)
		if (owner_of[id] == m) {
			hv[id] = NULL;
			owner_of[id] = NULL;
		}
}

static void leave(uint32_t i, int expect)
{
	forget(mem[i]);
	assert_int_equal(pf_member_leave(mem[i]), expect);
	mem[i] = NULL;
}

static uint32_t free_slot(void)
{
	struct pf_member_info mi = {.size = sizeof(mi)};

	for (uint32_t slot = 0; slot < MEMBERS_MAX; slot++)
		if (pf_member_info(dom, slot, &mi) == -ENOENT)
			return slot;
	fail_msg("no free slot");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return 0;
}

static void test_drain_cordon_refuses_new(void **state)
{
	struct pf_drain_report rep = {.size = sizeof(rep)};
	struct pf_member_info mi = {.size = sizeof(mi)};
	struct pf_sched *s;
	struct pf_vnode *v;
	uint32_t a, b;

	(void)state;
	make(MEMBERS_MAX, 0);
	a = add_member(NULL);
	b = add_member(NULL);
	assert_int_equal(pf_vnode_define_range(dom, 0, 16, NULL), 16);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	assert_int_equal(pf_member_cordon(dom, a, 0), 0);
	assert_int_equal(pf_member_cordon(dom, a, 0), -EALREADY);
	assert_int_equal(pf_member_info(dom, a, &mi), 0);
	assert_int_equal(mi.state, PF_MEMBER_DRAINING);
	assert_int_equal(pf_member_cordon(dom, free_slot(), 0), -ENOENT);
	assert_int_equal(pf_member_cordon(dom, MEMBERS_MAX, 0), -EINVAL);
	assert_int_equal(pf_member_cordon(dom, a, 0x2), -EINVAL);
	assert_int_equal(pf_member_cordon(NULL, a, 0), -EINVAL);
	/* Neither its own claims nor the scheduler give it anything. */
	assert_int_equal(pf_vnode_claim(mem[0], PF_CLAIM_NOWAIT, 0, &v), -EAGAIN);
	assert_int_equal(pf_vnode_claim(mem[0], 0, 1000000, &v), -EAGAIN);
	assert_int_equal(pf_vnode_claim_id(mem[0], 0, &v), -EAGAIN);
	place_all(s);
	assert_int_equal(owned_by(a, 16), 0);
	assert_int_equal(owned_by(b, 16), 16);
	/* A drain becomes a retire; then nothing held: done at once, RETIRED. */
	assert_int_equal(pf_member_cordon(dom, a, PF_DRAIN_RETIRE), 0);
	assert_int_equal(pf_member_cordon(dom, a, PF_DRAIN_RETIRE), -EALREADY);
	assert_int_equal(pf_sched_drain_step(s, a, NULL, &rep), 0);
	assert_int_equal(rep.done, 1);
	assert_int_equal(rep.final_state, PF_MEMBER_RETIRED);
	assert_int_equal(rep.initial, 0);
	assert_int_equal(pf_sched_drain_step(s, a, NULL, &rep), 0); /* over: stays over */
	assert_int_equal(pf_member_info(dom, a, &mi), 0);
	assert_int_equal(mi.state, PF_MEMBER_RETIRED);
	assert_int_equal(pf_member_cordon(dom, a, 0), -ENOENT);
	assert_int_equal(pf_vnode_adopt(mem[0], &v), -ESTALE);
	leave(0, 0); /* the slot was given back for it */
	pf_sched_destroy(s);
	destroy();
}

/* Drain onto three members, 4 at a time: every VNode moves exactly once with its state;
 * messages sent before, read and committed, and after all arrive exactly once. */
static void test_drain_moves_everything_once(void **state)
{
	struct pf_drain_report rep = {.size = sizeof(rep)};
	struct pf_member_info mi = {.size = sizeof(mi)};
	struct pf_drain_opts o;
	struct pf_sched *s;
	uint32_t a, slots[3], total = 0, n = 100;
	int steps = 0;

	(void)state;
	make(MEMBERS_MAX, 0);
	a = add_member(NULL);
	assert_int_equal(pf_vnode_define_range(dom, 0, n, NULL), (int)n);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	place_all(s);
	assert_int_equal(owned_by(a, n), n);
	for (uint32_t id = 0; id < n; id++) {
		send_seq(id, 1, 3);
		recv_all(id);
		commit(id);
		send_seq(id, 4, 5); /* waits in the inbox */
	}
	for (int i = 0; i < 3; i++)
		slots[i] = add_member(NULL);
	assert_int_equal(pf_member_cordon(dom, a, 0), 0);
	pf_drain_opts_init(&o);
	assert_int_equal(o.parallel, PF_DRAIN_PARALLEL_DEFAULT);
	o.parallel = 4;
	while (!rep.done && steps++ < STEPS_MAX) {
		int r = pf_sched_drain_step(s, a, &o, &rep);

		assert_true(r >= 0 && r <= 4);
		assert_true(rep.moving <= 4);
		assert_int_equal(requests_pending(n), rep.moving);
		assert_int_equal(rep.moved + rep.owned, n);
		send_seq(steps % n, 100 + (uint64_t)steps, 100 + (uint64_t)steps);
		total += serve_moves(n, a);
	}
	assert_int_equal(rep.done, 1);
	assert_int_equal(rep.final_state, PF_MEMBER_FREE);
	assert_int_equal(rep.moved, n);
	assert_int_equal(rep.released, 0);
	assert_int_equal(rep.requested, n);
	assert_int_equal(total, n);
	assert_int_equal(owned_by(a, n), 0);
	assert_int_equal(owned_by(slots[0], n) + owned_by(slots[1], n) + owned_by(slots[2], n), n);
	for (int i = 0; i < 3; i++)
		assert_true(owned_by(slots[i], n) >= n / 6);    /* spread, not piled on one */
	assert_int_equal(pf_member_info(dom, a, &mi), -ENOENT); /* FREE */
	for (uint32_t id = 0; id < n; id++) {
		assert_int_equal(moves[id], 1);
		assert_non_null(hv[id]);
		recv_all(id);
		assert_int_equal(ctr[id].dups, 0);
		assert_true(ctr[id].last == 5 || ctr[id].last >= 100);
		assert_true(ctr[id].applied >= 5);
	}
	leave(0, 0);
	pf_sched_destroy(s);
	destroy();
}

/* The deadline releases what is still held to PENDING (epoch + 1) with its last
 * checkpoint and its inbox; the old owner is fenced. */
static void test_drain_deadline_releases(void **state)
{
	struct pf_drain_report rep = {.size = sizeof(rep)};
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	struct pf_drain_opts o;
	struct pf_sched *s;
	struct pf_vnode *old;
	uint32_t a, b, n = 20;
	uint64_t epoch;

	(void)state;
	make(MEMBERS_MAX, 0);
	a = add_member(NULL);
	assert_int_equal(pf_vnode_define_range(dom, 0, n, NULL), (int)n);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	place_all(s);
	for (uint32_t id = 0; id < n; id++) {
		send_seq(id, 1, 3);
		recv_all(id);
		commit(id);
		send_seq(id, 4, 4);
		recv_all(id); /* read, never committed: redone by the next owner */
	}
	b = add_member(NULL);
	old = hv[0];
	epoch = pf_vnode_epoch(old);
	assert_int_equal(pf_member_cordon(dom, a, 0), 0);
	pf_drain_opts_init(&o);
	o.parallel = 1;
	assert_int_equal(pf_sched_drain_step(s, a, &o, &rep), 1); /* one request */
	o.deadline_ns = 1;                                        /* long past */
	assert_int_equal(pf_sched_drain_step(s, a, &o, &rep), (int)n);
	assert_int_equal(rep.released, n);
	assert_int_equal(rep.moved, 0);
	assert_int_equal(rep.done, 1);
	assert_int_equal(pf_vnode_info(dom, 0, &vi), 0);
	assert_int_equal(vi.state, PF_VNODE_PENDING);
	assert_int_equal(vi.epoch, epoch + 1);
	assert_int_equal(pf_checkpoint_commit(old, epoch, &ctr[0], sizeof(ctr[0])), -ESTALE);
	leave(0, 0);
	place_all(s);
	assert_int_equal(owned_by(b, n), n);
	for (uint32_t id = 0; id < n; id++) {
		assert_int_equal(ctr[id].last, 3); /* the last checkpoint */
		recv_all(id);
		assert_int_equal(ctr[id].last, 4);
		assert_int_equal(ctr[id].dups, 0);
		assert_int_equal(ctr[id].gaps, 0);
	}
	pf_sched_destroy(s);
	destroy();
}

/* Retire: RETIRED stays in the table; the slot is reused once the grace is over. */
static void test_drain_retire_slot_reused(void **state)
{
	struct pf_drain_report rep = {.size = sizeof(rep)};
	struct pf_member_info mi = {.size = sizeof(mi)};
	struct timespec ts = {0, 60000000};
	struct pf_sched *s;
	struct pf_member *m;
	uint32_t a, gen;

	(void)state;
	make(2, 30000000);
	a = add_member(NULL);
	add_member(NULL);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	assert_int_equal(pf_member_cordon(dom, a, PF_DRAIN_RETIRE), 0);
	assert_int_equal(pf_sched_drain_step(s, a, NULL, &rep), 0);
	assert_int_equal(rep.final_state, PF_MEMBER_RETIRED);
	assert_int_equal(pf_member_info(dom, a, &mi), 0);
	assert_int_equal(mi.state, PF_MEMBER_RETIRED);
	gen = mi.generation;
	leave(0, 0);
	assert_int_equal(pf_member_join(dom, NULL, &m), -EUSERS); /* inside the grace */
	(void)nanosleep(&ts, NULL);
	assert_int_equal(pf_member_join(dom, NULL, &m), 0);
	assert_int_equal((uint32_t)pf_member_id(m), a);
	assert_int_equal(pf_member_id(m) >> 32, gen + 1);
	assert_int_equal(pf_member_leave(m), 0);
	pf_sched_destroy(s);
	destroy();
}

/* No capable target: the report says why; a leave during the drain still works. */
static void test_drain_blocked_reason(void **state)
{
	const char *gpu[1] = {"gpu"};
	struct pf_drain_report rep = {.size = sizeof(rep)};
	struct pf_drain_opts o;
	struct pf_vnode_spec spec;
	struct pf_sched *s;
	uint32_t a, b;

	(void)state;
	make(MEMBERS_MAX, 0);
	a = add_member("gpu");
	pf_vnode_spec_init(&spec);
	spec.caps = gpu;
	spec.caps_count = 1;
	assert_int_equal(pf_vnode_define(dom, 0, &spec), 0);
	assert_int_equal(pf_vnode_define(dom, 1, NULL), 0);
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	place_all(s);
	assert_int_equal(pf_member_cordon(dom, a, 0), 0);
	assert_int_equal(pf_sched_drain_step(s, a, NULL, &rep), 0);
	assert_int_equal(rep.blocked, 2);
	assert_int_equal(rep.reason, PF_SCHED_NO_MEMBER);
	b = add_member(NULL);
	assert_int_equal(pf_sched_drain_step(s, a, NULL, &rep), 1); /* VNode 1 only */
	assert_int_equal(rep.blocked, 1);
	assert_int_equal(rep.reason, PF_SCHED_FILTER_CAPS);
	assert_string_equal(pf_sched_reason_name(rep.reason), "filter-caps");
	assert_int_equal(rep.owned, 2);
	assert_int_equal(rep.moving, 1);
	assert_int_equal(pf_sched_drain_step(s, b, NULL, &rep), -EINVAL); /* not its slot */
	{
		struct pf_drain_report other = {.size = sizeof(other)};

		assert_int_equal(pf_sched_drain_step(s, b, NULL, &other), -ENOENT);
		o.size = sizeof(o);
		pf_drain_opts_init(&o);
		o.parallel = PF_DRAIN_PARALLEL_MAX + 1;
		assert_int_equal(pf_sched_drain_step(s, a, &o, &other), -EINVAL);
		other.size = 4;
		assert_int_equal(pf_sched_drain_step(s, a, NULL, &other), -EINVAL);
		assert_int_equal(pf_sched_drain_step(NULL, a, NULL, &other), -EINVAL);
	}
	leave(0, 0); /* a draining member may leave: its VNodes go back to PENDING */
	assert_int_equal(pf_sched_drain_step(s, a, NULL, &rep), 0);
	assert_int_equal(rep.done, 1);
	assert_int_equal(rep.final_state, PF_MEMBER_FREE);
	pf_sched_destroy(s);
	destroy();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_drain_cordon_refuses_new, teardown),
		cmocka_unit_test_teardown(test_drain_moves_everything_once, teardown),
		cmocka_unit_test_teardown(test_drain_deadline_releases, teardown),
		cmocka_unit_test_teardown(test_drain_retire_slot_reused, teardown),
		cmocka_unit_test_teardown(test_drain_blocked_reason, teardown),
	};

	return cmocka_run_group_tests_name("core_drain", tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/core/test_core_fence.c
 * Goal: an owner that loses its VNode while it is inside pf_checkpoint_commit() (stalled
 * by a page fault, a preemption, SIGSTOP) never gets a byte to a reader: its commit is
 * refused, and every later owner loads the last state an owner of the current lineage
 * committed, with the inbox position that state consumed, so every message takes effect
 * exactly once. Both ways the API takes a VNode from a live owner are tried: a drain
 * whose deadline has passed, and a supervisor in the owner's own process declaring it
 * hung (it cannot kill its own process); and a chain of two stale writers stalled at
 * once (A stalled, B stalled, C claims).
 * Method: one process, members joined from this thread; a stale writer's commit runs in
 * a thread of its own that a fault hook stalls at a chosen point of the commit (before
 * its copy, mid-copy, before its publishing CAS) until the test lets it go. Messages are
 * sequence numbers from 1; a state is (applied, sum, fill) where sum and fill are
 * functions of applied, so a state mixed from two commits, an older state with a newer
 * inbox position, a duplicate or a gap is caught. After each scenario the domain's
 * invariants hold, the checkpoint buffers included: none named twice, none lost.
 * A member slot whose stalled member still holds a buffer is not given to a joiner until
 * that member lets go.
 * The other writes an owner makes are tried the same way, stalled where the word they
 * change may move under them: the inbox frees after a commit (a stale owner resuming its
 * frees after the next owner consumed, freed and senders refilled the ring), a release
 * and a hand-off stalled before their CAS. Nothing may be lost, applied twice, or moved
 * away from the owner that took over.
 */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "core/checkpoint.h"
#include "pflight/pflight.h"
#include "shm/fault.h"
#include "tests/common/invariants.h"
#include "tests/common/test_util.h"

#define STATE_BYTES 4096
#define MEMBERS 5
#define HB_INTERVAL_NS UINT64_C(2000000)
#define HB_MISSES 2

struct state {
	uint64_t applied;
	uint64_t sum;
	unsigned char fill[STATE_BYTES - 16];
};

/* One member's view of VNode 0 while it believes it owns it. */
struct owner {
	struct pf_member *m;
	struct pf_vnode *h;
	struct state st;
};

enum take_away { BY_DRAIN, BY_HUNG };

/* A commit running in its own thread, stalled at `at` until released. */
typedef int (*stall_op_fn)(struct owner *o);

struct stall {
	pthread_t thread;
	struct owner *o;
	stall_op_fn op;
	enum fault_point at;
	int passed;  /* the thread is past the point, or done */
	int stalled; /* the hook stopped it at the point (set only by stall_hook) */
	int ret;
	sem_t reached;
	sem_t go;
};

static char name[64];
static struct pf_domain *dom;
static struct owner own[MEMBERS];
static uint64_t sent;
static _Thread_local struct stall *self;

static unsigned char fill_of(uint64_t applied)
{
	return (unsigned char)(applied * 7 + 1);
}

static void state_set(struct state *s)
{
	memset(s->fill, fill_of(s->applied), sizeof(s->fill));
}

/* The state is one some owner committed: sum and fill agree with applied. */
static void state_check(const struct state *s)
{
	assert_int_equal(s->sum, s->applied * (s->applied + 1) / 2);
	for (size_t i = 0; i < sizeof(s->fill); i++)
		if (s->fill[i] != fill_of(s->applied))
			fail_msg("fill byte %zu is %u, not %u: a state mixed from two commits", i,
				 s->fill[i], fill_of(s->applied));
}

static void make_slots(uint32_t inbox_slots)
{
	struct pf_domain_opts o;

	test_domain_name(name, sizeof(name), "fence");
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = MEMBERS + 1;
	o.slot_grace_ns = 0;
	o.vnodes_max = 4;
	o.inbox_slots = inbox_slots;
	o.state_bytes_max = STATE_BYTES;
	o.heartbeat_interval_ns = HB_INTERVAL_NS;
	o.heartbeat_misses = HB_MISSES;
	assert_int_equal(pf_domain_create(name, &o, &dom), 0);
	assert_int_equal(pf_vnode_define(dom, 0, NULL), 0);
	memset(own, 0, sizeof(own));
	sent = 0;
	for (int i = 0; i < MEMBERS; i++)
		assert_int_equal(pf_member_join(dom, NULL, &own[i].m), 0);
}

/* Invariants 1-4 and the buffer accounting, with every stale writer finished. */
static void check_invariants(void)
{
	struct invariants_report rep;

	memset(&rep, 0, sizeof(rep));
	if (invariants_check(dom, &rep) != 0)
		fail_msg("invariant violated: %s", rep.first);
}

static void make(void)
{
	make_slots(256);
}

static void destroy(void)
{
	for (int i = 0; i < MEMBERS; i++) {
		if (own[i].h != NULL)
			(void)pf_vnode_release(own[i].h);
		(void)pf_member_leave(own[i].m);
	}
	assert_int_equal(pf_domain_destroy(dom), 0);
	fault_disarm_all();
}

static void send_n(uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t seq = ++sent;

		assert_int_equal(pf_send(dom, 0, &seq, sizeof(seq)), 0);
	}
}

/* Claim VNode 0 for o and load its last checkpoint: it must be a whole committed state. */
static void take(struct owner *o)
{
	size_t len = 0;
	int r;

	assert_int_equal(pf_vnode_claim_id(o->m, 0, &o->h), 0);
	memset(&o->st, 0, sizeof(o->st));
	r = pf_checkpoint_load(o->h, &o->st, sizeof(o->st), &len);
	if (r == -ENOENT) {
		state_set(&o->st);
		return;
	}
	assert_int_equal(r, 0);
	assert_int_equal(len, sizeof(o->st));
	state_check(&o->st);
}

/* Receive everything waiting and apply it: in order, no duplicate, no gap. */
static void serve(struct owner *o)
{
	uint64_t seq;
	size_t len;

	while (pf_recv(o->h, &seq, sizeof(seq), &len) == 0) {
		assert_int_equal(len, sizeof(seq));
		if (seq != o->st.applied + 1)
			fail_msg("message %llu applied after %llu: %s", (unsigned long long)seq,
				 (unsigned long long)o->st.applied,
				 seq <= o->st.applied ? "a duplicate" : "a gap (messages lost)");
		o->st.applied = seq;
		o->st.sum += seq;
	}
	state_set(&o->st);
}

static int commit(struct owner *o)
{
	return pf_checkpoint_commit(o->h, pf_vnode_epoch(o->h), &o->st, sizeof(o->st));
}

/* Runs in the stalled thread: no cmocka calls here (cmocka is not thread-safe). */
static void stall_hook(void *arg, enum fault_point point)
{
	struct stall *s = self;

	(void)arg;
	if (s == NULL || s->passed || point != s->at)
		return;
	s->passed = 1;
	s->stalled = 1;
	if (sem_post(&s->reached) != 0)
		abort();
	while (sem_wait(&s->go) != 0)
		;
}

static void *stall_main(void *arg)
{
	struct stall *s = arg;

	self = s;
	s->ret = s->op(s->o);
	if (!s->passed) { /* never reached the point: wake the test, which fails */
		s->passed = 1;
		if (sem_post(&s->reached) != 0)
			abort();
	}
	return NULL;
}

/* Start op(o) in a thread and return once it is stalled at `at`; fail if the operation
 * ended without reaching it (the race the scenario is about would not have run). */
static void stall_op(struct stall *s, struct owner *o, stall_op_fn op, enum fault_point at)
{
	memset(s, 0, sizeof(*s));
	s->o = o;
	s->op = op;
	s->at = at;
	assert_int_equal(sem_init(&s->reached, 0, 0), 0);
	assert_int_equal(sem_init(&s->go, 0, 0), 0);
	assert_int_equal(pthread_create(&s->thread, NULL, stall_main, s), 0);
	while (sem_wait(&s->reached) != 0)
		;
	if (!s->stalled) {
		(void)pthread_join(s->thread, NULL);
		fail_msg("never reached fault point %d (returned %d)", (int)at, s->ret);
	}
}

/* Let the stalled operation finish; its result. */
static int stall_end(struct stall *s)
{
	assert_int_equal(sem_post(&s->go), 0);
	assert_int_equal(pthread_join(s->thread, NULL), 0);
	(void)sem_destroy(&s->reached);
	(void)sem_destroy(&s->go);
	return s->ret;
}

/* Let the stalled commit finish; it must have been refused. */
static void stall_finish(struct stall *s)
{
	assert_int_equal(stall_end(s), -ESTALE);
}

static void stall_start(struct stall *s, struct owner *o, enum fault_point at)
{
	stall_op(s, o, commit, at);
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
			      .tv_nsec = (long)(ns % 1000000000u)};

	while (nanosleep(&ts, &ts) != 0)
		;
}

/* Take VNode 0 away from the live owner o, without killing anyone. */
static void take_away(struct owner *o, enum take_away how)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	uint32_t slot = (uint32_t)pf_member_id(o->m);

	if (how == BY_DRAIN) {
		struct pf_drain_opts opts;
		struct pf_drain_report rep = {.size = sizeof(rep)};
		struct pf_sched *s;

		assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
		assert_int_equal(pf_member_cordon(dom, slot, 0), 0);
		pf_drain_opts_init(&opts);
		opts.deadline_ns = 1; /* long past: release what it holds */
		for (int i = 0; i < 4 && !rep.done; i++)
			assert_true(pf_sched_drain_step(s, slot, &opts, &rep) >= 0);
		pf_sched_destroy(s);
	} else {
		struct pf_supervisor *sup;

		assert_int_equal(pf_supervisor_create(dom, NULL, &sup), 0);
		(void)pf_supervisor_check(sup); /* first sight of every member */
		sleep_ns(HB_INTERVAL_NS * (HB_MISSES + 2));
		for (int i = 0; i < MEMBERS; i++)
			if (&own[i] != o)
				pf_member_heartbeat(own[i].m);
		assert_true(pf_supervisor_check(sup) >= 1);
		pf_supervisor_destroy(sup);
	}
	assert_int_equal(pf_vnode_info(dom, 0, &vi), 0);
	assert_int_equal(vi.state, PF_VNODE_PENDING);
}

/* The last state committed, as a tool reads it, must be `want`. */
static void read_committed(uint64_t want)
{
	struct state st;
	size_t len = 0;

	assert_int_equal(pf_checkpoint_read(dom, 0, &st, sizeof(st), &len, NULL), 0);
	state_check(&st);
	assert_int_equal(st.applied, want);
}

/* The last state committed, read by a tool, and by the next owner, must be `want`. */
static void expect_committed(struct owner *next, uint64_t want)
{
	read_committed(want);
	take(next);
	assert_int_equal(next->st.applied, want);
	serve(next);
	assert_int_equal(next->st.applied, sent); /* every message, exactly once */
}

/* A stalls mid-commit and loses v; B takes it, applies more and commits; A resumes. */
static void one_stale_writer(enum take_away how, enum fault_point at)
{
	struct owner *a = &own[0], *b = &own[1], *c = &own[2];
	struct stall sa;

	make();
	fault_set_hook(at, stall_hook, NULL);
	take(a);
	send_n(10);
	serve(a);
	assert_int_equal(commit(a), 0); /* applied 10 */
	send_n(10);
	serve(a); /* applied 20, not committed */
	stall_start(&sa, a, at);
	take_away(a, how);
	take(b); /* A's last good state: 10, and the ten messages after it again */
	assert_int_equal(b->st.applied, 10);
	send_n(10);
	serve(b);
	assert_int_equal(b->st.applied, 30);
	assert_int_equal(commit(b), 0);
	stall_finish(&sa);
	assert_int_equal(pf_vnode_release(b->h), 0);
	b->h = NULL;
	send_n(5);
	expect_committed(c, 30);
	check_invariants();
	destroy();
}

/* A stalls, loses v; B takes it, applies more and stalls committing, loses v; C takes it
 * and commits; then A and B resume, in that order or the other, both after C's commit. */
static void two_stale_writers(enum take_away how, enum fault_point at, int a_first)
{
	struct owner *a = &own[0], *b = &own[1], *c = &own[2], *d = &own[3];
	struct stall sa, sb;

	make();
	fault_set_hook(at, stall_hook, NULL);
	take(a);
	send_n(8);
	serve(a);
	assert_int_equal(commit(a), 0); /* applied 8 */
	send_n(8);
	serve(a);
	stall_start(&sa, a, at);
	take_away(a, how);
	take(b);
	assert_int_equal(b->st.applied, 8);
	send_n(8);
	serve(b); /* applied 24, not committed */
	stall_start(&sb, b, at);
	take_away(b, how);
	take(c);
	assert_int_equal(c->st.applied, 8);
	send_n(8);
	serve(c);
	assert_int_equal(c->st.applied, 32);
	assert_int_equal(commit(c), 0);
	stall_finish(a_first ? &sa : &sb);
	stall_finish(a_first ? &sb : &sa);
	read_committed(32);
	send_n(3);
	serve(c);
	assert_int_equal(commit(c), 0); /* applied 35, after both stale writers finished */
	read_committed(35);
	assert_int_equal(pf_vnode_release(c->h), 0);
	c->h = NULL;
	send_n(2);
	expect_committed(d, 35);
	check_invariants();
	destroy();
}

/* A member stalled mid-commit and drained or declared dead keeps its slot (and the hold
 * entry naming its buffer): no joiner takes the slot while the member's handle lives in
 * its process (a late write of it would land in the joiner's record, its buffer would be
 * lost), not even once its stalled commit is refused; its leave lets the slot go. */
static void slot_kept_while_held(enum take_away how)
{
	struct owner *a = &own[0], *b = &own[1];
	struct pf_member *late[2];
	struct stall sa;
	uint32_t slot;

	make();
	fault_set_hook(FAULT_CKPT_MID_COPY, stall_hook, NULL);
	take(a);
	send_n(4);
	serve(a);
	stall_start(&sa, a, FAULT_CKPT_MID_COPY);
	take_away(a, how);
	/* The one never used slot goes to the first joiner; A's is not free to take. */
	assert_int_equal(pf_member_join(dom, NULL, &late[0]), 0);
	assert_int_equal(pf_member_join(dom, NULL, &late[1]), -EUSERS);
	stall_finish(&sa);
	assert_int_equal(pf_member_join(dom, NULL, &late[1]), -EUSERS);
	slot = (uint32_t)pf_member_id(a->m);
	assert_int_equal(pf_member_leave(a->m), how == BY_DRAIN ? 0 : -ESTALE);
	a->m = NULL;
	a->h = NULL; /* freed by the leave */
	assert_int_equal(pf_member_join(dom, NULL, &late[1]), 0);
	assert_int_equal((uint32_t)pf_member_id(late[1]), slot);
	take(b);
	assert_int_equal(b->st.applied, 0);
	serve(b);
	assert_int_equal(commit(b), 0);
	check_invariants();
	(void)pf_member_leave(late[0]);
	(void)pf_member_leave(late[1]);
	destroy();
}

static int release_op(struct owner *o)
{
	int r = pf_vnode_release(o->h);

	o->h = NULL; /* freed whatever the result */
	return r;
}

static int handoff_op(struct owner *o)
{
	int r = pf_vnode_handoff(o->h);

	if (r != -ENOENT)
		o->h = NULL; /* freed, unless no request applied */
	return r;
}

/* A commits, and stalls inside the inbox frees that follow its publish; it loses v, B
 * consumes, commits and frees past it, senders refill the slots A was freeing (the ring
 * has 16 slots); A resumes its frees. Then C must see every message once. */
static void test_fence_stale_inbox_free(void **state)
{
	struct owner *a = &own[0], *b = &own[1], *c = &own[2];
	struct stall sa;

	(void)state;
	make_slots(16);
	fault_set_hook(FAULT_CKPT_MID_FREE, stall_hook, NULL);
	take(a);
	send_n(10);
	serve(a);
	stall_start(&sa, a, FAULT_CKPT_MID_FREE); /* published: 10 applied */
	take_away(a, BY_DRAIN);
	take(b);
	assert_int_equal(b->st.applied, 10);
	for (int round = 0; round < 4; round++) {
		send_n(12);
		serve(b);
		assert_int_equal(commit(b), 0);
	}
	send_n(12); /* in the slots A's frees were walking, one lap later */
	assert_int_equal(stall_end(&sa), 0);
	assert_int_equal(pf_vnode_release(b->h), 0);
	b->h = NULL;
	expect_committed(c, 58);
	check_invariants();
	destroy();
}

/* A stalls between the check and the CAS of a release, or of a hand-off that a request
 * asked for; it loses v and B takes it over and commits; A resumes. Its CAS must fail:
 * v stays B's, with B's state. */
static void stale_transition(stall_op_fn op, enum fault_point at)
{
	struct owner *a = &own[0], *b = &own[1], *c = &own[2], *t = &own[3];
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	struct stall sa;

	make();
	fault_set_hook(at, stall_hook, NULL);
	take(a);
	send_n(6);
	serve(a);
	assert_int_equal(commit(a), 0);
	if (op == handoff_op) {
		struct pf_sched *s;

		assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
		assert_int_equal(pf_sched_migrate(s, 0, (uint32_t)pf_member_id(t->m), NULL), 0);
		pf_sched_destroy(s);
	}
	stall_op(&sa, a, op, at);
	take_away(a, BY_HUNG);
	take(b);
	send_n(6);
	serve(b);
	assert_int_equal(commit(b), 0);
	assert_int_equal(stall_end(&sa), -ESTALE);
	assert_int_equal(pf_vnode_info(dom, 0, &vi), 0);
	assert_int_equal(vi.state, PF_VNODE_ACTIVE);
	assert_int_equal(vi.owner_slot, (uint32_t)pf_member_id(b->m));
	read_committed(12);
	assert_int_equal(pf_vnode_release(b->h), 0);
	b->h = NULL;
	expect_committed(c, 12);
	check_invariants();
	destroy();
}

/* B's publish replaces A's buffer and B stalls before taking it for its next commit; A,
 * fenced out, lets go of it (free); B loses v and C claims v and commits into that very
 * buffer, now named again. B resumes: it must not take the buffer C holds and named, and
 * its stale handle letting go must not free it. */
static void replacer_late(enum take_away how)
{
	struct owner *a = &own[0], *b = &own[1], *c = &own[2], *d = &own[3];
	struct stall sb;

	make();
	fault_set_hook(FAULT_CKPT_AFTER_PUBLISH, stall_hook, NULL);
	take(a);
	send_n(4);
	serve(a);
	assert_int_equal(commit(a), 0); /* applied 4, in A's buffer */
	take_away(a, how);
	take(b);
	send_n(4);
	serve(b);
	stall_start(&sb, b, FAULT_CKPT_AFTER_PUBLISH);     /* applied 8 named; A's replaced */
	assert_int_equal(pf_vnode_release(a->h), -ESTALE); /* A lets go: its buffer is free */
	a->h = NULL;
	take_away(b, how);
	take(c);
	assert_int_equal(c->st.applied, 8);
	send_n(4);
	serve(c);
	assert_int_equal(commit(c), 0);      /* applied 12, in a buffer free a moment ago */
	assert_int_equal(stall_end(&sb), 0); /* B's publish had gone in */
	assert_int_equal(commit(b), -ESTALE);
	assert_int_equal(pf_vnode_release(b->h), -ESTALE);
	b->h = NULL;
	check_invariants();
	send_n(2);
	serve(c);
	assert_int_equal(commit(c), 0); /* applied 14 */
	read_committed(14);
	assert_int_equal(pf_vnode_release(c->h), 0);
	c->h = NULL;
	send_n(1);
	expect_committed(d, 14);
	check_invariants();
	destroy();
}

static int claim_op(struct owner *o)
{
	return pf_vnode_claim_id(o->m, 0, &o->h);
}

/* A claims v and stalls after its seal, before it reads the header of the buffer its
 * sealed descriptor names (state 1); it loses v. C takes v and commits states 2..1024, so
 * that buffer is written again and again; C consumes five more messages and stalls before
 * publishing state 1025, whose sequence tag is state 1's, written into that buffer: its
 * header now carries C's unpublished inbox position. A resumes its claim, and C loses v
 * with its publish refused. D loads state 1024: the five messages after it must still be
 * in the inbox. */
static void test_fence_stale_claim_free(void **state)
{
	struct owner *a = &own[0], *b = &own[1], *c = &own[2], *d = &own[3];
	struct stall sa, sc;
	uint64_t c_applied;

	(void)state;
	make();
	fault_set_hook(FAULT_CLAIM_AFTER_SEAL, stall_hook, NULL);
	fault_set_hook(FAULT_CKPT_BEFORE_PUBLISH, stall_hook, NULL);
	take(b);
	send_n(4);
	serve(b);
	assert_int_equal(commit(b), 0); /* state 1 */
	assert_int_equal(pf_vnode_release(b->h), 0);
	b->h = NULL;
	stall_op(&sa, a, claim_op, FAULT_CLAIM_AFTER_SEAL);
	take_away(a, BY_HUNG);
	take(c);
	assert_int_equal(c->st.applied, 4);
	for (int i = 0; i < 1023; i++) { /* states 2..1024 */
		send_n(1);
		serve(c);
		assert_int_equal(commit(c), 0);
	}
	c_applied = c->st.applied;
	send_n(5);
	serve(c);
	stall_start(&sc, c, FAULT_CKPT_BEFORE_PUBLISH); /* state 1025: state 1's tag */
	assert_int_equal(stall_end(&sa), 0);            /* A's claim went in, fenced since */
	take_away(c, BY_HUNG);
	stall_finish(&sc);
	assert_int_equal(pf_checkpoint_commit(a->h, pf_vnode_epoch(a->h), &a->st, sizeof(a->st)),
			 -ESTALE);
	read_committed(c_applied);
	expect_committed(d, c_applied);
	check_invariants();
	destroy();
}

static uint64_t counter(enum pf_counter which)
{
	uint64_t v[PF_COUNTER_COUNT];

	assert_int_equal(pf_domain_counters(dom, v, PF_COUNTER_COUNT), PF_COUNTER_COUNT);
	return v[which];
}

/* Defence in depth, should a reclaim ever give away a buffer a live writer holds (a
 * process wrongly judged gone): A stalls mid-copy into its `held` buffer, and its buffers
 * are reclaimed as if its process were gone; B takes v and commits into that very buffer
 * (a home buffer, free now) and publishes it; A resumes and finishes its copy over B's
 * bytes. Its checksum must be that of A's own header, not of the header now in the buffer
 * (B's), so readers refuse the mixed buffer instead of loading A's stale state as B's;
 * and A, letting go of a buffer now B's, counts it invalid instead of asserting. */
static void test_fence_overlapping_writer_refused(void **state)
{
	struct owner *a = &own[0], *b = &own[1];
	uint64_t corrupt, invalid, id;
	struct state st;
	struct stall sa;
	size_t len;

	(void)state;
	make();
	fault_set_hook(FAULT_CKPT_MID_COPY, stall_hook, NULL);
	take(a);
	for (int i = 0; i < 2; i++) { /* one buffer named, the other held for the next */
		send_n(4);
		serve(a);
		assert_int_equal(commit(a), 0);
	}
	send_n(4);
	serve(a); /* applied 12 */
	stall_start(&sa, a, FAULT_CKPT_MID_COPY);
	take_away(a, BY_HUNG); /* its process lives: its buffers stay its own */
	id = pf_member_id(a->m);
	(void)ckpt_reclaim(dom, (uint32_t)id, (uint32_t)(id >> 32)); /* as if it were gone */
	take(b);
	assert_int_equal(b->st.applied, 8);
	send_n(4);
	serve(b);
	assert_int_equal(b->st.applied, 16);
	assert_int_equal(commit(b), 0); /* into the buffer A is writing */
	invalid = counter(PF_COUNTER_SHM_INVALID);
	stall_finish(&sa);
	assert_true(counter(PF_COUNTER_SHM_INVALID) > invalid);
	corrupt = counter(PF_COUNTER_CKPT_CORRUPT);
	assert_int_equal(pf_checkpoint_read(dom, 0, &st, sizeof(st), &len, NULL), -EBADMSG);
	assert_int_equal(pf_checkpoint_load(b->h, &st, sizeof(st), &len), -EBADMSG);
	assert_true(counter(PF_COUNTER_CKPT_CORRUPT) > corrupt);
	destroy();
}

/* A replacer dies between its publish and taking the buffer it replaced (here: B is
 * stalled there and reclaimed as if its process were gone): that buffer, let go by its
 * holder and named by none, is freed by B's reclaim and by nothing else. The reclaim
 * settles exactly B's buffers and that one, and counts what it changed, not the published
 * buffers it looked at (VNode 1's, named, stays). A member reclaimed while no commit of it
 * was replacing a buffer settles its own buffers only. */
static void test_fence_replacer_dies(void **state)
{
	struct owner *a = &own[0], *b = &own[1], *c = &own[2], *d = &own[3];
	uint64_t idb, idc;
	struct stall sb;
	struct pf_vnode *h1;

	(void)state;
	make();
	fault_set_hook(FAULT_CKPT_AFTER_PUBLISH, stall_hook, NULL);
	assert_int_equal(pf_vnode_define(dom, 1, NULL), 0);
	assert_int_equal(pf_vnode_claim_id(d->m, 1, &h1), 0);
	assert_int_equal(pf_checkpoint_commit(h1, pf_vnode_epoch(h1), "one", 4), 0);
	assert_int_equal(pf_vnode_release(h1), 0); /* VNode 1's state: published, named */
	take(a);
	send_n(4);
	serve(a);
	assert_int_equal(commit(a), 0);
	assert_int_equal(pf_vnode_release(a->h), 0); /* applied 4: published, named */
	a->h = NULL;
	take(b);
	send_n(4);
	serve(b);
	stall_start(&sb, b, FAULT_CKPT_AFTER_PUBLISH); /* applied 8 named; A's replaced */
	take_away(b, BY_HUNG);
	idb = pf_member_id(b->m);
	/* A's buffer freed, B's named one let go: two. */
	assert_int_equal(ckpt_reclaim(dom, (uint32_t)idb, (uint32_t)(idb >> 32)), 2);
	check_invariants();
	assert_int_equal(ckpt_reclaim(dom, (uint32_t)idb, (uint32_t)(idb >> 32)), 0);
	assert_int_equal(stall_end(&sb), 0); /* B's publish had gone in */
	assert_int_equal(pf_vnode_release(b->h), -ESTALE);
	b->h = NULL;
	take(c);
	assert_int_equal(c->st.applied, 8);
	send_n(4);
	serve(c);
	for (int i = 0; i < 2; i++) /* one buffer named, the replaced one kept for the next */
		assert_int_equal(commit(c), 0);
	idc = pf_member_id(c->m);
	assert_int_equal(ckpt_reclaim(dom, (uint32_t)idc, (uint32_t)(idc >> 32)), 2);
	check_invariants();
	take_away(c, BY_HUNG);
	assert_int_equal(pf_vnode_release(c->h), -ESTALE);
	c->h = NULL;
	send_n(1);
	expect_committed(a, 12);
	check_invariants();
	destroy();
}

static int drain_op(struct owner *o)
{
	take_away(o, BY_DRAIN);
	return 0;
}

/* A drain moves v's ownership word on and stalls before sealing the descriptor; A, which
 * does not know yet, commits: the descriptor still carries its epoch, so the commit goes
 * in, and it is the state the seal hands on (nothing checks the ownership word first, as
 * nothing could close the window after the look). Once sealed, A is refused; B loads A's
 * last commit and every message takes effect exactly once. */
static void test_fence_commit_before_seal(void **state)
{
	struct owner *a = &own[0], *b = &own[1];
	struct stall sd;

	(void)state;
	make();
	fault_set_hook(FAULT_RELEASE_AFTER_CAS, stall_hook, NULL);
	take(a);
	send_n(4);
	serve(a);
	assert_int_equal(commit(a), 0);
	send_n(4);
	serve(a); /* applied 8 */
	stall_op(&sd, a, drain_op, FAULT_RELEASE_AFTER_CAS);
	assert_int_equal(commit(a), 0);
	assert_int_equal(stall_end(&sd), 0);
	send_n(1);
	serve(a);
	assert_int_equal(commit(a), -ESTALE);
	expect_committed(b, 8);
	check_invariants();
	destroy();
}

static struct owner *race_owner;
static int race_hits_left;

/* In a reader, between its header check and its copy of the bytes: the owner commits
 * twice, so the buffer being read is replaced and then rewritten with another state (the
 * owner's handle keeps it for its next commit). */
static void race_hook(void *arg, enum fault_point point)
{
	(void)arg;
	(void)point;
	if (race_hits_left == 0)
		return;
	race_hits_left--;
	for (int i = 0; i < 2; i++) {
		send_n(1);
		serve(race_owner);
		assert_int_equal(commit(race_owner), 0);
	}
}

/* A reader racing the owner's commits copies a buffer rewritten under it: it retries, and
 * neither that nor giving up (-EBUSY) counts as a corrupt checkpoint. */
static void test_fence_read_racing_commits(void **state)
{
	struct owner *a = &own[0];
	struct state st;
	uint64_t corrupt;
	size_t len;

	(void)state;
	make();
	take(a);
	for (int i = 0; i < 2; i++) { /* the handle keeps a buffer between commits */
		send_n(2);
		serve(a);
		assert_int_equal(commit(a), 0);
	}
	race_owner = a;
	race_hits_left = 3;
	fault_set_hook(FAULT_CKPT_LOAD_MID_COPY, race_hook, NULL);
	corrupt = counter(PF_COUNTER_CKPT_CORRUPT);
	assert_int_equal(pf_checkpoint_read(dom, 0, &st, sizeof(st), &len, NULL), 0);
	assert_int_equal(race_hits_left, 0);
	state_check(&st);
	assert_int_equal(st.applied, a->st.applied);
	assert_int_equal(counter(PF_COUNTER_CKPT_CORRUPT), corrupt);
	race_hits_left = 1000; /* the owner commits throughout */
	assert_int_equal(pf_checkpoint_read(dom, 0, &st, sizeof(st), &len, NULL), -EBUSY);
	assert_int_equal(counter(PF_COUNTER_CKPT_CORRUPT), corrupt);
	race_hits_left = 0;
	read_committed(a->st.applied);
	check_invariants();
	destroy();
}

static void test_fence_replacer_late_drain(void **state)
{
	(void)state;
	replacer_late(BY_DRAIN);
}

static void test_fence_replacer_late_hung(void **state)
{
	(void)state;
	replacer_late(BY_HUNG);
}

static void test_fence_stale_release(void **state)
{
	(void)state;
	stale_transition(release_op, FAULT_RELEASE_BEFORE_CAS);
}

static void test_fence_stale_handoff(void **state)
{
	(void)state;
	stale_transition(handoff_op, FAULT_HANDOFF_BEFORE_CAS);
}

static void test_fence_slot_kept_drain(void **state)
{
	(void)state;
	slot_kept_while_held(BY_DRAIN);
}

static void test_fence_slot_kept_hung(void **state)
{
	(void)state;
	slot_kept_while_held(BY_HUNG);
}

static void test_fence_drain_before_copy(void **state)
{
	(void)state;
	one_stale_writer(BY_DRAIN, FAULT_CKPT_BEFORE_COPY);
}

static void test_fence_drain_mid_copy(void **state)
{
	(void)state;
	one_stale_writer(BY_DRAIN, FAULT_CKPT_MID_COPY);
}

static void test_fence_drain_before_publish(void **state)
{
	(void)state;
	one_stale_writer(BY_DRAIN, FAULT_CKPT_BEFORE_PUBLISH);
}

static void test_fence_hung_before_copy(void **state)
{
	(void)state;
	one_stale_writer(BY_HUNG, FAULT_CKPT_BEFORE_COPY);
}

static void test_fence_hung_mid_copy(void **state)
{
	(void)state;
	one_stale_writer(BY_HUNG, FAULT_CKPT_MID_COPY);
}

static void test_fence_hung_before_publish(void **state)
{
	(void)state;
	one_stale_writer(BY_HUNG, FAULT_CKPT_BEFORE_PUBLISH);
}

static void test_fence_chain_drain(void **state)
{
	(void)state;
	two_stale_writers(BY_DRAIN, FAULT_CKPT_BEFORE_COPY, 1);
	two_stale_writers(BY_DRAIN, FAULT_CKPT_MID_COPY, 0);
}

static void test_fence_chain_hung(void **state)
{
	(void)state;
	two_stale_writers(BY_HUNG, FAULT_CKPT_MID_COPY, 1);
	two_stale_writers(BY_HUNG, FAULT_CKPT_BEFORE_COPY, 0);
}

static void test_fence_chain_mixed(void **state)
{
	(void)state;
	two_stale_writers(BY_HUNG, FAULT_CKPT_BEFORE_PUBLISH, 1);
	two_stale_writers(BY_DRAIN, FAULT_CKPT_BEFORE_PUBLISH, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fence_drain_before_copy),
		cmocka_unit_test(test_fence_drain_mid_copy),
		cmocka_unit_test(test_fence_drain_before_publish),
		cmocka_unit_test(test_fence_hung_before_copy),
		cmocka_unit_test(test_fence_hung_mid_copy),
		cmocka_unit_test(test_fence_hung_before_publish),
		cmocka_unit_test(test_fence_chain_drain),
		cmocka_unit_test(test_fence_chain_hung),
		cmocka_unit_test(test_fence_chain_mixed),
		cmocka_unit_test(test_fence_slot_kept_drain),
		cmocka_unit_test(test_fence_slot_kept_hung),
		cmocka_unit_test(test_fence_stale_inbox_free),
		cmocka_unit_test(test_fence_stale_release),
		cmocka_unit_test(test_fence_stale_handoff),
		cmocka_unit_test(test_fence_replacer_late_drain),
		cmocka_unit_test(test_fence_replacer_late_hung),
		cmocka_unit_test(test_fence_stale_claim_free),
		cmocka_unit_test(test_fence_overlapping_writer_refused),
		cmocka_unit_test(test_fence_read_racing_commits),
		cmocka_unit_test(test_fence_replacer_dies),
		cmocka_unit_test(test_fence_commit_before_seal),
	};

	return cmocka_run_group_tests_name("core_fence", tests, NULL, NULL);
}

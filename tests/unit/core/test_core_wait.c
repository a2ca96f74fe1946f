/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/core/test_core_wait.c
 * Goal: a member's one wait (pflight/member.h) returns for each kind of work, spinning or
 * parked: a message on a VNode it owns, a VNode placed on it (by the members' own
 * placement round while no placer is registered, by the registered placer otherwise), a
 * move request, a membership change (once); it times out, and says -ESTALE once the
 * member was declared dead. The file descriptor becomes readable when work arrives after
 * pf_member_wait_arm() said 0, and arming with work already there says 1. A registered
 * placer keeps the members from placing until it releases the role or its process goes.
 * Bad arguments are refused.
 * Method: members joined in this process, in a domain whose heartbeat interval makes a
 * parked wait's slices outlast the test's waits, so a wake-up that is never sent fails the
 * wait. A second thread gives the work once the waiter is parked: in fault builds the wait
 * says so from its WAIT_BEFORE_SLEEP point, and the giver must then have rung its bell.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <semaphore.h>
#include <signal.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/member_impl.h"
#include "pflight/pflight.h"
#include "shm/fault.h"
#include "tests/common/test_util.h"

#define WAIT_NS UINT64_C(2000000000)
/* Parked cases wait until woken, in a domain whose heartbeat interval (the longest there
 * is) makes a parked wait's slices, after which it looks again, outlast the binary's
 * 30 s: a wake-up that is never sent hangs the case until meson fails it, instead of
 * being covered by the next slice's look. */
#define PARKED_NS UINT64_MAX
#define HEARTBEAT_NS UINT64_C(60000000000)

static char name[64];
static struct pf_domain *dom;

#if PF_FAULT_INJECTION
/* Posted by every sleep of a wait (core/wait.c's WAIT_BEFORE_SLEEP point): the sleeper is
 * counted in waiting and its look found nothing. */
static sem_t asleep;

static void on_sleep(void *arg, enum fault_point point)
{
	(void)arg;
	(void)point;
	if (sem_post(&asleep) != 0)
		abort();
}
#endif

static int setup(void **state)
{
	struct pf_domain_opts o;

	(void)state;
	test_domain_name(name, sizeof(name), "wait");
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = 8;
	o.vnodes_max = 16;
	o.slot_grace_ns = 0;
	o.heartbeat_interval_ns = HEARTBEAT_NS;
#if PF_FAULT_INJECTION
	if (sem_init(&asleep, 0, 0) != 0)
		return -1;
	fault_set_hook(FAULT_WAIT_BEFORE_SLEEP, on_sleep, NULL);
#endif
	return pf_domain_create(name, &o, &dom);
}

static int teardown(void **state)
{
	(void)state;
#if PF_FAULT_INJECTION
	fault_disarm_all();
	(void)sem_destroy(&asleep);
#endif
	return pf_domain_destroy(dom);
}

static struct pf_member *join(void)
{
	struct pf_member *m;

	assert_int_equal(pf_member_join(dom, NULL, &m), 0);
	return m;
}

/* A second thread that gives work to a parked waiter: once the waiter is about to sleep,
 * fn(arg). Its results are checked by later_end(), in the test's thread. */
struct later {
	pthread_t t;
	struct pf_member *waiter;
	int (*fn)(void *);
	void *arg;
	int parked; /* 1: the waiter was seen parked before the work was given */
	int r;      /* what fn returned */
};

/* Until the waiter is parked: asleep in its wait (fault builds: counted waiting and past
 * its last look), or at least counted in waiting. 1, or 0 when it never parked. */
static int await_parked(struct pf_member *waiter)
{
	uint64_t deadline = now_ns() + WAIT_NS;

#if PF_FAULT_INJECTION
	(void)waiter;
	while (now_ns() < deadline) {
		if (sem_trywait(&asleep) == 0)
			return 1;
		(void)sched_yield();
	}
#else
	while (now_ns() < deadline) {
		if (pf_load_relaxed(&dom->members[(uint32_t)pf_member_id(waiter)].waiting) != 0)
			return 1;
		(void)sched_yield();
	}
#endif
	return 0;
}

static void *later_main(void *p)
{
	struct later *l = p;

	l->parked = await_parked(l->waiter);
	l->r = l->fn(l->arg);
	return NULL;
}

static void later_start(struct later *l, struct pf_member *waiter, int (*fn)(void *), void *arg)
{
#if PF_FAULT_INJECTION
	while (sem_trywait(&asleep) == 0)
		; /* earlier sleeps */
#endif
	l->waiter = waiter;
	l->fn = fn;
	l->arg = arg;
	l->parked = 0;
	l->r = -1;
	assert_int_equal(pthread_create(&l->t, NULL, later_main, l), 0);
}

static void later_end(struct later *l)
{
	assert_int_equal(pthread_join(l->t, NULL), 0);
	assert_true(l->parked);
	assert_int_equal(l->r, 0);
}

static uint32_t bell_of(struct pf_member *m)
{
	return pf_load_relaxed(&dom->members[(uint32_t)pf_member_id(m)].bell);
}

/* The work was given while m slept in its wait: the giver rang its bell. Known only where
 * the wait tells it sleeps (fault builds); elsewhere the waiter may have seen the work in
 * its last look, and then nobody had to ring. */
static void assert_rang(struct pf_member *m, uint32_t bell_before)
{
#if PF_FAULT_INJECTION
	assert_int_not_equal(bell_of(m), bell_before);
#else
	(void)m;
	(void)bell_before;
#endif
}

static int send_to_3(void *arg)
{
	uint64_t x = 42;

	(void)arg;
	return pf_send(dom, 3, &x, sizeof(x));
}

static int define_4(void *arg)
{
	(void)arg;
	return pf_vnode_define(dom, 4, NULL);
}

static int cordon(void *arg)
{
	return pf_member_cordon(dom, (uint32_t)(uintptr_t)arg, 0);
}

static void send_to(uint32_t id)
{
	assert_int_equal(pf_send(dom, id, "x", 1), 0);
}

static void test_wait_message_spinning_and_parked(void **state)
{
	struct pf_member *m = join();
	struct pf_vnode *v;
	struct later l;
	uint32_t ev = 0, bell;
	uint64_t x;
	size_t len;

	(void)state;
	assert_int_equal(pf_vnode_define(dom, 3, NULL), 0);
	assert_int_equal(pf_vnode_claim(m, 0, WAIT_NS, &v), 0); /* placed on us, by us */
	assert_int_equal(pf_vnode_id(v), 3);
	assert_int_equal(pf_member_wait(m, 1000000, &ev), -ETIMEDOUT);
	send_to_3(NULL);
	assert_int_equal(pf_member_wait(m, WAIT_NS, &ev), 0); /* there already */
	assert_int_equal(ev & PF_WAIT_MESSAGE, PF_WAIT_MESSAGE);
	assert_int_equal(pf_recv(v, &x, sizeof(x), &len), 0);
	assert_int_equal(pf_member_poll(m, &ev), 0);
	assert_int_equal(ev & PF_WAIT_MESSAGE, 0); /* received: no longer reported */
	bell = bell_of(m);
	later_start(&l, m, send_to_3, NULL);
	assert_int_equal(pf_member_wait(m, PARKED_NS, &ev), 0); /* parked, then rung */
	later_end(&l);
	assert_rang(m, bell);
	assert_int_equal(ev & PF_WAIT_MESSAGE, PF_WAIT_MESSAGE);
	assert_int_equal(pf_recv(v, &x, sizeof(x), &len), 0);
	assert_int_equal(x, 42);
	assert_int_equal(pf_member_leave(m), 0);
}

static void test_wait_placement_and_membership(void **state)
{
	struct pf_member *m = join(), *other;
	struct pf_vnode *v;
	struct later l;
	uint32_t ev = 0;

	(void)state;
	later_start(&l, m, define_4, NULL);
	/* Parked: the definition wakes us (pending version), our round places it on us. */
	assert_int_equal(pf_member_wait(m, PARKED_NS, &ev), 0);
	later_end(&l);
	assert_int_equal(ev & PF_WAIT_PLACEMENT, PF_WAIT_PLACEMENT);
	assert_int_equal(pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v), 0);
	assert_int_equal(pf_vnode_id(v), 4);
	assert_int_equal(pf_member_poll(m, &ev), 0);
	assert_int_equal(ev, 0);
	other = join();
	assert_int_equal(pf_member_poll(m, &ev), 0);
	assert_int_equal(ev, PF_WAIT_MEMBERSHIP); /* the join */
	later_start(&l, m, cordon, (void *)(uintptr_t)(uint32_t)pf_member_id(other));
	assert_int_equal(pf_member_wait(m, PARKED_NS, &ev), 0);
	later_end(&l);
	assert_int_equal(ev, PF_WAIT_MEMBERSHIP);
	assert_int_equal(pf_member_poll(m, &ev), 0);
	assert_int_equal(ev, 0); /* reported once */
	assert_int_equal(pf_member_leave(other), 0);
	assert_int_equal(pf_member_leave(m), 0);
}

static int request_move(void *arg)
{
	struct pf_sched *s;
	int r = pf_sched_create(dom, NULL, &s);

	if (r == 0)
		r = pf_sched_migrate(s, 5, (uint32_t)(uintptr_t)arg, NULL);
	pf_sched_destroy(s);
	return r;
}

static void test_wait_move_request(void **state)
{
	struct pf_member *m = join(), *t = join();
	struct pf_vnode *v;
	struct later l;
	uint32_t ev = 0, bell;

	(void)state;
	assert_int_equal(pf_vnode_define(dom, 5, NULL), 0);
	assert_int_equal(pf_vnode_claim_id(m, 5, &v), 0);
	(void)pf_member_poll(m, &ev);
	bell = bell_of(m);
	later_start(&l, m, request_move, (void *)(uintptr_t)(uint32_t)pf_member_id(t));
	assert_int_equal(pf_member_wait(m, PARKED_NS, &ev), 0);
	later_end(&l);
	assert_rang(m, bell);
	assert_int_equal(ev & PF_WAIT_MOVE, PF_WAIT_MOVE);
	assert_int_equal(pf_vnode_handoff(v), 0);
	assert_int_equal(pf_member_wait(t, WAIT_NS, &ev), 0);
	assert_int_equal(ev & PF_WAIT_PLACEMENT, PF_WAIT_PLACEMENT); /* the hand-off */
	assert_int_equal(pf_vnode_claim(t, PF_CLAIM_NOWAIT, 0, &v), 0);
	assert_int_equal(pf_member_leave(t), 0);
	assert_int_equal(pf_member_leave(m), 0);
}

static void test_wait_fd(void **state)
{
	struct pf_member *m = join();
	struct pollfd p;
	struct pf_vnode *v;
	uint32_t ev = 0;
	uint64_t x;
	size_t len;
	int fd;

	(void)state;
	assert_int_equal(pf_vnode_define(dom, 6, NULL), 0);
	assert_int_equal(pf_vnode_claim(m, 0, WAIT_NS, &v), 0);
	fd = pf_member_wait_fd(m);
	assert_true(fd >= 0);
	assert_int_equal(pf_member_wait_fd(m), fd); /* one per member */
	(void)pf_member_poll(m, &ev);
	assert_int_equal(pf_member_wait_arm(m, &ev), 0); /* nothing: sleep on the fd */
	send_to(6); /* at once: the thread may not even have started */
	p.fd = fd;
	p.events = POLLIN;
	assert_int_equal(poll(&p, 1, 2000), 1);
	assert_int_equal(read(fd, &x, sizeof(x)), (ssize_t)sizeof(x));
	assert_int_equal(pf_member_poll(m, &ev), 0);
	assert_int_equal(ev & PF_WAIT_MESSAGE, PF_WAIT_MESSAGE);
	assert_int_equal(pf_member_wait_arm(m, &ev), 1); /* still there: do not sleep */
	assert_int_equal(ev & PF_WAIT_MESSAGE, PF_WAIT_MESSAGE);
	assert_int_equal(pf_recv(v, &x, sizeof(x), &len), 0);
	assert_int_equal(pf_member_leave(m), 0); /* closes the fd, stops its thread */
}

#if PF_FAULT_INJECTION
/* Sleeps of the wait that stall, once posted: the next `stalls` sleepers stop at their
 * WAIT_BEFORE_SLEEP point (past their look at the words, before the kernel compares them)
 * until the test posts `go`. */
static _Atomic uint32_t stalls;
static sem_t go;

static void on_sleep_stall(void *arg, enum fault_point point)
{
	uint32_t n = pf_load_relaxed(&stalls);

	on_sleep(arg, point);
	while (n > 0 && !pf_cas_relaxed(&stalls, &n, n - 1))
		;
	if (n == 0)
		return;
	while (sem_wait(&go) != 0)
		;
}
#endif

/* The wait's thread is between its look at the words and its sleep when the message is
 * sent: the kernel finds the bell moved (EAGAIN), and that is a change to report too. */
static void test_wait_fd_ring_before_sleep(void **state)
{
#if PF_FAULT_INJECTION
	struct pf_member *m = join();
	struct pollfd p;
	struct pf_vnode *v;
	uint32_t ev = 0;
	uint64_t x;
	int fd;

	(void)state;
	assert_int_equal(pf_vnode_define(dom, 6, NULL), 0);
	assert_int_equal(pf_vnode_claim(m, 0, WAIT_NS, &v), 0);
	(void)pf_member_poll(m, &ev);
	assert_int_equal(sem_init(&go, 0, 0), 0);
	pf_store_relaxed(&stalls, 1);
	fault_set_hook(FAULT_WAIT_BEFORE_SLEEP, on_sleep_stall, NULL);
	fd = pf_member_wait_fd(m);
	assert_true(fd >= 0);
	assert_int_equal(await_parked(m), 1); /* the thread, stalled before its first sleep */
	assert_int_equal(pf_member_wait_arm(m, &ev), 0);
	send_to(6); /* rings: we are armed */
	assert_int_equal(sem_post(&go), 0);
	p.fd = fd;
	p.events = POLLIN;
	assert_int_equal(poll(&p, 1, (int)(WAIT_NS / 1000000u)), 1);
	assert_int_equal(read(fd, &x, sizeof(x)), (ssize_t)sizeof(x));
	assert_int_equal(pf_member_poll(m, &ev), 0);
	assert_int_equal(ev & PF_WAIT_MESSAGE, PF_WAIT_MESSAGE);
	assert_int_equal(pf_member_leave(m), 0);
	(void)sem_destroy(&go);
#else
	(void)state;
	skip();
#endif
}

/* Members place for themselves, and this one sleeps on its file descriptor: a VNode
 * defined meanwhile makes the fd readable, and the application's next look places it. */
static void test_wait_fd_pending(void **state)
{
	struct pf_member *m = join();
	struct pollfd p;
	struct pf_vnode *v;
	uint32_t ev = 0;
	uint64_t x;
	int fd = pf_member_wait_fd(m);

	(void)state;
	assert_true(fd >= 0);
	(void)pf_member_poll(m, &ev);
	assert_int_equal(pf_member_wait_arm(m, &ev), 0);
	assert_int_equal(pf_vnode_define(dom, 4, NULL), 0);
	p.fd = fd;
	p.events = POLLIN;
	assert_int_equal(poll(&p, 1, (int)(WAIT_NS / 1000000u)), 1);
	assert_int_equal(read(fd, &x, sizeof(x)), (ssize_t)sizeof(x));
	assert_int_equal(pf_member_poll(m, &ev), 0);
	assert_int_equal(ev & PF_WAIT_PLACEMENT, PF_WAIT_PLACEMENT);
	assert_int_equal(pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v), 0);
	assert_int_equal(pf_vnode_id(v), 4);
	assert_int_equal(pf_member_leave(m), 0);
}

#if PF_FAULT_INJECTION
static _Atomic uint32_t placed_waiting; /* members[0].waiting when a VNode was placed */

static void on_place(void *arg, enum fault_point point)
{
	struct pf_member *m = arg;

	(void)point;
	pf_store_relaxed(&placed_waiting,
			 pf_load_relaxed(&dom->members[(uint32_t)pf_member_id(m)].waiting) + 1);
}
#endif

/* A member places before it counts itself waiting: during a round (up to hundreds of
 * placements) every giver of a member counted in waiting pays a ring. */
static void test_wait_places_uncounted(void **state)
{
#if PF_FAULT_INJECTION
	struct pf_member *m = join();
	uint32_t ev = 0;

	(void)state;
	(void)pf_member_poll(m, &ev);
	assert_int_equal(pf_vnode_define(dom, 4, NULL), 0);
	fault_set_hook(FAULT_CLAIM_AFTER_CAS, on_place, m);
	pf_store_relaxed(&placed_waiting, 0);
	assert_int_equal(pf_member_wait_arm(m, &ev), 1); /* placed it on us */
	assert_int_equal(ev & PF_WAIT_PLACEMENT, PF_WAIT_PLACEMENT);
	assert_int_equal(pf_load_relaxed(&placed_waiting), 1); /* placed, with waiting 0 */
	assert_int_equal(pf_member_leave(m), 0);
#else
	(void)state;
	skip();
#endif
}

#if PF_FAULT_INJECTION
static uint64_t heartbeat_of(struct pf_member *m)
{
	return pf_load_relaxed(&dom->members[(uint32_t)pf_member_id(m)].heartbeat);
}

/* Send to VNode id and let the wait's thread deal with it: until it sleeps again. */
static void send_and_settle(struct pf_member *m, uint32_t id)
{
	while (sem_trywait(&asleep) == 0)
		;
	send_to(id);
	assert_int_equal(await_parked(m), 1);
}
#endif

/* The wait's thread beats for an application that sleeps armed, into the one heartbeat
 * counter the application beats too; once it has made the fd readable it beats no more
 * until the application arms again: an application that hung before looking must be
 * judged hung, however many rings come. */
static void test_wait_fd_beats(void **state)
{
#if PF_FAULT_INJECTION
	struct pf_member *m = join();
	struct pollfd p;
	struct pf_vnode *v;
	uint32_t ev = 0;
	uint64_t hb, x;
	int fd;

	(void)state;
	assert_int_equal(pf_vnode_define(dom, 6, NULL), 0);
	assert_int_equal(pf_vnode_claim(m, 0, WAIT_NS, &v), 0);
	fd = pf_member_wait_fd(m);
	assert_true(fd >= 0);
	assert_int_equal(await_parked(m), 1); /* the thread asleep */
	(void)pf_member_poll(m, &ev);
	assert_int_equal(pf_member_wait_arm(m, &ev), 0);
	hb = heartbeat_of(m);
	send_and_settle(m, 6);
	p.fd = fd;
	p.events = POLLIN;
	assert_int_equal(poll(&p, 1, 0), 1);
	assert_int_equal(heartbeat_of(m), hb + 1); /* parked until then: alive */
	pf_member_heartbeat(m);
	assert_int_equal(heartbeat_of(m), hb + 2); /* one counter, both beats in it */
	/* The application does not look (hung): rings make the thread loop, never beat. */
	for (int i = 0; i < 3; i++)
		send_and_settle(m, 6);
	assert_int_equal(heartbeat_of(m), hb + 2);
	assert_int_equal(read(fd, &x, sizeof(x)), (ssize_t)sizeof(x));
	assert_int_equal(pf_member_wait_arm(m, &ev), 1); /* the messages */
	for (int i = 0; i < 4; i++)
		assert_int_equal(pf_recv(v, &x, sizeof(x), &(size_t){0}), 0);
	assert_int_equal(pf_member_wait_arm(m, &ev), 0); /* alive again, parked */
	send_and_settle(m, 6);
	assert_int_equal(heartbeat_of(m), hb + 3);
	assert_int_equal(pf_member_leave(m), 0);
#else
	(void)state;
	skip();
#endif
}

#if PF_FAULT_INJECTION
static _Atomic uint32_t churns; /* sleeps of the wait still to churn at */

/* In the sleeping thread: a member joins and leaves, then VNode 7 is defined. */
static void on_sleep_churn(void *arg, enum fault_point point)
{
	uint32_t n = pf_load_relaxed(&churns);
	struct pf_member *o;

	(void)arg;
	(void)point;
	if (n == 0)
		return;
	pf_store_relaxed(&churns, n - 1);
	if (pf_member_join(dom, NULL, &o) != 0 || pf_member_leave(o) != 0 ||
	    pf_vnode_define(dom, 7, NULL) != 0)
		abort();
}
#endif

/* pf_vnode_claim() waits for a placement only: a membership change it sees on the way is
 * still the application's to be told by its next wait (once). */
static void test_wait_claim_keeps_membership(void **state)
{
#if PF_FAULT_INJECTION
	struct pf_member *m = join();
	struct pf_vnode *v;
	uint32_t ev = 0;

	(void)state;
	assert_int_equal(pf_member_poll(m, &ev), 0);
	assert_int_equal(ev, 0);
	pf_store_relaxed(&churns, 1);
	fault_set_hook(FAULT_WAIT_BEFORE_SLEEP, on_sleep_churn, NULL);
	assert_int_equal(pf_vnode_claim(m, 0, WAIT_NS, &v), 0); /* parked, then placed */
	assert_int_equal(pf_vnode_id(v), 7);
	assert_int_equal(pf_member_poll(m, &ev), 0);
	assert_int_equal(ev, PF_WAIT_MEMBERSHIP);
	assert_int_equal(pf_member_poll(m, &ev), 0);
	assert_int_equal(ev, 0); /* once */
	assert_int_equal(pf_member_leave(m), 0);
#else
	(void)state;
	skip();
#endif
}

/* A placer registered by this process: the members leave placing to it. */
static void test_wait_registered_placer(void **state)
{
	struct pf_member *m = join();
	struct pf_sched *s;
	struct pf_vnode *v;
	uint32_t ev = 0;

	(void)state;
	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	assert_int_equal(pf_placer_claim(s), 0);
	assert_int_equal(pf_vnode_define(dom, 7, NULL), 0);
	assert_int_equal(pf_vnode_claim(m, 0, 20000000, &v), -ETIMEDOUT); /* not ours to place */
	assert_int_equal(pf_sched_run(s, 16), 1);
	assert_int_equal(pf_member_wait(m, WAIT_NS, &ev), 0);
	assert_int_equal(ev & PF_WAIT_PLACEMENT, PF_WAIT_PLACEMENT);
	assert_int_equal(pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v), 0);
	assert_int_equal(pf_vnode_id(v), 7);
	assert_int_equal(pf_vnode_release(v), 0);
	pf_placer_release(s);
	assert_int_equal(pf_vnode_claim(m, 0, WAIT_NS, &v), 0); /* placing for ourselves again */
	assert_int_equal(pf_vnode_id(v), 7);
	pf_sched_destroy(s);
	assert_int_equal(pf_member_leave(m), 0);
}

/* A placement lease stamped now, naming slot + 1 `slot1` and generation `gen`. */
static void lease_set(uint32_t slot1, uint32_t gen)
{
	/* Relaxed: the test's thread is the only one of the domain placing. */
	pf_store_relaxed(&dom->ctl->place_lease,
			 (now_ns() / 1000000u) << 32 | (uint64_t)(gen & 0xffffu) << 16 | slot1);
}

/* A placement lease younger than its term holds only while the member it names holds its
 * slot: a member that died (or left, or whose slot was taken again) in the middle of its
 * round does not keep everyone else from placing for the rest of the term. */
static void test_wait_lease_of_gone_holder(void **state)
{
	struct pf_member *m = join();
	uint32_t slot = (uint32_t)pf_member_id(m), gen = (uint32_t)(pf_member_id(m) >> 32);
	uint64_t t0 = now_ns(), invalid;
	struct pf_vnode *v;

	(void)state;
	assert_int_equal(pf_vnode_define(dom, 9, NULL), 0);
	lease_set(slot + 1, gen); /* a live member placing: wait for it */
	assert_int_equal(pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v), -EAGAIN);
	assert_true(now_ns() - t0 < UINT64_C(100000000)); /* else the lease had run out */
	lease_set(slot + 3, 1);                           /* a FREE slot */
	assert_int_equal(pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v), 0);
	assert_int_equal(pf_vnode_id(v), 9);
	assert_int_equal(pf_vnode_release(v), 0);
	lease_set(slot + 1, gen + 1); /* our slot, another generation */
	assert_int_equal(pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v), 0);
	assert_int_equal(pf_vnode_id(v), 9);
	assert_int_equal(pf_vnode_release(v), 0);
	invalid = pf_load_relaxed(&dom->ctl->counters[PF_COUNTER_SHM_INVALID]);
	lease_set(0xffffu, gen); /* past the member table: corrupt */
	assert_int_equal(pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v), 0);
	assert_int_equal(pf_vnode_id(v), 9);
	assert_int_equal(pf_load_relaxed(&dom->ctl->counters[PF_COUNTER_SHM_INVALID]), invalid + 1);
	assert_int_equal(pf_member_leave(m), 0);
}

/* A placer whose process is gone: the members take over. */
static void test_wait_gone_placer(void **state)
{
	struct pf_member *m = join();
	struct pf_vnode *v;
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct pf_domain *d;
		struct pf_sched *s;

		_exit(pf_domain_open(name, &d) == 0 && pf_sched_create(d, NULL, &s) == 0 &&
				      pf_placer_claim(s) == 0
			      ? 0
			      : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(pf_vnode_define(dom, 8, NULL), 0);
	assert_int_equal(pf_vnode_claim(m, 0, WAIT_NS, &v), 0);
	assert_int_equal(pf_vnode_id(v), 8);
	assert_int_equal(pf_member_leave(m), 0);
}

/* A placer registered by another process that stays alive without placing: `cmd` is
 * read by it, 'r' to release the role; it exits at the end of file (placer_end()), so its
 * exit, which may interrupt a sleep with SIGCHLD, comes after the wait being tested. */
static pid_t placer_start(int *ret_cmd)
{
	int cmd[2], ready[2];
	char c = 0;
	pid_t pid;

	assert_int_equal(pipe(cmd), 0);
	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct pf_domain *d;
		struct pf_sched *s;

		(void)close(cmd[1]);
		(void)close(ready[0]);
		if (pf_domain_open(name, &d) != 0 || pf_sched_create(d, NULL, &s) != 0 ||
		    pf_placer_claim(s) != 0 || write(ready[1], "x", 1) != 1)
			_exit(1);
		while (read(cmd[0], &c, 1) == 1)
			if (c == 'r')
				pf_placer_release(s);
		_exit(0);
	}
	(void)close(cmd[0]);
	(void)close(ready[1]);
	assert_int_equal(read(ready[0], &c, 1), 1);
	(void)close(ready[0]);
	*ret_cmd = cmd[1];
	return pid;
}

static void placer_end(pid_t pid, int cmd)
{
	int status;

	(void)close(cmd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static int placer_cmd = -1;

static int release_placer(void *arg)
{
	(void)arg;
	return write(placer_cmd, "r", 1) == 1 ? 0 : -1;
}

/* A registered placer that makes no pass for the heartbeat timeout (stopped, hung) is
 * placed around; one whose pid is no pid (corrupt) too. */
static void test_wait_stalled_placer(void **state)
{
	struct pf_member *m = join();
	uint32_t now_ms = (uint32_t)(now_ns() / 1000000u);
	uint64_t invalid;
	struct pf_vnode *v;
	int cmd;
	pid_t pid;

	(void)state;
	pid = placer_start(&cmd);
	assert_int_equal(pf_vnode_define(dom, 10, NULL), 0);
	assert_int_equal(pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v), -EAGAIN); /* it places */
	/* Relaxed: the placer's process makes no pass; its beat 200 s old (the domain's
	 * heartbeat timeout is 3 x 60 s). */
	pf_store_relaxed(&dom->ctl->placer_beat_ms, now_ms - 200000u);
	assert_int_equal(pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v), 0);
	assert_int_equal(pf_vnode_id(v), 10);
	assert_int_equal(pf_vnode_release(v), 0);
	placer_end(pid, cmd);
	invalid = pf_load_relaxed(&dom->ctl->counters[PF_COUNTER_SHM_INVALID]);
	/* Relaxed: the test's thread is the only writer now. */
	pf_store_relaxed(&dom->ctl->placer_beat_ms, now_ms);
	pf_store_relaxed(&dom->ctl->placer_pid, UINT32_C(0x80000001)); /* no pid */
	assert_int_equal(pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v), 0);
	assert_int_equal(pf_vnode_id(v), 10);
	assert_true(pf_load_relaxed(&dom->ctl->counters[PF_COUNTER_SHM_INVALID]) > invalid);
	pf_store_relaxed(&dom->ctl->placer_pid, 0);
	assert_int_equal(pf_member_leave(m), 0);
}

/* A placer releasing the role wakes the members parked while it was registered (they
 * watch neither the pending version nor count among its waiters), in pf_member_wait() and
 * on the wait's file descriptor, and they place what waits. */
static void test_wait_placer_release_wakes(void **state)
{
	struct pf_member *m = join();
	struct pf_vnode *v;
	struct pollfd p;
	struct later l;
	uint32_t ev = 0;
	uint64_t x;
	pid_t pid;
	int fd;

	(void)state;
	pid = placer_start(&placer_cmd);
	assert_int_equal(pf_vnode_define(dom, 11, NULL), 0);
	(void)pf_member_poll(m, &ev);
	later_start(&l, m, release_placer, NULL);
	assert_int_equal(pf_member_wait(m, PARKED_NS, &ev), 0);
	later_end(&l);
	assert_int_equal(ev & PF_WAIT_PLACEMENT, PF_WAIT_PLACEMENT);
	placer_end(pid, placer_cmd);
	assert_int_equal(pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v), 0);
	assert_int_equal(pf_vnode_id(v), 11);
	assert_int_equal(pf_vnode_release(v), 0);

	fd = pf_member_wait_fd(m);
	assert_true(fd >= 0);
	pid = placer_start(&placer_cmd);
	(void)pf_member_poll(m, &ev);
	assert_int_equal(pf_member_wait_arm(m, &ev), 0);
	assert_int_equal(release_placer(NULL), 0);
	p.fd = fd;
	p.events = POLLIN;
	assert_int_equal(poll(&p, 1, 2000), 1);
	placer_end(pid, placer_cmd);
	assert_int_equal(read(fd, &x, sizeof(x)), (ssize_t)sizeof(x));
	assert_int_equal(pf_member_poll(m, &ev), 0);
	assert_int_equal(ev & PF_WAIT_PLACEMENT, PF_WAIT_PLACEMENT);
	assert_int_equal(pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v), 0);
	assert_int_equal(pf_vnode_id(v), 11);
	assert_int_equal(pf_member_leave(m), 0);
}

/* A timeout that does not fit after now (a huge one, not UINT64_MAX) is as good as none:
 * the claim parks until a VNode comes, it does not time out at once. */
static void test_wait_claim_huge_timeout(void **state)
{
	struct pf_member *m = join();
	struct pf_vnode *v;
	struct later l;

	(void)state;
	later_start(&l, m, define_4, NULL);
	assert_int_equal(pf_vnode_claim(m, 0, UINT64_MAX - 1, &v), 0);
	later_end(&l);
	assert_int_equal(pf_vnode_id(v), 4);
	assert_int_equal(pf_member_leave(m), 0);
}

static void test_wait_declared_dead_and_args(void **state)
{
	struct pf_member *m = join();
	struct pf_supervisor *sup;
	uint32_t ev;

	(void)state;
	assert_int_equal(pf_member_wait(NULL, 0, &ev), -EINVAL);
	assert_int_equal(pf_member_wait(m, 0, NULL), -EINVAL);
	assert_int_equal(pf_member_wait_fd(NULL), -EINVAL);
	assert_int_equal(pf_member_wait_arm(m, NULL), -EINVAL);
	assert_int_equal(pf_member_poll(NULL, &ev), -EINVAL);
	assert_int_equal(pf_supervisor_create(dom, NULL, &sup), 0);
	(void)pf_member_poll(m, &ev);
	assert_int_equal(supervisor_declare_dead(sup, (uint32_t)pf_member_id(m),
						 (uint32_t)(pf_member_id(m) >> 32), PF_DEATH_HUNG),
			 0);
	assert_int_equal(pf_member_wait(m, WAIT_NS, &ev), -ESTALE);
	assert_int_equal(pf_member_poll(m, &ev), -ESTALE);
	assert_int_equal(pf_member_wait_arm(m, &ev), -ESTALE);
	pf_supervisor_destroy(sup);
	assert_int_equal(pf_member_leave(m), -ESTALE);
}

/* A slot taken again starts with nobody waiting: a member killed while parked (or armed)
 * leaves its count in `waiting`, and the slot's next member must not inherit it (every send
 * to it would ring, and its wait file descriptor would beat whatever it does). */
static void test_wait_count_reset_on_join(void **state)
{
	struct member_as as = {.identity_key = 77, .slot_start = 0};
	struct pf_member *m = join(), *n;
	uint32_t slot = (uint32_t)pf_member_id(m), bell;
	struct pf_vnode *v;

	(void)state;
	assert_int_equal(pf_member_leave(m), 0);
	/* What a member killed inside park() leaves behind. */
	pf_store_relaxed(&dom->members[slot].waiting, 1);
	as.slot_start = slot;
	assert_int_equal(member_join_as(dom, NULL, &as, &n), 0);
	assert_int_equal((uint32_t)pf_member_id(n), slot);
	assert_int_equal(pf_load_relaxed(&dom->members[slot].waiting), 0);
	assert_int_equal(pf_vnode_define(dom, 9, NULL), 0);
	assert_int_equal(pf_vnode_claim_id(n, 9, &v), 0);
	bell = pf_load_relaxed(&dom->members[slot].bell);
	send_to(9);
	assert_int_equal(pf_load_relaxed(&dom->members[slot].bell), bell); /* nobody to ring */
	assert_int_equal(pf_member_leave(n), 0);
}

/* pf_send() rings the member its VNode's ownership word names: a word naming a slot past
 * the member table (corrupt, or written by a hostile process) rings nobody and is counted,
 * instead of making the sender write outside the table. In a child, so that a sender that
 * writes out of bounds fails the case rather than the binary. */
static void test_wait_ring_bad_slot(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	assert_int_equal(pf_vnode_define(dom, 6, NULL), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		uint64_t before = pf_load_relaxed(&dom->ctl->counters[PF_COUNTER_SHM_INVALID]);

		pf_store_relaxed(&dom->own[6], own_word(PF_VNODE_ACTIVE, OWN_SLOT_MASK, 1, 7));
		_exit(pf_send(dom, 6, "x", 1) == 0 &&
				      pf_load_relaxed(
					      &dom->ctl->counters[PF_COUNTER_SHM_INVALID]) ==
					      before + 1
			      ? 0
			      : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

#if PF_FAULT_INJECTION
static struct pf_supervisor *killer;
static struct pf_member *victim;

/* In the sleeping thread: its member is declared dead. */
static void on_sleep_die(void *arg, enum fault_point point)
{
	(void)arg;
	(void)point;
	if (victim != NULL &&
	    supervisor_declare_dead(killer, (uint32_t)pf_member_id(victim),
				    (uint32_t)(pf_member_id(victim) >> 32), PF_DEATH_HUNG) < 0)
		abort();
	victim = NULL;
}
#endif

/* Declared dead while parked in a claim: the wake (the membership moved) is not what the
 * claim waits for, and the claim says -ESTALE instead of parking again. */
static void test_wait_declared_dead_while_parked(void **state)
{
#if PF_FAULT_INJECTION
	struct pf_member *m = join();
	struct pf_vnode *v;

	(void)state;
	assert_int_equal(pf_supervisor_create(dom, NULL, &killer), 0);
	victim = m;
	fault_set_hook(FAULT_WAIT_BEFORE_SLEEP, on_sleep_die, NULL);
	assert_int_equal(pf_vnode_claim(m, 0, PARKED_NS, &v), -ESTALE);
	assert_null(victim); /* it did park */
	pf_supervisor_destroy(killer);
	assert_int_equal(pf_member_leave(m), -ESTALE);
#else
	(void)state;
	skip();
#endif
}

/* A repairer killed after it put a dead member's VNode back on the queue and before it
 * published that (REPAIR_MID_SCAN) leaves the VNode queued, not consumed, with the pending
 * version where the members' last fruitless round saw it: none of them looks again, and
 * the supervisor that resumes the repair finds nothing left to return. The sweep must
 * publish what it finds queued, so that the VNode is placed. */
static void test_wait_repair_killed_before_publish(void **state)
{
#if PF_FAULT_INJECTION
	struct pf_member *a = join(), *b = join();
	uint32_t slot = (uint32_t)pf_member_id(a), gen = (uint32_t)(pf_member_id(a) >> 32);
	struct pf_supervisor_opts so;
	struct pf_supervisor *sup;
	struct pf_vnode *v, *w;
	int status;
	pid_t pid;

	(void)state;
	assert_int_equal(pf_vnode_define(dom, 3, NULL), 0);
	assert_int_equal(pf_vnode_claim_id(a, 3, &v), 0);
	/* b's round takes the queue entry left by the define, which a's claim made stale:
	 * nothing placed, so b waits for the pending version to move. */
	assert_int_equal(pf_vnode_claim(b, PF_CLAIM_NOWAIT, 0, &w), -EAGAIN);
	pf_supervisor_opts_init(&so);
	so.sweep_interval_ns = 1;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (pf_supervisor_create(dom, &so, &sup) < 0)
			_exit(2);
		fault_arm(FAULT_REPAIR_MID_SCAN, 1, FAULT_MODE_KILL);
		(void)supervisor_declare_dead(sup, slot, gen, PF_DEATH_HUNG);
		_exit(3); /* the fault point did not kill us */
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* The next supervisor resumes the repair (nothing left to return) and sweeps. */
	assert_int_equal(pf_supervisor_create(dom, &so, &sup), 0);
	(void)pf_supervisor_check(sup);
	assert_int_equal(pf_vnode_claim(b, PF_CLAIM_NOWAIT, 0, &w), 0);
	assert_int_equal(pf_vnode_id(w), 3);
	assert_true(pf_vnode_epoch(w) > pf_vnode_epoch(v));
	pf_supervisor_destroy(sup);
	assert_int_equal(pf_vnode_release(w), 0);
	assert_int_equal(pf_member_leave(b), 0);
	assert_int_equal(pf_member_leave(a), -ESTALE);
#else
	(void)state;
	skip();
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_wait_message_spinning_and_parked, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wait_placement_and_membership, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wait_move_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_fd_ring_before_sleep, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_fd_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_places_uncounted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_fd_beats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_claim_keeps_membership, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_registered_placer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_gone_placer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_lease_of_gone_holder, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_stalled_placer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_placer_release_wakes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_claim_huge_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_declared_dead_and_args, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_declared_dead_while_parked, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wait_count_reset_on_join, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_ring_bad_slot, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_repair_killed_before_publish, setup,
						teardown),
	};

	return cmocka_run_group_tests_name("core_wait", tests, NULL, NULL);
}

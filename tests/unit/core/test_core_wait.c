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
 * Method: members joined in this process; a second thread gives the work after a delay
 * long enough for the waiter to park (its spin lasts microseconds).
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/member_impl.h"
#include "pflight/pflight.h"
#include "tests/common/test_util.h"

#define PARK_NS UINT64_C(20000000) /* the giver's delay: the waiter has parked by then */
#define WAIT_NS UINT64_C(2000000000)

static char name[64];
static struct pf_domain *dom;

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
			      .tv_nsec = (long)(ns % 1000000000u)};

	while (nanosleep(&ts, &ts) != 0)
		;
}

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
	return pf_domain_create(name, &o, &dom);
}

static int teardown(void **state)
{
	(void)state;
	return pf_domain_destroy(dom);
}

static struct pf_member *join(void)
{
	struct pf_member *m;

	assert_int_equal(pf_member_join(dom, NULL, &m), 0);
	return m;
}

/* A second thread: after PARK_NS, fn(arg). */
struct later {
	pthread_t t;
	void (*fn)(void *);
	void *arg;
};

static void *later_main(void *p)
{
	struct later *l = p;

	sleep_ns(PARK_NS);
	l->fn(l->arg);
	return NULL;
}

static void later_start(struct later *l, void (*fn)(void *), void *arg)
{
	l->fn = fn;
	l->arg = arg;
	assert_int_equal(pthread_create(&l->t, NULL, later_main, l), 0);
}

static void later_end(struct later *l)
{
	assert_int_equal(pthread_join(l->t, NULL), 0);
}

static void send_to_3(void *arg)
{
	uint64_t x = 42;

	(void)arg;
	assert_int_equal(pf_send(dom, 3, &x, sizeof(x)), 0);
}

static void define_4(void *arg)
{
	(void)arg;
	assert_int_equal(pf_vnode_define(dom, 4, NULL), 0);
}

static void cordon(void *arg)
{
	assert_int_equal(pf_member_cordon(dom, (uint32_t)(uintptr_t)arg, 0), 0);
}

static void send_to(uint32_t id)
{
	assert_int_equal(pf_send(dom, id, "x", 1), 0);
}

static void send_to_6(void *arg)
{
	(void)arg;
	assert_int_equal(pf_send(dom, 6, "x", 1), 0);
}

static void test_wait_message_spinning_and_parked(void **state)
{
	struct pf_member *m = join();
	struct pf_vnode *v;
	struct later l;
	uint32_t ev = 0;
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
	later_start(&l, send_to_3, NULL);
	assert_int_equal(pf_member_wait(m, WAIT_NS, &ev), 0); /* parked, then rung */
	later_end(&l);
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
	later_start(&l, define_4, NULL);
	/* Parked: the definition wakes us (pending version), our round places it on us. */
	assert_int_equal(pf_member_wait(m, WAIT_NS, &ev), 0);
	later_end(&l);
	assert_int_equal(ev & PF_WAIT_PLACEMENT, PF_WAIT_PLACEMENT);
	assert_int_equal(pf_vnode_claim(m, PF_CLAIM_NOWAIT, 0, &v), 0);
	assert_int_equal(pf_vnode_id(v), 4);
	assert_int_equal(pf_member_poll(m, &ev), 0);
	assert_int_equal(ev, 0);
	other = join();
	assert_int_equal(pf_member_poll(m, &ev), 0);
	assert_int_equal(ev, PF_WAIT_MEMBERSHIP); /* the join */
	later_start(&l, cordon, (void *)(uintptr_t)(uint32_t)pf_member_id(other));
	assert_int_equal(pf_member_wait(m, WAIT_NS, &ev), 0);
	later_end(&l);
	assert_int_equal(ev, PF_WAIT_MEMBERSHIP);
	assert_int_equal(pf_member_poll(m, &ev), 0);
	assert_int_equal(ev, 0); /* reported once */
	assert_int_equal(pf_member_leave(other), 0);
	assert_int_equal(pf_member_leave(m), 0);
}

static void request_move(void *arg)
{
	struct pf_sched *s;

	assert_int_equal(pf_sched_create(dom, NULL, &s), 0);
	assert_int_equal(pf_sched_migrate(s, 5, (uint32_t)(uintptr_t)arg, NULL), 0);
	pf_sched_destroy(s);
}

static void test_wait_move_request(void **state)
{
	struct pf_member *m = join(), *t = join();
	struct pf_vnode *v;
	struct later l;
	uint32_t ev = 0;

	(void)state;
	assert_int_equal(pf_vnode_define(dom, 5, NULL), 0);
	assert_int_equal(pf_vnode_claim_id(m, 5, &v), 0);
	(void)pf_member_poll(m, &ev);
	later_start(&l, request_move, (void *)(uintptr_t)(uint32_t)pf_member_id(t));
	assert_int_equal(pf_member_wait(m, WAIT_NS, &ev), 0);
	later_end(&l);
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
	struct later l;
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
	later_start(&l, send_to_6, NULL);
	p.fd = fd;
	p.events = POLLIN;
	assert_int_equal(poll(&p, 1, 2000), 1);
	assert_int_equal(read(fd, &x, sizeof(x)), (ssize_t)sizeof(x));
	assert_int_equal(pf_member_poll(m, &ev), 0);
	assert_int_equal(ev & PF_WAIT_MESSAGE, PF_WAIT_MESSAGE);
	later_end(&l);
	assert_int_equal(pf_member_wait_arm(m, &ev), 1); /* still there: do not sleep */
	assert_int_equal(ev & PF_WAIT_MESSAGE, PF_WAIT_MESSAGE);
	assert_int_equal(pf_recv(v, &x, sizeof(x), &len), 0);
	assert_int_equal(pf_member_leave(m), 0); /* closes the fd, stops its thread */
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_wait_message_spinning_and_parked, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wait_placement_and_membership, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_wait_move_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_fd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_registered_placer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_gone_placer, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_declared_dead_and_args, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_count_reset_on_join, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_ring_bad_slot, setup, teardown),
	};

	return cmocka_run_group_tests_name("core_wait", tests, NULL, NULL);
}

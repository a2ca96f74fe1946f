/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_liveness.c
 * Goal: deaths and hangs of member processes are found and repaired without any central
 * process, and a dead member's slot comes back only after its grace period with a new
 * generation. Method: forked members on a real domain.
 *   1. embedded: two members run PF_MEMBER_SUPERVISE, one is killed with SIGKILL; the
 *      survivor's own supervisor repairs it and the survivor takes its VNodes;
 *   2. hung: a member stops beating; a supervisor kills it through a pidfd and repairs
 *      it with cause PF_DEATH_HUNG;
 *   3. grace: with one slot, a new join is refused (-EUSERS) until the grace period of
 *      the dead member's slot has passed, then gets the next generation;
 *   4. starved: a member kept off the CPU (SCHED_IDLE under two busy processes pinned to
 *      its CPU) is runnable but shows no progress: it is not judged hung for ten
 *      allowances; once it has the CPU and still shows none, it is; and one starved for
 *      good is judged hung once its extra allowance (50 windows) is spent.
 */
#include <errno.h>
#include <sched.h>
#include <sys/prctl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pflight/pflight.h"
#include "shm/pf_atomic.h"
#include "tests/common/test_util.h"

static char name[64];

static uint64_t mono_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct pf_domain *make_domain(uint32_t members, uint32_t vnodes, uint64_t grace_ns)
{
	struct pf_domain_opts o;
	struct pf_domain *d;

	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = members;
	o.vnodes_max = vnodes;
	o.slot_grace_ns = grace_ns;
	CHECK(pf_domain_create(name, &o, &d) == 0);
	return d;
}

/* Child: join, claim up to `want` VNodes, keep beating and claiming until killed. */
static void member_child(int flags, uint32_t want, int beat, int ready_fd)
{
	struct pf_member_opts mo;
	struct pf_domain *d;
	struct pf_member *m;
	struct pf_vnode *v;
	uint32_t have = 0;
	char c = 'r';

	CHECK(pf_domain_open(name, &d) == 0);
	pf_member_opts_init(&mo);
	mo.flags = (uint32_t)flags;
	CHECK(pf_member_join(d, &mo, &m) == 0);
	while (have < want && pf_vnode_claim(m, 0, 1000000000, &v) == 0)
		have++;
	CHECK(write(ready_fd, &c, 1) == 1);
	for (;;) {
		if (beat)
			pf_member_heartbeat(m);
		if (pf_vnode_claim(m, 0, 2000000, &v) == 0)
			have++;
		if (!beat)
			pause();
	}
}

static pid_t start_member(int flags, uint32_t want, int beat)
{
	int fds[2];
	pid_t pid;
	char c;

	CHECK(pipe(fds) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		(void)close(fds[0]);
		member_child(flags, want, beat, fds[1]);
		_exit(0);
	}
	(void)close(fds[1]);
	CHECK(read(fds[0], &c, 1) == 1);
	(void)close(fds[0]);
	return pid;
}

static uint32_t owned_by_slot_other_than(struct pf_domain *d, uint32_t vnodes, uint32_t slot)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	uint32_t n = 0;

	for (uint32_t id = 0; id < vnodes; id++)
		if (pf_vnode_info(d, id, &vi) == 0 && vi.state == PF_VNODE_ACTIVE &&
		    vi.owner_slot != slot)
			n++;
	return n;
}

static uint32_t slot_of(struct pf_domain *d, pid_t pid)
{
	struct pf_member_info mi = {.size = sizeof(mi)};

	for (uint32_t s = 0; s < PF_MEMBERS_MAX; s++)
		if (pf_member_info(d, s, &mi) == 0 && mi.pid == pid && mi.state == PF_MEMBER_ACTIVE)
			return s;
	return UINT32_MAX;
}

static void test_embedded_supervision(void)
{
	struct pf_domain *d = make_domain(8, 16, 100000000);
	uint64_t deadline;
	pid_t a, b;
	uint32_t slot_a;

	CHECK(pf_vnode_define_range(d, 0, 16, NULL) == 16);
	a = start_member(PF_MEMBER_SUPERVISE, 8, 1);
	b = start_member(PF_MEMBER_SUPERVISE, 8, 1);
	slot_a = slot_of(d, a);
	CHECK(slot_a != UINT32_MAX);
	CHECK(kill(a, SIGKILL) == 0);
	CHECK(waitpid(a, NULL, 0) == a);
	/* No supervisor in this process: b's embedded one must repair a, and b claims. */
	deadline = mono_ns() + 5000000000u;
	while (owned_by_slot_other_than(d, 16, slot_a) != 16 && mono_ns() < deadline)
		usleep(1000);
	CHECK(owned_by_slot_other_than(d, 16, slot_a) == 16);
	(void)kill(b, SIGKILL);
	(void)waitpid(b, NULL, 0);
	CHECK(pf_domain_destroy(d) == 0);
	printf("embedded supervision: a survivor repaired its dead peer and took its VNodes\n");
}

static uint32_t last_cause;

static void on_repair(void *arg, uint32_t slot, uint32_t gen, uint32_t cause, uint32_t n)
{
	(void)arg;
	(void)slot;
	(void)gen;
	(void)n;
	last_cause = cause;
}

static void test_hung_member_killed(void)
{
	struct pf_domain *d = make_domain(4, 4, 100000000);
	struct pf_supervisor_opts so;
	struct pf_supervisor *sup;
	uint64_t values[PF_COUNTER_COUNT], deadline;
	struct pf_domain_info di = {.size = sizeof(di)};
	int status = 0;
	pid_t h;

	CHECK(pf_vnode_define_range(d, 0, 4, NULL) == 4);
	h = start_member(0, 4, 0); /* claims all four, then never beats again */
	pf_supervisor_opts_init(&so);
	so.on_repair = on_repair;
	CHECK(pf_supervisor_create(d, &so, &sup) == 0);
	deadline = mono_ns() + 5000000000u;
	while (mono_ns() < deadline) {
		(void)pf_supervisor_wait(sup, 5000000);
		(void)pf_supervisor_check(sup);
		CHECK(pf_domain_counters(d, values, PF_COUNTER_COUNT) == PF_COUNTER_COUNT);
		if (values[PF_COUNTER_REPAIRS] > 0)
			break;
	}
	CHECK(waitpid(h, &status, 0) == h);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	CHECK(values[PF_COUNTER_HUNG] == 1);
	CHECK(last_cause == PF_DEATH_HUNG);
	CHECK(pf_domain_info(d, &di) == 0);
	CHECK(di.vnodes_pending == 4);
	pf_supervisor_destroy(sup);
	CHECK(pf_domain_destroy(d) == 0);
	printf("hung member: killed through its pidfd and repaired (cause hung)\n");
}

/* Pin the calling process to one CPU. 0, or -1 when it cannot be. */
static int pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) == 0 ? 0 : -1;
}

/* A process that spins on CPU 0 until killed: it takes the CPU from a SCHED_IDLE member. */
static pid_t start_hog(void)
{
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0) {
		static _Atomic uint64_t spin;

		(void)prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlives a failed test */
		(void)pin_to(0);
		for (;;)
			pf_store_relaxed(&spin,
					 pf_load_relaxed(&spin) + 1); /* kept, not optimised out */
	}
	return pid;
}

/* Child: join (flags: PF_MEMBER_*), claim, then run on CPU 0 at SCHED_IDLE without ever
 * beating again (its embedded supervisor's thread, if any, keeps its normal share). */
static void starving_child(uint32_t flags, int ready_fd)
{
	struct pf_member_opts mo;
	struct sched_param sp = {.sched_priority = 0};
	struct pf_domain *d;
	struct pf_member *m;
	struct pf_vnode *v;
	static _Atomic uint64_t spin;
	char c = 'r';

	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	CHECK(pf_domain_open(name, &d) == 0);
	pf_member_opts_init(&mo);
	mo.flags = flags;
	CHECK(pf_member_join(d, &mo, &m) == 0);
	CHECK(pf_vnode_claim(m, 0, 1000000000, &v) == 0);
	CHECK(pin_to(0) == 0 && sched_setscheduler(0, SCHED_IDLE, &sp) == 0);
	CHECK(write(ready_fd, &c, 1) == 1);
	for (;;) /* runs without calling the library: hung, whenever it gets the CPU */
		pf_store_relaxed(&spin, pf_load_relaxed(&spin) + 1);
}

/* Check for `ns` at most, until one more repair: the repairs made in all. */
static uint64_t supervise_for(struct pf_domain *d, struct pf_supervisor *sup, uint64_t ns)
{
	uint64_t values[PF_COUNTER_COUNT], deadline = mono_ns() + ns, repairs0;

	CHECK(pf_domain_counters(d, values, PF_COUNTER_COUNT) == PF_COUNTER_COUNT);
	repairs0 = values[PF_COUNTER_REPAIRS];
	do {
		(void)pf_supervisor_wait(sup, 5000000);
		(void)pf_supervisor_check(sup);
		CHECK(pf_domain_counters(d, values, PF_COUNTER_COUNT) == PF_COUNTER_COUNT);
	} while (values[PF_COUNTER_REPAIRS] == repairs0 && mono_ns() < deadline);
	return values[PF_COUNTER_REPAIRS];
}

/* A member kept off the CPU (SCHED_IDLE under two busy processes on its CPU) shows no
 * progress, yet is runnable: starved, not hung, it is not killed for ten allowances; once
 * the CPU is its own and it still shows none, it is judged hung. */
/* A starving member (starving_child()) in d, ready. */
static pid_t start_starving(uint32_t flags)
{
	int fds[2];
	pid_t child;
	char c;

	CHECK(pipe(fds) == 0);
	child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		(void)close(fds[0]);
		starving_child(flags, fds[1]);
		_exit(0);
	}
	(void)close(fds[1]);
	CHECK(read(fds[0], &c, 1) == 1);
	(void)close(fds[0]);
	return child;
}

/* The member's process was killed (SIGKILL): judged hung. */
static void reap_killed(pid_t child)
{
	int status = 0;

	CHECK(waitpid(child, &status, 0) == child);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static void test_starved_member_kept(void)
{
	struct pf_domain *d = make_domain(4, 4, 1000000);
	struct pf_domain_info di = {.size = sizeof(di)};
	struct pf_supervisor *sup;
	uint64_t window, t0, waited;
	pid_t child, hogs[2];

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2 || pin_to(1) < 0) {
		printf("starved member: skipped (needs two CPUs)\n");
		CHECK(pf_domain_destroy(d) == 0);
		return;
	}
	CHECK(pf_domain_info(d, &di) == 0 && pf_vnode_define_range(d, 0, 4, NULL) == 4);
	window = di.heartbeat_interval_ns * di.heartbeat_misses;
	hogs[0] = start_hog();
	hogs[1] = start_hog();
	/* Its own process's supervisor judges it too: it must see the starvation as well. */
	child = start_starving(PF_MEMBER_SUPERVISE);
	CHECK(pf_supervisor_create(d, NULL, &sup) == 0);
	CHECK(supervise_for(d, sup, 10 * window) == 0); /* starved: kept */
	for (int i = 0; i < 2; i++) {
		(void)kill(hogs[i], SIGKILL);
		CHECK(waitpid(hogs[i], NULL, 0) == hogs[i]);
	}
	CHECK(supervise_for(d, sup, 5000000000u) == 1); /* runs, no progress: hung */
	/* Killed by us, or declared dead by its own supervisor (which never kills its own). */
	(void)kill(child, SIGKILL);
	CHECK(waitpid(child, NULL, 0) == child);
	/* Starved for good: the allowance it is given is bounded (50 windows in all). */
	hogs[0] = start_hog();
	hogs[1] = start_hog();
	child = start_starving(0);
	t0 = mono_ns();
	CHECK(supervise_for(d, sup, 120 * window) == 2);
	waited = mono_ns() - t0;
	reap_killed(child);
	for (int i = 0; i < 2; i++) {
		(void)kill(hogs[i], SIGKILL);
		CHECK(waitpid(hogs[i], NULL, 0) == hogs[i]);
	}
	CHECK(waited >= 10 * window);
	pf_supervisor_destroy(sup);
	CHECK(pf_domain_destroy(d) == 0);
	printf("starved member: kept while starved, judged hung once it ran, or after %.1f s of "
	       "starving\n",
	       (double)waited / 1e9);
}

static void test_slot_grace(void)
{
	const uint64_t grace = 300000000; /* 300 ms */
	struct pf_domain *d = make_domain(1, 2, grace);
	struct pf_member_info mi = {.size = sizeof(mi)};
	struct pf_supervisor *sup;
	struct pf_member *m = NULL;
	uint32_t gen;
	uint64_t t_dead;
	pid_t a;
	int r;

	a = start_member(0, 0, 1);
	CHECK(pf_member_info(d, 0, &mi) == 0);
	gen = mi.generation;
	CHECK(kill(a, SIGKILL) == 0);
	CHECK(waitpid(a, NULL, 0) == a);
	CHECK(pf_supervisor_create(d, NULL, &sup) == 0);
	CHECK(pf_supervisor_check(sup) == 1);
	t_dead = mono_ns();
	CHECK(pf_member_join(d, NULL, &m) == -EUSERS);
	while ((r = pf_member_join(d, NULL, &m)) == -EUSERS)
		usleep(5000);
	CHECK(r == 0);
	CHECK(mono_ns() - t_dead >= grace - 50000000);
	CHECK(pf_member_info(d, 0, &mi) == 0);
	CHECK(mi.generation == gen + 1);
	CHECK(pf_member_leave(m) == 0);
	pf_supervisor_destroy(sup);
	CHECK(pf_domain_destroy(d) == 0);
	printf("slot grace: the dead slot stayed unused for its grace, then came back as "
	       "generation %u\n",
	       gen + 1);
}

int main(void)
{
	test_domain_name(name, sizeof(name), "liveness");
	test_embedded_supervision();
	test_hung_member_killed();
	test_slot_grace();
	test_starved_member_kept(); /* last: it pins this process to one CPU */
	return 0;
}

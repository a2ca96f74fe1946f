/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_stalled_steps.c
 * Goal: a process stopped in the middle of a membership step, whose part the others
 * finished for it meanwhile, does no harm when it goes on (ARCHITECTURE.md section 3,
 * invariant 6: nothing may rely on timing). A joiner stopped right after the CAS that took
 * its slot, or before it wrote its identity, then declared dead (vanished: past the join
 * timeout): the slot is not given to another joiner while it lives, however long the grace
 * period has been over; continued, its join fails and leaves what the repair wrote of its
 * generation (the grace period, the time of death) as it was; then the next member takes
 * the slot, and it lives on, with its own record, and every membership counter says one
 * death. A supervisor that judged a member hung and stopped before its kill, while the
 * member died, was repaired by another supervisor and a new member took the slot: when it
 * goes on it kills nobody, and the death is counted as what it was.
 * Method: one slot, so that every joiner wants the same one. The joiner is forked with a
 * fault point armed to SIGSTOP it (shm/fault.h), and waited for until it has stopped
 * there; this process plays supervisor (pf_supervisor_check(), stepped by hand) and joins
 * the next member itself. The stopped supervisor is this process's own, held inside a
 * fault hook just before its kill while the hook plays the rest of the domain (kills the
 * member, repairs it with a second supervisor, forks the next member). Only waits for a
 * state the test itself brings about (a stopped child, a repair, the end of a grace
 * period, a heartbeat timeout); no assertion depends on timing.
 * Exit: 0 pass, 1 fail, 77 not built with -Dfault_injection=true.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pf_config.h"

#if !PF_FAULT_INJECTION
int main(void)
{
	printf("test_stalled_steps: skipped: needs -Dfault_injection=true\n");
	return 77;
}
#else

#include "core/member_impl.h"
#include "pflight/pflight.h"
#include "shm/fault.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"

#define GRACE_NS UINT64_C(20000000)
#define WAIT_NS (20ull * 1000000000ull)

enum { CMD_RUN, CMD_LEAVE };

/* A child's side, in a shared anonymous mapping: one for the joiner (or the member that
 * will hang), one for the next member. */
struct joiner_io {
	_Atomic uint32_t done; /* 1 once pf_member_join returned */
	_Atomic int32_t join_r;
	_Atomic uint32_t cmd;
	_Atomic int32_t leave_r;
};

static char name[64];
static struct pf_domain *d;
static struct pf_supervisor *sup;
static struct joiner_io *io;
static uint64_t want[PF_COUNTER_COUNT];
static pid_t child = -1, next_child = -1;
static const char *scenario = "setup";

static void cleanup(void)
{
	if (child > 0 && kill(child, SIGKILL) == 0)
		(void)waitpid(child, NULL, 0);
	if (next_child > 0 && kill(next_child, SIGKILL) == 0)
		(void)waitpid(next_child, NULL, 0);
	(void)pf_domain_unlink(name);
}

static void fail(const char *what, long long got, long long exp)
{
	fprintf(stderr, "[%s] %s: got %lld, want %lld\n", scenario, what, got, exp);
	exit(1);
}

static void nap_ms(unsigned ms)
{
	struct timespec ts = {0, (long)ms * 1000000L};

	(void)nanosleep(&ts, NULL);
}

static uint64_t word(void)
{
	return pf_load_acquire(&d->members[0].state);
}

/* Supervise with s until cond() holds. */
static void supervise_with(struct pf_supervisor *s, int (*cond)(void), const char *what)
{
	uint64_t deadline = proc_now_ns() + WAIT_NS;

	while (!cond()) {
		if (proc_now_ns() > deadline) {
			fprintf(stderr, "[%s] timed out waiting for %s\n", scenario, what);
			exit(1);
		}
		(void)pf_supervisor_check(s);
		nap_ms(1);
	}
}

static void supervise_until(int (*cond)(void), const char *what)
{
	supervise_with(sup, cond, what);
}

static int repaired(void)
{
	uint64_t w = word();

	return member_word_state(w) == PF_MEMBER_DEAD && (w & MEMBER_FLAG_REPAIRED) != 0;
}

static int grace_over(void)
{
	return proc_now_ns() > pf_load_relaxed(&d->members[0].free_at_ns);
}

/* Every membership counter is what the scenarios did. */
static void check_counters(const char *step)
{
	static const uint32_t exact[] = {
		PF_COUNTER_JOINS, PF_COUNTER_LEAVES,  PF_COUNTER_JOIN_REFUSED,    PF_COUNTER_DEATHS,
		PF_COUNTER_HUNG,  PF_COUNTER_REPAIRS, PF_COUNTER_VNODES_REPAIRED,
	};
	uint64_t v[PF_COUNTER_COUNT];
	char what[96];

	CHECK(pf_domain_counters(d, v, PF_COUNTER_COUNT) == PF_COUNTER_COUNT);
	for (size_t i = 0; i < PF_ARRAY_SIZE(exact); i++) {
		(void)snprintf(what, sizeof(what), "%s: %s", step, pf_counter_name(exact[i]));
		if (v[exact[i]] != want[exact[i]])
			fail(what, (long long)v[exact[i]], (long long)want[exact[i]]);
	}
}

/* The joiner: join with `point` armed to stop it, say how the join ended. */
static _Noreturn void joiner(enum fault_point point)
{
	struct pf_domain *jd;
	struct pf_member *m;
	int r;

	fault_arm(point, 1, FAULT_MODE_STOP);
	if (pf_domain_open(name, &jd) != 0)
		_exit(3);
	r = pf_member_join(jd, NULL, &m);
	pf_store_relaxed(&io->join_r, r);
	pf_store_release(&io->done, 1);
	_exit(0);
}

/* A member: join, then beat (or not: it hangs) until told to leave. */
static _Noreturn void member_child(struct joiner_io *my, int beat)
{
	struct pf_domain *md;
	struct pf_member *m;
	int r;

	if (pf_domain_open(name, &md) != 0)
		_exit(3);
	r = pf_member_join(md, NULL, &m);
	pf_store_relaxed(&my->join_r, r);
	pf_store_release(&my->done, 1);
	if (r != 0)
		_exit(0);
	while (pf_load_acquire(&my->cmd) != CMD_LEAVE) {
		if (beat)
			pf_member_heartbeat(m);
		nap_ms(1);
	}
	pf_store_relaxed(&my->leave_r, pf_member_leave(m));
	_exit(0);
}

/* Fork a member on my; wait until its join returned 0. */
static pid_t member_start(struct joiner_io *my, int beat)
{
	pid_t pid;

	memset(my, 0, sizeof(*my));
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0)
		member_child(my, beat);
	for (uint64_t t = proc_now_ns(); pf_load_acquire(&my->done) == 0; nap_ms(1))
		CHECK(proc_now_ns() - t < WAIT_NS);
	CHECK(pf_load_relaxed(&my->join_r) == 0);
	return pid;
}

/* A joiner stopped at `point` and declared dead meanwhile; then the next member. */
static void stopped_joiner(enum fault_point point)
{
	struct dom_member *rec = &d->members[0];
	uint64_t free_at, dead_time;
	struct pf_member *k;
	int status = 0, r;
	uint32_t gen;

	supervise_until(grace_over, "the slot free again");
	memset(io, 0, sizeof(*io));
	child = fork();
	CHECK(child >= 0);
	if (child == 0)
		joiner(point);
	CHECK(waitpid(child, &status, WUNTRACED) == child && WIFSTOPPED(status));
	CHECK(member_word_state(word()) == PF_MEMBER_JOINING);
	gen = member_word_gen(word());
	supervise_until(repaired, "the stopped joiner declared dead and repaired");
	CHECK(member_word_gen(word()) == gen);
	want[PF_COUNTER_DEATHS]++;
	want[PF_COUNTER_REPAIRS]++;
	check_counters("stopped joiner repaired");
	supervise_until(grace_over, "the end of the grace period");
	/* Its process lives: the slot is still the stopped joiner's. */
	r = pf_member_join(d, NULL, &k);
	if (r != -EUSERS)
		fail("join while the stopped joiner lives (-errno)", -r, EUSERS);
	free_at = pf_load_relaxed(&rec->free_at_ns);
	dead_time = pf_load_relaxed(&rec->dead_time_ns);
	CHECK(free_at != 0 && dead_time != 0);
	CHECK(kill(child, SIGCONT) == 0);
	CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	child = -1;
	if (pf_load_acquire(&io->done) != 1 || pf_load_relaxed(&io->join_r) != -ETIMEDOUT)
		fail("the continued joiner's join (-errno)", -pf_load_relaxed(&io->join_r),
		     ETIMEDOUT);
	/* What the repair wrote of the generation it lost: its grace and its time of death. */
	if (pf_load_relaxed(&rec->free_at_ns) != free_at)
		fail("free_at_ns of the dead generation",
		     (long long)pf_load_relaxed(&rec->free_at_ns), (long long)free_at);
	if (pf_load_relaxed(&rec->dead_time_ns) != dead_time)
		fail("dead_time_ns of the dead generation",
		     (long long)pf_load_relaxed(&rec->dead_time_ns), (long long)dead_time);
	check_counters("continued joiner gone");
	/* The slot is free once its grace period is over. */
	for (uint64_t t = proc_now_ns(); (r = pf_member_join(d, NULL, &k)) == -EUSERS; nap_ms(1))
		CHECK(proc_now_ns() - t < WAIT_NS);
	CHECK(r == 0);
	want[PF_COUNTER_JOINS]++;
	CHECK(member_word_gen(word()) != gen);
	for (int i = 0; i < 20; i++) {
		pf_member_heartbeat(k);
		(void)pf_supervisor_check(sup);
		nap_ms(1);
	}
	if (!member_is_live(k))
		fail("the next member live after its join", 0, 1);
	check_counters("next member joined");
	CHECK(pf_member_leave(k) == 0);
	want[PF_COUNTER_LEAVES]++;
	check_counters("next member left");
	printf("%s: ok\n", scenario);
}

static uint32_t judged_gen;
static int hook_ran;

/* Inside `sup`'s check, after it judged generation judged_gen hung, before its kill: the
 * member dies (killed by us), a second supervisor repairs it, and once the grace period
 * is over the next member joins. */
static void before_kill(void *arg, enum fault_point point)
{
	struct pf_supervisor *other;
	int status = 0;

	(void)arg;
	(void)point;
	if (hook_ran++ != 0)
		return;
	CHECK(member_word_gen(word()) == judged_gen);
	CHECK(kill(child, SIGKILL) == 0);
	CHECK(waitpid(child, &status, 0) == child && WIFSIGNALED(status));
	child = -1;
	CHECK(pf_supervisor_create(d, NULL, &other) == 0);
	supervise_with(other, repaired, "the other supervisor's repair");
	supervise_with(other, grace_over, "the end of the grace period");
	pf_supervisor_destroy(other);
	next_child = member_start(&io[1], 1);
	CHECK(member_word_state(word()) == PF_MEMBER_ACTIVE &&
	      member_word_gen(word()) != judged_gen);
}

static int hook_done(void)
{
	return hook_ran != 0;
}

/* A supervisor stopped between judging a member hung and killing it. */
static void s_stale_supervisor(void)
{
	int status = 0;

	supervise_until(grace_over, "the slot free again");
	child = member_start(&io[0], 0); /* never beats */
	judged_gen = member_word_gen(word());
	want[PF_COUNTER_JOINS]++;
	fault_set_hook(FAULT_SUPERVISE_BEFORE_KILL, before_kill, NULL);
	supervise_until(hook_done, "the member judged hung");
	fault_set_hook(FAULT_SUPERVISE_BEFORE_KILL, NULL, NULL);
	/* Killed by us, seen dead by the other supervisor through its futex: a death. */
	want[PF_COUNTER_DEATHS]++;
	want[PF_COUNTER_REPAIRS]++;
	want[PF_COUNTER_JOINS]++;
	check_counters("the stopped supervisor went on");
	for (int i = 0; i < 20; i++) {
		(void)pf_supervisor_check(sup);
		nap_ms(1);
	}
	pf_store_release(&io[1].cmd, CMD_LEAVE);
	CHECK(waitpid(next_child, &status, 0) == next_child);
	next_child = -1;
	if (WIFSIGNALED(status))
		fail("the next member killed by signal", WTERMSIG(status), 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (pf_load_relaxed(&io[1].leave_r) != 0)
		fail("the next member's leave (-errno)", -pf_load_relaxed(&io[1].leave_r), 0);
	want[PF_COUNTER_LEAVES]++;
	check_counters("the next member left");
	printf("%s: ok\n", scenario);
}

static void s_stopped_after_take(void)
{
	stopped_joiner(FAULT_JOIN_TAKEN);
}

static void s_stopped_after_slot(void)
{
	stopped_joiner(FAULT_JOIN_AFTER_SLOT);
}

static void run(const char *what, void (*fn)(void))
{
	scenario = what;
	fn();
}

int main(void)
{
	struct pf_domain_opts o;

	test_domain_name(name, sizeof(name), "stalled-steps");
	CHECK(atexit(cleanup) == 0);
	io = mmap(NULL, 2 * sizeof(*io), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(io != MAP_FAILED);
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = 1;
	o.vnodes_max = 4;
	o.slot_grace_ns = GRACE_NS;
	CHECK(pf_domain_create(name, &o, &d) == 0);
	CHECK(pf_supervisor_create(d, NULL, &sup) == 0);
	run("joiner stopped right after its CAS took the slot", s_stopped_after_take);
	run("joiner stopped before it wrote its identity", s_stopped_after_slot);
	run("supervisor stopped between judging a member hung and its kill", s_stale_supervisor);
	pf_supervisor_destroy(sup);
	CHECK(pf_domain_destroy(d) == 0);
	d = NULL;
	printf("stalled steps: no harm done\n");
	return 0;
}

#endif /* PF_FAULT_INJECTION */

/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_counters_kill.c
 * Goal: ARCHITECTURE.md section 3, invariant 7, for the membership counters: whoever dies
 * at whichever step of a gated join, every domain counter agrees with the member table.
 * A joiner is killed (SIGKILL) or stopped (SIGSTOP, past the heartbeat or join timeout,
 * then SIGCONT) at each step of an admission: before and after its identity is written,
 * after it takes its futex, while it waits at the gate (AWAIT), after the gatekeeper's
 * ACTIVE CAS and before it wakes, after it wakes, and once cordoned; a member cordoned or
 * drained away before it wakes has joined; a refused joiner is counted once; a supervisor
 * killed in the middle of a repair leaves the VNodes-repaired count exact, and so does a
 * joiner killed in the middle of its fold (after it added an event, before its mark).
 * Method: this process creates the domain, closes the admission gate with its own pid and
 * plays gatekeeper (pf_admission_pending / pf_admission_decide) and supervisor
 * (pf_supervisor_check), stepped by hand so that it decides exactly when a stopped joiner
 * may be judged hung; joiners are forked, each with one fault point armed (shm/fault.h:
 * kill or stop at the point). After every step it checks every membership counter against
 * what the scenarios did, and joins + joiner deaths == leaves + deaths + hung + drained
 * away + live; on every pass of every wait, that the counters can be read. (members_active
 * and slots_freed are read off the member table, as the test would count them: comparing
 * the two only guards the reader, so it is not done.)
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
	printf("test_counters_kill: skipped: needs -Dfault_injection=true\n");
	return 77;
}
#else

#include "core/member_impl.h"
#include "pflight/pflight.h"
#include "shm/fault.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"

#define MEMBERS 6u
#define VNODES 8u
#define HEARTBEAT_NS UINT64_C(50000000) /* hung after 4 missed beats: 200 ms */
#define HEARTBEAT_MISSES 4u
#define WAIT_NS (20ull * 1000000000ull)
#define QUIET_NS UINT64_C(400000000) /* longer than the heartbeat timeout */
#define NAP_NS UINT64_C(1000000)     /* between two looks */
#define NO_POINT FAULT_POINT_COUNT
#define HALF_RANGE (UINT64_C(1) << 31)

enum { CMD_RUN, CMD_LEAVE };

/* A joiner's side, in a shared anonymous mapping. */
struct joiner_io {
	_Atomic uint32_t cmd;
	_Atomic uint32_t joined; /* 1 once pf_member_join returned */
	_Atomic int32_t join_r;
	_Atomic uint32_t claimed;
	_Atomic uint32_t left;
	_Atomic int32_t leave_r;
};

/* What the scenarios did: the counters must say exactly this. */
struct expect {
	uint64_t c[PF_COUNTER_COUNT];
	uint64_t joiner_deaths; /* deaths and hung of joiners that never joined */
	uint64_t drained;       /* members drained away (neither left nor died) */
};

static char name[64];
static struct pf_domain *d;
static struct pf_supervisor *sup;
static struct joiner_io *io;
static struct expect want;
static pid_t child = -1;
static const char *scenario = "setup";
static uint32_t reported; /* VNodes the last repair's on_repair said it repaired */

static void on_repair(void *arg, uint32_t slot, uint32_t gen, uint32_t cause, uint32_t n)
{
	(void)arg;
	(void)slot;
	(void)gen;
	(void)cause;
	reported = n;
}

static void cleanup(void)
{
	if (child > 0 && kill(child, SIGKILL) == 0)
		(void)waitpid(child, NULL, 0);
	(void)pf_domain_unlink(name);
}

static void fail(const char *what, unsigned long long got, unsigned long long exp)
{
	fprintf(stderr, "[%s] %s: got %llu, want %llu\n", scenario, what, got, exp);
	exit(1);
}

/* The live slots of the table as it is. */
static uint32_t table_live(void)
{
	uint32_t live = 0;

	for (uint32_t s = 0; s < MEMBERS; s++) {
		uint32_t st = member_word_state(pf_load_acquire(&d->members[s].state));

		live += st == PF_MEMBER_ACTIVE || st == PF_MEMBER_DRAINING;
	}
	return live;
}

/* What must hold at every instant, even while a join or a repair is under way. */
static void check_bounds(void)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	uint64_t v[PF_COUNTER_COUNT];

	CHECK(pf_domain_counters(d, v, PF_COUNTER_COUNT) == PF_COUNTER_COUNT);
	for (uint32_t i = 0; i < PF_COUNTER_COUNT; i++)
		if (v[i] >= HALF_RANGE)
			fail(pf_counter_name(i), v[i], HALF_RANGE - 1);
	CHECK(pf_domain_info(d, &di) == 0);
}

/* Every counter against the table and the scenarios, on a quiet domain. */
static void check_exact(const char *step)
{
	static const uint32_t exact[] = {
		PF_COUNTER_JOINS, PF_COUNTER_LEAVES,  PF_COUNTER_JOIN_REFUSED,    PF_COUNTER_DEATHS,
		PF_COUNTER_HUNG,  PF_COUNTER_REPAIRS, PF_COUNTER_VNODES_REPAIRED,
	};
	uint64_t v[PF_COUNTER_COUNT];
	uint32_t live = table_live();
	char what[96];

	check_bounds();
	CHECK(pf_domain_counters(d, v, PF_COUNTER_COUNT) == PF_COUNTER_COUNT);
	for (size_t i = 0; i < PF_ARRAY_SIZE(exact); i++) {
		(void)snprintf(what, sizeof(what), "%s: %s", step, pf_counter_name(exact[i]));
		if (v[exact[i]] != want.c[exact[i]])
			fail(what, v[exact[i]], want.c[exact[i]]);
	}
	(void)snprintf(what, sizeof(what),
		       "%s: joins + joiner deaths vs leaves + deaths + hung + drained + live",
		       step);
	if (v[PF_COUNTER_JOINS] + want.joiner_deaths !=
	    v[PF_COUNTER_LEAVES] + v[PF_COUNTER_DEATHS] + v[PF_COUNTER_HUNG] + want.drained + live)
		fail(what, v[PF_COUNTER_JOINS] + want.joiner_deaths,
		     v[PF_COUNTER_LEAVES] + v[PF_COUNTER_DEATHS] + v[PF_COUNTER_HUNG] +
			     want.drained + live);
	(void)snprintf(what, sizeof(what), "%s: repairs vs deaths + hung", step);
	if (v[PF_COUNTER_REPAIRS] != v[PF_COUNTER_DEATHS] + v[PF_COUNTER_HUNG])
		fail(what, v[PF_COUNTER_REPAIRS], v[PF_COUNTER_DEATHS] + v[PF_COUNTER_HUNG]);
}

/* The joiner: join with `point` armed in `mode`, claim `claims` VNodes, then beat until
 * told to leave. */
static void joiner(enum fault_point point, enum fault_mode mode, uint32_t claims)
{
	struct pf_member_opts o;
	struct pf_domain *jd;
	struct pf_member *m;
	struct pf_vnode *h;
	int r;

	if (point != NO_POINT)
		fault_arm(point, 1, mode);
	if (pf_domain_open(name, &jd) != 0)
		_exit(3);
	pf_member_opts_init(&o);
	o.admission_timeout_ms = 60000;
	r = pf_member_join(jd, &o, &m);
	pf_store_relaxed(&io->join_r, r);
	pf_store_release(&io->joined, 1);
	if (r != 0)
		_exit(0);
	/* By id: a claim would run a placement round and take every PENDING VNode, and the
	 * repair counts below are per VNode held. */
	for (uint32_t id = 0, n = 0; n < claims; id++) {
		if (id == VNODES)
			_exit(4);
		n += pf_vnode_claim_id(m, id, &h) == 0;
	}
	pf_store_release(&io->claimed, claims);
	while (pf_load_acquire(&io->cmd) != CMD_LEAVE) {
		pf_member_heartbeat(m);
		test_sleep_ns(2 * NAP_NS);
	}
	pf_store_relaxed(&io->leave_r, pf_member_leave(m));
	pf_store_release(&io->left, 1);
	_exit(0);
}

static void spawn(enum fault_point point, enum fault_mode mode, uint32_t claims)
{
	memset(io, 0, sizeof(*io));
	child = fork();
	CHECK(child >= 0);
	if (child == 0)
		joiner(point, mode, claims);
}

/* One pass of the supervisor, then the checks that hold at every instant. */
static void supervise(void)
{
	(void)pf_supervisor_check(sup);
	check_bounds();
}

/* Wait (supervising when `judge`) until cond() holds. */
static void wait_for(int (*cond)(void), int judge, const char *what)
{
	uint64_t deadline = proc_now_ns() + WAIT_NS;

	while (!cond()) {
		if (proc_now_ns() > deadline) {
			fprintf(stderr, "[%s] timed out waiting for %s\n", scenario, what);
			exit(1);
		}
		if (judge)
			supervise();
		else
			check_bounds();
		test_sleep_ns(NAP_NS);
	}
}

/* The one slot a scenario is about: not FREE, RETIRED or repaired. */
static int busy_slot(void)
{
	for (uint32_t s = 0; s < MEMBERS; s++) {
		uint64_t w = pf_load_acquire(&d->members[s].state);
		uint32_t st = member_word_state(w);

		if (st == PF_MEMBER_JOINING || st == PF_MEMBER_ACTIVE || st == PF_MEMBER_DRAINING ||
		    (st == PF_MEMBER_DEAD && (w & MEMBER_FLAG_REPAIRED) == 0))
			return (int)s;
	}
	return -1;
}

static int quiet(void)
{
	return busy_slot() < 0;
}

static int joined(void)
{
	return pf_load_acquire(&io->joined) != 0;
}

static int has_left(void)
{
	return pf_load_acquire(&io->left) != 0;
}

static int claimed(void)
{
	return pf_load_acquire(&io->claimed) != 0;
}

static struct pf_admission_request pending;

static int awaiting(void)
{
	uint32_t cursor = 0;

	pending.size = sizeof(pending);
	return pf_admission_pending(d, &cursor, &pending) == 0 && pending.pid == child;
}

/* The child ended (killed, or exited 0). */
static void reap(int want_killed)
{
	int status = 0;

	CHECK(waitpid(child, &status, 0) == child);
	child = -1;
	if (want_killed)
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	else
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* The child stopped itself at its fault point. */
static void wait_stopped(void)
{
	int status = 0;

	CHECK(waitpid(child, &status, WUNTRACED) == child);
	CHECK(WIFSTOPPED(status));
}

static void stop_child(void)
{
	CHECK(kill(child, SIGSTOP) == 0);
	wait_stopped();
}

static void cont_child(void)
{
	CHECK(kill(child, SIGCONT) == 0);
}

static void decide(int allowed)
{
	struct pf_policy_verdict v = {.size = sizeof(v),
				      .allowed = (uint32_t)allowed,
				      .action = PF_POLICY_CAN_REGISTER,
				      .rule = PF_POLICY_NO_RULE,
				      .check = allowed ? PF_POLICY_ALLOWED : PF_POLICY_UIDS};

	CHECK(pf_admission_decide(d, pending.slot, pending.generation, &v, 500000, 0) == 0);
	if (!allowed)
		want.c[PF_COUNTER_JOIN_REFUSED]++;
}

/* Let the joiner through the gate and wait until its join returned 0. */
static void admit(void)
{
	wait_for(awaiting, 1, "the joiner at the gate");
	decide(1);
	want.c[PF_COUNTER_JOINS]++;
	wait_for(joined, 1, "the join to return");
	CHECK(pf_load_relaxed(&io->join_r) == 0);
}

/* The joined child leaves by itself. */
static void leave(int want_r)
{
	pf_store_release(&io->cmd, CMD_LEAVE);
	wait_for(has_left, 1, "the leave");
	CHECK(pf_load_relaxed(&io->leave_r) == want_r);
	reap(0);
}

/* Who sends the signal that ends the child: its own fault point, this process now, or
 * this process earlier (already stopped). */
enum { BY_ITSELF, BY_US, STOPPED };

/* The child dies and is repaired: killed (FAULT_MODE_KILL), or a member stopped until the
 * supervisor judges it hung and kills it (FAULT_MODE_STOP). A joiner's death (it never
 * joined) when `joiner`. */
static void dies(enum fault_mode mode, int who, int joiner)
{
	if (mode == FAULT_MODE_KILL) {
		if (who == BY_US)
			CHECK(kill(child, SIGKILL) == 0);
		reap(1);
		want.c[PF_COUNTER_DEATHS]++;
	} else {
		if (who == BY_ITSELF)
			wait_stopped();
		else if (who == BY_US)
			stop_child();
		wait_for(quiet, 1, "the hung member's repair");
		reap(1);
		want.c[PF_COUNTER_HUNG]++;
	}
	want.c[PF_COUNTER_REPAIRS]++;
	want.joiner_deaths += (uint64_t)joiner;
	wait_for(quiet, 1, "the repair");
}

/* The end of a scenario: the counters as the scenario left them, exactly. */
static void done(void)
{
	wait_for(quiet, 1, "a quiet domain");
	check_exact("end");
	printf("%s: counters exact\n", scenario);
}

/* A joiner killed or stopped at a fault point before it waits at the gate: a dead joiner
 * (exited, or vanished once stopped past the join timeout), never a member. */
static void at_point_before_gate(enum fault_point point, enum fault_mode mode)
{
	spawn(point, mode, 0);
	if (mode == FAULT_MODE_KILL) {
		dies(mode, BY_ITSELF, 1);
	} else {
		wait_stopped();
		if (point != FAULT_JOIN_AFTER_FUTEX) {
			wait_for(quiet, 1, "the stopped joiner judged dead");
			want.c[PF_COUNTER_DEATHS]++;
			want.c[PF_COUNTER_REPAIRS]++;
			want.joiner_deaths++;
			check_exact("stopped, judged dead");
			cont_child();
			wait_for(joined, 1, "the join to fail");
			CHECK(pf_load_relaxed(&io->join_r) == -ETIMEDOUT);
			reap(0);
			done();
			return;
		}
		/* Holding its futex, a stopped joiner is left alone: it may be slow. */
		for (uint64_t t = proc_now_ns(); proc_now_ns() - t < QUIET_NS;
		     test_sleep_ns(NAP_NS))
			supervise();
		check_exact("stopped holding its futex");
		cont_child();
		admit();
		check_exact("continued and admitted");
		leave(0);
		want.c[PF_COUNTER_LEAVES]++;
	}
	done();
}

/* Killed, or stopped past every timeout, while waiting at the gate. */
static void while_awaiting(enum fault_mode mode)
{
	spawn(NO_POINT, FAULT_MODE_OFF, 0);
	wait_for(awaiting, 1, "the joiner at the gate");
	if (mode == FAULT_MODE_KILL) {
		dies(mode, BY_US, 1);
		done();
		return;
	}
	stop_child();
	for (uint64_t t = proc_now_ns(); proc_now_ns() - t < QUIET_NS; test_sleep_ns(NAP_NS))
		supervise();
	check_exact("stopped at the gate");
	cont_child();
	admit();
	leave(0);
	want.c[PF_COUNTER_LEAVES]++;
	done();
}

/* Admitted (the gatekeeper's ACTIVE CAS) while stopped, before it wakes: killed, judged
 * hung, or cordoned (and drained away) and then woken. */
static void admitted_asleep(int how)
{
	int slot;

	spawn(NO_POINT, FAULT_MODE_OFF, 0);
	wait_for(awaiting, 1, "the joiner at the gate");
	stop_child();
	slot = (int)pending.slot;
	decide(1);
	want.c[PF_COUNTER_JOINS]++;
	check_exact("admitted, not woken");
	if (how < 2) { /* killed before it wakes, or judged hung: it never beats */
		dies(how == 0 ? FAULT_MODE_KILL : FAULT_MODE_STOP, how == 0 ? BY_US : STOPPED, 0);
		done();
		return;
	}
	CHECK(pf_member_cordon(d, (uint32_t)slot, 0) == 0);
	check_exact("admitted and cordoned, not woken");
	if (how == 3) { /* drained away before it wakes */
		struct pf_drain_report rep = {.size = sizeof(rep)};
		struct pf_sched *s;

		CHECK(pf_sched_create(d, NULL, &s) == 0);
		while (!rep.done)
			CHECK(pf_sched_drain_step(s, (uint32_t)slot, NULL, &rep) >= 0);
		pf_sched_destroy(s);
		want.drained++;
		check_exact("drained away, not woken");
	}
	cont_child(); /* before the supervisor looks again: it would find it hung */
	wait_for(joined, 0, "the join to return");
	if (pf_load_relaxed(&io->join_r) != 0)
		fail("-errno of the join of a member cordoned before it woke",
		     (unsigned long long)-pf_load_relaxed(&io->join_r), 0);
	check_exact("woken after the cordon");
	leave(0);
	if (how == 2)
		want.c[PF_COUNTER_LEAVES]++;
	done();
}

/* Killed or stopped after it woke admitted, at a fault point. */
static void woken(enum fault_point point, enum fault_mode mode)
{
	spawn(point, mode, 0);
	wait_for(awaiting, 1, "the joiner at the gate");
	decide(1);
	want.c[PF_COUNTER_JOINS]++;
	dies(mode, BY_ITSELF, 0);
	done();
}

/* A member holding VNodes, cordoned, then killed or stopped until judged hung. */
static void cordoned(enum fault_mode mode, uint32_t claims)
{
	int slot;

	spawn(NO_POINT, FAULT_MODE_OFF, claims);
	admit();
	wait_for(claimed, 1, "the claims");
	slot = busy_slot();
	CHECK(slot >= 0);
	CHECK(pf_member_cordon(d, (uint32_t)slot, 0) == 0);
	check_exact("cordoned");
	dies(mode, BY_US, 0);
	want.c[PF_COUNTER_VNODES_REPAIRED] += claims;
	done();
}

/* The child is dead (a zombie, not reaped): what identity_gone() calls gone. */
static int child_dead(void)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	CHECK(waitid(P_PID, (id_t)child, &si, WEXITED | WNOHANG | WNOWAIT) == 0);
	return si.si_pid == child;
}

/* A member judged hung and killed by one supervisor, its death then seen first by another
 * (pflightd's and an embedded one, say): hung all the same, whichever sees it, however
 * (its futex released, its process gone). */
static void hung_seen_by_another(void)
{
	struct pf_supervisor *other;

	spawn(NO_POINT, FAULT_MODE_OFF, 1);
	admit();
	wait_for(claimed, 1, "the claim");
	stop_child();
	wait_for(child_dead, 1, "the hung member's kill"); /* `sup` judges and kills it */
	CHECK(pf_supervisor_create(d, NULL, &other) == 0);
	for (uint64_t t = proc_now_ns(); !quiet(); test_sleep_ns(NAP_NS)) {
		CHECK(proc_now_ns() - t < WAIT_NS);
		(void)pf_supervisor_check(other);
		check_bounds();
	}
	pf_supervisor_destroy(other);
	reap(1);
	want.c[PF_COUNTER_HUNG]++;
	want.c[PF_COUNTER_REPAIRS]++;
	want.c[PF_COUNTER_VNODES_REPAIRED]++;
	done();
}

/* Refused at the gate; then a refused joiner killed before it read the refusal. */
static void refused(void)
{
	spawn(NO_POINT, FAULT_MODE_OFF, 0);
	wait_for(awaiting, 1, "the joiner at the gate");
	decide(0);
	wait_for(joined, 1, "the refusal");
	CHECK(pf_load_relaxed(&io->join_r) == -EPERM);
	reap(0);
	done();
	spawn(NO_POINT, FAULT_MODE_OFF, 0);
	wait_for(awaiting, 1, "the joiner at the gate");
	stop_child();
	decide(0);
	check_exact("refused, not woken");
	dies(FAULT_MODE_KILL, BY_US, 1);
	done();
}

/* The child ended (reaped), or waits at the gate. */
static int ended_or_awaiting(void)
{
	int status = 0;

	if (waitpid(child, &status, WNOHANG) == child) {
		CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		child = -1;
		return 1;
	}
	return awaiting();
}

/* A joiner killed in the middle of its fold of the slot's ended generation, right after
 * the CAS that added one of its events to a counter and before it marked the event
 * counted: readers, helpers and the next folds count it once. A joiner whose first slot
 * has nothing to fold reaches the gate instead; refused, it leaves a generation to fold,
 * so within MEMBERS tries a fold is killed. */
static void joiner_killed_mid_fold(void)
{
	uint32_t tries = 0;

	for (;;) {
		CHECK(tries++ < MEMBERS + 1);
		spawn(FAULT_TALLY_AFTER_ADD, FAULT_MODE_KILL, 0);
		wait_for(ended_or_awaiting, 1, "the fold's kill or the gate");
		if (child < 0)
			break; /* killed holding no slot: nothing to count of it */
		decide(0);
		wait_for(joined, 1, "the refusal");
		CHECK(pf_load_relaxed(&io->join_r) == -EPERM);
		reap(0);
		check_exact("refused, its fold not killed");
	}
	check_exact("a fold killed after its add");
	/* Joins fold again (whichever slot they take), each counted once. */
	for (int i = 0; i < 2; i++) {
		spawn(NO_POINT, FAULT_MODE_OFF, 0);
		admit();
		leave(0);
		want.c[PF_COUNTER_LEAVES]++;
		check_exact("joined and left after the killed fold");
	}
	done();
}

/* A supervisor killed in the middle of a repair (after its first VNode went back): the
 * next one finishes it, every VNode is counted once, and the repair reports (on_repair,
 * what pflightd audits) as many as the counter says. */
static void supervisor_killed(uint32_t claims)
{
	pid_t s;
	int status = 0;

	spawn(NO_POINT, FAULT_MODE_OFF, claims);
	admit();
	wait_for(claimed, 1, "the claims");
	CHECK(kill(child, SIGKILL) == 0);
	reap(1);
	s = fork();
	CHECK(s >= 0);
	if (s == 0) {
		struct pf_supervisor *cs;
		struct pf_domain *sd;

		fault_arm(FAULT_REPAIR_MID_SCAN, 1, FAULT_MODE_KILL);
		if (pf_domain_open(name, &sd) != 0 || pf_supervisor_create(sd, NULL, &cs) != 0)
			_exit(3);
		for (;;) {
			(void)pf_supervisor_check(cs);
			test_sleep_ns(NAP_NS);
		}
	}
	CHECK(waitpid(s, &status, 0) == s);
	CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	check_bounds();
	want.c[PF_COUNTER_DEATHS]++;
	want.c[PF_COUNTER_REPAIRS]++;
	want.c[PF_COUNTER_VNODES_REPAIRED] += claims;
	reported = UINT32_MAX;
	done();
	if (reported != claims)
		fail("VNodes the finished repair reported (on_repair)", reported, claims);
}

static void run(const char *what, void (*fn)(void))
{
	scenario = what;
	fn();
}

static void s_kill_after_slot(void)
{
	at_point_before_gate(FAULT_JOIN_AFTER_SLOT, FAULT_MODE_KILL);
}
static void s_stop_after_slot(void)
{
	at_point_before_gate(FAULT_JOIN_AFTER_SLOT, FAULT_MODE_STOP);
}
static void s_kill_after_identity(void)
{
	at_point_before_gate(FAULT_JOIN_AFTER_IDENTITY, FAULT_MODE_KILL);
}
static void s_stop_after_identity(void)
{
	at_point_before_gate(FAULT_JOIN_AFTER_IDENTITY, FAULT_MODE_STOP);
}
static void s_kill_after_futex(void)
{
	at_point_before_gate(FAULT_JOIN_AFTER_FUTEX, FAULT_MODE_KILL);
}
static void s_stop_after_futex(void)
{
	at_point_before_gate(FAULT_JOIN_AFTER_FUTEX, FAULT_MODE_STOP);
}
static void s_kill_awaiting(void)
{
	while_awaiting(FAULT_MODE_KILL);
}
static void s_stop_awaiting(void)
{
	while_awaiting(FAULT_MODE_STOP);
}
static void s_admitted_killed(void)
{
	admitted_asleep(0);
}
static void s_admitted_hung(void)
{
	admitted_asleep(1);
}
static void s_admitted_cordoned(void)
{
	admitted_asleep(2);
}
static void s_admitted_drained(void)
{
	admitted_asleep(3);
}
static void s_kill_woken(void)
{
	woken(FAULT_JOIN_BEFORE_ACTIVE, FAULT_MODE_KILL);
}
static void s_kill_joined(void)
{
	woken(FAULT_JOIN_AFTER_ACTIVE, FAULT_MODE_KILL);
}
static void s_stop_joined(void)
{
	woken(FAULT_JOIN_AFTER_ACTIVE, FAULT_MODE_STOP);
}
static void s_kill_cordoned(void)
{
	cordoned(FAULT_MODE_KILL, 2);
}
static void s_stop_cordoned(void)
{
	cordoned(FAULT_MODE_STOP, 1);
}
static void s_supervisor_killed(void)
{
	supervisor_killed(3);
}

int main(void)
{
	struct pf_supervisor_opts so;
	struct pf_domain_opts o;

	test_domain_name(name, sizeof(name), "counters-kill");
	CHECK(atexit(cleanup) == 0);
	io = mmap(NULL, sizeof(*io), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	CHECK(io != MAP_FAILED);
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = MEMBERS;
	o.vnodes_max = VNODES;
	o.heartbeat_interval_ns = HEARTBEAT_NS;
	o.heartbeat_misses = HEARTBEAT_MISSES;
	o.slot_grace_ns = 1000000; /* slots are taken again: generations get archived */
	CHECK(pf_domain_create(name, &o, &d) == 0);
	CHECK(pf_vnode_define_range(d, 0, VNODES, NULL) == (int)VNODES);
	pf_supervisor_opts_init(&so);
	so.on_repair = on_repair;
	CHECK(pf_supervisor_create(d, &so, &sup) == 0);
	CHECK(pf_admission_gate(d, getpid(), 0) == 0);
	check_exact("start");
	run("admitted, killed before it woke", s_admitted_killed);
	run("admitted, hung before it woke", s_admitted_hung);
	run("admitted, cordoned before it woke", s_admitted_cordoned);
	run("admitted, drained away before it woke", s_admitted_drained);
	run("killed after it woke, before join_activate returned", s_kill_woken);
	run("killed after it joined", s_kill_joined);
	run("stopped after it joined", s_stop_joined);
	run("killed after taking its slot", s_kill_after_slot);
	run("stopped after taking its slot", s_stop_after_slot);
	run("killed after writing its identity", s_kill_after_identity);
	run("stopped after writing its identity", s_stop_after_identity);
	run("killed after taking its futex", s_kill_after_futex);
	run("stopped after taking its futex", s_stop_after_futex);
	run("killed at the gate", s_kill_awaiting);
	run("stopped at the gate", s_stop_awaiting);
	run("cordoned with VNodes, killed", s_kill_cordoned);
	run("cordoned with VNodes, hung", s_stop_cordoned);
	run("judged hung by one supervisor, seen dead by another", hung_seen_by_another);
	run("refused at the gate", refused);
	run("supervisor killed in the middle of a repair", s_supervisor_killed);
	run("joiner killed in the middle of its fold", joiner_killed_mid_fold);
	pf_supervisor_destroy(sup);
	CHECK(pf_domain_destroy(d) == 0);
	d = NULL;
	printf("counters exact after every kill and stop\n");
	return 0;
}

#endif /* PF_FAULT_INJECTION */

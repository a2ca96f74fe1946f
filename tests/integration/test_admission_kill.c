/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_admission_kill.c
 * Goal: kill -9 at the admission gate, on either side, strands nothing: a joiner killed
 * while it waits for the gatekeeper's decision is found dead by a supervisor and its slot
 * repaired (a late decision about it is refused, -ESTALE); a gatekeeper killed while a
 * joiner waits makes that join fail at once with -EHOSTDOWN when the gate is strict, and
 * go on without a decision when it is not.
 * Method: real processes over a real segment: forked joiners and a forked gatekeeper
 * that closes the gate and never decides; this process supervises and checks.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pflight/pflight.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"

#define WAIT_NS (20ull * 1000000000ull)

static char name[64];
static pid_t keeper = -1, joining = -1; /* alive now, for cleanup() */

/* A failed check exits at once: no process or segment may outlive the test (the keeper
 * would pause for ever). Children leave with _exit() and do not run this. */
static void cleanup(void)
{
	if (keeper > 0 && kill(keeper, SIGKILL) == 0)
		(void)waitpid(keeper, NULL, 0);
	if (joining > 0 && kill(joining, SIGKILL) == 0)
		(void)waitpid(joining, NULL, 0);
	(void)pf_domain_unlink(name);
}

/* A joiner: exit 0 joined (then leave), 1 -EHOSTDOWN, 2 other failure. */
static void joiner(void)
{
	struct pf_member_opts o;
	struct pf_domain *d;
	struct pf_member *m;
	int r;

	if (pf_domain_open(name, &d) != 0)
		_exit(3);
	pf_member_opts_init(&o);
	o.admission_timeout_ms = 15000;
	r = pf_member_join(d, &o, &m);
	if (r == 0) {
		(void)pf_member_leave(m);
		_exit(0);
	}
	_exit(r == -EHOSTDOWN ? 1 : 2);
}

static pid_t fork_joiner(void)
{
	pid_t pid = fork();

	CHECK(pid >= 0);
	if (pid == 0)
		joiner();
	joining = pid;
	return pid;
}

/* The waiting joiner's request, once it waits at the gate. */
static struct pf_admission_request wait_pending(struct pf_domain *d, pid_t pid)
{
	struct pf_admission_request q = {.size = sizeof(q)};
	uint64_t deadline = proc_now_ns() + WAIT_NS;
	uint32_t cursor = 0;

	while (proc_now_ns() < deadline) {
		if (pf_admission_pending(d, &cursor, &q) == 0 && q.pid == pid)
			return q;
		proc_nap();
	}
	CHECK(0);
	return q;
}

/* A joiner killed at the gate: repaired, and a late decision refused. */
static void kill_joiner(struct pf_domain *d)
{
	struct pf_policy_verdict v = {.size = sizeof(v), .allowed = 1, .rule = PF_POLICY_NO_RULE};
	struct pf_member_info mi = {.size = sizeof(mi)};
	struct pf_supervisor *s;
	struct pf_admission_request q;
	uint64_t deadline = proc_now_ns() + WAIT_NS;
	pid_t pid;

	CHECK(pf_admission_gate(d, getpid(), PF_ADMISSION_STRICT) == 0);
	pid = fork_joiner();
	q = wait_pending(d, pid);
	CHECK(kill(pid, SIGKILL) == 0 && waitpid(pid, NULL, 0) == pid);
	joining = -1;
	CHECK(pf_supervisor_create(d, NULL, &s) == 0);
	while (proc_now_ns() < deadline) {
		(void)pf_supervisor_check(s);
		if (pf_member_info(d, q.slot, &mi) != 0 || mi.generation != q.generation ||
		    mi.state == PF_MEMBER_DEAD)
			break;
		proc_nap();
	}
	CHECK(pf_member_info(d, q.slot, &mi) != 0 || mi.generation != q.generation ||
	      mi.state == PF_MEMBER_DEAD);
	CHECK(pf_admission_decide(d, q.slot, q.generation, &v, 500000, 0) == -ESTALE);
	pf_supervisor_destroy(s);
	printf("joiner killed at the gate: repaired, a late decision refused\n");
}

/* A gatekeeper killed while a joiner waits: strict fails the join, loose lets it on. */
static void kill_keeper(struct pf_domain *d, uint32_t flags, int want_exit)
{
	int sync[2], status = 0;
	pid_t pid;
	char c;

	CHECK(pipe(sync) == 0);
	keeper = fork();
	CHECK(keeper >= 0);
	if (keeper == 0) {
		struct pf_domain *kd;

		if (pf_domain_open(name, &kd) != 0 || pf_admission_gate(kd, getpid(), flags) != 0)
			_exit(3);
		if (write(sync[1], "k", 1) != 1)
			_exit(4);
		for (;;)
			pause();
	}
	CHECK(read(sync[0], &c, 1) == 1);
	pid = fork_joiner();
	(void)wait_pending(d, pid);
	CHECK(kill(keeper, SIGKILL) == 0 && waitpid(keeper, NULL, 0) == keeper);
	keeper = -1;
	CHECK(waitpid(pid, &status, 0) == pid);
	joining = -1;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == want_exit);
	(void)close(sync[0]);
	(void)close(sync[1]);
	printf("gatekeeper killed (%s gate): the waiting join %s\n", flags ? "strict" : "loose",
	       want_exit == 1 ? "failed with -EHOSTDOWN" : "went on without a decision");
}

int main(void)
{
	struct pf_domain_opts o;
	struct pf_domain *d;

	test_domain_name(name, sizeof(name), "admission-kill");
	CHECK(atexit(cleanup) == 0);
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = 8;
	o.vnodes_max = 8;
	CHECK(pf_domain_create(name, &o, &d) == 0);
	kill_joiner(d);
	kill_keeper(d, PF_ADMISSION_STRICT, 1);
	kill_keeper(d, 0, 0);
	CHECK(pf_domain_destroy(d) == 0);
	return 0;
}

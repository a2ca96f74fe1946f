/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/core/test_core_member.c
 * Goal: the library's internal member paths that let one thread play many members (the
 * simulator's) behave as their public counterparts do: member_join_as() takes the slot it
 * is told to start from and keeps failures under the identity key it is given;
 * supervisor_declare_dead() repairs through the supervisor's own path (counters, VNodes
 * back to PENDING, the member's own leave then told it is stale); member_leave_many()
 * returns every VNode of many leaving members, handles or not, with one scan. And the
 * reliability a failure history gives never reaches 0. A worker whose main thread has
 * exited while another serves is alive: nothing it holds is reclaimed until it is gone.
 * pf_member_info() reports one generation's validated fields, even when the record
 * changes under it.
 * Method: members joined from this thread on small domains (the worker: a forked child);
 * results read through the public readers and counters.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "core/member_impl.h"
#include "core/tally.h"
#include "pflight/pflight.h"
#include "shm/fault.h"
#include "tests/common/test_util.h"

/* member_join_as(): the slot search starts where asked; the failure history follows the
 * identity key, not the process. */
static void test_member_join_as(void **state)
{
	struct member_as as = {.identity_key = 0x1234, .slot_start = 5};
	struct pf_domain_opts dopts;
	struct pf_member_info mi = {.size = sizeof(mi)};
	struct pf_supervisor *sup;
	struct pf_domain *d;
	struct pf_member *a, *b, *c, *x;
	char name[64];

	(void)state;
	test_domain_name(name, sizeof(name), "member-as");
	pf_domain_opts_init(&dopts);
	dopts.flags = PF_DOMAIN_REPLACE;
	dopts.members_max = 8;
	dopts.slot_grace_ns = 0;
	assert_int_equal(pf_domain_create(name, &dopts, &d), 0);
	assert_int_equal(member_join_as(d, NULL, &as, &a), 0);
	assert_int_equal((uint32_t)pf_member_id(a), 5);
	assert_int_equal(member_join_as(d, NULL, &as, &b), 0);
	assert_int_equal((uint32_t)pf_member_id(b), 6);
	as.slot_start = 13; /* modulo members_max: 5, taken, so 6, taken, so 7 */
	assert_int_equal(member_join_as(d, NULL, &as, &c), 0);
	assert_int_equal((uint32_t)pf_member_id(c), 7);
	as.identity_key = 0;
	assert_int_equal(member_join_as(d, NULL, &as, &x), -EINVAL);
	/* A death under key 0x1234 halves the reliability of its kind, not this process's. */
	assert_int_equal(pf_supervisor_create(d, NULL, &sup), 0);
	assert_true(supervisor_declare_dead(sup, 5, (uint32_t)(pf_member_id(a) >> 32),
					    PF_DEATH_HUNG) >= 0);
	assert_int_equal(pf_member_info(d, 6, &mi), 0);
	assert_int_equal(mi.reliability_ppm, PF_PPM / 2);
	/* Leave before anyone may take the slot: its robust node is still in our list. */
	assert_int_equal(pf_member_leave(a), -ESTALE);
	assert_int_equal(pf_member_join(d, NULL, &x), 0); /* this process's own key */
	assert_int_equal(pf_member_info(d, (uint32_t)pf_member_id(x), &mi), 0);
	assert_int_equal(mi.reliability_ppm, PF_PPM);
	pf_supervisor_destroy(sup);
	assert_int_equal(pf_member_leave(b), 0);
	assert_int_equal(pf_member_leave(c), 0);
	assert_int_equal(pf_member_leave(x), 0);
	assert_int_equal(pf_domain_destroy(d), 0);
}

/* supervisor_declare_dead(): the repair path, its counters, and the member's own leave. */
static void test_member_declare_dead_repairs(void **state)
{
	struct pf_domain_opts dopts;
	struct pf_supervisor *sup;
	struct pf_domain *d;
	struct pf_member *a, *b;
	struct pf_vnode *v[3];
	uint64_t c[PF_COUNTER_COUNT];
	char name[64];
	uint32_t slot, ev;

	(void)state;
	test_domain_name(name, sizeof(name), "member-dead");
	pf_domain_opts_init(&dopts);
	dopts.flags = PF_DOMAIN_REPLACE;
	dopts.vnodes_max = 8;
	dopts.slot_grace_ns = 0;
	assert_int_equal(pf_domain_create(name, &dopts, &d), 0);
	assert_int_equal(pf_vnode_define_range(d, 0, 8, NULL), 8);
	assert_int_equal(pf_member_join(d, NULL, &a), 0);
	assert_int_equal(pf_member_join(d, NULL, &b), 0);
	for (int i = 0; i < 3; i++) /* by id: no placement round spreads the others */
		assert_int_equal(pf_vnode_claim_id(a, (uint32_t)i, &v[i]), 0);
	assert_int_equal(pf_supervisor_create(d, NULL, &sup), 0);
	slot = (uint32_t)pf_member_id(a);
	assert_int_equal(supervisor_declare_dead(sup, slot, 999, PF_DEATH_HUNG), -ENOENT);
	assert_int_equal(supervisor_declare_dead(sup, slot, 1, 77), -EINVAL);
	assert_int_equal(supervisor_declare_dead(sup, slot, (uint32_t)(pf_member_id(a) >> 32),
						 PF_DEATH_HUNG),
			 3);
	assert_int_equal(pf_domain_counters(d, c, PF_COUNTER_COUNT), PF_COUNTER_COUNT);
	assert_int_equal(c[PF_COUNTER_HUNG], 1);
	assert_int_equal(c[PF_COUNTER_REPAIRS], 1);
	assert_int_equal(c[PF_COUNTER_VNODES_REPAIRED], 3);
	assert_int_equal(pf_domain_membership(d, NULL), 1);
	/* Its wait says it is out, armed or blocking. */
	assert_int_equal(pf_member_wait_arm(a, &ev), -ESTALE);
	assert_int_equal(pf_member_wait(a, 0, &ev), -ESTALE);
	assert_int_equal(pf_member_leave(a), -ESTALE); /* its handles were taken */
	assert_int_equal(pf_vnode_claim(b, PF_CLAIM_NOWAIT, 0, &v[0]), 0);
	pf_supervisor_destroy(sup);
	assert_int_equal(pf_member_leave(b), 0);
	assert_int_equal(pf_domain_destroy(d), 0);
}

/* member_leave_many(): handles, a placement never adopted and a dead member, one scan. */
static void test_member_leave_many(void **state)
{
	struct pf_domain_opts dopts;
	struct pf_supervisor *sup;
	struct pf_sched *s;
	struct pf_domain *d;
	struct pf_member *m[3];
	struct pf_vnode *v;
	char name[64];

	(void)state;
	test_domain_name(name, sizeof(name), "member-leave");
	pf_domain_opts_init(&dopts);
	dopts.flags = PF_DOMAIN_REPLACE;
	dopts.vnodes_max = 32;
	assert_int_equal(pf_domain_create(name, &dopts, &d), 0);
	assert_int_equal(pf_vnode_define_range(d, 0, 32, NULL), 32);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pf_member_join(d, NULL, &m[i]), 0);
	assert_int_equal(pf_vnode_claim_id(m[0], 0, &v), 0);
	assert_int_equal(pf_sched_create(d, NULL, &s), 0);
	assert_true(pf_sched_run(s, 32) > 0); /* placed on all three, adopted by none */
	assert_int_equal(pf_supervisor_create(d, NULL, &sup), 0);
	assert_true(supervisor_declare_dead(sup, (uint32_t)pf_member_id(m[2]),
					    (uint32_t)(pf_member_id(m[2]) >> 32),
					    PF_DEATH_HUNG) > 0);
	assert_int_equal(member_leave_many(m, 3), 1); /* one had been declared dead */
	assert_int_equal(pf_domain_membership(d, NULL), 0);
	for (uint32_t id = 0; id < 32; id++) {
		struct pf_vnode_info vi = {.size = sizeof(vi)};

		assert_int_equal(pf_vnode_info(d, id, &vi), 0);
		assert_int_equal(vi.state, PF_VNODE_PENDING);
	}
	assert_int_equal(member_leave_many(m, 0), 0);
	pf_supervisor_destroy(sup);
	pf_sched_destroy(s);
	assert_int_equal(pf_domain_destroy(d), 0);
}

/* Twenty failures and more under one key: reliability bottoms out at one ppm, not 0 (a
 * kind whose every member scored 0 would be placed on blind to load). */
static void test_member_reliability_floor(void **state)
{
	struct member_as as = {.identity_key = 0x77, .slot_start = 0};
	struct pf_member_info mi = {.size = sizeof(mi)};
	struct pf_domain_opts dopts;
	struct pf_supervisor *sup;
	struct pf_domain *d;
	struct pf_member *x, *y;
	char name[64];

	(void)state;
	test_domain_name(name, sizeof(name), "member-floor");
	pf_domain_opts_init(&dopts);
	dopts.flags = PF_DOMAIN_REPLACE;
	dopts.members_max = 4;
	dopts.slot_grace_ns = 0;
	assert_int_equal(pf_domain_create(name, &dopts, &d), 0);
	assert_int_equal(pf_supervisor_create(d, NULL, &sup), 0);
	assert_int_equal(member_join_as(d, NULL, &as, &x), 0);
	for (int i = 0; i < 22; i++) {
		assert_int_equal(member_join_as(d, NULL, &as, &y), 0);
		assert_true(supervisor_declare_dead(sup, (uint32_t)pf_member_id(y),
						    (uint32_t)(pf_member_id(y) >> 32),
						    PF_DEATH_HUNG) >= 0);
		assert_int_equal(pf_member_leave(y), -ESTALE);
		assert_int_equal(pf_member_info(d, (uint32_t)pf_member_id(x), &mi), 0);
		assert_int_equal(mi.reliability_ppm, i < 19 ? PF_PPM >> (i + 1) : 1u);
	}
	pf_supervisor_destroy(sup);
	assert_int_equal(pf_member_leave(x), 0);
	assert_int_equal(pf_domain_destroy(d), 0);
}

/* A worker whose main thread ended (pthread_exit) while another thread serves. */
static char zl_name[64];
static int zl_ready[2], zl_go[2];

static void *zl_serve(void *arg)
{
	unsigned char st[64] = {0};
	struct pf_domain *d;
	struct pf_member *m;
	struct pf_vnode *h;
	uint64_t id;
	char c;

	(void)arg;
	if (pf_domain_open(zl_name, &d) != 0 || pf_member_join(d, NULL, &m) != 0 ||
	    pf_vnode_claim_id(m, 0, &h) != 0)
		_exit(10);
	for (int i = 0; i < 2; i++) /* one buffer named, one held for the next commit */
		if (pf_checkpoint_commit(h, pf_vnode_epoch(h), st, sizeof(st)) != 0)
			_exit(11);
	id = pf_member_id(m);
	if (write(zl_ready[1], &id, sizeof(id)) != (ssize_t)sizeof(id))
		_exit(12);
	while (read(zl_go[0], &c, 1) < 0) /* until the test closes its end */
		;
	_exit(0); /* the whole process */
}

static char zl_state(pid_t pid)
{
	uint64_t start;
	char st = 0;

	return identity_stat((int)pid, &start, &st) == 0 ? st : 0;
}

static uint32_t hold_state_of(struct pf_domain *d, uint32_t buf)
{
	/* Relaxed: the only other writer is stopped or gone at each look. */
	return hold_state(pf_load_relaxed(&d->ckpt_hold[buf]));
}

/* /proc shows such a worker's thread-group leader as a zombie while the process lives,
 * and its thread may still write the checkpoint buffers its member holds: neither the
 * identity check, nor a reclaim, nor a supervisor's sweep may count it gone (the buffers
 * would be given to another writer). Once its last thread has exited, all of them do. */
static void test_member_zombie_leader_lives(void **state)
{
	struct pf_member_info mi = {.size = sizeof(mi)};
	struct pf_supervisor_opts so;
	struct pf_domain_opts dopts;
	struct pf_supervisor *sup;
	struct pf_domain *d;
	uint64_t id, start;
	siginfo_t si;
	pid_t pid;
	uint32_t slot;

	(void)state;
	test_domain_name(zl_name, sizeof(zl_name), "member-zleader");
	pf_domain_opts_init(&dopts);
	dopts.flags = PF_DOMAIN_REPLACE;
	dopts.members_max = 4;
	dopts.vnodes_max = 1;
	dopts.slot_grace_ns = 0;
	assert_int_equal(pf_domain_create(zl_name, &dopts, &d), 0);
	assert_int_equal(pf_vnode_define(d, 0, NULL), 0);
	assert_int_equal(pipe(zl_ready), 0);
	assert_int_equal(pipe(zl_go), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		pthread_t t;

		(void)close(zl_go[1]);
		if (pthread_create(&t, NULL, zl_serve, NULL) != 0)
			_exit(20);
		pthread_exit(NULL); /* the main thread ends; the serving thread goes on */
	}
	(void)close(zl_go[0]);
	(void)close(zl_ready[1]);
	assert_int_equal(read(zl_ready[0], &id, sizeof(id)), sizeof(id));
	slot = (uint32_t)id;
	assert_int_equal(identity_start_time((int)pid, &start), 0);
	for (int i = 0; zl_state(pid) != 'Z'; i++) { /* the main thread's exit completes */
		assert_true(i < 10000);
		(void)usleep(1000);
	}
	assert_int_equal(identity_gone((int)pid, start), 0);
	assert_int_equal(member_reclaim(d, slot), -EBUSY);
	pf_supervisor_opts_init(&so);
	so.sweep_interval_ns = 1;
	assert_int_equal(pf_supervisor_create(d, &so, &sup), 0);
	assert_int_equal(pf_supervisor_check(sup), 0);
	assert_int_equal(pf_member_info(d, slot, &mi), 0);
	assert_int_equal(mi.state, PF_MEMBER_ACTIVE);
	assert_int_equal(hold_state_of(d, 0), HOLD_HELD);
	assert_int_equal(hold_state_of(d, 1), HOLD_HELD);
	/* Its last thread exits: a zombie with no thread left (not yet reaped) is gone. */
	(void)close(zl_go[1]);
	assert_int_equal(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT), 0);
	assert_int_equal(identity_gone((int)pid, start), 1);
	assert_int_equal(member_reclaim(d, slot), 0);
	assert_int_equal(hold_state_of(d, 0), HOLD_FREE); /* held: free */
	assert_int_equal(hold_state_of(d, 1), HOLD_PUB);  /* named: stays published */
	assert_true(pf_supervisor_check(sup) >= 1);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	pf_supervisor_destroy(sup);
	(void)close(zl_ready[0]);
	assert_int_equal(pf_domain_destroy(d), 0);
}

/* Every state has its name, as pflight and the REST API print it; nothing else has one. */
static void test_member_state_names(void **state)
{
	static const char *const want[] = {"free",     "joining", "active",
					   "draining", "retired", "dead"};

	(void)state;
	for (uint32_t s = 0; s < sizeof(want) / sizeof(want[0]); s++)
		assert_string_equal(pf_member_state_name(s), want[s]);
	assert_int_equal(PF_MEMBER_DEAD + 1, sizeof(want) / sizeof(want[0]));
	assert_null(pf_member_state_name(PF_MEMBER_DEAD + 1));
	assert_null(pf_member_state_name(UINT32_MAX));
}

#if PF_FAULT_INJECTION
enum info_change { INFO_SCRIBBLE, INFO_RETAKE };

struct info_race {
	struct pf_domain *d;
	struct pf_member *m;
	enum info_change what;
	int fired;
};

/* Runs once, between the validation of the record and pf_member_info()'s return: a
 * foreign writer's scribble, or the member gone and the slot taken by the next one. */
static void info_hook(void *arg, enum fault_point point)
{
	struct info_race *r = arg;

	(void)point;
	if (r->fired++ != 0)
		return;
	if (r->what == INFO_SCRIBBLE) {
		atomic_store(&r->d->members[0].numa_node, 4096); /* no node has that number */
		return;
	}
	assert_int_equal(pf_member_leave(r->m), 0);
	assert_int_equal(pf_member_join(r->d, NULL, &r->m), 0);
}
#endif

/* pf_member_info(): what it returns was validated, and is of the generation it names. */
static void test_member_info_one_generation(void **state)
{
#if PF_FAULT_INJECTION
	struct pf_member_info before = {.size = sizeof(before)}, mi = {.size = sizeof(mi)};
	struct pf_member_info after = {.size = sizeof(after)};
	struct pf_domain_opts dopts;
	struct info_race race = {0};
	char name[64];
	int32_t node;
	int r;

	(void)state;
	test_domain_name(name, sizeof(name), "member-info");
	pf_domain_opts_init(&dopts);
	dopts.flags = PF_DOMAIN_REPLACE;
	dopts.members_max = 1;
	dopts.slot_grace_ns = 0;
	assert_int_equal(pf_domain_create(name, &dopts, &race.d), 0);
	assert_int_equal(pf_member_join(race.d, NULL, &race.m), 0);
	assert_int_equal(pf_member_info(race.d, 0, &before), 0);
	fault_set_hook(FAULT_MEMBER_INFO_CHECKED, info_hook, &race);

	/* A scribble after the validation is not reported. */
	race.what = INFO_SCRIBBLE;
	r = pf_member_info(race.d, 0, &mi);
	assert_true(r == 0 || r == -EBADMSG);
	if (r == 0)
		assert_int_equal(mi.numa_node, before.numa_node);
	node = atomic_exchange(&race.d->members[0].numa_node, before.numa_node);
	assert_int_equal(node, 4096);

	/* The slot taken by the next member under the reader: the fields it reports are of
	 * the generation it names (the join time tells the two apart). */
	race.what = INFO_RETAKE;
	race.fired = 0;
	r = pf_member_info(race.d, 0, &mi);
	assert_true(r == 0 || r == -EAGAIN);
	assert_true(race.fired >= 1); /* it acted on the first hit */
	fault_set_hook(FAULT_MEMBER_INFO_CHECKED, NULL, NULL);
	assert_int_equal(pf_member_info(race.d, 0, &after), 0);
	assert_int_not_equal(after.generation, before.generation);
	assert_int_not_equal(after.join_time_ns, before.join_time_ns);
	if (r == 0) {
		assert_true(mi.generation == before.generation ||
			    mi.generation == after.generation);
		assert_true(mi.join_time_ns == (mi.generation == before.generation
							? before.join_time_ns
							: after.join_time_ns));
	}
	assert_int_equal(pf_member_leave(race.m), 0);
	assert_int_equal(pf_domain_destroy(race.d), 0);
#else
	(void)state; /* built without fault points: nothing to stall */
#endif
}

/* A writer of the segment forges a member record: a live slot whose pid and start time are
 * those of a process outside the domain (public in /proc), and whose heartbeat never moves.
 * The supervisor judges it hung; it must kill nobody, since nothing proves that process is
 * the member (it does not map this domain's segment): it declares the slot dead, counts
 * the bad word, and the other process lives on. */
/* Run a supervisor on domain `name` until member `id` is DEAD: 1 when it is, 0 when 2 s
 * passed. `as_nobody`: in a child of uid and gid 65534, which may not read the maps of a
 * root process. */
static int supervise_until_dead(const char *name, uint64_t id, int as_nobody)
{
	struct pf_member_info mi = {.size = sizeof(mi)};
	struct pf_supervisor *sup;
	struct pf_domain *d;
	int dead = 0, st = 0;
	pid_t pid = as_nobody ? fork() : 0;

	if (pid < 0)
		return 0;
	if (pid > 0)
		return waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
	if (as_nobody && (setgid(65534) < 0 || setuid(65534) < 0))
		_exit(2);
	if (pf_domain_open(name, &d) < 0 || pf_supervisor_create(d, NULL, &sup) < 0)
		return as_nobody ? (_exit(3), 0) : 0;
	for (int i = 0; i < 400 && !dead; i++) {
		if (pf_supervisor_check(sup) < 0)
			break;
		dead = pf_member_info(d, id, &mi) == 0 && mi.state == PF_MEMBER_DEAD;
		if (!dead)
			(void)usleep(5000);
	}
	pf_supervisor_destroy(sup);
	pf_domain_close(d);
	if (as_nobody)
		_exit(dead ? 0 : 1);
	return dead;
}

static void forged_record_case(int as_nobody)
{
	struct pf_domain_opts dopts;
	struct pf_domain *d;
	struct pf_member *m;
	uint64_t start = 0, c[PF_COUNTER_COUNT];
	pid_t victim;
	char name[64];
	int st;

	victim = fork();
	assert_true(victim >= 0);
	if (victim == 0) {
		/* Outside the domain: a new image maps nothing of ours. */
		(void)execl("/bin/sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	test_domain_name(name, sizeof(name), "member-forged");
	pf_domain_opts_init(&dopts);
	dopts.flags = PF_DOMAIN_REPLACE;
	dopts.members_max = 4;
	dopts.heartbeat_interval_ns = 10000000;
	dopts.heartbeat_misses = 2;
	dopts.gid = as_nobody ? 65534 : -1;
	assert_int_equal(pf_domain_create(name, &dopts, &d), 0);
	assert_int_equal(pf_member_join(d, NULL, &m), 0);
	/* The exec has happened once /proc shows sleep's start time settle: wait for the
	 * image to be sleep (its comm), so the victim maps nothing of ours. */
	for (int i = 0; i < 200; i++) {
		char path[64], comm[32] = {0};
		FILE *f;

		(void)snprintf(path, sizeof(path), "/proc/%d/comm", (int)victim);
		f = fopen(path, "re");
		if (f != NULL) {
			if (fgets(comm, sizeof(comm), f) == NULL)
				comm[0] = '\0';
			(void)fclose(f);
		}
		if (strncmp(comm, "sleep", 5) == 0)
			break;
		(void)usleep(5000);
	}
	assert_int_equal(identity_start_time((int)victim, &start), 0);
	/* The forgery, as any writer of the segment can do it. */
	pf_store_relaxed(&m->rec->pid, (int32_t)victim);
	pf_store_relaxed(&m->rec->start_time, start);
	assert_true(supervise_until_dead(name, (uint64_t)pf_member_id(m), as_nobody));
	/* The other process lives: not signalled, not reaped. */
	assert_int_equal(waitpid(victim, &st, WNOHANG), 0);
	assert_int_equal(kill(victim, 0), 0);
	assert_int_equal(pf_domain_counters(d, c, PF_COUNTER_COUNT), PF_COUNTER_COUNT);
	assert_true(c[PF_COUNTER_SHM_INVALID] >= 1);
	assert_int_equal(c[PF_COUNTER_HUNG], 1);
	(void)kill(victim, SIGKILL);
	assert_int_equal(waitpid(victim, &st, 0), victim);
	assert_int_equal(pf_member_leave(m), -ESTALE);
	assert_int_equal(pf_domain_destroy(d), 0);
}

static void test_member_forged_record_kills_nobody(void **state)
{
	(void)state;
	forged_record_case(0);
}

/* The same, judged by a supervisor of another uid, which may not read the named process's
 * maps: what it cannot show to be the member it does not kill (the bad word is counted,
 * where a kill refused by the kernel would not count it). */
static void test_member_forged_record_unreadable(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	forged_record_case(1);
}

/* A fresh domain named after tag, with vnodes_max VNodes, all defined (0: the default
 * table, none defined), and members_max member slots (0: the default). */
static struct pf_domain *small_domain(const char *tag, uint32_t vnodes, uint32_t members)
{
	struct pf_domain_opts o;
	struct pf_domain *d;
	char name[64];

	test_domain_name(name, sizeof(name), tag);
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	if (vnodes != 0)
		o.vnodes_max = vnodes;
	if (members != 0)
		o.members_max = members;
	assert_int_equal(pf_domain_create(name, &o, &d), 0);
	if (vnodes != 0)
		assert_int_equal(pf_vnode_define_range(d, 0, vnodes, NULL), (int)vnodes);
	return d;
}

/* A member busy taking placements is alive without a beat: each VNode it takes is a sign of
 * life, however long the pass (a million placements adopted in one go outlast the default
 * verdict of 3 x 50 ms). It stays ACTIVE across far more than heartbeat_interval x
 * heartbeat_misses of claims with no beat; stopped (no claim, no beat), it is judged hung. */
static void test_member_busy_claiming_not_hung(void **state)
{
	struct pf_member_info mi = {.size = sizeof(mi)};
	struct pf_domain_opts dopts;
	struct pf_supervisor *sup;
	struct pf_vnode *v[40];
	struct pf_domain *d;
	struct pf_member *m;
	char name[64];
	uint32_t slot;

	(void)state;
	test_domain_name(name, sizeof(name), "member-busy");
	pf_domain_opts_init(&dopts);
	dopts.flags = PF_DOMAIN_REPLACE;
	dopts.vnodes_max = 64;
	dopts.heartbeat_interval_ns = 5000000; /* 5 ms x 2: judged after 10 ms */
	dopts.heartbeat_misses = 2;
	assert_int_equal(pf_domain_create(name, &dopts, &d), 0);
	assert_int_equal(pf_vnode_define_range(d, 0, 40, NULL), 40);
	assert_int_equal(pf_member_join(d, NULL, &m), 0);
	slot = (uint32_t)pf_member_id(m);
	assert_int_equal(pf_supervisor_create(d, NULL, &sup), 0);
	assert_int_equal(pf_supervisor_check(sup), 0);
	for (uint32_t i = 0; i < 40; i++) { /* 40 x 3 ms: twelve verdicts' worth, no beat */
		assert_int_equal(pf_vnode_claim_id(m, i, &v[i]), 0);
		(void)usleep(3000);
		assert_int_equal(pf_supervisor_check(sup), 0);
		assert_int_equal(pf_member_info(d, slot, &mi), 0);
		assert_int_equal(mi.state, PF_MEMBER_ACTIVE);
	}
	(void)usleep(30000); /* now nothing moves */
	assert_int_equal(pf_supervisor_check(sup), 1);
	assert_int_equal(pf_member_info(d, slot, &mi), 0);
	assert_int_equal(mi.state, PF_MEMBER_DEAD);
	assert_int_equal(mi.death_cause, PF_DEATH_HUNG);
	for (uint32_t i = 0; i < 40; i++)
		(void)pf_vnode_release(v[i]);
	assert_int_equal(pf_member_leave(m), -ESTALE);
	pf_supervisor_destroy(sup);
	assert_int_equal(pf_domain_destroy(d), 0);
}

/* A member owning many VNodes looks at them once per spin batch and beats after each look
 * (one look then reads a line per VNode: at 500,000 of them, 32 looks outlasted the hang
 * verdict). A wait that finds nothing: one beat of the spin and one before giving up, where
 * a member of few VNodes, whose looks are cheap, beats only once. */
static void test_member_wait_many_vnodes_beats(void **state)
{
	struct pf_domain *d = small_domain("member-many", 0, 0);
	struct pf_vnode *v[300];
	struct pf_member *m;
	uint32_t ev = 0, slot, counts[] = {10, 300};
	uint64_t hb;

	(void)state;
	assert_int_equal(pf_member_join(d, NULL, &m), 0);
	slot = (uint32_t)pf_member_id(m);
	(void)pf_member_wait(m, 0, &ev); /* the membership change, if it is reported */
	for (uint32_t k = 0, held = 0; k < 2; k++) {
		/* Defined and taken at once: nothing waits to be placed. */
		for (; held < counts[k]; held++) {
			assert_int_equal(pf_vnode_define(d, held, NULL), 0);
			assert_int_equal(pf_vnode_claim_id(m, held, &v[held]), 0);
		}
		hb = pf_load_relaxed(&d->members[slot].heartbeat);
		assert_int_equal(pf_member_wait(m, 0, &ev), -ETIMEDOUT);
		assert_int_equal(pf_load_relaxed(&d->members[slot].heartbeat) - hb, k == 0 ? 1 : 2);
	}
	for (uint32_t i = 0; i < 300; i++)
		assert_int_equal(pf_vnode_release(v[i]), 0);
	assert_int_equal(pf_member_leave(m), 0);
	assert_int_equal(pf_domain_destroy(d), 0);
}

/* A sender that dies between the publish of its message and its move of the inbox's tail
 * hint leaves the hint on a slot that the owner then takes and frees a lap on. The next
 * sender must move the hint past it, not reload it for ever. */
static void test_member_send_after_stale_tail(void **state)
{
	struct pf_domain *d = small_domain("member-tail", 8, 0);
	struct pf_member *m;
	struct pf_vnode *v;
	char buf[8];
	size_t len = 0;

	(void)state;
	assert_int_equal(pf_member_join(d, NULL, &m), 0);
	assert_int_equal(pf_vnode_claim_id(m, 0, &v), 0);
	assert_int_equal(pf_send(d, 0, "one", 3), 0);
	/* The state its death leaves: published, the hint still on it. */
	pf_store_relaxed(&d->vnodes[0].inbox_tail, 0);
	assert_int_equal(pf_recv(v, buf, sizeof(buf), &len), 0);
	assert_int_equal(pf_checkpoint_commit(v, pf_vnode_epoch(v), "s", 1), 0); /* frees it */
	alarm(10); /* the old behaviour spun here for good */
	assert_int_equal(pf_send(d, 0, "two", 3), 0);
	alarm(0);
	assert_int_equal(pf_recv(v, buf, sizeof(buf), &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(buf, "two", 3);
	assert_int_equal(pf_vnode_release(v), 0);
	assert_int_equal(pf_member_leave(m), 0);
	assert_int_equal(pf_domain_destroy(d), 0);
}

/* A repair that stalled while the slot moved on to a later generation, whose census word
 * holds a count no table has (scribbled), finds it not its own to recount: the later
 * generation's word is left as it is. */
static void test_member_stale_census_untouched(void **state)
{
	struct pf_domain *d = small_domain("member-stalecensus", 8, 0);
	uint64_t later = repair_owned_word(5, UINT32_MAX);

	(void)state;
	pf_store_relaxed(&d->members[0].repair_owned, later);
	assert_int_equal(tally_repair_census(d, 0, 4, NULL), 0);
	assert_int_equal(pf_load_relaxed(&d->members[0].repair_owned), later);
	/* Its own generation's bad word is still counted again. */
	pf_store_relaxed(&d->members[0].repair_owned, repair_owned_word(4, UINT32_MAX));
	assert_int_equal(tally_repair_census(d, 0, 4, NULL), 1);
	assert_int_equal(pf_load_relaxed(&d->members[0].repair_owned), repair_owned_word(4, 0));
	assert_int_equal(pf_domain_destroy(d), 0);
}

struct gate_joiner {
	struct pf_domain *d;
	struct pf_member *m;
	int r, left;
};

static void *gate_join_main(void *arg)
{
	struct gate_joiner *j = arg;
	struct pf_member_opts o;

	pf_member_opts_init(&o);
	o.admission_timeout_ms = 20000;
	j->r = pf_member_join(j->d, &o, &j->m);
	/* Leave on the joining thread, as a member must. */
	j->left = j->r == 0 ? pf_member_leave(j->m) : -1;
	return NULL;
}

/* The gate judges the process a joiner names; what names it is the joiner's own writing.
 * pf_admission_verify() shows the claim true only when the kernel does: a thread of that
 * very process holds the slot's robust futex. A joiner's own claim is shown; the same
 * slot claiming another thread of ours (the tid), another process that maps the segment
 * (a forked child: the pid a writer would borrow for its grant or its executable), a
 * process since gone or a generation no longer waiting, is not. */
static void test_member_admission_verify(void **state)
{
	struct pf_admission_request q = {.size = sizeof(q)}, f;
	struct pf_policy_verdict v = {.size = sizeof(v)};
	struct gate_joiner j;
	struct pf_domain *d = small_domain("member-verify", 0, 4);
	struct dom_member *rec;
	pthread_t t;
	uint64_t child_start = 0;
	uint32_t cursor = 0;
	int32_t tid;
	pid_t child;

	(void)state;
	assert_int_equal(pf_admission_gate(d, getpid(), 0), 0);
	child = fork();
	assert_true(child >= 0);
	if (child == 0) {
		pause();
		_exit(0);
	}
	j.d = d;
	j.m = NULL;
	j.r = 1;
	assert_int_equal(pthread_create(&t, NULL, gate_join_main, &j), 0);
	for (int i = 0; i < 2000 && pf_admission_pending(d, &cursor, &q) != 0; i++)
		(void)usleep(1000);
	assert_int_equal(q.pid, getpid());
	assert_int_equal(pf_admission_verify(d, &q), 0);
	rec = &d->members[q.slot];
	/* Another thread of the same process: this one, which holds no slot. */
	tid = pf_load_relaxed(&rec->tid);
	pf_store_relaxed(&rec->tid, (int32_t)gettid());
	assert_int_equal(pf_admission_verify(d, &q), -EPERM);
	pf_store_relaxed(&rec->tid, tid);
	/* Another process, which maps the segment (forked after it was made). */
	assert_int_equal(identity_start_time((int)child, &child_start), 0);
	f = q;
	f.pid = child;
	f.start_time = child_start;
	assert_int_equal(pf_admission_verify(d, &f), -EPERM);
	f = q;
	f.start_time++;
	assert_int_equal(pf_admission_verify(d, &f), -ESRCH);
	f = q;
	f.generation++;
	assert_int_equal(pf_admission_verify(d, &f), -ESTALE);
	f.slot = 99;
	assert_int_equal(pf_admission_verify(d, &f), -EINVAL);
	assert_int_equal(pf_admission_verify(NULL, &q), -EINVAL);
	/* Shown: admit it. */
	v.action = PF_POLICY_CAN_REGISTER;
	v.allowed = 1;
	v.rule = PF_POLICY_NO_RULE;
	v.check = PF_POLICY_ALLOWED;
	assert_int_equal(pf_admission_decide(d, q.slot, q.generation, &v, PF_PPM, 0), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(j.r, 0);
	assert_int_equal(j.left, 0);
	(void)kill(child, SIGKILL);
	assert_int_equal(waitpid(child, NULL, 0), child);
	assert_int_equal(pf_admission_gate(d, 0, 0), 0);
	assert_int_equal(pf_domain_destroy(d), 0);
}

static uint32_t seen_repairs, seen_cause, seen_vnodes;

static void count_repair(void *arg, uint32_t slot, uint32_t gen, uint32_t cause, uint32_t vnodes)
{
	(void)arg;
	(void)slot;
	(void)gen;
	seen_repairs++;
	seen_cause = cause;
	seen_vnodes = vnodes;
}

/* A death repaired by another supervisor (a worker's embedded one) is told to a supervisor
 * with PF_SUPERVISOR_ALL_REPAIRS that had seen the member live, once, with its cause and
 * count; one without the flag hears only of its own repairs. */
static void test_member_repairs_seen_elsewhere(void **state)
{
	struct pf_supervisor_opts so;
	struct pf_supervisor *worker, *daemon_sup, *plain;
	struct pf_domain *d = small_domain("member-seen", 8, 0);
	struct pf_member *a;
	struct pf_vnode *v[2];
	uint32_t gen;

	(void)state;
	assert_int_equal(pf_member_join(d, NULL, &a), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pf_vnode_claim_id(a, (uint32_t)i, &v[i]), 0);
	gen = (uint32_t)(pf_member_id(a) >> 32);
	pf_supervisor_opts_init(&so);
	assert_int_equal(pf_supervisor_create(d, &so, &worker), 0);
	so.on_repair = count_repair;
	assert_int_equal(pf_supervisor_create(d, &so, &plain), 0);
	so.flags = PF_SUPERVISOR_ALL_REPAIRS;
	assert_int_equal(pf_supervisor_create(d, &so, &daemon_sup), 0);
	assert_int_equal(pf_supervisor_check(daemon_sup), 0); /* sees it live */
	assert_int_equal(pf_supervisor_check(plain), 0);
	assert_int_equal(
		supervisor_declare_dead(worker, (uint32_t)pf_member_id(a), gen, PF_DEATH_HUNG), 2);
	seen_repairs = 0;
	assert_int_equal(pf_supervisor_check(plain), 0);
	assert_int_equal(seen_repairs, 0);
	assert_int_equal(pf_supervisor_check(daemon_sup), 0);
	assert_int_equal(seen_repairs, 1);
	assert_int_equal(seen_cause, PF_DEATH_HUNG);
	assert_int_equal(seen_vnodes, 2);
	assert_int_equal(pf_supervisor_check(daemon_sup), 0);
	assert_int_equal(seen_repairs, 1);
	for (int i = 0; i < 2; i++)
		(void)pf_vnode_release(v[i]);
	assert_int_equal(pf_member_leave(a), -ESTALE);
	pf_supervisor_destroy(worker);
	pf_supervisor_destroy(plain);
	pf_supervisor_destroy(daemon_sup);
	assert_int_equal(pf_domain_destroy(d), 0);
}

static char quarantined_field[32];
static uint32_t quarantined_slot = UINT32_MAX;

static void on_quarantine(void *arg, uint32_t slot, uint32_t gen, int32_t pid, const char *field)
{
	(void)arg;
	(void)gen;
	assert_int_equal(pid, getpid()); /* the pid pinned at first sight */
	quarantined_slot = slot;
	(void)snprintf(quarantined_field, sizeof(quarantined_field), "%s", field);
}

/* A member that rewrites its own record (it grants itself trust) is quarantined by a
 * supervisor that quarantines: declared dead without a kill (its process is ours, and
 * lives), cause quarantined, its VNodes back to pending with a new epoch, the field named.
 * A supervisor that does not quarantine leaves it; a capability count scribbled lower, which
 * would fail every member's check, quarantines nobody; a state word of generation 0 that
 * says DEAD is repaired as nobody's (no assertion, counted as a bad word). */
static void test_member_quarantine_own_record(void **state)
{
	struct pf_supervisor_opts so;
	struct pf_supervisor *plain, *sup;
	struct pf_member_info mi = {.size = sizeof(mi)};
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	struct pf_domain *d = small_domain("member-quarantine", 8, 4);
	struct pf_member *a, *b;
	struct pf_vnode *v;
	uint64_t c[PF_COUNTER_COUNT], w;
	uint32_t slot, caps;

	(void)state;
	assert_int_equal(pf_member_join(d, NULL, &a), 0);
	assert_int_equal(pf_member_join(d, NULL, &b), 0);
	assert_int_equal(pf_vnode_claim_id(a, 3, &v), 0);
	slot = (uint32_t)pf_member_id(a);
	pf_supervisor_opts_init(&so);
	assert_int_equal(pf_supervisor_create(d, &so, &plain), 0);
	so.flags = PF_SUPERVISOR_QUARANTINE;
	so.on_quarantine = on_quarantine;
	assert_int_equal(pf_supervisor_create(d, &so, &sup), 0);
	assert_int_equal(pf_supervisor_check(sup), 0); /* first sight: pinned */
	/* The capability count scribbled down to 0: the members' capability bits would all be
	 * unknown. Nobody is quarantined for it. */
	caps = pf_load_relaxed(&d->ctl->caps_count);
	pf_store_relaxed(&d->ctl->caps_count, 0);
	assert_int_equal(pf_supervisor_check(sup), 0);
	pf_store_relaxed(&d->ctl->caps_count, caps);
	/* It grants itself trust: a value in range, not the one it was admitted with. */
	pf_store_relaxed(&a->rec->trust_ppm, pf_load_relaxed(&a->rec->trust_ppm) - 1);
	assert_int_equal(pf_supervisor_check(plain), 0);
	assert_int_equal(pf_member_info(d, slot, &mi), 0);
	assert_int_equal(mi.state, PF_MEMBER_ACTIVE);
	assert_int_equal(pf_supervisor_check(sup), 1);
	assert_int_equal(quarantined_slot, slot);
	assert_string_equal(quarantined_field, "trust_ppm");
	assert_int_equal(pf_member_info(d, slot, &mi), 0);
	assert_int_equal(mi.state, PF_MEMBER_DEAD);
	assert_int_equal(mi.death_cause, PF_DEATH_QUARANTINED);
	assert_string_equal(pf_death_cause_name(mi.death_cause), "quarantined");
	assert_int_equal(pf_vnode_info(d, 3, &vi), 0);
	assert_true(vi.state == PF_VNODE_PENDING || vi.owner_slot != slot);
	assert_true(vi.epoch > pf_vnode_epoch(v));
	assert_int_equal(pf_checkpoint_commit(v, pf_vnode_epoch(v), "late", 4), -ESTALE);
	(void)pf_vnode_release(v);
	assert_int_equal(pf_member_leave(a), -ESTALE);
	/* The other member is untouched. */
	assert_int_equal(pf_member_info(d, (uint32_t)pf_member_id(b), &mi), 0);
	assert_int_equal(mi.state, PF_MEMBER_ACTIVE);
	/* A DEAD word of generation 0 is nobody's to repair. */
	assert_int_equal(pf_domain_counters(d, c, PF_COUNTER_COUNT), PF_COUNTER_COUNT);
	w = pf_load_relaxed(&d->members[3].state);
	pf_store_relaxed(&d->members[3].state, member_word(0, PF_MEMBER_DEAD, 1, 0));
	assert_int_equal(pf_supervisor_check(sup), 0);
	assert_int_equal(pf_supervisor_check(plain), 0);
	pf_store_relaxed(&d->members[3].state, w);
	{
		uint64_t c2[PF_COUNTER_COUNT];

		assert_int_equal(pf_domain_counters(d, c2, PF_COUNTER_COUNT), PF_COUNTER_COUNT);
		assert_true(c2[PF_COUNTER_SHM_INVALID] >= c[PF_COUNTER_SHM_INVALID] + 2);
	}
	pf_supervisor_destroy(plain);
	pf_supervisor_destroy(sup);
	assert_int_equal(pf_member_leave(b), 0);
	assert_int_equal(pf_domain_destroy(d), 0);
}

static uint32_t forged_reported = UINT32_MAX;

static void forged_on_repair(void *arg, uint32_t slot, uint32_t gen, uint32_t cause,
			     uint32_t vnodes)
{
	(void)arg;
	(void)slot;
	(void)gen;
	(void)cause;
	forged_reported = vnodes;
}

/* A writer of the segment forges the repair census of a member before it dies (the count a
 * daemon logs as "N VNodes back to pending"): the repair counts again, so what it reports
 * and counts is what it returned, never the forged number, and the bad word is counted. */
static void test_member_forged_census_not_reported(void **state)
{
	struct pf_supervisor_opts so;
	struct pf_supervisor *sup;
	struct pf_domain *d = small_domain("member-census", 8, 0);
	struct pf_member *a;
	struct pf_vnode *v[3];
	uint64_t c[PF_COUNTER_COUNT];
	uint32_t gen;

	(void)state;
	assert_int_equal(pf_member_join(d, NULL, &a), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(pf_vnode_claim_id(a, (uint32_t)i, &v[i]), 0);
	gen = (uint32_t)(pf_member_id(a) >> 32);
	pf_store_relaxed(&a->rec->repair_owned, ((uint64_t)gen << 32) | 1857807739u);
	pf_supervisor_opts_init(&so);
	so.on_repair = forged_on_repair;
	assert_int_equal(pf_supervisor_create(d, &so, &sup), 0);
	assert_int_equal(
		supervisor_declare_dead(sup, (uint32_t)pf_member_id(a), gen, PF_DEATH_HUNG), 3);
	assert_int_equal(forged_reported, 3);
	assert_int_equal(pf_domain_counters(d, c, PF_COUNTER_COUNT), PF_COUNTER_COUNT);
	assert_int_equal(c[PF_COUNTER_VNODES_REPAIRED], 3);
	assert_true(c[PF_COUNTER_SHM_INVALID] >= 1);
	pf_supervisor_destroy(sup);
	assert_int_equal(pf_member_leave(a), -ESTALE);
	assert_int_equal(pf_domain_destroy(d), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_member_state_names),
		cmocka_unit_test(test_member_join_as),
		cmocka_unit_test(test_member_declare_dead_repairs),
		cmocka_unit_test(test_member_leave_many),
		cmocka_unit_test(test_member_reliability_floor),
		cmocka_unit_test(test_member_zombie_leader_lives),
		cmocka_unit_test(test_member_info_one_generation),
		cmocka_unit_test(test_member_forged_record_kills_nobody),
		cmocka_unit_test(test_member_forged_record_unreadable),
		cmocka_unit_test(test_member_forged_census_not_reported),
		cmocka_unit_test(test_member_quarantine_own_record),
		cmocka_unit_test(test_member_repairs_seen_elsewhere),
		cmocka_unit_test(test_member_admission_verify),
		cmocka_unit_test(test_member_busy_claiming_not_hung),
		cmocka_unit_test(test_member_wait_many_vnodes_beats),
		cmocka_unit_test(test_member_send_after_stale_tail),
		cmocka_unit_test(test_member_stale_census_untouched),
	};

	return cmocka_run_group_tests_name("core_member", tests, NULL, NULL);
}

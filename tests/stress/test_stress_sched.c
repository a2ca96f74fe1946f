/* SPDX-License-Identifier: MIT */
/*
 * tests/stress/test_stress_sched.c
 * Goal: placement stays correct while members join, leave and die during it: no VNode
 * is ever held twice (every epoch a member receives for a VNode is new), none is lost
 * (at the end each is owned by a live member or PENDING and placeable), and TSan sees no
 * race. Method: threads in one process: a scheduler placing from the pending queue, a
 * supervisor repairing, and member threads that join, adopt what they are given, commit,
 * and then either leave or die (the joining thread exits without leaving: the kernel
 * releases its robust futex, as for a killed process). Once the supervisor has repaired
 * such a death, its worker frees the dead member's handle (pf_member_leave() returns
 * -ESTALE), which gives back the checkpoint buffers it held, as the process's exit
 * would: a dead member's buffers stay its own while its process lives, and its slot
 * with them. Runs ~2 s (PF_STRESS_SECONDS).
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pflight/pflight.h"
#include "shm/pf_atomic.h"
#include "tests/common/test_util.h"

#define VNODES 256u
#define WORKERS 3
#define EPOCHS_MAX 4096u

static struct pf_domain *dom;
static _Atomic int stop, stop_supervisor;
static _Atomic uint64_t failures, adopted, deaths, moves, handoffs;
/* Every (VNode, epoch) adopted, to prove no epoch is handed out twice. */
static _Atomic uint8_t seen[VNODES][EPOCHS_MAX];

static uint64_t mono_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void fail(const char *what, int r)
{
	fprintf(stderr, "stress_sched: %s: %d\n", what, r);
	pf_fetch_add_relaxed(&failures, 1);
}

static void *scheduler_main(void *arg)
{
	struct pf_rebalance_opts ro;
	struct pf_sched *s;

	(void)arg;
	if (pf_sched_create(dom, NULL, &s) < 0) {
		fail("sched create", -1);
		return NULL;
	}
	pf_rebalance_opts_init(&ro);
	ro.cooldown_ns = 0;
	ro.moves_max = 16;
	ro.gain_min_ppm = 0; /* move on any gain: as many handoffs as possible */
	while (!pf_load_acquire(&stop)) {
		int placed = pf_sched_run(s, 64), r;

		/* Rebalance too, so handoffs race with joins, deaths and placements. */
		r = pf_sched_rebalance(s, &ro, NULL);
		if (r > 0)
			pf_fetch_add_relaxed(&moves, (uint64_t)r);
		else if (r < 0 && r != -EAGAIN)
			fail("rebalance", r);
		if (placed == 0)
			usleep(100);
	}
	pf_sched_destroy(s);
	return NULL;
}

static void *supervisor_main(void *arg)
{
	struct pf_supervisor_opts so;
	struct pf_supervisor *sup;

	(void)arg;
	pf_supervisor_opts_init(&so);
	so.sweep_interval_ns = 5000000;
	if (pf_supervisor_create(dom, &so, &sup) < 0) {
		fail("supervisor create", -1);
		return NULL;
	}
	while (!pf_load_acquire(&stop_supervisor)) {
		(void)pf_supervisor_check(sup);
		usleep(200);
	}
	pf_supervisor_destroy(sup);
	return NULL;
}

/* Hand over every held VNode the rebalancer asked to move; returns how many remain. */
static uint32_t serve_moves(struct pf_vnode **held, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		int r = pf_vnode_move_target(held[i], NULL);

		if (r != 1)
			continue;
		r = pf_checkpoint_commit(held[i], pf_vnode_epoch(held[i]), "m", 1);
		if (r < 0 && r != -ESTALE)
			fail("commit before handoff", r);
		r = pf_vnode_handoff(held[i]);
		if (r == -ENOENT)
			continue; /* the request went stale: still ours */
		if (r < 0 && r != -ESTALE)
			fail("handoff", r);
		if (r >= 0)
			pf_fetch_add_relaxed(&handoffs, 1);
		held[i--] = held[--n]; /* the handle is gone in every other case */
	}
	return n;
}

/* One membership: join, adopt for a while, then leave (or die if `die`). */
static void *life_main(void *arg)
{
	int die = (int)(uintptr_t)arg;
	struct pf_vnode *held[VNODES];
	struct pf_member_opts mo;
	struct pf_member *m;
	struct pf_vnode *v;
	int r, rounds = 200;
	uint32_t nheld = 0;

	pf_member_opts_init(&mo);
	mo.vnode_capacity = 16; /* small, so loads differ and the rebalancer moves VNodes */
	while ((r = pf_member_join(dom, &mo, &m)) == -EUSERS) {
		if (pf_load_acquire(&stop))
			return NULL;
		usleep(500);
	}
	if (r < 0) {
		fail("join", r);
		return NULL;
	}
	while (rounds-- > 0 && !pf_load_acquire(&stop)) {
		pf_member_heartbeat(m);
		nheld = serve_moves(held, nheld);
		r = pf_vnode_adopt(m, &v);
		if (r == -EAGAIN) {
			usleep(50);
			continue;
		}
		if (r == -ESTALE)
			break;
		if (r < 0) {
			fail("adopt", r);
			break;
		}
		if (pf_vnode_epoch(v) < EPOCHS_MAX &&
		    pf_fetch_add_relaxed(&seen[pf_vnode_id(v)][pf_vnode_epoch(v)], 1) != 0)
			fail("epoch handed out twice", (int)pf_vnode_id(v));
		pf_fetch_add_relaxed(&adopted, 1);
		r = pf_checkpoint_commit(v, pf_vnode_epoch(v), "s", 1);
		if (r < 0 && r != -ESTALE)
			fail("commit", r);
		if (nheld < VNODES)
			held[nheld++] = v;
	}
	if (die) {
		pf_fetch_add_relaxed(&deaths, 1);
		return m; /* exit without leaving: the kernel releases the robust futex */
	}
	r = pf_member_leave(m);
	if (r < 0 && r != -ESTALE)
		fail("leave", r);
	return NULL;
}

/* Free the handle of a member whose thread died without leaving. Leave on it before the
 * supervisor has declared it dead would turn its death into a graceful leave: wait until
 * it is DEAD (the supervisor runs until every worker is done), then leave must refuse. */
static void free_dead(struct pf_member *dead)
{
	uint64_t id = pf_member_id(dead), deadline = mono_ns() + UINT64_C(30000000000);
	uint32_t state;
	int r;

	while ((state = test_member_state(dom, id)) != PF_MEMBER_DEAD && mono_ns() < deadline)
		usleep(500);
	if (state != PF_MEMBER_DEAD)
		fail("dead member not declared dead within 30 s, state", (int)state);
	r = pf_member_leave(dead);
	if (r != -ESTALE)
		fail("leave of a dead member is not -ESTALE", r);
}

static void *worker_main(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg + 1;

	while (!pf_load_acquire(&stop)) {
		pthread_t t;
		void *ret = NULL;
		int die = rand_r(&seed) % 3 == 0;

		if (pthread_create(&t, NULL, life_main, (void *)(uintptr_t)die) != 0)
			break;
		(void)pthread_join(t, &ret);
		if (ret == NULL)
			continue;
		/* The dead member's handle, kept until the supervisor has declared it dead:
		 * leave then reports -ESTALE and frees it with its VNode handles and buffers. */
		free_dead(ret);
	}
	return NULL;
}

static int check_final(void)
{
	struct pf_supervisor *sup;
	struct pf_member *m;
	struct pf_sched *s;
	struct pf_vnode *v;
	uint32_t got = 0;
	int r;

	/* Repair everything still dead, then place everything on one fresh member. */
	if (pf_supervisor_create(dom, NULL, &sup) < 0)
		return -1;
	(void)pf_supervisor_check(sup);
	while ((r = pf_member_join(dom, NULL, &m)) == -EUSERS) {
		(void)pf_supervisor_check(sup);
		usleep(1000);
	}
	if (r < 0 || pf_sched_create(dom, NULL, &s) < 0)
		return -1;
	/* Anything still held belongs to members that left: they released it. */
	for (int round = 0; round < 100 && got < VNODES; round++) {
		(void)pf_sched_run(s, VNODES);
		while (pf_vnode_adopt(m, &v) == 0)
			got++;
		(void)pf_supervisor_check(sup);
		usleep(2000);
	}
	pf_sched_destroy(s);
	(void)pf_member_leave(m);
	pf_supervisor_destroy(sup);
	if (got != VNODES)
		fprintf(stderr, "stress_sched: %u of %u VNodes placeable at the end\n", got,
			VNODES);
	return got == VNODES ? 0 : -1;
}

int main(void)
{
	pthread_t sched_t, sup_t, workers[WORKERS];
	struct pf_domain_opts o;
	const char *env = getenv("PF_STRESS_SECONDS");
	uint64_t seconds = env != NULL ? strtoull(env, NULL, 10) : 2, end;
	char name[64];
	int r;

	test_domain_name(name, sizeof(name), "stresssched");
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = 8;
	o.vnodes_max = VNODES;
	o.inbox_slots = 2;
	o.slot_grace_ns = 1000000;
	o.assign_slots = 512;
	/* Under TSan on 2 cores a thread can wait long for a CPU: no false hangs. */
	o.heartbeat_interval_ns = 1000000000;
	if (pf_domain_create(name, &o, &dom) < 0 || pf_vnode_define_range(dom, 0, VNODES, NULL) < 0)
		return 1;
	(void)pthread_create(&sched_t, NULL, scheduler_main, NULL);
	(void)pthread_create(&sup_t, NULL, supervisor_main, NULL);
	for (uintptr_t i = 0; i < WORKERS; i++)
		(void)pthread_create(&workers[i], NULL, worker_main, (void *)i);
	end = mono_ns() + (seconds == 0 ? 1 : seconds) * 1000000000u;
	while (mono_ns() < end)
		usleep(10000);
	pf_store_release(&stop, 1);
	for (int i = 0; i < WORKERS; i++)
		(void)pthread_join(workers[i], NULL);
	pf_store_release(&stop_supervisor, 1);
	(void)pthread_join(sched_t, NULL);
	(void)pthread_join(sup_t, NULL);
	r = check_final();
	printf("stress_sched: %llu adoptions, %llu deaths, %llu moves requested, %llu handed "
	       "off: %s\n",
	       (unsigned long long)pf_load_relaxed(&adopted),
	       (unsigned long long)pf_load_relaxed(&deaths),
	       (unsigned long long)pf_load_relaxed(&moves),
	       (unsigned long long)pf_load_relaxed(&handoffs),
	       r == 0 && pf_load_relaxed(&failures) == 0 ? "consistent" : "WRONG");
	(void)pf_domain_destroy(dom);
	return r == 0 && pf_load_relaxed(&failures) == 0 ? 0 : 1;
}

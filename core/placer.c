/* SPDX-License-Identifier: MIT */
/*
 * core/placer.c: who consumes the pending queue (one consumer: the placer).
 *
 * A VNode reaches an owner one way: a placer's decision (the place transition on the
 * member's behalf, core/ownership.c), which pushes its id to the member's assignment ring
 * and rings the member's bell (core/wait.c); the member takes it with pf_vnode_claim().
 * (pf_vnode_claim_id() stays for a caller that decided itself: a tool, a test.)
 *
 * Who places:
 *   - a registered placer: the process that called pf_placer_claim(), pflightd's
 *     scheduler, with its policies; its pid and start time in the control block;
 *   - otherwise (embedded mode, or that process is gone) the members themselves: a member
 *     inside pf_vnode_claim() or its wait that finds the queue not empty takes the
 *     placement lease (one CAS), runs one bounded round of its process's scheduler over
 *     the queue (pf_sched_run(): the domain's strategy, every member a candidate) and
 *     gives the lease back. So a domain without a daemon needs no special member: whoever
 *     waits for work places it, and nobody places while all are busy elsewhere (a worker
 *     that calls into the library only rarely delays placement by as much).
 *
 * Neither the registration nor the lease is what keeps placement correct: every decision
 * is a CAS on the ownership word, so two placers at once (a registered one and a member
 * that judged it gone, a lease holder that stalled past its lease) only race, and one wins
 * each VNode. The lease keeps the members from scanning the queue at once, and the
 * registration keeps them away while the daemon, which applies the domain's policies,
 * runs: a lease older than LEASE_MS (its holder stalled mid-round) is taken over, and so
 * is a younger one whose holder no longer holds its slot (it died, left or was declared
 * dead mid-round: the VNodes its death returns are not kept waiting for the term), and a
 * registered placer's liveness is checked at most every LIVE_CHECK_NS per process.
 *
 * A registered placer is alive while its process is (its pid and start time) and it
 * runs: each pf_sched_run() stamps placer_beat_ms, and a registration whose beat is older
 * than the domain's heartbeat timeout (heartbeat_misses intervals, LEASE_MS at least) is
 * a stalled placer's (SIGSTOPped, hung, stuck in another call), which the members place
 * around. A release rings every waiting member's bell, so that those parked while the
 * placer was registered (not watching the pending version) place at once.
 *
 *   field           written by                              read by
 *   placer_pid      pf_placer_claim() (R40), its release     members (A40)
 *   placer_start    the same, before R40                     members, after A40
 *   placer_beat_ms  the same, before R40; pf_sched_run()     members
 *   place_lease     members (CAS)                            members
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/member_impl.h"
#include "core/sched_impl.h"
#include "shm/pf_assert.h"

#define ROUND_BUDGET 256u                 /* VNodes one lease places at most */
#define LEASE_MS 100u                     /* a lease older than this may be taken over */
#define LIVE_CHECK_NS UINT64_C(100000000) /* look at the registered placer's process */

static uint32_t now_ms32(void)
{
	return (uint32_t)(now_ns() / 1000000u);
}

/* How long a registered placer may go without a pass before the members place around it:
 * the domain's heartbeat timeout, and never less than a lease. */
static uint32_t beat_limit_ms(const struct pf_domain *d)
{
	uint64_t ms = d->lim.heartbeat_interval_ns / 1000000u * d->lim.heartbeat_misses;

	return ms < LEASE_MS ? LEASE_MS : ms > UINT32_MAX / 2 ? UINT32_MAX / 2 : (uint32_t)ms;
}

PF_API int pf_placer_claim(struct pf_sched *s)
{
	uint64_t start;
	int r;

	if (s == NULL)
		return -EINVAL;
	r = identity_start_time(getpid(), &start);
	if (r < 0)
		return r;
	/* Relaxed: published by [R40] below. */
	pf_store_relaxed(&s->d->ctl->placer_start, start);
	/* Relaxed: published by [R40] below; a beat, compared with a clock. */
	pf_store_relaxed(&s->d->ctl->placer_beat_ms, now_ms32());
	/* [R40] pairs with [A40] in placer_registered(): the start time comes first. */
	pf_store_release(&s->d->ctl->placer_pid, (uint32_t)getpid());
	return 0;
}

PF_API void pf_placer_release(struct pf_sched *s)
{
	uint32_t me;

	if (s == NULL)
		return;
	me = (uint32_t)getpid();
	/* Relaxed: only the registered process clears its own registration; ring() fences
	 * before it loads each waiting count ([F41]). */
	if (!pf_cas_relaxed(&s->d->ctl->placer_pid, &me, 0))
		return;
	domain_publish_pending(s->d); /* members waiting for work place it from now on */
	/* Those parked while we were registered watch neither the pending version nor
	 * pending_waiters: ring each, and each places at once (park() and the arm look at
	 * the registration again once counted in waiting, so none is missed). */
	for (uint32_t slot = 0; slot < s->d->lim.members_max; slot++)
		member_wake(s->d, slot);
}

void placer_beat(struct pf_domain *d)
{
	/* Relaxed: a registration, compared with our pid; a placer that registers after this
	 * load stamps its beat itself. */
	if (pf_load_relaxed(&d->ctl->placer_pid) == (uint32_t)d->self_pid)
		/* Relaxed: a beat, compared with a clock. */
		pf_store_relaxed(&d->ctl->placer_beat_ms, now_ms32());
}

/* 1 while a live process is registered as the placer and runs (its beat younger than
 * beat_limit_ms()); its process is looked at every LIVE_CHECK_NS. */
static int placer_registered(struct pf_member *m)
{
	struct dom_control *ctl = m->d->ctl;
	/* [A40] pairs with [R40] in pf_placer_claim(). */
	uint32_t pid = pf_load_acquire(&ctl->placer_pid);
	uint64_t now;

	if (pid == 0)
		return 0;
	if (pid > INT_MAX) {
		counter_add(m->d, PF_COUNTER_SHM_INVALID, 1); /* no pid: corrupt */
		return 0;
	}
	if (pid == (uint32_t)m->d->self_pid)
		return 1; /* we are it (pflightd's own members, if any) */
	now = now_ns();
	/* Relaxed: ordered by [A40] above; a beat, compared with our clock. */
	if ((int32_t)((uint32_t)(now / 1000000u) - pf_load_relaxed(&ctl->placer_beat_ms)) >
	    (int32_t)beat_limit_ms(m->d))
		return 0; /* registered, but stalled: place around it */
	if (pid == m->placer_seen_pid && now - m->placer_checked_ns < LIVE_CHECK_NS)
		return m->placer_alive;
	m->placer_seen_pid = pid;
	m->placer_checked_ns = now;
	/* Relaxed: ordered by [A40] above. */
	m->placer_alive = !identity_gone((int)pid, pf_load_relaxed(&ctl->placer_start));
	return m->placer_alive;
}

static uint64_t lease_word(const struct pf_member *m, uint64_t now_ms)
{
	return (now_ms << 32) | ((uint64_t)(m->gen & 0xffffu) << 16) | (m->slot + 1);
}

/* 1 while the member a lease word names (slot + 1, low 16 bits of its generation) still
 * holds its slot, ACTIVE or DRAINING in that generation: its round may be under way. A
 * member that died, left or lost its slot mid-round holds nothing, and a word naming no
 * slot of the table is corrupt. */
static int lease_holder_live(struct pf_domain *d, uint64_t lease)
{
	uint32_t slot1 = (uint32_t)(lease & 0xffffu), gen = (uint32_t)(lease >> 16) & 0xffffu;
	uint32_t st;
	uint64_t w;

	if (slot1 == 0 || slot1 > d->lim.members_max) {
		counter_add(d, PF_COUNTER_SHM_INVALID, 1);
		return 0;
	}
	/* Relaxed: a hint; the CAS on the lease decides who places, and a holder that dies
	 * after this load keeps the others waiting one term at most, as before. */
	w = pf_load_relaxed(&d->members[slot1 - 1].state);
	st = member_word_state(w);
	return (st == PF_MEMBER_ACTIVE || st == PF_MEMBER_DRAINING) &&
	       (member_word_gen(w) & 0xffffu) == gen;
}

int placer_round(struct pf_member *m)
{
	struct dom_control *ctl = m->d->ctl;
	uint64_t now_ms, lease, mine;
	int placed;

	/* Relaxed: a version compared with the one of our last fruitless round: nothing
	 * became PENDING since, so another round would place nothing either. */
	uint32_t version = pf_load_relaxed(&ctl->pending_version);

	if (ring_mpmc_count(&m->d->pending) == 0 || version == m->placer_idle_version ||
	    placer_registered(m))
		return 0;
	now_ms = now_ns() / 1000000u;
	/* Relaxed: the CAS below decides who places; nothing is published through it. */
	lease = pf_load_relaxed(&ctl->place_lease);
	if (lease != 0 && (uint32_t)now_ms - (uint32_t)(lease >> 32) < LEASE_MS &&
	    lease_holder_live(m->d, lease))
		return 0; /* another member is placing */
	mine = lease_word(m, now_ms);
	/* Relaxed: as above. */
	if (!pf_cas_relaxed(&ctl->place_lease, &lease, mine))
		return 0;
	if (m->placer == NULL && pf_sched_create(m->d, NULL, &m->placer) < 0)
		m->placer = NULL;
	placed = m->placer != NULL ? pf_sched_run(m->placer, ROUND_BUDGET) : 0;
	/* Relaxed: as above; a lease taken over meanwhile is left to its new holder. */
	(void)pf_cas_relaxed(&ctl->place_lease, &mine, 0);
	if (placed <= 0)
		m->placer_idle_version = version; /* nothing placeable: wait for a change */
	return placed > 0 ? placed : 0;
}

int placer_members_place(struct pf_member *m)
{
	return !placer_registered(m);
}

void placer_fini(struct pf_member *m)
{
	pf_sched_destroy(m->placer);
	m->placer = NULL;
}

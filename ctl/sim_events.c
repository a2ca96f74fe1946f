/* SPDX-License-Identifier: MIT */
/*
 * ctl/sim_events.c: what each simulated event does to the private domain, through the
 * library's own paths (see pflight/sim.h and the top of ctl/sim.c).
 *
 * The simulator plays every member: it adopts what the scheduler placed on a live member
 * (pf_vnode_adopt), hands VNodes over on move requests (pf_vnode_handoff) and keeps, per
 * VNode, the handle of its live owner. That table is the simulation's truth about service:
 * a VNode is available exactly while a live member holds its handle. A crash takes the
 * member's handles out of the table at once (its VNodes stay owned in the registry, as
 * they would, until the supervisor's repair after the heartbeat timeout); a VNode placed
 * on a member that has crashed but is not yet declared dead is not served either.
 *
 * Counting (the metrics' cumulative counts): a placement is a VNode placed by
 * pf_sched_run(); an ownership change is an owned VNode that lost its owner (repaired,
 * handed over, given back, released at a drain deadline); a migration is a handover, and
 * carries state_bytes; a membership event is a join, a crash, or a drain that finished.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/sim_impl.h"
#include "shm/pf_assert.h"

#define PLACE_PASSES_MAX 64u /* place, adopt, place again: each pass fills the rings */

static void live_add(struct sim *s, uint32_t slot)
{
	PF_ASSERT(s->nlive < s->members_max);
	s->sm[slot].live_pos = s->nlive;
	s->live[s->nlive++] = slot;
}

static void live_remove(struct sim *s, uint32_t slot)
{
	uint32_t pos = s->sm[slot].live_pos, last = s->live[--s->nlive];

	PF_ASSERT(s->live[pos] == slot);
	s->live[pos] = last;
	s->sm[last].live_pos = pos;
}

/* Whether the strategy's scores read the CPU load a member reports. */
static int scores_cpu(const struct sim *s)
{
	return (sched_strategy_reads(s->o.strategy) & SCHED_READS_CPU) != 0;
}

/* Whether they read a member's reliability (its kind's failure history). */
static int scores_reliability(const struct sim *s)
{
	return (sched_strategy_reads(s->o.strategy) & SCHED_READS_RELIABILITY) != 0;
}

/* A member's CPU load: kept for the metrics, and reported to the registry where the
 * strategy scores it (elsewhere a report would only make the scheduler rebuild its model
 * for nothing: a consistent-hash refresh sorts every ring point). */
static int report_load(struct sim *s, struct sim_member *m, double cpu)
{
	m->cpu = fmin(1.0, fmax(0.0, cpu));
	if (!scores_cpu(s))
		return 0;
	s->loads_dirty = 1;
	return pf_member_report_load(m->m, (uint32_t)lround(m->cpu * PF_PPM), 0);
}

/* Each member's capacity: the mean times a factor log-uniform over capacity_spread. */
static uint32_t capacity_draw(struct sim *s)
{
	double f = pow(s->o.capacity_spread, sim_rng_unit(&s->rng[RNG_JOIN]) - 0.5);

	return (uint32_t)PF_MAX_OF(lround(s->capacity * f), 1L);
}

int sim_join(struct sim *s)
{
	uint32_t kind = sim_rng_below(&s->rng[RNG_JOIN], s->o.kinds), slot;
	struct member_as as = {.identity_key = s->kind_key[kind], .slot_start = 0};
	struct pf_member_opts mo;
	struct sim_member *sm;
	struct pf_member *m;
	int r;

	pf_member_opts_init(&mo);
	mo.numa_node = 0; /* not the CPU this thread happens to run on */
	mo.vnode_capacity = capacity_draw(s);
	r = member_join_as(s->d, &mo, &as, &m);
	if (r == -EUSERS) {
		s->joins_refused++; /* every slot in use: the domain is full */
		return 0;
	}
	if (r < 0)
		return r;
	slot = (uint32_t)pf_member_id(m);
	PF_ASSERT(slot < s->members_max && s->sm[slot].state == SM_FREE);
	sm = &s->sm[slot];
	memset(sm, 0, sizeof(*sm));
	sm->m = m;
	sm->state = SM_LIVE;
	sm->kind = kind;
	sm->gen = (uint32_t)(pf_member_id(m) >> 32);
	sm->capacity = mo.vnode_capacity;
	sm->base_load = s->o.load_max * sim_rng_unit(&s->rng[RNG_JOIN]);
	live_add(s, slot);
	s->joins++;
	s->membership_events++;
	s->unsettled = 1;
	for (uint32_t i = 0; i < s->nlive; i++)
		s->sm[s->live[i]].drain_wait = 0; /* a new target for blocked drains */
	r = report_load(s, sm, sm->base_load);
	return r < 0 ? r : sim_tick_soon(s);
}

/* The VNodes a member serves, out of the service table, into a recovery record. */
static int unserve(struct sim *s, uint32_t slot, int record)
{
	struct pf_member *m = s->sm[slot].m;
	struct sim_recovery *rec = NULL;
	struct pf_vnode *h;

	if (record && m->owned_count > 0) {
		if (s->nrec == s->rec_cap) {
			uint32_t cap = s->rec_cap ? 2 * s->rec_cap : 16;
			struct sim_recovery *a = realloc(s->rec, cap * sizeof(*a));

			if (a == NULL)
				return -ENOMEM;
			s->rec = a;
			s->rec_cap = cap;
		}
		rec = &s->rec[s->nrec];
		rec->ids = malloc(m->owned_count * sizeof(*rec->ids));
		if (rec->ids == NULL)
			return -ENOMEM;
		rec->crash_ns = s->now;
		rec->n = 0;
		s->nrec++;
	}
	for (h = m->owned.next; h != &m->owned; h = h->next) {
		s->handle[h->id] = NULL;
		if (rec != NULL)
			rec->ids[rec->n++] = h->id;
	}
	return 0;
}

/* A live member, chosen with its kind's failure propensity as weight. */
static uint32_t victim(struct sim *s)
{
	double total = 0, u;

	for (uint32_t i = 0; i < s->nlive; i++)
		total += s->kind_weight[s->sm[s->live[i]].kind];
	u = sim_rng_unit(&s->rng[RNG_FAIL]) * total;
	for (uint32_t i = 0; i < s->nlive; i++) {
		u -= s->kind_weight[s->sm[s->live[i]].kind];
		if (u <= 0)
			return s->live[i];
	}
	return s->live[s->nlive - 1];
}

int sim_fail(struct sim *s)
{
	struct sim_member *sm;
	uint32_t slot;
	int r;

	if (s->nlive == 0)
		return 0; /* nobody left to crash */
	slot = victim(s);
	sm = &s->sm[slot];
	r = unserve(s, slot, 1);
	if (r < 0)
		return r;
	if (sm->state == SM_DRAINING)
		s->ndraining--; /* its drain dies with it; repair returns what it held */
	sm->state = SM_CRASHED;
	live_remove(s, slot);
	s->ncrashed++;
	s->failures++;
	s->membership_events++;
	return sim_push(s, s->now + s->o.heartbeat_timeout_ns, EV_DETECT, slot);
}

int sim_detect(struct sim *s, uint32_t slot)
{
	struct sim_member *sm = &s->sm[slot];
	int r;

	PF_ASSERT(sm->state == SM_CRASHED);
	r = supervisor_declare_dead(s->sup, slot, sm->gen, PF_DEATH_HUNG);
	if (r < 0)
		return r;
	s->repairs++;
	s->changes += (uint64_t)r;
	s->unsettled |= scores_reliability(s); /* its kind's reliability fell */
	/* Unlinks the robust futex from this thread's list and frees the handles (each
	 * refused as stale: the repair took them). */
	(void)pf_member_leave(sm->m);
	memset(sm, 0, sizeof(*sm));
	s->ncrashed--;
	return sim_tick_soon(s);
}

int sim_retire(struct sim *s)
{
	uint32_t active = s->nlive - s->ndraining, k, slot = UINT32_MAX;
	struct sim_member *sm;
	int r;

	if (active == 0)
		return 0;
	k = sim_rng_below(&s->rng[RNG_RETIRE], active);
	for (uint32_t i = 0; i < s->nlive && slot == UINT32_MAX; i++)
		if (s->sm[s->live[i]].state == SM_LIVE && k-- == 0)
			slot = s->live[i];
	PF_ASSERT(slot != UINT32_MAX);
	r = pf_member_cordon(s->d, slot, PF_DRAIN_RETIRE);
	if (r < 0)
		return r;
	sm = &s->sm[slot];
	sm->state = SM_DRAINING;
	sm->drain_start_ns = s->now;
	memset(&sm->drain, 0, sizeof(sm->drain));
	sm->drain.size = sizeof(sm->drain);
	s->ndraining++;
	return sim_tick_soon(s);
}

int sim_load_change(struct sim *s)
{
	struct sim_member *sm;

	if (s->nlive == 0)
		return 0;
	sm = &s->sm[s->live[sim_rng_below(&s->rng[RNG_LOAD], s->nlive)]];
	sm->base_load = s->o.load_max * sim_rng_unit(&s->rng[RNG_LOAD]);
	s->unsettled |= scores_cpu(s); /* scores changed: a round may move VNodes */
	return report_load(s, sm, sm->base_load);
}

/* Every live member takes what was placed on it or handed to it. */
static int adopt_all(struct sim *s)
{
	for (uint32_t i = 0; i < s->nlive; i++) {
		uint32_t slot = s->live[i];
		struct pf_vnode *h;
		int r;

		if (ring_mpmc_count(assign_ring(s->d, slot)) == 0)
			continue;
		while ((r = pf_vnode_adopt(s->sm[slot].m, &h)) == 0)
			s->handle[h->id] = h;
		if (r != -EAGAIN)
			return r;
	}
	return 0;
}

/* The owner honours a move request: 1 when the handle is gone, 0 when it stays. */
static int handoff(struct sim *s, struct pf_vnode *h)
{
	uint32_t id = h->id;
	int r = pf_vnode_handoff(h);

	if (r == -ENOENT)
		return 0; /* the request went stale: the handle stays ours */
	s->handle[id] = NULL;
	if (r == 0) {
		s->migrations++;
		s->migration_bytes += s->o.state_bytes;
	}
	if (r == 0 || r == 1)
		s->changes++; /* 1: the target could not take it, back to PENDING */
	return 1;
}

/* The scheduler's model must be fresh before it places: its own time-based refresh of
 * attributes is what would make a run depend on the wall clock. */
static int sched_fresh(struct sim *s)
{
	/* Relaxed: this thread made every change; the version only says one happened. */
	if (!s->loads_dirty && pf_load_relaxed(&s->d->ctl->sched_version) == s->sched->seen_sched)
		return 0;
	s->loads_dirty = 0;
	return pf_sched_refresh(s->sched);
}

int sim_place(struct sim *s)
{
	int r = 0;

	for (uint32_t pass = 0; pass < PLACE_PASSES_MAX && r == 0; pass++) {
		if (ring_mpmc_count(&s->d->pending) == 0)
			break;
		if (pass > 0 && (r = sim_check(s)) < 0)
			break; /* a pass is a scan of what is pending: a large one is asked along */
		r = sched_fresh(s);
		if (r == 0)
			r = pf_sched_run(s->sched, UINT32_MAX);
		if (r <= 0)
			break;
		s->placements += (uint64_t)r;
		r = adopt_all(s);
	}
	return r < 0 ? r : 0;
}

/* Handles of a draining member whose VNodes a deadline released: stale, dropped. */
static void drop_released(struct sim *s, struct pf_member *m)
{
	struct pf_vnode *h = m->owned.next;

	while (h != &m->owned) {
		struct pf_vnode *next = h->next;
		/* Relaxed: this thread changed the word (the drain step's release). */
		uint64_t w = pf_load_relaxed(&s->d->own[h->id]);

		if (!own_is_owned(w) || own_epoch(w) != h->epoch) {
			s->handle[h->id] = NULL;
			(void)pf_vnode_release(h); /* -ESTALE: only frees the handle */
		}
		h = next;
	}
}

static int owner_handoffs(struct sim *s, struct pf_member *m)
{
	struct pf_vnode *h = m->owned.next;
	int n = 0;

	while (h != &m->owned) {
		struct pf_vnode *next = h->next;

		if (pf_vnode_move_target(h, NULL) == 1)
			n += handoff(s, h);
		h = next;
	}
	return n;
}

static int drain_finish(struct sim *s, uint32_t slot)
{
	struct sim_member *sm = &s->sm[slot];
	int r;

	(void)unserve(s, slot, 0);
	r = pf_member_leave(sm->m); /* 0: the drain gave the slot back for us */
	live_remove(s, slot);
	memset(sm, 0, sizeof(*sm));
	s->ndraining--;
	s->retirements++;
	s->membership_events++;
	return r == -ESTALE ? 0 : r;
}

static int drain_one(struct sim *s, uint32_t slot)
{
	struct sim_member *sm = &s->sm[slot];
	struct pf_drain_opts o;
	int handed = 0;

	pf_drain_opts_init(&o);
	o.parallel = PF_DRAIN_PARALLEL_MAX;
	/* The simulated deadline, told as "passed" (any time long gone) or "none". */
	o.deadline_ns = s->now >= sm->drain_start_ns + s->o.drain_deadline_ns ? 1 : 0;
	if (sm->drain_wait && o.deadline_ns == 0)
		return 0;
	for (uint32_t k = 0; k < SIM_DRAIN_STEPS; k++) {
		uint32_t released = sm->drain.released;
		int r = pf_sched_drain_step(s->sched, slot, &o, &sm->drain);

		if (r < 0)
			return r;
		if (sm->drain.released > released) {
			s->drain_released += sm->drain.released - released;
			s->changes += sm->drain.released - released;
			drop_released(s, sm->m);
		}
		if (sm->drain.done)
			return drain_finish(s, slot);
		handed = owner_handoffs(s, sm->m);
		r = adopt_all(s);
		if (r < 0)
			return r;
		if (handed == 0)
			break;
	}
	sm->drain_wait = handed == 0 && sm->drain.blocked > 0 && sm->drain.moving == 0;
	if (sm->drain_wait) /* nothing can take them: wake at the deadline (or a join) */
		return sim_push(s, sm->drain_start_ns + s->o.drain_deadline_ns, EV_TICK, 0);
	return sim_tick_soon(s);
}

static int drains(struct sim *s)
{
	for (uint32_t i = 0; i < s->nlive && s->ndraining > 0;) {
		uint32_t slot = s->live[i], n = s->nlive;
		int r;

		if (s->sm[slot].state != SM_DRAINING) {
			i++;
			continue;
		}
		r = drain_one(s, slot);
		if (r < 0)
			return r;
		i += s->nlive == n; /* a finished drain moved another member to position i */
	}
	return 0;
}

/* Owners honour a round's move requests; only the VNodes with one are looked at. */
static void round_handoffs(struct sim *s)
{
	for (uint32_t id = 0; id < s->o.vnodes; id++) {
		/* Relaxed: a scan; pf_vnode_move_target() re-reads it for the handle's epoch. */
		uint64_t req = pf_load_relaxed(&s->d->vnodes[id].move_req);
		struct pf_vnode *h = s->handle[id];

		if ((req & MOVE_VALID) != 0 && h != NULL && pf_vnode_move_target(h, NULL) == 1)
			(void)handoff(s, h);
	}
}

/* A rebalancing round, as pflightd runs one (at most once a second), stopping at its
 * budget; the owners then hand over what it asked for. A round that asked for less than
 * its budget asked for everything worth moving: settled until something changes. */
static int rebalance_round(struct sim *s)
{
	struct pf_rebalance_report rep = {.size = sizeof(rep)};
	struct pf_rebalance_opts o;
	int r;

	pf_rebalance_opts_init(&o);
	o.flags = PF_REBALANCE_BUDGET_STOP;
	o.cooldown_ns = 0; /* the simulated clock paces rounds (SIM_ROUND_NS) */
	r = pf_sched_rebalance(s->sched, &o, &rep);
	if (r < 0)
		return r;
	s->rounds++;
	s->moves_requested += (uint64_t)r;
	s->round_at = s->now + SIM_ROUND_NS;
	if ((uint32_t)r < rep.budget || r == 0)
		s->unsettled = 0;
	if (r == 0)
		return 0;
	round_handoffs(s);
	return adopt_all(s);
}

/* Recoveries complete when every VNode of the crashed member is served again. */
static int recoveries(struct sim *s)
{
	for (uint32_t i = 0; i < s->nrec;) {
		struct sim_recovery *rec = &s->rec[i];
		uint32_t n = 0;
		int r;

		for (uint32_t k = 0; k < rec->n; k++)
			if (s->handle[rec->ids[k]] == NULL)
				rec->ids[n++] = rec->ids[k];
		rec->n = n;
		if (n > 0) {
			i++;
			continue;
		}
		r = pf_metrics_record_recovery(s->metrics, s->now, s->now - rec->crash_ns);
		if (r < 0)
			return r;
		free(rec->ids);
		s->rec[i] = s->rec[--s->nrec];
	}
	return 0;
}

int sim_tick(struct sim *s)
{
	int r;

	if (s->tick_at <= s->now)
		s->tick_at = UINT64_MAX;
	r = drains(s);
	if (r == 0)
		r = sim_place(s);
	if (r == 0 && s->unsettled && s->now >= s->round_at)
		r = rebalance_round(s);
	if (r == 0)
		r = recoveries(s);
	if (r == 0 && s->unsettled) {
		uint64_t t = PF_MAX_OF(s->round_at, s->now + 1);

		t = (t + SIM_TICK_NS - 1) / SIM_TICK_NS * SIM_TICK_NS;
		if (t < s->tick_at) {
			s->tick_at = t;
			r = sim_push(s, t, EV_TICK, 0);
		}
	}
	return r;
}

/* Messages since the last sample: each to a random VNode, handled by its live owner. A
 * sample may have millions behind it: the caller is asked along the way. */
static int messages(struct sim *s)
{
	while (s->msg_next_ns <= s->now) {
		uint32_t id = sim_rng_below(&s->rng[RNG_MSG], s->o.vnodes);
		struct pf_vnode *h = s->handle[id];

		if (h != NULL)
			s->sm[h->member->slot].msgs++;
		else
			s->deferred++;
		s->messages++;
		s->msg_next_ns += sim_rng_exp_ns(&s->rng[RNG_MSG], s->o.messages_per_s * 60);
		if (s->messages % PF_SIM_CHECK_MESSAGES == 0) {
			int r = sim_check(s);

			if (r < 0)
				return r;
		}
	}
	return 0;
}

/* Each live member's CPU: its background load plus what its messages cost. */
static int message_loads(struct sim *s)
{
	uint64_t dt = s->now - s->last_sample_ns;

	for (uint32_t i = 0; i < s->nlive; i++) {
		struct sim_member *sm = &s->sm[s->live[i]];
		double busy =
			dt > 0 ? (double)sm->msgs * (double)s->o.message_cost_ns / (double)dt : 0;
		int r;

		sm->msgs = 0;
		if (s->o.messages_per_s <= 0)
			continue;
		r = report_load(s, sm, sm->base_load + busy);
		if (r < 0)
			return r;
	}
	return 0;
}

int sim_sample(struct sim *s)
{
	struct pf_sim_point p;
	uint64_t next;
	int r;

	r = messages(s);
	if (r == 0)
		r = message_loads(s);
	if (r == 0)
		r = sim_observe(s, PF_METRICS_OBS_POINT);
	if (r < 0)
		return r;
	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.index = s->index++;
	if (pf_metrics_points(s->metrics, &s->point_cursor, &p.metrics, 1) != 1)
		return -EIO; /* the point just appended must be there */
	p.members_draining = s->ndraining;
	p.members_crashed = s->ncrashed;
	p.joins = s->joins;
	p.failures = s->failures;
	p.retirements = s->retirements;
	p.messages = s->messages;
	p.messages_deferred = s->deferred;
	s->last_sample_ns = s->now;
	r = s->on_point != NULL ? s->on_point(s->arg, &p) : 0;
	if (r < 0 || s->now >= s->o.duration_ns)
		return r;
	next = PF_MIN((uint64_t)s->index * s->o.interval_ns, s->o.duration_ns);
	return sim_push(s, next, EV_SAMPLE, 0);
}

int sim_observe(struct sim *s, uint32_t flags)
{
	struct pf_metrics_obs o;
	uint32_t owned = 0;

	memset(&o, 0, sizeof(o));
	for (uint32_t i = 0; i < s->nlive; i++) {
		struct sim_member *sm = &s->sm[s->live[i]];
		uint32_t n = pf_member_vnodes(sm->m);

		owned += n;
		s->loads[i] = sm->cpu + (double)n / sm->capacity;
	}
	o.size = sizeof(o);
	o.flags = flags;
	o.time_ns = s->now;
	o.vnodes_defined = s->o.vnodes;
	o.vnodes_owned = owned;
	o.members_active = s->nlive;
	o.loads_count = s->nlive;
	o.loads = s->loads;
	o.ownership_changes = s->changes;
	o.membership_events = s->membership_events;
	o.migrations = s->migrations;
	o.migration_bytes = s->migration_bytes;
	o.placements = s->placements;
	return pf_metrics_observe(s->metrics, &o);
}

void sim_leave_all(struct sim *s)
{
	struct pf_member **ms;
	uint32_t n = 0;

	if (s->sm == NULL)
		return;
	ms = malloc(s->members_max * sizeof(*ms));
	/* Newest slots first: the last joined sit at the head of the robust list. */
	for (uint32_t slot = s->members_max; slot-- > 0;) {
		struct sim_member *sm = &s->sm[slot];

		if (sm->m == NULL)
			continue;
		(void)unserve(s, slot, 0);
		if (ms != NULL)
			ms[n++] = sm->m;
		else
			(void)pf_member_leave(sm->m); /* no memory: one scan each */
		memset(sm, 0, sizeof(*sm));
	}
	if (ms != NULL)
		(void)member_leave_many(ms, n); /* never fails: without memory, a scan each */
	free(ms);
	s->nlive = s->ndraining = s->ncrashed = 0;
}

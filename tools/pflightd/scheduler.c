/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/scheduler.c: the scheduler agent.
 *
 * The daemon is the domain's placer (pf_placer_claim): the members stop placing for
 * themselves while it runs and take over if it goes. Each pass places up to SCHED_BUDGET
 * PENDING VNodes (the winner takes them with pf_vnode_claim) and, at most once per
 * period, runs a rebalancing round; while rounds leave work (moves asked, or held back by
 * the budget in flight or a target's full ring), the next comes sooner, paced by the round's
 * own cost (FOLLOW_UP_*). A round refused by the cool-down after a membership
 * change (-EAGAIN) is retried when the cool-down ends, not before, so a churning
 * membership costs no scans. A tool claiming one VNode by id (pf_vnode_claim_id) races
 * the placement; the ownership CAS decides, so nothing is placed twice.
 *
 * Drains: every DRAIN_PERIOD_NS the agent looks for DRAINING members (`pflight drain` and
 * `pflight retire` cordon them) and steps each drain (pf_sched_drain_step). The deadline
 * is membership.drain_timeout from the cordon, whose time the slot keeps (pf_member_info's
 * cordon_ns), so a daemon restarted mid-drain keeps the deadline. Records go to the
 * auditor: drain_start, drain_step (when the count moved, at most every DRAIN_RECORD_NS),
 * then drain_done or retire (or drain_end when the member left or died first).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/pflightd/daemon.h"
#include "tools/pflightd/log.h"

#define COOLDOWN_RETRY_MIN_NS 1000000u /* 1 ms: never retry a refused round sooner */
/* While rounds leave work, the next comes once the owners have had time to act, not a period
 * later: a round asks for no more than the fraction in flight, requests still pending
 * included (core/rebalance.c, point 7), so a round that comes early asks only for what earlier
 * ones completed; 256 moves a second left a fifth worker among a million VNodes waiting for
 * minutes. FOLLOW_UP_DUTY times the round's own time apart keeps its O(VNodes) scan to a fifth
 * of the agent's thread at most (about 12 ms at a million VNodes, more with many chooses), and
 * 50 ms at least leaves the owners time to hand over. */
#define FOLLOW_UP_MIN_NS 50000000u
#define FOLLOW_UP_DUTY 4u
/* After a pass that placed nothing, the next one waits for a membership change or this
 * long: a VNode nobody can take is dequeued, scored and queued again by every pass, so
 * retrying at spinning speed would burn a core and flood the explanation ring. 5 ms keeps
 * new VNodes' placement latency well under a heartbeat. */
#define RETRY_NS 5000000u

int scheduler_init(struct scheduler *s, struct pf_domain *domain, struct cmdq *inbox,
		   struct cmdq *to_auditor, const struct pf_rebalance_opts *rebalance,
		   const struct pf_manifest *m)
{
	const struct pf_manifest_membership *membership = &m->membership;
	struct pf_domain_info di = {.size = sizeof(di)};
	int r = pf_domain_info(domain, &di);

	memset(s, 0, sizeof(*s));
	if (r == 0)
		r = governor_init(&s->gov, domain, m, to_auditor);
	if (r < 0)
		return r;
	s->domain = domain;
	s->inbox = inbox;
	s->to_auditor = to_auditor;
	s->rebalance = *rebalance;
	s->drain_timeout_ns = membership->drain_timeout_ns;
	s->drain_parallel = membership->drain_parallel;
	s->members_max = di.members_max;
	s->drains = calloc(di.members_max, sizeof(*s->drains));
	if (s->drains == NULL)
		return -ENOMEM;
	s->period_ns = REBALANCE_PERIOD_NS;
	s->next_round_ns = mono_ns() + s->period_ns;
	r = governor_sched_create(&s->gov, &s->sched);
	if (r == 0)
		r = pf_placer_claim(s->sched);
	return r;
}

void scheduler_fini(struct scheduler *s)
{
	pf_placer_release(s->sched);
	pf_sched_destroy(s->sched);
	s->sched = NULL;
	free(s->drains);
	s->drains = NULL;
	governor_fini(&s->gov);
}

/* Send a record to the auditor (the log has one writer). */
static void drain_record(struct scheduler *s, const char *event, uint32_t slot,
			 const struct drain_slot *ds)
{
	const struct pf_drain_report *rep = &ds->rep;
	const char *why = pf_sched_reason_name(rep->reason);

	if (cmdq_record(s->to_auditor, event, PF_AUDIT_NO_VNODE,
			"{\"member\":\"%u.%u\",\"moved\":%u,\"remaining\":%u,\"moving\":%u,"
			"\"released\":%u,\"blocked\":%u,\"blocked_by\":\"%s\","
			"\"deadline_ms\":%llu,\"since_cordon_ms\":%llu}",
			slot, ds->generation, rep->moved, rep->owned, rep->moving, rep->released,
			rep->blocked, rep->blocked > 0 && why != NULL ? why : "",
			(unsigned long long)(s->drain_timeout_ns / 1000000u),
			(unsigned long long)((mono_ns() - ds->start_ns) / 1000000u)) < 0)
		log_msg(LOG_ERROR, "scheduler: auditor queue full: %s not audited", event);
}

/* One step of the drain of slot; records what changed. Returns the work done. */
static int drain_one(struct scheduler *s, uint32_t slot, uint64_t now)
{
	struct drain_slot *ds = &s->drains[slot];
	struct pf_drain_opts o;
	int r;

	pf_drain_opts_init(&o);
	o.parallel = s->drain_parallel;
	o.deadline_ns = ds->start_ns + s->drain_timeout_ns;
	r = pf_sched_drain_step(s->sched, slot, &o, &ds->rep);
	if (r < 0 || ds->rep.done) {
		if (r < 0 && r != -ENOENT)
			log_msg(LOG_WARN, "scheduler: drain of member %u: %s", slot, strerror(-r));
		if (r < 0 && r != -ENOENT)
			return 0; /* try again at the next period */
		drain_record(s,
			     r < 0                                      ? "drain_end"
			     : ds->rep.final_state == PF_MEMBER_RETIRED ? "retire"
									: "drain_done",
			     slot, ds);
		log_msg(LOG_INFO, "scheduler: drain of member %u.%u over: %u moved, %u released",
			slot, ds->generation, ds->rep.moved, ds->rep.released);
		ds->active = 0;
		s->drained++;
		return 1;
	}
	if (ds->rep.owned != ds->recorded_owned && now - ds->recorded_ns >= DRAIN_RECORD_NS) {
		drain_record(s, "drain_step", slot, ds);
		ds->recorded_ns = now;
		ds->recorded_owned = ds->rep.owned;
	}
	return r;
}

/* Start tracking members newly seen DRAINING, and step every drain. */
static int drain_pass(struct scheduler *s, uint64_t now)
{
	int work = 0;

	if (now < s->next_drain_ns)
		return 0;
	s->next_drain_ns = now + DRAIN_PERIOD_NS;
	for (uint32_t slot = 0; slot < s->members_max; slot++) {
		struct pf_member_info mi = {.size = sizeof(mi)};
		struct drain_slot *ds = &s->drains[slot];
		int r = pf_member_info(s->domain, slot, &mi);

		if (r == 0 && mi.state == PF_MEMBER_DRAINING &&
		    (!ds->active || ds->generation != mi.generation)) {
			memset(ds, 0, sizeof(*ds));
			ds->active = 1;
			ds->generation = mi.generation;
			/* The cordon's own time, kept in the slot: a restarted daemon keeps
			 * the deadline; now only for a slot that has none. */
			ds->start_ns =
				mi.cordon_ns != 0 && mi.cordon_ns <= now ? mi.cordon_ns : now;
			ds->rep.size = sizeof(ds->rep);
			ds->recorded_owned = UINT32_MAX;
			drain_record(s, "drain_start", slot, ds);
		}
		if (ds->active)
			work += drain_one(s, slot, now);
	}
	return work;
}

static int take_commands(struct scheduler *s)
{
	struct cmd c;
	int n = 0;

	while (n < (int)CMDQ_DRAIN_LIMIT && cmdq_take(s->inbox, &c) == 0) {
		n++;
		if (c.type == CMD_GOVERNANCE) {
			governor_set(&s->gov, c.ptr);
			(void)pf_sched_refresh(s->sched);
			continue;
		}
		if (c.type != CMD_REBALANCE)
			continue;
		s->rebalance = c.rebalance;
		s->drain_timeout_ns = c.drain_timeout_ns;
		s->drain_parallel = c.drain_parallel;
		log_msg(LOG_INFO, "scheduler: rebalancing options reloaded (moves_max %u)",
			c.rebalance.moves_max);
	}
	return n;
}

/* When the round after one that took took_ns runs: soon while rounds leave work (moves asked,
 * or held back by the budget or a full ring), at the period once they do not. Rounds that
 * asked nothing while work was held back (owners slow to act on what is in flight, or one
 * that never does) back off, doubling their wait up to the period, so that an owner that
 * ignores its requests does not cost the scheduler an O(VNodes) scan every 50 ms. */
static uint64_t next_round_after(struct scheduler *s, const struct pf_rebalance_report *rep,
				 uint64_t now, uint64_t took_ns)
{
	uint64_t wait_ns = FOLLOW_UP_DUTY * took_ns;

	if (rep->requested == 0 && rep->skipped_budget == 0 && rep->skipped_full == 0) {
		s->held_rounds = 0;
		return now + s->period_ns;
	}
	s->held_rounds = rep->requested > 0 ? 0 : PF_MIN(s->held_rounds + 1, 16u);
	wait_ns = wait_ns > FOLLOW_UP_MIN_NS ? wait_ns : FOLLOW_UP_MIN_NS;
	wait_ns <<= s->held_rounds;
	return now + (wait_ns < s->period_ns ? wait_ns : s->period_ns);
}

static int rebalance_round(struct scheduler *s, uint64_t now)
{
	struct pf_rebalance_report rep = {.size = sizeof(rep)};
	uint64_t start = mono_ns(), end; /* the round's own time, not the placement before it */
	int r = pf_sched_rebalance(s->sched, &s->rebalance, &rep);

	if (r == -EAGAIN) {
		s->next_round_ns = now + (rep.cooldown_left_ns > COOLDOWN_RETRY_MIN_NS
						  ? rep.cooldown_left_ns
						  : COOLDOWN_RETRY_MIN_NS);
		return 0;
	}
	end = mono_ns();
	s->next_round_ns = next_round_after(s, &rep, end, end - start);
	if (r < 0) {
		log_msg(LOG_WARN, "scheduler: rebalancing round failed: %s", strerror(-r));
		return 0;
	}
	if (r > 0) {
		s->moves += (uint64_t)r;
		log_msg(LOG_INFO,
			"scheduler: rebalance asked %d moves (%u off members above their bound, "
			"%u to members far below their share; %u owned, %u examined, %u below "
			"the gain margin)",
			r, rep.over_bound, rep.lifted, rep.owned, rep.examined,
			rep.skipped_hysteresis);
	}
	return r;
}

/* Place what is pending, unless the last pass placed nothing and nothing changed. */
static int place(struct scheduler *s, uint64_t now)
{
	uint32_t version = 0;
	int r;

	(void)pf_domain_membership(s->domain, &version);
	/* Relaxed: a flag; what it says is in the pending queue, which the pass reads. */
	if (now < s->next_place_ns && version == s->version && pf_load_relaxed(&s->place_now) == 0)
		return 0;
	pf_store_relaxed(&s->place_now, 0); /* Relaxed: the same flag, cleared before the pass */
	r = pf_sched_run(s->sched, SCHED_BUDGET);
	if (r < 0)
		return r;
	s->version = version;
	s->next_place_ns = r > 0 ? 0 : now + RETRY_NS;
	s->placed += (uint64_t)r;
	return r;
}

void scheduler_poke(struct scheduler *s)
{
	/* Relaxed: a flag; the runner's futex wake (runner_kick()) orders the rest. */
	pf_store_relaxed(&s->place_now, 1);
}

int scheduler_do_work(void *arg)
{
	struct scheduler *s = arg;
	int work = take_commands(s);
	uint64_t now = mono_ns();
	int r = place(s, now);

	if (r < 0)
		return r;
	work += r;
	if (now >= s->next_round_ns)
		work += rebalance_round(s, now);
	return work + drain_pass(s, now);
}

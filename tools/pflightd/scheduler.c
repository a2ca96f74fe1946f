/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/scheduler.c: the scheduler agent.
 *
 * Each pass places up to SCHED_BUDGET PENDING VNodes (the winner adopts them with
 * pf_vnode_adopt) and, at most once per period, runs a rebalancing round. A round refused
 * by the cool-down after a membership change (-EAGAIN) is retried when the cool-down
 * ends, not before, so a churning membership costs no scans. Workers may also claim
 * PENDING VNodes themselves; the ownership CAS decides, so nothing is placed twice.
 */
#include <errno.h>
#include <string.h>

#include "tools/pflightd/daemon.h"
#include "tools/pflightd/log.h"

#define COOLDOWN_RETRY_MIN_NS 1000000u /* 1 ms: never retry a refused round sooner */
/* After a pass that placed nothing, the next one waits for a membership change or this
 * long: a VNode nobody can take is dequeued, scored and queued again by every pass, so
 * retrying at spinning speed would burn a core and flood the explanation ring. 5 ms keeps
 * new VNodes' placement latency well under a heartbeat. */
#define RETRY_NS 5000000u

int scheduler_init(struct scheduler *s, struct pf_domain *domain, struct cmdq *inbox,
		   const struct pf_rebalance_opts *rebalance)
{
	memset(s, 0, sizeof(*s));
	s->domain = domain;
	s->inbox = inbox;
	s->rebalance = *rebalance;
	s->period_ns = REBALANCE_PERIOD_NS;
	s->next_round_ns = mono_ns() + s->period_ns;
	return pf_sched_create(domain, NULL, &s->sched);
}

void scheduler_fini(struct scheduler *s)
{
	pf_sched_destroy(s->sched);
	s->sched = NULL;
}

static int take_commands(struct scheduler *s)
{
	struct cmd c;
	int n = 0;

	while (n < (int)CMDQ_DRAIN_LIMIT && cmdq_take(s->inbox, &c) == 0) {
		n++;
		if (c.type != CMD_REBALANCE)
			continue;
		s->rebalance = c.rebalance;
		log_msg(LOG_INFO, "scheduler: rebalancing options reloaded (moves_max %u)",
			c.rebalance.moves_max);
	}
	return n;
}

static int rebalance_round(struct scheduler *s, uint64_t now)
{
	struct pf_rebalance_report rep = {.size = sizeof(rep)};
	int r = pf_sched_rebalance(s->sched, &s->rebalance, &rep);

	if (r == -EAGAIN) {
		s->next_round_ns = now + (rep.cooldown_left_ns > COOLDOWN_RETRY_MIN_NS
						  ? rep.cooldown_left_ns
						  : COOLDOWN_RETRY_MIN_NS);
		return 0;
	}
	s->next_round_ns = now + s->period_ns;
	if (r < 0) {
		log_msg(LOG_WARN, "scheduler: rebalancing round failed: %s", strerror(-r));
		return 0;
	}
	if (r > 0) {
		s->moves += (uint64_t)r;
		log_msg(LOG_INFO,
			"scheduler: rebalance asked %d moves (%u owned, %u examined, %u below "
			"the gain margin)",
			r, rep.owned, rep.examined, rep.skipped_hysteresis);
	}
	return r;
}

/* Place what is pending, unless the last pass placed nothing and nothing changed. */
static int place(struct scheduler *s, uint64_t now)
{
	uint32_t version = 0;
	int r;

	(void)pf_domain_membership(s->domain, &version);
	if (now < s->next_place_ns && version == s->version)
		return 0;
	r = pf_sched_run(s->sched, SCHED_BUDGET);
	if (r < 0)
		return r;
	s->version = version;
	s->next_place_ns = r > 0 ? 0 : now + RETRY_NS;
	s->placed += (uint64_t)r;
	return r;
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
	return work;
}

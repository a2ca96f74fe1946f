/* SPDX-License-Identifier: MIT */
/*
 * ctl/sim.c: the discrete-event simulator (pflight/sim.h has the contract): options and
 * presets, the PRNG, the event queue, setting up and tearing down the private domain, and
 * the loop. What each event does to the domain is in ctl/sim_events.c.
 *
 * Why it is reproducible. Nothing the results depend on comes from outside the run: the
 * clock is the event queue's (a binary heap ordered by time, then by kind with samples
 * last, then by insertion), every random draw comes from a seeded xoshiro256** stream (one
 * per random process: arrivals of joins do not move when the failure rate changes), and
 * the library is driven so that its own clock never decides anything:
 *   - members join with a chosen start slot and identity key (member_join_as()), not from
 *     the pid, so slots, generations and hence the scheduler's tie hashes are the same;
 *   - the domain's slot grace period is 0, so a freed slot's reuse does not wait on time;
 *   - the scheduler is refreshed explicitly whenever an attribute changed, so its
 *     time-based attribute refresh (at most once a millisecond) never fires on its own;
 *   - rebalancing runs with no cool-down, drains with a deadline given as "passed" or
 *     "none" by the simulated clock;
 *   - deaths are declared by supervisor_declare_dead() at the simulated detection time,
 *     never by a supervisor's check, which judges heartbeats by the wall clock.
 * The one remaining dependence is the failure history's forgetting (one failure per 10
 * minutes of wall time), which a run shorter than that never reaches.
 *
 * Control (pf_sim_run_ctl). A run is one call of seconds or minutes; a caller that must
 * stop it (a daemon's wall-clock budget, a cancel, a shutdown) can only do so from inside.
 * So the run asks the caller's check between events (every check_events), inside a
 * sample's batch of messages and while setting up; an event costs at most a scan of the
 * VNodes, so a stop comes within milliseconds. Checks read nothing back into the run: the
 * results are the same with them. The segment's size is known from the options before
 * anything is mapped (domain_segment_bytes), so a bound on it refuses instead of mapping.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ctl/sim_impl.h"
#include "shm/pf_assert.h"

#define MS(x) (UINT64_C(x) * 1000000u)
#define SEC(x) (UINT64_C(x) * 1000000000u)
#define DEFAULT_MEMBERS 100u
#define DEFAULT_VNODES 10000u
#define DEFAULT_DURATION_NS SEC(600)
#define DEFAULT_INTERVAL_NS SEC(1)
#define DEFAULT_SEED 1u
#define NAME_TRIES 16
#define STATE_BYTES_MAX (UINT64_C(1) << 30)
/* Expected events (joins, failures, retirements, load changes) and messages of one run:
 * beyond these a run would take hours; refused as -E2BIG. */
#define EVENTS_EXPECTED_MAX 1e7
#define MESSAGES_EXPECTED_MAX 1e10
#define ASSIGN_SLOTS_MIN 64u
#define ASSIGN_SLOTS_MAX 4096u

struct preset {
	const char *name;
	uint32_t strategy;
	uint32_t kinds;
	double join, fail, retire, load, msgs; /* per minute; messages per second */
	double load_max, failure_spread, capacity_spread;
	uint64_t message_cost_ns, heartbeat_ns, drain_ns, state_bytes;
};

/* The paradigms' defaults: see pflight/sim.h and docs/pflight.1 (pflight sim). */
static const struct preset presets[] = {
	[PF_SIM_DMA] = {"dma", PF_SCHED_TRUST_WEIGHTED, 1, 6, 3, 3, 30, 1000, 0.5, 1, 1, MS(10),
			MS(500), SEC(30), 4096},
	[PF_SIM_DISTRIBUTED] = {"distributed", PF_SCHED_CONSISTENT_HASH, 1, 2, 1, 1, 0, 1000, 0.3,
				1, 1, MS(10), SEC(1), SEC(30), 65536},
	[PF_SIM_CLOUD_NATIVE] = {"cloud-native", PF_SCHED_BIN_PACKING, 1, 30, 2, 28, 60, 1000, 0.6,
				 1, 4, MS(10), MS(500), SEC(30), 16384},
	[PF_SIM_AI_AGENTS] = {"ai-agents", PF_SCHED_AGENT, 16, 20, 20, 0, 30, 200, 0.5, 20, 1,
			      MS(50), SEC(2), SEC(30), 4096},
};

PF_API const char *pf_sim_preset_name(uint32_t preset)
{
	return preset < PF_ARRAY_SIZE(presets) ? presets[preset].name : NULL;
}

PF_API int pf_sim_preset_find(const char *name)
{
	if (name == NULL)
		return -EINVAL;
	for (uint32_t i = 0; i < PF_ARRAY_SIZE(presets); i++)
		if (strcmp(presets[i].name, name) == 0)
			return (int)i;
	return -ENOENT;
}

PF_API void pf_sim_opts_init(struct pf_sim_opts *opts)
{
	PF_ASSERT(opts != NULL);
	(void)pf_sim_opts_preset(opts, PF_SIM_DMA);
}

PF_API int pf_sim_opts_preset(struct pf_sim_opts *opts, uint32_t preset)
{
	const struct preset *p;

	if (opts == NULL || preset >= PF_ARRAY_SIZE(presets))
		return -EINVAL;
	p = &presets[preset];
	memset(opts, 0, sizeof(*opts));
	opts->size = sizeof(*opts);
	opts->preset = preset;
	opts->strategy = p->strategy;
	opts->members = DEFAULT_MEMBERS;
	opts->vnodes = DEFAULT_VNODES;
	opts->seed = DEFAULT_SEED;
	opts->duration_ns = DEFAULT_DURATION_NS;
	opts->interval_ns = DEFAULT_INTERVAL_NS;
	opts->heartbeat_timeout_ns = p->heartbeat_ns;
	opts->drain_deadline_ns = p->drain_ns;
	opts->window_ns = PF_METRICS_WINDOW_NS_DEFAULT;
	opts->join_per_min = p->join;
	opts->failure_per_min = p->fail;
	opts->retire_per_min = p->retire;
	opts->load_change_per_min = p->load;
	opts->messages_per_s = p->msgs;
	opts->message_cost_ns = p->message_cost_ns;
	opts->load_max = p->load_max;
	opts->failure_spread = p->failure_spread;
	opts->capacity_spread = p->capacity_spread;
	opts->kinds = p->kinds;
	opts->state_bytes = p->state_bytes;
	return 0;
}

/* 0, -EINVAL (not finite, below min) or -E2BIG (above max), naming `field`. */
static int check_real(double v, double min, double max, const char *field, const char **ret)
{
	*ret = field;
	if (!isfinite(v) || v < min)
		return -EINVAL;
	return v > max ? -E2BIG : 0;
}

/* Name the field at fault and return its errno. */
static int bad(const char **ret_field, const char *field, int err)
{
	*ret_field = field;
	return err;
}

static int check_sizes(const struct pf_sim_opts *o, const char **f)
{
	if (o->flags != 0)
		return bad(f, "flags", -EINVAL);
	if (o->preset >= PF_ARRAY_SIZE(presets))
		return bad(f, "preset", -EINVAL);
	if (o->strategy > PF_SCHED_AGENT)
		return bad(f, "strategy", -EINVAL);
	if (o->members > PF_SIM_MEMBERS_MAX)
		return bad(f, "members", -E2BIG);
	if (o->vnodes == 0)
		return bad(f, "vnodes", -EINVAL);
	if (o->vnodes > PF_VNODES_MAX)
		return bad(f, "vnodes", -E2BIG);
	if (o->duration_ns == 0)
		return bad(f, "duration_ns", -EINVAL);
	if (o->duration_ns > PF_SIM_DURATION_NS_MAX)
		return bad(f, "duration_ns", -E2BIG);
	if (o->interval_ns < PF_SIM_INTERVAL_NS_MIN || o->interval_ns > o->duration_ns)
		return bad(f, "interval_ns", -EINVAL);
	if (o->duration_ns / o->interval_ns >= PF_SIM_POINTS_MAX)
		return bad(f, "interval_ns", -E2BIG);
	if (o->heartbeat_timeout_ns > PF_SIM_TIMEOUT_NS_MAX)
		return bad(f, "heartbeat_timeout_ns", -E2BIG);
	if (o->drain_deadline_ns > PF_SIM_TIMEOUT_NS_MAX)
		return bad(f, "drain_deadline_ns", -E2BIG);
	if (o->window_ns < PF_METRICS_WINDOW_NS_MIN)
		return bad(f, "window_ns", -EINVAL);
	if (o->window_ns > PF_METRICS_WINDOW_NS_MAX)
		return bad(f, "window_ns", -E2BIG);
	if (o->kinds == 0)
		return bad(f, "kinds", -EINVAL);
	if (o->kinds > PF_SIM_KINDS_MAX)
		return bad(f, "kinds", -E2BIG);
	if (o->message_cost_ns > SEC(1))
		return bad(f, "message_cost_ns", -E2BIG);
	if (o->state_bytes > STATE_BYTES_MAX)
		return bad(f, "state_bytes", -E2BIG);
	for (size_t i = 0; i < PF_ARRAY_SIZE(o->reserved); i++)
		if (o->reserved[i] != 0)
			return bad(f, "reserved", -EINVAL);
	return 0;
}

static int check_rates(const struct pf_sim_opts *o, const char **f)
{
	const double minutes = (double)o->duration_ns / 60e9;
	int r;

	if ((r = check_real(o->join_per_min, 0, PF_SIM_RATE_MAX, "join_per_min", f)) < 0 ||
	    (r = check_real(o->failure_per_min, 0, PF_SIM_RATE_MAX, "failure_per_min", f)) < 0 ||
	    (r = check_real(o->retire_per_min, 0, PF_SIM_RATE_MAX, "retire_per_min", f)) < 0 ||
	    (r = check_real(o->load_change_per_min, 0, PF_SIM_RATE_MAX, "load_change_per_min", f)) <
		    0 ||
	    (r = check_real(o->messages_per_s, 0, PF_SIM_MESSAGES_MAX, "messages_per_s", f)) < 0 ||
	    (r = check_real(o->load_max, 0, 1, "load_max", f)) < 0 ||
	    (r = check_real(o->failure_spread, 1, PF_SIM_SPREAD_MAX, "failure_spread", f)) < 0 ||
	    (r = check_real(o->capacity_spread, 1, PF_SIM_SPREAD_MAX, "capacity_spread", f)) < 0)
		return r;
	*f = "join_per_min";
	if ((o->join_per_min + o->failure_per_min + o->retire_per_min + o->load_change_per_min) *
		    minutes >
	    EVENTS_EXPECTED_MAX)
		return -E2BIG;
	*f = "messages_per_s";
	if (o->messages_per_s * minutes * 60 > MESSAGES_EXPECTED_MAX)
		return -E2BIG;
	*f = NULL;
	return 0;
}

PF_API int pf_sim_opts_check(const struct pf_sim_opts *opts, const char **reterr_field)
{
	const char *field = NULL;
	int r;

	if (opts == NULL || opts->size < offsetof(struct pf_sim_opts, reserved)) {
		r = -EINVAL;
		field = "size";
	} else {
		r = check_sizes(opts, &field);
		if (r == 0)
			r = check_rates(opts, &field);
	}
	if (reterr_field != NULL)
		*reterr_field = r < 0 ? field : NULL;
	return r;
}

/* PRNG: splitmix64 to seed, xoshiro256** to draw. */
static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t sim_rng_next(struct sim_rng *r)
{
	uint64_t *s = r->s, result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double sim_rng_unit(struct sim_rng *r)
{
	return (double)((sim_rng_next(r) >> 11) + 1) * 0x1.0p-53;
}

uint32_t sim_rng_below(struct sim_rng *r, uint32_t n)
{
	PF_ASSERT(n > 0);
	return (uint32_t)(((sim_rng_next(r) >> 32) * (uint64_t)n) >> 32);
}

uint64_t sim_rng_exp_ns(struct sim_rng *r, double per_min)
{
	double ns = -log(sim_rng_unit(r)) / per_min * 60e9;

	PF_ASSERT(per_min > 0);
	return ns >= 1.8e19 ? UINT64_MAX / 2 : (uint64_t)ns + 1; /* + 1: time moves */
}

static void rng_seed(struct sim *s)
{
	for (uint32_t k = 0; k < RNG_STREAMS; k++) {
		uint64_t x = s->o.seed ^ ((uint64_t)(k + 1) * UINT64_C(0xd1b54a32d192ed03));

		for (int i = 0; i < 4; i++)
			s->rng[k].s[i] = splitmix64(&x);
	}
}

/* Events: a binary min-heap by (time, type, insertion). */
static int ev_before(const struct sim_ev *a, const struct sim_ev *b)
{
	if (a->t != b->t)
		return a->t < b->t;
	if ((a->type == EV_SAMPLE) != (b->type == EV_SAMPLE))
		return b->type == EV_SAMPLE;
	return a->seq < b->seq;
}

int sim_push(struct sim *s, uint64_t t, uint32_t type, uint32_t arg)
{
	uint32_t pos;

	if (s->nev == s->ev_cap) {
		uint32_t cap = s->ev_cap * 2;
		struct sim_ev *h = realloc(s->heap, cap * sizeof(*h));

		if (h == NULL)
			return -ENOMEM;
		s->heap = h;
		s->ev_cap = cap;
	}
	pos = s->nev++;
	s->heap[pos] = (struct sim_ev){.t = t, .seq = s->seq++, .type = type, .arg = arg};
	while (pos > 0 && ev_before(&s->heap[pos], &s->heap[(pos - 1) / 2])) {
		struct sim_ev tmp = s->heap[pos];

		s->heap[pos] = s->heap[(pos - 1) / 2];
		s->heap[(pos - 1) / 2] = tmp;
		pos = (pos - 1) / 2;
	}
	return 0;
}

static struct sim_ev sim_pop(struct sim *s)
{
	struct sim_ev top = s->heap[0];
	uint32_t pos = 0;

	PF_ASSERT(s->nev > 0);
	s->heap[0] = s->heap[--s->nev];
	for (;;) {
		uint32_t c = 2 * pos + 1;
		struct sim_ev tmp;

		if (c >= s->nev)
			break;
		if (c + 1 < s->nev && ev_before(&s->heap[c + 1], &s->heap[c]))
			c++;
		if (!ev_before(&s->heap[c], &s->heap[pos]))
			break;
		tmp = s->heap[pos];
		s->heap[pos] = s->heap[c];
		s->heap[c] = tmp;
		pos = c;
	}
	return top;
}

int sim_tick_soon(struct sim *s)
{
	uint64_t t = (s->now / SIM_TICK_NS + 1) * SIM_TICK_NS;

	if (s->tick_at <= t)
		return 0;
	s->tick_at = t;
	return sim_push(s, t, EV_TICK, 0);
}

/* A private domain: the name the caller chose, or one no one else uses (our pid and a
 * counter), whose name is dropped as soon as it is made: nothing opens a private domain by
 * name, and a run killed with SIGKILL then leaves nothing in /dev/shm (the mapping lives
 * until the process is gone). A named domain stays named: its caller cleans it up. */
static int domain_make(struct sim *s, const struct pf_domain_opts *o)
{
	static _Atomic uint32_t counter;
	char name[PF_DOMAIN_NAME_MAX];
	int r = -EEXIST;

	if (s->ctl.domain_name != NULL)
		return pf_domain_create(s->ctl.domain_name, o, &s->d);
	for (int i = 0; i < NAME_TRIES && r == -EEXIST; i++) {
		/* Relaxed: only hands out distinct numbers to this process's runs. */
		uint32_t n = pf_fetch_add_relaxed(&counter, 1);

		(void)snprintf(name, sizeof(name), "pfsim-%d-%u", (int)getpid(), n);
		r = pf_domain_create(name, o, &s->d);
	}
	if (r == 0)
		(void)pf_domain_unlink(name);
	return r;
}

/* The private domain of a run of so: its options, member slots and mean capacity. */
static void domain_opts_for(const struct pf_sim_opts *so, struct pf_domain_opts *o,
			    uint32_t *ret_members_max, uint32_t *ret_capacity)
{
	uint32_t per_member = so->vnodes / PF_MAX_OF(so->members, 1u);

	*ret_members_max = PF_MIN(PF_MAX_OF(2 * so->members + 64, 64u), PF_SIM_MEMBERS_MAX);
	*ret_capacity =
		so->vnode_capacity != 0 ? so->vnode_capacity : PF_MAX_OF(2 * per_member, 1u);
	pf_domain_opts_init(o);
	o->members_max = *ret_members_max;
	o->vnodes_max = so->vnodes;
	o->inbox_slots = 2; /* messages are counted, not carried: the least a domain allows */
	o->msg_bytes_max = 1;
	o->state_bytes_max = 1;
	o->slot_grace_ns = 0; /* see the top of the file */
	o->sched_strategy = so->strategy;
	o->sched_seed = so->seed;
	o->assign_slots = PF_MIN(pow2_at_least(PF_MAX_OF(2 * per_member, ASSIGN_SLOTS_MIN)),
				 ASSIGN_SLOTS_MAX);
}

/* The private domain, within the caller's bound on its size (refused before it exists). */
static int domain_setup(struct sim *s)
{
	struct pf_domain_opts o;
	int r;

	domain_opts_for(&s->o, &o, &s->members_max, &s->capacity);
	r = domain_segment_bytes(&o, &s->segment_bytes);
	if (r == 0 && s->ctl.segment_bytes_max != 0 && s->segment_bytes > s->ctl.segment_bytes_max)
		r = -EFBIG;
	if (r == 0)
		r = domain_make(s, &o);
	PF_ASSERT(r != 0 || s->d != NULL);
	return r;
}

/*
 * Samples the metrics keep: every observation of one window, so its figures are never
 * clipped (pflight/metrics.h forgets the oldest when full). The simulation observes after
 * every event, and events at one time make one sample: ticks fall on SIM_TICK_NS
 * boundaries, points on interval multiples; the rest (the Poisson processes, a failure's
 * detection, a drain's deadline tick) are counted at 8 times their expected number, plus
 * 64. Pages of the ring are touched only as it fills, so a generous bound costs little.
 */
static uint32_t window_samples(const struct pf_sim_opts *o)
{
	uint64_t span = PF_MIN(o->window_ns, o->duration_ns);
	double per_min = o->join_per_min + 2 * o->failure_per_min + 2 * o->retire_per_min +
			 o->load_change_per_min;
	double n = (double)(span / SIM_TICK_NS + span / o->interval_ns + 2) +
		   8 * per_min * ((double)span / 60e9) + 64;

	return (uint32_t)fmin(fmax(n, PF_METRICS_SAMPLES_DEFAULT), PF_METRICS_SAMPLES_MAX);
}

static int arrays_setup(struct sim *s)
{
	struct pf_metrics_opts mo;
	int r;

	s->sm = calloc(s->members_max, sizeof(*s->sm));
	s->live = calloc(s->members_max, sizeof(*s->live));
	s->loads = calloc(s->members_max, sizeof(*s->loads));
	s->handle = calloc(s->o.vnodes, sizeof(*s->handle));
	s->ev_cap = 64;
	s->heap = malloc(s->ev_cap * sizeof(*s->heap));
	if (s->sm == NULL || s->live == NULL || s->loads == NULL || s->handle == NULL ||
	    s->heap == NULL)
		return -ENOMEM;
	pf_metrics_opts_init(&mo);
	mo.window_ns = s->o.window_ns;
	mo.samples_max = window_samples(&s->o);
	mo.points_max = 16; /* each point is read as soon as it is made */
	r = pf_metrics_create(&mo, &s->metrics);
	if (r == 0)
		r = pf_sched_create(s->d, NULL, &s->sched);
	if (r == 0)
		r = pf_supervisor_create(s->d, NULL, &s->sup);
	return r;
}

/* Member kinds: identity keys (as different executables would have) and failure
 * propensities spread geometrically from 1 to failure_spread. */
static void kinds_setup(struct sim *s)
{
	for (uint32_t k = 0; k < s->o.kinds; k++) {
		uint64_t x = s->o.seed ^ (UINT64_C(0x5851f42d4c957f2d) * (k + 1));

		s->kind_key[k] = splitmix64(&x) | 1u; /* never 0 */
		s->kind_weight[k] =
			s->o.kinds > 1 ? pow(s->o.failure_spread, (double)k / (s->o.kinds - 1)) : 1;
	}
}

static int push_process(struct sim *s, uint32_t type, double per_min, uint32_t stream)
{
	if (per_min <= 0)
		return 0;
	return sim_push(s, s->now + sim_rng_exp_ns(&s->rng[stream], per_min), type, 0);
}

static int processes_start(struct sim *s)
{
	int r = push_process(s, EV_JOIN, s->o.join_per_min, RNG_JOIN);

	if (r == 0)
		r = push_process(s, EV_FAIL, s->o.failure_per_min, RNG_FAIL);
	if (r == 0)
		r = push_process(s, EV_RETIRE, s->o.retire_per_min, RNG_RETIRE);
	if (r == 0)
		r = push_process(s, EV_LOAD, s->o.load_change_per_min, RNG_LOAD);
	if (s->o.messages_per_s > 0)
		s->msg_next_ns = sim_rng_exp_ns(&s->rng[RNG_MSG], s->o.messages_per_s * 60);
	else
		s->msg_next_ns = UINT64_MAX;
	return r;
}

static int sim_setup(struct sim *s)
{
	int r;

	rng_seed(s);
	kinds_setup(s);
	s->tick_at = UINT64_MAX;
	r = domain_setup(s);
	if (r == 0)
		r = sim_check(s);
	if (r == 0)
		r = arrays_setup(s);
	if (r == 0) {
		r = pf_vnode_define_range(s->d, 0, s->o.vnodes, NULL);
		r = r == (int)s->o.vnodes ? 0 : (r < 0 ? r : -EEXIST);
	}
	for (uint32_t i = 0; i < s->o.members && r == 0; i++) {
		r = sim_join(s);
		if (r == 0 && (i + 1) % PF_SIM_CHECK_JOINS == 0)
			r = sim_check(s);
	}
	if (r == 0)
		r = sim_place(s);
	if (r == 0)
		r = sim_check(s);
	if (r < 0)
		return r;
	s->phase = PF_SIM_PHASE_RUN;
	/* Time 0 is the baseline: what it took to get here is not churn. */
	s->joins = s->membership_events = s->placements = 0;
	s->unsettled = 0;
	r = processes_start(s);
	return r < 0 ? r : sim_sample(s);
}

/* A Poisson process's event happened (r: what it did); the next one is drawn. */
static int then_next(struct sim *s, int r, uint32_t type, double per_min, uint32_t stream)
{
	return r < 0 ? r : push_process(s, type, per_min, stream);
}

static int sim_step(struct sim *s, const struct sim_ev *ev)
{
	switch (ev->type) {
	case EV_JOIN:
		return then_next(s, sim_join(s), EV_JOIN, s->o.join_per_min, RNG_JOIN);
	case EV_FAIL:
		return then_next(s, sim_fail(s), EV_FAIL, s->o.failure_per_min, RNG_FAIL);
	case EV_RETIRE:
		return then_next(s, sim_retire(s), EV_RETIRE, s->o.retire_per_min, RNG_RETIRE);
	case EV_LOAD:
		return then_next(s, sim_load_change(s), EV_LOAD, s->o.load_change_per_min,
				 RNG_LOAD);
	case EV_DETECT:
		return sim_detect(s, ev->arg);
	case EV_TICK:
		return sim_tick(s);
	default:
		PF_ASSERT(ev->type == EV_SAMPLE);
		return sim_sample(s);
	}
}

int sim_check(struct sim *s)
{
	struct pf_sim_progress p;
	int r;

	if (s->ctl.check == NULL)
		return 0;
	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.phase = s->phase;
	p.time_ns = s->now;
	p.events = s->events;
	p.segment_bytes = s->segment_bytes;
	p.points = s->index;
	p.members = s->nlive;
	p.messages = s->messages;
	r = s->ctl.check(s->ctl.arg, &p);
	return r < 0 ? r : 0;
}

static int sim_loop(struct sim *s)
{
	while (s->nev > 0) {
		struct sim_ev ev = sim_pop(s);
		int r;

		if (ev.t > s->o.duration_ns)
			break;
		if (s->events % s->ctl.check_events == 0 && (r = sim_check(s)) < 0)
			return r;
		PF_ASSERT(ev.t >= s->now);
		s->now = ev.t;
		s->events++;
		r = sim_step(s, &ev);
		if (r == 0 && ev.type != EV_SAMPLE)
			r = sim_observe(s, 0); /* every change is seen when it happens */
		if (r < 0)
			return r;
	}
	return 0;
}

/* Before anyone leaves: every defined VNode is PENDING or owned by a member that is one
 * (ACTIVE or DRAINING with the owner's generation), read through the public readers. */
static uint32_t unaccounted(struct pf_domain *d, uint32_t vnodes)
{
	uint32_t bad = 0;

	for (uint32_t id = 0; id < vnodes; id++) {
		struct pf_vnode_info vi = {.size = sizeof(vi)};
		struct pf_member_info mi = {.size = sizeof(mi)};

		if (pf_vnode_info(d, id, &vi) < 0 || vi.state == PF_VNODE_UNASSIGNED) {
			bad++;
			continue;
		}
		if (vi.state == PF_VNODE_PENDING)
			continue;
		if (pf_member_info(d, vi.owner_slot, &mi) < 0 ||
		    (mi.generation & OWN_GEN_MASK) != vi.owner_generation ||
		    (mi.state != PF_MEMBER_ACTIVE && mi.state != PF_MEMBER_DRAINING))
			bad++;
	}
	return bad;
}

/* After every member left: slots still joined, and VNodes not back to PENDING. */
static void left_checks(struct sim *s, struct pf_sim_summary *sum)
{
	for (uint32_t slot = 0; slot < s->members_max; slot++) {
		struct pf_member_info mi = {.size = sizeof(mi)};

		if (pf_member_info(s->d, slot, &mi) == 0 &&
		    (mi.state == PF_MEMBER_JOINING || mi.state == PF_MEMBER_ACTIVE ||
		     mi.state == PF_MEMBER_DRAINING))
			sum->members_left_joined++;
	}
	for (uint32_t id = 0; id < s->o.vnodes; id++) {
		struct pf_vnode_info vi = {.size = sizeof(vi)};

		if (pf_vnode_info(s->d, id, &vi) < 0 || vi.state != PF_VNODE_PENDING)
			sum->vnodes_not_pending++;
	}
}

static void summary_fill(struct sim *s, struct pf_sim_summary *sum)
{
	uint64_t c[PF_COUNTER_COUNT];

	sum->preset = s->o.preset;
	sum->strategy = s->o.strategy;
	sum->points = s->index;
	sum->seed = s->o.seed;
	sum->duration_ns = s->o.duration_ns;
	sum->metrics.size = sizeof(sum->metrics);
	(void)pf_metrics_report(s->metrics, &sum->metrics);
	sum->joins = s->joins;
	sum->joins_refused = s->joins_refused;
	sum->failures = s->failures;
	sum->repairs = s->repairs;
	sum->retirements = s->retirements;
	sum->drain_released = s->drain_released;
	sum->rebalance_rounds = s->rounds;
	sum->moves_requested = s->moves_requested;
	sum->messages = s->messages;
	sum->messages_deferred = s->deferred;
	sum->events = s->events;
	if (pf_domain_counters(s->d, c, PF_COUNTER_COUNT) == PF_COUNTER_COUNT) {
		sum->domain_hung = c[PF_COUNTER_HUNG];
		sum->domain_repairs = c[PF_COUNTER_REPAIRS];
		sum->domain_vnodes_repaired = c[PF_COUNTER_VNODES_REPAIRED];
	}
	sum->vnodes_unaccounted = unaccounted(s->d, s->o.vnodes);
	sum->members_end = (uint32_t)PF_MAX_OF(pf_domain_membership(s->d, NULL), 0);
}

static void sim_free(struct sim *s)
{
	for (uint32_t i = 0; i < s->nrec; i++)
		free(s->rec[i].ids);
	free(s->rec);
	pf_supervisor_destroy(s->sup);
	pf_sched_destroy(s->sched);
	if (s->d != NULL)
		(void)pf_domain_destroy(s->d);
	pf_metrics_destroy(s->metrics);
	free(s->sm);
	free(s->live);
	free(s->loads);
	free(s->handle);
	free(s->heap);
	free(s);
}

PF_API void pf_sim_ctl_init(struct pf_sim_ctl *ctl)
{
	PF_ASSERT(ctl != NULL);
	memset(ctl, 0, sizeof(*ctl));
	ctl->size = sizeof(*ctl);
	ctl->check_events = PF_SIM_CHECK_EVENTS_DEFAULT;
}

PF_API int pf_sim_segment_bytes(const struct pf_sim_opts *opts, uint64_t *ret_bytes)
{
	struct pf_domain_opts o;
	struct pf_sim_opts so;
	uint32_t members_max, capacity;
	int r = pf_sim_opts_check(opts, NULL);

	if (r < 0)
		return r;
	if (ret_bytes == NULL)
		return -EINVAL;
	pf_sim_opts_init(&so);
	if (opts_copy(&so, sizeof(so), opts, offsetof(struct pf_sim_opts, reserved)) < 0)
		return -EINVAL;
	domain_opts_for(&so, &o, &members_max, &capacity);
	return domain_segment_bytes(&o, ret_bytes);
}

/* The caller's control, with its defaults; 0 or -EINVAL. */
static int ctl_copy(struct pf_sim_ctl *out, const struct pf_sim_ctl *in)
{
	pf_sim_ctl_init(out);
	if (in == NULL)
		return 0;
	if (opts_copy(out, sizeof(*out), in, offsetof(struct pf_sim_ctl, reserved)) < 0)
		return -EINVAL;
	for (size_t i = 0; i < PF_ARRAY_SIZE(out->reserved); i++)
		if (out->reserved[i] != 0)
			return -EINVAL;
	if (out->check_events == 0)
		out->check_events = PF_SIM_CHECK_EVENTS_DEFAULT;
	return 0;
}

PF_API int pf_sim_run(const struct pf_sim_opts *opts, struct pf_sim_summary *ret_summary,
		      pf_sim_point_fn on_point, void *arg)
{
	return pf_sim_run_ctl(opts, NULL, ret_summary, on_point, arg);
}

PF_API int pf_sim_run_ctl(const struct pf_sim_opts *opts, const struct pf_sim_ctl *ctl,
			  struct pf_sim_summary *ret_summary, pf_sim_point_fn on_point, void *arg)
{
	struct pf_sim_summary local, *sum = ret_summary != NULL ? ret_summary : &local;
	struct sim *s;
	int r;

	if (ret_summary != NULL && ret_summary->size < sizeof(*ret_summary))
		return -EINVAL;
	r = pf_sim_opts_check(opts, NULL);
	if (r < 0)
		return r;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	pf_sim_opts_init(&s->o);
	if (opts_copy(&s->o, sizeof(s->o), opts, offsetof(struct pf_sim_opts, reserved)) < 0 ||
	    ctl_copy(&s->ctl, ctl) < 0) {
		free(s);
		return -EINVAL;
	}
	s->on_point = on_point;
	s->arg = arg;
	r = sim_setup(s);
	if (r == 0)
		r = sim_loop(s);
	memset(sum, 0, sizeof(*sum));
	sum->size = sizeof(*sum);
	if (r == 0)
		summary_fill(s, sum);
	if (s->d != NULL) {
		sim_leave_all(s);
		left_checks(s, sum);
	}
	sim_free(s);
	return r;
}

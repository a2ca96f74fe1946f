/* SPDX-License-Identifier: MIT */
/* ctl/sim_impl.h: the simulator's state, shared by ctl/sim.c (options, set-up, the event
 * loop) and ctl/sim_events.c (what each event does to the domain). */
#ifndef PF_CTL_SIM_IMPL_H
#define PF_CTL_SIM_IMPL_H

#include <stdint.h>

#include "core/sched_impl.h"
#include "pflight/drain.h"
#include "pflight/metrics.h"
#include "pflight/sim.h"

/* The daemon's scheduler runs continuously; the simulation looks at pending work on a
 * 10 ms tick of its own clock, which bounds the placement delay it models. */
#define SIM_TICK_NS UINT64_C(10000000)
/* pflightd runs a rebalancing round at most once a second (tools/pflightd/daemon.h). */
#define SIM_ROUND_NS UINT64_C(1000000000)
/* Drain steps (each an O(VNodes) scan) per member per tick: a step, the owner's handoffs,
 * the next step; a member that needs more continues on the next tick. */
#define SIM_DRAIN_STEPS 4u

/* xoshiro256** state (Blackman and Vigna), seeded through splitmix64. */
struct sim_rng {
	uint64_t s[4];
};

/* The random processes, each with its own stream. */
enum sim_stream { RNG_SETUP, RNG_JOIN, RNG_FAIL, RNG_RETIRE, RNG_LOAD, RNG_MSG, RNG_STREAMS };

enum sim_ev_type {
	EV_JOIN,   /* a member arrives (Poisson) */
	EV_FAIL,   /* a live member crashes (Poisson) */
	EV_RETIRE, /* a live member is retired (Poisson) */
	EV_LOAD,   /* a member's background load changes (Poisson) */
	EV_DETECT, /* a crashed member is declared dead (arg: slot) */
	EV_TICK,   /* the scheduler looks at pending work, drains, rounds */
	EV_SAMPLE, /* a point of the series; last at a given time */
};

struct sim_ev {
	uint64_t t;
	uint64_t seq; /* insertion order: ties at the same time and type are first come */
	uint32_t type;
	uint32_t arg;
};

enum sim_member_state { SM_FREE, SM_LIVE, SM_DRAINING, SM_CRASHED };

struct sim_member {
	struct pf_member *m;
	uint32_t state; /* enum sim_member_state */
	uint32_t kind;
	uint32_t gen;
	uint32_t live_pos;   /* index in sim.live while live or draining */
	uint32_t capacity;   /* VNodes at full load (its join option) */
	uint32_t drain_wait; /* the drain found no target: wait for a join or the deadline */
	double base_load;    /* background CPU fraction */
	double cpu;          /* CPU load last reported (background + messages) */
	uint64_t msgs;       /* messages handled since the last sample */
	uint64_t drain_start_ns;
	struct pf_drain_report drain;
};

/* A crashed member's VNodes, until every one is owned by a live member again. */
struct sim_recovery {
	uint64_t crash_ns;
	uint32_t n;
	uint32_t *ids;
};

struct sim {
	struct pf_sim_opts o;
	struct pf_sim_ctl ctl; /* the caller's control: checks, the domain's name and bound */
	uint32_t phase;        /* enum pf_sim_phase */
	uint32_t reserved1;
	uint64_t segment_bytes; /* the private domain's */
	struct sim_rng rng[RNG_STREAMS];
	struct pf_domain *d;
	struct pf_sched *sched;
	struct pf_supervisor *sup;
	struct pf_metrics *metrics;
	uint32_t members_max;
	uint32_t capacity;     /* mean member capacity */
	struct sim_member *sm; /* by slot */
	uint32_t *live;        /* slots of LIVE and DRAINING members */
	uint32_t nlive;
	uint32_t ndraining;
	uint32_t ncrashed;
	struct pf_vnode **handle; /* by VNode id: the handle of its live owner */
	struct sim_ev *heap;
	uint32_t nev;
	uint32_t ev_cap;
	uint64_t seq;
	uint64_t now;
	uint64_t tick_at;  /* the tick scheduled, UINT64_MAX: none */
	uint64_t round_at; /* no rebalancing round before this */
	int unsettled;     /* membership changed since the last round that moved nothing */
	int loads_dirty;   /* a load was reported: the scheduler's model is stale */
	struct sim_recovery *rec;
	uint32_t nrec;
	uint32_t rec_cap;
	uint64_t kind_key[PF_SIM_KINDS_MAX];
	double kind_weight[PF_SIM_KINDS_MAX];
	double *loads;        /* members_max, for observations */
	uint64_t msg_next_ns; /* arrival time of the next message */
	uint64_t last_sample_ns;
	uint64_t point_cursor; /* the metrics series' next point */
	uint32_t index;        /* points emitted */
	uint32_t reserved0;
	/* Cumulative counts (the metrics' and the summary's). */
	uint64_t joins, joins_refused, failures, repairs, retirements, drain_released;
	uint64_t rounds, moves_requested, messages, deferred, events;
	uint64_t placements, changes, migrations, migration_bytes, membership_events;
	pf_sim_point_fn on_point;
	void *arg;
};

/* PRNG (ctl/sim.c). */
uint64_t sim_rng_next(struct sim_rng *r);
double sim_rng_unit(struct sim_rng *r);                /* (0, 1] */
uint32_t sim_rng_below(struct sim_rng *r, uint32_t n); /* [0, n), n > 0 */
/* Time to the next event of a Poisson process of `per_min` events a minute (> 0). */
uint64_t sim_rng_exp_ns(struct sim_rng *r, double per_min);

/* Events (ctl/sim.c): schedule one; schedule the tick at the next tick boundary. */
int sim_push(struct sim *s, uint64_t t, uint32_t type, uint32_t arg);
int sim_tick_soon(struct sim *s);

/* What events do (ctl/sim_events.c); each returns 0 or a negative errno. */
int sim_join(struct sim *s);
int sim_fail(struct sim *s);
int sim_detect(struct sim *s, uint32_t slot);
int sim_retire(struct sim *s);
int sim_load_change(struct sim *s);
int sim_tick(struct sim *s);
int sim_sample(struct sim *s);
/* Place everything placeable, the winners adopting. */
int sim_place(struct sim *s);
/* Feed the metrics accumulator the state now (flags: PF_METRICS_OBS_*). */
int sim_observe(struct sim *s, uint32_t flags);
/* Every member leaves (the end of a run, or a failed set-up). */
void sim_leave_all(struct sim *s);
/* Ask the caller whether to go on (pf_sim_ctl.check): 0, or the errno that stops the run. */
int sim_check(struct sim *s);

#endif /* PF_CTL_SIM_IMPL_H */

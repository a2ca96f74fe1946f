/* SPDX-License-Identifier: MIT */
/*
 * pflight/sim.h: a seeded, reproducible discrete-event simulation of a domain under churn,
 * driving the real registry and scheduler, reported as the DMA metrics over time.
 *
 * pf_sim_run() creates a private domain of its own (a unique name, or the caller's with
 * pf_sim_run_ctl(); destroyed at the end; never a live one), defines the VNodes, joins the
 * members through pf_member_join()'s own path, and then plays a simulated clock: members
 * join, crash and retire as Poisson processes, their CPU loads change, messages arrive.
 * Everything that happens to the registry goes through the library as it would in
 * production:
 *   placement     pf_sched_run() on a scheduler tick (every 10 ms of simulated time while
 *                 there is work), the winners adopting with pf_vnode_adopt();
 *   joins         pf_member_join() (one thread joins every member; each holds its own
 *                 robust futex), then rebalancing rounds (pf_sched_rebalance(), at most
 *                 one per simulated second while the membership is unsettled) whose moves
 *                 the owners honour with pf_vnode_handoff();
 *   crashes       the member stops serving at once (its VNodes count as unavailable);
 *                 after the heartbeat timeout the supervisor's own repair path declares it
 *                 dead (cause "hung") and returns its VNodes to PENDING, to be placed again;
 *   retirements   pf_member_cordon(PF_DRAIN_RETIRE), then pf_sched_drain_step() on each
 *                 tick, the owner handing VNodes over, released to PENDING at the drain
 *                 deadline if no member can take them;
 *   loads         pf_member_report_load(): a member's background CPU load changes at
 *                 random, and the messages it handled add their cost to it;
 *   messages      each goes to a random VNode: handled by its owner when a live member
 *                 owns it, deferred otherwise (counted, cheap: no inbox traffic).
 * The metrics accumulator (pflight/metrics.h) is fed after every change and reports a
 * point at every sample interval.
 *
 * Determinism: the simulated clock and a seeded PRNG (xoshiro256**, one stream per
 * random process, so changing one rate does not move the others' events) decide
 * everything; the scheduler's ties come from the same seed; members take slots in the
 * same order. The same options give the same points and summary, byte for byte, in any
 * process (the wall clock is never read into a result). One limit: a member's failure
 * history forgets one failure per 10 minutes of wall time (core/history.c), so a
 * simulation that itself ran for longer than that would see reliabilities recover.
 *
 * Presets (pf_sim_opts_preset()), the paradigms of the PhoenixFlight case studies:
 *   dma           trust-weighted, the default: moderate churn, failures recorded in each
 *                 member kind's history lower its reliability and so its score
 *   distributed   Phoenix: consistent-hash over the VNode ring, hosts that come and go
 *                 rarely
 *   cloud-native  bin-packing, pods of varied capacity joining and retiring often
 *   ai-agents     agent routing over unreliable agents: frequent crashes, kinds whose
 *                 failure rates differ 20-fold, slow detection
 *
 * Rates are per minute for the whole domain (a failure picks its victim among the live
 * members, weighted by its kind's failure propensity).
 *
 * Cost: setting up is O(VNodes + members); each event costs what its library calls cost
 * (a repair, a drain step and a rebalancing round are O(VNodes) scans); a sample is
 * O(members). bench/bench_sim.c measures 1,000 members, 100,000 VNodes and 10 simulated
 * minutes of each preset against placing the same VNodes once. Blocking (CPU-bound); one
 * simulation per thread at a time (its members' robust futexes are the thread's); any
 * number of threads may each run one.
 */
#ifndef PFLIGHT_SIM_H
#define PFLIGHT_SIM_H

#include <stdint.h>

#include "pflight/common.h"
#include "pflight/metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

enum pf_sim_preset {
	PF_SIM_DMA = 0,
	PF_SIM_DISTRIBUTED = 1,
	PF_SIM_CLOUD_NATIVE = 2,
	PF_SIM_AI_AGENTS = 3,
};

/* Limits. Members at once: every simulated member holds a robust futex of the simulating
 * thread, and the kernel walks at most 2,048 of a thread's. */
#define PF_SIM_MEMBERS_MAX 2048u
#define PF_SIM_DURATION_NS_MAX (UINT64_C(86400) * 1000000000u) /* one simulated day */
#define PF_SIM_INTERVAL_NS_MIN UINT64_C(1000000)               /* 1 ms */
#define PF_SIM_POINTS_MAX 1000000u                             /* samples in one run */
#define PF_SIM_RATE_MAX 1000000.0                              /* events per minute, any process */
#define PF_SIM_MESSAGES_MAX 10000000.0                         /* messages per second */
#define PF_SIM_KINDS_MAX 64u                                 /* kinds (identity keys) of members */
#define PF_SIM_SPREAD_MAX 1000.0                             /* failure_spread, capacity_spread */
#define PF_SIM_TIMEOUT_NS_MAX (UINT64_C(3600) * 1000000000u) /* heartbeat, drain deadline */

/* Stable name of a preset ("dma", "distributed", "cloud-native", "ai-agents"), or NULL. */
PF_API const char *pf_sim_preset_name(uint32_t preset);

/* The preset named `name`: its enum value (>= 0), -ENOENT (no such preset) or -EINVAL
 * (NULL). */
PF_API int pf_sim_preset_find(const char *name);

struct pf_sim_opts {
	uint32_t size;     /* sizeof(struct pf_sim_opts) */
	uint32_t flags;    /* none yet, 0 */
	uint32_t preset;   /* enum pf_sim_preset: what the defaults came from (reported) */
	uint32_t strategy; /* enum pf_sched_strategy (pflight/sched.h) */
	uint32_t members;  /* at start, 0..PF_SIM_MEMBERS_MAX */
	uint32_t vnodes;   /* 1..PF_VNODES_MAX */
	uint64_t seed;
	uint64_t duration_ns;          /* simulated, >= interval_ns, <= PF_SIM_DURATION_NS_MAX */
	uint64_t interval_ns;          /* sample period, >= PF_SIM_INTERVAL_NS_MIN */
	uint64_t heartbeat_timeout_ns; /* crash -> declared dead, 0..PF_SIM_TIMEOUT_NS_MAX */
	uint64_t drain_deadline_ns;    /* retire -> the rest released, 0..PF_SIM_TIMEOUT_NS_MAX */
	uint64_t window_ns;            /* metrics window (pflight/metrics.h limits) */
	double join_per_min;           /* Poisson rates, 0..PF_SIM_RATE_MAX */
	double failure_per_min;
	double retire_per_min;
	double load_change_per_min; /* a random member's background CPU load is redrawn */
	double messages_per_s;      /* 0..PF_SIM_MESSAGES_MAX */
	uint64_t message_cost_ns;   /* CPU a message costs its owner, <= 1 s */
	double load_max;            /* background CPU loads are uniform in [0, load_max], 0..1 */
	double failure_spread;      /* most / least failure-prone kind, 1..PF_SIM_SPREAD_MAX */
	double capacity_spread;     /* largest / smallest member capacity, 1..PF_SIM_SPREAD_MAX */
	uint32_t kinds;             /* member kinds (identity keys), 1..PF_SIM_KINDS_MAX */
	uint32_t vnode_capacity;    /* mean VNodes a member holds at full load; 0: 2 x vnodes
				     * / members (half full when spread evenly) */
	uint64_t state_bytes;       /* checkpoint bytes one migration carries, <= 1 GiB */
	uint64_t reserved[4];       /* must be zero */
};

/* The "dma" preset's options (members 100, VNodes 10,000, 10 minutes, 1 s samples,
 * seed 1), with opts->size. */
PF_API void pf_sim_opts_init(struct pf_sim_opts *opts);

/* Fill opts with the defaults of `preset` (strategy, rates, spreads, timeouts; the sizes,
 * duration, interval and seed are those of pf_sim_opts_init()). 0 or -EINVAL (NULL, or an
 * unknown preset). */
PF_API int pf_sim_opts_preset(struct pf_sim_opts *opts, uint32_t preset);

/*
 * Check options without running. Returns 0, or the errno pf_sim_run() would return with
 * *reterr_field (may be NULL) naming the field at fault ("members", "join_per_min"...):
 *   -EINVAL  opts NULL, size smaller than the first published struct, unknown flags,
 *            preset or strategy, a reserved field set, a rate or spread not finite or
 *            below its minimum, interval 0 or longer than the duration, kinds 0
 *   -E2BIG   members, VNodes, duration, a rate, a spread, a timeout, kinds, the message
 *            cost, state_bytes or the number of samples above its limit
 */
PF_API int pf_sim_opts_check(const struct pf_sim_opts *opts, const char **reterr_field);

/* One sample of the simulation. */
struct pf_sim_point {
	uint32_t size;  /* sizeof(struct pf_sim_point) */
	uint32_t index; /* 0 at time 0, then one per interval; the last at the duration */
	struct pf_metrics_point metrics; /* the window's figures at this time */
	uint32_t members_draining;       /* of metrics.members_active */
	uint32_t members_crashed;        /* crashed, not declared dead yet (not active) */
	uint64_t joins;                  /* cumulative from here on */
	uint64_t failures;
	uint64_t retirements;
	uint64_t messages;
	uint64_t messages_deferred;
	uint64_t reserved[2];
};

/* Called for every point, in order, from pf_sim_run()'s thread. Return 0 to go on, or a
 * negative errno to stop the run (pf_sim_run() then returns it). */
typedef int (*pf_sim_point_fn)(void *arg, const struct pf_sim_point *point);

struct pf_sim_summary {
	uint32_t size; /* set by the caller: sizeof(struct pf_sim_summary) */
	uint32_t preset;
	uint32_t strategy;
	uint32_t points;
	uint64_t seed;
	uint64_t duration_ns;
	struct pf_metrics_report metrics; /* total: the whole run; window: its last window */
	uint64_t joins;
	uint64_t joins_refused; /* no free member slot */
	uint64_t failures;
	uint64_t repairs;     /* failures declared dead (the rest were still within the timeout) */
	uint64_t retirements; /* drains finished */
	uint64_t drain_released; /* VNodes released to PENDING at a drain deadline */
	uint64_t rebalance_rounds;
	uint64_t moves_requested; /* by rebalancing rounds */
	uint64_t messages;
	uint64_t messages_deferred;
	uint64_t events; /* simulated events processed */
	/* The domain's own counters at the end (pflight/domain.h): deaths declared by heartbeat
	 * timeout, repairs completed and VNodes they returned. */
	uint64_t domain_hung;
	uint64_t domain_repairs;
	uint64_t domain_vnodes_repaired;
	/* Invariants checked on the private domain before it is destroyed, by reading every
	 * VNode and member slot (each must be 0): */
	uint32_t vnodes_unaccounted;  /* at the end: defined, yet neither PENDING nor owned by a
				       * member that is a member */
	uint32_t members_left_joined; /* after every member left: slots still JOINING, ACTIVE
				       * or DRAINING */
	uint32_t vnodes_not_pending;  /* after every member left: VNodes not PENDING */
	uint32_t members_end;         /* members at the end, before they left */
	uint64_t reserved[4];
};

/*
 * Run the simulation `opts` describes, calling on_point (may be NULL) for each sample,
 * and fill *ret_summary (may be NULL). Returns 0, or:
 *   -EINVAL, -E2BIG  the options (pf_sim_opts_check() names the field)
 *   -ENOMEM, -ENOSPC, -EMFILE, -EUSERS  no resources for the private domain or its members
 *   -ENOTSUP  robust futexes are not available (members cannot join)
 *   a negative errno returned by on_point
 * Whatever the outcome, the private domain is gone and every member has left. Blocking;
 * any thread (see the concurrency note above).
 */
PF_API int pf_sim_run(const struct pf_sim_opts *opts, struct pf_sim_summary *ret_summary,
		      pf_sim_point_fn on_point, void *arg);

/* Where a run is, as pf_sim_ctl.check sees it. */
enum pf_sim_phase {
	PF_SIM_PHASE_SETUP = 0, /* the private domain made, its members joining, first placement */
	PF_SIM_PHASE_RUN = 1,   /* the simulated clock running */
};

struct pf_sim_progress {
	uint32_t size;          /* sizeof(struct pf_sim_progress) */
	uint32_t phase;         /* enum pf_sim_phase */
	uint64_t time_ns;       /* simulated time reached */
	uint64_t events;        /* events simulated so far */
	uint64_t segment_bytes; /* the private domain's segment */
	uint32_t points;        /* samples made so far */
	uint32_t members;       /* members joined (set-up) or live (run) */
	uint64_t messages;      /* messages simulated so far */
	uint64_t reserved[2];
};

/* Asked as a run goes whether to go on: 0, or a negative errno that stops the run there
 * (pf_sim_run_ctl() returns it, after the usual teardown). pf_sim_run_ctl()'s thread. */
typedef int (*pf_sim_check_fn)(void *arg, const struct pf_sim_progress *progress);

#define PF_SIM_CHECK_EVENTS_DEFAULT 16u /* events between two checks */
#define PF_SIM_CHECK_MESSAGES 65536u    /* and messages, within one sample's batch */
#define PF_SIM_CHECK_JOINS 64u          /* and members joined, while setting up */

/* How a caller controls a run: its cancellation points, its domain's name and size. */
struct pf_sim_ctl {
	uint32_t size;              /* sizeof(struct pf_sim_ctl) */
	uint32_t check_events;      /* events between two calls of check; 0: the default */
	const char *domain_name;    /* the private domain's name (pf_domain_create's rules; it
				     * must not exist); NULL: "pfsim-<pid>-<n>" */
	uint64_t segment_bytes_max; /* refuse (-EFBIG) a run whose domain would map more; 0:
				     * no bound beyond pf_domain_create's */
	pf_sim_check_fn check;      /* NULL: never asked */
	void *arg;
	uint64_t reserved[4]; /* must be zero */
};

/* Defaults: size set, check every PF_SIM_CHECK_EVENTS_DEFAULT events (with no check
 * function, nobody is asked), the default name, no size bound. */
PF_API void pf_sim_ctl_init(struct pf_sim_ctl *ctl);

/*
 * The bytes of shared memory the private domain of a run of opts maps (what
 * pf_sim_ctl.segment_bytes_max bounds), without creating anything. Returns 0, or the
 * errno pf_sim_opts_check() returns, or -EFBIG (larger than a domain can be).
 */
PF_API int pf_sim_segment_bytes(const struct pf_sim_opts *opts, uint64_t *ret_bytes);

/*
 * pf_sim_run() under the caller's control (ctl may be NULL: pf_sim_run() itself). Once
 * the private domain exists, ctl->check is asked whether to go on: every PF_SIM_CHECK_JOINS
 * members joined and after the first placement, then every ctl->check_events events of
 * the run and every PF_SIM_CHECK_MESSAGES messages of a sample, so that a run of any size
 * stops within a few events of being asked to (an event costs at most a scan of the
 * VNodes). Returns what pf_sim_run() returns, or:
 *   -EINVAL   ctl's size, a reserved field, or its domain_name is not a valid name
 *   -EEXIST   a domain named ctl->domain_name exists
 *   -EFBIG    the private domain would map more than ctl->segment_bytes_max (nothing made)
 *   the negative errno ctl->check returned
 * Whatever the outcome, the private domain is gone and every member has left.
 */
PF_API int pf_sim_run_ctl(const struct pf_sim_opts *opts, const struct pf_sim_ctl *ctl,
			  struct pf_sim_summary *ret_summary, pf_sim_point_fn on_point, void *arg);

#ifdef __cplusplus
}
#endif

#endif /* PFLIGHT_SIM_H */

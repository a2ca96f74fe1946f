/* SPDX-License-Identifier: MIT */
/*
 * pflight/metrics.h: the DMA metrics of a domain, over a sliding window and since start,
 * their time series, and their Prometheus text exposition.
 *
 * An accumulator (struct pf_metrics) is fed observations: snapshots of a domain at a time
 * the caller chooses (time never goes backwards), with cumulative counts of what happened
 * so far. It keeps a bounded number of them and answers for the window that ends at the
 * latest observation and for everything since the first. It reads no clock and no shared
 * memory: the daemon feeds it from the live domain (pf_metrics_sampler_step() below), the
 * simulator (pflight/sim.h) from its own clock, tests from hand-made numbers. The same
 * observations always give the same figures.
 *
 * Definitions (ARCHITECTURE.md section 6). Between two observations the values of the
 * earlier one hold (sample and hold); integrals are taken over the span covered.
 *   availability  A = owned VNode-seconds / defined VNode-seconds
 *                     (1 when no VNode was defined during the span)
 *   stability     S = max(0, 1 - ownership changes / mean VNodes defined)
 *                     (1 when no VNode was defined); an ownership change is an owned VNode
 *                     losing its owner: released, repaired after a death, or moved to
 *                     another member. A first placement is not a change.
 *   churn         membership events (joins, departures: deaths, leaves, drains finished)
 *                 per minute, and per minute per member (divided by the time-averaged
 *                 number of active members, at least 1)
 *   load          per member, as the scheduler sees it (pflight/sched.h):
 *                 cpu_load + VNodes held / capacity
 *   load stddev   population standard deviation of the member loads of an observation;
 *                 over a span, its time average
 *   load balance  B = 1 - min(1, stddev / mean) of an observation (1 with no member or
 *                 a mean of 0); over a span, its time average
 *   rebalancing overhead = VNodes migrated / mean VNodes owned (0 when none was owned)
 *   health        100 x A x (0.5 + 0.5 S) x (0.5 + 0.5 B), from the span's A, S and B
 *   recovery      crash-to-recovered latencies recorded in the span: p50, p99 (nearest
 *                 rank: the value at rank ceil(p x n) of the n sorted) and max
 *   placements    VNodes placed from PENDING, per second
 *   migration bytes  state bytes the span's migrations carried
 * A span of zero length (a single observation) takes the observation's own values, and
 * its rates are 0.
 *
 * Concurrency: an accumulator is not thread-safe; one thread feeds and reads it (or the
 * caller locks). No function blocks, and none allocates after pf_metrics_create().
 */
#ifndef PFLIGHT_METRICS_H
#define PFLIGHT_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "pflight/common.h"
#include "pflight/domain.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pf_metrics;

#define PF_METRICS_WINDOW_NS_DEFAULT (UINT64_C(60) * 1000000000u) /* 60 s */
/* 1 ms .. 1 day: a window shorter than the sampling period says nothing, and a day of
 * one-second observations is what the kept samples can hold. */
#define PF_METRICS_WINDOW_NS_MIN UINT64_C(1000000)
#define PF_METRICS_WINDOW_NS_MAX (UINT64_C(86400) * 1000000000u)
/* Observations kept for windows: a minute at 60 per second by default. An observation
 * costs about 120 bytes. */
#define PF_METRICS_SAMPLES_DEFAULT 4096u
#define PF_METRICS_SAMPLES_MAX (1u << 20)
/* Series points kept for charts: an hour at one per second by default (~190 bytes each). */
#define PF_METRICS_POINTS_DEFAULT 3600u
#define PF_METRICS_POINTS_MAX (1u << 20)
/* Recovery latencies kept for percentiles (16 bytes each). */
#define PF_METRICS_LATENCIES_DEFAULT 4096u
#define PF_METRICS_LATENCIES_MAX (1u << 20)

struct pf_metrics_opts {
	uint32_t size;          /* sizeof(struct pf_metrics_opts) */
	uint32_t flags;         /* none yet, 0 */
	uint64_t window_ns;     /* PF_METRICS_WINDOW_NS_MIN..MAX, default 60 s */
	uint32_t samples_max;   /* 2..PF_METRICS_SAMPLES_MAX, default PF_METRICS_SAMPLES_DEFAULT */
	uint32_t points_max;    /* 1..PF_METRICS_POINTS_MAX, default PF_METRICS_POINTS_DEFAULT */
	uint32_t latencies_max; /* 1..PF_METRICS_LATENCIES_MAX, default 4096 */
	uint32_t reserved0;     /* must be zero */
	uint64_t reserved[4];   /* must be zero */
};

/* Fill opts with the defaults above and opts->size. */
PF_API void pf_metrics_opts_init(struct pf_metrics_opts *opts);

/*
 * Create an accumulator (opts may be NULL: defaults). Everything it keeps is allocated
 * here. Returns 0 and *ret_metrics, or:
 *   -EINVAL  opts->size smaller than the first published struct, unknown flags, a limit
 *            out of range, a reserved field set, ret_metrics NULL
 *   -ENOMEM  no memory for the samples, points or latencies kept
 * Any thread.
 */
PF_API int pf_metrics_create(const struct pf_metrics_opts *opts, struct pf_metrics **ret_metrics);

/* Free an accumulator. Accepts NULL. */
PF_API void pf_metrics_destroy(struct pf_metrics *metrics);

/* Observation flags. */
#define PF_METRICS_OBS_POINT 0x1u /* also append a point to the series (charts) */

/* One observation of a domain. Counts are cumulative (since any origin the caller likes:
 * only their differences are used); the first observation is the baseline. */
struct pf_metrics_obs {
	uint32_t size;  /* sizeof(struct pf_metrics_obs) */
	uint32_t flags; /* PF_METRICS_OBS_* */
	uint64_t time_ns;
	uint32_t vnodes_defined;    /* VNodes defined (PENDING or owned) */
	uint32_t vnodes_owned;      /* of those, owned by a member able to serve them */
	uint32_t members_active;    /* ACTIVE or DRAINING */
	uint32_t loads_count;       /* entries of loads, 0..PF_MEMBERS_MAX */
	const double *loads;        /* per active member, finite and >= 0; read during the call */
	uint64_t ownership_changes; /* owned VNodes that lost their owner */
	uint64_t membership_events; /* joins and departures */
	uint64_t migrations;        /* VNodes moved from one member to another with their state */
	uint64_t migration_bytes;   /* state bytes those moves carried */
	uint64_t placements;        /* VNodes placed from PENDING */
	uint64_t reserved[2];       /* must be zero */
};

/*
 * Feed one observation. An observation at the same time as the previous one replaces its
 * values from then on (a span of zero length adds nothing). Returns 0, or:
 *   -EINVAL  metrics or obs NULL, obs->size too small, unknown flags, a reserved field set,
 *            vnodes_owned > vnodes_defined, loads NULL with loads_count > 0, a load
 *            negative or not finite, a cumulative count smaller than the previous one
 *   -ERANGE  time_ns earlier than the previous observation's (time went backwards)
 *   -E2BIG   loads_count > PF_MEMBERS_MAX
 * On error nothing is recorded. O(loads_count); when samples_max observations are kept,
 * the oldest is forgotten (windows that reach past it are clipped, see the report flags).
 */
PF_API int pf_metrics_observe(struct pf_metrics *metrics, const struct pf_metrics_obs *obs);

/*
 * Record one crash-to-recovered latency: a member died at time_ns - latency_ns and every
 * VNode it held was owned again at time_ns. Counted in the spans that contain time_ns.
 * Returns 0, -EINVAL (metrics NULL), -ERANGE (time_ns earlier than the previous latency's,
 * or latency_ns > time_ns). When latencies_max are kept the oldest is forgotten.
 */
PF_API int pf_metrics_record_recovery(struct pf_metrics *metrics, uint64_t time_ns,
				      uint64_t latency_ns);

/* The figures of one span (the window, or since the first observation). */
struct pf_metrics_figures {
	uint64_t span_ns;                /* time covered */
	double availability;             /* A, 0..1 */
	double stability;                /* S, 0..1 */
	double churn_per_min;            /* membership events per minute */
	double churn_per_member_per_min; /* the same per active member */
	double load_stddev;              /* time-averaged */
	double load_balance;             /* B, 0..1, time-averaged */
	double rebalance_overhead;       /* migrations / mean VNodes owned, >= 0 */
	double health;                   /* 0..100 */
	double placements_per_s;
	double members_mean;      /* time-averaged active members */
	double vnodes_owned_mean; /* time-averaged VNodes owned */
	uint64_t membership_events;
	uint64_t ownership_changes;
	uint64_t migrations;
	uint64_t migration_bytes;
	uint64_t placements;
	uint64_t recoveries; /* latencies recorded in the span (and still kept) */
	uint64_t recovery_ns_p50;
	uint64_t recovery_ns_p99;
	uint64_t recovery_ns_max;
};

/* Report flags. */
#define PF_METRICS_WINDOW_CLIPPED                                                                  \
	0x1u /* the window reaches past the oldest observation                                     \
	      * kept: it covers less than window_ns */
#define PF_METRICS_RECOVERY_TRUNCATED                                                              \
	0x2u /* more latencies were recorded than are kept:                                        \
	      * the since-start percentiles are of the last                                        \
	      * latencies_max (count, sum and max stay exact) */

struct pf_metrics_report {
	uint32_t size;           /* set by the caller: sizeof(struct pf_metrics_report) */
	uint32_t flags;          /* PF_METRICS_WINDOW_CLIPPED, PF_METRICS_RECOVERY_TRUNCATED */
	uint64_t time_ns;        /* of the latest observation: both spans end here */
	uint64_t window_ns;      /* as configured */
	uint32_t vnodes_defined; /* the latest observation's */
	uint32_t vnodes_owned;
	uint32_t members_active;
	uint32_t reserved0;
	uint64_t observations;     /* fed since creation */
	uint64_t recoveries_total; /* latencies recorded since creation */
	uint64_t recovery_ns_sum;  /* their sum */
	struct pf_metrics_figures window;
	struct pf_metrics_figures total; /* since the first observation */
	uint64_t reserved[2];
};

/*
 * The figures now (as of the latest observation). Returns 0 and fills *report, or
 * -EINVAL (NULL, report->size too small) or -ENODATA (nothing observed yet).
 * O(log samples_max + latencies in the window x log of that).
 */
PF_API int pf_metrics_report(struct pf_metrics *metrics, struct pf_metrics_report *report);

/* One point of the series: the window's figures as they were at time_ns. */
struct pf_metrics_point {
	uint64_t time_ns;
	uint32_t vnodes_defined;
	uint32_t vnodes_owned;
	uint32_t members_active;
	uint32_t reserved0;
	struct pf_metrics_figures window;
};

/*
 * Copy series points with sequence numbers from *cursor on (0: the first ever) into out,
 * at most count, and advance *cursor past the last one copied. Points no longer kept
 * (more than points_max newer ones were appended) are skipped: the cursor jumps to the
 * oldest kept. Returns the number copied (>= 0) or -EINVAL (NULL metrics or cursor, out
 * NULL with count > 0).
 */
PF_API int pf_metrics_points(struct pf_metrics *metrics, uint64_t *cursor,
			     struct pf_metrics_point *out, uint32_t count);

/*
 * Render the current figures in the Prometheus text exposition format (version 0.0.4):
 * every metric named pflight_*, in base units (_seconds, _bytes, _ratio; counters end in
 * _total), each with its # HELP and # TYPE lines before its samples; spans are a label,
 * window="<window>s" and window="total". The recovery latency is a summary whose
 * quantiles (0.5, 0.99) are over the window and whose _sum and _count are since start;
 * a quantile with no latency in the window is NaN. Writes at most cap bytes including a
 * terminating NUL and sets *ret_len to the length of the whole text (without the NUL).
 * Returns 0, or:
 *   -ENOBUFS  cap <= *ret_len: buf holds a truncated text; call again with *ret_len + 1
 *   -ENODATA  nothing observed yet (*ret_len = 0)
 *   -EINVAL   metrics or ret_len NULL, buf NULL with cap > 0
 * About 4 KiB of text; O(latencies in the window).
 */
PF_API int pf_metrics_prometheus(struct pf_metrics *metrics, char *buf, size_t cap,
				 size_t *ret_len);

/*
 * The live-domain sampler: builds observations of a domain from its shared memory, for
 * pf_metrics_observe(); it never writes to the segment. It remembers the ownership word it
 * last saw of every VNode and the state of every member slot (pf_member_info()), and counts
 * from their differences: an owner lost (ownership change), PENDING -> owned (placement),
 * owner -> other owner in one epoch (migration, with the VNode's last committed checkpoint
 * size as its bytes), a slot's generation becoming ACTIVE (join) or leaving ACTIVE/DRAINING
 * (departure). Changes between two looks at a VNode are inferred from its epoch, assuming
 * the fewest moves; the first sweep is the baseline and counts nothing. Every word read is
 * validated (a state or owner slot no writer produces is counted as refused, like any
 * reader's, and skipped).
 *
 * Cost: a full sweep reads every VNode's 8-byte ownership word (O(vnodes_max), about 1 ns
 * each: 1,048,576 VNodes in about 1.5 ms) and every member slot (O(members_max), about
 * 100 ns each); memory 8 bytes per VNode plus 24 per member slot. Bounded per call: each
 * step reads at most vnodes_per_call VNodes, and the observation comes when a sweep
 * completes. For pflightd: a full sweep (vnodes_per_call = 0) once a second costs well
 * under 1% of a core at the domain maximum; steps of 65,536 VNodes cap any one call at
 * about 0.1 ms. VNodes owned are those the registry says are owned: a member dead but not
 * yet declared so still counts as serving.
 */
struct pf_metrics_sampler;

struct pf_metrics_sampler_opts {
	uint32_t size;            /* sizeof(struct pf_metrics_sampler_opts) */
	uint32_t flags;           /* none yet, 0 */
	uint32_t vnodes_per_call; /* VNodes read per step, 0: all (one sweep per step) */
	uint32_t reserved0;       /* must be zero */
	uint64_t reserved[2];     /* must be zero */
};

PF_API void pf_metrics_sampler_opts_init(struct pf_metrics_sampler_opts *opts);

/*
 * A sampler of `domain` (opts may be NULL: defaults). Returns 0 and *ret_sampler, or
 * -EINVAL (NULL domain or ret_sampler, bad opts), -ENOMEM. The domain must outlive it.
 */
PF_API int pf_metrics_sampler_create(struct pf_domain *domain,
				     const struct pf_metrics_sampler_opts *opts,
				     struct pf_metrics_sampler **ret_sampler);

PF_API void pf_metrics_sampler_destroy(struct pf_metrics_sampler *sampler);

/*
 * One step at time now_ns (CLOCK_MONOTONIC, or any clock that does not go backwards).
 * Returns 1 when this step completed a sweep and *ret_obs holds its observation (loads
 * point into the sampler and stay valid until its next step), 0 when the sweep goes on,
 * or -EINVAL (NULL arguments, ret_obs->size too small). Wait-free reads of shared memory;
 * not thread-safe per sampler.
 */
PF_API int pf_metrics_sampler_step(struct pf_metrics_sampler *sampler, uint64_t now_ns,
				   struct pf_metrics_obs *ret_obs);

#ifdef __cplusplus
}
#endif

#endif /* PFLIGHT_METRICS_H */

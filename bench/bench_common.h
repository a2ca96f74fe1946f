/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_common.h: what every benchmark shares: CPU placement, clocks,
 * percentiles, and the one-JSON-object-per-line result format (STYLE 10.12).
 *
 * Ratio convention: ratio > 1 always means ours is better than the baseline. For a
 * metric where higher is better (throughput) ratio = ours / baseline; where lower is
 * better (latency) ratio = baseline / ours. Each line says which in higher_is_better.
 * A goal is a minimum ratio, except where goal_on_value says it is an absolute bound on
 * the value (1 M claims/s, 10 ms); the line's "goal_on" says which ("ratio", "value").
 */
#ifndef PF_BENCH_COMMON_H
#define PF_BENCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BENCH_CPUS_MAX 8u

/* One result line. Strings are borrowed; NULL baseline means "no baseline built". */
struct bench_result {
	const char *bench;    /* e.g. "ring" */
	const char *subject;  /* what ours is, e.g. "ring_mpmc" */
	const char *metric;   /* e.g. "items_per_s" */
	const char *unit;     /* e.g. "items/s" */
	double value;         /* ours */
	const char *baseline; /* e.g. "rte_ring MP/MC"; NULL when none */
	double baseline_value;
	bool higher_is_better;
	double goal;        /* minimum ratio; <= 0 means informational */
	bool goal_on_value; /* goal bounds value itself (>= if higher_is_better, else <=) */
	const char *placement;
	const int *cpus;
	unsigned cpus_count;
	uint64_t iterations;
	unsigned batch;
	unsigned elem_bytes;
	unsigned samples;            /* repetitions the value is the median of */
	double value_min, value_max; /* spread of ours over the samples */
};

/* Pin the calling thread (process) to one CPU, or allow it a set. 0 or -errno. */
int bench_pin_cpu(int cpu);
int bench_allow_cpus(const int *cpus, unsigned count);

/*
 * The two CPUs of a placement: "same-node" (two cores of one node, cpus 0 and 1 by
 * default), "same-core-smt" (cpu 0 and its SMT sibling), "cross-node" (first cpus of
 * nodes 0 and 1). Returns 0, -EINVAL (unknown name) or -ENODEV (the machine lacks it).
 */
int bench_placement_cpus(const char *placement, int ret_cpus[2]);

uint64_t bench_now_ns(void); /* CLOCK_MONOTONIC */
uint64_t bench_rdtsc(void);  /* TSC on x86, else the monotonic clock in ns */

/* The p-th percentile (0..100) of v[0..n), sorting v in place; n > 0. */
double bench_percentile(double *v, size_t n, double p);

/* Print r as one JSON line on stdout (with git_rev, kernel and cpu_model). */
void bench_emit(const struct bench_result *r);

#endif /* PF_BENCH_COMMON_H */

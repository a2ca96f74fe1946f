/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_balance.c: placement stays balanced under churn (ARCHITECTURE.md section 7:
 * max/mean VNodes per active member <= 1.25 in >= 90% of samples, every strategy).
 *
 * For each strategy, the demo's own host runs (tools/demo/host.c, what `scripts/demo`
 * runs: pflightd with its scheduler and rebalancer on their defaults but the strategy,
 * example counter workers as real processes, 256 counter VNodes, 2,000 messages/s, and
 * one churn event every 8 s in turn: kill -9, start, drain, start) for --seconds (120).
 * Every second it counts the VNodes each ACTIVE member holds, from the ownership words,
 * and takes max / mean. A sample counts when it is taken 5 s or more after the last
 * membership change (a join, a death, a cordon, a drain's end: the domain's membership
 * version, polled every 10 ms tick) or churn event. At the end every counter is checked
 * against the messages sent to it, so the moves that balance lose nothing.
 *
 *   settled_within_goal  fraction of the settled samples with max/mean <= 1.25. Goal
 *                        >= 0.9 on the value. Baseline: the ideal, every sample (1.0);
 *                        ratio = value / 1.0. samples: the settled samples.
 *   max_over_mean_p90    the 90th percentile of max/mean over the settled samples
 *                        (informational); baseline the ideal 1.0, ratio = 1.0 / value.
 *                        value_min and value_max: the least and largest max/mean.
 *                        A sample with a VNode held by no ACTIVE member counts as
 *                        HOST_UNPLACED (tools/demo/host.h): outside any goal.
 *
 *   bench_balance PFLIGHTD WORKER [--seconds S] [--strategy NAME]
 *
 * Exit status 0 when every run came up and its counters were exact (whether or not a goal
 * was met: the lines say), 1 otherwise, 2 for bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_common.h"
#include "tools/demo/host.h"

#define SECONDS_DEFAULT 120u
#define SAMPLE_EVERY_NS 1000000000ull
#define SETTLED_NS (5ull * 1000000000ull)
#define GOAL_RATIO 1.25
#define GOAL_FRACTION 0.9
#define RATE_PER_S 2000u /* the demo's default traffic */
#define WORKERS 5u       /* the demo's default: four started, a place for churn */
#define VNODES 256u

struct run {
	double *ratio; /* settled samples' max/mean */
	uint32_t settled, within, taken;
	uint32_t events;
};

static int write_manifest(const char *path, const char *strategy)
{
	FILE *f = fopen(path, "w");
	int r;

	if (f == NULL)
		return -errno;
	r = fprintf(f, "apiVersion: pflight/v1\nkind: Domain\nscheduling:\n  strategy: %s\n",
		    strategy);
	return fclose(f) == 0 && r > 0 ? 0 : -EIO;
}

/* One sample of the demo's loop (host_run()), once a second. */
static int on_sample(void *arg, uint64_t settled_ns, uint32_t members, double ratio)
{
	struct run *rn = arg;

	rn->taken++;
	if (settled_ns >= SETTLED_NS && members > 0) {
		rn->ratio[rn->settled++] = ratio;
		rn->within += ratio <= GOAL_RATIO + 1e-9;
	}
	return 0;
}

static void emit(const char *strategy, const struct run *rn, uint64_t seconds)
{
	char subject[64];
	double *sorted = malloc((rn->settled + 1) * sizeof(*sorted));
	double lo = 0, hi = 0, p90 = 0;
	struct bench_result r = {
		.bench = "balance",
		.subject = subject,
		.unit = "fraction",
		.higher_is_better = true,
		.placement = "host",
		.iterations = seconds,
		.batch = VNODES,
		.samples = rn->settled,
	};

	if (sorted == NULL)
		return;
	(void)snprintf(subject, sizeof(subject), "%s", strategy);
	if (rn->settled > 0) {
		memcpy(sorted, rn->ratio, rn->settled * sizeof(*sorted));
		p90 = bench_percentile(sorted, rn->settled, 90); /* sorts */
		lo = sorted[0];
		hi = sorted[rn->settled - 1];
	}
	r.metric = "settled_within_goal";
	r.value = rn->settled > 0 ? (double)rn->within / rn->settled : 0;
	r.baseline = "ideal: every settled sample";
	r.baseline_value = 1.0;
	r.goal = GOAL_FRACTION;
	r.goal_on_value = true;
	r.value_min = r.value; /* one fraction: the ratios' spread belongs to the next line */
	r.value_max = r.value;
	bench_emit(&r);
	r.metric = "max_over_mean_p90";
	r.unit = "ratio";
	r.value = p90;
	r.baseline = "ideal 1.0";
	r.higher_is_better = false;
	r.goal = 0;
	r.goal_on_value = false;
	r.value_min = lo;
	r.value_max = hi;
	bench_emit(&r);
	fprintf(stderr,
		"bench_balance: %s: %u samples, %u settled, %u within %.2f; max/mean p90 %.3f, "
		"least %.3f, largest %.3f; %u churn events\n",
		strategy, rn->taken, rn->settled, rn->within, GOAL_RATIO, p90, lo, hi, rn->events);
	free(sorted);
}

/* One strategy's run. 0 when the host came up and its counters were exact. */
static int run_one(const char *daemon, const char *worker, const char *strategy, uint64_t seconds)
{
	struct run rn = {.ratio = calloc(seconds + 1, sizeof(double))};
	struct host h;
	char manifest[128];
	int r;

	memset(&h, 0, sizeof(h));
	h.daemon_path = daemon;
	h.worker_path = worker;
	h.workers = WORKERS;
	h.vnodes = VNODES;
	(void)snprintf(h.name, sizeof(h.name), "bench-balance-%d", (int)getpid());
	(void)snprintf(manifest, sizeof(manifest), "/tmp/bench-balance-%d.yaml", (int)getpid());
	r = rn.ratio == NULL ? -ENOMEM : write_manifest(manifest, strategy);
	h.manifest = manifest;
	if (r == 0)
		r = host_start(&h);
	if (r == 0) {
		struct host_run hr = {.run_ns = seconds * 1000000000ull,
				      .churn_ns = HOST_CHURN_EVERY_NS,
				      .sample_ns = SAMPLE_EVERY_NS,
				      .rate_per_s = RATE_PER_S,
				      .log = stderr,
				      .prefix = "bench_balance: ",
				      .on_sample = on_sample,
				      .arg = &rn};

		rn.events = host_run(&h, &hr);
		r = host_verify(&h);
	}
	host_stop(&h);
	host_remove_dir(&h);
	(void)unlink(manifest);
	if (r == 0)
		emit(strategy, &rn, seconds);
	else
		fprintf(stderr, "bench_balance: %s: %s\n", strategy, strerror(-r));
	free(rn.ratio);
	return r;
}

int main(int argc, char **argv)
{
	static const char *const strategies[] = {"trust-weighted", "consistent-hash", "bin-packing",
						 "agent"};
	const char *only = NULL;
	unsigned long seconds = SECONDS_DEFAULT;
	int failed = 0, known = 0;

	for (int i = 3; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--seconds") == 0)
			seconds = strtoul(argv[i + 1], NULL, 10);
		else if (strcmp(argv[i], "--strategy") == 0)
			only = argv[i + 1];
		else
			seconds = 0;
	}
	for (size_t i = 0; i < sizeof(strategies) / sizeof(strategies[0]); i++)
		known |= only == NULL || strcmp(only, strategies[i]) == 0;
	if (argc < 3 || argc % 2 == 0 || seconds == 0 || seconds > 3600 || !known) {
		fprintf(stderr,
			"usage: %s PFLIGHTD WORKER [--seconds S] [--strategy NAME]\n"
			"  NAME: trust-weighted, consistent-hash, bin-packing or agent\n",
			argv[0]);
		return 2;
	}
	host_block_signals();
	for (size_t i = 0; i < sizeof(strategies) / sizeof(strategies[0]); i++)
		if (only == NULL || strcmp(only, strategies[i]) == 0)
			failed |= run_one(argv[1], argv[2], strategies[i], seconds) < 0;
	return failed ? 1 : 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_sim.c: what a simulation costs (pflight/sim.h), and what the metrics
 * sampler costs on a live domain (pflight/metrics.h).
 *
 *   sim_wall_s_<preset>  pf_sim_run() of 1,000 members, 100,000 VNodes and 10 simulated
 *                        minutes with the preset's default rates, wall time (median of
 *                        SAMPLES runs; min and max recorded). Goal: <= 1 s, what the
 *                        dashboard's sliders need to redraw within a second. Baseline,
 *                        same run: placing the same 100,000 VNodes once on 1,000 members
 *                        with the same strategy (pf_sched_run and every member adopting,
 *                        the domain already made and joined), the least any simulation of
 *                        that domain must pay; ratio = baseline / ours, so the ratio says
 *                        what fraction of the run that one placement is.
 *   sampler_sweep_ms     one pf_metrics_sampler_step() sweeping 1,048,576 VNodes (all
 *                        defined, a quarter owned by four members) and the member slots,
 *                        against pf_domain_info(), which scans the same ownership words
 *                        once to count them (informational: the sampler also validates
 *                        each word, compares it with the one it saw last, and reads every
 *                        member slot).
 *
 * One thread, pinned to CPU 0 when it can be.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_common.h"
#include "pflight/pflight.h"

#define MEMBERS 1000u
#define VNODES 100000u
#define DURATION_NS (UINT64_C(600) * 1000000000u)
#define SAMPLES 3
#define SWEEP_VNODES PF_VNODES_MAX
#define SWEEP_MEMBERS 4u

static const int cpu0;  /* the CPU this thread is pinned to, when pinned is set */
static unsigned pinned; /* 1 when bench_pin_cpu() succeeded */

static double median3(double *v)
{
	return bench_percentile(v, SAMPLES, 50);
}

static void emit(const char *metric, const char *subject, const char *unit, double value,
		 const double *spread, const char *baseline, double baseline_value, double goal,
		 uint64_t iterations)
{
	struct bench_result r = {
		.bench = "sim",
		.subject = subject,
		.metric = metric,
		.unit = unit,
		.value = value,
		.baseline = baseline,
		.baseline_value = baseline_value,
		.higher_is_better = false,
		.goal = goal,
		.goal_on_value = goal > 0,
		.placement = "single-thread",
		.cpus = &cpu0,
		.cpus_count = pinned,
		.iterations = iterations,
		.batch = 1,
		.samples = SAMPLES,
		.value_min = spread[0],
		.value_max = spread[SAMPLES - 1],
	};

	bench_emit(&r);
}

/* The baseline: a domain as the simulation makes it, 1,000 members joined, then only
 * the timed part: every VNode placed once and adopted. */
static int place_once(uint32_t strategy, double *ret_s)
{
	struct pf_domain_opts o;
	struct pf_member **m = calloc(MEMBERS, sizeof(*m));
	struct pf_domain *d = NULL;
	struct pf_sched *s = NULL;
	char name[64];
	uint64_t t0 = 0;
	int r;

	(void)snprintf(name, sizeof(name), "bench-sim-%d", (int)getpid());
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = 2 * MEMBERS + 64;
	o.vnodes_max = VNODES;
	o.inbox_slots = 2;
	o.msg_bytes_max = 1;
	o.state_bytes_max = 1;
	o.assign_slots = 256;
	o.sched_strategy = strategy;
	r = m == NULL ? -ENOMEM : pf_domain_create(name, &o, &d);
	for (uint32_t i = 0; i < MEMBERS && r == 0; i++) {
		struct pf_member_opts mo;

		pf_member_opts_init(&mo);
		mo.vnode_capacity = 2 * VNODES / MEMBERS;
		r = pf_member_join(d, &mo, &m[i]);
	}
	if (r == 0)
		r = pf_vnode_define_range(d, 0, VNODES, NULL) == (int)VNODES ? 0 : -EIO;
	if (r == 0)
		r = pf_sched_create(d, NULL, &s);
	t0 = bench_now_ns();
	for (int placed = 0, pass = 0; r == 0 && placed < (int)VNODES && pass < 64; pass++) {
		int n = pf_sched_run(s, UINT32_MAX);

		for (uint32_t i = 0; i < MEMBERS && n >= 0; i++) {
			struct pf_vnode *v;

			while (pf_vnode_adopt(m[i], &v) == 0)
				;
		}
		r = n < 0 ? n : (n == 0 ? -EAGAIN : 0);
		placed += n > 0 ? n : 0;
	}
	*ret_s = (double)(bench_now_ns() - t0) / 1e9;
	pf_sched_destroy(s);
	for (uint32_t i = 0; m != NULL && i < MEMBERS; i++)
		(void)pf_member_leave(m[i]);
	free(m);
	if (d != NULL)
		(void)pf_domain_destroy(d);
	return r;
}

static int bench_preset(uint32_t preset)
{
	double ours[SAMPLES], base[SAMPLES];
	char metric[64], subject[64], baseline[128];
	struct pf_sim_summary sum = {.size = sizeof(sum)};
	struct pf_sim_opts o;
	int r = pf_sim_opts_preset(&o, preset);

	o.members = MEMBERS;
	o.vnodes = VNODES;
	o.duration_ns = DURATION_NS;
	for (int k = 0; k < SAMPLES && r == 0; k++) {
		uint64_t t0 = bench_now_ns();

		r = pf_sim_run(&o, &sum, NULL, NULL);
		ours[k] = (double)(bench_now_ns() - t0) / 1e9;
		if (r == 0)
			r = place_once(o.strategy, &base[k]);
	}
	if (r < 0)
		return r;
	fprintf(stderr,
		"bench_sim: %s: %llu events, %llu joins, %llu failures, %llu retirements, "
		"%llu moves asked by %llu rounds, health %.1f over the run\n",
		pf_sim_preset_name(preset), (unsigned long long)sum.events,
		(unsigned long long)sum.joins, (unsigned long long)sum.failures,
		(unsigned long long)sum.retirements, (unsigned long long)sum.moves_requested,
		(unsigned long long)sum.rebalance_rounds, sum.metrics.total.health);
	(void)snprintf(metric, sizeof(metric), "sim_wall_s_%s", pf_sim_preset_name(preset));
	(void)snprintf(subject, sizeof(subject), "pf_sim_run %s", pf_sim_preset_name(preset));
	(void)snprintf(baseline, sizeof(baseline),
		       "place 100,000 VNodes once on 1,000 members (%s)",
		       pf_sched_strategy_name(o.strategy));
	emit(metric, subject, "s", median3(ours) /* sorts: ours[0] min, last max */, ours, baseline,
	     median3(base), 1.0, sum.events);
	return 0;
}

static int sweep(double *ret_ours_ms, double *ret_base_ms, double spread[SAMPLES])
{
	double ours[SAMPLES], base[SAMPLES];
	struct pf_domain_info di = {.size = sizeof(di)};
	struct pf_metrics_obs obs = {.size = sizeof(obs)};
	struct pf_metrics_sampler *smp = NULL;
	struct pf_member *m[SWEEP_MEMBERS] = {NULL};
	struct pf_domain_opts o;
	struct pf_domain *d = NULL;
	char name[64];
	int r;

	(void)snprintf(name, sizeof(name), "bench-sim-sweep-%d", (int)getpid());
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.vnodes_max = SWEEP_VNODES;
	o.inbox_slots = 2;
	o.msg_bytes_max = 1;
	o.state_bytes_max = 1;
	r = pf_domain_create(name, &o, &d);
	if (r == 0)
		r = pf_vnode_define_range(d, 0, SWEEP_VNODES, NULL) == (int)SWEEP_VNODES ? 0 : -EIO;
	for (uint32_t i = 0; i < SWEEP_MEMBERS && r == 0; i++) {
		r = pf_member_join(d, NULL, &m[i]);
		for (uint32_t k = 0; k < SWEEP_VNODES / 16 && r == 0; k++) {
			struct pf_vnode *v;

			r = pf_vnode_claim(m[i], PF_CLAIM_NOWAIT, 0, &v);
		}
	}
	if (r == 0)
		r = pf_metrics_sampler_create(d, NULL, &smp);
	for (int k = 0; k < SAMPLES && r == 0; k++) {
		uint64_t t0 = bench_now_ns(), t1;

		r = pf_metrics_sampler_step(smp, t0, &obs) == 1 ? 0 : -EIO;
		t1 = bench_now_ns();
		ours[k] = (double)(t1 - t0) / 1e6;
		r = r == 0 ? pf_domain_info(d, &di) : r;
		base[k] = (double)(bench_now_ns() - t1) / 1e6;
	}
	pf_metrics_sampler_destroy(smp);
	for (uint32_t i = 0; i < SWEEP_MEMBERS; i++)
		(void)pf_member_leave(m[i]);
	if (d != NULL)
		(void)pf_domain_destroy(d);
	if (r < 0)
		return r;
	*ret_ours_ms = median3(ours);
	memcpy(spread, ours, sizeof(ours));
	*ret_base_ms = median3(base);
	return obs.vnodes_defined == SWEEP_VNODES ? 0 : -EIO;
}

int main(void)
{
	double ours_ms, base_ms, spread[SAMPLES];
	int r = 0;

	pinned = bench_pin_cpu(cpu0) == 0; /* unpinned is still a measurement: cpus says so */
	for (uint32_t p = PF_SIM_DMA; p <= PF_SIM_AI_AGENTS && r == 0; p++)
		r = bench_preset(p);
	if (r == 0)
		r = sweep(&ours_ms, &base_ms, spread);
	if (r == 0)
		emit("sampler_sweep_ms", "pf_metrics_sampler_step", "ms", ours_ms, spread,
		     "pf_domain_info (one scan of the ownership words)", base_ms, 0, SWEEP_VNODES);
	if (r < 0)
		fprintf(stderr, "bench_sim: %s\n", strerror(-r));
	return r < 0 ? 1 : 0;
}

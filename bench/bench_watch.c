/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_watch.c: what the daemon's ownership watcher (tools/pflightd/watch.c) costs
 * at the domain maximum, 1,048,576 VNodes, against the least any watcher built on the
 * public API must pay: a plain loop of pf_vnode_info() over the same table.
 *
 * One process pinned to CPU 0. The domain: PF_VNODES_MAX VNodes (smallest inbox and
 * state, so the segment stays small), all defined, every other one claimed by one of
 * four members: the table holds PENDING and owned VNodes. Figures, each the median of
 * SAMPLES, baseline measured in the same run right after ours:
 *   sweep_ms           one full sweep, watch_scan(all) with nothing changed (the steady
 *                      state of an idle daemon) vs the pf_vnode_info loop;
 *   ns_per_vnode       the same, per VNode;
 *   sweep_ms_changed   a sweep after CHANGED VNodes were released (each one becomes a
 *                      `release` record, appended to a sink that only counts, so the
 *                      figure is the watcher's own cost, not the log's) vs the loop;
 *   chunk_us           one WATCH_BUDGET chunk, what one auditor pass spends scanning at
 *                      most (informational), and duty_ppm, that chunk over WATCH_CHUNK_NS:
 *                      the share of a core a sweep in progress takes (informational);
 *   init_ms            watch_init(): the start-up snapshot of the whole table
 *                      (informational).
 * Informational: no goal is set. ratio > 1 would mean ours is cheaper than the loop, so
 * expect a ratio a little under 1: the watcher's compare on top of the read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_core.h"
#include "pflight/pflight.h"
#include "tools/pflightd/watch.h"

#define VNODES PF_VNODES_MAX
#define MEMBERS 4u
#define SAMPLES 5
#define CHANGED 10000u

static struct pf_domain *dom;
static struct pf_member *mem[MEMBERS];
static struct pf_vnode **handles; /* [VNODES], the claimed ones */
static uint64_t sink;             /* keeps the baseline loop's reads alive */
static uint64_t records;
static int cpu0;

static int count_record(void *arg, const struct watch_rec *rec)
{
	(void)arg;
	records += rec->vnode < VNODES;
	return 0;
}

static void set_up(const char *name)
{
	struct pf_domain_opts o;

	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = 16;
	o.vnodes_max = VNODES;
	o.inbox_slots = 2;
	o.msg_bytes_max = 16;
	o.state_bytes_max = 16;
	bench_check(pf_domain_create(name, &o, &dom), "pf_domain_create");
	bench_check(pf_vnode_define_range(dom, 0, VNODES, NULL), "pf_vnode_define_range");
	for (uint32_t i = 0; i < MEMBERS; i++)
		bench_check(pf_member_join(dom, NULL, &mem[i]), "pf_member_join");
	handles = calloc(VNODES, sizeof(*handles));
	if (handles == NULL)
		bench_check(-ENOMEM, "calloc");
	for (uint32_t id = 0; id < VNODES; id += 2)
		bench_check(pf_vnode_claim_id(mem[id / 2 % MEMBERS], id, &handles[id]),
			    "pf_vnode_claim_id");
}

static double loop_ns(void)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	uint64_t t0 = bench_now_ns(), acc = 0;

	for (uint32_t id = 0; id < VNODES; id++)
		if (pf_vnode_info(dom, id, &vi) == 0)
			acc += vi.epoch + vi.state + vi.owner_slot;
	sink += acc;
	return (double)(bench_now_ns() - t0);
}

static double sweep_ns(struct watch *w)
{
	uint64_t t0 = bench_now_ns();

	w->cursor = 0;
	(void)watch_scan(w, VNODES, t0);
	return (double)(bench_now_ns() - t0);
}

/* Release CHANGED claimed VNodes (sample s picks a different set) and claim them back
 * after the sweep, so every sample starts from the same table. */
static void change(uint32_t s, int release)
{
	for (uint32_t k = 0; k < CHANGED; k++) {
		uint32_t id = (uint32_t)(((uint64_t)k * 2 * 97 + s * 2) % VNODES) & ~1u;

		if (release) {
			bench_check(pf_vnode_release(handles[id]), "pf_vnode_release");
			handles[id] = NULL;
		} else {
			bench_check(pf_vnode_claim_id(mem[id / 2 % MEMBERS], id, &handles[id]),
				    "pf_vnode_claim_id");
		}
	}
}

static void emit(const char *metric, const char *unit, double *v, double *b, uint64_t iters)
{
	struct bench_result r = {
		.bench = "watch",
		.subject = "watch_scan",
		.metric = metric,
		.unit = unit,
		.baseline = b != NULL ? "pf_vnode_info loop over the same VNodes" : NULL,
		.higher_is_better = false,
		.placement = "single-thread",
		.cpus = &cpu0,
		.cpus_count = 1,
		.iterations = iters,
		.batch = 1,
		.samples = SAMPLES,
	};

	r.value = bench_median(v, SAMPLES); /* sorts v */
	r.value_min = v[0];
	r.value_max = v[SAMPLES - 1];
	r.baseline_value = b != NULL ? bench_median(b, SAMPLES) : 0.0;
	bench_emit(&r);
}

static void measure_sweeps(struct watch *w)
{
	double v[SAMPLES], b[SAMPLES], pv[SAMPLES], pb[SAMPLES], cv[SAMPLES], cb[SAMPLES];

	for (int s = 0; s < SAMPLES; s++) {
		v[s] = sweep_ns(w) / 1e6;
		b[s] = loop_ns() / 1e6;
		pv[s] = v[s] * 1e6 / VNODES;
		pb[s] = b[s] * 1e6 / VNODES;
	}
	emit("sweep_ms", "ms", v, b, VNODES);
	emit("ns_per_vnode", "ns", pv, pb, VNODES);
	w->settle_ns = 0;
	for (int s = 0; s < SAMPLES; s++) {
		uint64_t before = records;

		change((uint32_t)s, 1);
		cv[s] = sweep_ns(w) / 1e6;
		cb[s] = loop_ns() / 1e6;
		if (records - before != CHANGED) {
			fprintf(stderr, "bench_watch: %llu records for %u releases\n",
				(unsigned long long)(records - before), CHANGED);
			exit(1);
		}
		change((uint32_t)s, 0);
		(void)watch_final(w, bench_now_ns()); /* the claims back: start clean again */
	}
	emit("sweep_ms_changed", "ms", cv, cb, VNODES);
}

static void measure_chunk(struct watch *w)
{
	double v[SAMPLES], duty[SAMPLES];

	for (int s = 0; s < SAMPLES; s++) {
		uint64_t t0 = bench_now_ns();

		w->cursor = (uint32_t)s * WATCH_BUDGET;
		(void)watch_scan(w, WATCH_BUDGET, t0);
		v[s] = (double)(bench_now_ns() - t0) / 1e3;
		duty[s] = v[s] * 1e3 / WATCH_CHUNK_NS * 1e6;
	}
	emit("chunk_us", "us", v, NULL, WATCH_BUDGET);
	emit("duty_ppm", "ppm of a core", duty, NULL, WATCH_BUDGET);
}

int main(void)
{
	double init[SAMPLES];
	struct watch w;
	char name[64];

	bench_domain_name(name, sizeof(name), "watch");
	(void)bench_pin_cpu(cpu0);
	set_up(name);
	for (int s = 0; s < SAMPLES; s++) {
		uint64_t t0 = bench_now_ns();

		bench_check(watch_init(&w, dom, count_record, NULL), "watch_init");
		init[s] = (double)(bench_now_ns() - t0) / 1e6;
		if (s + 1 < SAMPLES)
			watch_fini(&w);
	}
	(void)loop_ns(); /* warm-up: the table's pages */
	measure_sweeps(&w);
	measure_chunk(&w);
	emit("init_ms", "ms", init, NULL, VNODES);
	watch_fini(&w);
	for (uint32_t i = 0; i < MEMBERS; i++)
		(void)pf_member_leave(mem[i]);
	free(handles);
	bench_check(pf_domain_destroy(dom), "pf_domain_destroy");
	return sink == 0; /* the loop read something */
}

/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/ctl/test_ctl_sim.c
 * Goal: the simulator is reproducible (the same options give the same points and summary,
 * another seed gives others), every preset runs and reports sane metrics, failures cost
 * availability and stability against the same run without them, every run leaves the
 * private domain consistent (each VNode PENDING or owned by a member, no member left
 * joined) and gone, recoveries take at least the heartbeat timeout, the callback can stop
 * a run, and bad options are refused with their errno and field. Under the caller's
 * control (pf_sim_run_ctl): checks change no result, are asked while setting up, every
 * few events and inside a sample's batch of messages, and stop the run within their
 * interval; the domain has the caller's name, and one over the caller's bound is refused
 * before it exists.
 * Method: small runs (tens of members, a few thousand VNodes, minutes of simulated time),
 * points collected by the callback and compared field by field.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "pflight/pflight.h"
#include "shm/fault.h"
#include "tests/common/test_util.h"

#define SEC(x) ((uint64_t)(x)*1000000000u)
#define POINTS_MAX 1024

struct series {
	uint32_t n;
	struct pf_sim_point p[POINTS_MAX];
};

static int collect(void *arg, const struct pf_sim_point *p)
{
	struct series *s = arg;

	if (s->n >= POINTS_MAX)
		return -ENOSPC;
	s->p[s->n++] = *p;
	return 0;
}

static struct pf_sim_opts small(uint32_t preset)
{
	struct pf_sim_opts o;

	assert_int_equal(pf_sim_opts_preset(&o, preset), 0);
	o.members = 24;
	o.vnodes = 3000;
	o.duration_ns = SEC(180);
	o.interval_ns = SEC(1);
	o.seed = 11;
	return o;
}

static struct series *run(const struct pf_sim_opts *o, struct pf_sim_summary *sum)
{
	struct series *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	sum->size = sizeof(*sum);
	assert_int_equal(pf_sim_run(o, sum, collect, s), 0);
	return s;
}

/* No segment of ours is left in /dev/shm: the private domains are destroyed. */
static void no_segment_left(void)
{
	char prefix[64];
	DIR *dir = opendir("/dev/shm");
	struct dirent *e;

	assert_non_null(dir);
	(void)snprintf(prefix, sizeof(prefix), "pflight-pfsim-%d-", (int)getpid());
	while ((e = readdir(dir)) != NULL)
		if (strncmp(e->d_name, prefix, strlen(prefix)) == 0)
			fail_msg("segment %s left behind", e->d_name);
	(void)closedir(dir);
}

static void invariants(const struct pf_sim_summary *s)
{
	assert_int_equal(s->vnodes_unaccounted, 0);
	assert_int_equal(s->members_left_joined, 0);
	assert_int_equal(s->vnodes_not_pending, 0);
	assert_int_equal(s->domain_hung, s->repairs);
	assert_int_equal(s->domain_repairs, s->repairs);
	assert_true(s->repairs <= s->failures);
}

static void sane(const struct pf_metrics_figures *f)
{
	assert_true(f->availability >= 0 && f->availability <= 1);
	assert_true(f->stability >= 0 && f->stability <= 1);
	assert_true(f->load_balance >= 0 && f->load_balance <= 1);
	assert_true(f->health >= 0 && f->health <= 100);
	assert_true(f->load_stddev >= 0 && f->churn_per_min >= 0 && f->rebalance_overhead >= 0);
	assert_true(f->recovery_ns_p50 <= f->recovery_ns_p99 &&
		    f->recovery_ns_p99 <= f->recovery_ns_max);
}

static void test_sim_same_seed_same_series(void **state)
{
	struct pf_sim_opts o = small(PF_SIM_DMA);
	struct pf_sim_summary a, b, c;
	struct series *x, *y, *z;
	int differ = 0;

	(void)state;
	x = run(&o, &a);
	y = run(&o, &b);
	assert_int_equal(x->n, y->n);
	assert_memory_equal(x->p, y->p, x->n * sizeof(x->p[0]));
	assert_memory_equal(&a.metrics, &b.metrics, sizeof(a.metrics));
	assert_int_equal(a.events, b.events);
	assert_int_equal(a.moves_requested, b.moves_requested);
	o.seed = 12;
	z = run(&o, &c);
	for (uint32_t i = 0; i < x->n && i < z->n; i++)
		differ |= memcmp(&x->p[i], &z->p[i], sizeof(x->p[i])) != 0;
	assert_true(differ);
	assert_true(a.failures != c.failures || a.joins != c.joins || a.events != c.events);
	free(x);
	free(y);
	free(z);
	no_segment_left();
}

/* The points: one at 0, one per interval, the last at the duration (not a multiple). */
static void test_sim_points_cover_the_duration(void **state)
{
	struct pf_sim_opts o = small(PF_SIM_DMA);
	struct pf_sim_summary sum;
	struct series *s;

	(void)state;
	o.duration_ns = SEC(10) + 500000000u;
	s = run(&o, &sum);
	assert_int_equal(s->n, 12);
	assert_int_equal(sum.points, 12);
	for (uint32_t i = 0; i < s->n; i++) {
		assert_int_equal(s->p[i].index, i);
		assert_int_equal(s->p[i].metrics.time_ns, i < 11 ? SEC(i) : o.duration_ns);
	}
	assert_int_equal(s->p[0].metrics.vnodes_owned, o.vnodes); /* all placed at time 0 */
	assert_int_equal(s->p[0].metrics.members_active, o.members);
	free(s);
}

static void test_sim_every_preset_is_sane(void **state)
{
	(void)state;
	for (uint32_t preset = PF_SIM_DMA; preset <= PF_SIM_AI_AGENTS; preset++) {
		struct pf_sim_opts o = small(preset);
		struct pf_sim_summary sum;
		struct series *s = run(&o, &sum);

		print_message("# %s: A %.5f S %.3f B %.3f health %.1f, %llu failures, %llu joins, "
			      "%llu retirements, %llu moves\n",
			      pf_sim_preset_name(preset), sum.metrics.window.availability,
			      sum.metrics.window.stability, sum.metrics.window.load_balance,
			      sum.metrics.window.health, (unsigned long long)sum.failures,
			      (unsigned long long)sum.joins, (unsigned long long)sum.retirements,
			      (unsigned long long)sum.moves_requested);
		assert_int_equal(sum.preset, preset);
		assert_int_equal(sum.strategy, o.strategy);
		invariants(&sum);
		sane(&sum.metrics.window);
		sane(&sum.metrics.total);
		for (uint32_t i = 0; i < s->n; i++)
			sane(&s->p[i].metrics.window);
		assert_true(sum.failures + sum.joins + sum.retirements > 0); /* churn happened */
		assert_true(sum.metrics.total.availability > 0.9);
		free(s);
	}
	no_segment_left();
}

/* The same run with failures and without: failures cost availability and stability, and
 * each recovery takes at least the heartbeat timeout. */
static void test_sim_failures_cost_availability(void **state)
{
	struct pf_sim_opts o = small(PF_SIM_DMA);
	struct pf_sim_summary calm, rough;
	struct series *a, *b;

	(void)state;
	o.retire_per_min = 0; /* drains release nothing: only failures make VNodes wait */
	o.failure_per_min = 0;
	a = run(&o, &calm);
	o.failure_per_min = 20;
	b = run(&o, &rough);
	invariants(&calm);
	invariants(&rough);
	assert_true(calm.metrics.total.availability == 1.0);
	assert_true(rough.failures > 0 && rough.repairs > 0);
	assert_true(rough.metrics.total.availability < calm.metrics.total.availability);
	assert_true(rough.metrics.total.stability < calm.metrics.total.stability);
	assert_true(rough.metrics.total.health < calm.metrics.total.health);
	assert_true(rough.metrics.total.recoveries > 0);
	assert_true(rough.metrics.total.recovery_ns_p50 >= o.heartbeat_timeout_ns);
	assert_true(rough.domain_vnodes_repaired > 0);
	assert_int_equal(calm.metrics.total.recoveries, 0);
	free(a);
	free(b);
}

/* Retirements drain with moves (migrations, their bytes); joins bring rebalancing. */
static void test_sim_churn_moves_state(void **state)
{
	struct pf_sim_opts o = small(PF_SIM_CLOUD_NATIVE);
	struct pf_sim_summary sum;
	struct series *s;

	(void)state;
	s = run(&o, &sum);
	invariants(&sum);
	assert_true(sum.retirements > 0 && sum.joins > 0);
	assert_true(sum.metrics.total.migrations > 0);
	assert_int_equal(sum.metrics.total.migration_bytes,
			 sum.metrics.total.migrations * o.state_bytes);
	assert_true(sum.rebalance_rounds > 0);
	assert_true(sum.metrics.total.placements_per_s >= 0);
	assert_true(s->p[s->n - 1].retirements == sum.retirements);
	free(s);
}

/* Heavy churn (sixty times cloud-native's rates: a join or a retirement every 20 ms) makes
 * an observation nearly every scheduler tick: the metrics keep enough of them for the
 * whole window, which is never clipped. */
static void test_sim_window_never_clipped(void **state)
{
	struct pf_sim_opts o = small(PF_SIM_CLOUD_NATIVE);
	struct pf_sim_summary sum;
	struct series *s;

	(void)state;
	o.join_per_min *= 60;
	o.retire_per_min *= 60;
	o.failure_per_min *= 60;
	o.duration_ns = SEC(90);
	s = run(&o, &sum);
	invariants(&sum);
	assert_int_equal(sum.metrics.flags & PF_METRICS_WINDOW_CLIPPED, 0);
	assert_int_equal(sum.metrics.window.span_ns, o.window_ns);
	for (uint32_t i = 0; i < s->n; i++)
		if (s->p[i].metrics.time_ns >= o.window_ns)
			assert_int_equal(s->p[i].metrics.window.span_ns, o.window_ns);
	free(s);
}

static int stop_at_five(void *arg, const struct pf_sim_point *p)
{
	(void)arg;
	return p->index == 5 ? -ECANCELED : 0;
}

static void test_sim_callback_stops_the_run(void **state)
{
	struct pf_sim_opts o = small(PF_SIM_AI_AGENTS);

	(void)state;
	assert_int_equal(pf_sim_run(&o, NULL, stop_at_five, NULL), -ECANCELED);
	no_segment_left();
	/* No callback and no summary: a run for its side effects only (none). */
	o.duration_ns = SEC(5);
	assert_int_equal(pf_sim_run(&o, NULL, NULL, NULL), 0);
}

static void refused(struct pf_sim_opts o, int err, const char *field)
{
	const char *f = NULL;

	assert_int_equal(pf_sim_opts_check(&o, &f), err);
	assert_non_null(f);
	assert_string_equal(f, field);
	assert_int_equal(pf_sim_run(&o, NULL, NULL, NULL), err);
}

static void test_sim_refuses_bad_options(void **state)
{
	struct pf_sim_opts o = small(PF_SIM_DMA), b;
	struct pf_sim_summary sum = {.size = 4};
	const char *f = "x";

	(void)state;
	assert_int_equal(pf_sim_opts_check(&o, &f), 0);
	assert_null(f);
	b = o, b.members = PF_SIM_MEMBERS_MAX + 1, refused(b, -E2BIG, "members");
	b = o, b.vnodes = 0, refused(b, -EINVAL, "vnodes");
	b = o, b.vnodes = PF_VNODES_MAX + 1, refused(b, -E2BIG, "vnodes");
	b = o, b.duration_ns = 0, refused(b, -EINVAL, "duration_ns");
	b = o, b.duration_ns = PF_SIM_DURATION_NS_MAX + 1, refused(b, -E2BIG, "duration_ns");
	b = o, b.interval_ns = 0, refused(b, -EINVAL, "interval_ns");
	b = o, b.interval_ns = o.duration_ns + 1, refused(b, -EINVAL, "interval_ns");
	b = o, b.strategy = 9, refused(b, -EINVAL, "strategy");
	b = o, b.preset = 9, refused(b, -EINVAL, "preset");
	b = o, b.failure_per_min = -1, refused(b, -EINVAL, "failure_per_min");
	b = o, b.join_per_min = NAN, refused(b, -EINVAL, "join_per_min");
	b = o, b.retire_per_min = PF_SIM_RATE_MAX * 2, refused(b, -E2BIG, "retire_per_min");
	b = o, b.failure_spread = 0.5, refused(b, -EINVAL, "failure_spread");
	b = o, b.load_max = 1.5, refused(b, -E2BIG, "load_max");
	b = o, b.kinds = 0, refused(b, -EINVAL, "kinds");
	b = o, b.heartbeat_timeout_ns = PF_SIM_TIMEOUT_NS_MAX + 1,
	refused(b, -E2BIG, "heartbeat_timeout_ns");
	b = o, b.window_ns = 10, refused(b, -EINVAL, "window_ns");
	b = o, b.reserved[0] = 1, refused(b, -EINVAL, "reserved");
	b = o, b.flags = 1, refused(b, -EINVAL, "flags");
	b = o, b.size = 4, refused(b, -EINVAL, "size");
	assert_int_equal(pf_sim_opts_check(NULL, NULL), -EINVAL);
	assert_int_equal(pf_sim_run(&o, &sum, NULL, NULL), -EINVAL); /* summary size */
	assert_int_equal(pf_sim_opts_preset(&b, 4), -EINVAL);
	assert_int_equal(pf_sim_preset_find("cloud-native"), PF_SIM_CLOUD_NATIVE);
	assert_int_equal(pf_sim_preset_find("cloud"), -ENOENT);
	assert_int_equal(pf_sim_preset_find(NULL), -EINVAL);
	assert_string_equal(pf_sim_preset_name(PF_SIM_AI_AGENTS), "ai-agents");
	assert_null(pf_sim_preset_name(4));
}

/* ---- the caller's control (pf_sim_run_ctl) ------------------------------------------- */

struct watch {
	char segment[128];   /* /dev/shm path of the domain named */
	uint32_t stop_phase; /* stop in this phase ... */
	uint64_t stop_after; /* ... once events (run) or members (set-up) or messages reach it */
	int by_messages;
	int calls;
	int segment_seen;
	struct pf_sim_progress first, last;
};

static int watch_check(void *arg, const struct pf_sim_progress *p)
{
	struct watch *w = arg;
	uint64_t at = w->by_messages ? p->messages
				     : (p->phase == PF_SIM_PHASE_RUN ? p->events : p->members);

	assert_int_equal(p->size, sizeof(*p));
	assert_true(p->events >= w->last.events && p->phase >= w->last.phase);
	if (w->calls++ == 0)
		w->first = *p;
	w->last = *p;
	w->segment_seen |= access(w->segment, F_OK) == 0;
	return p->phase == w->stop_phase && at >= w->stop_after ? -ECANCELED : 0;
}

static void watch_name(struct watch *w, struct pf_sim_ctl *ctl, char *name, size_t cap)
{
	(void)snprintf(name, cap, "pft-simctl-%d", (int)getpid());
	(void)snprintf(w->segment, sizeof(w->segment), "/dev/shm/pflight-%s", name);
	pf_sim_ctl_init(ctl);
	ctl->domain_name = name;
	ctl->check = watch_check;
	ctl->arg = w;
}

/* Checks change nothing of the results; the run stops within check_events of being asked
 * to; the domain has the caller's name while it runs and is gone after. */
static void test_sim_ctl_checks_and_stops(void **state)
{
	struct pf_sim_opts o = small(PF_SIM_AI_AGENTS);
	struct pf_sim_summary a = {.size = sizeof(a)}, b = {.size = sizeof(b)};
	struct watch w = {.stop_phase = UINT32_MAX};
	struct pf_sim_ctl ctl;
	uint64_t bytes = 0;
	char name[64];

	(void)state;
	watch_name(&w, &ctl, name, sizeof(name));
	assert_int_equal(pf_sim_segment_bytes(&o, &bytes), 0);
	assert_int_equal(pf_sim_run(&o, &a, NULL, NULL), 0);
	assert_int_equal(pf_sim_run_ctl(&o, &ctl, &b, NULL, NULL), 0);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_true(w.segment_seen);
	assert_int_equal(access(w.segment, F_OK), -1);
	assert_int_equal(w.first.phase, PF_SIM_PHASE_SETUP);
	assert_int_equal(w.first.segment_bytes, bytes);
	assert_int_equal(w.last.phase, PF_SIM_PHASE_RUN);
	assert_true(w.calls >= (int)(b.events / PF_SIM_CHECK_EVENTS_DEFAULT));
	/* Asked to stop at 200 events: stopped there, well before the end. */
	w = (struct watch){.stop_phase = PF_SIM_PHASE_RUN, .stop_after = 200};
	watch_name(&w, &ctl, name, sizeof(name));
	ctl.check_events = 4;
	assert_int_equal(pf_sim_run_ctl(&o, &ctl, &b, NULL, NULL), -ECANCELED);
	assert_true(w.last.events >= 200 && w.last.events < 204);
	assert_int_equal(access(w.segment, F_OK), -1);
	/* And while setting up, once 64 members joined. */
	o.members = 200;
	w = (struct watch){.stop_phase = PF_SIM_PHASE_SETUP, .stop_after = 64};
	watch_name(&w, &ctl, name, sizeof(name));
	assert_int_equal(pf_sim_run_ctl(&o, &ctl, &b, NULL, NULL), -ECANCELED);
	assert_int_equal(w.last.members, 64);
	assert_int_equal(access(w.segment, F_OK), -1);
	no_segment_left();
}

/* A sample with millions of messages behind it is checked along the way. */
static void test_sim_ctl_checks_inside_messages(void **state)
{
	struct pf_sim_opts o = small(PF_SIM_DMA);
	struct watch w = {.stop_phase = PF_SIM_PHASE_RUN, .stop_after = 200000, .by_messages = 1};
	struct pf_sim_ctl ctl;
	char name[64];

	(void)state;
	o.messages_per_s = 1e6;
	o.duration_ns = SEC(60);
	o.interval_ns = SEC(60); /* one sample at the end: 60 million messages behind it */
	watch_name(&w, &ctl, name, sizeof(name));
	assert_int_equal(pf_sim_run_ctl(&o, &ctl, NULL, NULL, NULL), -ECANCELED);
	assert_true(w.last.messages >= 200000 && w.last.messages < 200000 + PF_SIM_CHECK_MESSAGES);
	assert_int_equal(access(w.segment, F_OK), -1);
}

/* A domain over the bound is refused before it exists; the name is the caller's to get
 * right. */
static void test_sim_ctl_refusals(void **state)
{
	struct pf_sim_opts o = small(PF_SIM_DMA);
	struct watch w = {.stop_phase = UINT32_MAX};
	struct pf_sim_ctl ctl;
	struct pf_domain *d;
	uint64_t bytes = 0;
	char name[64];

	(void)state;
	watch_name(&w, &ctl, name, sizeof(name));
	assert_int_equal(pf_sim_segment_bytes(&o, &bytes), 0);
	assert_true(bytes > 0);
	ctl.segment_bytes_max = bytes - 1;
	assert_int_equal(pf_sim_run_ctl(&o, &ctl, NULL, NULL, NULL), -EFBIG);
	assert_int_equal(w.calls, 0);
	o.duration_ns = SEC(5);
	ctl.segment_bytes_max = bytes;
	assert_int_equal(pf_sim_run_ctl(&o, &ctl, NULL, NULL, NULL), 0);
	assert_int_equal(pf_domain_create(name, NULL, &d), 0);
	assert_int_equal(pf_sim_run_ctl(&o, &ctl, NULL, NULL, NULL), -EEXIST);
	assert_int_equal(pf_domain_destroy(d), 0);
	ctl.domain_name = "no/slash";
	assert_int_equal(pf_sim_run_ctl(&o, &ctl, NULL, NULL, NULL), -EINVAL);
	ctl.domain_name = name;
	ctl.reserved[1] = 1;
	assert_int_equal(pf_sim_run_ctl(&o, &ctl, NULL, NULL, NULL), -EINVAL);
	o.vnodes = 0;
	assert_int_equal(pf_sim_segment_bytes(&o, &bytes), -EINVAL);
	no_segment_left();
}

/* The library allocations a run makes (its private domain, every member's join, at set-up
 * and mid-run, every adoption's handle) failed once each in turn (SQLite-style sweep): the run
 * returns -ENOMEM, every member it joined has left, every VNode is back to PENDING and the private
 * domain is gone; the sweep ends with a run the fault no longer reaches. */
static void test_sim_alloc_failure_leaves_nothing(void **state)
{
#if PF_FAULT_INJECTION
	struct pf_sim_opts o = small(PF_SIM_CLOUD_NATIVE); /* joins and retirements often */
	uint64_t n;
	int failures = 0, absorbed = 0, r = -1;

	(void)state;
	o.members = 4;
	o.vnodes = 64;
	o.duration_ns = SEC(30);
	for (n = 1; n < 1024; n++) {
		struct pf_sim_summary sum = {.size = sizeof(sum)};

		fault_disarm_all();
		fault_arm(FAULT_ALLOC, n, FAULT_MODE_FAIL_ONCE);
		r = pf_sim_run(&o, &sum, NULL, NULL);
		no_segment_left();
		if (r == 0 && fault_hits(FAULT_ALLOC) < n)
			break; /* the n-th allocation never came: every one has failed once */
		assert_int_equal(sum.members_left_joined, 0);
		assert_int_equal(sum.vnodes_not_pending, 0);
		if (r == 0) {
			absorbed++; /* the last leave's shared scan: each member scans alone */
			continue;
		}
		assert_int_equal(r, -ENOMEM);
		failures++;
	}
	fault_disarm_all();
	assert_int_equal(r, 0);
	assert_true(failures > (int)o.members + 1); /* the domain, the joins, some mid-run */
	assert_true(absorbed <= 1);
#else
	(void)state; /* built without fault points: nothing to sweep */
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sim_same_seed_same_series),
		cmocka_unit_test(test_sim_points_cover_the_duration),
		cmocka_unit_test(test_sim_every_preset_is_sane),
		cmocka_unit_test(test_sim_failures_cost_availability),
		cmocka_unit_test(test_sim_churn_moves_state),
		cmocka_unit_test(test_sim_window_never_clipped),
		cmocka_unit_test(test_sim_callback_stops_the_run),
		cmocka_unit_test(test_sim_refuses_bad_options),
		cmocka_unit_test(test_sim_alloc_failure_leaves_nothing),
		cmocka_unit_test(test_sim_ctl_checks_and_stops),
		cmocka_unit_test(test_sim_ctl_checks_inside_messages),
		cmocka_unit_test(test_sim_ctl_refusals),
	};

	return cmocka_run_group_tests_name("ctl_sim", tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/ctl/test_ctl_metrics.c
 * Goal: every metric of ARCHITECTURE.md section 6 gives the value computed by hand from
 * its definition (availability, stability, churn, load stddev and balance, rebalancing
 * overhead, health, recovery percentiles, placement rate, migration bytes), over the
 * window and since start, including the edge cases (no VNodes, no members, one member,
 * a window shorter than the history, a ring that forgot the window's start); bad
 * observations are refused with their errnos and change nothing; the series keeps its
 * points; the Prometheus exposition passes a strict parser of the text format (and
 * `promtool check metrics` when the Debian prometheus package is installed).
 * Method: observations made by hand at chosen times; figures compared with exact values
 * (the integrals of small integers are exact in doubles). The live-domain sampler is
 * checked against a real domain whose changes the test makes itself.
 */
#include <ctype.h>
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

#include "core/domain_impl.h"
#include "pflight/pflight.h"
#include "tests/common/test_util.h"

#define S(x) ((uint64_t)(x)*1000000000u)
#define MS(x) ((uint64_t)(x)*1000000u)
#define EPS 1e-12

static struct pf_metrics *make(uint64_t window_ns, uint32_t samples_max)
{
	struct pf_metrics_opts o;
	struct pf_metrics *m = NULL;

	pf_metrics_opts_init(&o);
	o.window_ns = window_ns;
	o.samples_max = samples_max;
	assert_int_equal(pf_metrics_create(&o, &m), 0);
	return m;
}

static struct pf_metrics_obs obs_at(uint64_t t, uint32_t defined, uint32_t owned)
{
	struct pf_metrics_obs o;

	memset(&o, 0, sizeof(o));
	o.size = sizeof(o);
	o.time_ns = t;
	o.vnodes_defined = defined;
	o.vnodes_owned = owned;
	return o;
}

static void observe(struct pf_metrics *m, const struct pf_metrics_obs *o)
{
	assert_int_equal(pf_metrics_observe(m, o), 0);
}

static struct pf_metrics_report report(struct pf_metrics *m)
{
	struct pf_metrics_report r = {.size = sizeof(r)};

	assert_int_equal(pf_metrics_report(m, &r), 0);
	return r;
}

/* Owned 10 of 10 for 10 s, 5 of 10 for 10 s: 150 / 200 VNode-seconds since start; the
 * last 10 s alone: 50 / 100. */
static void test_metrics_availability_window_and_total(void **state)
{
	struct pf_metrics *m = make(S(10), 64);
	struct pf_metrics_obs o = obs_at(0, 10, 10);
	struct pf_metrics_report r;

	(void)state;
	observe(m, &o);
	o = obs_at(S(10), 10, 5);
	observe(m, &o);
	o = obs_at(S(20), 10, 10);
	observe(m, &o);
	r = report(m);
	assert_true(fabs(r.total.availability - 0.75) < EPS);
	assert_true(fabs(r.window.availability - 0.5) < EPS);
	assert_int_equal(r.total.span_ns, S(20));
	assert_int_equal(r.window.span_ns, S(10));
	assert_true(fabs(r.total.vnodes_owned_mean - 7.5) < EPS);
	assert_int_equal(r.flags & PF_METRICS_WINDOW_CLIPPED, 0);
	/* A window that starts between two observations: 5 s of 5 owned, 0 s of 10. */
	pf_metrics_destroy(m);
	m = make(S(15), 64);
	o = obs_at(0, 10, 10);
	observe(m, &o);
	o = obs_at(S(10), 10, 5);
	observe(m, &o);
	o = obs_at(S(20), 10, 10);
	observe(m, &o);
	r = report(m);
	/* [5, 20]: 10 owned for 5 s, 5 owned for 10 s = 100 of 150. */
	assert_true(fabs(r.window.availability - 100.0 / 150.0) < EPS);
	pf_metrics_destroy(m);
}

/* No VNode defined: nothing can be unavailable or unstable. */
static void test_metrics_no_vnodes(void **state)
{
	struct pf_metrics *m = make(S(60), 64);
	struct pf_metrics_obs o = obs_at(S(1), 0, 0);
	struct pf_metrics_report r;

	(void)state;
	observe(m, &o);
	o.time_ns = S(2);
	observe(m, &o);
	r = report(m);
	assert_true(r.window.availability == 1.0 && r.total.availability == 1.0);
	assert_true(r.window.stability == 1.0);
	assert_true(r.window.rebalance_overhead == 0.0);
	assert_true(fabs(r.window.health - 100.0) < EPS);
	pf_metrics_destroy(m);
}

/* One observation: a span of zero length takes its values, its rates are 0. */
static void test_metrics_single_observation(void **state)
{
	struct pf_metrics *m = make(S(60), 64);
	struct pf_metrics_obs o = obs_at(S(5), 8, 6);
	struct pf_metrics_report r;
	struct pf_metrics_report none = {.size = sizeof(none)};

	(void)state;
	assert_int_equal(pf_metrics_report(m, &none), -ENODATA);
	o.membership_events = 7;
	o.placements = 9;
	observe(m, &o);
	r = report(m);
	assert_int_equal(r.window.span_ns, 0);
	assert_true(fabs(r.window.availability - 0.75) < EPS);
	assert_true(r.window.churn_per_min == 0 && r.window.placements_per_s == 0);
	assert_int_equal(r.window.membership_events, 0); /* the first is the baseline */
	pf_metrics_destroy(m);
}

/* S = 1 - changes / VNodes: 30 changes of 100 VNodes in the window; 150 floors at 0. */
static void test_metrics_stability(void **state)
{
	struct pf_metrics *m = make(S(60), 64);
	struct pf_metrics_obs o = obs_at(0, 100, 100);
	struct pf_metrics_report r;

	(void)state;
	observe(m, &o);
	o = obs_at(S(60), 100, 100);
	o.ownership_changes = 30;
	observe(m, &o);
	r = report(m);
	assert_true(fabs(r.window.stability - 0.7) < EPS);
	assert_int_equal(r.window.ownership_changes, 30);
	o = obs_at(S(120), 100, 100);
	o.ownership_changes = 180;
	observe(m, &o);
	r = report(m);
	assert_true(r.window.stability == 0.0);           /* 150 changes in [60, 120] */
	assert_true(fabs(r.total.stability - 0.0) < EPS); /* 180 of 100: floored */
	pf_metrics_destroy(m);
}

/* 12 membership events in 120 s among 4 members: 6 a minute, 1.5 per member. */
static void test_metrics_churn(void **state)
{
	struct pf_metrics *m = make(S(120), 64);
	struct pf_metrics_obs o = obs_at(0, 1, 1);
	struct pf_metrics_report r;

	(void)state;
	o.members_active = 4;
	observe(m, &o);
	o.time_ns = S(120);
	o.membership_events = 12;
	observe(m, &o);
	r = report(m);
	assert_true(fabs(r.window.churn_per_min - 6.0) < EPS);
	assert_true(fabs(r.window.churn_per_member_per_min - 1.5) < EPS);
	assert_true(fabs(r.window.members_mean - 4.0) < EPS);
	pf_metrics_destroy(m);
	/* No member at all: per member divides by at least 1. */
	m = make(S(120), 64);
	o = obs_at(0, 1, 0);
	observe(m, &o);
	o.time_ns = S(60);
	o.membership_events = 3;
	observe(m, &o);
	r = report(m);
	assert_true(fabs(r.window.churn_per_min - 3.0) < EPS);
	assert_true(fabs(r.window.churn_per_member_per_min - 3.0) < EPS);
	pf_metrics_destroy(m);
}

static double balance_of(const double *loads, uint32_t n, double *ret_sd)
{
	struct pf_metrics *m = make(S(60), 64);
	struct pf_metrics_obs o = obs_at(S(1), 1, 1);
	struct pf_metrics_report r;

	o.loads = loads;
	o.loads_count = n;
	o.members_active = n;
	observe(m, &o);
	r = report(m);
	pf_metrics_destroy(m);
	*ret_sd = r.window.load_stddev;
	return r.window.load_balance;
}

/* B = 1 - min(1, sd / mean), population sd. */
static void test_metrics_load_balance(void **state)
{
	const double equal[] = {1, 1, 1, 1}, cv1[] = {0, 2}, half[] = {1, 3}, one[] = {5},
		     zeros[] = {0, 0}, wide[] = {0, 0, 0, 4};
	double sd;

	(void)state;
	assert_true(balance_of(equal, 4, &sd) == 1.0 && sd == 0.0);
	assert_true(fabs(balance_of(cv1, 2, &sd) - 0.0) < EPS && fabs(sd - 1.0) < EPS);
	assert_true(fabs(balance_of(half, 2, &sd) - 0.5) < EPS && fabs(sd - 1.0) < EPS);
	assert_true(balance_of(one, 1, &sd) == 1.0 && sd == 0.0);   /* one member */
	assert_true(balance_of(zeros, 2, &sd) == 1.0 && sd == 0.0); /* mean 0 */
	assert_true(balance_of(NULL, 0, &sd) == 1.0 && sd == 0.0);  /* no member */
	/* mean 1, sd sqrt(3): CV above 1 clamps B at 0. */
	assert_true(balance_of(wide, 4, &sd) == 0.0 && fabs(sd - sqrt(3.0)) < EPS);
}

/* Time averages: B 0.5 for 10 s then 1 for 10 s; sd 1 then 0. */
static void test_metrics_load_time_average(void **state)
{
	const double a[] = {1, 3}, b[] = {2, 2};
	struct pf_metrics *m = make(S(60), 64);
	struct pf_metrics_obs o = obs_at(0, 1, 1);
	struct pf_metrics_report r;

	(void)state;
	o.loads = a;
	o.loads_count = 2;
	observe(m, &o);
	o.time_ns = S(10);
	o.loads = b;
	observe(m, &o);
	o.time_ns = S(20);
	observe(m, &o);
	r = report(m);
	assert_true(fabs(r.window.load_balance - 0.75) < EPS);
	assert_true(fabs(r.window.load_stddev - 0.5) < EPS);
	pf_metrics_destroy(m);
}

/* 25 migrations over 100 owned VNodes, 300 placements in 60 s, 4 KiB per move; health
 * from A = 0.75, S = 0.7, B = 0.75. */
static void test_metrics_overhead_rate_bytes_health(void **state)
{
	const double loads[] = {1, 3, 2, 2};
	struct pf_metrics *m = make(S(60), 64);
	struct pf_metrics_obs o = obs_at(0, 100, 100);
	struct pf_metrics_report r;

	(void)state;
	o.loads = loads;
	o.loads_count = 2; /* {1, 3}: B = 0.5 */
	observe(m, &o);
	o = obs_at(S(30), 100, 50);
	o.loads = loads + 2; /* {2, 2}: B = 1 */
	o.loads_count = 2;
	o.ownership_changes = 30;
	o.migrations = 25;
	o.migration_bytes = 25 * 4096;
	o.placements = 300;
	observe(m, &o);
	o.time_ns = S(60);
	observe(m, &o);
	r = report(m);
	/* A = (100 x 30 + 50 x 30) / (100 x 60) = 0.75; owned mean 75. */
	assert_true(fabs(r.window.availability - 0.75) < EPS);
	assert_true(fabs(r.window.rebalance_overhead - 25.0 / 75.0) < EPS);
	assert_true(fabs(r.window.placements_per_s - 5.0) < EPS);
	assert_int_equal(r.window.migration_bytes, 25 * 4096);
	assert_int_equal(r.window.migrations, 25);
	assert_true(fabs(r.window.stability - 0.7) < EPS);
	assert_true(fabs(r.window.load_balance - 0.75) < EPS);
	assert_true(fabs(r.window.health - 100 * 0.75 * 0.85 * 0.875) < 1e-9);
	pf_metrics_destroy(m);
}

/* Ten latencies 10..100 ms: p50 = 50 ms (rank 5), p99 = 100 ms (rank 10); the window only
 * sees the last ones. */
static void test_metrics_recovery_percentiles(void **state)
{
	struct pf_metrics *m = make(S(30), 64);
	struct pf_metrics_obs o = obs_at(0, 1, 1);
	struct pf_metrics_report r;

	(void)state;
	observe(m, &o);
	for (uint64_t i = 1; i <= 10; i++)
		assert_int_equal(pf_metrics_record_recovery(m, S(i * 10), MS(i * 10)), 0);
	o.time_ns = S(100);
	observe(m, &o);
	r = report(m);
	assert_int_equal(r.total.recoveries, 10);
	assert_int_equal(r.total.recovery_ns_p50, MS(50));
	assert_int_equal(r.total.recovery_ns_p99, MS(100));
	assert_int_equal(r.total.recovery_ns_max, MS(100));
	assert_int_equal(r.recovery_ns_sum, MS(550));
	/* Window [70, 100]: 70, 80, 90, 100 ms; p50 rank 2 = 80, p99 rank 4 = 100. */
	assert_int_equal(r.window.recoveries, 4);
	assert_int_equal(r.window.recovery_ns_p50, MS(80));
	assert_int_equal(r.window.recovery_ns_p99, MS(100));
	/* Time going backwards, or a latency longer than the time itself: refused. */
	assert_int_equal(pf_metrics_record_recovery(m, S(50), MS(1)), -ERANGE);
	assert_int_equal(pf_metrics_record_recovery(m, MS(1), MS(2)), -ERANGE);
	pf_metrics_destroy(m);
}

/* More latencies than kept: the since-start percentiles say so, max stays exact. */
static void test_metrics_recovery_truncated(void **state)
{
	struct pf_metrics_opts mo;
	struct pf_metrics *m = NULL;
	struct pf_metrics_obs o = obs_at(S(100), 1, 1);
	struct pf_metrics_report r;

	(void)state;
	pf_metrics_opts_init(&mo);
	mo.latencies_max = 3;
	assert_int_equal(pf_metrics_create(&mo, &m), 0);
	assert_int_equal(pf_metrics_record_recovery(m, S(1), MS(900)), 0);
	for (uint64_t i = 2; i <= 5; i++)
		assert_int_equal(pf_metrics_record_recovery(m, S(i), MS(i)), 0);
	observe(m, &o);
	r = report(m);
	assert_true(r.flags & PF_METRICS_RECOVERY_TRUNCATED);
	assert_int_equal(r.recoveries_total, 5);
	assert_int_equal(r.total.recoveries, 3);
	assert_int_equal(r.total.recovery_ns_p99, MS(5));
	assert_int_equal(r.total.recovery_ns_max, MS(900));
	pf_metrics_destroy(m);
}

/* Bad observations are refused and leave the accumulator as it was. */
static void test_metrics_refuses_bad_observations(void **state)
{
	const double bad[] = {1, -1}, nan_load[] = {NAN};
	struct pf_metrics *m = make(S(60), 64);
	struct pf_metrics_obs o = obs_at(S(10), 10, 10), b;
	struct pf_metrics_report r;

	(void)state;
	o.placements = 5;
	observe(m, &o);
	b = obs_at(S(9), 10, 10); /* time backwards */
	b.placements = 5;
	assert_int_equal(pf_metrics_observe(m, &b), -ERANGE);
	b = obs_at(S(11), 10, 10); /* a cumulative count going down */
	b.placements = 4;
	assert_int_equal(pf_metrics_observe(m, &b), -EINVAL);
	b = obs_at(S(11), 10, 11); /* more owned than defined */
	b.placements = 5;
	assert_int_equal(pf_metrics_observe(m, &b), -EINVAL);
	b.vnodes_owned = 10;
	b.loads = bad;
	b.loads_count = 2;
	assert_int_equal(pf_metrics_observe(m, &b), -EINVAL);
	b.loads = nan_load;
	b.loads_count = 1;
	assert_int_equal(pf_metrics_observe(m, &b), -EINVAL);
	b.loads = NULL;
	assert_int_equal(pf_metrics_observe(m, &b), -EINVAL);
	b.loads_count = PF_MEMBERS_MAX + 1;
	b.loads = nan_load;
	assert_int_equal(pf_metrics_observe(m, &b), -E2BIG);
	b.loads_count = 0;
	b.flags = 0x80;
	assert_int_equal(pf_metrics_observe(m, &b), -EINVAL);
	b.flags = 0;
	b.size = 8;
	assert_int_equal(pf_metrics_observe(m, &b), -EINVAL);
	assert_int_equal(pf_metrics_observe(NULL, &o), -EINVAL);
	r = report(m);
	assert_int_equal(r.observations, 1);
	assert_int_equal(r.time_ns, S(10));
	pf_metrics_destroy(m);
}

static void test_metrics_refuses_bad_options(void **state)
{
	struct pf_metrics_opts o;
	struct pf_metrics *m = NULL;

	(void)state;
	pf_metrics_opts_init(&o);
	o.window_ns = PF_METRICS_WINDOW_NS_MIN - 1;
	assert_int_equal(pf_metrics_create(&o, &m), -EINVAL);
	pf_metrics_opts_init(&o);
	o.samples_max = 1;
	assert_int_equal(pf_metrics_create(&o, &m), -EINVAL);
	pf_metrics_opts_init(&o);
	o.points_max = PF_METRICS_POINTS_MAX + 1;
	assert_int_equal(pf_metrics_create(&o, &m), -EINVAL);
	pf_metrics_opts_init(&o);
	o.reserved[3] = 1;
	assert_int_equal(pf_metrics_create(&o, &m), -EINVAL);
	pf_metrics_opts_init(&o);
	assert_int_equal(pf_metrics_create(&o, NULL), -EINVAL);
	assert_null(m);
	assert_int_equal(pf_metrics_create(NULL, &m), 0);
	pf_metrics_destroy(m);
	pf_metrics_destroy(NULL);
}

/* An observation at the same time replaces the values held from then on. */
static void test_metrics_same_time_replaces(void **state)
{
	struct pf_metrics *m = make(S(60), 64);
	struct pf_metrics_obs o = obs_at(0, 10, 10);
	struct pf_metrics_report r;

	(void)state;
	observe(m, &o);
	o = obs_at(S(10), 10, 10);
	observe(m, &o);
	o = obs_at(S(10), 10, 0); /* at 10 s, everything lost at once */
	observe(m, &o);
	o = obs_at(S(20), 10, 0);
	observe(m, &o);
	r = report(m);
	assert_true(fabs(r.window.availability - 0.5) < EPS);
	assert_int_equal(r.observations, 4);
	pf_metrics_destroy(m);
}

/* A ring of 4 samples cannot hold a 60 s window of 10 s steps: clipped, and said. */
static void test_metrics_window_clipped_by_ring(void **state)
{
	struct pf_metrics *m = make(S(60), 4);
	struct pf_metrics_obs o;
	struct pf_metrics_report r;

	(void)state;
	for (uint64_t i = 0; i <= 10; i++) {
		o = obs_at(S(i * 10), 10, i < 5 ? 0 : 10); /* owned from 50 s on */
		o.placements = i;
		observe(m, &o);
	}
	r = report(m);
	assert_true(r.flags & PF_METRICS_WINDOW_CLIPPED);
	assert_int_equal(r.window.span_ns, S(30)); /* samples 70..100 kept */
	assert_true(r.window.availability == 1.0);
	/* Since start does not need the ring: owned 50 of 100 s. */
	assert_true(fabs(r.total.availability - 0.5) < EPS);
	assert_int_equal(r.total.placements, 10);
	assert_int_equal(r.total.span_ns, S(100));
	pf_metrics_destroy(m);
}

/* Points: one per flagged observation, the window's figures at the time; the cursor
 * skips what was overwritten. */
static void test_metrics_points(void **state)
{
	struct pf_metrics_opts mo;
	struct pf_metrics *m = NULL;
	struct pf_metrics_point p[8];
	struct pf_metrics_obs o;
	uint64_t cursor = 0;

	(void)state;
	pf_metrics_opts_init(&mo);
	mo.points_max = 3;
	assert_int_equal(pf_metrics_create(&mo, &m), 0);
	for (uint64_t i = 0; i < 5; i++) {
		o = obs_at(S(i), 4, i % 2 ? 2 : 4);
		o.flags = PF_METRICS_OBS_POINT;
		observe(m, &o);
		o.flags = 0; /* an observation that is no point */
		o.time_ns = S(i) + MS(500);
		observe(m, &o);
	}
	assert_int_equal(pf_metrics_points(m, &cursor, p, 8), 3);
	assert_int_equal(cursor, 5);
	assert_int_equal(p[0].time_ns, S(2));
	assert_int_equal(p[2].time_ns, S(4));
	assert_int_equal(p[1].vnodes_owned, 2);
	/* At 3 s: owned 4 for [0,1), 2 for [1,2), 4 for [2,3): 10 of 12 VNode-seconds. */
	assert_true(fabs(p[1].window.availability - 10.0 / 12.0) < EPS);
	assert_int_equal(pf_metrics_points(m, &cursor, p, 8), 0);
	assert_int_equal(pf_metrics_points(m, NULL, p, 8), -EINVAL);
	pf_metrics_destroy(m);
}

/*
 * A strict reader of the Prometheus text format 0.0.4: # HELP then # TYPE before a
 * family's samples, samples of a family contiguous, names [a-zA-Z_:][a-zA-Z0-9_:]*,
 * labels name="value" with \\ \" \n escapes, values that parse (NaN, +Inf, -Inf
 * included), counters ending in _total, summaries with quantile labels, _sum and _count,
 * no series twice, a newline at the end. Returns the number of samples, or -line.
 */
struct family {
	char name[128];
	char type[16];
	int help;
	int closed;
};

static int name_ok(const char *s, size_t n, int colon)
{
	if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_' || (colon && s[0] == ':')))
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || (colon && s[i] == ':')))
			return 0;
	return 1;
}

static int value_ok(const char *s)
{
	char *end;

	if (strcmp(s, "NaN") == 0 || strcmp(s, "+Inf") == 0 || strcmp(s, "-Inf") == 0)
		return 1;
	if (*s == '\0' || isspace((unsigned char)*s))
		return 0;
	(void)strtod(s, &end);
	return *end == '\0';
}

/* Parse labels at *p (after '{'): 1 ok, 0 bad; *ret_quantile set if a quantile label. */
static int labels_ok(const char **p, int *ret_quantile)
{
	const char *s = *p;

	*ret_quantile = 0;
	while (*s != '}') {
		const char *n = s;

		while (isalnum((unsigned char)*s) || *s == '_')
			s++;
		if (!name_ok(n, (size_t)(s - n), 0) || *s++ != '=' || *s++ != '"')
			return 0;
		*ret_quantile |= (s - n == 10 && strncmp(n, "quantile", 8) == 0);
		while (*s != '"') {
			if (*s == '\0' || *s == '\n')
				return 0;
			if (*s == '\\' && !(s[1] == '\\' || s[1] == '"' || s[1] == 'n'))
				return 0;
			s += *s == '\\' ? 2 : 1;
		}
		s++;
		if (*s == ',')
			s++;
		else if (*s != '}')
			return 0;
	}
	*p = s + 1;
	return 1;
}

static int suffix_of(const char *name, const char *family, const char *suffix)
{
	size_t f = strlen(family);

	return strncmp(name, family, f) == 0 && strcmp(name + f, suffix) == 0;
}

static int sample_ok(struct family *fam, int nfam, const char *line, char seen[][160], int *nseen)
{
	const char *p = line, *n = line;
	struct family *f = nfam > 0 ? &fam[nfam - 1] : NULL;
	int quantile = 0;
	char name[128], series[160];

	while (isalnum((unsigned char)*p) || *p == '_' || *p == ':')
		p++;
	if (!name_ok(n, (size_t)(p - n), 1) || (size_t)(p - n) >= sizeof(name) || f == NULL ||
	    f->closed || !f->help || f->type[0] == '\0')
		return 0;
	memcpy(name, n, (size_t)(p - n));
	name[p - n] = '\0';
	if (*p == '{' && (p++, !labels_ok(&p, &quantile)))
		return 0;
	if (*p++ != ' ' || !value_ok(p))
		return 0;
	if (strcmp(f->type, "summary") == 0) {
		if (!(strcmp(name, f->name) == 0 && quantile) &&
		    !suffix_of(name, f->name, "_sum") && !suffix_of(name, f->name, "_count"))
			return 0;
	} else if (strcmp(name, f->name) != 0) {
		return 0;
	}
	(void)snprintf(series, sizeof(series), "%.*s", (int)(p - 1 - line), line);
	for (int i = 0; i < *nseen; i++)
		if (strcmp(seen[i], series) == 0)
			return 0;
	memcpy(seen[(*nseen)++], series, sizeof(series));
	return 1;
}

static int comment_ok(struct family *fam, int *nfam, const char *line)
{
	char name[128], rest[256];
	struct family *f;
	int help = strncmp(line, "# HELP ", 7) == 0, type = strncmp(line, "# TYPE ", 7) == 0;

	if (!help && !type)
		return 1; /* another comment: allowed anywhere */
	if (sscanf(line + 7, "%127s %255[^\n]", name, rest) != 2)
		return 0;
	if (!name_ok(name, strlen(name), 1))
		return 0;
	for (int i = 0; i < *nfam; i++)
		if (strcmp(fam[i].name, name) == 0 && (i != *nfam - 1 || fam[i].closed))
			return 0; /* a family that came back, or metadata twice */
	f = *nfam > 0 && strcmp(fam[*nfam - 1].name, name) == 0 ? &fam[*nfam - 1] : NULL;
	if (f == NULL) {
		if (*nfam > 0)
			fam[*nfam - 1].closed = 1;
		f = &fam[(*nfam)++];
		memset(f, 0, sizeof(*f));
		(void)snprintf(f->name, sizeof(f->name), "%s", name);
	}
	if (help) {
		if (f->help || f->type[0] != '\0')
			return 0; /* HELP once, before TYPE */
		f->help = 1;
		return 1;
	}
	if (f->type[0] != '\0' || !(strcmp(rest, "gauge") == 0 || strcmp(rest, "counter") == 0 ||
				    strcmp(rest, "summary") == 0 ||
				    strcmp(rest, "histogram") == 0 || strcmp(rest, "untyped") == 0))
		return 0;
	if (strcmp(rest, "counter") == 0 &&
	    (strlen(name) < 6 || strcmp(name + strlen(name) - 6, "_total") != 0))
		return 0;
	(void)snprintf(f->type, sizeof(f->type), "%.15s", rest);
	return 1;
}

static int prom_parse(const char *text)
{
	static struct family fam[64];
	static char seen[256][160];
	int nfam = 0, nseen = 0, lineno = 0;
	const char *p = text;

	if (*text == '\0' || text[strlen(text) - 1] != '\n')
		return -1;
	while (*p != '\0') {
		const char *e = strchr(p, '\n');
		char line[512];
		int ok;

		lineno++;
		if ((size_t)(e - p) >= sizeof(line) || nfam >= 63 || nseen >= 255)
			return -lineno;
		memcpy(line, p, (size_t)(e - p));
		line[e - p] = '\0';
		if (line[0] == '#')
			ok = comment_ok(fam, &nfam, line);
		else
			ok = line[0] != '\0' && sample_ok(fam, nfam, line, seen, &nseen);
		if (!ok)
			return -lineno;
		p = e + 1;
	}
	return nseen;
}

/* The parser is strict: each of these breaks one rule. */
static void test_metrics_prom_parser_rejects(void **state)
{
	static const char *const bad[] = {
		"pflight_x 1\n",                                               /* no HELP/TYPE */
		"# HELP pflight_x h\n# TYPE pflight_x gauge\npflight_x 1",     /* no newline */
		"# TYPE pflight_x gauge\n# HELP pflight_x h\npflight_x 1\n",   /* TYPE first */
		"# HELP pflight_x h\n# TYPE pflight_x counter\npflight_x 1\n", /* no _total */
		"# HELP 9x h\n# TYPE 9x gauge\n9x 1\n",                        /* bad name */
		"# HELP pflight_x h\n# TYPE pflight_x gauge\npflight_x{a=\"b} 1\n",
		"# HELP pflight_x h\n# TYPE pflight_x gauge\npflight_x{a=\"\\q\"} 1\n",
		"# HELP pflight_x h\n# TYPE pflight_x gauge\npflight_x one\n",
		"# HELP pflight_x h\n# TYPE pflight_x gauge\npflight_x 1\npflight_x 2\n",
		"# HELP pflight_x h\n# TYPE pflight_x gauge\npflight_y 1\n",
		("# HELP pflight_x h\n# TYPE pflight_x gauge\npflight_x 1\n"
		 "# HELP pflight_y h\n# TYPE pflight_y gauge\npflight_y 1\npflight_x 2\n"),
		"# HELP pflight_x h\n# TYPE pflight_x nonsense\npflight_x 1\n",
	};
	const char *good = "# HELP pflight_x h\n# TYPE pflight_x gauge\npflight_x{a=\"b\\\"c\"} "
			   "NaN\n# HELP pflight_c_total h\n# TYPE pflight_c_total counter\n"
			   "pflight_c_total 3\n";

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (prom_parse(bad[i]) >= 0)
			fail_msg("accepted bad exposition %zu", i);
	}
	assert_int_equal(prom_parse(good), 2);
}

static struct pf_metrics *busy_metrics(void)
{
	const double loads[] = {0.5, 0.7, 0.9};
	struct pf_metrics *m = make(S(60), 64);
	struct pf_metrics_obs o;

	for (uint64_t i = 0; i <= 120; i += 10) {
		o = obs_at(S(i), 100, 90 + (uint32_t)(i % 20 == 0) * 10);
		o.members_active = 3;
		o.loads = loads;
		o.loads_count = 3;
		o.ownership_changes = i;
		o.membership_events = i / 10;
		o.migrations = i / 2;
		o.migration_bytes = i * 100;
		o.placements = i * 3;
		observe(m, &o);
		if (i > 0)
			assert_int_equal(pf_metrics_record_recovery(m, S(i), MS(i)), 0);
	}
	return m;
}

/* promtool, where the Debian prometheus package put it, checks the same text. */
static void promtool_check(const char *text)
{
	char path[64], cmd[160];
	FILE *f;
	int rc;

	if (access("/usr/bin/promtool", X_OK) != 0) {
		fprintf(stderr, "metrics: promtool not installed (Debian package prometheus): "
				"only the built-in parser checked the exposition\n");
		return;
	}
	(void)snprintf(path, sizeof(path), "/tmp/pft-metrics-%d.prom", (int)getpid());
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	(void)snprintf(cmd, sizeof(cmd), "/usr/bin/promtool check metrics < %s 1>&2", path);
	rc = system(cmd);
	(void)unlink(path);
	assert_int_equal(rc, 0);
}

static void test_metrics_prometheus_exposition(void **state)
{
	struct pf_metrics *m = busy_metrics(), *empty = make(S(60), 8);
	char small[64], *buf;
	size_t len = 0, len2 = 0;
	int n;

	(void)state;
	assert_int_equal(pf_metrics_prometheus(empty, small, sizeof(small), &len), -ENODATA);
	assert_int_equal(pf_metrics_prometheus(m, small, sizeof(small), &len), -ENOBUFS);
	assert_true(len >= sizeof(small) && strlen(small) == sizeof(small) - 1);
	buf = malloc(len + 1);
	assert_non_null(buf);
	assert_int_equal(pf_metrics_prometheus(m, buf, len + 1, &len2), 0);
	assert_int_equal(len2, len);
	assert_int_equal(strlen(buf), len);
	n = prom_parse(buf);
	if (n < 0)
		fail_msg("exposition line %d refused:\n%s", -n, buf);
	assert_true(n >= 30);
	assert_non_null(strstr(buf, "pflight_availability_ratio{window=\"60s\"} "));
	assert_non_null(strstr(buf, "pflight_recovery_latency_seconds_count 12\n"));
	assert_non_null(strstr(buf, "pflight_placements_total 360\n"));
	/* Window [60, 120]: recoveries at 60..120 s of 60..120 ms, p50 = 90 ms (rank 4). */
	assert_non_null(strstr(buf, "pflight_recovery_latency_seconds{quantile=\"0.5\"} 0.09\n"));
	promtool_check(buf);
	free(buf);
	pf_metrics_destroy(m);
	pf_metrics_destroy(empty);
}

/* The sampler against a real domain: defined and owned counted, a placement, a move and
 * a release seen as such, members' joins and departures, loads from their attributes. */
static void test_metrics_sampler_live_domain(void **state)
{
	struct pf_domain_opts dopts;
	struct pf_metrics_sampler_opts so;
	struct pf_metrics_sampler *smp = NULL;
	struct pf_domain *d = NULL;
	struct pf_member *a = NULL, *b = NULL;
	struct pf_vnode *v = NULL;
	struct pf_metrics_obs o = {.size = sizeof(o)};
	char name[64];

	(void)state;
	test_domain_name(name, sizeof(name), "metrics");
	pf_domain_opts_init(&dopts);
	dopts.flags = PF_DOMAIN_REPLACE;
	dopts.vnodes_max = 16;
	dopts.members_max = 4;
	assert_int_equal(pf_domain_create(name, &dopts, &d), 0);
	assert_int_equal(pf_vnode_define_range(d, 0, 10, NULL), 10);
	assert_int_equal(pf_member_join(d, NULL, &a), 0);
	pf_metrics_sampler_opts_init(&so);
	so.vnodes_per_call = 6; /* a sweep takes three steps */
	assert_int_equal(pf_metrics_sampler_create(d, &so, &smp), 0);
	assert_int_equal(pf_metrics_sampler_step(smp, S(1), &o), 0);
	assert_int_equal(pf_metrics_sampler_step(smp, S(2), &o), 0);
	assert_int_equal(pf_metrics_sampler_step(smp, S(3), &o), 1);
	assert_int_equal(o.time_ns, S(3));
	assert_int_equal(o.vnodes_defined, 10);
	assert_int_equal(o.vnodes_owned, 0);
	assert_int_equal(o.members_active, 1);
	assert_int_equal(o.placements + o.membership_events, 0); /* the baseline */
	/* A claim (placement), a second member (join), then the claim released (change). */
	assert_int_equal(pf_vnode_claim_id(a, 0, &v), 0); /* by id: one placement */
	assert_int_equal(pf_member_join(d, NULL, &b), 0);
	assert_int_equal(pf_member_report_load(a, 500000, 0), 0);
	for (int i = 0; i < 3 && pf_metrics_sampler_step(smp, S(4), &o) == 0; i++)
		;
	assert_int_equal(o.vnodes_owned, 1);
	assert_int_equal(o.placements, 1);
	assert_int_equal(o.membership_events, 1);
	assert_int_equal(o.members_active, 2);
	assert_int_equal(o.loads_count, 2);
	assert_true(fabs(o.loads[0] + o.loads[1] - (0.5 + 1.0 / PF_MEMBER_CAPACITY_DEFAULT)) <
		    1e-9);
	assert_int_equal(pf_vnode_release(v), 0);
	assert_int_equal(pf_member_leave(b), 0);
	for (int i = 0; i < 3 && pf_metrics_sampler_step(smp, S(5), &o) == 0; i++)
		;
	assert_int_equal(o.ownership_changes, 1);
	assert_int_equal(o.vnodes_owned, 0);
	assert_int_equal(o.membership_events, 2);
	assert_int_equal(o.migrations, 0);
	assert_int_equal(pf_metrics_sampler_step(NULL, S(5), &o), -EINVAL);
	pf_metrics_sampler_destroy(smp);
	assert_int_equal(pf_member_leave(a), 0);
	assert_int_equal(pf_domain_destroy(d), 0);
}

/* A word no writer produces (state 7, an owner slot past the table) is counted as refused
 * and left out, never taken as a VNode or an owner. */
static void test_metrics_sampler_refuses_corrupt_words(void **state)
{
	struct pf_domain_opts dopts;
	struct pf_metrics_sampler *smp = NULL;
	struct pf_metrics_obs o = {.size = sizeof(o)};
	struct pf_domain *d = NULL;
	uint64_t before, after;
	char name[64];

	(void)state;
	test_domain_name(name, sizeof(name), "metrics-corrupt");
	pf_domain_opts_init(&dopts);
	dopts.flags = PF_DOMAIN_REPLACE;
	dopts.vnodes_max = 8;
	dopts.members_max = 4;
	assert_int_equal(pf_domain_create(name, &dopts, &d), 0);
	assert_int_equal(pf_vnode_define_range(d, 0, 8, NULL), 8);
	{
		uint64_t c[PF_COUNTER_COUNT];

		assert_int_equal(pf_domain_counters(d, c, PF_COUNTER_COUNT), PF_COUNTER_COUNT);
		before = c[PF_COUNTER_SHM_INVALID];
		/* Relaxed: the test is the only thread; a scribble as a foreign writer would. */
		pf_store_relaxed(&d->own[2], own_word(PF_VNODE_STATE_MAX + 1, 0, 0, 1));
		pf_store_relaxed(&d->own[5], own_word(PF_VNODE_ACTIVE, 9, 1, 1));
		assert_int_equal(pf_metrics_sampler_create(d, NULL, &smp), 0);
		assert_int_equal(pf_metrics_sampler_step(smp, S(1), &o), 1);
		assert_int_equal(o.vnodes_defined, 6);
		assert_int_equal(o.vnodes_owned, 0);
		assert_int_equal(pf_domain_counters(d, c, PF_COUNTER_COUNT), PF_COUNTER_COUNT);
		after = c[PF_COUNTER_SHM_INVALID];
	}
	assert_int_equal(after - before, 2);
	pf_metrics_sampler_destroy(smp);
	assert_int_equal(pf_domain_destroy(d), 0);
}

/* Sampler options as every options struct (STYLE 10.4): unknown flags and reserved fields
 * refused, and a newer caller's longer struct only with zeros past what this library
 * knows. */
static void test_metrics_sampler_options(void **state)
{
	struct {
		struct pf_metrics_sampler_opts o;
		uint64_t newer; /* a field this library does not know */
	} big;
	struct pf_metrics_sampler_opts so;
	struct pf_metrics_sampler *smp = NULL;
	struct pf_domain_opts dopts;
	struct pf_domain *d = NULL;
	char name[64];

	(void)state;
	test_domain_name(name, sizeof(name), "metrics-opts");
	pf_domain_opts_init(&dopts);
	dopts.flags = PF_DOMAIN_REPLACE;
	dopts.vnodes_max = 8;
	dopts.members_max = 4;
	assert_int_equal(pf_domain_create(name, &dopts, &d), 0);
	pf_metrics_sampler_opts_init(&so);
	so.flags = 1;
	assert_int_equal(pf_metrics_sampler_create(d, &so, &smp), -EINVAL);
	pf_metrics_sampler_opts_init(&so);
	so.reserved[1] = 1;
	assert_int_equal(pf_metrics_sampler_create(d, &so, &smp), -EINVAL);
	pf_metrics_sampler_opts_init(&so);
	so.size = 4;
	assert_int_equal(pf_metrics_sampler_create(d, &so, &smp), -EINVAL);
	memset(&big, 0, sizeof(big));
	pf_metrics_sampler_opts_init(&big.o);
	big.o.size = sizeof(big);
	big.newer = 1;
	assert_int_equal(pf_metrics_sampler_create(d, &big.o, &smp), -EINVAL);
	assert_null(smp);
	big.newer = 0;
	big.o.vnodes_per_call = 3;
	assert_int_equal(pf_metrics_sampler_create(d, &big.o, &smp), 0);
	pf_metrics_sampler_destroy(smp);
	assert_int_equal(pf_domain_destroy(d), 0);
}

/* A live member whose record no writer would produce is refused and skipped: neither a
 * departure when it turns unreadable nor a join when it reads well again. */
static void test_metrics_sampler_skips_corrupt_member(void **state)
{
	struct pf_domain_opts dopts;
	struct pf_metrics_sampler *smp = NULL;
	struct pf_metrics_obs o = {.size = sizeof(o)};
	struct pf_domain *d = NULL;
	struct pf_member *a = NULL;
	uint64_t c[PF_COUNTER_COUNT], before;
	char name[64];
	uint32_t slot;

	(void)state;
	test_domain_name(name, sizeof(name), "metrics-corrupt-member");
	pf_domain_opts_init(&dopts);
	dopts.flags = PF_DOMAIN_REPLACE;
	dopts.vnodes_max = 4;
	dopts.members_max = 4;
	assert_int_equal(pf_domain_create(name, &dopts, &d), 0);
	assert_int_equal(pf_member_join(d, NULL, &a), 0);
	slot = (uint32_t)pf_member_id(a);
	assert_int_equal(pf_metrics_sampler_create(d, NULL, &smp), 0);
	assert_int_equal(pf_metrics_sampler_step(smp, S(1), &o), 1); /* the baseline */
	assert_int_equal(o.members_active, 1);
	assert_int_equal(pf_domain_counters(d, c, PF_COUNTER_COUNT), PF_COUNTER_COUNT);
	before = c[PF_COUNTER_SHM_INVALID];
	d->members[slot].reserved0 = 1; /* a scribble, as a foreign writer would */
	assert_int_equal(pf_metrics_sampler_step(smp, S(2), &o), 1);
	assert_int_equal(o.members_active, 0);
	assert_int_equal(o.membership_events, 0);
	assert_int_equal(pf_domain_counters(d, c, PF_COUNTER_COUNT), PF_COUNTER_COUNT);
	assert_int_equal(c[PF_COUNTER_SHM_INVALID] - before, 1);
	d->members[slot].reserved0 = 0;
	assert_int_equal(pf_metrics_sampler_step(smp, S(3), &o), 1);
	assert_int_equal(o.members_active, 1);
	assert_int_equal(o.membership_events, 0);
	pf_metrics_sampler_destroy(smp);
	assert_int_equal(pf_member_leave(a), 0);
	assert_int_equal(pf_domain_destroy(d), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_metrics_availability_window_and_total),
		cmocka_unit_test(test_metrics_no_vnodes),
		cmocka_unit_test(test_metrics_single_observation),
		cmocka_unit_test(test_metrics_stability),
		cmocka_unit_test(test_metrics_churn),
		cmocka_unit_test(test_metrics_load_balance),
		cmocka_unit_test(test_metrics_load_time_average),
		cmocka_unit_test(test_metrics_overhead_rate_bytes_health),
		cmocka_unit_test(test_metrics_recovery_percentiles),
		cmocka_unit_test(test_metrics_recovery_truncated),
		cmocka_unit_test(test_metrics_refuses_bad_observations),
		cmocka_unit_test(test_metrics_refuses_bad_options),
		cmocka_unit_test(test_metrics_sampler_options),
		cmocka_unit_test(test_metrics_same_time_replaces),
		cmocka_unit_test(test_metrics_window_clipped_by_ring),
		cmocka_unit_test(test_metrics_points),
		cmocka_unit_test(test_metrics_prom_parser_rejects),
		cmocka_unit_test(test_metrics_prometheus_exposition),
		cmocka_unit_test(test_metrics_sampler_live_domain),
		cmocka_unit_test(test_metrics_sampler_refuses_corrupt_words),
		cmocka_unit_test(test_metrics_sampler_skips_corrupt_member),
	};

	return cmocka_run_group_tests_name("ctl_metrics", tests, NULL, NULL);
}

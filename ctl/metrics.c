/* SPDX-License-Identifier: MIT */
/*
 * ctl/metrics.c: the metrics accumulator (pflight/metrics.h has the definitions).
 *
 * Why integrals: a window can start anywhere between two observations, and averages must
 * weigh each value by how long it held. Every kept observation (a "sample") carries the
 * integrals, from the first observation up to its own time, of the values that were held
 * before it (VNodes defined and owned, members, load stddev, load balance), and the
 * cumulative counts as observed. A span's integral is then the difference of two
 * integrals, where the one at the window's start is the last sample at or before it plus
 * that sample's values held for the rest: a binary search in the ring, O(log n), no
 * rescan. Since-start figures need no ring at all (the integrals are since start, the
 * counts are taken against the first observation, kept apart as the origin).
 *
 * Integrals are doubles of value x nanoseconds: a million VNodes for a day is 8.6e19,
 * where a double keeps 16 significant digits, so a minute's window out of a day's integral
 * still has 12 right; small hand-made cases (tests) are exact.
 *
 * Rings: samples (windows), points (the series for charts), latencies (percentiles); each
 * forgets its oldest entry when full. Nothing is allocated after pf_metrics_create().
 */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/domain_impl.h"
#include "pflight/metrics.h"
#include "shm/pf_assert.h"

#define NS_PER_S 1e9
#define NS_PER_MIN 60e9

enum { C_CHANGES, C_EVENTS, C_MIGRATIONS, C_BYTES, C_PLACEMENTS, COUNTS };
enum { I_DEFINED, I_OWNED, I_MEMBERS, I_STDDEV, I_BALANCE, INTEGRALS };

struct sample {
	uint64_t t;
	uint32_t defined;
	uint32_t owned;
	uint32_t members;
	uint32_t reserved0;
	double v[INTEGRALS]; /* values held from t on (v[I_DEFINED] = defined, ...) */
	double i[INTEGRALS]; /* integrals from the origin up to t */
	uint64_t c[COUNTS];  /* cumulative counts as observed */
};

struct latency {
	uint64_t t;
	uint64_t ns;
};

/* Where a span starts: integrals at its start time and the counts observed by then. */
struct edge {
	uint64_t t;
	double i[INTEGRALS];
	uint64_t c[COUNTS];
};

struct pf_metrics {
	struct pf_metrics_opts o;
	struct sample *samples; /* ring of samples_max */
	uint32_t first;
	uint32_t count;
	int dropped; /* the ring forgot a sample: windows before the oldest are clipped */
	struct sample origin;
	uint64_t observations;
	struct latency *lat; /* ring of latencies_max */
	uint32_t lat_first;
	uint32_t lat_count;
	uint64_t lat_total;
	uint64_t lat_sum;
	uint64_t lat_max;
	uint64_t lat_last_t;
	uint64_t *scratch; /* latencies_max, for sorting */
	struct pf_metrics_point *points;
	uint64_t points_seq; /* points appended since creation */
};

PF_API void pf_metrics_opts_init(struct pf_metrics_opts *opts)
{
	PF_ASSERT(opts != NULL);
	memset(opts, 0, sizeof(*opts));
	opts->size = sizeof(*opts);
	opts->window_ns = PF_METRICS_WINDOW_NS_DEFAULT;
	opts->samples_max = PF_METRICS_SAMPLES_DEFAULT;
	opts->points_max = PF_METRICS_POINTS_DEFAULT;
	opts->latencies_max = PF_METRICS_LATENCIES_DEFAULT;
}

static int opts_resolve(const struct pf_metrics_opts *in, struct pf_metrics_opts *out)
{
	pf_metrics_opts_init(out);
	if (in != NULL &&
	    opts_copy(out, sizeof(*out), in, offsetof(struct pf_metrics_opts, reserved)) < 0)
		return -EINVAL;
	if (out->flags != 0 || out->reserved0 != 0 || out->window_ns < PF_METRICS_WINDOW_NS_MIN ||
	    out->window_ns > PF_METRICS_WINDOW_NS_MAX || out->samples_max < 2 ||
	    out->samples_max > PF_METRICS_SAMPLES_MAX || out->points_max < 1 ||
	    out->points_max > PF_METRICS_POINTS_MAX || out->latencies_max < 1 ||
	    out->latencies_max > PF_METRICS_LATENCIES_MAX)
		return -EINVAL;
	for (size_t i = 0; i < PF_ARRAY_SIZE(out->reserved); i++)
		if (out->reserved[i] != 0)
			return -EINVAL;
	return 0;
}

PF_API int pf_metrics_create(const struct pf_metrics_opts *opts, struct pf_metrics **ret)
{
	struct pf_metrics *m;
	int r;

	if (ret == NULL)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (m == NULL)
		return -ENOMEM;
	r = opts_resolve(opts, &m->o);
	if (r < 0) {
		free(m);
		return r;
	}
	m->samples = calloc(m->o.samples_max, sizeof(*m->samples));
	m->lat = calloc(m->o.latencies_max, sizeof(*m->lat));
	m->scratch = calloc(m->o.latencies_max, sizeof(*m->scratch));
	m->points = calloc(m->o.points_max, sizeof(*m->points));
	if (m->samples == NULL || m->lat == NULL || m->scratch == NULL || m->points == NULL) {
		pf_metrics_destroy(m);
		return -ENOMEM;
	}
	*ret = m;
	return 0;
}

PF_API void pf_metrics_destroy(struct pf_metrics *m)
{
	if (m == NULL)
		return;
	free(m->samples);
	free(m->lat);
	free(m->scratch);
	free(m->points);
	free(m);
}

static struct sample *sample_at(const struct pf_metrics *m, uint32_t k)
{
	PF_ASSERT(k < m->count);
	return &m->samples[(m->first + k) % m->o.samples_max];
}

/* Population stddev and balance of the loads (balance 1 with none or a zero mean). */
static void loads_stats(const double *loads, uint32_t n, double *ret_sd, double *ret_bal)
{
	double sum = 0, sq = 0, mean, sd;

	*ret_sd = 0;
	*ret_bal = 1;
	if (n == 0)
		return;
	for (uint32_t i = 0; i < n; i++)
		sum += loads[i];
	mean = sum / n;
	for (uint32_t i = 0; i < n; i++)
		sq += (loads[i] - mean) * (loads[i] - mean);
	sd = sqrt(sq / n);
	*ret_sd = sd;
	if (mean > 0)
		*ret_bal = 1.0 - fmin(1.0, sd / mean);
}

/* An observation's cumulative counts, indexed by C_*. */
static void obs_counts(const struct pf_metrics_obs *o, uint64_t c[COUNTS])
{
	c[C_CHANGES] = o->ownership_changes;
	c[C_EVENTS] = o->membership_events;
	c[C_MIGRATIONS] = o->migrations;
	c[C_BYTES] = o->migration_bytes;
	c[C_PLACEMENTS] = o->placements;
}

static int obs_check(const struct pf_metrics *m, const struct pf_metrics_obs *o)
{
	uint64_t c[COUNTS];

	if (o->size < sizeof(*o) || (o->flags & ~PF_METRICS_OBS_POINT) != 0 ||
	    o->reserved[0] != 0 || o->reserved[1] != 0 || o->vnodes_owned > o->vnodes_defined ||
	    (o->loads == NULL && o->loads_count > 0))
		return -EINVAL;
	if (o->loads_count > PF_MEMBERS_MAX)
		return -E2BIG;
	for (uint32_t i = 0; i < o->loads_count; i++)
		if (!isfinite(o->loads[i]) || o->loads[i] < 0)
			return -EINVAL;
	if (m->count == 0)
		return 0;
	if (o->time_ns < sample_at(m, m->count - 1)->t)
		return -ERANGE;
	obs_counts(o, c);
	for (int k = 0; k < COUNTS; k++)
		if (c[k] < sample_at(m, m->count - 1)->c[k])
			return -EINVAL;
	return 0;
}

/* The slot the new observation goes to: a new one, or the last when at the same time. */
static struct sample *sample_next(struct pf_metrics *m, uint64_t t)
{
	struct sample *last = m->count > 0 ? sample_at(m, m->count - 1) : NULL, *s;

	if (last != NULL && last->t == t)
		return last; /* a span of zero length: its integrals stay, its values change */
	if (m->count == m->o.samples_max) {
		m->first = (m->first + 1) % m->o.samples_max;
		m->count--;
		m->dropped = 1;
	}
	s = &m->samples[(m->first + m->count) % m->o.samples_max];
	memset(s, 0, sizeof(*s));
	s->t = t;
	for (int k = 0; k < INTEGRALS && last != NULL; k++)
		s->i[k] = last->i[k] + last->v[k] * (double)(t - last->t);
	m->count++;
	return s;
}

static void point_append(struct pf_metrics *m);

PF_API int pf_metrics_observe(struct pf_metrics *m, const struct pf_metrics_obs *o)
{
	struct sample *s;
	int r;

	if (m == NULL || o == NULL)
		return -EINVAL;
	r = obs_check(m, o);
	if (r < 0)
		return r;
	s = sample_next(m, o->time_ns);
	s->defined = o->vnodes_defined;
	s->owned = o->vnodes_owned;
	s->members = o->members_active;
	s->v[I_DEFINED] = o->vnodes_defined;
	s->v[I_OWNED] = o->vnodes_owned;
	s->v[I_MEMBERS] = o->members_active;
	loads_stats(o->loads, o->loads_count, &s->v[I_STDDEV], &s->v[I_BALANCE]);
	obs_counts(o, s->c);
	if (m->observations++ == 0)
		m->origin = *s;
	if (o->flags & PF_METRICS_OBS_POINT)
		point_append(m);
	return 0;
}

PF_API int pf_metrics_record_recovery(struct pf_metrics *m, uint64_t t, uint64_t ns)
{
	struct latency *l;

	if (m == NULL)
		return -EINVAL;
	if (ns > t || (m->lat_total > 0 && t < m->lat_last_t))
		return -ERANGE;
	if (m->lat_count == m->o.latencies_max) {
		m->lat_first = (m->lat_first + 1) % m->o.latencies_max;
		m->lat_count--;
	}
	l = &m->lat[(m->lat_first + m->lat_count) % m->o.latencies_max];
	l->t = t;
	l->ns = ns;
	m->lat_count++;
	m->lat_total++;
	m->lat_sum += ns;
	m->lat_max = PF_MAX_OF(m->lat_max, ns);
	m->lat_last_t = t;
	return 0;
}

/* The span's start at time t0 (clamped to the oldest sample kept); *ret_clipped when the
 * ring forgot what lies before. */
static void edge_at(const struct pf_metrics *m, uint64_t t0, struct edge *e, int *ret_clipped)
{
	const struct sample *s = sample_at(m, 0);
	uint32_t lo = 0, hi = m->count;

	*ret_clipped = 0;
	if (t0 <= s->t) {
		*ret_clipped = t0 < s->t && m->dropped;
		t0 = s->t;
	} else {
		while (hi - lo > 1) { /* the last sample at or before t0: in [lo, hi) */
			uint32_t mid = lo + (hi - lo) / 2;

			if (sample_at(m, mid)->t <= t0)
				lo = mid;
			else
				hi = mid;
		}
		s = sample_at(m, lo);
	}
	e->t = t0;
	for (int k = 0; k < INTEGRALS; k++)
		e->i[k] = s->i[k] + s->v[k] * (double)(t0 - s->t);
	memcpy(e->c, s->c, sizeof(e->c));
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Latencies recorded at or after `since`: count, p50, p99 (nearest rank) and max. */
static void latency_figures(struct pf_metrics *m, uint64_t since, struct pf_metrics_figures *f)
{
	uint32_t n = 0;

	for (uint32_t k = 0; k < m->lat_count; k++) {
		const struct latency *l = &m->lat[(m->lat_first + k) % m->o.latencies_max];

		if (l->t >= since)
			m->scratch[n++] = l->ns;
	}
	f->recoveries = n;
	f->recovery_ns_p50 = f->recovery_ns_p99 = f->recovery_ns_max = 0;
	if (n == 0)
		return;
	qsort(m->scratch, n, sizeof(*m->scratch), u64_cmp);
	/* Rank ceil(p x n), 1-based: (n + 1) / 2 for p = 0.5, (99 n + 99) / 100 for 0.99. */
	f->recovery_ns_p50 = m->scratch[(n + 1) / 2 - 1];
	f->recovery_ns_p99 = m->scratch[((uint64_t)n * 99 + 99) / 100 - 1];
	f->recovery_ns_max = m->scratch[n - 1];
}

/* The figures of the span from edge e to the latest sample s. */
static void figures(const struct edge *e, const struct sample *s, struct pf_metrics_figures *f)
{
	uint64_t dt = s->t - e->t;
	double mean[INTEGRALS], defined_s;

	PF_ASSERT(s->t >= e->t);
	memset(f, 0, sizeof(*f));
	f->span_ns = dt;
	for (int k = 0; k < INTEGRALS; k++)
		mean[k] = dt > 0 ? (s->i[k] - e->i[k]) / (double)dt : s->v[k];
	defined_s = dt > 0 ? s->i[I_DEFINED] - e->i[I_DEFINED] : s->v[I_DEFINED];
	f->availability =
		defined_s > 0 ? (dt > 0 ? s->i[I_OWNED] - e->i[I_OWNED] : s->v[I_OWNED]) / defined_s
			      : 1.0;
	f->availability = fmin(1.0, fmax(0.0, f->availability));
	f->membership_events = s->c[C_EVENTS] - e->c[C_EVENTS];
	f->ownership_changes = s->c[C_CHANGES] - e->c[C_CHANGES];
	f->migrations = s->c[C_MIGRATIONS] - e->c[C_MIGRATIONS];
	f->migration_bytes = s->c[C_BYTES] - e->c[C_BYTES];
	f->placements = s->c[C_PLACEMENTS] - e->c[C_PLACEMENTS];
	f->stability = mean[I_DEFINED] > 0
			       ? fmax(0.0, 1.0 - (double)f->ownership_changes / mean[I_DEFINED])
			       : 1.0;
	f->members_mean = mean[I_MEMBERS];
	f->vnodes_owned_mean = mean[I_OWNED];
	f->load_stddev = mean[I_STDDEV];
	f->load_balance = fmin(1.0, fmax(0.0, mean[I_BALANCE]));
	f->churn_per_min = dt > 0 ? (double)f->membership_events / ((double)dt / NS_PER_MIN) : 0;
	f->churn_per_member_per_min = f->churn_per_min / fmax(1.0, f->members_mean);
	f->rebalance_overhead =
		f->vnodes_owned_mean > 0 ? (double)f->migrations / f->vnodes_owned_mean : 0;
	f->placements_per_s = dt > 0 ? (double)f->placements / ((double)dt / NS_PER_S) : 0;
	f->health = 100.0 * f->availability * (0.5 + 0.5 * f->stability) *
		    (0.5 + 0.5 * f->load_balance);
}

static void window_figures(struct pf_metrics *m, struct pf_metrics_figures *f, int *ret_clipped)
{
	const struct sample *last = sample_at(m, m->count - 1);
	uint64_t t0 = last->t > m->o.window_ns ? last->t - m->o.window_ns : 0;
	struct edge e;

	edge_at(m, t0, &e, ret_clipped);
	figures(&e, last, f);
	latency_figures(m, t0, f);
}

static void point_append(struct pf_metrics *m)
{
	struct pf_metrics_point *p = &m->points[m->points_seq % m->o.points_max];
	const struct sample *last = sample_at(m, m->count - 1);
	int clipped;

	memset(p, 0, sizeof(*p));
	p->time_ns = last->t;
	p->vnodes_defined = last->defined;
	p->vnodes_owned = last->owned;
	p->members_active = last->members;
	window_figures(m, &p->window, &clipped);
	m->points_seq++;
}

PF_API int pf_metrics_report(struct pf_metrics *m, struct pf_metrics_report *rep)
{
	const struct sample *last;
	struct edge origin;
	int clipped;

	if (m == NULL || rep == NULL || rep->size < sizeof(*rep))
		return -EINVAL;
	if (m->count == 0)
		return -ENODATA;
	last = sample_at(m, m->count - 1);
	memset(rep, 0, sizeof(*rep));
	rep->size = sizeof(*rep);
	rep->time_ns = last->t;
	rep->window_ns = m->o.window_ns;
	rep->vnodes_defined = last->defined;
	rep->vnodes_owned = last->owned;
	rep->members_active = last->members;
	rep->observations = m->observations;
	rep->recoveries_total = m->lat_total;
	rep->recovery_ns_sum = m->lat_sum;
	window_figures(m, &rep->window, &clipped);
	memset(&origin, 0, sizeof(origin));
	origin.t = m->origin.t;
	memcpy(origin.c, m->origin.c, sizeof(origin.c));
	figures(&origin, last, &rep->total);
	latency_figures(m, 0, &rep->total);
	rep->total.recovery_ns_max = m->lat_max; /* exact even when latencies were forgotten */
	if (clipped)
		rep->flags |= PF_METRICS_WINDOW_CLIPPED;
	if (m->lat_total > m->lat_count)
		rep->flags |= PF_METRICS_RECOVERY_TRUNCATED;
	return 0;
}

PF_API int pf_metrics_points(struct pf_metrics *m, uint64_t *cursor, struct pf_metrics_point *out,
			     uint32_t count)
{
	uint32_t n = 0;

	if (m == NULL || cursor == NULL || (out == NULL && count > 0))
		return -EINVAL;
	if (m->points_seq > m->o.points_max && *cursor < m->points_seq - m->o.points_max)
		*cursor = m->points_seq - m->o.points_max; /* the older ones were overwritten */
	while (*cursor < m->points_seq && n < count) {
		out[n++] = m->points[*cursor % m->o.points_max];
		(*cursor)++;
	}
	return (int)n;
}

/* The Prometheus text, appended into a caller buffer that may be too small: len counts
 * what the whole text needs. */
struct prom {
	char *buf;
	size_t cap;
	size_t len;
	char window[32]; /* the window label's value, "60s" */
};

static pf_printf_like(2, 3) void put(struct prom *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(p->len < p->cap ? p->buf + p->len : NULL,
		      p->len < p->cap ? p->cap - p->len : 0, fmt, ap);
	va_end(ap);
	PF_ASSERT(n >= 0);
	p->len += (size_t)n;
}

static void head(struct prom *p, const char *name, const char *type, const char *help)
{
	put(p, "# HELP pflight_%s %s\n# TYPE pflight_%s %s\n", name, help, name, type);
}

/* A gauge with its window and total values. */
static void spans(struct prom *p, const char *name, const char *help, double w, double t)
{
	head(p, name, "gauge", help);
	put(p, "pflight_%s{window=\"%s\"} %.10g\npflight_%s{window=\"total\"} %.10g\n", name,
	    p->window, w, name, t);
}

static void counter(struct prom *p, const char *name, const char *help, uint64_t v)
{
	head(p, name, "counter", help);
	put(p, "pflight_%s %llu\n", name, (unsigned long long)v);
}

static void gauge(struct prom *p, const char *name, const char *help, double v)
{
	head(p, name, "gauge", help);
	put(p, "pflight_%s %.10g\n", name, v);
}

static void prom_ratios(struct prom *p, const struct pf_metrics_report *r)
{
	const struct pf_metrics_figures *w = &r->window, *t = &r->total;

	spans(p, "availability_ratio", "Owned VNode-seconds over defined VNode-seconds (A).",
	      w->availability, t->availability);
	spans(p, "stability_ratio", "1 - ownership changes / VNodes defined, floored at 0 (S).",
	      w->stability, t->stability);
	spans(p, "load_balance_ratio",
	      "1 - min(1, coefficient of variation of member load) (B), time-averaged.",
	      w->load_balance, t->load_balance);
	spans(p, "load_stddev",
	      "Standard deviation of member load (CPU fraction + VNodes held / capacity), "
	      "time-averaged.",
	      w->load_stddev, t->load_stddev);
	spans(p, "rebalance_overhead_ratio", "VNodes migrated over mean VNodes owned.",
	      w->rebalance_overhead, t->rebalance_overhead);
	spans(p, "health_score", "100 x A x (0.5 + 0.5 S) x (0.5 + 0.5 B), 0..100.", w->health,
	      t->health);
	spans(p, "churn_events_per_second", "Membership events (joins and departures) per second.",
	      w->churn_per_min / 60, t->churn_per_min / 60);
	spans(p, "churn_events_per_member_per_second",
	      "Membership events per second per active member (time-averaged, at least 1).",
	      w->churn_per_member_per_min / 60, t->churn_per_member_per_min / 60);
	spans(p, "placements_per_second", "VNodes placed from PENDING per second.",
	      w->placements_per_s, t->placements_per_s);
	spans(p, "metrics_span_seconds", "Time the figures of each span cover.",
	      (double)w->span_ns / NS_PER_S, (double)t->span_ns / NS_PER_S);
}

static void prom_recovery(struct prom *p, const struct pf_metrics_report *r)
{
	const struct pf_metrics_figures *w = &r->window;

	head(p, "recovery_latency_seconds", "summary",
	     "From a member's crash until every VNode it held is owned again; quantiles over "
	     "the window, sum and count since start.");
	if (w->recoveries == 0) {
		put(p, "pflight_recovery_latency_seconds{quantile=\"0.5\"} NaN\n");
		put(p, "pflight_recovery_latency_seconds{quantile=\"0.99\"} NaN\n");
	} else {
		put(p, "pflight_recovery_latency_seconds{quantile=\"0.5\"} %.10g\n",
		    (double)w->recovery_ns_p50 / NS_PER_S);
		put(p, "pflight_recovery_latency_seconds{quantile=\"0.99\"} %.10g\n",
		    (double)w->recovery_ns_p99 / NS_PER_S);
	}
	put(p, "pflight_recovery_latency_seconds_sum %.10g\n",
	    (double)r->recovery_ns_sum / NS_PER_S);
	put(p, "pflight_recovery_latency_seconds_count %llu\n",
	    (unsigned long long)r->recoveries_total);
	spans(p, "recovery_latency_max_seconds", "Longest crash-to-recovered latency.",
	      (double)w->recovery_ns_max / NS_PER_S, (double)r->total.recovery_ns_max / NS_PER_S);
}

static void prom_counts(struct prom *p, const struct pf_metrics_report *r)
{
	const struct pf_metrics_figures *t = &r->total;

	gauge(p, "vnodes_defined", "VNodes defined at the latest observation.", r->vnodes_defined);
	gauge(p, "vnodes_owned", "VNodes owned at the latest observation.", r->vnodes_owned);
	gauge(p, "members_active", "Members ACTIVE or DRAINING at the latest observation.",
	      r->members_active);
	counter(p, "membership_events_total", "Joins and departures since the first observation.",
		t->membership_events);
	counter(p, "ownership_changes_total",
		"Owned VNodes that lost their owner since the first observation.",
		t->ownership_changes);
	counter(p, "placements_total", "VNodes placed from PENDING since the first observation.",
		t->placements);
	counter(p, "migrations_total",
		"VNodes moved between members with their state since the first observation.",
		t->migrations);
	counter(p, "migration_bytes_total", "State bytes carried by those migrations.",
		t->migration_bytes);
	counter(p, "metrics_observations_total", "Observations fed to the accumulator.",
		r->observations);
}

PF_API int pf_metrics_prometheus(struct pf_metrics *m, char *buf, size_t cap, size_t *ret_len)
{
	struct pf_metrics_report r = {.size = sizeof(r)};
	struct prom p = {.buf = buf, .cap = cap};
	int rc;

	if (m == NULL || ret_len == NULL || (buf == NULL && cap > 0))
		return -EINVAL;
	*ret_len = 0;
	if (cap > 0)
		buf[0] = '\0';
	rc = pf_metrics_report(m, &r);
	if (rc < 0)
		return rc;
	(void)snprintf(p.window, sizeof(p.window), "%.9gs", (double)r.window_ns / NS_PER_S);
	prom_ratios(&p, &r);
	prom_recovery(&p, &r);
	prom_counts(&p, &r);
	*ret_len = p.len;
	if (cap > 0 && p.len >= cap)
		buf[cap - 1] = '\0';
	return p.len < cap ? 0 : -ENOBUFS;
}

/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/http_metrics.c: what the REST API serves beyond the domain's own state:
 * the metrics (GET /api/v1/metrics as JSON, GET /metrics in the Prometheus text format)
 * and the dashboard's files (GET /, /app.js, /style.css). The simulator is http_sim.c.
 *
 * Metrics. The HTTP thread owns the accumulator (pflight/metrics.h) and its live sampler,
 * so the figures it serves need no lock: once a second it sweeps the domain's ownership
 * words and member slots (pf_metrics_sampler_step: about 1.5 ms at a million VNodes) and
 * feeds the observation. Recoveries: whenever the membership version moves (a death
 * publishes it), the member slots are looked at for deaths newer than the last one seen:
 * each slot DEAD keeps the time it was declared dead (pf_member_info's dead_ns, by
 * whichever supervisor declared it: the conductor or a worker's embedded one). From then
 * on, every millisecond at most while a death is open, the count of PENDING VNodes is
 * compared with what it was at the last sample before it, and once it is back there every
 * open death is recovered and its latency recorded. The resolution is the HTTP thread's
 * pass: its park (HTTP_PARK_NS when idle) ends when the conductor sees the membership move
 * (wake_fd, http.h), and lasts at most RECOVERY_CHECK_NS while a death is open
 * (api_metrics_park_ns), so a recovery is timed to about a millisecond; a death whose
 * VNodes cannot all be placed again is given up after RECOVERY_GIVE_UP_NS and not
 * recorded.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shm/pf_assert.h"
#include "tools/common/build_info.h"
#include "tools/common/jdoc.h"
#include "tools/pflightd/daemon.h"
#include "tools/pflightd/http_api.h"
#include "tools/pflightd/log.h"

#define SAMPLE_PERIOD_NS 1000000000u /* one observation a second */
#define RECOVERY_CHECK_NS 1000000u   /* look at the pending count every 1 ms at most */
#define RECOVERY_GIVE_UP_NS (60ull * SAMPLE_PERIOD_NS) /* a death not recovered in a minute */
#define PROM_BYTES_START 8192u                         /* the text is about 4 KiB */
#define POINTS_DEFAULT 120u                            /* series points of GET /api/v1/metrics */
#define POINTS_MAX 3600u

/* The dashboard's files, compiled in (embed.py). */
extern const char dash_index_html[], dash_app_js[], dash_style_css[];
extern const size_t dash_index_html_len, dash_app_js_len, dash_style_css_len;

int api_metrics_init(struct api *a, const struct pf_manifest *m)
{
	struct pf_metrics_opts o;
	int r;

	pf_metrics_opts_init(&o);
	o.window_ns = m->api.metrics_window_ns;
	r = pf_metrics_create(&o, &a->metrics);
	if (r == 0)
		r = pf_metrics_sampler_create(a->domain, NULL, &a->sampler);
	if (r < 0) {
		pf_metrics_destroy(a->metrics);
		a->metrics = NULL;
	}
	a->next_sample_ns = 0;
	a->crashes_open = 0;
	a->death_seen_ns = mono_ns(); /* deaths before we started are not ours to time */
	(void)pf_domain_membership(a->domain, &a->membership_seen);
	return r;
}

void api_metrics_fini(struct api *a)
{
	pf_metrics_sampler_destroy(a->sampler);
	pf_metrics_destroy(a->metrics);
	a->sampler = NULL;
	a->metrics = NULL;
}

static void crash_open(struct api *a, uint64_t time_ns)
{
	if (a->crashes_open == API_CRASHES_MAX) {
		log_msg(LOG_DEBUG, "metrics: more than %u deaths open at once, one not timed",
			API_CRASHES_MAX);
		return;
	}
	a->crash_ns[a->crashes_open++] = time_ns;
	a->next_recovery_check_ns = 0;
}

/* New deaths since the membership last moved: open each (O(members), on a change only). */
static void deaths_find(struct api *a)
{
	uint32_t version = 0;
	uint64_t newest = a->death_seen_ns;

	(void)pf_domain_membership(a->domain, &version);
	if (version == a->membership_seen)
		return;
	a->membership_seen = version;
	for (uint32_t slot = 0; slot < a->members_max; slot++) {
		struct pf_member_info mi = {.size = sizeof(mi)};

		if (pf_member_info(a->domain, slot, &mi) < 0 || mi.state != PF_MEMBER_DEAD ||
		    mi.dead_ns <= a->death_seen_ns)
			continue;
		crash_open(a, mi.dead_ns);
		newest = mi.dead_ns > newest ? mi.dead_ns : newest;
	}
	a->death_seen_ns = newest;
}

/* Deaths whose VNodes are all owned again (pending back to its level before): record. */
static int recovery_check(struct api *a, uint64_t now)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	uint32_t kept = 0;

	if (a->crashes_open == 0 || now < a->next_recovery_check_ns)
		return 0;
	a->next_recovery_check_ns = now + RECOVERY_CHECK_NS;
	if (pf_domain_info(a->domain, &di) < 0)
		return 0;
	for (uint32_t i = 0; i < a->crashes_open; i++) {
		uint64_t t = a->crash_ns[i];

		if (di.vnodes_pending <= a->pending_before && now >= t)
			(void)pf_metrics_record_recovery(a->metrics, now, now - t);
		else if (now - t < RECOVERY_GIVE_UP_NS)
			a->crash_ns[kept++] = t;
	}
	a->crashes_open = kept;
	return 1;
}

int api_metrics_step(struct api *a, uint64_t now)
{
	struct pf_metrics_obs obs = {.size = sizeof(obs)};
	int work;

	if (a->metrics == NULL)
		return 0;
	deaths_find(a);
	work = recovery_check(a, now);

	if (now < a->next_sample_ns)
		return work;
	a->next_sample_ns = now + SAMPLE_PERIOD_NS;
	if (pf_metrics_sampler_step(a->sampler, now, &obs) != 1)
		return work;
	obs.flags |= PF_METRICS_OBS_POINT;
	if (pf_metrics_observe(a->metrics, &obs) < 0)
		log_msg(LOG_WARN, "metrics: an observation was refused");
	if (a->crashes_open == 0)
		a->pending_before = obs.vnodes_defined - obs.vnodes_owned;
	return 1;
}

uint64_t api_metrics_park_ns(const struct api *a, uint64_t now, uint64_t park_ns)
{
	uint64_t due = a->next_recovery_check_ns;

	if (a->metrics == NULL || a->crashes_open == 0)
		return park_ns;
	if (due <= now)
		return 0;
	return due - now < park_ns ? due - now : park_ns;
}

/* The newest `count` points of the live series, oldest first. */
static json_t *series_json(struct api *a, uint32_t count)
{
	struct pf_metrics_point *pts = calloc(POINTS_MAX, sizeof(*pts));
	json_t *list = json_array();
	uint64_t cursor = 0;
	int n, total = 0;

	if (pts == NULL || list == NULL) {
		free(pts);
		json_decref(list);
		return NULL;
	}
	/* The ring keeps at most POINTS_MAX of them; read it all, keep the last `count`. */
	while ((n = pf_metrics_points(a->metrics, &cursor, pts + total % POINTS_MAX,
				      POINTS_MAX - (uint32_t)(total % POINTS_MAX))) > 0)
		total += n;
	for (int i = total > (int)count ? total - (int)count : 0; i < total; i++) {
		const struct pf_metrics_point *p = &pts[i % POINTS_MAX];

		json_array_append_new(list, jdoc_metrics_point(p));
	}
	free(pts);
	return list;
}

enum { Q_POINTS, Q_COUNT };
_Static_assert(Q_COUNT == API_METRICS_QUERY_FIELDS, "http_api.h sizes the metrics query");
const struct api_field api_metrics_query[API_METRICS_QUERY_FIELDS] = {
	[Q_POINTS] = {"points", API_T_U32, 0, 0, POINTS_MAX, NULL},
};

int api_get_metrics(struct api *a, const struct api_call *call, struct api_reply *rep,
		    struct api_error *err)
{
	struct pf_metrics_report r = {.size = sizeof(r)};
	uint32_t points =
		call->query[Q_POINTS].set ? (uint32_t)call->query[Q_POINTS].u : POINTS_DEFAULT;
	json_t *series;
	int k = a->metrics != NULL ? pf_metrics_report(a->metrics, &r) : -ENODATA;

	if (k == -ENODATA) {
		api_error_set(err, 503, "no_data",
			      "no observation yet: the first comes a second "
			      "after the daemon starts");
		err->retry_after_s = 1;
		return k;
	}
	series = k == 0 ? series_json(a, points) : NULL;
	if (k < 0 || series == NULL) {
		json_decref(series);
		api_error_set(err, 500, "internal", "the metrics cannot be read");
		return k < 0 ? k : -ENOMEM;
	}
	rep->status = 200;
	rep->doc =
		json_pack("{s:f, s:f, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o}", "time_s",
			  (double)r.time_ns / 1e9, "window_s", (double)r.window_ns / 1e9,
			  "members_active", (json_int_t)r.members_active, "vnodes_defined",
			  (json_int_t)r.vnodes_defined, "vnodes_owned", (json_int_t)r.vnodes_owned,
			  "observations", (json_int_t)r.observations, "recoveries_total",
			  (json_int_t)r.recoveries_total, "window", jdoc_metrics_figures(&r.window),
			  "total", jdoc_metrics_figures(&r.total), "series", series);
	if (rep->doc == NULL) {
		api_error_set(err, 500, "internal", "out of memory building the answer");
		return -ENOMEM;
	}
	return 0;
}

/* pflight_build_info after the domain's metrics: the daemon's build in its labels, value
 * 1 (Prometheus's convention for build information). 0 or -ENOMEM. */
static int append_build_info(char **buf, size_t *len)
{
	char info[384];
	int n = snprintf(info, sizeof(info),
			 "# HELP pflight_build_info The build of pflightd: its version and git "
			 "revision.\n# TYPE pflight_build_info gauge\n"
			 "pflight_build_info{version=\"%s\",revision=\"%s\"} 1\n",
			 build_version(), build_revision());
	char *grown;

	PF_ASSERT(n > 0 && (size_t)n < sizeof(info));
	grown = realloc(*buf, *len + (size_t)n + 1);
	if (grown == NULL)
		return -ENOMEM;
	memcpy(grown + *len, info, (size_t)n + 1);
	*buf = grown;
	*len += (size_t)n;
	return 0;
}

int api_get_prometheus(struct api *a, const struct api_call *call, struct api_reply *rep,
		       struct api_error *err)
{
	size_t cap = PROM_BYTES_START, len = 0;
	char *buf = NULL;
	int r = -ENODATA;

	(void)call;
	for (int tries = 0; a->metrics != NULL && tries < 2; tries++) {
		char *grown = realloc(buf, cap);

		if (grown == NULL) {
			r = -ENOMEM;
			break;
		}
		buf = grown;
		r = pf_metrics_prometheus(a->metrics, buf, cap, &len);
		if (r != -ENOBUFS)
			break;
		cap = len + 1;
	}
	if (r >= 0)
		r = append_build_info(&buf, &len);
	if (r < 0) {
		free(buf);
		api_error_set(err, r == -ENODATA ? 503 : 500,
			      r == -ENODATA ? "no_data" : "internal", "%s",
			      r == -ENODATA ? "no observation yet" : "the metrics cannot be read");
		err->retry_after_s = r == -ENODATA ? 1 : 0;
		return r;
	}
	rep->status = 200;
	rep->raw_owned = buf;
	rep->raw = buf;
	rep->raw_len = len;
	rep->content_type = "text/plain; version=0.0.4; charset=utf-8";
	return 0;
}

/* --- the dashboard's files ---------------------------------------------------------- */

int api_get_dashboard(struct api *a, const struct api_call *call, struct api_reply *rep,
		      struct api_error *err)
{
	const char *path = call->route->path;

	(void)a;
	(void)err;
	rep->status = 200;
	if (strcmp(path, "/app.js") == 0) {
		rep->raw = dash_app_js;
		rep->raw_len = dash_app_js_len;
		rep->content_type = "text/javascript; charset=utf-8";
	} else if (strcmp(path, "/style.css") == 0) {
		rep->raw = dash_style_css;
		rep->raw_len = dash_style_css_len;
		rep->content_type = "text/css; charset=utf-8";
	} else {
		rep->raw = dash_index_html;
		rep->raw_len = dash_index_html_len;
		rep->content_type = "text/html; charset=utf-8";
	}
	PF_ASSERT(rep->raw_len > 0);
	return 0;
}

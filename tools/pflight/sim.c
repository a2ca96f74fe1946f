/* SPDX-License-Identifier: MIT */
/*
 * tools/pflight/sim.c: `pflight sim`, the simulator (pflight/sim.h) from the command line.
 *
 * Opens no domain: pf_sim_run() makes a private one and destroys it. Outputs:
 *   default   a summary for people
 *   --json    JSON lines: one object per sample ("type":"sample"), then one summary
 *             ("type":"summary"), built as the REST API builds its simulation's points
 *             and summary (tools/common/jdoc.h) and printed compactly in the order built;
 *             nothing depends on the wall clock, so the same arguments give the same bytes
 *   --csv     a header line, then one row per sample
 *   --plot F  an SVG chart of health, stability, availability and churn over time, drawn
 *             here (no library): the ratios against the left axis, churn against the right
 */
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jdoc.h"

#define NS_PER_S 1e9

struct sim_args {
	struct pf_sim_opts o;
	int json;
	int csv;
	const char *plot;
};

struct sim_out {
	const struct sim_args *a;
	struct plot_pt *pts;
	size_t n;
	size_t cap;
};

/* A duration: a decimal number with ns, us, ms, s (the default), m, min or h. 0 or -EINVAL
 * (said on stderr, naming opt). */
static int parse_duration(const char *opt, const char *s, uint64_t *ret_ns)
{
	static const struct {
		const char *unit;
		double ns;
	} units[] = {{"", 1e9}, {"s", 1e9},  {"ms", 1e6},   {"us", 1e3},
		     {"ns", 1}, {"m", 60e9}, {"min", 60e9}, {"h", 3600e9}};
	size_t len = strspn(s, "0123456789.");
	char number[64];
	double v;

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(s + len, units[i].unit) != 0)
			continue;
		if (len >= sizeof(number))
			break;
		memcpy(number, s, len);
		number[len] = '\0';
		if (cli_parse_real(opt, number, 0.0, 9.2e18 / units[i].ns, &v) < 0)
			return -EINVAL;
		*ret_ns = (uint64_t)llround(v * units[i].ns);
		return 0;
	}
	fprintf(stderr,
		"pflight: %s '%s': a decimal number and a unit: ns, us, ms, s, m, min or h (s "
		"when none)\n",
		opt, s);
	return -EINVAL;
}

static int parse_strategy(const char *s, uint32_t *ret)
{
	for (uint32_t i = 0; pf_sched_strategy_name(i) != NULL; i++) {
		if (strcmp(pf_sched_strategy_name(i), s) == 0) {
			*ret = i;
			return 0;
		}
	}
	return -EINVAL;
}

/* One option with its value; 0, or -EINVAL (a bad value, said on stderr) or -ENOENT
 * (unknown option). */
static int parse_one(struct sim_args *a, const char *opt, const char *val)
{
	struct pf_sim_opts *o = &a->o;

	if (strcmp(opt, "--seed") == 0)
		return cli_parse_u64(opt, val, 0, UINT64_MAX, &o->seed);
	if (strcmp(opt, "--members") == 0)
		return cli_parse_u32(opt, val, 0, UINT32_MAX, &o->members);
	if (strcmp(opt, "--vnodes") == 0)
		return cli_parse_u32(opt, val, 0, UINT32_MAX, &o->vnodes);
	if (strcmp(opt, "--duration") == 0)
		return parse_duration(opt, val, &o->duration_ns);
	if (strcmp(opt, "--interval") == 0)
		return parse_duration(opt, val, &o->interval_ns);
	if (strcmp(opt, "--heartbeat-timeout") == 0)
		return parse_duration(opt, val, &o->heartbeat_timeout_ns);
	if (strcmp(opt, "--window") == 0)
		return parse_duration(opt, val, &o->window_ns);
	if (strcmp(opt, "--join-rate") == 0)
		return cli_parse_real(opt, val, 0.0, DBL_MAX, &o->join_per_min);
	if (strcmp(opt, "--failure-rate") == 0)
		return cli_parse_real(opt, val, 0.0, DBL_MAX, &o->failure_per_min);
	if (strcmp(opt, "--retire-rate") == 0)
		return cli_parse_real(opt, val, 0.0, DBL_MAX, &o->retire_per_min);
	if (strcmp(opt, "--message-rate") == 0)
		return cli_parse_real(opt, val, 0.0, DBL_MAX, &o->messages_per_s);
	if (strcmp(opt, "--strategy") == 0) {
		if (parse_strategy(val, &o->strategy) == 0)
			return 0;
		fprintf(stderr, "pflight: --strategy '%s': no such strategy\n", val);
		return -EINVAL;
	}
	if (strcmp(opt, "--plot") == 0) {
		a->plot = val;
		if (val[0] != '\0')
			return 0;
		fprintf(stderr, "pflight: --plot: the name of the SVG file to write\n");
		return -EINVAL;
	}
	return strcmp(opt, "--preset") == 0 ? 0 : -ENOENT; /* the preset came first */
}

/* The preset first (its defaults), then every other option over them; json: the global
 * --json, given before the command. */
static int sim_parse(int argc, char **argv, int json, struct sim_args *a)
{
	int preset = PF_SIM_DMA;

	memset(a, 0, sizeof(*a));
	a->json = json;
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "--preset") == 0 &&
		    (preset = pf_sim_preset_find(argv[i + 1])) < 0)
			return fprintf(stderr, "pflight sim: no preset '%s'\n", argv[i + 1]),
			       -EINVAL;
	if (pf_sim_opts_preset(&a->o, (uint32_t)preset) < 0)
		return -EINVAL;
	for (int i = 1; i < argc; i++) {
		int r;

		if (strcmp(argv[i], "--json") == 0 || strcmp(argv[i], "--csv") == 0) {
			a->json |= argv[i][2] == 'j';
			a->csv |= argv[i][2] == 'c';
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "pflight sim: %s: missing value or unknown option\n",
				argv[i]);
			return -EINVAL;
		}
		r = parse_one(a, argv[i], argv[i + 1]);
		if (r == -ENOENT)
			fprintf(stderr, "pflight sim: %s: unknown option\n", argv[i]);
		if (r < 0)
			return -EINVAL;
		i++;
	}
	if (a->json && a->csv)
		return fprintf(stderr, "pflight sim: --json or --csv, not both\n"), -EINVAL;
	return 0;
}

/* The option a pf_sim_opts field is set by, for error messages. */
static const char *option_of(const char *field)
{
	static const char *const map[][2] = {
		{"members", "--members"},
		{"vnodes", "--vnodes"},
		{"duration_ns", "--duration"},
		{"interval_ns", "--interval"},
		{"window_ns", "--window"},
		{"heartbeat_timeout_ns", "--heartbeat-timeout"},
		{"join_per_min", "--join-rate"},
		{"failure_per_min", "--failure-rate"},
		{"retire_per_min", "--retire-rate"},
		{"messages_per_s", "--message-rate"},
		{"strategy", "--strategy"},
	};

	for (size_t i = 0; field != NULL && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i][0], field) == 0)
			return map[i][1];
	return field != NULL ? field : "options";
}

static const char *const csv_header =
	"t_s,members,draining,crashed,vnodes,owned,availability,stability,churn_per_min,"
	"churn_per_member_per_min,load_stddev,load_balance,rebalance_overhead,health,"
	"placements_per_s,migrations,migration_bytes,recoveries,recovery_p50_ms,recovery_p99_ms,"
	"recovery_max_ms,joins,failures,retirements,messages,messages_deferred\n";

/* A sample as a CSV row, in the order of csv_header. */
static void sample_csv(const struct pf_sim_point *p)
{
	const struct pf_metrics_point *m = &p->metrics;
	const struct pf_metrics_figures *w = &m->window;

	printf("%.3f,%u,%u,%u,%u,%u,%.6f,%.6f,%.4f,%.6f,%.6f,%.6f,%.6f,%.4f,%.4f,%llu,%llu,%llu,"
	       "%.3f,%.3f,%.3f,%llu,%llu,%llu,%llu,%llu\n",
	       (double)m->time_ns / NS_PER_S, m->members_active, p->members_draining,
	       p->members_crashed, m->vnodes_defined, m->vnodes_owned, w->availability,
	       w->stability, w->churn_per_min, w->churn_per_member_per_min, w->load_stddev,
	       w->load_balance, w->rebalance_overhead, w->health, w->placements_per_s,
	       (unsigned long long)w->migrations, (unsigned long long)w->migration_bytes,
	       (unsigned long long)w->recoveries, w->recovery_ns_p50 / 1e6,
	       w->recovery_ns_p99 / 1e6, w->recovery_ns_max / 1e6, (unsigned long long)p->joins,
	       (unsigned long long)p->failures, (unsigned long long)p->retirements,
	       (unsigned long long)p->messages, (unsigned long long)p->messages_deferred);
}

/* One JSON line: {"type": <type>} followed by the fields of <doc> (consumed) in the order
 * they were built, compactly, reals to 10 significant digits; -ENOMEM when it could not
 * be built. */
static int json_line(const char *type, json_t *doc)
{
	json_t *o = json_pack("{s:s}", "type", type);
	int r = -ENOMEM;

	if (o != NULL && doc != NULL && json_object_update(o, doc) == 0 &&
	    json_dumpf(o, stdout, JSON_COMPACT | JSON_REAL_PRECISION(10)) == 0)
		r = fputc('\n', stdout) == '\n' ? 0 : -EIO;
	json_decref(o);
	json_decref(doc);
	return r;
}

/* A sample: the API's simulation point (tools/common/jdoc.h), the members draining and
 * crashed, the messages, and the window's full figures. */
static json_t *sample_json(const struct pf_sim_point *p)
{
	json_t *o = jdoc_sim_point(p);

	if (o == NULL ||
	    json_object_set_new(o, "draining", json_integer(p->members_draining)) < 0 ||
	    json_object_set_new(o, "crashed", json_integer(p->members_crashed)) < 0 ||
	    json_object_set_new(o, "messages", json_integer((json_int_t)p->messages)) < 0 ||
	    json_object_set_new(o, "messages_deferred",
				json_integer((json_int_t)p->messages_deferred)) < 0 ||
	    json_object_set_new(o, "window", jdoc_metrics_figures(&p->metrics.window)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static int keep_for_plot(struct sim_out *out, const struct pf_sim_point *p)
{
	const struct pf_metrics_figures *w = &p->metrics.window;

	if (out->n == out->cap) {
		size_t cap = out->cap ? 2 * out->cap : 1024;
		struct plot_pt *pts = realloc(out->pts, cap * sizeof(*pts));

		if (pts == NULL)
			return -ENOMEM;
		out->pts = pts;
		out->cap = cap;
	}
	out->pts[out->n++] = (struct plot_pt){(double)p->metrics.time_ns / NS_PER_S, w->health,
					      w->stability, w->availability, w->churn_per_min};
	return 0;
}

static int on_point(void *arg, const struct pf_sim_point *p)
{
	struct sim_out *out = arg;

	int r = 0;

	if (out->a->json)
		r = json_line("sample", sample_json(p));
	else if (out->a->csv)
		sample_csv(p);
	return r == 0 && out->a->plot != NULL ? keep_for_plot(out, p) : r;
}

/* The summary: the API's (tools/common/jdoc.h) and the options the run used. */
static json_t *summary_json(const struct sim_args *a, const struct pf_sim_summary *s)
{
	json_t *o = jdoc_sim_summary(s);

	if (o != NULL && json_object_set_new(o, "options", jdoc_sim_options(&a->o)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static void figures_text(const char *what, const struct pf_metrics_figures *f)
{
	printf("  %-13s availability %.6f, stability %.4f, load balance %.4f (stddev %.4f), "
	       "health %.2f\n",
	       what, f->availability, f->stability, f->load_balance, f->load_stddev, f->health);
	printf("  %-13s churn %.2f/min (%.4f/min per member), rebalancing overhead %.4f, "
	       "%.2f placements/s\n",
	       "", f->churn_per_min, f->churn_per_member_per_min, f->rebalance_overhead,
	       f->placements_per_s);
}

static void summary_text(const struct sim_args *a, const struct pf_sim_summary *s)
{
	const struct pf_metrics_figures *t = &s->metrics.total;

	printf("pflight sim: preset %s (%s), seed %llu, %u members, %u VNodes, %.3f s simulated, "
	       "%u samples\n",
	       pf_sim_preset_name(s->preset), pf_sched_strategy_name(s->strategy),
	       (unsigned long long)s->seed, a->o.members, a->o.vnodes,
	       (double)s->duration_ns / NS_PER_S, s->points);
	printf("  churn:        %llu joins (%llu refused), %llu crashes (%llu declared dead), "
	       "%llu retirements; %u members at the end\n",
	       (unsigned long long)s->joins, (unsigned long long)s->joins_refused,
	       (unsigned long long)s->failures, (unsigned long long)s->repairs,
	       (unsigned long long)s->retirements, s->members_end);
	figures_text("whole run:", t);
	figures_text("last window:", &s->metrics.window);
	printf("  recovery:     %llu crashes recovered, p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
	       (unsigned long long)t->recoveries, t->recovery_ns_p50 / 1e6,
	       t->recovery_ns_p99 / 1e6, t->recovery_ns_max / 1e6);
	printf("  moves:        %llu migrations (%llu bytes), %llu asked by %llu rebalancing "
	       "rounds, %llu released at drain deadlines\n",
	       (unsigned long long)t->migrations, (unsigned long long)t->migration_bytes,
	       (unsigned long long)s->moves_requested, (unsigned long long)s->rebalance_rounds,
	       (unsigned long long)s->drain_released);
	printf("  messages:     %llu, %llu sent while their VNode had no live owner\n",
	       (unsigned long long)s->messages, (unsigned long long)s->messages_deferred);
	printf("  checks:       %u VNodes unaccounted for, %u members left joined, %u VNodes not "
	       "PENDING after the last left\n",
	       s->vnodes_unaccounted, s->members_left_joined, s->vnodes_not_pending);
}

int cmd_sim(struct cli *c, int argc, char **argv)
{
	struct pf_sim_summary sum = {.size = sizeof(sum)};
	struct sim_args a;
	struct sim_out out;
	const char *field = NULL;
	char title[160];
	int r;

	if (sim_parse(argc, argv, c->json, &a) < 0)
		return EXIT_USAGE;
	r = pf_sim_opts_check(&a.o, &field);
	if (r < 0) {
		fprintf(stderr, "pflight sim: %s: %s\n", option_of(field),
			r == -E2BIG ? "above its limit" : "not a valid value");
		return EXIT_USAGE;
	}
	memset(&out, 0, sizeof(out));
	out.a = &a;
	if (a.csv)
		fputs(csv_header, stdout);
	r = pf_sim_run(&a.o, &sum, on_point, &out);
	if (r == 0 && a.plot != NULL) {
		(void)snprintf(title, sizeof(title),
			       "pflight sim: %s (%s), seed %llu, %u members, %u VNodes",
			       pf_sim_preset_name(a.o.preset), pf_sched_strategy_name(a.o.strategy),
			       (unsigned long long)a.o.seed, a.o.members, a.o.vnodes);
		r = sim_plot_write(a.plot, title, out.pts, out.n);
	}
	free(out.pts);
	if (r < 0) {
		fprintf(stderr, "pflight sim: %s\n", strerror(-r));
		return EXIT_FAILED;
	}
	if (a.json)
		r = json_line("summary", summary_json(&a, &sum));
	else if (!a.csv)
		summary_text(&a, &sum);
	if (r < 0)
		fprintf(stderr, "pflight sim: the summary: %s\n", strerror(-r));
	return r == 0 && fflush(stdout) == 0 ? 0 : EXIT_FAILED;
}

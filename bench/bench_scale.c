/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_scale.c: a million VNodes on one host, end to end. The host of
 * tools/demo/scale.h: pflightd on its defaults but `vnodes_max` (1,048,576), four example
 * counter workers as real processes (each declares a quarter of the VNodes as its
 * capacity), then every VNode defined at once. Figures, in this order, each with its
 * baseline measured in the same run:
 *
 *   define_to_owned_s     from pf_vnode_define_range() of all VNodes until each one's
 *                         ownership word names an ACTIVE member; baseline: pf_sched_place()
 *                         alone placing the same number of VNodes on four members in a
 *                         private domain of this process (its defaults but vnodes_max and
 *                         assignment rings of 65,536, which are emptied, untimed, when full).
 *                         Goal: <= 3x the baseline (ratio >= 1/3).
 *   define_to_adopted_s   the same until the workers have adopted them all (informational).
 *   members_live_fraction members neither declared hung nor dead from the definition until
 *                         every VNode was adopted; goal 1.0 (none hung); members_hung carries
 *                         the count of members declared hung (informational).
 *   audit_bytes_per_vnode what every file of the audit log grew by from just before the
 *                         definition until it stopped growing for 3 s, over the VNodes
 *                         placed; goal <= 64 B. Baseline: the VNode table's bytes per VNode
 *                         (pf_domain_info), what the domain itself spends on one.
 *   audit_catch_up_s      how long after the last adoption the log still grew (informational).
 *   lineage_p50_ms, lineage_p99_ms  GET /api/v1/vnodes/{id} (its lineage from the audit log)
 *                         over --requests random ids, against GET /api/v1 (the summary)
 *                         sent alternately with them, a pair every 50 ms (the API's default
 *                         rate limit is 50 requests per second per client); goal p99 <= 50 ms.
 *   join_balanced_s       a fifth worker joins: from its start until max / mean VNodes per
 *                         ACTIVE member <= 1.25 (goal <= 10 s). Four members holding a
 *                         quarter each and a fifth holding none make exactly 1.25, so this
 *                         holds at once; hence join_lifted_s: until min / mean >= 0.8 as well
 *                         (the newcomer within the same 1.25 band, seen from below: what the
 *                         rebalancer lifts a newcomer to), goal <= 10 s too. Both stop at
 *                         --join-timeout; a figure equal to it was not reached. Baseline: the
 *                         time pf_sched_place() alone took for a fifth of the VNodes.
 *   join_moves            VNode moves the audit log gained (`move` records, a batch's count)
 *                         from the join until the end of
 *                         the phase (the log's catching up included, 60 s at most), against
 *                         the ideal: a fifth of the VNodes (informational).
 *   audit_bytes_after_churn  the log on disk after --churn-seconds of steady state with
 *                         churn (a worker killed with SIGKILL and started again every
 *                         --churn-every seconds, in turn), against its size when the churn
 *                         began. Informational: the goal is the manifest's retention bound,
 *                         which the PhoenixFile cannot state yet. audit_growth_bytes_per_min
 *                         says how fast it grew.
 *
 *   bench_scale PFLIGHTD WORKER [--vnodes N] [--requests R] [--join-timeout S]
 *                               [--churn-seconds S] [--churn-every S]
 *
 * When the VNodes are not all owned and adopted (every member declared dead, say), the join
 * and the churn are left out: they would measure nothing.
 *
 * Defaults: 1,048,576 VNodes, 200 requests, 120 s, 60 s, 20 s. Exit status 0 when every
 * phase ran (whether or not a goal was met: the lines say), 1 otherwise, 2 for bad usage.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_common.h"
#include "pflight/pflight.h"
#include "tools/demo/scale.h"

#define WORKERS 4u
#define NS_PER_S 1000000000ull
#define QUIET_NS (3ull * NS_PER_S)
#define SETTLE_TIMEOUT_NS (900ull * NS_PER_S)
#define OWNED_TIMEOUT_NS (1200ull * NS_PER_S)
#define MOVES_SETTLE_NS (60ull * NS_PER_S)
#define PAIR_EVERY_NS 50000000ull /* a lineage request and a summary request */
#define BASE_ASSIGN_SLOTS 65536u  /* the largest assignment ring a domain may have */
#define GOAL_OWNED_RATIO (1.0 / 3.0)
#define GOAL_BYTES_PER_VNODE 64.0
#define GOAL_P99_MS 50.0
#define GOAL_JOIN_S 10.0
#define BAND 1.25

struct args {
	const char *daemon, *worker;
	unsigned long vnodes, requests, join_timeout_s, churn_s, churn_every_s;
};

static struct scale host;
static double place_alone_s; /* the baseline: pf_sched_place() for every VNode */
static int phase_failed;

static void emit(const char *metric, const char *unit, double value, const char *baseline,
		 double baseline_value, int higher, double goal, int goal_on_value,
		 uint64_t iterations)
{
	struct bench_result r = {
		.bench = "scale",
		.subject = "pflightd",
		.metric = metric,
		.unit = unit,
		.value = value,
		.baseline = baseline,
		.baseline_value = baseline_value,
		.higher_is_better = higher,
		.goal = goal,
		.goal_on_value = goal_on_value,
		.placement = "host",
		.iterations = iterations,
		.batch = (unsigned)host.vnodes,
		.samples = 1,
		.value_min = value,
		.value_max = value,
	};

	bench_emit(&r);
}

static void fatal(int r, const char *what)
{
	if (r >= 0)
		return;
	fprintf(stderr, "bench_scale: %s: %s\n", what, strerror(-r));
	exit(1);
}

/* Adopt whatever waits in each member's assignment ring (untimed: the rings are full). */
static int adopt_all(struct pf_member **m, struct pf_vnode **held, uint32_t *nheld)
{
	struct pf_vnode *v;
	int n = 0;

	for (uint32_t i = 0; i < WORKERS; i++)
		while (pf_vnode_adopt(m[i], &v) == 0) {
			held[(*nheld)++] = v;
			n++;
		}
	return n;
}

/* The timed loop: pf_sched_place() for every VNode, rings emptied untimed when full. */
static uint64_t place_timed(struct pf_sched *s, struct pf_member **m, struct pf_vnode **held,
			    uint32_t vnodes, uint32_t *nheld)
{
	uint64_t ns = 0;
	uint32_t v = 0;
	int r = 0;

	while (v < vnodes) {
		uint64_t t0 = bench_now_ns();

		while (v < vnodes && (r = pf_sched_place(s, v, NULL)) == 0)
			v++;
		ns += bench_now_ns() - t0;
		if (v < vnodes && (r != -ENOENT || adopt_all(m, held, nheld) == 0))
			fatal(r < 0 ? r : -EIO, "baseline: pf_sched_place");
	}
	return ns;
}

static void baseline_place(uint32_t vnodes)
{
	struct pf_domain_opts o;
	struct pf_member_opts mo;
	struct pf_member *m[WORKERS];
	struct pf_vnode **held = calloc(vnodes, sizeof(*held));
	struct pf_domain *d;
	struct pf_sched *s;
	uint32_t nheld = 0;
	char name[64];

	fatal(held == NULL ? -ENOMEM : 0, "baseline");
	(void)snprintf(name, sizeof(name), "pfb-scale-base-%d", (int)getpid());
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.vnodes_max = vnodes;
	o.assign_slots = BASE_ASSIGN_SLOTS;
	fatal(pf_domain_create(name, &o, &d), "baseline: pf_domain_create");
	pf_member_opts_init(&mo);
	mo.vnode_capacity = vnodes / WORKERS;
	for (uint32_t i = 0; i < WORKERS; i++)
		fatal(pf_member_join(d, &mo, &m[i]), "baseline: pf_member_join");
	fatal(pf_vnode_define_range(d, 0, vnodes, NULL), "baseline: define");
	fatal(pf_sched_create(d, NULL, &s), "baseline: pf_sched_create");
	place_alone_s = place_timed(s, m, held, vnodes, &nheld) / 1e9;
	pf_sched_destroy(s);
	for (uint32_t i = 0; i < nheld; i++)
		(void)pf_vnode_release(held[i]);
	for (uint32_t i = 0; i < WORKERS; i++)
		(void)pf_member_leave(m[i]);
	(void)pf_domain_destroy(d);
	free(held);
	fprintf(stderr, "bench_scale: pf_sched_place alone: %u VNodes in %.3f s\n", vnodes,
		place_alone_s);
}

/* (a) and (b): define every VNode, until owned and adopted, then the audit log's growth. */
static void phase_place(void)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	uint64_t owned_ns, adopted_ns, settle_ns, before, after;
	uint64_t hung0 = scale_counter(&host, PF_COUNTER_HUNG);
	uint64_t dead0 = scale_counter(&host, PF_COUNTER_DEATHS), hung, dead;
	int r;

	before = scale_audit_settle(&host, QUIET_NS, SETTLE_TIMEOUT_NS, NULL);
	r = scale_define_and_wait(&host, OWNED_TIMEOUT_NS, &owned_ns, &adopted_ns);
	if (r < 0)
		fprintf(stderr, "bench_scale: not all owned and adopted: %s\n", strerror(-r));
	phase_failed |= r < 0;
	hung = scale_counter(&host, PF_COUNTER_HUNG) - hung0;
	dead = scale_counter(&host, PF_COUNTER_DEATHS) - dead0;
	emit("define_to_owned_s", "s", owned_ns / 1e9, "pf_sched_place alone, private domain",
	     place_alone_s, 0, GOAL_OWNED_RATIO, 0, host.vnodes);
	emit("define_to_adopted_s", "s", adopted_ns / 1e9, "pf_sched_place alone, private domain",
	     place_alone_s, 0, 0, 0, host.vnodes);
	emit("members_live_fraction", "fraction",
	     (double)(WORKERS - (hung + dead > WORKERS ? WORKERS : hung + dead)) / WORKERS,
	     "ideal: every member", 1.0, 1, 1.0, 1, WORKERS);
	emit("members_hung", "members", (double)hung, NULL, 0, 0, 0, 0, WORKERS);
	after = scale_audit_settle(&host, QUIET_NS, SETTLE_TIMEOUT_NS, &settle_ns);
	(void)pf_domain_info(host.d, &di);
	emit("audit_bytes_per_vnode", "B", (double)(after - before) / host.vnodes,
	     "VNode table bytes per VNode", (double)di.table_bytes_per_vnode, 0,
	     GOAL_BYTES_PER_VNODE, 1, host.vnodes);
	emit("audit_catch_up_s", "s", settle_ns / 1e9, NULL, 0, 0, 0, 0, 1);
	fprintf(stderr,
		"bench_scale: owned after %.2f s, adopted after %.2f s; %llu members declared "
		"hung, %llu dead; the audit log grew %llu bytes (%.1f per VNode) and caught up "
		"%.1f s later\n",
		owned_ns / 1e9, adopted_ns / 1e9, (unsigned long long)hung,
		(unsigned long long)dead, (unsigned long long)(after - before),
		(double)(after - before) / host.vnodes, settle_ns / 1e9);
}

static uint64_t rng = 0x9e3779b97f4a7c15ull; /* fixed seed: the same ids every run */

static uint32_t rng_below(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

/* One GET timed in ms; a 429 (rate limited) waits a second and asks again. */
static int get_timed(const char *path, double *ret_ms, uint32_t *limited)
{
	for (int tries = 0; tries < 5; tries++) {
		uint64_t ns = 0;
		int status = scale_get(&host, path, NULL, &ns);

		if (status == 200) {
			*ret_ms = ns / 1e6;
			return 0;
		}
		if (status != 429)
			return status < 0 ? status : -EPROTO;
		(*limited)++;
		scale_nap_ns(NS_PER_S);
	}
	return -EAGAIN;
}

/* (c) lineage through the API, against the summary, sent in pairs. */
static void phase_lineage(uint32_t requests)
{
	double *lin = calloc(requests, sizeof(double)), *sum = calloc(requests, sizeof(double));
	double lin50, lin99, sum50, sum99;
	uint32_t n = 0, limited = 0;
	char path[64];
	int r = lin == NULL || sum == NULL ? -ENOMEM : 0;

	while (r == 0 && n < requests) {
		uint64_t t0 = scale_now_ns(), took;

		(void)snprintf(path, sizeof(path), "/api/v1/vnodes/%u", rng_below(host.vnodes));
		r = get_timed(path, &lin[n], &limited);
		if (r == 0)
			r = get_timed("/api/v1", &sum[n], &limited);
		n += r == 0;
		took = scale_now_ns() - t0;
		if (took < PAIR_EVERY_NS)
			scale_nap_ns(PAIR_EVERY_NS - took);
	}
	if (r < 0 || n == 0) {
		fprintf(stderr, "bench_scale: lineage: %s after %u requests\n", strerror(-r), n);
		phase_failed = 1;
	} else {
		lin50 = bench_percentile(lin, n, 50);
		lin99 = bench_percentile(lin, n, 99);
		sum50 = bench_percentile(sum, n, 50);
		sum99 = bench_percentile(sum, n, 99);
		emit("lineage_p50_ms", "ms", lin50, "GET /api/v1 p50", sum50, 0, 0, 0, n);
		emit("lineage_p99_ms", "ms", lin99, "GET /api/v1 p99", sum99, 0, GOAL_P99_MS, 1, n);
		fprintf(stderr,
			"bench_scale: lineage p50 %.2f ms, p99 %.2f ms; summary p50 %.2f ms, p99 "
			"%.2f ms; %u answers of 429 waited out\n",
			lin50, lin99, sum50, sum99, limited);
	}
	free(lin);
	free(sum);
}

/* Follow the balance after a fifth worker joined: *ret_balanced (max / mean <= BAND) and
 * *ret_lifted (min / mean >= 1 / BAND too) since t0; limit_ns when not reached. */
static void follow_join(uint64_t t0, uint64_t limit_ns, uint64_t *ret_balanced,
			uint64_t *ret_lifted)
{
	uint64_t balanced = 0, lifted = 0, now = scale_now_ns(), said = now;

	while (lifted == 0 && now - t0 < limit_ns) {
		uint64_t before = now;
		double max, min;
		uint32_t active = scale_balance(&host, &max, &min);

		now = scale_now_ns();
		if (active == WORKERS + 1 && balanced == 0 && max > 0 && max <= BAND)
			balanced = now - t0;
		if (active == WORKERS + 1 && balanced != 0 && min >= 1.0 / BAND)
			lifted = now - t0;
		if (now - said > 10 * NS_PER_S) {
			fprintf(stderr, "bench_scale: join +%.0f s: max/mean %.3f, min/mean %.3f\n",
				(now - t0) / 1e9, max, min);
			said = now;
		}
		if (lifted == 0)
			scale_nap_ns(scale_look_nap_ns(now - before));
		now = scale_now_ns();
	}
	*ret_balanced = balanced != 0 ? balanced : limit_ns;
	*ret_lifted = lifted != 0 ? lifted : limit_ns;
}

/* (d) a fifth worker joins. */
static void phase_join(uint64_t limit_s)
{
	uint64_t moves0 = scale_audit_vnodes(&host, "move"), moves;
	uint64_t t0 = scale_now_ns(), balanced, lifted, limit_ns = limit_s * NS_PER_S;
	double base = place_alone_s / (WORKERS + 1);
	int r = scale_start_worker(&host, WORKERS);

	if (r < 0) {
		fprintf(stderr, "bench_scale: the fifth worker did not join: %s\n", strerror(-r));
		phase_failed = 1;
		return;
	}
	follow_join(t0, limit_ns, &balanced, &lifted);
	(void)scale_audit_settle(&host, QUIET_NS, MOVES_SETTLE_NS, NULL);
	moves = scale_audit_vnodes(&host, "move") - moves0;
	emit("join_balanced_s", "s", balanced / 1e9, "pf_sched_place alone, a fifth of the VNodes",
	     base, 0, GOAL_JOIN_S, 1, 1);
	emit("join_lifted_s", "s", lifted / 1e9, "pf_sched_place alone, a fifth of the VNodes",
	     base, 0, GOAL_JOIN_S, 1, 1);
	emit("join_moves", "moves", (double)moves, "ideal: a fifth of the VNodes",
	     (double)host.vnodes / (WORKERS + 1), 0, 0, 0, 1);
	fprintf(stderr,
		"bench_scale: join: max/mean <= %.2f after %.1f s%s, min/mean >= %.2f after "
		"%.1f s%s; %llu moves recorded (ideal %u)\n",
		BAND, balanced / 1e9, balanced >= limit_ns ? " (not reached)" : "", 1.0 / BAND,
		lifted / 1e9, lifted >= limit_ns ? " (not reached)" : "", (unsigned long long)moves,
		host.vnodes / (WORKERS + 1));
}

/* (b) the log's size after a steady state with churn. */
static void phase_churn(uint64_t seconds, uint64_t every_s)
{
	uint64_t start = scale_audit_bytes(&host), t0 = scale_now_ns(), now = t0, end;
	uint64_t next = t0 + every_s * NS_PER_S, hung0 = scale_counter(&host, PF_COUNTER_HUNG);
	uint32_t events = 0;

	while (now - t0 < seconds * NS_PER_S) {
		if (now >= next) {
			uint32_t k = events % (WORKERS + 1);
			int r = scale_kill_worker(&host, k);

			if (r == 0)
				r = scale_start_worker(&host, k);
			if (r < 0)
				fprintf(stderr, "bench_scale: churn: worker %u: %s\n", k,
					strerror(-r));
			phase_failed |= r < 0;
			events++;
			next += every_s * NS_PER_S;
		}
		scale_nap_ns(100000000ull);
		now = scale_now_ns();
	}
	end = scale_audit_bytes(&host);
	emit("audit_bytes_after_churn", "B", (double)end, "the log when the churn began",
	     (double)start, 0, 0, 0, seconds);
	emit("audit_growth_bytes_per_min", "B/min", (end - start) * 60.0 / (double)seconds, NULL, 0,
	     0, 0, 0, seconds);
	fprintf(stderr,
		"bench_scale: churn: %u workers killed and started again in %llu s; the log went "
		"from %llu to %llu bytes; %llu members declared hung meanwhile\n",
		events, (unsigned long long)seconds, (unsigned long long)start,
		(unsigned long long)end,
		(unsigned long long)(scale_counter(&host, PF_COUNTER_HUNG) - hung0));
}

static int parse(int argc, char **argv, struct args *a)
{
	static const char *const names[] = {"--vnodes", "--requests", "--join-timeout",
					    "--churn-seconds", "--churn-every"};
	unsigned long *const values[] = {&a->vnodes, &a->requests, &a->join_timeout_s, &a->churn_s,
					 &a->churn_every_s};
	int known;

	if (argc < 3 || argc % 2 == 0)
		return -EINVAL;
	a->daemon = argv[1];
	a->worker = argv[2];
	for (int i = 3; i + 1 < argc; i += 2) {
		char *end = NULL;

		known = 0;
		for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
			if (strcmp(argv[i], names[k]) != 0)
				continue;
			errno = 0;
			*values[k] = strtoul(argv[i + 1], &end, 10);
			known = errno == 0 && *end == '\0' && *values[k] > 0;
		}
		if (!known)
			return -EINVAL;
	}
	return a->vnodes <= PF_VNODES_MAX && a->vnodes >= WORKERS + 1 && a->requests <= 100000 &&
			       a->join_timeout_s <= 3600 && a->churn_s <= 86400 &&
			       a->churn_every_s <= a->churn_s
		       ? 0
		       : -EINVAL;
}

int main(int argc, char **argv)
{
	struct args a = {.vnodes = PF_VNODES_MAX,
			 .requests = 200,
			 .join_timeout_s = 120,
			 .churn_s = 60,
			 .churn_every_s = 20};

	if (parse(argc, argv, &a) < 0) {
		fprintf(stderr,
			"usage: %s PFLIGHTD WORKER [--vnodes N] [--requests R] [--join-timeout S]\n"
			"       [--churn-seconds S] [--churn-every S]   (every value > 0)\n",
			argv[0]);
		return 2;
	}
	baseline_place((uint32_t)a.vnodes);
	host.daemon_path = a.daemon;
	host.worker_path = a.worker;
	host.tag = "bench-scale";
	host.vnodes = (uint32_t)a.vnodes;
	host.workers = WORKERS;
	host.daemon = -1;
	scale_kill_on_signal(&host);
	if (scale_start(&host) < 0) {
		scale_stop(&host);
		fprintf(stderr, "bench_scale: the host did not come up; its files: %s\n", host.dir);
		return 1;
	}
	phase_place();
	phase_lineage((uint32_t)a.requests);
	if (!phase_failed) {
		phase_join(a.join_timeout_s);
		phase_churn(a.churn_s, a.churn_every_s);
	} else {
		fprintf(stderr, "bench_scale: the VNodes were not all placed: no join, no churn\n");
	}
	scale_stop(&host);
	scale_remove_dir(&host);
	return phase_failed ? 1 : 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_sched.c: placement speed, spread and movement of the scheduler.
 *
 *   decisions_per_s    pf_sched_place() for 1,048,576 VNodes on 1,000 members with 64
 *                      capability sets (filter, score, ownership CAS, seal, assignment
 *                      ring push, record), against a naive scan of all members per
 *                      decision with the same filters and score (pure computation, no
 *                      CAS: the baseline is flattered), same run. Goal >= 1 M/s.
 *   load_cv_<strategy> coefficient of variation of VNodes per member after placing all
 *                      of them, per strategy (lower is better; informational).
 *   chash_moved_fraction  consistent-hash: fraction of 100,000 VNodes whose member
 *                      changes when one member joins 100 (placement function against
 *                      placement function, same seed); the ideal is 1/101.
 *   rebalance_moved_fraction_<strategy>  100 members hold 100,000 VNodes (placed by the
 *                      scheduler, adopted, and settled by rebalancing rounds so that only
 *                      the join's moves count); one member of middling trust (0.65)
 *                      joins; rounds with an unlimited
 *                      budget, no cool-down and the default hysteresis run, each followed
 *                      by the owners' handoffs, until a round requests nothing. The
 *                      fraction of VNodes moved, against the ideal 1/(N+1) = 1/101 (the
 *                      consistent-hash ideal; the score strategies stop earlier by design:
 *                      hysteresis). stderr shows the moves before the join and the rounds.
 *
 * Members are joined from this one thread: each holds its own robust futex, which the
 * kernel allows up to 2,048 per thread.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_common.h"
#include "pflight/pflight.h"
#include "tools/common/held.h"

#define MEMBERS 1000u
#define VNODES (1u << 20)
#define CAP_NAMES 6u /* 2^6 = 64 capability sets */
#define REBALANCE_ROUNDS_MAX 64u
#define JOINER_TRUST_PPM 650000u /* the middle of the members' 0.3..1.0 */

static const char *const cap_names[CAP_NAMES] = {"c0", "c1", "c2", "c3", "c4", "c5"};

struct setup {
	struct pf_domain *d;
	struct pf_member **m;
	uint32_t members;
	int with_caps;
	char name[64];
};

/* Member number st->members joins, with its capabilities and trust (trust_ppm, or the
 * setup's spread of 0.3..1.0 when 0). */
static int join_one(struct setup *st, uint32_t trust_ppm)
{
	const char *caps[CAP_NAMES];
	struct pf_member_opts mo;
	uint32_t i = st->members, n = 0;
	int r;

	for (uint32_t c = 0; c < CAP_NAMES && st->with_caps; c++)
		if ((i % 64) & (1u << c))
			caps[n++] = cap_names[c];
	pf_member_opts_init(&mo);
	mo.caps = caps;
	mo.caps_count = n;
	mo.vnode_capacity = 2048;
	r = pf_member_join(st->d, &mo, &st->m[i]);
	if (r < 0)
		return r;
	st->members++;
	if (trust_ppm == 0)
		trust_ppm = 300000 + (uint32_t)(i * 7919u % 700000u);
	return pf_member_set_trust(st->d, (uint32_t)pf_member_id(st->m[i]), trust_ppm);
}

static int setup(struct setup *st, uint32_t strategy, uint32_t members, uint32_t vnodes,
		 int with_caps)
{
	struct pf_domain_opts o;
	int r;

	(void)snprintf(st->name, sizeof(st->name), "bench-sched-%d", (int)getpid());
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = 1024;
	o.vnodes_max = vnodes;
	o.inbox_slots = 2;
	o.msg_bytes_max = 48;
	o.state_bytes_max = 64;
	o.assign_slots = 4096;
	o.sched_strategy = strategy;
	o.sched_seed = 42;
	r = pf_domain_create(st->name, &o, &st->d);
	if (r < 0)
		return r;
	st->m = calloc(members + 1, sizeof(*st->m)); /* room for one more to join later */
	if (st->m == NULL)
		return -ENOMEM;
	st->members = 0;
	st->with_caps = with_caps;
	for (uint32_t i = 0; i < members; i++) {
		r = join_one(st, 0);
		if (r < 0)
			return r;
	}
	return 0;
}

static void teardown(struct setup *st)
{
	for (uint32_t i = 0; i < st->members; i++)
		(void)pf_member_leave(st->m[i]);
	free(st->m);
	(void)pf_domain_destroy(st->d);
}

/* VNodes need at most one capability of the six, so every one is placeable. */
static int define_all(struct setup *st, uint32_t vnodes, int with_caps)
{
	for (uint32_t c = 0; c <= CAP_NAMES; c++) {
		struct pf_vnode_spec spec;
		const char *one[1];
		uint32_t first = c * (vnodes / (CAP_NAMES + 1));
		uint32_t count = c == CAP_NAMES ? vnodes - first : vnodes / (CAP_NAMES + 1);
		int r;

		pf_vnode_spec_init(&spec);
		if (c < CAP_NAMES && with_caps) {
			one[0] = cap_names[c];
			spec.caps = one;
			spec.caps_count = 1;
		}
		r = pf_vnode_define_range(st->d, first, count, &spec);
		if (r < 0)
			return r;
	}
	return 0;
}

/* The baseline: for each VNode scan every member, same filter and formula. */
struct naive_member {
	uint32_t caps;
	double trust;
	uint32_t assigned;
};

static double naive_rate(uint32_t decisions)
{
	struct naive_member *nm = calloc(MEMBERS, sizeof(*nm));
	uint64_t t0, t1, sink = 0;

	if (nm == NULL)
		return 0;
	for (uint32_t i = 0; i < MEMBERS; i++) {
		nm[i].caps = i % 64;
		nm[i].trust = (300000 + (double)(i * 7919u % 700000u)) / 1e6;
	}
	t0 = bench_now_ns();
	for (uint32_t v = 0; v < decisions; v++) {
		uint32_t need = (v % (CAP_NAMES + 1)) < CAP_NAMES ? 1u << (v % (CAP_NAMES + 1)) : 0;
		double best = -1;
		uint32_t win = 0;

		for (uint32_t i = 0; i < MEMBERS; i++) {
			double score;

			if ((need & ~nm[i].caps) != 0)
				continue;
			score = nm[i].trust / (1.0 + nm[i].assigned / 2048.0);
			if (score > best) {
				best = score;
				win = i;
			}
		}
		nm[win].assigned++;
		sink += win;
	}
	t1 = bench_now_ns();
	free(nm);
	return sink == UINT64_MAX ? 0 : decisions / ((t1 - t0) / 1e9);
}

static void emit(const char *metric, const char *unit, double value, const char *baseline,
		 double baseline_value, int higher, double goal, int goal_on_value,
		 uint64_t iterations)
{
	struct bench_result r = {
		.bench = "sched",
		.subject = "pf_sched_place",
		.metric = metric,
		.unit = unit,
		.value = value,
		.baseline = baseline,
		.baseline_value = baseline_value,
		.higher_is_better = higher,
		.goal = goal,
		.goal_on_value = goal_on_value,
		.placement = "single-thread",
		.iterations = iterations,
		.batch = 1,
		.samples = 1,
		.value_min = value,
		.value_max = value,
	};

	bench_emit(&r);
}

static int place_all(struct setup *st, uint32_t vnodes, uint32_t *owner, double *ret_rate)
{
	struct pf_sched_decision dec = {.size = sizeof(dec)};
	struct pf_sched *s;
	uint64_t t0, t1;
	int r = pf_sched_create(st->d, NULL, &s);

	if (r < 0)
		return r;
	t0 = bench_now_ns();
	for (uint32_t v = 0; v < vnodes; v++) {
		r = pf_sched_place(s, v, owner != NULL ? &dec : NULL);
		if (r < 0) {
			fprintf(stderr, "bench_sched: place %u: %d\n", v, r);
			break;
		}
		if (owner != NULL)
			owner[v] = dec.winner_slot;
	}
	t1 = bench_now_ns();
	pf_sched_destroy(s);
	if (ret_rate != NULL)
		*ret_rate = vnodes / ((t1 - t0) / 1e9);
	return r;
}

/* Coefficient of variation of VNodes per member, counted from the ownership words
 * (the members have not adopted their placements). */
static double spread_cv(struct setup *st, uint32_t vnodes)
{
	struct pf_member_info mi = {.size = sizeof(mi)};
	uint32_t *count = calloc(1024, sizeof(*count)), n = 0;
	double sum = 0, sq = 0, mean, var;

	if (count == NULL)
		return -1;
	(void)held_count(st->d, vnodes, count, 1024);
	for (uint32_t slot = 0; slot < 1024; slot++) {
		if (pf_member_info(st->d, slot, &mi) < 0)
			continue;
		sum += count[slot];
		sq += (double)count[slot] * count[slot];
		n++;
	}
	free(count);
	if (n == 0 || sum == 0)
		return -1;
	mean = sum / n;
	var = sq / n - mean * mean;
	return sqrt(var > 0 ? var : 0) / mean;
}

static int bench_rate(void)
{
	struct setup st;
	double ours, naive;
	int r = setup(&st, PF_SCHED_TRUST_WEIGHTED, MEMBERS, VNODES, 1);

	if (r == 0)
		r = define_all(&st, VNODES, 1);
	if (r == 0)
		r = place_all(&st, VNODES, NULL, &ours);
	teardown(&st);
	if (r < 0)
		return r;
	naive = naive_rate(VNODES / 16);
	emit("decisions_per_s", "decisions/s", ours, "naive scan of all 1000 members per decision",
	     naive, 1, 1e6, 1, VNODES);
	return 0;
}

static int bench_spread(void)
{
	static const char *const metric[] = {"load_cv_trust_weighted", "load_cv_consistent_hash",
					     "load_cv_bin_packing", "load_cv_agent"};

	for (uint32_t strategy = 0; strategy <= PF_SCHED_AGENT; strategy++) {
		struct setup st;
		double cv = -1;
		int r = setup(&st, strategy, MEMBERS, VNODES, 0);

		if (r == 0)
			r = define_all(&st, VNODES, 0);
		if (r == 0)
			r = place_all(&st, VNODES, NULL, NULL);
		if (r == 0)
			cv = spread_cv(&st, VNODES);
		teardown(&st);
		if (r < 0)
			return r;
		emit(metric[strategy], "cv", cv, NULL, 0, 0, 0, 0, VNODES);
	}
	return 0;
}

static int bench_movement(void)
{
	const uint32_t n = 100000;
	uint32_t *a = calloc(n, sizeof(*a)), *b = calloc(n, sizeof(*b)), moved = 0;
	struct setup st;
	int r;

	if (a == NULL || b == NULL)
		return -ENOMEM;
	r = setup(&st, PF_SCHED_CONSISTENT_HASH, 100, n, 0);
	if (r == 0)
		r = define_all(&st, n, 0);
	if (r == 0)
		r = place_all(&st, n, a, NULL);
	teardown(&st);
	if (r == 0)
		r = setup(&st, PF_SCHED_CONSISTENT_HASH, 101, n, 0);
	if (r == 0)
		r = define_all(&st, n, 0);
	if (r == 0)
		r = place_all(&st, n, b, NULL);
	teardown(&st);
	for (uint32_t v = 0; v < n && r == 0; v++)
		moved += a[v] != b[v];
	free(a);
	free(b);
	if (r < 0)
		return r;
	emit("chash_moved_fraction", "fraction", (double)moved / n, "ideal 1/(N+1), N = 100",
	     1.0 / 101, 0, 0, 0, n);
	return 0;
}

/* Every member takes what was placed on it; handles kept per VNode id. */
static void adopt_all(struct setup *st, struct pf_vnode **h)
{
	for (uint32_t i = 0; i < st->members; i++) {
		struct pf_vnode *v;

		while (pf_vnode_adopt(st->m[i], &v) == 0)
			h[pf_vnode_id(v)] = v;
	}
}

/* Rounds (each followed by the owners' handoffs and the targets' adoptions) until a
 * round requests nothing. Returns the VNodes moved or a negative errno. */
static int64_t rebalance_settle(struct setup *st, struct pf_sched *s, struct pf_vnode **h,
				uint32_t vnodes, uint32_t *ret_rounds)
{
	struct pf_rebalance_opts o;
	int64_t moved = 0;

	pf_rebalance_opts_init(&o);
	o.cooldown_ns = 0;
	o.moves_max = UINT32_MAX;
	o.moves_ppm = PF_PPM;
	for (*ret_rounds = 1; *ret_rounds <= REBALANCE_ROUNDS_MAX; (*ret_rounds)++) {
		int r = pf_sched_rebalance(s, &o, NULL);

		if (r <= 0)
			return r < 0 ? r : moved;
		for (uint32_t id = 0; id < vnodes; id++) {
			if (h[id] == NULL || pf_vnode_move_target(h[id], NULL) != 1)
				continue;
			r = pf_vnode_handoff(h[id]);
			h[id] = NULL;
			if (r != 0)
				return r < 0 ? r : -EAGAIN; /* nothing should fall back here */
			moved++;
		}
		adopt_all(st, h);
	}
	return -ELOOP;
}

/* 100 members hold n VNodes (placed and adopted); one joins; rounds until quiet. */
static int rebalance_one(uint32_t strategy, uint32_t n, int64_t *ret_settle, int64_t *ret_moved,
			 uint32_t *ret_rounds)
{
	struct pf_vnode **h = calloc(n, sizeof(*h));
	struct pf_sched *s = NULL;
	struct setup st;
	int r;

	if (h == NULL)
		return -ENOMEM;
	r = setup(&st, strategy, 100, n, 0);
	if (r == 0)
		r = define_all(&st, n, 0);
	if (r == 0)
		r = pf_sched_create(st.d, NULL, &s);
	for (uint32_t v = 0; v < n && r == 0; v++) {
		r = pf_sched_place(s, v, NULL);
		if (v % 1024 == 1023 || v == n - 1)
			adopt_all(&st, h);
	}
	/* Moves that only correct the placement itself are not the join's. */
	*ret_settle = r == 0 ? rebalance_settle(&st, s, h, n, ret_rounds) : r;
	if (*ret_settle >= 0)
		r = join_one(&st, JOINER_TRUST_PPM);
	*ret_moved = r == 0 && *ret_settle >= 0 ? rebalance_settle(&st, s, h, n, ret_rounds) : r;
	pf_sched_destroy(s);
	teardown(&st);
	free(h);
	if (r == 0 && *ret_settle < 0)
		r = (int)*ret_settle;
	if (r == 0 && *ret_moved < 0)
		r = (int)*ret_moved;
	return r;
}

static int bench_rebalance(void)
{
	static const char *const metric[] = {"rebalance_moved_fraction_trust_weighted",
					     "rebalance_moved_fraction_consistent_hash",
					     "rebalance_moved_fraction_bin_packing",
					     "rebalance_moved_fraction_agent"};
	const uint32_t n = 100000;

	for (uint32_t strategy = 0; strategy <= PF_SCHED_AGENT; strategy++) {
		int64_t settle, moved;
		uint32_t rounds;
		int r = rebalance_one(strategy, n, &settle, &moved, &rounds);

		if (r < 0)
			return r;
		fprintf(stderr,
			"bench_sched: rebalance %s: %lld moved before the join (placement "
			"corrections), %lld after it in %u rounds\n",
			pf_sched_strategy_name(strategy), (long long)settle, (long long)moved,
			rounds);
		emit(metric[strategy], "fraction", (double)moved / n, "ideal 1/(N+1), N = 100",
		     1.0 / 101, 0, 0, 0, n);
	}
	return 0;
}

int main(int argc, char **argv)
{
	int r;

	(void)argc;
	(void)argv;
	r = bench_rate();
	if (r == 0)
		r = bench_spread();
	if (r == 0)
		r = bench_movement();
	if (r == 0)
		r = bench_rebalance();
	if (r < 0)
		fprintf(stderr, "bench_sched: %s\n", strerror(-r));
	return r < 0 ? 1 : 0;
}

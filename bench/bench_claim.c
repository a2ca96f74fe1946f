/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_claim.c: VNode claim throughput (uncontended) and claim latency (contended).
 *
 * Uncontended (one process pinned to the placement's first CPU, one member, a domain of
 * UNC_VNODES VNodes). Three loops over all VNodes, each a fixed UNC_VNODES operations:
 *   claim_only   pf_vnode_claim_id() of every VNode in turn (handles kept);
 *   release_only pf_vnode_release() of those handles (each pushes the VNode to the pending
 *                ring and bumps the pending version, as a real release does);
 *   claim_release pf_vnode_claim_id() then pf_vnode_release() of the same VNode, per id:
 *                what a member must do to claim again, so "claims/s" here is pairs/s.
 * Nobody pops the pending ring in these loops (claim by id does not), so between timed
 * windows the ring is drained, untimed, as a scheduler consuming the hints would; every
 * timed release therefore pushes successfully. Baseline, same run, same pinning: a bare
 * 64-bit CAS on an array of UNC_VNODES words in MAP_SHARED memory, a load plus one CAS
 * per claim (PENDING(e) -> OWNED(e+1)) and per release, i.e. the ownership word's CAS
 * alone without the epoch seal, the handle, the bookkeeping and the pending push. The
 * goal (>= 1 M claims/s per thread) is absolute, on our value; the ratio is shown.
 *
 * Contended (two processes pinned to the placement's two CPUs, one member each): both
 * race CON_ATTEMPTS times per round to claim a random VNode among CON_VNODES; a win is
 * released at once (the release is timed apart), then one pending-ring entry is popped,
 * untimed, so the ring never fills. Each claim attempt, won or lost (-EBUSY, -EAGAIN),
 * is one latency sample (two clock reads). The baseline runs the same loop with the raw
 * CAS word of the uncontended baseline. Percentiles pool both processes and all rounds;
 * the p99 goal (<= 50 us) is absolute, on our value.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_core.h"
#include "core/member_impl.h"
#include "pflight/pflight.h"

#define UNC_VNODES 16384u
#define UNC_SAMPLES 9
#define CON_VNODES 2u
#define CON_ATTEMPTS 200000u
#define CON_ROUNDS 3u
#define RAW_OWNED (UINT64_C(1) << 63)
#define GOAL_CLAIMS_PER_S 1e6
#define GOAL_P99_NS 50000.0

enum con_mode { MODE_OURS, MODE_RAW, MODE_COUNT };

/* Shared between the parent and the contended children. */
struct con_shared {
	_Atomic uint32_t barrier[2 * CON_ROUNDS * MODE_COUNT + 2];
	_Atomic uint64_t raw[CON_VNODES];
	uint64_t wins[MODE_COUNT][CON_ROUNDS][2];
	uint32_t claim_ns[MODE_COUNT][CON_ROUNDS][2][CON_ATTEMPTS];
	uint32_t release_ns[MODE_COUNT][CON_ROUNDS][2][CON_ATTEMPTS];
};

static int cpus[2];
static const char *placement = "same-node";
static char dom_name[64];

static struct pf_domain *domain_make(uint32_t vnodes)
{
	struct pf_domain_opts o;
	struct pf_domain *d;

	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = 8;
	o.vnodes_max = vnodes;
	o.inbox_slots = 2;
	o.msg_bytes_max = 8;
	o.state_bytes_max = 64;
	bench_check(pf_domain_create(dom_name, &o, &d), "pf_domain_create");
	bench_check(pf_vnode_define_range(d, 0, vnodes, NULL), "pf_vnode_define_range");
	return d;
}

static struct pf_member *member_make(struct pf_domain *d)
{
	struct pf_member_opts o;
	struct pf_member *m;

	pf_member_opts_init(&o);
	bench_check(pf_member_join(d, &o, &m), "pf_member_join");
	return m;
}

/* Untimed: consume the pending ring's hints, as a scheduler would. */
static void pending_drain(struct pf_domain *d)
{
	uint32_t id;

	while (ring_mpmc_try_dequeue(&d->pending, &id) == 0)
		continue;
}

static int raw_claim(_Atomic uint64_t *w)
{
	/* [A1] pairs with [R1] in raw_release(): what the last owner wrote is visible. */
	uint64_t x = pf_load_acquire(w);

	if (x & RAW_OWNED)
		return -EBUSY;
	/* [A1] as above: the claim CAS, acq_rel like the ownership word's. */
	return pf_cas_acq_rel(w, &x, RAW_OWNED | ((x & ~RAW_OWNED) + 1)) ? 0 : -EAGAIN;
}

static void raw_release(_Atomic uint64_t *w)
{
	/* Relaxed: re-validated by the CAS below. */
	uint64_t x = pf_load_relaxed(w);

	/* [R1] pairs with [A1] in raw_claim(): our writes precede the hand-back. */
	if (!pf_cas_acq_rel(w, &x, (x & ~RAW_OWNED) + 1))
		bench_check(-EPROTO, "raw_release");
}

/* Claim-only and release-only windows; returns claims/s, writes releases/s. */
static double ours_claim_only(struct pf_member *m, struct pf_vnode **h, double *ret_rel)
{
	uint64_t t0, t1, t2;

	t0 = bench_now_ns();
	for (uint32_t id = 0; id < UNC_VNODES; id++)
		bench_check(pf_vnode_claim_id(m, id, &h[id]), "pf_vnode_claim_id");
	t1 = bench_now_ns();
	for (uint32_t id = 0; id < UNC_VNODES; id++)
		bench_check(pf_vnode_release(h[id]), "pf_vnode_release");
	t2 = bench_now_ns();
	pending_drain(pf_member_domain(m));
	*ret_rel = UNC_VNODES * BENCH_NS_PER_S / (double)(t2 - t1);
	return UNC_VNODES * BENCH_NS_PER_S / (double)(t1 - t0);
}

static double ours_pairs(struct pf_member *m)
{
	struct pf_vnode *h;
	uint64_t t0, t1;

	t0 = bench_now_ns();
	for (uint32_t id = 0; id < UNC_VNODES; id++) {
		bench_check(pf_vnode_claim_id(m, id, &h), "pf_vnode_claim_id");
		bench_check(pf_vnode_release(h), "pf_vnode_release");
	}
	t1 = bench_now_ns();
	pending_drain(pf_member_domain(m));
	return UNC_VNODES * BENCH_NS_PER_S / (double)(t1 - t0);
}

static double raw_claim_only(_Atomic uint64_t *w, double *ret_rel)
{
	uint64_t t0, t1, t2;

	t0 = bench_now_ns();
	for (uint32_t id = 0; id < UNC_VNODES; id++)
		bench_check(raw_claim(&w[id]), "raw_claim");
	t1 = bench_now_ns();
	for (uint32_t id = 0; id < UNC_VNODES; id++)
		raw_release(&w[id]);
	t2 = bench_now_ns();
	*ret_rel = UNC_VNODES * BENCH_NS_PER_S / (double)(t2 - t1);
	return UNC_VNODES * BENCH_NS_PER_S / (double)(t1 - t0);
}

static double raw_pairs(_Atomic uint64_t *w)
{
	uint64_t t0, t1;

	t0 = bench_now_ns();
	for (uint32_t id = 0; id < UNC_VNODES; id++) {
		bench_check(raw_claim(&w[id]), "raw_claim");
		raw_release(&w[id]);
	}
	t1 = bench_now_ns();
	return UNC_VNODES * BENCH_NS_PER_S / (double)(t1 - t0);
}

static void emit(const char *subject, const char *metric, const char *unit, double v,
		 const char *base, double bv, bool higher, double goal, double *spread, unsigned n,
		 const int *used, unsigned used_count, uint64_t iterations)
{
	struct bench_result r = {
		.bench = "claim",
		.subject = subject,
		.metric = metric,
		.unit = unit,
		.value = v,
		.baseline = base,
		.baseline_value = bv,
		.higher_is_better = higher,
		.goal = goal,
		.goal_on_value = goal > 0,
		.placement = placement,
		.cpus = used,
		.cpus_count = used_count,
		.iterations = iterations,
		.batch = 1,
		.samples = n,
	};

	if (spread != NULL && n > 0) {
		r.value_min = bench_percentile(spread, n, 0);
		r.value_max = bench_percentile(spread, n, 100);
	}
	bench_emit(&r);
}

static void run_uncontended(void)
{
	static struct pf_vnode *h[UNC_VNODES];
	double oc[UNC_SAMPLES], orl[UNC_SAMPLES], op[UNC_SAMPLES];
	double rc[UNC_SAMPLES], rrl[UNC_SAMPLES], rp[UNC_SAMPLES];
	_Atomic uint64_t *raw = bench_shared_alloc(UNC_VNODES * sizeof(*raw));
	struct pf_domain *d = domain_make(UNC_VNODES);
	struct pf_member *m = member_make(d);
	const char *base = "bare 64-bit CAS per claim and per release (load + CAS)";

	bench_check(bench_pin_cpu(cpus[0]), "bench_pin_cpu");
	pending_drain(d);
	(void)ours_pairs(m); /* warm-up: page in the tables, the heap, the branch history */
	(void)raw_pairs(raw);
	for (int s = 0; s < UNC_SAMPLES; s++) {
		oc[s] = ours_claim_only(m, h, &orl[s]);
		rc[s] = raw_claim_only(raw, &rrl[s]);
		op[s] = ours_pairs(m);
		rp[s] = raw_pairs(raw);
	}
	emit("pf_vnode_claim_id+pf_vnode_release", "claim_release_pairs_per_s", "claims/s",
	     bench_median(op, UNC_SAMPLES), base, bench_median(rp, UNC_SAMPLES), true,
	     GOAL_CLAIMS_PER_S, op, UNC_SAMPLES, cpus, 1, UNC_VNODES);
	emit("pf_vnode_claim_id", "claims_per_s", "claims/s", bench_median(oc, UNC_SAMPLES), base,
	     bench_median(rc, UNC_SAMPLES), true, GOAL_CLAIMS_PER_S, oc, UNC_SAMPLES, cpus, 1,
	     UNC_VNODES);
	emit("pf_vnode_release", "releases_per_s", "releases/s", bench_median(orl, UNC_SAMPLES),
	     base, bench_median(rrl, UNC_SAMPLES), true, 0, orl, UNC_SAMPLES, cpus, 1, UNC_VNODES);
	pf_member_leave(m);
	bench_check(pf_domain_destroy(d), "pf_domain_destroy");
	munmap((void *)raw, UNC_VNODES * sizeof(*raw));
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* One contended round of one mode, in child `who`. */
static void con_round(struct con_shared *sh, struct pf_member *m, int mode, uint32_t round, int who)
{
	uint32_t *lat = sh->claim_ns[mode][round][who];
	uint32_t *rel = sh->release_ns[mode][round][who];
	uint64_t seed = 0x9e3779b97f4a7c15u * (uint64_t)(who + 1 + round * 2), wins = 0;
	struct pf_vnode *h;

	for (uint32_t i = 0; i < CON_ATTEMPTS; i++) {
		uint32_t id = (uint32_t)(xorshift(&seed) % CON_VNODES);
		uint64_t t0 = bench_now_ns(), t1, t2;
		int r = mode == MODE_OURS ? pf_vnode_claim_id(m, id, &h) : raw_claim(&sh->raw[id]);

		t1 = bench_now_ns();
		lat[i] = (uint32_t)PF_MIN(t1 - t0, UINT32_MAX);
		rel[i] = UINT32_MAX; /* no release after a lost attempt */
		if (r == -EBUSY || r == -EAGAIN)
			continue;
		bench_check(r, "claim (contended)");
		wins++;
		if (mode == MODE_OURS)
			bench_check(pf_vnode_release(h), "pf_vnode_release");
		else
			raw_release(&sh->raw[id]);
		t2 = bench_now_ns();
		rel[i] = (uint32_t)PF_MIN(t2 - t1, UINT32_MAX);
		if (mode == MODE_OURS)
			pending_drain(pf_member_domain(m));
	}
	sh->wins[mode][round][who] = wins;
}

static void con_child(struct con_shared *sh, int who)
{
	struct pf_domain *d;
	struct pf_member *m;
	uint32_t b = 0;

	bench_check(bench_pin_cpu(cpus[who]), "bench_pin_cpu");
	bench_check(pf_domain_open(dom_name, &d), "pf_domain_open");
	m = member_make(d);
	for (uint32_t round = 0; round < CON_ROUNDS; round++) {
		for (int mode = 0; mode < MODE_COUNT; mode++) {
			bench_barrier(&sh->barrier[b++], 2);
			con_round(sh, m, mode, round, who);
		}
	}
	bench_barrier(&sh->barrier[b], 2);
	pf_member_leave(m);
	pf_domain_close(d);
	_exit(0);
}

/* Pool the samples of one mode (UINT32_MAX = none) into v; returns the count. */
static size_t con_pool(uint32_t (*s)[2][CON_ATTEMPTS], int round, double *v)
{
	size_t n = 0;

	for (uint32_t r = 0; r < CON_ROUNDS; r++) {
		if (round >= 0 && (uint32_t)round != r)
			continue;
		for (int who = 0; who < 2; who++) {
			for (uint32_t i = 0; i < CON_ATTEMPTS; i++) {
				if (s[r][who][i] != UINT32_MAX)
					v[n++] = s[r][who][i];
			}
		}
	}
	return n;
}

static void con_report(struct con_shared *sh)
{
	size_t cap = (size_t)CON_ROUNDS * 2 * CON_ATTEMPTS, n, nb;
	double *v = malloc(cap * sizeof(*v)), *b = malloc(cap * sizeof(*b));
	double spread[CON_ROUNDS], p50, p99, p999, bp50, bp99, bp999, wins[MODE_COUNT] = {0};
	const char *base = "same loop, bare 64-bit CAS word per VNode";

	if (v == NULL || b == NULL)
		bench_check(-ENOMEM, "malloc");
	for (uint32_t r = 0; r < CON_ROUNDS; r++) {
		n = con_pool(sh->claim_ns[MODE_OURS], (int)r, v);
		spread[r] = bench_percentile(v, n, 99);
		for (int mode = 0; mode < MODE_COUNT; mode++)
			wins[mode] += (double)(sh->wins[mode][r][0] + sh->wins[mode][r][1]);
	}
	n = con_pool(sh->claim_ns[MODE_OURS], -1, v);
	nb = con_pool(sh->claim_ns[MODE_RAW], -1, b);
	p50 = bench_percentile(v, n, 50);
	p99 = bench_percentile(v, n, 99);
	p999 = bench_percentile(v, n, 99.9);
	bp50 = bench_percentile(b, nb, 50);
	bp99 = bench_percentile(b, nb, 99);
	bp999 = bench_percentile(b, nb, 99.9);
	emit("pf_vnode_claim_id contended", "claim_attempt_ns_p99", "ns", p99, base, bp99, false,
	     GOAL_P99_NS, spread, CON_ROUNDS, cpus, 2, n);
	emit("pf_vnode_claim_id contended", "claim_attempt_ns_p50", "ns", p50, base, bp50, false, 0,
	     NULL, CON_ROUNDS, cpus, 2, n);
	emit("pf_vnode_claim_id contended", "claim_attempt_ns_p999", "ns", p999, base, bp999, false,
	     0, NULL, CON_ROUNDS, cpus, 2, n);
	emit("pf_vnode_claim_id contended", "claim_won_fraction", "fraction", wins[MODE_OURS] / n,
	     base, wins[MODE_RAW] / nb, true, 0, NULL, CON_ROUNDS, cpus, 2, n);
	n = con_pool(sh->release_ns[MODE_OURS], -1, v);
	nb = con_pool(sh->release_ns[MODE_RAW], -1, b);
	emit("pf_vnode_release contended", "release_ns_p99", "ns", bench_percentile(v, n, 99), base,
	     bench_percentile(b, nb, 99), false, 0, NULL, CON_ROUNDS, cpus, 2, n);
	free(v);
	free(b);
}

static void run_contended(void)
{
	struct con_shared *sh = bench_shared_alloc(sizeof(*sh));
	struct pf_domain *d = domain_make(CON_VNODES);
	pid_t pid[2];
	int status;

	pending_drain(d);
	for (int who = 0; who < 2; who++) {
		pid[who] = fork();
		if (pid[who] < 0)
			bench_check(-errno, "fork");
		if (pid[who] == 0)
			con_child(sh, who);
	}
	for (int who = 0; who < 2; who++) {
		if (waitpid(pid[who], &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			bench_check(-ECHILD, "contended child");
	}
	con_report(sh);
	bench_check(pf_domain_destroy(d), "pf_domain_destroy");
	munmap(sh, sizeof(*sh));
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--placement=", 12) == 0)
			placement = argv[i] + 12;
	}
	if (bench_placement_cpus(placement, cpus) < 0) {
		fprintf(stderr, "bench_claim: placement %s not available here\n", placement);
		return 77;
	}
	bench_domain_name(dom_name, sizeof(dom_name), "claim");
	run_uncontended();
	run_contended();
	return 0;
}

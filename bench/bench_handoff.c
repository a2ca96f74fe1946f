/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_handoff.c: a message to a VNode and back, against a raw cache-line ping-pong.
 *
 * Two forked processes pinned to the placement's CPUs (same-node: 0 and 1), each a member
 * of one domain: A owns VNode a (id 0), B owns VNode b (id 1). One round trip, timed by A:
 * A pf_send()s 8 bytes to b; B spins on pf_recv() of b, then pf_send()s 8 bytes to a; A
 * spins on pf_recv() of a. Inbox slots are freed only by a checkpoint commit, so each side
 * commits a 64-byte checkpoint after every COMMIT_EVERY messages it received, measured
 * two ways in the same run:
 *   commit_in   the commits fall inside the timed round trips (A commits before taking
 *               its end time, B before replying): 1 round trip in COMMIT_EVERY carries
 *               both sides' commits, which shows in the tail, not in the median;
 *   commit_out  the same commits, outside the timing: A commits after its end time, B
 *               after replying, and A waits (untimed) for B's commit before the next send.
 * Baseline, same run, same processes and CPUs: A stores a sequence number to one cache
 * line with release, B spins on it with acquire and answers on a second line, A spins on
 * that: one line transfer each way, as each of our messages needs at least one.
 *
 *   wait        as commit_out, but each side takes its message through its member's wait
 *               (pf_member_wait(), then pf_recv()) instead of spinning on pf_recv: the hot
 *               path of a worker loop, the wait spinning over its sources.
 * Every mode runs SAMPLES times, interleaved (raw, commit_in, commit_out, wait) so drift
 * hits all of them; each run is ROUND_TRIPS round trips after WARMUP untimed ones.
 * Latencies pool all runs of a mode; value_min/value_max are the per-run p50 spread. Goal
 * (section 7): our p50 <= 1.5x the raw p50. With the bench_common convention for
 * latencies (ratio = baseline / ours, higher is better) that is ratio >= 0.667; ours/
 * baseline is 1 / ratio.
 *
 * Parked wake-up, after the round trips: B sleeps (it announces it, then A waits PARK_US,
 * far past any spin), A takes its time and wakes it; B takes its time when it returns.
 * Ours: B in pf_member_wait(), A pf_send()s to b. Baseline, same run, interleaved: B in a
 * raw futex wait on a shared word, A stores it and calls FUTEX_WAKE. PARK_SAMPLES each;
 * goal (section 7): our p50 <= 1.5x the raw futex wake's p50.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_core.h"
#include "pflight/pflight.h"

#define ROUND_TRIPS 51200u
#define WARMUP 2048u
#define SAMPLES 5u
#define COMMIT_EVERY 32u
#define STATE_BYTES 64u
#define GOAL_RATIO (1.0 / 1.5)      /* hand-off p50 <= 1.5x the raw ping-pong's */
#define PARK_GOAL_RATIO (1.0 / 1.5) /* parked wake p50 <= 1.5x the raw futex wake's */
#define PARK_SAMPLES 400u
#define PARK_US 2000u

enum mode { MODE_RAW, MODE_COMMIT_IN, MODE_COMMIT_OUT, MODE_WAIT, MODE_COUNT };
enum park { PARK_FUTEX, PARK_WAIT, PARK_COUNT };

_Static_assert(ROUND_TRIPS % COMMIT_EVERY == 0 && WARMUP % COMMIT_EVERY == 0,
	       "every run must end on a commit so the next starts with empty inboxes");

struct shared {
	_Atomic uint32_t barrier[SAMPLES * MODE_COUNT + 3];
	_Alignas(PF_CACHELINE) _Atomic uint64_t ping;
	_Alignas(PF_CACHELINE) _Atomic uint64_t pong;
	_Alignas(PF_CACHELINE) _Atomic uint64_t b_commits;
	_Alignas(PF_CACHELINE) _Atomic uint32_t park_ready; /* B is about to sleep */
	_Alignas(PF_CACHELINE) _Atomic uint32_t park_word;  /* the raw futex */
	_Alignas(PF_CACHELINE) _Atomic uint64_t park_t0;    /* A's time, before waking B */
	uint64_t park_ns[PARK_COUNT][PARK_SAMPLES];
	_Alignas(PF_CACHELINE) uint32_t rtt_ns[MODE_COUNT][SAMPLES][ROUND_TRIPS];
};

struct side {
	struct pf_domain *d;
	struct pf_member *m;
	struct pf_vnode *h;
	uint32_t peer;        /* the other side's VNode */
	uint64_t received;    /* messages received so far, all modes */
	uint64_t out_commits; /* commits made in commit_out mode so far */
	unsigned char state[STATE_BYTES];
};

static int cpus[2];
static const char *placement = "same-node";
static char dom_name[64];

static void send_to(struct side *s, uint64_t seq)
{
	int r;

	while ((r = pf_send(s->d, s->peer, &seq, sizeof(seq))) == -EAGAIN)
		pf_cpu_relax();
	bench_check(r, "pf_send");
}

static void recv_expect(struct side *s, uint64_t seq)
{
	uint64_t got;
	size_t len;
	int r;

	while ((r = pf_recv(s->h, &got, sizeof(got), &len)) == -EAGAIN)
		pf_cpu_relax();
	bench_check(r, "pf_recv");
	if (len != sizeof(got) || got != seq)
		bench_check(-EPROTO, "pf_recv: message out of order");
	s->received++;
	memcpy(s->state, &got, sizeof(got)); /* the "state" the checkpoint keeps */
}

/* The same, waiting in the member's wait while nothing is there. */
static void recv_wait(struct side *s, uint64_t seq)
{
	uint64_t got;
	uint32_t ev;
	size_t len;
	int r;

	while ((r = pf_recv(s->h, &got, sizeof(got), &len)) == -EAGAIN)
		bench_check(pf_member_wait(s->m, UINT64_MAX, &ev), "pf_member_wait");
	bench_check(r, "pf_recv");
	if (len != sizeof(got) || got != seq)
		bench_check(-EPROTO, "pf_recv: message out of order");
	s->received++;
	memcpy(s->state, &got, sizeof(got));
}

static void commit(struct side *s)
{
	bench_check(pf_checkpoint_commit(s->h, pf_vnode_epoch(s->h), s->state, STATE_BYTES),
		    "pf_checkpoint_commit");
}

/* Side A: n round trips of one mode; records them when rtt is not NULL. */
static void run_a(struct shared *sh, struct side *s, int mode, uint64_t seq0, uint32_t n,
		  uint32_t *rtt)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t seq = seq0 + i, t0, t1;
		bool due = (i + 1) % COMMIT_EVERY == 0;

		t0 = bench_now_ns();
		if (mode == MODE_RAW) {
			/* [R1] pairs with [A1] in run_b(): the ping. */
			pf_store_release(&sh->ping, seq);
			/* [A2] pairs with [R2] in run_b(): the pong. */
			while (pf_load_acquire(&sh->pong) != seq)
				pf_cpu_relax();
		} else {
			send_to(s, seq);
			if (mode == MODE_WAIT)
				recv_wait(s, seq);
			else
				recv_expect(s, seq);
			if (due && mode == MODE_COMMIT_IN)
				commit(s);
		}
		t1 = bench_now_ns();
		if (rtt != NULL)
			rtt[i] = (uint32_t)PF_MIN(t1 - t0, UINT32_MAX);
		if (due && (mode == MODE_COMMIT_OUT || mode == MODE_WAIT)) {
			commit(s);
			s->out_commits++;
			/* [A3] pairs with [R3] in run_b(): B's commit is done. */
			while (pf_load_acquire(&sh->b_commits) != s->out_commits)
				pf_cpu_relax();
		}
	}
}

static void run_b(struct shared *sh, struct side *s, int mode, uint64_t seq0, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		uint64_t seq = seq0 + i;
		bool due = (i + 1) % COMMIT_EVERY == 0;

		if (mode == MODE_RAW) {
			/* [A1] pairs with [R1] in run_a(). */
			while (pf_load_acquire(&sh->ping) != seq)
				pf_cpu_relax();
			/* [R2] pairs with [A2] in run_a(). */
			pf_store_release(&sh->pong, seq);
			continue;
		}
		if (mode == MODE_WAIT)
			recv_wait(s, seq);
		else
			recv_expect(s, seq);
		if (due && mode == MODE_COMMIT_IN)
			commit(s);
		send_to(s, seq);
		if (due && (mode == MODE_COMMIT_OUT || mode == MODE_WAIT)) {
			commit(s);
			s->out_commits++;
			/* [R3] pairs with [A3] in run_a(). */
			pf_store_release(&sh->b_commits, s->out_commits);
		}
	}
}

/* A: wake B PARK_SAMPLES times each way, interleaved, once it is surely asleep. */
static void park_a(struct shared *sh, struct side *s, uint64_t seq0)
{
	for (uint32_t k = 0; k < PARK_SAMPLES * PARK_COUNT; k++) {
		/* [A4] pairs with [R4] in park_b(): B announced its next sleep. */
		while (pf_load_acquire(&sh->park_ready) != k + 1)
			pf_cpu_relax();
		(void)usleep(PARK_US);
		/* [R5] pairs with [A5] in park_b(): our time before the wake. */
		pf_store_release(&sh->park_t0, bench_now_ns());
		if (k % PARK_COUNT == PARK_FUTEX) {
			/* [R6] pairs with [A6] in park_b(): the word, then the wake. */
			pf_store_release(&sh->park_word, k + 1);
			bench_futex_wake(&sh->park_word);
		} else {
			send_to(s, seq0 + k);
		}
	}
}

/* B: sleep PARK_SAMPLES times each way; take the time of each wake-up. */
static void park_b(struct shared *sh, struct side *s, uint64_t seq0)
{
	for (uint32_t k = 0; k < PARK_SAMPLES * PARK_COUNT; k++) {
		uint64_t t1;

		/* [R4] pairs with [A4] in park_a(). */
		pf_store_release(&sh->park_ready, k + 1);
		if (k % PARK_COUNT == PARK_FUTEX) {
			uint32_t cur;

			/* [A6] pairs with [R6] in park_a(): sleep while the word is what it is. */
			while ((cur = pf_load_acquire(&sh->park_word)) != k + 1)
				bench_futex_wait(&sh->park_word, cur);
		} else {
			recv_wait(s, seq0 + k);
		}
		t1 = bench_now_ns();
		/* [A5] pairs with [R5] in park_a(). */
		sh->park_ns[k % PARK_COUNT][k / PARK_COUNT] = t1 - pf_load_acquire(&sh->park_t0);
		if (k % PARK_COUNT == PARK_WAIT)
			commit(s); /* frees the inbox slot (untimed) */
	}
}

static void child(struct shared *sh, int who)
{
	struct pf_member_opts o;
	struct side s = {.peer = who == 0 ? 1 : 0};
	uint64_t seq = 1;
	uint32_t b = 0;

	bench_check(bench_pin_cpu(cpus[who]), "bench_pin_cpu");
	bench_check(pf_domain_open(dom_name, &s.d), "pf_domain_open");
	pf_member_opts_init(&o);
	bench_check(pf_member_join(s.d, &o, &s.m), "pf_member_join");
	bench_check(pf_vnode_claim_id(s.m, (uint32_t)who, &s.h), "pf_vnode_claim_id");
	for (uint32_t k = 0; k < SAMPLES; k++) {
		for (int mode = 0; mode < MODE_COUNT; mode++) {
			uint32_t *rtt = who == 0 ? sh->rtt_ns[mode][k] : NULL;

			bench_barrier(&sh->barrier[b++], 2);
			if (who == 0) {
				run_a(sh, &s, mode, seq, WARMUP, NULL);
				run_a(sh, &s, mode, seq + WARMUP, ROUND_TRIPS, rtt);
			} else {
				run_b(sh, &s, mode, seq, WARMUP);
				run_b(sh, &s, mode, seq + WARMUP, ROUND_TRIPS);
			}
			seq += WARMUP + ROUND_TRIPS;
		}
	}
	bench_barrier(&sh->barrier[b++], 2);
	if (who == 0)
		park_a(sh, &s, seq);
	else
		park_b(sh, &s, seq);
	bench_barrier(&sh->barrier[b], 2);
	(void)pf_vnode_release(s.h);
	(void)pf_member_leave(s.m);
	pf_domain_close(s.d);
	_exit(0);
}

static double pooled(struct shared *sh, int mode, double p, double *v)
{
	size_t n = 0;

	for (uint32_t k = 0; k < SAMPLES; k++) {
		for (uint32_t i = 0; i < ROUND_TRIPS; i++)
			v[n++] = sh->rtt_ns[mode][k][i];
	}
	return bench_percentile(v, n, p);
}

static void spread_p50(struct shared *sh, int mode, double *v, double ret[SAMPLES])
{
	for (uint32_t k = 0; k < SAMPLES; k++) {
		for (uint32_t i = 0; i < ROUND_TRIPS; i++)
			v[i] = sh->rtt_ns[mode][k][i];
		ret[k] = bench_percentile(v, ROUND_TRIPS, 50);
	}
}

/* The parked wake-ups: ours against the raw futex wake, p50 and p99. */
/* One result line; the fields every line here shares are filled in. spread (sorted
 * here), when given: the per-run p50s, whose least and largest go in value_min/max. */
static void emit(const char *subject, const char *metric, double value, const char *baseline,
		 double baseline_value, double goal, uint64_t iterations, uint32_t samples,
		 double spread[SAMPLES])
{
	struct bench_result r = {
		.bench = "handoff",
		.subject = subject,
		.metric = metric,
		.unit = "ns",
		.value = value,
		.baseline = baseline,
		.baseline_value = baseline_value,
		.higher_is_better = false,
		.goal = goal,
		.placement = placement,
		.cpus = cpus,
		.cpus_count = 2,
		.iterations = iterations,
		.batch = 1,
		.elem_bytes = 8,
		.samples = samples,
	};

	if (spread != NULL) {
		r.value_min = bench_percentile(spread, SAMPLES, 0);
		r.value_max = bench_percentile(spread, SAMPLES, 100);
	}
	bench_emit(&r);
}

static void report_park(struct shared *sh)
{
	double mine[PARK_SAMPLES], raw[PARK_SAMPLES];

	for (uint32_t i = 0; i < PARK_SAMPLES; i++) {
		mine[i] = (double)sh->park_ns[PARK_WAIT][i];
		raw[i] = (double)sh->park_ns[PARK_FUTEX][i];
	}
	for (int q = 0; q < 2; q++) {
		double p = q == 0 ? 50 : 99;
		emit("parked pf_member_wait woken by pf_send (send to return)",
		     q == 0 ? "wake_ns_p50_parked" : "wake_ns_p99_parked",
		     bench_percentile(mine, PARK_SAMPLES, p),
		     "raw futex wait woken by FUTEX_WAKE, same CPUs, same run",
		     bench_percentile(raw, PARK_SAMPLES, p), q == 0 ? PARK_GOAL_RATIO : 0,
		     PARK_SAMPLES, 1, NULL);
	}
}

static void report(struct shared *sh)
{
	static const char *subject[MODE_COUNT] = {
		[MODE_COMMIT_IN] = "pf_send+pf_recv round trip, commit every 32 inside the timing",
		[MODE_COMMIT_OUT] =
			"pf_send+pf_recv round trip, commit every 32 outside the timing",
		[MODE_WAIT] = "pf_send+pf_member_wait+pf_recv round trip (the wait hot), "
			      "commit every 32 outside the timing",
	};
	static const char *metric[MODE_COUNT][2] = {
		[MODE_COMMIT_IN] = {"rtt_ns_p50_commit_in", "rtt_ns_p99_commit_in"},
		[MODE_COMMIT_OUT] = {"rtt_ns_p50_commit_out", "rtt_ns_p99_commit_out"},
		[MODE_WAIT] = {"rtt_ns_p50_wait", "rtt_ns_p99_wait"},
	};
	double *v = malloc((size_t)SAMPLES * ROUND_TRIPS * sizeof(*v));
	double base[2], spread[SAMPLES];

	if (v == NULL)
		bench_check(-ENOMEM, "malloc");
	base[0] = pooled(sh, MODE_RAW, 50, v);
	base[1] = pooled(sh, MODE_RAW, 99, v);
	for (int mode = MODE_COMMIT_IN; mode < MODE_COUNT; mode++) {
		for (int q = 0; q < 2; q++) {
			if (q == 0)
				spread_p50(sh, mode, v, spread);
			emit(subject[mode], metric[mode][q], pooled(sh, mode, q == 0 ? 50 : 99, v),
			     "raw cache-line ping-pong, same CPUs, same run", base[q],
			     q == 0 ? GOAL_RATIO : 0, ROUND_TRIPS, SAMPLES, q == 0 ? spread : NULL);
		}
	}
	free(v);
	report_park(sh);
}

int main(int argc, char **argv)
{
	struct pf_domain_opts o;
	struct pf_domain *d;
	struct shared *sh;
	pid_t pid[2];
	int status;

	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--placement=", 12) == 0)
			placement = argv[i] + 12;
	}
	if (bench_placement_cpus(placement, cpus) < 0) {
		fprintf(stderr, "bench_handoff: placement %s not available here\n", placement);
		return 77;
	}
	bench_domain_name(dom_name, sizeof(dom_name), "handoff");
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = 4;
	o.vnodes_max = 2;
	o.inbox_slots = 2 * COMMIT_EVERY;
	o.msg_bytes_max = 64;
	o.state_bytes_max = STATE_BYTES;
	bench_check(pf_domain_create(dom_name, &o, &d), "pf_domain_create");
	bench_check(pf_vnode_define_range(d, 0, 2, NULL), "pf_vnode_define_range");
	sh = bench_shared_alloc(sizeof(*sh));
	for (int who = 0; who < 2; who++) {
		pid[who] = fork();
		if (pid[who] < 0)
			bench_check(-errno, "fork");
		if (pid[who] == 0)
			child(sh, who);
	}
	for (int who = 0; who < 2; who++) {
		if (waitpid(pid[who], &status, 0) < 0 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			bench_check(-ECHILD, "handoff child");
	}
	report(sh);
	bench_check(pf_domain_destroy(d), "pf_domain_destroy");
	return 0;
}

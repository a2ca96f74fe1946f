/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_recovery.c: kill -9 of a worker -> all of its VNodes owned again.
 *
 * Setup: one domain (DOMAIN_VNODES slots, VICTIM_VNODES defined); SURVIVORS forked
 * workers, each joined with PF_MEMBER_SUPERVISE (an embedded supervisor thread sleeping
 * in futex_waitv on the members' robust futexes) and claiming in a loop with
 * pf_vnode_claim(timeout CLAIM_TIMEOUT_NS). Per kill:
 *   1. the parent pauses the survivors, which release everything they hold;
 *   2. a victim is forked: for the 1 GiB kind it first maps 1 GiB (MADV_NOHUGEPAGE, the
 *      worst case for teardown) and writes every page, then joins and claims all
 *      VICTIM_VNODES by id, publishes its member id and sleeps (beating) until killed;
 *   3. the parent opens a pidfd on the victim, lets the survivors claim again (they park
 *      in pf_vnode_claim: nothing is pending), waits SETTLE_NS so every supervisor has
 *      re-armed its futex set after the join, then takes t0 and sends SIGKILL;
 *   4. it polls, in one loop, the pidfd (poll, timeout 0) and pf_vnode_info() of every
 *      VNode not yet seen placed, until every VNode is ACTIVE with a survivor's slot and
 *      generation as owner (t1) and the pidfd has fired (tp). It yields the CPU between
 *      passes, so on 2 cores the survivors still run.
 * Reported per victim kind: recovery t1 - t0 (ours) against the pidfd notification tp -
 * t0 of the same kill (baseline: what a pidfd-based supervisor could at best start from),
 * p50, p99 and max over all kills; ratio = pidfd / ours (> 1: we place everything again
 * before a pidfd supervisor would even know). Also the time until the first VNode is seen
 * placed again (detection, repair and one claim), which tells detection apart from
 * placing them all. Goal (section 7): p99 <= 10 ms, absolute.
 * Heartbeats: the domain uses a 50 ms interval (3 misses) so that a survivor starved for
 * tens of ms on this 2-core machine (while a 1 GiB victim faults in) is not declared
 * hung; deaths are detected by the robust futex, not by heartbeats.
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_core.h"
#include "pflight/pflight.h"

#define DOMAIN_VNODES 1024u
#define VICTIM_VNODES 256u
#define SURVIVORS 3
#define CLAIM_TIMEOUT_NS UINT64_C(1000000)
#define SETTLE_NS UINT64_C(10000000)
#define GIVE_UP_NS UINT64_C(5000000000)
#define BIG_BYTES (UINT64_C(1) << 30)
#define KILLS_DEFAULT 100u
#define KILLS_MAX 1000u
#define GOAL_P99_NS 10e6

enum cmd { CMD_PAUSE = 1, CMD_RUN = 2, CMD_STOP = 3 };
enum kind { KIND_SMALL, KIND_BIG, KIND_COUNT };

struct shared {
	_Atomic uint32_t cmd;
	_Atomic uint32_t pause_seq;
	_Atomic uint32_t acked[SURVIVORS];
	_Atomic uint32_t joined;
	_Atomic uint64_t survivor_id[SURVIVORS];
	_Atomic uint32_t victim_ready; /* the round number the victim is ready for */
};

struct kill_result {
	double recovery_ns;
	double pidfd_ns;
	double first_ns;
};

static char dom_name[64];
static struct shared *sh;

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
			      .tv_nsec = (long)(ns % 1000000000u)};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		continue;
}

static void release_all(struct pf_vnode **held, uint32_t *count)
{
	for (uint32_t i = 0; i < *count; i++)
		(void)pf_vnode_release(held[i]); /* -ESTALE cannot happen to a live survivor */
	*count = 0;
}

static void survivor(int idx)
{
	struct pf_vnode *held[VICTIM_VNODES];
	struct pf_member_opts o;
	struct pf_domain *d;
	struct pf_member *m;
	uint32_t count = 0;

	bench_check(pf_domain_open(dom_name, &d), "pf_domain_open");
	pf_member_opts_init(&o);
	o.flags = PF_MEMBER_SUPERVISE;
	bench_check(pf_member_join(d, &o, &m), "pf_member_join (survivor)");
	/* [R1] pairs with [A1] in wait_survivors(): our id before the count. */
	pf_store_release(&sh->survivor_id[idx], pf_member_id(m));
	/* Relaxed: the id above carries its own release. */
	pf_fetch_add_relaxed(&sh->joined, 1);
	for (;;) {
		/* [A2] pairs with [R2] in set_cmd(): the round's setup precedes the command. */
		uint32_t cmd = pf_load_acquire(&sh->cmd);
		struct pf_vnode *h;
		int r;

		if (cmd == CMD_STOP)
			break;
		if (cmd == CMD_PAUSE) {
			/* Relaxed: pause_seq is written before cmd ([R2]). */
			uint32_t seq = pf_load_relaxed(&sh->pause_seq);

			/* Relaxed: only writer. */
			if (pf_load_relaxed(&sh->acked[idx]) != seq) {
				release_all(held, &count);
				/* [R3] pairs with [A3] in pause_survivors(). */
				pf_store_release(&sh->acked[idx], seq);
			}
			pf_member_heartbeat(m);
			sleep_ns(200000);
			continue;
		}
		r = pf_vnode_claim(m, 0, CLAIM_TIMEOUT_NS, &h);
		if (r == -ETIMEDOUT)
			continue;
		bench_check(r, "pf_vnode_claim (survivor)");
		if (count == VICTIM_VNODES)
			bench_check(-EOVERFLOW, "survivor holds more than were defined");
		held[count++] = h;
	}
	release_all(held, &count);
	(void)pf_member_leave(m);
	pf_domain_close(d);
	_exit(0);
}

static void victim(uint32_t round, int kind)
{
	struct pf_member_opts o;
	struct pf_domain *d;
	struct pf_member *m;
	struct pf_vnode *h;
	int r;

	if (kind == KIND_BIG) {
		unsigned char *p = mmap(NULL, BIG_BYTES, PROT_READ | PROT_WRITE,
					MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			bench_check(-errno, "mmap 1 GiB");
		(void)madvise(p, BIG_BYTES, MADV_NOHUGEPAGE);
		memset(p, (int)round | 1, BIG_BYTES); /* touch every page */
	}
	bench_check(pf_domain_open(dom_name, &d), "pf_domain_open (victim)");
	pf_member_opts_init(&o);
	while ((r = pf_member_join(d, &o, &m)) == -EUSERS)
		sleep_ns(1000000); /* every slot in its grace period: wait for one */
	bench_check(r, "pf_member_join (victim)");
	for (uint32_t id = 0; id < VICTIM_VNODES; id++) {
		while ((r = pf_vnode_claim_id(m, id, &h)) == -EAGAIN)
			continue;
		bench_check(r, "pf_vnode_claim_id (victim)");
	}
	/* [R4] pairs with [A4] in kill_once(): our claims are done. */
	pf_store_release(&sh->victim_ready, round);
	for (;;) {
		pf_member_heartbeat(m);
		sleep_ns(1000000);
	}
}

static void set_cmd(uint32_t cmd)
{
	/* [R2] pairs with [A2] in survivor(). */
	pf_store_release(&sh->cmd, cmd);
}

static void pause_survivors(void)
{
	/* Relaxed: only writer; published by set_cmd()'s release. */
	uint32_t seq = pf_load_relaxed(&sh->pause_seq) + 1;

	pf_store_relaxed(&sh->pause_seq, seq);
	set_cmd(CMD_PAUSE);
	for (int i = 0; i < SURVIVORS; i++) {
		/* [A3] pairs with [R3] in survivor(): its releases are done. */
		while (pf_load_acquire(&sh->acked[i]) != seq)
			sleep_ns(100000);
	}
}

/* 1 when VNode id is ACTIVE and owned by one of the survivors. */
static int placed(struct pf_domain *d, uint32_t id, const uint64_t *ids)
{
	struct pf_vnode_info info = {.size = sizeof(info)};

	bench_check(pf_vnode_info(d, id, &info), "pf_vnode_info");
	if (info.state != PF_VNODE_ACTIVE)
		return 0;
	for (int i = 0; i < SURVIVORS; i++) {
		if (info.owner_slot == (uint32_t)ids[i] &&
		    info.owner_generation == ((ids[i] >> 32) & 0xffffu))
			return 1;
	}
	return 0;
}

/* After SIGKILL at t0: poll until all placed and the pidfd fired. */
static void watch(struct pf_domain *d, int pidfd, const uint64_t *ids, uint64_t t0,
		  struct kill_result *res)
{
	uint32_t left[VICTIM_VNODES], n = VICTIM_VNODES;
	uint64_t now = t0, t1 = 0, tp = 0, tf = 0;

	for (uint32_t i = 0; i < VICTIM_VNODES; i++)
		left[i] = i;
	while (n > 0 || tp == 0) {
		struct pollfd pfd = {.fd = pidfd, .events = POLLIN};

		now = bench_now_ns();
		if (tp == 0 && poll(&pfd, 1, 0) == 1)
			tp = now;
		for (uint32_t i = 0; i < n;) {
			if (placed(d, left[i], ids)) {
				left[i] = left[--n];
				tf = tf == 0 ? now : tf;
			} else {
				i++;
			}
		}
		if (n == 0 && t1 == 0)
			t1 = now;
		if (now - t0 > GIVE_UP_NS)
			bench_check(-ETIMEDOUT, "recovery: VNodes not placed within 5 s");
		(void)sched_yield();
	}
	res->recovery_ns = (double)(t1 - t0);
	res->pidfd_ns = (double)(tp - t0);
	res->first_ns = (double)(tf - t0);
}

static void kill_once(struct pf_domain *d, uint32_t round, int kind, struct kill_result *res)
{
	uint64_t ids[SURVIVORS], t0;
	int pidfd, status;
	pid_t pid;

	pause_survivors();
	pid = fork();
	if (pid < 0)
		bench_check(-errno, "fork");
	if (pid == 0)
		victim(round, kind);
	/* [A4] pairs with [R4] in victim(). */
	while (pf_load_acquire(&sh->victim_ready) != round)
		sleep_ns(100000);
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0)
		bench_check(-errno, "pidfd_open");
	for (int i = 0; i < SURVIVORS; i++) {
		/* Relaxed: written once, before the survivors joined (wait_survivors). */
		ids[i] = pf_load_relaxed(&sh->survivor_id[i]);
	}
	set_cmd(CMD_RUN);
	sleep_ns(SETTLE_NS);
	t0 = bench_now_ns();
	if (kill(pid, SIGKILL) < 0)
		bench_check(-errno, "kill");
	watch(d, pidfd, ids, t0, res);
	if (waitpid(pid, &status, 0) < 0 || !WIFSIGNALED(status))
		bench_check(-ECHILD, "victim did not die of the signal");
	close(pidfd);
}

static void wait_survivors(void)
{
	/* Relaxed: a count; the ids carry their own release. */
	while (pf_load_relaxed(&sh->joined) != SURVIVORS)
		sleep_ns(100000);
	for (int i = 0; i < SURVIVORS; i++) {
		/* [A1] pairs with [R1] in survivor(). */
		while (pf_load_acquire(&sh->survivor_id[i]) == 0)
			sleep_ns(100000);
	}
}

static void emit(int kind, const char *metric, double value, double base, double goal,
		 uint32_t kills)
{
	static const char *subject[KIND_COUNT] = {
		[KIND_SMALL] = "kill -9 of a small worker -> its 256 VNodes owned again",
		[KIND_BIG] = "kill -9 of a 1 GiB worker -> its 256 VNodes owned again",
	};
	struct bench_result r = {
		.bench = "recovery",
		.subject = subject[kind],
		.metric = metric,
		.unit = "ns",
		.value = value,
		.baseline = base > 0 ? "pidfd readable after the same kill" : NULL,
		.baseline_value = base,
		.higher_is_better = false,
		.goal = goal,
		.goal_on_value = goal > 0,
		.placement = "any (2 cpus, unpinned)",
		.iterations = kills,
		.batch = VICTIM_VNODES,
		.samples = kills,
	};

	bench_emit(&r);
}

static void report(int kind, struct kill_result *res, uint32_t kills)
{
	double ours[KILLS_MAX], pidfd[KILLS_MAX], first[KILLS_MAX];
	static const double q[3] = {50, 99, 100};
	static const char *names[KIND_COUNT][3] = {
		[KIND_SMALL] = {"recovery_ns_p50_small", "recovery_ns_p99_small",
				"recovery_ns_max_small"},
		[KIND_BIG] = {"recovery_ns_p50_1gib", "recovery_ns_p99_1gib",
			      "recovery_ns_max_1gib"},
	};

	for (uint32_t i = 0; i < kills; i++) {
		ours[i] = res[i].recovery_ns;
		pidfd[i] = res[i].pidfd_ns;
		first[i] = res[i].first_ns;
	}
	for (int k = 0; k < 3; k++) {
		emit(kind, names[kind][k], bench_percentile(ours, kills, q[k]),
		     bench_percentile(pidfd, kills, q[k]), k == 1 ? GOAL_P99_NS : 0, kills);
	}
	emit(kind,
	     kind == KIND_SMALL ? "first_vnode_placed_ns_p99_small"
				: "first_vnode_placed_ns_p99_1gib",
	     bench_percentile(first, kills, 99), 0, 0, kills);
}

static uint32_t arg_kills(const char *s)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > KILLS_MAX)
		bench_check(-EINVAL, "--kills-small/--kills-big: 1..1000");
	return (uint32_t)v;
}

int main(int argc, char **argv)
{
	static struct kill_result res[KIND_COUNT][KILLS_MAX];
	uint32_t kills[KIND_COUNT] = {KILLS_DEFAULT, KILLS_DEFAULT}, round = 0, done[2] = {0};
	struct pf_domain_opts o;
	struct pf_domain *d;
	pid_t pids[SURVIVORS];

	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--kills-small=", 14) == 0)
			kills[KIND_SMALL] = arg_kills(argv[i] + 14);
		else if (strncmp(argv[i], "--kills-big=", 12) == 0)
			kills[KIND_BIG] = arg_kills(argv[i] + 12);
	}
	bench_domain_name(dom_name, sizeof(dom_name), "recovery");
	sh = bench_shared_alloc(sizeof(*sh));
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = 64;
	o.vnodes_max = DOMAIN_VNODES;
	o.heartbeat_interval_ns = 50000000;
	bench_check(pf_domain_create(dom_name, &o, &d), "pf_domain_create");
	bench_check(pf_vnode_define_range(d, 0, VICTIM_VNODES, NULL), "pf_vnode_define_range");
	set_cmd(CMD_RUN);
	for (int i = 0; i < SURVIVORS; i++) {
		pids[i] = fork();
		if (pids[i] < 0)
			bench_check(-errno, "fork");
		if (pids[i] == 0)
			survivor(i);
	}
	wait_survivors();
	/* Interleave the kinds so drift on this shared machine hits both alike. */
	while (done[KIND_SMALL] < kills[KIND_SMALL] || done[KIND_BIG] < kills[KIND_BIG]) {
		for (int kind = 0; kind < KIND_COUNT; kind++) {
			if (done[kind] < kills[kind]) {
				kill_once(d, ++round, kind, &res[kind][done[kind]]);
				done[kind]++;
			}
		}
	}
	set_cmd(CMD_STOP);
	for (int i = 0; i < SURVIVORS; i++)
		(void)waitpid(pids[i], NULL, 0);
	for (int kind = 0; kind < KIND_COUNT; kind++)
		report(kind, res[kind], kills[kind]);
	bench_check(pf_domain_destroy(d), "pf_domain_destroy");
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_balance.c
 * Goal: placement stays balanced under churn: with pflightd's defaults (trust-weighted,
 * whose trial put all 256 VNodes on the oldest worker while the others held none), the
 * VNodes come back to an even spread over the active workers after every kill, start and
 * drain, and no message is lost by the moves that spread them. The bound checked is looser
 * than the benchmark's goal (bench/bench_balance.c), yet the trial's failure (max/mean = the
 * number of workers) fails it. How fast the rebalancer converges is the benchmark's
 * business: nothing here depends on the machine's speed.
 * Method: the demo's own host (tools/demo/host.c: pflightd, example counter workers as
 * real processes, 256 counter VNodes, 2,000 messages/s) and its churn, in the demo's
 * order (kill -9, start, drain, start, kill -9, start). After each event, traffic goes on
 * and the balance is sampled every 250 ms from the ownership words, until a sample taken
 * 2.5 s or more after the last membership change finds every VNode on an ACTIVE member
 * and max/mean <= 1.5. An event after which that does not happen within 60 s (a hang
 * guard, not a speed bound) fails the test; then every counter must equal the messages
 * sent to it. About 30 s.
 *
 *   test_balance PFLIGHTD WORKER
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tools/demo/host.h"

#define EVENTS 6u
#define DEADLINE_NS (60ull * 1000000000ull)
#define SAMPLE_NS 250000000ull
#define SETTLED_NS 2500000000ull
#define BOUND 1.5
#define RATE_PER_S 2000u

struct tally {
	uint32_t balanced; /* events after which a settled sample was within BOUND */
	double last;       /* the last settled sample's max/mean */
};

struct sampler {
	struct host *h;
	struct tally *t;
	int done; /* a settled sample within BOUND: the event's run ends */
};

/* A sample 2.5 s or more after the last change, with every VNode on an ACTIVE member
 * (host_balance() says HOST_UNPLACED otherwise) and max/mean within BOUND, ends the run. */
static void on_sample(void *arg, uint64_t at_ns, uint64_t settled_ns)
{
	struct sampler *sp = arg;
	double ratio;

	(void)at_ns;
	if (settled_ns < SETTLED_NS || host_balance(sp->h, &ratio) == 0)
		return;
	sp->t->last = ratio;
	if (ratio <= BOUND) {
		sp->t->balanced++;
		sp->done = 1;
	}
}

static int stop(void *arg)
{
	return ((struct sampler *)arg)->done;
}

/* Each churn event, then the host run until the balance is back (or the guard ends it). */
static void churn_until_balanced(struct host *h, struct tally *t)
{
	struct sampler sp = {.h = h, .t = t};
	struct host_loop loop = {.run_ns = DEADLINE_NS,
				 .churn_ns = DEADLINE_NS + 1, /* none within the run */
				 .sample_ns = SAMPLE_NS,
				 .rate = RATE_PER_S,
				 .on_sample = on_sample,
				 .stop = stop,
				 .arg = &sp};

	for (uint32_t e = 0; e < EVENTS; e++) {
		uint64_t start = host_now_ns();
		uint32_t before = t->balanced;
		char what[64];

		host_churn(h, what, sizeof(what));
		sp.done = 0;
		host_run(h, &loop);
		printf("%s: %s after %.1f s (max/mean %.3f)\n", what,
		       t->balanced > before ? "balanced" : "NOT balanced",
		       (double)(host_now_ns() - start) / 1e9, t->last);
	}
}

int main(int argc, char **argv)
{
	struct tally t = {0};
	struct host h;
	int r, ok;

	if (argc != 3) {
		fprintf(stderr, "usage: %s PFLIGHTD WORKER\n", argv[0]);
		return 2;
	}
	host_block_signals();
	memset(&h, 0, sizeof(h));
	h.daemon_path = argv[1];
	h.worker_path = argv[2];
	h.workers = 5;
	h.vnodes = 256;
	(void)snprintf(h.name, sizeof(h.name), "pf-test-balance-%d", (int)getpid());
	r = host_start(&h);
	if (r == 0) {
		churn_until_balanced(&h, &t);
		r = host_verify(&h);
	}
	host_stop(&h);
	ok = r == 0 && t.balanced == EVENTS;
	printf("balance: back within max/mean <= %.2f after %u of %u churn events; host: %s\n",
	       BOUND, t.balanced, EVENTS, r == 0 ? "ok" : strerror(-r));
	if (!ok && h.dir[0] != '\0')
		printf("logs kept in %s\n", h.dir);
	else
		host_remove_dir(&h);
	return ok ? 0 : 1;
}

/* SPDX-License-Identifier: MIT */
/*
 * tests/stress/test_stress_ring.c
 * Goal: under real concurrency (more threads than cores, so threads are preempted at
 * arbitrary points) every item goes through the rings exactly once, in FIFO order per
 * producer as seen by each consumer (and exactly FIFO for SPSC). Method: threads over
 * malloc'd memory (TSan can see them), unique item ids (producer << 24 | sequence), a
 * per-item counter array, a small ring so that full and empty are hit constantly. Modes:
 * single-item calls, bursts of varying size, and a mix. Exit status: 0 pass, 1 fail.
 * Bounded to a few seconds; `--long` or PF_STRESS_LONG=1 runs 20x longer (suite slow).
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shm/pf_atomic.h"
#include "shm/ring_mpmc.h"
#include "shm/ring_spsc.h"

#define PRODUCERS 4u
#define CONSUMERS 4u
#define BURST_MAX 32u
#define SEQ_BITS 24u

enum mode { MODE_SINGLE, MODE_BURST, MODE_MIXED, MODE_COUNT };
static const char *const mode_names[MODE_COUNT] = {"single", "burst", "mixed"};

struct shared {
	struct ring_mpmc *mem;
	struct ring_mpmc_view ring;
	enum mode mode;
	uint32_t items_per_producer;
	_Atomic uint32_t *seen;    /* per item id: times consumed */
	_Atomic uint64_t consumed; /* total taken */
	_Atomic uint32_t failed;
};

struct worker {
	struct shared *sh;
	uint32_t id;
	pthread_t thread;
};

static uint32_t xorshift(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void fail(struct shared *sh, const char *what, uint32_t a, uint32_t b)
{
	fprintf(stderr, "FAIL: %s (%u, %u)\n", what, a, b);
	/* Relaxed: a flag read after join. */
	pf_store_relaxed(&sh->failed, 1);
}

static bool use_burst(enum mode mode, uint32_t *rng)
{
	return mode == MODE_BURST || (mode == MODE_MIXED && (xorshift(rng) & 1));
}

static void *producer(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	uint32_t rng = 0x9e3779b9u * (w->id + 1), seq = 0, v[BURST_MAX];

	while (seq < sh->items_per_producer) {
		unsigned n = 1, k;

		if (use_burst(sh->mode, &rng))
			n = 1 + xorshift(&rng) % BURST_MAX;
		n = PF_MIN(n, sh->items_per_producer - seq);
		for (unsigned i = 0; i < n; i++)
			v[i] = w->id << SEQ_BITS | (seq + i);
		if (n == 1)
			k = ring_mpmc_try_enqueue(&sh->ring, v[0], NULL) == 0;
		else
			k = ring_mpmc_enqueue_burst(&sh->ring, v, n);
		seq += k;
		if (k == 0)
			sched_yield();
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	const uint64_t total = (uint64_t)PRODUCERS * sh->items_per_producer;
	uint32_t rng = 0x7f4a7c15u * (w->id + 1), out[BURST_MAX];
	int64_t last[PRODUCERS];

	for (unsigned i = 0; i < PRODUCERS; i++)
		last[i] = -1;
	/* Relaxed: progress counter; the items themselves are checked one by one. */
	while (pf_load_relaxed(&sh->consumed) < total) {
		unsigned n = 1, k;

		if (use_burst(sh->mode, &rng))
			n = 1 + xorshift(&rng) % BURST_MAX;
		if (n == 1)
			k = ring_mpmc_try_dequeue(&sh->ring, &out[0]) == 0;
		else
			k = ring_mpmc_dequeue_burst(&sh->ring, out, n);
		if (k == 0) {
			sched_yield();
			continue;
		}
		for (unsigned i = 0; i < k; i++) {
			uint32_t p = out[i] >> SEQ_BITS, seq = out[i] & ((1u << SEQ_BITS) - 1);

			if (p >= PRODUCERS || seq >= sh->items_per_producer) {
				fail(sh, "value out of range", out[i], 0);
				continue;
			}
			if ((int64_t)seq <= last[p])
				fail(sh, "FIFO per producer broken", p, seq);
			last[p] = seq;
			/* Relaxed: a counter checked after join. */
			pf_fetch_add_relaxed(&sh->seen[p * sh->items_per_producer + seq], 1);
		}
		/* Relaxed: progress counter only. */
		pf_fetch_add_relaxed(&sh->consumed, k);
	}
	return NULL;
}

static int run_mpmc(enum mode mode, uint32_t items, uint32_t slots)
{
	struct shared sh = {.mode = mode, .items_per_producer = items};
	struct worker w[PRODUCERS + CONSUMERS];
	size_t bytes = ring_mpmc_bytes(slots);
	uint64_t total = (uint64_t)PRODUCERS * items, bad = 0;

	sh.mem = aligned_alloc(PF_CACHELINE, PF_ALIGN_UP(bytes, PF_CACHELINE));
	sh.seen = calloc(total, sizeof(*sh.seen));
	if (sh.mem == NULL || sh.seen == NULL || ring_mpmc_init(sh.mem, bytes, slots) != 0 ||
	    ring_mpmc_attach(sh.mem, bytes, slots, &sh.ring) != 0)
		return 1;
	for (uint32_t i = 0; i < PRODUCERS + CONSUMERS; i++) {
		w[i] = (struct worker){.sh = &sh, .id = i < PRODUCERS ? i : i - PRODUCERS};
		if (pthread_create(&w[i].thread, NULL, i < PRODUCERS ? producer : consumer,
				   &w[i]) != 0)
			return 1;
	}
	for (uint32_t i = 0; i < PRODUCERS + CONSUMERS; i++)
		pthread_join(w[i].thread, NULL);
	for (uint64_t i = 0; i < total; i++) {
		/* Relaxed: threads joined. */
		if (pf_load_relaxed(&sh.seen[i]) != 1)
			bad++;
	}
	if (bad != 0)
		fail(&sh, "items not seen exactly once", (uint32_t)bad, 0);
	if (ring_mpmc_count(&sh.ring) != 0 || ring_mpmc_check(&sh.ring) != 0)
		fail(&sh, "ring not empty and valid at the end", ring_mpmc_count(&sh.ring), 0);
	fprintf(stderr, "mpmc %-6s %u slots: %llu items, %s\n", mode_names[mode], slots,
		(unsigned long long)total, sh.failed ? "FAIL" : "ok");
	free(sh.mem);
	free(sh.seen);
	/* Relaxed: threads joined. */
	return pf_load_relaxed(&sh.failed) != 0;
}

struct spsc_arg {
	struct ring_spsc *mem;
	struct ring_spsc_view ring;
	enum mode mode;
	uint64_t items;
	_Atomic uint32_t failed;
};

static void *spsc_producer(void *arg)
{
	struct spsc_arg *a = arg;
	uint64_t next = 0, v[BURST_MAX];
	uint32_t rng = 12345;

	while (next < a->items) {
		unsigned n = use_burst(a->mode, &rng) ? 1 + xorshift(&rng) % BURST_MAX : 1, k;

		n = (unsigned)PF_MIN((uint64_t)n, a->items - next);
		for (unsigned i = 0; i < n; i++)
			v[i] = next + i;
		if (n == 1)
			k = ring_spsc_try_enqueue(&a->ring, v[0]) == 0;
		else
			k = ring_spsc_enqueue_burst(&a->ring, v, n);
		next += k;
		if (k == 0)
			sched_yield();
	}
	return NULL;
}

static int run_spsc(enum mode mode, uint64_t items, uint32_t slots)
{
	struct spsc_arg a = {.mode = mode, .items = items};
	size_t bytes = ring_spsc_bytes(slots);
	uint64_t next = 0, out[BURST_MAX];
	uint32_t rng = 777;
	pthread_t t;

	a.mem = aligned_alloc(PF_CACHELINE, PF_ALIGN_UP(bytes, PF_CACHELINE));
	if (a.mem == NULL || ring_spsc_init(a.mem, bytes, slots) != 0 ||
	    ring_spsc_attach(a.mem, bytes, slots, &a.ring) != 0 ||
	    pthread_create(&t, NULL, spsc_producer, &a) != 0)
		return 1;
	while (next < items) {
		unsigned n = use_burst(mode, &rng) ? 1 + xorshift(&rng) % BURST_MAX : 1, k;

		if (n == 1)
			k = ring_spsc_try_dequeue(&a.ring, &out[0]) == 0;
		else
			k = ring_spsc_dequeue_burst(&a.ring, out, n);
		for (unsigned i = 0; i < k; i++) {
			if (out[i] != next++) {
				fprintf(stderr, "FAIL: spsc FIFO: got %llu\n",
					(unsigned long long)out[i]);
				pthread_join(t, NULL);
				return 1;
			}
		}
		if (k == 0)
			sched_yield();
	}
	pthread_join(t, NULL);
	fprintf(stderr, "spsc %-6s %u slots: %llu items, ok\n", mode_names[mode], slots,
		(unsigned long long)items);
	free(a.mem);
	return 0;
}

int main(int argc, char **argv)
{
	const char *env = getenv("PF_STRESS_LONG");
	bool is_long = (env != NULL && strcmp(env, "1") == 0) ||
		       (argc > 1 && strcmp(argv[1], "--long") == 0);
	uint32_t scale = is_long ? 20 : 1;
	int failed = 0;

	for (int m = 0; m < MODE_COUNT; m++) {
		failed |= run_spsc((enum mode)m, 1000000ull * scale, 64);
		failed |= run_mpmc((enum mode)m, 200000 * scale, 64);
		failed |= run_mpmc((enum mode)m, 50000 * scale, 2);
	}
	fprintf(stderr, "%s\n", failed ? "FAIL" : "PASS");
	return failed ? 1 : 0;
}

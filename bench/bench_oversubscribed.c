/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_oversubscribed.c: MPMC throughput when producers and consumers outnumber
 * cores, so the scheduler preempts them mid-operation.
 *
 * Method: 2 producer and 2 consumer processes, all allowed on CPUs 0-1 (not pinned to
 * one each: the scheduler moves and preempts them), share one ring in a shm segment and
 * spin for --duration-ms after a warm-up; the metric is items taken per second. Ours
 * (ring_mpmc) against rte_ring in HTS mode (RING_F_MP_HTS_ENQ | RING_F_MC_HTS_DEQ, the
 * goal baseline), and for information against rte_ring default MP/MC and RTS. Each
 * comparison is repeated --samples times, interleaved, and the median reported. Ratio =
 * ours / baseline.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/bench_common.h"
#include "bench/bench_ring_impl.h"
#include "shm/pf_atomic.h"
#include "shm/segment.h"

#define PRODUCERS 2
#define CONSUMERS 2

enum impl { OURS, RTE_HTS, RTE_MPMC, RTE_RTS, IMPL_COUNT };

static const char *const impl_names[IMPL_COUNT] = {
	"ring_mpmc",
	"rte_ring HTS",
	"rte_ring MP/MC",
	"rte_ring RTS",
};

struct sync {
	_Atomic uint32_t ready;
	_Atomic uint32_t stop;
	_Atomic uint64_t taken[CONSUMERS * 8]; /* one counter per cache line */
};

struct ctx {
	struct sync *sync;
	void *ring;
	size_t ring_bytes;
	struct ring_mpmc_view view; /* ours: the ring's private view (formatted before fork) */
	int cpus[2];
};

#define DEFINE_LOOPS(name, enq1, deq1, enqn, deqn)                                                 \
	static void name##_produce(struct sync *s, void *r, unsigned batch)                        \
	{                                                                                          \
		uint32_t buf[BENCH_BATCH_MAX], seq = 0;                                            \
		/* Relaxed: a stop flag; nothing is published with it. */                          \
		while (pf_load_relaxed(&s->stop) == 0) {                                           \
			unsigned got;                                                              \
			if (batch == 1) {                                                          \
				got = enq1(r, seq) == 0;                                           \
			} else {                                                                   \
				for (unsigned i = 0; i < batch; i++)                               \
					buf[i] = seq + i;                                          \
				got = enqn(r, buf, batch);                                         \
			}                                                                          \
			seq += got;                                                                \
			if (got == 0)                                                              \
				pf_cpu_relax();                                                    \
		}                                                                                  \
	}                                                                                          \
	static void name##_consume(struct sync *s, void *r, unsigned batch, int id)                \
	{                                                                                          \
		uint32_t buf[BENCH_BATCH_MAX];                                                     \
		uint64_t taken = 0;                                                                \
		/* Relaxed: a stop flag; nothing is published with it. */                          \
		while (pf_load_relaxed(&s->stop) == 0) {                                           \
			unsigned got;                                                              \
			if (batch == 1)                                                            \
				got = deq1(r, &buf[0]) == 0;                                       \
			else                                                                       \
				got = deqn(r, buf, batch);                                         \
			taken += got;                                                              \
			/* Relaxed: a statistic the parent samples. */                             \
			pf_store_relaxed(&s->taken[id * 8], taken);                                \
			if (got == 0)                                                              \
				pf_cpu_relax();                                                    \
		}                                                                                  \
	}

DEFINE_LOOPS(ours, ours_mpmc_enq1, ours_mpmc_deq1, ours_mpmc_enqn, ours_mpmc_deqn)
#if PF_HAVE_DPDK
DEFINE_LOOPS(rte, rte_any_enq1, rte_any_deq1, rte_any_enqn, rte_any_deqn)
#endif

static int format_ring(struct ctx *c, enum impl impl)
{
	void *ring = c->ring;
	size_t bytes = c->ring_bytes;
	int r;

	switch (impl) {
	case OURS:
		r = ring_mpmc_init(ring, bytes, BENCH_RING_SLOTS);
		return r < 0 ? r : ring_mpmc_attach(ring, bytes, BENCH_RING_SLOTS, &c->view);
#if PF_HAVE_DPDK
	case RTE_HTS:
		return rte_ring_init(ring, "os_hts", BENCH_RING_SLOTS,
				     RING_F_MP_HTS_ENQ | RING_F_MC_HTS_DEQ);
	case RTE_MPMC:
		return rte_ring_init(ring, "os_mpmc", BENCH_RING_SLOTS, 0);
	case RTE_RTS:
		return rte_ring_init(ring, "os_rts", BENCH_RING_SLOTS,
				     RING_F_MP_RTS_ENQ | RING_F_MC_RTS_DEQ);
#endif
	default:
		return -ENOTSUP;
	}
}

static uint64_t total_taken(struct sync *s)
{
	uint64_t sum = 0;

	for (int i = 0; i < CONSUMERS; i++) {
		/* Relaxed: a statistic. */
		sum += pf_load_relaxed(&s->taken[i * 8]);
	}
	return sum;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* One run: items taken per second over duration_ms after a warm-up. */
static double run_once(struct ctx *c, enum impl impl, unsigned batch, unsigned duration_ms)
{
	pid_t pid[PRODUCERS + CONSUMERS];
	uint64_t n0, n1, t0, t1;

	if (format_ring(c, impl) != 0) {
		fprintf(stderr, "bench_oversubscribed: cannot format ring %d\n", (int)impl);
		exit(1);
	}
	memset(c->sync, 0, sizeof(*c->sync)); /* before fork: children inherit it */
	for (int i = 0; i < PRODUCERS + CONSUMERS; i++) {
		pid[i] = fork();
		if (pid[i] < 0) {
			perror("fork");
			exit(1);
		}
		if (pid[i] != 0)
			continue;
		if (bench_allow_cpus(c->cpus, 2) != 0)
			_exit(2);
		if (i < PRODUCERS) {
			if (impl == OURS)
				ours_produce(c->sync, &c->view, batch);
#if PF_HAVE_DPDK
			else
				rte_produce(c->sync, c->ring, batch);
#endif
		} else {
			if (impl == OURS)
				ours_consume(c->sync, &c->view, batch, i - PRODUCERS);
#if PF_HAVE_DPDK
			else
				rte_consume(c->sync, c->ring, batch, i - PRODUCERS);
#endif
		}
		_exit(0);
	}
	sleep_ms(200); /* warm-up: all four running and migrated */
	n0 = total_taken(c->sync);
	t0 = bench_now_ns();
	sleep_ms(duration_ms);
	n1 = total_taken(c->sync);
	t1 = bench_now_ns();
	/* Relaxed: a stop flag. */
	pf_store_relaxed(&c->sync->stop, 1);
	for (int i = 0; i < PRODUCERS + CONSUMERS; i++) {
		int status;

		if (waitpid(pid[i], &status, 0) != pid[i] || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			fprintf(stderr, "bench_oversubscribed: child failed\n");
			exit(1);
		}
	}
	return (double)(n1 - n0) * 1e9 / (double)(t1 - t0);
}

int main(int argc, char **argv)
{
	unsigned duration_ms = 1000, samples = 3;
	char name[64];
	struct shm_segment seg;
	struct ctx c = {.cpus = {0, 1}};
	size_t ring_bytes;
	int r;

	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--duration-ms=", 14) == 0)
			duration_ms = (unsigned)strtoul(argv[i] + 14, NULL, 10);
		else if (strncmp(argv[i], "--samples=", 10) == 0)
			samples = (unsigned)strtoul(argv[i] + 10, NULL, 10);
		else if (strcmp(argv[i], "--format=jsonl") != 0) {
			fprintf(stderr, "usage: bench_oversubscribed [--duration-ms=N] "
					"[--samples=N]\n");
			return 2;
		}
	}
	if (samples == 0 || samples > 64 || duration_ms == 0) {
		fprintf(stderr, "bench_oversubscribed: bad arguments\n");
		return 2;
	}
	if (bench_allow_cpus(c.cpus, 2) != 0) {
		fprintf(stderr, "bench_oversubscribed: CPUs 0-1 not available: skipped\n");
		return 77;
	}
	ring_bytes = ring_mpmc_bytes(BENCH_RING_SLOTS);
#if PF_HAVE_DPDK
	ring_bytes = PF_MAX_OF(ring_bytes, (size_t)rte_ring_get_memsize_elem(4, BENCH_RING_SLOTS));
#endif
	snprintf(name, sizeof(name), "pf-bench-oversub-%d", (int)getpid());
	r = shm_segment_create(name, 4096 + ring_bytes, 0600, -1, &seg);
	if (r < 0) {
		fprintf(stderr, "bench_oversubscribed: shm_segment_create: %s\n", strerror(-r));
		return 1;
	}
	(void)shm_segment_unlink(name); /* the mapping is inherited by fork */
	c.sync = seg.base;
	c.ring = (char *)seg.base + 4096;
	c.ring_bytes = ring_bytes;

	static const unsigned batches[] = {32, 1};
	for (size_t b = 0; b < PF_ARRAY_SIZE(batches); b++) {
		double v_ours[IMPL_COUNT][64], v_base[IMPL_COUNT][64];

		for (unsigned s = 0; s < samples; s++) {
			for (int base = RTE_HTS; base < IMPL_COUNT; base++) {
				v_ours[base][s] = run_once(&c, OURS, batches[b], duration_ms);
				v_base[base][s] = PF_HAVE_DPDK ? run_once(&c, (enum impl)base,
									  batches[b], duration_ms)
							       : 0;
			}
		}
		for (int base = RTE_HTS; base < IMPL_COUNT; base++) {
			struct bench_result res = {
				.bench = "oversubscribed",
				.subject = impl_names[OURS],
				.metric = "items_per_s",
				.unit = "items/s",
				.baseline = PF_HAVE_DPDK ? impl_names[base] : NULL,
				.higher_is_better = true,
				.goal = base == RTE_HTS ? 1.0 : 0, /* others: information */
				.placement = "2p2c-on-2-cpus",
				.cpus = c.cpus,
				.cpus_count = 2,
				.iterations = duration_ms,
				.batch = batches[b],
				.elem_bytes = 4,
				.samples = samples,
			};

			res.value = bench_percentile(v_ours[base], samples, 50);
			res.value_min = v_ours[base][0];
			res.value_max = v_ours[base][samples - 1];
			res.baseline_value = bench_percentile(v_base[base], samples, 50);
			bench_emit(&res);
		}
		if (!PF_HAVE_DPDK)
			break;
	}
	shm_segment_close(&seg);
	return 0;
}

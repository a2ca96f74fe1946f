/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_ring.c: cross-process ring throughput, ours against DPDK rte_ring.
 *
 * Method: the rings live in a POSIX shm segment; a forked producer and a forked consumer
 * are pinned to the two CPUs of --placement (same-node: CPUs 0 and 1). Closed loop: the
 * producer pushes --iterations items (bursts of --batch, or single-item calls), the
 * consumer takes them all; throughput = items / (last item taken - start signal). Every
 * case runs --samples times, ours and the baseline interleaved so drift hits both; the
 * median is reported. Cases: SPSC (8-byte values) vs rte_ring SP/SC with esize 8, and
 * MPMC (4-byte values) vs rte_ring MP/MC with esize 4, at burst 32 and single item.
 * rte_ring_init() and the _elem data path need no EAL (checked on DPDK 22.11): the ring
 * is formatted in place in the segment, like ours.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_common.h"
#include "bench/bench_ring_impl.h"
#include "shm/pf_atomic.h"
#include "shm/segment.h"

enum impl { OURS_SPSC, RTE_SPSC, OURS_MPMC, RTE_MPMC, IMPL_COUNT };

struct sync {
	_Atomic uint32_t ready;
	_Atomic uint32_t go;
	_Atomic uint64_t done_ns;
	_Atomic uint64_t received;
};

struct ctx {
	struct sync *sync;
	void *ring;
	size_t ring_bytes;
	struct ring_spsc_view spsc; /* ours: the rings' private views (formatted before fork) */
	struct ring_mpmc_view mpmc;
	int cpus[2];
};

/*
 * Producer and consumer loops per implementation, with its fast path inlined. Each loop
 * holds what its implementation hands a user, H taken from the handle once: rte_ring a
 * pointer to the ring, ours the ring's private view (a small value, kept in registers);
 * REF is how the adapters take it (& for ours, nothing for rte_ring).
 */
#define DEFINE_LOOPS(name, T, H, REF, enq1, deq1, enqn, deqn)                                      \
	static void name##_produce(void *handle, uint64_t n, unsigned batch)                       \
	{                                                                                          \
		H r = *(H *)handle;                                                                \
		T buf[BENCH_BATCH_MAX];                                                            \
		uint64_t sent = 0;                                                                 \
		if (batch == 1) {                                                                  \
			while (sent < n) {                                                         \
				if (enq1(REF r, (T)sent) == 0)                                     \
					sent++;                                                    \
				else                                                               \
					pf_cpu_relax();                                            \
			}                                                                          \
			return;                                                                    \
		}                                                                                  \
		while (sent < n) {                                                                 \
			unsigned k = n - sent < batch ? (unsigned)(n - sent) : batch, got;         \
			for (unsigned i = 0; i < k; i++)                                           \
				buf[i] = (T)(sent + i);                                            \
			got = enqn(REF r, buf, k);                                                 \
			sent += got;                                                               \
			if (got == 0)                                                              \
				pf_cpu_relax();                                                    \
		}                                                                                  \
	}                                                                                          \
	static uint64_t name##_consume(void *handle, uint64_t n, unsigned batch)                   \
	{                                                                                          \
		H r = *(H *)handle;                                                                \
		T buf[BENCH_BATCH_MAX];                                                            \
		uint64_t got = 0, sum = 0;                                                         \
		while (got < n) {                                                                  \
			unsigned k;                                                                \
			if (batch == 1) {                                                          \
				k = deq1(REF r, &buf[0]) == 0;                                     \
			} else {                                                                   \
				k = deqn(REF r, buf, batch);                                       \
			}                                                                          \
			for (unsigned i = 0; i < k; i++)                                           \
				sum += buf[i];                                                     \
			got += k;                                                                  \
			if (k == 0)                                                                \
				pf_cpu_relax();                                                    \
		}                                                                                  \
		return sum;                                                                        \
	}

DEFINE_LOOPS(ours_spsc, uint64_t, struct ring_spsc_view, &, ours_spsc_enq1, ours_spsc_deq1,
	     ours_spsc_enqn, ours_spsc_deqn)
DEFINE_LOOPS(ours_mpmc, uint32_t, struct ring_mpmc_view, &, ours_mpmc_enq1, ours_mpmc_deq1,
	     ours_mpmc_enqn, ours_mpmc_deqn)
#if PF_HAVE_DPDK
DEFINE_LOOPS(rte_spsc, uint64_t, void *, , rte_sp_enq1, rte_sc_deq1, rte_sp_enqn, rte_sc_deqn)
DEFINE_LOOPS(rte_mpmc, uint32_t, void *, , rte_mp_enq1, rte_mc_deq1, rte_mp_enqn, rte_mc_deqn)
#endif

static int format_ring(struct ctx *c, enum impl impl)
{
	void *ring = c->ring;
	size_t bytes = c->ring_bytes;
	int r;

	switch (impl) {
	case OURS_SPSC:
		r = ring_spsc_init(ring, bytes, BENCH_RING_SLOTS);
		return r < 0 ? r : ring_spsc_attach(ring, bytes, BENCH_RING_SLOTS, &c->spsc);
	case OURS_MPMC:
		r = ring_mpmc_init(ring, bytes, BENCH_RING_SLOTS);
		return r < 0 ? r : ring_mpmc_attach(ring, bytes, BENCH_RING_SLOTS, &c->mpmc);
#if PF_HAVE_DPDK
	case RTE_SPSC:
		return rte_ring_init(ring, "bench_spsc", BENCH_RING_SLOTS,
				     RING_F_SP_ENQ | RING_F_SC_DEQ);
	case RTE_MPMC:
		return rte_ring_init(ring, "bench_mpmc", BENCH_RING_SLOTS, 0);
#endif
	default:
		return -ENOTSUP;
	}
}

/* What the loops of impl take their handle from: our rings' private views, or the pointer
 * to the rte_ring. */
static void *ring_handle(struct ctx *c, enum impl impl)
{
	if (impl == OURS_SPSC)
		return &c->spsc;
	if (impl == OURS_MPMC)
		return &c->mpmc;
	return &c->ring;
}

static void produce(enum impl impl, void *r, uint64_t n, unsigned batch)
{
	switch (impl) {
	case OURS_SPSC:
		ours_spsc_produce(r, n, batch);
		break;
	case OURS_MPMC:
		ours_mpmc_produce(r, n, batch);
		break;
#if PF_HAVE_DPDK
	case RTE_SPSC:
		rte_spsc_produce(r, n, batch);
		break;
	case RTE_MPMC:
		rte_mpmc_produce(r, n, batch);
		break;
#endif
	default:
		break;
	}
}

static uint64_t consume(enum impl impl, void *r, uint64_t n, unsigned batch)
{
	switch (impl) {
	case OURS_SPSC:
		return ours_spsc_consume(r, n, batch);
	case OURS_MPMC:
		return ours_mpmc_consume(r, n, batch);
#if PF_HAVE_DPDK
	case RTE_SPSC:
		return rte_spsc_consume(r, n, batch);
	case RTE_MPMC:
		return rte_mpmc_consume(r, n, batch);
#endif
	default:
		return 0;
	}
}

/* One closed-loop run in two forked processes; returns items per second. */
static double run_once(struct ctx *c, enum impl impl, uint64_t n, unsigned batch)
{
	pid_t pid[2];
	uint64_t t0, t1;
	int status;

	if (format_ring(c, impl) != 0) {
		fprintf(stderr, "bench_ring: cannot format ring %d\n", (int)impl);
		exit(1);
	}
	/* Relaxed: reset before fork; fork orders it for the children. */
	pf_store_relaxed(&c->sync->ready, 0);
	pf_store_relaxed(&c->sync->go, 0);
	pf_store_relaxed(&c->sync->done_ns, 0);
	for (int role = 0; role < 2; role++) {
		pid[role] = fork();
		if (pid[role] < 0) {
			perror("fork");
			exit(1);
		}
		if (pid[role] != 0)
			continue;
		if (bench_pin_cpu(c->cpus[role]) != 0)
			_exit(2);
		/* Relaxed: a start barrier; the ring itself carries all the data. */
		pf_fetch_add_relaxed(&c->sync->ready, 1);
		/* Relaxed: as above. */
		while (pf_load_relaxed(&c->sync->go) == 0)
			pf_cpu_relax();
		if (role == 0) {
			produce(impl, ring_handle(c, impl), n, batch);
		} else {
			uint64_t sum = consume(impl, ring_handle(c, impl), n, batch);

			/* Relaxed: read by the parent after waitpid. */
			pf_store_relaxed(&c->sync->done_ns, bench_now_ns());
			pf_store_relaxed(&c->sync->received, sum);
		}
		_exit(0);
	}
	/* Relaxed: start barrier. */
	while (pf_load_relaxed(&c->sync->ready) != 2)
		pf_cpu_relax();
	t0 = bench_now_ns();
	/* Relaxed: start barrier. */
	pf_store_relaxed(&c->sync->go, 1);
	for (int role = 0; role < 2; role++) {
		if (waitpid(pid[role], &status, 0) != pid[role] || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			fprintf(stderr, "bench_ring: child failed (%#x)\n", status);
			exit(1);
		}
	}
	/* Relaxed: children are reaped. */
	t1 = pf_load_relaxed(&c->sync->done_ns);
	/* Relaxed: children are reaped. */
	if (pf_load_relaxed(&c->sync->received) != (n - 1) * n / 2) {
		fprintf(stderr, "bench_ring: items lost\n");
		exit(1);
	}
	return (double)n * 1e9 / (double)(t1 - t0);
}

static const char *const impl_names[IMPL_COUNT] = {
	"ring_spsc",
	"rte_ring SP/SC",
	"ring_mpmc",
	"rte_ring MP/MC",
};

int main(int argc, char **argv)
{
	const char *placement = "same-node";
	uint64_t iterations = 20000000;
	unsigned samples = 5;
	char name[64];
	struct shm_segment seg;
	struct ctx c;
	size_t ring_bytes;
	int r;

	for (int i = 1; i < argc; i++) {
		if (strncmp(argv[i], "--placement=", 12) == 0)
			placement = argv[i] + 12;
		else if (strncmp(argv[i], "--iterations=", 13) == 0)
			iterations = strtoull(argv[i] + 13, NULL, 10);
		else if (strncmp(argv[i], "--samples=", 10) == 0)
			samples = (unsigned)strtoul(argv[i] + 10, NULL, 10);
		else if (strcmp(argv[i], "--format=jsonl") != 0) {
			fprintf(stderr, "usage: bench_ring [--placement=same-node|same-core-smt|"
					"cross-node] [--iterations=N] [--samples=N]\n");
			return 2;
		}
	}
	if (samples == 0 || samples > 64 || iterations < 1000) {
		fprintf(stderr, "bench_ring: bad --samples or --iterations\n");
		return 2;
	}
	r = bench_placement_cpus(placement, c.cpus);
	if (r == -ENODEV) {
		fprintf(stderr, "bench_ring: placement %s not available here: skipped\n",
			placement);
		return 77;
	} else if (r < 0) {
		fprintf(stderr, "bench_ring: unknown placement %s\n", placement);
		return 2;
	}
	ring_bytes =
		PF_MAX_OF(ring_spsc_bytes(BENCH_RING_SLOTS), ring_mpmc_bytes(BENCH_RING_SLOTS));
#if PF_HAVE_DPDK
	ring_bytes = PF_MAX_OF(ring_bytes, (size_t)rte_ring_get_memsize_elem(8, BENCH_RING_SLOTS));
#endif
	snprintf(name, sizeof(name), "pf-bench-ring-%d", (int)getpid());
	r = shm_segment_create(name, 4096 + ring_bytes, 0600, -1, &seg);
	if (r < 0) {
		fprintf(stderr, "bench_ring: shm_segment_create: %s\n", strerror(-r));
		return 1;
	}
	(void)shm_segment_unlink(name); /* the mapping is inherited by fork */
	c.sync = seg.base;
	c.ring = (char *)seg.base + 4096;
	c.ring_bytes = ring_bytes;

	static const unsigned batches[] = {32, 1};
	for (size_t b = 0; b < PF_ARRAY_SIZE(batches); b++) {
		for (int pair = 0; pair < 2; pair++) {
			enum impl ours = pair == 0 ? OURS_SPSC : OURS_MPMC;
			enum impl base = pair == 0 ? RTE_SPSC : RTE_MPMC;
			unsigned batch = batches[b];
			uint64_t n = batch == 1 ? iterations / 4 : iterations;
			double v_ours[64], v_base[64];
			struct bench_result res = {
				.bench = "ring",
				.subject = impl_names[ours],
				.metric = "items_per_s",
				.unit = "items/s",
				.baseline = PF_HAVE_DPDK ? impl_names[base] : NULL,
				.higher_is_better = true,
				.goal = pair == 1 && batch == 1 ? 3.0 : 1.0,
				.placement = placement,
				.cpus = c.cpus,
				.cpus_count = 2,
				.iterations = n,
				.batch = batch,
				.elem_bytes = pair == 0 ? 8 : 4,
				.samples = samples,
			};

			(void)run_once(&c, ours, n / 10, batch); /* warm-up */
			for (unsigned s = 0; s < samples; s++) {
				v_ours[s] = run_once(&c, ours, n, batch);
				v_base[s] = PF_HAVE_DPDK ? run_once(&c, base, n, batch) : 0;
			}
			res.value = bench_percentile(v_ours, samples, 50);
			res.value_min = v_ours[0];
			res.value_max = v_ours[samples - 1];
			res.baseline_value = bench_percentile(v_base, samples, 50);
			bench_emit(&res);
		}
	}
	shm_segment_close(&seg);
	return 0;
}

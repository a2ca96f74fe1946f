/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_ring_impl.h: the rings under comparison behind one set of inline adapters
 * (ours and DPDK rte_ring), so that each benchmark loop is written once and every
 * implementation's fast path is still inlined into it (rte_ring is header-inline; ours
 * SPSC too; ours MPMC is out of line in the library, as shipped). Ours take the ring's
 * private view (struct ring_spsc_view, struct ring_mpmc_view), rte_ring the ring.
 */
#ifndef PF_BENCH_RING_IMPL_H
#define PF_BENCH_RING_IMPL_H

#include <stdint.h>

#include "pf_config.h"
#include "shm/ring_mpmc.h"
#include "shm/ring_spsc.h"

#if PF_HAVE_DPDK
#include <rte_ring.h>
#include <rte_ring_elem.h>
#endif

#define BENCH_RING_SLOTS 1024u /* the same slot count for every ring */
#define BENCH_BATCH_MAX 64u

static inline int ours_spsc_enq1(void *r, uint64_t v)
{
	return ring_spsc_try_enqueue(r, v);
}

static inline int ours_spsc_deq1(void *r, uint64_t *v)
{
	return ring_spsc_try_dequeue(r, v);
}

static inline unsigned ours_spsc_enqn(void *r, const uint64_t *v, unsigned n)
{
	return ring_spsc_enqueue_burst(r, v, n);
}

static inline unsigned ours_spsc_deqn(void *r, uint64_t *v, unsigned n)
{
	return ring_spsc_dequeue_burst(r, v, n);
}

static inline int ours_mpmc_enq1(void *r, uint32_t v)
{
	return ring_mpmc_try_enqueue(r, v, NULL);
}

static inline int ours_mpmc_deq1(void *r, uint32_t *v)
{
	return ring_mpmc_try_dequeue(r, v);
}

static inline unsigned ours_mpmc_enqn(void *r, const uint32_t *v, unsigned n)
{
	return ring_mpmc_enqueue_burst(r, v, n);
}

static inline unsigned ours_mpmc_deqn(void *r, uint32_t *v, unsigned n)
{
	return ring_mpmc_dequeue_burst(r, v, n);
}

#if PF_HAVE_DPDK
static inline int rte_sp_enq1(void *r, uint64_t v)
{
	return rte_ring_sp_enqueue_elem(r, &v, sizeof(v));
}

static inline int rte_sc_deq1(void *r, uint64_t *v)
{
	return rte_ring_sc_dequeue_elem(r, v, sizeof(*v));
}

static inline unsigned rte_sp_enqn(void *r, const uint64_t *v, unsigned n)
{
	return rte_ring_sp_enqueue_burst_elem(r, v, sizeof(*v), n, NULL);
}

static inline unsigned rte_sc_deqn(void *r, uint64_t *v, unsigned n)
{
	return rte_ring_sc_dequeue_burst_elem(r, v, sizeof(*v), n, NULL);
}

static inline int rte_mp_enq1(void *r, uint32_t v)
{
	return rte_ring_mp_enqueue_elem(r, &v, sizeof(v));
}

static inline int rte_mc_deq1(void *r, uint32_t *v)
{
	return rte_ring_mc_dequeue_elem(r, v, sizeof(*v));
}

static inline unsigned rte_mp_enqn(void *r, const uint32_t *v, unsigned n)
{
	return rte_ring_mp_enqueue_burst_elem(r, v, sizeof(*v), n, NULL);
}

static inline unsigned rte_mc_deqn(void *r, uint32_t *v, unsigned n)
{
	return rte_ring_mc_dequeue_burst_elem(r, v, sizeof(*v), n, NULL);
}

/* Whatever sync mode the ring was created with (MP/MC, HTS, RTS). */
static inline int rte_any_enq1(void *r, uint32_t v)
{
	return rte_ring_enqueue_elem(r, &v, sizeof(v));
}

static inline int rte_any_deq1(void *r, uint32_t *v)
{
	return rte_ring_dequeue_elem(r, v, sizeof(*v));
}

static inline unsigned rte_any_enqn(void *r, const uint32_t *v, unsigned n)
{
	return rte_ring_enqueue_burst_elem(r, v, sizeof(*v), n, NULL);
}

static inline unsigned rte_any_deqn(void *r, uint32_t *v, unsigned n)
{
	return rte_ring_dequeue_burst_elem(r, v, sizeof(*v), n, NULL);
}
#endif

#endif /* PF_BENCH_RING_IMPL_H */

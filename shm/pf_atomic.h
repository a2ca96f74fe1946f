/* SPDX-License-Identifier: MIT */
/*
 * shm/pf_atomic.h: the only file that names memory orders.
 *
 * Every synchronising access elsewhere goes through these macros, so a grep for
 * pf_*_acquire / pf_*_release / pf_*_acq_rel / pf_fence_* finds every ordering point,
 * and the lint rule (tools/lint/barrier_tags.py) checks each carries a tag that names
 * its partner. Relaxed accesses on shared data carry a comment saying why relaxed is
 * enough.
 */
#ifndef PF_ATOMIC_H
#define PF_ATOMIC_H

#include <stdatomic.h>
#include <stdint.h>

#define pf_load_relaxed(p) atomic_load_explicit((p), memory_order_relaxed)
#define pf_load_acquire(p) atomic_load_explicit((p), memory_order_acquire)
#define pf_store_relaxed(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define pf_store_release(p, v) atomic_store_explicit((p), (v), memory_order_release)

#define pf_cas_acq_rel(p, expected, desired)                                                       \
	atomic_compare_exchange_strong_explicit((p), (expected), (desired), memory_order_acq_rel,  \
						memory_order_acquire)
#define pf_cas_release(p, expected, desired)                                                       \
	atomic_compare_exchange_strong_explicit((p), (expected), (desired), memory_order_release,  \
						memory_order_relaxed)
#define pf_cas_relaxed(p, expected, desired)                                                       \
	atomic_compare_exchange_strong_explicit((p), (expected), (desired), memory_order_relaxed,  \
						memory_order_relaxed)
#define pf_cas_seq_cst(p, expected, desired)                                                       \
	atomic_compare_exchange_strong_explicit((p), (expected), (desired), memory_order_seq_cst,  \
						memory_order_seq_cst)

#define pf_fetch_add_relaxed(p, v) atomic_fetch_add_explicit((p), (v), memory_order_relaxed)
#define pf_fetch_add_acq_rel(p, v) atomic_fetch_add_explicit((p), (v), memory_order_acq_rel)
#define pf_fetch_add_release(p, v) atomic_fetch_add_explicit((p), (v), memory_order_release)
#define pf_fetch_sub_relaxed(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_relaxed)
#define pf_fetch_or_acq_rel(p, v) atomic_fetch_or_explicit((p), (v), memory_order_acq_rel)
#define pf_fetch_and_acq_rel(p, v) atomic_fetch_and_explicit((p), (v), memory_order_acq_rel)
#define pf_xchg_acq_rel(p, v) atomic_exchange_explicit((p), (v), memory_order_acq_rel)

#define pf_fence_acquire() atomic_thread_fence(memory_order_acquire)
#define pf_fence_release() atomic_thread_fence(memory_order_release)
#define pf_fence_seq_cst() atomic_thread_fence(memory_order_seq_cst)
#define pf_fetch_add_seq_cst(p, v) atomic_fetch_add_explicit((p), (v), memory_order_seq_cst)
#define pf_fetch_sub_seq_cst(p, v) atomic_fetch_sub_explicit((p), (v), memory_order_seq_cst)
#define pf_load_seq_cst(p) atomic_load_explicit((p), memory_order_seq_cst)

/* Compiler-only ordering against this thread's own death or signal handlers (the kernel
 * reads the robust list of a dying thread): no CPU fence is emitted. */
#define pf_signal_fence() atomic_signal_fence(memory_order_seq_cst)

/* Shared-memory atomics must be lock-free, hence address-free (C11 7.17.5). */
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "int atomics must be lock-free");
_Static_assert(ATOMIC_LONG_LOCK_FREE == 2, "long atomics must be lock-free");
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");
_Static_assert(sizeof(_Atomic uint64_t) == 8, "64-bit atomics must be plain words");
_Static_assert(sizeof(_Atomic uint32_t) == 4, "32-bit atomics must be plain words");

#endif /* PF_ATOMIC_H */

/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_core.h: helpers the core benchmarks (claim, handoff, recovery, checkpoint)
 * share on top of bench_common.h: fatal setup errors, shared anonymous memory for the
 * benchmark's own synchronisation, unique domain names and a start barrier. Each
 * benchmark fills its result lines itself (a file-local emit()). Benchmarks are not
 * library code: setup errors exit.
 */
#ifndef PF_BENCH_CORE_H
#define PF_BENCH_CORE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench/bench_common.h"
#include "shm/pf_atomic.h"
#include "shm/pf_compiler.h"

#define BENCH_NS_PER_S 1e9

/* Report a failed setup step (r is a negative errno) and exit. */
static inline void bench_check(int r, const char *what)
{
	if (r >= 0)
		return;
	fprintf(stderr, "%s: %s\n", what, strerror(-r));
	exit(1);
}

/* Zeroed MAP_SHARED anonymous memory: visible to the children forked after. */
static inline void *bench_shared_alloc(size_t bytes)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return p;
}

/* "pfb-<what>-<pid>": several benchmarks may run at once without sharing segments. */
static inline void bench_domain_name(char *buf, size_t bytes, const char *what)
{
	(void)snprintf(buf, bytes, "pfb-%s-%d", what, (int)getpid());
}

/* Barrier for `parties` processes; `word` starts at 0 and is used once. */
static inline void bench_barrier(_Atomic uint32_t *word, uint32_t parties)
{
	/* Relaxed: a start line only; the data the parties share is ordered by its own
	 * protocol (or by fork), not by this counter. */
	pf_fetch_add_relaxed(word, 1);
	while (pf_load_relaxed(word) < parties)
		pf_cpu_relax();
}

/* A raw shared futex, the baseline of a parked wake-up: sleep while *word == seen. */
static inline void bench_futex_wait(_Atomic uint32_t *word, uint32_t seen)
{
	(void)syscall(SYS_futex, word, FUTEX_WAIT, seen, NULL, NULL, 0);
}

static inline void bench_futex_wake(_Atomic uint32_t *word)
{
	(void)syscall(SYS_futex, word, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* Median of v[0..n) (sorts v). */
static inline double bench_median(double *v, size_t n)
{
	return bench_percentile(v, n, 50);
}

#endif /* PF_BENCH_CORE_H */

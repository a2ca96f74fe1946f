/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_migrate.h: what the parts of the migration benchmark share (bench_migrate.c:
 * placements, throughput and CPU; bench_migrate_live.c: pause and downtime of VNodes that
 * run while they move). See bench_migrate.c for what is measured and how.
 */
#ifndef PF_BENCH_MIGRATE_H
#define PF_BENCH_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#include "bench/bench_common.h"
#include "bench/bench_hosts.h"
#include "bench/bench_tcp.h"

#define MIG_MOVE_TIMEOUT_NS (60ull * 1000000000ull) /* one move, the largest included */

/* One placement's run. */
struct mig_ctx {
	const char *pflightd;
	const char *pflight;
	const char *pflightd_args; /* --pflightd-args: extra daemon options, NULL: none */
	const char *placement;     /* "loopback" or "veth" */
	const struct netns_pair *ns;
	int cpus[2]; /* host a (and the raw sender), host b (and the raw receiver) */
	struct bench_tcp_path path;
	const uint8_t *src; /* the state bytes committed, the raw loops' source too */
	size_t src_bytes;
	int failed; /* a correctness check failed: the benchmark exits 1 at the end */
};

/* Print r as a JSON line of bench "migrate" at c's placement and CPUs. */
void mig_emit(const struct mig_ctx *c, struct bench_result *r);

/* The raw TCP exchange baseline of a move's critical path over c's path: state_bytes one
 * way, 8 bytes back, rounds times; their p50 and p99 in microseconds. */
void mig_raw_exchange_us(const struct mig_ctx *c, uint32_t state_bytes, uint32_t rounds,
			 double *ret_p50_us, double *ret_p99_us);

/* bench_migrate_live.c */
void mig_pause(struct mig_ctx *c);
void mig_downtime(struct mig_ctx *c);

#endif /* PF_BENCH_MIGRATE_H */

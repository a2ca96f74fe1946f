/* SPDX-License-Identifier: MIT */
/*
 * tools/demo/host.h: the host `scripts/demo` runs, for whoever needs one: pflightd, example
 * counter workers as real processes, steady traffic to the counter VNodes, the demo's
 * churn (a worker killed with SIGKILL, one started, one drained, one started, in turn), the
 * balance of VNodes over the members, and the final check of every counter.
 *
 * The demo (live.c) shows it, the `balance` benchmark measures it (bench/bench_balance.c),
 * and an integration test keeps it from regressing (tests/integration/test_balance.c); one
 * copy of the churn means all three see the same host.
 *
 * Not a library: it prints its check line, and it forks and kills. One host per process,
 * which calls host_block_signals() first.
 */
#ifndef PF_TOOLS_DEMO_HOST_H
#define PF_TOOLS_DEMO_HOST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "pflight/pflight.h"

#define HOST_WORKERS_MAX 16u
#define HOST_CHURN_EVERY_NS (8ull * 1000000000ull) /* the demo's pace: an event this often */
#define HOST_TICK_NS 10000000L                     /* traffic is sent in 10 ms ticks */

struct host {
	/* Set before host_start(). */
	const char *daemon_path, *worker_path;
	const char *manifest; /* pflightd --manifest; NULL: its embedded default */
	char name[PF_DOMAIN_NAME_MAX + 1];
	uint32_t workers, vnodes, port; /* port 0: any free one */
	/* Kept by the host. */
	char dir[64], log[128], url[96];
	pid_t daemon;
	pid_t pids[HOST_WORKERS_MAX];
	struct pf_domain *d;
	uint64_t *sent;
	uint64_t sent_total, refused;
	uint32_t next_vnode, churn_step, kills, drains;
	uint32_t seen_version; /* membership version at the last host_settled_ns() */
	uint64_t changed_ns;   /* when the membership last changed (or churn acted) */
};

uint64_t host_now_ns(void); /* CLOCK_MONOTONIC */
void host_nap_ns(long ns);

/* Block SIGINT and SIGTERM (the caller polls them with sigpending(); the workers unblock
 * them) and make stdout line-buffered, for lines that interleave with the workers'. */
void host_block_signals(void);

/* A temp directory for logs, pflightd on domain h->name, workers - 1 workers, then the
 * VNodes (once the workers are members, so the first to join does not take them all).
 * 0, or -errno with a line on stderr; host_stop() in any case. */
int host_start(struct host *h);

/* A worker in the first free place: its index, or -EUSERS (none free), -errno. */
int host_start_worker(struct host *h);

/* Forget workers that left (drained, or killed). How many run now. */
uint32_t host_reap(struct host *h);

/* One churn event, in turn: kill -9, start, drain, start (a start whenever fewer than two
 * run). Writes what it did into what. */
void host_churn(struct host *h, char *what, size_t size);

/* Send count numbered increments, round-robin over the VNodes (a full inbox is passed
 * over: its owner is behind). */
void host_traffic(struct host *h, uint32_t count);

/* How long ago the membership last changed (a join, a leave, a death, a cordon) or churn
 * acted; call it often (every tick) so that no change goes unseen. */
uint64_t host_settled_ns(struct host *h);

/* The loop that drives the host (the demo, bench_balance, test_balance): every tick,
 * traffic at `rate` messages a second and a look at the membership (host_settled_ns());
 * a churn event every churn_ns (on_churn, with the time since the start and what it did);
 * otherwise on_sample every sample_ns, the first at first_sample_ns (with the time since
 * the start and since the membership last changed); then a tick's nap. It runs for run_ns
 * (0: no end) or until stop() returns non-zero. Callbacks may be NULL. */
struct host_loop {
	uint64_t run_ns;
	uint64_t churn_ns;
	uint64_t sample_ns;
	uint64_t first_sample_ns;
	uint32_t rate;
	void (*on_churn)(void *arg, uint64_t at_ns, const char *what);
	void (*on_sample)(void *arg, uint64_t at_ns, uint64_t settled_ns);
	int (*stop)(void *arg);
	void *arg;
};
void host_run(struct host *h, const struct host_loop *l);

/* VNodes per ACTIVE member now, from the ownership words: *ret_ratio = max / mean over all
 * h->vnodes, or HOST_UNPLACED when some VNode is held by no ACTIVE member (pending, or on a
 * member that left or died): that is no balance, however the others are spread. Returns
 * the ACTIVE members counted. */
#define HOST_UNPLACED 1e9
uint32_t host_balance(struct host *h, double *ret_ratio);

/* Stop the traffic's churn: keep two workers running, wait for every counter to catch up
 * and check it against what was sent (prints one line). 0, or -EBADMSG on a mismatch. */
int host_verify(struct host *h);

/* Kill the workers, close the domain, stop pflightd (the domain goes with it). */
void host_stop(struct host *h);

/* Remove the temp directory and what is in it (logs, audit log, sockets). */
void host_remove_dir(struct host *h);

#endif /* PF_TOOLS_DEMO_HOST_H */

/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_drain.c: time to empty a draining member.
 *
 * 10,000 VNodes with 4 KiB of state each live on one member; it is cordoned and drained
 * onto three others by pf_sched_drain_step() with `parallel` move requests outstanding.
 * Threads of this process play the members as workers would: the source commits each
 * VNode's 4 KiB state, hands it over (pf_vnode_handoff) and appends one audit record per
 * move (pf_audit_append, no fsync: the log's cost, not the disk's); the targets adopt and
 * load the checkpoint (checking it is the VNode's). The clock runs from the cordon until
 * every VNode is adopted on a target. Goal: <= 100 ms.
 *
 * Usage: bench_drain [--parallel N] [--no-audit] [--format=jsonl]  (N: 1..1024, default
 * 256; --no-audit: the same without the log, to see what the log costs)
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench/bench_common.h"
#include "bench/bench_core.h"
#include "pflight/pflight.h"
#include "shm/pf_atomic.h"

#define VNODES 10000u
#define TARGETS 3u
#define STATE_BYTES 4096u
#define SAMPLES 3
#define GOAL_MS 100.0
#define PARALLEL_DEFAULT 256u

struct run {
	struct pf_domain *d;
	struct pf_audit *log;
	_Atomic uint32_t joined;
	_Atomic uint32_t placed;  /* main -> source: every VNode was placed on it */
	_Atomic uint32_t primed;  /* source -> main: every state committed */
	_Atomic uint32_t adopted; /* by targets, after the cordon */
	_Atomic uint32_t stop;
	uint32_t source_slot;
	uint64_t moved;
};

static struct pf_vnode *held[VNODES];
static int audit_on = 1; /* --no-audit: what the log costs */

static void state_fill(unsigned char *buf, uint32_t id)
{
	memset(buf, (int)(id & 0xff), STATE_BYTES);
	memcpy(buf, &id, sizeof(id));
}

static struct pf_member *join(struct run *r)
{
	struct pf_member *m;

	bench_check(pf_member_join(r->d, NULL, &m), "pf_member_join");
	/* Relaxed: a count the main thread polls; the domain orders the membership. */
	pf_fetch_add_relaxed(&r->joined, 1);
	return m;
}

/* Take what was placed on the source and commit every state. */
static void source_prime(struct run *r, struct pf_member *m, unsigned char *buf)
{
	uint32_t n = 0;
	struct pf_vnode *v;

	/* Relaxed: a start line; the placements are ordered by the ownership CAS. */
	while (pf_load_relaxed(&r->placed) == 0)
		pf_cpu_relax();
	while (n < VNODES) {
		if (pf_vnode_adopt(m, &v) != 0)
			continue;
		held[pf_vnode_id(v)] = v;
		state_fill(buf, pf_vnode_id(v));
		bench_check(pf_checkpoint_commit(v, pf_vnode_epoch(v), buf, STATE_BYTES),
			    "pf_checkpoint_commit");
		n++;
	}
	/* Relaxed: the same start line. */
	pf_store_relaxed(&r->primed, 1);
}

/* One pass over what the source holds: commit and hand over what is asked for. */
static void source_pass(struct run *r, unsigned char *buf)
{
	char details[96];

	for (uint32_t id = 0; id < VNODES; id++) {
		uint32_t to;

		if (held[id] == NULL || pf_vnode_move_target(held[id], &to) != 1)
			continue;
		state_fill(buf, id);
		bench_check(
			pf_checkpoint_commit(held[id], pf_vnode_epoch(held[id]), buf, STATE_BYTES),
			"pf_checkpoint_commit");
		bench_check(pf_vnode_handoff(held[id]), "pf_vnode_handoff");
		held[id] = NULL;
		(void)snprintf(details, sizeof(details),
			       "{\"from\":%u,\"to\":%u,\"why\":\"drain\"}", r->source_slot, to);
		if (audit_on)
			bench_check(pf_audit_append(r->log, "move", "bench", details, id, NULL),
				    "pf_audit_append");
		r->moved++;
	}
}

static void *source_main(void *arg)
{
	struct run *r = arg;
	struct pf_member *m = join(r);
	unsigned char *buf = malloc(STATE_BYTES);

	if (buf == NULL)
		bench_check(-ENOMEM, "malloc");
	r->source_slot = (uint32_t)pf_member_id(m);
	source_prime(r, m, buf);
	/* Relaxed: a stop flag; nothing is published by it. */
	while (pf_load_relaxed(&r->stop) == 0)
		source_pass(r, buf);
	(void)pf_member_leave(m);
	free(buf);
	return NULL;
}

static void *target_main(void *arg)
{
	struct run *r = arg;
	struct pf_member *m = join(r);
	unsigned char *buf = malloc(STATE_BYTES);
	struct pf_vnode *v;
	size_t len;

	if (buf == NULL)
		bench_check(-ENOMEM, "malloc");
	/* Relaxed: a stop flag. */
	while (pf_load_relaxed(&r->stop) == 0) {
		uint32_t id;

		if (pf_vnode_adopt(m, &v) != 0) {
			(void)sched_yield(); /* 2 cores, 5 threads: give the source its turn */
			continue;
		}
		bench_check(pf_checkpoint_load(v, buf, STATE_BYTES, &len), "pf_checkpoint_load");
		memcpy(&id, buf, sizeof(id));
		if (len != STATE_BYTES || id != pf_vnode_id(v))
			bench_check(-EBADMSG, "checkpoint of a moved VNode");
		/* Relaxed: a count the main thread polls. */
		pf_fetch_add_relaxed(&r->adopted, 1);
	}
	(void)pf_member_leave(m); /* releases what it adopted */
	free(buf);
	return NULL;
}

static void domain_make(struct run *r, const char *name)
{
	struct pf_domain_opts o;

	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = 8;
	o.vnodes_max = VNODES;
	o.inbox_slots = 2;
	o.msg_bytes_max = 16;
	o.state_bytes_max = STATE_BYTES;
	o.assign_slots = 16384;
	o.slot_grace_ns = 0;
	o.heartbeat_interval_ns = 1000000000u; /* nobody beats here: no hang verdicts */
	o.heartbeat_misses = 60;
	bench_check(pf_domain_create(name, &o, &r->d), "pf_domain_create");
}

/* Drain until the source is empty and the targets adopted everything: ms. */
static double drain(struct run *r, struct pf_sched *s, uint32_t parallel)
{
	struct pf_drain_report rep = {.size = sizeof(rep)};
	struct pf_drain_opts o;
	uint64_t t0, t1;

	pf_drain_opts_init(&o);
	o.parallel = parallel;
	t0 = bench_now_ns();
	bench_check(pf_member_cordon(r->d, r->source_slot, 0), "pf_member_cordon");
	while (!rep.done) {
		int n = pf_sched_drain_step(s, r->source_slot, &o, &rep);

		bench_check(n, "pf_sched_drain_step");
		if (n == 0)
			(void)sched_yield(); /* nothing new to ask: let the owners act */
	}
	/* Relaxed: a count; each adoption is ordered by its own ownership CAS. */
	while (pf_load_relaxed(&r->adopted) < VNODES)
		pf_cpu_relax();
	t1 = bench_now_ns();
	if (rep.moved != VNODES || rep.released != 0)
		bench_check(-EPROTO, "drain report");
	return (double)(t1 - t0) / 1e6;
}

static double once(uint32_t parallel, const char *log_path)
{
	struct run *r = calloc(1, sizeof(*r));
	pthread_t src, tgt[TARGETS];
	struct pf_audit_opts ao;
	struct pf_sched *s;
	char name[64];
	double ms;

	if (r == NULL)
		bench_check(-ENOMEM, "calloc");
	bench_domain_name(name, sizeof(name), "drain");
	domain_make(r, name);
	pf_audit_opts_init(&ao);
	ao.host = "bench-host";
	ao.fsync_policy = PF_AUDIT_FSYNC_BATCH;
	ao.fsync_interval_ms = 3600u * 1000u;
	(void)unlink(log_path);
	bench_check(pf_audit_open(log_path, &ao, &r->log, NULL), "pf_audit_open");
	bench_check(pthread_create(&src, NULL, source_main, r) == 0 ? 0 : -EAGAIN, "thread");
	/* Relaxed: polling a count. */
	while (pf_load_relaxed(&r->joined) < 1)
		pf_cpu_relax();
	bench_check(pf_vnode_define_range(r->d, 0, VNODES, NULL), "pf_vnode_define_range");
	bench_check(pf_sched_create(r->d, NULL, &s), "pf_sched_create");
	for (uint32_t placed = 0; placed < VNODES;)
		placed += (uint32_t)pf_sched_run(s, VNODES);
	/* Relaxed: a start line (see source_prime()). */
	pf_store_relaxed(&r->placed, 1);
	while (pf_load_relaxed(&r->primed) == 0)
		pf_cpu_relax();
	for (uint32_t i = 0; i < TARGETS; i++)
		bench_check(pthread_create(&tgt[i], NULL, target_main, r) == 0 ? 0 : -EAGAIN,
			    "thread");
	/* Relaxed: polling a count. */
	while (pf_load_relaxed(&r->joined) < 1 + TARGETS)
		pf_cpu_relax();
	ms = drain(r, s, parallel);
	/* Relaxed: the stop flag. */
	pf_store_relaxed(&r->stop, 1);
	(void)pthread_join(src, NULL);
	for (uint32_t i = 0; i < TARGETS; i++)
		(void)pthread_join(tgt[i], NULL);
	pf_sched_destroy(s);
	bench_check(pf_audit_close(r->log), "pf_audit_close");
	bench_check(pf_domain_destroy(r->d), "pf_domain_destroy");
	free(r);
	return ms;
}

int main(int argc, char **argv)
{
	const char *tmp = getenv("TMPDIR");
	uint32_t parallel = PARALLEL_DEFAULT;
	char log_path[128];
	double v[SAMPLES];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--parallel") == 0 && i + 1 < argc)
			parallel = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--no-audit") == 0)
			audit_on = 0;
		else if (strncmp(argv[i], "--format=", 9) != 0)
			return fprintf(stderr, "usage: bench_drain [--parallel N] [--no-audit]\n"),
			       2;
	}
	(void)snprintf(log_path, sizeof(log_path), "%s/pfb-drain-%d.audit.jsonl",
		       tmp ? tmp : "/tmp", (int)getpid());
	for (int k = 0; k < SAMPLES; k++)
		v[k] = once(parallel, log_path);
	(void)unlink(log_path);
	{
		struct bench_result r = {
			.bench = "drain",
			.subject = "pf_sched_drain_step",
			.metric = "time_to_empty_ms",
			.unit = "ms",
			.higher_is_better = false,
			.goal = GOAL_MS,
			.goal_on_value = true,
			.placement = "same-process",
			.iterations = VNODES,
			.batch = parallel,
			.elem_bytes = STATE_BYTES,
			.samples = SAMPLES,
		};

		r.value = bench_median(v, SAMPLES);
		r.value_min = v[0];
		r.value_max = v[SAMPLES - 1];
		bench_emit(&r);
	}
	return 0;
}

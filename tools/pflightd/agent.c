/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/agent.c: the agent runner and its idle strategy (Aeron's agent runner,
 * SPDK's reactor).
 *
 * Why an idle strategy: the daemon shares two cores with the workers it supervises.
 * Spinning finds new work within nanoseconds but steals a core; parking costs a wake-up
 * (about 36 us here) but leaves the core to the workers. So a runner spins for a few idle
 * passes, yields for a few more, then parks, and returns to spinning as soon as a pass
 * finds work.
 *
 * Stopping: runner_stop() sets `stop` and joins the threads; a parked thread notices
 * within one park_ns (bounded, so stopping is bounded). `stop` and `error` are flags,
 * not publications: nothing is read through them, and pthread_join() orders the rest.
 *
 * Liveness: each thread counts its passes (`passes`, bumped after every pass, the park
 * included) and says which agent it is in (`current`). Every pass ends within one park_ns
 * of idling, so a thread whose count has not moved between two looks a watchdog period
 * apart is stuck inside that agent: a call that does not return, a deadlock.
 * runner_stalled() is that look; the daemon's main thread asks it before each WATCHDOG=1
 * (notify.h), so that systemd's watchdog covers the agents and not the main loop alone.
 * Both are statistics: nothing is read through them.
 */
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/pflightd/agent.h"
#include "tools/pflightd/log.h"

#define IDLE_SPINS_DEFAULT 100
#define IDLE_YIELDS_DEFAULT 20
#define IDLE_PARK_NS_DEFAULT 1000000u /* 1 ms: the daemon's own reaction time when idle */

struct runner;

struct runner_thread {
	struct runner *runner;
	uint32_t first; /* agents[first .. first + count) */
	uint32_t count;
	uint32_t idle_passes;
	_Atomic uint64_t passes;  /* bumped after each pass; read by runner_stalled() */
	_Atomic uint32_t current; /* the agent it is in (or parks for): what a stall names */
	uint64_t passes_seen;     /* runner_stalled()'s last look (its caller's thread only) */
	pthread_t tid;
};

struct runner {
	enum runner_mode mode;
	struct idle_strategy idle;
	struct agent agents[RUNNER_AGENTS_MAX];
	uint32_t count;
	struct runner_thread threads[RUNNER_AGENTS_MAX];
	uint32_t nthreads; /* started */
	uint32_t invoker_idle;
	uint32_t looked; /* runner_stalled() has taken note of the counts once */
	_Atomic uint32_t stop;
	_Atomic int32_t error;
	/* runner_kick(): bumped by another thread that gave an agent work; a parked thread
	 * sleeps on it (a futex), so the kick ends the park at once. */
	_Atomic uint32_t bell;
};

static const char *const mode_names[] = {"shared", "dedicated", "invoker"};

int runner_mode_parse(const char *name, enum runner_mode *ret_mode)
{
	for (unsigned i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++) {
		if (strcmp(name, mode_names[i]) == 0) {
			*ret_mode = (enum runner_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *runner_mode_name(enum runner_mode mode)
{
	return (unsigned)mode < 3 ? mode_names[mode] : "unknown";
}

void idle_strategy_default(struct idle_strategy *idle)
{
	idle->spins = IDLE_SPINS_DEFAULT;
	idle->yields = IDLE_YIELDS_DEFAULT;
	idle->park_ns = IDLE_PARK_NS_DEFAULT;
}

int runner_create(enum runner_mode mode, const struct idle_strategy *idle,
		  const struct agent *agents, uint32_t count, struct runner **ret_runner)
{
	struct runner *r;

	if (idle == NULL || agents == NULL || count == 0 || count > RUNNER_AGENTS_MAX ||
	    ret_runner == NULL || (unsigned)mode > RUNNER_INVOKER)
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++)
		if (agents[i].do_work == NULL)
			return -EINVAL;
	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return -ENOMEM;
	r->mode = mode;
	r->idle = *idle;
	memcpy(r->agents, agents, count * sizeof(*agents));
	r->count = count;
	*ret_runner = r;
	return 0;
}

/* Advance the idle count of a pass that did `work`; the nanoseconds to park (0: none). */
static uint64_t idle_advance(const struct idle_strategy *idle, uint32_t *passes, int work)
{
	if (work > 0) {
		*passes = 0;
		return 0;
	}
	if (*passes < idle->spins) {
		(*passes)++;
		return 0;
	}
	if (*passes < idle->spins + idle->yields) {
		(*passes)++;
		(void)sched_yield();
		return 0;
	}
	return idle->park_ns;
}

static void park(struct runner_thread *t, uint64_t ns, uint32_t bell)
{
	struct agent *a = &t->runner->agents[t->first];
	struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
			      .tv_nsec = (long)(ns % 1000000000u)};

	if (t->count == 1 && a->park != NULL) {
		(void)a->park(a->arg, ns);
		return;
	}
	/* Sleeps only while the bell still has the value read before the pass: a kick made
	 * during the pass returns at once. */
	(void)syscall(SYS_futex, &t->runner->bell, FUTEX_WAIT_PRIVATE, bell, &ts, NULL, 0);
}

void runner_kick(struct runner *r)
{
	if (r == NULL)
		return;
	/* Relaxed: a wake-up, not a publication: what the woken agent finds is in its own
	 * queues and the domain, ordered by them; the futex compares the value itself. */
	pf_fetch_add_relaxed(&r->bell, 1);
	(void)syscall(SYS_futex, &r->bell, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
}

static void *runner_main(void *arg)
{
	struct runner_thread *t = arg;
	struct runner *r = t->runner;

	/* Relaxed: a stop request; pthread_join() orders everything else. */
	while (pf_load_relaxed(&r->stop) == 0) {
		/* Relaxed: read before the pass, for park()'s comparison (runner_kick()). */
		uint32_t bell = pf_load_relaxed(&r->bell);
		int work = 0;
		uint64_t ns;

		for (uint32_t i = t->first; i < t->first + t->count; i++) {
			int n;

			/* Relaxed: a name for the log, read by runner_stalled(). */
			pf_store_relaxed(&t->current, i);
			n = r->agents[i].do_work(r->agents[i].arg);

			if (n < 0) {
				log_msg(LOG_ERROR, "agent %s: %s; stopping", r->agents[i].name,
					strerror(-n));
				/* Relaxed: a flag the main thread polls; no data hangs on it. */
				pf_store_relaxed(&r->error, n);
				return NULL;
			}
			work += n;
		}
		ns = idle_advance(&r->idle, &t->idle_passes, work);
		if (ns > 0) {
			/* Relaxed: as above; a park hook is its first agent's. */
			pf_store_relaxed(&t->current, t->first);
			park(t, ns, bell);
		}
		/* Relaxed: a statistic another thread compares with its last look; nothing is
		 * read through it. */
		pf_fetch_add_relaxed(&t->passes, 1);
	}
	return NULL;
}

int runner_start(struct runner *r)
{
	uint32_t n;

	if (r == NULL)
		return -EINVAL;
	if (r->mode == RUNNER_INVOKER)
		return 0;
	n = r->mode == RUNNER_SHARED ? 1 : r->count;
	for (uint32_t i = 0; i < n; i++) {
		struct runner_thread *t = &r->threads[i];

		t->runner = r;
		t->first = r->mode == RUNNER_SHARED ? 0 : i;
		t->count = r->mode == RUNNER_SHARED ? r->count : 1;
		if (pthread_create(&t->tid, NULL, runner_main, t) != 0) {
			runner_stop(r);
			return -EAGAIN;
		}
		r->nthreads++;
	}
	return 0;
}

int runner_invoke(struct runner *r)
{
	int work = 0;

	for (uint32_t i = 0; i < r->count; i++) {
		int n = r->agents[i].do_work(r->agents[i].arg);

		if (n < 0) {
			log_msg(LOG_ERROR, "agent %s: %s", r->agents[i].name, strerror(-n));
			return n;
		}
		work += n;
	}
	return work;
}

uint64_t runner_idle_step(struct runner *r, int work)
{
	return idle_advance(&r->idle, &r->invoker_idle, work);
}

int runner_error(struct runner *r)
{
	/* Relaxed: a flag; see runner_main(). */
	return pf_load_relaxed(&r->error);
}

const char *runner_stalled(struct runner *r)
{
	const char *stalled = NULL;

	if (r == NULL)
		return NULL;
	for (uint32_t i = 0; i < r->nthreads; i++) {
		struct runner_thread *t = &r->threads[i];
		/* Relaxed: see runner_main(); a count, compared with the last one we read. */
		uint64_t passes = pf_load_relaxed(&t->passes);

		/* Relaxed: a name for the log; the thread is stuck, it does not change. */
		if (r->looked && passes == t->passes_seen && stalled == NULL)
			stalled = r->agents[pf_load_relaxed(&t->current)].name;
		t->passes_seen = passes;
	}
	r->looked = 1; /* the first look only takes note */
	return stalled;
}

void runner_stop(struct runner *r)
{
	if (r == NULL)
		return;
	/* Relaxed: a stop request; pthread_join() below orders everything else. */
	pf_store_relaxed(&r->stop, 1);
	for (uint32_t i = 0; i < r->nthreads; i++)
		(void)pthread_join(r->threads[i].tid, NULL);
	r->nthreads = 0;
}

void runner_destroy(struct runner *r)
{
	runner_stop(r);
	free(r);
}

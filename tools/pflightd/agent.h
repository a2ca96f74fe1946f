/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/agent.h: agents and the runner that drives them (STYLE 10.8).
 *
 * An agent is a struct with do_work(), which does a bounded amount of work without
 * blocking and returns how much it did (0: nothing to do, a negative errno: a fatal
 * error that stops the runner). The runner applies an idle strategy when a pass found
 * nothing to do: spin a number of passes, then sched_yield() a number of passes, then
 * park for park_ns (nanosleep, or the agent's own park hook in dedicated mode, so the
 * conductor can sleep on the members' futexes instead).
 *
 * Threading modes:
 *   RUNNER_SHARED     one thread runs every agent, round-robin;
 *   RUNNER_DEDICATED  one thread per agent;
 *   RUNNER_INVOKER    no thread: the caller steps the agents with runner_invoke().
 */
#ifndef PFLIGHTD_AGENT_H
#define PFLIGHTD_AGENT_H

#include <pthread.h>
#include <stdint.h>

#include "shm/pf_atomic.h"

#define RUNNER_AGENTS_MAX 8 /* the daemon has three; room to grow without a reallocation */

struct agent {
	const char *name;
	int (*do_work)(void *arg);
	/* Optional: sleep at most ns or until there is work (dedicated mode only, where the
	 * thread is the agent's alone). Returns 0 or a negative errno (ignored). */
	int (*park)(void *arg, uint64_t ns);
	void *arg;
};

enum runner_mode {
	RUNNER_SHARED = 0,
	RUNNER_DEDICATED = 1,
	RUNNER_INVOKER = 2,
};

struct idle_strategy {
	uint32_t spins;   /* idle passes that only spin */
	uint32_t yields;  /* then idle passes that sched_yield() */
	uint64_t park_ns; /* then each idle pass parks this long */
};

struct runner;

/* Parse "shared", "dedicated" or "invoker". 0 or -EINVAL. */
int runner_mode_parse(const char *name, enum runner_mode *ret_mode);
const char *runner_mode_name(enum runner_mode mode);

/* The default strategy: spin briefly (waking a parked thread costs ~36 us here), yield
 * a little, then park 1 ms. */
void idle_strategy_default(struct idle_strategy *idle);

/* Create a runner over agents[0..count) (copied). Nothing runs yet. 0, -EINVAL, -ENOMEM. */
int runner_create(enum runner_mode mode, const struct idle_strategy *idle,
		  const struct agent *agents, uint32_t count, struct runner **ret_runner);

/* Start the threads (shared, dedicated); nothing for invoker. 0, or -EAGAIN (thread
 * creation failed; the threads already started were stopped). */
int runner_start(struct runner *runner);

/* End the park of the runner's threads now (shared and dedicated modes without a park
 * hook): another thread just gave one of its agents work that should not wait for the end
 * of a park (a VNode that became placeable). Any thread; NULL is ignored. */
void runner_kick(struct runner *runner);

/* Invoker mode: one pass over every agent. Returns the summed work count, or the first
 * negative errno an agent returned. Caller's thread only. */
int runner_invoke(struct runner *runner);

/* Idle step for an invoker: apply the strategy to a pass that did `work`. Returns the
 * nanoseconds the caller should park now (0: go on at once). */
uint64_t runner_idle_step(struct runner *runner, int work);

/* A fatal error an agent returned from a thread (0: none). Any thread. */
int runner_error(struct runner *runner);

/* Whether every thread made a pass since the last call: NULL when each did (or when there
 * is no thread: invoker mode, a runner not started, NULL; and at the first call, which only
 * takes note), else the name of the agent a thread that did not is stuck in. Call it from one
 * thread, no more often than the longest pass (a park included) may take: the daemon's
 * main thread before each WATCHDOG=1. */
const char *runner_stalled(struct runner *runner);

/* Ask the threads to stop and wait for them. Idempotent. */
void runner_stop(struct runner *runner);

/* Stop and free. Accepts NULL. */
void runner_destroy(struct runner *runner);

#endif /* PFLIGHTD_AGENT_H */

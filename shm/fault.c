/* SPDX-License-Identifier: MIT */
/*
 * shm/fault.c: the fault-point registry behind shm/fault.h.
 *
 * State is per process and the counters are atomics, so threads of a stress test can
 * hit points concurrently. Points are hit on hot paths only in fault-injection builds.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "shm/fault.h"
#include "shm/pf_atomic.h"

static const char *const point_names[FAULT_POINT_COUNT] = {
#define PF_FAULT_NAME(id, name) [FAULT_##id] = name,
	PF_FAULT_POINTS(PF_FAULT_NAME)
#undef PF_FAULT_NAME
};

struct fault_state {
	_Atomic uint64_t hits;
	_Atomic uint64_t nth;
	_Atomic uint32_t mode;
	fault_hook_fn hook; /* set by a test before the threads that hit the point start */
	void *hook_arg;
};

static struct fault_state points[FAULT_POINT_COUNT];
static _Atomic uint32_t env_read;

int fault_point_by_name(const char *name, enum fault_point *ret_point)
{
	for (int i = 0; i < FAULT_POINT_COUNT; i++) {
		if (strcmp(point_names[i], name) == 0) {
			*ret_point = (enum fault_point)i;
			return 0;
		}
	}
	return -ENOENT;
}

static void read_env(void)
{
	char spec[128], *colon, *colon2, *end;
	const char *env;
	enum fault_point p;
	enum fault_mode mode = FAULT_MODE_KILL;
	unsigned long long nth;
	uint32_t expected = 0;

	/* Relaxed: a once-flag; a second reader parsing the same string is harmless. */
	if (pf_load_relaxed(&env_read) != 0 || !pf_cas_relaxed(&env_read, &expected, 1))
		return;
	env = getenv("PF_FAULT");
	if (env == NULL || strlen(env) >= sizeof(spec))
		return;
	memcpy(spec, env, strlen(env) + 1);
	colon = strchr(spec, ':');
	if (colon == NULL)
		return;
	*colon = '\0';
	colon2 = strchr(colon + 1, ':');
	if (colon2 != NULL) {
		*colon2 = '\0';
		if (strcmp(colon2 + 1, "once") == 0)
			mode = FAULT_MODE_FAIL_ONCE;
		else if (strcmp(colon2 + 1, "from") == 0)
			mode = FAULT_MODE_FAIL_FROM;
		else if (strcmp(colon2 + 1, "stop") == 0)
			mode = FAULT_MODE_STOP;
		else if (strcmp(colon2 + 1, "hang") == 0)
			mode = FAULT_MODE_HANG;
	}
	nth = strtoull(colon + 1, &end, 10);
	if (*end != '\0' || nth == 0 || fault_point_by_name(spec, &p) < 0)
		return;
	fault_arm(p, nth, mode);
}

void fault_arm(enum fault_point point, uint64_t nth, enum fault_mode mode)
{
	/* Relaxed: tests arm before starting the threads that hit the point. */
	pf_store_relaxed(&points[point].hits, 0);
	pf_store_relaxed(&points[point].nth, nth);
	pf_store_relaxed(&points[point].mode, (uint32_t)mode);
}

void fault_set_hook(enum fault_point point, fault_hook_fn fn, void *arg)
{
	points[point].hook = fn;
	points[point].hook_arg = arg;
}

void fault_disarm_all(void)
{
	for (int i = 0; i < FAULT_POINT_COUNT; i++) {
		fault_arm((enum fault_point)i, 0, FAULT_MODE_OFF);
		fault_set_hook((enum fault_point)i, NULL, NULL);
	}
}

uint64_t fault_hits(enum fault_point point)
{
	/* Relaxed: statistic, no ordering. */
	return pf_load_relaxed(&points[point].hits);
}

static uint64_t count_hit(enum fault_point point, enum fault_mode *ret_mode, uint64_t *ret_nth)
{
	read_env();
	/* Relaxed: a counter; each hit gets a distinct number, nothing else is published. */
	*ret_mode = (enum fault_mode)pf_load_relaxed(&points[point].mode);
	*ret_nth = pf_load_relaxed(&points[point].nth);
	return pf_fetch_add_relaxed(&points[point].hits, 1) + 1;
}

/* The modes that act on the n-th hit itself: SIGKILL, SIGSTOP, or this thread blocked for
 * good (pause() returns only after a signal handler ran: wait again). */
static void signal_hit(enum fault_mode mode, uint64_t n, uint64_t nth)
{
	if (mode == FAULT_MODE_KILL && n == nth)
		(void)raise(SIGKILL);
	if (mode == FAULT_MODE_STOP && n == nth)
		(void)raise(SIGSTOP);
	if (mode == FAULT_MODE_HANG && n == nth)
		for (;;) /* intentionally unbounded: the point of the mode */
			(void)pause();
}

void fault_hit(enum fault_point point)
{
	enum fault_mode mode;
	uint64_t nth, n = count_hit(point, &mode, &nth);

	signal_hit(mode, n, nth);
	if (points[point].hook != NULL)
		points[point].hook(points[point].hook_arg, point);
}

bool fault_should_fail(enum fault_point point)
{
	enum fault_mode mode;
	uint64_t nth, n = count_hit(point, &mode, &nth);

	signal_hit(mode, n, nth);
	if (mode == FAULT_MODE_FAIL_ONCE)
		return n == nth;
	if (mode == FAULT_MODE_FAIL_FROM)
		return n >= nth;
	return false;
}

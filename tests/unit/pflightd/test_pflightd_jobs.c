/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/pflightd/test_pflightd_jobs.c
 * Goal: the REST API's job runner (tools/pflightd/jobs.c) keeps its bounds and its states.
 * One job runs at a time, the rest wait in order with their position, one more than
 * JOBS_QUEUED_MAX waiting is refused; a job's progress and result are what it gave; a
 * queued job cancelled never runs, a running one stops at its next check and is
 * cancelled (with the reason), a job that fails says why; finished jobs are forgotten
 * oldest first once JOBS_KEPT_MAX are known; destroying the runner stops the running job
 * through its check and frees every argument, without waiting for the job's own end.
 * Method: jobs are small functions that wait on flags the test sets (bounded waits).
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "tools/pflightd/jobs.h"

#define WAIT_NS (10ull * 1000000000ull)

struct probe {
	_Atomic int release; /* the job may finish */
	_Atomic int ran;     /* it started */
	_Atomic int saw_cancel;
	_Atomic int freed;
	int fail; /* fail instead of finishing */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Wait until the job's state is `state` (bounded). */
static void wait_state(struct jobs *js, uint32_t id, uint32_t state)
{
	uint64_t deadline = now_ns() + WAIT_NS;
	struct job_view v;

	do {
		assert_int_equal(jobs_view(js, id, 0, &v), 0);
		if (v.state == state)
			return;
		(void)usleep(1000);
	} while (now_ns() < deadline);
	fail_msg("job %u: state %u, want %u", id, v.state, state);
}

/* Runs until released or cancelled; counts a progress step on each look. */
static int probe_run(struct job_ctx *ctx, void *arg, char **ret_result, size_t *ret_len)
{
	struct probe *p = arg;
	uint64_t deadline = now_ns() + WAIT_NS, step = 0;

	p->ran = 1;
	while (!p->release && now_ns() < deadline) {
		if (job_check(ctx) < 0) {
			p->saw_cancel = 1;
			return -ECANCELED;
		}
		step++;
		job_progress(ctx, &step, 1);
		(void)usleep(500);
	}
	if (p->fail) {
		job_fail(ctx, "probe_failed", "probe %u failed as asked", job_id(ctx));
		return -EIO;
	}
	*ret_result = strdup("{\"ok\":true}");
	*ret_len = strlen(*ret_result);
	return 0;
}

static void probe_free(void *arg)
{
	struct probe *p = arg;

	p->freed++;
}

static void test_jobs_queue_order_and_bound(void **state)
{
	struct probe p[JOBS_QUEUED_MAX + 2];
	uint32_t id[JOBS_QUEUED_MAX + 2], extra = 0;
	struct job_view v;
	struct jobs *js;

	(void)state;
	memset(p, 0, sizeof(p));
	assert_int_equal(jobs_create(&js), 0);
	assert_int_equal(jobs_submit(js, 7, probe_run, &p[0], probe_free, &id[0]), 0);
	wait_state(js, id[0], JOB_RUNNING);
	for (uint32_t i = 1; i <= JOBS_QUEUED_MAX; i++) {
		assert_int_equal(jobs_submit(js, 7, probe_run, &p[i], probe_free, &id[i]), 0);
		assert_int_equal(id[i], id[i - 1] + 1);
	}
	assert_int_equal(jobs_submit(js, 7, probe_run, &p[JOBS_QUEUED_MAX + 1], probe_free, &extra),
			 -EAGAIN);
	assert_int_equal(p[JOBS_QUEUED_MAX + 1].freed, 0); /* refused: still the caller's */
	for (uint32_t i = 1; i <= JOBS_QUEUED_MAX; i++) {
		assert_int_equal(jobs_view(js, id[i], 0, &v), 0);
		assert_int_equal(v.state, JOB_QUEUED);
		assert_int_equal(v.position, i - 1);
	}
	assert_int_equal(jobs_find_active(js, 7, &extra), 0);
	assert_int_equal(jobs_find_active(js, 8, &extra), -ENOENT);
	/* The second is cancelled before it runs: it never will; the third moves up. */
	assert_int_equal(jobs_cancel(js, id[1], "not wanted"), 0);
	assert_int_equal(jobs_view(js, id[1], 0, &v), 0);
	assert_int_equal(v.state, JOB_CANCELLED);
	assert_string_equal(v.message, "not wanted");
	assert_int_equal(jobs_cancel(js, id[1], "again"), -EALREADY);
	assert_int_equal(jobs_view(js, id[2], 0, &v), 0);
	assert_int_equal(v.position, 0);
	for (uint32_t i = 0; i <= JOBS_QUEUED_MAX; i++)
		p[i].release = 1;
	for (uint32_t i = 0; i <= JOBS_QUEUED_MAX; i++)
		if (i != 1)
			wait_state(js, id[i], JOB_DONE);
	assert_int_equal(p[1].ran, 0);
	assert_int_equal(jobs_view(js, id[0], 1, &v), 0);
	assert_string_equal(v.result, "{\"ok\":true}");
	assert_true(v.started_ns >= v.queued_ns && v.ended_ns >= v.started_ns);
	assert_true(v.counters[0] >= 1);
	free(v.result);
	assert_int_equal(jobs_find_active(js, 7, &extra), -ENOENT);
	jobs_destroy(js, "done");
	for (uint32_t i = 0; i <= JOBS_QUEUED_MAX; i++)
		assert_int_equal(p[i].freed, 1);
}

static void test_jobs_cancel_running_and_fail(void **state)
{
	struct probe a = {0}, b = {.fail = 1, .release = 1};
	struct job_view v;
	struct jobs *js;
	uint32_t ia, ib;

	(void)state;
	assert_int_equal(jobs_create(&js), 0);
	assert_int_equal(jobs_submit(js, 1, probe_run, &a, probe_free, &ia), 0);
	wait_state(js, ia, JOB_RUNNING);
	assert_int_equal(jobs_cancel(js, ia, "cancelled by a client"), 0);
	wait_state(js, ia, JOB_CANCELLED);
	assert_int_equal(a.saw_cancel, 1);
	assert_int_equal(jobs_view(js, ia, 1, &v), 0);
	assert_string_equal(v.code, "cancelled");
	assert_string_equal(v.message, "cancelled by a client");
	assert_null(v.result);
	assert_int_equal(jobs_submit(js, 1, probe_run, &b, probe_free, &ib), 0);
	wait_state(js, ib, JOB_FAILED);
	assert_int_equal(jobs_view(js, ib, 1, &v), 0);
	assert_string_equal(v.code, "probe_failed");
	assert_non_null(strstr(v.message, "failed as asked"));
	assert_int_equal(jobs_view(js, 999, 0, &v), -ENOENT);
	assert_int_equal(jobs_cancel(js, 999, "x"), -ENOENT);
	jobs_destroy(js, "done");
	assert_int_equal(a.freed + b.freed, 2);
}

static void test_jobs_forget_oldest_finished(void **state)
{
	struct probe p[JOBS_KEPT_MAX + 3];
	uint32_t id[JOBS_KEPT_MAX + 3];
	struct job_view v;
	struct jobs *js;

	(void)state;
	memset(p, 0, sizeof(p));
	assert_int_equal(jobs_create(&js), 0);
	for (uint32_t i = 0; i < JOBS_KEPT_MAX + 3; i++) {
		p[i].release = 1;
		assert_int_equal(jobs_submit(js, 1, probe_run, &p[i], probe_free, &id[i]), 0);
		wait_state(js, id[i], JOB_DONE);
	}
	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(jobs_view(js, id[i], 0, &v), -ENOENT);
		assert_int_equal(p[i].freed, 1);
	}
	for (uint32_t i = 3; i < JOBS_KEPT_MAX + 3; i++)
		assert_int_equal(jobs_view(js, id[i], 0, &v), 0);
	jobs_destroy(js, "done");
}

static void test_jobs_destroy_stops_the_running_job(void **state)
{
	struct probe run = {0}, queued = {0};
	uint64_t t0;
	struct jobs *js;
	uint32_t a, b;

	(void)state;
	assert_int_equal(jobs_create(&js), 0);
	assert_int_equal(jobs_submit(js, 1, probe_run, &run, probe_free, &a), 0);
	assert_int_equal(jobs_submit(js, 1, probe_run, &queued, probe_free, &b), 0);
	wait_state(js, a, JOB_RUNNING);
	t0 = now_ns();
	jobs_destroy(js, "pflightd is stopping");
	assert_true(now_ns() - t0 < WAIT_NS / 2); /* the job's check, not its end */
	assert_int_equal(run.saw_cancel, 1);
	assert_int_equal(queued.ran, 0);
	assert_int_equal(run.freed + queued.freed, 2);
	jobs_destroy(NULL, "nothing");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jobs_queue_order_and_bound),
		cmocka_unit_test(test_jobs_cancel_running_and_fail),
		cmocka_unit_test(test_jobs_forget_oldest_finished),
		cmocka_unit_test(test_jobs_destroy_stops_the_running_job),
	};

	return cmocka_run_group_tests_name("pflightd_jobs", tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/jobs.h: long requests of the REST API (a simulation, a verification of the
 * audit log), run off its thread as jobs a client follows by id (jobs.c says how).
 *
 * The API thread submits a job (a function and its argument) and answers at once with the
 * job's id; one worker thread runs the jobs one at a time, oldest first; a job tells how far
 * it is (job_progress) and looks whether it should stop (job_check) as it goes. Any thread
 * may look at a job (jobs_view) or cancel it (jobs_cancel); jobs_destroy() cancels every
 * job and waits for the worker, so the daemon's stop waits one check interval of the
 * running job, not the job.
 */
#ifndef PFLIGHTD_JOBS_H
#define PFLIGHTD_JOBS_H

#include <stddef.h>
#include <stdint.h>

#include "shm/pf_compiler.h"

/* One worker: a job is seconds of CPU (a simulation) or of reading (a verification), and
 * the daemon shares its cores with the workers it supervises; two at once would only
 * halve each one's speed. */
#define JOBS_WORKERS 1u
#define JOBS_QUEUED_MAX 4u /* jobs waiting for the worker; more are refused (-EAGAIN) */
/* Jobs known at once, finished ones included (their results are what GET shows): the
 * oldest finished one is forgotten to make room, and any finished one after JOBS_KEEP_NS.
 * More than the worker's job and the queue, so a new job always finds room. */
#define JOBS_KEPT_MAX 16u
#define JOBS_KEEP_NS (600ull * 1000000000ull)
#define JOBS_COUNTERS 4u /* progress counters of a job, their meaning its kind's */
#define JOB_CODE_MAX 32u
#define JOB_MESSAGE_MAX 256u

_Static_assert(JOBS_KEPT_MAX > JOBS_QUEUED_MAX + JOBS_WORKERS, "a new job must find room");

enum job_state {
	JOB_QUEUED = 0,
	JOB_RUNNING = 1,
	JOB_DONE = 2,      /* its result is there */
	JOB_FAILED = 3,    /* code and message say why */
	JOB_CANCELLED = 4, /* by a client, or by the daemon stopping: the message says */
};

struct jobs;
struct job_ctx; /* what a running job sees of itself */

/* A job's work, on the worker thread: 0 and its result (JSON text, malloc'ed, now the
 * job's), or a negative errno after job_fail() said why (-ECANCELED once job_check() said
 * to stop: the job is then cancelled, not failed). */
typedef int (*job_run_fn)(struct job_ctx *ctx, void *arg, char **ret_result,
			  size_t *ret_result_len);
typedef void (*job_free_fn)(void *arg);

/* A copy of a job as it is now. */
struct job_view {
	uint32_t id;
	uint32_t kind;
	uint32_t state;    /* enum job_state */
	uint32_t position; /* queued: jobs ahead of it */
	uint32_t cancel_requested;
	uint32_t reserved0;
	uint64_t queued_ns; /* CLOCK_MONOTONIC */
	uint64_t started_ns;
	uint64_t ended_ns;
	uint64_t counters[JOBS_COUNTERS];
	char code[JOB_CODE_MAX];
	char message[JOB_MESSAGE_MAX];
	char *result; /* done, when asked for: a copy the caller frees */
	size_t result_len;
};

/* Start the worker. 0, -ENOMEM, or -EAGAIN (no thread). Signals stay as the caller's
 * thread has them blocked (the daemon blocks its own before). */
int jobs_create(struct jobs **ret_jobs);

/* Queue a job of `kind` (the caller's numbering): 0 and *ret_id (from 1, never reused), or
 * -EAGAIN (JOBS_QUEUED_MAX are waiting already), -ESHUTDOWN (stopping), -ENOMEM. On
 * success the job owns arg (free_arg(arg) when it is forgotten; may be NULL); on failure
 * the caller keeps it. Any thread. */
int jobs_submit(struct jobs *js, uint32_t kind, job_run_fn run, void *arg, job_free_fn free_arg,
		uint32_t *ret_id);

/* A queued or running job of `kind`: 0 and *ret_id, or -ENOENT. */
int jobs_find_active(struct jobs *js, uint32_t kind, uint32_t *ret_id);

/* Job id as it is now, with a copy of its result when with_result and it is done: 0, or
 * -ENOENT (never was, or forgotten), -ENOMEM (the copy). */
int jobs_view(struct jobs *js, uint32_t id, int with_result, struct job_view *ret_view);

/* Cancel job id, why (a sentence) kept as its message: a queued job is cancelled now, a
 * running one is asked to stop (it stops at its next job_check). 0, -ENOENT, -EALREADY
 * (finished). */
int jobs_cancel(struct jobs *js, uint32_t id, const char *why);

/* Cancel every job (why as above), wait for the worker, free. Accepts NULL. */
void jobs_destroy(struct jobs *js, const char *why);

/* --- for a running job (its worker's thread) ----------------------------------------- */

/* 0 to go on, -ECANCELED to stop now (a cancel or the daemon stopping). Cheap: one load. */
int job_check(struct job_ctx *ctx);

/* How far it is: counters[0..n) (n <= JOBS_COUNTERS), meaning what its kind says. */
void job_progress(struct job_ctx *ctx, const uint64_t *counters, uint32_t n);

/* It failed: a code ([a-z_]) and a sentence for the client. */
pf_printf_like(3, 4) void job_fail(struct job_ctx *ctx, const char *code, const char *fmt, ...);

/* Its id (names it in logs and resources). */
uint32_t job_id(const struct job_ctx *ctx);

#endif /* PFLIGHTD_JOBS_H */

/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/jobs.c: the REST API's jobs (jobs.h): a bounded queue and one worker.
 *
 * Why not an agent. An agent's do_work does a bounded amount of work and returns; a
 * simulation or a verification is one library call of seconds (pf_sim_run_ctl,
 * pf_audit_verify_watch) that can only be stopped from inside, through its callback. So
 * the worker is a plain thread that blocks in the job, and the job's callbacks are the
 * cancellation points: job_check() is one relaxed load of the job's cancel flag, and
 * job_progress() a copy under the lock. What the API thread does with a job (submit, view,
 * cancel) takes the same lock for a copy of a few fields, never across a job's work: the
 * API thread never waits for a job.
 *
 * Ownership. `lock` guards the table (slots[], each job's state, times, counters, code,
 * message, result) and `stopping`; the worker alone runs a job's function and touches its
 * argument meanwhile. A job's `cancel` flag is also read without the lock by job_check():
 * it is a flag, nothing is read through it (the reason is read under the lock once the job
 * returned). A job is forgotten (freed) only when finished, by whoever holds the lock:
 * the worker never holds a pointer to a finished job.
 *
 * Bounds: JOBS_QUEUED_MAX waiting, JOBS_KEPT_MAX known; a finished job is forgotten after
 * JOBS_KEEP_NS, or sooner when room is needed, oldest first. A result (a simulation's
 * series) is kept as JSON text, not as a tree: a tenth of the memory.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shm/pf_assert.h"
#include "shm/pf_atomic.h"
#include "tools/pflightd/jobs.h"

struct job {
	uint32_t id;
	uint32_t kind;
	uint32_t state; /* enum job_state */
	_Atomic uint32_t cancel;
	job_run_fn run;
	job_free_fn free_arg;
	void *arg;
	uint64_t queued_ns;
	uint64_t started_ns;
	uint64_t ended_ns;
	uint64_t counters[JOBS_COUNTERS];
	char code[JOB_CODE_MAX];
	char message[JOB_MESSAGE_MAX];
	char *result;
	size_t result_len;
};

struct job_ctx {
	struct jobs *js;
	struct job *j;
};

struct jobs {
	pthread_mutex_t lock;
	pthread_cond_t work; /* a job was queued, or stopping */
	struct job *slots[JOBS_KEPT_MAX];
	uint32_t next_id;
	uint32_t stopping;
	uint32_t nworkers;
	uint32_t reserved0;
	pthread_t workers[JOBS_WORKERS];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int finished(const struct job *j)
{
	return j->state >= JOB_DONE;
}

static void job_forget(struct jobs *js, uint32_t slot)
{
	struct job *j = js->slots[slot];

	PF_ASSERT(j != NULL && finished(j));
	if (j->free_arg != NULL)
		j->free_arg(j->arg);
	free(j->result);
	free(j);
	js->slots[slot] = NULL;
}

/* Forget finished jobs past JOBS_KEEP_NS. Caller holds the lock. */
static void expire_locked(struct jobs *js, uint64_t now)
{
	for (uint32_t i = 0; i < JOBS_KEPT_MAX; i++) {
		struct job *j = js->slots[i];

		if (j != NULL && finished(j) && now - j->ended_ns > JOBS_KEEP_NS)
			job_forget(js, i);
	}
}

/* A free slot, forgetting the oldest finished job when none is. Caller holds the lock. */
static uint32_t slot_take_locked(struct jobs *js)
{
	uint32_t oldest = JOBS_KEPT_MAX;

	for (uint32_t i = 0; i < JOBS_KEPT_MAX; i++) {
		struct job *j = js->slots[i];

		if (j == NULL)
			return i;
		if (finished(j) && (oldest == JOBS_KEPT_MAX || j->id < js->slots[oldest]->id))
			oldest = i;
	}
	PF_ASSERT(oldest < JOBS_KEPT_MAX); /* at most QUEUED_MAX + WORKERS are not finished */
	job_forget(js, oldest);
	return oldest;
}

static uint32_t count_state_locked(const struct jobs *js, uint32_t state, uint32_t below_id)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < JOBS_KEPT_MAX; i++)
		n += js->slots[i] != NULL && js->slots[i]->state == state &&
		     js->slots[i]->id < below_id;
	return n;
}

static struct job *find_locked(const struct jobs *js, uint32_t id)
{
	for (uint32_t i = 0; i < JOBS_KEPT_MAX; i++)
		if (js->slots[i] != NULL && js->slots[i]->id == id)
			return js->slots[i];
	return NULL;
}

static void message_set(struct job *j, const char *code, const char *message)
{
	(void)snprintf(j->code, sizeof(j->code), "%s", code);
	(void)snprintf(j->message, sizeof(j->message), "%s", message);
}

/* The queued job that came first, or NULL. Caller holds the lock. */
static struct job *next_queued_locked(const struct jobs *js)
{
	struct job *first = NULL;

	for (uint32_t i = 0; i < JOBS_KEPT_MAX; i++) {
		struct job *j = js->slots[i];

		if (j != NULL && j->state == JOB_QUEUED && (first == NULL || j->id < first->id))
			first = j;
	}
	return first;
}

/* The job returned r: done, or cancelled (it was asked to stop: whatever it returned on
 * the way out), or failed. Caller holds the lock. */
static void job_end_locked(struct job *j, int r, char *result, size_t len)
{
	PF_ASSERT(j->state == JOB_RUNNING);
	PF_ASSERT(r <= 0);
	j->ended_ns = now_ns();
	if (r == 0 && result != NULL) {
		j->state = JOB_DONE;
		j->result = result;
		j->result_len = len;
		return;
	}
	free(result);
	/* Relaxed: a flag; its message was written under the lock we hold. */
	if (pf_load_relaxed(&j->cancel) != 0) {
		j->state = JOB_CANCELLED;
		return;
	}
	j->state = JOB_FAILED;
	if (j->code[0] == '\0')
		message_set(j, "job_failed", r == 0 ? "the job gave no result" : strerror(-r));
}

static void *worker_main(void *arg)
{
	struct jobs *js = arg;

	pthread_mutex_lock(&js->lock);
	for (;;) {
		struct job *j = next_queued_locked(js);
		struct job_ctx ctx = {.js = js, .j = j};
		char *result = NULL;
		size_t len = 0;
		int r;

		if (j == NULL && js->stopping)
			break;
		if (j == NULL) {
			pthread_cond_wait(&js->work, &js->lock);
			continue;
		}
		j->state = JOB_RUNNING;
		j->started_ns = now_ns();
		pthread_mutex_unlock(&js->lock);
		r = j->run(&ctx, j->arg, &result, &len); /* the worker's alone meanwhile */
		pthread_mutex_lock(&js->lock);
		job_end_locked(j, r > 0 ? 0 : r, result, len);
	}
	pthread_mutex_unlock(&js->lock);
	return NULL;
}

int jobs_create(struct jobs **ret_jobs)
{
	struct jobs *js = calloc(1, sizeof(*js));

	PF_ASSERT(ret_jobs != NULL);
	if (js == NULL)
		return -ENOMEM;
	pthread_mutex_init(&js->lock, NULL);
	pthread_cond_init(&js->work, NULL);
	js->next_id = 1;
	for (uint32_t i = 0; i < JOBS_WORKERS; i++) {
		if (pthread_create(&js->workers[i], NULL, worker_main, js) != 0) {
			jobs_destroy(js, "no thread for the jobs");
			return -EAGAIN;
		}
		js->nworkers++;
	}
	*ret_jobs = js;
	return 0;
}

int jobs_submit(struct jobs *js, uint32_t kind, job_run_fn run, void *arg, job_free_fn free_arg,
		uint32_t *ret_id)
{
	struct job *j = calloc(1, sizeof(*j));
	int r = 0;

	PF_ASSERT(js != NULL && run != NULL && ret_id != NULL);
	if (j == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&js->lock);
	expire_locked(js, now_ns());
	if (js->stopping)
		r = -ESHUTDOWN;
	else if (count_state_locked(js, JOB_QUEUED, UINT32_MAX) >= JOBS_QUEUED_MAX)
		r = -EAGAIN;
	if (r == 0) {
		j->id = js->next_id++;
		j->kind = kind;
		j->state = JOB_QUEUED;
		j->run = run;
		j->arg = arg;
		j->free_arg = free_arg;
		j->queued_ns = now_ns();
		js->slots[slot_take_locked(js)] = j;
		*ret_id = j->id;
		pthread_cond_signal(&js->work);
	}
	pthread_mutex_unlock(&js->lock);
	if (r < 0)
		free(j);
	return r;
}

int jobs_find_active(struct jobs *js, uint32_t kind, uint32_t *ret_id)
{
	int r = -ENOENT;

	pthread_mutex_lock(&js->lock);
	for (uint32_t i = 0; i < JOBS_KEPT_MAX && r < 0; i++) {
		const struct job *j = js->slots[i];

		if (j != NULL && j->kind == kind && !finished(j)) {
			*ret_id = j->id;
			r = 0;
		}
	}
	pthread_mutex_unlock(&js->lock);
	return r;
}

static int view_locked(const struct jobs *js, const struct job *j, int with_result,
		       struct job_view *v)
{
	memset(v, 0, sizeof(*v));
	v->id = j->id;
	v->kind = j->kind;
	v->state = j->state;
	v->position = j->state == JOB_QUEUED ? count_state_locked(js, JOB_QUEUED, j->id) : 0;
	/* Relaxed: a flag, shown as it is. */
	v->cancel_requested = pf_load_relaxed(&j->cancel);
	v->queued_ns = j->queued_ns;
	v->started_ns = j->started_ns;
	v->ended_ns = j->ended_ns;
	memcpy(v->counters, j->counters, sizeof(v->counters));
	memcpy(v->code, j->code, sizeof(v->code));
	memcpy(v->message, j->message, sizeof(v->message));
	if (!with_result || j->result == NULL)
		return 0;
	v->result = malloc(j->result_len + 1);
	if (v->result == NULL)
		return -ENOMEM;
	memcpy(v->result, j->result, j->result_len);
	v->result[j->result_len] = '\0';
	v->result_len = j->result_len;
	return 0;
}

int jobs_view(struct jobs *js, uint32_t id, int with_result, struct job_view *ret_view)
{
	const struct job *j;
	int r = -ENOENT;

	PF_ASSERT(js != NULL && ret_view != NULL);
	pthread_mutex_lock(&js->lock);
	expire_locked(js, now_ns());
	j = find_locked(js, id);
	if (j != NULL)
		r = view_locked(js, j, with_result, ret_view);
	pthread_mutex_unlock(&js->lock);
	return r;
}

/* Cancel j for why. Caller holds the lock. */
static int cancel_locked(struct job *j, const char *why)
{
	if (finished(j))
		return -EALREADY;
	/* Relaxed: a flag (see the top of the file); the message is read under the lock. */
	if (pf_load_relaxed(&j->cancel) == 0)
		message_set(j, "cancelled", why);
	pf_store_relaxed(&j->cancel, 1);
	if (j->state == JOB_QUEUED) {
		j->state = JOB_CANCELLED; /* never ran: nothing to stop */
		j->ended_ns = now_ns();
	}
	return 0;
}

int jobs_cancel(struct jobs *js, uint32_t id, const char *why)
{
	struct job *j;
	int r;

	PF_ASSERT(js != NULL && why != NULL);
	pthread_mutex_lock(&js->lock);
	j = find_locked(js, id);
	r = j != NULL ? cancel_locked(j, why) : -ENOENT;
	pthread_mutex_unlock(&js->lock);
	return r;
}

void jobs_destroy(struct jobs *js, const char *why)
{
	if (js == NULL)
		return;
	pthread_mutex_lock(&js->lock);
	js->stopping = 1;
	for (uint32_t i = 0; i < JOBS_KEPT_MAX; i++)
		if (js->slots[i] != NULL)
			(void)cancel_locked(js->slots[i], why);
	pthread_cond_broadcast(&js->work);
	pthread_mutex_unlock(&js->lock);
	for (uint32_t i = 0; i < js->nworkers; i++)
		(void)pthread_join(js->workers[i], NULL);
	for (uint32_t i = 0; i < JOBS_KEPT_MAX; i++)
		if (js->slots[i] != NULL)
			job_forget(js, i);
	pthread_cond_destroy(&js->work);
	pthread_mutex_destroy(&js->lock);
	free(js);
}

int job_check(struct job_ctx *ctx)
{
	/* Relaxed: a flag; stopping a moment later is harmless, and nothing is read through
	 * it. */
	return pf_load_relaxed(&ctx->j->cancel) != 0 ? -ECANCELED : 0;
}

void job_progress(struct job_ctx *ctx, const uint64_t *counters, uint32_t n)
{
	PF_ASSERT(n <= JOBS_COUNTERS);
	pthread_mutex_lock(&ctx->js->lock);
	memcpy(ctx->j->counters, counters, n * sizeof(*counters));
	pthread_mutex_unlock(&ctx->js->lock);
}

void job_fail(struct job_ctx *ctx, const char *code, const char *fmt, ...)
{
	char message[JOB_MESSAGE_MAX];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&ctx->js->lock);
	message_set(ctx->j, code, message);
	pthread_mutex_unlock(&ctx->js->lock);
}

uint32_t job_id(const struct job_ctx *ctx)
{
	return ctx->j->id;
}

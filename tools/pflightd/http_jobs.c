/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/http_jobs.c: the REST API's jobs as resources (http_api.h).
 *
 * A request that takes seconds (POST /api/v1/audit/verify; the simulator's) is a job
 * (jobs.h): the POST answers 202 at once with the job and its Location,
 * /api/v1/jobs/{id}; GET there says where it is (queued with its place in the queue,
 * running with its progress, done with its result, failed or cancelled with a code and a
 * sentence), and DELETE cancels it. What a job's progress counters mean is its kind's,
 * named here. A result is kept as JSON text and spliced into the answer as it is: a
 * simulation's series is not parsed again for each GET.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shm/pf_assert.h"
#include "tools/pflightd/daemon.h"
#include "tools/pflightd/http_api.h"
#include "tools/pflightd/log.h"

static const char *const kind_names[] = {[API_JOB_SIM] = "sim", [API_JOB_VERIFY] = "verify"};
static const char *const state_names[] = {[JOB_QUEUED] = "queued",
					  [JOB_RUNNING] = "running",
					  [JOB_DONE] = "done",
					  [JOB_FAILED] = "failed",
					  [JOB_CANCELLED] = "cancelled"};

/* What a kind's progress counters are, in the order it gives them (job_progress). */
static json_t *progress_json(const struct job_view *v)
{
	const uint64_t *c = v->counters;

	if (v->kind == API_JOB_VERIFY)
		return json_pack("{s:I, s:I, s:I, s:I}", "records", (json_int_t)c[0], "bytes",
				 (json_int_t)c[1], "bytes_total", (json_int_t)c[2], "files",
				 (json_int_t)c[3]);
	PF_ASSERT(v->kind == API_JOB_SIM);
	return json_pack("{s:f, s:f, s:I, s:I}", "simulated_s", (double)c[0] / 1e9, "duration_s",
			 (double)c[1] / 1e9, "events", (json_int_t)c[2], "points",
			 (json_int_t)c[3]);
}

static double seconds(uint64_t from_ns, uint64_t to_ns)
{
	return to_ns > from_ns ? (double)(to_ns - from_ns) / 1e9 : 0.0;
}

/* The job as JSON, without its result. */
static json_t *job_json(const struct job_view *v)
{
	uint64_t now = mono_ns();
	uint64_t started = v->started_ns != 0 ? v->started_ns : (v->ended_ns ? v->ended_ns : now);
	json_t *o = json_pack(
		"{s:I, s:s, s:s, s:f, s:f, s:b, s:o}", "id", (json_int_t)v->id, "kind",
		kind_names[v->kind], "state", state_names[v->state], "wait_s",
		seconds(v->queued_ns, started), "run_s",
		v->started_ns != 0 ? seconds(v->started_ns, v->ended_ns ? v->ended_ns : now) : 0.0,
		"cancel_requested", v->cancel_requested != 0, "progress", progress_json(v));

	if (o != NULL && v->state == JOB_QUEUED &&
	    json_object_set_new(o, "position", json_integer(v->position)) < 0)
		goto fail;
	if (o != NULL && (v->state == JOB_FAILED || v->state == JOB_CANCELLED) &&
	    json_object_set_new(o, "error",
				json_pack("{s:s, s:s}", "code", v->code, "message", v->message)) <
		    0)
		goto fail;
	return o;
fail:
	json_decref(o);
	return NULL;
}

/* The job's document with its result spliced in, as the reply's own bytes. */
static int job_text(const struct job_view *v, struct api_reply *rep)
{
	json_t *o = job_json(v);
	char *text = o != NULL ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
	size_t len = text != NULL ? strlen(text) : 0;
	static const char key[] = ",\"result\":";
	size_t add = v->result != NULL ? sizeof(key) - 1 + v->result_len : 0;
	char *body = text != NULL ? realloc(text, len + add + 2) : NULL;

	json_decref(o);
	if (body == NULL) {
		free(text);
		return -ENOMEM;
	}
	PF_ASSERT(len >= 2 && body[len - 1] == '}');
	if (v->result != NULL) {
		len--; /* the closing brace goes after the result */
		memcpy(body + len, key, sizeof(key) - 1);
		len += sizeof(key) - 1;
		memcpy(body + len, v->result, v->result_len);
		len += v->result_len;
		body[len++] = '}';
	}
	body[len++] = '\n';
	body[len] = '\0';
	rep->status = 200;
	rep->raw_owned = body;
	rep->raw = body;
	rep->raw_len = len;
	rep->content_type = "application/json";
	return 0;
}

static int no_job(uint32_t id, struct api_error *err)
{
	api_error_set(err, 404, "no_job",
		      "no job %u: none was given that id, or it finished more than %llu s ago or "
		      "%u newer jobs came after it",
		      id, JOBS_KEEP_NS / 1000000000ull, JOBS_KEPT_MAX);
	return -ENOENT;
}

int api_job_reply(struct api *a, uint32_t id, unsigned status, struct api_reply *rep,
		  struct api_error *err)
{
	struct job_view v;
	int r = jobs_view(a->jobs, id, 0, &v);

	if (r == -ENOENT)
		return no_job(id, err);
	rep->doc = r == 0 ? job_json(&v) : NULL;
	if (rep->doc == NULL) {
		api_error_set(err, 500, "internal", "out of memory building the answer");
		return -ENOMEM;
	}
	rep->status = status;
	(void)snprintf(rep->location, sizeof(rep->location), API_PREFIX "/jobs/%u", id);
	return 0;
}

int api_job_submit_error(int r, const char *what, struct api_error *err)
{
	PF_ASSERT(r < 0);
	if (r == -EAGAIN) {
		api_error_set(err, 429, "jobs_full",
			      "%u jobs are waiting for the one worker already; %s is refused: "
			      "ask again once one has run (GET /api/v1/jobs/{id})",
			      JOBS_QUEUED_MAX, what);
		err->retry_after_s = 5;
	} else if (r == -ESHUTDOWN) {
		api_error_set(err, 503, "stopping", "pflightd is stopping: %s is refused", what);
	} else {
		api_error_set(err, 500, "internal", "%s: %s", what, strerror(-r));
	}
	return r;
}

int api_get_job(struct api *a, const struct api_call *call, struct api_reply *rep,
		struct api_error *err)
{
	struct job_view v;
	int r = jobs_view(a->jobs, call->ids[0], 1, &v);

	if (r == -ENOENT)
		return no_job(call->ids[0], err);
	if (r == 0)
		r = job_text(&v, rep);
	free(v.result);
	if (r < 0)
		api_error_set(err, 500, "internal", "out of memory building the answer");
	return r;
}

int api_delete_job(struct api *a, const struct api_call *call, struct api_reply *rep,
		   struct api_error *err)
{
	char why[API_PEER_MAX + 48];
	uint32_t id = call->ids[0];
	int r;

	(void)snprintf(why, sizeof(why), "cancelled by DELETE from %s", call->peer);
	r = jobs_cancel(a->jobs, id, why);
	if (r == 0)
		log_msg(LOG_INFO, "api (%s): job %u cancelled", call->peer, id);
	if (r == -ENOENT)
		return no_job(id, err);
	if (r == -EALREADY) {
		api_error_set(err, 409, "job_finished",
			      "job %u has finished already: nothing to cancel (GET it for its "
			      "outcome)",
			      id);
		return r;
	}
	r = api_job_reply(a, id, 202, rep, err);
	rep->location[0] = '\0'; /* the job is where it was asked for */
	return r;
}

/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/http_sim.c: the simulator behind POST /api/v1/sim (http_api.h).
 *
 * A simulation is a job (jobs.h, http_jobs.c): the request is checked here, on the API
 * thread, and answered at once with the job; pf_sim_run_ctl() runs it on the jobs' worker
 * in a private domain, and its series and summary are the job's result. Why it needs the
 * bearer token although it changes nothing of the domain: it takes the worker from every
 * other job for up to api.sim_time_max and maps up to api.sim_segment_max of shared
 * memory, and on loopback every local user is the same client address to the rate limit;
 * what costs the host resources is given to those who hold the token, as changes are.
 *
 * Budgets. What can be known from the options is refused before anything runs, each
 * refusal with its own code and sentence: a field over the API's limits (400), a private
 * domain larger than api.sim_segment_max (422, the size said, computed as
 * pf_domain_create would map it). What only the run tells is enforced while it runs, at
 * the run's own cancellation points (pf_sim_ctl.check, every few events): wall-clock time
 * past api.sim_time_max, events past api.sim_events_max, a client's DELETE and the
 * daemon's stop. A budget stopping a run fails its job (time_budget, event_budget, with
 * how far it got); a cancel cancels it; either way the private domain is gone.
 *
 * Names. The private domain is <owner>.sim-<pid>-<job>, owner being the daemon's domain
 * name (api_sim_owner), so that a daemon killed mid-run (kill -9: nothing of it runs to
 * clean up) leaves a segment its next start recognises as its own: api_sim_sweep() removes
 * those of this uid whose pflightd is gone, and never one another uid made.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/pf_assert.h"
#include "tools/common/decimal.h"
#include "tools/common/jdoc.h"
#include "tools/pflightd/daemon.h"
#include "tools/pflightd/http_api.h"
#include "tools/pflightd/log.h"

/* What one request may ask for. The dashboard's sliders top out at these; the budgets
 * decide what of it runs. */
#define SIM_MEMBERS_MAX 2000u
#define SIM_VNODES_MAX 200000u
#define SIM_DURATION_S_MAX 3600u
#define SIM_POINTS_MAX 3600u /* series points in one answer */
#define MIB (1024.0 * 1024.0)
/* Where a domain's segment lies: /dev/shm/pflight-<name> (shm_open("/pflight-<name>"), as
 * core/domain.c names it). */
#define SHM_DIR "/dev/shm"
#define SHM_DOMAIN_PREFIX "pflight-"

enum {
	B_PRESET,
	B_STRATEGY,
	B_MEMBERS,
	B_VNODES,
	B_SEED,
	B_DURATION,
	B_INTERVAL,
	B_JOIN,
	B_FAILURE,
	B_RETIRE,
	B_HEARTBEAT,
	B_COUNT
};
_Static_assert(B_COUNT == API_SIM_FIELDS, "http_api.h sizes the simulator's fields");
const struct api_field api_sim_body[API_SIM_FIELDS] = {
	[B_PRESET] = {"preset", API_T_STRING, 0, 0, 0, NULL},
	[B_STRATEGY] = {"strategy", API_T_STRING, 0, 0, 0, NULL},
	[B_MEMBERS] = {"members", API_T_U32, 0, 0, SIM_MEMBERS_MAX, NULL},
	[B_VNODES] = {"vnodes", API_T_U32, 0, 1, SIM_VNODES_MAX, NULL},
	[B_SEED] = {"seed", API_T_U32, 0, 0, UINT32_MAX, NULL},
	[B_DURATION] = {"duration_s", API_T_NUMBER, 0, 0, SIM_DURATION_S_MAX, NULL},
	[B_INTERVAL] = {"interval_s", API_T_NUMBER, 0, 0, SIM_DURATION_S_MAX, NULL},
	[B_JOIN] = {"join_per_min", API_T_NUMBER, 0, 0, 1000000, NULL},
	[B_FAILURE] = {"failure_per_min", API_T_NUMBER, 0, 0, 1000000, NULL},
	[B_RETIRE] = {"retire_per_min", API_T_NUMBER, 0, 0, 1000000, NULL},
	[B_HEARTBEAT] = {"heartbeat_timeout_ms", API_T_U32, 0, 0, 3600000, NULL},
};

/* The options a request asks for: the preset's defaults, then each field given. */
static int sim_opts(const struct api_call *call, struct pf_sim_opts *o, struct api_error *err)
{
	const struct api_value *b = call->body;
	int preset = b[B_PRESET].set ? pf_sim_preset_find(b[B_PRESET].s) : PF_SIM_DMA;

	pf_sim_opts_init(o);
	if (preset < 0 || pf_sim_opts_preset(o, (uint32_t)preset) < 0) {
		api_error_set(err, 400, "bad_field",
			      "preset must be one of dma, distributed, cloud-native, ai-agents");
		return -EINVAL;
	}
	if (b[B_STRATEGY].set) {
		uint32_t k = 0;

		/* The library's names (pflight sim parses them the same way). */
		while (pf_sched_strategy_name(k) != NULL &&
		       strcmp(pf_sched_strategy_name(k), b[B_STRATEGY].s) != 0)
			k++;
		if (pf_sched_strategy_name(k) == NULL) {
			api_error_set(err, 400, "bad_field",
				      "strategy must be one of trust-weighted, consistent-hash, "
				      "bin-packing, agent");
			return -EINVAL;
		}
		o->strategy = k;
	}
	if (b[B_MEMBERS].set)
		o->members = (uint32_t)b[B_MEMBERS].u;
	if (b[B_VNODES].set)
		o->vnodes = (uint32_t)b[B_VNODES].u;
	if (b[B_SEED].set)
		o->seed = b[B_SEED].u;
	if (b[B_DURATION].set)
		o->duration_ns = (uint64_t)llround(b[B_DURATION].d * 1e9);
	if (b[B_INTERVAL].set)
		o->interval_ns = (uint64_t)llround(b[B_INTERVAL].d * 1e9);
	if (b[B_JOIN].set)
		o->join_per_min = b[B_JOIN].d;
	if (b[B_FAILURE].set)
		o->failure_per_min = b[B_FAILURE].d;
	if (b[B_RETIRE].set)
		o->retire_per_min = b[B_RETIRE].d;
	if (b[B_HEARTBEAT].set)
		o->heartbeat_timeout_ns = b[B_HEARTBEAT].u * 1000000u;
	return 0;
}

/* What a refused option is, in a sentence: the field that pf_sim_opts_check() named and
 * the limit it passed, or a value it does not take. */
static void opts_refused(int r, const char *field, const struct pf_sim_opts *o,
			 struct api_error *err)
{
	double minutes = (double)o->duration_ns / 60e9;

	if (field != NULL && strcmp(field, "interval_ns") == 0 && r == -E2BIG)
		api_error_set(err, 400, "too_many_points",
			      "interval_s: duration_s / interval_s is %.0f points, over the %u one "
			      "answer holds: a longer interval or a shorter duration",
			      (double)o->duration_ns / (double)o->interval_ns, SIM_POINTS_MAX);
	else if (field != NULL && strcmp(field, "interval_ns") == 0)
		api_error_set(err, 400, "bad_interval",
			      "interval_s must be at least 0.001 and at most duration_s (%.3f)",
			      (double)o->duration_ns / 1e9);
	else if (field != NULL && strcmp(field, "duration_ns") == 0)
		api_error_set(err, 400, "bad_duration", "duration_s must be more than 0");
	else if (field != NULL && strstr(field, "_per_min") != NULL && r == -E2BIG)
		api_error_set(err, 400, "too_many_events",
			      "the rates over duration_s make about %.0f events, more than the "
			      "simulator takes (10,000,000): lower a rate or the duration",
			      (o->join_per_min + o->failure_per_min + o->retire_per_min +
			       o->load_change_per_min) *
				      minutes);
	else
		api_error_set(err, 400, "bad_field", "%s: not a value the simulator takes (%s)",
			      field != NULL ? field : "options", strerror(-r));
}

/* The options a request asks for, within the API's limits and the domain budget. */
static int sim_check_request(struct api *a, const struct api_call *call, struct pf_sim_opts *o,
			     struct api_error *err)
{
	const char *field = NULL;
	uint64_t bytes = 0;
	int r;

	if (sim_opts(call, o, err) < 0)
		return -EINVAL;
	r = pf_sim_opts_check(o, &field);
	if (r == 0 && o->duration_ns / o->interval_ns > SIM_POINTS_MAX) {
		r = -E2BIG; /* the library takes more points than one answer should hold */
		field = "interval_ns";
	}
	if (r < 0) {
		opts_refused(r, field, o, err);
		return r;
	}
	r = pf_sim_segment_bytes(o, &bytes);
	if (r == 0 && bytes > a->sim_segment_max) {
		api_error_set(err, 422, "segment_budget",
			      "%u members and %u VNodes need a private domain of %.1f MiB of "
			      "shared memory, over this daemon's budget of %.1f MiB "
			      "(api.sim_segment_max): fewer VNodes or members",
			      o->members, o->vnodes, (double)bytes / MIB,
			      (double)a->sim_segment_max / MIB);
		return -EFBIG;
	}
	if (r < 0)
		api_error_set(err, 400, "bad_field", "the simulator's domain: %s", strerror(-r));
	return r;
}

/* A simulation as a job: what the worker needs, copied from the request and the API. */
struct sim_job {
	struct pf_sim_opts o;
	char owner[API_SIM_OWNER_MAX];
	uint64_t time_max_ns;
	uint64_t segment_max;
	uint64_t events_max;
};

/* A run going on: its job, its series so far, and where its last check saw it. */
struct sim_run {
	struct job_ctx *ctx;
	const struct sim_job *job;
	json_t *series;
	uint64_t started_ns;
	struct pf_sim_progress last;
};

static int sim_point(void *arg, const struct pf_sim_point *p)
{
	struct sim_run *run = arg;
	json_t *o = jdoc_sim_point(p);

	return o != NULL && json_array_append_new(run->series, o) == 0 ? 0 : -ENOMEM;
}

/* The run's cancellation point: progress (simulated time, duration, events, points: the
 * counters http_jobs.c names), a cancel, and the budgets only the run can tell. */
static int sim_progress(void *arg, const struct pf_sim_progress *p)
{
	struct sim_run *run = arg;
	const uint64_t c[] = {p->time_ns, run->job->o.duration_ns, p->events, p->points};

	_Static_assert(PF_ARRAY_SIZE(c) <= JOBS_COUNTERS, "a job's counters");
	run->last = *p;
	job_progress(run->ctx, c, PF_ARRAY_SIZE(c));
	if (job_check(run->ctx) < 0)
		return -ECANCELED;
	if (mono_ns() - run->started_ns > run->job->time_max_ns)
		return -ETIME;
	return p->events > run->job->events_max ? -EDQUOT : 0;
}

/* Why a run that did not finish failed, in the job's words. */
static void sim_failed(struct sim_run *run, int r)
{
	const struct pf_sim_progress *p = &run->last;
	double done = (double)p->time_ns / 1e9, want = (double)run->job->o.duration_ns / 1e9;

	if (r == -ETIME)
		job_fail(run->ctx, "time_budget",
			 "stopped after %.1f s of wall-clock time, this daemon's budget "
			 "(api.sim_time_max), at %.1f of %.1f simulated seconds: fewer members or "
			 "VNodes, or a shorter duration",
			 (double)run->job->time_max_ns / 1e9, done, want);
	else if (r == -EDQUOT)
		job_fail(run->ctx, "event_budget",
			 "stopped after %llu events, this daemon's budget (api.sim_events_max), at "
			 "%.1f of %.1f simulated seconds: lower rates or a shorter duration",
			 (unsigned long long)run->job->events_max, done, want);
	else if (r == -EFBIG)
		job_fail(run->ctx, "segment_budget",
			 "its private domain would map more than %.1f MiB (api.sim_segment_max)",
			 (double)run->job->segment_max / MIB);
	else if (r == -ENOMEM || r == -EUSERS || r == -ENOSPC || r == -EMFILE)
		job_fail(run->ctx, "no_resources",
			 "no resources for its private domain or its members now: %s",
			 strerror(-r));
	else if (r != -ECANCELED)
		job_fail(run->ctx, "sim_failed", "the simulation could not run: %s", strerror(-r));
}

/* The result: what the request answered before it was a job. */
static char *sim_result(const struct sim_job *job, const struct pf_sim_summary *sum, json_t *series,
			size_t *ret_len)
{
	json_t *doc = json_pack("{s:o, s:o, s:O}", "options", jdoc_sim_options(&job->o), "summary",
				jdoc_sim_summary(sum), "series", series);
	char *text = doc != NULL ? json_dumps(doc, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	json_decref(doc);
	*ret_len = text != NULL ? strlen(text) : 0;
	return text;
}

/* On the jobs' worker. */
static int sim_run(struct job_ctx *ctx, void *arg, char **ret_result, size_t *ret_len)
{
	const struct sim_job *job = arg;
	struct pf_sim_summary sum = {.size = sizeof(sum)};
	struct sim_run run = {.ctx = ctx, .job = job, .started_ns = mono_ns()};
	char name[PF_DOMAIN_NAME_MAX + 1];
	struct pf_sim_ctl ctl;
	int r, n = snprintf(name, sizeof(name), "%s.sim-%d-%u", job->owner, (int)getpid(),
			    job_id(ctx));

	PF_ASSERT(n > 0 && (size_t)n < sizeof(name)); /* api_sim_owner left the room */
	pf_sim_ctl_init(&ctl);
	ctl.domain_name = name;
	ctl.segment_bytes_max = job->segment_max;
	ctl.check = sim_progress;
	ctl.arg = &run;
	run.series = json_array();
	r = run.series != NULL ? pf_sim_run_ctl(&job->o, &ctl, &sum, sim_point, &run) : -ENOMEM;
	if (r == 0) {
		*ret_result = sim_result(job, &sum, run.series, ret_len);
		r = *ret_result != NULL ? 0 : -ENOMEM;
	}
	json_decref(run.series);
	if (r < 0)
		sim_failed(&run, r);
	log_msg(LOG_INFO, "api: job %u, a simulation in %s: %s after %.1f s (%llu events)",
		job_id(ctx), name,
		r == 0            ? "done"
		: r == -ECANCELED ? "cancelled"
				  : "stopped",
		(double)(mono_ns() - run.started_ns) / 1e9, (unsigned long long)run.last.events);
	return r;
}

int api_post_sim(struct api *a, const struct api_call *call, struct api_reply *rep,
		 struct api_error *err)
{
	struct sim_job *job = calloc(1, sizeof(*job));
	uint32_t id;
	int r;

	if (job == NULL)
		return api_job_submit_error(-ENOMEM, "the simulation", err);
	r = sim_check_request(a, call, &job->o, err);
	if (r < 0) {
		free(job);
		return r;
	}
	memcpy(job->owner, a->sim_owner, sizeof(job->owner));
	job->time_max_ns = a->sim_time_max_ns;
	job->segment_max = a->sim_segment_max;
	job->events_max = a->sim_events_max;
	r = jobs_submit(a->jobs, API_JOB_SIM, sim_run, job, free, &id);
	if (r < 0) {
		free(job);
		return api_job_submit_error(r, "the simulation", err);
	}
	log_msg(LOG_INFO, "api (%s): job %u simulates %u members, %u VNodes, %.0f s (%s)",
		call->peer, id, job->o.members, job->o.vnodes, (double)job->o.duration_ns / 1e9,
		pf_sim_preset_name(job->o.preset));
	return api_job_reply(a, id, 202, rep, err);
}

void api_sim_owner(const char *domain, char out[API_SIM_OWNER_MAX])
{
	size_t len = strlen(domain);
	uint32_t h = 2166136261u; /* FNV-1a: a name too long to keep whole stays distinct */

	if (len < API_SIM_OWNER_MAX) {
		memcpy(out, domain, len + 1);
		return;
	}
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)domain[i]) * 16777619u;
	(void)snprintf(out, API_SIM_OWNER_MAX, "%.*s-%08x", (int)API_SIM_OWNER_MAX - 10, domain, h);
}

/* Whether process pid is a running pflightd: a simulation of its own may be going on. A pid
 * that is gone, or that is now another program's, started none that still runs. */
static int sim_owner_runs(pid_t pid)
{
	char path[64], comm[32] = "";
	ssize_t n;
	int fd;

	if (pid == getpid())
		return 0; /* a former us, this pid's earlier life: we have started none yet */
	if (kill(pid, 0) < 0 && errno == ESRCH)
		return 0;
	(void)snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1; /* alive and not ours to read: keep what may be its */
	n = read(fd, comm, sizeof(comm) - 1);
	(void)close(fd);
	comm[n > 0 ? n : 0] = '\0';
	return strcmp(comm, "pflightd\n") == 0;
}

/* "<pid>-<job>" with nothing else: 0 and the pid, or -EINVAL. */
static int sim_name_pid(const char *rest, pid_t *ret_pid)
{
	const char *dash = strchr(rest, '-');
	uint64_t pid, job;

	if (dash == NULL || decimal_parse(rest, (size_t)(dash - rest), INT32_MAX, &pid) < 0 ||
	    decimal_parse(dash + 1, strlen(dash + 1), UINT32_MAX, &job) < 0 || pid == 0 || job == 0)
		return -EINVAL;
	*ret_pid = (pid_t)pid;
	return 0;
}

/* One entry of /dev/shm that has our prefix: removed (1) when it is a regular file of this
 * uid whose pflightd is gone; kept (0), and said, otherwise. */
static int sim_sweep_one(int dirfd_shm, const char *entry, size_t prefix_len)
{
	uid_t self = geteuid();
	struct stat st;
	pid_t pid = 0;
	int r;

	if (sim_name_pid(entry + prefix_len, &pid) < 0 ||
	    fstatat(dirfd_shm, entry, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return 0;
	if (st.st_uid != self) {
		log_msg(LOG_WARN,
			"simulation segment %s/%s is uid %u's, not this daemon's (%u): "
			"left alone",
			SHM_DIR, entry, (unsigned)st.st_uid, (unsigned)self);
		return 0;
	}
	if (sim_owner_runs(pid)) {
		log_msg(LOG_INFO, "simulation segment %s/%s: its pflightd (pid %d) runs: kept",
			SHM_DIR, entry, (int)pid);
		return 0;
	}
	/* /dev/shm is sticky: no other uid can rename or replace our file between the look
	 * above and this unlink of its name. */
	r = pf_domain_unlink(entry + strlen(SHM_DOMAIN_PREFIX));
	log_msg(r < 0 ? LOG_WARN : LOG_INFO,
		"simulation segment %s/%s, left by pflightd pid %d (%.1f MiB): %s%s", SHM_DIR,
		entry, (int)pid, (double)st.st_size / MIB, r < 0 ? "not removed: " : "removed",
		r < 0 ? strerror(-r) : "");
	return r == 0;
}

int api_sim_sweep(const char *domain)
{
	char owner[API_SIM_OWNER_MAX], prefix[sizeof(SHM_DOMAIN_PREFIX) + API_SIM_OWNER_MAX + 8];
	DIR *dir = opendir(SHM_DIR);
	struct dirent *e;
	size_t len;
	int n = 0;

	if (dir == NULL)
		return -errno;
	api_sim_owner(domain, owner);
	len = (size_t)snprintf(prefix, sizeof(prefix), "%s%s.sim-", SHM_DOMAIN_PREFIX, owner);
	PF_ASSERT(len < sizeof(prefix));
	while ((e = readdir(dir)) != NULL)
		if (strncmp(e->d_name, prefix, len) == 0)
			n += sim_sweep_one(dirfd(dir), e->d_name, len);
	(void)closedir(dir);
	return n;
}

/* SPDX-License-Identifier: MIT */
/*
 * tests/api/test_api_sim.c
 * Goal: a simulation runs off the API's thread, under its budgets, and the daemon stays
 * answerable and stoppable meanwhile. POST /api/v1/sim needs the token; each refusal has a
 * code of its own (too many points, an interval longer than the run, no duration, rates
 * making too many events, a private domain over api.sim_segment_max with the size it would
 * need). A large simulation is a job: while it runs, other requests are answered and the
 * job is still running after them, its progress moves, and its private domain is
 * /dev/shm/pflight-<domain>.sim-<pid>-<job>. Jobs wait in order behind it; a second
 * verification answers the first; a fifth job waiting is 429 jobs_full with Retry-After; a
 * queued job cancelled never runs and cannot be cancelled again (409); a running one
 * cancelled stops and its domain is gone. SIGTERM during a simulation stops the daemon
 * (exit 0) and leaves no segment. The wall-clock budget stops a run (failed, time_budget)
 * and so does the events budget (event_budget, within a check's interval of it). After
 * kill -9 during a simulation its segment is left, and the next start removes it, but not
 * a file of another uid named as its own (as root) nor one of another domain.
 * Method: the real pflightd, its manifest giving it budgets; every answer is checked
 * against the OpenAPI document (api_client.h). Waits poll with generous deadlines; nothing
 * is judged by how fast it was answered, only by the job's state around the answer.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pflight/pflight.h"
#include "tests/common/api_client.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"

#define WAIT_NS (60ull * 1000000000ull)
#define STOP_NS (30ull * 1000000000ull)
/* Minutes of work, 54 MiB of shared memory: it runs until a budget or a cancel stops it. */
#define BIG "{\"preset\":\"ai-agents\",\"members\":500,\"vnodes\":100000,\"duration_s\":3600}"
#define SMALL "{\"members\":10,\"vnodes\":100,\"duration_s\":5}"
/* Seconds of setting up (2,000 members joining) before its first event: the time budget
 * stops it, not the events. */
#define SLOW "{\"members\":2000,\"vnodes\":100000,\"duration_s\":60}"
/* 12,956 events, few of them costly: the events budget stops it, not the time. */
#define EVENTFUL                                                                                   \
	"{\"preset\":\"ai-agents\",\"members\":100,\"vnodes\":10000,\"duration_s\":3600,\"seed\":" \
	"1}"

static struct api_env env;

static const char *error_code(json_t *doc)
{
	const char *c = json_string_value(json_object_get(json_object_get(doc, "error"), "code"));

	return c != NULL ? c : "";
}

static const char *error_message(json_t *doc)
{
	const char *m =
		json_string_value(json_object_get(json_object_get(doc, "error"), "message"));

	return m != NULL ? m : "";
}

/* POST a job; its Location into location (a 202), or the refusal's document. */
static json_t *post(const char *path, const char *body, long want, char *location, size_t cap)
{
	struct api_resp r;
	json_t *doc;

	if (api_call(&env, "POST", path, body, API_TOKEN_DAEMON, &r) != want)
		fprintf(stderr, "POST %s %s: %ld %s\n", path, body != NULL ? body : "", r.status,
			r.body);
	CHECK(r.status == want);
	if (want == 202)
		CHECK(api_header(&r, "Location", location, cap) != NULL);
	doc = json_incref(r.doc);
	api_resp_free(&r);
	return doc;
}

static void refused(const char *body, long status, const char *code, const char *says)
{
	json_t *doc = post("/api/v1/sim", body, status, NULL, 0);

	if (strcmp(error_code(doc), code) != 0 || strstr(error_message(doc), says) == NULL)
		fprintf(stderr, "%s: %s %s, want %s (\"%s\")\n", body, error_code(doc),
			error_message(doc), code, says);
	CHECK(strcmp(error_code(doc), code) == 0 && strstr(error_message(doc), says) != NULL);
	json_decref(doc);
}

static long long job_id_of(const char *location)
{
	return atoll(strrchr(location, '/') + 1);
}

static void segment_path(const char *location, char *buf, size_t cap)
{
	(void)snprintf(buf, cap, "/dev/shm/pflight-%s.sim-%d-%lld", env.name, (int)env.daemon,
		       job_id_of(location));
}

/* Poll the job until its state is `state`; its document. */
static json_t *wait_state(const char *location, const char *state)
{
	uint64_t deadline = proc_now_ns() + WAIT_NS;
	json_t *job = NULL;

	do {
		json_decref(job);
		job = api_get(&env, location, 200);
		if (strcmp(api_job_state(job), state) == 0)
			return job;
		(void)usleep(20000);
	} while (proc_now_ns() < deadline);
	fprintf(stderr, "%s: %s, want %s\n", location, api_job_state(job), state);
	CHECK(0);
	return NULL;
}

static void wait_file(const char *path, int present)
{
	uint64_t deadline = proc_now_ns() + WAIT_NS;

	while ((access(path, F_OK) == 0) != present && proc_now_ns() < deadline)
		proc_nap();
	if ((access(path, F_OK) == 0) != present)
		fprintf(stderr, "%s: %s\n", path, present ? "never appeared" : "left behind");
	CHECK((access(path, F_OK) == 0) == present);
}

static void check_refusals(void)
{
	CHECK(api_call(&env, "POST", "/api/v1/sim", SMALL, API_TOKEN_NONE, NULL) == 401);
	refused("{\"duration_s\":3600,\"interval_s\":0.5}", 400, "too_many_points", "7200 points");
	refused("{\"duration_s\":10,\"interval_s\":20}", 400, "bad_interval", "duration_s");
	refused("{\"duration_s\":0}", 400, "bad_duration", "duration_s");
	refused("{\"duration_s\":3600,\"join_per_min\":1000000,\"failure_per_min\":1000000}", 400,
		"too_many_events", "events");
	refused("{\"members\":2000,\"vnodes\":200000}", 422, "segment_budget",
		"api.sim_segment_max");
	refused("{\"members\":2001}", 400, "wrong_type", "members");
}

/* While the job at location runs, other requests are answered: the job is still running
 * when their answers are in. Its progress moves meanwhile. */
static void check_answered_while_running(const char *location)
{
	uint64_t deadline = proc_now_ns() + WAIT_NS;
	int rounds = 0;
	double simulated = 0;

	while (proc_now_ns() < deadline && (rounds < 3 || simulated <= 0)) {
		json_t *job;

		json_decref(api_get(&env, "/api/v1", 200));
		json_decref(api_get(&env, "/api/v1/vnodes?limit=5", 200));
		json_decref(api_get(&env, "/api/v1/members", 200));
		job = api_get(&env, location, 200);
		CHECK(strcmp(api_job_state(job), "running") == 0);
		simulated = json_real_value(
			json_object_get(json_object_get(job, "progress"), "simulated_s"));
		json_decref(job);
		rounds++;
		(void)usleep(50000);
	}
	printf("api sim: %d rounds of requests answered while the simulation ran (%.1f "
	       "simulated s)\n",
	       rounds, simulated);
	CHECK(rounds >= 3 && simulated > 0);
}

/* Queued jobs wait in order; a second verification answers the first; a fifth waiting is
 * refused; a queued one cancelled never runs. Returns when all have finished. */
static void check_queue(void)
{
	char a[64], b[64], v[64], v2[64], c[64];
	struct api_resp r;
	char retry[16];
	json_t *doc;

	json_decref(post("/api/v1/sim", SMALL, 202, a, sizeof(a)));
	json_decref(post("/api/v1/sim", SMALL, 202, b, sizeof(b)));
	json_decref(post("/api/v1/audit/verify", NULL, 202, v, sizeof(v)));
	doc = post("/api/v1/audit/verify", NULL, 202, v2, sizeof(v2));
	CHECK(strcmp(v, v2) == 0 && api_int(doc, "position") == 2);
	json_decref(doc);
	json_decref(post("/api/v1/sim", SMALL, 202, c, sizeof(c)));
	CHECK(api_call(&env, "POST", "/api/v1/sim", SMALL, API_TOKEN_DAEMON, &r) == 429);
	CHECK(strcmp(error_code(r.doc), "jobs_full") == 0);
	CHECK(api_header(&r, "Retry-After", retry, sizeof(retry)) != NULL);
	api_resp_free(&r);
	CHECK(api_call(&env, "DELETE", b, NULL, API_TOKEN_NONE, NULL) == 401);
	CHECK(api_call(&env, "DELETE", b, NULL, API_TOKEN_DAEMON, &r) == 202);
	CHECK(strcmp(api_job_state(r.doc), "cancelled") == 0);
	api_resp_free(&r);
	CHECK(api_call(&env, "DELETE", b, NULL, API_TOKEN_DAEMON, &r) == 409);
	CHECK(strcmp(error_code(r.doc), "job_finished") == 0);
	api_resp_free(&r);
}

static void check_queue_ran(void)
{
	static const char *const done[] = {"/api/v1/jobs/2", "/api/v1/jobs/4", "/api/v1/jobs/5"};
	json_t *job;

	for (size_t i = 0; i < sizeof(done) / sizeof(done[0]); i++) {
		job = api_job_wait(&env, done[i], WAIT_NS);
		CHECK(strcmp(api_job_state(job), "done") == 0);
		CHECK(json_object_get(job, "result") != NULL);
		json_decref(job);
	}
	job = api_get(&env, "/api/v1/jobs/3", 200); /* cancelled while queued: never ran */
	CHECK(strcmp(api_job_state(job), "cancelled") == 0);
	CHECK(json_real_value(json_object_get(job, "run_s")) == 0.0);
	json_decref(job);
}

/* The big one cancelled while it runs: it stops, its domain is gone. */
static void check_cancel_running(const char *location, const char *segment)
{
	struct api_resp r;
	json_t *job;

	CHECK(api_call(&env, "DELETE", location, NULL, API_TOKEN_DAEMON, &r) == 202);
	CHECK(json_is_true(json_object_get(r.doc, "cancel_requested")));
	api_resp_free(&r);
	job = api_job_wait(&env, location, WAIT_NS);
	CHECK(strcmp(api_job_state(job), "cancelled") == 0);
	CHECK(strstr(error_message(job), "DELETE") != NULL);
	json_decref(job);
	wait_file(segment, 0);
}

/* SIGTERM while a simulation runs: the daemon exits 0 and leaves no segment. */
static void check_sigterm(void)
{
	char location[64], segment[160];
	uint64_t deadline;
	int status = 0;
	pid_t got = 0;

	json_decref(post("/api/v1/sim", BIG, 202, location, sizeof(location)));
	segment_path(location, segment, sizeof(segment));
	json_decref(wait_state(location, "running"));
	wait_file(segment, 1);
	CHECK(kill(env.daemon, SIGTERM) == 0);
	deadline = proc_now_ns() + STOP_NS;
	while ((got = waitpid(env.daemon, &status, WNOHANG)) == 0 && proc_now_ns() < deadline)
		proc_nap();
	if (got != env.daemon)
		fprintf(stderr, "pflightd still running %llu s after SIGTERM\n",
			STOP_NS / 1000000000ull);
	CHECK(got == env.daemon);
	env.daemon = -1;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(access(segment, F_OK) != 0);
	CHECK(api_log_has(&env, "cancelled"));
}

/* A file named as a simulation's segment, of uid (when not ours: root only). */
static void decoy(const char *path, uid_t uid)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL && fputs("not a domain\n", f) >= 0 && fclose(f) == 0);
	if (uid != geteuid())
		CHECK(chown(path, uid, (gid_t)-1) == 0);
}

/* kill -9 during a simulation leaves its segment (nothing of the daemon runs to remove
 * it); the next start removes it before it is ready, and nothing that is not its own: a
 * file of another uid named as ours, one of another domain. */
static void check_kill9_leftover(void)
{
	char location[64], left[160], other_uid[160], other_domain[160];
	int root = geteuid() == 0;
	pid_t dead;

	api_daemon_start(&env, "api:\n  rate_per_s: 1000000\n");
	json_decref(post("/api/v1/sim", BIG, 202, location, sizeof(location)));
	segment_path(location, left, sizeof(left));
	json_decref(wait_state(location, "running"));
	wait_file(left, 1);
	dead = env.daemon;
	CHECK(kill(dead, SIGKILL) == 0 && waitpid(dead, NULL, 0) == dead);
	env.daemon = -1;
	CHECK(access(left, F_OK) == 0); /* what a killed daemon leaves */
	(void)snprintf(other_uid, sizeof(other_uid), "/dev/shm/pflight-%s.sim-%d-77", env.name,
		       (int)dead);
	(void)snprintf(other_domain, sizeof(other_domain), "/dev/shm/pflight-%s-x.sim-%d-1",
		       env.name, (int)dead);
	if (root)
		decoy(other_uid, 65534);
	decoy(other_domain, geteuid());
	api_daemon_start(&env, "api:\n  rate_per_s: 1000000\n");
	CHECK(access(left, F_OK) != 0);
	CHECK(api_log_has(&env, "removed"));
	CHECK(access(other_domain, F_OK) == 0);
	CHECK(!root || access(other_uid, F_OK) == 0);
	CHECK(!root || api_log_has(&env, "left alone"));
	CHECK(unlink(other_domain) == 0 && (!root || unlink(other_uid) == 0));
	printf("api sim: the segment pid %d's simulation left was removed at the next start%s\n",
	       (int)dead, root ? "; another uid's was not" : "");
	api_daemon_stop(&env);
}

/* A run past a budget fails, says which, and leaves no domain. */
static void check_budget(const char *body, const char *code, const char *says)
{
	char location[64], segment[160];
	json_t *job;

	json_decref(post("/api/v1/sim", body, 202, location, sizeof(location)));
	segment_path(location, segment, sizeof(segment));
	job = api_job_wait(&env, location, WAIT_NS);
	if (strcmp(api_job_state(job), "failed") != 0 || strcmp(error_code(job), code) != 0)
		fprintf(stderr, "%s: %s %s %s\n", body, api_job_state(job), error_code(job),
			error_message(job));
	CHECK(strcmp(api_job_state(job), "failed") == 0 && strcmp(error_code(job), code) == 0);
	CHECK(strstr(error_message(job), says) != NULL);
	if (strcmp(code, "event_budget") == 0) {
		long long events = api_int(json_object_get(job, "progress"), "events");

		CHECK(events > 2000 && events <= 2000 + 2 * PF_SIM_CHECK_EVENTS_DEFAULT);
	}
	json_decref(job);
	CHECK(access(segment, F_OK) != 0);
}

int main(int argc, char **argv)
{
	char big[64], segment[160];

	api_env_init(&env, "api-sim", argc, argv);
	api_daemon_start(&env, "api:\n  rate_per_s: 1000000\n  sim_time_max: 120s\n"
			       "  sim_segment_max: 60MiB\n");
	check_refusals();
	json_decref(post("/api/v1/sim", BIG, 202, big, sizeof(big)));
	CHECK(strcmp(big, "/api/v1/jobs/1") == 0);
	segment_path(big, segment, sizeof(segment));
	json_decref(wait_state(big, "running"));
	wait_file(segment, 1);
	check_answered_while_running(big);
	check_queue();
	check_cancel_running(big, segment);
	check_queue_ran();
	check_sigterm();
	/* The budgets only a run can tell. */
	api_daemon_start(&env, "api:\n  rate_per_s: 1000000\n  sim_time_max: 3s\n"
			       "  sim_events_max: 2000\n");
	check_budget(SLOW, "time_budget", "api.sim_time_max");
	check_budget(EVENTFUL, "event_budget", "api.sim_events_max");
	api_daemon_stop(&env);
	check_kill9_leftover();
	env.passed = 1;
	printf("api sim: jobs, budgets, cancels and a stop (%d answers checked)\n", env.checked);
	return 0;
}

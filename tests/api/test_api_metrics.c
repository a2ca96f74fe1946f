/* SPDX-License-Identifier: MIT */
/*
 * tests/api/test_api_metrics.c
 * Goal: what the API serves beyond the domain's state. GET /api/v1/metrics gives the DMA
 * figures of the live domain (full availability once every VNode is owned; after a worker
 * is killed, an ownership change, a lower stability and a timed recovery) and honours
 * points; GET /metrics is Prometheus text with HELP and TYPE before every sample, the
 * daemon's build among them (pflight_build_info, as `pflightd --version` says it); POST
 * /api/v1/sim runs the simulator as a job (with the token), gives the same result for the
 * same body and another for another seed, and refuses bad options naming the field; /, /app.js and
 * /style.css are the dashboard, as files. Method: the real pflightd and three example counter
 * workers; every answer is checked against the OpenAPI document (api_client.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "pflight/pflight.h"
#include "tests/common/api_client.h"
#include "tests/common/proc_util.h"
#include "tools/common/build_info.h"
#include "tests/common/test_util.h"

#define WAIT_NS (30ull * 1000000000ull)
#define VNODES 24

static struct api_env env;

static double real(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : -1.0;
}

/* The metrics once cond(doc) holds (polled; 503 before the first sample). */
static json_t *metrics_when(int (*cond)(json_t *doc))
{
	uint64_t deadline = proc_now_ns() + WAIT_NS;
	struct api_resp r = {0};

	while (proc_now_ns() < deadline) {
		long st = api_call(&env, "GET", "/api/v1/metrics", NULL, API_TOKEN_NONE, &r);

		if (st == 200 && cond(r.doc)) {
			json_t *doc = json_incref(r.doc);

			api_resp_free(&r);
			return doc;
		}
		CHECK(st == 200 || st == 503);
		if (proc_now_ns() + 200000000u >= deadline)
			fprintf(stderr, "metrics, last seen: %.2000s\n",
				r.body != NULL ? r.body : "");
		api_resp_free(&r);
		(void)usleep(100000);
	}
	CHECK(0);
	return NULL;
}

static int all_owned(json_t *doc)
{
	json_t *w = json_object_get(doc, "window");

	return api_int(doc, "vnodes_owned") == VNODES && real(w, "availability") > 0.0;
}

static int recovered(json_t *doc)
{
	json_t *w = json_object_get(doc, "window");

	return api_int(w, "recoveries") >= 1 && api_int(doc, "vnodes_owned") == VNODES &&
	       api_int(w, "ownership_changes") >= 1;
}

static void check_live(struct pf_domain *d)
{
	json_t *doc = metrics_when(all_owned), *w, *small;
	pid_t victim = env.workers[0];

	w = json_object_get(doc, "window");
	CHECK(api_int(doc, "members_active") == 3 && real(w, "health") > 0.0);
	CHECK(real(w, "health") <= 100.0 && json_array_size(json_object_get(doc, "series")) >= 1);
	small = api_get(&env, "/api/v1/metrics?points=1", 200);
	CHECK(json_array_size(json_object_get(small, "series")) <= 1);
	json_decref(small);
	json_decref(api_get(&env, "/api/v1/metrics?points=x", 400));
	json_decref(doc);
	CHECK(kill(victim, SIGKILL) == 0 && waitpid(victim, NULL, 0) == victim);
	env.workers[0] = -1;
	doc = metrics_when(recovered);
	w = json_object_get(doc, "window");
	CHECK(real(w, "stability") < 1.0 && real(w, "recovery_p99_s") > 0.0);
	CHECK(real(w, "recovery_p99_s") < 5.0); /* a kill -9 is seen in microseconds */
	printf("metrics: after a kill -9, stability %.3f, recovery p99 %.2f ms, health %.1f\n",
	       real(w, "stability"), real(w, "recovery_p99_s") * 1e3, real(w, "health"));
	json_decref(doc);
	(void)d;
}

static void strip_suffix(char *name, const char *sfx)
{
	size_t n = strlen(name), k = strlen(sfx);

	if (n > k && strcmp(name + n - k, sfx) == 0)
		name[n - k] = '\0';
}

static void check_prometheus(void)
{
	struct api_resp r = {0};
	char ctype[128], rev[128], info[256];

	CHECK(api_call(&env, "GET", "/metrics", NULL, API_TOKEN_NONE, &r) == 200);
	CHECK(api_header(&r, "Content-Type", ctype, sizeof(ctype)) != NULL);
	CHECK(strncmp(ctype, "text/plain; version=0.0.4", 25) == 0);
	CHECK(r.body != NULL && strstr(r.body, "# TYPE pflight_health_score gauge") != NULL);
	CHECK(strstr(r.body, "# HELP pflight_ownership_changes_total ") != NULL);
	CHECK(strstr(r.body, "pflight_recovery_latency_seconds_count ") != NULL);
	/* The daemon's build, as `pflightd --version` says it: a gauge of 1 with it in labels. */
	CHECK(proc_version(env.daemon_path, "pflightd", rev, sizeof(rev)) == 0);
	(void)snprintf(info, sizeof(info),
		       "\npflight_build_info{version=\"%s\",revision=\"%s\"} 1\n",
		       PF_VERSION_STRING, rev);
	CHECK(strstr(r.body, "# TYPE pflight_build_info gauge\n") != NULL);
	CHECK(strstr(r.body, info) != NULL);
	/* Every sample's metric was introduced by a TYPE line before it. */
	for (char *line = r.body; line != NULL && *line != '\0';) {
		char *nl = strchr(line, '\n'), name[128], want[160];
		size_t n = strcspn(line, "{ ");

		if (line[0] != '#' && n > 0 && n < sizeof(name)) {
			memcpy(name, line, n);
			name[n] = '\0';
			strip_suffix(name, "_count"); /* a summary's children */
			strip_suffix(name, "_sum");
			(void)snprintf(want, sizeof(want), "# TYPE %s ", name);
			CHECK(memmem(r.body, (size_t)(line - r.body), want, strlen(want)) != NULL);
		}
		line = nl != NULL ? nl + 1 : NULL;
	}
	api_resp_free(&r);
}

/* POST a simulation: a refusal's error document, or (want 200) the finished job's result. */
static json_t *sim(const char *body, long want)
{
	struct api_resp r = {0};
	char location[64];
	json_t *doc, *job;

	CHECK(api_call(&env, "POST", "/api/v1/sim", body, API_TOKEN_DAEMON, &r) ==
	      (want == 200 ? 202 : want));
	if (want != 200) {
		doc = json_incref(r.doc);
		api_resp_free(&r);
		return doc;
	}
	CHECK(api_header(&r, "Location", location, sizeof(location)) != NULL);
	api_resp_free(&r);
	job = api_job_wait(&env, location, WAIT_NS);
	CHECK(strcmp(api_job_state(job), "done") == 0);
	doc = json_incref(json_object_get(job, "result"));
	json_decref(job);
	return doc;
}

static void check_sim(void)
{
	const char *body = "{\"preset\":\"ai-agents\",\"members\":50,\"vnodes\":1000,"
			   "\"duration_s\":60,\"seed\":3}";
	json_t *a = sim(body, 200), *b = sim(body, 200), *c, *e, *s;

	/* It takes the daemon's job worker and shared memory: the token is needed. */
	CHECK(api_call(&env, "POST", "/api/v1/sim", body, API_TOKEN_NONE, NULL) == 401);

	s = json_object_get(a, "summary");
	CHECK(strcmp(json_string_value(json_object_get(s, "preset")), "ai-agents") == 0);
	CHECK(json_array_size(json_object_get(a, "series")) == 61);
	CHECK(real(s, "health") >= 0.0 && real(s, "health") <= 100.0);
	CHECK(json_equal(a, b)); /* the same body, the same answer */
	c = sim("{\"preset\":\"ai-agents\",\"members\":50,\"vnodes\":1000,\"duration_s\":60,"
		"\"seed\":4}",
		200);
	CHECK(!json_equal(a, c));
	json_decref(sim(NULL, 200)); /* no body: the dma preset's defaults */
	/* A strategy by the library's name overrides the preset's. */
	e = sim("{\"strategy\":\"consistent-hash\",\"members\":10,\"vnodes\":100,"
		"\"duration_s\":5}",
		200);
	CHECK(strcmp(json_string_value(json_object_get(json_object_get(e, "options"), "strategy")),
		     "consistent-hash") == 0);
	CHECK(strcmp(json_string_value(json_object_get(json_object_get(e, "summary"), "strategy")),
		     "consistent-hash") == 0);
	json_decref(e);
	e = sim("{\"strategy\":\"round-robin\"}", 400);
	CHECK(strstr(json_string_value(json_object_get(json_object_get(e, "error"), "message")),
		     "strategy") != NULL);
	json_decref(e);
	e = sim("{\"preset\":\"nope\"}", 400);
	CHECK(strstr(json_string_value(json_object_get(json_object_get(e, "error"), "message")),
		     "preset") != NULL);
	json_decref(e);
	json_decref(sim("{\"members\":5000}", 400));
	json_decref(sim("{\"members\":\"many\"}", 400));
	json_decref(sim("{\"bogus\":1}", 400));
	json_decref(sim("[1]", 400));
	e = sim("{\"duration_s\":3600,\"interval_s\":0.01}", 400);
	CHECK(strstr(json_string_value(json_object_get(json_object_get(e, "error"), "message")),
		     "interval_s") != NULL);
	json_decref(e);
	json_decref(a);
	json_decref(b);
	json_decref(c);
}

static void check_dashboard(void)
{
	static const char *const files[][3] = {{"/", "text/html", "<title>PhoenixFlight"},
					       {"/app.js", "text/javascript", "EventSource"},
					       {"/style.css", "text/css", "--accent"}};

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct api_resp r = {0};
		char ctype[128];

		CHECK(api_call(&env, "GET", files[i][0], NULL, API_TOKEN_NONE, &r) == 200);
		CHECK(api_header(&r, "Content-Type", ctype, sizeof(ctype)) != NULL);
		CHECK(strncmp(ctype, files[i][1], strlen(files[i][1])) == 0);
		CHECK(r.body != NULL && strstr(r.body, files[i][2]) != NULL);
		api_resp_free(&r);
	}
}

int main(int argc, char **argv)
{
	struct pf_domain *d;

	api_env_init(&env, "metrics", argc, argv);
	api_daemon_start(&env, "api:\n  rate_per_s: 1000000\n  metrics_window: 30s\n");
	CHECK(pf_domain_open(env.name, &d) == 0);
	api_workers_start(&env, 3, 16);
	CHECK(pf_vnode_define_range(d, 0, VNODES, NULL) == VNODES);
	check_dashboard();
	check_live(d);
	check_prometheus();
	check_sim();
	api_daemon_stop(&env);
	pf_domain_close(d);
	env.passed = 1;
	printf("api metrics: live figures, a timed recovery, Prometheus text, the simulator and "
	       "the dashboard's files (%d answers checked)\n",
	       env.checked);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * tests/api/test_api_audit.c
 * Goal: placement decisions, the audit log's tail and its verification, the OpenAPI
 * document, and what any path answers: decisions are the scheduler's (placed, with a
 * winner) and honour limit and vnode; the tail is the log file's last records in order
 * and honours tail; verify (a job: 202 and its Location, followed until done, its progress
 * the whole log) says the log is intact with the daemon's key, and says where it is broken
 * once a record is edited; the document served is the file byte for byte;
 * an unknown path is 404, a wrong method 405 with Allow, a body where none is taken 400,
 * and every error is the documented JSON object.
 * Method: the real pflightd and two example counter workers; every answer is also checked
 * against the OpenAPI document (api_client.h).
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
#include "tests/common/test_util.h"

#define WAIT_NS (30ull * 1000000000ull)

static struct api_env env;

static void check_decisions(void)
{
	uint64_t deadline = proc_now_ns() + WAIT_NS;
	json_t *doc = NULL, *d;
	size_t i;

	while (proc_now_ns() < deadline) {
		json_decref(doc);
		doc = api_get(&env, "/api/v1/decisions?limit=1000", 200);
		if (json_array_size(json_object_get(doc, "decisions")) > 0)
			break;
		proc_nap();
	}
	CHECK(json_array_size(json_object_get(doc, "decisions")) > 0);
	json_array_foreach(json_object_get(doc, "decisions"), i, d)
	{
		if (strcmp(json_string_value(json_object_get(d, "outcome")), "placed") == 0)
			CHECK(api_int(d, "winner_slot") >= 0 && api_int(d, "epoch") > 0);
	}
	json_decref(doc);
	doc = api_get(&env, "/api/v1/decisions?limit=2", 200);
	CHECK(json_array_size(json_object_get(doc, "decisions")) <= 2);
	json_decref(doc);
	doc = api_get(&env, "/api/v1/decisions?vnode=0&limit=50", 200);
	json_array_foreach(json_object_get(doc, "decisions"), i, d) CHECK(api_int(d, "vnode") == 0);
	json_decref(doc);
	json_decref(api_get(&env, "/api/v1/decisions?limit=0", 400));
	json_decref(api_get(&env, "/api/v1/decisions?vnode=x", 400));
}

/* The file's last n records, parsed. */
static json_t *file_tail(int n)
{
	static char line[70000];
	json_t *all = json_array();
	FILE *f = fopen(env.audit, "r");

	CHECK(f != NULL);
	while (fgets(line, sizeof(line), f) != NULL)
		json_array_append_new(all, json_loads(line, 0, NULL));
	(void)fclose(f);
	while ((int)json_array_size(all) > n)
		json_array_remove(all, 0);
	return all;
}

static void check_tail(void)
{
	json_t *doc = api_get(&env, "/api/v1/audit?tail=5", 200), *want, *rec;
	json_t *list = json_object_get(doc, "records");
	size_t i;

	int same = 0;

	/* The file's last 5 are the API's 5 (asked again while the auditor was writing). */
	for (int attempt = 0; attempt < 50 && !same; attempt++) {
		if (attempt > 0) {
			json_decref(doc);
			doc = api_get(&env, "/api/v1/audit?tail=5", 200);
			list = json_object_get(doc, "records");
		}
		CHECK(json_array_size(list) == 5);
		want = file_tail(5);
		same = 1;
		json_array_foreach(list, i, rec) same &= json_equal(rec, json_array_get(want, i));
		json_decref(want);
		if (!same)
			(void)usleep(20000);
	}
	CHECK(same);
	json_decref(doc);
	/* The default: the last 20, or all when fewer (bulk changes go in few batch records). */
	same = 0;
	for (int attempt = 0; attempt < 50 && !same; attempt++) {
		doc = api_get(&env, "/api/v1/audit", 200);
		list = json_object_get(doc, "records");
		want = file_tail(20);
		same = json_array_size(list) == json_array_size(want) &&
		       json_array_size(list) <= 20 && json_array_size(list) >= 5;
		json_array_foreach(list, i, rec) same &= json_equal(rec, json_array_get(want, i));
		json_decref(want);
		json_decref(doc);
		if (!same)
			(void)usleep(20000);
	}
	CHECK(same);
	json_decref(api_get(&env, "/api/v1/audit?tail=1001", 400));
	json_decref(api_get(&env, "/api/v1/audit?tail=", 400));
	json_decref(api_get(&env, "/api/v1/audit?n=5", 400));
}

/* A verification, as a job: 202 with its Location; followed until done; its result the
 * verdict and its progress the whole log. Returns the verdict. */
static json_t *verify(void)
{
	struct api_resp r;
	char location[64];
	json_t *job, *result, *progress;

	CHECK(api_call(&env, "POST", "/api/v1/audit/verify", NULL, API_TOKEN_NONE, &r) == 202);
	CHECK(api_header(&r, "Location", location, sizeof(location)) != NULL);
	CHECK(strncmp(location, "/api/v1/jobs/", 13) == 0);
	CHECK(strcmp(json_string_value(json_object_get(r.doc, "kind")), "verify") == 0);
	api_resp_free(&r);
	job = api_job_wait(&env, location, WAIT_NS);
	CHECK(strcmp(api_job_state(job), "done") == 0);
	result = json_incref(json_object_get(job, "result"));
	progress = json_object_get(job, "progress");
	CHECK(result != NULL);
	CHECK(api_int(progress, "records") == api_int(result, "records"));
	CHECK(api_int(progress, "files") == api_int(result, "files"));
	CHECK(api_int(progress, "bytes") > 0);
	CHECK(json_is_false(json_object_get(result, "ok")) ||
	      api_int(progress, "bytes") == api_int(progress, "bytes_total"));
	json_decref(job);
	return result;
}

static void check_verify(void)
{
	json_t *doc = verify();
	char cmd[512];

	CHECK(json_is_true(json_object_get(doc, "ok")) && api_int(doc, "heads") >= 1);
	CHECK(json_is_true(json_object_get(doc, "key_given")) && api_int(doc, "records") > 10);
	CHECK(json_object_get(doc, "broken") == NULL);
	json_decref(doc);
	json_decref(api_get(&env, "/api/v1/audit/verify", 405)); /* a job: POST it */
	/* Edit one early record's subject in place (same length): verify must name it. */
	(void)snprintf(cmd, sizeof(cmd), "sed -i '3s/\"subject\":\"[a-z]/\"subject\":\"Z/' %s",
		       env.audit);
	CHECK(system(cmd) == 0);
	doc = verify();
	CHECK(json_is_false(json_object_get(doc, "ok")));
	CHECK(api_int(json_object_get(doc, "broken"), "line") == 3);
	CHECK(strcmp(json_string_value(json_object_get(json_object_get(doc, "broken"), "fault")),
		     "edited") == 0);
	json_decref(doc);
	json_decref(api_get(&env, "/api/v1/jobs/4000000000", 404));
}

static void check_openapi(void)
{
	struct api_resp r;
	char *file = NULL, cmd[300];

	(void)snprintf(cmd, sizeof(cmd), "cat %s", env.openapi_path);
	CHECK(proc_capture(cmd, &file) == 0);
	CHECK(api_call(&env, "GET", "/api/v1/openapi.json", NULL, API_TOKEN_NONE, &r) == 200);
	CHECK(r.len == strlen(file) && memcmp(r.body, file, r.len) == 0);
	api_resp_free(&r);
	free(file);
}

static void check_paths(void)
{
	struct api_resp r;
	char allow[64];

	json_decref(api_get(&env, "/api/v1/nothing", 404));
	json_decref(api_get(&env, "/api/v2", 404));
	json_decref(api_get(&env, "/index.htm", 404)); /* "/" is the dashboard */
	json_decref(api_get(&env, "/api/v1/", 404));
	json_decref(api_get(&env, "/api/v1/members/0/drain/now", 404));
	CHECK(api_call(&env, "DELETE", "/api/v1/members", NULL, API_TOKEN_DAEMON, &r) == 405);
	CHECK(api_header(&r, "Allow", allow, sizeof(allow)) != NULL && strcmp(allow, "GET") == 0);
	api_resp_free(&r);
	CHECK(api_call(&env, "GET", "/api/v1/members/0/drain", NULL, API_TOKEN_NONE, &r) == 405);
	CHECK(api_header(&r, "Allow", allow, sizeof(allow)) != NULL && strcmp(allow, "POST") == 0);
	api_resp_free(&r);
	CHECK(api_call(&env, "PUT", "/api/v1/vnodes/1/messages", "{}", API_TOKEN_DAEMON, NULL) ==
	      405);
	CHECK(api_call(&env, "POST", "/api/v1", "{}", API_TOKEN_DAEMON, NULL) == 405);
	CHECK(api_call(&env, "GET", "/api/v1/members", "{}", API_TOKEN_NONE, &r) == 400);
	CHECK(strstr(r.body, "unexpected_body") != NULL);
	api_resp_free(&r);
}

int main(int argc, char **argv)
{
	struct pf_domain *d;

	api_env_init(&env, "api-audit", argc, argv);
	api_daemon_start(&env, "api:\n  rate_per_s: 1000000\n"); /* its own rate: not tested here */
	CHECK(pf_domain_open(env.name, &d) == 0);
	api_workers_start(&env, 2, 16);
	CHECK(pf_vnode_define_range(d, 0, 20, NULL) == 20);
	check_decisions();
	check_paths();
	check_openapi();
	for (int i = 0; i < env.nworkers; i++) {
		CHECK(kill(env.workers[i], SIGTERM) == 0);
		CHECK(waitpid(env.workers[i], NULL, 0) == env.workers[i]);
		env.workers[i] = -1;
	}
	(void)usleep(300000); /* the leaves recorded: the log is quiet */
	check_tail();
	check_verify();
	pf_domain_close(d);
	CHECK(kill(env.daemon, SIGKILL) == 0); /* its log is edited: no signed close */
	CHECK(waitpid(env.daemon, NULL, 0) == env.daemon);
	env.daemon = -1;
	printf("api audit: %d answers conform to the OpenAPI document\n", env.checked);
	env.passed = 1;
	return 0;
}

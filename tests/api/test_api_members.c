/* SPDX-License-Identifier: MIT */
/*
 * tests/api/test_api_members.c
 * Goal: the domain summary (with the daemon's version and revision), the members (list,
 * one, drain, retire) and the capabilities answer as documented, agree with what shared
 * memory says, and change the domain only with the bearer token: a drain through the API
 * empties a live worker (its VNodes owned by the others, the request audited as
 * drain_request), a retire ends RETIRED, a second drain of the same member is 409, a slot
 * with nobody 404, and every mutating route refuses a missing or wrong token with 401
 * without touching the member.
 * Method: the real pflightd (API on a free port) and three example counter workers;
 * every answer is also checked against the OpenAPI document (api_client.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "pflight/pflight.h"
#include "tests/common/api_client.h"
#include "tests/common/proc_util.h"
#include "tools/common/build_info.h"
#include "tests/common/test_util.h"

#define WAIT_NS (30ull * 1000000000ull)

static struct api_env env;

static void check_summary(struct pf_domain *d)
{
	struct pf_domain_info di = {.size = sizeof(di)}, after = {.size = sizeof(after)};
	json_t *s = NULL;
	char rev[128];

	/* The summary against shared memory read before and after it: the membership version
	 * may still move (an admission settling) while the request runs; compare only an
	 * answer that no change overlapped. */
	for (int i = 0; i < 100; i++) {
		json_decref(s);
		CHECK(pf_domain_info(d, &di) == 0);
		s = api_get(&env, "/api/v1", 200);
		CHECK(pf_domain_info(d, &after) == 0);
		if (after.membership_version == di.membership_version)
			break;
		proc_nap();
	}
	CHECK(after.membership_version == di.membership_version);
	CHECK(strcmp(json_string_value(json_object_get(s, "domain")), env.name) == 0);
	CHECK(api_int(s, "members_active") == 3 && api_int(s, "members_max") == 8);
	CHECK(api_int(s, "vnodes_max") == 256 && api_int(s, "pid") == env.daemon);
	CHECK(api_int(s, "membership_version") == di.membership_version);
	CHECK(api_int(s, "vnodes_active") + api_int(s, "vnodes_pending") == 24);
	CHECK(api_int(s, "capabilities") == di.caps_count && api_int(s, "uptime_s") >= 0);
	/* The daemon's build, as `pflightd --version` says it. */
	CHECK(proc_version(env.daemon_path, "pflightd", rev, sizeof(rev)) == 0);
	CHECK(strcmp(json_string_value(json_object_get(s, "version")), PF_VERSION_STRING) == 0);
	CHECK(strcmp(json_string_value(json_object_get(s, "revision")), rev) == 0);
	json_decref(s);
}

/* The members the API lists are exactly the live slots, with their pids. */
static void check_members(struct pf_domain *d)
{
	json_t *doc = api_get(&env, "/api/v1/members", 200), *m;
	json_t *list = json_object_get(doc, "members");
	size_t i;
	int seen = 0;

	json_array_foreach(list, i, m)
	{
		struct pf_member_info mi = {.size = sizeof(mi)};
		char path[64];
		json_t *one;

		CHECK(pf_member_info(d, (uint32_t)api_int(m, "slot"), &mi) == 0);
		CHECK(api_int(m, "pid") == mi.pid && api_int(m, "generation") == mi.generation);
		(void)snprintf(path, sizeof(path), "/api/v1/members/%lld", api_int(m, "slot"));
		one = api_get(&env, path, 200);
		CHECK(api_int(one, "pid") == mi.pid);
		CHECK(strcmp(json_string_value(json_object_get(one, "state")), "active") == 0);
		json_decref(one);
		for (int w = 0; w < env.nworkers; w++)
			seen += env.workers[w] == mi.pid;
	}
	CHECK(seen == 3 && json_array_size(list) == 3);
	json_decref(doc);
	for (uint32_t s = 0; s < 8; s++) {
		struct pf_member_info mi = {.size = sizeof(mi)};
		char path[64];

		if (pf_member_info(d, s, &mi) != -ENOENT)
			continue;
		(void)snprintf(path, sizeof(path), "/api/v1/members/%u", s);
		json_decref(api_get(&env, path, 404));
		break;
	}
	json_decref(api_get(&env, "/api/v1/members/4096", 404));
	json_decref(api_get(&env, "/api/v1/members/99999999999", 404));
	json_decref(api_get(&env, "/api/v1/members/abc", 404));
}

static void check_capabilities(void)
{
	json_t *doc = api_get(&env, "/api/v1/capabilities", 200);
	json_t *list = json_object_get(doc, "capabilities"), *c;
	size_t i;
	int counter = 0;

	json_array_foreach(list, i, c)
	{
		if (strcmp(json_string_value(json_object_get(c, "name")), "counter") == 0) {
			counter = 1;
			CHECK(api_int(c, "providers") == 3);
		}
	}
	CHECK(counter);
	json_decref(doc);
}

/* The slot of worker w once ACTIVE. */
static uint32_t slot_of(struct pf_domain *d, int w)
{
	for (uint32_t s = 0; s < 8; s++) {
		struct pf_member_info mi = {.size = sizeof(mi)};

		if (pf_member_info(d, s, &mi) == 0 && mi.pid == env.workers[w] &&
		    mi.state == PF_MEMBER_ACTIVE)
			return s;
	}
	return UINT32_MAX;
}

/* Every mutating route with no token and a wrong one: 401, and nothing changed. */
static void check_auth(struct pf_domain *d, uint32_t slot)
{
	static const char *const routes[] = {"members/%u/drain", "members/%u/retire",
					     "vnodes/%u/migrate", "vnodes/%u/messages"};
	static const char *const bodies[] = {NULL, "{}", "{\"to\":0}", "{\"text\":\"x\"}"};
	struct pf_member_info mi = {.size = sizeof(mi)};
	char wrong[80];

	memset(wrong, 'a', 64);
	wrong[64] = '\0';
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		struct api_resp r;
		char path[64], h[64];

		(void)snprintf(path, sizeof(path), "/api/v1/%s/%u/%s",
			       strncmp(routes[i], "members", 7) == 0 ? "members" : "vnodes", slot,
			       strrchr(routes[i], '/') + 1);
		CHECK(api_call(&env, "POST", path, bodies[i], API_TOKEN_NONE, &r) == 401);
		CHECK(strcmp(json_string_value(
				     json_object_get(json_object_get(r.doc, "error"), "code")),
			     "unauthorized") == 0);
		CHECK(api_header(&r, "WWW-Authenticate", h, sizeof(h)) != NULL);
		api_resp_free(&r);
		CHECK(api_call(&env, "POST", path, bodies[i], wrong, &r) == 401);
		api_resp_free(&r);
		CHECK(api_call(&env, "POST", path, bodies[i], "short", NULL) == 401);
	}
	CHECK(pf_member_info(d, slot, &mi) == 0 && mi.state == PF_MEMBER_ACTIVE);
	CHECK(proc_audit_count(env.audit, "drain_request", NULL, NULL) == 0);
}

static void wait_state(struct pf_domain *d, uint32_t slot, uint32_t state)
{
	uint64_t deadline = proc_now_ns() + WAIT_NS;
	struct pf_member_info mi = {.size = sizeof(mi)};

	while (proc_now_ns() < deadline) {
		if ((pf_member_info(d, slot, &mi) == 0 && mi.state == state) ||
		    (state == PF_MEMBER_FREE && pf_member_info(d, slot, &mi) == -ENOENT))
			return;
		proc_nap();
	}
	fprintf(stderr, "member %u: state %u, want %u\n", slot, mi.state, state);
	CHECK(0);
}

/* Wait until the audit log holds the drain_request with this retire flag. */
static void wait_audit(const char *retire)
{
	uint64_t deadline = proc_now_ns() + WAIT_NS;

	while (proc_audit_count(env.audit, "drain_request", "retire", retire) < 1 &&
	       proc_now_ns() < deadline)
		proc_nap();
	CHECK(proc_audit_count(env.audit, "drain_request", "retire", retire) == 1);
}

static void check_drain_retire(struct pf_domain *d)
{
	uint32_t a = slot_of(d, 0), b = slot_of(d, 1);
	struct api_resp r;
	char path[64];
	int status = 0;

	CHECK(a != UINT32_MAX && b != UINT32_MAX);
	check_auth(d, a);
	(void)snprintf(path, sizeof(path), "/api/v1/members/%u/drain", a);
	CHECK(api_call(&env, "POST", path, NULL, API_TOKEN_DAEMON, &r) == 202);
	CHECK(api_int(r.doc, "slot") == a && json_is_false(json_object_get(r.doc, "retire")));
	api_resp_free(&r);
	CHECK(api_call(&env, "POST", path, "{}", API_TOKEN_DAEMON, NULL) == 409);
	/* The worker leaves once drained; its VNodes are owned by the others. */
	CHECK(waitpid(env.workers[0], &status, 0) == env.workers[0]);
	env.workers[0] = -1;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	wait_state(d, a, PF_MEMBER_FREE);
	wait_audit("false");
	(void)snprintf(path, sizeof(path), "/api/v1/members/%u/retire", b);
	CHECK(api_call(&env, "POST", path, "{}", API_TOKEN_DAEMON, &r) == 202);
	CHECK(json_is_true(json_object_get(r.doc, "retire")));
	api_resp_free(&r);
	CHECK(waitpid(env.workers[1], &status, 0) == env.workers[1]);
	env.workers[1] = -1;
	wait_state(d, b, PF_MEMBER_RETIRED);
	wait_audit("true");
	(void)snprintf(path, sizeof(path), "/api/v1/members/%u/drain", b);
	CHECK(api_call(&env, "POST", path, NULL, API_TOKEN_DAEMON, NULL) == 404);
	CHECK(api_call(&env, "POST", "/api/v1/members/4096/drain", NULL, API_TOKEN_DAEMON, NULL) ==
	      404);
	CHECK(api_call(&env, "POST", path, "{\"now\":true}", API_TOKEN_DAEMON, NULL) == 400);
	CHECK(api_call(&env, "POST", path, "[]", API_TOKEN_DAEMON, NULL) == 400);
}

int main(int argc, char **argv)
{
	struct pf_domain *d;

	api_env_init(&env, "api-members", argc, argv);
	api_daemon_start(&env, "api:\n  rate_per_s: 1000000\n"); /* its own rate: not tested here */
	CHECK(pf_domain_open(env.name, &d) == 0);
	api_workers_start(&env, 3, 16);
	CHECK(pf_vnode_define_range(d, 0, 24, NULL) == 24);
	check_summary(d);
	check_members(d);
	check_capabilities();
	{
		/* No cluster.etcd_endpoints: in no cluster. */
		json_t *cl = api_get(&env, "/api/v1/cluster", 200);

		CHECK(json_is_null(json_object_get(cl, "cluster")));
		json_decref(cl);
	}
	check_drain_retire(d);
	for (int i = 2; i < env.nworkers; i++) {
		CHECK(kill(env.workers[i], SIGTERM) == 0);
		CHECK(waitpid(env.workers[i], NULL, 0) == env.workers[i]);
		env.workers[i] = -1;
	}
	pf_domain_close(d);
	api_daemon_stop(&env);
	/* The stop record sums up the agents: the three joins admitted at the gate, and no
	 * ownership history refused as damaged. */
	CHECK(proc_audit_count(env.audit, "daemon_stop", "admitted", "3") == 1);
	CHECK(proc_audit_count(env.audit, "daemon_stop", "anomalies", "0") == 1);
	CHECK(proc_audit_count(env.audit, "daemon_stop", "vnode_read_errors", "0") == 1);
	printf("api members: %d answers conform to the OpenAPI document\n", env.checked);
	env.passed = 1;
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * tests/api/test_api_vnodes.c
 * Goal: the VNode routes answer as documented and as shared memory says. A cursor walk
 * with a small page visits every VNode defined throughout it exactly once, in id order,
 * while VNodes are defined and moved under it, and ends with next_cursor null; filters
 * by state and owner return exactly the matching VNodes; bad arguments get 400 naming
 * them. The map (GET /vnodes/map) counts what the table and GET /vnodes pages count, its
 * totals are the summary's, and bad ranges or bucket counts get 400. One VNode comes with its
 * lineage from the audit log. A migrate through the API moves a VNode to the member asked for
 * (audited with the client's address) and is 409, 422 or 404 when it cannot be; a message sent as
 * base64 reaches the counter worker byte for byte (its committed counter shows it), and bad
 * messages get 400 or 422. Method: the real pflightd and three example counter workers; every
 * answer is also checked against the OpenAPI document (api_client.h).
 */
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include "pflight/pflight.h"
#include "tests/common/api_client.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"
#include "tools/examples/counter.h"

#define WAIT_NS (30ull * 1000000000ull)
#define FIRST 150u /* defined before the walk */
#define LATER 50u  /* defined during it, above the cursor */

static struct api_env env;

static const char *error_code(json_t *doc)
{
	const char *c = json_string_value(json_object_get(json_object_get(doc, "error"), "code"));

	return c != NULL ? c : "";
}

static void expect_error(const char *method, const char *path, const char *body, long status,
			 const char *code)
{
	struct api_resp r;

	if (api_call(&env, method, path, body, API_TOKEN_DAEMON, &r) != status ||
	    strcmp(error_code(r.doc), code) != 0)
		fprintf(stderr, "%s %s %s: %ld %s, want %ld %s\n", method, path,
			body != NULL ? body : "", r.status, r.body, status, code);
	CHECK(r.status == status && strcmp(error_code(r.doc), code) == 0);
	api_resp_free(&r);
}

/* Wait until the audit log holds n records of event from this client. */
static void wait_audit(const char *event, int n)
{
	uint64_t deadline = proc_now_ns() + WAIT_NS;

	while (proc_audit_count(env.audit, event, "by_api", "127.0.0.1") < n &&
	       proc_now_ns() < deadline)
		proc_nap();
	CHECK(proc_audit_count(env.audit, event, "by_api", "127.0.0.1") == n);
}

static void wait_owned(struct pf_domain *d, uint32_t n)
{
	uint64_t deadline = proc_now_ns() + WAIT_NS;
	uint32_t owned = 0;

	while (proc_now_ns() < deadline) {
		owned = 0;
		for (uint32_t id = 0; id < n; id++) {
			struct pf_vnode_info vi = {.size = sizeof(vi)};

			owned += pf_vnode_info(d, id, &vi) == 0 && vi.state == PF_VNODE_ACTIVE;
		}
		if (owned == n)
			return;
		proc_nap();
	}
	fprintf(stderr, "owned %u of %u\n", owned, n);
	CHECK(0);
}

/* Walk every page of `query`; seen[id] counts visits. Returns the pages. */
static int walk(struct pf_domain *d, const char *query, uint8_t *seen, int define_midway)
{
	char path[256], cursor[64] = "";
	int pages = 0;
	long long last = -1;

	for (;;) {
		json_t *doc, *list, *v, *next;
		size_t i;

		(void)snprintf(path, sizeof(path), "/api/v1/vnodes?%s%s%s", query,
			       cursor[0] != '\0' ? "&cursor=" : "", cursor);
		doc = api_get(&env, path, 200);
		list = json_object_get(doc, "vnodes");
		CHECK(json_array_size(list) <= 7);
		json_array_foreach(list, i, v)
		{
			long long id = api_int(v, "id");

			CHECK(id > last && id < 256);
			last = id;
			seen[id]++;
		}
		next = json_object_get(doc, "next_cursor");
		pages++;
		if (define_midway && pages == 3)
			CHECK(pf_vnode_define_range(d, FIRST, LATER, NULL) == (int)LATER);
		if (json_is_null(next)) {
			json_decref(doc);
			return pages;
		}
		CHECK(json_is_string(next) && json_string_length(next) < sizeof(cursor));
		(void)snprintf(cursor, sizeof(cursor), "%s", json_string_value(next));
		json_decref(doc);
		CHECK(pages < 1000);
	}
}

static void check_walk(struct pf_domain *d)
{
	uint8_t seen[256] = {0};
	int pages = walk(d, "limit=7", seen, 1);

	for (uint32_t id = 0; id < FIRST; id++)
		CHECK(seen[id] == 1);
	for (uint32_t id = FIRST; id < 256; id++)
		CHECK(seen[id] <= 1);
	printf("walk: %d pages of 7 visited each of %u VNodes once\n", pages, FIRST);
	wait_owned(d, FIRST + LATER);
	memset(seen, 0, sizeof(seen));
	(void)walk(d, "limit=7&state=active", seen, 0);
	for (uint32_t id = 0; id < 256; id++)
		CHECK(seen[id] == (id < FIRST + LATER));
}

static void check_filters(struct pf_domain *d)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	uint8_t seen[256] = {0};
	uint32_t owner, want = 0;
	char q[64];

	CHECK(pf_vnode_info(d, 0, &vi) == 0 && vi.state == PF_VNODE_ACTIVE);
	owner = vi.owner_slot;
	for (uint32_t id = 0; id < 256; id++)
		want += pf_vnode_info(d, id, &vi) == 0 && vi.state == PF_VNODE_ACTIVE &&
			vi.owner_slot == owner;
	(void)snprintf(q, sizeof(q), "owner=%u&limit=7", owner);
	(void)walk(d, q, seen, 0);
	for (uint32_t id = 0; id < 256; id++) {
		want -= seen[id];
		CHECK(seen[id] == 0 || (pf_vnode_info(d, id, &vi) == 0 && vi.owner_slot == owner));
	}
	CHECK(want == 0);
	memset(seen, 0, sizeof(seen));
	(void)walk(d, "state=pending", seen, 0);
	for (uint32_t id = 0; id < 256; id++)
		CHECK(seen[id] == 0);
	expect_error("GET", "/api/v1/vnodes?limit=0", NULL, 400, "bad_argument");
	expect_error("GET", "/api/v1/vnodes?limit=1001", NULL, 400, "bad_argument");
	expect_error("GET", "/api/v1/vnodes?limit=-1", NULL, 400, "bad_argument");
	expect_error("GET", "/api/v1/vnodes?limit=1&limit=2", NULL, 400, "duplicate_argument");
	expect_error("GET", "/api/v1/vnodes?state=asleep", NULL, 400, "bad_argument");
	expect_error("GET", "/api/v1/vnodes?owner", NULL, 400, "bad_argument");
	expect_error("GET", "/api/v1/vnodes?page=2", NULL, 400, "unknown_argument");
	expect_error("GET", "/api/v1/vnodes?cursor=12", NULL, 400, "bad_cursor");
}

/* Count the VNodes of one query through GET /vnodes pages. */
static uint32_t walk_count(struct pf_domain *d, const char *query)
{
	uint8_t seen[256] = {0};
	uint32_t n = 0;

	(void)walk(d, query, seen, 0);
	for (uint32_t id = 0; id < 256; id++)
		n += seen[id];
	return n;
}

/* One map's cells against the table itself, its owner rows against GET /vnodes pages. */
static void check_map_doc(struct pf_domain *d, json_t *map, uint32_t from, uint32_t width)
{
	uint32_t nb = (uint32_t)api_int(map, "buckets"), rows_total = 0;
	json_t *row;
	size_t i;

	CHECK(api_int(map, "from") == from && api_int(map, "bucket_width") == width);
	json_array_foreach(json_object_get(map, "owners"), i, row)
	{
		uint32_t slot = (uint32_t)api_int(row, "slot"), sum = 0;
		char q[96];

		for (uint32_t b = 0; b < nb; b++) {
			uint32_t want = 0, got;

			for (uint32_t id = from + b * width; id < from + (b + 1) * width; id++) {
				struct pf_vnode_info vi = {.size = sizeof(vi)};

				want += id < 256 && pf_vnode_info(d, id, &vi) == 0 &&
					vi.state >= PF_VNODE_ACTIVE && vi.owner_slot == slot;
			}
			got = (uint32_t)json_integer_value(
				json_array_get(json_object_get(row, "buckets"), b));
			CHECK(got == want);
			sum += got;
		}
		(void)snprintf(q, sizeof(q), "owner=%u&limit=7&from=%u&to=%u", slot, from,
			       from + nb * width < 256 ? from + nb * width : 256);
		CHECK(api_int(row, "vnodes") == sum && sum == walk_count(d, q));
		rows_total += sum;
	}
	CHECK(api_int(json_object_get(map, "totals"), "owned") == rows_total);
}

/* The map's totals are the summary's, its counts those of the table and of GET /vnodes
 * pages, a bucket drills down to its VNodes, and bad queries are refused. */
static void check_map(struct pf_domain *d)
{
	json_t *sum = api_get(&env, "/api/v1", 200);
	json_t *map = api_get(&env, "/api/v1/vnodes/map?buckets=16", 200);
	json_t *tot = json_object_get(map, "totals");

	CHECK(api_int(map, "buckets") == 16 && api_int(map, "to") == 256);
	CHECK(api_int(tot, "owned") == api_int(sum, "vnodes_active"));
	CHECK(api_int(tot, "pending") == api_int(sum, "vnodes_pending"));
	CHECK(api_int(tot, "defined") == FIRST + LATER && api_int(tot, "unassigned") == 56);
	CHECK(api_int(tot, "invalid") == 0);
	check_map_doc(d, map, 0, 16);
	json_decref(map);
	json_decref(sum);
	map = api_get(&env, "/api/v1/vnodes/map?from=190&to=210&buckets=20", 200);
	CHECK(api_int(map, "buckets") == 20 &&
	      api_int(json_object_get(map, "totals"), "defined") == 10);
	check_map_doc(d, map, 190, 1);
	json_decref(map);
	map = api_get(&env, "/api/v1/vnodes/map?from=0&to=100&buckets=3", 200);
	CHECK(api_int(map, "buckets") == 3 && api_int(map, "bucket_width") == 34);
	json_decref(map);
	CHECK(walk_count(d, "from=190&to=210&limit=7") == 10);
	CHECK(walk_count(d, "from=250") == 0);
	expect_error("GET", "/api/v1/vnodes/map?buckets=0", NULL, 400, "bad_argument");
	expect_error("GET", "/api/v1/vnodes/map?buckets=1025", NULL, 400, "too_many_buckets");
	expect_error("GET", "/api/v1/vnodes/map?from=256", NULL, 400, "bad_range");
	expect_error("GET", "/api/v1/vnodes/map?to=257", NULL, 400, "bad_range");
	expect_error("GET", "/api/v1/vnodes/map?from=10&to=10", NULL, 400, "bad_range");
	expect_error("GET", "/api/v1/vnodes/map?to=0", NULL, 400, "bad_argument");
	expect_error("GET", "/api/v1/vnodes/map?owner=1", NULL, 400, "unknown_argument");
	expect_error("GET", "/api/v1/vnodes?to=257", NULL, 400, "bad_range");
	expect_error("GET", "/api/v1/vnodes?from=20&to=10", NULL, 400, "bad_range");
}

static void check_one(void)
{
	json_t *v = api_get(&env, "/api/v1/vnodes/3", 200), *rec;
	long long last = 0;
	size_t i;

	CHECK(api_int(v, "id") == 3 && json_array_size(json_object_get(v, "lineage")) >= 1);
	CHECK(api_int(v, "lineage_omitted") == 0);
	json_array_foreach(json_object_get(v, "lineage"), i, rec)
	{
		CHECK(api_int(rec, "vnode") == 3 && api_int(rec, "seq") > last);
		last = api_int(rec, "seq");
	}
	json_decref(v);
	json_decref(api_get(&env, "/api/v1/vnodes/250", 404));
	json_decref(api_get(&env, "/api/v1/vnodes/256", 404));
	json_decref(api_get(&env, "/api/v1/vnodes/4294967295", 404));
	json_decref(api_get(&env, "/api/v1/vnodes/4294967296", 404));
}

static uint32_t other_active(struct pf_domain *d, uint32_t not_slot)
{
	for (uint32_t s = 0; s < 8; s++) {
		struct pf_member_info mi = {.size = sizeof(mi)};

		if (s != not_slot && pf_member_info(d, s, &mi) == 0 && mi.state == PF_MEMBER_ACTIVE)
			return s;
	}
	return UINT32_MAX;
}

static void check_migrate(struct pf_domain *d)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	uint64_t deadline = proc_now_ns() + WAIT_NS;
	uint32_t to;
	char body[64];
	struct api_resp r;

	CHECK(pf_vnode_info(d, 5, &vi) == 0 && vi.state == PF_VNODE_ACTIVE);
	to = other_active(d, vi.owner_slot);
	CHECK(to != UINT32_MAX);
	(void)snprintf(body, sizeof(body), "{\"to\":%u}", to);
	CHECK(api_call(&env, "POST", "/api/v1/vnodes/5/migrate", body, API_TOKEN_DAEMON, &r) ==
	      202);
	CHECK(api_int(r.doc, "from") == vi.owner_slot && api_int(r.doc, "to_slot") == to);
	api_resp_free(&r);
	while ((pf_vnode_info(d, 5, &vi) != 0 || vi.owner_slot != to ||
		vi.state != PF_VNODE_ACTIVE) &&
	       proc_now_ns() < deadline)
		proc_nap();
	CHECK(vi.owner_slot == to);
	wait_audit("migrate_request", 1);
	expect_error("POST", "/api/v1/vnodes/5/migrate", body, 409, "already_there");
	for (uint32_t s = 0; s < 8; s++) {
		struct pf_member_info mi = {.size = sizeof(mi)};
		char free_body[32];

		if (pf_member_info(d, s, &mi) != -ENOENT)
			continue;
		(void)snprintf(free_body, sizeof(free_body), "{\"to\":%u}", s);
		expect_error("POST", "/api/v1/vnodes/5/migrate", free_body, 422, "no_member");
		break;
	}
	expect_error("POST", "/api/v1/vnodes/5/migrate", "{\"to\":4096}", 422, "no_member");
	expect_error("POST", "/api/v1/vnodes/250/migrate", body, 404, "no_vnode");
	expect_error("POST", "/api/v1/vnodes/5/migrate", "{\"to\":\"1\"}", 400, "wrong_type");
	expect_error("POST", "/api/v1/vnodes/5/migrate", "{\"to\":-1}", 400, "wrong_type");
	expect_error("POST", "/api/v1/vnodes/5/migrate", "{\"to\":1.0}", 400, "wrong_type");
	expect_error("POST", "/api/v1/vnodes/5/migrate", "{}", 400, "missing_field");
	expect_error("POST", "/api/v1/vnodes/5/migrate", "{\"to\":1,\"now\":1}", 400,
		     "unknown_field");
	expect_error("POST", "/api/v1/vnodes/5/migrate", "{\"to\":1,\"to\":2}", 400,
		     "malformed_json");
	expect_error("POST", "/api/v1/vnodes/5/migrate", "{\"to\":", 400, "malformed_json");
	expect_error("POST", "/api/v1/vnodes/5/migrate", "[1]", 400, "not_an_object");
	expect_error("POST", "/api/v1/vnodes/5/migrate", "", 400, "missing_body");
	wait_audit("migrate_refused", 2); /* already_there, no_member; the rest never asked */
}

static void check_messages(struct pf_domain *d)
{
	struct counter_msg m = {.vnode = 9, .seq = 1, .inc = 5};
	struct counter_state st;
	char b64[128], body[256], big[600];
	uint64_t deadline = proc_now_ns() + WAIT_NS;
	size_t len = 0;
	struct api_resp r;

	(void)sodium_bin2base64(b64, sizeof(b64), (const unsigned char *)&m, sizeof(m),
				sodium_base64_VARIANT_ORIGINAL);
	(void)snprintf(body, sizeof(body), "{\"base64\":\"%s\"}", b64);
	CHECK(api_call(&env, "POST", "/api/v1/vnodes/9/messages", body, API_TOKEN_DAEMON, &r) ==
	      202);
	CHECK(api_int(r.doc, "bytes") == (long long)sizeof(m) && api_int(r.doc, "vnode") == 9);
	api_resp_free(&r);
	memset(&st, 0, sizeof(st));
	while (st.applied == 0 && proc_now_ns() < deadline) {
		(void)pf_checkpoint_read(d, 9, &st, sizeof(st), &len, NULL);
		proc_nap();
	}
	CHECK(st.applied == 1 && st.value == 5 && st.last_seq == 1 && st.malformed == 0);
	CHECK(api_call(&env, "POST", "/api/v1/vnodes/10/messages", "{\"text\":\"hello\"}",
		       API_TOKEN_DAEMON, &r) == 202);
	CHECK(api_int(r.doc, "bytes") == 5);
	api_resp_free(&r);
	memset(big, 'x', 241);
	(void)snprintf(body, sizeof(body), "{\"text\":\"%.241s\"}", big);
	expect_error("POST", "/api/v1/vnodes/9/messages", body, 422, "message_too_large");
	expect_error("POST", "/api/v1/vnodes/9/messages", "{\"text\":\"a\",\"base64\":\"YQ==\"}",
		     400, "conflicting_fields");
	expect_error("POST", "/api/v1/vnodes/9/messages", "{}", 400, "missing_field");
	expect_error("POST", "/api/v1/vnodes/9/messages", "{\"base64\":\"!!!\"}", 400,
		     "bad_base64");
	expect_error("POST", "/api/v1/vnodes/9/messages", "{\"text\":5}", 400, "wrong_type");
	expect_error("POST", "/api/v1/vnodes/250/messages", "{\"text\":\"a\"}", 404, "no_vnode");
	expect_error("POST", "/api/v1/vnodes/9/messages", "{\"text\":\"\\u0000\"}", 400,
		     "malformed_json");
}

int main(int argc, char **argv)
{
	struct pf_domain *d;

	api_env_init(&env, "api-vnodes", argc, argv);
	api_daemon_start(&env, "scheduling:\n  rebalance:\n    moves_fraction: 0\n"
			       "api:\n  rate_per_s: 1000000\n");
	CHECK(pf_domain_open(env.name, &d) == 0);
	api_workers_start(&env, 3, 100);
	CHECK(pf_vnode_define_range(d, 0, FIRST, NULL) == (int)FIRST);
	wait_owned(d, FIRST);
	check_walk(d);
	check_filters(d);
	check_map(d);
	check_one();
	check_migrate(d);
	check_messages(d);
	for (int i = 0; i < env.nworkers; i++) {
		CHECK(kill(env.workers[i], SIGTERM) == 0);
		CHECK(waitpid(env.workers[i], NULL, 0) == env.workers[i]);
		env.workers[i] = -1;
	}
	pf_domain_close(d);
	api_daemon_stop(&env);
	printf("api vnodes: %d answers conform to the OpenAPI document\n", env.checked);
	env.passed = 1;
	return 0;
}

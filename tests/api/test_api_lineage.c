/* SPDX-License-Identifier: MIT */
/*
 * tests/api/test_api_lineage.c
 * Goal: GET /api/v1/vnodes/{id} serves a VNode's lineage without reading the audit log
 * through. On a log of tens of megabytes, five requests together make the daemon read less
 * than a tenth of it (its own count of bytes read, /proc/<pid>/io rchar; a walk of the
 * files reads all of it for each request), and what they show is exactly the newest 256
 * records pf_audit_lineage() finds by walking the files, with lineage_omitted counting
 * the rest; a VNode with no record shows none; a restarted daemon rebuilds the same. A
 * verification of that log runs as a job: while it runs, other requests are answered and
 * it shows records and bytes checked part of the way; done, its progress is the whole log.
 * Method: the test writes the log itself, signed with the key it then leaves where the
 * daemon looks for its own, and creates the domain with its VNodes defined; the real
 * pflightd adopts both (VNodes found at start are not recorded again, so the log stays the
 * test's). Every answer is checked against the OpenAPI document (api_client.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "pflight/pflight.h"
#include "tests/common/api_client.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"

#define RECORDS 40000u /* about 600 bytes each: a log of about 24 MB */
#define VNODES 100u    /* records go round them: 400 each */
#define VNODE 5u       /* the one asked for */
#define QUIET 150u     /* defined, never recorded */
#define REQUESTS 5
#define LINEAGE_MAX 256 /* what the API shows */

static struct api_env env;

/* The log, as a daemon would have written it, with the key the daemon will find. */
static uint64_t write_log(void)
{
	unsigned char pk[PF_AUDIT_PUBLIC_KEY_BYTES], sk[PF_AUDIT_SECRET_KEY_BYTES];
	char key[160], pub[170], details[512], pad[401];
	struct pf_audit_opts o;
	struct pf_audit *log;
	struct stat st;

	(void)snprintf(key, sizeof(key), "%s.key", env.audit);
	(void)snprintf(pub, sizeof(pub), "%s.key.pub", env.audit);
	CHECK(pf_audit_keygen(pk, sk) == 0);
	CHECK(pf_audit_key_save(key, pub, pk, sk, NULL) == 0);
	pf_audit_opts_init(&o);
	o.secret_key = sk;
	o.fsync_policy = PF_AUDIT_FSYNC_HEAD;
	CHECK(pf_audit_open(env.audit, &o, &log, NULL) == 0);
	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	for (uint32_t i = 0; i < RECORDS; i++) {
		char subject[32];

		(void)snprintf(subject, sizeof(subject), "vnode:%u", i % VNODES);
		(void)snprintf(details, sizeof(details),
			       "{\"epoch\":%u,\"member\":\"%u.1\",\"pad\":\"%s\"}", i / VNODES + 1,
			       i % 7, pad);
		CHECK(pf_audit_append(log, "claim", subject, details, i % VNODES, NULL) == 0);
	}
	CHECK(pf_audit_close(log) == 0);
	CHECK(stat(env.audit, &st) == 0);
	return (uint64_t)st.st_size;
}

/* The domain the daemon adopts: its VNodes defined, nobody to place them. */
static void make_domain(void)
{
	struct pf_domain_opts o;
	struct pf_domain *d;

	pf_domain_opts_init(&o);
	o.members_max = 8;
	o.vnodes_max = 256;
	CHECK(pf_domain_create(env.name, &o, &d) == 0);
	CHECK(pf_vnode_define_range(d, 0, 256, NULL) == 256);
	pf_domain_close(d);
}

/* Bytes the daemon has read (read(2), pread(2)...) since it started. */
static uint64_t daemon_rchar(void)
{
	char path[64], *text = NULL, *p;
	unsigned long long v = 0;

	(void)snprintf(path, sizeof(path), "cat /proc/%d/io", (int)env.daemon);
	CHECK(proc_capture(path, &text) == 0 && text != NULL);
	p = strstr(text, "rchar: ");
	CHECK(p != NULL && sscanf(p, "rchar: %llu", &v) == 1);
	free(text);
	return v;
}

static int collect(const struct pf_audit_record *r, void *arg)
{
	CHECK(json_array_append_new(arg, json_loads(r->line, 0, NULL)) == 0);
	return 0;
}

/* The API's lineage is the walk's newest LINEAGE_MAX records, omitted the others. */
static void check_same(json_t *doc, uint32_t id)
{
	json_t *walk = json_array(), *shown = json_object_get(doc, "lineage");
	int n = pf_audit_lineage(env.audit, id, collect, walk);
	size_t first = n > LINEAGE_MAX ? (size_t)n - LINEAGE_MAX : 0;

	CHECK(n >= 0);
	CHECK(json_array_size(shown) == (size_t)n - first);
	CHECK(api_int(doc, "lineage_omitted") == (long long)first);
	for (size_t i = 0; i < json_array_size(shown); i++)
		CHECK(json_equal(json_array_get(shown, i), json_array_get(walk, first + i)));
	json_decref(walk);
}

static void check_lineage(uint64_t log_bytes)
{
	char path[64];
	uint64_t before, read_bytes;
	json_t *doc = NULL;

	(void)snprintf(path, sizeof(path), "/api/v1/vnodes/%u", VNODE);
	before = daemon_rchar();
	for (int i = 0; i < REQUESTS; i++) {
		json_decref(doc);
		doc = api_get(&env, path, 200);
	}
	read_bytes = daemon_rchar() - before;
	printf("api lineage: %d requests read %llu bytes of a %llu-byte log\n", REQUESTS,
	       (unsigned long long)read_bytes, (unsigned long long)log_bytes);
	CHECK(read_bytes < log_bytes / 10);
	check_same(doc, VNODE);
	CHECK(api_int(doc, "lineage_omitted") == RECORDS / VNODES - LINEAGE_MAX);
	json_decref(doc);
	(void)snprintf(path, sizeof(path), "/api/v1/vnodes/%u", QUIET);
	doc = api_get(&env, path, 200);
	CHECK(json_array_size(json_object_get(doc, "lineage")) == 0);
	CHECK(api_int(doc, "lineage_omitted") == 0);
	json_decref(doc);
}

/* POST a verification; follow it: seen running part of the way while a lineage request is
 * answered, then done over the whole log. */
static void check_verify_job(void)
{
	struct api_resp r;
	char location[64], path[64];
	uint64_t deadline = proc_now_ns() + 120ull * 1000000000ull;
	int partway = 0;
	json_t *job = NULL;

	CHECK(api_call(&env, "POST", "/api/v1/audit/verify", NULL, API_TOKEN_NONE, &r) == 202);
	CHECK(api_header(&r, "Location", location, sizeof(location)) != NULL);
	api_resp_free(&r);
	(void)snprintf(path, sizeof(path), "/api/v1/vnodes/%u", VNODE);
	do {
		json_t *progress;

		json_decref(job);
		json_decref(api_get(&env, path, 200));
		job = api_get(&env, location, 200);
		progress = json_object_get(job, "progress");
		if (strcmp(api_job_state(job), "running") == 0 &&
		    api_int(progress, "records") > 0 &&
		    api_int(progress, "bytes") < api_int(progress, "bytes_total"))
			partway++;
		(void)usleep(20000);
	} while (strcmp(api_job_state(job), "done") != 0 && proc_now_ns() < deadline);
	CHECK(strcmp(api_job_state(job), "done") == 0);
	printf("api lineage: the verification was seen part of the way %d times\n", partway);
	CHECK(partway > 0);
	CHECK(api_int(json_object_get(job, "progress"), "bytes") ==
	      api_int(json_object_get(job, "progress"), "bytes_total"));
	CHECK(json_is_true(json_object_get(json_object_get(job, "result"), "ok")));
	json_decref(job);
}

int main(int argc, char **argv)
{
	uint64_t log_bytes;

	api_env_init(&env, "api-lineage", argc, argv);
	log_bytes = write_log();
	CHECK(log_bytes > 16u << 20);
	make_domain();
	api_daemon_start(&env, "api:\n  rate_per_s: 1000000\n");
	check_lineage(log_bytes);
	api_daemon_stop(&env);
	api_daemon_start(&env, "api:\n  rate_per_s: 1000000\n"); /* the index rebuilt */
	check_lineage(log_bytes);
	check_verify_job();
	api_daemon_stop(&env);
	env.passed = 1;
	printf("api lineage: served from the index (%d answers checked)\n", env.checked);
	return 0;
}

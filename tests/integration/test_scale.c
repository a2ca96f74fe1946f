/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_scale.c
 * Goal: a host holds a domain at scale end to end: pflightd with `vnodes_max: N` (every
 * other setting its default), four example counter workers, and all N VNodes defined at
 * once; then every VNode is owned by a live member and adopted within a generous deadline,
 * no member is declared hung or dead on the way (the audit log holds no death record, the
 * hung and deaths counters stay 0, the API lists every member as active), the audit log
 * grows by at most 64 bytes per VNode placed, and the REST API counts what the tables hold:
 * GET /api/v1 (members active, VNodes active and pending) against the member and VNode
 * tables, and GET /api/v1/members (each member's VNodes) against the ownership words.
 * Method: the host of tools/demo/scale.h (pflightd and workers as real processes, a private
 * temp directory, the API on a free port). The audit bytes are what every file of the log
 * (rotated ones included) grew by from just before the definition until the log stopped
 * growing for 3 s after the last VNode was adopted: the definitions' records and the
 * placements' together, all that placing N VNodes end to end writes. Every check is made and
 * its figure printed (ok or FAIL) before the test fails, so one run reports them all.
 * Size: N = 262,144 by default (about a minute on an idle two-core machine); the slow suite
 * passes 1,048,576 (the domain maximum) as the third argument. Deadlines scale with N.
 * PF_SCALE_KEEP=1 keeps the temp directory (audit log, logs) for a look afterwards.
 *
 *   test_scale PFLIGHTD WORKER [VNODES]
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pflight/pflight.h"
#include "tools/common/held.h"
#include "tools/demo/scale.h"

#define WORKERS 4u
#define VNODES_DEFAULT 262144u
#define NS_PER_S 1000000000ull
/* Deadlines per 262,144 VNodes: owned and adopted (about 10 s on an idle two-core machine),
 * and the auditor catching up afterwards (about 30 s). */
#define OWNED_S_PER_QUARTER 120ull
#define SETTLE_S_PER_QUARTER 180ull
#define QUIET_NS (3ull * NS_PER_S)
#define BYTES_PER_VNODE_MAX 64.0

static struct scale host;
static int failures;
static int finished;

/* One check: its figure on stdout, ok or FAIL; a failure is counted, not fatal. */
static void expect(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void expect(int ok, const char *fmt, ...)
{
	va_list ap;

	printf("%s ", ok ? "ok  " : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	failures += !ok;
}

/* A setup step that must hold for the rest to mean anything. */
static void require(int ok, const char *what)
{
	if (ok)
		return;
	fprintf(stderr, "test_scale: %s\n", what);
	exit(1);
}

static void print_log_tail(const char *path, long bytes)
{
	char buf[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return;
	fprintf(stderr, "---- %s (its last %ld bytes) ----\n", path, bytes);
	if (fseek(f, -bytes, SEEK_END) != 0)
		rewind(f);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, stderr);
	(void)fclose(f);
}

static void cleanup(void)
{
	const char *keep = getenv("PF_SCALE_KEEP");

	if (!finished || failures > 0) {
		print_log_tail(host.log, 4000);
		print_log_tail(host.workers_log, 2000);
	}
	scale_stop(&host);
	if (keep != NULL && strcmp(keep, "1") == 0)
		fprintf(stderr, "test_scale: kept %s\n", host.dir);
	else
		scale_remove_dir(&host);
}

static json_t *get_json(const char *path)
{
	char *body = NULL;
	int status = scale_get(&host, path, &body, NULL);
	json_t *doc = status == 200 && body != NULL ? json_loads(body, 0, NULL) : NULL;

	if (doc == NULL)
		fprintf(stderr, "test_scale: GET %s: status %d\n", path, status);
	free(body);
	require(doc != NULL, "the API did not answer with a JSON document");
	return doc;
}

static long long jint(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

/* GET /api/v1 against the tables (pf_domain_info() scans the VNode table). */
static void check_summary(void)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	json_t *doc = get_json("/api/v1");

	require(pf_domain_info(host.d, &di) == 0, "pf_domain_info");
	expect(jint(doc, "members_active") == (long long)di.members_active &&
		       di.members_active == WORKERS,
	       "summary: members_active %lld, member table %u, workers %u",
	       jint(doc, "members_active"), di.members_active, WORKERS);
	expect(jint(doc, "vnodes_active") == (long long)di.vnodes_active &&
		       di.vnodes_active == host.vnodes,
	       "summary: vnodes_active %lld, VNode table %u, defined %u",
	       jint(doc, "vnodes_active"), di.vnodes_active, host.vnodes);
	expect(jint(doc, "vnodes_pending") == (long long)di.vnodes_pending &&
		       di.vnodes_pending == 0,
	       "summary: vnodes_pending %lld, VNode table %u", jint(doc, "vnodes_pending"),
	       di.vnodes_pending);
	json_decref(doc);
}

/* GET /api/v1/members: every member active, its VNodes those its ownership words give it. */
static void check_members(void)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	json_t *doc = get_json("/api/v1/members"), *m;
	json_t *list = json_object_get(doc, "members");
	uint32_t *held, live = 0, agree = 0;
	uint64_t api_sum = 0;
	size_t i;

	require(pf_domain_info(host.d, &di) == 0, "pf_domain_info");
	held = calloc(di.members_max, sizeof(*held));
	require(held != NULL && json_is_array(list), "members: no list, or no memory");
	(void)held_count(host.d, host.vnodes, held, di.members_max);
	json_array_foreach(list, i, m)
	{
		const char *state = json_string_value(json_object_get(m, "state"));
		long long slot = jint(m, "slot"), vn = jint(m, "vnodes");
		int same = slot >= 0 && slot < di.members_max && vn == (long long)held[slot];

		live += state != NULL && strcmp(state, "active") == 0;
		agree += same && jint(m, "placed") == 0;
		api_sum += vn > 0 ? (uint64_t)vn : 0;
		if (!same || jint(m, "placed") != 0)
			printf("     member %lld (%s): API %lld VNodes (%lld placed), ownership "
			       "words "
			       "%u\n",
			       slot, state != NULL ? state : "?", vn, jint(m, "placed"),
			       slot >= 0 && slot < di.members_max ? held[slot] : 0);
	}
	expect(json_array_size(list) == WORKERS && live == WORKERS,
	       "members: %zu listed, %u active, of %u workers", json_array_size(list), live,
	       WORKERS);
	expect(agree == json_array_size(list) && api_sum == host.vnodes,
	       "members: %u of %zu count the VNodes their ownership words give them, none left "
	       "unadopted; %llu VNodes in all of %u",
	       agree, json_array_size(list), (unsigned long long)api_sum, host.vnodes);
	free(held);
	json_decref(doc);
}

static void check_no_death(void)
{
	uint64_t deaths = scale_audit_count(&host, "death", NULL, NULL);
	uint64_t hung = scale_counter(&host, PF_COUNTER_HUNG);
	uint64_t dead = scale_counter(&host, PF_COUNTER_DEATHS);

	expect(deaths == 0 && hung == 0 && dead == 0,
	       "liveness: %llu death records in the audit log, counters hung %llu, deaths %llu",
	       (unsigned long long)deaths, (unsigned long long)hung, (unsigned long long)dead);
}

static void run(void)
{
	uint64_t quarters = (host.vnodes + VNODES_DEFAULT - 1) / VNODES_DEFAULT;
	uint64_t owned_ns, adopted_ns, settle_ns, before, after;
	double per;
	int r;

	require(scale_start(&host) == 0, "the host did not come up");
	before = scale_audit_settle(&host, QUIET_NS, 30 * NS_PER_S, NULL);
	r = scale_define_and_wait(&host, quarters * OWNED_S_PER_QUARTER * NS_PER_S, &owned_ns,
				  &adopted_ns);
	expect(r == 0,
	       "placement: %u VNodes defined; all owned after %.1f s, all adopted after %.1f s "
	       "(deadline %llu s)",
	       host.vnodes, owned_ns / 1e9, adopted_ns / 1e9,
	       (unsigned long long)(quarters * OWNED_S_PER_QUARTER));
	require(r == 0, "the VNodes were not all owned and adopted: the rest would not mean much");
	after = scale_audit_settle(&host, QUIET_NS, quarters * SETTLE_S_PER_QUARTER * NS_PER_S,
				   &settle_ns);
	per = (double)(after - before) / host.vnodes;
	expect(per <= BYTES_PER_VNODE_MAX,
	       "audit: %llu bytes written for %u VNodes placed: %.1f bytes per VNode (at most "
	       "%.0f); %llu placement and %llu claim records; caught up %.1f s after adoption",
	       (unsigned long long)(after - before), host.vnodes, per, BYTES_PER_VNODE_MAX,
	       (unsigned long long)scale_audit_count(&host, "placement", NULL, NULL),
	       (unsigned long long)scale_audit_count(&host, "claim", NULL, NULL), settle_ns / 1e9);
	check_no_death();
	check_summary();
	check_members();
}

int main(int argc, char **argv)
{
	uint64_t t0 = scale_now_ns();
	char *end = NULL;
	unsigned long n = VNODES_DEFAULT;

	if (argc == 4) {
		errno = 0;
		n = strtoul(argv[3], &end, 10);
	}
	if (argc < 3 || argc > 4 || (argc == 4 && (errno != 0 || *end != '\0')) || n == 0 ||
	    n > PF_VNODES_MAX) {
		fprintf(stderr, "usage: %s PFLIGHTD WORKER [VNODES (1..%u)]\n", argv[0],
			PF_VNODES_MAX);
		return 2;
	}
	host.daemon_path = argv[1];
	host.worker_path = argv[2];
	host.tag = "scale";
	host.vnodes = (uint32_t)n;
	host.workers = WORKERS;
	host.daemon = -1;
	scale_kill_on_signal(&host);
	require(atexit(cleanup) == 0, "atexit");
	run();
	finished = 1;
	printf("scale: %u VNodes, %u workers: %d checks failed; %.1f s in all\n", host.vnodes,
	       WORKERS, failures, (scale_now_ns() - t0) / 1e9);
	return failures > 0 ? 1 : 0;
}

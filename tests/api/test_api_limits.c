/* SPDX-License-Identifier: MIT */
/*
 * tests/api/test_api_limits.c
 * Goal: nothing a client sends disturbs the daemon or the domain beyond what it asked.
 * Every request of the fuzz corpus (tests/fuzz/api) gets its named status and a JSON
 * answer, and the domain is unchanged afterwards; a chunked body past
 * api.request_bytes_max is 413; a body whose length is given twice (Content-Length with
 * Transfer-Encoding, or either twice) is 400; a client that sends half its headers and stalls is
 * dropped after api.client_timeout while others are served; past api.rate_per_s a client
 * gets 429 with Retry-After and is served again after it; a token file readable by others
 * keeps the API from starting (the log says why; the daemon runs on); api.enabled: false
 * serves nothing; a listen address off loopback without api.allow_remote refuses the
 * manifest (exit 2).
 * Method: the real pflightd, restarted with different api settings over one domain, two
 * example counter workers; every curl answer is also checked against the OpenAPI
 * document (api_client.h).
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pflight/pflight.h"
#include "tests/common/api_client.h"
#include "tests/common/openapi_check.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"

#define CORPUS_BYTES_MAX 65536
#define ANSWER_BYTES_MAX 65536

static struct api_env env;
static const char *corpus_dir;

/* What a replay must leave alone: members and VNodes as they were. */
struct snapshot {
	uint32_t version;
	uint32_t member_state[8];
	uint32_t vnode_state[256];
	uint64_t vnode_epoch[256];
};

static void snap(struct pf_domain *d, struct snapshot *s)
{
	memset(s, 0, sizeof(*s));
	(void)pf_domain_membership(d, &s->version);
	for (uint32_t i = 0; i < 8; i++) {
		struct pf_member_info mi = {.size = sizeof(mi)};

		s->member_state[i] = pf_member_info(d, i, &mi) == 0 ? mi.state : 99;
	}
	for (uint32_t i = 0; i < 256; i++) {
		struct pf_vnode_info vi = {.size = sizeof(vi)};

		if (pf_vnode_info(d, i, &vi) == 0) {
			s->vnode_state[i] = vi.state;
			s->vnode_epoch[i] = vi.epoch;
		}
	}
}

/* The file's bytes with @TOKEN@ replaced by the daemon's token. */
static size_t load_request(const char *path, char *out, size_t cap)
{
	static char raw[CORPUS_BYTES_MAX];
	FILE *f = fopen(path, "rb");
	size_t n, o = 0;

	CHECK(f != NULL);
	n = fread(raw, 1, sizeof(raw), f);
	(void)fclose(f);
	for (size_t i = 0; i < n && o < cap; i++) {
		if (n - i >= 7 && memcmp(raw + i, "@TOKEN@", 7) == 0) {
			size_t t = strlen(env.token);

			CHECK(o + t < cap);
			memcpy(out + o, env.token, t);
			o += t;
			i += 6;
		} else {
			out[o++] = raw[i];
		}
	}
	return o;
}

/* The JSON body of a raw answer (after the blank line), checked against the document as
 * an Error when the status is one. */
static void check_answer(const char *name, int status, const char *answer)
{
	const char *body = strstr(answer, "\r\n\r\n");
	json_t *doc = body != NULL ? json_loads(body + 4, 0, NULL) : NULL;
	char why[512];

	if (doc == NULL)
		fprintf(stderr, "%s: answer not JSON:\n%s\n", name, answer);
	CHECK(doc != NULL);
	if (status >= 400 && oas_validate(env.oas, oas_schema(env.oas, "Error"), doc, "body", why,
					  sizeof(why)) < 0) {
		fprintf(stderr, "%s: %s\n", name, why);
		CHECK(0);
	}
	json_decref(doc);
}

static void replay_corpus(struct pf_domain *d)
{
	static char req[CORPUS_BYTES_MAX + 512], answer[ANSWER_BYTES_MAX];
	struct snapshot before, after;
	DIR *dir = opendir(corpus_dir);
	struct dirent *e;
	int files = 0;

	CHECK(dir != NULL);
	snap(d, &before);
	while ((e = readdir(dir)) != NULL) {
		char path[512];
		size_t n;
		int want, got;

		if (strstr(e->d_name, ".http") == NULL)
			continue;
		(void)snprintf(path, sizeof(path), "%s/%s", corpus_dir, e->d_name);
		want = (int)strtol(e->d_name, NULL, 10);
		n = load_request(path, req, sizeof(req));
		got = api_raw(&env, req, n, answer, sizeof(answer), 5000);
		if (got != want)
			fprintf(stderr, "%s: got %d, want %d\n%s\n", e->d_name, got, want, answer);
		CHECK(got == want);
		check_answer(e->d_name, got, answer);
		files++;
	}
	(void)closedir(dir);
	CHECK(files >= 40);
	CHECK(kill(env.daemon, 0) == 0);
	snap(d, &after);
	CHECK(memcmp(&before, &after, sizeof(before)) == 0);
	printf("limits: %d corpus requests answered as named; the domain is unchanged\n", files);
}

/* Half a request, then silence: dropped after client_timeout, others served meanwhile. */
static void check_slow_client(void)
{
	const char *half = "GET /api/v1 HTTP/1.1\r\nHost: 127.0.0.1\r\n";
	uint64_t t0 = proc_now_ns();
	char buf[256];
	ssize_t n;
	int fd = api_connect(&env);

	CHECK(fd >= 0 && send(fd, half, strlen(half), MSG_NOSIGNAL) == (ssize_t)strlen(half));
	json_decref(api_get(&env, "/api/v1", 200));
	json_decref(api_get(&env, "/api/v1/members", 200));
	CHECK(proc_now_ns() - t0 < 1000000000ull); /* served while the slow one waits */
	n = recv(fd, buf, sizeof(buf), 0);         /* blocks until the server drops it */
	CHECK(n <= 0);
	CHECK(proc_now_ns() - t0 >= 1500000000ull && proc_now_ns() - t0 < 15000000000ull);
	(void)close(fd);
	printf("limits: a stalled client was dropped after %llu ms\n",
	       (unsigned long long)((proc_now_ns() - t0) / 1000000u));
}

static void check_chunked_too_large(void)
{
	static char req[4096];
	char answer[4096];
	int n = snprintf(req, sizeof(req),
			 "POST /api/v1/vnodes/1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			 "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
			 "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n800\r\n",
			 env.token);

	memset(req + n, ' ', 2048);
	memcpy(req + n + 2048, "\r\n0\r\n\r\n", 7);
	CHECK(api_raw(&env, req, (size_t)n + 2048 + 7, answer, sizeof(answer), 5000) == 413);
	check_answer("chunked", 413, answer);
	CHECK(strstr(answer, "too_large") != NULL);
}

/*
 * Content-Length with Transfer-Encoding, or either twice: which length is the body's? The
 * two ends of a connection (a proxy, the daemon) may each pick another one and split the
 * stream into different requests. libmicrohttpd 0.9.75 lets Transfer-Encoding win and
 * takes the first of two Content-Length headers, silently; pflightd refuses all three
 * with 400 before any body is read, on a route that takes a body (the simulator's, with
 * the token it needs). The answer is JSON, so the daemon gave it, not libmicrohttpd.
 */
static void check_ambiguous_length(void)
{
	static const char *const heads[] = {
		"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n",
		"Transfer-Encoding: chunked\r\nContent-Length: 4\r\n",
		"Content-Length: 2\r\nContent-Length: 2\r\n",
		"Transfer-Encoding: chunked\r\ntransfer-encoding: chunked\r\n",
	};
	char req[1024], answer[4096];

	for (size_t i = 0; i < sizeof(heads) / sizeof(heads[0]); i++) {
		const char *body =
			strstr(heads[i], "chunked") != NULL ? "2\r\n{}\r\n0\r\n\r\n" : "{}";
		int n = snprintf(req, sizeof(req),
				 "POST /api/v1/sim HTTP/1.1\r\nHost: 127.0.0.1\r\n"
				 "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
				 "%sConnection: close\r\n\r\n%s",
				 env.token, heads[i], body);
		int got = api_raw(&env, req, (size_t)n, answer, sizeof(answer), 5000);

		if (got != 400 || strstr(answer, "\"ambiguous_length\"") == NULL)
			fprintf(stderr, "length headers %zu: got %d\n%s\n", i, got, answer);
		CHECK(got == 400);
		check_answer("ambiguous length", got, answer);
		CHECK(strstr(answer, "\"ambiguous_length\"") != NULL);
	}
	printf("limits: Content-Length with Transfer-Encoding, or either twice: 400\n");
}

static void check_rate(void)
{
	int limited = 0, ok = 0;
	char retry[16] = "";

	for (int i = 0; i < 30; i++) {
		struct api_resp r;
		long st = api_call(&env, "GET", "/api/v1", NULL, API_TOKEN_NONE, &r);

		if (st == 429 && limited++ == 0)
			CHECK(api_header(&r, "Retry-After", retry, sizeof(retry)) != NULL);
		ok += st == 200;
		api_resp_free(&r);
	}
	printf("limits: 30 requests at once at 5/s: %d served, %d refused (Retry-After %s)\n", ok,
	       limited, retry);
	CHECK(limited > 0 && ok >= 4 && ok <= 12 && atof(retry) >= 1);
	(void)sleep((unsigned)atof(retry) + 1);
	json_decref(api_get(&env, "/api/v1", 200));
}

static void check_no_api(const char *extra, const char *line)
{
	api_daemon_start_bare(&env, extra);
	CHECK(api_log_has(&env, line) && !api_log_has(&env, "api listening on"));
	api_daemon_stop(&env);
}

static void check_token_mode(void)
{
	char path[160];

	(void)snprintf(path, sizeof(path), "%s.api-token", env.audit);
	CHECK(chmod(path, 0644) == 0);
	check_no_api(NULL, "readable or writable by group or others (mode 0644): chmod 0600");
	CHECK(chmod(path, 0600) == 0);
	check_no_api("api:\n  enabled: false\n", "api: disabled");
}

static void check_remote_refused(void)
{
	char log[160];
	char *argv[] = {(char *)env.daemon_path, "--foreground", "--manifest", env.manifest, NULL};
	FILE *f = fopen(env.manifest, "w");

	CHECK(f != NULL);
	fprintf(f,
		"apiVersion: pflight/v1\nkind: Domain\nmetadata:\n  name: %s-x\n"
		"api:\n  listen: 0.0.0.0\n",
		env.name);
	CHECK(fclose(f) == 0);
	(void)snprintf(log, sizeof(log), "%s/refused.log", env.dir);
	CHECK(proc_run(argv, log) == 2);
	CHECK(proc_file_has(log,
			    "'0.0.0.0' is not a loopback address; set api.allow_remote: true"));
}

int main(int argc, char **argv)
{
	struct pf_domain *d;

	CHECK(argc == 5);
	corpus_dir = argv[4];
	api_env_init(&env, "api-limits", argc, argv);
	api_daemon_start(&env, "scheduling:\n  rebalance:\n    moves_fraction: 0\n"
			       "api:\n  client_timeout: 2s\n  rate_per_s: 1000000\n");
	CHECK(pf_domain_open(env.name, &d) == 0);
	api_workers_start(&env, 2, 16);
	CHECK(pf_vnode_define_range(d, 0, 8, NULL) == 8);
	(void)usleep(500000); /* placed and quiet before the snapshot */
	replay_corpus(d);
	check_ambiguous_length();
	check_slow_client();
	api_daemon_stop(&env);
	api_daemon_start(&env, "api:\n  request_bytes_max: 1KiB\n  rate_per_s: 5\n");
	check_chunked_too_large();
	check_rate();
	api_daemon_stop(&env);
	check_token_mode();
	check_remote_refused();
	for (int i = 0; i < env.nworkers; i++) {
		CHECK(kill(env.workers[i], SIGTERM) == 0);
		CHECK(waitpid(env.workers[i], NULL, 0) == env.workers[i]);
		env.workers[i] = -1;
	}
	pf_domain_close(d);
	printf("api limits: %d answers conform to the OpenAPI document\n", env.checked);
	env.passed = 1;
	return 0;
}

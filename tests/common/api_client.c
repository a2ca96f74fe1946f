/* SPDX-License-Identifier: MIT */
/* tests/common/api_client.c: see api_client.h. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pflight/pflight.h"
#include "tests/common/api_client.h"
#include "tests/common/openapi_check.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"

#define START_NS (30ull * 1000000000ull)

static struct api_env *env_for_exit;

static void cleanup(void)
{
	struct api_env *env = env_for_exit;
	char cmd[160];

	for (int i = 0; i < env->nworkers; i++)
		if (env->workers[i] > 0 && kill(env->workers[i], SIGKILL) == 0)
			(void)waitpid(env->workers[i], NULL, 0);
	if (env->daemon > 0 && kill(env->daemon, SIGKILL) == 0)
		(void)waitpid(env->daemon, NULL, 0);
	if (!env->passed) {
		proc_print_file(env->log);
		(void)snprintf(cmd, sizeof(cmd), "%s/workers.log", env->dir);
		proc_print_file(cmd);
	}
	(void)pf_domain_unlink(env->name);
	json_decref(env->oas);
	curl_global_cleanup();
	if (env->passed) {
		(void)snprintf(cmd, sizeof(cmd), "rm -rf %s", env->dir);
		(void)system(cmd);
	}
}

void api_env_init(struct api_env *env, const char *test, int argc, char **argv)
{
	char why[512];

	CHECK(argc >= 4);
	memset(env, 0, sizeof(*env));
	env->daemon_path = argv[1];
	env->worker_path = argv[2];
	env->openapi_path = argv[3];
	env->daemon = -1;
	test_domain_name(env->name, sizeof(env->name), test);
	(void)snprintf(env->dir, sizeof(env->dir), "/tmp/pft-%s-XXXXXX", test);
	CHECK(mkdtemp(env->dir) != NULL);
	(void)snprintf(env->manifest, sizeof(env->manifest), "%s/phoenixfile.yaml", env->dir);
	(void)snprintf(env->log, sizeof(env->log), "%s/pflightd.log", env->dir);
	(void)snprintf(env->audit, sizeof(env->audit), "%s/audit.jsonl", env->dir);
	env->oas = oas_load(env->openapi_path);
	CHECK(env->oas != NULL);
	if (oas_check_document(env->oas, why, sizeof(why)) < 0)
		fprintf(stderr, "openapi: %s\n", why);
	CHECK(oas_check_document(env->oas, why, sizeof(why)) == 0);
	CHECK(curl_global_init(CURL_GLOBAL_DEFAULT) == 0);
	(void)pf_domain_unlink(env->name);
	env_for_exit = env;
	CHECK(atexit(cleanup) == 0);
}

static void read_token(struct api_env *env)
{
	char path[160];
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s.api-token", env->audit);
	f = fopen(path, "r");
	CHECK(f != NULL);
	CHECK(fgets(env->token, sizeof(env->token), f) != NULL);
	(void)fclose(f);
	env->token[strcspn(env->token, "\n")] = '\0';
	CHECK(strlen(env->token) == 64);
}

static void spawn(struct api_env *env, const char *extra)
{
	char *argv[] = {(char *)env->daemon_path,
			"--foreground",
			"--manifest",
			env->manifest,
			"--api-port",
			"0",
			"--log-level",
			"info",
			NULL};
	FILE *f = fopen(env->manifest, "w");

	CHECK(f != NULL);
	fprintf(f,
		"apiVersion: pflight/v1\nkind: Domain\nmetadata:\n  name: %s\n"
		"membership:\n  members_max: 8\n  vnodes_max: 256\n"
		"  heartbeat_interval: 100ms\n  heartbeat_misses: 20\n"
		"governance:\n  audit:\n    path: %s\n    sign_every: 8\n%s",
		env->name, env->audit, extra != NULL ? extra : "");
	CHECK(fclose(f) == 0);
	(void)snprintf(env->log, sizeof(env->log), "%s/pflightd-%d.log", env->dir, ++env->starts);
	env->daemon = proc_spawn(argv, env->log);
	CHECK(proc_wait_log(env->daemon, env->log, " ready: ", START_NS) == 0);
}

void api_daemon_start_bare(struct api_env *env, const char *extra)
{
	spawn(env, extra);
	env->port = 0;
}

void api_daemon_start(struct api_env *env, const char *extra)
{
	spawn(env, extra);
	env->port = proc_api_port(env->log);
	CHECK(env->port > 0);
	read_token(env);
}

void api_daemon_stop(struct api_env *env)
{
	int status = 0;

	CHECK(kill(env->daemon, SIGTERM) == 0);
	CHECK(waitpid(env->daemon, &status, 0) == env->daemon);
	env->daemon = -1;
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

void api_workers_start(struct api_env *env, int n, uint32_t vnodes)
{
	char vn[16], log[160];
	char *argv[] = {(char *)env->worker_path, env->name, vn, NULL};
	uint64_t deadline = proc_now_ns() + START_NS;
	struct pf_domain *d;

	CHECK(env->nworkers + n <= 8);
	(void)snprintf(vn, sizeof(vn), "%u", vnodes);
	(void)snprintf(log, sizeof(log), "%s/workers.log", env->dir);
	for (int i = 0; i < n; i++)
		env->workers[env->nworkers++] = proc_spawn(argv, log);
	CHECK(pf_domain_open(env->name, &d) == 0);
	while (pf_domain_membership(d, NULL) < env->nworkers && proc_now_ns() < deadline)
		proc_nap();
	CHECK(pf_domain_membership(d, NULL) == env->nworkers);
	pf_domain_close(d);
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct api_resp *r = arg;
	char *grown = realloc(r->body, r->len + size * n + 1);

	CHECK(grown != NULL);
	r->body = grown;
	memcpy(r->body + r->len, data, size * n);
	r->len += size * n;
	r->body[r->len] = '\0';
	return size * n;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct api_resp *r = arg;
	size_t used = strlen(r->headers), add = size * n;

	if (used + add < sizeof(r->headers)) {
		memcpy(r->headers + used, data, add);
		r->headers[used + add] = '\0';
	}
	return add;
}

/* Check the answer against the document. */
static void conform(struct api_env *env, const char *method, const char *path, struct api_resp *r)
{
	char bare[512], why[512];

	(void)snprintf(bare, sizeof(bare), "%s", path);
	bare[strcspn(bare, "?")] = '\0';
	/* A body that is not JSON passes only where the document says text. */
	if (oas_check_response(env->oas, method, bare, r->status, r->doc, why, sizeof(why)) < 0) {
		fprintf(stderr, "OpenAPI: %s %s -> %ld: %s\n  body: %.400s\n", method, path,
			r->status, why, r->body);
		CHECK(0);
	}
	env->checked++;
}

long api_call(struct api_env *env, const char *method, const char *path, const char *body,
	      const char *token, struct api_resp *resp)
{
	struct api_resp local, *r = resp != NULL ? resp : &local;
	struct curl_slist *hdrs = NULL;
	char url[600], auth[400];
	CURL *c = curl_easy_init();

	CHECK(c != NULL);
	memset(r, 0, sizeof(*r));
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", env->port, path);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	}
	if (token != API_TOKEN_NONE) {
		(void)snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
			       token == API_TOKEN_DAEMON ? env->token : token);
		hdrs = curl_slist_append(hdrs, auth);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	CHECK(curl_easy_perform(c) == CURLE_OK);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
	curl_slist_free_all(hdrs);
	curl_easy_cleanup(c);
	r->doc = r->body != NULL ? json_loads(r->body, 0, NULL) : NULL;
	conform(env, method, path, r);
	if (r == &local)
		api_resp_free(r);
	return r->status;
}

json_t *api_get(struct api_env *env, const char *path, long want)
{
	struct api_resp r;
	json_t *doc;

	if (api_call(env, "GET", path, NULL, API_TOKEN_NONE, &r) != want)
		fprintf(stderr, "GET %s: %ld, want %ld: %.300s\n", path, r.status, want, r.body);
	CHECK(r.status == want);
	doc = json_incref(r.doc);
	api_resp_free(&r);
	return doc;
}

void api_resp_free(struct api_resp *r)
{
	json_decref(r->doc);
	free(r->body);
	r->doc = NULL;
	r->body = NULL;
}

const char *api_header(const struct api_resp *r, const char *name, char *buf, size_t cap)
{
	size_t n = strlen(name);

	for (const char *p = r->headers; p != NULL && *p != '\0';
	     p = strchr(p, '\n'), p = p ? p + 1 : p) {
		if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
			const char *v = p + n + 1;

			while (*v == ' ')
				v++;
			(void)snprintf(buf, cap, "%.*s", (int)strcspn(v, "\r\n"), v);
			return buf;
		}
	}
	return NULL;
}

int api_connect(const struct api_env *env)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)env->port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		(void)close(fd);
		fd = -1;
	}
	return fd;
}

int api_raw(const struct api_env *env, const void *bytes, size_t len, char *out, size_t cap,
	    int timeout_ms)
{
	int fd = api_connect(env), status = 0;
	size_t got = 0;

	CHECK(fd >= 0 && cap > 0);
	if (len > 0 && send(fd, bytes, len, MSG_NOSIGNAL) < 0 && errno != EPIPE &&
	    errno != ECONNRESET) {
		perror("send");
		CHECK(0);
	}
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, timeout_ms) <= 0)
			break;
		n = recv(fd, out + got, cap - 1 - got, 0);
		if (n <= 0)
			break;
		got += (size_t)n;
		if (got == cap - 1)
			break;
	}
	out[got] = '\0';
	(void)close(fd);
	if (strncmp(out, "HTTP/1.", 7) == 0 && got > 12)
		status = (int)strtol(out + 9, NULL, 10);
	return status;
}

int api_log_has(const struct api_env *env, const char *text)
{
	return proc_file_has(env->log, text);
}

const char *api_job_state(json_t *job)
{
	const char *s = json_string_value(json_object_get(job, "state"));

	return s != NULL ? s : "";
}

json_t *api_job_wait(struct api_env *env, const char *path, uint64_t timeout_ns)
{
	uint64_t deadline = proc_now_ns() + timeout_ns;
	json_t *job = NULL;

	do {
		const char *state;

		json_decref(job);
		job = api_get(env, path, 200);
		state = api_job_state(job);
		if (strcmp(state, "queued") != 0 && strcmp(state, "running") != 0)
			return job;
		(void)usleep(20000);
	} while (proc_now_ns() < deadline);
	fprintf(stderr, "%s did not finish in %llu ms\n", path,
		(unsigned long long)(timeout_ns / 1000000u));
	CHECK(0);
	return NULL;
}

long long api_int(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

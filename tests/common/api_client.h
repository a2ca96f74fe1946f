/* SPDX-License-Identifier: MIT */
/*
 * tests/common/api_client.h: what the REST API tests share: a pflightd started with its
 * API on a free port, requests through libcurl whose every answer is checked against the
 * OpenAPI document (status listed, body valid; tests/common/openapi_check.h), and raw
 * bytes on a socket for what a well-behaved client would never send.
 */
#ifndef PF_TEST_API_CLIENT_H
#define PF_TEST_API_CLIENT_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#define API_TOKEN_NONE ((const char *)0)   /* no Authorization header */
#define API_TOKEN_DAEMON ((const char *)1) /* the daemon's own token */

struct api_env {
	const char *daemon_path;
	const char *worker_path;
	const char *openapi_path;
	char name[64]; /* the domain */
	char dir[64];  /* a mkdtemp() directory for the manifest, log, audit, token */
	char manifest[128];
	char log[128];
	char audit[128];
	char token[300];
	unsigned port;
	pid_t daemon;
	pid_t workers[8];
	int nworkers;
	json_t *oas;
	int starts;  /* daemons started: each logs to pflightd-<n>.log */
	int checked; /* responses checked against the document */
	int passed;
};

struct api_resp {
	long status;
	json_t *doc; /* the body parsed (NULL when not JSON) */
	char *body;
	size_t len;
	char headers[4096];
};

/* Set up env (paths from argv: pflightd, the counter worker, openapi.json), a temp dir and
 * a domain name from test; atexit() cleans up everything, printing the logs on failure. */
void api_env_init(struct api_env *env, const char *test, int argc, char **argv);

/* Write the manifest (a fixed head: name, 8 members, 256 VNodes, the audit log in the temp
 * dir, then `extra` YAML appended), start pflightd with --api-port 0, wait until it is
 * ready and its API listens, read the port and the token. */
void api_daemon_start(struct api_env *env, const char *extra);
/* The same, without waiting for the API (a daemon expected to run without it). */
void api_daemon_start_bare(struct api_env *env, const char *extra);
/* SIGTERM, wait, expect exit status 0. */
void api_daemon_stop(struct api_env *env);

/* Start n counter workers holding up to `vnodes` each; wait until n members are live. */
void api_workers_start(struct api_env *env, int n, uint32_t vnodes);

/* One request (body NULL: none; token: API_TOKEN_NONE, API_TOKEN_DAEMON or a string).
 * The answer is checked against the document (the query cut off the path); a mismatch
 * fails the test. Returns the status; *resp (may be NULL) keeps the answer. */
long api_call(struct api_env *env, const char *method, const char *path, const char *body,
	      const char *token, struct api_resp *resp);
/* GET with no token; the parsed body, owned by the caller; the status must be `want`. */
json_t *api_get(struct api_env *env, const char *path, long want);
void api_resp_free(struct api_resp *r);

/* The value of a response header (case-insensitive name), copied into buf; NULL if none. */
const char *api_header(const struct api_resp *r, const char *name, char *buf, size_t cap);

/* Send raw bytes to the API, read the answer until the server closes or timeout_ms of
 * silence; returns the HTTP status of the first status line (0: none), the answer in out
 * (NUL-terminated, cut at cap). */
int api_raw(const struct api_env *env, const void *bytes, size_t len, char *out, size_t cap,
	    int timeout_ms);

/* A TCP connection to the API (blocking), or -1. */
int api_connect(const struct api_env *env);

/* Whether the daemon's log holds text. */
int api_log_has(const struct api_env *env, const char *text);

/* Follow a job (its path, /api/v1/jobs/N) until it has finished (done, failed or
 * cancelled), at most timeout_ns; its last document, owned by the caller. */
json_t *api_job_wait(struct api_env *env, const char *path, uint64_t timeout_ns);

/* The job's state ("queued", "running", "done", ...), or "". */
const char *api_job_state(json_t *job);

/* json integer member, or -1. */
long long api_int(json_t *o, const char *key);

#endif /* PF_TEST_API_CLIENT_H */

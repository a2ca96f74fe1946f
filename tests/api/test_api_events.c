/* SPDX-License-Identifier: MIT */
/*
 * tests/api/test_api_events.c
 * Goal: GET /api/v1/events streams every audit record as it is appended: a client that
 * connects sees the records of a change made after it connected (id = the record's seq,
 * event = its event, data = the record as stored, valid against the document's
 * AuditRecord); one that comes back with Last-Event-ID gets exactly the records after
 * that id, with no gap; an idle stream gets keep-alive comments; a bad Last-Event-ID is
 * 400; more streams than allowed get 503; and a client that stops reading blocks nobody:
 * the daemon answers other requests and places VNodes while its stream is stuck.
 * Method: the real pflightd (client_timeout 2 s, so keep-alives come every second) and
 * one example counter worker; streams read over raw sockets as HTTP/1.0 (no chunked
 * framing between the events).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pflight/pflight.h"
#include "tests/common/api_client.h"
#include "tests/common/openapi_check.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"

#define WAIT_NS (30ull * 1000000000ull)
#define STREAM_MAX_BYTES (1u << 20)

static struct api_env env;

struct stream {
	int fd;
	char *buf;
	size_t len;
};

static void stream_open(struct stream *s, const char *last_id)
{
	char req[256];
	int n = snprintf(req, sizeof(req),
			 "GET /api/v1/events HTTP/1.0\r\nHost: test\r\n%s%s%s\r\n",
			 last_id != NULL ? "Last-Event-ID: " : "", last_id != NULL ? last_id : "",
			 last_id != NULL ? "\r\n" : "");

	s->fd = api_connect(&env);
	CHECK(s->fd >= 0);
	CHECK(send(s->fd, req, (size_t)n, MSG_NOSIGNAL) == n);
	s->buf = calloc(1, STREAM_MAX_BYTES + 1);
	s->len = 0;
	CHECK(s->buf != NULL);
}

static void stream_close(struct stream *s)
{
	(void)close(s->fd);
	free(s->buf);
	s->buf = NULL;
}

/* Read until text appears in what the stream sent (1), or timeout_ms passes (0). */
static int stream_wait(struct stream *s, const char *text, int timeout_ms)
{
	uint64_t deadline = proc_now_ns() + (uint64_t)timeout_ms * 1000000u;

	while (strstr(s->buf, text) == NULL) {
		struct pollfd p = {.fd = s->fd, .events = POLLIN};
		ssize_t n;

		if (proc_now_ns() >= deadline || s->len == STREAM_MAX_BYTES)
			return 0;
		if (poll(&p, 1, 50) <= 0)
			continue;
		n = recv(s->fd, s->buf + s->len, STREAM_MAX_BYTES - s->len, 0);
		if (n <= 0)
			return strstr(s->buf, text) != NULL;
		s->len += (size_t)n;
		s->buf[s->len] = '\0';
	}
	return 1;
}

/* Read until a record about VNode id shows: alone ("vnode:<id>") or as the last of a batch
 * ("vnodes:<first>-<id>"; the test defines ranges that end there). 1, or 0 at timeout_ms. */
static int stream_wait_vnode(struct stream *s, uint32_t id, int timeout_ms)
{
	char alone[48], batch[48];

	(void)snprintf(alone, sizeof(alone), "\"subject\":\"vnode:%u\"", id);
	(void)snprintf(batch, sizeof(batch), "-%u\",\"time\"", id);
	for (int waited = 0; waited < timeout_ms; waited += 100)
		if (stream_wait(s, alone, 100) || strstr(s->buf, batch) != NULL)
			return 1;
	return 0;
}

/* Check every event of the stream against the document; the ids in order; returns the
 * last id and how many records it held; *first gets the first id. */
static long long stream_events(struct stream *s, long long *first, int *count)
{
	json_t *rec_schema = oas_schema(env.oas, "AuditRecord");
	long long last = -1;
	char why[512];
	const char *p = s->buf;

	*count = 0;
	*first = -1;
	while ((p = strstr(p, "\nid: ")) != NULL) {
		long long id = strtoll(p + 5, NULL, 10);
		const char *data = strstr(p, "\ndata: ");
		json_t *rec;

		CHECK(data != NULL && id > last);
		rec = json_loadb(data + 7, strcspn(data + 7, "\n"), 0, NULL);
		CHECK(rec != NULL && api_int(rec, "seq") == id);
		if (oas_validate(env.oas, rec_schema, rec, "data", why, sizeof(why)) < 0)
			fprintf(stderr, "event %lld: %s\n", id, why);
		CHECK(oas_validate(env.oas, rec_schema, rec, "data", why, sizeof(why)) == 0);
		json_decref(rec);
		if (*first < 0)
			*first = id;
		last = id;
		(*count)++;
		p = data;
	}
	return last;
}

static void check_live_and_resume(struct pf_domain *d)
{
	struct stream a, b;
	long long last, first, first_b;
	int n, nb;
	char id[32];

	stream_open(&a, NULL);
	CHECK(stream_wait(&a, ": audit events of", 5000));
	CHECK(strstr(a.buf, " 200 ") != NULL && strstr(a.buf, "text/event-stream") != NULL);
	CHECK(pf_vnode_define_range(d, 0, 4, NULL) == 4);
	CHECK(stream_wait_vnode(&a, 3, 10000)); /* the four defines: one batch record, or more */
	(void)usleep(200000);
	(void)stream_wait(&a, "no such text", 200);
	last = stream_events(&a, &first, &n);
	CHECK(n >= 1);
	stream_close(&a);
	/* Changes while nobody listens; then resume after the last record seen. */
	CHECK(pf_vnode_define_range(d, 4, 4, NULL) == 4);
	(void)snprintf(id, sizeof(id), "%lld", last);
	stream_open(&b, id);
	CHECK(stream_wait_vnode(&b, 7, 10000));
	(void)stream_events(&b, &first_b, &nb);
	CHECK(first_b == last + 1 && nb >= 1);
	CHECK(strstr(b.buf, "event: gap") == NULL);
	/* Idle: a keep-alive comment within client_timeout / 2 (1 s), and another. */
	CHECK(stream_wait(&b, ": keep-alive\n\n", 3000));
	stream_close(&b);
	printf("events: %d records live, %d resumed after id %lld, keep-alive seen\n", n, nb, last);
}

static void check_refusals(void)
{
	struct stream s[32];
	struct api_resp r;
	char out[2048];
	const char *bad = "GET /api/v1/events HTTP/1.1\r\nHost: t\r\nLast-Event-ID: x1\r\n"
			  "Connection: close\r\n\r\n";

	CHECK(api_raw(&env, bad, strlen(bad), out, sizeof(out), 3000) == 400);
	CHECK(strstr(out, "bad_last_event_id") != NULL);
	/* Streams closed by their clients are found at their next keep-alive writes. */
	(void)usleep(2500000);
	for (int i = 0; i < 32; i++) {
		stream_open(&s[i], NULL);
		CHECK(stream_wait(&s[i], ": audit events of", 5000));
	}
	CHECK(api_call(&env, "GET", "/api/v1/events", NULL, API_TOKEN_NONE, &r) == 503);
	CHECK(strstr(r.body, "too_many_streams") != NULL);
	api_resp_free(&r);
	for (int i = 0; i < 32; i++)
		stream_close(&s[i]);
}

/* A stream whose client never reads: the daemon still answers at once and still places. */
static void check_stuck_reader(struct pf_domain *d)
{
	struct stream s;
	int small = 2048;
	uint64_t worst = 0, deadline;

	stream_open(&s, NULL);
	CHECK(setsockopt(s.fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) == 0);
	CHECK(pf_vnode_define_range(d, 8, 200, NULL) == 200);
	deadline = proc_now_ns() + 4000000000ull;
	while (proc_now_ns() < deadline) {
		uint64_t t0 = proc_now_ns(), dt;

		json_decref(api_get(&env, "/api/v1", 200));
		dt = proc_now_ns() - t0;
		worst = dt > worst ? dt : worst;
		(void)usleep(50000);
	}
	printf("events: a stuck stream open, the slowest other answer took %llu ms\n",
	       (unsigned long long)(worst / 1000000u));
	CHECK(worst < 2000000000ull);
	deadline = proc_now_ns() + WAIT_NS;
	for (;;) {
		json_t *doc = api_get(&env, "/api/v1/vnodes?state=pending&limit=1", 200);
		int done = json_array_size(json_object_get(doc, "vnodes")) == 0;

		json_decref(doc);
		if (done)
			break;
		CHECK(proc_now_ns() < deadline);
		proc_nap();
	}
	stream_close(&s);
}

int main(int argc, char **argv)
{
	struct pf_domain *d;

	api_env_init(&env, "api-events", argc, argv);
	api_daemon_start(&env, "api:\n  client_timeout: 2s\n  rate_per_s: 1000000\n");
	CHECK(pf_domain_open(env.name, &d) == 0);
	api_workers_start(&env, 1, 256);
	check_live_and_resume(d);
	check_refusals();
	check_stuck_reader(d);
	CHECK(kill(env.workers[0], SIGTERM) == 0);
	CHECK(waitpid(env.workers[0], NULL, 0) == env.workers[0]);
	env.workers[0] = -1;
	pf_domain_close(d);
	api_daemon_stop(&env);
	env.passed = 1;
	return 0;
}

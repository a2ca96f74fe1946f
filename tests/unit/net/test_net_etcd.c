/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/net/test_net_etcd.c
 * Goal: the etcd client (net/etcd.h) does what etcd's v3 API does, with every byte of
 * keys and values kept, and fails in the way it says whenever something is wrong: no
 * endpoint, an endpoint that never answers, one that answers nonsense or refuses, a request
 * over etcd's limits (refused before it is sent, nothing written), a lease that expired, a
 * watch whose start was compacted. Transactions that compare a revision let exactly one of
 * two racing writers through, round after round: the fencing the directory is built on.
 * Method: a real etcd (Debian's etcd-server) of one member on loopback ports
 * (tests/common/etcd_fixture.h), two clients on two threads for the races, and a fake
 * HTTP endpoint on a thread for the answers etcd would never give. Skips (77) where etcd
 * is not installed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "net/etcd.h"
#include "shm/pf_atomic.h"
#include "tests/common/etcd_fixture.h"

static struct etcd_fixture ef;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct etcd *client(void)
{
	struct etcd_opts o = {.endpoints = ef.endpoints, .endpoints_count = 1};
	struct etcd *c = NULL;

	assert_int_equal(etcd_create(&o, &c), 0);
	return c;
}

/* ---- keys and values -------------------------------------------------------------- */

static void test_put_get_delete(void **state)
{
	static const uint8_t key[] = {'/', 't', '/', 0x00, 0xff, 0x7f, '\n'};
	uint8_t value[256], prefix_end[8];
	struct etcd *c = client();
	struct etcd_range rg;
	int64_t rev = 0, rev2 = 0, deleted = 0;
	size_t end_len;

	(void)state;
	for (int i = 0; i < 256; i++)
		value[i] = (uint8_t)i;
	assert_int_equal(etcd_put(c, key, sizeof(key), value, sizeof(value), 0, &rev), 0);
	assert_true(rev > 0);
	assert_int_equal(etcd_get(c, key, sizeof(key), NULL, 0, 0, &rg), 0);
	assert_int_equal(rg.count, 1);
	assert_memory_equal(rg.kvs[0].key, key, sizeof(key));
	assert_int_equal(rg.kvs[0].key_len, sizeof(key));
	assert_int_equal(rg.kvs[0].value_len, sizeof(value));
	assert_memory_equal(rg.kvs[0].value, value, sizeof(value));
	assert_int_equal(rg.kvs[0].mod_revision, rev);
	assert_int_equal(rg.kvs[0].version, 1);
	/* An empty value is a value. */
	assert_int_equal(etcd_put(c, key, sizeof(key), NULL, 0, 0, &rev2), 0);
	assert_true(rev2 > rev);
	assert_int_equal(etcd_get(c, key, sizeof(key), NULL, 0, 0, &rg), 0);
	assert_int_equal(rg.count, 1);
	assert_int_equal(rg.kvs[0].value_len, 0);
	assert_int_equal(rg.kvs[0].version, 2);
	assert_int_equal(rg.kvs[0].create_revision, rev);
	/* A prefix of ten keys, two at a time. */
	for (int i = 0; i < 10; i++) {
		char k[32];

		(void)snprintf(k, sizeof(k), "/t/p/%02d", i);
		assert_int_equal(etcd_put(c, k, strlen(k), k, strlen(k), 0, NULL), 0);
	}
	end_len = etcd_prefix_end("/t/p/", 5, prefix_end);
	assert_int_equal(end_len, 5);
	assert_memory_equal(prefix_end, "/t/p0", 5);
	assert_int_equal(etcd_get(c, "/t/p/", 5, prefix_end, end_len, 2, &rg), 0);
	assert_int_equal(rg.count, 2);
	assert_true(rg.more);
	assert_memory_equal(rg.kvs[1].key, "/t/p/01", 7);
	assert_memory_equal(rg.kvs[1].value, "/t/p/01", 7);
	assert_int_equal(etcd_get(c, "/t/p/", 5, prefix_end, end_len, 0, &rg), 0);
	assert_int_equal(rg.count, 10);
	assert_false(rg.more);
	assert_int_equal(etcd_delete(c, "/t/p/", 5, prefix_end, end_len, &deleted), 0);
	assert_int_equal(deleted, 10);
	assert_int_equal(etcd_get(c, "/t/p/", 5, prefix_end, end_len, 0, &rg), 0);
	assert_int_equal(rg.count, 0);
	assert_int_equal(etcd_delete(c, key, sizeof(key), NULL, 0, &deleted), 0);
	assert_int_equal(deleted, 1);
	/* Bad arguments never reach etcd. */
	assert_int_equal(etcd_put(c, NULL, 0, NULL, 0, 0, NULL), -EINVAL);
	assert_int_equal(etcd_get(c, key, sizeof(key), prefix_end, 0, 0, &rg), -EINVAL);
	etcd_destroy(c);
}

static void test_prefix_end(void **state)
{
	uint8_t end[4];

	(void)state;
	assert_int_equal(etcd_prefix_end("a\xff\xff", 3, end), 1);
	assert_int_equal(end[0], 'b');
	assert_int_equal(etcd_prefix_end("\xff\xff", 2, end), 0);
	assert_int_equal(etcd_prefix_end("ab", 2, end), 2);
	assert_memory_equal(end, "ac", 2);
}

/* ---- transactions ----------------------------------------------------------------- */

static void test_txn_compare(void **state)
{
	struct etcd *c = client();
	struct etcd_cmp absent = {.key = "/t/x", .key_len = 4, .target = ETCD_CREATE};
	struct etcd_op put = {
		.type = ETCD_OP_PUT, .key = "/t/x", .key_len = 4, .value = "one", .value_len = 3};
	struct etcd_op get = {.type = ETCD_OP_GET, .key = "/t/x", .key_len = 4};
	struct etcd_range rg;
	bool ok = false;
	int64_t rev = 0;

	(void)state;
	(void)etcd_delete(c, "/t/x", 4, NULL, 0, NULL);
	/* Created only if absent: the first time yes, the second time no, with the value. */
	assert_int_equal(etcd_txn(c, &absent, 1, &put, 1, &get, 1, &ok, &rg, &rev), 0);
	assert_true(ok);
	assert_int_equal(rg.count, 0);
	put.value = "two";
	assert_int_equal(etcd_txn(c, &absent, 1, &put, 1, &get, 1, &ok, &rg, NULL), 0);
	assert_false(ok);
	assert_int_equal(rg.count, 1);
	assert_memory_equal(rg.kvs[0].value, "one", 3);
	assert_int_equal(rg.kvs[0].mod_revision, rev);
	/* A compare on the revision that moved fails; on the current one, holds. */
	absent.target = ETCD_MOD;
	absent.number = rev - 1;
	assert_int_equal(etcd_txn(c, &absent, 1, &put, 1, NULL, 0, &ok, NULL, NULL), 0);
	assert_false(ok);
	absent.number = rev;
	assert_int_equal(etcd_txn(c, &absent, 1, &put, 1, NULL, 0, &ok, NULL, NULL), 0);
	assert_true(ok);
	/* A compare on the value. */
	absent.target = ETCD_VALUE;
	absent.value = "two";
	absent.value_len = 3;
	assert_int_equal(etcd_txn(c, &absent, 1, NULL, 0, NULL, 0, &ok, NULL, NULL), 0);
	assert_true(ok);
	absent.result = ETCD_NOT_EQUAL;
	assert_int_equal(etcd_txn(c, &absent, 1, NULL, 0, NULL, 0, &ok, NULL, NULL), 0);
	assert_false(ok);
	etcd_destroy(c);
}

/* Two writers race for one key RACE_ROUNDS times: each reads its revision, then writes
 * only if it did not move. Every round exactly one wins. */
#define RACE_ROUNDS 100
static pthread_barrier_t race_bar;
static int64_t race_seen[RACE_ROUNDS];
static int race_wins[2][RACE_ROUNDS];

static void *racer(void *arg)
{
	int me = (int)(intptr_t)arg;
	struct etcd *c = client();

	for (int round = 0; round < RACE_ROUNDS; round++) {
		char who = (char)('a' + me);
		struct etcd_cmp cmp = {.key = "/t/race", .key_len = 7, .target = ETCD_MOD};
		struct etcd_op put = {.type = ETCD_OP_PUT,
				      .key = "/t/race",
				      .key_len = 7,
				      .value = &who,
				      .value_len = 1};
		bool ok = false;

		pthread_barrier_wait(&race_bar);
		cmp.number = race_seen[round]; /* the main thread set it before the barrier */
		assert_int_equal(etcd_txn(c, &cmp, 1, &put, 1, NULL, 0, &ok, NULL, NULL), 0);
		race_wins[me][round] = ok;
		pthread_barrier_wait(&race_bar); /* the main thread reads the next revision */
	}
	etcd_destroy(c);
	return NULL;
}

static void test_txn_race(void **state)
{
	struct etcd *c = client();
	pthread_t th[2];
	int wins[2] = {0, 0};

	(void)state;
	assert_int_equal(etcd_put(c, "/t/race", 7, "-", 1, 0, &race_seen[0]), 0);
	pthread_barrier_init(&race_bar, NULL, 3);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, racer, (void *)(intptr_t)i), 0);
	for (int round = 0; round < RACE_ROUNDS; round++) {
		struct etcd_range rg;

		pthread_barrier_wait(&race_bar); /* go */
		pthread_barrier_wait(&race_bar); /* both answered */
		assert_int_equal(race_wins[0][round] + race_wins[1][round], 1);
		wins[0] += race_wins[0][round];
		wins[1] += race_wins[1][round];
		assert_int_equal(etcd_get(c, "/t/race", 7, NULL, 0, 0, &rg), 0);
		assert_int_equal(rg.count, 1);
		assert_int_equal(rg.kvs[0].value[0], race_wins[0][round] ? 'a' : 'b');
		if (round + 1 < RACE_ROUNDS)
			race_seen[round + 1] = rg.kvs[0].mod_revision;
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&race_bar);
	print_message("# %d rounds: a won %d, b won %d, never both, never neither\n", RACE_ROUNDS,
		      wins[0], wins[1]);
	etcd_destroy(c);
}

static void test_limits(void **state)
{
	struct etcd *c = client();
	struct etcd_op ops[ETCD_TXN_OPS_MAX + 1];
	size_t big = ETCD_REQUEST_MAX + 1;
	char *value = calloc(1, big);
	struct etcd_range rg;
	bool ok = true;

	(void)state;
	assert_non_null(value);
	for (unsigned i = 0; i <= ETCD_TXN_OPS_MAX; i++)
		ops[i] = (struct etcd_op){.type = ETCD_OP_PUT, .key = "/t/lim", .key_len = 6};
	assert_int_equal(etcd_txn(c, NULL, 0, ops, ETCD_TXN_OPS_MAX + 1, NULL, 0, &ok, NULL, NULL),
			 -E2BIG);
	assert_non_null(strstr(etcd_error(c), "more than 128"));
	assert_int_equal(etcd_put(c, "/t/lim", 6, value, big, 0, NULL), -E2BIG);
	ops[0].value = value;
	ops[0].value_len = big;
	assert_int_equal(etcd_txn(c, NULL, 0, ops, 1, NULL, 0, &ok, NULL, NULL), -E2BIG);
	assert_int_equal(etcd_get(c, "/t/lim", 6, NULL, 0, 0, &rg), 0);
	assert_int_equal(rg.count, 0); /* nothing was written */
	/* The most a transaction may hold goes through. */
	for (unsigned i = 0; i < ETCD_TXN_OPS_MAX; i++) {
		static char keys[ETCD_TXN_OPS_MAX][16];

		(void)snprintf(keys[i], sizeof(keys[i]), "/t/lim/%03u", i);
		ops[i] = (struct etcd_op){
			.type = ETCD_OP_PUT, .key = keys[i], .key_len = strlen(keys[i])};
	}
	assert_int_equal(etcd_txn(c, NULL, 0, ops, ETCD_TXN_OPS_MAX, NULL, 0, &ok, NULL, NULL), 0);
	assert_true(ok);
	assert_int_equal(etcd_get(c, "/t/lim/", 7, "/t/lim0", 7, 0, &rg), 0);
	assert_int_equal(rg.count, ETCD_TXN_OPS_MAX);
	free(value);
	etcd_destroy(c);
}

/* ---- leases ----------------------------------------------------------------------- */

static void test_lease(void **state)
{
	struct etcd *c = client();
	struct etcd_range rg;
	int64_t id = 0, ttl = 0, id2 = 0;
	uint64_t t0;

	(void)state;
	assert_int_equal(etcd_lease_grant(c, 2, &id, &ttl), 0);
	assert_true(id != 0 && ttl >= 2);
	assert_int_equal(etcd_put(c, "/t/leased", 9, "x", 1, id, NULL), 0);
	assert_int_equal(etcd_get(c, "/t/leased", 9, NULL, 0, 0, &rg), 0);
	assert_int_equal(rg.count, 1);
	assert_int_equal(rg.kvs[0].lease, id);
	assert_int_equal(etcd_lease_keepalive(c, id, &ttl), 0);
	assert_true(ttl >= 2);
	/* Revoked: its key goes at once, and it can be neither kept nor revoked again. */
	assert_int_equal(etcd_lease_revoke(c, id), 0);
	assert_int_equal(etcd_get(c, "/t/leased", 9, NULL, 0, 0, &rg), 0);
	assert_int_equal(rg.count, 0);
	assert_int_equal(etcd_lease_keepalive(c, id, &ttl), -ENOENT);
	assert_int_equal(etcd_lease_revoke(c, id), -ENOENT);
	assert_non_null(strstr(etcd_error(c), "not found"));
	/* Left alone, a lease expires and takes its key with it. */
	assert_int_equal(etcd_lease_grant(c, 2, &id2, &ttl), 0);
	assert_int_equal(etcd_put(c, "/t/leased", 9, "y", 1, id2, NULL), 0);
	t0 = now_ms();
	do {
		usleep(100000);
		assert_int_equal(etcd_get(c, "/t/leased", 9, NULL, 0, 0, &rg), 0);
	} while (rg.count == 1 && now_ms() - t0 < 10000);
	assert_int_equal(rg.count, 0);
	print_message("# a lease of %lld s took its key after %llu ms\n", (long long)ttl,
		      (unsigned long long)(now_ms() - t0));
	assert_true(now_ms() - t0 >= 1000);
	assert_int_equal(etcd_lease_keepalive(c, id2, &ttl), -ENOENT);
	assert_int_equal(etcd_lease_grant(c, 0, &id, NULL), -EINVAL);
	etcd_destroy(c);
}

/* ---- watches ---------------------------------------------------------------------- */

/* Poll until n events came (or 5 s). */
static int collect(struct etcd_watch *w, struct etcd_event *ev, unsigned n, char keys[][16])
{
	unsigned got = 0;
	uint64_t t0 = now_ms();

	while (got < n && now_ms() - t0 < 5000) {
		int r = etcd_watch_poll(w, ev + got, n - got, 100);

		if (r < 0)
			return r;
		for (int i = 0; i < r; i++)
			(void)snprintf(keys[got + (unsigned)i], 16, "%.*s",
				       (int)ev[got + (unsigned)i].kv.key_len,
				       (const char *)ev[got + (unsigned)i].kv.key);
		got += (unsigned)r;
	}
	return (int)got;
}

static void test_watch(void **state)
{
	struct etcd *c = client();
	struct etcd_opts o = {.endpoints = ef.endpoints, .endpoints_count = 1};
	struct etcd_watch *w = NULL, *w2 = NULL;
	struct etcd_event ev[8];
	char keys[8][16];
	int64_t first = 0, rev = 0;

	(void)state;
	assert_int_equal(etcd_watch_create(&o, "/t/w/", 5, "/t/w0", 5, 0, &w), 0);
	assert_int_equal(etcd_watch_poll(w, ev, 8, 300), 0); /* started, nothing yet */
	assert_int_equal(etcd_put(c, "/t/w/a", 6, "1", 1, 0, &first), 0);
	assert_int_equal(etcd_put(c, "/t/other", 8, "1", 1, 0, NULL), 0); /* not watched */
	assert_int_equal(etcd_put(c, "/t/w/b", 6, "2", 1, 0, NULL), 0);
	assert_int_equal(etcd_delete(c, "/t/w/a", 6, NULL, 0, NULL), 0);
	assert_int_equal(etcd_put(c, "/t/w/c", 6, "3", 1, 0, &rev), 0);
	assert_int_equal(collect(w, ev, 4, keys), 4);
	assert_string_equal(keys[0], "/t/w/a");
	assert_int_equal(ev[0].type, ETCD_EV_PUT);
	assert_int_equal(ev[0].kv.mod_revision, first);
	assert_string_equal(keys[1], "/t/w/b");
	assert_string_equal(keys[2], "/t/w/a");
	assert_int_equal(ev[2].type, ETCD_EV_DELETE);
	assert_string_equal(keys[3], "/t/w/c");
	assert_int_equal(ev[3].kv.mod_revision, rev);
	assert_memory_equal(ev[3].kv.value, "3", 1);
	/* From a revision in the past: the same events again. */
	assert_int_equal(etcd_watch_create(&o, "/t/w/", 5, "/t/w0", 5, first, &w2), 0);
	assert_int_equal(collect(w2, ev, 4, keys), 4);
	assert_string_equal(keys[2], "/t/w/a");
	assert_int_equal(ev[2].type, ETCD_EV_DELETE);
	etcd_watch_destroy(w2);
	/* Compacted past it: the watch says so. */
	assert_int_equal(etcd_compact(c, rev), 0);
	assert_int_equal(etcd_watch_create(&o, "/t/w/", 5, "/t/w0", 5, first, &w2), 0);
	assert_int_equal(etcd_watch_poll(w2, ev, 8, 3000), -ERANGE);
	assert_non_null(strstr(etcd_watch_error(w2), "compacted"));
	etcd_watch_destroy(w2);
	assert_int_equal(etcd_compact(c, first), -ERANGE); /* compacted already */
	etcd_watch_destroy(w);
	etcd_destroy(c);
}

/* ---- endpoints that fail ---------------------------------------------------------- */

/* A fake endpoint: answers every request with `answer` (NULL: accepts and never answers),
 * until stopped. */
struct fake {
	int fd;
	unsigned port;
	const char *answer;
	pthread_t th;
	struct timeval tv;
	_Atomic int stop;
};

static void *fake_main(void *arg)
{
	struct fake *f = arg;

	/* Relaxed: a stop flag; the accept timeout brings the next look, and the join that
	 * follows the store orders everything else. */
	while (!pf_load_relaxed(&f->stop)) {
		char buf[4096];
		int s = accept(f->fd, NULL, NULL);

		if (s < 0)
			continue;
		(void)setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &f->tv, sizeof(f->tv));
		(void)recv(s, buf, sizeof(buf), 0);
		if (f->answer == NULL) {
			usleep(1500000); /* past the client's deadline */
		} else {
			(void)send(s, f->answer, strlen(f->answer), MSG_NOSIGNAL);
			/* Read what is left of the request before closing: a close with unread
			 * bytes would reset the connection, and the client see that instead. */
			(void)shutdown(s, SHUT_WR);
			while (recv(s, buf, sizeof(buf), 0) > 0)
				;
		}
		close(s);
	}
	return NULL;
}

static void fake_start(struct fake *f, const char *answer)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};

	f->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->fd >= 0);
	assert_int_equal(bind(f->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(f->fd, (struct sockaddr *)&a, &len), 0);
	assert_int_equal(listen(f->fd, 8), 0);
	assert_int_equal(setsockopt(f->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	f->port = ntohs(a.sin_port);
	f->tv = tv;
	f->answer = answer;
	pf_store_relaxed(&f->stop, 0); /* Relaxed: before the thread starts */
	assert_int_equal(pthread_create(&f->th, NULL, fake_main, f), 0);
}

static void fake_stop(struct fake *f)
{
	pf_store_relaxed(&f->stop, 1); /* Relaxed: see fake_main() */
	pthread_join(f->th, NULL);
	close(f->fd);
}

/* One call to url: its result, and how long it took. */
static int call_at(const char *url, uint32_t timeout_ms, uint64_t *ret_ms, char *error, size_t cap)
{
	const char *eps[] = {url};
	struct etcd_opts o = {.endpoints = eps, .endpoints_count = 1, .timeout_ms = timeout_ms};
	struct etcd *c = NULL;
	struct etcd_range rg;
	uint64_t t0 = now_ms();
	int r;

	assert_int_equal(etcd_create(&o, &c), 0);
	r = etcd_get(c, "/t", 2, NULL, 0, 0, &rg);
	*ret_ms = now_ms() - t0;
	(void)snprintf(error, cap, "%s", etcd_error(c));
	etcd_destroy(c);
	return r;
}

static void test_endpoint_failures(void **state)
{
	static const char *const answers[][2] = {
		{"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nnot json!", "not a JSON object"},
		{"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", "header"},
		{"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 53\r\n\r\n"
		 "{\"error\":\"no leader\",\"message\":\"no leader\",\"code\":14}",
		 "no leader"},
		{"garbage\r\n\r\n", "etcd"},
	};
	static const int want[] = {-EPROTO, -EPROTO, -EAGAIN, -EPROTO};
	char url[64], error[256];
	struct fake f;
	uint64_t ms = 0;

	(void)state;
	/* Nothing listening: refused, at once. */
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%u", etcd_fixture_free_port());
	assert_int_equal(call_at(url, 1000, &ms, error, sizeof(error)), -ECONNREFUSED);
	assert_true(ms < 500);
	/* Listening, never answering: the deadline. */
	fake_start(&f, NULL);
	(void)snprintf(url, sizeof(url), "http://127.0.0.1:%u", f.port);
	assert_int_equal(call_at(url, 300, &ms, error, sizeof(error)), -ETIMEDOUT);
	print_message("# an endpoint that never answers: -ETIMEDOUT after %llu ms (%s)\n",
		      (unsigned long long)ms, error);
	assert_true(ms >= 250 && ms < 1200);
	fake_stop(&f);
	/* Answers etcd would never give. */
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		fake_start(&f, answers[i][0]);
		(void)snprintf(url, sizeof(url), "http://127.0.0.1:%u", f.port);
		assert_int_equal(call_at(url, 1000, &ms, error, sizeof(error)), want[i]);
		if (strstr(error, answers[i][1]) == NULL) {
			print_error("answer %zu: error \"%s\" lacks \"%s\"\n", i, error,
				    answers[i][1]);
			fail();
		}
		fake_stop(&f);
	}
	/* A member without a leader: the same call goes on to the next endpoint. */
	fake_start(&f, answers[2][0]);
	{
		const char *eps[2] = {url, ef.url[0]};
		struct etcd_opts o = {.endpoints = eps, .endpoints_count = 2};
		struct etcd *c = NULL;

		(void)snprintf(url, sizeof(url), "http://127.0.0.1:%u", f.port);
		assert_int_equal(etcd_create(&o, &c), 0);
		assert_int_equal(etcd_put(c, "/t/nl", 5, "v", 1, 0, NULL), 0);
		assert_string_equal(etcd_endpoint(c), ef.url[0]);
		etcd_destroy(c);
	}
	fake_stop(&f);
}

static void test_failover(void **state)
{
	char dead[64];
	const char *eps[2] = {dead, ef.url[0]};
	struct etcd_opts o = {.endpoints = eps, .endpoints_count = 2, .timeout_ms = 2000};
	struct etcd *c = NULL;
	struct etcd_watch *w = NULL;
	struct etcd_event ev[2];
	int64_t rev = 0;

	(void)state;
	(void)snprintf(dead, sizeof(dead), "http://127.0.0.1:%u", etcd_fixture_free_port());
	assert_int_equal(etcd_create(&o, &c), 0);
	assert_string_equal(etcd_endpoint(c), dead);
	assert_int_equal(etcd_put(c, "/t/fo", 5, "v", 1, 0, &rev), 0);
	assert_string_equal(etcd_endpoint(c), ef.url[0]); /* it stays there */
	assert_int_equal(etcd_watch_create(&o, "/t/fo", 5, NULL, 0, rev, &w), 0);
	assert_int_equal(etcd_watch_poll(w, ev, 2, 3000), 1);
	assert_int_equal(ev[0].kv.mod_revision, rev);
	etcd_watch_destroy(w);
	/* Only dead endpoints: the watch ends, refused. */
	eps[1] = dead;
	assert_int_equal(etcd_watch_create(&o, "/t/fo", 5, NULL, 0, 0, &w), 0);
	assert_int_equal(etcd_watch_poll(w, ev, 2, 3000), -ECONNREFUSED);
	etcd_watch_destroy(w);
	/* Bad options. */
	o.endpoints_count = 0;
	assert_int_equal(etcd_create(&o, &c), -EINVAL);
	eps[0] = "ftp://127.0.0.1:1";
	o.endpoints_count = 1;
	assert_int_equal(etcd_watch_create(&o, "/t", 2, NULL, 0, 0, &w), -EINVAL);
	etcd_destroy(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prefix_end),  cmocka_unit_test(test_put_get_delete),
		cmocka_unit_test(test_txn_compare), cmocka_unit_test(test_txn_race),
		cmocka_unit_test(test_limits),      cmocka_unit_test(test_lease),
		cmocka_unit_test(test_watch),       cmocka_unit_test(test_endpoint_failures),
		cmocka_unit_test(test_failover),
	};

	return etcd_fixture_run(&ef, "tests", tests, sizeof(tests) / sizeof(tests[0]));
}

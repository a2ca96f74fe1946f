/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/pflightd/test_pflightd_shardmap.c
 * Goal: shard ownership in etcd (tools/pflightd/shardmap.h) can never give one shard two
 * owners at one epoch, however hosts race, and a host with a stale copy (one that was cut
 * off while another took its shards) gets nothing. The cluster's shard count is fixed by
 * its first host; a host that disagrees is refused.
 * Method: a real etcd of one member (tests/common/etcd_fixture.h). Two "hosts", each a
 * thread with its own client and map, race to take every free shard of 1,024, in batches,
 * logging every take they were told succeeded; then every (shard, epoch) must appear once
 * in the logs, the logs must cover the shards, and etcd must say the same as the copies.
 * Then host b is "lost": a takes b's shards at epoch 2, and b, still holding its old copy,
 * tries to take them back: nothing moves. Skips (77) where etcd is not installed.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "tests/common/etcd_fixture.h"
#include "tools/pflightd/shardmap.h"

#define SHARDS 1024u

static struct etcd_fixture ef;

static struct etcd *client(void)
{
	struct etcd_opts o = {.endpoints = ef.endpoints, .endpoints_count = 1, .timeout_ms = 5000};
	struct etcd *c = NULL;

	assert_int_equal(etcd_create(&o, &c), 0);
	return c;
}

static bool is_free(const struct shard_owner *o, void *arg)
{
	(void)arg;
	return o->owner[0] == '\0';
}

static bool owned_by(const struct shard_owner *o, void *arg)
{
	return strcmp(o->owner, (const char *)arg) == 0;
}

/* What a racing host was told it took: (shard, epoch) pairs. */
struct racer {
	const char *me;
	uint32_t order[SHARDS];
	unsigned taken;
	uint32_t log_shard[SHARDS], log_epoch[SHARDS];
	unsigned logged;
};

static pthread_barrier_t bar;

static void *race(void *arg)
{
	struct racer *rc = arg;
	struct etcd *c = client();
	struct shardmap *m = NULL;
	const char *reps[] = {rc->me[0] == 'a' ? "b" : "a"};

	assert_int_equal(shardmap_open(c, "race", SHARDS, &m), 0);
	pthread_barrier_wait(&bar);
	/* Batches of 32 in this host's own order, so the two collide mid-batch. */
	for (unsigned at = 0; at < SHARDS; at += 32) {
		unsigned got = 0;

		assert_int_equal(
			shardmap_take(m, rc->order + at, 32, rc->me, reps, 1, is_free, NULL, &got),
			0);
		rc->taken += got;
		for (unsigned i = 0; i < 32; i++) {
			const struct shard_owner *o = shardmap_get(m, rc->order[at + i]);

			if (strcmp(o->owner, rc->me) == 0 && o->epoch == 1) {
				rc->log_shard[rc->logged] = rc->order[at + i];
				rc->log_epoch[rc->logged++] = o->epoch;
			}
		}
	}
	shardmap_close(m);
	etcd_destroy(c);
	return NULL;
}

static void test_race(void **state)
{
	static struct racer rc[2] = {{.me = "a"}, {.me = "b"}};
	static uint8_t seen[SHARDS];
	struct etcd *c = client();
	struct shardmap *m = NULL;
	pthread_t th[2];

	(void)state;
	srand(7);
	for (uint32_t i = 0; i < SHARDS; i++)
		rc[0].order[i] = rc[1].order[i] = i;
	for (uint32_t i = SHARDS - 1; i > 0; i--) { /* b takes in another order */
		uint32_t j = (uint32_t)rand() % (i + 1), t = rc[1].order[i];

		rc[1].order[i] = rc[1].order[j];
		rc[1].order[j] = t;
	}
	pthread_barrier_init(&bar, NULL, 2);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, race, &rc[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&bar);
	print_message("# a took %u shards, b took %u, of %u\n", rc[0].taken, rc[1].taken, SHARDS);
	assert_int_equal(rc[0].taken + rc[1].taken, SHARDS);
	assert_int_equal(rc[0].logged, rc[0].taken);
	assert_int_equal(rc[1].logged, rc[1].taken);
	/* Every shard taken exactly once, at epoch 1, by the host etcd names. */
	assert_int_equal(shardmap_open(c, "race", SHARDS, &m), 0);
	for (int h = 0; h < 2; h++)
		for (unsigned i = 0; i < rc[h].logged; i++) {
			uint32_t s = rc[h].log_shard[i];

			assert_int_equal(seen[s]++, 0);
			assert_string_equal(shardmap_get(m, s)->owner, rc[h].me);
			assert_int_equal(shardmap_get(m, s)->epoch, 1);
			assert_int_equal(shardmap_get(m, s)->replicas_count, 1);
		}
	for (uint32_t s = 0; s < SHARDS; s++)
		assert_int_equal(seen[s], 1);
	shardmap_close(m);
	etcd_destroy(c);
}

static void test_stale_owner(void **state)
{
	struct etcd *ca = client(), *cb = client();
	struct shardmap *a = NULL, *b = NULL;
	uint32_t all[SHARDS / 4];
	unsigned got = 0, b_had = 0;

	(void)state;
	for (uint32_t i = 0; i < SHARDS / 4; i++)
		all[i] = i;
	assert_int_equal(shardmap_open(ca, "stale", SHARDS, &a), 0);
	assert_int_equal(shardmap_open(cb, "stale", SHARDS, &b), 0);
	assert_int_equal(shardmap_take(b, all, SHARDS / 4, "b", NULL, 0, is_free, NULL, &b_had), 0);
	assert_int_equal(b_had, SHARDS / 4);
	/* b is lost: a reads the map again and takes what b had, at epoch 2. */
	assert_int_equal(shardmap_read(a, 0, SHARDS), 0);
	assert_int_equal(shardmap_take(a, all, SHARDS / 4, "a", NULL, 0, owned_by, "b", &got), 0);
	assert_int_equal(got, SHARDS / 4);
	for (uint32_t i = 0; i < SHARDS / 4; i++) {
		assert_string_equal(shardmap_get(a, i)->owner, "a");
		assert_int_equal(shardmap_get(a, i)->epoch, 2);
	}
	/* b comes back with its old copy and takes "its" shards back: none moves, and its
	 * copy learns the truth from the refusal. */
	assert_string_equal(shardmap_get(b, 0)->owner, "b");
	assert_int_equal(shardmap_take(b, all, SHARDS / 4, "b", NULL, 0, owned_by, "b", &got), 0);
	assert_int_equal(got, 0);
	assert_string_equal(shardmap_get(b, 0)->owner, "a");
	assert_int_equal(shardmap_get(b, 0)->epoch, 2);
	/* A shard out of range, bad arguments. */
	all[0] = SHARDS;
	assert_int_equal(shardmap_take(b, all, 1, "b", NULL, 0, is_free, NULL, &got), -EINVAL);
	assert_int_equal(shardmap_take(b, all, 1, "", NULL, 0, is_free, NULL, &got), -EINVAL);
	shardmap_close(a);
	shardmap_close(b);
	etcd_destroy(ca);
	etcd_destroy(cb);
}

static void test_meta(void **state)
{
	struct etcd *c = client();
	struct shardmap *m = NULL;

	(void)state;
	assert_int_equal(shardmap_open(c, "meta", 256, &m), 0);
	assert_int_equal(shardmap_shards(m), 256);
	assert_int_equal(shardmap_of(m, 256 + 7), 7);
	shardmap_close(m);
	assert_int_equal(shardmap_open(c, "meta", 512, &m), -EEXIST); /* made with 256 */
	assert_int_equal(shardmap_open(c, "meta", 300, &m), -EINVAL); /* not a power of two */
	assert_int_equal(shardmap_open(c, "meta", 256, &m), 0);
	shardmap_close(m);
	etcd_destroy(c);
}

static void test_apply(void **state)
{
	struct etcd *c = client();
	struct shardmap *m = NULL;
	struct etcd_event ev = {.type = ETCD_EV_PUT};
	const char *v = "{\"epoch\":9,\"owner\":\"z\",\"replicas\":[]}";

	(void)state;
	assert_int_equal(shardmap_open(c, "apply", 16, &m), 0);
	ev.kv.key = (const uint8_t *)"/pflight/apply/shards/0000003";
	ev.kv.key_len = strlen((const char *)ev.kv.key);
	ev.kv.value = (const uint8_t *)v;
	ev.kv.value_len = strlen(v);
	ev.kv.mod_revision = 1000;
	assert_int_equal(shardmap_apply(m, &ev), 1);
	assert_string_equal(shardmap_get(m, 3)->owner, "z");
	assert_int_equal(shardmap_get(m, 3)->epoch, 9);
	ev.kv.key = (const uint8_t *)"/pflight/apply/shards/0000099"; /* past the count */
	ev.kv.key_len = strlen((const char *)ev.kv.key);
	assert_int_equal(shardmap_apply(m, &ev), 0);
	ev.kv.key = (const uint8_t *)"/pflight/apply/shards/0000004";
	ev.kv.value = (const uint8_t *)"{\"owner\":1}";
	ev.kv.value_len = 11;
	assert_int_equal(shardmap_apply(m, &ev), -EPROTO);
	/* A name that is not a host's cannot come through into a copy (nor into a record). */
	v = "{\"epoch\":1,\"owner\":\"a\\\",\\\"x\",\"replicas\":[]}";
	ev.kv.key = (const uint8_t *)"/pflight/apply/shards/0000005";
	ev.kv.value = (const uint8_t *)v;
	ev.kv.value_len = strlen(v);
	ev.kv.mod_revision = 1001;
	assert_int_equal(shardmap_apply(m, &ev), -EPROTO);
	assert_true(shardmap_get(m, 5)->corrupt);
	assert_false(shardmap_host_ok("host-a\n", 7));
	assert_true(shardmap_host_ok("host-a.b_c", 10));
	shardmap_close(m);
	etcd_destroy(c);
}

/* A shard key that holds no shard's value: the map still opens, that shard is corrupt,
 * and no take moves it; the others are taken as usual. */
static void test_corrupt(void **state)
{
	struct etcd *c = client();
	struct shardmap *m = NULL;
	struct etcd_range rg;
	struct etcd_event ev = {.type = ETCD_EV_PUT};
	const char *key = "/pflight/corrupt/shards/0000002";
	uint32_t some[] = {1, 2, 3};
	unsigned got = 0;

	(void)state;
	assert_int_equal(shardmap_open(c, "corrupt", 16, &m), 0);
	shardmap_close(m);
	assert_int_equal(etcd_put(c, key, strlen(key), "\xff{not json", 10, 0, NULL), 0);
	assert_int_equal(shardmap_open(c, "corrupt", 16, &m), 0);
	assert_true(shardmap_get(m, 2)->corrupt);
	assert_false(shardmap_get(m, 1)->corrupt);
	assert_int_equal(shardmap_take(m, some, 3, "a", NULL, 0, is_free, NULL, &got), 0);
	assert_int_equal(got, 2);
	assert_true(shardmap_get(m, 2)->corrupt);
	assert_int_equal(etcd_get(c, key, strlen(key), NULL, 0, 0, &rg), 0);
	assert_int_equal(rg.count, 1);
	assert_memory_equal(rg.kvs[0].value, "\xff{not json", 10); /* untouched */
	/* The same from a watch event. */
	ev.kv.key = (const uint8_t *)"/pflight/corrupt/shards/0000001";
	ev.kv.key_len = strlen((const char *)ev.kv.key);
	ev.kv.value = (const uint8_t *)"[]";
	ev.kv.value_len = 2;
	ev.kv.mod_revision = rg.revision + 1000;
	assert_int_equal(shardmap_apply(m, &ev), -EPROTO);
	assert_true(shardmap_get(m, 1)->corrupt);
	shardmap_close(m);
	etcd_destroy(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_meta),    cmocka_unit_test(test_apply),
		cmocka_unit_test(test_race),    cmocka_unit_test(test_stale_owner),
		cmocka_unit_test(test_corrupt),
	};

	return etcd_fixture_run(&ef, "tests", tests, sizeof(tests) / sizeof(tests[0]));
}

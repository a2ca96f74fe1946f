/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_cluster_shards.c
 * Goal: a host in a cluster owns, in etcd, the shards of the VNodes its domain holds, and
 * never a shard another live host owns: a VNode defined on two hosts is a conflict, audited
 * on the second, with etcd unchanged. When the owner's lease expires, the other host takes
 * its shards over at the next epoch (the fencing token), by a transaction that compares
 * revisions; the owner that comes back finds them taken and says so.
 * Method: Debian's etcd, one member; two real pflightd (host-a, host-b), 16 shards and 16
 * VNodes (VNode i is in shard i), a lease of 2 s (tests/common/cluster_fixture.h), and
 * example counter workers that define VNodes 0..N-1. The shards are read straight from
 * etcd with tools/pflightd/shardmap.h after each step. Skips (77) where etcd is not
 * installed.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "net/etcd.h"
#include "tests/common/cluster_fixture.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"
#include "tools/pflightd/shardmap.h"

#define SHARDS 16u

static struct cf c;

/* Shard s as etcd has it now. */
static struct shard_owner shard(uint32_t s)
{
	struct etcd_opts o = {.endpoints = c.ef.endpoints, .endpoints_count = 1};
	struct etcd *ec = NULL;
	struct shardmap *m = NULL;
	struct shard_owner out;

	CHECK(etcd_create(&o, &ec) == 0);
	CHECK(shardmap_open(ec, c.cluster, SHARDS, &m) == 0);
	out = *shardmap_get(m, s);
	shardmap_close(m);
	etcd_destroy(ec);
	return out;
}

/* Until shard s is owned by owner at epoch (10 s); else fails the test. */
static void wait_shard(uint32_t s, const char *owner, uint32_t epoch)
{
	uint64_t t0 = proc_now_ns();
	struct shard_owner o;

	while (o = shard(s), strcmp(o.owner, owner) != 0 || o.epoch != epoch) {
		if (proc_now_ns() - t0 > CF_WAIT_NS) {
			fprintf(stderr, "shard %u: %s at epoch %u, not %s at %u\n", s, o.owner,
				o.epoch, owner, epoch);
			CHECK(0);
		}
		test_sleep_ns(50000000);
	}
}

/* The shards host i's shard_conflict records count, those naming owner among them. */
static unsigned conflicts(int i, const char *owner, unsigned *ret_of_owner)
{
	char line[4096];
	unsigned n = 0;
	FILE *f = fopen(c.audit[i], "r");

	*ret_of_owner = 0;
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		json_t *rec = json_loads(line, 0, NULL), *d = json_object_get(rec, "details");
		const char *ev = json_string_value(json_object_get(rec, "event"));

		if (ev != NULL && strcmp(ev, "shard_conflict") == 0) {
			unsigned k = (unsigned)json_integer_value(json_object_get(d, "count"));

			n += k;
			if (strcmp(json_string_value(json_object_get(d, "owner")), owner) == 0)
				*ret_of_owner += k;
		}
		json_decref(rec);
	}
	if (f != NULL)
		CHECK(fclose(f) == 0);
	return n;
}

/* Until host i has audited n conflicts, all with owner (one record per claim pass). */
static void wait_conflicts(int i, const char *owner, unsigned n)
{
	unsigned of = 0;

	for (uint64_t t0 = proc_now_ns(); conflicts(i, owner, &of) < n; proc_nap())
		CHECK(proc_now_ns() - t0 < CF_WAIT_NS);
	CHECK(conflicts(i, owner, &of) == n && of == n);
}

int main(int argc, char **argv)
{
	const struct cf_opts o = {
		.hosts = 3, .etcd_members = 1, .ttl_s = 2, .shards = SHARDS, .vnodes_max = SHARDS};

	if (argc != 3) {
		fprintf(stderr, "usage: %s <pflightd> <counter worker>\n", argv[0]);
		return 2;
	}
	if (etcd_fixture_binary() == NULL) {
		printf("SKIP: etcd is not installed (Debian's etcd-server)\n");
		return 77;
	}
	cf_init(&c, argv[1], argv[2], &o);
	cf_start_host(&c, 0);
	cf_start_host(&c, 1);
	CHECK(cf_wait(&c, 1, "cluster_joined", NULL, NULL, 1, CF_WAIT_NS) >= 0);

	/* host-a's worker defines VNodes 0..7: host-a takes shards 0..7, at epoch 1. */
	cf_start_worker(&c, 0, 8);
	for (uint32_t s = 0; s < 8; s++)
		wait_shard(s, "host-a", 1);
	CHECK(shard(8).owner[0] == '\0' && shard(15).epoch == 0); /* nobody's */
	CHECK(cf_wait(&c, 0, "shards_taken", "count", "8", 1, CF_WAIT_NS) >= 0);
	printf("host-a defines VNodes 0..7: it owns shards 0..7 at epoch 1, the rest nobody\n");

	/* host-b's worker defines VNodes 0..11: shards 8..11 are taken, 0..7 are conflicts. */
	cf_start_worker(&c, 1, 12);
	for (uint32_t s = 8; s < 12; s++)
		wait_shard(s, "host-b", 1);
	wait_conflicts(1, "host-a", 8);
	for (uint32_t s = 0; s < 8; s++)
		wait_shard(s, "host-a", 1); /* unchanged */
	printf("host-b defines VNodes 0..11: it takes 8..11; 0..7 stay host-a's, 8 conflicts "
	       "audited\n");

	/* host-a killed: its lease expires, host-b takes 0..7 over at epoch 2. */
	cf_kill_host(&c, 0);
	CHECK(cf_wait(&c, 1, "host_lost", "host", "host-a", 1, CF_WAIT_NS) >= 0);
	for (uint32_t s = 0; s < 8; s++)
		wait_shard(s, "host-b", 2);
	CHECK(cf_wait(&c, 1, "shards_taken", "from_lost_hosts", "8", 1, CF_WAIT_NS) >= 0);
	printf("host-a killed: host-b took shards 0..7 over at epoch 2\n");

	/* host-a back, its domain still holding 0..7: it takes nothing back, and says so. */
	cf_start_host(&c, 0);
	CHECK(cf_wait(&c, 0, "cluster_joined", NULL, NULL, 2, CF_WAIT_NS) >= 0);
	wait_conflicts(0, "host-b", 8);
	for (uint32_t s = 0; s < 8; s++)
		wait_shard(s, "host-b", 2);
	printf("host-a back: shards 0..7 stay host-b's at epoch 2, 8 conflicts audited\n");

	/* host-c says the cluster has 32 shards: it stays out, and says why. */
	cf_write_manifest(&c, 2, 2 * SHARDS);
	cf_start_host(&c, 2);
	CHECK(cf_wait(&c, 2, "cluster_refused", "shards", "32", 1, CF_WAIT_NS) >= 0);
	CHECK(cf_count(&c, 2, "cluster_joined", NULL, NULL) == 0);
	CHECK(cf_count(&c, 1, "host_joined", "host", "host-c") == 0);
	printf("host-c with 32 shards to the cluster's 16: refused, not joined\n");
	cf_finish(&c);
	printf("ok\n");
	return 0;
}

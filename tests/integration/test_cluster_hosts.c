/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_cluster_hosts.c
 * Goal: every pflightd whose PhoenixFile lists etcd endpoints is in the cluster's
 * directory (docs/cluster.md): a lease of cluster.lease_ttl and a key with its address,
 * public key, NUMA summary and capacity, and every host learns of the others' joins,
 * clean leaves and losses, each an audit record. A host killed with kill -9 is lost to the
 * others through its lease: not before two thirds of the TTL (its last keepalive), and
 * within the TTL plus a second (the goal). A host stopped cleanly has left at once. One
 * that comes back joins again. With etcd gone, hosts say so and keep running; when it
 * comes back they are in the directory again; meanwhile a move between hosts is refused
 * with its reason. GET /api/v1/cluster says what the directory
 * says, in the form the OpenAPI document gives.
 * Method: Debian's etcd, one member on loopback, and three real pflightd (hosts a, b, c)
 * with a lease of 2 s (tests/common/cluster_fixture.h); the directory read straight from
 * etcd with the client of net/etcd.h.
 * Skips (77) where etcd is not installed.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pflight/pflight.h"

#include "net/etcd.h"
#include "tests/common/cluster_fixture.h"
#include "tests/common/openapi_check.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"

#define TTL_S 2

static struct cf c;
static json_t *oas;

/* GET /api/v1/cluster of host i, checked against the OpenAPI document: the state of
 * host `other` in it ("" when absent), and this host's own state. */
static void api_view(int i, const char *other, char *state, size_t cap, char *own, size_t own_cap)
{
	json_t *doc = cf_api_get(&c, i, "/api/v1/cluster"), *cl, *h;
	char why[256];
	size_t k;

	if (oas_check_response(oas, "GET", "/api/v1/cluster", 200, doc, why, sizeof(why)) < 0)
		fprintf(stderr, "GET /api/v1/cluster: %s\n", why);
	CHECK(oas_check_response(oas, "GET", "/api/v1/cluster", 200, doc, why, sizeof(why)) == 0);
	cl = json_object_get(doc, "cluster");
	CHECK(strcmp(json_string_value(json_object_get(cl, "name")), c.cluster) == 0);
	CHECK(json_integer_value(json_object_get(cl, "shards")) == 16);
	(void)snprintf(own, own_cap, "%s", json_string_value(json_object_get(cl, "state")));
	state[0] = '\0';
	json_array_foreach(json_object_get(cl, "hosts"), k,
			   h) if (strcmp(json_string_value(json_object_get(h, "name")), other) ==
				  0)(void)
		snprintf(state, cap, "%s", json_string_value(json_object_get(h, "state")));
	json_decref(doc);
}

/* Until host i's API says `other` is in `want` (10 s). */
static void wait_view(int i, const char *other, const char *want)
{
	char state[16], own[16];

	for (uint64_t t0 = proc_now_ns();; proc_nap()) {
		api_view(i, other, state, sizeof(state), own, sizeof(own));
		if (strcmp(state, want) == 0 && strcmp(own, "up") == 0)
			return;
		if (proc_now_ns() - t0 > 10000000000ull) {
			fprintf(stderr, "host %d says %s is %s (itself %s), not %s\n", i, other,
				state, own, want);
			CHECK(0);
		}
	}
}

/* The directory as etcd has it: host i's key must say what a peer needs. */
static void check_key(int i)
{
	struct etcd_opts o = {.endpoints = c.ef.endpoints, .endpoints_count = 1};
	struct etcd *ec = NULL;
	struct etcd_range rg;
	char key[96];
	json_t *v;

	(void)snprintf(key, sizeof(key), "/pflight/%s/hosts/host-%c", c.cluster, 'a' + i);
	CHECK(etcd_create(&o, &ec) == 0);
	CHECK(etcd_get(ec, key, strlen(key), NULL, 0, 0, &rg) == 0);
	CHECK(rg.count == 1 && rg.kvs[0].lease != 0);
	v = json_loadb((const char *)rg.kvs[0].value, rg.kvs[0].value_len, 0, NULL);
	CHECK(v != NULL);
	CHECK(json_integer_value(json_object_get(v, "port")) > 0);
	CHECK(strlen(json_string_value(json_object_get(v, "key"))) == 64);
	CHECK(json_string_value(json_object_get(v, "address")) != NULL);
	CHECK(json_integer_value(json_object_get(json_object_get(v, "numa"), "nodes")) >= 1);
	CHECK(json_integer_value(json_object_get(json_object_get(v, "capacity"), "vnodes")) == 16);
	CHECK(json_is_false(json_object_get(v, "leaving")));
	json_decref(v);
	etcd_destroy(ec);
}

/* Keys in the hosts' prefix that name no host (written by anything with access to
 * etcd): no host takes them for one, in its records or its view. */
static void hostile_key(void)
{
	struct etcd_opts o = {.endpoints = c.ef.endpoints, .endpoints_count = 1};
	struct etcd *ec = NULL;
	char key[128];

	CHECK(etcd_create(&o, &ec) == 0);
	(void)snprintf(key, sizeof(key), "/pflight/%s/hosts/evil\",\"x\":\"y", c.cluster);
	CHECK(etcd_put(ec, key, strlen(key), "{}", 2, 0, NULL) == 0);
	(void)snprintf(key, sizeof(key), "/pflight/%s/hosts/", c.cluster);
	CHECK(etcd_put(ec, key, strlen(key), "{}", 2, 0, NULL) == 0);
	etcd_destroy(ec);
	test_sleep_ns(500000000);   /* the watches had time to bring them */
	for (int i = 0; i < 3; i++) /* each saw the two others join, or found them there */
		CHECK(cf_count(&c, i, "host_joined", NULL, NULL) == 2);
}

static void joins(void)
{
	for (int i = 0; i < 3; i++) {
		cf_start_host(&c, i);
		CHECK(cf_wait(&c, i, "cluster_joined", NULL, NULL, 1, CF_WAIT_NS) >= 0);
	}
	/* a saw b and c come; b saw c; c found both there. */
	CHECK(cf_wait(&c, 0, "host_joined", "host", "host-b", 1, CF_WAIT_NS) >= 0);
	CHECK(cf_wait(&c, 0, "host_joined", "host", "host-c", 1, CF_WAIT_NS) >= 0);
	CHECK(cf_wait(&c, 1, "host_joined", "host", "host-c", 1, CF_WAIT_NS) >= 0);
	CHECK(cf_count(&c, 2, "cluster_joined", "hosts", "3") == 1);
	for (int i = 0; i < 3; i++)
		check_key(i);
	wait_view(0, "host-b", "live");
	wait_view(0, "host-c", "live");
	wait_view(2, "host-a", "live");
	hostile_key();
	printf("three hosts joined, each seen by the others, each key complete, GET "
	       "/api/v1/cluster says so\n");
}

static void loss_and_leave(void)
{
	uint64_t t0;
	long ms;

	/* kill -9 of c: lost through its lease. */
	cf_kill_host(&c, 2);
	t0 = proc_now_ns();
	CHECK(cf_wait(&c, 0, "host_lost", "host", "host-c", 1, CF_WAIT_NS) >= 0);
	ms = (long)((proc_now_ns() - t0) / 1000000u);
	CHECK(cf_wait(&c, 1, "host_lost", "host", "host-c", 1, CF_WAIT_NS) >= 0);
	printf("host-c killed: lost to host-a after %ld ms (lease %d s)\n", ms, TTL_S);
	CHECK(ms >= TTL_S * 1000 * 2 / 3 - 100 && ms <= TTL_S * 1000 + 1000);
	CHECK(cf_count(&c, 0, "host_left", "host", "host-c") == 0);
	wait_view(0, "host-c", "lost");
	/* b stopped cleanly: left, at once. */
	t0 = proc_now_ns();
	cf_stop_host(&c, 1);
	CHECK(cf_wait(&c, 0, "host_left", "host", "host-b", 1, CF_WAIT_NS) >= 0);
	ms = (long)((proc_now_ns() - t0) / 1000000u);
	printf("host-b stopped: left, seen by host-a after %ld ms\n", ms);
	CHECK(ms < TTL_S * 1000 * 2 / 3);
	CHECK(cf_count(&c, 0, "host_lost", "host", "host-b") == 0);
	wait_view(0, "host-b", "left");
	/* c back: joins again. */
	cf_start_host(&c, 2);
	CHECK(cf_wait(&c, 0, "host_joined", "host", "host-c", 2, CF_WAIT_NS) >= 0);
	printf("host-c back: joined again\n");
}

/* What host i's daemon answers to a move of VNode 0 to host-b. */
static const char *migrate_reply(int i)
{
	static char reply[PF_CONTROL_REPLY_MAX];

	CHECK(pf_control_request(c.sock[i], (uint32_t)geteuid(), "migrate-host 0 host-b", reply,
				 sizeof(reply), 0) >= 0);
	return reply;
}

static void etcd_outage(void)
{
	int joined = cf_count(&c, 0, "cluster_joined", NULL, NULL);

	etcd_fixture_kill(&c.ef, 0);
	CHECK(cf_wait(&c, 0, "cluster_unavailable", NULL, NULL, 1, CF_WAIT_NS) >= 0);
	CHECK(cf_wait(&c, 2, "cluster_unavailable", NULL, NULL, 1, CF_WAIT_NS) >= 0);
	CHECK(waitpid(c.pid[0], NULL, WNOHANG) == 0 && waitpid(c.pid[2], NULL, WNOHANG) == 0);
	/* Moves between hosts are refused, and say why. */
	CHECK(strstr(migrate_reply(0), "\"error\":\"cluster_unavailable\"") != NULL);
	etcd_fixture_restart(&c.ef, 0);
	/* Back: the lease kept (available again) or expired meanwhile (joined again). */
	for (uint64_t t0 = proc_now_ns(); cf_count(&c, 0, "cluster_available", NULL, NULL) == 0 &&
					  cf_count(&c, 0, "cluster_joined", NULL, NULL) == joined;
	     proc_nap())
		CHECK(proc_now_ns() - t0 < CF_WAIT_NS);
	check_key(0);
	for (uint64_t t0 = proc_now_ns(); strstr(migrate_reply(0), "cluster_unavailable") != NULL;
	     proc_nap())
		CHECK(proc_now_ns() - t0 < CF_WAIT_NS);
	CHECK(strstr(migrate_reply(0), "\"error\":\"no_peers\"") != NULL); /* the next check */
	printf("etcd stopped and started: hosts said so, kept running, refused moves between "
	       "hosts meanwhile, and are back\n");
}

int main(int argc, char **argv)
{
	const struct cf_opts o = {
		.hosts = 3, .etcd_members = 1, .ttl_s = TTL_S, .shards = 16, .vnodes_max = 16};

	if (argc != 4) {
		fprintf(stderr, "usage: %s <pflightd> <counter worker> <openapi.json>\n", argv[0]);
		return 2;
	}
	if (etcd_fixture_binary() == NULL) {
		printf("SKIP: etcd is not installed (Debian's etcd-server)\n");
		return 77;
	}
	oas = oas_load(argv[3]);
	CHECK(oas != NULL);
	cf_init(&c, argv[1], argv[2], &o);
	joins();
	loss_and_leave();
	etcd_outage();
	cf_finish(&c);
	json_decref(oas);
	printf("ok\n");
	return 0;
}

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
 * comes back they are in the directory again.
 * Method: Debian's etcd, one member on loopback (tests/common/etcd_fixture.h); three real
 * pflightd (hosts a, b, c), each with its own domain, audit log, control socket and key, a
 * lease of 2 s; the directory read straight from etcd with the client of net/etcd.h.
 * Skips (77) where etcd is not installed.
 */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "net/etcd.h"
#include "tests/common/etcd_fixture.h"
#include "tests/common/proc_util.h"

#define HOSTS 3
#define TTL_S 2
#define WAIT_NS (20ull * 1000000000ull)
#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);      \
			fail_show();                                                               \
			exit(1);                                                                   \
		}                                                                                  \
	} while (0)

static struct etcd_fixture ef;
static const char *daemon_path;
static char dir[64], cluster[32];
static char manifest[HOSTS][128], audit_path[HOSTS][128], sock[HOSTS][128], dlog[HOSTS][128];
static pid_t pid[HOSTS];

static void fail_show(void)
{
	for (int i = 0; i < HOSTS; i++) {
		proc_print_file(dlog[i]);
		proc_print_file(audit_path[i]);
	}
}

static void cleanup(void)
{
	for (int i = 0; i < HOSTS; i++)
		if (pid[i] > 0) {
			(void)kill(pid[i], SIGKILL);
			(void)waitpid(pid[i], NULL, 0);
			pid[i] = -1;
		}
	etcd_fixture_stop(&ef);
	for (int i = 0; i < HOSTS && cluster[0] != '\0'; i++) {
		char shm[96];

		(void)snprintf(shm, sizeof(shm), "/dev/shm/pflight-%s-%c", cluster, 'a' + i);
		(void)unlink(shm); /* a host killed with kill -9 leaves its domain */
	}
	proc_rm_dir(dir);
}

static void write_manifest(int i)
{
	FILE *f = fopen(manifest[i], "w");

	CHECK(f != NULL);
	fprintf(f,
		"apiVersion: pflight/v1\nkind: Domain\nmetadata:\n  name: %s-%c\n"
		"membership:\n  vnodes_max: 16\n  members_max: 4\n"
		"governance:\n  audit:\n    path: %s\n    fsync: head\n"
		"transport:\n  name: host-%c\n  key: %s/%d.key\n  port: %u\n"
		"cluster:\n  name: %s\n  etcd_endpoints: [%s]\n  lease_ttl: %ds\n"
		"api:\n  enabled: false\n",
		cluster, 'a' + i, audit_path[i], 'a' + i, dir, i, etcd_fixture_free_port(), cluster,
		ef.url[0], TTL_S);
	CHECK(fclose(f) == 0);
}

static void start_host(int i)
{
	char *argv[] = {(char *)daemon_path, "--foreground", "--manifest", manifest[i],
			"--control",         sock[i],        NULL};
	int st = proc_start(argv, dlog[i], " ready: ", WAIT_NS, &pid[i]);

	CHECK(st == PROC_RUNNING);
}

static int count(int i, const char *event, const char *host)
{
	return proc_audit_count(audit_path[i], event, host != NULL ? "host" : NULL, host);
}

/* Wait until host i's audit log has n records of event (about host); ms waited, or -1. */
static long wait_count(int i, const char *event, const char *host, int n, uint64_t timeout_ns)
{
	uint64_t t0 = proc_now_ns();

	while (count(i, event, host) < n) {
		if (proc_now_ns() - t0 > timeout_ns)
			return -1;
		proc_nap();
	}
	return (long)((proc_now_ns() - t0) / 1000000u);
}

/* The directory as etcd has it: host i's key must say what a peer needs. */
static void check_key(int i)
{
	struct etcd_opts o = {.endpoints = ef.endpoints, .endpoints_count = 1};
	struct etcd *c = NULL;
	struct etcd_range rg;
	char key[96];
	json_t *v;

	(void)snprintf(key, sizeof(key), "/pflight/%s/hosts/host-%c", cluster, 'a' + i);
	CHECK(etcd_create(&o, &c) == 0);
	CHECK(etcd_get(c, key, strlen(key), NULL, 0, 0, &rg) == 0);
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
	etcd_destroy(c);
}

static void joins(void)
{
	for (int i = 0; i < HOSTS; i++) {
		start_host(i);
		CHECK(wait_count(i, "cluster_joined", NULL, 1, WAIT_NS) >= 0);
	}
	/* a saw b and c come; b saw c; c found both there. */
	CHECK(wait_count(0, "host_joined", "host-b", 1, WAIT_NS) >= 0);
	CHECK(wait_count(0, "host_joined", "host-c", 1, WAIT_NS) >= 0);
	CHECK(wait_count(1, "host_joined", "host-c", 1, WAIT_NS) >= 0);
	CHECK(proc_audit_count(audit_path[2], "cluster_joined", "hosts", "3") == 1);
	for (int i = 0; i < HOSTS; i++)
		check_key(i);
	printf("three hosts joined, each seen by the others, each key complete\n");
}

static void loss_and_leave(void)
{
	uint64_t t0;
	long ms;

	/* kill -9 of c: lost through its lease. */
	CHECK(kill(pid[2], SIGKILL) == 0);
	(void)waitpid(pid[2], NULL, 0);
	pid[2] = -1;
	t0 = proc_now_ns();
	CHECK(wait_count(0, "host_lost", "host-c", 1, WAIT_NS) >= 0);
	ms = (long)((proc_now_ns() - t0) / 1000000u);
	CHECK(wait_count(1, "host_lost", "host-c", 1, WAIT_NS) >= 0);
	printf("host-c killed: lost to host-a after %ld ms (lease %d s)\n", ms, TTL_S);
	CHECK(ms >= TTL_S * 1000 * 2 / 3 - 100 && ms <= TTL_S * 1000 + 1000);
	CHECK(count(0, "host_left", "host-c") == 0);
	/* b stopped cleanly: left, at once. */
	t0 = proc_now_ns();
	proc_stop(&pid[1]);
	CHECK(wait_count(0, "host_left", "host-b", 1, WAIT_NS) >= 0);
	ms = (long)((proc_now_ns() - t0) / 1000000u);
	printf("host-b stopped: left, seen by host-a after %ld ms\n", ms);
	CHECK(ms < TTL_S * 1000 * 2 / 3);
	CHECK(count(0, "host_lost", "host-b") == 0);
	/* c back: joins again. */
	start_host(2);
	CHECK(wait_count(0, "host_joined", "host-c", 2, WAIT_NS) >= 0);
	printf("host-c back: joined again\n");
}

static void etcd_outage(void)
{
	int joined = count(0, "cluster_joined", NULL);

	etcd_fixture_kill(&ef, 0);
	CHECK(wait_count(0, "cluster_unavailable", NULL, 1, WAIT_NS) >= 0);
	CHECK(wait_count(2, "cluster_unavailable", NULL, 1, WAIT_NS) >= 0);
	CHECK(waitpid(pid[0], NULL, WNOHANG) == 0 && waitpid(pid[2], NULL, WNOHANG) == 0);
	etcd_fixture_restart(&ef, 0);
	/* Back: the lease kept (available again) or expired meanwhile (joined again). */
	for (uint64_t t0 = proc_now_ns();
	     count(0, "cluster_available", NULL) == 0 && count(0, "cluster_joined", NULL) == joined;
	     proc_nap())
		CHECK(proc_now_ns() - t0 < WAIT_NS);
	check_key(0);
	printf("etcd stopped and started: hosts said so, kept running, and are back\n");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s <pflightd>\n", argv[0]);
		return 2;
	}
	if (etcd_fixture_binary() == NULL) {
		printf("SKIP: etcd is not installed (Debian's etcd-server)\n");
		return 77;
	}
	daemon_path = argv[1];
	(void)snprintf(dir, sizeof(dir), "/tmp/pft-chosts-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	(void)snprintf(cluster, sizeof(cluster), "t%d", (int)getpid());
	atexit(cleanup);
	etcd_fixture_start(&ef, 1);
	for (int i = 0; i < HOSTS; i++) {
		(void)snprintf(manifest[i], sizeof(manifest[i]), "%s/%d.yaml", dir, i);
		(void)snprintf(audit_path[i], sizeof(audit_path[i]), "%s/%d.audit", dir, i);
		(void)snprintf(sock[i], sizeof(sock[i]), "%s/%d.sock", dir, i);
		(void)snprintf(dlog[i], sizeof(dlog[i]), "%s/%d.log", dir, i);
		pid[i] = -1;
		write_manifest(i);
	}
	joins();
	loss_and_leave();
	etcd_outage();
	proc_stop(&pid[0]);
	proc_stop(&pid[2]);
	printf("ok\n");
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * tests/common/cluster_fixture.h: hosts of one cluster for the cluster tests: an etcd
 * (tests/common/etcd_fixture.h) and up to CF_HOSTS_MAX real pflightd ("host-a", "host-b",
 * ...), each with its own domain, audit log, control socket and host key, all in one
 * cluster's directory, and example counter workers on them. Nothing is left behind: an
 * exit by any path (a failed CHECK included) kills what runs, removes the domains'
 * segments and the temporary directory, and shows every log unless the test passed.
 * One fixture per process.
 */
#ifndef PF_TEST_CLUSTER_FIXTURE_H
#define PF_TEST_CLUSTER_FIXTURE_H

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "tests/common/etcd_fixture.h"

#define CF_HOSTS_MAX 4
#define CF_WAIT_NS (20ull * 1000000000ull)

struct cf_opts {
	unsigned hosts;        /* 1..CF_HOSTS_MAX */
	unsigned etcd_members; /* 1..ETCD_MEMBERS_MAX */
	unsigned ttl_s;        /* cluster.lease_ttl */
	unsigned shards;       /* cluster.shards */
	unsigned vnodes_max;
};

struct cf {
	struct etcd_fixture ef;
	struct cf_opts o;
	const char *daemon_path, *worker_path;
	char dir[64], cluster[32];
	char manifest[CF_HOSTS_MAX][128], audit[CF_HOSTS_MAX][128], sock[CF_HOSTS_MAX][128];
	char dlog[CF_HOSTS_MAX][128], wlog[CF_HOSTS_MAX][128], domain[CF_HOSTS_MAX][48];
	pid_t pid[CF_HOSTS_MAX], worker[CF_HOSTS_MAX];
	unsigned api_port[CF_HOSTS_MAX];
	int passed;
};

/* etcd started, manifests written; no host running yet. */
void cf_init(struct cf *c, const char *daemon_path, const char *worker_path,
	     const struct cf_opts *o);
/* Write host i's PhoenixFile again, with another cluster.shards. */
void cf_write_manifest(struct cf *c, int i, unsigned shards);
void cf_start_host(struct cf *c, int i);
void cf_kill_host(struct cf *c, int i); /* kill -9 of its daemon */
void cf_stop_host(struct cf *c, int i); /* SIGTERM, exit status 0 expected */
/* A counter worker on host i that defines VNodes 0..define-1 and serves them. */
void cf_start_worker(struct cf *c, int i, unsigned define);
/* Records of host i's audit log with event (and details key = value when key is set). */
int cf_count(struct cf *c, int i, const char *event, const char *key, const char *value);
/* Until there are n of them: the ms waited, or -1 past timeout_ns. */
long cf_wait(struct cf *c, int i, const char *event, const char *key, const char *value, int n,
	     uint64_t timeout_ns);
/* GET path from host i's REST API: the parsed answer (the caller's), status 200 or the
 * test fails. */
json_t *cf_api_get(struct cf *c, int i, const char *path);
/* Stop every host still running (cleanly) and mark the test passed. */
void cf_finish(struct cf *c);

#endif /* PF_TEST_CLUSTER_FIXTURE_H */

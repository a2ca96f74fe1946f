/* SPDX-License-Identifier: MIT */
/*
 * tests/common/etcd_fixture.h: an etcd cluster of 1 to ETCD_MEMBERS_MAX members for a
 * test, on loopback ports picked free at start, with its data in a temporary directory.
 * The members are Debian's etcd (etcd-server), started with PR_SET_PDEATHSIG (SIGKILL) so
 * that a test killed before its cleanup leaves none running; etcd_fixture_stop() stops
 * them and removes the directory, and an exit without it (a failed check) does the same
 * through atexit. One fixture per process.
 */
#ifndef PF_TEST_ETCD_FIXTURE_H
#define PF_TEST_ETCD_FIXTURE_H

#include <stddef.h>
#include <sys/types.h>

#define ETCD_MEMBERS_MAX 5u

struct etcd_fixture {
	char dir[64];
	unsigned n;
	pid_t pid[ETCD_MEMBERS_MAX];
	unsigned client_port[ETCD_MEMBERS_MAX], peer_port[ETCD_MEMBERS_MAX];
	char url[ETCD_MEMBERS_MAX][64]; /* each member's client URL */
	const char *endpoints[ETCD_MEMBERS_MAX];
	char log[ETCD_MEMBERS_MAX][96];
	char cluster[ETCD_MEMBERS_MAX * 48]; /* --initial-cluster */
};

/* The etcd binary, or NULL when it is not installed (the caller skips, 77). */
const char *etcd_fixture_binary(void);
/* Start an n-member cluster and wait until every member serves clients. Exits the test
 * (status 1, showing the logs) when it does not within 30 s. */
void etcd_fixture_start(struct etcd_fixture *f, unsigned n);
/* SIGKILL member i (it stays down). */
void etcd_fixture_kill(struct etcd_fixture *f, unsigned i);
/* Start member i again, with its data (after etcd_fixture_kill()), and wait until it
 * serves clients. */
void etcd_fixture_restart(struct etcd_fixture *f, unsigned i);
/* Stop every member still running and remove the directory. */
void etcd_fixture_stop(struct etcd_fixture *f);
struct CMUnitTest;
/* Run cmocka tests (TAP) against a one-member etcd in f, started before the first and
 * stopped after the last; a TAP skip (plan 1..0) where etcd is not installed. Returns
 * what main() returns. */
int etcd_fixture_run(struct etcd_fixture *f, const char *name, const struct CMUnitTest *tests,
		     size_t count);
/* A loopback TCP port free right now. */
unsigned etcd_fixture_free_port(void);

#endif /* PF_TEST_ETCD_FIXTURE_H */

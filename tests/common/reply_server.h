/* SPDX-License-Identifier: MIT */
/*
 * tests/common/reply_server.h: a stand-in for pflightd's control socket in unit tests: a
 * SOCK_SEQPACKET listener on a path, and a thread that answers each connection with the
 * next canned reply and keeps the request it read.
 */
#ifndef PF_TEST_REPLY_SERVER_H
#define PF_TEST_REPLY_SERVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define REPLY_SERVER_MAX 16 /* connections one server answers */

struct reply_server {
	int fd;
	const char *const *replies; /* NULL entry: accept, read, answer nothing */
	size_t count;
	char got[REPLY_SERVER_MAX][32]; /* the request of each connection, read after the join */
	pthread_t thread;
};

/* A SOCK_SEQPACKET socket bound to path and listening: its fd, or -errno. */
int reply_server_listen(const char *path);

/* Listen at path and answer the next count connections with replies[0..count) on a
 * thread of its own. 0, or -errno (-E2BIG: count over REPLY_SERVER_MAX). */
int reply_server_start(struct reply_server *sv, const char *path, const char *const *replies,
		       size_t count);

/* Wait until every reply was given, and close the socket. 0, or -errno. */
int reply_server_join(struct reply_server *sv);

/* Something other than the daemon listening at a control socket's path: a forked child
 * that becomes uid (when this process is root; it keeps this process's uid otherwise),
 * binds path and listens, takes one connection and counts the bytes sent on it until the
 * client closes. The directory of path must let uid create the socket. */
struct squatter {
	pid_t pid;
	int fd; /* read end: the child's report */
};

/* Start it; returns once it listens. 0, or -errno. */
int squatter_start(struct squatter *sq, const char *path, uint32_t uid);

/* Wait for its one connection to end: the bytes it received (0: nothing), or -errno. */
int squatter_join(struct squatter *sq);

#endif /* PF_TEST_REPLY_SERVER_H */

/* SPDX-License-Identifier: MIT */
/*
 * tests/common/netns.h: "two hosts" for tests and benchmarks: two network namespaces joined
 * by a veth pair, each end with an IPv4 address of one /30, loopback up on both sides.
 *
 * Lifetime. A pair belongs to the process that created it. netns_pair_destroy() removes it;
 * so does the pair's reaper (a small `sh` in a session of its own) the moment the creating
 * process ends without destroying it, even by SIGKILL or a meson timeout that kills the
 * test's process group. A pair whose owner and reaper both died is removed by the next
 * netns_pair_create() or netns_sweep_stale() on the machine. Removing a pair kills the
 * processes still inside its namespaces (except the caller), then deletes both names; the
 * kernel frees the namespaces, and the veth with them, once nothing holds them.
 *
 * Not thread-safe: create and destroy pairs from one thread at a time (other threads may
 * enter the namespaces or open sockets in them meanwhile). Nothing here logs; a failed
 * create says why in the pair's why[].
 */
#ifndef PF_TEST_NETNS_H
#define PF_TEST_NETNS_H

#include <netinet/in.h>
#include <sys/types.h>

#define NETNS_NAME_BYTES 64   /* "pft-<pid>-<start ticks>-<seq>-a" and its NUL */
#define NETNS_IFNAME_BYTES 16 /* IFNAMSIZ: "pfv<pid>-<seq>a" fits in 15 */
#define NETNS_ADDR_BYTES 16   /* INET_ADDRSTRLEN */
#define NETNS_WHY_BYTES 256
#define NETNS_PREFIX_LEN 30
#define NETNS_PAIRS_MAX 8   /* live pairs per process: the table forked children close */
#define NETNS_SEQ_MAX 1000u /* pairs created per process: keeps the ifname within 15 bytes */
#define NETNS_READY_TIMEOUT_NS (5ull * 1000000000ull) /* a veth is up in milliseconds */

/* Two namespaces, name[0] and name[1]; side i holds ifname[i] with addr[i] (in[i]). */
struct netns_pair {
	char name[2][NETNS_NAME_BYTES];     /* under /run/netns, as `ip netns list` shows */
	char ifname[2][NETNS_IFNAME_BYTES]; /* the veth end inside name[i] */
	char addr[2][NETNS_ADDR_BYTES];     /* dotted quad of ifname[i], prefix NETNS_PREFIX_LEN */
	struct in_addr in[2];               /* the same, network order */
	pid_t owner;                        /* the creating process; 0: nothing to destroy */
	pid_t reaper;                       /* removes the pair when the owner ends; -1: none */
	int reaper_fd;                      /* the reaper waits for this pipe's end; -1: none */
	char why[NETNS_WHY_BYTES];          /* after a failed create: what refused and how */
};

/*
 * Create a pair: namespaces named after this process (pid and start time, so a reused pid
 * is told apart) and a sequence number, the veth between them, addresses 10.a.b.c/30 with
 * the /30 chosen from the pid (see netns.c), links and loopback up. Returns once a TCP
 * connect from side 0 to side 1 went through (at most NETNS_READY_TIMEOUT_NS). Removes
 * stale pairs of dead processes first. Writes *p in full (also on failure; why[] then says
 * what went wrong). Returns 0, or:
 *   -EPERM    namespaces may not be created here (no CAP_SYS_ADMIN, /run not writable or
 *             read-only, a seccomp filter): skip the test
 *   -ENOTSUP  no network namespaces or no veth in this kernel, no `ip` (iproute2) or
 *             /bin/sh here: skip the test
 *   -ENOSPC   NETNS_SEQ_MAX pairs created by this process, or NETNS_PAIRS_MAX alive
 *   -ETIMEDOUT the link did not carry a connection in time
 *   -EIO      an `ip` command failed for another reason (why[] quotes it)
 *   other negative errno from fork, pipe, socket or setns
 */
int netns_pair_create(struct netns_pair *p);

/*
 * Remove the pair: kill what still runs in its namespaces (not the calling process), delete
 * both names, stop the reaper. Does nothing when p is NULL, already destroyed, or was
 * created by another process (a forked child holds a copy of the struct: only the creator
 * removes). Blocks while `ip` runs (milliseconds; at most about 5 s).
 */
void netns_pair_destroy(struct netns_pair *p);

/* Move the calling thread into side's namespace (setns). 0, -EINVAL (side not 0 or 1, p
 * NULL), or the negative errno of open(2) or setns(2). Not async-signal-safe (it formats
 * a path): a child forked from a multi-threaded process should be started with
 * netns_spawn(), which does so before it forks. */
int netns_enter(const struct netns_pair *p, int side);

/* An fd of the calling thread's namespace, to come back with netns_restore(); or a
 * negative errno. */
int netns_save(void);
/* Move the calling thread into the namespace of fd (from netns_save()) and close fd. 0 or
 * a negative errno (fd is closed either way). */
int netns_restore(int fd);

/* socket(domain, type, protocol) created in side's namespace, where it stays; the calling
 * thread stays where it is. The fd, or a negative errno (-EINVAL for a bad side). */
int netns_socket(const struct netns_pair *p, int side, int domain, int type, int protocol);

/* fork, move into side's namespace, exec argv (argv[0] a path) with stdout and stderr
 * appended to log (NULL: inherited). The child's pid, or a negative errno when fork fails
 * (-EINVAL for a bad side). The child exits 126 when it cannot enter, 127 when exec fails. */
pid_t netns_spawn(const struct netns_pair *p, int side, char *const argv[], const char *log);

/* Remove the pairs under /run/netns whose owner died (or whose pid now names another
 * process): what netns_pair_create() does first. The number of namespaces removed, or a
 * negative errno. */
int netns_sweep_stale(void);

#endif /* PF_TEST_NETNS_H */

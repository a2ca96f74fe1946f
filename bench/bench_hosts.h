/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_hosts.h: two pflightd on one machine as two hosts, for the migration
 * benchmark: keys made here (pf_audit_keygen) and listed in each other's transport.peers,
 * a domain each (its own name, limits from a config), an audit log each, the control
 * socket, and the daemon's process for its CPU time.
 *
 * Placements. "loopback": both daemons in this network namespace, listening on 127.0.0.1
 * (two ports). "veth": each daemon in one namespace of a netns pair (tests/common/netns.h),
 * listening on its veth address, the peer addressed by the other end's: Flight Packets
 * cross the veth. Shared memory and the control sockets (paths) are the same in both.
 *
 * Host i's daemon is pinned to cpu[i] (set before its exec, so every thread of it
 * inherits it): the two hosts are one core each, as the raw loops' sender and receiver.
 *
 * Lifetime: a daemon is started with PR_SET_PDEATHSIG (SIGKILL), so it does not outlive
 * the benchmark; bench_hosts_stop() stops both (SIGTERM, --destroy-on-exit: the domain
 * goes with it; SIGKILL and unlink after 10 s), removes the domains and the temporary
 * directory. An atexit handler stops whatever pair is still up when the benchmark exits on
 * an error. Benchmarks are not library code: setup errors exit (bench_check()).
 */
#ifndef PF_BENCH_HOSTS_H
#define PF_BENCH_HOSTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pflight/pflight.h"
#include "tests/common/netns.h"

#define BENCH_HOSTS_PATH_BYTES 192

/* The domain each host runs (both the same limits). */
struct bench_hosts_cfg {
	const char *tag; /* in the domain names: "pfb-mig-<tag>-<pid>-<a|b>" */
	uint32_t vnodes_max;
	uint32_t members_max;
	uint32_t inbox_slots;     /* power of two */
	uint64_t state_bytes_max; /* <= PF_STATE_BYTES_MAX */
	uint32_t message_bytes_max;
	const char *pflightd_args; /* extra daemon arguments, space-separated; NULL: none */
};

struct bench_host {
	char domain[PF_DOMAIN_NAME_MAX + 1];
	char name[16]; /* its transport.name: "host-a", "host-b" */
	char listen[NETNS_ADDR_BYTES];
	char sock[BENCH_HOSTS_PATH_BYTES];
	char audit[BENCH_HOSTS_PATH_BYTES];
	char log[BENCH_HOSTS_PATH_BYTES];
	unsigned port;
	pid_t pid;
	struct pf_domain *d;
	uint32_t uid; /* the segment's owner: who the control socket must run as */
};

struct bench_hosts {
	char dir[64];
	const char *pflightd;
	const struct netns_pair *ns; /* NULL: loopback */
	int cpu[2];
	struct bench_host h[2];
};

/* Start both daemons (pair: NULL for loopback) and open both domains. Exits on failure,
 * showing the daemons' logs. */
void bench_hosts_start(struct bench_hosts *hs, const char *pflightd, const struct netns_pair *ns,
		       const int cpu[2], const struct bench_hosts_cfg *cfg);
/* Stop both daemons, remove both domains and the directory. Idempotent. */
void bench_hosts_stop(struct bench_hosts *hs);

/* One control request to host i's daemon; the reply into reply (cap bytes). 0 when the
 * reply says "ok":true, else -EIO (reply holds it) or pf_control_request()'s errno. */
int bench_hosts_request(struct bench_hosts *hs, int i, const char *req, char *reply, size_t cap);

/* The daemon of host i: user + system CPU seconds of all its threads so far
 * (/proc/<pid>/stat utime + stime, clock ticks). */
double bench_hosts_cpu_s(const struct bench_hosts *hs, int i);

/* Call fn(details, arg) for each record of event in host i's audit log, in order; the
 * number of such records (fn's negative return stops the walk and is returned). */
typedef int (*bench_audit_fn)(json_t *details, void *arg);
int bench_hosts_audit_each(const struct bench_hosts *hs, int i, const char *event,
			   bench_audit_fn fn, void *arg);
/* Wait (at most timeout_ns) until host i's audit log holds count records of event: the
 * number it holds then. */
int bench_hosts_audit_wait(const struct bench_hosts *hs, int i, const char *event, int count,
			   uint64_t timeout_ns);

/* Lines of host i's daemon log that hold text. */
int bench_hosts_log_count(const struct bench_hosts *hs, int i, const char *text);

/* Print host i's daemon log to stderr (for failures). */
void bench_hosts_show_log(const struct bench_hosts *hs, int i);

#endif /* PF_BENCH_HOSTS_H */

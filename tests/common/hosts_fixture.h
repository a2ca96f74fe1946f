/* SPDX-License-Identifier: MIT */
/*
 * tests/common/hosts_fixture.h: two pflightd "hosts" on loopback for the cross-host fault
 * tests: host-a (index 0) and host-b (index 1), each a real daemon in the foreground with
 * its own domain, audit log, control socket and host key, listing the other in
 * transport.peers; a third key (index 2, "a stranger") that no daemon lists, for fake
 * hosts. Workers are tests/integration/hosts_fault_worker.c (numbered messages per
 * sender, tests/common/fault_state.h). Members may miss 20 heartbeats (a second) before
 * they are declared hung: two loaded cores must not turn a slow worker into a dead one.
 *
 * Nothing is left behind, whatever ends the test: every daemon and worker is started with
 * PR_SET_PDEATHSIG (SIGKILL), and a guard process forked at hf_init() removes both
 * domains' segments and the temporary directory when the test process ends, even by
 * SIGKILL or a meson timeout; a normal end (exit, a failed CHECK) does it at once through
 * atexit and waits for the guard. A test that fails shows both daemons' and workers' logs;
 * HF_SHOW_LOGS=1 in the environment shows them, and the audit logs, after a pass too. One
 * fixture per process; not thread-safe, except the read-only helpers said to be.
 */
#ifndef PF_TEST_HOSTS_FIXTURE_H
#define PF_TEST_HOSTS_FIXTURE_H

#include <stdint.h>
#include <sys/types.h>

#include "pflight/pflight.h"
#include "tests/common/fault_state.h"

#define HF_HOSTS 2
#define HF_KEYS 3 /* host-a, host-b, a stranger */
#define HF_WORKERS_MAX 4
#define HF_WAIT_NS (30ull * 1000000000ull) /* a daemon starts, a move ends, well within */

struct hf_opts {
	uint32_t vnodes_max;      /* default 16 */
	uint32_t members_max;     /* default 8 */
	uint32_t inbox_slots;     /* default 256 */
	uint64_t state_bytes_max; /* default 4096 */
	/* The port host i dials to reach the other (0: the other's own port), so a test can put
	 * a proxy between them, or a fake host in the other's place. */
	unsigned peer_port[HF_HOSTS];
	/* Both daemons' transport.zero_copy_threshold in bytes (0, the default: never). */
	unsigned zero_copy_threshold;
};

struct hf {
	char dir[64];
	char name[HF_HOSTS][64], sock[HF_HOSTS][128], audit[HF_HOSTS][160];
	char dlog[HF_HOSTS][160], wlog[HF_HOSTS][160], manifest[HF_HOSTS][160];
	unsigned char pk[HF_KEYS][32], sk[HF_KEYS][64];
	char pub[HF_KEYS][65];
	unsigned port[HF_HOSTS]; /* each daemon's own transport.port */
	struct hf_opts o;
	pid_t daemon[HF_HOSTS];
	pid_t worker[HF_HOSTS][HF_WORKERS_MAX];
	struct pf_domain *dom[HF_HOSTS];
	const char *daemon_path, *worker_path;
	pid_t guard;
	int guard_fd;
	int passed; /* set by the test before it returns: logs are not shown */
};

/* A fault test's arguments (<pflightd> <hosts_fault_worker>) and build (fault points
 * compiled in): -1 to go on, else the exit status to return at once (2: usage, 77: skip,
 * said on stdout). */
int hf_fault_test_args(int argc, char **argv);

/* Names, keys, ports, manifests (written now; hf_write_manifest() again after changing
 * o.peer_port), the guard. o may be NULL: the defaults. */
void hf_init(struct hf *h, const char *test, const char *daemon_path, const char *worker_path,
	     const struct hf_opts *o);
void hf_write_manifest(struct hf *h, int i);
/* Start daemon i and wait until it is ready; opens its domain the first time. A start
 * refused with "transport: Address already in use" (a daemon killed a moment before still
 * holding the port) is said on stderr and tried again every 100 ms. */
void hf_start_daemon(struct hf *h, int i);
/* A cutting relay (tests/common/cut_proxy.h) on host-a's way to host-b, then both
 * daemons: the relay, for the test to arm and stop. */
struct cut_proxy *hf_start_relayed(struct hf *h);
/* The same, with PF_FAULT=fault in its environment (shm/fault.h: "<point>:<n>:<mode>"). */
void hf_start_daemon_faulty(struct hf *h, int i, const char *fault);
/* kill -9 daemon i and reap it. */
void hf_kill_daemon(struct hf *h, int i);
/* Wait (at most timeout_ns) for daemon i, started with a fault armed, to end by it: killed
 * by SIGKILL (then reaped; stopped 0) or stopped by SIGSTOP (stopped 1: still there, for
 * the test to let go on with SIGCONT). 0, or -1 when it did something else or not in
 * time. */
int hf_wait_fault(struct hf *h, int i, int stopped, uint64_t timeout_ns);
/* A worker on host i with extra arguments (NULL-terminated, may be NULL); its index. */
int hf_start_worker(struct hf *h, int i, const char *const *extra);
/* Send sig to worker k of host i, and reap it when sig is SIGKILL. */
void hf_kill_worker(struct hf *h, int i, int k, int sig);
/* Stop everything (SIGTERM, then SIGKILL past a few seconds) and mark the test passed. */
void hf_finish(struct hf *h);

/* Ask host `from` to move VNode v to the other host: 0, or a negative errno (-EPROTO: the
 * daemon said no; its reason on stderr). Any thread. */
int hf_migrate(struct hf *h, int from, uint32_t v);

/* VNode v's state on host i (*vi filled when not NULL). A record that pf_vnode_info()
 * refuses (-EBADMSG, -EPROTO) is read again, up to a hundred times, and counted: it
 * refuses a record read while a transition changed it (its ownership word, then its
 * checkpoint descriptor sealed with the newer epoch), a known bug; a record refused every
 * time fails the test. Any thread. */
uint32_t hf_state(struct hf *h, int i, uint32_t v, struct pf_vnode_info *vi);
/* How many times hf_state() saw pf_vnode_info() refuse a record that it then read. */
uint64_t hf_info_refusals(void);
/* 1 when state lets a host place or serve the VNode. */
int hf_live(uint32_t state);
/* 1 when both hosts could place v at one instant: host x read twice with the same epoch,
 * live both times, and host 1-x live in between (x alternates). Any thread. */
int hf_both_live(struct hf *h, uint32_t v, int x);
/* The host that can place v now (0, 1) or -1; fails the test when both can. */
int hf_owner(struct hf *h, uint32_t v);
/* Wait until v is live on host i (for a test that runs one daemon): 0 or -ETIMEDOUT. */
int hf_wait_live(struct hf *h, int i, uint32_t v, uint64_t timeout_ns);
/* Wait until exactly one host can place v and neither holds it LEAVING or ARRIVING:
 * that host, or -1 past timeout_ns. */
int hf_settle(struct hf *h, uint32_t v, uint64_t timeout_ns);

/* A sampler thread: looks at the VNode hf_watch() names (none at first) on both hosts,
 * around each other (hf_both_live(), alternating x), naps nap_ns after every
 * looks_per_nap looks, and counts the looks that found it placeable on both (said on
 * stderr). hf_sampler_stop() ends it and returns that count. One at a time. */
void hf_sampler_start(struct hf *h, uint32_t looks_per_nap, uint64_t nap_ns);
void hf_watch(uint32_t v);
int hf_sampler_stop(void);
/* A sender thread: numbered messages of sender 0 to v at host-a, one every period_ns,
 * counted in *sent (read it only once hf_sender_stop() returned), until that stop. One at
 * a time. */
void hf_sender_start(struct hf *h, uint32_t v, uint64_t *sent, uint64_t period_ns);
void hf_sender_stop(void);

/* Message seq of sender to v at host i, retried while the inbox is full (at most
 * HF_WAIT_NS): 0, or -ENOENT (v not defined there). Any thread. */
int hf_send(struct hf *h, int i, uint32_t v, uint32_t sender, uint64_t seq);
/* n messages of sender 0 to v at host i, numbered on from *sent (which counts them). */
void hf_send_n(struct hf *h, int i, uint32_t v, uint64_t *sent, uint32_t n);
/* The same, for a message built by the caller (a FAULT_HOLD one). */
int hf_send_msg(struct hf *h, int i, const struct fault_msg *m);
/* The state committed for v on host i, its body checked against its hash: 0, -ENOENT,
 * -EBADMSG (the body does not match), or pf_checkpoint_read()'s errno. Any thread. */
int hf_read_state(struct hf *h, int i, uint32_t v, struct fault_state *st);
/* Messages of the numbers 1..sent[s] of each sender s that the state of v on host i never
 * applied, from the worker's bitmaps (--track-bytes; a number past them is not counted):
 * their count, the first one in *ret_sender and *ret_seq; or a negative errno. */
int hf_missing(struct hf *h, int i, uint32_t v, const uint64_t sent[FAULT_SENDERS],
	       uint32_t *ret_sender, uint64_t *ret_seq);
/* Wait until the host that owns v has applied up to number sent[s] of each sender s: that
 * host, its state in *st; or -ETIMEDOUT, -ENOENT (on no host), -EBADMSG (a state whose
 * body fails its hash). */
int hf_wait_caught_up(struct hf *h, uint32_t v, const uint64_t sent[FAULT_SENDERS],
		      uint64_t timeout_ns, struct fault_state *st);
/* A state's counts against what was sent, and its first anomalies, on stderr. */
void hf_print_state(uint32_t v, int at, const struct fault_state *st,
		    const uint64_t sent[FAULT_SENDERS]);
/* hf_wait_caught_up(), then check that each message was applied exactly once, in order:
 * 0, or -1 with the evidence on stderr. */
int hf_wait_applied(struct hf *h, uint32_t v, const uint64_t sent[FAULT_SENDERS],
		    uint64_t timeout_ns);

/* The outcome of a move of v from host-a as its audit log says it (one record at most,
 * waited for up to timeout_ns): 1 moved (vnode_emigrated), 0 stayed
 * (migrate_host_failed), -1 none in time, or both. */
int hf_outcome(struct hf *h, uint32_t v, uint64_t timeout_ns);
/* Records of host i's audit log with this event, about VNode v (UINT32_MAX: any), and,
 * when key is not NULL, a details field key whose value (as text) is value. */
int hf_audit_count(struct hf *h, int i, const char *event, uint32_t v, const char *key,
		   const char *value);
/* The details of the last record of host i's audit log with this event about VNode v
 * (UINT32_MAX: any), as JSON text into buf: 0, or -ENOENT. */
int hf_audit_last(struct hf *h, int i, const char *event, uint32_t v, char *buf, size_t cap);
/* Records of host i's audit log with this event whose details field key repeats the value
 * of an earlier one (the same move audited twice): their count, or a negative errno. */
int hf_audit_repeats(struct hf *h, int i, const char *event, const char *key);
/* Wait until hf_audit_count() reaches at least n: 0, or -ETIMEDOUT. */
int hf_audit_wait(struct hf *h, int i, const char *event, uint32_t v, int n, uint64_t timeout_ns);

#endif /* PF_TEST_HOSTS_FIXTURE_H */

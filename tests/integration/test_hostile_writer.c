/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_hostile_writer.c
 * Goal: a process with write access to the segment, joined as a member, corrupts every
 * word of every shared structure in turn while pflightd and example workers run, and gets
 * nothing: no process crashes or reads out of bounds (run under ASan+UBSan by
 * scripts/test), no process outside the domain is signalled, a corrupted record of its own
 * gets the corrupting member quarantined (declared dead without a kill, its VNodes placed
 * again with their state, an audit record naming the field), and every VNode whose own words
 * were not touched keeps its exact state: each counter equals the increments sent to it,
 * with no duplicate and no gap.
 * Method: pflightd with a small PhoenixFile, three counter workers (a worker that exits,
 * because a corruption of its record got it declared dead, is started again, as an operator's
 * restart policy would; a worker killed by a signal fails the test), 32 counter VNodes, the
 * first four of them the victims whose own words are corrupted. A sentinel process that is no
 * member records every signal it receives; its pid and start time are among the values
 * written. Part one: the test joins as a member and writes, one at a time, values no correct
 * writer produces into the identity, attribute and reserved fields of its own record: each
 * must get it quarantined, and its own VNode (only it has the capability that VNode needs)
 * must come back with its state. Part two: the test joins again and, for every 8-byte word
 * of the control block (but its lock), the first capability entries, its own and a worker's
 * member record, the victims' ownership words, VNode records, checkpoint buffers and their
 * holder words, first inbox slots, the pending ring and a worker's assignment ring (headers
 * and first slots), the first explanation records and failure-history entries, writes
 * values (3 of: random, all ones, a flipped bit, the sentinel's pid, its start time, 0, the
 * top bit, old + 1; all 8 in --long), each left there for a random 0-8 ms, the old value
 * put back if nobody changed the word since. Increments are sent to the untouched
 * VNodes between structures. Then every untouched counter must complete. Waits poll with
 * generous deadlines; members may miss heartbeats for 3 s (ASan slows everything).
 *   test_hostile_writer PFLIGHTD WORKER [--long]
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/domain_impl.h"
#include "pflight/pflight.h"
#include "shm/pf_atomic.h"
#include "tests/common/counter_check.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"
#include "tools/examples/counter.h"

#define WORKERS 3
#define VNODES 32u
#define VICTIMS 4u    /* VNodes 0..VICTIMS-1: their own words are corrupted */
#define OWN_VNODE 40u /* needs the capability only the hostile member declares */
#define WAIT_NS (60ull * 1000000000ull)
#define DWELL_MAX_US 8000u

static const char *daemon_path, *worker_path;
static char name[64], dir[64], manifest[128], audit[128], control[128], wlog[128];
static pid_t daemon_pid = -1, workers[WORKERS], sentinel = -1;
static int sentinel_pipe[2] = {-1, -1};
static int passed, long_run;
static struct pf_member *hostile; /* the corrupting member, while joined */
static uint64_t sent, rng = 0x9e3779b97f4a7c15ull, writes, restarts;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void cleanup(void)
{
	for (int i = 0; i < WORKERS; i++)
		if (workers[i] > 0 && kill(workers[i], SIGKILL) == 0)
			(void)waitpid(workers[i], NULL, 0);
	if (daemon_pid > 0 && kill(daemon_pid, SIGKILL) == 0)
		(void)waitpid(daemon_pid, NULL, 0);
	if (sentinel > 0 && kill(sentinel, SIGKILL) == 0)
		(void)waitpid(sentinel, NULL, 0);
	if (!passed) {
		char path[160];

		(void)snprintf(path, sizeof(path), "%s/pflightd.log", dir);
		proc_print_file(path);
		proc_print_file(wlog);
	}
	(void)pf_domain_unlink(name);
	if (passed && getenv("PF_TEST_KEEP") == NULL)
		proc_rm_dir(dir);
}

/* The sentinel: not a member; reports every signal it gets on the pipe. */
static void sentinel_handler(int sig)
{
	unsigned char b = (unsigned char)sig;

	(void)!write(sentinel_pipe[1], &b, 1);
}

static void start_sentinel(void)
{
	CHECK(pipe2(sentinel_pipe, O_CLOEXEC) == 0);
	sentinel = fork();
	CHECK(sentinel >= 0);
	if (sentinel == 0) {
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = sentinel_handler;
		for (int s = 1; s < NSIG; s++)
			if (s != SIGKILL && s != SIGSTOP)
				(void)sigaction(s, &sa, NULL);
		for (;;)
			pause();
	}
	(void)close(sentinel_pipe[1]);
	sentinel_pipe[1] = -1;
	CHECK(fcntl(sentinel_pipe[0], F_SETFL, O_NONBLOCK) == 0);
}

static void write_manifest(void)
{
	FILE *f = fopen(manifest, "w");

	CHECK(f != NULL);
	fprintf(f,
		"apiVersion: pflight/v1\nkind: Domain\nmetadata:\n  name: %s\n"
		"membership:\n  members_max: 8\n  vnodes_max: 64\n"
		"  heartbeat_interval: 100ms\n  heartbeat_misses: 30\n"
		"scheduling:\n  rebalance:\n    cooldown: 200ms\n"
		"governance:\n  credentials:\n    signing_key_path: %s/audit.key\n"
		"  audit:\n    path: %s\n    sign_every: 64\n",
		name, dir, audit);
	CHECK(fclose(f) == 0);
}

static pid_t spawn_worker(void)
{
	char *argv[] = {(char *)worker_path, name, "16", "--caps", "counter", NULL};

	return proc_spawn(argv, wlog);
}

/* A worker that exited (declared dead by a corruption of its record) is started again; one
 * killed by a signal is a crash. */
static void reap_workers(void)
{
	for (int i = 0; i < WORKERS; i++) {
		int status = 0;

		if (waitpid(workers[i], &status, WNOHANG) != workers[i])
			continue;
		if (WIFSIGNALED(status)) {
			fprintf(stderr, "worker %d killed by signal %d\n", (int)workers[i],
				WTERMSIG(status));
			workers[i] = -1;
			exit(1);
		}
		workers[i] = spawn_worker();
		restarts++;
	}
}

static void daemon_alive(void)
{
	int status = 0;

	if (waitpid(daemon_pid, &status, WNOHANG) == daemon_pid) {
		fprintf(stderr, "pflightd ended: status 0x%x\n", status);
		daemon_pid = -1;
		exit(1);
	}
}

static void nap_us(uint32_t us)
{
	struct timespec ts = {.tv_sec = us / 1000000u, .tv_nsec = (long)(us % 1000000u) * 1000};

	(void)nanosleep(&ts, NULL);
}

/* One corruption: a value into one word, left there a while, then the old value back if the
 * word still holds ours. */
static void corrupt_word(_Atomic uint64_t *w, uint64_t value)
{
	uint64_t old = pf_load_relaxed(w), mine = value;

	if (value == old)
		mine = ~old;
	pf_store_relaxed(w, mine);
	writes++;
	nap_us((uint32_t)(next_rand() % DWELL_MAX_US));
	if (hostile != NULL)
		pf_member_heartbeat(hostile); /* it is hostile, not hung */
	(void)pf_cas_relaxed(w, &mine, old);
}

static uint64_t value_for(uint32_t k, uint64_t old, uint64_t pid_word, uint64_t start)
{
	switch (k % 8) {
	case 0:
		return next_rand();
	case 1:
		return UINT64_MAX;
	case 2:
		return old ^ (UINT64_C(1) << (next_rand() % 64));
	case 3:
		return pid_word;
	case 4:
		return start;
	case 5:
		return 0;
	case 6:
		return UINT64_C(1) << 63;
	default:
		return old + 1;
	}
}

/* Every word of [base, base + bytes): a few values each (every value in --long). */
static void corrupt_range(const char *what, void *base, size_t bytes)
{
	_Atomic uint64_t *w = base;
	uint64_t pid_word = (uint64_t)(uint32_t)sentinel | ((uint64_t)(uint32_t)sentinel << 32);
	uint64_t start = proc_start_time(sentinel);
	uint32_t values = long_run ? 8 : 3;

	for (size_t i = 0; i < bytes / 8; i++) {
		uint32_t first = (uint32_t)(next_rand() % 8);

		for (uint32_t k = 0; k < values; k++)
			corrupt_word(&w[i],
				     value_for(first + k, pf_load_relaxed(&w[i]), pid_word, start));
		if (i % 16 == 15) {
			reap_workers();
			daemon_alive();
		}
	}
	printf("corrupted %s: %zu words\n", what, bytes / 8);
	fflush(stdout);
}

/* The untouched VNodes: VICTIMS..VNODES-1. */
static void send_untouched(struct pf_domain *d, uint32_t msgs)
{
	for (uint32_t k = 1; k <= msgs; k++) {
		for (uint32_t id = VICTIMS; id < VNODES; id++) {
			struct counter_msg m = {.vnode = id, .seq = sent + k, .inc = 1};
			uint64_t deadline = proc_now_ns() + WAIT_NS;
			int r;

			while ((r = pf_send(d, id, &m, sizeof(m))) == -EAGAIN &&
			       proc_now_ns() < deadline) {
				reap_workers();
				proc_nap();
			}
			if (r != 0)
				fprintf(stderr, "send to VNode %u: %s\n", id, strerror(-r));
			CHECK(r == 0);
		}
	}
	sent += msgs;
}

static uint32_t untouched_complete(struct pf_domain *d)
{
	uint32_t n = 0;

	for (uint32_t id = VICTIMS; id < VNODES; id++) {
		struct counter_state st;
		size_t len = 0;

		if (pf_checkpoint_read(d, id, &st, sizeof(st), &len, NULL) != 0 ||
		    len != sizeof(st))
			continue;
		if (st.dups != 0 || st.gaps != 0 || st.malformed != 0 || st.value > sent) {
			fprintf(stderr,
				"VNode %u: value %llu of %llu sent, dups %llu, gaps %llu, "
				"malformed %llu\n",
				id, (unsigned long long)st.value, (unsigned long long)sent,
				(unsigned long long)st.dups, (unsigned long long)st.gaps,
				(unsigned long long)st.malformed);
			exit(1);
		}
		n += st.value == sent && st.last_seq == sent;
	}
	return n;
}

static void wait_untouched_complete(struct pf_domain *d)
{
	uint64_t deadline = proc_now_ns() + WAIT_NS;

	while (untouched_complete(d) < VNODES - VICTIMS && proc_now_ns() < deadline) {
		reap_workers();
		daemon_alive();
		proc_nap();
	}
	if (untouched_complete(d) < VNODES - VICTIMS)
		fprintf(stderr, "untouched VNodes complete: %u of %u\n", untouched_complete(d),
			VNODES - VICTIMS);
	CHECK(untouched_complete(d) == VNODES - VICTIMS);
}

static struct pf_member *join_hostile(struct pf_domain *d)
{
	const char *caps[] = {"hostile"};
	struct pf_member_opts mo;
	struct pf_member *m = NULL;
	uint64_t deadline = proc_now_ns() + WAIT_NS;
	int r;

	pf_member_opts_init(&mo);
	mo.caps = caps;
	mo.caps_count = 1;
	mo.vnode_capacity = 1;
	while ((r = pf_member_join(d, &mo, &m)) == -EUSERS && proc_now_ns() < deadline)
		proc_nap();
	if (r != 0)
		fprintf(stderr, "join: %s\n", strerror(-r));
	CHECK(r == 0);
	return m;
}

static uint32_t worker_slot(struct pf_domain *d, uint32_t not_slot)
{
	struct pf_member_info mi = {.size = sizeof(mi)};

	for (uint32_t s = 0; s < d->lim.members_max; s++)
		if (s != not_slot && pf_member_info(d, s, &mi) == 0 && mi.state == PF_MEMBER_ACTIVE)
			for (int i = 0; i < WORKERS; i++)
				if (mi.pid == workers[i])
					return s;
	return UINT32_MAX;
}

/* Part one: one field of its own record, left written; the daemon must quarantine it. */
struct own_fault {
	const char *field; /* what the daemon's quarantine record must name */
	size_t offset;
	uint32_t bytes; /* 4 or 8 */
};

#define OWN_FAULT(f, name)                                                                         \
	{                                                                                          \
		name, offsetof(struct dom_member, f), sizeof(((struct dom_member *)0)->f)          \
	}
static const struct own_fault own_faults[] = {
	OWN_FAULT(state, "state"),
	OWN_FAULT(pid, "pid"),
	OWN_FAULT(tid, "tid"),
	OWN_FAULT(uid, "uid"),
	OWN_FAULT(start_time, "start_time"),
	OWN_FAULT(caps[0], "caps"),
	OWN_FAULT(numa_node, "numa_node"),
	OWN_FAULT(trust_ppm, "trust_ppm"),
	OWN_FAULT(load_ppm, "load_ppm"),
	OWN_FAULT(reserved2, "reserved"),
	OWN_FAULT(vnode_capacity, "vnode_capacity"),
	OWN_FAULT(admission, "admission"),
	OWN_FAULT(tally, "tally"),
};

/* A value no correct writer puts in that field of a live member's record. */
static uint64_t own_fault_value(struct pf_domain *d, const struct own_fault *f, uint64_t old,
				uint32_t gen)
{
	if (strcmp(f->field, "state") == 0)
		return old | (UINT64_C(1) << 31); /* an unknown flag */
	if (strcmp(f->field, "pid") == 0)
		return (uint32_t)sentinel; /* claims another process */
	if (strcmp(f->field, "tid") == 0)
		return 0;
	if (strcmp(f->field, "uid") == 0)
		return old ^ 0x1234u;
	if (strcmp(f->field, "start_time") == 0)
		return proc_start_time(sentinel);
	if (strcmp(f->field, "caps") == 0)
		return old | 1u; /* grants itself the workers' capability, "counter" (bit 0) */
	if (strcmp(f->field, "numa_node") == 0)
		return 5000;
	if (strcmp(f->field, "trust_ppm") == 0)
		return old == PF_PPM ? PF_PPM - 1 : PF_PPM; /* trust it was not given */
	if (strcmp(f->field, "load_ppm") == 0)
		return 2u * PF_PPM;
	if (strcmp(f->field, "reserved") == 0)
		return 1;
	if (strcmp(f->field, "vnode_capacity") == 0)
		return 0;
	if (strcmp(f->field, "admission") == 0)
		return ((uint64_t)gen << 32) | (UINT64_C(0x7) << 24); /* no such status */
	(void)d;
	return UINT64_MAX; /* tally: counts no generation can have */
}

/* The hostile member's own VNode (it alone has the capability it needs): claimed at each
 * join, its state (the count of quarantines so far) loaded and committed one higher. */
static struct pf_vnode *hold_own_vnode(struct pf_member *m, uint64_t expect)
{
	struct pf_vnode *v;
	uint64_t st = 0;
	size_t len = 0;
	int r;

	r = pf_vnode_claim(m, 0, WAIT_NS, &v);
	if (r != 0)
		fprintf(stderr, "claim of the hostile member's VNode: %s\n", strerror(-r));
	CHECK(r == 0 && pf_vnode_id(v) == OWN_VNODE);
	r = pf_checkpoint_load(v, &st, sizeof(st), &len);
	CHECK((r == 0 && len == sizeof(st) && st == expect) || (r == -ENOENT && expect == 0));
	st = expect + 1;
	CHECK(pf_checkpoint_commit(v, pf_vnode_epoch(v), &st, sizeof(st)) == 0);
	return v;
}

/* After its member's quarantine, the VNode is placed again with its last state. */
static void own_vnode_back(struct pf_domain *d, uint64_t expect)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	uint64_t st = 0;
	size_t len = 0;

	CHECK(pf_vnode_info(d, OWN_VNODE, &vi) == 0);
	CHECK(vi.state == PF_VNODE_PENDING);
	CHECK(pf_checkpoint_read(d, OWN_VNODE, &st, sizeof(st), &len, NULL) == 0);
	CHECK(len == sizeof(st) && st == expect);
}

static void quarantine_own_fields(struct pf_domain *d)
{
	for (size_t i = 0; i < PF_ARRAY_SIZE(own_faults); i++) {
		const struct own_fault *f = &own_faults[i];
		struct pf_member *m = join_hostile(d);
		uint32_t slot = (uint32_t)pf_member_id(m), gen = (uint32_t)(pf_member_id(m) >> 32);
		unsigned char *field = (unsigned char *)&d->members[slot] + f->offset;
		uint64_t deadline, w, old = 0, value;

		struct pf_vnode *v = hold_own_vnode(m, (uint64_t)i);

		/* Let the daemon's supervisor see the generation live first (it pins it). */
		nap_us(400000);
		memcpy(&old, field, f->bytes);
		value = own_fault_value(d, f, old, gen);
		if (f->bytes == 8)
			pf_store_relaxed((_Atomic uint64_t *)(void *)field, value);
		else
			pf_store_relaxed((_Atomic uint32_t *)(void *)field, (uint32_t)value);
		writes++;
		deadline = proc_now_ns() + WAIT_NS;
		do {
			proc_nap();
			w = pf_load_relaxed(&d->members[slot].state);
		} while ((member_word_gen(w) != gen || member_word_state(w) != PF_MEMBER_DEAD) &&
			 proc_now_ns() < deadline);
		if (member_word_state(w) != PF_MEMBER_DEAD ||
		    member_word_cause(w) != PF_DEATH_QUARANTINED)
			fprintf(stderr, "%s written: member %u.%u is %s, cause %u\n", f->field,
				slot, gen, pf_member_state_name(member_word_state(w)),
				member_word_cause(w));
		CHECK(member_word_gen(w) == gen && member_word_state(w) == PF_MEMBER_DEAD &&
		      member_word_cause(w) == PF_DEATH_QUARANTINED);
		CHECK(pf_vnode_release(v) == -ESTALE); /* fenced: its epoch is over */
		CHECK(pf_member_leave(m) == -ESTALE);
		own_vnode_back(d, (uint64_t)i + 1);
		printf("quarantined for its %s\n", f->field);
		reap_workers();
		daemon_alive();
	}
}

/* Every quarantine above has its audit record naming the field. */
static void check_quarantine_records(void)
{
	for (size_t i = 0; i < PF_ARRAY_SIZE(own_faults); i++)
		if (proc_audit_count(audit, "quarantine", "field", own_faults[i].field) < 1) {
			fprintf(stderr, "no quarantine record for %s\n", own_faults[i].field);
			exit(1);
		}
	CHECK(proc_audit_count(audit, "quarantine", "cause", "quarantined") >=
	      (int)PF_ARRAY_SIZE(own_faults));
}

/* Part two: every word of every shared structure. */
static void campaign(struct pf_domain *d, uint32_t own_slot)
{
	uint32_t wslot = worker_slot(d, own_slot);
	uint64_t ctl_bytes = sizeof(struct dom_control);

	CHECK(wslot != UINT32_MAX);
	/* The control block, but not the lock: a pthread mutex is the library's, and a word of
	 * it written by a peer makes pthread_mutex_lock() wait for ever (a denial of service
	 * docs/security.md lists as not defended). */
	corrupt_range("control (limits .. settings)", d->ctl, offsetof(struct dom_control, lock));
	corrupt_range("control (counters)", d->ctl->counters,
		      ctl_bytes - offsetof(struct dom_control, counters));
	send_untouched(d, 2);
	corrupt_range("capability directory", d->caps,
		      PF_MIN(4u, d->lim.caps_max) * sizeof(struct dom_cap));
	corrupt_range("own member record", &d->members[own_slot], sizeof(struct dom_member));
	send_untouched(d, 2);
	corrupt_range("a worker's member record", &d->members[wslot], sizeof(struct dom_member));
	send_untouched(d, 2);
	for (uint32_t v = 0; v < VICTIMS; v++) {
		uint64_t c = pf_load_relaxed(&d->vnodes[v].ckpt);
		uint32_t buf = ckpt_buf(c);

		corrupt_range("ownership word", &d->own[v], 8);
		corrupt_range("VNode record", &d->vnodes[v], sizeof(struct dom_vnode));
		if (buf < d->lim.ckpt_bufs) {
			corrupt_range("checkpoint buffer holder word", &d->ckpt_hold[buf], 8);
			corrupt_range("checkpoint buffer", ckpt_buffer(d, buf),
				      sizeof(struct dom_ckpt_hdr) + sizeof(struct counter_state));
		}
		for (uint64_t pos = 0; pos < 2; pos++)
			corrupt_range("inbox slot", inbox_slot(d, v, pos),
				      sizeof(struct dom_inbox_slot) + sizeof(struct counter_msg));
		send_untouched(d, 1);
	}
	corrupt_range("pending ring", d->pending.ring, sizeof(struct ring_mpmc) + 8 * 8);
	send_untouched(d, 2);
	corrupt_range("a worker's assignment ring", assign_ring(d, wslot)->ring,
		      sizeof(struct ring_mpmc) + 8 * 8);
	send_untouched(d, 2);
	corrupt_range("explanation ring", d->explain, 2 * sizeof(struct dom_explain));
	corrupt_range("failure history", d->history, 4 * sizeof(struct dom_history));
	send_untouched(d, 2);
}

static void check_sentinel(void)
{
	unsigned char b;
	int status = 0;

	if (read(sentinel_pipe[0], &b, 1) == 1) {
		fprintf(stderr, "the sentinel, no member, got signal %d\n", b);
		exit(1);
	}
	CHECK(waitpid(sentinel, &status, WNOHANG) == 0); /* alive: no SIGKILL either */
}

/* Nothing a sanitizer reported: scripts/test's ASan run sets log_path into the test's dir
 * through PF_SANITIZER_LOG_DIR; without it, a report aborts its process, which is seen as
 * a crash. */
static void check_sanitizer_logs(void)
{
	glob_t g;
	char pat[160];

	(void)snprintf(pat, sizeof(pat), "%s/san.*", dir);
	if (glob(pat, 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++)
			proc_print_file(g.gl_pathv[i]);
		fprintf(stderr, "%zu sanitizer reports\n", g.gl_pathc);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	struct pf_domain *d;
	struct pf_member *m;
	char dlog[160], san[192];
	char *dargv[] = {NULL, "--foreground", "--manifest", manifest, "--control", control, NULL};
	uint64_t deadline;
	uint32_t own;

	if (argc < 3) {
		fprintf(stderr, "usage: %s PFLIGHTD WORKER [--long]\n", argv[0]);
		return 1;
	}
	daemon_path = argv[1];
	worker_path = argv[2];
	long_run = argc > 3 && strcmp(argv[3], "--long") == 0;
	rng ^= (uint64_t)time(NULL) * 0x100000001b3ull;
	printf("seed %llu\n", (unsigned long long)rng);
	dargv[0] = (char *)daemon_path;
	(void)snprintf(dir, sizeof(dir), "/tmp/pft-hostile-%d", (int)getpid());
	CHECK(mkdir(dir, 0700) == 0);
	test_domain_name(name, sizeof(name), "hostile");
	(void)snprintf(manifest, sizeof(manifest), "%s/pflight.yaml", dir);
	(void)snprintf(audit, sizeof(audit), "%s/audit.log", dir);
	(void)snprintf(control, sizeof(control), "%s/control.sock", dir);
	(void)snprintf(wlog, sizeof(wlog), "%s/workers.log", dir);
	(void)snprintf(dlog, sizeof(dlog), "%s/pflightd.log", dir);
	/* Sanitizer reports of every process of the test go to files in dir. */
	(void)snprintf(san, sizeof(san), "log_path=%s/san:abort_on_error=1:detect_leaks=0", dir);
	CHECK(setenv("ASAN_OPTIONS", san, 1) == 0);
	(void)snprintf(san, sizeof(san), "log_path=%s/san:halt_on_error=1:print_stacktrace=1", dir);
	CHECK(setenv("UBSAN_OPTIONS", san, 1) == 0);
	atexit(cleanup);
	start_sentinel();
	write_manifest();
	CHECK(proc_start(dargv, dlog, " ready: ", WAIT_NS, &daemon_pid) == PROC_RUNNING);
	CHECK(pf_domain_open(name, &d) == 0);
	{
		const char *caps[] = {"counter"};
		struct pf_vnode_spec spec;

		pf_vnode_spec_init(&spec);
		spec.caps = caps;
		spec.caps_count = 1;
		CHECK(pf_vnode_define_range(d, 0, VNODES, &spec) == (int)VNODES);
		caps[0] = "hostile";
		CHECK(pf_vnode_define(d, OWN_VNODE, &spec) == 0);
	}
	for (int i = 0; i < WORKERS; i++)
		workers[i] = spawn_worker();
	deadline = proc_now_ns() + WAIT_NS;
	while (pf_domain_membership(d, NULL) != WORKERS && proc_now_ns() < deadline)
		proc_nap();
	CHECK(pf_domain_membership(d, NULL) == WORKERS);
	counters_send(d, VNODES, 4, &sent, WAIT_NS);
	deadline = proc_now_ns() + WAIT_NS;
	while (counters_complete(d, VNODES, sent) < VNODES && proc_now_ns() < deadline)
		proc_nap();
	CHECK(counters_complete(d, VNODES, sent) == VNODES);

	quarantine_own_fields(d);
	m = join_hostile(d);
	hostile = m;
	own = (uint32_t)pf_member_id(m);
	campaign(d, own);
	hostile = NULL;
	(void)pf_member_leave(m);

	wait_untouched_complete(d);
	reap_workers();
	daemon_alive();
	check_sentinel();
	check_sanitizer_logs();
	check_quarantine_records();
	printf("test_hostile_writer: %llu writes, %llu worker restarts, %d quarantines; "
	       "%u untouched VNodes exact\n",
	       (unsigned long long)writes, (unsigned long long)restarts,
	       proc_audit_count(audit, "quarantine", NULL, NULL), VNODES - VICTIMS);
	pf_domain_close(d);
	passed = 1;
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_migrate.c: VNodes moved between two hosts (ARCHITECTURE.md section 7), each
 * figure against a baseline measured in the same run.
 *
 *   bench_migrate <pflightd> <pflight> <counter-worker> [--placement loopback|veth|all]
 *                 [--only gib,drain,pause,downtime] [--pflightd-args 'ARGS']
 *
 * Two real pflightd run as host-a and host-b (bench_hosts.h): on loopback, and where
 * network namespaces may be made, one in each namespace of a netns pair joined by a veth
 * ("veth"; otherwise one JSON line says why it was skipped). Host a's daemon and the raw
 * loops' sender are pinned to cpus[0], host b's and the raw receiver to cpus[1]: two hosts
 * of one core each. The benchmark's own members (threads joined to a host's domain) load
 * the VNodes' state and, for the pause and the downtime, serve them while they move.
 *
 * Lines (bench "migrate", one set per placement):
 *   migrate_1GiB         one VNode of 1 GiB of state (committed once by a member of the
 *                        benchmark, which then leaves: the VNode waits PENDING) moved a->b,
 *                        then b->a: GB/s = state bytes / (time from the migrate-host request
 *                        to the source's word saying REMOTE, i.e. the target prepared it and
 *                        the source committed: when vnode_emigrated is written), the mean of
 *                        the two. Baseline: the best (by median of RAW_SAMPLES runs) of a
 *                        blocking send() loop and an io_uring send loop of 1 MiB writes of
 *                        the same 1 GiB over the same path (bench_tcp.h). Goal >= 0.9x.
 *   migrate_1GiB_again   the same VNode moved four more times, the last two timed: the
 *                        daemons' buffers and the arena's pages are in use by then (the
 *                        first moves pay for touching fresh pages, which a virtual machine
 *                        makes dear). Same baseline and goal.
 *   migrate_drain_10000x64KiB  10,000 VNodes of 64 KiB on host a, `pflight drain host --to
 *                        host-b`: aggregate GB/s from the command's start to the last VNode
 *                        REMOTE at a. Baseline: the same loops, the same 655 MB. Goal 0.9x.
 *   cpu_{source,target}_{1GiB,1GiB_again,drain}  CPU seconds per GB of the source and
 *                        the target daemon (/proc/<pid>/stat utime + stime over the moves,
 *                        every thread of the daemon, idle passes included) against the raw
 *                        loop's sender and receiver threads (getrusage). No goal.
 *   pause_p50, pause_p99 (bench_migrate_live.c) a 64 KiB VNode moved 1,000 times, a->b and
 *                        back, while a sender sends it 5,000 messages a second: the time it
 *                        can neither receive nor apply one, from its stop at the source to
 *                        its state loaded by a member at the target (an upper bound: see
 *                        bench_migrate_live.c). Goals 100 us and 1 ms on the value. Baseline:
 *                        a raw TCP exchange of 64 KiB there and 8 bytes back, same path.
 *   pause_daemon_p50, pause_daemon_p99  the source daemon's own pause_us (stop -> target
 *                        prepared, before the commit, the placement and the load), from the
 *                        vnode_emigrated records. Informational.
 *   downtime_64MiB (p50), downtime_64MiB_max  (bench_migrate_live.c) a 64 MiB VNode whose
 *                        owner rewrites 10% of its state a second, 6 moves; the same measure
 *                        as the pause. Goal 10 ms on the value.
 *   rounds_64MiB, resent_bytes_64MiB  the vnode_emigrated records of those moves: rounds
 *                        (the pre-copy rounds and the final one after the stop) and bytes
 *                        sent twice (bytes_sent - state_bytes). Informational.
 * What the daemons' records say of the 1 GiB moves, where the pause went (stop -> source
 * REMOTE -> target PENDING -> claimed -> loaded) and the delivery check go to stderr.

 * The counter worker's path is taken as the tests take it (and checked), but not run: the
 * pause and the downtime need the instant a member of the target has loaded the state,
 * which only a member of the benchmark's own can record.
 *
 * --only runs some of the parts; --pflightd-args passes options to both daemons (for
 * example --idle or --mode, to see what the agents' idle strategy costs the pause).
 *
 * Exit status: 0, 1 on a setup error, a move that failed, or a broken delivery (a message
 * lost or applied twice during the pause run), 77 without io_uring.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/bench_core.h"
#include "bench/bench_migrate.h"

#define GIB_STATE_BYTES (1ull << 30)
#define GIB_MOVES 2u /* a->b, b->a */
/* Then two more each way on the same daemons; the last two are timed again: the daemons'
 * move buffers and the arena's pages are then in use, as on a host that has moved VNodes
 * before. (A page touched the first time costs far more on this kind of virtual machine
 * than the copy into it: the first moves measure that.) */
#define GIB_MOVES_MORE 4u
#define DRAIN_VNODES 10000u
#define DRAIN_STATE_BYTES (64u << 10)
#define RAW_SAMPLES 3
#define RAW_WRITE_BYTES (1u << 20)
#define GOAL_THROUGHPUT 0.9
#define CLAIM_TIMEOUT_NS (10ull * 1000000000ull)
#define DRAIN_TIMEOUT_NS (240ull * 1000000000ull)
#define POLL_MOVE_NS 200000L   /* 200 us between looks at a moving VNode's word */
#define POLL_DRAIN_NS 2000000L /* 2 ms between looks at the drained host */

static const char *only; /* --only: the parts to run, NULL: all */

static int wanted(const char *part)
{
	return only == NULL || strstr(only, part) != NULL;
}

void mig_emit(const struct mig_ctx *c, struct bench_result *r)
{
	r->bench = "migrate";
	r->placement = c->placement;
	r->cpus = c->cpus;
	r->cpus_count = 2;
	bench_emit(r);
}

static void nap_ns(long ns)
{
	struct timespec ts = {ns / 1000000000L, ns % 1000000000L};

	(void)nanosleep(&ts, NULL);
}

/* ---- baselines ----------------------------------------------------------------------- */

struct raw_best {
	enum bench_tcp_loop loop;
	double gbps; /* the better loop's median */
	double gbps_min, gbps_max;
	double sender_cpu_s_per_gb, receiver_cpu_s_per_gb; /* that loop's medians */
	char name[64];
};

static int cmp_run(const void *a, const void *b)
{
	const struct bench_tcp_run *x = a, *y = b;

	return (x->gbps > y->gbps) - (x->gbps < y->gbps);
}

/* Both loops, RAW_SAMPLES runs each, interleaved; the better by median. */
static void raw_baseline(const struct mig_ctx *c, uint64_t bytes, struct raw_best *ret)
{
	const struct bench_tcp_source src = {.src = c->src,
					     .src_bytes = c->src_bytes,
					     .stride_bytes = RAW_WRITE_BYTES,
					     .write_bytes = RAW_WRITE_BYTES};
	struct bench_tcp_run runs[2][RAW_SAMPLES];
	double gb = (double)bytes / 1e9;
	int best;

	for (int s = 0; s < RAW_SAMPLES; s++)
		for (int l = 0; l < 2; l++)
			bench_tcp_stream((enum bench_tcp_loop)l, &c->path, &src, bytes,
					 &runs[l][s]);
	for (int l = 0; l < 2; l++)
		qsort(runs[l], RAW_SAMPLES, sizeof(runs[l][0]), cmp_run);
	best = runs[1][RAW_SAMPLES / 2].gbps > runs[0][RAW_SAMPLES / 2].gbps;
	ret->loop = (enum bench_tcp_loop)best;
	ret->gbps = runs[best][RAW_SAMPLES / 2].gbps;
	ret->gbps_min = runs[best][0].gbps;
	ret->gbps_max = runs[best][RAW_SAMPLES - 1].gbps;
	ret->sender_cpu_s_per_gb = runs[best][RAW_SAMPLES / 2].sender_cpu_s / gb;
	ret->receiver_cpu_s_per_gb = runs[best][RAW_SAMPLES / 2].receiver_cpu_s / gb;
	(void)snprintf(ret->name, sizeof(ret->name), "best of raw_send/raw_uring_send 1MiB (%s)",
		       bench_tcp_loop_name(ret->loop));
	fprintf(stderr, "bench_migrate: %s: raw send %.3f GB/s, raw io_uring %.3f GB/s (%.0f MB)\n",
		c->placement, runs[0][RAW_SAMPLES / 2].gbps, runs[1][RAW_SAMPLES / 2].gbps,
		gb * 1e3);
}

void mig_raw_exchange_us(const struct mig_ctx *c, uint32_t state_bytes, uint32_t rounds,
			 double *ret_p50_us, double *ret_p99_us)
{
	uint64_t *ns = calloc(rounds, sizeof(*ns));
	double *us = calloc(rounds, sizeof(*us));

	bench_check(ns != NULL && us != NULL ? 0 : -ENOMEM, "exchange samples");
	bench_tcp_exchange(&c->path, state_bytes, rounds, ns);
	for (uint32_t k = 0; k < rounds; k++)
		us[k] = (double)ns[k] / 1e3;
	*ret_p50_us = bench_percentile(us, rounds, 50);
	*ret_p99_us = bench_percentile(us, rounds, 99);
	free(ns);
	free(us);
}

/* ---- loading state ------------------------------------------------------------------ */

/* Define VNodes 0..count-1 on host i, join, claim each as the daemon places it, commit
 * state_bytes of src to each (VNode k: src + k * state_bytes), and leave: every VNode
 * waits PENDING there with its state, as a host's VNodes do between two owners. */
static void load_vnodes(struct bench_hosts *hs, int i, uint32_t count, const uint8_t *src,
			size_t state_bytes)
{
	struct pf_member_opts o;
	struct pf_member *m = NULL;
	uint64_t t0 = bench_now_ns();

	bench_check(pf_vnode_define_range(hs->h[i].d, 0, count, NULL), "pf_vnode_define_range");
	pf_member_opts_init(&o);
	o.vnode_capacity = count;
	bench_check(pf_member_join(hs->h[i].d, &o, &m), "pf_member_join (loader)");
	for (uint32_t k = 0; k < count; k++) {
		struct pf_vnode *v = NULL;
		uint32_t id;

		bench_check(pf_vnode_claim(m, 0, CLAIM_TIMEOUT_NS, &v), "pf_vnode_claim (loader)");
		id = pf_vnode_id(v);
		bench_check(pf_checkpoint_commit(v, pf_vnode_epoch(v),
						 src + (size_t)id * state_bytes, state_bytes),
			    "pf_checkpoint_commit (loader)");
	}
	bench_check(pf_member_leave(m), "pf_member_leave (loader)");
	fprintf(stderr, "bench_migrate: %u VNodes of %zu bytes loaded on %s in %.2f s\n", count,
		state_bytes, hs->h[i].name, (double)(bench_now_ns() - t0) / 1e9);
}

/* ---- one move, and a drain ----------------------------------------------------------------- */

struct move_cost {
	uint64_t ns;
	double cpu_s[2]; /* source, target daemon */
};

static void move_failed(struct bench_hosts *hs, const char *what)
{
	nap_ns(200000000L); /* the source logs why after its word says so: let it */
	bench_hosts_show_log(hs, 0);
	bench_hosts_show_log(hs, 1);
	bench_check(-EIO, what);
}

/* Move VNode id from host `from` to the other and wait until the source says REMOTE. */
static void move_one(struct bench_hosts *hs, int from, uint32_t id, struct move_cost *ret)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	char req[96], reply[PF_CONTROL_REPLY_MAX];
	double cpu0[2] = {bench_hosts_cpu_s(hs, from), bench_hosts_cpu_s(hs, 1 - from)};
	uint64_t t0, deadline, epoch0;
	int failed0;

	/* The last move ended when its source said REMOTE; here, its target, the VNode may
	 * still be ARRIVING (COMMIT on its way), then placed and claimed, each a new epoch:
	 * start from where it is placeable. */
	deadline = bench_now_ns() + MIG_MOVE_TIMEOUT_NS;
	for (;;) {
		bench_check(pf_vnode_info(hs->h[from].d, id, &vi), "pf_vnode_info");
		if (vi.state < PF_VNODE_LEAVING)
			break;
		if (bench_now_ns() > deadline)
			move_failed(hs, "the VNode did not settle here after its last move");
		nap_ns(POLL_MOVE_NS);
	}
	epoch0 = vi.epoch;
	failed0 = bench_hosts_audit_each(hs, from, "migrate_host_failed", NULL, NULL);
	(void)snprintf(req, sizeof(req), "migrate-host %u %s", id, hs->h[1 - from].name);
	t0 = bench_now_ns();
	deadline = t0 + MIG_MOVE_TIMEOUT_NS;
	if (bench_hosts_request(hs, from, req, reply, sizeof(reply)) < 0)
		move_failed(hs, reply);
	for (;;) {
		bench_check(pf_vnode_info(hs->h[from].d, id, &vi), "pf_vnode_info");
		if (vi.state == PF_VNODE_REMOTE && vi.epoch > epoch0)
			break;
		/* Back here at a newer epoch: rolled back, if the source says a move failed (a
		 * member's claim or hand-off also makes a new epoch). */
		if (vi.state < PF_VNODE_LEAVING && vi.epoch >= epoch0 + 2 &&
		    bench_hosts_audit_each(hs, from, "migrate_host_failed", NULL, NULL) > failed0)
			move_failed(hs, "the move was rolled back");
		if (bench_now_ns() > deadline)
			move_failed(hs, "the move did not end in time");
		nap_ns(POLL_MOVE_NS);
	}
	ret->ns = bench_now_ns() - t0;
	ret->cpu_s[0] = bench_hosts_cpu_s(hs, from) - cpu0[0];
	ret->cpu_s[1] = bench_hosts_cpu_s(hs, 1 - from) - cpu0[1];
}

/* VNodes of host i in state `state` among 0..count-1. */
static uint32_t count_in(struct bench_hosts *hs, int i, uint32_t count, uint32_t state)
{
	static struct pf_vnode_owner o[DRAIN_VNODES];
	uint32_t n = 0;

	bench_check(count <= DRAIN_VNODES ? 0 : -EINVAL, "count_in");
	bench_check(pf_vnode_owners(hs->h[i].d, 0, count, o), "pf_vnode_owners");
	for (uint32_t k = 0; k < count; k++)
		n += o[k].state == state;
	return n;
}

/* `pflight --domain <a> drain host --to host-b --no-wait`: its exit status. */
static int cli_drain(const struct mig_ctx *c, struct bench_hosts *hs)
{
	char *argv[] = {
		(char *)c->pflight, "--domain",  hs->h[0].domain, "drain",       "host", "--to",
		hs->h[1].name,      "--no-wait", "--control",     hs->h[0].sock, NULL};
	int status = 0;
	pid_t pid = fork();

	if (pid == 0) {
		int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);

		if (null_fd < 0 || dup2(null_fd, 1) < 0)
			_exit(126);
		execv(argv[0], argv);
		_exit(127);
	}
	bench_check(pid < 0 ? -errno : 0, "fork");
	(void)waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Drain host a to host b: the time from the command to the last VNode REMOTE at a. */
static void drain_all(const struct mig_ctx *c, struct bench_hosts *hs, struct move_cost *ret)
{
	double cpu0[2] = {bench_hosts_cpu_s(hs, 0), bench_hosts_cpu_s(hs, 1)};
	uint64_t t0 = bench_now_ns(), deadline = t0 + DRAIN_TIMEOUT_NS;

	if (cli_drain(c, hs) != 0)
		move_failed(hs, "pflight drain host --to host-b failed");
	while (count_in(hs, 0, DRAIN_VNODES, PF_VNODE_REMOTE) < DRAIN_VNODES) {
		if (bench_now_ns() > deadline)
			move_failed(hs, "the drain did not end in time");
		nap_ns(POLL_DRAIN_NS);
	}
	ret->ns = bench_now_ns() - t0;
	ret->cpu_s[0] = bench_hosts_cpu_s(hs, 0) - cpu0[0];
	ret->cpu_s[1] = bench_hosts_cpu_s(hs, 1) - cpu0[1];
}

/* ---- throughput lines ----------------------------------------------------------------- */

static void emit_throughput(const struct mig_ctx *c, const char *subject, const double *gbps,
			    unsigned samples, const struct raw_best *raw, uint64_t iterations,
			    uint32_t elem_bytes)
{
	struct bench_result r = {
		.subject = subject,
		.metric = "throughput",
		.unit = "GB/s",
		.baseline = raw->name,
		.baseline_value = raw->gbps,
		.higher_is_better = true,
		.goal = GOAL_THROUGHPUT,
		.iterations = iterations,
		.batch = 1,
		.elem_bytes = elem_bytes,
		.samples = samples,
		.value_min = gbps[0],
		.value_max = gbps[0],
	};

	for (unsigned s = 0; s < samples; s++) {
		r.value += gbps[s] / samples;
		r.value_min = gbps[s] < r.value_min ? gbps[s] : r.value_min;
		r.value_max = gbps[s] > r.value_max ? gbps[s] : r.value_max;
	}
	mig_emit(c, &r);
}

/* CPU seconds per GB of the source and the target daemon against the raw loop's threads. */
static void emit_cpu(const struct mig_ctx *c, const char *what, const double cpu_s[2], double gb,
		     const struct raw_best *raw)
{
	static const char *const side[2] = {"source", "target"};
	char subject[64], base[96];

	for (int k = 0; k < 2; k++) {
		struct bench_result r = {
			.subject = subject,
			.metric = "cpu_per_gb",
			.unit = "cpu_s/GB",
			.baseline = base,
			.value = cpu_s[k] / gb,
			.baseline_value =
				k == 0 ? raw->sender_cpu_s_per_gb : raw->receiver_cpu_s_per_gb,
			.higher_is_better = false,
			.samples = 1,
		};

		r.value_min = r.value_max = r.value;
		(void)snprintf(subject, sizeof(subject), "cpu_%s_%s", side[k], what);
		(void)snprintf(base, sizeof(base), "%s %s thread", bench_tcp_loop_name(raw->loop),
			       k == 0 ? "sender" : "receiver");
		mig_emit(c, &r);
	}
}

/* Sum of bytes_sent over the vnode_emigrated records. */
static int sum_bytes_sent(json_t *details, void *arg)
{
	*(uint64_t *)arg += (uint64_t)json_integer_value(json_object_get(details, "bytes_sent"));
	return 0;
}

/* What the daemons said of each move (stderr). */
static int print_one(json_t *details, void *arg)
{
	fprintf(stderr,
		"bench_migrate: %s: vnode_emigrated: rounds %lld, bytes_sent %lld, state_bytes "
		"%lld, "
		"pause_us %lld, total_ms %lld\n",
		(const char *)arg,
		(long long)json_integer_value(json_object_get(details, "rounds")),
		(long long)json_integer_value(json_object_get(details, "bytes_sent")),
		(long long)json_integer_value(json_object_get(details, "state_bytes")),
		(long long)json_integer_value(json_object_get(details, "pause_us")),
		(long long)json_integer_value(json_object_get(details, "total_ms")));
	return 0;
}

static void print_emigrated(const struct mig_ctx *c, struct bench_hosts *hs)
{
	for (int i = 0; i < 2; i++) {
		(void)bench_hosts_audit_wait(hs, i, "vnode_emigrated", 1, 10000000000ull);
		(void)bench_hosts_audit_each(hs, i, "vnode_emigrated", print_one,
					     (void *)(uintptr_t)c->placement);
	}
}

/* ---- the parts ------------------------------------------------------------------------ */

static void throughput_gib(struct mig_ctx *c)
{
	const struct bench_hosts_cfg cfg = {.tag = "gib",
					    .vnodes_max = 2,
					    .members_max = 4,
					    .inbox_slots = 64,
					    .state_bytes_max = GIB_STATE_BYTES,
					    .message_bytes_max = 240,
					    .pflightd_args = c->pflightd_args};
	struct bench_hosts hs;
	struct raw_best raw;
	double gbps[GIB_MOVES + GIB_MOVES_MORE], cpu[2] = {0, 0}, cpu_again[2] = {0, 0};

	bench_hosts_start(&hs, c->pflightd, c->ns, c->cpus, &cfg);
	load_vnodes(&hs, 0, 1, c->src, GIB_STATE_BYTES);
	raw_baseline(c, GIB_STATE_BYTES, &raw);
	for (unsigned s = 0; s < GIB_MOVES + GIB_MOVES_MORE; s++) {
		struct move_cost mc;
		double *into = s < GIB_MOVES ? cpu : cpu_again;

		move_one(&hs, (int)(s % 2), 0, &mc);
		gbps[s] = (double)GIB_STATE_BYTES / (double)mc.ns;
		if (s < GIB_MOVES || s >= GIB_MOVES + GIB_MOVES_MORE - 2) {
			into[0] += mc.cpu_s[0];
			into[1] += mc.cpu_s[1];
		}
		fprintf(stderr, "bench_migrate: %s: 1 GiB %s -> %s in %.3f s (%.3f GB/s)\n",
			c->placement, hs.h[s % 2].name, hs.h[1 - s % 2].name, (double)mc.ns / 1e9,
			gbps[s]);
	}
	print_emigrated(c, &hs);
	emit_throughput(c, "migrate_1GiB", gbps, GIB_MOVES, &raw, GIB_MOVES,
			(uint32_t)GIB_STATE_BYTES);
	emit_cpu(c, "1GiB", cpu, (double)GIB_STATE_BYTES * GIB_MOVES / 1e9, &raw);
	emit_throughput(c, "migrate_1GiB_again", gbps + GIB_MOVES + GIB_MOVES_MORE - 2, 2, &raw, 2,
			(uint32_t)GIB_STATE_BYTES);
	emit_cpu(c, "1GiB_again", cpu_again, (double)GIB_STATE_BYTES * 2 / 1e9, &raw);
	bench_hosts_stop(&hs);
}

static void throughput_drain(struct mig_ctx *c)
{
	const struct bench_hosts_cfg cfg = {.tag = "drain",
					    .vnodes_max = DRAIN_VNODES,
					    .members_max = 4,
					    .inbox_slots = 16,
					    .state_bytes_max = DRAIN_STATE_BYTES,
					    .message_bytes_max = 240,
					    .pflightd_args = c->pflightd_args};
	const uint64_t bytes = (uint64_t)DRAIN_VNODES * DRAIN_STATE_BYTES;
	struct bench_hosts hs;
	struct raw_best raw;
	struct move_cost mc;
	uint64_t sent = 0;
	double gbps;
	int moved;

	bench_hosts_start(&hs, c->pflightd, c->ns, c->cpus, &cfg);
	load_vnodes(&hs, 0, DRAIN_VNODES, c->src, DRAIN_STATE_BYTES);
	raw_baseline(c, bytes, &raw);
	drain_all(c, &hs, &mc);
	gbps = (double)bytes / (double)mc.ns;
	(void)bench_hosts_audit_wait(&hs, 0, "vnode_emigrated", DRAIN_VNODES, 10000000000ull);
	moved = bench_hosts_audit_each(&hs, 0, "vnode_emigrated", sum_bytes_sent, &sent);
	fprintf(stderr,
		"bench_migrate: %s: %u x 64 KiB drained in %.3f s (%.3f GB/s, %.1f moves/s); "
		"%d vnode_emigrated records (%llu bytes of chunks), %d migrate_host_failed, "
		"%d + %d records not audited (the daemons' logs)\n",
		c->placement, DRAIN_VNODES, (double)mc.ns / 1e9, gbps,
		DRAIN_VNODES / ((double)mc.ns / 1e9), moved, (unsigned long long)sent,
		bench_hosts_audit_each(&hs, 0, "migrate_host_failed", NULL, NULL),
		bench_hosts_log_count(&hs, 0, "not audited"),
		bench_hosts_log_count(&hs, 1, "not audited"));
	emit_throughput(c, "migrate_drain_10000x64KiB", &gbps, 1, &raw, DRAIN_VNODES,
			DRAIN_STATE_BYTES);
	emit_cpu(c, "drain", mc.cpu_s, (double)bytes / 1e9, &raw);
	bench_hosts_stop(&hs);
}

static void run_placement(struct mig_ctx *c)
{
	if (wanted("gib"))
		throughput_gib(c);
	if (wanted("drain"))
		throughput_drain(c);
	if (wanted("pause"))
		mig_pause(c);
	if (wanted("downtime"))
		mig_downtime(c);
}

/* ---- placements ------------------------------------------------------------------------ */

static int veth_socket(void *arg, int side)
{
	return netns_socket(arg, side, AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
}

/* One line in place of a placement's results: why it did not run. */
static void emit_skip(const char *placement, const char *why)
{
	printf("{\"bench\":\"migrate\",\"subject\":\"all\",\"placement\":\"%s\",\"skipped\":true,"
	       "\"reason\":\"",
	       placement);
	for (const char *s = why; *s != '\0'; s++)
		if (*s != '"' && *s != '\\' && (unsigned char)*s >= 0x20)
			putchar(*s);
	printf("\"}\n");
	fflush(stdout);
}

static void run_veth(struct mig_ctx *c)
{
	struct netns_pair pair;
	int r = netns_pair_create(&pair);

	if (r < 0) {
		char why[NETNS_WHY_BYTES + 64];

		(void)snprintf(why, sizeof(why), "network namespaces not available here (%s): %s",
			       strerror(-r), pair.why);
		emit_skip("veth", why);
		return;
	}
	c->placement = "veth";
	c->ns = &pair;
	c->path.socket_fn = veth_socket;
	c->path.arg = &pair;
	c->path.addr[0] = pair.in[0];
	c->path.addr[1] = pair.in[1];
	run_placement(c);
	c->ns = NULL;
	netns_pair_destroy(&pair);
}

/* 1 GiB of state bytes no two VNodes share (xorshift), touched once here. */
static uint8_t *make_source(size_t bytes)
{
	uint64_t *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t x = 0x9e3779b97f4a7c15ull;

	bench_check(p == MAP_FAILED ? -errno : 0, "mmap source");
	for (size_t k = 0; k < bytes / 8; k++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[k] = x;
	}
	return (uint8_t *)p;
}

static int usage(const char *me)
{
	fprintf(stderr,
		"usage: %s <pflightd> <pflight> <counter-worker> [--placement loopback|veth|all]"
		" [--only gib,drain,pause,downtime] [--pflightd-args 'ARGS']\n",
		me);
	return 2;
}

int main(int argc, char **argv)
{
	struct mig_ctx c = {.placement = "loopback"};
	const char *placement = "all";
	struct io_uring probe;

	if (argc < 4 || access(argv[1], X_OK) < 0 || access(argv[2], X_OK) < 0 ||
	    access(argv[3], X_OK) < 0)
		return usage(argv[0]);
	for (int i = 4; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--placement") == 0)
			placement = argv[i + 1];
		else if (strcmp(argv[i], "--only") == 0)
			only = argv[i + 1];
		else if (strcmp(argv[i], "--pflightd-args") == 0)
			c.pflightd_args = argv[i + 1];
		else
			return usage(argv[0]);
	}
	if (io_uring_queue_init(8, &probe, 0) < 0) {
		fprintf(stderr, "bench_migrate: io_uring unavailable: skipped\n");
		return 77;
	}
	io_uring_queue_exit(&probe);
	c.pflightd = argv[1];
	c.pflight = argv[2];
	bench_check(bench_placement_cpus("same-node", c.cpus), "placement same-node");
	bench_tcp_path_loopback(&c.path, c.cpus[0], c.cpus[1]);
	(void)prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* short naps while a VNode moves */
	c.src_bytes = GIB_STATE_BYTES;
	c.src = make_source(c.src_bytes);
	if (strcmp(placement, "veth") != 0)
		run_placement(&c);
	if (strcmp(placement, "loopback") != 0)
		run_veth(&c);
	(void)munmap((void *)c.src, c.src_bytes);
	return c.failed ? 1 : 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_hosts_cut.c
 * Goal: a move between two pflightd whose connection is cut at any point keeps the VNode
 * on exactly one host with every numbered message applied exactly once. After each cut
 * the source either rolls back (migrate_host_failed: it keeps the VNode) or has
 * committed (vnode_emigrated), never both; a target that had installed the arrival asks
 * the source on its next connection and makes it its own (vnode_immigrated) or undoes it
 * (vnode_arrival_undone); no instant has the VNode placeable on both hosts, and within
 * the settle time one host has it, the other knowing it as REMOTE (or never having had
 * it); the state's bytes arrive whole (the worker's body hash).
 * Method: two real pflightd on loopback (tests/common/hosts_fixture.h), host-a dialing
 * host-b through a relay in this process (tests/common/cut_proxy.h) that reads the
 * transport and link framing and cuts the connection (both sides closed) at a named
 * protocol position: a first, uncut move shows every frame and its byte offsets; then one
 * move per position, 29 positions over the handshake, BEGIN, the first round's chunks,
 * the last round, FINAL, the messages, SEAL, PREPARED, COMMIT, DONE and the forwarded
 * messages after it, each on a VNode of its own (512 KiB state, eight chunks; the worker
 * rewrites 128 KiB at each commit, so later rounds resend some; for the message position
 * it first leaves the inbox alone, FAULT_HOLD, so that the move carries messages). A
 * sender thread sends numbered messages to host-a all through the move; after the settle
 * more go to host-a, which forwards them when the VNode left. A sampler thread reads both
 * hosts all the time (hf_both_live()). Then the VNode is moved again, uncut, back to
 * host-a if it left and to host-b, so that nothing a cut left held (a move slot, an
 * arrival) goes unnoticed. Every position is run; the failures are listed at the end.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/cut_proxy.h"
#include "tests/common/hosts_fixture.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"
#include "tools/pflightd/hosts_impl.h"

#define STATE_BYTES (512u << 10)
#define SETTLE_NS (10ull * 1000000000ull)
#define PRE_MESSAGES 10u
#define POST_MESSAGES 10u

struct position {
	const char *what;
	struct cut_spec spec;
};

/* Direction 0 is host-a (source, client) to host-b; 1 back. */
static const struct position positions[] = {
	{"before anything", {0, CUT_HANDSHAKE, 1, 0}},
	{"inside the client hello", {0, CUT_HANDSHAKE, 1, 40}},
	{"inside the server hello", {1, CUT_HANDSHAKE, 1, 60}},
	{"inside the client auth", {0, CUT_HANDSHAKE, 2, 30}},
	{"before BEGIN", {0, HF_BEGIN, 1, 0}},
	{"inside BEGIN", {0, HF_BEGIN, 1, 20}},
	{"inside ACCEPT", {1, HF_ACCEPT, 1, 20}},
	{"inside the first chunk", {0, HF_CHUNK, 1, 30000}},
	{"inside chunk 4", {0, HF_CHUNK, 4, 100}},
	{"after round 1's chunks", {0, HF_CHUNK, 8, CUT_END}},
	{"inside ROUND 1", {0, HF_ROUND, 1, 24}},
	{"before ROUND_OK 1", {1, HF_ROUND_OK, 1, 0}},
	{"inside the last round's first chunk", {0, HF_CHUNK, 9, 5000}},
	{"before ROUND 2", {0, HF_ROUND, 2, 0}},
	{"inside ROUND_OK 2", {1, HF_ROUND_OK, 2, 30}},
	{"before FINAL (stopped)", {0, HF_FINAL, 1, 0}},
	{"inside FINAL", {0, HF_FINAL, 1, 100}},
	{"inside the first message", {0, HF_MSG, 1, 30}},
	{"before SEAL", {0, HF_SEAL, 1, 0}},
	{"inside SEAL", {0, HF_SEAL, 1, 200}},
	{"after SEAL (target installs)", {0, HF_SEAL, 1, CUT_END}},
	{"inside PREPARED", {1, HF_PREPARED, 1, 20}},
	{"after PREPARED", {1, HF_PREPARED, 1, CUT_END}},
	{"before COMMIT (source committed)", {0, HF_COMMIT, 1, 0}},
	{"inside COMMIT", {0, HF_COMMIT, 1, 20}},
	{"after COMMIT", {0, HF_COMMIT, 1, CUT_END}},
	{"inside DONE", {1, HF_DONE, 1, 24}},
	{"inside the first forwarded batch", {0, HF_FWD, 1, 60}},
	{"inside its acknowledgment", {1, HF_FWD_ACK, 1, 24}},
};
#define POSITIONS (sizeof(positions) / sizeof(positions[0]))

static struct hf h;
static struct cut_proxy *proxy;
static uint64_t sent[64][FAULT_SENDERS];

static void send_some(uint32_t v, uint32_t n)
{
	hf_send_n(&h, 0, v, &sent[v][0], n);
}

static void print_trace(void)
{
	struct cut_frame f;

	printf("the uncut move, frame by frame (direction, type, bytes before it, its bytes):\n");
	for (uint32_t i = 0; cut_proxy_frame(proxy, i, &f) == 0; i++)
		printf("  %s %-9s at %8llu, %6llu bytes\n", f.dir == 0 ? "a->b" : "b->a",
		       cut_type_name(f.type), (unsigned long long)f.start,
		       (unsigned long long)f.bytes);
}

/* The source's outcome for v: 1 committed, 0 rolled back, -1 none yet or both (a bug). */
static int source_outcome(uint32_t v)
{
	int moved = hf_audit_count(&h, 0, "vnode_emigrated", v, NULL, NULL);
	int failed = hf_audit_count(&h, 0, "migrate_host_failed", v, NULL, NULL);

	if (moved + failed > 1)
		fprintf(stderr,
			"VNode %u: host-a audited vnode_emigrated %d and "
			"migrate_host_failed %d times for one move\n",
			v, moved, failed);
	return moved + failed == 1 ? moved : -1;
}

/* Have host-a's worker leave v's inbox alone for a while (FAULT_HOLD), once it applied
 * what was sent, then send some more: they wait, and the move carries them (the sender
 * thread, which a loaded machine may start late, is not relied on for that). */
static void hold(uint32_t v)
{
	struct fault_msg m = {
		.vnode = v, .sender = 0, .seq = ++sent[v][0], .inc = FAULT_HOLD + 3000};

	CHECK(hf_send_msg(&h, 0, &m) == 0);
	CHECK(hf_wait_applied(&h, v, sent[v], SETTLE_NS) == 0);
	send_some(v, 10);
}

/* Move v with the cut armed; the sender runs throughout. 0 when the source reached an
 * outcome in time. */
static int move_cut(uint32_t v, const struct cut_spec *spec)
{
	uint64_t deadline;
	int out = -1;

	if (spec != NULL && spec->type == HF_MSG)
		hold(v);
	cut_proxy_arm(proxy, spec);
	hf_watch(v);
	hf_sender_start(&h, v, &sent[v][0], 1000000); /* numbered messages to host-a */
	test_sleep_ns(20000000);
	CHECK(hf_migrate(&h, 0, v) == 0);
	deadline = proc_now_ns() + SETTLE_NS;
	while (proc_now_ns() < deadline &&
	       (out = hf_audit_count(&h, 0, "vnode_emigrated", v, NULL, NULL) +
		      hf_audit_count(&h, 0, "migrate_host_failed", v, NULL, NULL)) == 0)
		test_sleep_ns(5000000);
	test_sleep_ns(50000000); /* a little more traffic after the outcome */
	hf_sender_stop();
	return out > 0 ? 0 : -1;
}

/* After the settle: the audit records agree with where the VNode is. */
static int audits_agree(uint32_t v, int owner, int outcome)
{
	int imm = hf_audit_count(&h, 1, "vnode_immigrated", v, NULL, NULL);
	int undone = hf_audit_count(&h, 1, "vnode_arrival_undone", v, NULL, NULL);
	uint32_t st_a = hf_state(&h, 0, v, NULL), st_b = hf_state(&h, 1, v, NULL);

	if (outcome == 1 && owner == 1 && imm == 1 && undone == 0 && st_a == PF_VNODE_REMOTE)
		return 0;
	if (outcome == 0 && owner == 0 && imm == 0 && undone <= 1 &&
	    (st_b == PF_VNODE_REMOTE || st_b == PF_VNODE_UNASSIGNED))
		return 0;
	fprintf(stderr,
		"VNode %u: owner host %d, source outcome %d (1 emigrated, 0 rolled back), "
		"target vnode_immigrated %d vnode_arrival_undone %d, states %s/%s\n",
		v, owner, outcome, imm, undone, pf_vnode_state_name(st_a),
		pf_vnode_state_name(st_b));
	return -1;
}

/* Move v from host `from` to the other, uncut, and wait until it is there. */
static int move_again(uint32_t v, int from)
{
	uint64_t deadline = proc_now_ns() + SETTLE_NS;

	if (hf_migrate(&h, from, v) < 0)
		return -1;
	while (hf_owner(&h, v) != 1 - from || hf_state(&h, from, v, NULL) != PF_VNODE_REMOTE) {
		if (proc_now_ns() > deadline) {
			fprintf(stderr, "VNode %u: not moved from host %d after the cut: %s/%s\n",
				v, from, pf_vnode_state_name(hf_state(&h, 0, v, NULL)),
				pf_vnode_state_name(hf_state(&h, 1, v, NULL)));
			return -1;
		}
		test_sleep_ns(5000000);
	}
	return 0;
}

/* After the cut: both hosts still move it (nothing held or leaked), host-a last to
 * host-b; every message once. */
static int moves_after(uint32_t v, int owner)
{
	int bad = 0;

	if (owner == 1)
		bad |= move_again(v, 1);
	bad |= move_again(v, 0);
	send_some(v, POST_MESSAGES);
	bad |= hf_wait_applied(&h, v, sent[v], SETTLE_NS);
	return bad;
}

/* One move of v cut at p (NULL: not cut). 0 when every check held. */
static int one(uint32_t v, const struct position *p)
{
	const struct cut_spec *spec = p != NULL ? &p->spec : NULL;
	struct cut_result cr;
	int owner, outcome, bad = 0;

	CHECK(hf_settle(&h, v, SETTLE_NS) == 0);
	send_some(v, PRE_MESSAGES);
	CHECK(hf_wait_applied(&h, v, sent[v], SETTLE_NS) == 0);
	bad |= move_cut(v, spec);
	cr = cut_proxy_result(proxy);
	owner = hf_settle(&h, v, SETTLE_NS);
	outcome = source_outcome(v);
	if (owner < 0) {
		fprintf(stderr, "VNode %u: on neither host after %llu s: %s/%s\n", v,
			SETTLE_NS / 1000000000ull, pf_vnode_state_name(hf_state(&h, 0, v, NULL)),
			pf_vnode_state_name(hf_state(&h, 1, v, NULL)));
		return -1;
	}
	send_some(v, POST_MESSAGES);
	bad |= hf_wait_applied(&h, v, sent[v], SETTLE_NS);
	bad |= outcome < 0 ? -1 : audits_agree(v, owner, outcome);
	if (p != NULL && moves_after(v, owner) != 0) {
		fprintf(stderr, "VNode %u: the moves after the cut failed\n", v);
		bad = -1;
	}
	printf("%-36s %s after a->b %7llu, b->a %5llu bytes: %s on host-%c (%llu messages)%s\n",
	       p != NULL ? p->what : "uncut", cr.cut ? "cut" : "not cut",
	       (unsigned long long)cr.at[0], (unsigned long long)cr.at[1],
	       outcome == 1   ? "moved"
	       : outcome == 0 ? "stayed"
			      : "?",
	       'a' + owner, (unsigned long long)sent[v][0], bad ? "  FAILED" : "");
	if (p != NULL && !cr.cut) {
		fprintf(stderr, "position \"%s\" never came\n", p->what);
		bad = -1;
	}
	return bad;
}

static void start_hosts(const char *daemon_path, const char *worker_path)
{
	struct hf_opts o = {.vnodes_max = 1 + POSITIONS,
			    .members_max = 4,
			    .inbox_slots = 256,
			    .state_bytes_max = STATE_BYTES};
	char state[32], define[16];
	const char *wa[] = {"--define", define, "--state-bytes", state, "--touch-bytes",
			    "131072",   NULL};

	(void)snprintf(state, sizeof(state), "%u", STATE_BYTES);
	(void)snprintf(define, sizeof(define), "%u", (unsigned)(1 + POSITIONS));
	hf_init(&h, "hcut", daemon_path, worker_path, &o);
	proxy = hf_start_relayed(&h);
	(void)hf_start_worker(&h, 0, wa);
	(void)hf_start_worker(&h, 1, wa + 2);
}

static uint32_t run_positions(void)
{
	uint32_t failed = 0;

	for (uint32_t i = 0; i < POSITIONS; i++)
		if (one(1 + i, &positions[i]) != 0)
			failed++;
	return failed;
}

int main(int argc, char **argv)
{
	uint32_t failed;
	int doubled;

	if (argc != 3) {
		fprintf(stderr, "usage: %s <pflightd> <hosts_fault_worker>\n", argv[0]);
		return 2;
	}
	start_hosts(argv[1], argv[2]);
	hf_sampler_start(&h, 64, 100000);
	CHECK(one(0, NULL) == 0);
	print_trace();
	failed = run_positions();
	doubled = hf_sampler_stop();
	cut_proxy_stop(proxy);
	if (failed > 0 || doubled > 0) {
		fprintf(stderr, "%u cut positions failed; %d looks saw both hosts live\n", failed,
			doubled);
		return 1;
	}
	hf_finish(&h);
	printf("ok: every cut position run, one owner and every message once after each\n");
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_hosts_kill_worker.c
 * Goal: the worker that serves a VNode on the source host may die at any moment of a
 * move (kill -9) without harm: the move completes or rolls back, the VNode ends on exactly
 * one host with its state whole, and every numbered message sent to it, before, during
 * and after, is applied exactly once.
 * Method: two real pflightd (tests/common/hosts_fixture.h); on host-a two fault workers
 * (the one that serves the VNode and a standby), rewriting 1 MiB of the state at each
 * commit so pre-copy keeps finding changed chunks; host-a dials host-b through the relay
 * of tests/common/cut_proxy.h, used here only to see how far the move got. Four moves,
 * each of its own VNode, a sender writing to host-a all through: one with no fault, then
 * the serving worker killed once 16 MiB of round 1 went, once the relay passed round 1's
 * ROUND (a later round, or the stop), and the moment the VNode is LEAVING (the stop); a
 * standby is started again after each kill. Then the outcome is awaited (vnode_emigrated
 * or migrate_host_failed), the VNode settles on one host, more messages go to host-a,
 * and the owner's state must count them all, once each, with its body matching its hash.
 * A sampler thread reads both hosts meanwhile (hf_both_live()). The state is 64 MiB, far
 * past the connection's send queue (8 MiB or 256 frames), so the sender waits on it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/cut_proxy.h"
#include "tests/common/hosts_fixture.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"
#include "tools/pflightd/hosts_impl.h"

#define WAIT_NS (40ull * 1000000000ull) /* a 64 MiB move on two busy cores, and its timeout */
#define AT_STOP UINT64_MAX
#define NO_KILL (UINT64_MAX - 1)
#define AFTER_ROUND (UINT64_MAX - 2)
#define STATE_BYTES (64ull << 20)
#define RUNS 4u

static struct hf h;
static struct cut_proxy *proxy;
static uint64_t sent[RUNS][FAULT_SENDERS];
static char state_text[24];
static const char *worker_args[] = {"--state-bytes", state_text, "--touch-bytes", "1048576", NULL};

static void send_some(uint32_t v, uint32_t n)
{
	hf_send_n(&h, 0, v, &sent[v][0], n);
}

/* The fixture's index of the host-a worker that owns v now, or -1. */
static int serving(uint32_t v)
{
	struct pf_member_info mi = {.size = sizeof(mi)};
	struct pf_vnode_info vi;

	if (hf_state(&h, 0, v, &vi) != PF_VNODE_ACTIVE ||
	    pf_member_info(h.dom[0], vi.owner_slot, &mi) < 0)
		return -1;
	for (int k = 0; k < HF_WORKERS_MAX; k++)
		if (h.worker[0][k] == mi.pid)
			return k;
	return -1;
}

/* 1 once the relay passed round 1's ROUND (frames from *seen on). */
static int round_passed(uint32_t *seen)
{
	struct cut_frame fr;

	while (cut_proxy_frame(proxy, *seen, &fr) == 0) {
		(*seen)++;
		if (fr.dir == 0 && fr.type == HF_ROUND)
			return 1;
	}
	return 0;
}

/* Wait for the moment (bytes of the move forwarded, AFTER_ROUND or AT_STOP), then kill -9
 * worker k, which served v when the move began. 0, or -1 when the move was over first. */
static int kill_at(uint32_t v, uint64_t bytes, int k)
{
	uint64_t deadline = proc_now_ns() + WAIT_NS;
	uint32_t seen = 0;

	for (;;) {
		struct cut_result cr = cut_proxy_result(proxy);

		if (bytes == AT_STOP       ? hf_state(&h, 0, v, NULL) == PF_VNODE_LEAVING
		    : bytes == AFTER_ROUND ? round_passed(&seen)
					   : cr.at[0] >= bytes)
			break;
		if (proc_now_ns() > deadline ||
		    hf_audit_count(&h, 0, "vnode_emigrated", v, NULL, NULL) > 0 ||
		    hf_audit_count(&h, 0, "migrate_host_failed", v, NULL, NULL) > 0)
			return -1;
		test_sleep_ns(100000);
	}
	hf_kill_worker(&h, 0, k, SIGKILL);
	printf("VNode %u: killed worker %d at %llu bytes of the move (%s)\n", v, k,
	       (unsigned long long)cut_proxy_result(proxy).at[0],
	       pf_vnode_state_name(hf_state(&h, 0, v, NULL)));
	(void)hf_start_worker(&h, 0, worker_args);
	return 0;
}

/* One move of v with its worker killed at `bytes`. 0 when every check held. */
static int one(uint32_t v, uint64_t bytes)
{
	int k, out, owner, bad = 0;

	CHECK(hf_settle(&h, v, WAIT_NS) == 0);
	send_some(v, 20);
	CHECK(hf_wait_applied(&h, v, sent[v], WAIT_NS) == 0);
	k = serving(v);
	CHECK(k >= 0);
	cut_proxy_arm(proxy, NULL); /* a fresh connection: its bytes are this move's */
	hf_watch(v);
	hf_sender_start(&h, v, &sent[v][0], 5000000); /* numbered messages to host-a */
	CHECK(hf_migrate(&h, 0, v) == 0);
	if (bytes != NO_KILL && kill_at(v, bytes, k) < 0) {
		fprintf(stderr, "VNode %u: the move ended before the kill\n", v);
		bad = -1;
	}
	out = hf_outcome(&h, v, WAIT_NS);
	hf_sender_stop();
	owner = hf_settle(&h, v, WAIT_NS);
	if (out < 0 || owner < 0 || owner != out) {
		fprintf(stderr, "VNode %u: outcome %d, owner %d\n", v, out, owner);
		return -1;
	}
	send_some(v, 20);
	bad |= hf_wait_applied(&h, v, sent[v], WAIT_NS);
	if (bytes == NO_KILL && out != 1) {
		fprintf(stderr, "VNode %u: a move with no fault did not happen\n", v);
		bad = -1;
	}
	printf("VNode %u: %s host-%c, %llu messages once each, %llu MiB state whole%s\n", v,
	       out ? "moved to" : "stayed on", 'a' + owner, (unsigned long long)sent[v][0],
	       (unsigned long long)(h.o.state_bytes_max >> 20), bad ? "  FAILED" : "");
	return bad;
}

static void start(const char *daemon_path, const char *worker_path, uint64_t state_bytes)
{
	struct hf_opts o = {.vnodes_max = RUNS,
			    .members_max = 4,
			    .inbox_slots = 256,
			    .state_bytes_max = state_bytes};
	char runs[8];
	const char *define[] = {"--define", runs, "--state-bytes", state_text, "--touch-bytes",
				"1048576",  NULL};

	(void)snprintf(runs, sizeof(runs), "%u", RUNS);
	(void)snprintf(state_text, sizeof(state_text), "%llu", (unsigned long long)state_bytes);
	hf_init(&h, "hkillw", daemon_path, worker_path, &o);
	proxy = hf_start_relayed(&h);
	(void)hf_start_worker(&h, 0, define);
	(void)hf_start_worker(&h, 0, worker_args);
	(void)hf_start_worker(&h, 1, worker_args);
}

int main(int argc, char **argv)
{
	const uint64_t at[RUNS] = {NO_KILL, 16ull << 20, AFTER_ROUND, AT_STOP};
	int failed = 0, doubled;

	if (argc != 3) {
		fprintf(stderr, "usage: %s <pflightd> <hosts_fault_worker>\n", argv[0]);
		return 2;
	}
	start(argv[1], argv[2], STATE_BYTES);
	hf_sampler_start(&h, 1, 200000);
	for (uint32_t v = 0; v < RUNS; v++)
		failed += one(v, at[v]) != 0;
	doubled = hf_sampler_stop();
	cut_proxy_stop(proxy);
	if (failed > 0 || doubled > 0) {
		fprintf(stderr, "%d moves failed; %d looks saw both hosts live\n", failed, doubled);
		return 1;
	}
	hf_finish(&h);
	printf("ok: the source's worker killed in three places, one owner, messages once\n");
	return 0;
}

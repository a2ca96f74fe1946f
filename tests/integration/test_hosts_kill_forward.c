/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_hosts_kill_forward.c
 * Goal: a message forwarded to the host that owns its VNode is applied exactly once even
 * when that host's pflightd is killed (kill -9) at any instruction of its delivery. The
 * source sends again every message not acknowledged, so the restarted daemon must know
 * which ones went in: before the claim of an inbox slot, after it, in the middle of the
 * copy, just before the message is published, and just after (in the inbox, not yet
 * recorded, not yet acknowledged). A daemon that keeps what it delivered only in its
 * memory delivers the unacknowledged part of the batch twice.
 * Method: two real pflightd (tests/common/hosts_fixture.h) with fault workers. Per case,
 * a VNode moves to host-b; host-b's daemon is started again with PF_FAULT armed to die at
 * the n-th hit of one point of pf_transit_send() (shm/fault.h); numbered messages go to
 * host-a, whose daemon forwards them; the armed daemon dies delivering one; it is started
 * again without a fault; more messages go to host-a; the owner must have applied every
 * one once, in order.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/hosts_fixture.h"
#include "tests/common/test_util.h"

#define WAIT_NS (20ull * 1000000000ull)
#define CASES 5u

static struct hf h;
static uint64_t sent[CASES][FAULT_SENDERS];

static void send_some(uint32_t v, uint32_t n)
{
	hf_send_n(&h, 0, v, &sent[v][0], n);
}

static int one(uint32_t v, const char *point, uint32_t nth)
{
	char fault[64];
	int bad = 0;

	CHECK(hf_settle(&h, v, WAIT_NS) == 0);
	send_some(v, 5);
	CHECK(hf_wait_applied(&h, v, sent[v], WAIT_NS) == 0);
	CHECK(hf_migrate(&h, 0, v) == 0);
	CHECK(hf_wait_live(&h, 1, v, WAIT_NS) == 0);
	CHECK(hf_settle(&h, v, WAIT_NS) == 1);
	hf_kill_daemon(&h, 1);
	(void)snprintf(fault, sizeof(fault), "%s:%u:kill", point, nth);
	hf_start_daemon_faulty(&h, 1, fault);
	send_some(v, 40); /* forwarded by host-a in batches; host-b dies delivering one */
	if (hf_wait_fault(&h, 1, 0, WAIT_NS) < 0) {
		fprintf(stderr, "VNode %u: host-b armed with %s did not die by it\n", v, fault);
		hf_kill_daemon(&h, 1);
		bad = -1;
	}
	hf_start_daemon(&h, 1);
	send_some(v, 10);
	bad |= hf_wait_applied(&h, v, sent[v], WAIT_NS);
	printf("host-b killed at %-22s hit %u: %s\n", point, nth, bad ? "FAILED" : "each once");
	return bad;
}

int main(int argc, char **argv)
{
	static const char *const points[CASES] = {"send_after_claim", "send_mid_copy",
						  "send_before_publish", "send_after_publish",
						  "send_after_claim"};
	static const uint32_t nth[CASES] = {7, 12, 20, 9, 1};
	struct hf_opts o = {
		.vnodes_max = CASES, .members_max = 4, .inbox_slots = 256, .state_bytes_max = 4096};
	const char *wa[] = {"--define", "5", NULL};
	int failed = 0;

	int r = hf_fault_test_args(argc, argv);

	if (r >= 0)
		return r;
	hf_init(&h, "hkillf", argv[1], argv[2], &o);
	hf_start_daemon(&h, 0);
	hf_start_daemon(&h, 1);
	(void)hf_start_worker(&h, 0, wa);
	(void)hf_start_worker(&h, 1, NULL);
	for (uint32_t v = 0; v < CASES; v++)
		failed += one(v, points[v], nth[v]) != 0;
	if (failed > 0) {
		fprintf(stderr, "%d cases failed\n", failed);
		return 1;
	}
	hf_finish(&h);
	printf("ok: host-b killed inside five deliveries, every message applied once\n");
	return 0;
}

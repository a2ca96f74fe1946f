/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_hosts_corrupt_source.c
 * Goal: a state that fails its checksum at the source is never committed to the target,
 * even though the source sends its final bytes before it verifies them (it verifies while
 * they travel and the target checks them). A source that committed on PREPARED without
 * that check would hand the target corrupt bytes under a fresh, valid checksum of the
 * target's: the corruption laundered, and the VNode served from it.
 * Method: two real pflightd with fault workers. host-a's daemon is started with PF_FAULT
 * armed to stop (SIGSTOP) at its first verify of a move's final state
 * (transit_before_verify, shm/fault.h): by then the stopped VNode's final bytes are sent.
 * While it is stopped, this process changes one byte of that state where it lies in
 * host-a's arena (through its own mapping of the domain), then lets it go on. The move
 * must fail at host-a for the checksum, host-a must count the corrupt checkpoint and keep
 * the VNode, and host-b must never place it. A second VNode then moves cleanly through the
 * same path (the point is not armed for a second hit): the verify passes, the move is
 * committed, every message applied once.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/hosts_fixture.h"
#include "tests/common/test_util.h"

#define WAIT_NS (20ull * 1000000000ull)

static struct hf h;
static uint64_t sent[2][FAULT_SENDERS];

static void send_some(uint32_t v, uint32_t n)
{
	hf_send_n(&h, 0, v, &sent[v][0], n);
}

static uint64_t corrupt_count(int i)
{
	uint64_t c[PF_COUNTER_COUNT] = {0};

	CHECK(pf_domain_counters(h.dom[i], c, PF_COUNTER_COUNT) == PF_COUNTER_COUNT);
	return c[PF_COUNTER_CKPT_CORRUPT];
}

/* VNode 0: its final state corrupted at host-a after it was sent, before its verify. */
static void corrupted(void)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	const void *view = NULL;
	size_t len = 0;
	uint64_t seq = 0, from = 0, before;
	char details[1024];
	unsigned char *at;

	CHECK(hf_settle(&h, 0, WAIT_NS) == 0);
	send_some(0, 5);
	CHECK(hf_wait_applied(&h, 0, sent[0], WAIT_NS) == 0);
	before = corrupt_count(0);
	CHECK(hf_migrate(&h, 0, 0) == 0);
	CHECK(hf_wait_fault(&h, 0, 1, WAIT_NS) == 0);
	CHECK(hf_state(&h, 0, 0, &vi) == PF_VNODE_LEAVING);
	CHECK(pf_transit_view(h.dom[0], 0, vi.epoch, &view, &len, &seq, &from) == 0);
	CHECK(len > 0);
	at = (unsigned char *)(uintptr_t)view + len - 1; /* a corrupt writer's doing */
	*at ^= 0x5a;
	CHECK(kill(h.daemon[0], SIGCONT) == 0);

	CHECK(hf_audit_wait(&h, 0, "migrate_host_failed", 0, 1, WAIT_NS) == 0);
	CHECK(hf_audit_last(&h, 0, "migrate_host_failed", 0, details, sizeof(details)) == 0);
	if (strstr(details, "fails its checksum") == NULL ||
	    strstr(details, "\"rolled_back\":true") == NULL) {
		fprintf(stderr, "the failed move says: %s\n", details);
		CHECK(0);
	}
	CHECK(hf_audit_count(&h, 0, "vnode_emigrated", 0, NULL, NULL) == 0);
	CHECK(hf_settle(&h, 0, WAIT_NS) == 0); /* host-a's still, host-b undid its arrival */
	CHECK(hf_audit_count(&h, 1, "vnode_immigrated", 0, NULL, NULL) == 0);
	CHECK(corrupt_count(0) > before);
	printf("corrupted at the source after its final bytes went: not moved, host-a keeps "
	       "it\n");
}

/* VNode 1: the same path, nothing corrupted: moved, every message applied once. */
static void clean(void)
{
	CHECK(hf_settle(&h, 1, WAIT_NS) == 0);
	send_some(1, 5);
	CHECK(hf_wait_applied(&h, 1, sent[1], WAIT_NS) == 0);
	CHECK(hf_migrate(&h, 0, 1) == 0);
	CHECK(hf_audit_wait(&h, 0, "vnode_emigrated", 1, 1, WAIT_NS) == 0);
	CHECK(hf_settle(&h, 1, WAIT_NS) == 1);
	send_some(1, 5); /* forwarded by host-a */
	CHECK(hf_wait_applied(&h, 1, sent[1], WAIT_NS) == 0);
	CHECK(hf_audit_count(&h, 0, "migrate_host_failed", 1, NULL, NULL) == 0);
	printf("verified while its bytes travelled: moved, every message applied once\n");
}

int main(int argc, char **argv)
{
	struct hf_opts o = {
		.vnodes_max = 2, .members_max = 4, .inbox_slots = 256, .state_bytes_max = 4096};
	const char *wa[] = {"--define", "2", NULL};

	int r = hf_fault_test_args(argc, argv);

	if (r >= 0)
		return r;
	hf_init(&h, "hcorrupt", argv[1], argv[2], &o);
	hf_start_daemon_faulty(&h, 0, "transit_before_verify:1:stop");
	hf_start_daemon(&h, 1);
	(void)hf_start_worker(&h, 0, wa);
	(void)hf_start_worker(&h, 1, NULL);
	corrupted();
	clean();
	hf_finish(&h);
	printf("ok\n");
	return 0;
}

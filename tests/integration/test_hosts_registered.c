/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_hosts_registered.c
 * Goal: when zero copy takes a move's final chunks, they go straight from the checkpoint
 * arena, which the source registered with its transport (io_uring fixed buffers), by
 * zero-copy sends from that registered memory, and arrive whole: the target checks every
 * digest, every message is applied once. A source that sent them as copies, or zero copy
 * from memory it had not registered, fails the counts below; one that registered the
 * wrong range, or let the set go while a send used it, fails the digests.
 * Method: two real pflightd with fault workers (a 64 KiB state of 8 KiB chunks),
 * transport.zero_copy_threshold 512 bytes. host-a's daemon is armed to stop (SIGSTOP)
 * just before it stops VNode 0 for its first move (transit_before_leave): while it is
 * stopped, this process sends messages that host-a's worker applies and commits, so the
 * final state differs from what pre-copy sent and its changed chunks go from the arena.
 * Then it goes on. The move must be committed, its record saying "registered":true and
 * arena_bytes > 0, and every message applied once at host-b; then VNode 0 moves back with
 * messages flowing. When the daemons stop, host-a's log must count zero-copy sends from
 * registered memory. Skips where the kernel gives no registered zero-copy sends.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pflight/xport.h"
#include "tests/common/hosts_fixture.h"
#include "tests/common/test_util.h"

#define WAIT_NS (20ull * 1000000000ull)

static struct hf h;
static uint64_t sent[FAULT_SENDERS];

/* 1 when this kernel lets the transport send zero copy from registered memory. */
static int registered_zc(void)
{
	const struct pf_xport_ops *u = pf_xport_find("uring");
	struct pf_xport_opts o;
	struct pf_xport *x = NULL;
	uint64_t f = 0;

	pf_xport_opts_init(&o);
	o.zc_threshold_bytes = 512;
	if (u == NULL || u->create(&o, &x) < 0)
		return 0;
	(void)u->features(x, &f);
	u->destroy(x);
	return (f & PF_XPORT_FEAT_REGISTERED_BUFFERS) != 0;
}

/* The number after `key` in host i's daemon log line that has `line` in it, or -1. */
static long long log_number(int i, const char *line, const char *key)
{
	char buf[1024];
	long long v = -1;
	FILE *f = fopen(h.dlog[i], "r");

	CHECK(f != NULL);
	while (fgets(buf, sizeof(buf), f) != NULL) {
		const char *p = strstr(buf, line) != NULL ? strstr(buf, key) : NULL;

		if (p != NULL)
			v = strtoll(p + strlen(key), NULL, 10);
	}
	CHECK(fclose(f) == 0);
	return v;
}

static void moved_from_arena(void)
{
	char details[1024];
	const char *p;

	CHECK(hf_settle(&h, 0, WAIT_NS) == 0);
	hf_send_n(&h, 0, 0, sent, 5);
	CHECK(hf_wait_applied(&h, 0, sent, WAIT_NS) == 0);
	CHECK(hf_migrate(&h, 0, 0) == 0);
	CHECK(hf_wait_fault(&h, 0, 1, WAIT_NS) == 0); /* pre-copy done, about to stop it */
	hf_send_n(&h, 0, 0, sent, 20);                /* applied and committed at host-a */
	CHECK(hf_wait_applied(&h, 0, sent, WAIT_NS) == 0);
	CHECK(kill(h.daemon[0], SIGCONT) == 0);
	CHECK(hf_audit_wait(&h, 0, "vnode_emigrated", 0, 1, WAIT_NS) == 0);
	CHECK(hf_audit_last(&h, 0, "vnode_emigrated", 0, details, sizeof(details)) == 0);
	p = strstr(details, "\"arena_bytes\":");
	if (strstr(details, "\"registered\":true") == NULL || p == NULL ||
	    strtoull(p + strlen("\"arena_bytes\":"), NULL, 10) == 0) {
		fprintf(stderr, "the move says: %s\n", details);
		CHECK(0);
	}
	CHECK(hf_settle(&h, 0, WAIT_NS) == 1);
	hf_send_n(&h, 0, 0, sent, 5); /* forwarded by host-a */
	CHECK(hf_wait_applied(&h, 0, sent, WAIT_NS) == 0);
	printf("final chunks from the registered arena: moved, every message applied once\n");
}

static void back(void)
{
	hf_sender_start(&h, 0, sent, 2000000);
	CHECK(hf_migrate(&h, 1, 0) == 0);
	CHECK(hf_audit_wait(&h, 1, "vnode_emigrated", 0, 1, WAIT_NS) == 0);
	hf_sender_stop();
	CHECK(hf_settle(&h, 0, WAIT_NS) == 0);
	CHECK(hf_wait_applied(&h, 0, sent, WAIT_NS) == 0);
	CHECK(hf_audit_count(&h, 0, "migrate_host_failed", 0, NULL, NULL) == 0);
	CHECK(hf_audit_count(&h, 1, "migrate_host_failed", 0, NULL, NULL) == 0);
	printf("and back with messages flowing: every message applied once\n");
}

int main(int argc, char **argv)
{
	struct hf_opts o = {.vnodes_max = 2,
			    .members_max = 4,
			    .inbox_slots = 256,
			    .state_bytes_max = 64u << 10,
			    .zero_copy_threshold = 512};
	const char *wa[] = {"--define", "1", "--state-bytes", "65536", "--touch-bytes",
			    "4096",     NULL};
	const char *wb[] = {"--state-bytes", "65536", "--touch-bytes", "4096", NULL};
	long long fixed;
	int r = hf_fault_test_args(argc, argv);

	if (r >= 0)
		return r;
	if (!registered_zc()) {
		printf("SKIP: this kernel gives no zero-copy sends from registered buffers\n");
		return 77;
	}
	hf_init(&h, "hregistered", argv[1], argv[2], &o);
	hf_start_daemon_faulty(&h, 0, "transit_before_leave:1:stop");
	hf_start_daemon(&h, 1);
	(void)hf_start_worker(&h, 0, wa);
	(void)hf_start_worker(&h, 1, wb);
	moved_from_arena();
	back();
	hf_finish(&h);
	fixed = log_number(0, "zero-copy from registered", "zero-copy, ");
	printf("host-a: %lld zero-copy sends from registered memory\n", fixed);
	CHECK(fixed > 0);
	printf("ok\n");
	return 0;
}

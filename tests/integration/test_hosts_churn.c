/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_hosts_churn.c
 * Goal: VNodes moved back and forth between two pflightd a thousand times, while senders
 * on both hosts keep sending numbered messages, each to its own host's domain (the host a
 * VNode left forwards them), lose nothing and apply nothing twice: at the end every
 * sender's sequence on every VNode is applied exactly once and in order (no duplicate, no
 * gap), and at no instant during the moves is a VNode placeable on both hosts.
 * Method: two real pflightd on loopback (tests/common/hosts_fixture.h) with a fault worker
 * each, small states; four VNodes, each moved by a thread of its own (pflight's
 * migrate-host through the control socket, then waiting until the VNode is live on the
 * other host and REMOTE on this one; a move that failed is asked again); a sender
 * thread per host (sender 0 writes to host-a, sender 1 to host-b, round robin over the
 * VNodes, about a message a millisecond each; a VNode host-b never had is skipped there);
 * a sampler thread reading both hosts all the time (hf_both_live(): one host read twice
 * around the other, same epoch and live both times, so it never reports a pair of reads
 * that were not simultaneous). At the end the senders stop; no move may have stuck, no
 * instant may have had a VNode live on both hosts, every message must have been applied
 * exactly once and in order, each move audited once on each host, no failure twice, and
 * pf_vnode_info() must never have refused a record it read. Moves: the last argument,
 * per VNode (default 250, so 1,000 in all).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/hosts_fixture.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"

#define VNODES 4u
#define MOVE_WAIT_NS (10ull * 1000000000ull)
#define END_WAIT_NS (30ull * 1000000000ull)
#define TRACK_BYTES 4096u                          /* the worker's bitmaps: 1 KiB per sender */
#define SEQ_MAX (TRACK_BYTES / FAULT_SENDERS * 8u) /* numbers a bitmap holds */

static struct hf h;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int running = 1, doubled, stuck;
static uint32_t moves_per_vnode = 250, moved[VNODES], retried[VNODES];
static uint64_t sent[VNODES][FAULT_SENDERS];
static uint64_t looks;

static int get(int *flag)
{
	int v;

	CHECK(pthread_mutex_lock(&lock) == 0);
	v = *flag;
	CHECK(pthread_mutex_unlock(&lock) == 0);
	return v;
}

static void add(int *counter)
{
	CHECK(pthread_mutex_lock(&lock) == 0);
	(*counter)++;
	CHECK(pthread_mutex_unlock(&lock) == 0);
}

static void *sampler(void *arg)
{
	uint64_t n = 0;

	(void)arg;
	while (get(&running)) {
		for (uint32_t v = 0; v < VNODES; v++, n++)
			if (hf_both_live(&h, v, (int)(n & 1))) {
				fprintf(stderr, "VNode %u placeable on both hosts at once\n", v);
				add(&doubled);
			}
		if ((n & 255) == 0)
			test_sleep_ns(50000); /* the workers need the cores too */
	}
	CHECK(pthread_mutex_lock(&lock) == 0);
	looks = n;
	CHECK(pthread_mutex_unlock(&lock) == 0);
	return NULL;
}

/* Sender s writes to host s's domain: each VNode in turn, its next number (up to what the
 * worker's bitmap holds). */
static void *sender(void *arg)
{
	uint32_t s = (uint32_t)(uintptr_t)arg;

	for (uint32_t k = 0; get(&running); k++) {
		uint32_t v = k % VNODES;

		if (sent[v][s] < SEQ_MAX && hf_send(&h, (int)s, v, s, sent[v][s] + 1) == 0)
			sent[v][s]++;
		if (v == VNODES - 1)
			test_sleep_ns(1000000);
	}
	return NULL;
}

/* 1 when every move of v host `from` started has ended (moved or failed, its audit log
 * says) while v is still live there: the last one failed, before or after the stop. */
static int failed_here(uint32_t v, int from)
{
	int started = hf_audit_count(&h, from, "migrate_host_start", v, NULL, NULL);
	int ended = hf_audit_count(&h, from, "vnode_emigrated", v, NULL, NULL) +
		    hf_audit_count(&h, from, "migrate_host_failed", v, NULL, NULL);

	return started > 0 && ended >= started && hf_live(hf_state(&h, from, v, NULL));
}

/* Move v from its host to the other one, asked again when it failed (looked at after
 * 100 ms without the move done): 0, or -1 when it is on neither for MOVE_WAIT_NS, or a
 * move is not done in that time. */
static int move_once(uint32_t v)
{
	uint64_t deadline = proc_now_ns() + MOVE_WAIT_NS, asked;
	int from = -1;

	while ((from = hf_owner(&h, v)) < 0) {
		if (proc_now_ns() > deadline)
			return -1;
		test_sleep_ns(1000000);
	}
	CHECK(hf_migrate(&h, from, v) == 0);
	asked = proc_now_ns();
	for (;;) {
		int at = hf_owner(&h, v);

		if (at == 1 - from && hf_state(&h, from, v, NULL) == PF_VNODE_REMOTE)
			return 0;
		if (at == from && proc_now_ns() - asked > 100000000u && failed_here(v, from)) {
			retried[v]++;
			CHECK(hf_migrate(&h, from, v) == 0);
			asked = proc_now_ns();
		}
		if (proc_now_ns() > deadline)
			return -1;
		test_sleep_ns(1000000);
	}
}

/* What the audit logs say of v's last moves, for a move that did not end. */
static void why_stuck(uint32_t v)
{
	static const char *const events[] = {"migrate_host_start",    "migrate_host_refused",
					     "migrate_host_failed",   "vnode_emigrated",
					     "vnode_arrival_refused", "vnode_immigrated",
					     "vnode_arrival_undone"};
	char text[512];

	for (int i = 0; i < HF_HOSTS; i++)
		for (size_t k = 0; k < sizeof(events) / sizeof(events[0]); k++)
			if (hf_audit_last(&h, i, events[k], v, text, sizeof(text)) == 0)
				fprintf(stderr, "  host-%c's last %s (of %d): %s\n", 'a' + i,
					events[k], hf_audit_count(&h, i, events[k], v, NULL, NULL),
					text);
}

static void *mover(void *arg)
{
	uint32_t v = (uint32_t)(uintptr_t)arg;

	while (moved[v] < moves_per_vnode && get(&running)) {
		if (move_once(v) < 0) {
			fprintf(stderr, "VNode %u: move %u not done in %llu s (%s/%s)\n", v,
				moved[v], MOVE_WAIT_NS / 1000000000ull,
				pf_vnode_state_name(hf_state(&h, 0, v, NULL)),
				pf_vnode_state_name(hf_state(&h, 1, v, NULL)));
			why_stuck(v);
			add(&stuck);
			break;
		}
		moved[v]++;
	}
	return NULL;
}

/* Every message applied exactly once, in order, and every move done. 0, or -1 with the
 * evidence on stderr. */
static int check(uint32_t v)
{
	int bad = hf_wait_applied(&h, v, sent[v], END_WAIT_NS) != 0 || moved[v] < moves_per_vnode;

	printf("VNode %u: %u moves (%u asked again); sent %llu + %llu: %s\n", v, moved[v],
	       retried[v], (unsigned long long)sent[v][0], (unsigned long long)sent[v][1],
	       bad ? "FAILED" : "each applied once, in order");
	return bad ? -1 : 0;
}

/* Each move seen is one vnode_emigrated on the host it left and one vnode_immigrated on
 * the other (a move asked again after a failure is not seen twice), and no failure is
 * audited twice. */
static int audits_agree(void)
{
	int want = 0, emigrated = 0, immigrated = 0, twice = 0;

	for (uint32_t v = 0; v < VNODES; v++)
		want += (int)moved[v];
	for (int i = 0; i < HF_HOSTS; i++) {
		emigrated += hf_audit_count(&h, i, "vnode_emigrated", UINT32_MAX, NULL, NULL);
		immigrated += hf_audit_count(&h, i, "vnode_immigrated", UINT32_MAX, NULL, NULL);
		twice += hf_audit_repeats(&h, i, "migrate_host_failed", "migration");
	}
	if (emigrated == want && immigrated == want && twice == 0)
		return 0;
	fprintf(stderr,
		"%d moves seen, %d vnode_emigrated and %d vnode_immigrated audited; %d moves "
		"audited migrate_host_failed twice\n",
		want, emigrated, immigrated, twice);
	return -1;
}

static void start(const char *daemon_path, const char *worker_path)
{
	struct hf_opts o = {.vnodes_max = VNODES,
			    .members_max = 4,
			    .inbox_slots = 128,
			    .state_bytes_max = 8192};
	const char *wa[] = {
		"--define", "4", "--state-bytes", "8192", "--touch-bytes", "1024", "--track-bytes",
		"4096",     NULL};

	hf_init(&h, "hchurn", daemon_path, worker_path, &o);
	hf_start_daemon(&h, 0);
	hf_start_daemon(&h, 1);
	(void)hf_start_worker(&h, 0, wa);
	(void)hf_start_worker(&h, 1, wa + 2);
	for (uint32_t v = 0; v < VNODES; v++)
		CHECK(hf_settle(&h, v, END_WAIT_NS) == 0);
}

static void run(void)
{
	pthread_t movers[VNODES], senders[2], samp;
	uint64_t t0 = proc_now_ns();

	CHECK(pthread_create(&samp, NULL, sampler, NULL) == 0);
	for (uintptr_t s = 0; s < 2; s++)
		CHECK(pthread_create(&senders[s], NULL, sender, (void *)s) == 0);
	for (uintptr_t v = 0; v < VNODES; v++)
		CHECK(pthread_create(&movers[v], NULL, mover, (void *)v) == 0);
	for (uint32_t v = 0; v < VNODES; v++)
		CHECK(pthread_join(movers[v], NULL) == 0);
	CHECK(pthread_mutex_lock(&lock) == 0);
	running = 0;
	CHECK(pthread_mutex_unlock(&lock) == 0);
	for (uint32_t s = 0; s < 2; s++)
		CHECK(pthread_join(senders[s], NULL) == 0);
	CHECK(pthread_join(samp, NULL) == 0);
	printf("%u moves in %.1f s; the sampler looked %llu times; pf_vnode_info() refused %llu "
	       "records it read right after\n",
	       VNODES * moves_per_vnode, (double)(proc_now_ns() - t0) / 1e9,
	       (unsigned long long)looks, (unsigned long long)hf_info_refusals());
}

int main(int argc, char **argv)
{
	int failed = 0;

	if (argc < 3 || argc > 4) {
		fprintf(stderr, "usage: %s <pflightd> <hosts_fault_worker> [moves per VNode]\n",
			argv[0]);
		return 2;
	}
	if (argc == 4)
		moves_per_vnode = (uint32_t)strtoul(argv[3], NULL, 10);
	start(argv[1], argv[2]);
	run();
	for (uint32_t v = 0; v < VNODES; v++)
		failed += check(v) != 0;
	failed += audits_agree() != 0;
	failed += hf_info_refusals() > 0;
	if (failed > 0 || doubled > 0 || stuck > 0) {
		fprintf(stderr, "%d checks failed; %d looks saw both hosts live\n", failed,
			doubled);
		return 1;
	}
	hf_finish(&h);
	printf("ok: %u moves, one owner throughout, every message applied exactly once\n",
	       VNODES * moves_per_vnode);
	return 0;
}

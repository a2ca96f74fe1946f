/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_hosts_kill_target.c
 * Goal: the target's pflightd may die (kill -9) while it installs an arrival, and the
 * VNode still ends on exactly one host: restarted with the same manifest, a daemon that
 * finds the VNode ARRIVING asks the source (QUERY) and makes it its own
 * (vnode_immigrated) when the source had committed, or undoes it (vnode_arrival_undone);
 * the source rolls back what it had not committed (migrate_host_failed) or keeps it
 * committed (vnode_emigrated), never both; no instant has it placeable on both hosts;
 * every numbered message is applied exactly once, the state's body whole.
 * Method: two real pflightd (tests/common/hosts_fixture.h) with fault workers, 2 MiB
 * states; host-a dials host-b through the relay of tests/common/cut_proxy.h, which here
 * traces frames. Seven moves, each of its own VNode, a sender writing to host-a all
 * through (host-a's worker first holds the inbox, FAULT_HOLD, so the move carries
 * messages): host-b is killed 0, 0.2, 0.5, 1, 3 and 10 ms after the relay passed SEAL (so
 * before, during and after its install and PREPARED), and once when the relay held back
 * COMMIT (host-a committed, host-b prepared: the restarted daemon must ask and take it);
 * its state of the VNode is noted, and it is started again; then the outcome on both
 * hosts is checked against where the VNode settled, more messages go to host-a, and the
 * owner must have applied them all once.
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

#define STATE_BYTES (2u << 20)
#define WAIT_NS (20ull * 1000000000ull)
#define RUNS 7u
#define AT_COMMIT UINT64_MAX /* the relay holds back COMMIT, then host-b is killed */

static struct hf h;
static struct cut_proxy *proxy;
static uint64_t sent[RUNS][FAULT_SENDERS];

static void send_some(uint32_t v, uint32_t n)
{
	hf_send_n(&h, 0, v, &sent[v][0], n);
}

/* host-a's worker leaves v's inbox alone for a while (FAULT_HOLD) once it applied what
 * was sent: the move carries the messages sent meanwhile, which host-b delivers as it
 * installs. */
static void hold(uint32_t v)
{
	struct fault_msg m = {
		.vnode = v, .sender = 0, .seq = ++sent[v][0], .inc = FAULT_HOLD + 2000};

	CHECK(hf_send_msg(&h, 0, &m) == 0);
	CHECK(hf_wait_applied(&h, v, sent[v], WAIT_NS) == 0);
}

/* Wait until the relay passed the move's SEAL: 0, or -1 when the move ended first. */
static int seal_passed(uint32_t v)
{
	uint64_t deadline = proc_now_ns() + WAIT_NS;

	for (uint32_t seen = 0;;) {
		struct cut_frame fr;

		while (cut_proxy_frame(proxy, seen, &fr) == 0) {
			if (fr.dir == 0 && fr.type == HF_SEAL)
				return 0;
			seen++;
		}
		if (proc_now_ns() > deadline ||
		    hf_audit_count(&h, 0, "migrate_host_failed", v, NULL, NULL) > 0)
			return -1;
		test_sleep_ns(50000);
	}
}

/* What each host audited agrees with where v settled and what host-b held at its death. */
static int agree(uint32_t v, int owner, int out, uint32_t at_death)
{
	int imm = hf_audit_count(&h, 1, "vnode_immigrated", v, NULL, NULL);
	int undone = hf_audit_count(&h, 1, "vnode_arrival_undone", v, NULL, NULL);
	int ok = owner == out;

	if (at_death == PF_VNODE_ARRIVING) /* the new daemon asked and settled it */
		ok &= owner == 1 ? imm == 1 && undone == 0 : imm == 0 && undone == 1;
	else if (hf_live(at_death)) /* committed before the kill: its record may be lost */
		ok &= owner == 1 && imm <= 1 && undone == 0;
	else /* nothing installed yet */
		ok &= owner == 0 && imm == 0 && undone == 0;
	if (!ok)
		fprintf(stderr,
			"VNode %u: host-b %s at its death, source outcome %d, owner host %d, "
			"vnode_immigrated %d, vnode_arrival_undone %d\n",
			v, pf_vnode_state_name(at_death), out, owner, imm, undone);
	return ok ? 0 : -1;
}

/* Move v, kill host-b delay_ns after the relay passed SEAL, start it again. The state
 * host-b had v in at its death. */
static uint32_t move_and_kill(uint32_t v, uint64_t delay_ns)
{
	uint32_t at_death;
	const struct cut_spec commit = {0, HF_COMMIT, 1, 0};
	uint64_t deadline = proc_now_ns() + WAIT_NS;

	cut_proxy_arm(proxy, delay_ns == AT_COMMIT ? &commit : NULL);
	hf_sender_start(&h, v, &sent[v][0], 2000000);
	CHECK(hf_migrate(&h, 0, v) == 0);
	CHECK(seal_passed(v) == 0);
	while (delay_ns == AT_COMMIT && !cut_proxy_result(proxy).cut) {
		CHECK(proc_now_ns() < deadline);
		test_sleep_ns(100000);
	}
	if (delay_ns > 0 && delay_ns != AT_COMMIT)
		test_sleep_ns(delay_ns);
	hf_kill_daemon(&h, 1);
	at_death = hf_state(&h, 1, v, NULL);

	test_sleep_ns(50000000);
	hf_start_daemon(&h, 1);
	test_sleep_ns(50000000);
	hf_sender_stop();
	return at_death;
}

static const char *when(uint64_t delay_ns)
{
	static char text[32];

	if (delay_ns == AT_COMMIT)
		return "when COMMIT was cut";
	(void)snprintf(text, sizeof(text), "%.1f ms after SEAL", (double)delay_ns / 1e6);
	return text;
}

static int one(uint32_t v, uint64_t delay_ns)
{
	uint32_t at_death;
	int out, owner, bad = 0;

	CHECK(hf_settle(&h, v, WAIT_NS) == 0);
	send_some(v, 20);
	CHECK(hf_wait_applied(&h, v, sent[v], WAIT_NS) == 0);
	hf_watch(v);
	hold(v);
	at_death = move_and_kill(v, delay_ns);
	out = hf_outcome(&h, v, WAIT_NS);
	owner = hf_settle(&h, v, WAIT_NS);
	if (owner < 0) {
		fprintf(stderr, "VNode %u: on neither host after %llu s\n", v,
			WAIT_NS / 1000000000);
		return -1;
	}
	send_some(v, 20);
	bad |= hf_wait_applied(&h, v, sent[v], WAIT_NS);
	bad |= agree(v, owner, out, at_death);
	printf("host-b killed %-18s holding VNode %u %-10s: %s, on host-%c%s\n", when(delay_ns), v,
	       pf_vnode_state_name(at_death),
	       out == 1   ? "moved"
	       : out == 0 ? "rolled back"
			  : "?",
	       'a' + owner, bad ? "  FAILED" : "");
	return bad;
}

int main(int argc, char **argv)
{
	int failed = 0;
	struct hf_opts o = {.vnodes_max = RUNS,
			    .members_max = 4,
			    .inbox_slots = 256,
			    .state_bytes_max = STATE_BYTES};
	const char *wa[] = {"--define", "7", "--state-bytes", "2097152", "--touch-bytes",
			    "262144",   NULL};
	const uint64_t delay_ns[RUNS] = {0,        200000u,   500000u,  1000000u,
					 3000000u, 10000000u, AT_COMMIT};
	int doubled;

	if (argc != 3) {
		fprintf(stderr, "usage: %s <pflightd> <hosts_fault_worker>\n", argv[0]);
		return 2;
	}
	hf_init(&h, "hkillt", argv[1], argv[2], &o);
	proxy = hf_start_relayed(&h);
	(void)hf_start_worker(&h, 0, wa);
	(void)hf_start_worker(&h, 1, wa + 2);
	/* host-b's segment outlives its daemon: the looks go on while it is dead. */
	hf_sampler_start(&h, 1, 100000);
	for (uint32_t v = 0; v < RUNS; v++)
		failed += one(v, delay_ns[v]) != 0;
	doubled = hf_sampler_stop();
	cut_proxy_stop(proxy);
	if (failed > 0 || doubled > 0) {
		fprintf(stderr, "%d runs failed; %d looks saw both hosts live\n", failed, doubled);
		return 1;
	}
	hf_finish(&h);
	printf("ok: host-b killed around its install seven times, one owner, messages once\n");
	return 0;
}

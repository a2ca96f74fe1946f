/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_counter_worker.c
 * Goal: the example counter worker serves every VNode placed on it, also past the
 * capacity it declares: capacity is a load the placement weighs, not a limit, and a VNode
 * placed on a member and never claimed is served by nobody until that member leaves.
 * Method: three VNodes defined, then one worker, no daemon (the members place), of
 * capacity 1, so all three are placed on it; numbered increments are sent to each, and every
 * counter must then be committed complete, with no duplicate and no gap; SIGTERM must then stop the
 * worker with exit status 0. The wait polls with a deadline generous for a loaded two-core machine.
 * Then a VNode whose last checkpoint fails its checksum (a byte of its state flipped in the
 * segment, as a stray writer would) among the three: the worker holds it unserved and says so,
 * and serves the other two to completion, where it used to exit on it (and so would every worker
 * it was placed on after).
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/domain_impl.h"
#include "pflight/pflight.h"
#include "tests/common/counter_check.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"
#include "tools/examples/counter.h"

#define VNODES 3u
#define MSGS 10u
#define WAIT_NS (30ull * 1000000000ull)

/* VNode 0's committed state has a byte flipped after its checksum was taken. */
static void poison_vnode0(struct pf_domain *d)
{
	struct counter_state st;
	struct pf_member *m;
	struct pf_vnode *v;
	unsigned char *bytes;
	uint32_t buf;

	memset(&st, 0, sizeof(st));
	CHECK(pf_member_join(d, NULL, &m) == 0);
	CHECK(pf_vnode_claim_id(m, 0, &v) == 0);
	CHECK(pf_checkpoint_commit(v, pf_vnode_epoch(v), &st, sizeof(st)) == 0);
	buf = ckpt_buf(pf_load_relaxed(&d->vnodes[0].ckpt));
	CHECK(buf < d->lim.ckpt_bufs);
	bytes = (unsigned char *)(ckpt_buffer(d, buf) + 1);
	bytes[3] ^= 0x10;
	CHECK(pf_vnode_release(v) == 0);
	CHECK(pf_member_leave(m) == 0);
	CHECK(pf_checkpoint_read(d, 0, &st, sizeof(st), &(size_t){0}, NULL) == -EBADMSG);
}

static int poisoned_case(const char *worker_path)
{
	struct pf_domain_opts o;
	struct pf_domain *d;
	char name[64], log[96];
	uint64_t deadline;
	pid_t worker;
	int status, done = 0;

	test_domain_name(name, sizeof(name), "counter-poison");
	(void)snprintf(log, sizeof(log), "/tmp/%s.log", name);
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	CHECK(pf_domain_create(name, &o, &d) == 0);
	CHECK(pf_vnode_define_range(d, 0, VNODES, NULL) == (int)VNODES);
	poison_vnode0(d);
	{
		char *const wargv[] = {(char *)worker_path, name, "1", NULL};

		worker = proc_spawn(wargv, log);
	}
	for (uint64_t k = 1; k <= MSGS; k++)
		for (uint32_t id = 1; id < VNODES; id++) {
			struct counter_msg msg = {.vnode = id, .seq = k, .inc = 1};

			CHECK(pf_send(d, id, &msg, sizeof(msg)) == 0);
		}
	deadline = proc_now_ns() + WAIT_NS;
	while (!done && proc_now_ns() < deadline && waitpid(worker, &status, WNOHANG) == 0) {
		done = 1;
		for (uint32_t id = 1; id < VNODES; id++) {
			struct counter_state st;
			size_t len = 0;

			done &= pf_checkpoint_read(d, id, &st, sizeof(st), &len, NULL) == 0 &&
				len == sizeof(st) && st.value == MSGS && st.dups == 0 &&
				st.gaps == 0;
		}
		if (!done)
			proc_nap();
	}
	if (!done || !proc_file_has(log, "vnode 0: checkpoint refused")) {
		proc_print_file(log);
		(void)kill(worker, SIGKILL);
		(void)waitpid(worker, NULL, 0);
		(void)pf_domain_destroy(d);
		(void)unlink(log);
		return 1;
	}
	CHECK(kill(worker, SIGTERM) == 0);
	CHECK(waitpid(worker, &status, 0) == worker);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(pf_domain_destroy(d) == 0);
	(void)unlink(log);
	printf("test_counter_worker: a VNode with a corrupt checkpoint held, the others served\n");
	return 0;
}

int main(int argc, char **argv)
{
	struct pf_domain_opts o;
	struct pf_domain *d;
	char name[64], log[96];
	uint64_t sent = 0, deadline;
	pid_t worker;
	int status;

	if (argc != 2) {
		fprintf(stderr, "usage: %s WORKER\n", argv[0]);
		return 1;
	}
	test_domain_name(name, sizeof(name), "counter-worker");
	(void)snprintf(log, sizeof(log), "/tmp/%s.log", name);
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	CHECK(pf_domain_create(name, &o, &d) == 0);
	CHECK(pf_vnode_define_range(d, 0, VNODES, NULL) == (int)VNODES);
	{
		char *const wargv[] = {argv[1], name, "1", NULL};

		worker = proc_spawn(wargv, log);
	}
	deadline = proc_now_ns() + WAIT_NS;
	counters_send(d, VNODES, MSGS, &sent, WAIT_NS);
	while (counters_complete(d, VNODES, sent) < VNODES) {
		if (proc_now_ns() >= deadline || waitpid(worker, &status, WNOHANG) == worker) {
			fprintf(stderr, "counters complete: %u of %u\n",
				counters_complete(d, VNODES, sent), VNODES);
			proc_print_file(log);
			(void)kill(worker, SIGKILL);
			(void)waitpid(worker, NULL, 0);
			(void)pf_domain_destroy(d);
			(void)unlink(log);
			return 1;
		}
		proc_nap();
	}
	CHECK(kill(worker, SIGTERM) == 0);
	CHECK(waitpid(worker, &status, 0) == worker);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(pf_domain_destroy(d) == 0);
	(void)unlink(log);
	printf("test_counter_worker: %u VNodes served by a worker of capacity 1\n", VNODES);
	return poisoned_case(argv[1]);
}

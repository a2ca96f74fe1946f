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
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pflight/pflight.h"
#include "tests/common/counter_check.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"

#define VNODES 3u
#define MSGS 10u
#define WAIT_NS (30ull * 1000000000ull)

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
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * tests/integration/test_cli_drain.c
 * Goal: `pflight drain host` (and its synonym `drain all`) cordons every ACTIVE member,
 * follows members already DRAINING too, prints each member's VNode count as it falls,
 * and exits 0 once no member is DRAINING; --no-wait returns at once with the members
 * cordoned; a member still DRAINING at --timeout makes it exit 1 (the drain goes on);
 * with no member at all there is nothing to drain (exit 0); bad usage exits 2. The
 * VNodes released at the deadline keep their last checkpoint and their inbox. `drain
 * <slot>` and `retire <slot>` follow one member the same way, and time out the same way.
 * Method: this process joins the members, claims VNodes, commits checkpoints and sends
 * messages; it then plays pflightd's part (pf_sched_drain_step with a deadline already
 * past, so everything is released at once: a single host with no other member) while
 * the real binary (path given by meson) runs and waits.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pflight/pflight.h"
#include "tests/common/proc_util.h"
#include "tests/common/test_util.h"

#define VNODES 16u
#define WAIT_S 20

static const char *cli;
static char name[64];
static struct pf_domain *d;

/* Run pflight with args; returns its exit status and its stdout in *out (caller frees). */
static int run(const char *args, char **out)
{
	char cmd[1024];

	(void)snprintf(cmd, sizeof(cmd), "%s --domain %s %s 2>/dev/null", cli, name, args);
	return proc_capture(cmd, out);
}

static json_t *run_json(const char *args, int want_status)
{
	char cmd[512], *out;
	json_t *doc;

	(void)snprintf(cmd, sizeof(cmd), "--json %s", args);
	CHECK(run(cmd, &out) == want_status);
	doc = json_loads(out, 0, NULL);
	if (doc == NULL)
		fprintf(stderr, "not JSON: %s\n", out);
	CHECK(doc != NULL);
	free(out);
	return doc;
}

static uint32_t member_state(uint32_t slot)
{
	struct pf_member_info mi = {.size = sizeof(mi)};

	return pf_member_info(d, slot, &mi) == 0 ? mi.state : PF_MEMBER_FREE;
}

/* Join a member and claim n VNodes with it, each with a checkpoint and a message (by id:
 * a claim's placement round would take every PENDING VNode). */
static struct pf_member *member_with(uint32_t n, uint32_t *ret_slot)
{
	static uint32_t next_id;
	struct pf_member *m;

	CHECK(pf_member_join(d, NULL, &m) == 0);
	for (uint32_t i = 0; i < n; i++) {
		struct pf_vnode *v;
		uint32_t id;

		CHECK(pf_vnode_claim_id(m, next_id++, &v) == 0);
		id = pf_vnode_id(v);
		CHECK(pf_checkpoint_commit(v, pf_vnode_epoch(v), &id, sizeof(id)) == 0);
		CHECK(pf_send(d, id, "m", 1) == 0);
	}
	*ret_slot = (uint32_t)pf_member_id(m);
	return m;
}

static void usage_and_empty(void)
{
	json_t *doc;
	char *out;

	CHECK(run("drain host 3", &out) == 2);
	free(out);
	CHECK(run("drain host --timeout soon", &out) == 2);
	free(out);
	CHECK(run("retire host", &out) == 2);
	free(out);
	CHECK(run("drain all", &out) == 0 && strstr(out, "nothing to drain") != NULL);
	free(out);
	doc = run_json("drain host", 0);
	CHECK(json_array_size(json_object_get(doc, "members")) == 0);
	CHECK(json_is_true(json_object_get(doc, "done")));
	json_decref(doc);
}

/* --no-wait: both members cordoned, reported with what they hold. */
static void no_wait(uint32_t a, uint32_t b)
{
	json_t *doc = run_json("drain host --no-wait", 0), *ms;
	size_t i;
	json_t *m;

	CHECK(member_state(a) == PF_MEMBER_DRAINING && member_state(b) == PF_MEMBER_DRAINING);
	CHECK(json_integer_value(json_object_get(doc, "cordoned")) == 2);
	CHECK(json_integer_value(json_object_get(doc, "initial")) == 8);
	CHECK(json_is_false(json_object_get(doc, "done")));
	ms = json_object_get(doc, "members");
	CHECK(json_array_size(ms) == 2);
	json_array_foreach(ms, i, m)
	{
		uint32_t slot = (uint32_t)json_integer_value(json_object_get(m, "slot"));

		CHECK(slot == a || slot == b);
		CHECK(json_integer_value(json_object_get(m, "initial")) == (slot == a ? 5 : 3));
		CHECK(strcmp(json_string_value(json_object_get(m, "state")), "draining") == 0);
	}
	json_decref(doc);
}

/* Step both drains to the end, releasing at once (the deadline is long past). */
static void play_daemon(uint32_t a, uint32_t b)
{
	struct pf_drain_report rep[2] = {{.size = sizeof(rep[0])}, {.size = sizeof(rep[1])}};
	uint32_t slots[2] = {a, b};
	struct pf_drain_opts o;
	struct pf_sched *s;

	pf_drain_opts_init(&o);
	o.deadline_ns = 1;
	CHECK(pf_sched_create(d, NULL, &s) == 0);
	for (int k = 0; k < 100 && (rep[0].done == 0 || rep[1].done == 0); k++)
		for (int i = 0; i < 2; i++)
			CHECK(rep[i].done || pf_sched_drain_step(s, slots[i], &o, &rep[i]) >= 0);
	CHECK(rep[0].done && rep[1].done && rep[0].released == 5 && rep[1].released == 3);
	pf_sched_destroy(s);
}

/* `drain host` waits; the first line shows it started; then the "daemon" drains. */
static void wait_for_drain(uint32_t a, uint32_t b)
{
	char timeout[16], line[256], *all = NULL;
	char *argv[] = {(char *)cli, "--domain", name, "drain", "host", "--timeout", timeout, NULL};
	size_t cap = 0;
	int fds[2], status;
	FILE *f;
	pid_t pid;

	(void)snprintf(timeout, sizeof(timeout), "%d", WAIT_S);
	CHECK(pipe(fds) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		if (dup2(fds[1], 1) < 0)
			_exit(127);
		(void)close(fds[0]);
		execv(cli, argv);
		_exit(127);
	}
	(void)close(fds[1]);
	f = fdopen(fds[0], "r");
	CHECK(f != NULL && fgets(line, sizeof(line), f) != NULL);
	CHECK(strstr(line, "host drain: 2 members draining (0 cordoned now), 8 VNodes") != NULL);
	play_daemon(a, b);
	CHECK(getdelim(&all, &cap, '\0', f) > 0);
	(void)fclose(f);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
	(void)snprintf(line, sizeof(line), "member %u: 0 VNodes left (free)", a);
	CHECK(strstr(all, line) != NULL);
	(void)snprintf(line, sizeof(line), "member %u: 0 VNodes left (free)", b);
	CHECK(strstr(all, line) != NULL);
	CHECK(strstr(all, "host drained: 2 members, 8 VNodes moved or released") != NULL);
	free(all);
}

/* Released VNodes: PENDING, their checkpoint and their message still there. */
static void nothing_lost(void)
{
	for (uint32_t id = 0; id < 8; id++) {
		struct pf_vnode_info vi = {.size = sizeof(vi)};
		uint32_t got = UINT32_MAX;
		size_t len = 0;

		CHECK(pf_vnode_info(d, id, &vi) == 0 && vi.state == PF_VNODE_PENDING);
		CHECK(vi.inbox_depth == 1);
		CHECK(pf_checkpoint_read(d, id, &got, sizeof(got), &len, NULL) == 0);
		CHECK(len == sizeof(got) && got == id);
	}
}

/* A member nobody drains: `drain all` gives up at --timeout with exit 1. */
static void timeout_case(void)
{
	struct pf_member *m;
	uint32_t slot;
	json_t *doc;
	time_t t0;

	m = member_with(2, &slot);
	t0 = time(NULL);
	doc = run_json("drain all --timeout 1", 1);
	CHECK(time(NULL) - t0 < WAIT_S);
	CHECK(json_is_false(json_object_get(doc, "done")));
	CHECK(json_integer_value(json_object_get(doc, "remaining")) == 2);
	CHECK(member_state(slot) == PF_MEMBER_DRAINING);
	json_decref(doc);
	CHECK(pf_member_leave(m) == 0);
}

/* One slot: `retire <slot>` gives up at --timeout with exit 1 and what it still holds;
 * `drain <slot>` of a member draining already follows it (exit 0 with --no-wait); a slot
 * with no member to cordon fails (exit 1). */
static void one_member(void)
{
	struct pf_member *m;
	uint32_t slot;
	char args[64], want[96], *out;
	json_t *doc;

	m = member_with(2, &slot);
	(void)snprintf(args, sizeof(args), "retire %u --timeout 1", slot);
	doc = run_json(args, 1);
	CHECK(strcmp(json_string_value(json_object_get(doc, "action")), "retire") == 0);
	CHECK(json_integer_value(json_object_get(doc, "slot")) == slot);
	CHECK(json_integer_value(json_object_get(doc, "initial")) == 2);
	CHECK(json_integer_value(json_object_get(doc, "remaining")) == 2);
	CHECK(strcmp(json_string_value(json_object_get(doc, "state")), "draining") == 0);
	CHECK(json_is_false(json_object_get(doc, "done")));
	json_decref(doc);
	(void)snprintf(args, sizeof(args), "drain %u --no-wait", slot);
	CHECK(run(args, &out) == 0);
	(void)snprintf(want, sizeof(want), "member %u.", slot);
	CHECK(strstr(out, want) == out && strstr(out, " cordoned (drain): 2 VNodes") != NULL);
	free(out);
	CHECK(member_state(slot) == PF_MEMBER_DRAINING);
	CHECK(pf_member_leave(m) == 0);
	(void)snprintf(args, sizeof(args), "retire %u", slot);
	CHECK(run(args, &out) == 1);
	free(out);
}

/* A failed check exits at once: the segment must not outlive the test. */
static void cleanup(void)
{
	(void)pf_domain_unlink(name);
}

int main(int argc, char **argv)
{
	struct pf_domain_opts o;
	struct pf_member *ma, *mb;
	uint32_t a, b;

	CHECK(argc == 2);
	cli = argv[1];
	test_domain_name(name, sizeof(name), "cli-drain");
	CHECK(atexit(cleanup) == 0);
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = 4;
	o.vnodes_max = VNODES;
	CHECK(pf_domain_create(name, &o, &d) == 0);
	CHECK(pf_vnode_define_range(d, 0, VNODES, NULL) == (int)VNODES);
	usage_and_empty();
	ma = member_with(5, &a);
	mb = member_with(3, &b);
	no_wait(a, b);
	wait_for_drain(a, b);
	nothing_lost();
	CHECK(pf_member_leave(ma) == 0 && pf_member_leave(mb) == 0);
	timeout_case();
	one_member();
	CHECK(pf_domain_destroy(d) == 0);
	printf("pflight drain host and drain <slot>: cordon, wait, time out, nothing lost\n");
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * tools/pflight/drain.c: `pflight drain` and `pflight retire`.
 *
 * Both cordon a member (pf_member_cordon(), pflight/drain.h): it takes no new VNodes and
 * pflightd's scheduler moves the ones it holds to other members, with their state. The
 * CLI moves nothing itself: it follows the member's VNode count until the member is no
 * longer DRAINING (FREE after a drain, RETIRED after a retire) or its own timeout passes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define DRAIN_TIMEOUT_S_DEFAULT 60u
#define DRAIN_POLL_NS 100000000L /* 100 ms */

struct drain_args {
	uint32_t slot;
	uint32_t timeout_s;
	int wait;
};

static int drain_parse(int argc, char **argv, struct drain_args *a)
{
	int have = 0;

	a->timeout_s = DRAIN_TIMEOUT_S_DEFAULT;
	a->wait = 1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--no-wait") == 0)
			a->wait = 0;
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
			have |= cli_parse_u32(argv[++i], &a->timeout_s) < 0 ? 2 : 0;
		else if (have == 0 && cli_parse_u32(argv[i], &a->slot) == 0)
			have = 1;
		else
			return -EINVAL;
	}
	return have == 1 ? 0 : -EINVAL;
}

/* VNodes whose ownership word names slot now (adopted or not). */
static uint32_t held_by(struct pf_domain *d, uint32_t slot, uint32_t vnodes_max)
{
	uint32_t n = 0;

	for (uint32_t id = 0; id < vnodes_max; id++) {
		struct pf_vnode_info vi = {.size = sizeof(vi)};

		if (pf_vnode_info(d, id, &vi) == 0 && vi.owner_slot == slot &&
		    (vi.state == PF_VNODE_ACTIVE || vi.state == PF_VNODE_MIGRATING ||
		     vi.state == PF_VNODE_DRAINING))
			n++;
	}
	return n;
}

/* The state of the membership (slot, gen): FREE once the slot was reused. */
static uint32_t member_state(struct pf_domain *d, uint32_t slot, uint32_t gen)
{
	struct pf_member_info mi = {.size = sizeof(mi)};

	if (pf_member_info(d, slot, &mi) < 0 || mi.generation != gen)
		return PF_MEMBER_FREE;
	return mi.state;
}

/* Poll until the member is no longer DRAINING or the timeout passes: 0 or -ETIMEDOUT. */
static int drain_wait(struct cli *c, const struct drain_args *a, uint32_t gen, uint32_t vnodes_max,
		      uint32_t *ret_state, uint32_t *ret_held)
{
	struct timespec poll = {0, DRAIN_POLL_NS};
	uint64_t polls = (uint64_t)a->timeout_s * 10u, shown = UINT32_MAX;

	for (uint64_t k = 0;; k++) {
		*ret_state = member_state(c->d, a->slot, gen);
		*ret_held = held_by(c->d, a->slot, vnodes_max);
		if (!c->json && *ret_held != shown)
			printf("member %u: %u VNodes left (%s)\n", a->slot, *ret_held,
			       cli_member_state_name(*ret_state));
		shown = *ret_held;
		if (*ret_state != PF_MEMBER_DRAINING)
			return 0;
		if (k >= polls)
			return -ETIMEDOUT;
		(void)nanosleep(&poll, NULL);
	}
}

static int drain_or_retire(struct cli *c, int argc, char **argv, uint32_t flags)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	struct pf_member_info mi = {.size = sizeof(mi)};
	struct drain_args a;
	uint32_t state = PF_MEMBER_DRAINING, held, initial;
	int r;

	if (drain_parse(argc, argv, &a) < 0)
		return EXIT_USAGE;
	if (pf_domain_info(c->d, &di) < 0)
		return EXIT_FAILED;
	r = pf_member_cordon(c->d, a.slot, flags);
	if (r < 0 && r != -EALREADY) {
		fprintf(stderr, "pflight: %s member %u: %s\n", argv[0], a.slot, strerror(-r));
		return EXIT_FAILED;
	}
	if (pf_member_info(c->d, a.slot, &mi) < 0)
		mi.generation = 0; /* drained already: the slot is FREE */
	held = initial = held_by(c->d, a.slot, di.vnodes_max);
	if (!c->json)
		printf("member %u.%u cordoned (%s): %u VNodes to move; pflightd moves them\n",
		       a.slot, mi.generation, argv[0], initial);
	r = a.wait ? drain_wait(c, &a, mi.generation, di.vnodes_max, &state, &held) : 0;
	if (r == -ETIMEDOUT)
		fprintf(stderr, "pflight: %s member %u: %u VNodes still held after %u s\n", argv[0],
			a.slot, held, a.timeout_s);
	if (cli_emit(c, json_pack("{s:s, s:I, s:I, s:I, s:I, s:s, s:b}", "action", argv[0], "slot",
				  (json_int_t)a.slot, "generation", (json_int_t)mi.generation,
				  "initial", (json_int_t)initial, "remaining", (json_int_t)held,
				  "state", cli_member_state_name(state), "done",
				  state != PF_MEMBER_DRAINING)) != 0)
		return EXIT_FAILED;
	return r < 0 ? EXIT_FAILED : 0;
}

int cmd_drain(struct cli *c, int argc, char **argv)
{
	return drain_or_retire(c, argc, argv, 0);
}

int cmd_retire(struct cli *c, int argc, char **argv)
{
	return drain_or_retire(c, argc, argv, PF_DRAIN_RETIRE);
}

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
#include "held.h"
#include "jdoc.h"

#define DRAIN_TIMEOUT_S_DEFAULT 60u
#define DRAIN_POLL_NS 100000000L /* 100 ms */

struct drain_args {
	uint32_t slot;
	uint32_t timeout_s;
	int wait;
	int host;            /* `drain host` (or `drain all`): every member instead of one slot */
	const char *to;      /* `drain host --to HOST`: every VNode to another host */
	const char *control; /* --control PATH */
};

static int drain_parse(int argc, char **argv, struct drain_args *a)
{
	int have = 0, bad = 0;

	a->timeout_s = DRAIN_TIMEOUT_S_DEFAULT;
	a->wait = 1;
	a->host = 0;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (strcmp(arg, "--no-wait") == 0) {
			a->wait = 0;
		} else if (strcmp(arg, "--timeout") == 0 && i + 1 < argc) {
			bad |= cli_parse_u32("--timeout", argv[++i], 0, UINT32_MAX, &a->timeout_s) <
			       0;
		} else if (strcmp(arg, "--to") == 0 && i + 1 < argc) {
			a->to = argv[++i];
		} else if (strcmp(arg, "--control") == 0 && i + 1 < argc) {
			a->control = argv[++i];
		} else if (have == 0 && (strcmp(arg, "host") == 0 || strcmp(arg, "all") == 0)) {
			have = a->host = 1;
		} else if (have == 0 && strncmp(arg, "--", 2) != 0) {
			bad |= cli_parse_u32("<slot>", arg, 0, UINT32_MAX, &a->slot) < 0;
			have = 1;
		} else {
			return -EINVAL;
		}
	}
	if (a->to != NULL && !a->host)
		return -EINVAL; /* --to moves a host's VNodes: `drain host --to HOST` */
	return have == 1 && bad == 0 ? 0 : -EINVAL;
}

/* VNodes this domain can place (not moved away): what a drain to another host waits on. */
static uint32_t live_here(struct pf_domain *d, uint32_t vnodes_max)
{
	uint32_t n = 0;

	for (uint32_t id = 0; id < vnodes_max; id++) {
		struct pf_vnode_info vi = {.size = sizeof(vi)};

		n += pf_vnode_info(d, id, &vi) == 0 && vi.state != PF_VNODE_UNASSIGNED &&
		     vi.state != PF_VNODE_REMOTE;
	}
	return n;
}

/* `drain host --to HOST`: the daemon moves every VNode here to HOST; wait until none is
 * left here (or --timeout). */
static int drain_to_host(struct cli *c, const struct drain_args *a, const struct pf_domain_info *di)
{
	char path[PF_CONTROL_PATH_MAX], req[128], out[PF_CONTROL_REPLY_MAX];
	struct timespec poll = {0, DRAIN_POLL_NS};
	uint64_t polls = (uint64_t)a->timeout_s * (1000000000u / DRAIN_POLL_NS);
	uint32_t left = 0;
	int r;

	if (a->control != NULL)
		r = snprintf(path, sizeof(path), "%s", a->control) < (int)sizeof(path) ? 0 : -1;
	else
		r = pf_control_path(c->domain, 0, path, sizeof(path)) < 0 ? -1 : 0;
	if (r < 0)
		return EXIT_USAGE;
	(void)snprintf(req, sizeof(req), "drain-host %s", a->to);
	r = pf_control_request(path, di->segment_uid, req, out, sizeof(out), 0);
	if (r < 0 || strstr(out, "\"ok\":true") == NULL) {
		fprintf(stderr, "pflight: drain to host %s: %s\n", a->to,
			r < 0 ? strerror(-r) : out);
		return EXIT_FAILED;
	}
	for (uint64_t k = 0; a->wait && k <= polls; k++) {
		left = live_here(c->d, di->vnodes_max);
		if (left == 0)
			break;
		(void)nanosleep(&poll, NULL);
	}
	if (!c->json)
		printf("drain to host %s: %s%u VNodes left here\n", a->to,
		       a->wait ? "" : "requested; ",
		       a->wait ? left : live_here(c->d, di->vnodes_max));
	if (c->json)
		printf("{\"to\":\"%s\",\"left\":%u,\"done\":%s}\n", a->to, left,
		       a->wait && left == 0 ? "true" : "false");
	return a->wait && left > 0 ? EXIT_FAILED : 0;
}

#define STALL_POLLS 10u /* no VNode left for a second: say what blocks the drain */

/* The first VNode slot still holds, or UINT32_MAX. */
static uint32_t first_held(struct pf_domain *d, uint32_t slot, uint32_t vnodes_max)
{
	for (uint32_t id = 0; id < vnodes_max; id++) {
		struct pf_vnode_info vi = {.size = sizeof(vi)};

		if (pf_vnode_info(d, id, &vi) == 0 && vi.owner_slot == slot &&
		    vi.state == PF_VNODE_ACTIVE)
			return id;
	}
	return UINT32_MAX;
}

/*
 * Why the drain of slot makes no progress, as the scheduler's own filters see it now: for
 * the first VNode it holds, every other member's verdict (pf_sched_candidates). The
 * daemon's policies (can-assign, can-handoff) are not visible here: when every member
 * passes these filters, the drain_step records of the audit log name what refused.
 */
static void say_blocked(struct cli *c, uint32_t slot, uint32_t vnodes_max, uint32_t members_max)
{
	uint32_t id = first_held(c->d, slot, vnodes_max), why[PF_SCHED_FILTER_BOUND + 1] = {0};
	uint32_t others = 0;
	struct pf_sched_candidate *cand = calloc(members_max, sizeof(*cand));
	struct pf_sched *s = NULL;
	int n = -1;

	if (id != UINT32_MAX && cand != NULL && pf_sched_create(c->d, NULL, &s) == 0)
		n = pf_sched_candidates(s, id, cand, members_max);
	for (int i = 0; i < n && (uint32_t)i < members_max; i++) {
		if (cand[i].slot == slot)
			continue;
		others++;
		why[cand[i].verdict < PF_SCHED_FILTER_BOUND ? cand[i].verdict
							    : PF_SCHED_FILTER_BOUND]++;
	}
	/* A drain's move is a placement: the bound yields when nobody below it may take. */
	why[PF_SCHED_PLACED] += why[PF_SCHED_FILTER_BOUND];
	if (n >= 0 && others == 0)
		printf("member %u: blocked: no other member to take VNode %u (at the drain "
		       "deadline pflightd releases what is left with its checkpoint)\n",
		       slot, id);
	else if (n >= 0 && why[PF_SCHED_PLACED] == 0)
		printf("member %u: blocked: no other member can take VNode %u (%u members: %u "
		       "not active, %u lack capabilities, %u below the trust floor, %u full)\n",
		       slot, id, others, why[PF_SCHED_FILTER_STATE], why[PF_SCHED_FILTER_CAPS],
		       why[PF_SCHED_FILTER_TRUST], why[PF_SCHED_FILTER_FULL]);
	else if (n >= 0)
		printf("member %u: waiting: %u members could take VNode %u; if it stays, a policy "
		       "refuses them or its owner is not answering (see `pflight audit tail`, "
		       "drain_step: blocked_by)\n",
		       slot, why[PF_SCHED_PLACED], id);
	pf_sched_destroy(s);
	free(cand);
}

/* The state of the membership (slot, gen): FREE once the slot was reused. */
static uint32_t member_state(struct pf_domain *d, uint32_t slot, uint32_t gen)
{
	struct pf_member_info mi = {.size = sizeof(mi)};

	if (pf_member_info(d, slot, &mi) < 0 || mi.generation != gen)
		return PF_MEMBER_FREE;
	return mi.state;
}

/*
 * The members a drain follows: the one slot of `drain <slot>` and `retire <slot>`, or
 * every member of the domain for `drain host` (the host is going away: members ACTIVE
 * now are cordoned, members DRAINING already are followed too). One scan of the VNode
 * table per poll counts what each still holds, until none is DRAINING.
 */
struct drained {
	uint32_t slot;
	uint32_t gen;
	uint32_t state;
	uint32_t initial;
	uint32_t held;
	uint32_t shown;       /* the count last printed, UINT32_MAX: none yet */
	uint32_t shown_state; /* the state last printed */
	uint32_t still;       /* polls without progress */
};

struct drain_set {
	struct drained *m;
	uint32_t n;
	uint32_t cordoned; /* by us; the others were DRAINING already */
	uint32_t failed;   /* could not be cordoned */
	uint32_t *held;    /* per slot: VNodes held, filled by count_held() */
};

static void set_free(struct drain_set *s)
{
	free(s->m);
	free(s->held);
}

static int set_alloc(struct drain_set *s, uint32_t members_max)
{
	*s = (struct drain_set){.m = calloc(members_max, sizeof(*s->m)),
				.held = calloc(members_max, sizeof(*s->held))};
	if (s->m != NULL && s->held != NULL)
		return 0;
	set_free(s);
	return -ENOMEM;
}

/* Follow membership (slot, gen), DRAINING now. */
static void follow(struct drain_set *s, uint32_t slot, uint32_t gen)
{
	s->m[s->n++] = (struct drained){.slot = slot,
					.gen = gen,
					.state = PF_MEMBER_DRAINING,
					.shown = UINT32_MAX,
					.shown_state = PF_MEMBER_DRAINING};
}

/* One pass over the VNode table: held[slot] = VNodes its member holds (held.h). */
static void count_held(struct pf_domain *d, const struct pf_domain_info *di, uint32_t *held)
{
	(void)held_count(d, di->vnodes_max, held, di->members_max);
}

/* Cordon slot if it is ACTIVE; follow it when it is (or was already) DRAINING. */
static void host_cordon_one(struct cli *c, struct drain_set *s, uint32_t slot)
{
	struct pf_member_info mi = {.size = sizeof(mi)};
	int r = -EAGAIN;

	if (pf_member_info(c->d, slot, &mi) < 0)
		return;
	if (mi.state == PF_MEMBER_ACTIVE) {
		for (int tries = 0; tries < 3 && r == -EAGAIN; tries++)
			r = pf_member_cordon(c->d, slot, 0);
		if (r == -ENOENT)
			return; /* it left or died meanwhile: nothing to drain */
		if (r < 0 && r != -EALREADY) {
			fprintf(stderr, "pflight: drain member %u: %s\n", slot, strerror(-r));
			s->failed++;
			return;
		}
		s->cordoned += r == 0;
	} else if (mi.state != PF_MEMBER_DRAINING) {
		return;
	}
	follow(s, slot, mi.generation);
}

/* What each followed member holds now, as its initial count; returns their sum. */
static uint32_t count_initial(struct pf_domain *d, struct drain_set *s,
			      const struct pf_domain_info *di)
{
	uint32_t total = 0;

	count_held(d, di, s->held);
	for (uint32_t i = 0; i < s->n; i++)
		total += s->m[i].initial = s->m[i].held = s->held[s->m[i].slot];
	return total;
}

/* Re-read every member's state and count; print the counts that changed. Returns how
 * many members are still DRAINING. */
static uint32_t drain_poll(struct cli *c, struct drain_set *s, const struct pf_domain_info *di)
{
	uint32_t draining = 0;

	count_held(c->d, di, s->held);
	for (uint32_t i = 0; i < s->n; i++) {
		struct drained *m = &s->m[i];

		m->state = member_state(c->d, m->slot, m->gen);
		/* FREE with another generation: the slot was given back, then reused. */
		m->held = m->state == PF_MEMBER_FREE ? 0 : s->held[m->slot];
		if (!c->json && (m->held != m->shown || m->state != m->shown_state))
			printf("member %u: %u VNodes left (%s)\n", m->slot, m->held,
			       jdoc_member_state_name(m->state));
		m->still = m->held == m->shown && m->held > 0 ? m->still + 1 : 0;
		if (!c->json && m->still == STALL_POLLS && m->state == PF_MEMBER_DRAINING)
			say_blocked(c, m->slot, di->vnodes_max, di->members_max);
		m->shown = m->held;
		m->shown_state = m->state;
		draining += m->state == PF_MEMBER_DRAINING;
	}
	return draining;
}

/* Poll until no member is DRAINING or the timeout passes: 0 or -ETIMEDOUT. */
static int drain_wait(struct cli *c, struct drain_set *s, const struct drain_args *a,
		      const struct pf_domain_info *di)
{
	struct timespec poll = {0, DRAIN_POLL_NS};
	uint64_t polls = (uint64_t)a->timeout_s * 10u;

	for (uint64_t k = 0;; k++) {
		if (drain_poll(c, s, di) == 0)
			return 0;
		if (k >= polls)
			return -ETIMEDOUT;
		(void)nanosleep(&poll, NULL);
	}
}

static json_t *host_json(const struct drain_set *s, uint32_t initial, uint32_t left,
			 uint32_t draining)
{
	json_t *members = json_array();

	for (uint32_t i = 0; i < s->n; i++) {
		const struct drained *m = &s->m[i];

		json_array_append_new(members, json_pack("{s:I, s:I, s:I, s:I, s:s, s:b}", "slot",
							 (json_int_t)m->slot, "generation",
							 (json_int_t)m->gen, "initial",
							 (json_int_t)m->initial, "remaining",
							 (json_int_t)m->held, "state",
							 jdoc_member_state_name(m->state), "done",
							 m->state != PF_MEMBER_DRAINING));
	}
	return json_pack("{s:s, s:s, s:o, s:I, s:I, s:I, s:I, s:b}", "action", "drain", "scope",
			 "host", "members", members, "cordoned", (json_int_t)s->cordoned, "failed",
			 (json_int_t)s->failed, "initial", (json_int_t)initial, "remaining",
			 (json_int_t)left, "done", draining == 0 && s->failed == 0);
}

static int host_report(struct cli *c, struct drain_set *s, const struct drain_args *a, int r)
{
	uint32_t initial = 0, left = 0, draining = 0;

	for (uint32_t i = 0; i < s->n; i++) {
		initial += s->m[i].initial;
		left += s->m[i].held;
		draining += s->m[i].state == PF_MEMBER_DRAINING;
	}
	if (r == -ETIMEDOUT)
		fprintf(stderr,
			"pflight: drain host: %u members still draining, %u VNodes held "
			"after %u s\n",
			draining, left, a->timeout_s);
	if (!c->json && s->n == 0)
		printf("no ACTIVE or DRAINING member: nothing to drain\n");
	else if (!c->json && draining == 0)
		printf("host drained: %u members, %u VNodes moved or released\n", s->n, initial);
	if (cli_emit(c, host_json(s, initial, left, draining)) != 0 || s->failed != 0)
		return EXIT_FAILED;
	return r < 0 ? EXIT_FAILED : 0;
}

/* `drain host`: every member of the domain at once. */
static int drain_host(struct cli *c, const struct drain_args *a, const struct pf_domain_info *di,
		      struct drain_set *s)
{
	uint32_t total;
	int r = 0;

	for (uint32_t slot = 0; slot < di->members_max; slot++)
		host_cordon_one(c, s, slot);
	total = count_initial(c->d, s, di);
	if (!c->json && s->n > 0)
		printf("host drain: %u members draining (%u cordoned now), %u VNodes to move; "
		       "pflightd moves them\n",
		       s->n, s->cordoned, total);
	if (a->wait)
		r = drain_wait(c, s, a, di);
	return host_report(c, s, a, r);
}

/* `drain <slot>` or `retire <slot>` (verb; flags for pf_member_cordon()): one member. */
static int drain_one(struct cli *c, const char *verb, const struct drain_args *a, uint32_t flags,
		     const struct pf_domain_info *di, struct drain_set *s)
{
	struct pf_member_info mi = {.size = sizeof(mi)};
	const struct drained *m = &s->m[0];
	int r = pf_member_cordon(c->d, a->slot, flags);

	if (r < 0 && r != -EALREADY) {
		fprintf(stderr, "pflight: %s member %u: %s\n", verb, a->slot, strerror(-r));
		return EXIT_FAILED;
	}
	if (pf_member_info(c->d, a->slot, &mi) < 0)
		mi.generation = 0; /* drained already: the slot is FREE */
	follow(s, a->slot, mi.generation);
	(void)count_initial(c->d, s, di);
	if (!c->json)
		printf("member %u.%u cordoned (%s): %u VNodes to move; pflightd moves them\n",
		       a->slot, mi.generation, verb, m->initial);
	r = a->wait ? drain_wait(c, s, a, di) : 0;
	if (r == -ETIMEDOUT)
		fprintf(stderr, "pflight: %s member %u: %u VNodes still held after %u s\n", verb,
			a->slot, m->held, a->timeout_s);
	if (cli_emit(c, json_pack("{s:s, s:I, s:I, s:I, s:I, s:s, s:b}", "action", verb, "slot",
				  (json_int_t)m->slot, "generation", (json_int_t)m->gen, "initial",
				  (json_int_t)m->initial, "remaining", (json_int_t)m->held, "state",
				  jdoc_member_state_name(m->state), "done",
				  m->state != PF_MEMBER_DRAINING)) != 0)
		return EXIT_FAILED;
	return r < 0 ? EXIT_FAILED : 0;
}

static int drain_or_retire(struct cli *c, int argc, char **argv, uint32_t flags)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	struct drain_args a;
	struct drain_set s;
	int r;

	if (drain_parse(argc, argv, &a) < 0 || (a.host && flags != 0))
		return EXIT_USAGE;
	/* Progress lines as they happen, also into a pipe or a log file. */
	(void)setvbuf(stdout, NULL, _IOLBF, 0);
	if (pf_domain_info(c->d, &di) < 0 || set_alloc(&s, di.members_max) < 0)
		return EXIT_FAILED;
	if (a.to != NULL) {
		set_free(&s);
		return flags != 0 ? EXIT_USAGE : drain_to_host(c, &a, &di);
	}
	r = a.host ? drain_host(c, &a, &di, &s) : drain_one(c, argv[0], &a, flags, &di, &s);
	set_free(&s);
	return r;
}

int cmd_drain(struct cli *c, int argc, char **argv)
{
	return drain_or_retire(c, argc, argv, 0);
}

int cmd_retire(struct cli *c, int argc, char **argv)
{
	return drain_or_retire(c, argc, argv, PF_DRAIN_RETIRE);
}

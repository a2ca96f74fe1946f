/* SPDX-License-Identifier: MIT */
/*
 * core/sched_impl.h: the scheduler's process-local model, shared by core/sched.c (placement)
 * and core/rebalance.c (moves). See sched.c for how the heaps and the ring work.
 */
#ifndef PF_CORE_SCHED_IMPL_H
#define PF_CORE_SCHED_IMPL_H

#include <stdint.h>

#include "core/member_impl.h"

#define REFRESH_ATTR_NS UINT64_C(1000000) /* re-read loads at most every 1 ms */
#define REQ_CACHE_MAX 256u                /* distinct requirement sets remembered */
#define NODES_MAX 64u

struct sm {
	uint32_t slot;
	uint32_t gen;
	uint64_t caps[2];
	int32_t node;
	uint32_t capacity;
	double reliability;
	double trust;
	double cpu;
	double mem;
	double weight; /* the strategy's bounded preference for it, (0, 1] (sched.h) */
	uint32_t assigned;
	uint32_t group;
	uint32_t heap;     /* index of its (group, node) heap */
	uint32_t heap_pos; /* position inside it */
	double key;        /* score without the NUMA factor */
	uint64_t tie;
	uint32_t stamp;       /* consistent-hash: the decision that last refused it */
	uint32_t refused;     /* the decision (admit.mark) whose ring or hook refused it */
	uint32_t refused_why; /* and that refusal, which the bound's yield does not ask again */
};

struct heap {
	uint32_t *items; /* indices into sm[] */
	uint32_t count;
	int32_t node;
	uint32_t group;
};

struct group {
	uint64_t caps[2];
	uint32_t members;
	uint64_t assigned; /* VNodes its members hold, as the model counts them */
	uint64_t capacity; /* its members' capacities */
};

struct req {
	uint64_t caps[2];
	uint32_t *heaps; /* heaps of the groups that cover caps (one allocation with groups) */
	uint32_t nheaps;
	uint32_t candidates;
	uint32_t used;
	uint32_t ngroups;
	uint32_t *groups;  /* the groups that cover caps: the bound's pool */
	uint64_t capacity; /* their members' capacities */
	/* The VNodes they hold, as last summed (total_ok): at most what they hold now, since
	 * only sched_model_add() changes counts without sched_counts_reset(); exact while
	 * total_at == pf_sched.adds. */
	uint64_t total;
	uint64_t total_at;
	uint32_t total_ok;
};

struct point {
	uint32_t hash;
	uint32_t member; /* index into sm[] */
};

struct pf_sched {
	struct pf_domain *d;
	struct pf_sched_opts o;
	uint32_t strategy;
	uint32_t floor_ppm;
	uint32_t eps_ppm;
	uint64_t seed;
	uint32_t seen_members;
	uint64_t seen_sched;
	uint64_t refreshed_ns;
	struct sm *sm;
	uint32_t nsm;
	uint32_t *slot_to_sm; /* members_max entries, UINT32_MAX: not eligible */
	struct group *groups;
	uint32_t ngroups;
	struct heap *heaps;
	uint32_t nheaps;
	uint32_t *heap_store;
	struct req reqs[REQ_CACHE_MAX];
	uint32_t nreqs;
	struct point *points;
	uint32_t npoints;
	uint64_t assigned_total;
	uint64_t cap_sum; /* capacities of the eligible members */
	uint64_t adds;    /* sched_model_add() calls: counts that only grew */
	uint32_t *held;   /* members taken off their heap during one choice (members_max + 1) */
	uint32_t stamp;   /* consistent-hash: this decision's mark in sm.stamp */
	uint32_t refusal; /* the last decision's mark in sm.refused */
	uint32_t filtered_state;
	uint32_t filtered_trust;
	uint32_t active;
	uint64_t rb_rounds;  /* rebalance rounds run (rebalance.c) */
	uint64_t rb_refused; /* rounds refused by the cool-down */
};

/* What admitting a member for one VNode depends on, besides the member (sched_admit()):
 * built for that VNode by sched_admit_for() or sched_admit_of(), never kept. */
struct admit {
	uint64_t pool_total; /* the bound's pool: the VNodes its members hold */
	uint64_t pool_cap;   /* and their capacities */
	uint32_t flags;      /* ADMIT_* */
	/* Not NULL: pool_total is q's last sum, which may lag what the pool holds now by
	 * placements since; a smaller total only lowers the bound, so it is summed again
	 * before a member is refused for it. */
	struct req *q;
	/* sched_choose()'s decision (0: none): a refusal by a member's ring or hook is noted in
	 * the member under it, and its yield pass (ADMIT_BOUND_OFF) takes the note instead of
	 * asking again; the bound is the only filter that pass lifts. */
	uint32_t mark;
};

#define ADMIT_MOVING 0x1u    /* the model counts the VNode already: a rebalancing move */
#define ADMIT_HANDOFF 0x2u   /* a move's target: the can-handoff hook is asked too */
#define ADMIT_BOUND_OFF 0x4u /* the bound yields (sched_choose()) */

/* The first members a decision filtered out, for its explanation. */
struct removed {
	uint32_t m[EXPLAIN_FILTERED_MAX * 4];
	uint8_t why[EXPLAIN_FILTERED_MAX * 4];
	uint32_t n;
};

/* Index into pf_sched_decision.filtered[] of a filter reason (enum pf_sched_filtered);
 * UINT32_MAX for a reason that is no filter. */
static inline uint32_t sched_filter_index(uint32_t why)
{
	if (why == PF_SCHED_FILTER_BOUND)
		return PF_SCHED_FILTERED_BOUND;
	if (why >= PF_SCHED_FILTER_STATE && why <= PF_SCHED_FILTER_FULL)
		return why - PF_SCHED_FILTER_STATE;
	return UINT32_MAX;
}

/* The strategy's score of member m without the NUMA factor (the heap key). */
double sched_score_key(const struct pf_sched *s, const struct sm *m);
/* What a strategy's score reads of a member besides its assignments and capacity: a
 * member's CPU load report, or its reliability, changes nothing for a strategy without the
 * flag (a simulation skips what would not matter). */
#define SCHED_READS_CPU 0x1u
#define SCHED_READS_RELIABILITY 0x2u
uint32_t sched_strategy_reads(uint32_t strategy) PF_PRIVATE_EXPORT(sched_strategy_reads);
/* The NUMA factor of a member on member_node for a VNode homed on home (-1: none). */
double sched_numa_factor(const struct pf_sched *s, int32_t member_node, int32_t home);

/* Max-heap of members by key (then tie): restore after a key moved, insert, remove. */
void sched_heap_up(struct pf_sched *s, struct heap *h, uint32_t pos);
void sched_heap_down(struct pf_sched *s, struct heap *h, uint32_t pos);
void sched_heap_remove(struct pf_sched *s, struct heap *h, uint32_t pos);
void sched_heap_insert(struct pf_sched *s, struct heap *h, uint32_t m);

/* The heaps whose members cover caps (cached per distinct set); NULL: no memory. */
struct req *sched_req_lookup(struct pf_sched *s, const uint64_t caps[2]);
/* The sign of  count x count_ppm x cap_sum - share_ppm x total x capacity: how count
 * compares with share_ppm / count_ppm times a fair share, total x capacity / cap_sum,
 * exactly (no rounding, no overflow). */
int sched_share_cmp(uint64_t count, uint64_t count_ppm, uint64_t capacity, uint64_t total,
		    uint64_t cap_sum, uint64_t share_ppm);
/* Admission for a VNode that needs q, with flags (ADMIT_*): the bound's pool is the
 * eligible members that cover its capabilities, with what they hold and their
 * capacities (q NULL: every eligible member). */
struct admit sched_admit_for(const struct pf_sched *s, struct req *q, uint32_t flags);
/* The same for VNode vnode's capabilities (with no memory for the lookup: every eligible
 * member, as for a VNode that needs nothing). */
struct admit sched_admit_of(struct pf_sched *s, uint32_t vnode, uint32_t flags);
/* The model's counts changed other than by sched_model_add() (a rebalancing round): the
 * pools' sums are taken again. */
void sched_counts_reset(struct pf_sched *s);
/* 1 when m stays within its bounded load with one more VNode (sched.h), T and C those of
 * a's pool: for a placement, assigned + 1 <= ceil((1 + eps) x fair(T + 1)); for a move
 * (ADMIT_MOVING), whose VNode T counts already, assigned + 1 <= (1 + eps) x fair(T),
 * unrounded, the line above which rebalancing moves VNodes off. */
int sched_within_bound(const struct pf_sched *s, const struct admit *a, const struct sm *m);
/* PF_SCHED_PLACED when m may take vnode (within its bound unless it yields, room in its
 * assignment ring, the can-assign hook agrees, and the can-handoff hook for a hand-off),
 * else the filter that refused it. */
uint32_t sched_admit(const struct pf_sched *s, const struct admit *a, uint32_t vnode,
		     const struct sm *m);
int sched_covers(const uint64_t have[2], const uint64_t need[2]);
/* The best member admitted by a among the heaps of q for vnode (UINT32_MAX: none);
 * members refused on the way are noted in dec and rm. */
uint32_t sched_choose_heaps(struct pf_sched *s, const struct admit *a, const struct req *q,
			    uint32_t vnode, int32_t home, struct pf_sched_decision *dec,
			    struct removed *rm);
/* The target the strategy picks for vnode now, in *ret_m (UINT32_MAX: none, and
 * dec->reason says why), admitted as a placement (flags: ADMIT_HANDOFF for a drain's
 * move, or 0); dec's requirement fields and filter counts are filled. 0 or -ENOMEM. The
 * model is not changed: sched_model_add() once the VNode is given. */
int sched_choose(struct pf_sched *s, uint32_t vnode, uint32_t flags, struct pf_sched_decision *dec,
		 struct removed *rm, uint32_t *ret_m);
/* The winner fields of dec (slot, generation, node, score components) for member m and a
 * VNode homed on home: what a decision records about the member it chose. */
void sched_decision_fill(const struct pf_sched *s, struct pf_sched_decision *dec, uint32_t m,
			 int32_t home);
/* Member m was given one more VNode: its count and its heap position follow. */
void sched_model_add(struct pf_sched *s, uint32_t m);
/* Ask the owner of VNode id (ownership word w, ACTIVE) to hand it to member (slot, gen):
 * the move request for w's epoch (core/rebalance.c), written by CAS unless one is pending
 * for that epoch, and the owner woken. 1 when written, 0 when another was there first. The
 * caller counts the move in its model. */
int move_request(struct pf_domain *d, uint32_t id, uint64_t w, uint32_t slot, uint32_t gen);
/* consistent-hash: index of the first ring point clockwise from vnode's hash. */
uint32_t sched_chash_first(const struct pf_sched *s, uint32_t vnode);

#endif /* PF_CORE_SCHED_IMPL_H */

/* SPDX-License-Identifier: MIT */
/*
 * pflight/sched.h: placing PENDING VNodes on members, with an explanation for each.
 *
 * Pipeline per VNode: filter (member ACTIVE, not DRAINING; capabilities cover the VNode's
 * required ones; trust >= the domain's trust floor; below its bounded load; the
 * can-assign hook agrees; room in the member's assignment ring) -> score (the domain's
 * strategy) -> claim (the ownership CAS PENDING(e) -> ACTIVE(winner, e + 1), on the
 * winner's behalf) -> record (the decision and its explanation). The winner takes the
 * VNode with pf_vnode_claim() (pflight/vnode.h).
 *
 * Every strategy is deterministic: the same registry state, the same seed and the same
 * sequence of requests give the same decisions (ties are broken by a hash of the seed,
 * the VNode and the member), so recorded decisions can be replayed.
 *
 * Member attributes and their units (all fixed point, parts per million, PF_PPM = 1.0):
 *   reliability  0..PF_PPM  how dependable the member has been: starts at PF_PPM and
 *                           halves for each failure recorded for its identity key
 *                           (pid-independent: uid + executable), recovering over time
 *   trust        0..PF_PPM  set by governance (pf_member_set_trust), default PF_PPM / 2
 *   cpu_load     0..PF_PPM  reported by the member (pf_member_report_load)
 *   mem_load     0..PF_PPM  reported by the member
 *   capacity     VNodes     how many VNodes the member can hold at full load (join
 *                           option), default PF_MEMBER_CAPACITY_DEFAULT
 * and the load a strategy sees is  load = cpu_load / PF_PPM + assigned / capacity,
 * where `assigned` is the VNodes the member holds (or was just given).
 *
 * Bounded load (every strategy). The members eligible for a VNode are those ACTIVE, with
 * trust >= the floor and the VNode's required capabilities. With T the VNodes they hold,
 * counting the one being placed, and C the sum of their capacities, a member's fair share
 * is  fair = T x capacity / C  and its bound is ceil((1 + epsilon) x fair). A member at
 * its bound is filtered out (PF_SCHED_FILTER_BOUND) before the strategy chooses, so no
 * placement puts a member above its bound while an eligible member below it can take the
 * VNode. The bounds sum to at least T, so one eligible member is always below its bound;
 * only when the can-assign hook or full assignment rings refuse every one below it does
 * the bound yield for that decision, rather than leave the VNode pending (the explanation
 * still counts the members it passed over). epsilon comes from the domain (PhoenixFile
 * scheduling.epsilon, pf_sched_configure(); default PF_SCHED_EPSILON_DEFAULT = 0.25).
 *
 * Preferences are bounded as well, so that the bound, not a member's history, decides how
 * far shares drift: a member's weight is its preference relative to the best eligible
 * member, floored at 1 / (1 + epsilon). Failure history (reliability) and trust lower a
 * member's share by at most that factor and never to nothing: a fresh member of an
 * executable whose workers keep crashing still gets work.
 *
 * Strategies:
 *   PF_SCHED_TRUST_WEIGHTED  w / (w + load) * numa_factor   (default), with
 *                            w = max(reliability * trust / best, 1 / (1 + epsilon)) and
 *                            best the largest reliability * trust among eligible members.
 *                            At rest each member's load is proportional to its w, whatever
 *                            the capacities: a member preferred by a factor (at most
 *                            1 + epsilon) holds that factor more load.
 *   PF_SCHED_CONSISTENT_HASH first member clockwise from the VNode's hash on a 32-bit
 *                            ring (PF_CHASH_POINTS points each) that is below its bound
 *   PF_SCHED_BIN_PACKING     cpu_free_fraction + memory_free_fraction
 *   PF_SCHED_AGENT           r / (1 + active_tasks), with
 *                            r = max(reliability / best, 1 / (1 + epsilon)) and best the
 *                            largest reliability among eligible members
 * numa_factor = 10 / distance(member node, VNode home node) (1 for a local or no home).
 */
#ifndef PFLIGHT_SCHED_H
#define PFLIGHT_SCHED_H

#include <stdint.h>

#include "pflight/common.h"
#include "pflight/domain.h"
#include "pflight/member.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PF_PPM 1000000u                  /* 1.0 in parts per million */
#define PF_MEMBER_CAPACITY_DEFAULT 1024u /* VNodes at full load when a member says nothing */
#define PF_CHASH_POINTS 64u              /* ring points per member (consistent-hash) */
/* Bounded load: no member above ceil((1 + epsilon) x its fair share). 0.25 lets a preferred
 * member hold a quarter more than its share, enough for preferences to show, too little
 * for one member to carry a host; up to 10 (an eleven-fold share: the bound all but off). */
#define PF_SCHED_EPSILON_DEFAULT 250000u
#define PF_SCHED_EPSILON_MAX (10u * PF_PPM)

enum pf_sched_strategy {
	PF_SCHED_TRUST_WEIGHTED = 0,
	PF_SCHED_CONSISTENT_HASH = 1,
	PF_SCHED_BIN_PACKING = 2,
	PF_SCHED_AGENT = 3,
};

/* Why a VNode was not placed (also the filter that removed a candidate). */
enum pf_sched_reason {
	PF_SCHED_PLACED = 0,
	PF_SCHED_NO_MEMBER = 1,     /* no ACTIVE member at all */
	PF_SCHED_FILTER_STATE = 2,  /* candidate not ACTIVE (joining, draining, dead) */
	PF_SCHED_FILTER_CAPS = 3,   /* candidate lacks a required capability */
	PF_SCHED_FILTER_TRUST = 4,  /* candidate below the trust floor */
	PF_SCHED_FILTER_POLICY = 5, /* the can-assign hook refused */
	PF_SCHED_FILTER_FULL = 6,   /* candidate's assignment ring is full */
	PF_SCHED_LOST_RACE = 7,     /* the VNode changed state under us: not ours to place */
	PF_SCHED_FILTER_BOUND = 8,  /* candidate at its bounded load (see above) */
};

/* Where pf_sched_decision.filtered[] counts the candidates each filter removed. */
enum pf_sched_filtered {
	PF_SCHED_FILTERED_STATE = 0,  /* PF_SCHED_FILTER_STATE */
	PF_SCHED_FILTERED_CAPS = 1,   /* PF_SCHED_FILTER_CAPS */
	PF_SCHED_FILTERED_TRUST = 2,  /* PF_SCHED_FILTER_TRUST */
	PF_SCHED_FILTERED_POLICY = 3, /* PF_SCHED_FILTER_POLICY */
	PF_SCHED_FILTERED_FULL = 4,   /* PF_SCHED_FILTER_FULL */
	PF_SCHED_FILTERED_BOUND = 5,  /* PF_SCHED_FILTER_BOUND */
	PF_SCHED_FILTERED_COUNT = 6,
};

/* Stable lower-case name of a strategy or reason, or NULL. */
PF_API const char *pf_sched_strategy_name(uint32_t strategy);
PF_API const char *pf_sched_reason_name(uint32_t reason);

/* Report this member's CPU and memory load (0..PF_PPM each). Two relaxed stores. 0 or
 * -EINVAL (out of range). */
PF_API int pf_member_report_load(struct pf_member *member, uint32_t cpu_ppm, uint32_t mem_ppm);

/* Governance: set the trust of member `slot` (0..PF_PPM). 0, -EINVAL, -ENOENT (FREE). */
PF_API int pf_member_set_trust(struct pf_domain *domain, uint32_t slot, uint32_t trust_ppm);

/* Control plane: switch the domain's strategy, trust floor and bounded-load epsilon (every
 * strategy's, 0..PF_SCHED_EPSILON_MAX), taking effect at each scheduler's next refresh.
 * 0 or -EINVAL. */
PF_API int pf_sched_configure(struct pf_domain *domain, uint32_t strategy, uint32_t trust_floor_ppm,
			      uint32_t epsilon_ppm);

struct pf_sched;
struct pf_vnode;

/* can-assign policy hook: 0 to allow member `slot` to take VNode `vnode`, a negative
 * errno to refuse. Called for the best candidate only, then the next best, and so on. */
typedef int (*pf_sched_policy_fn)(void *arg, uint32_t vnode, uint32_t slot);

struct pf_numa;

struct pf_sched_opts {
	uint32_t size;                 /* sizeof(struct pf_sched_opts) */
	uint32_t flags;                /* 0 (none defined yet) */
	pf_sched_policy_fn can_assign; /* NULL: allow all */
	void *policy_arg;
	const struct pf_numa *numa; /* topology for NUMA factors; NULL: all distances 10 */
	/* can-handoff policy hook: asked, after can_assign, about the target of every move
	 * (rebalancing, drains, pf_sched_migrate); NULL: allow all. */
	pf_sched_policy_fn can_handoff;
	void *handoff_arg;
	uint64_t reserved[2]; /* 0 */
};

PF_API void pf_sched_opts_init(struct pf_sched_opts *opts);

/* A process-local scheduler over `domain`. 0, -EINVAL (a flag or a reserved field set),
 * -ENOMEM. */
PF_API int pf_sched_create(struct pf_domain *domain, const struct pf_sched_opts *opts,
			   struct pf_sched **ret_sched);
PF_API void pf_sched_destroy(struct pf_sched *sched);

/* Re-read members, attributes and settings from the domain. Called by pf_sched_place()
 * itself whenever the membership or a setting changed; cheap otherwise. 0 or -errno. */
PF_API int pf_sched_refresh(struct pf_sched *sched);

/* The outcome of one decision, with the winner's score components. */
struct pf_sched_decision {
	uint32_t size; /* set by the caller */
	uint32_t vnode;
	uint32_t reason; /* enum pf_sched_reason */
	uint32_t strategy;
	uint32_t winner_slot; /* UINT32_MAX when not placed */
	uint32_t winner_generation;
	uint64_t epoch;                             /* the ownership epoch the winner holds */
	uint32_t candidates;                        /* members considered */
	uint32_t filtered[PF_SCHED_FILTERED_COUNT]; /* removed, by filter: enum pf_sched_filtered */
	int32_t home_node;
	int32_t winner_node;
	uint32_t reserved0;
	double score;
	double reliability;
	double trust;
	double load;
	double numa_factor;
	uint64_t reserved[3];
};

/*
 * Place PENDING VNode `vnode` (filter, score, claim by CAS, record). Returns 0 and fills
 * *decision (may be NULL) when placed, or:
 *   -ENOENT   no member passes the filters (the VNode stays PENDING; its reason is
 *             visible in pf_vnode_info() and in *decision)
 *   -EBUSY    the VNode is not PENDING (owned, undefined, or taken meanwhile)
 *   -EINVAL   bad arguments
 * Not thread-safe per scheduler object; any number of schedulers may run at once (the
 * CAS decides, a VNode is never given twice).
 */
PF_API int pf_sched_place(struct pf_sched *sched, uint32_t vnode,
			  struct pf_sched_decision *decision);

/* Place up to `budget` VNodes from the pending queue. Returns how many were placed. */
PF_API int pf_sched_run(struct pf_sched *sched, uint32_t budget);

/*
 * Become the domain's placer (pflightd's scheduler does): this process consumes the pending
 * queue with pf_sched_run() from now on, and members stop placing for themselves
 * (pflight/member.h says who places when). Lasts until pf_placer_release(), until this
 * process is gone, or while it makes no pf_sched_run() pass for the domain's heartbeat
 * timeout (heartbeat_misses intervals, 100 ms at least: a stalled placer): members then
 * place again, those waiting at their next look (a parked wait looks every half heartbeat
 * interval; the process is looked at every 100 ms). 0, -EINVAL, -ESRCH (this process's
 * identity cannot be read).
 */
PF_API int pf_placer_claim(struct pf_sched *sched);
/* Stop being the placer (members place again; waiting members are woken and place). */
PF_API void pf_placer_release(struct pf_sched *sched);

/* pf_vnode_claim() without waiting and without placing: take the next VNode a placer
 * placed (or a hand-off gave) to this member and build its handle (load its checkpoint
 * with pf_checkpoint_load()). A DRAINING member adopts too: what reached it before the
 * cordon is its own, to serve and hand on. 0, -EAGAIN (none waiting), -ESTALE (this
 * member is neither ACTIVE nor DRAINING: dead or gone), -ENOMEM. Owner threads only. */
PF_API int pf_vnode_adopt(struct pf_member *member, struct pf_vnode **ret_vnode);

/* One member's standing for one VNode, as pf_sched_candidates() reports it. */
struct pf_sched_candidate {
	uint32_t slot;
	uint32_t generation;
	uint32_t
		verdict; /* PF_SCHED_PLACED: passes every filter; else the filter that removed it */
	int32_t node;
	double score; /* the strategy's score with its NUMA factor, when it passes */
};

/*
 * The full explanation of a decision for VNode `vnode` as it would be made now: every
 * member slot in use, the filter that removes it (state, capabilities, trust, bound,
 * policy, full) or its score; when no member passes and some are at their bound, the bound
 * yields as for a placement, and those are judged by the other filters. Fills up to `count`
 * entries, returns how many members there are (>= 0; more than count means out was too
 * small), or -EINVAL. O(members): for people and the audit log, not the fast path. Does
 * not place anything.
 */
PF_API int pf_sched_candidates(struct pf_sched *sched, uint32_t vnode,
			       struct pf_sched_candidate *out, uint32_t count);

/*
 * Rebalancing (core/rebalance.c): a round scans the ownership words, and for VNodes whose
 * owner is clearly worse than the best alternative writes a move request into the VNode's
 * record. The owner sees it (pf_vnode_move_target), commits its state and hands the VNode
 * over (pf_vnode_handoff); the target takes it with pf_vnode_claim(). Anti-storm rules:
 * a per-round budget (absolute and relative), a cool-down after each membership change,
 * and hysteresis (a move must gain by a margin), so VNodes do not ping-pong.
 *
 * The bounded load holds through rebalancing, unrounded: for each VNode, with T and C those
 * of its pool as for placement (the eligible members that cover its capabilities, with the
 * VNodes they hold of any set, and their capacities) and fair as for placement, a round
 * first lifts every member of the pool below fair / (1 + epsilon) (a newcomer, one the
 * scores pass over), moving VNodes of the pool to it from the members furthest above their
 * fair share, then moves VNodes off every member above (1 + epsilon) x fair to the
 * strategy's choice, both whatever the margin; a move never takes its target above
 * (1 + epsilon) x fair, and a move for the margin never takes its owner below
 * fair / (1 + epsilon), so neither undoes the other. A member that alone covers some
 * capability is judged among those that cover it, not among all: it is not above its bound
 * merely because the others cannot take its VNodes. Consistent-hash lifts a
 * member through its ring points only (every VNode that reaches it first on the ring
 * goes to it while it has room); lifting it further would fight the ring.
 */

/* Rebalancing flag: stop the round at the first candidate that would move once the budget
 * is spent. The moves requested are the same; the rest is not examined, so skipped_budget
 * is 1 and examined counts only what was looked at. Without it a round examines every
 * candidate, which a dry run (moves_ppm 0) needs to count what would move; with it a round
 * that hits its budget costs its scan and the moves, not a choose per VNode. */
#define PF_REBALANCE_BUDGET_STOP 0x1u

struct pf_rebalance_opts {
	uint32_t size;         /* sizeof(struct pf_rebalance_opts) */
	uint32_t flags;        /* PF_REBALANCE_BUDGET_STOP, or 0 */
	uint32_t moves_max;    /* absolute budget: move requests per round (default
				* PF_VNODES_MAX: no bound but the relative one) */
	uint32_t moves_ppm;    /* relative budget: of the VNodes owned, in flight (requests of
				* earlier rounds still pending count against it; default
				* 100000 = 10%, at least one move when not 0 and none pending;
				* 0: a dry run) */
	uint64_t cooldown_ns;  /* no round within this long of a membership change (200 ms) */
	uint32_t gain_min_ppm; /* hysteresis: the target's score must beat the owner's (without
				* the VNode) by this factor (default 200000 = 20%); not used by
				* consistent-hash, which moves only to the ring's desired owner
				* and only within the bounded-load cap */
	uint32_t reserved0;
	uint64_t reserved[4];
};

PF_API void pf_rebalance_opts_init(struct pf_rebalance_opts *opts);

/* What one round did (filled on 0 and on -EAGAIN). */
struct pf_rebalance_report {
	uint32_t size; /* set by the caller */
	uint32_t strategy;
	uint32_t owned;              /* VNodes owned by eligible members when scanned */
	uint32_t pending;            /* move requests of earlier rounds still outstanding */
	uint32_t budget;             /* move requests this round could write */
	uint32_t examined;           /* candidates considered (ACTIVE, no request pending) */
	uint32_t requested;          /* move requests written this round */
	uint32_t skipped_budget;     /* would have moved, but the budget was spent */
	uint32_t skipped_hysteresis; /* a better member exists, not better by gain_min_ppm */
	uint32_t skipped_cap;        /* the target is at its bounded load */
	uint32_t skipped_full;       /* the target's assignment ring has no room left */
	uint32_t skipped_race;       /* the VNode or its request changed under the round */
	uint32_t no_target;          /* no other member passes the filters */
	uint32_t over_bound;         /* of requested: off members above their bound */
	uint64_t cooldown_left_ns;   /* -EAGAIN: how long until a round may run */
	uint64_t rounds;             /* rounds this scheduler has run (cumulative) */
	uint64_t rounds_refused;     /* rounds refused by the cool-down (cumulative) */
	uint32_t lifted;             /* of requested: to members far below their share */
	uint32_t reserved0;
	uint64_t reserved[3];
};

/*
 * Run one rebalancing round (opts may be NULL: defaults). Returns the number of move
 * requests written (>= 0) and fills *report (may be NULL), or:
 *   -EAGAIN   within cooldown_ns of the last membership change (report->cooldown_left_ns)
 *   -EINVAL   bad arguments or options
 *   -ENOMEM   no memory for the round's tables
 * Re-reads the membership first. Its model of assignments counts requested moves as done,
 * so later placements and rounds do not overshoot. Not thread-safe per scheduler object;
 * several rebalancers may run (a request is written by CAS, one per VNode and epoch).
 */
PF_API int pf_sched_rebalance(struct pf_sched *sched, const struct pf_rebalance_opts *opts,
			      struct pf_rebalance_report *report);

/*
 * Ask for VNode `vnode` to move to member `slot` (an operator's migrate): the target must
 * pass the placement filters (ACTIVE, capabilities, trust floor, bounded load,
 * can-assign and can-handoff hooks, room in its assignment ring); a move request for the
 * VNode's current epoch is then written, and its owner hands the VNode over with its state
 * as for a rebalancing move (pf_vnode_move_target, pf_vnode_handoff). *decision (may be NULL) tells
 * the target's standing: reason PF_SCHED_PLACED when requested, else the filter that
 * refused it. Returns 0 when requested, or:
 *   -ENOENT    the VNode is not ACTIVE (pending, undefined, or changing hands)
 *   -EALREADY  the VNode is already on that member
 *   -ESRCH     no ACTIVE member in slot (free, joining, draining, dead)
 *   -EPERM     the target is refused by a filter (decision->reason: caps, trust, bound
 *              (at its bounded load, as a placement sees it), policy or full)
 *   -EBUSY     a move request for this epoch is already pending (rebalancing, a drain
 *              or another migrate asked first)
 *   -EINVAL    bad arguments
 * Not thread-safe per scheduler object; the request is one CAS, so any number of
 * controllers may ask at once.
 */
PF_API int pf_sched_migrate(struct pf_sched *sched, uint32_t vnode, uint32_t slot,
			    struct pf_sched_decision *decision);

/*
 * Owner side. 1 and *ret_slot (may be NULL) when a move request for this handle's
 * ownership epoch is pending, 0 when none (a request for an older epoch is ignored), or
 * -EINVAL. One relaxed load: cheap enough for every pass of a worker loop.
 */
PF_API int pf_vnode_move_target(const struct pf_vnode *vnode, uint32_t *ret_slot);

/*
 * Owner side: hand a VNode with a pending move request to its target. Commit the state
 * first: the target loads the last committed checkpoint and receives again every message
 * read after it (the delivery contract). The ownership CAS ACTIVE(us, e) ->
 * ACTIVE(target, e + 1) is the move; the checkpoint is sealed with e + 1 and the id goes
 * to the target's assignment ring (it takes it with pf_vnode_claim()). Returns:
 *    0        handed to the target (the handle is freed)
 *    1        the target is gone, not capable, or its ring is full: the VNode went back to
 *             PENDING instead (a later epoch, queued for placement; the handle is freed)
 *   -ENOENT   no move request for this epoch (nothing done; the handle stays valid)
 *   -ESTALE   ownership had already been taken away (the handle is freed)
 *   -EINVAL   vnode is NULL
 */
PF_API int pf_vnode_handoff(struct pf_vnode *vnode);

/*
 * Explanations of recent placements (a ring in shared memory). Writers record them only
 * while someone is subscribed, so the fast path pays nothing otherwise.
 */
PF_API int pf_sched_explain_subscribe(struct pf_domain *domain);
PF_API void pf_sched_explain_unsubscribe(struct pf_domain *domain);

/*
 * Copy explanations with sequence numbers from *cursor on (at most `count`) into out,
 * advance *cursor; records overwritten before they were read are skipped (the gap shows
 * in the sequence numbers). Returns the number copied (>= 0) or -EINVAL.
 */
PF_API int pf_sched_explain_read(struct pf_domain *domain, uint64_t *cursor,
				 struct pf_sched_decision *out, uint32_t count, uint64_t *ret_seqs);

#ifdef __cplusplus
}
#endif

#endif /* PFLIGHT_SCHED_H */

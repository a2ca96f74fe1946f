/* SPDX-License-Identifier: MIT */
/*
 * pflight/drain.h: draining a member (no new VNodes, its VNodes moved away with their
 * state) and retiring it (drain, then remove the identity, kept as RETIRED history).
 *
 * pf_member_cordon() turns an ACTIVE member DRAINING: placement and rebalancing skip it
 * from the next scheduler refresh on (the change is published). A controller then calls
 * pf_sched_drain_step() until the report says done: each step keeps at most `parallel`
 * move requests outstanding, each aimed at the best other member by the scheduler's own
 * choose path; the owner honours them as it honours rebalancing moves (commit, then
 * pf_vnode_handoff()). Once `deadline_ns` has passed, whatever the member still holds is
 * released to PENDING (epoch + 1) from its last committed checkpoint, with its inbox:
 * nothing committed and no message is lost, only uncommitted work is redone. When the
 * member holds nothing its slot becomes FREE (drain) or RETIRED (retire), reusable by a
 * joiner after the domain's grace period; the member's own pf_member_leave() then
 * returns 0. A draining member keeps serving its VNodes and may leave at any time.
 */
#ifndef PFLIGHT_DRAIN_H
#define PFLIGHT_DRAIN_H

#include <stdint.h>

#include "pflight/common.h"
#include "pflight/domain.h"
#include "pflight/sched.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PF_DRAIN_RETIRE 0x1u         /* cordon flag: the drain ends RETIRED, not FREE */
#define PF_DRAIN_PARALLEL_DEFAULT 8u /* move requests outstanding at once */
#define PF_DRAIN_PARALLEL_MAX 1024u

/*
 * Cordon member `slot`: ACTIVE(g) -> DRAINING(g), with PF_DRAIN_RETIRE to end RETIRED
 * (given for a member already draining without it, the flag is added). Returns 0, or:
 *   -EINVAL    domain NULL, slot out of range, unknown flags
 *   -ENOENT    no ACTIVE or DRAINING member in the slot (free, joining, retired, dead)
 *   -EALREADY  already draining (with the retire flag, when PF_DRAIN_RETIRE is given)
 *   -EAGAIN    the slot kept changing under us; try again
 * Lock-free; any process that opened the domain.
 */
PF_API int pf_member_cordon(struct pf_domain *domain, uint32_t slot, uint32_t flags);

struct pf_drain_opts {
	uint32_t size;        /* sizeof(struct pf_drain_opts) */
	uint32_t flags;       /* none yet, 0 */
	uint32_t parallel;    /* move requests outstanding at most, 1..PF_DRAIN_PARALLEL_MAX;
				 0: PF_DRAIN_PARALLEL_DEFAULT */
	uint32_t reserved0;   /* must be zero */
	uint64_t deadline_ns; /* CLOCK_MONOTONIC; from then on release the rest; 0: none */
	uint64_t reserved[2]; /* must be zero */
};

PF_API void pf_drain_opts_init(struct pf_drain_opts *opts);

/*
 * Progress of a drain. Zero it and set size before the first step, then pass the same
 * report to every step: the totals accumulate across steps.
 */
struct pf_drain_report {
	uint32_t size; /* set by the caller */
	uint32_t slot;
	uint32_t generation;  /* of the member being drained (taken at the first step) */
	uint32_t done;        /* 1: the member holds nothing and its slot is given back */
	uint32_t final_state; /* enum pf_member_state once done: FREE or RETIRED */
	uint32_t steps;
	uint32_t initial;   /* VNodes held at the first step */
	uint32_t owned;     /* held now */
	uint32_t moving;    /* held, with a move request outstanding */
	uint32_t requested; /* move requests written, all steps */
	uint32_t moved;     /* left the member (handed over, or given back by the owner) */
	uint32_t released;  /* released to PENDING at the deadline, all steps */
	uint32_t blocked;   /* VNodes that found no target in the last step */
	uint32_t reason;    /* enum pf_sched_reason of the first of them, else PLACED */
	uint64_t reserved[2];
};

/*
 * One step of draining member `slot` (cordoned with pf_member_cordon()): count its VNodes,
 * request moves up to the parallel bound, release the rest once the deadline passed,
 * give the slot back once it holds nothing. Returns the requests written plus the VNodes
 * released by this step (>= 0; rep->done says whether it is over), or:
 *   -EINVAL  bad arguments (NULL, size, reserved fields, parallel out of range)
 *   -ENOENT  the slot is not DRAINING with the generation of rep (it left, died, or was
 *            never cordoned); a drain that this step or an earlier one finished is not
 *            an error: 0 with rep->done = 1
 *   -ENOMEM  no memory for the scheduler's model
 * Not thread-safe per scheduler object; several controllers may step the same member
 * (move requests and releases are CASes).
 */
PF_API int pf_sched_drain_step(struct pf_sched *sched, uint32_t slot,
			       const struct pf_drain_opts *opts, struct pf_drain_report *rep);

#ifdef __cplusplus
}
#endif

#endif /* PFLIGHT_DRAIN_H */

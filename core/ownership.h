/* SPDX-License-Identifier: MIT */
/*
 * core/ownership.h: the named transitions of a VNode's ownership word and of its
 * checkpoint descriptor (core/ownership.c is the only writer of both; a lint check,
 * tools/lint/owner_words.py, keeps it so).
 *
 *   define     UNASSIGNED -> PENDING(e)
 *   place      PENDING(e) -> ACTIVE(member, e + 1)   a claim, or a placer's decision
 *   hand-off   ACTIVE(owner, e) -> ACTIVE(target, e + 1)
 *   release    ACTIVE(e) -> PENDING(e + 1)           release, repair, undo, give back
 * and between hosts (core/transit.c; h is the other host, no member owns these):
 *   leave      ACTIVE(o, e) or PENDING(e) -> LEAVING(h, e + 1)   the owner is fenced
 *   stay       LEAVING(h, e) -> PENDING(e + 1)                    the move rolled back
 *   left       LEAVING(h, e) -> REMOTE(h, e2), e2 > e             the move committed
 *   arrive     UNASSIGNED(e0) or REMOTE(h', e0) -> ARRIVING(h, e), e > e0
 *   arrived    ARRIVING(h, e) -> PENDING(e)                       placed here from now on
 *   unarrive   ARRIVING(h, e) -> REMOTE(h, e)                     the source kept it
 *
 * Every transition raises the epoch and seals it into the checkpoint descriptor before
 * it returns, so from then on a commit stamped with an older epoch is refused.
 */
#ifndef PF_CORE_OWNERSHIP_H
#define PF_CORE_OWNERSHIP_H

#include <stdint.h>

#include "core/domain_impl.h"

/* The initial descriptor of every VNode (never committed), before the domain is published. */
void own_init(struct pf_domain *d);

/* 1 when w names member (slot, gen) as owner at `epoch`. */
static inline int own_held_by(uint64_t w, uint32_t slot, uint32_t gen, uint32_t epoch)
{
	return own_is_owned(w) && own_slot(w) == slot && own_gen(w) == (gen & OWN_GEN_MASK) &&
	       own_epoch(w) == epoch;
}

/* define: UNASSIGNED (observed as w) -> PENDING with w's epoch. The VNode's requirements
 * must be written before (the CAS publishes them). 0, or -EEXIST. */
int own_define(struct pf_domain *d, uint32_t id, uint64_t w);

/*
 * place: PENDING (observed as w) -> ACTIVE(slot, gen, e + 1), sealed. For a member taking
 * it itself (a claim): 0 with *ret_ckpt (the sealed descriptor), or -EAGAIN (the word
 * changed: another placement won).
 */
int own_place(struct pf_domain *d, uint32_t id, uint64_t w, uint32_t slot, uint32_t gen,
	      uint64_t *ret_ckpt);

/*
 * place, on a member's behalf (a placer's decision): as own_place(), then the member is
 * re-checked ACTIVE with its generation and the id is pushed to its assignment ring; if
 * either fails, the placement is undone (release to PENDING, queued). 0 with *ret_epoch
 * (the new epoch), or -EBUSY (lost the race, or undone).
 */
int own_place_for(struct pf_domain *d, uint32_t id, uint64_t w, uint32_t slot, uint32_t gen,
		  uint32_t *ret_epoch);

/*
 * hand-off: ACTIVE(owner, e) (observed as w) -> ACTIVE(target slot, target gen, e + 1),
 * sealed, pushed to the target's assignment ring; if the target is no longer ACTIVE with
 * that generation or its ring is full, it goes on to PENDING(e + 2), queued. 0 handed
 * over, 1 returned to PENDING instead, -ESTALE (w is no longer the word).
 */
/* Deliver again a placement (owned word w) whose owner has not adopted it: its placer died
 * between the ownership CAS and the delivery. A second entry of an epoch is harmless (the
 * adoption marks its epoch). 1 delivered, 0 not (the owner gone, or its ring full). */
int own_redeliver(struct pf_domain *d, uint32_t id, uint64_t w);
int own_handoff(struct pf_domain *d, uint32_t id, uint64_t w, uint32_t slot, uint32_t gen);

/* Flags of own_release(). */
#define OWN_RELEASE_PUBLISH 0x1u /* wake sleeping claimers (one VNode); else the caller does */

/*
 * release: owned (observed as w) -> PENDING(e + 1), sealed, queued for placement. Used by
 * a release, a repair, an undone placement and a hand-off given back. 1 done, 0 when the
 * word had changed (someone else moved it first).
 */
uint32_t own_release(struct pf_domain *d, uint32_t id, uint64_t w, uint32_t flags);

/*
 * The adopting member's own seal of a placement it found in its assignment ring (the
 * placer sealed already; sealing again is idempotent). The sealed descriptor.
 */
uint64_t own_seal(struct pf_domain *d, uint32_t id, uint32_t epoch);

/*
 * Between hosts. Each is one CAS from the word observed as w, and -EAGAIN when w is no
 * longer the word (another transition won); the caller checked w's state. The ones that
 * raise the epoch seal it before they return.
 */
int own_leave(struct pf_domain *d, uint32_t id, uint64_t w, uint32_t host);
int own_stay(struct pf_domain *d, uint32_t id, uint64_t w);
int own_left(struct pf_domain *d, uint32_t id, uint64_t w, uint32_t remote_epoch);
int own_arrive(struct pf_domain *d, uint32_t id, uint64_t w, uint32_t host, uint32_t epoch);
int own_arrived(struct pf_domain *d, uint32_t id, uint64_t w);
int own_unarrive(struct pf_domain *d, uint32_t id, uint64_t w);

/*
 * Publish a checkpoint: CAS the descriptor from *expected to next, with release order
 * after the bytes. 1 done, 0 failed (*expected then holds the current word).
 */
int own_ckpt_publish(struct pf_domain *d, uint32_t id, uint64_t *expected, uint64_t next);

#endif /* PF_CORE_OWNERSHIP_H */

/* SPDX-License-Identifier: MIT */
/* core/member_impl.h: process-local member and VNode handles, shared inside core/. */
#ifndef PF_CORE_MEMBER_IMPL_H
#define PF_CORE_MEMBER_IMPL_H

#include <pthread.h>
#include <stdint.h>

#include "core/domain_impl.h"
#include "pflight/supervisor.h"

struct pf_vnode {
	struct pf_member *member;
	struct pf_vnode *next, *prev; /* the member's list of owned VNodes */
	uint32_t id;
	uint32_t epoch;
	uint64_t cursor;    /* inbox position read up to (owner-private) */
	uint64_t committed; /* inbox position the last checkpoint covers: free up to here */
	uint64_t freed;     /* inbox position our last free reached (== committed: done) */
};

struct pf_member {
	struct pf_domain *d;
	struct dom_member *rec;
	uint32_t slot;
	uint32_t gen;
	uint64_t caps[2];
	int tid;
	uint64_t heartbeat;
	struct pf_supervisor *sup; /* embedded supervisor, PF_MEMBER_SUPERVISE */
	pthread_mutex_t lock;      /* guards the list below (process-local) */
	struct pf_vnode owned;     /* list head */
	uint32_t owned_count;
};

/* Seal VNode id's checkpoint descriptor with `epoch` (older owners' commits then fail);
 * returns the descriptor as sealed. */
uint64_t ckpt_seal(struct pf_domain *d, uint32_t id, uint32_t epoch);

/* Fill and link the handle of a VNode m now owns at `epoch` (ckpt: its sealed
 * descriptor): inbox cursor from the checkpoint, slots it covers freed. */
void handle_attach(struct pf_member *m, struct pf_vnode *h, uint32_t id, uint32_t epoch,
		   uint64_t ckpt);

/* Unlink the handle from its member's list and free it. */
void handle_unlink(struct pf_vnode *h);

/* 1 while the member's slot still says ACTIVE (or DRAINING) with its generation. */
int member_is_live(const struct pf_member *m);
/* 1 while the member's slot says DRAINING with its generation: it takes nothing new. */
int member_is_draining(const struct pf_member *m);
/* Give back slot (ACTIVE or DRAINING with generation gen) as FREE, or RETIRED when it was
 * draining to retire, reusable after the grace period: the new state, or -ESTALE (not
 * ours any more) or -EAGAIN. The caller then calls member_gone(). */
int member_retire_slot(struct pf_domain *d, uint32_t slot, uint32_t gen);
/* pf_member_join() at a closed admission gate (core/admission.c): 1 admitted (the slot is
 * ACTIVE), 0 no decision needed (still JOINING: go on), or a negative errno (still
 * JOINING, or reclaimed: the caller gives the slot back). */
int admission_wait(struct pf_member *m, const struct pf_member_opts *o);

/* Bookkeeping of a member that stopped being ACTIVE or DRAINING: providers, count. */
void member_gone(struct pf_domain *d, const uint64_t caps[2]);

/* Return every VNode owned by (slot, gen) to PENDING with epoch + 1 and queue it.
 * Idempotent; safe to run from several processes at once. Returns how many moved. */
uint32_t vnodes_return_owned(struct pf_domain *d, uint32_t slot, uint32_t gen);

/* Free inbox slots of VNode id below position upto (owner, or the next owner on claim);
 * stops at a skipped slot whose sender may still be copying into it. Returns the
 * position freeing reached. */
uint64_t inbox_free_upto(struct pf_domain *d, uint32_t id, uint64_t upto);

/* Owner with nothing to read: finish a free that an earlier commit had to stop. */
void inbox_free_retry(struct pf_domain *d, struct pf_vnode *h);

#endif /* PF_CORE_MEMBER_IMPL_H */

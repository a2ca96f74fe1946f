/* SPDX-License-Identifier: MIT */
/* core/member_impl.h: process-local member and VNode handles, shared inside core/. */
#ifndef PF_CORE_MEMBER_IMPL_H
#define PF_CORE_MEMBER_IMPL_H

#include <pthread.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/domain_impl.h"
#include "core/ownership.h"
#include "pflight/supervisor.h"

struct pf_vnode {
	struct pf_member *member;
	struct pf_vnode *next, *prev; /* the member's list of owned VNodes */
	uint32_t id;
	uint32_t epoch;
	uint64_t cursor;    /* inbox position read up to (owner-private) */
	uint64_t committed; /* inbox position the last checkpoint covers: free up to here */
	uint64_t freed;     /* inbox position our last free reached (== committed: done) */
	uint32_t seq;       /* sequence of the last state committed or loaded */
	uint32_t held;      /* checkpoint buffer the next commit writes, CKPT_BUF_NONE */
	uint32_t pub;       /* the one this handle published last (core/checkpoint.c) */
	uint32_t caching;   /* 1: keeps its next buffer between commits */
};

struct pf_member {
	struct pf_domain *d;
	struct dom_member *rec;
	uint32_t slot;
	uint32_t gen;
	uint64_t caps[2];
	int tid;
	struct pf_supervisor *sup; /* embedded supervisor, PF_MEMBER_SUPERVISE */
	pthread_mutex_t lock;      /* guards the list below (process-local) */
	struct pf_vnode owned;     /* list head */
	uint32_t owned_count;
	_Atomic uint32_t ckpt_cachers; /* handles keeping a buffer (core/checkpoint.c) */
	/* The member's wait (core/wait.c). */
	uint32_t wait_membership;    /* membership version last reported */
	_Atomic uint32_t wait_armed; /* counted by pf_member_wait_arm(): its WAIT_ARMED word */
	uint32_t wait_arms;          /* pf_member_wait_arm() calls that counted it */
	struct wait_fd *wait_fd;     /* the eventfd and its thread, once asked for */
	struct wait_snap *wait_snap; /* what the wait watches of each handle (core/wait.c) */
	uint32_t wait_snap_max;
	/* Placing for the domain while no placer is registered (core/placer.c). */
	struct pf_sched *placer;
	uint32_t placer_seen_pid;     /* registered placer last looked at */
	uint32_t placer_alive;        /* and whether its process lived then */
	uint64_t placer_checked_ns;   /* when */
	uint32_t placer_idle_version; /* pending version of our last round that placed none */
	uint32_t reserved1;
};

/* Ring member `slot`'s bell if it waits (core/wait.c): after publishing work for it (a
 * placement, a hand-off, a move request). */
void member_wake(struct pf_domain *d, uint32_t slot);
/* The same after pf_send()'s seq_cst publish of a message (no fence needed there). */
void member_wake_sent(struct pf_domain *d, uint32_t slot);
/* Wait until one of the events in `want` (PF_WAIT_*) is there: 0 and *ret_events (all
 * the events seen; a membership change counts as reported only when `want` has it),
 * -ETIMEDOUT, -ESTALE (no longer a member). Beats while parked. */
int member_wait_events(struct pf_member *m, uint32_t want, uint64_t timeout_ns,
		       uint32_t *ret_events);
/* The wait's thread and eventfd, if any, stopped and closed (leave). */
void member_wait_fini(struct pf_member *m);

/* One placement round of the pending queue by this member, if the members place now and no
 * other member is placing (core/placer.c): how many it placed. */
int placer_round(struct pf_member *m);
/* 1 while no live process is registered as the domain's placer: the members place. */
int placer_members_place(struct pf_member *m);
/* The registered placer's beat, when this process is it (each pass of pf_sched_run()). */
void placer_beat(struct pf_domain *d);
/* The member's scheduler object for placing, destroyed (leave). */
void placer_fini(struct pf_member *m);

/* Fill and link the handle of a VNode m now owns at `epoch` (ckpt: its sealed
 * descriptor): inbox cursor and sequence from the checkpoint's header, as hints; nothing
 * freed (the header is unverified: the load or the first commit frees). */
void handle_attach(struct pf_member *m, struct pf_vnode *h, uint32_t id, uint32_t epoch,
		   uint64_t ckpt);

/* Unlink the handle from its member's list and free it. */
void handle_unlink(struct pf_vnode *h);

/* 1 while the handle's member still owns its VNode at the handle's epoch (a repair, a
 * drain or a hand-off that took it away is seen); *ret_word (may be NULL): the ownership
 * word it was judged on, for a transition's CAS. */
static inline int handle_owns(const struct pf_vnode *h, uint64_t *ret_word)
{
	const struct pf_member *m = h->member;
	/* [A10] pairs with [R10] in core/ownership.c: a transition that took it is seen. */
	uint64_t w = pf_load_acquire(&m->d->own[h->id]);

	if (ret_word != NULL)
		*ret_word = w;
	return own_held_by(w, m->slot, m->gen, h->epoch);
}

/* 1 while the member's slot still says ACTIVE (or DRAINING) with its generation. */
int member_is_live(const struct pf_member *m);
/* 1 while the member's slot says DRAINING with its generation: it takes nothing new. */
int member_is_draining(const struct pf_member *m);
/* Give back slot (ACTIVE or DRAINING with generation gen) as FREE, or RETIRED when it was
 * draining to retire, reusable after the grace period, marked DRAINED when a drain (not
 * the member's own leave) gives it back: the new state, or -ESTALE (not ours any more) or
 * -EAGAIN. */
int member_retire_slot(struct pf_domain *d, uint32_t slot, uint32_t gen, int drained);
/* pf_member_join() at a closed admission gate (core/admission.c): 1 admitted (the
 * gatekeeper made the slot ACTIVE|JOINED; it may be DRAINING, or drained away, by the time
 * we look), 0 no decision needed (still JOINING: go on), or a negative errno (still
 * JOINING, refused or not, or reclaimed: the caller gives the slot back). */
int admission_wait(struct pf_member *m, const struct pf_member_opts *o);

/*
 * Who a member joined by member_join_as() claims to be, beyond what the process is: the
 * identity key its failure history is kept by (instead of this process's uid and
 * executable), and the slot the search for a free one starts at (instead of a hash of the
 * pid). The simulator (ctl/sim.c) joins many members from one thread with these, so that
 * each simulated kind of worker keeps its own history and slots are taken in the same
 * order in every run.
 */
struct member_as {
	uint64_t identity_key; /* non-zero */
	uint32_t slot_start;   /* taken modulo members_max */
	uint32_t reserved0;
};

/* pf_member_join() (Algorithm 1) with the identity overrides above; as NULL is exactly
 * pf_member_join(). Same errnos, and -EINVAL for a zero identity key. */
int member_join_as(struct pf_domain *d, const struct pf_member_opts *opts,
		   const struct member_as *as, struct pf_member **ret_member)
	PF_PRIVATE_EXPORT(member_join_as);

/*
 * Declare the member (slot, gen) dead with `cause` (enum pf_death_cause) through the
 * supervisor's own repair path, as if its check had found it dead: the state word goes to
 * DEAD by CAS, the failure is recorded in the member's history, the counters and the
 * membership version move, every VNode it owns goes back to PENDING (epoch + 1) and the
 * slot is marked repaired (reusable after the grace period); on_repair is called. For a
 * process that cannot really die: the simulator. The member's own thread must still call
 * pf_member_leave() on its handle (it returns -ESTALE) to unlink its robust futex before
 * the slot is taken again. Returns the VNodes returned to PENDING (>= 0), or -ENOENT (the
 * slot holds no JOINING, ACTIVE or DRAINING member of generation gen), -EAGAIN (the state
 * word changed under us), -EINVAL (bad slot or cause).
 */
int supervisor_declare_dead(struct pf_supervisor *s, uint32_t slot, uint32_t gen, uint32_t cause)
	PF_PRIVATE_EXPORT(supervisor_declare_dead);

/*
 * pf_member_leave() for n members of one domain joined by the calling thread, with one
 * scan of the VNode table for all of them (what they own without a handle goes back to
 * PENDING) instead of one each: a simulation's thousand members leave in O(VNodes), not
 * O(members x VNodes); without memory for the shared scan, each scans for itself. Frees
 * every handle. Returns how many had been declared dead (the count of pf_member_leave()'s
 * -ESTALE); never fails.
 */
int member_leave_many(struct pf_member **members, uint32_t n) PF_PRIVATE_EXPORT(member_leave_many);

/*
 * Free what the member that last took `slot` left attached to it (its attach word, the
 * checkpoint buffers named in its hold entries) once its process is gone. 0 when nothing
 * is attached (any more), -EBUSY while that process lives: the slot stays its own, however
 * long it is stalled. Any process, any number at once.
 */
int member_reclaim(struct pf_domain *d, uint32_t slot);

/* Return every VNode owned by (slot, gen) to PENDING with epoch + 1 and queue it.
 * Idempotent; safe to run from several processes at once. Returns how many moved. */
uint32_t vnodes_return_owned(struct pf_domain *d, uint32_t slot, uint32_t gen);
/* The same for every member slot s whose gen_of[s] is not UINT32_MAX, with that generation:
 * one scan for many members. */
uint32_t vnodes_return_owned_by(struct pf_domain *d, const uint32_t *gen_of);
/* vnodes_return_owned() of the VNodes whose bits are set in ids (a bitmap over the VNode
 * table) only: those a scan found owned by (slot, gen); each return re-checks the owner. */
uint32_t vnodes_return_listed(struct pf_domain *d, uint32_t slot, uint32_t gen,
			      const uint64_t *ids);

/* Free inbox slots of VNode id below position upto (the owner, after a commit or a load);
 * stops at a skipped slot whose sender may still be copying into it. Returns the
 * position freeing reached. */
uint64_t inbox_free_upto(struct pf_domain *d, uint32_t id, uint64_t upto);
/* Read the message at *cursor of VNode id as its consumer would, for a VNode no member owns
 * (core/transit.c: one leaving, or owned by another host). 0 with *ret_len and *cursor
 * past it, -EAGAIN (nothing more now), -ENOBUFS, -EBADMSG. Nothing is freed. */
int inbox_peek(struct pf_domain *d, uint32_t id, uint64_t *cursor, void *buf, size_t cap,
	       size_t *ret_len);
/* Put count messages before the first waiting one of VNode id, in order (inbox head
 * moves back by count): for a VNode no member owns (core/transit.c: an arrival's carried
 * messages go before those sent here meanwhile, which were all sent after them). 0,
 * -EAGAIN (no room: the ring is too full), -EMSGSIZE. */
int inbox_prepend(struct pf_domain *d, uint32_t id, const struct iovec *msgs, uint32_t count);
/* Take back what inbox_prepend() placed and nobody received (an arrival undone): free the
 * carried slots from the head on. Returns how many. For a VNode no member owns. */
uint32_t inbox_unprepend(struct pf_domain *d, uint32_t id);
/* Look at the message at *cursor of VNode id while its owner may consume it: nothing is
 * written (a slot still being written ends the look), and a slot that changed during the
 * copy gives -ESTALE (freed under us: start again). 0, -EAGAIN (the end), -ENOBUFS,
 * -EBADMSG, -ESTALE. */
int inbox_look(struct pf_domain *d, uint32_t id, uint64_t *cursor, void *buf, size_t cap,
	       size_t *ret_len);

/* Owner with nothing to read: finish a free that an earlier commit had to stop. */
void inbox_free_retry(struct pf_domain *d, struct pf_vnode *h);

#endif /* PF_CORE_MEMBER_IMPL_H */

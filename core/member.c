/* SPDX-License-Identifier: MIT */
/*
 * core/member.c: Algorithm 1 (pf_member_join), heartbeats, graceful leave.
 *
 * Slot life cycle (state word, CAS only):
 *
 *   FREE(g) or DEAD|REPAIRED(g), grace over --join--> JOINING|INIT(g+1) --> JOINING(g+1)
 *   --> ACTIVE|JOINED(g+1)
 *   ACTIVE(g) --leave--> FREE(g)            ACTIVE(g) --supervisor--> DEAD(g) --> DEAD|REPAIRED(g)
 *   ACTIVE(g) --cordon--> DRAINING[|RETIRE](g) --drained or leave--> FREE(g) or RETIRED(g)
 *   (core/drain.c); a RETIRED slot is reused after the grace period like a FREE one.
 *
 * The facts of a generation (JOINED, REFUSED, DRAINED, core/layout.h) ride in its word
 * through every transition: the domain's membership counters are counted from them
 * (core/tally.c), and a joiner folds the ended generation's events into the counters
 * before its CAS takes the slot.
 *
 * The generation changes only when a joiner takes the slot, so (slot, generation) names
 * one membership for as long as anyone may still hold it; free_at_ns keeps a released
 * slot unused for the domain's grace period, so late readers never see a recycled
 * identity. The joiner owns a JOINING slot exclusively and writes its identity with
 * plain stores; the JOINING -> ACTIVE CAS ([R5]) publishes them to supervisors, which
 * acquire the state word ([A5]) before reading identity. Until the joiner has written
 * its identity (INIT cleared, [R5]) the slot's pid and futex are the previous
 * generation's: a dead predecessor's OWNER_DIED or pid must not condemn the joiner. A
 * joiner that dies before it holds its futex leaves a JOINING slot that supervisors
 * reclaim once its pid is gone (INIT cleared) or after a timeout (INIT still set).
 *
 * A joiner claims the slot's attach word before its CAS takes the slot, and lets go of it
 * only when its handle is gone; nobody takes an attached slot while the attached process
 * lives. So a joiner stopped anywhere in its join and declared dead meanwhile finds, when
 * it goes on, the record still of its own (dead) generation, never the next member's.
 *
 * A reader that copies a record without joining (pf_member_info()) validates its copy
 * and reports it only if the state word still names the generation it began with: the
 * joiner's fence after its take ([F45]) and the reader's before that re-check ([F46])
 * make a copy that holds any write of a later joiner fail the re-check.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/checkpoint.h"
#include "core/member_impl.h"
#include "core/robust.h"
#include "core/tally.h"
#include "pflight/policy.h"
#include "core/validate.h"
#include "shm/fault.h"
#include "shm/pf_assert.h"

#define TRUST_DEFAULT_PPM 500000u /* an unknown member starts half trusted */

PF_API void pf_member_opts_init(struct pf_member_opts *opts)
{
	PF_ASSERT(opts != NULL);
	memset(opts, 0, sizeof(*opts));
	opts->size = sizeof(*opts);
	opts->numa_node = -1;
}

static int opts_resolve(const struct pf_member_opts *in, struct pf_member_opts *out)
{
	pf_member_opts_init(out);
	out->vnode_capacity = PF_MEMBER_CAPACITY_DEFAULT;
	if (in == NULL)
		return 0;
	if (opts_copy(out, sizeof(*out), in, offsetof(struct pf_member_opts, vnode_capacity)) < 0)
		return -EINVAL;
	if ((out->flags & ~PF_MEMBER_SUPERVISE) != 0 || out->numa_node < -1)
		return -EINVAL;
	if (out->refusal != NULL && out->refusal->size < sizeof(*out->refusal))
		return -EINVAL;
	if (out->vnode_capacity == 0)
		out->vnode_capacity = PF_MEMBER_CAPACITY_DEFAULT;
	for (size_t i = 0; i < PF_ARRAY_SIZE(out->reserved); i++)
		if (out->reserved[i] != 0)
			return -EINVAL;
	if (out->caps_count > PF_MEMBER_CAPS_MAX)
		return -E2BIG;
	if (out->caps_count > 0 && out->caps == NULL)
		return -EINVAL;
	for (uint32_t i = 0; i < out->caps_count; i++)
		if (!caps_name_valid(out->caps[i]))
			return -EINVAL;
	return 0;
}

/* Step 1: who is joining. */
static int identity_read(struct pf_member_identity *id)
{
	memset(id, 0, sizeof(*id));
	id->pid = getpid();
	id->uid = geteuid();
	id->gid = getegid();
	return identity_start_time(id->pid, &id->start_time);
}

/* Step 2: the domain's own rule (its owner, root, or its group), then the hook. */
static int policy_check(struct pf_domain *d, const struct pf_member_identity *id,
			const struct pf_member_opts *o)
{
	int in_group = 0;

	if (d->lim.gid >= 0) {
		gid_t groups[256];
		int n = getgroups((int)PF_ARRAY_SIZE(groups), groups);

		in_group = id->gid == (gid_t)d->lim.gid;
		for (int i = 0; i < n && !in_group; i++)
			in_group = groups[i] == (gid_t)d->lim.gid;
	}
	if (id->uid != d->lim.owner_uid && id->uid != 0 && !in_group)
		return -EPERM;
	if (o->can_register != NULL) {
		int r = o->can_register(o->policy_arg, id, o->caps, o->caps_count);

		if (r > 0 || r < -4095)
			return -EPERM; /* a hook that does not follow the convention refuses */
		return r;
	}
	return 0;
}

static int member_free(struct pf_domain *d, struct dom_member *rec, uint32_t gen, uint32_t from);

int member_reclaim(struct pf_domain *d, uint32_t slot)
{
	struct dom_member *rec = &d->members[slot];
	/* [A34] pairs with [R34] in attach(), detach() and here: the start time is the
	 * attacher's, or 0 while it has not written it yet (the last detach cleared it). */
	uint64_t a = pf_load_acquire(&rec->attached);
	/* Relaxed: ordered by [A34]. */
	uint64_t start = pf_load_relaxed(&rec->attach_start);

	/* Nothing attached: nothing held either (a member holds buffers only while attached,
	 * and is detached only after they are given back). */
	if (a == 0)
		return 0;
	if (!identity_gone((int)(uint32_t)a, start))
		return -EBUSY; /* alive, however stalled: the slot stays its own */
	/* Only that generation's buffers: another reclaimer may have finished already and a
	 * new member taken the slot since our look. Relaxed: written by a process now gone
	 * (every store of its threads precedes their exit, which identity_gone() saw); a new
	 * member's value instead means that generation's buffers were settled already. */
	if (pf_load_relaxed(&rec->ckpt_used) != 0)
		(void)ckpt_reclaim(d, slot, (uint32_t)(a >> 32));
	/* Relaxed: ordered before the release below. A CAS, not a store: a reclaimer that
	 * finished first may have let a new attacher in, whose start time stays. */
	(void)pf_cas_relaxed(&rec->attach_start, &start, 0);
	/* [R34] pairs with [A34] in the next member_reclaim() and in attach(): its buffers
	 * are settled, its start time cleared. */
	(void)pf_cas_release(&rec->attached, &a, 0);
	return 0;
}

/* Claim the slot for generation gen before taking it: from this CAS on, whoever would take
 * the slot (or reclaim it for the next joiner) finds it attached to us and leaves it alone
 * while we live, so nothing we write into it later can land in another member's record.
 * 0, or -EBUSY when another joiner claimed it first. The start time comes after the
 * claim: a reclaimer that reads 0 there judges by the pid alone (a detach clears it). */
static int attach(struct dom_member *rec, uint32_t gen, const struct pf_member_identity *id)
{
	uint64_t none = 0;

	/* [R34] pairs with [A34] in member_reclaim(); acq_rel so that the clear of attach_start
	 * by whoever let go of the slot last comes before our start time. */
	if (!pf_cas_acq_rel(&rec->attached, &none, ((uint64_t)gen << 32) | (uint32_t)id->pid))
		return -EBUSY;
	/* Relaxed: ours alone from the claim on; a reclaimer copes with 0 (see above). */
	pf_store_relaxed(&rec->attach_start, id->start_time);
	pf_store_relaxed(&rec->ckpt_used, 0);
	pf_store_relaxed(&rec->ckpt_replacing, 0);
	return 0;
}

/* Our handle is gone: the slot may be taken again (after its grace period). */
static void detach(struct dom_member *rec)
{
	/* Relaxed: ordered before the release below. */
	pf_store_relaxed(&rec->attach_start, 0);
	/* [R34] pairs with [A34] in member_reclaim() and attach(): every write of ours to the
	 * record (state, futex, hold entries) comes first. */
	pf_store_release(&rec->attached, 0);
}

static int slot_take(struct pf_domain *d, uint32_t start, const struct pf_member_identity *id,
		     uint32_t *ret_slot, uint32_t *ret_gen)
{
	uint64_t now = now_ns();

	for (uint32_t k = 0; k < d->lim.members_max; k++) {
		uint32_t slot = (start + k) % d->lim.members_max;
		struct dom_member *rec = &d->members[slot];
		/* [A5] pairs with [R5] in member_free() and supervisor repair: free_at is
		 * written before the state that makes the slot reusable. */
		uint64_t w = pf_load_acquire(&rec->state);
		uint32_t st = member_word_state(w), gen = member_gen_next(member_word_gen(w));

		if (!(st == PF_MEMBER_FREE || st == PF_MEMBER_RETIRED ||
		      (st == PF_MEMBER_DEAD && (w & MEMBER_FLAG_REPAIRED) != 0)))
			continue;
		/* Relaxed: ordered by [A5] above. */
		if (pf_load_relaxed(&rec->free_at_ns) > now)
			continue;
		/* Its last member may still be alive (drained away, declared dead while stalled):
		 * not before its process is gone or its handle has left. */
		if (member_reclaim(d, slot) < 0)
			continue;
		if (tally_fold(d, slot, w) < 0)
			continue; /* its events are not all counted yet: the next joiner's turn */
		if (attach(rec, gen, id) < 0)
			continue; /* another joiner's */
		/* [R5] pairs with [A5]: taking the slot; acq_rel so we see the last holder's
		 * writes before we overwrite them. */
		if (!pf_cas_acq_rel(&rec->state, &w,
				    member_word(gen, PF_MEMBER_JOINING, 0, MEMBER_FLAG_INIT))) {
			detach(rec); /* it moved on since our look: not ours */
			continue;
		}
		/* [F45] pairs with [F46] in member_record_stable(): a reader that sees any of
		 * our writes into the record from here on sees the slot taken. */
		pf_fence_release();
		PF_FAULT_POINT(JOIN_TAKEN);
		*ret_slot = slot;
		*ret_gen = gen;
		return 0;
	}
	return -EUSERS;
}

static void record_init(struct pf_domain *d, struct dom_member *rec,
			const struct pf_member_identity *id, int tid, const uint64_t caps[2],
			const struct pf_member_opts *o, uint64_t key)
{
	uint32_t reliability = history_reliability(d, key);
	uint32_t caps_declared = o->caps_count;
	int32_t node = o->numa_node;
	unsigned cpu = 0, numa = 0;

	(void)getcpu(&cpu, &numa);
	/* Relaxed: the slot is ours (JOINING); [R5] on ACTIVE publishes all of this. */
	pf_store_relaxed(&rec->futex, 0);
	pf_store_relaxed(&rec->pid, (int32_t)id->pid);
	pf_store_relaxed(&rec->start_time, id->start_time);
	/* Relaxed: the same; identity fields of this generation. */
	pf_store_relaxed(&rec->uid, id->uid);
	pf_store_relaxed(&rec->gid, id->gid);
	pf_store_relaxed(&rec->tid, tid);
	/* Relaxed: the same. */
	pf_store_relaxed(&rec->join_time_ns, now_ns());
	pf_store_relaxed(&rec->caps[0], caps[0]);
	pf_store_relaxed(&rec->caps[1], caps[1]);
	/* Relaxed: the same. */
	pf_store_relaxed(&rec->numa_node, node >= 0 ? node : (int32_t)numa);
	pf_store_relaxed(&rec->cpu, (int32_t)cpu);
	pf_store_relaxed(&rec->caps_declared, caps_declared);
	pf_store_relaxed(&rec->identity_key, key);
	/* Relaxed: same reason, published by [R5]. */
	pf_store_relaxed(&rec->reliability_ppm, reliability);
	pf_store_relaxed(&rec->trust_ppm, TRUST_DEFAULT_PPM);
	pf_store_relaxed(&rec->load_ppm, 0);
	/* Relaxed: the same. */
	pf_store_relaxed(&rec->mem_ppm, 0);
	pf_store_relaxed(&rec->vnode_capacity, o->vnode_capacity);
	/* Not the supervisor's free_at_ns and dead_time_ns: a joiner declared dead while stopped
	 * before this point writes them into its own dead generation's record, whose grace
	 * period must stand; whatever ends a generation writes free_at before its release, and
	 * dead_time is read only of a DEAD one. */
	/* Relaxed: the same; the gatekeeper's and the drain's fields of the last generation. */
	pf_store_relaxed(&rec->cordon_ns, 0);
	pf_store_relaxed(&rec->admission, 0);
	/* Relaxed: the same; our own statistics start at zero. */
	pf_store_relaxed(&rec->heartbeat, 0);
	pf_store_relaxed(&rec->vnodes_owned, 0);
	pf_store_relaxed(&rec->claims, 0);
	/* Relaxed: the same. */
	pf_store_relaxed(&rec->commits, 0);
	pf_store_relaxed(&rec->received, 0);
	/* Relaxed: the same; the wait's count of the last generation, which a member killed
	 * while parked or armed never took back (core/wait.c). Exact: the attach word keeps
	 * the slot from being taken while a thread of that process lives. */
	pf_store_relaxed(&rec->waiting, 0);
	/* The reserved fields (must be zero): a peer's scribble on the slot while it was free
	 * would otherwise fail every check of this generation (and get it quarantined).
	 * Relaxed: nothing is published through them; readers load them relaxed too. */
	pf_store_relaxed(&rec->reserved0, 0);
	pf_store_relaxed(&rec->reserved1, 0);
	/* Relaxed: the same. */
	pf_store_relaxed(&rec->reserved2, 0);
	pf_store_relaxed(&rec->reserved3, 0);
	for (size_t i = 0; i < PF_ARRAY_SIZE(rec->reserved4); i++)
		/* Relaxed: the same. */
		pf_store_relaxed(&rec->reserved4[i], 0);
	for (size_t i = 0; i < PF_ARRAY_SIZE(rec->reserved5); i++)
		/* Relaxed: the same. */
		pf_store_relaxed(&rec->reserved5[i], 0);
}

/* Give back a slot we hold (JOINING, refused or not, or ACTIVE) as FREE after the grace
 * period, its facts kept. */
static int member_free(struct pf_domain *d, struct dom_member *rec, uint32_t gen, uint32_t from)
{
	/* Relaxed: only the refusal flag is taken from it; the CAS below re-validates. */
	uint64_t w = member_word(gen, from, 0, pf_load_relaxed(&rec->state) & MEMBER_FLAG_REFUSED);

	/* Relaxed: published by the release CAS below. */
	pf_store_relaxed(&rec->free_at_ns, now_ns() + d->lim.slot_grace_ns);
	/* [R5] pairs with [A5] in slot_take(): free_at is visible before FREE. */
	if (!pf_cas_release(&rec->state, &w,
			    member_word(gen, PF_MEMBER_FREE, 0, member_word_facts(w))))
		return -ESTALE;
	return 0;
}

int member_retire_slot(struct pf_domain *d, uint32_t slot, uint32_t gen, int drained)
{
	struct dom_member *rec = &d->members[slot];

	for (int tries = 0; tries < 8; tries++) {
		/* [A5] pairs with [R5] in pf_member_cordon(): the flags of this generation. */
		uint64_t w = pf_load_acquire(&rec->state);
		uint32_t st = member_word_state(w), to = PF_MEMBER_FREE;

		if (member_word_gen(w) != gen ||
		    (st != PF_MEMBER_ACTIVE && st != PF_MEMBER_DRAINING))
			return -ESTALE;
		if (st == PF_MEMBER_DRAINING && (w & MEMBER_FLAG_RETIRE) != 0)
			to = PF_MEMBER_RETIRED;
		/* Relaxed: published by the release CAS below. */
		pf_store_relaxed(&rec->free_at_ns, now_ns() + d->lim.slot_grace_ns);
		/* [R5] pairs with [A5] in slot_take(): free_at is visible before the state, which
		 * keeps the generation's facts and says whether a drain ended it. */
		if (pf_cas_release(&rec->state, &w,
				   member_word(gen, to, 0,
					       member_word_facts(w) |
						       (drained ? MEMBER_FLAG_DRAINED : 0))))
			return (int)to;
	}
	return -EAGAIN; /* the flags kept changing under us */
}

static int member_new(struct pf_domain *d, struct pf_member **ret)
{
	struct pf_member *m = PF_FAULT_FAIL(ALLOC) ? NULL : calloc(1, sizeof(*m));

	if (m == NULL)
		return -ENOMEM;
	if (pthread_mutex_init(&m->lock, NULL) != 0) {
		free(m);
		return -ENOMEM;
	}
	m->d = d;
	m->owned.next = m->owned.prev = &m->owned;
	*ret = m;
	return 0;
}

static void member_delete(struct pf_member *m)
{
	member_wait_fini(m);
	placer_fini(m);
	(void)pthread_mutex_destroy(&m->lock);
	free(m);
}

static int supervise_start(struct pf_member *m)
{
	int r = pf_supervisor_create(m->d, NULL, &m->sup);

	if (r < 0)
		return r;
	r = pf_supervisor_start(m->sup);
	if (r < 0) {
		pf_supervisor_destroy(m->sup);
		m->sup = NULL;
	}
	return r;
}

/* Steps 1-3 of Algorithm 1: identity, can-register policy, capabilities. */
static int join_admit(struct pf_domain *d, const struct pf_member_opts *o,
		      struct pf_member_identity *id, uint64_t caps[2])
{
	int r;

	/* Step 1: validate identity (pid + process start time + uid). */
	r = identity_read(id);
	if (r < 0)
		return r;
	/* Step 2: verify the can-register policy. */
	r = policy_check(d, id, o);
	if (r < 0) {
		tally_refused(d);
		return r;
	}
	if (!robust_supported())
		return -ENOTSUP;
	/* Step 3: intern the capabilities. */
	return caps_intern(d, o->caps, o->caps_count, caps);
}

/* Write our identity into the JOINING|INIT slot we took, then clear INIT: from then on
 * supervisors may judge us by its futex and pid. 0, or -ETIMEDOUT when a supervisor
 * reclaimed the slot because we were stopped past the join timeout. */
static int identity_publish(struct pf_member *m, uint32_t slot, uint32_t gen,
			    const struct pf_member_identity *id, const uint64_t caps[2],
			    const struct pf_member_opts *o, uint64_t key)
{
	uint64_t w = member_word(gen, PF_MEMBER_JOINING, 0, MEMBER_FLAG_INIT);

	PF_ASSERT(slot < m->d->lim.members_max && gen != 0);
	m->rec = &m->d->members[slot];
	m->slot = slot;
	m->gen = gen;
	m->caps[0] = caps[0];
	m->caps[1] = caps[1];
	m->tid = (int)syscall(SYS_gettid);
	record_init(m->d, m->rec, id, m->tid, caps, o, key);
	/* [R5] pairs with [A5] in check_slot(): the futex (0) and pid a supervisor may judge
	 * us by are ours from here on, no longer the previous generation's. */
	if (!pf_cas_release(&m->rec->state, &w, member_word(gen, PF_MEMBER_JOINING, 0, 0)))
		return -ETIMEDOUT;
	PF_ASSERT(m->tid > 0);
	return 0;
}

/* Step 2, finished at a closed admission gate (core/admission.c), then steps 5 (ACTIVE)
 * and 6 (publish). On failure our futex is given back, and *ret_still_ours says whether
 * the JOINING slot is still ours to free (a supervisor may have reclaimed it). */
static int join_activate(struct pf_member *m, const struct pf_member_opts *o, int *ret_still_ours)
{
	struct pf_domain *d = m->d;
	uint64_t w = member_word(m->gen, PF_MEMBER_JOINING, 0, 0);
	int r = admission_wait(m, o);

	*ret_still_ours = r < 0;
	if (r >= 0) {
		PF_FAULT_POINT(JOIN_BEFORE_ACTIVE);
		/* [R5] pairs with [A5] in the supervisor's scan: identity is complete; JOINED
		 * counts the join (core/tally.c). Not needed when the gatekeeper admitted us:
		 * its CAS made us ACTIVE|JOINED (and we may be DRAINING by now). */
		if (r == 0 &&
		    !pf_cas_release(&m->rec->state, &w,
				    member_word(m->gen, PF_MEMBER_ACTIVE, 0, MEMBER_FLAG_JOINED)))
			r = -ETIMEDOUT; /* a supervisor gave up on us (stopped past the join
					 * timeout) and reclaimed the slot */
	}
	if (r < 0) {
		robust_unlink(m->rec);
		robust_release(m->rec, m->tid);
		return r;
	}
	/* Step 6: publish the membership change (futex wake, nobody polls). */
	domain_publish_membership(d);
	return 0;
}

PF_API int pf_member_join(struct pf_domain *d, const struct pf_member_opts *opts,
			  struct pf_member **ret_member)
{
	return member_join_as(d, opts, NULL, ret_member);
}

int member_join_as(struct pf_domain *d, const struct pf_member_opts *opts,
		   const struct member_as *as, struct pf_member **ret_member)
{
	struct pf_member_identity id;
	struct pf_member_opts o;
	struct pf_member *m;
	uint64_t caps[2];
	uint32_t slot, gen;
	int r, still_ours;

	if (d == NULL || ret_member == NULL || (as != NULL && as->identity_key == 0))
		return -EINVAL;
	r = opts_resolve(opts, &o);
	if (r < 0)
		return r;
	r = join_admit(d, &o, &id, caps);
	if (r < 0)
		return r;
	r = member_new(d, &m);
	if (r < 0)
		return r;
	/* Step 4: add to the registry. */
	r = slot_take(d,
		      as != NULL ? as->slot_start % d->lim.members_max
				 : (uint32_t)id.pid * 2654435761u,
		      &id, &slot, &gen);
	if (r < 0)
		goto fail_free;
	PF_FAULT_POINT(JOIN_AFTER_SLOT);
	r = identity_publish(m, slot, gen, &id, caps, &o,
			     as != NULL ? as->identity_key : identity_key(id.uid));
	if (r < 0)
		goto fail_detach;
	PF_FAULT_POINT(JOIN_AFTER_IDENTITY);
	r = robust_acquire(m->rec, m->tid);
	if (r < 0)
		goto fail_slot;
	PF_FAULT_POINT(JOIN_AFTER_FUTEX);
	r = join_activate(m, &o, &still_ours);
	if (r < 0 && still_ours)
		goto fail_slot;
	if (r < 0)
		goto fail_detach;
	PF_FAULT_POINT(JOIN_AFTER_ACTIVE);
	if (o.flags & PF_MEMBER_SUPERVISE) {
		r = supervise_start(m);
		if (r < 0) {
			(void)pf_member_leave(m);
			return r;
		}
	}
	/* Relaxed: the membership our wait reports changes of: from our own join on. */
	m->wait_membership = pf_load_relaxed(&d->ctl->membership_version);
	/* Step 7: return. */
	*ret_member = m;
	return 0;

fail_slot:
	(void)member_free(d, m->rec, gen, PF_MEMBER_JOINING);
fail_detach:
	detach(m->rec); /* declared dead while stalled, or given back: let go of the slot */
fail_free:
	member_delete(m);
	return r;
}

/* 1 when our slot ended FREE or RETIRED by a drain with our generation still in it. */
static int member_drained(struct pf_domain *d, const struct pf_member *m)
{
	/* [A5] pairs with [R5] in member_retire_slot(). */
	uint64_t w = pf_load_acquire(&m->rec->state);
	uint32_t st = member_word_state(w);

	PF_ASSERT(d == m->d);
	return member_word_gen(w) == m->gen && (st == PF_MEMBER_FREE || st == PF_MEMBER_RETIRED);
}

int member_is_live(const struct pf_member *m)
{
	/* [A5] pairs with [R5]: a supervisor's DEAD is seen before we act as owner. */
	uint64_t w = pf_load_acquire(&m->rec->state);
	uint32_t st = member_word_state(w);

	return member_word_gen(w) == m->gen && (st == PF_MEMBER_ACTIVE || st == PF_MEMBER_DRAINING);
}

int member_is_draining(const struct pf_member *m)
{
	/* [A5] pairs with [R5] in pf_member_cordon(). */
	uint64_t w = pf_load_acquire(&m->rec->state);

	return member_word_gen(w) == m->gen && member_word_state(w) == PF_MEMBER_DRAINING;
}

/* The first half of a leave: the embedded supervisor stops, every handle is released, the
 * robust futex leaves this thread's list (it still names us until leave_finish()). */
static void leave_begin(struct pf_member *m)
{
	PF_ASSERT(m != NULL && m->d != NULL);
	member_wait_fini(m); /* its thread stops writing our record before we let go of it */
	if (m->sup != NULL) {
		pf_supervisor_destroy(m->sup);
		m->sup = NULL;
	}
	while (m->owned.next != &m->owned)
		(void)pf_vnode_release(m->owned.next);
	robust_unlink(m->rec);
}

/* The second half: the slot given back, FREE or RETIRED, before what the member owns is
 * returned (leave_return()): from then on a placer's post-CAS check (own_place_for())
 * sees the slot no longer ACTIVE and undoes a placement on us, and the scan that follows
 * sees every placement made before. 0 given back, 1 drained (the slot was given back for
 * us, nothing is ours), -ESTALE declared dead (a supervisor repaired us). */
static int leave_retire(struct pf_member *m)
{
	struct pf_domain *d = m->d;

	if (member_drained(d, m))
		return 1; /* drained (core/drain.c) */
	if (!member_is_live(m) || member_retire_slot(d, m->slot, m->gen, 0) < 0)
		return -ESTALE;
	/* [F43] seq_cst fence: the state store above before the scan's loads of the ownership
	 * words (Dekker); pairs with [F43] in deliver() (core/ownership.c). */
	pf_fence_seq_cst();
	return 0;
}

/* The last step: the futex released, the slot let go, the handle freed. */
static void leave_release(struct pf_member *m)
{
	robust_release(m->rec, m->tid);
	detach(m->rec);
	member_delete(m);
}

PF_API int pf_member_leave(struct pf_member *m)
{
	struct pf_domain *d;
	int r;

	if (m == NULL)
		return 0;
	d = m->d;
	leave_begin(m);
	r = leave_retire(m);
	/* What was placed on us and not taken, and what a crashed thread of ours claimed,
	 * goes back too. */
	if (r == 0)
		(void)vnodes_return_owned(d, m->slot, m->gen);
	leave_release(m);
	domain_publish_membership(d);
	return r == 1 ? 0 : r;
}

int member_leave_many(struct pf_member **ms, uint32_t n)
{
	struct pf_domain *d;
	uint32_t *gen_of;
	int stale = 0;

	if (n == 0)
		return 0;
	d = ms[0]->d;
	/* No memory for the shared scan: each leave scans for itself, as pf_member_leave(). */
	gen_of = PF_FAULT_FAIL(ALLOC) ? NULL : malloc(d->lim.members_max * sizeof(*gen_of));
	for (uint32_t i = 0; gen_of != NULL && i < d->lim.members_max; i++)
		gen_of[i] = UINT32_MAX;
	for (uint32_t i = 0; i < n; i++) {
		int r;

		PF_ASSERT(ms[i]->d == d);
		leave_begin(ms[i]);
		r = leave_retire(ms[i]);
		stale += r == -ESTALE;
		if (r == 0 && gen_of != NULL)
			gen_of[ms[i]->slot] = ms[i]->gen;
		else if (r == 0)
			(void)vnodes_return_owned(d, ms[i]->slot, ms[i]->gen);
	}
	if (gen_of != NULL)
		(void)vnodes_return_owned_by(d, gen_of);
	for (uint32_t i = 0; i < n; i++)
		leave_release(ms[i]);
	free(gen_of);
	domain_publish_membership(d);
	return stale;
}

PF_API void pf_member_heartbeat(struct pf_member *m)
{
	PF_ASSERT(m != NULL);
	/* Relaxed: supervisors only need to see it change eventually. An RMW, not a store
	 * of a count of our own: the wait's thread beats into it too (core/wait.c), and a
	 * store could bring back a value a supervisor has seen already. */
	pf_fetch_add_relaxed(&m->rec->heartbeat, 1);
}

PF_API uint64_t pf_member_id(const struct pf_member *m)
{
	PF_ASSERT(m != NULL);
	return ((uint64_t)m->gen << 32) | m->slot;
}

PF_API uint32_t pf_member_vnodes(const struct pf_member *m)
{
	PF_ASSERT(m != NULL);
	return m->owned_count;
}

PF_API struct pf_domain *pf_member_domain(const struct pf_member *m)
{
	PF_ASSERT(m != NULL);
	return m->d;
}

PF_API const char *pf_member_state_name(uint32_t state)
{
	static const char *const names[] = {
		[PF_MEMBER_FREE] = "free",       [PF_MEMBER_JOINING] = "joining",
		[PF_MEMBER_ACTIVE] = "active",   [PF_MEMBER_DRAINING] = "draining",
		[PF_MEMBER_RETIRED] = "retired", [PF_MEMBER_DEAD] = "dead",
	};

	return state < PF_ARRAY_SIZE(names) ? names[state] : NULL;
}

/* Tries of pf_member_info() while joiners keep taking the slot under it. */
#define MEMBER_INFO_TRIES 4

PF_API int pf_member_info(struct pf_domain *d, uint32_t slot, struct pf_member_info *info)
{
	struct member_snap s;
	uint32_t tries = 0;
	uint64_t a;
	int r;

	if (d == NULL || info == NULL || info->size < sizeof(*info) || slot >= d->lim.members_max)
		return -EINVAL;
	/* Validate a copy, report that copy, and only if the slot still holds its generation:
	 * the fields of a slot a new joiner is rewriting are neither its nor the last one's. */
	do {
		if (tries++ == MEMBER_INFO_TRIES)
			return -EAGAIN;
		member_record_read(d, slot, &s);
		if (member_word_state(s.state) == PF_MEMBER_FREE)
			return -ENOENT;
		r = member_snap_check(d, &s);
		if (r < 0) {
			counter_add(d, PF_COUNTER_SHM_INVALID, 1);
			return r;
		}
		PF_FAULT_POINT(MEMBER_INFO_CHECKED);
	} while (!member_record_stable(d, slot, &s));
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	info->slot = slot;
	info->generation = member_word_gen(s.state);
	info->state = member_word_state(s.state);
	info->pid = s.pid;
	info->start_time = s.start_time;
	info->uid = s.uid;
	info->numa_node = s.numa_node;
	info->cpu = s.cpu;
	info->caps[0] = s.caps[0];
	info->caps[1] = s.caps[1];
	info->join_time_ns = s.join_time_ns;
	info->heartbeat = s.heartbeat;
	info->vnodes_owned = s.vnodes_owned;
	info->reliability_ppm = s.reliability_ppm;
	info->trust_ppm = s.trust_ppm;
	info->cpu_ppm = s.load_ppm;
	info->mem_ppm = s.mem_ppm;
	info->vnode_capacity = s.vnode_capacity;
	/* A review's verdict (validated with the copy); a decision about another generation
	 * is ignored. */
	a = s.admission;
	if (admission_gen(a) == info->generation) {
		info->admission = admission_status(a);
		if (info->admission == PF_ADMISSION_REFUSED)
			info->admission_detail = (uint32_t)a & 0xffffffu;
		else if (admission_by_token(a))
			info->admission_detail = PF_ADMISSION_BY_TOKEN;
	}
	info->vnodes_placed = PF_MIN(ring_mpmc_count(assign_ring(d, slot)), d->lim.assign_slots);
	if (info->state == PF_MEMBER_DEAD) {
		info->dead_ns = s.dead_time_ns;
		info->death_cause = member_word_cause(s.state);
	}
	if (info->state == PF_MEMBER_DRAINING)
		info->cordon_ns = s.cordon_ns;
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * core/admission.c: the admission gate (pflight/policy.h).
 *
 * Protocol (words in core/layout.h):
 *
 *   field                 written by                 read by
 *   ctl->gate_pid         gatekeeper (R20)           joiners (A20)
 *   ctl->gate_flags       gatekeeper, before R20     joiners, after A20
 *   member state AWAIT    joiner (CAS, R5)           gatekeeper (A5), joiner
 *   member state ACTIVE   gatekeeper (CAS, R5)       joiner (A5), everyone
 *   member state REFUSED  gatekeeper (CAS, R5)       joiner (A5), core/tally.c
 *   member admission      gatekeeper (before its R5 CAS; R21 for a review)  joiner, tools
 *   member trust_ppm      gatekeeper, before its R5 CAS            everyone after A5
 *
 * A joiner that finds the gate closed, having written its identity and taken its futex,
 * CASes its slot JOINING(g) -> JOINING|AWAIT(g) ([R5]: the identity is published to the
 * gatekeeper) and publishes a membership change, which wakes the gatekeeper's supervisor
 * wait. The gatekeeper stores trust and the admission word, then either CASes AWAIT(g) ->
 * ACTIVE|JOINED(g) (admitted: a member from that instant, counted as joined whether or
 * not it ever wakes) or AWAIT(g) -> JOINING|REFUSED(g) (refused: counted once, and the
 * joiner frees the slot); the CAS publishes the word ([R5]), and a membership change wakes
 * the joiner sleeping on the membership futex. Only the joiner leaves AWAIT otherwise
 * (giving up: timeout, a gone gatekeeper, an opened gate), by CAS back to JOINING(g), so
 * the gatekeeper's CAS and the joiner's decide who won: a joiner that gave up is neither
 * admitted nor refused, and one admitted or refused at the last instant takes the
 * decision. Once admitted, the slot is the member's whatever happens before it wakes: a
 * cordon makes it DRAINING and a drain may even give it back, and the join still returns
 * 0 (it joined; pf_member_leave() then finds it drained). A joiner that dies while
 * waiting, or admitted before it woke, holds its robust futex, so supervisors repair it as
 * any dead joiner or member.
 *
 * The admission word names its generation: a decision written for a joiner that gave up
 * (and whose slot was taken again) says nothing about the slot's new member, and readers
 * ignore it. A gatekeeper whose CAS loses to the joiner's giving up takes its decision
 * (and trust) back by CAS, so that the member the joiner became ungated is not reported
 * refused; only a gatekeeper killed between its write and that CAS leaves one behind. Progress: the
 * gatekeeper's side is lock-free; a joiner waits (blocking) for at most its admission timeout.
 */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/member_impl.h"
#include "pflight/policy.h"
#include "shm/fault.h"
#include "shm/pf_assert.h"

#define WAIT_SLICE_NS UINT64_C(10000000) /* re-check the gatekeeper's life every 10 ms */

PF_API int pf_admission_gate(struct pf_domain *d, int32_t keeper_pid, uint32_t flags)
{
	if (d == NULL || keeper_pid < 0 || (flags & ~PF_ADMISSION_STRICT) != 0)
		return -EINVAL;
	/* Relaxed: published by [R20] below. */
	pf_store_relaxed(&d->ctl->gate_flags, (flags & PF_ADMISSION_STRICT) ? GATE_STRICT : 0u);
	/* [R20] pairs with [A20] in admission_wait(): the flags come with the keeper. */
	pf_store_release(&d->ctl->gate_pid, (uint32_t)keeper_pid);
	domain_publish_membership(d); /* waiting joiners re-read the gate */
	return 0;
}

PF_API int pf_admission_pending(struct pf_domain *d, uint32_t *cursor,
				struct pf_admission_request *ret)
{
	if (d == NULL || cursor == NULL || ret == NULL || ret->size < sizeof(*ret))
		return -EINVAL;
	for (uint32_t slot = *cursor; slot < d->lim.members_max; slot++) {
		struct dom_member *rec = &d->members[slot];
		/* [A5] pairs with [R5] in admission_wait(): the identity is complete. */
		uint64_t w = pf_load_acquire(&rec->state);

		if (member_word_state(w) != PF_MEMBER_JOINING || (w & MEMBER_FLAG_AWAIT) == 0)
			continue;
		memset(ret, 0, sizeof(*ret));
		ret->size = sizeof(*ret);
		ret->slot = slot;
		ret->generation = member_word_gen(w);
		/* Relaxed: ordered by [A5] above; the decision re-checks the generation. */
		ret->pid = pf_load_relaxed(&rec->pid);
		ret->start_time = pf_load_relaxed(&rec->start_time);
		ret->uid = pf_load_relaxed(&rec->uid);
		/* Relaxed: the same. */
		ret->gid = pf_load_relaxed(&rec->gid);
		ret->caps[0] = pf_load_relaxed(&rec->caps[0]);
		ret->caps[1] = pf_load_relaxed(&rec->caps[1]);
		/* Relaxed: the same. */
		ret->vnode_capacity = pf_load_relaxed(&rec->vnode_capacity);
		*cursor = slot + 1;
		return 0;
	}
	*cursor = 0;
	return -ENOENT;
}

static int verdict_valid(const struct pf_policy_verdict *v)
{
	return v != NULL && v->size >= sizeof(*v) && v->allowed <= 1 &&
	       v->action <= PF_POLICY_CAN_HANDOFF && v->check <= PF_POLICY_CHECK_MAX &&
	       (v->rule < PF_MANIFEST_RULES_MAX || v->rule == PF_POLICY_NO_RULE) &&
	       (v->allowed == 1) == (v->check == PF_POLICY_ALLOWED);
}

/* Decide a joiner waiting at the gate: trust and decision first, then ([R5]) ACTIVE|JOINED
 * when the word grants, JOINING|REFUSED when it refuses. -ESTALE: the joiner gave up
 * first; then what we wrote is taken back, as it is about no decision: the joiner may
 * have joined ungated, and its record must not say refused, or carry our trust. */
static int settle(struct pf_domain *d, struct dom_member *rec, uint64_t w, uint64_t word,
		  uint32_t trust_ppm)
{
	uint32_t gen = member_word_gen(w);
	int granted = admission_status(word) == ADMISSION_GRANTED;
	/* Relaxed: what we may have to put back; the CASes below re-check them. */
	uint64_t was_word = pf_load_relaxed(&rec->admission);
	uint32_t was_trust = pf_load_relaxed(&rec->trust_ppm);

	PF_ASSERT(w == member_word(gen, PF_MEMBER_JOINING, 0, MEMBER_FLAG_AWAIT));
	PF_ASSERT(admission_gen(word) == gen);
	/* Relaxed: published by the release CAS below. */
	if (granted)
		pf_store_relaxed(&rec->trust_ppm, trust_ppm);
	pf_store_relaxed(&rec->admission, word);
	PF_FAULT_POINT(ADMISSION_BEFORE_SETTLE);
	/* [R5] pairs with [A5] in admission_look() and every reader of the state word: the
	 * decision is the CAS, and the fact it sets is what the counters count. */
	if (!pf_cas_release(
		    &rec->state, &w,
		    granted ? member_word(gen, PF_MEMBER_ACTIVE, 0, MEMBER_FLAG_JOINED)
			    : member_word(gen, PF_MEMBER_JOINING, 0, MEMBER_FLAG_REFUSED))) {
		/* Relaxed: only if still ours (a review of the member it became, or another
		 * writer, wins); nothing is published through these words. */
		(void)pf_cas_relaxed(&rec->admission, &word, was_word);
		if (granted)
			(void)pf_cas_relaxed(&rec->trust_ppm, &trust_ppm, was_trust);
		return -ESTALE;
	}
	domain_publish_membership(d);
	return 0;
}

PF_API int pf_admission_decide(struct pf_domain *d, uint32_t slot, uint32_t gen,
			       const struct pf_policy_verdict *v, uint32_t trust_ppm,
			       uint32_t flags)
{
	struct dom_member *rec;
	uint64_t w, word;
	uint32_t st;

	if (d == NULL || slot >= d->lim.members_max || gen == 0 || !verdict_valid(v) ||
	    trust_ppm > PF_PPM || (flags & ~PF_ADMISSION_BY_TOKEN) != 0 ||
	    (flags != 0 && !v->allowed))
		return -EINVAL;
	rec = &d->members[slot];
	word = admission_word(gen,
			      v->allowed ? ADMISSION_GRANTED | (flags != 0 ? ADMISSION_TOKEN : 0u)
					 : ADMISSION_REFUSED,
			      v->action, v->rule, v->check);
	/* [A5] pairs with [R5] in admission_wait(). */
	w = pf_load_acquire(&rec->state);
	st = member_word_state(w);
	if (member_word_gen(w) != gen)
		return -ESTALE;
	if (w == member_word(gen, PF_MEMBER_JOINING, 0, MEMBER_FLAG_AWAIT))
		return settle(d, rec, w, word, trust_ppm);
	if (st != PF_MEMBER_ACTIVE && st != PF_MEMBER_DRAINING)
		return -ESTALE;
	/* [R21] pairs with [A21] in member_record_read(): a review's verdict. */
	pf_store_release(&rec->admission, word);
	domain_publish_membership(d);
	return 0;
}

PF_API int pf_admission_verify(struct pf_domain *d, const struct pf_admission_request *q)
{
	struct dom_member *rec;
	uint64_t start = 0, futex_off;
	struct stat st;
	int fd, r, tid;

	if (d == NULL || q == NULL || q->slot >= d->lim.members_max || q->generation == 0 ||
	    q->pid <= 0)
		return -EINVAL;
	rec = &d->members[q->slot];
	/* [A5] pairs with [R5] in admission_wait(): the joiner's identity is written. */
	if (pf_load_acquire(&rec->state) !=
	    member_word(q->generation, PF_MEMBER_JOINING, 0, MEMBER_FLAG_AWAIT))
		return -ESTALE;
	/* Relaxed: a claim, which the kernel's answer below checks. */
	tid = pf_load_relaxed(&rec->tid);
	futex_off =
		(uint64_t)((const unsigned char *)&rec->futex - (const unsigned char *)d->seg.base);
	if (fstat(d->seg.fd, &st) < 0)
		return -errno;
	/* Pinned: the pid names that process for as long as fd is open. */
	fd = (int)syscall(SYS_pidfd_open, q->pid, 0);
	if (fd < 0)
		return errno == ESRCH ? -ESRCH : -errno;
	r = identity_start_time(q->pid, &start);
	if (r == 0 && start != q->start_time)
		r = -ESRCH;
	if (r == 0)
		r = identity_holds_futex(q->pid, tid, (uint64_t)st.st_dev, (uint64_t)st.st_ino,
					 futex_off);
	(void)close(fd);
	if (r == -EPERM)
		return -EACCES; /* the kernel would not let us look */
	if (r < 0)
		return r;
	return r == 1 ? 0 : -EPERM;
}

/* The refusal of our generation: its details for the caller, and the errno. */
static int refused(struct pf_member *m, const struct pf_member_opts *o)
{
	/* Relaxed: written before the refusing CAS, ordered by our [A5] of its word. */
	uint64_t a = pf_load_relaxed(&m->rec->admission);
	uint32_t check = admission_check(a);

	if (admission_gen(a) != m->gen || admission_status(a) != ADMISSION_REFUSED) {
		counter_add(m->d, PF_COUNTER_SHM_INVALID, 1);
		return -EPERM; /* refused, with a decision word we cannot read */
	}
	if (o->refusal != NULL && o->refusal->size >= sizeof(*o->refusal)) {
		o->refusal->action = admission_action(a);
		o->refusal->rule = admission_rule(a);
		o->refusal->check = check;
	}
	return check == PF_POLICY_TOKEN_REQUIRED || check == PF_POLICY_TOKEN_CAPS ? -EKEYREJECTED
										  : -EPERM;
}

/* Our slot no longer says AWAIT: what the word w the gatekeeper (or a supervisor) left
 * says. 1 admitted: ACTIVE, or cordoned (DRAINING) or even drained away before we woke;
 * refused (a negative errno, the slot still ours to free); or -ETIMEDOUT: declared dead
 * and reclaimed by a supervisor. */
static int decided(struct pf_member *m, uint64_t w, const struct pf_member_opts *o)
{
	uint32_t st = member_word_state(w);

	if (member_word_gen(w) != m->gen)
		return -ETIMEDOUT;
	if ((w & MEMBER_FLAG_JOINED) != 0 && st != PF_MEMBER_DEAD)
		return 1;
	if (w == member_word(m->gen, PF_MEMBER_JOINING, 0, MEMBER_FLAG_REFUSED))
		return refused(m, o);
	return -ETIMEDOUT;
}

/* Leave AWAIT: 0 when back to JOINING (the caller fails or goes on ungated), else what the
 * gatekeeper decided first (decided()). */
static int give_up(struct pf_member *m, const struct pf_member_opts *o)
{
	uint64_t w = member_word(m->gen, PF_MEMBER_JOINING, 0, MEMBER_FLAG_AWAIT);

	PF_ASSERT(m->rec != NULL && m->gen != 0);
	/* [R5] pairs with [A5] in pf_admission_decide(): CAS against its decision. */
	if (pf_cas_acq_rel(&m->rec->state, &w, member_word(m->gen, PF_MEMBER_JOINING, 0, 0)))
		return 0;
	return decided(m, w, o);
}

/* One look at where we stand: 1 admitted, 0 go on ungated, < 0 failed, 2 keep waiting. */
static int admission_look(struct pf_member *m, const struct pf_member_opts *o, uint64_t deadline)
{
	struct dom_control *ctl = m->d->ctl;
	/* [A5] pairs with [R5] in settle(): the decision, and the words it published. */
	uint64_t w = pf_load_acquire(&m->rec->state);
	uint32_t keeper;
	int r;

	if (w != member_word(m->gen, PF_MEMBER_JOINING, 0, MEMBER_FLAG_AWAIT))
		return decided(m, w, o);
	/* [A20] pairs with [R20] in pf_admission_gate(). */
	keeper = pf_load_acquire(&ctl->gate_pid);
	if (keeper == 0)
		return give_up(m, o); /* the gate was opened: join without a decision */
	if (identity_gone((int)keeper, 0)) {
		/* Relaxed: ordered by [A20] above. */
		if ((pf_load_relaxed(&ctl->gate_flags) & GATE_STRICT) == 0)
			return give_up(m, o);
		r = give_up(m, o);
		return r == 0 ? -EHOSTDOWN : r;
	}
	if (now_ns() >= deadline) {
		r = give_up(m, o);
		return r == 0 ? -ETIMEDOUT : r;
	}
	return 2;
}

int admission_wait(struct pf_member *m, const struct pf_member_opts *o)
{
	struct dom_control *ctl = m->d->ctl;
	uint64_t timeout_ns =
		(uint64_t)(o->admission_timeout_ms != 0 ? o->admission_timeout_ms
							: PF_ADMISSION_TIMEOUT_MS_DEFAULT) *
		UINT64_C(1000000);
	uint64_t deadline = now_ns() + timeout_ns;
	uint64_t w = member_word(m->gen, PF_MEMBER_JOINING, 0, 0);

	PF_ASSERT(m->rec != NULL && m->gen != 0);
	/* [A20] pairs with [R20] in pf_admission_gate(). */
	if (pf_load_acquire(&ctl->gate_pid) == 0)
		return 0;
	/* [R5] pairs with [A5] in pf_admission_pending(): our identity is complete. */
	if (!pf_cas_release(&m->rec->state, &w,
			    member_word(m->gen, PF_MEMBER_JOINING, 0, MEMBER_FLAG_AWAIT)))
		return -ETIMEDOUT; /* a supervisor gave up on us */
	domain_publish_membership(m->d);
	for (;;) {
		/* Relaxed: the futex compares it again; we re-check everything after waking. */
		uint32_t seen = pf_load_relaxed(&ctl->membership_version);
		int r = admission_look(m, o, deadline);
		uint64_t now;

		if (r != 2)
			return r;
		now = now_ns();
		(void)futex_wait_shared(&ctl->membership_version, seen,
					PF_MIN(WAIT_SLICE_NS, deadline > now ? deadline - now : 1));
	}
}

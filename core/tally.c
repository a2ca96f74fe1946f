/* SPDX-License-Identifier: MIT */
/*
 * core/tally.c: the domain's membership counters, exact whoever dies at whichever
 * instruction (ARCHITECTURE.md section 3, invariant 7).
 *
 * What is counted how (enum pf_counter, pflight/domain.h):
 *
 *   exact event counts, owned here: joins, leaves, join_refused, deaths, hung, repairs,
 *   vnodes_repaired. Each is a fact of one generation of one member slot, and the facts are
 *   counted from the member table, never by an increment that a death could separate from
 *   the event it counts.
 *   derived from the table at read time: members_active (slots ACTIVE or DRAINING now:
 *   one acquire load per slot, as vnodes_active is counted from the VNode table) and
 *   slots_freed (generations whose slot a joiner took again: a slot at generation g was
 *   freed and taken g - 1 times).
 *   statistics of attempts, a relaxed fetch_add by the live caller that made the attempt
 *   (counter_add() in core/domain_impl.h): claim_races, stale_refused, checkpoint_corrupt,
 *   inbox_full, inbox_skips, pending_requeued, shm_invalid. Each counts something a caller
 *   tried and was refused or had to redo (a lost claim CAS, a write stamped with a stale
 *   epoch, a checksum or value refused, a full inbox, a slot skipped, a VNode queued again
 *   by a sweep). No table keeps a fact of an attempt that these could disagree with, and
 *   nothing is derived from them: a caller killed between its attempt and its fetch_add
 *   leaves the attempt uncounted, which is what they are, statistics.
 *   join_refused has one part of that kind: a refusal by the domain's own rule or the
 *   can-register hook, before the joiner takes a slot, is counted by the refused caller
 *   (tally_refused()) before it returns; the count is its only shared effect, so a caller
 *   killed before it was never refused, and one killed after it was, once.
 *
 * The facts (core/layout.h, member state word): JOINED is set by the CAS that makes the
 * slot ACTIVE (the joiner's, or the gatekeeper's when it admits), REFUSED by the
 * gatekeeper's refusing CAS (AWAIT -> JOINING|REFUSED), DRAINED by the drain's CAS that
 * gives the slot back, HUNG by the CAS of a supervisor that judges the member hung (before
 * its kill), the cause by the supervisor's DEAD CAS (hung for a generation marked HUNG) and
 * REPAIRED by the repair's last CAS; every later transition of the generation keeps them. So the
 * word of a generation says, at every instant, which of its events happened (tally_events()):
 *
 *   joins            JOINED
 *   leaves           JOINED, FREE or RETIRED, not DRAINED (its own leave gave the slot back)
 *   join_refused     REFUSED
 *   deaths, hung     DEAD with cause exited, vanished or quarantined, or hung (joiners
 *                    included)
 *   repairs          DEAD|REPAIRED
 *   vnodes_repaired  the VNodes its repair found it owned: the slot's repair_owned word,
 *                    set by one CAS ([R47]) of the first repair before any VNode goes back
 *
 * A joiner that takes the slot again erases the old word, so it first folds the ended
 * generation's events into counters[] (tally_fold()); a reader adds to counters[] the
 * events of every slot's current generation not folded yet (tally_read()).
 *
 * Protocol of a fold (words in core/layout.h):
 *
 *   field              written by                            read by
 *   counters[c]        folders (CAS [R30]), tally_refused()  folders, helpers, readers [A30]
 *                      (fetch_add of the count only)
 *   member tally       folders of that slot ([R31]), and     folders, helpers [A31],
 *                      any folder marking it (helping)       readers
 *   repair_owned       the first repair of the generation    folders, readers [A47]
 *                      ([R47])
 *
 * An event counter word is [count | tagged | slot]: the slot whose fold last added to it.
 * Folding generation g of slot s:
 *   1. begin: erase every tag naming s (left by s's previous fold, complete), then CAS s's
 *      tally word to (g, nothing counted). From then on a tag naming s is evidence that
 *      g's event is in the count.
 *   2. for each event c of g: if the tally word says c counted, or counters[c] names s,
 *      it is in. Otherwise, if counters[c] names another slot o, make o's tally word say
 *      so first (helping: o's evidence is about to be erased), then CAS counters[c] to
 *      (count + n, s), then mark c counted in s's tally word.
 * A death between any two of these instructions leaves either the evidence (the tag) or
 * the mark, never neither, and a fold resumed by the next joiner (or judged by a reader)
 * finds the event in from either, so it is added once. The joiner takes the slot (its CAS
 * on the state word) only after its fold returned 0; a fold that keeps losing CASes gives
 * up (-EAGAIN) and the joiner tries another slot, so the table always holds the facts of
 * every generation not folded. A fold interrupted halfway is finished by the next joiner
 * of that slot, or stays half done and readers add what it lacks.
 * Stalled processes: a helper re-reads counters[c] after reading o's tally word and marks
 * nothing unless it is unchanged (no fold of o began or ended in between: each begin
 * changes every counter that names o); a stale folder finds the tally word past its
 * generation and does nothing; a stale census loses its CAS.
 *
 * Ordering edges:
 *   [R30] CAS of counters[c] (release) -> [A30] its acquire loads: the marks a folder made
 *         while helping (and its begin) are seen by whoever sees its tag.
 *   [R31] CAS of a tally word -> [A31]: a begin (after the scrubs) and the marks.
 *   [R47] census CAS -> [A47]: the count is seen before the REPAIRED word that follows it.
 *
 * Readers are O(members_max): one pass over the slots (state, tally and repair words) and
 * the event counters. A read while folds or transitions run is a snapshot and may be off
 * by what is in flight; a read of a quiet domain is exact. Progress: lock-free; a fold is
 * bounded (TRIES per CAS). Limits: 2^51 per event counter; a slot's generation is 32 bits,
 * as its identity is (slots_freed counts generations, 2^32 - 1 per slot).
 */
#include <errno.h>

#include "core/tally.h"
#include "pflight/supervisor.h"
#include "shm/fault.h"
#include "shm/pf_assert.h"

#define TRIES 64 /* CAS attempts per step before a fold gives up (the next joiner resumes) */

_Static_assert(PF_COUNTER_JOINS == 0 && PF_COUNTER_LEAVES == 1 && PF_COUNTER_JOIN_REFUSED == 2 &&
		       PF_COUNTER_DEATHS == 3 && PF_COUNTER_HUNG == 4 && PF_COUNTER_REPAIRS == 5 &&
		       PF_COUNTER_VNODES_REPAIRED == 6 && TALLY_EVENTS == 7,
	       "the tallied counters are the first seven");
_Static_assert(PF_MEMBERS_MAX - 1 <= TALLY_SLOT_MASK, "a slot must fit the counter's tag");
_Static_assert(PF_VNODES_MAX <= UINT32_MAX, "a census must fit its word");

static inline uint64_t count_of(uint64_t c)
{
	return c >> TALLY_COUNT_SHIFT;
}

static inline int names(uint64_t c, uint32_t slot)
{
	return (c & TALLY_TAG_MASK) == (TALLY_TAGGED | slot);
}

static inline uint64_t bit(uint32_t k)
{
	return UINT64_C(1) << k;
}

int tally_events(uint64_t w, uint64_t r, uint64_t v[TALLY_EVENTS])
{
	uint32_t st = member_word_state(w), gen = member_word_gen(w);
	int joined = (w & MEMBER_FLAG_JOINED) != 0, dead = st == PF_MEMBER_DEAD;
	int hung = dead && member_word_cause(w) == PF_DEATH_HUNG;
	uint64_t any = 0;

	v[PF_COUNTER_JOINS] = (uint64_t)joined;
	v[PF_COUNTER_LEAVES] =
		(uint64_t)(joined && (st == PF_MEMBER_FREE || st == PF_MEMBER_RETIRED) &&
			   (w & MEMBER_FLAG_DRAINED) == 0);
	v[PF_COUNTER_JOIN_REFUSED] = (w & MEMBER_FLAG_REFUSED) != 0;
	v[PF_COUNTER_DEATHS] = (uint64_t)(dead && !hung);
	v[PF_COUNTER_HUNG] = (uint64_t)hung;
	v[PF_COUNTER_REPAIRS] = (uint64_t)(dead && (w & MEMBER_FLAG_REPAIRED) != 0);
	v[PF_COUNTER_VNODES_REPAIRED] =
		gen != 0 && repair_owned_gen(r) == gen ? repair_owned_vnodes(r) : 0;
	for (uint32_t k = 0; k < TALLY_EVENTS; k++)
		any |= v[k];
	return any != 0;
}

/* A census no larger than the VNode table it was taken of. */
static int census_valid(struct pf_domain *d, uint64_t r)
{
	return repair_owned_vnodes(r) <= d->lim.vnodes_max;
}

int tally_words_valid(struct pf_domain *d, uint64_t t, uint64_t r, uint32_t gen)
{
	return (t & UINT64_C(0xffffffff) & ~TALLY_COUNTED_MASK) == 0 &&
	       member_gen_reached(gen, tally_gen(t)) &&
	       member_gen_reached(gen, repair_owned_gen(r)) && census_valid(d, r);
}

/* The slot's repair word, its count bounded by the limits (invariant 5). A word out of
 * bounds is counted as invalid by a fold about to add it (fold != 0), not by every reader of
 * the counters, which would count one fault again on each read while the word stays. */
static uint64_t repair_load(struct pf_domain *d, uint32_t slot, int fold)
{
	/* [A47] pairs with [R47] in tally_repair_census(): the census of a repaired
	 * generation is seen with the REPAIRED word that came after it. */
	uint64_t r = pf_load_acquire(&d->members[slot].repair_owned);

	if (census_valid(d, r))
		return r;
	if (fold)
		counter_add(d, PF_COUNTER_SHM_INVALID, 1);
	return repair_owned_word(repair_owned_gen(r), d->lim.vnodes_max);
}

/* Mark event k of generation gen counted in slot's tally word (best effort: while it is
 * unmarked, the counter's tag says the same). */
static void mark(struct pf_domain *d, uint32_t slot, uint32_t gen, uint32_t k)
{
	_Atomic uint64_t *t = &d->members[slot].tally;
	/* [A31] pairs with [R31] below and in fold_begin(). */
	uint64_t p = pf_load_acquire(t);

	for (int i = 0; i < TRIES; i++) {
		if (tally_gen(p) != gen || (p & bit(k)) != 0)
			return;
		/* [R31] pairs with [A31] in apply(), help() and tally_read(). */
		if (pf_cas_acq_rel(t, &p, p | bit(k)))
			return;
	}
}

/* counters[k] holds c, which names slot o as the last to add to it: make o's tally word
 * say so before anyone erases the tag. 0 when it does, -EAGAIN when c is no longer the
 * counter's value (then nothing was marked: c may be evidence of an older fold). */
static int help(struct pf_domain *d, uint32_t k, uint64_t c)
{
	uint32_t o = (uint32_t)(c & TALLY_SLOT_MASK);
	_Atomic uint64_t *t;
	uint64_t p;

	if ((c & TALLY_TAGGED) == 0)
		return 0;
	if (o >= d->lim.members_max) {
		counter_add(d, PF_COUNTER_SHM_INVALID, 1);
		return 0; /* no fold of ours wrote this tag: nothing to keep */
	}
	t = &d->members[o].tally;
	/* [A31] pairs with [R31] in fold_begin() and mark(). */
	p = pf_load_acquire(t);
	/* [A30] pairs with [R30] in apply() and scrub(): unchanged since c, so o's tally word
	 * is still on the fold that wrote the tag (a begin erases it first). */
	if (pf_load_acquire(&d->ctl->counters[k]) != c)
		return -EAGAIN;
	if ((p & bit(k)) != 0)
		return 0;
	/* [R31] pairs with [A31] in apply() and tally_read(). */
	return pf_cas_acq_rel(t, &p, p | bit(k)) ? 0 : -EAGAIN;
}

/* Add n to event counter k for generation gen of slot (begun): 0 once it is in. */
static int apply(struct pf_domain *d, uint32_t slot, uint32_t gen, uint32_t k, uint64_t n)
{
	_Atomic uint64_t *cw = &d->ctl->counters[k];
	_Atomic uint64_t *t = &d->members[slot].tally;

	for (int i = 0; i < TRIES; i++) {
		/* [A30] pairs with [R30] below: the counter first, then the tally word, so a
		 * mark made before the tag we read was erased is seen. */
		uint64_t c = pf_load_acquire(cw);
		/* [A31] pairs with [R31] in mark() and help(). */
		uint64_t p = pf_load_acquire(t);

		if (tally_gen(p) != gen || (p & bit(k)) != 0)
			return 0; /* counted (or the slot's next fold began: ours was complete) */
		if (names(c, slot)) {
			mark(d, slot, gen, k);
			return 0; /* added by an earlier folder of this generation */
		}
		if (help(d, k, c) < 0)
			continue;
		/* [R30] pairs with [A30] in help(), scrub() and tally_read(): the mark help()
		 * made comes before the tag that replaces its evidence. */
		if (pf_cas_acq_rel(cw, &c,
				   ((count_of(c) + n) << TALLY_COUNT_SHIFT) | TALLY_TAGGED |
					   slot)) {
			PF_FAULT_POINT(TALLY_AFTER_ADD); /* added, not marked: the tag says it */
			mark(d, slot, gen, k);
			return 0;
		}
	}
	return -EAGAIN;
}

/* Erase a tag naming slot from event counter k: left by the slot's last fold, which is
 * complete. Stops as soon as the fold of gen has begun (a tag is then its evidence). */
static int scrub(struct pf_domain *d, uint32_t slot, uint32_t gen, uint32_t k)
{
	_Atomic uint64_t *cw = &d->ctl->counters[k];

	for (int i = 0; i < TRIES; i++) {
		/* [A30] pairs with [R30] in apply(). */
		uint64_t c = pf_load_acquire(cw);
		/* [A31] pairs with [R31] in fold_begin(): read after the counter, so a tag
		 * written by the fold of gen comes with the begin that preceded it. */
		uint64_t p = pf_load_acquire(&d->members[slot].tally);

		if (!names(c, slot) || member_gen_reached(tally_gen(p), gen))
			return 0;
		/* [R30] pairs with [A30] in help(), apply() and fold_begin()'s successors: the
		 * count stays, the evidence of a complete fold goes. */
		if (pf_cas_acq_rel(cw, &c, c & ~TALLY_TAG_MASK))
			return 0;
	}
	return -EAGAIN;
}

/* Step 1 of a fold: slot's tally word on gen, no tag naming the slot older than that. */
static int fold_begin(struct pf_domain *d, uint32_t slot, uint32_t gen)
{
	_Atomic uint64_t *t = &d->members[slot].tally;
	/* [A31] pairs with [R31] below. */
	uint64_t p = pf_load_acquire(t);

	if (member_gen_reached(tally_gen(p), gen))
		return 0;
	for (uint32_t k = 0; k < TALLY_EVENTS; k++)
		if (scrub(d, slot, gen, k) < 0)
			return -EAGAIN;
	for (int i = 0; i < TRIES; i++) {
		/* [R31] pairs with [A31] in apply(), scrub() and help(): the scrubs above come
		 * before the word that makes a tag naming the slot count as evidence. */
		if (pf_cas_acq_rel(t, &p, tally_word(gen, 0)))
			return 0;
		if (member_gen_reached(tally_gen(p), gen))
			return 0; /* another folder of gen began it */
	}
	return -EAGAIN;
}

int tally_fold(struct pf_domain *d, uint32_t slot, uint64_t w)
{
	uint32_t gen = member_word_gen(w), st = member_word_state(w);
	uint64_t v[TALLY_EVENTS];

	PF_ASSERT(slot < d->lim.members_max);
	PF_ASSERT(st == PF_MEMBER_FREE || st == PF_MEMBER_RETIRED ||
		  (st == PF_MEMBER_DEAD && (w & MEMBER_FLAG_REPAIRED) != 0));
	if (!tally_events(w, repair_load(d, slot, 1), v))
		return 0;
	if (fold_begin(d, slot, gen) < 0)
		return -EAGAIN;
	for (uint32_t k = 0; k < TALLY_EVENTS; k++)
		if (v[k] != 0 && apply(d, slot, gen, k, v[k]) < 0)
			return -EAGAIN;
	return 0;
}

int tally_repair_census(struct pf_domain *d, uint32_t slot, uint32_t gen, uint64_t *owned)
{
	_Atomic uint64_t *word = &d->members[slot].repair_owned;
	/* [A47] pairs with [R47] below. */
	uint64_t r = pf_load_acquire(word);
	uint32_t n = 0;

	PF_ASSERT(slot < d->lim.members_max && gen != 0);
	if (member_gen_reached(repair_owned_gen(r), gen)) {
		/* Counted by the first repair; or a later generation's word, which a stale
		 * repair of ours must not touch, whatever it holds. */
		if (census_valid(d, r) || repair_owned_gen(r) != gen)
			return 0;
		/* A census larger than the table was never taken: a stray or hostile write.
		 * Count again, so that what the repair reports (and a daemon logs) is what it
		 * found, not that number. (Written over a census already taken, the count may
		 * miss VNodes returned since: smaller, never forged.) */
		counter_add(d, PF_COUNTER_SHM_INVALID, 1);
	}
	for (uint32_t id = 0; id < d->lim.vnodes_max; id++) {
		/* Relaxed: a count taken while nothing is returned yet: the returns of the
		 * repair follow this census's CAS, whoever makes them. */
		uint64_t o = pf_load_relaxed(&d->own[id]);

		if (!own_is_owned(o) || own_slot(o) != slot || own_gen(o) != (gen & OWN_GEN_MASK))
			continue;
		n++;
		if (owned != NULL)
			owned[id / 64] |= UINT64_C(1) << (id % 64);
	}
	/* [R47] pairs with [A47] in repair_load(): the first census of gen wins; one that
	 * loses found it counted. */
	(void)pf_cas_acq_rel(word, &r, repair_owned_word(gen, n));
	return 1;
}

uint32_t tally_repaired_vnodes(struct pf_domain *d, uint32_t slot, uint32_t gen)
{
	uint64_t r;

	PF_ASSERT(slot < d->lim.members_max && gen != 0);
	r = repair_load(d, slot, 0);
	return repair_owned_gen(r) == gen ? repair_owned_vnodes(r) : 0;
}

void tally_refused(struct pf_domain *d)
{
	/* Relaxed: the count only; the tag bits stay (a fetch_add of whole counts never carries
	 * into them), and the RMW continues the release sequence of the last [R30]. */
	pf_fetch_add_relaxed(&d->ctl->counters[PF_COUNTER_JOIN_REFUSED],
			     UINT64_C(1) << TALLY_COUNT_SHIFT);
}

/* A slot's state, tally and repair words of one generation (the state re-read after). */
static uint64_t slot_read(struct pf_domain *d, uint32_t slot, uint64_t *ret_t, uint64_t *ret_r)
{
	struct dom_member *rec = &d->members[slot];
	uint64_t w = 0;

	for (int i = 0; i < 4; i++) {
		/* [A5] pairs with [R5] in every transition: the facts of the word. */
		w = pf_load_acquire(&rec->state);
		/* [A31] pairs with [R31] in fold_begin() and mark(). */
		*ret_t = pf_load_acquire(&rec->tally);
		*ret_r = repair_load(d, slot, 0);
		/* [A5] pairs with [R5]: the same generation throughout, or read again. */
		if (member_word_gen(pf_load_acquire(&rec->state)) == member_word_gen(w))
			break;
	}
	return w;
}

/* Add to values the events of slot's current generation that no fold has put in yet. */
static void add_unfolded(struct pf_domain *d, uint32_t slot, const uint64_t c[TALLY_EVENTS],
			 uint64_t values[PF_COUNTER_COUNT])
{
	uint64_t t, r, v[TALLY_EVENTS];
	uint64_t w = slot_read(d, slot, &t, &r);
	uint32_t gen = member_word_gen(w);

	if (gen == 0)
		return;
	values[PF_COUNTER_SLOTS_FREED] += gen - 1;
	if (!tally_events(w, r, v))
		return;
	for (uint32_t k = 0; k < TALLY_EVENTS; k++) {
		int in = tally_gen(t) == gen && ((t & bit(k)) != 0 || names(c[k], slot));

		if (!in)
			values[k] += v[k];
	}
}

void tally_read(struct pf_domain *d, uint64_t values[PF_COUNTER_COUNT])
{
	uint64_t c[TALLY_EVENTS];

	for (uint32_t k = 0; k < TALLY_EVENTS; k++) {
		/* [A30] pairs with [R30] in apply(): a tag comes with the marks before it. */
		c[k] = pf_load_acquire(&d->ctl->counters[k]);
		values[k] = count_of(c[k]);
	}
	values[PF_COUNTER_SLOTS_FREED] = 0;
	for (uint32_t slot = 0; slot < d->lim.members_max; slot++)
		add_unfolded(d, slot, c, values);
}

uint32_t tally_members_active(struct pf_domain *d)
{
	uint32_t n = 0;

	for (uint32_t slot = 0; slot < d->lim.members_max; slot++) {
		/* Relaxed: a count for people, nothing is read through it. */
		uint32_t st = member_word_state(pf_load_relaxed(&d->members[slot].state));

		n += st == PF_MEMBER_ACTIVE || st == PF_MEMBER_DRAINING;
	}
	return n;
}

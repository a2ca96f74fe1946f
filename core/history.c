/* SPDX-License-Identifier: MIT */
/*
 * core/history.c: members' failure history and the reliability it gives them.
 *
 * A member process is new each time it starts, so its failures are kept by an identity
 * key that survives restarts: the uid and the executable path (hashed). Supervisors
 * record a failure when they repair a member that died or hung; a member's reliability
 * is then PF_PPM halved once per remembered failure, where failures are forgotten one
 * per HISTORY_FORGET_NS since the last one (a worker that crashed once an hour ago is
 * trusted with placements again). Live members of the same key see their reliability
 * fall at once, and schedulers re-read it at their next refresh.
 *
 * The table only grows: a key is claimed by CAS from 0 and kept. With 2 x members_max
 * entries, it fills only with that many distinct executables; then failures of new keys
 * are not recorded (counted as SHM_INVALID) and those members keep full reliability.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/domain_impl.h"
#include "shm/pf_assert.h"

#define HISTORY_FORGET_NS (UINT64_C(600) * 1000000000u) /* one failure per 10 minutes */
#define HISTORY_HALVINGS_MAX 20u                        /* 2^-20: effectively never chosen */

uint64_t identity_key(uint32_t uid)
{
	char exe[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", exe, PATH_MAX);
	uint64_t key;

	if (n < 0)
		n = 0;
	memcpy(exe + n, &uid, sizeof(uid));
	key = XXH3_64bits(exe, (size_t)n + sizeof(uid));
	return key == 0 ? 1 : key;
}

static struct dom_history *history_find(struct pf_domain *d, uint64_t key, int create)
{
	uint32_t mask = history_slots(&d->lim) - 1;

	PF_ASSERT(key != 0);
	for (uint32_t i = 0; i <= mask; i++) {
		struct dom_history *h = &d->history[(key + i) & mask];
		/* [A18] pairs with [R18] below: a claimed key's counters are ready. */
		uint64_t k = pf_load_acquire(&h->key), zero = 0;

		if (k == key)
			return h;
		if (k != 0)
			continue;
		if (!create)
			return NULL;
		/* [R18] pairs with [A18] above: claim the entry for our key. */
		if (pf_cas_acq_rel(&h->key, &zero, key))
			return h;
		if (zero == key)
			return h; /* someone claimed it for the same key */
	}
	return NULL;
}

void history_record_failure(struct pf_domain *d, uint64_t key)
{
	struct dom_history *h;

	if (key == 0)
		return;
	h = history_find(d, key, 1);
	if (h == NULL) {
		counter_add(d, PF_COUNTER_SHM_INVALID, 1);
		return;
	}
	/* Relaxed: statistics that only shape future scores. */
	pf_fetch_add_relaxed(&h->failures, 1);
	pf_store_relaxed(&h->last_failure_ns, now_ns());
	for (uint32_t slot = 0; slot < d->lim.members_max; slot++) {
		struct dom_member *rec = &d->members[slot];
		/* [A5] pairs with [R5] in member.c: the identity of a live member is set. */
		uint64_t w = pf_load_acquire(&rec->state);

		/* Relaxed: identity of the generation acquired just above. */
		if (member_word_state(w) == PF_MEMBER_ACTIVE &&
		    pf_load_relaxed(&rec->identity_key) == key)
			/* Relaxed: an attribute schedulers re-read at refresh. */
			pf_store_relaxed(&rec->reliability_ppm, history_reliability(d, key));
	}
	/* Relaxed: "look again" for schedulers. */
	pf_fetch_add_relaxed(&d->ctl->sched_version, 1);
}

uint32_t history_reliability(struct pf_domain *d, uint64_t key)
{
	struct dom_history *h = key != 0 ? history_find(d, key, 0) : NULL;
	uint64_t failures, since;

	if (h == NULL)
		return PF_PPM;
	/* Relaxed: see history_record_failure(). */
	failures = pf_load_relaxed(&h->failures);
	since = now_ns() - pf_load_relaxed(&h->last_failure_ns);
	failures = since / HISTORY_FORGET_NS >= failures ? 0 : failures - since / HISTORY_FORGET_NS;
	/* Never 0: PF_PPM >> 20 is, and a domain whose members all reach it would score every
	 * member 0 under the strategies that weigh reliability, leaving placement to the tie
	 * hash, blind to load. One ppm keeps them comparing by everything else. */
	return PF_MAX_OF(PF_PPM >> PF_MIN(failures, (uint64_t)HISTORY_HALVINGS_MAX), 1u);
}

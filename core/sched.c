/* SPDX-License-Identifier: MIT */
/*
 * core/sched.c: the scoring scheduler (pflight/sched.h has the contract and formulas).
 *
 * Why it is fast (>= 1 M decisions/s with 1,000 members): a decision never scans the
 * members. At refresh the scheduler groups the eligible members (ACTIVE, trust >= floor)
 * by their capability set (a domain has few distinct sets: the benchmark uses 64) and,
 * inside each group, by NUMA node, and keeps one binary max-heap per (group, node) keyed
 * by the strategy's score without its NUMA factor. Every score decreases as a member is
 * given VNodes, so after a placement only the winner moves, down its heap: O(log n).
 * For a VNode with required capabilities R, the groups whose sets cover R are computed
 * once per distinct R and cached, so a decision compares the tops of those heaps times
 * the NUMA factor of their node: O(groups x nodes) compares, independent of the member
 * count. Filter counts come from the same bookkeeping: O(1).
 *
 * The consistent-hash strategy keeps its own structure: a sorted array of ring points
 * (PF_CHASH_POINTS per eligible member), a binary search, and a walk clockwise past
 * members that are filtered out or at their bound.
 *
 * Bounded load. The bound is a filter, checked first for the best candidate like the
 * others: a member at its bound leaves its heap for the rest of the decision (O(log n))
 * and the next best is tried. The check is exact integer arithmetic on counts and
 * capacities (sched_share_cmp(): a 128-bit product each side), so a member's bound does
 * not depend on how a quotient rounds. Its pool is the members that cover the VNode's
 * capabilities: each capability group keeps what its members hold and their capacities,
 * and a decision sums the groups of its requirement (cached with it), or takes the model's
 * totals when every group covers it. A pool of every member would not do: VNodes that
 * only some members can take would find them all above a bound computed over everyone,
 * and each decision would pass all of them before the bound yields (with the benchmark's
 * capability sets, that cut the placement rate by two orders of magnitude).
 *
 * Why trust-weighted scores w / (w + load) rather than w / (1 + load): with 1 + load, a
 * weight ratio r must be offset by a load difference of about r - 1, and a load of
 * assigned / capacity moves by 1 only when a member doubles its VNodes against a capacity
 * that is usually far larger than its share; so any difference in trust, however small,
 * sent every VNode to the favourite until its bound, and a newcomer of a crashing
 * executable (reliability and trust halved at each crash) got nothing. With w / (w + load),
 * scores are equal when load is proportional to w: a weight is a share, and the floor of
 * the weights at 1 / (1 + epsilon) keeps every share within the factor the bound allows.
 *
 * Determinism: ties are broken by a per-member hash of the seed, mixed with the VNode id
 * across heaps; refreshes rebuild in slot order. The same registry, seed and requests
 * give the same decisions.
 *
 * The claim is the place transition of core/ownership.c done on the winner's behalf
 * (own_place_for(): ownership CAS PENDING(e) -> ACTIVE(winner, e + 1), seal, push to the
 * winner's assignment ring, from which the winner adopts it). If the VNode changed
 * meanwhile nothing is given; if the winner died meanwhile the placement is undone.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/ownership.h"
#include "core/sched_impl.h"
#include "pflight/numa.h"
#include "shm/pf_assert.h"

static const char *const strategy_names[] = {"trust-weighted", "consistent-hash", "bin-packing",
					     "agent"};
static const char *const reason_names[] = {"placed",      "no-member",    "filter-state",
					   "filter-caps", "filter-trust", "filter-policy",
					   "filter-full", "lost-race",    "filter-bound"};
_Static_assert(PF_ARRAY_SIZE(reason_names) == PF_SCHED_FILTER_BOUND + 1, "a name per reason");
_Static_assert(sizeof(struct pf_sched_decision) == 136 &&
		       offsetof(struct pf_sched_decision, filtered) == 36 &&
		       offsetof(struct pf_sched_decision, home_node) == 60 &&
		       offsetof(struct pf_sched_decision, reserved0) == 68 &&
		       offsetof(struct pf_sched_decision, score) == 72 &&
		       offsetof(struct pf_sched_decision, reserved) == 112,
	       "pf_sched_decision is ABI");
_Static_assert(PF_SCHED_FILTER_FULL - PF_SCHED_FILTER_STATE == PF_SCHED_FILTERED_FULL &&
		       PF_SCHED_FILTERED_BOUND + 1 == PF_SCHED_FILTERED_COUNT,
	       "the filters in order, then the bound (sched_filter_index())");
#define REFUSALS_MAX (EXPLAIN_FILTERED_MAX * 4u) /* hook calls and full rings per decision */

PF_API const char *pf_sched_strategy_name(uint32_t strategy)
{
	return strategy < PF_ARRAY_SIZE(strategy_names) ? strategy_names[strategy] : NULL;
}

PF_API const char *pf_sched_reason_name(uint32_t reason)
{
	return reason < PF_ARRAY_SIZE(reason_names) ? reason_names[reason] : NULL;
}

static uint64_t mix64(uint64_t x)
{
	x += UINT64_C(0x9e3779b97f4a7c15);
	x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
	return x ^ (x >> 31);
}

PF_API int pf_member_report_load(struct pf_member *m, uint32_t cpu_ppm, uint32_t mem_ppm)
{
	if (m == NULL || cpu_ppm > PF_PPM || mem_ppm > PF_PPM)
		return -EINVAL;
	/* Relaxed: attributes are re-read at a scheduler's next refresh; the version bump
	 * below only says "look again". */
	pf_store_relaxed(&m->rec->load_ppm, cpu_ppm);
	pf_store_relaxed(&m->rec->mem_ppm, mem_ppm);
	pf_fetch_add_relaxed(&m->d->ctl->sched_version, 1);
	return 0;
}

PF_API int pf_member_set_trust(struct pf_domain *d, uint32_t slot, uint32_t trust_ppm)
{
	uint64_t w;

	if (d == NULL || slot >= d->lim.members_max || trust_ppm > PF_PPM)
		return -EINVAL;
	/* [A5] pairs with [R5] in member.c: the slot's generation is current. */
	w = pf_load_acquire(&d->members[slot].state);
	if (member_word_state(w) == PF_MEMBER_FREE)
		return -ENOENT;
	/* Relaxed: as in pf_member_report_load(). */
	pf_store_relaxed(&d->members[slot].trust_ppm, trust_ppm);
	pf_fetch_add_relaxed(&d->ctl->sched_version, 1);
	return 0;
}

PF_API int pf_sched_configure(struct pf_domain *d, uint32_t strategy, uint32_t floor_ppm,
			      uint32_t eps_ppm)
{
	if (d == NULL || strategy > PF_SCHED_AGENT || floor_ppm > PF_PPM ||
	    eps_ppm > PF_SCHED_EPSILON_MAX)
		return -EINVAL;
	/* Relaxed: settings are read at refresh, which the version bump triggers. */
	pf_store_relaxed(&d->ctl->sched_strategy, strategy);
	pf_store_relaxed(&d->ctl->trust_floor_ppm, floor_ppm);
	pf_store_relaxed(&d->ctl->epsilon_ppm, eps_ppm);
	pf_fetch_add_relaxed(&d->ctl->sched_version, 1);
	return 0;
}

PF_API void pf_sched_opts_init(struct pf_sched_opts *opts)
{
	PF_ASSERT(opts != NULL);
	memset(opts, 0, sizeof(*opts));
	opts->size = sizeof(*opts);
}

static double member_load(const struct sm *m)
{
	return m->cpu + (double)m->assigned / (double)m->capacity;
}

/* The strategy's score of a member, without the NUMA factor. */
double sched_score_key(const struct pf_sched *s, const struct sm *m)
{
	double load = member_load(m);

	switch (s->strategy) {
	case PF_SCHED_BIN_PACKING:
		return (1.0 - fmin(1.0, load)) +
		       (1.0 - fmin(1.0, m->mem + (double)m->assigned / (double)m->capacity));
	case PF_SCHED_AGENT:
		return m->weight / (1.0 + (double)m->assigned);
	default:
		return m->weight / (m->weight + load);
	}
}

/* What the strategy prefers a member for, before it is bounded (weigh_members()). */
static double preference(const struct pf_sched *s, const struct sm *m)
{
	return s->strategy == PF_SCHED_AGENT ? m->reliability : m->reliability * m->trust;
}

/* Weights relative to the best eligible member, floored at 1 / (1 + epsilon). */
static void weigh_members(struct pf_sched *s)
{
	double best = 0, floor_w = 1.0 / (1.0 + (double)s->eps_ppm / PF_PPM);

	for (uint32_t i = 0; i < s->nsm; i++)
		best = fmax(best, preference(s, &s->sm[i]));
	for (uint32_t i = 0; i < s->nsm; i++)
		s->sm[i].weight = best > 0 ? fmax(preference(s, &s->sm[i]) / best, floor_w) : 1.0;
	PF_ASSERT(floor_w > 0 && floor_w <= 1.0);
}

/* a x b as a 128-bit number, high and low halves. */
static void mul_wide(uint64_t a, uint64_t b, uint64_t ret[2])
{
	uint64_t al = a & UINT32_MAX, ah = a >> 32, bl = b & UINT32_MAX, bh = b >> 32;
	uint64_t ll = al * bl, lh = al * bh, hl = ah * bl;
	uint64_t mid = (ll >> 32) + (lh & UINT32_MAX) + (hl & UINT32_MAX);

	ret[0] = ah * bh + (lh >> 32) + (hl >> 32) + (mid >> 32);
	ret[1] = mid << 32 | (ll & UINT32_MAX);
}

int sched_share_cmp(uint64_t count, uint64_t count_ppm, uint64_t capacity, uint64_t total,
		    uint64_t cap_sum, uint64_t share_ppm)
{
	uint64_t lhs[2], rhs[2];
	double l, r;

	/* Both first products fit 64 bits: counts and totals are below 2^32, the factors
	 * below 2^24 (PF_PPM + PF_SCHED_EPSILON_MAX). */
	_Static_assert(PF_PPM + PF_SCHED_EPSILON_MAX < (1u << 24), "factors fit 24 bits");
	PF_ASSERT(count <= UINT32_MAX && total <= UINT32_MAX && count_ppm < (1u << 24) &&
		  share_ppm < (1u << 24));
	/* In floating point first: each side is off by a few 2^-53 of itself at most (three
	 * roundings), so outside a margin of 2^-40 the sign is the exact one; near the line,
	 * the exact products decide. */
	l = (double)(count * count_ppm) * (double)cap_sum;
	r = (double)(share_ppm * total) * (double)capacity;
	if (l < r * (1.0 - 0x1p-40))
		return -1;
	if (l > r * (1.0 + 0x1p-40))
		return 1;
	mul_wide(count * count_ppm, cap_sum, lhs);
	mul_wide(share_ppm * total, capacity, rhs);
	if (lhs[0] != rhs[0])
		return lhs[0] < rhs[0] ? -1 : 1;
	return lhs[1] < rhs[1] ? -1 : lhs[1] > rhs[1];
}

/* What q's pool holds now, kept in q. */
static void pool_sum(const struct pf_sched *s, struct req *q)
{
	uint64_t total = 0;

	for (uint32_t i = 0; i < q->ngroups; i++)
		total += s->groups[q->groups[i]].assigned;
	q->total = PF_MIN(total, s->assigned_total); /* as the model's sum, clamped */
	q->total_at = s->adds;
	q->total_ok = 1;
}

void sched_counts_reset(struct pf_sched *s)
{
	for (uint32_t i = 0; i < s->nreqs; i++)
		s->reqs[i].total_ok = 0;
}

struct admit sched_admit_for(const struct pf_sched *s, struct req *q, uint32_t flags)
{
	struct admit a = {.pool_total = s->assigned_total, .pool_cap = s->cap_sum, .flags = flags};

	PF_ASSERT((flags & ~(ADMIT_MOVING | ADMIT_HANDOFF | ADMIT_BOUND_OFF)) == 0);
	if (q == NULL || q->ngroups == s->ngroups)
		return a; /* every eligible member: the model's own sums */
	if (!q->total_ok)
		pool_sum(s, q);
	PF_ASSERT(q->capacity <= s->cap_sum);
	a.pool_total = q->total;
	a.pool_cap = q->capacity;
	a.q = q->total_at == s->adds ? NULL : q; /* placements since: it may lag */
	return a;
}

struct admit sched_admit_of(struct pf_sched *s, uint32_t vnode, uint32_t flags)
{
	const struct dom_vnode *v;
	uint64_t caps[2];

	PF_ASSERT(vnode < s->d->lim.vnodes_max);
	v = &s->d->vnodes[vnode];
	caps[0] = v->caps[0];
	caps[1] = v->caps[1];
	return sched_admit_for(s, sched_req_lookup(s, caps), flags);
}

static int within(const struct pf_sched *s, uint32_t flags, uint64_t total, uint64_t cap,
		  const struct sm *m)
{
	uint64_t eps = PF_PPM + s->eps_ppm;

	/* assigned + 1 <= ceil(X) holds exactly when assigned < X, for a whole assigned. */
	if ((flags & ADMIT_MOVING) == 0)
		return sched_share_cmp(m->assigned, PF_PPM, m->capacity, total + 1, cap, eps) < 0;
	return sched_share_cmp((uint64_t)m->assigned + 1, PF_PPM, m->capacity, total, cap, eps) <=
	       0;
}

int sched_within_bound(const struct pf_sched *s, const struct admit *a, const struct sm *m)
{
	if (within(s, a->flags, a->pool_total, a->pool_cap, m))
		return 1;
	if (a->q == NULL)
		return 0;
	/* The bound grows with the total: a lagging one may refuse wrongly, never admit. */
	if (a->q->total_at != s->adds)
		pool_sum(s, a->q);
	return within(s, a->flags, a->q->total, a->pool_cap, m);
}

uint32_t sched_strategy_reads(uint32_t strategy)
{
	switch (strategy) {
	case PF_SCHED_BIN_PACKING:
		return SCHED_READS_CPU;
	case PF_SCHED_AGENT:
		return SCHED_READS_RELIABILITY;
	case PF_SCHED_CONSISTENT_HASH:
		return 0;
	default:
		return SCHED_READS_CPU | SCHED_READS_RELIABILITY;
	}
}

double sched_numa_factor(const struct pf_sched *s, int32_t member_node, int32_t home)
{
	if (s->o.numa == NULL || home < 0 || member_node < 0)
		return 1.0;
	return pf_numa_factor(s->o.numa, member_node, home);
}

/* a before b in a heap: higher key, then higher tie. */
static int better(const struct sm *a, const struct sm *b)
{
	if (a->key != b->key)
		return a->key > b->key;
	return a->tie > b->tie;
}

static void heap_set(struct pf_sched *s, struct heap *h, uint32_t pos, uint32_t m)
{
	h->items[pos] = m;
	s->sm[m].heap_pos = pos;
}

void sched_heap_up(struct pf_sched *s, struct heap *h, uint32_t pos)
{
	uint32_t m = h->items[pos];

	while (pos > 0) {
		uint32_t parent = (pos - 1) / 2;

		if (!better(&s->sm[m], &s->sm[h->items[parent]]))
			break;
		heap_set(s, h, pos, h->items[parent]);
		pos = parent;
	}
	heap_set(s, h, pos, m);
}

void sched_heap_down(struct pf_sched *s, struct heap *h, uint32_t pos)
{
	uint32_t m = h->items[pos];

	for (;;) {
		uint32_t c = 2 * pos + 1;

		if (c >= h->count)
			break;
		if (c + 1 < h->count && better(&s->sm[h->items[c + 1]], &s->sm[h->items[c]]))
			c++;
		if (!better(&s->sm[h->items[c]], &s->sm[m]))
			break;
		heap_set(s, h, pos, h->items[c]);
		pos = c;
	}
	heap_set(s, h, pos, m);
}

void sched_heap_remove(struct pf_sched *s, struct heap *h, uint32_t pos)
{
	uint32_t moved;

	PF_ASSERT(pos < h->count);
	h->count--;
	if (pos == h->count)
		return;
	moved = h->items[h->count];
	heap_set(s, h, pos, moved);
	sched_heap_down(s, h, pos);
	sched_heap_up(s, h, s->sm[moved].heap_pos);
}

void sched_heap_insert(struct pf_sched *s, struct heap *h, uint32_t m)
{
	h->items[h->count] = m;
	s->sm[m].heap_pos = h->count;
	h->count++;
	sched_heap_up(s, h, h->count - 1);
}

static void sched_free_tables(struct pf_sched *s)
{
	for (uint32_t i = 0; i < s->nreqs; i++)
		free(s->reqs[i].heaps);
	s->nreqs = 0;
	free(s->sm);
	free(s->groups);
	free(s->heaps);
	free(s->heap_store);
	free(s->points);
	s->sm = NULL;
	s->groups = NULL;
	s->heaps = NULL;
	s->heap_store = NULL;
	s->points = NULL;
	s->nsm = s->ngroups = s->nheaps = s->npoints = 0;
}

PF_API int pf_sched_create(struct pf_domain *d, const struct pf_sched_opts *opts,
			   struct pf_sched **ret)
{
	struct pf_sched *s;
	int r;

	if (d == NULL || ret == NULL)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	pf_sched_opts_init(&s->o);
	if (opts != NULL && (opts_copy(&s->o, sizeof(s->o), opts,
				       offsetof(struct pf_sched_opts, can_handoff)) < 0 ||
			     s->o.flags != 0 || s->o.reserved[0] != 0 || s->o.reserved[1] != 0)) {
		free(s);
		return -EINVAL;
	}
	s->d = d;
	s->slot_to_sm = malloc(d->lim.members_max * sizeof(*s->slot_to_sm));
	s->held = malloc((d->lim.members_max + 1) * sizeof(*s->held));
	if (s->slot_to_sm == NULL || s->held == NULL) {
		pf_sched_destroy(s);
		return -ENOMEM;
	}
	s->seen_members = UINT32_MAX;
	r = pf_sched_refresh(s);
	if (r < 0) {
		pf_sched_destroy(s);
		return r;
	}
	*ret = s;
	return 0;
}

PF_API void pf_sched_destroy(struct pf_sched *s)
{
	if (s == NULL)
		return;
	sched_free_tables(s);
	free(s->slot_to_sm);
	free(s->held);
	free(s);
}

/* Read one eligible member into m; 0 if it is not a candidate (and why, in *why). */
static int snapshot_one(struct pf_sched *s, uint32_t slot, struct sm *m, uint32_t *why)
{
	struct pf_domain *d = s->d;
	struct dom_member *rec = &d->members[slot];
	/* [A5] pairs with [R5] in member.c: the identity below is complete. */
	uint64_t w = pf_load_acquire(&rec->state), held;
	uint32_t st = member_word_state(w), trust, cap;

	*why = PF_SCHED_PLACED;
	if (st == PF_MEMBER_FREE || st == PF_MEMBER_DEAD || st == PF_MEMBER_RETIRED)
		return 0;
	if (st != PF_MEMBER_ACTIVE) {
		*why = PF_SCHED_FILTER_STATE; /* joining or draining */
		return 0;
	}
	/* Relaxed: attributes are a snapshot; a change bumps sched_version. */
	trust = pf_load_relaxed(&rec->trust_ppm);
	cap = pf_load_relaxed(&rec->vnode_capacity);
	if (trust < s->floor_ppm) {
		*why = PF_SCHED_FILTER_TRUST;
		return 0;
	}
	memset(m, 0, sizeof(*m));
	m->slot = slot;
	m->gen = member_word_gen(w);
	/* Relaxed: identity of the generation acquired above, re-validated below. */
	m->caps[0] = pf_load_relaxed(&rec->caps[0]);
	m->caps[1] = pf_load_relaxed(&rec->caps[1]);
	m->node = pf_load_relaxed(&rec->numa_node);
	m->capacity = cap == 0 ? PF_MEMBER_CAPACITY_DEFAULT : cap;
	/* Relaxed: the same snapshot. */
	m->reliability = (double)PF_MIN(pf_load_relaxed(&rec->reliability_ppm), PF_PPM) / PF_PPM;
	m->trust = (double)PF_MIN(trust, PF_PPM) / PF_PPM;
	m->cpu = (double)PF_MIN(pf_load_relaxed(&rec->load_ppm), PF_PPM) / PF_PPM;
	m->mem = (double)PF_MIN(pf_load_relaxed(&rec->mem_ppm), PF_PPM) / PF_PPM;
	/* Relaxed: the same snapshot; a count that only guides the next decisions. The member
	 * writes it (outside any lock, so it may lag): no member holds more VNodes than the
	 * domain has, and a count that says so is refused, not trusted into the bound. */
	held = (uint64_t)pf_load_relaxed(&rec->vnodes_owned) +
	       ring_mpmc_count(assign_ring(d, slot));
	if (held > d->lim.vnodes_max) {
		counter_add(d, PF_COUNTER_SHM_INVALID, 1);
		held = d->lim.vnodes_max;
	}
	m->assigned = (uint32_t)held;
	m->tie = mix64(s->seed ^ ((uint64_t)slot << 32 | m->gen));
	/* [A5] pairs with [R5] in member.c: the slot did not change while we read it. */
	if (pf_load_acquire(&rec->state) != w) {
		*why = PF_SCHED_FILTER_STATE;
		return 0;
	}
	return 1;
}

static int snapshot_members(struct pf_sched *s)
{
	uint32_t n = 0, why;

	s->sm = calloc(s->d->lim.members_max, sizeof(*s->sm));
	if (s->sm == NULL)
		return -ENOMEM;
	s->filtered_state = s->filtered_trust = s->active = 0;
	s->assigned_total = s->cap_sum = 0;
	for (uint32_t slot = 0; slot < s->d->lim.members_max; slot++) {
		s->slot_to_sm[slot] = UINT32_MAX;
		if (snapshot_one(s, slot, &s->sm[n], &why)) {
			s->slot_to_sm[slot] = n;
			s->assigned_total += s->sm[n].assigned;
			s->cap_sum += s->sm[n].capacity;
			n++;
			s->active++;
		} else if (why == PF_SCHED_FILTER_STATE) {
			s->filtered_state++;
		} else if (why == PF_SCHED_FILTER_TRUST) {
			s->filtered_trust++;
			s->active++;
		}
	}
	/* Each member's count is at most vnodes_max; their sum is, too, for the bound. */
	s->assigned_total = PF_MIN(s->assigned_total, (uint64_t)s->d->lim.vnodes_max);
	s->nsm = n;
	return 0;
}

/* Group members by capability set, then one heap per (group, node). */
static int build_heaps(struct pf_sched *s)
{
	uint32_t pairs = 0, used = 0;

	s->groups = calloc(s->nsm + 1, sizeof(*s->groups));
	s->heaps = calloc(s->nsm + 1, sizeof(*s->heaps));
	s->heap_store = calloc(s->nsm + 1, sizeof(*s->heap_store));
	if (s->groups == NULL || s->heaps == NULL || s->heap_store == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->nsm; i++) {
		struct sm *m = &s->sm[i];
		uint32_t g = 0, h = 0;

		while (g < s->ngroups &&
		       (s->groups[g].caps[0] != m->caps[0] || s->groups[g].caps[1] != m->caps[1]))
			g++;
		if (g == s->ngroups) {
			s->groups[g].caps[0] = m->caps[0];
			s->groups[g].caps[1] = m->caps[1];
			s->ngroups++;
		}
		s->groups[g].members++;
		s->groups[g].assigned += m->assigned;
		s->groups[g].capacity += m->capacity;
		m->group = g;
		while (h < pairs && (s->heaps[h].group != g || s->heaps[h].node != m->node))
			h++;
		if (h == pairs) {
			s->heaps[h].group = g;
			s->heaps[h].node = m->node;
			pairs++;
		}
		m->heap = h;
		s->heaps[h].count++; /* sizes first, items below */
	}
	s->nheaps = pairs;
	for (uint32_t h = 0; h < pairs; h++) {
		s->heaps[h].items = s->heap_store + used;
		used += s->heaps[h].count;
		s->heaps[h].count = 0;
	}
	for (uint32_t i = 0; i < s->nsm; i++) {
		s->sm[i].key = sched_score_key(s, &s->sm[i]);
		sched_heap_insert(s, &s->heaps[s->sm[i].heap], i);
	}
	return 0;
}

/* The ring points in (hash, member) order: an LSD radix sort of the 48-bit keys hash << 16 |
 * member in four stable passes of 12 bits. A refresh of 1,000 members sorts 64,000
 * points; a comparison sort took about 5 ms of it, this takes a tenth. Members are indices
 * below PF_MEMBERS_MAX, which 16 bits hold. */
#define RADIX_BITS 12u
#define RADIX_PASSES 4u
_Static_assert(PF_MEMBERS_MAX <= 65536u, "member index must fit the 16 low key bits");

static uint32_t point_digit(const struct point *p, uint32_t pass)
{
	uint64_t key = (uint64_t)p->hash << 16 | p->member;

	return (uint32_t)(key >> (pass * RADIX_BITS)) & ((1u << RADIX_BITS) - 1);
}

static int sort_points(struct point *points, uint32_t n)
{
	struct point *tmp = malloc(((size_t)n + 1) * sizeof(*tmp)), *from = points, *to = tmp;
	uint32_t count[1u << RADIX_BITS];

	if (tmp == NULL)
		return -ENOMEM;
	for (uint32_t pass = 0; pass < RADIX_PASSES; pass++) {
		uint32_t sum = 0;

		memset(count, 0, sizeof(count));
		for (uint32_t i = 0; i < n; i++)
			count[point_digit(&from[i], pass)]++;
		for (uint32_t d = 0; d < PF_ARRAY_SIZE(count); d++) {
			uint32_t c = count[d];

			count[d] = sum;
			sum += c;
		}
		for (uint32_t i = 0; i < n; i++)
			to[count[point_digit(&from[i], pass)]++] = from[i];
		from = to;
		to = from == tmp ? points : tmp;
	}
	_Static_assert(RADIX_PASSES % 2 == 0, "the sorted points must end in place");
	PF_ASSERT(from == points);
	free(tmp);
	return 0;
}

static int build_points(struct pf_sched *s)
{
	s->npoints = s->nsm * PF_CHASH_POINTS;
	s->points = calloc(s->npoints + 1, sizeof(*s->points));
	if (s->points == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < s->nsm; i++) {
		/* Points depend on the member's identity, not its slot's history, so a
		 * join moves only the keys the newcomer's points take. */
		uint64_t id = ((uint64_t)s->sm[i].slot << 32) | s->sm[i].gen;

		for (uint32_t k = 0; k < PF_CHASH_POINTS; k++) {
			struct point *p = &s->points[i * PF_CHASH_POINTS + k];

			p->hash =
				(uint32_t)(mix64(s->seed ^ mix64(id * PF_CHASH_POINTS + k)) >> 32);
			p->member = i;
		}
	}
	return sort_points(s->points, s->npoints);
}

PF_API int pf_sched_refresh(struct pf_sched *s)
{
	struct dom_control *ctl;
	int r;

	if (s == NULL)
		return -EINVAL;
	ctl = s->d->ctl;
	/* Relaxed: versions say "look again"; what we read next is validated. */
	s->seen_members = pf_load_relaxed(&ctl->membership_version);
	s->seen_sched = pf_load_relaxed(&ctl->sched_version);
	s->strategy = PF_MIN(pf_load_relaxed(&ctl->sched_strategy), (uint32_t)PF_SCHED_AGENT);
	/* Relaxed: settings, validated by their use (floor and epsilon are plain numbers). */
	s->floor_ppm = pf_load_relaxed(&ctl->trust_floor_ppm);
	/* Relaxed: a setting, validated by PF_MIN below; the version bump triggers the refresh. */
	s->eps_ppm = PF_MIN(pf_load_relaxed(&ctl->epsilon_ppm), PF_SCHED_EPSILON_MAX);
	s->seed = pf_load_relaxed(&ctl->sched_seed);
	s->refreshed_ns = now_ns();
	sched_free_tables(s);
	r = snapshot_members(s);
	if (r == 0) {
		weigh_members(s);
		r = build_heaps(s);
	}
	if (r == 0 && s->strategy == PF_SCHED_CONSISTENT_HASH)
		r = build_points(s);
	return r;
}

static int maybe_refresh(struct pf_sched *s)
{
	struct dom_control *ctl = s->d->ctl;

	/* Relaxed: see pf_sched_refresh(). */
	if (pf_load_relaxed(&ctl->membership_version) != s->seen_members)
		return pf_sched_refresh(s);
	/* Relaxed: the same. Attribute changes are taken at most once a millisecond. */
	if (pf_load_relaxed(&ctl->sched_version) != s->seen_sched &&
	    now_ns() - s->refreshed_ns >= REFRESH_ATTR_NS)
		return pf_sched_refresh(s);
	return 0;
}

int sched_covers(const uint64_t have[2], const uint64_t need[2])
{
	return (need[0] & ~have[0]) == 0 && (need[1] & ~have[1]) == 0;
}

/* The heaps whose members cover `caps`, cached per distinct requirement. */
struct req *sched_req_lookup(struct pf_sched *s, const uint64_t caps[2])
{
	struct req *q;
	uint32_t n = 0;

	for (uint32_t i = 0; i < s->nreqs; i++)
		if (s->reqs[i].caps[0] == caps[0] && s->reqs[i].caps[1] == caps[1])
			return &s->reqs[i];
	if (s->nreqs == REQ_CACHE_MAX) {
		for (uint32_t i = 0; i < s->nreqs; i++)
			free(s->reqs[i].heaps);
		s->nreqs = 0; /* more distinct requirements than remembered: start over */
	}
	q = &s->reqs[s->nreqs];
	q->heaps = malloc((s->nheaps + s->ngroups + 1) * sizeof(*q->heaps));
	if (q->heaps == NULL)
		return NULL;
	q->caps[0] = caps[0];
	q->caps[1] = caps[1];
	q->candidates = 0;
	q->total_ok = 0;
	for (uint32_t h = 0; h < s->nheaps; h++) {
		if (!sched_covers(s->groups[s->heaps[h].group].caps, caps))
			continue;
		q->heaps[n++] = h;
	}
	q->nheaps = n;
	q->groups = q->heaps + n;
	q->ngroups = 0;
	q->capacity = 0;
	for (uint32_t g = 0; g < s->ngroups; g++) {
		if (!sched_covers(s->groups[g].caps, caps))
			continue;
		q->candidates += s->groups[g].members;
		q->capacity += s->groups[g].capacity;
		q->groups[q->ngroups++] = g;
	}
	s->nreqs++;
	return q;
}

/* Within the bound, room for one more assignment, and the can-assign hook's consent. */
uint32_t sched_admit(const struct pf_sched *s, const struct admit *a, uint32_t vnode,
		     const struct sm *m)
{
	if ((a->flags & ADMIT_BOUND_OFF) != 0 && a->mark != 0 && m->refused == a->mark)
		return m->refused_why; /* refused by its ring or hook before the bound yielded */
	if ((a->flags & ADMIT_BOUND_OFF) == 0 && !sched_within_bound(s, a, m))
		return PF_SCHED_FILTER_BOUND;
	if (ring_mpmc_count(assign_ring(s->d, m->slot)) + 1 >= s->d->lim.assign_slots)
		return PF_SCHED_FILTER_FULL;
	if (s->o.can_assign != NULL && s->o.can_assign(s->o.policy_arg, vnode, m->slot) < 0)
		return PF_SCHED_FILTER_POLICY;
	if ((a->flags & ADMIT_HANDOFF) != 0 && s->o.can_handoff != NULL &&
	    s->o.can_handoff(s->o.handoff_arg, vnode, m->slot) < 0)
		return PF_SCHED_FILTER_POLICY;
	return PF_SCHED_PLACED;
}

/* Count a member filtered out; the first ones are named in the explanation. */
static void note_removed(struct pf_sched *s, const struct admit *a, struct pf_sched_decision *dec,
			 struct removed *rm, uint32_t m, uint32_t why)
{
	uint32_t i = sched_filter_index(why);

	PF_ASSERT(i < PF_SCHED_FILTERED_COUNT);
	dec->filtered[i]++;
	if (a->mark != 0 && (a->flags & ADMIT_BOUND_OFF) == 0 && why != PF_SCHED_FILTER_BOUND) {
		s->sm[m].refused = a->mark;
		s->sm[m].refused_why = why;
	}
	if (rm->n == PF_ARRAY_SIZE(rm->m))
		return;
	rm->m[rm->n] = m;
	rm->why[rm->n] = (uint8_t)why;
	rm->n++;
}

/* The best (group, node) heap top for this VNode; UINT32_MAX if none. */
static uint32_t best_top(struct pf_sched *s, const struct req *q, uint32_t vnode, int32_t home)
{
	uint32_t best = UINT32_MAX;
	double best_score = -1.0;
	uint64_t best_tie = 0;

	for (uint32_t i = 0; i < q->nheaps; i++) {
		struct heap *h = &s->heaps[q->heaps[i]];
		const struct sm *m;
		double score;
		uint64_t tie;

		if (h->count == 0)
			continue;
		m = &s->sm[h->items[0]];
		score = m->key * sched_numa_factor(s, h->node, home);
		tie = mix64(m->tie ^ vnode);
		if (score > best_score || (score == best_score && tie > best_tie)) {
			best = h->items[0];
			best_score = score;
			best_tie = tie;
		}
	}
	return best;
}

uint32_t sched_choose_heaps(struct pf_sched *s, const struct admit *a, const struct req *q,
			    uint32_t vnode, int32_t home, struct pf_sched_decision *dec,
			    struct removed *rm)
{
	uint32_t m = UINT32_MAX, held = 0, refusals = 0;

	while (refusals < REFUSALS_MAX) {
		uint32_t why;

		m = best_top(s, q, vnode, home);
		if (m == UINT32_MAX)
			break;
		why = sched_admit(s, a, vnode, &s->sm[m]);
		if (why == PF_SCHED_PLACED)
			break;
		note_removed(s, a, dec, rm, m, why);
		/* A bound costs one heap removal and calls no hook: passing every member at
		 * its bound is what keeps the bound, so it does not use up the refusals. */
		refusals += why != PF_SCHED_FILTER_BOUND;
		sched_heap_remove(s, &s->heaps[s->sm[m].heap], s->sm[m].heap_pos);
		s->held[held++] = m;
		m = UINT32_MAX;
	}
	PF_ASSERT(held <= s->nsm);
	for (uint32_t i = 0; i < held; i++)
		sched_heap_insert(s, &s->heaps[s->sm[s->held[i]].heap], s->held[i]);
	return m;
}

uint32_t sched_chash_first(const struct pf_sched *s, uint32_t vnode)
{
	uint32_t key = (uint32_t)(mix64(s->seed ^ mix64(vnode)) >> 32), lo = 0, hi = s->npoints;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (s->points[mid].hash < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* A fresh mark for one decision's refusals (0 is never one: fresh members have it). */
static uint32_t next_refusal(struct pf_sched *s)
{
	if (++s->refusal == 0) {
		for (uint32_t i = 0; i < s->nsm; i++)
			s->sm[i].refused = 0;
		s->refusal = 1;
	}
	return s->refusal;
}

/* A fresh mark for one consistent-hash decision (0 is never one: fresh members have it). */
static uint32_t next_stamp(struct pf_sched *s)
{
	if (++s->stamp == 0) {
		for (uint32_t i = 0; i < s->nsm; i++)
			s->sm[i].stamp = 0;
		s->stamp = 1;
	}
	return s->stamp;
}

static uint32_t choose_chash(struct pf_sched *s, const struct admit *a, const uint64_t caps[2],
			     uint32_t vnode, struct pf_sched_decision *dec, struct removed *rm)
{
	uint32_t lo = sched_chash_first(s, vnode), stamp = next_stamp(s);

	for (uint32_t k = 0; k < s->npoints; k++) {
		uint32_t m = s->points[(lo + k) % s->npoints].member, why;

		/* Each member is asked once per decision, at its first point on the walk. */
		if (!sched_covers(s->sm[m].caps, caps) || s->sm[m].stamp == stamp)
			continue;
		why = sched_admit(s, a, vnode, &s->sm[m]);
		if (why == PF_SCHED_PLACED)
			return m;
		s->sm[m].stamp = stamp;
		note_removed(s, a, dec, rm, m, why);
	}
	return UINT32_MAX;
}

static int claim_for(struct pf_sched *s, uint32_t vnode, uint64_t w, uint32_t m,
		     uint32_t *ret_epoch)
{
	int r = own_place_for(s->d, vnode, w, s->sm[m].slot, s->sm[m].gen, ret_epoch);

	if (r == 0)
		sched_model_add(s, m);
	return r;
}

void sched_model_add(struct pf_sched *s, uint32_t m)
{
	struct sm *x = &s->sm[m];

	PF_ASSERT(m < s->nsm);
	x->assigned++;
	s->groups[x->group].assigned++;
	s->assigned_total++;
	s->adds++;
	if (s->strategy != PF_SCHED_CONSISTENT_HASH) {
		x->key = sched_score_key(s, x);
		sched_heap_down(s, &s->heaps[x->heap], x->heap_pos);
	}
}

void sched_decision_fill(const struct pf_sched *s, struct pf_sched_decision *dec, uint32_t m,
			 int32_t home)
{
	const struct sm *x = &s->sm[m];

	PF_ASSERT(m < s->nsm && dec != NULL);
	dec->winner_slot = x->slot;
	dec->winner_generation = x->gen;
	dec->winner_node = x->node;
	dec->reliability = x->reliability;
	dec->trust = x->trust;
	dec->load = member_load(x);
	dec->numa_factor = sched_numa_factor(s, x->node, home);
	dec->score = s->strategy == PF_SCHED_CONSISTENT_HASH ? 0.0 : x->key * dec->numa_factor;
}

static void explain_write(struct pf_sched *s, const struct pf_sched_decision *dec,
			  const struct removed *rm)
{
	struct pf_domain *d = s->d;
	struct dom_explain *e;
	uint64_t n;

	/* Relaxed: a subscriber that arrives late misses a few records, which the
	 * sequence numbers show; nobody subscribed costs this one load. */
	if (pf_load_relaxed(&d->ctl->explain_readers) == 0)
		return;
	/* Relaxed: only hands out distinct record numbers. */
	n = pf_fetch_add_relaxed(&d->ctl->explain_seq, 1);
	e = &d->explain[n & (d->lim.explain_slots - 1)];
	/* Relaxed: odd = being written; the release fence orders it before the fields. */
	pf_store_relaxed(&e->seq, 2 * n + 1);
	/* [F16] pairs with [F17] in pf_sched_explain_read(): a reader that sees our
	 * field stores also sees the odd sequence number before them. */
	pf_fence_release();
	e->vnode = dec->vnode;
	e->strategy = dec->strategy;
	e->winner_slot = dec->winner_slot;
	e->winner_gen = dec->winner_generation;
	e->epoch = (uint32_t)dec->epoch;
	e->reason = dec->reason;
	e->candidates = dec->candidates;
	_Static_assert(sizeof(e->filtered) == sizeof(dec->filtered), "a count per filter");
	memcpy(e->filtered, dec->filtered, sizeof(e->filtered));
	e->reserved0 = 0;
	e->home_node = (uint32_t)dec->home_node;
	e->winner_node = (uint32_t)dec->winner_node;
	e->decision_ns = now_ns();
	e->score = dec->score;
	e->reliability = dec->reliability;
	e->trust = dec->trust;
	e->load = dec->load;
	e->numa_factor = dec->numa_factor;
	for (uint32_t i = 0; i < EXPLAIN_FILTERED_MAX; i++) {
		e->filtered_slot[i] = i < rm->n ? (uint16_t)s->sm[rm->m[i]].slot : UINT16_MAX;
		e->filtered_why[i] = i < rm->n ? rm->why[i] : 0;
	}
	/* [R16] pairs with [A16] in pf_sched_explain_read(): the record is complete. */
	pf_store_release(&e->seq, 2 * n + 2);
}

static uint32_t reason_of(const struct pf_sched *s, const struct pf_sched_decision *dec)
{
	if (s->active == 0 && s->filtered_state == 0)
		return PF_SCHED_NO_MEMBER;
	if (dec->filtered[PF_SCHED_FILTERED_POLICY] != 0)
		return PF_SCHED_FILTER_POLICY;
	if (dec->filtered[PF_SCHED_FILTERED_FULL] != 0 || s->nsm > 0)
		return dec->candidates == 0 ? PF_SCHED_FILTER_CAPS : PF_SCHED_FILTER_FULL;
	return s->filtered_trust != 0 ? PF_SCHED_FILTER_TRUST : PF_SCHED_FILTER_STATE;
}

/* The strategy's choice among the members that pass every filter. */
static uint32_t pick(struct pf_sched *s, const struct admit *a, const struct req *q,
		     const uint64_t caps[2], uint32_t vnode, struct pf_sched_decision *dec,
		     struct removed *rm)
{
	if (s->strategy == PF_SCHED_CONSISTENT_HASH)
		return choose_chash(s, a, caps, vnode, dec, rm);
	return sched_choose_heaps(s, a, q, vnode, dec->home_node, dec, rm);
}

int sched_choose(struct pf_sched *s, uint32_t vnode, uint32_t flags, struct pf_sched_decision *dec,
		 struct removed *rm, uint32_t *ret_m)
{
	const struct dom_vnode *v;
	uint64_t caps[2];
	struct req *q;
	struct admit a;

	PF_ASSERT(vnode < s->d->lim.vnodes_max && ret_m != NULL && (flags & ~ADMIT_HANDOFF) == 0);
	v = &s->d->vnodes[vnode];
	caps[0] = v->caps[0];
	caps[1] = v->caps[1];
	dec->home_node = v->home_node;
	q = sched_req_lookup(s, caps);
	if (q == NULL)
		return -ENOMEM;
	dec->candidates = q->candidates;
	dec->filtered[PF_SCHED_FILTERED_STATE] = s->filtered_state;
	dec->filtered[PF_SCHED_FILTERED_CAPS] = s->nsm - q->candidates;
	dec->filtered[PF_SCHED_FILTERED_TRUST] = s->filtered_trust;
	a = sched_admit_for(s, q, flags);
	a.mark = next_refusal(s);
	*ret_m = pick(s, &a, q, caps, vnode, dec, rm);
	if (*ret_m == UINT32_MAX && dec->filtered[PF_SCHED_FILTERED_BOUND] != 0) {
		/* Every member that could take it is at its bound: the bound yields rather
		 * than leave it pending (sched.h). The explanation keeps the first pass; the
		 * second counts its own refusals, and those of the first by a ring or a hook
		 * stand without a second call (a.mark). */
		struct pf_sched_decision again = *dec;
		struct removed rm_again = {.n = 0};

		again.filtered[PF_SCHED_FILTERED_BOUND] = 0;
		again.filtered[PF_SCHED_FILTERED_POLICY] = 0;
		again.filtered[PF_SCHED_FILTERED_FULL] = 0;
		a.flags |= ADMIT_BOUND_OFF;
		*ret_m = pick(s, &a, q, caps, vnode, &again, &rm_again);
		if (*ret_m == UINT32_MAX)
			dec->reason = reason_of(s, &again);
		return 0;
	}
	if (*ret_m == UINT32_MAX)
		dec->reason = reason_of(s, dec);
	return 0;
}

PF_API int pf_sched_place(struct pf_sched *s, uint32_t vnode, struct pf_sched_decision *out)
{
	struct pf_sched_decision local, *dec = out != NULL ? out : &local;
	struct removed rm = {.n = 0};
	struct dom_vnode *v;
	uint64_t w;
	uint32_t m, epoch;
	int r;

	if (s == NULL || vnode >= s->d->lim.vnodes_max || (out != NULL && out->size < sizeof(*out)))
		return -EINVAL;
	r = maybe_refresh(s);
	if (r < 0)
		return r;
	memset(dec, 0, sizeof(*dec));
	dec->size = sizeof(*dec);
	dec->vnode = vnode;
	dec->strategy = s->strategy;
	dec->winner_slot = UINT32_MAX;
	dec->winner_node = -1;
	/* [A10] pairs with [R10] in own_define() (core/ownership.c): the requirements are complete
	 * once PENDING. */
	w = pf_load_acquire(&s->d->own[vnode]);
	if (own_state(w) != PF_VNODE_PENDING) {
		dec->reason = PF_SCHED_LOST_RACE;
		return -EBUSY;
	}
	v = &s->d->vnodes[vnode];
	r = sched_choose(s, vnode, 0, dec, &rm, &m);
	if (r < 0)
		return r;
	if (m == UINT32_MAX) {
		/* Relaxed: a reason for people and tools. */
		pf_store_relaxed(&v->pending_reason, dec->reason);
		explain_write(s, dec, &rm);
		return -ENOENT;
	}
	sched_decision_fill(s, dec, m, dec->home_node); /* the scores the decision was made on */
	r = claim_for(s, vnode, w, m, &epoch);
	if (r < 0) {
		dec->reason = PF_SCHED_LOST_RACE;
		dec->winner_slot = UINT32_MAX;
		return r;
	}
	dec->reason = PF_SCHED_PLACED;
	dec->epoch = epoch;
	/* Relaxed: as above. */
	pf_store_relaxed(&v->pending_reason, PF_SCHED_PLACED);
	explain_write(s, dec, &rm);
	return 0;
}

PF_API int pf_sched_run(struct pf_sched *s, uint32_t budget)
{
	uint32_t placed = 0, tries;

	if (s == NULL)
		return -EINVAL;
	placer_beat(s->d);
	tries = PF_MIN(budget, ring_mpmc_count(&s->d->pending) + 1);
	for (uint32_t i = 0; i < tries && placed < budget; i++) {
		uint32_t id;
		int r;

		if (ring_mpmc_try_dequeue(&s->d->pending, &id) < 0)
			break;
		if (id >= s->d->lim.vnodes_max) {
			counter_add(s->d, PF_COUNTER_SHM_INVALID, 1);
			continue;
		}
		r = pf_sched_place(s, id, NULL);
		if (r == 0)
			placed++;
		else if (r == -ENOENT)
			(void)pending_push(s->d, id, 0); /* still PENDING: keep it queued */
	}
	return (int)placed;
}

PF_API int pf_sched_explain_subscribe(struct pf_domain *d)
{
	if (d == NULL)
		return -EINVAL;
	/* Relaxed: a count; records written before we subscribed were never promised. */
	pf_fetch_add_relaxed(&d->ctl->explain_readers, 1);
	return 0;
}

PF_API void pf_sched_explain_unsubscribe(struct pf_domain *d)
{
	if (d == NULL)
		return;
	/* Relaxed: the same count. */
	pf_fetch_sub_relaxed(&d->ctl->explain_readers, 1);
}

static void explain_to_decision(const struct dom_explain *e, struct pf_sched_decision *dec)
{
	memset(dec, 0, sizeof(*dec));
	dec->size = sizeof(*dec);
	dec->vnode = e->vnode;
	dec->reason = e->reason;
	dec->strategy = e->strategy;
	dec->winner_slot = e->winner_slot;
	dec->winner_generation = e->winner_gen;
	dec->epoch = e->epoch;
	dec->candidates = e->candidates;
	memcpy(dec->filtered, e->filtered, sizeof(e->filtered));
	dec->home_node = (int32_t)e->home_node;
	dec->winner_node = (int32_t)e->winner_node;
	dec->score = e->score;
	dec->reliability = e->reliability;
	dec->trust = e->trust;
	dec->load = e->load;
	dec->numa_factor = e->numa_factor;
}

/* Explanation sequence numbers a domain reaches in practice (2^62 placements: centuries at
 * a billion a second); a head at or above it is a scribble, and 2 n + 2 stays exact below. */
#define EXPLAIN_SEQ_LIMIT (UINT64_C(1) << 62)

#define EXPLAIN_NEAR 8u /* records before a head looked at for one that is written */

/* 1 when one of the records just below head is complete (its sequence says so, done): the
 * head is a writer's, not a scribble. The last ones may be mid-write, or their writer may
 * have died there, so several are looked at. */
static int explain_written_near(struct pf_domain *d, uint64_t head)
{
	for (uint64_t n = head - 1; n + EXPLAIN_NEAR >= head && n < head; n--)
		/* [A16] pairs with [R16] in explain_write(). */
		if (pf_load_acquire(&d->explain[n & (d->lim.explain_slots - 1)].seq) == 2 * n + 2)
			return 1;
	return 0;
}

PF_API int pf_sched_explain_read(struct pf_domain *d, uint64_t *cursor,
				 struct pf_sched_decision *out, uint32_t count, uint64_t *ret_seqs)
{
	uint64_t head, n;
	uint32_t k = 0;

	if (d == NULL || cursor == NULL || (out == NULL && count > 0))
		return -EINVAL;
	/* [A16] pairs with [R16] in explain_write(): records below head were handed out. */
	head = pf_load_acquire(&d->ctl->explain_seq);
	if (head >= EXPLAIN_SEQ_LIMIT) {
		counter_add(d, PF_COUNTER_SHM_INVALID, 1);
		return 0;
	}
	if (head < *cursor) {
		/* Never, but after a scribble: the head back by less than a ring keeps the
		 * cursor until it passes it; a cursor further ahead than a ring came from a
		 * scribbled head that we followed, and follows the head back. */
		if (*cursor - head > d->lim.explain_slots) {
			counter_add(d, PF_COUNTER_SHM_INVALID, 1);
			*cursor = head;
		}
		return 0;
	}
	if (head - *cursor > d->lim.explain_slots) {
		/* Behind by more than a ring: the older ones were overwritten. Jump only to a head
		 * with records just below it (a scribbled head has none; nothing is counted, as a
		 * head whose last writers are still writing looks the same for a moment). */
		if (!explain_written_near(d, head))
			return 0;
		*cursor = head - d->lim.explain_slots;
	}
	for (n = *cursor; n < head && k < count; n++) {
		const struct dom_explain *e = &d->explain[n & (d->lim.explain_slots - 1)];
		struct dom_explain copy;
		/* [A16] pairs with [R16] in explain_write(): the record n is complete. */
		uint64_t s1 = pf_load_acquire(&e->seq), s2;

		if (s1 != 2 * n + 2)
			continue; /* not written yet, being rewritten, or overwritten */
		memcpy(&copy, e, sizeof(copy));
		/* [F17] pairs with [F16] in explain_write(): our copy is ordered before
		 * the second read of the sequence number. */
		pf_fence_acquire();
		/* Relaxed: ordered by [F17]. */
		s2 = pf_load_relaxed(&e->seq);
		if (s2 != s1)
			continue;
		explain_to_decision(&copy, &out[k]);
		if (ret_seqs != NULL)
			ret_seqs[k] = n;
		k++;
	}
	*cursor = n;
	return (int)k;
}

static uint32_t verdict_of(struct pf_sched *s, const struct admit *a, uint32_t slot,
			   const uint64_t caps[2], uint32_t vnode, uint32_t *ret_sm)
{
	struct sm probe;
	uint32_t why, i = s->slot_to_sm[slot];

	*ret_sm = UINT32_MAX;
	if (i == UINT32_MAX) {
		/* Not in the snapshot: say why from the slot as it is now. */
		(void)snapshot_one(s, slot, &probe, &why);
		return why == PF_SCHED_PLACED ? PF_SCHED_FILTER_STATE : why;
	}
	if (!sched_covers(s->sm[i].caps, caps))
		return PF_SCHED_FILTER_CAPS;
	*ret_sm = i;
	return sched_admit(s, a, vnode, &s->sm[i]);
}

PF_API int pf_sched_candidates(struct pf_sched *s, uint32_t vnode, struct pf_sched_candidate *out,
			       uint32_t count)
{
	struct dom_vnode *v;
	uint64_t caps[2];
	struct admit a;
	uint32_t n = 0, passed = 0, bound = 0;
	int r;

	if (s == NULL || vnode >= s->d->lim.vnodes_max || (out == NULL && count > 0))
		return -EINVAL;
	r = maybe_refresh(s);
	if (r < 0)
		return r;
	v = &s->d->vnodes[vnode];
	caps[0] = v->caps[0];
	caps[1] = v->caps[1];
	a = sched_admit_of(s, vnode, 0);
	for (uint32_t slot = 0; slot < s->d->lim.members_max; slot++) {
		/* [A5] pairs with [R5] in member.c. */
		uint64_t w = pf_load_acquire(&s->d->members[slot].state);
		struct pf_sched_candidate c;
		uint32_t i;

		if (member_word_state(w) == PF_MEMBER_FREE ||
		    (member_word_state(w) == PF_MEMBER_DEAD && (w & MEMBER_FLAG_REPAIRED)))
			continue;
		memset(&c, 0, sizeof(c));
		c.slot = slot;
		c.generation = member_word_gen(w);
		c.verdict = verdict_of(s, &a, slot, caps, vnode, &i);
		passed += c.verdict == PF_SCHED_PLACED;
		bound += c.verdict == PF_SCHED_FILTER_BOUND;
		c.node = -1;
		if (i != UINT32_MAX) {
			c.node = s->sm[i].node;
			c.score = s->sm[i].key * sched_numa_factor(s, s->sm[i].node, v->home_node);
		}
		if (n < count)
			out[n] = c;
		n++;
	}
	if (passed == 0 && bound > 0) {
		/* As a decision: with every member below its bound refused, the bound yields,
		 * and the members at it are judged by the other filters (no hook asked twice:
		 * the bound refused them before any). */
		a.flags |= ADMIT_BOUND_OFF;
		for (uint32_t k = 0; k < PF_MIN(n, count); k++)
			if (out[k].verdict == PF_SCHED_FILTER_BOUND)
				out[k].verdict = sched_admit(s, &a, vnode,
							     &s->sm[s->slot_to_sm[out[k].slot]]);
	}
	return (int)n;
}

/* SPDX-License-Identifier: MIT */
/*
 * core/rebalance.c: moving owned VNodes to better members, with their state.
 *
 * Two halves. The rebalancer (pf_sched_rebalance, one round per call, in any process
 * with a scheduler object) decides and writes move requests; the owner (a worker) acts on
 * them (pf_vnode_move_target, pf_vnode_handoff) because only the owner holds the state
 * and the inbox position. Nothing moves without the owner, so a move never races the
 * owner's own commits.
 *
 * Move request: one word per VNode (dom_vnode.move_req, core/layout.h)
 *   [63:32] the ownership epoch it applies to  [31:16] target generation (low 16 bits)
 *   [15:4] target slot  [0] valid
 * written by CAS, by a rebalancer, from any value that is not a valid request for the
 * current epoch. It is valid only while the ownership epoch is the one it names, so any
 * ownership change (release, repair, claim, an earlier handoff) makes it stale without
 * anyone clearing it: a stale request is ignored by both halves.
 *
 * Ownership     field      written by                          read by
 *               move_req   rebalancers (CAS), owner (clear)   owner, rebalancers
 *               own word   the hand-off transition (core/ownership.c)   everyone
 *
 * Ordering: move_req carries no data but itself, so it is relaxed throughout. Everything
 * the move publishes goes through the ownership word, as any placement does: the owner
 * commits its checkpoint, then the hand-off transition (own_handoff()) CASes
 * ACTIVE(owner, e) -> ACTIVE(target, e + 1), seals the checkpoint with e + 1 (older
 * commits are fenced out) and pushes the id into the target's assignment ring. If the
 * target is not ACTIVE (with the generation the request names), lacks a capability or has
 * no room in its ring, the owner releases to PENDING(e + 1) instead, and the scheduler
 * places it again; if the target dies just after the CAS, the transition takes it back to
 * PENDING(e + 2), as an undone placement.
 *
 * Messages: a move is a change of owner like any other, so the delivery contract holds
 * unchanged: the target starts reading at the inbox position of the last committed
 * checkpoint, and every message the old owner read without committing is received again
 * (the slots were never freed). Messages sent during the move wait in the inbox.
 *
 * One round:
 *   1. cool-down: no round within cooldown_ns of the last membership change
 *      (dom_control.membership_change_ns, set by domain_publish_membership()): a join or
 *      a death moves many VNodes at once through placement; a rebalance on top of that,
 *      against a membership that is still settling, would be a storm (-EAGAIN).
 *   2. refresh the scheduler's model and rebuild its assignment counts from the
 *      ownership words: a VNode with a pending request counts on its target, so rounds
 *      that follow each other before owners act do not request the same move twice.
 *   3. candidates: owned, ACTIVE, owned by an eligible member, no request pending;
 *      grouped by owner.
 *   4. pools: every bound of the round is judged, as placement judges it, against the pool
 *      of the VNode in hand: the eligible members that cover its capabilities, with what
 *      they hold (VNodes of any set) and their capacities, counted once by the scan (and
 *      followed by each move), and turned once into whole-VNode limits per member, so the
 *      order and the lift compare counts (a 128-bit product per member and pool, not per
 *      comparison). A member that alone can take some VNodes is at its share of those
 *      members, not above (1 + eps) x fair of all: it does not shed them to its peer,
 *      which would shed them back the next round.
 *      lift (heap strategies): in each pool, every member below fair / (1 + eps) of the
 *      pool (the bounded load of sched.h, unrounded) is given VNodes of the pool, one at a
 *      time, from the member furthest above its fair share (by VNodes per capacity) that
 *      holds one it may take, whatever the scores say: a newcomer, or a member whose
 *      preference the scores discount, is brought up to its share within a round or two
 *      rather than by the margin, which a load measured against capacity rarely beats.
 *      A donor gives only while it stays above fair / (1 + eps) itself.
 *   5. owners are then taken most loaded first: those above (1 + eps) x fair in the pool
 *      of one of their candidates first, by VNodes per capacity, then a min-heap of their
 *      score (or of their VNodes per capacity for consistent-hash), one VNode at a time, so
 *      the budget goes to the worst imbalance and no single owner sheds everything.
 *   6. target: the best member other than the owner by the same choose functions as
 *      placement (filters, NUMA factor, can-assign hook, room in its assignment ring,
 *      counting the requests already aimed at it). No move takes its target above
 *      (1 + eps) x fair in the VNode's pool, unrounded (placement allows the ceiling; the rest is
 * trimmed here), so no move makes an owner to shed. An owner above (1 + eps) x fair sheds to that
 * choice whatever the margin. Heap strategies: move when score(target) > score(owner without this
 * VNode) x (1 + gain_min), and the owner stays at or above fair / (1 + eps) (else the lift of the
 * next round would undo it). Comparing against the owner *without* the VNode is what a fresh
 * placement would compare, and the margin is the hysteresis: a VNode just moved cannot move back
 * unless loads changed by more than the margin (the inequalities chain: back-move needs score(old,
 * with) > score(new, without) x (1 + g), but score(old, with) < score(old, without) < score(new,
 * with) / (1 + g)). Consistent-hash: walk clockwise from the VNode's hash as placement does, past
 * members at their bound; stop at the owner (it is where the ring wants it: stay; an owner above
 * its bound walks on past itself) or at the first member with room (move there). Each move but a
 * shed goes strictly earlier in the VNode's own ring order, and a shed lands where no earlier
 * member has room, so moves cannot cycle, and a join moves about the newcomer's ring share.
 *   7. budget: min(moves_max, ceil(owned x moves_ppm / 10^6) - pending) requests per round
 *      (none when the requests still pending fill the fraction), lifts and sheds included;
 *      a candidate that would move past it is counted (skipped_budget) and left alone.
 *      The fraction bounds the VNodes in flight, not only those one round asks for: rounds
 *      that follow each other faster than owners act add nothing past it, so a caller may
 *      run them as often as earlier requests complete (pflightd does, while a round leaves
 *      work) without a storm. moves_max bounds each round on top of it; its default is the
 *      largest domain, so the fraction alone, which grows with the domain, sets the pace.
 *   8. each request updates the model at once (owner -1, target +1, heaps fixed), so one
 *      round never overshoots: the target's score drops as it is given VNodes.
 *
 * Cost: the scan is O(VNodes); each candidate costs one choose (O(heaps) compares, or a
 * short ring walk) and O(log members) for the order; each lift, a pass over the members
 * of its pool for its donor, until a refusal that holds for every VNode of the pool (the
 * target's ring is full) ends that target's lift. Memory: 12 bytes per VNode for the
 * round, freed at its end; VNodes of more than 256 capability sets wait for a round with
 * fewer. Control plane only; owners pay one relaxed load per check.
 *
 * Progress: the rebalancer is lock-free (CAS on move_req only); handoff is a bounded
 * sequence of CASes and one ring push (lock-free), like a claim.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/ownership.h"
#include "core/sched_impl.h"
#include "shm/fault.h"
#include "shm/pf_assert.h"

/* No absolute bound by default: the fraction bounds a round, and it scales with the domain.
 * 256, the first default, held a newcomer to 255 VNodes a round whatever the domain's size:
 * at 131,072 VNodes a second worker had 47,663 against the first's 83,409 after 37 s, and
 * a fifth among a million would have waited for hundreds of rounds. */
#define MOVES_MAX_DEFAULT PF_VNODES_MAX
/* 10% of the VNodes owned in flight: a newcomer among four is brought to its share in two
 * or three rounds whatever the domain's size, well inside the 5 s after which balance is
 * measured; 1%, the first default, took half a minute for 256 VNodes, longer than the
 * demo's churn leaves between two changes. */
#define MOVES_PPM_DEFAULT 100000u
#define COOLDOWN_NS_DEFAULT UINT64_C(200000000)
#define GAIN_PPM_DEFAULT 200000u
#define GAIN_PPM_MAX (100u * PF_PPM)
#define NONE UINT32_MAX
/* A round's targets: each is a hand-off's (the can-handoff hook is asked), of a VNode the
 * model counts already (the bound's total does not grow). */
#define ROUND_ADMIT (ADMIT_MOVING | ADMIT_HANDOFF)

/* A candidate is its pool's index and its id: pool << POOL_SHIFT | id. */
#define POOL_SHIFT 20u
#define ID_MASK ((1u << POOL_SHIFT) - 1)
#define POOLS_MAX 256u /* distinct requirement sets one round moves VNodes of */
#define POOL_HASH 512u /* pool_of()'s table: open addressing, at most half full */
_Static_assert(PF_VNODES_MAX <= (1u << POOL_SHIFT) && POOLS_MAX <= (1u << (32 - POOL_SHIFT)),
	       "a candidate's pool and id fit 32 bits");
_Static_assert(POOL_HASH == 1u << 9 && POOLS_MAX * 2 <= POOL_HASH, "pool_of() hashes to 9 bits");

enum outcome { OUT_MOVE, OUT_STAY, OUT_HYST, OUT_CAP, OUT_FULL, OUT_NONE };

/* The VNodes that need one set of capabilities, and the bound's pool for them (sched.h):
 * the eligible members that cover the set, with what they hold and their capacities, as
 * this round's scan counted them. Every bound of the round is judged against these. */
struct pool {
	uint64_t caps[2];
	uint64_t total;
	uint64_t capacity;
};

/* A member's standing in the pool being lifted, in whole VNodes (pool_limits()). */
struct limits {
	uint32_t in;   /* 1: it covers the pool's capabilities */
	uint32_t fair; /* the most it may hold and not be above its fair share */
	uint32_t lo;   /* the fewest and not be below fair / (1 + eps): it is lifted below */
};

struct round {
	struct pf_sched *s;
	struct pf_rebalance_report *rep;
	double gain;    /* 1 + gain_min */
	uint64_t *scan; /* candidates in id order: owner index << 32 | candidate */
	uint32_t nscan;
	uint32_t *cand;     /* candidates (pool << POOL_SHIFT | id) grouped by owner */
	uint32_t *start;    /* nsm + 1: owner i's are cand[start[i], start[i + 1]) */
	uint32_t *next;     /* owner i's next candidate */
	uint32_t *incoming; /* requests aimed at member i (not in its ring yet) */
	uint32_t *order;    /* min-heap of owners, most loaded on top */
	uint32_t *opos;     /* member i's position in order, NONE: not in it */
	uint32_t norder;
	uint32_t *shed_hi; /* the fewest VNodes that put member i above the bound of a pool
			    * of its candidates (UINT32_MAX: none): above it, it may shed */
	struct pool pools[POOLS_MAX];
	uint32_t npools;
	uint32_t last_pool;            /* the pool pool_of() found last */
	uint16_t pool_hash[POOL_HASH]; /* pool + 1 by its set's hash, 0: free */
	struct limits *lim;            /* lift: member i's standing in the pool lifted */
	uint32_t *lcur;  /* lift: owner i's first candidate of that pool may be here on */
	uint32_t *tried; /* lift: mark once member i had nothing the target may take */
	uint32_t mark;   /* lift: this target's mark */
};

PF_API void pf_rebalance_opts_init(struct pf_rebalance_opts *opts)
{
	PF_ASSERT(opts != NULL);
	memset(opts, 0, sizeof(*opts));
	opts->size = sizeof(*opts);
	opts->moves_max = MOVES_MAX_DEFAULT;
	opts->moves_ppm = MOVES_PPM_DEFAULT;
	opts->cooldown_ns = COOLDOWN_NS_DEFAULT;
	opts->gain_min_ppm = GAIN_PPM_DEFAULT;
}

static int opts_resolve(const struct pf_rebalance_opts *in, struct pf_rebalance_opts *out)
{
	pf_rebalance_opts_init(out);
	if (in == NULL)
		return 0;
	if (opts_copy(out, sizeof(*out), in, offsetof(struct pf_rebalance_opts, reserved0)) < 0)
		return -EINVAL;
	if ((out->flags & ~PF_REBALANCE_BUDGET_STOP) != 0 || out->moves_ppm > PF_PPM ||
	    out->gain_min_ppm > GAIN_PPM_MAX || out->reserved0 != 0)
		return -EINVAL;
	for (size_t i = 0; i < PF_ARRAY_SIZE(out->reserved); i++)
		if (out->reserved[i] != 0)
			return -EINVAL;
	return 0;
}

static int cooldown_check(struct pf_sched *s, const struct pf_rebalance_opts *o,
			  struct pf_rebalance_report *rep)
{
	/* Relaxed: a time (see domain_publish_membership()), nothing is published by it. */
	uint64_t last = pf_load_relaxed(&s->d->ctl->membership_change_ns), now = now_ns();

	if (o->cooldown_ns == 0 || now - last >= o->cooldown_ns)
		return 0;
	rep->cooldown_left_ns = o->cooldown_ns - (now - last);
	s->rb_refused++;
	return -EAGAIN;
}

/* Index into s->sm of the member a word (ownership or request) names; NONE if that
 * member is not eligible now (or not the generation named). */
static uint32_t member_index(const struct pf_sched *s, uint64_t w)
{
	uint32_t slot = own_slot(w), i;

	if (slot >= s->d->lim.members_max)
		return NONE;
	i = s->slot_to_sm[slot];
	if (i == NONE || (s->sm[i].gen & OWN_GEN_MASK) != own_gen(w))
		return NONE;
	return i;
}

static int round_init(struct round *rd, struct pf_sched *s, const struct pf_rebalance_opts *o,
		      struct pf_rebalance_report *rep)
{
	uint32_t n = s->nsm + 1;

	memset(rd, 0, sizeof(*rd));
	rd->s = s;
	rd->rep = rep;
	rd->gain = 1.0 + (double)o->gain_min_ppm / PF_PPM;
	rd->scan = malloc((size_t)s->d->lim.vnodes_max * sizeof(*rd->scan));
	rd->cand = malloc((size_t)s->d->lim.vnodes_max * sizeof(*rd->cand));
	rd->start = calloc(n, sizeof(*rd->start));
	rd->next = calloc(n, sizeof(*rd->next));
	rd->incoming = calloc(n, sizeof(*rd->incoming));
	rd->order = calloc(n, sizeof(*rd->order));
	rd->opos = malloc(n * sizeof(*rd->opos));
	rd->shed_hi = malloc(n * sizeof(*rd->shed_hi));
	rd->lim = calloc(n, sizeof(*rd->lim));
	rd->lcur = calloc(n, sizeof(*rd->lcur));
	rd->tried = calloc(n, sizeof(*rd->tried));
	if (rd->scan == NULL || rd->cand == NULL || rd->start == NULL || rd->next == NULL ||
	    rd->incoming == NULL || rd->order == NULL || rd->opos == NULL || rd->shed_hi == NULL ||
	    rd->lim == NULL || rd->lcur == NULL || rd->tried == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		rd->opos[i] = NONE;
	return 0;
}

static void round_fini(struct round *rd)
{
	free(rd->scan);
	free(rd->cand);
	free(rd->start);
	free(rd->next);
	free(rd->incoming);
	free(rd->order);
	free(rd->opos);
	free(rd->shed_hi);
	free(rd->lim);
	free(rd->lcur);
	free(rd->tried);
}

/* The pool of VNode id's requirements, taken into the round at its first candidate; NONE
 * once POOLS_MAX sets are in (its VNodes wait for a round with fewer). */
static uint32_t pool_of(struct round *rd, uint32_t id)
{
	const struct dom_vnode *v = &rd->s->d->vnodes[id];
	uint64_t caps[2] = {v->caps[0], v->caps[1]};
	uint32_t p = rd->last_pool, h;

	if (p < rd->npools && rd->pools[p].caps[0] == caps[0] && rd->pools[p].caps[1] == caps[1])
		return p; /* VNodes are mostly defined in ranges of one set */
	h = (uint32_t)(((caps[0] ^ caps[1] * UINT64_C(0x9e3779b97f4a7c15)) *
			UINT64_C(0xbf58476d1ce4e5b9)) >>
		       55); /* 9 bits: POOL_HASH */
	for (;; h = (h + 1) % POOL_HASH) {
		if (rd->pool_hash[h] == 0)
			break;
		p = rd->pool_hash[h] - 1u;
		if (rd->pools[p].caps[0] == caps[0] && rd->pools[p].caps[1] == caps[1]) {
			rd->last_pool = p;
			return p;
		}
	}
	if (rd->npools == POOLS_MAX)
		return NONE;
	p = rd->npools++;
	rd->pools[p].caps[0] = caps[0];
	rd->pools[p].caps[1] = caps[1];
	rd->pool_hash[h] = (uint16_t)(p + 1);
	rd->last_pool = p;
	return p;
}

/* Count every owned VNode on its owner, or on its target when a request is pending, and
 * collect the candidates. */
static void scan(struct round *rd)
{
	struct pf_sched *s = rd->s;
	struct pf_domain *d = s->d;

	for (uint32_t i = 0; i < s->nsm; i++)
		s->sm[i].assigned = 0;
	s->assigned_total = 0;
	for (uint32_t id = 0; id < d->lim.vnodes_max; id++) {
		/* Relaxed: a scan; each request re-reads the word, the owner's CAS decides. */
		uint64_t w = pf_load_relaxed(&d->own[id]), req;
		uint32_t x, t, p;

		if (!own_is_owned(w) || (x = member_index(s, w)) == NONE)
			continue; /* not owned, or by a member that is not eligible */
		rd->rep->owned++;
		s->assigned_total++;
		/* Relaxed: the same scan. */
		req = pf_load_relaxed(&d->vnodes[id].move_req);
		if (move_valid_for(req, own_epoch(w))) {
			rd->rep->pending++;
			t = member_index(s, req);
			t = t == NONE ? x : t; /* a dead target: it stays (or goes PENDING) */
			s->sm[t].assigned++;
			rd->incoming[t] += t != x;
			continue;
		}
		s->sm[x].assigned++;
		if (own_state(w) == PF_VNODE_ACTIVE && (p = pool_of(rd, id)) != NONE)
			rd->scan[rd->nscan++] = (uint64_t)x << 32 | p << POOL_SHIFT | id;
	}
}

/* Keys and heaps from the counts just taken; candidates grouped by owner. */
static void model_rebuild(struct round *rd)
{
	struct pf_sched *s = rd->s;

	for (uint32_t h = 0; h < s->nheaps; h++)
		s->heaps[h].count = 0;
	for (uint32_t i = 0; i < s->nsm; i++) {
		s->sm[i].key = sched_score_key(s, &s->sm[i]);
		sched_heap_insert(s, &s->heaps[s->sm[i].heap], i);
	}
	for (uint32_t k = 0; k < rd->nscan; k++)
		rd->start[(rd->scan[k] >> 32) + 1]++;
	for (uint32_t i = 0; i < s->nsm; i++) {
		rd->start[i + 1] += rd->start[i];
		rd->next[i] = rd->start[i];
	}
	for (uint32_t k = 0; k < rd->nscan; k++)
		rd->cand[rd->next[rd->scan[k] >> 32]++] = (uint32_t)rd->scan[k];
	for (uint32_t i = 0; i < s->nsm; i++)
		rd->next[i] = rd->start[i];
	for (uint32_t g = 0; g < s->ngroups; g++)
		s->groups[g].assigned = 0;
	for (uint32_t i = 0; i < s->nsm; i++)
		s->groups[s->sm[i].group].assigned += s->sm[i].assigned;
	sched_counts_reset(s); /* counts from the scan, which may be fewer */
}

/* What each pool's members hold and their capacities, from the counts just taken. */
static void pools_count(struct round *rd)
{
	const struct pf_sched *s = rd->s;

	for (uint32_t p = 0; p < rd->npools; p++) {
		struct pool *pl = &rd->pools[p];

		for (uint32_t g = 0; g < s->ngroups; g++) {
			if (!sched_covers(s->groups[g].caps, pl->caps))
				continue;
			pl->total += s->groups[g].assigned;
			pl->capacity += s->groups[g].capacity;
		}
		PF_ASSERT(pl->total <= s->assigned_total && pl->capacity <= s->cap_sum);
	}
}

/* The admission of a round's target for a VNode of pool p. */
static struct admit pool_admit(const struct pool *p)
{
	return (struct admit){
		.pool_total = p->total, .pool_cap = p->capacity, .flags = ROUND_ADMIT};
}

/* How m's VNodes, less `less`, times count_ppm compare with share_ppm times its fair
 * share in pool p (sched_share_cmp()). */
static int share(const struct pool *p, const struct sm *m, uint32_t less, uint64_t count_ppm,
		 uint64_t share_ppm)
{
	PF_ASSERT(m->assigned >= less);
	return sched_share_cmp(m->assigned - less, count_ppm, m->capacity, p->total, p->capacity,
			       share_ppm);
}

/* Above (1 + eps) x its fair share in p, unrounded: it sheds VNodes of p. */
static int over_bound(const struct pf_sched *s, const struct pool *p, const struct sm *m)
{
	return share(p, m, 0, PF_PPM, PF_PPM + s->eps_ppm) > 0;
}

/* Below fair / (1 + eps) in p with `less` VNodes fewer: it is lifted (or may not give). */
static int starving(const struct pf_sched *s, const struct pool *p, const struct sm *m,
		    uint32_t less)
{
	return share(p, m, less, PF_PPM + s->eps_ppm, PF_PPM) < 0;
}

/* The most VNodes c that m may hold with c x count_ppm <= share_ppm x its fair share in p
 * (sched_share_cmp() <= 0): a quotient estimated in floating point, made exact by the
 * comparison on each side (a step or none). */
static uint32_t count_max(const struct pool *p, const struct sm *m, uint64_t count_ppm,
			  uint64_t share_ppm)
{
	double est = (double)UINT32_MAX;
	uint64_t c;

	if (p->capacity > 0)
		est = (double)share_ppm * (double)p->total * m->capacity /
		      ((double)count_ppm * (double)p->capacity);
	c = est >= (double)UINT32_MAX ? UINT32_MAX : (uint64_t)est;
	while (c > 0 &&
	       sched_share_cmp(c, count_ppm, m->capacity, p->total, p->capacity, share_ppm) > 0)
		c--;
	while (c < UINT32_MAX && sched_share_cmp(c + 1, count_ppm, m->capacity, p->total,
						 p->capacity, share_ppm) <= 0)
		c++;
	return (uint32_t)c;
}

/* For the owners' order, once a round: each owner's least count above which it is over
 * the bound of the pool of one of its candidates. */
static void shed_limits(struct round *rd)
{
	const struct pf_sched *s = rd->s;
	uint32_t seen[POOLS_MAX];

	for (uint32_t p = 0; p < rd->npools; p++)
		seen[p] = NONE;
	for (uint32_t x = 0; x < s->nsm; x++) {
		rd->shed_hi[x] = UINT32_MAX;
		for (uint32_t k = rd->start[x]; k < rd->start[x + 1]; k++) {
			uint32_t p = rd->cand[k] >> POOL_SHIFT;

			if (seen[p] == x)
				continue;
			seen[p] = x;
			rd->shed_hi[x] =
				PF_MIN(rd->shed_hi[x], count_max(&rd->pools[p], &s->sm[x], PF_PPM,
								 PF_PPM + s->eps_ppm));
		}
	}
}

/* Above the bound of some pool of its candidates: it may shed. */
static int may_shed(const struct round *rd, uint32_t x)
{
	return rd->s->sm[x].assigned > rd->shed_hi[x];
}

/* The sign of VNodes per capacity of x minus that of y. */
static int fill_cmp(const struct sm *x, const struct sm *y)
{
	uint64_t a = (uint64_t)x->assigned * y->capacity, b = (uint64_t)y->assigned * x->capacity;

	return (a > b) - (a < b);
}

/* a before b: above its bound first (the fuller first), then more loaded (lower score; for
 * consistent-hash, fuller), then slot. */
static int more_loaded(const struct round *rd, uint32_t a, uint32_t b)
{
	const struct sm *x = &rd->s->sm[a], *y = &rd->s->sm[b];
	int over_x = may_shed(rd, a), over_y = may_shed(rd, b), c;

	if (over_x != over_y)
		return over_x;
	if (over_x || rd->s->strategy == PF_SCHED_CONSISTENT_HASH) {
		c = fill_cmp(x, y);
		if (c != 0)
			return c > 0;
	} else if (x->key != y->key) {
		return x->key < y->key;
	}
	return x->slot < y->slot;
}

static void order_set(struct round *rd, uint32_t pos, uint32_t m)
{
	rd->order[pos] = m;
	rd->opos[m] = pos;
}

static void order_up(struct round *rd, uint32_t pos)
{
	uint32_t m = rd->order[pos];

	while (pos > 0 && more_loaded(rd, m, rd->order[(pos - 1) / 2])) {
		order_set(rd, pos, rd->order[(pos - 1) / 2]);
		pos = (pos - 1) / 2;
	}
	order_set(rd, pos, m);
}

static void order_push(struct round *rd, uint32_t m)
{
	order_set(rd, rd->norder++, m);
	order_up(rd, rd->norder - 1);
}

static uint32_t order_pop(struct round *rd)
{
	uint32_t top = rd->order[0], pos = 0, m;

	PF_ASSERT(rd->norder > 0);
	rd->opos[top] = NONE;
	if (--rd->norder == 0)
		return top;
	m = rd->order[rd->norder];
	for (;;) {
		uint32_t c = 2 * pos + 1;

		if (c >= rd->norder)
			break;
		if (c + 1 < rd->norder && more_loaded(rd, rd->order[c + 1], rd->order[c]))
			c++;
		if (!more_loaded(rd, rd->order[c], m))
			break;
		order_set(rd, pos, rd->order[c]);
		pos = c;
	}
	order_set(rd, pos, m);
	return top;
}

/* Room in member t's assignment ring for the requests aimed at it, and one more. */
static int ring_room(const struct round *rd, uint32_t t)
{
	struct pf_domain *d = rd->s->d;

	return ring_mpmc_count(assign_ring(d, rd->s->sm[t].slot)) + rd->incoming[t] + 1 <
	       d->lim.assign_slots;
}

/* Heap strategies: the best other member, if it beats the owner by the margin (or the
 * owner sheds: above its bound). */
static enum outcome target_heaps(struct round *rd, const struct pool *p, uint32_t x, uint32_t id,
				 int shed, uint32_t *ret_t)
{
	struct pf_sched *s = rd->s;
	struct pf_sched_decision dec;
	struct removed rm = {.n = 0};
	struct sm *own = &s->sm[x];
	int32_t home = s->d->vnodes[id].home_node;
	struct req *q = sched_req_lookup(s, p->caps);
	struct admit a = pool_admit(p);
	double mine, theirs;
	uint32_t t;

	if (q == NULL)
		return OUT_NONE; /* no memory for the cache: leave it where it is */
	memset(&dec, 0, sizeof(dec));
	sched_heap_remove(s, &s->heaps[own->heap], own->heap_pos);
	t = sched_choose_heaps(s, &a, q, id, home, &dec, &rm);
	sched_heap_insert(s, &s->heaps[own->heap], x);
	if (t == NONE)
		return dec.filtered[PF_SCHED_FILTERED_BOUND] != 0 ? OUT_CAP : OUT_NONE;
	if (!ring_room(rd, t))
		return OUT_FULL;
	PF_ASSERT(t != x && own->assigned > 0);
	if (shed) {
		*ret_t = t;
		return OUT_MOVE;
	}
	if (starving(s, p, own, 1))
		return OUT_HYST; /* it would fall below its share: the next lift undoes it */
	own->assigned--;         /* the owner as it would be without this VNode */
	mine = sched_score_key(s, own) * sched_numa_factor(s, own->node, home);
	own->assigned++;
	theirs = s->sm[t].key * sched_numa_factor(s, s->sm[t].node, home);
	if (!(theirs > mine * rd->gain))
		return OUT_HYST;
	*ret_t = t;
	return OUT_MOVE;
}

/* Consistent-hash: the first member clockwise with room, unless the owner comes first
 * (an owner that sheds walks on past itself). */
static enum outcome target_chash(struct round *rd, const struct pool *p, uint32_t x, uint32_t id,
				 int shed, uint32_t *ret_t)
{
	struct pf_sched *s = rd->s;
	uint32_t first = sched_chash_first(s, id);
	struct admit a = pool_admit(p);
	enum outcome why = OUT_STAY;

	for (uint32_t k = 0; k < s->npoints; k++) {
		uint32_t m = s->points[(first + k) % s->npoints].member, admit;

		if (m == x && !shed)
			return why; /* the ring wants it here, or everything before is full */
		if (m == x || !sched_covers(s->sm[m].caps, p->caps))
			continue;
		admit = sched_admit(s, &a, id, &s->sm[m]);
		if (admit == PF_SCHED_FILTER_BOUND) {
			why = OUT_CAP;
			continue;
		}
		if (admit != PF_SCHED_PLACED || !ring_room(rd, m)) {
			why = why == OUT_STAY ? OUT_FULL : why;
			continue;
		}
		*ret_t = m;
		return OUT_MOVE;
	}
	return why == OUT_STAY ? OUT_NONE : why;
}

/* The request is written: the model counts the VNode on its target from now on. */
static void model_move(struct round *rd, uint32_t x, uint32_t t)
{
	struct pf_sched *s = rd->s;
	struct sm *from = &s->sm[x], *to = &s->sm[t];

	from->assigned--;
	to->assigned++;
	s->groups[from->group].assigned--;
	s->groups[to->group].assigned++;
	sched_counts_reset(s);
	/* The VNode's own pool covers both: its total stays. Another pool's counts what its
	 * members hold, of any set: it follows when only one of the two is in it. */
	for (uint32_t p = 0; p < rd->npools; p++) {
		struct pool *pl = &rd->pools[p];

		pl->total -= sched_covers(from->caps, pl->caps);
		pl->total += sched_covers(to->caps, pl->caps);
	}
	rd->incoming[t]++;
	from->key = sched_score_key(s, from); /* rises: fewer VNodes */
	sched_heap_up(s, &s->heaps[from->heap], from->heap_pos);
	to->key = sched_score_key(s, to); /* falls */
	sched_heap_down(s, &s->heaps[to->heap], to->heap_pos);
	if (rd->opos[t] != NONE)
		order_up(rd, rd->opos[t]); /* more loaded now: sooner */
}

/* The ownership word of candidate id, examined: 0 (and counted) when it is no longer
 * ACTIVE on owner x. */
static uint64_t examine(struct round *rd, uint32_t x, uint32_t id)
{
	/* Relaxed: re-validated by epoch; the owner's CAS decides whether it moves. */
	uint64_t w = pf_load_relaxed(&rd->s->d->own[id]);

	rd->rep->examined++;
	if (own_state(w) != PF_VNODE_ACTIVE || member_index(rd->s, w) != x) {
		rd->rep->skipped_race++;
		return 0;
	}
	return w;
}

int move_request(struct pf_domain *d, uint32_t id, uint64_t w, uint32_t slot, uint32_t gen)
{
	struct dom_vnode *v = &d->vnodes[id];
	/* Relaxed: the request is this one word; the owner validates it by epoch and target
	 * state, and the move itself is ordered by the ownership CAS. */
	uint64_t req = pf_load_relaxed(&v->move_req);

	PF_ASSERT(id < d->lim.vnodes_max && own_state(w) == PF_VNODE_ACTIVE);
	/* Relaxed CAS: the same one word. */
	if (move_valid_for(req, own_epoch(w)) ||
	    !pf_cas_relaxed(&v->move_req, &req, move_word(own_epoch(w), slot, gen)))
		return 0;
	member_wake(d, own_slot(w)); /* the owner may be waiting (core/wait.c) */
	return 1;
}

/* Write the request to move VNode id (ownership word w) from x to t: 1 when written. */
static int request(struct round *rd, uint32_t x, uint32_t id, uint64_t w, uint32_t t)
{
	struct pf_sched *s = rd->s;

	PF_ASSERT(x != t);
	if (!move_request(s->d, id, w, s->sm[t].slot, s->sm[t].gen)) {
		rd->rep->skipped_race++; /* another rebalancer asked first */
		return 0;
	}
	model_move(rd, x, t);
	rd->rep->requested++;
	return 1;
}

/* Look at one candidate of owner x, request its move if it should and may; 1 when it
 * should move but the budget is spent. */
static int consider(struct round *rd, uint32_t x, uint32_t c)
{
	struct pf_sched *s = rd->s;
	const struct pool *p = &rd->pools[c >> POOL_SHIFT];
	uint32_t id = c & ID_MASK, t = NONE;
	uint64_t w = examine(rd, x, id);
	enum outcome out;
	int shed;

	if (w == 0)
		return 0;
	shed = over_bound(s, p, &s->sm[x]);
	out = s->strategy == PF_SCHED_CONSISTENT_HASH ? target_chash(rd, p, x, id, shed, &t)
						      : target_heaps(rd, p, x, id, shed, &t);
	rd->rep->skipped_hysteresis += out == OUT_HYST;
	rd->rep->skipped_cap += out == OUT_CAP;
	rd->rep->skipped_full += out == OUT_FULL;
	rd->rep->no_target += out == OUT_NONE;
	if (out != OUT_MOVE)
		return 0;
	if (rd->rep->requested >= rd->rep->budget) {
		rd->rep->skipped_budget++;
		return 1;
	}
	rd->rep->over_bound += (uint32_t)(request(rd, x, id, w, t) && shed);
	return 0;
}

/* Every member's standing in pool p, for lift(): 1 when one of them starves. */
static int pool_limits(struct round *rd, uint32_t p)
{
	const struct pf_sched *s = rd->s;
	const struct pool *pl = &rd->pools[p];
	int starves = 0;

	for (uint32_t i = 0; i < s->nsm; i++) {
		struct limits *l = &rd->lim[i];
		uint32_t c;

		l->in = sched_covers(s->sm[i].caps, pl->caps);
		if (!l->in)
			continue;
		l->fair = count_max(pl, &s->sm[i], PF_PPM, PF_PPM);
		/* lo: the fewest not below fair / (1 + eps), past the most that are. */
		c = count_max(pl, &s->sm[i], PF_PPM + s->eps_ppm, PF_PPM);
		l->lo = c +
			(c < UINT32_MAX &&
			 starving(s, pl, &(struct sm){.assigned = c, .capacity = s->sm[i].capacity},
				  0));
		starves |= s->sm[i].assigned < l->lo;
		rd->lcur[i] = rd->next[i];
	}
	return starves;
}

/* Whether owner x has a candidate of pool p left; rd->lcur[x] moves on to it. */
static int has_left(struct round *rd, uint32_t p, uint32_t x)
{
	while (rd->lcur[x] < rd->start[x + 1] && rd->cand[rd->lcur[x]] >> POOL_SHIFT != p)
		rd->lcur[x]++;
	return rd->lcur[x] < rd->start[x + 1];
}

/* The lift's donor for starving member t in pool p: of the pool's members above their
 * fair share that stay at or above fair / (1 + eps) without one more VNode and hold a
 * candidate of the pool not yet found useless to t, the fullest (VNodes per capacity);
 * NONE when there is none. */
static uint32_t donor_for(struct round *rd, uint32_t p, uint32_t t)
{
	const struct pf_sched *s = rd->s;
	uint32_t best = NONE;

	for (uint32_t x = 0; x < s->nsm; x++) {
		const struct sm *m = &s->sm[x];
		const struct limits *l = &rd->lim[x];

		if (x == t || !l->in || rd->tried[x] == rd->mark || m->assigned <= l->fair ||
		    m->assigned - 1 < l->lo || !has_left(rd, p, x))
			continue;
		if (best == NONE || fill_cmp(m, &s->sm[best]) > 0)
			best = x;
	}
	return best;
}

/* Of donor x's candidates of pool p, the first member t may take, put first among those
 * left (rd->cand[rd->next[x]]); NONE when t may take none of them, and in *ret_why the
 * filter that refused the last. */
static uint32_t usable_for(struct round *rd, uint32_t p, uint32_t x, uint32_t t, uint32_t *ret_why)
{
	struct pf_sched *s = rd->s;
	struct admit a = pool_admit(&rd->pools[p]);

	*ret_why = PF_SCHED_FILTER_POLICY;
	for (uint32_t k = rd->lcur[x]; k < rd->start[x + 1]; k++) {
		uint32_t c = rd->cand[k], why;

		if (c >> POOL_SHIFT != p)
			continue;
		why = sched_admit(s, &a, c & ID_MASK, &s->sm[t]);
		if (why == PF_SCHED_PLACED && !ring_room(rd, t))
			why = PF_SCHED_FILTER_FULL;
		if (why != PF_SCHED_PLACED) {
			*ret_why = why;
			if (why == PF_SCHED_FILTER_POLICY)
				continue; /* the hook judges each VNode */
			return NONE;      /* its bound in the pool, or its ring: any VNode */
		}
		rd->cand[k] = rd->cand[rd->next[x]];
		rd->cand[rd->next[x]] = c;
		return c & ID_MASK;
	}
	return NONE;
}

/* Move one VNode of pool p to starving member t from its donor. 1 when requested, 0 when
 * no donor has one it may take, -1 when the budget is spent. */
static int lift_one(struct round *rd, uint32_t p, uint32_t t)
{
	uint32_t x, id, why;

	while ((x = donor_for(rd, p, t)) != NONE) {
		uint64_t w;

		id = usable_for(rd, p, x, t, &why);
		if (id == NONE) {
			if (why != PF_SCHED_FILTER_POLICY)
				return 0; /* t takes nothing of this pool now */
			rd->tried[x] = rd->mark;
			continue;
		}
		if (rd->rep->requested >= rd->rep->budget) {
			rd->rep->skipped_budget++;
			return -1;
		}
		rd->next[x]++; /* taken from the owner's candidates: the main pass skips it */
		rd->lcur[x] = PF_MAX_OF(rd->lcur[x], rd->next[x]);
		w = examine(rd, x, id);
		if (w != 0 && request(rd, x, id, w, t)) {
			rd->rep->lifted++;
			return 1;
		}
	}
	return 0;
}

/* Heap strategies: in each pool, bring every member below fair / (1 + eps) up, whatever
 * the scores, with VNodes of that pool. -1 when the budget ran out, else 0. */
static int lift(struct round *rd)
{
	struct pf_sched *s = rd->s;

	if (s->strategy == PF_SCHED_CONSISTENT_HASH)
		return 0; /* its ring lifts a member through its points (sched.h) */
	for (uint32_t p = 0; p < rd->npools; p++) {
		if (!pool_limits(rd, p))
			continue;
		for (uint32_t t = 0; t < s->nsm; t++) {
			int r = 1;

			if (!rd->lim[t].in)
				continue;
			rd->mark++;
			while (r == 1 && s->sm[t].assigned < rd->lim[t].lo)
				r = lift_one(rd, p, t);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

/*
 * Heap strategies: 1 when no candidate of owner x, nor of any owner after it, can move.
 * A move needs score(target) > score(owner without the VNode) x gain. Every target's score
 * is at most the best heap top (NUMA factors are at most 1; without a topology all are 1),
 * removing a VNode never lowers a score, and owners come out of the order least score
 * first; so once the best top is no more than score(x) x gain, every remaining candidate
 * would end in hysteresis (or find no target): the rest of the round would examine them
 * one by one to move nothing. This is what keeps a round over a settled domain at the cost
 * of its scan, not of a choose per VNode. Not with a NUMA topology (an owner's own factor
 * may be below 1) nor for consistent-hash (its moves do not compare scores).
 */
static int nothing_to_gain(const struct round *rd, uint32_t x)
{
	const struct pf_sched *s = rd->s;
	double best = 0;

	if (s->strategy == PF_SCHED_CONSISTENT_HASH || s->o.numa != NULL || may_shed(rd, x))
		return 0;
	for (uint32_t h = 0; h < s->nheaps; h++)
		if (s->heaps[h].count > 0)
			best = fmax(best, s->sm[s->heaps[h].items[0]].key);
	return !(best > s->sm[x].key * rd->gain);
}

/* The candidates left to owner x (popped) and to the owners still in the order. */
static uint32_t candidates_left(const struct round *rd, uint32_t x)
{
	uint32_t n = rd->start[x + 1] - rd->next[x];

	for (uint32_t k = 0; k < rd->norder; k++)
		n += rd->start[rd->order[k] + 1] - rd->next[rd->order[k]];
	return n;
}

/* Point 7: the moves this round may ask, the fraction counting those in flight. */
static uint32_t round_budget(const struct pf_rebalance_report *rep,
			     const struct pf_rebalance_opts *o)
{
	uint64_t relative = ((uint64_t)rep->owned * o->moves_ppm + PF_PPM - 1) / PF_PPM;

	PF_ASSERT(rep->pending <= rep->owned && o->moves_ppm <= PF_PPM);
	relative = relative > rep->pending ? relative - rep->pending : 0;
	PF_ASSERT(relative <= rep->owned);
	return (uint32_t)PF_MIN(relative, (uint64_t)o->moves_max);
}

static void round_run(struct round *rd, const struct pf_rebalance_opts *o)
{
	rd->rep->budget = round_budget(rd->rep, o);
	if (lift(rd) < 0 && (o->flags & PF_REBALANCE_BUDGET_STOP) != 0)
		return;
	for (uint32_t i = 0; i < rd->s->nsm; i++)
		if (rd->next[i] < rd->start[i + 1])
			order_push(rd, i);
	while (rd->norder > 0) {
		uint32_t x = order_pop(rd);

		if (nothing_to_gain(rd, x)) {
			uint32_t left = candidates_left(rd, x);

			rd->rep->examined += left; /* examined at once: each would stay */
			rd->rep->skipped_hysteresis += left;
			break;
		}
		if (consider(rd, x, rd->cand[rd->next[x]++]) &&
		    (o->flags & PF_REBALANCE_BUDGET_STOP) != 0)
			break;
		if (rd->next[x] < rd->start[x + 1])
			order_push(rd, x);
	}
}

PF_API int pf_sched_rebalance(struct pf_sched *s, const struct pf_rebalance_opts *opts,
			      struct pf_rebalance_report *out)
{
	struct pf_rebalance_report local, *rep = out != NULL ? out : &local;
	struct pf_rebalance_opts o;
	struct round rd;
	int r;

	if (s == NULL || (out != NULL && out->size < sizeof(*out)))
		return -EINVAL;
	r = opts_resolve(opts, &o);
	if (r < 0)
		return r;
	memset(rep, 0, sizeof(*rep));
	rep->size = sizeof(*rep);
	r = cooldown_check(s, &o, rep);
	if (r == 0)
		r = pf_sched_refresh(s);
	if (r == 0) {
		rep->strategy = s->strategy;
		r = round_init(&rd, s, &o, rep);
		if (r == 0) {
			scan(&rd);
			model_rebuild(&rd);
			pools_count(&rd);
			shed_limits(&rd);
			round_run(&rd, &o);
			s->rb_rounds++;
		}
		round_fini(&rd);
	}
	rep->rounds = s->rb_rounds;
	rep->rounds_refused = s->rb_refused;
	return r < 0 ? r : (int)rep->requested;
}

/* Why member slot may not take vnode (PF_SCHED_PLACED: it may), in the order of the
 * placement filters (the bound as a placement sees it); *ret_m is its index in the model
 * when it passes the state filter. */
static uint32_t migrate_filter(struct pf_sched *s, uint32_t vnode, uint32_t slot, uint32_t *ret_m)
{
	const struct dom_vnode *v = &s->d->vnodes[vnode];
	uint64_t caps[2] = {v->caps[0], v->caps[1]};
	struct pf_member_info mi = {.size = sizeof(mi)};
	uint32_t m = s->slot_to_sm[slot];
	struct admit a;

	*ret_m = m;
	if (m == NONE) {
		if (pf_member_info(s->d, slot, &mi) == 0 && mi.state == PF_MEMBER_ACTIVE)
			return PF_SCHED_FILTER_TRUST; /* ACTIVE, left out of the model: the floor */
		return PF_SCHED_FILTER_STATE;
	}
	if (!sched_covers(s->sm[m].caps, caps))
		return PF_SCHED_FILTER_CAPS;
	a = sched_admit_of(s, vnode, ADMIT_HANDOFF);
	return sched_admit(s, &a, vnode, &s->sm[m]);
}

static void migrate_explain(const struct pf_sched *s, uint32_t vnode, uint32_t m, uint32_t why,
			    uint64_t w, struct pf_sched_decision *dec)
{
	uint32_t size = dec->size, filter = sched_filter_index(why);

	memset(dec, 0, sizeof(*dec));
	dec->size = size;
	dec->vnode = vnode;
	dec->reason = why;
	dec->strategy = s->strategy;
	dec->winner_slot = UINT32_MAX;
	dec->winner_node = -1;
	dec->epoch = own_epoch(w) + 1u;
	dec->candidates = 1;
	dec->home_node = s->d->vnodes[vnode].home_node;
	if (why == PF_SCHED_PLACED)
		sched_decision_fill(s, dec, m, dec->home_node);
	else if (filter != UINT32_MAX)
		dec->filtered[filter] = 1;
}

PF_API int pf_sched_migrate(struct pf_sched *s, uint32_t vnode, uint32_t slot,
			    struct pf_sched_decision *decision)
{
	struct pf_sched_decision local = {.size = sizeof(local)};
	struct pf_sched_decision *dec = decision != NULL ? decision : &local;
	uint64_t w;
	uint32_t m, why;
	int r;

	if (s == NULL || vnode >= s->d->lim.vnodes_max || slot >= s->d->lim.members_max ||
	    dec->size < sizeof(*dec))
		return -EINVAL;
	r = pf_sched_refresh(s);
	if (r < 0)
		return r;
	/* Relaxed: re-validated by the epoch the request names; the owner's CAS decides. */
	w = pf_load_relaxed(&s->d->own[vnode]);
	if (own_state(w) != PF_VNODE_ACTIVE)
		return -ENOENT;
	/* [A5] pairs with [R5] in member.c: the generation now in the owner's slot. */
	if (own_slot(w) == slot && (member_word_gen(pf_load_acquire(&s->d->members[slot].state)) &
				    OWN_GEN_MASK) == own_gen(w))
		return -EALREADY;
	why = migrate_filter(s, vnode, slot, &m);
	migrate_explain(s, vnode, m, why, w, dec);
	if (why == PF_SCHED_FILTER_STATE)
		return -ESRCH;
	if (why != PF_SCHED_PLACED)
		return -EPERM;
	if (!move_request(s->d, vnode, w, slot, s->sm[m].gen))
		return -EBUSY;
	sched_model_add(s, m);
	PF_ASSERT(s->sm[m].slot == slot);
	return 0;
}

PF_API int pf_vnode_move_target(const struct pf_vnode *h, uint32_t *ret_slot)
{
	uint64_t req;

	if (h == NULL)
		return -EINVAL;
	/* Relaxed: one self-contained word; pf_vnode_handoff() validates what it names and
	 * orders the move through the ownership CAS. */
	req = pf_load_relaxed(&h->member->d->vnodes[h->id].move_req);
	if (!move_valid_for(req, h->epoch))
		return 0;
	if (ret_slot != NULL)
		*ret_slot = own_slot(req);
	return 1;
}

/* 1 when the member a request names can take VNode id now (a hint: re-checked after the
 * ownership CAS, as a claim does). */
static int target_usable(struct pf_domain *d, uint32_t id, uint64_t req)
{
	uint32_t slot = own_slot(req);
	struct dom_member *rec;
	uint64_t st, have[2];

	if (slot >= d->lim.members_max) {
		counter_add(d, PF_COUNTER_SHM_INVALID, 1);
		return 0;
	}
	rec = &d->members[slot];
	/* [A5] pairs with [R5] in member.c: the capabilities read below are the member's. */
	st = pf_load_acquire(&rec->state);
	if (member_word_state(st) != PF_MEMBER_ACTIVE ||
	    (member_word_gen(st) & OWN_GEN_MASK) != own_gen(req))
		return 0;
	/* Relaxed: identity of the generation acquired above. */
	have[0] = pf_load_relaxed(&rec->caps[0]);
	have[1] = pf_load_relaxed(&rec->caps[1]);
	if (!sched_covers(have, d->vnodes[id].caps))
		return 0;
	return ring_mpmc_count(assign_ring(d, slot)) + 1 < d->lim.assign_slots;
}

PF_API int pf_vnode_handoff(struct pf_vnode *h)
{
	struct pf_domain *d;
	struct pf_member *m;
	uint64_t req, w;
	int r;

	if (h == NULL)
		return -EINVAL;
	m = h->member;
	d = m->d;
	/* Relaxed: as in pf_vnode_move_target(). */
	req = pf_load_relaxed(&d->vnodes[h->id].move_req);
	if (!move_valid_for(req, h->epoch))
		return -ENOENT;
	if (!handle_owns(h, &w))
		r = -ESTALE;
	else if (!target_usable(d, h->id, req))
		r = own_release(d, h->id, w, OWN_RELEASE_PUBLISH) == 1 ? 1 : -ESTALE;
	else {
		PF_FAULT_POINT(HANDOFF_BEFORE_CAS); /* the word may change here: the CAS decides */
		r = own_handoff(d, h->id, w, own_slot(req), own_gen(req));
	}
	/* Relaxed: housekeeping; a request for an older epoch is ignored anyway. */
	(void)pf_cas_relaxed(&d->vnodes[h->id].move_req, &req, 0);
	if (r == -ESTALE)
		counter_add(d, PF_COUNTER_STALE_REFUSED, 1);
	handle_unlink(h);
	return r;
}

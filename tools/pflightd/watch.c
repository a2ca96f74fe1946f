/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/watch.c: the ownership watcher.
 *
 * Placements made by a scheduler are recorded from their explanations; every other
 * ownership change is not announced anywhere: a worker claiming a VNode itself, a
 * hand-off to another member (a rebalancing or drain move), a release back to PENDING
 * (by the owner, by its leave, by the repair after its death, at a drain deadline), the
 * definition of a new VNode. The watcher finds them by reading the VNode table through
 * the public API, a bounded chunk per auditor pass, and appends one record about the
 * VNode (so its lineage links it) for each change:
 *
 *   define   UNASSIGNED -> PENDING                      {"epoch"}
 *   claim    PENDING -> owned, with no placement record for that epoch
 *   move     owned by A -> owned by B                   {"from","to","why"}
 *   release  owned -> PENDING                           {"from","reason"}
 * each with from/to epochs and `skipped`, the changes that happened between two looks at
 * the VNode and were not seen: they are counted, never invented. A release says why when
 * the old owner's slot tells: DEAD (or remembered dead) -> owner_died, DRAINING or RETIRED
 * (or remembered draining) -> drain_release, the same owner still ACTIVE -> released, gone
 * (FREE, another generation) -> owner_left. A move is `drain` when its owner was draining,
 * `request` when it is still ACTIVE and nothing was skipped (a rebalancing round or an
 * operator's migrate asked; pflight migrate's own migrate_request record says which),
 * else `unknown`; a claim by the owner it had before says `reclaimed`.
 * The member memory behind "remembered" is refreshed whenever the membership version moves
 * (a cordon, a death and a leave all publish), so a drain that ended before we looked at
 * its VNodes still shows as one.
 *
 * State per VNode (struct watch_vnode): the state, owner and epoch the log last knew,
 * i.e. of the last record about it, or as taken at start. The state a scan has seen and
 * not recorded yet lives in the settle queue (below); otherwise seen == recorded, and a
 * placement recorded from its explanation makes its epoch the recorded one (watch_placed),
 * so the scan that meets it finds nothing new. Epochs only grow in a lineage: a record is
 * written only for an epoch above the last one recorded, and the auditor reads
 * explanations before each scan.
 *
 * No double record: a scheduler CASes ownership first and writes the explanation after, so
 * a scan can meet a placed VNode before its explanation is readable. A change into an
 * owned state that a placement could explain (from PENDING, or skipping epochs) is
 * therefore parked in a FIFO for WATCH_SETTLE_NS; a placement explanation read meanwhile
 * records it (and anything the parked observation saw before it), else it becomes a claim.
 * An explanation read after its epoch was recorded goes outside the lineage
 * (`placement_late`), and one made before start is part of the state taken as seen.
 *
 * Cost: the scan is one pf_vnode_info and a 12-byte compare per VNode (bench_watch gives
 * the figure against a plain pf_vnode_info loop); chunks of WATCH_BUDGET at most every
 * WATCH_CHUNK_NS, a new sweep at most every WATCH_SWEEP_NS (the reasons are in watch.h).
 * Memory: 12 bytes per VNode, 8 per member slot and the settle queue, all allocated by
 * watch_init(); nothing is allocated afterwards.
 *
 * Start: the current state is taken as seen: a restarted daemon records only what changes
 * after it started (daemon_start says how many VNodes were defined and owned then).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/pflightd/watch.h"

#define WATCH_F_DEFERRED 0x1u /* an observation of it waits in the settle queue */
#define WATCH_F_BASELINE 0x2u /* nothing recorded since start: the entry is the start state */
#define DETAILS_BYTES 256     /* the largest details object built here, with room to spare */
#define NAME_BYTES 24         /* "slot.generation" */

_Static_assert(sizeof(struct watch_vnode) == 12, "12 bytes per VNode");
_Static_assert(PF_MEMBERS_MAX <= WATCH_NO_SLOT, "a member slot fits 16 bits");

enum fate {
	FATE_LIVE,     /* same generation, ACTIVE or JOINING */
	FATE_DRAINING, /* same generation, DRAINING or RETIRED now, or seen draining */
	FATE_DIED,     /* same generation, DEAD now or seen dead */
	FATE_LEFT,     /* the slot is free or holds another generation */
};

static int is_owned(uint32_t state)
{
	return state == PF_VNODE_ACTIVE || state == PF_VNODE_MIGRATING ||
	       state == PF_VNODE_DRAINING;
}

static void obs_from_info(struct watch_obs *o, const struct pf_vnode_info *vi)
{
	memset(o, 0, sizeof(*o));
	o->vnode = vi->id;
	o->epoch = (uint32_t)vi->epoch;
	o->state = (uint8_t)vi->state;
	o->slot = is_owned(vi->state) && vi->owner_slot < WATCH_NO_SLOT ? (uint16_t)vi->owner_slot
									: WATCH_NO_SLOT;
	o->gen = o->slot != WATCH_NO_SLOT ? (uint16_t)vi->owner_generation : 0;
}

/* Remember what slot `slot` holds now (mi: its info, or NULL when FREE). */
static void member_note(struct watch *w, uint32_t slot, const struct pf_member_info *mi)
{
	struct watch_member *m = &w->m[slot];

	if (mi == NULL)
		return; /* FREE: keep what we knew of the last generation */
	if (mi->generation != m->gen)
		memset(m, 0, sizeof(*m));
	m->gen = mi->generation;
	m->drained |= mi->state == PF_MEMBER_DRAINING || mi->state == PF_MEMBER_RETIRED;
	m->died |= mi->state == PF_MEMBER_DEAD;
}

static void members_refresh(struct watch *w)
{
	struct pf_member_info mi = {.size = sizeof(mi)};

	for (uint32_t slot = 0; slot < w->members_max; slot++)
		member_note(w, slot, pf_member_info(w->domain, slot, &mi) == 0 ? &mi : NULL);
}

/* What became of owner slot.gen (gen: low 16 bits), from its slot now and our memory. */
static enum fate owner_fate(struct watch *w, uint32_t slot, uint32_t gen)
{
	struct pf_member_info mi = {.size = sizeof(mi)};
	const struct watch_member *m;

	if (slot >= w->members_max)
		return FATE_LEFT;
	m = &w->m[slot];
	if (pf_member_info(w->domain, slot, &mi) == 0) {
		member_note(w, slot, &mi);
		if ((mi.generation & 0xffffu) == gen && mi.state == PF_MEMBER_DEAD)
			return FATE_DIED;
		if ((mi.generation & 0xffffu) == gen &&
		    (mi.state == PF_MEMBER_DRAINING || mi.state == PF_MEMBER_RETIRED))
			return FATE_DRAINING;
		if ((mi.generation & 0xffffu) == gen && !m->died && !m->drained)
			return FATE_LIVE;
	}
	if ((m->gen & 0xffffu) != gen)
		return FATE_LEFT;
	return m->died ? FATE_DIED : m->drained ? FATE_DRAINING : FATE_LEFT;
}

/* "slot.generation", with the full generation when our memory of the slot has it. */
static void member_name(const struct watch *w, uint32_t slot, uint32_t gen, char *buf)
{
	if (slot < w->members_max && (w->m[slot].gen & 0xffffu) == gen)
		gen = w->m[slot].gen;
	(void)snprintf(buf, NAME_BYTES, "%u.%u", slot, gen);
}

static uint32_t skipped_of(uint32_t from_epoch, uint32_t to_epoch, uint32_t delta)
{
	return to_epoch - from_epoch > delta ? to_epoch - from_epoch - delta : 0;
}

/* Append; on success the entry becomes the recorded state o. */
static int put(struct watch *w, const char *event, uint32_t id, const char *details,
	       const char *shared, const struct watch_obs *o, uint32_t skipped)
{
	struct watch_rec rec = {.event = event,
				.vnode = id,
				.epoch = o->epoch,
				.details = details,
				.shared = shared};
	struct watch_vnode *e = &w->v[id];

	if (w->record(w->arg, &rec) < 0)
		return 0;
	e->epoch = o->epoch;
	e->state = o->state;
	e->slot = o->slot;
	e->gen = o->gen;
	e->flags &= (uint8_t)~WATCH_F_BASELINE;
	w->records++;
	w->epochs_unseen += skipped;
	return 1;
}

static int record_define(struct watch *w, uint32_t id)
{
	const struct watch_vnode *e = &w->v[id];
	struct watch_obs o = {.vnode = id, .epoch = e->epoch, .state = PF_VNODE_PENDING};
	char details[DETAILS_BYTES];

	o.slot = WATCH_NO_SLOT;
	(void)snprintf(details, sizeof(details), "{\"state\":\"pending\",\"epoch\":%u}", e->epoch);
	return put(w, "define", id, details, "{\"state\":\"pending\"}", &o, 0);
}

static int record_release(struct watch *w, uint32_t id, const struct watch_obs *o)
{
	static const char *const reasons[] = {"released", "drain_release", "owner_died",
					      "owner_left"};
	const struct watch_vnode *e = &w->v[id];
	uint32_t skipped = skipped_of(e->epoch, o->epoch, 1);
	char details[DETAILS_BYTES], shared[DETAILS_BYTES], from[NAME_BYTES];
	enum fate f = owner_fate(w, e->slot, e->gen);

	member_name(w, e->slot, e->gen, from);
	(void)snprintf(shared, sizeof(shared), "{\"from\":\"%s\",\"reason\":\"%s\"}", from,
		       reasons[f]);
	(void)snprintf(details, sizeof(details),
		       "{\"from\":\"%s\",\"reason\":\"%s\",\"from_epoch\":%u,\"to_epoch\":%u,"
		       "\"skipped\":%u}",
		       from, reasons[f], e->epoch, o->epoch, skipped);
	return put(w, "release", id, details, shared, o, skipped);
}

/* Why a move happened: only a rebalancing round or a drain asks for one. With changes
 * unseen in between, a still ACTIVE owner proves nothing (it may have released it). */
static const char *move_why(enum fate f, uint32_t skipped)
{
	if (f == FATE_DRAINING)
		return "drain";
	return f == FATE_LIVE && skipped == 0 ? "request" : "unknown";
}

/* owned -> owned: a move when the owner changed, a claim (again) when it did not. */
static int record_owned(struct watch *w, uint32_t id, const struct watch_obs *o)
{
	const struct watch_vnode *e = &w->v[id];
	uint32_t skipped = skipped_of(e->epoch, o->epoch, 1);
	char details[DETAILS_BYTES], shared[DETAILS_BYTES], from[NAME_BYTES], to[NAME_BYTES];
	int moved = e->slot != o->slot || e->gen != o->gen;
	const char *why = moved ? move_why(owner_fate(w, e->slot, e->gen), skipped) : "reclaimed";

	member_name(w, e->slot, e->gen, from);
	member_name(w, o->slot, o->gen, to);
	(void)snprintf(shared, sizeof(shared), "{\"from\":\"%s\",\"to\":\"%s\",\"why\":\"%s\"}",
		       from, to, why);
	(void)snprintf(details, sizeof(details),
		       "{\"from\":\"%s\",\"to\":\"%s\",\"why\":\"%s\",\"from_epoch\":%u,"
		       "\"to_epoch\":%u,\"skipped\":%u}",
		       from, to, why, e->epoch, o->epoch, skipped);
	return put(w, moved ? "move" : "claim", id, details, shared, o, skipped);
}

static int record_claim(struct watch *w, uint32_t id, const struct watch_obs *o)
{
	const struct watch_vnode *e = &w->v[id];
	uint32_t skipped = skipped_of(e->epoch, o->epoch, 1);
	char details[DETAILS_BYTES], shared[DETAILS_BYTES], to[NAME_BYTES];

	if (is_owned(e->state))
		return record_owned(w, id, o);
	member_name(w, o->slot, o->gen, to);
	(void)snprintf(shared, sizeof(shared), "{\"to\":\"%s\"}", to);
	(void)snprintf(details, sizeof(details),
		       "{\"to\":\"%s\",\"from_epoch\":%u,\"to_epoch\":%u,\"skipped\":%u}", to,
		       e->epoch, o->epoch, skipped);
	return put(w, "claim", id, details, shared, o, skipped);
}

/* Park o until it settles. 0, or -ENOSPC (the queue is full: look again next sweep). */
static int defer(struct watch *w, const struct watch_obs *o, uint64_t now)
{
	struct watch_obs *slot;

	if (w->q_count == WATCH_DEFER_MAX) {
		w->defer_full++;
		return -ENOSPC;
	}
	slot = &w->q[(w->q_head + w->q_count) % WATCH_DEFER_MAX];
	*slot = *o;
	slot->due_ns = now + w->settle_ns;
	w->q_count++;
	w->v[o->vnode].flags |= WATCH_F_DEFERRED;
	w->deferred++;
	return 0;
}

/* Record what changed between the log's last knowledge of o->vnode and o. Unless settled, a
 * change into an owned state that a placement could explain is parked first. */
static int observe(struct watch *w, const struct watch_obs *o, uint64_t now, int settled)
{
	struct watch_vnode *e = &w->v[o->vnode];
	int n = 0;

	if (o->epoch < e->epoch || (o->epoch == e->epoch && is_owned(o->state) &&
				    (e->slot != o->slot || e->gen != o->gen))) {
		w->anomalies++; /* not a correct writer's history: take it as seen */
		e->epoch = o->epoch;
		e->state = o->state;
		e->slot = o->slot;
		e->gen = o->gen;
		return 0;
	}
	if (e->state == PF_VNODE_UNASSIGNED && o->state != PF_VNODE_UNASSIGNED) {
		n = record_define(w, o->vnode);
		if (n == 0)
			return 0;
	}
	if (o->epoch == e->epoch) {
		if (is_owned(e->state) && is_owned(o->state))
			e->state = o->state; /* ACTIVE <-> MIGRATING, DRAINING: same owner */
		return n;
	}
	if (!is_owned(o->state)) /* PENDING again: a release, or changes we did not see */
		return n + (is_owned(e->state) ? record_release(w, o->vnode, o) : 0);
	if (!settled && (!is_owned(e->state) || o->epoch > e->epoch + 1)) {
		(void)defer(w, o, now); /* when full, the next sweep looks again */
		return n;
	}
	return n + record_claim(w, o->vnode, o);
}

/* Record the parked observations that are due. */
static int settle_due(struct watch *w, uint64_t now, int all)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	uint32_t todo = w->q_count; /* not what this call parks again */
	int n = 0;

	for (; todo > 0; todo--) {
		struct watch_obs o = w->q[w->q_head];

		if (!all && o.due_ns > now)
			break;
		w->q_head = (w->q_head + 1) % WATCH_DEFER_MAX;
		w->q_count--;
		if (o.vnode == UINT32_MAX)
			continue;
		w->v[o.vnode].flags &= (uint8_t)~WATCH_F_DEFERRED;
		if (o.epoch > w->v[o.vnode].epoch)
			n += observe(w, &o, now, 1);
		/* And what it is now: catches a release that followed closely. */
		if (pf_vnode_info(w->domain, o.vnode, &vi) == 0) {
			obs_from_info(&o, &vi);
			n += observe(w, &o, now, all);
		}
	}
	return n;
}

int watch_scan(struct watch *w, uint32_t count, uint64_t now)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	struct watch_obs o;
	int n = 0;

	for (uint32_t i = 0; i < count; i++) {
		uint32_t id = w->cursor;
		const struct watch_vnode *e = &w->v[id];

		w->cursor = id + 1 < w->vnodes_max ? id + 1 : 0;
		if ((e->flags & WATCH_F_DEFERRED) != 0)
			continue; /* its observation in the queue comes first */
		if (pf_vnode_info(w->domain, id, &vi) < 0) {
			w->read_errors++;
			continue;
		}
		if ((uint32_t)vi.epoch == e->epoch && vi.state == e->state)
			continue;
		obs_from_info(&o, &vi);
		n += observe(w, &o, now, 0);
	}
	w->scanned += count;
	return n;
}

int watch_pass(struct watch *w, uint64_t now)
{
	uint32_t version = 0;
	uint32_t count;
	int n;

	(void)pf_domain_membership(w->domain, &version);
	if (version != w->version) {
		w->version = version;
		members_refresh(w);
	}
	n = settle_due(w, now, 0);
	if (now < w->next_chunk_ns || (w->cursor == 0 && now < w->next_sweep_ns))
		return n;
	if (w->cursor == 0) {
		w->next_sweep_ns = now + w->sweep_ns;
		w->sweeps++;
	}
	w->next_chunk_ns = now + w->chunk_ns;
	count = w->vnodes_max - w->cursor; /* a chunk ends at the end of the table */
	return n + watch_scan(w, count < w->budget ? count : w->budget, now);
}

/* The parked observation of vnode, or NULL. */
static struct watch_obs *parked(struct watch *w, uint32_t vnode)
{
	if ((w->v[vnode].flags & WATCH_F_DEFERRED) == 0)
		return NULL;
	for (uint32_t i = 0; i < w->q_count; i++) {
		struct watch_obs *o = &w->q[(w->q_head + i) % WATCH_DEFER_MAX];

		if (o->vnode == vnode)
			return o;
	}
	return NULL;
}

enum watch_place watch_placement(struct watch *w, uint32_t vnode, uint64_t epoch,
				 uint32_t *ret_skipped)
{
	struct watch_obs *p, o;
	struct watch_vnode *e;

	if (vnode >= w->vnodes_max || epoch == 0 || epoch > UINT32_MAX) {
		w->anomalies++;
		return WATCH_PLACE_LATE; /* not a correct writer's: keep it out of any lineage */
	}
	e = &w->v[vnode];
	p = parked(w, vnode);
	if (p != NULL && p->epoch < epoch) {
		/* Seen before this placement: record it first, as it settled. */
		o = *p;
		p->vnode = UINT32_MAX;
		e->flags &= (uint8_t)~WATCH_F_DEFERRED;
		if (o.epoch > e->epoch)
			(void)observe(w, &o, 0, 1);
	}
	if (epoch <= e->epoch && (e->flags & WATCH_F_BASELINE) != 0)
		return WATCH_PLACE_KNOWN;
	if (epoch <= e->epoch) {
		w->placements_late++;
		return WATCH_PLACE_LATE;
	}
	/* A placement takes a PENDING VNode: it was PENDING at epoch - 1, proven. */
	o = (struct watch_obs){.vnode = vnode, .state = PF_VNODE_PENDING, .slot = WATCH_NO_SLOT};
	o.epoch = (uint32_t)epoch - 1;
	if (is_owned(e->state) && o.epoch > e->epoch)
		(void)observe(w, &o, 0, 1);
	else if (e->state == PF_VNODE_UNASSIGNED)
		(void)record_define(w, vnode);
	*ret_skipped = skipped_of(e->epoch, (uint32_t)epoch, 1);
	return WATCH_PLACE_LINK;
}

void watch_placed(struct watch *w, uint32_t vnode, uint32_t slot, uint32_t gen, uint64_t epoch)
{
	struct watch_vnode *e;

	if (vnode >= w->vnodes_max || epoch <= w->v[vnode].epoch || epoch > UINT32_MAX)
		return;
	e = &w->v[vnode];
	w->epochs_unseen += skipped_of(e->epoch, (uint32_t)epoch, 1);
	e->epoch = (uint32_t)epoch;
	e->state = PF_VNODE_ACTIVE;
	e->slot = slot < WATCH_NO_SLOT ? (uint16_t)slot : WATCH_NO_SLOT;
	e->gen = (uint16_t)gen;
	e->flags &= (uint8_t)~WATCH_F_BASELINE;
}

int watch_final(struct watch *w, uint64_t now)
{
	int n = settle_due(w, now, 1);

	for (uint32_t i = 0; i < w->vnodes_max; i++) {
		struct pf_vnode_info vi = {.size = sizeof(vi)};
		struct watch_obs o;

		if (pf_vnode_info(w->domain, i, &vi) < 0)
			continue;
		obs_from_info(&o, &vi);
		if (o.epoch != w->v[i].epoch || o.state != w->v[i].state)
			n += observe(w, &o, now, 1);
	}
	return n;
}

int watch_init(struct watch *w, struct pf_domain *domain, watch_record_fn record, void *arg)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	int r;

	if (w == NULL || domain == NULL || record == NULL)
		return -EINVAL;
	r = pf_domain_info(domain, &di);
	if (r < 0)
		return r;
	memset(w, 0, sizeof(*w));
	w->domain = domain;
	w->record = record;
	w->arg = arg;
	w->vnodes_max = di.vnodes_max;
	w->members_max = di.members_max;
	w->v = calloc(di.vnodes_max, sizeof(*w->v));
	w->m = calloc(di.members_max, sizeof(*w->m));
	w->q = calloc(WATCH_DEFER_MAX, sizeof(*w->q));
	if (w->v == NULL || w->m == NULL || w->q == NULL) {
		watch_fini(w);
		return -ENOMEM;
	}
	w->budget = WATCH_BUDGET;
	w->chunk_ns = WATCH_CHUNK_NS;
	w->sweep_ns = WATCH_SWEEP_NS;
	w->settle_ns = WATCH_SETTLE_NS;
	(void)pf_domain_membership(domain, &w->version);
	members_refresh(w);
	for (uint32_t id = 0; id < w->vnodes_max; id++) {
		struct watch_obs o = {.slot = WATCH_NO_SLOT};

		if (pf_vnode_info(domain, id, &vi) == 0)
			obs_from_info(&o, &vi);
		w->v[id] = (struct watch_vnode){.epoch = o.epoch,
						.slot = o.slot,
						.gen = o.gen,
						.state = o.state,
						.flags = WATCH_F_BASELINE};
		w->defined_at_start += o.state != PF_VNODE_UNASSIGNED;
		w->owned_at_start += is_owned(o.state);
	}
	return 0;
}

void watch_fini(struct watch *w)
{
	if (w == NULL)
		return;
	free(w->v);
	free(w->m);
	free(w->q);
	w->v = NULL;
	w->m = NULL;
	w->q = NULL;
}

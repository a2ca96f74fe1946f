/* SPDX-License-Identifier: MIT */
/*
 * ctl/metrics_sampler.c: observations of a live domain for the metrics accumulator
 * (pflight/metrics.h has the contract and the cost).
 *
 * It reads shared memory and never writes it. Per VNode it reads only the ownership word,
 * which alone carries the state, the owner (slot and generation) and the epoch: one relaxed
 * load each, validated (a state no writer produces, an owner slot out of range: counted as
 * refused, like every reader's), about 1 ns a VNode; pf_vnode_info() would validate the
 * whole record the sampler does not need, at 50 times the cost. Members come from
 * pf_member_info(), checkpoint sizes of moved VNodes from pf_checkpoint_read() with no
 * buffer. It keeps, per VNode, the word it saw last and, per member slot, the state and
 * generation, and counts what changed between two looks. Every ownership change raises the epoch by
 * one: a claim (PENDING -> owned), a release or repair (owned -> PENDING) or a move (owner
 * -> other owner). So between two looks with epoch difference k, from owned-ness po to wo,
 * claims - releases = wo - po and claims + releases + moves = k; the sampler takes the
 * fewest moves that fit (0 or 1, by parity), which is exact whenever a VNode changed at
 * most once between two looks, the common case at any useful sampling rate.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/domain_impl.h"
#include "pflight/member.h"
#include "pflight/metrics.h"
#include "pflight/sched.h"
#include "pflight/vnode.h"
#include "shm/pf_assert.h"

struct member_seen {
	uint32_t state; /* enum pf_member_state, FREE for a free slot */
	uint32_t gen;
};

struct pf_metrics_sampler {
	struct pf_domain *d;
	struct pf_metrics_sampler_opts o;
	uint32_t vnodes_max;
	uint32_t members_max;
	uint64_t *seen;         /* per VNode, its ownership word at the last look */
	struct member_seen *ms; /* per member slot */
	double *loads;          /* per member slot, filled at the end of a sweep */
	uint32_t cursor;        /* next VNode of the sweep in progress */
	uint32_t defined;       /* counted by the sweep in progress */
	uint32_t owned;
	uint64_t sweeps; /* completed; the first is the baseline */
	uint64_t changes;
	uint64_t events;
	uint64_t migrations;
	uint64_t migration_bytes;
	uint64_t placements;
};

PF_API void pf_metrics_sampler_opts_init(struct pf_metrics_sampler_opts *opts)
{
	PF_ASSERT(opts != NULL);
	memset(opts, 0, sizeof(*opts));
	opts->size = sizeof(*opts);
}

/* Defaults, then the caller's options (STYLE 10.4: a newer caller's longer struct only with
 * zeros where this library knows no field). */
static int opts_resolve(const struct pf_metrics_sampler_opts *in,
			struct pf_metrics_sampler_opts *out)
{
	pf_metrics_sampler_opts_init(out);
	if (in != NULL && opts_copy(out, sizeof(*out), in, sizeof(*out)) < 0)
		return -EINVAL;
	if (out->flags != 0 || out->reserved0 != 0 || out->reserved[0] != 0 ||
	    out->reserved[1] != 0)
		return -EINVAL;
	return 0;
}

PF_API int pf_metrics_sampler_create(struct pf_domain *d,
				     const struct pf_metrics_sampler_opts *opts,
				     struct pf_metrics_sampler **ret)
{
	struct pf_metrics_sampler_opts o;
	struct pf_metrics_sampler *s;

	if (d == NULL || ret == NULL || opts_resolve(opts, &o) < 0)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -ENOMEM;
	s->o = o;
	s->d = d;
	s->vnodes_max = d->lim.vnodes_max; /* the handle's validated copy of the limits */
	s->members_max = d->lim.members_max;
	s->seen = calloc(s->vnodes_max, sizeof(*s->seen));
	s->ms = calloc(s->members_max, sizeof(*s->ms));
	s->loads = calloc(s->members_max, sizeof(*s->loads));
	if (s->seen == NULL || s->ms == NULL || s->loads == NULL) {
		pf_metrics_sampler_destroy(s);
		return -ENOMEM;
	}
	*ret = s;
	return 0;
}

PF_API void pf_metrics_sampler_destroy(struct pf_metrics_sampler *s)
{
	if (s == NULL)
		return;
	free(s->seen);
	free(s->ms);
	free(s->loads);
	free(s);
}

/* Count what changed between two looks at a VNode (see the top of the file). */
static void vnode_changed(struct pf_metrics_sampler *s, uint32_t id, uint64_t p, uint64_t w)
{
	uint32_t pe = own_epoch(p), we = own_epoch(w);
	uint32_t po = (uint32_t)own_is_owned(p), wo = (uint32_t)own_is_owned(w), k, mv, rel, claims;
	size_t bytes = 0;

	if ((int32_t)(we - pe) <= 0)
		return; /* same epoch (defined, or MIGRATING/DRAINING), or not plausible */
	k = we - pe;
	mv = (k + po - wo) & 1u;
	rel = (k + po - wo - mv) / 2;
	claims = rel + wo - po;
	PF_ASSERT(rel + claims + mv == k);
	s->changes += rel + mv;
	s->placements += claims;
	s->migrations += mv;
	if (mv != 0 && pf_checkpoint_read(s->d, id, NULL, 0, &bytes, NULL) == -ENOBUFS)
		s->migration_bytes += bytes;
}

/* Read VNodes [cursor, end): counts of this sweep, and changes since the last look. */
static void vnodes_read(struct pf_metrics_sampler *s, uint32_t end)
{
	struct pf_domain *d = s->d;

	for (uint32_t id = s->cursor; id < end; id++) {
		/* Relaxed: a snapshot; the word is self-contained (state, owner, epoch) and
		 * validated below before it counts. */
		uint64_t w = pf_load_relaxed(&d->own[id]);

		if (own_state(w) > PF_VNODE_STATE_MAX ||
		    (own_is_owned(w) && own_slot(w) >= d->lim.members_max)) {
			counter_add(d, PF_COUNTER_SHM_INVALID, 1);
			continue; /* no correct writer made it: look again next sweep */
		}
		/* Owned by another host: not this host's to keep available. (LEAVING and
		 * ARRIVING count: while they move, nobody serves them.) */
		if (own_state(w) == PF_VNODE_UNASSIGNED || own_state(w) == PF_VNODE_REMOTE)
			continue;
		s->defined++;
		s->owned += (uint32_t)own_is_owned(w);
		if (s->sweeps > 0 && w != s->seen[id])
			vnode_changed(s, id, s->seen[id], w);
		s->seen[id] = w;
	}
	s->cursor = end;
}

static int live(uint32_t state)
{
	return state == PF_MEMBER_ACTIVE || state == PF_MEMBER_DRAINING;
}

/* Every member slot: joins and departures since the last sweep, and the loads. */
static uint32_t members_read(struct pf_metrics_sampler *s)
{
	uint32_t n = 0;

	for (uint32_t slot = 0; slot < s->members_max; slot++) {
		struct pf_member_info mi = {.size = sizeof(mi)};
		struct member_seen now = {PF_MEMBER_FREE, 0}, *was = &s->ms[slot];
		uint32_t cap;
		int r = pf_member_info(s->d, slot, &mi);

		if (r == 0) {
			now.state = mi.state;
			now.gen = mi.generation;
		} else if (r != -ENOENT) {
			continue; /* refused (counted by the reader): look again next sweep */
		}
		if (s->sweeps > 0 && live(was->state) && (!live(now.state) || now.gen != was->gen))
			s->events++; /* a departure: died, left, drained */
		if (s->sweeps > 0 && live(now.state) && (!live(was->state) || now.gen != was->gen))
			s->events++; /* a join */
		*was = now;
		if (!live(now.state))
			continue;
		cap = mi.vnode_capacity != 0 ? mi.vnode_capacity : PF_MEMBER_CAPACITY_DEFAULT;
		s->loads[n++] = (double)PF_MIN(mi.cpu_ppm, PF_PPM) / PF_PPM +
				(double)mi.vnodes_owned / cap + (double)mi.vnodes_placed / cap;
	}
	return n;
}

PF_API int pf_metrics_sampler_step(struct pf_metrics_sampler *s, uint64_t now_ns,
				   struct pf_metrics_obs *obs)
{
	uint32_t end, members;

	if (s == NULL || obs == NULL || obs->size < sizeof(*obs))
		return -EINVAL;
	if (s->cursor == 0)
		s->defined = s->owned = 0;
	end = s->o.vnodes_per_call == 0 || s->vnodes_max - s->cursor <= s->o.vnodes_per_call
		      ? s->vnodes_max
		      : s->cursor + s->o.vnodes_per_call;
	vnodes_read(s, end);
	if (s->cursor < s->vnodes_max)
		return 0;
	members = members_read(s);
	memset(obs, 0, sizeof(*obs));
	obs->size = sizeof(*obs);
	obs->time_ns = now_ns;
	obs->vnodes_defined = s->defined;
	obs->vnodes_owned = s->owned;
	obs->members_active = members;
	obs->loads_count = members;
	obs->loads = s->loads;
	obs->ownership_changes = s->changes;
	obs->membership_events = s->events;
	obs->migrations = s->migrations;
	obs->migration_bytes = s->migration_bytes;
	obs->placements = s->placements;
	s->cursor = 0;
	s->sweeps++;
	return 1;
}

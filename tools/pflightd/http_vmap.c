/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/http_vmap.c: GET /api/v1/vnodes/map, the VNode table counted by owner and
 * id range (http_api.h).
 *
 * What a map of a million VNodes needs is counts, not VNodes: per owner member and per
 * bucket of ids (a heat map a dashboard draws, and drills into by asking for a narrower
 * range), per state, and totals that are those of the same pass. One pass over the
 * ownership table alone (pf_vnode_owners: 8 bytes a VNode, read in order, the pass
 * pf_domain_info() makes for the summary's counts) costs a few milliseconds at
 * 1,048,576 VNodes, the same order as GET /api/v1, so it runs on the API thread, not as
 * a job: a job would wait behind a simulation on the one worker. Each bucket is read as
 * chunks of its own ids, so no VNode costs a division.
 *
 * Bounds: the range is at most the table; the answer holds at most API_MAP_CELLS_MAX
 * counts (buckets x the rows it may have: members_max owners, pending, defined), checked
 * before the scan, so its size is known from the query and the domain's limits. A query
 * that asks for more is refused (400) with the most buckets this domain allows; nothing
 * is cut short: every count answers for its whole range.
 *
 * Consistency: a relaxed snapshot, as the summary's counts are; a VNode that changes owner
 * during the pass is counted once, where the pass saw it. Per owner row, `stale` counts
 * VNodes held by an earlier generation of the slot than the member in it now (a dead
 * member's, not repaired yet).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "shm/pf_assert.h"
#include "tools/common/jdoc.h"
#include "tools/pflightd/daemon.h"
#include "tools/pflightd/http_api.h"

#define MAP_CHUNK 4096u /* ownership entries read at once */

enum { Q_BUCKETS, Q_FROM, Q_TO, Q_COUNT };
_Static_assert(Q_COUNT == API_MAP_QUERY_FIELDS, "http_api.h sizes the map query");
const struct api_field api_map_query[API_MAP_QUERY_FIELDS] = {
	[Q_BUCKETS] = {"buckets", API_T_U32, 0, 1, API_MAP_CELLS_MAX, NULL},
	[Q_FROM] = {"from", API_T_U32, 0, 0, UINT32_MAX, NULL},
	[Q_TO] = {"to", API_T_U32, 0, 1, UINT32_MAX, NULL},
};

/* One pass's counts. Rows of cells: members_max owner rows, then pending, then defined. */
struct vmap {
	uint32_t from, to, width, buckets, slots;
	uint32_t state_total[PF_VNODE_STATE_MAX + 1];
	uint32_t invalid;
	uint32_t *cells;   /* [(slots + 2) * buckets] */
	uint32_t *owner;   /* [slots * 3]: active, migrating, draining per slot */
	uint32_t *gen_low; /* [slots]: the low 16 bits of the generation last seen owning */
	uint32_t *stale;   /* [slots] */
};

/* The most buckets a map of this domain may have: its rows times buckets within the cap. */
static uint32_t buckets_max(const struct api *a)
{
	uint32_t n = API_MAP_CELLS_MAX / (a->members_max + 2);

	return n < API_MAP_BUCKETS_MAX ? n : API_MAP_BUCKETS_MAX;
}

/* The query in m (range and bucket width): 0, or a 400 in err. */
static int map_query(const struct api *a, const struct api_call *call, struct vmap *m,
		     struct api_error *err)
{
	const struct api_value *q = call->query;
	uint32_t want = q[Q_BUCKETS].set ? (uint32_t)q[Q_BUCKETS].u : API_MAP_BUCKETS_DEFAULT;
	uint32_t span;

	m->from = q[Q_FROM].set ? (uint32_t)q[Q_FROM].u : 0;
	m->to = q[Q_TO].set ? (uint32_t)q[Q_TO].u : a->vnodes_max;
	if (m->to > a->vnodes_max || m->from >= m->to) {
		api_error_set(err, 400, "bad_range",
			      "from %u, to %u: the range must satisfy from < to <= %u (vnodes_max; "
			      "to is exclusive)",
			      m->from, m->to, a->vnodes_max);
		return -EINVAL;
	}
	if (want > buckets_max(a)) {
		api_error_set(err, 400, "too_many_buckets",
			      "%u buckets: this domain's map holds at most %u (%u counts in all, "
			      "for %u member slots and two more rows)",
			      want, buckets_max(a), API_MAP_CELLS_MAX, a->members_max);
		return -EINVAL;
	}
	span = m->to - m->from;
	m->width = span / want + (span % want != 0);
	m->buckets = span / m->width + (span % m->width != 0);
	m->slots = a->members_max;
	PF_ASSERT(m->buckets >= 1 && m->buckets <= want);
	PF_ASSERT((uint64_t)m->width * m->buckets >= span);
	return 0;
}

static void count_one(struct vmap *m, const struct pf_vnode_owner *o, uint32_t b)
{
	uint32_t *pending = &m->cells[(size_t)m->slots * m->buckets];
	uint32_t *defined = pending + m->buckets;

	if (o->state == PF_VNODE_OWNER_INVALID) {
		m->invalid++;
		return;
	}
	PF_ASSERT(o->state <= PF_VNODE_STATE_MAX);
	m->state_total[o->state]++;
	defined[b] += o->state != PF_VNODE_UNASSIGNED;
	if (o->state == PF_VNODE_PENDING)
		pending[b]++;
	if (o->state < PF_VNODE_ACTIVE || o->state > PF_VNODE_DRAINING)
		return; /* no member owns it (between hosts: counted in the totals only) */
	PF_ASSERT(o->owner_slot < m->slots);
	m->cells[(size_t)o->owner_slot * m->buckets + b]++;
	m->owner[o->owner_slot * 3 + (o->state - PF_VNODE_ACTIVE)]++;
	m->stale[o->owner_slot] += o->owner_generation != m->gen_low[o->owner_slot];
}

/* The pass: each bucket's ids read in chunks. 0, or -EIO (the table refused a range). */
static int map_scan(struct api *a, struct vmap *m, struct pf_vnode_owner *buf)
{
	for (uint32_t b = 0; b < m->buckets; b++) {
		uint32_t lo = m->from + b * m->width;
		uint32_t hi = m->to - lo > m->width ? lo + m->width : m->to;

		for (uint32_t id = lo; id < hi; id += MAP_CHUNK) {
			uint32_t n = hi - id < MAP_CHUNK ? hi - id : MAP_CHUNK;

			if (pf_vnode_owners(a->domain, id, n, buf) != (int)n)
				return -EIO;
			for (uint32_t i = 0; i < n; i++)
				count_one(m, &buf[i], b);
		}
	}
	return 0;
}

static json_t *u32_array(const uint32_t *v, uint32_t n)
{
	json_t *arr = json_array();

	for (uint32_t i = 0; i < n && arr != NULL; i++)
		if (json_array_append_new(arr, json_integer(v[i])) < 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

/* One owner row: the member in the slot now (its generation and state, or null when the
 * slot is empty), its counts by state, and its buckets. */
static json_t *owner_row(struct api *a, const struct vmap *m, uint32_t s)
{
	struct pf_member_info mi = {.size = sizeof(mi)};
	const uint32_t *c = &m->owner[s * 3];
	int known = pf_member_info(a->domain, s, &mi) == 0;

	return json_pack(
		"{s:I, s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:o}", "slot", (json_int_t)s,
		"generation", known ? json_integer(mi.generation) : json_null(), "member_state",
		known ? json_string(jdoc_member_state_name(mi.state)) : json_null(), "vnodes",
		(json_int_t)c[0] + c[1] + c[2], "active", (json_int_t)c[0], "migrating",
		(json_int_t)c[1], "draining", (json_int_t)c[2], "stale", (json_int_t)m->stale[s],
		"buckets", u32_array(&m->cells[(size_t)s * m->buckets], m->buckets));
}

static json_t *totals_json(const struct vmap *m)
{
	const uint32_t *t = m->state_total;
	uint32_t owned = t[PF_VNODE_ACTIVE] + t[PF_VNODE_MIGRATING] + t[PF_VNODE_DRAINING];

	uint32_t away = t[PF_VNODE_LEAVING] + t[PF_VNODE_ARRIVING] + t[PF_VNODE_REMOTE];

	return json_pack(
		"{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "defined",
		(json_int_t)owned + t[PF_VNODE_PENDING] + away, "owned", (json_int_t)owned,
		"pending", (json_int_t)t[PF_VNODE_PENDING], "active",
		(json_int_t)t[PF_VNODE_ACTIVE], "migrating", (json_int_t)t[PF_VNODE_MIGRATING],
		"draining", (json_int_t)t[PF_VNODE_DRAINING], "leaving",
		(json_int_t)t[PF_VNODE_LEAVING], "arriving", (json_int_t)t[PF_VNODE_ARRIVING],
		"remote", (json_int_t)t[PF_VNODE_REMOTE], "unassigned",
		(json_int_t)t[PF_VNODE_UNASSIGNED], "invalid", (json_int_t)m->invalid);
}

static json_t *map_json(struct api *a, const struct vmap *m, uint64_t scan_ns)
{
	const uint32_t *pending = &m->cells[(size_t)m->slots * m->buckets];
	json_t *owners = json_array();

	for (uint32_t s = 0; s < m->slots && owners != NULL; s++) {
		const uint32_t *c = &m->owner[s * 3];

		if (c[0] + c[1] + c[2] == 0)
			continue;
		if (json_array_append_new(owners, owner_row(a, m, s)) < 0) {
			json_decref(owners);
			owners = NULL;
		}
	}
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o}", "from",
			 (json_int_t)m->from, "to", (json_int_t)m->to, "bucket_width",
			 (json_int_t)m->width, "buckets", (json_int_t)m->buckets, "vnodes_max",
			 (json_int_t)a->vnodes_max, "scan_us", (json_int_t)(scan_ns / 1000u),
			 "totals", totals_json(m), "owners", owners, "pending",
			 u32_array(pending, m->buckets), "defined",
			 u32_array(pending + m->buckets, m->buckets));
}

/* The low 16 bits of each slot's generation now, as the ownership word holds them. */
static void generations(struct api *a, struct vmap *m)
{
	for (uint32_t s = 0; s < m->slots; s++) {
		struct pf_member_info mi = {.size = sizeof(mi)};

		m->gen_low[s] = pf_member_info(a->domain, s, &mi) == 0 ? (mi.generation & 0xffffu)
								       : UINT32_MAX;
	}
}

int api_get_vnode_map(struct api *a, const struct api_call *call, struct api_reply *rep,
		      struct api_error *err)
{
	struct vmap m = {0};
	struct pf_vnode_owner *buf = NULL;
	uint64_t t0;
	int r = map_query(a, call, &m, err);

	if (r < 0)
		return r;
	m.cells = calloc((size_t)(m.slots + 2) * m.buckets, sizeof(*m.cells));
	m.owner = calloc((size_t)m.slots * 3, sizeof(*m.owner));
	m.gen_low = calloc(m.slots, sizeof(*m.gen_low));
	m.stale = calloc(m.slots, sizeof(*m.stale));
	buf = calloc(MAP_CHUNK, sizeof(*buf));
	r = -ENOMEM;
	if (m.cells != NULL && m.owner != NULL && m.gen_low != NULL && m.stale != NULL &&
	    buf != NULL) {
		generations(a, &m);
		t0 = mono_ns();
		r = map_scan(a, &m, buf);
		rep->doc = r == 0 ? map_json(a, &m, mono_ns() - t0) : NULL;
		rep->status = 200;
		r = r == 0 && rep->doc == NULL ? -ENOMEM : r;
	}
	if (r < 0)
		api_error_set(err, 500, r == -EIO ? "invalid_record" : "internal",
			      r == -EIO ? "the VNode table cannot be read"
					: "out of memory building the map");
	free(buf);
	free(m.stale);
	free(m.gen_low);
	free(m.owner);
	free(m.cells);
	return r;
}

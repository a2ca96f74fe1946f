/* SPDX-License-Identifier: MIT */
/*
 * core/domain.c: creating, opening and closing a domain; the control block.
 *
 * Creation: compute every region's size from the limits (overflow-checked), create the
 * segment exclusively, initialise the control block, the pending ring and the lock,
 * write the region table, and only then publish the header ([R0] in shm/). A process
 * that attaches copies the shm header and region table and validates the copy, then the
 * limits (copied too), then that every region has exactly the size its limits imply, then
 * the rings. From then on it uses only what it validated: the copies, and a view of each
 * ring whose geometry is the limits' (shm/ring_mpmc.h), so that later scribbles on the
 * header, the region table, the limits or a ring's header change nothing.
 *
 * Wake-ups: membership and pending changes bump a 32-bit version in the control block
 * and FUTEX_WAKE its sleepers. A waiter registers (pending_waiters) and then sleeps only
 * if the version it saw is still current, so no wake-up is lost ([F1]/[F2], [F3]/[F4]).
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/domain_impl.h"
#include "core/ownership.h"
#include "core/tally.h"
#include "pflight/numa.h"
#include "shm/fault.h"
#include "shm/pf_assert.h"
#include "shm/shm_header.h"

#define DEFAULT_MEMBERS 64u
#define DEFAULT_VNODES 1024u
#define DEFAULT_INBOX_SLOTS 64u
#define DEFAULT_MSG_BYTES 240u /* a slot of 256 bytes with its 16-byte header */
#define DEFAULT_STATE_BYTES 4096u
/* 50 ms: vCPUs here stall for milliseconds and workers share 2 cores; three missed
 * beats (150 ms) will not mistake a starved worker for a hung one. Deaths are found
 * through the robust futex, not this. */
#define DEFAULT_HEARTBEAT_NS UINT64_C(50000000)
#define DEFAULT_HEARTBEAT_MISSES 3u
#define DEFAULT_GRACE_NS UINT64_C(100000000) /* 100 ms: longer than any read we make */
/* Placements and hand-offs a member may have waiting to adopt: at least 256, and by default
 * twice the VNodes per member slot (assign_slots_for()). A rebalancing round aims no more at a
 * member than its ring has room for, so the ring bounds how fast a newcomer is given its share:
 * 256 slots held one among five to 255 VNodes a round, over six hundred rounds at a million
 * VNodes. Two slots per VNode in all (16 bytes), beyond the floor. */
#define ASSIGN_SLOTS_MIN 256u
#define DEFAULT_EXPLAIN_SLOTS 1024u /* recent decisions kept for people and the audit log */
#define ASSIGN_SLOTS_MAX 65536u
#define EXPLAIN_SLOTS_MAX (1u << 20)
#define HEARTBEAT_NS_MIN UINT64_C(100000)
#define HEARTBEAT_NS_MAX UINT64_C(60000000000)

static const char *const counter_names[PF_COUNTER_COUNT] = {
	[PF_COUNTER_JOINS] = "joins",
	[PF_COUNTER_LEAVES] = "leaves",
	[PF_COUNTER_JOIN_REFUSED] = "join_refused",
	[PF_COUNTER_DEATHS] = "deaths",
	[PF_COUNTER_HUNG] = "hung",
	[PF_COUNTER_REPAIRS] = "repairs",
	[PF_COUNTER_VNODES_REPAIRED] = "vnodes_repaired",
	[PF_COUNTER_SLOTS_FREED] = "slots_freed",
	[PF_COUNTER_CLAIM_RACES] = "claim_races",
	[PF_COUNTER_STALE_REFUSED] = "stale_refused",
	[PF_COUNTER_CKPT_CORRUPT] = "checkpoint_corrupt",
	[PF_COUNTER_INBOX_FULL] = "inbox_full",
	[PF_COUNTER_INBOX_SKIPS] = "inbox_skips",
	[PF_COUNTER_PENDING_REQUEUED] = "pending_requeued",
	[PF_COUNTER_SHM_INVALID] = "shm_invalid",
};

PF_API void pf_domain_opts_init(struct pf_domain_opts *opts)
{
	PF_ASSERT(opts != NULL);
	memset(opts, 0, sizeof(*opts));
	opts->size = sizeof(*opts);
	opts->members_max = DEFAULT_MEMBERS;
	opts->vnodes_max = DEFAULT_VNODES;
	opts->caps_max = PF_CAPS_MAX;
	opts->inbox_slots = DEFAULT_INBOX_SLOTS;
	opts->msg_bytes_max = DEFAULT_MSG_BYTES;
	opts->state_bytes_max = DEFAULT_STATE_BYTES;
	opts->mode = 0600;
	opts->gid = -1;
	opts->heartbeat_interval_ns = DEFAULT_HEARTBEAT_NS;
	opts->heartbeat_misses = DEFAULT_HEARTBEAT_MISSES;
	opts->checksum = PF_CHECKSUM_XXH3;
	opts->slot_grace_ns = DEFAULT_GRACE_NS;
	opts->sched_strategy = PF_SCHED_TRUST_WEIGHTED;
	opts->epsilon_ppm = PF_SCHED_EPSILON_DEFAULT;
	opts->assign_slots = 0; /* derived from the domain's size: assign_slots_for() */
	opts->explain_slots = DEFAULT_EXPLAIN_SLOTS;
}

int domain_name_check(const char *name)
{
	size_t len;

	if (name == NULL)
		return -EINVAL;
	len = strnlen(name, PF_DOMAIN_NAME_MAX + 1);
	if (len > PF_DOMAIN_NAME_MAX)
		return -ENAMETOOLONG;
	if (len == 0 || name[0] == '.')
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return -EINVAL;
	}
	return 0;
}

static void shm_name(const char *name, char *buf, size_t bytes)
{
	size_t plen = strlen(DOMAIN_SHM_PREFIX), nlen = strlen(name);

	PF_ASSERT(plen + nlen + 1 <= bytes);
	memcpy(buf, DOMAIN_SHM_PREFIX, plen);
	memcpy(buf + plen, name, nlen + 1);
}

static uint32_t log2_u32(uint32_t v)
{
	PF_ASSERT(PF_IS_POW2(v));
	return (uint32_t)__builtin_ctz(v);
}

/* Copy the caller's options (which may be shorter, an older struct) over defaults. */
static int opts_resolve(const struct pf_domain_opts *in, struct pf_domain_opts *out)
{
	pf_domain_opts_init(out);
	if (in == NULL)
		return 0;
	return opts_copy(out, sizeof(*out), in, offsetof(struct pf_domain_opts, members_max));
}

/* Derive the shared limits from options; -EINVAL for anything out of range. */
/* The assignment ring's slots per member: the caller's, or when 0, twice the VNodes per member
 * slot as a power of two within [ASSIGN_SLOTS_MIN, ASSIGN_SLOTS_MAX]. */
static uint32_t assign_slots_for(const struct pf_domain_opts *o)
{
	uint64_t per_member;

	if (o->assign_slots != 0 || o->members_max == 0 || o->vnodes_max == 0 ||
	    o->vnodes_max > PF_VNODES_MAX)
		return o->assign_slots; /* checked as given: bad limits are refused anyway */
	per_member = ((uint64_t)o->vnodes_max + o->members_max - 1) / o->members_max;
	PF_ASSERT(per_member >= 1 && per_member <= PF_VNODES_MAX);
	return PF_MIN(pow2_at_least((uint32_t)PF_MAX_OF(2 * per_member, ASSIGN_SLOTS_MIN)),
		      ASSIGN_SLOTS_MAX);
}

static int limits_from_opts(const struct pf_domain_opts *o, struct dom_limits *lim)
{
	uint32_t assign_slots = assign_slots_for(o);

	memset(lim, 0, sizeof(*lim));
	if ((o->flags & ~PF_DOMAIN_REPLACE) != 0)
		return -EINVAL;
	if (o->members_max == 0 || o->members_max > PF_MEMBERS_MAX)
		return -EINVAL;
	if (o->vnodes_max == 0 || o->vnodes_max > PF_VNODES_MAX)
		return -EINVAL;
	if (o->caps_max == 0 || o->caps_max > PF_CAPS_MAX)
		return -EINVAL;
	if (o->inbox_slots < 2 || o->inbox_slots > PF_INBOX_SLOTS_MAX ||
	    !PF_IS_POW2(o->inbox_slots))
		return -EINVAL;
	if (o->msg_bytes_max == 0 || o->msg_bytes_max > PF_MSG_BYTES_MAX)
		return -EINVAL;
	if (o->state_bytes_max == 0 || o->state_bytes_max > PF_STATE_BYTES_MAX)
		return -EINVAL;
	/* Others may never write: any local user could then write member records, ownership
	 * words and checkpoints of every member. A group is the way to share. */
	if ((o->mode & ~0777u) != 0 || (o->mode & 0600u) != 0600u || (o->mode & 0002u) != 0)
		return -EINVAL;
	if (o->heartbeat_interval_ns < HEARTBEAT_NS_MIN ||
	    o->heartbeat_interval_ns > HEARTBEAT_NS_MAX)
		return -EINVAL;
	if (o->heartbeat_misses < 2 || o->heartbeat_misses > 100)
		return -EINVAL;
	if (o->checksum != PF_CHECKSUM_XXH3 && o->checksum != PF_CHECKSUM_CRC32C)
		return -EINVAL;
	if (o->slot_grace_ns > UINT64_C(60000000000))
		return -EINVAL;
	if (o->sched_strategy > PF_SCHED_AGENT || o->trust_floor_ppm > PF_PPM ||
	    o->epsilon_ppm > PF_SCHED_EPSILON_MAX)
		return -EINVAL;
	if (assign_slots < 2 || assign_slots > ASSIGN_SLOTS_MAX || !PF_IS_POW2(assign_slots) ||
	    o->explain_slots < 16 || o->explain_slots > EXPLAIN_SLOTS_MAX ||
	    !PF_IS_POW2(o->explain_slots))
		return -EINVAL;
	if (o->reserved0 != 0)
		return -EINVAL;
	for (size_t i = 0; i < PF_ARRAY_SIZE(o->reserved); i++)
		if (o->reserved[i] != 0)
			return -EINVAL;
	lim->members_max = o->members_max;
	lim->vnodes_max = o->vnodes_max;
	lim->caps_max = o->caps_max;
	lim->inbox_slots = o->inbox_slots;
	lim->inbox_order = log2_u32(o->inbox_slots);
	lim->inbox_slot_bytes =
		PF_ALIGN_UP(o->msg_bytes_max + (uint32_t)sizeof(struct dom_inbox_slot), 64u);
	lim->msg_bytes_max = o->msg_bytes_max;
	lim->state_bytes_max = o->state_bytes_max;
	lim->ckpt_slot_bytes = sizeof(struct dom_ckpt_hdr) +
			       PF_ALIGN_UP((uint64_t)o->state_bytes_max, UINT64_C(64));
	lim->pending_slots = pow2_at_least(o->vnodes_max) * 2;
	lim->checksum = o->checksum;
	lim->heartbeat_interval_ns = o->heartbeat_interval_ns;
	lim->heartbeat_misses = o->heartbeat_misses;
	lim->slot_grace_ns = o->slot_grace_ns;
	lim->mode = o->mode | (o->gid >= 0 ? 0060u : 0u);
	lim->owner_uid = (uint32_t)geteuid();
	lim->gid = o->gid;
	lim->assign_slots = assign_slots;
	lim->explain_slots = o->explain_slots;
	lim->ckpt_bufs = ckpt_bufs_for(o->vnodes_max, o->members_max);
	return 0;
}

/* Validate limits read from another process's segment (no asserts). */
static int limits_check(const struct dom_limits *lim)
{
	if (lim->members_max == 0 || lim->members_max > PF_MEMBERS_MAX || lim->vnodes_max == 0 ||
	    lim->vnodes_max > PF_VNODES_MAX || lim->caps_max == 0 || lim->caps_max > PF_CAPS_MAX)
		return -EPROTO;
	if (lim->inbox_slots < 2 || lim->inbox_slots > PF_INBOX_SLOTS_MAX ||
	    !PF_IS_POW2(lim->inbox_slots) ||
	    lim->inbox_order != (uint32_t)__builtin_ctz(lim->inbox_slots))
		return -EPROTO;
	if (lim->msg_bytes_max == 0 || lim->msg_bytes_max > PF_MSG_BYTES_MAX ||
	    lim->inbox_slot_bytes !=
		    PF_ALIGN_UP(lim->msg_bytes_max + (uint32_t)sizeof(struct dom_inbox_slot), 64u))
		return -EPROTO;
	if (lim->state_bytes_max == 0 || lim->state_bytes_max > PF_STATE_BYTES_MAX ||
	    lim->ckpt_slot_bytes !=
		    sizeof(struct dom_ckpt_hdr) +
			    PF_ALIGN_UP((uint64_t)lim->state_bytes_max, UINT64_C(64)))
		return -EPROTO;
	if (lim->pending_slots != pow2_at_least(lim->vnodes_max) * 2)
		return -EPROTO;
	if (lim->checksum != PF_CHECKSUM_XXH3 && lim->checksum != PF_CHECKSUM_CRC32C)
		return -EPROTO;
	if (lim->assign_slots < 2 || lim->assign_slots > ASSIGN_SLOTS_MAX ||
	    !PF_IS_POW2(lim->assign_slots) || lim->explain_slots < 16 ||
	    lim->explain_slots > EXPLAIN_SLOTS_MAX || !PF_IS_POW2(lim->explain_slots))
		return -EPROTO;
	if (lim->heartbeat_interval_ns < HEARTBEAT_NS_MIN ||
	    lim->heartbeat_interval_ns > HEARTBEAT_NS_MAX || lim->heartbeat_misses < 2 ||
	    lim->heartbeat_misses > 100)
		return -EPROTO;
	if (lim->ckpt_bufs != ckpt_bufs_for(lim->vnodes_max, lim->members_max) ||
	    lim->reserved0 != 0)
		return -EPROTO;
	for (size_t i = 0; i < PF_ARRAY_SIZE(lim->reserved); i++)
		if (lim->reserved[i] != 0)
			return -EPROTO;
	return 0;
}

/* Bytes of each region for given limits; -EFBIG when they do not fit 64 bits. */
static int region_sizes(const struct dom_limits *lim, uint64_t sizes[REGION_COUNT])
{
	uint64_t ckpt, inbox;

	sizes[REGION_CONTROL] = sizeof(struct dom_control);
	sizes[REGION_CAPS] = (uint64_t)lim->caps_max * sizeof(struct dom_cap);
	sizes[REGION_MEMBERS] = (uint64_t)lim->members_max * sizeof(struct dom_member);
	sizes[REGION_OWNERSHIP] = PF_ALIGN_UP((uint64_t)lim->vnodes_max * 8, UINT64_C(64));
	sizes[REGION_VNODES] = (uint64_t)lim->vnodes_max * sizeof(struct dom_vnode);
	sizes[REGION_PENDING] =
		PF_ALIGN_UP((uint64_t)ring_mpmc_bytes(lim->pending_slots), UINT64_C(64));
	if (__builtin_mul_overflow((uint64_t)lim->ckpt_bufs, lim->ckpt_slot_bytes, &ckpt))
		return -EFBIG;
	if (__builtin_mul_overflow((uint64_t)lim->vnodes_max * lim->inbox_slots,
				   (uint64_t)lim->inbox_slot_bytes, &inbox))
		return -EFBIG;
	sizes[REGION_CKPT] = ckpt;
	sizes[REGION_INBOX] = inbox;
	sizes[REGION_ASSIGN] = (uint64_t)lim->members_max * domain_assign_ring_bytes(lim);
	sizes[REGION_EXPLAIN] = (uint64_t)lim->explain_slots * sizeof(struct dom_explain);
	sizes[REGION_HISTORY] = (uint64_t)history_slots(lim) * sizeof(struct dom_history);
	sizes[REGION_CKPT_HOLD] = PF_ALIGN_UP((uint64_t)lim->ckpt_bufs * 8, UINT64_C(64));
	return 0;
}

static int layout_compute(const struct dom_limits *lim, struct pf_shm_region *table,
			  uint64_t *ret_total)
{
	uint64_t sizes[REGION_COUNT], off;
	int r = region_sizes(lim, sizes);

	if (r < 0)
		return r;
	off = PF_ALIGN_UP(PF_SHM_HEADER_BYTES + REGION_COUNT * sizeof(struct pf_shm_region),
			  (uint64_t)DOMAIN_REGION_ALIGN);
	for (int i = 0; i < REGION_COUNT; i++) {
		table[i].offset = off;
		table[i].bytes = sizes[i];
		if (__builtin_add_overflow(off, sizes[i], &off) || off > (UINT64_C(1) << 46))
			return -EFBIG;
		off = PF_ALIGN_UP(off, (uint64_t)DOMAIN_REGION_ALIGN);
	}
	*ret_total = off;
	return 0;
}

static void handle_bind(struct pf_domain *d, const struct pf_shm_region *table)
{
	unsigned char *base = d->seg.base;

	d->ctl = (struct dom_control *)(base + table[REGION_CONTROL].offset);
	d->caps = (struct dom_cap *)(base + table[REGION_CAPS].offset);
	d->members = (struct dom_member *)(base + table[REGION_MEMBERS].offset);
	d->own = (_Atomic uint64_t *)(base + table[REGION_OWNERSHIP].offset);
	d->vnodes = (struct dom_vnode *)(base + table[REGION_VNODES].offset);
	d->ckpt = base + table[REGION_CKPT].offset;
	d->inbox = base + table[REGION_INBOX].offset;
	d->explain = (struct dom_explain *)(base + table[REGION_EXPLAIN].offset);
	d->history = (struct dom_history *)(base + table[REGION_HISTORY].offset);
	d->ckpt_hold = (_Atomic uint64_t *)(base + table[REGION_CKPT_HOLD].offset);
}

/* Ring i of a region of rings of ring_bytes each. */
static struct ring_mpmc *region_ring(struct pf_domain *d, const struct pf_shm_region *reg,
				     uint32_t i, uint64_t ring_bytes)
{
	return (struct ring_mpmc *)((unsigned char *)d->seg.base + reg->offset + i * ring_bytes);
}

/*
 * The views of the pending ring and of every assignment ring: their geometry is the
 * validated limits' (never a ring header's), and each header must agree with it. Also the
 * creator's last check of what it formatted. 0, -ENOMEM, or ring_mpmc_attach()'s errors.
 */
static int rings_attach(struct pf_domain *d, const struct pf_shm_region *table)
{
	uint64_t bytes = domain_assign_ring_bytes(&d->lim);
	int r;

	PF_ASSERT(d->assign == NULL);
	PF_ASSERT(d->lim.members_max > 0 && bytes > 0); /* validated limits */
	r = ring_mpmc_attach(region_ring(d, &table[REGION_PENDING], 0, 0),
			     table[REGION_PENDING].bytes, d->lim.pending_slots, &d->pending);
	if (r < 0)
		return r;
	d->assign = PF_FAULT_FAIL(ALLOC) ? NULL : calloc(d->lim.members_max, sizeof(*d->assign));
	if (d->assign == NULL)
		return -ENOMEM;
	for (uint32_t i = 0; i < d->lim.members_max; i++) {
		r = ring_mpmc_attach(region_ring(d, &table[REGION_ASSIGN], i, bytes), bytes,
				     d->lim.assign_slots, &d->assign[i]);
		if (r < 0)
			return r;
	}
	return 0;
}

static int lock_init(pthread_mutex_t *m)
{
	pthread_mutexattr_t attr;
	int r;

	r = pthread_mutexattr_init(&attr);
	if (r != 0)
		return -r;
	r = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
	if (r == 0)
		r = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
	if (r == 0)
		r = pthread_mutex_init(m, &attr);
	(void)pthread_mutexattr_destroy(&attr);
	return -r;
}

static int domain_init_shared(struct pf_domain *d, const struct pf_shm_region *table,
			      uint64_t total, const struct pf_domain_opts *o)
{
	struct pf_shm_header *hdr = d->seg.base;
	uint64_t bytes = domain_assign_ring_bytes(&d->lim);
	int r;

	handle_bind(d, table);
	memcpy((unsigned char *)d->seg.base + PF_SHM_HEADER_BYTES, table,
	       REGION_COUNT * sizeof(struct pf_shm_region));
	d->ctl->limits = d->lim;
	r = lock_init(&d->ctl->lock);
	if (r < 0)
		return r;
	r = ring_mpmc_init(region_ring(d, &table[REGION_PENDING], 0, 0),
			   table[REGION_PENDING].bytes, d->lim.pending_slots);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < d->lim.members_max; i++) {
		r = ring_mpmc_init(region_ring(d, &table[REGION_ASSIGN], i, bytes), bytes,
				   d->lim.assign_slots);
		if (r < 0)
			return r;
	}
	r = rings_attach(d, table);
	if (r < 0)
		return r;
	/* Relaxed: nobody can attach before the header is published below. */
	pf_store_relaxed(&d->ctl->sched_strategy, o->sched_strategy);
	pf_store_relaxed(&d->ctl->trust_floor_ppm, o->trust_floor_ppm);
	/* Relaxed, as above. The word kept its first name; it bounds every strategy. */
	pf_store_relaxed(&d->ctl->epsilon_ppm, o->epsilon_ppm);
	pf_store_relaxed(&d->ctl->sched_seed, o->sched_seed);
	/* Relaxed: nobody can attach before the header is published below. */
	for (uint32_t i = 0; i < d->lim.vnodes_max; i++)
		pf_store_relaxed(&d->vnodes[i].pending_pos, PENDING_POS_NONE);
	own_init(d);
	hdr->magic = PF_SHM_MAGIC;
	hdr->layout_major = DOMAIN_LAYOUT_MAJOR;
	hdr->layout_minor = DOMAIN_LAYOUT_MINOR;
	hdr->header_bytes = sizeof(*hdr);
	hdr->segment_bytes = total;
	hdr->table_offset = PF_SHM_HEADER_BYTES;
	hdr->region_count = REGION_COUNT;
	hdr->creator_pid = (int32_t)getpid();
	hdr->created_ns = now_ns();
	shm_header_publish(hdr);
	return 0;
}

int domain_segment_bytes(const struct pf_domain_opts *opts, uint64_t *ret_bytes)
{
	struct pf_shm_region table[REGION_COUNT];
	struct pf_domain_opts o;
	struct dom_limits lim;
	int r = opts_resolve(opts, &o);

	PF_ASSERT(ret_bytes != NULL);
	if (r == 0)
		r = limits_from_opts(&o, &lim);
	if (r == 0)
		r = layout_compute(&lim, table, ret_bytes);
	PF_ASSERT(r != 0 || *ret_bytes > PF_SHM_HEADER_BYTES);
	return r;
}

PF_API int pf_domain_create(const char *name, const struct pf_domain_opts *opts,
			    struct pf_domain **ret_domain)
{
	struct pf_shm_region table[REGION_COUNT];
	struct pf_domain_opts o;
	struct pf_domain *d;
	char path[PF_DOMAIN_NAME_MAX + sizeof(DOMAIN_SHM_PREFIX)];
	uint64_t total;
	int r;

	r = domain_name_check(name);
	if (r < 0)
		return r;
	if (ret_domain == NULL)
		return -EINVAL;
	r = opts_resolve(opts, &o);
	if (r < 0)
		return r;
	d = PF_FAULT_FAIL(ALLOC) ? NULL : calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	r = limits_from_opts(&o, &d->lim);
	if (r < 0)
		goto fail;
	r = layout_compute(&d->lim, table, &total);
	if (r < 0)
		goto fail;
	if (total > SIZE_MAX) {
		r = -EFBIG;
		goto fail;
	}
	shm_name(name, path, sizeof(path));
	if (o.flags & PF_DOMAIN_REPLACE)
		(void)shm_segment_unlink(path);
	r = shm_segment_create(path, (size_t)total, d->lim.mode, o.gid, &d->seg);
	if (r < 0)
		goto fail;
	r = domain_init_shared(d, table, total, &o);
	if (r < 0) {
		shm_segment_close(&d->seg);
		(void)shm_segment_unlink(path);
		goto fail;
	}
	memcpy(d->name, name, strlen(name) + 1);
	d->self_pid = getpid();
	*ret_domain = d;
	return 0;

fail:
	free(d->assign);
	free(d);
	return r;
}

/* Every region of the (validated, private) table must have exactly the size its limits
 * imply. */
static int regions_check(const struct dom_limits *lim, const struct pf_shm_region *table)
{
	uint64_t sizes[REGION_COUNT];

	if (region_sizes(lim, sizes) < 0)
		return -EPROTO;
	for (int i = 0; i < REGION_COUNT; i++)
		if (table[i].bytes != sizes[i])
			return -EPROTO;
	return 0;
}

static int domain_validate(struct pf_domain *d)
{
	struct shm_header_copy hc;
	const struct pf_shm_region *table = hc.regions;
	int r;

	/* The header and the region table are copied and validated as copied: nothing below
	 * reads them from the segment again, whatever a peer writes there meanwhile. */
	r = shm_header_read(d->seg.base, d->seg.bytes, DOMAIN_LAYOUT_MAJOR, &hc);
	if (r < 0)
		return r;
	if (hc.hdr.region_count != REGION_COUNT ||
	    table[REGION_CONTROL].bytes < sizeof(struct dom_control))
		return -EPROTO;
	/* Copy first, validate the copy: the shared original may change under us. */
	memcpy(&d->lim, (const unsigned char *)d->seg.base + table[REGION_CONTROL].offset,
	       sizeof(d->lim));
	r = limits_check(&d->lim);
	if (r < 0)
		return r;
	r = regions_check(&d->lim, table);
	if (r < 0)
		return r;
	handle_bind(d, table);
	return rings_attach(d, table);
}

PF_API int pf_domain_open(const char *name, struct pf_domain **ret_domain)
{
	char path[PF_DOMAIN_NAME_MAX + sizeof(DOMAIN_SHM_PREFIX)];
	struct pf_domain *d;
	int r;

	r = domain_name_check(name);
	if (r < 0)
		return r;
	if (ret_domain == NULL)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	shm_name(name, path, sizeof(path));
	r = shm_segment_open(path, &d->seg);
	if (r == -ENODATA)
		r = -EAGAIN; /* the creator has not sized it yet */
	if (r < 0)
		goto fail;
	if (d->seg.bytes < PF_SHM_HEADER_BYTES) {
		r = -EOVERFLOW;
		goto fail_close;
	}
	r = domain_validate(d);
	if (r < 0)
		goto fail_close;
	memcpy(d->name, name, strlen(name) + 1);
	d->self_pid = getpid();
	*ret_domain = d;
	return 0;

fail_close:
	shm_segment_close(&d->seg);
fail:
	free(d->assign);
	free(d);
	return r;
}

PF_API void pf_domain_close(struct pf_domain *domain)
{
	if (domain == NULL)
		return;
	pf_numa_close(domain->numa);
	shm_segment_close(&domain->seg);
	free(domain->assign);
	free(domain);
}

PF_API int pf_domain_unlink(const char *name)
{
	char path[PF_DOMAIN_NAME_MAX + sizeof(DOMAIN_SHM_PREFIX)];
	int r = domain_name_check(name);

	if (r < 0)
		return r;
	shm_name(name, path, sizeof(path));
	return shm_segment_unlink(path);
}

PF_API int pf_domain_destroy(struct pf_domain *domain)
{
	int r;

	if (domain == NULL)
		return -EINVAL;
	r = pf_domain_unlink(domain->name);
	pf_domain_close(domain);
	return r;
}

PF_API int pf_domain_info(struct pf_domain *d, struct pf_domain_info *info)
{
	uint32_t pending = 0, active = 0;
	struct stat st;

	if (d == NULL || info == NULL || info->size < sizeof(*info))
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	info->size = sizeof(*info);
	info->members_max = d->lim.members_max;
	info->vnodes_max = d->lim.vnodes_max;
	info->caps_max = d->lim.caps_max;
	info->inbox_slots = d->lim.inbox_slots;
	info->msg_bytes_max = d->lim.msg_bytes_max;
	info->state_bytes_max = d->lim.state_bytes_max;
	info->checksum = d->lim.checksum;
	info->segment_bytes = d->seg.bytes;
	info->table_bytes_per_vnode = 8 + sizeof(struct dom_vnode) +
				      (uint64_t)d->lim.pending_slots * 8 / d->lim.vnodes_max;
	info->heartbeat_interval_ns = d->lim.heartbeat_interval_ns;
	info->heartbeat_misses = d->lim.heartbeat_misses;
	info->members_active = tally_members_active(d);
	/* Relaxed: a snapshot for people and tools, no ordering with anything. */
	info->caps_count = PF_MIN(pf_load_relaxed(&d->ctl->caps_count), d->lim.caps_max);
	info->membership_version = pf_load_relaxed(&d->ctl->membership_version);
	for (uint32_t i = 0; i < d->lim.vnodes_max; i++) {
		/* Relaxed: counting states for a snapshot. */
		uint32_t s = own_state(pf_load_relaxed(&d->own[i]));

		pending += s == PF_VNODE_PENDING;
		active += s == PF_VNODE_ACTIVE || s == PF_VNODE_MIGRATING || s == PF_VNODE_DRAINING;
	}
	info->vnodes_pending = pending;
	info->vnodes_active = active;
	info->segment_uid = info->segment_gid = info->segment_mode = UINT32_MAX;
	if (fstat(d->seg.fd, &st) == 0) {
		info->segment_uid = (uint32_t)st.st_uid;
		info->segment_gid = (uint32_t)st.st_gid;
		info->segment_mode = (uint32_t)st.st_mode & 07777u;
	}
	return 0;
}

PF_API int pf_domain_membership(struct pf_domain *d, uint32_t *ret_version)
{
	if (d == NULL)
		return -EINVAL;
	/* Relaxed: a snapshot; waiters use pf_domain_wait_membership() for ordering. */
	if (ret_version != NULL)
		*ret_version = pf_load_relaxed(&d->ctl->membership_version);
	return (int)tally_members_active(d);
}

PF_API int pf_domain_counters(struct pf_domain *d, uint64_t *values, uint32_t count)
{
	uint64_t all[PF_COUNTER_COUNT];
	uint32_t n;

	if (d == NULL || (values == NULL && count > 0))
		return -EINVAL;
	n = PF_MIN(count, (uint32_t)PF_COUNTER_COUNT);
	for (uint32_t i = TALLY_EVENTS; i < PF_COUNTER_COUNT; i++)
		/* Relaxed: statistics of attempts, a snapshot. */
		all[i] = pf_load_relaxed(&d->ctl->counters[i]);
	tally_read(d, all); /* the events, and slots_freed, from the member table */
	memcpy(values, all, n * sizeof(*values));
	return (int)n;
}

PF_API const char *pf_counter_name(uint32_t counter)
{
	return counter < PF_COUNTER_COUNT ? counter_names[counter] : NULL;
}

int futex_wait_shared(_Atomic uint32_t *word, uint32_t expected, uint64_t timeout_ns)
{
	struct timespec ts, *tsp = NULL;
	long r;

	if (timeout_ns != UINT64_MAX) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000u);
		ts.tv_nsec = (long)(timeout_ns % 1000000000u);
		tsp = &ts;
	}
	r = syscall(SYS_futex, word, FUTEX_WAIT, expected, tsp, NULL, 0);
	if (r == 0)
		return 0;
	if (errno == EAGAIN)
		return 0; /* the value changed before we slept */
	return -errno;
}

void futex_wake_shared(_Atomic uint32_t *word, int count)
{
	(void)syscall(SYS_futex, word, FUTEX_WAKE, count, NULL, NULL, 0);
}

void domain_publish_membership(struct pf_domain *d)
{
	/* Relaxed: a time for the rebalancer's cool-down (rebalance.c); a reader that sees
	 * the previous one only runs one round early or late, never unsafely. */
	pf_store_relaxed(&d->ctl->membership_change_ns, now_ns());
	/* [F1] seq_cst RMW: orders this store before the load of nothing-to-wake, the
	 * Dekker pattern with the waiter in pf_domain_wait_membership(); pairs with [F2]. */
	pf_fetch_add_seq_cst(&d->ctl->membership_version, 1);
	futex_wake_shared(&d->ctl->membership_version, INT_MAX);
}

void domain_publish_pending(struct pf_domain *d)
{
	/* [F3] seq_cst RMW: bump the version (store) before reading the waiter count (load);
	 * pairs with [F4] in wait_register() (core/wait.c): a waiter registers, then the
	 * kernel compares the version it read before. */
	pf_fetch_add_seq_cst(&d->ctl->pending_version, 1);
	/* [F3] the load half of the store->load pair above; pairs with [F4] in
	 * wait_register(). */
	if (pf_load_seq_cst(&d->ctl->pending_waiters) != 0)
		futex_wake_shared(&d->ctl->pending_version, INT_MAX);
}

PF_API int pf_domain_wait_membership(struct pf_domain *d, uint32_t seen, uint64_t timeout_ns)
{
	uint64_t deadline, now;
	int r;

	if (d == NULL)
		return -EINVAL;
	deadline = deadline_after(timeout_ns);
	for (;;) {
		/* [F2] seq_cst load: pairs with [F1] in domain_publish_membership(); the version
		 * store there is ordered before its wake, this load before our sleep, and the
		 * futex re-checks the value atomically (Dekker). */
		if (pf_load_seq_cst(&d->ctl->membership_version) != seen)
			return 0;
		now = now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		r = futex_wait_shared(&d->ctl->membership_version, seen,
				      deadline == UINT64_MAX ? UINT64_MAX : deadline - now);
		if (r < 0 && r != -ETIMEDOUT)
			return r;
	}
}

int domain_lock(struct pf_domain *d)
{
	int r = pthread_mutex_lock(&d->ctl->lock);

	if (r == EOWNERDEAD) {
		/* The holder died inside a control-plane step. What it protects is re-validated
		 * by its readers (capability entries are published with [R6] only when complete),
		 * so the lock can be made consistent again. */
		(void)pthread_mutex_consistent(&d->ctl->lock);
		return 0;
	}
	return -r;
}

void domain_unlock(struct pf_domain *d)
{
	(void)pthread_mutex_unlock(&d->ctl->lock);
}

/* 1 when hint is the adoption mark of the epoch VNode id is owned in now: the owner's,
 * which no queue position replaces (a second entry of that epoch would be adopted again). */
static int adoption_current(struct pf_domain *d, uint32_t id, uint64_t hint)
{
	uint64_t w;

	if ((hint & PENDING_POS_ADOPTED) == 0 || hint == PENDING_POS_NONE)
		return 0;
	/* Relaxed: ordered after the mark by the acquire load in pending_push(): it reads
	 * the placement the mark was taken under, or a later word. */
	w = pf_load_relaxed(&d->own[id]);
	return own_is_owned(w) && (PENDING_POS_ADOPTED | own_epoch(w)) == hint;
}

int pending_push(struct pf_domain *d, uint32_t id, int publish)
{
	_Atomic uint64_t *hint;
	uint64_t seen, pos = PENDING_POS_NONE;
	int r;

	PF_ASSERT(id < d->lim.vnodes_max);
	hint = &d->vnodes[id].pending_pos;
	/* [A48] pairs with [R48] in pf_vnode_adopt() (core/vnode.c): a mark seen here comes
	 * with the ownership word it was taken under. */
	seen = pf_load_acquire(hint);
	r = ring_mpmc_try_enqueue(&d->pending, id, &pos);
	/* The sweep's hint: where the VNode waits in the queue, or NONE when it is not queued
	 * (the queue was full; what was there, an older position or the mark of its last
	 * adoption, which is no position, must not tell the sweep that it is). Written only
	 * over what was there before the push: a placer may take the entry at once, and an
	 * owner adopt it, before this line; a placement's adoption mark stays. Relaxed: a
	 * hint; the CAS keeps what others wrote meanwhile, a stale value costs at most a
	 * duplicate entry. */
	if (!adoption_current(d, id, seen))
		(void)pf_cas_relaxed(hint, &seen, r == 0 ? pos : PENDING_POS_NONE);
	if (r == 0 && publish)
		domain_publish_pending(d);
	return r;
}

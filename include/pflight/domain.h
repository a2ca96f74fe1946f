/* SPDX-License-Identifier: MIT */
/*
 * pflight/domain.h: create, open (attach), close (detach) and destroy a host domain.
 *
 * A domain is one shared-memory segment, /dev/shm/pflight-<name>, holding the member
 * table, the capability directory, the VNode table, the pending queue, the checkpoint
 * arena and the VNode inboxes, all sized once at creation from struct pf_domain_opts.
 * Every process that uses the domain maps it; nothing else has to run (embedded mode).
 *
 * Handles: struct pf_domain is process-local and not shared across fork(); open the
 * domain again in the child. One handle may be used by several threads at once.
 */
#ifndef PFLIGHT_DOMAIN_H
#define PFLIGHT_DOMAIN_H

#include <stddef.h>
#include <stdint.h>

#include "pflight/common.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pf_domain;

/* Creation flags. */
#define PF_DOMAIN_REPLACE 0x1u /* unlink a segment of the same name first */

/* Checksum algorithms for checkpoints (recorded in the domain). */
#define PF_CHECKSUM_XXH3 1u   /* default: fastest measured here */
#define PF_CHECKSUM_CRC32C 2u /* SSE4.2 instruction when present */

/*
 * Limits and policy of a domain, fixed at creation. Initialise with
 * pf_domain_opts_init(), then change what you need; `size` lets older callers pass a
 * shorter struct (missing fields take their defaults).
 */
struct pf_domain_opts {
	uint32_t size;            /* sizeof(struct pf_domain_opts) */
	uint32_t flags;           /* PF_DOMAIN_* */
	uint32_t members_max;     /* 1..PF_MEMBERS_MAX, default 64 */
	uint32_t vnodes_max;      /* 1..PF_VNODES_MAX, default 1024 */
	uint32_t caps_max;        /* 1..PF_CAPS_MAX, default 128 */
	uint32_t inbox_slots;     /* per VNode, a power of two 2..PF_INBOX_SLOTS_MAX, default 64 */
	uint32_t msg_bytes_max;   /* 1..PF_MSG_BYTES_MAX, default 240 */
	uint32_t state_bytes_max; /* per checkpoint, 1..PF_STATE_BYTES_MAX, default 4096 */
	uint32_t mode;            /* permission bits of the segment, default 0600; owner rw
				   * required, others' write refused (-EINVAL) */
	int32_t gid;              /* group allowed to attach (mode gets g+rw), -1: none */
	uint64_t heartbeat_interval_ns; /* how often members beat, default 50 ms */
	uint32_t heartbeat_misses; /* beats missed before a member is declared hung, default 3 */
	uint32_t checksum;         /* PF_CHECKSUM_*, default PF_CHECKSUM_XXH3 */
	uint64_t slot_grace_ns;    /* a dead member's slot stays unused this long, default 100 ms */
	/* Scheduling (pflight/sched.h): the strategy and its parameters, switchable later. */
	uint32_t sched_strategy;  /* enum pf_sched_strategy, default PF_SCHED_TRUST_WEIGHTED */
	uint32_t trust_floor_ppm; /* members below this trust get nothing, default 0 */
	uint32_t epsilon_ppm;     /* bounded load, every strategy: no member above
				   * ceil((1 + eps) x its fair share), PF_SCHED_EPSILON_DEFAULT */
	uint32_t assign_slots;    /* per member, placements and hand-offs waiting to be adopted,
				   * pow2 2..65536; default 0: twice the VNodes per member slot,
				   * 256..65536 (a rebalancing round gives a member no more than
				   * its ring has room for) */
	uint64_t sched_seed;      /* ties and hash points; same seed, same decisions */
	uint32_t explain_slots;   /* recent placement explanations kept, pow2, default 1024 */
	uint32_t reserved0;       /* must be zero */
	uint64_t reserved[4];     /* must be zero */
};

/* Fill opts with the defaults above and opts->size. */
PF_API void pf_domain_opts_init(struct pf_domain_opts *opts);

/*
 * Create the domain `name` (1..PF_DOMAIN_NAME_MAX bytes of [A-Za-z0-9._-], not starting
 * with '.') and open it. opts may be NULL for the defaults. The segment header is
 * published last, so nobody attaches to a half-built domain.
 * Returns 0 and writes *ret_domain, or:
 *   -EINVAL    bad name, opts->size too large with non-zero excess, a limit of 0 or out
 *              of range, inbox_slots not a power of two, unknown flags or checksum
 *   -ENAMETOOLONG  name longer than PF_DOMAIN_NAME_MAX
 *   -EEXIST    a domain of that name exists (see PF_DOMAIN_REPLACE)
 *   -EFBIG     the limits need a segment larger than the address space allows
 *   -EPERM/-EACCES  the group cannot be given to the segment
 *   -ENOMEM, -ENOSPC, -EMFILE  no resources
 * Blocking; any thread; not async-signal-safe.
 */
PF_API int pf_domain_create(const char *name, const struct pf_domain_opts *opts,
			    struct pf_domain **ret_domain);

/*
 * Attach to an existing domain. The whole header, region table and limits are
 * validated before any offset is used. Returns 0, or:
 *   -EINVAL, -ENAMETOOLONG  bad name
 *   -ENOENT    no such domain
 *   -EACCES    the segment's permissions refuse this process
 *   -EAGAIN    the creator has not published it yet: retry
 *   -EBADMSG   not a PhoenixFlight segment (wrong magic)
 *   -EPROTONOSUPPORT  another layout major version
 *   -EPROTO    header size, a reserved field or a limit is inconsistent
 *   -EOVERFLOW the segment is shorter than its header says (truncated)
 *   -ERANGE    an offset or region lies outside the segment or overlaps another
 *   -ENOMEM    no memory for the handle or the mapping
 */
PF_API int pf_domain_open(const char *name, struct pf_domain **ret_domain);

/* Detach: unmap and free the handle. Let every member joined through it leave first:
 * a member left joined stops beating, is declared hung, and its process is killed
 * before its VNodes are placed again. Accepts NULL. */
PF_API void pf_domain_close(struct pf_domain *domain);

/* Remove the domain's name, then close the handle. Processes still attached keep
 * working on their mapping; nobody new can attach. Returns 0, -ENOENT, -EACCES. */
PF_API int pf_domain_destroy(struct pf_domain *domain);

/* Remove a domain by name without opening it (cleanup tools). 0, -ENOENT, -EACCES,
 * -EINVAL. */
PF_API int pf_domain_unlink(const char *name);

/* What a domain holds, read from shared memory without stopping anyone. */
struct pf_domain_info {
	uint32_t size; /* set by the caller: sizeof(struct pf_domain_info) */
	uint32_t members_max;
	uint32_t vnodes_max;
	uint32_t caps_max;
	uint32_t inbox_slots;
	uint32_t msg_bytes_max;
	uint32_t state_bytes_max;
	uint32_t checksum;
	uint64_t segment_bytes;
	uint64_t table_bytes_per_vnode; /* VNode table cost, state and inboxes apart */
	uint64_t heartbeat_interval_ns;
	uint32_t heartbeat_misses;
	uint32_t members_active;     /* ACTIVE or DRAINING now, counted from the member table */
	uint32_t caps_count;         /* capability names interned */
	uint32_t membership_version; /* bumped on every join, leave and death */
	uint32_t vnodes_pending;     /* counted by a scan: costs O(vnodes_max) */
	uint32_t vnodes_active;      /* counted by the same scan */
	/* The segment this process mapped, from fstat(2) of its own descriptor (what the
	 * name names now may differ): who created it (owner) and who may write it. A
	 * daemon adopting an existing segment checks them (tools/pflightd), and a client
	 * of its control socket expects it to run as root or as segment_uid
	 * (pflight/control.h). UINT32_MAX each when it cannot be told. */
	uint32_t segment_uid;
	uint32_t segment_gid;
	uint32_t segment_mode; /* permission bits, & 07777 */
	uint32_t reserved0;
	uint64_t reserved[2];
};

/*
 * Members ACTIVE or DRAINING now (>= 0), and the membership version in *ret_version
 * (bumped on every join, leave and death; may be NULL). The count is taken from the member
 * table itself, one load per slot (members_max of them: 64 by default), so it is exact
 * whoever died when: a joiner the gatekeeper admitted counts from the gatekeeper's
 * decision, whether or not it ever wakes, and a dead one stops counting when it is
 * declared dead. Cheap enough for a worker's loop. Returns -EINVAL for a NULL domain.
 */
PF_API int pf_domain_membership(struct pf_domain *domain, uint32_t *ret_version);

/* Fill *info (info->size must be set). 0 or -EINVAL. Wait-free reads; any thread. */
PF_API int pf_domain_info(struct pf_domain *domain, struct pf_domain_info *info);

/*
 * Wait until the membership version differs from `seen` (a join, leave or death was
 * published) or timeout_ns passes (0: do not wait, UINT64_MAX: forever). Waiters spin
 * briefly, then sleep on a futex in the segment: no polling. Read the current version
 * with pf_domain_info(). Returns 0 when it changed, -ETIMEDOUT, -EINTR. Blocking.
 */
PF_API int pf_domain_wait_membership(struct pf_domain *domain, uint32_t seen, uint64_t timeout_ns);

/*
 * Domain-wide counters (a copy), for `pflight stat`-like inspection.
 *
 * Exact event counts (JOINS to SLOTS_FREED): counted from what the member table records
 * of each generation of each slot (core/tally.c), so they agree with the table whoever
 * dies at whichever instruction (a joiner, a member, a gatekeeper, a supervisor in the
 * middle of a repair): nothing is lost or counted twice. So the table says, at every
 * instant (and a read of a quiet domain shows)
 *   joins == leaves + drained away + deaths and hung of members + members_active
 * (deaths and hung also count joiners that died before they joined; a member drained away
 * by pf_sched_drain_step() neither left nor died), and repairs == deaths + hung once no
 * repair is under way.
 *
 * Statistics of attempts (CLAIM_RACES and after): each counts something a live caller
 * tried and was refused or had to redo, by a relaxed fetch_add after the attempt; a
 * caller killed between the two leaves its attempt uncounted. No table records these, and
 * nothing is derived from them.
 */
enum pf_counter {
	PF_COUNTER_JOINS,            /* slots made ACTIVE: by the joiner, or by the gatekeeper's
					admission (a member from then on, woken or not) */
	PF_COUNTER_LEAVES,           /* members that gave their slot back (pf_member_leave()) */
	PF_COUNTER_JOIN_REFUSED,     /* joins refused by the domain's rule or can-register hook
					(before taking a slot), or by the gatekeeper at the gate */
	PF_COUNTER_DEATHS,           /* members and joiners declared dead: exited, vanished or
					quarantined (pflight/supervisor.h) */
	PF_COUNTER_HUNG,             /* members declared dead because their heartbeat stopped */
	PF_COUNTER_REPAIRS,          /* dead members and joiners whose repair finished */
	PF_COUNTER_VNODES_REPAIRED,  /* VNodes the dead owned when their repair began (all
					returned to PENDING by it) */
	PF_COUNTER_SLOTS_FREED,      /* member slots taken again by a joiner after their grace
					period (a slot at generation g was taken again g - 1 times) */
	PF_COUNTER_CLAIM_RACES,      /* claims that lost a CAS to another claimer */
	PF_COUNTER_STALE_REFUSED,    /* writes refused for a stale epoch */
	PF_COUNTER_CKPT_CORRUPT,     /* checkpoints refused by checksum or header */
	PF_COUNTER_INBOX_FULL,       /* sends refused because an inbox was full */
	PF_COUNTER_INBOX_SKIPS,      /* inbox slots skipped past a stalled or dead sender */
	PF_COUNTER_PENDING_REQUEUED, /* pending VNodes put back in the queue by a sweep */
	PF_COUNTER_SHM_INVALID,      /* values from shared memory refused by validation */
	PF_COUNTER_COUNT
};

/* Copy up to `count` counters into values (indexed by enum pf_counter); returns the
 * number copied. Reads every member slot (O(members_max)) and the counter words without
 * stopping anyone: exact on a quiet domain; while joins, leaves and repairs run, a read is
 * a snapshot, not a consistent cut, and may be off by what is in flight. */
PF_API int pf_domain_counters(struct pf_domain *domain, uint64_t *values, uint32_t count);

/* Stable name of a counter ("deaths"), or NULL for an unknown index. */
PF_API const char *pf_counter_name(uint32_t counter);

#ifdef __cplusplus
}
#endif

#endif /* PFLIGHT_DOMAIN_H */

/* SPDX-License-Identifier: MIT */
/*
 * core/layout.h: the shared-memory layout of a domain (layout major 2).
 *
 * Segment = shm header (64 B) | region table | control | capability directory |
 * member table | VNode ownership words | VNode records | pending ring | checkpoint
 * buffers | inbox arena | assignment rings | explanations | failure history | checkpoint
 * buffer holders. Each region starts on a page so that a region can later be bound
 * to a NUMA node on its own. Every struct here is shared ABI: sizes and the offsets of
 * synchronising fields are static-asserted, and any change bumps DOMAIN_LAYOUT_MAJOR.
 *
 * Nothing read from these structs is trusted: limits are copied and validated once at
 * open (struct pf_domain keeps the copy, so a peer that scribbles on them later changes
 * nothing), and every index, length or position taken from a shared word is range-checked
 * before use.
 *
 * Words (all little-endian as the host, one host only):
 *
 *   member state   [63:32] generation  [23:16] flags  [15:8] cause  [7:0] state
 *   member tally   [63:32] generation being counted  [31:7] zero  [6:0] its events counted
 *                  (bit = enum pf_counter, core/tally.c)
 *   repair owned   [63:32] generation  [31:0] VNodes it owned when its repair counted them
 *   event counter  [63:13] count  [12] tagged  [11:0] slot whose fold last added to it
 *                  (counters[] of the events core/tally.c counts; the others: a count)
 *   ownership      [63:32] epoch  [31:16] owner generation (low 16 bits)
 *                  [15:4] owner slot  [3:0] enum pf_vnode_state
 *   checkpoint     [63:32] epoch  [31:22] sequence tag (low 10 bits of the sequence)
 *                  [21:0] buffer holding the state (CKPT_BUF_NONE: never committed)
 *   buffer holder  [63:32] version  [31:30] FREE/HELD/PUB  [29:0] HELD: member slot and
 *                  low 16 bits of its generation (slot | gen << 12); PUB: VNode id
 *   move request   [63:32] ownership epoch it applies to  [31:16] target generation (low
 *                  16 bits)  [15:4] target slot  [3:1] zero  [0] valid
 *   inbox slot     [63:32] lap  [31:8] length  [2] carried  [1:0] EMPTY/WRITING/FULL/SKIP
 */
#ifndef PF_CORE_LAYOUT_H
#define PF_CORE_LAYOUT_H

#include <pthread.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>

#include "pflight/domain.h"
#include "pflight/member.h"
#include "pflight/sched.h"
#include "pflight/vnode.h"
#include "shm/pf_compiler.h"

/* Major 2: checkpoint buffers held by their writer (core/checkpoint.c), the member record
 * grows to 320 bytes (attach words), exact membership counters (core/tally.c: the facts in
 * the member state word, the tally and repair_owned words, the tagged event counters;
 * members_active is counted from the table, no longer kept). Minor 1: the states between
 * hosts in the ownership word (LEAVING, ARRIVING, REMOTE) and buffers held by HOLD_HOST
 * (core/transit.c); a minor-0 reader counts such words invalid. Major 1's minors: 1 move
 * requests, membership_change_ns; 2 the admission gate. */
#define DOMAIN_LAYOUT_MAJOR 2
#define DOMAIN_LAYOUT_MINOR 1
#define DOMAIN_SHM_PREFIX "pflight-"
#define DOMAIN_REGION_ALIGN 4096u

enum dom_region {
	REGION_CONTROL,
	REGION_CAPS,
	REGION_MEMBERS,
	REGION_OWNERSHIP,
	REGION_VNODES,
	REGION_PENDING,
	REGION_CKPT,
	REGION_INBOX,
	REGION_ASSIGN,
	REGION_EXPLAIN,
	REGION_HISTORY,
	REGION_CKPT_HOLD,
	REGION_COUNT
};

/* Limits, written once by the creator before the header is published. */
struct dom_limits {
	uint32_t members_max;
	uint32_t vnodes_max;
	uint32_t caps_max;
	uint32_t inbox_slots;      /* power of two */
	uint32_t inbox_order;      /* log2(inbox_slots) */
	uint32_t inbox_slot_bytes; /* multiple of 64: slot header + msg_bytes_max */
	uint32_t msg_bytes_max;
	uint32_t state_bytes_max;
	uint64_t ckpt_slot_bytes; /* multiple of 64: checkpoint header + state_bytes_max */
	uint32_t pending_slots;   /* power of two, >= 2 x vnodes_max */
	uint32_t checksum;        /* PF_CHECKSUM_* */
	uint64_t heartbeat_interval_ns;
	uint64_t slot_grace_ns;
	uint32_t heartbeat_misses;
	uint32_t mode;
	uint32_t owner_uid;
	int32_t gid;
	uint32_t assign_slots;  /* per-member assignment ring, power of two */
	uint32_t explain_slots; /* explanation ring, power of two */
	uint32_t ckpt_bufs;     /* checkpoint buffers: ckpt_bufs_for(vnodes_max, members_max) */
	uint32_t reserved0;     /* must be zero */
	uint64_t reserved[4];   /* must be zero */
};
_Static_assert(sizeof(struct dom_limits) == 128, "limits are shared ABI");

#define DOM_COUNTER_SLOTS 32u
_Static_assert(PF_COUNTER_COUNT <= DOM_COUNTER_SLOTS, "counter slots exhausted");

struct dom_control {
	struct dom_limits limits;
	/* Bumped on every join, leave and death; a futex that waiters sleep on. */
	alignas(PF_CACHELINE) _Atomic uint32_t membership_version;
	/* Unused since layout major 2 (members_active, a maintained count that a death at the
	 * wrong instruction made wrong): pf_domain_info() counts the member table instead. */
	uint32_t reserved0;
	_Atomic uint32_t caps_count; /* directory entries [0, caps_count) are ready */
	/* Admission gate (core/admission.c): pid of the gatekeeper that decides joins, 0 when
	 * joins need no decision. */
	_Atomic uint32_t gate_pid;
	/* now_ns() of the last membership change: rebalancing waits a cool-down after it. */
	_Atomic uint64_t membership_change_ns;
	_Atomic uint32_t gate_flags; /* GATE_* */
	uint32_t reserved1;
	/* Bumped whenever a VNode becomes PENDING; placers sleep on it. */
	alignas(PF_CACHELINE) _Atomic uint32_t pending_version;
	_Atomic uint32_t pending_waiters;
	/* Who places the pending VNodes (core/placer.c): the process that registered as the
	 * domain's placer (pflightd's scheduler), 0 for none; else the members, one round at
	 * a time under place_lease = [63:32] time in ms, [31:16] generation (low 16 bits),
	 * [15:0] slot + 1 of the member placing; 0 when nobody is. placer_beat_ms: the low
	 * 32 bits of the registered placer's clock in ms at its last pass (pf_sched_run): a
	 * registration whose beat is older than the heartbeat timeout is a stalled placer's. */
	_Atomic uint32_t placer_pid;
	_Atomic uint32_t placer_beat_ms;
	_Atomic uint64_t placer_start;
	_Atomic uint64_t place_lease;
	/* The supervisor that wins the CAS on this runs the periodic sweep. */
	alignas(PF_CACHELINE) _Atomic uint64_t sweep_time_ns;
	/* Scheduling settings: chosen at creation, switchable by the control plane. */
	alignas(PF_CACHELINE) _Atomic uint32_t sched_strategy;
	_Atomic uint32_t trust_floor_ppm;
	_Atomic uint32_t epsilon_ppm;     /* the bounded load's epsilon, every strategy */
	_Atomic uint32_t explain_readers; /* > 0: placements write their explanations */
	_Atomic uint64_t sched_seed;
	_Atomic uint64_t sched_version; /* bumped when a setting or an attribute changes */
	/* Explanation ring: records [seq - explain_slots, seq) may be read. */
	alignas(PF_CACHELINE) _Atomic uint64_t explain_seq;
	/* Control-plane lock (capability interning, VNode definition): robust and
	 * process-shared, so a holder that dies hands it on with EOWNERDEAD. */
	alignas(PF_CACHELINE) pthread_mutex_t lock;
	alignas(PF_CACHELINE) _Atomic uint64_t counters[DOM_COUNTER_SLOTS];
};
_Static_assert(sizeof(pthread_mutex_t) <= PF_CACHELINE, "lock must fit one line");
_Static_assert(offsetof(struct dom_control, membership_version) == 128, "layout moved");
_Static_assert(offsetof(struct dom_control, gate_pid) == 140, "gate moved");
_Static_assert(offsetof(struct dom_control, pending_version) == 192,
	       "the gate fields must stay inside the membership line");
_Static_assert(offsetof(struct dom_control, place_lease) == 216, "placement moved");
_Static_assert(sizeof(struct dom_control) % PF_CACHELINE == 0, "control is line-padded");

/* Capability directory entry: written under the control lock, read lock-free. */
struct dom_cap {
	_Atomic uint32_t ready; /* 1 once name is written (release store) */
	uint32_t name_len;
	/* Unused since layout major 2 (providers, a count of the members that declared it,
	 * which nothing read and every death left one too high): the member table says. */
	uint32_t reserved0;
	uint32_t reserved;
	char name[48]; /* NUL-terminated, at most PF_CAP_NAME_MAX bytes */
};
_Static_assert(sizeof(struct dom_cap) == 64, "capability entry is shared ABI");
_Static_assert(PF_CAP_NAME_MAX < sizeof(((struct dom_cap *)0)->name), "name must fit");

/* Member state word. */
#define MEMBER_STATE_MASK 0xffu
#define MEMBER_CAUSE_SHIFT 8
#define MEMBER_FLAG_REPAIRED (UINT64_C(1) << 16) /* DEAD and repaired: free after grace */
/* JOINING, identity not written yet: pid, start time and futex still belong to the
 * slot's previous generation and say nothing about the joiner. */
#define MEMBER_FLAG_INIT (UINT64_C(1) << 17)
/* DRAINING because of a retire (core/drain.c): the drain ends RETIRED, not FREE, and
 * the slot keeps the retired identity as history until a joiner takes it after grace. */
#define MEMBER_FLAG_RETIRE (UINT64_C(1) << 18)
/* JOINING, identity written and futex held, waiting for the gatekeeper's decision
 * (core/admission.c): only the joiner (giving up) or the gatekeeper (admitting) moves it. */
#define MEMBER_FLAG_AWAIT (UINT64_C(1) << 19)
/*
 * Facts of a generation (core/tally.c counts the membership events from them): each is set
 * by the CAS that makes it true and kept by every later transition of the generation, so
 * the slot's state word says what happened to its member until a joiner takes the slot.
 */
/* It became ACTIVE (the joiner's CAS, or the gatekeeper's admitting one): a member. */
#define MEMBER_FLAG_JOINED (UINT64_C(1) << 20)
/* The gatekeeper refused it at the gate (AWAIT -> JOINING|REFUSED): never a member. */
#define MEMBER_FLAG_REFUSED (UINT64_C(1) << 21)
/* A drain gave its slot back (FREE or RETIRED): it neither left nor died. */
#define MEMBER_FLAG_DRAINED (UINT64_C(1) << 22)
/* A supervisor judged it hung (ACTIVE or DRAINING), by the CAS that precedes its kill
 * (core/supervisor.c): whoever then declares it dead, however it learns of the death,
 * declares it hung. */
#define MEMBER_FLAG_HUNG (UINT64_C(1) << 23)
#define MEMBER_FACTS                                                                               \
	(MEMBER_FLAG_JOINED | MEMBER_FLAG_REFUSED | MEMBER_FLAG_DRAINED | MEMBER_FLAG_HUNG)
#define MEMBER_FLAGS_KNOWN                                                                         \
	(MEMBER_FLAG_REPAIRED | MEMBER_FLAG_INIT | MEMBER_FLAG_RETIRE | MEMBER_FLAG_AWAIT |        \
	 MEMBER_FACTS)
#define MEMBER_GEN_SHIFT 32

static inline uint64_t member_word(uint32_t gen, uint32_t state, uint32_t cause, uint64_t flags)
{
	return ((uint64_t)gen << MEMBER_GEN_SHIFT) | flags | ((uint64_t)(cause & 0xff) << 8) |
	       (state & MEMBER_STATE_MASK);
}
static inline uint32_t member_word_state(uint64_t w)
{
	return (uint32_t)(w & MEMBER_STATE_MASK);
}
static inline uint32_t member_word_gen(uint64_t w)
{
	return (uint32_t)(w >> MEMBER_GEN_SHIFT);
}
static inline uint32_t member_word_cause(uint64_t w)
{
	return (uint32_t)((w >> MEMBER_CAUSE_SHIFT) & 0xff);
}
static inline uint64_t member_word_facts(uint64_t w)
{
	return w & MEMBER_FACTS;
}
/* Generations of a slot are compared serially (they wrap at 2^32): a is g or later. */
static inline int member_gen_reached(uint32_t a, uint32_t g)
{
	return (int32_t)(a - g) >= 0;
}
/* The generation a joiner takes the slot at after gen; 0 means "never used". */
static inline uint32_t member_gen_next(uint32_t gen)
{
	return gen + 1 != 0 ? gen + 1 : 1;
}

/* Robust futex bits (linux/futex.h), restated so this header stays self-contained. */
#define FUTEX_WORD_TID_MASK 0x3fffffffu
#define FUTEX_WORD_OWNER_DIED 0x40000000u
#define FUTEX_WORD_WAITERS 0x80000000u

#define MEMBER_ROBUST_AREA_OFFSET 16u
#define MEMBER_ROBUST_AREA_BYTES 48u

struct dom_member {
	/* Line 0: liveness. state by CAS (joiner, leaver, supervisors); futex held by the
	 * member's joining thread; the robust-list node lives in robust_area. */
	_Atomic uint64_t state;
	_Atomic uint32_t futex;
	_Atomic uint32_t reserved0; /* reserved: zero (a joiner zeroes them all) */
	unsigned char robust_area[MEMBER_ROBUST_AREA_BYTES];
	/* Line 1: identity, written while JOINING, fixed while the generation lives. Atomic
	 * (accessed relaxed) because a reader may still be reading a slot that a new
	 * joiner is rewriting; readers re-check the state word after reading. */
	_Atomic int32_t pid;
	_Atomic uint32_t uid;
	_Atomic uint32_t gid;
	_Atomic int32_t tid;
	_Atomic uint64_t start_time;
	_Atomic uint64_t join_time_ns;
	_Atomic uint64_t caps[2];
	_Atomic int32_t numa_node;
	_Atomic int32_t cpu;
	_Atomic uint32_t caps_declared;
	_Atomic uint32_t reserved1;
	/* Line 2: attributes and what supervisors record. */
	_Atomic uint32_t reliability_ppm;
	_Atomic uint32_t trust_ppm;
	_Atomic uint32_t load_ppm;
	_Atomic uint32_t reserved2; /* must be zero */
	_Atomic uint64_t dead_time_ns;
	_Atomic uint64_t free_at_ns;     /* slot reusable from then on */
	_Atomic uint32_t mem_ppm;        /* memory load the member reports */
	_Atomic uint32_t vnode_capacity; /* VNodes it can hold at full load */
	_Atomic uint64_t cordon_ns;      /* now_ns() of the cordon (core/drain.c), 0: never */
	_Atomic uint64_t admission;      /* the gatekeeper's decision, ADMISSION_* word */
	_Atomic uint64_t repair_owned;   /* VNodes its repair found it owned (core/tally.c) */
	/* Line 3: written by the member only (hot). */
	_Atomic uint64_t heartbeat;
	_Atomic uint32_t vnodes_owned;
	_Atomic uint32_t reserved3;
	_Atomic uint64_t claims;
	_Atomic uint64_t commits;
	/* Messages received: a statistic, not one of the exact counters of invariant 7. It
	 * is added to without a locked instruction (core/inbox.c: one on every receive would
	 * cost more than the receive), so threads of one member receiving at the same instant
	 * may undercount it. */
	_Atomic uint64_t received;
	_Atomic uint64_t identity_key; /* uid + executable: what failure history is kept by */
	/* Which events of a generation the domain's counters hold (core/tally.c): written
	 * when a joiner takes the slot again, never by the member. */
	_Atomic uint64_t tally;
	_Atomic uint64_t reserved4[1];
	/* Line 4: attached = (generation << 32) | pid of the process that took the slot, with
	 * attach_start its start time (0 until the attacher wrote it), from the claim that
	 * precedes the take of the slot until that member's handle is gone (its leave, or its
	 * process gone: core/member.c); 0 otherwise. The slot is not taken again before, so a
	 * member that lost its slot (drained away, declared dead, stalled while joining, even
	 * between its take and its first write) never writes into a record that names another
	 * member, and the checkpoint buffers it holds (HELD by slot and generation,
	 * core/checkpoint.c) are given back by the reclaim. ckpt_used: 1 once this generation
	 * took a buffer (a reclaim of a member that never did need not look). ckpt_replacing: its
	 * commits between a publish that replaced a buffer it did not hold and the take of that
	 * buffer; only a reclaim of a member that died there looks for the buffer so left
	 * published and unnamed. */
	_Atomic uint64_t attached;
	_Atomic uint64_t attach_start;
	_Atomic uint32_t ckpt_used;
	/* The member's wait (core/wait.c): waiting counts its thread parked (or armed for
	 * the wait's file descriptor; one waiting thread per member); bell is the futex it
	 * sleeps on, bumped by whoever gives it something (a message, a placement, a move
	 * request) while waiting > 0. A joiner taking the slot sets waiting to 0: a member
	 * killed while counted in it never takes itself out. */
	_Atomic uint32_t waiting;
	_Atomic uint32_t bell;
	_Atomic uint32_t ckpt_replacing;
	_Atomic uint64_t reserved5[4];
};
_Static_assert(sizeof(struct dom_member) == 320, "member record is shared ABI");
_Static_assert(offsetof(struct dom_member, futex) == 8, "futex moved");
_Static_assert(offsetof(struct dom_member, robust_area) == MEMBER_ROBUST_AREA_OFFSET,
	       "robust area moved");
_Static_assert(offsetof(struct dom_member, pid) == 64, "identity line moved");
_Static_assert(offsetof(struct dom_member, reliability_ppm) == 128, "attribute line moved");
_Static_assert(offsetof(struct dom_member, heartbeat) == 192, "hot line moved");
_Static_assert(offsetof(struct dom_member, admission) == 176, "admission word moved");
_Static_assert(offsetof(struct dom_member, repair_owned) == 184, "repair word moved");
_Static_assert(offsetof(struct dom_member, tally) == 240, "tally word moved");
_Static_assert(offsetof(struct dom_member, attached) == 256, "attached moved");

/* Gate flags. */
#define GATE_STRICT 0x1u /* joins fail while the gatekeeper is gone (policies in force) */
#define GATE_FLAGS_KNOWN GATE_STRICT

/*
 * Admission word, written only by the gatekeeper:
 *   [63:32] member generation it is about  [31:24] status  [23:16] policy action
 *   [15:8] rule index (0xff: none)  [7:0] enum pf_policy_check
 * A word whose generation is not the slot's says nothing about the current member.
 */
#define ADMISSION_GRANTED 1u /* joined through the gate, or reviewed and allowed */
#define ADMISSION_REFUSED 2u /* refused at the gate, or reviewed and refused (cordoned) */
#define ADMISSION_STATUS_MASK 0x0fu
#define ADMISSION_TOKEN 0x10u /* status bit: granted on a join token */
static inline uint64_t admission_word(uint32_t gen, uint32_t status, uint32_t action, uint32_t rule,
				      uint32_t check)
{
	return ((uint64_t)gen << 32) | ((uint64_t)(status & 0xffu) << 24) |
	       ((uint64_t)(action & 0xffu) << 16) | ((uint64_t)(rule & 0xffu) << 8) |
	       (check & 0xffu);
}
static inline uint32_t admission_gen(uint64_t w)
{
	return (uint32_t)(w >> 32);
}
static inline uint32_t admission_status(uint64_t w)
{
	return (uint32_t)(w >> 24) & ADMISSION_STATUS_MASK;
}
static inline uint32_t admission_by_token(uint64_t w)
{
	return ((uint32_t)(w >> 24) & ADMISSION_TOKEN) != 0;
}
static inline uint32_t admission_action(uint64_t w)
{
	return (uint32_t)(w >> 16) & 0xffu;
}
static inline uint32_t admission_rule(uint64_t w)
{
	return (uint32_t)(w >> 8) & 0xffu;
}
static inline uint32_t admission_check(uint64_t w)
{
	return (uint32_t)w & 0xffu;
}

/* Ownership word. */
#define OWN_STATE_MASK 0xfu
#define OWN_SLOT_SHIFT 4
#define OWN_SLOT_MASK 0xfffu
#define OWN_GEN_SHIFT 16
#define OWN_GEN_MASK 0xffffu
#define OWN_EPOCH_SHIFT 32
_Static_assert(PF_MEMBERS_MAX - 1 <= OWN_SLOT_MASK, "member slot must fit the ownership word");

static inline uint64_t own_word(uint32_t state, uint32_t slot, uint32_t gen, uint32_t epoch)
{
	return ((uint64_t)epoch << OWN_EPOCH_SHIFT) |
	       ((uint64_t)(gen & OWN_GEN_MASK) << OWN_GEN_SHIFT) |
	       ((uint64_t)(slot & OWN_SLOT_MASK) << OWN_SLOT_SHIFT) | (state & OWN_STATE_MASK);
}
static inline uint32_t own_state(uint64_t w)
{
	return (uint32_t)(w & OWN_STATE_MASK);
}
static inline uint32_t own_slot(uint64_t w)
{
	return (uint32_t)((w >> OWN_SLOT_SHIFT) & OWN_SLOT_MASK);
}
static inline uint32_t own_gen(uint64_t w)
{
	return (uint32_t)((w >> OWN_GEN_SHIFT) & OWN_GEN_MASK);
}
static inline uint32_t own_epoch(uint64_t w)
{
	return (uint32_t)(w >> OWN_EPOCH_SHIFT);
}
static inline int own_is_owned(uint64_t w)
{
	uint32_t s = own_state(w);

	return s == PF_VNODE_ACTIVE || s == PF_VNODE_MIGRATING || s == PF_VNODE_DRAINING;
}
/* Between hosts: LEAVING, ARRIVING, REMOTE. The slot field names the other host (its
 * index in the daemon's peer table, OWN_HOST_UNKNOWN when not known), the generation is 0;
 * no member owns the VNode (core/transit.c). */
#define OWN_HOST_UNKNOWN OWN_SLOT_MASK
static inline int own_in_transit(uint64_t w)
{
	uint32_t s = own_state(w);

	return s == PF_VNODE_LEAVING || s == PF_VNODE_ARRIVING || s == PF_VNODE_REMOTE;
}

/* Checkpoint descriptor word. */
#define CKPT_BUF_BITS 22
#define CKPT_BUF_NONE ((UINT32_C(1) << CKPT_BUF_BITS) - 1)
#define CKPT_TAG_MASK 0x3ffu
static inline uint64_t ckpt_word(uint32_t epoch, uint32_t seq, uint32_t buf)
{
	return ((uint64_t)epoch << 32) | ((uint64_t)(seq & CKPT_TAG_MASK) << CKPT_BUF_BITS) |
	       (buf & CKPT_BUF_NONE);
}
static inline uint32_t ckpt_epoch(uint64_t w)
{
	return (uint32_t)(w >> 32);
}
/* The low 10 bits of the sequence of the state it names (the header has all 32). */
static inline uint32_t ckpt_tag(uint64_t w)
{
	return (uint32_t)(w >> CKPT_BUF_BITS) & CKPT_TAG_MASK;
}
static inline uint32_t ckpt_buf(uint64_t w)
{
	return (uint32_t)w & CKPT_BUF_NONE;
}

/*
 * Checkpoint buffers: two "home" buffers per VNode (2 id and 2 id + 1, on its NUMA home
 * node), then CKPT_SPARES_PER_MEMBER spares per member slot for the buffers fenced-out
 * writers still hold (core/checkpoint.c says why this is enough in practice, and what a
 * commit returns when it is not).
 */
#define CKPT_SPARES_PER_MEMBER 16u
static inline uint32_t ckpt_bufs_for(uint32_t vnodes_max, uint32_t members_max)
{
	return 2 * vnodes_max + CKPT_SPARES_PER_MEMBER * members_max;
}
_Static_assert(2ull * PF_VNODES_MAX + 16ull * PF_MEMBERS_MAX < CKPT_BUF_NONE,
	       "a buffer index must fit the descriptor");

/* Buffer holder word. */
#define HOLD_FREE 0u
#define HOLD_HELD 1u
#define HOLD_PUB 2u
#define HOLD_WHO_MASK 0x3fffffffu
static inline uint64_t hold_word(uint32_t version, uint32_t state, uint32_t who)
{
	return ((uint64_t)version << 32) | ((uint64_t)(state & 3u) << 30) | (who & HOLD_WHO_MASK);
}
static inline uint32_t hold_version(uint64_t w)
{
	return (uint32_t)(w >> 32);
}
static inline uint32_t hold_state(uint64_t w)
{
	return (uint32_t)(w >> 30) & 3u;
}
static inline uint32_t hold_who(uint64_t w)
{
	return (uint32_t)w & HOLD_WHO_MASK;
}
/* Who of a buffer HELD by the host's daemon while it installs a state that arrived from
 * another host (core/transit.c): no member's (a member's who is below 2^28). */
#define HOLD_HOST (UINT32_C(1) << 28)
/* Who of a buffer HELD by member (slot, gen). */
static inline uint32_t hold_member(uint32_t slot, uint32_t gen)
{
	return (slot & OWN_SLOT_MASK) | ((gen & OWN_GEN_MASK) << 12);
}

/* Move request word: valid only while the ownership epoch is the one it names. */
#define MOVE_VALID UINT64_C(1)
#define MOVE_RESERVED_MASK UINT64_C(0xe)
static inline uint64_t move_word(uint32_t epoch, uint32_t slot, uint32_t gen)
{
	return own_word(0, slot, gen, epoch) | MOVE_VALID;
}
static inline int move_valid_for(uint64_t req, uint32_t epoch)
{
	return (req & MOVE_VALID) != 0 && own_epoch(req) == epoch;
}

#define PENDING_POS_NONE UINT64_MAX
/* While owned, pending_pos = ADOPTED | epoch once the owner adopted that placement, so a
 * second (stale) assignment-ring entry for the same epoch is not adopted twice. Only the
 * adoption writes it, over whatever the word held (a queue position written late is no
 * adoption), and no queue position replaces the mark of the epoch owned now. */
#define PENDING_POS_ADOPTED (UINT64_C(1) << 62)

/* VNode record: 64 bytes; with its ownership word, two pending-ring slots and the holder
 * words of its two home checkpoint buffers the table costs 104 bytes per VNode (goal:
 * <= 128), plus 128 bytes of spare buffers' holder words per member slot. */
struct dom_vnode {
	_Atomic uint64_t ckpt;        /* checkpoint descriptor, CAS only */
	_Atomic uint64_t inbox_tail;  /* senders' position hint (helped forward) */
	_Atomic uint64_t inbox_head;  /* freed up to here (owner, CAS-max) */
	_Atomic uint64_t pending_pos; /* pending-ring position when last queued (hint) */
	uint64_t caps[2];             /* required capabilities, fixed once defined */
	int32_t home_node;
	_Atomic uint32_t pending_reason; /* enum pf_sched_reason: why it is not placed */
	_Atomic uint64_t move_req;       /* move request (rebalance.c), CAS only */
};
_Static_assert(sizeof(struct dom_vnode) == 64, "VNode record is shared ABI");
_Static_assert(offsetof(struct dom_vnode, ckpt) == 0, "ckpt moved");
_Static_assert(offsetof(struct dom_vnode, move_req) == 56, "move_req moved");

/* Checkpoint buffer header; the state bytes follow it. */
struct dom_ckpt_hdr {
	uint32_t vnode;
	uint32_t epoch;
	uint32_t seq; /* commits of this VNode so far, this one included */
	uint32_t len;
	uint64_t inbox_pos; /* inbox consumed up to here when this state was taken */
	uint64_t checksum;  /* over the fields above (as seed) and the bytes */
	uint64_t commit_ns; /* 0: not recorded (nothing read it; the clock read cost every
			     * commit) */
	uint64_t reserved[3];
};
_Static_assert(sizeof(struct dom_ckpt_hdr) == 64, "checkpoint header is shared ABI");

/* Inbox slot word. */
#define INBOX_EMPTY 0u
#define INBOX_WRITING 1u
#define INBOX_FULL 2u
#define INBOX_SKIP 3u
/* A FULL slot placed by an arrival (inbox_prepend(), core/transit.c), not by a sender:
 * what an undone arrival takes back (inbox_unprepend()). Readers ignore it. */
#define INBOX_CARRIED 0x4u
#define INBOX_LEN_SHIFT 8
#define INBOX_LEN_MASK 0xffffffu
_Static_assert(PF_MSG_BYTES_MAX <= INBOX_LEN_MASK, "length must fit the slot word");

static inline uint64_t inbox_word(uint32_t lap, uint32_t len, uint32_t st)
{
	return ((uint64_t)lap << 32) | ((uint64_t)(len & INBOX_LEN_MASK) << INBOX_LEN_SHIFT) |
	       (st & 3u);
}
static inline uint32_t inbox_lap(uint64_t w)
{
	return (uint32_t)(w >> 32);
}
static inline uint32_t inbox_len(uint64_t w)
{
	return (uint32_t)((w >> INBOX_LEN_SHIFT) & INBOX_LEN_MASK);
}
static inline uint32_t inbox_st(uint64_t w)
{
	return (uint32_t)(w & 3u);
}

struct dom_inbox_slot {
	_Atomic uint64_t word;
	/* A message forwarded from another host: its sender's name for it, written before the
	 * publish (pf_transit_send()); cleared when a skipped slot is freed; a local send and a
	 * prepend leave it. Read only to ask whether a dead daemon's send went in. Atomic: a
	 * reader asks while another sender may reuse the slot. */
	_Atomic uint64_t tag;
	/* message bytes follow */
};
_Static_assert(sizeof(struct dom_inbox_slot) == 16, "inbox slot header is shared ABI");

/*
 * Placement explanation record (a ring of explain_slots). The writer stores seq = 2n+1
 * (writing), the fields, then seq = 2n+2 (done, [R16]); a reader copies the record and
 * keeps it only if seq was the same even value before and after ([A16]).
 */
#define EXPLAIN_FILTERED_MAX 8u
struct dom_explain {
	_Atomic uint64_t seq;
	uint32_t vnode;
	uint32_t strategy;
	uint32_t winner_slot; /* UINT32_MAX: none */
	uint32_t winner_gen;
	uint32_t epoch;
	uint32_t reason; /* enum pf_sched_reason */
	uint32_t candidates;
	uint32_t filtered[PF_SCHED_FILTERED_COUNT]; /* by cause: enum pf_sched_filtered */
	uint32_t home_node;
	uint32_t winner_node;
	uint32_t reserved0;
	uint64_t decision_ns;
	double score;
	double reliability;
	double trust;
	double load;
	double numa_factor;
	uint16_t filtered_slot[EXPLAIN_FILTERED_MAX]; /* the first members filtered out */
	uint8_t filtered_why[EXPLAIN_FILTERED_MAX];   /* and the filter that removed each */
	uint64_t reserved[2];
};
_Static_assert(sizeof(struct dom_explain) == 160, "explanation record is shared ABI");
_Static_assert(offsetof(struct dom_explain, filtered) == 36 &&
		       offsetof(struct dom_explain, reserved0) == 68 &&
		       offsetof(struct dom_explain, decision_ns) == 72 &&
		       offsetof(struct dom_explain, filtered_slot) == 120,
	       "explanation record is shared ABI");

/*
 * Failure history, kept by identity key (uid + executable), not by pid: an open-addressed
 * table of 2 x members_max (power of two) entries. A key is claimed by CAS from 0 and
 * never removed; failures only grow, and reliability forgets them with time.
 */
struct dom_history {
	_Atomic uint64_t key; /* 0: free */
	_Atomic uint32_t failures;
	uint32_t reserved0;
	_Atomic uint64_t last_failure_ns;
	uint64_t reserved1;
};
_Static_assert(sizeof(struct dom_history) == 32, "history entry is shared ABI");

/* The least power of two >= v (1 for 0; v <= 2^31): ring sizes computed from limits. */
static inline uint32_t pow2_at_least(uint32_t v)
{
	uint32_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

static inline uint32_t history_slots(const struct dom_limits *lim)
{
	return pow2_at_least(2 * lim->members_max);
}

#endif /* PF_CORE_LAYOUT_H */

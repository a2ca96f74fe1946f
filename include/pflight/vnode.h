/* SPDX-License-Identifier: MIT */
/*
 * pflight/vnode.h: VNodes, their ownership, checkpoints and inboxes.
 *
 * A VNode is a logical unit of execution with a stable id in [0, vnodes_max), an
 * ownership word changed only by compare-and-swap, a monotonically increasing epoch
 * (the fencing token: every ownership change raises it, and a write stamped with an
 * older epoch is refused), two checkpoint slots and an inbox.
 *
 * Delivery contract (the Phoenix model): pf_send() puts a message in the VNode's inbox
 * whoever owns it. The owner reads messages in order with pf_recv(). A message stays in
 * the inbox until the owner commits a checkpoint taken after reading it: the checkpoint
 * records how far the inbox was consumed. When the owner dies, the next owner loads the
 * last checkpoint and receives again every message after that point. Apply each message
 * to the state you checkpoint and every message takes effect exactly once.
 */
#ifndef PFLIGHT_VNODE_H
#define PFLIGHT_VNODE_H

#include <stddef.h>
#include <stdint.h>

#include "pflight/common.h"
#include "pflight/domain.h"
#include "pflight/member.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A VNode owned by this process: returned by a claim, freed by release. */
struct pf_vnode;

enum pf_vnode_state {
	PF_VNODE_UNASSIGNED = 0, /* not defined yet */
	PF_VNODE_PENDING = 1,    /* defined, waiting for an owner */
	PF_VNODE_ACTIVE = 2,     /* owned */
	PF_VNODE_MIGRATING = 3,  /* owned, moving to another member */
	PF_VNODE_DRAINING = 4,   /* owned by a draining member */
	/* Between hosts (pflight/transit.h): nobody on this host owns it in these. */
	PF_VNODE_LEAVING = 5,  /* stopped here, on its way to another host */
	PF_VNODE_ARRIVING = 6, /* coming from another host, its state being installed */
	PF_VNODE_REMOTE = 7,   /* owned by another host; messages sent here wait for it */
};
#define PF_VNODE_STATE_MAX PF_VNODE_REMOTE

struct pf_vnode_spec {
	uint32_t size;           /* sizeof(struct pf_vnode_spec) */
	uint32_t caps_count;     /* 0..PF_CAPS_MAX */
	const char *const *caps; /* required capability names (interned if new) */
	int32_t home_node;       /* NUMA home node, -1: none */
	uint32_t reserved0;
	uint64_t reserved[2];
};

PF_API void pf_vnode_spec_init(struct pf_vnode_spec *spec);

/*
 * The id a name hashes to (XXH3 of the name modulo vnodes_max). Different names can
 * share an id; a deployment that needs distinct ids picks names or ids accordingly.
 * Returns 0, -EINVAL (empty, longer than PF_VNODE_NAME_MAX).
 */
PF_API int pf_vnode_id_from_name(struct pf_domain *domain, const char *name, uint32_t *ret_id);

/*
 * Define VNode `id` with its requirements and make it PENDING (queued for placement).
 * spec may be NULL (no requirements, no home node). Returns 0, or:
 *   -EINVAL   id out of range, bad spec or capability name
 *   -EEXIST   already defined
 *   -ENOSPC   the capability directory is full
 */
PF_API int pf_vnode_define(struct pf_domain *domain, uint32_t id, const struct pf_vnode_spec *spec);

/* Define count VNodes from first_id on with the same spec; stops at the first error
 * other than -EEXIST. Returns the number newly defined or a negative errno. */
PF_API int pf_vnode_define_range(struct pf_domain *domain, uint32_t first_id, uint32_t count,
				 const struct pf_vnode_spec *spec);

/* Claim flags. */
#define PF_CLAIM_NOWAIT 0x1u /* return -EAGAIN instead of waiting */

/*
 * Give me my next VNode: the next one a placer placed (or an owner handed) on this member,
 * waiting for one if none is there yet. VNodes reach a member one way: a placer decides
 * (pflightd's scheduler, or, without a daemon, the members themselves: pflight/member.h,
 * "who places"), the ownership CAS on the member's behalf raises the epoch and seals the
 * checkpoint descriptor (a previous owner's late commit is refused), and the VNode waits
 * in the member's assignment ring until taken here. While the members place, this call
 * runs a placement round when VNodes wait unplaced. Load the state with
 * pf_checkpoint_load(). Returns 0 and *ret_vnode, or:
 *   -EINVAL     bad arguments or flags
 *   -EAGAIN     nothing here now and PF_CLAIM_NOWAIT, or at once whatever the flags while
 *               this member is draining (pflight/drain.h) and nothing was handed to it just
 *               before the cordon: it takes nothing new but keeps serving what it holds
 *   -ETIMEDOUT  nothing within timeout_ns
 *   -ESTALE     this member is no longer a member (declared dead, left, drained)
 *   -ENOMEM     no memory for the handle
 * Lock-free on the shared structures; blocking only while it waits (the member's wait:
 * spins briefly, then parks; it beats meanwhile). pf_vnode_adopt() (pflight/sched.h) is
 * the same without waiting or placing. A member takes what is placed on it: a VNode placed
 * and never claimed is served by nobody until the member leaves, drains or dies (a member
 * that wants no more cordons itself: pflight/drain.h). One thread per member: not at once
 * with another claim or a wait of the same member (pflight/member.h).
 */
PF_API int pf_vnode_claim(struct pf_member *member, uint32_t flags, uint64_t timeout_ns,
			  struct pf_vnode **ret_vnode);

/*
 * Claim one given VNode (the hook for a scheduler that has already decided). Returns 0,
 * -EINVAL, -EBUSY (owned by someone), -ENOENT (not defined), -EPERM (this member lacks a
 * required capability), -ESTALE (this member is no longer a member), -EAGAIN (lost a
 * race: retry; or this member is draining and takes nothing new), -ENOMEM.
 */
PF_API int pf_vnode_claim_id(struct pf_member *member, uint32_t id, struct pf_vnode **ret_vnode);

/*
 * Give the VNode back: it returns to PENDING with epoch + 1, its last committed
 * checkpoint and its inbox, and is queued for placement. Commit first to keep the latest
 * state. Frees the handle whatever the result. Returns 0, or -ESTALE when ownership had
 * already been taken away (by repair after this member was declared dead).
 */
PF_API int pf_vnode_release(struct pf_vnode *vnode);

PF_API uint32_t pf_vnode_id(const struct pf_vnode *vnode);
PF_API uint64_t pf_vnode_epoch(const struct pf_vnode *vnode);

/*
 * Commit len bytes as the VNode's checkpoint, stamped with `epoch` (the epoch of the
 * claim) and the inbox position read so far. The bytes go to a checkpoint buffer this
 * member alone holds, with a checksum computed while they are copied (over them and the
 * header); then one CAS on the checkpoint descriptor, which expects this owner's epoch,
 * publishes them. A crash at any point leaves the last committed checkpoint intact.
 * Fencing: an owner that lost the VNode while inside this call (stalled, paused, declared
 * hung, drained past its deadline) gets -ESTALE, and no byte it wrote, before or after,
 * ever reaches a reader: it writes only buffers it holds, and no descriptor names them.
 * Inbox messages read before this call are then freed. Returns 0, or:
 *   -EINVAL    bad arguments
 *   -EMSGSIZE  len > the domain's state_bytes_max
 *   -ESTALE    epoch is not the current one: ownership moved on (fencing)
 *   -ENOBUFS   no checkpoint buffer is free: the pool (two per VNode, sixteen spares per
 *              member slot) is taken by commits in flight, mostly of owners fenced out
 *              while stalled; nothing was written, the last committed state stays; retry
 * Wait-free apart from the copy (and, rarely, the search for a free buffer, bounded by
 * the pool); owner thread only (one commit at a time per VNode).
 */
PF_API int pf_checkpoint_commit(struct pf_vnode *vnode, uint64_t epoch, const void *bytes,
				size_t len);

/*
 * Copy the last committed checkpoint into buf (cap bytes) and set *ret_len. Also moves
 * the inbox read position to what that checkpoint had consumed. Returns 0, or:
 *   -ENOENT    no checkpoint was ever committed (*ret_len = 0)
 *   -ENOBUFS   cap is too small (*ret_len says how much is needed)
 *   -EBADMSG   the checkpoint fails its checksum or header check: never returned as data
 *   -ESTALE    ownership moved on
 *   -EINVAL    bad arguments
 */
PF_API int pf_checkpoint_load(struct pf_vnode *vnode, void *buf, size_t cap, size_t *ret_len);

/*
 * Read VNode `id`'s last committed checkpoint without owning it (tools, auditors, tests):
 * a verified copy, retried while the owner commits concurrently. Returns 0 with
 * *ret_len and *ret_seq (ret_seq may be NULL), or -ENOENT (none yet), -ENOBUFS (cap too
 * small; *ret_len is the size), -EBADMSG (checksum or header refused), -EBUSY (the owner
 * committed throughout READ_RETRIES attempts), -EINVAL. Any process, any thread.
 */
PF_API int pf_checkpoint_read(struct pf_domain *domain, uint32_t id, void *buf, size_t cap,
			      size_t *ret_len, uint64_t *ret_seq);

/*
 * Send len bytes to VNode `id`, whoever owns it (or while nobody does). Any attached
 * process, any thread. Returns 0, or:
 *   -EINVAL    id out of range or bytes NULL with len > 0
 *   -EMSGSIZE  len > the domain's msg_bytes_max
 *   -ENOENT    the VNode is not defined
 *   -EAGAIN    the inbox is full (its owner has not checkpointed): retry later
 * Lock-free: a sender preempted or killed mid-copy never blocks other senders or the
 * owner (its slot is skipped and, if the sender is alive, it retries elsewhere).
 */
PF_API int pf_send(struct pf_domain *domain, uint32_t id, const void *bytes, size_t len);

/*
 * Receive the next message of an owned VNode into buf. Returns 0 and *ret_len, or:
 *   -EAGAIN    no message waiting
 *   -ENOBUFS   cap too small (*ret_len says how much is needed; the message stays)
 *   -ESTALE    ownership moved on
 *   -EBADMSG   a slot failed validation (counted; skipped)
 *   -EINVAL    bad arguments
 * Owner thread only. Lock-free.
 */
PF_API int pf_recv(struct pf_vnode *vnode, void *buf, size_t cap, size_t *ret_len);

struct pf_vnode_info {
	uint32_t size; /* set by the caller */
	uint32_t id;
	uint32_t state;            /* enum pf_vnode_state */
	uint32_t owner_slot;       /* valid when owned */
	uint32_t owner_generation; /* low 16 bits of the owner's slot generation */
	int32_t home_node;
	uint64_t epoch;
	uint64_t checkpoint_seq; /* commits so far, 0: none */
	uint64_t inbox_depth;    /* messages waiting, read or not */
	uint64_t caps[2];        /* required capabilities */
	uint32_t pending_reason; /* enum pf_sched_reason: why a scheduler left it PENDING */
	uint32_t host;           /* LEAVING, ARRIVING, REMOTE: the other host's index in
				  * pflight/transit.h's numbering; else UINT32_MAX */
	uint64_t reserved[3];
};

/* Read one VNode without owning it (relaxed snapshot). 0, -EINVAL, or -EBADMSG /
 * -EPROTO when its record fails validation (a corrupt or foreign writer). */
PF_API int pf_vnode_info(struct pf_domain *domain, uint32_t id, struct pf_vnode_info *info);

/* One VNode's ownership as pf_vnode_owners() reads it: 8 bytes, so a million fit in 8 MiB. */
struct pf_vnode_owner {
	uint8_t state; /* enum pf_vnode_state, or PF_VNODE_OWNER_INVALID */
	uint8_t reserved0;
	uint16_t owner_generation; /* low 16 bits of the owner's slot generation, when owned */
	uint32_t owner_slot;       /* when owned (ACTIVE, MIGRATING, DRAINING), else UINT32_MAX */
};
/* The ownership word fails validation (a state out of range, an owner slot past
 * members_max): a corrupt or foreign writer. Counted as shm_invalid, as pf_vnode_info()
 * counts its refusals. */
#define PF_VNODE_OWNER_INVALID 0xffu

/*
 * Read the ownership of VNodes first..first+count-1 into ret_owners[0..count), in one pass
 * over the ownership table alone (8 bytes per VNode, sequential): what maps and counts of a
 * whole domain need, at a fraction of pf_vnode_info()'s cost per VNode, which also reads
 * each VNode's record. A relaxed snapshot: entries may be from different instants, as the
 * state counts of pf_domain_info() are. Returns count (>= 0), or -EINVAL (NULL arguments,
 * or the range past vnodes_max). Any process, any thread; wait-free.
 */
PF_API int pf_vnode_owners(struct pf_domain *domain, uint32_t first, uint32_t count,
			   struct pf_vnode_owner *ret_owners);

/* "unassigned", "pending", "active", "migrating", "draining", "leaving", "arriving" or
 * "remote" (enum pf_vnode_state), or NULL for a value that is none of them. */
PF_API const char *pf_vnode_state_name(uint32_t state);

#ifdef __cplusplus
}
#endif

#endif /* PFLIGHT_VNODE_H */

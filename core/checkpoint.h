/* SPDX-License-Identifier: MIT */
/* core/checkpoint.h: what the rest of core/ calls of core/checkpoint.c's buffers. */
#ifndef PF_CORE_CHECKPOINT_H
#define PF_CORE_CHECKPOINT_H

#include <stdint.h>

#include "core/member_impl.h"

/* Give back the buffer a handle kept from its last commit (it leaves its member). */
void ckpt_handle_release(struct pf_vnode *h);

/*
 * The sequence number of the state VNode id's descriptor c names, and the inbox position
 * it consumed (ret_inbox_pos may be NULL), read from its buffer's header without
 * verifying the bytes: 0 when none was committed or the header does not belong to c.
 */
uint32_t ckpt_state_seq(struct pf_domain *d, uint32_t id, uint64_t c, uint64_t *ret_inbox_pos);

/*
 * Give back what the members of `slot` still hold (its hold entries), once the process
 * that set them is gone: a buffer a descriptor names stays published, any other becomes
 * free. The number of entries settled, or -EBUSY while that process lives (a stalled or
 * paused writer keeps what it holds). Any process, any number at once.
 */
int ckpt_repair_held(struct pf_domain *d, uint32_t slot);

/*
 * For a joiner that has just taken `slot` (its state CAS done): 0 when no entry of an
 * earlier member is set (or they could be settled), -EBUSY when one is and its process
 * lives: the joiner must give the slot back.
 */
int ckpt_slot_unheld(struct pf_domain *d, uint32_t slot);

#endif /* PF_CORE_CHECKPOINT_H */

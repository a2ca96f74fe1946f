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
 * Give back the checkpoint buffers member (slot, gen) holds once the caller has checked
 * that the member's process is gone (a stalled or paused writer keeps what it holds): one
 * that a descriptor names becomes published, any other free. If it died replacing a
 * buffer (its record's ckpt_replacing), also free any published buffer no descriptor
 * names any more. O(ckpt_bufs) holder words, plus a descriptor per published buffer in
 * that case. Returns the buffers whose holder word it changed. Any process, any number
 * at once.
 */
uint32_t ckpt_reclaim(struct pf_domain *d, uint32_t slot, uint32_t gen);

/* pf_checkpoint_read(), with the inbox position the state consumed (ret_seq and
 * ret_inbox_pos may be NULL). */
/* The state named now, where it lies: its bytes (in the arena), length, seq and inbox
 * position; not verified (ckpt_verify()). Only where nobody can replace the named state
 * (LEAVING). 0, -ENOENT, -EBADMSG (a header that does not name it). */
int ckpt_view(struct pf_domain *d, uint32_t id, const void **ret_bytes, size_t *ret_len,
	      uint64_t *ret_seq, uint64_t *ret_inbox_pos);
/* The checksum of the state named now, verified where it lies (as ckpt_view() finds it),
 * which must be the one of length len and commit count seq a caller took from it before.
 * 0, -ENOENT, -EBADMSG (not that state, or it fails; not counted: pf_transit_verify()
 * counts it once it saw the VNode still LEAVING at its epoch). */
int ckpt_verify(struct pf_domain *d, uint32_t id, size_t len, uint64_t seq);
/* Bytes [off, off + cap) of the state named now, copied as one commit's (the descriptor
 * unchanged around the copy), not verified: 0 with the bytes copied, the state's length
 * and seq; -ENOENT, -EBADMSG, -EAGAIN (commits kept racing the copy). */
int ckpt_range(struct pf_domain *d, uint32_t id, uint64_t off, void *buf, size_t cap,
	       size_t *ret_copied, size_t *ret_len, uint64_t *ret_seq);
int ckpt_read(struct pf_domain *d, uint32_t id, void *buf, size_t cap, size_t *ret_len,
	      uint64_t *ret_seq, uint64_t *ret_inbox_pos);

/* Copy the state descriptor c names (read by the caller with acquire) and check c is
 * still the descriptor after the copy: 0 with *ret_seq and *ret_inbox_pos, -EAGAIN (it
 * changed: read it again), -ENOENT (c names none), -ENOBUFS, -EBADMSG. */
int ckpt_read_at(struct pf_domain *d, uint32_t id, uint64_t c, void *buf, size_t cap,
		 size_t *ret_len, uint64_t *ret_seq, uint64_t *ret_inbox_pos);

/* Install a state from another host as VNode id's checkpoint at `epoch` (core/transit.c):
 * 0, -EMSGSIZE, -ENOBUFS, -ESTALE. See core/checkpoint.c. */
int ckpt_install(struct pf_domain *d, uint32_t id, uint32_t epoch, uint32_t seq, const void *bytes,
		 size_t len, uint64_t inbox_pos);

/* An ARRIVING VNode that never committed: its descriptor names no state from `epoch` on
 * (an older one from before it left is forgotten). 0, or -ESTALE. */
int ckpt_forget(struct pf_domain *d, uint32_t id, uint32_t epoch);
/* A state received in place (pf_transit_hold()): take a free buffer HELD by the host for id
 * (its home buffers first), or CKPT_BUF_NONE; whether buffer b is held by the host; where
 * its state bytes go; give it back; publish it once written (as ckpt_install() without
 * the copy: its checksum is computed in place; it is let go either way). */
uint32_t ckpt_host_take(struct pf_domain *d, uint32_t id);
int ckpt_host_held(struct pf_domain *d, uint32_t b);
void *ckpt_host_bytes(struct pf_domain *d, uint32_t b);
void ckpt_host_give(struct pf_domain *d, uint32_t b);
int ckpt_host_publish(struct pf_domain *d, uint32_t id, uint32_t epoch, uint32_t seq, uint32_t b,
		      size_t len, uint64_t inbox_pos);

/* Settle the buffers a host's daemon held when it died (HOLD_HOST): published if named,
 * else free. Only the daemon installs, so call it while no install runs (at its start).
 * Returns the buffers it changed. */
uint32_t ckpt_reclaim_host(struct pf_domain *d);

#endif /* PF_CORE_CHECKPOINT_H */

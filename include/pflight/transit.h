/* SPDX-License-Identifier: MIT */
/*
 * pflight/transit.h: a VNode's moves between hosts, as its host's daemon drives them
 * (libpflight).
 *
 * A VNode leaves one host's domain and arrives in another's as a Flight Packet
 * (pflight/packet.h). On each host its ownership word says where it is, and only these
 * calls move it (core/ownership.c's cross-host transitions):
 *
 *   source                                     target
 *   ACTIVE, PENDING --leave--> LEAVING(h)      UNASSIGNED, REMOTE --arrive--> ARRIVING(h)
 *                                              install the state, deliver the messages
 *   LEAVING --left--> REMOTE(h)  (commit)      ARRIVING --arrived--> PENDING  (resume)
 *   LEAVING --stay--> PENDING    (roll back)   ARRIVING --unarrive--> REMOTE  (roll back)
 *
 * `h` is the other host's index, 0..PF_TRANSIT_HOSTS_MAX-1, in the daemon's own numbering
 * (pflightd: the position in transport.peers); PF_TRANSIT_HOST_UNKNOWN when not known.
 *
 * Leave raises the epoch and seals it into the checkpoint descriptor: from then on the
 * member that owned the VNode can neither commit nor receive (-ESTALE), however long it
 * was stalled, and no member may claim or be placed the VNode: its last committed state
 * is final, and pf_transit_read() reads it. Messages sent meanwhile (pf_send() works in
 * every state but UNASSIGNED) wait in the inbox.
 *
 * The protocol that keeps one owner across the two hosts (the source decides; the target
 * makes a VNode PENDING only once the source has committed, so that between them at most
 * one host ever serves it) is the daemon's: tools/pflightd. These calls keep each host's
 * half exact whoever dies when: a VNode LEAVING or ARRIVING is owned by no member, so no
 * repair of a dead member touches it; a daemon that died leaves it so until the next
 * daemon, which asks the other host, settles it with stay, left, arrived or unarrive.
 *
 * Every call: the daemon's process, any thread, one call at a time per VNode; lock-free
 * (each transition is one CAS from the word read). Errnos common to all: -EINVAL (a NULL
 * or out-of-range argument), -ESTALE (the VNode is not in the state and epoch the call
 * expects: another transition won, or the caller's view is old).
 */
#ifndef PFLIGHT_TRANSIT_H
#define PFLIGHT_TRANSIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "pflight/common.h"
#include "pflight/domain.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PF_TRANSIT_HOSTS_MAX 4095u       /* host indexes 0..4094 */
#define PF_TRANSIT_HOST_UNKNOWN 4095u    /* the other host is not known */
#define PF_TRANSIT_EPOCH_MAX 0xfffffff0u /* epochs are 32-bit in the ownership word */

/*
 * Stop VNode id for a move to host `host`: ACTIVE, MIGRATING, DRAINING (its owner is
 * fenced) or PENDING, at epoch e -> LEAVING(host, e + 1). Returns 0 and *ret_epoch, or
 * -ENOENT (not defined), -EBUSY (already between hosts: LEAVING, ARRIVING or REMOTE),
 * -EAGAIN (its word changed while we looked; look again), -EOVERFLOW (epoch exhausted).
 */
PF_API int pf_transit_leave(struct pf_domain *domain, uint32_t id, uint32_t host,
			    uint32_t *ret_epoch);

/*
 * Read the last committed state of a LEAVING VNode (it is final: nobody can commit): a
 * verified copy into buf, its commit count and the inbox position its messages start at
 * (the first it had not consumed). Returns 0, or -ENOENT (never committed: *ret_len 0,
 * *ret_seq 0, *ret_inbox_from where the waiting messages start), -ENOBUFS (cap too small,
 * *ret_len says how much), -EBADMSG (it fails its checksum), -ESTALE.
 * With buf NULL and cap 0, only its length, commit count and inbox position, no byte
 * copied or verified: for a caller that holds the state of that commit count from an
 * earlier verified read (pf_checkpoint_read()) and need not copy it again.
 */
PF_API int pf_transit_read(struct pf_domain *domain, uint32_t id, uint32_t epoch, void *buf,
			   size_t cap, size_t *ret_len, uint64_t *ret_seq,
			   uint64_t *ret_inbox_from);

/*
 * The message waiting at *cursor in the inbox of a VNode no member owns (LEAVING or
 * REMOTE), copied into buf, *cursor moved past it. Start from pf_transit_read()'s
 * *ret_inbox_from. Returns 0 and *ret_len, or -EAGAIN (none there now), -ENOBUFS (cap too
 * small; the cursor stays), -EBADMSG (a slot failed validation: counted, skipped),
 * -ESTALE (the VNode is owned here or unassigned). Frees nothing.
 */
PF_API int pf_transit_message(struct pf_domain *domain, uint32_t id, uint64_t *cursor, void *buf,
			      size_t cap, size_t *ret_len);

/* Roll back a move that did not happen: LEAVING(epoch) -> PENDING(epoch + 1), queued for
 * placement with its state and its messages. 0, or -ESTALE. */
PF_API int pf_transit_stay(struct pf_domain *domain, uint32_t id, uint32_t epoch);

/*
 * Commit a move: LEAVING(host, epoch) -> REMOTE(host, remote_epoch), remote_epoch being
 * the epoch the other host took it at (> epoch), and free the messages before inbox
 * position carried_to (the packet carried them). Messages after it wait here, for the
 * daemon to forward. 0, or -EINVAL (remote_epoch <= epoch), -ESTALE.
 */
PF_API int pf_transit_left(struct pf_domain *domain, uint32_t id, uint32_t epoch,
			   uint32_t remote_epoch, uint64_t carried_to);

/*
 * Begin the arrival of VNode id from host `host` with a packet at packet_epoch:
 * UNASSIGNED (its requirements defined from caps and home_node) or REMOTE(e0) with
 * packet_epoch >= e0 -> ARRIVING(host, max(e0, packet_epoch) + 1), sealed. Returns 0 and
 * *ret_epoch, or -ESTALE (a packet older than what this host knows of the VNode),
 * -EBUSY (the VNode lives here: PENDING, owned, LEAVING or ARRIVING), -EOVERFLOW (epoch
 * past PF_TRANSIT_EPOCH_MAX), -EPROTO (REMOTE with other requirements than caps),
 * -ENOSPC (the capability directory is full), -EAGAIN (raced; look again).
 */
PF_API int pf_transit_arrive(struct pf_domain *domain, uint32_t id, uint32_t host,
			     uint64_t packet_epoch, const char *const *caps, uint32_t caps_count,
			     int32_t home_node, uint32_t *ret_epoch);

/*
 * Install the state that arrived as the checkpoint of an ARRIVING VNode, at its epoch:
 * the next owner loads it, then receives the `carried` messages pf_transit_deliver() will
 * place (call it next), then those waiting here. len 0 with seq 0: it never committed
 * (any older state here is forgotten). Returns 0, or -EMSGSIZE (past the domain's
 * state_bytes_max), -ENOBUFS (no free checkpoint buffer; retry), -ESTALE.
 */
PF_API int pf_transit_install(struct pf_domain *domain, uint32_t id, uint32_t epoch,
			      const void *state, size_t len, uint64_t seq, uint32_t carried);

/*
 * Pre-copy of a VNode that keeps running (any state): copy bytes [off, off + cap) of its
 * last committed state as it is now into buf. The bytes are one commit's (its descriptor
 * did not move around the copy) but are not verified: a pre-copy sends them, and the
 * final read after the stop (pf_transit_view() and pf_transit_verify(), or pf_transit_read())
 * corrects what changed or was wrong. Returns 0 with *ret_copied (0 past the end), the state's
 * length and commit count (cap 0: those two alone), or -ENOENT (never committed),
 * -EBADMSG (its record fails validation), -EAGAIN (commits kept racing the copy: again
 * later), -EINVAL.
 */
PF_API int pf_transit_chunk(struct pf_domain *domain, uint32_t id, uint64_t off, void *buf,
			    size_t cap, size_t *ret_copied, size_t *ret_len, uint64_t *ret_seq);

/*
 * The last committed state of a LEAVING VNode where it lies, without a copy: *ret_bytes
 * points into the domain's checkpoint arena. Nobody writes those bytes while the VNode
 * stays LEAVING at epoch or goes REMOTE (the state named can no longer be replaced); after
 * pf_transit_stay() a new owner's commits may reuse them, so read them no longer then.
 * Their checksum is not verified here: pf_transit_verify() does, and the caller must see
 * it pass before anything it made of the bytes counts (a move may send them first and
 * verify while they travel, but commits only once they passed). The rest as
 * pf_transit_read() (-ENOENT: never committed, *ret_bytes NULL; -EBADMSG: a record whose
 * header does not name this VNode's state).
 */
PF_API int pf_transit_view(struct pf_domain *domain, uint32_t id, uint32_t epoch,
			   const void **ret_bytes, size_t *ret_len, uint64_t *ret_seq,
			   uint64_t *ret_inbox_from);

/*
 * Verify, where they lie, the bytes pf_transit_view() gives of a LEAVING VNode at epoch:
 * its checksum recomputed over the arena's bytes now, for the state of length len and
 * commit count seq that the caller took (from pf_transit_view() or pf_transit_read()), so
 * that what it sent is what passed. Returns 0, -EBADMSG (they fail it, or the header no
 * longer says len and seq: counted as a corrupt checkpoint), -ENOENT (never committed),
 * -ESTALE (not LEAVING at epoch), -EINVAL.
 */
PF_API int pf_transit_verify(struct pf_domain *domain, uint32_t id, uint32_t epoch, size_t len,
			     uint64_t seq);

/*
 * Receive a state in place, without a copy of it: pf_transit_hold() takes a free checkpoint
 * buffer for VNode id (its own first), held by this host's daemon, and gives its index and
 * where its bytes go (state_bytes_max of them; nobody else writes or reads them). Write
 * the state there while it arrives, then, ARRIVING, pf_transit_install_held() installs it
 * as pf_transit_install() would (its checksum computed in place), or pf_transit_unhold()
 * gives the buffer back. install_held lets the buffer go whatever it returns. A daemon
 * that dies holding one leaves it to pf_transit_recover().
 * hold: 0, -ENOBUFS (none free), -EINVAL. unhold: 0, -EINVAL (not a buffer the host
 * holds). install_held: 0, -ESTALE (not ARRIVING at epoch), -EINVAL (not held, or len
 * past state_bytes_max, or bytes with seq 0). len 0 and seq 0: never committed.
 */
PF_API int pf_transit_hold(struct pf_domain *domain, uint32_t id, uint32_t *ret_buf,
			   void **ret_bytes);
PF_API int pf_transit_unhold(struct pf_domain *domain, uint32_t buf);
PF_API int pf_transit_install_held(struct pf_domain *domain, uint32_t id, uint32_t epoch,
				   uint32_t buf, size_t len, uint64_t seq, uint32_t carried);

/*
 * Place the messages the packet carried in an ARRIVING VNode's inbox, in the packet's
 * order, BEFORE the messages waiting here: every message sent here while the VNode was
 * away was sent after those the packet carries (forwarded ones came back in it), so each
 * sender's order holds. The inbox's head moves back by count (positions are modular).
 * Call it once, after pf_transit_install() (with carried = count). All or nothing: 0, or
 * -EMSGSIZE (a message past the domain's msg_bytes_max), -EAGAIN (not room for them all:
 * nothing placed; undo the arrival), -ESTALE.
 */
PF_API int pf_transit_deliver(struct pf_domain *domain, uint32_t id, uint32_t epoch,
			      const struct iovec *msgs, uint32_t count);

/*
 * Messages forwarded from another host, exactly once even when the daemon dies mid-send.
 * pf_transit_send() is pf_send() that also stamps the message with tag (nonzero: the
 * caller's name for it, e.g. a hash of the sending host and its position there) and
 * stores the inbox position it claimed at *ret_pos (memory that outlives the caller, such
 * as a shared file mapping), both before the message can be received. A restarted daemon
 * that finds such a position stored but not its own record of the send asks
 * pf_transit_sent() whether the message went in: 1 yes (it is in the inbox, or was
 * received and freed), 0 no (its sender died before publishing it; it never will be), or
 * -EINVAL. Ask only once the sender is dead: a live one may still publish.
 */
PF_API int pf_transit_send(struct pf_domain *domain, uint32_t id, const void *bytes, size_t len,
			   uint64_t tag, uint64_t *ret_pos);
PF_API int pf_transit_sent(struct pf_domain *domain, uint32_t id, uint64_t pos, uint64_t tag);

/*
 * Drop from an ARRIVING VNode's inbox the messages before position upto: those this host
 * had forwarded to the source, which delivered them there (they came back in the packet,
 * or were consumed there). Call it before pf_transit_install(). 0, or -ESTALE.
 */
PF_API int pf_transit_drop(struct pf_domain *domain, uint32_t id, uint32_t epoch, uint64_t upto);

/* The source committed: ARRIVING(epoch) -> PENDING(epoch), queued for placement. 0, or
 * -ESTALE. */
PF_API int pf_transit_arrived(struct pf_domain *domain, uint32_t id, uint32_t epoch);

/* The source kept it: ARRIVING(host, epoch) -> REMOTE(host, epoch). What was installed is
 * never loaded (a VNode is loaded only once placed), and the messages pf_transit_deliver()
 * placed are taken back (they stay the source's: not received here, not forwarded back).
 * Also after a daemon restart: the carried slots are marked in the inbox. 0, or -ESTALE. */
PF_API int pf_transit_unarrive(struct pf_domain *domain, uint32_t id, uint32_t epoch);

/* pf_transit_snapshot()'s message callback: message `index` (0, 1, ... in inbox order).
 * A snapshot that must start again calls it from index 0 again: keep what came before
 * index only, and in the end the first *ret_messages. A negative return stops the
 * snapshot, which returns it. */
typedef int (*pf_transit_message_fn)(void *arg, uint32_t index, const void *bytes, size_t len);

/*
 * A consistent copy of a VNode that stays where it is (pflight export): its last
 * committed state into buf, and each message it had not consumed, in order, through
 * message_fn; its owner may keep running. The copy is retried while the owner commits
 * under it. Returns 0 with *ret_len, *ret_seq (0: never committed, *ret_len 0),
 * *ret_epoch (the epoch the state was read at) and *ret_messages (how many of the calls
 * to message_fn, from index 0, make the copy), or -ENOENT (not defined), -EREMOTE
 * (owned by another host), -EBUSY (between hosts now, or committed throughout every try),
 * -ENOBUFS (cap too small, *ret_len says how much), -EBADMSG, message_fn's error.
 */
PF_API int pf_transit_snapshot(struct pf_domain *domain, uint32_t id, void *buf, size_t cap,
			       size_t *ret_len, uint64_t *ret_seq, uint32_t *ret_epoch,
			       uint32_t *ret_messages, pf_transit_message_fn message_fn, void *arg);

/*
 * Where the inbox of a VNode owned by another host stands: *ret_head (the first message
 * not forwarded yet, or a skipped slot) and *ret_tail (past the last sent here). The
 * forwarder reads from head with pf_transit_message() and frees with
 * pf_transit_forwarded(). 0, or -ESTALE (not REMOTE), -EINVAL.
 */
PF_API int pf_transit_inbox(struct pf_domain *domain, uint32_t id, uint64_t *ret_head,
			    uint64_t *ret_tail);

/*
 * The messages of a REMOTE VNode before inbox position upto reached its owner host (it
 * acknowledged them): free them. 0, or -ESTALE (not REMOTE at epoch: it came back, and
 * its messages are its own again), -EINVAL.
 */
PF_API int pf_transit_forwarded(struct pf_domain *domain, uint32_t id, uint32_t epoch,
				uint64_t upto);

/*
 * At a daemon's start, before any arrival: settle the checkpoint buffers a previous
 * daemon held while installing when it died (published if a descriptor names them, else
 * free). Returns the number settled (>= 0), or -EINVAL. O(checkpoint buffers).
 */
PF_API int pf_transit_recover(struct pf_domain *domain);

#ifdef __cplusplus
}
#endif

#endif /* PFLIGHT_TRANSIT_H */

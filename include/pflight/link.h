/* SPDX-License-Identifier: MIT */
/*
 * pflight/link.h: an authenticated link between two hosts (libpflight-ctl).
 *
 * Before a host accepts a Flight Packet or a forwarded message from another, both prove
 * who they are: each holds an Ed25519 host key, each lists the other's public key (in
 * pflightd: transport.peers), and a handshake over the connection proves possession of
 * the private keys and binds the connection to them. From then on every frame carries a
 * sequence number and a MAC under keys only these two ends know, so nothing can be
 * injected, replayed, reordered or cut out of the stream unnoticed.
 *
 * This is the protocol alone, with no socket: the caller moves frames (pflight/xport.h
 * does it in pflightd) and feeds each frame received to pf_link_input(), sending what
 * pf_link_handshake_out() gives. So the tests can drive both ends in one thread, and a
 * hostile peer is any byte string.
 *
 * Handshake (three frames; docs/flight-packet.md, "Links"):
 *   client -> server  HELLO(name, host key, nonce, ephemeral X25519 key)
 *   server -> client  HELLO(the same of the server), signed by the server's host key
 *                     over both hellos
 *   client -> server  AUTH: the client's signature over both hellos
 * Both hellos carry fresh random nonces and ephemeral keys, so a signature is good for
 * this connection only. Each end refuses a host key it does not list (-ENOKEY), a
 * signature that does not verify (-EKEYREJECTED), anything malformed or out of turn
 * (-EPROTO). The session keys come from the ephemeral X25519 exchange (libsodium's
 * crypto_kx), hashed with the transcript of both hellos.
 *
 * Frames after it: a 16-byte head (type, covered bytes, sequence), the body, a 16-byte tag:
 * keyed BLAKE2b under the direction's key over the head and the first `covered` bytes of
 * the body. Sequence numbers start at 0 per direction and must arrive in order (TCP
 * keeps it): a frame replayed, dropped or reordered fails. The bytes of the body past
 * `covered` are NOT authenticated by the tag: a sender leaves them out only when the
 * covered part carries a digest of them (a Flight Packet chunk record: its head holds the
 * BLAKE2b digest of the chunk), and the receiver must check that digest before it uses
 * them. That keeps bulk data from being hashed twice.
 *
 * One link per connection, one thread at a time per link. Errnos common to all: -EINVAL
 * (NULL or bad arguments), -ENOMEM, -EIO (libsodium could not start). After any refusal
 * from pf_link_input() the link is dead: every later call returns -EPIPE.
 */
#ifndef PFLIGHT_LINK_H
#define PFLIGHT_LINK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "pflight/common.h"
#include "pflight/packet.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PF_LINK_PEERS_MAX 64u
#define PF_LINK_HEAD_BYTES 16u
#define PF_LINK_TAG_BYTES 16u
#define PF_LINK_HANDSHAKE_BYTES_MAX 256u /* the largest handshake frame */
#define PF_LINK_TYPE_MAX 0xffffu         /* frame types are the caller's, 1..this */

enum pf_link_role {
	PF_LINK_CLIENT = 1, /* connected: speaks first */
	PF_LINK_SERVER = 2, /* accepted */
};

/* A host this one accepts links with. */
struct pf_link_peer {
	char name[PF_PACKET_HOST_NAME_MAX + 1];
	uint8_t key[PF_PACKET_KEY_BYTES]; /* its Ed25519 public key */
};

struct pf_link;

/*
 * A link for one connection, as `role`, for this host (my_name, its secret key sk,
 * PF_AUDIT_SECRET_KEY_BYTES), accepting the peers listed (copied). A client may name the
 * peer it means to reach (expect: an index into peers, or -1 for any listed): a server
 * with another listed key is then refused too. Returns 0 and *ret_link, or -EINVAL,
 * -ENOMEM, -EIO.
 */
PF_API int pf_link_create(uint32_t role, const char *my_name, const unsigned char *sk,
			  const struct pf_link_peer *peers, uint32_t peers_count, int32_t expect,
			  struct pf_link **ret_link);

/* Forget the keys (zeroed) and free. Accepts NULL. */
PF_API void pf_link_destroy(struct pf_link *link);

/* The next handshake frame to send, copied into buf (cap >= PF_LINK_HANDSHAKE_BYTES_MAX):
 * its length, 0 when none is due, or -EPIPE. A client has its HELLO due from the start. */
PF_API int pf_link_handshake_out(struct pf_link *link, void *buf, size_t cap);

/* What pf_link_input() found. */
struct pf_link_frame {
	uint32_t type;       /* the caller's frame type */
	uint32_t covered;    /* body bytes the tag authenticates (the rest: see the top) */
	uint64_t seq;        /* its sequence number in this direction */
	const uint8_t *body; /* inside the frame given */
	uint64_t body_bytes;
};

#define PF_LINK_IN_HANDSHAKE 0 /* a handshake frame, taken; look at pf_link_handshake_out() */
#define PF_LINK_IN_READY 1     /* the handshake just completed: the peer is known */
#define PF_LINK_IN_FRAME 2     /* an application frame, authenticated: *ret_frame */

/*
 * Feed one frame received. Returns PF_LINK_IN_HANDSHAKE, PF_LINK_IN_READY or
 * PF_LINK_IN_FRAME (with *ret_frame), or, and then the link is dead:
 *   -ENOKEY        the peer's host key is not listed (or not the one expected)
 *   -EKEYREJECTED  its signature does not verify
 *   -EPROTO        malformed, out of turn (a frame before the handshake ended, a second
 *                  hello), a wrong magic or version
 *   -EBADMSG       the tag does not verify (altered, replayed, reordered, cut)
 *   -EPIPE         the link was dead already
 * *reterr_why, when not NULL, gets a static sentence for the log and the audit record.
 */
PF_API int pf_link_input(struct pf_link *link, const void *frame, size_t len,
			 struct pf_link_frame *ret_frame, const char **reterr_why);

/*
 * Seal an application frame of `type` (1..PF_LINK_TYPE_MAX) whose body is
 * body[0..count): writes its head into head and its tag into tag; the frame to send is
 * head, the body, tag, in that order. covered: how many leading body bytes the tag
 * authenticates (all of them, unless the rest is bound by a digest inside them). Returns
 * 0, or -EPIPE (dead), -ENOTCONN (the handshake is not over), -EINVAL.
 */
PF_API int pf_link_seal(struct pf_link *link, uint32_t type, const struct iovec *body,
			unsigned count, uint32_t covered, uint8_t head[PF_LINK_HEAD_BYTES],
			uint8_t tag[PF_LINK_TAG_BYTES]);

/* Once ready: the peer's index in the list given to pf_link_create(). -ENOTCONN before. */
PF_API int pf_link_peer_index(const struct pf_link *link);

#ifdef __cplusplus
}
#endif

#endif /* PFLIGHT_LINK_H */

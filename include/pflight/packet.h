/* SPDX-License-Identifier: MIT */
/*
 * pflight/packet.h: the Flight Packet, the portable form of a VNode (libpflight).
 *
 * A Flight Packet carries one VNode between hosts: a header (identity, epoch, source
 * host and member, required capabilities, policy constraints, lineage), the checkpoint
 * in chunks with a digest each, the VNode's undelivered messages, a table of every digest
 * and the source host's signature over the header and that table. The same bytes are a
 * file (pflight export), the records a migration sends over the wire, and the fixtures of
 * the tests. docs/flight-packet.md specifies the format byte by byte.
 *
 * This header is the codec: it encodes records into caller buffers and decodes them
 * trusting nothing (every length, count, offset and reserved byte checked). Computing
 * and checking digests and signatures needs a crypto library, which the worker's library
 * does not link: that is pflight/seal.h, in libpflight-ctl. A packet that
 * pf_packet_parse() accepts is well formed, not yet authentic.
 *
 * Refusals, the same in every decoder:
 *   -EPROTONOSUPPORT  a format major version, digest or signature algorithm not known
 *   -EPROTO           malformed: bad magic, a record of the wrong type or out of order,
 *                     a reserved or padding byte not zero, an unknown flag, counts that
 *                     disagree with each other, an invalid name
 *   -EOVERFLOW        a length, count or offset past the bytes given or past a limit
 * and, from pflight/seal.h, -EBADMSG (bytes that do not match their digest),
 * -EKEYREJECTED (a signature that does not verify) and -ENOKEY (a signer not trusted).
 * Each decoder also fills a struct pf_packet_fault, when given one, with where and what.
 *
 * Every function here is pure: no shared state, any thread, wait-free.
 */
#ifndef PFLIGHT_PACKET_H
#define PFLIGHT_PACKET_H

#include <stddef.h>
#include <stdint.h>

#include "pflight/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PF_PACKET_VERSION_MAJOR 1u
#define PF_PACKET_VERSION_MINOR 0u
#define PF_PACKET_MAGIC "PFPKT\r\n\032" /* 8 bytes, no NUL: "\r\n\032" shows text-mode mangling */
#define PF_PACKET_PREAMBLE_BYTES 16u
#define PF_PACKET_REC_BYTES 16u           /* every record's head: type, flags, body bytes */
#define PF_PACKET_DIGEST_BYTES 32u        /* BLAKE2b-256 */
#define PF_PACKET_KEY_BYTES 32u           /* an Ed25519 public key */
#define PF_PACKET_SIG_BYTES 64u           /* an Ed25519 signature */
#define PF_PACKET_HEADER_FIXED_BYTES 168u /* the header body before its names */
#define PF_PACKET_CHUNK_HEAD_BYTES 40u    /* a chunk body before its bytes: index, len, digest */
#define PF_PACKET_MESSAGE_HEAD_BYTES 8u   /* a message body before its bytes: index, len */

/* Limits. Chunks are powers of two from a page to 16 MiB; a million chunks keep the signed
 * digest table within 32 MiB; messages are bounded as a domain's inbox is. */
#define PF_PACKET_CHUNK_BYTES_MIN 4096u
#define PF_PACKET_CHUNK_BYTES_MAX (16u << 20)
#define PF_PACKET_CHUNKS_MAX (1u << 20)
#define PF_PACKET_STATE_BYTES_MAX (UINT64_C(64) << 30)
#define PF_PACKET_MESSAGES_MAX PF_INBOX_SLOTS_MAX
#define PF_PACKET_HOST_NAME_MAX 63u /* bytes of a host name, without the NUL */

enum pf_packet_rec_type {
	PF_PACKET_REC_HEADER = 1,    /* once, first */
	PF_PACKET_REC_CHUNK = 2,     /* one per chunk of the checkpoint */
	PF_PACKET_REC_MESSAGE = 3,   /* one per undelivered message, in inbox order */
	PF_PACKET_REC_DIGESTS = 4,   /* every chunk digest, then the messages' digest */
	PF_PACKET_REC_SIGNATURE = 5, /* last */
};
#define PF_PACKET_REC_TYPE_MAX PF_PACKET_REC_SIGNATURE

enum pf_packet_digest_alg {
	PF_PACKET_DIGEST_BLAKE2B_256 = 1,
};

enum pf_packet_sig_alg {
	PF_PACKET_SIG_ED25519PH = 1, /* Ed25519ph (RFC 8032): the signed parts are streamed */
};

/* Header flags. */
#define PF_PACKET_F_SNAPSHOT 0x1u /* a copy (pflight export): the VNode stayed at its source */
#define PF_PACKET_F_ALL PF_PACKET_F_SNAPSHOT

/* The header, decoded: host byte order, names NUL-terminated. */
struct pf_packet_header {
	uint32_t size;          /* sizeof(struct pf_packet_header) */
	uint16_t version_major; /* decoded; the encoder writes PF_PACKET_VERSION_* */
	uint16_t version_minor;
	uint32_t vnode_id;
	uint32_t flags;          /* PF_PACKET_F_* */
	uint64_t epoch;          /* the VNode's epoch when the source let it go */
	uint64_t checkpoint_seq; /* the source's commit count of the state carried */
	uint64_t state_bytes;    /* the checkpoint's length (0: never committed) */
	uint32_t chunk_bytes;    /* a power of two, CHUNK_BYTES_MIN..CHUNK_BYTES_MAX */
	uint32_t chunk_count;    /* ceil(state_bytes / chunk_bytes) */
	uint32_t message_count;  /* undelivered messages carried */
	uint32_t digest_alg;     /* enum pf_packet_digest_alg */
	uint64_t message_bytes;  /* their payload bytes, summed */
	uint64_t created_ns;     /* the source's CLOCK_REALTIME when it built the packet */
	uint8_t host_key[PF_PACKET_KEY_BYTES]; /* the source host's public key: the signer */
	uint32_t member_slot;                  /* the source member that last owned it */
	uint32_t member_generation;
	uint32_t member_pid;
	int32_t home_node;        /* policy constraint: NUMA home node, -1: none */
	uint32_t trust_floor_ppm; /* policy constraint: the least trust an owner may have */
	uint32_t caps_count;      /* policy constraint: required capabilities, 0..PF_CAPS_MAX */
	uint64_t lineage_seq;     /* the source's last audit record about the VNode (0: none) */
	uint8_t lineage_hash[PF_PACKET_DIGEST_BYTES]; /* and its hash */
	char name[PF_VNODE_NAME_MAX + 1];             /* "" when the VNode has no name */
	char host[PF_PACKET_HOST_NAME_MAX + 1];       /* the source host's name */
	char namespace_name[PF_DOMAIN_NAME_MAX + 1];  /* the source domain's namespace */
	char caps[PF_CAPS_MAX][PF_CAP_NAME_MAX + 1];
};

/* One record, located by pf_packet_rec_next(). */
struct pf_packet_rec {
	uint32_t type; /* enum pf_packet_rec_type */
	uint32_t reserved0;
	const uint8_t *body; /* inside the caller's buffer */
	uint64_t body_bytes;
	uint64_t rec_bytes; /* head + body + padding to 8: where the next record starts */
};

/* A chunk record, decoded. */
struct pf_packet_chunk {
	uint32_t index;
	uint32_t len; /* chunk_bytes, or less for the last chunk */
	const uint8_t *digest;
	const uint8_t *data;
};

/* A message record, decoded. */
struct pf_packet_message {
	uint32_t index; /* 0..message_count-1, in inbox order */
	uint32_t len;   /* 0..PF_MSG_BYTES_MAX */
	const uint8_t *data;
};

/* Where a decoder refused, and why (a static string, e.g. "chunk length"). */
struct pf_packet_fault {
	uint64_t offset;  /* byte offset of the field, from the start of what was given */
	uint32_t record;  /* record number in a parsed file (0: the preamble), or UINT32_MAX */
	uint32_t index;   /* chunk or message index when the refusal concerns one */
	const char *what; /* never NULL after a refusal */
};

/* A whole packet file, checked by pf_packet_parse(). Pointers are into its bytes. */
struct pf_packet_view {
	struct pf_packet_header header;
	const uint8_t *base;
	uint64_t bytes;
	uint64_t chunks_offset;   /* the first chunk record (chunk i: + i * chunk_stride) */
	uint64_t chunk_stride;    /* one full chunk record's bytes */
	uint64_t messages_offset; /* the first message record */
	const uint8_t *digests;   /* chunk_count digests, then the messages' digest */
	uint32_t sig_alg;         /* enum pf_packet_sig_alg */
	uint32_t reserved0;
	const uint8_t *signature;  /* PF_PACKET_SIG_BYTES */
	const uint8_t *header_rec; /* the header record whole, as signed */
	uint64_t header_rec_bytes;
	const uint8_t *digests_rec; /* the digest table record whole, as signed */
	uint64_t digests_rec_bytes;
};

/* Zero-fill a header and set its size, version, digest algorithm and home node (-1). */
PF_API void pf_packet_header_init(struct pf_packet_header *header);

/* Bytes of padding after a body of body_bytes (records start on 8-byte boundaries). */
PF_API uint32_t pf_packet_pad_bytes(uint64_t body_bytes);

/* The 16-byte preamble (magic, version) into buf. Returns PF_PACKET_PREAMBLE_BYTES, or
 * -EINVAL (buf NULL, cap too small). */
PF_API int pf_packet_preamble_encode(void *buf, size_t cap);

/* Check a preamble: 0, -EINVAL, -EOVERFLOW (len < 16), -EPROTO (magic, reserved),
 * -EPROTONOSUPPORT (a major version other than PF_PACKET_VERSION_MAJOR). */
PF_API int pf_packet_preamble_decode(const void *buf, size_t len,
				     struct pf_packet_fault *reterr_fault);

/*
 * Encode the header record (head, body, padding) into buf. Checks the header as the
 * decoder would (sizes, counts, names) so that nothing it writes is refused later.
 * Returns the record's bytes (> 0), or -EINVAL (a field the decoder would refuse, or
 * cap too small: *ret_bytes, when not NULL, still says how many are needed).
 */
PF_API int pf_packet_header_encode(const struct pf_packet_header *header, void *buf, size_t cap,
				   size_t *ret_bytes);

/*
 * Locate the record at the start of buf (len bytes): its head is checked (a known type,
 * flags zero, the body and its padding within len, padding zero). Returns 0 and
 * *ret_rec, or -EINVAL, -EOVERFLOW (the record runs past len: a truncated file, or more
 * to receive), -EPROTO.
 */
PF_API int pf_packet_rec_next(const void *buf, size_t len, struct pf_packet_rec *ret_rec,
			      struct pf_packet_fault *reterr_fault);

/* Decode a header record's body into *ret_header. 0, -EINVAL, -EPROTO, -EOVERFLOW,
 * -EPROTONOSUPPORT (digest algorithm). */
PF_API int pf_packet_header_decode(const struct pf_packet_rec *rec,
				   struct pf_packet_header *ret_header,
				   struct pf_packet_fault *reterr_fault);

/*
 * Encode the head of chunk `index`'s record (record head, index, length, digest:
 * PF_PACKET_REC_BYTES + PF_PACKET_CHUNK_HEAD_BYTES bytes) into buf; the chunk's bytes
 * follow it, then pf_packet_pad_bytes() zero bytes. Lets a sender gather the chunk from
 * where it lies. Returns the head's bytes, or -EINVAL (index past chunk_count, cap).
 */
PF_API int pf_packet_chunk_head_encode(const struct pf_packet_header *header, uint32_t index,
				       const uint8_t digest[PF_PACKET_DIGEST_BYTES], void *buf,
				       size_t cap);

/* The length of chunk `index` under header (the last may be short); 0 past the end. */
PF_API uint32_t pf_packet_chunk_len(const struct pf_packet_header *header, uint32_t index);

/* Decode a chunk record against its header: the index in range, the length exactly
 * pf_packet_chunk_len(). 0, -EINVAL, -EPROTO, -EOVERFLOW. */
PF_API int pf_packet_chunk_decode(const struct pf_packet_header *header,
				  const struct pf_packet_rec *rec,
				  struct pf_packet_chunk *ret_chunk,
				  struct pf_packet_fault *reterr_fault);

/* Encode the head of a message record (PF_PACKET_REC_BYTES +
 * PF_PACKET_MESSAGE_HEAD_BYTES bytes); the message's bytes and padding follow. Returns the
 * head's bytes, or -EINVAL (len > PF_MSG_BYTES_MAX, cap). */
PF_API int pf_packet_message_head_encode(uint32_t index, uint32_t len, void *buf, size_t cap);

/* Decode a message record against its header (index < message_count, the length within
 * PF_MSG_BYTES_MAX and the body). 0, -EINVAL, -EPROTO, -EOVERFLOW. */
PF_API int pf_packet_message_decode(const struct pf_packet_header *header,
				    const struct pf_packet_rec *rec,
				    struct pf_packet_message *ret_message,
				    struct pf_packet_fault *reterr_fault);

/* Bytes of the digest table record for header (head, body, padding). */
PF_API uint64_t pf_packet_digests_rec_bytes(const struct pf_packet_header *header);

/*
 * Encode the digest table record: chunk_count digests (digests, chunk order) then the
 * messages' digest. Returns 0, or -EINVAL (cap < pf_packet_digests_rec_bytes()).
 */
PF_API int pf_packet_digests_encode(const struct pf_packet_header *header, const uint8_t *digests,
				    const uint8_t messages_digest[PF_PACKET_DIGEST_BYTES],
				    void *buf, size_t cap);

/* Decode a digest table record: *ret_digests points at its chunk_count + 1 digests. 0,
 * -EINVAL, -EPROTO, -EOVERFLOW, -EPROTONOSUPPORT. */
PF_API int pf_packet_digests_decode(const struct pf_packet_header *header,
				    const struct pf_packet_rec *rec, const uint8_t **ret_digests,
				    struct pf_packet_fault *reterr_fault);

#define PF_PACKET_SIGNATURE_REC_BYTES (PF_PACKET_REC_BYTES + 8u + PF_PACKET_SIG_BYTES)

/* Encode the signature record (PF_PACKET_SIGNATURE_REC_BYTES). 0, or -EINVAL. */
PF_API int pf_packet_signature_encode(uint32_t sig_alg, const uint8_t sig[PF_PACKET_SIG_BYTES],
				      void *buf, size_t cap);

/* Decode a signature record. 0, -EINVAL, -EPROTO, -EOVERFLOW, -EPROTONOSUPPORT. */
PF_API int pf_packet_signature_decode(const struct pf_packet_rec *rec, uint32_t *ret_sig_alg,
				      const uint8_t **ret_sig,
				      struct pf_packet_fault *reterr_fault);

/*
 * Parse a whole packet file: preamble, header, chunks 0..chunk_count-1 in order, messages
 * 0..message_count-1 in order, the digest table, the signature, and nothing after. The
 * message lengths must sum to message_bytes. Checks the form only: pf_packet_verify()
 * (pflight/seal.h) then checks every digest and the signature. Returns 0 and *ret_view,
 * or -EINVAL, -EPROTO, -EOVERFLOW, -EPROTONOSUPPORT. O(records); reads every record head
 * but no chunk's bytes.
 */
PF_API int pf_packet_parse(const void *buf, size_t len, struct pf_packet_view *ret_view,
			   struct pf_packet_fault *reterr_fault);

/* Chunk `index` of a parsed view (index < chunk_count): 0, or -EINVAL. */
PF_API int pf_packet_view_chunk(const struct pf_packet_view *view, uint32_t index,
				struct pf_packet_chunk *ret_chunk);

/*
 * Iterate the messages of a parsed view: start with *cursor = 0; each call gives the
 * next message and advances *cursor. Returns 1 with *ret_message, 0 after the last, or
 * -EINVAL.
 */
PF_API int pf_packet_view_message(const struct pf_packet_view *view, uint64_t *cursor,
				  struct pf_packet_message *ret_message);

/* "header", "chunk", "message", "digests", "signature", or NULL. */
PF_API const char *pf_packet_rec_type_name(uint32_t type);

#ifdef __cplusplus
}
#endif

#endif /* PFLIGHT_PACKET_H */

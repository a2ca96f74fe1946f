/* SPDX-License-Identifier: MIT */
/*
 * pflight/seal.h: digests and signatures of Flight Packets (libpflight-ctl).
 *
 * pflight/packet.h is the form of a packet; this is what makes one authentic. Each chunk
 * of the checkpoint has a BLAKE2b-256 digest, carried in its record and again in the
 * digest table; the messages have one digest over their records' bodies in order. The
 * source host signs, with its Ed25519 key (Ed25519ph, RFC 8032, so the parts are
 * streamed), the context string "PhoenixFlight packet v1\n", the preamble, the header
 * record and the digest table record, as they are in the file. So the signature covers
 * every header field, every chunk (through its digest), the messages and their order.
 *
 * Keys are the files of pflight/audit.h (pf_audit_keygen(), pf_audit_key_save(),
 * pf_audit_key_load()): a host's key is an Ed25519 key like the one that signs its audit
 * log.
 *
 * Refusals: -EBADMSG (bytes that do not match their digest), -EKEYREJECTED (the signature
 * does not verify), -ENOKEY (the signer is not one of the keys trusted), and the form
 * refusals of pflight/packet.h. -EIO when libsodium cannot start.
 *
 * Any thread; no shared state; the cost is linear in the bytes hashed.
 */
#ifndef PFLIGHT_SEAL_H
#define PFLIGHT_SEAL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "pflight/common.h"
#include "pflight/packet.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The BLAKE2b-256 digest of one chunk's bytes. 0, -EINVAL, -EIO. */
PF_API int pf_seal_digest(const void *data, size_t len, uint8_t ret_digest[PF_PACKET_DIGEST_BYTES]);

/* The messages' digest, streamed: init, one update per message in order, final. The
 * state is opaque (a copy of libsodium's BLAKE2b state). */
struct pf_seal_stream {
	uint64_t opaque[56];
};
PF_API int pf_seal_messages_init(struct pf_seal_stream *stream);
PF_API int pf_seal_messages_update(struct pf_seal_stream *stream, uint32_t index, const void *data,
				   uint32_t len);
PF_API int pf_seal_messages_final(struct pf_seal_stream *stream,
				  uint8_t ret_digest[PF_PACKET_DIGEST_BYTES]);

/*
 * Sign a packet: its preamble (PF_PACKET_PREAMBLE_BYTES: the version, minor included,
 * is signed), then header_rec and digests_rec (whole records, as they are written) under
 * the source host's secret key sk (PF_AUDIT_SECRET_KEY_BYTES). The header record must
 * name sk's public key as host_key. Returns 0 with ret_sig, or -EINVAL (NULL, a preamble
 * or record that does not decode, a host_key that is not sk's), -ENOMEM, -EIO.
 */
PF_API int pf_seal_sign(const unsigned char *sk, const void *preamble, const void *header_rec,
			size_t header_rec_bytes, const void *digests_rec, size_t digests_rec_bytes,
			uint8_t ret_sig[PF_PACKET_SIG_BYTES]);

/* Check a signature made by pf_seal_sign() with the key pk. 0, -EKEYREJECTED, -EINVAL,
 * -EIO. */
PF_API int pf_seal_check(const uint8_t pk[PF_PACKET_KEY_BYTES], const void *preamble,
			 const void *header_rec, size_t header_rec_bytes, const void *digests_rec,
			 size_t digests_rec_bytes, const uint8_t sig[PF_PACKET_SIG_BYTES]);

/*
 * Verify a parsed packet whole: every chunk's bytes against the digest in its record and
 * the same digest in the table, the messages against theirs, the signature with the key
 * the header names, and that key against trusted[0..trusted_count) (trusted NULL: any
 * key, for a reader that only shows who signed). Returns 0, or -EBADMSG (which chunk, or
 * the messages, in *reterr_fault), -EKEYREJECTED, -ENOKEY, -EINVAL, -EIO. Reads every
 * byte of the packet once.
 */
PF_API int pf_seal_verify(const struct pf_packet_view *view,
			  const uint8_t (*trusted)[PF_PACKET_KEY_BYTES], size_t trusted_count,
			  struct pf_packet_fault *reterr_fault);

/*
 * Write a whole packet to fd: header (its chunk_count, message_count, message_bytes,
 * digest_alg and host_key are set here from the arguments and sk; chunk_bytes must be set,
 * or 0 for the default PF_SEAL_CHUNK_BYTES_DEFAULT), the state's chunks with their
 * digests, the messages, the digest table and the signature. Returns the bytes written,
 * or -EINVAL (a header field the codec refuses, state_len past the limit), -ENOMEM, -EIO,
 * or write(2)'s errno. On failure the file holds a partial packet that pf_packet_parse()
 * refuses; the caller removes it.
 */
#define PF_SEAL_CHUNK_BYTES_DEFAULT (64u << 10)
PF_API int64_t pf_seal_write(int fd, struct pf_packet_header *header, const void *state,
			     uint64_t state_len, const struct iovec *messages,
			     uint32_t message_count, const unsigned char *sk);

#ifdef __cplusplus
}
#endif

#endif /* PFLIGHT_SEAL_H */

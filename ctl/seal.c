/* SPDX-License-Identifier: MIT */
/*
 * ctl/seal.c: digests and signatures of Flight Packets (pflight/seal.h).
 *
 * Why BLAKE2b-256 per chunk and not a faster checksum. The signature covers the chunks
 * only through their digests, so a digest must be collision-resistant against whoever
 * can write the bytes in between (a file edited at rest, a path on the network): a fast
 * non-cryptographic hash (XXH3) lets one craft other bytes with the same digest. BLAKE2b
 * is the fastest collision-resistant hash libsodium has (about 1 GB/s per core here,
 * against 0.3 GB/s for its SHA-256), and it is what the audit log already uses. What that
 * costs a migration is measured by `scripts/bench migrate` and said in its report.
 *
 * Why Ed25519ph. The signed parts (header record, digest table record) are not adjacent
 * in the file, and the table of a large packet is megabytes: the multi-part API streams
 * them without a copy. A context string first keeps a packet signature from being taken
 * for any other signature this key makes (audit heads, tokens).
 */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pflight/audit.h"
#include "pflight/seal.h"
#include "shm/pf_assert.h"

#define SIGN_CONTEXT "PhoenixFlight packet v1\n"

_Static_assert(sizeof(struct pf_seal_stream) >= sizeof(crypto_generichash_state),
	       "the stream holds libsodium's state");
_Static_assert(PF_PACKET_DIGEST_BYTES == crypto_generichash_BYTES, "BLAKE2b-256");
_Static_assert(PF_PACKET_SIG_BYTES == crypto_sign_BYTES, "Ed25519");
_Static_assert(PF_PACKET_KEY_BYTES == crypto_sign_PUBLICKEYBYTES, "Ed25519");
_Static_assert(PF_AUDIT_SECRET_KEY_BYTES == crypto_sign_SECRETKEYBYTES, "Ed25519");

int pf_seal_digest(const void *data, size_t len, uint8_t ret_digest[PF_PACKET_DIGEST_BYTES])
{
	if ((data == NULL && len > 0) || ret_digest == NULL)
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	return crypto_generichash(ret_digest, PF_PACKET_DIGEST_BYTES, data, len, NULL, 0) == 0
		       ? 0
		       : -EIO;
}

/* libsodium's state wants 64-byte alignment; the caller's stream need not have it. */
struct aligned_state {
	crypto_generichash_state st;
};

int pf_seal_messages_init(struct pf_seal_stream *stream)
{
	struct aligned_state a;

	if (stream == NULL)
		return -EINVAL;
	if (sodium_init() < 0 ||
	    crypto_generichash_init(&a.st, NULL, 0, PF_PACKET_DIGEST_BYTES) != 0)
		return -EIO;
	memcpy(stream->opaque, &a.st, sizeof(a.st));
	return 0;
}

int pf_seal_messages_update(struct pf_seal_stream *stream, uint32_t index, const void *data,
			    uint32_t len)
{
	struct aligned_state a;
	uint8_t head[PF_PACKET_MESSAGE_HEAD_BYTES];
	int r = 0;

	if (stream == NULL || (data == NULL && len > 0))
		return -EINVAL;
	/* The message record's body head, as the file has it: index, length, little-endian. */
	for (int i = 0; i < 4; i++) {
		head[i] = (uint8_t)(index >> (8 * i));
		head[4 + i] = (uint8_t)(len >> (8 * i));
	}
	memcpy(&a.st, stream->opaque, sizeof(a.st));
	if (crypto_generichash_update(&a.st, head, sizeof(head)) != 0 ||
	    (len > 0 && crypto_generichash_update(&a.st, data, len) != 0))
		r = -EIO;
	memcpy(stream->opaque, &a.st, sizeof(a.st));
	return r;
}

int pf_seal_messages_final(struct pf_seal_stream *stream,
			   uint8_t ret_digest[PF_PACKET_DIGEST_BYTES])
{
	struct aligned_state a;

	if (stream == NULL || ret_digest == NULL)
		return -EINVAL;
	memcpy(&a.st, stream->opaque, sizeof(a.st));
	if (crypto_generichash_final(&a.st, ret_digest, PF_PACKET_DIGEST_BYTES) != 0)
		return -EIO;
	sodium_memzero(stream, sizeof(*stream));
	return 0;
}

static void sign_stream(crypto_sign_state *st, const void *preamble, const void *header_rec,
			size_t header_rec_bytes, const void *digests_rec, size_t digests_rec_bytes)
{
	(void)crypto_sign_init(st);
	(void)crypto_sign_update(st, (const unsigned char *)SIGN_CONTEXT, strlen(SIGN_CONTEXT));
	(void)crypto_sign_update(st, preamble, PF_PACKET_PREAMBLE_BYTES);
	(void)crypto_sign_update(st, header_rec, header_rec_bytes);
	(void)crypto_sign_update(st, digests_rec, digests_rec_bytes);
}

int pf_seal_sign(const unsigned char *sk, const void *preamble, const void *header_rec,
		 size_t header_rec_bytes, const void *digests_rec, size_t digests_rec_bytes,
		 uint8_t ret_sig[PF_PACKET_SIG_BYTES])
{
	unsigned char pk[PF_PACKET_KEY_BYTES];
	struct pf_packet_header *h;
	struct pf_packet_rec rec;
	crypto_sign_state st;
	int r;

	if (sk == NULL || header_rec == NULL || digests_rec == NULL || ret_sig == NULL ||
	    pf_packet_preamble_decode(preamble, PF_PACKET_PREAMBLE_BYTES, NULL) < 0)
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	h = malloc(sizeof(*h));
	if (h == NULL)
		return -ENOMEM;
	r = pf_packet_rec_next(header_rec, header_rec_bytes, &rec, NULL);
	if (r == 0)
		r = rec.rec_bytes == header_rec_bytes ? pf_packet_header_decode(&rec, h, NULL)
						      : -EINVAL;
	if (r == 0 &&
	    (crypto_sign_ed25519_sk_to_pk(pk, sk) != 0 || memcmp(pk, h->host_key, sizeof(pk)) != 0))
		r = -EINVAL;
	free(h);
	if (r < 0)
		return -EINVAL;
	sign_stream(&st, preamble, header_rec, header_rec_bytes, digests_rec, digests_rec_bytes);
	return crypto_sign_final_create(&st, ret_sig, NULL, sk) == 0 ? 0 : -EIO;
}

int pf_seal_check(const uint8_t pk[PF_PACKET_KEY_BYTES], const void *preamble,
		  const void *header_rec, size_t header_rec_bytes, const void *digests_rec,
		  size_t digests_rec_bytes, const uint8_t sig[PF_PACKET_SIG_BYTES])
{
	crypto_sign_state st;
	uint8_t s[PF_PACKET_SIG_BYTES];

	if (pk == NULL || preamble == NULL || header_rec == NULL || digests_rec == NULL ||
	    sig == NULL)
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	memcpy(s, sig, sizeof(s)); /* libsodium's verify takes a non-const signature */
	sign_stream(&st, preamble, header_rec, header_rec_bytes, digests_rec, digests_rec_bytes);
	return crypto_sign_final_verify(&st, s, pk) == 0 ? 0 : -EKEYREJECTED;
}

static int seal_fault(struct pf_packet_fault *f, int r, uint64_t offset, uint32_t index,
		      const char *what)
{
	PF_ASSERT(r < 0);
	if (f != NULL)
		*f = (struct pf_packet_fault){offset, UINT32_MAX, index, what};
	return r;
}

/* Every chunk against its record's digest and the table's. */
static int verify_chunks(const struct pf_packet_view *v, struct pf_packet_fault *f)
{
	struct pf_packet_chunk c;
	uint8_t d[PF_PACKET_DIGEST_BYTES];

	for (uint32_t i = 0; i < v->header.chunk_count; i++) {
		uint64_t off = v->chunks_offset + (uint64_t)i * v->chunk_stride;

		if (pf_packet_view_chunk(v, i, &c) < 0)
			return -EINVAL;
		if (pf_seal_digest(c.data, c.len, d) < 0)
			return -EIO;
		if (sodium_memcmp(d, c.digest, sizeof(d)) != 0)
			return seal_fault(f, -EBADMSG, off, i,
					  "chunk bytes do not match its digest");
		if (sodium_memcmp(d, v->digests + (uint64_t)i * PF_PACKET_DIGEST_BYTES,
				  sizeof(d)) != 0)
			return seal_fault(f, -EBADMSG, off, i,
					  "chunk digest differs from the digest table");
	}
	return 0;
}

static int verify_messages(const struct pf_packet_view *v, struct pf_packet_fault *f)
{
	struct pf_seal_stream s;
	struct pf_packet_message m;
	uint8_t d[PF_PACKET_DIGEST_BYTES];
	uint64_t cursor = 0;
	int r;

	r = pf_seal_messages_init(&s);
	while (r == 0 && (r = pf_packet_view_message(v, &cursor, &m)) == 1)
		r = pf_seal_messages_update(&s, m.index, m.data, m.len);
	if (r == 0)
		r = pf_seal_messages_final(&s, d);
	if (r < 0)
		return r;
	if (sodium_memcmp(d, v->digests + (uint64_t)v->header.chunk_count * PF_PACKET_DIGEST_BYTES,
			  sizeof(d)) != 0)
		return seal_fault(f, -EBADMSG, v->messages_offset, UINT32_MAX,
				  "messages do not match their digest");
	return 0;
}

int pf_seal_verify(const struct pf_packet_view *view, const uint8_t (*trusted)[PF_PACKET_KEY_BYTES],
		   size_t trusted_count, struct pf_packet_fault *reterr_fault)
{
	const struct pf_packet_view *v = view;
	int r, known = trusted == NULL;

	if (v == NULL || v->base == NULL || (trusted == NULL && trusted_count > 0))
		return -EINVAL;
	for (size_t i = 0; i < trusted_count && !known; i++)
		known = sodium_memcmp(trusted[i], v->header.host_key, PF_PACKET_KEY_BYTES) == 0;
	/* The signature first: it is cheap, and a packet from nobody trusted is not hashed. */
	r = pf_seal_check(v->header.host_key, v->base, v->header_rec, v->header_rec_bytes,
			  v->digests_rec, v->digests_rec_bytes, v->signature);
	if (r == -EKEYREJECTED)
		return seal_fault(reterr_fault, r, (uint64_t)(v->signature - v->base), UINT32_MAX,
				  "signature does not verify with the header's host key");
	if (r < 0)
		return r;
	if (!known)
		return seal_fault(reterr_fault, -ENOKEY, PF_PACKET_PREAMBLE_BYTES + 16 + 64,
				  UINT32_MAX, "signed by a host key not trusted");
	r = verify_chunks(v, reterr_fault);
	if (r == 0)
		r = verify_messages(v, reterr_fault);
	return r;
}

/* SPDX-License-Identifier: MIT */
/*
 * ctl/seal_write.c: a whole Flight Packet written to a file (pf_seal_write(), pflight/seal.h).
 *
 * The digests are computed first, so the header, chunks, messages, table and signature go
 * out in one pass in the file's order. The state and the messages are the caller's
 * memory, gathered with writev(2): nothing but the digest table (32 bytes a chunk) is
 * copied.
 */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "pflight/audit.h"
#include "pflight/seal.h"
#include "shm/pf_assert.h"

static const uint8_t zeros[8];

/* Write every byte of iov[0..n) (which it may change). Returns 0 or write(2)'s errno. */
static int write_all(int fd, struct iovec *iov, int n)
{
	while (n > 0) {
		ssize_t w = writev(fd, iov, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (w == 0)
			return -EIO;
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Fill the header's counts and key from the arguments. */
static int header_fill(struct pf_packet_header *h, uint64_t state_len, const struct iovec *messages,
		       uint32_t message_count, const unsigned char *sk)
{
	uint64_t bytes = 0;

	if (h->size != sizeof(*h) || state_len > PF_PACKET_STATE_BYTES_MAX ||
	    message_count > PF_PACKET_MESSAGES_MAX || (messages == NULL && message_count > 0))
		return -EINVAL;
	if (h->chunk_bytes == 0)
		h->chunk_bytes = PF_SEAL_CHUNK_BYTES_DEFAULT;
	if (h->chunk_bytes < PF_PACKET_CHUNK_BYTES_MIN ||
	    h->chunk_bytes > PF_PACKET_CHUNK_BYTES_MAX)
		return -EINVAL;
	for (uint32_t i = 0; i < message_count; i++) {
		if (messages[i].iov_len > PF_MSG_BYTES_MAX ||
		    (messages[i].iov_base == NULL && messages[i].iov_len > 0))
			return -EINVAL;
		bytes += messages[i].iov_len;
	}
	h->state_bytes = state_len;
	h->chunk_count = (uint32_t)((state_len + h->chunk_bytes - 1) / h->chunk_bytes);
	h->message_count = message_count;
	h->message_bytes = bytes;
	h->digest_alg = PF_PACKET_DIGEST_BLAKE2B_256;
	if (crypto_sign_ed25519_sk_to_pk(h->host_key, sk) != 0)
		return -EINVAL;
	return 0;
}

/* The digest table record: every chunk's digest, then the messages'. */
static int digests_build(const struct pf_packet_header *h, const uint8_t *state,
			 const struct iovec *messages, uint8_t *rec, size_t rec_cap)
{
	uint8_t *table = calloc((size_t)h->chunk_count + 1, PF_PACKET_DIGEST_BYTES);
	struct pf_seal_stream s;
	int r = table == NULL ? -ENOMEM : 0;

	for (uint32_t i = 0; r == 0 && i < h->chunk_count; i++)
		r = pf_seal_digest(state + (uint64_t)i * h->chunk_bytes, pf_packet_chunk_len(h, i),
				   table + (size_t)i * PF_PACKET_DIGEST_BYTES);
	if (r == 0)
		r = pf_seal_messages_init(&s);
	for (uint32_t i = 0; r == 0 && i < h->message_count; i++)
		r = pf_seal_messages_update(&s, i, messages[i].iov_base,
					    (uint32_t)messages[i].iov_len);
	if (r == 0)
		r = pf_seal_messages_final(&s,
					   table + (size_t)h->chunk_count * PF_PACKET_DIGEST_BYTES);
	if (r == 0)
		r = pf_packet_digests_encode(
			h, table, table + (size_t)h->chunk_count * PF_PACKET_DIGEST_BYTES, rec,
			rec_cap);
	free(table);
	return r;
}

/* The chunk and message records; *bytes grows by what they took. */
static int write_records(int fd, const struct pf_packet_header *h, const uint8_t *state,
			 const struct iovec *messages, const uint8_t *digests, uint64_t *bytes)
{
	uint8_t head[PF_PACKET_REC_BYTES + PF_PACKET_CHUNK_HEAD_BYTES];
	int r = 0;

	for (uint32_t i = 0; r == 0 && i < h->chunk_count; i++) {
		uint32_t len = pf_packet_chunk_len(h, i);
		int n = pf_packet_chunk_head_encode(
			h, i, digests + (size_t)i * PF_PACKET_DIGEST_BYTES, head, sizeof(head));
		struct iovec iov[3] = {
			{head, (size_t)n},
			{(void *)(uintptr_t)(state + (uint64_t)i * h->chunk_bytes), len},
			{(void *)(uintptr_t)zeros,
			 pf_packet_pad_bytes(PF_PACKET_CHUNK_HEAD_BYTES + len)},
		};

		PF_ASSERT(n > 0);
		*bytes += iov[0].iov_len + iov[1].iov_len + iov[2].iov_len;
		r = write_all(fd, iov, 3);
	}
	for (uint32_t i = 0; r == 0 && i < h->message_count; i++) {
		uint32_t len = (uint32_t)messages[i].iov_len;
		int n = pf_packet_message_head_encode(i, len, head, sizeof(head));
		struct iovec iov[3] = {
			{head, (size_t)n},
			{messages[i].iov_base, len},
			{(void *)(uintptr_t)zeros,
			 pf_packet_pad_bytes(PF_PACKET_MESSAGE_HEAD_BYTES + len)},
		};

		PF_ASSERT(n > 0);
		*bytes += iov[0].iov_len + iov[1].iov_len + iov[2].iov_len;
		r = write_all(fd, iov, 3);
	}
	return r;
}

int64_t pf_seal_write(int fd, struct pf_packet_header *header, const void *state,
		      uint64_t state_len, const struct iovec *messages, uint32_t message_count,
		      const unsigned char *sk)
{
	uint8_t pre[PF_PACKET_PREAMBLE_BYTES], *hrec = NULL, *drec = NULL;
	uint8_t srec[PF_PACKET_SIGNATURE_REC_BYTES], sig[PF_PACKET_SIG_BYTES];
	size_t hbytes = 0;
	uint64_t dbytes, total = 0;
	int r;

	if (fd < 0 || header == NULL || sk == NULL || (state == NULL && state_len > 0))
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	r = header_fill(header, state_len, messages, message_count, sk);
	if (r == 0 && pf_packet_header_encode(header, NULL, 0, &hbytes) != -EINVAL)
		r = -EINVAL;
	if (r < 0 || hbytes == 0)
		return -EINVAL;
	dbytes = pf_packet_digests_rec_bytes(header);
	hrec = malloc(hbytes);
	drec = malloc(dbytes);
	r = hrec == NULL || drec == NULL ? -ENOMEM : 0;
	if (r == 0)
		r = pf_packet_header_encode(header, hrec, hbytes, NULL) < 0 ? -EINVAL : 0;
	if (r == 0)
		r = digests_build(header, state, messages, drec, dbytes);
	(void)pf_packet_preamble_encode(pre, sizeof(pre));
	if (r == 0)
		r = pf_seal_sign(sk, pre, hrec, hbytes, drec, dbytes, sig);
	if (r == 0)
		r = pf_packet_signature_encode(PF_PACKET_SIG_ED25519PH, sig, srec, sizeof(srec));
	if (r == 0) {
		struct iovec iov[2] = {{pre, sizeof(pre)}, {hrec, hbytes}};

		r = write_all(fd, iov, 2);
	}
	total = PF_PACKET_PREAMBLE_BYTES + hbytes + dbytes + sizeof(srec);
	if (r == 0)
		r = write_records(fd, header, state, messages, drec + PF_PACKET_REC_BYTES + 8,
				  &total);
	if (r == 0) {
		struct iovec iov[2] = {{drec, dbytes}, {srec, sizeof(srec)}};

		r = write_all(fd, iov, 2);
	}
	free(hrec);
	free(drec);
	if (r < 0)
		return r;
	return (int64_t)total;
}

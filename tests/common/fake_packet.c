/* SPDX-License-Identifier: MIT */
/* tests/common/fake_packet.c: see fake_packet.h. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/common/fake_packet.h"
#include "tests/common/test_util.h"
#include "tools/pflightd/hosts_impl.h"

#define SIGN_CONTEXT "PhoenixFlight packet v1\n" /* docs/flight-packet.md, "Signature" */
#define CHUNK_COVERED (16u + PF_PACKET_REC_BYTES + PF_PACKET_CHUNK_HEAD_BYTES)

void fp_init(struct fake_packet *p, uint32_t vnode, uint64_t epoch, const uint8_t *state,
	     uint64_t state_bytes, uint32_t chunk_bytes, const char *host,
	     const uint8_t host_key[PF_PACKET_KEY_BYTES])
{
	memset(p, 0, sizeof(*p));
	pf_packet_header_init(&p->ph);
	p->ph.vnode_id = vnode;
	p->ph.epoch = epoch;
	p->ph.state_bytes = state_bytes;
	p->ph.chunk_bytes = chunk_bytes;
	p->ph.chunk_count = (uint32_t)((state_bytes + chunk_bytes - 1) / chunk_bytes);
	p->ph.checkpoint_seq = 1;
	p->ph.created_ns = 1;
	memcpy(p->ph.host_key, host_key, PF_PACKET_KEY_BYTES);
	(void)snprintf(p->ph.host, sizeof(p->ph.host), "%s", host);
	p->state = state;
}

void fp_add_msg(struct fake_packet *p, const void *bytes, size_t len)
{
	CHECK(p->ph.message_count < FP_MSGS_MAX);
	p->msgs[p->ph.message_count++] = (struct iovec){(void *)(uintptr_t)bytes, len};
	p->ph.message_bytes += len;
}

void fp_build(struct fake_packet *p)
{
	struct pf_seal_stream s;
	size_t hbytes = 0;
	uint32_t n = p->ph.chunk_count;

	free(p->digests);
	free(p->head_rec);
	free(p->drec);
	p->digests = calloc(n + 1, PF_PACKET_DIGEST_BYTES);
	CHECK(p->digests != NULL);
	for (uint32_t i = 0; i < n; i++)
		CHECK(pf_seal_digest(p->state + (uint64_t)i * p->ph.chunk_bytes,
				     pf_packet_chunk_len(&p->ph, i), p->digests[i]) == 0);
	CHECK(pf_seal_messages_init(&s) == 0);
	for (uint32_t i = 0; i < p->ph.message_count; i++)
		CHECK(pf_seal_messages_update(&s, i, p->msgs[i].iov_base,
					      (uint32_t)p->msgs[i].iov_len) == 0);
	CHECK(pf_seal_messages_final(&s, p->digests[n]) == 0);
	CHECK(pf_packet_header_encode(&p->ph, NULL, 0, &hbytes) == -EINVAL && hbytes > 0);
	p->head_rec_len = PF_PACKET_PREAMBLE_BYTES + hbytes;
	p->head_rec = malloc(p->head_rec_len);
	CHECK(p->head_rec != NULL);
	CHECK(pf_packet_preamble_encode(p->head_rec, PF_PACKET_PREAMBLE_BYTES) > 0);
	CHECK(pf_packet_header_encode(&p->ph, p->head_rec + PF_PACKET_PREAMBLE_BYTES, hbytes,
				      NULL) > 0);
	p->drec_len = (size_t)pf_packet_digests_rec_bytes(&p->ph);
	p->drec = malloc(p->drec_len);
	CHECK(p->drec != NULL);
	CHECK(pf_packet_digests_encode(&p->ph, (const uint8_t *)p->digests, p->digests[n], p->drec,
				       p->drec_len) == 0);
}

void fp_fini(struct fake_packet *p)
{
	free(p->digests);
	free(p->head_rec);
	free(p->drec);
	memset(p, 0, sizeof(*p));
}

void fp_sign(const struct fake_packet *p, const unsigned char *sk, uint8_t sig[PF_PACKET_SIG_BYTES])
{
	crypto_sign_state st;

	CHECK(sodium_init() >= 0);
	CHECK(crypto_sign_init(&st) == 0);
	CHECK(crypto_sign_update(&st, (const unsigned char *)SIGN_CONTEXT, strlen(SIGN_CONTEXT)) ==
	      0);
	CHECK(crypto_sign_update(&st, p->head_rec, p->head_rec_len) == 0);
	CHECK(crypto_sign_update(&st, p->drec, p->drec_len) == 0);
	CHECK(crypto_sign_final_create(&st, sig, NULL, sk) == 0);
}

int fp_send_words(struct fake_host *f, uint32_t type, uint64_t mig, const uint32_t *w, unsigned n)
{
	uint8_t body[8 + 4 * 4];

	CHECK(n <= 4);
	fake_put64(body, mig);
	for (unsigned i = 0; i < n; i++)
		fake_put32(body + 8 + 4 * i, w[i]);
	return fake_send(f, type, body, 8 + 4 * (size_t)n, (uint32_t)(8 + 4 * n));
}

int fp_send_begin(struct fake_host *f, const struct fake_packet *p, uint64_t mig)
{
	uint32_t w[2] = {p->ph.vnode_id, p->ph.chunk_bytes};

	return fp_send_words(f, HF_BEGIN, mig, w, 2);
}

int fp_send_chunk(struct fake_host *f, const struct fake_packet *p, uint64_t mig, uint32_t round,
		  uint32_t index, uint32_t flip_at)
{
	uint32_t len = pf_packet_chunk_len(&p->ph, index);
	size_t total = CHUNK_COVERED + len + pf_packet_pad_bytes(PF_PACKET_CHUNK_HEAD_BYTES + len);
	uint8_t *body = calloc(1, total);
	int r;

	CHECK(body != NULL && len > 0);
	fake_put64(body, mig);
	fake_put32(body + 8, round);
	CHECK(pf_packet_chunk_head_encode(&p->ph, index, p->digests[index], body + 16,
					  CHUNK_COVERED - 16) > 0);
	memcpy(body + CHUNK_COVERED, p->state + (uint64_t)index * p->ph.chunk_bytes, len);
	if (flip_at != FP_NO_FLIP)
		body[CHUNK_COVERED + flip_at % len] ^= 0x5a; /* after the digest: bytes past
							      * `covered`, the link lets them by */
	r = fake_send(f, HF_CHUNK, body, total, CHUNK_COVERED);
	free(body);
	return r;
}

int fp_send_final(struct fake_host *f, const struct fake_packet *p, uint64_t mig)
{
	uint8_t *body = malloc(8 + p->head_rec_len);
	int r;

	CHECK(body != NULL);
	fake_put64(body, mig);
	memcpy(body + 8, p->head_rec, p->head_rec_len);
	r = fake_send(f, HF_FINAL, body, 8 + p->head_rec_len, (uint32_t)(8 + p->head_rec_len));
	free(body);
	return r;
}

int fp_send_msg(struct fake_host *f, const struct fake_packet *p, uint64_t mig, uint32_t index)
{
	size_t len = p->msgs[index].iov_len;
	size_t total = 8 + PF_PACKET_REC_BYTES + PF_PACKET_MESSAGE_HEAD_BYTES + len +
		       pf_packet_pad_bytes(PF_PACKET_MESSAGE_HEAD_BYTES + len);
	uint8_t *body = calloc(1, total);
	int r;

	CHECK(body != NULL);
	fake_put64(body, mig);
	CHECK(pf_packet_message_head_encode(index, (uint32_t)len, body + 8, total - 8) > 0);
	memcpy(body + 8 + PF_PACKET_REC_BYTES + PF_PACKET_MESSAGE_HEAD_BYTES,
	       p->msgs[index].iov_base, len);
	r = fake_send(f, HF_MSG, body, total, (uint32_t)total);
	free(body);
	return r;
}

int fp_send_seal(struct fake_host *f, const struct fake_packet *p, uint64_t mig,
		 const unsigned char *sk)
{
	size_t total = 8 + p->drec_len + PF_PACKET_SIGNATURE_REC_BYTES;
	uint8_t *body = malloc(total), sig[PF_PACKET_SIG_BYTES];
	int r;

	CHECK(body != NULL);
	fp_sign(p, sk, sig);
	fake_put64(body, mig);
	memcpy(body + 8, p->drec, p->drec_len);
	CHECK(pf_packet_signature_encode(PF_PACKET_SIG_ED25519PH, sig, body + 8 + p->drec_len,
					 PF_PACKET_SIGNATURE_REC_BYTES) == 0);
	r = fake_send(f, HF_SEAL, body, total, (uint32_t)total);
	free(body);
	return r;
}

/* The answer to what was just sent: 0 on `want` (or a later frame), -EPROTO on REFUSE. */
static int answer(struct fake_host *f, uint32_t want, uint32_t *ret_word, int loud)
{
	struct pf_link_frame fr;
	int r;

	do {
		r = fake_recv(f, &fr, FAKE_WAIT_NS);
	} while (r == 0 && fr.type != want && fr.type != HF_REFUSE);
	if (r < 0)
		return r;
	if (fr.type == HF_REFUSE) {
		if (loud)
			fprintf(stderr, "refused: %.*s\n",
				(int)(fr.body_bytes > 12 ? fr.body_bytes - 12 : 0),
				(const char *)fr.body + 12);
		return -EPROTO;
	}
	if (ret_word != NULL)
		*ret_word = fr.body_bytes >= 12 ? fake_get32(fr.body + 8) : 0;
	return 0;
}

int fp_move(struct fake_host *f, const struct fake_packet *p, uint64_t mig, const unsigned char *sk,
	    int loud)
{
	uint32_t w[2] = {1, p->ph.chunk_count}, epoch = 0;
	int r = fp_send_begin(f, p, mig);

	if (r == 0)
		r = answer(f, HF_ACCEPT, NULL, loud);
	for (uint32_t i = 0; r == 0 && i < p->ph.chunk_count; i++)
		r = fp_send_chunk(f, p, mig, 1, i, FP_NO_FLIP);
	if (r == 0)
		r = fp_send_words(f, HF_ROUND, mig, w, 2);
	if (r == 0)
		r = answer(f, HF_ROUND_OK, NULL, loud);
	if (r == 0)
		r = fp_send_final(f, p, mig);
	for (uint32_t i = 0; r == 0 && i < p->ph.message_count; i++)
		r = fp_send_msg(f, p, mig, i);
	if (r == 0)
		r = fp_send_seal(f, p, mig, sk);
	if (r == 0)
		r = answer(f, HF_PREPARED, &epoch, loud);
	return r < 0 ? r : (int)epoch;
}

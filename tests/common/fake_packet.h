/* SPDX-License-Identifier: MIT */
/*
 * tests/common/fake_packet.h: a Flight Packet built by hand and sent as the migration
 * frames of tools/pflightd/hosts_impl.h by a fake source host (tests/common/fake_host.h):
 * BEGIN, CHUNK, ROUND, FINAL, MSG, SEAL, COMMIT, each whole, altered or alone, so a test
 * can show the target daemon every kind of wrong packet and one right one.
 */
#ifndef PF_TEST_FAKE_PACKET_H
#define PF_TEST_FAKE_PACKET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "pflight/pflight.h"
#include "tests/common/fake_host.h"

#define FP_MSGS_MAX 64u
#define FP_NO_FLIP UINT32_MAX

struct fake_packet {
	struct pf_packet_header ph;
	const uint8_t *state;
	uint8_t (*digests)[PF_PACKET_DIGEST_BYTES]; /* chunk_count + 1: the messages' last */
	struct iovec msgs[FP_MSGS_MAX];
	uint8_t *head_rec; /* preamble, then the header record */
	size_t head_rec_len;
	uint8_t *drec; /* the digest table record */
	size_t drec_len;
};

/* A packet of VNode vnode at epoch from host (name, key): state (kept by pointer), cut in
 * chunk_bytes chunks. Then fp_add_msg() each message, then fp_build(). */
void fp_init(struct fake_packet *p, uint32_t vnode, uint64_t epoch, const uint8_t *state,
	     uint64_t state_bytes, uint32_t chunk_bytes, const char *host,
	     const uint8_t host_key[PF_PACKET_KEY_BYTES]);
void fp_add_msg(struct fake_packet *p, const void *bytes, size_t len); /* kept by pointer */
/* Digests, the header record and the digest table, from what the packet holds now. */
void fp_build(struct fake_packet *p);
void fp_fini(struct fake_packet *p);
/* Ed25519ph over the packet's signed parts by sk, whatever key the header names. */
void fp_sign(const struct fake_packet *p, const unsigned char *sk,
	     uint8_t sig[PF_PACKET_SIG_BYTES]);

int fp_send_words(struct fake_host *f, uint32_t type, uint64_t mig, const uint32_t *w, unsigned n);
int fp_send_begin(struct fake_host *f, const struct fake_packet *p, uint64_t mig);
/* Chunk index; flip_at: the byte of its data to alter after its digest was taken, or
 * FP_NO_FLIP. */
int fp_send_chunk(struct fake_host *f, const struct fake_packet *p, uint64_t mig, uint32_t round,
		  uint32_t index, uint32_t flip_at);
int fp_send_final(struct fake_host *f, const struct fake_packet *p, uint64_t mig);
int fp_send_msg(struct fake_host *f, const struct fake_packet *p, uint64_t mig, uint32_t index);
/* SEAL, signed by sk. */
int fp_send_seal(struct fake_host *f, const struct fake_packet *p, uint64_t mig,
		 const unsigned char *sk);
/* BEGIN (and its ACCEPT), every chunk in round 1, ROUND (and ROUND_OK), FINAL, the
 * messages, SEAL by sk; then PREPARED is awaited: its epoch, or a negative errno (-EPROTO:
 * refused; the reason on stderr when loud). */
int fp_move(struct fake_host *f, const struct fake_packet *p, uint64_t mig, const unsigned char *sk,
	    int loud);

#endif /* PF_TEST_FAKE_PACKET_H */

/* SPDX-License-Identifier: MIT */
/*
 * tests/fuzz/fuzz_packet.c
 * Goal: no input makes the Flight Packet decoders (core/packet.c, core/packet_file.c) or
 * the verifier (ctl/seal.c) read out of bounds, crash or accept a packet that they would
 * not write: whatever decodes encodes back to the same bytes.
 * Method: a libFuzzer target. The input is parsed as a whole file (and, when it parses,
 * verified with any signer and walked chunk by chunk and message by message), then walked
 * as a stream of records the way a migration's receiver decodes frames, each record
 * decoded by its type against the first header seen. A header that decodes is encoded
 * again and must give the same record, byte for byte. Built with -fsanitize=fuzzer under
 * clang (fuzz_packet: `scripts/fuzz packet`), and with tests/fuzz/replay.c as a plain
 * program that replays the committed corpus, tests/fuzz/packet/ (suite fuzz).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pflight/packet.h"
#include "pflight/seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pf_packet_header header;
static uint8_t again[PF_PACKET_REC_BYTES + PF_PACKET_HEADER_FIXED_BYTES + 3 * 256 +
		     PF_CAPS_MAX * (PF_CAP_NAME_MAX + 1) + 8];

/* A header that decodes is canonical: encoding it gives back the record's bytes. */
static void header_again(const struct pf_packet_rec *rec, const uint8_t *at)
{
	size_t need = 0;
	int n = pf_packet_header_encode(&header, again, sizeof(again), &need);

	if (n < 0 || (uint64_t)n != rec->rec_bytes || memcmp(again, at, (size_t)n) != 0)
		abort();
}

static void whole(const uint8_t *data, size_t size)
{
	struct pf_packet_view *v = malloc(sizeof(*v));
	struct pf_packet_chunk c;
	struct pf_packet_message m;
	uint64_t cursor = 0;

	if (v == NULL)
		return;
	if (pf_packet_parse(data, size, v, NULL) == 0) {
		(void)pf_seal_verify(v, NULL, 0, NULL);
		for (uint32_t i = 0; i < v->header.chunk_count; i++)
			if (pf_packet_view_chunk(v, i, &c) != 0 || c.index != i)
				abort();
		while (pf_packet_view_message(v, &cursor, &m) == 1)
			if (m.len > PF_MSG_BYTES_MAX)
				abort();
	}
	free(v);
}

static void stream(const uint8_t *data, size_t size)
{
	struct pf_packet_rec rec;
	struct pf_packet_fault f;
	struct pf_packet_chunk c;
	struct pf_packet_message m;
	const uint8_t *digests, *sig;
	uint32_t alg;
	size_t off = pf_packet_preamble_decode(data, size, &f) == 0 ? PF_PACKET_PREAMBLE_BYTES : 0;
	int have = 0;

	while (off < size && pf_packet_rec_next(data + off, size - off, &rec, &f) == 0) {
		if (rec.rec_bytes == 0 || rec.rec_bytes > size - off)
			abort();
		if (rec.type == PF_PACKET_REC_HEADER && !have &&
		    pf_packet_header_decode(&rec, &header, &f) == 0) {
			have = 1;
			header_again(&rec, data + off);
		} else if (have && rec.type == PF_PACKET_REC_CHUNK &&
			   pf_packet_chunk_decode(&header, &rec, &c, &f) == 0) {
			if (c.len != pf_packet_chunk_len(&header, c.index))
				abort();
		} else if (have && rec.type == PF_PACKET_REC_MESSAGE) {
			(void)pf_packet_message_decode(&header, &rec, &m, &f);
		} else if (have && rec.type == PF_PACKET_REC_DIGESTS) {
			(void)pf_packet_digests_decode(&header, &rec, &digests, &f);
		} else if (rec.type == PF_PACKET_REC_SIGNATURE) {
			(void)pf_packet_signature_decode(&rec, &alg, &sig, &f);
		}
		off += rec.rec_bytes;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	whole(data, size);
	stream(data, size);
	return 0;
}

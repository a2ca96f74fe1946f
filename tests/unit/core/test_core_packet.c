/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/core/test_core_packet.c
 * Goal: the Flight Packet codec (core/packet.c) round-trips every header field exactly,
 * and refuses, with the errno and the field pflight/packet.h names, every header the
 * format forbids: each bound one past its limit, each invalid name, each reserved byte
 * set, a truncation at every length, a record head that lies about its length (up to
 * 2^64 - 1). Chunks and messages decode only at their index and exact length.
 * Method: a header with a distinct value in every field (and every name at its longest)
 * encoded, decoded and compared as bytes; then single fields edited in the encoded bytes
 * (little-endian offsets from docs/flight-packet.md), each decoded once.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "pflight/packet.h"

#define REC PF_PACKET_REC_BYTES

static uint8_t buf[16384];

static void full_header(struct pf_packet_header *h)
{
	pf_packet_header_init(h);
	h->vnode_id = 0x01020304;
	h->flags = PF_PACKET_F_SNAPSHOT;
	h->epoch = 0x1112131415161718ull;
	h->checkpoint_seq = 0x2122232425262728ull;
	h->chunk_bytes = 1u << 16;
	h->state_bytes = (5ull << 16) + 17; /* 6 chunks, the last of 17 bytes */
	h->chunk_count = 6;
	h->message_count = 3;
	h->message_bytes = 3ull * PF_MSG_BYTES_MAX;
	h->created_ns = 0x3132333435363738ull;
	for (int i = 0; i < 32; i++) {
		h->host_key[i] = (uint8_t)(0x40 + i);
		h->lineage_hash[i] = (uint8_t)(0x80 + i);
	}
	h->member_slot = 4095;
	h->member_generation = 0x51525354;
	h->member_pid = 4194304;
	h->home_node = 7;
	h->trust_floor_ppm = 1000000;
	h->lineage_seq = 0x6162636465666768ull;
	memset(h->name, 'n', PF_VNODE_NAME_MAX);
	memset(h->host, 'h', PF_PACKET_HOST_NAME_MAX);
	memset(h->namespace_name, 's', PF_DOMAIN_NAME_MAX);
	h->caps_count = PF_CAPS_MAX;
	for (uint32_t i = 0; i < PF_CAPS_MAX; i++)
		snprintf(h->caps[i], sizeof(h->caps[i]), "cap-%u:%.*s", i, 30,
			 "abcdefghijklmnopqrstuvwxyz/._-");
}

static int encode(const struct pf_packet_header *h)
{
	size_t need = 0;
	int n = pf_packet_header_encode(h, buf, sizeof(buf), &need);

	if (n > 0)
		assert_int_equal((size_t)n, need);
	return n;
}

static int decode(size_t len, struct pf_packet_header *out, struct pf_packet_fault *f)
{
	struct pf_packet_rec rec;
	int r = pf_packet_rec_next(buf, len, &rec, f);

	return r < 0 ? r : pf_packet_header_decode(&rec, out, f);
}

static void test_header_round_trip(void **state)
{
	struct pf_packet_header h, got;
	int n;

	(void)state;
	full_header(&h);
	n = encode(&h);
	assert_true(n > 0);
	assert_int_equal(n % 8, 0);
	memset(&got, 0xa5, sizeof(got));
	assert_int_equal(decode((size_t)n, &got, NULL), 0);
	assert_memory_equal(&h, &got, sizeof(h));

	/* The smallest header: no name, no namespace, no capability, nothing carried. */
	pf_packet_header_init(&h);
	h.chunk_bytes = PF_PACKET_CHUNK_BYTES_MIN;
	snprintf(h.host, sizeof(h.host), "%s", "a");
	n = encode(&h);
	assert_int_equal(n, REC + PF_PACKET_HEADER_FIXED_BYTES + 8);
	assert_int_equal(decode((size_t)n, &got, NULL), 0);
	assert_memory_equal(&h, &got, sizeof(h));
}

/* Every header the encoder refuses (it checks what the decoder checks). */
static void test_encode_refuses(void **state)
{
	struct pf_packet_header h;
	size_t need = 0;

	(void)state;
#define REFUSED(edit)                                                                              \
	do {                                                                                       \
		full_header(&h);                                                                   \
		edit;                                                                              \
		assert_int_equal(pf_packet_header_encode(&h, buf, sizeof(buf), NULL), -EINVAL);    \
	} while (0)
	REFUSED(h.size = 8);
	REFUSED(h.flags = 2);
	REFUSED(h.chunk_bytes = 3 << 12);
	REFUSED(h.chunk_bytes = PF_PACKET_CHUNK_BYTES_MIN / 2);
	REFUSED(h.chunk_bytes = PF_PACKET_CHUNK_BYTES_MAX * 2);
	REFUSED(h.chunk_count = 5);
	REFUSED(h.state_bytes = PF_PACKET_STATE_BYTES_MAX + 1; h.chunk_count = 1u << 20);
	REFUSED(h.message_count = PF_PACKET_MESSAGES_MAX + 1);
	REFUSED(h.message_bytes = 3ull * PF_MSG_BYTES_MAX + 1);
	REFUSED(h.home_node = -2);
	REFUSED(h.trust_floor_ppm = 1000001);
	REFUSED(h.caps_count = PF_CAPS_MAX + 1);
	REFUSED(h.host[0] = '\0');
	REFUSED(h.host[3] = ' ');
	REFUSED(h.name[9] = '\n');
	REFUSED(h.namespace_name[0] = 0x7f);
	REFUSED(h.caps[5][0] = '\0');
	REFUSED(h.caps[5][2] = '*');
	REFUSED(h.digest_alg = 2);
#undef REFUSED
	full_header(&h);
	assert_int_equal(pf_packet_header_encode(&h, buf, 64, &need), -EINVAL);
	assert_true(need > 64); /* how much it needs, even when refused for room */
}

/* Edit the encoded header at body offset `off` (width bytes, little-endian) and decode. */
static int edited(const struct pf_packet_header *h, size_t off, int width, uint64_t v,
		  struct pf_packet_fault *f)
{
	struct pf_packet_header got;
	int n = encode(h);

	assert_true(n > 0);
	for (int i = 0; i < width; i++)
		buf[REC + off + (size_t)i] = (uint8_t)(v >> (8 * i));
	memset(f, 0, sizeof(*f));
	return decode((size_t)n, &got, f);
}

static void test_decode_refuses_fields(void **state)
{
	struct pf_packet_header h;
	struct pf_packet_fault f;

	(void)state;
	full_header(&h);
	assert_int_equal(edited(&h, 4, 4, 2, &f), -EPROTO); /* flags */
	assert_string_equal(f.what, "unknown flag");
	assert_int_equal(f.offset, REC + 4);
	assert_int_equal(edited(&h, 24, 8, PF_PACKET_STATE_BYTES_MAX + 1, &f), -EPROTO);
	assert_int_equal(edited(&h, 24, 8, UINT64_MAX, &f), -EPROTO); /* no wrap in the count */
	assert_int_equal(edited(&h, 32, 4, 4096 * 3, &f), -EPROTO);
	assert_int_equal(edited(&h, 32, 4, 0, &f), -EPROTO);
	assert_int_equal(edited(&h, 36, 4, 7, &f), -EPROTO);
	assert_string_equal(f.what, "chunk count disagrees with state and chunk bytes");
	assert_int_equal(edited(&h, 40, 4, PF_PACKET_MESSAGES_MAX + 1, &f), -EPROTO);
	assert_int_equal(edited(&h, 44, 4, 2, &f), -EPROTONOSUPPORT);
	assert_int_equal(edited(&h, 48, 8, UINT64_MAX, &f), -EPROTO);
	assert_int_equal(edited(&h, 108, 4, (uint32_t)-5, &f), -EPROTO);
	assert_int_equal(edited(&h, 112, 4, 1000001, &f), -EPROTO);
	assert_int_equal(edited(&h, 116, 4, PF_CAPS_MAX + 1, &f), -EPROTO);
	assert_int_equal(edited(&h, 116, 4, PF_CAPS_MAX - 1, &f), -EPROTO); /* bytes left over */
	assert_string_equal(f.what, "header bytes after its names");
	assert_int_equal(edited(&h, 160, 2, PF_VNODE_NAME_MAX + 1, &f), -EOVERFLOW);
	assert_int_equal(edited(&h, 160, 2, 0xffff, &f), -EOVERFLOW);
	assert_int_equal(edited(&h, 162, 2, PF_PACKET_HOST_NAME_MAX + 1, &f), -EOVERFLOW);
	assert_int_equal(edited(&h, 164, 2, PF_DOMAIN_NAME_MAX + 1, &f), -EOVERFLOW);
	assert_int_equal(edited(&h, 166, 2, 1, &f), -EPROTO);
	/* Names shifted: the host name read from the VNode name's bytes, and so on, until a
	 * capability length of 'n' (110): past the limit. */
	assert_int_equal(edited(&h, 160, 2, 3, &f), -EOVERFLOW);
	assert_string_equal(f.what, "capability");
	assert_int_equal(edited(&h, PF_PACKET_HEADER_FIXED_BYTES, 1, 0, &f), -EPROTO); /* NUL */
	assert_string_equal(f.what, "vnode name");
	/* The first capability's length: zero, past the limit, past the body. */
	assert_int_equal(edited(&h, PF_PACKET_HEADER_FIXED_BYTES + 255 + 63 + 64, 1, 0, &f),
			 -EPROTO);
	assert_int_equal(f.index, 0);
	assert_int_equal(edited(&h, PF_PACKET_HEADER_FIXED_BYTES + 255 + 63 + 64, 1, 48, &f),
			 -EOVERFLOW);
}

static void test_record_heads(void **state)
{
	struct pf_packet_header h;
	struct pf_packet_rec rec;
	struct pf_packet_fault f;
	int n;

	(void)state;
	full_header(&h);
	n = encode(&h);
	/* Every truncation is refused, and never read past. */
	for (int len = 0; len < n; len++) {
		uint8_t *copy = malloc((size_t)len + 1);

		memcpy(copy, buf, (size_t)len);
		assert_int_equal(pf_packet_rec_next(copy, (size_t)len, &rec, &f), -EOVERFLOW);
		free(copy);
	}
	/* A body length near 2^64 does not wrap the bounds check. */
	for (uint64_t body = UINT64_MAX - 16; body != 0; body++) {
		encode(&h);
		for (int i = 0; i < 8; i++)
			buf[8 + i] = (uint8_t)(body >> (8 * i));
		assert_int_equal(pf_packet_rec_next(buf, (size_t)n, &rec, &f), -EOVERFLOW);
	}
	encode(&h);
	buf[0] = 6; /* unknown type */
	assert_int_equal(pf_packet_rec_next(buf, (size_t)n, &rec, &f), -EPROTO);
	encode(&h);
	buf[4] = 1; /* flags */
	assert_int_equal(pf_packet_rec_next(buf, (size_t)n, &rec, &f), -EPROTO);
	/* Padding must be zero: one byte less of name leaves the body one short of 8. */
	h.name[PF_VNODE_NAME_MAX - 1] = '\0';
	n = encode(&h);
	assert_int_equal(pf_packet_rec_next(buf, (size_t)n, &rec, NULL), 0);
	assert_true(rec.rec_bytes > REC + rec.body_bytes);
	buf[n - 1] = 1;
	assert_int_equal(pf_packet_rec_next(buf, (size_t)n, &rec, &f), -EPROTO);
	assert_string_equal(f.what, "record padding not zero");
}

static void test_chunks_and_messages(void **state)
{
	struct pf_packet_header h;
	struct pf_packet_chunk c;
	struct pf_packet_message m;
	struct pf_packet_rec rec;
	uint8_t digest[32] = {9}, rbuf[REC + 40 + (1u << 16) + 8];
	int n;

	(void)state;
	full_header(&h);
	assert_int_equal(pf_packet_chunk_len(&h, 0), 1u << 16);
	assert_int_equal(pf_packet_chunk_len(&h, 5), 17);
	assert_int_equal(pf_packet_chunk_len(&h, 6), 0);
	assert_int_equal(pf_packet_chunk_head_encode(&h, 6, digest, rbuf, sizeof(rbuf)), -EINVAL);
	/* The last chunk, 17 bytes, decodes; read as chunk 4 (full length) it does not. */
	n = pf_packet_chunk_head_encode(&h, 5, digest, rbuf, sizeof(rbuf));
	assert_int_equal(n, REC + 40);
	memset(rbuf + n, 0x33, 17);
	memset(rbuf + n + 17, 0, pf_packet_pad_bytes(40 + 17));
	assert_int_equal(pf_packet_rec_next(rbuf, sizeof(rbuf), &rec, NULL), 0);
	assert_int_equal(rec.rec_bytes, REC + 40 + 17 + 7);
	assert_int_equal(pf_packet_chunk_decode(&h, &rec, &c, NULL), 0);
	assert_int_equal(c.index, 5);
	assert_int_equal(c.len, 17);
	assert_int_equal(c.digest[0], 9);
	assert_int_equal(c.data[16], 0x33);
	rbuf[REC] = 4; /* index 4 with 17 bytes */
	assert_int_equal(pf_packet_chunk_decode(&h, &rec, &c, NULL), -EPROTO);
	rbuf[REC] = 6;
	assert_int_equal(pf_packet_chunk_decode(&h, &rec, &c, NULL), -EPROTO);
	/* A chunk record is not a message, and the other way round. */
	rbuf[REC] = 5;
	assert_int_equal(pf_packet_message_decode(&h, &rec, &m, NULL), -EPROTO);

	assert_int_equal(pf_packet_message_head_encode(0, PF_MSG_BYTES_MAX + 1, rbuf, sizeof(rbuf)),
			 -EINVAL);
	n = pf_packet_message_head_encode(2, 3, rbuf, sizeof(rbuf));
	memcpy(rbuf + n, "abc\0\0\0\0\0", 8);
	assert_int_equal(pf_packet_rec_next(rbuf, (size_t)n + 8, &rec, NULL), 0);
	assert_int_equal(pf_packet_message_decode(&h, &rec, &m, NULL), 0);
	assert_int_equal(m.index, 2);
	assert_memory_equal(m.data, "abc", 3);
	h.message_count = 2; /* index 2 is past it */
	assert_int_equal(pf_packet_message_decode(&h, &rec, &m, NULL), -EPROTO);
	assert_int_equal(pf_packet_chunk_decode(&h, &rec, &c, NULL), -EPROTO);
}

static void test_preamble_and_tail(void **state)
{
	struct pf_packet_header h;
	struct pf_packet_rec rec;
	struct pf_packet_fault f;
	const uint8_t *digests, *sig;
	uint8_t table[7 * 32], sigbytes[64] = {1};
	uint32_t alg;

	(void)state;
	assert_int_equal(pf_packet_preamble_encode(buf, 16), 16);
	assert_int_equal(pf_packet_preamble_decode(buf, 16, &f), 0);
	assert_int_equal(pf_packet_preamble_decode(buf, 15, &f), -EOVERFLOW);
	buf[8] = 2;
	assert_int_equal(pf_packet_preamble_decode(buf, 16, &f), -EPROTONOSUPPORT);
	pf_packet_preamble_encode(buf, 16);
	buf[9] = 1; /* major 257 */
	assert_int_equal(pf_packet_preamble_decode(buf, 16, &f), -EPROTONOSUPPORT);
	pf_packet_preamble_encode(buf, 16);
	buf[10] = 9; /* a newer minor is fine */
	assert_int_equal(pf_packet_preamble_decode(buf, 16, &f), 0);
	buf[15] = 1;
	assert_int_equal(pf_packet_preamble_decode(buf, 16, &f), -EPROTO);
	pf_packet_preamble_encode(buf, 16);
	buf[5] = '\n'; /* "\r\n" turned into "\n": text-mode mangling */
	assert_int_equal(pf_packet_preamble_decode(buf, 16, &f), -EPROTO);
	assert_string_equal(f.what, "magic");

	full_header(&h);
	for (int i = 0; i < 7 * 32; i++)
		table[i] = (uint8_t)i;
	assert_int_equal(pf_packet_digests_rec_bytes(&h), REC + 8 + 7 * 32);
	assert_int_equal(pf_packet_digests_encode(&h, table, table + 6 * 32, buf, sizeof(buf)), 0);
	assert_int_equal(pf_packet_rec_next(buf, sizeof(buf), &rec, NULL), 0);
	assert_int_equal(pf_packet_digests_decode(&h, &rec, &digests, NULL), 0);
	assert_memory_equal(digests, table, sizeof(table));
	h.chunk_count = 5;
	h.state_bytes = 5u << 16;
	assert_int_equal(pf_packet_digests_decode(&h, &rec, &digests, &f), -EPROTO);

	assert_int_equal(pf_packet_signature_encode(2, sigbytes, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(pf_packet_signature_encode(1, sigbytes, buf, sizeof(buf)), 0);
	assert_int_equal(pf_packet_rec_next(buf, PF_PACKET_SIGNATURE_REC_BYTES, &rec, NULL), 0);
	assert_int_equal(pf_packet_signature_decode(&rec, &alg, &sig, NULL), 0);
	assert_int_equal(sig[0], 1);
	buf[REC] = 2;
	assert_int_equal(pf_packet_signature_decode(&rec, &alg, &sig, NULL), -EPROTONOSUPPORT);
	buf[REC] = 1;
	buf[REC + 4] = 1;
	assert_int_equal(pf_packet_signature_decode(&rec, &alg, &sig, NULL), -EPROTO);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_round_trip),
		cmocka_unit_test(test_encode_refuses),
		cmocka_unit_test(test_decode_refuses_fields),
		cmocka_unit_test(test_record_heads),
		cmocka_unit_test(test_chunks_and_messages),
		cmocka_unit_test(test_preamble_and_tail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

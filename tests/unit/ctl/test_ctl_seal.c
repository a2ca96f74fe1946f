/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/ctl/test_ctl_seal.c
 * Goal: a Flight Packet written by pf_seal_write() parses and verifies, and gives back its
 * state and messages byte for byte; and no change to a packet file gets through: one bit
 * flipped at any byte, any truncation, any chunk corrupted (the refusal names that chunk),
 * a message changed, two chunks swapped, a record dropped, a packet signed by a host not
 * trusted (-ENOKEY), a header edited and signed again by another key (-ENOKEY), a
 * signature copied from another packet (-EKEYREJECTED).
 * Method: keys from pf_audit_keygen(); packets written to a memfd and read back; edits on
 * the bytes; pf_packet_parse() then pf_seal_verify() must refuse every edited copy.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>
#include <cmocka.h>

#include "pflight/audit.h"
#include "pflight/seal.h"

static unsigned char pk[32], sk[64], pk2[32], sk2[64];

struct blob {
	uint8_t *bytes;
	size_t len;
};

/* A packet of state_len bytes (chunks of 4 KiB) and n messages, into memory. */
static struct blob make(uint64_t state_len, uint32_t n, const unsigned char *key, uint32_t flags)
{
	struct pf_packet_header h;
	struct iovec msgs[8];
	static char text[8][64];
	uint8_t *state = malloc(state_len + 1);
	struct blob b;
	int fd = memfd_create("packet", 0);
	int64_t w;

	assert_true(fd >= 0 && n <= 8);
	for (uint64_t i = 0; i < state_len; i++)
		state[i] = (uint8_t)(i * 7 + i / 4096);
	for (uint32_t i = 0; i < n; i++) {
		snprintf(text[i], sizeof(text[i]), "message %u%.*s", i, (int)i * 5,
			 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
		msgs[i] = (struct iovec){text[i], strlen(text[i])};
	}
	pf_packet_header_init(&h);
	h.vnode_id = 42;
	h.flags = flags;
	h.epoch = 9;
	h.checkpoint_seq = 5;
	h.chunk_bytes = 4096;
	h.home_node = 0;
	h.trust_floor_ppm = 500000;
	h.caps_count = 2;
	snprintf(h.caps[0], sizeof(h.caps[0]), "%s", "gpu");
	snprintf(h.caps[1], sizeof(h.caps[1]), "%s", "ssd");
	snprintf(h.name, sizeof(h.name), "%s", "orders/eu-1");
	snprintf(h.host, sizeof(h.host), "%s", "host-a");
	snprintf(h.namespace_name, sizeof(h.namespace_name), "%s", "prod");
	w = pf_seal_write(fd, &h, state, state_len, msgs, n, key);
	assert_true(w > 0);
	b.len = (size_t)lseek(fd, 0, SEEK_END);
	assert_int_equal((uint64_t)w, b.len);
	b.bytes = malloc(b.len);
	assert_int_equal(pread(fd, b.bytes, b.len, 0), (ssize_t)b.len);
	close(fd);
	free(state);
	return b;
}

static int check(const uint8_t *bytes, size_t len, struct pf_packet_fault *f)
{
	const uint8_t trusted[1][32] = {{0}};
	struct pf_packet_view v;
	int r;

	memcpy((void *)trusted[0], pk, 32);
	r = pf_packet_parse(bytes, len, &v, f);
	return r < 0 ? r : pf_seal_verify(&v, trusted, 1, f);
}

static void test_round_trip(void **state)
{
	struct blob b = make(3 * 4096 + 100, 3, sk, 0);
	struct pf_packet_view v;
	struct pf_packet_chunk c;
	struct pf_packet_message m;
	uint64_t cursor = 0;
	uint32_t n = 0;

	(void)state;
	assert_int_equal(check(b.bytes, b.len, NULL), 0);
	assert_int_equal(pf_packet_parse(b.bytes, b.len, &v, NULL), 0);
	assert_int_equal(v.header.vnode_id, 42);
	assert_int_equal(v.header.chunk_count, 4);
	assert_int_equal(v.header.state_bytes, 3 * 4096 + 100);
	assert_memory_equal(v.header.host_key, pk, 32);
	assert_string_equal(v.header.caps[1], "ssd");
	for (uint32_t i = 0; i < 4; i++) {
		assert_int_equal(pf_packet_view_chunk(&v, i, &c), 0);
		assert_int_equal(c.len, i < 3 ? 4096 : 100);
		for (uint32_t k = 0; k < c.len; k++) {
			uint64_t at = (uint64_t)i * 4096 + k;

			if (c.data[k] != (uint8_t)(at * 7 + at / 4096))
				fail_msg("chunk %u byte %u", i, k);
		}
	}
	while (pf_packet_view_message(&v, &cursor, &m) == 1) {
		char want[64];

		snprintf(want, sizeof(want), "message %u%.*s", n, (int)n * 5, "xxxxxxxxxxxxxxx");
		assert_int_equal(m.index, n);
		assert_int_equal(m.len, strlen(want));
		assert_memory_equal(m.data, want, m.len);
		n++;
	}
	assert_int_equal(n, 3);
	free(b.bytes);

	/* Nothing carried: no state, no message. */
	b = make(0, 0, sk, PF_PACKET_F_SNAPSHOT);
	assert_int_equal(check(b.bytes, b.len, NULL), 0);
	free(b.bytes);
}

/* Flip one bit of every byte (a different bit each time): every copy is refused. */
static void test_every_byte(void **state)
{
	struct blob b = make(2 * 4096 + 9, 2, sk, 0);
	struct pf_packet_fault f;

	(void)state;
	for (size_t i = 0; i < b.len; i++) {
		uint8_t keep = b.bytes[i];
		int r;

		b.bytes[i] ^= (uint8_t)(1u << (i % 8));
		r = check(b.bytes, b.len, &f);
		if (r == 0)
			fail_msg("byte %zu flipped: accepted", i);
		assert_non_null(f.what);
		b.bytes[i] = keep;
	}
	for (size_t len = 0; len < b.len; len++)
		if (check(b.bytes, len, &f) == 0)
			fail_msg("truncated to %zu: accepted", len);
	assert_int_equal(check(b.bytes, b.len, NULL), 0);
	free(b.bytes);
}

static void test_chunk_corruption(void **state)
{
	struct blob b = make(5 * 4096, 1, sk, 0);
	struct pf_packet_view v;
	struct pf_packet_fault f;

	(void)state;
	assert_int_equal(pf_packet_parse(b.bytes, b.len, &v, NULL), 0);
	for (uint32_t i = 0; i < 5; i++) {
		size_t at = v.chunks_offset + (size_t)i * v.chunk_stride + 16 + 40 + 1000;

		b.bytes[at] ^= 0x10;
		assert_int_equal(check(b.bytes, b.len, &f), -EBADMSG);
		assert_int_equal(f.index, i);
		assert_string_equal(f.what, "chunk bytes do not match its digest");
		b.bytes[at] ^= 0x10;
	}
	/* A chunk and its record's digest both rewritten: the signed table still refuses. */
	{
		size_t rec = v.chunks_offset + 2 * v.chunk_stride;

		memset(b.bytes + rec + 16 + 40, 0xee, 4096);
		assert_int_equal(
			pf_seal_digest(b.bytes + rec + 16 + 40, 4096, b.bytes + rec + 16 + 8), 0);
		assert_int_equal(check(b.bytes, b.len, &f), -EBADMSG);
		assert_int_equal(f.index, 2);
		assert_string_equal(f.what, "chunk digest differs from the digest table");
	}
	free(b.bytes);

	/* Two whole chunk records swapped: out of order. */
	b = make(3 * 4096, 0, sk, 0);
	assert_int_equal(pf_packet_parse(b.bytes, b.len, &v, NULL), 0);
	{
		uint8_t *tmp = malloc(v.chunk_stride), *c0 = b.bytes + v.chunks_offset;

		memcpy(tmp, c0, v.chunk_stride);
		memcpy(c0, c0 + v.chunk_stride, v.chunk_stride);
		memcpy(c0 + v.chunk_stride, tmp, v.chunk_stride);
		assert_int_equal(check(b.bytes, b.len, &f), -EPROTO);
		assert_string_equal(f.what, "chunk out of order");
		assert_int_equal(f.record, 2);
		/* ... and one dropped. */
		memcpy(c0, tmp, v.chunk_stride);
		memmove(c0, c0 + v.chunk_stride, b.len - v.chunks_offset - v.chunk_stride);
		assert_int_not_equal(check(b.bytes, b.len - v.chunk_stride, &f), 0);
		free(tmp);
	}
	free(b.bytes);
}

static void test_signers(void **state)
{
	struct blob a = make(4096, 1, sk, 0), b = make(4096, 1, sk2, 0);
	struct pf_packet_view v;
	struct pf_packet_fault f;
	const uint8_t both[2][32] = {{0}, {0}};

	(void)state;
	/* Signed by a host not trusted. */
	assert_int_equal(check(b.bytes, b.len, &f), -ENOKEY);
	assert_string_equal(f.what, "signed by a host key not trusted");
	memcpy((void *)both[0], pk2, 32);
	memcpy((void *)both[1], pk, 32);
	assert_int_equal(pf_packet_parse(b.bytes, b.len, &v, NULL), 0);
	assert_int_equal(pf_seal_verify(&v, both, 2, NULL), 0);
	assert_int_equal(pf_seal_verify(&v, NULL, 0, NULL), 0); /* anyone: who signed is shown */
	/* a's signature on b's bytes (same layout): the key b names does not verify it. */
	assert_int_equal(a.len, b.len);
	memcpy(b.bytes + b.len - 64, a.bytes + a.len - 64, 64);
	assert_int_equal(pf_packet_parse(b.bytes, b.len, &v, NULL), 0);
	assert_int_equal(pf_seal_verify(&v, both, 2, &f), -EKEYREJECTED);
	/* a's header claiming key 2 (edited host_key) with a's signature: refused. */
	memcpy(a.bytes + 16 + 16 + 64, pk2, 32);
	assert_int_equal(pf_packet_parse(a.bytes, a.len, &v, NULL), 0);
	assert_int_equal(pf_seal_verify(&v, both, 2, &f), -EKEYREJECTED);
	/* pf_seal_sign refuses a header that names another key than the signer's. */
	{
		uint8_t sig[64];

		assert_int_equal(pf_seal_sign(sk, v.base, v.header_rec, v.header_rec_bytes,
					      v.digests_rec, v.digests_rec_bytes, sig),
				 -EINVAL);
		assert_int_equal(pf_seal_sign(sk2, v.base, v.header_rec, v.header_rec_bytes,
					      v.digests_rec, v.digests_rec_bytes, sig),
				 0);
	}
	free(a.bytes);
	free(b.bytes);
}

static void test_write_refuses(void **state)
{
	struct pf_packet_header h;
	struct iovec big = {NULL, PF_MSG_BYTES_MAX + 1};
	int fd = memfd_create("packet", 0);

	(void)state;
	pf_packet_header_init(&h);
	snprintf(h.host, sizeof(h.host), "%s", "a");
	assert_int_equal(pf_seal_write(fd, &h, NULL, 1, NULL, 0, sk), -EINVAL);
	big.iov_base = calloc(1, big.iov_len);
	assert_int_equal(pf_seal_write(fd, &h, NULL, 0, &big, 1, sk), -EINVAL);
	free(big.iov_base);
	h.host[0] = '\0';
	assert_int_equal(pf_seal_write(fd, &h, NULL, 0, NULL, 0, sk), -EINVAL);
	assert_int_equal(lseek(fd, 0, SEEK_END), 0); /* nothing written */
	snprintf(h.host, sizeof(h.host), "%s", "a");
	assert_int_equal(pf_seal_write(-1, &h, NULL, 0, NULL, 0, sk), -EINVAL);
	close(fd);
	fd = open("/dev/full", O_WRONLY);
	if (fd >= 0) {
		assert_int_equal(pf_seal_write(fd, &h, NULL, 0, NULL, 0, sk), -ENOSPC);
		close(fd);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),       cmocka_unit_test(test_every_byte),
		cmocka_unit_test(test_chunk_corruption), cmocka_unit_test(test_signers),
		cmocka_unit_test(test_write_refuses),
	};

	if (pf_audit_keygen(pk, sk) != 0 || pf_audit_keygen(pk2, sk2) != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

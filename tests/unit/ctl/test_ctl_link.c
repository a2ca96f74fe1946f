/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/ctl/test_ctl_link.c
 * Goal: the host link (ctl/link.c) lets two listed hosts talk and nobody else in: the
 * handshake completes between hosts that list each other and names the peer; it refuses
 * a host not listed, a listed key under another name, a host other than the one expected,
 * a hello whose signed parts were changed (a man in the middle swapping the ephemeral
 * key), a recorded handshake replayed to a new server, and anything out of turn. After
 * it, every frame opens exactly once, in order: a bit flipped anywhere in the head, the
 * covered body or the tag is refused, as is a frame replayed, reordered, or taken from
 * another connection between the same hosts; the body past `covered` is, as documented,
 * the caller's to check. A refusal kills the link.
 * Method: both ends in one thread, frames passed by hand; keys from pf_audit_keygen().
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

#include "pflight/audit.h"
#include "pflight/link.h"

static unsigned char pk[3][32], sk[3][64]; /* a, b, and a stranger */
static struct pf_link_peer peer_of[3];

static struct pf_link *make(uint32_t role, int me, const int *peers, uint32_t n, int32_t expect)
{
	struct pf_link_peer list[4];
	struct pf_link *l = NULL;

	for (uint32_t i = 0; i < n; i++)
		list[i] = peer_of[peers[i]];
	assert_int_equal(pf_link_create(role, peer_of[me].name, sk[me], list, n, expect, &l), 0);
	return l;
}

/* Move handshake frames between c and s until neither has one due; the results of the
 * last input on each side. */
static void pump(struct pf_link *c, struct pf_link *s, int *rc, int *rs)
{
	uint8_t buf[PF_LINK_HANDSHAKE_BYTES_MAX];
	struct pf_link_frame f;
	int n, moved = 1;

	*rc = *rs = 0;
	while (moved) {
		moved = 0;
		n = pf_link_handshake_out(c, buf, sizeof(buf));
		if (n > 0) {
			*rs = pf_link_input(s, buf, (size_t)n, &f, NULL);
			moved = 1;
		}
		n = pf_link_handshake_out(s, buf, sizeof(buf));
		if (n > 0) {
			*rc = pf_link_input(c, buf, (size_t)n, &f, NULL);
			moved = 1;
		}
	}
}

/* A whole frame of type with body into out: its length. */
static size_t seal(struct pf_link *l, uint32_t type, const void *body, size_t len, uint32_t covered,
		   uint8_t *out)
{
	struct iovec iov = {(void *)(uintptr_t)body, len};

	assert_int_equal(pf_link_seal(l, type, &iov, 1, covered, out, out + 16 + len), 0);
	memcpy(out + 16, body, len);
	return 16 + len + 16;
}

static void test_handshake_and_frames(void **state)
{
	const int to_b[] = {1}, to_a[] = {0, 2};
	struct pf_link *c = make(PF_LINK_CLIENT, 0, to_b, 1, 0);
	struct pf_link *s = make(PF_LINK_SERVER, 1, to_a, 2, -1);
	uint8_t frame[256];
	struct pf_link_frame f;
	int rc, rs;
	size_t n;

	(void)state;
	assert_int_equal(pf_link_peer_index(c), -ENOTCONN);
	pump(c, s, &rc, &rs);
	assert_int_equal(rc, PF_LINK_IN_READY);
	assert_int_equal(rs, PF_LINK_IN_READY);
	assert_int_equal(pf_link_peer_index(c), 0);
	assert_int_equal(pf_link_peer_index(s), 0);
	for (uint32_t i = 0; i < 100; i++) {
		char body[64];
		size_t len = (size_t)snprintf(body, sizeof(body), "frame %u", i);
		struct pf_link *from = i % 2 ? c : s, *to = i % 2 ? s : c;

		n = seal(from, 7 + i, body, len, (uint32_t)len, frame);
		assert_int_equal(pf_link_input(to, frame, n, &f, NULL), PF_LINK_IN_FRAME);
		assert_int_equal(f.type, 7 + i);
		assert_int_equal(f.body_bytes, len);
		assert_memory_equal(f.body, body, len);
		assert_int_equal(f.seq, i / 2);
	}
	pf_link_destroy(c);
	pf_link_destroy(s);
}

/* A ready pair a (client) -> b (server). */
static void ready_pair(struct pf_link **c, struct pf_link **s)
{
	const int to_b[] = {1}, to_a[] = {0};
	int rc, rs;

	*c = make(PF_LINK_CLIENT, 0, to_b, 1, -1);
	*s = make(PF_LINK_SERVER, 1, to_a, 1, -1);
	pump(*c, *s, &rc, &rs);
	assert_int_equal(rc, PF_LINK_IN_READY);
	assert_int_equal(rs, PF_LINK_IN_READY);
}

static void test_every_bit_refused(void **state)
{
	uint8_t frame[256], copy[256];
	struct pf_link_frame f;
	const char *why = NULL;
	size_t n;

	(void)state;
	for (size_t byte = 0; byte < 16 + 40 + 16; byte++) {
		for (int bit = 0; bit < 8; bit += 3) {
			struct pf_link *c, *s;

			ready_pair(&c, &s);
			/* 40 bytes of body, the first 24 covered. */
			n = seal(c, 3, "0123456789abcdefghijklmnopqrstuvwxyzABCD", 40, 24, frame);
			memcpy(copy, frame, n);
			copy[byte] ^= (uint8_t)(1u << bit);
			if (byte >= 16 + 24 && byte < 16 + 40) {
				/* Past `covered`: not the tag's to catch (the caller's digest is).
				 */
				assert_int_equal(pf_link_input(s, copy, n, &f, NULL),
						 PF_LINK_IN_FRAME);
			} else {
				int r = pf_link_input(s, copy, n, &f, &why);

				if (r != -EBADMSG && r != -EPROTO)
					fail_msg("byte %zu bit %d: %d", byte, bit, r);
				assert_non_null(why);
				/* Dead now: even the genuine frame is refused. */
				assert_int_equal(pf_link_input(s, frame, n, &f, NULL), -EPIPE);
			}
			pf_link_destroy(c);
			pf_link_destroy(s);
		}
	}
}

static void test_replay_reorder_splice(void **state)
{
	struct pf_link *c, *s, *c2, *s2;
	uint8_t f0[128], f1[128], g0[128];
	struct pf_link_frame f;
	size_t n0, n1, m0;

	(void)state;
	ready_pair(&c, &s);
	n0 = seal(c, 1, "first", 5, 5, f0);
	n1 = seal(c, 1, "second", 6, 6, f1);
	assert_int_equal(pf_link_input(s, f0, n0, &f, NULL), PF_LINK_IN_FRAME);
	assert_int_equal(pf_link_input(s, f0, n0, &f, NULL), -EBADMSG); /* replayed */
	pf_link_destroy(c);
	pf_link_destroy(s);

	ready_pair(&c, &s);
	n0 = seal(c, 1, "first", 5, 5, f0);
	n1 = seal(c, 1, "second", 6, 6, f1);
	assert_int_equal(pf_link_input(s, f1, n1, &f, NULL), -EBADMSG); /* reordered */
	pf_link_destroy(c);
	pf_link_destroy(s);

	/* Two connections between the same hosts: a frame of one is refused by the other,
	 * even at the same sequence number. */
	ready_pair(&c, &s);
	ready_pair(&c2, &s2);
	n0 = seal(c, 1, "first", 5, 5, f0);
	m0 = seal(c2, 1, "first", 5, 5, g0);
	assert_int_equal(pf_link_input(s2, f0, n0, &f, NULL), -EBADMSG);
	assert_int_equal(pf_link_input(s, f0, n0, &f, NULL), PF_LINK_IN_FRAME);
	(void)m0;
	pf_link_destroy(c);
	pf_link_destroy(s);
	pf_link_destroy(c2);
	pf_link_destroy(s2);
}

static void test_who_is_refused(void **state)
{
	const int to_b[] = {1}, to_a[] = {0}, to_stranger[] = {2}, to_both[] = {0, 2};
	struct pf_link *c, *s;
	int rc, rs;

	(void)state;
	/* The server does not list the client. */
	c = make(PF_LINK_CLIENT, 0, to_b, 1, -1);
	s = make(PF_LINK_SERVER, 1, to_stranger, 1, -1);
	pump(c, s, &rc, &rs);
	assert_int_equal(rs, -ENOKEY);
	pf_link_destroy(c);
	pf_link_destroy(s);
	/* The client does not list the server. */
	c = make(PF_LINK_CLIENT, 0, to_stranger, 1, -1);
	s = make(PF_LINK_SERVER, 1, to_a, 1, -1);
	pump(c, s, &rc, &rs);
	assert_int_equal(rc, -ENOKEY);
	pf_link_destroy(c);
	pf_link_destroy(s);
	/* The client expects the stranger (index 1 of its list), reaches b's listed key. */
	{
		const int list[] = {1, 2};

		c = make(PF_LINK_CLIENT, 0, list, 2, 1);
		s = make(PF_LINK_SERVER, 1, to_both, 2, -1);
		pump(c, s, &rc, &rs);
		assert_int_equal(rc, -ENOKEY);
		pf_link_destroy(c);
		pf_link_destroy(s);
	}
	/* A listed key under another name. */
	{
		struct pf_link_peer renamed = peer_of[0];
		struct pf_link *l = NULL;

		(void)snprintf(renamed.name, sizeof(renamed.name), "not-a");
		c = make(PF_LINK_CLIENT, 0, to_b, 1, -1);
		assert_int_equal(
			pf_link_create(PF_LINK_SERVER, peer_of[1].name, sk[1], &renamed, 1, -1, &l),
			0);
		pump(c, l, &rc, &rs);
		assert_int_equal(rs, -ENOKEY);
		pf_link_destroy(c);
		pf_link_destroy(l);
	}
}

/* A man in the middle: the server's hello with its ephemeral key swapped for the
 * attacker's; and a recorded handshake replayed to a fresh server. */
static void test_forgeries(void **state)
{
	const int to_b[] = {1}, to_a[] = {0};
	uint8_t hc[PF_LINK_HANDSHAKE_BYTES_MAX], hs[PF_LINK_HANDSHAKE_BYTES_MAX],
		auth[PF_LINK_HANDSHAKE_BYTES_MAX];
	struct pf_link *c = make(PF_LINK_CLIENT, 0, to_b, 1, -1);
	struct pf_link *s = make(PF_LINK_SERVER, 1, to_a, 1, -1);
	struct pf_link_frame f;
	int nc, ns, na;

	(void)state;
	nc = pf_link_handshake_out(c, hc, sizeof(hc));
	assert_int_equal(pf_link_input(s, hc, (size_t)nc, &f, NULL), PF_LINK_IN_HANDSHAKE);
	ns = pf_link_handshake_out(s, hs, sizeof(hs));
	hs[80] ^= 0x40; /* the ephemeral key */
	assert_int_equal(pf_link_input(c, hs, (size_t)ns, &f, NULL), -EKEYREJECTED);
	pf_link_destroy(c);
	pf_link_destroy(s);

	/* Record a whole handshake, then replay the client's side to a new server. */
	c = make(PF_LINK_CLIENT, 0, to_b, 1, -1);
	s = make(PF_LINK_SERVER, 1, to_a, 1, -1);
	nc = pf_link_handshake_out(c, hc, sizeof(hc));
	assert_int_equal(pf_link_input(s, hc, (size_t)nc, &f, NULL), PF_LINK_IN_HANDSHAKE);
	ns = pf_link_handshake_out(s, hs, sizeof(hs));
	assert_int_equal(pf_link_input(c, hs, (size_t)ns, &f, NULL), PF_LINK_IN_READY);
	na = pf_link_handshake_out(c, auth, sizeof(auth));
	pf_link_destroy(s);
	s = make(PF_LINK_SERVER, 1, to_a, 1, -1);
	assert_int_equal(pf_link_input(s, hc, (size_t)nc, &f, NULL), PF_LINK_IN_HANDSHAKE);
	assert_int_equal(pf_link_input(s, auth, (size_t)na, &f, NULL), -EKEYREJECTED);
	pf_link_destroy(s);
	pf_link_destroy(c);
}

static void test_out_of_turn(void **state)
{
	const int to_b[] = {1}, to_a[] = {0};
	struct pf_link *c = make(PF_LINK_CLIENT, 0, to_b, 1, -1);
	struct pf_link *s = make(PF_LINK_SERVER, 1, to_a, 1, -1);
	uint8_t buf[PF_LINK_HANDSHAKE_BYTES_MAX], head[16], tag[16];
	struct pf_link_frame f;
	int n;

	(void)state;
	assert_int_equal(pf_link_seal(c, 1, NULL, 0, 0, head, tag), -ENOTCONN);
	/* The client has not sent its hello yet: nothing may come in. */
	assert_int_equal(pf_link_input(c, "junk", 4, &f, NULL), -EPROTO);
	assert_int_equal(pf_link_handshake_out(c, buf, sizeof(buf)), -EPIPE);
	/* A server fed garbage, then an empty frame. */
	assert_int_equal(pf_link_input(s, "PFLINK1", 8, &f, NULL), -EPROTO);
	pf_link_destroy(s);
	s = make(PF_LINK_SERVER, 1, to_a, 1, -1);
	assert_int_equal(pf_link_input(s, NULL, 0, &f, NULL), -EPROTO);
	pf_link_destroy(s);
	pf_link_destroy(c);
	/* A second hello where AUTH is due. */
	c = make(PF_LINK_CLIENT, 0, to_b, 1, -1);
	s = make(PF_LINK_SERVER, 1, to_a, 1, -1);
	n = pf_link_handshake_out(c, buf, sizeof(buf));
	assert_int_equal(pf_link_input(s, buf, (size_t)n, &f, NULL), PF_LINK_IN_HANDSHAKE);
	assert_int_equal(pf_link_input(s, buf, (size_t)n, &f, NULL), -EPROTO);
	pf_link_destroy(c);
	pf_link_destroy(s);
	assert_int_equal(pf_link_create(3, "a", sk[0], NULL, 0, -1, &c), -EINVAL);
	assert_int_equal(pf_link_create(PF_LINK_CLIENT, "bad name", sk[0], NULL, 0, -1, &c),
			 -EINVAL);
	assert_int_equal(pf_link_create(PF_LINK_CLIENT, "a", sk[0], NULL, 0, 0, &c), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake_and_frames),
		cmocka_unit_test(test_every_bit_refused),
		cmocka_unit_test(test_replay_reorder_splice),
		cmocka_unit_test(test_who_is_refused),
		cmocka_unit_test(test_forgeries),
		cmocka_unit_test(test_out_of_turn),
	};

	for (int i = 0; i < 3; i++) {
		if (pf_audit_keygen(pk[i], sk[i]) != 0)
			return 1;
		(void)snprintf(peer_of[i].name, sizeof(peer_of[i].name), "host-%c", 'a' + i);
		memcpy(peer_of[i].key, pk[i], 32);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}

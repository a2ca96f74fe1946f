/* SPDX-License-Identifier: MIT */
/*
 * ctl/link.c: the authenticated link between two hosts (pflight/link.h).
 *
 * Frames (little-endian):
 *   HELLO   0 magic "PFLINK1\0" | 8 u16 version (1) | 10 u16 name length | 12 u32 zero |
 *           16 host key[32] | 48 nonce[32] | 80 ephemeral X25519 key[32] | 112 name
 *           and, the server's only, its Ed25519 signature[64] after the name
 *   AUTH    0 magic "PFAUTH1\0" | 8 signature[64]
 *   after   0 u32 type | 4 u32 covered | 8 u64 seq | 16 body | tag[16]
 *
 * Signatures: the server signs "PhoenixFlight link v1 server\n", the client's hello and
 * its own hello without the signature; the client signs "PhoenixFlight link v1 client\n"
 * and both hellos whole. Each hello holds a fresh nonce and a fresh ephemeral key, so a
 * signature proves possession of the host key to this connection and to no other: a
 * recorded handshake replayed elsewhere meets other nonces.
 *
 * Keys: crypto_kx over the ephemeral keys gives one key per direction; each is then
 * hashed (keyed BLAKE2b) with the hash of both hellos, so the session keys belong to this
 * transcript. The tag of a frame is keyed BLAKE2b-128 over its head, its body length and
 * the covered bytes of its body; the head carries the sequence number, so a frame from
 * another place in the stream, or from another connection, fails its tag.
 *
 * Why no encryption: what crosses is a VNode's state and messages between two hosts of
 * one operator; integrity and authenticity are what the runtime's invariants need
 * (nothing forged is installed, nothing replayed is applied). Confidentiality on a
 * shared network is the job of the network (a VPN, IPsec, WireGuard), which can do it at
 * line rate in the kernel.
 */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "pflight/audit.h"
#include "pflight/link.h"
#include "shm/le.h"
#include "shm/pf_assert.h"

#define HELLO_MAGIC "PFLINK1"
#define AUTH_MAGIC "PFAUTH1"
#define MAGIC_BYTES 8u
#define VERSION 1u
#define HELLO_FIXED 112u
#define SIG_BYTES 64u
#define KEY_BYTES 32u
#define CTX_SERVER "PhoenixFlight link v1 server\n"
#define CTX_CLIENT "PhoenixFlight link v1 client\n"
#define HELLO_MAX (HELLO_FIXED + PF_PACKET_HOST_NAME_MAX + SIG_BYTES)

_Static_assert(HELLO_MAX <= PF_LINK_HANDSHAKE_BYTES_MAX, "a hello fits a handshake frame");
_Static_assert(sizeof(HELLO_MAGIC) == MAGIC_BYTES && sizeof(AUTH_MAGIC) == MAGIC_BYTES,
	       "magics are 7 characters and a NUL");

enum link_state {
	ST_CLIENT_HELLO = 1, /* client: its hello is due, or sent and the server's awaited */
	ST_SERVER_HELLO,     /* server: waiting for the client's hello */
	ST_SERVER_AUTH,      /* server: its hello is due or sent; waiting for AUTH */
	ST_READY,
	ST_DEAD,
};

struct pf_link {
	uint32_t role;
	uint32_t state;
	int32_t expect;
	int32_t peer; /* once ready */
	unsigned char sk[PF_AUDIT_SECRET_KEY_BYTES];
	char name[PF_PACKET_HOST_NAME_MAX + 1];
	struct pf_link_peer peers[PF_LINK_PEERS_MAX];
	uint32_t peers_count;
	unsigned char eph_pk[KEY_BYTES], eph_sk[KEY_BYTES];
	uint8_t mine[HELLO_MAX], theirs[HELLO_MAX]; /* the two hellos, as sent */
	size_t mine_len, theirs_len;
	uint8_t out[PF_LINK_HANDSHAKE_BYTES_MAX];
	size_t out_len; /* a handshake frame due, 0: none */
	uint8_t key_tx[KEY_BYTES], key_rx[KEY_BYTES];
	uint64_t seq_tx, seq_rx;
};

static int name_ok(const char *s, size_t len)
{
	if (len == 0 || len > PF_PACKET_HOST_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* Our hello into l->mine (and l->out, to send); the server's is signed. */
static void hello_build(struct pf_link *l)
{
	size_t n = strlen(l->name);
	uint8_t *h = l->mine;

	memcpy(h, HELLO_MAGIC, MAGIC_BYTES);
	put16le(h + 8, VERSION);
	put16le(h + 10, (uint16_t)n);
	put32le(h + 12, 0);
	memcpy(h + 16, l->sk + 32, KEY_BYTES); /* libsodium's secret key: seed, public key */
	randombytes_buf(h + 48, 32);
	memcpy(h + 80, l->eph_pk, KEY_BYTES);
	memcpy(h + HELLO_FIXED, l->name, n);
	l->mine_len = HELLO_FIXED + n;
	if (l->role == PF_LINK_SERVER) {
		crypto_sign_state st;

		(void)crypto_sign_init(&st);
		(void)crypto_sign_update(&st, (const unsigned char *)CTX_SERVER,
					 strlen(CTX_SERVER));
		(void)crypto_sign_update(&st, l->theirs, l->theirs_len);
		(void)crypto_sign_update(&st, l->mine, l->mine_len);
		(void)crypto_sign_final_create(&st, h + l->mine_len, NULL, l->sk);
		l->mine_len += SIG_BYTES;
	}
	memcpy(l->out, l->mine, l->mine_len);
	l->out_len = l->mine_len;
}

PF_API int pf_link_create(uint32_t role, const char *my_name, const unsigned char *sk,
			  const struct pf_link_peer *peers, uint32_t peers_count, int32_t expect,
			  struct pf_link **ret_link)
{
	struct pf_link *l;

	if ((role != PF_LINK_CLIENT && role != PF_LINK_SERVER) || my_name == NULL || sk == NULL ||
	    (peers == NULL && peers_count > 0) || peers_count > PF_LINK_PEERS_MAX || expect < -1 ||
	    (expect >= 0 && (uint32_t)expect >= peers_count) || ret_link == NULL ||
	    !name_ok(my_name, strnlen(my_name, PF_PACKET_HOST_NAME_MAX + 1)))
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return -ENOMEM;
	l->role = role;
	l->state = role == PF_LINK_CLIENT ? ST_CLIENT_HELLO : ST_SERVER_HELLO;
	l->expect = expect;
	l->peer = -1;
	memcpy(l->sk, sk, sizeof(l->sk));
	memcpy(l->name, my_name, strlen(my_name) + 1);
	if (peers_count > 0)
		memcpy(l->peers, peers, (size_t)peers_count * sizeof(*peers));
	l->peers_count = peers_count;
	(void)crypto_kx_keypair(l->eph_pk, l->eph_sk);
	if (role == PF_LINK_CLIENT)
		hello_build(l);
	*ret_link = l;
	return 0;
}

PF_API void pf_link_destroy(struct pf_link *l)
{
	if (l == NULL)
		return;
	sodium_memzero(l, sizeof(*l));
	free(l);
}

PF_API int pf_link_handshake_out(struct pf_link *l, void *buf, size_t cap)
{
	size_t n;

	if (l == NULL || buf == NULL || cap < PF_LINK_HANDSHAKE_BYTES_MAX)
		return -EINVAL;
	if (l->state == ST_DEAD)
		return -EPIPE;
	n = l->out_len;
	if (n > 0)
		memcpy(buf, l->out, n);
	l->out_len = 0;
	return (int)n;
}

PF_API int pf_link_peer_index(const struct pf_link *l)
{
	if (l == NULL)
		return -EINVAL;
	return l->state == ST_READY ? l->peer : -ENOTCONN;
}

static int die(struct pf_link *l, int r, const char **why, const char *what)
{
	PF_ASSERT(r < 0);
	l->state = ST_DEAD;
	sodium_memzero(l->key_tx, sizeof(l->key_tx));
	sodium_memzero(l->key_rx, sizeof(l->key_rx));
	if (why != NULL)
		*why = what;
	return r;
}

/* A hello's form (the server's carries a signature after the name): the name's length,
 * or -EPROTO. */
static int hello_check(const uint8_t *h, size_t len, int signed_hello)
{
	uint32_t n;

	if (len < HELLO_FIXED || memcmp(h, HELLO_MAGIC, MAGIC_BYTES) != 0)
		return -EPROTO;
	if ((h[8] | h[9] << 8) != VERSION || get32le(h + 12) != 0)
		return -EPROTO;
	n = (uint32_t)(h[10] | h[11] << 8);
	if (len != HELLO_FIXED + n + (signed_hello ? SIG_BYTES : 0) ||
	    !name_ok((const char *)h + HELLO_FIXED, n))
		return -EPROTO;
	return (int)n;
}

/* The listed peer whose key and name the hello carries (and the one expected, if any):
 * its index, or -ENOKEY. */
static int peer_find(const struct pf_link *l, const uint8_t *h, uint32_t name_len)
{
	for (uint32_t i = 0; i < l->peers_count; i++) {
		const struct pf_link_peer *p = &l->peers[i];

		if (sodium_memcmp(p->key, h + 16, KEY_BYTES) != 0)
			continue;
		if (strlen(p->name) != name_len || memcmp(p->name, h + HELLO_FIXED, name_len) != 0)
			return -ENOKEY; /* a listed key under another name */
		if (l->expect >= 0 && (int32_t)i != l->expect)
			return -ENOKEY;
		return (int)i;
	}
	return -ENOKEY;
}

/* Session keys from the ephemeral exchange, bound to both hellos. */
static int keys_derive(struct pf_link *l)
{
	const uint8_t *client = l->role == PF_LINK_CLIENT ? l->mine : l->theirs;
	const uint8_t *server = l->role == PF_LINK_CLIENT ? l->theirs : l->mine;
	size_t client_len = l->role == PF_LINK_CLIENT ? l->mine_len : l->theirs_len;
	size_t server_len = l->role == PF_LINK_CLIENT ? l->theirs_len : l->mine_len;
	uint8_t rx[KEY_BYTES], tx[KEY_BYTES], th[KEY_BYTES];
	crypto_generichash_state st;
	int r;

	r = l->role == PF_LINK_CLIENT
		    ? crypto_kx_client_session_keys(rx, tx, l->eph_pk, l->eph_sk, l->theirs + 80)
		    : crypto_kx_server_session_keys(rx, tx, l->eph_pk, l->eph_sk, l->theirs + 80);
	if (r != 0)
		return -EKEYREJECTED; /* a degenerate ephemeral key */
	(void)crypto_generichash_init(&st, NULL, 0, sizeof(th));
	(void)crypto_generichash_update(&st, client, client_len);
	(void)crypto_generichash_update(&st, server, server_len);
	(void)crypto_generichash_final(&st, th, sizeof(th));
	(void)crypto_generichash(l->key_tx, KEY_BYTES, th, sizeof(th), tx, sizeof(tx));
	(void)crypto_generichash(l->key_rx, KEY_BYTES, th, sizeof(th), rx, sizeof(rx));
	sodium_memzero(rx, sizeof(rx));
	sodium_memzero(tx, sizeof(tx));
	sodium_memzero(l->eph_sk, sizeof(l->eph_sk));
	return 0;
}

/* Verify sig by the key in hello `who` (16..48) over ctx and the parts. */
static int sig_check(const char *ctx, const uint8_t *a, size_t a_len, const uint8_t *b,
		     size_t b_len, const uint8_t *sig, const uint8_t *key)
{
	crypto_sign_state st;
	uint8_t s[SIG_BYTES];

	memcpy(s, sig, sizeof(s));
	(void)crypto_sign_init(&st);
	(void)crypto_sign_update(&st, (const unsigned char *)ctx, strlen(ctx));
	(void)crypto_sign_update(&st, a, a_len);
	(void)crypto_sign_update(&st, b, b_len);
	return crypto_sign_final_verify(&st, s, key) == 0 ? 0 : -EKEYREJECTED;
}

/* Server: the client's hello. */
static int on_client_hello(struct pf_link *l, const uint8_t *f, size_t len, const char **why)
{
	int n = hello_check(f, len, 0), peer;

	if (n < 0)
		return die(l, n, why, "malformed hello");
	peer = peer_find(l, f, (uint32_t)n);
	if (peer < 0)
		return die(l, peer, why, "the client's host key is not listed under its name");
	memcpy(l->theirs, f, len);
	l->theirs_len = len;
	l->peer = peer;
	hello_build(l); /* signed over both hellos */
	if (keys_derive(l) < 0)
		return die(l, -EKEYREJECTED, why, "a degenerate ephemeral key");
	l->state = ST_SERVER_AUTH;
	return PF_LINK_IN_HANDSHAKE;
}

/* Client: the server's hello, signed. */
static int on_server_hello(struct pf_link *l, const uint8_t *f, size_t len, const char **why)
{
	int n = hello_check(f, len, 1), peer;
	crypto_sign_state st;

	if (n < 0)
		return die(l, n, why, "malformed hello");
	peer = peer_find(l, f, (uint32_t)n);
	if (peer < 0)
		return die(l, peer, why, "the server's host key is not listed under its name");
	if (sig_check(CTX_SERVER, l->mine, l->mine_len, f, len - SIG_BYTES, f + len - SIG_BYTES,
		      f + 16) < 0)
		return die(l, -EKEYREJECTED, why, "the server's signature does not verify");
	memcpy(l->theirs, f, len);
	l->theirs_len = len;
	l->peer = peer;
	if (keys_derive(l) < 0)
		return die(l, -EKEYREJECTED, why, "a degenerate ephemeral key");
	memcpy(l->out, AUTH_MAGIC, MAGIC_BYTES);
	(void)crypto_sign_init(&st);
	(void)crypto_sign_update(&st, (const unsigned char *)CTX_CLIENT, strlen(CTX_CLIENT));
	(void)crypto_sign_update(&st, l->mine, l->mine_len);
	(void)crypto_sign_update(&st, l->theirs, l->theirs_len);
	(void)crypto_sign_final_create(&st, l->out + MAGIC_BYTES, NULL, l->sk);
	l->out_len = MAGIC_BYTES + SIG_BYTES;
	l->state = ST_READY;
	return PF_LINK_IN_READY;
}

/* Server: the client's AUTH. */
static int on_auth(struct pf_link *l, const uint8_t *f, size_t len, const char **why)
{
	if (len != MAGIC_BYTES + SIG_BYTES || memcmp(f, AUTH_MAGIC, MAGIC_BYTES) != 0)
		return die(l, -EPROTO, why, "malformed auth");
	if (sig_check(CTX_CLIENT, l->theirs, l->theirs_len, l->mine, l->mine_len, f + MAGIC_BYTES,
		      l->theirs + 16) < 0)
		return die(l, -EKEYREJECTED, why, "the client's signature does not verify");
	l->state = ST_READY;
	return PF_LINK_IN_READY;
}

/* The tag of a frame: keyed BLAKE2b-128 over head, body length and covered bytes. */
static void tag_of(const uint8_t key[KEY_BYTES], const uint8_t head[PF_LINK_HEAD_BYTES],
		   uint64_t body_bytes, const struct iovec *body, unsigned count, uint32_t covered,
		   uint8_t tag[PF_LINK_TAG_BYTES])
{
	crypto_generichash_state st;
	uint8_t len[8];

	put64le(len, body_bytes);
	(void)crypto_generichash_init(&st, key, KEY_BYTES, PF_LINK_TAG_BYTES);
	(void)crypto_generichash_update(&st, head, PF_LINK_HEAD_BYTES);
	(void)crypto_generichash_update(&st, len, sizeof(len));
	for (unsigned i = 0; i < count && covered > 0; i++) {
		size_t n = body[i].iov_len < covered ? body[i].iov_len : covered;

		(void)crypto_generichash_update(&st, body[i].iov_base, n);
		covered -= (uint32_t)n;
	}
	(void)crypto_generichash_final(&st, tag, PF_LINK_TAG_BYTES);
}

static int on_frame(struct pf_link *l, const uint8_t *f, size_t len, struct pf_link_frame *out,
		    const char **why)
{
	uint8_t tag[PF_LINK_TAG_BYTES];
	struct iovec body;
	uint32_t type, covered;
	uint64_t body_bytes;

	if (len < PF_LINK_HEAD_BYTES + PF_LINK_TAG_BYTES)
		return die(l, -EPROTO, why, "a frame shorter than its head and tag");
	body_bytes = len - PF_LINK_HEAD_BYTES - PF_LINK_TAG_BYTES;
	type = get32le(f);
	covered = get32le(f + 4);
	if (type == 0 || type > PF_LINK_TYPE_MAX || covered > body_bytes)
		return die(l, -EPROTO, why, "a frame head out of range");
	if (get64le(f + 8) != l->seq_rx)
		return die(l, -EBADMSG, why,
			   "a frame out of sequence (replayed, lost or reordered)");
	body = (struct iovec){(void *)(uintptr_t)(f + PF_LINK_HEAD_BYTES), (size_t)body_bytes};
	tag_of(l->key_rx, f, body_bytes, &body, 1, covered, tag);
	if (sodium_memcmp(tag, f + len - PF_LINK_TAG_BYTES, sizeof(tag)) != 0)
		return die(l, -EBADMSG, why, "a frame whose tag does not verify");
	out->type = type;
	out->covered = covered;
	out->seq = l->seq_rx++;
	out->body = f + PF_LINK_HEAD_BYTES;
	out->body_bytes = body_bytes;
	return PF_LINK_IN_FRAME;
}

PF_API int pf_link_input(struct pf_link *l, const void *frame, size_t len,
			 struct pf_link_frame *ret_frame, const char **reterr_why)
{
	if (l == NULL || (frame == NULL && len > 0) || ret_frame == NULL)
		return -EINVAL;
	switch (l->state) {
	case ST_DEAD:
		return -EPIPE;
	case ST_SERVER_HELLO:
		return len <= HELLO_MAX ? on_client_hello(l, frame, len, reterr_why)
					: die(l, -EPROTO, reterr_why, "malformed hello");
	case ST_CLIENT_HELLO:
		if (l->out_len != 0)
			return die(l, -EPROTO, reterr_why, "a frame before our hello was sent");
		return len <= HELLO_MAX ? on_server_hello(l, frame, len, reterr_why)
					: die(l, -EPROTO, reterr_why, "malformed hello");
	case ST_SERVER_AUTH:
		return on_auth(l, frame, len, reterr_why);
	default:
		return on_frame(l, frame, len, ret_frame, reterr_why);
	}
}

PF_API int pf_link_seal(struct pf_link *l, uint32_t type, const struct iovec *body, unsigned count,
			uint32_t covered, uint8_t head[PF_LINK_HEAD_BYTES],
			uint8_t tag[PF_LINK_TAG_BYTES])
{
	uint64_t bytes = 0;

	if (l == NULL || head == NULL || tag == NULL || type == 0 || type > PF_LINK_TYPE_MAX ||
	    (body == NULL && count > 0))
		return -EINVAL;
	if (l->state == ST_DEAD)
		return -EPIPE;
	if (l->state != ST_READY)
		return -ENOTCONN;
	for (unsigned i = 0; i < count; i++)
		bytes += body[i].iov_len;
	if (covered > bytes)
		return -EINVAL;
	put32le(head, type);
	put32le(head + 4, covered);
	put64le(head + 8, l->seq_tx++);
	tag_of(l->key_tx, head, bytes, body, count, covered, tag);
	return 0;
}

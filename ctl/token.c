/* SPDX-License-Identifier: MIT */
/*
 * ctl/token.c: join tokens (pflight/token.h).
 *
 * Encoding. The body is fixed-order binary, little-endian, with explicit lengths, so
 * there is exactly one body for a set of claims and nothing to canonicalise; the
 * signature covers a domain-separation string and the body, so a token signature can
 * never be replayed as an audit head signature (which signs "pfaudit1" || hash)
 * made with the same key. The text is base64url without padding; libsodium's decoder
 * refuses non-zero trailing bits, so each token has exactly one spelling and any change
 * to a character either breaks the encoding or changes the signed bytes.
 *
 * Verification order: encoding and length (-EBADMSG), then the signature
 * (-EKEYREJECTED), then the claims' form (-EBADMSG), then expiry (-EKEYEXPIRED). Claims
 * are read only from a body whose signature holds, and the same checks that issue
 * applies are applied again, so a key holder's bug cannot smuggle a malformed name in.
 */
#include <errno.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "pflight/audit.h"
#include "pflight/sched.h"
#include "ctl/token_impl.h"
#include "pflight/token.h"
#include "shm/pf_assert.h"

#define TOKEN_PREFIX "pft1."
#define TOKEN_PREFIX_BYTES (sizeof(TOKEN_PREFIX) - 1u)
#define TOKEN_VERSION 1u
#define TOKEN_CONTEXT "pflight-token-v1"
#define TOKEN_CONTEXT_BYTES sizeof(TOKEN_CONTEXT) /* NUL included */
#define SIG_BYTES crypto_sign_BYTES
#define FIXED_BYTES (1u + 8u + 4u + 4u + 1u + 2u) /* version .. caps length, no strings */
#define BODY_MAX (FIXED_BYTES + PF_DOMAIN_NAME_MAX + PF_TOKEN_CAPS_MAX)
#define BIN_MAX (BODY_MAX + SIG_BYTES)
#define B64_VARIANT sodium_base64_VARIANT_URLSAFE_NO_PADDING

_Static_assert(TOKEN_PREFIX_BYTES + (BIN_MAX + 2u) / 3u * 4u + 1u <= PF_TOKEN_TEXT_MAX,
	       "PF_TOKEN_TEXT_MAX holds the longest token");
_Static_assert(SIG_BYTES == 64u, "Ed25519 signatures");

static bool name_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '.' || ch == '_' || ch == '-';
}

/* 0 when s[0..len) is 1..max name characters, -EINVAL otherwise. */
static int name_check(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return -EINVAL;
	for (size_t i = 0; i < len; i++)
		if (!name_char(s[i]))
			return -EINVAL;
	return 0;
}

/* 0 when caps[0..len) is "" or names joined by single commas, -EINVAL or -E2BIG. */
static int caps_check(const char *caps, size_t len)
{
	size_t start = 0, count = 0;

	PF_ASSERT(caps != NULL);
	if (len > PF_TOKEN_CAPS_MAX)
		return -E2BIG;
	if (len == 0)
		return 0;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && caps[i] != ',')
			continue;
		if (name_check(caps + start, i - start, PF_CAP_NAME_MAX) < 0)
			return -EINVAL;
		if (++count > PF_TOKEN_CAPS_COUNT_MAX)
			return -E2BIG;
		start = i + 1;
	}
	PF_ASSERT(count >= 1);
	return 0;
}

int token_claims_check(const struct pf_token_claims *c, size_t domain_len, size_t caps_len)
{
	if (name_check(c->domain, domain_len, PF_DOMAIN_NAME_MAX) < 0 || c->domain[0] == '.')
		return -EINVAL;
	if (c->expires == 0 || c->trust_ppm > PF_PPM)
		return -EINVAL;
	return caps_check(c->caps, caps_len);
}

static void put_le(unsigned char *p, uint64_t v, size_t bytes)
{
	for (size_t i = 0; i < bytes; i++)
		p[i] = (unsigned char)(v >> (8u * i));
}

static uint64_t get_le(const unsigned char *p, size_t bytes)
{
	uint64_t v = 0;

	for (size_t i = 0; i < bytes; i++)
		v |= (uint64_t)p[i] << (8u * i);
	return v;
}

/* Serialise checked claims; returns the body's length. */
static size_t body_build(unsigned char *b, const struct pf_token_claims *c, size_t domain_len,
			 size_t caps_len)
{
	size_t n = 0;

	PF_ASSERT(domain_len <= PF_DOMAIN_NAME_MAX && caps_len <= PF_TOKEN_CAPS_MAX);
	b[n++] = TOKEN_VERSION;
	put_le(b + n, c->expires, 8);
	n += 8;
	put_le(b + n, c->trust_ppm, 4);
	n += 4;
	put_le(b + n, c->uid, 4);
	n += 4;
	b[n++] = (unsigned char)domain_len;
	memcpy(b + n, c->domain, domain_len);
	n += domain_len;
	put_le(b + n, caps_len, 2);
	n += 2;
	memcpy(b + n, c->caps, caps_len);
	n += caps_len;
	PF_ASSERT(n <= BODY_MAX);
	return n;
}

static void sign_body(unsigned char sig[SIG_BYTES], const unsigned char *body, size_t len,
		      const unsigned char *sk)
{
	unsigned char msg[TOKEN_CONTEXT_BYTES + BODY_MAX];

	PF_ASSERT(len <= BODY_MAX);
	memcpy(msg, TOKEN_CONTEXT, TOKEN_CONTEXT_BYTES);
	memcpy(msg + TOKEN_CONTEXT_BYTES, body, len);
	(void)crypto_sign_detached(sig, NULL, msg, TOKEN_CONTEXT_BYTES + len, sk);
	sodium_memzero(msg, sizeof(msg));
}

static bool sig_good(const unsigned char sig[SIG_BYTES], const unsigned char *body, size_t len,
		     const unsigned char *pk)
{
	unsigned char msg[TOKEN_CONTEXT_BYTES + BODY_MAX];

	PF_ASSERT(len <= BODY_MAX);
	memcpy(msg, TOKEN_CONTEXT, TOKEN_CONTEXT_BYTES);
	memcpy(msg + TOKEN_CONTEXT_BYTES, body, len);
	return crypto_sign_verify_detached(sig, msg, TOKEN_CONTEXT_BYTES + len, pk) == 0;
}

int pf_token_issue(const unsigned char *sk, const struct pf_token_claims *claims, char *out,
		   size_t cap)
{
	unsigned char bin[BIN_MAX];
	size_t domain_len, caps_len, body_len, need;
	int r;

	if (sk == NULL || claims == NULL || out == NULL || claims->size < sizeof(*claims))
		return -EINVAL;
	domain_len = strnlen(claims->domain, sizeof(claims->domain));
	caps_len = strnlen(claims->caps, sizeof(claims->caps));
	if (domain_len == sizeof(claims->domain))
		return -EINVAL;
	if (caps_len == sizeof(claims->caps))
		return -E2BIG;
	r = token_claims_check(claims, domain_len, caps_len);
	if (r < 0)
		return r;
	if (sodium_init() < 0)
		return -EIO;
	body_len = body_build(bin, claims, domain_len, caps_len);
	need = TOKEN_PREFIX_BYTES +
	       sodium_base64_encoded_len(body_len + SIG_BYTES, B64_VARIANT); /* NUL included */
	if (cap < need)
		return -ENOBUFS;
	sign_body(bin + body_len, bin, body_len, sk);
	memcpy(out, TOKEN_PREFIX, TOKEN_PREFIX_BYTES);
	(void)sodium_bin2base64(out + TOKEN_PREFIX_BYTES, cap - TOKEN_PREFIX_BYTES, bin,
				body_len + SIG_BYTES, B64_VARIANT);
	PF_ASSERT(strlen(out) + 1 == need);
	return (int)(need - 1);
}

static bool b64_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       ch == '-' || ch == '_';
}

/* Decode the text into bin; returns the body's length, or -EBADMSG. */
static int token_decode(const char *token, unsigned char bin[BIN_MAX])
{
	size_t len = strnlen(token, PF_TOKEN_TEXT_MAX), got = 0;
	const char *end = NULL;

	if (len == PF_TOKEN_TEXT_MAX || len < TOKEN_PREFIX_BYTES ||
	    memcmp(token, TOKEN_PREFIX, TOKEN_PREFIX_BYTES) != 0)
		return -EBADMSG;
	for (size_t i = TOKEN_PREFIX_BYTES; i < len; i++)
		if (!b64_char(token[i]))
			return -EBADMSG; /* checked here: libsodium maps some bytes >= 0x80 */
	if (sodium_base642bin(bin, BIN_MAX, token + TOKEN_PREFIX_BYTES, len - TOKEN_PREFIX_BYTES,
			      NULL, &got, &end, B64_VARIANT) != 0 ||
	    end != token + len)
		return -EBADMSG;
	if (got < FIXED_BYTES + 1u + SIG_BYTES || got > BIN_MAX)
		return -EBADMSG;
	return (int)(got - SIG_BYTES);
}

/* Read a signed body into *c; 0 or -EBADMSG. */
static int body_parse(const unsigned char *b, size_t len, struct pf_token_claims *c)
{
	size_t n = 1, domain_len, caps_len;

	if (b[0] != TOKEN_VERSION)
		return -EBADMSG;
	c->expires = get_le(b + n, 8);
	c->trust_ppm = (uint32_t)get_le(b + n + 8, 4);
	c->uid = (uint32_t)get_le(b + n + 12, 4);
	c->reserved0 = 0;
	n += 16;
	domain_len = b[n++];
	if (domain_len > PF_DOMAIN_NAME_MAX || n + domain_len + 2u > len)
		return -EBADMSG;
	memcpy(c->domain, b + n, domain_len);
	c->domain[domain_len] = '\0';
	n += domain_len;
	caps_len = (size_t)get_le(b + n, 2);
	n += 2;
	if (caps_len > PF_TOKEN_CAPS_MAX || n + caps_len != len)
		return -EBADMSG;
	memcpy(c->caps, b + n, caps_len);
	c->caps[caps_len] = '\0';
	return token_claims_check(c, domain_len, caps_len) < 0 ? -EBADMSG : 0;
}

int pf_token_verify(const unsigned char *pk, const char *token, uint64_t now_unix,
		    struct pf_token_claims *ret)
{
	unsigned char bin[BIN_MAX];
	struct pf_token_claims c;
	int body_len, r;

	if (pk == NULL || token == NULL || ret == NULL || ret->size < sizeof(*ret))
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	body_len = token_decode(token, bin);
	if (body_len < 0)
		return body_len;
	if (!sig_good(bin + body_len, bin, (size_t)body_len, pk))
		return -EKEYREJECTED;
	memset(&c, 0, sizeof(c));
	c.size = sizeof(c);
	r = body_parse(bin, (size_t)body_len, &c);
	if (r < 0)
		return r;
	if (now_unix >= c.expires)
		return -EKEYEXPIRED;
	*ret = c;
	return 0;
}

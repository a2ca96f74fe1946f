/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/ctl/test_ctl_token.c
 * Goal: a join token round-trips its claims; it is refused once expired; every single
 * changed character of a token is refused (forgery), as is a token signed by another key
 * and a token re-signed over an altered body with the wrong key; malformed text is
 * -EBADMSG; the capability list's limits (count, length, form) hold at issue.
 * Method: keys from pf_audit_keygen(); tokens edited as text.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "pflight/audit.h"
#include "pflight/sched.h"
#include "pflight/token.h"

#define NOW 1800000000u

static unsigned char pk[PF_AUDIT_PUBLIC_KEY_BYTES], sk[PF_AUDIT_SECRET_KEY_BYTES];

static void claims_init(struct pf_token_claims *c, const char *domain, const char *caps)
{
	memset(c, 0, sizeof(*c));
	c->size = sizeof(*c);
	c->expires = NOW + 60;
	c->trust_ppm = 800000;
	c->uid = PF_TOKEN_NO_UID;
	memcpy(c->domain, domain, strnlen(domain, sizeof(c->domain) - 1));
	memcpy(c->caps, caps, strnlen(caps, sizeof(c->caps) - 1));
}

static int verify(const char *token, uint64_t now, struct pf_token_claims *got)
{
	memset(got, 0, sizeof(*got));
	got->size = sizeof(*got);
	return pf_token_verify(pk, token, now, got);
}

static void test_round_trip(void **state)
{
	struct pf_token_claims c, got;
	char tok[PF_TOKEN_TEXT_MAX];
	int n;

	(void)state;
	claims_init(&c, "prod-1", "gpu,ssd");
	c.uid = 1000;
	n = pf_token_issue(sk, &c, tok, sizeof(tok));
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(tok));
	assert_int_equal(strncmp(tok, "pft1.", 5), 0);
	assert_int_equal(verify(tok, NOW, &got), 0);
	assert_string_equal(got.domain, "prod-1");
	assert_string_equal(got.caps, "gpu,ssd");
	assert_int_equal(got.trust_ppm, 800000);
	assert_int_equal(got.uid, 1000);
	assert_int_equal(got.expires, NOW + 60);

	claims_init(&c, "d", "");
	c.trust_ppm = PF_PPM;
	assert_true(pf_token_issue(sk, &c, tok, sizeof(tok)) > 0);
	assert_int_equal(verify(tok, NOW, &got), 0);
	assert_string_equal(got.caps, "");
	assert_int_equal(got.uid, PF_TOKEN_NO_UID);
	assert_int_equal(got.trust_ppm, PF_PPM);
}

static void test_expiry(void **state)
{
	struct pf_token_claims c, got;
	char tok[PF_TOKEN_TEXT_MAX];

	(void)state;
	claims_init(&c, "prod", "gpu");
	assert_true(pf_token_issue(sk, &c, tok, sizeof(tok)) > 0);
	assert_int_equal(verify(tok, NOW + 59, &got), 0);
	got.domain[0] = 'X';
	assert_int_equal(verify(tok, NOW + 60, &got), -EKEYEXPIRED);
	assert_string_equal(got.domain, ""); /* untouched on failure (verify() zeroed it) */
	assert_int_equal(verify(tok, UINT64_MAX, &got), -EKEYEXPIRED);
}

/* Each character changed once, each way that matters: every one is refused. */
static void test_every_byte_flipped(void **state)
{
	static const unsigned char flips[] = {0x01, 0x20, 0x80};
	struct pf_token_claims c, got;
	char tok[PF_TOKEN_TEXT_MAX], bad[PF_TOKEN_TEXT_MAX];
	int n, rejected = 0;

	(void)state;
	claims_init(&c, "prod", "gpu,ssd,fast-net");
	n = pf_token_issue(sk, &c, tok, sizeof(tok));
	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		for (size_t f = 0; f < sizeof(flips); f++) {
			int r;

			memcpy(bad, tok, (size_t)n + 1);
			bad[i] = (char)(bad[i] ^ flips[f]);
			r = verify(bad, NOW, &got);
			if (r != -EBADMSG && r != -EKEYREJECTED)
				print_error("char %d ^ 0x%02x: got %d\n", i, flips[f], r), fail();
			rejected += r == -EKEYREJECTED;
		}
	}
	assert_true(rejected > n); /* most edits decode and fail on the signature */
	memcpy(bad, tok, (size_t)n + 1);
	bad[n - 1] = '\0'; /* truncated */
	assert_int_not_equal(verify(bad, NOW, &got), 0);
	memcpy(bad, tok, (size_t)n);
	memcpy(bad + n, "AA", 3); /* extended */
	assert_int_not_equal(verify(bad, NOW, &got), 0);
}

static void test_other_key(void **state)
{
	unsigned char pk2[PF_AUDIT_PUBLIC_KEY_BYTES], sk2[PF_AUDIT_SECRET_KEY_BYTES];
	struct pf_token_claims c, got;
	char tok[PF_TOKEN_TEXT_MAX];

	(void)state;
	assert_int_equal(pf_audit_keygen(pk2, sk2), 0);
	claims_init(&c, "prod", "gpu");
	c.trust_ppm = PF_PPM;
	assert_true(pf_token_issue(sk2, &c, tok, sizeof(tok)) > 0);
	assert_int_equal(verify(tok, NOW, &got), -EKEYREJECTED);
	memset(&got, 0, sizeof(got));
	got.size = sizeof(got);
	assert_int_equal(pf_token_verify(pk2, tok, NOW, &got), 0);
	assert_int_equal(got.trust_ppm, PF_PPM);
}

static void test_malformed(void **state)
{
	static const char *const bad[] = {
		"",          "pft1.",     "pft1",           "pft2.AAAA",  "PFT1.AAAA",
		"pft1.AAAA", "pft1.@@@@", "pft1.AAAA AAAA", "pft1.AAAA=",
	};
	struct pf_token_claims c, got;
	char tok[PF_TOKEN_TEXT_MAX], huge[PF_TOKEN_TEXT_MAX + 16];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(verify(bad[i], NOW, &got), -EBADMSG);
	memset(huge, 'A', sizeof(huge) - 1);
	memcpy(huge, "pft1.", 5);
	huge[sizeof(huge) - 1] = '\0';
	assert_int_equal(verify(huge, NOW, &got), -EBADMSG);

	claims_init(&c, "prod", "gpu");
	assert_true(pf_token_issue(sk, &c, tok, sizeof(tok)) > 0);
	assert_int_equal(pf_token_verify(NULL, tok, NOW, &got), -EINVAL);
	assert_int_equal(pf_token_verify(pk, NULL, NOW, &got), -EINVAL);
	assert_int_equal(pf_token_verify(pk, tok, NOW, NULL), -EINVAL);
	got.size = 4;
	assert_int_equal(pf_token_verify(pk, tok, NOW, &got), -EINVAL);
	assert_int_equal(pf_token_issue(NULL, &c, tok, sizeof(tok)), -EINVAL);
	assert_int_equal(pf_token_issue(sk, NULL, tok, sizeof(tok)), -EINVAL);
	assert_int_equal(pf_token_issue(sk, &c, NULL, sizeof(tok)), -EINVAL);
	assert_int_equal(pf_token_issue(sk, &c, tok, 10), -ENOBUFS);
	assert_int_equal(pf_token_issue(sk, &c, tok, (size_t)strlen(tok)), -ENOBUFS);
	assert_true(pf_token_issue(sk, &c, tok, strlen(tok) + 1) > 0);
}

static void test_claims_refused(void **state)
{
	static const char *const bad_domains[] = {"", ".hidden", "a b", "a/b", "é"};
	struct pf_token_claims c;
	char tok[PF_TOKEN_TEXT_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(bad_domains) / sizeof(bad_domains[0]); i++) {
		claims_init(&c, bad_domains[i], "gpu");
		assert_int_equal(pf_token_issue(sk, &c, tok, sizeof(tok)), -EINVAL);
	}
	claims_init(&c, "prod", "gpu");
	c.trust_ppm = PF_PPM + 1;
	assert_int_equal(pf_token_issue(sk, &c, tok, sizeof(tok)), -EINVAL);
	claims_init(&c, "prod", "gpu");
	c.expires = 0;
	assert_int_equal(pf_token_issue(sk, &c, tok, sizeof(tok)), -EINVAL);
	claims_init(&c, "prod", "gpu");
	c.size = 8;
	assert_int_equal(pf_token_issue(sk, &c, tok, sizeof(tok)), -EINVAL);
	claims_init(&c, "prod", "gpu");
	memset(c.domain, 'a', sizeof(c.domain)); /* no NUL */
	assert_int_equal(pf_token_issue(sk, &c, tok, sizeof(tok)), -EINVAL);
}

static void test_caps_limits(void **state)
{
	static const char *const bad[] = {",",    "gpu,",    ",gpu",    "gpu,,ssd",
					  "g pu", "gpu;ssd", "gpu,s/d", "gpu\n"};
	struct pf_token_claims c, got;
	char tok[PF_TOKEN_TEXT_MAX], list[PF_TOKEN_CAPS_MAX + 64];
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		claims_init(&c, "prod", bad[i]);
		assert_int_equal(pf_token_issue(sk, &c, tok, sizeof(tok)), -EINVAL);
	}
	/* A name of exactly PF_CAP_NAME_MAX bytes passes; one more byte does not. */
	claims_init(&c, "prod", "");
	memset(c.caps, 'x', PF_CAP_NAME_MAX);
	assert_true(pf_token_issue(sk, &c, tok, sizeof(tok)) > 0);
	c.caps[PF_CAP_NAME_MAX] = 'x';
	assert_int_equal(pf_token_issue(sk, &c, tok, sizeof(tok)), -EINVAL);

	/* PF_TOKEN_CAPS_COUNT_MAX names pass, one more is -E2BIG. */
	for (uint32_t i = 0; i < PF_TOKEN_CAPS_COUNT_MAX; i++)
		n += (size_t)snprintf(list + n, sizeof(list) - n, "%sc%u", i ? "," : "", i);
	claims_init(&c, "prod", list);
	assert_true(pf_token_issue(sk, &c, tok, sizeof(tok)) > 0);
	assert_int_equal(verify(tok, NOW, &got), 0);
	assert_string_equal(got.caps, list);
	(void)snprintf(list + n, sizeof(list) - n, ",extra");
	claims_init(&c, "prod", list);
	assert_int_equal(pf_token_issue(sk, &c, tok, sizeof(tok)), -E2BIG);

	/* The longest list that fits (PF_TOKEN_CAPS_MAX bytes) makes a token that fits. */
	claims_init(&c, "prod", "");
	memset(c.domain, 'd', PF_DOMAIN_NAME_MAX);
	c.domain[PF_DOMAIN_NAME_MAX] = '\0';
	for (n = 0; n + PF_CAP_NAME_MAX + 1 <= PF_TOKEN_CAPS_MAX; n += PF_CAP_NAME_MAX + 1) {
		memset(c.caps + n, 'y', PF_CAP_NAME_MAX);
		c.caps[n + PF_CAP_NAME_MAX] = ',';
	}
	memset(c.caps + n, 'z', PF_TOKEN_CAPS_MAX - n);
	assert_int_equal(strlen(c.caps), PF_TOKEN_CAPS_MAX);
	assert_true(pf_token_issue(sk, &c, tok, sizeof(tok)) > 0);
	assert_true(strlen(tok) < PF_TOKEN_TEXT_MAX);
	assert_int_equal(verify(tok, NOW, &got), 0);
	assert_string_equal(got.caps, c.caps);
	memset(c.caps, 'q', sizeof(c.caps)); /* no NUL: longer than PF_TOKEN_CAPS_MAX */
	assert_int_equal(pf_token_issue(sk, &c, tok, sizeof(tok)), -E2BIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),         cmocka_unit_test(test_expiry),
		cmocka_unit_test(test_every_byte_flipped), cmocka_unit_test(test_other_key),
		cmocka_unit_test(test_malformed),          cmocka_unit_test(test_claims_refused),
		cmocka_unit_test(test_caps_limits),
	};

	if (pf_audit_keygen(pk, sk) != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* SPDX-License-Identifier: MIT */
/*
 * pflight/token.h: join tokens.
 *
 * A join token lets a worker that holds it ask a domain's daemon for admission: it names
 * the domain, when it expires, the capabilities and the trust it grants and, optionally,
 * the uid it is for. The daemon signs it with its Ed25519 key (the audit key pair of
 * pflight/audit.h: pf_audit_key_load() / pf_audit_pubkey_load() read it) and checks it
 * with the public half. A token is one printable word:
 *
 *   "pft1." base64url-without-padding(body || signature)
 *
 * body = version (1 byte, 1), expires (u64 LE), trust_ppm (u32 LE), uid (u32 LE),
 * domain length (1 byte), domain, caps length (u16 LE), caps (comma list); signature =
 * Ed25519 over "pflight-token-v1" NUL || body. A token is a bearer credential: it proves
 * who issued it, not who presents it; keep lifetimes short and bind a uid where the
 * daemon can check one (SO_PEERCRED). No revocation: expiry is the only way one ends.
 *
 * A worker presents its token to the host's pflightd with pf_control_present(), on the
 * control socket of pflight/control.h ("join-token <token>"), before it joins.
 */
#ifndef PFLIGHT_TOKEN_H
#define PFLIGHT_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "pflight/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PF_TOKEN_CAPS_COUNT_MAX 32u /* capability names one token may grant */
#define PF_TOKEN_CAPS_MAX 512u      /* bytes of the comma list, without the NUL */
#define PF_TOKEN_NO_UID UINT32_MAX  /* claims.uid: any uid may present the token */
#define PF_TOKEN_TEXT_MAX 1024u     /* bytes of a token, NUL included: enough for any */

struct pf_token_claims {
	uint32_t size;                       /* sizeof(struct pf_token_claims) */
	uint32_t trust_ppm;                  /* trust granted, 0..PF_PPM */
	uint64_t expires;                    /* unix seconds; refused from then on */
	uint32_t uid;                        /* the uid it is for, or PF_TOKEN_NO_UID */
	uint32_t reserved0;                  /* 0 */
	char domain[PF_DOMAIN_NAME_MAX + 1]; /* NUL-terminated domain name */
	char caps[PF_TOKEN_CAPS_MAX + 1];    /* "a,b,c": names granted, "" for none */
};

/*
 * Sign claims with sk (PF_AUDIT_SECRET_KEY_BYTES, libsodium layout) and write the token,
 * NUL-terminated, to out (cap bytes; PF_TOKEN_TEXT_MAX is always enough). Claims: domain
 * 1..PF_DOMAIN_NAME_MAX bytes of [A-Za-z0-9._-], not starting with '.'; expires > 0;
 * trust_ppm <= PF_PPM; caps empty or names of 1..PF_CAP_NAME_MAX bytes of [A-Za-z0-9._-]
 * separated by single commas; uid any value (PF_TOKEN_NO_UID: none). Returns the token's
 * length (without the NUL), or:
 *   -EINVAL    NULL arguments, claims->size too small, or bad claims (see above)
 *   -E2BIG     more than PF_TOKEN_CAPS_COUNT_MAX names, or caps longer than
 *              PF_TOKEN_CAPS_MAX bytes
 *   -ENOBUFS   cap is too small for the token
 *   -EIO       libsodium failed to start
 */
PF_API int pf_token_issue(const unsigned char *sk, const struct pf_token_claims *claims, char *out,
			  size_t cap);

/*
 * Check token against pk (PF_AUDIT_PUBLIC_KEY_BYTES) at time now_unix (unix seconds).
 * Fills *ret (ret->size set by the caller) only when it returns 0. Returns:
 *   0              genuine and not expired
 *   -EKEYREJECTED  the signature does not match: forged, altered, or another key's
 *   -EKEYEXPIRED   genuine but now_unix >= claims.expires
 *   -EBADMSG       not a token: wrong prefix, bad encoding, wrong length or version, or
 *                  a signed body whose claims are not well formed
 *   -EINVAL        NULL arguments, ret->size too small
 *   -EIO           libsodium failed to start
 * The caller still checks that the domain is its own and, when uid is not
 * PF_TOKEN_NO_UID, that the presenter's uid matches.
 */
PF_API int pf_token_verify(const unsigned char *pk, const char *token, uint64_t now_unix,
			   struct pf_token_claims *ret);

/*
 * Present a join token to the daemon at path (pf_control_path() of pflight/control.h), for
 * this process; the daemon must run as root or as daemon_uid (the owner of the domain's
 * segment: pf_domain_info()'s segment_uid), or the token is not sent (-EPERM: see
 * pflight/control.h). Returns 0 and the claims granted in *ret (ret->size set by the
 * caller; may be NULL; written only on success), or what the daemon answers:
 *   -EKEYREJECTED  forged
 *   -EKEYEXPIRED   expired
 *   -EBADMSG       malformed (or longer than any token: not sent)
 *   -EXDEV         for another domain
 *   -EACCES        for another uid
 *   -ESRCH         the daemon could not see this process
 *   -EPROTO        a reply we cannot read: not one JSON object, an unknown refusal, or a
 *                  grant whose claims no token can hold
 *   -EINVAL        token NULL, ret->size too small
 * or an error of pf_control_request(). Blocking; reentrant.
 */
PF_API int pf_control_present(const char *path, uint32_t daemon_uid, const char *token,
			      struct pf_token_claims *ret);

/* The protocol's word for one of pf_control_present()'s refusals ("forged", "expired",
 * "malformed", "other_domain", "wrong_uid", "peer_gone"), as the daemon answers it; NULL
 * for any other errno. */
PF_API const char *pf_control_refusal_name(int err);

#ifdef __cplusplus
}
#endif

#endif /* PFLIGHT_TOKEN_H */

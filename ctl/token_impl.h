/* SPDX-License-Identifier: MIT */
/* ctl/token_impl.h: what ctl/token.c (issuing, verifying) and ctl/token_present.c
 * (presenting to a daemon) share: the one rule of what claims a token can hold. */
#ifndef PF_CTL_TOKEN_IMPL_H
#define PF_CTL_TOKEN_IMPL_H

#include <stddef.h>

#include "pflight/token.h"

/* 0 when c (its domain domain_len bytes, its caps caps_len bytes, both NUL-terminated
 * there) holds what pf_token_issue() accepts: a domain name, expires > 0, trust_ppm <=
 * PF_PPM, caps "" or capability names joined by single commas. -EINVAL or -E2BIG. */
int token_claims_check(const struct pf_token_claims *c, size_t domain_len, size_t caps_len);

#endif /* PF_CTL_TOKEN_IMPL_H */

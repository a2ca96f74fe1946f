/* SPDX-License-Identifier: MIT */
/*
 * ctl/token_present.c: a join token presented to pflightd on its control socket, and the
 * daemon's answer read (pf_control_present(), pflight/token.h).
 *
 * The request and the socket are libpflight's (pf_control_request(), pflight/control.h);
 * the answer is a JSON object, read with jansson as the rest of the control plane reads
 * JSON: {"ok":true, "domain", "caps", "trust_ppm", "expires", and whatever else the
 * daemon adds}, or {"ok":false, "error":<word>}. A grant is believed only when its claims
 * are ones a token can hold (token_claims_check(), the rule pf_token_issue() applies), so
 * a reply from something that is not the daemon cannot hand the caller a malformed name.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "ctl/token_impl.h"
#include "pflight/control.h"
#include "pflight/sched.h"
#include "pflight/token.h"
#include "shm/pf_assert.h"
#include "shm/pf_compiler.h"

/* The words of the protocol for a refused token, both ways (pflightd answers with them). */
static const struct {
	const char *word;
	int err;
} refusals[] = {
	{"forged", -EKEYREJECTED}, {"expired", -EKEYEXPIRED}, {"malformed", -EBADMSG},
	{"other_domain", -EXDEV},  {"wrong_uid", -EACCES},    {"peer_gone", -ESRCH},
};

const char *pf_control_refusal_name(int err)
{
	for (size_t i = 0; i < PF_ARRAY_SIZE(refusals); i++)
		if (refusals[i].err == err)
			return refusals[i].word;
	return NULL;
}

static int refusal_errno(const char *error)
{
	for (size_t i = 0; error != NULL && i < PF_ARRAY_SIZE(refusals); i++)
		if (strcmp(error, refusals[i].word) == 0)
			return refusals[i].err;
	return -EPROTO;
}

/* The claims of a grant into *ret (only when they are ones a token can hold), else -EPROTO. */
static int claims_from(json_t *doc, struct pf_token_claims *ret)
{
	json_t *dom = json_object_get(doc, "domain"), *caps = json_object_get(doc, "caps");
	json_t *trust = json_object_get(doc, "trust_ppm"), *exp = json_object_get(doc, "expires");
	struct pf_token_claims cl = {.size = sizeof(cl), .uid = PF_TOKEN_NO_UID};
	size_t dom_len, caps_len;

	PF_ASSERT(ret != NULL && ret->size >= sizeof(*ret));
	if (!json_is_string(dom) || !json_is_string(caps) || !json_is_integer(trust) ||
	    !json_is_integer(exp) || json_integer_value(trust) < 0 ||
	    json_integer_value(trust) > PF_PPM || json_integer_value(exp) <= 0)
		return -EPROTO;
	dom_len = json_string_length(dom);
	caps_len = json_string_length(caps);
	if (dom_len >= sizeof(cl.domain) || caps_len >= sizeof(cl.caps))
		return -EPROTO;
	memcpy(cl.domain, json_string_value(dom), dom_len + 1);
	memcpy(cl.caps, json_string_value(caps), caps_len + 1);
	cl.trust_ppm = (uint32_t)json_integer_value(trust);
	cl.expires = (uint64_t)json_integer_value(exp);
	/* jansson refuses \u0000 inside a string, so the lengths are the C strings' too. */
	PF_ASSERT(strlen(cl.domain) == dom_len && strlen(cl.caps) == caps_len);
	if (token_claims_check(&cl, dom_len, caps_len) < 0)
		return -EPROTO;
	cl.size = ret->size;
	*ret = cl;
	return 0;
}

int pf_control_present(const char *path, uint32_t daemon_uid, const char *token,
		       struct pf_token_claims *ret)
{
	char req[PF_TOKEN_TEXT_MAX + 16], reply[PF_CONTROL_REPLY_MAX];
	json_t *doc;
	int r;

	if (token == NULL || (ret != NULL && ret->size < sizeof(*ret)))
		return -EINVAL;
	if (snprintf(req, sizeof(req), "join-token %s", token) >= (int)sizeof(req))
		return -EBADMSG; /* longer than any token */
	r = pf_control_request(path, daemon_uid, req, reply, sizeof(reply), 0);
	if (r < 0)
		return r;
	PF_ASSERT((size_t)r < sizeof(reply));
	doc = json_loadb(reply, (size_t)r, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(doc))
		r = -EPROTO;
	else if (!json_is_true(json_object_get(doc, "ok")))
		r = refusal_errno(json_string_value(json_object_get(doc, "error")));
	else
		r = ret != NULL ? claims_from(doc, ret) : 0;
	json_decref(doc);
	return r;
}

/* SPDX-License-Identifier: MIT */
/*
 * core/policy_names.c: the words of a governance verdict (pflight/policy.h).
 *
 * In the worker's library although policies are judged by the control plane
 * (ctl/policy.c): a worker whose join is refused reads the verdict in these terms
 * (pf_member_opts.refusal) and should be able to say it without linking the judge.
 */
#include <stdint.h>

#include "pflight/policy.h"
#include "shm/pf_compiler.h"

static const char *const action_names[] = {"can_register", "can_assign", "can_handoff"};
static const char *const check_names[] = {"allowed",        "namespaces",  "uids",
					  "gids",           "executables", "sha256",
					  "capabilities",   "min_trust",   "vnodes_per_member_max",
					  "token_required", "token_caps",  "identity"};
_Static_assert(PF_ARRAY_SIZE(check_names) == PF_POLICY_CHECK_MAX + 1, "a name per check");

PF_API const char *pf_policy_action_name(uint32_t action)
{
	return action < PF_ARRAY_SIZE(action_names) ? action_names[action] : NULL;
}

PF_API const char *pf_policy_check_name(uint32_t check)
{
	return check < PF_ARRAY_SIZE(check_names) ? check_names[check] : NULL;
}

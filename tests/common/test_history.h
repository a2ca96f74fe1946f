/* SPDX-License-Identifier: MIT */
/*
 * tests/common/test_history.h: a failure history for an identity key, as the crashes of
 * its workers would leave it (core's internal API: for tests that link pf_internal).
 */
#ifndef PF_TEST_HISTORY_H
#define PF_TEST_HISTORY_H

#include <errno.h>
#include <stdint.h>

#include "core/member_impl.h"

/* `failures` members of as->identity_key join and are declared dead (hung) by sup: every
 * live member of the key sees its reliability halved that many times. 0 or -errno. */
static inline int test_key_failures(struct pf_domain *d, struct pf_supervisor *sup,
				    const struct pf_member_opts *opts, const struct member_as *as,
				    int failures)
{
	for (int i = 0; i < failures; i++) {
		struct pf_member *dying;
		int r = member_join_as(d, opts, as, &dying);

		if (r < 0)
			return r;
		r = supervisor_declare_dead(sup, (uint32_t)pf_member_id(dying),
					    (uint32_t)(pf_member_id(dying) >> 32), PF_DEATH_HUNG);
		if (r < 0)
			return r;
		if (pf_member_leave(dying) != -ESTALE)
			return -EPROTO; /* declared dead: its leave must say so */
	}
	return 0;
}

#endif /* PF_TEST_HISTORY_H */

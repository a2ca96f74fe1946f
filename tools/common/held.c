/* SPDX-License-Identifier: MIT */
/*
 * tools/common/held.c: VNodes per member slot (held.h).
 */
#include <stdlib.h>
#include <string.h>

#include "held.h"

#define GEN_NONE UINT32_MAX

uint32_t held_count(struct pf_domain *d, uint32_t vnodes, uint32_t *held, uint32_t slots)
{
	uint32_t *gen = malloc((slots + 1) * sizeof(*gen)), n = 0;

	memset(held, 0, slots * sizeof(*held));
	if (gen == NULL)
		return 0;
	for (uint32_t s = 0; s < slots; s++) {
		struct pf_member_info mi = {.size = sizeof(mi)};

		/* An ownership word names the low 16 bits of its owner's generation. */
		gen[s] = pf_member_info(d, s, &mi) == 0 && mi.state != PF_MEMBER_FREE
				 ? mi.generation & 0xffffu
				 : GEN_NONE;
	}
	for (uint32_t id = 0; id < vnodes; id++) {
		struct pf_vnode_info vi = {.size = sizeof(vi)};

		if (pf_vnode_info(d, id, &vi) < 0 || vi.owner_slot >= slots ||
		    (vi.state != PF_VNODE_ACTIVE && vi.state != PF_VNODE_MIGRATING &&
		     vi.state != PF_VNODE_DRAINING) ||
		    vi.owner_generation != gen[vi.owner_slot])
			continue;
		held[vi.owner_slot]++;
		n++;
	}
	free(gen);
	return n;
}

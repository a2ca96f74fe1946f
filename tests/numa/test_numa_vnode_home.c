/* SPDX-License-Identifier: MIT */
/*
 * tests/numa/test_numa_vnode_home.c
 * Goal: on a machine with several NUMA nodes, a VNode's checkpoint slots and inbox live
 * on its home node's memory. Method: a domain with 64 KiB states (whole pages per
 * VNode), one VNode homed on each node; commit a checkpoint and send messages (so the
 * pages are touched), then ask move_pages where each page is. Skips (77) on a machine
 * with a single node, saying so.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/member_impl.h"
#include "pflight/pflight.h"
#include "tests/common/test_util.h"

#define STATE_BYTES (64u << 10)

static int check_range(const unsigned char *base, size_t bytes, int home, const char *what)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	uintptr_t lo = ((uintptr_t)base + page - 1) & ~(uintptr_t)(page - 1);
	int bad = 0;

	for (uintptr_t p = lo; p + page <= (uintptr_t)base + bytes; p += page) {
		int node = -1, r = pf_numa_node_of_addr((const void *)p, &node);

		if (r == -ENOENT)
			continue; /* never touched */
		if (r < 0 || node != home) {
			fprintf(stderr, "%s page %p: node %d (want %d), r %d\n", what, (void *)p,
				node, home, r);
			bad++;
		}
	}
	return bad;
}

int main(void)
{
	static unsigned char state[STATE_BYTES];
	struct pf_domain_opts o;
	struct pf_domain *d;
	struct pf_member *m;
	struct pf_numa *t;
	char name[64];
	int nodes, bad = 0;

	if (pf_numa_open_system(&t) < 0 || (nodes = pf_numa_nodes(t)) < 2) {
		printf("SKIP: this machine has a single NUMA node; nothing to place\n");
		return 77;
	}
	test_domain_name(name, sizeof(name), "numahome");
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.vnodes_max = (uint32_t)nodes;
	o.state_bytes_max = STATE_BYTES;
	o.inbox_slots = 64;
	o.msg_bytes_max = 4000;
	if (pf_domain_create(name, &o, &d) < 0 || pf_member_join(d, NULL, &m) < 0)
		return 1;
	for (int n = 0; n < nodes; n++) {
		struct pf_vnode_spec spec;
		struct pf_vnode *v;

		pf_vnode_spec_init(&spec);
		spec.home_node = n;
		if (pf_vnode_define(d, (uint32_t)n, &spec) < 0 ||
		    pf_vnode_claim_id(m, (uint32_t)n, &v) < 0)
			return 1;
		memset(state, n + 1, sizeof(state));
		for (int k = 0; k < 64; k++)
			if (pf_send(d, (uint32_t)n, state, 4000) < 0)
				return 1;
		if (pf_checkpoint_commit(v, pf_vnode_epoch(v), state, sizeof(state)) < 0)
			return 1;
		bad += check_range((const unsigned char *)ckpt_buffer(d, 2 * (uint32_t)n),
				   2 * d->lim.ckpt_slot_bytes, n, "checkpoint");
		bad += check_range((const unsigned char *)inbox_slot(d, (uint32_t)n, 0),
				   (size_t)d->lim.inbox_slots * d->lim.inbox_slot_bytes, n,
				   "inbox");
	}
	(void)pf_member_leave(m);
	(void)pf_domain_destroy(d);
	pf_numa_close(t);
	printf("%d nodes: VNode state on its home node: %s\n", nodes, bad == 0 ? "yes" : "NO");
	return bad == 0 ? 0 : 1;
}

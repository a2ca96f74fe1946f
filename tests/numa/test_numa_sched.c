/* SPDX-License-Identifier: MIT */
/*
 * tests/numa/test_numa_sched.c
 * Goal: on the synthetic topologies (2 nodes, 4 nodes with asymmetric distances, 8
 * nodes) the scheduler puts a VNode on its home node when a capable member is there,
 * spills it to the nearest node by distance otherwise, and keeps the balance across
 * nodes. Method: members declare their node (as they would from the CPU they run on),
 * VNodes their home; the scheduler gets the synthetic topology; decisions are checked
 * against the topology's own distances. Runs on any machine (no real NUMA needed).
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "pflight/pflight.h"
#include "tests/common/test_util.h"

#define PER_NODE 2
#define NODES_MAX 8

static char name[64];
static struct pf_domain *dom;
static struct pf_member *mem[NODES_MAX * PER_NODE];
static uint32_t nmem;

static void start(uint32_t vnodes)
{
	struct pf_domain_opts o;

	test_domain_name(name, sizeof(name), "numasched");
	pf_domain_opts_init(&o);
	o.flags = PF_DOMAIN_REPLACE;
	o.members_max = NODES_MAX * PER_NODE;
	o.vnodes_max = vnodes;
	o.assign_slots = 8192;
	assert_int_equal(pf_domain_create(name, &o, &dom), 0);
	nmem = 0;
}

static void stop(void)
{
	for (uint32_t i = 0; i < nmem; i++)
		assert_int_equal(pf_member_leave(mem[i]), 0);
	assert_int_equal(pf_domain_destroy(dom), 0);
}

static void add_members(int nodes, int skip_node, const char *cap)
{
	for (int n = 0; n < nodes; n++) {
		for (int k = 0; k < PER_NODE; k++) {
			const char *caps[1] = {cap};
			struct pf_member_opts o;

			pf_member_opts_init(&o);
			o.numa_node = n;
			o.vnode_capacity = 4096;
			if (n != skip_node && cap != NULL) {
				o.caps = caps;
				o.caps_count = 1;
			}
			assert_int_equal(pf_member_join(dom, &o, &mem[nmem]), 0);
			nmem++;
		}
	}
}

static void define(uint32_t id, int32_t home, const char *cap)
{
	const char *caps[1] = {cap};
	struct pf_vnode_spec spec;

	pf_vnode_spec_init(&spec);
	spec.home_node = home;
	if (cap != NULL) {
		spec.caps = caps;
		spec.caps_count = 1;
	}
	assert_int_equal(pf_vnode_define(dom, id, &spec), 0);
}

static struct pf_sched *sched_on(const struct pf_numa *t)
{
	struct pf_sched_opts so;
	struct pf_sched *s;

	pf_sched_opts_init(&so);
	so.numa = t;
	assert_int_equal(pf_sched_create(dom, &so, &s), 0);
	return s;
}

static void home_then_spill(const char *topology)
{
	struct pf_sched_decision dec = {.size = sizeof(dec)};
	struct pf_numa *t;
	struct pf_sched *s;
	int nodes;

	assert_int_equal(pf_numa_open_synthetic(topology, &t), 0);
	nodes = pf_numa_nodes(t);
	/* Home: every node has capable members; a VNode homed on n lands on n. */
	start(1024);
	add_members(nodes, -1, "gpu");
	s = sched_on(t);
	for (int n = 0; n < nodes; n++) {
		define((uint32_t)n, n, "gpu");
		assert_int_equal(pf_sched_place(s, (uint32_t)n, &dec), 0);
		assert_int_equal(dec.winner_node, n);
		assert_true(fabs(dec.numa_factor - 1.0) < 1e-12);
	}
	pf_sched_destroy(s);
	stop();
	/* Spill: node n has no capable member; the VNode goes to the nearest capable node
	 * (smallest distance from the member's node to the home, as the factor reads it). */
	for (int home = 0; home < nodes; home++) {
		int best = -1, best_d = 1 << 30;

		for (int n = 0; n < nodes; n++) {
			int dist = pf_numa_distance(t, n, home);

			if (n != home && dist < best_d) {
				best_d = dist;
				best = n;
			}
		}
		start(64);
		add_members(nodes, home, "gpu");
		s = sched_on(t);
		define(0, home, "gpu");
		assert_int_equal(pf_sched_place(s, 0, &dec), 0);
		assert_int_not_equal(dec.winner_node, home);
		assert_int_equal(pf_numa_distance(t, dec.winner_node, home), best_d);
		assert_true(fabs(dec.numa_factor - 10.0 / best_d) < 1e-12);
		(void)best;
		pf_sched_destroy(s);
		stop();
	}
	pf_numa_close(t);
}

static void test_numa_sched_home_and_spill_2node(void **state)
{
	(void)state;
	home_then_spill("2node");
}

static void test_numa_sched_home_and_spill_4node_asym(void **state)
{
	(void)state;
	home_then_spill("4node-asym");
}

static void test_numa_sched_home_and_spill_8node(void **state)
{
	(void)state;
	home_then_spill("8node");
}

/* Balance: VNodes homed evenly over the nodes end up evenly over the nodes and, inside
 * each node, evenly over its members. */
static void test_numa_sched_balance_8node(void **state)
{
	struct pf_sched_decision dec = {.size = sizeof(dec)};
	uint32_t per_node[NODES_MAX] = {0}, per_member[NODES_MAX * PER_NODE] = {0};
	struct pf_numa *t;
	struct pf_sched *s;
	const uint32_t n = 800;

	(void)state;
	assert_int_equal(pf_numa_open_synthetic("8node", &t), 0);
	start(n);
	add_members(8, -1, NULL);
	s = sched_on(t);
	for (uint32_t v = 0; v < n; v++) {
		define(v, (int32_t)(v % 8), NULL);
		assert_int_equal(pf_sched_place(s, v, &dec), 0);
		per_node[dec.winner_node]++;
		per_member[dec.winner_slot]++;
	}
	for (int k = 0; k < 8; k++)
		assert_int_equal(per_node[k], n / 8);
	for (uint32_t i = 0; i < nmem; i++)
		assert_true(per_member[i] == n / 16);
	pf_sched_destroy(s);
	stop();
	pf_numa_close(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numa_sched_home_and_spill_2node),
		cmocka_unit_test(test_numa_sched_home_and_spill_4node_asym),
		cmocka_unit_test(test_numa_sched_home_and_spill_8node),
		cmocka_unit_test(test_numa_sched_balance_8node),
	};

	return cmocka_run_group_tests_name("numa_sched", tests, NULL, NULL);
}

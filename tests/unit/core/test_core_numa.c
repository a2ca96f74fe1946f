/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/core/test_core_numa.c
 * Goal: synthetic topologies parse into exactly what their spec says, every malformed
 * spec is refused with -EINVAL (each rule broken once), the built-ins have the documented
 * matrices and nearest-node orders, the accessors refuse bad arguments, and the system
 * topology opens and is self-consistent. Memory placement is checked here only as far as
 * a single-node machine allows (argument checks, node_of_addr); tests/numa/ checks it
 * on real nodes.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "pf_config.h"
#include "pflight/numa.h"
#include "shm/fault.h"

#if PF_HAVE_NUMA
#include <numa.h>
#endif

#define SPEC4                                                                                      \
	"nodes=4;cpus=0-3,4-7,8-11,12-15;distances=10,16,22,28/16,10,22,28/22,22,10,16/"           \
	"28,28,16,10"

static struct pf_numa *open_ok(const char *spec)
{
	struct pf_numa *t = NULL;

	assert_int_equal(pf_numa_open_synthetic(spec, &t), 0);
	assert_non_null(t);
	return t;
}

static void check_matrix(const struct pf_numa *t, int n, const int *expect)
{
	int i, j;

	assert_int_equal(pf_numa_nodes(t), n);
	for (i = 0; i < n; i++)
		for (j = 0; j < n; j++)
			assert_int_equal(pf_numa_distance(t, i, j), expect[i * n + j]);
}

static void check_nearest(const struct pf_numa *t, int from, const int *expect, int n)
{
	int got[PF_NUMA_NODES_MAX];
	int i;

	assert_int_equal(pf_numa_nearest(t, from, PF_NUMA_NODES_MAX, got), n);
	for (i = 0; i < n; i++)
		assert_int_equal(got[i], expect[i]);
}

static void test_numa_spec_parses(void **state)
{
	static const int d[16] = {10, 16, 22, 28, 16, 10, 22, 28, 22, 22, 10, 16, 28, 28, 16, 10};
	struct pf_numa *t = open_ok(SPEC4);
	int cpus[8], cpu;

	(void)state;
	check_matrix(t, 4, d);
	for (cpu = 0; cpu < 16; cpu++)
		assert_int_equal(pf_numa_node_of_cpu(t, cpu), cpu / 4);
	assert_int_equal(pf_numa_node_of_cpu(t, 16), -ENOENT);
	assert_int_equal(pf_numa_node_of_cpu(t, (int)PF_NUMA_CPUS_MAX + 5), -ENOENT);
	assert_int_equal(pf_numa_node_of_cpu(t, -1), -EINVAL);
	assert_int_equal(pf_numa_cpus(t, 2, 0, NULL), 4);
	assert_int_equal(pf_numa_cpus(t, 2, 8, cpus), 4);
	assert_int_equal(cpus[0], 8);
	assert_int_equal(cpus[3], 11);
	assert_int_equal(pf_numa_cpus(t, 2, 3, cpus), -ENOBUFS);
	pf_numa_close(t);
}

static void test_numa_spec_multi_range_and_order(void **state)
{
	struct pf_numa *t;
	int cpus[8];

	(void)state;
	/* Fields in another order, several ranges per node, single CPUs, one node of one. */
	t = open_ok("distances=10,21,30/21,10,30/30,30,10;cpus=0-1+8-9,2+3+10,7;nodes=3");
	assert_int_equal(pf_numa_cpus(t, 0, 8, cpus), 4);
	assert_int_equal(cpus[0], 0);
	assert_int_equal(cpus[1], 1);
	assert_int_equal(cpus[2], 8);
	assert_int_equal(cpus[3], 9);
	assert_int_equal(pf_numa_cpus(t, 1, 8, cpus), 3);
	assert_int_equal(cpus[2], 10);
	assert_int_equal(pf_numa_cpus(t, 2, 8, cpus), 1);
	assert_int_equal(cpus[0], 7);
	assert_int_equal(pf_numa_node_of_cpu(t, 5), -ENOENT);
	assert_int_equal(pf_numa_node_of_cpu(t, 10), 1);
	pf_numa_close(t);
	/* Limits: one node, and the highest CPU id. */
	t = open_ok("nodes=1;cpus=8191;distances=10");
	assert_int_equal(pf_numa_node_of_cpu(t, 8191), 0);
	pf_numa_close(t);
}

static void test_numa_spec_64_nodes(void **state)
{
	char spec[PF_NUMA_SPEC_MAX];
	struct pf_numa *t;
	size_t at;
	int i, j;

	(void)state;
	at = (size_t)snprintf(spec, sizeof(spec), "nodes=64;cpus=");
	for (i = 0; i < 64; i++)
		at += (size_t)snprintf(spec + at, sizeof(spec) - at, "%s%d", i ? "," : "", i);
	at += (size_t)snprintf(spec + at, sizeof(spec) - at, ";distances=");
	for (i = 0; i < 64; i++)
		for (j = 0; j < 64; j++)
			at += (size_t)snprintf(spec + at, sizeof(spec) - at, "%s%d",
					       j ? "," : (i ? "/" : ""), i == j ? 10 : 20 + j);
	assert_true(at < sizeof(spec));
	t = open_ok(spec);
	assert_int_equal(pf_numa_nodes(t), 64);
	assert_int_equal(pf_numa_distance(t, 5, 63), 83);
	assert_int_equal(pf_numa_node_of_cpu(t, 63), 63);
	pf_numa_close(t);
	/* 65 nodes: the count alone is refused. */
	spec[6] = '5';
	assert_int_equal(pf_numa_open_synthetic(spec, &t), -EINVAL);
}

static void test_numa_spec_refuses_malformed(void **state)
{
	static const char *const bad[] = {
		/* node count */
		"nodes=0;cpus=;distances=",
		"nodes=65;cpus=0;distances=10",
		"nodes=-1;cpus=0;distances=10",
		"nodes=+1;cpus=0;distances=10",
		"nodes=;cpus=0;distances=10",
		"nodes=000001;cpus=0;distances=10",
		"nodes=2x;cpus=0,1;distances=10,20/20,10",
		/* CPU ranges */
		"nodes=1;cpus=3-1;distances=10",
		"nodes=1;cpus=8192;distances=10",
		"nodes=1;cpus=0-8192;distances=10",
		"nodes=1;cpus=-1;distances=10",
		"nodes=1;cpus=1-;distances=10",
		"nodes=1;cpus=0-1-2;distances=10",
		"nodes=2;cpus=0;distances=10,20/20,10",
		"nodes=2;cpus=0,1,2;distances=10,20/20,10",
		"nodes=2;cpus=0,;distances=10,20/20,10",
		"nodes=2;cpus=,1;distances=10,20/20,10",
		"nodes=2;cpus=0,1+;distances=10,20/20,10",
		/* overlapping CPUs */
		"nodes=2;cpus=0-3,3-7;distances=10,20/20,10",
		"nodes=1;cpus=0-3+2;distances=10",
		"nodes=2;cpus=0+5,5;distances=10,20/20,10",
		/* matrix not square */
		"nodes=2;cpus=0,1;distances=10,20/20",
		"nodes=2;cpus=0,1;distances=10,20,30/20,10,30",
		"nodes=2;cpus=0,1;distances=10,20/20,10/10,10",
		"nodes=2;cpus=0,1;distances=10,20",
		"nodes=2;cpus=0,1;distances=10/20,10",
		"nodes=2;cpus=0,1;distances=10,20,20,10",
		/* diagonal != 10 */
		"nodes=2;cpus=0,1;distances=11,20/20,10",
		"nodes=2;cpus=0,1;distances=10,20/20,20",
		/* distance out of range */
		"nodes=2;cpus=0,1;distances=10,9/20,10",
		"nodes=2;cpus=0,1;distances=10,256/20,10",
		"nodes=2;cpus=0,1;distances=10,0/20,10",
		"nodes=2;cpus=0,1;distances=10,99999/20,10",
		"nodes=2;cpus=0,1;distances=10,,20/20,10",
		/* fields missing, repeated, unknown; junk */
		"",
		"nodes=1",
		"nodes=1;cpus=0",
		"cpus=0;distances=10",
		"nodes=1;nodes=1;cpus=0;distances=10",
		"nodes=1;cpus=0;distances=10;",
		";nodes=1;cpus=0;distances=10",
		"nodes=1;;cpus=0;distances=10",
		"nodes=1;cpus=0;distances=10;extra=1",
		"nodes=1;cpu=0;distances=10",
		"Nodes=1;cpus=0;distances=10",
		"nodes = 1;cpus=0;distances=10",
		"nodes=1;cpus=0 ;distances=10",
		"nodes=1;cpus=0;distances=10\n",
		"nodes=1;cpus=0;distances=0x0a",
		"2nodes",
		"4node",
		"8node ",
	};
	struct pf_numa *t = (struct pf_numa *)&t;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = pf_numa_open_synthetic(bad[i], &t);

		if (r != -EINVAL)
			print_error("spec accepted or wrong errno (%d): \"%s\"\n", r, bad[i]);
		assert_int_equal(r, -EINVAL);
		/* Nothing is written on failure. */
		assert_ptr_equal(t, (struct pf_numa *)&t);
	}
	assert_int_equal(pf_numa_open_synthetic(NULL, &t), -EINVAL);
	assert_int_equal(pf_numa_open_synthetic("2node", NULL), -EINVAL);
}

static void test_numa_spec_too_long(void **state)
{
	static char spec[PF_NUMA_SPEC_MAX + 16];
	struct pf_numa *t;
	size_t at, step;
	int cpu;

	(void)state;
	/* One node of many single CPUs: valid at every length; grow it to the limit. */
	at = (size_t)snprintf(spec, sizeof(spec), "nodes=1;distances=10;cpus=0");
	for (cpu = 1;; cpu++) {
		step = (size_t)snprintf(spec + at, sizeof(spec) - at, "+%d", cpu);
		if (at + step > PF_NUMA_SPEC_MAX)
			break;
		at += step;
	}
	spec[at] = '\0';
	assert_int_equal(pf_numa_open_synthetic(spec, &t), 0);
	assert_int_equal(pf_numa_cpus(t, 0, 0, NULL), cpu);
	pf_numa_close(t);
	/* One CPU more is one range past PF_NUMA_SPEC_MAX bytes. */
	(void)snprintf(spec + at, sizeof(spec) - at, "+%d", cpu);
	assert_true(strlen(spec) > PF_NUMA_SPEC_MAX);
	assert_int_equal(pf_numa_open_synthetic(spec, &t), -EINVAL);
}

static void test_numa_builtin_2node(void **state)
{
	static const int d[4] = {10, 21, 21, 10};
	static const int from1[2] = {1, 0};
	struct pf_numa *t = open_ok("2node");

	(void)state;
	check_matrix(t, 2, d);
	check_nearest(t, 1, from1, 2);
	assert_int_equal(pf_numa_node_of_cpu(t, 3), 0);
	assert_int_equal(pf_numa_node_of_cpu(t, 4), 1);
	assert_int_equal(pf_numa_cpus(t, 1, 0, NULL), 4);
	pf_numa_close(t);
}

static void test_numa_builtin_4node_asym(void **state)
{
	static const int d[16] = {10, 16, 22, 28, 20, 10, 22, 28, 22, 22, 10, 16, 26, 28, 18, 10};
	static const int from0[4] = {0, 1, 2, 3};
	static const int from1[4] = {1, 0, 2, 3};
	static const int from2[4] = {2, 3, 0, 1}; /* 0 and 1 tie at 22: smaller first */
	static const int from3[4] = {3, 2, 0, 1};
	struct pf_numa *t = open_ok("4node-asym");
	int i, j, asym = 0;

	(void)state;
	check_matrix(t, 4, d);
	for (i = 0; i < 4; i++)
		for (j = 0; j < 4; j++)
			asym += pf_numa_distance(t, i, j) != pf_numa_distance(t, j, i);
	assert_true(asym > 0);
	/* Lookups go from -> to: the factor follows the member's row. */
	assert_int_equal(pf_numa_distance(t, 0, 1), 16);
	assert_int_equal(pf_numa_distance(t, 1, 0), 20);
	assert_true(pf_numa_factor(t, 0, 1) == 10.0 / 16.0);
	assert_true(pf_numa_factor(t, 1, 0) == 10.0 / 20.0);
	assert_true(pf_numa_factor(t, 3, 0) == 10.0 / 26.0);
	check_nearest(t, 0, from0, 4);
	check_nearest(t, 1, from1, 4);
	check_nearest(t, 2, from2, 4);
	check_nearest(t, 3, from3, 4);
	for (i = 0; i < 16; i++)
		assert_int_equal(pf_numa_node_of_cpu(t, i), i / 4);
	pf_numa_close(t);
}

static void test_numa_builtin_8node(void **state)
{
	static const int from0[8] = {0, 1, 2, 3, 4, 5, 6, 7};
	static const int from6[8] = {6, 4, 5, 7, 0, 1, 2, 3};
	struct pf_numa *t = open_ok("8node");
	int i, j, d, got[3];

	(void)state;
	assert_int_equal(pf_numa_nodes(t), 8);
	for (i = 0; i < 8; i++) {
		for (j = 0; j < 8; j++) {
			d = i == j ? 10 : (i / 4 == j / 4 ? 12 : 32);
			assert_int_equal(pf_numa_distance(t, i, j), d);
		}
		assert_int_equal(pf_numa_cpus(t, i, 0, NULL), 8);
	}
	for (i = 0; i < 64; i++)
		assert_int_equal(pf_numa_node_of_cpu(t, i), i / 8);
	check_nearest(t, 0, from0, 8);
	check_nearest(t, 6, from6, 8);
	/* k smaller than the node count: the k nearest. */
	assert_int_equal(pf_numa_nearest(t, 5, 3, got), 3);
	assert_int_equal(got[0], 5);
	assert_int_equal(got[1], 4);
	assert_int_equal(got[2], 6);
	assert_int_equal(pf_numa_nearest(t, 5, 0, got), 0);
	assert_true(pf_numa_factor(t, 0, 3) == 10.0 / 12.0);
	assert_true(pf_numa_factor(t, 0, 7) == 10.0 / 32.0);
	pf_numa_close(t);
}

static void test_numa_factor(void **state)
{
	struct pf_numa *t = open_ok("nodes=3;cpus=0,1,2;distances=10,10,255/20,10,40/80,20,10");
	int m, h;

	(void)state;
	assert_true(pf_numa_factor(t, 0, 0) == 1.0);
	assert_true(pf_numa_factor(t, 0, 1) == 1.0); /* off-diagonal 10 is local too */
	assert_true(pf_numa_factor(t, 1, 0) == 0.5);
	assert_true(pf_numa_factor(t, 1, 2) == 0.25);
	assert_true(pf_numa_factor(t, 2, 0) == 0.125);
	assert_true(pf_numa_factor(t, 0, 2) == 10.0 / 255.0);
	assert_true(pf_numa_factor(t, 2, -1) == 1.0);
	assert_true(pf_numa_factor(t, -1, 2) == 1.0);
	for (m = 0; m < 3; m++) {
		for (h = 0; h < 3; h++) {
			double f = pf_numa_factor(t, m, h);

			assert_true(f > 0.0 && f <= 1.0);
		}
	}
	/* Caller errors: 0.0, outside (0, 1]. */
	assert_true(pf_numa_factor(t, 3, 0) == 0.0);
	assert_true(pf_numa_factor(t, 0, 3) == 0.0);
	assert_true(pf_numa_factor(NULL, 0, 0) == 0.0);
	pf_numa_close(t);
}

static void test_numa_nearest_tie_before_self(void **state)
{
	static const int from1[3] = {0, 1, 2};
	struct pf_numa *t = open_ok("nodes=3;cpus=0,1,2;distances=10,10,255/10,10,40/80,20,10");

	(void)state;
	/* Node 0 ties with node 1 itself at 10 and has the smaller number. */
	check_nearest(t, 1, from1, 3);
	pf_numa_close(t);
}

static void test_numa_accessors_refuse_bad_args(void **state)
{
	struct pf_numa *t = open_ok("2node");
	int out[4], node, cpu;

	(void)state;
	assert_int_equal(pf_numa_nodes(NULL), -EINVAL);
	assert_int_equal(pf_numa_distance(NULL, 0, 0), -EINVAL);
	assert_int_equal(pf_numa_distance(t, -1, 0), -EINVAL);
	assert_int_equal(pf_numa_distance(t, 0, 2), -EINVAL);
	assert_int_equal(pf_numa_distance(t, 2, 0), -EINVAL);
	assert_int_equal(pf_numa_node_of_cpu(NULL, 0), -EINVAL);
	assert_int_equal(pf_numa_cpus(NULL, 0, 4, out), -EINVAL);
	assert_int_equal(pf_numa_cpus(t, 2, 4, out), -EINVAL);
	assert_int_equal(pf_numa_cpus(t, -1, 4, out), -EINVAL);
	assert_int_equal(pf_numa_nearest(NULL, 0, 4, out), -EINVAL);
	assert_int_equal(pf_numa_nearest(t, 2, 4, out), -EINVAL);
	assert_int_equal(pf_numa_nearest(t, 0, 4, NULL), -EINVAL);
	assert_int_equal(pf_numa_current_node(NULL, &node, &cpu), -EINVAL);
	assert_int_equal(pf_numa_bind(NULL, out, 4096, 0), -EINVAL);
	assert_int_equal(pf_numa_node_of_addr(NULL, &node), -EINVAL);
	assert_int_equal(pf_numa_node_of_addr(out, NULL), -EINVAL);
	pf_numa_close(t);
	pf_numa_close(NULL);
}

static void test_numa_current_node_synthetic(void **state)
{
	struct pf_numa *t = open_ok("nodes=2;cpus=0-1+6,10-12;distances=10,20/20,10");
	int node = -1, cpu = -1;

	(void)state;
	assert_int_equal(pf_numa_current_node(t, &node, &cpu), 0);
	assert_in_range(node, 0, 1);
	assert_int_equal(pf_numa_node_of_cpu(t, cpu), node);
	assert_int_equal(pf_numa_current_node(t, NULL, NULL), 0);
	pf_numa_close(t);
}

static int machine_nodes(void)
{
#if PF_HAVE_NUMA
	if (numa_available() >= 0)
		return numa_num_configured_nodes();
#endif
	return 1;
}

static void test_numa_system_consistent(void **state)
{
	int i, j, n, cpus, total = 0, node, cpu, got[PF_NUMA_NODES_MAX];
	int list[PF_NUMA_CPUS_MAX];
	struct pf_numa *t = NULL;

	(void)state;
	assert_int_equal(pf_numa_open_system(NULL), -EINVAL);
	assert_int_equal(pf_numa_open_system(&t), 0);
	n = pf_numa_nodes(t);
	assert_in_range(n, 1, PF_NUMA_NODES_MAX);
	for (i = 0; i < n; i++) {
		assert_int_equal(pf_numa_distance(t, i, i), 10);
		for (j = 0; j < n; j++)
			assert_in_range(pf_numa_distance(t, i, j), 10, 255);
		cpus = pf_numa_cpus(t, i, PF_NUMA_CPUS_MAX, list);
		assert_true(cpus >= 0);
		for (j = 0; j < cpus; j++)
			assert_int_equal(pf_numa_node_of_cpu(t, list[j]), i);
		total += cpus;
		assert_int_equal(pf_numa_nearest(t, i, PF_NUMA_NODES_MAX, got), n);
		for (j = 1; j < n; j++)
			assert_true(pf_numa_distance(t, i, got[j - 1]) <=
				    pf_numa_distance(t, i, got[j]));
	}
	/* Every CPU we may run on is in the topology (online at open). */
	assert_true(total >= 1);
	assert_true(total >= (int)sysconf(_SC_NPROCESSORS_ONLN) || n > 1);
	assert_int_equal(pf_numa_current_node(t, &node, &cpu), 0);
	assert_in_range(node, 0, n - 1);
	assert_int_equal(pf_numa_node_of_cpu(t, cpu), node);
	if (machine_nodes() <= 1)
		assert_int_equal(n, 1);
	pf_numa_close(t);
}

static void test_numa_bind_and_node_of_addr(void **state)
{
	long page = sysconf(_SC_PAGESIZE);
	struct pf_numa *sys = NULL, *four = open_ok("4node-asym");
	int node = -1, machine = machine_nodes(), r;
	char *mem;

	(void)state;
	assert_int_equal(pf_numa_open_system(&sys), 0);
	mem = mmap(NULL, (size_t)page * 4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		   0);
	assert_true(mem != MAP_FAILED);
	/* Argument checks hold on any machine. */
	assert_int_equal(pf_numa_bind(sys, mem + 1, (size_t)page, 0), -EINVAL);
	assert_int_equal(pf_numa_bind(sys, mem, 0, 0), -EINVAL);
	assert_int_equal(pf_numa_bind(sys, NULL, (size_t)page, 0), -EINVAL);
	assert_int_equal(pf_numa_bind(sys, mem, (size_t)page, pf_numa_nodes(sys)), -EINVAL);
	assert_int_equal(pf_numa_bind(four, mem, (size_t)page, 4), -EINVAL);
	assert_int_equal(pf_numa_bind(four, mem, (size_t)page, -1), -EINVAL);
	/* Node 0 exists everywhere; node 3 of a synthetic topology only on a big machine. */
	assert_int_equal(pf_numa_bind(sys, mem, (size_t)page * 4, 0), 0);
	r = pf_numa_bind(four, mem, (size_t)page, 3);
	if (machine <= 1)
		assert_int_equal(r, 0);
	else if (machine < 4)
		assert_int_equal(r, -EINVAL);
	/* Not touched yet: no page behind the address. */
	assert_int_equal(pf_numa_node_of_addr(mem + page, &node), -ENOENT);
	memset(mem, 1, (size_t)page * 4);
	assert_int_equal(pf_numa_node_of_addr(mem + page + 5, &node), 0);
	assert_in_range(node, 0, PF_NUMA_NODES_MAX - 1);
	if (machine <= 1)
		assert_int_equal(node, 0);
	assert_int_equal(munmap(mem, (size_t)page * 4), 0);
	pf_numa_close(sys);
	pf_numa_close(four);
}

/* Each allocation failed once in turn (SQLite-style sweep); ASan checks for leaks. */
static void test_numa_alloc_failure_leaks_nothing(void **state)
{
#if PF_FAULT_INJECTION
	struct pf_numa *t = NULL;
	uint64_t n;
	int r;

	(void)state;
	for (n = 1; n < 16; n++) {
		fault_arm(FAULT_ALLOC, n, FAULT_MODE_FAIL_ONCE);
		r = pf_numa_open_system(&t);
		if (r == 0)
			break;
		assert_int_equal(r, -ENOMEM);
		assert_null(t);
	}
	assert_int_equal(r, 0);
	pf_numa_close(t);
	t = NULL;
	fault_arm(FAULT_ALLOC, 1, FAULT_MODE_FAIL_ONCE);
	assert_int_equal(pf_numa_open_synthetic("8node", &t), -ENOMEM);
	assert_null(t);
	fault_disarm_all();
#else
	(void)state; /* built without fault points: nothing to sweep */
#endif
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_numa_spec_parses),
		cmocka_unit_test(test_numa_spec_multi_range_and_order),
		cmocka_unit_test(test_numa_spec_64_nodes),
		cmocka_unit_test(test_numa_spec_refuses_malformed),
		cmocka_unit_test(test_numa_spec_too_long),
		cmocka_unit_test(test_numa_builtin_2node),
		cmocka_unit_test(test_numa_builtin_4node_asym),
		cmocka_unit_test(test_numa_builtin_8node),
		cmocka_unit_test(test_numa_factor),
		cmocka_unit_test(test_numa_nearest_tie_before_self),
		cmocka_unit_test(test_numa_accessors_refuse_bad_args),
		cmocka_unit_test(test_numa_current_node_synthetic),
		cmocka_unit_test(test_numa_system_consistent),
		cmocka_unit_test(test_numa_bind_and_node_of_addr),
		cmocka_unit_test(test_numa_alloc_failure_leaks_nothing),
	};

	return cmocka_run_group_tests_name("core_numa", tests, NULL, NULL);
}

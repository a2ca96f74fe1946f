/* SPDX-License-Identifier: MIT */
/*
 * tests/numa/test_numa_placement.c
 * Goal: pf_numa_bind() places shared-memory pages on the node asked for, and
 * pf_numa_node_of_addr() reports it. Method: one shm_open + mmap(MAP_SHARED) region, a
 * slice per node with memory; bind each slice to its node before touching it, touch
 * every page, and check each page's node with move_pages(2) status. Then bind the first
 * slice again, to another node, and check that MPOL_MF_MOVE moved its pages there.
 * Exit-code protocol: 0 pass, 1 fail, 77 skip (fewer than two nodes with memory).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pf_config.h"
#include "pflight/numa.h"

#if PF_HAVE_NUMA
#include <numa.h>
#endif

#define PAGES_PER_NODE 64u

static int failures;

#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);            \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			failures++;                                                                \
		}                                                                                  \
	} while (0)

/* Nodes of the topology that have memory we may allocate from; returns their count. */
static int memory_nodes(const struct pf_numa *t, int *ret_nodes)
{
	int node, count = 0;

	for (node = 0; node < pf_numa_nodes(t); node++) {
#if PF_HAVE_NUMA
		if (numa_available() < 0 ||
		    !numa_bitmask_isbitset(numa_all_nodes_ptr, (unsigned int)node))
			continue;
#else
		if (node > 0)
			continue;
#endif
		ret_nodes[count++] = node;
	}
	return count;
}

/* Every page of [base, base + pages * page) must be on `node`; returns the misplaced. */
static int check_pages(char *base, size_t pages, size_t page, int node, const char *stage)
{
	int got, r, wrong = 0;
	size_t i;

	for (i = 0; i < pages; i++) {
		got = -1;
		r = pf_numa_node_of_addr(base + i * page, &got);
		CHECK(r == 0, "%s: page %zu: pf_numa_node_of_addr: %s", stage, i, strerror(-r));
		if (r == 0 && got != node)
			wrong++;
	}
	CHECK(wrong == 0, "%s: %d of %zu pages not on node %d", stage, wrong, pages, node);
	return wrong;
}

static void place_each_node(const struct pf_numa *t, char *base, size_t page, const int *nodes,
			    int count)
{
	const size_t slice = PAGES_PER_NODE * page;
	int i, r;

	for (i = 0; i < count; i++) {
		char *s = base + (size_t)i * slice;

		r = pf_numa_bind(t, s, slice, nodes[i]);
		CHECK(r == 0, "bind slice %d to node %d: %s", i, nodes[i], strerror(-r));
		memset(s, 0x5a, slice); /* first touch: allocated under the policy */
	}
	for (i = 0; i < count; i++) {
		char stage[64];

		(void)snprintf(stage, sizeof(stage), "placed on node %d", nodes[i]);
		(void)check_pages(base + (size_t)i * slice, PAGES_PER_NODE, page, nodes[i], stage);
	}
}

static void move_first_slice(const struct pf_numa *t, char *base, size_t page, int to)
{
	const size_t slice = PAGES_PER_NODE * page;
	int r;

	/* Only this process maps the (unlinked) object, so MPOL_MF_MOVE may move it. */
	r = pf_numa_bind(t, base, slice, to);
	CHECK(r == 0, "rebind slice 0 to node %d: %s", to, strerror(-r));
	(void)check_pages(base, PAGES_PER_NODE, page, to, "moved by MPOL_MF_MOVE");
	CHECK(base[0] == 0x5a && base[slice - 1] == 0x5a, "contents survived the move");
}

static int run(const struct pf_numa *t, const int *nodes, int count)
{
	const size_t page = (size_t)sysconf(_SC_PAGESIZE);
	const size_t bytes = (size_t)count * PAGES_PER_NODE * page;
	char name[64];
	char *base;
	int fd;

	(void)snprintf(name, sizeof(name), "/pf-test-numa_placement-%d", (int)getpid());
	fd = shm_open(name, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		perror("shm_open");
		return 1;
	}
	(void)shm_unlink(name); /* the mapping keeps it alive; nothing left behind */
	if (ftruncate(fd, (off_t)bytes) < 0) {
		perror("ftruncate");
		(void)close(fd);
		return 1;
	}
	base = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	(void)close(fd);
	if (base == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	place_each_node(t, base, page, nodes, count);
	move_first_slice(t, base, page, nodes[1]);
	(void)munmap(base, bytes);
	return failures == 0 ? 0 : 1;
}

int main(void)
{
	int nodes[PF_NUMA_NODES_MAX], count, r;
	struct pf_numa *t;

	r = pf_numa_open_system(&t);
	if (r < 0) {
		fprintf(stderr, "FAIL: pf_numa_open_system: %s\n", strerror(-r));
		return 1;
	}
	count = memory_nodes(t, nodes);
	if (count < 2) {
		printf("SKIP: this machine has %d NUMA node(s) with memory (%d in all); placement "
		       "needs at least 2\n",
		       count, pf_numa_nodes(t));
		pf_numa_close(t);
		return 77;
	}
	printf("placing %u pages on each of %d nodes\n", PAGES_PER_NODE, count);
	r = run(t, nodes, count);
	pf_numa_close(t);
	printf("%s (%d failed checks)\n", r == 0 ? "PASS" : "FAIL", failures);
	return r;
}

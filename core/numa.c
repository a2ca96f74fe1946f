/* SPDX-License-Identifier: MIT */
/*
 * core/numa.c: NUMA topology and memory placement (pflight/numa.h).
 *
 * Design. A topology is one immutable heap object: the node count, an N x N byte matrix
 * of distances and a CPU -> node table indexed by CPU id (-1: no node). The system
 * topology and synthetic ones fill the same object, and one validator (topology_valid)
 * checks both before a constructor returns, so every accessor can trust it.
 *
 * The synthetic parser works on spans of the caller's string (no copies, no allocation
 * besides the object itself): it first splits the three fields, then parses the node
 * count, the CPU sets and the matrix, refusing anything the grammar in the header does
 * not allow. It never reads past the terminating NUL, and a spec is at most
 * PF_NUMA_SPEC_MAX bytes.
 *
 * Placement talks to the kernel directly (mbind(2), move_pages(2) through syscall(2))
 * so it is the same code with and without libnuma; libnuma only tells how many nodes
 * the machine has, and without it the machine counts as a single node.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/mempolicy.h>

#include "pf_config.h"
#include "pflight/numa.h"
#include "shm/fault.h"
#include "shm/pf_assert.h"

#if PF_HAVE_NUMA
#include <numa.h>
#endif

_Static_assert(PF_NUMA_NODES_MAX <= INT16_MAX, "a node must fit the int16_t CPU table");
_Static_assert(PF_NUMA_CPUS_MAX <= INT_MAX / 2, "CPU ids are returned as int");
_Static_assert(PF_NUMA_DISTANCE_MAX <= UINT8_MAX, "distances are stored as bytes");
_Static_assert(PF_NUMA_NODES_MAX % (sizeof(unsigned long) * CHAR_BIT) == 0,
	       "the mbind node mask is a whole number of words");

struct pf_numa {
	uint32_t nodes;   /* 1 .. PF_NUMA_NODES_MAX */
	uint32_t cpu_ids; /* one past the highest CPU id of any node */
	uint32_t cpus;    /* CPUs in all nodes */
	bool synthetic;
	uint8_t distance[PF_NUMA_NODES_MAX][PF_NUMA_NODES_MAX];
	int16_t cpu_node[PF_NUMA_CPUS_MAX]; /* -1: the CPU is in no node */
};

struct span {
	const char *p;
	const char *end;
};

/* Built-in topologies, in the spec grammar (documented in pflight/numa.h). */
static const struct {
	const char *name;
	const char *spec;
} builtins[] = {
	{"2node", "nodes=2;cpus=0-3,4-7;distances=10,21/21,10"},
	{"4node-asym", "nodes=4;cpus=0-3,4-7,8-11,12-15;"
		       "distances=10,16,22,28/20,10,22,28/22,22,10,16/26,28,18,10"},
	{"8node", "nodes=8;cpus=0-7,8-15,16-23,24-31,32-39,40-47,48-55,56-63;distances="
		  "10,12,12,12,32,32,32,32/12,10,12,12,32,32,32,32/"
		  "12,12,10,12,32,32,32,32/12,12,12,10,32,32,32,32/"
		  "32,32,32,32,10,12,12,12/32,32,32,32,12,10,12,12/"
		  "32,32,32,32,12,12,10,12/32,32,32,32,12,12,12,10"},
};

static struct pf_numa *topology_alloc(bool synthetic)
{
	struct pf_numa *t = PF_FAULT_FAIL(ALLOC) ? NULL : calloc(1, sizeof(*t));
	uint32_t cpu;

	if (t == NULL)
		return NULL;
	for (cpu = 0; cpu < PF_NUMA_CPUS_MAX; cpu++)
		t->cpu_node[cpu] = -1;
	t->synthetic = synthetic;
	return t;
}

/* The invariants every accessor relies on; checked before a constructor returns. */
static bool topology_valid(const struct pf_numa *t)
{
	uint32_t i, j, cpus = 0;

	if (t->nodes < 1 || t->nodes > PF_NUMA_NODES_MAX || t->cpu_ids > PF_NUMA_CPUS_MAX)
		return false;
	for (i = 0; i < t->nodes; i++) {
		if (t->distance[i][i] != PF_NUMA_DISTANCE_LOCAL)
			return false;
		for (j = 0; j < t->nodes; j++)
			if (t->distance[i][j] < PF_NUMA_DISTANCE_LOCAL)
				return false;
	}
	for (i = 0; i < PF_NUMA_CPUS_MAX; i++) {
		if (t->cpu_node[i] < 0)
			continue;
		if (i >= t->cpu_ids || (uint32_t)t->cpu_node[i] >= t->nodes)
			return false;
		cpus++;
	}
	return cpus == t->cpus;
}

/* Decimal digits only, at most 5 of them, value <= max. Advances *pp past the digits. */
static int parse_number(const char **pp, const char *end, unsigned int max, unsigned int *ret)
{
	const char *p = *pp;
	unsigned int v = 0, digits = 0;

	while (p < end && *p >= '0' && *p <= '9') {
		if (++digits > 5)
			return -EINVAL;
		v = v * 10 + (unsigned int)(*p - '0');
		p++;
	}
	if (digits == 0 || v > max)
		return -EINVAL;
	*pp = p;
	*ret = v;
	return 0;
}

static int add_cpus(struct pf_numa *t, int node, unsigned int first, unsigned int last)
{
	unsigned int cpu;

	PF_ASSERT(last < PF_NUMA_CPUS_MAX);
	PF_ASSERT(node >= 0 && (uint32_t)node < PF_NUMA_NODES_MAX);
	if (last < first)
		return -EINVAL;
	for (cpu = first; cpu <= last; cpu++) {
		if (t->cpu_node[cpu] >= 0)
			return -EINVAL; /* the CPU is already in a node */
		t->cpu_node[cpu] = (int16_t)node;
		t->cpus++;
	}
	if (last + 1 > t->cpu_ids)
		t->cpu_ids = last + 1;
	return 0;
}

/*
 * range { sep range }, range := cpu | cpu '-' cpu; the CPUs go to `node`. Stops before
 * the first character that does not continue the list; *pp is left there.
 */
static int parse_cpuset(struct pf_numa *t, int node, const char **pp, const char *end, char sep)
{
	const unsigned int cpu_last = PF_NUMA_CPUS_MAX - 1;
	const char *p = *pp;
	unsigned int first, last;
	int r;

	/* Bounded: every pass consumes at least one digit of the finite input. */
	for (;;) {
		r = parse_number(&p, end, cpu_last, &first);
		if (r < 0)
			return r;
		last = first;
		if (p < end && *p == '-') {
			p++;
			r = parse_number(&p, end, cpu_last, &last);
			if (r < 0)
				return r;
		}
		r = add_cpus(t, node, first, last);
		if (r < 0)
			return r;
		if (p == end || *p != sep)
			break;
		p++;
	}
	*pp = p;
	return 0;
}

/* cpuset { ',' cpuset }: exactly one cpuset per node. */
static int parse_cpus(struct pf_numa *t, struct span s)
{
	const char *p = s.p;
	uint32_t node;
	int r;

	PF_ASSERT(t->nodes >= 1 && t->nodes <= PF_NUMA_NODES_MAX);
	for (node = 0; node < t->nodes; node++) {
		if (node > 0) {
			if (p == s.end || *p != ',')
				return -EINVAL;
			p++;
		}
		r = parse_cpuset(t, (int)node, &p, s.end, '+');
		if (r < 0)
			return r;
	}
	return p == s.end ? 0 : -EINVAL;
}

/* row { '/' row }, row := dist { ',' dist }: exactly nodes x nodes entries. */
static int parse_distances(struct pf_numa *t, struct span s)
{
	const char *p = s.p;
	unsigned int d;
	uint32_t i, j;
	int r;

	PF_ASSERT(t->nodes >= 1 && t->nodes <= PF_NUMA_NODES_MAX);
	for (i = 0; i < t->nodes; i++) {
		for (j = 0; j < t->nodes; j++) {
			if (i > 0 || j > 0) {
				if (p == s.end || *p != (j == 0 ? '/' : ','))
					return -EINVAL;
				p++;
			}
			r = parse_number(&p, s.end, PF_NUMA_DISTANCE_MAX, &d);
			if (r < 0)
				return r;
			if (d < PF_NUMA_DISTANCE_LOCAL || (i == j && d != PF_NUMA_DISTANCE_LOCAL))
				return -EINVAL;
			t->distance[i][j] = (uint8_t)d;
		}
	}
	return p == s.end ? 0 : -EINVAL;
}

/* Split "key=value;key=value;key=value" into the nodes, cpus and distances values. */
static int split_fields(const char *spec, const char *end, struct span *ret_fields)
{
	static const char *const keys[3] = {"nodes=", "cpus=", "distances="};
	const char *p = spec, *field_end;
	bool seen[3] = {false, false, false};
	size_t k, key_bytes;

	while (p < end) {
		field_end = memchr(p, ';', (size_t)(end - p));
		if (field_end == NULL)
			field_end = end;
		for (k = 0; k < 3; k++) {
			key_bytes = strlen(keys[k]);
			if ((size_t)(field_end - p) >= key_bytes &&
			    memcmp(p, keys[k], key_bytes) == 0)
				break;
		}
		if (k == 3 || seen[k])
			return -EINVAL; /* unknown or repeated field */
		seen[k] = true;
		ret_fields[k] = (struct span){p + key_bytes, field_end};
		/* A trailing ';' would leave an empty last field: refuse it. */
		if (field_end < end && field_end + 1 == end)
			return -EINVAL;
		p = field_end < end ? field_end + 1 : end;
	}
	return seen[0] && seen[1] && seen[2] ? 0 : -EINVAL;
}

static int parse_spec(struct pf_numa *t, const char *spec, size_t spec_bytes)
{
	struct span fields[3];
	unsigned int nodes;
	const char *p;
	int r;

	PF_ASSERT(t->synthetic);
	PF_ASSERT(spec_bytes <= PF_NUMA_SPEC_MAX);
	r = split_fields(spec, spec + spec_bytes, fields);
	if (r < 0)
		return r;
	p = fields[0].p;
	r = parse_number(&p, fields[0].end, PF_NUMA_NODES_MAX, &nodes);
	if (r < 0 || p != fields[0].end || nodes < 1)
		return -EINVAL;
	t->nodes = nodes;
	r = parse_cpus(t, fields[1]);
	if (r < 0)
		return r;
	return parse_distances(t, fields[2]);
}

int pf_numa_open_synthetic(const char *spec, struct pf_numa **ret_numa)
{
	struct pf_numa *t;
	size_t spec_bytes, i;
	int r;

	if (spec == NULL || ret_numa == NULL)
		return -EINVAL;
	for (i = 0; i < sizeof(builtins) / sizeof(builtins[0]); i++) {
		if (strcmp(spec, builtins[i].name) == 0) {
			spec = builtins[i].spec;
			break;
		}
	}
	spec_bytes = strnlen(spec, PF_NUMA_SPEC_MAX + 1);
	if (spec_bytes > PF_NUMA_SPEC_MAX)
		return -EINVAL;
	t = topology_alloc(true);
	if (t == NULL)
		return -ENOMEM;
	r = parse_spec(t, spec, spec_bytes);
	if (r < 0) {
		free(t);
		return r;
	}
	PF_ASSERT(topology_valid(t));
	*ret_numa = t;
	return 0;
}

/* One node holding every online CPU: the machine without libnuma. */
static int system_fallback(struct pf_numa *t)
{
	const char *p, *end;
	char buf[4096];
	ssize_t n = -1;
	long online;
	uint32_t cpu;
	int fd;

	t->nodes = 1;
	t->distance[0][0] = PF_NUMA_DISTANCE_LOCAL;
	fd = open("/sys/devices/system/cpu/online", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf));
		(void)close(fd);
	}
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	p = buf;
	end = buf + (n > 0 ? n : 0);
	if (n > 0 && parse_cpuset(t, 0, &p, end, ',') == 0 && p == end)
		return 0;
	/* Unreadable or unexpected: CPUs 0 .. online - 1. */
	for (cpu = 0; cpu < PF_NUMA_CPUS_MAX; cpu++)
		t->cpu_node[cpu] = -1;
	t->cpus = 0;
	t->cpu_ids = 0;
	online = sysconf(_SC_NPROCESSORS_ONLN);
	if (online < 1)
		online = 1;
	if (online > (long)PF_NUMA_CPUS_MAX)
		return -EOVERFLOW;
	return add_cpus(t, 0, 0, (unsigned int)online - 1);
}

#if PF_HAVE_NUMA
static int system_node_cpus(struct pf_numa *t, int node, struct bitmask *mask)
{
	unsigned long cpu;

	PF_ASSERT(node >= 0 && (uint32_t)node < t->nodes);
	PF_ASSERT(mask->maskp != NULL);
	if (numa_node_to_cpus(node, mask) < 0)
		return errno > 0 ? -errno : -EBADMSG;
	for (cpu = 0; cpu < mask->size; cpu++) {
		if (!numa_bitmask_isbitset(mask, (unsigned int)cpu))
			continue;
		if (cpu >= PF_NUMA_CPUS_MAX)
			return -EOVERFLOW;
		if (t->cpu_node[cpu] >= 0)
			return -EBADMSG; /* one CPU on two nodes */
		if (add_cpus(t, node, (unsigned int)cpu, (unsigned int)cpu) < 0)
			return -EBADMSG;
	}
	return 0;
}

static int system_distances(struct pf_numa *t)
{
	uint32_t i, j;
	int d;

	for (i = 0; i < t->nodes; i++) {
		for (j = 0; j < t->nodes; j++) {
			if (!numa_bitmask_isbitset(numa_nodes_ptr, i) ||
			    !numa_bitmask_isbitset(numa_nodes_ptr, j))
				d = i == j ? PF_NUMA_DISTANCE_LOCAL : PF_NUMA_DISTANCE_MAX;
			else
				d = numa_distance((int)i, (int)j);
			if (d == 0) /* unknown to libnuma: count it as far */
				d = i == j ? PF_NUMA_DISTANCE_LOCAL : PF_NUMA_DISTANCE_MAX;
			if (d < PF_NUMA_DISTANCE_LOCAL || d > PF_NUMA_DISTANCE_MAX ||
			    (i == j && d != PF_NUMA_DISTANCE_LOCAL))
				return -EBADMSG;
			t->distance[i][j] = (uint8_t)d;
		}
	}
	return 0;
}

static int system_libnuma(struct pf_numa *t)
{
	const size_t word_bits = sizeof(unsigned long) * CHAR_BIT;
	struct bitmask mask;
	size_t words;
	int max_node, possible, node, r = 0;

	max_node = numa_max_node();
	if (max_node < 0)
		return -EBADMSG;
	if ((unsigned int)max_node >= PF_NUMA_NODES_MAX)
		return -EOVERFLOW;
	t->nodes = (uint32_t)max_node + 1;
	possible = numa_num_possible_cpus();
	if (possible < 1)
		return -EBADMSG;
	/* Our own mask: libnuma's allocators exit(3) when memory runs out. */
	words = ((size_t)possible + word_bits - 1) / word_bits;
	mask.size = words * word_bits;
	mask.maskp = PF_FAULT_FAIL(ALLOC) ? NULL : calloc(words, sizeof(unsigned long));
	if (mask.maskp == NULL)
		return -ENOMEM;
	for (node = 0; node <= max_node && r == 0; node++)
		if (numa_bitmask_isbitset(numa_nodes_ptr, (unsigned int)node))
			r = system_node_cpus(t, node, &mask);
	free(mask.maskp);
	return r < 0 ? r : system_distances(t);
}
#endif

int pf_numa_open_system(struct pf_numa **ret_numa)
{
	struct pf_numa *t;
	int r;

	if (ret_numa == NULL)
		return -EINVAL;
	t = topology_alloc(false);
	if (t == NULL)
		return -ENOMEM;
#if PF_HAVE_NUMA
	if (numa_available() >= 0)
		r = system_libnuma(t);
	else
		r = system_fallback(t);
#else
	r = system_fallback(t);
#endif
	if (r == 0 && !topology_valid(t))
		r = -EBADMSG;
	if (r < 0) {
		free(t);
		return r;
	}
	*ret_numa = t;
	return 0;
}

void pf_numa_close(struct pf_numa *numa)
{
	free(numa);
}

static bool node_ok(const struct pf_numa *t, int node)
{
	return node >= 0 && (uint32_t)node < t->nodes;
}

int pf_numa_nodes(const struct pf_numa *numa)
{
	if (numa == NULL)
		return -EINVAL;
	PF_ASSERT(numa->nodes >= 1 && numa->nodes <= PF_NUMA_NODES_MAX);
	return (int)numa->nodes;
}

int pf_numa_distance(const struct pf_numa *numa, int from, int to)
{
	if (numa == NULL || !node_ok(numa, from) || !node_ok(numa, to))
		return -EINVAL;
	PF_ASSERT(numa->distance[from][to] >= PF_NUMA_DISTANCE_LOCAL);
	return numa->distance[from][to];
}

int pf_numa_node_of_cpu(const struct pf_numa *numa, int cpu)
{
	if (numa == NULL || cpu < 0)
		return -EINVAL;
	if ((uint32_t)cpu >= numa->cpu_ids || numa->cpu_node[cpu] < 0)
		return -ENOENT;
	PF_ASSERT((uint32_t)numa->cpu_node[cpu] < numa->nodes);
	return numa->cpu_node[cpu];
}

int pf_numa_cpus(const struct pf_numa *numa, int node, unsigned int cpus_max, int *ret_cpus)
{
	unsigned int count = 0;
	uint32_t cpu;

	if (numa == NULL || !node_ok(numa, node))
		return -EINVAL;
	for (cpu = 0; cpu < numa->cpu_ids; cpu++)
		count += numa->cpu_node[cpu] == node;
	PF_ASSERT(count <= numa->cpus);
	if (ret_cpus == NULL)
		return (int)count;
	if (cpus_max < count)
		return -ENOBUFS;
	count = 0;
	for (cpu = 0; cpu < numa->cpu_ids; cpu++)
		if (numa->cpu_node[cpu] == node)
			ret_cpus[count++] = (int)cpu;
	return (int)count;
}

/* Does node a come before node b in the nearest order from `from`? */
static bool nearer(const struct pf_numa *t, int from, int a, int b)
{
	if (t->distance[from][a] != t->distance[from][b])
		return t->distance[from][a] < t->distance[from][b];
	return a < b;
}

int pf_numa_nearest(const struct pf_numa *numa, int from, unsigned int nodes_max, int *ret_nodes)
{
	int order[PF_NUMA_NODES_MAX];
	uint32_t i, j, n;
	int node;

	if (numa == NULL || ret_nodes == NULL || !node_ok(numa, from))
		return -EINVAL;
	/* Insertion sort: at most 64 nodes, control path only. */
	for (i = 0; i < numa->nodes; i++) {
		node = (int)i;
		for (j = i; j > 0 && nearer(numa, from, node, order[j - 1]); j--)
			order[j] = order[j - 1];
		order[j] = node;
	}
	n = nodes_max < numa->nodes ? nodes_max : numa->nodes;
	for (i = 0; i < n; i++)
		ret_nodes[i] = order[i];
	PF_ASSERT(n == 0 || numa->distance[from][ret_nodes[0]] == PF_NUMA_DISTANCE_LOCAL);
	return (int)n;
}

double pf_numa_factor(const struct pf_numa *numa, int member_node, int home_node)
{
	unsigned int d;

	if (numa == NULL)
		return 0.0;
	if (member_node < 0 || home_node < 0)
		return 1.0;
	if (!node_ok(numa, member_node) || !node_ok(numa, home_node))
		return 0.0;
	d = numa->distance[member_node][home_node];
	PF_ASSERT(d >= PF_NUMA_DISTANCE_LOCAL && d <= PF_NUMA_DISTANCE_MAX);
	return d == PF_NUMA_DISTANCE_LOCAL ? 1.0 : (double)PF_NUMA_DISTANCE_LOCAL / (double)d;
}

/* The index-th CPU of the topology in increasing id order. */
static int nth_cpu(const struct pf_numa *t, uint32_t index)
{
	uint32_t cpu, seen = 0;

	PF_ASSERT(index < t->cpus);
	for (cpu = 0; cpu < t->cpu_ids; cpu++) {
		if (t->cpu_node[cpu] >= 0 && seen++ == index)
			break;
	}
	PF_ASSERT(cpu < t->cpu_ids); /* topology_valid(): cpus CPUs are in the table */
	return (int)cpu;
}

int pf_numa_current_node(const struct pf_numa *numa, int *ret_node, int *ret_cpu)
{
	unsigned int real_cpu, real_node;
	int cpu, node;

	if (numa == NULL)
		return -EINVAL;
	if (getcpu(&real_cpu, &real_node) < 0)
		return -errno;
	if (numa->synthetic) {
		PF_ASSERT(numa->cpus > 0);
		cpu = nth_cpu(numa, real_cpu % numa->cpus);
		node = numa->cpu_node[cpu];
	} else {
		cpu = (int)real_cpu;
		node = pf_numa_node_of_cpu(numa, cpu);
		if (node < 0 && real_node < numa->nodes)
			node = (int)real_node; /* came online after the topology was read */
		if (node < 0)
			return -ENOENT;
	}
	PF_ASSERT(node_ok(numa, node));
	if (ret_node != NULL)
		*ret_node = node;
	if (ret_cpu != NULL)
		*ret_cpu = cpu;
	return 0;
}

/* 1 when the real machine has that node, 0 when not, 2 when it has a single node. */
static int machine_node(int node)
{
#if PF_HAVE_NUMA
	if (numa_available() < 0 || numa_num_configured_nodes() <= 1)
		return 2;
	if (node > numa_max_node())
		return 0;
	return numa_bitmask_isbitset(numa_nodes_ptr, (unsigned int)node) ? 1 : 0;
#else
	(void)node;
	return 2;
#endif
}

int pf_numa_bind(const struct pf_numa *numa, void *addr, size_t len, int node)
{
	const size_t word_bits = sizeof(unsigned long) * CHAR_BIT;
	unsigned long mask[PF_NUMA_NODES_MAX / (sizeof(unsigned long) * CHAR_BIT)] = {0};
	long page = sysconf(_SC_PAGESIZE);
	int present;

	if (numa == NULL || addr == NULL || len == 0 || !node_ok(numa, node))
		return -EINVAL;
	if (page <= 0 || (uintptr_t)addr % (uintptr_t)page != 0)
		return -EINVAL;
	present = machine_node(node);
	if (present == 2)
		return 0; /* one node: all memory is already there */
	if (present == 0)
		return -EINVAL;
	PF_ASSERT((size_t)node / word_bits < sizeof(mask) / sizeof(mask[0]));
	mask[(size_t)node / word_bits] = 1UL << ((size_t)node % word_bits);
	/* maxnode counts one more than the bits the kernel reads (mbind(2)). */
	if (syscall(SYS_mbind, addr, len, (unsigned long)MPOL_PREFERRED, mask,
		    (unsigned long)PF_NUMA_NODES_MAX + 1, (unsigned long)MPOL_MF_MOVE) < 0)
		return -errno;
	return 0;
}

int pf_numa_node_of_addr(const void *addr, int *ret_node)
{
	long page = sysconf(_SC_PAGESIZE);
	void *pages[1];
	int status = -1;

	if (addr == NULL || ret_node == NULL || page <= 0)
		return -EINVAL;
	pages[0] = (void *)((uintptr_t)addr & ~((uintptr_t)page - 1));
	if (syscall(SYS_move_pages, 0L, 1UL, pages, NULL, &status, 0L) < 0)
		return -errno;
	if (status < 0)
		return status; /* the page's own -errno: -ENOENT not present, -EFAULT unmapped */
	PF_ASSERT(status < INT_MAX);
	*ret_node = status;
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * pflight/numa.h: the NUMA topology (nodes, their CPUs, the distance matrix) and memory
 * placement on it.
 *
 * One interface serves the real machine (pf_numa_open_system(), from libnuma) and
 * synthetic topologies (pf_numa_open_synthetic(), from a text spec or a built-in name),
 * so the scheduler and its tests see the same object. A topology is immutable once
 * opened: every accessor may be called from any thread without locking.
 *
 * Nodes are numbered 0 .. pf_numa_nodes() - 1; a node argument outside that range is a
 * caller error (-EINVAL). Distances follow the ACPI SLIT convention: 10 is local, larger
 * is farther, at most 255; the matrix may be asymmetric, and distance(from, to) is the
 * cost of a CPU on `from` reaching memory on `to`.
 *
 * Synthetic spec grammar (no whitespace anywhere; the three fields in any order, each
 * exactly once; at most PF_NUMA_SPEC_MAX bytes):
 *
 *   spec      := builtin | field ';' field ';' field
 *   builtin   := "2node" | "4node-asym" | "8node"
 *   field     := "nodes=" N | "cpus=" cpuset { ',' cpuset } | "distances=" row { '/' row }
 *   cpuset    := range { '+' range }               CPUs of one node, one cpuset per node
 *   range     := cpu | cpu '-' cpu                 first <= last
 *   row       := dist { ',' dist }                 row i holds distance(i, 0 .. N - 1)
 *   N         := 1 .. PF_NUMA_NODES_MAX   cpu := 0 .. PF_NUMA_CPUS_MAX - 1
 *   dist      := 10 .. 255, and exactly 10 on the diagonal
 *
 * Every node has at least one CPU, no CPU belongs to two nodes, and the matrix is N x N.
 * Numbers are plain decimal digits (no sign, at most 5 digits).
 * Example: "nodes=2;cpus=0-3+8-11,4-7+12-15;distances=10,21/21,10".
 */
#ifndef PFLIGHT_NUMA_H
#define PFLIGHT_NUMA_H

#include <stddef.h>

#include "pflight/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PF_NUMA_NODES_MAX 64u     /* nodes in one topology */
#define PF_NUMA_CPUS_MAX 8192u    /* CPU ids are below this */
#define PF_NUMA_SPEC_MAX 16384u   /* bytes of a synthetic spec, without the NUL */
#define PF_NUMA_DISTANCE_LOCAL 10 /* distance of a node to itself */
#define PF_NUMA_DISTANCE_MAX 255  /* largest distance (ACPI: unreachable) */

struct pf_numa;

/*
 * Open the topology of this machine: nodes 0 .. numa_max_node(), the CPUs of each
 * (numa_node_to_cpus()) and the distance matrix (numa_distance()). Node numbers are the
 * kernel's, so a node number with no node behind it (sparse numbering) has no CPUs and a
 * distance of 255 to every other node. When libnuma is not built in or
 * numa_available() fails, the topology is one node holding every online CPU
 * (/sys/devices/system/cpu/online), distance 10.
 * Returns 0 and sets *ret_numa, or:
 *   -EINVAL     ret_numa is NULL;
 *   -ENOMEM     out of memory;
 *   -EOVERFLOW  the machine has more than PF_NUMA_NODES_MAX nodes, or a CPU id of at least
 *               PF_NUMA_CPUS_MAX;
 *   -EBADMSG    the kernel reported an inconsistent topology (a CPU on two nodes, a
 *               distance of a node to itself that is not 10, a distance outside 10 .. 255).
 */
PF_API int pf_numa_open_system(struct pf_numa **ret_numa);

/*
 * Open a synthetic topology from `spec` (grammar above) or a built-in name:
 *   "2node"       2 nodes, CPUs 0-3 and 4-7, distances 10,21/21,10;
 *   "4node-asym"  4 nodes of 4 CPUs (0-3, 4-7, 8-11, 12-15), asymmetric distances
 *                 10,16,22,28/20,10,22,28/22,22,10,16/26,28,18,10;
 *   "8node"       two sockets of 4 nodes, 8 CPUs each (0-7 .. 56-63): 10 local, 12 on
 *                 the same socket (nodes 0-3, nodes 4-7), 32 across sockets.
 * Returns 0 and sets *ret_numa, or:
 *   -EINVAL  spec or ret_numa is NULL, or the spec is malformed in any way (nothing is
 *            allocated then);
 *   -ENOMEM  out of memory.
 */
PF_API int pf_numa_open_synthetic(const char *spec, struct pf_numa **ret_numa);

/* Free a topology. Accepts NULL. */
PF_API void pf_numa_close(struct pf_numa *numa);

/* Number of nodes (1 .. PF_NUMA_NODES_MAX), or -EINVAL when numa is NULL. */
PF_API int pf_numa_nodes(const struct pf_numa *numa);

/*
 * Distance from node `from` to node `to` (10 .. 255; 10 when from == to), or -EINVAL when
 * numa is NULL or a node is out of range.
 */
PF_API int pf_numa_distance(const struct pf_numa *numa, int from, int to);

/*
 * Node of CPU `cpu`, or:
 *   -EINVAL  numa is NULL or cpu is negative;
 *   -ENOENT  the CPU belongs to no node of this topology.
 */
PF_API int pf_numa_node_of_cpu(const struct pf_numa *numa, int cpu);

/*
 * CPUs of `node` in increasing order. With ret_cpus NULL, only count them; otherwise
 * write them to ret_cpus[0 .. count - 1]. Returns the count (0 for a node without CPUs), or:
 *   -EINVAL   numa is NULL or node is out of range;
 *   -ENOBUFS  ret_cpus is not NULL and cpus_max is smaller than the count (nothing written).
 */
PF_API int pf_numa_cpus(const struct pf_numa *numa, int node, unsigned int cpus_max, int *ret_cpus);

/*
 * The nodes_max nearest nodes to `from` (or all of them, when there are fewer), by
 * increasing distance(from, node), ties broken by the smaller node number: `from` comes
 * first unless a smaller node is also at distance 10. Returns the number written to
 * ret_nodes (0 when nodes_max is 0), or -EINVAL when numa or ret_nodes is NULL or from is
 * out of range.
 */
PF_API int pf_numa_nearest(const struct pf_numa *numa, int from, unsigned int nodes_max,
			   int *ret_nodes);

/*
 * Placement factor of a member on member_node for a VNode homed on home_node:
 * 10 / distance(member_node, home_node), in (0, 1]; 1.0 when the distance is local (10).
 * A negative node on either side means "unknown" or "no home" and gives 1.0 (no
 * preference). Caller errors cannot be told apart by an errno here: when numa is NULL or
 * a node is not below pf_numa_nodes(), the result is 0.0, outside the valid range, so a
 * score multiplied by it ranks last.
 */
PF_API double pf_numa_factor(const struct pf_numa *numa, int member_node, int home_node);

/*
 * Node and CPU the calling thread runs on now (getcpu(2)); either out-parameter may be
 * NULL. For the system topology, the CPU is looked up in the topology (a CPU brought
 * online after the topology was opened gets the kernel's node). For a synthetic
 * topology, the real CPU number modulo the topology's CPU count selects a CPU of the
 * topology in increasing id order (real CPU 5 on "2node", 8 CPUs: CPU 5, node 1; real
 * CPU 9: CPU 1, node 0), so tests on a small machine still spread over the synthetic
 * nodes. The answer may be stale as soon as it is returned (the thread may migrate).
 * Returns 0, or:
 *   -EINVAL  numa is NULL;
 *   -ENOENT  the system topology does not know the CPU, nor the kernel's node for it;
 *   -errno   from getcpu(2) (-ENOSYS).
 */
PF_API int pf_numa_current_node(const struct pf_numa *numa, int *ret_node, int *ret_cpu);

/*
 * Bind the pages of [addr, addr + len) to `node`: mbind(2) with MPOL_PREFERRED and
 * MPOL_MF_MOVE. Preferred, not strict: pages touched later are allocated on the node, and
 * on another node rather than failing when the node is out of memory; pages already
 * present and mapped by this process alone are moved (pages of a shared mapping that other
 * processes also map stay where they are; moving those needs CAP_SYS_NICE). On a
 * shared-memory mapping (shm_open, MAP_SHARED) the policy belongs to the object and holds
 * for every process that maps it. Binding acts only on nodes of the real machine: a
 * synthetic topology's node number is used as the real node number. Use
 * pf_numa_node_of_addr() to see where a page landed.
 * Returns 0 (also, doing nothing, when the machine has a single node), or:
 *   -EINVAL  numa is NULL, addr is NULL or not page-aligned, len is 0, node is out of
 *            the topology's range, or (on a multi-node machine) node is not a node of
 *            the real machine;
 *   -EFAULT  part of the range is not mapped;
 *   -ENOMEM  the kernel ran out of memory;
 *   -errno   any other mbind(2) failure (-EPERM, -ENOSYS).
 */
PF_API int pf_numa_bind(const struct pf_numa *numa, void *addr, size_t len, int node);

/*
 * Node of the real machine holding the page that contains addr, from
 * move_pages(0, 1, &page, NULL, &status, 0). Returns 0 and sets *ret_node, or:
 *   -EINVAL  addr or ret_node is NULL;
 *   -ENOENT  the page is not present (never touched, or swapped out);
 *   -EFAULT  the address is not mapped;
 *   -errno   any other move_pages(2) failure or page status (-ENOSYS: kernel without NUMA).
 */
PF_API int pf_numa_node_of_addr(const void *addr, int *ret_node);

#ifdef __cplusplus
}
#endif

#endif /* PFLIGHT_NUMA_H */

/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/directory.h: this host in the cluster's directory in etcd
 * (docs/cluster.md), when cluster.etcd_endpoints lists any: its lease and its key
 * `/pflight/<cluster>/hosts/<host>`, and the other hosts as a watch shows them coming
 * and going, each change an audit record here.
 *
 * An agent on a thread of its own (it waits on etcd: each call has a deadline). Records:
 *   cluster_joined           this host is in the directory (again), with the hosts seen
 *   cluster_unavailable      etcd stopped answering; this host goes on serving what it has
 *   cluster_available        it answers again
 *   cluster_lease_lost       this host's lease expired (etcd unreachable for a TTL, or a
 *                            pause): it registers again
 *   host_joined, host_left, host_lost   another host came, left cleanly (it said so before
 *                            its lease went), or its lease expired
 */
#ifndef PFLIGHTD_DIRECTORY_H
#define PFLIGHTD_DIRECTORY_H

#include <stdint.h>

#include "pflight/pflight.h"
#include "tools/pflightd/cmdq.h"

struct directory;

/* host: this host's name; pk: its Ed25519 public key. 0 (and nothing when the manifest
 * lists no endpoint: *ret NULL), or -EINVAL (an endpoint the client refuses), -ENOMEM. */
int directory_create(const struct pf_manifest *m, const char *host, const unsigned char pk[32],
		     struct pf_domain *d, struct cmdq *to_auditor, struct directory **ret);
/* Leave: say so in this host's key, then revoke its lease (the others see it left). */
void directory_destroy(struct directory *dir);
int directory_do_work(void *arg);
/* What the directory says now, as the JSON object GET /api/v1/cluster serves (the
 * Cluster schema of openapi.json), malloc'd; NULL: no memory. Any thread. */
char *directory_json(void *arg);
/* 1 when this host is in the cluster's directory and etcd answers (moves between hosts
 * may go), else 0. Any thread. */
int directory_available(const struct directory *dir);
int directory_park(void *arg, uint64_t ns);

#endif /* PFLIGHTD_DIRECTORY_H */

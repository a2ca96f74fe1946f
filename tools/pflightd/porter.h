/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/porter.h: Flight Packets to and from files (pflight export, import).
 *
 * Export writes a signed snapshot of a VNode that stays here (PF_PACKET_F_SNAPSHOT) into
 * a file the client opened and handed over (the daemon never opens a path a client
 * names). Import reads a packet from such a file, verifies it (form, every digest, a
 * signature by this host or a host of transport.peers) and installs it where the VNode
 * does not live here: never defined, or owned by another host at an older epoch. Both are
 * audited (vnode_export, vnode_import, vnode_import_refused).
 *
 * Called by the main thread (the control socket); blocking for the size of the packet.
 */
#ifndef PFLIGHTD_PORTER_H
#define PFLIGHTD_PORTER_H

#include <stdint.h>

#include "pflight/pflight.h"
#include "tools/pflightd/cmdq.h"

#define PORTER_REASON_MAX 256u
#define PORTER_TRUSTED_MAX (PF_MANIFEST_PEERS_MAX + 1u) /* this host and transport.peers */

struct porter {
	struct pf_domain *domain;
	struct cmdq *to_auditor;
	unsigned char sk[PF_AUDIT_SECRET_KEY_BYTES]; /* this host's key: signs exports */
	uint8_t trusted[PORTER_TRUSTED_MAX][PF_PACKET_KEY_BYTES]; /* [0]: this host */
	uint32_t trusted_count;
	uint32_t trust_floor_ppm;
	char host[PF_PACKET_HOST_NAME_MAX + 1];
	char namespace_name[PF_DOMAIN_NAME_MAX + 1];
	uint64_t exports;
	uint64_t imports;
	uint64_t refused;
};

struct porter_outcome {
	int r;             /* 0 or a negative errno */
	const char *error; /* a code for clients: "not_found", "refused", ... */
	char reason[PORTER_REASON_MAX];
	uint32_t vnode;
	uint32_t messages;
	uint64_t epoch; /* export: the epoch read at; import: the new epoch here */
	uint64_t seq;
	uint64_t state_bytes;
	uint64_t file_bytes;
};

/* Keep sk (the host key) and what the headers need from the manifest. 0, -EINVAL. */
int porter_init(struct porter *p, struct pf_domain *domain, const struct pf_manifest *manifest,
		const unsigned char sk[PF_AUDIT_SECRET_KEY_BYTES], struct cmdq *to_auditor);
void porter_fini(struct porter *p);

/* Write VNode vnode's snapshot to fd (by: the requester, a JSON fragment for the audit
 * record). 0, or out->r with out->error and out->reason. */
int porter_export(struct porter *p, uint32_t vnode, int fd, const char *by,
		  struct porter_outcome *out);

/* Read, verify and install the packet in fd. 0, or out->r with out->error and
 * out->reason. */
int porter_import(struct porter *p, int fd, const char *by, struct porter_outcome *out);

#endif /* PFLIGHTD_PORTER_H */

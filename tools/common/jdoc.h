/* SPDX-License-Identifier: MIT */
/*
 * tools/common/jdoc.h: the JSON documents that `pflight --json` prints and pflightd's REST
 * API answers with, built in one place so the two cannot drift apart. Each builder
 * returns a new reference (json_decref() it, or hand it to a json_*_new() call), or NULL
 * when out of memory; jansson's json_pack() "o" takes NULL as a failure, so a nested
 * builder's NULL fails the document that holds it.
 */
#ifndef PFLIGHT_TOOLS_JDOC_H
#define PFLIGHT_TOOLS_JDOC_H

#include <jansson.h>
#include <stdint.h>

#include "pflight/pflight.h"

/* Names of member and VNode states (pf_member_info.state, pf_vnode_info.state); "?" for
 * a value outside the table. */
const char *jdoc_member_state_name(uint32_t state);
const char *jdoc_vnode_state_name(uint32_t state);
/* The VNode state called <name>, or -EINVAL. */
int jdoc_vnode_state_parse(const char *name);

/* The names of the capabilities in <caps>, as an array of strings. */
json_t *jdoc_caps(struct pf_domain *domain, const uint64_t caps[2]);
/* The gatekeeper's decision about a member: "none", "granted", "granted-token", or
 * "refused:<action>:<rule>:<check>". */
json_t *jdoc_admission(const struct pf_member_info *mi);
/* One member slot: {slot, generation, state, pid, node, cpu, capabilities, vnodes,
 * placed, heartbeat, trust, reliability, cpu_load, admission}. */
json_t *jdoc_member(struct pf_domain *domain, const struct pf_member_info *mi);
/* One VNode: {id, state, owner, epoch, checkpoint_seq, inbox, home, pending_reason};
 * pending_reason is "" unless a PENDING VNode was refused by a scheduler. */
json_t *jdoc_vnode(uint32_t id, const struct pf_vnode_info *vi);
/* The reason a PENDING VNode waits ("" when none is recorded). */
const char *jdoc_pending_reason(const struct pf_vnode_info *vi);
/* One explained placement decision, seq its number in the explanation ring; the winner's
 * fields and the score's terms are null unless it was placed. */
json_t *jdoc_decision(uint64_t seq, const struct pf_sched_decision *x);
/* What pf_audit_verify() returned (<r>) and found: {ok, files, records, heads, last_seq,
 * unsigned_tail, key_given[, broken]}. */
json_t *jdoc_audit_report(int r, const struct pf_audit_report *rep);

#endif /* PFLIGHT_TOOLS_JDOC_H */

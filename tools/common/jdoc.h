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

/* A domain's summary: {domain, members_active, members_max, vnodes_active, vnodes_pending,
 * vnodes_max, capabilities, membership_version, segment_bytes}. */
json_t *jdoc_domain(const char *name, const struct pf_domain_info *di);
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
/* What pf_audit_verify() returned (<r>) and found: {ok, files, records, heads, first_seq,
 * last_seq, unsigned_tail, from_genesis, key_given[, broken]}; from_genesis is false when
 * the walk began past seq 1 (earlier records missing and unchecked). */
json_t *jdoc_audit_report(int r, const struct pf_audit_report *rep);

/* Metric figures over a span (pflight/metrics.h): {span_s, availability, stability,
 * churn_per_min, churn_per_member_per_min, load_stddev, load_balance, rebalance_overhead,
 * health, placements_per_s, membership_events, ownership_changes, migrations,
 * migration_bytes, placements, recoveries, recovery_p50_s, recovery_p99_s,
 * recovery_max_s}; a figure that is not a number, and the recovery times when there was
 * no recovery, are null. */
json_t *jdoc_metrics_figures(const struct pf_metrics_figures *f);
/* One point of a metrics series, its window's headline figures: {t, members, vnodes,
 * owned, health, stability, availability, churn_per_min, load_balance}; t in seconds of
 * the sample's clock (CLOCK_MONOTONIC live, simulated time in a simulation). */
json_t *jdoc_metrics_point(const struct pf_metrics_point *p);
/* A simulation's point: jdoc_metrics_point() and the run's joins, failures and
 * retirements so far. */
json_t *jdoc_sim_point(const struct pf_sim_point *p);
/* A simulation's summary: what happened ({preset, strategy, seed, duration_s, points,
 * members_end, joins, joins_refused, failures, repairs, retirements, drain_released,
 * rebalance_rounds, moves_requested, messages, messages_deferred, events,
 * vnodes_unaccounted, members_left_joined, vnodes_not_pending}), the whole run's health,
 * stability, availability and churn_per_min, and its figures: total and last_window. */
json_t *jdoc_sim_summary(const struct pf_sim_summary *s);
/* The options a simulation ran with, the preset's defaults resolved: {preset, strategy,
 * members, vnodes, seed, duration_s, interval_s, join_per_min, failure_per_min,
 * retire_per_min, heartbeat_timeout_ms}. */
json_t *jdoc_sim_options(const struct pf_sim_opts *o);

#endif /* PFLIGHT_TOOLS_JDOC_H */

/* SPDX-License-Identifier: MIT */
/*
 * tools/common/jdoc.c: the JSON documents pflight and pflightd's REST API share
 * (jdoc.h). Only the public API: what a document says is what pf_*_info() says.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "jdoc.h"

static const char *or_mark(const char *s)
{
	return s != NULL ? s : "?";
}

const char *jdoc_member_state_name(uint32_t state)
{
	return or_mark(pf_member_state_name(state));
}

const char *jdoc_vnode_state_name(uint32_t state)
{
	return or_mark(pf_vnode_state_name(state));
}

int jdoc_vnode_state_parse(const char *name)
{
	for (uint32_t k = 0; pf_vnode_state_name(k) != NULL; k++)
		if (strcmp(name, pf_vnode_state_name(k)) == 0)
			return (int)k;
	return -EINVAL;
}

static double ppm_real(uint32_t v)
{
	return v / (double)PF_PPM;
}

json_t *jdoc_domain(const char *name, const struct pf_domain_info *di)
{
	return json_pack(
		"{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "domain", name, "members_active",
		(json_int_t)di->members_active, "members_max", (json_int_t)di->members_max,
		"vnodes_active", (json_int_t)di->vnodes_active, "vnodes_pending",
		(json_int_t)di->vnodes_pending, "vnodes_max", (json_int_t)di->vnodes_max,
		"capabilities", (json_int_t)di->caps_count, "membership_version",
		(json_int_t)di->membership_version, "segment_bytes", (json_int_t)di->segment_bytes);
}

json_t *jdoc_caps(struct pf_domain *domain, const uint64_t caps[2])
{
	json_t *a = json_array();

	for (uint32_t i = 0; a != NULL && i < PF_CAPS_MAX; i++)
		if (((caps[i / 64] >> (i % 64)) & 1) != 0)
			json_array_append_new(a,
					      json_string(or_mark(pf_capability_name(domain, i))));
	return a;
}

json_t *jdoc_admission(const struct pf_member_info *mi)
{
	uint32_t d = mi->admission_detail;
	char text[96];

	if (mi->admission == PF_ADMISSION_GRANTED)
		return json_string((d & PF_ADMISSION_BY_TOKEN) != 0 ? "granted-token" : "granted");
	if (mi->admission != PF_ADMISSION_REFUSED)
		return json_string("none");
	(void)snprintf(text, sizeof(text), "refused:%s:%u:%s",
		       or_mark(pf_policy_action_name((d >> 16) & 0xffu)), (d >> 8) & 0xffu,
		       or_mark(pf_policy_check_name(d & 0xffu)));
	return json_string(text);
}

json_t *jdoc_member(struct pf_domain *domain, const struct pf_member_info *mi)
{
	return json_pack("{s:I, s:I, s:s, s:I, s:I, s:I, s:o, s:I, s:I, s:I, s:f, s:f, s:f, s:o}",
			 "slot", (json_int_t)mi->slot, "generation", (json_int_t)mi->generation,
			 "state", jdoc_member_state_name(mi->state), "pid", (json_int_t)mi->pid,
			 "node", (json_int_t)mi->numa_node, "cpu", (json_int_t)mi->cpu,
			 "capabilities", jdoc_caps(domain, mi->caps), "vnodes",
			 (json_int_t)mi->vnodes_owned, "placed", (json_int_t)mi->vnodes_placed,
			 "heartbeat", (json_int_t)mi->heartbeat, "trust", ppm_real(mi->trust_ppm),
			 "reliability", ppm_real(mi->reliability_ppm), "cpu_load",
			 ppm_real(mi->cpu_ppm), "admission", jdoc_admission(mi));
}

const char *jdoc_pending_reason(const struct pf_vnode_info *vi)
{
	/* PLACED on a PENDING VNode: no scheduler has refused it since it came back. */
	if (vi->state != PF_VNODE_PENDING || vi->pending_reason == PF_SCHED_PLACED)
		return "";
	return or_mark(pf_sched_reason_name(vi->pending_reason));
}

json_t *jdoc_vnode(uint32_t id, const struct pf_vnode_info *vi)
{
	return json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:s}", "id", (json_int_t)id,
			 "state", jdoc_vnode_state_name(vi->state), "owner",
			 (json_int_t)(int32_t)vi->owner_slot, "host", (json_int_t)(int32_t)vi->host,
			 "epoch", (json_int_t)vi->epoch, "checkpoint_seq",
			 (json_int_t)vi->checkpoint_seq, "inbox", (json_int_t)vi->inbox_depth,
			 "home", (json_int_t)vi->home_node, "pending_reason",
			 jdoc_pending_reason(vi));
}

static json_t *int_if(int placed, uint64_t v)
{
	return placed ? json_integer((json_int_t)v) : json_null();
}

static json_t *real_if(int placed, double v)
{
	return placed ? json_real(v) : json_null();
}

json_t *jdoc_decision(uint64_t seq, const struct pf_sched_decision *x)
{
	int placed = x->reason == PF_SCHED_PLACED;

	return json_pack(
		"{s:I, s:I, s:s, s:s, s:o, s:o, s:o, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I}, "
		"s:I, s:I, s:o, s:o, s:o, s:o, s:o}",
		"seq", (json_int_t)seq, "vnode", (json_int_t)x->vnode, "outcome",
		or_mark(pf_sched_reason_name(x->reason)), "strategy",
		or_mark(pf_sched_strategy_name(x->strategy)), "winner_slot",
		int_if(placed, x->winner_slot), "winner_generation",
		int_if(placed, x->winner_generation), "epoch", int_if(placed, x->epoch),
		"candidates", (json_int_t)x->candidates, "filtered", "state",
		(json_int_t)x->filtered[PF_SCHED_FILTERED_STATE], "caps",
		(json_int_t)x->filtered[PF_SCHED_FILTERED_CAPS], "trust",
		(json_int_t)x->filtered[PF_SCHED_FILTERED_TRUST], "policy",
		(json_int_t)x->filtered[PF_SCHED_FILTERED_POLICY], "full",
		(json_int_t)x->filtered[PF_SCHED_FILTERED_FULL], "bound",
		(json_int_t)x->filtered[PF_SCHED_FILTERED_BOUND], "home_node",
		(json_int_t)x->home_node, "winner_node", (json_int_t)x->winner_node, "score",
		real_if(placed, x->score), "reliability", real_if(placed, x->reliability), "trust",
		real_if(placed, x->trust), "load", real_if(placed, x->load), "numa_factor",
		real_if(placed, x->numa_factor));
}

json_t *jdoc_audit_report(int r, const struct pf_audit_report *rep)
{
	json_t *o = json_pack("{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:b, s:b}", "ok", r == 0,
			      "files", (json_int_t)rep->files, "records", (json_int_t)rep->records,
			      "heads", (json_int_t)rep->heads, "first_seq",
			      (json_int_t)rep->first_seq, "last_seq", (json_int_t)rep->last_seq,
			      "unsigned_tail", (json_int_t)rep->unsigned_tail, "from_genesis",
			      rep->anchored == 0, "key_given", rep->key_given != 0);

	if (o != NULL && rep->dropped_seq != 0 &&
	    json_object_set_new(o, "retention",
				json_pack("{s:I, s:I}", "dropped_seq", (json_int_t)rep->dropped_seq,
					  "stated_seq", (json_int_t)rep->dropped_stated_seq)) < 0) {
		json_decref(o);
		return NULL;
	}

	if (o != NULL && r == -EBADMSG &&
	    json_object_set_new(o, "broken",
				json_pack("{s:s, s:I, s:I, s:I, s:I, s:s, s:s}", "fault",
					  or_mark(pf_audit_fault_name(rep->fault)), "seq",
					  (json_int_t)rep->bad_seq, "expected_seq",
					  (json_int_t)rep->expected_seq, "line",
					  (json_int_t)rep->bad_line, "offset",
					  (json_int_t)rep->bad_offset, "file", rep->bad_file,
					  "reason", rep->reason)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *real_or_null(double x)
{
	return isfinite(x) ? json_real(x) : json_null();
}

static json_t *seconds_or_null(uint64_t ns, uint64_t count)
{
	return count > 0 ? json_real((double)ns / 1e9) : json_null();
}

json_t *jdoc_metrics_figures(const struct pf_metrics_figures *f)
{
	return json_pack("{s:f, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:I, s:I, s:I, "
			 "s:I, s:I, s:o, s:o, s:o}",
			 "span_s", (double)f->span_ns / 1e9, "availability",
			 real_or_null(f->availability), "stability", real_or_null(f->stability),
			 "churn_per_min", real_or_null(f->churn_per_min),
			 "churn_per_member_per_min", real_or_null(f->churn_per_member_per_min),
			 "load_stddev", real_or_null(f->load_stddev), "load_balance",
			 real_or_null(f->load_balance), "rebalance_overhead",
			 real_or_null(f->rebalance_overhead), "health", real_or_null(f->health),
			 "placements_per_s", real_or_null(f->placements_per_s), "membership_events",
			 (json_int_t)f->membership_events, "ownership_changes",
			 (json_int_t)f->ownership_changes, "migrations", (json_int_t)f->migrations,
			 "migration_bytes", (json_int_t)f->migration_bytes, "placements",
			 (json_int_t)f->placements, "recoveries", (json_int_t)f->recoveries,
			 "recovery_p50_s", seconds_or_null(f->recovery_ns_p50, f->recoveries),
			 "recovery_p99_s", seconds_or_null(f->recovery_ns_p99, f->recoveries),
			 "recovery_max_s", seconds_or_null(f->recovery_ns_max, f->recoveries));
}

json_t *jdoc_metrics_point(const struct pf_metrics_point *p)
{
	const struct pf_metrics_figures *f = &p->window;

	return json_pack(
		"{s:f, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o}", "t", (double)p->time_ns / 1e9,
		"members", (json_int_t)p->members_active, "vnodes", (json_int_t)p->vnodes_defined,
		"owned", (json_int_t)p->vnodes_owned, "health", real_or_null(f->health),
		"stability", real_or_null(f->stability), "availability",
		real_or_null(f->availability), "churn_per_min", real_or_null(f->churn_per_min),
		"load_balance", real_or_null(f->load_balance));
}

json_t *jdoc_sim_point(const struct pf_sim_point *p)
{
	json_t *o = jdoc_metrics_point(&p->metrics);

	if (o == NULL || json_object_set_new(o, "joins", json_integer((json_int_t)p->joins)) < 0 ||
	    json_object_set_new(o, "failures", json_integer((json_int_t)p->failures)) < 0 ||
	    json_object_set_new(o, "retirements", json_integer((json_int_t)p->retirements)) < 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

json_t *jdoc_sim_summary(const struct pf_sim_summary *s)
{
	const struct pf_metrics_figures *t = &s->metrics.total;

	return json_pack(
		"{s:s, s:s, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
		"s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}",
		"preset", or_mark(pf_sim_preset_name(s->preset)), "strategy",
		or_mark(pf_sched_strategy_name(s->strategy)), "seed", (json_int_t)s->seed,
		"duration_s", (double)s->duration_ns / 1e9, "points", (json_int_t)s->points,
		"members_end", (json_int_t)s->members_end, "joins", (json_int_t)s->joins,
		"joins_refused", (json_int_t)s->joins_refused, "failures", (json_int_t)s->failures,
		"repairs", (json_int_t)s->repairs, "retirements", (json_int_t)s->retirements,
		"drain_released", (json_int_t)s->drain_released, "rebalance_rounds",
		(json_int_t)s->rebalance_rounds, "moves_requested", (json_int_t)s->moves_requested,
		"messages", (json_int_t)s->messages, "messages_deferred",
		(json_int_t)s->messages_deferred, "events", (json_int_t)s->events,
		"vnodes_unaccounted", (json_int_t)s->vnodes_unaccounted, "members_left_joined",
		(json_int_t)s->members_left_joined, "vnodes_not_pending",
		(json_int_t)s->vnodes_not_pending, "health", real_or_null(t->health), "stability",
		real_or_null(t->stability), "availability", real_or_null(t->availability),
		"churn_per_min", real_or_null(t->churn_per_min), "total", jdoc_metrics_figures(t),
		"last_window", jdoc_metrics_figures(&s->metrics.window));
}

json_t *jdoc_sim_options(const struct pf_sim_opts *o)
{
	return json_pack("{s:s, s:s, s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:f, s:I}", "preset",
			 or_mark(pf_sim_preset_name(o->preset)), "strategy",
			 or_mark(pf_sched_strategy_name(o->strategy)), "members",
			 (json_int_t)o->members, "vnodes", (json_int_t)o->vnodes, "seed",
			 (json_int_t)o->seed, "duration_s", (double)o->duration_ns / 1e9,
			 "interval_s", (double)o->interval_ns / 1e9, "join_per_min",
			 o->join_per_min, "failure_per_min", o->failure_per_min, "retire_per_min",
			 o->retire_per_min, "heartbeat_timeout_ms",
			 (json_int_t)(o->heartbeat_timeout_ns / 1000000u));
}

/* SPDX-License-Identifier: MIT */
/* tools/pflightd/govern.c: policies and member identities for judging (govern.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/pflightd/govern.h"
#include "tools/pflightd/log.h"

static int need_sha256(const struct pf_manifest_governance *gov)
{
	return pf_policy_needs_sha256(&gov->can_register) ||
	       pf_policy_needs_sha256(&gov->can_assign) ||
	       pf_policy_needs_sha256(&gov->can_handoff);
}

struct pf_manifest_governance *governor_copy(const struct pf_manifest_governance *gov)
{
	struct pf_manifest_governance *c = malloc(sizeof(*c));

	if (c != NULL)
		*c = *gov;
	return c;
}

int governor_init(struct governor *g, struct pf_domain *domain, const struct pf_manifest *m,
		  struct cmdq *to_auditor)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	int r = pf_domain_info(domain, &di);

	memset(g, 0, sizeof(*g));
	if (r < 0)
		return r;
	g->domain = domain;
	g->to_auditor = to_auditor;
	g->members_max = di.members_max;
	(void)snprintf(g->namespace_name, sizeof(g->namespace_name), "%s",
		       m->metadata.namespace_name);
	g->gov = governor_copy(&m->governance);
	g->subj = calloc(di.members_max, sizeof(*g->subj));
	if (g->gov == NULL || g->subj == NULL) {
		governor_fini(g);
		return -ENOMEM;
	}
	g->need_sha256 = (uint32_t)need_sha256(g->gov);
	return 0;
}

void governor_fini(struct governor *g)
{
	free(g->gov);
	free(g->subj);
	g->gov = NULL;
	g->subj = NULL;
	g->members_max = 0; /* governor_set() after a failed init walks no subj[] */
}

void governor_set(struct governor *g, struct pf_manifest_governance *gov)
{
	free(g->gov);
	g->gov = gov;
	g->need_sha256 = (uint32_t)need_sha256(gov);
	for (uint32_t i = 0; i < g->members_max; i++) {
		g->subj[i].refused_key = 0; /* new rules: refusals are news again */
		if (g->need_sha256 && g->subj[i].s.sha256[0] == '\0')
			g->subj[i].gen = 0; /* read again, with the digest */
	}
}

const struct pf_manifest_governance *governor_policies(const struct governor *g)
{
	return g->gov;
}

uint32_t governor_cap_names(struct pf_domain *domain, const uint64_t caps[2], const char **names,
			    uint32_t cap)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < PF_CAPS_MAX && n < cap; i++) {
		const char *name;

		if (((caps[i / 64] >> (i % 64)) & 1) == 0)
			continue;
		name = pf_capability_name(domain, i);
		names[n++] = name != NULL ? name : "?";
	}
	return n;
}

static const struct pf_manifest_policy *policy_of(const struct governor *g, uint32_t action)
{
	if (action == PF_POLICY_CAN_REGISTER)
		return &g->gov->can_register;
	return action == PF_POLICY_CAN_ASSIGN ? &g->gov->can_assign : &g->gov->can_handoff;
}

/* The identity of membership (slot, gen): read once, then from the cache. */
static struct member_subject *subject_of(struct governor *g, uint32_t slot, uint32_t gen,
					 int32_t pid, uint64_t start_time)
{
	struct member_subject *ms = &g->subj[slot];

	if (ms->gen == gen)
		return ms;
	memset(ms, 0, sizeof(*ms));
	ms->s.size = sizeof(ms->s);
	ms->err = pf_policy_subject_read(pid, start_time,
					 g->need_sha256 ? PF_POLICY_SUBJECT_SHA256 : 0, &ms->s);
	ms->gen = gen;
	if (ms->err < 0)
		log_msg(LOG_WARN, "policy: member %u.%u (pid %d): cannot read its identity: %s",
			slot, gen, (int)pid, strerror(-ms->err));
	return ms;
}

int governor_judge(struct governor *g, uint32_t action, uint32_t slot, uint32_t gen, int32_t pid,
		   uint64_t start_time, const uint64_t caps[2], uint32_t trust_ppm, uint32_t vnodes,
		   struct pf_policy_verdict *v)
{
	const char *names[PF_MEMBER_CAPS_MAX];
	struct pf_policy_subject s;
	struct member_subject *ms;

	if (slot >= g->members_max || action > PF_POLICY_CAN_HANDOFF)
		return -EINVAL;
	ms = subject_of(g, slot, gen, pid, start_time);
	if (ms->err < 0) {
		memset(v, 0, sizeof(*v));
		v->size = sizeof(*v);
		v->action = action;
		v->rule = PF_POLICY_NO_RULE;
		v->check = PF_POLICY_IDENTITY;
		(void)snprintf(v->reason, sizeof(v->reason), "%s: identity of pid %d: %s",
			       pf_policy_action_name(action), (int)pid, strerror(-ms->err));
		return 0;
	}
	s = ms->s;
	(void)snprintf(s.namespace_name, sizeof(s.namespace_name), "%s", g->namespace_name);
	s.caps_count = governor_cap_names(g->domain, caps, names, PF_MEMBER_CAPS_MAX);
	s.caps = names;
	s.trust_ppm = trust_ppm;
	s.vnodes = vnodes;
	v->size = sizeof(*v);
	return pf_policy_eval(policy_of(g, action), action, &s, v);
}

int governor_judge_member(struct governor *g, uint32_t action, uint32_t slot,
			  struct pf_policy_verdict *v)
{
	struct pf_member_info mi = {.size = sizeof(mi)};
	int r = pf_member_info(g->domain, slot, &mi);

	if (r < 0)
		return -ENOENT;
	/* Placed and not yet adopted counts: the bound holds before the member catches up. */
	return governor_judge(g, action, slot, mi.generation, mi.pid, mi.start_time, mi.caps,
			      mi.trust_ppm, mi.vnodes_owned + mi.vnodes_placed, v);
}

/* Audit a hook's refusal, once per member and (action, rule, check). */
static void refusal_record(struct governor *g, uint32_t slot, uint32_t vnode,
			   const struct pf_policy_verdict *v)
{
	struct member_subject *ms = &g->subj[slot];
	uint32_t key = ((v->action << 16) | (v->rule << 8) | v->check) + 1u;
	char why[2 * sizeof(v->reason)];

	g->refusals++;
	if (ms->refused_key == key || g->to_auditor == NULL)
		return;
	ms->refused_key = key;
	log_msg(LOG_INFO, "policy: member %u.%u refused: %s", slot, ms->gen, v->reason);
	if (cmdq_record(g->to_auditor, "policy_refusal", PF_AUDIT_NO_VNODE,
			"{\"member\":\"%u.%u\",\"action\":\"%s\",\"rule\":%d,\"check\":\"%s\","
			"\"vnode\":%u,\"reason\":\"%s\"}",
			slot, ms->gen, pf_policy_action_name(v->action),
			v->rule == PF_POLICY_NO_RULE ? -1 : (int)v->rule,
			pf_policy_check_name(v->check), vnode,
			json_escape(v->reason, why, sizeof(why))) < 0)
		log_msg(LOG_ERROR, "policy: refusal of member %u not audited", slot);
}

static int hook(struct governor *g, uint32_t action, uint32_t vnode, uint32_t slot)
{
	const struct pf_manifest_policy *p = policy_of(g, action);
	struct pf_policy_verdict v = {.size = sizeof(v)};

	if (p->rules_count == 0)
		return 0; /* the common case: no rule, nothing to read */
	if (governor_judge_member(g, action, slot, &v) < 0)
		return -ENOENT;
	if (v.allowed)
		return 0;
	refusal_record(g, slot, vnode, &v);
	return -EPERM;
}

int governor_can_assign(void *arg, uint32_t vnode, uint32_t slot)
{
	return hook(arg, PF_POLICY_CAN_ASSIGN, vnode, slot);
}

int governor_can_handoff(void *arg, uint32_t vnode, uint32_t slot)
{
	return hook(arg, PF_POLICY_CAN_HANDOFF, vnode, slot);
}

int governor_sched_create(struct governor *g, struct pf_sched **ret_sched)
{
	struct pf_sched_opts so;

	pf_sched_opts_init(&so);
	so.can_assign = governor_can_assign;
	so.policy_arg = g;
	so.can_handoff = governor_can_handoff;
	so.handoff_arg = g;
	return pf_sched_create(g->domain, &so, ret_sched);
}

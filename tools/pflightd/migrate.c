/* SPDX-License-Identifier: MIT */
/* tools/pflightd/migrate.c: an operator's migrate request, audited (migrate.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "shm/pf_assert.h"
#include "tools/pflightd/log.h"
#include "tools/pflightd/migrate.h"

int migrator_init(struct migrator *m, struct pf_domain *domain, const struct pf_manifest *manifest,
		  struct cmdq *to_auditor)
{
	int r;

	PF_ASSERT(m != NULL && manifest != NULL);
	memset(m, 0, sizeof(*m));
	r = governor_init(&m->gov, domain, manifest, NULL);
	if (r == 0)
		r = governor_sched_create(&m->gov, &m->sched);
	if (r < 0) {
		governor_fini(&m->gov);
		return r;
	}
	m->domain = domain;
	m->to_auditor = to_auditor;
	PF_ASSERT(m->sched != NULL);
	return 0;
}

void migrator_fini(struct migrator *m)
{
	pf_sched_destroy(m->sched);
	m->sched = NULL;
	governor_fini(&m->gov);
}

/* Why a migrate to slot was refused, in words: the filter, or the policy's reason. */
static void migrate_reason(struct migrator *m, uint32_t vnode, uint32_t slot, int r,
			   const struct pf_sched_decision *dec, char *buf, size_t cap)
{
	struct pf_policy_verdict v = {.size = sizeof(v)};

	if (r == -EPERM && dec->reason == PF_SCHED_FILTER_POLICY &&
	    ((governor_judge_member(&m->gov, PF_POLICY_CAN_ASSIGN, slot, &v) == 0 && !v.allowed) ||
	     (governor_judge_member(&m->gov, PF_POLICY_CAN_HANDOFF, slot, &v) == 0 &&
	      !v.allowed))) {
		(void)snprintf(buf, cap, "%s", v.reason);
		return;
	}
	if (r == -EPERM)
		(void)snprintf(buf, cap, "member %u cannot take VNode %u: %s", slot, vnode,
			       pf_sched_reason_name(dec->reason));
	else if (r == -ENOENT)
		(void)snprintf(buf, cap, "VNode %u is not owned by anyone now", vnode);
	else if (r == -EALREADY)
		(void)snprintf(buf, cap, "VNode %u is already on member %u", vnode, slot);
	else if (r == -ESRCH)
		(void)snprintf(buf, cap, "no ACTIVE member in slot %u", slot);
	else if (r == -EBUSY)
		(void)snprintf(buf, cap, "VNode %u already has a move pending", vnode);
	else
		(void)snprintf(buf, cap, "%s", strerror(-r));
}

static const char *migrate_error(int r)
{
	switch (r) {
	case -ENOENT:
		return "not_owned";
	case -EALREADY:
		return "already_there";
	case -ESRCH:
		return "no_member";
	case -EPERM:
		return "refused";
	case -EBUSY:
		return "busy";
	default:
		return "error";
	}
}

static void refused(struct migrator *m, uint32_t vnode, uint32_t slot, const char *by,
		    const struct pf_sched_decision *dec, struct migrate_outcome *out)
{
	char esc[2 * MIGRATE_REASON_MAX];

	m->refused++;
	out->error = migrate_error(out->r);
	migrate_reason(m, vnode, slot, out->r, dec, out->reason, sizeof(out->reason));
	json_escape(out->reason, esc, sizeof(esc));
	if (cmdq_record(m->to_auditor, "migrate_refused", vnode,
			"{\"to_slot\":%u,%s,\"error\":\"%s\",\"reason\":\"%s\"}", slot, by,
			out->error, esc) < 0)
		log_msg(LOG_ERROR, "auditor queue full: migrate_refused of VNode %u not audited",
			vnode);
}

int migrate_ask(struct migrator *m, uint32_t vnode, uint32_t slot, const char *by,
		const char *by_log, struct migrate_outcome *out)
{
	struct pf_sched_decision dec = {.size = sizeof(dec)};
	struct pf_vnode_info vi = {.size = sizeof(vi)};

	PF_ASSERT(m != NULL && m->sched != NULL && m->gov.gov != NULL);
	PF_ASSERT(by != NULL && by_log != NULL && out != NULL);
	memset(out, 0, sizeof(*out));
	out->from = pf_vnode_info(m->domain, vnode, &vi) == 0 && (vi.state == PF_VNODE_ACTIVE ||
								  vi.state == PF_VNODE_MIGRATING ||
								  vi.state == PF_VNODE_DRAINING)
			    ? (int32_t)vi.owner_slot
			    : -1;
	out->r = pf_sched_migrate(m->sched, vnode, slot, &dec);
	if (out->r < 0) {
		refused(m, vnode, slot, by, &dec, out);
		return out->r;
	}
	m->migrates++;
	out->to_slot = dec.winner_slot;
	out->to_generation = dec.winner_generation;
	out->epoch = dec.epoch;
	if (cmdq_record(m->to_auditor, "migrate_request", vnode,
			"{\"from\":%d,\"to\":\"%u.%u\",\"epoch\":%llu,%s}", (int)out->from,
			dec.winner_slot, dec.winner_generation, (unsigned long long)dec.epoch,
			by) < 0)
		log_msg(LOG_ERROR, "auditor queue full: migrate_request of VNode %u not audited",
			vnode);
	log_msg(LOG_INFO, "%s: migrate VNode %u from member %d to %u.%u", by_log, vnode,
		(int)out->from, dec.winner_slot, dec.winner_generation);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/auditor.c: the auditor agent, the audit log's only writer.
 *
 * Sources of records, and why each is complete enough:
 *   placement  every decision a scheduler in this domain made while we were subscribed
 *              to explanations (pf_sched_explain_read). Placed decisions become one
 *              `placement` record each, about the VNode (its lineage). Decisions that
 *              placed nothing are counted, not recorded: a VNode nobody can take is
 *              retried every few milliseconds and would flood the log. Explanations
 *              overwritten before we read them show as a gap in their sequence numbers
 *              and become one `placement_gap` record, so the log never hides a loss. An
 *              explanation read after the ownership watcher already recorded its epoch
 *              (it waited WATCH_SETTLE_NS for it) becomes `placement_late`, outside the
 *              lineage, so a lineage's epochs never go back.
 *   define, claim, move, release  the ownership watcher (watch.c): every other change of
 *              a VNode's ownership word (a worker's own claim, a hand-off, a release by
 *              the owner, its leave, the repair after its death, a drain deadline, a new
 *              VNode), found by sweeping the VNode table a bounded chunk per pass, one
 *              record about the VNode each, with the epochs it could not see counted.
 *              Explanations are read before each chunk, and a placement's epoch counts as
 *              recorded, so a placement is never recorded again as a claim.
 *   join, leave, death  a diff of the member table whenever the membership version
 *              moves. A death arrives first as CMD_DEATH with its cause, whichever
 *              supervisor repaired it: our conductor's reports the repairs of every
 *              generation it saw live (commands are taken before the table is scanned,
 *              so a slot already taken again is not mistaken for a leave). A member that
 *              joined and died between two passes of the conductor is seen only by the
 *              scan, as the slot being DEAD within the slot grace period.
 *   quarantine CMD_QUARANTINE from the conductor: a member whose record failed the
 *              supervisor's check (pflight/supervisor.h), with the field; it ends that
 *              generation's records as a death would.
 *   drain_start, drain_step, drain_done, retire, drain_end  CMD_RECORD from the
 *              scheduler agent, which steps the drains.
 *   others     CMD_RECORD from the main thread (reloads, admissions).
 * Members and VNodes found at start-up are not recorded (a restarted daemon would record
 * them twice): they are taken as seen, and daemon_start says how many there were. When
 * the daemon stops, auditor_flush() records what changed since the last sweep.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/pflightd/daemon.h"
#include "tools/pflightd/log.h"

#define DETAILS_BYTES 1024 /* the largest details object we build, with room to spare */

/* Append now, ahead of what waits in batches: for records in no lineage and about no
 * member (a count of lost explanations), whose place among the batches says nothing. */
static int append_now(struct auditor *a, const char *event, const char *subject,
		      const char *details, uint32_t vnode)
{
	int r = pf_audit_append(a->log, event, subject, details, vnode, NULL);

	if (r < 0) {
		a->append_errors++;
		if (a->append_errors == 1 || r == -ESHUTDOWN)
			log_msg(LOG_ERROR, "audit: append %s: %s", event, strerror(-r));
	}
	return r;
}

int auditor_append(struct auditor *a, const char *event, const char *subject, const char *details,
		   uint32_t vnode)
{
	int r = abatch_flush(a); /* what waits was before this */

	if (r < 0 && vnode != PF_AUDIT_NO_VNODE && abatch_pending(a, vnode))
		return -EAGAIN; /* its own earlier change is not written: after it, or not at all */
	return append_now(a, event, subject, details, vnode);
}

/* Scan the member table: record joins and departures since the last scan (record = 0:
 * only remember what is there). Returns records appended. */
static int scan_members(struct auditor *a, int record)
{
	struct pf_member_info mi = {.size = sizeof(mi)};
	char subject[64], details[DETAILS_BYTES];
	int n = 0;

	for (uint32_t slot = 0; slot < a->members_max; slot++) {
		struct seen_member *s = &a->seen[slot];
		int r = pf_member_info(a->domain, slot, &mi);
		int live =
			r == 0 && (mi.state == PF_MEMBER_ACTIVE || mi.state == PF_MEMBER_DRAINING);
		int same = r == 0 && mi.generation == s->generation;

		if (s->live && !(live && same)) {
			int dead = same && mi.state == PF_MEMBER_DEAD;

			(void)snprintf(subject, sizeof(subject), "member:%u.%u", slot,
				       s->generation);
			(void)snprintf(
				details, sizeof(details),
				"{\"slot\":%u,\"generation\":%u,\"pid\":%d,\"cause\":\"%s\"}", slot,
				s->generation, s->pid, dead ? "found-dead" : "left");
			if (record && auditor_append(a, dead ? "death" : "leave", subject, details,
						     PF_AUDIT_NO_VNODE) == 0)
				n++;
			s->live = 0;
		}
		if (live && !s->live) {
			s->live = 1;
			s->generation = mi.generation;
			s->pid = mi.pid;
			(void)snprintf(subject, sizeof(subject), "member:%u.%u", slot,
				       mi.generation);
			(void)snprintf(details, sizeof(details),
				       "{\"slot\":%u,\"generation\":%u,\"pid\":%d,\"uid\":%u,"
				       "\"numa_node\":%d,\"state\":\"%s\",\"capacity\":%u}",
				       slot, mi.generation, (int)mi.pid, (unsigned)mi.uid,
				       mi.numa_node,
				       pf_member_state_name(mi.state) != NULL
					       ? pf_member_state_name(mi.state)
					       : "unknown",
				       mi.vnode_capacity);
			if (record &&
			    auditor_append(a, "join", subject, details, PF_AUDIT_NO_VNODE) == 0)
				n++;
		}
	}
	return n;
}

/* Our conductor's supervisor repaired a member, or saw one it had watched live repaired by
 * a worker's (PF_SUPERVISOR_ALL_REPAIRS): record its death with the cause, once. */
static int record_death(struct auditor *a, const struct cmd *c)
{
	char subject[64], details[DETAILS_BYTES];
	struct seen_member *s;

	if (c->slot >= a->members_max)
		return 0;
	s = &a->seen[c->slot];
	if (s->generation == c->generation && !s->live)
		return 0; /* a scan saw it dead first and recorded it */
	(void)snprintf(subject, sizeof(subject), "member:%u.%u", c->slot, c->generation);
	(void)snprintf(details, sizeof(details),
		       "{\"slot\":%u,\"generation\":%u,\"pid\":%d,\"cause\":\"%s\","
		       "\"vnodes_repaired\":%u}",
		       c->slot, c->generation, s->generation == c->generation ? s->pid : 0,
		       daemon_cause_name(c->cause), c->vnodes);
	s->live = 0;
	s->generation = c->generation;
	return auditor_append(a, "death", subject, details, PF_AUDIT_NO_VNODE) == 0;
}

/* Our conductor quarantined a member: the end of that generation. Its death, which may follow
 * as CMD_DEATH, is not recorded again, nor a scan's later view of its slot; a scan that saw
 * the slot dead first has recorded a death already, and this record is kept all the same
 * (it alone names the field). */
static int record_quarantine(struct auditor *a, const struct cmd *c)
{
	char subject[64], details[DETAILS_BYTES], field[64];
	struct seen_member *s;

	if (c->slot >= a->members_max)
		return 0;
	s = &a->seen[c->slot];
	(void)snprintf(subject, sizeof(subject), "member:%u.%u", c->slot, c->generation);
	(void)snprintf(details, sizeof(details),
		       "{\"slot\":%u,\"generation\":%u,\"pid\":%d,\"field\":\"%s\","
		       "\"cause\":\"quarantined\"}",
		       c->slot, c->generation, (int)c->pid,
		       json_escape(c->text, field, sizeof(field)));
	s->live = 0;
	s->generation = c->generation;
	return auditor_append(a, "quarantine", subject, details, PF_AUDIT_NO_VNODE) == 0;
}

/* "vnode:<id>" for a record about a VNode, else "pflightd". */
static const char *record_subject(const struct cmd *c, char *buf, size_t cap)
{
	if (c->vnode == PF_AUDIT_NO_VNODE)
		return "pflightd";
	(void)snprintf(buf, cap, "vnode:%u", c->vnode);
	return buf;
}

static int take_commands(struct auditor *a)
{
	char subject[64];
	struct cmd c;
	int n = 0;

	while (n < (int)CMDQ_DRAIN_LIMIT && cmdq_take(a->inbox, &c) == 0) {
		n++;
		if (c.type == CMD_DEATH)
			(void)record_death(a, &c);
		else if (c.type == CMD_QUARANTINE)
			(void)record_quarantine(a, &c);
		else if (c.type == CMD_RECORD)
			(void)auditor_append(a, c.event,
					     record_subject(&c, subject, sizeof(subject)), c.text,
					     c.vnode);
	}
	return n;
}

/* A fraction in parts per million, as an integer: JSON numbers without float formatting. */
static long long ppm(double x)
{
	return isfinite(x) ? llround(x * 1e6) : -1;
}

/* A placement, in the VNode's lineage (link: batched with the placements on the same
 * member by the same strategy) or outside it (a late explanation). */
static int record_placement(struct auditor *a, const struct pf_sched_decision *d, uint64_t seq,
			    int link, uint32_t skipped)
{
	char subject[64], details[DETAILS_BYTES], shared[128];
	struct watch_rec rec = {
		.event = "placement", .vnode = d->vnode, .epoch = (uint32_t)d->epoch};

	(void)snprintf(subject, sizeof(subject), "vnode:%u", d->vnode);
	(void)snprintf(details, sizeof(details),
		       "{\"explain_seq\":%llu,\"strategy\":\"%s\",\"member\":\"%u.%u\","
		       "\"epoch\":%llu,\"candidates\":%u,\"filtered\":{\"state\":%u,\"caps\":%u,"
		       "\"trust\":%u,\"policy\":%u,\"full\":%u,\"bound\":%u},\"home_node\":%d,"
		       "\"member_node\":%d,\"score_ppm\":%lld,\"reliability_ppm\":%lld,"
		       "\"trust_ppm\":%lld,\"load_ppm\":%lld,\"numa_factor_ppm\":%lld,"
		       "\"skipped\":%u}",
		       (unsigned long long)seq, pf_sched_strategy_name(d->strategy), d->winner_slot,
		       d->winner_generation, (unsigned long long)d->epoch, d->candidates,
		       d->filtered[PF_SCHED_FILTERED_STATE], d->filtered[PF_SCHED_FILTERED_CAPS],
		       d->filtered[PF_SCHED_FILTERED_TRUST], d->filtered[PF_SCHED_FILTERED_POLICY],
		       d->filtered[PF_SCHED_FILTERED_FULL], d->filtered[PF_SCHED_FILTERED_BOUND],
		       d->home_node, d->winner_node, ppm(d->score), ppm(d->reliability),
		       ppm(d->trust), ppm(d->load), ppm(d->numa_factor), skipped);
	if (!link)
		return auditor_append(a, "placement_late", subject, details, PF_AUDIT_NO_VNODE) ==
		       0;
	(void)snprintf(shared, sizeof(shared), "{\"member\":\"%u.%u\",\"strategy\":\"%s\"}",
		       d->winner_slot, d->winner_generation, pf_sched_strategy_name(d->strategy));
	rec.details = details;
	rec.shared = shared;
	return abatch_add(a, &rec) == 0;
}

/* A placed decision: through the watcher, which records what led to it first. */
static void take_placement(struct auditor *a, const struct pf_sched_decision *d, uint64_t seq)
{
	uint32_t skipped = 0;
	enum watch_place how = watch_placement(&a->watch, d->vnode, d->epoch, &skipped);

	if (how == WATCH_PLACE_KNOWN)
		return; /* made before we started: part of the state taken as seen */
	if (!record_placement(a, d, seq, how == WATCH_PLACE_LINK, skipped))
		return; /* not recorded: the watcher will record the ownership as a claim */
	a->placements++;
	if (how == WATCH_PLACE_LINK)
		watch_placed(&a->watch, d->vnode, d->winner_slot, d->winner_generation, d->epoch);
}

static void record_gap(struct auditor *a, uint64_t from, uint64_t lost)
{
	char details[128];

	(void)snprintf(details, sizeof(details), "{\"lost\":%llu,\"from_seq\":%llu}",
		       (unsigned long long)lost, (unsigned long long)from);
	a->lost += lost;
	log_msg(LOG_WARN, "audit: %llu placement explanations lost from %llu",
		(unsigned long long)lost, (unsigned long long)from);
	(void)append_now(a, "placement_gap", "pflightd", details, PF_AUDIT_NO_VNODE);
}

static int take_explanations(struct auditor *a)
{
	uint64_t expect = a->cursor;
	int n = pf_sched_explain_read(a->domain, &a->cursor, a->batch, EXPLAIN_BATCH, a->seqs);

	for (int i = 0; i < n; i++) {
		const struct pf_sched_decision *d = &a->batch[i];

		if (a->seqs[i] > expect)
			record_gap(a, expect, a->seqs[i] - expect);
		expect = a->seqs[i] + 1;
		if (d->reason != PF_SCHED_PLACED) {
			a->unplaced++;
			continue;
		}
		take_placement(a, d, a->seqs[i]);
	}
	return n > 0 ? n : 0;
}

/* The watcher's records are batched with the changes alike. */
static int watch_record(void *arg, const struct watch_rec *rec)
{
	return abatch_add(arg, rec);
}

int auditor_do_work(void *arg)
{
	struct auditor *a = arg;
	uint32_t version = 0;
	int work = take_commands(a);

	/* Before the watcher: placements are not claims. Up to the explanation ring's default
	 * size a pass, so a burst of placements is read before it is overwritten. */
	for (int k = 0, n = EXPLAIN_BATCH; k < EXPLAIN_READS && n == EXPLAIN_BATCH; k++) {
		n = take_explanations(a);
		work += n;
	}
	(void)pf_domain_membership(a->domain, &version);
	if (version != a->version) {
		a->version = version;
		work += 1 + scan_members(a, 1);
	}
	work += watch_pass(&a->watch, mono_ns());
	/* A burst fills batches while it lasts; a pass that found nothing ends it. A write that
	 * fails is tried again at the next pass. */
	(void)(work == 0 ? abatch_flush(a) : abatch_flush_due(a, mono_ns()));
	return work;
}

int auditor_flush(struct auditor *a)
{
	int n = 0, r;

	while ((r = take_explanations(a)) > 0)
		n += r;
	n += watch_final(&a->watch, mono_ns());
	(void)abatch_flush(a);
	return n;
}

int auditor_init(struct auditor *a, struct pf_domain *domain, struct pf_audit *log,
		 struct cmdq *inbox)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	int r = pf_domain_info(domain, &di);

	if (r < 0)
		return r;
	memset(a, 0, sizeof(*a));
	a->domain = domain;
	a->log = log;
	a->inbox = inbox;
	a->members_max = di.members_max;
	a->seen = calloc(di.members_max, sizeof(*a->seen));
	if (a->seen == NULL)
		return -ENOMEM;
	r = pf_sched_explain_subscribe(domain);
	if (r < 0) {
		free(a->seen);
		a->seen = NULL;
		return r;
	}
	/* Skip what earlier subscribers (a previous daemon) already audited. */
	while (pf_sched_explain_read(domain, &a->cursor, a->batch, EXPLAIN_BATCH, NULL) > 0)
		;
	(void)pf_domain_membership(domain, &a->version);
	(void)scan_members(a, 0);
	r = abatch_init(&a->batches, di.vnodes_max);
	if (r == 0) {
		r = watch_init(&a->watch, domain, watch_record, a);
		if (r < 0)
			abatch_fini(&a->batches);
	}
	if (r < 0) {
		pf_sched_explain_unsubscribe(domain);
		free(a->seen);
		a->seen = NULL;
	}
	return r;
}

void auditor_fini(struct auditor *a)
{
	if (a->seen == NULL)
		return;
	pf_sched_explain_unsubscribe(a->domain);
	watch_fini(&a->watch);
	abatch_fini(&a->batches);
	free(a->seen);
	a->seen = NULL;
}

uint32_t auditor_live(const struct auditor *a)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < a->members_max; i++)
		n += a->seen[i].live;
	return n;
}

/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/admission.c: the conductor's admission work, the daemon's side of the
 * gate (pflight/policy.h).
 *
 * While the daemon runs it holds the domain's admission gate, so every join waits for its
 * decision: strict when policies or tokens are in force (joins fail while no daemon
 * runs: nothing joins unjudged), loose otherwise (a joiner goes on alone when the daemon
 * is gone, and the next daemon reviews it). Each pass:
 *   1. takes grants from the control socket (CMD_GRANT: a join token accepted for a
 *      process, with its start time, the trust and the capabilities it grants) and
 *      forgets grants older than GRANT_TTL_NS or past their token's expiry;
 *   2. decides every joiner waiting at the gate: a grant for its process sets its trust
 *      and bounds the capabilities it may declare; tokens_required refuses a joiner
 *      without one; then the can-register policy judges what /proc says of it. Trust at
 *      admission = the credential's (the token's, else TRUST_DEFAULT_PPM) times the
 *      reliability its identity's failure history gives it, so it starts from the
 *      credential and falls with failures;
 *   3. when the membership moved, reviews live members with no decision (they joined
 *      while the gate was open): allowed ones are marked, refused ones are cordoned, so
 *      the scheduler drains them: nothing they hold is lost.
 * Every decision is audited (admit, admit_refused, review) with the rule that decided.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tools/pflightd/daemon.h"
#include "tools/pflightd/log.h"

#define GRANT_TTL_NS (10ull * 1000000000ull) /* a token's grant waits this long for a join */
#define ADMIT_BUDGET 64u                     /* joiners decided per pass */

static int strict_needed(const struct pf_manifest_governance *g)
{
	return g->tokens_required || g->can_register.rules_count > 0;
}

int admission_init(struct admission *a, struct pf_domain *domain, const struct pf_manifest *m,
		   struct cmdq *inbox, struct cmdq *to_auditor)
{
	int r;

	memset(a, 0, sizeof(*a));
	a->domain = domain;
	a->inbox = inbox;
	a->to_auditor = to_auditor;
	r = governor_init(&a->gov, domain, m, NULL);
	if (r < 0)
		return r;
	a->strict = (uint32_t)strict_needed(&m->governance);
	r = pf_admission_gate(domain, (int32_t)getpid(), a->strict ? PF_ADMISSION_STRICT : 0);
	if (r < 0)
		governor_fini(&a->gov);
	a->version = UINT32_MAX; /* review at the first pass */
	return r;
}

void admission_fini(struct admission *a)
{
	if (a->domain == NULL)
		return;
	/* Loose: let joins go on without us. Strict: keep the gate closed (fail closed). */
	if (!a->strict)
		(void)pf_admission_gate(a->domain, 0, 0);
	governor_fini(&a->gov);
	a->domain = NULL;
}

/* How long a grant waits for its join: GRANT_TTL_NS, and never past its token's expiry
 * (unix seconds): a token accepted just before it expires admits no join after. */
static uint64_t grant_ttl_ns(uint64_t expires)
{
	struct timespec ts;
	uint64_t now_ns, end_ns = expires * 1000000000ull;

	if (clock_gettime(CLOCK_REALTIME, &ts) < 0 || expires > UINT64_MAX / 1000000000ull)
		return GRANT_TTL_NS;
	now_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	if (end_ns <= now_ns)
		return 0;
	return end_ns - now_ns < GRANT_TTL_NS ? end_ns - now_ns : GRANT_TTL_NS;
}

static void grant_add(struct admission *a, const struct cmd *c, uint64_t now)
{
	struct grant *g = &a->grants[0];
	uint64_t ttl = grant_ttl_ns(c->expires);

	if (ttl == 0)
		return; /* expired on the way here */

	for (uint32_t i = 0; i < GRANTS_MAX; i++) {
		struct grant *x = &a->grants[i];

		if (x->pid == c->pid || x->pid == 0) {
			g = x;
			break;
		}
		if (x->until_ns < g->until_ns)
			g = x; /* full: the oldest gives way */
	}
	memset(g, 0, sizeof(*g));
	g->pid = c->pid;
	g->start_time = c->start_time;
	g->trust_ppm = c->trust_ppm;
	g->until_ns = now + ttl;
	(void)snprintf(g->caps, sizeof(g->caps), "%.*s", (int)sizeof(g->caps) - 1, c->text);
}

static void take_commands(struct admission *a, uint64_t now)
{
	struct cmd c;

	for (uint32_t n = 0; n < CMDQ_DRAIN_LIMIT && cmdq_take(a->inbox, &c) == 0; n++) {
		if (c.type == CMD_GRANT) {
			grant_add(a, &c, now);
		} else if (c.type == CMD_GOVERNANCE) {
			struct pf_manifest_governance *gov = c.ptr;

			a->strict = (uint32_t)strict_needed(gov);
			governor_set(&a->gov, gov);
			(void)pf_admission_gate(a->domain, (int32_t)getpid(),
						a->strict ? PF_ADMISSION_STRICT : 0);
			a->version = UINT32_MAX;
			a->rejudge = 1; /* every live member, under the new rules */
		}
	}
	for (uint32_t i = 0; i < GRANTS_MAX; i++)
		if (a->grants[i].pid != 0 && a->grants[i].until_ns <= now)
			a->grants[i].pid = 0;
}

static struct grant *grant_for(struct admission *a, int32_t pid, uint64_t start_time)
{
	for (uint32_t i = 0; i < GRANTS_MAX; i++)
		if (a->grants[i].pid == pid && a->grants[i].start_time == start_time)
			return &a->grants[i];
	return NULL;
}

/* 1 when every capability declared is in the grant's comma list. */
static int caps_granted(struct admission *a, const uint64_t caps[2], const struct grant *g,
			const char **missing)
{
	const char *names[PF_MEMBER_CAPS_MAX];
	uint32_t n = governor_cap_names(a->domain, caps, names, PF_MEMBER_CAPS_MAX);

	for (uint32_t i = 0; i < n; i++) {
		size_t len = strlen(names[i]);
		const char *p = g->caps;
		int found = 0;

		while (!found && *p != '\0') {
			size_t k = strcspn(p, ",");

			found = k == len && strncmp(p, names[i], len) == 0;
			p += k + (p[k] == ',');
		}
		if (!found) {
			*missing = names[i];
			return 0;
		}
	}
	return 1;
}

static void token_verdict(struct pf_policy_verdict *v, uint32_t check, const char *why)
{
	memset(v, 0, sizeof(*v));
	v->size = sizeof(*v);
	v->action = PF_POLICY_CAN_REGISTER;
	v->rule = PF_POLICY_NO_RULE;
	v->check = check;
	(void)snprintf(v->reason, sizeof(v->reason), "can_register: %s", why);
}

/* The verdict for a joiner, and the trust it would get. */
static void judge_joiner(struct admission *a, const struct pf_admission_request *q,
			 struct pf_policy_verdict *v, uint32_t *trust, const char **credential)
{
	struct pf_member_info mi = {.size = sizeof(mi)};
	struct grant *g = grant_for(a, q->pid, q->start_time);
	uint32_t reliability = PF_PPM;
	const char *missing = NULL;
	char why[160];
	int r;

	/* Everything below is read of the process the joiner names: first, the kernel must
	 * show that process holds the slot (a writer of the segment could name another). */
	r = pf_admission_verify(a->domain, q);
	if (r < 0) {
		*trust = 0;
		*credential = "none";
		(void)snprintf(why, sizeof(why), "pid %d %s", (int)q->pid,
			       r == -EPERM    ? "does not hold this slot: the joiner's claim is "
						"not that process's"
			       : r == -EACCES ? "may not be inspected by pflightd (it needs root, "
						"or the worker's uid)"
			       : r == -ESRCH  ? "is gone"
					      : strerror(-r));
		token_verdict(v, PF_POLICY_IDENTITY, why);
		return;
	}
	if (pf_member_info(a->domain, q->slot, &mi) == 0 && mi.generation == q->generation)
		reliability = mi.reliability_ppm;
	*trust = (uint32_t)((uint64_t)(g != NULL ? g->trust_ppm : TRUST_DEFAULT_PPM) * reliability /
			    PF_PPM);
	*credential = g != NULL ? "token" : "none";
	if (g == NULL && governor_policies(&a->gov)->tokens_required) {
		token_verdict(v, PF_POLICY_TOKEN_REQUIRED,
			      "a join token is required and none was presented");
		return;
	}
	if (g != NULL && !caps_granted(a, q->caps, g, &missing)) {
		(void)snprintf(why, sizeof(why), "capability %.47s is not granted by the token",
			       missing);
		token_verdict(v, PF_POLICY_TOKEN_CAPS, why);
		return;
	}
	(void)governor_judge(&a->gov, PF_POLICY_CAN_REGISTER, q->slot, q->generation, q->pid,
			     q->start_time, q->caps, *trust, 0, v);
	if (v->allowed && g != NULL)
		g->pid = 0; /* used: a grant admits one join */
}

/* The escaped exe and reason of a decision record, and room for its other fields (97
 * bytes of text, six numbers, the credential and the check's name: under 200). A record
 * that did not fit a command would be refused whole (-EMSGSIZE): not audited. */
#define DECISION_EXE_BYTES (2 * PF_MANIFEST_PATH_MAX)
#define DECISION_WHY_BYTES (2 * sizeof(((struct pf_policy_verdict *)0)->reason))
_Static_assert(DECISION_EXE_BYTES + DECISION_WHY_BYTES + 256 <= CMDQ_TEXT_MAX,
	       "an admission record with the longest exe and reason must fit a command");

static void record_decision(struct admission *a, const struct pf_admission_request *q,
			    const struct pf_policy_verdict *v, uint32_t trust, const char *cred)
{
	const struct member_subject *ms = &a->gov.subj[q->slot];
	const char *exe = ms->gen == q->generation && ms->err == 0 ? ms->s.exe : "";
	uint32_t uid = ms->gen == q->generation && ms->err == 0 ? ms->s.uid : q->uid;
	char why[DECISION_WHY_BYTES], exe_esc[DECISION_EXE_BYTES];

	log_msg(v->allowed ? LOG_INFO : LOG_WARN, "admission: member %u.%u (pid %d) %s: %s",
		q->slot, q->generation, (int)q->pid, v->allowed ? "admitted" : "refused",
		v->reason);
	if (cmdq_record(a->to_auditor, v->allowed ? "admit" : "admit_refused", PF_AUDIT_NO_VNODE,
			"{\"member\":\"%u.%u\",\"pid\":%d,\"uid\":%u,\"exe\":\"%s\","
			"\"credential\":\"%s\",\"trust_ppm\":%u,\"rule\":%d,\"check\":\"%s\","
			"\"reason\":\"%s\"}",
			q->slot, q->generation, (int)q->pid, uid,
			json_escape(exe, exe_esc, sizeof(exe_esc)), cred, v->allowed ? trust : 0,
			v->rule == PF_POLICY_NO_RULE ? -1 : (int)v->rule,
			pf_policy_check_name(v->check),
			json_escape(v->reason, why, sizeof(why))) < 0)
		log_msg(LOG_ERROR, "admission: decision on member %u not audited", q->slot);
}

static int admit_pending(struct admission *a)
{
	struct pf_admission_request q = {.size = sizeof(q)};
	uint32_t cursor = 0;
	int n = 0;

	while (n < (int)ADMIT_BUDGET && pf_admission_pending(a->domain, &cursor, &q) == 0) {
		struct pf_policy_verdict v = {.size = sizeof(v)};
		const char *cred = "none";
		uint32_t trust = 0;

		judge_joiner(a, &q, &v, &trust, &cred);
		if (pf_admission_decide(a->domain, q.slot, q.generation, &v, trust,
					v.allowed && strcmp(cred, "token") == 0
						? PF_ADMISSION_BY_TOKEN
						: 0) < 0)
			continue; /* it gave up or died meanwhile: nothing to record */
		record_decision(a, &q, &v, trust, cred);
		if (v.allowed)
			a->admitted++;
		else
			a->refused++;
		n++;
	}
	return n;
}

/* A live member that never passed the gate: judge it now; cordon it when refused. */
static int review_one(struct admission *a, uint32_t slot, const struct pf_member_info *mi)
{
	struct pf_policy_verdict v = {.size = sizeof(v)};
	uint32_t by_token = mi->admission == PF_ADMISSION_GRANTED &&
			    (mi->admission_detail & PF_ADMISSION_BY_TOKEN) != 0;
	char why[2 * sizeof(v.reason)];
	int cordoned = 0;

	if (governor_policies(&a->gov)->tokens_required && !by_token)
		token_verdict(&v, PF_POLICY_TOKEN_REQUIRED,
			      "joined without a join token while tokens are required");
	else
		(void)governor_judge(&a->gov, PF_POLICY_CAN_REGISTER, slot, mi->generation, mi->pid,
				     mi->start_time, mi->caps, mi->trust_ppm, 0, &v);
	if (pf_admission_decide(a->domain, slot, mi->generation, &v, mi->trust_ppm,
				v.allowed && by_token ? PF_ADMISSION_BY_TOKEN : 0) < 0)
		return 0;
	if (!v.allowed && mi->state == PF_MEMBER_ACTIVE)
		cordoned = pf_member_cordon(a->domain, slot, 0) == 0;
	a->reviewed++;
	log_msg(v.allowed ? LOG_INFO : LOG_WARN, "admission: member %u.%u reviewed: %s%s", slot,
		mi->generation, v.reason, cordoned ? " (cordoned: its VNodes drain away)" : "");
	if (cmdq_record(a->to_auditor, "review", PF_AUDIT_NO_VNODE,
			"{\"member\":\"%u.%u\",\"pid\":%d,\"allowed\":%s,\"rule\":%d,"
			"\"check\":\"%s\",\"cordoned\":%s,\"reason\":\"%s\"}",
			slot, mi->generation, (int)mi->pid, v.allowed ? "true" : "false",
			v.rule == PF_POLICY_NO_RULE ? -1 : (int)v.rule,
			pf_policy_check_name(v.check), cordoned ? "true" : "false",
			json_escape(v.reason, why, sizeof(why))) < 0)
		log_msg(LOG_ERROR, "admission: review of member %u not audited", slot);
	return 1;
}

static int review(struct admission *a)
{
	uint32_t version = 0;
	int n = 0;

	(void)pf_domain_membership(a->domain, &version);
	if (version == a->version)
		return 0;
	a->version = version;
	for (uint32_t slot = 0; slot < a->gov.members_max; slot++) {
		struct pf_member_info mi = {.size = sizeof(mi)};

		if (pf_member_info(a->domain, slot, &mi) < 0 ||
		    (mi.admission != PF_ADMISSION_NONE && !a->rejudge) ||
		    (mi.state != PF_MEMBER_ACTIVE && mi.state != PF_MEMBER_DRAINING))
			continue;
		n += review_one(a, slot, &mi);
	}
	a->rejudge = 0;
	return n;
}

int admission_do_work(struct admission *a)
{
	uint64_t now = mono_ns();

	take_commands(a, now);
	return admit_pending(a) + review(a);
}

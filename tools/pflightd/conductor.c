/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/conductor.c: the conductor agent, the daemon's supervisor.
 *
 * It steps a pf_supervisor: each pass finds dead and hung members, repairs them (their
 * VNodes go back to PENDING with epoch + 1) and sweeps; then it decides the joins waiting
 * at the admission gate (admission.c). Workers that joined with
 * PF_MEMBER_SUPERVISE run embedded supervisors too and may repair first: every repair
 * step is a CAS, so whoever wins, each death is repaired once. The repair callback runs
 * on the conductor's thread and only posts a command to the auditor: the audit log has
 * one writer. Whenever a pass finds the membership moved, it writes the REST API's wake
 * eventfd, so the API thread (parked up to HTTP_PARK_NS otherwise) starts timing a
 * death's recovery at once.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>

#include "tools/pflightd/daemon.h"
#include "tools/pflightd/log.h"

static void on_repair(void *arg, uint32_t slot, uint32_t generation, uint32_t cause,
		      uint32_t vnodes)
{
	struct conductor *c = arg;
	struct cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.type = CMD_DEATH;
	cmd.slot = slot;
	cmd.generation = generation;
	cmd.cause = cause;
	cmd.vnodes = vnodes;
	c->repairs++;
	log_msg(LOG_WARN, "member %u.%u died (%s): %u VNodes back to pending", slot, generation,
		daemon_cause_name(cause), vnodes);
	if (cmdq_send(c->to_auditor, &cmd) < 0)
		log_msg(LOG_ERROR, "auditor queue full: death of member %u.%u not audited", slot,
			generation);
}

/* A member whose record failed the supervisor's check, declared dead by our CAS (not
 * killed: its record is no proof of which process it is). Its audit record is the end of
 * that generation, as a death record would be. */
static void on_quarantine(void *arg, uint32_t slot, uint32_t generation, int32_t pid,
			  const char *field)
{
	struct conductor *c = arg;
	struct cmd cmd;

	memset(&cmd, 0, sizeof(cmd));
	cmd.type = CMD_QUARANTINE;
	cmd.slot = slot;
	cmd.generation = generation;
	cmd.pid = pid;
	(void)snprintf(cmd.text, sizeof(cmd.text), "%s", field);
	c->quarantines++;
	log_msg(LOG_WARN, "member %u.%u quarantined: its record's %s failed the check", slot,
		generation, field);
	if (cmdq_send(c->to_auditor, &cmd) < 0)
		log_msg(LOG_ERROR, "auditor queue full: quarantine of member %u.%u not audited",
			slot, generation);
}

int conductor_init(struct conductor *c, struct pf_domain *domain, const struct pf_manifest *m,
		   struct cmdq *inbox, struct cmdq *to_auditor, int wake_fd)
{
	struct pf_supervisor_opts so;
	int r;

	memset(c, 0, sizeof(*c));
	c->domain = domain;
	c->to_auditor = to_auditor;
	c->wake_fd = wake_fd;
	(void)pf_domain_membership(domain, &c->membership_seen);
	pf_supervisor_opts_init(&so);
	so.on_repair = on_repair;
	so.on_quarantine = on_quarantine;
	so.flags = PF_SUPERVISOR_QUARANTINE | PF_SUPERVISOR_ALL_REPAIRS;
	so.arg = c;
	r = pf_supervisor_create(domain, &so, &c->supervisor);
	if (r < 0)
		return r;
	r = admission_init(&c->admission, domain, m, inbox, to_auditor);
	if (r < 0) {
		pf_supervisor_destroy(c->supervisor);
		c->supervisor = NULL;
	}
	return r;
}

void conductor_fini(struct conductor *c)
{
	admission_fini(&c->admission);
	pf_supervisor_destroy(c->supervisor);
	c->supervisor = NULL;
}

/* Tell whoever parks on wake_fd that the membership moved (one write per change seen). */
static void wake_on_membership(struct conductor *c)
{
	uint32_t version = 0;

	if (c->wake_fd < 0 || pf_domain_membership(c->domain, &version) < 0 ||
	    version == c->membership_seen)
		return;
	c->membership_seen = version;
	(void)eventfd_write(c->wake_fd, 1); /* EAGAIN: already readable, nothing lost */
}

int conductor_do_work(void *arg)
{
	struct conductor *c = arg;
	int r = pf_supervisor_check(c->supervisor);

	if (r < 0)
		return r;
	r += admission_do_work(&c->admission);
	wake_on_membership(c);
	return r;
}

int conductor_park(void *arg, uint64_t ns)
{
	struct conductor *c = arg;
	int r = pf_supervisor_wait(c->supervisor, ns);

	return r == -ETIMEDOUT || r == -EINTR ? 0 : r;
}

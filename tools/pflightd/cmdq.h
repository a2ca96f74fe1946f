/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/cmdq.h: commands between agents, a bounded MPSC queue of small typed
 * messages (STYLE 10.8). Any thread may send; only the receiving agent's thread takes.
 */
#ifndef PFLIGHTD_CMDQ_H
#define PFLIGHTD_CMDQ_H

#include <stdint.h>

#include "pflight/audit.h"
#include "pflight/sched.h"
#include "shm/pf_atomic.h"

#define CMDQ_SLOTS 64u       /* commands are rare (deaths, reloads): 64 absorbs a burst */
#define CMDQ_TEXT_MAX 256u   /* bytes of a command's text, with the NUL */
#define CMDQ_DRAIN_LIMIT 16u /* commands an agent takes per do_work (bounded work) */

enum cmd_type {
	CMD_DEATH = 1,     /* conductor -> auditor: the supervisor repaired a member */
	CMD_REBALANCE = 2, /* main -> scheduler: new rebalancing and drain options (reload) */
	CMD_RECORD = 3,    /* main -> auditor: append a record (event, details JSON in text) */
};

struct cmd {
	uint32_t type; /* enum cmd_type */
	uint32_t slot;
	uint32_t generation;
	uint32_t cause;
	uint32_t vnodes;
	uint32_t reserved0;
	struct pf_rebalance_opts rebalance;
	uint64_t drain_timeout_ns; /* CMD_REBALANCE: membership.drain_timeout */
	uint32_t drain_parallel;   /* CMD_REBALANCE: membership.drain_parallel */
	uint32_t reserved1;
	char event[PF_AUDIT_EVENT_MAX + 1];
	char text[CMDQ_TEXT_MAX];
};

struct cmdq;

int cmdq_create(struct cmdq **ret_q);
void cmdq_destroy(struct cmdq *q);

/* Send a copy of *c. MP-safe, lock-free. A full queue is retried a bounded number of
 * times with backoff, then counted and refused: 0 or -EAGAIN. */
int cmdq_send(struct cmdq *q, const struct cmd *c);

/* Take the oldest command: 0, or -EAGAIN (empty). Single consumer. Wait-free. */
int cmdq_take(struct cmdq *q, struct cmd *ret_c);

/* Sends refused because the queue stayed full. */
uint64_t cmdq_refused(struct cmdq *q);

#endif /* PFLIGHTD_CMDQ_H */

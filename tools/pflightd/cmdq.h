/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/cmdq.h: commands between agents, a bounded MPSC queue of small typed
 * messages (STYLE 10.8). Any thread may send; only the receiving agent's thread takes.
 */
#ifndef PFLIGHTD_CMDQ_H
#define PFLIGHTD_CMDQ_H

#include <stddef.h>
#include <stdint.h>

#include "pflight/audit.h"
#include "pflight/sched.h"
#include "shm/pf_atomic.h"
#include "shm/pf_compiler.h"

#define CMDQ_SLOTS 1024u /* a burst of moves between hosts makes 3-4 records each, per VNode */
/* Bytes of a command's text, with the NUL: the largest is an admission record, whose
 * executable path and policy reason, both JSON-escaped, take up to 910 bytes (asserted in
 * admission.c); a token's capability list takes 512. */
#define CMDQ_TEXT_MAX 1280u
#define CMDQ_DRAIN_LIMIT 16u /* commands an agent takes per do_work (bounded work) */

enum cmd_type {
	CMD_DEATH = 1,        /* conductor -> auditor: the supervisor repaired a member */
	CMD_REBALANCE = 2,    /* main -> scheduler: new rebalancing and drain options (reload) */
	CMD_RECORD = 3,       /* any -> auditor: append a record (event, details JSON in text,
			       * about VNode `vnode` or PF_AUDIT_NO_VNODE) */
	CMD_GRANT = 4,        /* main -> conductor: a join token was accepted for process pid
			       * (start_time), granting trust_ppm and the caps in text */
	CMD_GOVERNANCE = 5,   /* main -> conductor, scheduler: new policies (ptr: a heap copy of
			       * struct pf_manifest_governance the receiver owns and frees) */
	CMD_QUARANTINE = 6,   /* conductor -> auditor: the supervisor quarantined member slot.
			       * generation (pid as pinned; the field that failed in text) */
	CMD_MIGRATE_HOST = 7, /* main -> hosts: move VNode `vnode` to peer `slot` (who asked,
			       * a JSON fragment, in text) */
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
	uint32_t vnode;            /* CMD_RECORD: the VNode it is about, or PF_AUDIT_NO_VNODE */
	int32_t pid;               /* CMD_GRANT, CMD_QUARANTINE */
	uint32_t trust_ppm;        /* CMD_GRANT */
	uint64_t start_time;       /* CMD_GRANT: the process's start, clock ticks since boot */
	uint64_t expires;          /* CMD_GRANT: the token's expiry, unix seconds */
	void *ptr;                 /* CMD_GOVERNANCE */
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

/* Send a CMD_RECORD: event, about VNode `vnode` (PF_AUDIT_NO_VNODE: none), details
 * formatted from fmt (a JSON object). 0, -EMSGSIZE (details longer than CMDQ_TEXT_MAX:
 * not sent) or -EAGAIN (queue full). */
pf_printf_like(4, 5) int cmdq_record(struct cmdq *q, const char *event, uint32_t vnode,
				     const char *fmt, ...);

/* text as the inside of a JSON string (quotes, backslashes and control characters
 * escaped) into out (cap bytes, cut short if need be, always terminated). Returns out. */
const char *json_escape(const char *text, char *out, size_t cap);

/* Sends refused because the queue stayed full. */
uint64_t cmdq_refused(struct cmdq *q);

#endif /* PFLIGHTD_CMDQ_H */

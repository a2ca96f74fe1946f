/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/cmdq.c: a bounded MPSC queue (Vyukov's bounded queue, one consumer).
 *
 * Each slot carries a sequence number: slot i is free for the producer of position p when
 * seq == p, and holds the command of position p when seq == p + 1. A producer claims a
 * position by CAS on `tail`, copies its command into the slot, then publishes it with a
 * release store of seq = p + 1. The consumer reads seq with acquire, copies, and frees
 * the slot for the producer one lap later with a release store of seq = p + SLOTS.
 * Producers never wait for each other's copies except through the slot they claimed, and
 * all of them are threads of this process, so a stalled one only delays its own slot.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/pflightd/cmdq.h"

#define SEND_RETRIES 8          /* then -EAGAIN: the caller logs and goes on */
#define SEND_BACKOFF_NS 100000L /* 100 us between retries: the consumer parks 1 ms at most */

_Static_assert((CMDQ_SLOTS & (CMDQ_SLOTS - 1)) == 0, "CMDQ_SLOTS must be a power of two");

struct cmdq_slot {
	_Atomic uint64_t seq;
	struct cmd cmd;
};

struct cmdq {
	_Atomic uint64_t tail;
	uint64_t head; /* the consumer's alone */
	_Atomic uint64_t refused;
	struct cmdq_slot slots[CMDQ_SLOTS];
};

int cmdq_create(struct cmdq **ret_q)
{
	struct cmdq *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return -ENOMEM;
	for (uint64_t i = 0; i < CMDQ_SLOTS; i++)
		/* Relaxed: nobody else sees the queue before it is returned. */
		pf_store_relaxed(&q->slots[i].seq, i);
	*ret_q = q;
	return 0;
}

void cmdq_destroy(struct cmdq *q)
{
	struct cmd c;

	if (q == NULL)
		return;
	while (cmdq_take(q, &c) == 0)
		if (c.type == CMD_GOVERNANCE)
			free(c.ptr); /* never delivered: its receiver is gone */
	free(q);
}

static int try_send(struct cmdq *q, const struct cmd *c)
{
	/* Relaxed: a hint; the slot's sequence number decides. */
	uint64_t pos = pf_load_relaxed(&q->tail);

	for (;;) {
		struct cmdq_slot *s = &q->slots[pos & (CMDQ_SLOTS - 1)];
		/* [A1] pairs with [R2] in cmdq_take(): the consumer is done with the slot. */
		uint64_t seq = pf_load_acquire(&s->seq);
		int64_t diff = (int64_t)(seq - pos);

		if (diff < 0)
			return -EAGAIN; /* a lap behind: full */
		if (diff > 0) {
			/* Relaxed: another producer took pos; reload the hint. */
			pos = pf_load_relaxed(&q->tail);
			continue;
		}
		/* Relaxed: the CAS only arbitrates between producers; the slot's contents
		 * are published by the release store below. */
		if (!pf_cas_relaxed(&q->tail, &pos, pos + 1))
			continue;
		s->cmd = *c;
		/* [R1] pairs with [A2] in cmdq_take(): the command is complete. */
		pf_store_release(&s->seq, pos + 1);
		return 0;
	}
}

int cmdq_send(struct cmdq *q, const struct cmd *c)
{
	for (int i = 0; i < SEND_RETRIES; i++) {
		struct timespec ts = {0, SEND_BACKOFF_NS};

		if (try_send(q, c) == 0)
			return 0;
		(void)nanosleep(&ts, NULL);
	}
	/* Relaxed: a statistic. */
	pf_fetch_add_relaxed(&q->refused, 1);
	return -EAGAIN;
}

int cmdq_take(struct cmdq *q, struct cmd *ret_c)
{
	struct cmdq_slot *s = &q->slots[q->head & (CMDQ_SLOTS - 1)];
	/* [A2] pairs with [R1] in try_send(): the command's bytes are visible. */
	uint64_t seq = pf_load_acquire(&s->seq);

	if (seq != q->head + 1)
		return -EAGAIN;
	*ret_c = s->cmd;
	/* [R2] pairs with [A1] in try_send(): our copy is done before the slot is reused. */
	pf_store_release(&s->seq, q->head + CMDQ_SLOTS);
	q->head++;
	return 0;
}

uint64_t cmdq_refused(struct cmdq *q)
{
	/* Relaxed: a statistic. */
	return pf_load_relaxed(&q->refused);
}

int cmdq_record(struct cmdq *q, const char *event, uint32_t vnode, const char *fmt, ...)
{
	struct cmd c;
	va_list ap;
	int n;

	memset(&c, 0, sizeof(c));
	c.type = CMD_RECORD;
	c.vnode = vnode;
	if (snprintf(c.event, sizeof(c.event), "%s", event) >= (int)sizeof(c.event))
		return -EMSGSIZE;
	va_start(ap, fmt);
	n = vsnprintf(c.text, sizeof(c.text), fmt, ap);
	va_end(ap);
	if (n < 0 || n >= (int)sizeof(c.text))
		return -EMSGSIZE;
	return cmdq_send(q, &c);
}

const char *json_escape(const char *text, char *out, size_t cap)
{
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
		char esc[8];
		int n = 1;

		if (*p == '"' || *p == '\\')
			n = snprintf(esc, sizeof(esc), "\\%c", *p);
		else if (*p < 0x20)
			n = snprintf(esc, sizeof(esc), "\\u%04x", *p);
		else
			esc[0] = (char)*p;
		if (o + (size_t)n >= cap)
			break;
		memcpy(out + o, esc, (size_t)n);
		o += (size_t)n;
	}
	out[o] = '\0';
	return out;
}

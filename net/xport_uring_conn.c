/* SPDX-License-Identifier: MIT */
/*
 * net/xport_uring_conn.c: connection slots of the io_uring backend: ids, the closing
 * protocol, and the lists of slots with deferred work.
 *
 * A slot's memory (frame buffer, send queue) is allocated the first time the slot is used
 * and kept for its later connections, so the data path never allocates and the total is
 * bounded by conns_max. An id is gen << 16 | slot; gen moves on when the slot is freed,
 * which happens only after the CLOSED event went out, so no event can name a reused id.
 *
 * Closing, whoever starts it (the caller, an error, EOF, a timeout): the state becomes
 * CLOSING and the socket is shut down both ways, which ends the recv and any send in
 * flight; a connect in flight is cancelled. When the last SQE that uses the socket has
 * completed, the socket is closed, with a reset (SO_LINGER 0) when the stream was broken
 * (a frame cut mid-way, an error, zero-copy pages still lent) so the kernel drops what it
 * holds at once. When the last SQE of any kind has completed (zero-copy notifications
 * too: the caller's memory is free only then), the slot's remaining sends are reported
 * (SENT 0 if handed over whole, else -ECANCELED), then CLOSED, then the slot is free.
 *
 * Lists (intrusive, FIFO, by slot index): READY (events to report), TX (bytes to send,
 * no send in flight), REARM (recv to arm when the next poll begins). A slot is on each at
 * most once (xu_conn.lists).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/xport_uring.h"

/* The head, tail and a slot's next-link of one list. */
static void list_fields(struct pf_xport *x, struct xu_conn *c, uint8_t list, uint16_t **head,
			uint16_t **tail, uint16_t **next)
{
	PF_ASSERT(list == XU_ON_READY || list == XU_ON_TX || list == XU_ON_REARM);
	if (list == XU_ON_READY) {
		*head = &x->ready_head;
		*tail = &x->ready_tail;
		*next = c != NULL ? &c->next_ready : NULL;
	} else if (list == XU_ON_TX) {
		*head = &x->tx_head;
		*tail = &x->tx_tail;
		*next = c != NULL ? &c->next_tx : NULL;
	} else {
		*head = &x->rearm_head;
		*tail = &x->rearm_tail;
		*next = c != NULL ? &c->next_rearm : NULL;
	}
}

void xu_list_push(struct pf_xport *x, struct xu_conn *c, uint8_t list)
{
	uint16_t *head, *tail, *next, *prev_next, *unused;
	uint16_t slot = (uint16_t)xu_slot_of(x, c);

	if (c->lists & list)
		return;
	list_fields(x, c, list, &head, &tail, &next);
	*next = XU_NIL;
	if (*tail == XU_NIL) {
		*head = slot;
	} else {
		list_fields(x, &x->conns[*tail], list, &unused, &unused, &prev_next);
		*prev_next = slot;
	}
	*tail = slot;
	c->lists |= list;
	PF_ASSERT(*head != XU_NIL);
}

/* The first slot of a list without taking it off, or NULL. */
static struct xu_conn *list_peek(struct pf_xport *x, uint8_t list)
{
	uint16_t *head, *tail, *next;

	list_fields(x, NULL, list, &head, &tail, &next);
	return *head == XU_NIL ? NULL : &x->conns[*head];
}

struct xu_conn *xu_list_pop(struct pf_xport *x, uint8_t list)
{
	uint16_t *head, *tail, *next;
	struct xu_conn *c = list_peek(x, list);

	if (c == NULL)
		return NULL;
	PF_ASSERT(c->lists & list);
	list_fields(x, c, list, &head, &tail, &next);
	*head = *next;
	if (*head == XU_NIL)
		*tail = XU_NIL;
	c->lists &= (uint8_t)~list;
	return c;
}

struct xu_conn *xu_conn_get(struct pf_xport *x, uint32_t id)
{
	uint32_t slot = id & 0xffffu;
	struct xu_conn *c;

	if (slot >= x->o.conns_max)
		return NULL;
	c = &x->conns[slot];
	if (c->state == XU_FREE || c->gen != id >> 16)
		return NULL;
	PF_ASSERT(c->gen != 0);
	return c;
}

/* First use of a slot: its frame buffer and send queue, kept until destroy. */
static int slot_memory(struct pf_xport *x, struct xu_conn *c)
{
	if (c->fbuf == NULL)
		c->fbuf = malloc(x->o.frame_bytes_max);
	if (c->q == NULL)
		c->q = calloc(x->o.send_queue_frames_max, sizeof(*c->q));
	return c->fbuf != NULL && c->q != NULL ? 0 : -ENOMEM;
}

int xu_conn_alloc(struct pf_xport *x, int fd, enum xu_state state, struct xu_conn **ret_c)
{
	struct xu_conn *c;

	PF_ASSERT(fd >= 0 && (state == XU_CONNECTING || state == XU_OPEN));
	if (x->free_count == 0)
		return -EUSERS;
	c = &x->conns[x->free_slots[x->free_count - 1]];
	/* A freed slot may still be on TX or REARM: their users skip what has nothing to do. */
	PF_ASSERT(c->state == XU_FREE && c->inflight == 0 && (c->lists & XU_ON_READY) == 0);
	if (slot_memory(x, c) < 0)
		return -ENOMEM;
	x->free_count--;
	c->fd = fd;
	c->state = (uint8_t)state;
	c->error = 0;
	c->cookie = 0;
	c->listener = 0;
	c->abort = false;
	c->hdr_have = c->frame_len = c->frame_have = 0;
	c->fbuf_round = 0;
	c->q_head = c->q_tx = c->q_tail = 0;
	c->q_bytes = 0;
	c->progress_ns = xu_now_ns();
	*ret_c = c;
	return 0;
}

/* Close the socket once nothing in flight uses it: with a reset when the stream broke. */
static void maybe_close_fd(struct xu_conn *c)
{
	struct linger hard = {.l_onoff = 1, .l_linger = 0};

	if (c->state != XU_CLOSING || c->fd < 0 || c->inflight_fd != 0)
		return;
	if (c->abort)
		(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
	(void)close(c->fd); /* nothing to do about a failure: the descriptor is gone */
	c->fd = -1;
}

/* Was a frame cut mid-way, or are zero-copy pages still lent to the kernel? */
static bool stream_broken(const struct pf_xport *x, const struct xu_conn *c)
{
	uint32_t n = x->o.send_queue_frames_max;

	for (uint32_t i = c->q_head; i != c->q_tail; i++) {
		const struct xu_send *s = &c->q[i % n];

		if (s->zc_pending != 0 || (s->done != 0 && s->done != s->bytes))
			return true;
	}
	return false;
}

void xu_conn_fail(struct pf_xport *x, struct xu_conn *c, int error)
{
	struct io_uring_sqe *sqe;

	PF_ASSERT(error <= 0 && c->state != XU_FREE);
	if (c->state == XU_CLOSING)
		return; /* the first reason stands */
	c->state = XU_CLOSING;
	c->error = error;
	c->abort = error != 0 || stream_broken(x, c);
	xu_rx_drop(x, c);
	if (c->connect_armed && (sqe = xu_sqe(x)) != NULL) {
		io_uring_prep_cancel64(sqe, xu_ud(XU_OP_CONNECT, c->gen, xu_slot_of(x, c), 0), 0);
		io_uring_sqe_set_data64(sqe, xu_ud(XU_OP_CANCEL, 0, 0, 0));
	}
	if (c->fd >= 0)
		(void)shutdown(c->fd, SHUT_RDWR); /* ends the recv and sends in flight */
	maybe_close_fd(c);
	xu_list_push(x, c, XU_ON_READY);
}

void xu_conn_op_done(struct pf_xport *x, struct xu_conn *c, bool fd_part, bool whole)
{
	PF_ASSERT(!fd_part || c->inflight_fd > 0);
	PF_ASSERT(!whole || c->inflight > 0);
	c->inflight_fd -= fd_part ? 1 : 0;
	c->inflight -= whole ? 1 : 0;
	PF_ASSERT(c->inflight_fd <= c->inflight);
	if (c->state != XU_CLOSING)
		return;
	maybe_close_fd(c);
	if (c->inflight == 0)
		xu_list_push(x, c, XU_ON_READY);
}

static void slot_free(struct pf_xport *x, struct xu_conn *c)
{
	PF_ASSERT(c->state == XU_CLOSING && c->inflight == 0 && c->fd < 0);
	PF_ASSERT(c->q_head == c->q_tail && x->free_count < x->o.conns_max);
	c->state = XU_FREE;
	c->gen = (uint16_t)(c->gen == 0xffffu ? 1 : c->gen + 1);
	x->free_slots[x->free_count++] = (uint16_t)xu_slot_of(x, c);
	xu_accept_rearm_all(x); /* a listener may wait for this slot */
}

/* Report what one slot has: SENT events, and once nothing is in flight, CLOSED. false:
 * the event array filled first. */
static bool report(struct pf_xport *x, struct xu_conn *c)
{
	struct pf_xport_event *ev;

	PF_ASSERT(c->state != XU_FREE && (c->lists & XU_ON_READY));
	if (!xu_tx_report(x, c))
		return false;
	if (c->state != XU_CLOSING || c->inflight != 0)
		return true;
	ev = xu_emit(x, PF_XPORT_EV_CLOSED, xu_conn_id(x, c));
	if (ev == NULL)
		return false;
	PF_ASSERT(c->q_head == c->q_tail); /* every send was reported first */
	ev->error = c->error;
	ev->cookie = c->cookie;
	slot_free(x, c);
	return true;
}

void xu_drain_ready(struct pf_xport *x)
{
	struct xu_conn *c;

	while ((c = list_peek(x, XU_ON_READY)) != NULL) {
		if (!report(x, c))
			return; /* stays first: the next poll goes on from it */
		c = xu_list_pop(x, XU_ON_READY);
		PF_ASSERT(c != NULL);
	}
}

void xu_conns_free_all(struct pf_xport *x)
{
	struct linger hard = {.l_onoff = 1, .l_linger = 0};

	for (uint32_t i = 0; x->conns != NULL && i < x->o.conns_max; i++) {
		struct xu_conn *c = &x->conns[i];

		if (c->fd >= 0) {
			(void)setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
			(void)close(c->fd);
		}
		free(c->fbuf);
		free(c->q);
		free(c->rxbuf);
	}
	free(x->conns);
	free(x->free_slots);
	x->conns = NULL;
	x->free_slots = NULL;
}

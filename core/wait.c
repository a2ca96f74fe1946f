/* SPDX-License-Identifier: MIT */
/*
 * core/wait.c: a member's one wait for work (pflight/member.h): a message on a VNode it
 * owns, a VNode placed or handed to it, a move request on one of its VNodes, a change of
 * membership; and, while the members place for themselves (core/placer.c), VNodes to
 * place.
 *
 * The sources are words in shared memory the member can look at: the inbox slot at each
 * owned VNode's read position, its assignment ring, each owned VNode's move request, the
 * domain's membership and pending versions. A waiter first spins over them (a wake-up
 * costs tens of microseconds; a hand-off on a hot pair costs a few hundred nanoseconds),
 * then parks: it counts itself in its slot's `waiting`, looks once more, and sleeps in
 * futex_waitv(2) on its slot's `bell` and the two versions. Whoever gives it something
 * (pf_send, a placement or hand-off, a move request) rings the bell only when `waiting`
 * is not zero, so a member that is busy or spinning costs its senders no ring: pf_send
 * loads the ownership word and `waiting` (both seq_cst, plain loads on x86) after its
 * publishing CAS, which is seq_cst instead of release (the same on x86, a stronger
 * barrier on Arm).
 *
 *   field     written by                               read by
 *   waiting   the member's waiting threads (RMW [F41])  givers ([F41]/[F42])
 *   bell      givers, while waiting (RMW)               the member's futex_waitv
 *
 * Ordering (store then load on both sides, the Dekker pattern): the waiter increments
 * waiting, then looks at the sources; a giver publishes (its slot CAS, ring push or
 * request CAS), then loads waiting. [F41] waiter: seq_cst RMW then a seq_cst fence;
 * pf_send: its publishing CAS is seq_cst and its load of waiting too ([F42], no extra
 * instruction on x86); other givers: a seq_cst fence after publishing ([F41]). Either the
 * waiter sees the new work, or the giver sees it waiting and rings; the kernel compares
 * the bell again before sleeping, so no ring is lost.
 *
 * The file descriptor (pf_member_wait_fd): an eventfd written by a thread of this process
 * that sleeps on the same words. The application arms (pf_member_wait_arm: counts itself
 * waiting, then looks) before it sleeps in its own epoll or io_uring loop; a ring then
 * wakes the thread, which makes the eventfd readable. While armed, the thread beats for
 * the member (its application is parked, not hung).
 *
 * Progress: waiting is blocking by nature; giving is wait-free (a load, and when the
 * member waits an increment and a futex wake).
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/member_impl.h"
#include "shm/fault.h"
#include "shm/pf_assert.h"

/* Spin before parking for about as long as a wake-up costs (a futex wake is ~36 us on
 * this machine class): looking is cheap next to that, sleeping is not. */
#define SPIN_NS UINT64_C(30000)
#define SPIN_BATCH 32u      /* fast looks in one batch */
#define SPIN_SLOW_EVERY 16u /* batches between two slow looks */

struct wait_fd {
	pthread_t thread;
	int fd;
	_Atomic uint32_t stop; /* private futex */
};

/* Ring member slot's bell if it waits: the load of its waiting count is ordered after the
 * caller's publish by a fence (`sent` 0) or by pf_send()'s seq_cst publishing CAS (1). A
 * slot past the table (read from an ownership word: corrupt) rings nobody. */
static void ring(struct pf_domain *d, uint32_t slot, int sent)
{
	struct dom_member *rec;
	uint32_t waiting;

	if (slot >= d->lim.members_max) {
		counter_add(d, PF_COUNTER_SHM_INVALID, 1);
		return;
	}
	rec = &d->members[slot];
	if (sent) {
		/* [F42] seq_cst load after pf_send's seq_cst publishing CAS (store then load,
		 * Dekker); pairs with [F41] in park(). */
		waiting = pf_load_seq_cst(&rec->waiting);
	} else {
		/* [F41] seq_cst fence: our publish (store) before the load of waiting
		 * (Dekker); pairs with [F41] in park(). */
		pf_fence_seq_cst();
		/* Relaxed: ordered by [F41]. */
		waiting = pf_load_relaxed(&rec->waiting);
	}
	if (waiting == 0)
		return;
	/* Relaxed: the futex compares the value; the increment only has to be seen. */
	pf_fetch_add_relaxed(&rec->bell, 1);
	futex_wake_shared(&rec->bell, INT_MAX);
}

void member_wake(struct pf_domain *d, uint32_t slot)
{
	ring(d, slot, 0);
}

void member_wake_sent(struct pf_domain *d, uint32_t slot)
{
	ring(d, slot, 1);
}

/* What a spinning waiter watches of one VNode it owns, copied from its handle. */
struct wait_snap {
	uint32_t id;
	uint32_t epoch;
	uint64_t cursor;
};

/* 1 when VNode id's inbox has something at read position `cursor`. */
static int inbox_ready(struct pf_domain *d, uint32_t id, uint64_t cursor)
{
	/* [F41] seq_cst load: the load half of the waiter's side (Dekker: its waiting store,
	 * then this load); pairs with [F42] in ring(), after pf_send()'s seq_cst
	 * publishing CAS. */
	uint64_t w = pf_load_seq_cst(&inbox_slot(d, id, cursor)->word);

	return inbox_lap(w) == (uint32_t)(cursor >> d->lim.inbox_order) &&
	       inbox_st(w) != INBOX_EMPTY;
}

/* Its VNodes' inboxes and its assignment ring: one load per VNode and two. */
static uint32_t look_fast(struct pf_member *m, const struct wait_snap *snap, uint32_t n)
{
	struct pf_domain *d = m->d;
	uint32_t ev = 0;

	for (uint32_t i = 0; i < n; i++)
		if (inbox_ready(d, snap[i].id, snap[i].cursor))
			ev |= PF_WAIT_MESSAGE;
	if (ring_mpmc_count(assign_ring(d, m->slot)) > 0)
		ev |= PF_WAIT_PLACEMENT;
	return ev;
}

/* Its VNodes' move requests: rare, and on the line of the VNode record that senders write
 * (the inbox tail), so a spinning waiter looks at them only between batches. */
static uint32_t look_moves(struct pf_member *m, const struct wait_snap *snap, uint32_t n)
{
	struct pf_domain *d = m->d;

	for (uint32_t i = 0; i < n; i++)
		/* Relaxed: one self-contained word, as pf_vnode_move_target() reads it. */
		if (move_valid_for(pf_load_relaxed(&d->vnodes[snap[i].id].move_req), snap[i].epoch))
			return PF_WAIT_MOVE;
	return 0;
}

/* The rest: a placement round while the members place, the membership version. */
static uint32_t look_slow(struct pf_member *m)
{
	struct pf_domain *d = m->d;
	uint32_t ev = 0;

	if (placer_round(m) > 0 && ring_mpmc_count(assign_ring(d, m->slot)) > 0)
		ev |= PF_WAIT_PLACEMENT;
	/* Relaxed: a version compared with the last one reported; futex_waitv decides. */
	if (pf_load_relaxed(&d->ctl->membership_version) != m->wait_membership)
		ev |= PF_WAIT_MEMBERSHIP;
	return ev;
}

/* Copy what the fast look needs of each handle (the list held once, not per look): the
 * number copied, or UINT32_MAX without memory (look() then walks the list itself). */
static uint32_t snap_take(struct pf_member *m)
{
	uint32_t n = 0;

	(void)pthread_mutex_lock(&m->lock);
	if (m->owned_count > m->wait_snap_max) {
		struct wait_snap *grown = realloc(m->wait_snap, m->owned_count * sizeof(*grown));

		if (grown == NULL) {
			(void)pthread_mutex_unlock(&m->lock);
			return UINT32_MAX;
		}
		m->wait_snap = grown;
		m->wait_snap_max = m->owned_count;
	}
	for (struct pf_vnode *h = m->owned.next; h != &m->owned; h = h->next) {
		m->wait_snap[n].id = h->id;
		m->wait_snap[n].epoch = h->epoch;
		m->wait_snap[n].cursor = h->cursor;
		n++;
	}
	(void)pthread_mutex_unlock(&m->lock);
	return n;
}

/* One look at every source. */
static uint32_t look(struct pf_member *m)
{
	uint32_t ev = look_slow(m), n = snap_take(m);
	struct wait_snap one;

	if (n != UINT32_MAX)
		return ev | look_fast(m, m->wait_snap, n) | look_moves(m, m->wait_snap, n);
	(void)pthread_mutex_lock(&m->lock);
	for (struct pf_vnode *h = m->owned.next; h != &m->owned; h = h->next) {
		one.id = h->id;
		one.epoch = h->epoch;
		one.cursor = h->cursor;
		ev |= look_fast(m, &one, 1) | look_moves(m, &one, 1);
	}
	(void)pthread_mutex_unlock(&m->lock);
	return ev;
}

/* Spin about SPIN_NS over the sources: the fast ones in batches, the slow ones after the
 * first batch and then after every SPIN_SLOW_EVERY-th. The slow look reads lines others
 * write (the VNode records' inbox tails, the control words): looking at them often takes
 * those lines from their writers and slows the hand-off being waited for. The events
 * seen, 0 when none came. (A tighter inner loop, the inboxes alone, measured slower on
 * the hand-off bench: a reader that hammers the slot line delays the sender's store.) */
static uint32_t spin(struct pf_member *m, uint32_t want)
{
	uint64_t start = 0;
	uint32_t n = snap_take(m), batch = 0;

	if (n == UINT32_MAX) {
		uint32_t ev = look(m);

		return (ev & want) != 0 ? ev : 0;
	}
	do {
		uint32_t ev = 0;

		for (uint32_t i = 0; i < SPIN_BATCH && (ev & want) == 0; i++) {
			ev = look_fast(m, m->wait_snap, n);
		}
		if ((ev & want) == 0) {
			/* Between batches only: a pause on every look delays the detection of a
			 * hand-off by its latency, tens of cycles on some cores. */
			pf_cpu_relax();
			if (batch++ % SPIN_SLOW_EVERY == 0)
				ev |= look_slow(m) | look_moves(m, m->wait_snap, n);
		}
		if ((ev & want) != 0)
			return ev;
		if (start == 0)
			start = now_ns(); /* not on the path of work that is already there */
	} while (now_ns() - start < SPIN_NS);
	return 0; /* park() looks at every source again before it sleeps */
}

static uint32_t report(struct pf_member *m, uint32_t ev)
{
	if (ev & PF_WAIT_MEMBERSHIP)
		/* Relaxed: see look(). */
		m->wait_membership = pf_load_relaxed(&m->d->ctl->membership_version);
	return ev;
}

/* Sleep until the bell, the membership or (members placing) the pending version moves
 * from what *seen holds, or timeout_ns passes. */
static void sleep_on(struct pf_member *m, const uint32_t seen[3], int placing, uint64_t timeout_ns)
{
	struct pf_domain *d = m->d;
	struct futex_waitv wv[3];
	struct timespec ts;
	uint64_t deadline = now_ns() + timeout_ns;
	uint32_t n = 0;

	memset(wv, 0, sizeof(wv));
	wv[n].uaddr = (uintptr_t)&m->rec->bell;
	wv[n].val = seen[0];
	wv[n++].flags = FUTEX_32;
	wv[n].uaddr = (uintptr_t)&d->ctl->membership_version;
	wv[n].val = seen[1];
	wv[n++].flags = FUTEX_32;
	if (placing) {
		wv[n].uaddr = (uintptr_t)&d->ctl->pending_version;
		wv[n].val = seen[2];
		wv[n++].flags = FUTEX_32;
	}
	ts.tv_sec = (time_t)(deadline / 1000000000u);
	ts.tv_nsec = (long)(deadline % 1000000000u);
	PF_FAULT_POINT(WAIT_BEFORE_SLEEP); /* counted waiting, its look found nothing */
	(void)syscall(SYS_futex_waitv, wv, n, 0, &ts, CLOCK_MONOTONIC);
}

/* Park once: count ourselves waiting, look, sleep if nothing came. The events seen. */
static uint32_t park(struct pf_member *m, uint32_t want, uint64_t timeout_ns)
{
	struct dom_control *ctl = m->d->ctl;
	int placing = placer_members_place(m);
	uint32_t seen[3], ev;

	/* Relaxed: values the kernel compares again before sleeping. */
	seen[0] = pf_load_relaxed(&m->rec->bell);
	seen[1] = pf_load_relaxed(&ctl->membership_version);
	seen[2] = pf_load_relaxed(&ctl->pending_version);
	/* [F41] seq_cst RMW then fence: count ourselves waiting (store) before the look
	 * (loads); pairs with [F41] and [F42] in ring(). */
	pf_fetch_add_seq_cst(&m->rec->waiting, 1);
	/* [F41] the fence half; pairs with [F41] in ring(). */
	pf_fence_seq_cst();
	if (placing)
		/* [F4] seq_cst RMW: a publisher of pending VNodes wakes us (Dekker, store
		 * then load); pairs with [F3] in domain_publish_pending(). */
		pf_fetch_add_seq_cst(&ctl->pending_waiters, 1);
	ev = look(m);
	if ((ev & want) == 0)
		sleep_on(m, seen, placing, timeout_ns);
	if (placing)
		/* [F4] unregister; pairs with [F3]: a store the Dekker load of a publisher
		 * may miss, costing one wake too many at most. */
		pf_fetch_sub_seq_cst(&ctl->pending_waiters, 1);
	/* [F41] unregister; pairs with [F41] in ring(): a store a giver's Dekker load
	 * may miss, costing one ring too many at most. */
	pf_fetch_sub_seq_cst(&m->rec->waiting, 1);
	return (ev & want) != 0 ? ev : look(m);
}

int member_wait_events(struct pf_member *m, uint32_t want, uint64_t timeout_ns,
		       uint32_t *ret_events)
{
	uint64_t deadline = timeout_ns == UINT64_MAX ? UINT64_MAX : now_ns() + timeout_ns;
	uint64_t slice = m->d->lim.heartbeat_interval_ns / 2;
	uint32_t ev = 0;

	if (!member_is_live(m))
		return -ESTALE;
	ev = spin(m, want);
	if ((ev & want) != 0) {
		*ret_events = report(m, ev);
		return 0;
	}
	for (;;) {
		uint64_t now = now_ns();

		pf_member_heartbeat(m); /* parked is not hung */
		if (!member_is_live(m))
			return -ESTALE;
		if (now >= deadline)
			return -ETIMEDOUT;
		ev = park(m, want, PF_MIN(deadline - now, slice));
		if ((ev & want) != 0) {
			*ret_events = report(m, ev);
			return 0;
		}
	}
}

PF_API int pf_member_wait(struct pf_member *m, uint64_t timeout_ns, uint32_t *ret_events)
{
	if (m == NULL || ret_events == NULL)
		return -EINVAL;
	*ret_events = 0;
	return member_wait_events(m, PF_WAIT_ALL, timeout_ns, ret_events);
}

static void disarm(struct pf_member *m)
{
	if (!m->wait_armed)
		return;
	m->wait_armed = 0;
	/* [F41] unregister, as park() does; pairs with [F41] in ring(): a store a
	 * giver's Dekker load may miss, costing one ring too many at most. */
	pf_fetch_sub_seq_cst(&m->rec->waiting, 1);
}

PF_API int pf_member_poll(struct pf_member *m, uint32_t *ret_events)
{
	if (m == NULL || ret_events == NULL)
		return -EINVAL;
	disarm(m);
	if (!member_is_live(m))
		return -ESTALE;
	*ret_events = report(m, look(m));
	return 0;
}

PF_API int pf_member_wait_arm(struct pf_member *m, uint32_t *ret_events)
{
	uint32_t ev;

	if (m == NULL || ret_events == NULL)
		return -EINVAL;
	*ret_events = 0;
	if (!member_is_live(m))
		return -ESTALE;
	if (!m->wait_armed) {
		m->wait_armed = 1;
		/* [F41] seq_cst RMW then fence, as in park(): the waiting store before the
		 * look's loads (Dekker); pairs with [F41] in ring(). */
		pf_fetch_add_seq_cst(&m->rec->waiting, 1);
		/* [F41] the fence half (store then load, Dekker); pairs with [F41] in
		 * member_wake(). */
		pf_fence_seq_cst();
	}
	ev = look(m);
	if (ev == 0)
		return 0;
	disarm(m);
	*ret_events = report(m, ev);
	return 1;
}

/* The thread behind the file descriptor: the words' changes become eventfd readiness. */
static void *wait_fd_main(void *arg)
{
	struct pf_member *m = arg;
	struct wait_fd *w = m->wait_fd;
	struct dom_control *ctl = m->d->ctl;
	uint64_t one = 1;

	/* Relaxed: a stop flag; its futex wake delivers it. */
	while (pf_load_relaxed(&w->stop) == 0) {
		struct futex_waitv wv[4];
		uint64_t slice = m->d->lim.heartbeat_interval_ns / 2, deadline = now_ns() + slice;
		struct timespec ts = {.tv_sec = (time_t)(deadline / 1000000000u),
				      .tv_nsec = (long)(deadline % 1000000000u)};
		long r;

		memset(wv, 0, sizeof(wv));
		wv[0].uaddr = (uintptr_t)&w->stop;
		wv[0].flags = FUTEX_32 | FUTEX_PRIVATE_FLAG;
		/* Relaxed: the kernel compares the values again before sleeping. */
		wv[1].val = pf_load_relaxed(&m->rec->bell);
		wv[1].uaddr = (uintptr_t)&m->rec->bell;
		wv[1].flags = FUTEX_32;
		/* Relaxed: the same. */
		wv[2].val = pf_load_relaxed(&ctl->membership_version);
		wv[2].uaddr = (uintptr_t)&ctl->membership_version;
		wv[2].flags = FUTEX_32;
		/* Relaxed: the same. */
		wv[3].val = pf_load_relaxed(&ctl->pending_version);
		wv[3].uaddr = (uintptr_t)&ctl->pending_version;
		wv[3].flags = FUTEX_32;
		r = syscall(SYS_futex_waitv, wv, 4u, 0, &ts, CLOCK_MONOTONIC);
		/* Relaxed: the application's own count; a beat while it sleeps armed. */
		if (pf_load_relaxed(&m->rec->waiting) != 0)
			pf_fetch_add_relaxed(&m->rec->heartbeat, 1);
		if (r >= 0 && write(w->fd, &one, sizeof(one)) < 0) {
			/* The counter is full: the application has not read it for 2^64 rings. */
		}
	}
	return NULL;
}

PF_API int pf_member_wait_fd(struct pf_member *m)
{
	struct wait_fd *w;
	int r;

	if (m == NULL)
		return -EINVAL;
	if (m->wait_fd != NULL)
		return m->wait_fd->fd;
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->fd < 0) {
		r = -errno;
		free(w);
		return r;
	}
	m->wait_fd = w;
	r = pthread_create(&w->thread, NULL, wait_fd_main, m);
	if (r != 0) {
		(void)close(w->fd);
		free(w);
		m->wait_fd = NULL;
		return -r;
	}
	return w->fd;
}

void member_wait_fini(struct pf_member *m)
{
	struct wait_fd *w = m->wait_fd;

	disarm(m);
	free(m->wait_snap);
	m->wait_snap = NULL;
	m->wait_snap_max = 0;
	if (w == NULL)
		return;
	/* Relaxed: the flag is read after the wake; the futex orders the hand-off. */
	pf_store_relaxed(&w->stop, 1);
	(void)syscall(SYS_futex, &w->stop, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
	(void)pthread_join(w->thread, NULL);
	(void)close(w->fd);
	free(w);
	m->wait_fd = NULL;
}

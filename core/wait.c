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
 * then parks: it runs the placement round, counts itself in its slot's `waiting` (and,
 * while the members place, in the domain's `pending_waiters`), looks once more, and sleeps
 * in futex_waitv(2) on its slot's `bell` and the two versions, compared with the values
 * it read before the round. Whoever gives it something (pf_send, a placement or hand-off,
 * a move request) rings the bell only when `waiting` is not zero, so a member that is busy
 * or spinning costs its senders no ring: pf_send loads the ownership word and `waiting`
 * (both seq_cst, plain loads on x86) after its publishing CAS, which is seq_cst instead of
 * release (the same on x86, a stronger barrier on Arm).
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
 * The file descriptor (pf_member_wait_fd): an eventfd written by a thread of this process,
 * the same protocol split in two. The application arms (pf_member_wait_arm: the round,
 * counted in waiting and pending_waiters as park() is, the look) before it sleeps in its
 * own epoll or io_uring loop; the thread does the sleep. It compares the words with the
 * values it last made the eventfd readable for (the fd's creation's at first), never
 * with values read just before sleeping, so a change between two sleeps is not lost; a
 * word that moved (a ring, a version, or the kernel's EAGAIN saying so) makes the eventfd
 * readable, and so does every slice (half the heartbeat interval) while armed, the re-look
 * pf_member_wait() gets from its slices. While armed, the thread beats for the member (its
 * application is parked, not hung) each time it wakes, until it has made the eventfd
 * readable for that arm: an application that hung before it looked again stops beating.
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
/* A member owning more VNodes than this looks once per batch and beats after it: one look
 * then reads a line per VNode (about 40 ms at 500,000 of them, mostly cache misses), so 32
 * looks without a beat outlasted the hang verdict (pflight/member.h, "Liveness"). */
#define SPIN_MANY 256u

#define WATCH_WORDS 3 /* the bell, the membership version, the pending version */

/* m->wait_armed: 0, or the arm's number (m->wait_arms) << WAIT_ARM_SHIFT | flags. */
#define WAIT_ARMED 1u         /* counted in waiting by pf_member_wait_arm() */
#define WAIT_ARMED_PLACING 2u /* and among the pending waiters: the members placed then */
#define WAIT_ARM_SHIFT 2

struct wait_fd {
	pthread_t thread;
	int fd;
	_Atomic uint32_t stop;      /* private futex */
	uint32_t seen[WATCH_WORDS]; /* the words when the fd was made */
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
		 * Dekker); pairs with [F41] in wait_register(). */
		waiting = pf_load_seq_cst(&rec->waiting);
	} else {
		/* [F41] seq_cst fence: our publish (store) before the load of waiting
		 * (Dekker); pairs with [F41] in wait_register(). */
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

/* 1 when a move request names VNode id at our epoch. */
static int move_asked(struct pf_domain *d, uint32_t id, uint32_t epoch)
{
	/* Relaxed: one self-contained word, as pf_vnode_move_target() reads it. */
	return move_valid_for(pf_load_relaxed(&d->vnodes[id].move_req), epoch);
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
		if (move_asked(d, snap[i].id, snap[i].epoch))
			return PF_WAIT_MOVE;
	return 0;
}

/* A placement round while the members place (core/placer.c), by a waiter not counted in
 * waiting: a round places up to hundreds of VNodes, and while a member is counted every
 * giver of it pays a ring. PF_WAIT_PLACEMENT when it placed and some of it is ours. */
static uint32_t place(struct pf_member *m)
{
	if (placer_round(m) > 0 && ring_mpmc_count(assign_ring(m->d, m->slot)) > 0)
		return PF_WAIT_PLACEMENT;
	return 0;
}

/* The membership version, against the one last reported. */
static uint32_t look_membership(struct pf_member *m)
{
	/* Relaxed: a version compared with the last one reported; one that moves after this
	 * load differs from what the sleep compares (seen[1]), so it is not slept through. */
	if (pf_load_relaxed(&m->d->ctl->membership_version) != m->wait_membership)
		return PF_WAIT_MEMBERSHIP;
	return 0;
}

/* Copy what the spin watches of each handle, so it looks without holding the lock: the
 * number copied, or UINT32_MAX without memory for the copy (the spin then leaves the look
 * to park(), which allocates nothing). The copy is the member's, hence one waiting thread
 * per member (pflight/member.h). */
static uint32_t snap_take(struct pf_member *m)
{
	uint32_t n = 0;

	(void)pthread_mutex_lock(&m->lock);
	if (m->owned_count > m->wait_snap_max) {
		struct wait_snap *grown =
			PF_FAULT_FAIL(ALLOC)
				? NULL
				: realloc(m->wait_snap, m->owned_count * sizeof(*grown));

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

/* One look at every source but the pending queue (place() is for that): the handles
 * walked under the lock, nothing copied. */
static uint32_t look(struct pf_member *m)
{
	struct pf_domain *d = m->d;
	uint32_t ev = look_membership(m);

	if (ring_mpmc_count(assign_ring(d, m->slot)) > 0)
		ev |= PF_WAIT_PLACEMENT;
	(void)pthread_mutex_lock(&m->lock);
	for (struct pf_vnode *h = m->owned.next; h != &m->owned; h = h->next) {
		if (inbox_ready(d, h->id, h->cursor))
			ev |= PF_WAIT_MESSAGE;
		if (move_asked(d, h->id, h->epoch))
			ev |= PF_WAIT_MOVE;
	}
	(void)pthread_mutex_unlock(&m->lock);
	return ev;
}

/* Spin about SPIN_NS, never past the deadline (a wait of 0 looks once), over the sources:
 * the deadline, timeout_ns from the spin's first look at the clock, is set in *deadline
 * then. That look comes after the first batch, so a wait whose work is already there, or
 * arrives within a batch, reads no clock: it cost as much as the rest of such a wait (a
 * queued message through pf_send, pf_member_wait and pf_recv: about 60 ns with the read,
 * 43 without, 24 for pf_send and pf_recv alone).
 * the fast ones in batches, the slow ones after the first batch and then after every
 * SPIN_SLOW_EVERY-th. The slow look reads lines others write (the VNode records' inbox
 * tails, the control words): looking at them often takes those lines from their writers
 * and slows the hand-off being waited for. The events seen, 0 when none came. (A tighter
 * inner loop, the inboxes alone, measured slower on the hand-off bench: a reader that
 * hammers the slot line delays the sender's store.) */
static uint32_t spin(struct pf_member *m, uint32_t want, uint64_t timeout_ns, uint64_t *deadline)
{
	uint64_t start = 0, now;
	uint32_t n = snap_take(m), batch = 0;

	if (n == UINT32_MAX) {
		*deadline = deadline_after(timeout_ns);
		return 0; /* no memory for the copy: park() looks */
	}
	do {
		uint32_t ev = 0, looks = n <= SPIN_MANY ? SPIN_BATCH : 1;

		for (uint32_t i = 0; i < looks && (ev & want) == 0; i++) {
			ev = look_fast(m, m->wait_snap, n);
		}
		/* A look at this many is long: alive, if still a member (a beat into a slot taken
		 * since by another would hide that one's hang). */
		if (n > SPIN_MANY && member_is_live(m))
			pf_member_heartbeat(m);
		if ((ev & want) == 0) {
			/* Between batches only: a pause on every look delays the detection of a
			 * hand-off by its latency, tens of cycles on some cores. */
			pf_cpu_relax();
			if (batch++ % SPIN_SLOW_EVERY == 0)
				ev |= place(m) | look_membership(m) |
				      look_moves(m, m->wait_snap, n);
		}
		if ((ev & want) != 0)
			return ev;
		now = now_ns(); /* not on the path of work that is already there */
		if (start == 0) {
			start = now;
			*deadline = deadline_from(now, timeout_ns);
		}
	} while (now - start < SPIN_NS && now < *deadline);
	return 0; /* park() looks at every source again before it sleeps */
}

/* The events seen, for a caller that waited for `want`: a membership change counts as
 * reported only to a caller that asked for it (pf_vnode_claim() waits for placements, and
 * the change is still the application's to be told). */
static uint32_t report(struct pf_member *m, uint32_t ev, uint32_t want)
{
	if (ev & want & PF_WAIT_MEMBERSHIP)
		/* Relaxed: as in look_membership(). */
		m->wait_membership = pf_load_relaxed(&m->d->ctl->membership_version);
	return ev;
}

/* The words a sleeper watches, now: the bell, the membership version, the pending version. */
static void watch_load(struct pf_member *m, uint32_t seen[WATCH_WORDS])
{
	/* Relaxed: values the kernel compares again before sleeping (futex_waitv). */
	seen[0] = pf_load_relaxed(&m->rec->bell);
	seen[1] = pf_load_relaxed(&m->d->ctl->membership_version);
	seen[2] = pf_load_relaxed(&m->d->ctl->pending_version);
}

/* Sleep until the bell, the membership version or (`pending`) the pending version moves
 * from seen[], *stop (a private futex, when not NULL) from 0, or timeout_ns passes: 0 when
 * woken or when a word had moved already (EAGAIN: a change too, the caller looks again),
 * -ETIMEDOUT, or -EINTR. */
static int sleep_on(struct pf_member *m, const uint32_t seen[WATCH_WORDS], int pending,
		    uint64_t timeout_ns, _Atomic uint32_t *stop)
{
	struct pf_domain *d = m->d;
	struct futex_waitv wv[WATCH_WORDS + 1];
	struct timespec ts;
	uint64_t deadline = deadline_after(timeout_ns);
	uint32_t n = 0;

	memset(wv, 0, sizeof(wv));
	wv[n].uaddr = (uintptr_t)&m->rec->bell;
	wv[n].val = seen[0];
	wv[n++].flags = FUTEX_32;
	wv[n].uaddr = (uintptr_t)&d->ctl->membership_version;
	wv[n].val = seen[1];
	wv[n++].flags = FUTEX_32;
	if (pending) {
		wv[n].uaddr = (uintptr_t)&d->ctl->pending_version;
		wv[n].val = seen[2];
		wv[n++].flags = FUTEX_32;
	}
	if (stop != NULL) {
		wv[n].uaddr = (uintptr_t)stop;
		wv[n++].flags = FUTEX_32 | FUTEX_PRIVATE_FLAG;
	}
	ts.tv_sec = (time_t)(deadline / 1000000000u);
	ts.tv_nsec = (long)(deadline % 1000000000u);
	PF_FAULT_POINT(WAIT_BEFORE_SLEEP); /* counted waiting, its look found nothing */
	if (syscall(SYS_futex_waitv, wv, n, 0, &ts, CLOCK_MONOTONIC) >= 0 || errno == EAGAIN)
		return 0;
	return -errno;
}

/* Count ourselves waiting and, while the members place, among those a publisher of
 * pending VNodes wakes. What the caller looks at next is then seen by every giver to
 * come, or that giver rings (the Dekker pattern above). */
static void wait_register(struct pf_member *m, int placing)
{
	/* [F41] seq_cst RMW then fence: count ourselves waiting (store) before the look
	 * (loads); pairs with [F41] and [F42] in ring(). */
	pf_fetch_add_seq_cst(&m->rec->waiting, 1);
	/* [F41] the fence half; pairs with [F41] in ring(). */
	pf_fence_seq_cst();
	if (placing)
		/* [F4] seq_cst RMW: a publisher of pending VNodes wakes us (Dekker, store
		 * then load); pairs with [F3] in domain_publish_pending(). */
		pf_fetch_add_seq_cst(&m->d->ctl->pending_waiters, 1);
}

static void wait_unregister(struct pf_member *m, int placing)
{
	if (placing)
		/* [F4] unregister; pairs with [F3]: a store the Dekker load of a publisher
		 * may miss, costing one wake too many at most. */
		pf_fetch_sub_seq_cst(&m->d->ctl->pending_waiters, 1);
	/* [F41] unregister; pairs with [F41] in ring(): a store a giver's Dekker load may
	 * miss, costing one ring too many at most. */
	pf_fetch_sub_seq_cst(&m->rec->waiting, 1);
}

/* 1 when a placer registered as we chose not to place (`placing` 0) has released the role
 * since: looked at once counted in waiting, after the [F41] fence of wait_register(), so
 * either we see the release here or its ring() sees us waiting and rings (Dekker; the
 * release's CAS, then [F41] in ring()). Without this a member that parked as the placer
 * released would sleep on words nobody moves. */
static int placer_released(struct pf_member *m, int placing)
{
	return !placing && placer_members_place(m);
}

/* Park once: place (not counted waiting), count ourselves waiting, look, sleep if nothing
 * came. The events seen. */
static uint32_t park(struct pf_member *m, uint32_t want, uint64_t timeout_ns)
{
	uint32_t seen[WATCH_WORDS], ev;
	int placing;

	/* Before the round: a VNode made pending after it moves seen[2], which the sleep's
	 * compare then finds. */
	watch_load(m, seen);
	ev = place(m);
	if ((ev & want) != 0)
		return ev;
	placing = placer_members_place(m);
	wait_register(m, placing);
	ev = look(m);
	if ((ev & want) == 0 && !placer_released(m, placing))
		(void)sleep_on(m, seen, placing, timeout_ns, NULL);
	wait_unregister(m, placing);
	return (ev & want) != 0 ? ev : place(m) | look(m);
}

int member_wait_events(struct pf_member *m, uint32_t want, uint64_t timeout_ns,
		       uint32_t *ret_events)
{
	uint64_t slice = m->d->lim.heartbeat_interval_ns / 2, deadline = UINT64_MAX;
	uint32_t ev = 0;

	if (!member_is_live(m))
		return -ESTALE;
	ev = spin(m, want, timeout_ns, &deadline);
	if ((ev & want) != 0) {
		*ret_events = report(m, ev, want);
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
			*ret_events = report(m, ev, want);
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
	/* Relaxed: process-private, written by the member's thread only (one thread per
	 * member); the wait's thread only reads it. */
	uint32_t armed = pf_load_relaxed(&m->wait_armed);

	if (armed == 0)
		return;
	/* Relaxed: as above. */
	pf_store_relaxed(&m->wait_armed, 0);
	wait_unregister(m, (armed & WAIT_ARMED_PLACING) != 0);
}

PF_API int pf_member_poll(struct pf_member *m, uint32_t *ret_events)
{
	if (m == NULL || ret_events == NULL)
		return -EINVAL;
	disarm(m);
	if (!member_is_live(m))
		return -ESTALE;
	*ret_events = report(m, place(m) | look(m), PF_WAIT_ALL);
	return 0;
}

PF_API int pf_member_wait_arm(struct pf_member *m, uint32_t *ret_events)
{
	uint32_t ev;
	int placing;

	if (m == NULL || ret_events == NULL)
		return -EINVAL;
	*ret_events = 0;
	disarm(m); /* armed again: counted once, as the members place now */
	if (!member_is_live(m))
		return -ESTALE;
	/* Twice at most: again when the placer released the role as we armed (we place
	 * then); a placer that comes and goes faster than that gets a 1 with no event. */
	for (uint32_t tries = 0; tries < 2; tries++) {
		ev = place(m); /* before we count: see place() */
		if (ev != 0)
			break;
		placing = placer_members_place(m);
		wait_register(m, placing);
		m->wait_arms++;
		/* Relaxed: as in disarm(). */
		pf_store_relaxed(&m->wait_armed, m->wait_arms << WAIT_ARM_SHIFT | WAIT_ARMED |
							 (placing ? WAIT_ARMED_PLACING : 0));
		ev = look(m);
		if (ev == 0 && !placer_released(m, placing))
			return 0;
		disarm(m);
		if (ev != 0)
			break;
	}
	*ret_events = report(m, ev | look(m), PF_WAIT_ALL);
	return 1;
}

/* Beat for an application that sleeps armed (parked, not hung), unless we made the fd
 * readable since it armed (`signalled`: that arm's word): an application that hung before
 * it looked again is then judged hung, whatever rings keep coming. */
static void fd_beat(struct pf_member *m, uint32_t armed, uint32_t signalled)
{
	if (armed == 0 || armed == signalled)
		return;
	/* Relaxed: a counter supervisors see change; the application beats by RMW too. */
	pf_fetch_add_relaxed(&m->rec->heartbeat, 1);
}

/* Make the fd readable; the arm word it was for, what fd_beat() takes as `signalled`. */
static uint32_t fd_signal(struct wait_fd *w, uint32_t armed)
{
	uint64_t one = 1;

	if (write(w->fd, &one, sizeof(one)) < 0) {
		/* The counter is full: the application has not read it for 2^64 writes. */
	}
	return armed;
}

/* The thread behind the file descriptor: the second half of park() for the application
 * that armed (pf_member_wait_arm() counted it waiting and looked). It sleeps on the same
 * words, compared with the values it last made the fd readable for (or those of the fd's
 * creation), so that no change between two sleeps is missed, and makes the fd readable
 * whenever one moved; and once per slice while armed, for the application's re-look that
 * pf_member_wait() gets from its slices. */
static void *wait_fd_main(void *arg)
{
	struct pf_member *m = arg;
	struct wait_fd *w = m->wait_fd;
	uint64_t slice = m->d->lim.heartbeat_interval_ns / 2;
	uint32_t seen[WATCH_WORDS], now[WATCH_WORDS], signalled = 0;

	memcpy(seen, w->seen, sizeof(seen));
	/* Relaxed: a stop flag; its futex wake delivers it. */
	while (pf_load_relaxed(&w->stop) == 0) {
		/* Relaxed: written by the application's thread only; an arm seen one loop
		 * late delays a beat and a re-look by one slice at most. */
		uint32_t armed = pf_load_relaxed(&m->wait_armed);

		watch_load(m, now);
		if (memcmp(now, seen, sizeof(now)) != 0) {
			memcpy(seen, now, sizeof(seen));
			fd_beat(m, armed, signalled);
			signalled = fd_signal(w, armed);
			continue;
		}
		/* The pending version always: the application registered for its wakes when it
		 * armed while the members place, and a wake we do not sleep on is lost. */
		if (sleep_on(m, seen, 1, slice, &w->stop) == -ETIMEDOUT && armed != 0) {
			fd_beat(m, armed, signalled);
			signalled = fd_signal(w, armed);
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
	w = PF_FAULT_FAIL(ALLOC) ? NULL : calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	w->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->fd < 0) {
		r = -errno;
		free(w);
		return r;
	}
	watch_load(m, w->seen); /* any change from here on makes the fd readable */
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

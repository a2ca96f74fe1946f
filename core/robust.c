/* SPDX-License-Identifier: MIT */
/*
 * core/robust.c: the member's liveness anchor, a robust futex in its shared slot.
 *
 * The kernel walks a dying thread's robust list (set_robust_list(2)) before it frees the
 * process's memory: for each entry whose futex word holds the thread's TID it sets
 * FUTEX_OWNER_DIED and, if FUTEX_WAITERS is set, wakes a waiter. That is what lets a
 * supervisor learn of a death in microseconds where a pidfd would wait for the whole
 * address space to be torn down (about 31 ms for 1 GiB here).
 *
 * glibc owns each thread's list head (it keeps its robust mutexes there), so we do not
 * replace it: we link our node into glibc's list, at the position glibc's futex_offset
 * requires (node = futex word - futex_offset), exactly as a robust mutex would sit. The
 * node lives in the member slot's robust_area; only this thread and the kernel follow
 * its pointer. list_op_pending covers the window between taking the futex and linking
 * the node, so a death inside it is still reported. Both functions must run on the
 * thread that holds the membership, and never concurrently with that thread's own
 * robust-mutex operations (they are on the same thread, so they cannot be).
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/domain_impl.h"
#include "core/robust.h"
#include "shm/pf_assert.h"

#define ROBUST_WALK_MAX 4096 /* the kernel itself stops at 2048 entries */

static struct robust_list_head *robust_head(void)
{
	struct robust_list_head *head = NULL;
	size_t len = 0;

	if (syscall(SYS_get_robust_list, 0, &head, &len) != 0)
		return NULL;
	if (head == NULL || len != sizeof(*head))
		return NULL;
	return head;
}

static struct robust_list *node_of(struct robust_list_head *head, struct dom_member *rec)
{
	long off = head->futex_offset;
	uintptr_t futex = (uintptr_t)&rec->futex;
	uintptr_t area = (uintptr_t)rec->robust_area;
	uintptr_t node = futex - (uintptr_t)off;

	if (node % sizeof(void *) != 0 || node < area ||
	    node + sizeof(struct robust_list) > area + MEMBER_ROBUST_AREA_BYTES)
		return NULL;
	return (struct robust_list *)node;
}

int robust_supported(void)
{
	struct robust_list_head *head = robust_head();
	struct dom_member probe;

	return head != NULL && node_of(head, &probe) != NULL;
}

int robust_acquire(struct dom_member *rec, int tid)
{
	struct robust_list_head *head = robust_head();
	struct robust_list *node;
	uint32_t expected = 0;

	PF_ASSERT(tid > 0 && ((uint32_t)tid & ~FUTEX_WORD_TID_MASK) == 0);
	if (head == NULL)
		return -ENOTSUP;
	node = node_of(head, rec);
	if (node == NULL)
		return -ENOTSUP;
	head->list_op_pending = node;
	pf_signal_fence();
	/* [R8] pairs with [A8] in check_live(): the identity written before this is
	 * visible to whoever sees the TID. */
	if (!pf_cas_acq_rel(&rec->futex, &expected, (uint32_t)tid)) {
		head->list_op_pending = NULL;
		return -EBUSY;
	}
	node->next = head->list.next;
	pf_signal_fence();
	head->list.next = node;
	pf_signal_fence();
	head->list_op_pending = NULL;
	return 0;
}

void robust_unlink(struct dom_member *rec)
{
	struct robust_list_head *head = robust_head();
	struct robust_list *node, *prev, *cur;

	if (head == NULL)
		return;
	node = node_of(head, rec);
	PF_ASSERT(node != NULL);
	/* Until robust_release() clears it, list_op_pending still names our futex, so a
	 * death between the two is reported by the kernel all the same. */
	head->list_op_pending = node;
	pf_signal_fence();
	prev = &head->list;
	cur = head->list.next;
	for (int i = 0; i < ROBUST_WALK_MAX && cur != &head->list && cur != NULL; i++) {
		if (cur == node) {
			prev->next = node->next;
			break;
		}
		prev = cur;
		cur = cur->next;
	}
	pf_signal_fence();
}

void robust_release(struct dom_member *rec, int tid)
{
	struct robust_list_head *head = robust_head();
	/* Relaxed: re-validated by the CAS below. */
	uint32_t f = pf_load_relaxed(&rec->futex);

	/* The slot may already belong to a new joiner (we were declared dead, or our leave
	 * made it FREE and its grace passed): release only a word that still holds our TID. */
	while ((f & FUTEX_WORD_TID_MASK) == (uint32_t)tid && (f & FUTEX_WORD_OWNER_DIED) == 0) {
		/* [R9] pairs with [A8] in check_live(): a left member's FREE state word was
		 * stored before its futex reads 0, so a supervisor seeing 0 then sees FREE. */
		if (pf_cas_acq_rel(&rec->futex, &f, 0)) {
			if (f & FUTEX_WORD_WAITERS)
				futex_wake_shared(&rec->futex, INT_MAX);
			break;
		}
	}
	pf_signal_fence();
	if (head != NULL)
		head->list_op_pending = NULL;
}

/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/abatch.c: the auditor's batches of VNode records.
 *
 * A million VNodes defined and placed are two million ownership changes; one record each
 * costs the log ~500 bytes per VNode. Changes alike (same event, same shared details: the
 * member placed on, the owner released from and why...) wait in an open batch and go to
 * the log as one batch record (pf_audit_append_batch), naming the VNodes by ranges with
 * the epoch each reaches; a batch that holds one VNode becomes the record about it alone,
 * with its full details, as before batches.
 *
 * Order. A VNode's records must reach the log in the order of its changes. Batches are
 * opened with increasing generations and always written oldest first (a write of one
 * writes every older one before it), and a VNode joins a batch only if that batch is not
 * older than the one holding its newest unwritten change (pend[vnode]), and holds only
 * lower ids so far; otherwise a new batch is opened (newer than every other). So each
 * VNode's changes are in batches of increasing generation, written in that order. Several
 * batches of one kind may be open: the watcher's sweep and the placements are two streams
 * of ascending ids, each filling its own. A record written alone (a join, a death,
 * a late placement) first writes every open batch, so records about members and VNodes
 * keep their order too.
 *
 * When: a batch is written once it has been open ABATCH_HOLD_NS, when it is full, or at
 * the end of an auditor pass that found nothing new (the burst is over): a record waits
 * milliseconds, and a burst of placements fills batches of thousands. A write that fails
 * (a full disk) leaves the batch open, to be tried again; a change that cannot be added
 * then is refused, and its source (the watcher, the placement) tries again later, as it
 * does when a record about one VNode fails. A batch too long for one line is split.
 *
 * Memory: 4 bytes per VNode (pend) and ABATCH_OPEN batches of ABATCH_RANGES ranges.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/pflightd/daemon.h"
#include "tools/pflightd/log.h"

/* The oldest open batch, or NULL. */
static struct abatch *oldest(struct abatches *bs)
{
	struct abatch *o = NULL;

	for (uint32_t i = 0; i < ABATCH_OPEN; i++)
		if (bs->b[i].gen != 0 && (o == NULL || bs->b[i].gen < o->gen))
			o = &bs->b[i];
	return o;
}

/* Whether vnode has a change waiting in an open batch. */
static bool pending(struct abatches *bs, uint32_t vnode)
{
	const struct abatch *o = oldest(bs);

	return o != NULL && vnode < bs->vnodes_max && bs->pend[vnode] >= o->gen;
}

/* The details of a batch record: the shared object with its count. */
static void batch_details(const struct abatch *b, uint32_t vnodes, char *out, size_t cap)
{
	const char *rest = b->shared + 1; /* after '{' */

	(void)snprintf(out, cap, "{\"count\":%u%s%s", vnodes, *rest == '}' ? "" : ",", rest);
}

/* A record was written but what follows it (a signed head, a sync, a rotation) failed: it
 * is not written again; the failure is counted and said, and the record counts as done. */
static int log_after(struct auditor *a, int r)
{
	a->append_errors++;
	log_msg(LOG_ERROR, "audit: after a record: %s", strerror(-r));
	return 0;
}

/* Write ranges[0..n) of b as one batch record, split in halves while too long. */
static int write_ranges(struct auditor *a, const struct abatch *b, struct pf_audit_range *g,
			uint32_t n)
{
	char subject[64], details[ABATCH_SHARED_BYTES + 32];
	uint64_t seq = UINT64_MAX;
	uint32_t vnodes = 0;
	int r;

	for (uint32_t i = 0; i < n; i++)
		vnodes += g[i].count;
	batch_details(b, vnodes, details, sizeof(details));
	(void)snprintf(subject, sizeof(subject), "vnodes:%u-%u", g[0].first,
		       g[n - 1].first + g[n - 1].count - 1);
	r = pf_audit_append_batch(a->log, b->event, subject, details, g, n, &seq);
	if (r < 0 && seq != UINT64_MAX)
		return log_after(a, r); /* written: a head, sync or rotation after it failed */
	if (r != -EMSGSIZE || vnodes < 2)
		return r;
	if (n == 1) { /* one range of VNodes with many histories: halve the range */
		struct pf_audit_range h[2] = {g[0], g[0]};

		h[0].count = g[0].count / 2;
		h[1].first = g[0].first + h[0].count;
		h[1].count = g[0].count - h[0].count;
		r = write_ranges(a, b, &h[0], 1);
		return r < 0 ? r : write_ranges(a, b, &h[1], 1);
	}
	r = write_ranges(a, b, g, n / 2);
	return r < 0 ? r : write_ranges(a, b, g + n / 2, n - n / 2);
}

/* Write b to the log and close it: 0, or the errno (b stays open, to be tried again). A
 * batch split over two lines whose second one failed is written again whole: its first
 * VNodes then show the same change twice in their lineages (linked, so verify holds),
 * never a change lost. */
static int write_one(struct auditor *a, struct abatch *b)
{
	char subject[32];
	int r;

	if (b->vnodes == 1) {
		uint64_t seq = UINT64_MAX;

		(void)snprintf(subject, sizeof(subject), "vnode:%u", b->ranges[0].first);
		r = pf_audit_append(a->log, b->event, subject, b->single, b->ranges[0].first, &seq);
		if (r < 0 && seq != UINT64_MAX)
			r = log_after(a, r);
	} else {
		r = write_ranges(a, b, b->ranges, b->n);
	}
	if (r < 0) {
		a->append_errors++;
		if (a->append_errors == 1 || r == -ESHUTDOWN)
			log_msg(LOG_ERROR, "audit: append %s (%u VNodes): %s", b->event, b->vnodes,
				strerror(-r));
		return r;
	}
	a->batches.records++;
	a->batches.vnodes += b->vnodes;
	b->gen = 0;
	return 0;
}

/* Write every open batch of generation up to gen, oldest first. 0, or the first errno. */
static int write_upto(struct auditor *a, uint32_t gen)
{
	struct abatch *o;

	while ((o = oldest(&a->batches)) != NULL && o->gen <= gen) {
		int r = write_one(a, o);

		if (r < 0)
			return r;
	}
	return 0;
}

int abatch_flush(struct auditor *a)
{
	return write_upto(a, UINT32_MAX);
}

int abatch_flush_due(struct auditor *a, uint64_t now_ns)
{
	struct abatch *o;

	while ((o = oldest(&a->batches)) != NULL && now_ns - o->opened_ns >= ABATCH_HOLD_NS) {
		int r = write_one(a, o);

		if (r < 0)
			return r;
	}
	return 0;
}

bool abatch_pending(struct auditor *a, uint32_t vnode)
{
	return pending(&a->batches, vnode);
}

/* Whether vnode (epoch) can go into b now: order (b is not older than the batch of the
 * VNode's newest unwritten change, after: 0 when none), ascending ids, room. */
static bool fits(const struct abatch *b, uint32_t vnode, uint32_t epoch, uint32_t after)
{
	const struct pf_audit_range *last = &b->ranges[b->n - 1];

	if (after > b->gen || vnode < last->first + last->count ||
	    b->vnodes >= PF_AUDIT_BATCH_VNODES_MAX)
		return false;
	return (vnode == last->first + last->count && epoch == last->value) || b->n < ABATCH_RANGES;
}

/* The open batch of these changes that can take rec, or NULL. Several may be open for the
 * same kind of change: two streams of ascending ids (the watcher's sweep, placements) go
 * to two batches instead of closing one another's. */
static struct abatch *find(struct abatches *bs, const struct watch_rec *rec)
{
	uint32_t after = pending(bs, rec->vnode) ? bs->pend[rec->vnode] : 0;

	for (uint32_t i = 0; i < ABATCH_OPEN; i++) {
		struct abatch *b = &bs->b[i];

		if (b->gen != 0 && strcmp(b->event, rec->event) == 0 &&
		    strcmp(b->shared, rec->shared) == 0 && fits(b, rec->vnode, rec->epoch, after))
			return b;
	}
	return NULL;
}

/* A new batch for rec: newer than every open one, so after the VNode's pending changes. */
static int open_new(struct auditor *a, const struct watch_rec *rec)
{
	struct abatches *bs = &a->batches;
	struct abatch *b = NULL;
	int r = 0;

	if (bs->next_gen == UINT32_MAX) { /* generations wrap: start afresh */
		r = abatch_flush(a);
		if (r == 0) {
			memset(bs->pend, 0, (size_t)bs->vnodes_max * sizeof(*bs->pend));
			bs->next_gen = 1;
		}
	}
	for (uint32_t i = 0; r == 0 && b == NULL; i++) {
		if (i == ABATCH_OPEN) { /* all taken: the oldest goes */
			r = write_one(a, oldest(bs));
			i = 0;
		}
		if (r == 0 && bs->b[i].gen == 0)
			b = &bs->b[i];
	}
	if (r < 0)
		return r;
	b->gen = bs->next_gen++;
	b->opened_ns = mono_ns();
	(void)snprintf(b->event, sizeof(b->event), "%s", rec->event);
	(void)snprintf(b->shared, sizeof(b->shared), "%s", rec->shared);
	(void)snprintf(b->single, sizeof(b->single), "%s", rec->details);
	b->n = 0;
	b->vnodes = 0;
	return (int)(b - bs->b);
}

int abatch_add(struct auditor *a, const struct watch_rec *rec)
{
	struct abatches *bs = &a->batches;
	struct abatch *b;
	struct pf_audit_range *last;
	int i;

	if (rec->vnode >= bs->vnodes_max || strlen(rec->shared) >= ABATCH_SHARED_BYTES ||
	    strlen(rec->details) >= sizeof(b->single) || rec->shared[0] != '{')
		return -EINVAL;
	b = find(bs, rec);
	if (b == NULL) {
		i = open_new(a, rec);
		if (i < 0)
			return i;
		b = &bs->b[i];
	}
	last = b->n > 0 ? &b->ranges[b->n - 1] : NULL;
	if (last != NULL && rec->vnode == last->first + last->count && rec->epoch == last->value)
		last->count++;
	else
		b->ranges[b->n++] = (struct pf_audit_range){
			.first = rec->vnode, .count = 1, .value = rec->epoch};
	b->vnodes++;
	bs->pend[rec->vnode] = b->gen;
	if (b->n == ABATCH_RANGES || b->vnodes == PF_AUDIT_BATCH_VNODES_MAX)
		(void)write_upto(a, b->gen); /* full: written now (a failure is tried again) */
	return 0;
}

int abatch_init(struct abatches *bs, uint32_t vnodes_max)
{
	memset(bs, 0, sizeof(*bs));
	bs->pend = calloc(vnodes_max > 0 ? vnodes_max : 1, sizeof(*bs->pend));
	if (bs->pend == NULL)
		return -ENOMEM;
	bs->vnodes_max = vnodes_max;
	bs->next_gen = 1;
	return 0;
}

void abatch_fini(struct abatches *bs)
{
	uint64_t unwritten = 0;

	for (uint32_t i = 0; i < ABATCH_OPEN; i++)
		unwritten += bs->b[i].gen != 0 ? bs->b[i].vnodes : 0;
	if (unwritten > 0) /* the last flush failed: say what the log lacks */
		log_msg(LOG_ERROR, "audit: %llu VNode changes could not be written",
			(unsigned long long)unwritten);
	free(bs->pend);
	bs->pend = NULL;
}

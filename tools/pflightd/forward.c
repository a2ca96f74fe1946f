/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/forward.c: messages keep their address (hosts_impl.h).
 *
 * A process here that sends to a VNode that moved away keeps calling pf_send() with its
 * id: the message waits in the VNode's inbox here (pf_send works in every state but
 * UNASSIGNED), and this agent forwards it to the host that owns the VNode, in inbox
 * order, in batches (FWD: vnode, epoch, then each message with its position here). The
 * owner host appends them to the VNode's inbox there (pf_send) and acknowledges the
 * position it reached (FWD_ACK); only then are they freed here (pf_transit_forwarded). A
 * batch lost with its connection is sent again from the first message not acknowledged,
 * and the owner host skips what it delivered already: it keeps, per source host and
 * VNode, the position after the last message it delivered, and positions here only grow.
 * So each message is delivered once, in order, whatever the cuts.
 *
 * Which VNodes: the agent sweeps the ownership table (pf_vnode_owners(), 8 bytes a VNode,
 * FWD_SCAN_BUDGET of them per pass) for REMOTE ones with messages waiting, so there is no
 * list to lose at a restart and no bound on how many VNodes may be away; only the batches
 * in flight (and those waiting out a retry) are remembered, at most HOSTS_FORWARD_MAX.
 *
 * That high-water mark outlives the receiving daemon: it is kept in a file mapping
 * (<domain>.forward beside the audit log; the kernel keeps what a killed process stored
 * there). Each message is delivered with pf_transit_send(), which stamps its inbox slot
 * and stores the position it claimed in the mark before the message can be received; the
 * mark says "pending" around the send. A restarted daemon asks pf_transit_sent() about a
 * pending send, so a kill at any instruction neither loses nor repeats a message. (A
 * domain created anew starts with an empty file; the file lives as long as the domain.)
 *
 * A VNode that moves on from the owner host to a third keeps receiving through the chain:
 * the owner host's own forwarder sends on what arrives for a VNode that is REMOTE there.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include "shm/pf_assert.h"
#include "shm/pf_atomic.h"
#include "tools/pflightd/hosts_impl.h"
#include "tools/pflightd/log.h"

#define FWD_BATCH_MAX 64u            /* messages per FWD frame */
#define FWD_BATCH_BYTES (256u << 10) /* bytes per FWD frame, about */
#define FWD_SCAN_BUDGET 4096u        /* VNodes looked at per pass: 32 KiB of owner words */
#define FWD_RETRY_NS 1000000u        /* a batch the owner host did not take: again after */
/* A sweep waits FWD_SWEEP_GAP_NS, or FWD_SWEEP_SHARE times its own length if longer, after
 * the last: the agent's passes come back to back when it is busy, and a sweep over
 * thousands of VNodes away (a drain) cost a third of a core measured as it was. A VNode
 * just moved away, and one whose batch was acknowledged with more waiting, go at once. */
#define FWD_SWEEP_GAP_NS 100000u
#define FWD_SWEEP_SHARE 4u

static struct forward_vnode *tracked(struct hosts *h, uint32_t vnode, int add)
{
	uint32_t free_slot = UINT32_MAX;

	for (uint32_t i = 0; i < h->fwd_count; i++) {
		if (h->fwd[i].vnode == vnode && h->fwd[i].used)
			return &h->fwd[i];
		if (!h->fwd[i].used && free_slot == UINT32_MAX)
			free_slot = i;
	}
	if (!add)
		return NULL;
	if (free_slot == UINT32_MAX) {
		if (h->fwd_count == HOSTS_FORWARD_MAX)
			return NULL;
		free_slot = h->fwd_count++;
	}
	h->fwd[free_slot] = (struct forward_vnode){.used = 1, .vnode = vnode};
	return &h->fwd[free_slot];
}

void forward_track(struct hosts *h, uint32_t vnode)
{
	h->fwd_cursor = vnode; /* just moved away: look at it first, now */
	h->fwd_sweep_ns = 0;
}

/* One batch of v's waiting messages to the host that owns it. 1 sent, 0 nothing. */
static int forward_one(struct hosts *h, struct forward_vnode *f)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	uint8_t *frame = malloc(FWD_BATCH_BYTES + h->msg_bytes_max + 64), *p;
	uint64_t head, tail, cursor;
	uint32_t count = 0;
	struct iovec iov;
	int entry, r;

	if (frame == NULL)
		return 0;
	if (pf_vnode_info(h->domain, f->vnode, &vi) < 0 || vi.state != PF_VNODE_REMOTE ||
	    vi.host >= h->peers_count) {
		f->used = 0; /* came back: its messages are its own */
		free(frame);
		return 0;
	}
	entry = pf_transit_inbox(h->domain, f->vnode, &head, &tail) < 0 ? -1
									: hosts_conn_to(h, vi.host);
	cursor = head;
	p = frame + 24;
	while (entry >= 0 && count < FWD_BATCH_MAX && (uint64_t)(p - frame) < FWD_BATCH_BYTES) {
		uint64_t at = cursor;
		size_t len = 0;

		r = pf_transit_message(h->domain, f->vnode, &cursor, p + 16, h->msg_bytes_max,
				       &len);
		if (r < 0)
			break;
		put64le(p, cursor - 1); /* its position here (skipped slots before it: none) */
		put32le(p + 8, (uint32_t)len);
		put32le(p + 12, 0);
		memset(p + 16 + len, 0, (8 - (len & 7)) & 7);
		p += 16 + len + ((8 - (len & 7)) & 7);
		count++;
		(void)at;
	}
	if (entry < 0 || count == 0) {
		f->used = entry == -EAGAIN; /* connecting: keep its place; nothing waits: forget */
		f->retry_ns = hosts_now_ns() + FWD_RETRY_NS;
		free(frame);
		return 0;
	}
	put32le(frame, f->vnode);
	put32le(frame + 4, (uint32_t)vi.epoch);
	put64le(frame + 8, head);
	put32le(frame + 16, count);
	put32le(frame + 20, 0);
	iov = (struct iovec){frame, (size_t)(p - frame)};
	r = hosts_send(h, (uint32_t)entry, HF_FWD, &iov, 1, (uint32_t)iov.iov_len, 1, NULL, NULL);
	free(frame);
	if (r < 0)
		return 0;
	f->inflight = 1;
	f->entry = entry;
	f->first = head;
	f->upto = cursor;
	h->forwarded += count;
	return 1;
}

int forward_step(struct hosts *h)
{
	struct pf_vnode_owner own[256];
	uint64_t now = hosts_now_ns(), took;
	int work = 0;

	if (now < h->fwd_sweep_ns)
		return 0;
	for (uint32_t done = 0; done < FWD_SCAN_BUDGET && done < h->vnodes_max;) {
		uint32_t first = h->fwd_cursor % h->vnodes_max;
		uint32_t n = h->vnodes_max - first < 256 ? h->vnodes_max - first : 256;

		if (pf_vnode_owners(h->domain, first, n, own) < 0)
			return work;
		for (uint32_t k = 0; k < n; k++) {
			struct forward_vnode *f;

			uint64_t head, tail;

			/* Away, with messages waiting (tail is a hint that may lag one message:
			 * the next sweep finds it). */
			if (own[k].state != PF_VNODE_REMOTE ||
			    pf_transit_inbox(h->domain, first + k, &head, &tail) < 0 ||
			    head == tail)
				continue;
			f = tracked(h, first + k, 0);
			if (f != NULL && (f->inflight || now < f->retry_ns))
				continue;
			if (f == NULL && (f = tracked(h, first + k, 1)) == NULL)
				return work; /* HOSTS_FORWARD_MAX batches out already */
			work += forward_one(h, f);
		}
		h->fwd_cursor = (first + n) % h->vnodes_max;
		done += n;
	}
	took = hosts_now_ns() - now;
	h->fwd_sweep_ns = now + (took * (FWD_SWEEP_SHARE + 1) > FWD_SWEEP_GAP_NS
					 ? took * (FWD_SWEEP_SHARE + 1)
					 : FWD_SWEEP_GAP_NS);
	return work;
}

/* FWD_ACK from the owner host: vnode, epoch, upto. */
void forward_acked(struct hosts *h, uint32_t entry, const struct pf_link_frame *fr)
{
	struct forward_vnode *f;

	if (fr->body_bytes != 16 || (f = tracked(h, get32le(fr->body), 0)) == NULL ||
	    !f->inflight || f->entry != (int32_t)entry)
		return;
	(void)pf_transit_forwarded(h->domain, f->vnode, get32le(fr->body + 4),
				   get64le(fr->body + 8));
	f->inflight = 0;
	/* Nothing taken (the VNode is leaving the owner host): try again a little later;
	 * else the next batch, or nothing to remember until the sweep finds more. */
	if (get64le(fr->body + 8) == f->first) {
		f->retry_ns = hosts_now_ns() + FWD_RETRY_NS;
	} else {
		uint64_t head, tail;

		/* More waiting: the next batch now, not at the next sweep. */
		if (pf_transit_inbox(h->domain, f->vnode, &head, &tail) == 0 && head != tail)
			(void)forward_one(h, f);
		else
			f->used = 0;
	}
}

void forward_conn_lost(struct hosts *h, uint32_t entry)
{
	for (uint32_t i = 0; i < h->fwd_count; i++)
		if (h->fwd[i].used && h->fwd[i].inflight && h->fwd[i].entry == (int32_t)entry)
			h->fwd[i].used = 0; /* sent again; the owner host skips what it has */
}

/* Where delivery from peer for vnode stands here (valid 0: nothing delivered yet). */
static struct forward_mark *seen_of(struct hosts *h, int32_t peer, uint32_t vnode)
{
	struct forward_marks *fm = h->marks;
	const uint8_t *key = h->peers[peer].id.key;
	struct forward_mark *m;

	for (uint32_t i = 0; i < fm->count; i++)
		if (fm->mark[i].vnode == vnode &&
		    memcmp(fm->mark[i].peer_key, key, PF_PACKET_KEY_BYTES) == 0)
			return &fm->mark[i];
	if (fm->count == HOSTS_FORWARD_MAX)
		return NULL;
	m = &fm->mark[fm->count];
	*m = (struct forward_mark){.vnode = vnode};
	memcpy(m->peer_key, key, PF_PACKET_KEY_BYTES);
	pf_signal_fence(); /* the entry is whole before the count names it */
	fm->count++;
	return m;
}

/* The name a delivered message carries in its slot: its source host, VNode and position. */
static uint64_t mark_tag(const struct forward_mark *m, uint64_t pos)
{
	uint8_t in[PF_PACKET_KEY_BYTES + 4];

	memcpy(in, m->peer_key, PF_PACKET_KEY_BYTES);
	memcpy(in + PF_PACKET_KEY_BYTES, &m->vnode, 4);
	return XXH3_64bits_withSeed(in, sizeof(in), pos) | 1; /* never 0 */
}

/* Deliver the message at the source's position pos, once. 0, or pf_send's error. */
static int deliver(struct hosts *h, struct forward_mark *m, uint32_t vnode, uint64_t pos,
		   const void *bytes, uint32_t len)
{
	int r;

	/* Each store reaches the mapping before the next step: the compiler may not reorder
	 * them, and a killed process's stores are kept. Pending, with no position yet, says:
	 * ask pf_transit_sent() if a position comes, else it never went in. */
	m->pend = pos;
	m->pend_at = UINT64_MAX;
	pf_signal_fence();
	m->pending = 1;
	pf_signal_fence();
	r = pf_transit_send(h->domain, vnode, bytes, len, mark_tag(m, pos), &m->pend_at);
	pf_signal_fence();
	if (r == 0) {
		m->next = pos + 1;
		m->valid = 1;
		pf_signal_fence();
	}
	m->pending = 0;
	return r;
}

static void marks_settle(struct hosts *h)
{
	struct forward_marks *fm = h->marks;
	uint32_t in = 0, out = 0;

	for (uint32_t i = 0; i < fm->count; i++) {
		struct forward_mark *m = &fm->mark[i];

		if (!m->pending)
			continue;
		if (m->pend_at != UINT64_MAX &&
		    pf_transit_sent(h->domain, m->vnode, m->pend_at, mark_tag(m, m->pend)) == 1) {
			m->next = m->pend + 1;
			m->valid = 1;
			in++;
		} else {
			out++;
		}
		pf_signal_fence();
		m->pending = 0;
	}
	if (in + out > 0)
		log_msg(LOG_INFO,
			"hosts: a killed daemon was delivering %u forwarded messages: %u went in, "
			"%u did not (their senders send them again)",
			in + out, in, out);
}

/* A file of the right size and magic is taken as it is; anything else starts empty. */
static int marks_map(struct hosts *h, const char *path, int fresh)
{
	struct forward_marks *fm;
	struct stat st;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600), whole, r;

	if (fd < 0)
		return -errno;
	r = fstat(fd, &st) < 0 ? -errno : S_ISREG(st.st_mode) ? 0 : -EINVAL;
	if (r < 0) {
		(void)close(fd);
		return r;
	}
	whole = st.st_size == (off_t)sizeof(*fm);
	if ((!whole || fresh) && (ftruncate(fd, 0) < 0 || ftruncate(fd, sizeof(*fm)) < 0)) {
		r = -errno;
		(void)close(fd);
		return r;
	}
	fm = mmap(NULL, sizeof(*fm), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	(void)close(fd);
	if (fm == MAP_FAILED)
		return -errno;
	if (whole && !fresh &&
	    (memcmp(fm->magic, FORWARD_MARKS_MAGIC, 8) != 0 || fm->max != HOSTS_FORWARD_MAX ||
	     fm->count > HOSTS_FORWARD_MAX)) {
		log_msg(LOG_WARN,
			"hosts: %s is not a file of forwarded-message marks: started anew "
			"(messages forwarded before may be delivered again)",
			path);
		memset(fm, 0, sizeof(*fm));
	}
	if (memcmp(fm->magic, FORWARD_MARKS_MAGIC, 8) != 0) {
		fm->max = HOSTS_FORWARD_MAX;
		memcpy(fm->magic, FORWARD_MARKS_MAGIC, 8);
	}
	h->marks = fm;
	h->marks_mapped = 1;
	return 0;
}

int forward_open(struct hosts *h, const char *path, int fresh)
{
	if (path == NULL) {
		h->marks = calloc(1, sizeof(*h->marks));
		if (h->marks == NULL)
			return -ENOMEM;
		h->marks->max = HOSTS_FORWARD_MAX;
		return 0;
	}
	{
		int r = marks_map(h, path, fresh);

		if (r < 0) {
			log_msg(LOG_ERROR, "hosts: forwarded-message marks %s: %s", path,
				strerror(-r));
			return r;
		}
	}
	marks_settle(h);
	return 0;
}

void forward_close(struct hosts *h)
{
	if (h->marks == NULL)
		return;
	if (h->marks_mapped)
		(void)munmap(h->marks, sizeof(*h->marks));
	else
		free(h->marks);
	h->marks = NULL;
}

static void ack(struct hosts *h, uint32_t entry, uint32_t vnode, uint32_t epoch, uint64_t upto)
{
	uint8_t body[16];
	struct iovec iov = {body, sizeof(body)};

	put32le(body, vnode);
	put32le(body + 4, epoch);
	put64le(body + 8, upto);
	(void)hosts_send(h, entry, HF_FWD_ACK, &iov, 1, sizeof(body), 1, NULL, NULL);
}

/* FWD from a host where the VNode's messages were sent: deliver them here, once each. */
void forward_receive(struct hosts *h, uint32_t entry, const struct pf_link_frame *fr)
{
	const uint8_t *b = fr->body, *p, *end = fr->body + fr->body_bytes;
	struct forward_mark *seen;
	uint32_t vnode, epoch, count;
	uint64_t upto;

	if (fr->body_bytes < 24)
		return;
	vnode = get32le(b);
	epoch = get32le(b + 4);
	upto = get64le(b + 8);
	count = get32le(b + 16);
	/* Leaving here: its packet's messages are taken already; one delivered now would
	 * come back after the forwarding host's later ones. Nothing is taken: the sender keeps
	 * them, in order, and they stay there if the VNode is moving to it. */
	{
		struct pf_vnode_info vi = {.size = sizeof(vi)};

		/* And owned by that very host: what it forwards would come straight back. */
		if (pf_vnode_info(h->domain, vnode, &vi) == 0 &&
		    (vi.state == PF_VNODE_LEAVING ||
		     (vi.state == PF_VNODE_REMOTE && vi.host == (uint32_t)h->conns[entry].peer))) {
			ack(h, entry, vnode, epoch, upto);
			return;
		}
	}
	seen = seen_of(h, h->conns[entry].peer, vnode);
	if (seen == NULL)
		return; /* no room to remember: not delivered, the source keeps them */
	p = b + 24;
	for (uint32_t i = 0; i < count && end - p >= 16; i++) {
		uint64_t pos = get64le(p);
		uint32_t len = get32le(p + 8), padded = len + ((8 - (len & 7)) & 7);

		if (len > h->msg_bytes_max || (uint64_t)(end - p - 16) < padded)
			break; /* malformed: what came before is delivered and acknowledged */
		/* Positions are modular (an arrival may move an inbox's head back past 0): a
		 * difference, not a comparison; the first message from a source is new. */
		if ((!seen->valid || (int64_t)(pos - seen->next) >= 0) &&
		    deliver(h, seen, vnode, pos, p + 16, len) < 0)
			break; /* full here, or unknown: the rest comes again later */
		upto = pos + 1;
		p += 16 + padded;
	}
	ack(h, entry, vnode, epoch, upto);
}

int forward_delivered(struct hosts *h, int32_t peer, uint32_t vnode, uint64_t *ret_upto)
{
	const struct forward_marks *fm = h->marks;

	for (uint32_t i = 0; i < fm->count; i++)
		if (fm->mark[i].vnode == vnode && fm->mark[i].valid &&
		    memcmp(fm->mark[i].peer_key, h->peers[peer].id.key, PF_PACKET_KEY_BYTES) == 0) {
			*ret_upto = fm->mark[i].next;
			return 1;
		}
	return 0;
}

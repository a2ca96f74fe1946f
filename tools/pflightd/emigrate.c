/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/emigrate.c: this host as the source of a move (hosts_impl.h's protocol).
 *
 * Pre-copy. While the VNode keeps running here, each round looks at its last committed
 * state chunk by chunk (pf_transit_chunk(): one commit's bytes, copied into the chunk's
 * frame, so a move holds no copy of the whole state) and sends the chunks the target does
 * not have as they are now: all of them in round 1, then those whose bytes changed; a
 * round with no commit since the last is skipped. Change is found with XXH3-128 (fast;
 * only the bytes the worker itself wrote could collide, and then the target would get an
 * older chunk that still matches the signed table: the worker's own harm, never a
 * forgery), and only the chunks that changed are hashed with BLAKE2b for the packet. A
 * round ends with ROUND; the target's ROUND_OK paces the next. After HOSTS_ROUNDS_MAX
 * rounds, or once a round changed less than HOSTS_STOP_BYTES, the source stops the VNode
 * (LEAVING: its owner is fenced) and takes the final state where it lies in the arena
 * (pf_transit_view(): nobody writes it any more), sends what changed from there, then
 * FINAL (header), the waiting messages, and SEAL (digest table and signature). Once those
 * are on their way, it verifies the state's checksum there (pf_transit_verify()) while the
 * target checks and installs it: a state that fails is never committed (the move fails,
 * ABORT), and neither is one of pre-copy reads alone (`same`: verified all the same). So
 * the pause is the last small round, the messages and the target's check.
 *
 * Registered buffers. The final chunks go straight from the arena. When zero copy can
 * take them (transport.zero_copy_threshold at most a chunk), the final states of the moves
 * under way are registered with the transport (io_uring fixed buffers): a zero-copy send
 * from there pins no page per send. The set follows the moves, changed only once no
 * zero-copy send from it waits for the kernel (else at a later step: sends meanwhile go
 * unregistered, which is only slower). Pre-copy rounds send copies (a running VNode's
 * buffer may be reused under a send), so they gain nothing from it.
 *
 * Commit. On PREPARED the source's word goes REMOTE (pf_transit_left) and only then does
 * COMMIT leave: a cut at any point before leaves the VNode here (stay, epoch + 1, placed
 * again with its state and messages), and the target, which places nothing before
 * COMMIT, rolls back or asks (QUERY) on its next connection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "shm/pf_assert.h"
#include "tools/pflightd/hosts_impl.h"
#include "tools/pflightd/log.h"

#define CHUNK_HEAD (16u + PF_PACKET_REC_BYTES + PF_PACKET_CHUNK_HEAD_BYTES)

struct chunk_frame {
	uint8_t head[CHUNK_HEAD];
	uint8_t pad[8];
	struct emigration *e;
	uint8_t xxh[16];
	uint32_t index;
	uint32_t reserved0;
	uint8_t data[]; /* a pre-copy round's copy of the chunk, sent from here */
};

static void fail(struct hosts *h, struct emigration *e, const char *why);

/* The final states to register now: those of the moves that may still send from them. */
static unsigned views_wanted(const struct hosts *h, struct iovec *want)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < HOSTS_MIGRATIONS_MAX; i++) {
		const struct emigration *e = &h->out[i];
		uint64_t first = e->len < e->chunk_bytes ? e->len : e->chunk_bytes;

		if ((e->phase == EM_FINAL || e->phase == EM_PREPARE_WAIT) && e->final != NULL &&
		    first >= h->zc_threshold)
			want[n++] = (struct iovec){(void *)(uintptr_t)e->final, (size_t)e->len};
	}
	return n;
}

/* Registered buffers (see the top of this file): the set made what views_wanted() says,
 * unless it is already, or a zero-copy send from the present set still runs (-EBUSY:
 * reg_stale, again at the next step). Any other refusal (the memlock limit) turns them off
 * for good, said once: sends work the same without. */
static void views_register(struct hosts *h)
{
	struct iovec want[HOSTS_MIGRATIONS_MAX];
	unsigned n;
	int r;

	if (!h->reg_on)
		return;
	n = views_wanted(h, want);
	if (n == h->reg_count && memcmp(want, h->reg, n * sizeof(want[0])) == 0) {
		h->reg_stale = 0;
		return;
	}
	r = h->ops->register_buffers(h->x, want, n);
	h->reg_stale = r == -EBUSY;
	if (r == -EBUSY)
		return;
	h->reg_count = r == 0 ? n : 0;
	memcpy(h->reg, want, h->reg_count * sizeof(want[0]));
	if (r < 0) {
		h->reg_on = 0;
		log_msg(LOG_WARN,
			"transport: the checkpoint arena cannot be registered (%s): zero-copy "
			"sends from it pin its pages each time",
			strerror(-r));
	}
}

/* 1 when e's final state lies in the registered set. */
static uint32_t view_registered(const struct hosts *h, const struct emigration *e)
{
	for (uint32_t i = 0; i < h->reg_count; i++)
		if (h->reg[i].iov_base == e->final && h->reg[i].iov_len == e->len)
			return 1;
	return 0;
}

static struct emigration *find_mig(struct hosts *h, uint64_t mig)
{
	for (uint32_t i = 0; i < HOSTS_MIGRATIONS_MAX; i++)
		if (h->out[i].phase != EM_FREE && h->out[i].mig == mig)
			return &h->out[i];
	return NULL;
}

static int vnode_here(struct hosts *h, uint32_t vnode)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};

	if (pf_vnode_info(h->domain, vnode, &vi) < 0)
		return -ENOENT;
	if (vi.state == PF_VNODE_UNASSIGNED)
		return -ENOENT;
	if (vi.state >= PF_VNODE_LEAVING)
		return vi.state == PF_VNODE_REMOTE ? -EREMOTE : -EBUSY;
	return 0;
}

int emigrate_start(struct hosts *h, uint32_t vnode, uint32_t peer, const char *by)
{
	uint32_t chunk = hosts_chunk_bytes(h->state_bytes_max);
	uint32_t chunks = (uint32_t)(((uint64_t)h->state_bytes_max + chunk - 1) / chunk);
	struct emigration *e = NULL;
	int r = vnode_here(h, vnode);

	for (uint32_t i = 0; r == 0 && i < HOSTS_MIGRATIONS_MAX; i++) {
		if (h->out[i].phase != EM_FREE && h->out[i].vnode == vnode)
			r = -EALREADY;
		else if (e == NULL && h->out[i].phase == EM_FREE)
			e = &h->out[i];
	}
	if (r == 0 && e == NULL)
		r = -EBUSY;
	if (r == 0 && e->sent == NULL) {
		e->sent = calloc(chunks + 1, sizeof(*e->sent));
		e->have = calloc(chunks + 1, 1);
		e->xxh = calloc(chunks + 1, sizeof(*e->xxh));
		if (e->sent == NULL || e->have == NULL || e->xxh == NULL) {
			free(e->sent);
			free(e->have);
			free(e->xxh);
			e->sent = NULL;
			e->have = NULL;
			e->xxh = NULL;
			r = -ENOMEM;
		}
	}
	if (r < 0) {
		hosts_audit(h, "migrate_host_refused", vnode, "{\"to\":\"%s\",\"error\":\"%s\",%s}",
			    h->peers[peer].id.name, strerror(-r), by);
		return r;
	}
	memset(e->have, 0, chunks + 1);
	e->phase = EM_CONNECT;
	e->vnode = vnode;
	e->peer = peer;
	e->entry = -1;
	e->mig = ++h->next_mig;
	e->round = 0;
	e->epoch = 0;
	e->chunk_bytes = chunk;
	e->inflight = e->bytes_sent = e->changed_bytes = 0;
	e->copied = e->same = e->verify_due = 0;
	e->final = NULL;
	e->arena_bytes = 0;
	e->registered = 0;
	e->started_ns = hosts_now_ns();
	e->stopped_ns = 0;
	e->deadline_ns = e->started_ns + HOSTS_MIGRATE_TIMEOUT_NS;
	(void)snprintf(e->by, sizeof(e->by), "%s", by);
	hosts_audit(h, "migrate_host_start", vnode, "{\"to\":\"%s\",\"migration\":%llu,%s}",
		    h->peers[peer].id.name, (unsigned long long)e->mig, by);
	return 0;
}

/* A small control frame: mig, then n more 32-bit words. */
static int send_mig_words(struct hosts *h, int32_t entry, uint64_t mig, uint32_t type,
			  const uint32_t *w, unsigned n)
{
	uint8_t body[8 + 4 * 4];
	struct iovec iov = {body, 8 + 4 * (size_t)n};

	PF_ASSERT(n <= 4);
	put64le(body, mig);
	for (unsigned i = 0; i < n; i++)
		put32le(body + 8 + 4 * i, w[i]);
	return hosts_send(h, (uint32_t)entry, type, &iov, 1, (uint32_t)iov.iov_len, 1, NULL, NULL);
}

static int send_words(struct hosts *h, struct emigration *e, uint32_t type, const uint32_t *w,
		      unsigned n)
{
	return send_mig_words(h, e->entry, e->mig, type, w, n);
}

static void chunk_sent(struct hosts *h, void *arg, int error)
{
	struct chunk_frame *cf = arg;

	(void)h;
	PF_ASSERT(cf->e->inflight > 0);
	cf->e->inflight--;
	if (error != 0)
		cf->e->have[cf->index] = 0;
	free(cf);
}

/* Chunk i as it is now: in the arena after the stop (e->final), else copied into cf's
 * own bytes (a running VNode's committed state, one commit's bytes). 0, or an errno. */
static int chunk_bytes(struct hosts *h, struct emigration *e, uint32_t i, uint32_t len,
		       struct chunk_frame *cf, const uint8_t **ret_src)
{
	uint64_t off = (uint64_t)i * e->chunk_bytes, seq;
	size_t copied = 0, total;
	int r;

	if (e->final != NULL) {
		*ret_src = e->final + off;
		return 0;
	}
	r = pf_transit_chunk(h->domain, e->vnode, off, cf->data, len, &copied, &total, &seq);
	if (r < 0)
		return r;
	memset(cf->data + copied, 0, len - copied); /* shrank since the round began */
	*ret_src = cf->data;
	return 0;
}

/* Send chunk i when the target does not have it as it is: 1 sent, 0 not needed, or a
 * negative errno (-EAGAIN: again at the next step). */
static int send_chunk(struct hosts *h, struct emigration *e, uint32_t i)
{
	struct pf_packet_header ph;
	struct chunk_frame *cf;
	const uint8_t *src;
	XXH128_hash_t x;
	struct iovec iov[3];
	uint32_t len;
	int r;

	pf_packet_header_init(&ph);
	ph.chunk_bytes = e->chunk_bytes;
	ph.state_bytes = e->len;
	ph.chunk_count = e->chunk_count;
	len = pf_packet_chunk_len(&ph, i);
	if (e->same && e->have[i])
		return 0; /* the state did not change since it went */
	cf = malloc(sizeof(*cf) + (e->final != NULL ? 0 : len));
	if (cf == NULL)
		return -ENOMEM;
	memset(cf, 0, sizeof(*cf));
	r = chunk_bytes(h, e, i, len, cf, &src);
	if (r < 0) {
		free(cf);
		return r;
	}
	x = XXH3_128bits(src, len);
	if (e->have[i] && memcmp(&x, e->xxh[i], sizeof(x)) == 0) {
		free(cf);
		return 0;
	}
	cf->e = e;
	cf->index = i;
	r = pf_seal_digest(src, len, e->sent[i]);
	put64le(cf->head, e->mig);
	put32le(cf->head + 8, e->round);
	put32le(cf->head + 12, 0);
	if (r == 0)
		r = pf_packet_chunk_head_encode(&ph, i, e->sent[i], cf->head + 16,
						sizeof(cf->head) - 16) < 0
			    ? -EINVAL
			    : 0;
	iov[0] = (struct iovec){cf->head, CHUNK_HEAD};
	iov[1] = (struct iovec){(void *)(uintptr_t)src, len};
	iov[2] = (struct iovec){cf->pad, pf_packet_pad_bytes(PF_PACKET_CHUNK_HEAD_BYTES + len)};
	if (r == 0)
		r = hosts_send(h, (uint32_t)e->entry, HF_CHUNK, iov, 3, CHUNK_HEAD, 0, chunk_sent,
			       cf);
	if (r < 0) {
		free(cf);
		return r;
	}
	memcpy(e->xxh[i], &x, sizeof(x));
	if (e->final != NULL)
		e->arena_bytes += len;
	e->have[i] = 1;
	e->inflight++;
	e->changed_bytes += len;
	e->bytes_sent += len;
	return 1;
}

/* This round's state: its length and commit count now (a pre-copy: each chunk is read
 * as it goes), or `same` when no commit came since the last round (a hint: the final,
 * verified read decides what is sent). */
static int read_running(struct hosts *h, struct emigration *e)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	size_t len = 0, copied;
	uint64_t seq = 0;
	int r;

	e->same = e->copied && pf_vnode_info(h->domain, e->vnode, &vi) == 0 &&
		  vi.checkpoint_seq == e->seq;
	if (e->same)
		return 0;
	r = pf_transit_chunk(h->domain, e->vnode, 0, NULL, 0, &copied, &len, &seq);
	if (r == -ENOENT) {
		len = 0;
		r = 0;
	}
	if (r < 0)
		return r;
	e->len = len;
	e->seq = seq;
	e->copied = 1;
	e->chunk_count = (uint32_t)((len + e->chunk_bytes - 1) / e->chunk_bytes);
	return 0;
}

/* The chunks of this round from the cursor on: 1 all queued, 0 the transport is full
 * (again at the next step), or a negative errno. */
static int chunks_send(struct hosts *h, struct emigration *e)
{
	int r = 0;

	while (e->cursor < e->chunk_count) {
		r = send_chunk(h, e, e->cursor);
		if (r == -EAGAIN)
			return 0;
		if (r < 0)
			return r;
		e->cursor++;
	}
	return 1;
}

/* The newest audit record about the VNode: its seq and hash (parsed from its line). */
static int lineage_head(const struct pf_audit_record *rec, void *arg)
{
	struct emigration *e = arg;
	const char *p = strstr(rec->line, "\"hash\":\"");

	if (p == NULL || strlen(p + 8) < 2 * PF_PACKET_DIGEST_BYTES)
		return 0;
	p += 8;
	for (uint32_t i = 0; i < PF_PACKET_DIGEST_BYTES; i++) {
		unsigned v = 0;

		for (uint32_t k = 0; k < 2; k++) {
			char c = p[2 * i + k];

			v = v * 16 + (unsigned)(c >= 'a' ? c - 'a' + 10 : c - '0');
		}
		e->lineage_hash[i] = (uint8_t)v;
	}
	e->lineage_seq = rec->seq;
	return 0;
}

/* Stop the VNode here (LEAVING: its owner fenced) and read its final state. */
static int stop(struct hosts *h, struct emigration *e)
{
	size_t len = 0;
	uint64_t seq = 0, from = 0;
	int r = -EAGAIN;

	e->vi = (struct pf_vnode_info){.size = sizeof(e->vi)};
	(void)pf_vnode_info(h->domain, e->vnode, &e->vi);
	e->lineage_seq = 0;
	memset(e->lineage_hash, 0, sizeof(e->lineage_hash));
	if (h->log != NULL) /* the lineage the target's records link to */
		(void)pf_audit_lineage_tail(h->log, e->vnode, 1, lineage_head, e, NULL);
	for (int i = 0; i < 16 && r == -EAGAIN; i++)
		r = pf_transit_leave(h->domain, e->vnode, e->peer, &e->epoch);
	if (r < 0)
		return r;
	e->stopped_ns = hosts_now_ns();
	/* The final state, where it lies in the arena (sent from there, verified there
	 * while it travels: final_verify(); nobody writes it any more). Its chunks are not
	 * even looked at when no commit came since the last round read it and the target has
	 * every chunk of it. */
	r = pf_transit_read(h->domain, e->vnode, e->epoch, NULL, 0, &len, &seq, &from);
	e->same = r == 0 && e->copied && seq == e->seq && len == e->len &&
		  memchr(e->have, 0, e->chunk_count) == NULL;
	if (!e->same) {
		const void *view = NULL;

		r = pf_transit_view(h->domain, e->vnode, e->epoch, &view, &len, &seq, &from);
		e->final = view;
	}
	e->verify_due = r == 0; /* after the sends: final_verify() */
	if (r == -ENOENT)
		r = 0;
	if (r < 0)
		return r;
	e->len = len;
	e->seq = seq;
	e->inbox_from = from;
	e->chunk_count = (uint32_t)((len + e->chunk_bytes - 1) / e->chunk_bytes);
	e->round++;
	e->cursor = 0;
	e->changed_bytes = 0;
	e->phase = EM_FINAL;
	views_register(h); /* before its first send */
	e->registered = e->final != NULL && view_registered(h, e);
	return 0;
}

static void header_fill(struct hosts *h, const struct emigration *e, struct pf_packet_header *ph,
			uint32_t messages, uint64_t message_bytes)
{
	struct timespec ts;

	pf_packet_header_init(ph);
	ph->vnode_id = e->vnode;
	ph->epoch = e->epoch;
	ph->checkpoint_seq = e->seq;
	ph->state_bytes = e->len;
	ph->chunk_bytes = e->chunk_bytes;
	ph->chunk_count = e->chunk_count;
	ph->message_count = messages;
	ph->message_bytes = message_bytes;
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	ph->created_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	memcpy(ph->host_key, h->sk + 32, PF_PACKET_KEY_BYTES);
	ph->member_slot = e->vi.owner_slot == UINT32_MAX ? 0 : e->vi.owner_slot;
	ph->member_generation = e->vi.owner_generation;
	ph->home_node = e->vi.home_node;
	ph->trust_floor_ppm = h->trust_floor_ppm;
	ph->lineage_seq = e->lineage_seq;
	memcpy(ph->lineage_hash, e->lineage_hash, sizeof(ph->lineage_hash));
	for (uint32_t bit = 0; bit < 128 && ph->caps_count < PF_CAPS_MAX; bit++) {
		const char *name = (e->vi.caps[bit / 64] >> (bit % 64)) & 1
					   ? pf_capability_name(h->domain, bit)
					   : NULL;

		if (name != NULL)
			(void)snprintf(ph->caps[ph->caps_count++], sizeof(ph->caps[0]), "%s", name);
	}
	(void)snprintf(ph->host, sizeof(ph->host), "%s", h->name);
	(void)snprintf(ph->namespace_name, sizeof(ph->namespace_name), "%s", h->namespace_name);
}

/* One MSG frame: mig, the message record (head, bytes, padding). */
static int msg_send(struct hosts *h, struct emigration *e, uint32_t index, const void *bytes,
		    size_t len)
{
	uint8_t head[8 + PF_PACKET_REC_BYTES + PF_PACKET_MESSAGE_HEAD_BYTES], pad[8] = {0};
	struct iovec iov[3] = {{head, sizeof(head)},
			       {(void *)(uintptr_t)bytes, len},
			       {pad, pf_packet_pad_bytes(PF_PACKET_MESSAGE_HEAD_BYTES + len)}};

	put64le(head, e->mig);
	(void)pf_packet_message_head_encode(index, (uint32_t)len, head + 8, sizeof(head) - 8);
	return hosts_send(h, (uint32_t)e->entry, HF_MSG, iov, 3,
			  (uint32_t)(sizeof(head) + len + iov[2].iov_len), 1, NULL, NULL);
}

/* The waiting messages: counted and digested (pass 1), or sent (pass 2, the same count).
 * Returns the count, or a negative errno. */
static int messages_walk(struct hosts *h, struct emigration *e, int send, uint32_t count,
			 uint64_t *ret_bytes, uint8_t digest[PF_PACKET_DIGEST_BYTES])
{
	uint8_t *buf = malloc((size_t)h->msg_bytes_max + 1);
	uint64_t cursor = e->inbox_from, bytes = 0;
	struct pf_seal_stream s;
	uint32_t n = 0;
	int r = buf == NULL ? -ENOMEM : pf_seal_messages_init(&s);

	while (r == 0 && n < (send ? count : PF_PACKET_MESSAGES_MAX)) {
		size_t len = 0;

		r = pf_transit_message(h->domain, e->vnode, &cursor, buf, h->msg_bytes_max, &len);
		if (r == -EAGAIN) {
			r = 0;
			break;
		}
		if (r == 0 && send)
			r = msg_send(h, e, n, buf, len);
		else if (r == 0)
			r = pf_seal_messages_update(&s, n, buf, (uint32_t)len);
		bytes += len;
		n += r == 0;
	}
	free(buf);
	if (r < 0)
		return r;
	if (!send) {
		r = pf_seal_messages_final(&s, digest);
		e->carried_to = cursor;
		*ret_bytes = bytes;
	}
	return r < 0 ? r : (int)n;
}

/* What the target forwarded here for this VNode and we delivered: it drops those from its
 * inbox (they are in our packet, or applied here), or they would come twice. */
static int delivered_send(struct hosts *h, struct emigration *e)
{
	uint8_t body[16];
	struct iovec iov = {body, sizeof(body)};
	uint64_t upto;

	if (!forward_delivered(h, (int32_t)e->peer, e->vnode, &upto))
		return 0;
	put64le(body, e->mig);
	put64le(body + 8, upto);
	return hosts_send(h, (uint32_t)e->entry, HF_DELIVERED, &iov, 1, sizeof(body), 1, NULL,
			  NULL);
}

/* FINAL, the messages, SEAL: the packet's signed parts. */
static int final_send(struct hosts *h, struct emigration *e)
{
	uint8_t mdig[PF_PACKET_DIGEST_BYTES], *buf = NULL, *drec = NULL;
	struct pf_packet_header *ph = malloc(sizeof(*ph));
	uint64_t mbytes = 0, dbytes;
	size_t hbytes = 0;
	int n, r;

	n = ph == NULL ? -ENOMEM : messages_walk(h, e, 0, 0, &mbytes, mdig);
	if (n < 0) {
		free(ph);
		return n;
	}
	e->messages = (uint32_t)n;
	header_fill(h, e, ph, (uint32_t)n, mbytes);
	r = pf_packet_header_encode(ph, NULL, 0, &hbytes) == -EINVAL && hbytes > 0 ? 0 : -EINVAL;
	dbytes = pf_packet_digests_rec_bytes(ph);
	buf = r == 0 ? malloc(8 + PF_PACKET_PREAMBLE_BYTES + hbytes) : NULL;
	drec = r == 0 ? malloc(8 + dbytes + PF_PACKET_SIGNATURE_REC_BYTES) : NULL;
	r = buf == NULL || drec == NULL ? -ENOMEM : 0;
	if (r == 0) {
		put64le(buf, e->mig);
		(void)pf_packet_preamble_encode(buf + 8, PF_PACKET_PREAMBLE_BYTES);
		r = pf_packet_header_encode(ph, buf + 8 + PF_PACKET_PREAMBLE_BYTES, hbytes, NULL) <
				    0
			    ? -EINVAL
			    : 0;
	}
	if (r == 0) {
		uint8_t *table = (uint8_t *)e->sent;

		put64le(drec, e->mig);
		r = pf_packet_digests_encode(ph, table, mdig, drec + 8, dbytes);
	}
	if (r == 0) {
		uint8_t sig[PF_PACKET_SIG_BYTES];

		r = pf_seal_sign(h->sk, buf + 8, buf + 8 + PF_PACKET_PREAMBLE_BYTES, hbytes,
				 drec + 8, dbytes, sig);
		if (r == 0)
			r = pf_packet_signature_encode(PF_PACKET_SIG_ED25519PH, sig,
						       drec + 8 + dbytes,
						       PF_PACKET_SIGNATURE_REC_BYTES);
	}
	if (r == 0)
		r = delivered_send(h, e);
	if (r == 0) {
		struct iovec iov = {buf, 8 + PF_PACKET_PREAMBLE_BYTES + hbytes};

		r = hosts_send(h, (uint32_t)e->entry, HF_FINAL, &iov, 1, (uint32_t)iov.iov_len, 1,
			       NULL, NULL);
	}
	if (r == 0)
		r = messages_walk(h, e, 1, e->messages, NULL, NULL) < 0 ? -EIO : 0;
	if (r == 0) {
		struct iovec iov = {drec, 8 + dbytes + PF_PACKET_SIGNATURE_REC_BYTES};

		r = hosts_send(h, (uint32_t)e->entry, HF_SEAL, &iov, 1, (uint32_t)iov.iov_len, 1,
			       NULL, NULL);
	}
	free(ph);
	free(buf);
	free(drec);
	return r;
}

static void finish(struct hosts *h, struct emigration *e)
{
	(void)h;
	e->phase = EM_FREE;
	e->entry = -1;
}

/* The move did not happen: the VNode stays (epoch + 1, placed again here). */
static void fail(struct hosts *h, struct emigration *e, const char *why)
{
	int32_t entry;
	int kept = 0;

	if (e->phase == EM_FREE)
		return; /* failed already (a send that failed closed its connection) */
	if (e->epoch != 0)
		kept = pf_transit_stay(h->domain, e->vnode, e->epoch) == 0;
	h->rollbacks++;
	log_msg(LOG_WARN, "hosts: VNode %u stays here, not moved to %s: %s", e->vnode,
		h->peers[e->peer].id.name, why);
	hosts_audit(h, "migrate_host_failed", e->vnode,
		    "{\"to\":\"%s\",\"migration\":%llu,\"reason\":\"%s\",\"stopped\":%s,"
		    "\"rolled_back\":%s,%s}",
		    h->peers[e->peer].id.name, (unsigned long long)e->mig, why,
		    e->epoch != 0 ? "true" : "false", kept ? "true" : "false", e->by);
	entry = e->entry;
	/* Freed before ABORT goes: a send that fails closes the connection, and the move must
	 * not be failed (and audited) a second time from there. */
	finish(h, e);
	if (entry >= 0 && h->conns[entry].state == CONN_READY)
		(void)send_mig_words(h, entry, e->mig, HF_ABORT, NULL, 0);
}

/* The final state's checksum, verified where it lies once its bytes are on their way (the
 * target checks and installs them meanwhile), and always before COMMIT: 0, or the move
 * failed. */
static int final_verify(struct hosts *h, struct emigration *e)
{
	int r;

	if (!e->verify_due)
		return 0;
	e->verify_due = 0;
	r = pf_transit_verify(h->domain, e->vnode, e->epoch, e->len, e->seq);
	if (r < 0)
		fail(h, e, r == -EBADMSG ? "its state here fails its checksum" : strerror(-r));
	return r;
}

static void on_prepared(struct hosts *h, struct emigration *e, uint32_t remote_epoch)
{
	uint64_t now = hosts_now_ns();
	int r = pf_transit_left(h->domain, e->vnode, e->epoch, remote_epoch, e->carried_to);

	if (r < 0) {
		fail(h, e, "the VNode changed here during the move");
		return;
	}
	/* Committed here: REMOTE. Only now may the target place it. The phase says so before
	 * COMMIT goes: a send that fails closes the connection, and a committed move that
	 * loses its connection only stops waiting for DONE (the target asks us), never rolls
	 * back or keeps its slot. */
	e->phase = EM_DONE_WAIT;
	(void)send_words(h, e, HF_COMMIT, NULL, 0);
	forward_track(h, e->vnode); /* what is sent here from now on follows it */
	h->moves_out++;
	hosts_audit(h, "vnode_emigrated", e->vnode,
		    "{\"to\":\"%s\",\"migration\":%llu,\"epoch\":%u,\"remote_epoch\":%u,"
		    "\"rounds\":%u,\"bytes_sent\":%llu,\"state_bytes\":%llu,\"messages\":%u,"
		    "\"pause_us\":%llu,\"total_ms\":%llu,\"arena_bytes\":%llu,"
		    "\"registered\":%s,%s}",
		    h->peers[e->peer].id.name, (unsigned long long)e->mig, e->epoch, remote_epoch,
		    e->round, (unsigned long long)e->bytes_sent, (unsigned long long)e->len,
		    e->messages, (unsigned long long)((now - e->stopped_ns) / 1000),
		    (unsigned long long)((now - e->started_ns) / 1000000),
		    (unsigned long long)e->arena_bytes, e->registered ? "true" : "false", e->by);
}

/* After ROUND_OK: another round, or the stop. */
static void next_round(struct hosts *h, struct emigration *e)
{
	int r;

	if (e->round >= HOSTS_ROUNDS_MAX || (e->round >= 1 && e->changed_bytes < HOSTS_STOP_BYTES))
		r = stop(h, e);
	else if ((r = read_running(h, e)) == 0) {
		e->round++;
		e->cursor = 0;
		e->changed_bytes = 0;
		e->phase = EM_ROUND;
	}
	if (r < 0)
		fail(h, e, strerror(-r));
}

/* QUERY from a target that lost its connection while it held a prepared arrival: did we
 * commit? Yes when our word says REMOTE to it at that epoch. */
static void on_query(struct hosts *h, uint32_t entry, const struct pf_link_frame *f)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	uint8_t body[12];
	struct iovec iov = {body, sizeof(body)};
	uint32_t vnode, epoch, committed;

	if (f->body_bytes != 8)
		return;
	vnode = get32le(f->body);
	epoch = get32le(f->body + 4);
	/* The answer binds: on "no" the target undoes its arrival. It asks because its
	 * connection ended while it held the prepared arrival, and that end may not have
	 * reached us yet: its PREPARED may still come. So a move of this VNode to it that
	 * waits for PREPARED (the only one it can hold prepared) stops here first. */
	for (uint32_t i = 0; i < HOSTS_MIGRATIONS_MAX; i++)
		if (h->out[i].phase == EM_PREPARE_WAIT && h->out[i].vnode == vnode &&
		    (int32_t)h->out[i].peer == h->conns[entry].peer)
			fail(h, &h->out[i], "the target asked whether we committed before we did");
	committed = pf_vnode_info(h->domain, vnode, &vi) == 0 && vi.state == PF_VNODE_REMOTE &&
		    vi.host == (uint32_t)h->conns[entry].peer && vi.epoch == epoch;
	put32le(body, vnode);
	put32le(body + 4, epoch);
	put32le(body + 8, committed);
	(void)hosts_send(h, entry, HF_ANSWER, &iov, 1, sizeof(body), 1, NULL, NULL);
}

void emigrate_frame(struct hosts *h, uint32_t entry, const struct pf_link_frame *f)
{
	struct emigration *e;

	if (f->type == HF_QUERY) {
		on_query(h, entry, f);
		return;
	}
	if (f->body_bytes < 8 || (e = find_mig(h, get64le(f->body))) == NULL ||
	    e->entry != (int32_t)entry)
		return; /* a move we no longer run: ignored */
	if (f->type == HF_ACCEPT && e->phase == EM_BEGUN) {
		next_round(h, e);
	} else if (f->type == HF_ROUND_OK && e->phase == EM_ROUND_WAIT && f->body_bytes >= 12 &&
		   get32le(f->body + 8) == e->round) {
		next_round(h, e);
	} else if (f->type == HF_PREPARED && e->phase == EM_PREPARE_WAIT && f->body_bytes >= 12) {
		if (final_verify(h, e) == 0)
			on_prepared(h, e, get32le(f->body + 8));
	} else if (f->type == HF_DONE && e->phase == EM_DONE_WAIT) {
		finish(h, e);
	} else if (f->type == HF_REFUSE) {
		char why[160];
		size_t n = f->body_bytes > 12 ? f->body_bytes - 12 : 0;

		(void)snprintf(why, sizeof(why), "refused by %s: %.*s", h->peers[e->peer].id.name,
			       (int)(n < 120 ? n : 120), (const char *)f->body + 12);
		fail(h, e, why);
	}
}

/* One move's step: 1 when it did something. */
static int step_one(struct hosts *h, struct emigration *e)
{
	uint32_t words[2];
	int r;

	if (hosts_now_ns() > e->deadline_ns && e->phase < EM_DONE_WAIT) {
		fail(h, e, "timed out");
		return 1;
	}
	switch (e->phase) {
	case EM_CONNECT:
		r = hosts_conn_to(h, e->peer);
		if (r == -EAGAIN)
			return 0;
		if (r < 0) {
			fail(h, e, strerror(-r));
			return 1;
		}
		e->entry = r;
		words[0] = e->vnode;
		words[1] = e->chunk_bytes;
		e->phase = EM_BEGUN;
		if (send_words(h, e, HF_BEGIN, words, 2) < 0)
			fail(h, e, "the connection failed");
		return 1;
	case EM_ROUND:
	case EM_FINAL:
		r = chunks_send(h, e);
		if (r < 0)
			fail(h, e, strerror(-r));
		if (r <= 0)
			return r < 0;
		if (e->phase == EM_ROUND) {
			words[0] = e->round;
			words[1] = e->chunk_count;
			e->phase = EM_ROUND_WAIT;
			if (send_words(h, e, HF_ROUND, words, 2) < 0)
				fail(h, e, "the connection failed");
			return 1;
		}
		/* FINAL, the messages and SEAL queue behind the final chunks (copies, so never
		 * refused): no wait for the chunks' completions, which would add a pass. */
		e->phase = EM_PREPARE_WAIT;
		r = final_send(h, e);
		if (r < 0)
			fail(h, e, strerror(-r));
		return 1;
	case EM_PREPARE_WAIT:
		/* The next pass, after the transport's poll submitted the sends above: the check
		 * here runs while they travel and the target checks them. */
		if (!e->verify_due)
			return 0;
		(void)final_verify(h, e);
		return 1;
	default:
		return 0;
	}
}

static uint32_t slots_free(const struct hosts *h)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < HOSTS_MIGRATIONS_MAX; i++)
		n += h->out[i].phase == EM_FREE;
	return n;
}

int emigrate_ask(struct hosts *h, uint32_t vnode, uint32_t peer, const char *by)
{
	struct hosts_wait *w;

	if (slots_free(h) > 0 && h->waiting_head == h->waiting_tail)
		return emigrate_start(h, vnode, peer, by);
	if (h->waiting_tail - h->waiting_head == HOSTS_WAITING_MAX) {
		hosts_audit(h, "migrate_host_refused", vnode,
			    "{\"to\":\"%s\",\"error\":\"too many moves waiting\",%s}",
			    h->peers[peer].id.name, by);
		return -EBUSY;
	}
	w = &h->waiting[h->waiting_tail++ % HOSTS_WAITING_MAX];
	w->vnode = vnode;
	w->peer = peer;
	(void)snprintf(w->by, sizeof(w->by), "%s", by);
	return 0;
}

void emigrate_drain(struct hosts *h, uint32_t peer, const char *by)
{
	h->drain_peer = peer;
	h->drain_cursor = 0;
	h->drain_moved = 0;
	(void)snprintf(h->drain_by, sizeof(h->drain_by), "%s", by);
	hosts_audit(h, "host_drain_start", PF_AUDIT_NO_VNODE, "{\"to\":\"%s\",%s}",
		    h->peers[peer].id.name, by);
}

/* Start what waits (asked moves first, then the drain) while slots are free. */
static int start_waiting(struct hosts *h)
{
	uint32_t free_slots = slots_free(h);
	int work = 0;

	while (free_slots > 0 && h->waiting_head != h->waiting_tail) {
		struct hosts_wait *w = &h->waiting[h->waiting_head++ % HOSTS_WAITING_MAX];

		free_slots -= emigrate_start(h, w->vnode, w->peer, w->by) == 0;
		work++;
	}
	while (free_slots > 0 && h->drain_peer != HOSTS_NONE && h->drain_cursor < h->vnodes_max) {
		uint32_t id = h->drain_cursor++;
		struct pf_vnode_info vi = {.size = sizeof(vi)};

		if (pf_vnode_info(h->domain, id, &vi) < 0 || vi.state == PF_VNODE_UNASSIGNED ||
		    vi.state >= PF_VNODE_LEAVING)
			continue;
		if (emigrate_start(h, id, h->drain_peer, h->drain_by) == 0) {
			free_slots--;
			h->drain_moved++;
		}
		work++;
	}
	if (h->drain_peer != HOSTS_NONE && h->drain_cursor >= h->vnodes_max &&
	    slots_free(h) == HOSTS_MIGRATIONS_MAX) {
		hosts_audit(h, "host_drain_done", PF_AUDIT_NO_VNODE, "{\"to\":\"%s\",\"moves\":%u}",
			    h->peers[h->drain_peer].id.name, h->drain_moved);
		h->drain_peer = HOSTS_NONE;
	}
	return work;
}

int emigrate_step(struct hosts *h)
{
	int work = start_waiting(h);

	if (h->reg_count > 0 || h->reg_stale)
		views_register(h); /* the set follows the moves that ended */
	for (uint32_t i = 0; i < HOSTS_MIGRATIONS_MAX; i++)
		if (h->out[i].phase != EM_FREE)
			work += step_one(h, &h->out[i]);
	return work;
}

void emigrate_conn_lost(struct hosts *h, uint32_t entry)
{
	for (uint32_t i = 0; i < HOSTS_MIGRATIONS_MAX; i++) {
		struct emigration *e = &h->out[i];

		if (e->phase == EM_FREE || e->entry != (int32_t)entry)
			continue;
		e->entry = -1;
		if (e->phase == EM_DONE_WAIT)
			finish(h, e); /* committed: the target asks us if it must */
		else
			fail(h, e, "the connection ended before the commit");
	}
}

void emigrate_recover(struct hosts *h)
{
	struct pf_domain_info di = {.size = sizeof(di)};

	if (pf_domain_info(h->domain, &di) < 0)
		return;
	for (uint32_t id = 0; id < di.vnodes_max; id++) {
		struct pf_vnode_info vi = {.size = sizeof(vi)};

		/* LEAVING with no daemon moving it: a daemon died before its commit (COMMIT
		 * goes out only after REMOTE), so the target placed nothing: it stays. */
		if (pf_vnode_info(h->domain, id, &vi) == 0 && vi.state == PF_VNODE_LEAVING &&
		    pf_transit_stay(h->domain, id, (uint32_t)vi.epoch) == 0) {
			log_msg(LOG_INFO,
				"hosts: VNode %u was leaving when a daemon died: it stays", id);
			hosts_audit(h, "migrate_host_recovered", id,
				    "{\"epoch\":%llu,\"outcome\":\"stayed\"}",
				    (unsigned long long)vi.epoch);
		}
	}
}

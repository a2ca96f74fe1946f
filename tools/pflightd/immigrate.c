/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/immigrate.c: this host as the target of a move (hosts_impl.h's protocol).
 *
 * Nothing is installed before all of it is verified. Chunks land in a staging buffer of
 * the move's own, each checked against the digest in its record as it arrives (a chunk
 * that does not match refuses the whole move: the source keeps the VNode). SEAL brings
 * the signed digest table: every chunk staged must be there with the length and digest
 * the table says, the messages must match their digest, the signature must verify with
 * the key of the peer at the other end of this authenticated link (a packet that names
 * another host is refused), and only then is the VNode made ARRIVING, its state installed
 * and its messages delivered (pf_transit_arrive, install, deliver). It becomes PENDING,
 * placeable, on COMMIT alone.
 *
 * Epochs fence both ways: pf_transit_arrive() refuses a packet older than the epoch this
 * host recorded when the VNode last left it, and the new epoch here is above both.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shm/pf_assert.h"
#include "tools/pflightd/hosts_impl.h"
#include "tools/pflightd/log.h"

static struct immigration *find(struct hosts *h, uint32_t entry, uint64_t mig)
{
	for (uint32_t i = 0; i < HOSTS_MIGRATIONS_MAX; i++) {
		struct immigration *m = &h->in[i];

		if (m->active != IM_FREE && m->entry == (int32_t)entry && m->mig == mig)
			return m;
	}
	return NULL;
}

static void release(struct hosts *h, struct immigration *m)
{
	if (m->held)
		(void)pf_transit_unhold(h->domain, m->buf);
	m->held = 0;
	for (uint32_t i = 0; i < m->messages; i++)
		free(m->msgs[i].iov_base);
	free(m->msgs);
	free(m->header);
	free(m->head_rec);
	m->msgs = NULL;
	m->header = NULL;
	m->head_rec = NULL;
	m->messages = m->msgs_cap = 0;
	m->active = IM_FREE;
}

void immigrate_fini(struct hosts *h)
{
	for (uint32_t i = 0; i < HOSTS_MIGRATIONS_MAX; i++) {
		release(h, &h->in[i]);
		free(h->in[i].state);
		free(h->in[i].digest);
		free(h->in[i].have);
		free(h->in[i].lens);
	}
}

static void reply(struct hosts *h, uint32_t entry, uint32_t type, uint64_t mig, uint32_t word,
		  const char *text)
{
	uint8_t body[12 + 160];
	size_t n = text != NULL ? strnlen(text, 160) : 0;
	struct iovec iov = {body, 12 + n};

	put64le(body, mig);
	put32le(body + 8, word);
	if (n > 0)
		memcpy(body + 12, text, n);
	(void)hosts_send(h, entry, type, &iov, 1, (uint32_t)iov.iov_len, 1, NULL, NULL);
}

/* Refuse the move: undo what was installed, say why to the source and in the log. */
static void refuse(struct hosts *h, uint32_t entry, struct immigration *m, uint64_t mig, int r,
		   const char *why)
{
	uint32_t vnode = m != NULL ? m->vnode : PF_AUDIT_NO_VNODE;

	if (m != NULL && m->active == IM_PREPARED)
		(void)pf_transit_unarrive(h->domain, m->vnode, m->epoch);
	log_msg(LOG_WARN, "hosts: arrival of VNode %d from %s refused: %s",
		vnode == PF_AUDIT_NO_VNODE ? -1 : (int)vnode,
		h->conns[entry].peer >= 0 ? h->peers[h->conns[entry].peer].id.name : "?", why);
	hosts_audit(h, "vnode_arrival_refused", vnode,
		    "{\"from\":\"%s\",\"migration\":%llu,\"error\":\"%s\",\"reason\":\"%s\"}",
		    h->conns[entry].peer >= 0 ? h->peers[h->conns[entry].peer].id.name : "",
		    (unsigned long long)mig, strerror(-r), why);
	reply(h, entry, HF_REFUSE, mig, (uint32_t)-r, why);
	if (m != NULL)
		release(h, m);
}

/* Where slot m receives chunks of `chunks`: straight into a checkpoint buffer of the
 * arena when one is free (1: *ret_buf held, its bytes at *ret_bytes; no copy at the
 * install, no memory of our own to fault in), else into the slot's staging copy (0); or
 * -ENOMEM. */
static int stage(struct hosts *h, struct immigration *m, uint32_t vnode, uint32_t chunks,
		 uint32_t *ret_buf, void **ret_bytes)
{
	int held;

	if (m->chunks_cap < chunks) {
		free(m->digest);
		free(m->have);
		free(m->lens);
		m->digest = calloc(chunks, sizeof(*m->digest));
		m->have = calloc(chunks, 1);
		m->lens = calloc(chunks, sizeof(*m->lens));
		m->chunks_cap = chunks;
	}
	held = pf_transit_hold(h->domain, vnode, ret_buf, ret_bytes) == 0;
	if (!held && m->state == NULL)
		m->state = malloc((size_t)h->state_bytes_max + 1);
	if ((!held && m->state == NULL) || m->digest == NULL || m->have == NULL ||
	    m->lens == NULL) {
		if (held)
			(void)pf_transit_unhold(h->domain, *ret_buf);
		m->chunks_cap = 0;
		return -ENOMEM;
	}
	memset(m->have, 0, chunks);
	return held;
}

/* BEGIN: mig, vnode, chunk_bytes. */
static void on_begin(struct hosts *h, uint32_t entry, const uint8_t *b, uint64_t n)
{
	struct pf_vnode_info vi = {.size = sizeof(vi)};
	struct immigration *m = NULL, named = {.active = IM_FREE};
	uint32_t vnode, chunk, chunks, buf = 0;
	void *bytes = NULL;
	uint64_t mig;
	int held;

	if (n != 16)
		return;
	mig = get64le(b);
	vnode = get32le(b + 8);
	chunk = get32le(b + 12);
	named.vnode = vnode; /* a refusal before any slot is taken still names its VNode */
	if (chunk < PF_PACKET_CHUNK_BYTES_MIN || chunk > PF_PACKET_CHUNK_BYTES_MAX ||
	    (chunk & (chunk - 1)) != 0) {
		refuse(h, entry, &named, mig, -EPROTO, "chunk size out of range");
		return;
	}
	if (pf_vnode_info(h->domain, vnode, &vi) < 0) {
		refuse(h, entry, NULL, mig, -ENOENT, "no such VNode id in this domain");
		return;
	}
	if (vi.state != PF_VNODE_UNASSIGNED && vi.state != PF_VNODE_REMOTE) {
		refuse(h, entry, &named, mig, -EBUSY, "the VNode lives on this host");
		return;
	}
	for (uint32_t i = 0; i < HOSTS_MIGRATIONS_MAX; i++) {
		if (h->in[i].active != IM_FREE && h->in[i].vnode == vnode) {
			refuse(h, entry, &named, mig, -EALREADY, "the VNode is arriving already");
			return;
		}
		if (m == NULL && h->in[i].active == IM_FREE)
			m = &h->in[i];
	}
	if (m == NULL) {
		refuse(h, entry, &named, mig, -EBUSY, "too many arrivals at once");
		return;
	}
	chunks = (h->state_bytes_max + chunk - 1) / chunk;
	held = stage(h, m, vnode, chunks, &buf, &bytes);
	if (held < 0) {
		refuse(h, entry, &named, mig, held, "no memory to stage it");
		return;
	}
	*m = (struct immigration){.active = IM_RECEIVING,
				  .vnode = vnode,
				  .entry = (int32_t)entry,
				  .peer = h->conns[entry].peer,
				  .mig = mig,
				  .chunk_bytes = chunk,
				  .state = m->state,
				  .dst = held ? bytes : m->state,
				  .held = (uint32_t)held,
				  .buf = buf,
				  .digest = m->digest,
				  .have = m->have,
				  .lens = m->lens,
				  .chunks_cap = m->chunks_cap};
	reply(h, entry, HF_ACCEPT, mig, 0, NULL);
}

/* CHUNK: mig, round, 0, a chunk record whose bytes must match its digest. */
static void on_chunk(struct hosts *h, uint32_t entry, struct immigration *m, const uint8_t *b,
		     uint64_t n)
{
	struct pf_packet_header ph;
	struct pf_packet_chunk c;
	struct pf_packet_rec rec;
	uint8_t d[PF_PACKET_DIGEST_BYTES];
	uint32_t index, len;

	if (n < 16 + PF_PACKET_REC_BYTES + PF_PACKET_CHUNK_HEAD_BYTES ||
	    pf_packet_rec_next(b + 16, n - 16, &rec, NULL) < 0 || rec.type != PF_PACKET_REC_CHUNK ||
	    rec.rec_bytes != n - 16 || rec.body_bytes < PF_PACKET_CHUNK_HEAD_BYTES) {
		refuse(h, entry, m, m->mig, -EPROTO, "a malformed chunk");
		return;
	}
	index = get32le(rec.body);
	len = get32le(rec.body + 4);
	if (index >= m->chunks_cap || len == 0 || len > m->chunk_bytes ||
	    (uint64_t)index * m->chunk_bytes + len > h->state_bytes_max) {
		refuse(h, entry, m, m->mig, -EOVERFLOW, "a chunk past this domain's state");
		return;
	}
	/* Decode it against a header of exactly this chunk's extent. */
	pf_packet_header_init(&ph);
	ph.chunk_bytes = m->chunk_bytes;
	ph.state_bytes = (uint64_t)index * m->chunk_bytes + len;
	ph.chunk_count = index + 1;
	if (pf_packet_chunk_decode(&ph, &rec, &c, NULL) < 0) {
		refuse(h, entry, m, m->mig, -EPROTO, "a malformed chunk");
		return;
	}
	if (pf_seal_digest(c.data, c.len, d) < 0 || memcmp(d, c.digest, sizeof(d)) != 0) {
		refuse(h, entry, m, m->mig, -EBADMSG,
		       "a chunk whose bytes do not match its digest");
		return;
	}
	memcpy(m->dst + (uint64_t)index * m->chunk_bytes, c.data, c.len);
	memcpy(m->digest[index], d, sizeof(d));
	m->lens[index] = len;
	m->have[index] = 1;
	m->bytes += len;
}

/* FINAL: mig, preamble, header record, from the peer at the other end of this link. */
static void on_final(struct hosts *h, uint32_t entry, struct immigration *m, const uint8_t *b,
		     uint64_t n)
{
	const struct hosts_peer *p = &h->peers[m->peer];
	struct pf_packet_rec rec;

	m->header = malloc(sizeof(*m->header));
	m->head_rec = malloc(n + 1);
	if (m->header == NULL || m->head_rec == NULL) {
		refuse(h, entry, m, m->mig, -ENOMEM, "no memory");
		return;
	}
	if (n < PF_PACKET_PREAMBLE_BYTES || pf_packet_preamble_decode(b, n, NULL) < 0 ||
	    pf_packet_rec_next(b + PF_PACKET_PREAMBLE_BYTES, n - PF_PACKET_PREAMBLE_BYTES, &rec,
			       NULL) < 0 ||
	    rec.rec_bytes != n - PF_PACKET_PREAMBLE_BYTES ||
	    pf_packet_header_decode(&rec, m->header, NULL) < 0) {
		refuse(h, entry, m, m->mig, -EPROTO, "a malformed packet header");
		return;
	}
	if (m->header->vnode_id != m->vnode || m->header->chunk_bytes != m->chunk_bytes ||
	    m->header->state_bytes > h->state_bytes_max) {
		refuse(h, entry, m, m->mig, -EPROTO, "the header disagrees with the move begun");
		return;
	}
	if (memcmp(m->header->host_key, p->id.key, PF_PACKET_KEY_BYTES) != 0 ||
	    strcmp(m->header->host, p->id.name) != 0) {
		refuse(h, entry, m, m->mig, -EKEYREJECTED,
		       "the packet names another host than the link's");
		return;
	}
	memcpy(m->head_rec, b, n);
	m->head_rec_len = n;
	m->msgs_cap = m->header->message_count;
	m->msgs = m->msgs_cap > 0 ? calloc(m->msgs_cap, sizeof(*m->msgs)) : NULL;
	if (m->msgs_cap > 0 && m->msgs == NULL) {
		refuse(h, entry, m, m->mig, -ENOMEM, "no memory");
		return;
	}
}

/* MSG: mig, message record number `messages` so far. */
static void on_msg(struct hosts *h, uint32_t entry, struct immigration *m, const uint8_t *b,
		   uint64_t n)
{
	struct pf_packet_message msg;
	struct pf_packet_rec rec;

	if (m->header == NULL || m->messages >= m->msgs_cap ||
	    pf_packet_rec_next(b, n, &rec, NULL) < 0 || rec.rec_bytes != n ||
	    pf_packet_message_decode(m->header, &rec, &msg, NULL) < 0 || msg.index != m->messages) {
		refuse(h, entry, m, m->mig, -EPROTO, "a malformed or unexpected message");
		return;
	}
	m->msgs[m->messages].iov_base = malloc(msg.len + 1u);
	if (m->msgs[m->messages].iov_base == NULL) {
		refuse(h, entry, m, m->mig, -ENOMEM, "no memory");
		return;
	}
	memcpy(m->msgs[m->messages].iov_base, msg.data, msg.len);
	m->msgs[m->messages++].iov_len = msg.len;
}

/* Every chunk staged as the table says, the messages as their digest, the signature by
 * the link's peer: 0, or a refusal's errno with *why. */
static int seal_check(const struct hosts *h, const struct immigration *m, const uint8_t *drec,
		      size_t dlen, const uint8_t *srec, size_t slen, const char **why)
{
	const struct pf_packet_header *ph = m->header;
	const uint8_t *table, *sig;
	struct pf_packet_rec rec;
	struct pf_seal_stream s;
	uint8_t d[PF_PACKET_DIGEST_BYTES];
	uint32_t alg;

	*why = "a malformed seal";
	if (pf_packet_rec_next(drec, dlen, &rec, NULL) < 0 || rec.rec_bytes != dlen ||
	    pf_packet_digests_decode(ph, &rec, &table, NULL) < 0 ||
	    pf_packet_rec_next(srec, slen, &rec, NULL) < 0 || rec.rec_bytes != slen ||
	    pf_packet_signature_decode(&rec, &alg, &sig, NULL) < 0)
		return -EPROTO;
	*why = "a chunk missing, or not the one the signed table names";
	for (uint32_t i = 0; i < ph->chunk_count; i++)
		if (i >= m->chunks_cap || !m->have[i] || m->lens[i] != pf_packet_chunk_len(ph, i) ||
		    memcmp(m->digest[i], table + (uint64_t)i * PF_PACKET_DIGEST_BYTES,
			   PF_PACKET_DIGEST_BYTES) != 0)
			return -EBADMSG;
	*why = "messages missing, or not the ones the signed table names";
	if (m->messages != ph->message_count || pf_seal_messages_init(&s) < 0)
		return -EBADMSG;
	for (uint32_t i = 0; i < m->messages; i++)
		(void)pf_seal_messages_update(&s, i, m->msgs[i].iov_base,
					      (uint32_t)m->msgs[i].iov_len);
	(void)pf_seal_messages_final(&s, d);
	if (memcmp(d, table + (uint64_t)ph->chunk_count * PF_PACKET_DIGEST_BYTES, sizeof(d)) != 0)
		return -EBADMSG;
	*why = "the signature does not verify with the peer's key";
	return pf_seal_check(h->peers[m->peer].id.key, m->head_rec,
			     m->head_rec + PF_PACKET_PREAMBLE_BYTES,
			     m->head_rec_len - PF_PACKET_PREAMBLE_BYTES, drec, dlen, sig);
}

/* Verified: ARRIVING here with its state and messages. */
static int install(struct hosts *h, struct immigration *m, const char **why)
{
	const struct pf_packet_header *ph = m->header;
	const char *caps[PF_CAPS_MAX];
	int r;

	for (uint32_t i = 0; i < ph->caps_count; i++)
		caps[i] = ph->caps[i];
	r = pf_transit_arrive(h->domain, m->vnode, (uint32_t)m->peer, ph->epoch, caps,
			      ph->caps_count, ph->home_node, &m->epoch);
	*why = r == -ESTALE  ? "this host knows a newer epoch of the VNode"
	       : r == -EBUSY ? "the VNode lives on this host"
			     : "it could not be installed";
	if (r < 0)
		return r;
	m->active = IM_PREPARED;
	/* What we had forwarded and the source delivered: in its packet now, or applied. */
	if (m->drop_valid)
		(void)pf_transit_drop(h->domain, m->vnode, m->epoch, m->drop_upto);
	if (m->held) {
		m->held = 0; /* let go whatever the outcome */
		r = pf_transit_install_held(h->domain, m->vnode, m->epoch, m->buf, ph->state_bytes,
					    ph->checkpoint_seq, m->messages);
	} else {
		r = pf_transit_install(h->domain, m->vnode, m->epoch, m->state, ph->state_bytes,
				       ph->checkpoint_seq, m->messages);
	}
	if (r == 0)
		r = pf_transit_deliver(h->domain, m->vnode, m->epoch, m->msgs, m->messages);
	*why = r == -EAGAIN ? "the VNode's inbox here is too small for its messages"
			    : "its state could not be installed";
	return r;
}

static void on_seal(struct hosts *h, uint32_t entry, struct immigration *m, const uint8_t *b,
		    uint64_t n)
{
	struct pf_packet_rec rec;
	const char *why = "";
	int r;

	if (m->header == NULL || pf_packet_rec_next(b, n, &rec, NULL) < 0 ||
	    rec.rec_bytes + PF_PACKET_SIGNATURE_REC_BYTES != n) {
		refuse(h, entry, m, m->mig, -EPROTO, "a malformed seal");
		return;
	}
	r = seal_check(h, m, b, rec.rec_bytes, b + rec.rec_bytes, PF_PACKET_SIGNATURE_REC_BYTES,
		       &why);
	if (r == 0)
		r = install(h, m, &why);
	if (r < 0) {
		refuse(h, entry, m, m->mig, r, why);
		return;
	}
	reply(h, entry, HF_PREPARED, m->mig, m->epoch, NULL);
}

static void arrived(struct hosts *h, struct immigration *m, int committed)
{
	const char *from = m->peer >= 0 ? h->peers[m->peer].id.name : "";

	if (committed && pf_transit_arrived(h->domain, m->vnode, m->epoch) == 0) {
		const struct pf_packet_header *ph = m->header;
		char lin[2 * PF_PACKET_DIGEST_BYTES + 1] = "";

		if (h->on_arrival != NULL)
			h->on_arrival(h->on_arrival_arg); /* placeable now: place it now */
		for (uint32_t i = 0; ph != NULL && i < PF_PACKET_DIGEST_BYTES; i++)
			(void)snprintf(lin + 2 * i, 3, "%02x", ph->lineage_hash[i]);
		h->moves_in++;
		/* from_lineage_*: the source's newest record about it at the stop, where its
		 * lineage continues here. */
		hosts_audit(
			h, "vnode_immigrated", m->vnode,
			"{\"from\":\"%s\",\"migration\":%llu,\"epoch\":%u,\"packet_epoch\":%llu,"
			"\"from_lineage_seq\":%llu,\"from_lineage_hash\":\"%s\","
			"\"state_bytes\":%llu,\"messages\":%u,\"bytes_received\":%llu}",
			from, (unsigned long long)m->mig, m->epoch,
			(unsigned long long)(ph != NULL ? ph->epoch : 0),
			(unsigned long long)(ph != NULL ? ph->lineage_seq : 0), lin,
			(unsigned long long)(ph != NULL ? ph->state_bytes : 0), m->messages,
			(unsigned long long)m->bytes);
	} else if (!committed && pf_transit_unarrive(h->domain, m->vnode, m->epoch) == 0) {
		hosts_audit(h, "vnode_arrival_undone", m->vnode,
			    "{\"from\":\"%s\",\"migration\":%llu,\"epoch\":%u}", from,
			    (unsigned long long)m->mig, m->epoch);
	}
	release(h, m);
}

static void on_answer(struct hosts *h, uint32_t entry, const uint8_t *b, uint64_t n)
{
	uint32_t vnode, epoch;

	if (n != 12)
		return;
	vnode = get32le(b);
	epoch = get32le(b + 4);
	for (uint32_t i = 0; i < HOSTS_MIGRATIONS_MAX; i++) {
		struct immigration *m = &h->in[i];

		if (m->active == IM_ASKING && m->entry == (int32_t)entry && m->vnode == vnode &&
		    m->epoch == epoch)
			arrived(h, m, get32le(b + 8) == 1);
	}
}

void immigrate_frame(struct hosts *h, uint32_t entry, const struct pf_link_frame *f)
{
	const uint8_t *b = f->body;
	struct immigration *m;

	if (f->type == HF_BEGIN) {
		on_begin(h, entry, b, f->body_bytes);
		return;
	}
	if (f->type == HF_ANSWER) {
		on_answer(h, entry, b, f->body_bytes);
		return;
	}
	if (f->body_bytes < 8 || (m = find(h, entry, get64le(b))) == NULL)
		return; /* a move we no longer hold (refused, done): ignored */
	if (m->active == IM_RECEIVING && f->type == HF_CHUNK) {
		on_chunk(h, entry, m, b, f->body_bytes);
	} else if (m->active == IM_RECEIVING && f->type == HF_ROUND && f->body_bytes == 16) {
		reply(h, entry, HF_ROUND_OK, m->mig, get32le(b + 8), NULL);
	} else if (m->active == IM_RECEIVING && f->type == HF_DELIVERED && f->body_bytes == 16) {
		m->drop_valid = 1;
		m->drop_upto = get64le(b + 8);
	} else if (m->active == IM_RECEIVING && f->type == HF_FINAL && m->header == NULL) {
		on_final(h, entry, m, b + 8, f->body_bytes - 8);
	} else if (m->active == IM_RECEIVING && f->type == HF_MSG) {
		on_msg(h, entry, m, b + 8, f->body_bytes - 8);
	} else if (m->active == IM_RECEIVING && f->type == HF_SEAL) {
		on_seal(h, entry, m, b + 8, f->body_bytes - 8);
	} else if (m->active == IM_PREPARED && f->type == HF_COMMIT) {
		arrived(h, m, 1);
		reply(h, entry, HF_DONE, get64le(b), 0, NULL);
	} else if (f->type == HF_ABORT) {
		if (m->active == IM_PREPARED)
			arrived(h, m, 0);
		else
			release(h, m);
	} else {
		refuse(h, entry, m, m->mig, -EPROTO, "a frame out of turn");
	}
}

void immigrate_conn_lost(struct hosts *h, uint32_t entry)
{
	for (uint32_t i = 0; i < HOSTS_MIGRATIONS_MAX; i++) {
		struct immigration *m = &h->in[i];

		if (m->active == IM_FREE || m->entry != (int32_t)entry)
			continue;
		m->entry = -1;
		if (m->active == IM_RECEIVING) {
			release(h, m); /* nothing installed */
		} else {
			/* Prepared: the source may have committed. Ask it; until then the
			 * VNode stays ARRIVING, served by nobody, doubled nowhere. */
			m->active = IM_ASKING;
			log_msg(LOG_WARN,
				"hosts: VNode %u arrived from %s, then the connection "
				"ended: asking it whether it committed",
				m->vnode, h->peers[m->peer].id.name);
		}
	}
}

static void ask(struct hosts *h, uint32_t entry, struct immigration *m)
{
	uint8_t body[8];
	struct iovec iov = {body, sizeof(body)};

	put32le(body, m->vnode);
	put32le(body + 4, m->epoch);
	m->entry = (int32_t)entry;
	if (hosts_send(h, entry, HF_QUERY, &iov, 1, sizeof(body), 1, NULL, NULL) < 0)
		m->entry = -1;
}

void immigrate_conn_ready(struct hosts *h, uint32_t entry)
{
	for (uint32_t i = 0; i < HOSTS_MIGRATIONS_MAX; i++) {
		struct immigration *m = &h->in[i];

		if (m->active == IM_ASKING && m->entry < 0 && m->peer == h->conns[entry].peer &&
		    h->conns[entry].outbound)
			ask(h, entry, m);
	}
}

int immigrate_step(struct hosts *h)
{
	int work = 0;

	for (uint32_t i = 0; i < HOSTS_MIGRATIONS_MAX; i++) {
		struct immigration *m = &h->in[i];
		int r;

		if (m->active != IM_ASKING || m->entry >= 0 || m->peer < 0)
			continue;
		r = hosts_conn_to(h, (uint32_t)m->peer);
		if (r >= 0) {
			ask(h, (uint32_t)r, m);
			work++;
		}
	}
	return work;
}

void immigrate_recover(struct hosts *h)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	uint32_t k = 0;

	if (pf_domain_info(h->domain, &di) < 0)
		return;
	for (uint32_t id = 0; id < di.vnodes_max && k < HOSTS_MIGRATIONS_MAX; id++) {
		struct pf_vnode_info vi = {.size = sizeof(vi)};

		if (pf_vnode_info(h->domain, id, &vi) < 0 || vi.state != PF_VNODE_ARRIVING)
			continue;
		if (vi.host >= h->peers_count) {
			/* From a host we no longer list: nobody to ask; it never became ours. */
			(void)pf_transit_unarrive(h->domain, id, (uint32_t)vi.epoch);
			continue;
		}
		h->in[k++] = (struct immigration){.active = IM_ASKING,
						  .vnode = id,
						  .entry = -1,
						  .peer = (int32_t)vi.host,
						  .epoch = (uint32_t)vi.epoch};
		log_msg(LOG_INFO, "hosts: VNode %u was arriving from %s when a daemon died: asking",
			id, h->peers[vi.host].id.name);
	}
}

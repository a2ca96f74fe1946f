/* SPDX-License-Identifier: MIT */
/*
 * core/packet_file.c: a whole Flight Packet file, parsed in its one order (pflight/packet.h).
 *
 * The file is the preamble, the header, chunks 0..n-1, messages 0..m-1, the digest table
 * and the signature, with nothing before, between or after. One order means one way to
 * write a given packet: two files of the same packet are the same bytes, and nothing can
 * hide in a file that the parser does not read. Every record is located with
 * pf_packet_rec_next() (its head and padding checked against what remains) and decoded
 * with its own decoder from core/packet.c, so a refusal here is the decoder's, with the
 * record's number and its offset in the file added.
 */
#include <errno.h>
#include <string.h>

#include "pflight/packet.h"
#include "shm/pf_assert.h"

struct cursor {
	const uint8_t *base;
	uint64_t len;
	uint64_t off;    /* where the next record starts */
	uint32_t record; /* its number (the preamble is 0) */
	struct pf_packet_fault *fault;
};

/* A refusal from a decoder, placed in the file. */
static int placed(struct cursor *c, int r, struct pf_packet_fault *f)
{
	PF_ASSERT(r < 0);
	if (c->fault != NULL) {
		*c->fault = *f;
		c->fault->offset += c->off;
		c->fault->record = c->record;
		if (c->fault->what == NULL)
			c->fault->what = "record";
	}
	return r;
}

/* The next record, which must be of `type`. */
static int next(struct cursor *c, uint32_t type, struct pf_packet_rec *rec)
{
	struct pf_packet_fault f = {0, UINT32_MAX, UINT32_MAX, NULL};
	int r;

	PF_ASSERT(c->off <= c->len);
	r = pf_packet_rec_next(c->base + c->off, c->len - c->off, rec, &f);
	if (r < 0)
		return placed(c, r, &f);
	if (rec->type != type) {
		f.offset = 0;
		f.what = type == PF_PACKET_REC_CHUNK       ? "expected a chunk record"
			 : type == PF_PACKET_REC_MESSAGE   ? "expected a message record"
			 : type == PF_PACKET_REC_DIGESTS   ? "expected the digest table"
			 : type == PF_PACKET_REC_SIGNATURE ? "expected the signature"
							   : "expected the header";
		return placed(c, -EPROTO, &f);
	}
	return 0;
}

static void advance(struct cursor *c, const struct pf_packet_rec *rec)
{
	PF_ASSERT(rec->rec_bytes <= c->len - c->off);
	c->off += rec->rec_bytes;
	c->record++;
}

/* Chunks 0..chunk_count-1, each of its index, in order. */
static int parse_chunks(struct cursor *c, struct pf_packet_view *v)
{
	struct pf_packet_fault f = {0, UINT32_MAX, UINT32_MAX, NULL};
	const struct pf_packet_header *h = &v->header;
	struct pf_packet_chunk chunk;
	struct pf_packet_rec rec;
	int r;

	v->chunks_offset = c->off;
	v->chunk_stride =
		PF_PACKET_REC_BYTES + PF_PACKET_CHUNK_HEAD_BYTES + (uint64_t)h->chunk_bytes;
	for (uint32_t i = 0; i < h->chunk_count; i++) {
		r = next(c, PF_PACKET_REC_CHUNK, &rec);
		if (r < 0)
			return r;
		r = pf_packet_chunk_decode(h, &rec, &chunk, &f);
		if (r < 0)
			return placed(c, r, &f);
		if (chunk.index != i) {
			f = (struct pf_packet_fault){PF_PACKET_REC_BYTES, 0, chunk.index,
						     "chunk out of order"};
			return placed(c, -EPROTO, &f);
		}
		PF_ASSERT(c->off == v->chunks_offset + (uint64_t)i * v->chunk_stride);
		advance(c, &rec);
	}
	return 0;
}

/* Messages 0..message_count-1 in order, their lengths summing to message_bytes. */
static int parse_messages(struct cursor *c, struct pf_packet_view *v)
{
	struct pf_packet_fault f = {0, UINT32_MAX, UINT32_MAX, NULL};
	const struct pf_packet_header *h = &v->header;
	struct pf_packet_message msg;
	struct pf_packet_rec rec;
	uint64_t bytes = 0;
	int r;

	v->messages_offset = c->off;
	for (uint32_t i = 0; i < h->message_count; i++) {
		r = next(c, PF_PACKET_REC_MESSAGE, &rec);
		if (r < 0)
			return r;
		r = pf_packet_message_decode(h, &rec, &msg, &f);
		if (r < 0)
			return placed(c, r, &f);
		if (msg.index != i) {
			f = (struct pf_packet_fault){PF_PACKET_REC_BYTES, 0, msg.index,
						     "message out of order"};
			return placed(c, -EPROTO, &f);
		}
		bytes += msg.len;
		advance(c, &rec);
	}
	if (bytes != h->message_bytes) {
		f = (struct pf_packet_fault){0, 0, UINT32_MAX,
					     "message lengths disagree with the header"};
		return placed(c, -EPROTO, &f);
	}
	return 0;
}

/* Digest table, signature, and the end of the file. */
static int parse_tail(struct cursor *c, struct pf_packet_view *v)
{
	struct pf_packet_fault f = {0, UINT32_MAX, UINT32_MAX, NULL};
	struct pf_packet_rec rec;
	int r;

	r = next(c, PF_PACKET_REC_DIGESTS, &rec);
	if (r < 0)
		return r;
	r = pf_packet_digests_decode(&v->header, &rec, &v->digests, &f);
	if (r < 0)
		return placed(c, r, &f);
	v->digests_rec = c->base + c->off;
	v->digests_rec_bytes = rec.rec_bytes;
	advance(c, &rec);
	r = next(c, PF_PACKET_REC_SIGNATURE, &rec);
	if (r < 0)
		return r;
	r = pf_packet_signature_decode(&rec, &v->sig_alg, &v->signature, &f);
	if (r < 0)
		return placed(c, r, &f);
	advance(c, &rec);
	if (c->off != c->len) {
		f = (struct pf_packet_fault){0, 0, UINT32_MAX, "bytes after the signature"};
		return placed(c, -EPROTO, &f);
	}
	return 0;
}

int pf_packet_parse(const void *buf, size_t len, struct pf_packet_view *ret_view,
		    struct pf_packet_fault *reterr_fault)
{
	struct pf_packet_fault f = {0, UINT32_MAX, UINT32_MAX, NULL};
	struct cursor c = {buf, len, 0, 0, reterr_fault};
	struct pf_packet_view *v = ret_view;
	struct pf_packet_rec rec;
	int r;

	if (buf == NULL || ret_view == NULL)
		return -EINVAL;
	memset(v, 0, sizeof(*v));
	r = pf_packet_preamble_decode(buf, len, &f);
	if (r < 0)
		return placed(&c, r, &f);
	c.off = PF_PACKET_PREAMBLE_BYTES;
	c.record = 1;
	r = next(&c, PF_PACKET_REC_HEADER, &rec);
	if (r < 0)
		return r;
	r = pf_packet_header_decode(&rec, &v->header, &f);
	if (r < 0)
		return placed(&c, r, &f);
	v->header_rec = c.base + c.off;
	v->header_rec_bytes = rec.rec_bytes;
	advance(&c, &rec);
	r = parse_chunks(&c, v);
	if (r == 0)
		r = parse_messages(&c, v);
	if (r == 0)
		r = parse_tail(&c, v);
	if (r < 0) {
		memset(v, 0, sizeof(*v));
		return r;
	}
	v->base = buf;
	v->bytes = len;
	return 0;
}

int pf_packet_view_chunk(const struct pf_packet_view *view, uint32_t index,
			 struct pf_packet_chunk *ret_chunk)
{
	struct pf_packet_rec rec;
	uint64_t off;
	int r;

	if (view == NULL || view->base == NULL || ret_chunk == NULL ||
	    index >= view->header.chunk_count)
		return -EINVAL;
	off = view->chunks_offset + (uint64_t)index * view->chunk_stride;
	PF_ASSERT(off < view->bytes);
	r = pf_packet_rec_next(view->base + off, view->bytes - off, &rec, NULL);
	if (r == 0)
		r = pf_packet_chunk_decode(&view->header, &rec, ret_chunk, NULL);
	/* The view was parsed whole: a record that no longer decodes is the caller's bytes
	 * changing under it. */
	PF_ASSERT(r == 0 && ret_chunk->index == index);
	return r;
}

int pf_packet_view_message(const struct pf_packet_view *view, uint64_t *cursor,
			   struct pf_packet_message *ret_message)
{
	struct pf_packet_rec rec;
	uint64_t off;
	int r;

	if (view == NULL || view->base == NULL || cursor == NULL || ret_message == NULL)
		return -EINVAL;
	off = view->messages_offset + *cursor;
	if (off >= (uint64_t)(view->digests_rec - view->base))
		return 0;
	r = pf_packet_rec_next(view->base + off, view->bytes - off, &rec, NULL);
	if (r == 0)
		r = pf_packet_message_decode(&view->header, &rec, ret_message, NULL);
	if (r < 0)
		return -EINVAL;
	*cursor += rec.rec_bytes;
	return 1;
}

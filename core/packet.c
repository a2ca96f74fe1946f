/* SPDX-License-Identifier: MIT */
/*
 * core/packet.c: the Flight Packet codec (pflight/packet.h, docs/flight-packet.md).
 *
 * Why records. A packet is a preamble then a sequence of records, each a 16-byte head
 * (type, flags, body bytes), its body and zero padding to 8 bytes. A file is the records
 * in a fixed order; a migration sends the same records one per transport frame, in rounds
 * (a chunk may be sent again when it changed), and the receiver decodes each with the
 * same functions as the file parser. So the wire and the disk share one decoder, and the
 * fuzz target that feeds it files reaches every check the wire depends on.
 *
 * Why no crypto here. The digests (BLAKE2b-256) and the signature (Ed25519ph) need
 * libsodium, which the worker's library does not link (STYLE.md 10.3a): they are
 * ctl/seal.c's. This file checks form only, and it checks all of it: every field read
 * from a packet is input from another host or a file anyone may have edited, so nothing
 * is asserted, every length is compared with what remains before it is used, and every
 * sum is computed in 64 bits from values already bounded far below 2^32.
 *
 * All integers are little-endian, read and written byte by byte (no unaligned loads, no
 * dependence on the host's byte order).
 */
#include <errno.h>
#include <string.h>

#include "pflight/packet.h"
#include "shm/le.h"
#include "shm/pf_assert.h"

#define FAULT_NONE UINT32_MAX

_Static_assert(sizeof(PF_PACKET_MAGIC) == 9, "the magic is 8 bytes (and the literal's NUL)");
_Static_assert(PF_PACKET_CHUNK_BYTES_MAX <= UINT32_MAX / 2, "a chunk length fits 32 bits");
_Static_assert((uint64_t)PF_PACKET_CHUNKS_MAX *PF_PACKET_CHUNK_BYTES_MAX >=
		       PF_PACKET_STATE_BYTES_MAX,
	       "the largest state fits the largest chunk table");
_Static_assert((uint64_t)(PF_PACKET_CHUNKS_MAX + 1) * PF_PACKET_DIGEST_BYTES < UINT32_MAX,
	       "the digest table's length fits 32 bits");

/* Record a refusal; returns r so that callers can `return fault(...)`. */
static int fault(struct pf_packet_fault *f, int r, uint64_t offset, uint32_t index,
		 const char *what)
{
	PF_ASSERT(r < 0);
	PF_ASSERT(what != NULL);
	if (f != NULL) {
		f->offset = offset;
		f->record = FAULT_NONE;
		f->index = index;
		f->what = what;
	}
	return r;
}

uint32_t pf_packet_pad_bytes(uint64_t body_bytes)
{
	return (uint32_t)((8 - (body_bytes & 7)) & 7);
}

static uint64_t rec_bytes(uint64_t body_bytes)
{
	return PF_PACKET_REC_BYTES + body_bytes + pf_packet_pad_bytes(body_bytes);
}

static void rec_head_put(uint8_t *p, uint32_t type, uint64_t body_bytes)
{
	put32le(p, type);
	put32le(p + 4, 0);
	put64le(p + 8, body_bytes);
}

void pf_packet_header_init(struct pf_packet_header *header)
{
	if (header == NULL)
		return;
	memset(header, 0, sizeof(*header));
	header->size = sizeof(*header);
	header->version_major = PF_PACKET_VERSION_MAJOR;
	header->version_minor = PF_PACKET_VERSION_MINOR;
	header->digest_alg = PF_PACKET_DIGEST_BLAKE2B_256;
	header->home_node = -1;
}

const char *pf_packet_rec_type_name(uint32_t type)
{
	static const char *const names[] = {
		[PF_PACKET_REC_HEADER] = "header",       [PF_PACKET_REC_CHUNK] = "chunk",
		[PF_PACKET_REC_MESSAGE] = "message",     [PF_PACKET_REC_DIGESTS] = "digests",
		[PF_PACKET_REC_SIGNATURE] = "signature",
	};

	return type >= 1 && type <= PF_PACKET_REC_TYPE_MAX ? names[type] : NULL;
}

int pf_packet_preamble_encode(void *buf, size_t cap)
{
	uint8_t *p = buf;

	if (p == NULL || cap < PF_PACKET_PREAMBLE_BYTES)
		return -EINVAL;
	memcpy(p, PF_PACKET_MAGIC, 8);
	put16le(p + 8, PF_PACKET_VERSION_MAJOR);
	put16le(p + 10, PF_PACKET_VERSION_MINOR);
	put32le(p + 12, 0);
	return PF_PACKET_PREAMBLE_BYTES;
}

int pf_packet_preamble_decode(const void *buf, size_t len, struct pf_packet_fault *reterr_fault)
{
	const uint8_t *p = buf;

	if (p == NULL)
		return -EINVAL;
	if (len < PF_PACKET_PREAMBLE_BYTES)
		return fault(reterr_fault, -EOVERFLOW, len, FAULT_NONE, "preamble truncated");
	if (memcmp(p, PF_PACKET_MAGIC, 8) != 0)
		return fault(reterr_fault, -EPROTO, 0, FAULT_NONE, "magic");
	if (get16le(p + 8) != PF_PACKET_VERSION_MAJOR)
		return fault(reterr_fault, -EPROTONOSUPPORT, 8, FAULT_NONE, "format major version");
	if (get32le(p + 12) != 0)
		return fault(reterr_fault, -EPROTO, 12, FAULT_NONE, "preamble reserved");
	return 0;
}

/* A host name: 1..PF_PACKET_HOST_NAME_MAX of [A-Za-z0-9._-]. */
static int host_name_valid(const char *s, size_t len)
{
	if (len == 0 || len > PF_PACKET_HOST_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

/* A capability name, as core/capability.c accepts one (no NUL, its characters). */
static int cap_name_valid(const char *s, size_t len)
{
	if (len == 0 || len > PF_CAP_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-' || c == ':' || c == '/'))
			return 0;
	}
	return 1;
}

/* Free text (a VNode name, a namespace): no control characters, no NUL. */
static int text_valid(const char *s, size_t len, size_t max)
{
	if (len > max)
		return 0;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* The fields of a header that do not depend on its names, as the decoder checks them. */
static int header_numbers_check(const struct pf_packet_header *h, uint64_t *ret_offset,
				const char **ret_what)
{
	uint64_t chunks;

#define REFUSE(off, what_)                                                                         \
	do {                                                                                       \
		*ret_offset = (off);                                                               \
		*ret_what = (what_);                                                               \
		return -EPROTO;                                                                    \
	} while (0)
	if ((h->flags & ~PF_PACKET_F_ALL) != 0)
		REFUSE(4, "unknown flag");
	if (h->chunk_bytes < PF_PACKET_CHUNK_BYTES_MIN ||
	    h->chunk_bytes > PF_PACKET_CHUNK_BYTES_MAX ||
	    (h->chunk_bytes & (h->chunk_bytes - 1)) != 0)
		REFUSE(32, "chunk bytes not a power of two in range");
	if (h->state_bytes > PF_PACKET_STATE_BYTES_MAX)
		REFUSE(24, "state bytes past the limit");
	chunks = (h->state_bytes + h->chunk_bytes - 1) / h->chunk_bytes;
	if (chunks != h->chunk_count)
		REFUSE(36, "chunk count disagrees with state and chunk bytes");
	if (h->message_count > PF_PACKET_MESSAGES_MAX)
		REFUSE(40, "message count past the limit");
	if (h->message_bytes > (uint64_t)h->message_count * PF_MSG_BYTES_MAX)
		REFUSE(48, "message bytes past count times the largest message");
	if (h->home_node < -1)
		REFUSE(108, "home node");
	if (h->trust_floor_ppm > 1000000)
		REFUSE(112, "trust floor past one million ppm");
	if (h->caps_count > PF_CAPS_MAX)
		REFUSE(116, "capability count past the limit");
#undef REFUSE
	return 0;
}

/* Bytes of the header body for h's names; 0 when a name is invalid. */
static uint64_t header_body_bytes(const struct pf_packet_header *h)
{
	size_t name = strnlen(h->name, sizeof(h->name));
	size_t host = strnlen(h->host, sizeof(h->host));
	size_t ns = strnlen(h->namespace_name, sizeof(h->namespace_name));
	uint64_t n;

	if (name == sizeof(h->name) || !text_valid(h->name, name, PF_VNODE_NAME_MAX) ||
	    !host_name_valid(h->host, host) || ns == sizeof(h->namespace_name) ||
	    !text_valid(h->namespace_name, ns, PF_DOMAIN_NAME_MAX) || h->caps_count > PF_CAPS_MAX)
		return 0;
	n = PF_PACKET_HEADER_FIXED_BYTES + name + host + ns;
	for (uint32_t i = 0; i < h->caps_count; i++) {
		size_t c = strnlen(h->caps[i], sizeof(h->caps[i]));

		if (!cap_name_valid(h->caps[i], c))
			return 0;
		n += 1 + c;
	}
	return n;
}

static void header_fixed_put(uint8_t *b, const struct pf_packet_header *h)
{
	put32le(b + 0, h->vnode_id);
	put32le(b + 4, h->flags);
	put64le(b + 8, h->epoch);
	put64le(b + 16, h->checkpoint_seq);
	put64le(b + 24, h->state_bytes);
	put32le(b + 32, h->chunk_bytes);
	put32le(b + 36, h->chunk_count);
	put32le(b + 40, h->message_count);
	put32le(b + 44, h->digest_alg);
	put64le(b + 48, h->message_bytes);
	put64le(b + 56, h->created_ns);
	memcpy(b + 64, h->host_key, PF_PACKET_KEY_BYTES);
	put32le(b + 96, h->member_slot);
	put32le(b + 100, h->member_generation);
	put32le(b + 104, h->member_pid);
	put32le(b + 108, (uint32_t)h->home_node);
	put32le(b + 112, h->trust_floor_ppm);
	put32le(b + 116, h->caps_count);
	put64le(b + 120, h->lineage_seq);
	memcpy(b + 128, h->lineage_hash, PF_PACKET_DIGEST_BYTES);
	put16le(b + 160, (uint16_t)strlen(h->name));
	put16le(b + 162, (uint16_t)strlen(h->host));
	put16le(b + 164, (uint16_t)strlen(h->namespace_name));
	put16le(b + 166, 0);
}

int pf_packet_header_encode(const struct pf_packet_header *header, void *buf, size_t cap,
			    size_t *ret_bytes)
{
	uint64_t body, off, total;
	const char *what;
	uint8_t *p = buf;

	if (header == NULL || header->size != sizeof(*header) ||
	    header->digest_alg != PF_PACKET_DIGEST_BLAKE2B_256 ||
	    header_numbers_check(header, &off, &what) != 0)
		return -EINVAL;
	body = header_body_bytes(header);
	if (body == 0)
		return -EINVAL;
	total = rec_bytes(body);
	if (ret_bytes != NULL)
		*ret_bytes = total;
	if (p == NULL || cap < total)
		return -EINVAL;
	memset(p, 0, total);
	rec_head_put(p, PF_PACKET_REC_HEADER, body);
	header_fixed_put(p + PF_PACKET_REC_BYTES, header);
	off = PF_PACKET_REC_BYTES + PF_PACKET_HEADER_FIXED_BYTES;
	for (int i = 0; i < 3; i++) {
		const char *s = i == 0   ? header->name
				: i == 1 ? header->host
					 : header->namespace_name;

		memcpy(p + off, s, strlen(s));
		off += strlen(s);
	}
	for (uint32_t i = 0; i < header->caps_count; i++) {
		size_t c = strlen(header->caps[i]);

		p[off++] = (uint8_t)c;
		memcpy(p + off, header->caps[i], c);
		off += c;
	}
	PF_ASSERT(off == PF_PACKET_REC_BYTES + body);
	return (int)total;
}

int pf_packet_rec_next(const void *buf, size_t len, struct pf_packet_rec *ret_rec,
		       struct pf_packet_fault *reterr_fault)
{
	const uint8_t *p = buf;
	uint64_t body, pad;
	uint32_t type;

	if (p == NULL || ret_rec == NULL)
		return -EINVAL;
	if (len < PF_PACKET_REC_BYTES)
		return fault(reterr_fault, -EOVERFLOW, len, FAULT_NONE, "record head truncated");
	type = get32le(p);
	body = get64le(p + 8);
	if (pf_packet_rec_type_name(type) == NULL)
		return fault(reterr_fault, -EPROTO, 0, FAULT_NONE, "unknown record type");
	if (get32le(p + 4) != 0)
		return fault(reterr_fault, -EPROTO, 4, FAULT_NONE, "record flags");
	/* Compare with what remains before adding: body is untrusted and may be near 2^64. */
	if (body > len - PF_PACKET_REC_BYTES)
		return fault(reterr_fault, -EOVERFLOW, 8, FAULT_NONE, "record body past the end");
	pad = pf_packet_pad_bytes(body);
	if (pad > len - PF_PACKET_REC_BYTES - body)
		return fault(reterr_fault, -EOVERFLOW, 8, FAULT_NONE,
			     "record padding past the end");
	for (uint64_t i = 0; i < pad; i++)
		if (p[PF_PACKET_REC_BYTES + body + i] != 0)
			return fault(reterr_fault, -EPROTO, PF_PACKET_REC_BYTES + body + i,
				     FAULT_NONE, "record padding not zero");
	ret_rec->type = type;
	ret_rec->reserved0 = 0;
	ret_rec->body = p + PF_PACKET_REC_BYTES;
	ret_rec->body_bytes = body;
	ret_rec->rec_bytes = PF_PACKET_REC_BYTES + body + pad;
	return 0;
}

static void header_fixed_get(const uint8_t *b, struct pf_packet_header *h)
{
	h->vnode_id = get32le(b + 0);
	h->flags = get32le(b + 4);
	h->epoch = get64le(b + 8);
	h->checkpoint_seq = get64le(b + 16);
	h->state_bytes = get64le(b + 24);
	h->chunk_bytes = get32le(b + 32);
	h->chunk_count = get32le(b + 36);
	h->message_count = get32le(b + 40);
	h->digest_alg = get32le(b + 44);
	h->message_bytes = get64le(b + 48);
	h->created_ns = get64le(b + 56);
	memcpy(h->host_key, b + 64, PF_PACKET_KEY_BYTES);
	h->member_slot = get32le(b + 96);
	h->member_generation = get32le(b + 100);
	h->member_pid = get32le(b + 104);
	h->home_node = (int32_t)get32le(b + 108);
	h->trust_floor_ppm = get32le(b + 112);
	h->caps_count = get32le(b + 116);
	h->lineage_seq = get64le(b + 120);
	memcpy(h->lineage_hash, b + 128, PF_PACKET_DIGEST_BYTES);
}

/* Copy a name of len bytes at body + *off (checked against body_bytes) into dst. */
static int name_get(const struct pf_packet_rec *rec, uint64_t *off, uint64_t len, char *dst,
		    size_t dst_cap, struct pf_packet_fault *f, const char *what)
{
	if (len >= dst_cap)
		return fault(f, -EOVERFLOW, PF_PACKET_REC_BYTES + *off, FAULT_NONE, what);
	if (len > rec->body_bytes - *off)
		return fault(f, -EOVERFLOW, PF_PACKET_REC_BYTES + *off, FAULT_NONE, what);
	memcpy(dst, rec->body + *off, len);
	dst[len] = '\0';
	*off += len;
	return 0;
}

static int header_names_get(const struct pf_packet_rec *rec, struct pf_packet_header *h,
			    struct pf_packet_fault *f)
{
	uint64_t off = PF_PACKET_HEADER_FIXED_BYTES;
	const uint8_t *b = rec->body;
	int r;

	if (get16le(b + 166) != 0)
		return fault(f, -EPROTO, PF_PACKET_REC_BYTES + 166, FAULT_NONE, "header reserved");
	r = name_get(rec, &off, get16le(b + 160), h->name, sizeof(h->name), f, "vnode name length");
	if (r == 0)
		r = name_get(rec, &off, get16le(b + 162), h->host, sizeof(h->host), f,
			     "host name length");
	if (r == 0)
		r = name_get(rec, &off, get16le(b + 164), h->namespace_name,
			     sizeof(h->namespace_name), f, "namespace length");
	if (r < 0)
		return r;
	if (!text_valid(h->name, strlen(h->name), PF_VNODE_NAME_MAX) ||
	    strlen(h->name) != get16le(b + 160))
		return fault(f, -EPROTO, PF_PACKET_REC_BYTES + 160, FAULT_NONE, "vnode name");
	if (strlen(h->host) != get16le(b + 162) || !host_name_valid(h->host, strlen(h->host)))
		return fault(f, -EPROTO, PF_PACKET_REC_BYTES + 162, FAULT_NONE, "host name");
	if (strlen(h->namespace_name) != get16le(b + 164) ||
	    !text_valid(h->namespace_name, strlen(h->namespace_name), PF_DOMAIN_NAME_MAX))
		return fault(f, -EPROTO, PF_PACKET_REC_BYTES + 164, FAULT_NONE, "namespace");
	for (uint32_t i = 0; i < h->caps_count; i++) {
		uint64_t at = off;

		if (off >= rec->body_bytes)
			return fault(f, -EOVERFLOW, PF_PACKET_REC_BYTES + off, i,
				     "capability length");
		off++;
		r = name_get(rec, &off, b[at], h->caps[i], sizeof(h->caps[i]), f, "capability");
		if (r < 0)
			return r;
		if (strlen(h->caps[i]) != b[at] || !cap_name_valid(h->caps[i], b[at]))
			return fault(f, -EPROTO, PF_PACKET_REC_BYTES + at, i, "capability name");
	}
	if (off != rec->body_bytes)
		return fault(f, -EPROTO, PF_PACKET_REC_BYTES + off, FAULT_NONE,
			     "header bytes after its names");
	return 0;
}

int pf_packet_header_decode(const struct pf_packet_rec *rec, struct pf_packet_header *ret_header,
			    struct pf_packet_fault *reterr_fault)
{
	struct pf_packet_header h;
	const char *what = NULL;
	uint64_t off = 0;
	int r;

	if (rec == NULL || rec->body == NULL || ret_header == NULL)
		return -EINVAL;
	if (rec->type != PF_PACKET_REC_HEADER)
		return fault(reterr_fault, -EPROTO, 0, FAULT_NONE, "not a header record");
	if (rec->body_bytes < PF_PACKET_HEADER_FIXED_BYTES)
		return fault(reterr_fault, -EOVERFLOW, 8, FAULT_NONE, "header truncated");
	pf_packet_header_init(&h);
	header_fixed_get(rec->body, &h);
	if (h.digest_alg != PF_PACKET_DIGEST_BLAKE2B_256)
		return fault(reterr_fault, -EPROTONOSUPPORT, PF_PACKET_REC_BYTES + 44, FAULT_NONE,
			     "digest algorithm");
	r = header_numbers_check(&h, &off, &what);
	if (r < 0)
		return fault(reterr_fault, r, PF_PACKET_REC_BYTES + off, FAULT_NONE, what);
	r = header_names_get(rec, &h, reterr_fault);
	if (r < 0)
		return r;
	*ret_header = h;
	return 0;
}

uint32_t pf_packet_chunk_len(const struct pf_packet_header *header, uint32_t index)
{
	uint64_t start;

	if (header == NULL || index >= header->chunk_count)
		return 0;
	start = (uint64_t)index * header->chunk_bytes;
	PF_ASSERT(start < header->state_bytes);
	return (uint32_t)(header->state_bytes - start < header->chunk_bytes
				  ? header->state_bytes - start
				  : header->chunk_bytes);
}

int pf_packet_chunk_head_encode(const struct pf_packet_header *header, uint32_t index,
				const uint8_t digest[PF_PACKET_DIGEST_BYTES], void *buf, size_t cap)
{
	uint32_t len = pf_packet_chunk_len(header, index);
	uint8_t *p = buf;

	if (len == 0 || digest == NULL || p == NULL ||
	    cap < PF_PACKET_REC_BYTES + PF_PACKET_CHUNK_HEAD_BYTES)
		return -EINVAL;
	rec_head_put(p, PF_PACKET_REC_CHUNK, (uint64_t)PF_PACKET_CHUNK_HEAD_BYTES + len);
	put32le(p + PF_PACKET_REC_BYTES, index);
	put32le(p + PF_PACKET_REC_BYTES + 4, len);
	memcpy(p + PF_PACKET_REC_BYTES + 8, digest, PF_PACKET_DIGEST_BYTES);
	return PF_PACKET_REC_BYTES + PF_PACKET_CHUNK_HEAD_BYTES;
}

int pf_packet_chunk_decode(const struct pf_packet_header *header, const struct pf_packet_rec *rec,
			   struct pf_packet_chunk *ret_chunk, struct pf_packet_fault *reterr_fault)
{
	uint32_t index, len;

	if (header == NULL || rec == NULL || rec->body == NULL || ret_chunk == NULL)
		return -EINVAL;
	if (rec->type != PF_PACKET_REC_CHUNK)
		return fault(reterr_fault, -EPROTO, 0, FAULT_NONE, "not a chunk record");
	if (rec->body_bytes < PF_PACKET_CHUNK_HEAD_BYTES)
		return fault(reterr_fault, -EOVERFLOW, 8, FAULT_NONE, "chunk head truncated");
	index = get32le(rec->body);
	len = get32le(rec->body + 4);
	if (index >= header->chunk_count)
		return fault(reterr_fault, -EPROTO, PF_PACKET_REC_BYTES, index,
			     "chunk index past the chunk count");
	if (len != pf_packet_chunk_len(header, index))
		return fault(reterr_fault, -EPROTO, PF_PACKET_REC_BYTES + 4, index, "chunk length");
	if (rec->body_bytes != (uint64_t)PF_PACKET_CHUNK_HEAD_BYTES + len)
		return fault(reterr_fault, -EPROTO, 8, index, "chunk record length");
	ret_chunk->index = index;
	ret_chunk->len = len;
	ret_chunk->digest = rec->body + 8;
	ret_chunk->data = rec->body + PF_PACKET_CHUNK_HEAD_BYTES;
	return 0;
}

int pf_packet_message_head_encode(uint32_t index, uint32_t len, void *buf, size_t cap)
{
	uint8_t *p = buf;

	if (p == NULL || len > PF_MSG_BYTES_MAX || index >= PF_PACKET_MESSAGES_MAX ||
	    cap < PF_PACKET_REC_BYTES + PF_PACKET_MESSAGE_HEAD_BYTES)
		return -EINVAL;
	rec_head_put(p, PF_PACKET_REC_MESSAGE, (uint64_t)PF_PACKET_MESSAGE_HEAD_BYTES + len);
	put32le(p + PF_PACKET_REC_BYTES, index);
	put32le(p + PF_PACKET_REC_BYTES + 4, len);
	return PF_PACKET_REC_BYTES + PF_PACKET_MESSAGE_HEAD_BYTES;
}

int pf_packet_message_decode(const struct pf_packet_header *header, const struct pf_packet_rec *rec,
			     struct pf_packet_message *ret_message,
			     struct pf_packet_fault *reterr_fault)
{
	uint32_t index, len;

	if (header == NULL || rec == NULL || rec->body == NULL || ret_message == NULL)
		return -EINVAL;
	if (rec->type != PF_PACKET_REC_MESSAGE)
		return fault(reterr_fault, -EPROTO, 0, FAULT_NONE, "not a message record");
	if (rec->body_bytes < PF_PACKET_MESSAGE_HEAD_BYTES)
		return fault(reterr_fault, -EOVERFLOW, 8, FAULT_NONE, "message head truncated");
	index = get32le(rec->body);
	len = get32le(rec->body + 4);
	if (index >= header->message_count)
		return fault(reterr_fault, -EPROTO, PF_PACKET_REC_BYTES, index,
			     "message index past the message count");
	if (len > PF_MSG_BYTES_MAX)
		return fault(reterr_fault, -EOVERFLOW, PF_PACKET_REC_BYTES + 4, index,
			     "message length past the limit");
	if (rec->body_bytes != (uint64_t)PF_PACKET_MESSAGE_HEAD_BYTES + len)
		return fault(reterr_fault, -EPROTO, 8, index, "message record length");
	ret_message->index = index;
	ret_message->len = len;
	ret_message->data = rec->body + PF_PACKET_MESSAGE_HEAD_BYTES;
	return 0;
}

static uint64_t digests_body_bytes(const struct pf_packet_header *h)
{
	return 8 + ((uint64_t)h->chunk_count + 1) * PF_PACKET_DIGEST_BYTES;
}

uint64_t pf_packet_digests_rec_bytes(const struct pf_packet_header *header)
{
	return header == NULL ? 0 : rec_bytes(digests_body_bytes(header));
}

int pf_packet_digests_encode(const struct pf_packet_header *header, const uint8_t *digests,
			     const uint8_t messages_digest[PF_PACKET_DIGEST_BYTES], void *buf,
			     size_t cap)
{
	uint64_t body, table;
	uint8_t *p = buf;

	if (header == NULL || (digests == NULL && header->chunk_count > 0) ||
	    messages_digest == NULL || p == NULL || header->chunk_count > PF_PACKET_CHUNKS_MAX)
		return -EINVAL;
	body = digests_body_bytes(header);
	if (cap < rec_bytes(body))
		return -EINVAL;
	table = (uint64_t)header->chunk_count * PF_PACKET_DIGEST_BYTES;
	memset(p, 0, rec_bytes(body));
	rec_head_put(p, PF_PACKET_REC_DIGESTS, body);
	put32le(p + PF_PACKET_REC_BYTES, header->chunk_count);
	put32le(p + PF_PACKET_REC_BYTES + 4, header->digest_alg);
	if (table > 0)
		memcpy(p + PF_PACKET_REC_BYTES + 8, digests, table);
	memcpy(p + PF_PACKET_REC_BYTES + 8 + table, messages_digest, PF_PACKET_DIGEST_BYTES);
	return 0;
}

int pf_packet_digests_decode(const struct pf_packet_header *header, const struct pf_packet_rec *rec,
			     const uint8_t **ret_digests, struct pf_packet_fault *reterr_fault)
{
	if (header == NULL || rec == NULL || rec->body == NULL || ret_digests == NULL)
		return -EINVAL;
	if (rec->type != PF_PACKET_REC_DIGESTS)
		return fault(reterr_fault, -EPROTO, 0, FAULT_NONE, "not a digest table record");
	if (rec->body_bytes < 8)
		return fault(reterr_fault, -EOVERFLOW, 8, FAULT_NONE, "digest table truncated");
	if (get32le(rec->body) != header->chunk_count)
		return fault(reterr_fault, -EPROTO, PF_PACKET_REC_BYTES, FAULT_NONE,
			     "digest table count disagrees with the header");
	if (get32le(rec->body + 4) != header->digest_alg)
		return fault(reterr_fault, -EPROTONOSUPPORT, PF_PACKET_REC_BYTES + 4, FAULT_NONE,
			     "digest table algorithm");
	if (rec->body_bytes != digests_body_bytes(header))
		return fault(reterr_fault, -EPROTO, 8, FAULT_NONE, "digest table length");
	*ret_digests = rec->body + 8;
	return 0;
}

int pf_packet_signature_encode(uint32_t sig_alg, const uint8_t sig[PF_PACKET_SIG_BYTES], void *buf,
			       size_t cap)
{
	uint8_t *p = buf;

	if (sig_alg != PF_PACKET_SIG_ED25519PH || sig == NULL || p == NULL ||
	    cap < PF_PACKET_SIGNATURE_REC_BYTES)
		return -EINVAL;
	rec_head_put(p, PF_PACKET_REC_SIGNATURE, 8 + PF_PACKET_SIG_BYTES);
	put32le(p + PF_PACKET_REC_BYTES, sig_alg);
	put32le(p + PF_PACKET_REC_BYTES + 4, 0);
	memcpy(p + PF_PACKET_REC_BYTES + 8, sig, PF_PACKET_SIG_BYTES);
	return 0;
}

int pf_packet_signature_decode(const struct pf_packet_rec *rec, uint32_t *ret_sig_alg,
			       const uint8_t **ret_sig, struct pf_packet_fault *reterr_fault)
{
	if (rec == NULL || rec->body == NULL || ret_sig_alg == NULL || ret_sig == NULL)
		return -EINVAL;
	if (rec->type != PF_PACKET_REC_SIGNATURE)
		return fault(reterr_fault, -EPROTO, 0, FAULT_NONE, "not a signature record");
	if (rec->body_bytes != 8 + PF_PACKET_SIG_BYTES)
		return fault(reterr_fault,
			     rec->body_bytes < 8 + PF_PACKET_SIG_BYTES ? -EOVERFLOW : -EPROTO, 8,
			     FAULT_NONE, "signature record length");
	if (get32le(rec->body) != PF_PACKET_SIG_ED25519PH)
		return fault(reterr_fault, -EPROTONOSUPPORT, PF_PACKET_REC_BYTES, FAULT_NONE,
			     "signature algorithm");
	if (get32le(rec->body + 4) != 0)
		return fault(reterr_fault, -EPROTO, PF_PACKET_REC_BYTES + 4, FAULT_NONE,
			     "signature reserved");
	*ret_sig_alg = PF_PACKET_SIG_ED25519PH;
	*ret_sig = rec->body + 8;
	return 0;
}

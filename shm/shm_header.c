/* SPDX-License-Identifier: MIT */
/*
 * shm/shm_header.c: attach-side validation of the segment header and region table.
 *
 * Everything here reads memory another process wrote, possibly a crashed or different
 * build: the header and the region table are copied into private memory first, every
 * field of the copy is checked with arithmetic that cannot overflow, and only the copy is
 * used (a peer may rewrite the original between a check and a use); failure is a distinct
 * negative errno, never an assert.
 */
#include <errno.h>
#include <string.h>

#include "shm/fault.h"
#include "shm/pf_assert.h"
#include "shm/pf_atomic.h"
#include "shm/shm_header.h"

static int check_regions(const struct shm_header_copy *c)
{
	const struct pf_shm_region *reg = c->regions;
	uint64_t end_prev = c->hdr.table_offset + (uint64_t)c->hdr.region_count * sizeof(*reg);

	/* Regions are laid out in ascending order, so a single pass finds overlaps. */
	for (uint32_t i = 0; i < c->hdr.region_count; i++) {
		uint64_t off = reg[i].offset, bytes = reg[i].bytes;

		if (bytes == 0 || off % PF_CACHELINE != 0 || off < end_prev)
			return -ERANGE;
		if (off > c->hdr.segment_bytes || bytes > c->hdr.segment_bytes - off)
			return -ERANGE;
		end_prev = off + bytes;
	}
	return 0;
}

int shm_header_read(const struct pf_shm_header *hdr, size_t mapped_bytes, uint16_t expected_major,
		    struct shm_header_copy *ret_copy)
{
	struct pf_shm_header *h;
	uint64_t table_bytes;
	int r;

	if (hdr == NULL || ret_copy == NULL || mapped_bytes < sizeof(*hdr))
		return -EINVAL;
	/* [A0] pairs with [R0] in shm_header_publish(): the fields below are final. */
	if (pf_load_acquire(&hdr->ready) != 1)
		return -EAGAIN;
	/* Copy first, validate the copy: a peer may write the shared original meanwhile. */
	h = &ret_copy->hdr;
	memcpy(h, hdr, sizeof(*h));
	if (h->magic != PF_SHM_MAGIC)
		return -EBADMSG;
	if (h->layout_major != expected_major)
		return -EPROTONOSUPPORT;
	if (h->header_bytes != sizeof(*h) || h->reserved0 != 0 || h->reserved1 != 0 ||
	    h->reserved2 != 0)
		return -EPROTO;
	if (h->segment_bytes > mapped_bytes)
		return -EOVERFLOW;
	if (h->region_count == 0 || h->region_count > PF_SHM_REGIONS_MAX)
		return -ERANGE;
	table_bytes = (uint64_t)h->region_count * sizeof(struct pf_shm_region);
	if (h->table_offset < sizeof(*h) || h->table_offset % 16 != 0 ||
	    h->table_offset > h->segment_bytes || table_bytes > h->segment_bytes - h->table_offset)
		return -ERANGE;
	/* Within the mapping: the copy's segment_bytes is at most mapped_bytes. */
	memcpy(ret_copy->regions, (const unsigned char *)hdr + h->table_offset, table_bytes);
	r = check_regions(ret_copy);
	if (r == 0)
		PF_FAULT_POINT(SHM_HEADER_READ); /* validated: nothing reads the original again */
	return r;
}

int shm_header_check(const struct pf_shm_header *hdr, size_t mapped_bytes, uint16_t expected_major)
{
	struct shm_header_copy copy;

	return shm_header_read(hdr, mapped_bytes, expected_major, &copy);
}

void shm_header_publish(struct pf_shm_header *hdr)
{
	PF_ASSERT(hdr->magic == PF_SHM_MAGIC);
	PF_ASSERT(hdr->region_count > 0 && hdr->region_count <= PF_SHM_REGIONS_MAX);
	/* [R0] pairs with [A0] in shm_header_read(): every field above is written first. */
	pf_store_release(&hdr->ready, 1);
}

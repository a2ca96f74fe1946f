/* SPDX-License-Identifier: MIT */
/*
 * shm/shm_header.c: attach-side validation of the segment header and region table.
 *
 * Everything here reads memory another process wrote, possibly a crashed or different
 * build: every field is checked with arithmetic that cannot overflow before any offset
 * is used, and failure is a distinct negative errno, never an assert.
 */
#include <errno.h>

#include "shm/pf_assert.h"
#include "shm/pf_atomic.h"
#include "shm/shm_header.h"

static int check_regions(const struct pf_shm_header *hdr)
{
	const struct pf_shm_region *reg = shm_header_regions(hdr);
	uint64_t end_prev = hdr->table_offset + (uint64_t)hdr->region_count * sizeof(*reg);

	/* Regions are laid out in ascending order, so a single pass finds overlaps. */
	for (uint32_t i = 0; i < hdr->region_count; i++) {
		uint64_t off = reg[i].offset, bytes = reg[i].bytes;

		if (bytes == 0 || off % PF_CACHELINE != 0 || off < end_prev)
			return -ERANGE;
		if (off > hdr->segment_bytes || bytes > hdr->segment_bytes - off)
			return -ERANGE;
		end_prev = off + bytes;
	}
	return 0;
}

int shm_header_check(const struct pf_shm_header *hdr, size_t mapped_bytes, uint16_t expected_major)
{
	uint64_t table_bytes;

	if (hdr == NULL || mapped_bytes < sizeof(*hdr))
		return -EINVAL;
	/* [A0] pairs with [R0] in shm_header_publish(): the fields below are final. */
	if (pf_load_acquire(&hdr->ready) != 1)
		return -EAGAIN;
	if (hdr->magic != PF_SHM_MAGIC)
		return -EBADMSG;
	if (hdr->layout_major != expected_major)
		return -EPROTONOSUPPORT;
	if (hdr->header_bytes != sizeof(*hdr) || hdr->reserved0 != 0 || hdr->reserved1 != 0 ||
	    hdr->reserved2 != 0)
		return -EPROTO;
	if (hdr->segment_bytes > mapped_bytes)
		return -EOVERFLOW;
	if (hdr->region_count == 0 || hdr->region_count > PF_SHM_REGIONS_MAX)
		return -ERANGE;
	table_bytes = (uint64_t)hdr->region_count * sizeof(struct pf_shm_region);
	if (hdr->table_offset < sizeof(*hdr) || hdr->table_offset % 16 != 0 ||
	    hdr->table_offset > hdr->segment_bytes ||
	    table_bytes > hdr->segment_bytes - hdr->table_offset)
		return -ERANGE;
	return check_regions(hdr);
}

void shm_header_publish(struct pf_shm_header *hdr)
{
	PF_ASSERT(hdr->magic == PF_SHM_MAGIC);
	PF_ASSERT(hdr->region_count > 0 && hdr->region_count <= PF_SHM_REGIONS_MAX);
	/* [R0] pairs with [A0] in shm_header_check(): every field above is written first. */
	pf_store_release(&hdr->ready, 1);
}

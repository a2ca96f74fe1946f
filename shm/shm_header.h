/* SPDX-License-Identifier: MIT */
/*
 * shm/shm_header.h: the first 64 bytes of every segment and its region table.
 *
 * The creator fills the header and the region table, then release-stores `ready`
 * last ([R0]); an attacher acquire-loads `ready` ([A0]) and validates every field before
 * it trusts any offset (the Aeron CnC rule). Offsets only: every process maps the segment
 * at its own address. This layer knows nothing of what the regions hold.
 */
#ifndef PF_SHM_HEADER_H
#define PF_SHM_HEADER_H

#include <stddef.h>
#include <stdint.h>

#include "shm/pf_compiler.h"

#define PF_SHM_MAGIC UINT64_C(0x4c46485450464c50) /* "PLFPTHFL" little-endian */
#define PF_SHM_HEADER_BYTES 64u
#define PF_SHM_REGIONS_MAX 32u /* bounds the table an attacher walks */

struct pf_shm_header {
	uint64_t magic;
	uint16_t layout_major; /* bump: readers of the old layout must refuse */
	uint16_t layout_minor; /* bump: fields appended in reserved space */
	uint32_t header_bytes; /* sizeof(struct pf_shm_header) as written */
	uint64_t segment_bytes;
	uint64_t table_offset; /* region table: region_count x struct pf_shm_region */
	uint32_t region_count;
	int32_t creator_pid;
	uint64_t created_ns;    /* CLOCK_REALTIME at creation, for people */
	uint32_t reserved0;     /* must be zero */
	uint32_t reserved1;     /* must be zero */
	_Atomic uint32_t ready; /* stored last, [R0] */
	uint32_t reserved2;     /* must be zero */
};
_Static_assert(sizeof(struct pf_shm_header) == PF_SHM_HEADER_BYTES, "header is shared ABI");
_Static_assert(offsetof(struct pf_shm_header, segment_bytes) == 16, "segment_bytes moved");
_Static_assert(offsetof(struct pf_shm_header, table_offset) == 24, "table_offset moved");
_Static_assert(offsetof(struct pf_shm_header, ready) == 56, "ready moved");

struct pf_shm_region {
	uint64_t offset; /* from the segment base, cache-line aligned */
	uint64_t bytes;  /* > 0 */
};
_Static_assert(sizeof(struct pf_shm_region) == 16, "region entry is shared ABI");

/*
 * Validate a header read from a segment of mapped_bytes (input from another process:
 * no asserts). Returns 0, or:
 *   -EINVAL           hdr is NULL or mapped_bytes < 64 (caller error)
 *   -EAGAIN           not published yet (ready != 1): retry
 *   -EBADMSG          wrong magic: not a PhoenixFlight segment
 *   -EPROTONOSUPPORT  another layout major (expected_major)
 *   -EPROTO           header_bytes or a reserved field is wrong: a different build wrote it
 *   -EOVERFLOW        the segment is shorter than the header says (truncated)
 *   -ERANGE           the region table or a region lies outside the segment, is
 *                     misaligned, empty, or overlaps another
 * What it validated may change right after: an attacher that goes on to use the header
 * or the table uses shm_header_read()'s copy instead.
 */
int shm_header_check(const struct pf_shm_header *hdr, size_t mapped_bytes, uint16_t expected_major);

/* A segment's header and region table as shm_header_read() copied and validated them, in
 * process-private memory: what an attacher uses, whatever the segment says later. */
struct shm_header_copy {
	struct pf_shm_header hdr;
	struct pf_shm_region regions[PF_SHM_REGIONS_MAX]; /* [0, hdr.region_count) */
};

/*
 * shm_header_check() on a copy: the header, then the region table it names, each shared
 * byte read once into *ret_copy, and the copy validated (so a peer writing the segment
 * meanwhile cannot make what is used differ from what was checked). The same errnos, and
 * -EINVAL for ret_copy NULL; *ret_copy is a validated header and table only on success.
 */
int shm_header_read(const struct pf_shm_header *hdr, size_t mapped_bytes, uint16_t expected_major,
		    struct shm_header_copy *ret_copy);

/* Creator side: publish a fully written header ([R0]). */
void shm_header_publish(struct pf_shm_header *hdr);

#endif /* PF_SHM_HEADER_H */

/* SPDX-License-Identifier: MIT */
/*
 * shm/segment.h: lifecycle of a named POSIX shared-memory segment.
 *
 * The name is the shm_open(3) name without its leading slash, so "pflight-x" lives at
 * /dev/shm/pflight-x. This layer maps and unmaps bytes; what they mean is the caller's.
 */
#ifndef PF_SHM_SEGMENT_H
#define PF_SHM_SEGMENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SHM_NAME_MAX 250u /* NAME_MAX of /dev/shm less the slash */

struct shm_segment {
	void *base;
	size_t bytes;
	int fd;
};

/*
 * Create name exclusively with mode (umask is not applied), give it to group gid when
 * gid >= 0, size it to bytes (zero-filled, pages allocated lazily) and map it.
 * Returns 0, -EINVAL (bad name or size), -EEXIST, -EACCES/-EPERM (chown), -ENOSPC,
 * -ENOMEM, or another -errno of shm_open/ftruncate/mmap. Nothing is left behind on failure.
 */
int shm_segment_create(const char *name, size_t bytes, mode_t mode, int64_t gid,
		       struct shm_segment *ret_seg);

/*
 * Map an existing segment whole, read-write. Returns 0, -EINVAL, -ENOENT, -EACCES,
 * -ENODATA (empty: the creator has not sized it yet; retry), or another -errno.
 */
int shm_segment_open(const char *name, struct shm_segment *ret_seg);

/* Unmap and close; accepts a zeroed or already-closed segment. */
void shm_segment_close(struct shm_segment *seg);

/* Remove the name; mappings stay valid. Returns 0, -ENOENT, -EACCES or -EINVAL. */
int shm_segment_unlink(const char *name);

#endif /* PF_SHM_SEGMENT_H */

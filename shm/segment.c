/* SPDX-License-Identifier: MIT */
/*
 * shm/segment.c: shm_open/ftruncate/mmap with every error converted once, at the call.
 *
 * Creation is O_EXCL so two creators never share a half-built segment; the size is set
 * before the mapping so attachers that race the creator see either an empty file
 * (-ENODATA, retry) or a fully sized one whose header is not yet ready (-EAGAIN upstream).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/fault.h"
#include "shm/pf_assert.h"
#include "shm/segment.h"

static int make_path(const char *name, char *path, size_t path_bytes)
{
	size_t len;

	if (name == NULL)
		return -EINVAL;
	len = strnlen(name, SHM_NAME_MAX + 1);
	if (len == 0 || len > SHM_NAME_MAX || strchr(name, '/') != NULL)
		return -EINVAL;
	PF_ASSERT(path_bytes >= len + 2);
	path[0] = '/';
	memcpy(path + 1, name, len + 1);
	return 0;
}

int shm_segment_create(const char *name, size_t bytes, mode_t mode, int64_t gid,
		       struct shm_segment *ret_seg)
{
	char path[SHM_NAME_MAX + 2];
	void *base;
	int fd, r;

	r = make_path(name, path, sizeof(path));
	if (r < 0)
		return r;
	if (bytes == 0 || ret_seg == NULL || (mode & ~(mode_t)0777) != 0)
		return -EINVAL;
	if (PF_FAULT_FAIL(SHM_OPEN))
		return -EMFILE;
	fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	/* shm_open applies the umask; the caller's mode is the policy, so set it exactly. */
	if (fchmod(fd, mode) < 0) {
		r = -errno;
		goto fail;
	}
	if (gid >= 0 && fchown(fd, (uid_t)-1, (gid_t)gid) < 0) {
		r = -errno;
		goto fail;
	}
	if (PF_FAULT_FAIL(SHM_TRUNCATE)) {
		r = -ENOSPC;
		goto fail;
	}
	if (ftruncate(fd, (off_t)bytes) < 0) {
		r = -errno;
		goto fail;
	}
	if (PF_FAULT_FAIL(SHM_MMAP)) {
		r = -ENOMEM;
		goto fail;
	}
	base = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		r = -errno;
		goto fail;
	}
	ret_seg->base = base;
	ret_seg->bytes = bytes;
	ret_seg->fd = fd;
	return 0;

fail:
	(void)shm_unlink(path); /* error path: nothing better to do */
	(void)close(fd);
	return r;
}

int shm_segment_open(const char *name, struct shm_segment *ret_seg)
{
	char path[SHM_NAME_MAX + 2];
	struct stat st;
	void *base;
	int fd, r;

	r = make_path(name, path, sizeof(path));
	if (r < 0)
		return r;
	if (ret_seg == NULL)
		return -EINVAL;
	fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	if (st.st_size <= 0) {
		r = -ENODATA;
		goto fail;
	}
	base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		r = -errno;
		goto fail;
	}
	ret_seg->base = base;
	ret_seg->bytes = (size_t)st.st_size;
	ret_seg->fd = fd;
	return 0;

fail:
	(void)close(fd);
	return r;
}

void shm_segment_close(struct shm_segment *seg)
{
	if (seg == NULL)
		return;
	if (seg->base == NULL)
		return; /* zeroed or already closed: base and fd are set together */
	(void)munmap(seg->base, seg->bytes);
	(void)close(seg->fd);
	seg->base = NULL;
	seg->bytes = 0;
	seg->fd = -1;
}

int shm_segment_unlink(const char *name)
{
	char path[SHM_NAME_MAX + 2];
	int r = make_path(name, path, sizeof(path));

	if (r < 0)
		return r;
	if (shm_unlink(path) < 0)
		return -errno;
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * core/identity.c: who a process is. A pid alone is recycled by the kernel; pid plus the
 * process start time (field 22 of /proc/<pid>/stat, clock ticks since boot) names one
 * process for the life of the machine, and is what member slots record.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/domain_impl.h"
#include "shm/pf_assert.h"

int identity_stat(int pid, uint64_t *ret_start_time, char *ret_state)
{
	char path[64], buf[1024], *p, *end;
	unsigned long long v;
	ssize_t n;
	int fd, field;

	PF_ASSERT(ret_start_time != NULL);
	if (pid <= 0)
		return -ESRCH;
	(void)snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	(void)close(fd);
	if (n <= 0)
		return -ESRCH;
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: fields start after the last ')'. */
	p = strrchr(buf, ')');
	if (p == NULL || p[1] != ' ')
		return -ESRCH;
	if (ret_state != NULL)
		*ret_state = p[2]; /* field 3 */
	p++;
	/* From the space before field 3, walk to the space before field 22 (starttime). */
	for (field = 3; field < 22 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL)
		return -ESRCH;
	errno = 0;
	v = strtoull(p + 1, &end, 10);
	if (errno != 0 || end == p + 1)
		return -ESRCH;
	*ret_start_time = v;
	return 0;
}

int identity_start_time(int pid, uint64_t *ret_start_time)
{
	return identity_stat(pid, ret_start_time, NULL);
}

int identity_gone(int pid, uint64_t start_time)
{
	uint64_t now_start;
	char state = 0;

	if (pid <= 0)
		return 0; /* not known yet: nothing to judge */
	if (identity_stat(pid, &now_start, &state) == -ESRCH)
		return 1;
	/* A zombie has already released everything the domain cares about. */
	if (state == 'Z' || state == 'X')
		return 1;
	return start_time != 0 && now_start != start_time; /* the pid was recycled */
}

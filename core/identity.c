/* SPDX-License-Identifier: MIT */
/*
 * core/identity.c: who a process is. A pid alone is recycled by the kernel; pid plus the
 * process start time (field 22 of /proc/<pid>/stat, clock ticks since boot) names one
 * process for the life of the machine, and is what member slots record.
 *
 * A member is a process that maps the domain's segment: a pid and start time read from the
 * segment are only a claim (both are public in /proc), so before a process is treated as
 * a member in a way that can harm it, identity_is_member() checks the claim against the
 * kernel: its uid and its mapping of the segment.
 *
 * Gone means the whole process: every one of its threads has exited. A reclaim gives a
 * gone member's checkpoint buffers to other writers (core/checkpoint.c), so a process
 * any thread of which may still write them must never read as gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/domain_impl.h"
#include "shm/pf_assert.h"

/* The first cap - 1 bytes of /proc/<pid>/<file> in buf, NUL-terminated: their count, -ESRCH
 * when the process is gone (no such entry, or nothing to read), or another -errno. */
static ssize_t proc_read(int pid, const char *file, char *buf, size_t cap)
{
	char path[64];
	ssize_t n;
	int fd, err;

	PF_ASSERT(buf != NULL && cap > 1);
	(void)snprintf(path, sizeof(path), "/proc/%d/%s", pid, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ESRCH ? -ESRCH : -errno;
	n = read(fd, buf, cap - 1);
	err = errno;
	(void)close(fd);
	if (n < 0)
		return err == ESRCH ? -ESRCH : -err;
	if (n == 0)
		return -ESRCH;
	buf[n] = '\0';
	return n;
}

/* identity_stat() of /proc/<pid>/<file>, a stat file of the process or of one thread. */
static int stat_file(int pid, const char *file, uint64_t *ret_start_time, char *ret_state)
{
	char buf[1024], *p, *end;
	unsigned long long v;
	ssize_t n;
	int field;

	PF_ASSERT(ret_start_time != NULL);
	if (pid <= 0)
		return -ESRCH;
	n = proc_read(pid, file, buf, sizeof(buf));
	if (n < 0)
		return (int)n;
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

int identity_stat(int pid, uint64_t *ret_start_time, char *ret_state)
{
	return stat_file(pid, "stat", ret_start_time, ret_state);
}

int identity_thread_cpu(int pid, uint32_t tid, uint64_t *ret_run_ns, char *ret_state)
{
	char file[48], buf[128];
	unsigned long long run;
	uint64_t start;
	int r;

	if (pid <= 0 || tid == 0)
		return -ESRCH;
	(void)snprintf(file, sizeof(file), "task/%u/schedstat", tid);
	r = (int)proc_read(pid, file, buf, sizeof(buf));
	if (r < 0)
		return r;
	if (sscanf(buf, "%llu", &run) != 1)
		return -ESRCH;
	(void)snprintf(file, sizeof(file), "task/%u/stat", tid);
	r = stat_file(pid, file, &start, ret_state);
	if (r == 0)
		*ret_run_ns = run;
	return r;
}

int identity_start_time(int pid, uint64_t *ret_start_time)
{
	return identity_stat(pid, ret_start_time, NULL);
}

/* Threads of process pid that have not exited (the "Threads:" line of /proc/<pid>/status):
 * 0 when the process is gone, UINT32_MAX when it cannot be told (count it alive). */
static uint32_t identity_threads(int pid)
{
	char buf[2048], *p;
	unsigned long v;
	ssize_t n = proc_read(pid, "status", buf, sizeof(buf));

	if (n < 0)
		return n == -ESRCH ? 0 : UINT32_MAX;
	p = strstr(buf, "\nThreads:");
	if (p == NULL)
		return UINT32_MAX;
	errno = 0;
	v = strtoul(p + strlen("\nThreads:"), NULL, 10);
	return errno != 0 || v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

int identity_gone(int pid, uint64_t start_time)
{
	uint64_t now_start;
	char state = 0;

	if (pid <= 0)
		return 0; /* not known yet: nothing to judge */
	if (identity_stat(pid, &now_start, &state) == -ESRCH)
		return 1;
	if (start_time != 0 && now_start != start_time)
		return 1; /* the pid was recycled */
	if (state == 'X')
		return 1;
	/* 'Z' is the state of the thread-group leader, not of the process: a leader that
	 * called pthread_exit() is a zombie while its other threads run and may still write
	 * the domain. Gone only when no thread is left but the zombie leader itself. (Had the
	 * pid been reaped and reused since the stat, a new process with several threads
	 * only delays the verdict to the next look, which sees its start time.) */
	if (state == 'Z')
		return identity_threads(pid) <= 1;
	return 0;
}

/* The effective uid of process pid (second field of the "Uid:" line of its status). */
static int identity_euid(int pid, uint32_t *ret_uid)
{
	char buf[2048], *p, *end;
	unsigned long real, eff;
	ssize_t n = proc_read(pid, "status", buf, sizeof(buf));

	if (n < 0)
		return (int)n;
	p = strstr(buf, "\nUid:");
	if (p == NULL)
		return -EPROTO;
	errno = 0;
	real = strtoul(p + strlen("\nUid:"), &end, 10);
	eff = strtoul(end, &p, 10);
	if (errno != 0 || p == end || real > UINT32_MAX || eff > UINT32_MAX)
		return -EPROTO;
	*ret_uid = (uint32_t)eff;
	return 0;
}

/* One line of /proc/<pid>/maps: "start-end perms offset major:minor inode path". 1 when
 * it maps (dev, ino). */
static int maps_line_names(const char *line, uint64_t dev, uint64_t ino)
{
	unsigned int maj, min;
	unsigned long long inode;

	if (sscanf(line, "%*s %*s %*s %x:%x %llu", &maj, &min, &inode) != 3)
		return 0;
	return inode == ino && maj == major((dev_t)dev) && min == minor((dev_t)dev);
}

/* Where process pid maps the file (dev, ino) from its start (file offset 0): up to max
 * addresses into bases. The count, or -errno. */
static int maps_bases(int pid, uint64_t dev, uint64_t ino, uint64_t *bases, int max)
{
	char path[64], *line = NULL;
	size_t cap = 0;
	int n = 0;
	FILE *f;

	(void)snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (f == NULL)
		return errno == ENOENT ? -ESRCH : -errno;
	while (n < max && getline(&line, &cap, f) > 0) {
		unsigned long long start, end, off;

		if (maps_line_names(line, dev, ino) &&
		    sscanf(line, "%llx-%llx %*s %llx", &start, &end, &off) == 3 && off == 0)
			bases[n++] = start;
	}
	n = ferror(f) ? -EIO : n;
	free(line);
	(void)fclose(f);
	return n;
}

int identity_is_member(int pid, uint32_t uid, uint64_t dev, uint64_t ino)
{
	uint64_t base;
	uint32_t euid;
	int r;

	if (pid <= 0)
		return 0;
	r = identity_euid(pid, &euid);
	if (r < 0)
		return r;
	if (euid != uid)
		return 0;
	r = maps_bases(pid, dev, ino, &base, 1);
	return r < 0 ? r : r > 0;
}

/* Read len bytes at addr of process pid's memory. 0, or -errno. */
static int remote_read(int pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = {.iov_base = buf, .iov_len = len};
	struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = len};
	ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EIO;
}

int identity_holds_futex(int pid, int tid, uint64_t dev, uint64_t ino, uint64_t futex_off)
{
	struct robust_list_head head;
	uint64_t bases[8];
	char path[64];
	struct stat st;
	void *remote = NULL;
	size_t len = 0;
	int n, r;

	if (pid <= 0 || tid <= 0)
		return 0;
	if (syscall(SYS_get_robust_list, tid, &remote, &len) < 0)
		return errno == ESRCH ? 0 : -errno;
	/* tid is a claim too: after the kernel's answer about it, it must be a thread of the
	 * pinned pid (a tid that was another process's thread was not asked about pid). */
	(void)snprintf(path, sizeof(path), "/proc/%d/task/%d", pid, tid);
	if (stat(path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (remote == NULL || len != sizeof(head))
		return 0;
	r = remote_read(pid, (uint64_t)(uintptr_t)remote, &head, sizeof(head));
	if (r < 0)
		return r;
	n = maps_bases(pid, dev, ino, bases, (int)PF_ARRAY_SIZE(bases));
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		uint64_t node = bases[i] + futex_off - (uint64_t)head.futex_offset;

		/* The head and the pending pointer are in the thread's own memory (glibc keeps
		 * the head in its thread block), which no other process writes; a node linked
		 * behind another robust mutex would be reached through that mutex's memory,
		 * which may be shared, so only these two count. */
		if ((uint64_t)(uintptr_t)head.list.next == node ||
		    (uint64_t)(uintptr_t)head.list_op_pending == node)
			return 1;
	}
	return 0;
}

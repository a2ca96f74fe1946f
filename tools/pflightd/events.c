/* SPDX-License-Identifier: MIT */
/* tools/pflightd/events.c: the audit log followed as it grows (events.h). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "shm/pf_assert.h"
#include "tools/pflightd/events.h"

#define READ_CHUNK 65536u

static int poll_bytes(struct events *e, size_t budget);

int events_init(struct events *e, const char *path)
{
	int n;

	PF_ASSERT(e != NULL && path != NULL);
	memset(e, 0, sizeof(*e));
	e->fd = -1;
	n = snprintf(e->path, sizeof(e->path), "%s", path);
	if (n < 0 || (size_t)n >= sizeof(e->path))
		return -ENAMETOOLONG;
	e->partial = malloc(PF_AUDIT_LINE_MAX);
	if (e->partial == NULL)
		return -ENOMEM;
	/* The whole tail at once: the ring starts as the log's newest records. */
	(void)poll_bytes(e, EVENTS_BYTES_MAX + EVENTS_READ_MAX);
	return 0;
}

void events_fini(struct events *e)
{
	for (uint32_t i = 0; i < e->count; i++)
		free(e->ring[(e->head + i) % EVENTS_MAX].line);
	e->count = 0;
	e->bytes = 0;
	free(e->partial);
	e->partial = NULL;
	if (e->fd >= 0)
		(void)close(e->fd);
	e->fd = -1;
}

static void drop_oldest(struct events *e)
{
	struct event *old = &e->ring[e->head];

	PF_ASSERT(e->count > 0 && e->bytes >= old->len);
	e->bytes -= old->len;
	free(old->line);
	old->line = NULL;
	e->head = (e->head + 1) % EVENTS_MAX;
	e->count--;
}

int events_push_line(struct events *e, const char *line, size_t len)
{
	json_t *rec = json_loadb(line, len, 0, NULL);
	json_t *seq = json_object_get(rec, "seq");
	const char *name = json_string_value(json_object_get(rec, "event"));
	struct event *ev;

	PF_ASSERT(e != NULL && line != NULL);
	if (!json_is_integer(seq) || json_integer_value(seq) <= 0 || name == NULL ||
	    strlen(name) > PF_AUDIT_EVENT_MAX ||
	    (e->count > 0 && (uint64_t)json_integer_value(seq) <= events_last(e))) {
		json_decref(rec);
		e->skipped++;
		return 0;
	}
	while (e->count == EVENTS_MAX || (e->count > 0 && e->bytes + len > EVENTS_BYTES_MAX))
		drop_oldest(e);
	ev = &e->ring[(e->head + e->count) % EVENTS_MAX];
	ev->line = malloc(len + 1);
	if (ev->line == NULL) {
		json_decref(rec);
		e->skipped++;
		return 0;
	}
	memcpy(ev->line, line, len);
	ev->line[len] = '\0';
	ev->len = len;
	ev->seq = (uint64_t)json_integer_value(seq);
	(void)snprintf(ev->name, sizeof(ev->name), "%s", name);
	json_decref(rec);
	e->bytes += len;
	e->count++;
	return 1;
}

/* Split buf[0..len) into lines, the first completing e->partial; keep the unfinished
 * tail in e->partial. Returns records added. */
static int take_bytes(struct events *e, const char *buf, size_t len)
{
	int added = 0;

	for (size_t at = 0; at < len;) {
		const char *nl = memchr(buf + at, '\n', len - at);
		size_t n = nl != NULL ? (size_t)(nl - (buf + at)) : len - at;

		if (e->partial_len + n > PF_AUDIT_LINE_MAX) {
			e->partial_len = PF_AUDIT_LINE_MAX; /* too long to be a record: skip it */
			n = 0;
		} else {
			memcpy(e->partial + e->partial_len, buf + at, n);
			e->partial_len += n;
		}
		if (nl == NULL)
			break;
		if (e->partial_len < PF_AUDIT_LINE_MAX)
			added += events_push_line(e, e->partial, e->partial_len);
		else
			e->skipped++;
		e->partial_len = 0;
		at = (size_t)(nl - buf) + 1;
	}
	return added;
}

/* Read fd to its end (at most budget bytes). Returns records added. */
static int read_fd(struct events *e, size_t *budget)
{
	char buf[READ_CHUNK];
	int added = 0;

	while (*budget > 0) {
		ssize_t n = read(e->fd, buf, *budget < sizeof(buf) ? *budget : sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		*budget -= (size_t)n;
		added += take_bytes(e, buf, (size_t)n);
	}
	return added;
}

/* Where the last EVENTS_MAX whole lines of fd (size bytes) start, looking back at most
 * EVENTS_BYTES_MAX bytes (the ring keeps no more). *ret_mid: it may be inside a line. */
static off_t tail_start(int fd, off_t size, int *ret_mid)
{
	off_t lowest = size > (off_t)EVENTS_BYTES_MAX ? size - (off_t)EVENTS_BYTES_MAX : 0;
	off_t end = size;
	uint32_t lines = 0;
	char buf[READ_CHUNK];

	while (end > lowest) {
		size_t n = end - lowest < (off_t)sizeof(buf) ? (size_t)(end - lowest) : sizeof(buf);
		off_t at = end - (off_t)n;

		if (pread(fd, buf, n, at) != (ssize_t)n)
			break;
		/* The newline ending the line before the EVENTS_MAX-th last whole one (a
		 * line still being written has none yet, and does not count). */
		for (size_t i = n; i > 0; i--) {
			if (buf[i - 1] == '\n' && ++lines == EVENTS_MAX + 1) {
				*ret_mid = 0;
				return at + (off_t)i;
			}
		}
		end = at;
	}
	*ret_mid = end > 0;
	return end;
}

/* Open the file at the path; at the first open, start at its last EVENTS_MAX lines (a
 * partial first line dropped). 0 or -errno. */
static int open_log(struct events *e, int first)
{
	struct stat st;
	int fd = open(e->path, O_RDONLY | O_CLOEXEC | O_NOCTTY), mid = 0;
	off_t start;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int r = -errno;

		(void)close(fd);
		return r;
	}
	e->fd = fd;
	e->ino = st.st_ino;
	e->dev = st.st_dev;
	e->partial_len = 0;
	start = first ? tail_start(fd, st.st_size, &mid) : 0;
	if (start > 0 && lseek(fd, start, SEEK_SET) >= 0 && mid)
		e->partial_len = PF_AUDIT_LINE_MAX; /* mid-line: skip to the next newline */
	return 0;
}

/* 1 when the path now names another file than the one open. */
static int rotated(const struct events *e)
{
	struct stat st;

	return stat(e->path, &st) == 0 && (st.st_ino != e->ino || st.st_dev != e->dev);
}

static int poll_bytes(struct events *e, size_t budget)
{
	int added = 0;

	PF_ASSERT(e != NULL && e->partial != NULL);
	if (e->fd < 0 && open_log(e, e->count == 0 && e->skipped == 0) < 0)
		return 0;
	added += read_fd(e, &budget);
	if (budget > 0 && rotated(e)) {
		added += read_fd(e, &budget); /* renamed after its last write: drain it */
		(void)close(e->fd);
		e->fd = -1;
		if (open_log(e, 0) == 0)
			added += read_fd(e, &budget);
	}
	return added;
}

int events_poll(struct events *e)
{
	return poll_bytes(e, EVENTS_READ_MAX);
}

uint64_t events_last(const struct events *e)
{
	return e->count == 0 ? 0 : e->ring[(e->head + e->count - 1) % EVENTS_MAX].seq;
}

const struct event *events_at(const struct events *e, uint32_t index)
{
	PF_ASSERT(index < e->count);
	return &e->ring[(e->head + index) % EVENTS_MAX];
}

const struct event *events_next(const struct events *e, uint64_t after, uint64_t *ret_lost)
{
	uint32_t lo = 0, hi = e->count;
	const struct event *ev;

	/* The first held record with seq > after: seqs grow along the ring. */
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (e->ring[(e->head + mid) % EVENTS_MAX].seq <= after)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == e->count)
		return NULL;
	ev = &e->ring[(e->head + lo) % EVENTS_MAX];
	if (ret_lost != NULL)
		*ret_lost = lo == 0 && ev->seq > after + 1 ? ev->seq - after - 1 : 0;
	return ev;
}

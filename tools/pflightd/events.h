/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/events.h: the recent audit records, for the REST API's event stream
 * (GET /api/v1/events) and its tail (GET /api/v1/audit).
 *
 * Every change the API streams (joins, leaves, deaths, placements, ownership moves, drain
 * steps, admissions, migrations) is already an audit record, so the stream is the audit
 * log itself, followed as it grows: the HTTP thread reads the new complete lines of the
 * live file at each pass and keeps the newest EVENTS_MAX (at most EVENTS_BYTES_MAX bytes)
 * in a ring, by sequence number. Reading the file rather than being handed records keeps
 * the auditor the log's only writer and untouched (nothing to lock, nothing it could wait
 * on), streams exactly the records as stored (hash and time included), and lets a client
 * resume after a daemon restart: the ring starts with the file's last EVENTS_MAX records
 * (as many as fit EVENTS_BYTES_MAX), so it always holds the log's newest records and the
 * tail is answered from it, never read back from the file per request.
 *
 * Rotation: when the path names another file than the one open, the open one is read to
 * its end (the log renames it only after its last write) and the new one is followed from
 * its start. A line that does not parse, or carries no seq, is skipped and counted.
 *
 * One thread only (the HTTP agent's); no locks.
 */
#ifndef PFLIGHTD_EVENTS_H
#define PFLIGHTD_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pflight/audit.h"

#define EVENTS_MAX 1024u            /* records kept: a burst of placements fits */
#define EVENTS_BYTES_MAX (4u << 20) /* and at most this many bytes of them */
#define EVENTS_READ_MAX (1u << 20)  /* bytes read per poll: bounded work */

struct event {
	uint64_t seq;
	char name[PF_AUDIT_EVENT_MAX + 1]; /* the record's event */
	char *line;                        /* the record as stored, without the newline */
	size_t len;
};

struct events {
	char path[PF_AUDIT_PATH_MAX];
	int fd; /* -1: not open (no file yet) */
	ino_t ino;
	dev_t dev;
	char *partial; /* bytes of a line not yet complete, PF_AUDIT_LINE_MAX at most */
	size_t partial_len;
	struct event ring[EVENTS_MAX];
	uint32_t head;  /* index of the oldest */
	uint32_t count; /* records held */
	size_t bytes;   /* of the lines held */
	uint64_t skipped;
};

/* Follow the log at path, starting with its last EVENTS_MAX records, read whole now (a
 * missing file is followed once it appears). 0, -ENAMETOOLONG, -ENOMEM. */
int events_init(struct events *e, const char *path);
void events_fini(struct events *e);

/* Read what was appended since the last call (at most EVENTS_READ_MAX bytes). Returns
 * the records added (>= 0). */
int events_poll(struct events *e);

/* The newest seq held, 0 when none. */
uint64_t events_last(const struct events *e);

/* The record `index` places after the oldest held (index < e->count). */
const struct event *events_at(const struct events *e, uint32_t index);

/*
 * The oldest record held with a seq above `after`, or NULL. *ret_lost (may be NULL) is
 * how many seqs between `after` and it are gone from the ring (records the ring dropped
 * before the reader took them): 0 when it follows directly.
 */
const struct event *events_next(const struct events *e, uint64_t after, uint64_t *ret_lost);

/* Add one line (the record as stored, no newline). 1 added, 0 skipped (not a record). */
int events_push_line(struct events *e, const char *line, size_t len);

#endif /* PFLIGHTD_EVENTS_H */

/* SPDX-License-Identifier: MIT */
/*
 * tools/pflightd/watch.h: the ownership watcher, the auditor's record of every VNode
 * ownership change that no placement explains (design note at the top of watch.c).
 *
 * Single-threaded: a watch is used by the thread that runs the auditor agent only (and by
 * the main thread before the runner starts and after it stopped). Public API only
 * (pf_vnode_info, pf_member_info, pf_domain_membership), like the rest of the daemon.
 */
#ifndef PFLIGHTD_WATCH_H
#define PFLIGHTD_WATCH_H

#include <stdint.h>

#include "pflight/pflight.h"

/* VNodes read per pass at most. One pf_vnode_info costs 55-60 ns at the domain maximum
 * (bench_watch, release build: the table does not fit in the caches), so a chunk takes
 * about 0.12 ms: commands and explanations never wait longer than that behind a scan. */
#define WATCH_BUDGET 2048u
/* At most one chunk every 4 ms: scanning takes at most ~3% of a core whatever the size
 * (0.12 ms in 4), and a full sweep of 1,048,576 VNodes (512 chunks) about 2 s. */
#define WATCH_CHUNK_NS 4000000u
/* A new sweep starts at most every 10 ms: a domain of up to WATCH_BUDGET VNodes (one
 * chunk) is swept 100 times a second, which costs nothing, so its changes show up within
 * about 10 ms; an idle daemon parks between sweeps instead of spinning. */
#define WATCH_SWEEP_NS 10000000u
/* A VNode seen newly owned may have been placed by a scheduler whose explanation is not
 * written yet (the ownership CAS comes first): wait this long for it before recording a
 * claim. Several scheduler time slices on a loaded two-core machine; it only delays the
 * claim record, never loses it. */
#define WATCH_SETTLE_NS 50000000u
/* Observations waiting to settle. A burst larger than this (a worker claiming thousands
 * at once) is not lost: what does not fit is looked at again at the next sweep. */
#define WATCH_DEFER_MAX 16384u

#define WATCH_NO_SLOT 0xffffu

/* One change of a VNode, as the watcher records it: the details of a record about it alone,
 * and `shared`, what it has in common with other changes recorded alike (the details of a
 * batch record naming them all, the epochs being the ranges' values). */
struct watch_rec {
	const char *event;
	uint32_t vnode;
	uint32_t epoch;      /* the epoch it reaches */
	const char *details; /* a JSON object: about this VNode alone */
	const char *shared;  /* a JSON object: what changes alike share */
};

/* Record one change in the VNode's lineage. 0, or a negative errno (not recorded: the
 * watcher tries again later). */
typedef int (*watch_record_fn)(void *arg, const struct watch_rec *rec);

/* What the log last knew of one VNode: its state, owner and epoch when the watcher last
 * recorded it (or took it as seen at start). 12 bytes: 12 MiB at the domain maximum. */
struct watch_vnode {
	uint32_t epoch;
	uint16_t slot; /* owner slot, WATCH_NO_SLOT when not owned */
	uint16_t gen;  /* owner generation, low 16 bits (as the ownership word holds it) */
	uint8_t state; /* enum pf_vnode_state */
	uint8_t flags; /* WATCH_F_* (watch.c) */
	uint16_t reserved0;
};

/* What the watcher remembers of one member slot, to say why an owner let go. */
struct watch_member {
	uint32_t gen;    /* generation last seen in the slot */
	uint8_t drained; /* that generation was seen DRAINING or RETIRED */
	uint8_t died;    /* that generation was seen DEAD */
	uint16_t reserved0;
};

/* An ownership state seen by a scan and not recorded yet. */
struct watch_obs {
	uint64_t due_ns; /* record it from then on (deferred observations only) */
	uint32_t vnode;  /* UINT32_MAX: consumed early */
	uint32_t epoch;
	uint16_t slot;
	uint16_t gen;
	uint8_t state;
	uint8_t reserved0[3];
};

struct watch {
	struct pf_domain *domain;
	watch_record_fn record;
	void *arg;
	uint32_t vnodes_max;
	uint32_t members_max;
	struct watch_vnode *v;  /* [vnodes_max] */
	struct watch_member *m; /* [members_max] */
	struct watch_obs *q;    /* [WATCH_DEFER_MAX], a FIFO: due times only grow */
	uint32_t q_head;
	uint32_t q_count;
	uint32_t cursor;  /* next VNode a scan reads */
	uint32_t version; /* membership version of the member memory */
	/* Pacing, from the constants above; tests may change them after watch_init(). */
	uint32_t budget;
	uint32_t reserved0;
	uint64_t chunk_ns;
	uint64_t sweep_ns;
	uint64_t settle_ns;
	uint64_t next_chunk_ns;
	uint64_t next_sweep_ns;
	/* Found at start (taken as seen, not recorded). */
	uint32_t defined_at_start;
	uint32_t owned_at_start;
	/* Statistics. */
	uint64_t records;         /* records appended about ownership changes */
	uint64_t epochs_unseen;   /* changes counted in `skipped`: happened between two looks */
	uint64_t sweeps;          /* sweeps started */
	uint64_t scanned;         /* VNodes read by scans */
	uint64_t deferred;        /* observations that waited to settle */
	uint64_t defer_full;      /* ... and that did not fit (looked at again later) */
	uint64_t placements_late; /* explanations read after their epoch was recorded */
	uint64_t anomalies;       /* epochs that went back, or owners changed without one */
	uint64_t read_errors;     /* pf_vnode_info refused a record */
};

/* What watch_placement() decided for a placement explanation. */
enum watch_place {
	WATCH_PLACE_LINK = 0,  /* record it in the VNode's lineage, then call watch_placed() */
	WATCH_PLACE_LATE = 1,  /* the lineage is past its epoch: record it outside the lineage */
	WATCH_PLACE_KNOWN = 2, /* made before start and part of the state taken as seen: skip */
};

/* Take every VNode's and member's current state as seen (nothing is recorded). 0,
 * -EINVAL, -ENOMEM, or pf_domain_info's errno. */
int watch_init(struct watch *w, struct pf_domain *domain, watch_record_fn record, void *arg);
void watch_fini(struct watch *w);

/* One paced pass: member memory when the membership moved, settled observations, and a
 * chunk of the sweep when one is due. Returns the records appended. */
int watch_pass(struct watch *w, uint64_t now_ns);

/* Read `count` VNodes from the cursor on (wrapping) and record what changed; claims are
 * deferred until settled. Returns the records appended. */
int watch_scan(struct watch *w, uint32_t count, uint64_t now_ns);

/* Before recording a placement of `vnode` at `epoch`: records what led to it (a deferred
 * observation, the release before it) and says how to record it; *ret_skipped (LINK only)
 * is the number of changes between the lineage's last record and it. */
enum watch_place watch_placement(struct watch *w, uint32_t vnode, uint64_t epoch,
				 uint32_t *ret_skipped);

/* The placement was recorded in the lineage: its epoch is the lineage's last. */
void watch_placed(struct watch *w, uint32_t vnode, uint32_t slot, uint32_t gen, uint64_t epoch);

/* Stopping: record every deferred observation and sweep the whole table once without
 * deferring (no scheduler of ours runs any more). Returns the records appended. */
int watch_final(struct watch *w, uint64_t now_ns);

#endif /* PFLIGHTD_WATCH_H */

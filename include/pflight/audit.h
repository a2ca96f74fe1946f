/* SPDX-License-Identifier: MIT */
/*
 * pflight/audit.h: the tamper-evident audit log.
 *
 * An append-only file of JSON lines, one record per line, each carrying the BLAKE2b-256
 * hash of the record before it (the chain) and, for records about a VNode, the hash of
 * that VNode's previous record (its lineage). Every sign_every records, at rotation and at
 * close, a `head` record carries an Ed25519 signature over the hash of the record before
 * it, so an edit, deletion or reordering anywhere before a signed head is detected by
 * pf_audit_verify(). Record format, canonical form, what verification proves and what it
 * cannot, the fsync policies and rotation: see the design note at the top of
 * ctl/audit.c.
 *
 * One writer per log: pf_audit_open() takes an exclusive flock(2) on the file. A handle
 * may be shared by the threads of that process (appends are serialised inside).
 *
 * The writer's files (the live log, its rotated files, the secret key, a daemon's token
 * files through pf_audit_file_open()) follow one rule, so that nobody else can plant,
 * swap or read them:
 *   - the last component is never followed: a symbolic link, dangling or not, is refused
 *     (-ELOOP), and a new file is created where the name is, never at a link's target;
 *   - the file, checked with fstat(2) on the open descriptor, is a regular file with one
 *     link, owned by this process's effective uid or by root, not writable by group or
 *     others; a secret (a key, a token) not readable by them either (-EPERM);
 *   - its directory is owned by this process's effective uid or by root and is not
 *     writable by group or others, unless it has the sticky bit and this uid owns it
 *     (-EPERM): a directory others may write to lets them plant the file before it exists.
 * Each refusal names the file or directory and says why in a struct pf_audit_refusal.
 * Readers (pf_audit_verify(), pf_audit_lineage(), pf_audit_pubkey_load()) do not apply
 * it: any user may check a copy of a log wherever it lies.
 */
#ifndef PFLIGHT_AUDIT_H
#define PFLIGHT_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "pflight/common.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PF_AUDIT_PUBLIC_KEY_BYTES 32u /* Ed25519 public key */
#define PF_AUDIT_SECRET_KEY_BYTES 64u /* Ed25519 secret key (libsodium layout: seed, pk) */
#define PF_AUDIT_HASH_BYTES 32u       /* BLAKE2b-256 */
#define PF_AUDIT_EVENT_MAX 32u        /* bytes of an event name */
#define PF_AUDIT_HOST_MAX 64u         /* bytes of a host name */
#define PF_AUDIT_SUBJECT_MAX 256u     /* bytes of a subject */
#define PF_AUDIT_DETAILS_MAX 16384u   /* bytes of the details JSON text given to append */
#define PF_AUDIT_LINE_MAX 65536u      /* bytes of one record line, newline included */
#define PF_AUDIT_PATH_MAX 4096u       /* bytes of a log path */
#define PF_AUDIT_SIGN_EVERY_DEFAULT 1024u
#define PF_AUDIT_NO_VNODE UINT32_MAX /* append(): the record is about no VNode */
/* Records whose place in the files a handle keeps for pf_audit_lineage_tail(), the newest
 * ones (pf_audit_opts.index_records, 0: this): 8 bytes each, so at most 32 MiB, allocated as
 * the log grows (over 1 GB of records). */
#define PF_AUDIT_INDEX_RECORDS_DEFAULT (UINT64_C(1) << 22)
#define PF_AUDIT_INDEX_RECORDS_MAX (UINT64_C(1) << 28)
#define PF_AUDIT_LINEAGE_TAIL_MAX 4096u  /* records one pf_audit_lineage_tail() may ask for */
#define PF_AUDIT_BATCH_VNODES_MAX 65536u /* VNodes one pf_audit_append_batch() record names */
#define PF_AUDIT_BATCH_RANGES_MAX 4096u  /* ranges one pf_audit_append_batch() is given */

/* When appended records reach the disk (fdatasync). Guarantees: see ctl/audit.c. */
enum pf_audit_fsync {
	PF_AUDIT_FSYNC_RECORD = 0, /* before every append returns */
	PF_AUDIT_FSYNC_BATCH = 1,  /* every fsync_every records or fsync_interval_ms */
	PF_AUDIT_FSYNC_HEAD = 2,   /* only with each signed head, rotation and close */
};

/* pf_audit_file_open() flags */
#define PF_AUDIT_FILE_SECRET 0x1u /* a key or a token: group and others may not read it */

/* Why a file was refused: pf_audit_open(), pf_audit_key_load(), pf_audit_key_save() and
 * pf_audit_file_open() fill it (when not NULL) whenever they fail. */
struct pf_audit_refusal {
	uint32_t size;                /* set by the caller: sizeof(*refusal) */
	uint32_t reserved0;           /* 0 */
	uint64_t offset;              /* pf_audit_open(), -EBADMSG and -EPROTO: the bad line */
	char path[PF_AUDIT_PATH_MAX]; /* the file or directory refused */
	char reason[192];             /* one line: why, without the path */
};

/* pf_audit_opts.flags */
#define PF_AUDIT_REPAIR_TORN 0x1u /* open(): truncate a torn last line, record that */

struct pf_audit_opts {
	uint32_t size;                   /* sizeof(struct pf_audit_opts) */
	uint32_t flags;                  /* PF_AUDIT_REPAIR_TORN */
	const char *host;                /* NULL: gethostname() */
	const unsigned char *secret_key; /* PF_AUDIT_SECRET_KEY_BYTES, or NULL: no heads */
	uint32_t sign_every;             /* records between signed heads, 0: default */
	uint32_t fsync_policy;           /* enum pf_audit_fsync */
	uint32_t fsync_every;            /* PF_AUDIT_FSYNC_BATCH: records, 0: 1024 */
	uint32_t fsync_interval_ms;      /* PF_AUDIT_FSYNC_BATCH: age, 0: 100 ms */
	uint64_t rotate_bytes;           /* rotate once the file reaches this size, 0: never */
	uint64_t index_records;          /* lineage index (PF_AUDIT_INDEX_RECORDS_DEFAULT), 0:
					  * default; rounded up to a power of two, at most
					  * PF_AUDIT_INDEX_RECORDS_MAX */
	uint64_t retain_bytes;           /* retention: drop the oldest rotated files while the
					  * set is larger, 0: keep all (see below) */
	uint64_t retain_age_s;           /* retention: drop rotated files written to last this
					  * many seconds ago or more, 0: keep all */
	uint64_t reserved[1];
};

/* What pf_audit_verify() found wrong first (pf_audit_report.fault). */
enum pf_audit_fault {
	PF_AUDIT_FAULT_NONE = 0,
	PF_AUDIT_FAULT_MALFORMED = 1,  /* a complete line that is not a well-formed record, or
					* any line over PF_AUDIT_LINE_MAX (bad_seq 0) */
	PF_AUDIT_FAULT_EDITED = 2,     /* the record's hash or canonical form does not match */
	PF_AUDIT_FAULT_SEQ_GAP = 3,    /* seq jumps ahead: records deleted or moved */
	PF_AUDIT_FAULT_SEQ_BACK = 4,   /* seq goes back or repeats: reordered or duplicated */
	PF_AUDIT_FAULT_PREV = 5,       /* prev is not the previous record's hash */
	PF_AUDIT_FAULT_VNODE_PREV = 6, /* vnode_prev is not that VNode's previous record */
	PF_AUDIT_FAULT_SIGNATURE = 7,  /* a head's signature or covered hash is wrong */
	PF_AUDIT_FAULT_KEY = 8,        /* a head signed by another key than the one given */
	PF_AUDIT_FAULT_TORN = 9,       /* the last line lacks its newline or does not parse */
	PF_AUDIT_FAULT_UNSIGNED = 10,  /* a key was given but no head signs any record */
};

struct pf_audit_report {
	uint32_t size;          /* set by the caller: sizeof(struct pf_audit_report) */
	uint32_t fault;         /* enum pf_audit_fault; PF_AUDIT_FAULT_NONE when intact */
	uint64_t files;         /* files walked (rotated ones, then the live one) */
	uint64_t records;       /* good records, heads included */
	uint64_t heads;         /* good signed heads */
	uint64_t first_seq;     /* first record walked (0: none) */
	uint64_t last_seq;      /* last good record */
	uint64_t unsigned_tail; /* good records after the last signed head */
	uint32_t anchored;      /* 1: the walk began past seq 1, earlier history unchecked */
	uint32_t key_given;     /* 1: heads were checked against the caller's public key */
	uint64_t bad_seq;       /* fault: the seq the broken record carries (0: unreadable) */
	uint64_t expected_seq;  /* fault: the seq expected at that place */
	uint64_t bad_line;      /* fault: 1-based line in bad_file */
	uint64_t bad_offset;    /* fault: byte offset of that line in bad_file */
	char bad_file[PF_AUDIT_PATH_MAX];
	char reason[160]; /* fault: one line of explanation */
	/* Retention: the log states (a `retention` record) that records 1..dropped_seq were
	 * removed, and the walk begins right after them, its first record linking to the last
	 * one removed: anchored, and explained. 0: no such statement matches the walk. */
	uint64_t dropped_seq;
	uint64_t dropped_stated_seq; /* the `retention` record that says so */
};

/* How far pf_audit_verify_watch() is. */
struct pf_audit_progress {
	uint32_t size; /* sizeof(struct pf_audit_progress) */
	uint32_t reserved0;
	uint64_t files;       /* files begun */
	uint64_t files_total; /* files of the set when the walk began */
	uint64_t records;     /* records checked */
	uint64_t bytes;       /* bytes checked, all files together */
	uint64_t bytes_total; /* the files' sizes when the walk began (the live one may grow) */
};

/* Called as a verification goes; 0 to go on, a negative errno to stop it (returned). */
typedef int (*pf_audit_progress_fn)(void *arg, const struct pf_audit_progress *progress);

#define PF_AUDIT_PROGRESS_RECORDS 4096u /* records between two progress calls */

/* One record as pf_audit_lineage() yields it; strings live until the callback returns. */
struct pf_audit_record {
	uint64_t seq;
	uint32_t vnode;   /* PF_AUDIT_NO_VNODE when none */
	uint32_t flags;   /* PF_AUDIT_RECORD_BATCH: a batch record naming vnode among others */
	const char *time; /* RFC 3339 UTC with microseconds */
	const char *host;
	const char *event;
	const char *subject;
	const char *details; /* compact JSON object */
	const char *line;    /* the whole record as stored, without the newline */
	uint64_t value;      /* batch: the value of the range naming vnode (else 0) */
};

#define PF_AUDIT_RECORD_BATCH 0x1u

/* A run of VNodes for pf_audit_append_batch(). */
struct pf_audit_range {
	uint32_t first; /* the first VNode id */
	uint32_t count; /* VNodes first .. first + count - 1, at least 1 */
	uint64_t value; /* the caller's number for them (pflightd: the epoch they reach) */
};

/* Return 0 to go on, a negative errno to stop (the caller then gets it back). */
typedef int (*pf_audit_record_fn)(const struct pf_audit_record *record, void *arg);

struct pf_audit;

/* A fresh Ed25519 key pair. Returns 0, -EINVAL (NULL), -EIO (libsodium failed to start). */
PF_API int pf_audit_keygen(unsigned char ret_pk[PF_AUDIT_PUBLIC_KEY_BYTES],
			   unsigned char ret_sk[PF_AUDIT_SECRET_KEY_BYTES]);

/*
 * Write the secret key (hex, one line) to secret_path with mode 0600 and, when
 * public_path is not NULL, the public key (hex) to public_path with mode 0644. Each is
 * written whole to a new file beside it and renamed over the name, so a reader never sees
 * half a key and whoever had the old file open does not see the new one. By the rule at
 * the top of this file: an existing file at that name must be a regular file of this uid
 * or root with one link (a symbolic link is refused, never followed), and the directory
 * must be one others cannot write to. Returns 0, or:
 *   -EINVAL   NULL arguments, a mismatched pair, reterr->size too small
 *   -ELOOP    a symbolic link is at that name
 *   -EPERM    the file or its directory breaks the rule (reterr says which and why)
 *   -EACCES, -ENOSPC, -EIO, -ENAMETOOLONG ...  from open(2)/write(2)/rename(2)
 * reterr (may be NULL) says which file and why on failure.
 */
PF_API int pf_audit_key_save(const char *secret_path, const char *public_path,
			     const unsigned char pk[PF_AUDIT_PUBLIC_KEY_BYTES],
			     const unsigned char sk[PF_AUDIT_SECRET_KEY_BYTES],
			     struct pf_audit_refusal *reterr);

/*
 * Read a secret key written by pf_audit_key_save(), opened by the rule at the top of
 * this file (PF_AUDIT_FILE_SECRET). Returns 0, or:
 *   -ELOOP    secret_path is a symbolic link
 *   -EPERM    the file is another uid's (neither this process's nor root's), readable or
 *             writable by group or others, not a regular file or has several links, or
 *             its directory is writable by others
 *   -EBADMSG  not a hex key line, or its public half does not match its seed
 *   -EINVAL   NULL arguments, reterr->size too small
 *   -ENOENT, -EACCES, -EIO ...  from open(2)/read(2)
 * reterr (may be NULL) says which file and why on failure.
 */
PF_API int pf_audit_key_load(const char *secret_path,
			     unsigned char ret_pk[PF_AUDIT_PUBLIC_KEY_BYTES],
			     unsigned char ret_sk[PF_AUDIT_SECRET_KEY_BYTES],
			     struct pf_audit_refusal *reterr);

/*
 * Open a file of the log writer's own by the rule at the top of this file: a key, a
 * token file a daemon keeps beside its log. oflags: O_RDONLY, O_WRONLY or O_RDWR, with
 * O_APPEND, O_CREAT and O_EXCL allowed (O_NOFOLLOW and O_CLOEXEC are always added; a file
 * created gets mode 0600); flags: PF_AUDIT_FILE_SECRET or 0. Returns the descriptor, or:
 *   -ELOOP    path is a symbolic link (dangling or not): nothing was created or opened
 *   -EPERM    the file or its directory breaks the rule
 *   -EINVAL   NULL or empty path, other oflags or flags, reterr->size too small
 *   -ENOENT, -EEXIST, -EACCES ...  from open(2)
 * reterr (may be NULL) says which file or directory and why on failure.
 */
PF_API int pf_audit_file_open(const char *path, int oflags, uint32_t flags,
			      struct pf_audit_refusal *reterr);

/* Read a public key file. Returns 0, -EINVAL, -EBADMSG (not a hex key), or the
 * open(2)/read(2) errno. */
PF_API int pf_audit_pubkey_load(const char *public_path,
				unsigned char ret_pk[PF_AUDIT_PUBLIC_KEY_BYTES]);

/* Defaults: size set, no flags, host NULL, no key, sign_every 1024, FSYNC_BATCH every
 * 1024 records or 100 ms, no rotation, the default lineage index. */
PF_API void pf_audit_opts_init(struct pf_audit_opts *opts);

/*
 * Open (or create) the log at path and its rotated files (path.<first seq, 20 digits>):
 * the live file is opened by the rule at the top of this file, then the whole set is
 * walked and checked as pf_audit_verify() does (heads against their own keys), the
 * per-VNode lineage map is rebuilt, and sequence numbers and the chain continue. On
 * failure reterr (may be NULL) says which file and why; on -EBADMSG and -EPROTO its
 * offset is the byte offset of the bad line. Returns 0 and *ret_log, or:
 *   -EINVAL    bad path, options (size, policy, host) or arguments, reterr->size too small
 *   -ELOOP     path is a symbolic link (dangling or not): nothing was created or written
 *   -EPERM     the live file or its directory breaks the rule: nothing was written
 *   -EBADMSG   the last line is torn (no newline, or unparseable) and PF_AUDIT_REPAIR_TORN
 *              was not given; nothing was changed
 *   -EPROTO    the set fails verification elsewhere (edited, deleted, reordered, bad
 *              signature), or its last line is not a record cut short (see below): run
 *              pf_audit_verify() and move the set aside; nothing was changed
 *   -EBUSY     another handle (any process) has the log open
 *   -ENAMETOOLONG  path is longer than PF_AUDIT_PATH_MAX - 32
 *   -ENOMEM, -EIO (libsodium), or an open(2)/read(2)/ftruncate(2) errno
 * Retention (opts retain_bytes, retain_age_s): after each rotation and at open, the oldest
 * rotated files are removed while the set is larger than retain_bytes, or while the newest
 * write to the oldest one is retain_age_s old; the live file is never removed, so the set
 * stays within retain_bytes plus one live file (rotate_bytes and a record). What was
 * removed is stated in the log by a `retention` record (the files, their seqs, the hash of
 * the last record removed, why), which pf_audit_verify() matches with where its walk begins.
 * With PF_AUDIT_REPAIR_TORN a torn last line is truncated and a `repair` record saying
 * where and how many bytes were dropped is appended first. Only what a crash can leave is
 * cut: one line at the end of the live file, shorter than PF_AUDIT_LINE_MAX, that is the
 * start of a record's canonical form or zero bytes; any other bad last line is -EPROTO.
 */
PF_API int pf_audit_open(const char *path, const struct pf_audit_opts *opts,
			 struct pf_audit **ret_log, struct pf_audit_refusal *reterr);

/*
 * Append one record: event (1..PF_AUDIT_EVENT_MAX bytes of [a-z0-9_.-], starting with a
 * letter; `head`, `rotate`, `repair` and `retention` are reserved), subject
 * (1..PF_AUDIT_SUBJECT_MAX bytes of UTF-8 without control characters), details (a JSON object as
 * text of at most PF_AUDIT_DETAILS_MAX bytes, or NULL for {}), vnode (or PF_AUDIT_NO_VNODE). The
 * line is built whole and written with one write(2) (O_APPEND); a short write is truncated away.
 * Returns 0 and *ret_seq (may be NULL), or:
 *   -EINVAL    bad event, subject or details (not JSON, not an object), NULL log
 *   -EMSGSIZE  event, subject or details too long, or the line exceeds PF_AUDIT_LINE_MAX
 *   -ENOMEM    no memory to build the record
 *   -EIO, -ENOSPC, -EDQUOT ...  write(2)/fdatasync(2) failed; nothing of this record
 *              remains in the file if the write failed
 *   -ESHUTDOWN an earlier write could not be undone: the log refuses further appends
 * When the record was written but the signed head or rotation that followed it failed,
 * *ret_seq is still set and that step's errno is returned.
 */
PF_API int pf_audit_append(struct pf_audit *log, const char *event, const char *subject,
			   const char *details, uint32_t vnode, uint64_t *ret_seq);

/*
 * Append one record about many VNodes: what pf_audit_append() does for one, for the VNodes
 * of `ranges` (count of them, 1..PF_AUDIT_BATCH_RANGES_MAX, in ascending order of id and not
 * overlapping, PF_AUDIT_BATCH_VNODES_MAX VNodes at most, none PF_AUDIT_NO_VNODE), each
 * range with a value of the caller's. The record is in the lineage of every VNode it names,
 * linked to each one's previous record, so a bulk change costs one record, not one per
 * VNode (the format: ctl/audit.c). Returns what pf_audit_append() returns, and -EINVAL for
 * bad ranges; -EMSGSIZE when the line would exceed PF_AUDIT_LINE_MAX (ranges whose VNodes
 * have many different previous records need more bytes): split the ranges and retry.
 */
PF_API int pf_audit_append_batch(struct pf_audit *log, const char *event, const char *subject,
				 const char *details, const struct pf_audit_range *ranges,
				 uint32_t count, uint64_t *ret_seq);

/* fdatasync the log now. Returns 0, -EINVAL, -ESHUTDOWN, or fdatasync(2)'s errno. */
PF_API int pf_audit_sync(struct pf_audit *log);

/*
 * Write a signed head (when there is a key and records since the last one), fdatasync,
 * close and free. NULL is accepted (returns 0). The handle is freed whatever happens;
 * returns 0 or the errno of that last head or sync (-EIO, -ENOSPC, -ESHUTDOWN, ...).
 */
PF_API int pf_audit_close(struct pf_audit *log);

/*
 * Verify the log at path and its rotated files, oldest first: every record's canonical
 * form and hash, seq continuity, prev links, the lineage links of records about VNodes and
 * head signatures. A set whose first files were removed is walked from its first record
 * ("anchored"); when the log itself stated the removal (retention, see pf_audit_open()),
 * report->dropped_seq says what was dropped. With
 * pubkey, every head must be signed by that key and at least one head must exist; with
 * NULL, each head is checked against the key it carries, which proves only that the
 * heads are self-consistent (whoever rewrote the log could have signed it with a key of
 * their own): pass the key. Fills *report (report->size set by the caller). Returns:
 *   0          intact (report->unsigned_tail records after the last head are covered by
 *              the hash chain only)
 *   -EBADMSG   broken: report->fault, bad_seq, bad_line, bad_offset, bad_file say where
 *   -ENOENT    neither path nor any rotated file exists
 *   -EINVAL    NULL or bad arguments, report->size too small
 *   -ENOMEM, -EIO, or an open(2)/read(2) errno
 */
PF_API int pf_audit_verify(const char *path, const unsigned char *pubkey,
			   struct pf_audit_report *report);

/*
 * pf_audit_verify(), telling fn (may be NULL) how far it is: once the files are listed,
 * every PF_AUDIT_PROGRESS_RECORDS records, and when the walk ends (intact or at a fault). A
 * negative value fn returns stops the walk, and is returned (the report then covers what was
 * walked). Returns what pf_audit_verify() returns, or fn's errno. Same thread as fn.
 */
PF_API int pf_audit_verify_watch(const char *path, const unsigned char *pubkey,
				 struct pf_audit_report *report, pf_audit_progress_fn fn,
				 void *arg);

/*
 * Yield VNode vnode's records, oldest first (the records naming it, one by one or in a
 * batch), found by a walk of the set (across rotated files). Each yielded record's hash and
 * link is checked. Returns the number of records yielded, or:
 *   -EBADMSG   a record of the set is malformed or edited, or a link is broken
 *   -ENOENT    no log at path
 *   -EINVAL    bad arguments (vnode == PF_AUDIT_NO_VNODE, NULL fn)
 *   -ENOMEM, -EIO, or the negative errno the callback returned
 */
PF_API int pf_audit_lineage(const char *path, uint32_t vnode, pf_audit_record_fn fn, void *arg);

/*
 * VNode vnode's newest records, at most max (1..PF_AUDIT_LINEAGE_TAIL_MAX), oldest first,
 * found through the open log's index instead of a walk of its files. The handle keeps, as
 * it appends (and rebuilds as it opens), each VNode's newest record and where each of the
 * newest index_records records lies (file, offset, length); every record about a VNode
 * names the seq and hash of that VNode's record before it, so the lines are read back
 * newest first, following those links, and each one's hash, seq and link is checked as
 * pf_audit_lineage() checks them. Cost: one read per record yielded, whatever the size of
 * the log. Records older than the index, in rotated files removed since, or written before
 * records named their predecessor's seq, are not yielded (pf_audit_lineage() walks the
 * files for those); *ret_total (may be NULL) is how many records the VNode has in the
 * whole log, so the caller can tell how many it did not get. Any thread, concurrently with
 * appends: the index has a lock of its own, held only to look positions up. Returns the
 * number of records yielded, or:
 *   -EINVAL    NULL log or fn, vnode == PF_AUDIT_NO_VNODE, max 0 or above the limit
 *   -EBADMSG   a line is no longer the record indexed there (edited, moved), or a lineage
 *              link between two of them is broken
 *   -ENOMEM, -EIO, or the negative errno the callback returned
 */
PF_API int pf_audit_lineage_tail(struct pf_audit *log, uint32_t vnode, uint32_t max,
				 pf_audit_record_fn fn, void *arg, uint64_t *ret_total);

/* Name of an enum pf_audit_fault value ("edited", "seq_gap", ...), "unknown" otherwise. */
PF_API const char *pf_audit_fault_name(uint32_t fault);

#ifdef __cplusplus
}
#endif

#endif /* PFLIGHT_AUDIT_H */

/* SPDX-License-Identifier: MIT */
/*
 * ctl/audit.c: the tamper-evident audit log (pflight/audit.h).
 *
 * Record format. One JSON object per line, UTF-8, ending in "\n":
 *   seq         integer, 1 for the first record ever, +1 per record across rotations
 *   time        RFC 3339 UTC with microseconds ("2024-05-01T12:00:00.000001Z")
 *   host        the writer's host name
 *   event       [a-z][a-z0-9_.-]*; head, rotate, repair and retention are written by the log
 *   subject     what the record is about ("member/3", "vnode/17", a policy name)
 *   details     a JSON object
 *   prev        hex BLAKE2b-256 of the previous record (64 zeros before seq 1)
 *   vnode       (only for records about one VNode) its id
 *   vnode_prev  (with vnode) hex hash of that VNode's previous record, zeros for its first
 *   vnode_prev_seq  (with vnode) that record's seq, 0 for its first (absent in records
 *               written before it was added: their lineage is followed by walking the files)
 *   vnodes      (only in a batch, about many VNodes) [[first, count, value, link], ...]:
 *               VNodes first..first+count-1, ascending and apart, at most
 *               PF_AUDIT_BATCH_VNODES_MAX in all, each range with the caller's value (pflightd:
 *               the epoch they reach) and the index of its link
 *   vnodes_prev (with vnodes) [[seq, "hash"], ...]: the previous records of the batch's
 *               VNodes ([0, zeros]: none), each range's VNodes having the same one
 *   hash        hex BLAKE2b-256 (crypto_generichash, 32 bytes, no key) of the canonical
 *               form of the record without its hash member
 * Canonical form: jansson json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS) of the object
 * (members in byte order of their keys, no whitespace, reals as %.17g, strings as
 * jansson escapes them, non-ASCII as raw UTF-8). The stored line must itself be the
 * canonical form of the whole record (hash included): a line that re-serialises
 * differently is reported as edited, so no byte of a line can change unnoticed. Duplicate
 * keys are refused.
 *
 * Heads. Every sign_every records, before a rotation and at close, when the log has a
 * secret key, the log appends a record with event "head" and details
 *   {signed_seq, signed_hash, pubkey, sig}
 * where signed_seq/signed_hash are the seq and hash of the record just before the head
 * (its prev) and sig is Ed25519 (hex) over the 40 bytes "pfaudit1" || hash (raw). As the
 * hash of a record commits to every record before it, a head signs the whole log up to it.
 *
 * What verify proves. With the signer's public key: every record up to the last head is
 * exactly what the key holder's writer appended, in order, with none removed or inserted
 * (an edit changes the hash; a deletion, insertion or swap breaks seq or prev; recomputing
 * the hashes breaks the signature). Records after the last head are protected by the hash
 * chain only: someone with write access can rewrite that tail consistently. What it
 * cannot prove: that the tail was not cut off at a line boundary (an external copy of the
 * latest head, or a monitor tailing the file, is needed for that), that rotated files at
 * the front were not deleted (the walk then starts "anchored" at a later seq and says so),
 * that the times are true, or anything when the secret key has leaked. Without the key
 * (NULL) heads are checked against the key they carry, which a forger can replace.
 *
 * Crashes and fsync. Each record is one write(2) of the whole line on an O_APPEND fd, so
 * a killed process leaves whole lines; only a power loss, a full disk or a failing device
 * can leave a torn last line. Open detects it (no newline, or a last line that does not
 * parse), returns -EBADMSG with its offset and appends nothing unless the caller asks for
 * PF_AUDIT_REPAIR_TORN, which truncates it and appends a `repair` record. Only what a
 * crash can leave is cut: one line at the end of the live file, shorter than a record
 * may be, that starts as every record's canonical form does ({"details":{, details being
 * the first key in byte order and always an object) or is zero bytes; a last line that
 * is anything else (someone's text in a file named as the log) is -EPROTO, untouched.
 * A line longer than PF_AUDIT_LINE_MAX is never a torn tail (no writer produces one): it
 * is malformed wherever it is, and reading stops at that length, so no line costs more
 * memory than a record. Policies:
 *   FSYNC_RECORD  fdatasync before append returns: a returned record survives power loss.
 *   FSYNC_BATCH   fdatasync when fsync_every records or fsync_interval_ms have passed
 *                 since the last one (checked at each append: no background thread), and
 *                 with every head, rotation and close: power loss loses at most that
 *                 window (plus the records after the last append if appends stop).
 *   FSYNC_HEAD    fdatasync only with heads, rotation and close: power loss may lose
 *                 everything since the last head (without a key: since the last rotation).
 * In every policy a process crash loses nothing append returned.
 *
 * Rotation. When the live file reaches rotate_bytes after an append: a head (with a key),
 * fdatasync, rename path -> path.<seq of its first record, %020> (so names sort in seq
 * order), create a new path, fsync the directory, and append a `rotate` record naming the
 * old file. Its prev is the hash of the old file's last record: the chain spans the files
 * and verify walks path.* in name order, then path. A crash between rename and create
 * leaves only rotated files, and open continues from them.
 *
 * Batches. A bulk change (a million VNodes placed) as one record per VNode costs the log
 * ~500 bytes each; a batch record names them by ranges, and its links by the distinct
 * previous records of its VNodes, so it costs the bytes of its ranges: a few per VNode
 * when neighbours share their history (the writer splits a range wherever they do not).
 * A batch is in the lineage of every VNode it names: verify checks each one's link against
 * that VNode's last record, exactly as for a record about one VNode.
 *
 * Lineage index. A walk of the files to find one VNode's records costs the whole log (2.4 s
 * for 100 MB), so the handle keeps where each of its newest index_records records lies
 * (offset and length, 8 bytes, by seq; the files by their first seq) and each VNode's newest
 * record and record count. pf_audit_lineage_tail() reads the newest record, checks its hash
 * and seq, takes its link to the VNode's record before (vnode_prev_seq, or the batch range's
 * link) and goes on: one read per record, whatever the size of the log. Bound: 8 bytes per
 * indexed record (the ring grows by doubling up to index_records, then forgets its oldest),
 * plus 52 bytes per VNode slot of the map.
 *
 * Retention. Rotated files go, oldest first, when the set passes retain_bytes or the oldest
 * was last written retain_age_s ago (after each rotation, and at open); never the live file.
 * A `retention` record states it: {files, first_seq, last_seq, last_hash, bytes, kept_bytes,
 * reason, retain_bytes, retain_age_s}, last_hash being the hash of the last record dropped,
 * to which the first kept record links. Verify reports a walk that begins at last_seq + 1 on
 * that link as anchored by retention (dropped_seq), not as a set whose front went missing.
 *
 * Threads: one mutex per handle; the lineage map and index have a second (ilock), held by
 * the writer while it changes them and by index readers while they copy positions, never
 * across I/O. Processes: flock(LOCK_EX) on the live file.
 *
 * The writer's files (pflight/audit.h states the rule). A log, its key and a daemon's
 * token usually sit in a directory of their own, but nothing stops an operator (or a
 * default such as the current directory) from pointing them into one that others may
 * write to; there, another uid could plant the key the daemon signs with, a token it
 * accepts, or a symbolic link that makes it append to, truncate or create a file of the
 * link's choosing. So the directory is opened and checked first (fstat on its descriptor),
 * the file is opened relative to that descriptor with O_NOFOLLOW, and then checked with
 * fstat on its own descriptor: what is checked is what is used, with no window between a
 * stat(2) and an open(2). The owner may be root as well as this uid: only root could have
 * put a root-owned file in a directory that passes. One link only: a hard link is another
 * name, perhaps in another directory, for the same bytes. A secret is written to a new
 * file beside the name and renamed over it, so the old inode (which anyone who had it
 * open may still read) never holds the new secret.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pflight/audit.h"
#include "shm/pf_assert.h"
#include "shm/pf_compiler.h"

#define HASH_BYTES PF_AUDIT_HASH_BYTES
#define HEX_BYTES (2 * HASH_BYTES + 1)
#define SIG_HEX_BYTES (2 * crypto_sign_ed25519_BYTES + 1)
#define DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS)
#define LOAD_FLAGS (JSON_REJECT_DUPLICATES)
#define ROTATED_DIGITS 20u
#define HEAD_DOMAIN "pfaudit1"
#define HEAD_DOMAIN_BYTES 8u
#define FSYNC_EVERY_DEFAULT 1024u
#define FSYNC_INTERVAL_MS_DEFAULT 100u
#define VMAP_EMPTY UINT32_MAX
#define RECORD_OPENING "{\"details\":{" /* every record's canonical form starts so */
#define RIX_START 1024u                 /* first ring of the record index; doubled as needed */

_Static_assert(HASH_BYTES == crypto_generichash_BYTES, "BLAKE2b-256");
_Static_assert(PF_AUDIT_PUBLIC_KEY_BYTES == crypto_sign_ed25519_PUBLICKEYBYTES, "Ed25519 pk");
_Static_assert(PF_AUDIT_SECRET_KEY_BYTES == crypto_sign_ed25519_SECRETKEYBYTES, "Ed25519 sk");
_Static_assert(PF_AUDIT_NO_VNODE == VMAP_EMPTY, "no-VNode marks an empty map slot");
_Static_assert(PF_AUDIT_LINE_MAX == 65536u, "chain_line() names the limit in its reason");

/* VNode id -> hash and seq of its last record, and how many records it has in the log;
 * open addressing, linear probing. */
struct vmap {
	uint32_t *keys;
	unsigned char (*hashes)[HASH_BYTES];
	uint64_t *last;  /* seq of its newest record */
	uint64_t *count; /* records about the VNode in the log */
	uint32_t cap;    /* power of two, or 0 */
	uint32_t count_keys;
};

/* A file of the set, as the index knows it: its first seq (which names it once rotated)
 * and the hash its first record links to (the last record of the file before it). */
struct rfile {
	uint64_t first_seq;
	unsigned char prev[HASH_BYTES];
};

/*
 * The record index: where each of the newest cap_max records lies, by seq, in a ring grown
 * by doubling as the log grows: offset << 16 | length of the line without its newline (a
 * line is shorter than 65536 bytes). Seq s is held while first <= s < next and next - s <=
 * cap; its file is the last of files[] whose first seq is at most s. A VNode's records are
 * found from its newest (vmap.last) by the links each record carries (vnode_prev_seq, or
 * its batch range's link): O(its history), never O(the log). Written by the appender (and
 * the walk at open), read by pf_audit_lineage_tail() from any thread: under pf_audit.ilock.
 */
struct rix {
	uint64_t *ring;
	uint64_t cap; /* entries allocated: 0 or a power of two <= cap_max */
	uint64_t cap_max;
	uint64_t first;          /* the first seq added (0: none yet) */
	uint64_t next;           /* the seq after the last one added */
	uint64_t live_first_seq; /* the live file's first seq (path, not rotated) */
	struct rfile *files;     /* oldest first */
	size_t nfiles, files_cap;
};

struct pf_audit {
	pthread_mutex_t lock;
	int fd;
	int broken; /* sticky negative errno: a write could not be undone */
	char path[PF_AUDIT_PATH_MAX];
	char host[PF_AUDIT_HOST_MAX + 1];
	bool sign;
	unsigned char pk[PF_AUDIT_PUBLIC_KEY_BYTES];
	unsigned char sk[PF_AUDIT_SECRET_KEY_BYTES];
	uint32_t sign_every, fsync_policy, fsync_every, fsync_interval_ms;
	uint64_t rotate_bytes;
	uint64_t next_seq;
	uint64_t file_first_seq; /* seq of the live file's first record */
	uint64_t file_bytes;
	uint64_t since_head, since_sync, last_sync_ms;
	unsigned char last_hash[HASH_BYTES];
	bool anchored; /* the set began past seq 1 when opened: early links unchecked */
	/* The lineage map and index: the writer changes them holding lock and ilock; readers
	 * of the index (pf_audit_lineage_tail) hold ilock alone, never across I/O. */
	pthread_mutex_t ilock;
	struct vmap vmap;
	struct rix ix;
	uint64_t retain_bytes, retain_age_s;
	char line[PF_AUDIT_LINE_MAX]; /* the record being built */
};

/* One parsed record. A record about one VNode has vnode (and vnode_prev, with
 * vnode_prev_seq when it names it); a batch has ranges and links (borrowed from obj). */
struct rec {
	json_t *obj;
	uint64_t seq;
	uint32_t vnode;
	bool has_prev_seq;
	uint64_t vnode_prev_seq;
	json_t *ranges, *links;
	const char *event;
	unsigned char hash[HASH_BYTES];
	unsigned char prev[HASH_BYTES];
	unsigned char vnode_prev[HASH_BYTES];
};

/* Where a VNode's lineage goes on from a record naming it: the record before (seq 0: none,
 * has_seq false: not named, an older record) and, in a batch, its range's value. */
struct vlink {
	uint64_t seq;
	bool has_seq, batch;
	uint64_t value;
	unsigned char hash[HASH_BYTES];
};

/* Where a line is. An over-long line (more than PF_AUDIT_LINE_MAX bytes with its newline,
 * which no writer produces) is handed over cut at PF_AUDIT_LINE_MAX bytes and ends the walk
 * of its file: its end is never looked for, so reading costs no more than a record. */
struct pos {
	const char *file;
	uint64_t line_no, offset;
	bool last_file, at_eof, has_newline, overlong;
};

typedef int (*line_fn)(void *arg, const char *text, size_t len, const struct pos *p);

/* State of a chain walk (verify and open). */
struct chain {
	struct pf_audit_report *rep;
	const unsigned char *pubkey; /* NULL: heads' own keys */
	uint64_t next_seq;           /* 0: nothing seen yet */
	unsigned char prev[HASH_BYTES];
	struct vmap vmap;
	struct rix *ix;                       /* open: the record index to fill (NULL: verify) */
	unsigned char first_prev[HASH_BYTES]; /* what the walk's first record links to */
	uint64_t dropped_seq, dropped_stated_seq; /* the newest retention statement */
	unsigned char dropped_hash[HASH_BYTES];
	uint64_t file_first_seq; /* first seq of the file being walked (0: none yet) */
	uint64_t good_end;       /* offset after the last good line of that file */
	pf_audit_progress_fn fn; /* verify: told how far the walk is (NULL: nobody) */
	void *fn_arg;
	struct pf_audit_progress prog;
	uint64_t bytes_before; /* of the files before the one being walked */
};

static const unsigned char zero_hash[HASH_BYTES];

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- the VNode map ---------------------------------------------------------------- */

static void vmap_free(struct vmap *m)
{
	free(m->keys);
	free(m->hashes);
	free(m->last);
	free(m->count);
	*m = (struct vmap){0};
}

static int vmap_grow(struct vmap *m)
{
	uint32_t cap = m->cap ? m->cap * 2 : 64;
	struct vmap n = {.cap = cap, .count_keys = m->count_keys};

	if (cap == 0 || cap > (UINT32_C(1) << 30))
		return -ENOMEM;
	n.keys = malloc(sizeof(*n.keys) * cap);
	n.hashes = malloc(sizeof(*n.hashes) * cap);
	n.last = malloc(sizeof(*n.last) * cap);
	n.count = malloc(sizeof(*n.count) * cap);
	if (n.keys == NULL || n.hashes == NULL || n.last == NULL || n.count == NULL) {
		vmap_free(&n);
		return -ENOMEM;
	}
	memset(n.keys, 0xff, sizeof(*n.keys) * cap); /* VMAP_EMPTY */
	for (uint32_t i = 0; i < m->cap; i++) {
		uint32_t j = m->keys[i] & (cap - 1);

		if (m->keys[i] == VMAP_EMPTY)
			continue;
		while (n.keys[j] != VMAP_EMPTY)
			j = (j + 1) & (cap - 1);
		n.keys[j] = m->keys[i];
		memcpy(n.hashes[j], m->hashes[i], HASH_BYTES);
		n.last[j] = m->last[i];
		n.count[j] = m->count[i];
	}
	vmap_free(m);
	*m = n;
	return 0;
}

/* The slot of key, or of the empty slot where it would go; m->cap > 0. */
static uint32_t vmap_slot(const struct vmap *m, uint32_t key)
{
	uint32_t j = key & (m->cap - 1);

	PF_ASSERT(key != VMAP_EMPTY);
	PF_ASSERT(m->count_keys < m->cap);
	while (m->keys[j] != VMAP_EMPTY && m->keys[j] != key)
		j = (j + 1) & (m->cap - 1);
	return j;
}

/* The slot holding key, or VMAP_EMPTY. */
static uint32_t vmap_find(const struct vmap *m, uint32_t key)
{
	uint32_t j;

	if (m->cap == 0)
		return VMAP_EMPTY;
	j = vmap_slot(m, key);
	return m->keys[j] == key ? j : VMAP_EMPTY;
}

/* Set key's hash; its slot (>= 0), or -ENOMEM (only when the map had to grow). */
static int vmap_set(struct vmap *m, uint32_t key, const unsigned char *hash)
{
	uint32_t j;

	if ((m->count_keys + 1) * 2 > m->cap) {
		int r = vmap_grow(m);

		if (r < 0)
			return r;
	}
	j = vmap_slot(m, key);
	if (m->keys[j] != key) {
		m->keys[j] = key;
		m->last[j] = 0;
		m->count[j] = 0;
		m->count_keys++;
	}
	memcpy(m->hashes[j], hash, HASH_BYTES);
	return (int)j;
}

/* One more record about key: its hash and seq become the VNode's newest. 0 or -ENOMEM. */
static int vmap_note(struct vmap *m, uint32_t key, const unsigned char *hash, uint64_t seq)
{
	int j = vmap_set(m, key, hash);

	if (j < 0)
		return j;
	m->last[j] = seq;
	m->count[j]++;
	return 0;
}

/* Room in m for `more` new keys, so that notes made after a write cannot fail. */
static int vmap_reserve(struct vmap *m, uint64_t more)
{
	while ((m->count_keys + more + 1) * 2 > m->cap) {
		int r;

		if (m->count_keys + more >= (UINT64_C(1) << 29))
			return -ENOMEM;
		r = vmap_grow(m);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- the record index ------------------------------------------------------------ */

#define RIX_LEN_BITS 16u

_Static_assert(PF_AUDIT_LINE_MAX == UINT64_C(1) << RIX_LEN_BITS, "a line's length fits");

/* Whether seq is still in the ring. */
static bool rix_holds(const struct rix *ix, uint64_t seq)
{
	return ix->first != 0 && seq >= ix->first && seq < ix->next && ix->next - seq <= ix->cap;
}

/* Double the ring (up to cap_max), keeping every entry it holds. -ENOMEM: as it was. */
static int rix_grow(struct rix *ix)
{
	uint64_t cap = ix->cap ? ix->cap * 2 : PF_MIN(RIX_START, ix->cap_max);
	uint64_t from = ix->next - PF_MIN(ix->cap, ix->next - ix->first);
	uint64_t *ring;

	PF_ASSERT(cap <= ix->cap_max && (cap & (cap - 1)) == 0);
	ring = malloc(cap * sizeof(*ring));
	if (ring == NULL)
		return -ENOMEM;
	for (uint64_t s = from; s < ix->next; s++)
		ring[s & (cap - 1)] = ix->ring[s & (ix->cap - 1)];
	free(ix->ring);
	ix->ring = ring;
	ix->cap = cap;
	return 0;
}

/* Record seq lies at offset, len bytes without its newline. Once the ring is full (or
 * cannot grow), the oldest entry makes room. Caller holds ilock, or is alone (open). */
static void rix_add(struct rix *ix, uint64_t seq, uint64_t offset, size_t len)
{
	PF_ASSERT(len < PF_AUDIT_LINE_MAX && offset < (UINT64_C(1) << (64 - RIX_LEN_BITS)));
	if (ix->first == 0 || seq != ix->next) {
		ix->first = seq; /* the first, or a walk that began again: start afresh */
		ix->next = seq;
	}
	if (ix->next - ix->first >= ix->cap && ix->cap < ix->cap_max)
		(void)rix_grow(ix); /* no memory: the oldest entry goes instead */
	if (ix->cap != 0)
		ix->ring[seq & (ix->cap - 1)] = offset << RIX_LEN_BITS | (uint64_t)len;
	ix->next = seq + 1;
}

/* Room for one more file. 0 or -ENOMEM. */
static int rix_file_room(struct rix *ix)
{
	size_t ncap = ix->files_cap ? ix->files_cap * 2 : 8;
	struct rfile *n;

	if (ix->nfiles < ix->files_cap)
		return 0;
	n = realloc(ix->files, ncap * sizeof(*n));
	if (n == NULL)
		return -ENOMEM;
	ix->files = n;
	ix->files_cap = ncap;
	return 0;
}

/* A file of the set begins at first_seq, its first record linking to prev. 0 or -ENOMEM
 * (then the index is as it was). */
static int rix_file(struct rix *ix, uint64_t first_seq, const unsigned char *prev)
{
	int r = rix_file_room(ix);

	if (r < 0)
		return r;
	ix->files[ix->nfiles].first_seq = first_seq;
	memcpy(ix->files[ix->nfiles].prev, prev, HASH_BYTES);
	ix->nfiles++;
	return 0;
}

/* Where record seq lies: 0, or -ENOENT when the index no longer holds it. */
static int rix_find(const struct rix *ix, uint64_t seq, uint64_t *ret_file_first,
		    uint64_t *ret_offset, uint32_t *ret_len)
{
	size_t lo = 0, hi = ix->nfiles;
	uint64_t e;

	if (!rix_holds(ix, seq) || ix->nfiles == 0 || ix->files[0].first_seq > seq)
		return -ENOENT;
	while (hi - lo > 1) { /* the last file beginning at or before seq */
		size_t mid = lo + (hi - lo) / 2;

		if (ix->files[mid].first_seq <= seq)
			lo = mid;
		else
			hi = mid;
	}
	e = ix->ring[seq & (ix->cap - 1)];
	*ret_file_first = ix->files[lo].first_seq;
	*ret_offset = e >> RIX_LEN_BITS;
	*ret_len = (uint32_t)(e & ((UINT64_C(1) << RIX_LEN_BITS) - 1));
	return 0;
}

static void rix_free(struct rix *ix)
{
	free(ix->ring);
	free(ix->files);
	ix->ring = NULL;
	ix->files = NULL;
	ix->cap = 0;
	ix->nfiles = 0;
	ix->files_cap = 0;
	ix->first = 0;
	ix->next = 0;
}

/* ---- hex, hashing, names --------------------------------------------------------- */

static void to_hex(char *hex, size_t hex_bytes, const unsigned char *bin, size_t bin_bytes)
{
	PF_ASSERT(hex_bytes >= 2 * bin_bytes + 1);
	(void)sodium_bin2hex(hex, hex_bytes, bin, bin_bytes);
}

/* Exactly 2 * bin_bytes lowercase hex digits. */
static bool from_hex(unsigned char *bin, size_t bin_bytes, const char *hex)
{
	size_t len = strlen(hex), got = 0;

	if (len != 2 * bin_bytes)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
			return false;
	return sodium_hex2bin(bin, bin_bytes, hex, len, NULL, &got, NULL) == 0 && got == bin_bytes;
}

static void hash_bytes(unsigned char out[HASH_BYTES], const char *text, size_t len)
{
	(void)crypto_generichash(out, HASH_BYTES, (const unsigned char *)text, len, NULL, 0);
}

static void head_message(unsigned char msg[HEAD_DOMAIN_BYTES + HASH_BYTES],
			 const unsigned char *hash)
{
	memcpy(msg, HEAD_DOMAIN, HEAD_DOMAIN_BYTES);
	memcpy(msg + HEAD_DOMAIN_BYTES, hash, HASH_BYTES);
}

static bool event_valid(const char *event)
{
	size_t len = strnlen(event, PF_AUDIT_EVENT_MAX + 1);

	if (len == 0 || len > PF_AUDIT_EVENT_MAX || !(event[0] >= 'a' && event[0] <= 'z'))
		return false;
	for (size_t i = 1; i < len; i++) {
		char c = event[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		      c == '-'))
			return false;
	}
	return true;
}

static bool event_reserved(const char *event)
{
	return strcmp(event, "head") == 0 || strcmp(event, "rotate") == 0 ||
	       strcmp(event, "repair") == 0 || strcmp(event, "retention") == 0;
}

/* 1..max bytes of UTF-8, no control characters. */
static int text_check(const char *s, size_t max)
{
	size_t len = strnlen(s, max + 1);
	json_t *probe;

	if (len == 0)
		return -EINVAL;
	if (len > max)
		return -EMSGSIZE;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return -EINVAL;
	probe = json_string(s); /* NULL: not UTF-8 (or no memory, reported the same) */
	if (probe == NULL)
		return -EINVAL;
	json_decref(probe);
	return 0;
}

const char *pf_audit_fault_name(uint32_t fault)
{
	static const char *const names[] = {
		"none",       "malformed", "edited", "seq_gap",   "seq_back", "prev",
		"vnode_prev", "signature", "key",    "torn_tail", "unsigned",
	};

	return fault < sizeof(names) / sizeof(names[0]) ? names[fault] : "unknown";
}

/* ---- parsing a record ------------------------------------------------------------ */

static const char *obj_str(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static bool obj_hex(json_t *obj, const char *key, unsigned char *out)
{
	const char *s = obj_str(obj, key);

	return s != NULL && from_hex(out, HASH_BYTES, s);
}

/* An integer member of a JSON array in [lo, hi], into *ret. */
static bool arr_int(json_t *a, size_t i, uint64_t lo, uint64_t hi, uint64_t *ret)
{
	json_t *v = json_array_get(a, i);

	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) < lo || (uint64_t)json_integer_value(v) > hi)
		return false;
	*ret = (uint64_t)json_integer_value(v);
	return true;
}

/* A batch's links: [[seq, "hash"], ...], each seq before the record's (0 with a hash of
 * zeros: the VNode's first record). */
static bool batch_links_ok(const struct rec *r)
{
	size_t n = json_array_size(r->links);
	unsigned char h[HASH_BYTES];
	uint64_t seq;

	if (n == 0 || n > PF_AUDIT_BATCH_VNODES_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		json_t *l = json_array_get(r->links, i);
		const char *hex = json_string_value(json_array_get(l, 1));

		if (json_array_size(l) != 2 || !arr_int(l, 0, 0, r->seq - 1, &seq) || hex == NULL ||
		    !from_hex(h, HASH_BYTES, hex) ||
		    (seq == 0) != (sodium_memcmp(h, zero_hash, HASH_BYTES) == 0))
			return false;
	}
	return true;
}

/* A batch's ranges: [[first, count, value, link], ...], ascending, not overlapping, at
 * most PF_AUDIT_BATCH_VNODES_MAX VNodes, each link an index into the links. */
static bool batch_ranges_ok(struct rec *r)
{
	size_t n = json_array_size(r->ranges), links = json_array_size(r->links);
	uint64_t end = 0, total = 0, first, count, value, link;

	if (n == 0 || n > PF_AUDIT_BATCH_VNODES_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		json_t *g = json_array_get(r->ranges, i);

		if (json_array_size(g) != 4 || !arr_int(g, 0, end, PF_AUDIT_NO_VNODE - 1, &first) ||
		    !arr_int(g, 1, 1, PF_AUDIT_NO_VNODE - first, &count) ||
		    !arr_int(g, 2, 0, INT64_MAX, &value) || !arr_int(g, 3, 0, links - 1, &link))
			return false;
		end = first + count;
		total += count;
		if (total > PF_AUDIT_BATCH_VNODES_MAX)
			return false;
	}
	return true;
}

/* A record about one VNode: vnode, vnode_prev, and (since records name it) vnode_prev_seq.
 * The members it adds, or 0 when malformed. */
static size_t rec_vnode_fields(struct rec *r, json_t *vn)
{
	json_t *ps = json_object_get(r->obj, "vnode_prev_seq");

	if (!json_is_integer(vn) || json_integer_value(vn) < 0 ||
	    json_integer_value(vn) >= (json_int_t)PF_AUDIT_NO_VNODE ||
	    !obj_hex(r->obj, "vnode_prev", r->vnode_prev))
		return 0;
	r->vnode = (uint32_t)json_integer_value(vn);
	if (ps == NULL)
		return 2;
	if (!json_is_integer(ps) || json_integer_value(ps) < 0 ||
	    (uint64_t)json_integer_value(ps) >= r->seq ||
	    (json_integer_value(ps) == 0) !=
		    (sodium_memcmp(r->vnode_prev, zero_hash, HASH_BYTES) == 0))
		return 0;
	r->has_prev_seq = true;
	r->vnode_prev_seq = (uint64_t)json_integer_value(ps);
	return 3;
}

/* The fields every record has, with their types; 0 or PF_AUDIT_FAULT_MALFORMED. */
static uint32_t rec_fields(struct rec *r)
{
	json_t *seq = json_object_get(r->obj, "seq"), *vn = json_object_get(r->obj, "vnode");
	size_t want = 8, more;

	if (!json_is_integer(seq) || json_integer_value(seq) < 1 || !obj_str(r->obj, "time") ||
	    !obj_str(r->obj, "host") || !obj_str(r->obj, "subject") ||
	    !json_is_object(json_object_get(r->obj, "details")) ||
	    !obj_hex(r->obj, "prev", r->prev))
		return PF_AUDIT_FAULT_MALFORMED;
	r->event = obj_str(r->obj, "event");
	if (r->event == NULL || !event_valid(r->event))
		return PF_AUDIT_FAULT_MALFORMED;
	r->seq = (uint64_t)json_integer_value(seq);
	r->vnode = PF_AUDIT_NO_VNODE;
	r->ranges = json_object_get(r->obj, "vnodes");
	r->links = json_object_get(r->obj, "vnodes_prev");
	if (vn != NULL) {
		more = rec_vnode_fields(r, vn);
		if (more == 0)
			return PF_AUDIT_FAULT_MALFORMED;
		want += more;
	} else if (r->ranges != NULL || r->links != NULL) {
		if (!json_is_array(r->ranges) || !json_is_array(r->links) || !batch_links_ok(r) ||
		    !batch_ranges_ok(r))
			return PF_AUDIT_FAULT_MALFORMED;
		want += 2;
	}
	return json_object_size(r->obj) == want ? 0 : PF_AUDIT_FAULT_MALFORMED;
}

/* Whether r names vnode, and where its lineage goes on from there. */
static bool rec_names(const struct rec *r, uint32_t vnode, struct vlink *ret)
{
	size_t lo = 0, hi = json_array_size(r->ranges);
	json_t *g, *l;

	*ret = (struct vlink){0};
	if (r->vnode != PF_AUDIT_NO_VNODE) {
		if (r->vnode != vnode)
			return false;
		ret->seq = r->vnode_prev_seq;
		ret->has_seq = r->has_prev_seq;
		memcpy(ret->hash, r->vnode_prev, HASH_BYTES);
		return true;
	}
	while (lo < hi) { /* ranges ascend: the first that ends past vnode */
		size_t mid = lo + (hi - lo) / 2;
		json_t *m = json_array_get(r->ranges, mid);
		uint64_t end = (uint64_t)json_integer_value(json_array_get(m, 0)) +
			       (uint64_t)json_integer_value(json_array_get(m, 1));

		if (end <= vnode)
			lo = mid + 1;
		else
			hi = mid;
	}
	g = json_array_get(r->ranges, lo);
	if (g == NULL || (uint64_t)json_integer_value(json_array_get(g, 0)) > vnode)
		return false;
	l = json_array_get(r->links, (size_t)json_integer_value(json_array_get(g, 3)));
	ret->batch = ret->has_seq = true;
	ret->value = (uint64_t)json_integer_value(json_array_get(g, 2));
	ret->seq = (uint64_t)json_integer_value(json_array_get(l, 0));
	(void)from_hex(ret->hash, HASH_BYTES, json_string_value(json_array_get(l, 1)));
	return true;
}

/* Canonical form and hash of a parsed object that has a hash member: 0, a fault, or
 * -ENOMEM (which says nothing about the record). */
static int rec_hash_check(struct rec *r, const char *text, size_t len)
{
	unsigned char want[HASH_BYTES];
	char *dump = json_dumps(r->obj, DUMP_FLAGS);
	int fault = 0;
	json_t *copy;

	if (dump == NULL)
		return -ENOMEM; /* the object came from the parser: only memory can fail */
	if (strlen(dump) != len || memcmp(dump, text, len) != 0)
		fault = PF_AUDIT_FAULT_EDITED;
	free(dump);
	if (fault != 0)
		return fault;
	if (!obj_hex(r->obj, "hash", want))
		return PF_AUDIT_FAULT_MALFORMED;
	copy = json_copy(r->obj); /* shallow: the members are shared, not duplicated */
	if (copy == NULL)
		return -ENOMEM;
	(void)json_object_del(copy, "hash");
	dump = json_dumps(copy, DUMP_FLAGS);
	json_decref(copy);
	if (dump == NULL)
		return -ENOMEM;
	hash_bytes(r->hash, dump, strlen(dump));
	free(dump);
	return sodium_memcmp(r->hash, want, HASH_BYTES) == 0 ? 0 : PF_AUDIT_FAULT_EDITED;
}

/*
 * The line as JSON into r->obj: 0, PF_AUDIT_FAULT_MALFORMED, or -ENOMEM. jansson (2.14)
 * fails without an error text when an allocation fails in its parser, but reports one that
 * fails in its lexer as an invalid token; so a line is called malformed only when a second
 * parse finds a fault too (under memory pressure the second one cannot even start).
 */
static int rec_load(const char *text, size_t len, struct rec *r)
{
	json_error_t err;

	for (int i = 0; i < 2 && r->obj == NULL; i++) {
		r->obj = json_loadb(text, len, LOAD_FLAGS, &err);
		if (r->obj == NULL && err.text[0] == '\0')
			return -ENOMEM;
	}
	return r->obj != NULL ? 0 : PF_AUDIT_FAULT_MALFORMED;
}

/* Parse and check one line: 0 (r->obj owned by the caller), a fault (> 0), or -ENOMEM;
 * nothing is owned unless 0. Memory running out is never a fault: the record may be good. */
static int rec_parse(const char *text, size_t len, struct rec *r, uint64_t *reterr_seq)
{
	json_t *seq;
	int fault;

	*r = (struct rec){0};
	*reterr_seq = 0;
	fault = rec_load(text, len, r);
	if (fault != 0)
		return fault;
	seq = json_object_get(r->obj, "seq");
	if (json_is_integer(seq) && json_integer_value(seq) > 0)
		*reterr_seq = (uint64_t)json_integer_value(seq);
	fault = json_is_object(r->obj) ? (int)rec_fields(r) : PF_AUDIT_FAULT_MALFORMED;
	if (fault == 0)
		fault = rec_hash_check(r, text, len);
	if (fault != 0) {
		json_decref(r->obj);
		r->obj = NULL;
	}
	PF_ASSERT(fault != 0 || r->obj != NULL);
	return fault;
}

/* The hash of a line as its writer computed it: over the line without its hash member
 * (`"hash":"<hex>",`, spliced in before "host" by line_build()). 0, or
 * PF_AUDIT_FAULT_EDITED when the line has no such member there. */
static int line_hash(const char *text, size_t len, const char *hex, unsigned char *ret)
{
	crypto_generichash_state st;
	char pat[32 + HEX_BYTES];
	size_t plen = (size_t)snprintf(pat, sizeof(pat), "\"hash\":\"%s\",\"host\":", hex);
	const char *at = memmem(text, len, pat, plen);

	/* Where line_build() put it: right before "host". Nowhere else can it be followed by
	 * "host" (a copy inside the details would have to hold its own record's hash), so the
	 * rest is exactly what the writer hashed, and the line is the canonical one. */
	if (at == NULL)
		return PF_AUDIT_FAULT_EDITED;
	plen -= strlen("\"host\":");
	(void)crypto_generichash_init(&st, NULL, 0, HASH_BYTES);
	(void)crypto_generichash_update(&st, (const unsigned char *)text, (size_t)(at - text));
	(void)crypto_generichash_update(&st, (const unsigned char *)at + plen,
					len - (size_t)(at - text) - plen);
	(void)crypto_generichash_final(&st, ret, HASH_BYTES);
	return 0;
}

/*
 * A line the index located, parsed and checked for pf_audit_lineage_tail(): the fields,
 * and its hash over its own bytes (line_hash()) instead of over a serialisation of the
 * parse: the writer hashed exactly those bytes, so a line that matches its hash is the
 * writer's, byte for byte, without the two dumps of a 20 KB batch that rec_parse() makes.
 * 0 (r->obj owned by the caller), a fault, or -ENOMEM.
 */
static int rec_parse_indexed(const char *text, size_t len, struct rec *r)
{
	unsigned char want[HASH_BYTES];
	const char *hex;
	int fault;

	*r = (struct rec){0};
	fault = rec_load(text, len, r);
	if (fault != 0)
		return fault;
	fault = json_is_object(r->obj) ? (int)rec_fields(r) : PF_AUDIT_FAULT_MALFORMED;
	hex = obj_str(r->obj, "hash");
	if (fault == 0 && (hex == NULL || !from_hex(want, HASH_BYTES, hex)))
		fault = PF_AUDIT_FAULT_MALFORMED;
	if (fault == 0)
		fault = line_hash(text, len, hex, r->hash);
	if (fault == 0 && sodium_memcmp(r->hash, want, HASH_BYTES) != 0)
		fault = PF_AUDIT_FAULT_EDITED;
	if (fault != 0) {
		json_decref(r->obj);
		r->obj = NULL;
	}
	return fault;
}

/* ---- walking the files of a log ----------------------------------------------------- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool rotated_suffix(const char *name, const char *base)
{
	size_t bl = strlen(base);

	if (strncmp(name, base, bl) != 0 || name[bl] != '.' ||
	    strlen(name + bl + 1) != ROTATED_DIGITS)
		return false;
	for (const char *c = name + bl + 1; *c; c++)
		if (*c < '0' || *c > '9')
			return false;
	return true;
}

static void free_names(char **names, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(names[i]);
	free(names);
}

/* Add a copy of s to the growing list; 0 or -ENOMEM. */
static int names_add(char ***names, size_t *count, size_t *cap, const char *s)
{
	if (*count == *cap) {
		size_t ncap = *cap ? *cap * 2 : 8;
		char **n = realloc(*names, ncap * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		*names = n;
		*cap = ncap;
	}
	(*names)[*count] = strdup(s);
	if ((*names)[*count] == NULL)
		return -ENOMEM;
	(*count)++;
	return 0;
}

/* dir and base of path, into caller buffers of PF_AUDIT_PATH_MAX. */
static void split_path(const char *path, char *dir, char *base)
{
	char a[PF_AUDIT_PATH_MAX], b[PF_AUDIT_PATH_MAX];

	(void)snprintf(a, sizeof(a), "%s", path);
	(void)snprintf(b, sizeof(b), "%s", path);
	(void)snprintf(dir, PF_AUDIT_PATH_MAX, "%s", dirname(a));
	(void)snprintf(base, PF_AUDIT_PATH_MAX, "%s", basename(b));
}

/* The files of the set, oldest first: path.<20 digits> sorted, then path if it exists. */
static int list_set(const char *path, char ***ret_names, size_t *ret_count)
{
	char dir[PF_AUDIT_PATH_MAX], base[PF_AUDIT_PATH_MAX], full[2 * PF_AUDIT_PATH_MAX];
	char **names = NULL;
	size_t count = 0, cap = 0;
	struct dirent *e;
	DIR *d;
	int r = 0;

	split_path(path, dir, base);
	d = opendir(dir);
	if (d == NULL)
		return -errno;
	while (r == 0 && (e = readdir(d)) != NULL) {
		if (!rotated_suffix(e->d_name, base))
			continue;
		(void)snprintf(full, sizeof(full), "%s/%s", dir, e->d_name);
		r = names_add(&names, &count, &cap, full);
	}
	closedir(d);
	if (r == 0 && count > 1)
		qsort(names, count, sizeof(*names), name_cmp); /* qsort(NULL, 0) is undefined */
	if (r == 0 && access(path, F_OK) == 0)
		r = names_add(&names, &count, &cap, path);
	if (r == 0 && count == 0)
		r = -ENOENT;
	if (r < 0) {
		free_names(names, count);
		return r;
	}
	*ret_names = names;
	*ret_count = count;
	return 0;
}

/* The next line of f into buf (PF_AUDIT_LINE_MAX bytes), newline included: its length in
 * *ret_len (0 at end of file), *ret_overlong when the buffer filled up before the line
 * ended. 0, or -errno when reading failed: never taken for the end of the file. */
static int line_read(FILE *f, char *buf, size_t *ret_len, bool *ret_overlong)
{
	size_t n = 0;
	int ch;

	PF_ASSERT(f != NULL && buf != NULL);
	*ret_overlong = false;
	errno = 0;
	while ((ch = getc_unlocked(f)) != EOF) {
		if (n == PF_AUDIT_LINE_MAX) {
			*ret_overlong = true;
			break;
		}
		buf[n++] = (char)ch;
		if (ch == '\n')
			break;
	}
	if (ferror(f))
		return errno != 0 ? -errno : -EIO;
	PF_ASSERT(n <= PF_AUDIT_LINE_MAX);
	*ret_len = n;
	return 0;
}

/* Call fn for every line of one file; stops at fn's first non-zero return, and after an
 * over-long line whatever fn returns (the rest of that file is not read). */
static int walk_file(const char *file, bool last_file, line_fn fn, void *arg)
{
	struct pos p = {.file = file, .last_file = last_file};
	char *line;
	struct stat st;
	size_t n;
	FILE *f;
	int r;

	line = malloc(PF_AUDIT_LINE_MAX);
	if (line == NULL)
		return -ENOMEM;
	f = fopen(file, "re");
	if (f == NULL || fstat(fileno(f), &st) < 0) {
		r = -errno;
		if (f != NULL)
			fclose(f);
		free(line);
		return r;
	}
	while ((r = line_read(f, line, &n, &p.overlong)) == 0 && n > 0) {
		p.line_no++;
		p.has_newline = !p.overlong && line[n - 1] == '\n';
		p.at_eof = !p.overlong && p.offset + n >= (uint64_t)st.st_size;
		r = fn(arg, line, n - (p.has_newline ? 1 : 0), &p);
		if (r != 0 || p.overlong)
			break;
		p.offset += n;
	}
	free(line);
	fclose(f);
	return r;
}

/* The files' count and sizes, when the caller wants them (a verification's progress). */
static void set_sizes(char **names, size_t count, struct pf_audit_progress *sizes)
{
	struct stat st;

	sizes->files_total = count;
	sizes->bytes_total = 0;
	for (size_t i = 0; i < count; i++)
		sizes->bytes_total += stat(names[i], &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* Walk every file of the set; calls begin(arg, file) before each file when not NULL (a
 * non-zero return stops the walk, as fn's does). ret_sizes (may be NULL): its files_total
 * and bytes_total, filled before the walk begins. */
static int walk_set(const char *path, line_fn fn, int (*begin)(void *, const char *), void *arg,
		    uint64_t *ret_files, struct pf_audit_progress *ret_sizes)
{
	char **names;
	size_t count;
	int r;

	r = list_set(path, &names, &count);
	if (r < 0)
		return r;
	if (ret_sizes != NULL)
		set_sizes(names, count, ret_sizes);
	for (size_t i = 0; r == 0 && i < count; i++) {
		if (begin != NULL && (r = begin(arg, names[i])) != 0)
			break;
		r = walk_file(names[i], i + 1 == count, fn, arg);
		if (ret_files != NULL)
			(*ret_files)++;
	}
	free_names(names, count);
	return r;
}

/* ---- the chain check --------------------------------------------------------------- */

/* Record a fault in the report; returns 1 (stops the walk). */
static int chain_fail(struct chain *c, const struct pos *p, uint32_t fault, uint64_t seq,
		      const char *why)
{
	struct pf_audit_report *rep = c->rep;

	rep->fault = fault;
	rep->bad_seq = seq;
	rep->expected_seq = c->next_seq ? c->next_seq : seq;
	rep->bad_line = p->line_no;
	rep->bad_offset = p->offset;
	(void)snprintf(rep->bad_file, sizeof(rep->bad_file), "%s", p->file);
	(void)snprintf(rep->reason, sizeof(rep->reason), "%s: %s", pf_audit_fault_name(fault), why);
	return 1;
}

/* A head's details: the covered record is the one before it, the signature holds. */
static int chain_head(struct chain *c, const struct rec *r, const struct pos *p)
{
	json_t *d = json_object_get(r->obj, "details");
	json_t *sseq = json_object_get(d, "signed_seq");
	unsigned char shash[HASH_BYTES], pk[PF_AUDIT_PUBLIC_KEY_BYTES];
	unsigned char sig[crypto_sign_ed25519_BYTES], msg[HEAD_DOMAIN_BYTES + HASH_BYTES];
	const char *pks = obj_str(d, "pubkey"), *sigs = obj_str(d, "sig");
	size_t got = 0;

	if (!json_is_integer(sseq) || !obj_hex(d, "signed_hash", shash) || pks == NULL ||
	    sigs == NULL || !from_hex(pk, sizeof(pk), pks) || strlen(sigs) != 2 * sizeof(sig) ||
	    sodium_hex2bin(sig, sizeof(sig), sigs, strlen(sigs), NULL, &got, NULL) != 0)
		return chain_fail(c, p, PF_AUDIT_FAULT_MALFORMED, r->seq,
				  "head without its fields");
	if ((uint64_t)json_integer_value(sseq) + 1 != r->seq ||
	    sodium_memcmp(shash, r->prev, HASH_BYTES) != 0)
		return chain_fail(c, p, PF_AUDIT_FAULT_SIGNATURE, r->seq,
				  "head does not cover the record before it");
	if (c->pubkey != NULL && sodium_memcmp(pk, c->pubkey, sizeof(pk)) != 0)
		return chain_fail(c, p, PF_AUDIT_FAULT_KEY, r->seq, "head signed by another key");
	head_message(msg, shash);
	if (crypto_sign_ed25519_verify_detached(sig, msg, sizeof(msg), pk) != 0)
		return chain_fail(c, p, PF_AUDIT_FAULT_SIGNATURE, r->seq,
				  "signature does not verify");
	c->rep->heads++;
	c->rep->unsigned_tail = 0;
	return 0;
}

/* A VNode's link (the seq and hash of its record before, seq 0 for its first) against
 * the walk so far: 0 or a fault (1). Unknown VNodes pass in an anchored walk: their
 * earlier records may be in files we do not have. */
static int chain_link_check(struct chain *c, uint32_t vnode, const unsigned char *hash,
			    bool has_seq, uint64_t seq, const struct pos *p, uint64_t rec_seq)
{
	uint32_t j = vmap_find(&c->vmap, vnode);

	if (j == VMAP_EMPTY && c->rep->anchored)
		return 0;
	if (sodium_memcmp(hash, j != VMAP_EMPTY ? c->vmap.hashes[j] : zero_hash, HASH_BYTES) != 0 ||
	    (has_seq && seq != (j != VMAP_EMPTY ? c->vmap.last[j] : 0)))
		return chain_fail(c, p, PF_AUDIT_FAULT_VNODE_PREV, rec_seq,
				  "vnode_prev is not that VNode's previous record");
	return 0;
}

static int chain_link_one(struct chain *c, const struct rec *r, const struct pos *p)
{
	return chain_link_check(c, r->vnode, r->vnode_prev, r->has_prev_seq, r->vnode_prev_seq, p,
				r->seq);
}

/* Every VNode a batch names links to its own previous record. */
static int chain_link_batch(struct chain *c, const struct rec *r, const struct pos *p)
{
	int ret = 0;

	for (size_t i = 0; ret == 0 && i < json_array_size(r->ranges); i++) {
		json_t *g = json_array_get(r->ranges, i);
		uint32_t first = (uint32_t)json_integer_value(json_array_get(g, 0));
		uint32_t count = (uint32_t)json_integer_value(json_array_get(g, 1));
		struct vlink l;

		(void)rec_names(r, first, &l);
		for (uint32_t k = 0; ret == 0 && k < count; k++)
			ret = chain_link_check(c, first + k, l.hash, true, l.seq, p, r->seq);
	}
	return ret;
}

/* seq, prev and vnode_prev of a well-formed record against the walk so far. */
static int chain_links(struct chain *c, const struct rec *r, const struct pos *p)
{
	if (c->next_seq == 0) {
		c->rep->first_seq = r->seq;
		c->rep->anchored = r->seq != 1;
		memcpy(c->first_prev, r->prev, HASH_BYTES);
		if (r->seq == 1 && sodium_memcmp(r->prev, zero_hash, HASH_BYTES) != 0)
			return chain_fail(c, p, PF_AUDIT_FAULT_PREV, r->seq,
					  "first record does not start the chain");
	} else if (r->seq > c->next_seq) {
		return chain_fail(c, p, PF_AUDIT_FAULT_SEQ_GAP, r->seq,
				  "seq jumps ahead: records deleted or moved");
	} else if (r->seq < c->next_seq) {
		return chain_fail(c, p, PF_AUDIT_FAULT_SEQ_BACK, r->seq,
				  "seq goes back: records reordered or duplicated");
	} else if (sodium_memcmp(r->prev, c->prev, HASH_BYTES) != 0) {
		return chain_fail(c, p, PF_AUDIT_FAULT_PREV, r->seq,
				  "prev is not the previous record's hash");
	}
	if (r->vnode != PF_AUDIT_NO_VNODE)
		return chain_link_one(c, r, p);
	return r->ranges != NULL ? chain_link_batch(c, r, p) : 0;
}

/* A record about VNodes: each one's hash and seq for the next link, and (open) the record's
 * place in the index. 0 or -ENOMEM. */
static int chain_vnodes(struct chain *c, const struct rec *r)
{
	int ret = 0;

	if (r->vnode != PF_AUDIT_NO_VNODE)
		return vmap_note(&c->vmap, r->vnode, r->hash, r->seq);
	for (size_t i = 0; ret == 0 && i < json_array_size(r->ranges); i++) {
		json_t *g = json_array_get(r->ranges, i);
		uint32_t first = (uint32_t)json_integer_value(json_array_get(g, 0));
		uint32_t count = (uint32_t)json_integer_value(json_array_get(g, 1));

		for (uint32_t k = 0; ret == 0 && k < count; k++)
			ret = vmap_note(&c->vmap, first + k, r->hash, r->seq);
	}
	return ret;
}

/* Tell the caller of a verification how far it is (file_bytes: walked of this file). */
static int chain_progress(struct chain *c, uint64_t file_bytes)
{
	int r;

	if (c->fn == NULL)
		return 0;
	c->prog.records = c->rep->records;
	c->prog.bytes = c->bytes_before + file_bytes;
	r = c->fn(c->fn_arg, &c->prog);
	return r < 0 ? r : 0;
}

/* A `retention` record: the newest statement of what was dropped. Its details are the
 * log's own: a malformed one is a malformed record. */
static int chain_retention(struct chain *c, const struct rec *r, const struct pos *p)
{
	json_t *d = json_object_get(r->obj, "details"), *through = json_object_get(d, "last_seq");
	unsigned char h[HASH_BYTES];

	if (!json_is_integer(through) || json_integer_value(through) < 1 ||
	    (uint64_t)json_integer_value(through) >= r->seq || !obj_hex(d, "last_hash", h))
		return chain_fail(c, p, PF_AUDIT_FAULT_MALFORMED, r->seq,
				  "retention record without its fields");
	if ((uint64_t)json_integer_value(through) > c->dropped_seq) {
		c->dropped_seq = (uint64_t)json_integer_value(through);
		c->dropped_stated_seq = r->seq;
		memcpy(c->dropped_hash, h, HASH_BYTES);
	}
	return 0;
}

/* Open: the record's place in the index, and a file's first record its file. */
static int chain_index(struct chain *c, const struct rec *r, const struct pos *p, size_t len)
{
	int ret = 0;

	if (c->file_first_seq == 0)
		ret = rix_file(c->ix, r->seq, r->prev);
	rix_add(c->ix, r->seq, p->offset, len);
	return ret;
}

static int chain_line(void *arg, const char *text, size_t len, const struct pos *p)
{
	struct chain *c = arg;
	uint64_t seq;
	struct rec r;
	int fault, ret;

	if (p->overlong)
		return chain_fail(c, p, PF_AUDIT_FAULT_MALFORMED, 0,
				  "line longer than 65536 bytes, which no record is");
	if (!p->has_newline)
		return chain_fail(c, p, PF_AUDIT_FAULT_TORN, 0, "last line has no newline");
	fault = rec_parse(text, len, &r, &seq);
	if (fault < 0)
		return fault;
	if (fault == PF_AUDIT_FAULT_MALFORMED && p->last_file && p->at_eof)
		return chain_fail(c, p, PF_AUDIT_FAULT_TORN, seq, "last line does not parse");
	if (fault != 0)
		return chain_fail(c, p, (uint32_t)fault, seq,
				  fault == PF_AUDIT_FAULT_EDITED ? "hash or canonical form differs"
								 : "not a well-formed record");
	ret = chain_links(c, &r, p);
	if (ret == 0 && strcmp(r.event, "head") == 0)
		ret = chain_head(c, &r, p);
	else if (ret == 0)
		c->rep->unsigned_tail++;
	if (ret == 0 && strcmp(r.event, "retention") == 0)
		ret = chain_retention(c, &r, p);
	if (ret == 0)
		ret = chain_vnodes(c, &r);
	if (ret == 0 && c->ix != NULL)
		ret = chain_index(c, &r, p, len);
	if (ret == 0) {
		memcpy(c->prev, r.hash, HASH_BYTES);
		c->next_seq = r.seq + 1;
		c->rep->records++;
		c->rep->last_seq = r.seq;
		if (c->file_first_seq == 0)
			c->file_first_seq = r.seq;
		c->good_end = p->offset + len + 1;
		if (c->rep->records % PF_AUDIT_PROGRESS_RECORDS == 0)
			ret = chain_progress(c, c->good_end);
	}
	json_decref(r.obj);
	return ret;
}

static int chain_begin(void *arg, const char *file)
{
	struct chain *c = arg;

	(void)file;
	c->bytes_before += c->good_end; /* the file before was walked to its end */
	c->file_first_seq = 0;
	c->good_end = 0;
	return c->prog.files++ == 0 ? chain_progress(c, 0) : 0;
}

/* Walk the set with c; 0 (intact), -EBADMSG (fault in c->rep), or another errno. */
static int chain_walk(const char *path, struct chain *c)
{
	int r = walk_set(path, chain_line, chain_begin, c, &c->rep->files,
			 c->fn != NULL ? &c->prog : NULL);

	if (r < 0)
		return r;
	(void)chain_progress(c, c->good_end); /* the end, intact or at a fault: nothing to stop */
	if (c->rep->anchored && c->dropped_seq + 1 == c->rep->first_seq &&
	    sodium_memcmp(c->first_prev, c->dropped_hash, HASH_BYTES) == 0) {
		c->rep->dropped_seq = c->dropped_seq; /* the log says why it begins there */
		c->rep->dropped_stated_seq = c->dropped_stated_seq;
	}
	if (r == 0 && c->pubkey != NULL && c->rep->heads == 0 && c->rep->records > 0) {
		struct pos p = {.file = path};

		c->rep->fault = PF_AUDIT_FAULT_UNSIGNED;
		(void)snprintf(c->rep->reason, sizeof(c->rep->reason),
			       "unsigned: a key was given but no head signs the log");
		(void)snprintf(c->rep->bad_file, sizeof(c->rep->bad_file), "%s", p.file);
	}
	return c->rep->fault == PF_AUDIT_FAULT_NONE ? 0 : -EBADMSG;
}

int pf_audit_verify(const char *path, const unsigned char *pubkey, struct pf_audit_report *report)
{
	return pf_audit_verify_watch(path, pubkey, report, NULL, NULL);
}

int pf_audit_verify_watch(const char *path, const unsigned char *pubkey,
			  struct pf_audit_report *report, pf_audit_progress_fn fn, void *arg)
{
	struct chain c = {.rep = report, .pubkey = pubkey, .fn = fn, .fn_arg = arg};
	int r;

	c.prog.size = sizeof(c.prog);

	if (path == NULL || report == NULL || report->size < sizeof(*report) ||
	    strlen(path) >= PF_AUDIT_PATH_MAX - 32)
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	*report = (struct pf_audit_report){.size = sizeof(*report), .key_given = pubkey != NULL};
	r = chain_walk(path, &c);
	vmap_free(&c.vmap);
	PF_ASSERT(r != 0 || report->fault == PF_AUDIT_FAULT_NONE);
	PF_ASSERT(r != -EBADMSG || report->fault != PF_AUDIT_FAULT_NONE);
	return r;
}

/* ---- the writer's files --------------------------------------------------------------- */

#define FILE_OFLAGS_ALLOWED (O_ACCMODE | O_APPEND | O_CREAT | O_EXCL)

/* A caller's refusal (may be NULL): -EINVAL when too small, else cleared and 0. */
static int refusal_begin(struct pf_audit_refusal *reterr)
{
	if (reterr == NULL)
		return 0;
	if (reterr->size < sizeof(*reterr))
		return -EINVAL;
	reterr->offset = 0;
	reterr->path[0] = '\0';
	reterr->reason[0] = '\0';
	return 0;
}

/* Fill reterr (when not NULL) with path and the reason; returns err. */
pf_printf_like(4, 5) static int refuse(struct pf_audit_refusal *reterr, int err, const char *path,
				       const char *fmt, ...)
{
	va_list ap;

	PF_ASSERT(err < 0);
	if (reterr == NULL)
		return err;
	PF_ASSERT(reterr->size >= sizeof(*reterr));
	(void)snprintf(reterr->path, sizeof(reterr->path), "%s", path);
	va_start(ap, fmt);
	(void)vsnprintf(reterr->reason, sizeof(reterr->reason), fmt, ap);
	va_end(ap);
	return err;
}

/* An open(2)-like failure of path, said in words. */
static int refuse_errno(struct pf_audit_refusal *reterr, int err, const char *path,
			const char *what)
{
	if (err == -ELOOP)
		return refuse(reterr, err, path,
			      "a symbolic link: refused, whether it points "
			      "anywhere or not");
	return refuse(reterr, err, path, "cannot %s: %s", what, strerror(-err));
}

/* The directory that holds path, opened and checked by the rule; its descriptor, or a
 * negative errno with reterr filled. base receives the last component. */
static int dir_open(const char *path, char base[PF_AUDIT_PATH_MAX], struct pf_audit_refusal *reterr)
{
	char dir[PF_AUDIT_PATH_MAX];
	uid_t me = geteuid();
	struct stat st;
	int fd, r;

	split_path(path, dir, base);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return refuse_errno(reterr, -errno, dir, "open the directory");
	if (fstat(fd, &st) < 0)
		r = refuse_errno(reterr, -errno, dir, "stat the directory");
	else if (st.st_uid != me && st.st_uid != 0)
		r = refuse(reterr, -EPERM, dir,
			   "directory owned by uid %u, neither this process's (uid %u) nor root's",
			   (unsigned)st.st_uid, (unsigned)me);
	else if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 &&
		 ((st.st_mode & S_ISVTX) == 0 || st.st_uid != me))
		r = refuse(reterr, -EPERM, dir,
			   "directory writable by group or others (mode 0%o): they could plant "
			   "files in it; use a directory only this uid may write to",
			   (unsigned)(st.st_mode & 07777));
	else
		return fd;
	close(fd);
	return r;
}

/* The open file fd (at path) against the rule: 0, or -EPERM with reterr filled. */
static int file_check(int fd, const char *path, uint32_t flags, struct pf_audit_refusal *reterr)
{
	mode_t forbidden =
		(flags & PF_AUDIT_FILE_SECRET) ? (S_IRWXG | S_IRWXO) : (S_IWGRP | S_IWOTH);
	uid_t me = geteuid();
	struct stat st;

	PF_ASSERT(fd >= 0 && path != NULL);
	if (fstat(fd, &st) < 0)
		return refuse_errno(reterr, -errno, path, "stat");
	if (!S_ISREG(st.st_mode))
		return refuse(reterr, -EPERM, path, "not a regular file");
	if (st.st_uid != me && st.st_uid != 0)
		return refuse(reterr, -EPERM, path,
			      "owned by uid %u, neither this process's (uid %u) nor root's",
			      (unsigned)st.st_uid, (unsigned)me);
	if ((st.st_mode & forbidden) != 0)
		return refuse(reterr, -EPERM, path,
			      "%s by group or others (mode 0%o): chmod 0%o it",
			      (flags & PF_AUDIT_FILE_SECRET) ? "readable or writable" : "writable",
			      (unsigned)(st.st_mode & 07777),
			      (flags & PF_AUDIT_FILE_SECRET) ? 0600u : 0644u);
	if (st.st_nlink != 1)
		return refuse(reterr, -EPERM, path,
			      "has %lu hard links: another name may give others its bytes",
			      (unsigned long)st.st_nlink);
	return 0;
}

int pf_audit_file_open(const char *path, int oflags, uint32_t flags,
		       struct pf_audit_refusal *reterr)
{
	char base[PF_AUDIT_PATH_MAX];
	int dfd, fd, r;

	if (path == NULL || path[0] == '\0' || strlen(path) >= PF_AUDIT_PATH_MAX ||
	    (oflags & ~FILE_OFLAGS_ALLOWED) != 0 || (flags & ~PF_AUDIT_FILE_SECRET) != 0 ||
	    refusal_begin(reterr) < 0)
		return -EINVAL;
	dfd = dir_open(path, base, reterr);
	if (dfd < 0)
		return dfd;
	/* O_NONBLOCK: a FIFO planted at the name must not hold us in open(2). */
	fd = openat(dfd, base, oflags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);
	r = fd < 0 ? refuse_errno(reterr, -errno, path, "open") : 0;
	close(dfd);
	if (r == 0)
		r = file_check(fd, path, flags, reterr);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	return fd;
}

/* ---- keys --------------------------------------------------------------------------- */

int pf_audit_keygen(unsigned char ret_pk[PF_AUDIT_PUBLIC_KEY_BYTES],
		    unsigned char ret_sk[PF_AUDIT_SECRET_KEY_BYTES])
{
	if (ret_pk == NULL || ret_sk == NULL)
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	return crypto_sign_ed25519_keypair(ret_pk, ret_sk) == 0 ? 0 : -EIO;
}

/* The name at base in dfd, when something is there, may be replaced: a regular file of
 * ours with one link (the rule); 0 also when nothing is there. */
static int key_replaceable(int dfd, const char *base, const char *path,
			   struct pf_audit_refusal *reterr)
{
	int fd = openat(dfd, base, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK), r;

	if (fd < 0)
		return errno == ENOENT ? 0 : refuse_errno(reterr, -errno, path, "open");
	r = file_check(fd, path, 0, reterr);
	close(fd);
	return r;
}

/* Write hex(bin) and a newline to a new file beside path (mode), then rename it over
 * path: a reader sees the old key or the new one, never half of one. */
static int key_write(const char *path, const unsigned char *bin, size_t bin_bytes, mode_t mode,
		     struct pf_audit_refusal *reterr)
{
	char hex[2 * PF_AUDIT_SECRET_KEY_BYTES + 2], base[PF_AUDIT_PATH_MAX],
		tmp[PF_AUDIT_PATH_MAX];
	size_t len = 2 * bin_bytes + 1;
	int dfd, fd, r;

	PF_ASSERT(bin_bytes <= PF_AUDIT_SECRET_KEY_BYTES);
	dfd = dir_open(path, base, reterr);
	if (dfd < 0)
		return dfd;
	r = key_replaceable(dfd, base, path, reterr);
	if (r == 0 &&
	    snprintf(tmp, sizeof(tmp), ".%s.new-%d", base, (int)getpid()) >= (int)sizeof(tmp))
		r = refuse(reterr, -ENAMETOOLONG, path, "name too long");
	fd = r == 0 ? openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600)
		    : -1;
	if (r == 0 && fd < 0)
		r = refuse_errno(reterr, -errno, path, "create a file beside");
	if (r < 0) {
		close(dfd);
		return r;
	}
	to_hex(hex, sizeof(hex), bin, bin_bytes);
	hex[len - 1] = '\n';
	errno = 0;
	if (fchmod(fd, mode) < 0 || write(fd, hex, len) != (ssize_t)len || fsync(fd) < 0)
		r = refuse_errno(reterr, errno ? -errno : -EIO, path, "write");
	sodium_memzero(hex, sizeof(hex));
	if (close(fd) < 0 && r == 0)
		r = refuse_errno(reterr, -errno, path, "write");
	if (r == 0 && renameat(dfd, tmp, dfd, base) < 0)
		r = refuse_errno(reterr, -errno, path, "rename the new file over");
	if (r < 0)
		(void)unlinkat(dfd, tmp, 0);
	else if (fsync(dfd) < 0)
		r = refuse_errno(reterr, -errno, path, "sync the directory of");
	close(dfd);
	return r;
}

int pf_audit_key_save(const char *secret_path, const char *public_path,
		      const unsigned char pk[PF_AUDIT_PUBLIC_KEY_BYTES],
		      const unsigned char sk[PF_AUDIT_SECRET_KEY_BYTES],
		      struct pf_audit_refusal *reterr)
{
	unsigned char derived[PF_AUDIT_PUBLIC_KEY_BYTES];
	int r;

	if (secret_path == NULL || pk == NULL || sk == NULL || refusal_begin(reterr) < 0)
		return -EINVAL;
	if (strlen(secret_path) >= PF_AUDIT_PATH_MAX ||
	    (public_path != NULL && strlen(public_path) >= PF_AUDIT_PATH_MAX))
		return -ENAMETOOLONG;
	if (sodium_init() < 0)
		return -EIO;
	if (crypto_sign_ed25519_sk_to_pk(derived, sk) != 0 ||
	    memcmp(derived, pk, sizeof(derived)) != 0)
		return -EINVAL;
	r = key_write(secret_path, sk, PF_AUDIT_SECRET_KEY_BYTES, 0600, reterr);
	if (r == 0 && public_path != NULL)
		r = key_write(public_path, pk, PF_AUDIT_PUBLIC_KEY_BYTES, 0644, reterr);
	return r;
}

/* Read a hex key line from the open fd into bin: 0, -EBADMSG, or read(2)'s errno. */
static int key_read(int fd, unsigned char *bin, size_t bin_bytes)
{
	char hex[2 * PF_AUDIT_SECRET_KEY_BYTES + 4];
	ssize_t n = read(fd, hex, sizeof(hex) - 1);
	int r;

	if (n < 0)
		return -errno;
	while (n > 0 && (hex[n - 1] == '\n' || hex[n - 1] == '\r'))
		n--;
	hex[n] = '\0';
	r = from_hex(bin, bin_bytes, hex) ? 0 : -EBADMSG;
	sodium_memzero(hex, sizeof(hex));
	return r;
}

int pf_audit_key_load(const char *secret_path, unsigned char ret_pk[PF_AUDIT_PUBLIC_KEY_BYTES],
		      unsigned char ret_sk[PF_AUDIT_SECRET_KEY_BYTES],
		      struct pf_audit_refusal *reterr)
{
	unsigned char sk[PF_AUDIT_SECRET_KEY_BYTES], pk[PF_AUDIT_PUBLIC_KEY_BYTES];
	unsigned char seed[crypto_sign_ed25519_SEEDBYTES];
	int fd, r;

	if (secret_path == NULL || ret_pk == NULL || ret_sk == NULL || refusal_begin(reterr) < 0)
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	fd = pf_audit_file_open(secret_path, O_RDONLY, PF_AUDIT_FILE_SECRET, reterr);
	if (fd < 0)
		return fd;
	r = key_read(fd, sk, sizeof(sk));
	close(fd);
	if (r == 0 && (crypto_sign_ed25519_sk_to_seed(seed, sk) != 0 ||
		       crypto_sign_ed25519_seed_keypair(pk, ret_sk, seed) != 0 ||
		       sodium_memcmp(ret_sk, sk, sizeof(sk)) != 0))
		r = -EBADMSG;
	if (r == -EBADMSG)
		(void)refuse(reterr, r, secret_path, "not an Ed25519 secret key in hex");
	else if (r < 0)
		(void)refuse_errno(reterr, r, secret_path, "read");
	if (r == 0)
		memcpy(ret_pk, pk, sizeof(pk));
	sodium_memzero(sk, sizeof(sk));
	sodium_memzero(seed, sizeof(seed));
	return r;
}

int pf_audit_pubkey_load(const char *public_path, unsigned char ret_pk[PF_AUDIT_PUBLIC_KEY_BYTES])
{
	int fd, r;

	if (public_path == NULL || ret_pk == NULL)
		return -EINVAL;
	fd = open(public_path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	r = key_read(fd, ret_pk, PF_AUDIT_PUBLIC_KEY_BYTES);
	close(fd);
	return r;
}

/* ---- writing ------------------------------------------------------------------------- */

void pf_audit_opts_init(struct pf_audit_opts *opts)
{
	PF_ASSERT(opts != NULL);
	*opts = (struct pf_audit_opts){
		.size = sizeof(*opts),
		.sign_every = PF_AUDIT_SIGN_EVERY_DEFAULT,
		.fsync_policy = PF_AUDIT_FSYNC_BATCH,
		.fsync_every = FSYNC_EVERY_DEFAULT,
		.fsync_interval_ms = FSYNC_INTERVAL_MS_DEFAULT,
	};
}

/* RFC 3339 UTC with microseconds, 27 bytes and the NUL. */
static void format_time(char buf[32])
{
	struct timespec ts;
	struct tm tm;
	char day[24];

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	(void)strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	if (snprintf(buf, 32, "%.19s.%06dZ", day, (int)(ts.tv_nsec / 1000) % 1000000) != 27)
		PF_ASSERT(!"RFC 3339 time is 27 bytes");
}

/* The record without its hash; details is stolen. NULL: no memory (or bad UTF-8). */
static json_t *rec_build(struct pf_audit *log, const char *event, const char *subject,
			 json_t *details, uint32_t vnode)
{
	char time_s[32], prev[HEX_BYTES];
	json_t *o;

	format_time(time_s);
	to_hex(prev, sizeof(prev), log->last_hash, HASH_BYTES);
	o = json_pack("{s:I, s:s, s:s, s:s, s:s, s:o, s:s}", "seq", (json_int_t)log->next_seq,
		      "time", time_s, "host", log->host, "event", event, "subject", subject,
		      "details", details, "prev", prev);
	if (o == NULL || vnode == PF_AUDIT_NO_VNODE)
		return o;
	{
		uint32_t j = vmap_find(&log->vmap, vnode);
		char vprev[HEX_BYTES];

		to_hex(vprev, sizeof(vprev), j != VMAP_EMPTY ? log->vmap.hashes[j] : zero_hash,
		       HASH_BYTES);
		if (json_object_set_new(o, "vnode", json_integer(vnode)) < 0 ||
		    json_object_set_new(o, "vnode_prev", json_string(vprev)) < 0 ||
		    json_object_set_new(o, "vnode_prev_seq",
					json_integer(j != VMAP_EMPTY ? (json_int_t)log->vmap.last[j]
								     : 0)) < 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* Where the top-level "host" key starts in a canonical dump without "hash": right after
 * the top-level "event". Keys are sorted, so "details" (the only caller-shaped value)
 * comes first and anything after "host" is ours: the last `,"event":"E","host":` is
 * the top-level one (a string value cannot hold an unescaped quote). */
static char *host_key(char *line, size_t n, const char *event)
{
	char pat[PF_AUDIT_EVENT_MAX + 32];
	size_t plen;
	char *hit = NULL;

	plen = (size_t)snprintf(pat, sizeof(pat), ",\"event\":\"%s\",\"host\":", event);
	for (char *p = line; (p = memmem(p, n - (size_t)(p - line), pat, plen)) != NULL; p++)
		hit = p;
	return hit == NULL ? NULL : hit + plen - strlen("\"host\":");
}

/*
 * Canonical line (with hash and newline) into log->line; returns its length or -errno.
 * One dump: the hash is over the canonical form without "hash", and "hash" sorts just
 * before "host", so it is spliced in there instead of dumping the object twice.
 */
static ssize_t line_build(struct pf_audit *log, json_t *o, const char *event,
			  unsigned char hash[HASH_BYTES])
{
	static const char key[] = "\"hash\":\"";
	const size_t add = sizeof(key) - 1 + 2 * HASH_BYTES + 2; /* key, hex, `",` */
	char hex[HEX_BYTES], *at;
	size_t n;

	n = json_dumpb(o, log->line, PF_AUDIT_LINE_MAX, DUMP_FLAGS);
	if (n == 0)
		return -ENOMEM;
	if (n + add >= PF_AUDIT_LINE_MAX) /* the hash and the newline must fit too */
		return -EMSGSIZE;
	hash_bytes(hash, log->line, n);
	to_hex(hex, sizeof(hex), hash, HASH_BYTES);
	at = host_key(log->line, n, event);
	PF_ASSERT(at != NULL); /* we built the record: its keys are ours */
	memmove(at + add, at, n - (size_t)(at - log->line));
	memcpy(at, key, sizeof(key) - 1);
	memcpy(at + sizeof(key) - 1, hex, 2 * HASH_BYTES);
	memcpy(at + add - 2, "\",", 2);
	n += add;
	log->line[n] = '\n';
	return (ssize_t)n + 1;
}

/* One write(2) of the whole line; a short write is truncated away. */
static int line_write(struct pf_audit *log, size_t len)
{
	ssize_t n;
	int r;

	do
		n = write(log->fd, log->line, len);
	while (n < 0 && errno == EINTR);
	if (n == (ssize_t)len) {
		log->file_bytes += len;
		return 0;
	}
	r = n < 0 ? -errno : -ENOSPC; /* a regular file writes short when the disk is full */
	if (n > 0 && ftruncate(log->fd, (off_t)log->file_bytes) < 0)
		log->broken = -ESHUTDOWN;
	return r;
}

/* The VNodes a record being appended names: one (vnode), a batch (ranges), or none. */
struct names {
	uint32_t vnode;
	const struct pf_audit_range *ranges;
	uint32_t count;
	uint64_t total; /* VNodes named */
};

/* Room for what the record will change in the map and the index, taken before it is
 * written so that nothing can fail after the write. */
static int append_reserve(struct pf_audit *log, const struct names *nm)
{
	int r = 0;

	pthread_mutex_lock(&log->ilock);
	if (nm->total > 0)
		r = vmap_reserve(&log->vmap, nm->total);
	if (r == 0 && log->file_bytes == 0 && log->ix.nfiles == log->ix.files_cap)
		r = rix_file_room(&log->ix);
	pthread_mutex_unlock(&log->ilock);
	return r;
}

/* The record just written (hash, at offset, len bytes with its newline) into the index,
 * and each VNode it names into the map. Cannot fail: append_reserve() made room. */
static void append_index(struct pf_audit *log, const struct names *nm, const unsigned char *hash,
			 uint64_t offset, size_t len)
{
	uint64_t seq = log->next_seq;
	int r = 0;

	PF_ASSERT(len >= 2 && len <= PF_AUDIT_LINE_MAX);
	pthread_mutex_lock(&log->ilock);
	if (offset == 0)
		r |= rix_file(&log->ix, seq, log->last_hash);
	rix_add(&log->ix, seq, offset, len - 1);
	if (nm->vnode != PF_AUDIT_NO_VNODE)
		r |= vmap_note(&log->vmap, nm->vnode, hash, seq);
	for (uint32_t i = 0; i < nm->count; i++)
		for (uint32_t k = 0; k < nm->ranges[i].count; k++)
			r |= vmap_note(&log->vmap, nm->ranges[i].first + k, hash, seq);
	pthread_mutex_unlock(&log->ilock);
	PF_ASSERT(r == 0); /* room was made before the write */
}

/* Write the record o (stolen) and account it. */
static int append_write(struct pf_audit *log, json_t *o, const char *event, const struct names *nm)
{
	unsigned char hash[HASH_BYTES];
	uint64_t offset = log->file_bytes;
	ssize_t len;
	int r;

	len = line_build(log, o, event, hash);
	json_decref(o);
	r = len < 0 ? (int)len : line_write(log, (size_t)len);
	if (r < 0)
		return r;
	append_index(log, nm, hash, offset, (size_t)len);
	memcpy(log->last_hash, hash, HASH_BYTES);
	log->next_seq++;
	log->since_sync++;
	if (strcmp(event, "head") != 0)
		log->since_head++;
	return 0;
}

/* Build, write and account one record; details is stolen. */
static int append_locked(struct pf_audit *log, const char *event, const char *subject,
			 json_t *details, uint32_t vnode)
{
	struct names nm = {.vnode = vnode, .total = vnode != PF_AUDIT_NO_VNODE};
	json_t *o;
	int r = log->broken;

	if (r == 0)
		r = append_reserve(log, &nm);
	if (r < 0) {
		json_decref(details);
		return r;
	}
	o = rec_build(log, event, subject, details, vnode);
	if (o == NULL)
		return -ENOMEM;
	return append_write(log, o, event, &nm);
}

/* ---- batch records -------------------------------------------------------------- */

/* A run of VNodes of one input range whose previous records are the same one. */
struct brun {
	uint32_t first, count;
	uint64_t value, prev_seq;
	unsigned char prev[HASH_BYTES];
};

struct bbuild {
	struct brun *runs;
	size_t n, cap;
	uint64_t *seqs; /* the distinct prev_seq, ascending: link i is seqs[i] */
	size_t nseqs;
};

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* VNode v of range g, its previous record being (seq, hash): a run goes on or begins. */
static int bbuild_add(struct bbuild *b, const struct pf_audit_range *g, uint32_t v, uint64_t seq,
		      const unsigned char *hash)
{
	struct brun *last = b->n > 0 ? &b->runs[b->n - 1] : NULL;

	if (last != NULL && last->first + last->count == v && last->prev_seq == seq &&
	    v != g->first) {
		last->count++;
		return 0;
	}
	if (b->n == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 64;
		struct brun *n = realloc(b->runs, ncap * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		b->runs = n;
		b->cap = ncap;
	}
	b->runs[b->n] = (struct brun){.first = v, .count = 1, .value = g->value, .prev_seq = seq};
	memcpy(b->runs[b->n].prev, hash, HASH_BYTES);
	b->n++;
	return 0;
}

/* Split the ranges into runs by previous record, and list those records. Caller holds
 * lock (the map changes only under it). */
static int bbuild_runs(struct pf_audit *log, const struct names *nm, struct bbuild *b)
{
	int r = 0;

	for (uint32_t i = 0; r == 0 && i < nm->count; i++) {
		const struct pf_audit_range *g = &nm->ranges[i];

		for (uint32_t k = 0; r == 0 && k < g->count; k++) {
			uint32_t j = vmap_find(&log->vmap, g->first + k);

			r = bbuild_add(b, g, g->first + k, j != VMAP_EMPTY ? log->vmap.last[j] : 0,
				       j != VMAP_EMPTY ? log->vmap.hashes[j] : zero_hash);
		}
	}
	b->seqs = r == 0 ? malloc(b->n * sizeof(*b->seqs)) : NULL;
	if (b->seqs == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < b->n; i++)
		b->seqs[i] = b->runs[i].prev_seq;
	qsort(b->seqs, b->n, sizeof(*b->seqs), u64_cmp);
	for (size_t i = 0; i < b->n; i++)
		if (b->nseqs == 0 || b->seqs[b->nseqs - 1] != b->seqs[i])
			b->seqs[b->nseqs++] = b->seqs[i];
	return 0;
}

/* The index of prev_seq among the links. */
static size_t bbuild_link(const struct bbuild *b, uint64_t prev_seq)
{
	const uint64_t *at = bsearch(&prev_seq, b->seqs, b->nseqs, sizeof(*b->seqs), u64_cmp);

	PF_ASSERT(at != NULL);
	return (size_t)(at - b->seqs);
}

/* "vnodes" and "vnodes_prev" into o. 0 or -ENOMEM. */
static int bbuild_json(const struct bbuild *b, json_t *o)
{
	const unsigned char **hashes = calloc(b->nseqs, sizeof(*hashes));
	json_t *ranges = json_array(), *links = json_array();
	char hex[HEX_BYTES];
	int bad = hashes == NULL || ranges == NULL || links == NULL;

	for (size_t i = 0; !bad && i < b->n; i++) {
		const struct brun *u = &b->runs[i];
		size_t link = bbuild_link(b, u->prev_seq);

		hashes[link] = u->prev;
		bad = json_array_append_new(ranges,
					    json_pack("[I, I, I, I]", (json_int_t)u->first,
						      (json_int_t)u->count, (json_int_t)u->value,
						      (json_int_t)link)) < 0;
	}
	for (size_t i = 0; !bad && i < b->nseqs; i++) {
		to_hex(hex, sizeof(hex), hashes[i], HASH_BYTES);
		bad = json_array_append_new(links,
					    json_pack("[I, s]", (json_int_t)b->seqs[i], hex)) < 0;
	}
	free(hashes);
	if (bad) {
		json_decref(ranges);
		json_decref(links);
		return -ENOMEM;
	}
	bad = json_object_set_new(o, "vnodes", ranges) < 0;
	bad |= json_object_set_new(o, "vnodes_prev", links) < 0;
	return bad ? -ENOMEM : 0;
}

static void bbuild_free(struct bbuild *b)
{
	free(b->runs);
	free(b->seqs);
	*b = (struct bbuild){0};
}

/* The caller's ranges: ascending, apart, within the limits; the VNodes they name. */
static int ranges_check(const struct pf_audit_range *ranges, uint32_t count, uint64_t *ret_total)
{
	uint64_t end = 0, total = 0;

	if (ranges == NULL || count == 0 || count > PF_AUDIT_BATCH_RANGES_MAX)
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++) {
		const struct pf_audit_range *g = &ranges[i];

		if (g->count == 0 || g->first < end || g->value > (uint64_t)INT64_MAX ||
		    (uint64_t)g->first + g->count > PF_AUDIT_NO_VNODE)
			return -EINVAL;
		end = (uint64_t)g->first + g->count;
		total += g->count;
		if (total > PF_AUDIT_BATCH_VNODES_MAX)
			return -EINVAL;
	}
	*ret_total = total;
	return 0;
}

/* Build, write and account one batch record; details is stolen. */
static int append_batch_locked(struct pf_audit *log, const char *event, const char *subject,
			       json_t *details, const struct names *nm)
{
	struct bbuild b = {0};
	json_t *o;
	int r = log->broken;

	if (r == 0)
		r = append_reserve(log, nm);
	if (r < 0) {
		json_decref(details);
		return r;
	}
	o = rec_build(log, event, subject, details, PF_AUDIT_NO_VNODE);
	r = o != NULL ? bbuild_runs(log, nm, &b) : -ENOMEM;
	if (r == 0)
		r = bbuild_json(&b, o);
	bbuild_free(&b);
	if (r < 0) {
		json_decref(o);
		return r;
	}
	return append_write(log, o, event, nm);
}

static int sync_locked(struct pf_audit *log)
{
	if (fdatasync(log->fd) < 0)
		return -errno;
	log->since_sync = 0;
	log->last_sync_ms = mono_ms();
	return 0;
}

/* A signed head over the last record, then a sync; nothing without a key or records. */
static int head_locked(struct pf_audit *log)
{
	unsigned char msg[HEAD_DOMAIN_BYTES + HASH_BYTES], sig[crypto_sign_ed25519_BYTES];
	char hash_hex[HEX_BYTES], pk_hex[2 * PF_AUDIT_PUBLIC_KEY_BYTES + 1], sig_hex[SIG_HEX_BYTES];
	json_t *d;
	int r;

	if (!log->sign || log->since_head == 0)
		return 0;
	PF_ASSERT(log->next_seq > 1);
	head_message(msg, log->last_hash);
	if (crypto_sign_ed25519_detached(sig, NULL, msg, sizeof(msg), log->sk) != 0)
		return -EIO;
	to_hex(hash_hex, sizeof(hash_hex), log->last_hash, HASH_BYTES);
	to_hex(pk_hex, sizeof(pk_hex), log->pk, sizeof(log->pk));
	to_hex(sig_hex, sizeof(sig_hex), sig, sizeof(sig));
	d = json_pack("{s:I, s:s, s:s, s:s}", "signed_seq", (json_int_t)(log->next_seq - 1),
		      "signed_hash", hash_hex, "pubkey", pk_hex, "sig", sig_hex);
	if (d == NULL)
		return -ENOMEM;
	r = append_locked(log, "head", "audit", d, PF_AUDIT_NO_VNODE);
	if (r == 0)
		log->since_head = 0;
	return r < 0 ? r : sync_locked(log);
}

static int fsync_dir(const char *path)
{
	char dir[PF_AUDIT_PATH_MAX], base[PF_AUDIT_PATH_MAX];
	int fd, r = 0;

	split_path(path, dir, base);
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

/* Open (creating) the live file by the rule and lock it. Read as well: a torn tail is
 * read from this descriptor, the one checked, before it is cut. */
static int live_open(const char *path, int extra_flags, struct pf_audit_refusal *reterr)
{
	int fd = pf_audit_file_open(path, O_RDWR | O_APPEND | O_CREAT | extra_flags, 0, reterr);
	int r;

	if (fd < 0)
		return fd;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		r = errno == EWOULDBLOCK
			    ? refuse(reterr, -EBUSY, path, "another process has this log open")
			    : refuse_errno(reterr, -errno, path, "lock");
		close(fd);
		return r;
	}
	return fd;
}

/* ---- retention -------------------------------------------------------------------- */

/* What a retention pass removed. */
struct dropped {
	uint32_t files;
	uint64_t bytes;
	bool by_age;
};

/* Whether the oldest file of the set (files[0]) goes: rotated (the live file never goes),
 * and the set over retain_bytes or that file last written retain_age_s ago or more. Removes
 * it (unlink, then out of the index) and accounts it in *d. *total: the set's bytes. */
static bool retain_one(struct pf_audit *log, uint64_t *total, struct dropped *d)
{
	char name[PF_AUDIT_PATH_MAX + 32];
	struct stat st;
	uint64_t size = 0;
	bool old = false;

	if (log->ix.nfiles < 2 || log->ix.files[0].first_seq >= log->file_first_seq)
		return false;
	(void)snprintf(name, sizeof(name), "%s.%020" PRIu64, log->path, log->ix.files[0].first_seq);
	if (stat(name, &st) == 0) {
		time_t now = time(NULL);

		size = (uint64_t)st.st_size;
		/* A file written "in the future" (the clock went back) is not old. */
		old = log->retain_age_s != 0 && now >= st.st_mtime &&
		      (uint64_t)(now - st.st_mtime) >= log->retain_age_s;
	} else if (errno == ENOENT) {
		old = true; /* removed by someone else already: it goes from the index too */
	}
	if (!(log->retain_bytes != 0 && *total > log->retain_bytes) && !old)
		return false;
	if (unlink(name) < 0 && errno != ENOENT)
		return false; /* it stays, and so does everything after it: tried again later */
	pthread_mutex_lock(&log->ilock);
	memmove(&log->ix.files[0], &log->ix.files[1],
		(log->ix.nfiles - 1) * sizeof(log->ix.files[0]));
	log->ix.nfiles--;
	pthread_mutex_unlock(&log->ilock);
	*total -= PF_MIN(size, *total);
	d->files++;
	d->bytes += size;
	d->by_age |= old;
	return true;
}

/* The bytes of the set: its rotated files and the live one. */
static uint64_t set_bytes(const struct pf_audit *log)
{
	char name[PF_AUDIT_PATH_MAX + 32];
	uint64_t total = log->file_bytes;
	struct stat st;

	for (size_t i = 0; i < log->ix.nfiles; i++) {
		if (log->ix.files[i].first_seq >= log->file_first_seq)
			break;
		(void)snprintf(name, sizeof(name), "%s.%020" PRIu64, log->path,
			       log->ix.files[i].first_seq);
		total += stat(name, &st) == 0 ? (uint64_t)st.st_size : 0;
	}
	return total;
}

/* Drop the oldest rotated files by the retention rules, and state it in the log: which
 * seqs went, the hash of the last one (the first kept record links to it), why. */
static int retain_locked(struct pf_audit *log)
{
	uint64_t first = log->ix.nfiles > 0 ? log->ix.files[0].first_seq : 0, total;
	char hash_hex[HEX_BYTES];
	struct dropped d = {0};
	json_t *o;
	int r;

	if ((log->retain_bytes == 0 && log->retain_age_s == 0) || log->broken < 0)
		return 0;
	total = set_bytes(log);
	while (retain_one(log, &total, &d))
		;
	if (d.files == 0)
		return 0;
	(void)fsync_dir(log->path); /* the names are gone whether or not this reaches the disk */
	to_hex(hash_hex, sizeof(hash_hex), log->ix.files[0].prev, HASH_BYTES);
	o = json_pack("{s:I, s:I, s:I, s:s, s:I, s:I, s:s, s:I, s:I}", "files", (json_int_t)d.files,
		      "first_seq", (json_int_t)first, "last_seq",
		      (json_int_t)(log->ix.files[0].first_seq - 1), "last_hash", hash_hex, "bytes",
		      (json_int_t)d.bytes, "kept_bytes", (json_int_t)total, "reason",
		      d.by_age ? "age" : "bytes", "retain_bytes", (json_int_t)log->retain_bytes,
		      "retain_age_s", (json_int_t)log->retain_age_s);
	if (o == NULL)
		return -ENOMEM;
	r = append_locked(log, "retention", "audit", o, PF_AUDIT_NO_VNODE);
	return r == 0 ? sync_locked(log) : r;
}

/* Head, rename to path.<first seq>, new live file, `rotate` record linking to the old. */
static int rotate_locked(struct pf_audit *log)
{
	char rotated[PF_AUDIT_PATH_MAX], dir[PF_AUDIT_PATH_MAX], base[PF_AUDIT_PATH_MAX];
	uint64_t first = log->file_first_seq, last = log->next_seq - 1;
	json_t *d;
	int r, fd;

	r = head_locked(log);
	if (r == 0)
		r = sync_locked(log);
	if (r < 0)
		return r;
	if (snprintf(rotated, sizeof(rotated), "%s.%020" PRIu64, log->path, first) >=
	    (int)sizeof(rotated))
		return -ENAMETOOLONG; /* open() keeps paths 32 bytes shorter: cannot happen */
	if (access(rotated, F_OK) == 0)
		return -EEXIST;
	if (rename(log->path, rotated) < 0)
		return -errno;
	fd = live_open(log->path, O_EXCL, NULL);
	if (fd < 0) {
		log->broken = -ESHUTDOWN; /* no live file to append to */
		return fd;
	}
	close(log->fd);
	log->fd = fd;
	log->file_bytes = 0;
	log->file_first_seq = log->next_seq;
	pthread_mutex_lock(&log->ilock);
	log->ix.live_first_seq = log->file_first_seq; /* what was live is path.<first> now */
	pthread_mutex_unlock(&log->ilock);
	split_path(rotated, dir, base);
	d = json_pack("{s:s, s:I, s:I}", "previous_file", base, "previous_first_seq",
		      (json_int_t)first, "previous_last_seq", (json_int_t)last);
	if (d == NULL)
		return -ENOMEM;
	r = append_locked(log, "rotate", "audit", d, PF_AUDIT_NO_VNODE);
	if (r == 0)
		r = sync_locked(log);
	if (r == 0)
		r = fsync_dir(log->path);
	return r == 0 ? retain_locked(log) : r;
}

/* What follows a record: the policy's sync, a head every sign_every, rotation. */
static int after_append(struct pf_audit *log)
{
	int r = 0;

	if (log->fsync_policy == PF_AUDIT_FSYNC_RECORD ||
	    (log->fsync_policy == PF_AUDIT_FSYNC_BATCH &&
	     (log->since_sync >= log->fsync_every ||
	      mono_ms() - log->last_sync_ms >= log->fsync_interval_ms)))
		r = sync_locked(log);
	if (r == 0 && log->sign && log->since_head >= log->sign_every)
		r = head_locked(log);
	if (r == 0 && log->rotate_bytes != 0 && log->file_bytes >= log->rotate_bytes)
		r = rotate_locked(log);
	return r;
}

/* Caller input: details as a JSON object (new reference) or an errno. */
static int details_parse(const char *details, json_t **ret)
{
	json_error_t err;
	json_t *d;

	if (details == NULL) {
		d = json_object();
		if (d == NULL)
			return -ENOMEM;
		*ret = d;
		return 0;
	}
	if (strnlen(details, PF_AUDIT_DETAILS_MAX + 1) > PF_AUDIT_DETAILS_MAX)
		return -EMSGSIZE;
	d = json_loads(details, LOAD_FLAGS, &err);
	if (d == NULL)
		return -EINVAL;
	if (!json_is_object(d)) {
		json_decref(d);
		return -EINVAL;
	}
	*ret = d;
	return 0;
}

/* The checks of append's arguments, and details parsed: 0 (*ret owned by the caller) or
 * an errno. */
static int append_args(struct pf_audit *log, const char *event, const char *subject,
		       const char *details, json_t **ret)
{
	int r;

	if (log == NULL || event == NULL || subject == NULL)
		return -EINVAL;
	if (strnlen(event, PF_AUDIT_EVENT_MAX + 1) > PF_AUDIT_EVENT_MAX)
		return -EMSGSIZE;
	if (!event_valid(event) || event_reserved(event))
		return -EINVAL;
	r = text_check(subject, PF_AUDIT_SUBJECT_MAX);
	return r == 0 ? details_parse(details, ret) : r;
}

int pf_audit_append(struct pf_audit *log, const char *event, const char *subject,
		    const char *details, uint32_t vnode, uint64_t *ret_seq)
{
	json_t *d;
	uint64_t seq;
	int r = append_args(log, event, subject, details, &d);

	if (r < 0)
		return r;
	pthread_mutex_lock(&log->lock);
	seq = log->next_seq;
	r = append_locked(log, event, subject, d, vnode);
	if (r == 0) {
		if (ret_seq != NULL)
			*ret_seq = seq;
		r = after_append(log);
	}
	pthread_mutex_unlock(&log->lock);
	return r;
}

int pf_audit_append_batch(struct pf_audit *log, const char *event, const char *subject,
			  const char *details, const struct pf_audit_range *ranges, uint32_t count,
			  uint64_t *ret_seq)
{
	struct names nm = {.vnode = PF_AUDIT_NO_VNODE, .ranges = ranges, .count = count};
	json_t *d;
	uint64_t seq;
	int r = append_args(log, event, subject, details, &d);

	if (r == 0 && ranges_check(ranges, count, &nm.total) < 0) {
		json_decref(d);
		r = -EINVAL;
	}
	if (r < 0)
		return r;
	pthread_mutex_lock(&log->lock);
	seq = log->next_seq;
	r = append_batch_locked(log, event, subject, d, &nm);
	if (r == 0) {
		if (ret_seq != NULL)
			*ret_seq = seq;
		r = after_append(log);
	}
	pthread_mutex_unlock(&log->lock);
	return r;
}

int pf_audit_sync(struct pf_audit *log)
{
	int r;

	if (log == NULL)
		return -EINVAL;
	pthread_mutex_lock(&log->lock);
	r = log->broken < 0 ? log->broken : sync_locked(log);
	pthread_mutex_unlock(&log->lock);
	return r;
}

/* Everything a handle holds, its key wiped: the end of pf_audit_close() and of a failed
 * pf_audit_open(). */
static void log_free(struct pf_audit *log)
{
	if (log->fd >= 0)
		close(log->fd);
	vmap_free(&log->vmap);
	rix_free(&log->ix);
	sodium_memzero(log->sk, sizeof(log->sk));
	pthread_mutex_destroy(&log->ilock);
	pthread_mutex_destroy(&log->lock);
	free(log);
}

int pf_audit_close(struct pf_audit *log)
{
	int r;

	if (log == NULL)
		return 0;
	pthread_mutex_lock(&log->lock);
	r = log->broken < 0 ? log->broken : head_locked(log);
	if (r == 0)
		r = sync_locked(log);
	pthread_mutex_unlock(&log->lock);
	log_free(log);
	return r;
}

/* ---- opening ------------------------------------------------------------------------- */

static int opts_apply(struct pf_audit *log, const struct pf_audit_opts *o)
{
	struct pf_audit_opts d;

	pf_audit_opts_init(&d);
	if (o->size < offsetof(struct pf_audit_opts, reserved) || o->size > sizeof(*o) ||
	    o->fsync_policy > PF_AUDIT_FSYNC_HEAD || (o->flags & ~PF_AUDIT_REPAIR_TORN) != 0)
		return -EINVAL;
	log->sign_every = o->sign_every ? o->sign_every : d.sign_every;
	log->fsync_policy = o->fsync_policy;
	log->fsync_every = o->fsync_every ? o->fsync_every : d.fsync_every;
	log->fsync_interval_ms = o->fsync_interval_ms ? o->fsync_interval_ms : d.fsync_interval_ms;
	log->rotate_bytes = o->rotate_bytes;
	log->ix.cap_max = PF_AUDIT_INDEX_RECORDS_DEFAULT;
	if (o->index_records != 0) {
		if (o->index_records > PF_AUDIT_INDEX_RECORDS_MAX)
			return -EINVAL;
		for (log->ix.cap_max = 16; log->ix.cap_max < o->index_records;)
			log->ix.cap_max *= 2;
	}
	log->retain_bytes = o->retain_bytes;
	log->retain_age_s = o->retain_age_s;
	if (o->host != NULL) {
		if (text_check(o->host, PF_AUDIT_HOST_MAX) < 0)
			return -EINVAL;
		(void)snprintf(log->host, sizeof(log->host), "%s", o->host);
	} else if (gethostname(log->host, sizeof(log->host) - 1) < 0 || log->host[0] == '\0') {
		(void)snprintf(log->host, sizeof(log->host), "unknown");
	}
	if (o->secret_key != NULL) {
		memcpy(log->sk, o->secret_key, sizeof(log->sk));
		if (crypto_sign_ed25519_sk_to_pk(log->pk, log->sk) != 0)
			return -EINVAL;
		log->sign = true;
	}
	return 0;
}

/* Continue from the walk: seq, chain, lineage map, position in the live file. */
static int adopt_chain(struct pf_audit *log, struct chain *c, const struct pf_audit_report *rep)
{
	struct stat st;

	if (fstat(log->fd, &st) < 0)
		return -errno;
	log->next_seq = c->next_seq ? c->next_seq : 1;
	memcpy(log->last_hash, c->next_seq ? c->prev : zero_hash, HASH_BYTES);
	log->vmap = c->vmap;
	c->vmap = (struct vmap){0};
	log->file_bytes = (uint64_t)st.st_size;
	/* The live file is walked last: c's first seq is its own, 0 when it is empty. */
	log->file_first_seq = c->file_first_seq ? c->file_first_seq : log->next_seq;
	log->ix.live_first_seq = log->file_first_seq;
	log->anchored = rep->anchored != 0;
	log->since_head = rep->unsigned_tail;
	log->last_sync_ms = mono_ms();
	return 0;
}

/* Whether the len bytes at the end of the live file (from offset) can be a record cut
 * short by a crash: one line, shorter than a record may be, that is the start of a
 * record's canonical form, or zero bytes (a power loss can leave blocks of zeros). A
 * newline may end it (the line was whole but not all of its blocks reached the disk).
 * 1, 0, or a negative errno. */
static int torn_record(int fd, uint64_t offset, uint64_t len)
{
	size_t opening = strlen(RECORD_OPENING), zeros = 0;
	char *buf;
	int r = 1;

	if (len == 0 || len >= PF_AUDIT_LINE_MAX)
		return 0;
	buf = malloc((size_t)len);
	if (buf == NULL)
		return -ENOMEM;
	if (pread(fd, buf, (size_t)len, (off_t)offset) != (ssize_t)len)
		r = -EIO;
	for (size_t i = 0; r == 1 && i < len; i++) {
		if (buf[i] == '\n' && i + 1 < len)
			r = 0; /* a second line: more than one record's write */
		zeros += buf[i] == '\0';
	}
	if (r == 1 && zeros + (buf[len - 1] == '\n') != len &&
	    memcmp(buf, RECORD_OPENING, len < opening ? (size_t)len : opening) != 0)
		r = 0;
	free(buf);
	return r;
}

/* Cut the live file at the torn line, when what follows offset is a record cut short
 * (never anything else: it is not this log's to cut); *ret_dropped: how many bytes went. */
static int repair_torn(struct pf_audit *log, const struct pf_audit_report *rep,
		       uint64_t *ret_dropped, struct pf_audit_refusal *reterr)
{
	uint64_t offset = rep->bad_offset, len;
	struct stat st;
	int r;

	if (fstat(log->fd, &st) < 0)
		return refuse_errno(reterr, -errno, log->path, "stat");
	if ((uint64_t)st.st_size <= offset)
		return refuse(reterr, -EPROTO, log->path, "changed while it was read");
	len = (uint64_t)st.st_size - offset;
	r = torn_record(log->fd, offset, len);
	if (r == 0)
		r = refuse(reterr, -EPROTO, log->path,
			   "line %llu (%llu bytes to the end) is not a record cut short by a "
			   "crash: nothing truncated",
			   (unsigned long long)rep->bad_line, (unsigned long long)len);
	else if (r < 0)
		r = refuse_errno(reterr, r, log->path, "read the torn line of");
	else if (ftruncate(log->fd, (off_t)offset) < 0)
		r = refuse_errno(reterr, -errno, log->path, "truncate");
	else
		r = 0;
	if (r == 0)
		*ret_dropped = len;
	return r;
}

/* Walk the set; repair a torn live tail when asked. 0, or -errno with reterr filled. */
static int open_scan(struct pf_audit *log, uint32_t flags, struct pf_audit_refusal *reterr)
{
	struct pf_audit_report rep = {.size = sizeof(rep)};
	struct chain c = {.rep = &rep, .ix = &log->ix};
	uint64_t dropped = 0;
	json_t *d;
	int r;

	r = chain_walk(log->path, &c);
	if (r == -EBADMSG) {
		if (reterr != NULL)
			reterr->offset = rep.bad_offset;
		if (rep.fault != PF_AUDIT_FAULT_TORN || strcmp(rep.bad_file, log->path) != 0)
			r = refuse(reterr, -EPROTO, rep.bad_file, "line %llu: %s",
				   (unsigned long long)rep.bad_line, rep.reason);
		else if (flags & PF_AUDIT_REPAIR_TORN)
			r = repair_torn(log, &rep, &dropped, reterr);
		else
			(void)refuse(reterr, r, rep.bad_file, "line %llu: %s",
				     (unsigned long long)rep.bad_line, rep.reason);
	} else if (r < 0) {
		(void)refuse_errno(reterr, r, log->path, "read the log");
	}
	if (r == 0)
		r = adopt_chain(log, &c, &rep);
	vmap_free(&c.vmap);
	if (r < 0 || rep.fault != PF_AUDIT_FAULT_TORN)
		return r;
	d = json_pack("{s:s, s:I, s:I, s:I}", "file", log->path, "line", (json_int_t)rep.bad_line,
		      "truncated_at", (json_int_t)rep.bad_offset, "dropped_bytes",
		      (json_int_t)dropped);
	if (d == NULL)
		return -ENOMEM;
	r = append_locked(log, "repair", "audit", d, PF_AUDIT_NO_VNODE);
	return r == 0 ? sync_locked(log) : r;
}

int pf_audit_open(const char *path, const struct pf_audit_opts *opts, struct pf_audit **ret_log,
		  struct pf_audit_refusal *reterr)
{
	struct pf_audit *log;
	int r;

	if (path == NULL || opts == NULL || ret_log == NULL || path[0] == '\0' ||
	    refusal_begin(reterr) < 0)
		return -EINVAL;
	if (strlen(path) >= PF_AUDIT_PATH_MAX - 32)
		return -ENAMETOOLONG;
	if (sodium_init() < 0)
		return -EIO;
	log = calloc(1, sizeof(*log));
	if (log == NULL)
		return -ENOMEM;
	pthread_mutex_init(&log->lock, NULL);
	pthread_mutex_init(&log->ilock, NULL);
	(void)snprintf(log->path, sizeof(log->path), "%s", path);
	r = opts_apply(log, opts);
	log->fd = r == 0 ? live_open(path, 0, reterr) : -1;
	if (r == 0 && log->fd < 0)
		r = log->fd;
	if (r == 0)
		r = open_scan(log, opts->flags, reterr);
	if (r == 0)
		r = retain_locked(log); /* alone with it: no lock to take */
	if (r < 0) {
		if (reterr != NULL && reterr->reason[0] == '\0')
			(void)refuse(reterr, r, path, "%s", strerror(-r));
		log_free(log);
		return r;
	}
	*ret_log = log;
	return 0;
}

/* ---- lineage ------------------------------------------------------------------------- */

struct lin_item {
	json_t *obj;
	char *line;
	unsigned char hash[HASH_BYTES];
	struct vlink link; /* to the VNode's record before */
};

struct lin {
	uint32_t vnode;
	bool anchored; /* the first record walked is not seq 1 */
	bool seen;
	struct lin_item *items;
	size_t count, cap;
};

static void lin_free(struct lin *l)
{
	for (size_t i = 0; i < l->count; i++) {
		json_decref(l->items[i].obj);
		free(l->items[i].line);
	}
	free(l->items);
}

static int lin_keep(struct lin *l, struct rec *r, const struct vlink *link, const char *text,
		    size_t len)
{
	struct lin_item *it;

	if (l->count == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 16;
		struct lin_item *n = realloc(l->items, ncap * sizeof(*n));

		if (n == NULL)
			return -ENOMEM;
		l->items = n;
		l->cap = ncap;
	}
	it = &l->items[l->count];
	it->line = strndup(text, len);
	if (it->line == NULL)
		return -ENOMEM;
	it->obj = r->obj;
	r->obj = NULL;
	memcpy(it->hash, r->hash, HASH_BYTES);
	it->link = *link;
	l->count++;
	return 0;
}

static int lin_line(void *arg, const char *text, size_t len, const struct pos *p)
{
	struct lin *l = arg;
	struct vlink link;
	uint64_t seq;
	struct rec r;
	int ret;

	if (p->last_file && p->at_eof && !p->has_newline)
		return 0; /* a torn tail is no record; verify reports it */
	if (p->overlong)
		return -EBADMSG; /* no record is that long, torn or not */
	ret = rec_parse(text, len, &r, &seq);
	if (ret < 0)
		return ret;
	if (ret > 0)
		return (p->last_file && p->at_eof) ? 0 : -EBADMSG;
	if (!l->seen)
		l->anchored = r.seq != 1;
	l->seen = true;
	if (rec_names(&r, l->vnode, &link))
		ret = lin_keep(l, &r, &link, text, len);
	json_decref(r.obj);
	return ret;
}

static int lin_yield(const struct lin *l, struct lin_item *it, pf_audit_record_fn fn, void *arg)
{
	struct pf_audit_record rec = {.line = it->line};
	char *details = json_dumps(json_object_get(it->obj, "details"), DUMP_FLAGS);
	int r;

	if (details == NULL)
		return -ENOMEM;
	rec.seq = (uint64_t)json_integer_value(json_object_get(it->obj, "seq"));
	rec.vnode = l->vnode;
	rec.flags = it->link.batch ? PF_AUDIT_RECORD_BATCH : 0;
	rec.value = it->link.value;
	rec.time = obj_str(it->obj, "time");
	rec.host = obj_str(it->obj, "host");
	rec.event = obj_str(it->obj, "event");
	rec.subject = obj_str(it->obj, "subject");
	rec.details = details;
	r = fn(&rec, arg);
	free(details);
	return r > 0 ? 0 : r;
}

/* Check the links from the newest record back, then yield oldest first. */
static int lin_follow(struct lin *l, pf_audit_record_fn fn, void *arg)
{
	size_t i;
	int r = 0;

	for (i = l->count; i-- > 1;) {
		const struct vlink *k = &l->items[i].link;
		uint64_t before =
			(uint64_t)json_integer_value(json_object_get(l->items[i - 1].obj, "seq"));

		if (sodium_memcmp(k->hash, l->items[i - 1].hash, HASH_BYTES) != 0 ||
		    (k->has_seq && k->seq != before))
			return -EBADMSG;
	}
	if (l->count > 0 && !l->anchored &&
	    sodium_memcmp(l->items[0].link.hash, zero_hash, HASH_BYTES) != 0)
		return -EBADMSG;
	for (i = 0; r == 0 && i < l->count; i++)
		r = lin_yield(l, &l->items[i], fn, arg);
	return r < 0 ? r : (int)l->count;
}

int pf_audit_lineage(const char *path, uint32_t vnode, pf_audit_record_fn fn, void *arg)
{
	struct lin l = {.vnode = vnode};
	int r;

	if (path == NULL || fn == NULL || vnode == PF_AUDIT_NO_VNODE ||
	    strlen(path) >= PF_AUDIT_PATH_MAX - 32)
		return -EINVAL;
	if (sodium_init() < 0)
		return -EIO;
	r = walk_set(path, lin_line, NULL, &l, NULL, NULL);
	if (r == 0 && l.count > (size_t)INT32_MAX)
		r = -EOVERFLOW;
	if (r == 0)
		r = lin_follow(&l, fn, arg);
	lin_free(&l);
	return r;
}

/* ---- lineage from the index ------------------------------------------------------------ */

/* Where one record lies, as the index said. */
struct rloc {
	uint64_t seq, file_first_seq, offset;
	uint32_t len;
	bool live; /* its file was the live one when looked up */
};

/* One file of the set, open for reading lines back. */
struct tail_file {
	int fd;
	uint64_t first_seq;
	bool live; /* opened as path (else as path.<first_seq>) */
};

/* Where record seq lies: 0, or -ENOENT when the index does not hold it. */
static int tail_locate(struct pf_audit *log, uint64_t seq, struct rloc *ret)
{
	int r;

	pthread_mutex_lock(&log->ilock);
	r = rix_find(&log->ix, seq, &ret->file_first_seq, &ret->offset, &ret->len);
	ret->seq = seq;
	ret->live = r == 0 && ret->file_first_seq == log->ix.live_first_seq;
	pthread_mutex_unlock(&log->ilock);
	return r;
}

/* Open the file e lies in, named as live (path) or as rotated (path.<first seq>). */
static int tail_open(const struct pf_audit *log, struct tail_file *f, const struct rloc *e,
		     bool live)
{
	char name[PF_AUDIT_PATH_MAX + 32]; /* open() kept paths 32 bytes short of the max */

	if (f->fd >= 0 && f->first_seq == e->file_first_seq && f->live == live)
		return 0;
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	if (live)
		(void)snprintf(name, sizeof(name), "%s", log->path);
	else
		(void)snprintf(name, sizeof(name), "%s.%020" PRIu64, log->path, e->file_first_seq);
	f->fd = open(name, O_RDONLY | O_CLOEXEC);
	if (f->fd < 0)
		return -errno;
	f->first_seq = e->file_first_seq;
	f->live = live;
	return 0;
}

/* The line at e, parsed and checked, into *r: 0, -ENOENT (its file is gone), -EBADMSG
 * (the line there is not that record) or -ENOMEM (which says nothing of the record). A file live
 * when the position was looked up may have been rotated since: then it is path.<first seq>.
 * A rotated file stays rotated. */
static int tail_read(const struct pf_audit *log, struct tail_file *f, const struct rloc *e,
		     char *buf, struct rec *r)
{
	int err = -ENOENT;

	for (int k = 0; k < (e->live ? 2 : 1); k++) {
		ssize_t n;
		int fault;
		int o = tail_open(log, f, e, k == 0 && e->live);

		if (o < 0) {
			err = o != -ENOENT ? o : err;
			continue;
		}
		n = pread(f->fd, buf, (size_t)e->len + 1, (off_t)e->offset);
		err = -EBADMSG;
		if (n != (ssize_t)e->len + 1 || buf[e->len] != '\n')
			continue;
		fault = rec_parse_indexed(buf, e->len, r);
		if (fault < 0)
			return fault;
		if (fault != 0)
			continue;
		if (r->seq == e->seq)
			return 0;
		json_decref(r->obj);
		r->obj = NULL;
	}
	return err;
}

/* Read the VNode's records newest first from seq, following each one's link, at most max,
 * then turn l oldest first: 0, or -errno. Where the index or the files end (a record
 * older than the index, a file removed, a record that does not name its predecessor's
 * seq), the walk ends as if the lineage began there: anchored. */
static int tail_load(struct pf_audit *log, uint64_t seq, const unsigned char *newest, uint32_t max,
		     struct lin *l)
{
	struct tail_file f = {.fd = -1};
	char *buf = malloc(PF_AUDIT_LINE_MAX);
	int r = buf != NULL ? 0 : -ENOMEM;

	while (r == 0 && seq != 0 && l->count < max) {
		struct rec rec = {0};
		struct vlink link;
		struct rloc e;

		r = tail_locate(log, seq, &e);
		if (r == 0)
			r = tail_read(log, &f, &e, buf, &rec);
		if (r == 0 && !rec_names(&rec, l->vnode, &link))
			r = -EBADMSG;
		/* The newest is the record the handle wrote (or walked) last for the VNode, by its
		 * hash; each older one is held by the link of the one after it (lin_follow()). */
		if (r == 0 && l->count == 0 && sodium_memcmp(rec.hash, newest, HASH_BYTES) != 0)
			r = -EBADMSG;
		PF_ASSERT(r != 0 || !link.has_seq ||
			  link.seq < seq); /* rec_fields(): links go back */
		if (r == 0)
			r = lin_keep(l, &rec, &link, buf, e.len);
		json_decref(rec.obj);
		if (r == 0 && !link.has_seq && sodium_memcmp(link.hash, zero_hash, HASH_BYTES) != 0)
			l->anchored = true; /* an older record: its link names no seq */
		seq = r == 0 && link.has_seq ? link.seq : 0;
	}
	if (r == -ENOENT) {
		l->anchored = true; /* older records are in files that are gone, or unindexed */
		r = 0;
	}
	for (size_t i = 0; i < l->count / 2; i++) {
		struct lin_item t = l->items[i];

		l->items[i] = l->items[l->count - 1 - i];
		l->items[l->count - 1 - i] = t;
	}
	if (f.fd >= 0)
		close(f.fd);
	free(buf);
	return r;
}

int pf_audit_lineage_tail(struct pf_audit *log, uint32_t vnode, uint32_t max, pf_audit_record_fn fn,
			  void *arg, uint64_t *ret_total)
{
	struct lin l = {.vnode = vnode};
	unsigned char newest_hash[HASH_BYTES] = {0};
	uint64_t total = 0, newest = 0;
	uint32_t j;
	int r;

	if (log == NULL || fn == NULL || vnode == PF_AUDIT_NO_VNODE || max == 0 ||
	    max > PF_AUDIT_LINEAGE_TAIL_MAX)
		return -EINVAL;
	pthread_mutex_lock(&log->ilock);
	j = vmap_find(&log->vmap, vnode);
	if (j != VMAP_EMPTY) {
		total = log->vmap.count[j];
		newest = log->vmap.last[j];
		memcpy(newest_hash, log->vmap.hashes[j], HASH_BYTES);
	}
	pthread_mutex_unlock(&log->ilock);
	r = tail_load(log, newest, newest_hash, max, &l);
	/* The first one read links to zeros only when it is the VNode's first record. */
	l.anchored = l.anchored || l.count < total || log->anchored;
	if (r == 0)
		r = lin_follow(&l, fn, arg);
	lin_free(&l);
	if (r >= 0 && ret_total != NULL)
		*ret_total = total;
	return r;
}

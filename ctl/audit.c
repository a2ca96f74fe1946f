/* SPDX-License-Identifier: MIT */
/*
 * ctl/audit.c: the tamper-evident audit log (pflight/audit.h).
 *
 * Record format. One JSON object per line, UTF-8, ending in "\n":
 *   seq         integer, 1 for the first record ever, +1 per record across rotations
 *   time        RFC 3339 UTC with microseconds ("2024-05-01T12:00:00.000001Z")
 *   host        the writer's host name
 *   event       [a-z][a-z0-9_.-]*; head, rotate and repair are written by the log itself
 *   subject     what the record is about ("member/3", "vnode/17", a policy name)
 *   details     a JSON object
 *   prev        hex BLAKE2b-256 of the previous record (64 zeros before seq 1)
 *   vnode       (only for records about a VNode) its id
 *   vnode_prev  (with vnode) hex hash of that VNode's previous record, zeros for its first
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
 * Lineage index. A walk of the files to find one VNode's records costs the whole log (2.4 s
 * for 100 MB), so the handle also keeps where each record about a VNode lies (the seq, the
 * first seq of its file, which names the file once rotated, its offset and length) in a
 * ring in append order, each entry linked to its VNode's record before it, and the VNode
 * map keeps each VNode's newest entry and record count. The writer adds to it as it
 * appends; open rebuilds it in the walk it already does. pf_audit_lineage_tail() copies a
 * VNode's positions and reads those lines back, checking each one's hash, seq and link:
 * one read per record, whatever the size of the log. Bound: index_records entries of 40
 * bytes (the ring grows by doubling up to it, then forgets its oldest entry), plus 16
 * bytes per VNode slot of the map.
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
#define LINDEX_START 1024u              /* first ring of the lineage index; doubled as needed */

_Static_assert(HASH_BYTES == crypto_generichash_BYTES, "BLAKE2b-256");
_Static_assert(PF_AUDIT_PUBLIC_KEY_BYTES == crypto_sign_ed25519_PUBLICKEYBYTES, "Ed25519 pk");
_Static_assert(PF_AUDIT_SECRET_KEY_BYTES == crypto_sign_ed25519_SECRETKEYBYTES, "Ed25519 sk");
_Static_assert(PF_AUDIT_NO_VNODE == VMAP_EMPTY, "no-VNode marks an empty map slot");
_Static_assert(PF_AUDIT_LINE_MAX == 65536u, "chain_line() names the limit in its reason");

/* VNode id -> hash of its last record (and, for the lineage index, the position of its
 * newest indexed record and how many records it has); open addressing, linear probing. */
struct vmap {
	uint32_t *keys;
	unsigned char (*hashes)[HASH_BYTES];
	uint64_t *last;  /* lindex position + 1 of the newest record, 0: none indexed */
	uint64_t *count; /* records about the VNode in the log */
	uint32_t cap;    /* power of two, or 0 */
	uint32_t count_keys;
};

/* Where one record about a VNode lies: the lineage index's entry. */
struct lent {
	uint64_t seq;
	uint64_t file_first_seq; /* its file: path while live, path.<this> once rotated */
	uint64_t offset;
	uint64_t prev; /* position + 1 of the same VNode's record before it, 0: none */
	uint32_t len;  /* bytes of the line, without its newline */
	uint32_t reserved0;
};
_Static_assert(sizeof(struct lent) == 40, "PF_AUDIT_INDEX_RECORDS_DEFAULT says 40 bytes");

/*
 * The lineage index: the newest cap_max records about VNodes, in append order, in a ring
 * grown by doubling as the log grows. Entry p (position p + 1 in links, 0 meaning none)
 * is held while next - p <= cap; each links to its VNode's record before it, and the vmap
 * holds each VNode's newest, so a VNode's newest records are a walk of its own links:
 * O(its history), never O(the log). Written by the appender (and the walk at open), read
 * by pf_audit_lineage_tail() from any thread: both under pf_audit.ilock.
 */
struct lindex {
	struct lent *ring;
	uint64_t cap; /* entries allocated: 0 or a power of two <= cap_max */
	uint64_t cap_max;
	uint64_t next;           /* entries ever added */
	uint64_t live_first_seq; /* the live file's first seq (path, not rotated) */
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
	struct lindex ix;
	char line[PF_AUDIT_LINE_MAX]; /* the record being built */
};

/* One parsed record. */
struct rec {
	json_t *obj;
	uint64_t seq;
	uint32_t vnode;
	const char *event;
	unsigned char hash[HASH_BYTES];
	unsigned char prev[HASH_BYTES];
	unsigned char vnode_prev[HASH_BYTES];
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
	struct lindex *ix;       /* open: the lineage index to fill (NULL: verify) */
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

static const unsigned char *vmap_get(const struct vmap *m, uint32_t key)
{
	uint32_t j = vmap_find(m, key);

	return j != VMAP_EMPTY ? m->hashes[j] : NULL;
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

/* ---- the lineage index ----------------------------------------------------------- */

/* Whether position pos (entry pos - 1) is still in the ring. */
static bool lindex_holds(const struct lindex *ix, uint64_t pos)
{
	return pos != 0 && pos <= ix->next && ix->next - (pos - 1) <= ix->cap;
}

static const struct lent *lindex_at(const struct lindex *ix, uint64_t pos)
{
	PF_ASSERT(lindex_holds(ix, pos));
	return &ix->ring[(pos - 1) & (ix->cap - 1)];
}

/* Double the ring (up to cap_max), keeping every entry it holds. -ENOMEM: as it was. */
static int lindex_grow(struct lindex *ix)
{
	uint64_t cap = ix->cap ? ix->cap * 2 : PF_MIN(LINDEX_START, ix->cap_max);
	uint64_t first = ix->next > ix->cap ? ix->next - ix->cap : 0;
	struct lent *ring;

	PF_ASSERT(cap <= ix->cap_max && (cap & (cap - 1)) == 0);
	ring = malloc(cap * sizeof(*ring));
	if (ring == NULL)
		return -ENOMEM;
	for (uint64_t p = first; p < ix->next; p++)
		ring[p & (cap - 1)] = ix->ring[p & (ix->cap - 1)];
	free(ix->ring);
	ix->ring = ring;
	ix->cap = cap;
	return 0;
}

/* One more record about the VNode in vmap slot j, at *e (its prev is set here). Once the
 * ring is full (or cannot grow), the oldest entry makes room: its VNode's walk ends there,
 * and its record still counts. Caller holds ilock, or is alone (open). */
static void lindex_add(struct lindex *ix, struct vmap *m, uint32_t j, const struct lent *e)
{
	struct lent *slot;

	PF_ASSERT(j < m->cap && m->keys[j] != VMAP_EMPTY);
	m->count[j]++;
	if (ix->next >= ix->cap && ix->cap < ix->cap_max)
		(void)lindex_grow(ix); /* no memory: the oldest entry goes instead */
	if (ix->cap == 0) {
		m->last[j] = 0;
		return;
	}
	slot = &ix->ring[ix->next & (ix->cap - 1)];
	*slot = *e;
	slot->prev = lindex_holds(ix, m->last[j]) ? m->last[j] : 0;
	m->last[j] = ++ix->next;
	PF_ASSERT(lindex_holds(ix, m->last[j]));
}

static void lindex_free(struct lindex *ix)
{
	free(ix->ring);
	ix->ring = NULL;
	ix->cap = 0;
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
	       strcmp(event, "repair") == 0;
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

/* The fields every record has, with their types; 0 or PF_AUDIT_FAULT_MALFORMED. */
static uint32_t rec_fields(struct rec *r)
{
	json_t *seq = json_object_get(r->obj, "seq"), *vn = json_object_get(r->obj, "vnode");
	size_t want = 8;

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
	if (vn != NULL) {
		if (!json_is_integer(vn) || json_integer_value(vn) < 0 ||
		    json_integer_value(vn) >= (json_int_t)PF_AUDIT_NO_VNODE ||
		    !obj_hex(r->obj, "vnode_prev", r->vnode_prev))
			return PF_AUDIT_FAULT_MALFORMED;
		r->vnode = (uint32_t)json_integer_value(vn);
		want = 10;
	}
	return json_object_size(r->obj) == want ? 0 : PF_AUDIT_FAULT_MALFORMED;
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

/* seq, prev and vnode_prev of a well-formed record against the walk so far. */
static int chain_links(struct chain *c, const struct rec *r, const struct pos *p)
{
	const unsigned char *vprev;

	if (c->next_seq == 0) {
		c->rep->first_seq = r->seq;
		c->rep->anchored = r->seq != 1;
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
	if (r->vnode == PF_AUDIT_NO_VNODE)
		return 0;
	vprev = vmap_get(&c->vmap, r->vnode);
	if (vprev == NULL && c->rep->anchored)
		return 0; /* its earlier records may be in files we do not have */
	if (sodium_memcmp(r->vnode_prev, vprev ? vprev : zero_hash, HASH_BYTES) != 0)
		return chain_fail(c, p, PF_AUDIT_FAULT_VNODE_PREV, r->seq,
				  "vnode_prev is not that VNode's previous record");
	return 0;
}

/* A record about a VNode: its hash for the next link, and (open) its place in the index. */
static int chain_vnode(struct chain *c, const struct rec *r, const struct pos *p, size_t len)
{
	struct lent e = {
		.seq = r->seq,
		.file_first_seq = c->file_first_seq != 0 ? c->file_first_seq : r->seq,
		.offset = p->offset,
		.len = (uint32_t)len,
	};
	int j = vmap_set(&c->vmap, r->vnode, r->hash);

	PF_ASSERT(len < PF_AUDIT_LINE_MAX);
	if (j < 0)
		return j;
	if (c->ix != NULL)
		lindex_add(c->ix, &c->vmap, (uint32_t)j, &e);
	return 0;
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
	if (ret == 0 && r.vnode != PF_AUDIT_NO_VNODE)
		ret = chain_vnode(c, &r, p, len);
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
		const unsigned char *vh = vmap_get(&log->vmap, vnode);
		char vprev[HEX_BYTES];

		to_hex(vprev, sizeof(vprev), vh ? vh : zero_hash, HASH_BYTES);
		if (json_object_set_new(o, "vnode", json_integer(vnode)) < 0 ||
		    json_object_set_new(o, "vnode_prev", json_string(vprev)) < 0) {
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

/* The record just written about vnode (hash, at offset, len bytes with its newline) into
 * the lineage map and index. Cannot fail: the map grew before the write. */
static void append_index(struct pf_audit *log, uint32_t vnode, const unsigned char *hash,
			 uint64_t offset, size_t len)
{
	struct lent e = {
		.seq = log->next_seq,
		.file_first_seq = log->file_first_seq,
		.offset = offset,
		.len = (uint32_t)(len - 1),
	};
	int j;

	PF_ASSERT(len >= 2 && len <= PF_AUDIT_LINE_MAX);
	pthread_mutex_lock(&log->ilock);
	j = vmap_set(&log->vmap, vnode, hash);
	PF_ASSERT(j >= 0);
	lindex_add(&log->ix, &log->vmap, (uint32_t)j, &e);
	pthread_mutex_unlock(&log->ilock);
}

/* Build, write and account one record; details is stolen. */
static int append_locked(struct pf_audit *log, const char *event, const char *subject,
			 json_t *details, uint32_t vnode)
{
	unsigned char hash[HASH_BYTES];
	uint64_t offset = log->file_bytes;
	ssize_t len;
	json_t *o;
	int r = 0;

	if (log->broken < 0) {
		json_decref(details);
		return log->broken;
	}
	if (vnode != PF_AUDIT_NO_VNODE && (log->vmap.count_keys + 1) * 2 > log->vmap.cap) {
		pthread_mutex_lock(&log->ilock);
		r = vmap_grow(&log->vmap); /* now, so that the update after the write cannot fail */
		pthread_mutex_unlock(&log->ilock);
	}
	if (r < 0) {
		json_decref(details);
		return r;
	}
	o = rec_build(log, event, subject, details, vnode);
	if (o == NULL)
		return -ENOMEM;
	len = line_build(log, o, event, hash);
	json_decref(o);
	r = len < 0 ? (int)len : line_write(log, (size_t)len);
	if (r < 0)
		return r;
	if (vnode != PF_AUDIT_NO_VNODE)
		append_index(log, vnode, hash, offset, (size_t)len);
	memcpy(log->last_hash, hash, HASH_BYTES);
	log->next_seq++;
	log->since_sync++;
	if (strcmp(event, "head") != 0)
		log->since_head++;
	return 0;
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
	return r == 0 ? fsync_dir(log->path) : r;
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

int pf_audit_append(struct pf_audit *log, const char *event, const char *subject,
		    const char *details, uint32_t vnode, uint64_t *ret_seq)
{
	json_t *d;
	uint64_t seq;
	int r;

	if (log == NULL || event == NULL || subject == NULL)
		return -EINVAL;
	if (strnlen(event, PF_AUDIT_EVENT_MAX + 1) > PF_AUDIT_EVENT_MAX)
		return -EMSGSIZE;
	if (!event_valid(event) || event_reserved(event))
		return -EINVAL;
	r = text_check(subject, PF_AUDIT_SUBJECT_MAX);
	if (r == 0)
		r = details_parse(details, &d);
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
	lindex_free(&log->ix);
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
	if (o->size >= offsetof(struct pf_audit_opts, index_records) + sizeof(o->index_records) &&
	    o->index_records != 0) {
		if (o->index_records > PF_AUDIT_INDEX_RECORDS_MAX)
			return -EINVAL;
		for (log->ix.cap_max = 16; log->ix.cap_max < o->index_records;)
			log->ix.cap_max *= 2;
	}
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
	unsigned char hash[HASH_BYTES], vnode_prev[HASH_BYTES];
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

static int lin_keep(struct lin *l, struct rec *r, const char *text, size_t len)
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
	memcpy(it->vnode_prev, r->vnode_prev, HASH_BYTES);
	l->count++;
	return 0;
}

static int lin_line(void *arg, const char *text, size_t len, const struct pos *p)
{
	struct lin *l = arg;
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
	if (r.vnode == l->vnode)
		ret = lin_keep(l, &r, text, len);
	json_decref(r.obj);
	return ret;
}

static int lin_yield(struct lin_item *it, pf_audit_record_fn fn, void *arg)
{
	struct pf_audit_record rec = {.line = it->line};
	char *details = json_dumps(json_object_get(it->obj, "details"), DUMP_FLAGS);
	int r;

	if (details == NULL)
		return -ENOMEM;
	rec.seq = (uint64_t)json_integer_value(json_object_get(it->obj, "seq"));
	rec.vnode = (uint32_t)json_integer_value(json_object_get(it->obj, "vnode"));
	rec.time = obj_str(it->obj, "time");
	rec.host = obj_str(it->obj, "host");
	rec.event = obj_str(it->obj, "event");
	rec.subject = obj_str(it->obj, "subject");
	rec.details = details;
	r = fn(&rec, arg);
	free(details);
	return r > 0 ? 0 : r;
}

/* Follow the links back from the newest record, then yield oldest first. */
static int lin_follow(struct lin *l, pf_audit_record_fn fn, void *arg)
{
	size_t i;
	int r = 0;

	for (i = l->count; i-- > 1;)
		if (sodium_memcmp(l->items[i].vnode_prev, l->items[i - 1].hash, HASH_BYTES) != 0)
			return -EBADMSG;
	if (l->count > 0 && !l->anchored &&
	    sodium_memcmp(l->items[0].vnode_prev, zero_hash, HASH_BYTES) != 0)
		return -EBADMSG;
	for (i = 0; r == 0 && i < l->count; i++)
		r = lin_yield(&l->items[i], fn, arg);
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

/* One file of the set, open for reading lines back. */
struct tail_file {
	int fd;
	uint64_t first_seq;
	bool live; /* opened as path (else as path.<first_seq>) */
};

/* The newest `max` indexed records of the VNode in vmap slot j, newest first, into refs:
 * how many. Caller holds ilock. */
static uint32_t tail_refs(const struct pf_audit *log, uint32_t j, uint32_t max, struct lent *refs)
{
	uint64_t pos = log->vmap.last[j];
	uint32_t n = 0;

	while (n < max && lindex_holds(&log->ix, pos)) {
		refs[n] = *lindex_at(&log->ix, pos);
		pos = refs[n++].prev;
	}
	return n;
}

/* Open the file e lies in, named as live (path) or as rotated (path.<first seq>). */
static int tail_open(const struct pf_audit *log, struct tail_file *f, const struct lent *e,
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
 * when the positions were copied may have been rotated since: then it is path.<first seq>. A
 * rotated file stays rotated. */
static int tail_read(const struct pf_audit *log, struct tail_file *f, const struct lent *e,
		     bool live_first, char *buf, struct rec *r)
{
	int err = -ENOENT;

	for (int k = 0; k < (live_first ? 2 : 1); k++) {
		uint64_t seq;
		ssize_t n;
		int fault;
		int o = tail_open(log, f, e, k == 0 && live_first);

		if (o < 0) {
			err = o != -ENOENT ? o : err;
			continue;
		}
		n = pread(f->fd, buf, (size_t)e->len + 1, (off_t)e->offset);
		err = -EBADMSG;
		if (n != (ssize_t)e->len + 1 || buf[e->len] != '\n')
			continue;
		fault = rec_parse(buf, e->len, r, &seq);
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

/* Read the refs (newest first) in that order, then turn l oldest first: 0, or -errno. A file
 * gone (the operator removed old rotated files) ends the walk there, as if the index
 * ended. */
static int tail_load(const struct pf_audit *log, const struct lent *refs, uint32_t n,
		     uint64_t live_first_seq, struct lin *l)
{
	struct tail_file f = {.fd = -1};
	char *buf = malloc(PF_AUDIT_LINE_MAX);
	int r = buf != NULL ? 0 : -ENOMEM;

	for (uint32_t i = 0; r == 0 && i < n; i++) {
		struct rec rec = {0};

		r = tail_read(log, &f, &refs[i], refs[i].file_first_seq == live_first_seq, buf,
			      &rec);
		if (r == 0 && rec.vnode != l->vnode)
			r = -EBADMSG;
		if (r == 0)
			r = lin_keep(l, &rec, buf, refs[i].len);
		json_decref(rec.obj);
	}
	if (r == -ENOENT) {
		l->anchored = true; /* older records are in files that are gone */
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
	uint64_t total = 0, live_first_seq;
	struct lent *refs;
	uint32_t j, n = 0;
	int r;

	if (log == NULL || fn == NULL || vnode == PF_AUDIT_NO_VNODE || max == 0 ||
	    max > PF_AUDIT_LINEAGE_TAIL_MAX)
		return -EINVAL;
	refs = malloc(max * sizeof(*refs));
	if (refs == NULL)
		return -ENOMEM;
	pthread_mutex_lock(&log->ilock);
	j = vmap_find(&log->vmap, vnode);
	if (j != VMAP_EMPTY) {
		total = log->vmap.count[j];
		n = tail_refs(log, j, max, refs);
	}
	live_first_seq = log->ix.live_first_seq;
	pthread_mutex_unlock(&log->ilock);
	PF_ASSERT(n <= max && n <= total);
	/* The first one read links to zeros only when it is the VNode's first record. */
	l.anchored = n < total || log->anchored;
	r = tail_load(log, refs, n, live_first_seq, &l);
	if (r == 0)
		r = lin_follow(&l, fn, arg);
	lin_free(&l);
	free(refs);
	if (r >= 0 && ret_total != NULL)
		*ret_total = total;
	return r;
}

/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/ctl/test_ctl_audit.c
 * Goal: the audit log round-trips (append, close, verify, reopen and continue), and
 * pf_audit_verify() names the first broken record, at the right seq, line and offset with
 * the right cause, for each way of tampering with it: an edited byte, an edit with the
 * hash recomputed, a deleted record, two records swapped, a torn (truncated) last line, a
 * changed signature with the chain rebuilt, and a whole log forged and re-signed with
 * another key. Also: lineage across interleaved records and rotated files, rotation
 * keeping one chain, the lineage index (a VNode's newest records as the files give them,
 * bounded, reading that VNode's lines alone, rebuilt at open, read while another thread
 * appends and rotates), a verification's progress up to the whole set and its stop, bad
 * inputs refused with nothing written, key file permissions; the writer's files (log, key,
 * token) refused, naming the file or directory and why, when another uid (65534) owns
 * them, when they are symbolic links (dangling or not: nothing is written or created at the
 * target), have a second name, or lie in a directory others may write to;
 * PF_AUDIT_REPAIR_TORN cutting only a record cut short, never a last line of text in a
 * file named as the log.
 * Method: logs in a mkdtemp() directory; tampering edits the files as text; the "forger"
 * rebuilds hashes, links and signatures with jansson and libsodium directly.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <jansson.h>
#include <setjmp.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "pflight/audit.h"

#define LINES_MAX 4096u
#define VNODES_TEST 64u

static char dir[64];
static unsigned char pk[PF_AUDIT_PUBLIC_KEY_BYTES], sk[PF_AUDIT_SECRET_KEY_BYTES];

/* ---- helpers ---------------------------------------------------------------------- */

static void log_path(char *buf, size_t bytes, const char *name)
{
	(void)snprintf(buf, bytes, "%s/%s.log", dir, name);
}

static struct pf_audit *open_log(const char *path, const unsigned char *key, uint32_t sign_every,
				 uint64_t rotate_bytes)
{
	struct pf_audit_opts o;
	struct pf_audit *log = NULL;

	pf_audit_opts_init(&o);
	o.host = "test-host";
	o.secret_key = key;
	o.sign_every = sign_every;
	o.rotate_bytes = rotate_bytes;
	o.fsync_policy = PF_AUDIT_FSYNC_HEAD;
	assert_int_equal(pf_audit_open(path, &o, &log, NULL), 0);
	return log;
}

/* n records: "claim" of vnode i % 3 for even i, "join" of no VNode for odd i. */
static void append_n(struct pf_audit *log, unsigned n, uint64_t first_seq)
{
	char details[64];
	uint64_t seq;

	for (unsigned i = 0; i < n; i++) {
		(void)snprintf(details, sizeof(details), "{\"n\":\"aaaa%u\",\"i\":%u}", i, i);
		assert_int_equal(pf_audit_append(log, i % 2 ? "join" : "claim", "member/1", details,
						 i % 2 ? PF_AUDIT_NO_VNODE : i % 3, &seq),
				 0);
		if (first_seq != 0)
			assert_int_equal(seq, first_seq + i);
	}
}

/* A log of n records and no heads (no key). */
static void make_plain(const char *path, unsigned n)
{
	struct pf_audit *log = open_log(path, NULL, 0, 0);

	append_n(log, n, 1);
	assert_int_equal(pf_audit_close(log), 0);
}

struct lines {
	char *v[LINES_MAX];
	size_t n;
};

static void lines_read(const char *path, struct lines *l)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0;
	ssize_t n;

	assert_non_null(f);
	l->n = 0;
	while ((n = getline(&buf, &cap, f)) > 0) {
		assert_true(l->n < LINES_MAX);
		if (buf[n - 1] == '\n')
			buf[n - 1] = '\0';
		l->v[l->n++] = strdup(buf);
	}
	free(buf);
	fclose(f);
}

static void lines_write(const char *path, struct lines *l)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	for (size_t i = 0; i < l->n; i++)
		fprintf(f, "%s\n", l->v[i]);
	fclose(f);
}

static void lines_free(struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	l->n = 0;
}

/* Byte offset of 1-based line k in l. */
static uint64_t line_offset(const struct lines *l, size_t k)
{
	uint64_t off = 0;

	for (size_t i = 0; i + 1 < k; i++)
		off += strlen(l->v[i]) + 1;
	return off;
}

static void hex_set(json_t *o, const char *key, const unsigned char *bin, size_t bytes)
{
	char hex[2 * PF_AUDIT_SECRET_KEY_BYTES + 1];

	sodium_bin2hex(hex, sizeof(hex), bin, bytes);
	json_object_set_new(o, key, json_string(hex));
}

/* The forger: one line re-linked after prev and re-hashed; heads re-signed with fsk. */
static char *forge_line(const char *line, unsigned char prev[32], unsigned char (*vmap)[32],
			const unsigned char *fsk)
{
	json_t *o = json_loads(line, 0, NULL), *vn;
	unsigned char msg[40], sig[64], hash[32];
	char *dump;

	assert_non_null(o);
	json_object_del(o, "hash");
	hex_set(o, "prev", prev, 32);
	vn = json_object_get(o, "vnode");
	if (vn != NULL)
		hex_set(o, "vnode_prev", vmap[json_integer_value(vn)], 32);
	if (fsk != NULL && strcmp(json_string_value(json_object_get(o, "event")), "head") == 0) {
		json_t *d = json_object_get(o, "details");

		memcpy(msg, "pfaudit1", 8);
		memcpy(msg + 8, prev, 32);
		crypto_sign_ed25519_detached(sig, NULL, msg, sizeof(msg), fsk);
		hex_set(d, "signed_hash", prev, 32);
		hex_set(d, "sig", sig, 64);
		hex_set(d, "pubkey", fsk + 32, 32);
	}
	dump = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	crypto_generichash(hash, 32, (const unsigned char *)dump, strlen(dump), NULL, 0);
	free(dump);
	hex_set(o, "hash", hash, 32);
	dump = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	memcpy(prev, hash, 32);
	if (vn != NULL)
		memcpy(vmap[json_integer_value(vn)], hash, 32);
	json_decref(o);
	return dump;
}

/* Rebuild every hash and link of l (what a forger with write access can do). */
static void forge_all(struct lines *l, const unsigned char *fsk)
{
	unsigned char prev[32] = {0}, vmap[VNODES_TEST][32];

	memset(vmap, 0, sizeof(vmap));
	for (size_t i = 0; i < l->n; i++) {
		char *n = forge_line(l->v[i], prev, vmap, fsk);

		free(l->v[i]);
		l->v[i] = n;
	}
}

/* Replace the first occurrence of from in line k (1-based) with to (same length). */
static void edit_line(struct lines *l, size_t k, const char *from, const char *to)
{
	char *p = strstr(l->v[k - 1], from);

	assert_non_null(p);
	assert_int_equal(strlen(from), strlen(to));
	memcpy(p, to, strlen(to));
}

static int verify_expect(const char *path, const unsigned char *key, uint32_t fault, uint64_t seq,
			 uint64_t line, struct pf_audit_report *rep)
{
	int r;

	rep->size = sizeof(*rep);
	r = pf_audit_verify(path, key, rep);
	if (rep->fault != fault || (fault && (rep->bad_seq != seq || rep->bad_line != line)))
		print_error("verify %s: fault %s seq %llu line %llu (%s)\n", path,
			    pf_audit_fault_name(rep->fault), (unsigned long long)rep->bad_seq,
			    (unsigned long long)rep->bad_line, rep->reason);
	assert_int_equal(r, fault ? -EBADMSG : 0);
	assert_int_equal(rep->fault, fault);
	if (fault) {
		assert_int_equal(rep->bad_seq, seq);
		assert_int_equal(rep->bad_line, line);
		assert_string_equal(rep->bad_file, path);
	}
	return r;
}

/* ---- round trip, reopen ----------------------------------------------------------- */

static void test_audit_round_trip_signed(void **state)
{
	struct pf_audit_report rep;
	unsigned char opk[32], osk[64];
	struct pf_audit *log;
	char path[128];

	(void)state;
	log_path(path, sizeof(path), "round");
	log = open_log(path, sk, 4, 0);
	append_n(log, 10, 0); /* heads take seqs too */
	assert_int_equal(pf_audit_close(log), 0);
	/* 10 records, heads after records 4 and 8 (seq 5, 10) and at close (seq 13). */
	verify_expect(path, pk, 0, 0, 0, &rep);
	assert_int_equal(rep.records, 13);
	assert_int_equal(rep.heads, 3);
	assert_int_equal(rep.last_seq, 13);
	assert_int_equal(rep.unsigned_tail, 0);
	assert_int_equal(rep.anchored, 0);
	verify_expect(path, NULL, 0, 0, 0, &rep);
	assert_int_equal(pf_audit_keygen(opk, osk), 0);
	verify_expect(path, opk, PF_AUDIT_FAULT_KEY, 5, 5, &rep);
}

static int count_cb(const struct pf_audit_record *rec, void *arg)
{
	uint64_t *seqs = arg;

	seqs[++seqs[0]] = rec->seq;
	return 0;
}

static void test_audit_reopen_continues(void **state)
{
	struct pf_audit_report rep;
	struct pf_audit *log;
	uint64_t seqs[64] = {0}, seq;
	char path[128];

	(void)state;
	log_path(path, sizeof(path), "reopen");
	log = open_log(path, NULL, 0, 0);
	append_n(log, 3, 1); /* vnode 0 at seq 1, vnode 2 at seq 3 */
	assert_int_equal(pf_audit_close(log), 0);
	log = open_log(path, NULL, 0, 0);
	assert_int_equal(pf_audit_append(log, "move", "vnode/2", "{\"to\":4}", 2, &seq), 0);
	assert_int_equal(seq, 4);
	assert_int_equal(pf_audit_close(log), 0);
	verify_expect(path, NULL, 0, 0, 0, &rep);
	assert_int_equal(rep.records, 4);
	assert_int_equal(pf_audit_lineage(path, 2, count_cb, seqs), 2);
	assert_int_equal(seqs[1], 3);
	assert_int_equal(seqs[2], 4);
}

/* ---- tampering ---------------------------------------------------------------------- */

static void test_audit_tamper_edit_byte(void **state)
{
	struct pf_audit_report rep;
	struct lines l;
	char path[128];

	(void)state;
	log_path(path, sizeof(path), "edit");
	make_plain(path, 10);
	lines_read(path, &l);
	edit_line(&l, 5, "aaaa4", "aaab4");
	lines_write(path, &l);
	verify_expect(path, NULL, PF_AUDIT_FAULT_EDITED, 5, 5, &rep);
	assert_int_equal(rep.bad_offset, line_offset(&l, 5));
	lines_free(&l);
}

static void test_audit_tamper_edit_rehashed(void **state)
{
	unsigned char prev[32], vmap[VNODES_TEST][32];
	struct pf_audit_report rep;
	struct lines l;
	char path[128], *n;
	json_t *o;

	(void)state;
	log_path(path, sizeof(path), "rehash");
	make_plain(path, 10);
	lines_read(path, &l);
	edit_line(&l, 5, "aaaa4", "zzzz4");
	/* Recompute record 5's hash from its own (honest) prev: record 6 no longer links. */
	o = json_loads(l.v[3], 0, NULL);
	sodium_hex2bin(prev, 32, json_string_value(json_object_get(o, "hash")), 64, NULL, NULL,
		       NULL);
	json_decref(o);
	memset(vmap, 0, sizeof(vmap));
	o = json_loads(l.v[4], 0, NULL);
	sodium_hex2bin(vmap[json_integer_value(json_object_get(o, "vnode"))], 32,
		       json_string_value(json_object_get(o, "vnode_prev")), 64, NULL, NULL, NULL);
	json_decref(o);
	n = forge_line(l.v[4], prev, vmap, NULL);
	free(l.v[4]);
	l.v[4] = n;
	lines_write(path, &l);
	verify_expect(path, NULL, PF_AUDIT_FAULT_PREV, 6, 6, &rep);
	lines_free(&l);
}

static void test_audit_tamper_delete(void **state)
{
	struct pf_audit_report rep;
	struct lines l;
	char path[128];
	uint64_t off;

	(void)state;
	log_path(path, sizeof(path), "delete");
	make_plain(path, 10);
	lines_read(path, &l);
	off = line_offset(&l, 4);
	free(l.v[3]);
	memmove(&l.v[3], &l.v[4], (l.n - 4) * sizeof(l.v[0]));
	l.n--;
	lines_write(path, &l);
	verify_expect(path, NULL, PF_AUDIT_FAULT_SEQ_GAP, 5, 4, &rep);
	assert_int_equal(rep.expected_seq, 4);
	assert_int_equal(rep.bad_offset, off);
	lines_free(&l);
}

static void test_audit_tamper_swap(void **state)
{
	struct pf_audit_report rep;
	struct lines l;
	char path[128], *t;

	(void)state;
	log_path(path, sizeof(path), "swap");
	make_plain(path, 10);
	lines_read(path, &l);
	t = l.v[6];
	l.v[6] = l.v[7];
	l.v[7] = t;
	lines_write(path, &l);
	verify_expect(path, NULL, PF_AUDIT_FAULT_SEQ_GAP, 8, 7, &rep);
	assert_int_equal(rep.expected_seq, 7);
	/* Swapped and renumbered (seq edited back): the hash gives it away. */
	edit_line(&l, 7, "\"seq\":8", "\"seq\":7");
	edit_line(&l, 8, "\"seq\":7", "\"seq\":8");
	lines_write(path, &l);
	verify_expect(path, NULL, PF_AUDIT_FAULT_EDITED, 7, 7, &rep);
	/* ...and with every hash rebuilt too (no key): only prev/vnode links remain, and the
	 * forger rebuilt those: without signatures this is undetectable. */
	forge_all(&l, NULL);
	lines_write(path, &l);
	verify_expect(path, NULL, PF_AUDIT_FAULT_NONE, 0, 0, &rep);
	lines_free(&l);
}

static void test_audit_tamper_truncate_torn(void **state)
{
	struct pf_audit_report rep;
	struct pf_audit_opts o;
	struct pf_audit *log = NULL;
	struct lines l;
	char path[128];
	struct pf_audit_refusal why = {.size = sizeof(why)};
	uint64_t seq;

	(void)state;
	log_path(path, sizeof(path), "torn");
	make_plain(path, 10);
	lines_read(path, &l);
	assert_int_equal(truncate(path, (off_t)(line_offset(&l, 8) + 20)), 0);
	verify_expect(path, NULL, PF_AUDIT_FAULT_TORN, 0, 8, &rep);
	assert_int_equal(rep.bad_offset, line_offset(&l, 8));
	/* Open refuses, reports the offset, changes nothing. */
	pf_audit_opts_init(&o);
	assert_int_equal(pf_audit_open(path, &o, &log, &why), -EBADMSG);
	assert_null(log);
	assert_int_equal(why.offset, line_offset(&l, 8));
	assert_string_equal(why.path, path);
	/* Repair: truncated, a `repair` record (seq 8) says so, appends continue. */
	o.flags = PF_AUDIT_REPAIR_TORN;
	assert_int_equal(pf_audit_open(path, &o, &log, &why), 0);
	assert_int_equal(pf_audit_append(log, "join", "member/2", NULL, PF_AUDIT_NO_VNODE, &seq),
			 0);
	assert_int_equal(seq, 9);
	assert_int_equal(pf_audit_close(log), 0);
	verify_expect(path, NULL, 0, 0, 0, &rep);
	lines_free(&l);
	lines_read(path, &l);
	assert_non_null(strstr(l.v[7], "\"event\":\"repair\""));
	assert_non_null(strstr(l.v[7], "\"dropped_bytes\":20"));
	lines_free(&l);
}

static void test_audit_tamper_signature(void **state)
{
	struct pf_audit_report rep;
	struct pf_audit *log;
	struct lines l;
	char path[128];

	(void)state;
	log_path(path, sizeof(path), "sig");
	log = open_log(path, sk, 4, 0);
	append_n(log, 10, 0); /* heads take seqs too */
	assert_int_equal(pf_audit_close(log), 0);
	lines_read(path, &l);
	/* A changed signature alone is an edit... */
	assert_non_null(strstr(l.v[4], "\"event\":\"head\""));
	{
		char *s = strstr(l.v[4], "\"sig\":\"") + 7;

		*s = *s == '0' ? '1' : '0';
	}
	lines_write(path, &l);
	verify_expect(path, pk, PF_AUDIT_FAULT_EDITED, 5, 5, &rep);
	/* ...and with the chain rebuilt around it, the signature no longer verifies. */
	forge_all(&l, NULL);
	lines_write(path, &l);
	verify_expect(path, pk, PF_AUDIT_FAULT_SIGNATURE, 5, 5, &rep);
	lines_free(&l);
}

static void test_audit_forged_with_other_key(void **state)
{
	unsigned char fpk[32], fsk[64];
	struct pf_audit_report rep;
	struct pf_audit *log;
	struct lines l;
	char path[128];

	(void)state;
	log_path(path, sizeof(path), "forged");
	log = open_log(path, sk, 4, 0);
	append_n(log, 10, 0); /* heads take seqs too */
	assert_int_equal(pf_audit_close(log), 0);
	lines_read(path, &l);
	edit_line(&l, 2, "aaaa1", "evil1");
	assert_int_equal(pf_audit_keygen(fpk, fsk), 0);
	forge_all(&l, fsk);
	lines_write(path, &l);
	/* Without the key the forgery passes (heads are only self-consistent)... */
	verify_expect(path, NULL, 0, 0, 0, &rep);
	/* ...with it, the first head names the spot. */
	verify_expect(path, pk, PF_AUDIT_FAULT_KEY, 5, 5, &rep);
	/* Heads stripped entirely and the rest renumbered and rechained: unsigned. */
	for (size_t i = 0; i < l.n; i++) {
		if (strstr(l.v[i], "\"event\":\"head\"") == NULL)
			continue;
		free(l.v[i]);
		memmove(&l.v[i], &l.v[i + 1], (l.n - i - 1) * sizeof(l.v[0]));
		l.n--;
		i--;
	}
	for (size_t i = 0; i < l.n; i++) {
		json_t *o = json_loads(l.v[i], 0, NULL);
		char *n;

		json_object_set_new(o, "seq", json_integer((json_int_t)i + 1));
		n = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
		json_decref(o);
		free(l.v[i]);
		l.v[i] = n;
	}
	forge_all(&l, NULL);
	lines_write(path, &l);
	verify_expect(path, NULL, 0, 0, 0, &rep);
	rep.size = sizeof(rep);
	assert_int_equal(pf_audit_verify(path, pk, &rep), -EBADMSG);
	assert_int_equal(rep.fault, PF_AUDIT_FAULT_UNSIGNED);
	lines_free(&l);
}

/* Line k (1-based) of l with pad bytes of 'x' inserted after the first `after`. */
static void pad_line(struct lines *l, size_t k, const char *after, size_t pad)
{
	char *p = strstr(l->v[k - 1], after), *n;
	size_t head, len = strlen(l->v[k - 1]);

	assert_non_null(p);
	head = (size_t)(p - l->v[k - 1]) + strlen(after);
	n = malloc(len + pad + 1);
	assert_non_null(n);
	memcpy(n, l->v[k - 1], head);
	memset(n + head, 'x', pad);
	memcpy(n + head + pad, l->v[k - 1] + head, len - head + 1);
	free(l->v[k - 1]);
	l->v[k - 1] = n;
}

/* A line longer than any record: malformed where it is, with no seq read from it (it is
 * not parsed), and never taken for a torn tail, so open repairs nothing and keeps it. */
static void test_audit_overlong_line(void **state)
{
	struct pf_audit_report rep;
	struct pf_audit_opts o;
	struct pf_audit *log = NULL;
	struct stat st0, st1;
	struct pf_audit_refusal why = {.size = sizeof(why)};
	struct lines l;
	char path[128];

	(void)state;
	log_path(path, sizeof(path), "overlong");
	make_plain(path, 10);
	lines_read(path, &l);
	pad_line(&l, 5, "aaaa4", PF_AUDIT_LINE_MAX);
	lines_write(path, &l);
	verify_expect(path, NULL, PF_AUDIT_FAULT_MALFORMED, 0, 5, &rep);
	assert_int_equal(rep.expected_seq, 5);
	assert_int_equal(rep.bad_offset, line_offset(&l, 5));
	assert_non_null(strstr(rep.reason, "longer than 65536 bytes"));
	lines_free(&l);

	/* The last line of the live file: still malformed, not torn; open refuses it and
	 * truncates nothing, even when asked to repair a torn tail. */
	log_path(path, sizeof(path), "overlong-last");
	make_plain(path, 10);
	lines_read(path, &l);
	pad_line(&l, 10, "aaaa9", 3 * PF_AUDIT_LINE_MAX);
	lines_write(path, &l);
	verify_expect(path, NULL, PF_AUDIT_FAULT_MALFORMED, 0, 10, &rep);
	assert_int_equal(stat(path, &st0), 0);
	pf_audit_opts_init(&o);
	o.flags = PF_AUDIT_REPAIR_TORN;
	assert_int_equal(pf_audit_open(path, &o, &log, &why), -EPROTO);
	assert_null(log);
	assert_int_equal(why.offset, line_offset(&l, 10));
	assert_non_null(strstr(why.reason, "longer than 65536 bytes"));
	assert_int_equal(stat(path, &st1), 0);
	assert_int_equal(st0.st_size, st1.st_size);
	assert_int_equal(pf_audit_lineage(path, 0, count_cb, (uint64_t[64]){0}), -EBADMSG);
	lines_free(&l);
}

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define UNDER_SANITIZER 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
	__has_feature(memory_sanitizer)
#define UNDER_SANITIZER 1
#endif
#endif
#ifndef UNDER_SANITIZER
#define UNDER_SANITIZER 0
#endif

/* Whether this process may limit its address space: not under a sanitizer or valgrind,
 * whose runtimes need address space of their own. */
static bool may_limit_memory(void)
{
	const char *preload = getenv("LD_PRELOAD");

	return !UNDER_SANITIZER && (preload == NULL || strstr(preload, "vgpreload") == NULL);
}

/* The child's part: address space limited to what it uses now plus 64 MiB, then verify.
 * Exit status: 0 the walk stopped at line 6 as malformed, 1 it said OK, 2 anything else. */
static int verify_limited(const char *path)
{
	struct pf_audit_report rep = {.size = sizeof(rep)};
	unsigned long pages = 0;
	struct rlimit rl;
	FILE *f = fopen("/proc/self/statm", "r");
	int r;

	if (f == NULL || fscanf(f, "%lu", &pages) != 1)
		return 2;
	fclose(f);
	rl.rlim_cur = rl.rlim_max = pages * (rlim_t)sysconf(_SC_PAGESIZE) + (64u << 20);
	if (setrlimit(RLIMIT_AS, &rl) < 0)
		return 2;
	r = pf_audit_verify(path, NULL, &rep);
	if (r == 0)
		return 1;
	if (r != -EBADMSG || rep.fault != PF_AUDIT_FAULT_MALFORMED || rep.bad_line != 6 ||
	    rep.bad_seq != 0)
		return 2;
	return 0;
}

/* A line far longer than the memory the verifier may use (1 GiB of NUL bytes, a hole in
 * a sparse file): running out of memory while reading it is no end of file, so it never
 * verifies as OK; the verifier reads no more of a line than a record can hold. */
static void test_audit_line_beyond_memory(void **state)
{
	struct stat st;
	char path[128];
	int status;
	pid_t pid;

	(void)state;
	if (!may_limit_memory())
		return;
	log_path(path, sizeof(path), "huge");
	make_plain(path, 5);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(truncate(path, st.st_size + (1ll << 30)), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(verify_limited(path));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_int_equal(unlink(path), 0);
}

/* jansson's allocator for the sweep below: the fail_at-th allocation and every one after
 * it fail (0: none does). */
static unsigned long alloc_count, alloc_fail_at;

static void *failing_malloc(size_t bytes)
{
	if (alloc_fail_at != 0 && ++alloc_count >= alloc_fail_at)
		return NULL;
	return malloc(bytes);
}

/* Memory running out while records are checked (every allocation jansson makes, the n-th
 * and on, for each n in turn): verify says so, -ENOMEM, and never names a record as
 * broken nor says OK with records missing. */
static void test_audit_verify_out_of_memory(void **state)
{
	struct pf_audit_report rep;
	unsigned long n;
	char path[128];
	int r;

	(void)state;
	log_path(path, sizeof(path), "nomem");
	make_plain(path, 6);
	for (n = 1, r = -ENOMEM; r == -ENOMEM; n++) {
		alloc_count = 0;
		alloc_fail_at = n;
		json_set_alloc_funcs(failing_malloc, free);
		memset(&rep, 0, sizeof(rep));
		rep.size = sizeof(rep);
		r = pf_audit_verify(path, NULL, &rep);
		json_set_alloc_funcs(malloc, free);
		if (r != 0 && r != -ENOMEM)
			print_error("allocation %lu failed: %d, %s\n", n, r, rep.reason);
		assert_true(r == 0 || r == -ENOMEM);
	}
	assert_true(n > 6); /* each record allocates */
	assert_int_equal(rep.records, 6);
	assert_int_equal(rep.fault, PF_AUDIT_FAULT_NONE);
	/* Lineage likewise: -ENOMEM, or all of VNode 0's records (seq 1), never -EBADMSG. */
	for (n = 1, r = -ENOMEM; r == -ENOMEM; n++) {
		uint64_t seqs[16] = {0};

		alloc_count = 0;
		alloc_fail_at = n;
		json_set_alloc_funcs(failing_malloc, free);
		r = pf_audit_lineage(path, 0, count_cb, seqs);
		json_set_alloc_funcs(malloc, free);
		assert_true(r == 1 || r == -ENOMEM);
	}
	alloc_fail_at = 0;
}

static void test_audit_open_refuses_broken_chain(void **state)
{
	struct pf_audit_opts o;
	struct pf_audit *log = NULL;
	struct lines l;
	char path[128];
	struct pf_audit_refusal why = {.size = sizeof(why)};

	(void)state;
	log_path(path, sizeof(path), "broken");
	make_plain(path, 6);
	lines_read(path, &l);
	edit_line(&l, 3, "aaaa2", "aaaa3");
	lines_write(path, &l);
	pf_audit_opts_init(&o);
	o.flags = PF_AUDIT_REPAIR_TORN; /* repairs torn tails only */
	assert_int_equal(pf_audit_open(path, &o, &log, &why), -EPROTO);
	assert_null(log);
	assert_int_equal(why.offset, line_offset(&l, 3));
	assert_string_equal(why.path, path);
	lines_free(&l);
}

/* ---- lineage, rotation -------------------------------------------------------------- */

static void test_audit_lineage_interleaved(void **state)
{
	struct pf_audit *log;
	uint64_t seqs[64] = {0};
	char path[128];

	(void)state;
	log_path(path, sizeof(path), "lineage");
	log = open_log(path, NULL, 0, 0);
	append_n(log, 20, 1); /* vnode i % 3 at even i: seq = i + 1 */
	assert_int_equal(pf_audit_close(log), 0);
	/* vnode 1: i = 4, 10, 16 -> seq 5, 11, 17 */
	assert_int_equal(pf_audit_lineage(path, 1, count_cb, seqs), 3);
	assert_int_equal(seqs[0], 3);
	assert_int_equal(seqs[1], 5);
	assert_int_equal(seqs[2], 11);
	assert_int_equal(seqs[3], 17);
	seqs[0] = 0;
	assert_int_equal(pf_audit_lineage(path, 9, count_cb, seqs), 0);
	assert_int_equal(pf_audit_lineage(path, PF_AUDIT_NO_VNODE, count_cb, seqs), -EINVAL);
}

static void test_audit_rotation_keeps_chain(void **state)
{
	struct pf_audit_report rep;
	struct pf_audit *log;
	uint64_t seqs[256] = {0};
	char path[128], first[160];
	struct lines l;

	(void)state;
	log_path(path, sizeof(path), "rotate");
	log = open_log(path, sk, 16, 2048);
	append_n(log, 60, 0);
	assert_int_equal(pf_audit_close(log), 0);
	log = open_log(path, sk, 16, 2048); /* reopen continues across the set */
	append_n(log, 30, 0);
	assert_int_equal(pf_audit_close(log), 0);
	verify_expect(path, pk, 0, 0, 0, &rep);
	assert_true(rep.files > 3);
	assert_int_equal(rep.anchored, 0);
	assert_int_equal(pf_audit_lineage(path, 0, count_cb, seqs), 15); /* i % 6 == 0 */
	/* Delete the second file: the third begins with a seq gap. */
	(void)snprintf(first, sizeof(first), "%s.%020d", path, 1);
	assert_int_equal(access(first, F_OK), 0);
	lines_read(first, &l);
	{
		char second[160];
		unsigned long long next = (unsigned long long)l.n + 1;

		(void)snprintf(second, sizeof(second), "%s.%020llu", path, next);
		assert_int_equal(unlink(second), 0);
	}
	rep.size = sizeof(rep);
	assert_int_equal(pf_audit_verify(path, pk, &rep), -EBADMSG);
	assert_int_equal(rep.fault, PF_AUDIT_FAULT_SEQ_GAP);
	assert_int_equal(rep.bad_line, 1);
	assert_int_equal(rep.expected_seq, l.n + 1);
	lines_free(&l);
}

/* ---- lineage from the index ------------------------------------------------------------ */

static struct pf_audit *open_log_index(const char *path, const unsigned char *key,
				       uint64_t rotate_bytes, uint64_t index_records)
{
	struct pf_audit_opts o;
	struct pf_audit *log = NULL;

	pf_audit_opts_init(&o);
	o.host = "test-host";
	o.secret_key = key;
	o.sign_every = 16;
	o.rotate_bytes = rotate_bytes;
	o.index_records = index_records;
	o.fsync_policy = PF_AUDIT_FSYNC_HEAD;
	assert_int_equal(pf_audit_open(path, &o, &log, NULL), 0);
	return log;
}

/* The index gives, for each VNode, the seqs the walk of the files gives (its newest max),
 * and the VNode's whole count. */
static void tail_matches_walk(struct pf_audit *log, const char *path, uint32_t vnode, uint32_t max)
{
	uint64_t walk[512] = {0}, tail[512] = {0}, total = 0;
	int n = pf_audit_lineage(path, vnode, count_cb, walk);
	int k = pf_audit_lineage_tail(log, vnode, max, count_cb, tail, &total);
	uint64_t shown = (uint64_t)n < max ? (uint64_t)n : max;

	assert_true(n >= 0 && n < 500);
	assert_int_equal(k, shown);
	assert_int_equal(total, n);
	for (uint64_t i = 1; i <= shown; i++)
		assert_int_equal(tail[i], walk[(uint64_t)n - shown + i]);
}

static void test_audit_lineage_tail_across_rotations(void **state)
{
	struct pf_audit *log;
	uint64_t seqs[8] = {0}, total = 7;
	char path[128];

	(void)state;
	log_path(path, sizeof(path), "tail");
	log = open_log_index(path, sk, 2048, 0);
	append_n(log, 90, 0);
	for (uint32_t v = 0; v < 3; v++) {
		tail_matches_walk(log, path, v, PF_AUDIT_LINEAGE_TAIL_MAX);
		tail_matches_walk(log, path, v, 4);
	}
	assert_int_equal(pf_audit_lineage_tail(log, 9, 8, count_cb, seqs, &total), 0);
	assert_int_equal(total, 0);
	assert_int_equal(pf_audit_close(log), 0);
	/* Rebuilt from the set at open, and kept as it goes on. */
	log = open_log_index(path, sk, 2048, 0);
	for (uint32_t v = 0; v < 3; v++)
		tail_matches_walk(log, path, v, 100);
	append_n(log, 30, 0);
	for (uint32_t v = 0; v < 3; v++)
		tail_matches_walk(log, path, v, 100);
	assert_int_equal(pf_audit_lineage_tail(log, PF_AUDIT_NO_VNODE, 8, count_cb, seqs, NULL),
			 -EINVAL);
	assert_int_equal(pf_audit_lineage_tail(log, 1, 0, count_cb, seqs, NULL), -EINVAL);
	assert_int_equal(
		pf_audit_lineage_tail(log, 1, PF_AUDIT_LINEAGE_TAIL_MAX + 1, count_cb, seqs, NULL),
		-EINVAL);
	assert_int_equal(pf_audit_lineage_tail(NULL, 1, 8, count_cb, seqs, NULL), -EINVAL);
	assert_int_equal(pf_audit_close(log), 0);
}

/* The index is bounded: past index_records records, a VNode's oldest records are not
 * yielded, though still counted; what is yielded is its newest, linked. */
static void test_audit_lineage_tail_bounded(void **state)
{
	uint64_t tail[64] = {0}, walk[64] = {0}, total = 0;
	struct pf_audit *log;
	char path[128];
	int n, k;

	(void)state;
	log_path(path, sizeof(path), "tail-bounded");
	log = open_log_index(path, sk, 0, 16); /* the 16 newest records */
	append_n(log, 120, 0);                 /* 60 about VNodes, 20 each, and heads */
	n = pf_audit_lineage(path, 1, count_cb, walk);
	assert_int_equal(n, 20);
	k = pf_audit_lineage_tail(log, 1, 64, count_cb, tail, &total);
	assert_int_equal(total, 20);
	assert_true(k >= 2 && k <= 3); /* a third of the half of 16 that is about VNodes */
	for (int i = 1; i <= k; i++)
		assert_int_equal(tail[i], walk[n - k + i]);
	assert_int_equal(pf_audit_close(log), 0);
}

/* It reads the VNode's lines alone: a broken record of another VNode, or no VNode, does
 * not stop it (the walk of the files does stop there), and an edit of one of its own
 * records is found. */
static void test_audit_lineage_tail_reads_only_its_records(void **state)
{
	uint64_t seqs[64] = {0}, total = 0;
	struct pf_audit *log;
	struct lines l;
	char path[128];

	(void)state;
	log_path(path, sizeof(path), "tail-reads");
	log = open_log_index(path, NULL, 0, 0);
	append_n(log, 20, 1); /* vnode 1 at seq 5, 11, 17; line k holds seq k */
	lines_read(path, &l);
	edit_line(&l, 2, "member/1", "member/9"); /* a join, no VNode */
	edit_line(&l, 3, "member/1", "member/9"); /* vnode 2 */
	lines_write(path, &l);
	assert_int_equal(pf_audit_lineage(path, 1, count_cb, seqs), -EBADMSG);
	assert_int_equal(pf_audit_lineage_tail(log, 1, 64, count_cb, seqs, &total), 3);
	assert_int_equal(total, 3);
	assert_int_equal(seqs[1], 5);
	assert_int_equal(seqs[3], 17);
	assert_int_equal(pf_audit_lineage_tail(log, 2, 64, count_cb, seqs, &total), -EBADMSG);
	edit_line(&l, 11, "member/1", "member/9");
	lines_write(path, &l);
	assert_int_equal(pf_audit_lineage_tail(log, 1, 64, count_cb, seqs, &total), -EBADMSG);
	lines_free(&l);
	assert_int_equal(pf_audit_close(log), 0);
}

/* Rotated files removed since the index was built: the newer records are still yielded. */
static void test_audit_lineage_tail_rotated_removed(void **state)
{
	uint64_t seqs[256] = {0}, walk[256] = {0}, total = 0;
	char path[128], first[160];
	struct pf_audit *log;
	int n, k;

	(void)state;
	log_path(path, sizeof(path), "tail-removed");
	log = open_log_index(path, sk, 2048, 0);
	append_n(log, 90, 0);
	(void)snprintf(first, sizeof(first), "%s.%020d", path, 1);
	assert_int_equal(unlink(first), 0);
	n = pf_audit_lineage(path, 0, count_cb, walk); /* anchored: what is left */
	k = pf_audit_lineage_tail(log, 0, 256, count_cb, seqs, &total);
	assert_int_equal(total, 15);
	assert_true(n > 0 && n < 15);
	assert_int_equal(k, n);
	for (int i = 1; i <= k; i++)
		assert_int_equal(seqs[i], walk[i]);
	assert_int_equal(pf_audit_close(log), 0);
}

struct tail_reader {
	struct pf_audit *log;
	_Atomic int stop;
	_Atomic int errors;
	_Atomic int reads;
};

static void *tail_reader_main(void *arg)
{
	struct tail_reader *t = arg;
	uint64_t seqs[16];

	while (!t->stop) {
		seqs[0] = 0;
		t->errors += pf_audit_lineage_tail(t->log, 1, 8, count_cb, seqs, NULL) < 0;
		t->reads++;
	}
	return NULL;
}

/* Read while another thread appends and rotates: every read succeeds (a file rotated
 * between the copy of the positions and the reads is found under its new name). */
static void test_audit_lineage_tail_concurrent_rotation(void **state)
{
	struct tail_reader t = {0};
	char path[128];
	pthread_t tid;

	(void)state;
	log_path(path, sizeof(path), "tail-concurrent");
	t.log = open_log_index(path, sk, 4096, 0);
	append_n(t.log, 20, 0);
	assert_int_equal(pthread_create(&tid, NULL, tail_reader_main, &t), 0);
	while (t.reads == 0)
		(void)usleep(100);
	append_n(t.log, 600, 0);
	t.stop = 1;
	assert_int_equal(pthread_join(tid, NULL), 0);
	assert_int_equal(t.errors, 0);
	assert_true(t.reads > 0);
	tail_matches_walk(t.log, path, 1, 50);
	assert_int_equal(pf_audit_close(t.log), 0);
}

/* ---- verification's progress --------------------------------------------------------- */

struct watch_seen {
	struct pf_audit_progress last;
	int calls;
	int stop_after; /* calls; then -ECANCELED (0: never) */
};

static int watch_cb(void *arg, const struct pf_audit_progress *p)
{
	struct watch_seen *w = arg;

	assert_int_equal(p->size, sizeof(*p));
	assert_true(p->records >= w->last.records && p->bytes >= w->last.bytes);
	assert_true(p->files >= 1 && p->files <= p->files_total);
	w->last = *p;
	w->calls++;
	return w->stop_after != 0 && w->calls >= w->stop_after ? -ECANCELED : 0;
}

/* Progress goes up to the whole set and says so at the end; the callback can stop it. */
static void test_audit_verify_watch_progress(void **state)
{
	struct pf_audit_report rep = {.size = sizeof(rep)};
	struct watch_seen w = {0};
	struct pf_audit *log;
	char path[128];

	(void)state;
	log_path(path, sizeof(path), "watch");
	log = open_log(path, sk, 64, 65536);
	append_n(log, 3 * PF_AUDIT_PROGRESS_RECORDS, 0);
	assert_int_equal(pf_audit_close(log), 0);
	assert_int_equal(pf_audit_verify_watch(path, pk, &rep, watch_cb, &w), 0);
	assert_true(rep.files > 1);
	assert_true(w.calls >= 4); /* the start, every 4096 records, the end */
	assert_int_equal(w.last.records, rep.records);
	assert_int_equal(w.last.files, rep.files);
	assert_int_equal(w.last.files_total, rep.files);
	assert_int_equal(w.last.bytes, w.last.bytes_total);
	w = (struct watch_seen){.stop_after = 2};
	assert_int_equal(pf_audit_verify_watch(path, pk, &rep, watch_cb, &w), -ECANCELED);
	assert_int_equal(w.calls, 2);
	assert_int_equal(rep.records, PF_AUDIT_PROGRESS_RECORDS); /* stopped there */
	w = (struct watch_seen){.stop_after = 1};                 /* before the first record */
	assert_int_equal(pf_audit_verify_watch(path, pk, &rep, watch_cb, &w), -ECANCELED);
	assert_int_equal(rep.records, 0);
}

/* ---- bad inputs, keys, locking ------------------------------------------------------ */

static void test_audit_bad_inputs_write_nothing(void **state)
{
	char path[128], big[PF_AUDIT_DETAILS_MAX + 16], ev[PF_AUDIT_EVENT_MAX + 2];
	char subj[PF_AUDIT_SUBJECT_MAX + 2];
	struct pf_audit *log;
	struct stat st0, st1;
	uint64_t seq = 0;

	(void)state;
	log_path(path, sizeof(path), "inputs");
	log = open_log(path, NULL, 0, 0);
	append_n(log, 2, 1);
	assert_int_equal(stat(path, &st0), 0);
	assert_int_equal(pf_audit_append(log, "has space", "s", NULL, 1, &seq), -EINVAL);
	assert_int_equal(pf_audit_append(log, "", "s", NULL, 1, &seq), -EINVAL);
	assert_int_equal(pf_audit_append(log, "Claim", "s", NULL, 1, &seq), -EINVAL);
	assert_int_equal(pf_audit_append(log, "head", "s", NULL, 1, &seq), -EINVAL);
	memset(ev, 'a', sizeof(ev) - 1);
	ev[sizeof(ev) - 1] = '\0';
	assert_int_equal(pf_audit_append(log, ev, "s", NULL, 1, &seq), -EMSGSIZE);
	assert_int_equal(pf_audit_append(log, "claim", "", NULL, 1, &seq), -EINVAL);
	assert_int_equal(pf_audit_append(log, "claim", "a\nb", NULL, 1, &seq), -EINVAL);
	assert_int_equal(pf_audit_append(log, "claim", "\xff\xfe", NULL, 1, &seq), -EINVAL);
	memset(subj, 's', sizeof(subj) - 1);
	subj[sizeof(subj) - 1] = '\0';
	assert_int_equal(pf_audit_append(log, "claim", subj, NULL, 1, &seq), -EMSGSIZE);
	assert_int_equal(pf_audit_append(log, "claim", "s", "[1,2]", 1, &seq), -EINVAL);
	assert_int_equal(pf_audit_append(log, "claim", "s", "{\"a\":", 1, &seq), -EINVAL);
	assert_int_equal(pf_audit_append(log, "claim", "s", "{\"a\":1,\"a\":2}", 1, &seq), -EINVAL);
	memset(big, ' ', sizeof(big));
	memcpy(big, "{\"a\":1}", 7);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(pf_audit_append(log, "claim", "s", big, 1, &seq), -EMSGSIZE);
	assert_int_equal(pf_audit_append(NULL, "claim", "s", NULL, 1, &seq), -EINVAL);
	assert_int_equal(seq, 0);
	assert_int_equal(stat(path, &st1), 0);
	assert_int_equal(st0.st_size, st1.st_size);
	assert_int_equal(pf_audit_append(log, "claim", "s", "{}", 1, &seq), 0);
	assert_int_equal(seq, 3);
	assert_int_equal(pf_audit_close(log), 0);
}

static void test_audit_key_file_permissions(void **state)
{
	unsigned char lpk[32], lsk[64];
	char spath[128], ppath[128];
	struct stat st;
	FILE *f;

	(void)state;
	(void)snprintf(spath, sizeof(spath), "%s/audit.key", dir);
	(void)snprintf(ppath, sizeof(ppath), "%s/audit.pub", dir);
	assert_int_equal(pf_audit_key_save(spath, ppath, pk, sk, NULL), 0);
	assert_int_equal(stat(spath, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(pf_audit_key_load(spath, lpk, lsk, NULL), 0);
	assert_memory_equal(lpk, pk, 32);
	assert_memory_equal(lsk, sk, 64);
	assert_int_equal(pf_audit_pubkey_load(ppath, lpk), 0);
	assert_memory_equal(lpk, pk, 32);
	assert_int_equal(chmod(spath, 0644), 0);
	assert_int_equal(pf_audit_key_load(spath, lpk, lsk, NULL), -EPERM);
	assert_int_equal(chmod(spath, 0640), 0);
	assert_int_equal(pf_audit_key_load(spath, lpk, lsk, NULL), -EPERM);
	/* Saving again forces 0600 on the existing file. */
	assert_int_equal(pf_audit_key_save(spath, NULL, pk, sk, NULL), 0);
	assert_int_equal(stat(spath, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	f = fopen(spath, "w");
	assert_non_null(f);
	fputs("not a key\n", f);
	fclose(f);
	assert_int_equal(pf_audit_key_load(spath, lpk, lsk, NULL), -EBADMSG);
	memcpy(lpk, pk, 32);
	lpk[0] ^= 1;
	assert_int_equal(pf_audit_key_save(spath, NULL, lpk, sk, NULL), -EINVAL);
}

static void test_audit_open_busy_and_bad_opts(void **state)
{
	struct pf_audit_opts o;
	struct pf_audit *a, *b = NULL;
	char path[128];

	(void)state;
	log_path(path, sizeof(path), "busy");
	a = open_log(path, NULL, 0, 0);
	pf_audit_opts_init(&o);
	assert_int_equal(pf_audit_open(path, &o, &b, NULL), -EBUSY);
	o.fsync_policy = 7;
	assert_int_equal(pf_audit_open(path, &o, &b, NULL), -EINVAL);
	pf_audit_opts_init(&o);
	o.host = "bad\nhost";
	assert_int_equal(pf_audit_open(path, &o, &b, NULL), -EINVAL);
	assert_null(b);
	assert_int_equal(pf_audit_close(a), 0);
	assert_int_equal(pf_audit_close(NULL), 0);
}

static void test_audit_fsync_policies(void **state)
{
	static const uint32_t policies[] = {PF_AUDIT_FSYNC_RECORD, PF_AUDIT_FSYNC_BATCH,
					    PF_AUDIT_FSYNC_HEAD};
	struct pf_audit_report rep;
	struct pf_audit_opts o;
	struct pf_audit *log;
	char path[128];

	(void)state;
	log_path(path, sizeof(path), "fsync");
	for (unsigned i = 0; i < 3; i++) {
		pf_audit_opts_init(&o);
		o.fsync_policy = policies[i];
		o.fsync_every = 3;
		o.secret_key = sk;
		o.sign_every = 5;
		assert_int_equal(pf_audit_open(path, &o, &log, NULL), 0);
		append_n(log, 7, 0);
		assert_int_equal(pf_audit_sync(log), 0);
		assert_int_equal(pf_audit_close(log), 0);
	}
	verify_expect(path, pk, 0, 0, 0, &rep);
	assert_int_equal(rep.unsigned_tail, 0);
}

/* ---- the writer's files: planted, linked, in a directory others may write ------------ */

#define OTHER_UID 65534u /* nobody: the uid that plants files */

/* Write text to path (created or truncated), mode 0600. */
static void put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(chmod(path, 0600), 0);
}

/* 1 when path holds exactly text. */
static int file_is(const char *path, const char *text)
{
	char buf[256];
	size_t n;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return strcmp(buf, text) == 0;
}

/* A fresh subdirectory of dir with mode. */
static void sub_dir(char *buf, size_t bytes, const char *name, mode_t mode)
{
	(void)snprintf(buf, bytes, "%s/%s", dir, name);
	assert_int_equal(mkdir(buf, 0700), 0);
	assert_int_equal(chmod(buf, mode), 0);
}

static int open_repairing(const char *path, struct pf_audit **log, struct pf_audit_refusal *why)
{
	struct pf_audit_opts o;

	pf_audit_opts_init(&o);
	o.flags = PF_AUDIT_REPAIR_TORN; /* what pflightd asks for */
	*log = NULL;
	return pf_audit_open(path, &o, log, why);
}

/* A key another uid planted (mode 0600, a valid key: it knows the secret) is refused, and
 * the refusal names the file and its owner. */
static void test_audit_key_planted_by_other_uid(void **state)
{
	struct pf_audit_refusal why = {.size = sizeof(why)};
	unsigned char lpk[32], lsk[64];
	char spath[128];

	(void)state;
	if (geteuid() != 0) {
		print_message("not root: no file of another uid to plant; case not run\n");
		return;
	}
	(void)snprintf(spath, sizeof(spath), "%s/planted.key", dir);
	assert_int_equal(pf_audit_key_save(spath, NULL, pk, sk, NULL), 0);
	assert_int_equal(chown(spath, OTHER_UID, OTHER_UID), 0);
	assert_int_equal(pf_audit_key_load(spath, lpk, lsk, &why), -EPERM);
	assert_string_equal(why.path, spath);
	assert_non_null(strstr(why.reason, "owned by uid 65534"));
	/* Saving over it would hand its owner the new secret: refused, the file untouched. */
	put_file(spath, "theirs\n");
	assert_int_equal(chown(spath, OTHER_UID, OTHER_UID), 0);
	assert_int_equal(pf_audit_key_save(spath, NULL, pk, sk, &why), -EPERM);
	assert_true(file_is(spath, "theirs\n"));
	assert_int_equal(unlink(spath), 0);
}

/* A key behind a symbolic link is refused, and nothing is ever written through one. */
static void test_audit_key_symlink_refused(void **state)
{
	struct pf_audit_refusal why = {.size = sizeof(why)};
	unsigned char lpk[32], lsk[64];
	char real[128], link[128], victim[128];

	(void)state;
	(void)snprintf(real, sizeof(real), "%s/real.key", dir);
	(void)snprintf(link, sizeof(link), "%s/link.key", dir);
	(void)snprintf(victim, sizeof(victim), "%s/victim", dir);
	assert_int_equal(pf_audit_key_save(real, NULL, pk, sk, NULL), 0);
	assert_int_equal(symlink(real, link), 0);
	assert_int_equal(pf_audit_key_load(link, lpk, lsk, &why), -ELOOP);
	assert_string_equal(why.path, link);
	assert_non_null(strstr(why.reason, "symbolic link"));
	assert_int_equal(unlink(link), 0);
	put_file(victim, "victim\n");
	assert_int_equal(symlink(victim, link), 0);
	assert_int_equal(pf_audit_key_save(link, NULL, pk, sk, &why), -ELOOP);
	assert_true(file_is(victim, "victim\n"));
	assert_int_equal(unlink(link), 0);
	assert_int_equal(unlink(victim), 0);
	assert_int_equal(unlink(real), 0);
}

/* A log path that is a symbolic link: nothing is read, appended or truncated at its
 * target, and a dangling one creates nothing. */
static void test_audit_open_symlink_refused(void **state)
{
	struct pf_audit_refusal why = {.size = sizeof(why)};
	char link[128], victim[128], gone[128];
	struct pf_audit *log;
	struct stat st;

	(void)state;
	(void)snprintf(link, sizeof(link), "%s/linked.log", dir);
	(void)snprintf(victim, sizeof(victim), "%s/victim.txt", dir);
	(void)snprintf(gone, sizeof(gone), "%s/created-through-link", dir);
	put_file(victim, "someone's file, one line\n");
	assert_int_equal(symlink(victim, link), 0);
	assert_int_equal(open_repairing(link, &log, &why), -ELOOP);
	assert_null(log);
	assert_string_equal(why.path, link);
	assert_true(file_is(victim, "someone's file, one line\n"));
	assert_int_equal(unlink(link), 0);
	assert_int_equal(symlink(gone, link), 0); /* dangling */
	assert_int_equal(open_repairing(link, &log, &why), -ELOOP);
	assert_null(log);
	assert_int_equal(lstat(gone, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(unlink(link), 0);
	assert_int_equal(unlink(victim), 0);
}

/* A log file another uid owns, or one with a second name, is not ours to append to. */
static void test_audit_open_foreign_file_refused(void **state)
{
	struct pf_audit_refusal why = {.size = sizeof(why)};
	char path[128], other[128];
	struct pf_audit *log;

	(void)state;
	log_path(path, sizeof(path), "foreign");
	(void)snprintf(other, sizeof(other), "%s/other-name", dir);
	put_file(path, "");
	assert_int_equal(link(path, other), 0);
	assert_int_equal(open_repairing(path, &log, &why), -EPERM);
	assert_non_null(strstr(why.reason, "hard links"));
	assert_int_equal(unlink(other), 0);
	if (geteuid() == 0) {
		assert_int_equal(chown(path, OTHER_UID, OTHER_UID), 0);
		assert_int_equal(open_repairing(path, &log, &why), -EPERM);
		assert_null(log);
		assert_string_equal(why.path, path);
		assert_non_null(strstr(why.reason, "owned by uid 65534"));
		assert_true(file_is(path, ""));
	}
	assert_int_equal(unlink(path), 0);
}

/* A directory others may write to is refused for the log and the key (they could plant
 * either before it exists); sticky and ours, it is accepted. */
static void test_audit_open_dir_writable_by_others(void **state)
{
	struct pf_audit_refusal why = {.size = sizeof(why)};
	unsigned char lpk[32], lsk[64];
	char open_dir[128], sticky[128], path[192], key[192];
	struct pf_audit *log;
	struct stat st;

	(void)state;
	sub_dir(open_dir, sizeof(open_dir), "open", 0777);
	(void)snprintf(path, sizeof(path), "%s/audit.jsonl", open_dir);
	(void)snprintf(key, sizeof(key), "%s/audit.key", open_dir);
	assert_int_equal(open_repairing(path, &log, &why), -EPERM);
	assert_null(log);
	assert_string_equal(why.path, open_dir);
	assert_non_null(strstr(why.reason, "writable by group or others"));
	assert_int_equal(stat(path, &st), -1); /* nothing created */
	assert_int_equal(pf_audit_key_save(key, NULL, pk, sk, &why), -EPERM);
	assert_int_equal(stat(key, &st), -1);
	assert_int_equal(chmod(open_dir, 0700), 0);
	assert_int_equal(pf_audit_key_save(key, NULL, pk, sk, NULL), 0);
	assert_int_equal(chmod(open_dir, 0770), 0);
	assert_int_equal(pf_audit_key_load(key, lpk, lsk, &why), -EPERM);
	assert_string_equal(why.path, open_dir);
	assert_int_equal(unlink(key), 0);
	sub_dir(sticky, sizeof(sticky), "sticky", 01777);
	(void)snprintf(path, sizeof(path), "%s/audit.jsonl", sticky);
	assert_int_equal(open_repairing(path, &log, &why), 0);
	assert_int_equal(pf_audit_close(log), 0);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(sticky), 0);
	assert_int_equal(rmdir(open_dir), 0);
}

/* What PF_AUDIT_REPAIR_TORN cuts: only a record cut short at the end of the live file.
 * A file named as the log whose last line is someone's text keeps every byte. */
static void test_audit_repair_cuts_only_a_torn_record(void **state)
{
	static const char *const not_records[] = {
		"one line of someone's text",   /* no newline: it looked torn */
		"one line of someone's text\n", /* a newline, not a record */
		"{\"details\":{}} and\nmore\n", /* two lines */
	};
	struct pf_audit_refusal why = {.size = sizeof(why)};
	struct pf_audit_report rep;
	struct pf_audit *log;
	struct lines l;
	char path[128];
	FILE *f;

	(void)state;
	log_path(path, sizeof(path), "not-a-log");
	for (size_t i = 0; i < sizeof(not_records) / sizeof(not_records[0]); i++) {
		put_file(path, not_records[i]);
		assert_int_equal(open_repairing(path, &log, &why), -EPROTO);
		assert_null(log);
		assert_string_equal(why.path, path);
		assert_true(i == 2 || strstr(why.reason, "nothing truncated") != NULL);
		assert_true(file_is(path, not_records[i]));
	}
	/* After good records too: a last line of text stays, the records stay. */
	assert_int_equal(unlink(path), 0);
	make_plain(path, 3);
	lines_read(path, &l);
	f = fopen(path, "a");
	assert_non_null(f);
	fputs("appended by hand\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(open_repairing(path, &log, &why), -EPROTO);
	assert_int_equal(why.offset, line_offset(&l, 4));
	lines_free(&l);
	lines_read(path, &l);
	assert_int_equal(l.n, 4);
	assert_string_equal(l.v[3], "appended by hand");
	lines_free(&l);
	/* Zeros a power loss left after the records: cut, and said. */
	assert_int_equal(unlink(path), 0);
	make_plain(path, 3);
	f = fopen(path, "a");
	assert_non_null(f);
	for (int i = 0; i < 100; i++)
		fputc('\0', f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(open_repairing(path, &log, &why), 0);
	assert_int_equal(pf_audit_close(log), 0);
	verify_expect(path, NULL, 0, 0, 0, &rep);
	assert_int_equal(rep.records, 4); /* the three and the repair */
	assert_int_equal(unlink(path), 0);
}

/* pf_audit_file_open(): the rule for a secret, creation, arguments. */
static void test_audit_file_open_rule(void **state)
{
	struct pf_audit_refusal why = {.size = sizeof(why)}, small = {.size = 8};
	char path[128];
	struct stat st;
	int fd;

	(void)state;
	(void)snprintf(path, sizeof(path), "%s/token", dir);
	fd = pf_audit_file_open(path, O_WRONLY | O_CREAT | O_EXCL, PF_AUDIT_FILE_SECRET, &why);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	close(fd);
	assert_int_equal(pf_audit_file_open(path, O_WRONLY | O_CREAT | O_EXCL, 0, &why), -EEXIST);
	assert_int_equal(chmod(path, 0640), 0);
	assert_int_equal(pf_audit_file_open(path, O_RDONLY, PF_AUDIT_FILE_SECRET, &why), -EPERM);
	assert_string_equal(why.path, path);
	assert_non_null(strstr(why.reason, "readable or writable by group or others"));
	fd = pf_audit_file_open(path, O_RDONLY, 0, &why); /* not a secret: readable is fine */
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(chmod(path, 0620), 0);
	assert_int_equal(pf_audit_file_open(path, O_RDONLY, 0, &why), -EPERM);
	assert_int_equal(pf_audit_file_open(path, O_RDONLY | O_TRUNC, 0, NULL), -EINVAL);
	assert_int_equal(pf_audit_file_open(path, O_RDONLY, 2, NULL), -EINVAL);
	assert_int_equal(pf_audit_file_open(path, O_RDONLY, 0, &small), -EINVAL);
	assert_int_equal(pf_audit_file_open("", O_RDONLY, 0, NULL), -EINVAL);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(pf_audit_file_open(path, O_RDONLY, 0, &why), -EPERM); /* no wait */
	assert_non_null(strstr(why.reason, "not a regular file"));
	assert_int_equal(unlink(path), 0);
}

/* ---- setup ---------------------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int group_setup(void **state)
{
	(void)state;
	(void)snprintf(dir, sizeof(dir), "/tmp/pf-audit-XXXXXX");
	if (mkdtemp(dir) == NULL || sodium_init() < 0)
		return -1;
	return pf_audit_keygen(pk, sk);
}

static int group_teardown(void **state)
{
	(void)state;
	return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_audit_round_trip_signed),
		cmocka_unit_test(test_audit_reopen_continues),
		cmocka_unit_test(test_audit_tamper_edit_byte),
		cmocka_unit_test(test_audit_tamper_edit_rehashed),
		cmocka_unit_test(test_audit_tamper_delete),
		cmocka_unit_test(test_audit_tamper_swap),
		cmocka_unit_test(test_audit_tamper_truncate_torn),
		cmocka_unit_test(test_audit_tamper_signature),
		cmocka_unit_test(test_audit_forged_with_other_key),
		cmocka_unit_test(test_audit_open_refuses_broken_chain),
		cmocka_unit_test(test_audit_overlong_line),
		cmocka_unit_test(test_audit_line_beyond_memory),
		cmocka_unit_test(test_audit_verify_out_of_memory),
		cmocka_unit_test(test_audit_lineage_interleaved),
		cmocka_unit_test(test_audit_rotation_keeps_chain),
		cmocka_unit_test(test_audit_lineage_tail_across_rotations),
		cmocka_unit_test(test_audit_lineage_tail_bounded),
		cmocka_unit_test(test_audit_lineage_tail_reads_only_its_records),
		cmocka_unit_test(test_audit_lineage_tail_rotated_removed),
		cmocka_unit_test(test_audit_lineage_tail_concurrent_rotation),
		cmocka_unit_test(test_audit_verify_watch_progress),
		cmocka_unit_test(test_audit_bad_inputs_write_nothing),
		cmocka_unit_test(test_audit_key_file_permissions),
		cmocka_unit_test(test_audit_open_busy_and_bad_opts),
		cmocka_unit_test(test_audit_fsync_policies),
		cmocka_unit_test(test_audit_key_planted_by_other_uid),
		cmocka_unit_test(test_audit_key_symlink_refused),
		cmocka_unit_test(test_audit_open_symlink_refused),
		cmocka_unit_test(test_audit_open_foreign_file_refused),
		cmocka_unit_test(test_audit_open_dir_writable_by_others),
		cmocka_unit_test(test_audit_file_open_rule),
		cmocka_unit_test(test_audit_repair_cuts_only_a_torn_record),
	};

	return cmocka_run_group_tests_name("ctl_audit", tests, group_setup, group_teardown);
}

/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/ctl/test_ctl_audit_batch.c
 * Goal: a batch record (pf_audit_append_batch) is in the lineage of every VNode it names,
 * linked to each one's own previous record, whether that was a record about it alone or
 * another batch: the walk of the files, the index (before and after a reopen) and verify
 * agree, and a bulk change costs a few bytes per VNode. Verify finds a batch that drops,
 * adds or re-links a VNode even when the forger rebuilds every hash. Bad ranges are
 * refused and a batch too large for one line is refused whole, with nothing written.
 * Retention by bytes and by age drops the oldest rotated files only, states it in the log
 * (verify then says from where the log is whole and why), keeps the set within its bound,
 * and lineage from the index stops where the files do.
 * Method: logs in a mkdtemp() directory; the forger rebuilds hashes and links with jansson
 * and libsodium directly.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "pflight/audit.h"

#define SEEN_MAX 64u

static char dir[64];
static unsigned char pk[PF_AUDIT_PUBLIC_KEY_BYTES], sk[PF_AUDIT_SECRET_KEY_BYTES];

static void log_path(char *buf, size_t bytes, const char *name)
{
	(void)snprintf(buf, bytes, "%s/%s.log", dir, name);
}

static struct pf_audit *open_opts(const char *path, uint64_t rotate_bytes, uint64_t retain_bytes,
				  uint64_t retain_age_s)
{
	struct pf_audit_opts o;
	struct pf_audit *log = NULL;

	pf_audit_opts_init(&o);
	o.host = "test-host";
	o.secret_key = sk;
	o.sign_every = 16;
	o.rotate_bytes = rotate_bytes;
	o.retain_bytes = retain_bytes;
	o.retain_age_s = retain_age_s;
	o.fsync_policy = PF_AUDIT_FSYNC_HEAD;
	assert_int_equal(pf_audit_open(path, &o, &log, NULL), 0);
	return log;
}

/* What a lineage yielded: seqs, events, flags and values, oldest first. */
struct seen {
	uint32_t n;
	uint64_t seq[SEEN_MAX], value[SEEN_MAX];
	uint32_t flags[SEEN_MAX];
	char event[SEEN_MAX][32];
};

static int seen_cb(const struct pf_audit_record *rec, void *arg)
{
	struct seen *s = arg;

	assert_true(s->n < SEEN_MAX);
	s->seq[s->n] = rec->seq;
	s->value[s->n] = rec->value;
	s->flags[s->n] = rec->flags;
	(void)snprintf(s->event[s->n], sizeof(s->event[0]), "%s", rec->event);
	s->n++;
	return 0;
}

static void batch(struct pf_audit *log, const char *event, uint32_t first, uint32_t count,
		  uint64_t value, uint64_t *ret_seq)
{
	struct pf_audit_range g = {.first = first, .count = count, .value = value};

	assert_int_equal(
		pf_audit_append_batch(log, event, "pflightd", "{\"to\":\"1.1\"}", &g, 1, ret_seq),
		0);
}

/* The walk of the files and the index give the same records for vnode; the VNode's count
 * is of every record ever about it, those that retention dropped included. */
static void lineage_agrees(struct pf_audit *log, const char *path, uint32_t vnode, struct seen *w,
			   bool whole)
{
	struct seen t = {0};
	uint64_t total = 0;
	int n, k;

	*w = (struct seen){0};
	n = pf_audit_lineage(path, vnode, seen_cb, w);
	k = pf_audit_lineage_tail(log, vnode, 64, seen_cb, &t, &total);
	assert_int_equal(n, (int)w->n);
	assert_int_equal(k, (int)t.n);
	assert_int_equal(t.n, w->n);
	if (whole)
		assert_int_equal(total, w->n);
	else
		assert_true(total > w->n);
	for (uint32_t i = 0; i < w->n; i++) {
		assert_int_equal(t.seq[i], w->seq[i]);
		assert_int_equal(t.value[i], w->value[i]);
		assert_int_equal(t.flags[i], w->flags[i]);
	}
}

static uint64_t file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return (uint64_t)st.st_size;
}

static void verify_ok(const char *path, struct pf_audit_report *rep)
{
	rep->size = sizeof(*rep);
	if (pf_audit_verify(path, NULL, rep) != 0)
		print_error("verify: %s line %llu\n", rep->reason,
			    (unsigned long long)rep->bad_line);
	assert_int_equal(rep->fault, PF_AUDIT_FAULT_NONE);
}

/* ---- batches ------------------------------------------------------------------------ */

/* A VNode's lineage through singles and batches, in the walk, the index and after reopen. */
static void test_batch_lineage_mixed(void **state)
{
	struct pf_audit_report rep;
	uint64_t s1, s2, s3, s4, before, after;
	struct pf_audit *log;
	struct seen w;
	char path[128];

	(void)state;
	log_path(path, sizeof(path), "mixed");
	log = open_opts(path, 0, 0, 0);
	for (uint32_t v = 0; v < 10; v++)
		assert_int_equal(
			pf_audit_append(log, "define", "vnode", NULL, v, v == 5 ? &s1 : NULL), 0);
	before = file_size(path);
	batch(log, "placement", 0, 1000, 2, &s2);
	after = file_size(path);
	assert_true(after - before < 64 * 1000 / 8); /* a bulk change: bytes, not records */
	assert_int_equal(pf_audit_append(log, "move", "vnode", NULL, 5, &s3), 0);
	batch(log, "release", 3, 7, 3, &s4);
	lineage_agrees(log, path, 5, &w, true);
	assert_int_equal(w.n, 4);
	assert_int_equal(w.seq[0], s1);
	assert_int_equal(w.seq[1], s2);
	assert_int_equal(w.seq[2], s3);
	assert_int_equal(w.seq[3], s4);
	assert_int_equal(w.flags[1], PF_AUDIT_RECORD_BATCH);
	assert_int_equal(w.value[1], 2);
	assert_int_equal(w.flags[2], 0);
	assert_int_equal(w.value[3], 3);
	assert_string_equal(w.event[3], "release");
	lineage_agrees(log, path, 999, &w, true); /* its first record is the batch */
	assert_int_equal(w.n, 1);
	lineage_agrees(log, path, 1000, &w, true); /* beyond the range: nothing */
	assert_int_equal(w.n, 0);
	lineage_agrees(log, path, 9, &w, true);
	assert_int_equal(w.n, 3);
	assert_int_equal(pf_audit_close(log), 0);
	verify_ok(path, &rep);
	log = open_opts(path, 0, 0, 0); /* the index rebuilt from the files */
	lineage_agrees(log, path, 5, &w, true);
	assert_int_equal(w.n, 4);
	batch(log, "placement", 4, 3, 4, NULL); /* links continue after the reopen */
	lineage_agrees(log, path, 5, &w, true);
	assert_int_equal(w.n, 5);
	assert_int_equal(pf_audit_close(log), 0);
	verify_ok(path, &rep);
}

/* Read the lines of a small log. */
static size_t lines_get(const char *path, char **v, size_t max)
{
	FILE *f = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0, n = 0;
	ssize_t len;

	assert_non_null(f);
	while (n < max && (len = getline(&line, &cap, f)) > 0) {
		line[len - 1] = '\0';
		v[n++] = strdup(line);
	}
	free(line);
	fclose(f);
	return n;
}

static void lines_put(const char *path, char **v, size_t n)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	for (size_t i = 0; i < n; i++) {
		fprintf(f, "%s\n", v[i]);
		free(v[i]);
	}
	fclose(f);
}

/* Rebuild the hash of o (its prev set to prev), into prev; the new line. */
static char *rehash(json_t *o, unsigned char prev[32])
{
	unsigned char hash[32];
	char hex[65], *dump;

	json_object_del(o, "hash");
	sodium_bin2hex(hex, sizeof(hex), prev, 32);
	json_object_set_new(o, "prev", json_string(hex));
	dump = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	crypto_generichash(hash, 32, (const unsigned char *)dump, strlen(dump), NULL, 0);
	free(dump);
	sodium_bin2hex(hex, sizeof(hex), hash, 32);
	json_object_set_new(o, "hash", json_string(hex));
	memcpy(prev, hash, 32);
	return json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
}

/* Change the ranges of the batch on line k with fn, then rebuild every hash, prev link and
 * vnode_prev link from there (a forger with write access, without the key). */
static void forge_batch(const char *path, size_t k, void (*fn)(json_t *ranges))
{
	char *v[64];
	size_t n = lines_get(path, v, 64);
	unsigned char prev[32];

	assert_true(k >= 2 && k <= n); /* its prev is line k - 1's hash */
	char olds[64][65], news[64][65];
	size_t moved = 0;

	for (size_t i = k - 1; i < n; i++) {
		json_t *o = json_loads(v[i], 0, NULL);
		const char *vp = json_string_value(json_object_get(o, "vnode_prev"));

		assert_non_null(o);
		for (size_t m = 0; vp != NULL && m < moved; m++)
			if (strcmp(vp, olds[m]) == 0) /* re-link to the rewritten record */
				json_object_set_new(o, "vnode_prev", json_string(news[m]));
		(void)snprintf(olds[moved], sizeof(olds[0]), "%s",
			       json_string_value(json_object_get(o, "hash")));
		if (i == k - 1) {
			json_t *p = json_loads(v[i - 1], 0, NULL);
			const char *h = json_string_value(json_object_get(p, "hash"));

			assert_int_equal(sodium_hex2bin(prev, 32, h, 64, NULL, NULL, NULL), 0);
			json_decref(p);
			fn(json_object_get(o, "vnodes"));
		}
		free(v[i]);
		v[i] = rehash(o, prev);
		sodium_bin2hex(news[moved++], sizeof(news[0]), prev, 32);
		json_decref(o);
	}
	lines_put(path, v, n);
}

/* VNode 0 claims the batch is its first record: the link of its range set to the zero
 * link (the batch's VNodes 4..7 have none before it). */
static void relink_first(json_t *ranges)
{
	json_t *g = json_array_get(ranges, 0),
	       *last = json_array_get(ranges, json_array_size(ranges) - 1);

	json_array_set(g, 3, json_array_get(last, 3));
}

/* One more VNode in the batch, with no record before it: consistent, but not what was
 * signed. */
static void add_a_vnode(json_t *ranges)
{
	json_t *g = json_array_get(ranges, json_array_size(ranges) - 1);

	json_array_set_new(g, 1, json_integer(json_integer_value(json_array_get(g, 1)) + 1));
}

/* A log: singles for VNodes 0..3 (seq 1-4), a batch over 0..7 (seq 5), a single about
 * VNode 7 (seq 6), and with a key the closing head (seq 7). */
static void make_forge_target(const char *path, const unsigned char *key)
{
	struct pf_audit_opts o;
	struct pf_audit *log = NULL;

	pf_audit_opts_init(&o);
	o.host = "test-host";
	o.secret_key = key;
	assert_int_equal(pf_audit_open(path, &o, &log, NULL), 0);
	for (uint32_t v = 0; v < 4; v++)
		assert_int_equal(pf_audit_append(log, "define", "vnode", NULL, v, NULL), 0);
	batch(log, "placement", 0, 8, 2, NULL);
	assert_int_equal(pf_audit_append(log, "move", "vnode", NULL, 7, NULL), 0);
	assert_int_equal(pf_audit_close(log), 0);
}

static void forged_fault(const char *name, const unsigned char *key, void (*fn)(json_t *),
			 uint32_t fault, uint64_t seq)
{
	struct pf_audit_report rep = {.size = sizeof(rep)};
	char path[128];

	log_path(path, sizeof(path), name);
	make_forge_target(path, key);
	verify_ok(path, &rep);
	forge_batch(path, 5, fn);
	assert_int_equal(pf_audit_verify(path, NULL, &rep), -EBADMSG);
	assert_int_equal(rep.fault, fault);
	assert_int_equal(rep.bad_seq, seq);
}

/* A batch that re-links a VNode is found at the batch, even with every hash rebuilt; one
 * that names another VNode consistently is found by the head that signed the original. */
static void test_batch_forged_ranges_found(void **state)
{
	(void)state;
	forged_fault("forge-relink", NULL, relink_first, PF_AUDIT_FAULT_VNODE_PREV, 5);
	forged_fault("forge-add", sk, add_a_vnode, PF_AUDIT_FAULT_SIGNATURE, 7);
}

/* The index's tail starts from the hash the handle holds for the VNode's newest record: a
 * newest line rewritten consistently (its own hash recomputed, its links kept) is refused,
 * and so is one whose hash member was moved elsewhere in the line. */
static void test_batch_tail_newest_anchored(void **state)
{
	struct seen w = {0};
	struct pf_audit *log;
	char path[128], *v[64];
	unsigned char prev[32];
	size_t n;
	json_t *o, *p;

	(void)state;
	log_path(path, sizeof(path), "tail-anchor");
	log = open_opts(path, 0, 0, 0);
	for (uint32_t v2 = 0; v2 < 4; v2++)
		assert_int_equal(pf_audit_append(log, "define", "vnode", NULL, v2, NULL), 0);
	batch(log, "placement", 0, 4, 2, NULL); /* line 5: VNode 1's newest */
	assert_int_equal(pf_audit_lineage_tail(log, 1, 8, seen_cb, &w, NULL), 2);
	n = lines_get(path, v, 64);
	assert_int_equal(n, 5);
	o = json_loads(v[4], 0, NULL);
	p = json_loads(v[3], 0, NULL);
	assert_int_equal(sodium_hex2bin(prev, 32, json_string_value(json_object_get(p, "hash")), 64,
					NULL, NULL, NULL),
			 0);
	json_object_set_new(o, "details", json_pack("{s:s}", "to", "9.9"));
	free(v[4]);
	v[4] = rehash(o, prev);
	json_decref(o);
	json_decref(p);
	lines_put(path, v, n);
	w = (struct seen){0};
	assert_int_equal(pf_audit_lineage_tail(log, 1, 8, seen_cb, &w, NULL), -EBADMSG);
	assert_int_equal(pf_audit_close(log), 0);
}

/* Bad ranges are refused, nothing written; a batch too large for a line is refused whole
 * and, split, goes in. */
static void test_batch_refusals(void **state)
{
	struct pf_audit_range bad[][2] = {
		{{.first = 0, .count = 0}, {0}},
		{{.first = 5, .count = 2}, {.first = 6, .count = 1}},
		{{.first = 5, .count = 1}, {.first = 1, .count = 1}},
		{{.first = UINT32_MAX - 1, .count = 2}, {0}},
		{{.first = 0, .count = PF_AUDIT_BATCH_VNODES_MAX + 1}, {0}},
		{{.first = 0, .count = 1, .value = (uint64_t)INT64_MAX + 1}, {0}},
	};
	uint32_t counts[] = {1, 2, 2, 1, 1, 1};
	struct pf_audit_report rep;
	struct pf_audit_range g;
	struct pf_audit *log;
	uint64_t seq = 0, size;
	char path[128];

	(void)state;
	log_path(path, sizeof(path), "refusals");
	log = open_opts(path, 0, 0, 0);
	size = file_size(path);
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		assert_int_equal(
			pf_audit_append_batch(log, "x", "s", NULL, bad[i], counts[i], NULL),
			-EINVAL);
	g = (struct pf_audit_range){.first = 0, .count = 1};
	assert_int_equal(pf_audit_append_batch(log, "x", "s", NULL, NULL, 1, NULL), -EINVAL);
	assert_int_equal(pf_audit_append_batch(log, "x", "s", NULL, &g, 0, NULL), -EINVAL);
	assert_int_equal(pf_audit_append_batch(log, "head", "s", NULL, &g, 1, NULL), -EINVAL);
	assert_int_equal(pf_audit_append_batch(log, "retention", "s", NULL, &g, 1, NULL), -EINVAL);
	assert_int_equal(pf_audit_append_batch(log, "x", "s", "[1]", &g, 1, NULL), -EINVAL);
	assert_int_equal(file_size(path), size);
	/* 1000 VNodes each with a previous record of its own: a link each, over a line. */
	for (uint32_t v = 0; v < 1000; v++)
		assert_int_equal(pf_audit_append(log, "define", "vnode", NULL, v, NULL), 0);
	size = file_size(path);
	g = (struct pf_audit_range){.first = 0, .count = 1000, .value = 2};
	assert_int_equal(pf_audit_append_batch(log, "placement", "s", NULL, &g, 1, &seq),
			 -EMSGSIZE);
	assert_int_equal(file_size(path), size);
	g.count = 500;
	assert_int_equal(pf_audit_append_batch(log, "placement", "s", NULL, &g, 1, &seq), 0);
	g.first = 500;
	assert_int_equal(pf_audit_append_batch(log, "placement", "s", NULL, &g, 1, NULL), 0);
	assert_int_equal(pf_audit_close(log), 0);
	verify_ok(path, &rep);
	assert_int_equal(rep.last_seq, seq + 2); /* the second batch and the closing head */
}

/* ---- retention ---------------------------------------------------------------------- */

static uint64_t set_size(const char *path, uint32_t *ret_files)
{
	char name[256];
	uint64_t total = 0;
	struct stat st;
	FILE *p;

	*ret_files = 0;
	(void)snprintf(name, sizeof(name), "ls -1 %s* 2>/dev/null", path);
	p = popen(name, "r");
	assert_non_null(p);
	while (fgets(name, sizeof(name), p) != NULL) {
		name[strcspn(name, "\n")] = '\0';
		if (stat(name, &st) == 0) {
			total += (uint64_t)st.st_size;
			(*ret_files)++;
		}
	}
	pclose(p);
	return total;
}

/* Retention by bytes: the set stays within retain_bytes and one live file; verify says from
 * where it is whole and which record says so; the index yields what is left. */
static void test_retention_bytes(void **state)
{
	struct pf_audit_report rep;
	struct pf_audit *log;
	uint32_t files = 0;
	uint64_t total;
	struct seen w;
	char path[128];

	(void)state;
	log_path(path, sizeof(path), "retain");
	log = open_opts(path, 4096, 16384, 0);
	for (uint32_t i = 0; i < 600; i++) {
		assert_int_equal(pf_audit_append(log, "claim", "vnode", "{\"n\":\"aaaaaaaaaaaa\"}",
						 i % 4, NULL),
				 0);
		total = set_size(path, &files);
		assert_true(total <= 16384 + 4096 + 2048);
	}
	assert_true(files >= 4);
	verify_ok(path, &rep);
	assert_true(rep.anchored);
	assert_true(rep.first_seq > 1);
	assert_int_equal(rep.dropped_seq, rep.first_seq - 1);
	assert_true(rep.dropped_stated_seq > rep.first_seq);
	lineage_agrees(log, path, 1, &w, false); /* what the files still hold, both ways */
	assert_true(w.n > 0 && w.n < 150);
	assert_int_equal(pf_audit_close(log), 0);
	/* Someone removes one more file: the start is no longer the one the log stated. */
	{
		char name[256];
		FILE *p;

		(void)snprintf(name, sizeof(name), "ls -1 %s.* | head -1", path);
		p = popen(name, "r");
		assert_non_null(fgets(name, sizeof(name), p));
		pclose(p);
		name[strcspn(name, "\n")] = '\0';
		assert_int_equal(unlink(name), 0);
	}
	verify_ok(path, &rep);
	assert_true(rep.anchored);
	assert_int_equal(rep.dropped_seq, 0);
}

/* Retention by age: rotated files last written long ago go at the next open, the live one
 * never; the record says why. */
static void test_retention_age(void **state)
{
	struct timespec old[2] = {{.tv_sec = time(NULL) - 7200}, {.tv_sec = time(NULL) - 7200}};
	struct pf_audit_report rep;
	struct pf_audit *log;
	uint32_t files = 0;
	char path[128], cmd[300], name[256];
	FILE *p;

	(void)state;
	log_path(path, sizeof(path), "retain-age");
	log = open_opts(path, 2048, 0, 0);
	for (uint32_t i = 0; i < 100; i++)
		assert_int_equal(
			pf_audit_append(log, "join", "member", NULL, PF_AUDIT_NO_VNODE, NULL), 0);
	assert_int_equal(pf_audit_close(log), 0);
	(void)set_size(path, &files);
	assert_true(files >= 3);
	(void)snprintf(cmd, sizeof(cmd), "ls -1 %s*", path);
	p = popen(cmd, "r");
	while (fgets(name, sizeof(name), p) != NULL) {
		name[strcspn(name, "\n")] = '\0';
		assert_int_equal(utimensat(AT_FDCWD, name, old, 0), 0); /* the live one too */
	}
	pclose(p);
	log = open_opts(path, 2048, 0, 3600);
	assert_int_equal(pf_audit_close(log), 0);
	(void)set_size(path, &files);
	assert_int_equal(files, 1); /* the live file alone */
	verify_ok(path, &rep);
	assert_true(rep.anchored);
	assert_int_equal(rep.dropped_seq, rep.first_seq - 1);
	(void)snprintf(cmd, sizeof(cmd), "grep -c '\"reason\":\"age\"' %s", path);
	p = popen(cmd, "r");
	assert_non_null(fgets(name, sizeof(name), p));
	pclose(p);
	assert_int_equal(strtol(name, NULL, 10), 1);
}

/* ---- setup ------------------------------------------------------------------------- */

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
	(void)snprintf(dir, sizeof(dir), "/tmp/pf-audit-batch-XXXXXX");
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
		cmocka_unit_test(test_batch_lineage_mixed),
		cmocka_unit_test(test_batch_forged_ranges_found),
		cmocka_unit_test(test_batch_tail_newest_anchored),
		cmocka_unit_test(test_batch_refusals),
		cmocka_unit_test(test_retention_bytes),
		cmocka_unit_test(test_retention_age),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

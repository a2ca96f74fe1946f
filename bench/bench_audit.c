/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_audit.c: audit append throughput (records/s) against raw write(2) of the
 * same bytes.
 *
 * One thread pinned to CPU 0; logs in a mkdtemp() directory under $TMPDIR (default /tmp,
 * so the figures depend on that file system). Per configuration and per sample, a fresh
 * log gets RECORDS pf_audit_append() calls (event "move", a subject, a three-field details
 * object, VNode i % 1024: the lineage map is exercised). Configurations:
 *   fsync_head     signed (Ed25519 head every 1024 records), PF_AUDIT_FSYNC_HEAD: one
 *                  fdatasync per head, i.e. per 1024 records, plus the signing;
 *   fsync_1024     unsigned, PF_AUDIT_FSYNC_BATCH with fsync_every 1024 (interval 1 h,
 *                  so only the count triggers);
 *   no_fsync       unsigned, PF_AUDIT_FSYNC_HEAD: no sync until close: the CPU cost
 *                  alone (JSON build, two canonical dumps, BLAKE2b, one write).
 * Baseline, same run, same CPU, right after each sample: the lines that sample wrote
 * (heads included: the identical bytes) read back and written to another O_APPEND file
 * with one write(2) per line, with fdatasync after the same lines ours synced after
 * (after each head / every 1024 lines / never). Both are reported as caller records per
 * second (RECORDS / elapsed), close excluded. Medians of SAMPLES; min/max give spread.
 * Informational: no goal is set for this benchmark.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench_core.h"
#include "pflight/audit.h"

#define RECORDS 100000u
#define SAMPLES 5
#define SIGN_EVERY 1024u

enum cfg { CFG_FSYNC_HEAD, CFG_FSYNC_1024, CFG_NO_FSYNC, CFG_COUNT };

static const char *const metric_names[CFG_COUNT] = {
	"append_records_per_s_fsync_head",
	"append_records_per_s_fsync_1024",
	"append_records_per_s_no_fsync",
};
static const char *const baseline_names[CFG_COUNT] = {
	"write(2) of the same lines, fdatasync after each head line",
	"write(2) of the same lines, fdatasync every 1024 lines",
	"write(2) of the same lines, no fdatasync",
};

static char dir[64];
static unsigned char pk[PF_AUDIT_PUBLIC_KEY_BYTES], sk[PF_AUDIT_SECRET_KEY_BYTES];
static int cpu0;

static double ours_once(enum cfg c, const char *path)
{
	struct pf_audit_opts o;
	struct pf_audit *log;
	char details[128];
	uint64_t t0, t1;

	pf_audit_opts_init(&o);
	o.host = "bench-host";
	o.secret_key = c == CFG_FSYNC_HEAD ? sk : NULL;
	o.sign_every = SIGN_EVERY;
	o.fsync_policy = c == CFG_FSYNC_1024 ? PF_AUDIT_FSYNC_BATCH : PF_AUDIT_FSYNC_HEAD;
	o.fsync_every = SIGN_EVERY;
	o.fsync_interval_ms = 3600u * 1000u;
	bench_check(pf_audit_open(path, &o, &log, NULL), "pf_audit_open");
	t0 = bench_now_ns();
	for (uint32_t i = 0; i < RECORDS; i++) {
		(void)snprintf(details, sizeof(details),
			       "{\"from\":%u,\"to\":%u,\"reason\":\"rebalance: load above band\"}",
			       i % 7, (i + 3) % 7);
		bench_check(pf_audit_append(log, "move", "vnode", details, i % 1024, NULL),
			    "pf_audit_append");
	}
	t1 = bench_now_ns();
	bench_check(pf_audit_close(log), "pf_audit_close");
	return RECORDS * BENCH_NS_PER_S / (double)(t1 - t0);
}

static char *slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (f == NULL || fseek(f, 0, SEEK_END) < 0 || (n = ftell(f)) < 0) {
		perror(path);
		exit(1);
	}
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
		perror("read");
		exit(1);
	}
	fclose(f);
	*ret_len = (size_t)n;
	return buf;
}

/* Write the lines of src one write(2) each, syncing as configuration c did. */
static double baseline_once(enum cfg c, const char *src, const char *dst)
{
	size_t len, lines = 0;
	char *buf = slurp(src, &len), *p = buf, *end = buf + len;
	int fd = open(dst, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	uint64_t t0, t1;

	if (fd < 0) {
		perror(dst);
		exit(1);
	}
	t0 = bench_now_ns();
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)(nl - p) + 1;
		bool sync = (c == CFG_FSYNC_HEAD && memmem(p, n, "\"event\":\"head\"", 14)) ||
			    (c == CFG_FSYNC_1024 && ++lines % SIGN_EVERY == 0);

		if (write(fd, p, n) != (ssize_t)n || (sync && fdatasync(fd) < 0)) {
			perror("write");
			exit(1);
		}
		p = nl + 1;
	}
	t1 = bench_now_ns();
	close(fd);
	free(buf);
	return RECORDS * BENCH_NS_PER_S / (double)(t1 - t0);
}

static void emit(enum cfg c, double *v, double *b)
{
	struct bench_result r = {
		.bench = "audit",
		.subject = "pf_audit_append",
		.metric = metric_names[c],
		.unit = "records/s",
		.baseline = baseline_names[c],
		.higher_is_better = true,
		.placement = "single-thread",
		.cpus = &cpu0,
		.cpus_count = 1,
		.iterations = RECORDS,
		.batch = 1,
		.samples = SAMPLES,
	};

	r.value = bench_median(v, SAMPLES); /* sorts v */
	r.value_min = v[0];
	r.value_max = v[SAMPLES - 1];
	r.baseline_value = bench_median(b, SAMPLES);
	r.elem_bytes = 0;
	bench_emit(&r);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	char path[128], raw[128];

	(void)snprintf(dir, sizeof(dir), "%s/pfb-audit-XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	bench_check(pf_audit_keygen(pk, sk), "pf_audit_keygen");
	(void)bench_pin_cpu(cpu0);
	(void)snprintf(path, sizeof(path), "%s/audit.log", dir);
	(void)snprintf(raw, sizeof(raw), "%s/raw.log", dir);
	(void)ours_once(CFG_NO_FSYNC, path); /* warm-up: page cache, allocator */
	for (int c = 0; c < CFG_COUNT; c++) {
		double v[SAMPLES], b[SAMPLES];

		for (int s = 0; s < SAMPLES; s++) {
			(void)unlink(path);
			v[s] = ours_once((enum cfg)c, path);
			b[s] = baseline_once((enum cfg)c, path, raw);
		}
		emit((enum cfg)c, v, b);
	}
	return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : 1;
}

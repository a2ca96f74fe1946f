/* SPDX-License-Identifier: MIT */
/*
 * bench/bench_lineage.c: a VNode's lineage read through the audit log's index
 * (pf_audit_lineage_tail(), what GET /api/v1/vnodes/{id} does) in a log of 1,048,576
 * VNodes and about 500 MB of history, against reading the same VNode's newest record alone
 * through the same call (max 1: one read, one parse, one hash: the floor of any lineage).
 *
 * The history, written once with pf_audit_append_batch() as pflightd's auditor writes it
 * (signed, rotated every 64 MiB): the VNodes defined in batches of 65,536, then rounds of
 * churn until the log holds HISTORY_BYTES: each round places every VNode on one of four
 * members (a batch per member of every fourth id, 1,024 ranges each, as a placement burst
 * gives them), then moves a random sixteenth of them one by one (records about one VNode,
 * with their details). A VNode thus has a record per round and a move now and then (about
 * 13 records at 500 MB: most of the bytes are batches), older ones in rotated files. Then LOOKS
 * random VNodes (the same ids in both) are read: the newest 256 records of each, their hashes and
 * links checked (the API's page), and the baseline reads one line. Reported: p50 and p99 of each
 * (ms), goal p99 <= 50 ms; one thread pinned to CPU 0, the log in a mkdtemp() directory under
 * $TMPDIR (default /tmp), removed at the end.
 */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench/bench_core.h"
#include "pflight/audit.h"

#define VNODES (1u << 20)
#define MEMBERS 4u
#define HISTORY_BYTES (UINT64_C(500) << 20)
#define LOOKS 400u
#define TAIL 256u
#define GOAL_P99_MS 50.0

static char dir[64], path[128];
static unsigned char pk[PF_AUDIT_PUBLIC_KEY_BYTES], sk[PF_AUDIT_SECRET_KEY_BYTES];
static struct pf_audit_range ranges[1024];
static int cpu0;

/* The bytes of the log's files: the live one and its rotated ones (audit.jsonl.*). */
static uint64_t history_bytes(void)
{
	char name[sizeof(dir) + 300];
	uint64_t total = 0;
	struct dirent *e;
	struct stat st;
	DIR *d = opendir(dir);

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "audit.jsonl", strlen("audit.jsonl")) != 0)
			continue;
		(void)snprintf(name, sizeof(name), "%s/%s", dir, e->d_name);
		total += stat(name, &st) == 0 ? (uint64_t)st.st_size : 0;
	}
	if (d != NULL)
		(void)closedir(d);
	return total;
}

/* One round: every VNode placed (a batch per member per 4,096 ids), then a sixteenth moved
 * one by one. */
static void round_once(struct pf_audit *log, uint64_t epoch)
{
	char details[160], shared[96];

	for (uint32_t base = 0; base < VNODES; base += 1024 * MEMBERS)
		for (uint32_t m = 0; m < MEMBERS; m++) {
			for (uint32_t i = 0; i < 1024; i++)
				ranges[i] = (struct pf_audit_range){.first = base + i * MEMBERS + m,
								    .count = 1,
								    .value = epoch};
			(void)snprintf(shared, sizeof(shared),
				       "{\"member\":\"%u.1\",\"strategy\":\"least_loaded\"}", m);
			bench_check(pf_audit_append_batch(log, "placement", "vnodes", shared,
							  ranges, 1024, NULL),
				    "pf_audit_append_batch");
		}
	for (uint32_t k = 0; k < VNODES / 16; k++) {
		uint32_t v = (uint32_t)random() % VNODES;

		(void)snprintf(details, sizeof(details),
			       "{\"from\":\"1.1\",\"to\":\"2.1\",\"why\":\"request\",\"from_"
			       "epoch\":%" PRIu64 ",\"to_epoch\":%" PRIu64 ",\"skipped\":0}",
			       epoch, epoch + 1);
		bench_check(pf_audit_append(log, "move", "vnode", details, v, NULL),
			    "pf_audit_append");
	}
}

static struct pf_audit *write_history(uint32_t *ret_rounds)
{
	struct pf_audit_opts o;
	struct pf_audit *log;
	uint64_t epoch = 1;

	pf_audit_opts_init(&o);
	o.host = "bench-host";
	o.secret_key = sk;
	o.fsync_policy = PF_AUDIT_FSYNC_HEAD;
	o.rotate_bytes = UINT64_C(64) << 20;
	bench_check(pf_audit_open(path, &o, &log, NULL), "pf_audit_open");
	for (uint32_t f = 0; f < VNODES; f += 65536) {
		ranges[0] = (struct pf_audit_range){.first = f, .count = 65536, .value = 0};
		bench_check(pf_audit_append_batch(log, "define", "vnodes",
						  "{\"state\":\"pending\"}", ranges, 1, NULL),
			    "pf_audit_append_batch");
	}
	*ret_rounds = 0;
	while (history_bytes() < HISTORY_BYTES) {
		round_once(log, epoch);
		epoch += 2;
		(*ret_rounds)++;
	}
	return log;
}

static int count_cb(const struct pf_audit_record *rec, void *arg)
{
	(void)rec;
	(*(uint32_t *)arg)++;
	return 0;
}

/* The floor: the VNode's newest record alone. */
static double floor_once(struct pf_audit *log, uint32_t v)
{
	uint32_t n = 0;
	uint64_t t0 = bench_now_ns();

	bench_check(pf_audit_lineage_tail(log, v, 1, count_cb, &n, NULL) < 0 ? -1 : 0,
		    "pf_audit_lineage_tail");
	return (double)(bench_now_ns() - t0) / 1e6;
}

static double tail_once(struct pf_audit *log, uint32_t v, uint32_t *ret_records)
{
	uint32_t n = 0;
	uint64_t t0 = bench_now_ns();
	int r = pf_audit_lineage_tail(log, v, TAIL, count_cb, &n, NULL);

	bench_check(r < 0 ? r : 0, "pf_audit_lineage_tail");
	*ret_records += n;
	return (double)(bench_now_ns() - t0) / 1e6;
}

static void emit(const char *metric, double value, double base, const char *baseline, double goal)
{
	struct bench_result r = {
		.bench = "lineage",
		.subject = "pf_audit_lineage_tail",
		.metric = metric,
		.unit = "ms",
		.value = value,
		.baseline = baseline,
		.baseline_value = base,
		.higher_is_better = false,
		.goal = goal,
		.goal_on_value = goal > 0,
		.placement = "single-thread",
		.cpus = &cpu0,
		.cpus_count = 1,
		.iterations = LOOKS,
		.batch = TAIL,
		.samples = 1,
		.value_min = value,
		.value_max = value,
	};

	bench_emit(&r);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(p);
}

int main(void)
{
	static double tail[LOOKS], one[LOOKS];
	const char *tmp = getenv("TMPDIR");
	struct pf_audit *log;
	uint32_t rounds, records = 0;
	uint64_t t0;

	(void)snprintf(dir, sizeof(dir), "%s/pfb-lineage-XXXXXX", tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	(void)snprintf(path, sizeof(path), "%s/audit.jsonl", dir);
	bench_check(pf_audit_keygen(pk, sk), "pf_audit_keygen");
	(void)bench_pin_cpu(cpu0);
	srandom(1);
	t0 = bench_now_ns();
	log = write_history(&rounds);
	fprintf(stderr, "bench_lineage: %u rounds, %.0f MB of history written in %.1f s\n", rounds,
		history_bytes() / 1e6, (double)(bench_now_ns() - t0) / 1e9);
	for (uint32_t i = 0; i < LOOKS; i++) {
		uint32_t v = (uint32_t)random() % VNODES;

		tail[i] = tail_once(log, v, &records);
		one[i] = floor_once(log, v);
	}
	fprintf(stderr, "bench_lineage: %u looks, %.1f records each\n", LOOKS,
		(double)records / LOOKS);
	emit("lineage_p50_ms", bench_percentile(tail, LOOKS, 50), bench_percentile(one, LOOKS, 50),
	     "the newest record alone, p50", 0);
	emit("lineage_p99_ms", bench_percentile(tail, LOOKS, 99), bench_percentile(one, LOOKS, 99),
	     "the newest record alone, p99", GOAL_P99_MS);
	bench_check(pf_audit_close(log), "pf_audit_close");
	return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : 1;
}

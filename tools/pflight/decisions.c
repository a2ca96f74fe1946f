/* SPDX-License-Identifier: MIT */
/*
 * tools/pflight/decisions.c: `pflight decisions`, the recent placement decisions.
 *
 * Schedulers write an explanation of each decision into a ring in the domain
 * (pf_sched_explain_read(), pflight/sched.h), but only while someone is subscribed:
 * pflightd's auditor is, for as long as the daemon runs. This command reads the ring
 * from the start (cursor 0; records already overwritten are skipped, which shows as a
 * gap in the sequence numbers) and keeps the newest N that match, oldest first. It does
 * not subscribe itself: a reader that only looks must not make every placement pay for
 * writing explanations.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "jdoc.h"

#define DECISIONS_DEFAULT 20u
#define DECISIONS_MAX 65536u
#define READ_BATCH 64u
/* Records looked at, at most: the ring holds up to 2^20 (pf_domain_opts.explain_slots),
 * and a scheduler writing as fast as we read must not keep us reading for ever. */
#define SCAN_MAX (4u << 20)

struct decisions_args {
	uint32_t limit;
	uint32_t vnode;
	int by_vnode;
};

/* The newest `cap` matching decisions, in a ring: entry i % cap is the i-th seen. */
struct kept {
	struct pf_sched_decision *dec;
	uint64_t *seq;
	uint32_t cap;
	uint64_t seen;    /* matching decisions read */
	uint64_t scanned; /* all decisions read */
};

static int decisions_parse(int argc, char **argv, struct decisions_args *a)
{
	*a = (struct decisions_args){.limit = DECISIONS_DEFAULT};
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
			if (cli_parse_u32("--limit", argv[++i], 1, DECISIONS_MAX, &a->limit) < 0)
				return -EINVAL;
		} else if (strcmp(argv[i], "--vnode") == 0 && i + 1 < argc) {
			if (cli_parse_u32("--vnode", argv[++i], 0, UINT32_MAX, &a->vnode) < 0)
				return -EINVAL;
			a->by_vnode = 1;
		} else {
			return -EINVAL;
		}
	}
	return 0;
}

static int collect(struct pf_domain *d, const struct decisions_args *a, struct kept *k)
{
	struct pf_sched_decision batch[READ_BATCH];
	uint64_t seqs[READ_BATCH], cursor = 0;

	while (k->scanned < SCAN_MAX) {
		int n = pf_sched_explain_read(d, &cursor, batch, READ_BATCH, seqs);

		if (n <= 0)
			return n;
		for (int i = 0; i < n; i++) {
			uint32_t at = (uint32_t)(k->seen % k->cap);

			if (a->by_vnode && batch[i].vnode != a->vnode)
				continue;
			k->dec[at] = batch[i];
			k->seq[at] = seqs[i];
			k->seen++;
		}
		k->scanned += (uint64_t)n;
	}
	return 0;
}

static void header(void)
{
	printf("%66s%-36s%s\n", "", "filtered out by", "winner's score");
	printf("%-6s %-6s %-13s %-15s %-7s %-6s %5s  %5s %4s %5s %6s %4s %5s  %7s %5s %5s %6s "
	       "%4s\n",
	       "SEQ", "VNODE", "OUTCOME", "STRATEGY", "WINNER", "EPOCH", "CANDS", "state", "caps",
	       "trust", "policy", "full", "bound", "SCORE", "RELIA", "TRUST", "LOAD", "NUMA");
}

static void decision_row(uint64_t seq, const struct pf_sched_decision *x)
{
	const char *outcome = pf_sched_reason_name(x->reason);
	const char *strategy = pf_sched_strategy_name(x->strategy);
	char winner[24] = "-", epoch[24] = "-";

	if (x->reason == PF_SCHED_PLACED) {
		(void)snprintf(winner, sizeof(winner), "%u.%u", x->winner_slot,
			       x->winner_generation);
		(void)snprintf(epoch, sizeof(epoch), "%llu", (unsigned long long)x->epoch);
	}
	printf("%-6llu %-6u %-13s %-15s %-7s %-6s %5u  %5u %4u %5u %6u %4u %5u",
	       (unsigned long long)seq, x->vnode, outcome != NULL ? outcome : "?",
	       strategy != NULL ? strategy : "?", winner, epoch, x->candidates,
	       x->filtered[PF_SCHED_FILTERED_STATE], x->filtered[PF_SCHED_FILTERED_CAPS],
	       x->filtered[PF_SCHED_FILTERED_TRUST], x->filtered[PF_SCHED_FILTERED_POLICY],
	       x->filtered[PF_SCHED_FILTERED_FULL], x->filtered[PF_SCHED_FILTERED_BOUND]);
	if (x->reason == PF_SCHED_PLACED)
		printf("  %7.4f %5.3f %5.3f %6.4f %4.2f\n", x->score, x->reliability, x->trust,
		       x->load, x->numa_factor);
	else
		printf("  %7s %5s %5s %6s %4s\n", "-", "-", "-", "-", "-");
}

/* The kept decisions, oldest first: a table, or the JSON array. */
static json_t *decisions_out(struct cli *c, const struct decisions_args *a, const struct kept *k)
{
	uint64_t first = k->seen > k->cap ? k->seen - k->cap : 0;
	json_t *doc = json_array();

	if (!c->json && k->scanned == 0)
		printf("no recent decisions (the ring is filled only while pflightd or another "
		       "subscriber runs)\n");
	else if (!c->json && k->seen == 0)
		printf("no recent decisions for VNode %u (%llu for other VNodes)\n", a->vnode,
		       (unsigned long long)k->scanned);
	else if (!c->json)
		header();
	for (uint64_t i = first; i < k->seen; i++) {
		uint32_t at = (uint32_t)(i % k->cap);

		if (!c->json)
			decision_row(k->seq[at], &k->dec[at]);
		json_array_append_new(doc, jdoc_decision(k->seq[at], &k->dec[at]));
	}
	return doc;
}

int cmd_decisions(struct cli *c, int argc, char **argv)
{
	struct decisions_args a;
	struct kept k = {0};
	int r;

	if (decisions_parse(argc, argv, &a) < 0)
		return EXIT_USAGE;
	k.cap = a.limit;
	k.dec = calloc(k.cap, sizeof(*k.dec));
	k.seq = calloc(k.cap, sizeof(*k.seq));
	r = k.dec != NULL && k.seq != NULL ? collect(c->d, &a, &k) : -ENOMEM;
	if (r < 0) {
		fprintf(stderr, "pflight: decisions: %s\n", strerror(-r));
		free(k.dec);
		free(k.seq);
		return EXIT_FAILED;
	}
	r = cli_emit(c, decisions_out(c, &a, &k));
	free(k.dec);
	free(k.seq);
	return r;
}

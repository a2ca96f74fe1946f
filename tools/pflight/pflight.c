/* SPDX-License-Identifier: MIT */
/*
 * tools/pflight/pflight.c: the command-line view of a host domain.
 *
 * These commands read the domain's shared memory directly and change nothing (like
 * aeron-stat): status, members, vnodes, capabilities, stat, decisions. `send` puts a
 * message in a VNode's inbox. `drain` and `retire` cordon a member (pflight/drain.h) and
 * follow its VNode count while pflightd moves them away. Human tables by default, --json
 * everywhere (one JSON document on stdout). `token` and `audit` (offline.c) work on key,
 * token and log files and open no domain. `migrate` (migrate.c) asks pflightd.
 *
 * Exit status: 0 success, 1 the operation failed, 2 bad usage, 3 the domain cannot be
 * opened (missing, not ready, refused).
 */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

struct command {
	const char *name;
	const char *usage;
	const char *help;
	int (*run)(struct cli *c, int argc, char **argv);
	int offline; /* 1: works on files only, opens no domain */
};

static const char *const member_states[] = {"free",     "joining", "active",
					    "draining", "retired", "dead"};
static const char *const vnode_states[] = {"unassigned", "pending", "active", "migrating",
					   "draining"};

int cli_emit(struct cli *c, json_t *doc)
{
	int r = 0;

	if (c->json && json_dumpf(doc, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) < 0)
		r = EXIT_FAILED;
	if (c->json)
		fputc('\n', stdout);
	json_decref(doc);
	return r;
}

static json_t *caps_json(struct pf_domain *d, const uint64_t caps[2])
{
	json_t *a = json_array();

	for (uint32_t i = 0; i < PF_CAPS_MAX; i++) {
		const char *name;

		if (((caps[i / 64] >> (i % 64)) & 1) == 0)
			continue;
		name = pf_capability_name(d, i);
		json_array_append_new(a, json_string(name != NULL ? name : "?"));
	}
	return a;
}

static int cmd_status(struct cli *c, int argc, char **argv)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	json_t *doc;

	(void)argv;
	if (argc > 1)
		return EXIT_USAGE;
	if (pf_domain_info(c->d, &di) < 0)
		return EXIT_FAILED;
	doc = json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "domain", c->domain,
			"members_active", (json_int_t)di.members_active, "members_max",
			(json_int_t)di.members_max, "vnodes_max", (json_int_t)di.vnodes_max,
			"vnodes_active", (json_int_t)di.vnodes_active, "vnodes_pending",
			(json_int_t)di.vnodes_pending, "capabilities", (json_int_t)di.caps_count,
			"membership_version", (json_int_t)di.membership_version, "segment_bytes",
			(json_int_t)di.segment_bytes);
	if (!c->json) {
		printf("domain %s: %u/%u members active, %u VNodes active, %u pending (of %u), "
		       "%u capabilities, membership version %u\n",
		       c->domain, di.members_active, di.members_max, di.vnodes_active,
		       di.vnodes_pending, di.vnodes_max, di.caps_count, di.membership_version);
	}
	return cli_emit(c, doc);
}

static json_t *member_json(struct cli *c, const struct pf_member_info *mi)
{
	return json_pack(
		"{s:I, s:I, s:s, s:I, s:I, s:I, s:o, s:I, s:I, s:f, s:f, s:f}", "slot",
		(json_int_t)mi->slot, "generation", (json_int_t)mi->generation, "state",
		mi->state < 6 ? member_states[mi->state] : "?", "pid", (json_int_t)mi->pid, "node",
		(json_int_t)mi->numa_node, "cpu", (json_int_t)mi->cpu, "capabilities",
		caps_json(c->d, mi->caps), "vnodes", (json_int_t)mi->vnodes_owned, "heartbeat",
		(json_int_t)mi->heartbeat, "trust", mi->trust_ppm / (double)PF_PPM, "reliability",
		mi->reliability_ppm / (double)PF_PPM, "cpu_load", mi->cpu_ppm / (double)PF_PPM);
}

static int cmd_members(struct cli *c, int argc, char **argv)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	json_t *doc = json_array();

	(void)argv;
	if (argc > 1 || pf_domain_info(c->d, &di) < 0) {
		json_decref(doc);
		return argc > 1 ? EXIT_USAGE : EXIT_FAILED;
	}
	if (!c->json)
		printf("%-5s %-4s %-8s %-8s %-4s %6s %5s %5s  %s\n", "SLOT", "GEN", "STATE", "PID",
		       "NODE", "VNODES", "TRUST", "RELIA", "CAPABILITIES");
	for (uint32_t s = 0; s < di.members_max; s++) {
		struct pf_member_info mi = {.size = sizeof(mi)};
		json_t *m;

		if (pf_member_info(c->d, s, &mi) < 0)
			continue;
		m = member_json(c, &mi);
		if (!c->json) {
			json_t *caps = json_object_get(m, "capabilities");
			size_t i;
			json_t *v;

			printf("%-5u %-4u %-8s %-8d %-4d %6u %5.2f %5.2f ", mi.slot, mi.generation,
			       mi.state < 6 ? member_states[mi.state] : "?", (int)mi.pid,
			       mi.numa_node, mi.vnodes_owned, mi.trust_ppm / (double)PF_PPM,
			       mi.reliability_ppm / (double)PF_PPM);
			json_array_foreach(caps, i, v)
				printf("%s%s", i ? "," : " ", json_string_value(v));
			printf("\n");
		}
		json_array_append_new(doc, m);
	}
	return cli_emit(c, doc);
}

int cli_parse_u32(const char *s, uint32_t *ret)
{
	unsigned long long v;
	char *end;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || end == s || v > UINT32_MAX)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

static int vnode_filter(int argc, char **argv, int *ret_state, uint32_t *ret_limit)
{
	*ret_state = -1;
	*ret_limit = UINT32_MAX;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--state") == 0 && i + 1 < argc) {
			*ret_state = -2;
			for (int k = 0; k < 5; k++)
				if (strcmp(argv[i + 1], vnode_states[k]) == 0)
					*ret_state = k;
			if (*ret_state == -2)
				return -EINVAL;
			i++;
		} else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
			if (cli_parse_u32(argv[++i], ret_limit) < 0)
				return -EINVAL;
		} else {
			return -EINVAL;
		}
	}
	return 0;
}

static int cmd_vnodes(struct cli *c, int argc, char **argv)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	uint32_t limit, shown = 0;
	json_t *doc;
	int state;

	if (vnode_filter(argc, argv, &state, &limit) < 0)
		return EXIT_USAGE;
	if (pf_domain_info(c->d, &di) < 0)
		return EXIT_FAILED;
	doc = json_array();
	if (!c->json)
		printf("%-8s %-10s %-6s %-8s %-6s %-6s %-5s %s\n", "VNODE", "STATE", "OWNER",
		       "EPOCH", "CKPT", "INBOX", "HOME", "PENDING");
	for (uint32_t id = 0; id < di.vnodes_max && shown < limit; id++) {
		struct pf_vnode_info vi = {.size = sizeof(vi)};
		const char *why;

		if (pf_vnode_info(c->d, id, &vi) < 0 || vi.state == PF_VNODE_UNASSIGNED)
			continue;
		if (state >= 0 && vi.state != (uint32_t)state)
			continue;
		why = vi.state == PF_VNODE_PENDING ? pf_sched_reason_name(vi.pending_reason) : "";
		shown++;
		json_array_append_new(
			doc,
			json_pack("{s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:s}", "id", (json_int_t)id,
				  "state", vnode_states[vi.state % 5], "owner",
				  (json_int_t)(int32_t)vi.owner_slot, "epoch", (json_int_t)vi.epoch,
				  "checkpoint_seq", (json_int_t)vi.checkpoint_seq, "inbox",
				  (json_int_t)vi.inbox_depth, "home", (json_int_t)vi.home_node,
				  "pending_reason", why != NULL ? why : ""));
		if (!c->json)
			printf("%-8u %-10s %-6d %-8llu %-6llu %-6llu %-5d %s\n", id,
			       vnode_states[vi.state % 5], (int32_t)vi.owner_slot,
			       (unsigned long long)vi.epoch, (unsigned long long)vi.checkpoint_seq,
			       (unsigned long long)vi.inbox_depth, vi.home_node,
			       why != NULL ? why : "");
	}
	return cli_emit(c, doc);
}

static int cmd_capabilities(struct cli *c, int argc, char **argv)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	json_t *doc = json_array();

	(void)argv;
	if (argc > 1 || pf_domain_info(c->d, &di) < 0) {
		json_decref(doc);
		return argc > 1 ? EXIT_USAGE : EXIT_FAILED;
	}
	for (uint32_t i = 0; i < di.caps_count; i++) {
		const char *name = pf_capability_name(c->d, i);

		if (name == NULL)
			continue;
		if (!c->json)
			printf("%3u %s\n", i, name);
		json_array_append_new(
			doc, json_pack("{s:I, s:s}", "index", (json_int_t)i, "name", name));
	}
	return cli_emit(c, doc);
}

static int cmd_stat(struct cli *c, int argc, char **argv)
{
	uint64_t values[PF_COUNTER_COUNT];
	json_t *doc = json_object();
	int n;

	(void)argv;
	n = argc > 1 ? -EINVAL : pf_domain_counters(c->d, values, PF_COUNTER_COUNT);
	if (n < 0) {
		json_decref(doc);
		return argc > 1 ? EXIT_USAGE : EXIT_FAILED;
	}
	for (int i = 0; i < n; i++) {
		if (!c->json)
			printf("%-20s %llu\n", pf_counter_name((uint32_t)i),
			       (unsigned long long)values[i]);
		json_object_set_new(doc, pf_counter_name((uint32_t)i),
				    json_integer((json_int_t)values[i]));
	}
	return cli_emit(c, doc);
}

static int cmd_send(struct cli *c, int argc, char **argv)
{
	uint32_t id;
	int r;

	if (argc != 3 || cli_parse_u32(argv[1], &id) < 0)
		return EXIT_USAGE;
	r = pf_send(c->d, id, argv[2], strlen(argv[2]));
	if (r < 0) {
		fprintf(stderr, "pflight: send to %u: %s\n", id, strerror(-r));
		return EXIT_FAILED;
	}
	if (!c->json)
		printf("sent %zu bytes to VNode %u\n", strlen(argv[2]), id);
	return cli_emit(c, json_pack("{s:I, s:I}", "vnode", (json_int_t)id, "bytes",
				     (json_int_t)strlen(argv[2])));
}

#define DRAIN_TIMEOUT_S_DEFAULT 60u
#define DRAIN_POLL_NS 100000000L /* 100 ms */

struct drain_args {
	uint32_t slot;
	uint32_t timeout_s;
	int wait;
};

static int drain_parse(int argc, char **argv, struct drain_args *a)
{
	int have = 0;

	a->timeout_s = DRAIN_TIMEOUT_S_DEFAULT;
	a->wait = 1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--no-wait") == 0)
			a->wait = 0;
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
			have |= cli_parse_u32(argv[++i], &a->timeout_s) < 0 ? 2 : 0;
		else if (have == 0 && cli_parse_u32(argv[i], &a->slot) == 0)
			have = 1;
		else
			return -EINVAL;
	}
	return have == 1 ? 0 : -EINVAL;
}

/* VNodes whose ownership word names slot now (adopted or not). */
static uint32_t held_by(struct pf_domain *d, uint32_t slot, uint32_t vnodes_max)
{
	uint32_t n = 0;

	for (uint32_t id = 0; id < vnodes_max; id++) {
		struct pf_vnode_info vi = {.size = sizeof(vi)};

		if (pf_vnode_info(d, id, &vi) == 0 && vi.owner_slot == slot &&
		    (vi.state == PF_VNODE_ACTIVE || vi.state == PF_VNODE_MIGRATING ||
		     vi.state == PF_VNODE_DRAINING))
			n++;
	}
	return n;
}

/* The state of the membership (slot, gen): FREE once the slot was reused. */
static uint32_t member_state(struct pf_domain *d, uint32_t slot, uint32_t gen)
{
	struct pf_member_info mi = {.size = sizeof(mi)};

	if (pf_member_info(d, slot, &mi) < 0 || mi.generation != gen)
		return PF_MEMBER_FREE;
	return mi.state;
}

/* Poll until the member is no longer DRAINING or the timeout passes: 0 or -ETIMEDOUT. */
static int drain_wait(struct cli *c, const struct drain_args *a, uint32_t gen, uint32_t vnodes_max,
		      uint32_t *ret_state, uint32_t *ret_held)
{
	struct timespec poll = {0, DRAIN_POLL_NS};
	uint64_t polls = (uint64_t)a->timeout_s * 10u, shown = UINT32_MAX;

	for (uint64_t k = 0;; k++) {
		*ret_state = member_state(c->d, a->slot, gen);
		*ret_held = held_by(c->d, a->slot, vnodes_max);
		if (!c->json && *ret_held != shown)
			printf("member %u: %u VNodes left (%s)\n", a->slot, *ret_held,
			       member_states[*ret_state % 6]);
		shown = *ret_held;
		if (*ret_state != PF_MEMBER_DRAINING)
			return 0;
		if (k >= polls)
			return -ETIMEDOUT;
		(void)nanosleep(&poll, NULL);
	}
}

static int drain_or_retire(struct cli *c, int argc, char **argv, uint32_t flags)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	struct pf_member_info mi = {.size = sizeof(mi)};
	struct drain_args a;
	uint32_t state = PF_MEMBER_DRAINING, held, initial;
	int r;

	if (drain_parse(argc, argv, &a) < 0)
		return EXIT_USAGE;
	if (pf_domain_info(c->d, &di) < 0)
		return EXIT_FAILED;
	r = pf_member_cordon(c->d, a.slot, flags);
	if (r < 0 && r != -EALREADY) {
		fprintf(stderr, "pflight: %s member %u: %s\n", argv[0], a.slot, strerror(-r));
		return EXIT_FAILED;
	}
	if (pf_member_info(c->d, a.slot, &mi) < 0)
		mi.generation = 0; /* drained already: the slot is FREE */
	held = initial = held_by(c->d, a.slot, di.vnodes_max);
	if (!c->json)
		printf("member %u.%u cordoned (%s): %u VNodes to move; pflightd moves them\n",
		       a.slot, mi.generation, argv[0], initial);
	r = a.wait ? drain_wait(c, &a, mi.generation, di.vnodes_max, &state, &held) : 0;
	if (r == -ETIMEDOUT)
		fprintf(stderr, "pflight: %s member %u: %u VNodes still held after %u s\n", argv[0],
			a.slot, held, a.timeout_s);
	if (cli_emit(c, json_pack("{s:s, s:I, s:I, s:I, s:I, s:s, s:b}", "action", argv[0], "slot",
				  (json_int_t)a.slot, "generation", (json_int_t)mi.generation,
				  "initial", (json_int_t)initial, "remaining", (json_int_t)held,
				  "state", member_states[state % 6], "done",
				  state != PF_MEMBER_DRAINING)) != 0)
		return EXIT_FAILED;
	return r < 0 ? EXIT_FAILED : 0;
}

static int cmd_drain(struct cli *c, int argc, char **argv)
{
	return drain_or_retire(c, argc, argv, 0);
}

static int cmd_retire(struct cli *c, int argc, char **argv)
{
	return drain_or_retire(c, argc, argv, PF_DRAIN_RETIRE);
}

static const struct command commands[] = {
	{"status", "status", "domain summary: members, VNodes, capabilities", cmd_status, 0},
	{"members", "members", "every member slot in use, with its attributes", cmd_members, 0},
	{"vnodes", "vnodes [--state S] [--limit N]",
	 "defined VNodes: owner, epoch, checkpoint, inbox depth, why pending", cmd_vnodes, 0},
	{"capabilities", "capabilities", "the capability directory", cmd_capabilities, 0},
	{"stat", "stat", "the domain's counters, read straight from shared memory", cmd_stat, 0},
	{"send", "send <vnode> <text>", "put <text> in VNode <vnode>'s inbox", cmd_send, 0},
	{"drain", "drain <slot> [--timeout S] [--no-wait]",
	 "cordon a member; pflightd moves its VNodes away (progress until done)", cmd_drain, 0},
	{"retire", "retire <slot> [--timeout S] [--no-wait]",
	 "drain a member, then remove it (kept as RETIRED history)", cmd_retire, 0},
	{"migrate", "migrate <vnode> <slot> [--timeout S] [--no-wait] [--control PATH]",
	 "ask pflightd to move a VNode, with its state, to member <slot> (policies apply)",
	 cmd_migrate, 0},
	{"token",
	 "token issue --key FILE --domain NAME --expires SECONDS [--caps a,b] [--trust T] "
	 "[--uid U] | token verify --pubkey FILE TOKEN",
	 "issue a signed join token, or check one (exit 1: refused); no domain needed", cmd_token,
	 1},
	{"audit", "audit verify [--pubkey FILE] LOG | audit lineage LOG VNODE | audit tail LOG [N]",
	 "check an audit log (exit 1: broken), a VNode's records, the last N records; no domain",
	 cmd_audit, 1},
};

static void usage(FILE *f)
{
	fprintf(f, "usage: pflight [--domain NAME] [--json] <command> [args]\n"
		   "       pflight help <command>\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-34s %s\n", commands[i].usage, commands[i].help);
	fprintf(f, "\nThe domain defaults to $PFLIGHT_DOMAIN, else \"default\".\n"
		   "Exit status: 0 ok, 1 failed, 2 bad usage, 3 domain cannot be opened.\n");
}

static const struct command *find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static int help(int argc, char **argv)
{
	const struct command *cmd = argc > 1 ? find(argv[1]) : NULL;

	if (cmd == NULL) {
		usage(stdout);
		return argc > 1 ? EXIT_USAGE : 0;
	}
	printf("usage: pflight [--domain NAME] [--json] %s\n  %s\n", cmd->usage, cmd->help);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"domain", required_argument, NULL, 'd'},
					     {"json", no_argument, NULL, 'j'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	const struct command *cmd;
	struct cli c = {.domain = getenv("PFLIGHT_DOMAIN")};
	int o, r;

	while ((o = getopt_long(argc, argv, "+d:jh", opts, NULL)) != -1) {
		if (o == 'd')
			c.domain = optarg;
		else if (o == 'j')
			c.json = 1;
		else if (o == 'h')
			return help(argc - optind + 1, argv + optind - 1), 0;
		else
			return usage(stderr), EXIT_USAGE;
	}
	if (optind >= argc)
		return usage(stderr), EXIT_USAGE;
	if (strcmp(argv[optind], "help") == 0)
		return help(argc - optind, argv + optind);
	cmd = find(argv[optind]);
	if (cmd == NULL) {
		fprintf(stderr, "pflight: unknown command '%s'\n", argv[optind]);
		return usage(stderr), EXIT_USAGE;
	}
	for (int i = optind + 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0)
			return help(2, (char *[]){"help", (char *)cmd->name}), 0;
	if (c.domain == NULL)
		c.domain = "default";
	r = cmd->offline ? 0 : pf_domain_open(c.domain, &c.d);
	if (r < 0) {
		fprintf(stderr, "pflight: domain %s: %s\n", c.domain, strerror(-r));
		return EXIT_NO_DOMAIN;
	}
	r = cmd->run(&c, argc - optind, argv + optind);
	if (r == EXIT_USAGE)
		fprintf(stderr, "usage: pflight %s\n", cmd->usage);
	if (c.d != NULL)
		pf_domain_close(c.d);
	return r;
}

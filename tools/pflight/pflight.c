/* SPDX-License-Identifier: MIT */
/*
 * tools/pflight/pflight.c: the command-line view of a host domain.
 *
 * These commands read the domain's shared memory directly and change nothing (like
 * aeron-stat): status, members, vnodes, capabilities, stat, and decisions (decisions.c).
 * `send` puts a message in a VNode's inbox. `drain` and `retire` (drain.c) cordon
 * members (pflight/drain.h) and follow their VNode counts while pflightd moves them
 * away. Human tables by default, --json everywhere (one JSON document on stdout).
 * `token` and `audit` (offline.c) work on key, token and log files and open no domain;
 * `sim` (sim.c) simulates a domain of its own and opens none either.
 * The command table and every help text are in help.c.
 *
 * Exit status: 0 success, 1 the operation failed, 2 bad usage, 3 the domain cannot be
 * opened (missing, not ready, refused).
 */
#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "build_info.h"
#include "decimal.h"
#include "jdoc.h"

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

int cmd_status(struct cli *c, int argc, char **argv)
{
	struct pf_domain_info di = {.size = sizeof(di)};
	json_t *doc;

	(void)argv;
	if (argc > 1)
		return EXIT_USAGE;
	if (pf_domain_info(c->d, &di) < 0)
		return EXIT_FAILED;
	doc = jdoc_domain(c->domain, &di);
	if (!c->json) {
		printf("domain %s: %u/%u members active, %u VNodes active, %u pending (of %u), "
		       "%u capabilities, membership version %u\n",
		       c->domain, di.members_active, di.members_max, di.vnodes_active,
		       di.vnodes_pending, di.vnodes_max, di.caps_count, di.membership_version);
	}
	return cli_emit(c, doc);
}

int cmd_members(struct cli *c, int argc, char **argv)
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
		m = jdoc_member(c->d, &mi);
		if (!c->json) {
			json_t *caps = json_object_get(m, "capabilities");
			size_t i;
			json_t *v;

			printf("%-5u %-4u %-8s %-8d %-4d %6u %5.2f %5.2f ", mi.slot, mi.generation,
			       jdoc_member_state_name(mi.state), (int)mi.pid, mi.numa_node,
			       mi.vnodes_owned, mi.trust_ppm / (double)PF_PPM,
			       mi.reliability_ppm / (double)PF_PPM);
			json_array_foreach(caps, i, v)
				printf("%s%s", i ? "," : " ", json_string_value(v));
			printf("\n");
		}
		json_array_append_new(doc, m);
	}
	return cli_emit(c, doc);
}

int cli_parse_u64(const char *what, const char *text, uint64_t min, uint64_t max, uint64_t *ret)
{
	uint64_t v;
	int r = decimal_parse(text, strlen(text), max, &v);

	if (r == 0 && v < min)
		r = -ERANGE;
	if (r < 0) {
		fprintf(stderr, "pflight: %s '%s': %s; it takes %llu..%llu\n", what, text,
			r == -ERANGE
				? "out of range"
				: "not a number (decimal digits only: no sign, space or prefix)",
			(unsigned long long)min, (unsigned long long)max);
		return -EINVAL;
	}
	*ret = v;
	return 0;
}

int cli_parse_u32(const char *what, const char *text, uint32_t min, uint32_t max, uint32_t *ret)
{
	uint64_t v;

	if (cli_parse_u64(what, text, min, max, &v) < 0)
		return -EINVAL;
	*ret = (uint32_t)v;
	return 0;
}

int cli_parse_real(const char *what, const char *text, double min, double max, double *ret)
{
	const char *why = "not a number (decimal digits, and a fraction after a '.' if any: no "
			  "sign, space or exponent)";
	double v;
	int r = decimal_parse_real(text, strlen(text), max, &v);

	if (r == 0 && v < min)
		r = -ERANGE;
	if (r == -ERANGE)
		why = "out of range";
	if (r < 0 && max < DBL_MAX)
		fprintf(stderr, "pflight: %s '%s': %s; it takes %g..%g\n", what, text, why, min,
			max);
	else if (r < 0)
		fprintf(stderr, "pflight: %s '%s': %s; it takes %g or more\n", what, text, why,
			min);
	if (r < 0)
		return -EINVAL;
	*ret = v;
	return 0;
}

static int vnode_filter(int argc, char **argv, int *ret_state, uint32_t *ret_limit)
{
	*ret_state = -1;
	*ret_limit = UINT32_MAX;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--state") == 0 && i + 1 < argc) {
			*ret_state = jdoc_vnode_state_parse(argv[++i]);
			if (*ret_state < 0)
				return -EINVAL;
		} else if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
			if (cli_parse_u32("--limit", argv[++i], 0, UINT32_MAX, ret_limit) < 0)
				return -EINVAL;
		} else {
			return -EINVAL;
		}
	}
	return 0;
}

int cmd_vnodes(struct cli *c, int argc, char **argv)
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

		if (pf_vnode_info(c->d, id, &vi) < 0 || vi.state == PF_VNODE_UNASSIGNED)
			continue;
		if (state >= 0 && vi.state != (uint32_t)state)
			continue;
		shown++;
		json_array_append_new(doc, jdoc_vnode(id, &vi));
		if (!c->json) {
			char owner[16];

			/* Between hosts: "@<i>", host i of transport.peers. */
			(void)snprintf(owner, sizeof(owner), vi.host != UINT32_MAX ? "@%d" : "%d",
				       vi.host != UINT32_MAX ? (int32_t)vi.host
							     : (int32_t)vi.owner_slot);
			printf("%-8u %-10s %-6s %-8llu %-6llu %-6llu %-5d %s\n", id,
			       jdoc_vnode_state_name(vi.state), owner, (unsigned long long)vi.epoch,
			       (unsigned long long)vi.checkpoint_seq,
			       (unsigned long long)vi.inbox_depth, vi.home_node,
			       jdoc_pending_reason(&vi));
		}
	}
	return cli_emit(c, doc);
}

int cmd_capabilities(struct cli *c, int argc, char **argv)
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

int cmd_stat(struct cli *c, int argc, char **argv)
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

int cmd_send(struct cli *c, int argc, char **argv)
{
	uint32_t id;
	int r;

	if (argc != 3 || cli_parse_u32("<vnode>", argv[1], 0, UINT32_MAX, &id) < 0)
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {{"domain", required_argument, NULL, 'd'},
					     {"json", no_argument, NULL, 'j'},
					     {"help", no_argument, NULL, 'h'},
					     {"version", no_argument, NULL, 'V'},
					     {NULL, 0, NULL, 0}};
	const struct cli_command *cmd;
	struct cli c = {.domain = getenv("PFLIGHT_DOMAIN")};
	const char *domain_from = "PFLIGHT_DOMAIN";
	int o, r;

	while ((o = getopt_long(argc, argv, "+d:jh", opts, NULL)) != -1) {
		if (o == 'd') {
			c.domain = optarg;
			domain_from = "--domain";
		} else if (o == 'j') {
			c.json = 1;
		} else if (o == 'h') {
			return cli_help(argc - optind + 1, argv + optind - 1);
		} else if (o == 'V') {
			return build_print_version(stdout, "pflight"), 0;
		} else {
			return cli_usage(stderr), EXIT_USAGE;
		}
	}
	if (optind >= argc)
		return cli_usage(stderr), EXIT_USAGE;
	if (strcmp(argv[optind], "help") == 0)
		return cli_help(argc - optind, argv + optind);
	cmd = cli_command_find(argv[optind]);
	if (cmd == NULL) {
		fprintf(stderr, "pflight: unknown command '%s'\n", argv[optind]);
		return cli_usage(stderr), EXIT_USAGE;
	}
	for (int i = optind + 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0)
			return cli_help(2, (char *[]){"help", (char *)cmd->name}), 0;
	if (c.domain == NULL)
		c.domain = "default";
	r = cmd->offline ? 0 : pf_domain_open(c.domain, &c.d);
	if (r == -EINVAL || r == -ENAMETOOLONG) { /* what pf_domain_open() says of a bad name */
		fprintf(stderr,
			"pflight: %s '%s': not a domain name (1 to %u characters of A-Z, a-z, 0-9, "
			"'.', '_' and '-', not starting with '.')\n",
			domain_from, c.domain, PF_DOMAIN_NAME_MAX);
		return EXIT_USAGE;
	}
	if (r < 0) {
		fprintf(stderr, "pflight: domain %s: %s\n", c.domain, strerror(-r));
		return EXIT_NO_DOMAIN;
	}
	r = cmd->run(&c, argc - optind, argv + optind);
	if (r == EXIT_USAGE)
		cli_command_usage(stderr, cmd);
	if (c.d != NULL)
		pf_domain_close(c.d);
	return r;
}

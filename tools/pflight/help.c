/* SPDX-License-Identifier: MIT */
/*
 * tools/pflight/help.c: the command table, and the usage and help texts drawn from it.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

const struct cli_command cli_commands[] = {
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
	{"token",
	 "token issue --key FILE --domain NAME --expires SECONDS [--caps a,b] [--trust T] "
	 "[--uid U] | token verify --pubkey FILE TOKEN",
	 "issue a signed join token, or check one (exit 1: refused); no domain needed", cmd_token,
	 1},
	{"audit", "audit verify [--pubkey FILE] LOG | audit lineage LOG VNODE | audit tail LOG [N]",
	 "check an audit log (exit 1: broken), a VNode's records, the last N records; no domain",
	 cmd_audit, 1},
};

#define COMMANDS_COUNT (sizeof(cli_commands) / sizeof(cli_commands[0]))

void cli_usage(FILE *f)
{
	fprintf(f, "usage: pflight [--domain NAME] [--json] <command> [args]\n"
		   "       pflight help <command>\n\ncommands:\n");
	for (size_t i = 0; i < COMMANDS_COUNT; i++)
		fprintf(f, "  %-34s %s\n", cli_commands[i].usage, cli_commands[i].help);
	fprintf(f, "\nThe domain defaults to $PFLIGHT_DOMAIN, else \"default\".\n"
		   "Exit status: 0 ok, 1 failed, 2 bad usage, 3 domain cannot be opened.\n");
}

const struct cli_command *cli_command_find(const char *name)
{
	for (size_t i = 0; i < COMMANDS_COUNT; i++)
		if (strcmp(cli_commands[i].name, name) == 0)
			return &cli_commands[i];
	return NULL;
}

int cli_help(int argc, char **argv)
{
	const struct cli_command *cmd = argc > 1 ? cli_command_find(argv[1]) : NULL;

	if (cmd == NULL) {
		cli_usage(stdout);
		return argc > 1 ? EXIT_USAGE : 0;
	}
	printf("usage: pflight [--domain NAME] [--json] %s\n  %s\n", cmd->usage, cmd->help);
	return 0;
}

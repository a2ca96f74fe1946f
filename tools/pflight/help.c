/* SPDX-License-Identifier: MIT */
/*
 * tools/pflight/help.c: the command table, and every usage and help text drawn from it.
 *
 * One entry per command holds all that is said about it: `pflight help CMD` and
 * `pflight CMD --help` print its usage, a paragraph of what it does, its options, its
 * exit status and an example; `pflight help` lists the summaries. docs/pflight.1 says
 * the same at more length; the lint suite (tools/lint/man_commands.py) fails when a
 * command or one of its options in this table is missing from the man page.
 *
 * Options are written "FLAG\tmeaning\n", one per line; paragraphs are wrapped here, so
 * the table holds plain sentences.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define WRAP_COLUMNS 79
#define OPTION_COLUMNS 18 /* where an option's meaning starts */

#define FAILED_DOMAIN "the domain could not be read"

const struct cli_command cli_commands[] = {
	{
		.name = "status",
		.usage = "status",
		.summary = "domain summary: members, VNodes, capabilities",
		.about = "One line about the domain: members ACTIVE or DRAINING out of the "
			 "member slots, VNodes ACTIVE and PENDING out of the VNode slots, "
			 "capabilities interned, and the membership version (bumped by every "
			 "join, leave and death). With --json also the segment size in bytes.",
		.options = "",
		.failed = FAILED_DOMAIN,
		.example = "pflight --domain prod status",
		.run = cmd_status,
	},
	{
		.name = "members",
		.usage = "members",
		.summary = "every member slot in use, with its attributes",
		.about =
			"One row per member slot that is not FREE: slot, generation, state "
			"(joining, active, draining, retired, dead), pid, NUMA node, VNodes "
			"owned, trust, reliability and capabilities. --json adds the CPU, the "
			"heartbeat counter, the reported CPU load, the VNodes placed and not yet "
			"adopted, and pflightd's admission decision (none, granted, granted-token, "
			"or refused with the action, rule and check).",
		.options = "",
		.failed = FAILED_DOMAIN,
		.example = "pflight --domain prod --json members",
		.run = cmd_members,
	},
	{
		.name = "vnodes",
		.usage = "vnodes [--state S] [--limit N]",
		.summary = "defined VNodes: owner, epoch, checkpoint, inbox, why pending",
		.about = "One row per defined VNode, in id order: state, owner slot (-1: none), "
			 "ownership epoch, sequence of the last committed checkpoint, messages "
			 "waiting in its inbox, home NUMA node (-1: none) and, for a PENDING "
			 "VNode, why the scheduler could not place it yet.",
		.options = "--state S\tonly VNodes in state S: pending, active, migrating or "
			   "draining\n"
			   "--limit N\tat most N rows (the first N in id order)\n",
		.failed = FAILED_DOMAIN,
		.example = "pflight --domain prod vnodes --state pending --limit 20",
		.run = cmd_vnodes,
	},
	{
		.name = "capabilities",
		.usage = "capabilities",
		.summary = "the capability directory",
		.about = "Every capability name members have declared, with its index (the bit "
			 "a member's capability set and a VNode's requirements use).",
		.options = "",
		.failed = FAILED_DOMAIN,
		.example = "pflight --domain prod capabilities",
		.run = cmd_capabilities,
	},
	{
		.name = "stat",
		.usage = "stat",
		.summary = "the domain's counters, read straight from shared memory",
		.about = "Every counter of the domain with its value: joins, leaves, refused "
			 "joins, deaths, hung members, repairs, VNodes repaired, slots freed, "
			 "claim races, stale writes refused, corrupt checkpoints, full inboxes, "
			 "inbox skips, pending VNodes requeued and values refused by validation. "
			 "They only grow while the domain exists.",
		.options = "",
		.failed = FAILED_DOMAIN,
		.example = "pflight --domain prod stat",
		.run = cmd_stat,
	},
	{
		.name = "decisions",
		.usage = "decisions [--limit N] [--vnode V]",
		.summary = "recent placement decisions, with why",
		.about = "The newest placement decisions from the domain's explanation ring, "
			 "oldest first: sequence number, VNode, outcome (placed, or why not: "
			 "no-member, filter-state, filter-caps, filter-trust, filter-policy, "
			 "filter-full, filter-bound), strategy, winner (slot.generation) and "
			 "the epoch it holds, candidates (members that passed the state and "
			 "capability filters), how many members each filter removed (state, caps, "
			 "trust, policy, full, bound: at its bounded load), and the winner's score "
			 "with its components "
			 "(reliability, trust, load, NUMA factor). Schedulers write the ring only "
			 "while someone subscribes to it, as pflightd does while it runs: without "
			 "it the ring stays empty, and the command says so. Records overwritten "
			 "by newer ones are gone (a gap in the sequence numbers).",
		.options = "--limit N\tthe newest N decisions, 1..65536 (default 20)\n"
			   "--vnode V\tonly the decisions about VNode V\n",
		.failed = FAILED_DOMAIN,
		.example = "pflight --domain prod decisions --vnode 42 --limit 5",
		.run = cmd_decisions,
	},
	{
		.name = "send",
		.usage = "send <vnode> <text>",
		.summary = "put <text> in VNode <vnode>'s inbox",
		.about = "Put the bytes of <text> (without a terminating NUL) in the inbox of "
			 "VNode <vnode>, whoever owns it and also while nobody does: the message "
			 "waits in the inbox across owner changes until an owner commits a "
			 "checkpoint taken after reading it.",
		.options = "",
		.failed = "the message was refused (VNode not defined, inbox full, message "
			  "larger than the domain allows)",
		.example = "pflight --domain prod send 42 hello",
		.run = cmd_send,
	},
	{
		.name = "drain",
		.usage = "drain <slot> [--timeout S] [--no-wait]\n"
			 "drain host|all [--timeout S] [--no-wait]\n"
			 "drain host --to HOST [--timeout S] [--no-wait] [--control PATH]",
		.summary = "cordon a member, or every member; pflightd moves their VNodes",
		.about =
			"Cordon member <slot>: it takes no new VNodes, and pflightd's scheduler "
			"moves the ones it holds to other members with their state (the member "
			"commits, then hands over). Once it holds nothing its slot is given back "
			"(FREE). The command prints the member's VNode count whenever it changes "
			"until the member is no longer DRAINING. `drain host` (or `drain all`) "
			"cordons every ACTIVE member of the domain and follows them, and any "
			"member already DRAINING, until none is DRAINING any more, printing each "
			"member's count as it changes. On a single host no other member can take "
			"their VNodes: at the drain deadline (pflightd's membership.drain_timeout, "
			"30s by default) pflightd releases what is left back to PENDING with its "
			"last committed checkpoint and its inbox, so nothing committed is lost, "
			"only uncommitted work is redone by the next owner. Without a running "
			"pflightd nothing moves. `drain host --to HOST` moves every VNode of this "
			"host to HOST, a host of transport.peers, as `migrate --to` does, several "
			"at a time, and waits until none is left here; the members stay.",
		.options = "--timeout S\tstop waiting after S seconds (default 60); the drain "
			   "itself goes on\n"
			   "--no-wait\tcordon (or ask for the moves) and return at once\n"
			   "--to HOST\tmove the host's VNodes to HOST instead of cordoning\n"
			   "--control PATH\twith --to: the daemon's control socket\n",
		.failed = "a member could not be cordoned (for <slot>: no ACTIVE or DRAINING "
			  "member in it), or one was still DRAINING when --timeout passed",
		.example = "pflight --domain prod drain host --timeout 120",
		.run = cmd_drain,
	},
	{
		.name = "retire",
		.usage = "retire <slot> [--timeout S] [--no-wait]",
		.summary = "drain a member, then remove it (kept as RETIRED history)",
		.about = "As drain, but the slot ends RETIRED rather than FREE: the member's "
			 "identity is removed and the slot shows as retired until the domain's "
			 "grace period lets a joiner reuse it. A member already draining is "
			 "switched to end RETIRED.",
		.options = "--timeout S\tstop waiting after S seconds (default 60); the drain "
			   "itself goes on\n"
			   "--no-wait\tcordon and return at once\n",
		.failed = "the member could not be cordoned, or it still held VNodes when "
			  "--timeout passed",
		.example = "pflight --domain prod retire 3",
		.run = cmd_retire,
	},
	{
		.name = "migrate",
		.usage = "migrate <vnode> <slot> [--timeout S] [--no-wait] [--control PATH]\n"
			 "migrate <vnode> --to HOST [--timeout S] [--no-wait] [--control PATH]",
		.summary = "ask pflightd to move a VNode, with its state, to member <slot> or to "
			   "another host",
		.about = "Asks pflightd, over its control socket, to move VNode <vnode> to "
			 "member <slot>. The daemon checks the target against the placement "
			 "filters (ACTIVE, capabilities, trust floor, room) and the can-assign "
			 "and can-handoff policies, writes a move request for the VNode's "
			 "current epoch and audits it (migrate_request, or migrate_refused with "
			 "the rule that refused); the owner then commits and hands the VNode "
			 "over, and its messages follow it. The command waits until the target "
			 "owns the VNode. With --to HOST the VNode moves to another host of "
			 "transport.peers instead, as a Flight Packet over an authenticated "
			 "link: rounds of its changed state while it runs, then a short stop, "
			 "the last changes and its waiting messages; the other host verifies "
			 "and installs it, and this one keeps it as remote (messages sent here "
			 "wait for it). A move that fails at any point leaves it here. The "
			 "command waits until it is moved or rolled back. Only root and the "
			 "daemon's own user may migrate.",
		.options = "--to HOST\tmove it to the host of transport.peers named HOST\n"
			   "--timeout S\tstop waiting after S seconds (default 10); the move "
			   "itself goes on\n"
			   "--no-wait\treturn once the request is accepted\n"
			   "--control PATH\tthe daemon's control socket (default: "
			   "$PFLIGHT_CONTROL, else where pflightd binds it for the domain)\n",
		.failed = "pflightd refused the move (not owned, already there, no such member, "
			  "a filter or policy refused it, a move already pending) or could not "
			  "be reached, or the VNode had not arrived when --timeout passed",
		.example = "pflight --domain prod migrate 42 3",
		.run = cmd_migrate,
	},
	{
		.name = "export",
		.usage = "export <vnode> <file> [--control PATH]",
		.summary = "write a signed copy of a VNode to a Flight Packet file",
		.about = "Asks pflightd to write VNode <vnode> to <file> as a Flight Packet "
			 "(docs/flight-packet.md): its last committed state, the messages it had "
			 "not consumed, its requirements, signed with this host's key. The VNode "
			 "stays here and keeps running: the file is a snapshot, consistent (the "
			 "state and exactly the messages after it). This command creates <file> "
			 "(never over an existing one) and hands it to the daemon, which never "
			 "opens a path a client names. Audited (vnode_export). Only root and the "
			 "daemon's own user may export.",
		.options = "--control PATH\tthe daemon's control socket (default: where pflightd "
			   "binds it for the domain)\n",
		.failed = "<file> could not be created, pflightd could not be reached, or it "
			  "refused (no such VNode, owned by another host, moving between hosts)",
		.example = "pflight --domain prod export 42 /var/backups/vnode-42.pfp",
		.run = cmd_export,
	},
	{
		.name = "import",
		.usage = "import <file> [--control PATH]",
		.summary = "install a VNode from a Flight Packet file",
		.about = "Asks pflightd to install the VNode in <file>. The daemon checks the "
			 "file whole (form, every chunk and the messages against their digests, "
			 "a signature by this host or a host of transport.peers) and installs it "
			 "only where the VNode does not live here: an id this domain never "
			 "defined, or a VNode owned by another host, from a packet at least as "
			 "new as what this host knows of it. The VNode then waits PENDING with "
			 "the state and messages it carried, and is placed as any other. A "
			 "snapshot is a copy: importing it on one host while the VNode still "
			 "runs on another gives it two lives, each its own (a restore, an "
			 "operator's choice). Audited (vnode_import, vnode_import_refused). Only "
			 "root and the daemon's own user may import.",
		.options = "--control PATH\tthe daemon's control socket (default: where pflightd "
			   "binds it for the domain)\n",
		.failed = "<file> could not be read, pflightd could not be reached, or it refused "
			  "the packet (malformed, corrupt, signed by a host not trusted, too large "
			  "for this domain, the VNode lives here, or an older epoch)",
		.example = "pflight --domain prod import /var/backups/vnode-42.pfp",
		.run = cmd_import,
	},
	{
		.name = "inspect",
		.usage = "inspect <file> [--trust PUBKEY]",
		.summary = "check a Flight Packet file and show what it carries",
		.about = "Parses <file> as a Flight Packet and verifies it here, without a "
			 "daemon: its form, every chunk and the messages against their digests, "
			 "and the signature with the host key its header names. Shows the VNode, "
			 "epoch, state and message sizes, requirements and the signing host. "
			 "With --trust the signer must also be the key in PUBKEY (a public key "
			 "file as pflightd writes next to its key: <key>.pub).",
		.options = "--trust PUBKEY\trefuse a packet not signed by this public key\n",
		.failed = "the file could not be read, or the packet is refused (the reason and "
			  "the byte where it was found are shown)",
		.example = "pflight --json inspect vnode-42.pfp",
		.run = cmd_inspect,
		.offline = 1,
	},
	{
		.name = "token",
		.usage = "token issue --key FILE --domain NAME --expires SECONDS [--caps a,b] "
			 "[--trust T] [--uid U]\n"
			 "token verify --pubkey FILE TOKEN",
		.summary = "issue a signed join token, or check one; no domain needed",
		.about = "issue signs a join token with the daemon's secret key (the audit "
			 "signing key pflightd creates): the domain it admits to, an expiry, the "
			 "capabilities and trust it grants and, optionally, the uid it is bound "
			 "to; it prints the token. verify checks a token against the public key "
			 "and the current time and prints its claims. Opens no domain.",
		.options = "--key FILE\tissue: the secret key file (mode 0600)\n"
			   "--domain NAME\tissue: the domain the token admits to\n"
			   "--expires SECONDS\tissue: valid for this long from now (> 0)\n"
			   "--caps a,b\tissue: capabilities granted, comma-separated\n"
			   "--trust T\tissue: trust granted, 0..1 (default 1)\n"
			   "--uid U\tissue: valid only for a worker running as uid U "
			   "(0..4294967294)\n"
			   "--pubkey FILE\tverify: the public key file (<key>.pub)\n",
		.failed = "issue: the key cannot be read or the claims are not valid (too long, an "
			  "empty capability name); "
			  "verify: the token is refused (bad signature, expired, malformed)",
		.example = "pflight token issue --key /var/lib/pflight/prod.audit.jsonl.key "
			   "--domain prod --expires 3600 --caps gpu",
		.run = cmd_token,
		.offline = 1,
	},
	{
		.name = "audit",
		.usage = "audit verify [--pubkey FILE] LOG\n"
			 "audit lineage LOG VNODE\n"
			 "audit tail LOG [N]",
		.summary = "check an audit log, a VNode's records, the last N; no domain",
		.about = "verify checks pflightd's audit log (and its rotated files): the hash "
			 "chain, the sequence numbers and every signed head, against --pubkey or "
			 "else against the keys the heads name; it prints OK with the counts, or "
			 "BROKEN with the first bad record (seq, file, line, cause), and says so "
			 "when the log is not anchored at its genesis (its first record is past "
			 "seq 1: the records before it were removed and are not checked), and "
			 "whether the log states that retention dropped them. lineage "
			 "prints the records about one VNode, oldest first. tail prints the last N "
			 "records (default 10) as stored. Opens no domain.",
		.options = "--pubkey FILE\tverify: the daemon's public key (<key>.pub)\n",
		.failed = "verify: the log is broken or cannot be read; lineage, tail: the log "
			  "cannot be read",
		.example =
			"pflight audit verify --pubkey /var/lib/pflight/prod.audit.jsonl.key.pub "
			"/var/lib/pflight/prod.audit.jsonl",
		.run = cmd_audit,
		.offline = 1,
	},
	{
		.name = "sim",
		.usage = "sim [--preset NAME] [--seed S] [--members M] [--vnodes V] "
			 "[--duration SECONDS] [--interval SECONDS] [--join-rate R] "
			 "[--failure-rate R] [--retire-rate R] [--heartbeat-timeout DURATION] "
			 "[--strategy NAME] [--window SECONDS] [--message-rate R] "
			 "[--json | --csv] [--plot FILE.svg]",
		.summary = "simulate a domain under churn and report its metrics; no domain",
		.about = "Runs a seeded discrete-event simulation on a private domain of its own "
			 "(created, then destroyed; never a live one), driving the real registry "
			 "and scheduler: members join, crash and retire as Poisson processes, "
			 "their loads change and messages arrive; crashed members are repaired "
			 "after the heartbeat timeout, retired ones drained, new ones rebalanced "
			 "onto. It reports availability, stability, churn, load balance, "
			 "rebalancing overhead, health and recovery latency over the sliding "
			 "window at every sample, and a summary. The same arguments give the same "
			 "output, byte for byte. Rates are events per minute for the whole domain. "
			 "Presets: dma (trust-weighted), distributed (consistent-hash), "
			 "cloud-native (bin-packing, pods joining and retiring often), ai-agents "
			 "(agent routing over unreliable agents). Durations take a unit: ns, us, "
			 "ms, s (the default), m, h. Opens no domain.",
		.options = "--preset NAME\tdma (default), distributed, cloud-native or ai-agents: "
			   "the defaults of the options below\n"
			   "--seed S\tthe PRNG seed (default 1)\n"
			   "--members M\tmembers at the start, 0..2048 (default 100)\n"
			   "--vnodes V\tVNodes, 1..1048576 (default 10000)\n"
			   "--duration SECONDS\tsimulated time (default 600)\n"
			   "--interval SECONDS\tsample period, at least 1ms (default 1)\n"
			   "--join-rate R\tjoins per minute\n"
			   "--failure-rate R\tcrashes per minute\n"
			   "--retire-rate R\tretirements (drain, then leave) per minute\n"
			   "--heartbeat-timeout DURATION\tfrom a crash to its repair (e.g. 500ms)\n"
			   "--strategy NAME\ttrust-weighted, consistent-hash, bin-packing or agent "
			   "(default: the preset's)\n"
			   "--window SECONDS\tthe metrics' sliding window (default 60)\n"
			   "--message-rate R\tmessages per second to random VNodes\n"
			   "--json\tJSON lines: one object per sample, then a summary object\n"
			   "--csv\ta header, then one row per sample\n"
			   "--plot FILE.svg\twrite a chart of health, stability, availability and "
			   "churn over time\n",
		.failed = "the simulation could not run (no memory or shared memory for its "
			  "private domain) or the chart could not be written",
		.example =
			"pflight sim --preset cloud-native --seed 7 --members 1000 --vnodes 100000 "
			"--duration 600 --json",
		.run = cmd_sim,
		.offline = 1,
	},
};

#define COMMANDS_COUNT (sizeof(cli_commands) / sizeof(cli_commands[0]))

/* Print the words of text[0..n) from column col on, wrapped at WRAP_COLUMNS, continuation
 * lines indented by indent; ends the last line. */
static void wrap(FILE *f, const char *text, size_t n, int indent, int col)
{
	const char *p = text, *end = text + n;

	while (p < end) {
		int len = 0;

		while (p + len < end && p[len] != ' ')
			len++;
		if (col > indent && col + 1 + len > WRAP_COLUMNS)
			col = fprintf(f, "\n%*s", indent, "") - 1;
		else if (col > indent)
			col += fprintf(f, " ");
		col += fprintf(f, "%.*s", len, p);
		p += len;
		while (p < end && *p == ' ')
			p++;
	}
	fputc('\n', f);
}

void cli_usage(FILE *f)
{
	fprintf(f, "usage: pflight [--domain NAME] [--json] <command> [args]\n"
		   "       pflight help [<command>]\n"
		   "       pflight <command> --help\n"
		   "       pflight --version\n\ncommands:\n");
	for (size_t i = 0; i < COMMANDS_COUNT; i++)
		fprintf(f, "  %-13s %s\n", cli_commands[i].name, cli_commands[i].summary);
	fprintf(f, "\noptions:\n"
		   "  --domain NAME   the domain to open (/dev/shm/pflight-NAME); default\n"
		   "                  $PFLIGHT_DOMAIN, else \"default\"\n"
		   "  --json          one JSON document on stdout instead of text\n"
		   "  --help          this text; after a command, that command's help\n"
		   "  --version       pflight's version and the git revision it was built from\n"
		   "\nexit status: 0 ok, 1 failed, 2 bad usage, 3 the domain cannot be opened.\n"
		   "`pflight help <command>` tells each command's usage, options and example.\n");
}

const struct cli_command *cli_command_find(const char *name)
{
	for (size_t i = 0; i < COMMANDS_COUNT; i++)
		if (strcmp(cli_commands[i].name, name) == 0)
			return &cli_commands[i];
	return NULL;
}

void cli_command_usage(FILE *f, const struct cli_command *cmd)
{
	const char *global = cmd->offline ? "[--json]" : "[--domain NAME] [--json]";
	const char *p = cmd->usage;

	for (int first = 1; *p != '\0'; first = 0) {
		int len = (int)strcspn(p, "\n");

		fprintf(f, "%s pflight %s %.*s\n", first ? "usage:" : "      ", global, len, p);
		p += len;
		p += *p == '\n';
	}
}

static void option_lines(FILE *f, const char *p)
{
	if (*p == '\0')
		fprintf(f, "  none of its own\n");
	while (*p != '\0') {
		int flag = (int)strcspn(p, "\t\n"), len;

		fprintf(f, "  %-*.*s", OPTION_COLUMNS - 2, flag, p);
		p += flag;
		p += *p == '\t';
		len = (int)strcspn(p, "\n");
		if (flag > OPTION_COLUMNS - 3)
			fprintf(f, "\n%*s", OPTION_COLUMNS, "");
		wrap(f, p, (size_t)len, OPTION_COLUMNS, OPTION_COLUMNS);
		p += len;
		p += *p == '\n';
	}
}

void cli_command_help(FILE *f, const struct cli_command *cmd)
{
	cli_command_usage(f, cmd);
	fputc('\n', f);
	wrap(f, cmd->about, strlen(cmd->about), 0, 0);
	fprintf(f, "\noptions:\n");
	option_lines(f, cmd->options);
	fprintf(f, "\nexit status:\n  0  ok\n  1  ");
	wrap(f, cmd->failed, strlen(cmd->failed), 5, 5);
	fprintf(f, "  2  bad usage\n");
	if (!cmd->offline)
		fprintf(f, "  3  the domain cannot be opened (missing, not ready, refused)\n");
	fprintf(f, "\nexample:\n  %s\n", cmd->example);
}

int cli_help(int argc, char **argv)
{
	const struct cli_command *cmd = argc > 1 ? cli_command_find(argv[1]) : NULL;

	if (argc > 2 || (argc == 2 && cmd == NULL)) {
		if (argc == 2)
			fprintf(stderr, "pflight: no command '%s'\n", argv[1]);
		cli_usage(stderr);
		return EXIT_USAGE;
	}
	if (cmd == NULL)
		cli_usage(stdout);
	else
		cli_command_help(stdout, cmd);
	return 0;
}

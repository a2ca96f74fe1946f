/* SPDX-License-Identifier: MIT */
/* tools/pflight/cli.h: what the pflight command files share. */
#ifndef PFLIGHT_CLI_H
#define PFLIGHT_CLI_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pflight/pflight.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define EXIT_NO_DOMAIN 3

struct cli {
	const char *domain;
	int json;
	struct pf_domain *d; /* NULL for the commands that need no domain */
};

/* One command of the table in help.c: all that is said about it, and how it runs. */
struct cli_command {
	const char *name;
	const char *usage;   /* after "pflight [options]"; one line per form */
	const char *summary; /* one line, for the command list */
	const char *about;   /* a paragraph: what it does */
	const char *options; /* "FLAG\tmeaning\n" per option of its own, "" when none */
	const char *failed;  /* what exit status 1 means */
	const char *example;
	int (*run)(struct cli *c, int argc, char **argv);
	int offline; /* 1: works on files only, opens no domain */
};

/* The command named `name`, or NULL. */
const struct cli_command *cli_command_find(const char *name);

/* The overview: every command's summary, the global options, the exit status. */
void cli_usage(FILE *f);

/* One command's usage: a line per form ("a\nb" in .usage), each as "pflight [global
 * options] <form>"; what a page starts with, and what bad usage prints on stderr. */
void cli_command_usage(FILE *f, const struct cli_command *cmd);

/* One command's page: usage, what it does, options, exit status, an example. */
void cli_command_help(FILE *f, const struct cli_command *cmd);

/* `pflight help [command]` (argv[0] is "help"): 0, or EXIT_USAGE for an unknown command. */
int cli_help(int argc, char **argv);

/* Print doc (with --json) and free it: 0, or EXIT_FAILED when it could not be printed. */
int cli_emit(struct cli *c, json_t *doc);

/*
 * A number argument: decimal digits only (decimal.h: no sign, space or prefix) in
 * min..max. 0 and *ret, or -EINVAL after saying on stderr which argument is wrong (what:
 * its name as the usage spells it, "--limit" or "<vnode>"), what was given, and what it
 * takes; the caller then returns EXIT_USAGE. *ret is written on success only.
 */
int cli_parse_u32(const char *what, const char *text, uint32_t min, uint32_t max, uint32_t *ret);
int cli_parse_u64(const char *what, const char *text, uint64_t min, uint64_t max, uint64_t *ret);

/* A fraction argument: digits with at most one '.' between digits ("0.25"), in min..max;
 * as cli_parse_u32() otherwise. */
int cli_parse_real(const char *what, const char *text, double min, double max, double *ret);

/* The commands that read or change a domain (pflight.c, decisions.c, drain.c). */
int cmd_status(struct cli *c, int argc, char **argv);
int cmd_members(struct cli *c, int argc, char **argv);
int cmd_vnodes(struct cli *c, int argc, char **argv);
int cmd_capabilities(struct cli *c, int argc, char **argv);
int cmd_stat(struct cli *c, int argc, char **argv);
int cmd_send(struct cli *c, int argc, char **argv);
int cmd_decisions(struct cli *c, int argc, char **argv);
int cmd_drain(struct cli *c, int argc, char **argv);
int cmd_retire(struct cli *c, int argc, char **argv);

/* `pflight token ...` and `pflight audit ...` (offline.c): files only, no domain. */
int cmd_token(struct cli *c, int argc, char **argv);
int cmd_audit(struct cli *c, int argc, char **argv);

/* `pflight migrate ...` (migrate.c): through pflightd's control socket. */
int cmd_migrate(struct cli *c, int argc, char **argv);

/* `pflight export`, `import` (through pflightd) and `inspect` (a file) (packet.c). */
int cmd_export(struct cli *c, int argc, char **argv);
int cmd_import(struct cli *c, int argc, char **argv);
int cmd_inspect(struct cli *c, int argc, char **argv);

/* `pflight sim ...` (sim.c): the simulator on a private domain of its own. */
int cmd_sim(struct cli *c, int argc, char **argv);

/* What the chart of `pflight sim --plot` needs of each sample (sim_plot.c). */
struct plot_pt {
	double t; /* seconds */
	double health;
	double stability;
	double availability;
	double churn; /* events per minute */
};

/* Write the SVG chart of n samples to path: 0 or a negative errno. */
int sim_plot_write(const char *path, const char *title, const struct plot_pt *pts, size_t n);

#endif /* PFLIGHT_CLI_H */

/* SPDX-License-Identifier: MIT */
/* tools/pflight/cli.h: what the pflight command files share. */
#ifndef PFLIGHT_CLI_H
#define PFLIGHT_CLI_H

#include <jansson.h>
#include <stdint.h>

#include "pflight/pflight.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define EXIT_NO_DOMAIN 3

struct cli {
	const char *domain;
	int json;
	struct pf_domain *d; /* NULL for the commands that need no domain */
};

/* Print doc (with --json) and free it: 0, or EXIT_FAILED when it could not be printed. */
int cli_emit(struct cli *c, json_t *doc);

/* A decimal uint32: 0 or -EINVAL. */
int cli_parse_u32(const char *s, uint32_t *ret);

/* `pflight token ...` and `pflight audit ...` (offline.c): files only, no domain. */
int cmd_token(struct cli *c, int argc, char **argv);
int cmd_audit(struct cli *c, int argc, char **argv);

/* `pflight migrate ...` (migrate.c): through pflightd's control socket. */
int cmd_migrate(struct cli *c, int argc, char **argv);

#endif /* PFLIGHT_CLI_H */

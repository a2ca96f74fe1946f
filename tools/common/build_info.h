/* SPDX-License-Identifier: MIT */
/*
 * tools/common/build_info.h: what the tools say about the build they come from, in one
 * place for `pflight --version`, `pflightd --version`, GET /api/v1, the
 * pflight_build_info metric and the daemon's start record in the audit log.
 */
#ifndef PFLIGHT_TOOLS_BUILD_INFO_H
#define PFLIGHT_TOOLS_BUILD_INFO_H

#include <stdio.h>

/* The project's version, "MAJOR.MINOR.PATCH": PF_VERSION_STRING of pflight/version.h. */
const char *build_version(void);

/* The git revision meson saw when it built the tools ("" when it saw none). */
const char *build_revision(void);

/* "<program> <version>" and, when known, " (git <revision>)", one line on f. */
void build_print_version(FILE *f, const char *program);

#endif /* PFLIGHT_TOOLS_BUILD_INFO_H */

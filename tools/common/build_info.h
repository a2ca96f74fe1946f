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

/* The longest revision the tools print (a `git describe` of a long tag name is longer). */
#define BUILD_REV_MAX 64

/* The git revision meson saw when it built the tools: "" when it saw none, or one that is
 * not plain (build_revision_plain()), so that every place may print it unescaped. */
const char *build_revision(void);

/* 1 when rev may go unescaped into a JSON string, a Prometheus label value and a log line:
 * at most BUILD_REV_MAX characters, each a letter, a digit or one of "._+-/" (git allows
 * more in a tag name, a `"` among them); else 0. */
int build_revision_plain(const char *rev);

/* "<program> <version>" and, when known, " (git <revision>)", one line on f. */
void build_print_version(FILE *f, const char *program);

#endif /* PFLIGHT_TOOLS_BUILD_INFO_H */

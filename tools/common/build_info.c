/* SPDX-License-Identifier: MIT */
/* tools/common/build_info.c: the build's version and git revision (build_info.h). */
#include <stdio.h>

#include "build_info.h"
#include "build_rev.h"
#include "pflight/version.h"

const char *build_version(void)
{
	return PF_VERSION_STRING;
}

const char *build_revision(void)
{
	return PF_BUILD_REV;
}

void build_print_version(FILE *f, const char *program)
{
	const char *rev = build_revision();

	fprintf(f, "%s %s%s%s%s\n", program, build_version(), rev[0] != '\0' ? " (git " : "", rev,
		rev[0] != '\0' ? ")" : "");
}

/* SPDX-License-Identifier: MIT */
/* tools/common/build_info.c: the build's version and git revision (build_info.h). */
#include <stdio.h>
#include <string.h>

#include "build_info.h"
#include "build_rev.h"
#include "pflight/version.h"

const char *build_version(void)
{
	return PF_VERSION_STRING;
}

int build_revision_plain(const char *rev)
{
	static const char plain[] = "abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "0123456789._+-/";
	size_t n = strspn(rev, plain);

	return rev[n] == '\0' && n <= BUILD_REV_MAX;
}

const char *build_revision(void)
{
	return build_revision_plain(PF_BUILD_REV) ? PF_BUILD_REV : "";
}

void build_print_version(FILE *f, const char *program)
{
	const char *rev = build_revision();

	fprintf(f, "%s %s%s%s%s\n", program, build_version(), rev[0] != '\0' ? " (git " : "", rev,
		rev[0] != '\0' ? ")" : "");
}

/* SPDX-License-Identifier: MIT */
/* core/version.c: the library's version at run time (liburing's io_uring_major_version). */
#include "pflight/common.h"

PF_API int pf_version_major(void)
{
	return PF_VERSION_MAJOR;
}

PF_API int pf_version_minor(void)
{
	return PF_VERSION_MINOR;
}

PF_API int pf_version_check(int major, int minor)
{
	return major == PF_VERSION_MAJOR && minor <= PF_VERSION_MINOR;
}

/* SPDX-License-Identifier: MIT */
/*
 * pflight/common.h: what every PhoenixFlight header shares: the export marker, the
 * library version at run time, and the hard limits of a domain.
 *
 * Errors: every function that can fail returns an int, >= 0 on success (0 or a count)
 * and a negative errno on failure; each function's comment lists the errnos it returns.
 */
#ifndef PFLIGHT_COMMON_H
#define PFLIGHT_COMMON_H

#include <stdint.h>

#include "pflight/version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define PF_API __attribute__((visibility("default")))
#define PF_NORETURN __attribute__((noreturn))
#else
#define PF_API
#define PF_NORETURN
#endif

/* Hard limits of a domain, chosen so that every index fits the shared-memory words
 * that carry it (a member slot in 12 bits of an ownership word, a capability in a
 * 128-bit set, a VNode id in 20 bits of a pending-ring entry). */
#define PF_DOMAIN_NAME_MAX 64u         /* bytes of a domain name, without the NUL */
#define PF_MEMBERS_MAX 4096u           /* member slots in one domain */
#define PF_VNODES_MAX 1048576u         /* VNodes in one domain */
#define PF_CAPS_MAX 128u               /* distinct capability names in one domain */
#define PF_CAP_NAME_MAX 47u            /* bytes of a capability name, without the NUL */
#define PF_MEMBER_CAPS_MAX PF_CAPS_MAX /* capabilities one member may declare */
#define PF_INBOX_SLOTS_MAX 65536u      /* messages waiting in one VNode's inbox */
#define PF_MSG_BYTES_MAX 65536u        /* largest message size a domain may allow */
#define PF_STATE_BYTES_MAX (1u << 30)  /* largest checkpoint a domain may allow */
#define PF_VNODE_NAME_MAX 255u         /* bytes of a VNode name hashed to an id */

/* Runtime version of the library (the headers' is PF_VERSION_MAJOR/MINOR). */
PF_API int pf_version_major(void);
PF_API int pf_version_minor(void);

/*
 * 1 when the running library is compatible with headers of version major.minor (same
 * major, minor at least as new), 0 otherwise. Call it as
 * pf_version_check(PF_VERSION_MAJOR, PF_VERSION_MINOR).
 */
PF_API int pf_version_check(int major, int minor);

/* Report a failed PF_ASSERT and abort: programmer errors only. Not async-signal-safe
 * beyond write(2) and abort(3). */
PF_API PF_NORETURN void pf_assert_fail(const char *expr, const char *file, int line,
				       const char *func);

#ifdef __cplusplus
}
#endif

#endif /* PFLIGHT_COMMON_H */

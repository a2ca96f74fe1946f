/* SPDX-License-Identifier: MIT */
/*
 * shm/pf_compiler.h: the only place that spells GNU attributes and builtins.
 * Everything else uses these macros so a port to another compiler touches one file.
 */
#ifndef PF_COMPILER_H
#define PF_COMPILER_H

#include "pf_config.h"

#define pf_likely(x) __builtin_expect(!!(x), 1)
#define pf_unlikely(x) __builtin_expect(!!(x), 0)
#define pf_unused __attribute__((unused))
#define pf_noinline __attribute__((noinline))
#define pf_cold __attribute__((cold))
#define pf_printf_like(fmt, args) __attribute__((format(printf, fmt, args)))
#define pf_warn_unused __attribute__((warn_unused_result))

/*
 * On the declaration of an internal function that libpflight lends to libpflight-ctl:
 * the symbol is named pf_private_<name> (so the dynamic namespace holds only pf_ names)
 * and exported through the PF_PRIVATE node of core/libpflight.map, which lists it. No
 * header under include/ declares it and no release promises it: libpflight-ctl is built
 * with the same sources. Where libpflight itself is compiled (PF_LENDER 1, set by
 * meson.build), protected visibility keeps its own calls direct (no PLT, no
 * interposition); elsewhere the declaration stays a plain reference, since a protected
 * undefined symbol would have to be defined in the borrower itself.
 * tools/lint/symbols.py keeps the macro and the node in step.
 */
#ifndef PF_LENDER
#define PF_LENDER 0
#endif
#if PF_LENDER
#define PF_PRIVATE_EXPORT(name)                                                                    \
	__asm__("pf_private_" #name) __attribute__((visibility("protected")))
#else
#define PF_PRIVATE_EXPORT(name) __asm__("pf_private_" #name)
#endif

/* Bring a line in for writing (x86 PREFETCHW): a load followed by a CAS then costs one
 * coherence transfer instead of two. A hint only; no ordering effect. */
#define pf_prefetch_write(p) __builtin_prefetch((p), 1, 3)

#define PF_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
/* clang-format off: clang-format 14 writes "(a)-1" here */
#define PF_ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define PF_IS_POW2(x) ((x) != 0 && (((x) & ((x)-1)) == 0))
/* clang-format on */
#define PF_MIN(a, b) ((a) < (b) ? (a) : (b))
/* Not PF_MAX: <sys/socket.h> owns that name (the count of protocol families). */
#define PF_MAX_OF(a, b) ((a) > (b) ? (a) : (b))

/* 1 in AddressSanitizer builds (gcc says __SANITIZE_ADDRESS__, clang __has_feature), else 0,
 * so code can check what the kernel will touch out of ASan's sight (net/xport_uring.h). */
#if defined(__SANITIZE_ADDRESS__)
#define PF_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PF_ASAN 1
#endif
#endif
#ifndef PF_ASAN
#define PF_ASAN 0
#endif

/* Tell the CPU we are spinning (x86 PAUSE, arm64 YIELD); no ordering effect. */
#if defined(__x86_64__) || defined(__i386__)
#define pf_cpu_relax() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define pf_cpu_relax() __asm__ __volatile__("yield" ::: "memory")
#else
#define pf_cpu_relax() ((void)0)
#endif

_Static_assert(PF_IS_POW2(PF_CACHELINE), "cache line must be a power of two");

#endif /* PF_COMPILER_H */

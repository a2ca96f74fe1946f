/* SPDX-License-Identifier: MIT */
/*
 * shm/fault.h: fault points for crash and error-path tests (SQLite-style).
 *
 * Compiled in only with -Dfault_injection=true; otherwise every hook is a constant and
 * costs nothing. A point can be armed to kill the process with SIGKILL on its n-th hit
 * (a kill -9 that lands exactly inside a critical window), or to report a failure once
 * at the n-th hit (transient) or from the n-th hit on (persistent), so a test can sweep
 * n until the operation succeeds.
 *
 * A test may also set a hook that runs on every hit of a point (fault_set_hook()): a
 * thread stalled inside it is a writer paused at exactly that instruction, the way a
 * page fault, a preemption or SIGSTOP would pause it, while the test acts meanwhile. A
 * point armed to hang blocks the thread that hits it for good while the rest of the
 * process goes on, as a call that never returns would (a hung device, a deadlock): what a
 * test of a program it starts with exec cannot do with a hook.
 *
 * Arming is per process: in code with fault_arm(), or through the environment variable
 * PF_FAULT="<point>:<n>:<kill|stop|hang|once|from>" read on the first hit of any point, so
 * a test can arm a child it starts with exec.
 */
#ifndef PF_SHM_FAULT_H
#define PF_SHM_FAULT_H

#include <stdbool.h>
#include <stdint.h>

#include "pf_config.h"

/* X-macro: one place lists every point, its enum value and its name for PF_FAULT. */
#define PF_FAULT_POINTS(X)                                                                         \
	X(SHM_OPEN, "shm_open")                                                                    \
	X(SHM_TRUNCATE, "shm_truncate")                                                            \
	X(SHM_MMAP, "shm_mmap")                                                                    \
	X(ALLOC, "alloc")                                                                          \
	X(JOIN_TAKEN, "join_taken")                                                                \
	X(JOIN_AFTER_SLOT, "join_after_slot")                                                      \
	X(JOIN_AFTER_IDENTITY, "join_after_identity")                                              \
	X(JOIN_AFTER_FUTEX, "join_after_futex")                                                    \
	X(JOIN_BEFORE_ACTIVE, "join_before_active")                                                \
	X(JOIN_AFTER_ACTIVE, "join_after_active")                                                  \
	X(CLAIM_AFTER_POP, "claim_after_pop")                                                      \
	X(CLAIM_AFTER_CAS, "claim_after_cas")                                                      \
	X(CLAIM_AFTER_SEAL, "claim_after_seal")                                                    \
	X(CKPT_BEFORE_COPY, "ckpt_before_copy")                                                    \
	X(CKPT_MID_COPY, "ckpt_mid_copy")                                                          \
	X(CKPT_BEFORE_PUBLISH, "ckpt_before_publish")                                              \
	X(CKPT_AFTER_PUBLISH, "ckpt_after_publish")                                                \
	X(CKPT_MID_FREE, "ckpt_mid_free")                                                          \
	X(CKPT_LOAD_MID_COPY, "ckpt_load_mid_copy")                                                \
	X(SEND_AFTER_CLAIM, "send_after_claim")                                                    \
	X(SEND_MID_COPY, "send_mid_copy")                                                          \
	X(SEND_BEFORE_PUBLISH, "send_before_publish")                                              \
	X(RECV_MID_COPY, "recv_mid_copy")                                                          \
	X(RELEASE_AFTER_CKPT, "release_after_ckpt")                                                \
	X(RELEASE_BEFORE_CAS, "release_before_cas")                                                \
	X(RELEASE_AFTER_CAS, "release_after_cas")                                                  \
	X(HANDOFF_BEFORE_CAS, "handoff_before_cas")                                                \
	X(REPAIR_MID_SCAN, "repair_mid_scan")                                                      \
	X(SUPERVISE_BEFORE_KILL, "supervise_before_kill")                                          \
	X(MEMBER_INFO_CHECKED, "member_info_checked")                                              \
	X(TALLY_AFTER_ADD, "tally_after_add")                                                      \
	X(ADMISSION_BEFORE_SETTLE, "admission_before_settle")                                      \
	X(RING_ENQ_AFTER_SLOT, "ring_enq_after_slot")                                              \
	X(RING_DEQ_AFTER_SLOT, "ring_deq_after_slot")                                              \
	X(WAIT_BEFORE_SLEEP, "wait_before_sleep")                                                  \
	X(SHM_HEADER_READ, "shm_header_read")                                                      \
	X(SEND_AFTER_PUBLISH, "send_after_publish")                                                \
	X(TRANSIT_BEFORE_LEAVE, "transit_before_leave")                                            \
	X(TRANSIT_BEFORE_VERIFY, "transit_before_verify")

/* clang-format off: the X-macro expansion confuses its indentation */
enum fault_point {
#define PF_FAULT_ENUM(id, name) FAULT_##id,
	PF_FAULT_POINTS(PF_FAULT_ENUM)
#undef PF_FAULT_ENUM
		FAULT_POINT_COUNT
};
/* clang-format on */

enum fault_mode {
	FAULT_MODE_OFF = 0,
	FAULT_MODE_KILL,      /* raise(SIGKILL) on the n-th hit */
	FAULT_MODE_FAIL_ONCE, /* report failure on the n-th hit only */
	FAULT_MODE_FAIL_FROM, /* report failure from the n-th hit on */
	FAULT_MODE_STOP,      /* raise(SIGSTOP) on the n-th hit: go on once continued */
	FAULT_MODE_HANG,      /* the n-th hit never returns; the process's other threads go on */
};

/* Called on every hit of the point it is set for, in the hitting thread. */
typedef void (*fault_hook_fn)(void *arg, enum fault_point point);

#if PF_FAULT_INJECTION
void fault_set_hook(enum fault_point point, fault_hook_fn fn, void *arg);
void fault_arm(enum fault_point point, uint64_t nth, enum fault_mode mode);
void fault_disarm_all(void);
uint64_t fault_hits(enum fault_point point);
int fault_point_by_name(const char *name, enum fault_point *ret_point);
void fault_hit(enum fault_point point);
bool fault_should_fail(enum fault_point point);
#define PF_FAULT_POINT(p) fault_hit(FAULT_##p)
#define PF_FAULT_FAIL(p) fault_should_fail(FAULT_##p)
#else
#define PF_FAULT_POINT(p) ((void)0)
#define PF_FAULT_FAIL(p) false
#endif

#endif /* PF_SHM_FAULT_H */

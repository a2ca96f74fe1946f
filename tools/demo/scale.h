/* SPDX-License-Identifier: MIT */
/*
 * tools/demo/scale.h: a host at scale, for whoever measures or checks one: pflightd on its
 * defaults but `vnodes_max` (its audit log, control socket, API token and key in a private
 * temp directory, its API on a free port), example counter workers as real processes, every
 * VNode of the domain defined at once, and what such a host is judged by: how long until all
 * are owned, what the audit log grew by and which records it holds, the balance of VNodes
 * over the members, and the REST API's answers and how long they take.
 *
 * The scale test (tests/integration/test_scale.c) checks it, the scale benchmark
 * (bench/bench_scale.c) measures it; one copy means both see the same host.
 *
 * Not a library: it forks, kills and prints. One host per process.
 */
#ifndef PF_TOOLS_DEMO_SCALE_H
#define PF_TOOLS_DEMO_SCALE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pflight/pflight.h"

#define SCALE_WORKERS_MAX 8u

struct scale {
	/* Set before scale_start(). */
	const char *daemon_path, *worker_path;
	const char *tag;          /* names the domain and the directory: a few [a-z] */
	uint32_t vnodes;          /* the manifest's vnodes_max, and the VNodes defined */
	uint32_t workers;         /* workers scale_start() starts (<= SCALE_WORKERS_MAX) */
	uint32_t worker_capacity; /* what each declares; 0: vnodes / workers */
	/* Kept by the host. */
	char name[PF_DOMAIN_NAME_MAX + 1];
	char dir[64], manifest[128], log[128], audit[128], control[128], workers_log[128];
	unsigned port;
	pid_t daemon;
	pid_t pids[SCALE_WORKERS_MAX];
	struct pf_domain *d;
};

uint64_t scale_now_ns(void); /* CLOCK_MONOTONIC */
void scale_nap_ns(uint64_t ns);

/* A temp directory, the manifest, pflightd (until its API listens), the domain opened, and
 * s->workers workers (until each is a member). Nothing is defined yet. 0, or -errno with a
 * line on stderr; scale_stop() in any case. */
int scale_start(struct scale *s);

/* Start worker i (i < SCALE_WORKERS_MAX, its place free) and wait until the domain has one
 * more member. 0, -EINVAL, -ETIMEDOUT or -errno. */
int scale_start_worker(struct scale *s, uint32_t i);

/* SIGKILL worker i, reap it and wait until the domain has one member less (its death seen).
 * 0, -ESRCH when none runs there, -ETIMEDOUT. */
int scale_kill_worker(struct scale *s, uint32_t i);

/* How long to nap after a look at the tables that took took_ns: nine times as long (20 ms at
 * least), so that whoever watches takes a tenth of a core at most from the daemon and the
 * workers it watches (a look at a million VNodes takes tens of milliseconds). */
uint64_t scale_look_nap_ns(uint64_t took_ns);

/* Define VNodes 0..vnodes-1 and wait until each is ACTIVE on a live member (its ownership
 * word names an ACTIVE member: *ret_owned_ns after the definition) and the members have
 * adopted them all (none is left placed but not adopted, and their own counts add up to the
 * VNodes: *ret_adopted_ns), at most timeout_ns. 0, -ETIMEDOUT (the times so far), -ENOLINK
 * (no member is left: every one was declared dead, the times so far), or the definition's
 * -errno. */
int scale_define_and_wait(struct scale *s, uint64_t timeout_ns, uint64_t *ret_owned_ns,
			  uint64_t *ret_adopted_ns);

/* VNodes ACTIVE or MIGRATING on an ACTIVE member of the current generation. */
uint32_t scale_owned(struct scale *s);

/* The bytes of every file of the audit log: the live one and the rotated ones (not its
 * key, public key or API token). */
uint64_t scale_audit_bytes(const struct scale *s);

/* Wait until the audit log has not grown for quiet_ns (the auditor caught up), at most
 * timeout_ns. Its size then; *ret_ns (may be NULL) how long it took. */
uint64_t scale_audit_settle(const struct scale *s, uint64_t quiet_ns, uint64_t timeout_ns,
			    uint64_t *ret_ns);

/* Records of the audit log (every file) whose event is `event`; with key not NULL, only
 * those whose record holds the text "key":"value" (a details field, say "cause":"hung"). */
uint64_t scale_audit_count(const struct scale *s, const char *event, const char *key,
			   const char *value);

/* The VNode changes the records of `event` carry: one for a record about one VNode, a batch
 * record's count for a batch. */
uint64_t scale_audit_vnodes(const struct scale *s, const char *event);

/* Over the ACTIVE members: max / mean and min / mean of the VNodes each holds (from the
 * ownership words, tools/common/held.h). Returns how many are ACTIVE; the ratios are 0 when
 * none is. */
uint32_t scale_balance(struct scale *s, double *ret_max_ratio, double *ret_min_ratio);

/* A domain counter (PF_COUNTER_*), 0 when it cannot be read. */
uint64_t scale_counter(struct scale *s, uint32_t counter);

/* GET path from the API (HTTP/1.1, a connection per request): the status, the body in
 * *ret_body (NUL-terminated, caller frees; may be NULL), and in *ret_ns (may be NULL) the
 * time from connect() to the answer's end. -errno when no answer came. */
int scale_get(const struct scale *s, const char *path, char **ret_body, uint64_t *ret_ns);

/* Kill the workers, stop pflightd (it destroys the domain), close it and unlink what is
 * left of its segment. The directory stays (scale_remove_dir()). */
void scale_stop(struct scale *s);

/* From now on SIGINT or SIGTERM kill s's processes with SIGKILL, unlink its segment and end
 * this process (status 128 + the signal); the directory stays. */
void scale_kill_on_signal(struct scale *s);

/* Remove the temp directory and what is in it. */
void scale_remove_dir(struct scale *s);

#endif /* PF_TOOLS_DEMO_SCALE_H */

/* SPDX-License-Identifier: MIT */
/*
 * ctl/policy.c: judging a subject against a governance policy (pflight/policy.h), and
 * reading a process's identity from /proc for it.
 *
 * Evaluation is pure and bounded: at most PF_MANIFEST_RULES_MAX rules, each a fixed
 * sequence of membership tests over bounded lists, so the daemon may run it in its
 * scheduler's can-assign hook. The refusal names the rule that got furthest through the
 * fixed check order (the first on a tie): with one rule that is exactly what failed, and
 * with several it is the rule the subject came closest to, which is the one an operator
 * most likely meant.
 *
 * Identity comes from the kernel, never from what a member wrote into the segment: uid,
 * gid and groups from /proc/<pid>/status, the executable from /proc/<pid>/exe (the link
 * for the path, the open file for the digest, so a binary replaced on disk after start is
 * judged as it runs). The process start time is checked before and after, so a pid
 * recycled meanwhile is refused (-ESRCH) rather than judged as someone else.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/domain_impl.h"
#include "pflight/policy.h"
#include "pflight/sched.h"
#include "shm/pf_assert.h"

#define HASH_CHUNK_BYTES 65536u /* read size while hashing an executable */
#define STATUS_BYTES 4096u      /* /proc/<pid>/status: the lines we need come first */

static int u32_listed(const uint32_t *list, uint32_t n, uint32_t v)
{
	for (uint32_t i = 0; i < n; i++)
		if (list[i] == v)
			return 1;
	return 0;
}

static int str_listed(const char *list, size_t stride, uint32_t n, const char *v)
{
	for (uint32_t i = 0; i < n; i++)
		if (strcmp(list + (size_t)i * stride, v) == 0)
			return 1;
	return 0;
}

#define LISTED(arr, n, v) str_listed((const char *)(arr), sizeof((arr)[0]), (n), (v))

static int gids_match(const struct pf_manifest_rule *r, const struct pf_policy_subject *s)
{
	if (u32_listed(r->gids, r->gids_count, s->gid))
		return 1;
	for (uint32_t i = 0; i < s->groups_count && i < PF_POLICY_GROUPS_MAX; i++)
		if (u32_listed(r->gids, r->gids_count, s->groups[i]))
			return 1;
	return 0;
}

/* The first capability the rule does not list, or -1. */
static int cap_unlisted(const struct pf_manifest_rule *r, const struct pf_policy_subject *s)
{
	for (uint32_t i = 0; i < s->caps_count; i++)
		if (s->caps[i] == NULL ||
		    !LISTED(r->capabilities, r->capabilities_count, s->caps[i]))
			return (int)i;
	return -1;
}

/* The check rule r fails for s (PF_POLICY_ALLOWED: it matches). */
static uint32_t rule_check(const struct pf_manifest_rule *r, uint32_t action,
			   const struct pf_policy_subject *s)
{
	if (r->namespaces_count > 0 &&
	    !LISTED(r->namespaces, r->namespaces_count, s->namespace_name))
		return PF_POLICY_NAMESPACES;
	if (r->uids_count > 0 && !u32_listed(r->uids, r->uids_count, s->uid))
		return PF_POLICY_UIDS;
	if (r->gids_count > 0 && !gids_match(r, s))
		return PF_POLICY_GIDS;
	if (r->executables_count > 0 && !LISTED(r->executables, r->executables_count, s->exe))
		return PF_POLICY_EXECUTABLES;
	if (r->sha256_count > 0 &&
	    (s->sha256[0] == '\0' || !LISTED(r->sha256, r->sha256_count, s->sha256)))
		return PF_POLICY_SHA256;
	if (r->capabilities_count > 0 && cap_unlisted(r, s) >= 0)
		return PF_POLICY_CAPABILITIES;
	if (s->trust_ppm < r->min_trust_ppm)
		return PF_POLICY_MIN_TRUST;
	if (action != PF_POLICY_CAN_REGISTER && r->vnodes_per_member_max != 0 &&
	    s->vnodes >= r->vnodes_per_member_max)
		return PF_POLICY_VNODES_MAX;
	return PF_POLICY_ALLOWED;
}

/* What exactly failed, in words an operator can act on. */
static void reason_detail(char *buf, size_t cap, const struct pf_manifest_rule *r, uint32_t check,
			  const struct pf_policy_subject *s)
{
	int k;

	switch (check) {
	case PF_POLICY_NAMESPACES:
		(void)snprintf(buf, cap, "namespace %.64s not in namespaces", s->namespace_name);
		break;
	case PF_POLICY_UIDS:
		(void)snprintf(buf, cap, "uid %u not in uids", s->uid);
		break;
	case PF_POLICY_GIDS:
		(void)snprintf(buf, cap, "gid %u and its %u groups not in gids", s->gid,
			       s->groups_count);
		break;
	case PF_POLICY_EXECUTABLES:
		(void)snprintf(buf, cap, "executable %.120s not in executables",
			       s->exe[0] != '\0' ? s->exe : "(unknown)");
		break;
	case PF_POLICY_SHA256:
		(void)snprintf(buf, cap, "executable digest %.16s... not in sha256",
			       s->sha256[0] != '\0' ? s->sha256 : "(not computed)");
		break;
	case PF_POLICY_CAPABILITIES:
		k = cap_unlisted(r, s);
		(void)snprintf(buf, cap, "capability %.47s not in capabilities",
			       k >= 0 && s->caps[k] != NULL ? s->caps[k] : "?");
		break;
	case PF_POLICY_MIN_TRUST:
		(void)snprintf(buf, cap, "trust %.6f below min_trust %.6f",
			       s->trust_ppm / (double)PF_PPM, r->min_trust_ppm / (double)PF_PPM);
		break;
	default:
		(void)snprintf(buf, cap, "%u VNodes held, vnodes_per_member_max %u", s->vnodes,
			       r->vnodes_per_member_max);
		break;
	}
}

PF_API int pf_policy_eval(const struct pf_manifest_policy *policy, uint32_t action,
			  const struct pf_policy_subject *s, struct pf_policy_verdict *ret)
{
	uint32_t best_rule = PF_POLICY_NO_RULE, best_check = 0;
	char detail[160];

	if (policy == NULL || s == NULL || ret == NULL || ret->size < sizeof(*ret) ||
	    s->size < sizeof(*s) || action > PF_POLICY_CAN_HANDOFF ||
	    policy->rules_count > PF_MANIFEST_RULES_MAX)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	ret->size = sizeof(*ret);
	ret->action = action;
	ret->rule = PF_POLICY_NO_RULE;
	if (policy->rules_count == 0) {
		ret->allowed = 1;
		(void)snprintf(ret->reason, sizeof(ret->reason), "%s: no rule, allowed",
			       pf_policy_action_name(action));
		return 0;
	}
	for (uint32_t i = 0; i < policy->rules_count; i++) {
		uint32_t c = rule_check(&policy->rules[i], action, s);

		PF_ASSERT(c <= PF_POLICY_VNODES_MAX);
		if (c == PF_POLICY_ALLOWED) {
			ret->allowed = 1;
			ret->rule = i;
			(void)snprintf(ret->reason, sizeof(ret->reason), "%s rule %u: allowed",
				       pf_policy_action_name(action), i);
			return 0;
		}
		if (best_rule == PF_POLICY_NO_RULE || c > best_check) {
			best_rule = i;
			best_check = c;
		}
	}
	PF_ASSERT(best_rule < policy->rules_count && best_check != PF_POLICY_ALLOWED);
	ret->rule = best_rule;
	ret->check = best_check;
	reason_detail(detail, sizeof(detail), &policy->rules[best_rule], best_check, s);
	(void)snprintf(ret->reason, sizeof(ret->reason), "%s rule %u (%s): %.160s",
		       pf_policy_action_name(action), best_rule, pf_policy_check_name(best_check),
		       detail);
	return 0;
}

PF_API int pf_policy_needs_sha256(const struct pf_manifest_policy *policy)
{
	if (policy == NULL)
		return 0;
	for (uint32_t i = 0; i < policy->rules_count && i < PF_MANIFEST_RULES_MAX; i++)
		if (policy->rules[i].sha256_count > 0)
			return 1;
	return 0;
}

/* The numbers after "<key>:" on one line of /proc/<pid>/status, at most cap of them. */
static uint32_t status_numbers(const char *text, const char *key, uint32_t *out, uint32_t cap)
{
	const char *p = strstr(text, key);
	uint32_t n = 0;

	if (p == NULL)
		return 0;
	p += strlen(key);
	while (*p != '\n' && *p != '\0' && n < cap) {
		char *end;
		unsigned long v;

		while (*p == ' ' || *p == '\t')
			p++;
		if (*p < '0' || *p > '9')
			break;
		v = strtoul(p, &end, 10);
		out[n++] = (uint32_t)v;
		p = end;
	}
	return n;
}

static int read_status(pid_t pid, struct pf_policy_subject *s)
{
	char path[64], text[STATUS_BYTES];
	uint32_t ids[4];
	ssize_t n;
	int fd, r = 0;

	(void)snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	n = read(fd, text, sizeof(text) - 1);
	if (n < 0)
		r = -errno;
	(void)close(fd);
	if (r < 0)
		return r;
	text[n] = '\0';
	/* Real, effective, saved, filesystem: the effective id is the second. */
	if (status_numbers(text, "\nUid:", ids, 4) < 2)
		return -EIO;
	s->uid = ids[1];
	if (status_numbers(text, "\nGid:", ids, 4) < 2)
		return -EIO;
	s->gid = ids[1];
	s->groups_count = status_numbers(text, "\nGroups:", s->groups, PF_POLICY_GROUPS_MAX);
	return 0;
}

static int hash_exe(pid_t pid, char hex[PF_MANIFEST_SHA256_HEX + 1])
{
	unsigned char digest[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state st;
	unsigned char *buf;
	char path[64];
	ssize_t n;
	int fd, r = 0;

	if (sodium_init() < 0)
		return -EIO;
	(void)snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	buf = malloc(HASH_CHUNK_BYTES);
	if (buf == NULL) {
		(void)close(fd);
		return -ENOMEM;
	}
	(void)crypto_hash_sha256_init(&st);
	while ((n = read(fd, buf, HASH_CHUNK_BYTES)) > 0)
		(void)crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
	if (n < 0)
		r = -EIO;
	(void)close(fd);
	free(buf);
	if (r < 0)
		return r;
	(void)crypto_hash_sha256_final(&st, digest);
	(void)sodium_bin2hex(hex, PF_MANIFEST_SHA256_HEX + 1, digest, sizeof(digest));
	return 0;
}

/* 0 while pid still names the process started at start_time (0: any), else -ESRCH. */
static int same_process(pid_t pid, uint64_t start_time)
{
	uint64_t now_start;

	if (identity_start_time(pid, &now_start) < 0)
		return -ESRCH;
	return start_time == 0 || now_start == start_time ? 0 : -ESRCH;
}

PF_API int pf_policy_subject_read(pid_t pid, uint64_t start_time, uint32_t flags,
				  struct pf_policy_subject *ret)
{
	char path[64];
	ssize_t n;
	int r;

	PF_ASSERT(sizeof(ret->exe) == PF_MANIFEST_PATH_MAX);
	if (ret == NULL || ret->size < sizeof(*ret) || pid <= 0 ||
	    (flags & ~PF_POLICY_SUBJECT_SHA256) != 0)
		return -EINVAL;
	memset(ret, 0, sizeof(*ret));
	ret->size = sizeof(*ret);
	r = same_process(pid, start_time);
	if (r == 0)
		r = read_status(pid, ret);
	if (r < 0)
		return r;
	(void)snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	n = readlink(path, ret->exe, sizeof(ret->exe) - 1);
	if (n < 0)
		return errno == ENOENT ? -ESRCH : -errno;
	ret->exe[n] = '\0';
	if ((flags & PF_POLICY_SUBJECT_SHA256) != 0) {
		r = hash_exe(pid, ret->sha256);
		if (r < 0)
			return r;
	}
	/* Everything above was read from the process that started at start_time. */
	return same_process(pid, start_time);
}

/* SPDX-License-Identifier: MIT */
/*
 * core/capability.c: the capability directory, names interned into bit indices.
 *
 * Writers (joins and VNode definitions, both control-plane) take the domain's robust
 * lock; readers never lock. An entry is written whole, then `ready` is release-stored
 * ([R6]) and `caps_count` advanced ([R7]); readers acquire caps_count ([A7]) and each
 * entry's ready ([A6]) and re-validate the name length before using it. A writer that
 * dies between the two leaves an entry that is not counted: the next writer under the
 * lock finds it by name or overwrites it, so the directory never holds a torn name.
 */
#include <errno.h>
#include <string.h>

#include "core/domain_impl.h"
#include "shm/pf_assert.h"

int caps_name_valid(const char *name)
{
	size_t len;

	if (name == NULL)
		return 0;
	len = strnlen(name, PF_CAP_NAME_MAX + 1);
	if (len == 0 || len > PF_CAP_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-' || c == ':' || c == '/'))
			return 0;
	}
	return 1;
}

static uint32_t caps_ready_count(struct pf_domain *d)
{
	/* [A7] pairs with [R7] in intern_one(): entries below the count are complete. */
	uint32_t n = pf_load_acquire(&d->ctl->caps_count);

	return PF_MIN(n, d->lim.caps_max);
}

static int find_locked_or_not(struct pf_domain *d, const char *name, size_t len)
{
	uint32_t n = caps_ready_count(d);

	for (uint32_t i = 0; i < n; i++) {
		struct dom_cap *c = &d->caps[i];

		/* [A6] pairs with [R6] in intern_one(): name bytes are final once ready. */
		if (pf_load_acquire(&c->ready) != 1 || c->name_len != len)
			continue;
		if (memcmp(c->name, name, len) == 0)
			return (int)i;
	}
	return -ENOENT;
}

static int intern_one(struct pf_domain *d, const char *name)
{
	size_t len = strlen(name);
	uint32_t n;
	struct dom_cap *c;
	int r;

	r = find_locked_or_not(d, name, len);
	if (r >= 0)
		return r;
	/* Relaxed: we hold the lock, the only writer of caps_count. */
	n = pf_load_relaxed(&d->ctl->caps_count);
	if (n >= d->lim.caps_max)
		return -ENOSPC;
	c = &d->caps[n];
	/* Relaxed: not counted yet, so no reader looks at this entry. */
	pf_store_relaxed(&c->ready, 0);
	memset(c->name, 0, sizeof(c->name));
	memcpy(c->name, name, len);
	c->name_len = (uint32_t)len;
	/* [R6] pairs with [A6] in find_locked_or_not(): the name is written first. */
	pf_store_release(&c->ready, 1);
	/* [R7] pairs with [A7] in caps_ready_count(): the entry is complete first. */
	pf_store_release(&d->ctl->caps_count, n + 1);
	return (int)n;
}

int caps_intern(struct pf_domain *d, const char *const *names, uint32_t count, uint64_t ret_bits[2])
{
	uint64_t bits[2] = {0, 0};
	int r = 0;

	PF_ASSERT(d != NULL && ret_bits != NULL);
	if (count > PF_CAPS_MAX)
		return -E2BIG;
	if (count > 0 && names == NULL)
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++)
		if (!caps_name_valid(names[i]))
			return -EINVAL;
	if (count == 0)
		goto out;
	r = domain_lock(d);
	if (r < 0)
		return r;
	for (uint32_t i = 0; i < count; i++) {
		r = intern_one(d, names[i]);
		if (r < 0)
			break;
		PF_ASSERT(r < (int)PF_CAPS_MAX);
		bits[r / 64] |= UINT64_C(1) << (r % 64);
		r = 0;
	}
	domain_unlock(d);
	if (r < 0)
		return r;
out:
	ret_bits[0] = bits[0];
	ret_bits[1] = bits[1];
	return 0;
}

PF_API const char *pf_capability_name(struct pf_domain *d, uint32_t index)
{
	struct dom_cap *c;
	uint32_t len, st = 0;

	if (d == NULL || index >= caps_ready_count(d))
		return NULL;
	/* [A49] pairs with [R49] below: the copy is complete once the state says so. */
	if (pf_load_acquire(&d->name_state[index]) == 2)
		return d->names[index];
	/* Relaxed: only the winner copies; a loser waits below for [R49]. */
	if (!pf_cas_relaxed(&d->name_state[index], &st, 1)) {
		/* [A49] pairs with [R49]: another thread of ours is copying (a few bytes). */
		while ((st = pf_load_acquire(&d->name_state[index])) == 1)
			pf_cpu_relax();
		return st == 2 ? d->names[index] : NULL;
	}
	c = &d->caps[index];
	/* [A6] pairs with [R6] in intern_one(); the length is read once after it: the length
	 * bounded is the length used. */
	if (pf_load_acquire(&c->ready) != 1 || (len = c->name_len) > PF_CAP_NAME_MAX) {
		/* Relaxed: back to "none", nothing was published. */
		pf_store_relaxed(&d->name_state[index], 0);
		return NULL;
	}
	memcpy(d->names[index], c->name, len);
	d->names[index][len] = '\0';
	/* A name a correct interner wrote: its characters, the NUL at its length. */
	if (strnlen(d->names[index], len + 1) != len || !caps_name_valid(d->names[index]) ||
	    c->name[len] != '\0') { /* a NUL inside would hand out a shorter name */
		/* Relaxed: as above. */
		pf_store_relaxed(&d->name_state[index], 0);
		return NULL;
	}
	/* [R49] pairs with [A49] above: the copy before the state that hands it out. */
	pf_store_release(&d->name_state[index], 2);
	return d->names[index];
}

PF_API int pf_capability_find(struct pf_domain *d, const char *name)
{
	if (d == NULL || !caps_name_valid(name))
		return -EINVAL;
	return find_locked_or_not(d, name, strlen(name));
}

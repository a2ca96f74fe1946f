/* SPDX-License-Identifier: MIT */
/* core/validate.h: validators for shared records (see validate.c). */
#ifndef PF_CORE_VALIDATE_H
#define PF_CORE_VALIDATE_H

#include <stdint.h>

struct pf_domain;

/* A copy of a member record, each field loaded once: what member_snap_check() validates
 * and pf_member_info() reports, so that what is reported is what was validated. */
struct member_snap {
	uint64_t state, tally, repair_owned, attached, admission;
	uint64_t start_time, join_time_ns, caps[2], heartbeat, dead_time_ns, cordon_ns;
	uint64_t identity_key;
	int32_t pid, tid, numa_node, cpu;
	uint32_t futex, uid, gid, caps_declared, ckpt_used;
	uint32_t reliability_ppm, trust_ppm, load_ppm, mem_ppm, vnode_capacity, vnodes_owned;
	int reserved_set; /* a reserved field was not zero */
};

/* Copy member slot's record into *s, its state word first (acquire). */
void member_record_read(struct pf_domain *d, uint32_t slot, struct member_snap *s);
/* 1 when slot still holds the generation *s was read of (so every field of *s was that
 * generation's, or one the validation judges), 0 when a joiner has taken it since. */
int member_record_stable(struct pf_domain *d, uint32_t slot, const struct member_snap *s);
/* 0, -EBADMSG (a value no correct writer produces), -EPROTO (reserved field set). */
int member_snap_check(struct pf_domain *d, const struct member_snap *s);
/* 1 when member state word w is one a correct writer produces (state, cause, flags, facts,
 * a generation unless FREE). */
int member_word_valid(uint64_t w);
/* The same check, naming in *ret_field (when not NULL) the first field that fails. */
int member_snap_fault(struct pf_domain *d, const struct member_snap *s, const char **ret_field);
/* member_record_read() and member_snap_check() of one snapshot. */
int member_record_check(struct pf_domain *d, uint32_t slot);
int vnode_record_check(struct pf_domain *d, uint32_t id);

#endif /* PF_CORE_VALIDATE_H */

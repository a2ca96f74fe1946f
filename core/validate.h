/* SPDX-License-Identifier: MIT */
/* core/validate.h: validators for shared records (see validate.c). */
#ifndef PF_CORE_VALIDATE_H
#define PF_CORE_VALIDATE_H

#include <stdint.h>

struct pf_domain;

/* 0, -EBADMSG (a value no correct writer produces), -EPROTO (reserved field set). */
int member_record_check(struct pf_domain *d, uint32_t slot);
int vnode_record_check(struct pf_domain *d, uint32_t id);

#endif /* PF_CORE_VALIDATE_H */

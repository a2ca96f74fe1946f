/* SPDX-License-Identifier: MIT */
/* pflight/pflight.h: the umbrella header of libpflight. */
#ifndef PFLIGHT_PFLIGHT_H
#define PFLIGHT_PFLIGHT_H

#include "pflight/version.h"
#include "pflight/common.h"
#include "pflight/domain.h"
#include "pflight/member.h"
#include "pflight/numa.h"
#include "pflight/vnode.h"
#include "pflight/sched.h"
#include "pflight/supervisor.h"
#include "pflight/drain.h"
#include "pflight/manifest.h"
#include "pflight/audit.h"
#include "pflight/token.h"
#include "pflight/policy.h"
#include "pflight/control.h"
#include "pflight/metrics.h"
#include "pflight/sim.h"

#endif /* PFLIGHT_PFLIGHT_H */

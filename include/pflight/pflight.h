/* SPDX-License-Identifier: MIT */
/*
 * pflight/pflight.h: the umbrella header, every public header of both libraries.
 *
 * libpflight (`pkg-config libpflight`), what a worker links: domain.h, member.h, numa.h,
 * vnode.h, sched.h, supervisor.h, drain.h, control.h, xport.h (the transport between
 * hosts), and of policy.h the admission gate and the verdict's names. libpflight-ctl
 * (`pkg-config libpflight-ctl`), the control plane on top of it: manifest.h, audit.h,
 * token.h (presenting a token to pflightd included), policy.h's judging, metrics.h, sim.h.
 * Declarations cost nothing: a worker may include this header and link libpflight alone
 * as long as it calls only libpflight's functions.
 */
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
#include "pflight/packet.h"
#include "pflight/transit.h"
#include "pflight/seal.h"
#include "pflight/link.h"
#include "pflight/sim.h"
#include "pflight/xport.h"

#endif /* PFLIGHT_PFLIGHT_H */
